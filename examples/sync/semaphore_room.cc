// An mr::Semaphore(2) as a room with two chairs: six processes (mr::Process,
// fork) want in, at most two are inside at any moment. A shared counter
// records the most ever inside at once.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <new>
#include <vector>

#include "mr/base/shared_region.h"
#include "mr/process/process.h"
#include "mr/sync/sync.h"

namespace {

constexpr int kChairs = 2;
constexpr int kVisitors = 6;

struct Room {
  std::atomic<int> inside;
  std::atomic<int> most;
};

}  // namespace

int main() {
  auto region = mr::SharedRegion::anonymous(sizeof(Room));
  auto* room = new (region.data()) Room{};
  mr::Semaphore chairs(kChairs);

  std::vector<mr::Process> visitors;
  for (int v = 0; v < kVisitors; ++v) {
    visitors.emplace_back([&, v] {
      chairs.acquire();
      int now = room->inside.fetch_add(1) + 1;
      for (int m = room->most.load(); now > m && !room->most.compare_exchange_weak(m, now);) {
      }
      std::printf("visitor %d enters (%d inside)\n", v, now);
      std::fflush(stdout);
      ::usleep(50'000);  // stays a while, so that the others queue up
      room->inside.fetch_sub(1);
      std::printf("visitor %d leaves\n", v);
      std::fflush(stdout);
      chairs.release();
    });
  }
  for (auto& p : visitors) p.start();
  for (auto& p : visitors) p.join_checked();
  std::printf("at most %d inside at once (chairs: %d)\n", room->most.load(), kChairs);
  return room->most.load() <= kChairs ? 0 : 1;
}
