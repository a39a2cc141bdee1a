// --stats says when a job is map-only (no reduce step): a job whose reduce()
// was misspelt or left out runs as map-only, and the user should see that.
#include <gtest/gtest.h>

#include <string>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::RunResult;
using mr::testing::TempDir;

TEST(MapOnlyStatsTest, StatsSayWhenAJobHasNoReduce) {
  TempDir dir;
  std::string f = dir.write("text.txt", "a cat\nno dog\na catalog\n");
  RunResult grep = run_mapreduce({"run", "--job", "grep", "--opt", "pattern=cat", "--stats", f});
  ASSERT_EQ(grep.exit_code, 0) << grep.err;
  // "  reduce:   none: a map-only job (no reduce step)", aligned with the others.
  const std::size_t at = grep.err.find("\n  reduce:");
  ASSERT_NE(at, std::string::npos) << grep.err;
  const std::string line = grep.err.substr(at + 1, grep.err.find('\n', at + 1) - at - 1);
  EXPECT_NE(line.find(":  "), std::string::npos) << line;
  EXPECT_NE(line.find(" none: a map-only job"), std::string::npos) << line;
  for (const char* job : {"bigrams", "wordcount"}) {
    SCOPED_TRACE(job);
    RunResult r = run_mapreduce({"run", "--job", job, "--stats", f});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("mapreduce: stats"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("map-only"), std::string::npos) << r.err;
  }
}

}  // namespace
