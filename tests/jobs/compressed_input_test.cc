// Compressed inputs end to end: files made by the real gzip, xz, bzip2, lz4,
// zstd and tar programs are counted exactly as their plain contents are, and
// broken ones are input errors (exit 2) naming the file and the format.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::RunResult;
using mr::testing::TempDir;

// Lines of words from a small vocabulary (ASCII, Cyrillic, CJK), some lines
// long, so that a 4K chunk size cuts the stream many times.
std::string make_text(unsigned seed, std::size_t bytes) {
  static const char* const kWords[] = {"alpha", "beta",  "gamma", "don't", "Delta",
                                       "мир",   "слово", "中",    "文",    "x1"};
  std::mt19937 rng(seed);
  std::string text;
  while (text.size() < bytes) {
    text += kWords[rng() % 10];
    text += (rng() % 9 == 0) ? "\n" : " ";
  }
  return text + "\n";
}

// Runs `command` with sh; the test fails when it does.
void sh(const std::string& command) {
  int status = std::system(command.c_str());
  ASSERT_EQ(status, 0) << command;
}

struct Format {
  const char* name;     // as the error message says it
  const char* command;  // compresses stdin to stdout
};
const Format kFormats[] = {{"gzip", "gzip -c"},
                           {"xz", "xz -c"},
                           {"bzip2", "bzip2 -c"},
                           {"lz4", "lz4 -q -c"},
                           {"zstd", "zstd -q -c"}};

// Compresses `plain` into `to` with `format`.
void compress(const Format& format, const std::string& plain, const std::string& to) {
  sh(std::string(format.command) + " < '" + plain + "' > '" + to + "'");
}

RunResult wordcount(std::vector<std::string> args) {
  args.insert(args.begin(), "wordcount");
  return run_mapreduce(args);
}

// The output of a run that must succeed.
std::string counts(std::vector<std::string> args) {
  RunResult r = wordcount(std::move(args));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  return r.out;
}

TEST(CompressedInputTest, EachFormatCountsAsItsPlainContents) {
  TempDir dir;
  std::string plain = dir.write("plain.txt", make_text(1, 200'000));
  std::string want = counts({plain});
  ASSERT_NE(want.find("alpha\t"), std::string::npos);
  for (const Format& f : kFormats) {
    SCOPED_TRACE(f.name);
    // Recognized by its bytes, whatever the name says.
    std::string packed = dir.path() + "/packed-" + f.name + ".txt";
    compress(f, plain, packed);
    EXPECT_EQ(counts({"-j", "2", "--chunk-size", "4K", packed}), want);
    EXPECT_EQ(counts({"-j", "1", packed}), want);
  }
}

TEST(CompressedInputTest, ConcatenatedMembersAreOneInput) {
  TempDir dir;
  std::string a = dir.write("a.txt", make_text(2, 50'000));
  std::string b = dir.write("b.txt", make_text(3, 70'000));
  std::string both = dir.write("both.txt", make_text(2, 50'000) + make_text(3, 70'000));
  std::string want = counts({both});
  for (const char* tool : {"gzip -c", "zstd -q -c", "xz -c", "bzip2 -c"}) {
    SCOPED_TRACE(tool);
    std::string joined = dir.path() + "/joined";
    sh(std::string("(") + tool + " < '" + a + "'; " + tool + " < '" + b + "') > '" + joined + "'");
    EXPECT_EQ(counts({"--chunk-size", "4K", joined}), want);
  }
}

TEST(CompressedInputTest, TruncatedOrCorruptDataIsAnInputError) {
  TempDir dir;
  std::string plain = dir.write("plain.txt", make_text(4, 300'000));
  for (const Format& f : kFormats) {
    SCOPED_TRACE(f.name);
    std::string packed = dir.path() + "/whole";
    compress(f, plain, packed);
    std::string cut = dir.path() + "/cut." + f.name;
    sh("head -c $(( $(stat -c %s '" + packed + "') / 2 )) '" + packed + "' > '" + cut + "'");
    // Flip 64 bytes in the middle (past any header).
    std::string bad = dir.path() + "/bad." + f.name;
    sh("cp '" + packed + "' '" + bad + "' && head -c 64 /dev/zero | tr '\\0' '\\377' | dd of='" +
       bad + "' bs=1 seek=$(( $(stat -c %s '" + packed + "') / 2 )) conv=notrunc status=none");
    for (const std::string& broken : {cut, bad}) {
      SCOPED_TRACE(broken);
      RunResult r = wordcount({"-j", "2", broken});
      EXPECT_EQ(r.exit_code, 2) << r.err;
      EXPECT_EQ(r.out, "");
      EXPECT_EQ(r.err.rfind("mapreduce: ", 0), 0u) << r.err;
      EXPECT_NE(r.err.find("'" + broken + "'"), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(f.name), std::string::npos) << r.err;
    }
  }
}

// A gzip member's CRC-32 and length are checked (libarchive's gzip filter
// checks neither), and bytes after the last member are not ignored.
TEST(CompressedInputTest, GzipTrailerAndTrailingBytesAreChecked) {
  TempDir dir;
  std::string plain = dir.write("plain.txt", make_text(9, 100'000));
  std::string packed = dir.path() + "/packed.gz";
  compress(kFormats[0], plain, packed);
  std::string bad_crc = dir.path() + "/bad-crc.gz";  // the trailer: CRC-32, then length
  sh("cp '" + packed + "' '" + bad_crc + "' && printf '\\000\\000\\000\\000' | dd of='" + bad_crc +
     "' bs=1 seek=$(( $(stat -c %s '" + packed + "') - 8 )) conv=notrunc status=none");
  std::string trailing = dir.path() + "/trailing.gz";
  sh("(cat '" + packed + "'; echo garbage) > '" + trailing + "'");
  for (const std::string& broken : {bad_crc, trailing}) {
    SCOPED_TRACE(broken);
    RunResult r = wordcount({broken});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("'" + broken + "' (gzip)"), std::string::npos) << r.err;
  }
}

TEST(CompressedInputTest, EmptyCompressedFileHasNoWords) {
  TempDir dir;
  std::string empty = dir.write("empty.txt", "");
  for (const Format& f : kFormats) {
    SCOPED_TRACE(f.name);
    std::string packed = dir.path() + "/empty." + f.name;
    compress(f, empty, packed);
    EXPECT_EQ(counts({packed}), "");
  }
}

// A compressed tar archive is read member by member: a member that does not
// end in a line break does not run into the next one, exactly as the two
// files counted side by side.
TEST(CompressedInputTest, CompressedTarMembersAreSeparateFiles) {
  TempDir dir;
  std::string a = dir.write("a.txt", make_text(5, 30'000) + "tail");  // no final line break
  std::string b = dir.write("b.txt", "end of it\n" + make_text(6, 20'000));
  std::string want = counts({a, b});
  ASSERT_NE(want.find("tail\t1\n"), std::string::npos);
  ASSERT_EQ(want.find("tailend"), std::string::npos);
  for (const char* flag : {"z", "J"}) {
    SCOPED_TRACE(flag);
    std::string archive = dir.path() + "/both.tar." + flag;
    sh(std::string("tar -C '") + dir.path() + "' -c" + flag + "f '" + archive + "' a.txt b.txt");
    EXPECT_EQ(counts({"--chunk-size", "4K", archive}), want);
  }
}

TEST(CompressedInputTest, CompressedStandardInput) {
  TempDir dir;
  std::string plain = dir.write("plain.txt", make_text(7, 100'000));
  std::string want = counts({plain});
  std::string packed = dir.path() + "/packed.gz";
  compress(kFormats[0], plain, packed);
  RunResult r = run_mapreduce({"wordcount", "-j", "2", "--chunk-size", "4K", "-"},
                              std::chrono::seconds(60), packed);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, want);

  // A truncated stream on standard input names '-'.
  std::string cut = dir.path() + "/cut.gz";
  sh("head -c 2000 '" + packed + "' > '" + cut + "'");
  r = run_mapreduce({"wordcount", "-"}, std::chrono::seconds(60), cut);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'-'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gzip"), std::string::npos) << r.err;
}

// Plugin jobs read compressed inputs through the same engine.
TEST(CompressedInputTest, PluginJobsReadCompressedInput) {
  TempDir dir;
  std::string plain = dir.write("plain.txt", make_text(8, 40'000));
  std::string packed = dir.path() + "/packed.txt";
  compress(kFormats[1], plain, packed);
  RunResult want = run_mapreduce({"run", "--job", "linelength", plain});
  ASSERT_EQ(want.exit_code, 0) << want.err;
  RunResult got = run_mapreduce({"run", "--job", "linelength", "--chunk-size", "4K", packed});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, want.out);
}

}  // namespace
