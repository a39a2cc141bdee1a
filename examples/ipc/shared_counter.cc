// A counter in shared memory (mr::Value) incremented by four processes
// (mr::Process, fork start method; an mr::Barrier lines them up), twice: first with an unlocked
// read-modify-write, which loses increments when two processes read the
// same old value, then under get_lock(), which is exact.
#include <cstdio>
#include <vector>

#include "mr/ipc/value.h"
#include "mr/process/process.h"
#include "mr/sync/barrier.h"
#include "mr/sync/lock.h"

namespace {

constexpr int kProcesses = 4;
constexpr long kIncrements = 50000;
// The unlocked loop is much faster; more rounds make the processes overlap.
constexpr long kUnlockedIncrements = 20000000;

// Starts kProcesses children that pass a barrier together, so that their
// loops really overlap, then run `body`.
template <class Body>
void run_in_children(const Body& body) {
  mr::Barrier start(kProcesses);
  std::vector<mr::Process> children;
  for (int i = 0; i < kProcesses; ++i) {
    children.emplace_back([&] {
      start.wait();
      body();
    });
  }
  for (auto& c : children) c.start();
  for (auto& c : children) c.join_checked();
}

}  // namespace

int main() {
  mr::Value<long> counter(0);

  // Unlocked: load, add, store as three steps; another process may store in
  // between, and its increment is overwritten. (volatile only keeps the
  // compiler from merging the loop into one addition.)
  run_in_children([&] {
    volatile long* raw = counter.data();
    for (long i = 0; i < kUnlockedIncrements; ++i) *raw = *raw + 1;
  });
  const long unlocked = counter.load();
  const long unlocked_expected = kProcesses * kUnlockedIncrements;

  counter.store(0);
  run_in_children([&] {
    for (long i = 0; i < kIncrements; ++i) {
      mr::LockGuard guard(counter.get_lock());
      *counter += 1;
    }
  });
  const long locked = counter.load();

  const long expected = kProcesses * kIncrements;
  std::printf("unlocked:   %ld of %ld increments counted (%ld lost to the race)\n", unlocked,
              unlocked_expected, unlocked_expected - unlocked);
  std::printf("get_lock(): %ld of %ld increments counted (%s)\n", locked, expected,
              locked == expected ? "exact" : "WRONG");
  return locked == expected ? 0 : 1;
}
