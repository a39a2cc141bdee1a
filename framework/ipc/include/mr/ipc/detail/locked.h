// with_lock(): runs a function while holding a process-shared lock, for the
// locked operations of Value, Array and SharedDict.
#pragma once

#include <utility>

#include "mr/sync/lock.h"

namespace mr::detail {

// Acquires `lock`, runs `fn()`, releases (also when fn throws). If the
// previous holder died holding the lock (LockOwnerDied), the lock is ours
// anyway and `fn` runs: the data in these containers stays well-formed
// bytes (at worst a half-written value, or a map that repairs itself), so
// going on is the useful choice, unlike for arbitrary user data.
template <class L, class F>
decltype(auto) with_lock(L& lock, F&& fn) {
  try {
    lock.acquire();
  } catch (const LockOwnerDied&) {
    // Held by us now; carry on.
  }
  LockGuard<L> guard(lock, std::adopt_lock);
  return std::forward<F>(fn)();
}

}  // namespace mr::detail
