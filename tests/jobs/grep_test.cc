// grep end to end: matching lines and per-file counts against ones computed
// here with plain string tests equivalent to the (simple) patterns used. No
// <regex> in the test: the reference must not share the job's matcher.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::lines_of;
using mr::testing::run_mapreduce;
using mr::testing::RunResult;
using mr::testing::TempDir;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

using Files = std::map<std::string, std::string>;  // path -> contents, sorted by path

// Expected output: matching lines by file then line, then a count line per
// non-empty file.
std::string expected(const Files& files, const std::function<bool(const std::string&)>& match) {
  std::string out, counts;
  for (const auto& [path, text] : files) {
    if (text.empty()) continue;
    std::uint64_t n = 0, matches = 0;
    for (const auto& line : lines_of(text)) {
      ++n;
      if (!match(line)) continue;
      ++matches;
      out += path + ":" + std::to_string(n) + ":" + line + "\n";
    }
    counts += path + "\t" + std::to_string(matches) + " matches\n";
  }
  return out + counts;
}

std::string random_text(std::mt19937& rng, int lines, bool final_newline) {
  static const char* const kWords[] = {"cat", "Cat", "CAT",     "dog", "concat", "ca", "t",  "12",
                                       "7",   "x",   "scatter", "the", "a.b",    "(",  "ok", "cAt"};
  std::string text;
  for (int i = 0; i < lines; ++i) {
    int words = static_cast<int>(rng() % 6);
    for (int w = 0; w < words; ++w) {
      if (w) text += (rng() % 4) ? " " : "\t";
      text += kWords[rng() % 16];
    }
    if (i + 1 < lines || final_newline) text += (i % 3 == 0) ? "\r\n" : "\n";
  }
  return text;
}

class GrepJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(42);
    // Named out of order on the command line; one without a final newline.
    for (const char* name : {"b.txt", "a.txt", "c.log"}) {
      std::string text = random_text(rng, 120, std::string(name) != "a.txt");
      files_[dir_.write(name, text)] = text;
    }
  }
  // Runs grep over the files with -j 1 and -j 3 and 64-byte chunks; expects
  // both outputs to equal `want`.
  void expect_grep(const std::vector<std::string>& opts, const std::string& want) {
    for (const char* j : {"1", "3"}) {
      std::vector<std::string> args = {"run", "--job",        "grep", "-j",
                                       j,     "--chunk-size", "64",   "--no-progress"};
      for (const auto& o : opts) args.insert(args.end(), {"--opt", o});
      for (const auto& [path, text] : files_) args.push_back(path);
      std::reverse(args.end() - static_cast<long>(files_.size()), args.end());
      RunResult r = run_mapreduce(args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, want) << "-j " << j;
    }
  }

  TempDir dir_;
  Files files_;
};

TEST_F(GrepJobTest, SubstringMatchesReference) {
  auto match = [](const std::string& l) { return l.find("cat") != std::string::npos; };
  const std::string want = expected(files_, match);
  ASSERT_GT(std::count(want.begin(), want.end(), '\n'), 40);
  expect_grep({"pattern=cat"}, want);
}

TEST_F(GrepJobTest, IgnoreCase) {
  auto match = [](const std::string& l) { return lower(l).find("cat") != std::string::npos; };
  expect_grep({"pattern=CaT", "ignore_case=true"}, expected(files_, match));
}

TEST_F(GrepJobTest, AnchorsSeeLinesWithoutCarriageReturn) {
  // ^ and $ are the line's ends: a CRLF line ending in "t" matches "t$".
  auto match = [](const std::string& l) {
    std::size_t digits = 0;
    while (digits < l.size() && std::isdigit(static_cast<unsigned char>(l[digits]))) ++digits;
    return (digits > 0 && digits < l.size() && l[digits] == ' ') || (!l.empty() && l.back() == 't');
  };
  const std::string want = expected(files_, match);
  ASSERT_GT(std::count(want.begin(), want.end(), '\n'), 20);
  expect_grep({"pattern=^[0-9]+ |t$"}, want);
}

TEST_F(GrepJobTest, NoMatchGivesZeroCounts) {
  std::string want;
  for (const auto& [path, text] : files_) want += path + "\t0 matches\n";
  expect_grep({"pattern=zebra"}, want);
}

TEST(GrepJobSmallTest, HandWrittenExampleAndEmptyFile) {
  TempDir dir;
  auto a = dir.write("a.txt", "foo\r\nbar\nboo");
  auto b = dir.write("b.txt", "xyz\n");
  auto e = dir.write("empty.txt", "");
  auto r = run_mapreduce({"run", "--job", "grep", "--opt", "pattern=o+", "--no-progress", e, b, a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The empty file is never mapped, so it has no count line (documented).
  EXPECT_EQ(r.out, a + ":1:foo\n" + a + ":3:boo\n" + a + "\t2 matches\n" + b + "\t0 matches\n");
}

// --format csv and json give named fields (the job's record hook), not
// the internal key/value pairs.
TEST(GrepJobSmallTest, CsvAndJsonRecordsHaveNamedFields) {
  TempDir dir;
  auto a = dir.write("a.txt", "foo, \"x\"\nbar\nboo\n");
  auto b = dir.write("b.txt", "xyz\n");
  auto r = run_mapreduce(
      {"run", "--job", "grep", "--opt", "pattern=o+", "--format", "csv", "--no-progress", a, b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "file,line,text,matches\n" + a + ",1,\"foo, \"\"x\"\"\",\n" + a + ",3,boo,\n" +
                       a + ",,,2\n" + b + ",,,0\n");
  r = run_mapreduce(
      {"run", "--job", "grep", "--opt", "pattern=o+", "--format", "json", "--no-progress", a, b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[\n  {\"file\": \"" + a + "\", \"line\": 1, \"text\": \"foo, \\\"x\\\"\"},\n" +
                       "  {\"file\": \"" + a + "\", \"line\": 3, \"text\": \"boo\"},\n" +
                       "  {\"file\": \"" + a + "\", \"matches\": 2},\n" + "  {\"file\": \"" + b +
                       "\", \"matches\": 0}\n]\n");
}

TEST(GrepJobSmallTest, BadPatternsAreUsageErrors) {
  TempDir dir;
  auto f = dir.write("a.txt", "abc\n");
  for (const char* bad : {"pattern=a(", "pattern=[z-a]", "pattern=*x"}) {
    auto r = run_mapreduce({"run", "--job", "grep", "--opt", bad, f});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("invalid regular expression"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  auto r = run_mapreduce({"run", "--job", "grep", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("option 'pattern' is required"), std::string::npos) << r.err;
  r = run_mapreduce(
      {"run", "--job", "grep", "--opt", "pattern=a", "--opt", "ignore_case=maybe", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("ignore_case"), std::string::npos) << r.err;
  r = run_mapreduce({"run", "--job", "grep", "--opt", "pattern=a", "--opt", "invert=true", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option 'invert'"), std::string::npos) << r.err;
}

TEST(GrepJobSmallTest, HelpListsTheOptions) {
  auto r = run_mapreduce({"run", "--job", "grep", "--help"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("pattern"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ignore_case (default false)"), std::string::npos) << r.out;
}

}  // namespace
