// Lock and RLock: mutual exclusion between processes (and threads), the
// counterparts of Python's multiprocessing.Lock / RLock.
//
// Both are built on a robust, process-shared pthread mutex
// (PTHREAD_MUTEX_ROBUST + PTHREAD_PROCESS_SHARED) living in shared memory.
//
// Handles: a Lock is a handle to shared state. Copies, and the copy that a
// fork()ed child inherits, are the same lock; the state is freed with the
// last handle. See shared_state.h for memfd backing and attach().
//
// Thread-safe and fork-safe: the state is in MAP_SHARED memory, so parent
// and children contend on the same mutex. Ownership is per thread (the
// kernel thread id): a lock held by the parent when it forks is NOT held by
// the child, and only the holding thread may release it.
//
// Owner death contract (both Lock and RLock): if the holder dies (killed,
// _exit) while holding the lock, the next acquirer gets the lock and the
// acquire call throws mr::LockOwnerDied. At that point the lock IS HELD by the
// caller and is already marked consistent (usable again); the data it
// protects may be half-updated. Repair it, then call release() (or adopt it:
// `mr::LockGuard g(lock, std::adopt_lock);`). For an RLock the caller holds
// it at depth 1. A guard whose constructor throws LockOwnerDied does not
// release, so catch around it:
//
//   try {
//     mr::LockGuard g(lock);
//     ++shared->counter;
//   } catch (const mr::LockOwnerDied&) {
//     mr::LockGuard g(lock, std::adopt_lock);
//     repair(shared);
//   }
//
// Differences from Python, on purpose: releasing a Lock that the calling
// thread does not hold throws std::logic_error (Python's Lock may be released
// by anyone), and a blocking re-acquire of a Lock the calling thread already
// holds throws std::logic_error instead of deadlocking (a non-blocking
// try_acquire() simply returns false, as Python's does).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>

#include "mr/base/deadline.h"
#include "mr/sync/shared_state.h"

namespace mr {

// The previous holder of a Lock/RLock died while holding it. Thrown by the
// acquire call that obtained the lock; the caller now holds it (see above).
class LockOwnerDied : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Condition;

// A non-recursive process-shared lock. Also meets the standard Lockable and
// TimedLockable requirements (lock/unlock/try_lock/try_lock_for), so
// std::lock_guard, std::unique_lock and std::scoped_lock work.
class Lock {
 public:
  // A new, unlocked lock in anonymous shared memory (or a memfd).
  explicit Lock(Backing backing = Backing::kAnonymous);
  // A handle to a lock created elsewhere whose memfd region was passed here
  // (for exec()ed processes). Throws std::invalid_argument if the region
  // does not hold a Lock.
  static Lock attach(SharedRegion region);

  // Blocks until held. Throws LockOwnerDied (lock held, see header),
  // std::logic_error when the calling thread already holds it.
  void acquire();
  // Like acquire(), giving up after `timeout`: false when it ran out.
  bool acquire_for(Timeout timeout);
  // Takes the lock if it is free right now; false otherwise, also when the
  // calling thread holds it already (Python's acquire(blocking=False)).
  bool try_acquire();
  // Releases it; std::logic_error when the caller does not hold it.
  void release();
  // True while some thread of some process holds it (Python's locked()): a
  // snapshot, which may be stale by the time the caller looks at it.
  bool locked() const noexcept;

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return try_acquire(); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return acquire_for(std::chrono::duration_cast<Timeout>(timeout));
  }

  // The shared memory of the state (its fd() for a memfd backing).
  const SharedRegion& region() const noexcept { return block_.region(); }

 private:
  friend class Condition;
  explicit Lock(detail::SharedBlock block) : block_(std::move(block)) {}
  bool acquire_until(const Deadline& deadline);
  detail::SharedBlock block_;
};

// A recursive process-shared lock: the holding thread may acquire it again;
// it is free once released as many times as acquired. Release by a thread
// that does not hold it throws std::logic_error. Same owner-death contract
// as Lock (after LockOwnerDied the caller holds it at depth 1).
class RLock {
 public:
  explicit RLock(Backing backing = Backing::kAnonymous);
  static RLock attach(SharedRegion region);

  void acquire();
  bool acquire_for(Timeout timeout);
  bool try_acquire();
  void release();

  // True when the calling thread holds it.
  bool held_by_caller() const noexcept;
  // The kernel thread id (gettid(), unique across processes) of the thread
  // that holds it, 0 when free; locked() is owner() != 0. Snapshots.
  pid_t owner() const noexcept;
  bool locked() const noexcept;

  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return try_acquire(); }
  template <class Rep, class Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return acquire_for(std::chrono::duration_cast<Timeout>(timeout));
  }

  const SharedRegion& region() const noexcept { return block_.region(); }

 private:
  friend class Condition;
  explicit RLock(detail::SharedBlock block) : block_(std::move(block)) {}
  bool acquire_until(const Deadline& deadline);
  // For Condition: release all levels, returning how many; then restore.
  std::uint32_t release_all();
  void acquire_restore(std::uint32_t depth);
  detail::SharedBlock block_;
};

// Scoped holder of any of the locks above (or anything with acquire() and
// release()): acquires in the constructor (or adopts with std::adopt_lock),
// releases in the destructor. Not copyable.
template <class L>
class LockGuard {
 public:
  explicit LockGuard(L& lock) : lock_(lock) { lock_.acquire(); }
  LockGuard(L& lock, std::adopt_lock_t) noexcept : lock_(lock) {}
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  ~LockGuard() { lock_.release(); }

 private:
  L& lock_;
};

}  // namespace mr
