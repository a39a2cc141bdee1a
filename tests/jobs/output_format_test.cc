// `mapreduce run --format tsv|csv|json|jsonl` end to end, on a test plugin that
// counts distinct lines (key: the line, value: its count; its own format()
// and output order): tsv is the job's format() lines, csv and json hold the
// key and value, escaped, in the job's order; --top cuts them; an unknown
// format is a usage error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::lines_of;
using mr::testing::run_mapreduce;
using mr::testing::TempDir;

std::vector<std::string> run_args(const std::string& jobs, const std::string& format,
                                  const std::vector<std::string>& files) {
  std::vector<std::string> args = {"run", "--job", TEST_PLUGIN, "-j", jobs, "--chunk-size", "64"};
  if (!format.empty()) {
    args.push_back("--format");
    args.push_back(format);
  }
  args.insert(args.end(), files.begin(), files.end());
  return args;
}

// Lines chosen to need every kind of escaping: CSV quoting (comma, quote),
// JSON escapes (quote, backslash, tab, a control character), UTF-8 passing
// through, an invalid byte, an empty line and a CRLF line end.
const char kText[] =
    "plain\n"
    "a,b\n"
    "say \"hi\"\n"
    "plain\n"
    "\n"
    "back\\slash\n"
    "tab\tthere\n"
    "ctl\x01x\n"
    "caf\xc3\xa9\n"
    "bad\xff"
    "byte\n"
    "crlf\r\n"
    "plain\n"
    "a,b\n";

TEST(OutputFormatTest, TsvIsTheJobsOwnLines) {
  TempDir dir;
  std::string f = dir.write("a.txt", kText);
  const std::string want =
      "3 x [plain]\n2 x [a,b]\n1 x []\n1 x [back\\slash]\n1 x [bad\xff"
      "byte]\n1 x [caf\xc3\xa9]\n1 x [crlf]\n1 x [ctl\x01x]\n1 x [say \"hi\"]\n1 x [tab\tthere]\n";
  for (const char* jobs : {"1", "3"}) {
    for (const char* format : {"", "tsv"}) {
      auto r = run_mapreduce(run_args(jobs, format, {f}));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, want) << "-j " << jobs << " --format '" << format << "'";
    }
  }
}

TEST(OutputFormatTest, CsvQuotesFieldsThatNeedIt) {
  TempDir dir;
  std::string f = dir.write("a.txt", kText);
  const std::string want =
      "key,value\n"
      "plain,3\n"
      "\"a,b\",2\n"
      ",1\n"
      "back\\slash,1\n"
      "bad\xff"
      "byte,1\n"
      "caf\xc3\xa9,1\n"
      "crlf,1\n"
      "ctl\x01x,1\n"
      "\"say \"\"hi\"\"\",1\n"
      "tab\tthere,1\n";
  for (const char* jobs : {"1", "3"}) {
    auto r = run_mapreduce(run_args(jobs, "csv", {f}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want) << "-j " << jobs;
  }
}

TEST(OutputFormatTest, JsonIsAnArrayOfKeyValueObjectsWithEscapes) {
  TempDir dir;
  std::string f = dir.write("a.txt", kText);
  const std::string want =
      "[\n"
      "  {\"key\": \"plain\", \"value\": 3},\n"
      "  {\"key\": \"a,b\", \"value\": 2},\n"
      "  {\"key\": \"\", \"value\": 1},\n"
      "  {\"key\": \"back\\\\slash\", \"value\": 1},\n"
      "  {\"key\": \"bad\xef\xbf\xbd"
      "byte\", \"value\": 1},\n"  // the invalid byte becomes U+FFFD
      "  {\"key\": \"caf\xc3\xa9\", \"value\": 1},\n"
      "  {\"key\": \"crlf\", \"value\": 1},\n"
      "  {\"key\": \"ctl\\u0001x\", \"value\": 1},\n"
      "  {\"key\": \"say \\\"hi\\\"\", \"value\": 1},\n"
      "  {\"key\": \"tab\\tthere\", \"value\": 1}\n"
      "]\n";
  for (const char* jobs : {"1", "3"}) {
    auto r = run_mapreduce(run_args(jobs, "json", {f}));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want) << "-j " << jobs;
  }
}

TEST(OutputFormatTest, TopCutsStructuredOutputAndEmptyInputIsEmpty) {
  TempDir dir;
  std::string f = dir.write("a.txt", kText);
  std::vector<std::string> args = run_args("3", "json", {f});
  args.insert(args.begin() + 1, {"--top", "2"});
  auto r = run_mapreduce(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "[\n  {\"key\": \"plain\", \"value\": 3},\n  {\"key\": \"a,b\", \"value\": 2}\n]\n");

  std::string empty = dir.write("empty.txt", "");
  r = run_mapreduce(run_args("2", "json", {empty}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[]\n");
  r = run_mapreduce(run_args("2", "csv", {empty}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "key,value\n");
}

// --format jsonl: one JSON object a line (for `jq -c`), each valid JSON with
// its strings escaped, and together the objects of --format json in the
// same order. Parsed by Python's json module, not by anything of ours.
TEST(OutputFormatTest, JsonLinesAreTheJsonArraysObjectsOneALine) {
  TempDir dir;
  std::string f = dir.write("a.txt", kText);
  auto lines = run_mapreduce(run_args("3", "jsonl", {f}));
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  auto array = run_mapreduce(run_args("3", "json", {f}));
  ASSERT_EQ(array.exit_code, 0) << array.err;
  ASSERT_EQ(lines_of(lines.out).size(), 10u) << lines.out;
  EXPECT_EQ(lines.out.front(), '{') << lines.out;
  EXPECT_EQ(lines.out.back(), '\n') << lines.out;
  const std::string jl = dir.write("out.jsonl", lines.out), js = dir.write("out.json", array.out);
  const std::string check =
      "timeout 30 python3 -c 'import json, sys\n"
      "rows = [json.loads(l) for l in open(sys.argv[1], "
      "encoding=\"utf-8\").read().split(\"\\n\")[:-1]]\n"
      "assert all(isinstance(r, dict) and set(r) == {\"key\", \"value\"} for r in rows), rows\n"
      "assert rows == json.load(open(sys.argv[2], encoding=\"utf-8\")), rows\n"
      "assert rows[0] == {\"key\": \"plain\", \"value\": 3}, rows[0]' " +
      jl + " " + js;
  EXPECT_EQ(std::system(check.c_str()), 0) << lines.out;
}

TEST(OutputFormatTest, UnknownFormatIsAUsageError) {
  TempDir dir;
  std::string f = dir.write("a.txt", kText);
  auto r = run_mapreduce(run_args("1", "xml", {f}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("invalid --format 'xml'"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

// ---- many random lines: csv and json against a reference built here -------

// A minimal JSON reader for `[ {"key": STRING, "value": INTEGER}, ... ]`;
// throws std::runtime_error on anything else (including raw control bytes).
class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}
  std::vector<std::pair<std::string, std::uint64_t>> entries() {
    std::vector<std::pair<std::string, std::uint64_t>> out;
    expect('[');
    if (!take(']')) {
      do {
        expect('{');
        if (string() != "key") fail("expected \"key\"");
        expect(':');
        std::string key = string();
        expect(',');
        if (string() != "value") fail("expected \"value\"");
        expect(':');
        out.emplace_back(std::move(key), integer());
        expect('}');
      } while (take(','));
      expect(']');
    }
    ws();
    if (i_ != s_.size()) fail("trailing bytes");
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + " at byte " + std::to_string(i_));
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n')) ++i_;
  }
  bool take(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!take(c)) fail(std::string("expected '") + c + "'");
  }
  std::uint64_t integer() {
    ws();
    std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (i_ == start) fail("expected an integer");
    return std::stoull(std::string(s_.substr(start, i_ - start)));
  }
  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("raw control byte");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      char e = s_[i_++];
      if (e == 'u') {
        if (i_ + 4 > s_.size()) fail("short \\u");
        unsigned v = static_cast<unsigned>(std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16));
        i_ += 4;
        if (v >= 0x80) fail("this test expects \\u only for ASCII controls");
        out += static_cast<char>(v);
      } else {
        const std::string_view from = "\"\\/bfnrt", to = "\"\\/\b\f\n\r\t";
        std::size_t k = from.find(e);
        if (k == std::string_view::npos) fail("bad escape");
        out += to[k];
      }
    }
  }
  std::string_view s_;
  std::size_t i_ = 0;
};

// RFC 4180 field, written here independently of the program.
std::string csv(const std::string& field) {
  bool quote = field.find_first_of(",\"\r\n") != std::string::npos;
  std::string out = quote ? "\"" : "";
  for (char c : field) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quote ? out + "\"" : out;
}

TEST(OutputFormatTest, ManyLinesMatchAReferenceInCsvAndJson) {
  static const char* const kLines[] = {"x",          "a,b",  "\"",         "\\", "q\"q,",
                                       "t\tt",       "\x1f", "\xce\xbb",   "",   "  spaced  ",
                                       "{\"k\": 1}", "\x7f", "plain words"};
  std::mt19937 rng(7);
  TempDir dir;
  std::vector<std::string> files;
  std::map<std::string, std::uint64_t> counts;
  for (int f = 0; f < 3; ++f) {
    std::string text;
    for (int i = 0; i < 300; ++i) text += std::string(kLines[rng() % std::size(kLines)]) + "\n";
    for (const auto& line : lines_of(text)) ++counts[line];
    files.push_back(dir.write("f" + std::to_string(f) + ".txt", text));
  }
  std::vector<std::pair<std::string, std::uint64_t>> want(counts.begin(), counts.end());
  std::stable_sort(want.begin(), want.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string want_csv = "key,value\n";
  for (const auto& [line, n] : want) want_csv += csv(line) + "," + std::to_string(n) + "\n";

  for (const char* jobs : {"1", "3"}) {
    auto r = run_mapreduce(run_args(jobs, "csv", files));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, want_csv) << "-j " << jobs;
    r = run_mapreduce(run_args(jobs, "json", files));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::pair<std::string, std::uint64_t>> got;
    try {
      got = JsonReader(r.out).entries();
    } catch (const std::exception& e) {
      FAIL() << e.what() << " in:\n" << r.out;
    }
    EXPECT_EQ(got, want) << "-j " << jobs;
  }
}

}  // namespace
