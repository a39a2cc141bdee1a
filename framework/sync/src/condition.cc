#include "mr/sync/condition.h"

#include <atomic>
#include <cstdint>
#include <new>
#include <stdexcept>

#include "mr/base/futex.h"

namespace mr {

namespace {

constexpr std::uint32_t kCondMagic = 0x4d52434f;  // "MRCO"

struct CondState {
  std::uint32_t magic;
  std::atomic<std::uint32_t> seq;      // the futex word, bumped by notify
  std::atomic<std::uint32_t> waiters;  // sleepers, to skip needless wakes
};

CondState* state(const detail::SharedBlock& b) { return static_cast<CondState*>(b.data()); }

detail::SharedBlock make_block(Backing backing) {
  auto block = detail::SharedBlock::create(sizeof(CondState), backing, "mr.sync.condition");
  auto* s = new (block.data()) CondState{};
  s->magic = kCondMagic;
  return block;
}

}  // namespace

Condition::Condition(Backing backing) : Condition(Lock(backing), backing) {}

Condition::Condition(Lock lock, Backing backing)
    : lock_(std::move(lock)), block_(make_block(backing)) {}

Condition::Condition(RLock lock, Backing backing)
    : lock_(std::move(lock)), block_(make_block(backing)) {}

void Condition::acquire() {
  std::visit([](auto& l) { l.acquire(); }, lock_);
}
bool Condition::acquire_for(Timeout timeout) {
  return std::visit([timeout](auto& l) { return l.acquire_for(timeout); }, lock_);
}
bool Condition::try_acquire() {
  return std::visit([](auto& l) { return l.try_acquire(); }, lock_);
}
void Condition::release() {
  std::visit([](auto& l) { l.release(); }, lock_);
}

bool Condition::wait_until(const Deadline& deadline) {
  CondState* s = state(block_);
  // Read the sequence while still holding the lock: a notifier changes the
  // shared state under the lock and bumps the sequence afterwards, so any
  // notify meant for this waiter changes it after this read.
  const std::uint32_t seen = s->seq.load();
  s->waiters.fetch_add(1);
  std::uint32_t depth = 0;
  try {
    if (auto* rl = std::get_if<RLock>(&lock_)) {
      depth = rl->release_all();
    } else {
      std::get<Lock>(lock_).release();
    }
  } catch (...) {
    s->waiters.fetch_sub(1);
    throw;
  }
  bool in_time = futex_wait(&s->seq, seen, deadline);
  s->waiters.fetch_sub(1);
  // A notify that raced with the timeout still counts as a wake-up.
  if (!in_time && s->seq.load() != seen) in_time = true;
  // Re-acquire without a deadline: wait returns holding the lock. A
  // LockOwnerDied propagates with the lock held, as Lock documents.
  if (auto* rl = std::get_if<RLock>(&lock_)) {
    rl->acquire_restore(depth);
  } else {
    std::get<Lock>(lock_).acquire();
  }
  return in_time;
}

void Condition::wait() { wait_until(Deadline::never()); }

bool Condition::wait_for(Timeout timeout) { return wait_until(Deadline::after(timeout)); }

void Condition::notify(int n) {
  if (n < 1) return;
  CondState* s = state(block_);
  s->seq.fetch_add(1);
  if (s->waiters.load() > 0) futex_wake(&s->seq, n);
}

void Condition::notify_all() {
  CondState* s = state(block_);
  s->seq.fetch_add(1);
  if (s->waiters.load() > 0) futex_wake(&s->seq);
}

}  // namespace mr
