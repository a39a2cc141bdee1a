// bigrams end to end: counts of adjacent word pairs within a line against
// ones computed here with a plain ASCII word splitter (the inputs hold only
// ASCII letters, digits and separators, where the job's tokenizer agrees).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;
using mr::testing::ascii_words;
using mr::testing::lines_of;

// Expected output lines: by count descending, then pair; the first `top`
// (0: all).
std::string expected(const std::vector<std::string>& texts, std::size_t top = 0) {
  std::map<std::string, std::uint64_t> counts;
  for (const auto& text : texts)
    for (const auto& line : lines_of(text)) {
      auto words = ascii_words(line);
      for (std::size_t i = 1; i < words.size(); ++i) ++counts[words[i - 1] + " " + words[i]];
    }
  std::vector<std::pair<std::string, std::uint64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (top && sorted.size() > top) sorted.resize(top);
  std::string out;
  for (const auto& [pair, n] : sorted) out += pair + "\t" + std::to_string(n) + "\n";
  return out;
}

std::string random_text(std::mt19937& rng, int lines, bool final_newline) {
  static const char* const kWords[] = {"the", "The", "THE", "cat", "dog", "sat", "on",  "mat",
                                       "a",   "b",   "ab",  "a1",  "x",   "7",   "Zed", "zed"};
  static const char* const kSeparators[] = {" ", " ", ", ", ". ", "\t", "-", "  ", ";"};
  std::string text;
  for (int i = 0; i < lines; ++i) {
    int words = static_cast<int>(rng() % 8);
    for (int w = 0; w < words; ++w) {
      if (w) text += kSeparators[rng() % 8];
      text += kWords[rng() % 16];
    }
    if (i + 1 < lines || final_newline) text += (i % 4 == 0) ? "\r\n" : "\n";
  }
  return text;
}

TEST(BigramsJobTest, MatchesReferenceOverSeveralFilesAndChunkings) {
  std::mt19937 rng(23);
  TempDir dir;
  std::vector<std::string> texts,
      args = {"run", "--job", "bigrams", "--chunk-size", "64", "--no-progress"};
  for (const char* name : {"one.txt", "two.txt", "three.txt"}) {
    texts.push_back(random_text(rng, 200, std::string(name) != "two.txt"));
    args.push_back(dir.write(name, texts.back()));
  }
  const std::string want = expected(texts), want_top = expected(texts, 5);
  ASSERT_GT(std::count(want.begin(), want.end(), '\n'), 100);
  for (const char* j : {"1", "3"}) {
    auto a = args;
    a.insert(a.begin() + 3, {"-j", j});
    auto r = run_mapreduce(a);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want) << "-j " << j;
    a.insert(a.begin() + 3, {"--top", "5"});
    r = run_mapreduce(a);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want_top) << "-j " << j << " --top 5";
  }
}

TEST(BigramsJobTest, PairsStayWithinALineAndIgnoreCase) {
  TempDir dir;
  // Pairs across the line break would make "cat the" 2 (it is 1, within the
  // second line); "end a" would cross from one file to the next.
  auto a = dir.write("a.txt", "The the cat\r\nthe CAT. the end");
  auto b = dir.write("b.txt", "a b\n");
  auto r = run_mapreduce({"run", "--job", "bigrams", "-j", "2", "--no-progress", a, b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "the cat\t2\na b\t1\ncat the\t1\nthe end\t1\nthe the\t1\n");
}

TEST(BigramsJobTest, RefusesUnknownOptions) {
  TempDir dir;
  auto f = dir.write("a.txt", "a b\n");
  auto r = run_mapreduce({"run", "--job", "bigrams", "--opt", "n=3", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option 'n'"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace
