// The job's setup() runs once per worker process (before its first task,
// however the worker starts) and teardown() once when the worker ends
// normally; the master sets up its own copy once (options are checked
// there; format() and before() run on it). A setup that hangs, crashes or
// throws in a worker fails the run, after bounded retries, without hanging
// it. The plugin (tests/jobs/test_plugins/lifecycle.cc) appends a line per
// call to DIR/<pid>.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "run_binary.h"

namespace {

namespace fs = std::filesystem;
using mr::testing::lines_of;
using mr::testing::run_mapreduce;
using mr::testing::TempDir;

// DIR/<pid> files: pid -> the lines of its calls.
std::map<long, std::vector<std::string>> calls_by_process(const std::string& dir) {
  std::map<long, std::vector<std::string>> calls;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name == "first-setup") continue;
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    calls[std::stol(name)] = lines_of(ss.str());
  }
  return calls;
}

TEST(LifecycleTest, SetupAndTeardownOncePerWorkerAndOnceInTheMaster) {
  TempDir dir;
  // 400 lines of 4 words from a vocabulary of 60: many chunks of 256 bytes.
  std::string text;
  std::map<std::string, std::uint64_t> counts;
  for (int i = 0; i < 1600; ++i) {
    std::string word = "w";
    word += std::to_string(i * 7 % 60);
    ++counts[word];
    text += word;
    text += i % 4 == 3 ? '\n' : ' ';
  }
  auto input = dir.write("in.txt", text);
  std::string want;
  for (const auto& [word, n] : counts) want += word + "\t" + std::to_string(n) + "\n";

  for (const char* method : {"fork", "spawn", "forkserver"}) {
    SCOPED_TRACE(method);
    const std::string log_dir = dir.path() + "/log-" + method;
    fs::create_directory(log_dir);
    auto r =
        run_mapreduce({"run", "--job", TEST_PLUGIN, "--opt", "dir=" + log_dir, "-j", "2",
                       "--reducers", "4", "--chunk-size", "256", "--start-method", method, input});
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want);

    auto calls = calls_by_process(log_dir);
    // The master: its own copy, set up once and torn down once.
    ASSERT_EQ(calls.count(r.pid), 1u);
    EXPECT_EQ(calls[r.pid], (std::vector<std::string>{"setup", "teardown"}));
    calls.erase(r.pid);
    // Two workers, none replaced: each set up once before anything else and
    // torn down once after everything else.
    ASSERT_EQ(calls.size(), 2u);
    std::size_t maps = 0, reduces = 0;
    for (const auto& [pid, lines] : calls) {
      SCOPED_TRACE("worker " + std::to_string(pid));
      ASSERT_GE(lines.size(), 2u);
      EXPECT_EQ(lines.front(), "setup");
      EXPECT_EQ(lines.back(), "teardown");
      for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
        EXPECT_TRUE(lines[i] == "map" || lines[i] == "reduce") << lines[i];
        maps += lines[i] == "map";
        reduces += lines[i] == "reduce";
      }
    }
    // Every key was reduced exactly once, in a worker; the map calls were
    // many (more than one per worker: several tasks shared one setup).
    EXPECT_EQ(reduces, counts.size());
    EXPECT_GT(maps, 2u);
  }
}

TEST(LifecycleTest, ASetupThatFailsInTheWorkersFailsTheRunWithoutHanging) {
  TempDir dir;
  auto input = dir.write("in.txt", "a b c\nd e f\n");
  for (const char* method : {"fork", "spawn"}) {
    for (const char* fault : {"hang", "crash", "throw"}) {
      SCOPED_TRACE(std::string(method) + " " + fault);
      const std::string log_dir = dir.path() + "/log-" + method + "-" + fault;
      fs::create_directory(log_dir);
      const auto t0 = std::chrono::steady_clock::now();
      auto r = run_mapreduce({"run", "--job", TEST_PLUGIN, "--opt", "dir=" + log_dir, "--opt",
                              std::string("setup_fault=") + fault, "-j", "2", "--task-timeout", "1",
                              "--no-progress", "--start-method", method, input},
                             std::chrono::seconds(60));
      ASSERT_FALSE(r.timed_out) << "the run hung";
      EXPECT_EQ(r.exit_code, 1) << r.err;
      EXPECT_EQ(r.out, "");
      EXPECT_NE(r.err.find("mapreduce: test_lifecycle: starting a worker (the job's setup) "
                           "failed 3 times in a row; last: "),
                std::string::npos)
          << r.err;
      if (std::string(fault) == "hang") {
        EXPECT_NE(r.err.find("timed out after 1 s in its setup (--task-timeout)"),
                  std::string::npos)
            << r.err;
        // Two workers at a time, three failed starts: two rounds of 1 s.
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
      }
      if (std::string(fault) == "throw") {
        EXPECT_NE(r.err.find("setup refused on purpose"), std::string::npos) << r.err;
      }
      // Bounded: the master, and at most 3 + 1 workers (the last round may
      // have started two) ever set up.
      EXPECT_LE(calls_by_process(log_dir).size(), 5u);
    }
  }
}

}  // namespace
