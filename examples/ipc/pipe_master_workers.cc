// A master hands out work to several workers, one duplex mr::Pipe each, and
// collects the results: every worker sums the squares of the ranges it is
// sent until it receives an empty range, then exits.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <utility>
#include <vector>

#include "mr/ipc/pipe.h"
#include "mr/process/process.h"

int main() {
  constexpr int kWorkers = 3;
  constexpr std::uint64_t kEnd = 2'000'000, kChunk = 200'000;
  using Range = std::pair<std::uint64_t, std::uint64_t>;  // [first, last)

  std::vector<mr::Connection> master_ends, worker_ends;
  for (int w = 0; w < kWorkers; ++w) {
    auto [m, s] = mr::Pipe();
    master_ends.push_back(std::move(m));
    worker_ends.push_back(std::move(s));
  }
  std::vector<mr::Process> workers;
  workers.reserve(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([w, &master_ends, &worker_ends] {
      // Keep only this worker's end.
      for (auto& c : master_ends) c.close();
      for (int o = 0; o < kWorkers; ++o)
        if (o != w) worker_ends[o].close();
      mr::Connection& conn = worker_ends[w];
      for (;;) {
        auto [first, last] = conn.recv<Range>();
        if (first == last) return;
        std::uint64_t sum = 0;
        for (std::uint64_t i = first; i < last; ++i) sum += i * i;
        conn.send(std::make_pair(w, sum));
      }
    });
    workers.back().start();
  }
  for (auto& c : worker_ends) c.close();

  // One chunk in flight per worker; the next goes to whoever answers.
  std::uint64_t next = 0, total = 0;
  int busy = 0;
  std::vector<int> chunks_done(kWorkers, 0);
  for (int w = 0; w < kWorkers && next < kEnd; ++w, ++busy, next += kChunk)
    master_ends[w].send(Range{next, next + kChunk});
  while (busy > 0) {
    for (int w = 0; w < kWorkers; ++w) {
      if (!master_ends[w].poll(std::chrono::milliseconds(1))) continue;
      auto [who, sum] = master_ends[w].recv<std::pair<int, std::uint64_t>>();
      total += sum;
      ++chunks_done[who];
      --busy;
      if (next < kEnd) {
        master_ends[w].send(Range{next, next + kChunk});
        next += kChunk;
        ++busy;
      }
    }
  }
  for (auto& c : master_ends) c.send(Range{0, 0});
  for (auto& p : workers) p.join_checked();

  for (int w = 0; w < kWorkers; ++w) std::printf("worker %d did %d chunks\n", w, chunks_done[w]);
  // Sum of i^2 for i < n is (n-1)n(2n-1)/6 (fits in 64 bits for n = 2e6).
  const std::uint64_t n = kEnd;
  const std::uint64_t expected = (n - 1) * n / 2 * (2 * n - 1) / 3;
  std::printf("sum of squares below %llu = %llu (%s)\n", static_cast<unsigned long long>(kEnd),
              static_cast<unsigned long long>(total), total == expected ? "correct" : "WRONG");
  return total == expected ? 0 : 1;
}
