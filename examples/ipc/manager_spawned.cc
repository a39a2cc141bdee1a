// The SyncManager lesson: objects served by a manager process to workers
// that were *spawned* (fresh runs of this program, sharing no memory with
// it), reached by an address and an authkey, as Python's
// multiprocessing.managers do. Three workers take numbers from a manager
// queue, store their squares in a manager dict, count them under a manager
// lock in a manager list, and write into a segment of a SharedMemoryManager
// that is unlinked when it stops. (A SharedDict would not do here: it
// reaches only fork()ed children.)
#include <cstdio>
#include <string>
#include <vector>

#include "mr/ipc/manager.h"
#include "mr/process/process.h"

namespace {
constexpr int kWorkers = 3;
constexpr int kJobs = 9;
}  // namespace

// A spawned worker: everything it knows comes in its arguments.
void worker(std::string address, std::string authkey, std::string segment) {
  mr::ManagerClient manager(address, authkey);
  auto jobs = manager.queue<int>("jobs");
  auto squares = manager.dict<int, int>("squares");
  auto done = manager.list<int>("done");
  auto lock = manager.lock("count");
  mr::SharedMemory shared = mr::SharedMemory::open(segment);
  for (;;) {
    const int n = jobs.get();
    if (n < 0) return;  // the stop marker
    squares.set(n, n * n);
    shared.as<int>()[n] = n * n;
    std::lock_guard guard(lock);
    done.append(n);
  }
}
MR_REGISTER_FUNCTION(worker);

int main(int argc, char** argv) {
  mr::spawn_main_hook(argc, argv);  // a spawned worker runs worker() here

  mr::Manager manager;             // the server process for the objects
  mr::SharedMemoryManager memory;  // and one for shared memory segments
  mr::SharedMemory shared = memory.segment(kJobs * sizeof(int));
  std::printf("manager at %s, segment %s\n", manager.address().c_str(), shared.name().c_str());

  auto jobs = manager.queue<int>("jobs");
  for (int n = 0; n < kJobs; ++n) jobs.put(n);
  for (int w = 0; w < kWorkers; ++w) jobs.put(-1);

  std::vector<mr::Process> workers;
  for (int w = 0; w < kWorkers; ++w)
    workers.emplace_back(mr::ProcessOptions{.start_method = mr::StartMethod::kSpawn},
                         mr::target<&worker>, manager.address(), manager.authkey(), shared.name());
  for (auto& w : workers) w.start();
  for (auto& w : workers) w.join_checked();

  auto squares = manager.dict<int, int>("squares");
  int ok = 0;
  for (const auto& [n, sq] : squares.items()) ok += sq == n * n && shared.as<int>()[n] == sq;
  std::printf("%zu squares from %d spawned workers, %d correct, %zu counted under the lock\n",
              squares.size(), kWorkers, ok, manager.list<int>("done").size());
  // Leaving main: the managers shut down; the segment is unlinked.
  return ok == kJobs && manager.list<int>("done").size() == kJobs ? 0 : 1;
}
