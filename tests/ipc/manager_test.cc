// Tests of Manager and SharedMemoryManager: objects served to processes
// that were not forked from the manager's creator (spawned, forkserver),
// authentication, blocking calls parked in the server, locks released when
// their holder dies, and shared memory that never outlives its owner (even
// SIGKILLed) or its server (SIGKILLed: swept by the next start). Every
// wait is bounded.
#include "mr/ipc/manager.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "mr/base/io.h"
#include "mr/base/unique_fd.h"
#include "mr/process/process.h"

using namespace std::chrono_literals;

// What a spawned or forkserver client does with the manager at
// `address`: reads "a", writes "b", appends to a list, puts on a queue and
// takes and gives back a lock. Exit code 0 when everything held.
int use_manager(std::string address, std::string authkey) {
  mr::ManagerClient client(address, authkey);
  auto d = client.dict<std::string, int>("d");
  if (d.get("a") != std::optional<int>(1)) return 1;
  d.set("b", 2);
  auto l = client.list<int>("l");
  l.append(10);
  l.append(20);
  client.queue<std::string>("q").put("hello from " + std::to_string(::getpid()));
  auto lock = client.lock("L");
  if (!lock.acquire_for(20s)) return 2;
  lock.release();
  return 0;
}
MR_REGISTER_FUNCTION(use_manager);

namespace {

bool shm_exists(const std::string& name) {
  struct stat st;
  return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

// True once `pid` has ended (reaping it if it became our child), within
// `timeout`.
bool wait_gone(pid_t pid, mr::Timeout timeout) {
  mr::UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0u)));
  if (!fd) return errno == ESRCH;
  if (!mr::wait_readable(fd.get(), mr::Deadline::after(timeout))) return false;
  ::waitpid(pid, nullptr, WNOHANG);
  return true;
}

// Orphans (a killed owner's manager server) come to this process, which
// reaps them, instead of init.
struct Subreaper {
  Subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~Subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

// The forkserver is started once, before the first test, so that it is no
// test's leftover child.
class ManagerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { mr::forkserver_start(); }
};

TEST_F(ManagerTest, ObjectsReachSpawnedAndForkserverProcesses) {
  mr::Manager manager;
  EXPECT_EQ(manager.address().rfind("@mr.", 0), 0u) << manager.address();
  auto d = manager.dict<std::string, int>("d");
  d.set("a", 1);
  for (mr::StartMethod m : {mr::StartMethod::kSpawn, mr::StartMethod::kForkserver}) {
    mr::Process p({.start_method = m}, mr::target<&use_manager>, manager.address(),
                  manager.authkey());
    p.start();
    ASSERT_TRUE(p.join_for(30s));
    EXPECT_EQ(p.exit_code(), 0) << mr::to_string(m);
    auto got = manager.queue<std::string>("q").get_for(20s);
    EXPECT_EQ(got, "hello from " + std::to_string(p.pid()));
  }
  EXPECT_EQ(d.get("b"), std::optional<int>(2));
  EXPECT_EQ(d.size(), 2u);
  EXPECT_EQ(d.items(), (std::vector<std::pair<std::string, int>>{{"a", 1}, {"b", 2}}));
  EXPECT_EQ(d.pop("a"), std::optional<int>(1));
  EXPECT_EQ(d.setdefault("c", 3), 3);
  EXPECT_FALSE(d.contains("a"));
  auto l = manager.list<int>("l");
  EXPECT_EQ(l.items(), (std::vector<int>{10, 20, 10, 20}));
  EXPECT_EQ(l.at(-1), 20);
  l.set(0, 5);
  EXPECT_EQ(l.pop(0), 5);
  EXPECT_EQ(l.size(), 3u);
  EXPECT_THROW(l.at(7), std::out_of_range);
}

TEST_F(ManagerTest, WrongAuthkeyIsRefused) {
  mr::Manager manager;
  EXPECT_THROW(mr::ManagerClient(manager.address(), "not the key"), mr::ManagerError);
  EXPECT_THROW(mr::ManagerClient("@mr.nobody.listens.here", "x"), std::system_error);
  mr::ManagerClient ok(manager.address(), manager.authkey());
  ok.dict<int, int>("x").set(1, 1);
  EXPECT_EQ((manager.dict<int, int>("x").get(1)), std::optional<int>(1));
}

// A blocked get or acquire parks in the server, which keeps serving the
// other clients; a lock whose holder dies is released.
TEST_F(ManagerTest, BlockingCallsAndLocksOfDeadHolders) {
  mr::Manager manager;
  const std::string address = manager.address(), key = manager.authkey();
  auto q = manager.queue<int>("jobs");
  EXPECT_FALSE(q.get_for(20ms).has_value());
  mr::Process getter([&] {
    mr::ManagerClient own(address, key);  // a forked child makes its own client
    auto got = own.queue<int>("jobs").get_for(20s);
    return got == std::optional<int>(42) ? 0 : 1;
  });
  getter.start();
  // The getter is parked in the server, which still answers us.
  manager.dict<int, int>("busy").set(1, 1);
  q.put(42);
  ASSERT_TRUE(getter.join_for(30s));
  EXPECT_EQ(getter.exit_code(), 0);

  auto lock = manager.lock("L");
  lock.acquire();
  EXPECT_THROW(lock.acquire(), mr::ManagerError);  // not recursive
  EXPECT_FALSE(lock.try_acquire());
  mr::Process contender([&] {
    mr::ManagerClient own(address, key);
    auto l = own.lock("L");
    if (l.acquire_for(50ms)) return 1;  // we hold it
    own.queue<int>("tried").put(1);
    if (!l.acquire_for(20s)) return 2;  // released below
    return 0;                           // dies holding it: the server releases it
  });
  contender.start();
  mr::ManagerClient other(address, key);
  EXPECT_THROW(other.lock("L").release(), mr::ManagerError);  // not its holder
  EXPECT_EQ(manager.queue<int>("tried").get_for(20s), std::optional<int>(1));
  lock.release();
  ASSERT_TRUE(contender.join_for(30s));
  EXPECT_EQ(contender.exit_code(), 0);
  EXPECT_TRUE(lock.acquire_for(20s)) << "the dead holder's lock was not released";
  lock.release();
}

TEST(SharedMemoryManagerTest, SegmentsAreUnlinkedAtShutdown) {
  std::string name;
  {
    mr::SharedMemoryManager smm;
    mr::SharedMemory seg = smm.segment(4096);
    name = seg.name();
    EXPECT_EQ(name.rfind("mr." + std::to_string(smm.pid()) + ".", 0), 0u) << name;
    EXPECT_TRUE(shm_exists(name));
    EXPECT_FALSE(seg.owns_name());
    seg.as<int>()[0] = 7;
    mr::ManagerClient other(smm.address(), smm.authkey());
    EXPECT_EQ(mr::SharedMemory::open(name).as<int>()[0], 7);
    mr::SharedMemory early = other.segment(100);
    const std::string early_name = early.name();
    other.release(early);
    EXPECT_FALSE(shm_exists(early_name));
    EXPECT_THROW(smm.segment(0), std::invalid_argument);
  }
  EXPECT_FALSE(shm_exists(name));
}

// The owner is SIGKILLed: its server notices (the owner's pidfd), unlinks
// what it created and exits.
TEST(SharedMemoryManagerTest, NothingLeftWhenTheOwnerIsKilled) {
  Subreaper subreaper;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  mr::UniqueFd r(fds[0]), w(fds[1]);
  mr::Process owner([&] {
    mr::SharedMemoryManager smm;
    mr::SharedMemory seg = smm.segment(4096);
    const std::string report = std::to_string(smm.pid()) + " " + seg.name() + "\n";
    mr::write_full(w.get(), report.data(), report.size());
    for (;;) ::pause();
  });
  owner.start();
  w.reset();
  ASSERT_TRUE(mr::wait_readable(r.get(), mr::Deadline::after(20s)));
  char buf[256] = {};
  ASSERT_GT(::read(r.get(), buf, sizeof buf - 1), 0);
  const std::string line(buf);
  const pid_t server = std::stoi(line.substr(0, line.find(' ')));
  const std::string name = line.substr(line.find(' ') + 1, line.find('\n') - line.find(' ') - 1);
  EXPECT_TRUE(shm_exists(name));
  owner.kill();
  ASSERT_TRUE(owner.join_for(20s));
  EXPECT_TRUE(wait_gone(server, 20s));
  EXPECT_FALSE(shm_exists(name)) << "the server did not unlink after its owner's death";
}

// The server itself is SIGKILLed: its segments stay until the next
// SharedMemoryManager (of any process of the user) sweeps them.
TEST(SharedMemoryManagerTest, SegmentsOfAKilledServerAreSweptByTheNextStart) {
  mr::SharedMemoryManager first;
  const std::string name = first.segment(4096).name();
  ::kill(first.pid(), SIGKILL);
  first.shutdown();  // reaps it; nothing to unlink from here (not ours)
  EXPECT_TRUE(shm_exists(name));
  mr::SharedMemoryManager next;
  EXPECT_FALSE(shm_exists(name));
}

}  // namespace
