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
// Design: map emits (word, [(file, line)]) once per distinct word of a line;
// the in-place combiner combine_into appends a line's positions to the
// word's list in the mapper's table (moving them: no copy of the growing
// list), and the table counts each list's growth against the memory budget,
// so the engine still flushes a map task that outgrows its share. The
// reducer sorts a word's positions and joins them into the output text.
#include <algorithm>
#include <cstdint>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mr/job_api/plugin.h"
#include "mr/job_api/tokenizer.h"

namespace {

using Position = std::pair<std::string, std::uint64_t>;  // (file, 1-based line)
using Positions = std::vector<Position>;

struct InvertedIndex : mr::MapReduceJob<std::string, Positions, std::string, std::string> {
  static constexpr bool kLineNumbers = true;

  std::vector<std::string> words_;  // the words of the current line (reused)
  std::string file_;                // the current chunk's file name

  static std::vector<mr::OptionSpec> options() { return {}; }

  void map_line(std::string_view line, std::uint64_t line_number, Context& ctx) {
    words_.clear();
    mr::tokenize(line, mr::TokenizerOptions{}, [&](std::string_view w) { words_.emplace_back(w); });
    if (words_.empty()) return;
    std::sort(words_.begin(), words_.end());
    auto last = std::unique(words_.begin(), words_.end());
    if (file_ != ctx.chunk().file) file_ = ctx.chunk().file;
    for (auto it = words_.begin(); it != last; ++it)
      ctx.emit(std::move(*it), Positions{Position{file_, line_number}});
  }

  void combine_into(Positions& acc, Positions&& incoming) {
    acc.insert(acc.end(), std::make_move_iterator(incoming.begin()),
               std::make_move_iterator(incoming.end()));
  }

  void reduce(const std::string& word, std::span<const Positions> lists, ReduceContext& ctx) {
    // Sorting pointers keeps the file names where they are.
    std::vector<const Position*> order;
    std::size_t total = 0;
    for (const auto& list : lists) total += list.size();
    order.reserve(total);
    for (const auto& list : lists)
      for (const auto& p : list) order.push_back(&p);
    std::sort(order.begin(), order.end(),
              [](const Position* a, const Position* b) { return *a < *b; });
    std::string text;
    const Position* previous = nullptr;
    for (const Position* p : order) {
      // Map already drops repeats within a line; this keeps the promise
      // whatever the map outputs hold.
      if (previous && *previous == *p) continue;
      if (previous) text += ',';
      text += p->first;
      text += ':';
      text += std::to_string(p->second);
      previous = p;
    }
    ctx.emit(std::string(word), std::move(text));
  }
};

}  // namespace

MR_PLUGIN(InvertedIndex, "invertedindex",
          "for each word, the sorted file:line positions where it occurs")
