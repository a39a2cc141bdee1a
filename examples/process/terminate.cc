// terminate() sends SIGTERM; the exit code of a child killed by a signal is
// minus the signal's number: -15. kill() sends SIGKILL: -9.
#include <unistd.h>

#include <cstdio>

#include "mr/process/process.h"

int main() {
  auto forever = [] {
    for (;;) ::pause();
  };
  mr::Process t(forever), k(forever);
  t.start();
  k.start();
  std::printf("started %s (pid %d) and %s (pid %d); alive: %d %d\n", t.name().c_str(), t.pid(),
              k.name().c_str(), k.pid(), t.is_alive(), k.is_alive());
  t.terminate();
  k.kill();
  t.join();
  k.join();
  std::printf("%s: exit code %d, %s\n", t.name().c_str(), *t.exit_code(),
              mr::describe_exit_code(*t.exit_code()).c_str());
  std::printf("%s: exit code %d, %s\n", k.name().c_str(), *k.exit_code(),
              mr::describe_exit_code(*k.exit_code()).c_str());
  return t.exit_code() == -15 && k.exit_code() == -9 ? 0 : 1;
}
