// ipc_bench: how fast small integers travel from one process to another
// through mr::Pipe, mr::Queue and mr::JoinableQueue (task_done per item).
// bench/ipc_bench.py does the same with Python's multiprocessing and
// bench/ipc_bench.sh prints both tables side by side with the ratios.
//
// Each run: the parent sends the integers 0..N-1; a fork()ed child receives
// them, adds them up and sends the sum back over a pipe. Timed from before
// the fork to the parent holding the (checked) sum; for JoinableQueue the
// parent also join()s, which returns once the child task_done()d every item.
//
//   ipc_bench [--max-n N] [--repeat R] [--only MECHANISM]
//   (defaults 1000000, 3 (best of R), all mechanisms)
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "mr/ipc/pipe.h"
#include "mr/ipc/queue.h"

namespace {

using Clock = std::chrono::steady_clock;

pid_t fork_child(const std::function<void()>& body) {
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid == 0) {
    int code = 0;
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 1;
    }
    ::_exit(code);
  }
  return pid;
}

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "child failed\n");
    std::exit(1);
  }
}

std::uint64_t expected_sum(std::uint64_t n) { return n * (n - 1) / 2; }

void check(std::uint64_t got, std::uint64_t n) {
  if (got != expected_sum(n)) {
    std::fprintf(stderr, "wrong sum %llu for N=%llu\n", static_cast<unsigned long long>(got),
                 static_cast<unsigned long long>(n));
    std::exit(1);
  }
}

double run_pipe(std::uint64_t n) {
  auto t0 = Clock::now();
  auto [parent, child] = mr::Pipe();
  pid_t pid = fork_child([&, &parent = parent, &child = child] {
    parent.close();
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) sum += child.recv<std::int64_t>();
    child.send(sum);
  });
  child.close();
  for (std::uint64_t i = 0; i < n; ++i) parent.send(static_cast<std::int64_t>(i));
  check(parent.recv<std::uint64_t>(), n);
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  reap(pid);
  return s;
}

template <class Q>
double run_queue(std::uint64_t n) {
  auto t0 = Clock::now();
  Q q;
  auto [r, w] = mr::Pipe(false);
  pid_t pid = fork_child([&, &r = r, &w = w] {
    r.close();
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      sum += q.get();
      if constexpr (requires { q.task_done(); }) q.task_done();
    }
    w.send(sum);
  });
  w.close();
  for (std::uint64_t i = 0; i < n; ++i) q.put(static_cast<std::int64_t>(i));
  if constexpr (requires { q.join(); }) q.join();
  check(r.recv<std::uint64_t>(), n);
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  reap(pid);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t max_n = 1'000'000;
  int repeat = 3;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--max-n" && i + 1 < argc) {
      max_n = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--max-n N] [--repeat R] [--only MECHANISM]\n", argv[0]);
      return 2;
    }
  }
  struct Mechanism {
    const char* name;
    double (*run)(std::uint64_t);
  };
  const Mechanism mechanisms[] = {
      {"Pipe", run_pipe},
      {"Queue", run_queue<mr::Queue<std::int64_t>>},
      {"JoinableQueue", run_queue<mr::JoinableQueue<std::int64_t>>},
  };
  std::printf("# C++ mr::ipc, best of %d\n", repeat);
  std::printf("%-14s %10s %12s %14s\n", "mechanism", "N", "seconds", "messages/s");
  for (const auto& m : mechanisms) {
    if (!only.empty() && only != m.name) continue;
    for (std::uint64_t n = 10'000; n <= max_n; n *= 10) {
      double best = 1e300;
      for (int r = 0; r < repeat; ++r) best = std::min(best, m.run(n));
      std::printf("%-14s %10llu %12.6f %14.0f\n", m.name, static_cast<unsigned long long>(n), best,
                  static_cast<double>(n) / best);
      std::fflush(stdout);
    }
  }
  return 0;
}
