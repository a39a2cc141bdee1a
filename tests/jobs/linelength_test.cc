// linelength end to end: the histogram against one computed here.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;

std::string expected(const std::string& text, std::uint64_t bucket, std::uint64_t scale) {
  std::map<std::uint64_t, std::uint64_t> hist;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    std::size_t end = nl == std::string::npos ? text.size() : nl;
    std::size_t len = end - start;
    if (len > 0 && text[end - 1] == '\r') --len;
    ++hist[len / bucket * bucket];
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  std::string out;
  for (auto [b, n] : hist) {
    std::uint64_t marks = (n + scale - 1) / scale;
    std::string bar(std::min<std::uint64_t>(marks, 100), '#');
    if (marks > 100) bar += '+';
    out += std::to_string(b) + "-" + std::to_string(b + bucket - 1) + "\t" + std::to_string(n) +
           "\t" + bar + "\n";
  }
  return out;
}

TEST(LineLengthJobTest, HistogramMatchesReference) {
  std::mt19937 rng(5);
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    text += std::string(rng() % 97, 'x');
    text += (i % 7 == 0) ? "\r\n" : "\n";
  }
  text += "no final newline";
  TempDir dir;
  auto f = dir.write("lines.txt", text);
  for (const char* j : {"1", "3"}) {
    auto r = run_mapreduce({"run", "--job", "linelength", "-j", j, "--chunk-size", "64", "--opt",
                            "bucket=7", "--opt", "scale=5", "--no-progress", f});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, expected(text, 7, 5)) << "-j " << j;
  }
}

TEST(LineLengthJobTest, CsvAndJsonRecords) {
  TempDir dir;
  // Lengths 3, 12, 5: buckets 0-9 (2 lines) and 10-19 (1 line).
  auto f = dir.write("lines.txt", "abc\nabcdefghijkl\nabcde\n");
  auto r = run_mapreduce({"run", "--job", "linelength", "--format", "csv", "--no-progress", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from,to,lines\n0,9,2\n10,19,1\n");
  r = run_mapreduce({"run", "--job", "linelength", "--format", "json", "--no-progress", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "[\n  {\"from\": 0, \"to\": 9, \"lines\": 2},\n  {\"from\": 10, \"to\": 19, "
            "\"lines\": 1}\n]\n");
}

TEST(LineLengthJobTest, BadOptionsAreUsageErrors) {
  TempDir dir;
  auto f = dir.write("a.txt", "abc\n");
  auto r = run_mapreduce({"run", "--job", "linelength", "--opt", "bucket=0", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bucket"), std::string::npos) << r.err;
  r = run_mapreduce({"run", "--job", "linelength", "--opt", "colour=red", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option 'colour'"), std::string::npos) << r.err;
}

}  // namespace
