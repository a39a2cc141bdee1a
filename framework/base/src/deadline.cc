#include "mr/base/deadline.h"

#include <climits>

namespace mr {

int Deadline::poll_timeout_ms() const noexcept {
  if (!at_) return -1;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(remaining()).count();
  return left > INT_MAX ? INT_MAX : static_cast<int>(left);
}

timespec Deadline::remaining_timespec() const noexcept {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(remaining()).count();
  timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return ts;
}

}  // namespace mr
