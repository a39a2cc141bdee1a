// A daemon versus a non-daemon child when the program exits: the non-daemon
// child is joined (the exit waits for it), the daemon child is terminated
// with SIGTERM, as in Python. (Destroying a running Process does the same
// for its child; here exit() leaves them alive for the exit handler.)
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "mr/process/process.h"

namespace {

void on_sigterm(int) {
  const char msg[] = "  [daemon] got SIGTERM at the parent's exit, stopping\n";
  ssize_t ignored = ::write(STDOUT_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  ::_exit(0);
}

}  // namespace

int main() {
  mr::Process daemon({.name = "daemon", .daemon = true}, [] {
    ::signal(SIGTERM, on_sigterm);
    std::printf("  [daemon] running forever (pid %d)\n", ::getpid());
    std::fflush(stdout);
    for (;;) ::pause();
  });
  mr::Process worker({.name = "worker"}, [] {
    std::printf("  [worker] working for 300 ms (pid %d)\n", ::getpid());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::printf("  [worker] done\n");
  });
  daemon.start();
  worker.start();
  // Give the daemon a moment to install its handler (an example, not a test).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::printf("exit(0) now: the worker (non-daemon) will be joined, the daemon terminated\n");
  std::fflush(stdout);
  std::exit(0);
}
