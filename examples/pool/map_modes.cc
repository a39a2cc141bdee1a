// map, imap, imap_unordered and map_async side by side on a ProcessPool.
// Usage: example_map_modes [--map] [--imap] [--imap_unordered] [--map_async]
// (no flag: all four). Each task sleeps a little, longer for small inputs,
// so the orders differ: map and map_async return everything at once in
// input order, imap yields in input order as results arrive, imap_unordered
// in completion order.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "mr/pool/process_pool.h"

namespace {

int slow_square(int x) {
  ::usleep(static_cast<useconds_t>((8 - x) * 15000));  // 0..8: 120 ms .. 0 ms
  return x * x;
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  bool all = argc == 1;
  auto want = [&](const char* flag) {
    for (int i = 1; i < argc; ++i)
      if (std::strcmp(argv[i], flag) == 0) return true;
    return all;
  };
  std::vector<int> inputs{0, 1, 2, 3, 4, 5, 6, 7, 8};
  mr::ProcessPool pool({.workers = 3});

  if (want("--map")) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<int> out = pool.map(slow_square, inputs);
    std::printf("map            (%4.0f ms, all at once):", since(t0));
    for (int v : out) std::printf(" %d", v);
    std::printf("\n");
  }
  if (want("--imap")) {
    auto t0 = std::chrono::steady_clock::now();
    std::printf("imap           (input order, as they arrive):\n");
    for (int v : pool.imap(slow_square, inputs)) std::printf("  %4.0f ms: %d\n", since(t0), v);
  }
  if (want("--imap_unordered")) {
    auto t0 = std::chrono::steady_clock::now();
    std::printf("imap_unordered (completion order):\n");
    for (int v : pool.imap_unordered(slow_square, inputs))
      std::printf("  %4.0f ms: %d\n", since(t0), v);
  }
  if (want("--map_async")) {
    auto t0 = std::chrono::steady_clock::now();
    mr::Future<std::vector<int>> f = pool.map_async(slow_square, inputs);
    std::printf("map_async      returned after %.0f ms; ready: %s\n", since(t0),
                f.ready() ? "yes" : "no");
    const std::vector<int>& out = f.get();
    std::printf("map_async      (%4.0f ms, future):", since(t0));
    for (int v : out) std::printf(" %d", v);
    std::printf("\n");
  }
  return 0;
}
