#include "mr/base/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace mr {

// The words may be shared between processes, so the FUTEX_PRIVATE_FLAG
// variants must not be used.
bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                const Deadline& deadline) noexcept {
  timespec ts;
  const timespec* tsp = nullptr;
  if (!deadline.is_never()) {
    if (deadline.expired()) return word->load(std::memory_order_acquire) != expected;
    ts = deadline.remaining_timespec();
    tsp = &ts;
  }
  long r = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, tsp,
                     nullptr, 0);
  if (r == -1 && errno == ETIMEDOUT) return false;
  return true;  // woken, value changed (EAGAIN), or EINTR: the caller re-checks
}

void futex_wake(std::atomic<std::uint32_t>* word, int count) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, count, nullptr, nullptr,
            0);
}

}  // namespace mr
