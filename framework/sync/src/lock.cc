#include "mr/sync/lock.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <new>
#include <type_traits>

#include "robust_mutex.h"

namespace mr {

namespace {

constexpr std::uint32_t kLockMagic = 0x4d524c4b;   // "MRLK"
constexpr std::uint32_t kRLockMagic = 0x4d52524c;  // "MRRL"

// `owner` is written by the holder only; release() checks it first so that
// a non-owner never calls pthread_mutex_unlock (ThreadSanitizer reports
// that even though the mutex refuses with EPERM).
struct LockState {
  std::uint32_t magic;
  pthread_mutex_t mutex;
  std::atomic<pid_t> owner;  // kernel thread id of the holder, 0 when free
};

// The pthread mutex is non-recursive (errorcheck); recursion is counted here
// by the owner. `owner` and `depth` are written only by the thread that
// holds the mutex.
struct RLockState {
  std::uint32_t magic;
  pthread_mutex_t mutex;
  std::atomic<pid_t> owner;  // kernel thread id of the holder, 0 when free
  std::uint32_t depth;
};

static_assert(std::is_standard_layout_v<LockState>);
static_assert(std::is_standard_layout_v<RLockState>);
static_assert(std::atomic<pid_t>::is_always_lock_free);

LockState* lock_state(const detail::SharedBlock& b) { return static_cast<LockState*>(b.data()); }
RLockState* rlock_state(const detail::SharedBlock& b) { return static_cast<RLockState*>(b.data()); }

[[noreturn]] void throw_owner_died(const char* what) {
  throw LockOwnerDied(std::string(what) +
                      ": previous holder died while holding it; the lock is now held by the "
                      "caller and consistent, the data it protects may need repair");
}

}  // namespace

// --- Lock -------------------------------------------------------------------

Lock::Lock(Backing backing)
    : block_(detail::SharedBlock::create(sizeof(LockState), backing, "mr.sync.lock")) {
  auto* s = new (block_.data()) LockState{};
  detail::robust_mutex_init(&s->mutex);
  s->magic = kLockMagic;
}

Lock Lock::attach(SharedRegion region) {
  return Lock(detail::SharedBlock::attach(std::move(region), sizeof(LockState), kLockMagic));
}

namespace {

// Applies a lock result to a Lock's state; returns whether it is held.
bool lock_after(LockState* s, detail::LockResult r) {
  switch (r) {
    case detail::LockResult::kAcquired:
      s->owner.store(detail::current_tid(), std::memory_order_relaxed);
      return true;
    case detail::LockResult::kOwnerDied:
      s->owner.store(detail::current_tid(), std::memory_order_relaxed);
      throw_owner_died("mr::Lock");
    case detail::LockResult::kTimedOut:
      return false;
    case detail::LockResult::kDeadlock:
      break;
  }
  throw std::logic_error("mr::Lock: acquired again by the thread that holds it (use RLock)");
}

}  // namespace

bool Lock::acquire_until(const Deadline& deadline) {
  LockState* s = lock_state(block_);
  return lock_after(s, detail::robust_mutex_lock(&s->mutex, deadline));
}

void Lock::acquire() { acquire_until(Deadline::never()); }

bool Lock::acquire_for(Timeout timeout) { return acquire_until(Deadline::after(timeout)); }

bool Lock::try_acquire() {
  LockState* s = lock_state(block_);
  const detail::LockResult r = detail::robust_mutex_trylock(&s->mutex);
  // Held by the calling thread is just "not free now", as Python's
  // acquire(blocking=False) says False.
  if (r == detail::LockResult::kDeadlock) return false;
  return lock_after(s, r);
}

bool Lock::locked() const noexcept {
  return lock_state(block_)->owner.load(std::memory_order_relaxed) != 0;
}

void Lock::release() {
  LockState* s = lock_state(block_);
  if (s->owner.load(std::memory_order_relaxed) != detail::current_tid())
    throw std::logic_error("mr::Lock::release: the calling thread does not hold the lock");
  s->owner.store(0, std::memory_order_relaxed);
  if (!detail::robust_mutex_unlock(&s->mutex))
    throw std::logic_error("mr::Lock::release: the calling thread does not hold the lock");
}

// --- RLock ------------------------------------------------------------------

RLock::RLock(Backing backing)
    : block_(detail::SharedBlock::create(sizeof(RLockState), backing, "mr.sync.rlock")) {
  auto* s = new (block_.data()) RLockState{};
  detail::robust_mutex_init(&s->mutex);
  s->magic = kRLockMagic;
}

RLock RLock::attach(SharedRegion region) {
  return RLock(detail::SharedBlock::attach(std::move(region), sizeof(RLockState), kRLockMagic));
}

bool RLock::held_by_caller() const noexcept {
  return rlock_state(block_)->owner.load(std::memory_order_relaxed) == detail::current_tid();
}

pid_t RLock::owner() const noexcept {
  return rlock_state(block_)->owner.load(std::memory_order_relaxed);
}

bool RLock::locked() const noexcept { return owner() != 0; }

namespace {

// Applies a lock result to an RLock's state; returns whether it is held.
bool rlock_after(RLockState* s, detail::LockResult r) {
  switch (r) {
    case detail::LockResult::kAcquired:
      s->owner.store(detail::current_tid(), std::memory_order_relaxed);
      s->depth = 1;
      return true;
    case detail::LockResult::kOwnerDied:
      s->owner.store(detail::current_tid(), std::memory_order_relaxed);
      s->depth = 1;
      throw_owner_died("mr::RLock");
    case detail::LockResult::kTimedOut:
      return false;
    case detail::LockResult::kDeadlock:
      // The mutex itself says the calling thread holds it (it compares the
      // kernel-maintained owner in the futex word, so a dead holder's reused
      // thread id cannot fool it): one more level.
      ++s->depth;
      return true;
  }
  return false;
}

}  // namespace

bool RLock::acquire_until(const Deadline& deadline) {
  RLockState* s = rlock_state(block_);
  return rlock_after(s, detail::robust_mutex_lock(&s->mutex, deadline));
}

void RLock::acquire() { acquire_until(Deadline::never()); }

bool RLock::acquire_for(Timeout timeout) { return acquire_until(Deadline::after(timeout)); }

bool RLock::try_acquire() {
  RLockState* s = rlock_state(block_);
  return rlock_after(s, detail::robust_mutex_trylock(&s->mutex));
}

void RLock::release() {
  RLockState* s = rlock_state(block_);
  if (s->owner.load(std::memory_order_relaxed) != detail::current_tid())
    throw std::logic_error("mr::RLock::release: the calling thread does not hold the lock");
  if (s->depth > 1) {
    --s->depth;
    return;
  }
  s->depth = 0;
  s->owner.store(0, std::memory_order_relaxed);
  if (!detail::robust_mutex_unlock(&s->mutex))
    throw std::logic_error("mr::RLock::release: the calling thread does not hold the lock");
}

std::uint32_t RLock::release_all() {
  RLockState* s = rlock_state(block_);
  if (s->owner.load(std::memory_order_relaxed) != detail::current_tid())
    throw std::logic_error("mr::Condition: wait on an RLock the calling thread does not hold");
  std::uint32_t depth = s->depth;
  s->depth = 0;
  s->owner.store(0, std::memory_order_relaxed);
  if (!detail::robust_mutex_unlock(&s->mutex))
    throw std::logic_error("mr::Condition: wait on an RLock the calling thread does not hold");
  return depth;
}

void RLock::acquire_restore(std::uint32_t depth) {
  // Always re-acquired, even past the deadline: a Condition wait returns
  // holding the lock. LockOwnerDied leaves it held at depth 1 (as documented).
  RLockState* s = rlock_state(block_);
  rlock_after(s, detail::robust_mutex_lock(&s->mutex, Deadline::never()));
  s->depth = depth;
}

}  // namespace mr
