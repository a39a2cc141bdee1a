// Futex wait/wake on a 32-bit atomic that may live in memory shared between
// processes. The building block of the sync layer's Event, Semaphore,
// Condition and Barrier: a waiter that dies leaves no state behind, unlike a
// process-shared pthread condition variable.
#pragma once

#include <atomic>
#include <cstdint>

#include "mr/base/deadline.h"

namespace mr {

static_assert(sizeof(std::atomic<std::uint32_t>) == 4 &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "futex words must be plain lock-free 32-bit integers");

// Sleeps while `*word == expected`, until woken, the deadline passes or a
// signal arrives. Returns false only when the deadline passed; spurious
// returns are possible, so callers re-check their condition in a loop.
bool futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                const Deadline& deadline = Deadline::never()) noexcept;

// Wakes up to `count` waiters on `word` (all of them by default).
void futex_wake(std::atomic<std::uint32_t>* word, int count = 0x7fffffff) noexcept;

}  // namespace mr
