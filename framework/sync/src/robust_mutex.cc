#include "robust_mutex.h"

#include <time.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

#include <unistd.h>

#include <atomic>
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
  // pthread_mutex_timedlock takes an absolute CLOCK_REALTIME time. (Not
  // pthread_mutex_clocklock on CLOCK_MONOTONIC: ThreadSanitizer does not
  // intercept it and then reports every later unlock.) The monotonic
  // deadline decides: a wall clock that jumps forward only costs a retry.
  for (;;) {
    timespec now;
    ::clock_gettime(CLOCK_REALTIME, &now);
    timespec left = deadline.remaining_timespec();
    timespec abs{now.tv_sec + left.tv_sec, now.tv_nsec + left.tv_nsec};
    if (abs.tv_nsec >= 1'000'000'000) {
      abs.tv_sec += 1;
      abs.tv_nsec -= 1'000'000'000;
    }
    int rc = pthread_mutex_timedlock(m, &abs);
    if (rc == ETIMEDOUT && !deadline.expired()) continue;
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer's timedlock interceptor records only rc == 0 as a
    // lock; tell it about the EOWNERDEAD acquisition too.
    if (rc == EOWNERDEAD) {
      __tsan_mutex_pre_lock(m, __tsan_mutex_try_lock);
      __tsan_mutex_post_lock(m, __tsan_mutex_try_lock, 0);
    }
#endif
    return after_lock(m, rc, "pthread_mutex_timedlock");
  }
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

namespace {

// Bumped in the child after every fork(), so that the only thread of the
// child (the forking one) does not keep its parent's cached thread id.
std::atomic<unsigned> fork_generation{1};
void on_fork_child() { fork_generation.fetch_add(1, std::memory_order_relaxed); }
const bool atfork_registered = [] {
  ::pthread_atfork(nullptr, nullptr, &on_fork_child);
  return true;
}();

struct TidCache {
  unsigned generation = 0;
  pid_t tid = 0;
};
thread_local TidCache tid_cache;

}  // namespace

pid_t current_tid() noexcept {
  (void)atfork_registered;
  const unsigned g = fork_generation.load(std::memory_order_relaxed);
  if (tid_cache.generation != g) {
    tid_cache.tid = ::gettid();
    tid_cache.generation = g;
  }
  return tid_cache.tid;
}

}  // namespace mr::detail
