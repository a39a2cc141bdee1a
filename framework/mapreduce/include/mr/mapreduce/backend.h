// A backend: the seam through which one job runs on several machines.
//
// Each node (an MPI rank) runs this engine as a local master with its own
// workers. The engine asks its Backend for three things only, and does
// nothing else differently:
//   - which node it is (rank(), ranks()): it maps only its share of the
//     chunks (every node cuts the same chunk list; a stream input is cut
//     and mapped on node 0 alone);
//   - exchange(): move every shuffle run to the node that owns its
//     partition (after the map phase: partition r to node r mod N; after
//     the reduce phase: every sorted output run to node 0, which writes the
//     output);
//   - gather(): small values (the counters) to node 0.
// Without a backend (EngineOptions::backend null) the engine runs alone,
// exactly as it always has. Runs are opaque bytes to the backend, so a job,
// a plugin or the job API need no change to run on a cluster.
//
//   std::unique_ptr<mr::Backend> mpi = mr::load_backend("mpi", {.timeout = 60s});
//   mr::EngineOptions eo;  eo.backend = mpi.get();
//   mr::run_job(job, inputs, eo, stdout);   // on every rank (mpirun -np N)
//   if (mpi->rank() == 0) ... the output was written here
//
// A backend is loaded with dlopen (load_backend: libmapreduce-<name>.so), so
// a program that never asks for one never loads its libraries (libmpi).
//
// Fork-safety: start() is called once, after the engine has forked its
// workers (MPI must not see a fork after MPI_Init); from then on the engine
// starts a replacement worker as a fresh program (spawn). Not thread-safe:
// only the master's one thread calls a backend.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mr {

// The runs one node holds, per partition, as the backend sees them: it
// reads the runs it sends and asks for room for the runs it receives.
// Implemented by the engine over its shuffle arena and spill files.
class RunStore {
 public:
  virtual ~RunStore() = default;
  virtual std::uint32_t partitions() const = 0;
  // How many runs of partition `p` this node holds.
  virtual std::size_t runs(std::uint32_t p) const = 0;
  // The length in bytes of run `i` of partition `p`.
  virtual std::uint64_t run_length(std::uint32_t p, std::size_t i) const = 0;
  // The bytes of run `i` of partition `p`, valid while `scratch` is left
  // alone (a spilled run is read back into it) and the store lives.
  virtual std::string_view run(std::uint32_t p, std::size_t i, std::string& scratch) = 0;
  // The runs of `p` were all sent to another node: this node forgets them.
  virtual void sent(std::uint32_t p) = 0;
  // A run of `length` (> 0) bytes of partition `p` arrives: the room to
  // write it in, named by `id` for received().
  struct Room {
    std::span<std::byte> bytes;
    std::size_t id = 0;
  };
  virtual Room receive(std::uint32_t p, std::uint64_t length) = 0;
  // The room `id` is filled: the run belongs to this node now.
  virtual void received(std::size_t id) = 0;
};

// A chunk of a stream input (standard input, a compressed file): node 0
// reads and cuts the streams and sends every N-th chunk to another node.
struct StreamChunk {
  std::uint32_t input = 0;       // the input's index
  std::uint64_t offset = 0;      // of the chunk in the input
  std::uint64_t first_line = 0;  // ChunkInfo::first_line
  std::string bytes;
};

// A node did not answer within the backend's timeout, or the backend
// itself failed. what() names the node.
class BackendError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What one node did, for --stats (JobStats::ranks).
struct RankStats {
  std::uint64_t input_bytes = 0;  // of the chunks this node mapped
  std::uint64_t chunks = 0;
  std::uint64_t restored_chunks = 0;  // found committed in --checkpoint, not mapped again
  std::uint64_t restored_partitions = 0;  // found reduced in --checkpoint, not reduced again
  std::uint64_t sent_bytes = 0, received_bytes = 0;  // shuffle and output runs
  double seconds_map = 0, seconds_exchange = 0, seconds_reduce = 0, seconds_gather = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(input_bytes, chunks, restored_chunks, restored_partitions, sent_bytes, received_bytes,
       seconds_map, seconds_exchange, seconds_reduce, seconds_gather);
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Joins the other nodes (MPI_Init). Called once, after the local workers
  // are forked. Throws BackendError. Joining waits for every node and
  // cannot be interrupted: when it has not finished within the timeout (a
  // node that never started, or whose host is unreachable), the process
  // ends with exit status 1 and a message naming what did not finish, and
  // once `cancelled` (polled) returns true, with status 130. Both endings
  // come from another thread, which calls `give_up` first (the caller's
  // last cleanup); both functions must be safe to call from there while the
  // caller's thread is blocked in start().
  virtual void start(const std::function<bool()>& cancelled, std::function<void()> give_up) = 0;
  // This node's number and the number of nodes (after start()).
  virtual unsigned rank() const = 0;
  virtual unsigned ranks() const = 0;
  // Moves every run of `store` to node owner(p) of its partition p; every
  // node calls it with the same owner function. At most `round_bytes` are
  // in flight to and from each other node at a time, so memory stays
  // bounded however large a partition is. Returns when this node has sent
  // and received everything. `cancelled` is polled while waiting (true:
  // throws BackendError at once). Throws BackendError when a node does not
  // answer within the timeout, naming it.
  virtual void exchange(RunStore& store, const std::function<unsigned(std::uint32_t)>& owner,
                        std::size_t round_bytes, const std::function<bool()>& cancelled) = 0;
  // Node 0: sends `chunk` to node `to` without waiting. False (nothing
  // sent) while `to` has not taken the ones before (a few at most are in
  // flight per node), so memory stays bounded; try again later. The sends
  // are complete when the next exchange() starts.
  virtual bool send_chunk(unsigned to, const StreamChunk& chunk) = 0;
  // Node 0, after its last send_chunk(): tells every other node that no
  // more come.
  virtual void end_chunks() = 0;
  // Another node: the next chunk node 0 sent, if one has arrived. Sets
  // `ended` once node 0's end has arrived (after its last chunk).
  virtual std::optional<StreamChunk> receive_chunk(bool& ended) = 0;
  // Bytes sent and received by exchange() so far.
  virtual std::uint64_t sent_bytes() const = 0;
  virtual std::uint64_t received_bytes() const = 0;
  // Node 0 gets every node's `mine` (in rank order); the others get
  // nothing. Throws like exchange().
  virtual std::vector<std::string> gather(std::string_view mine,
                                          const std::function<bool()>& cancelled) = 0;
  // The job is over on this node (MPI_Finalize). Throws BackendError.
  virtual void finish() = 0;
  // The job failed on this node: prints "mapreduce: rank R: message" and
  // ends every node's run with `status` (MPI_Abort). Does not return.
  [[noreturn]] virtual void abort(const std::string& message, int status) noexcept = 0;
};

struct BackendOptions {
  // How long a node waits for another to answer in one exchange before the
  // job fails naming it.
  std::chrono::duration<double> timeout{600};
};

// The folder where backends are looked for: $MAPREDUCE_BACKEND_PATH, else
// <bindir>/../<libdir>/mapreduce beside the installed program, else the
// build tree's <bin>/../lib/mapreduce.
std::vector<std::string> backend_search_path();
// Loads libmapreduce-<name>.so from the search path (RTLD_GLOBAL: Open MPI
// loads its own components, which need libmpi's symbols) and makes its
// backend. Throws BackendError (not found, or not a backend).
std::unique_ptr<Backend> load_backend(const std::string& name, const BackendOptions& options);

// A backend module exports this C function: a new backend, or null with a
// message written to `error` (at most `error_size` bytes, NUL-terminated).
// No exception crosses it.
extern "C" typedef Backend* BackendFactory(const BackendOptions* options, char* error,
                                           std::size_t error_size);
constexpr const char* kBackendSymbol = "mr_backend_v1";

}  // namespace mr
