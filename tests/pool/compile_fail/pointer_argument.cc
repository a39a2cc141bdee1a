// Must not compile: a pointer argument cannot travel to a worker process.
// tests/pool/CMakeLists.txt checks the compiler's message.
#include "mr/pool/process_pool.h"

int deref(const int* p) { return *p; }

int main() {
  mr::ProcessPool pool({.workers = 1});
  int x = 3;
  return pool.submit(deref, &x).get();
}
