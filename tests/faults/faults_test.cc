// The fault matrix: the `mapreduce` program under MAPREDUCE_FAULT (see
// framework/mapreduce/src/fault_injection.h), for every worker fault (kill,
// segv, throw, hang, stop) at every worker phase (map, spill, reduce) and every
// master fault (kill, segv, throw) at every master phase (map, spill,
// reduce, output), under each start method, for wordcount and the bigrams
// plugin. Which task fails and how often is drawn at random; the seed is
// printed (set MR_FAULT_SEED to replay a run).
//
// Every run must end within its hard timeout with either the exact output
// of a clean run or a clear failure (exit 1 and a "mapreduce: " message, or
// the master's own death for a master kill or crash), with the -o target
// untouched after a failure, and must leave nothing: no process of its
// process group, no new /dev/shm entry, nothing in its $TMPDIR (a SIGKILLed
// master's spill folder is swept by the next run, which is checked too).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/base/unique_fd.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename().string());
  return names;
}

// Processes (zombies included) whose process group is `pgrp`.
std::vector<pid_t> group_members(pid_t pgrp) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = slurp(e.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    long ppid, group;
    if ((rest >> state >> ppid >> group) && group == pgrp) out.push_back(std::stoi(name));
  }
  return out;
}

struct Outcome {
  int raw = 0;
  bool timed_out = false;
  std::string out, err;
  bool exited() const { return WIFEXITED(raw); }
  int code() const { return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1; }
  int signal() const { return WIFSIGNALED(raw) ? WTERMSIG(raw) : 0; }
  std::string str() const {
    std::string s = timed_out  ? "timed out"
                    : exited() ? "exit " + std::to_string(code())
                               : "signal " + std::to_string(signal());
    return s + "\n--- stderr:\n" + err.substr(0, 1500);
  }
};

class FaultMatrix : public ::testing::Test {
 protected:
  static std::uint64_t seed() {
    static const std::uint64_t s = [] {
      const char* env = std::getenv("MR_FAULT_SEED");
      const std::uint64_t v =
          env ? std::strtoull(env, nullptr, 10)
              : static_cast<std::uint64_t>(
                    std::chrono::system_clock::now().time_since_epoch().count()) %
                    1000000007;
      std::cout << "fault matrix seed: " << v << " (replay with MR_FAULT_SEED=" << v << ")\n";
      return v;
    }();
    return s;
  }

  void SetUp() override {
    char tmpl[] = "/tmp/mr-faults.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directory(root_ / "tmp");
    fs::create_directory(root_ / "out");
    // Text with a skewed vocabulary: enough chunks, partitions and spills.
    std::mt19937 rng(7);
    std::string text;
    while (text.size() < 40'000) {
      const unsigned r = rng() % 400;
      text += 'w';
      text += std::to_string(r * r % 997);
      text += rng() % 9 ? ' ' : '\n';
    }
    input_ = root_ / "in.txt";
    std::ofstream(input_) << text;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Runs the program with `args` (+ the input) and MAPREDUCE_FAULT=`fault`,
  // in its own process group, writing to a fresh -o target; kills the group
  // after `timeout`.
  Outcome run(std::vector<std::string> args, const std::string& fault,
              std::chrono::milliseconds timeout = 60s) {
    const fs::path out = root_ / "out" / "result.tsv", err = root_ / "err";
    args.insert(args.begin(), kBinary);
    args.insert(args.end(), {"-o", out.string(), input_.string()});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "MAPREDUCE_", 10) != 0 && std::strncmp(*e, "TMPDIR=", 7) != 0)
        env_s.emplace_back(*e);
    env_s.push_back("TMPDIR=" + (root_ / "tmp").string());
    if (!fault.empty()) env_s.push_back("MAPREDUCE_FAULT=" + fault);
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    fs::remove(out);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int n = ::open("/dev/null", O_RDWR);
      ::dup2(n, 0);
      ::dup2(n, 1);
      ::dup2(e, 2);
      ::execve(kBinary, argv.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here: no race with the kill below
    Outcome o;
    mr::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    const mr::Deadline deadline = mr::Deadline::after(timeout);
    for (;;) {
      if (::waitpid(pid, &o.raw, WNOHANG) == pid) break;
      if (deadline.expired()) {
        o.timed_out = true;
        ::killpg(pid, SIGKILL);
        ::waitpid(pid, &o.raw, 0);
        break;
      }
      pollfd p{pidfd.get(), POLLIN, 0};
      ::poll(&p, 1, std::max(1, std::min(deadline.poll_timeout_ms(), 100)));
    }
    o.err = slurp(err);
    o.out = fs::exists(out) ? slurp(out) : "";
    // Nothing of the run may be left: its workers die with it (a killed
    // master's by PR_SET_PDEATHSIG, so allow them a moment).
    const mr::Deadline gone = mr::Deadline::after(5s);
    while (!group_members(pid).empty() && !gone.expired()) std::this_thread::sleep_for(5ms);
    const auto left = group_members(pid);
    EXPECT_TRUE(left.empty()) << left.size() << " processes of the run's group are left";
    for (pid_t p : left) ::kill(p, SIGKILL);
    return o;
  }

  // Checks that the run left nothing in $TMPDIR, /dev/shm or the -o
  // folder. After a master that died by a signal, the next run must sweep
  // its spill folder.
  void expect_clean(const Outcome& o, const std::set<std::string>& shm_before) {
    if (o.signal() != 0) {
      Outcome sweep = run({"wordcount", "-j", "1"}, "");
      EXPECT_EQ(sweep.code(), 0) << sweep.str();
    }
    EXPECT_EQ(listing(root_ / "tmp"), std::set<std::string>{}) << "left in $TMPDIR";
    const auto shm = listing("/dev/shm");
    for (const auto& name : shm)
      EXPECT_TRUE(shm_before.count(name) || name.rfind("mr.", 0) != 0)
          << "left in /dev/shm: " << name;
    for (const auto& name : listing(root_ / "out"))
      EXPECT_EQ(name, "result.tsv") << "a temporary output was left";
  }

  void matrix(const std::vector<std::string>& job, const std::string& method);

  static constexpr const char* kBinary = MAPREDUCE_BIN;
  fs::path root_, input_;
};

void FaultMatrix::matrix(const std::vector<std::string>& job, const std::string& method) {
  std::vector<std::string> args = job;
  args.insert(args.end(), {"-j", "2", "--reducers", "3", "--chunk-size", "2K", "--memory", "16K",
                           "--task-timeout", "2", "--start-method", method});
  std::vector<std::string> with_stats = args;
  with_stats.push_back("--stats");
  const Outcome clean = run(with_stats, "");
  ASSERT_EQ(clean.code(), 0) << clean.str();
  ASSERT_FALSE(clean.out.empty());
  // "input B bytes in C chunks": a fault must name a chunk that exists.
  const auto at = clean.err.find(" bytes in ");
  ASSERT_NE(at, std::string::npos) << clean.err;
  const auto chunks = static_cast<std::uint32_t>(std::stoul(clean.err.substr(at + 10)));
  ASSERT_GE(chunks, 2u) << clean.err;
  const std::uint32_t reducers = 3;
  std::mt19937_64 rng(seed() ^ std::hash<std::string>{}(job.back() + method));

  struct Case {
    std::string fault;
    bool recoverable;  // fires fewer times than the 3 attempts a task gets
  };
  std::vector<Case> cases;
  for (const char* kind : {"kill", "segv", "throw", "hang", "stop"}) {
    for (const char* phase : {"map", "spill", "reduce"}) {
      const std::uint32_t task = std::string(phase) == "reduce" ? rng() % reducers
                                 : std::string(phase) == "map"  ? rng() % chunks
                                                                : 0;
      // A hang or a stop costs a second or a --task-timeout per firing: only once.
      const bool slow = std::string(kind) == "hang" || std::string(kind) == "stop";
      const unsigned times = slow ? 1 : 1 + rng() % 3;  // 3: always
      const bool always = times == 3;
      std::ostringstream fault;
      fault << kind << '@' << phase << ':' << task;
      if (!always) fault << ':' << times;
      cases.push_back({fault.str(), !always});
    }
  }
  for (const char* kind : {"kill", "segv", "throw"})
    for (const char* phase : {"map", "spill", "reduce", "output"})
      cases.push_back({(std::ostringstream() << "master-" << kind << '@' << phase).str(), false});

  for (const Case& c : cases) {
    SCOPED_TRACE((std::ostringstream() << "MAPREDUCE_FAULT=" << c.fault << " --start-method "
                                       << method << " (seed " << seed() << ")")
                     .str());
    const auto shm_before = listing("/dev/shm");
    const Outcome o = run(args, c.fault);
    ASSERT_FALSE(o.timed_out) << "the run hung: " << o.str();
    if (c.recoverable) {
      EXPECT_EQ(o.code(), 0) << o.str();
      EXPECT_TRUE(o.out == clean.out)
          << "the output is not exact after recovering (" << o.out.size() << " bytes, expected "
          << clean.out.size() << ")";
    } else if (c.fault.rfind("master-kill", 0) == 0 || c.fault.rfind("master-segv", 0) == 0) {
      EXPECT_EQ(o.signal(), c.fault.rfind("master-kill", 0) == 0 ? SIGKILL : SIGSEGV) << o.str();
      EXPECT_TRUE(o.out.empty()) << "a dead master's output was committed";
    } else {
      EXPECT_EQ(o.code(), 1) << o.str();
      EXPECT_TRUE(o.out.empty()) << "a failed run committed output: " << o.str();
      const std::string last = o.err.substr(o.err.rfind('\n', o.err.size() - 2) + 1);
      EXPECT_EQ(last.rfind("mapreduce: ", 0), 0u) << o.str();
      EXPECT_TRUE(c.fault.rfind("master-", 0) == 0 || last.find("failed") != std::string::npos)
          << "the message does not say what failed: " << last;
    }
    expect_clean(o, shm_before);
  }
}

TEST_F(FaultMatrix, WordcountForked) { matrix({"wordcount"}, "fork"); }
TEST_F(FaultMatrix, WordcountSpawned) { matrix({"wordcount"}, "spawn"); }
TEST_F(FaultMatrix, WordcountForkserver) { matrix({"wordcount"}, "forkserver"); }
TEST_F(FaultMatrix, PluginForked) { matrix({"run", "--job", "bigrams"}, "fork"); }
TEST_F(FaultMatrix, PluginSpawned) { matrix({"run", "--job", "bigrams"}, "spawn"); }
TEST_F(FaultMatrix, PluginForkserver) { matrix({"run", "--job", "bigrams"}, "forkserver"); }

}  // namespace
