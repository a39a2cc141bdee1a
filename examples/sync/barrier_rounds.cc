// An mr::Barrier for three processes (mr::Process, fork) over three rounds:
// nobody starts round r+1 before everyone finished round r. wait() returns
// each process's arrival index, and the action runs once per round, in the
// last process to arrive.
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "mr/process/process.h"
#include "mr/sync/sync.h"

int main() {
  constexpr int kParties = 3, kRounds = 3;
  mr::Barrier barrier(kParties, [] {
    std::printf("  -- everyone arrived (action run by pid %d) --\n", static_cast<int>(::getpid()));
    std::fflush(stdout);
  });

  std::vector<mr::Process> procs;
  for (int p = 0; p < kParties; ++p) {
    procs.emplace_back([&, p] {
      for (int r = 0; r < kRounds; ++r) {
        ::usleep(static_cast<useconds_t>((p * 7 + r * 3) % 5) * 10'000);  // uneven work
        std::printf("process %d finished round %d\n", p, r);
        std::fflush(stdout);
        int index = barrier.wait();
        if (index == 0) {
          std::printf("process %d was first to arrive in round %d\n", p, r);
          std::fflush(stdout);
        }
      }
    });
  }
  for (auto& proc : procs) proc.start();
  for (auto& proc : procs) proc.join_checked();
  std::printf("all %d rounds done; broken() = %d\n", kRounds, barrier.broken());
  return 0;
}
