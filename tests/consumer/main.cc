// Squares numbers in worker processes with mr::ProcessPool, linked from an
// installed mapreduce package. Exits 1 if a result is wrong.
#include <cstdio>
#include <vector>

#include "mr/pool/process_pool.h"

int square(int x) { return x * x; }

int main() {
  mr::ProcessPool pool({.workers = 2});

  // map: results in input order, computed by the workers.
  std::vector<int> squares = pool.map(square, std::vector<int>{1, 2, 3, 4, 5});

  // submit: one task, its result through a future.
  mr::Future<int> sum = pool.submit([](int a, int b) { return a + b; }, 40, 2);

  for (int s : squares) std::printf("%d ", s);
  std::printf("| %d\n", sum.get());
  const bool ok = squares == std::vector<int>{1, 4, 9, 16, 25} && sum.get() == 42;
  return ok ? 0 : 1;
}
