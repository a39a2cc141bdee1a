// An array in shared memory (mr::Array) negated by a child process
// (mr::Process, fork start method): the parent sees the child's writes,
// unlike with an ordinary std::vector, which the child only has a copy of.
#include <cstdio>
#include <vector>

#include "mr/ipc/array.h"
#include "mr/process/process.h"
#include "mr/sync/lock.h"

namespace {

void print(const char* what, const std::vector<double>& v) {
  std::printf("%-28s", what);
  for (double x : v) std::printf(" %5.1f", x);
  std::printf("\n");
}

}  // namespace

int main() {
  mr::Array<double> shared{1, 2, 3, 4, 5};
  std::vector<double> copy{1, 2, 3, 4, 5};
  print("before:", shared.to_vector());

  mr::Process child([&] {
    mr::LockGuard guard(shared.get_lock());
    for (double& x : shared) x = -x;
    for (double& x : copy) x = -x;  // only the child's copy changes
  });
  child.start();
  child.join_checked();

  const auto after = shared.to_vector();
  print("after, mr::Array:", after);
  print("after, std::vector (copy):", copy);
  return after == std::vector<double>{-1, -2, -3, -4, -5} && copy[0] == 1 ? 0 : 1;
}
