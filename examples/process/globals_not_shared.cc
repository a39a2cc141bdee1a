// Globals are not shared between processes: a forked child gets a copy of
// the parent's memory at fork time, a spawned child a fresh program. What
// either does to a global stays in that process.
#include <cstdio>

#include "mr/process/process.h"

int g_counter = 100;

int bump_and_print(int times) {
  for (int i = 0; i < times; ++i) ++g_counter;
  std::printf("  [%s] g_counter after %d increments: %d\n", mr::current_process().name().c_str(),
              times, g_counter);
  return 0;
}
MR_REGISTER_FUNCTION(bump_and_print);

int main(int argc, char** argv) {
  mr::spawn_main_hook(argc, argv);

  g_counter = 200;  // set in the parent before starting the children
  std::printf("parent: g_counter = %d\n", g_counter);

  mr::Process forked({.name = "forked"}, [] { return bump_and_print(5); });
  forked.start();
  forked.join();
  std::printf("parent after the forked child: g_counter = %d (the child changed its copy)\n",
              g_counter);

  mr::Process spawned({.name = "spawned", .start_method = mr::StartMethod::kSpawn},
                      mr::target<&bump_and_print>, 5);
  spawned.start();
  spawned.join();
  std::printf(
      "parent after the spawned child: g_counter = %d (the spawned child started from "
      "the initial 100, not 200: it is a fresh run of the program)\n",
      g_counter);
  return forked.exit_code() == 0 && spawned.exit_code() == 0 && g_counter == 200 ? 0 : 1;
}
