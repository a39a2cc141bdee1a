// Tests of mr::Process with real processes, for the three start methods.
// Every wait is bounded; children block on pipes (or pause() until killed),
// never on sleeps.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/base/io.h"
#include "mr/base/serialize.h"
#include "mr/base/unique_fd.h"
#include "mr/process/process.h"

using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// Functions that spawned and forkserver children can run.

int exit_with(int code) { return code; }
MR_REGISTER_FUNCTION(exit_with);

void throw_runtime(std::string message) { throw std::runtime_error(message); }
MR_REGISTER_FUNCTION(throw_runtime);

void sleep_until_signalled() {
  for (;;) ::pause();
}
MR_REGISTER_FUNCTION(sleep_until_signalled);

// Writes what it received to `path`, so the parent can check the arguments
// crossed intact; the exit code is the number of values.
int summarize(std::string path, std::vector<int> values,
              const std::map<std::string, int>& weights) {
  long sum = 0;
  for (int v : values) sum += v;
  std::ofstream out(path);
  out << "sum=" << sum;
  for (const auto& [k, w] : weights) out << " " << k << "=" << w;
  return static_cast<int>(values.size());
}
MR_REGISTER_FUNCTION(summarize);

// Writes current_process() as seen by the child.
void report_self(std::string path) {
  auto self = mr::current_process();
  std::ofstream out(path);
  out << self.name() << " " << self.pid() << " " << self.parent_pid() << " " << self.daemon();
}
MR_REGISTER_FUNCTION(report_self);

// Waits for one byte on the FIFO `fifo` (bounded: 20 s), then writes "done"
// to `out` and exits with 7; exits with 2 if no byte came.
int finish_on_fifo(std::string fifo, std::string out) {
  mr::UniqueFd f(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));  // O_RDWR: open never blocks
  pollfd p{f.get(), POLLIN, 0};
  char byte = 0;
  if (!f || ::poll(&p, 1, 20000) != 1 || ::read(f.get(), &byte, 1) != 1) return 2;
  std::ofstream(out) << "done";
  return 7;
}
MR_REGISTER_FUNCTION(finish_on_fifo);

// Writes get_start_method() as the child sees it.
void report_start_method(std::string path) {
  std::ofstream(path) << mr::to_string(mr::get_start_method());
}
MR_REGISTER_FUNCTION(report_start_method);

// 0 if descriptor `fd` is closed in this process, 1 if it is open.
int descriptor_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0 ? 1 : 0; }
MR_REGISTER_FUNCTION(descriptor_open);

namespace {

// glibc 2.36's <sys/pidfd.h> lacks extern "C": call the system call.
int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0u)); }

struct Pipe {
  mr::UniqueFd r, w;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

// Reads until EOF or the deadline; returns what came.
std::string read_all_for(int fd, mr::Timeout timeout) {
  auto deadline = mr::Deadline::after(timeout);
  std::string out;
  char buf[512];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (r <= 0) return out;  // timeout (or error): the test's assertions will say
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Reads one value sent with mr::to_bytes + length prefix, bounded.
template <class T>
T receive(int fd, mr::Timeout timeout = 10s) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, mr::Deadline::after(timeout).poll_timeout_ms()) != 1)
    throw std::runtime_error("receive: timeout");
  std::uint64_t n = 0;
  if (!mr::read_full(fd, &n, sizeof n)) throw std::runtime_error("receive: EOF");
  std::string bytes(n, '\0');
  mr::read_full(fd, bytes.data(), n);
  return mr::from_bytes<T>(bytes);
}

template <class T>
void send(int fd, const T& value) {
  std::string bytes = mr::to_bytes(value);
  std::uint64_t n = bytes.size();
  mr::write_full(fd, &n, sizeof n);
  mr::write_full(fd, bytes.data(), bytes.size());
}

// True once `pid` (not necessarily our child) has ended, within `timeout`;
// reaps it if it became our child (see Subreaper).
bool wait_gone(pid_t pid, mr::Timeout timeout) {
  mr::UniqueFd fd(pidfd_open(pid));
  if (!fd) return errno == ESRCH;
  pollfd p{fd.get(), POLLIN, 0};
  if (::poll(&p, 1, mr::Deadline::after(timeout).poll_timeout_ms()) != 1) return false;
  ::waitpid(pid, nullptr, WNOHANG);
  return true;
}

// For tests that orphan grandchildren on purpose: they are reparented to
// this process instead of init, so that the test reaps them itself
// (wait_gone) and leaves no zombie in the process table.
struct Subreaper {
  Subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }
  ~Subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
};

// A temporary directory removed with everything in it.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mr_process_test.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `start` with this process's stderr redirected to a pipe (children
// inherit it), then returns what the children wrote there until `finish`
// returns and the pipe is drained.
template <class Start, class Finish>
std::string capture_stderr(Start start, Finish finish) {
  Pipe pipe;
  ::fflush(stderr);
  mr::UniqueFd saved(::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0));
  ::dup2(pipe.w.get(), STDERR_FILENO);
  try {
    start();
  } catch (...) {
    ::dup2(saved.get(), STDERR_FILENO);
    throw;
  }
  ::dup2(saved.get(), STDERR_FILENO);
  pipe.w.reset();
  finish();
  return read_all_for(pipe.r.get(), 10s);
}

mr::ProcessOptions with(mr::StartMethod m) { return {.start_method = m}; }

// True once `pid` has ended (zombie or gone), within `timeout`; does not
// reap it.
bool ended(pid_t pid, mr::Timeout timeout) {
  mr::UniqueFd fd(pidfd_open(pid));
  if (!fd) return errno == ESRCH;
  pollfd p{fd.get(), POLLIN, 0};
  return ::poll(&p, 1, mr::Deadline::after(timeout).poll_timeout_ms()) == 1;
}

// Runs `scenario` in a forked child (which so has a forkserver of its own
// that it may kill) and returns what it returned: "" for success, else a
// description of what went wrong.
template <class F>
std::string run_in_client(F scenario) {
  Pipe report;
  mr::Process client([&report, &scenario] {
    std::string result;
    try {
      result = scenario();
    } catch (const std::exception& e) {
      result = std::string("exception: ") + e.what();
    }
    send(report.w.get(), result);
  });
  client.start();
  std::string result = receive<std::string>(report.r.get(), 60s);
  EXPECT_TRUE(client.join_for(20s));
  return result;
}

// ---------------------------------------------------------------------------
// Fork

TEST(ProcessTest, ForkRunsCallableAndReportsZero) {
  Pipe pipe;
  mr::Process p([&pipe](int x) { mr::write_full(pipe.w.get(), &x, sizeof x); }, 1234);
  EXPECT_EQ(p.start_method(), mr::StartMethod::kFork);
  EXPECT_EQ(p.pid(), 0);
  EXPECT_FALSE(p.exit_code().has_value());
  p.start();
  EXPECT_GT(p.pid(), 0);
  int got = 0;
  ASSERT_TRUE(mr::read_full(pipe.r.get(), &got, sizeof got));
  EXPECT_EQ(got, 1234);
  ASSERT_TRUE(p.join_for(10s));
  EXPECT_FALSE(p.is_alive());
  EXPECT_EQ(p.exit_code(), 0);
  EXPECT_THROW(p.start(), std::logic_error);
}

TEST(ProcessTest, ForkExitCodeFromReturnAndFromUnderscoreExit) {
  mr::Process returns([] { return 3; });
  mr::Process exits([] { ::_exit(3); });
  returns.start();
  exits.start();
  ASSERT_TRUE(returns.join_for(10s));
  ASSERT_TRUE(exits.join_for(10s));
  EXPECT_EQ(returns.exit_code(), 3);
  EXPECT_EQ(exits.exit_code(), 3);
  EXPECT_THROW(returns.join_checked(), mr::ProcessError);
}

TEST(ProcessTest, TerminateAndKillGiveMinusTheSignal) {
  Pipe never;  // the children block reading it; nothing is ever written
  auto block = [&never] {
    char c;
    return static_cast<int>(::read(never.r.get(), &c, 1));
  };
  mr::Process t(block), k(block);
  t.start();
  k.start();
  EXPECT_TRUE(t.is_alive());
  t.terminate();
  k.kill();
  ASSERT_TRUE(t.join_for(10s));
  ASSERT_TRUE(k.join_for(10s));
  EXPECT_EQ(t.exit_code(), -SIGTERM);
  EXPECT_EQ(k.exit_code(), -SIGKILL);
  EXPECT_EQ(mr::describe_exit_code(*k.exit_code()), "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(mr::describe_exit_code(3), "exited with code 3");
  t.kill();  // already reaped: nothing happens
}

TEST(ProcessTest, JoinForTimesOutWhileTheChildIsBlocked) {
  Pipe go;
  mr::Process p([&go] {
    char c = 0;
    return mr::read_full(go.r.get(), &c, 1) && c == 'g' ? 0 : 2;
  });
  p.start();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(p.join_for(100ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_TRUE(p.is_alive());
  EXPECT_FALSE(p.exit_code().has_value());
  mr::write_full(go.w.get(), "g", 1);
  ASSERT_TRUE(p.join_for(10s));
  EXPECT_EQ(p.exit_code(), 0);
}

TEST(ProcessTest, ExceptionInChildExitsOneAndIsReportedOnStderr) {
  mr::Process p({.name = "Thrower"}, [] { throw std::runtime_error("boom"); });
  std::string err = capture_stderr([&] { p.start(); }, [&] { ASSERT_TRUE(p.join_for(10s)); });
  EXPECT_EQ(p.exit_code(), 1);
  EXPECT_EQ(err, "Process Thrower (pid " + std::to_string(p.pid()) +
                     "): uncaught std::runtime_error : boom\n");
}

TEST(ProcessTest, ChildOutputIsFlushedBeforeExit) {
  Pipe out;
  mr::Process p([&out] {
    ::dup2(out.w.get(), STDOUT_FILENO);
    std::printf("buffered C output ");  // stdout is a pipe: fully buffered
    std::fputs("and more", stdout);
  });
  p.start();
  out.w.reset();
  ASSERT_TRUE(p.join_for(10s));
  EXPECT_EQ(read_all_for(out.r.get(), 10s), "buffered C output and more");
}

TEST(ProcessTest, DaemonChildOfAChildDiesWhenThatChildEnds) {
  Pipe report;
  mr::Process child([&report] {
    mr::Process daemon({.daemon = true}, [] {
      for (;;) ::pause();
    });
    daemon.start();
    send(report.w.get(), static_cast<int>(daemon.pid()));
    return 0;  // the end of the child terminates its daemon
  });
  child.start();
  pid_t grandchild = receive<int>(report.r.get());
  ASSERT_TRUE(child.join_for(10s));
  EXPECT_EQ(child.exit_code(), 0);
  EXPECT_TRUE(wait_gone(grandchild, 10s));
}

TEST(ProcessTest, NonDaemonChildOfAChildIsJoinedBeforeThatChildEnds) {
  Pipe go, done;
  mr::Process child([&] {
    mr::Process worker([&] {
      char c;
      mr::read_full(go.r.get(), &c, 1);
      mr::write_full(done.w.get(), "d", 1);
    });
    worker.start();
    return 0;  // returns at once; its end joins `worker`
  });
  child.start();
  EXPECT_FALSE(child.join_for(200ms)) << "the child must wait for its non-daemon child";
  mr::write_full(go.w.get(), "g", 1);
  ASSERT_TRUE(child.join_for(10s));
  EXPECT_EQ(child.exit_code(), 0);
  char c = 0;
  pollfd p{done.r.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1) << "the grandchild had finished before the child ended";
  ASSERT_TRUE(mr::read_full(done.r.get(), &c, 1));
  EXPECT_EQ(c, 'd');
}

TEST(ProcessTest, GrandchildDiesWhenItsParentIsKilled) {
  Subreaper subreaper;
  Pipe report;
  mr::Process child([&report] {
    mr::Process grandchild([] {
      for (;;) ::pause();
    });
    grandchild.start();
    send(report.w.get(), static_cast<int>(grandchild.pid()));
    for (;;) ::pause();
  });
  child.start();
  pid_t grandchild = receive<int>(report.r.get());
  mr::UniqueFd gfd(pidfd_open(grandchild));
  ASSERT_TRUE(gfd) << "grandchild should still run";
  child.kill();
  ASSERT_TRUE(child.join_for(10s));
  EXPECT_EQ(child.exit_code(), -SIGKILL);
  pollfd p{gfd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 10000), 1) << "PR_SET_PDEATHSIG should have killed the grandchild";
  EXPECT_TRUE(wait_gone(grandchild, 10s));  // reaps it
}

TEST(ProcessTest, DestroyingARunningDaemonTerminatesAndReapsIt) {
  pid_t pid;
  {
    mr::Process p({.daemon = true}, [] {
      for (;;) ::pause();
    });
    p.start();
    pid = p.pid();
  }
  // Reaped: the pid no longer exists (the listener also checks no zombie).
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ProcessTest, CurrentProcessInAChild) {
  EXPECT_EQ(mr::current_process().name(), "MainProcess");
  EXPECT_EQ(mr::current_process().pid(), ::getpid());
  Pipe report;
  mr::Process p({.name = "Reporter", .daemon = true}, [&report] {
    auto self = mr::current_process();
    mr::Process inner([] {});  // named after this child: "Process-<n>:1"
    send(report.w.get(),
         std::tuple<std::string, int, int, bool, std::string>(
             self.name(), self.pid(), self.parent_pid(), self.daemon(), inner.name()));
  });
  mr::Process unnamed([] {});
  EXPECT_EQ(unnamed.name().rfind("Process-", 0), 0u);
  p.start();
  auto [name, pid, ppid, daemon, inner] =
      receive<std::tuple<std::string, int, int, bool, std::string>>(report.r.get());
  ASSERT_TRUE(p.join_for(10s));
  EXPECT_EQ(name, "Reporter");
  EXPECT_EQ(pid, p.pid());
  EXPECT_EQ(ppid, ::getpid());
  EXPECT_TRUE(daemon);
  EXPECT_TRUE(inner.rfind("Process-", 0) == 0 && inner.find(':') != std::string::npos) << inner;
}

TEST(ProcessTest, MovedProcessKeepsItsChild) {
  mr::Process a([] { return 5; });
  a.start();
  mr::Process b(std::move(a));
  EXPECT_EQ(a.pid(), 0);
  ASSERT_TRUE(b.join_for(10s));
  EXPECT_EQ(b.exit_code(), 5);
}

TEST(ProcessTest, MisuseThrows) {
  mr::Process p([] {});
  EXPECT_THROW(p.join(), std::logic_error);
  EXPECT_THROW(p.terminate(), std::logic_error);
  EXPECT_THROW(mr::Process(with(mr::StartMethod::kSpawn), [] {}), std::invalid_argument);
  EXPECT_GE(mr::cpu_count(), 1);
}

// ---------------------------------------------------------------------------
// Spawn

TEST(SpawnTest, RunsRegisteredFunctionWithSerializedArgs) {
  TempDir dir;
  const std::string out = dir.file("summary");
  mr::Process p(with(mr::StartMethod::kSpawn), mr::target<&summarize>, out,
                std::vector<int>{1, 2, 3, 4}, std::map<std::string, int>{{"a", 1}, {"b", 2}});
  p.start();
  ASSERT_TRUE(p.join_for(20s));
  EXPECT_EQ(p.exit_code(), 4);
  EXPECT_EQ(slurp(out), "sum=10 a=1 b=2");
}

TEST(SpawnTest, ByNameExitCodeZeroAndThree) {
  mr::Process zero(with(mr::StartMethod::kSpawn), "exit_with", 0);
  mr::Process three(with(mr::StartMethod::kSpawn), "exit_with", 3);
  zero.start();
  three.start();
  ASSERT_TRUE(zero.join_for(20s));
  ASSERT_TRUE(three.join_for(20s));
  EXPECT_EQ(zero.exit_code(), 0);
  EXPECT_EQ(three.exit_code(), 3);
}

TEST(SpawnTest, TerminateKillAndJoinForTimeout) {
  mr::Process t(with(mr::StartMethod::kSpawn), mr::target<&sleep_until_signalled>);
  mr::Process k(with(mr::StartMethod::kSpawn), mr::target<&sleep_until_signalled>);
  t.start();
  k.start();
  EXPECT_FALSE(t.join_for(100ms));
  EXPECT_TRUE(t.is_alive());
  t.terminate();
  k.kill();
  ASSERT_TRUE(t.join_for(20s));
  ASSERT_TRUE(k.join_for(20s));
  EXPECT_EQ(t.exit_code(), -SIGTERM);
  EXPECT_EQ(k.exit_code(), -SIGKILL);
}

TEST(SpawnTest, ExceptionInChildExitsOneAndIsReported) {
  mr::Process p({.name = "SpawnThrower", .start_method = mr::StartMethod::kSpawn},
                mr::target<&throw_runtime>, std::string("spawned boom"));
  std::string err = capture_stderr([&] { p.start(); }, [&] { ASSERT_TRUE(p.join_for(20s)); });
  EXPECT_EQ(p.exit_code(), 1);
  EXPECT_EQ(err, "Process SpawnThrower (pid " + std::to_string(p.pid()) +
                     "): uncaught std::runtime_error : spawned boom\n");
}

TEST(SpawnTest, UnregisteredNameOrWrongArgumentsFailClearly) {
  try {
    mr::Process p(with(mr::StartMethod::kSpawn), "no_such_function", 1);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_function"), std::string::npos) << e.what();
  }
  try {
    mr::Process p(with(mr::StartMethod::kSpawn), "exit_with", std::string("3"));
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("takes (int)"), std::string::npos) << e.what();
  }
}

TEST(SpawnTest, ExecErrorIsThrownFromStart) {
  mr::set_executable("/nonexistent/mr-no-such-program");
  mr::Process p(with(mr::StartMethod::kSpawn), mr::target<&exit_with>, 0);
  try {
    p.start();
    mr::set_executable("/proc/self/exe");
    FAIL() << "expected std::system_error";
  } catch (const std::system_error& e) {
    mr::set_executable("/proc/self/exe");
    EXPECT_EQ(e.code().value(), ENOENT) << e.what();
    EXPECT_NE(std::string(e.what()).find("exec"), std::string::npos) << e.what();
  }
  EXPECT_EQ(p.pid(), 0);
}

TEST(SpawnTest, CurrentProcessInASpawnedChild) {
  TempDir dir;
  const std::string out = dir.file("self");
  mr::Process p({.name = "SpawnedReporter", .start_method = mr::StartMethod::kSpawn},
                mr::target<&report_self>, out);
  p.start();
  ASSERT_TRUE(p.join_for(20s));
  ASSERT_EQ(p.exit_code(), 0);
  EXPECT_EQ(slurp(out),
            "SpawnedReporter " + std::to_string(p.pid()) + " " + std::to_string(::getpid()) + " 0");
}

// ---------------------------------------------------------------------------
// Python's module-level and lifecycle calls: active_children(),
// parent_process(), close(), interrupt(), get_context().

TEST(ProcessApiTest, ActiveChildrenListsRunningOnesAndReapsEndedOnes) {
  Pipe hold;
  mr::Process quick([] { return 0; });
  mr::Process slow({.name = "Slow"}, [&hold] {
    char c;
    return ::read(hold.r.get(), &c, 1) == 1 ? 0 : 1;
  });
  quick.start();
  slow.start();
  ASSERT_TRUE(ended(quick.pid(), 20s));
  EXPECT_EQ(::kill(quick.pid(), 0), 0) << "a zombie until someone reaps it";
  std::vector<mr::ProcessInfo> running = mr::active_children();
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].pid(), slow.pid());
  EXPECT_EQ(running[0].name(), "Slow");
  EXPECT_EQ(running[0].parent_pid(), ::getpid());
  EXPECT_EQ(::kill(quick.pid(), 0), -1) << "active_children() reaped it";
  EXPECT_EQ(quick.exit_code(), 0);
  ASSERT_EQ(::write(hold.w.get(), "x", 1), 1);
  ASSERT_TRUE(slow.join_for(20s));
  EXPECT_TRUE(mr::active_children().empty());
}

TEST(ProcessApiTest, ParentProcessIsEmptyInMainAndTheParentInAChild) {
  EXPECT_FALSE(mr::parent_process().has_value());
  mr::Process child([] {
    auto parent = mr::parent_process();
    if (!parent) return 1;
    if (parent->pid() != ::getppid()) return 2;
    if (parent->name() != "MainProcess") return 3;
    if (!parent->is_alive() || parent->join_for(10ms)) return 4;
    return 0;
  });
  child.start();
  ASSERT_TRUE(child.join_for(20s));
  EXPECT_EQ(child.exit_code(), 0);
}

TEST(ProcessApiTest, CloseReleasesAndThenRefusesUse) {
  Pipe hold;
  mr::Process p([&hold] {
    char c;
    return ::read(hold.r.get(), &c, 1) == 1 ? 0 : 1;
  });
  p.start();
  EXPECT_THROW(p.close(), std::logic_error);  // still running
  ASSERT_EQ(::write(hold.w.get(), "x", 1), 1);
  ASSERT_TRUE(p.join_for(20s));
  p.close();
  EXPECT_TRUE(p.closed());
  p.close();  // idempotent
  EXPECT_THROW(p.exit_code(), std::logic_error);
  EXPECT_THROW(p.is_alive(), std::logic_error);
  EXPECT_THROW(p.join(), std::logic_error);
  EXPECT_THROW(p.start(), std::logic_error);
  EXPECT_EQ(p.sentinel(), -1);
  mr::Process never([] { return 0; });
  never.close();  // closing a Process never started is fine
  EXPECT_THROW(never.start(), std::logic_error);
}

TEST(ProcessApiTest, InterruptSendsSigint) {
  for (mr::StartMethod m : {mr::StartMethod::kFork, mr::StartMethod::kSpawn}) {
    mr::Process p(with(m), mr::target<&sleep_until_signalled>);
    p.start();
    EXPECT_FALSE(p.join_for(50ms));
    p.interrupt();
    ASSERT_TRUE(p.join_for(20s));
    EXPECT_EQ(p.exit_code(), -SIGINT);
  }
}

TEST(ProcessApiTest, ContextChoosesTheMethodWithoutChangingTheDefault) {
  TempDir dir;
  const std::string out = dir.file("method");
  const mr::StartMethod before = mr::get_start_method();
  auto ctx = mr::get_context("spawn");
  EXPECT_EQ(ctx.start_method(), mr::StartMethod::kSpawn);
  mr::Process p = ctx.process(mr::target<&report_start_method>, out);
  EXPECT_EQ(p.start_method(), mr::StartMethod::kSpawn);
  p.start();
  ASSERT_TRUE(p.join_for(20s));
  EXPECT_EQ(slurp(out), "spawn");
  EXPECT_EQ(mr::get_start_method(), before);
  EXPECT_EQ(mr::get_context().start_method(), before);
  mr::Process named = ctx.process({.name = "ViaContext"}, mr::target<&exit_with>, 4);
  EXPECT_EQ(named.name(), "ViaContext");
  EXPECT_EQ(named.start_method(), mr::StartMethod::kSpawn);
  EXPECT_THROW(mr::get_context("thread"), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Forkserver: started before the first test, so it is not a leaked child.

class ForkserverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { mr::forkserver_start(); }
  static mr::ProcessOptions fs(std::string name = "") {
    return {.name = std::move(name), .start_method = mr::StartMethod::kForkserver};
  }
};

TEST_F(ForkserverTest, ExitCodesAndArguments) {
  TempDir dir;
  const std::string out = dir.file("summary");
  mr::Process zero(fs(), mr::target<&exit_with>, 0);
  mr::Process three(fs(), "exit_with", 3);
  mr::Process sum(fs(), mr::target<&summarize>, out, std::vector<int>{5, 6},
                  std::map<std::string, int>{{"z", 26}});
  zero.start();
  three.start();
  sum.start();
  EXPECT_NE(zero.pid(), mr::forkserver_pid());
  ASSERT_TRUE(zero.join_for(20s));
  ASSERT_TRUE(three.join_for(20s));
  ASSERT_TRUE(sum.join_for(20s));
  EXPECT_EQ(zero.exit_code(), 0);
  EXPECT_EQ(three.exit_code(), 3);
  EXPECT_EQ(sum.exit_code(), 2);
  EXPECT_EQ(slurp(out), "sum=11 z=26");
}

TEST_F(ForkserverTest, TerminateKillAndJoinForTimeout) {
  mr::Process t(fs(), mr::target<&sleep_until_signalled>);
  mr::Process k(fs(), mr::target<&sleep_until_signalled>);
  t.start();
  k.start();
  EXPECT_FALSE(t.join_for(100ms));
  EXPECT_TRUE(t.is_alive());
  EXPECT_FALSE(t.exit_code().has_value());
  t.terminate();
  k.kill();
  ASSERT_TRUE(t.join_for(20s));
  ASSERT_TRUE(k.join_for(20s));
  EXPECT_EQ(t.exit_code(), -SIGTERM);
  EXPECT_EQ(k.exit_code(), -SIGKILL);
  EXPECT_FALSE(t.is_alive());
}

TEST_F(ForkserverTest, ExceptionAndCurrentProcess) {
  TempDir dir;
  const std::string out = dir.file("self");
  mr::Process thrower(fs("FsThrower"), mr::target<&throw_runtime>, std::string("fs boom"));
  mr::Process reporter(fs("FsReporter"), mr::target<&report_self>, out);
  // The server inherited this process's stderr when it started, so the
  // child's report is checked through the exit code here.
  thrower.start();
  reporter.start();
  ASSERT_TRUE(thrower.join_for(20s));
  ASSERT_TRUE(reporter.join_for(20s));
  EXPECT_EQ(thrower.exit_code(), 1);
  ASSERT_EQ(reporter.exit_code(), 0);
  EXPECT_EQ(slurp(out), "FsReporter " + std::to_string(reporter.pid()) + " " +
                            std::to_string(::getpid()) + " 0");
}

TEST_F(ForkserverTest, ManyChildren) {
  std::vector<mr::Process> ps;
  for (int i = 0; i < 20; ++i) ps.emplace_back(fs(), mr::target<&exit_with>, i);
  for (auto& p : ps) p.start();
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(ps[i].join_for(20s));
    EXPECT_EQ(ps[i].exit_code(), i);
  }
}

TEST_F(ForkserverTest, ServerAndItsChildrenDieWithTheirClient) {
  // A fork child starts a forkserver of its own and a child in it, then is
  // killed: both the server and the server's child must go.
  Subreaper subreaper;
  Pipe report;
  mr::Process client([&report] {
    mr::Process sleeper(fs(), mr::target<&sleep_until_signalled>);
    sleeper.start();
    send(report.w.get(), std::pair<int, int>(mr::forkserver_pid(), sleeper.pid()));
    for (;;) ::pause();
  });
  client.start();
  auto [server, child] = receive<std::pair<int, int>>(report.r.get(), 20s);
  ASSERT_GT(server, 0);
  ASSERT_GT(child, 0);
  EXPECT_NE(server, mr::forkserver_pid());
  client.kill();
  ASSERT_TRUE(client.join_for(10s));
  EXPECT_TRUE(wait_gone(server, 10s));
  EXPECT_TRUE(wait_gone(child, 10s));
}

// The forkserver is killed (SIGKILL, then SIGINT) while two of its children
// run: they live on and finish their work, join() waits for their real end
// and reports the code they exited with (not a made-up -9), and the next
// forkserver start() starts a new server transparently. A child that then
// dies by a signal has an honestly unknown status.
TEST_F(ForkserverTest, ChildrenOutliveAKilledServerWhichIsReplaced) {
  Subreaper subreaper;  // the orphaned children come to this process
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Pipe pids;
  const std::string failures = run_in_client([&]() -> std::string {
    std::string bad;
    for (int sig : {SIGKILL, SIGINT}) {
      const std::string tag = std::string(" [") + ::sigabbrev_np(sig) + "] ";
      const std::string out_a = dir.file("a"), out_b = dir.file("b");
      mr::Process attached(fs(), mr::target<&finish_on_fifo>, fifo, out_a);
      mr::ProcessOptions detached_options = fs();
      detached_options.die_with_parent = false;
      mr::Process detached(detached_options, mr::target<&finish_on_fifo>, fifo, out_b);
      attached.start();
      detached.start();
      const pid_t server = mr::forkserver_pid();
      ::kill(server, sig);
      if (!ended(server, 10s)) return bad + tag + "server did not end";
      if (attached.join_for(100ms) || detached.join_for(100ms))
        bad += tag + "join returned while the child runs";
      mr::Process next(fs(), mr::target<&exit_with>, 5);
      next.start();  // before: "the server is gone (send request): Broken pipe"
      if (!next.join_for(20s) || next.exit_code() != 5) bad += tag + "next start failed";
      if (mr::forkserver_pid() == server) bad += tag + "no new server";
      mr::UniqueFd f(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));
      if (::write(f.get(), "xx", 2) != 2) return bad + tag + "fifo write";
      if (!attached.join_for(20s) || !detached.join_for(20s)) return bad + tag + "no end";
      if (attached.exit_code() != 7 || slurp(out_a) != "done")
        bad += tag + "attached child: " + mr::describe_exit_code(*attached.exit_code());
      if (detached.exit_code() != 7 || slurp(out_b) != "done")
        bad += tag + "detached child: " + mr::describe_exit_code(*detached.exit_code());
      send(pids.w.get(), std::pair<int, int>(attached.pid(), detached.pid()));
    }
    // A child killed by a signal after its server died: nobody can know
    // which signal; the status says so.
    mr::Process victim(fs(), mr::target<&sleep_until_signalled>);
    victim.start();
    const pid_t server = mr::forkserver_pid();
    ::kill(server, SIGKILL);
    if (!ended(server, 10s)) return bad + " server did not end";
    victim.kill();
    if (!victim.join_for(20s)) return bad + " victim did not end";
    if (victim.exit_code() != mr::kExitCodeUnknown)
      bad += " victim: " + mr::describe_exit_code(*victim.exit_code());
    if (mr::describe_exit_code(mr::kExitCodeUnknown).find("unknown") == std::string::npos)
      bad += " describe_exit_code does not say unknown";
    send(pids.w.get(), std::pair<int, int>(victim.pid(), victim.pid()));
    return bad;
  });
  EXPECT_EQ(failures, "");
  // Reap the orphans that came to this process.
  for (int i = 0; i < 3; ++i) {
    auto [a, b] = receive<std::pair<int, int>>(pids.r.get(), 20s);
    EXPECT_TRUE(wait_gone(a, 10s));
    EXPECT_TRUE(wait_gone(b, 10s));
  }
}

// A forkserver child dies with the process that asked for it, not with
// the server: it survives the server's death and goes when its requester
// is killed.
TEST_F(ForkserverTest, ChildFollowsItsRequesterNotTheServer) {
  Subreaper subreaper;
  Pipe report;
  mr::Process client([&report] {
    mr::Process sleeper(fs(), mr::target<&sleep_until_signalled>);
    sleeper.start();
    const pid_t server = mr::forkserver_pid();
    ::kill(server, SIGKILL);
    const bool server_ended = ended(server, 10s);
    send(report.w.get(), std::tuple<int, int, bool, bool>(sleeper.pid(), server, server_ended,
                                                          server_ended && sleeper.is_alive()));
    for (;;) ::pause();
  });
  client.start();
  auto [child, server, server_ended, alive_after_server] =
      receive<std::tuple<int, int, bool, bool>>(report.r.get(), 20s);
  EXPECT_TRUE(server_ended);
  EXPECT_TRUE(alive_after_server);
  client.kill();
  ASSERT_TRUE(client.join_for(10s));
  EXPECT_TRUE(wait_gone(child, 10s));
  EXPECT_TRUE(wait_gone(server, 10s));  // the client's unreaped server came to us
}

// Spawned and forkserver children report their own start method and
// inherit none of the parent's descriptors that lack close-on-exec.
TEST_F(ForkserverTest, ChildrenReportTheirStartMethodAndGetNoStrayDescriptors) {
  TempDir dir;
  for (mr::StartMethod m : {mr::StartMethod::kSpawn, mr::StartMethod::kForkserver}) {
    const std::string out = dir.file("method");
    mr::Process p(with(m), mr::target<&report_start_method>, out);
    p.start();
    ASSERT_TRUE(p.join_for(20s));
    EXPECT_EQ(slurp(out), mr::to_string(m));
  }
  // A descriptor without close-on-exec, opened before the client's
  // forkserver starts.
  const std::string failures = run_in_client([]() -> std::string {
    int fds[2];
    if (::pipe(fds) != 0) return "pipe";
    std::string bad;
    for (mr::StartMethod m : {mr::StartMethod::kSpawn, mr::StartMethod::kForkserver}) {
      mr::Process p(with(m), mr::target<&descriptor_open>, fds[0]);
      p.start();
      if (!p.join_for(20s) || p.exit_code() != 0)
        bad += std::string(" ") + std::string(mr::to_string(m)) + " child has the descriptor";
    }
    ::close(fds[0]);
    ::close(fds[1]);
    return bad;
  });
  EXPECT_EQ(failures, "");
}

}  // namespace
