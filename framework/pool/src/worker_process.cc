#include "mr/pool/worker_process.h"

#include <signal.h>

namespace mr {

void WorkerProcess::await_connection(Listener& listener, const std::string& token,
                                     const WorkerStartLimits& limits) {
  try {
    std::optional<SocketConnection> c =
        accept_child(listener, token, process_->sentinel(), limits.connect_timeout);
    if (!c) {
      process_->join();
      start_failure_ = describe_exit_code(*process_->exit_code()) + " while starting";
      return;
    }
    channel_ = Channel(std::move(*c));
  } catch (const TimeoutError&) {
    kill();
    start_failure_ =
        "did not connect back within " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::seconds>(limits.connect_timeout).count()) +
        " s";
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
