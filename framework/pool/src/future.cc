// Errors and shared-state transitions of mr::Future.
#include "mr/pool/future.h"

#include <algorithm>

#include <cxxabi.h>
#include <string.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <typeinfo>

#include "mr/base/demangle.h"
#include "mr/process/process.h"

namespace mr {

TaskError::TaskError(std::string type_name, std::string message)
    : std::runtime_error(type_name + ": " + message),
      type_name_(std::move(type_name)),
      message_(std::move(message)) {}

namespace {

std::string describe_death(pid_t pid, int status, std::uint64_t task_id) {
  return "worker " + std::to_string(pid) + " " + describe_exit_code(status) +
         " while running task " + std::to_string(task_id);
}

}  // namespace

WorkerDied::WorkerDied(pid_t pid, int status, std::uint64_t task_id)
    : std::runtime_error(describe_death(pid, status, task_id)),
      pid_(pid),
      status_(status),
      task_id_(task_id) {}

namespace detail {

namespace {
// The exception types rebuilt by name (register_exception).
struct ExceptionRegistry {
  std::mutex mu;
  std::map<std::string, ExceptionFactory, std::less<>> by_name;
};
ExceptionRegistry& exception_registry() {
  static auto* r = new ExceptionRegistry;  // leaked on purpose: usable during exit
  return *r;
}
ExceptionFactory registered_factory(const std::string& type_name) {
  ExceptionRegistry& r = exception_registry();
  std::lock_guard lock(r.mu);
  auto it = r.by_name.find(type_name);
  return it == r.by_name.end() ? nullptr : it->second;
}
}  // namespace

void register_exception_factory(std::string type_name, ExceptionFactory make) {
  ExceptionRegistry& r = exception_registry();
  std::lock_guard lock(r.mu);
  r.by_name[std::move(type_name)] = make;
}

std::string demangled_name(const std::type_info& type) { return mr::demangle(type.name()); }

TaskError task_error_from_current() noexcept {
  try {
    std::string type = "unknown exception";
    if (const std::type_info* t = abi::__cxa_current_exception_type()) type = demangle(t->name());
    try {
      throw;
    } catch (const TaskError& e) {
      return e;  // already described (a nested future's error): keep it
    } catch (const std::exception& e) {
      return TaskError(std::move(type), e.what());
    } catch (...) {
      return TaskError(std::move(type), "");
    }
  } catch (...) {
    return TaskError("unknown exception", "(could not describe it)");
  }
}

ErrorValue ErrorValue::task(std::string type_name, std::string message) {
  ErrorValue e;
  e.kind = Kind::kTask;
  e.type_name = std::move(type_name);
  e.message = std::move(message);
  return e;
}

ErrorValue ErrorValue::worker_died(pid_t pid, int status, std::uint64_t task_id) {
  ErrorValue e;
  e.kind = Kind::kWorkerDied;
  e.pid = pid;
  e.status = status;
  e.task_id = task_id;
  return e;
}

ErrorValue ErrorValue::timeout(std::string message) {
  ErrorValue e;
  e.kind = Kind::kTimeout;
  e.message = std::move(message);
  return e;
}

ErrorValue ErrorValue::cancelled(std::string message) {
  ErrorValue e;
  e.kind = Kind::kCancelled;
  e.message = std::move(message);
  return e;
}

ErrorValue ErrorValue::runtime(std::string message) {
  ErrorValue e;
  e.kind = Kind::kRuntime;
  e.message = std::move(message);
  return e;
}

ErrorValue ErrorValue::current() noexcept {
  try {
    TaskError t = task_error_from_current();
    return task(t.type_name(), t.message());
  } catch (...) {
    return ErrorValue{};  // out of memory copying the strings
  }
}

ErrorValue ErrorValue::current_with_original() noexcept {
  ErrorValue e = current();
  try {
    throw;
  } catch (const TaskError&) {
    // Already a described error (a nested future's): keep it as values.
  } catch (...) {
    e.original = std::current_exception();
  }
  return e;
}

ErrorValue ErrorValue::from(std::exception_ptr e) noexcept {
  try {
    if (!e) return task("unknown exception", "(null exception_ptr)");
    try {
      std::rethrow_exception(e);
    } catch (const WorkerDied& w) {
      return worker_died(w.pid(), w.signal() != 0 ? -w.signal() : w.exit_code(), w.task_id());
    } catch (const TimeoutError& t) {
      return timeout(t.what());
    } catch (const CancelledError& c) {
      return cancelled(c.what());
    } catch (...) {
      return current();
    }
  } catch (...) {
    return ErrorValue{};
  }
}

void ErrorValue::raise() const {
  switch (kind) {
    case Kind::kWorkerDied:
      throw WorkerDied(pid, status, task_id);
    case Kind::kTimeout:
      throw TimeoutError(message);
    case Kind::kCancelled:
      throw CancelledError(message);
    case Kind::kRuntime:
      throw std::runtime_error(message);
    case Kind::kTask:
      break;
  }
  if (original) std::rethrow_exception(original);
  if (ExceptionFactory make = registered_factory(type_name)) std::rethrow_exception(make(message));
  throw TaskError(type_name, message);
}

std::exception_ptr ErrorValue::to_exception_ptr() const noexcept {
  if (original) return original;
  try {
    raise();
  } catch (...) {
    return std::current_exception();
  }
}

bool StateBase::try_start() {
  std::lock_guard lock(m_);
  if (status_ != Status::kPending) return false;
  status_ = Status::kRunning;
  return true;
}

bool StateBase::cancel() {
  std::vector<Callback> cbs;
  {
    std::lock_guard lock(m_);
    if (status_ != Status::kPending) return status_ == Status::kCancelled;
    status_ = Status::kCancelled;
    error_ = ErrorValue::cancelled("mr::Future: task was cancelled");
    cbs.swap(callbacks_);
  }
  cv_.notify_all();
  for (auto& cb : cbs) cb.second();
  return true;
}

bool StateBase::set_error(ErrorValue error) {
  return complete([&] { error_ = std::move(error); });
}

bool StateBase::set_exception(std::exception_ptr error) {
  return set_error(ErrorValue::from(std::move(error)));
}

bool StateBase::abandon(const std::string& why) {
  return complete([&] { error_ = ErrorValue::cancelled(why); }, Status::kCancelled);
}

void StateBase::wait() const {
  std::unique_lock lock(m_);
  cv_.wait(lock, [&] { return status_ == Status::kFinished || status_ == Status::kCancelled; });
}

bool StateBase::wait_until(const Deadline& deadline) const {
  std::unique_lock lock(m_);
  auto done = [&] { return status_ == Status::kFinished || status_ == Status::kCancelled; };
  if (deadline.is_never()) {
    cv_.wait(lock, done);
    return true;
  }
  return cv_.wait_for(lock, deadline.remaining(), done);
}

StateBase::Status StateBase::status() const {
  std::lock_guard lock(m_);
  return status_;
}

bool StateBase::done() const {
  std::lock_guard lock(m_);
  return status_ == Status::kFinished || status_ == Status::kCancelled;
}

bool StateBase::failed() const {
  std::lock_guard lock(m_);
  return status_ == Status::kFinished && error_.has_value();
}

std::optional<ErrorValue> StateBase::error() const {
  std::lock_guard lock(m_);
  return error_;
}

std::uint64_t StateBase::on_done(std::function<void()> cb) {
  {
    std::lock_guard lock(m_);
    if (status_ != Status::kFinished && status_ != Status::kCancelled) {
      const std::uint64_t id = ++last_callback_id_;
      callbacks_.emplace_back(id, std::move(cb));
      return id;
    }
  }
  cb();
  return 0;
}

std::size_t StateBase::pending_callbacks() const {
  std::lock_guard lock(m_);
  return callbacks_.size();
}

void StateBase::remove_done(std::uint64_t id) {
  if (id == 0) return;
  std::function<void()> removed;  // destroyed outside the lock
  std::lock_guard lock(m_);
  auto it = std::find_if(callbacks_.begin(), callbacks_.end(),
                         [&](const Callback& c) { return c.first == id; });
  if (it == callbacks_.end()) return;
  removed = std::move(it->second);
  callbacks_.erase(it);
}

}  // namespace detail
}  // namespace mr
