// The three start methods side by side: the time to start and join 20
// children that do nothing, with fork, spawn (fork + exec of this program)
// and forkserver (a server forks them; its own start is timed apart).
#include <chrono>
#include <cstdio>
#include <vector>

#include "mr/process/process.h"

int exit_with(int code) { return code; }
MR_REGISTER_FUNCTION(exit_with);

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool run_batch(mr::StartMethod method, int n) {
  std::vector<mr::Process> ps;
  for (int i = 0; i < n; ++i)
    ps.emplace_back(mr::ProcessOptions{.start_method = method}, mr::target<&exit_with>, i % 7);
  for (auto& p : ps) p.start();
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    ps[i].join();
    ok = ok && ps[i].exit_code() == i % 7;
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  mr::spawn_main_hook(argc, argv);
  constexpr int kChildren = 20;

  auto t0 = Clock::now();
  mr::forkserver_start();
  std::printf("forkserver started once in %.1f ms (pid %d)\n\n", ms_since(t0),
              mr::forkserver_pid());

  std::printf("%-11s %10s %14s\n", "method", "total ms", "ms per child");
  bool ok = true;
  for (auto method :
       {mr::StartMethod::kFork, mr::StartMethod::kSpawn, mr::StartMethod::kForkserver}) {
    t0 = Clock::now();
    ok = run_batch(method, kChildren) && ok;
    double ms = ms_since(t0);
    std::printf("%-11s %10.1f %14.2f\n", std::string(mr::to_string(method)).c_str(), ms,
                ms / kChildren);
  }
  std::printf("\n(%d children each, started then joined; exit codes checked: %s)\n", kChildren,
              ok ? "all right" : "WRONG");
  return ok ? 0 : 1;
}
