// Tests of the pool layer: Future, ThreadPool and ProcessPool. One typed
// suite runs the same assertions on a ThreadPool and on ProcessPools with
// each start method (fork, spawn, forkserver); a second typed suite covers
// what only processes can do (workers that die, timeouts that kill) with
// each start method.
//
// Tasks block on "gates": futex words in a shared memfd mapping made once
// per test program, before any worker starts. Forked workers inherit the
// mapping; spawned and forkserver workers (fresh runs of this program) map
// the same memfd again through /proc/<test pid>/fd/<fd>. Every wait is
// bounded.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <numeric>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "mr/base/futex.h"
#include "mr/base/shared_region.h"
#include "mr/base/unique_fd.h"
#include "mr/pool/future.h"
#include "mr/pool/process_pool.h"
#include "mr/pool/thread_pool.h"
#include "mr/process/process.h"

using namespace std::chrono_literals;

namespace {

// Shared between the test and the workers of the pools it creates.
struct Shared {
  std::atomic<std::uint32_t> gate[8];
  std::atomic<std::uint32_t> counter[8];
};

// Names the memfd for spawned and forkserver workers, which inherit the
// environment (the forkserver is started after it is set).
constexpr const char* kSharedEnv = "MR_POOL_TEST_SHARED";

// Set in the test process (and so in its forked workers) by SharedMemory.
Shared* g_shared = nullptr;

Shared* shared() {
  if (g_shared != nullptr) return g_shared;
  // A spawned or forkserver worker: map the test program's memfd.
  const char* path = std::getenv(kSharedEnv);
  if (path == nullptr) std::abort();
  static mr::SharedRegion region =
      mr::SharedRegion::map_fd(mr::UniqueFd(::open(path, O_RDWR | O_CLOEXEC)));
  g_shared = static_cast<Shared*>(region.data());
  return g_shared;
}

class SharedMemory : public ::testing::Environment {
 public:
  void SetUp() override {
    region_ = mr::SharedRegion::memfd("pool_test", sizeof(Shared));
    g_shared = new (region_.data()) Shared{};
    const std::string path =
        "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(region_.fd());
    ::setenv(kSharedEnv, path.c_str(), 1);
    // Started once, before any test, so that it is no test's leftover
    // child, and after the variable is set, so that its children see it.
    mr::forkserver_start();
  }

 private:
  mr::SharedRegion region_;
};
[[maybe_unused]] ::testing::Environment* const kSharedMemory =
    ::testing::AddGlobalTestEnvironment(new SharedMemory);

// Waits (at most 20 s) until gate `i` is opened; true if it was.
bool wait_gate(int i) {
  auto& g = shared()->gate[i];
  const mr::Deadline deadline = mr::Deadline::after(20s);
  while (g.load() == 0) {
    if (deadline.expired()) return false;
    mr::futex_wait(&g, 0, deadline);
  }
  return true;
}
void open_gate(int i) {
  shared()->gate[i].store(1);
  mr::futex_wake(&shared()->gate[i]);
}
// Waits (at most 20 s) until counter `i` is at least `value`.
bool wait_counter(int i, std::uint32_t value) {
  auto& c = shared()->counter[i];
  const mr::Deadline deadline = mr::Deadline::after(20s);
  for (std::uint32_t v = c.load(); v < value; v = c.load()) {
    if (deadline.expired()) return false;
    mr::futex_wait(&c, v, deadline);
  }
  return true;
}
void bump_counter(int i) {
  shared()->counter[i].fetch_add(1);
  mr::futex_wake(&shared()->counter[i]);
}

// Waits (at most 20 s) until `f`'s task runs.
template <class T>
bool wait_running(const mr::Future<T>& f) {
  const auto deadline = mr::Deadline::after(20s);
  while (!f.running() && !f.ready()) {
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(1ms);  // polling a state, not hoping for one
  }
  return f.running();
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

// What `fn` threw, as {type, message}: a TaskError stands for the type it
// names (what a ProcessPool reports), anything else (a ThreadPool's
// original exception, a registered type) for its own type and what().
template <class F>
std::pair<std::string, std::string> thrown(F&& fn) {
  try {
    fn();
  } catch (const mr::TaskError& e) {
    return {e.type_name(), e.message()};
  } catch (const std::exception& e) {
    return {mr::detail::demangled_name(typeid(e)), e.what()};
  } catch (int) {
    return {"int", ""};
  } catch (...) {
    return {"?", ""};
  }
  return {"no exception", ""};
}
std::pair<std::string, std::string> thrown(std::exception_ptr e) {
  return thrown([&] { std::rethrow_exception(e); });
}

int square(int x) { return x * x; }
int multiply(int a, int b) { return a * b; }
int add(int a, int b) { return a + b; }
// Returns i once gate i is open (-1 if it never opened).
int gated(int i) { return wait_gate(i) ? i : -1; }
// gated(i), then bumps counter 3 (how many gated_counting tasks finished).
int gated_counting(int i) {
  const int r = gated(i);
  bump_counter(3);
  return r;
}
int throw_out_of_range(int x) { throw std::out_of_range("bad index " + std::to_string(x)); }
// The calling thread's id: a worker process's pid, or a pool thread's tid.
int worker_id(int) { return static_cast<int>(::gettid()); }

struct CustomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
int throw_custom(int) { throw CustomError("custom failure"); }
// Registered with mr::register_exception (only in the test that does so).
struct RegisteredError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
int throw_registered(int x) { throw RegisteredError("registered " + std::to_string(x)); }
int throw_int(int) { throw 42; }

// Counts how many times the initializer ran, across processes.
void count_init() { bump_counter(0); }
void failing_init() { throw std::runtime_error("init exploded"); }

// A ProcessPool whose workers start with method M.
template <mr::StartMethod M>
class ProcessPoolWith : public mr::ProcessPool {
 public:
  explicit ProcessPoolWith(mr::PoolOptions o = {}) : mr::ProcessPool(with_method(std::move(o))) {}

 private:
  static mr::PoolOptions with_method(mr::PoolOptions o) {
    o.start_method = M;
    return o;
  }
};
using ForkPool = ProcessPoolWith<mr::StartMethod::kFork>;
using SpawnPool = ProcessPoolWith<mr::StartMethod::kSpawn>;
using ForkserverPool = ProcessPoolWith<mr::StartMethod::kForkserver>;

struct PoolName {
  template <class T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, mr::ThreadPool>) return "ThreadPool";
    if constexpr (std::is_same_v<T, ForkPool>) return "Fork";
    if constexpr (std::is_same_v<T, SpawnPool>) return "Spawn";
    if constexpr (std::is_same_v<T, ForkserverPool>) return "Forkserver";
    return "?";
  }
};

// Clears the shared words before a test and opens every gate after it, so
// that a failed test leaves no task blocked.
class SharedFixture : public ::testing::Test {
 protected:
  void SetUp() override { new (shared()) Shared{}; }
  void TearDown() override {
    for (int i = 0; i < 8; ++i) open_gate(i);
  }
};

template <class Pool>
class PoolTest : public SharedFixture {};

using PoolTypes = ::testing::Types<mr::ThreadPool, ForkPool, SpawnPool, ForkserverPool>;
TYPED_TEST_SUITE(PoolTest, PoolTypes, PoolName);

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

TYPED_TEST(PoolTest, MapAsyncReturnsBeforeTheWorkIsDone) {
  TypeParam pool({.workers = 2});
  mr::Future<std::vector<int>> f = pool.map_async(gated, std::vector<int>{0, 1});
  EXPECT_FALSE(f.ready());  // both tasks wait for gates still closed
  open_gate(1);
  open_gate(0);
  auto got = f.get_for(20s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, (std::vector<int>{0, 1}));
  auto squares = pool.map_async(square, std::vector<int>{1, 2, 3, 4, 5}, 2).get_for(20s);
  ASSERT_TRUE(squares.has_value());
  EXPECT_EQ(*squares, (std::vector<int>{1, 4, 9, 16, 25}));
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

TYPED_TEST(PoolTest, ImapWaitsForEarlierInputsFinishedLater) {
  TypeParam pool({.workers = 2});
  std::vector<int> in{0, 1};
  auto results = pool.imap(gated_counting, in);
  open_gate(1);
  std::thread opener([] {
    // Input 1 is done before input 0 may finish.
    if (wait_counter(3, 1)) open_gate(0);
  });
  std::vector<int> got;
  for (int v : results) got.push_back(v);
  opener.join();
  EXPECT_EQ(got, (std::vector<int>{0, 1}));
}

TYPED_TEST(PoolTest, ImapUnorderedYieldsInCompletionOrder) {
  TypeParam pool({.workers = 4});
  auto results = pool.imap_unordered(gated, std::vector<int>{0, 1, 2, 3});
  std::vector<int> got;
  for (int i : {2, 0, 3, 1}) {
    open_gate(i);
    std::optional<int> v = results.next();  // only task i can have finished
    ASSERT_TRUE(v.has_value());
    got.push_back(*v);
  }
  EXPECT_EQ(got, (std::vector<int>{2, 0, 3, 1}));
  EXPECT_FALSE(results.next().has_value());
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

// An input that throws while its 4th element is read: imap yields the
// results of the three elements before it (in order; imap_unordered in any
// order), then throws the input's error once, then ends, as Python's does,
// whatever the chunk size.
TYPED_TEST(PoolTest, ImapDeliversResultsBeforeTheInputFails) {
  TypeParam pool({.workers = 2});
  auto failing = std::views::iota(0, 10) | std::views::transform([](int i) {
                   if (i == 3) throw std::runtime_error("input broke at 3");
                   return i;
                 });
  for (bool ordered : {true, false}) {
    for (std::size_t chunksize : {1u, 2u, 4u}) {
      SCOPED_TRACE("ordered " + std::to_string(ordered) + ", chunksize " +
                   std::to_string(chunksize));
      auto results = ordered ? pool.imap(square, failing, chunksize)
                             : pool.imap_unordered(square, failing, chunksize);
      std::multiset<int> got;
      std::vector<int> in_order;
      std::string error;
      for (int step = 0; step < 6; ++step) {
        try {
          std::optional<int> v = results.next();
          if (!v) break;
          got.insert(*v);
          in_order.push_back(*v);
        } catch (const std::runtime_error& e) {
          EXPECT_TRUE(error.empty()) << "the input's error was thrown twice";
          error = e.what();
        }
      }
      EXPECT_EQ(got, (std::multiset<int>{0, 1, 4}));
      if (ordered) {
        EXPECT_EQ(in_order, (std::vector<int>{0, 1, 4}));
      }
      EXPECT_EQ(error, "input broke at 3");
      EXPECT_FALSE(results.next().has_value());
    }
  }
}

// Python's habits for the optional arguments: chunksize 0 is an error
// (ValueError), an absent one is chosen from the input's size.
TYPED_TEST(PoolTest, ChunksizeZeroIsAnErrorAndAbsentIsChosen) {
  TypeParam pool({.workers = 2});
  std::vector<int> in(80);
  std::iota(in.begin(), in.end(), 0);
  EXPECT_THROW(pool.map(square, in, 0), std::invalid_argument);
  EXPECT_THROW(pool.imap(square, in, 0), std::invalid_argument);
  EXPECT_THROW(pool.map_async(square, in, 0), std::invalid_argument);
  // 80 inputs, 2 workers: chunks of ceil(80 / 8) = 10, each run by one
  // worker, so the worker can change only at multiples of 10.
  std::vector<int> ids = pool.map(worker_id, in);
  ASSERT_EQ(ids.size(), 80u);
  for (std::size_t i = 1; i < ids.size(); ++i)
    if (i % 10 != 0) {
      EXPECT_EQ(ids[i], ids[i - 1]) << "inside a chunk, at " << i;
    }
  EXPECT_EQ(pool.map(square, std::views::iota(0, 5)), (std::vector<int>{0, 1, 4, 9, 16}));
}

TYPED_TEST(PoolTest, MapAsyncCallbacksAndTimedMapAndImap) {
  TypeParam pool({.workers = 2});
  std::atomic<int> sum{0};
  std::atomic<int> errors{0};
  auto ok = pool.map_async(
      square, std::vector<int>{1, 2, 3}, std::nullopt,
      [&](const std::vector<int>& v) { sum = std::accumulate(v.begin(), v.end(), 0); },
      [&](std::exception_ptr) { ++errors; });
  EXPECT_EQ(ok.get(), (std::vector<int>{1, 4, 9}));
  EXPECT_EQ(sum.load(), 14);  // ran before the future became ready
  auto bad = pool.map_async(
      throw_out_of_range, std::vector<int>{1}, 1, [&](const std::vector<int>&) { sum = -1; },
      [&](std::exception_ptr e) {
        if (thrown(e).first == "std::out_of_range") ++errors;
      });
  EXPECT_EQ(thrown([&] { bad.get(); }).first, "std::out_of_range");
  EXPECT_EQ(errors.load(), 1);
  EXPECT_EQ(sum.load(), 14);

  // map_for: empty when the results are not all there in time.
  EXPECT_FALSE(pool.map_for(gated, std::vector<int>{0}, 50ms).has_value());
  auto done = pool.map_for(square, std::vector<int>{2, 3}, 20s);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(*done, (std::vector<int>{4, 9}));

  // imap's next_for: empty while the result is late, then the result.
  auto results = pool.imap(gated, std::vector<int>{1});
  EXPECT_FALSE(results.next_for(50ms).has_value());
  EXPECT_FALSE(results.done());
  open_gate(1);
  EXPECT_EQ(results.next_for(20s), std::optional<int>(1));
  EXPECT_FALSE(results.next_for(20s).has_value());
  EXPECT_TRUE(results.done());
  open_gate(0);  // let map_for's abandoned task end before the pool does
}

// A ThreadPool rethrows the task's own exception (Python's
// concurrent.futures does); a ProcessPool reports it as a TaskError naming
// the type, or rebuilds it when the type is registered.
TYPED_TEST(PoolTest, ExceptionCarriesTypeNameAndMessage) {
  constexpr bool kOriginal = std::is_same_v<TypeParam, mr::ThreadPool>;
  TypeParam pool({.workers = 2});
  using Thrown = std::pair<std::string, std::string>;
  EXPECT_EQ(thrown([&] { pool.submit(throw_out_of_range, 7).get(); }),
            (Thrown{"std::out_of_range", "bad index 7"}));
  EXPECT_EQ(thrown([&] { pool.apply(throw_custom, 1); }),
            (Thrown{"(anonymous namespace)::CustomError", "custom failure"}));
  EXPECT_EQ(thrown([&] { pool.map(throw_int, std::vector<int>{1, 2}); }).first, "int");
  if constexpr (kOriginal) {
    EXPECT_THROW(pool.apply(throw_custom, 1), CustomError);
  } else {
    try {
      pool.submit(throw_out_of_range, 7).get();
    } catch (const mr::TaskError& e) {
      EXPECT_STREQ(e.what(), "std::out_of_range: bad index 7");
    }
    EXPECT_THROW(pool.apply(throw_custom, 1), mr::TaskError);
  }
  // A registered type comes back as itself from every pool.
  mr::register_exception<RegisteredError>();
  EXPECT_THROW(pool.apply(throw_registered, 5), RegisteredError);
  EXPECT_EQ(thrown([&] { pool.apply(throw_registered, 5); }).second, "registered 5");
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
  auto g = pool.apply_async(throw_out_of_range, std::make_tuple(3), nullptr,
                            [&](std::exception_ptr e) { error_type = thrown(e).first; });
  ASSERT_TRUE(g.wait_for(20s));
  EXPECT_EQ(thrown([&] { g.get(); }).first, "std::out_of_range");
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
  // Past its deadline, as_completed throws TimeoutError (as Python's).
  auto late = mr::as_completed(std::vector<mr::Future<int>>{pool.submit(gated, 5)}, 50ms);
  EXPECT_THROW(late.next(), mr::TimeoutError);
  EXPECT_EQ(late.remaining(), 1u);
  open_gate(5);
  auto last = late.next_for(20s);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->get(), 5);
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
  // Once the worker runs the first task (and waits in it), the second stays
  // queued: a ProcessPool sends tasks ahead only while its queue is deep.
  ASSERT_TRUE(wait_running(running));
  auto queued = pool.submit(square, 5);
  EXPECT_TRUE(queued.cancel());
  EXPECT_TRUE(queued.cancelled());
  EXPECT_TRUE(queued.ready());
  EXPECT_TRUE(queued.cancel());  // already cancelled: true again, as in Python
  EXPECT_THROW(queued.get(), mr::CancelledError);
  EXPECT_FALSE(running.cancel());
  open_gate(0);
  EXPECT_EQ(running.get(), 0);
  EXPECT_FALSE(running.cancel());       // finished
  EXPECT_EQ(pool.apply(square, 3), 9);  // the cancelled task left no trace
}

TYPED_TEST(PoolTest, SubmitBlocksWhileTheQueueIsFull) {
  TypeParam pool({.workers = 1, .max_queued = 2});
  auto running = pool.submit(gated, 0);
  ASSERT_TRUE(wait_running(running));
  auto q1 = pool.submit(square, 1);
  auto q2 = pool.submit(square, 2);
  std::promise<mr::Future<int>> third;
  std::future<mr::Future<int>> third_submitted = third.get_future();
  std::thread submitter([&] { third.set_value(pool.submit(square, 3)); });
  // The queue holds two tasks and the only worker is busy: submit() waits.
  EXPECT_EQ(third_submitted.wait_for(200ms), std::future_status::timeout);
  open_gate(0);
  ASSERT_EQ(third_submitted.wait_for(20s), std::future_status::ready);
  submitter.join();
  EXPECT_EQ(third_submitted.get().get(), 9);
  EXPECT_EQ(q1.get() + q2.get() + running.get(), 1 + 4 + 0);
}

// Python's map_async never blocks the caller, however many tasks it queues:
// here 50 chunks for a queue of 2 whose only worker is busy.
TYPED_TEST(PoolTest, MapAsyncNeverBlocksTheCaller) {
  TypeParam pool({.workers = 1, .max_queued = 2});
  auto running = pool.submit(gated, 0);
  ASSERT_TRUE(wait_running(running));
  std::vector<int> in(50);
  std::iota(in.begin(), in.end(), 0);
  std::promise<mr::Future<std::vector<int>>> submitted;
  auto returned = submitted.get_future();
  std::thread caller([&] { submitted.set_value(pool.map_async(square, in, 1)); });
  // Before: the caller waited for the gate (the queue was full).
  const bool in_time = returned.wait_for(10s) == std::future_status::ready;
  open_gate(0);
  caller.join();
  EXPECT_TRUE(in_time) << "map_async blocked while the queue was full";
  auto all = returned.get().get_for(20s);
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->size(), 50u);
  EXPECT_EQ((*all)[49], 49 * 49);
  // submit() keeps its back-pressure (SubmitBlocksWhileTheQueueIsFull).
  EXPECT_EQ(running.get(), 0);
}

// Python's Executor.shutdown(wait, cancel_futures).
TYPED_TEST(PoolTest, ShutdownWaitsAndCancelsQueuedFutures) {
  TypeParam pool({.workers = 1});
  auto running = pool.submit(gated, 0);
  ASSERT_TRUE(wait_running(running));
  auto queued = pool.submit(square, 2);
  pool.shutdown(/*wait=*/false, /*cancel_futures=*/true);
  EXPECT_TRUE(queued.cancelled());
  EXPECT_THROW(queued.get(), mr::CancelledError);
  EXPECT_THROW(pool.submit(square, 3), std::logic_error);
  open_gate(0);
  EXPECT_EQ(running.get(), 0);  // a running task is not cancelled
  EXPECT_TRUE(pool.join_for(20s));

  TypeParam other({.workers = 1});
  auto f = other.submit(square, 3);
  other.shutdown();  // wait = true: everything queued runs, then the workers end
  EXPECT_TRUE(f.ready());
  EXPECT_EQ(f.get(), 9);
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
  ASSERT_TRUE(wait_running(blocked));
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
  EXPECT_EQ(shared()->counter[0].load(), 3u);
}

TYPED_TEST(PoolTest, FailingInitializerFailsTheNextTask) {
  TypeParam pool({.workers = 1, .initializer = failing_init});
  for (int i = 0; i < 2; ++i) {  // and the replacement worker's too
    auto f = pool.submit(square, 2);
    auto e = error_of<mr::TaskError>(f);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->type_name(), "std::runtime_error");
    EXPECT_EQ(e->message(), "init exploded");
  }
}

TYPED_TEST(PoolTest, MaxTasksPerChildReplacesWorkers) {
  TypeParam pool({.workers = 1, .max_tasks_per_child = 2});
  std::vector<int> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(pool.apply(worker_id, 0));
  EXPECT_NE(ids[0], static_cast<int>(::gettid()));
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  EXPECT_EQ(ids[2], ids[3]);
  EXPECT_NE(ids[3], ids[4]);
  EXPECT_EQ(ids[4], ids[5]);
  EXPECT_EQ(std::set<int>(ids.begin(), ids.end()).size(), 3u);
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

// ---- ProcessPool only, with each start method ----

int raise_signal(int sig) {
  ::raise(sig);
  return 0;
}
int do_abort(int) { std::abort(); }
int exit_with(int code) { ::_exit(code); }
int segfault(int x) {
  volatile int* bad = reinterpret_cast<volatile int*>(static_cast<std::uintptr_t>(x));
  return *bad;
}
int my_pid(int) { return static_cast<int>(::getpid()); }
// Reports its pid in counter[2], then blocks on gate 0.
int report_pid_and_block(int) {
  shared()->counter[2].store(static_cast<std::uint32_t>(::getpid()));
  mr::futex_wake(&shared()->counter[2]);
  return wait_gate(0) ? 1 : -1;
}
// Dies on its first attempt, succeeds on the second.
int die_on_first_attempt(int x) {
  if (shared()->counter[1].fetch_add(1) == 0) ::raise(SIGKILL);
  return x;
}
// Counts its runs in counter 4; from the second run on it waits for gate 7.
void hang_after_first_init() {
  const std::uint32_t runs = shared()->counter[4].fetch_add(1);
  mr::futex_wake(&shared()->counter[4]);
  if (runs >= 1) wait_gate(7);
}
// Waits for gate 7 (opened only when the test ends).
void hanging_init() { wait_gate(7); }

template <class Pool>
class ProcessPoolTest : public SharedFixture {};

using ProcessPoolTypes = ::testing::Types<ForkPool, SpawnPool, ForkserverPool>;
TYPED_TEST_SUITE(ProcessPoolTest, ProcessPoolTypes, PoolName);

TYPED_TEST(ProcessPoolTest, SigkilledTaskFailsWithWorkerDiedAndPoolRecovers) {
  TypeParam pool({.workers = 2});
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

TYPED_TEST(ProcessPoolTest, WorkerKilledFromOutsideIsDetectedAtOnce) {
  TypeParam pool({.workers = 1});
  auto f = pool.submit(report_pid_and_block, 0);
  const auto deadline = mr::Deadline::after(20s);
  while (shared()->counter[2].load() == 0 && !deadline.expired())
    mr::futex_wait(&shared()->counter[2], 0, mr::Deadline::after(100ms));
  const pid_t pid = static_cast<pid_t>(shared()->counter[2].load());
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

TYPED_TEST(ProcessPoolTest, SegfaultAbortAndExitFailWithWorkerDied) {
  TypeParam pool({.workers = 1});
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
  auto ex = pool.submit(exit_with, 3);
  e = error_of<mr::WorkerDied>(ex);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code(), 3);
  EXPECT_NE(std::string(e->what()).find("exited with code 3 while running task"), std::string::npos)
      << e->what();
  EXPECT_EQ(pool.apply(square, 6), 36);
}

// With a deep queue a handler sends tasks ahead to its worker; a death or a
// timeout must still fail only the task that ran, and the tasks sent behind
// it must run on the next worker.
TYPED_TEST(ProcessPoolTest, DeathAndTimeoutInADeepQueueFailOnlyTheRunningTask) {
  TypeParam pool({.workers = 1, .task_timeout = 2s});
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

TYPED_TEST(ProcessPoolTest, RetryRunsTaskAgainAfterWorkerDeath) {
  {
    TypeParam pool({.workers = 1, .retries = 1});
    EXPECT_EQ(pool.submit(die_on_first_attempt, 11).get(), 11);
    EXPECT_EQ(shared()->counter[1].load(), 2u);  // two attempts
  }
  shared()->counter[1] = 0;
  TypeParam pool({.workers = 1});  // no retries: the first death is final
  EXPECT_THROW(pool.submit(die_on_first_attempt, 11).get(), mr::WorkerDied);
  EXPECT_EQ(shared()->counter[1].load(), 1u);
}

TYPED_TEST(ProcessPoolTest, TaskTimeoutKillsTheWorkerAndPoolContinues) {
  TypeParam pool({.workers = 1, .task_timeout = 300ms});
  const pid_t before = pool.worker_pids()[0];
  auto f = pool.submit(report_pid_and_block, 0);
  ASSERT_TRUE(f.wait_for(20s));
  EXPECT_THROW(f.get(), mr::TimeoutError);
  const pid_t victim = static_cast<pid_t>(shared()->counter[2].load());
  EXPECT_EQ(victim, before);
  EXPECT_EQ(pool.apply(square, 7), 49);
  EXPECT_NE(pool.worker_pids()[0], before);
  EXPECT_NE(::kill(victim, 0), 0);  // really gone (and reaped)
}

TYPED_TEST(ProcessPoolTest, InitializerPastTheTaskTimeoutIsKilled) {
  TypeParam pool({.workers = 1, .initializer = hanging_init, .task_timeout = 300ms});
  auto f = pool.submit(square, 2);
  auto e = error_of<mr::TaskError>(f);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type_name(), "mr::TimeoutError");
  EXPECT_NE(e->message().find("initializer"), std::string::npos) << e->message();
}

TYPED_TEST(ProcessPoolTest, TerminateStopsAWorkerHangingInItsInitializer) {
  TypeParam pool({.workers = 1, .initializer = hang_after_first_init});
  auto f = pool.submit(raise_signal, SIGKILL);
  EXPECT_TRUE(error_of<mr::WorkerDied>(f));
  // The replacement worker now waits in its initializer for a gate that
  // stays closed.
  ASSERT_TRUE(wait_counter(4, 2));
  pool.terminate();
  EXPECT_TRUE(pool.join_for(10s));
}

// ---- Fork only: capturing callables ----

class ForkPoolTest : public SharedFixture {};

TEST_F(ForkPoolTest, BoundCapturingCallableTravelsByFork) {
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

// A child forked while another thread held a lock it needs (an allocator's,
// under a sanitizer) hangs before its first message. Simulated with a fork
// handler: while g_stall_forks is set, the first child forked waits forever.
bool g_stall_forks = false;
void stall_first_child() {
  if (g_stall_forks && shared()->counter[5].fetch_add(1) == 0)
    for (;;) ::pause();
}

TEST_F(ForkPoolTest, AWorkerThatNeverStartsIsReplaced) {
  static const int registered = ::pthread_atfork(nullptr, nullptr, stall_first_child);
  ASSERT_EQ(registered, 0);
  g_stall_forks = true;
  mr::ProcessPool pool({.workers = 1});  // waits out the first child's start timeout
  g_stall_forks = false;
  EXPECT_EQ(shared()->counter[5].load(), 2u);  // the stalled child and its replacement
  EXPECT_EQ(pool.apply(square, 4), 16);
}

// ---- Spawn and forkserver only: fresh programs ----
//
// The workers are fresh runs of this test program (spawn_main_hook in
// tests/common/main.cc): they share no memory with the test but the memfd.

int g_set_before_pool = 0;  // set by the test; a fresh worker never sees it
int g_set_by_initializer = 0;
void set_by_initializer() { g_set_by_initializer = 42; }
int read_globals(int) { return g_set_before_pool * 1000 + g_set_by_initializer; }

class SpawnedPoolTest : public ::testing::TestWithParam<mr::StartMethod> {
 protected:
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

TEST_P(SpawnedPoolTest, TasksRunInTheWorkers) {
  mr::ProcessPool pool(options(2));
  const std::vector<pid_t> workers = pool.worker_pids();
  ASSERT_EQ(workers.size(), 2u);
  for (int pid : pool.map(my_pid, std::vector<int>(20, 0))) {
    EXPECT_NE(pid, ::getpid());
    EXPECT_TRUE(pid == workers[0] || pid == workers[1]) << pid;
  }
  // A captureless lambda is rebuilt from its type in the fresh worker too.
  EXPECT_EQ(pool.submit([](int a, int b) { return a - b; }, 10, 4).get(), 6);
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

// Waiting leaves no callback behind on the futures it waited for, however
// often a program polls.
TEST(FutureTest, WaitAndAsCompletedTakeTheirCallbacksBack) {
  mr::Promise<int> p;
  std::vector<mr::Future<int>> fs{p.future()};
  for (int i = 0; i < 1000; ++i) {
    auto r = mr::wait(fs, mr::ReturnWhen::kFirstCompleted, 0ms);
    ASSERT_EQ(r.not_done.size(), 1u);
    auto order = mr::as_completed(fs, 0ms);
    EXPECT_FALSE(order.next_for(0ms).has_value());
  }
  EXPECT_EQ(fs[0].state()->pending_callbacks(), 0u);
  auto order = mr::as_completed(fs);
  EXPECT_EQ(fs[0].state()->pending_callbacks(), 1u);
  p.set_value(7);
  EXPECT_EQ(order.next()->get(), 7);
}

// A set of futures holds each once: as_completed() yields a repeated future
// once, and wait() puts it once in done (or not_done), as Python's do.
TEST(FutureTest, RepeatedFutureIsYieldedAndReportedOnce) {
  mr::Promise<int> p, q;
  auto f = p.future();
  auto g = q.future();
  auto pending =
      mr::wait(std::vector<mr::Future<int>>{f, f, g, f}, mr::ReturnWhen::kAllCompleted, 0ms);
  EXPECT_TRUE(pending.done.empty());
  ASSERT_EQ(pending.not_done.size(), 2u);
  EXPECT_TRUE(pending.not_done[0] == f);
  EXPECT_TRUE(pending.not_done[1] == g);

  p.set_value(1);
  q.set_value(2);
  auto done = mr::wait(std::vector<mr::Future<int>>{f, f});
  ASSERT_EQ(done.done.size(), 1u);
  EXPECT_TRUE(done.not_done.empty());

  std::vector<int> yielded;
  for (const auto& h : mr::as_completed(std::vector<mr::Future<int>>{f, f, f}, 20s))
    yielded.push_back(h.get());
  EXPECT_EQ(yielded, std::vector<int>{1});
  auto order = mr::as_completed(std::vector<mr::Future<int>>{g, f, g});
  EXPECT_EQ(order.remaining(), 2u);
}

TEST(FutureTest, ExceptionForWaitsAtMostTheTimeout) {
  mr::Promise<int> p;
  auto f = p.future();
  EXPECT_FALSE(f.exception_for(10ms).has_value());
  p.set_exception(std::make_exception_ptr(std::runtime_error("late")));
  auto e = f.exception_for(0ms);
  ASSERT_TRUE(e.has_value());
  EXPECT_THROW(std::rethrow_exception(*e), mr::TaskError);
  EXPECT_EQ(mr::make_ready_future(3).exception_for(0ms),
            std::optional<std::exception_ptr>(nullptr));
}

TEST(FutureTest, ChunkSizeIsChosenAsPythonDoes) {
  EXPECT_EQ(mr::detail::chunk_size_for(std::nullopt, 80, 2), 10u);
  EXPECT_EQ(mr::detail::chunk_size_for(std::nullopt, 81, 2), 11u);
  EXPECT_EQ(mr::detail::chunk_size_for(std::nullopt, 3, 4), 1u);
  EXPECT_EQ(mr::detail::chunk_size_for(std::nullopt, 0, 4), 1u);
  EXPECT_EQ(mr::detail::chunk_size_for(std::nullopt, std::nullopt, 4), 1u);  // size unknown
  EXPECT_EQ(mr::detail::chunk_size_for(7, 1000, 4), 7u);
  EXPECT_THROW(mr::detail::chunk_size_for(0, 10, 4), std::invalid_argument);
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

// ---- ThreadPool only ----

class ThreadPoolTest : public SharedFixture {};

// workers = 0 is documented as Python's None: one per usable CPU.
TEST_F(ThreadPoolTest, ZeroWorkersMeansOnePerCpu) {
  mr::ThreadPool pool({.workers = 0});
  EXPECT_EQ(pool.size(), static_cast<std::size_t>(mr::cpu_count()));
  EXPECT_EQ(pool.apply(square, 3), 9);
}

TEST_F(ThreadPoolTest, TimeoutFailsTheFuture) {
  mr::ThreadPool pool({.workers = 1, .task_timeout = 100ms});
  auto f = pool.submit(gated, 0);
  ASSERT_TRUE(f.wait_for(20s));
  EXPECT_THROW(f.get(), mr::TimeoutError);
  open_gate(0);
  EXPECT_EQ(pool.apply(square, 4), 16);
  pool.close();
  EXPECT_TRUE(pool.join_for(20s));
}

// The watchdog fails a late future outside the pool's lock: a done callback
// may submit more work.
TEST_F(ThreadPoolTest, TimeoutCallbackMaySubmit) {
  mr::ThreadPool pool({.workers = 2, .task_timeout = 100ms});
  std::promise<mr::Future<int>> next;
  auto f = pool.submit(gated, 0);
  f.add_done_callback([&](const mr::Future<int>&) { next.set_value(pool.submit(square, 6)); });
  auto submitted = next.get_future();
  ASSERT_EQ(submitted.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(submitted.get().get(), 36);
  EXPECT_THROW(f.get(), mr::TimeoutError);
  open_gate(0);
}

}  // namespace
