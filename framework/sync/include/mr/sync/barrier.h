// Barrier between processes (and threads), the counterpart of Python's
// multiprocessing.Barrier: `parties` callers of wait() block until the last
// one arrives, then all go on; the barrier is then ready for the next round.
//
// Python semantics: wait() returns the arrival index, 0 for the first to
// arrive up to parties-1 for the last; the optional action runs in the last
// arriving caller before the others are released (if it throws, the barrier
// breaks and the exception propagates from that caller's wait()). A wait
// that times out breaks the barrier; abort() breaks it on purpose; a broken
// barrier throws BrokenBarrierError to every current and future waiter until
// reset().
//
// State: a small robust process-shared mutex (held only for bookkeeping,
// never while sleeping) and a futex generation word in shared memory. A
// process killed while waiting leaves its arrival counted (the round cannot
// complete; the others time out and break it). A process killed while
// holding the internal mutex breaks the barrier.
//
// The action is a std::function stored in each handle: a fork()ed child runs
// its own inherited copy. It runs with the barrier's internal mutex held, so
// it must not call this barrier.
//
// Handles: copies, and the copy a fork()ed child inherits, are the same
// barrier (see shared_state.h). Thread-safe and fork-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>

#include "mr/base/deadline.h"
#include "mr/sync/shared_state.h"

namespace mr {

// The barrier is, or became while waiting, broken (aborted, timed out, reset
// while waiting, or its action threw).
class BrokenBarrierError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Barrier {
 public:
  // A barrier for `parties` (>= 1, std::invalid_argument otherwise).
  explicit Barrier(int parties, std::function<void()> action = {},
                   Backing backing = Backing::kAnonymous);
  // The same with a default timeout for wait() (Python's Barrier(parties,
  // action, timeout)), shared by every handle; negative:
  // std::invalid_argument. Example: `mr::Barrier b(3, {}, 5s);`
  Barrier(int parties, std::function<void()> action, std::optional<Timeout> timeout,
          Backing backing = Backing::kAnonymous);

  // Arrives and blocks until all parties have arrived; returns the arrival
  // index. Throws BrokenBarrierError when broken before or during the wait,
  // including when the construction's default timeout runs out (which
  // breaks the barrier, as wait_for() does).
  int wait();
  // Like wait(), but a timeout breaks the barrier (for everyone) and throws
  // BrokenBarrierError, as in Python.
  int wait_for(Timeout timeout);

  // Breaks the barrier: current and future waiters get BrokenBarrierError.
  void abort();
  // Back to the empty, unbroken state; callers waiting now get
  // BrokenBarrierError.
  void reset();
  bool broken() const;
  int parties() const noexcept;
  // The default timeout of wait() given at construction, if any.
  std::optional<Timeout> timeout() const noexcept;
  // How many callers are waiting in the current round (a snapshot).
  int n_waiting() const;

  const SharedRegion& region() const noexcept { return block_.region(); }

 private:
  int wait_until(const Deadline& deadline);
  std::function<void()> action_;
  detail::SharedBlock block_;
};

}  // namespace mr
