// The engine against a plain single-threaded reference count written
// independently here (its own UTF-8 decoder, utf8proc called per code point),
// over random texts, chunk sizes, worker and reducer counts; and the failure
// paths through MAPREDUCE_FAULT.
#include <gtest/gtest.h>
#include <unistd.h>
#include <utf8proc.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "mr/mapreduce/engine.h"
#include "wordcount.h"

namespace {

namespace fs = std::filesystem;

// ---- the reference -------------------------------------------------------

// Decodes one code point at s[i]; returns its length, 0 if s[i] does not start
// a valid sequence.
std::size_t decode(const std::string& s, std::size_t i, char32_t& cp) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  std::size_t n;
  char32_t min;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool is_cjk(char32_t c) {
  return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x3FFFF);
}

bool is_word_char(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
      return true;
    default:
      return false;
  }
}

void append_utf8(std::string& out, char32_t c) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  out.append(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
}

// Counts the words of one file by the rules of the unicode tokenizer.
void reference_count(const std::string& text, std::map<std::string, std::uint64_t>& counts) {
  // Code points, with invalid bytes as a separator marker (kInvalid).
  constexpr char32_t kInvalid = 0xFFFFFFFF;
  std::vector<char32_t> cps;
  for (std::size_t i = 0; i < text.size();) {
    char32_t cp;
    std::size_t n = decode(text, i, cp);
    cps.push_back(n ? cp : kInvalid);
    i += n ? n : 1;
  }
  auto plain_word = [&](std::size_t k) {
    return k < cps.size() && cps[k] != kInvalid && !is_cjk(cps[k]) && is_word_char(cps[k]);
  };
  std::string word;
  auto finish = [&] {
    if (!word.empty()) ++counts[word];
    word.clear();
  };
  for (std::size_t k = 0; k < cps.size(); ++k) {
    char32_t c = cps[k];
    if (c != kInvalid && is_cjk(c)) {
      finish();
      append_utf8(word, c);
      finish();
    } else if (plain_word(k)) {
      append_utf8(word, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    } else if ((c == U'\'' || c == U'\u2019') && k > 0 && plain_word(k - 1) && plain_word(k + 1) &&
               !word.empty()) {
      word += '\'';
    } else {
      finish();
    }
  }
  finish();
}

std::string expected_output(const std::map<std::string, std::uint64_t>& counts) {
  std::vector<std::pair<std::string, std::uint64_t>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::string out;
  for (const auto& [w, n] : v) out += w + "\t" + std::to_string(n) + "\n";
  return out;
}

// ---- random texts --------------------------------------------------------

std::string random_text(std::mt19937_64& rng, std::size_t size) {
  static const std::vector<std::string> pieces = {
      "the", "The", "THE", "cat", "don't", "don\u2019t", "rock'n'roll", "'tis", "dogs'", "naïve",
      "nai\u0308ve", "Привет", "МИР", "мир", "Σοφία", "ΣΟΦΊΑ", "Éclair", "éclair", "中文", "汉字很好",
      "\U00020000\U00020001", "abc中def", "٣٤٥", "42", "x1y2", "ü", "straße", "İstanbul",
      " ", " ", " ", "\n", "\r\n", "\t", ",", ".", "!", "\"", "-", "'", "\u2019", "\u00a0",
      "\x80", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xED\xA0\x80", "\xC0\xAF", "\0", "\x1b[1m",
      "😀", "a\u0301", "ǅ", "ﬁ"};
  std::string out;
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  while (out.size() < size) {
    out += pieces[pick(rng)];
    if (rng() % 3 == 0) out += ' ';
  }
  return out;
}

// ---- running the engine ---------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mr-engine-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

 private:
  std::string path_;
};

// The zstd-compressed form of `text`: the engine streams such files through
// its shared-memory slots instead of mapping them.
std::string compress(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 1));
  return out;
}

std::string run_wordcount(const std::vector<std::string>& files, const mr::EngineOptions& eo,
                          mr::JobStats* stats = nullptr, mr::WordCountOptions options = {}) {
  mr::WordCountJob job{options};
  auto inputs = mr::open_inputs(files, {});
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* out = ::open_memstream(&buf, &len);
  struct Closer {
    std::FILE* f;
    char** b;
    ~Closer() {
      if (f) std::fclose(f);
      std::free(*b);
    }
  } closer{out, &buf};
  auto s = mr::run_job(job, inputs, eo, out);
  if (stats) *stats = s;
  std::fflush(out);
  return std::string(buf, len);
}

TEST(EngineTest, MatchesReferenceOnRandomTextsAndShapes) {
  std::mt19937_64 rng(20261123);
  TempDir dir;
  for (int round = 0; round < 12; ++round) {
    std::vector<std::string> files;
    std::map<std::string, std::uint64_t> counts;
    int nfiles = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < nfiles; ++f) {
      std::string text = random_text(rng, 1000 + rng() % 150000);
      reference_count(text, counts);
      // Some inputs compressed: they go through the streaming path.
      bool zst = rng() % 2 == 0;
      files.push_back(dir.write("in" + std::to_string(f), zst ? compress(text) : text));
    }
    mr::EngineOptions eo;
    eo.workers = 1 + static_cast<unsigned>(rng() % 4);
    eo.reducers = 1 + static_cast<unsigned>(rng() % 5);
    eo.chunk_size = 1 + rng() % 40000;
    // Every third round the memory budget is far too small for the shuffle,
    // so map outputs and reduce outputs spill to zstd files.
    const bool spill = round % 3 == 2;
    eo.memory = spill ? 64 << 10 : 64 << 20;
    SCOPED_TRACE("round " + std::to_string(round) + ": workers " + std::to_string(eo.workers) +
                 ", reducers " + std::to_string(eo.reducers) + ", chunk " +
                 std::to_string(eo.chunk_size) + (spill ? ", spilling" : ""));
    mr::JobStats stats;
    EXPECT_EQ(run_wordcount(files, eo, &stats), expected_output(counts));
    if (spill) EXPECT_GT(stats.spills, 0u);
    else EXPECT_EQ(stats.spills, 0u);
  }
}

TEST(EngineTest, MoreWorkersThanChunksAndEmptyInput) {
  TempDir dir;
  auto empty = dir.write("empty", "");
  auto tiny = dir.write("tiny", "Hello hello HELLO world");
  mr::EngineOptions eo;
  eo.workers = 4;
  eo.memory = 16 << 20;
  EXPECT_EQ(run_wordcount({empty}, eo), "");
  EXPECT_EQ(run_wordcount({empty, tiny, empty}, eo), "hello\t3\nworld\t1\n");
}

TEST(EngineTest, WordsNeverContinueAcrossFiles) {
  TempDir dir;
  auto a = dir.write("a", "foo don");
  auto b = dir.write("b", "'t bar\xE2\x82");  // a truncated sequence at the end of b
  auto c = dir.write("c", "\xAC" "baz");        // and its tail at the start of c
  mr::EngineOptions eo;
  eo.workers = 2;
  eo.memory = 16 << 20;
  EXPECT_EQ(run_wordcount({a, b, c}, eo), "bar\t1\nbaz\t1\ndon\t1\nfoo\t1\nt\t1\n");
}

// A vocabulary big enough for the reducers' radix sort (thousands of words a
// partition; words of 1 to 24 letters, many sharing their first 8 or 16),
// with Zipf-like counts: through one worker (one run a partition, no merge
// table), two workers (runs merged) and a small memory budget (spilled runs
// merged), by count and by word, whole and with a top.
TEST(EngineTest, BigVocabularyComesOutInOrderWithAndWithoutMergeAndTop) {
  std::mt19937_64 rng(15);
  std::map<std::string, std::uint64_t> counts;
  const std::vector<std::string> stems = {"", "", "interna", "internationalisa"};
  while (counts.size() < 20000) {
    std::string w = stems[rng() % stems.size()];
    for (std::size_t len = 1 + rng() % 8; len > 0; --len) w += static_cast<char>('a' + rng() % 4);
    const unsigned r = static_cast<unsigned>(rng() % 100);
    counts[w] = r < 60 ? 1 : r < 85 ? 2 : r < 99 ? 3 + rng() % 20 : 100 + rng() % 1000;
  }
  std::vector<const std::string*> tokens;
  for (const auto& [w, n] : counts)
    for (std::uint64_t i = 0; i < n; ++i) tokens.push_back(&w);
  std::shuffle(tokens.begin(), tokens.end(), rng);
  std::string text;
  for (const auto* w : tokens) text += *w + (rng() % 10 ? " " : "\n");
  TempDir dir;
  const std::string file = dir.write("big", text);
  const std::string by_count = expected_output(counts);
  std::string by_word;
  for (const auto& [w, n] : counts) by_word += w + "\t" + std::to_string(n) + "\n";
  auto first_lines = [](const std::string& s, std::size_t n) {
    std::size_t at = 0;
    for (; n > 0 && at < s.size(); --n) at = s.find('\n', at) + 1;
    return s.substr(0, at);
  };
  struct Shape {
    unsigned workers;
    std::size_t memory;
  };
  for (const Shape shape : {Shape{1, 64 << 20}, Shape{2, 64 << 20}, Shape{2, 256 << 10}}) {
    for (const auto sort :
         {mr::WordCountOptions::SortOrder::kCount, mr::WordCountOptions::SortOrder::kWord}) {
      for (const std::uint64_t top : {0, 1000}) {
        mr::EngineOptions eo;
        eo.workers = shape.workers;
        eo.reducers = 3;
        eo.chunk_size = 64 << 10;
        eo.memory = shape.memory;
        mr::WordCountOptions wo;
        wo.sort = sort;
        wo.top = top;
        SCOPED_TRACE("workers " + std::to_string(shape.workers) + ", memory " +
                     std::to_string(shape.memory) + ", top " + std::to_string(top) +
                     (sort == mr::WordCountOptions::SortOrder::kWord ? ", by word" : ", by count"));
        const std::string& all =
            sort == mr::WordCountOptions::SortOrder::kWord ? by_word : by_count;
        mr::JobStats stats;
        EXPECT_EQ(run_wordcount({file}, eo, &stats, wo), top ? first_lines(all, top) : all);
        if (shape.memory < (1 << 20)) {
          EXPECT_GT(stats.spills, 0u);
        }
      }
    }
  }
}

class FaultTest : public ::testing::Test {
 protected:
  void TearDown() override { ::unsetenv("MAPREDUCE_FAULT"); }
  // A random text of `bytes` as a file (mapped) and zstd-compressed
  // (streamed), and its expected output.
  void write_inputs(std::uint64_t seed, std::size_t bytes) {
    std::mt19937_64 rng(seed);
    std::string text = random_text(rng, bytes);
    std::map<std::string, std::uint64_t> counts;
    reference_count(text, counts);
    expected_ = expected_output(counts);
    file_ = dir_.write("in", text);
    streamed_ = dir_.write("in.zst", compress(text));
  }
  TempDir dir_;
  std::string file_, streamed_, expected_;
};

TEST_F(FaultTest, KilledWorkersAreReplacedAndOutputIsExact) {
  write_inputs(7, 300000);
  mr::EngineOptions eo;
  eo.workers = 3;
  eo.chunk_size = 8192;
  eo.memory = 64 << 20;
  for (const auto& input : {file_, streamed_}) {
    for (const char* spec : {"kill:5:1", "segv:0:2", "throw:11:1", "kill:30:2"}) {
      SCOPED_TRACE(input + " " + spec);
      ::setenv("MAPREDUCE_FAULT", spec, 1);
      mr::JobStats stats;
      EXPECT_EQ(run_wordcount({input}, eo, &stats), expected_);
      EXPECT_GE(stats.workers_replaced, 1u);
      EXPECT_GE(stats.retries, 1u);
    }
  }
}

// Speculative execution: a stopped worker (SIGSTOP, it never resumes) is
// raced by a copy of what it owes, which wins. Mapped and streamed inputs
// (a stream chunk's copy reads the straggler's slot), with the shuffle in
// the arena or spilled (the winner's held spill files are committed, the
// loser's removed), and a copy that stops too: the output stays exact.
TEST_F(FaultTest, StoppedWorkersAreRacedByCopiesAndOutputIsExact) {
  write_inputs(11, 200000);
  mr::EngineOptions eo;
  eo.workers = 3;
  eo.chunk_size = 8192;
  struct Case {
    const std::string& input;
    std::size_t memory;
    const char* fault;
  };
  constexpr std::size_t kSpill = 64 << 10, kRoomy = 64 << 20;
  for (const Case& c :
       {Case{file_, kSpill, "stop@map:5:2"}, Case{file_, kRoomy, "stop@map:5:1"},
        Case{file_, kRoomy, "stop@reduce:2:1"}, Case{streamed_, kSpill, "stop@map:5:1"},
        Case{streamed_, kRoomy, "stop@map:5:2"}, Case{streamed_, kSpill, "stop@reduce:2:1"}}) {
    SCOPED_TRACE(c.input + " " + c.fault + " memory " + std::to_string(c.memory));
    ::setenv("MAPREDUCE_FAULT", c.fault, 1);
    eo.memory = c.memory;
    mr::JobStats stats;
    EXPECT_EQ(run_wordcount({c.input}, eo, &stats), expected_);
    EXPECT_GE(stats.speculative, 1u);
    EXPECT_EQ(stats.speculative_won, 1u);
    if (c.memory == kSpill) {
      EXPECT_GT(stats.spills, 0u);
    }
  }
}

TEST_F(FaultTest, ChunkThatAlwaysKillsFailsTheJobNamingFileAndRange) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "word" + std::to_string(i % 97) + " ";
  auto file = dir.write("poison.txt", text);
  mr::EngineOptions eo;
  eo.workers = 2;
  eo.chunk_size = 4096;
  eo.memory = 16 << 20;
  ::setenv("MAPREDUCE_FAULT", "kill:2", 1);
  try {
    run_wordcount({file}, eo);
    FAIL() << "the job should fail";
  } catch (const mr::JobError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("poison.txt"), std::string::npos) << what;
    EXPECT_NE(what.find("bytes "), std::string::npos) << what;
    EXPECT_NE(what.find("failed 3 times"), std::string::npos) << what;
    EXPECT_NE(what.find("SIGKILL"), std::string::npos) << what;
  }
}

TEST_F(FaultTest, ThrowingMapReportsTheMessage) {
  TempDir dir;
  auto file = dir.write("t.txt", std::string(20000, 'a') + " b");
  mr::EngineOptions eo;
  eo.workers = 1;
  eo.chunk_size = 4096;
  eo.memory = 16 << 20;
  ::setenv("MAPREDUCE_FAULT", "throw:0", 1);
  try {
    run_wordcount({file}, eo);
    FAIL() << "the job should fail";
  } catch (const mr::JobError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("injected fault"), std::string::npos) << what;
    EXPECT_NE(what.find("t.txt"), std::string::npos) << what;
  }
}

}  // namespace
