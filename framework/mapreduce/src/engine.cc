#include "mr/mapreduce/engine.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>

#include "cluster.h"
#include "mr/base/error.h"
#include "mr/ipc/channel.h"
#include "mr/ipc/listener.h"
#include "mr/ipc/pipe.h"
#include "mr/ipc/queue.h"
#include "mr/ipc/wait.h"
#include "mr/pool/worker_process.h"
#include "mr/process/process.h"
#include "protocol.h"
#include "shuffle.h"
#include "speculation.h"
#include "spill_dir.h"
#include "splitter.h"
#include "task_book.h"
#include "tracer.h"
#include "worker.h"

namespace mr {
namespace {

using detail::Arena;
using detail::ChunkTask;
using detail::Clock;
using detail::StreamSlots;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::size_t default_memory() { return usable_memory() / 4; }

// The master: starts the workers and keeps them busy. The parts it drives
// each live in their own file: the splitter (splitter.h) cuts the inputs,
// the task book (task_book.h) keeps the record of chunks and partitions and
// says what runs again, the shuffle (shuffle.h) holds the runs, the worker
// loop (worker.h) runs in every worker, the tracer (tracer.h) keeps the
// timeline. What is here: the workers' lives (start, watch, replace), the
// messages, and the phases.
class Master {
 public:
  Master(const Job& job, Inputs& inputs, const EngineOptions& options, std::FILE* out)
      : job_(job), inputs_(inputs), options_(options), out_(out) {}

  JobStats run();

 private:
  struct Worker {
    // The process and the master's end of its channel: a Pipe end (fork) or
    // a socket (spawn, forkserver), closed when it never connected back.
    std::optional<WorkerProcess> proc;
    bool ready = false;  // it sent Ready: its start (the job's setup) is done

    Process& process() { return proc->process(); }
    Channel& channel() { return proc->channel(); }
    // A send to a dead worker is dropped: its death is handled.
    void send(const detail::MasterMessage& m) {
      try {
        if (!channel().closed()) channel().send(m);
      } catch (const std::system_error&) {
      }
    }
    bool poll() {
      if (channel().closed()) throw EofError("never connected");
      return channel().poll();
    }
    detail::WorkerMessage recv() { return channel().recv<detail::WorkerMessage>(); }
    enum class State { kPulling, kIdle, kMapping, kReducing } state = State::kPulling;
    std::optional<std::uint32_t> chunk;      // being mapped
    std::optional<std::uint32_t> partition;  // being reduced
    std::string failure;                     // from a Failed message, or why it was killed
    std::string cause;                       // a Failed message's cause alone
    Clock::time_point task_started{};        // of the chunk or partition, or of its setup
    bool timed_out = false;
    // Speculative execution (speculation.h): chunks it started or was
    // ordered to map and has not flushed; flushes held while it races;
    // whether it runs a copy; killed because another attempt won (not a
    // failure).
    std::vector<std::uint32_t> owed;
    std::vector<detail::MapDone> held;
    bool copy = false;
    bool loser = false;
  };

  void prepare(unsigned workers, unsigned partitions);
  void map_and_reduce();
  void write_output(std::FILE* out);
  void feed_queue();
  void reissue_lost_stream_tasks(pid_t dead);
  void start_worker(std::size_t slot);
  bool drain(Worker& w);  // handles pending messages; false when the peer is gone
  void handle(Worker& w, detail::WorkerMessage& m);
  void check_timeout(Worker& w);
  void check_straggler(std::size_t slot);
  double least_running(const Worker& w) const;
  void take_map_output(Worker& w, detail::MapDone& d);
  void commit_map_output(detail::MapDone& d);
  void lose(pid_t loser);
  void drop(detail::MapDone& d);
  void send_map_order(Worker& w, std::vector<ChunkTask> chunks);
  void send_partition(Worker& w, std::uint32_t p);
  void handle_death(std::size_t slot);
  void schedule();
  void wait_for_events();
  void stop_workers(bool kill) noexcept;
  void report_progress(bool final);
  // With a backend (mr/mapreduce/backend.h): this node's part of the run.
  void start_backend();
  bool owned_here(const ChunkTask& t);
  bool receiving_streams() const;
  std::optional<ChunkTask> receive_stream_chunk();
  void open_checkpoint();
  void checkpoint_map_output(const detail::MapDone& d);
  void checkpoint_reduce_output(const detail::ReduceDone& d);
  bool restore_reduced(std::uint32_t p);
  std::size_t round_bytes() const;
  void exchange_map_output();
  void gather_output();
  void gather_stats();
  // Fails here when MAPREDUCE_FAULT names the master at `phase`.
  void master_fault_at(detail::FaultInjection::Phase phase) const {
    if (config_.fault && config_.fault->master_at(phase)) config_.fault->fire();
  }

  const Job& job_;
  Inputs& inputs_;
  EngineOptions options_;
  std::FILE* out_;
  JobStats stats_;

  // The shared state the workers use, made before the first one starts.
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<StreamSlots> slots_;
  std::unique_ptr<Queue<ChunkTask>> queue_;
  detail::WorkerConfig config_;  // every worker's; sent to fresh programs
  detail::WorkerEnv env_{};      // a forked worker's (the master's objects)
  detail::SpillDir spill_dir_;   // removed with the master
  std::vector<Worker> workers_;
  unsigned idle_deaths_ = 0;  // ready workers in a row that died outside a task

  std::optional<detail::Splitter> splitter_;
  std::optional<detail::TaskBook> book_;
  detail::MapRaces races_;
  std::optional<ChunkTask> unsent_;  // cut, waiting for room in the queue
  std::optional<detail::TraceLog> trace_;

  enum class Phase { kMap, kReduce, kDone } phase_ = Phase::kMap;
  bool queue_closed_ = false;
  bool handled_ = false;  // a message or a death was handled since the last wait
  std::vector<std::vector<detail::Run>> map_runs_;         // per partition
  std::vector<std::vector<detail::SpillRun>> map_spills_;  // per partition
  std::vector<std::optional<detail::Run>> reduce_out_;
  std::vector<std::optional<detail::SpillRun>> reduce_spills_;
  Clock::time_point started_ = Clock::now(), last_progress_{};
  // For the progress line: when the workers were started, and the input's
  // size when no input is a stream.
  Clock::time_point run_started_ = Clock::now();
  std::optional<std::uint64_t> input_size_;

  // With a backend: the node's share of the work and what it did.
  Backend* const backend_ = options_.backend;
  bool backend_started_ = false;
  std::uint64_t mapped_chunks_ = 0;  // chunks of mapped inputs cut so far (every node alike)
  RankStats rank_stats_;
  std::optional<detail::Checkpoint> checkpoint_;  // --checkpoint
  std::uint64_t stream_chunks_ = 0;               // node 0: stream chunks cut so far
  unsigned unsent_owner_ = 0;                     // node 0: the node that maps unsent_
  bool streams_ended_ = false;                    // another node: node 0 sent its last stream chunk
};

// The algorithm: split and map, reduce, merge.
JobStats Master::run() {
  unsigned workers =
      options_.workers ? options_.workers : static_cast<unsigned>(std::max(1, cpu_count()));
  // No more workers than chunks when that is known (no stream inputs).
  if (const std::uint64_t chunks = count_chunks(inputs_, options_.chunk_size); chunks > 0)
    workers = static_cast<unsigned>(std::min<std::uint64_t>(chunks, workers));
  // On a cluster every node must agree on the partitions: not from its
  // own CPU count.
  const unsigned default_partitions = !backend_          ? 4 * workers
                                      : options_.workers ? 4 * options_.workers
                                                         : 64;
  const unsigned partitions = options_.reducers           ? options_.reducers
                              : job_.preferred_reducers() ? job_.preferred_reducers()
                                                          : default_partitions;
  stats_.workers = workers;
  stats_.map_only = job_.map_only();
  stats_.reducers = partitions;
  prepare(workers, partitions);
  map_and_reduce();
  if (!backend_) {
    write_output(out_);
  } else if (!options_.parts_dir.empty()) {
    // Each node writes its own partitions' results: no gather.
    detail::PartFile part(options_.parts_dir, backend_->rank());
    write_output(part.get());
    part.commit();
  } else {
    gather_output();
    if (backend_->rank() == 0) write_output(out_);
  }

  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  stats_.peak_rss_kb_master = ru.ru_maxrss;
  ::getrusage(RUSAGE_CHILDREN, &ru);
  stats_.peak_rss_kb_workers = ru.ru_maxrss;
  if (backend_) {
    gather_stats();  // also: every node has written its part
    if (!options_.parts_dir.empty() && backend_->rank() == 0)
      detail::mark_success(options_.parts_dir);
    backend_->finish();
  }
  return stats_;
}

// The shared state, the parts and the workers' configuration.
void Master::prepare(unsigned workers, unsigned partitions) {
  // Half the memory budget is the shared arena, the other half the workers'
  // map tables (each flushes beyond its share).
  const std::size_t memory = options_.memory ? options_.memory : default_memory();
  // With a backend, a worker replaced after MPI_Init is spawned: the shared
  // state is then attachable from the start.
  const bool fresh_workers = options_.start_method != StartMethod::kFork || backend_;
  if (fresh_workers && options_.job_recipe.empty())
    throw std::invalid_argument(
        "the spawn and forkserver start methods and a backend need EngineOptions::job_recipe "
        "(how a fresh worker makes the job)");
  trace_.emplace(options_.trace_path, Clock::now(), options_.trace_file);
  arena_ = std::make_unique<Arena>(memory / 2, fresh_workers);
  spill_dir_ = detail::SpillDir::make();
  const bool streams =
      std::any_of(inputs_.begin(), inputs_.end(), [](const Input& in) { return in.streamed(); });
  const std::size_t nslots = 2 * static_cast<std::size_t>(workers) + 2;
  // Stream chunks grow as a stream goes on (splitter.h), up to slots of
  // kMaxStreamChunk bytes while the slots stay within a quarter of the
  // memory budget (only the pages written count).
  constexpr std::size_t kMaxStreamChunk = 64u << 20;
  const std::size_t slot_bytes =
      std::max(options_.chunk_size, std::min(kMaxStreamChunk, memory / 4 / nslots));
  if (streams) slots_ = std::make_unique<StreamSlots>(nslots, slot_bytes, fresh_workers);
  if (!streams) {
    std::uint64_t size = 0;
    for (const Input& in : inputs_) size += in.data().size();
    input_size_ = size;
  }
  // The queue holds at least every stream slot's task, so re-issuing a lost
  // one never blocks.
  queue_ =
      std::make_unique<Queue<ChunkTask>>(std::max<std::size_t>(4 * workers, nslots + 4), 1 << 16,
                                         fresh_workers ? Backing::kMemfd : Backing::kAnonymous);
  splitter_.emplace(job_, inputs_, options_.chunk_size, slots_.get());
  book_.emplace(options_.max_attempts, partitions, options_.start_limits.start_attempts);

  config_.recipe = options_.job_recipe;
  for (const Input& in : inputs_)
    config_.inputs.push_back(detail::WorkerInput{in.name(), in.streamed(), in.data().size()});
  if (slots_) {
    config_.slot_count = slots_->count();
    config_.slot_bytes = slots_->slot_bytes();
  }
  config_.partitions = partitions;
  config_.table_limit = std::max<std::size_t>(memory / 2 / workers, 1 << 20);
  config_.spill_dir = spill_dir_.path();
  config_.trace = trace_->on();
  config_.t0_ns = trace_->t0().time_since_epoch().count();
  config_.fault = detail::FaultInjection::from_environment();
  // A forked worker's job is a copy of the master's.
  env_ = detail::WorkerEnv{&config_,     &job_,        WorkerOrigin::kCopy, &inputs_,
                           slots_.get(), queue_.get(), arena_.get()};
  trace_->row(::getpid(), "master (pid " + std::to_string(::getpid()) + ")");

  map_runs_.assign(partitions, {});
  map_spills_.assign(partitions, {});
  reduce_out_.assign(partitions, std::nullopt);
  reduce_spills_.assign(partitions, std::nullopt);
  workers_.resize(workers);
}

// Runs the workers until every partition is reduced; they are stopped
// however this ends.
void Master::map_and_reduce() {
  started_ = run_started_ = Clock::now();
  try {
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (interrupted()) throw Interrupted();  // starting many workers takes a while
      start_worker(i);
    }
    if (backend_) start_backend();  // after every fork of the workers
    if (!options_.checkpoint_dir.empty()) open_checkpoint();
    while (phase_ != Phase::kDone) {
      if (interrupted()) throw Interrupted();
      schedule();
      if (phase_ == Phase::kDone) break;
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        Worker& w = workers_[i];
        // Read what the worker sent before judging its clock: schedule() may
        // have kept the master busy (a slow stdin filling a slot), and a
        // Ready or Done waiting in the pipe is not a hang.
        bool peer_alive = drain(w);
        if (peer_alive) check_timeout(w);
        if (peer_alive) check_straggler(i);
        if (!peer_alive || !workers_[i].process().is_alive()) {
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
    trace_->record_here("reduce phase", started_);
    stats_.seconds_reduce = seconds_since(started_);
    stop_workers(false);
  } catch (...) {
    stop_workers(true);
    if (interrupted()) throw Interrupted();  // whatever failed on the way out
    throw;
  }
  check_inputs(inputs_);  // the master read zeros for lost pages while cutting
  stats_.peak_private_kb_master = private_memory_kb();
  stats_.chunks = book_->chunks();
  stats_.input_bytes = splitter_->bytes();
  stats_.retries = book_->retries();
}

// Merges the R sorted reduce runs into `out` (the job's writer).
void Master::write_output(std::FILE* out) {
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
    if (s) runs.emplace_back(unspilled.emplace_back(detail::unspill(*s)));
  stats_.shuffle_bytes = arena_->used();
  stats_.output_lines = job_.write_output(runs, options_.output, out);
  stats_.peak_private_kb_master = std::max(stats_.peak_private_kb_master, private_memory_kb());
  std::fflush(out);  // so that a fault here leaves written, uncommitted output
  master_fault_at(detail::FaultInjection::Phase::kOutput);
  stats_.seconds_output = seconds_since(t_out);
  if (trace_->on()) {
    trace_->record_here("write output", t_out);
    trace_->write_trace();
  }
}

void Master::feed_queue() {
  while (!queue_closed_) {
    if (!unsent_) {
      unsent_ = splitter_->next(book_->chunks());
      if (!unsent_ && receiving_streams()) unsent_ = receive_stream_chunk();
      if (unsent_) book_->add(*unsent_);
      // Another node maps it, or it is in the checkpoint: committed.
      if (unsent_ &&
          (!owned_here(*unsent_) || (checkpoint_ && checkpoint_->committed(unsent_->chunk)))) {
        book_->commit(unsent_->chunk);
        unsent_.reset();
        continue;
      }
      // Node 0 maps every N-th stream chunk and sends the others out.
      if (unsent_ && backend_ && unsent_->slot >= 0 && backend_->rank() == 0)
        unsent_owner_ = static_cast<unsigned>(stream_chunks_++ % backend_->ranks());
      if (unsent_ && backend_ && unsent_owner_ == 0) {
        ++rank_stats_.chunks;
        rank_stats_.input_bytes += unsent_->length;
      }
    }
    if (!unsent_) {
      if (!splitter_->exhausted()) return;                 // a stream waits for a slot
      if (receiving_streams() && !streams_ended_) return;  // node 0 sends more
      if (backend_ && backend_->rank() == 0 && slots_) backend_->end_chunks();
      queue_->close();
      queue_closed_ = true;
      return;
    }
    if (unsent_owner_ != 0) {
      const ChunkTask& t = *unsent_;
      StreamChunk out{t.input, t.offset, t.first_line,
                      std::string(slots_->data(static_cast<std::size_t>(t.slot)), t.length)};
      const bool sent = backend_->send_chunk(std::exchange(unsent_owner_, 0), out);
      if (sent) {
        book_->commit(t.chunk);
        splitter_->release_slot(t.slot);
        unsent_.reset();
        continue;
      }
      // That node has not taken its earlier ones yet: mapped here instead,
      // so node 0 never stops reading the stream (mpirun forwarding it
      // fares badly when its reader stalls) and a busy node gets less.
      ++rank_stats_.chunks;
      rank_stats_.input_bytes += t.length;
    }
    if (!queue_->try_put(*unsent_)) return;
    unsent_.reset();
  }
}

// A node other than 0 with stream inputs: their chunks come from node 0.
bool Master::receiving_streams() const {
  return backend_ && slots_ && backend_->rank() != 0 && backend_->ranks() > 1;
}

// The next stream chunk node 0 sent, when one has come and a slot is free.
std::optional<ChunkTask> Master::receive_stream_chunk() {
  if (streams_ended_ || splitter_->out_of_slots()) return std::nullopt;
  bool ended = false;
  std::optional<StreamChunk> chunk = backend_->receive_chunk(ended);
  streams_ended_ = ended;
  if (!chunk) return std::nullopt;
  return splitter_->accept(book_->chunks(), *chunk);
}

// Puts stream tasks that no live worker holds back on the queue under new
// tickets: those claimed by the dead worker `dead` (0: none), and, when the
// producer starves for slots while every worker waits on an empty queue,
// those that vanished with a worker between its get() and its claim.
void Master::reissue_lost_stream_tasks(pid_t dead) {
  if (!slots_ || queue_closed_) return;
  bool starving = splitter_->out_of_slots() && queue_->empty() && !unsent_ &&
                  std::all_of(workers_.begin(), workers_.end(), [](const Worker& w) {
                    return w.state == Worker::State::kPulling && !w.chunk;
                  });
  if (!dead && !starving) return;
  for (std::uint32_t c : book_->stream_chunks_in_flight()) {
    auto& claim = slots_->header(static_cast<std::size_t>(book_->task(c).slot))->claim;
    std::uint64_t now = claim.load();
    if (!detail::TaskBook::stream_task_lost(detail::claim_holder(now), dead, starving)) continue;
    std::uint64_t fresh = splitter_->fresh_ticket();
    if (!claim.compare_exchange_strong(now, fresh)) continue;  // claimed meanwhile: not lost
    queue_->put(book_->reissue(c, fresh));  // room: the queue holds at most the slots' tasks
  }
}

void Master::start_worker(std::size_t slot) {
  Worker& w = workers_[slot];
  w = Worker{};
  w.task_started = Clock::now();  // its setup is timed like a task
  WorkerProcess::Options wo;
  wo.process.name = "mapreduce-worker-" + std::to_string(slot);
  wo.process.daemon = true;
  // After MPI_Init no fork without exec: a replacement is a fresh program.
  const StartMethod method = backend_started_ ? StartMethod::kSpawn : options_.start_method;
  wo.process.start_method = method;
  wo.limits = options_.start_limits;
  wo.limits.cancelled = [] { return interrupted(); };  // Ctrl-C while many start
  w.proc.emplace(WorkerProcess::start<&detail::engine_spawned_worker>(wo, [this](Channel& mine) {
    // A forked worker: close the master's ends of the other workers'
    // channels (only the master reads them).
    for (auto& other : workers_)
      if (other.proc) other.channel().close();
    return detail::worker_main(env_, mine);
  }));
  trace_->row(w.process().pid(),
              wo.process.name + " (pid " + std::to_string(w.process().pid()) + ")");
  if (method == StartMethod::kFork) return;
  if (w.proc->start_failure()) return;  // died or never connected: handled as a death
  // A fresh program: its configuration, with the shared regions' descriptors.
  std::vector<int> fds{arena_->region().fd(), queue_->ring_region().fd(),
                       queue_->lock_region().fd()};
  if (slots_) fds.push_back(slots_->region().fd());
  try {
    w.channel().socket()->send_bytes(to_bytes(config_), fds);
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
    if (w.chunk) {  // the one before is mapped
      book_->chunk_took(seconds_since(w.task_started));
      book_->mapped(*w.chunk);
    }
    w.chunk = s->chunk;
    w.task_started = Clock::now();
    if (std::find(w.owed.begin(), w.owed.end(), s->chunk) == w.owed.end())
      w.owed.push_back(s->chunk);
  } else if (auto* d = std::get_if<MapDone>(&m)) {
    trace_->record(w.process().pid(), d->spans);
    std::erase_if(w.owed, [&](std::uint32_t c) {
      return std::find(d->chunks.begin(), d->chunks.end(), c) != d->chunks.end();
    });
    // The last chunk's time, with the flush (a worker that flushes after
    // every chunk, as on a stream, has no next Started to time it by).
    if (w.chunk) book_->chunk_took(seconds_since(w.task_started));
    w.chunk.reset();
    take_map_output(w, *d);
    if (d->final) {
      w.state = Worker::State::kIdle;
      w.copy = false;
    }
    master_fault_at(detail::FaultInjection::Phase::kMap);
    if (!d->spills.empty()) master_fault_at(detail::FaultInjection::Phase::kSpill);
  } else if (auto* rd = std::get_if<ReduceDone>(&m)) {
    trace_->record(w.process().pid(), rd->spans);
    w.partition.reset();
    w.state = Worker::State::kIdle;
    if (w.loser || !book_->partition_done(rd->partition)) {
      // Another attempt (a speculative copy, or the straggler it copied)
      // was first: this one's output is dropped.
      if (rd->spill) ::unlink(rd->spill->path.c_str());
      return;
    }
    if (std::exchange(w.copy, false)) ++stats_.speculative_won;
    for (Worker& other : workers_)  // the other attempts at it lose
      if (&other != &w && other.partition == rd->partition && !other.loser)
        lose(other.process().pid());
    if (checkpoint_) checkpoint_reduce_output(*rd);  // before counting on it
    idle_deaths_ = 0;
    book_->partition_took(seconds_since(w.task_started));
    if (rd->run.length) reduce_out_[rd->partition] = rd->run;
    if (rd->spill) {
      reduce_spills_[rd->partition] = std::move(rd->spill);
      ++stats_.spills;
    }
    stats_.peak_private_kb_workers = std::max(stats_.peak_private_kb_workers, rd->private_kb);
    stats_.distinct_keys += rd->keys;
    for (const auto& [name, n] : rd->user_counters) stats_.user_counters[name] += n;
    master_fault_at(detail::FaultInjection::Phase::kReduce);
    if (reduce_spills_[rd->partition]) master_fault_at(detail::FaultInjection::Phase::kSpill);
  } else if (std::holds_alternative<Ready>(m)) {
    w.ready = true;
    book_->worker_ready();
  } else if (auto* f = std::get_if<Failed>(&m)) {
    w.failure = f->message;
    w.cause = f->cause;
  }
}

// A hung task or setup (--task-timeout): kills its worker; the death is
// then handled like a crash.
void Master::check_timeout(Worker& w) {
  if ((w.ready && !w.chunk && !w.partition) || w.timed_out ||
      Clock::now() - w.task_started <= options_.task_timeout)
    return;
  w.timed_out = true;
  char secs[32];
  std::snprintf(secs, sizeof secs, "%g", options_.task_timeout.count());
  w.failure = "worker " + std::to_string(w.process().pid()) + " timed out after " + secs + " s" +
              (w.ready ? "" : " in its setup") + " (--task-timeout)";
  w.process().kill();
}

// Speculative execution, Hadoop's way: when nothing else is left to hand
// out (every chunk taken from the queue, or no partition waiting) and a
// worker is idle, a task whose every attempt has run far longer than its
// finished siblings (a stopped or crawling worker) is copied onto the idle
// worker. The attempts race: the first to finish is kept, the others are
// killed (speculation.h for map work, which races as the group of chunks
// the straggler owes; a partition is its own output). A task is copied at
// most TaskBook::kMaxCopies times.
void Master::check_straggler(std::size_t slot) {
  Worker& w = workers_[slot];
  if (!w.ready || w.timed_out || (!w.chunk && !w.partition)) return;
  if (w.chunk ? !queue_closed_ || !queue_->empty() : book_->partitions_pending()) return;
  auto idle = std::find_if(workers_.begin(), workers_.end(), [](const Worker& o) {
    return o.ready && !o.timed_out && o.state == Worker::State::kIdle;
  });
  if (idle == workers_.end()) return;
  const double running = least_running(w);
  if (w.chunk ? !book_->chunk_straggles(*w.chunk, running)
              : !book_->partition_straggles(*w.partition, running))
    return;
  ++stats_.speculative;
  if (w.chunk) {
    book_->speculate_chunk(*w.chunk);
    std::vector<std::uint32_t> owed;
    for (std::uint32_t c : w.owed)
      if (!book_->committed(c)) owed.push_back(c);
    std::vector<ChunkTask> group;
    for (std::uint32_t c : races_.copy(w.process().pid(), owed, idle->process().pid())) {
      group.push_back(book_->task(c));
      group.back().ticket = 0;  // assigned: the straggler holds the slot's claim
    }
    send_map_order(*idle, std::move(group));
  } else {
    book_->speculate_partition(*w.partition);
    send_partition(*idle, *w.partition);
  }
  idle->copy = true;
}

// The least time any live attempt at `w`'s task has run on its current
// chunk or partition (0 for one between chunks): a task is copied again
// only when every attempt straggles.
double Master::least_running(const Worker& w) const {
  double least = seconds_since(w.task_started);
  const std::vector<pid_t> rivals = races_.rivals(w.proc->process().pid());
  for (const Worker& o : workers_) {
    if (&o == &w || o.loser || !o.proc) continue;
    const bool same =
        w.chunk ? std::find(rivals.begin(), rivals.end(), o.proc->process().pid()) != rivals.end()
                : o.partition == w.partition;
    if (same) least = std::min(least, o.chunk || o.partition ? seconds_since(o.task_started) : 0.0);
  }
  return least;
}

// A MapDone: committed, or held while its worker races (speculation.h).
void Master::take_map_output(Worker& w, detail::MapDone& d) {
  stats_.peak_private_kb_workers = std::max(stats_.peak_private_kb_workers, d.private_kb);
  if (w.loser) {  // lost its race: dropped
    drop(d);
    return;
  }
  const detail::MapRaces::Outcome o = races_.flushed(w.process().pid(), d.chunks);
  if (!o.held) {
    commit_map_output(d);
    return;
  }
  w.held.push_back(std::move(d));
  if (!o.won) return;
  for (detail::MapDone& h : w.held) commit_map_output(h);
  w.held.clear();
  if (w.copy) ++stats_.speculative_won;
  for (pid_t loser : o.losers) lose(loser);
}

void Master::commit_map_output(detail::MapDone& d) {
  if (checkpoint_ && !d.chunks.empty()) checkpoint_map_output(d);  // before counting on it
  for (auto c : d.chunks) {
    book_->mapped(c);
    const ChunkTask& t = book_->commit(c);
    if (t.slot >= 0) splitter_->release_slot(t.slot);
  }
  for (std::size_t r = 0; r < d.runs.size(); ++r)
    if (d.runs[r].length) map_runs_[r].push_back(d.runs[r]);
  if (!d.spills.empty()) ++stats_.spills;
  for (std::size_t r = 0; r < d.spills.size(); ++r)
    if (d.spills[r].length) map_spills_[r].push_back(std::move(d.spills[r]));
  stats_.records += d.records;
  stats_.emitted += d.emitted;
  for (const auto& [name, n] : d.user_counters) stats_.user_counters[name] += n;
  if (!d.chunks.empty()) idle_deaths_ = 0;
}

// Output of an attempt that lost its race (or died racing): never used.
// Its arena space stays (the arena is never freed during a run).
void Master::drop(detail::MapDone& d) {
  for (const detail::SpillRun& s : d.spills)
    if (s.length) ::unlink(s.path.c_str());  // several frames per file: ENOENT after the first
}

// Another attempt at its task won: the worker is killed (what it holds
// unflushed is part of that task) and replaced; not a failure. What it
// held is dropped.
void Master::lose(pid_t loser) {
  for (Worker& o : workers_) {
    if (!o.proc || o.process().pid() != loser || o.loser) continue;
    o.loser = o.timed_out = true;
    for (detail::MapDone& h : o.held) drop(h);
    o.held.clear();
    o.process().kill();
  }
}

void Master::send_map_order(Worker& w, std::vector<ChunkTask> chunks) {
  w.state = Worker::State::kMapping;
  for (const ChunkTask& t : chunks) w.owed.push_back(t.chunk);
  w.send(detail::MasterMessage{detail::MapChunks{std::move(chunks)}});
}

void Master::send_partition(Worker& w, std::uint32_t p) {
  w.state = Worker::State::kReducing;
  w.partition = p;
  w.task_started = Clock::now();
  w.send(detail::MasterMessage{detail::ReducePartition{p, map_runs_[p], map_spills_[p]}});
}

void Master::handle_death(std::size_t slot) {
  Worker& w = workers_[slot];
  pid_t pid = w.process().pid();
  check_inputs(inputs_);  // a file truncated under the workers: an input error, no retry
  w.process().join_for(std::chrono::seconds(5));
  if (w.process().is_alive()) {
    w.process().kill();
    w.process().join();
  }
  // What went wrong on the last attempt; a task's message below already
  // names the job and the task, so a thrown error is its cause alone.
  std::string why = !w.cause.empty() ? w.cause
                    : !w.failure.empty()
                        ? w.failure
                        : "worker " + std::to_string(pid) + " " +
                              describe_exit_code(w.process().exit_code().value_or(-9));
  races_.ended(pid);  // what it held is dropped with it
  for (detail::MapDone& h : w.held) drop(h);
  // A loser (another attempt at its task won) failed nothing: it is
  // replaced, and its chunks that the winner did not map are mapped again
  // as uncommitted ones.
  if (!w.loser && w.chunk && book_->chunk_failed(*w.chunk)) {
    const ChunkTask& t = book_->task(*w.chunk);
    throw JobError(std::string(job_.name()) + ": map of chunk " + std::to_string(*w.chunk) +
                   " of '" + inputs_[t.input].name() + "' (" + detail::byte_range(t) + ") failed " +
                   std::to_string(book_->attempts(*w.chunk)) + " times; last: " + why);
  }
  const bool another_attempt_runs =
      w.partition && std::any_of(workers_.begin(), workers_.end(), [&](const Worker& o) {
        return &o != &w && !o.loser && o.partition == w.partition;
      });
  if (!w.loser && w.partition && book_->partition_failed(*w.partition, another_attempt_runs)) {
    const std::uint32_t p = *w.partition;
    throw JobError(std::string(job_.name()) + ": reduce of partition " + std::to_string(p) +
                   " of " + std::to_string(book_->partitions()) + " failed " +
                   std::to_string(book_->partition_attempts(p)) + " times; last: " + why);
  }
  if (w.loser) {
    // Not a death outside a task either (it may be killed between chunks).
  } else if (!w.ready) {
    // It ended before it was ready: crashed, hung (--task-timeout) or threw
    // in the job's per-worker setup (or, a fresh program, while connecting
    // or making the job). It is replaced, but a start that keeps failing
    // would be retried forever: give up after start_limits.start_attempts
    // in a row.
    if (book_->start_failed())
      throw JobError(std::string(job_.name()) + ": starting a worker (the job's setup) failed " +
                     std::to_string(book_->start_failures()) + " times in a row; last: " + why);
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

void Master::schedule() {
  using State = Worker::State;
  feed_queue();
  reissue_lost_stream_tasks(0);
  bool all_idle = std::all_of(workers_.begin(), workers_.end(),
                              [](const Worker& w) { return w.state == State::kIdle; });
  if (phase_ == Phase::kMap && queue_closed_ && all_idle) {
    // Everything that was pulled is either committed or died with a worker.
    std::vector<ChunkTask> lost = book_->uncommitted();
    if (lost.empty()) {
      phase_ = Phase::kReduce;
      trace_->record_here("map phase", started_);
      stats_.seconds_map = seconds_since(started_);
      if (backend_) exchange_map_output();
      started_ = Clock::now();
      if (!backend_) {
        book_->begin_reduce([&](std::uint32_t p) { return !restore_reduced(p); });
      } else {
        const unsigned ranks = backend_->ranks(), rank = backend_->rank();
        book_->begin_reduce(
            [&](std::uint32_t p) { return p % ranks == rank && !restore_reduced(p); });
      }
    } else {
      std::vector<std::vector<ChunkTask>> orders(workers_.size());
      for (std::size_t i = 0; i < lost.size(); ++i) orders[i % workers_.size()].push_back(lost[i]);
      for (std::size_t i = 0; i < workers_.size(); ++i)
        if (!orders[i].empty()) send_map_order(workers_[i], std::move(orders[i]));
    }
  }
  if (phase_ == Phase::kReduce) {
    for (auto& w : workers_) {
      if (w.state != State::kIdle) continue;
      std::optional<std::uint32_t> p = book_->next_partition();
      if (!p) break;
      send_partition(w, *p);
    }
    if (book_->reduce_finished()) phase_ = Phase::kDone;
  }
}

void Master::wait_for_events() {
  // Sleep until a worker sends something (every chunk a worker takes is
  // announced by Started, which is also when the queue has room again) or
  // dies; wake at least every 50 ms for task timeouts and the progress line.
  std::vector<Channel*> channels;
  std::vector<int> sentinels;
  for (auto& w : workers_) {
    if (!w.channel().closed()) channels.push_back(&w.channel());
    sentinels.push_back(w.process().sentinel());
  }
  mr::wait_for(channels, sentinels, std::chrono::milliseconds(50));
}

void Master::stop_workers(bool kill) noexcept {
  for (auto& w : workers_) {
    if (!w.proc) continue;
    try {
      if (kill) {
        w.process().kill();
      } else if (w.process().is_alive()) {
        w.send(detail::MasterMessage{detail::Exit{}});
      }
    } catch (...) {
    }
  }
  for (auto& w : workers_) {
    if (!w.proc) continue;
    try {
      if (!w.process().join_for(std::chrono::seconds(5))) {
        w.process().kill();
        w.process().join();
      }
    } catch (...) {
    }
  }
}

// A snapshot for EngineOptions::on_progress, at most every 100 ms (and
// always the final one). The bytes are counted as chunks are mapped (the
// task book's mapped_bytes), not as map outputs are committed: a worker
// commits many chunks in one flush, often only at the end.
void Master::report_progress(bool final) {
  if (!options_.on_progress) return;
  const auto now = Clock::now();
  if (!final && now - last_progress_ < std::chrono::milliseconds(100)) return;
  last_progress_ = now;
  Progress p;
  p.phase = final                   ? Progress::Phase::kDone
            : phase_ == Phase::kMap ? Progress::Phase::kMap
                                    : Progress::Phase::kReduce;
  p.bytes_mapped = book_->mapped_bytes();
  if (input_size_)
    p.bytes_total = *input_size_;
  else if (splitter_->exhausted())
    p.bytes_total = splitter_->bytes();  // every stream read to its end
  p.partitions = book_->partitions();
  p.partitions_done = std::min(book_->partitions_done(), p.partitions);
  p.seconds = seconds_since(run_started_);
  p.counters = stats_.user_counters;
  options_.on_progress(p);
}

void Master::start_backend() {
  // Should joining the other nodes not finish (or be interrupted), the
  // process ends from another thread: the spill folder, still empty, goes
  // first. (Reading the interrupt flag from there is safe.)
  backend_->start([] { return interrupted(); },
                  [dir = spill_dir_.path()] {
                    if (!dir.empty()) ::rmdir(dir.c_str());
                  });
  backend_started_ = true;
  // Stream inputs are read on node 0 alone, which sends chunks of them out.
  if (backend_->rank() != 0) splitter_->skip_streams();
}

// Every node cuts the same chunks of the mapped inputs and maps every
// N-th; stream chunks are node 0's to cut and hand out (feed_queue).
bool Master::owned_here(const ChunkTask& t) {
  if (!backend_) return true;
  return t.slot >= 0 || mapped_chunks_++ % backend_->ranks() == backend_->rank();
}

// What one exchange has in flight to and from each node: an eighth of the
// memory budget shared among the nodes, within [4 KiB, 64 MiB].
std::size_t Master::round_bytes() const {
  const std::size_t memory = options_.memory ? options_.memory : default_memory();
  return std::clamp<std::size_t>(memory / 8 / backend_->ranks(), 4u << 10, 64u << 20);
}

// --checkpoint: this node's commits so far are its map output already.
void Master::open_checkpoint() {
  if (slots_)
    throw std::invalid_argument(
        "--checkpoint needs input files: standard input and compressed files cannot be "
        "skipped on a relaunch");
  std::string fingerprint = std::string(job_.name());
  for (const auto& [key, value] : options_.job_recipe.options)
    fingerprint += " " + key + "=" + value;
  for (const Input& in : inputs_)
    fingerprint += "\n" + in.name() + " " + std::to_string(in.data().size());
  fingerprint += "\nchunk " + std::to_string(options_.chunk_size) + " partitions " +
                 std::to_string(book_->partitions()) + " ranks " +
                 std::to_string(backend_ ? backend_->ranks() : 1);
  checkpoint_.emplace(options_.checkpoint_dir, backend_ ? backend_->rank() : 0, fingerprint);
  for (const auto& [p, run] : checkpoint_->restored()) map_spills_.at(p).push_back(run);
  rank_stats_.restored_chunks = checkpoint_->committed_chunks();
}

// Commits a map output to the checkpoint before the master counts on it.
void Master::checkpoint_map_output(const detail::MapDone& d) {
  std::vector<std::string> unspilled(book_->partitions());
  std::vector<std::span<std::byte>> parts(book_->partitions());
  for (std::size_t p = 0; p < parts.size(); ++p) {
    if (p < d.runs.size() && d.runs[p].length) {
      parts[p] = arena_->at(d.runs[p]);
    } else if (p < d.spills.size() && d.spills[p].length) {
      unspilled[p] = detail::unspill(d.spills[p]);
      parts[p] = std::as_writable_bytes(std::span(unspilled[p]));
    }
  }
  checkpoint_->commit(d.chunks, parts);
}

// Commits a reduce output to the checkpoint.
void Master::checkpoint_reduce_output(const detail::ReduceDone& d) {
  std::string unspilled;
  std::span<std::byte> run;
  if (d.run.length) {
    run = arena_->at(d.run);
  } else if (d.spill) {
    unspilled = detail::unspill(*d.spill);
    run = std::as_writable_bytes(std::span(unspilled));
  }
  checkpoint_->commit_reduced(d.partition, run, d.keys);
}

// A partition found reduced in the checkpoint: its output, not reduced again.
bool Master::restore_reduced(std::uint32_t p) {
  const detail::Checkpoint::Reduced* done = checkpoint_ ? checkpoint_->reduced(p) : nullptr;
  if (!done) return false;
  if (done->run.length) reduce_spills_.at(p) = done->run;
  stats_.distinct_keys += done->keys;
  ++rank_stats_.restored_partitions;
  return true;
}

// Partition r's runs go to node r mod N.
void Master::exchange_map_output() {
  const auto t0 = Clock::now();
  detail::ShuffleStore store(*arena_, spill_dir_.path(), map_runs_, map_spills_);
  const unsigned ranks = backend_->ranks();
  backend_->exchange(
      store, [ranks](std::uint32_t p) { return p % ranks; }, round_bytes(),
      [] { return interrupted(); });
  stats_.spills += store.spills();
  rank_stats_.seconds_map = stats_.seconds_map;
  rank_stats_.seconds_exchange = seconds_since(t0);
  trace_->record_here("exchange", t0);
}

// Every sorted output run to node 0, which writes the output.
void Master::gather_output() {
  const auto t0 = Clock::now();
  rank_stats_.seconds_reduce = stats_.seconds_reduce;
  std::vector<std::vector<detail::Run>> runs(reduce_out_.size());
  std::vector<std::vector<detail::SpillRun>> spills(reduce_out_.size());
  for (std::size_t p = 0; p < reduce_out_.size(); ++p) {
    if (reduce_out_[p]) runs[p].push_back(*reduce_out_[p]);
    if (reduce_spills_[p]) spills[p].push_back(*reduce_spills_[p]);
  }
  detail::ShuffleStore store(*arena_, spill_dir_.path(), runs, spills);
  backend_->exchange(
      store, [](std::uint32_t) { return 0u; }, round_bytes(), [] { return interrupted(); });
  for (std::size_t p = 0; p < reduce_out_.size(); ++p) {
    reduce_out_[p] = runs[p].empty() ? std::nullopt : std::optional(runs[p].front());
    reduce_spills_[p] = spills[p].empty() ? std::nullopt : std::optional(spills[p].front());
  }
  rank_stats_.seconds_gather = seconds_since(t0);
  trace_->record_here("gather output", t0);
}

// Node 0's JobStats become the sums over every node.
void Master::gather_stats() {
  rank_stats_.sent_bytes = backend_->sent_bytes();
  rank_stats_.received_bytes = backend_->received_bytes();
  stats_.chunks = rank_stats_.chunks;
  stats_.input_bytes = rank_stats_.input_bytes;
  stats_.shuffle_bytes = arena_->used();
  std::vector<std::string> all = backend_->gather(detail::node_stats_to_bytes(stats_, rank_stats_),
                                                  [] { return interrupted(); });
  if (backend_->rank() != 0) return;
  JobStats total;
  total.map_only = stats_.map_only;
  total.reducers = stats_.reducers;
  for (const std::string& node : all) detail::add_node_stats(total, node);
  stats_ = std::move(total);
}

}  // namespace

JobStats run_job(const Job& job, Inputs& inputs, const EngineOptions& options, std::FILE* out) {
  if (options.max_attempts == 0) throw std::invalid_argument("max_attempts must be at least 1");
  if (options.chunk_size == 0) throw std::invalid_argument("chunk size must be positive");
  // The master keeps a record per chunk: tiny chunks of a big input would
  // cost more memory than the input. Larger chunks keep it bounded.
  EngineOptions bounded = options;
  std::uint64_t mapped = 0;
  for (const auto& in : inputs) mapped += in.data().size();
  bounded.chunk_size =
      std::max<std::size_t>(options.chunk_size, static_cast<std::size_t>(mapped / kMaxChunks));
  if (!options.backend) return Master(job, inputs, bounded, out).run();
  // On a cluster a failure ends every node (no node may wait for one that
  // left); the master is gone by then, its workers and files cleaned up.
  try {
    return Master(job, inputs, bounded, out).run();
  } catch (const Interrupted& e) {
    options.backend->abort(e.what(), 130);
  } catch (const InputError& e) {
    options.backend->abort(e.what(), 2);
  } catch (const std::exception& e) {
    options.backend->abort(e.what(), 1);
  }
  std::terminate();  // abort() does not return
}

}  // namespace mr
