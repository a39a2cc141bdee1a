// Must not compile: a pointer result cannot travel back from a worker.
// tests/pool/CMakeLists.txt checks the compiler's message.
#include <vector>

#include "mr/pool/process_pool.h"

const char* name(int) { return "worker"; }

int main() {
  mr::ProcessPool pool({.workers = 1});
  return pool.map(name, std::vector<int>{1, 2}).size() == 2 ? 0 : 1;
}
