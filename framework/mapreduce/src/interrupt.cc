#include "mr/mapreduce/interrupt.h"

#include <signal.h>

namespace mr {
namespace {

volatile sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) { g_interrupted = 1; }

}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  // A hang-up is an interrupt too, unless it was ignored at start (nohup).
  struct sigaction old {};
  ::sigaction(SIGHUP, nullptr, &old);
  if (old.sa_handler != SIG_IGN) ::sigaction(SIGHUP, &sa, nullptr);
}

bool interrupted() noexcept { return g_interrupted != 0; }

}  // namespace mr
