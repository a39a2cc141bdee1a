// grep: the lines that match a regular expression, and how many matched in
// each file. A map-only job: map emits the matching lines, nothing is
// reduced.
//
// Options:
//   pattern=REGEX      required; a std::regex in ECMAScript syntax, searched
//                      anywhere in the line (anchor it with ^ and $). An
//                      empty pattern matches every line.
//   ignore_case=BOOL   match without regard to case (default false).
// A missing pattern or one that is not a valid regular expression is a usage
// error (exit status 2) naming the problem.
//
// A line ends at '\n'; a trailing '\r' is not part of it (nor of the output).
// Lines are numbered from 1 in each file.
//
// Output: first every matching line, sorted by file name (byte order) and
// then by line number,
//   file:line:text
// then one count line per input file, sorted by file name,
//   file<TAB>N matches
// (always "matches", so the lines are easy to parse), including files with
// 0 matches. `file` is the input's name as given on the command line ("-"
// for standard input). An empty file has no lines, is never mapped and gets
// no count line. Example, `--opt pattern=o+` on a.txt = "foo\nbar\nboo\n" and
// b.txt = "xyz\n":
//   a.txt:1:foo
//   a.txt:3:boo
//   a.txt<TAB>2 matches
//   b.txt<TAB>0 matches
// `--top N` keeps the first N output lines, so it may cut the count lines.
// With --format csv or json the same records have the fields file, line and
// text (a match) or file and matches (a count), as numbers where numeric.
//
// How the counts get there without a reduce: the map of the chunk at offset
// 0 of each file (exactly one per file) emits a marker (file, kCountLine).
// The output order puts markers after every line, and format() -- which runs
// only in the master, once per output record, in output order -- counts the
// match lines it writes per file and turns each marker into that file's
// count line. Summing per-chunk counts in the map instead would need a reduce
// (one marker per chunk would print one count line per chunk).
//
// Limitation: libstdc++'s std::regex matches recursively, so some patterns on
// very long lines (hundreds of KB) can exhaust a worker's stack; the job then
// fails with a crashed worker rather than a wrong result.
#include <cstdint>
#include <limits>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "mr/job_api/plugin.h"

namespace {

using FileLine = std::pair<std::string, std::uint64_t>;  // (file, 1-based line)

// The line number of a file's count marker.
constexpr std::uint64_t kCountLine = std::numeric_limits<std::uint64_t>::max();

struct Grep : mr::MapReduceJob<FileLine, std::string> {
  static constexpr bool kLineNumbers = true;

  std::regex regex_;
  std::string file_;                // the current chunk's file name
  std::int64_t marked_chunk_ = -1;  // the last chunk that emitted a count marker
  // format() state (master only): match lines written so far, per file.
  mutable std::map<std::string, std::uint64_t, std::less<>> written_;

  static std::vector<mr::OptionSpec> options() {
    return {{"pattern", "regular expression (ECMAScript) searched in each line; required", ""},
            {"ignore_case", "match without regard to case", "false"}};
  }

  void setup(const mr::JobOptions& o) {
    if (!o.has("pattern"))
      throw std::invalid_argument("option 'pattern' is required (--opt pattern=REGEX)");
    const std::string pattern = o.get("pattern");
    auto flags = std::regex::ECMAScript | std::regex::optimize;
    if (o.get_bool("ignore_case", false)) flags |= std::regex::icase;
    try {
      regex_.assign(pattern, flags);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument("option 'pattern': invalid regular expression '" + pattern +
                                  "': " + e.what());
    }
  }

  void map_line(std::string_view line, std::uint64_t line_number, Context& ctx) {
    const mr::ChunkInfo& chunk = ctx.chunk();
    if (file_ != chunk.file) file_ = chunk.file;
    if (chunk.offset == 0 && marked_chunk_ != chunk.index) {
      marked_chunk_ = chunk.index;
      ctx.emit(FileLine{file_, kCountLine}, std::string());
    }
    if (std::regex_search(line.begin(), line.end(), regex_)) {
      ctx.emit(FileLine{file_, line_number}, std::string(line));
      ctx.count("matching lines");
    }
  }

  // Match lines (by file, then line) before count lines (by file).
  bool before(const FileLine& a, const std::string&, const FileLine& b, const std::string&) const {
    const bool ca = a.second == kCountLine, cb = b.second == kCountLine;
    if (ca != cb) return cb;
    return a < b;
  }

  std::string format(const FileLine& key, const std::string& text) const {
    if (key.second == kCountLine)
      return key.first + '\t' + std::to_string(written(key.first)) + " matches";
    ++written_[key.first];
    return key.first + ':' + std::to_string(key.second) + ':' + text;
  }

  // --format csv|json: a match is {file, line, text}, a count {file, matches}.
  static std::vector<std::string> columns() { return {"file", "line", "text", "matches"}; }
  void record(const FileLine& key, const std::string& text, mr::Record& r) const {
    r.field("file", key.first);
    if (key.second == kCountLine) {
      r.field("matches", written(key.first));
      return;
    }
    ++written_[key.first];
    r.field("line", key.second).field("text", text);
  }

  std::uint64_t written(const std::string& file) const {
    auto it = written_.find(file);
    return it == written_.end() ? 0 : it->second;
  }
};

}  // namespace

MR_PLUGIN(Grep, "grep",
          "lines matching a regular expression (file:line:text), then match counts per file")
