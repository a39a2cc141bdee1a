// Future<R> and Promise<R>: the result of a task that runs somewhere else (a
// thread of a ThreadPool, a worker process of a ProcessPool), in the spirit
// of Python's concurrent.futures.Future.
//
//   mr::Future<int> f = pool.submit(square, 7);
//   f.then([](int v) { return v + 1; }).get();          // 50
//   for (mr::Future<int> done : mr::as_completed(futures)) use(done.get());
//   auto [done, not_done] = mr::wait(futures, mr::ReturnWhen::kFirstException, 2s);
//
// A future is a cheap copyable handle on a shared state; every copy sees the
// same result. The state moves pending -> running -> finished, or pending ->
// cancelled. What get() throws when there is no value, the same for both
// pools:
//  - the task's own exception, from a ThreadPool: the very object the task
//    threw (as Python's concurrent.futures does), shared by every get().
//  - from a ProcessPool (the object cannot cross a process boundary): an
//    exception type registered with mr::register_exception<E>() comes back
//    as a new E built from the what() text; any other type as
//    mr::TaskError, carrying the demangled type name ("std::out_of_range")
//    and the what() text.
//  - mr::WorkerDied: the worker process died while running the task.
//  - mr::TimeoutError (mr/base/error.h): the task ran past the pool's
//    per-task timeout.
//  - mr::CancelledError: the task was cancelled before it started, or the
//    pool was terminated before it finished.
// Timed waits follow the project's rule: get_for()/wait_for() return an
// empty optional / false when the wait times out; they never throw
// TimeoutError for that.
//
// A state keeps an error as plain values (detail::ErrorValue: kind, type
// name, message): each get() throws a fresh exception built from them on
// the calling thread, and exception() returns a fresh std::exception_ptr
// owned by its caller. The one exception is a ThreadPool task's own
// exception object, which is kept and rethrown as is.
//
// Thread-safety: every member is safe to call from any thread. Done
// callbacks run on the thread that completes the state (a pool's worker
// thread or its dispatcher thread), or at once on the caller's thread when
// the state is already complete; they must not block for long. Fork-safety:
// a state is process-local; a forked child must not wait on a parent's
// futures.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/base/error.h"

namespace mr {

// A task threw. type_name() is the demangled type of what it threw
// ("std::out_of_range", "int"), message() its what() text (empty when it was
// not a std::exception); what() is "type: message".
class TaskError : public std::runtime_error {
 public:
  TaskError(std::string type_name, std::string message);
  const std::string& type_name() const noexcept { return type_name_; }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string type_name_;
  std::string message_;
};

// The worker process running a task died (signal or exit) before answering.
// what(): "worker 12345 killed by signal 9 (SIGKILL) while running task 17"
// or "worker 12345 exited with code 3 while running task 17".
class WorkerDied : public std::runtime_error {
 public:
  // `status` is the process layer's exit code: >= 0 an exit code, < 0 the
  // negated signal number.
  WorkerDied(pid_t pid, int status, std::uint64_t task_id);
  pid_t pid() const noexcept { return pid_; }
  // The killing signal, or 0 when the worker exited.
  int signal() const noexcept { return status_ < 0 ? -status_ : 0; }
  // The exit code, or -1 when a signal killed the worker.
  int exit_code() const noexcept { return status_ >= 0 ? status_ : -1; }
  std::uint64_t task_id() const noexcept { return task_id_; }

 private:
  pid_t pid_;
  int status_;
  std::uint64_t task_id_;
};

// The task was cancelled before it started, or its pool was terminated.
class CancelledError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// When mr::wait() returns, as in Python's concurrent.futures.wait.
enum class ReturnWhen { kFirstCompleted, kFirstException, kAllCompleted };

namespace detail {
// Makes an E from a what() text; registered per demangled type name.
using ExceptionFactory = std::exception_ptr (*)(const std::string& message);
void register_exception_factory(std::string type_name, ExceptionFactory make);
std::string demangled_name(const std::type_info& type);
}  // namespace detail

// Makes a task error whose type is E come back as an E (built from its
// what() text) instead of a mr::TaskError naming "E": what a ProcessPool
// task throws, and any promise completed with an E, wherever a TaskError
// would carry its name. E derives from std::exception and is constructible
// from a std::string. Call it in the parent (before the futures are read);
// thread-safe; registering again is harmless.
//
//   struct NotFound : std::runtime_error { using std::runtime_error::runtime_error; };
//   mr::register_exception<NotFound>();
//   try { pool.submit(lookup, key).get(); } catch (const NotFound& e) { ... }
template <class E>
void register_exception() {
  static_assert(std::is_base_of_v<std::exception, E> && std::is_constructible_v<E, std::string>,
                "mr::register_exception<E>: E must derive from std::exception and be "
                "constructible from a std::string (its what() text)");
  detail::register_exception_factory(detail::demangled_name(typeid(E)),
                                     [](const std::string& message) -> std::exception_ptr {
                                       return std::make_exception_ptr(E(message));
                                     });
}

namespace detail {

// Builds a TaskError from the exception being handled; call only inside a
// catch block.
TaskError task_error_from_current() noexcept;

// Why a state has no value, kept as values so that no exception object is
// shared between the completing thread and the waiting ones.
struct ErrorValue {
  enum class Kind : std::uint8_t { kTask, kWorkerDied, kTimeout, kCancelled, kRuntime };
  Kind kind = Kind::kTask;
  std::string type_name;  // kTask: the demangled type of what the task threw
  std::string message;    // kTask: its what() text; otherwise the error's what()
  pid_t pid = 0;          // kWorkerDied: the worker, its exit status, the task
  int status = 0;
  std::uint64_t task_id = 0;
  std::exception_ptr original;  // kTask from a ThreadPool: the object the task threw

  static ErrorValue task(std::string type_name, std::string message);
  static ErrorValue worker_died(pid_t pid, int status, std::uint64_t task_id);
  static ErrorValue timeout(std::string message);
  static ErrorValue cancelled(std::string message);
  static ErrorValue runtime(std::string message);
  // The exception being handled, as a task error (TaskError kept as is);
  // call only inside a catch block.
  static ErrorValue current() noexcept;
  // current(), also keeping the exception object itself (a ThreadPool's
  // task: rethrown as is).
  static ErrorValue current_with_original() noexcept;
  // Classifies `e`: TaskError, WorkerDied, TimeoutError and CancelledError
  // keep their kind; anything else becomes a task error (type name + what()).
  static ErrorValue from(std::exception_ptr e) noexcept;

  // Throws the original exception if one is kept, else a fresh registered
  // type (register_exception), TaskError, WorkerDied, TimeoutError,
  // CancelledError or std::runtime_error built from the values.
  [[noreturn]] void raise() const;
  // A fresh exception_ptr to that same exception.
  std::exception_ptr to_exception_ptr() const noexcept;
};

// The part of a future's shared state that does not depend on R.
class StateBase {
 public:
  enum class Status { kPending, kRunning, kFinished, kCancelled };

  StateBase() = default;
  StateBase(const StateBase&) = delete;
  StateBase& operator=(const StateBase&) = delete;
  virtual ~StateBase() = default;

  // pending -> running. False when the state was cancelled or finished (the
  // executor must then skip the task).
  bool try_start();
  // pending -> cancelled; true if cancelled now or before (as Python's
  // Future.cancel()), false once running or finished.
  bool cancel();
  // Finishes with an error (from pending or running). False (and nothing
  // happens) when the state is already finished or cancelled.
  bool set_error(ErrorValue error);
  // set_error(ErrorValue::from(error)).
  bool set_exception(std::exception_ptr error);
  // Like set_exception, but marks the state cancelled (terminate()).
  bool abandon(const std::string& why);

  void wait() const;
  bool wait_until(const Deadline& deadline) const;
  Status status() const;
  bool done() const;
  // Finished with an error that is not a cancellation.
  bool failed() const;
  // A copy of the error; empty while pending or running, or after a value.
  std::optional<ErrorValue> error() const;

  // Runs `cb` once the state is finished or cancelled: at once (on this
  // thread) if it already is. Returns an id for remove_done() (0 when `cb`
  // already ran).
  std::uint64_t on_done(std::function<void()> cb);
  // Drops the callback `id` if it has not run yet (so that waiting on a
  // future many times does not pile callbacks up on it).
  void remove_done(std::uint64_t id);
  // Callbacks registered and not run yet.
  std::size_t pending_callbacks() const;

 protected:
  // Under the lock, runs `fill` and marks the state finished, then wakes
  // waiters and runs callbacks outside the lock. False if already done.
  template <class Fill>
  bool complete(Fill&& fill, Status final_status = Status::kFinished) {
    std::vector<Callback> cbs;
    {
      std::lock_guard lock(m_);
      if (status_ == Status::kFinished || status_ == Status::kCancelled) return false;
      fill();
      status_ = final_status;
      cbs.swap(callbacks_);
    }
    cv_.notify_all();
    for (auto& cb : cbs) cb.second();
    return true;
  }

  mutable std::mutex m_;
  mutable std::condition_variable cv_;
  Status status_ = Status::kPending;
  std::optional<ErrorValue> error_;
  using Callback = std::pair<std::uint64_t, std::function<void()>>;
  std::vector<Callback> callbacks_;
  std::uint64_t last_callback_id_ = 0;
};

template <class R>
class State : public StateBase {
 public:
  bool set_value(R value) {
    return complete([&] { value_.emplace(std::move(value)); });
  }
  // Only after done() and without error.
  const R& value() const { return *value_; }

 private:
  std::optional<R> value_;
};

template <>
class State<void> : public StateBase {
 public:
  bool set_value() {
    return complete([] {});
  }
};

template <class R>
struct GetResult {
  using type = const R&;
};
template <>
struct GetResult<void> {
  using type = void;
};

template <class R>
struct GetForResult {
  using type = std::optional<R>;
};
template <>
struct GetForResult<void> {
  using type = bool;
};

// f(value) or f() for void, typed.
template <class F, class R>
struct ThenResult {
  using type = std::invoke_result_t<F&, const R&>;
};
template <class F>
struct ThenResult<F, void> {
  using type = std::invoke_result_t<F&>;
};

}  // namespace detail

template <class R>
class Promise;

template <class R>
class Future {
 public:
  using value_type = R;

  // An invalid future (valid() is false); every other call then throws
  // std::logic_error... or is undefined: only use futures a pool gave you.
  Future() = default;
  // Internal: a future on `state` (what Promise::future() returns).
  explicit Future(std::shared_ptr<detail::State<R>> state) : state_(std::move(state)) {}

  bool valid() const noexcept { return state_ != nullptr; }

  // Waits for the result and returns it (a reference into the shared state,
  // alive as long as any copy of this future). Throws TaskError,
  // WorkerDied, TimeoutError or CancelledError as described above.
  typename detail::GetResult<R>::type get() const {
    check();
    state_->wait();
    if (auto e = state_->error()) e->raise();
    if constexpr (!std::is_void_v<R>) return state_->value();
  }

  // get() that waits at most `timeout`: an empty optional (false for
  // Future<void>) when the result is not there by then.
  typename detail::GetForResult<R>::type get_for(Timeout timeout) const {
    check();
    if (!state_->wait_until(Deadline::after(timeout))) return {};
    if (auto e = state_->error()) e->raise();
    if constexpr (std::is_void_v<R>) {
      return true;
    } else {
      return std::optional<R>(state_->value());
    }
  }

  // Waits until finished or cancelled (never throws the task's error).
  void wait() const {
    check();
    state_->wait();
  }
  // wait() for at most `timeout`; false on timeout.
  bool wait_for(Timeout timeout) const {
    check();
    return state_->wait_until(Deadline::after(timeout));
  }

  // Finished (value or error) or cancelled.
  bool ready() const {
    check();
    return state_->done();
  }
  bool running() const {
    check();
    return state_->status() == detail::StateBase::Status::kRunning;
  }
  // Cancels a task that has not started yet (get() then throws
  // CancelledError). True if the future is cancelled (now or before), false
  // once the task runs or is done, as Python's Future.cancel().
  bool cancel() {
    check();
    return state_->cancel();
  }
  bool cancelled() const {
    check();
    return state_->status() == detail::StateBase::Status::kCancelled;
  }
  // Waits, then returns the error get() would throw (a fresh exception
  // object, owned by the returned pointer), or null for a value.
  std::exception_ptr exception() const {
    check();
    state_->wait();
    auto e = state_->error();
    return e ? e->to_exception_ptr() : nullptr;
  }
  // exception() waiting at most `timeout` (Python's exception(timeout)):
  // empty when the future is still not done then.
  std::optional<std::exception_ptr> exception_for(Timeout timeout) const {
    if (!wait_for(timeout)) return std::nullopt;
    return exception();
  }

  // Calls `f(future)` with a copy of this future once it is done: at once on
  // this thread if it already is, otherwise on the completing thread.
  // Exceptions thrown by `f` are swallowed (as Python logs and ignores
  // them).
  template <class F>
  void add_done_callback(F f) {
    check();
    state_->on_done([self = *this, f = std::move(f)]() mutable {
      try {
        f(self);
      } catch (...) {
      }
    });
  }

  // A future of `f(value)` (`f()` for Future<void>), computed on the thread
  // that completes this one. This future's error passes through unchanged;
  // an exception from `f` becomes a TaskError.
  template <class F>
  auto then(F f) -> Future<typename detail::ThenResult<F, R>::type> {
    using U = typename detail::ThenResult<F, R>::type;
    check();
    auto next = std::make_shared<detail::State<U>>();
    next->try_start();
    state_->on_done([src = state_, next, f = std::move(f)]() mutable {
      if (auto e = src->error()) {
        next->set_error(std::move(*e));
        return;
      }
      try {
        if constexpr (std::is_void_v<R> && std::is_void_v<U>) {
          f();
          next->set_value();
        } else if constexpr (std::is_void_v<R>) {
          next->set_value(f());
        } else if constexpr (std::is_void_v<U>) {
          f(src->value());
          next->set_value();
        } else {
          next->set_value(f(src->value()));
        }
      } catch (...) {
        next->set_error(detail::ErrorValue::current());
      }
    });
    return Future<U>(std::move(next));
  }

  // Internal: the shared state (executors use it to start/complete tasks).
  const std::shared_ptr<detail::State<R>>& state() const noexcept { return state_; }

  friend bool operator==(const Future& a, const Future& b) noexcept { return a.state_ == b.state_; }

 private:
  void check() const {
    if (!state_) throw std::logic_error("mr::Future: no state (default-constructed future)");
  }
  std::shared_ptr<detail::State<R>> state_;
};

// The producing end of a Future: an executor (or a user) creates one,
// hands out future(), and later calls set_value()/set_exception() once.
// Copyable; thread-safe. A promise that is dropped without a result leaves
// its futures waiting forever: executors always complete theirs.
template <class R>
class Promise {
 public:
  Promise() : state_(std::make_shared<detail::State<R>>()) {}

  Future<R> future() const { return Future<R>(state_); }
  // pending -> running; false if the future was cancelled (skip the work).
  bool set_running() { return state_->try_start(); }
  // Completes with a value; false if already complete or cancelled.
  template <class... V>
  bool set_value(V&&... v) {
    return state_->set_value(std::forward<V>(v)...);
  }
  // Completes with an error: a TaskError, WorkerDied, TimeoutError or
  // CancelledError keeps its kind, anything else becomes a TaskError (type
  // name + what()); the exception object itself is not kept.
  bool set_exception(std::exception_ptr e) { return state_->set_exception(std::move(e)); }
  // Internal: completes with an error given as values.
  bool set_error(detail::ErrorValue e) { return state_->set_error(std::move(e)); }

 private:
  std::shared_ptr<detail::State<R>> state_;
};

// A future that is already complete with `value`.
template <class R>
Future<std::decay_t<R>> make_ready_future(R&& value) {
  Promise<std::decay_t<R>> p;
  p.set_value(std::forward<R>(value));
  return p.future();
}

namespace detail {

// Indices of futures in the order they complete, fed by done callbacks.
// Shared with the callbacks, so it outlives an abandoned as_completed().
struct CompletionChannel {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::size_t> done;
  std::size_t failed = 0;

  void push(std::size_t index, bool is_failure) {
    {
      std::lock_guard lock(m);
      done.push_back(index);
      if (is_failure) ++failed;
    }
    cv.notify_all();
  }
};

// `futures` with each shared state once, in order of first appearance (a
// set of futures, as Python's as_completed() and wait() take one).
template <class R>
std::vector<Future<R>> distinct_futures(std::vector<Future<R>> futures) {
  std::vector<Future<R>> out;
  out.reserve(futures.size());
  for (auto& f : futures)
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(std::move(f));
  return out;
}

}  // namespace detail

// The futures of a set in the order they complete (Python's as_completed):
// a single-pass range whose iterator blocks until the next one is done.
// A future given more than once (copies of one state) is yielded once.
// With a timeout, advancing past the deadline throws mr::TimeoutError (as
// Python raises TimeoutError); next_for() is the non-throwing alternative.
// Not thread-safe (one consumer); the futures themselves may complete on
// any thread.
template <class R>
class AsCompleted {
 public:
  AsCompleted(std::vector<Future<R>> futures, std::optional<Timeout> timeout)
      : futures_(detail::distinct_futures(std::move(futures))),
        channel_(std::make_shared<detail::CompletionChannel>()),
        deadline_(Deadline::from(timeout)) {
    callback_ids_.reserve(futures_.size());
    for (std::size_t i = 0; i < futures_.size(); ++i) {
      auto state = futures_[i].state();
      callback_ids_.push_back(
          state->on_done([ch = channel_, i, st = state.get()] { ch->push(i, st->failed()); }));
    }
  }
  AsCompleted(const AsCompleted&) = delete;
  AsCompleted& operator=(const AsCompleted&) = delete;
  AsCompleted(AsCompleted&&) noexcept = default;
  AsCompleted& operator=(AsCompleted&&) noexcept = default;
  // Takes its callbacks off the futures that are still running.
  ~AsCompleted() {
    for (std::size_t i = 0; i < callback_ids_.size(); ++i)
      futures_[i].state()->remove_done(callback_ids_[i]);
  }

  // The next completed future, or empty when all have been returned.
  // Throws TimeoutError when the overall deadline passes first.
  std::optional<Future<R>> next() {
    auto f = next_until(deadline_);
    if (!f && returned_ < futures_.size())
      throw TimeoutError("mr::as_completed: " + std::to_string(futures_.size() - returned_) +
                         " of " + std::to_string(futures_.size()) +
                         " futures unfinished at the deadline");
    return f;
  }
  // The next completed future within `timeout`; empty when none completed
  // in time or all have been returned (remaining() tells which).
  std::optional<Future<R>> next_for(Timeout timeout) {
    return next_until(Deadline::after(timeout));
  }
  std::size_t remaining() const noexcept { return futures_.size() - returned_; }

  class iterator {
   public:
    using value_type = Future<R>;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(AsCompleted* owner) : owner_(owner) { advance(); }
    const Future<R>& operator*() const { return *current_; }
    const Future<R>* operator->() const { return &*current_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return !it.current_.has_value();
    }

   private:
    void advance() { current_ = owner_->next(); }
    AsCompleted* owner_ = nullptr;
    std::optional<Future<R>> current_;
  };

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  std::optional<Future<R>> next_until(const Deadline& deadline) {
    if (returned_ == futures_.size()) return std::nullopt;
    std::unique_lock lock(channel_->m);
    while (channel_->done.empty()) {
      if (deadline.is_never()) {
        channel_->cv.wait(lock);
      } else if (channel_->cv.wait_for(lock, deadline.remaining()) == std::cv_status::timeout &&
                 channel_->done.empty()) {
        return std::nullopt;
      }
    }
    std::size_t i = channel_->done.front();
    channel_->done.pop_front();
    ++returned_;
    return futures_[i];
  }

  std::vector<Future<R>> futures_;
  std::vector<std::uint64_t> callback_ids_;  // of on_done(), one per future
  std::shared_ptr<detail::CompletionChannel> channel_;
  Deadline deadline_;
  std::size_t returned_ = 0;
};

template <class R>
AsCompleted<R> as_completed(std::vector<Future<R>> futures,
                            std::optional<Timeout> timeout = std::nullopt) {
  return AsCompleted<R>(std::move(futures), timeout);
}

// What mr::wait() on futures returns (Python's DoneAndNotDoneFutures): both
// in the order of the input, each future once (a future given more than
// once appears once, as in Python's sets). Not named WaitResult: that is what mr::wait() on
// connections returns (mr/ipc/wait.h), and both headers may meet in one file.
template <class R>
struct DoneAndNotDone {
  std::vector<Future<R>> done;
  std::vector<Future<R>> not_done;
};

// Waits until `when` holds (kFirstException: some future failed, or all are
// done; cancellations are not exceptions) or the timeout passes, then splits
// the futures into done and not done. Never throws the tasks' errors.
template <class R>
DoneAndNotDone<R> wait(const std::vector<Future<R>>& given,
                       ReturnWhen when = ReturnWhen::kAllCompleted,
                       std::optional<Timeout> timeout = std::nullopt) {
  const std::vector<Future<R>> futures = detail::distinct_futures(given);
  auto ch = std::make_shared<detail::CompletionChannel>();
  std::vector<std::uint64_t> ids;
  ids.reserve(futures.size());
  for (std::size_t i = 0; i < futures.size(); ++i) {
    auto state = futures[i].state();
    ids.push_back(state->on_done([ch, i, st = state.get()] { ch->push(i, st->failed()); }));
  }
  const Deadline deadline = Deadline::from(timeout);
  {
    std::unique_lock lock(ch->m);
    auto satisfied = [&] {
      if (ch->done.size() == futures.size()) return true;
      if (when == ReturnWhen::kFirstCompleted) return !ch->done.empty();
      if (when == ReturnWhen::kFirstException) return ch->failed > 0;
      return false;
    };
    while (!satisfied()) {
      if (deadline.is_never()) {
        ch->cv.wait(lock);
      } else if (ch->cv.wait_for(lock, deadline.remaining()) == std::cv_status::timeout) {
        break;
      }
    }
  }
  for (std::size_t i = 0; i < futures.size(); ++i) futures[i].state()->remove_done(ids[i]);
  DoneAndNotDone<R> out;
  for (const auto& f : futures) (f.ready() ? out.done : out.not_done).push_back(f);
  return out;
}

}  // namespace mr
