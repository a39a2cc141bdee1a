#include "mr/pool/worker_process.h"

#include <signal.h>

namespace mr {

void WorkerProcess::await_connection(Listener& listener, const std::string& token,
                                     const WorkerStartLimits& limits) {
  // In short steps when the caller may cancel, so that it is heard at once.
  const Deadline connect_by = Deadline::after(limits.connect_timeout);
  const Timeout step = limits.cancelled ? Timeout(std::chrono::milliseconds(200))
                                        : limits.connect_timeout;
  for (;;) {
    if (limits.cancelled && limits.cancelled()) {
      kill();
      start_failure_ = "cancelled while starting";
      return;
    }
    try {
      // Only the process we started may connect (SO_PEERCRED: uid and pid).
      std::optional<SocketConnection> c =
          accept_child(listener, token, process_->sentinel(), process_->pid(),
                       std::min(connect_by.remaining(), step));
      if (!c) {
        process_->join();
        start_failure_ = describe_exit_code(*process_->exit_code()) + " while starting";
        return;
      }
      channel_ = Channel(std::move(*c));
      return;
    } catch (const TimeoutError&) {
      if (!connect_by.expired()) continue;
      kill();
      start_failure_ =
          "did not connect back within " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::seconds>(limits.connect_timeout).count()) +
          " s";
      return;
    }
  }
}

int WorkerProcess::kill() noexcept {
  try {
    if (!process_->exit_code()) process_->kill();
    process_->join();
    return *process_->exit_code();
  } catch (...) {
    return -SIGKILL;
  }
}

int WorkerProcess::reap(Timeout grace) noexcept {
  try {
    if (!process_->exit_code() && grace > Timeout::zero()) process_->join_for(grace);
  } catch (...) {
  }
  const int code = kill();
  channel_.close();
  return code;
}

}  // namespace mr
