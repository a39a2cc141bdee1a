// Tests of the sync layer across real fork()ed processes (mr::Process). Every wait has a
// hard timeout; children report through exit codes and shared memory.
#include "mr/sync/sync.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/base/shared_region.h"
#include "mr/base/unique_fd.h"
#include "mr/process/process.h"

namespace {

using namespace std::chrono_literals;

constexpr auto kLong = 20s;  // a generous bound for waits that must succeed

// A child process (mr::Process, fork start method) running `fn`, which
// returns its exit code (an escaping exception exits with 99). Joined with a
// hard timeout; a child still alive when the Child is destroyed is killed
// and reaped.
class Child {
 public:
  template <class F>
  explicit Child(F fn)
      : proc_([fn]() mutable {
          try {
            return fn();
          } catch (...) {
            return 99;
          }
        }) {
    proc_.start();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (proc_.is_alive()) proc_.kill();
    proc_.join_for(kLong);
  }

  // The exit code, -signal when killed, or kTimedOut (child then killed).
  static constexpr int kTimedOut = -1000;
  int join_for(mr::Timeout timeout) {
    if (!proc_.join_for(timeout)) {
      proc_.kill();
      proc_.join_for(kLong);
      return kTimedOut;
    }
    return *proc_.exit_code();
  }
  int join() { return join_for(kLong); }
  void kill() { proc_.kill(); }
  pid_t pid() const { return proc_.pid(); }

 private:
  mr::Process proc_;
};

// A T constructed in its own anonymous shared mapping.
template <class T>
class Shared {
 public:
  Shared() : region_(mr::SharedRegion::anonymous(sizeof(T))) { new (region_.data()) T{}; }
  T* operator->() const { return static_cast<T*>(region_.data()); }
  T& operator*() const { return *static_cast<T*>(region_.data()); }

 private:
  mr::SharedRegion region_;
};

// ---------------------------------------------------------------------------
// Lock

struct Counter {
  long value;
  volatile long racy;
};

TEST(LockTest, FourProcessesIncrementExactlyWithLock) {
  constexpr int kProcs = 4, kIters = 100000;
  Shared<Counter> c;
  mr::Lock lock;
  std::vector<std::unique_ptr<Child>> kids;
  for (int p = 0; p < kProcs; ++p) {
    kids.push_back(std::make_unique<Child>([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<mr::Lock> g(lock);
        ++c->value;
      }
      for (int i = 0; i < kIters; ++i) c->racy = c->racy + 1;  // the race, unprotected
      return 0;
    }));
  }
  for (auto& k : kids) EXPECT_EQ(k->join_for(60s), 0);
  EXPECT_EQ(c->value, long{kProcs} * kIters);
  // Without the lock increments may be lost (or not, on a quiet machine):
  // only the bound is certain.
  EXPECT_LE(c->racy, long{kProcs} * kIters);
  std::printf("unlocked counter: %ld of %ld\n", static_cast<long>(c->racy), long{kProcs} * kIters);
}

TEST(LockTest, TryAndTimedAcquireAgainstAHolderInAnotherProcess) {
  mr::Lock lock;
  mr::Event tried;
  lock.acquire();
  Child child([&] {
    if (lock.try_acquire()) return 1;
    auto t0 = std::chrono::steady_clock::now();
    if (lock.acquire_for(50ms)) return 2;
    if (std::chrono::steady_clock::now() - t0 < 45ms) return 3;
    tried.set();
    if (!lock.acquire_for(kLong)) return 4;  // the parent releases
    lock.release();
    return 0;
  });
  EXPECT_TRUE(tried.wait_for(kLong));
  lock.release();
  EXPECT_EQ(child.join(), 0);
  EXPECT_TRUE(lock.try_acquire());
  lock.release();
}

TEST(LockTest, MisuseThrowsLogicError) {
  mr::Lock lock;
  EXPECT_THROW(lock.release(), std::logic_error);  // not held
  lock.acquire();
  EXPECT_THROW(lock.acquire(), std::logic_error);  // would self-deadlock
  // A non-blocking acquire of a lock the caller holds is just "not now"
  // (Python's acquire(blocking=False) returns False), and it stays held.
  EXPECT_FALSE(lock.try_acquire());
  EXPECT_TRUE(lock.locked());
  // Another process cannot release the parent's lock.
  Child child([&] {
    try {
      lock.release();
    } catch (const std::logic_error&) {
      return 0;
    }
    return 1;
  });
  EXPECT_EQ(child.join(), 0);
  lock.release();
}

// locked() (Python's Lock.locked()) and RLock's owner query see a holder in
// another process.
TEST(LockTest, LockedAndOwnerSeeAHolderInAnotherProcess) {
  mr::Lock lock;
  mr::RLock rlock;
  EXPECT_FALSE(lock.locked());
  EXPECT_FALSE(rlock.locked());
  EXPECT_EQ(rlock.owner(), 0);
  mr::Event held, done;
  Child child([&] {
    lock.acquire();
    rlock.acquire();
    held.set();
    const bool ok = done.wait_for(20s);
    rlock.release();
    lock.release();
    return ok ? 0 : 1;
  });
  ASSERT_TRUE(held.wait_for(20s));
  EXPECT_TRUE(lock.locked());
  EXPECT_TRUE(rlock.locked());
  EXPECT_EQ(rlock.owner(), child.pid());  // its only thread: tid == pid
  EXPECT_FALSE(rlock.held_by_caller());
  done.set();
  EXPECT_EQ(child.join(), 0);
  EXPECT_FALSE(lock.locked());
  rlock.acquire();
  EXPECT_EQ(rlock.owner(), ::gettid());
  rlock.release();
}

TEST(LockTest, StdLockGuardAndUniqueLockWork) {
  mr::Lock lock;
  {
    std::unique_lock<mr::Lock> u(lock, 100ms);  // try_lock_for
    EXPECT_TRUE(u.owns_lock());
    Child child([&] { return lock.try_acquire() ? 1 : 0; });
    EXPECT_EQ(child.join(), 0);
  }
  { mr::LockGuard g(lock); }
  EXPECT_TRUE(lock.try_acquire());
  lock.release();
}

TEST(LockTest, HolderKilledNextAcquirerGetsOwnerDiedThenLockWorks) {
  struct Data {
    int value;
  };
  Shared<Data> data;
  mr::Lock lock;
  mr::Event holding;
  Child holder([&] {
    lock.acquire();
    data->value = -1;  // "half-updated"
    holding.set();
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(holding.wait_for(kLong));
  holder.kill();
  EXPECT_EQ(holder.join(), -SIGKILL);

  bool died = false;
  try {
    mr::LockGuard g(lock);
  } catch (const mr::LockOwnerDied& e) {
    died = true;
    mr::LockGuard g(lock, std::adopt_lock);  // held by us: repair, release
    data->value = 0;
  }
  EXPECT_TRUE(died);
  // Consistent again: works normally in this process and in another.
  EXPECT_TRUE(lock.acquire_for(1s));
  lock.release();
  Child other([&] {
    if (!lock.acquire_for(kLong)) return 1;
    lock.release();
    return data->value == 0 ? 0 : 2;
  });
  EXPECT_EQ(other.join(), 0);
}

TEST(LockTest, WaiterBlockedOnKilledHolderGetsOwnerDied) {
  mr::Lock lock;
  mr::Event holding;
  Child holder([&] {
    lock.acquire();
    holding.set();
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(holding.wait_for(kLong));
  Child waiter([&] {
    try {
      if (!lock.acquire_for(kLong)) return 1;
      return 2;
    } catch (const mr::LockOwnerDied&) {
      lock.release();  // held by the catcher
      return 0;
    }
  });
  holder.kill();
  EXPECT_EQ(holder.join(), -SIGKILL);
  EXPECT_EQ(waiter.join(), 0);
  EXPECT_TRUE(lock.try_acquire());
  lock.release();
}

TEST(LockTest, MemfdBackedLockCanBeAttachedByDescriptor) {
  mr::Lock lock(mr::Backing::kMemfd);
  ASSERT_GE(lock.region().fd(), 0);
  mr::UniqueFd dup(::fcntl(lock.region().fd(), F_DUPFD_CLOEXEC, 0));
  mr::Lock same = mr::Lock::attach(mr::SharedRegion::map_fd(std::move(dup)));
  lock.acquire();
  Child child([&] { return same.try_acquire() ? 1 : 0; });  // a different mapping, same lock
  EXPECT_EQ(child.join(), 0);
  lock.release();
  EXPECT_TRUE(same.try_acquire());
  same.release();
  // A region holding another primitive is refused.
  mr::Event ev(mr::Backing::kMemfd);
  mr::UniqueFd evfd(::fcntl(ev.region().fd(), F_DUPFD_CLOEXEC, 0));
  EXPECT_THROW(mr::Lock::attach(mr::SharedRegion::map_fd(std::move(evfd))), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// RLock

TEST(RLockTest, ReenteredByHolderWhileAnotherProcessWaits) {
  struct Data {
    std::atomic<int> got;
  };
  Shared<Data> data;
  mr::RLock rlock;
  mr::Event started;
  rlock.acquire();
  Child waiter([&] {
    started.set();
    if (!rlock.acquire_for(kLong)) return 1;
    data->got.store(1);
    rlock.release();
    return 0;
  });
  ASSERT_TRUE(started.wait_for(kLong));
  // Re-enter twice while the other process waits; it cannot get in until
  // every level is released.
  EXPECT_TRUE(rlock.acquire_for(1s));
  EXPECT_TRUE(rlock.try_acquire());
  EXPECT_TRUE(rlock.held_by_caller());
  rlock.release();
  rlock.release();
  EXPECT_EQ(data->got.load(), 0);
  EXPECT_TRUE(rlock.held_by_caller());
  rlock.release();  // the last level
  EXPECT_FALSE(rlock.held_by_caller());
  EXPECT_EQ(waiter.join(), 0);
  EXPECT_EQ(data->got.load(), 1);
}

TEST(RLockTest, ReleaseByNonOwnerThrows) {
  mr::RLock rlock;
  EXPECT_THROW(rlock.release(), std::logic_error);
  rlock.acquire();
  Child child([&] {
    try {
      rlock.release();
    } catch (const std::logic_error&) {
      return rlock.try_acquire() ? 2 : 0;
    }
    return 1;
  });
  EXPECT_EQ(child.join(), 0);
  rlock.release();
  EXPECT_THROW(rlock.release(), std::logic_error);
}

TEST(RLockTest, HolderKilledAtDepthTwoNextAcquirerGetsOwnerDiedAtDepthOne) {
  mr::RLock rlock;
  mr::Event holding;
  Child holder([&] {
    rlock.acquire();
    rlock.acquire();
    holding.set();
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(holding.wait_for(kLong));
  holder.kill();
  EXPECT_EQ(holder.join(), -SIGKILL);
  EXPECT_THROW(rlock.acquire(), mr::LockOwnerDied);
  EXPECT_TRUE(rlock.held_by_caller());
  rlock.release();  // depth 1: now free
  EXPECT_FALSE(rlock.held_by_caller());
  Child other([&] {
    if (!rlock.try_acquire()) return 1;
    rlock.release();
    return 0;
  });
  EXPECT_EQ(other.join(), 0);
}

// ---------------------------------------------------------------------------
// Semaphore

TEST(SemaphoreTest, AtMostNProcessesInsideAtOnce) {
  constexpr int kCap = 2, kProcs = 5, kRounds = 200;
  struct Room {
    std::atomic<int> inside;
    std::atomic<int> max_inside;
    std::atomic<int> entries;
  };
  Shared<Room> room;
  mr::Semaphore sem(kCap);
  std::vector<std::unique_ptr<Child>> kids;
  for (int p = 0; p < kProcs; ++p) {
    kids.push_back(std::make_unique<Child>([&] {
      for (int i = 0; i < kRounds; ++i) {
        if (!sem.acquire_for(kLong)) return 1;
        int now = room->inside.fetch_add(1) + 1;
        int m = room->max_inside.load();
        while (now > m && !room->max_inside.compare_exchange_weak(m, now)) {
        }
        room->entries.fetch_add(1);
        for (int spin = 0; spin < 200; ++spin) std::atomic_signal_fence(std::memory_order_seq_cst);
        room->inside.fetch_sub(1);
        sem.release();
      }
      return 0;
    }));
  }
  for (auto& k : kids) EXPECT_EQ(k->join_for(60s), 0);
  EXPECT_EQ(room->entries.load(), kProcs * kRounds);
  EXPECT_GE(room->max_inside.load(), 1);
  EXPECT_LE(room->max_inside.load(), kCap);
  EXPECT_EQ(sem.value(), kCap);
}

TEST(SemaphoreTest, TimeoutTryAndReleaseManyWakesWaiters) {
  mr::Semaphore sem(0);
  EXPECT_FALSE(sem.try_acquire());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(sem.acquire_for(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  std::vector<std::unique_ptr<Child>> kids;
  for (int p = 0; p < 3; ++p)
    kids.push_back(std::make_unique<Child>([&] { return sem.acquire_for(kLong) ? 0 : 1; }));
  sem.release(3);
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_EQ(sem.value(), 0);
  EXPECT_THROW(sem.release(0), std::invalid_argument);
  EXPECT_THROW(mr::Semaphore(-1), std::invalid_argument);
}

TEST(SemaphoreTest, BoundedSemaphoreOverReleaseThrows) {
  mr::BoundedSemaphore sem(2);
  EXPECT_THROW(sem.release(), std::logic_error);
  Child child([&] { return sem.acquire_for(kLong) ? 0 : 1; });  // takes one, keeps it
  EXPECT_EQ(child.join(), 0);
  EXPECT_EQ(sem.value(), 1);
  EXPECT_THROW(sem.release(2), std::logic_error);  // would reach 3
  EXPECT_EQ(sem.value(), 1);                       // nothing released
  sem.release();
  EXPECT_EQ(sem.value(), 2);
  mr::Semaphore& base = sem;  // the bound is in the shared state
  EXPECT_THROW(base.release(), std::logic_error);
}

// ---------------------------------------------------------------------------
// Event

TEST(EventTest, WaitTimesOutThenSetReleasesAllWaitingProcesses) {
  constexpr int kWaiters = 3;
  struct Data {
    std::atomic<int> released;
  };
  Shared<Data> data;
  mr::Event ev;
  mr::Semaphore ready(0);
  EXPECT_FALSE(ev.is_set());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(ev.wait_for(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  std::vector<std::unique_ptr<Child>> kids;
  for (int p = 0; p < kWaiters; ++p) {
    kids.push_back(std::make_unique<Child>([&] {
      if (ev.wait_for(20ms)) return 1;  // not set yet
      ready.release();
      if (!ev.wait_for(kLong)) return 2;
      data->released.fetch_add(1);
      return 0;
    }));
  }
  for (int p = 0; p < kWaiters; ++p) ASSERT_TRUE(ready.acquire_for(kLong));
  EXPECT_EQ(data->released.load(), 0);
  ev.set();
  EXPECT_TRUE(ev.is_set());
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_EQ(data->released.load(), kWaiters);
  ev.wait();  // set: returns at once
  ev.clear();
  EXPECT_FALSE(ev.is_set());
  EXPECT_FALSE(ev.wait_for(10ms));
}

// ---------------------------------------------------------------------------
// Condition

TEST(ConditionTest, ProducerConsumerThroughABoundedBuffer) {
  constexpr int kItems = 2000, kCap = 4;
  struct Buffer {
    int items[kCap];
    int head, count;
    long sum;
    int received;
  };
  Shared<Buffer> buf;
  mr::Lock lock;
  mr::Condition not_empty(lock), not_full(lock);
  Child producer([&] {
    for (int i = 1; i <= kItems; ++i) {
      std::lock_guard<mr::Lock> g(lock);
      if (!not_full.wait_for(kLong, [&] { return buf->count < kCap; })) return 1;
      buf->items[(buf->head + buf->count) % kCap] = i;
      ++buf->count;
      not_empty.notify();
    }
    return 0;
  });
  Child consumer([&] {
    for (int i = 1; i <= kItems; ++i) {
      std::lock_guard<mr::Lock> g(lock);
      if (!not_empty.wait_for(kLong, [&] { return buf->count > 0; })) return 1;
      int v = buf->items[buf->head];
      buf->head = (buf->head + 1) % kCap;
      --buf->count;
      if (v != i) return 2;  // FIFO order
      buf->sum += v;
      ++buf->received;
      not_full.notify();
    }
    return 0;
  });
  EXPECT_EQ(producer.join_for(60s), 0);
  EXPECT_EQ(consumer.join_for(60s), 0);
  EXPECT_EQ(buf->received, kItems);
  EXPECT_EQ(buf->sum, long{kItems} * (kItems + 1) / 2);
}

TEST(ConditionTest, NotifyAllWakesEveryWaiter) {
  constexpr int kWaiters = 4;
  struct Data {
    int waiting;
    int go;
    int woken;
  };
  Shared<Data> d;
  mr::Condition cond;
  std::vector<std::unique_ptr<Child>> kids;
  for (int p = 0; p < kWaiters; ++p) {
    kids.push_back(std::make_unique<Child>([&] {
      std::lock_guard<mr::Condition> g(cond);
      ++d->waiting;
      cond.notify_all();  // tell the parent
      if (!cond.wait_for(kLong, [&] { return d->go == 1; })) return 1;
      ++d->woken;
      return 0;
    }));
  }
  {
    std::lock_guard<mr::Condition> g(cond);
    ASSERT_TRUE(cond.wait_for(kLong, [&] { return d->waiting == kWaiters; }));
    EXPECT_EQ(d->woken, 0);
    d->go = 1;
    cond.notify_all();
  }
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_EQ(d->woken, kWaiters);
}

TEST(ConditionTest, WaitTimesOutHoldingTheLockAndRequiresIt) {
  mr::Condition cond;
  EXPECT_THROW(cond.wait_for(10ms), std::logic_error);  // lock not held
  cond.acquire();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(cond.wait_for(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_FALSE(cond.wait_for(10ms, [] { return false; }));
  cond.release();  // held again after the timed-out waits
  EXPECT_THROW(cond.release(), std::logic_error);
}

TEST(ConditionTest, OverRLockReleasesEveryLevelWhileWaiting) {
  struct Data {
    int flag;
  };
  Shared<Data> d;
  mr::RLock rlock;
  mr::Condition cond(rlock);
  rlock.acquire();
  rlock.acquire();  // depth 2
  Child setter([&] {
    // Only possible if the waiter released both levels.
    if (!rlock.acquire_for(kLong)) return 1;
    d->flag = 1;
    cond.notify();
    rlock.release();
    return 0;
  });
  EXPECT_TRUE(cond.wait_for(kLong, [&] { return d->flag == 1; }));
  EXPECT_EQ(setter.join(), 0);
  EXPECT_TRUE(rlock.held_by_caller());
  rlock.release();
  EXPECT_TRUE(rlock.held_by_caller());  // depth restored to 2
  rlock.release();
  EXPECT_FALSE(rlock.held_by_caller());
}

// ---------------------------------------------------------------------------
// Barrier

TEST(BarrierTest, RoundsReleaseTogetherWithPermutedIndicesAndAction) {
  constexpr int kParties = 4, kRounds = 6;
  struct Data {
    std::atomic<int> arrived[kRounds];
    int index[kRounds][kParties];
    std::atomic<int> actions;
  };
  Shared<Data> d;
  mr::Barrier barrier(kParties, [&] { d->actions.fetch_add(1); });
  EXPECT_EQ(barrier.parties(), kParties);
  std::vector<std::unique_ptr<Child>> kids;
  for (int p = 0; p < kParties; ++p) {
    kids.push_back(std::make_unique<Child>([&, p] {
      for (int r = 0; r < kRounds; ++r) {
        d->arrived[r].fetch_add(1);
        d->index[r][p] = barrier.wait_for(kLong);
        // Nobody leaves round r before everyone arrived at it, and the
        // action of round r ran before anyone left it.
        if (d->arrived[r].load() != kParties) return 1;
        if (d->actions.load() < r + 1) return 2;
      }
      return 0;
    }));
  }
  for (auto& k : kids) EXPECT_EQ(k->join_for(60s), 0);
  EXPECT_EQ(d->actions.load(), kRounds);
  for (int r = 0; r < kRounds; ++r) {
    std::vector<int> idx(d->index[r], d->index[r] + kParties);
    std::sort(idx.begin(), idx.end());
    for (int i = 0; i < kParties; ++i) EXPECT_EQ(idx[i], i) << "round " << r;
  }
  EXPECT_FALSE(barrier.broken());
}

TEST(BarrierTest, AbortBreaksItForWaitersAndResetRepairsIt) {
  mr::Barrier barrier(3);
  std::vector<std::unique_ptr<Child>> kids;
  for (int p = 0; p < 2; ++p) {
    kids.push_back(std::make_unique<Child>([&] {
      try {
        barrier.wait_for(kLong);
      } catch (const mr::BrokenBarrierError&) {
        return 0;
      }
      return 1;
    }));
  }
  barrier.abort();  // whether they arrived yet or not, they see it broken
  for (auto& k : kids) EXPECT_EQ(k->join(), 0);
  EXPECT_TRUE(barrier.broken());
  EXPECT_THROW(barrier.wait_for(1s), mr::BrokenBarrierError);
  barrier.reset();
  EXPECT_FALSE(barrier.broken());
  EXPECT_EQ(barrier.n_waiting(), 0);
  // Usable again: a full round of three.
  Child a([&] { return barrier.wait_for(kLong) >= 0 ? 0 : 1; });
  Child b([&] { return barrier.wait_for(kLong) >= 0 ? 0 : 1; });
  int mine = barrier.wait_for(kLong);
  EXPECT_GE(mine, 0);
  EXPECT_LT(mine, 3);
  EXPECT_EQ(a.join(), 0);
  EXPECT_EQ(b.join(), 0);
}

TEST(BarrierTest, TimeoutBreaksItForEveryone) {
  mr::Barrier barrier(3);
  Child waiter([&] {
    try {
      barrier.wait_for(kLong);
    } catch (const mr::BrokenBarrierError&) {
      return 0;
    }
    return 1;
  });
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(barrier.wait_for(100ms), mr::BrokenBarrierError);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 95ms);
  EXPECT_TRUE(barrier.broken());
  EXPECT_EQ(waiter.join(), 0);
}

// Python's Barrier(parties, action, timeout): a plain wait() uses the
// timeout given at construction, and running out breaks the barrier.
TEST(BarrierTest, DefaultTimeoutFromConstructionAppliesToWait) {
  mr::Barrier barrier(2, {}, 100ms);
  EXPECT_EQ(barrier.timeout(), std::optional<mr::Timeout>(100ms));
  EXPECT_FALSE(mr::Barrier(2).timeout().has_value());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(barrier.wait(), mr::BrokenBarrierError);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 95ms);
  EXPECT_TRUE(barrier.broken());
  EXPECT_THROW(mr::Barrier(2, {}, -1ms), std::invalid_argument);
  // Two parties that meet within the default timeout pass.
  mr::Barrier meeting(2, {}, kLong);
  Child other([&] { return meeting.wait() + 10; });
  const int mine = meeting.wait();
  EXPECT_EQ(mine + other.join(), 11);  // indices 0 and 1, plus 10
  EXPECT_FALSE(meeting.broken());
}

TEST(BarrierTest, ThrowingActionBreaksTheBarrier) {
  mr::Barrier barrier(2, [] { throw std::runtime_error("action failed"); });
  Child other([&] {
    try {
      barrier.wait_for(kLong);
    } catch (const mr::BrokenBarrierError&) {
      return 10;  // released by the break
    } catch (const std::runtime_error&) {
      return 11;  // was last: ran the action
    }
    return 1;
  });
  int mine = 0;
  try {
    barrier.wait_for(kLong);
    mine = 1;
  } catch (const mr::BrokenBarrierError&) {
    mine = 10;
  } catch (const std::runtime_error&) {
    mine = 11;
  }
  int theirs = other.join();
  EXPECT_EQ(mine + theirs, 21) << mine << " " << theirs;  // one of each
  EXPECT_TRUE(barrier.broken());
}

TEST(BarrierTest, InvalidPartiesThrow) {
  EXPECT_THROW(mr::Barrier(0), std::invalid_argument);
  mr::Barrier one(1);
  EXPECT_EQ(one.wait_for(1s), 0);  // a party of one never blocks
  EXPECT_EQ(one.wait(), 0);
}

}  // namespace
