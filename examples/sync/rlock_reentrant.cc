// An mr::RLock re-entered by its holder while another process waits: the
// parent takes the lock, then a recursive function takes it again at each
// level; a child (mr::Process, fork) that wants it gets in only after the
// parent has released every level. An mr::Lock would refuse the re-entry
// (std::logic_error) instead.
#include <cstdio>

#include "mr/process/process.h"
#include "mr/sync/sync.h"

namespace {

void nested(mr::RLock& lock, int depth) {
  lock.acquire();  // already held by this thread: one level deeper
  std::printf("parent: holding at depth %d\n", depth);
  std::fflush(stdout);
  if (depth < 3) nested(lock, depth + 1);
  lock.release();
  std::printf("parent: released depth %d%s\n", depth,
              lock.held_by_caller() ? " (still held)" : " (free now)");
  std::fflush(stdout);
}

}  // namespace

int main() {
  using namespace std::chrono_literals;
  mr::RLock lock;
  mr::Event child_waiting;

  lock.acquire();  // depth 1
  mr::Process child([&] {
    std::printf("child: waiting for the lock\n");
    std::fflush(stdout);
    child_waiting.set();
    if (!lock.acquire_for(5s)) return 1;
    std::printf("child: got the lock\n");
    lock.release();
    return 0;
  });
  child.start();
  child_waiting.wait();
  nested(lock, 2);
  std::printf("parent: releasing the outermost level\n");
  std::fflush(stdout);
  lock.release();
  child.join_checked();
  return 0;
}
