// wordcount --normalize end to end: canonically equivalent spellings are one
// word under nfc, compatibility forms too under nfkc, and nothing changes
// without it (the documented default). Expected counts are written out from
// the Unicode data (UAX #15), not computed by the code under test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::RunResult;
using mr::testing::TempDir;

// "café" precomposed (U+00E9), decomposed (e + U+0301) and in capitals
// (U+00C9); "file" with the ligature U+FB01 and plain; "ab" in full-width
// letters (U+FF21 U+FF22) and plain; the Arabic ligature U+FDFB (a letter),
// whose NFKC form is two words, "جل جلاله", with a space between them.
const std::string kText =
    "caf\u00e9 cafe\u0301 CAF\u00c9 \ufb01le file \uff21\uff22 ab \ufdfb\n"
    "cafe\u0301 \ufb01le\n";

// The first `n` lines of `text`.
std::string head(const std::string& text, int n) {
  std::size_t end = 0;
  for (int i = 0; i < n; ++i) {
    std::size_t nl = text.find('\n', end);
    if (nl == std::string::npos) return text;
    end = nl + 1;
  }
  return text.substr(0, end);
}

std::string wordcount(std::vector<std::string> args) {
  args.insert(args.begin(), "wordcount");
  RunResult r = run_mapreduce(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(NormalizeTest, DefaultKeepsEverySpelling) {
  TempDir dir;
  std::string f = dir.write("text.txt", kText);
  std::string want =
      "cafe\u0301\t2\n"
      "caf\u00e9\t2\n"  // precomposed, lowercased from U+00C9 too
      "\ufb01le\t2\n"
      "ab\t1\n"
      "file\t1\n"
      "\ufdfb\t1\n"
      "\uff41\uff42\t1\n";  // full-width, lowercased
  EXPECT_EQ(wordcount({f}), want);
  EXPECT_EQ(wordcount({"--normalize", "none", f}), want);
}

TEST(NormalizeTest, NfcJoinsCanonicalEquivalents) {
  TempDir dir;
  std::string f = dir.write("text.txt", kText);
  EXPECT_EQ(wordcount({"--normalize", "nfc", "-j", "2", f}),
            "caf\u00e9\t4\n"
            "\ufb01le\t2\n"
            "ab\t1\n"
            "file\t1\n"
            "\ufdfb\t1\n"
            "\uff41\uff42\t1\n");
}

TEST(NormalizeTest, NfkcAlsoFoldsCompatibilityForms) {
  TempDir dir;
  std::string f = dir.write("text.txt", kText);
  EXPECT_EQ(wordcount({"--normalize", "nfkc", f}),
            "caf\u00e9\t4\n"
            "file\t3\n"
            "ab\t2\n"
            "\u062c\u0644\t1\n"
            "\u062c\u0644\u0627\u0644\u0647\t1\n");
}

// The same through the job option, with spawned workers (they make the job
// again from its recipe, options included), and the whitespace tokenizer.
TEST(NormalizeTest, JobOptionAndSpawnedWorkers) {
  TempDir dir;
  std::string f = dir.write("text.txt", kText);
  RunResult r = run_mapreduce({"run", "--job", "wordcount", "--opt", "normalize=nfc",
                               "--start-method", "spawn", "-j", "2", f});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(head(r.out, 1), "caf\u00e9\t4\n");
  EXPECT_EQ(
      head(wordcount({"--tokenizer", "whitespace", "--keep-case", "--normalize", "nfc", f}), 2),
      "caf\u00e9\t3\n\ufb01le\t2\n");
}

TEST(NormalizeTest, UnknownFormIsAUsageError) {
  TempDir dir;
  std::string f = dir.write("text.txt", kText);
  RunResult r = run_mapreduce({"wordcount", "--normalize", "nfd", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("'nfd'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nfkc"), std::string::npos) << r.err;
}

}  // namespace
