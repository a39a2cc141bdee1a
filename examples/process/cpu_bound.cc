// CPU-bound work done sequentially, then split over processes: counting the
// primes below a limit by trial division. Each child counts its share and
// sends its count back through a pipe; both times are printed.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "mr/base/io.h"
#include "mr/base/unique_fd.h"
#include "mr/process/process.h"

namespace {

constexpr std::int64_t kLimit = 600'000;

bool is_prime(std::int64_t n) {
  if (n < 2) return false;
  for (std::int64_t d = 2; d * d <= n; ++d)
    if (n % d == 0) return false;
  return true;
}

// Primes in the blocks of kBlock numbers below kLimit whose index is
// `part` modulo `parts` (round-robin blocks balance the growing cost).
constexpr std::int64_t kBlock = 1000;
std::int64_t count_part(int part, int parts) {
  std::int64_t count = 0;
  for (std::int64_t b = part * kBlock; b < kLimit; b += parts * kBlock)
    for (std::int64_t n = b; n < b + kBlock && n < kLimit; ++n) count += is_prime(n);
  return count;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main() {
  const int workers = mr::cpu_count();

  auto t0 = std::chrono::steady_clock::now();
  const std::int64_t sequential = count_part(0, 1);
  const double sequential_ms = ms_since(t0);
  std::printf("sequential:        %lld primes below %lld in %7.1f ms\n",
              static_cast<long long>(sequential), static_cast<long long>(kLimit), sequential_ms);

  t0 = std::chrono::steady_clock::now();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return 1;
  mr::UniqueFd results_r(fds[0]), results_w(fds[1]);
  std::vector<mr::Process> ps;
  for (int i = 0; i < workers; ++i)
    ps.emplace_back([&results_w, i, workers] {
      std::int64_t c = count_part(i, workers);  // 8 bytes: one atomic pipe write
      mr::write_full(results_w.get(), &c, sizeof c);
    });
  for (auto& p : ps) p.start();
  std::int64_t parallel = 0;
  for (int i = 0; i < workers; ++i) {
    std::int64_t c = 0;
    if (!mr::read_full(results_r.get(), &c, sizeof c)) return 1;
    parallel += c;
  }
  for (auto& p : ps) p.join();
  const double parallel_ms = ms_since(t0);
  std::printf("%2d processes:      %lld primes below %lld in %7.1f ms (speed-up %.2fx)\n", workers,
              static_cast<long long>(parallel), static_cast<long long>(kLimit), parallel_ms,
              sequential_ms / parallel_ms);
  return parallel == sequential ? 0 : 1;
}
