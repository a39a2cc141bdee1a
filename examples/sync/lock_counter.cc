// The race and its fix: four processes (mr::Process, fork) each add 1 to a
// counter in shared memory 100000 times, once without a lock (read, then
// write: increments get lost when two processes interleave) and once under
// an mr::Lock (exact). Started together on an mr::Event so they overlap.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <new>
#include <vector>

#include "mr/base/shared_region.h"
#include "mr/process/process.h"
#include "mr/sync/sync.h"

namespace {

constexpr int kProcs = 4;
constexpr long kIters = 100000;

struct Counters {
  long unlocked;
  long locked;
};

// Runs `body` in kProcs processes released at the same moment.
template <class F>
void run_together(F body) {
  mr::Event go;
  std::vector<mr::Process> procs;
  for (int i = 0; i < kProcs; ++i)
    procs.emplace_back([&] {
      go.wait();
      body();
    });
  for (auto& p : procs) p.start();
  go.set();
  for (auto& p : procs) p.join_checked();
}

}  // namespace

int main() {
  auto region = mr::SharedRegion::anonymous(sizeof(Counters));
  auto* c = new (region.data()) Counters{};
  mr::Lock lock;

  run_together([&] {
    std::atomic_ref<long> n(c->unlocked);
    for (long i = 0; i < kIters; ++i) {
      long seen = n.load(std::memory_order_relaxed);
      // A little work between the read and the write, as in real code,
      // widens the window in which another process's increment is lost.
      for (int k = 0; k < 300; ++k) std::atomic_signal_fence(std::memory_order_seq_cst);
      n.store(seen + 1, std::memory_order_relaxed);
    }
  });
  run_together([&] {
    for (long i = 0; i < kIters; ++i) {
      std::lock_guard<mr::Lock> guard(lock);
      ++c->locked;
    }
  });

  const long expected = kProcs * kIters;
  std::printf("without a lock: %ld of %ld (%ld increments lost%s)\n", c->unlocked, expected,
              expected - c->unlocked,
              c->unlocked == expected ? ": lucky scheduling this time" : "");
  std::printf("with mr::Lock:  %ld of %ld\n", c->locked, expected);
  return c->locked == expected ? 0 : 1;
}
