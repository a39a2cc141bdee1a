// SharedBlock: the small piece of shared memory that holds the state of one
// sync primitive (Lock, RLock, Semaphore, Event, Condition, Barrier).
//
// Ownership: a primitive is a handle; copies of a handle (and the handle a
// fork()ed child inherits) refer to the same state, which lives until the
// last handle in the last process is gone (a shared_ptr to a SharedRegion in
// each process; the kernel frees the pages with the last mapping).
//
// Backing: anonymous shared memory by default (reaches fork()ed children
// only), or a memfd (Backing::kMemfd) whose descriptor, region().fd(), can
// be handed to an exec()ed process, which rebuilds the handle with the
// primitive's attach(SharedRegion) factory (Lock, RLock, Semaphore, Event;
// Condition and Barrier have none yet: a Condition also needs its lock's
// region, a Barrier its action).
//
// Thread-safety: a handle may be copied and used from several threads.
// Fork-safety: the state is in MAP_SHARED memory, so a child's inherited
// handle is the same primitive as the parent's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mr/base/shared_region.h"

namespace mr {

// Where a primitive's state is created.
enum class Backing {
  kAnonymous,  // MAP_SHARED|MAP_ANONYMOUS: inherited by fork() only
  kMemfd,      // memfd: also passable to exec()ed processes by descriptor
};

namespace detail {

class SharedBlock {
 public:
  SharedBlock() = default;

  // `size` zeroed bytes in a new region of the given backing; `name` labels a
  // memfd in /proc. Throws std::system_error.
  static SharedBlock create(std::size_t size, Backing backing, const char* name);
  // Adopts a region that already holds an initialized state whose first
  // four bytes are `magic`; throws std::invalid_argument when the region is
  // too small or holds something else.
  static SharedBlock attach(SharedRegion region, std::size_t size, std::uint32_t magic);

  void* data() const noexcept { return region_ ? region_->data() : nullptr; }
  const SharedRegion& region() const noexcept { return *region_; }
  explicit operator bool() const noexcept { return region_ != nullptr; }

 private:
  std::shared_ptr<SharedRegion> region_;
};

}  // namespace detail
}  // namespace mr
