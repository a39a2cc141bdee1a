// A robust, process-shared pthread mutex in shared memory: the one place
// where pthread return codes become results. Private to the sync layer.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include "mr/base/deadline.h"

namespace mr::detail {

enum class LockResult {
  kAcquired,
  kOwnerDied,  // acquired; the previous owner died holding it (now consistent)
  kTimedOut,   // deadline passed (or busy, for try_lock)
  kDeadlock,   // the calling thread already holds it
};

// Initializes `m` (in shared memory) as ERRORCHECK + ROBUST + PROCESS_SHARED.
void robust_mutex_init(pthread_mutex_t* m);

// Locks until `deadline`. On EOWNERDEAD marks the mutex consistent and
// returns kOwnerDied with the mutex held. Throws std::system_error on
// anything unexpected.
LockResult robust_mutex_lock(pthread_mutex_t* m, const Deadline& deadline);
LockResult robust_mutex_trylock(pthread_mutex_t* m);

// Returns false when the calling thread does not own the mutex.
bool robust_mutex_unlock(pthread_mutex_t* m);

// The kernel thread id of the calling thread, cached per thread (and
// refreshed in a fork()ed child).
pid_t current_tid() noexcept;

}  // namespace mr::detail
