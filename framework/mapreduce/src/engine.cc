#include "mr/mapreduce/engine.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>

#include "fault_injection.h"
#include "mr/base/error.h"
#include "mr/base/io.h"
#include "mr/base/shared_region.h"
#include "mr/base/unique_fd.h"
#include "mr/ipc/listener.h"
#include "mr/ipc/pipe.h"
#include "mr/ipc/queue.h"
#include "mr/ipc/wait.h"
#include "mr/mapreduce/job_recipe.h"
#include "mr/process/process.h"
#include "protocol.h"
#include "spill_dir.h"

namespace mr {

namespace detail {
// A worker that is a fresh program (spawn, forkserver); defined at the end.
int engine_spawned_worker(std::string address, std::string token);
}  // namespace detail

namespace {

volatile sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) { g_interrupted = 1; }

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

using detail::ChunkTask;

// A task is a straggler (run again elsewhere) once it has run this many
// times the median of its finished siblings, and at least this long.
constexpr double kStragglerFactor = 10, kStragglerMinSeconds = 1;
using detail::FaultInjection;
using FaultPhase = FaultInjection::Phase;

// Stream slots: buffers in one anonymous shared mapping that the master fills
// from stream inputs (stdin, pipes, zstd) and the workers map in place. A
// slot is reused only once the map output of its chunk is committed, so a
// lost chunk can be mapped again. Each slot has a claim word: the master
// publishes a chunk with a fresh ticket; a worker that got the task from the
// queue claims it by CAS(ticket -> ticket | pid << 40) and skips it when the
// CAS fails (the master re-issued the task under a new ticket). The master
// re-issues a task only by winning a CAS on the unclaimed ticket, so no
// chunk is ever mapped twice.
struct alignas(64) SlotHeader {
  std::atomic<std::uint64_t> claim;
};
constexpr int kClaimShift = 40;

class StreamSlots {
 public:
  // New slots; `memfd`: in a memfd, for workers that are fresh programs.
  StreamSlots(std::size_t count, std::size_t slot_bytes, bool memfd)
      : region_(memfd ? SharedRegion::memfd("mr.slots", bytes(count, slot_bytes))
                      : SharedRegion::anonymous(bytes(count, slot_bytes))),
        count_(count),
        slot_bytes_(slot_bytes) {
    for (std::size_t i = 0; i < count; ++i) new (header(i)) SlotHeader{};
  }
  // The master's slots, in a spawned worker.
  StreamSlots(SharedRegion attached, std::size_t count, std::size_t slot_bytes)
      : region_(std::move(attached)), count_(count), slot_bytes_(slot_bytes) {
    if (region_.size() < bytes(count, slot_bytes))
      throw std::runtime_error("stream slots: the shared region is too small");
  }
  static std::size_t bytes(std::size_t count, std::size_t slot_bytes) {
    return count * (sizeof(SlotHeader) + slot_bytes);
  }
  const SharedRegion& region() const { return region_; }
  std::size_t count() const { return count_; }
  std::size_t slot_bytes() const { return slot_bytes_; }
  SlotHeader* header(std::size_t i) const { return static_cast<SlotHeader*>(region_.data()) + i; }
  char* data(std::size_t i) const {
    return static_cast<char*>(region_.data()) + count_ * sizeof(SlotHeader) + i * slot_bytes_;
  }
  // Worker side: claims a queued task; false when it was re-issued.
  bool claim(const ChunkTask& t) const {
    std::uint64_t expected = t.ticket;
    std::uint64_t mine = t.ticket | (static_cast<std::uint64_t>(::getpid()) << kClaimShift);
    return header(static_cast<std::size_t>(t.slot))->claim.compare_exchange_strong(expected, mine);
  }

 private:
  SharedRegion region_;
  std::size_t count_, slot_bytes_;
};

// The shuffle arena: one anonymous shared mapping created by the master
// before forking, so every worker maps it at the same address and the
// master's copy survives any worker. Space is handed out by an atomic bump
// pointer; it is never freed during a run (a run is small next to the
// input, and the whole arena goes away with the job).
struct ArenaHeader {
  std::atomic<std::uint64_t> used;
  std::atomic<std::uint32_t> faults_fired;  // see FaultInjection
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

class Arena {
 public:
  // `memfd`: in a memfd, for workers that are fresh programs.
  Arena(std::size_t capacity, bool memfd)
      : region_(memfd ? SharedRegion::memfd("mr.arena", capacity + kHeader)
                      : SharedRegion::anonymous(capacity + kHeader)),
        header_(new (region_.data()) ArenaHeader{}),
        base_(static_cast<std::byte*>(region_.data()) + kHeader),
        capacity_(capacity) {}
  // The master's arena, in a spawned worker.
  explicit Arena(SharedRegion attached)
      : region_(std::move(attached)),
        header_(static_cast<ArenaHeader*>(region_.data())),
        base_(static_cast<std::byte*>(region_.data()) + kHeader),
        capacity_(region_.size() - kHeader) {}
  const SharedRegion& region() const { return region_; }

  // Space for `n` bytes, or nothing when the arena is full.
  std::optional<detail::Run> reserve(std::uint64_t n) {
    std::uint64_t rounded = (n + 63) & ~std::uint64_t{63};
    std::uint64_t at = header_->used.fetch_add(rounded, std::memory_order_relaxed);
    if (at + rounded > capacity_) return std::nullopt;
    return detail::Run{at, n};
  }
  std::span<std::byte> at(const detail::Run& r) const { return {base_ + r.offset, r.length}; }
  std::uint64_t used() const { return std::min<std::uint64_t>(header_->used.load(), capacity_); }
  // True for the first `times` calls across all processes of the job.
  bool fire_fault(std::uint32_t times) { return header_->faults_fired.fetch_add(1) < times; }

 private:
  static constexpr std::size_t kHeader = 64;
  SharedRegion region_;
  ArenaHeader* header_;
  std::byte* base_;
  std::uint64_t capacity_;
};

std::size_t default_memory() { return usable_memory() / 4; }

std::string byte_range(const ChunkTask& c) {
  return "bytes " + std::to_string(c.offset) + "-" + std::to_string(c.offset + c.length);
}

// Writes each non-empty buffer as one zstd frame of a new file; returns one
// SpillRun per buffer (empty ones have length 0).
std::vector<detail::SpillRun> spill(const std::string& dir,
                                    std::span<const std::span<std::byte>> parts) {
  // The master made `dir` (spill_dir.h); empty when it could not.
  if (dir.empty())
    throw std::runtime_error("cannot spill: no folder for spill files could be made in '" +
                             detail::temp_base() + "'");
  static unsigned counter = 0;
  std::string path =
      dir + "/spill-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".zst";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open " + path);
  std::vector<detail::SpillRun> runs;
  std::uint64_t at = 0;
  std::string frame;
  for (const auto& part : parts) {
    detail::SpillRun r{path, at, 0, part.size()};
    if (!part.empty()) {
      frame.resize(ZSTD_compressBound(part.size()));
      std::size_t n = ZSTD_compress(frame.data(), frame.size(), part.data(), part.size(), 1);
      if (ZSTD_isError(n)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(n));
      write_full(fd.get(), frame.data(), n);
      r.length = n;
      at += n;
    }
    runs.push_back(r);
  }
  return runs;
}

// Reads one spilled run back.
std::string unspill(const detail::SpillRun& r) {
  UniqueFd fd(::open(r.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) throw_errno("open " + r.path);
  std::string frame(r.length, '\0');
  if (::pread(fd.get(), frame.data(), r.length, static_cast<off_t>(r.offset)) !=
      static_cast<ssize_t>(r.length))
    throw std::runtime_error("short read from spill file " + r.path);
  std::string plain(r.plain_length, '\0');
  std::size_t n = ZSTD_decompress(plain.data(), plain.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != r.plain_length)
    throw std::runtime_error("corrupt spill file " + r.path);
  return plain;
}

// Everything a worker process needs; it is a copy of the master's (fork).
struct WorkerEnv {
  std::optional<FaultInjection> fault;
  const Job* job;
  const Inputs* inputs;
  const StreamSlots* slots;  // null without stream inputs
  Queue<ChunkTask>* queue;
  Arena* arena;
  unsigned partitions;
  std::size_t table_limit;  // a worker flushes its map table beyond this many bytes
  std::string spill_dir;
  bool trace;
  Clock::time_point t0;  // the job's start, for trace timestamps

  // Fails here when MAPREDUCE_FAULT says so (fault_injection.h).
  void fault_at(FaultPhase phase, std::uint32_t task) const {
    if (fault && fault->worker_at(phase, task) && arena->fire_fault(fault->times)) fault->fire();
  }
};

std::uint64_t micros_since(Clock::time_point t0, Clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(t - t0).count());
}

// Collects spans while tracing; a no-op otherwise.
class Tracer {
 public:
  Tracer(bool on, Clock::time_point t0) : on_(on), t0_(t0) {}
  template <class F>
  auto span(std::string name, F&& f) {
    if (!on_) return f();
    auto start = Clock::now();
    struct Record {
      Tracer* self;
      std::string name;
      Clock::time_point start;
      ~Record() {
        self->spans_.push_back(detail::TraceSpan{std::move(name), micros_since(self->t0_, start),
                                                 micros_since(start, Clock::now())});
      }
    } record{this, std::move(name), start};
    return f();
  }
  std::vector<detail::TraceSpan> take() { return std::exchange(spans_, {}); }
  bool on() const { return on_; }

 private:
  bool on_;
  Clock::time_point t0_;
  std::vector<detail::TraceSpan> spans_;
};

// DANGER: runs in the forked worker. Exceptions end in a Failed message and
// exit code 1; the Process layer ends the child with _exit.
template <class Channel>
int worker_main(const WorkerEnv& env, Channel& conn) {
  ::signal(SIGINT, SIG_IGN);  // the master decides what Ctrl-C (or a hang-up) means
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGTERM, SIG_DFL);
  using namespace detail;
  std::unique_ptr<MapTask> map;  // made once the job's worker setup is done
  std::vector<std::uint32_t> done;
  std::string where;  // what the worker is doing, for error messages
  Tracer tracer(env.trace, env.t0);

  // Maps one task; returns false for a stale stream task (re-issued).
  auto run_chunk = [&](const ChunkTask& t) {
    if (t.slot >= 0 && t.ticket && !env.slots->claim(t)) return false;
    const Input& in = *(*env.inputs)[t.input];
    where = "map of '" + in.name() + "' " + byte_range(t);
    conn.send(WorkerMessage{Started{t.chunk}});
    env.fault_at(FaultPhase::kMap, t.chunk);
    std::string_view bytes =
        t.slot >= 0 ? std::string_view(env.slots->data(static_cast<std::size_t>(t.slot)), t.length)
                    : in.data().substr(t.offset, t.length);
    tracer.span(
        tracer.on()
            ? "map chunk " + std::to_string(t.chunk) + " (" + in.name() + " " + byte_range(t) + ")"
            : std::string(),
        [&] {
          map->map(bytes, ChunkInfo{t.chunk, in.name(), t.offset, t.length, t.first_line, t.input});
        });
    // Zero bytes instead of a truncated file's lost pages: never commit them.
    if (input_mapping_faulted())
      throw std::runtime_error("'" + in.name() + "' shrank while being read");
    done.push_back(t.chunk);
    return true;
  };
  std::vector<std::byte> private_buffer;  // for spills
  auto flush = [&](bool final) {
    tracer.span("commit map output", [&] {
      where = "writing map output";
      auto sizes = map->partition_sizes(env.partitions);
      std::uint64_t total = 0;
      for (auto s : sizes) total += s;
      MapDone msg;
      msg.chunks = std::move(done);
      msg.final = final;
      done.clear();
      std::vector<std::span<std::byte>> spans;
      std::optional<Run> space;
      if (total > 0) space = env.arena->reserve(total);
      std::uint64_t at = space ? space->offset : 0;
      if (!space) private_buffer.resize(total);
      for (auto s : sizes) {
        if (space) {
          msg.runs.push_back(Run{at, s});
          spans.push_back(env.arena->at(Run{at, s}));
        } else {
          spans.push_back(std::span<std::byte>(private_buffer.data() + at, s));
        }
        at += s;
      }
      if (total > 0) map->write_partitions(env.partitions, spans);
      if (!space) {
        msg.runs.assign(env.partitions, Run{});
        if (!msg.chunks.empty()) env.fault_at(FaultPhase::kSpill, 0);
        if (total > 0) msg.spills = spill(env.spill_dir, spans);
        private_buffer.clear();
        private_buffer.shrink_to_fit();
      }
      TaskCounters now = map->take_counters();
      msg.records = now.records;
      msg.emitted = now.emitted;
      msg.user_counters = std::move(now.user);
      msg.spans = tracer.take();
      conn.send(WorkerMessage{std::move(msg)});
    });
  };
  // Commit when the table outgrows its share, and after every stream chunk
  // so that its slot can be reused.
  auto after_chunk = [&](const ChunkTask& t) {
    if (t.slot >= 0 || map->memory_bytes() > env.table_limit) flush(false);
  };

  try {
    // The job's per-worker setup; the master times it like a task.
    where = "setup of worker " + std::to_string(::getpid());
    env.job->start_worker();
    map = env.job->make_map_task();
    conn.send(WorkerMessage{Ready{}});
    // Pull chunks from the shared work queue until the master closes it.
    for (;;) {
      ChunkTask t;
      try {
        t = env.queue->get();
      } catch (const QueueClosed&) {
        break;
      }
      if (run_chunk(t)) after_chunk(t);
    }
    flush(true);
    // Then follow the master's orders.
    for (;;) {
      MasterMessage m = conn.template recv<MasterMessage>();
      if (std::holds_alternative<Exit>(m)) {
        // Told to exit: the job's per-worker teardown. The master no longer
        // listens, so its failure can only be said on stderr.
        map.reset();
        try {
          env.job->stop_worker();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "mapreduce: %s: teardown of worker %d: %s\n",
                       std::string(env.job->name()).c_str(), static_cast<int>(::getpid()),
                       e.what());
          return 1;
        }
        return 0;
      }
      if (auto* mc = std::get_if<MapChunks>(&m)) {
        for (const auto& t : mc->chunks)
          if (run_chunk(t)) after_chunk(t);
        flush(true);
      } else if (auto* rp = std::get_if<ReducePartition>(&m)) {
        where = "reduce of partition " + std::to_string(rp->partition) + " of " +
                std::to_string(env.partitions);
        auto reduce_start = Clock::now();
        env.fault_at(FaultPhase::kReduce, rp->partition);
        auto reduce = env.job->make_reduce_task();
        reduce->set_partition(rp->partition, env.partitions);
        for (const auto& run : rp->runs) {
          auto bytes = env.arena->at(run);
          reduce->add_run(
              std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        }
        std::vector<std::string> unspilled;  // alive until finish()
        unspilled.reserve(rp->spills.size());
        for (const auto& spilled : rp->spills)
          reduce->add_run(unspilled.emplace_back(unspill(spilled)));
        std::string out = reduce->finish();
        ReduceDone msg{rp->partition, Run{}, std::nullopt, reduce->keys(), {}, {}};
        msg.user_counters = reduce->take_counters().user;
        if (!out.empty()) {
          if (auto space = env.arena->reserve(out.size())) {
            std::memcpy(env.arena->at(*space).data(), out.data(), out.size());
            msg.run = *space;
          } else {
            env.fault_at(FaultPhase::kSpill, 0);
            std::span<std::byte> whole(reinterpret_cast<std::byte*>(out.data()), out.size());
            msg.spill =
                spill(env.spill_dir, std::span<const std::span<std::byte>>(&whole, 1)).front();
          }
        }
        if (env.trace)
          msg.spans.push_back(TraceSpan{"reduce partition " + std::to_string(rp->partition),
                                        micros_since(env.t0, reduce_start),
                                        micros_since(reduce_start, Clock::now())});
        conn.send(WorkerMessage{msg});
      }
    }
  } catch (const EofError&) {
    return 0;  // the master is gone; nothing to report to
  } catch (const std::exception& e) {
    try {
      conn.send(WorkerMessage{
          Failed{std::string(env.job->name()) + ": " + where + ": " + e.what(), e.what()}});
    } catch (...) {
    }
    return 1;
  }
}

// What a spawned worker needs besides the shared regions (sent with their
// descriptors: arena, queue ring, queue lock, then the stream slots if any).
struct SpawnInput {
  std::string name;
  std::uint8_t streamed = 0;
  std::uint64_t size = 0;  // of a mapped input, checked by the worker
  template <class Ar>
  void serialize(Ar& ar) {
    ar(name, streamed, size);
  }
};
struct WorkerSetup {
  JobRecipe recipe;
  std::vector<SpawnInput> inputs;
  std::uint64_t slot_count = 0, slot_bytes = 0;  // 0 slots: no stream inputs
  std::uint32_t partitions = 0;
  std::uint64_t table_limit = 0;
  std::string spill_dir;
  std::uint8_t trace = 0;
  std::int64_t t0_ns = 0;  // steady_clock is the same clock in every process
  std::uint8_t has_fault = 0, fault_kind = 0, fault_phase = 0;
  std::uint32_t fault_chunk = 0, fault_times = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(recipe, inputs, slot_count, slot_bytes, partitions, table_limit, spill_dir, trace, t0_ns,
       has_fault, fault_kind, fault_phase, fault_chunk, fault_times);
  }
};

// A spawned worker's stand-in for a stream input: only its name is used
// (the bytes come through the stream slots).
class StreamName final : public Input {
 public:
  explicit StreamName(std::string name) : Input(std::move(name)) {}
  bool streamed() const noexcept override { return true; }
};

// The life of a spawned or forkserver worker: connect back, rebuild the job
// and the inputs, attach the master's shared regions, then the same loop as
// a forked worker.
int spawned_worker_main(const std::string& address, const std::string& token) {
  SocketConnection conn = connect_back(address, token);
  std::vector<UniqueFd> fds;
  WorkerSetup setup;
  try {
    setup = from_bytes<WorkerSetup>(conn.recv_bytes_and_fds(fds));
  } catch (const EofError&) {
    return 0;  // the master gave up on us
  }
  std::unique_ptr<Job> job;
  Inputs inputs;
  std::optional<Arena> arena;
  std::optional<Queue<ChunkTask>> queue;
  std::optional<StreamSlots> slots;
  WorkerEnv env{};
  try {
    if (fds.size() != (setup.slot_count ? 4u : 3u))
      throw std::runtime_error("expected the shared regions' descriptors");
    job = make_job(setup.recipe);
    for (const auto& in : setup.inputs) {
      if (in.streamed) {
        inputs.push_back(std::make_unique<StreamName>(in.name));
        continue;
      }
      Inputs one = open_inputs({in.name}, {});
      if (one.size() != 1 || one[0]->streamed() || one[0]->data().size() != in.size)
        throw std::runtime_error("input '" + in.name + "' changed since the job started");
      inputs.push_back(std::move(one[0]));
    }
    arena.emplace(SharedRegion::map_fd(std::move(fds[0])));
    queue.emplace(Queue<ChunkTask>::attach(SharedRegion::map_fd(std::move(fds[1])),
                                           SharedRegion::map_fd(std::move(fds[2]))));
    if (setup.slot_count)
      slots.emplace(SharedRegion::map_fd(std::move(fds[3])), setup.slot_count, setup.slot_bytes);
    if (setup.has_fault) {
      FaultInjection f;
      f.kind = static_cast<FaultInjection::Kind>(setup.fault_kind);
      f.phase = static_cast<FaultPhase>(setup.fault_phase);
      f.task = setup.fault_chunk;
      f.times = setup.fault_times;
      env.fault = f;
    }
  } catch (const std::exception& e) {
    const std::string job_name =
        !setup.recipe.builtin.empty() ? setup.recipe.builtin : setup.recipe.plugin;
    try {
      conn.send(detail::WorkerMessage{
          detail::Failed{job_name + ": starting a worker: " + e.what(), e.what()}});
    } catch (...) {
    }
    return 1;
  }
  env.job = job.get();
  env.inputs = &inputs;
  env.slots = slots ? &*slots : nullptr;
  env.queue = &*queue;
  env.arena = &*arena;
  env.partitions = setup.partitions;
  env.table_limit = setup.table_limit;
  env.spill_dir = setup.spill_dir;
  env.trace = setup.trace != 0;
  env.t0 = Clock::time_point(Clock::duration(setup.t0_ns));
  const int code = worker_main(env, conn);
  // After a failed task the job is not torn down, as in a forked worker:
  // the process ends without destroying it.
  if (code != 0) (void)job.release();
  return code;
}

class Master {
 public:
  Master(const Job& job, const Inputs& inputs, const EngineOptions& options, std::FILE* out)
      : job_(job), inputs_(inputs), options_(options), out_(out) {}

  JobStats run();

 private:
  struct Worker {
    std::unique_ptr<Process> process;
    Connection conn;        // fork: the master's end of the worker's pipe
    bool spawned = false;   // spawn/forkserver: `sock` instead of `conn`
    SocketConnection sock;  // closed when the worker never connected back
    bool ready = false;     // it sent Ready: its start (the job's setup) is done

    // A send to a dead spawned worker is dropped: its death is handled.
    void send(const detail::MasterMessage& m) {
      if (!spawned) return conn.send(m);
      try {
        if (!sock.closed()) sock.send(m);
      } catch (const std::system_error&) {
      }
    }
    bool poll() {
      if (!spawned) return conn.poll();
      if (sock.closed()) throw EofError("never connected");
      return sock.poll();
    }
    detail::WorkerMessage recv() {
      if (!spawned) return conn.recv<detail::WorkerMessage>();
      return sock.recv<detail::WorkerMessage>();
    }
    enum class State { kPulling, kIdle, kMapping, kReducing } state = State::kPulling;
    std::optional<std::uint32_t> chunk;      // being mapped
    std::optional<std::uint32_t> partition;  // being reduced
    std::string failure;                     // from a Failed message, or why it was killed
    std::string cause;                       // a Failed message's cause alone
    Clock::time_point task_started{};        // of the chunk or partition, or of its setup
    bool timed_out = false;
    bool straggler = false;  // killed to run its task again elsewhere (not a failure)
  };
  // The master's record of one chunk.
  struct ChunkState {
    ChunkTask task;
    bool committed = false;
    unsigned attempts = 0;
    bool speculated = false;  // run again once as a straggler; a second time waits for the timeout
  };

  std::optional<ChunkTask> next_task();
  std::uint32_t add_chunk(std::uint32_t input, std::uint64_t offset, std::uint64_t length, int slot,
                          std::string_view bytes);
  void feed_queue();
  void reissue_lost_stream_tasks(pid_t dead);
  void start_worker(std::size_t slot);
  void start_spawned_worker(std::size_t slot);
  bool drain(Worker& w);  // handles pending messages; false when the peer is gone
  void handle(Worker& w, detail::WorkerMessage& m);
  void handle_death(std::size_t slot);
  void schedule();
  void wait_for_events();
  void stop_workers(bool kill) noexcept;
  void report_progress(bool final);
  void record_spans(const Worker& w, const std::vector<detail::TraceSpan>& spans);
  // Fails here when MAPREDUCE_FAULT names the master at `phase`.
  void master_fault_at(FaultPhase phase) const {
    if (env_.fault && env_.fault->master_at(phase)) env_.fault->fire();
  }
  void write_trace() const;

  const Job& job_;
  const Inputs& inputs_;
  EngineOptions options_;
  std::FILE* out_;
  JobStats stats_;

  std::vector<ChunkState> chunks_;
  detail::SpillDir spill_dir_;  // removed with the master
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<StreamSlots> slots_;
  std::unique_ptr<Queue<ChunkTask>> queue_;
  WorkerEnv env_{};
  WorkerSetup setup_;            // spawn/forkserver: what each worker is sent
  unsigned start_failures_ = 0;  // workers in a row that ended before they were ready
  unsigned idle_deaths_ = 0;     // ready workers in a row that died outside a task
  std::vector<Worker> workers_;

  // The producer: inputs in order, mapped ones cut up front, streams read
  // into free slots as the job goes.
  std::uint32_t input_cursor_ = 0;
  std::uint64_t input_offset_ = 0;  // in the input at the cursor
  std::string carry_;               // stream bytes read past the last cut
  std::vector<int> free_slots_;
  std::uint64_t next_ticket_ = 1;
  std::optional<ChunkTask> unsent_;  // produced, waiting for room in the queue
  bool line_numbers_ = false;        // the job wants ChunkInfo::first_line
  std::uint64_t lines_before_ = 0;   // newlines before the next chunk of the current input

  enum class Phase { kMap, kReduce, kDone } phase_ = Phase::kMap;
  bool queue_closed_ = false;
  bool handled_ = false;  // a message or a death was handled since the last wait
  std::uint64_t committed_bytes_ = 0;
  std::vector<std::vector<detail::Run>> map_runs_;         // per partition
  std::vector<std::vector<detail::SpillRun>> map_spills_;  // per partition
  std::deque<std::uint32_t> pending_partitions_;
  std::vector<std::optional<detail::Run>> reduce_out_;
  std::vector<std::optional<detail::SpillRun>> reduce_spills_;
  std::vector<unsigned> partition_attempts_;
  std::uint32_t partitions_done_ = 0;
  // How long finished chunks and partitions took, to spot a straggler.
  std::vector<double> chunk_seconds_, partition_seconds_;
  std::vector<bool> partition_speculated_;
  bool is_straggler(std::size_t slot) const;
  Clock::time_point started_ = Clock::now(), last_progress_{};
  Clock::time_point t0_ = Clock::now();
  // --trace: (pid, row name, span)
  struct TracedSpan {
    pid_t pid;
    detail::TraceSpan span;
  };
  std::vector<TracedSpan> trace_;
  std::vector<std::pair<pid_t, std::string>> trace_rows_;
};

void Master::record_spans(const Worker& w, const std::vector<detail::TraceSpan>& spans) {
  for (const auto& s : spans) trace_.push_back(TracedSpan{w.process->pid(), s});
}

void Master::write_trace() const {
  // The caller's open file (it commits it), or one this opens by name.
  std::FILE* f =
      options_.trace_file ? options_.trace_file : std::fopen(options_.trace_path.c_str(), "w");
  if (!f)
    throw std::system_error(errno, std::generic_category(),
                            "cannot write trace '" + options_.trace_path + "'");
  auto json_string = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) < 0x20) continue;
      out += c;
    }
    return out + "\"";
  };
  std::fprintf(f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
  bool first = true;
  auto sep = [&] {
    if (!first) std::fputs(",\n", f);
    first = false;
  };
  for (const auto& [pid, name] : trace_rows_) {
    sep();
    std::fprintf(f,
                 "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"args\": "
                 "{\"name\": %s}}",
                 static_cast<int>(pid), json_string(name).c_str());
  }
  for (const auto& t : trace_) {
    sep();
    std::fprintf(
        f, "{\"name\": %s, \"ph\": \"X\", \"pid\": %d, \"tid\": 0, \"ts\": %llu, \"dur\": %llu}",
        json_string(t.span.name).c_str(), static_cast<int>(t.pid),
        static_cast<unsigned long long>(t.span.start_us),
        static_cast<unsigned long long>(t.span.duration_us));
  }
  std::fputs("\n]}\n", f);
  if (options_.trace_file) return;
  if (std::fclose(f) != 0)
    throw std::system_error(errno, std::generic_category(),
                            "cannot write trace '" + options_.trace_path + "'");
}

std::uint32_t Master::add_chunk(std::uint32_t input, std::uint64_t offset, std::uint64_t length,
                                int slot, std::string_view bytes) {
  auto c = static_cast<std::uint32_t>(chunks_.size());
  ChunkState st;
  st.task = ChunkTask{c, input, offset, length, slot, 0, 0};
  if (line_numbers_) {
    if (offset == 0) lines_before_ = 0;  // a new input
    st.task.first_line = lines_before_ + 1;
    lines_before_ += static_cast<std::uint64_t>(std::count(bytes.begin(), bytes.end(), '\n'));
  }
  chunks_.push_back(st);
  stats_.input_bytes += length;
  return c;
}

// The next chunk to map, or nothing when the inputs are exhausted or a
// stream is waiting for a free slot (then input_cursor_ < inputs_.size()).
std::optional<ChunkTask> Master::next_task() {
  while (input_cursor_ < inputs_.size()) {
    const Input& in = *inputs_[input_cursor_];
    if (!in.streamed()) {
      std::string_view data = in.data();
      std::uint64_t pos = input_offset_;
      if (pos >= data.size()) {
        ++input_cursor_;
        input_offset_ = 0;
        continue;
      }
      std::uint64_t end = data.size();
      if (data.size() - pos > options_.chunk_size)
        end = std::max<std::uint64_t>(job_.split_point(data, pos + options_.chunk_size), pos + 1);
      input_offset_ = end;
      return chunks_[add_chunk(input_cursor_, pos, end - pos, -1, data.substr(pos, end - pos))]
          .task;
    }
    if (free_slots_.empty()) return std::nullopt;
    // Fill a slot: the carried-over bytes, then as much of the stream as fits.
    int slot = free_slots_.back();
    char* buf = slots_->data(static_cast<std::size_t>(slot));
    std::size_t cap = slots_->slot_bytes(), n = carry_.size();
    std::memcpy(buf, carry_.data(), n);
    carry_.clear();
    bool eof = false;
    while (n < cap) {
      std::size_t r = inputs_[input_cursor_]->read(buf + n, cap - n);
      if (r == 0) {
        eof = true;
        break;
      }
      n += r;
    }
    std::size_t cut = n;
    if (!eof) {
      // The last position in the slot where the job allows a cut.
      std::string_view data(buf, n);
      cut = n;
      for (std::size_t back = 4096;; back *= 2) {
        std::size_t from = back >= n ? 1 : n - back;
        std::size_t p = job_.split_point(data, from);
        if (p < n) {
          for (std::size_t q = p; q < n; q = job_.split_point(data, q + 1)) p = q;
          cut = p;
          break;
        }
        if (from == 1)
          throw JobError("'" + in.name() + "' has a record longer than --chunk-size (" +
                         std::to_string(cap) + " bytes) near byte " +
                         std::to_string(input_offset_ + n) + "; raise --chunk-size");
      }
      carry_.assign(buf + cut, n - cut);
    }
    std::uint64_t offset = input_offset_;
    input_offset_ += cut;
    if (eof) {
      ++input_cursor_;
      input_offset_ = 0;
    }
    if (cut == 0) continue;  // an empty stream
    free_slots_.pop_back();
    std::uint32_t c =
        add_chunk(input_cursor_ - (eof ? 1 : 0), offset, cut, slot, std::string_view(buf, cut));
    ChunkTask& t = chunks_[c].task;
    t.ticket = next_ticket_++;
    slots_->header(static_cast<std::size_t>(slot))->claim.store(t.ticket);
    return t;
  }
  return std::nullopt;
}

void Master::feed_queue() {
  while (!queue_closed_) {
    if (!unsent_) unsent_ = next_task();
    if (!unsent_) {
      if (input_cursor_ < inputs_.size()) return;  // a stream waits for a slot
      queue_->close();
      queue_closed_ = true;
      return;
    }
    if (!queue_->try_put(*unsent_)) return;
    unsent_.reset();
  }
}

// Puts stream tasks that no live worker holds back on the queue under new
// tickets: those claimed by the dead worker `dead` (0: none), and, when the
// producer starves for slots while every worker waits on an empty queue,
// those that vanished with a worker between its get() and its claim.
void Master::reissue_lost_stream_tasks(pid_t dead) {
  if (!slots_ || queue_closed_) return;
  bool starving = free_slots_.empty() && queue_->empty() && !unsent_ &&
                  std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) {
                    return w.state == Worker::State::kPulling && !w.chunk;
                  });
  if (!dead && !starving) return;
  for (auto& cs : chunks_) {
    ChunkTask& t = cs.task;
    if (t.slot < 0 || cs.committed || !t.ticket) continue;
    auto& claim = slots_->header(static_cast<std::size_t>(t.slot))->claim;
    std::uint64_t now = claim.load();
    std::uint64_t holder = now >> kClaimShift;
    bool lost = (dead && holder == static_cast<std::uint64_t>(dead)) || (starving && holder == 0);
    if (!lost) continue;
    std::uint64_t fresh = next_ticket_++;
    if (!claim.compare_exchange_strong(now, fresh)) continue;  // claimed meanwhile: not lost
    t.ticket = fresh;
    queue_->put(t);  // room: the queue holds at most the tasks of the slots
    ++stats_.retries;
  }
}

void Master::start_worker(std::size_t slot) {
  if (options_.start_method != StartMethod::kFork) return start_spawned_worker(slot);
  auto [mine, theirs] = Pipe();
  Worker& w = workers_[slot];
  w = Worker{};
  w.task_started = Clock::now();  // its setup is timed like a task
  w.conn = std::move(mine);
  ProcessOptions po;
  po.name = "mapreduce-worker-" + std::to_string(slot);
  po.daemon = true;
  po.start_method = StartMethod::kFork;
  Connection* child_end = &theirs;
  w.process = std::make_unique<Process>(po, [this, child_end]() -> int {
    // Close the master's ends of every pipe: only the master reads them.
    for (auto& other : workers_) other.conn.close();
    return worker_main(env_, *child_end);
  });
  w.process->start();
  theirs.close();
  if (env_.trace)
    trace_rows_.emplace_back(w.process->pid(),
                             po.name + " (pid " + std::to_string(w.process->pid()) + ")");
}

void Master::start_spawned_worker(std::size_t slot) {
  Worker& w = workers_[slot];
  w = Worker{};
  w.task_started = Clock::now();
  w.spawned = true;
  ProcessOptions po;
  po.name = "mapreduce-worker-" + std::to_string(slot);
  po.daemon = true;
  po.start_method = options_.start_method;
  Listener listener;
  const std::string token = random_token();
  w.process = std::make_unique<Process>(po, target<&detail::engine_spawned_worker>,
                                        listener.address(), token);
  w.process->start();
  if (env_.trace)
    trace_rows_.emplace_back(w.process->pid(),
                             po.name + " (pid " + std::to_string(w.process->pid()) + ")");
  std::optional<SocketConnection> c;
  // Waits in short steps, so that an interrupt is heard while many start.
  const Deadline connect_by = Deadline::after(std::chrono::seconds(60));
  for (;;) {
    if (g_interrupted) throw Interrupted();
    try {
      c = accept_child(listener, token, w.process->sentinel(), w.process->pid(),
                       std::min<Timeout>(connect_by.remaining(), std::chrono::milliseconds(200)));
      break;
    } catch (const TimeoutError&) {
      if (!connect_by.expired()) continue;
      w.process->kill();  // handled as a death by the main loop
      return;
    }
  }
  if (!c) return;  // died before connecting: handled as a death
  w.sock = std::move(*c);
  std::vector<int> fds{arena_->region().fd(), queue_->ring_region().fd(),
                       queue_->lock_region().fd()};
  if (slots_) fds.push_back(slots_->region().fd());
  try {
    w.sock.send_bytes(to_bytes(setup_), fds);
  } catch (const std::system_error&) {
    // Died meanwhile: handled as a death.
  }
  // Its setup (making the job, the job's setup) is timed like a task from
  // now: starting the program and connecting back have their own limit.
  w.task_started = Clock::now();
}

bool Master::drain(Worker& w) {
  try {
    while (w.poll()) {
      auto m = w.recv();
      handle(w, m);
      handled_ = true;
    }
    return true;
  } catch (const EofError&) {
    return false;
  }
}

void Master::handle(Worker& w, detail::WorkerMessage& m) {
  using namespace detail;
  if (auto* s = std::get_if<Started>(&m)) {
    if (w.chunk) chunk_seconds_.push_back(seconds_since(w.task_started));  // the one before
    w.chunk = s->chunk;
    w.task_started = Clock::now();
  } else if (auto* d = std::get_if<MapDone>(&m)) {
    for (auto c : d->chunks) {
      ChunkState& cs = chunks_[c];
      if (cs.committed) throw std::logic_error("mapreduce engine: chunk committed twice");
      cs.committed = true;
      committed_bytes_ += cs.task.length;
      if (cs.task.slot >= 0) {
        slots_->header(static_cast<std::size_t>(cs.task.slot))->claim.store(0);
        free_slots_.push_back(cs.task.slot);
      }
    }
    for (std::size_t r = 0; r < d->runs.size(); ++r)
      if (d->runs[r].length) map_runs_[r].push_back(d->runs[r]);
    if (!d->spills.empty()) ++stats_.spills;
    for (std::size_t r = 0; r < d->spills.size(); ++r)
      if (d->spills[r].length) map_spills_[r].push_back(std::move(d->spills[r]));
    stats_.records += d->records;
    for (const auto& [name, n] : d->user_counters) stats_.user_counters[name] += n;
    record_spans(w, d->spans);
    w.chunk.reset();
    if (d->final) w.state = Worker::State::kIdle;
    if (!d->chunks.empty()) idle_deaths_ = 0;
    master_fault_at(FaultPhase::kMap);
    if (!d->spills.empty()) master_fault_at(FaultPhase::kSpill);
  } else if (auto* rd = std::get_if<ReduceDone>(&m)) {
    idle_deaths_ = 0;
    partition_seconds_.push_back(seconds_since(w.task_started));
    if (rd->run.length) reduce_out_[rd->partition] = rd->run;
    if (rd->spill) {
      reduce_spills_[rd->partition] = std::move(rd->spill);
      ++stats_.spills;
    }
    stats_.distinct_keys += rd->keys;
    for (const auto& [name, n] : rd->user_counters) stats_.user_counters[name] += n;
    record_spans(w, rd->spans);
    ++partitions_done_;
    w.partition.reset();
    w.state = Worker::State::kIdle;
    master_fault_at(FaultPhase::kReduce);
    if (reduce_spills_[rd->partition]) master_fault_at(FaultPhase::kSpill);
  } else if (std::holds_alternative<Ready>(m)) {
    w.ready = true;
    start_failures_ = 0;
  } else if (auto* f = std::get_if<Failed>(&m)) {
    w.failure = f->message;
    w.cause = f->cause;
  }
}

void Master::handle_death(std::size_t slot) {
  Worker& w = workers_[slot];
  pid_t pid = w.process->pid();
  check_inputs(inputs_);  // a file truncated under the workers: an input error, no retry
  w.process->join_for(std::chrono::seconds(5));
  if (w.process->is_alive()) {
    w.process->kill();
    w.process->join();
  }
  // What went wrong on the last attempt; a task's message below already
  // names the job and the task, so a thrown error is its cause alone.
  std::string why = !w.cause.empty() ? w.cause
                    : !w.failure.empty()
                        ? w.failure
                        : "worker " + std::to_string(pid) + " " +
                              describe_exit_code(w.process->exit_code().value_or(-9));
  if (w.chunk) {
    ChunkState& cs = chunks_[*w.chunk];
    if (!w.straggler && ++cs.attempts >= options_.max_attempts)
      throw JobError(std::string(job_.name()) + ": map of chunk " + std::to_string(*w.chunk) +
                     " of '" + inputs_[cs.task.input]->name() + "' (" + byte_range(cs.task) +
                     ") failed " + std::to_string(cs.attempts) + " times; last: " + why);
  }
  if (w.partition) {
    std::uint32_t p = *w.partition;
    if (!w.straggler && ++partition_attempts_[p] >= options_.max_attempts)
      throw JobError(std::string(job_.name()) + ": reduce of partition " + std::to_string(p) +
                     " of " + std::to_string(map_runs_.size()) + " failed " +
                     std::to_string(partition_attempts_[p]) + " times; last: " + why);
    pending_partitions_.push_front(p);
    ++stats_.retries;
  }
  if (!w.ready) {
    // It ended before it was ready: crashed, hung (--task-timeout) or threw
    // in the job's per-worker setup (or, a fresh program, while connecting
    // or making the job). It is replaced, but a start that keeps failing
    // would be retried forever: give up after max_attempts in a row.
    if (++start_failures_ >= options_.max_attempts)
      throw JobError(std::string(job_.name()) + ": starting a worker (the job's setup) failed " +
                     std::to_string(start_failures_) + " times in a row; last: " + why);
  } else if (!w.chunk && !w.partition && !w.failure.empty()) {
    throw JobError(w.failure);  // a failure outside any task (writing map output, ...)
  } else if (!w.chunk && !w.partition) {
    // A crash outside any task (committing map output) counts against no
    // task, so one that repeats would replace workers forever: give up
    // after max_attempts in a row with nothing committed in between.
    if (++idle_deaths_ >= options_.max_attempts)
      throw JobError(std::string(job_.name()) + ": workers died " + std::to_string(idle_deaths_) +
                     " times in a row outside any task; last: " + why);
  }
  ++stats_.workers_replaced;
  start_worker(slot);
  reissue_lost_stream_tasks(pid);
}

bool Master::is_straggler(std::size_t slot) const {
  const Worker& w = workers_[slot];
  if (!w.ready || (!w.chunk && !w.partition) || workers_.size() < 2) return false;
  // Only when nothing else is left to do: the inputs are all handed out
  // (or no partition waits) and every other worker is idle.
  if (w.chunk ? !queue_closed_ : !pending_partitions_.empty()) return false;
  // Once per task: one that straggles again (it hangs wherever it runs) is
  // left to --task-timeout, which counts attempts.
  if (w.chunk ? chunks_[*w.chunk].speculated : partition_speculated_[*w.partition]) return false;
  for (std::size_t i = 0; i < workers_.size(); ++i)
    if (i != slot && workers_[i].state != Worker::State::kIdle) return false;
  std::vector<double> done = w.chunk ? chunk_seconds_ : partition_seconds_;
  if (done.size() < 2) return false;
  std::nth_element(done.begin(), done.begin() + done.size() / 2, done.end());
  return seconds_since(w.task_started) >
         std::max(kStragglerMinSeconds, kStragglerFactor * done[done.size() / 2]);
}

void Master::schedule() {
  using State = Worker::State;
  feed_queue();
  reissue_lost_stream_tasks(0);
  bool all_idle = std::all_of(workers_.begin(), workers_.end(),
                              [](const Worker& w) { return w.state == State::kIdle; });
  if (phase_ == Phase::kMap && queue_closed_ && all_idle) {
    // Everything that was pulled is either committed or died with a worker.
    std::vector<ChunkTask> lost;
    for (auto& cs : chunks_)
      if (!cs.committed) {
        cs.task.ticket = 0;  // assigned directly: nothing else can hold it now
        lost.push_back(cs.task);
      }
    if (lost.empty()) {
      phase_ = Phase::kReduce;
      trace_.push_back(TracedSpan{
          ::getpid(),
          {"map phase", micros_since(t0_, started_), micros_since(started_, Clock::now())}});
      stats_.seconds_map = seconds_since(started_);
      started_ = Clock::now();
      for (std::uint32_t r = 0; r < map_runs_.size(); ++r) pending_partitions_.push_back(r);
    } else {
      stats_.retries += lost.size();
      std::vector<detail::MapChunks> orders(workers_.size());
      for (std::size_t i = 0; i < lost.size(); ++i)
        orders[i % workers_.size()].chunks.push_back(lost[i]);
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        if (orders[i].chunks.empty()) continue;
        workers_[i].state = State::kMapping;
        workers_[i].send(detail::MasterMessage{orders[i]});
      }
    }
  }
  if (phase_ == Phase::kReduce) {
    for (auto& w : workers_) {
      if (pending_partitions_.empty()) break;
      if (w.state != State::kIdle) continue;
      std::uint32_t p = pending_partitions_.front();
      pending_partitions_.pop_front();
      w.state = State::kReducing;
      w.partition = p;
      w.task_started = Clock::now();
      w.send(detail::MasterMessage{detail::ReducePartition{p, map_runs_[p], map_spills_[p]}});
    }
    if (partitions_done_ == map_runs_.size()) phase_ = Phase::kDone;
  }
}

void Master::wait_for_events() {
  // Sleep until a worker sends something (every chunk a worker takes is
  // announced by Started, which is also when the queue has room again) or
  // dies; wake at least every 50 ms for task timeouts and the progress line.
  std::vector<Connection*> conns;
  std::vector<int> sentinels;
  for (auto& w : workers_) {
    if (w.spawned) {
      if (!w.sock.closed()) sentinels.push_back(w.sock.fileno());  // readable: a message or EOF
    } else {
      conns.push_back(&w.conn);
    }
    sentinels.push_back(w.process->sentinel());
  }
  mr::wait_for(conns, sentinels, std::chrono::milliseconds(50));
}

void Master::stop_workers(bool kill) noexcept {
  for (auto& w : workers_) {
    if (!w.process) continue;
    try {
      if (kill) {
        w.process->kill();
      } else if (w.process->is_alive()) {
        w.send(detail::MasterMessage{detail::Exit{}});
      }
    } catch (...) {
    }
  }
  for (auto& w : workers_) {
    if (!w.process) continue;
    try {
      if (!w.process->join_for(std::chrono::seconds(5))) {
        w.process->kill();
        w.process->join();
      }
    } catch (...) {
    }
  }
}

void Master::report_progress(bool final) {
  if (!options_.progress) return;
  auto now = Clock::now();
  if (!final && now - last_progress_ < std::chrono::milliseconds(200)) return;
  last_progress_ = now;
  double secs = seconds_since(started_);
  double mb = committed_bytes_ / 1e6, total = stats_.input_bytes / 1e6;
  bool streaming = input_cursor_ < inputs_.size();  // total still unknown
  std::string counters;                             // the job's own counters, as committed so far
  for (const auto& [name, n] : stats_.user_counters)
    counters += "  " + name + "=" + std::to_string(n);
  double rate = secs > 0 ? mb / secs : 0;
  constexpr int kWidth = 30;
  if (streaming) {
    std::fprintf(stderr, "\r%.1f MB  %.1f MB/s%s%s", mb, rate, counters.c_str(),
                 final ? "\n" : "   ");
  } else {
    double eta = rate > 0 ? (total - mb) / rate : 0;
    int filled = total > 0 ? static_cast<int>(kWidth * mb / total) : kWidth;
    std::string bar(static_cast<std::size_t>(std::clamp(filled, 0, kWidth)), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r[%s] %.1f/%.1f MB  %.1f MB/s  ETA %.0fs%s %s", bar.c_str(), mb, total,
                 rate, eta, counters.c_str(), final ? "\n" : "");
  }
  std::fflush(stderr);
}

JobStats Master::run() {
  unsigned workers =
      options_.workers ? options_.workers : static_cast<unsigned>(std::max(1, cpu_count()));
  // No more workers than chunks when that is known (no stream inputs).
  if (inputs_.size() > 0) {
    const std::uint64_t chunks = count_chunks(inputs_, options_.chunk_size);
    const bool streams =
        std::any_of(inputs_.begin(), inputs_.end(), [](const auto& in) { return in->streamed(); });
    if (!streams) workers = static_cast<unsigned>(std::clamp<std::uint64_t>(chunks, 1, workers));
  }
  unsigned partitions = options_.reducers           ? options_.reducers
                        : job_.preferred_reducers() ? job_.preferred_reducers()
                                                    : 4 * workers;
  line_numbers_ = job_.wants_line_numbers();
  stats_.workers = workers;
  stats_.reducers = partitions;

  // Half the memory budget is the shared arena, the other half the workers'
  // map tables (each flushes beyond its share).
  std::size_t memory = options_.memory ? options_.memory : default_memory();
  const bool fresh_workers = options_.start_method != StartMethod::kFork;
  if (fresh_workers && options_.job_recipe.empty())
    throw std::invalid_argument(
        "the spawn and forkserver start methods need EngineOptions::job_recipe (how a fresh "
        "worker makes the job)");
  arena_ = std::make_unique<Arena>(memory / 2, fresh_workers);
  std::size_t table_limit = std::max<std::size_t>(memory / 2 / workers, 1 << 20);
  spill_dir_ = detail::SpillDir::make();
  bool streams =
      std::any_of(inputs_.begin(), inputs_.end(), [](const auto& in) { return in->streamed(); });
  std::size_t nslots = 2 * static_cast<std::size_t>(workers) + 2;
  if (streams) {
    slots_ = std::make_unique<StreamSlots>(nslots, options_.chunk_size, fresh_workers);
    for (std::size_t i = nslots; i-- > 0;) free_slots_.push_back(static_cast<int>(i));
  }
  // The queue holds at least every stream slot's task, so re-issuing a lost
  // one never blocks.
  queue_ =
      std::make_unique<Queue<ChunkTask>>(std::max<std::size_t>(4 * workers, nslots + 4), 1 << 16,
                                         fresh_workers ? Backing::kMemfd : Backing::kAnonymous);
  env_ = WorkerEnv{FaultInjection::from_environment(),
                   &job_,
                   &inputs_,
                   slots_.get(),
                   queue_.get(),
                   arena_.get(),
                   partitions,
                   table_limit,
                   spill_dir_.path(),
                   !options_.trace_path.empty() || options_.trace_file != nullptr,
                   t0_};
  if (env_.trace)
    trace_rows_.emplace_back(::getpid(), "master (pid " + std::to_string(::getpid()) + ")");
  if (fresh_workers) {
    setup_.recipe = options_.job_recipe;
    for (const auto& in : inputs_)
      setup_.inputs.push_back(
          SpawnInput{in->name(), static_cast<std::uint8_t>(in->streamed()), in->data().size()});
    if (slots_) {
      setup_.slot_count = slots_->count();
      setup_.slot_bytes = slots_->slot_bytes();
    }
    setup_.partitions = partitions;
    setup_.table_limit = table_limit;
    setup_.spill_dir = spill_dir_.path();
    setup_.trace = env_.trace;
    setup_.t0_ns = t0_.time_since_epoch().count();
    if (env_.fault && !env_.fault->master) {
      setup_.has_fault = 1;
      setup_.fault_kind = static_cast<std::uint8_t>(env_.fault->kind);
      setup_.fault_phase = static_cast<std::uint8_t>(env_.fault->phase);
      setup_.fault_chunk = env_.fault->task;
      setup_.fault_times = env_.fault->times;
    }
  }
  map_runs_.assign(partitions, {});
  map_spills_.assign(partitions, {});
  reduce_out_.assign(partitions, std::nullopt);
  reduce_spills_.assign(partitions, std::nullopt);
  partition_attempts_.assign(partitions, 0);
  partition_speculated_.assign(partitions, false);

  started_ = Clock::now();
  workers_.resize(workers);
  try {
    for (std::size_t i = 0; i < workers; ++i) {
      if (g_interrupted) throw Interrupted();  // starting many workers takes a while
      start_worker(i);
    }
    while (phase_ != Phase::kDone) {
      if (g_interrupted) throw Interrupted();
      schedule();
      if (phase_ == Phase::kDone) break;
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        Worker& w = workers_[i];
        // Read what the worker sent before judging its clock: schedule() may
        // have kept the master busy (a slow stdin filling a slot), and a
        // Ready or Done waiting in the pipe is not a hang.
        bool peer_alive = drain(w);
        if (peer_alive && (!w.ready || w.chunk || w.partition) && !w.timed_out &&
            Clock::now() - w.task_started > options_.task_timeout) {
          // A hung task or setup: kill its worker; the death is handled
          // below like a crash.
          w.timed_out = true;
          char secs[32];
          std::snprintf(secs, sizeof secs, "%g", options_.task_timeout.count());
          w.failure = "worker " + std::to_string(w.process->pid()) + " timed out after " + secs +
                      " s" + (w.ready ? "" : " in its setup") + " (--task-timeout)";
          w.process->kill();
        } else if (peer_alive && !w.timed_out && is_straggler(i)) {
          // Speculative execution, the simple way: every other worker is
          // idle and this one has run its task far longer than the median
          // (stopped, or crawling). Its task is run again on an idle
          // worker; its uncommitted output is discarded with it, so the
          // output stays exact.
          w.timed_out = w.straggler = true;
          if (w.chunk)
            chunks_[*w.chunk].speculated = true;
          else
            partition_speculated_[*w.partition] = true;
          ++stats_.speculative;
          w.process->kill();
        }
        if (!peer_alive || !workers_[i].process->is_alive()) {
          if (peer_alive) drain(workers_[i]);  // what it sent before dying
          handle_death(i);
          handled_ = true;
        }
      }
      report_progress(false);
      // Sleep only when nothing happened: what was just handled may have
      // given schedule() work (a phase change, a free slot).
      if (!std::exchange(handled_, false)) wait_for_events();
    }
    report_progress(true);
    trace_.push_back(TracedSpan{
        ::getpid(),
        {"reduce phase", micros_since(t0_, started_), micros_since(started_, Clock::now())}});
    stats_.seconds_reduce = seconds_since(started_);
    stop_workers(false);
  } catch (...) {
    stop_workers(true);
    if (g_interrupted) throw Interrupted();  // whatever failed on the way out
    throw;
  }
  stats_.chunks = chunks_.size();
  check_inputs(inputs_);  // the master read zeros for lost pages while cutting

  auto t_out = Clock::now();
  std::vector<std::string_view> runs;
  for (auto& r : reduce_out_) {
    if (!r) continue;
    auto bytes = arena_->at(*r);
    runs.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  std::vector<std::string> unspilled;  // reduce outputs that did not fit the arena
  unspilled.reserve(reduce_spills_.size());
  for (auto& s : reduce_spills_)
    if (s) runs.emplace_back(unspilled.emplace_back(unspill(*s)));
  stats_.shuffle_bytes = arena_->used();
  stats_.output_lines = job_.write_output(runs, options_.output, out_);
  std::fflush(out_);  // so that a fault here leaves written, uncommitted output
  master_fault_at(FaultPhase::kOutput);
  stats_.seconds_output = seconds_since(t_out);
  if (env_.trace) {
    trace_.push_back(TracedSpan{
        ::getpid(), {"write output", micros_since(t0_, t_out), micros_since(t_out, Clock::now())}});
    write_trace();
  }

  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  stats_.peak_rss_kb_master = ru.ru_maxrss;
  ::getrusage(RUSAGE_CHILDREN, &ru);
  stats_.peak_rss_kb_workers = ru.ru_maxrss;
  return stats_;
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  // A hang-up is an interrupt too, unless it was ignored at start (nohup).
  struct sigaction old {};
  ::sigaction(SIGHUP, nullptr, &old);
  if (old.sa_handler != SIG_IGN) ::sigaction(SIGHUP, &sa, nullptr);
}

bool interrupted() noexcept { return g_interrupted != 0; }

JobStats run_job(const Job& job, const Inputs& inputs, const EngineOptions& options,
                 std::FILE* out) {
  if (options.max_attempts == 0) throw std::invalid_argument("max_attempts must be at least 1");
  if (options.chunk_size == 0) throw std::invalid_argument("chunk size must be positive");
  // The master keeps a record per chunk: tiny chunks of a big input would
  // cost more memory than the input. Larger chunks keep it bounded.
  EngineOptions bounded = options;
  std::uint64_t mapped = 0;
  for (const auto& in : inputs) mapped += in->data().size();
  bounded.chunk_size =
      std::max<std::size_t>(options.chunk_size, static_cast<std::size_t>(mapped / kMaxChunks));
  Master master(job, inputs, bounded, out);
  return master.run();
}

}  // namespace mr

namespace mr::detail {

int engine_spawned_worker(std::string address, std::string token) {
  return spawned_worker_main(address, token);
}

}  // namespace mr::detail

MR_REGISTER_FUNCTION(mr::detail::engine_spawned_worker);
