// Event between processes (and threads), the counterpart of Python's
// multiprocessing.Event: a flag that processes can wait to become set.
//
// A futex word in shared memory: a waiter killed while waiting leaves
// nothing behind. Handles: copies, and the copy a fork()ed child inherits,
// are the same event (see shared_state.h). Thread-safe and fork-safe.
#pragma once

#include "mr/base/deadline.h"
#include "mr/sync/shared_state.h"

namespace mr {

class Event {
 public:
  // A new, clear event.
  explicit Event(Backing backing = Backing::kAnonymous);
  static Event attach(SharedRegion region);

  // Sets the flag and wakes every waiter.
  void set();
  // Clears the flag; later wait() calls block until set() again.
  void clear();
  bool is_set() const noexcept;
  // Blocks until the flag is set.
  void wait();
  // Blocks until the flag is set or `timeout` ran out; returns the flag
  // (false on timeout).
  bool wait_for(Timeout timeout);

  const SharedRegion& region() const noexcept { return block_.region(); }

 private:
  explicit Event(detail::SharedBlock block) : block_(std::move(block)) {}
  bool wait_until(const Deadline& deadline);
  detail::SharedBlock block_;
};

}  // namespace mr
