// invertedindex end to end: the index against one built here with a plain
// ASCII word splitter (the inputs hold only ASCII letters, digits and
// separators, where the job's tokenizer agrees with it).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;
using mr::testing::ascii_words;
using mr::testing::lines_of;

// The expected output for (path, contents) inputs.
std::string expected(const std::vector<std::pair<std::string, std::string>>& files) {
  std::map<std::string, std::set<std::pair<std::string, std::uint64_t>>> index;
  for (const auto& [path, text] : files) {
    std::uint64_t n = 0;
    for (const auto& line : lines_of(text)) {
      ++n;
      for (const auto& w : ascii_words(line)) index[w].insert({path, n});
    }
  }
  std::string out;
  for (const auto& [word, positions] : index) {
    out += word + "\t";
    bool first = true;
    for (const auto& [path, n] : positions) {
      if (!first) out += ',';
      first = false;
      out += path + ":" + std::to_string(n);
    }
    out += "\n";
  }
  return out;
}

std::string random_text(std::mt19937& rng, int lines, bool final_newline) {
  static const char* const kWords[] = {"alpha", "Beta",  "GAMMA",   "the",  "The", "delta",
                                       "x1",    "42",    "epsilon", "zeta", "eta", "Theta",
                                       "iota",  "kappa", "a",       "b"};
  static const char* const kSeparators[] = {" ", " ", ", ", ". ", "\t", "-", "  ", ";"};
  std::string text;
  for (int i = 0; i < lines; ++i) {
    int words = static_cast<int>(rng() % 9);  // some empty lines
    for (int w = 0; w < words; ++w) {
      if (w) text += kSeparators[rng() % 8];
      text += kWords[rng() % 16];
    }
    if (i + 1 < lines || final_newline) text += (i % 5 == 0) ? "\r\n" : "\n";
  }
  return text;
}

TEST(InvertedIndexJobTest, MatchesReferenceOverSeveralFilesAndChunkings) {
  std::mt19937 rng(11);
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> files;
  // Named out of order on the command line: positions must come out sorted.
  for (const char* name : {"c.txt", "a.txt", "b.txt", "a.txt.2"}) {
    std::string text = random_text(rng, 150, std::string(name) != "b.txt");
    files.emplace_back(dir.write(name, text), text);
  }
  std::vector<std::string> args = {"run",          "--job", "invertedindex",
                                   "--chunk-size", "64",    "--no-progress"};
  for (const auto& f : files) args.push_back(f.first);
  const std::string want = expected(files);
  ASSERT_NE(want.find("the\t"), std::string::npos);
  for (const char* j : {"1", "3"}) {
    auto a = args;
    a.insert(a.begin() + 3, {"-j", j});
    auto r = run_mapreduce(a);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want) << "-j " << j;
  }
}

// Long position lists grown in place by the combiner (combine_into) weigh
// on the memory budget, so a small --memory makes the map tables flush
// several times; the lists of one word then arrive at the reducer in
// pieces, and the output must not change.
TEST(InvertedIndexJobTest, LargeInputUnderASmallMemoryBudget) {
  std::mt19937 rng(5);
  TempDir dir;
  std::vector<std::pair<std::string, std::string>> files;
  for (const char* name : {"big.txt", "small.txt"}) {
    std::string text = random_text(rng, std::string(name) == "big.txt" ? 40000 : 300, true);
    files.emplace_back(dir.write(name, text), text);
  }
  const std::string want = expected(files);
  auto r = run_mapreduce({"run", "--job", "invertedindex", "-j", "2", "--memory", "2M",
                          "--chunk-size", "16K", "--no-progress", files[0].first, files[1].first});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want);
}

TEST(InvertedIndexJobTest, LowercasesAndListsALineOnce) {
  TempDir dir;
  auto a = dir.write("a.txt", "The the THE cat\r\n\nthe end");
  auto b = dir.write("b.txt", "a dog\n");
  auto r = run_mapreduce({"run", "--job", "invertedindex", "-j", "2", "--no-progress", b, a});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a\t" + b + ":1\n" + "cat\t" + a + ":1\n" + "dog\t" + b + ":1\n" + "end\t" + a +
                       ":3\n" + "the\t" + a + ":1," + a + ":3\n");
}

TEST(InvertedIndexJobTest, RefusesUnknownOptions) {
  TempDir dir;
  auto f = dir.write("a.txt", "abc\n");
  auto r = run_mapreduce({"run", "--job", "invertedindex", "--opt", "case=keep", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option 'case'"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace
