// The classic comparison: find the primes in 3-10000, 10001-20000 and
// 20001-30000 sequentially, with a ThreadPool and with a ProcessPool, and
// print the time of each. (Trial division on purpose: the work is CPU-bound,
// so threads and processes both scale with cores in C++; there is no GIL.)
#include <chrono>
#include <cstdio>
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

const std::vector<std::tuple<int, int>> kRanges{{3, 10000}, {10001, 20000}, {20001, 30000}};

template <class Run>
void timed(const char* name, Run run) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int>> found = run();
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-10s %7.2f ms  primes per range:", name, ms);
  for (const auto& p : found) std::printf(" %zu", p.size());
  std::printf("  (last: %d)\n", found.back().back());
}

}  // namespace

int main() {
  timed("sequential", [] {
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
