// Deadline: the end of a timed wait on CLOCK_MONOTONIC, or "never".
// Every blocking call of the framework takes an optional timeout and turns it
// into one of these, so that loops that wake spuriously keep the original
// deadline instead of restarting the timeout.
#pragma once

#include <time.h>

#include <chrono>
#include <optional>

namespace mr {

// The timeout type of every *_for() call in the framework. Any integral
// std::chrono duration (ms, s, ...) converts to it implicitly.
using Timeout = std::chrono::nanoseconds;

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC on Linux

  // A deadline that never expires.
  static Deadline never() noexcept { return Deadline(); }
  // A deadline `timeout` from now; a negative timeout is already expired.
  template <class Rep, class Period>
  static Deadline after(std::chrono::duration<Rep, Period> timeout) noexcept {
    return Deadline(Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout));
  }
  // From an optional timeout: empty means never.
  template <class Duration>
  static Deadline from(const std::optional<Duration>& timeout) noexcept {
    return timeout ? after(*timeout) : never();
  }

  bool is_never() const noexcept { return !at_; }
  bool expired() const noexcept { return at_ && Clock::now() >= *at_; }

  // Time left, clamped at zero; only meaningful when !is_never().
  Clock::duration remaining() const noexcept {
    if (!at_) return Clock::duration::max();
    auto left = *at_ - Clock::now();
    return left < Clock::duration::zero() ? Clock::duration::zero() : left;
  }

  // Milliseconds left for poll(2): -1 for never, rounded up otherwise.
  int poll_timeout_ms() const noexcept;

  // The remaining time as a relative timespec (for futex(2)).
  timespec remaining_timespec() const noexcept;

 private:
  Deadline() = default;
  explicit Deadline(Clock::time_point at) : at_(at) {}
  std::optional<Clock::time_point> at_;
};

}  // namespace mr
