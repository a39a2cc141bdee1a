#include "mr/sync/semaphore.h"

#include <atomic>
#include <new>
#include <stdexcept>
#include <string>

#include "mr/base/futex.h"

namespace mr {

namespace {

constexpr std::uint32_t kSemMagic = 0x4d525345;  // "MRSE"

// `value` is the futex word. `waiters` counts processes inside acquire's
// wait, so release() can skip the wake syscall when nobody sleeps; a waiter
// killed while counted only costs later releases a useless wake.
struct SemState {
  std::uint32_t magic;
  std::atomic<std::uint32_t> value;
  std::atomic<std::uint32_t> waiters;
  std::uint32_t bound;  // 0: unbounded, else the maximum value
};

SemState* state(const detail::SharedBlock& b) { return static_cast<SemState*>(b.data()); }

bool try_take(SemState* s) {
  std::uint32_t v = s->value.load(std::memory_order_relaxed);
  while (v > 0) {
    if (s->value.compare_exchange_weak(v, v - 1, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return true;
  }
  return false;
}

}  // namespace

Semaphore::Semaphore(int value, Backing backing) : Semaphore(value, false, backing) {}

Semaphore::Semaphore(int value, bool bounded, Backing backing) {
  if (value < 0) throw std::invalid_argument("mr::Semaphore: negative initial value");
  if (bounded && value == 0)
    throw std::invalid_argument("mr::BoundedSemaphore: initial value must be positive");
  block_ = detail::SharedBlock::create(sizeof(SemState), backing, "mr.sync.semaphore");
  auto* s = new (block_.data()) SemState{};
  s->value.store(static_cast<std::uint32_t>(value));
  s->bound = bounded ? static_cast<std::uint32_t>(value) : 0;
  s->magic = kSemMagic;
}

Semaphore Semaphore::attach(SharedRegion region) {
  return Semaphore(detail::SharedBlock::attach(std::move(region), sizeof(SemState), kSemMagic));
}

bool Semaphore::acquire_until(const Deadline& deadline) {
  SemState* s = state(block_);
  for (;;) {
    if (try_take(s)) return true;
    // Announce the wait before sleeping on value == 0; release() adds to
    // value before it reads waiters, so one of the two sees the other
    // (both sequentially consistent) and no wake-up is lost.
    s->waiters.fetch_add(1);
    bool in_time = true;
    if (s->value.load() == 0) in_time = futex_wait(&s->value, 0, deadline);
    s->waiters.fetch_sub(1);
    if (!in_time) return try_take(s);
  }
}

void Semaphore::acquire() { acquire_until(Deadline::never()); }

bool Semaphore::acquire_for(Timeout timeout) { return acquire_until(Deadline::after(timeout)); }

bool Semaphore::try_acquire() { return try_take(state(block_)); }

void Semaphore::release(int n) {
  if (n < 1) throw std::invalid_argument("mr::Semaphore::release: n must be at least 1");
  SemState* s = state(block_);
  const auto add = static_cast<std::uint32_t>(n);
  if (s->bound != 0) {
    std::uint32_t v = s->value.load();
    do {
      if (v + static_cast<std::uint64_t>(add) > s->bound)
        throw std::logic_error("mr::BoundedSemaphore::release: released too many times (value " +
                               std::to_string(v) + " + " + std::to_string(n) + " > bound " +
                               std::to_string(s->bound) + ")");
    } while (!s->value.compare_exchange_weak(v, v + add));
  } else {
    s->value.fetch_add(add);
  }
  if (s->waiters.load() > 0) futex_wake(&s->value, n);
}

int Semaphore::value() const noexcept {
  return static_cast<int>(state(block_)->value.load(std::memory_order_relaxed));
}

}  // namespace mr
