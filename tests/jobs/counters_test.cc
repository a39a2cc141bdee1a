// User counters (ctx.count) reach --stats and the progress line whether a
// job counts in map or in reduce, summed exactly over workers, chunks and
// partitions, with forked and spawned workers. The plugin is
// tests/jobs/test_plugins/counters.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;

// The number after "counter NAME:" in --stats output, or -1.
long long stats_counter(const std::string& err, const std::string& name) {
  const std::string label = "  counter " + name + ":";
  std::size_t at = err.find(label);
  if (at == std::string::npos) return -1;
  return std::stoll(err.substr(at + label.size()));
}

TEST(CountersTest, MapAndReduceCountersReachStatsAndTheProgressLine) {
  TempDir dir;
  // Random lines from a small vocabulary, so that many repeat.
  std::mt19937 rng(7);
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    text += 'w';
    text += std::to_string(rng() % 700);
    text += '\n';
  }
  auto f = dir.write("in.txt", text);
  std::map<std::string, std::uint64_t> counts;
  for (const auto& line : mr::testing::lines_of(text)) ++counts[line];
  long long repeated = 0, copies = 0;
  for (const auto& [line, n] : counts) {
    if (n > 1) ++repeated;
    copies += static_cast<long long>(n) - 1;
  }
  ASSERT_GT(repeated, 0);
  for (const char* method : {"fork", "spawn"}) {
    SCOPED_TRACE(method);
    auto r =
        run_mapreduce({"run", "--job", TEST_PLUGIN, "-j", "2", "--reducers", "5", "--chunk-size",
                       "1K", "--start-method", method, "--stats", "--progress", f});
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(mr::testing::lines_of(r.out).size(), counts.size());
    EXPECT_EQ(stats_counter(r.err, "lines"), 3000) << r.err;
    EXPECT_EQ(stats_counter(r.err, "distinct"), static_cast<long long>(counts.size())) << r.err;
    EXPECT_EQ(stats_counter(r.err, "repeated"), repeated) << r.err;
    EXPECT_EQ(stats_counter(r.err, "copies"), copies) << r.err;
    // The final progress line (stderr is a pipe: a plain line, the one
    // before the stats) shows them all.
    const std::size_t end = r.err.find("\nmapreduce: stats");
    ASSERT_NE(end, std::string::npos) << r.err;
    const std::size_t begin = r.err.rfind('\n', end - 1) + 1;  // 0 when it is the first line
    const std::string progress = r.err.substr(begin, end - begin);
    EXPECT_EQ(progress.rfind("mapreduce: done: ", 0), 0u) << progress;
    EXPECT_NE(progress.find("  lines=3000"), std::string::npos) << progress;
    EXPECT_NE(progress.find("  distinct=" + std::to_string(counts.size())), std::string::npos)
        << progress;
    EXPECT_NE(progress.find("  repeated=" + std::to_string(repeated)), std::string::npos)
        << progress;
    EXPECT_NE(progress.find("  copies=" + std::to_string(copies)), std::string::npos) << progress;
  }
}

}  // namespace
