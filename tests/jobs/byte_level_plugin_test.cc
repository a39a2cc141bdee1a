// A plugin may be a byte-level mr::Job (the API's fast path, what the
// built-in wordcount is): the test plugin fast_words is wordcount's own class
// loaded through MR_PLUGIN, so `mapreduce run --job <it>` must print exactly
// what `mapreduce wordcount` prints, with its options passed as --opt, and
// with workers however started.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;

std::string sample_text() {
  std::string text;
  const char* words[] = {"Alpha", "beta", "GAMMA", "don't", "café", "数据", "beta", "x1"};
  for (int i = 0; i < 4000; ++i) {
    text += words[(i * 7 + i / 5) % 8];
    text += (i % 11 == 0) ? "\n" : " ";
  }
  return text;
}

TEST(ByteLevelPluginTest, PrintsWhatTheBuiltInWordcountPrints) {
  TempDir dir;
  const std::string f = dir.write("a.txt", sample_text());
  struct Case {
    std::vector<std::string> builtin, plugin;
  };
  const std::vector<Case> cases = {
      {{}, {}},
      {{"--sort", "word"}, {"--opt", "sort=word"}},
      {{"--keep-case", "--tokenizer", "whitespace"},
       {"--opt", "keep_case=1", "--opt", "tokenizer=whitespace"}},
  };
  for (const auto& c : cases) {
    std::vector<std::string> a = {"wordcount", "-j", "2", "--chunk-size", "1K", "--no-progress"};
    a.insert(a.end(), c.builtin.begin(), c.builtin.end());
    a.push_back(f);
    auto want = run_mapreduce(a);
    ASSERT_EQ(want.exit_code, 0) << want.err;
    ASSERT_FALSE(want.out.empty());
    for (const char* method : {"fork", "spawn"}) {
      std::vector<std::string> b = {"run",  "--job",          TEST_PLUGIN, "-j",
                                    "2",    "--chunk-size",   "1K",        "--no-progress",
                                    "--start-method", method};
      b.insert(b.end(), c.plugin.begin(), c.plugin.end());
      b.push_back(f);
      auto got = run_mapreduce(b);
      ASSERT_EQ(got.exit_code, 0) << got.err;
      EXPECT_EQ(got.out, want.out) << method;
    }
  }
  auto bad = run_mapreduce({"run", "--job", TEST_PLUGIN, "--opt", "sort=size", f});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("invalid --sort 'size'"), std::string::npos) << bad.err;
}

}  // namespace
