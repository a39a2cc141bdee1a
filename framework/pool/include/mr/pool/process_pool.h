// ProcessPool: worker processes running tasks, the counterpart of Python's
// multiprocessing.Pool / ProcessPoolExecutor, with the same interface as
// ThreadPool (see pool_base.h for map, starmap, map_async, imap,
// imap_unordered, apply, apply_async).
//
//   int square(int x) { return x * x; }
//   mr::ProcessPool pool({.workers = 4, .retries = 1, .task_timeout = 30s});
//   std::vector<int> out = pool.map(square, inputs, /*chunksize=*/64);
//
//   mr::TaskTable tasks;                                 // capturing callables
//   auto scale = tasks.add([k](int x) { return x * k; });
//   mr::ProcessPool pool2({.workers = 2}, tasks);
//   pool2.map(scale, inputs);
//
// What a task may be (checked at compile time, with a readable message):
//  - a function pointer or a captureless lambda / empty function object,
//    with any start method: a forked worker shares the address; a spawned
//    or forkserver worker runs this same program file, and gets the
//    function as (loaded object, offset), turned back into its own address
//    (a library the pool's process dlopen()ed is dlopen()ed by the worker);
//  - with the fork start method only, a BoundTask from a TaskTable given to
//    the constructor: any copyable callable, captures included, which
//    travels by fork like the initializer;
// and its arguments and result must be mr::Serializable (result may be
// void). Arguments are serialized at submit() time, the result in the
// worker.
//
// Start methods (PoolOptions::start_method, as in Python):
//  - fork (default): workers are forks of this process; the initializer may
//    be any std::function, closures included; fastest channel (a Pipe:
//    shared-memory rings).
//  - spawn, forkserver: workers are fresh runs of this program
//    (mr::spawn_main_hook must be the first line of main, see
//    mr/process/process.h) that share nothing with it; each connects back
//    to a Listener of its handler (an abstract Unix socket with a random
//    name, mr/ipc/listener.h) and proves itself with a random token. The
//    initializer must be a plain function (void(*)(), e.g. +[] { ... }) and
//    a TaskTable is refused (std::invalid_argument): closures cannot travel.
//    No fork hazard: the workers never copy this process's threads or locks.
//
// How it works. The pool owns one handler thread per worker slot. A handler
// starts its worker (mr::Process), keeps a duplex channel to it (a Pipe end
// for fork, a SocketConnection otherwise), takes tasks from the pool's
// bounded queue, sends them to its worker and waits for the replies, the
// worker's death (pidfd sentinel or end of stream) or the running task's
// deadline. With Q tasks queued a handler keeps up to 1 + Q / (2 x workers)
// tasks, at most 256 (and 64 KiB of arguments), in the worker's channel, so
// that trivial tasks do not cost a wake-up each while no worker gets more
// than its share; with a shallow queue that is one task at a time. A task
// sent ahead counts as running (cancel() fails), as in Python's
// ProcessPoolExecutor. The worker runs the tasks in order and answers each,
// so the handler still knows exactly which task a dead worker was running;
// the replies it sent before dying still count, and the tasks sent behind
// it go back to the head of the queue:
//  - a worker that dies mid-task (signal, abort, exit, OOM kill) is reaped
//    at once and replaced; the task is retried up to options.retries times,
//    then its future fails with mr::WorkerDied naming the pid, the signal or
//    exit code and the task id;
//  - a task past options.task_timeout gets its worker SIGKILLed and
//    replaced; its future fails with mr::TimeoutError;
//  - after options.max_tasks_per_child tasks a worker is stopped and
//    replaced;
//  - an initializer that throws fails the next task with its error; one
//    that runs past options.task_timeout gets its worker killed, and the
//    next task fails with a TaskError of type mr::TimeoutError;
//  - a new worker that sends nothing within 10 s of its start (a fork that
//    inherited a lock held by another thread, see the fork hazard below) is
//    killed and another one started, up to 3 times.
// Task exceptions reach get() as mr::TaskError (type name + message), or
// as themselves for types registered with mr::register_exception<E>()
// (mr/pool/future.h): the object cannot cross the process boundary, so an
// E is rebuilt from its what() text.
//
// Fork hazard (read this). Workers, including the first ones, are forked by
// the handler threads, i.e. from a multithreaded process (as Python's Pool
// does when it replaces workers). The child runs only the worker loop and
// the tasks; glibc's malloc is safe across fork, but a lock held by some
// other thread of the parent at that moment (a user mutex, a stdio lock of a
// stream another thread was writing) stays locked forever in the child. Keep
// tasks and initializers away from state other threads may be holding, or
// create the pool early, before the program starts its own threads, or use
// spawn or forkserver. Forks by the pool are serialized by one process-wide
// lock, so a worker never inherits another worker's end of its connection
// (which would hide that worker's death).
//
// Lifecycle: close() refuses new work; join() (after close() or terminate())
// waits until queued work is done and every worker has been stopped and
// reaped. terminate() drops queued tasks and kills the workers: every
// unfinished future fails with CancelledError. The destructor is close() +
// join(): queued work is finished first. Nothing is left behind: no zombie,
// no /dev/shm entry.
//
// Thread-safety: every member may be called from any thread, never from a
// task. Done callbacks and apply_async() callbacks run on a handler thread.
// Fork-safety: a forked child must not use a pool inherited from its parent.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mr/base/serialize.h"
#include "mr/pool/future.h"
#include "mr/pool/pool_base.h"

namespace mr {

template <class Sig>
class BoundTask;

// A capturing callable registered with a TaskTable: callable like the
// original (so a ThreadPool runs it too), and sendable to the workers of a
// ProcessPool constructed with that table.
template <class R, class... A>
class BoundTask<R(A...)> {
 public:
  R operator()(A... args) const { return (*fn_)(std::forward<A>(args)...); }
  // Internal: the callable's address, identical in forked workers.
  const std::function<R(A...)>* target() const noexcept { return fn_.get(); }

 private:
  friend class TaskTable;
  explicit BoundTask(std::shared_ptr<const std::function<R(A...)>> fn) : fn_(std::move(fn)) {}
  std::shared_ptr<const std::function<R(A...)>> fn_;
};

namespace detail {

template <class M>
struct CallSignature;
template <class C, class R, class... A>
struct CallSignature<R (C::*)(A...) const> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct CallSignature<R (C::*)(A...)> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct CallSignature<R (C::*)(A...) const noexcept> {
  using type = R(A...);
};
template <class C, class R, class... A>
struct CallSignature<R (C::*)(A...) noexcept> {
  using type = R(A...);
};

template <class F>
concept HasPlainCallOperator = requires {
  &F::operator();
};

}  // namespace detail

// The capturing callables a ProcessPool may run, given to its constructor
// (before its workers are forked). Copyable; copies share the callables.
class TaskTable {
 public:
  // Registers `f` (copyable, with a non-template operator()) and returns its
  // handle. Register everything before constructing the pool.
  template <class F>
  auto add(F f) {
    static_assert(detail::HasPlainCallOperator<F>,
                  "mr::TaskTable::add: the callable needs one non-template operator() (a "
                  "generic lambda's parameter types cannot be deduced)");
    using Sig = typename detail::CallSignature<decltype(&F::operator())>::type;
    auto fn = std::make_shared<const std::function<Sig>>(std::move(f));
    keep_.push_back(fn);
    return BoundTask<Sig>(std::move(fn));
  }
  bool empty() const noexcept { return keep_.empty(); }
  // Whether `target` was registered here.
  bool contains(const void* target) const {
    for (const auto& k : keep_)
      if (k.get() == target) return true;
    return false;
  }

 private:
  std::vector<std::shared_ptr<const void>> keep_;
};

namespace detail {

// Runs in the worker: deserializes the arguments, calls the task, returns
// the serialized result. Exceptions propagate (the worker reports them).
using TaskInvoker = std::string (*)(std::uint64_t fn, std::string_view args);

template <class F>
inline constexpr bool kIsBound = false;
template <class Sig>
inline constexpr bool kIsBound<BoundTask<Sig>> = true;

template <class F>
inline constexpr bool kIsFunctionPointer =
    std::is_pointer_v<F>&& std::is_function_v<std::remove_pointer_t<F>>;

// Stateless class callables (captureless lambdas) are rebuilt in the worker
// from their type alone.
template <class F>
inline constexpr bool kIsStateless =
    std::is_class_v<F>&& std::is_empty_v<F>&& std::is_default_constructible_v<F>;

template <class F>
inline constexpr bool kCanTravel = kIsFunctionPointer<F> || kIsStateless<F> || kIsBound<F>;

template <class F>
constexpr void check_travels() {
  static_assert(kCanTravel<F>,
                "mr::ProcessPool: this task cannot travel to a worker process. A task must be a "
                "function pointer, a captureless lambda (or another empty, default-constructible "
                "function object), or a callable registered with mr::TaskTable::add() and given "
                "to the pool's constructor. Capturing lambdas and std::function cannot be sent.");
}

// The task's address (function pointer, bound callable) or 0 (stateless).
template <class F>
std::uint64_t fn_word(const F& f) {
  if constexpr (kIsFunctionPointer<F>) {
    return reinterpret_cast<std::uint64_t>(f);
  } else if constexpr (kIsBound<F>) {
    return reinterpret_cast<std::uint64_t>(f.target());
  } else {
    return 0;
  }
}

// The callable again, in the worker.
template <class F>
decltype(auto) callee(std::uint64_t fn) {
  if constexpr (kIsFunctionPointer<F>) {
    return reinterpret_cast<F>(fn);
  } else if constexpr (kIsBound<F>) {
    using Fn = std::remove_cvref_t<decltype(*std::declval<F>().target())>;
    return *reinterpret_cast<const Fn*>(fn);
  } else {
    return F{};
  }
}

template <class T>
inline constexpr bool kResultTravels = std::is_void_v<T> || Serializable<T>;

template <class F, class... Args>
std::string invoke_one(std::uint64_t fn, std::string_view bytes) {
  std::tuple<Args...> args = from_bytes<std::tuple<Args...>>(bytes);
  auto&& f = callee<F>(fn);
  using R = std::invoke_result_t<decltype(f), Args&...>;
  if constexpr (std::is_void_v<R>) {
    std::apply(f, args);
    return {};
  } else {
    return to_bytes(std::apply(f, args));
  }
}

template <bool kStar, class F, class In>
std::string invoke_chunk(std::uint64_t fn, std::string_view bytes) {
  std::vector<In> xs = from_bytes<std::vector<In>>(bytes);
  auto&& f = callee<F>(fn);
  std::vector<CallResultT<kStar, F, In>> out;
  out.reserve(xs.size());
  for (auto& x : xs) {
    if constexpr (kStar) {
      out.push_back(std::apply(f, x));
    } else {
      out.push_back(f(x));
    }
  }
  return to_bytes(out);
}

}  // namespace detail

class ProcessPool : public detail::PoolBase<ProcessPool> {
 public:
  // Starts options.workers worker processes (0: mr::cpu_count()), each
  // running the initializer first, with `tasks` callable by them. Throws
  // std::invalid_argument for spawn/forkserver with a closure initializer or
  // a non-empty TaskTable, std::runtime_error if a worker process cannot be
  // started (e.g. spawn without mr::spawn_main_hook), std::system_error if
  // threads cannot be started.
  explicit ProcessPool(PoolOptions options = {}, TaskTable tasks = {});
  ProcessPool(const ProcessPool&) = delete;
  ProcessPool& operator=(const ProcessPool&) = delete;
  // close() + join().
  ~ProcessPool();

  // Queues f(args...) and returns its future. Arguments are converted to
  // copies and serialized now. Blocks while the queue is full; throws
  // std::logic_error after close()/terminate(), std::invalid_argument for a
  // BoundTask of another table.
  template <class F, class... Args>
  auto submit(F f, Args... args) -> Future<std::invoke_result_t<F&, Args&...>> {
    detail::check_travels<F>();
    static_assert((Serializable<Args> && ...),
                  "mr::ProcessPool::submit: every argument must be mr::Serializable (see "
                  "mr/base/serialize.h) to travel to a worker process");
    using R = std::invoke_result_t<F&, Args&...>;
    static_assert(detail::kResultTravels<R>,
                  "mr::ProcessPool::submit: the task's result must be void or "
                  "mr::Serializable to travel back from a worker process");
    check_bound(f);
    Promise<R> p;
    Future<R> fut = p.future();
    enqueue(fut.state(), reinterpret_cast<std::uint64_t>(&detail::invoke_one<F, Args...>),
            detail::fn_word(f), to_bytes(std::tuple<Args...>(std::move(args)...)),
            [p](std::string_view bytes) mutable {
              if constexpr (std::is_void_v<R>) {
                p.set_value();
              } else {
                p.set_value(from_bytes<R>(bytes));
              }
            });
    return fut;
  }

  // Internal (used by the PoolBase front end): one task over a chunk.
  template <bool kStar, class F, class In>
  auto submit_chunk(F f, std::vector<In> chunk) {
    detail::check_travels<F>();
    static_assert(Serializable<In>,
                  "mr::ProcessPool::map: the inputs must be mr::Serializable (see "
                  "mr/base/serialize.h) to travel to a worker process");
    using R = detail::CallResultT<kStar, F, In>;
    static_assert(Serializable<R>,
                  "mr::ProcessPool::map: the task's result must be mr::Serializable to travel "
                  "back from a worker process");
    check_bound(f);
    Promise<std::vector<R>> p;
    Future<std::vector<R>> fut = p.future();
    enqueue(fut.state(), reinterpret_cast<std::uint64_t>(&detail::invoke_chunk<kStar, F, In>),
            detail::fn_word(f), to_bytes(chunk), [p](std::string_view bytes) mutable {
              p.set_value(from_bytes<std::vector<R>>(bytes));
            });
    return fut;
  }

  void close();
  // Waits until every worker has been stopped and reaped. Throws
  // std::logic_error unless close() or terminate() was called.
  void join();
  // join() for at most `timeout`; false if workers still run.
  bool join_for(Timeout timeout);
  void terminate();
  // Cancels the tasks still waiting in the queue (their futures fail with
  // CancelledError; running ones go on) and returns how many. For
  // shutdown(wait, cancel_futures).
  std::size_t cancel_queued();

  // The number of worker slots.
  std::size_t size() const noexcept { return workers_; }
  std::size_t in_flight_limit() const noexcept;
  // The pids of the current workers (0 for a slot between workers).
  std::vector<pid_t> worker_pids() const;

 private:
  struct Job {
    std::uint64_t id = 0;
    std::shared_ptr<detail::StateBase> state;
    std::uint64_t invoker = 0;  // addresses (fork), or offsets into the modules below
    std::uint64_t fn = 0;
    std::string invoker_module;  // spawn/forkserver: the loaded objects invoker and fn are in
    std::string fn_module;
    std::string args;
    std::function<void(std::string_view)> complete;  // sets the typed value
    int attempts = 0;
    bool started = false;  // pending -> running done (a requeued task keeps it)
  };

  // A handler keeps up to kMaxAhead tasks (and kMaxAheadBytes of arguments)
  // in its worker's channel while at least kAheadMinQueuedPerWorker tasks
  // per worker are queued.
  static constexpr std::size_t kMaxAhead = 256;
  static constexpr std::size_t kMaxAheadBytes = 64 * 1024;
  static constexpr std::size_t kAheadMinQueuedPerWorker = 1;
  // Moves the jobs a handler with `in_flight` tasks (of `in_flight_bytes`)
  // in its worker's channel should send now, at most `limit` in all, from
  // the queue to `out`.
  std::size_t take_jobs_locked(std::size_t in_flight, std::size_t in_flight_bytes,
                               std::size_t limit, std::deque<Job>& out);

  template <class F>
  void check_bound(const F& f) const {
    if constexpr (detail::kIsBound<F>) {
      if (options_.start_method != StartMethod::kFork)
        throw std::invalid_argument(
            "mr::ProcessPool: a BoundTask (capturing callable) travels only by fork; this pool "
            "starts its workers with spawn or forkserver");
      if (!tasks_.contains(f.target()))
        throw std::invalid_argument(
            "mr::ProcessPool: this BoundTask was not in the TaskTable given to this pool's "
            "constructor, so its workers do not have it");
    }
  }

  void enqueue(std::shared_ptr<detail::StateBase> state, std::uint64_t invoker, std::uint64_t fn,
               std::string args, std::function<void(std::string_view)> complete);
  // Drives slot `slot`; `first_worker` (a Worker, type-erased) is its first
  // worker when the constructor started it, else empty.
  void handler_loop(std::size_t slot, std::shared_ptr<void> first_worker);

  friend class WorkerSlot;

  PoolOptions options_;
  TaskTable tasks_;
  std::size_t workers_ = 0;
  mutable std::mutex m_;
  std::condition_variable work_cv_;   // a job, closing or terminating
  std::condition_variable space_cv_;  // queue not full
  std::condition_variable exit_cv_;   // a handler ended or started its first worker
  std::deque<Job> queue_;
  std::size_t space_waiters_ = 0;  // submitters blocked on a full queue
  std::uint64_t next_id_ = 1;
  bool closed_ = false;
  bool terminated_ = false;
  std::size_t live_ = 0;          // handlers that have not ended
  std::size_t first_starts_ = 0;  // handlers past their first worker start
  std::vector<pid_t> pids_;
  std::string start_error_;  // why a first worker could not be started
  // spawn/forkserver: code address -> (module, offset), see code_address.h.
  std::unordered_map<std::uint64_t, std::pair<std::string, std::uint64_t>> code_refs_;
  std::vector<std::thread> handlers_;
};

}  // namespace mr
