// The classic comparison: find the primes in 3-10000, 10001-20000 and
// 20001-30000 sequentially, with a ThreadPool and with a ProcessPool, and
// print the time of each. (Trial division on purpose: the work is CPU-bound,
// so threads and processes both scale with cores in C++; there is no GIL.)
//
// Usage: example_find_primes [SCALE]. The course's ranges take about a
// millisecond, less than handing the work to a pool costs, so sequential
// wins; with SCALE (e.g. 100: 3-1000000, 1000001-2000000, 2000001-3000000)
// the pools pull ahead on a machine with several cores.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <vector>

#include "mr/pool/process_pool.h"
#include "mr/pool/thread_pool.h"

namespace {

std::vector<int> find_primes(int from, int to) {
  std::vector<int> primes;
  for (int n = from; n <= to; ++n) {
    bool prime = n >= 2;
    for (int d = 2; d * d <= n && prime; ++d) prime = n % d != 0;
    if (prime) primes.push_back(n);
  }
  return primes;
}

std::vector<std::tuple<int, int>> ranges(int scale) {
  return {
      {3, 10000 * scale}, {10000 * scale + 1, 20000 * scale}, {20000 * scale + 1, 30000 * scale}};
}

template <class Run>
void timed(const char* name, Run run) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int>> found = run();
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-10s %7.2f ms  primes per range:", name, ms);
  for (const auto& p : found) std::printf(" %zu", p.size());
  std::printf("  (last: %d)\n", found.back().back());
}

}  // namespace

int main(int argc, char** argv) {
  const int scale = argc > 1 ? std::atoi(argv[1]) : 1;
  if (scale < 1 || scale > 60000) {
    std::fprintf(stderr, "usage: example_find_primes [SCALE]  (1 to 60000, default 1)\n");
    return 2;
  }
  const std::vector<std::tuple<int, int>> kRanges = ranges(scale);
  timed("sequential", [&] {
    std::vector<std::vector<int>> out;
    for (auto [a, b] : kRanges) out.push_back(find_primes(a, b));
    return out;
  });
  {
    mr::ThreadPool pool({.workers = 3});
    timed("threads", [&] { return pool.starmap(find_primes, kRanges); });
  }
  {
    mr::ProcessPool pool({.workers = 3});  // started before timing, as in Python
    timed("processes", [&] { return pool.starmap(find_primes, kRanges); });
  }
  return 0;
}
