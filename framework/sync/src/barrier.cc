#include "mr/sync/barrier.h"

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <new>

#include "mr/base/futex.h"
#include "robust_mutex.h"

namespace mr {

namespace {

constexpr std::uint32_t kBarrierMagic = 0x4d524241;  // "MRBA"
constexpr std::uint32_t kHistory = 64;

// Rounds are numbered by `generation`, the futex word; a round ends either
// released or broken, and its outcome is kept in a small ring indexed by
// round number so a waiter that wakes late still learns how its own round
// ended (it would need 64 more rounds to end before it runs to be fooled).
// Everything but the atomics is only touched under `mutex`.
struct BarrierState {
  std::uint32_t magic;
  pthread_mutex_t mutex;
  std::uint32_t parties;
  std::uint32_t count;      // arrivals in the current round
  std::uint32_t broken;     // the barrier is broken until reset()
  std::int64_t timeout_ns;  // wait()'s timeout given at construction; -1: none
  std::atomic<std::uint32_t> generation;
  std::atomic<std::uint8_t> outcome[kHistory];  // 1: that round was broken
};

BarrierState* state(const detail::SharedBlock& b) { return static_cast<BarrierState*>(b.data()); }

// Ends the current round (caller holds the mutex) and wakes its waiters.
void end_round(BarrierState* s, bool broken) {
  const std::uint32_t g = s->generation.load();
  s->outcome[g % kHistory].store(broken ? 1 : 0);
  s->outcome[(g + 1) % kHistory].store(0);
  s->count = 0;
  s->generation.store(g + 1);
  futex_wake(&s->generation);
}

void break_barrier(BarrierState* s) {
  s->broken = 1;
  end_round(s, true);
}

// Holds the internal mutex for a scope. If a process died holding it, the
// bookkeeping may be half-done: the barrier is broken (which rewrites it).
class StateGuard {
 public:
  explicit StateGuard(BarrierState* s) : s_(s) {
    if (detail::robust_mutex_lock(&s->mutex, Deadline::never()) == detail::LockResult::kOwnerDied)
      break_barrier(s);
  }
  ~StateGuard() { detail::robust_mutex_unlock(&s_->mutex); }
  StateGuard(const StateGuard&) = delete;
  StateGuard& operator=(const StateGuard&) = delete;

 private:
  BarrierState* s_;
};

[[noreturn]] void throw_broken() { throw BrokenBarrierError("mr::Barrier: broken"); }

}  // namespace

Barrier::Barrier(int parties, std::function<void()> action, Backing backing)
    : Barrier(parties, std::move(action), std::nullopt, backing) {}

Barrier::Barrier(int parties, std::function<void()> action, std::optional<Timeout> timeout,
                 Backing backing)
    : action_(std::move(action)) {
  if (parties < 1) throw std::invalid_argument("mr::Barrier: parties must be at least 1");
  if (timeout && timeout->count() < 0)
    throw std::invalid_argument("mr::Barrier: the timeout must not be negative");
  block_ = detail::SharedBlock::create(sizeof(BarrierState), backing, "mr.sync.barrier");
  auto* s = new (block_.data()) BarrierState{};
  detail::robust_mutex_init(&s->mutex);
  s->parties = static_cast<std::uint32_t>(parties);
  s->timeout_ns = timeout ? timeout->count() : -1;
  s->magic = kBarrierMagic;
}

int Barrier::wait_until(const Deadline& deadline) {
  BarrierState* s = state(block_);
  std::uint32_t g;
  int index;
  {
    StateGuard guard(s);
    if (s->broken) throw_broken();
    g = s->generation.load();
    index = static_cast<int>(s->count++);
    if (s->count == s->parties) {
      if (action_) {
        try {
          action_();
        } catch (...) {
          break_barrier(s);
          throw;
        }
      }
      end_round(s, false);
      return index;
    }
  }
  for (;;) {
    bool in_time = futex_wait(&s->generation, g, deadline);
    if (s->generation.load() != g) break;
    if (!in_time) {
      StateGuard guard(s);
      if (s->generation.load() != g) break;  // ended while we took the mutex
      break_barrier(s);                      // Python: a timeout breaks it
      throw_broken();
    }
  }
  if (s->outcome[g % kHistory].load() != 0) throw_broken();
  return index;
}

int Barrier::wait() {
  const std::int64_t ns = state(block_)->timeout_ns;
  return wait_until(ns < 0 ? Deadline::never() : Deadline::after(Timeout(ns)));
}

std::optional<Timeout> Barrier::timeout() const noexcept {
  const std::int64_t ns = state(block_)->timeout_ns;
  return ns < 0 ? std::nullopt : std::optional<Timeout>(Timeout(ns));
}

int Barrier::wait_for(Timeout timeout) { return wait_until(Deadline::after(timeout)); }

void Barrier::abort() {
  BarrierState* s = state(block_);
  StateGuard guard(s);
  break_barrier(s);
}

void Barrier::reset() {
  BarrierState* s = state(block_);
  StateGuard guard(s);
  if (s->count > 0) end_round(s, true);  // current waiters see it broken
  s->broken = 0;
  s->count = 0;
}

bool Barrier::broken() const {
  BarrierState* s = state(block_);
  StateGuard guard(s);
  return s->broken != 0;
}

int Barrier::parties() const noexcept { return static_cast<int>(state(block_)->parties); }

int Barrier::n_waiting() const {
  BarrierState* s = state(block_);
  StateGuard guard(s);
  return static_cast<int>(s->count);
}

}  // namespace mr
