// Condition variable between processes (and threads), the counterpart of
// Python's multiprocessing.Condition, over a Lock or an RLock.
//
// Built on a futex sequence word in shared memory, NOT on a process-shared
// pthread_cond_t (a waiter killed inside pthread_cond_wait corrupts one):
// notify bumps the sequence and wakes sleepers; a waiter sleeps while the
// sequence is still the one it read while holding the lock. A waiter killed
// while waiting leaves nothing behind.
//
// Like std::condition_variable, waits may wake spuriously and notify(n) may
// wake more than n waiters (those about to sleep); wait with a predicate, or
// re-check your condition in a loop. notify() does not require the lock to be
// held, but the state change it announces must be made under the lock.
//
// Handles: copies, and the copy a fork()ed child inherits, are the same
// condition over the same lock (see shared_state.h). Thread-safe and
// fork-safe.
#pragma once

#include <cstdint>
#include <variant>

#include "mr/base/deadline.h"
#include "mr/sync/lock.h"
#include "mr/sync/shared_state.h"

namespace mr {

class Condition {
 public:
  // Over a new Lock of its own.
  explicit Condition(Backing backing = Backing::kAnonymous);
  // Over `lock` (a handle: this condition shares the caller's lock).
  explicit Condition(Lock lock, Backing backing = Backing::kAnonymous);
  explicit Condition(RLock lock, Backing backing = Backing::kAnonymous);

  // The underlying lock, for convenience (Python's `with cond:`).
  // Same contracts as Lock/RLock, LockOwnerDied included.
  void acquire();
  bool acquire_for(Timeout timeout);
  bool try_acquire();
  void release();
  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return try_acquire(); }

  // Releases the lock (all levels of an RLock), sleeps until notified, and
  // re-acquires it before returning. The caller must hold the lock
  // (std::logic_error otherwise). May wake spuriously.
  void wait();
  // Like wait(), giving up after `timeout`: false when it ran out. The lock
  // is held again on return either way.
  bool wait_for(Timeout timeout);
  // Waits until `pred()` (evaluated under the lock) is true.
  template <class Pred>
  void wait(Pred pred) {
    while (!pred()) wait();
  }
  // Waits until `pred()` is true or `timeout` ran out; returns pred().
  template <class Pred>
  bool wait_for(Timeout timeout, Pred pred) {
    const Deadline deadline = Deadline::after(timeout);
    while (!pred()) {
      if (!wait_until(deadline)) return pred();
    }
    return true;
  }

  // Wakes at least one of up to `n` waiters (possibly more, see header).
  void notify(int n = 1);
  // Wakes every waiter.
  void notify_all();

  const SharedRegion& region() const noexcept { return block_.region(); }

 private:
  bool wait_until(const Deadline& deadline);
  std::variant<Lock, RLock> lock_;
  detail::SharedBlock block_;
};

}  // namespace mr
