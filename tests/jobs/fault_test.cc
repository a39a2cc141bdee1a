// A plugin that throws, crashes or hangs in map or in reduce fails the run
// (exit status 1, nothing on standard output) after the engine's retries,
// with a message naming the job and the phase: for map the file and byte
// range, for reduce the partition. A hang ends through --task-timeout; every
// run has a hard limit, so a hang of the program fails the test instead of
// blocking it. The plugin is tests/jobs/test_plugins/faulty.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::RunResult;
using mr::testing::TempDir;

// 200 lines of 16 bytes each; line 37 is the poison one.
std::string make_input() {
  std::string text;
  char line[32];
  for (int i = 0; i < 200; ++i) {
    std::snprintf(line, sizeof line, i == 37 ? "poison-%08d\n" : "line-%010d\n", i % 50);
    text += line;
  }
  return text;
}

// The program's own message: its last line (a crashing worker may print
// before it under a sanitizer).
std::string last_line(const std::string& err) {
  std::size_t end = err.size() && err.back() == '\n' ? err.size() - 1 : err.size();
  std::size_t start = err.rfind('\n', end == 0 ? 0 : end - 1);
  return err.substr(start == std::string::npos ? 0 : start + 1,
                    end - (start == std::string::npos ? 0 : start + 1));
}

RunResult run_faulty(const std::string& mode, const std::string& file,
                     std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {
      "run",          "--job", TEST_PLUGIN,  "--opt", "fail=" + mode,   "-j", "2",
      "--chunk-size", "64",    "--reducers", "3",     "--task-timeout", "1",  "--no-progress"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.push_back(file);
  return run_mapreduce(args, std::chrono::seconds(60));
}

// Runs the job with fault `mode`, checks that the run failed cleanly (no
// hang, exit status 1, nothing on standard output) and returns the
// program's message.
std::string failure_message(const std::string& mode, const std::string& file,
                            std::vector<std::string> extra = {}) {
  auto r = run_faulty(mode, file, std::move(extra));
  EXPECT_FALSE(r.timed_out) << "the run hung";
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  return last_line(r.err);
}

TEST(FaultTest, WithoutAFaultTheJobCountsLines) {
  TempDir dir;
  const std::string text = make_input();
  auto f = dir.write("in.txt", text);
  std::map<std::string, std::uint64_t> counts;
  for (const auto& line : mr::testing::lines_of(text)) ++counts[line];
  std::string want;
  for (const auto& [line, n] : counts) want += line + "\t" + std::to_string(n) + "\n";
  auto r = run_faulty("", f);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want);
}

TEST(FaultTest, MapFailuresNameTheJobPhaseFileAndByteRange) {
  TempDir dir;
  const std::string text = make_input();
  auto f = dir.write("in.txt", text);
  // A map chunk is cut after the first newline at or past --chunk-size
  // bytes, so with 16-byte lines and 64-byte chunks chunk k holds bytes
  // 64k to 64k+64: the poison line's chunk follows from its offset.
  const std::size_t at = text.find("poison");
  const std::size_t chunk = at / 64;
  const std::string range =
      "bytes " + std::to_string(chunk * 64) + "-" + std::to_string(chunk * 64 + 64);
  for (const char* mode : {"throw_map", "crash_map", "hang_map"}) {
    SCOPED_TRACE(mode);
    const std::string msg = failure_message(mode, f);
    EXPECT_EQ(msg.rfind("mapreduce: test_faulty: map of chunk " + std::to_string(chunk) + " of '" +
                            f + "' (" + range + ") failed 3 times; last: ",
                        0),
              0u)
        << msg;
    if (std::string(mode) == "throw_map") {
      EXPECT_NE(msg.find("poisoned map"), std::string::npos) << msg;
    }
    if (std::string(mode) == "hang_map") {
      EXPECT_NE(msg.find("timed out after 1 s (--task-timeout)"), std::string::npos) << msg;
    }
  }
}

TEST(FaultTest, ReduceFailuresNameTheJobPhaseAndPartition) {
  TempDir dir;
  auto f = dir.write("in.txt", make_input());
  // The plugin's partition() puts the poison key in the last of the 3
  // partitions.
  for (const char* mode : {"throw_reduce", "crash_reduce", "hang_reduce"}) {
    SCOPED_TRACE(mode);
    const std::string msg = failure_message(mode, f);
    EXPECT_EQ(
        msg.rfind("mapreduce: test_faulty: reduce of partition 2 of 3 failed 3 times; last: ", 0),
        0u)
        << msg;
    EXPECT_EQ(msg.find("map of"), std::string::npos) << msg;
    if (std::string(mode) == "throw_reduce") {
      // A typed job's exception names the key it was reducing.
      EXPECT_NE(msg.find("key 'poison-00000037': poisoned reduce"), std::string::npos) << msg;
    }
    if (std::string(mode) == "hang_reduce") {
      EXPECT_NE(msg.find("timed out after 1 s (--task-timeout)"), std::string::npos) << msg;
    }
  }
}

// Workers that are fresh programs fail the same way.
TEST(FaultTest, SpawnedWorkersFailTheSameWay) {
  TempDir dir;
  auto f = dir.write("in.txt", make_input());
  for (const char* mode : {"crash_reduce", "hang_map"}) {
    SCOPED_TRACE(mode);
    const std::string msg = failure_message(mode, f, {"--start-method", "spawn"});
    const std::string phase =
        std::string(mode) == "crash_reduce" ? "reduce of partition 2 of 3" : "map of chunk ";
    EXPECT_EQ(msg.rfind("mapreduce: test_faulty: " + phase, 0), 0u) << msg;
  }
}

}  // namespace
