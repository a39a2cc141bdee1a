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
#include "mr/ipc/listener.h"
#include "mr/ipc/pipe.h"
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

// How long a spawned or forkserver worker has to connect back and say who
// it is.
constexpr Timeout kConnectTimeout = 60s;
// How long a new worker has to send its first message (before its
// initializer). A child forked while another thread of this process held a
// lock that the child needs (an allocator's, under a sanitizer) never does:
// it is killed and another one started, up to kStartAttempts in all.
constexpr Timeout kStartTimeout = 10s;
constexpr int kStartAttempts = 3;

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
template <class Channel>
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
      req = conn.template recv<Request>();
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
  SocketConnection conn = connect_back(address, token);
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
    ProcessOptions po;
    po.name = "PoolWorker-" + std::to_string(slot);
    po.daemon = true;
    po.start_method = options.start_method;
    if (options.start_method == StartMethod::kFork) {
      start_forked(std::move(po), options.initializer);
    } else {
      start_spawned(std::move(po), hello);
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
  void send(const Request& req) { socket_ ? sock_.send(req) : conn_.send(req); }
  // A batch: queued, then sent by flush() in one system call (socket).
  void send_deferred(const Request& req) {
    socket_ ? sock_.send_deferred(to_bytes(req)) : conn_.send(req);
  }
  void flush() {
    if (socket_) sock_.flush();
  }
  bool poll(Timeout timeout) { return socket_ ? sock_.poll(timeout) : conn_.poll(timeout); }
  Reply recv() { return socket_ ? sock_.recv<Reply>() : conn_.recv<Reply>(); }
  Process& process() noexcept { return *process_; }
  const std::optional<TaskError>& init_error() const noexcept { return init_error_; }

  // Asks the worker to exit, waits up to `grace`, then kills it; reaps it.
  // Returns its exit code.
  int reap(Timeout grace) noexcept {
    try {
      if (!process_->exit_code() && grace > Timeout::zero()) {
        try {
          send(Request{});
        } catch (...) {
        }
        process_->join_for(grace);
      }
      if (!process_->exit_code()) process_->kill();
      process_->join();
      conn_.close();
      sock_.close();
      return *process_->exit_code();
    } catch (...) {
      return -SIGKILL;
    }
  }

  // Kills the worker (SIGKILL) and reaps it; returns its exit code. The
  // channel stays open: the replies the worker sent before it died can still
  // be read (the destructor closes it).
  int kill() noexcept {
    try {
      if (!process_->exit_code()) process_->kill();
      process_->join();
      return *process_->exit_code();
    } catch (...) {
      return -SIGKILL;
    }
  }

 private:
  void start_forked(ProcessOptions po, const std::function<void()>& initializer) {
    std::lock_guard fork_lock(g_fork_mutex);
    auto [parent_end, child_end] = Pipe();
    Connection* child = &child_end;
    Connection* parent = &parent_end;
    const std::function<void()>* init = &initializer;
    // The body captures pointers: in the child they point at the child's
    // copies of these locals; the parent closes its copy of the child end
    // right after the fork, so only the worker holds it.
    process_.emplace(std::move(po), [child, parent, init] {
      parent->close();
      return worker_main(*child, *init, false);
    });
    process_->start();
    child_end.close();
    conn_ = std::move(parent_end);
  }

  // spawn/forkserver: the fresh worker connects back to a listener of its
  // own, proves it is ours with a random token, and gets the Hello.
  void start_spawned(ProcessOptions po, const Hello& hello) {
    Listener listener;
    const std::string token = random_token();
    {
      std::lock_guard fork_lock(g_fork_mutex);
      process_.emplace(std::move(po), target<&detail::pool_spawned_worker>, listener.address(),
                       token);
      process_->start();
    }
    socket_ = true;
    try {
      std::optional<SocketConnection> c =
          accept_child(listener, token, process_->sentinel(), process_->pid(), kConnectTimeout);
      if (!c) {
        process_->join();
        set_start_failure(describe_exit_code(*process_->exit_code()) + " while starting");
        return;
      }
      sock_ = std::move(*c);
    } catch (const TimeoutError&) {
      set_start_failure(
          "did not connect back within " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::seconds>(kConnectTimeout).count()) +
          " s");
      return;
    }
    try {
      sock_.send(hello);
    } catch (const std::system_error&) {
      // Found dead while waiting for ready.
    }
  }

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
      if (!started && start_deadline.expired() && !process_->exit_code()) {
        stalled_ = true;
        set_start_failure(
            "sent nothing within " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(kStartTimeout).count()) +
            " s of its start; killed");
        return false;
      }
      if (process_->exit_code()) {
        set_start_failure(describe_exit_code(*process_->exit_code()) + " while starting");
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

  std::optional<Process> process_;
  bool socket_ = false;  // spawn/forkserver: sock_, else conn_
  Connection conn_;      // fork: a Pipe end
  SocketConnection sock_;
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
  if (!closed_ && queue_.size() >= options_.max_queued) {
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

void ProcessPool::handler_loop(std::size_t slot, std::shared_ptr<void> first_worker) {
  std::shared_ptr<Worker> worker;
  std::size_t tasks_done = 0;
  bool first_start_done = false;
  // Sent to the worker, in order, not answered yet: the front one runs.
  std::deque<Job> sent;
  std::size_t sent_bytes = 0;
  Deadline front_deadline = Deadline::never();

  auto set_pid = [&](pid_t pid) {
    std::lock_guard lock(m_);
    pids_[slot] = pid;
  };
  Hello hello;
  if (options_.start_method != StartMethod::kFork) {
    hello.program = detail::program_identity();
    if (auto* init = options_.initializer.target<void (*)()>()) {
      hello.has_initializer = true;
      hello.initializer = detail::code_ref(reinterpret_cast<std::uint64_t>(*init));
    }
  }
  const std::function<bool()> stopping = [this] {
    std::lock_guard lock(m_);
    return terminated_;
  };
  auto start_worker = [&] {
    worker.reset();
    set_pid(0);
    try {
      for (int attempt = 1;; ++attempt) {
        if (first_worker) {
          worker = std::static_pointer_cast<Worker>(std::exchange(first_worker, nullptr));
        } else {
          worker = std::make_shared<Worker>(slot, options_, hello);
        }
        set_pid(worker->pid());
        worker->await_ready(options_.task_timeout, stopping);
        if (!worker->stalled() || attempt == kStartAttempts) break;
        std::fprintf(stderr, "mr::ProcessPool: %s; starting another\n",
                     worker->init_error()->message().c_str());
      }
    } catch (const std::exception& e) {
      worker.reset();
      if (first_start_done) {
        std::fprintf(stderr, "mr::ProcessPool: cannot start a worker: %s\n", e.what());
      } else {
        std::lock_guard lock(m_);
        if (start_error_.empty()) start_error_ = e.what();
      }
    }
    tasks_done = 0;
  };
  auto drop_worker = [&] {
    worker.reset();
    set_pid(0);
  };
  auto pop_front = [&]() -> Job {
    Job job = std::move(sent.front());
    sent.pop_front();
    sent_bytes -= job.args.size() + kRequestOverhead;
    front_deadline = Deadline::from(options_.task_timeout);
    return job;
  };
  // Puts the tasks sent but never started back at the head of the queue
  // (they keep their place), or cancels them when the pool is terminated.
  auto requeue_unstarted = [&] {
    if (sent.empty()) return;
    bool requeued = false;
    {
      std::lock_guard lock(m_);
      if (!terminated_) {
        while (!sent.empty()) {
          queue_.push_front(std::move(sent.back()));
          sent.pop_back();
        }
        requeued = true;
      }
    }
    for (auto& j : sent) j.state->abandon("mr::ProcessPool: pool terminated before the task ran");
    sent.clear();
    sent_bytes = 0;
    if (requeued) work_cv_.notify_all();
  };
  auto finish = [&](Job& job, Reply& reply) {
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
    ++tasks_done;
  };
  // Handles one reply, which must answer the front task.
  auto take_reply = [&](Reply& reply) {
    if (sent.empty() || reply.id != sent.front().id)
      throw SerializationError("reply for task " + std::to_string(reply.id) + " out of order");
    Job job = pop_front();
    finish(job, reply);
  };
  // After the worker died or was killed: reads the replies it left in the
  // channel, up to the end of stream.
  auto drain_replies = [&] {
    try {
      while (!sent.empty() && worker->poll(Timeout::zero())) {
        Reply r = worker->recv();
        take_reply(r);
      }
    } catch (...) {
    }
  };

  for (;;) {
    if (sent.empty() && (!worker || worker->init_error())) {
      // Start one before taking a job, so that a fresh worker is ready.
      bool stop;
      {
        std::lock_guard lock(m_);
        stop = terminated_ || (closed_ && queue_.empty());
      }
      if (stop) break;
      if (!worker) start_worker();
      if (!first_start_done) {
        first_start_done = true;
        {
          std::lock_guard lock(m_);
          ++first_starts_;
        }
        exit_cv_.notify_all();
      }
    }

    // Take work: block for the first task when the worker is idle; top its
    // pipe up when the queue is deep.
    std::deque<Job> taken;
    {
      std::unique_lock lock(m_);
      if (sent.empty()) {
        work_cv_.wait(lock, [&] { return terminated_ || closed_ || !queue_.empty(); });
        if (terminated_ || queue_.empty()) break;  // terminated, or closed and drained
      }
      if (!terminated_) {
        std::size_t limit = kMaxAhead;
        if (!worker || worker->init_error()) {
          limit = 1;
        } else if (options_.max_tasks_per_child != 0) {
          const std::size_t used = tasks_done + sent.size();
          limit = used < options_.max_tasks_per_child ? options_.max_tasks_per_child - used : 0;
        }
        take_jobs_locked(sent.size(), sent_bytes, limit, taken);
      }
    }

    bool send_failed = false;
    for (auto& job : taken) {
      if (!job.started) {
        if (!job.state->try_start()) continue;  // cancelled while queued
        job.started = true;
      }
      if (!worker) {
        job.state->set_error(
            detail::ErrorValue::runtime("mr::ProcessPool: no worker process could be started"));
        continue;
      }
      if (worker->init_error()) {
        // The initializer failed: this job fails with its error, and the next
        // job gets a fresh worker.
        job.state->set_error(detail::ErrorValue::task(worker->init_error()->type_name(),
                                                      worker->init_error()->message()));
        drop_worker();
        continue;
      }
      if (send_failed) {
        sent.push_back(std::move(job));  // requeued below, unstarted
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
        worker->send_deferred(req);
      } catch (const std::system_error&) {
        send_failed = true;  // EPIPE: the worker went away; found dead below
      }
      if (sent.empty()) front_deadline = Deadline::from(options_.task_timeout);
      sent_bytes += job.args.size() + kRequestOverhead;
      sent.push_back(std::move(job));
    }
    if (worker && !send_failed) {
      try {
        worker->flush();
      } catch (const std::system_error&) {
        // The worker went away: found dead below; the tasks are in `sent`.
      }
    }
    if (sent.empty()) continue;

    // Wait for the front task's reply, its worker's death, its deadline or
    // terminate(); then read every reply already there.
    bool died = false, timed_out = false, terminated = false;
    try {
      for (;;) {
        Timeout slice = kPollSlice;
        if (!front_deadline.is_never())
          slice = std::min<Timeout>(
              slice, std::chrono::duration_cast<Timeout>(front_deadline.remaining()));
        if (worker->poll(slice)) {
          Reply r = worker->recv();
          take_reply(r);
          while (!sent.empty() && worker->poll(Timeout::zero())) {
            r = worker->recv();
            take_reply(r);
          }
          break;
        }
        if (worker->process().exit_code()) {
          died = true;
          break;
        }
        if (front_deadline.expired()) {
          timed_out = true;
          break;
        }
        std::lock_guard lock(m_);
        if (terminated_) {
          terminated = true;
          break;
        }
      }
    } catch (const EofError&) {
      died = true;
    } catch (const std::system_error&) {
      died = true;
    } catch (const SerializationError& e) {
      worker->kill();
      drop_worker();
      if (!sent.empty()) {
        Job job = pop_front();
        job.state->set_error(detail::ErrorValue::task(
            "mr::SerializationError", std::string("bad reply from worker: ") + e.what()));
      }
      requeue_unstarted();
      continue;
    }

    if (!died && !timed_out && !terminated) {
      if (sent.empty() && options_.max_tasks_per_child != 0 &&
          tasks_done >= options_.max_tasks_per_child) {
        worker->reap(kStopGrace);
        drop_worker();
      }
      continue;
    }

    const pid_t pid = worker->pid();
    if (terminated) {
      worker->kill();
      drop_worker();
      for (auto& j : sent) j.state->abandon("mr::ProcessPool: pool terminated while the task ran");
      sent.clear();
      sent_bytes = 0;
      break;
    }
    // Dead or killed: its last replies still count.
    const int status = worker->kill();  // reaps
    drain_replies();
    drop_worker();
    if (sent.empty()) continue;  // it died after answering everything
    Job job = pop_front();
    requeue_unstarted();
    if (timed_out) {
      job.state->set_error(detail::ErrorValue::timeout(
          "mr::ProcessPool: task " + std::to_string(job.id) + " ran past its timeout of " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(*options_.task_timeout)
                  .count()) +
          " ms; worker " + std::to_string(pid) + " was killed"));
      continue;
    }
    if (job.attempts < options_.retries) {
      ++job.attempts;
      {
        std::lock_guard lock(m_);
        if (!terminated_) {
          queue_.push_front(std::move(job));
          job.state = nullptr;
        }
      }
      if (job.state) {
        job.state->abandon("mr::ProcessPool: pool terminated before the task's retry");
      } else {
        work_cv_.notify_one();
      }
      continue;
    }
    job.state->set_error(detail::ErrorValue::worker_died(pid, status, job.id));
  }

  if (worker) worker->reap(terminated_ ? Timeout::zero() : kStopGrace);
  drop_worker();
  {
    std::lock_guard lock(m_);
    --live_;
    if (!first_start_done) ++first_starts_;
  }
  exit_cv_.notify_all();
}

void ProcessPool::close() {
  {
    std::lock_guard lock(m_);
    closed_ = true;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
}

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
