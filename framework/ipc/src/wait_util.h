// Private helpers of the ipc layer's blocking calls.
#pragma once

#include <chrono>

#include "mr/base/deadline.h"

namespace mr::detail {

// The deadline of a *_for(timeout) call. Timeouts too long to add to the
// clock without overflow (Timeout::max(), or anything over a century) mean
// "never"; zero or negative means "already expired" (just check).
inline Deadline deadline_after(Timeout timeout) noexcept {
  using namespace std::chrono_literals;
  if (timeout >= std::chrono::hours(24 * 365 * 100)) return Deadline::never();
  return Deadline::after(timeout);
}

}  // namespace mr::detail
