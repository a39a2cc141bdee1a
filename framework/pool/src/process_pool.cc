// ProcessPool: one handler thread per worker slot drives its worker
// synchronously (send one task, wait for its reply, death or deadline), so
// attributing a death or a timeout to a task is exact and needs no
// bookkeeping shared between threads beyond the job queue.
#include "mr/pool/process_pool.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "code_address.h"
#include "mr/base/io.h"
#include "mr/ipc/channel.h"
#include "mr/ipc/listener.h"
#include "mr/ipc/pipe.h"
#include "mr/pool/worker_process.h"
#include "mr/process/process.h"

namespace mr {

namespace {

using namespace std::chrono_literals;

// How often a handler waiting for a reply also checks its worker's pidfd,
// the task's deadline and terminate(). The end of stream of the connection
// normally reports a death at once; this bounds the delay when some other
// process holds a stray copy of the worker's end.
constexpr Timeout kPollSlice = 20ms;
// How long a worker asked to stop may take before it is killed.
constexpr Timeout kStopGrace = 5s;
// Bytes a request takes beyond its arguments (id, invoker, fn, framing).
constexpr std::size_t kRequestOverhead = 64;

// Every fork of a pool, process-wide: a worker must never inherit the child
// end of another worker's connection (it would keep that stream open after
// the other worker's death).
std::mutex g_fork_mutex;

// How long a new worker has to send its first message (before its
// initializer). A child forked while another thread of this process held a
// lock that the child needs (an allocator's, under a sanitizer) never does:
// it is killed and another one started, up to
// WorkerStartLimits::start_attempts in all (the connect-back timeout of a
// fresh program is WorkerStartLimits::connect_timeout).
constexpr Timeout kStartTimeout = 10s;

// Parent -> worker. id 0 asks the worker to exit. With fork, invoker and fn
// are addresses; with spawn/forkserver, offsets into the named modules.
struct Request {
  std::uint64_t id = 0;
  std::uint64_t invoker = 0;
  std::uint64_t fn = 0;
  std::string invoker_module;
  std::string fn_module;
  std::string args;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(id, invoker, fn, invoker_module, fn_module, args);
  }
};

// Parent -> spawned/forkserver worker, once it has connected and proved
// its token: what the worker checks and runs before its first task.
struct Hello {
  std::string program;  // detail::program_identity() of the pool's process
  bool has_initializer = false;
  detail::CodeRef initializer;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(program, has_initializer, initializer);
  }
};

// Worker -> parent.
struct Reply {
  // kStarted: the worker's first message, before its initializer.
  enum Kind : std::uint8_t { kValue, kError, kReady, kInitFailed, kStarted };
  std::uint64_t id = 0;
  std::uint8_t kind = kValue;
  std::string payload;  // serialized result
  std::string type;     // error type name
  std::string message;  // error message
  template <class Ar>
  void serialize(Ar& ar) {
    ar(id, kind, payload, type, message);
  }
};

Reply error_reply(std::uint64_t id, std::uint8_t kind) {
  Reply r;
  r.id = id;
  r.kind = kind;
  TaskError e = detail::task_error_from_current();
  r.type = e.type_name();
  r.message = e.message();
  return r;
}

// The worker's whole life, in the child. Returns the exit code. `relocate`:
// requests carry (module, offset) code references (spawn, forkserver).
int worker_main(Channel& conn, const std::function<void()>& initializer, bool relocate) {
  Reply started;
  started.kind = Reply::kStarted;
  conn.send(started);
  try {
    if (initializer) initializer();
  } catch (...) {
    try {
      conn.send(error_reply(0, Reply::kInitFailed));
    } catch (...) {
    }
    return 3;
  }
  Reply ready;
  ready.kind = Reply::kReady;
  conn.send(ready);
  for (;;) {
    Request req;
    try {
      req = conn.recv<Request>();
    } catch (const EofError&) {
      return 0;  // the pool is gone
    }
    if (req.id == 0) return 0;
    Reply rep;
    rep.id = req.id;
    try {
      std::uint64_t invoker = req.invoker, fn = req.fn;
      if (relocate) {
        invoker = detail::code_address({req.invoker_module, invoker});
        if (fn != 0) fn = detail::code_address({req.fn_module, fn});
      }
      auto invoke = reinterpret_cast<detail::TaskInvoker>(invoker);
      rep.payload = invoke(fn, req.args);
      rep.kind = Reply::kValue;
    } catch (...) {
      rep = error_reply(req.id, Reply::kError);
    }
    conn.send(rep);
  }
}

}  // namespace

namespace detail {

// A spawned or forkserver worker: a fresh run of this program that connects
// back to its handler's listener.
int pool_spawned_worker(std::string address, std::string token) {
  Channel conn = WorkerProcess::connect(address, token);
  Hello hello;
  try {
    hello = conn.recv<Hello>();
  } catch (const EofError&) {
    return 0;  // the pool gave up on us
  }
  std::function<void()> init;
  try {
    if (hello.program != program_identity())
      throw std::runtime_error(
          "the worker runs another program than the pool's (see mr::set_executable), so task "
          "addresses mean nothing in it");
    if (hello.has_initializer) init = reinterpret_cast<void (*)()>(code_address(hello.initializer));
  } catch (...) {
    conn.send(error_reply(0, Reply::kInitFailed));
    return 3;
  }
  return worker_main(conn, init, true);
}

}  // namespace detail

MR_REGISTER_FUNCTION(detail::pool_spawned_worker);

namespace {

// One worker process and the parent's end of its connection, owned by one
// handler thread.
class Worker {
 public:
  // Starts a worker with the pool's start method; await_ready() then waits
  // for it to be ready. On a failure to start, `init_error` is set.
  Worker(std::size_t slot, const PoolOptions& options, const Hello& hello) {
    WorkerProcess::Options wo;
    wo.process.name = "PoolWorker-" + std::to_string(slot);
    wo.process.daemon = true;
    wo.process.start_method = options.start_method;
    wo.fork_lock = &g_fork_mutex;
    const std::function<void()>* init = &options.initializer;
    // fork: in the child, `init` points at the child's copy of the options.
    process_.emplace(WorkerProcess::start<&detail::pool_spawned_worker>(
        wo, [init](Channel& child) { return worker_main(child, *init, false); }));
    if (process_->start_failure()) {
      set_start_failure(*process_->start_failure());
      return;
    }
    if (options.start_method == StartMethod::kFork) return;
    try {
      send(hello);  // a fresh program: what it checks and runs before its first task
    } catch (const std::system_error&) {
      // Found dead while waiting for ready.
    }
  }
  // Waits for the worker to report ready: at most `timeout` for the
  // initializer, and only while `stopping` (terminate()) returns false. On
  // failure (initializer, start-up, timeout), `init_error` is set and the
  // worker is reaped.
  void await_ready(const std::optional<Timeout>& timeout, const std::function<bool()>& stopping) {
    bool hung = false;
    if (!init_error_) hung = !wait_ready(timeout, stopping);
    if (init_error_) reap(hung ? Timeout::zero() : kStopGrace);
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() { reap(Timeout::zero()); }

  pid_t pid() const noexcept { return process_->pid(); }
  // The worker sent nothing at all in time and was killed (see
  // kStartTimeout): worth starting another one.
  bool stalled() const noexcept { return stalled_; }
  template <class Message>
  void send(const Message& m) {
    channel().send(m);
  }
  // A batch: queued, then sent by flush() in one system call (socket).
  void send_deferred(const Request& req) { channel().send_deferred(to_bytes(req)); }
  void flush() { channel().flush(); }
  bool poll(Timeout timeout) { return channel().poll(timeout); }
  Reply recv() { return channel().recv<Reply>(); }
  Process& process() noexcept { return process_->process(); }
  const std::optional<TaskError>& init_error() const noexcept { return init_error_; }

  // Asks the worker to exit, waits up to `grace`, then kills it; reaps it.
  // Returns its exit code.
  int reap(Timeout grace) noexcept {
    if (!process().exit_code() && grace > Timeout::zero()) {
      try {
        send(Request{});
      } catch (...) {
      }
    }
    return process_->reap(grace);
  }

  // Kills the worker (SIGKILL) and reaps it; returns its exit code. The
  // channel stays open: the replies the worker sent before it died can still
  // be read (the destructor closes it).
  int kill() noexcept { return process_->kill(); }

 private:
  Channel& channel() { return process_->channel(); }

  // Waits for the ready message (or the initializer's failure, or death).
  // False when the worker is still starting after `timeout` or when
  // `stopping` returns true (init_error_ is then set too).
  bool wait_ready(const std::optional<Timeout>& timeout, const std::function<bool()>& stopping) {
    bool started = false;
    const Deadline start_deadline = Deadline::after(kStartTimeout);
    Deadline deadline = Deadline::never();  // the initializer's, from kStarted on
    for (;;) {
      const Deadline& next = started ? deadline : start_deadline;
      Timeout slice = kPollSlice;
      if (!next.is_never())
        slice = std::min<Timeout>(slice, std::chrono::duration_cast<Timeout>(next.remaining()));
      if (poll(slice)) {
        try {
          Reply r = recv();
          if (r.kind == Reply::kStarted) {
            started = true;
            deadline = Deadline::from(timeout);
            continue;
          }
          if (r.kind == Reply::kInitFailed) init_error_ = TaskError(r.type, r.message);
        } catch (const EofError&) {
          set_start_failure("died while starting");
        }
        return true;
      }
      if (!started && start_deadline.expired() && !process().exit_code()) {
        stalled_ = true;
        set_start_failure(
            "sent nothing within " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(kStartTimeout).count()) +
            " s of its start; killed");
        return false;
      }
      if (process().exit_code()) {
        set_start_failure(describe_exit_code(*process().exit_code()) + " while starting");
        return true;
      }
      if (started && deadline.expired()) {
        init_error_ = TaskError(
            "mr::TimeoutError",
            "the initializer of worker " + std::to_string(pid()) + " ran past the timeout of " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(*timeout).count()) +
                " ms; the worker was killed");
        return false;
      }
      if (stopping && stopping()) {
        set_start_failure("stopped by terminate() while starting");
        return false;
      }
    }
  }

  void set_start_failure(const std::string& what) {
    init_error_ = TaskError("mr::WorkerDied", "worker " + std::to_string(pid()) + " " + what);
  }

  std::optional<WorkerProcess> process_;  // the process and the channel to it
  std::optional<TaskError> init_error_;
  bool stalled_ = false;
};

}  // namespace

ProcessPool::ProcessPool(PoolOptions options, TaskTable tasks)
    : options_(std::move(options)), tasks_(std::move(tasks)) {
  if (options_.start_method != StartMethod::kFork) {
    if (options_.initializer && !options_.initializer.target<void (*)()>())
      throw std::invalid_argument(
          "mr::ProcessPool: with the spawn and forkserver start methods the initializer must be "
          "a plain function (void(*)()); a captureless lambda converts with unary +: "
          "+[] { ... }. Closures travel only by fork");
    if (!tasks_.empty())
      throw std::invalid_argument(
          "mr::ProcessPool: a TaskTable (capturing callables) travels only by fork; this pool "
          "starts its workers with spawn or forkserver");
  }
  workers_ = options_.workers == 0 ? static_cast<std::size_t>(cpu_count()) : options_.workers;
  if (options_.max_queued == 0) options_.max_queued = 1;
  ignore_sigpipe();
  // Fork the first workers here, before any handler thread exists: a child
  // forked while another thread of this process holds a lock it needs (the
  // allocator's, the dynamic loader's, a sanitizer's) can wait on it
  // forever. Replacements are forked later by the handlers (the fork hazard
  // of process_pool.h).
  std::vector<std::shared_ptr<void>> first(workers_);
  std::string first_error;
  if (options_.start_method == StartMethod::kFork) {
    try {
      for (std::size_t i = 0; i < workers_; ++i)
        first[i] = std::make_shared<Worker>(i, options_, Hello{});
    } catch (const std::exception& e) {
      first_error = e.what();
    }
  }
  std::unique_lock lock(m_);
  start_error_ = first_error;
  pids_.assign(workers_, 0);
  for (std::size_t i = 0; i < workers_; ++i) {
    ++live_;
    handlers_.emplace_back(
        [this, i, w = std::move(first[i])]() mutable { handler_loop(i, std::move(w)); });
  }
  // Like Python's Pool, the workers exist when the constructor returns.
  exit_cv_.wait(lock, [&] { return first_starts_ == workers_; });
  if (!start_error_.empty()) {
    std::string why = start_error_;
    lock.unlock();
    terminate();
    join();
    throw std::runtime_error("mr::ProcessPool: cannot start a worker process: " + why);
  }
}

ProcessPool::~ProcessPool() {
  try {
    close();
    join();
  } catch (...) {
  }
}

std::size_t ProcessPool::in_flight_limit() const noexcept {
  return options_.max_in_flight != 0 ? options_.max_in_flight : 2 * workers_;
}

std::vector<pid_t> ProcessPool::worker_pids() const {
  std::lock_guard lock(m_);
  return pids_;
}

void ProcessPool::enqueue(std::shared_ptr<detail::StateBase> state, std::uint64_t invoker,
                          std::uint64_t fn, std::string args,
                          std::function<void(std::string_view)> complete) {
  std::unique_lock lock(m_);
  if (!closed_ && queue_.size() >= options_.max_queued && !detail::t_submit_unbounded) {
    ++space_waiters_;
    space_cv_.wait(lock, [&] { return closed_ || queue_.size() < options_.max_queued; });
    --space_waiters_;
  }
  if (closed_) throw std::logic_error("mr::ProcessPool: submit after close() or terminate()");
  Job job;
  job.id = next_id_++;
  job.state = std::move(state);
  job.invoker = invoker;
  job.fn = fn;
  if (options_.start_method != StartMethod::kFork) {
    // The worker is a fresh exec: send (module, offset), not the address.
    auto relative = [&](std::uint64_t address, std::uint64_t& offset, std::string& module) {
      auto it = code_refs_.find(address);
      if (it == code_refs_.end()) {
        detail::CodeRef ref = detail::code_ref(address);
        it = code_refs_.emplace(address, std::make_pair(std::move(ref.module), ref.offset)).first;
      }
      module = it->second.first;
      offset = it->second.second;
    };
    relative(invoker, job.invoker, job.invoker_module);
    if (fn != 0) relative(fn, job.fn, job.fn_module);
  }
  job.args = std::move(args);
  job.complete = std::move(complete);
  queue_.push_back(std::move(job));
  lock.unlock();
  work_cv_.notify_one();
}

std::size_t ProcessPool::take_jobs_locked(std::size_t in_flight, std::size_t in_flight_bytes,
                                          std::size_t limit, std::deque<Job>& out) {
  // How many tasks this worker should have in its pipe: one while the queue
  // is shallow (a queued task stays cancellable), more while it is deep, so
  // the worker always finds its next task waiting and nobody sleeps between
  // two tasks.
  std::size_t ahead = 1;
  if (queue_.size() >= kAheadMinQueuedPerWorker * workers_)
    ahead = std::min(kMaxAhead, 1 + queue_.size() / (2 * workers_));
  ahead = std::min(ahead, limit);
  std::size_t taken = 0;
  while (in_flight + taken < ahead && !queue_.empty()) {
    // Never more request bytes in flight than the channel holds: a send
    // must not wait for a worker that itself waits for us to read replies.
    const std::size_t bytes = queue_.front().args.size() + kRequestOverhead;
    if (in_flight + taken > 0 && in_flight_bytes + bytes > kMaxAheadBytes) break;
    in_flight_bytes += bytes;
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
    ++taken;
  }
  if (taken != 0 && space_waiters_ != 0 && queue_.size() <= options_.max_queued / 2)
    space_cv_.notify_all();
  return taken;
}

// One worker slot of a pool, driven by its handler thread: it keeps a worker
// running in the slot (start, replace), sends it tasks from the pool's queue
// (a few ahead when the queue is deep), and settles each task by its reply,
// its worker's death, its deadline or terminate(). Exactly one handler
// thread uses a WorkerSlot; the pool's shared state is touched under
// pool.m_ only.
class WorkerSlot {
 public:
  using Job = ProcessPool::Job;

  // `first_worker` (a Worker, type-erased) is the slot's first worker when
  // the pool's constructor started it, else empty.
  WorkerSlot(ProcessPool& pool, std::size_t slot, std::shared_ptr<void> first_worker)
      : pool_(pool), slot_(slot), first_worker_(std::move(first_worker)) {
    if (pool_.options_.start_method != StartMethod::kFork) {
      hello_.program = detail::program_identity();
      if (auto* init = pool_.options_.initializer.target<void (*)()>()) {
        hello_.has_initializer = true;
        hello_.initializer = detail::code_ref(reinterpret_cast<std::uint64_t>(*init));
      }
    }
    stopping_ = [this] {
      std::lock_guard lock(pool_.m_);
      return pool_.terminated_;
    };
  }

  // The handler thread's life: until the pool is terminated, or closed and
  // drained; then the slot's worker is stopped and reaped.
  void run() {
    for (;;) {
      if (!ensure_worker()) break;
      std::deque<Job> taken;
      if (!take_work(taken)) break;
      send(taken);
      if (sent_.empty()) continue;
      if (!await_front()) break;
    }
    if (worker_) worker_->reap(terminated() ? Timeout::zero() : kStopGrace);
    drop_worker();
    {
      std::lock_guard lock(pool_.m_);
      --pool_.live_;
      if (!first_start_done_) ++pool_.first_starts_;
    }
    pool_.exit_cv_.notify_all();
  }

 private:
  // What ended the wait for the front task.
  enum class Outcome { kReplied, kDied, kTimedOut, kTerminated };

  bool terminated() {
    std::lock_guard lock(pool_.m_);
    return pool_.terminated_;
  }
  void set_pid(pid_t pid) {
    std::lock_guard lock(pool_.m_);
    pool_.pids_[slot_] = pid;
  }

  // With nothing in flight and no usable worker, starts one before taking a
  // job, so that a fresh worker is ready. False when the handler should end.
  bool ensure_worker() {
    if (!sent_.empty() || (worker_ && !worker_->init_error())) return true;
    {
      std::lock_guard lock(pool_.m_);
      if (pool_.terminated_ || (pool_.closed_ && pool_.queue_.empty())) return false;
    }
    if (!worker_) start_worker();
    if (!first_start_done_) {
      first_start_done_ = true;
      {
        std::lock_guard lock(pool_.m_);
        ++pool_.first_starts_;
      }
      pool_.exit_cv_.notify_all();
    }
    return true;
  }

  void start_worker() {
    worker_.reset();
    set_pid(0);
    const unsigned attempts = WorkerStartLimits{}.start_attempts;
    try {
      for (unsigned attempt = 1;; ++attempt) {
        if (first_worker_) {
          worker_ = std::static_pointer_cast<Worker>(std::exchange(first_worker_, nullptr));
        } else {
          worker_ = std::make_shared<Worker>(slot_, pool_.options_, hello_);
        }
        set_pid(worker_->pid());
        worker_->await_ready(pool_.options_.task_timeout, stopping_);
        if (!worker_->stalled() || attempt == attempts) break;
        std::fprintf(stderr, "mr::ProcessPool: %s; starting another\n",
                     worker_->init_error()->message().c_str());
      }
    } catch (const std::exception& e) {
      worker_.reset();
      if (first_start_done_) {
        std::fprintf(stderr, "mr::ProcessPool: cannot start a worker: %s\n", e.what());
      } else {
        std::lock_guard lock(pool_.m_);
        if (pool_.start_error_.empty()) pool_.start_error_ = e.what();
      }
    }
    tasks_done_ = 0;
  }

  void drop_worker() {
    worker_.reset();
    set_pid(0);
  }

  // Takes work: blocks for the first task when the worker is idle; tops its
  // channel up when the queue is deep. False when the handler should end
  // (terminated, or closed and drained).
  bool take_work(std::deque<Job>& taken) {
    std::unique_lock lock(pool_.m_);
    if (sent_.empty()) {
      pool_.work_cv_.wait(
          lock, [&] { return pool_.terminated_ || pool_.closed_ || !pool_.queue_.empty(); });
      if (pool_.terminated_ || pool_.queue_.empty()) return false;
    }
    if (!pool_.terminated_) {
      std::size_t limit = ProcessPool::kMaxAhead;
      if (!worker_ || worker_->init_error()) {
        limit = 1;
      } else if (pool_.options_.max_tasks_per_child != 0) {
        const std::size_t used = tasks_done_ + sent_.size();
        const std::size_t max = pool_.options_.max_tasks_per_child;
        limit = used < max ? max - used : 0;
      }
      pool_.take_jobs_locked(sent_.size(), sent_bytes_, limit, taken);
    }
    return true;
  }

  // Sends the taken jobs to the worker (in one batch), or fails them when
  // there is no worker or its initializer failed.
  void send(std::deque<Job>& taken) {
    bool send_failed = false;
    for (auto& job : taken) {
      if (!job.started) {
        if (!job.state->try_start()) continue;  // cancelled while queued
        job.started = true;
      }
      if (!worker_) {
        job.state->set_error(
            detail::ErrorValue::runtime("mr::ProcessPool: no worker process could be started"));
        continue;
      }
      if (worker_->init_error()) {
        // The initializer failed: this job fails with its error, and the next
        // job gets a fresh worker.
        job.state->set_error(detail::ErrorValue::task(worker_->init_error()->type_name(),
                                                      worker_->init_error()->message()));
        drop_worker();
        continue;
      }
      if (send_failed) {
        sent_.push_back(std::move(job));  // requeued later, unstarted
        continue;
      }
      try {
        Request req;
        req.id = job.id;
        req.invoker = job.invoker;
        req.fn = job.fn;
        req.invoker_module = job.invoker_module;
        req.fn_module = job.fn_module;
        req.args = job.args;
        worker_->send_deferred(req);
      } catch (const std::system_error&) {
        send_failed = true;  // EPIPE: the worker went away; found dead later
      }
      if (sent_.empty()) front_deadline_ = Deadline::from(pool_.options_.task_timeout);
      sent_bytes_ += job.args.size() + kRequestOverhead;
      sent_.push_back(std::move(job));
    }
    if (worker_ && !send_failed) {
      try {
        worker_->flush();
      } catch (const std::system_error&) {
        // The worker went away: found dead later; the tasks are in sent_.
      }
    }
  }

  // Waits for the front task's reply (then reads every reply already
  // there), its worker's death, its deadline or terminate(), and settles
  // what that means. False when the handler should end (terminated).
  bool await_front() {
    Outcome outcome;
    try {
      outcome = wait_for_front();
    } catch (const EofError&) {
      outcome = Outcome::kDied;
    } catch (const std::system_error&) {
      outcome = Outcome::kDied;
    } catch (const SerializationError& e) {
      worker_->kill();
      drop_worker();
      if (!sent_.empty()) {
        Job job = pop_front();
        job.state->set_error(detail::ErrorValue::task(
            "mr::SerializationError", std::string("bad reply from worker: ") + e.what()));
      }
      requeue_unstarted();
      return true;
    }
    switch (outcome) {
      case Outcome::kReplied:
        if (sent_.empty() && pool_.options_.max_tasks_per_child != 0 &&
            tasks_done_ >= pool_.options_.max_tasks_per_child) {
          worker_->reap(kStopGrace);
          drop_worker();
        }
        return true;
      case Outcome::kTerminated:
        worker_->kill();
        drop_worker();
        for (auto& j : sent_)
          j.state->abandon("mr::ProcessPool: pool terminated while the task ran");
        sent_.clear();
        sent_bytes_ = 0;
        return false;
      case Outcome::kDied:
      case Outcome::kTimedOut:
        settle_lost_worker(outcome == Outcome::kTimedOut);
        return true;
    }
    return true;
  }

  Outcome wait_for_front() {
    for (;;) {
      Timeout slice = kPollSlice;
      if (!front_deadline_.is_never())
        slice = std::min<Timeout>(slice,
                                  std::chrono::duration_cast<Timeout>(front_deadline_.remaining()));
      if (worker_->poll(slice)) {
        Reply r = worker_->recv();
        take_reply(r);
        while (!sent_.empty() && worker_->poll(Timeout::zero())) {
          r = worker_->recv();
          take_reply(r);
        }
        return Outcome::kReplied;
      }
      if (worker_->process().exit_code()) return Outcome::kDied;
      if (front_deadline_.expired()) return Outcome::kTimedOut;
      if (terminated()) return Outcome::kTerminated;
    }
  }

  // The worker died or was killed (a timeout): its last replies still
  // count; the task it ran fails (a timeout), is retried, or fails with
  // WorkerDied; the tasks sent after it go back to the queue.
  void settle_lost_worker(bool timed_out) {
    const pid_t pid = worker_->pid();
    const int status = worker_->kill();  // reaps
    drain_replies();
    drop_worker();
    if (sent_.empty()) return;  // it died after answering everything
    Job job = pop_front();
    requeue_unstarted();
    if (timed_out) {
      job.state->set_error(detail::ErrorValue::timeout(
          "mr::ProcessPool: task " + std::to_string(job.id) + " ran past its timeout of " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(*pool_.options_.task_timeout)
                  .count()) +
          " ms; worker " + std::to_string(pid) + " was killed"));
      return;
    }
    if (job.attempts < pool_.options_.retries) {
      ++job.attempts;
      {
        std::lock_guard lock(pool_.m_);
        if (!pool_.terminated_) {
          pool_.queue_.push_front(std::move(job));
          job.state = nullptr;
        }
      }
      if (job.state) {
        job.state->abandon("mr::ProcessPool: pool terminated before the task's retry");
      } else {
        pool_.work_cv_.notify_one();
      }
      return;
    }
    job.state->set_error(detail::ErrorValue::worker_died(pid, status, job.id));
  }

  Job pop_front() {
    Job job = std::move(sent_.front());
    sent_.pop_front();
    sent_bytes_ -= job.args.size() + kRequestOverhead;
    front_deadline_ = Deadline::from(pool_.options_.task_timeout);
    return job;
  }

  // Puts the tasks sent but never started back at the head of the queue
  // (they keep their place), or cancels them when the pool is terminated.
  void requeue_unstarted() {
    if (sent_.empty()) return;
    bool requeued = false;
    {
      std::lock_guard lock(pool_.m_);
      if (!pool_.terminated_) {
        while (!sent_.empty()) {
          pool_.queue_.push_front(std::move(sent_.back()));
          sent_.pop_back();
        }
        requeued = true;
      }
    }
    for (auto& j : sent_) j.state->abandon("mr::ProcessPool: pool terminated before the task ran");
    sent_.clear();
    sent_bytes_ = 0;
    if (requeued) pool_.work_cv_.notify_all();
  }

  void finish(Job& job, Reply& reply) {
    if (reply.kind == Reply::kValue) {
      try {
        job.complete(reply.payload);
      } catch (...) {
        job.state->set_error(detail::ErrorValue::current());
      }
    } else {
      job.state->set_error(
          detail::ErrorValue::task(std::move(reply.type), std::move(reply.message)));
    }
    ++tasks_done_;
  }

  // Handles one reply, which must answer the front task.
  void take_reply(Reply& reply) {
    if (sent_.empty() || reply.id != sent_.front().id)
      throw SerializationError("reply for task " + std::to_string(reply.id) + " out of order");
    Job job = pop_front();
    finish(job, reply);
  }

  // After the worker died or was killed: reads the replies it left in the
  // channel, up to the end of stream.
  void drain_replies() {
    try {
      while (!sent_.empty() && worker_->poll(Timeout::zero())) {
        Reply r = worker_->recv();
        take_reply(r);
      }
    } catch (...) {
    }
  }

  ProcessPool& pool_;
  const std::size_t slot_;
  std::shared_ptr<void> first_worker_;
  std::shared_ptr<Worker> worker_;
  std::size_t tasks_done_ = 0;
  bool first_start_done_ = false;
  // Sent to the worker, in order, not answered yet: the front one runs.
  std::deque<Job> sent_;
  std::size_t sent_bytes_ = 0;
  Deadline front_deadline_ = Deadline::never();
  Hello hello_;
  std::function<bool()> stopping_;  // terminate() was called
};

void ProcessPool::handler_loop(std::size_t slot, std::shared_ptr<void> first_worker) {
  WorkerSlot(*this, slot, std::move(first_worker)).run();
}

void ProcessPool::close() {
  {
    std::lock_guard lock(m_);
    closed_ = true;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
}

std::size_t ProcessPool::cancel_queued() { return detail::cancel_queued_states(m_, queue_); }

void ProcessPool::terminate() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(m_);
    closed_ = true;
    terminated_ = true;
    dropped.swap(queue_);
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
  for (auto& j : dropped) j.state->abandon("mr::ProcessPool: pool terminated before the task ran");
}

bool ProcessPool::join_for(Timeout timeout) {
  const Deadline deadline = Deadline::after(timeout);
  std::unique_lock lock(m_);
  if (!closed_) throw std::logic_error("mr::ProcessPool::join: call close() or terminate() first");
  if (!exit_cv_.wait_for(lock, deadline.remaining(), [&] { return live_ == 0; })) return false;
  std::vector<std::thread> threads;
  threads.swap(handlers_);
  lock.unlock();
  for (auto& t : threads) t.join();
  return true;
}

void ProcessPool::join() {
  {
    std::unique_lock lock(m_);
    if (!closed_)
      throw std::logic_error("mr::ProcessPool::join: call close() or terminate() first");
    exit_cv_.wait(lock, [&] { return live_ == 0; });
  }
  join_for(Timeout::zero());
}

}  // namespace mr
