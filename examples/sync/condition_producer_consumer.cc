// Producer/consumer over a bounded buffer in shared memory, guarded by one
// mr::Lock with two mr::Conditions (not_full, not_empty). The producer and
// the consumer are separate processes (mr::Process, fork); the buffer holds
// only 3 items, so they take turns.
#include <cstdio>
#include <mutex>
#include <new>

#include "mr/base/shared_region.h"
#include "mr/process/process.h"
#include "mr/sync/sync.h"

namespace {

constexpr int kCapacity = 3;
constexpr int kItems = 10;
constexpr int kDone = -1;

struct Buffer {
  int items[kCapacity];
  int head;
  int count;
};

}  // namespace

int main() {
  auto region = mr::SharedRegion::anonymous(sizeof(Buffer));
  auto* buf = new (region.data()) Buffer{};
  mr::Lock lock;
  mr::Condition not_full(lock), not_empty(lock);

  auto put = [&](int v) {
    std::lock_guard<mr::Lock> g(lock);
    not_full.wait([&] { return buf->count < kCapacity; });
    buf->items[(buf->head + buf->count) % kCapacity] = v;
    ++buf->count;
    not_empty.notify();
  };
  auto get = [&] {
    std::lock_guard<mr::Lock> g(lock);
    not_empty.wait([&] { return buf->count > 0; });
    int v = buf->items[buf->head];
    buf->head = (buf->head + 1) % kCapacity;
    --buf->count;
    not_full.notify();
    return v;
  };

  mr::Process producer([&] {
    for (int i = 1; i <= kItems; ++i) {
      put(i * i);
      std::printf("producer: put %d\n", i * i);
      std::fflush(stdout);
    }
    put(kDone);
  });
  mr::Process consumer([&] {
    long sum = 0;
    for (int v; (v = get()) != kDone;) {
      std::printf("consumer:         got %d\n", v);
      std::fflush(stdout);
      sum += v;
    }
    std::printf("consumer: sum of squares 1..%d = %ld\n", kItems, sum);
    return sum == 385 ? 0 : 1;
  });
  producer.start();
  consumer.start();
  producer.join_checked();
  consumer.join_checked();
  return 0;
}
