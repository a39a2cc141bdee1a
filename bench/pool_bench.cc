// pool_bench: what a pool and a process cost. bench/pool_bench.py does the
// same with Python's multiprocessing and bench/pool_bench.sh prints both
// tables side by side with the ratios.
//
// map_cN: mr::ProcessPool::map(square, 0..N-1, chunksize N) on a pool that
// already runs (the pool's start is not timed); the results are checked.
// map_spawn_cN: the same with the spawn start method (socket channel).
// start_M: start() then join() of one mr::Process running a registered
// no-op function, P times in a row, with start method M.
//
//   pool_bench [--tasks N] [--workers W] [--repeat R] [--processes P]
//              [--only map|start] [--fork-only]
//   (defaults 100000, cpu_count(), 3 (best of R), 1000, both)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "mr/pool/process_pool.h"
#include "mr/process/process.h"

namespace {

using Clock = std::chrono::steady_clock;

int square(int x) { return x * x; }

void noop() {}

double best_of(int repeat, const std::function<double()>& run) {
  double best = 1e300;
  for (int r = 0; r < repeat; ++r) best = std::min(best, run());
  return best;
}

void row(const std::string& name, std::size_t n, double seconds) {
  std::printf("%-18s %8zu %12.6f %14.0f\n", name.c_str(), n, seconds,
              static_cast<double>(n) / seconds);
  std::fflush(stdout);
}

}  // namespace

MR_REGISTER_FUNCTION(noop);

int main(int argc, char** argv) {
  mr::spawn_main_hook(argc, argv);
  std::size_t tasks = 100000, workers = 0, processes = 1000;
  int repeat = 3;
  std::string only;
  bool map_spawn = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tasks" && i + 1 < argc) {
      tasks = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--workers" && i + 1 < argc) {
      workers = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else if (a == "--processes" && i + 1 < argc) {
      processes = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--fork-only") {
      map_spawn = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--tasks N] [--workers W] [--repeat R] [--processes P] "
                   "[--only map|start] [--fork-only]\n",
                   argv[0]);
      return 2;
    }
  }
  if (workers == 0) workers = static_cast<std::size_t>(mr::cpu_count());
  if (repeat < 1) repeat = 1;

  std::printf("# pool_bench (C++ mr): workers=%zu, best of %d\n", workers, repeat);
  std::printf("%-18s %8s %12s %14s\n", "test", "N", "seconds", "per_second");

  if (only.empty() || only == "map") {
    std::vector<int> inputs(tasks);
    std::iota(inputs.begin(), inputs.end(), 0);
    std::uint64_t expect = 0;
    for (int x : inputs) expect += static_cast<std::uint64_t>(square(x));
    for (mr::StartMethod m : {mr::StartMethod::kFork, mr::StartMethod::kSpawn}) {
      if (m == mr::StartMethod::kSpawn && !map_spawn) continue;
      mr::ProcessPool pool({.workers = workers, .start_method = m});
      const std::string prefix = m == mr::StartMethod::kFork ? "map_c" : "map_spawn_c";
      for (std::size_t chunksize : {std::size_t{1}, std::size_t{1000}}) {
        const double s = best_of(repeat, [&] {
          const auto t0 = Clock::now();
          std::vector<int> out = pool.map(square, inputs, chunksize);
          const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
          std::uint64_t sum = 0;
          for (int v : out) sum += static_cast<std::uint64_t>(v);
          if (out.size() != inputs.size() || sum != expect) {
            std::fprintf(stderr, "map: wrong results\n");
            std::exit(1);
          }
          return dt;
        });
        row(prefix + std::to_string(chunksize), tasks, s);
      }
    }
  }

  if (only.empty() || only == "start") {
    for (mr::StartMethod m :
         {mr::StartMethod::kFork, mr::StartMethod::kSpawn, mr::StartMethod::kForkserver}) {
      if (m == mr::StartMethod::kForkserver) mr::forkserver_start();  // not timed, as in Python
      mr::ProcessOptions po;
      po.start_method = m;
      const double s = best_of(repeat, [&] {
        const auto t0 = Clock::now();
        for (std::size_t i = 0; i < processes; ++i) {
          mr::Process p(po, mr::target<&noop>);
          p.start();
          p.join();
          if (p.exit_code() != 0) {
            std::fprintf(stderr, "start_%s: child failed\n", std::string(to_string(m)).c_str());
            std::exit(1);
          }
        }
        return std::chrono::duration<double>(Clock::now() - t0).count();
      });
      row("start_" + std::string(to_string(m)), processes, s);
    }
  }
  return 0;
}
