// charfreq end to end: character counts, escapes, names and invalid bytes
// against a reference decoded here (independently of mr/job_api/utf8.h).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;

constexpr std::uint32_t kInvalid = 0x110000;

// Decodes `text` the slow, obvious way: read the length the lead byte
// announces, check the continuation bytes, compute the value, then reject
// overlong forms, surrogates and values above U+10FFFF. A byte that does not
// start a valid sequence counts as kInvalid + byte.
std::map<std::uint32_t, std::uint64_t> reference_counts(const std::string& text) {
  std::map<std::uint32_t, std::uint64_t> counts;
  std::size_t i = 0;
  while (i < text.size()) {
    unsigned b = static_cast<unsigned char>(text[i]);
    std::size_t len = b < 0x80         ? 1
                      : (b >> 5) == 6  ? 2
                      : (b >> 4) == 14 ? 3
                      : (b >> 3) == 30 ? 4
                                       : 0;
    std::uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      unsigned c = static_cast<unsigned char>(text[i + k]);
      ok = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    static const std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok) ok = cp >= kMin[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    if (ok) {
      ++counts[cp];
      i += len;
    } else {
      ++counts[kInvalid + b];
      ++i;
    }
  }
  return counts;
}

std::string shown(std::uint32_t cp) {
  char buf[16];
  if (cp == 9) return "\\t";
  if (cp == 10) return "\\n";
  if (cp == 13) return "\\r";
  if (cp < 32 || cp == 127) {
    std::snprintf(buf, sizeof buf, "\\x%02X", cp);
    return buf;
  }
  if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
    std::snprintf(buf, sizeof buf, "\\u%04X", cp);
    return buf;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// The expected output, by count descending then key; `name` gives the name
// column of a code point.
template <class NameFn>
std::string expected_output(const std::map<std::uint32_t, std::uint64_t>& counts, NameFn name) {
  std::vector<std::pair<std::uint32_t, std::uint64_t>> rows(counts.begin(), counts.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  char buf[32];
  for (auto [key, n] : rows) {
    if (key >= kInvalid) {
      unsigned byte = key - kInvalid;
      std::snprintf(buf, sizeof buf, "0x%02X\t\\x%02X\t", byte, byte);
      out += buf + std::to_string(n) + "\t<invalid UTF-8 byte>\n";
    } else {
      std::snprintf(buf, sizeof buf, "U+%04X\t", key);
      out += buf + shown(key) + "\t" + std::to_string(n) + "\t" + name(key) + "\n";
    }
  }
  return out;
}

// Built-in names (--opt names=none) of the characters the random text uses;
// anything else has no built-in name.
std::string builtin_name(std::uint32_t cp) {
  if (cp >= 'a' && cp <= 'z') return std::string("LATIN SMALL LETTER ") + char(cp - 'a' + 'A');
  if (cp >= 'A' && cp <= 'Z') return std::string("LATIN CAPITAL LETTER ") + char(cp);
  static const std::map<std::uint32_t, std::string> kNames = {
      {0x09, "CHARACTER TABULATION"},
      {0x0A, "LINE FEED (LF)"},
      {0x0D, "CARRIAGE RETURN (CR)"},
      {0x1B, "ESCAPE"},
      {0x20, "SPACE"},
      {0x2E, "FULL STOP"},
      {0x7F, "DELETE"},
      {0x85, "NEXT LINE (NEL)"},
      {0xE9, "LATIN SMALL LETTER E WITH ACUTE"},
      {0xFF, "LATIN SMALL LETTER Y WITH DIAERESIS"},
      {0x4E2D, "CJK UNIFIED IDEOGRAPH-4E2D"},
      {0x2A6D6, "CJK UNIFIED IDEOGRAPH-2A6D6"},
      {0xAC00, "HANGUL SYLLABLE GA"},
      {0xD55C, "HANGUL SYLLABLE HAN"},
      {0xD7A3, "HANGUL SYLLABLE HIH"},
  };
  auto it = kNames.find(cp);
  return it == kNames.end() ? "" : it->second;
}

std::string random_text(unsigned seed, int pieces) {
  // Valid characters of every length, characters that must be escaped, and
  // invalid sequences of each kind.
  static const std::vector<std::string> kPieces = {
      "a",
      "b",
      "e",
      "z",
      "Q",
      " ",
      " ",
      ".",
      "\n",
      "\r\n",
      "\t",
      "\x1b",
      "\x7f",
      "\xc3\xa9",          // é
      "\xc3\xbf",          // ÿ
      "\xc2\x85",          // NEXT LINE (NEL), a C1 control
      "\xd0\x96",          // Ж: no built-in name
      "\xe4\xb8\xad",      // 中
      "\xea\xb0\x80",      // 가, first Hangul syllable
      "\xed\x95\x9c",      // 한
      "\xed\x9e\xa3",      // 힣, last Hangul syllable
      "\xe2\x80\xa8",      // LINE SEPARATOR
      "\xf0\x9f\x98\x80",  // U+1F600
      "\xf0\xaa\x9b\x96",  // U+2A6D6, end of CJK extension B
      "\xff",              // never valid
      "\x80",              // stray continuation byte
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong '/'
      "\xed\xa0\x80",      // surrogate U+D800
      "\xf4\x90\x80\x80",  // U+110000
      "\xe2\x82",          // truncated (becomes U+20AC when a stray 0x80 follows)
  };
  std::mt19937 rng(seed);
  std::string text;
  for (int i = 0; i < pieces; ++i) text += kPieces[rng() % kPieces.size()];
  return text;
}

TEST(CharFreqJobTest, CountsMatchReferenceAtAnyChunking) {
  TempDir dir;
  // a.txt ends with a newline, so counting the concatenation below is
  // counting the two files: b.txt's first bytes cannot complete a's last ones.
  std::string a = random_text(7, 4000) + "\n", b = random_text(8, 1500) + "\xe2\x82";
  auto fa = dir.write("a.txt", a);
  auto fb = dir.write("b.txt", b);  // ends with a truncated sequence
  std::string want = expected_output(reference_counts(a + b), builtin_name);
  ASSERT_NE(want.find("<invalid UTF-8 byte>"), std::string::npos);
  ASSERT_NE(want.find("U+D55C\t한\t"), std::string::npos);
  for (const char* j : {"1", "3"}) {
    for (const char* chunk : {"64", "1000000"}) {
      auto r = run_mapreduce({"run", "--job", "charfreq", "-j", j, "--chunk-size", chunk, "--opt",
                              "names=none", "--no-progress", fa, fb});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, want) << "-j " << j << " --chunk-size " << chunk;
    }
  }
}

TEST(CharFreqJobTest, InvalidBytesAreCountedUnderTheirValue) {
  TempDir dir;
  // 0xE2 0x82 then 'x': both bytes invalid, 'x' still counted.
  auto f = dir.write("bad.txt", std::string("\xe2\x82x\xff\xff\xc0\xaf", 7));
  auto r = run_mapreduce(
      {"run", "--job", "charfreq", "--opt", "names=none", "--no-progress", "--stats", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "0xFF\t\\xFF\t2\t<invalid UTF-8 byte>\n"
            "U+0078\tx\t1\tLATIN SMALL LETTER X\n"
            "0x82\t\\x82\t1\t<invalid UTF-8 byte>\n"
            "0xAF\t\\xAF\t1\t<invalid UTF-8 byte>\n"
            "0xC0\t\\xC0\t1\t<invalid UTF-8 byte>\n"
            "0xE2\t\\xE2\t1\t<invalid UTF-8 byte>\n");
  EXPECT_NE(r.err.find("\n  counter invalid bytes: 6\n"), std::string::npos) << r.err;
}

TEST(CharFreqJobTest, NamesComeFromTheGivenUnicodeDataFile) {
  TempDir dir;
  auto names = dir.write("UnicodeData.txt",
                         "000A;<control>;Cc;0;B;;;;;N;LINE FEED (LF);;;;\n"
                         "0061;TEST NAME FOR A;Ll;0;L;;;;;N;;;;0041;\n"
                         "# not an entry\n"
                         "zzzz;BAD CODE POINT;;\n"
                         "0416;CYRILLIC CAPITAL LETTER ZHE;Lu;0;L;;;;;N;;;;;0436\n"
                         "AC00;<Hangul Syllable, First>;Lo;0;L;;;;;N;;;;;\n"
                         "D7A3;<Hangul Syllable, Last>;Lo;0;L;;;;;N;;;;;\n"
                         "4E00;<CJK Ideograph, First>;Lo;0;L;;;;;N;;;;;\n"
                         "9FFF;<CJK Ideograph, Last>;Lo;0;L;;;;;N;;;;;\n"
                         "E000;<Private Use, First>;Co;0;L;;;;;N;;;;;\n"
                         "F8FF;<Private Use, Last>;Co;0;L;;;;;N;;;;;\n");
  // 'b' is not in the file: a file replaces the built-in names.
  auto f = dir.write("in.txt", "aaab\n\xd0\x96\xed\x95\x9c\xe4\xb8\xad\xee\x80\x80");
  auto r = run_mapreduce(
      {"run", "--job", "charfreq", "-j", "2", "--opt", "names=" + names, "--no-progress", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "U+0061\ta\t3\tTEST NAME FOR A\n"
            "U+000A\t\\n\t1\tLINE FEED (LF)\n"
            "U+0062\tb\t1\t\n"
            "U+0416\tЖ\t1\tCYRILLIC CAPITAL LETTER ZHE\n"
            "U+4E2D\t中\t1\tCJK UNIFIED IDEOGRAPH-4E2D\n"
            "U+D55C\t한\t1\tHANGUL SYLLABLE HAN\n"
            "U+E000\t\xee\x80\x80\t1\t\n");
}

// Without --opt names, names come from the system's UnicodeData.txt (Debian
// package unicode-data, which scripts/install-deps installs) when there is
// one, else from the built-in table only: the test expects whichever
// applies, the name read from that file here.
TEST(CharFreqJobTest, DefaultNamesComeFromTheInstalledFileIfAny) {
  TempDir dir;
  auto f = dir.write("in.txt", "\xe2\x82\xac\xe2\x82\xac a\n");  // U+20AC twice
  auto r = run_mapreduce({"run", "--job", "charfreq", "--no-progress", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The files charfreq searches, in its order (jobs/charfreq/unicode_names.cc).
  std::string system_file;
  for (const char* p :
       {"/usr/share/unicode/UnicodeData.txt", "/usr/share/unicode/ucd/UnicodeData.txt",
        "/usr/share/unicode-data/UnicodeData.txt"})
    if (system_file.empty() && ::access(p, R_OK) == 0) system_file = p;
  std::string euro;  // U+20AC's name in that file
  if (!system_file.empty()) {
    std::ifstream in(system_file);
    for (std::string line; euro.empty() && std::getline(in, line);)
      if (line.rfind("20AC;", 0) == 0) euro = line.substr(5, line.find(';', 5) - 5);
    ASSERT_FALSE(euro.empty()) << system_file << " has no U+20AC";
  }
  SCOPED_TRACE(system_file.empty() ? "no UnicodeData.txt installed" : system_file);
  EXPECT_EQ(r.out, "U+20AC\t\xe2\x82\xac\t2\t" + euro +
                       "\n"
                       "U+000A\t\\n\t1\tLINE FEED (LF)\n"
                       "U+0020\t \t1\tSPACE\n"
                       "U+0061\ta\t1\tLATIN SMALL LETTER A\n");
}

TEST(CharFreqJobTest, EmptyInputAndBadOptions) {
  TempDir dir;
  auto empty = dir.write("empty.txt", "");
  auto r = run_mapreduce({"run", "--job", "charfreq", "--no-progress", empty});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = run_mapreduce(
      {"run", "--job", "charfreq", "--opt", "names=" + dir.path() + "/missing", empty});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("option 'names': cannot read"), std::string::npos) << r.err;
  auto garbage = dir.write("garbage.txt", "no entries here\n");
  auto f = dir.write("x.txt", "x");
  r = run_mapreduce({"run", "--job", "charfreq", "--opt", "names=" + garbage, f});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("holds no UnicodeData.txt entries"), std::string::npos) << r.err;
}

}  // namespace
