#include "mr/sync/event.h"

#include <atomic>
#include <cstdint>
#include <new>

#include "mr/base/futex.h"

namespace mr {

namespace {

constexpr std::uint32_t kEventMagic = 0x4d524556;  // "MREV"

struct EventState {
  std::uint32_t magic;
  // The futex word: bit 0 is the flag; the upper bits count set() calls,
  // so a waiter can tell that a set() happened while it slept even if a
  // clear() followed before it ran (Python's Event returns True then too).
  std::atomic<std::uint32_t> flag;
  std::atomic<std::uint32_t> waiters;  // sleepers, to skip needless wakes
};

EventState* state(const detail::SharedBlock& b) { return static_cast<EventState*>(b.data()); }

}  // namespace

Event::Event(Backing backing)
    : block_(detail::SharedBlock::create(sizeof(EventState), backing, "mr.sync.event")) {
  auto* s = new (block_.data()) EventState{};
  s->magic = kEventMagic;
}

Event Event::attach(SharedRegion region) {
  return Event(detail::SharedBlock::attach(std::move(region), sizeof(EventState), kEventMagic));
}

void Event::set() {
  EventState* s = state(block_);
  std::uint32_t v = s->flag.load();
  do {
    if (v & 1) return;                                 // already set: nobody sleeps on a set word
  } while (!s->flag.compare_exchange_weak(v, v + 3));  // next count, bit 0 on
  if (s->waiters.load() > 0) futex_wake(&s->flag);
}

void Event::clear() { state(block_)->flag.fetch_and(~std::uint32_t{1}); }

bool Event::is_set() const noexcept { return (state(block_)->flag.load() & 1) != 0; }

bool Event::wait_until(const Deadline& deadline) {
  EventState* s = state(block_);
  const std::uint32_t seen = s->flag.load();
  if (seen & 1) return true;
  for (;;) {
    // Count ourselves before sleeping; set() changes the word before it
    // reads `waiters`, so either it wakes us or futex_wait sees the change.
    s->waiters.fetch_add(1);
    bool in_time = futex_wait(&s->flag, seen, deadline);
    s->waiters.fetch_sub(1);
    if (s->flag.load() != seen) return true;  // set (maybe cleared again) since
    if (!in_time) return false;
  }
}

void Event::wait() { wait_until(Deadline::never()); }

bool Event::wait_for(Timeout timeout) { return wait_until(Deadline::after(timeout)); }

}  // namespace mr
