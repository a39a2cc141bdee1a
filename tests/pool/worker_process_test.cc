// WorkerProcess (mr/pool/worker_process.h): the one worker supervisor of the
// pool and the engine, with real processes under each start method: a
// worker is reached through its Channel however it started, a fresh program
// that dies or never connects back is a start failure (not an exception),
// and nothing is left behind.
#include "mr/pool/worker_process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace {

using namespace std::chrono_literals;

// Answers each string with its reverse until told "bye".
int echo(mr::Channel& ch) {
  for (;;) {
    auto s = ch.recv<std::string>();
    if (s == "bye") return 0;
    ch.send(std::string(s.rbegin(), s.rend()));
  }
}

}  // namespace

namespace mr::testing_worker_process {

// The entry points of fresh programs (spawn, forkserver).
int echo_entry(std::string address, std::string token) {
  Channel ch = WorkerProcess::connect(address, token);
  return echo(ch);
}
int exits_at_once(std::string, std::string) { return 3; }
int never_connects(std::string, std::string) {
  ::pause();  // until killed
  return 0;
}

}  // namespace mr::testing_worker_process

MR_REGISTER_FUNCTION(mr::testing_worker_process::echo_entry);
MR_REGISTER_FUNCTION(mr::testing_worker_process::exits_at_once);
MR_REGISTER_FUNCTION(mr::testing_worker_process::never_connects);

namespace {

namespace t = mr::testing_worker_process;

// The forkserver is started once, before any test, so that it is no test's
// leftover child.
class Forkserver : public ::testing::Environment {
 public:
  void SetUp() override { mr::forkserver_start(); }
};
[[maybe_unused]] ::testing::Environment* const kForkserver =
    ::testing::AddGlobalTestEnvironment(new Forkserver);

mr::WorkerProcess::Options options(mr::StartMethod method) {
  mr::WorkerProcess::Options o;
  o.process.name = "test-worker";
  o.process.start_method = method;
  return o;
}

class WorkerProcessTest : public ::testing::TestWithParam<mr::StartMethod> {};

TEST_P(WorkerProcessTest, WorkerIsReachedThroughItsChannelWhateverTheStartMethod) {
  mr::WorkerProcess w = mr::WorkerProcess::start<&t::echo_entry>(options(GetParam()), echo);
  ASSERT_FALSE(w.start_failure()) << *w.start_failure();
  EXPECT_GT(w.pid(), 0);
  EXPECT_EQ(w.channel().socket() != nullptr, GetParam() != mr::StartMethod::kFork);
  w.channel().send(std::string("abc"));
  ASSERT_TRUE(w.channel().poll(10s));
  EXPECT_EQ(w.channel().recv<std::string>(), "cba");
  w.channel().send(std::string("bye"));
  EXPECT_EQ(w.reap(10s), 0);
  EXPECT_TRUE(w.channel().closed());
}

TEST_P(WorkerProcessTest, KillEndsAHungWorkerAndKeepsItsChannelReadable) {
  mr::WorkerProcess w = mr::WorkerProcess::start<&t::echo_entry>(options(GetParam()), echo);
  ASSERT_FALSE(w.start_failure());
  w.channel().send(std::string("xy"));
  ASSERT_TRUE(w.channel().poll(10s));
  EXPECT_EQ(w.kill(), -SIGKILL);
  EXPECT_EQ(w.channel().recv<std::string>(), "yx") << "sent before it died";
  EXPECT_THROW(w.channel().recv<std::string>(), mr::EofError);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, WorkerProcessTest,
                         ::testing::Values(mr::StartMethod::kFork, mr::StartMethod::kSpawn,
                                           mr::StartMethod::kForkserver));

TEST(WorkerProcessStartTest, AFreshProgramThatEndsBeforeConnectingIsAStartFailure) {
  mr::WorkerProcess w = mr::WorkerProcess::start<&t::exits_at_once>(
      options(mr::StartMethod::kSpawn), [](mr::Channel&) { return 0; });
  ASSERT_TRUE(w.start_failure());
  EXPECT_EQ(*w.start_failure(), "exited with code 3 while starting");
  EXPECT_TRUE(w.channel().closed());
  EXPECT_EQ(w.process().exit_code(), 3);
}

TEST(WorkerProcessStartTest, AFreshProgramThatNeverConnectsIsKilledAfterTheConnectTimeout) {
  mr::WorkerProcess::Options o = options(mr::StartMethod::kSpawn);
  o.limits.connect_timeout = 1s;
  const auto t0 = std::chrono::steady_clock::now();
  mr::WorkerProcess w =
      mr::WorkerProcess::start<&t::never_connects>(o, [](mr::Channel&) { return 0; });
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 1s);
  ASSERT_TRUE(w.start_failure());
  EXPECT_EQ(*w.start_failure(), "did not connect back within 1 s");
  EXPECT_EQ(w.process().exit_code(), -SIGKILL);
  EXPECT_TRUE(w.channel().closed());
}

}  // namespace
