// Must not compile: a capturing lambda cannot travel to a worker process.
// tests/pool/CMakeLists.txt checks the compiler's message.
#include "mr/pool/process_pool.h"

int main() {
  mr::ProcessPool pool({.workers = 1});
  int k = 3;
  return pool.submit([k](int x) { return x * k; }, 2).get();
}
