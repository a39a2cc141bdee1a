// Tests of the ipc layer's shared memory: segments (anonymous, memfd, named),
// Value/Array and their raw twins, and SharedDict, across real fork()ed
// processes. Every wait on a child is bounded (wait_child()).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "mr/base/error.h"
#include "mr/base/io.h"
#include "mr/base/unique_fd.h"
#include "mr/ipc/array.h"
#include "mr/ipc/detail/byte_map.h"
#include "mr/ipc/shared_dict.h"
#include "mr/ipc/shared_memory.h"
#include "mr/ipc/value.h"
#include "mr/sync/lock.h"

namespace {

using namespace std::chrono_literals;

// Waits for `pid` at most `timeout`; on timeout kills and reaps it and fails
// the test. Returns the exit code, or 128+signal.
int wait_child(pid_t pid, std::chrono::milliseconds timeout = 15s) {
  mr::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    int r;
    do {
      r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      ADD_FAILURE() << "child " << pid << " did not finish within " << timeout.count() << " ms";
      ::kill(pid, SIGKILL);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Forks a child that runs `fn` (returning its exit code; an exception means
// 99) and ends with _exit. Returns the pid.
template <class F>
pid_t fork_child(F fn) {
  pid_t pid = ::fork();
  if (pid < 0) mr::throw_errno("fork");
  if (pid == 0) {
    int code = 99;
    try {
      code = fn();
    } catch (...) {
    }
    ::_exit(code);
  }
  return pid;
}

template <class F>
int run_child(F fn) {
  return wait_child(fork_child(std::move(fn)));
}

bool shm_exists(const std::string& name) {
  struct stat st;
  return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

// ---------------------------------------------------------------------------
// SharedMemory

TEST(SharedMemoryTest, AnonymousWrittenByChildIsVisibleToParent) {
  auto seg = mr::SharedMemory::anonymous(4096);
  EXPECT_EQ(seg.kind(), mr::SharedMemory::Kind::kAnonymous);
  EXPECT_EQ(seg.fd(), -1);
  auto* p = seg.as<int>();
  EXPECT_EQ(p[0], 0) << "fresh segments are zeroed";
  EXPECT_EQ(run_child([&] {
              for (int i = 0; i < 1024; ++i) p[i] = i * 3;
              return 0;
            }),
            0);
  for (int i = 0; i < 1024; ++i) ASSERT_EQ(p[i], i * 3);
}

TEST(SharedMemoryTest, MemfdIsMappedAgainThroughItsDescriptor) {
  auto seg = mr::SharedMemory::memfd(8192);
  ASSERT_GE(seg.fd(), 0);
  std::strcpy(static_cast<char*>(seg.data()), "hello through the fd");
  auto again = mr::SharedMemory::from_fd(seg.dup_fd());
  EXPECT_EQ(again.size(), 8192u);
  EXPECT_NE(again.data(), seg.data()) << "a second, distinct mapping";
  EXPECT_STREQ(static_cast<char*>(again.data()), "hello through the fd");
  static_cast<char*>(again.data())[0] = 'J';
  EXPECT_EQ(static_cast<char*>(seg.data())[0], 'J') << "both mappings share the pages";
}

TEST(SharedMemoryTest, MemfdDescriptorSurvivesExec) {
  auto seg = mr::SharedMemory::memfd(4096);
  std::strcpy(static_cast<char*>(seg.data()), "seen by cat");
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  mr::UniqueFd rd(out[0]), wr(out[1]);
  mr::UniqueFd dup = seg.dup_fd();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // DANGER: child side of fork, async-signal-safe calls only. dup2 clears
    // close-on-exec on the new descriptors.
    if (::dup2(dup.get(), 0) < 0 || ::dup2(wr.get(), 1) < 0) ::_exit(97);
    ::execl("/bin/cat", "cat", static_cast<char*>(nullptr));
    ::_exit(98);
  }
  wr.reset();
  std::string got(4096, '\0');
  bool ok = mr::read_full(rd.get(), got.data(), got.size());
  EXPECT_EQ(wait_child(pid), 0);
  ASSERT_TRUE(ok);
  EXPECT_EQ(got.substr(0, 11), "seen by cat");
}

TEST(SharedMemoryTest, NamedCreateOpenFromChildUnlink) {
  std::string name;
  {
    auto seg = mr::SharedMemory::create("shmtest", 4096);
    name = seg.name();
    EXPECT_EQ(name, "mr." + std::to_string(::getpid()) + ".shmtest");
    EXPECT_TRUE(seg.owns_name());
    EXPECT_TRUE(shm_exists(name));
    seg.as<int>()[0] = 7;
    EXPECT_EQ(run_child([&] {
                auto child = mr::SharedMemory::open(name);
                if (child.owns_name()) return 2;
                if (child.size() != 4096 || child.as<int>()[0] != 7) return 3;
                child.as<int>()[1] = 11;
                return 0;
              }),
              0);
    EXPECT_EQ(seg.as<int>()[1], 11);
    EXPECT_THROW(mr::SharedMemory::create("shmtest", 16), std::system_error) << "EEXIST";
    EXPECT_TRUE(seg.unlink());
    EXPECT_FALSE(shm_exists(name));
    EXPECT_FALSE(seg.unlink()) << "already gone";
    EXPECT_EQ(seg.as<int>()[1], 11) << "the mapping outlives the name";
    EXPECT_THROW(mr::SharedMemory::open(name), std::system_error);
  }
  {
    auto seg = mr::SharedMemory::create("", 100);
    name = seg.name();
    EXPECT_TRUE(shm_exists(name));
  }
  EXPECT_FALSE(shm_exists(name)) << "the creator unlinks on destruction";
  EXPECT_THROW(mr::SharedMemory::create("bad/label", 16), std::invalid_argument);
  // Size 0 is an error (Python's ValueError), and nothing is created.
  EXPECT_THROW(mr::SharedMemory::create("zero", 0), std::invalid_argument);
  EXPECT_FALSE(shm_exists("mr." + std::to_string(::getpid()) + ".zero"));
}

TEST(SharedMemoryTest, ForkedChildOfCreatorDoesNotUnlink) {
  auto seg = mr::SharedMemory::create("inherited", 64);
  const std::string name = seg.name();
  EXPECT_EQ(run_child([&] {
              if (seg.owns_name()) return 2;
              mr::SharedMemory gone = std::move(seg);
              gone = mr::SharedMemory();  // destroys the child's copy
              return 0;
            }),
            0);
  EXPECT_TRUE(shm_exists(name)) << "a forked child's copy must never unlink";
  auto other = mr::SharedMemory::open(name);
  EXPECT_FALSE(other.owns_name());
  other = mr::SharedMemory();
  EXPECT_TRUE(shm_exists(name)) << "an opener does not unlink";
}

TEST(SharedMemoryTest, SegmentOfKilledCreatorIsSweptByCleanupStale) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  mr::UniqueFd rd(p[0]), wr(p[1]);
  int hold[2];
  ASSERT_EQ(::pipe2(hold, O_CLOEXEC), 0);
  mr::UniqueFd hold_rd(hold[0]), hold_wr(hold[1]);
  pid_t pid = fork_child([&] {
    auto seg = mr::SharedMemory::create("victim", 4096);
    char name[128] = {};
    std::strncpy(name, seg.name().c_str(), sizeof name - 1);
    mr::write_full(wr.get(), name, sizeof name);
    char c;
    (void)::read(hold_rd.get(), &c, 1);  // blocks until killed
    return 0;
  });
  wr.reset();
  hold_rd.reset();
  char name[128];
  ASSERT_TRUE(mr::read_full(rd.get(), name, sizeof name));
  EXPECT_TRUE(shm_exists(name));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);
  EXPECT_TRUE(shm_exists(name)) << "SIGKILL runs no destructor";
  // Our own segments are never swept.
  auto mine = mr::SharedMemory::create("mine", 16);
  EXPECT_FALSE(shm_exists(name)) << "the next create() sweeps the dead creator's segment";
  EXPECT_TRUE(shm_exists(mine.name()));
  EXPECT_EQ(mr::SharedMemory::cleanup_stale(), 0u);
  EXPECT_TRUE(shm_exists(mine.name()));
}

TEST(SharedMemoryTest, MoveTransfersOwnership) {
  auto a = mr::SharedMemory::create("moved", 16);
  const std::string name = a.name();
  mr::SharedMemory b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_TRUE(b.owns_name());
  a = mr::SharedMemory();
  EXPECT_TRUE(shm_exists(name));
  b = mr::SharedMemory::anonymous(8);
  EXPECT_FALSE(shm_exists(name));
}

// ---------------------------------------------------------------------------
// ByteMap: the storage engine of SharedDict, against std::map as a model.

TEST(ByteMapTest, MatchesStdMapUnderRandomChurnWithCompaction) {
  auto seg = mr::SharedMemory::anonymous(16384);
  auto map = mr::detail::ByteMap::format(seg.data(), seg.size(), 100);
  std::map<std::string, std::string> model;
  std::mt19937 rng(12345);
  std::size_t full_errors = 0;
  for (int step = 0; step < 20000; ++step) {
    std::string key = std::to_string(rng() % 150);
    key.insert(0, 1, 'k');
    int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      std::string value(rng() % 40, static_cast<char>('a' + rng() % 26));
      try {
        map.put(key, value);
        model[key] = value;
      } catch (const mr::SharedDictFullError&) {
        ++full_errors;  // the map must be unchanged: checked below
      }
    } else if (op < 9) {
      EXPECT_EQ(map.erase(key), model.erase(key) == 1);
    } else {
      auto got = map.find(key);
      auto it = model.find(key);
      ASSERT_EQ(got.has_value(), it != model.end()) << key;
      if (got) {
        ASSERT_EQ(*got, it->second);
      }
    }
    ASSERT_EQ(map.size(), model.size());
  }
  std::map<std::string, std::string> seen;
  map.for_each([&](std::string_view k, std::string_view v) { seen.emplace(k, v); });
  EXPECT_EQ(seen, model);
  // Attach from another "process" view of the same bytes.
  auto again = mr::detail::ByteMap::attach(seg.data(), seg.size());
  EXPECT_EQ(again.size(), model.size());
  EXPECT_GT(full_errors, 0u) << "the churn was meant to hit the entry limit";
}

TEST(ByteMapTest, FullArenaThrowsAndLeavesTheMapUnchanged) {
  auto seg = mr::SharedMemory::anonymous(4096);
  auto map = mr::detail::ByteMap::format(seg.data(), seg.size(), 8);
  map.put("a", std::string(1000, 'x'));
  map.put("b", std::string(1000, 'y'));
  EXPECT_THROW(map.put("c", std::string(map.arena_bytes(), 'z')), mr::SharedDictFullError);
  EXPECT_THROW(map.put("a", std::string(map.arena_bytes(), 'z')), mr::SharedDictFullError);
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.find("a")->size(), 1000u);
  // Rewriting a value with a different size many times must compact, not fail.
  for (int i = 0; i < 200; ++i) map.put("a", std::string(900 + i % 2 * 100, 'q'));
  EXPECT_EQ(map.find("b")->size(), 1000u);
  for (int i = 0; i < 8 - 2; ++i) map.put(std::to_string(i), "v");
  EXPECT_THROW(map.put("one-too-many", "v"), mr::SharedDictFullError);
  EXPECT_EQ(map.size(), 8u);
  EXPECT_THROW(mr::detail::ByteMap::format(seg.data(), 64, 8), std::invalid_argument);
}

// White-box: the states a process killed inside a change leaves behind,
// forged in the header (fields are uint64 at fixed offsets), then repaired.
TEST(ByteMapTest, RepairsWhatADeadWriterLeftHalfDone) {
  auto seg = mr::SharedMemory::anonymous(8192);
  auto map = mr::detail::ByteMap::format(seg.data(), seg.size(), 16);
  auto* header = static_cast<std::uint64_t*>(seg.data());
  std::byte* arena = static_cast<std::byte*>(seg.data()) + header[3];
  auto set_u32 = [&](std::size_t off, std::uint32_t v) { std::memcpy(arena + off, &v, 4); };
  constexpr std::uint64_t kChanging = 1, kCompacting = 2;

  // 1. Killed after appending the new entry of "a", before retiring the old
  //    one: two live entries of one key. The newer wins.
  map.put("a", "x");   // entry at 0, 24 bytes
  map.put("a", "yy");  // entry at 24, 24 bytes; the one at 0 is dead
  set_u32(8, 1);       // resurrect the old one
  header[9] = kChanging;
  map.repair_if_needed();
  EXPECT_EQ(map.find("a"), "yy");
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.dead_bytes(), 24u);
  int entries = 0;
  map.for_each([&](std::string_view, std::string_view) { ++entries; });
  EXPECT_EQ(entries, 1);

  // 2. Killed with a half-written entry at the end of the arena: its length
  //    runs past the used bytes, so the walk stops there.
  map.put("b", "bbb");  // at 48
  set_u32(48 + 4, 100000);
  header[9] = kChanging;
  map.repair_if_needed();
  EXPECT_EQ(map.find("a"), "yy");
  EXPECT_FALSE(map.find("b"));
  EXPECT_EQ(map.size(), 1u);

  // 3. Killed in the middle of a compaction that had moved nothing yet past
  //    the first entry: [compact_to, compact_next) becomes one dead filler.
  map.put("c", "c");  // at 48 again
  header[9] = kCompacting;
  header[10] = 0;   // compact_to
  header[11] = 24;  // compact_next: the dead first entry
  map.repair_if_needed();
  EXPECT_EQ(map.find("a"), "yy");
  EXPECT_EQ(map.find("c"), "c");
  EXPECT_EQ(map.size(), 2u);
  map.put("d", std::string(3000, 'd'));  // the map works on normally
  EXPECT_EQ(map.size(), 3u);
}

// ---------------------------------------------------------------------------
// Value / Array / RawValue / RawArray

constexpr int kProcs = 4;

// Runs `fn(i)` in `n` children at once, waits for all; returns how many
// exited with something other than 0.
template <class F>
int run_children(int n, F fn) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) pids.push_back(fork_child([&] { return fn(i); }));
  int failures = 0;
  for (pid_t p : pids) failures += wait_child(p) != 0;
  return failures;
}

TEST(ValueTest, GetLockMakesIncrementsExactAcrossProcesses) {
  constexpr int kIncrements = 100000;
  mr::Value<int> counter(0);
  EXPECT_EQ(run_children(kProcs,
                         [&](int) {
                           for (int i = 0; i < kIncrements; ++i) {
                             mr::LockGuard g(counter.get_lock());
                             *counter += 1;
                           }
                           return 0;
                         }),
            0);
  EXPECT_EQ(counter.load(), kProcs * kIncrements);
}

TEST(ValueTest, LockedHelpersAndRecursiveLock) {
  mr::Value<long> v(5);
  EXPECT_EQ(v.fetch_add(3), 5);
  EXPECT_EQ(v.fetch_sub(1), 8);
  EXPECT_EQ(v.exchange(100), 7);
  EXPECT_EQ(v.update([](long& x) { return x *= 2; }), 200);
  {
    // The default lock is an RLock: locked calls work while holding it.
    mr::LockGuard g(v.get_lock());
    v.store(v.load() + 1);
  }
  EXPECT_EQ(v.get(), 201);
  EXPECT_EQ(run_children(2,
                         [&](int) {
                           for (int i = 0; i < 10000; ++i) v.fetch_add(1);
                           return 0;
                         }),
            0);
  EXPECT_EQ(*v, 20201);

  struct Point {
    double x, y;
  };
  mr::Value<Point, mr::Lock> p(Point{1, 2});
  EXPECT_EQ(run_child([&] {
              p.update([](Point& q) { q.x += 10; });
              return 0;
            }),
            0);
  EXPECT_EQ(p.load().x, 11);
  EXPECT_EQ(p->y, 2);
}

// Python's Value(..., lock=l) / Array(..., lock=l): one lock guarding
// several shared objects; lock=False is RawValue / RawArray.
TEST(ValueTest, ValueAndArrayShareAGivenLock) {
  mr::RLock shared;
  mr::Value<int> v(1, shared);
  mr::Array<int> a(3, 7, shared);
  mr::Array<int> b(std::vector<int>{1, 2}, shared);
  EXPECT_FALSE(v.get_lock().locked());
  shared.acquire();
  EXPECT_TRUE(v.get_lock().held_by_caller());
  EXPECT_TRUE(a.get_lock().held_by_caller());
  EXPECT_TRUE(b.get_lock().held_by_caller());
  // Another process cannot take any of them while the shared lock is held.
  EXPECT_EQ(
      run_child([&] { return v.get_lock().try_acquire() || a.get_lock().try_acquire() ? 1 : 0; }),
      0);
  shared.release();
  EXPECT_FALSE(a.get_lock().locked());
  EXPECT_EQ(v.fetch_add(1), 1);
  EXPECT_EQ(a[2], 7);
  EXPECT_EQ(b[1], 2);
}

TEST(ArrayTest, NegatedByChild) {
  mr::Array<double> a{1.5, -2, 3, 4, 0};
  EXPECT_EQ(run_child([&] {
              mr::LockGuard g(a.get_lock());
              for (double& x : a) x = -x;
              return 0;
            }),
            0);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{-1.5, 2, -3, -4, -0.0}));
  EXPECT_EQ(a.get(0), -1.5);
  a.set(4, 9);
  EXPECT_EQ(a[4], 9);
  EXPECT_THROW(a.get(5), std::out_of_range);
  EXPECT_THROW(a.assign(std::vector<double>{1, 2}), std::invalid_argument);
}

TEST(ArrayTest, LockedFetchAddOnElementsIsExact) {
  mr::Array<long> a(3, 0);
  EXPECT_EQ(run_children(kProcs,
                         [&](int) {
                           for (int i = 0; i < 5000; ++i) a.fetch_add(i % 3, 1);
                           return 0;
                         }),
            0);
  auto v = a.to_vector();
  EXPECT_EQ(v[0] + v[1] + v[2], kProcs * 5000);
  EXPECT_EQ(v[0], kProcs * 1667);
}

TEST(RawArrayTest, AtomicAddsAreExactWithoutALock) {
  constexpr int kIncrements = 100000;
  mr::RawArray<std::int64_t> a(4, 0);
  EXPECT_EQ(run_children(kProcs,
                         [&](int who) {
                           for (int i = 0; i < kIncrements; ++i) {
                             a.fetch_add(0, 1);
                             a.fetch_add(1 + (i & 1), 2, std::memory_order_relaxed);
                           }
                           a.atomic(3).fetch_or(std::int64_t{1} << who);
                           return 0;
                         }),
            0);
  EXPECT_EQ(a[0], kProcs * kIncrements);
  EXPECT_EQ(a[1] + a[2], 2 * kProcs * kIncrements);
  EXPECT_EQ(a[3], (1 << kProcs) - 1);
  EXPECT_THROW(a.at(4), std::out_of_range);

  mr::RawValue<unsigned> hits(7);
  EXPECT_EQ(run_children(2,
                         [&](int) {
                           for (int i = 0; i < 1000; ++i) hits.fetch_add(1);
                           return 0;
                         }),
            0);
  EXPECT_EQ(hits.load(), 2007u);
  mr::RawArray<char> text{'o', 'k'};
  EXPECT_EQ(run_child([&] {
              text[0] = 'O';
              return 0;
            }),
            0);
  EXPECT_EQ(std::string(text.begin(), text.end()), "Ok");
}

// ---------------------------------------------------------------------------
// SharedDict

// "c<who>.k<k>" (built with snprintf: g++ 12 -O3 warns falsely, -Wrestrict,
// on "literal" + std::to_string()).
std::string child_key(int who, int k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "c%d.k%d", who, k);
  return buf;
}

TEST(SharedDictTest, FilledByTenProcessesWithAnExactSharedCounter) {
  constexpr int kChildren = 10;
  constexpr int kKeysEach = 50;
  constexpr int kBumps = 200;
  mr::SharedDict<std::string, long> d(1 << 20);
  EXPECT_EQ(run_children(kChildren,
                         [&](int who) {
                           for (int k = 0; k < kKeysEach; ++k) {
                             d.set(child_key(who, k), who * 1000 + k);
                           }
                           for (int i = 0; i < kBumps; ++i) {
                             d.update("shared", [](long& n) { n += 1; });
                           }
                           return 0;
                         }),
            0);
  EXPECT_EQ(d.size(), static_cast<std::size_t>(kChildren * kKeysEach + 1));
  for (int who = 0; who < kChildren; ++who)
    for (int k = 0; k < kKeysEach; ++k) ASSERT_EQ(d.get(child_key(who, k)), who * 1000 + k);
  EXPECT_EQ(d.get("shared"), kChildren * kBumps) << "update() must be atomic";
}

// Python's pop(key), pop(key, default), popitem() and setdefault(), the
// child's changes seen by the parent.
TEST(SharedDictTest, PopPopitemSetdefault) {
  mr::SharedDict<std::string, int> d(64 * 1024);
  d.set("a", 1);
  d.set("b", 2);
  EXPECT_EQ(d.pop("a"), std::optional<int>(1));
  EXPECT_FALSE(d.contains("a"));
  EXPECT_EQ(d.pop("a"), std::nullopt);
  EXPECT_EQ(d.pop("a", -1), -1);
  EXPECT_EQ(d.setdefault("b", 9), 2);  // present: unchanged
  EXPECT_EQ(d.setdefault("c", 3), 3);  // absent: stored
  EXPECT_EQ(d.get("c"), std::optional<int>(3));
  EXPECT_EQ(run_child([&] { return d.setdefault("d", 4) == 4 && d.pop("b") == 2 ? 0 : 1; }), 0);
  EXPECT_FALSE(d.contains("b"));
  // popitem: the entry written last first.
  auto last = d.popitem();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(*last, (std::pair<std::string, int>{"d", 4}));
  EXPECT_EQ(d.popitem(), (std::optional<std::pair<std::string, int>>{{"c", 3}}));
  EXPECT_EQ(d.popitem(), std::nullopt);
  EXPECT_TRUE(d.empty());
}

TEST(SharedDictTest, EraseSizeItemsClear) {
  mr::SharedDict<int, std::vector<std::string>> d(64 * 1024);
  EXPECT_TRUE(d.empty());
  d.set(1, {"one"});
  d.set(2, {"two", "deux"});
  d.set(3, {});
  EXPECT_EQ(d.size(), 3u);
  EXPECT_TRUE(d.contains(2));
  EXPECT_TRUE(d.erase(2));
  EXPECT_FALSE(d.erase(2));
  EXPECT_FALSE(d.contains(2));
  EXPECT_EQ(d.get(2), std::nullopt);
  EXPECT_EQ(d.get_or(2, {"none"}), std::vector<std::string>{"none"});
  EXPECT_EQ(run_child([&] {
              d.set(4, {"from", "child"});
              d.erase(1);
              return 0;
            }),
            0);
  auto items = d.items();
  std::sort(items.begin(), items.end());
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], (std::pair<int, std::vector<std::string>>{3, {}}));
  EXPECT_EQ(items[1], (std::pair<int, std::vector<std::string>>{4, {"from", "child"}}));
  auto keys = d.keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<int>{3, 4}));
  EXPECT_EQ(d.values().size(), 2u);
  d.clear();
  EXPECT_EQ(d.size(), 0u);
  EXPECT_TRUE(d.items().empty());
}

TEST(SharedDictTest, FullDictThrowsAClearErrorAndStaysUsable) {
  mr::SharedDict<std::string, std::string> d(8 * 1024, 16);
  EXPECT_THROW(d.set("big", std::string(16 * 1024, 'x')), mr::SharedDictFullError);
  for (int i = 0; i < 16; ++i) d.set(std::to_string(i), "v");
  try {
    d.set("17th", "v");
    FAIL() << "expected SharedDictFullError";
  } catch (const mr::SharedDictFullError& e) {
    EXPECT_NE(std::string(e.what()).find("larger capacity"), std::string::npos) << e.what();
  }
  EXPECT_EQ(d.size(), 16u);
  d.set("0", "replacing an existing key still works");
  EXPECT_TRUE(d.erase("1"));
  d.set("17th", "fits after an erase");
  EXPECT_EQ(d.get("17th"), "fits after an erase");
  EXPECT_THROW((mr::SharedDict<int, int>(64, 100)), std::invalid_argument);
}

TEST(SharedDictTest, UpdateThatThrowsChangesNothing) {
  mr::SharedDict<std::string, int> d(16 * 1024);
  d.set("a", 1);
  EXPECT_THROW(d.update("a",
                        [](int& v) {
                          v = 99;
                          throw std::runtime_error("no");
                        }),
               std::runtime_error);
  EXPECT_EQ(d.get("a"), 1);
  EXPECT_EQ(d.update("new", 10, [](int& v) { v += 1; }), 11);
}

TEST(SharedDictTest, HolderKilledWhileHoldingTheLockDoesNotWedgeTheDict) {
  mr::SharedDict<int, int> d(16 * 1024);
  d.set(1, 1);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  mr::UniqueFd rd(p[0]), wr(p[1]);
  pid_t pid = fork_child([&] {
    d.get_lock().acquire();
    d.set(2, 2);
    char c = 'x';
    mr::write_full(wr.get(), &c, 1);
    ::pause();  // killed while holding the lock
    return 0;
  });
  wr.reset();
  char c;
  ASSERT_TRUE(mr::read_full(rd.get(), &c, 1));
  ::kill(pid, SIGKILL);
  EXPECT_EQ(wait_child(pid), 128 + SIGKILL);
  EXPECT_EQ(d.get(2), 2) << "the next operation takes the lock over";
  d.update(1, [](int& v) { v += 1; });
  EXPECT_EQ(d.get(1), 2);
}

}  // namespace
