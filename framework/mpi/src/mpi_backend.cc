// The MPI backend: one rank per node, each a local engine; runs move
// between ranks by non-blocking point-to-point messages with a deadline.
//
// Why point-to-point and not MPI_Alltoall/MPI_Alltoallv: a collective that
// waits for a rank that left cannot say which rank it waits for, and a
// blocking one never returns. Here each exchange is the same two steps as
// an all-to-all, done pairwise: every rank sends every other rank the
// number of bytes it will send it (MPI_Isend/MPI_Irecv of one uint64 each),
// then the bytes go in pieces of at most round_bytes per peer and
// direction, one piece in flight per peer at a time (so memory stays
// bounded, and a count is always an int). The waits poll with MPI_Testsome
// and a deadline: a rank that does not answer within the timeout (no
// message from it completes) is named, and the job is aborted.
//
// The byte stream to a peer is a sequence of runs, each framed as
// {uint32 partition, uint64 length} then the bytes (native endianness: the
// ranks are the same program on the same architecture).
//
// Only the engine's master calls this, from its one thread (MPI_Init with
// MPI_THREAD_SINGLE), after forking its workers. The two MPI calls that
// may wait without end, MPI_Init (for a rank whose host was lost while the
// job starts) and MPI_Abort (for the launcher), run under a Watchdog, a
// second thread that calls no MPI and ends the rank when they overrun.
#include <mpi.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "mr/mapreduce/backend.h"
#include "watchdog.h"

namespace mr {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kFrame = sizeof(std::uint32_t) + sizeof(std::uint64_t);
constexpr int kTagSpan = 3;  // tags per exchange: sizes, data, gather
constexpr int kStreamTag = 30001;  // stream chunks from node 0 (beyond the exchanges' tags)
constexpr std::size_t kChunksInFlight = 2;  // per node
constexpr std::size_t kChunkHeader = sizeof(std::uint32_t) + 2 * sizeof(std::uint64_t);
// How long MPI_Abort may take to end the job before the rank ends alone.
constexpr std::chrono::seconds kAbortGrace{5};

// "3" or "0.5", for messages.
std::string seconds(std::chrono::duration<double> d) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", d.count());
  return text;
}

// "rank R: " before MPI_Init, from the launcher's environment (Open MPI,
// MPICH's Hydra), or nothing.
std::string launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMI_RANK"})
    if (const char* rank = std::getenv(name)) return "rank " + std::string(rank) + ": ";
  return "";
}

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(code, text, &n);
  return std::string(text, static_cast<std::size_t>(n));
}

void check(int code, const char* what) {
  if (code != MPI_SUCCESS) throw BackendError(std::string(what) + ": " + mpi_error(code));
}

// The runs going to one peer, as a byte stream cut into pieces.
class Sender {
 public:
  Sender(RunStore& store, std::vector<std::uint32_t> partitions)
      : store_(store), partitions_(std::move(partitions)) {}
  // Total bytes of the stream.
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto p : partitions_)
      for (std::size_t i = 0; i < store_.runs(p); ++i) n += kFrame + store_.run_length(p, i);
    return n;
  }
  // The next piece of at most `max` bytes, into `out`.
  void next(std::size_t max, std::string& out) {
    out.clear();
    while (out.size() < max && part_ < partitions_.size()) {
      const std::uint32_t p = partitions_[part_];
      if (run_ >= store_.runs(p)) {
        ++part_, run_ = 0;
        continue;
      }
      if (!bytes_) {
        bytes_ = store_.run(p, run_, scratch_);
        std::uint64_t length = bytes_->size();
        header_.assign(reinterpret_cast<const char*>(&p), sizeof p);
        header_.append(reinterpret_cast<const char*>(&length), sizeof length);
        at_ = 0;
      }
      // The frame, then the run, from where the last piece ended.
      if (at_ < kFrame) {
        const std::size_t n = std::min(kFrame - at_, max - out.size());
        out.append(header_, at_, n);
        at_ += n;
        continue;
      }
      const std::size_t done = at_ - kFrame;
      const std::size_t n = std::min<std::size_t>(bytes_->size() - done, max - out.size());
      out.append(bytes_->substr(done, n));
      at_ += n;
      if (at_ - kFrame == bytes_->size()) {
        bytes_.reset();
        scratch_.clear();
        scratch_.shrink_to_fit();
        ++run_;
      }
    }
  }

 private:
  RunStore& store_;
  std::vector<std::uint32_t> partitions_;
  std::size_t part_ = 0, run_ = 0;
  std::optional<std::string_view> bytes_;  // the run being sent
  std::string scratch_, header_;
  std::size_t at_ = 0;  // bytes of the current frame and run sent
};

// The runs coming from one peer: pieces parsed back into runs.
class Receiver {
 public:
  explicit Receiver(RunStore& store) : store_(store) {}
  void take(std::string_view piece) {
    while (!piece.empty()) {
      if (header_.size() < kFrame) {
        const std::size_t n = std::min(kFrame - header_.size(), piece.size());
        header_.append(piece.substr(0, n));
        piece.remove_prefix(n);
        if (header_.size() < kFrame) return;
        std::uint32_t p = 0;
        std::uint64_t length = 0;
        std::memcpy(&p, header_.data(), sizeof p);
        std::memcpy(&length, header_.data() + sizeof p, sizeof length);
        if (length == 0) throw BackendError("received an empty run (corrupt stream)");
        room_ = store_.receive(p, length);
        filled_ = 0;
        continue;
      }
      const std::size_t n = std::min(room_.bytes.size() - filled_, piece.size());
      std::memcpy(room_.bytes.data() + filled_, piece.data(), n);
      filled_ += n;
      piece.remove_prefix(n);
      if (filled_ == room_.bytes.size()) {
        store_.received(room_.id);
        header_.clear();
      }
    }
  }
  // True between runs (a stream must end there).
  bool between_runs() const { return header_.empty(); }

 private:
  RunStore& store_;
  std::string header_;
  RunStore::Room room_;
  std::size_t filled_ = 0;
};

class MpiBackend final : public Backend {
 public:
  explicit MpiBackend(const BackendOptions& options) : options_(options) {}
  ~MpiBackend() override {
    if (comm_ != MPI_COMM_NULL && !finalized()) MPI_Comm_free(&comm_);
  }

  void start(const std::function<bool()>& cancelled, std::function<void()> give_up) override {
    int provided = 0;
    {
      // MPI_Init waits for every rank and has no deadline of its own.
      const std::string who = launcher_rank();
      detail::Watchdog guard(options_.timeout,
                             {who + "MPI_Init did not finish within " + seconds(options_.timeout) +
                                  " s (--rank-timeout): a rank did not start, or its host is "
                                  "unreachable",
                              1},
                             std::move(give_up), cancelled, {who + "interrupted", 130});
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SINGLE, &provided), "MPI_Init");
    }
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    // Errors come back as codes, turned into BackendError here.
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    chunk_sends_.resize(static_cast<std::size_t>(size_));
  }
  unsigned rank() const override { return static_cast<unsigned>(rank_); }
  unsigned ranks() const override { return static_cast<unsigned>(size_); }
  std::uint64_t sent_bytes() const override { return sent_; }
  std::uint64_t received_bytes() const override { return received_; }

  void exchange(RunStore& store, const std::function<unsigned(std::uint32_t)>& owner,
                std::size_t round_bytes, const std::function<bool()>& cancelled) override;
  bool send_chunk(unsigned to, const StreamChunk& chunk) override;
  void end_chunks() override;
  std::optional<StreamChunk> receive_chunk(bool& ended) override;
  std::vector<std::string> gather(std::string_view mine,
                                  const std::function<bool()>& cancelled) override;

  void finish() override {
    MPI_Comm_free(&comm_);
    check(MPI_Finalize(), "MPI_Finalize");
  }

  [[noreturn]] void abort(const std::string& message, int status) noexcept override {
    std::string text;  // no terminal control from a file name in the message
    for (unsigned char c : message) text += (c < 0x20 && c != '\t') || c == 0x7f ? '?' : char(c);
    const std::string who = comm_ != MPI_COMM_NULL ? "rank " + std::to_string(rank_) + ": " : "";
    std::fprintf(stderr, "mapreduce: %s%s\n", who.c_str(), text.c_str());
    std::fflush(stderr);
    int up = 0;
    MPI_Initialized(&up);
    if (up && !finalized()) {
      // MPI_Abort asks the launcher to end every rank, and may wait for it
      // (Open MPI's waits on its daemon) however long that takes.
      std::optional<detail::Watchdog> guard;
      try {
        const std::string late = who + "MPI_Abort did not end the job within " +
                                 seconds(kAbortGrace) + " s: this rank ends alone";
        guard.emplace(kAbortGrace, detail::Watchdog::Ending{late, status}, nullptr, nullptr,
                      detail::Watchdog::Ending{});
      } catch (...) {
        // No thread: MPI_Abort without a deadline, as before.
      }
      MPI_Abort(MPI_COMM_WORLD, status);
    }
    ::_exit(status);  // the guard's destructor never runs: it must not join
  }

 private:
  static bool finalized() {
    int done = 0;
    MPI_Finalized(&done);
    return done;
  }
  int next_tags() {
    const int base = tags_;
    tags_ = (tags_ + kTagSpan) % 30000;  // MPI_TAG_UB is at least 32767
    return base;
  }
  // A request and the peer it waits on.
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    int peer = 0;
    bool receive = false;
  };
  // Waits until at least one of `pending` completes; returns the indices
  // of those that did. Throws BackendError when none completes within the
  // timeout (naming a peer it waits for), or when cancelled.
  std::vector<int> wait_some(std::vector<Pending>& pending, const std::function<bool()>& cancelled);
  void wait_all(std::vector<Pending>& pending, const std::function<bool()>& cancelled) {
    while (std::any_of(pending.begin(), pending.end(),
                       [](const Pending& p) { return p.request != MPI_REQUEST_NULL; }))
      wait_some(pending, cancelled);
  }

  // Node 0's stream chunks on their way, per node (the buffer lives until
  // its send completes).
  struct ChunkSend {
    MPI_Request request = MPI_REQUEST_NULL;
    std::string bytes;
  };
  std::size_t chunks_in_flight(unsigned to);
  void finish_chunk_sends(const std::function<bool()>& cancelled);

  BackendOptions options_;
  std::vector<std::deque<ChunkSend>> chunk_sends_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, tags_ = 0;
  std::uint64_t sent_ = 0, received_ = 0;
};

std::vector<int> MpiBackend::wait_some(std::vector<Pending>& pending,
                                       const std::function<bool()>& cancelled) {
  std::vector<MPI_Request> requests;
  for (const auto& p : pending) requests.push_back(p.request);
  std::vector<int> done(requests.size());
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(options_.timeout);
  long sleep_us = 20;
  for (;;) {
    int count = 0;
    check(MPI_Testsome(static_cast<int>(requests.size()), requests.data(), &count, done.data(),
                       MPI_STATUSES_IGNORE),
          "MPI_Testsome");
    if (count == MPI_UNDEFINED) return {};  // nothing was active
    if (count > 0) {
      done.resize(static_cast<std::size_t>(count));
      for (int i : done) pending[static_cast<std::size_t>(i)].request = MPI_REQUEST_NULL;
      return done;
    }
    if (cancelled && cancelled()) throw BackendError("interrupted");
    if (Clock::now() > deadline) {
      // Name a rank we wait to hear from (a receive), else one that does
      // not take what we send.
      int peer = -1;
      for (const auto& p : pending)
        if (p.request != MPI_REQUEST_NULL && (peer < 0 || p.receive)) peer = p.peer;
      throw BackendError("rank " + std::to_string(peer) + " did not answer rank " +
                         std::to_string(rank_) + " within " + seconds(options_.timeout) +
                         " s (--rank-timeout)");
    }
    // Poll gently: a rank still mapping may keep the others waiting long.
    timespec ts{0, sleep_us * 1000};
    ::nanosleep(&ts, nullptr);
    sleep_us = std::min(sleep_us * 2, 2000L);
  }
}

std::size_t MpiBackend::chunks_in_flight(unsigned to) {
  auto& sends = chunk_sends_.at(to);
  while (!sends.empty()) {
    int done = 0;
    check(MPI_Test(&sends.front().request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (!done) break;
    sends.pop_front();
  }
  return sends.size();
}

// A message: {uint32 input, uint64 offset, uint64 first_line} and the
// bytes; an empty message is the end.
bool MpiBackend::send_chunk(unsigned to, const StreamChunk& chunk) {
  if (static_cast<int>(to) == rank_ || to >= chunk_sends_.size())
    throw BackendError("send_chunk to rank " + std::to_string(to));
  if (chunks_in_flight(to) >= kChunksInFlight) return false;
  if (chunk.bytes.empty() || chunk.bytes.size() > std::numeric_limits<int>::max() - kChunkHeader)
    throw BackendError("a stream chunk of " + std::to_string(chunk.bytes.size()) + " bytes");
  ChunkSend& send = chunk_sends_[to].emplace_back();
  send.bytes.reserve(kChunkHeader + chunk.bytes.size());
  send.bytes.append(reinterpret_cast<const char*>(&chunk.input), sizeof chunk.input);
  send.bytes.append(reinterpret_cast<const char*>(&chunk.offset), sizeof chunk.offset);
  send.bytes.append(reinterpret_cast<const char*>(&chunk.first_line), sizeof chunk.first_line);
  send.bytes.append(chunk.bytes);
  check(MPI_Isend(send.bytes.data(), static_cast<int>(send.bytes.size()), MPI_BYTE,
                  static_cast<int>(to), kStreamTag, comm_, &send.request),
        "MPI_Isend");
  sent_ += send.bytes.size();
  return true;
}

void MpiBackend::end_chunks() {
  for (int to = 0; to < size_; ++to) {
    if (to == rank_) continue;
    ChunkSend& send = chunk_sends_[static_cast<std::size_t>(to)].emplace_back();
    check(MPI_Isend(nullptr, 0, MPI_BYTE, to, kStreamTag, comm_, &send.request), "MPI_Isend");
  }
}

std::optional<StreamChunk> MpiBackend::receive_chunk(bool& ended) {
  int arrived = 0;
  MPI_Status status;
  check(MPI_Iprobe(0, kStreamTag, comm_, &arrived, &status), "MPI_Iprobe");
  if (!arrived) return std::nullopt;
  int count = 0;
  check(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  std::string message(static_cast<std::size_t>(count), '\0');
  // Already here (probed): this receive does not wait on node 0.
  check(MPI_Recv(message.data(), count, MPI_BYTE, 0, kStreamTag, comm_, MPI_STATUS_IGNORE),
        "MPI_Recv");
  received_ += message.size();
  if (message.empty()) {
    ended = true;
    return std::nullopt;
  }
  if (message.size() <= kChunkHeader) throw BackendError("rank 0 sent a malformed stream chunk");
  StreamChunk chunk;
  std::memcpy(&chunk.input, message.data(), sizeof chunk.input);
  std::memcpy(&chunk.offset, message.data() + sizeof chunk.input, sizeof chunk.offset);
  std::memcpy(&chunk.first_line, message.data() + sizeof chunk.input + sizeof chunk.offset,
              sizeof chunk.first_line);
  chunk.bytes = message.substr(kChunkHeader);
  return chunk;
}

// Node 0's stream chunks are all taken before its exchange begins.
void MpiBackend::finish_chunk_sends(const std::function<bool()>& cancelled) {
  std::vector<Pending> pending;
  for (std::size_t to = 0; to < chunk_sends_.size(); ++to)
    for (const ChunkSend& send : chunk_sends_[to])
      pending.push_back(Pending{send.request, static_cast<int>(to), false});
  wait_all(pending, cancelled);
  for (auto& sends : chunk_sends_) sends.clear();
}

void MpiBackend::exchange(RunStore& store, const std::function<unsigned(std::uint32_t)>& owner,
                          std::size_t round_bytes, const std::function<bool()>& cancelled) {
  finish_chunk_sends(cancelled);
  const int tags = next_tags();
  const int tag_sizes = tags, tag_data = tags + 1;
  const std::size_t round =
      std::clamp<std::size_t>(round_bytes, 1, std::numeric_limits<int>::max());
  const auto n = static_cast<std::size_t>(size_);
  std::vector<std::vector<std::uint32_t>> to(n);
  for (std::uint32_t p = 0; p < store.partitions(); ++p) {
    const unsigned q = owner(p);
    if (q >= n) throw BackendError("partition " + std::to_string(p) + " has no owner");
    if (static_cast<int>(q) != rank_ && store.runs(p) > 0) to[q].push_back(p);
  }
  std::vector<std::unique_ptr<Sender>> senders;
  std::vector<std::unique_ptr<Receiver>> receivers;
  std::vector<std::uint64_t> out_left(n, 0), in_left(n, 0);
  for (std::size_t q = 0; q < n; ++q) {
    senders.push_back(std::make_unique<Sender>(store, to[q]));
    receivers.push_back(std::make_unique<Receiver>(store));
    out_left[q] = senders[q]->total();
  }

  // Step 1: how many bytes each pair sends (an all-to-all of sizes).
  std::vector<Pending> pending;
  for (std::size_t q = 0; q < n; ++q) {
    if (static_cast<int>(q) == rank_) continue;
    Pending r{MPI_REQUEST_NULL, static_cast<int>(q), true};
    check(MPI_Irecv(&in_left[q], 1, MPI_UINT64_T, r.peer, tag_sizes, comm_, &r.request),
          "MPI_Irecv");
    pending.push_back(r);
    Pending s{MPI_REQUEST_NULL, static_cast<int>(q), false};
    check(MPI_Isend(&out_left[q], 1, MPI_UINT64_T, s.peer, tag_sizes, comm_, &s.request),
          "MPI_Isend");
    pending.push_back(s);
  }
  wait_all(pending, cancelled);

  // Step 2: the bytes, one piece of at most `round` per peer and direction
  // in flight (an all-to-all-v in bounded rounds, until all is sent).
  std::vector<std::string> out_piece(n), in_piece(n);
  std::vector<int> out_request(n, -1), in_request(n, -1);  // index in `pending`, or -1
  pending.clear();
  for (;;) {
    for (std::size_t q = 0; q < n; ++q) {
      if (static_cast<int>(q) == rank_) continue;
      if (out_left[q] > 0 && out_request[q] < 0) {
        senders[q]->next(static_cast<std::size_t>(std::min<std::uint64_t>(round, out_left[q])),
                         out_piece[q]);
        Pending s{MPI_REQUEST_NULL, static_cast<int>(q), false};
        check(MPI_Isend(out_piece[q].data(), static_cast<int>(out_piece[q].size()), MPI_BYTE,
                        s.peer, tag_data, comm_, &s.request),
              "MPI_Isend");
        out_left[q] -= out_piece[q].size();
        sent_ += out_piece[q].size();
        out_request[q] = static_cast<int>(pending.size());
        pending.push_back(s);
      }
      if (in_left[q] > 0 && in_request[q] < 0) {
        in_piece[q].resize(static_cast<std::size_t>(std::min<std::uint64_t>(round, in_left[q])));
        Pending r{MPI_REQUEST_NULL, static_cast<int>(q), true};
        check(MPI_Irecv(in_piece[q].data(), static_cast<int>(in_piece[q].size()), MPI_BYTE, r.peer,
                        tag_data, comm_, &r.request),
              "MPI_Irecv");
        in_request[q] = static_cast<int>(pending.size());
        pending.push_back(r);
      }
    }
    if (pending.empty()) break;
    for (int i : wait_some(pending, cancelled)) {
      const Pending& done = pending[static_cast<std::size_t>(i)];
      const auto q = static_cast<std::size_t>(done.peer);
      if (done.receive) {
        receivers[q]->take(in_piece[q]);
        in_left[q] -= in_piece[q].size();
        received_ += in_piece[q].size();
        in_request[q] = -1;
      } else {
        out_request[q] = -1;
      }
    }
    // Keep only the requests in flight, and their indices.
    std::vector<Pending> live;
    for (std::size_t q = 0; q < n; ++q) {
      for (int* slot : {&out_request[q], &in_request[q]}) {
        if (*slot < 0) continue;
        live.push_back(pending[static_cast<std::size_t>(*slot)]);
        *slot = static_cast<int>(live.size() - 1);
      }
    }
    pending = std::move(live);
  }
  for (std::size_t q = 0; q < n; ++q) {
    if (!receivers[q]->between_runs())
      throw BackendError("rank " + std::to_string(q) + " sent a truncated run");
    for (auto p : to[q]) store.sent(p);
  }
}

std::vector<std::string> MpiBackend::gather(std::string_view mine,
                                            const std::function<bool()>& cancelled) {
  const int tags = next_tags();
  const int tag_sizes = tags, tag_data = tags + 1;
  std::vector<Pending> pending;
  if (rank_ != 0) {
    std::uint64_t size = mine.size();
    std::string copy(mine);
    Pending s{MPI_REQUEST_NULL, 0, false};
    check(MPI_Isend(&size, 1, MPI_UINT64_T, 0, tag_sizes, comm_, &s.request), "MPI_Isend");
    pending.push_back(s);
    Pending d{MPI_REQUEST_NULL, 0, false};
    check(MPI_Isend(copy.data(), static_cast<int>(copy.size()), MPI_BYTE, 0, tag_data, comm_,
                    &d.request),
          "MPI_Isend");
    pending.push_back(d);
    wait_all(pending, cancelled);
    return {};
  }
  const auto n = static_cast<std::size_t>(size_);
  std::vector<std::uint64_t> sizes(n, 0);
  for (std::size_t q = 1; q < n; ++q) {
    Pending r{MPI_REQUEST_NULL, static_cast<int>(q), true};
    check(MPI_Irecv(&sizes[q], 1, MPI_UINT64_T, r.peer, tag_sizes, comm_, &r.request), "MPI_Irecv");
    pending.push_back(r);
  }
  wait_all(pending, cancelled);
  std::vector<std::string> all(n);
  all[0] = mine;
  pending.clear();
  for (std::size_t q = 1; q < n; ++q) {
    if (sizes[q] > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
      throw BackendError("rank " + std::to_string(q) + " sent an oversized gather");
    all[q].resize(static_cast<std::size_t>(sizes[q]));
    Pending r{MPI_REQUEST_NULL, static_cast<int>(q), true};
    check(MPI_Irecv(all[q].data(), static_cast<int>(all[q].size()), MPI_BYTE, r.peer, tag_data,
                    comm_, &r.request),
          "MPI_Irecv");
    pending.push_back(r);
  }
  wait_all(pending, cancelled);
  return all;
}

}  // namespace
}  // namespace mr

// The module's entry point (mr::BackendFactory): no exception crosses it.
extern "C" __attribute__((visibility("default"))) mr::Backend* mr_backend_v1(
    const mr::BackendOptions* options, char* error, std::size_t error_size) {
  try {
    return new mr::MpiBackend(*options);
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "%s", e.what());
  } catch (...) {
    std::snprintf(error, error_size, "unknown error");
  }
  return nullptr;
}
