// Tests of the pool layer: Future, ThreadPool and ProcessPool. One typed
// suite runs the same assertions on both pools; the ProcessPool-only tests
// cover what only processes can do (workers that die, timeouts that kill).
//
// Tasks block on "gates": futex words in an anonymous shared mapping made
// before the pool (so forked workers share it), opened by the test. Every
// wait is bounded.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <numeric>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "mr/base/futex.h"
#include "mr/base/shared_region.h"
#include "mr/pool/future.h"
#include "mr/pool/process_pool.h"
#include "mr/pool/thread_pool.h"
#include "mr/process/process.h"

using namespace std::chrono_literals;

namespace {

// Shared between the test and the workers of the pool it creates.
struct Shared {
  std::atomic<std::uint32_t> gate[8];
  std::atomic<std::uint32_t> counter[8];
};
Shared* g_shared = nullptr;

// Waits (at most 20 s) until gate `i` is opened; true if it was.
bool wait_gate(int i) {
  auto& g = g_shared->gate[i];
  const mr::Deadline deadline = mr::Deadline::after(20s);
  while (g.load() == 0) {
    if (deadline.expired()) return false;
    mr::futex_wait(&g, 0, deadline);
  }
  return true;
}
void open_gate(int i) {
  g_shared->gate[i].store(1);
  mr::futex_wake(&g_shared->gate[i]);
}

// The error `f` failed with, as an E; empty (and a test failure) when it
// did not end within 20 s or ended otherwise.
template <class E, class T>
std::optional<E> error_of(mr::Future<T>& f) {
  if (!f.wait_for(20s)) {
    ADD_FAILURE() << "the future did not end within 20 s";
    return std::nullopt;
  }
  try {
    f.get();
    ADD_FAILURE() << "no exception";
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception: " << e.what();
  }
  return std::nullopt;
}

int square(int x) { return x * x; }
int multiply(int a, int b) { return a * b; }
int add(int a, int b) { return a + b; }
// Returns i once gate i is open (-1 if it never opened).
int gated(int i) { return wait_gate(i) ? i : -1; }
int throw_out_of_range(int x) { throw std::out_of_range("bad index " + std::to_string(x)); }

struct CustomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
int throw_custom(int) { throw CustomError("custom failure"); }
int throw_int(int) { throw 42; }

// Counts how many times the initializer ran, across processes.
void count_init() { g_shared->counter[0].fetch_add(1); }

template <class Pool>
class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    region_ = mr::SharedRegion::anonymous(sizeof(Shared));
    g_shared = new (region_.data()) Shared{};
  }
  void TearDown() override {
    for (int i = 0; i < 8; ++i) open_gate(i);
    g_shared = nullptr;
  }
  mr::SharedRegion region_;
};

using PoolTypes = ::testing::Types<mr::ThreadPool, mr::ProcessPool>;
TYPED_TEST_SUITE(PoolTest, PoolTypes);

TYPED_TEST(PoolTest, MapKeepsInputOrder) {
  TypeParam pool({.workers = 2});
  std::vector<int> in(100);
  std::iota(in.begin(), in.end(), 0);
  for (std::size_t chunk : {1, 3, 7, 100, 1000}) {
    std::vector<int> out = pool.map(square, in, chunk);
    ASSERT_EQ(out.size(), in.size()) << "chunksize " << chunk;
    for (int i = 0; i < 100; ++i) EXPECT_EQ(out[i], i * i) << "chunksize " << chunk;
  }
  EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
}

TYPED_TEST(PoolTest, StarmapAppliesTuples) {
  TypeParam pool({.workers = 2});
  std::vector<std::tuple<int, int>> in;
  for (int i = 0; i < 20; ++i) in.emplace_back(i, i + 1);
  std::vector<int> out = pool.starmap(multiply, in, 3);
  ASSERT_EQ(out.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(out[i], i * (i + 1));
}

TYPED_TEST(PoolTest, MapAsyncReturnsFutureOfAll) {
  TypeParam pool({.workers = 2});
  std::vector<int> in{1, 2, 3, 4, 5};
  mr::Future<std::vector<int>> f = pool.map_async(square, in, 2);
  auto got = f.get_for(20s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, (std::vector<int>{1, 4, 9, 16, 25}));
}

TYPED_TEST(PoolTest, ImapYieldsInInputOrder) {
  TypeParam pool({.workers = 3});
  std::vector<int> in(200);
  std::iota(in.begin(), in.end(), 0);
  int expected = 0;
  for (int v : pool.imap(square, in, 7)) {
    EXPECT_EQ(v, expected * expected);
    ++expected;
  }
  EXPECT_EQ(expected, 200);
}

TYPED_TEST(PoolTest, ImapUnorderedYieldsEachResultOnce) {
  TypeParam pool({.workers = 3});
  std::multiset<int> got;
  for (int v : pool.imap_unordered(square, std::views::iota(0, 100), 3)) got.insert(v);
  std::multiset<int> want;
  for (int i = 0; i < 100; ++i) want.insert(i * i);
  EXPECT_EQ(got, want);
}

TYPED_TEST(PoolTest, ImapReadsEndlessInputLazily) {
  constexpr std::size_t kWindow = 3, kChunk = 2;
  TypeParam pool({.workers = 2, .max_in_flight = kWindow});
  int produced = 0;
  auto endless = std::views::iota(0) | std::views::transform([&produced](int i) {
                   ++produced;
                   return i;
                 });
  for (bool ordered : {true, false}) {
    produced = 0;
    auto results =
        ordered ? pool.imap(square, endless, kChunk) : pool.imap_unordered(square, endless, kChunk);
    int taken = 0;
    for (auto it = results.begin(); it != results.end() && taken < 10; ++it) {
      ++taken;
      EXPECT_LE(results.in_flight(), kWindow);
    }
    EXPECT_EQ(taken, 10);
    EXPECT_GE(produced, 10);
    EXPECT_LE(produced, static_cast<int>(10 + (kWindow + 1) * kChunk)) << "ordered " << ordered;
  }
}

TYPED_TEST(PoolTest, ExceptionCarriesTypeNameAndMessage) {
  TypeParam pool({.workers = 2});
  try {
    pool.submit(throw_out_of_range, 7).get();
    FAIL() << "no exception";
  } catch (const mr::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::out_of_range");
    EXPECT_EQ(e.message(), "bad index 7");
    EXPECT_STREQ(e.what(), "std::out_of_range: bad index 7");
  }
  try {
    pool.apply(throw_custom, 1);
    FAIL() << "no exception";
  } catch (const mr::TaskError& e) {
    EXPECT_EQ(e.type_name(), "(anonymous namespace)::CustomError");
    EXPECT_EQ(e.message(), "custom failure");
  }
  try {
    pool.map(throw_int, std::vector<int>{1, 2});
    FAIL() << "no exception";
  } catch (const mr::TaskError& e) {
    EXPECT_EQ(e.type_name(), "int");
  }
  // The pool still works.
  EXPECT_EQ(pool.apply(square, 9), 81);
}

TYPED_TEST(PoolTest, ApplyAndApplyAsyncCallbacks) {
  TypeParam pool({.workers = 2});
  EXPECT_EQ(pool.apply(add, 2, 3), 5);

  std::atomic<int> result{0};
  std::atomic<int> errors{0};
  auto f = pool.apply_async(
      add, std::make_tuple(20, 22), [&](int v) { result = v; },
      [&](std::exception_ptr) { ++errors; });
  ASSERT_TRUE(f.wait_for(20s));
  EXPECT_EQ(f.get(), 42);
  EXPECT_EQ(result.load(), 42);  // the callback ran before the future was ready
  EXPECT_EQ(errors.load(), 0);

  std::string error_type;
  auto g =
      pool.apply_async(throw_out_of_range, std::make_tuple(3), nullptr, [&](std::exception_ptr e) {
        try {
          std::rethrow_exception(e);
        } catch (const mr::TaskError& t) {
          error_type = t.type_name();
        }
      });
  ASSERT_TRUE(g.wait_for(20s));
  EXPECT_THROW(g.get(), mr::TaskError);
  EXPECT_EQ(error_type, "std::out_of_range");
}

TYPED_TEST(PoolTest, SubmitThenAndGetFor) {
  TypeParam pool({.workers = 2});
  EXPECT_EQ(pool.submit(square, 4).then([](int v) { return v + 1; }).get(), 17);
  auto blocked = pool.submit(gated, 0);
  EXPECT_FALSE(blocked.get_for(50ms).has_value());
  EXPECT_FALSE(blocked.ready());
  open_gate(0);
  EXPECT_EQ(blocked.get_for(20s), std::optional<int>(0));
  int seen = -1;
  blocked.add_done_callback([&](const mr::Future<int>& f) { seen = f.get(); });
  EXPECT_EQ(seen, 0);  // already done: ran at once
}

TYPED_TEST(PoolTest, AsCompletedYieldsInCompletionOrder) {
  TypeParam pool({.workers = 3});
  std::vector<mr::Future<int>> fs;
  for (int i = 0; i < 3; ++i) fs.push_back(pool.submit(gated, i));
  auto order = mr::as_completed(fs, 30s);
  for (int i : {2, 0, 1}) {
    open_gate(i);
    auto f = order.next();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->get(), i);
  }
  EXPECT_FALSE(order.next().has_value());
  // Range form over already-finished futures.
  int n = 0;
  for (const auto& f : mr::as_completed(fs)) n += f.ready() ? 1 : 0;
  EXPECT_EQ(n, 3);
}

TYPED_TEST(PoolTest, WaitFirstCompletedFirstExceptionAllCompleted) {
  TypeParam pool({.workers = 3});
  std::vector<mr::Future<int>> fs{pool.submit(gated, 0), pool.submit(gated, 1)};

  auto none = mr::wait(fs, mr::ReturnWhen::kAllCompleted, 50ms);
  EXPECT_TRUE(none.done.empty());
  EXPECT_EQ(none.not_done.size(), 2u);

  open_gate(1);
  auto first = mr::wait(fs, mr::ReturnWhen::kFirstCompleted, 20s);
  ASSERT_EQ(first.done.size(), 1u);
  EXPECT_EQ(first.done[0], fs[1]);
  ASSERT_EQ(first.not_done.size(), 1u);
  EXPECT_EQ(first.not_done[0], fs[0]);

  std::vector<mr::Future<int>> gs{pool.submit(gated, 2), pool.submit(throw_out_of_range, 1)};
  auto exc = mr::wait(gs, mr::ReturnWhen::kFirstException, 20s);
  ASSERT_EQ(exc.done.size(), 1u);
  EXPECT_EQ(exc.done[0], gs[1]);
  EXPECT_EQ(exc.not_done.size(), 1u);

  open_gate(0);
  open_gate(2);
  fs.insert(fs.end(), gs.begin(), gs.end());
  auto all = mr::wait(fs, mr::ReturnWhen::kAllCompleted, 20s);
  EXPECT_EQ(all.done.size(), 4u);
  EXPECT_TRUE(all.not_done.empty());
}

TYPED_TEST(PoolTest, CancelOnlyBeforeStart) {
  TypeParam pool({.workers = 1});
  auto running = pool.submit(gated, 0);
  auto queued = pool.submit(square, 5);
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(queued.ready());
  EXPECT_THROW(queued.get(), mr::CancelledError);
  // Wait until the first task runs; then cancelling it fails.
  const auto deadline = mr::Deadline::after(20s);
  while (!running.running() && !deadline.expired()) std::this_thread::sleep_for(1ms);
  EXPECT_FALSE(running.cancel());
  open_gate(0);
  EXPECT_EQ(running.get(), 0);
  EXPECT_EQ(pool.apply(square, 3), 9);  // the cancelled task left no trace
}

TYPED_TEST(PoolTest, CloseThenJoin) {
  TypeParam pool({.workers = 2});
  EXPECT_THROW(pool.join(), std::logic_error);
  std::vector<mr::Future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.submit(square, i));
  pool.close();
  EXPECT_THROW(pool.submit(square, 1), std::logic_error);
  ASSERT_TRUE(pool.join_for(20s));
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(fs[i].ready());
    EXPECT_EQ(fs[i].get(), i * i);
  }
}

TYPED_TEST(PoolTest, TerminateFailsUnfinishedWork) {
  TypeParam pool({.workers = 1});
  auto blocked = pool.submit(gated, 0);
  const auto deadline = mr::Deadline::after(20s);
  while (!blocked.running() && !deadline.expired()) std::this_thread::sleep_for(1ms);
  std::vector<mr::Future<int>> queued;
  for (int i = 0; i < 5; ++i) queued.push_back(pool.submit(square, i));
  pool.terminate();
  ASSERT_TRUE(blocked.wait_for(20s));
  EXPECT_THROW(blocked.get(), mr::CancelledError);
  for (auto& f : queued) {
    ASSERT_TRUE(f.wait_for(20s));
    EXPECT_THROW(f.get(), mr::CancelledError);
  }
  EXPECT_THROW(pool.submit(square, 1), std::logic_error);
  open_gate(0);  // a thread pool's thread can only end when its task returns
  EXPECT_TRUE(pool.join_for(20s));
}

TYPED_TEST(PoolTest, InitializerRunsOncePerWorker) {
  {
    TypeParam pool({.workers = 3, .initializer = count_init});
    std::vector<int> in(30, 1);
    EXPECT_EQ(pool.map(square, in).size(), 30u);
    pool.close();
    ASSERT_TRUE(pool.join_for(20s));
  }
  EXPECT_EQ(g_shared->counter[0].load(), 3u);
}

TYPED_TEST(PoolTest, DestructorFinishesQueuedWork) {
  std::vector<mr::Future<int>> fs;
  {
    TypeParam pool({.workers = 2});
    for (int i = 0; i < 20; ++i) fs.push_back(pool.submit(square, i));
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(fs[i].ready());
    EXPECT_EQ(fs[i].get(), i * i);
  }
}

// ---- ProcessPool only ----

int raise_signal(int sig) {
  ::raise(sig);
  return 0;
}
int do_abort(int) { std::abort(); }
int segfault(int x) {
  volatile int* bad = reinterpret_cast<volatile int*>(static_cast<std::uintptr_t>(x));
  return *bad;
}
int my_pid(int) { return static_cast<int>(::getpid()); }
// Reports its pid in counter[2], then blocks on gate 0.
int report_pid_and_block(int) {
  g_shared->counter[2].store(static_cast<std::uint32_t>(::getpid()));
  mr::futex_wake(&g_shared->counter[2]);
  return wait_gate(0) ? 1 : -1;
}
// Dies on its first attempt, succeeds on the second.
int die_on_first_attempt(int x) {
  if (g_shared->counter[1].fetch_add(1) == 0) ::raise(SIGKILL);
  return x;
}
void failing_init() { throw std::runtime_error("init exploded"); }

class ProcessPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    region_ = mr::SharedRegion::anonymous(sizeof(Shared));
    g_shared = new (region_.data()) Shared{};
  }
  void TearDown() override {
    for (int i = 0; i < 8; ++i) open_gate(i);
    g_shared = nullptr;
  }
  mr::SharedRegion region_;
};

TEST_F(ProcessPoolTest, SigkilledTaskFailsWithWorkerDiedAndPoolRecovers) {
  mr::ProcessPool pool({.workers = 2});
  auto f = pool.submit(raise_signal, SIGKILL);
  auto e = error_of<mr::WorkerDied>(f);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal(), SIGKILL);
  EXPECT_NE(std::string(e->what()).find("killed by signal 9 (SIGKILL) while running task"),
            std::string::npos)
      << e->what();
  EXPECT_EQ(pool.apply(square, 3), 9);
  std::vector<int> in(20, 2);
  EXPECT_EQ(pool.map(square, in), std::vector<int>(20, 4));
}

TEST_F(ProcessPoolTest, WorkerKilledFromOutsideIsDetectedAtOnce) {
  mr::ProcessPool pool({.workers = 1});
  auto f = pool.submit(report_pid_and_block, 0);
  const auto deadline = mr::Deadline::after(20s);
  while (g_shared->counter[2].load() == 0 && !deadline.expired())
    mr::futex_wait(&g_shared->counter[2], 0, mr::Deadline::after(100ms));
  const pid_t pid = static_cast<pid_t>(g_shared->counter[2].load());
  ASSERT_GT(pid, 0);
  EXPECT_EQ(pool.worker_pids(), std::vector<pid_t>{pid});
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(f.wait_for(20s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  try {
    f.get();
    FAIL() << "no exception";
  } catch (const mr::WorkerDied& e) {
    EXPECT_EQ(e.pid(), pid);
    EXPECT_EQ(e.signal(), SIGKILL);
  }
  EXPECT_EQ(pool.apply(square, 5), 25);
  EXPECT_NE(pool.worker_pids(), std::vector<pid_t>{pid});
}

TEST_F(ProcessPoolTest, SegfaultAndAbortFailWithWorkerDied) {
  mr::ProcessPool pool({.workers = 1});
  auto seg = pool.submit(segfault, 8);
  ASSERT_TRUE(seg.wait_for(20s));
  try {
    seg.get();
    FAIL() << "no exception";
  } catch (const mr::WorkerDied& e) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    // Sanitizers turn SIGSEGV into a report and a non-zero exit code.
    EXPECT_TRUE(e.signal() == SIGSEGV || e.exit_code() != 0) << e.what();
#else
    EXPECT_EQ(e.signal(), SIGSEGV) << e.what();
#endif
  }
  auto ab = pool.submit(do_abort, 0);
  auto e = error_of<mr::WorkerDied>(ab);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal(), SIGABRT) << e->what();
  EXPECT_EQ(pool.apply(square, 6), 36);
}

// With a deep queue a handler sends tasks ahead to its worker; a death or a
// timeout must still fail only the task that ran, and the tasks sent behind
// it must run on the next worker.
TEST_F(ProcessPoolTest, DeathAndTimeoutInADeepQueueFailOnlyTheRunningTask) {
  mr::ProcessPool pool({.workers = 1, .task_timeout = 2s});
  auto first = pool.submit(gated, 0);  // holds the worker while the queue fills
  std::vector<mr::Future<int>> fs;
  for (int i = 0; i < 200; ++i) {
    if (i == 40) {
      fs.push_back(pool.submit(raise_signal, SIGKILL));
    } else if (i == 120) {
      fs.push_back(pool.submit(gated, 1));  // never opened: times out
    } else {
      fs.push_back(pool.submit(square, i));
    }
  }
  open_gate(0);
  EXPECT_EQ(first.get(), 0);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(fs[i].wait_for(20s)) << i;
    if (i == 40) {
      EXPECT_THROW(fs[i].get(), mr::WorkerDied);
    } else if (i == 120) {
      EXPECT_THROW(fs[i].get(), mr::TimeoutError);
    } else {
      EXPECT_EQ(fs[i].get(), i * i) << i;
    }
  }
}

TEST_F(ProcessPoolTest, RetryRunsTaskAgainAfterWorkerDeath) {
  {
    mr::ProcessPool pool({.workers = 1, .retries = 1});
    EXPECT_EQ(pool.submit(die_on_first_attempt, 11).get(), 11);
    EXPECT_EQ(g_shared->counter[1].load(), 2u);  // two attempts
  }
  g_shared->counter[1] = 0;
  mr::ProcessPool pool({.workers = 1});  // no retries: the first death is final
  EXPECT_THROW(pool.submit(die_on_first_attempt, 11).get(), mr::WorkerDied);
  EXPECT_EQ(g_shared->counter[1].load(), 1u);
}

TEST_F(ProcessPoolTest, MaxTasksPerChildReplacesWorkers) {
  mr::ProcessPool pool({.workers = 1, .max_tasks_per_child = 2});
  std::vector<int> pids;
  for (int i = 0; i < 6; ++i) pids.push_back(pool.apply(my_pid, 0));
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_NE(pids[1], pids[2]);
  EXPECT_EQ(pids[2], pids[3]);
  EXPECT_NE(pids[3], pids[4]);
  EXPECT_EQ(pids[4], pids[5]);
  EXPECT_EQ(std::set<int>(pids.begin(), pids.end()).size(), 3u);
}

TEST_F(ProcessPoolTest, TaskTimeoutKillsTheWorkerAndPoolContinues) {
  mr::ProcessPool pool({.workers = 1, .task_timeout = 300ms});
  const pid_t before = pool.worker_pids()[0];
  auto f = pool.submit(report_pid_and_block, 0);
  ASSERT_TRUE(f.wait_for(20s));
  EXPECT_THROW(f.get(), mr::TimeoutError);
  const pid_t victim = static_cast<pid_t>(g_shared->counter[2].load());
  EXPECT_EQ(victim, before);
  EXPECT_EQ(pool.apply(square, 7), 49);
  EXPECT_NE(pool.worker_pids()[0], before);
  EXPECT_NE(::kill(victim, 0), 0);  // really gone (and reaped)
}

TEST_F(ProcessPoolTest, BoundCapturingCallableTravelsByFork) {
  const int k = 3;
  const std::string suffix = "!";
  mr::TaskTable tasks;
  auto scale = tasks.add([k](int x) { return x * k; });
  auto shout = tasks.add([suffix](const std::string& s) { return s + suffix; });
  mr::ProcessPool pool({.workers = 2}, tasks);
  EXPECT_EQ(pool.map(scale, std::vector<int>{1, 2, 3}), (std::vector<int>{3, 6, 9}));
  EXPECT_EQ(pool.submit(shout, std::string("hi")).get(), "hi!");
  mr::TaskTable other;
  auto stranger = other.add([k](int x) { return x + k; });
  EXPECT_THROW(pool.submit(stranger, 1), std::invalid_argument);
  // Captureless lambdas are rebuilt from their type in the worker.
  EXPECT_EQ(pool.submit([](int a, int b) { return a - b; }, 10, 4).get(), 6);
}

TEST_F(ProcessPoolTest, FailingInitializerFailsTasksWithoutHanging) {
  mr::ProcessPool pool({.workers = 1, .initializer = failing_init});
  auto f = pool.submit(square, 2);
  auto e = error_of<mr::TaskError>(f);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type_name(), "std::runtime_error");
  EXPECT_EQ(e->message(), "init exploded");
}

// ---- ProcessPool with the spawn and forkserver start methods ----
//
// The workers are fresh runs of this test program (spawn_main_hook in
// tests/common/main.cc), so they share no memory with the test: these tests
// use no gates, only what travels through the pool.

int g_set_before_pool = 0;  // set by the test; a fresh worker never sees it
int g_set_by_initializer = 0;
void set_by_initializer() { g_set_by_initializer = 42; }
int read_globals(int) { return g_set_before_pool * 1000 + g_set_by_initializer; }
int block_forever(int) {
  for (;;) ::pause();
}

class SpawnedPoolTest : public ::testing::TestWithParam<mr::StartMethod> {
 protected:
  // The forkserver outlives the tests on purpose: start it before any.
  static void SetUpTestSuite() { mr::forkserver_start(); }
  mr::PoolOptions options(std::size_t workers) {
    mr::PoolOptions o;
    o.workers = workers;
    o.start_method = GetParam();
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(StartMethods, SpawnedPoolTest,
                         ::testing::Values(mr::StartMethod::kSpawn, mr::StartMethod::kForkserver),
                         [](const auto& info) { return std::string(mr::to_string(info.param)); });

TEST_P(SpawnedPoolTest, MapKeepsOrderAndRunsInTheWorkers) {
  mr::ProcessPool pool(options(2));
  const std::vector<pid_t> workers = pool.worker_pids();
  ASSERT_EQ(workers.size(), 2u);
  std::vector<int> in(100);
  std::iota(in.begin(), in.end(), 0);
  for (std::size_t chunk : {1, 7, 1000}) {
    std::vector<int> out = pool.map(square, in, chunk);
    ASSERT_EQ(out.size(), in.size());
    for (int i = 0; i < 100; ++i) EXPECT_EQ(out[i], i * i) << "chunksize " << chunk;
  }
  for (int pid : pool.map(my_pid, std::vector<int>(20, 0))) {
    EXPECT_NE(pid, ::getpid());
    EXPECT_TRUE(pid == workers[0] || pid == workers[1]) << pid;
  }
  EXPECT_EQ(pool.starmap(multiply, std::vector<std::tuple<int, int>>{{2, 3}, {4, 5}}),
            (std::vector<int>{6, 20}));
  // A captureless lambda is rebuilt from its type in the fresh worker too.
  EXPECT_EQ(pool.submit([](int a, int b) { return a - b; }, 10, 4).get(), 6);
  std::multiset<int> seen;
  for (int v : pool.imap_unordered(square, in, 3)) seen.insert(v);
  std::multiset<int> expected;
  for (int i : in) expected.insert(i * i);
  EXPECT_EQ(seen, expected);
}

TEST_P(SpawnedPoolTest, WorkersAreFreshProgramsThatRunThePlainFunctionInitializer) {
  g_set_before_pool = 7;
  mr::PoolOptions o = options(2);
  o.initializer = set_by_initializer;
  mr::ProcessPool pool(o);
  // 42: the initializer ran in the worker; no 7000: the worker did not
  // inherit this process's memory (a fork would have).
  EXPECT_EQ(pool.map(read_globals, std::vector<int>(10, 0)), std::vector<int>(10, 42));
  EXPECT_EQ(g_set_by_initializer, 0);
  g_set_before_pool = 0;
}

TEST_P(SpawnedPoolTest, ExceptionsComeBackTyped) {
  mr::ProcessPool pool(options(1));
  auto f = pool.submit(throw_out_of_range, 5);
  auto e = error_of<mr::TaskError>(f);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type_name(), "std::out_of_range");
  EXPECT_EQ(e->message(), "bad index 5");
  mr::PoolOptions o = options(1);
  o.initializer = failing_init;
  mr::ProcessPool failing(o);
  auto g = failing.submit(square, 2);
  e = error_of<mr::TaskError>(g);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type_name(), "std::runtime_error");
  EXPECT_EQ(e->message(), "init exploded");
}

TEST_P(SpawnedPoolTest, DeadWorkerFailsItsTaskAndIsReplaced) {
  mr::ProcessPool pool(options(1));
  const pid_t before = pool.worker_pids()[0];
  auto f = pool.submit(raise_signal, SIGKILL);
  auto e = error_of<mr::WorkerDied>(f);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal(), SIGKILL);
  EXPECT_EQ(e->pid(), before);
  EXPECT_EQ(pool.apply(square, 3), 9);
  EXPECT_NE(pool.worker_pids()[0], before);
}

TEST_P(SpawnedPoolTest, TimeoutKillsTheWorker) {
  mr::PoolOptions o = options(1);
  o.task_timeout = 300ms;
  mr::ProcessPool pool(o);
  const pid_t before = pool.worker_pids()[0];
  auto f = pool.submit(block_forever, 0);
  ASSERT_TRUE(f.wait_for(20s));
  EXPECT_THROW(f.get(), mr::TimeoutError);
  EXPECT_EQ(pool.apply(square, 7), 49);
  EXPECT_NE(pool.worker_pids()[0], before);
  EXPECT_NE(::kill(before, 0), 0);  // gone and reaped
}

TEST_P(SpawnedPoolTest, MaxTasksPerChildReplacesWorkers) {
  mr::PoolOptions o = options(1);
  o.max_tasks_per_child = 2;
  mr::ProcessPool pool(o);
  std::vector<int> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(pool.apply(my_pid, 0));
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_NE(pids[1], pids[2]);
  EXPECT_EQ(pids[2], pids[3]);
}

TEST_P(SpawnedPoolTest, ClosuresAreRefusedWithAClearError) {
  const int k = 3;
  mr::PoolOptions o = options(1);
  o.initializer = [k] { g_set_by_initializer = k; };
  EXPECT_THROW(mr::ProcessPool{o}, std::invalid_argument);
  mr::TaskTable tasks;
  auto scale = tasks.add([k](int x) { return x * k; });
  EXPECT_THROW(mr::ProcessPool(options(1), tasks), std::invalid_argument);
  mr::ProcessPool pool(options(1));
  try {
    pool.submit(scale, 1);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("travels only by fork"), std::string::npos) << e.what();
  }
  // A captureless lambda made a plain function with unary + is fine.
  o.initializer = +[] { g_set_by_initializer = 42; };
  mr::ProcessPool ok(o);
  EXPECT_EQ(ok.apply(read_globals, 0), 42);
}

// ---- Future on its own ----

TEST(FutureTest, PromiseThenChainsAndPropagatesErrors) {
  mr::Promise<int> p;
  auto doubled = p.future().then([](int v) { return 2 * v; });
  auto text = doubled.then([](int v) { return std::to_string(v); });
  EXPECT_FALSE(text.ready());
  p.set_value(21);
  EXPECT_EQ(text.get(), "42");

  mr::Promise<int> q;
  auto failing = q.future().then([](int) -> int { throw std::invalid_argument("no"); });
  auto after = failing.then([](int v) { return v; });
  q.set_value(1);
  EXPECT_THROW(after.get(), mr::TaskError);
  try {
    after.get();
  } catch (const mr::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::invalid_argument");
  }
}

TEST(FutureTest, CancelRunsCallbacksAndFailsGet) {
  mr::Promise<int> p;
  auto f = p.future();
  bool called = false;
  f.add_done_callback([&](const mr::Future<int>& g) { called = g.cancelled(); });
  EXPECT_TRUE(f.cancel());
  EXPECT_TRUE(called);
  EXPECT_FALSE(p.set_running());
  EXPECT_FALSE(p.set_value(1));
  EXPECT_THROW(f.get(), mr::CancelledError);
}

TEST(FutureTest, WorkerDiedNamesTheSignal) {
  mr::WorkerDied e(12345, -SIGKILL, 17);
  EXPECT_STREQ(e.what(), "worker 12345 killed by signal 9 (SIGKILL) while running task 17");
  EXPECT_EQ(e.signal(), 9);
  mr::WorkerDied x(7, 3, 1);
  EXPECT_STREQ(x.what(), "worker 7 exited with code 3 while running task 1");
  EXPECT_EQ(x.exit_code(), 3);
}

TEST(FutureTest, ErrorsAreKeptAsValuesAndThrownFresh) {
  // A promise's exception keeps its kind but not its object: each get()
  // throws a new one (so no exception object is shared between threads).
  mr::Promise<int> died;
  died.set_exception(std::make_exception_ptr(mr::WorkerDied(99, -SIGKILL, 5)));
  bool caught = false;
  try {
    died.future().get();
  } catch (const mr::WorkerDied& e) {
    EXPECT_EQ(e.pid(), 99);
    EXPECT_EQ(e.signal(), SIGKILL);
    EXPECT_EQ(e.task_id(), 5u);
    caught = true;
  }
  ASSERT_TRUE(caught);
  std::exception_ptr a = died.future().exception();
  std::exception_ptr b = died.future().exception();
  EXPECT_NE(a, b);  // two fresh objects
  EXPECT_THROW(std::rethrow_exception(a), mr::WorkerDied);

  mr::Promise<int> timed_out;
  timed_out.set_exception(std::make_exception_ptr(mr::TimeoutError("late")));
  EXPECT_THROW(timed_out.future().get(), mr::TimeoutError);

  // Anything else becomes a TaskError naming the type.
  mr::Promise<void> other;
  other.set_exception(std::make_exception_ptr(std::logic_error("wrong")));
  try {
    other.future().get();
    ADD_FAILURE() << "get() did not throw";
  } catch (const mr::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::logic_error");
    EXPECT_EQ(e.message(), "wrong");
  }
}

TEST(ThreadPoolTest, TimeoutFailsTheFuture) {
  Shared shared{};
  g_shared = &shared;
  mr::ThreadPool pool({.workers = 1, .task_timeout = 100ms});
  auto f = pool.submit(gated, 0);
  ASSERT_TRUE(f.wait_for(20s));
  EXPECT_THROW(f.get(), mr::TimeoutError);
  open_gate(0);
  EXPECT_EQ(pool.apply(square, 4), 16);
  pool.close();
  EXPECT_TRUE(pool.join_for(20s));
  g_shared = nullptr;
}

}  // namespace
