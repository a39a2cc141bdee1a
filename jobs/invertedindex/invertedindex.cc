// invertedindex: for every word, the positions (file and line) where it
// occurs.
//
// Words are those of `mapreduce wordcount` (mr::tokenize with the default
// TokenizerOptions: Unicode letters, marks and digits, lowercased). Lines are
// numbered from 1 in each input file; a line ends at '\n' and a trailing '\r'
// is not part of it.
//
// Options: none (an unknown --opt is refused).
//
// Output, one line per word, sorted by word (byte order):
//   word<TAB>file:line,file:line,...
// where `file` is the input's name as given on the command line ("-" for
// standard input). Positions are sorted by file (byte order), then by line
// number (numerically); a word that occurs more than once on a line lists
// that line once. Example, for a.txt = "the cat\nThe dog the end\n" and
// b.txt = "a dog\n":
//   a<TAB>b.txt:1
//   cat<TAB>a.txt:1
//   dog<TAB>a.txt:2,b.txt:1
//   end<TAB>a.txt:2
//   the<TAB>a.txt:1,a.txt:2
//
// Design: map(chunk) (a chunk lies in one file) collects, per distinct word
// of the chunk, the lines it occurs on, and emits (word, [(file, lines)])
// once per distinct word: the file name is copied once per word and chunk,
// not per occurrence (per occurrence it was most of the job's time: an
// allocation to build, to shuffle and to load again). The in-place combiner
// combine_into appends a chunk's list to the word's list in the mapper's
// table (moving it), and the table counts each list's growth against the
// memory budget, so the engine still flushes a map task that outgrows its
// share. The reducer gathers a word's lines per file, sorts them and joins
// them into the output text.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mr/job_api/plugin.h"
#include "mr/job_api/tokenizer.h"

namespace {

using Lines = std::vector<std::uint64_t>;        // 1-based line numbers
using FileLines = std::pair<std::string, Lines>;  // a word's lines in one file
using Positions = std::vector<FileLines>;

// Finds a std::string key by std::string_view (no string per lookup).
struct ViewHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct InvertedIndex : mr::MapReduceJob<std::string, Positions, std::string, std::string> {
  static constexpr bool kLineNumbers = true;

  // Words and their lines in the current chunk; the words of earlier
  // chunks stay (with no lines), up to a bound, so that a word seen before
  // costs no allocation.
  using Table = std::unordered_map<std::string, Lines, ViewHash, std::equal_to<>>;
  Table lines_;
  std::vector<Table::value_type*> used_;  // the entries the current chunk filled

  static std::vector<mr::OptionSpec> options() { return {}; }

  void map(std::string_view chunk, Context& ctx) {
    std::uint64_t line = ctx.chunk().first_line;
    while (!chunk.empty()) {
      const std::size_t nl = std::min(chunk.find('\n'), chunk.size());
      // A trailing '\r' is no word character: the line's words are the same.
      mr::tokenize(chunk.substr(0, nl), mr::TokenizerOptions{}, [&](std::string_view w) {
        auto it = lines_.find(w);
        if (it == lines_.end()) it = lines_.emplace(std::string(w), Lines{}).first;
        Lines& lines = it->second;
        if (lines.empty()) used_.push_back(&*it);
        if (lines.empty() || lines.back() != line) lines.push_back(line);
      });
      if (line) ++line;  // 0: no line numbers (a streaming task's --first-line 0)
      chunk.remove_prefix(std::min(nl + 1, chunk.size()));
    }
    for (auto* entry : used_)  // moving the lines out leaves them empty
      ctx.emit(entry->first, Positions{FileLines{ctx.chunk().file, std::move(entry->second)}});
    used_.clear();
    if (lines_.size() > 1 << 16) lines_.clear();  // a vocabulary without end
  }

  void combine_into(Positions& acc, Positions&& incoming) {
    acc.insert(acc.end(), std::make_move_iterator(incoming.begin()),
               std::make_move_iterator(incoming.end()));
  }

  void reduce(const std::string& word, std::span<const Positions> lists, ReduceContext& ctx) {
    std::map<std::string_view, Lines> files;  // in byte order
    for (const auto& list : lists) {
      for (const auto& [file, lines] : list) {
        Lines& all = files[file];
        all.insert(all.end(), lines.begin(), lines.end());
      }
    }
    std::string text;
    for (auto& [file, lines] : files) {
      std::sort(lines.begin(), lines.end());
      // Map lists a line once per chunk; this keeps the promise whatever
      // the map outputs hold.
      lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
      for (std::uint64_t n : lines) {
        if (!text.empty()) text += ',';
        text += file;
        text += ':';
        text += std::to_string(n);
      }
    }
    ctx.emit(std::string(word), std::move(text));
  }
};

}  // namespace

MR_PLUGIN(InvertedIndex, "invertedindex",
          "for each word, the sorted file:line positions where it occurs")
