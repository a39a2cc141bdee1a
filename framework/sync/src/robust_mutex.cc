#include "robust_mutex.h"

#include <time.h>

#include <cerrno>

#include "mr/base/error.h"

namespace mr::detail {

namespace {

void check(int rc, const char* what) {
  if (rc != 0) throw_errno(what, rc);
}

LockResult after_lock(pthread_mutex_t* m, int rc, const char* what) {
  switch (rc) {
    case 0:
      return LockResult::kAcquired;
    case EOWNERDEAD:
      // We hold it now; make it usable again so that the next unlock does
      // not turn it into ENOTRECOVERABLE forever.
      check(pthread_mutex_consistent(m), "pthread_mutex_consistent");
      return LockResult::kOwnerDied;
    case ETIMEDOUT:
    case EBUSY:
      return LockResult::kTimedOut;
    case EDEADLK:
      return LockResult::kDeadlock;
    default:
      throw_errno(what, rc);
  }
}

}  // namespace

void robust_mutex_init(pthread_mutex_t* m) {
  pthread_mutexattr_t attr;
  check(pthread_mutexattr_init(&attr), "pthread_mutexattr_init");
  // ERRORCHECK: releasing by a non-owner and relocking by the owner are
  // reported instead of being undefined.
  check(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK), "pthread_mutexattr_settype");
  check(pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED),
        "pthread_mutexattr_setpshared");
  check(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST), "pthread_mutexattr_setrobust");
  int rc = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  check(rc, "pthread_mutex_init");
}

LockResult robust_mutex_lock(pthread_mutex_t* m, const Deadline& deadline) {
  if (deadline.is_never()) return after_lock(m, pthread_mutex_lock(m), "pthread_mutex_lock");
  // pthread_mutex_clocklock takes an absolute CLOCK_MONOTONIC time.
  timespec now;
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  timespec left = deadline.remaining_timespec();
  timespec abs{now.tv_sec + left.tv_sec, now.tv_nsec + left.tv_nsec};
  if (abs.tv_nsec >= 1'000'000'000) {
    abs.tv_sec += 1;
    abs.tv_nsec -= 1'000'000'000;
  }
  return after_lock(m, pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &abs),
                    "pthread_mutex_clocklock");
}

LockResult robust_mutex_trylock(pthread_mutex_t* m) {
  return after_lock(m, pthread_mutex_trylock(m), "pthread_mutex_trylock");
}

bool robust_mutex_unlock(pthread_mutex_t* m) {
  int rc = pthread_mutex_unlock(m);
  if (rc == EPERM) return false;
  check(rc, "pthread_mutex_unlock");
  return true;
}

}  // namespace mr::detail
