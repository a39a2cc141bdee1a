// Semaphore and BoundedSemaphore between processes (and threads), the
// counterparts of Python's multiprocessing.Semaphore / BoundedSemaphore.
//
// A counter in shared memory with futex waits: a process killed while
// waiting leaves nothing behind. A process killed while it holds a unit does
// not give it back (as in Python): design protocols so that the parent
// releases on a child's behalf if it must.
//
// Handles: copies, and the copy a fork()ed child inherits, are the same
// semaphore (see shared_state.h). Thread-safe and fork-safe.
#pragma once

#include <cstdint>

#include "mr/base/deadline.h"
#include "mr/sync/shared_state.h"

namespace mr {

class Semaphore {
 public:
  // A semaphore with `value` units (std::invalid_argument if negative).
  explicit Semaphore(int value = 1, Backing backing = Backing::kAnonymous);
  // A handle to a semaphore created elsewhere (memfd region passed here).
  static Semaphore attach(SharedRegion region);

  // Takes one unit, blocking while there is none.
  void acquire();
  // Like acquire(); false when `timeout` ran out first.
  bool acquire_for(Timeout timeout);
  // Takes one unit if there is one right now.
  bool try_acquire();
  // Gives back `n` units (n >= 1) and wakes up to `n` waiters. For a
  // BoundedSemaphore, throws std::logic_error (Python's ValueError) when the
  // value would exceed the initial one; nothing is released then.
  void release(int n = 1);
  // The current number of units (a snapshot).
  int value() const noexcept;

  const SharedRegion& region() const noexcept { return block_.region(); }

 protected:
  Semaphore(int value, bool bounded, Backing backing);

 private:
  explicit Semaphore(detail::SharedBlock block) : block_(std::move(block)) {}
  bool acquire_until(const Deadline& deadline);
  detail::SharedBlock block_;
};

// A Semaphore whose release() past the initial value throws std::logic_error.
// (The bound is part of the shared state, so it holds through a Semaphore&
// as well.)
class BoundedSemaphore : public Semaphore {
 public:
  explicit BoundedSemaphore(int value = 1, Backing backing = Backing::kAnonymous)
      : Semaphore(value, true, backing) {}
};

}  // namespace mr
