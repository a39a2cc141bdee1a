// Futures with a ProcessPool, and what Python's pool cannot do: a worker
// that dies mid-task fails only that task's future (mr::WorkerDied naming
// the signal), a task past its timeout is killed (mr::TimeoutError), and
// the pool goes on.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "mr/pool/process_pool.h"

using namespace std::chrono_literals;

namespace {
int square(int x) { return x * x; }
int crash(int) {
  ::raise(SIGKILL);  // as if the OOM killer struck
  return 0;
}
int hang(int) {
  ::sleep(60);
  return 0;
}
}  // namespace

int main() {
  mr::ProcessPool pool({.workers = 2, .task_timeout = 500ms});

  std::vector<mr::Future<int>> fs;
  for (int i = 1; i <= 5; ++i) fs.push_back(pool.submit(square, i));
  std::printf("squares in completion order:");
  for (const auto& f : mr::as_completed(fs, 5s)) std::printf(" %d", f.get());
  std::printf("\n");

  try {
    pool.submit(crash, 0).get();
  } catch (const mr::WorkerDied& e) {
    std::printf("WorkerDied: %s\n", e.what());
  }
  try {
    pool.submit(hang, 0).get();
  } catch (const mr::TimeoutError& e) {
    std::printf("TimeoutError: %s\n", e.what());
  }
  std::printf("the pool still works: square(12) = %d\n", pool.apply(square, 12));
  return 0;
}
