// Errors and shared-state transitions of mr::Future.
#include "mr/pool/future.h"

#include <cxxabi.h>
#include <string.h>

#include <cstdlib>
#include <typeinfo>

namespace mr {

TaskError::TaskError(std::string type_name, std::string message)
    : std::runtime_error(type_name + ": " + message),
      type_name_(std::move(type_name)),
      message_(std::move(message)) {}

namespace {

std::string describe_death(pid_t pid, int status, std::uint64_t task_id) {
  std::string s = "worker " + std::to_string(pid);
  if (status < 0) {
    const char* abbrev = ::sigabbrev_np(-status);
    s += " killed by signal " + std::to_string(-status);
    if (abbrev) s += std::string(" (SIG") + abbrev + ")";
  } else {
    s += " exited with code " + std::to_string(status);
  }
  return s + " while running task " + std::to_string(task_id);
}

}  // namespace

WorkerDied::WorkerDied(pid_t pid, int status, std::uint64_t task_id)
    : std::runtime_error(describe_death(pid, status, task_id)),
      pid_(pid),
      status_(status),
      task_id_(task_id) {}

namespace detail {

std::string demangle(const char* mangled) {
  int rc = 0;
  char* out = abi::__cxa_demangle(mangled, nullptr, nullptr, &rc);
  if (rc != 0 || out == nullptr) return mangled;
  std::string s(out);
  std::free(out);
  return s;
}

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

bool StateBase::try_start() {
  std::lock_guard lock(m_);
  if (status_ != Status::kPending) return false;
  status_ = Status::kRunning;
  return true;
}

bool StateBase::cancel() {
  std::vector<std::function<void()>> cbs;
  {
    std::lock_guard lock(m_);
    if (status_ != Status::kPending) return status_ == Status::kCancelled;
    status_ = Status::kCancelled;
    error_ = std::make_exception_ptr(CancelledError("mr::Future: task was cancelled"));
    cbs.swap(callbacks_);
  }
  cv_.notify_all();
  for (auto& cb : cbs) cb();
  return true;
}

bool StateBase::set_exception(std::exception_ptr error) {
  return complete([&] { error_ = std::move(error); });
}

bool StateBase::abandon(const std::string& why) {
  return complete([&] { error_ = std::make_exception_ptr(CancelledError(why)); },
                  Status::kCancelled);
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
  return status_ == Status::kFinished && error_ != nullptr;
}

std::exception_ptr StateBase::error() const {
  std::lock_guard lock(m_);
  return error_;
}

void StateBase::on_done(std::function<void()> cb) {
  {
    std::lock_guard lock(m_);
    if (status_ != Status::kFinished && status_ != Status::kCancelled) {
      callbacks_.push_back(std::move(cb));
      return;
    }
  }
  cb();
}

}  // namespace detail
}  // namespace mr
