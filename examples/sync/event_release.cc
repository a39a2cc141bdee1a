// An mr::Event releasing waiting processes: three workers (mr::Process,
// fork) start, report ready and wait on the event; the parent sets it once
// everyone is ready, and all of them go at once.
#include <cstdio>
#include <vector>

#include "mr/process/process.h"
#include "mr/sync/sync.h"

int main() {
  using namespace std::chrono_literals;
  constexpr int kWorkers = 3;
  mr::Event start;
  mr::Semaphore ready(0);

  std::vector<mr::Process> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      std::printf("worker %d: ready, waiting for the start signal\n", w);
      std::fflush(stdout);
      ready.release();
      if (!start.wait_for(5s)) return 1;
      std::printf("worker %d: released\n", w);
      return 0;
    });
  }
  for (auto& p : workers) p.start();
  for (int w = 0; w < kWorkers; ++w) ready.acquire();
  std::printf("parent: all %d ready; event is_set=%d; wait_for(100ms) -> %d\n", kWorkers,
              start.is_set(), start.wait_for(100ms));
  std::printf("parent: set()\n");
  std::fflush(stdout);
  start.set();
  for (auto& p : workers) p.join_checked();
  return 0;
}
