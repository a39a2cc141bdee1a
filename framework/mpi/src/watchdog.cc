#include "watchdog.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace mr::detail {

Watchdog::Watchdog(std::chrono::duration<double> limit, Ending at_deadline,
                   std::function<void()> last_words, std::function<bool()> cancelled,
                   Ending when_cancelled)
    : at_deadline_(std::move(at_deadline)),
      when_cancelled_(std::move(when_cancelled)),
      last_words_(std::move(last_words)),
      cancelled_(std::move(cancelled)) {
  // The whole lines, made before the deadline.
  at_deadline_.message = "mapreduce: " + at_deadline_.message + "\n";
  when_cancelled_.message = "mapreduce: " + when_cancelled_.message + "\n";
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit);
  thread_ = std::thread([this, deadline] { watch(deadline); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    disarmed_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void Watchdog::watch(std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono_literals;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    const auto until =
        cancelled_ ? std::min(deadline, std::chrono::steady_clock::now() + 20ms) : deadline;
    if (wake_.wait_until(lock, until, [this] { return disarmed_; })) return;
    if (cancelled_ && cancelled_()) end(when_cancelled_);
    if (std::chrono::steady_clock::now() >= deadline) end(at_deadline_);
  }
}

void Watchdog::end(const Ending& ending) {
  if (last_words_) last_words_();
  // The guarded call is stuck in the other thread, which may hold stdio's
  // or MPI's locks: write(2) and _exit(2) only, no destructor runs.
  const std::string& text = ending.message;
  for (std::size_t at = 0; at < text.size();) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    at += static_cast<std::size_t>(n);
  }
  ::_exit(ending.status);
}

}  // namespace mr::detail
