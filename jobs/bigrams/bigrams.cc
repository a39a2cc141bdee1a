// bigrams: how often each pair of adjacent words occurs.
//
// Words are those of `mapreduce wordcount` (mr::tokenize with the default
// TokenizerOptions: Unicode letters, marks and digits, lowercased). A bigram
// is two words that follow each other ON THE SAME LINE: pairs never span a
// line break (a line ends at '\n'; a trailing '\r' is dropped). Lines are the
// records because the engine cuts inputs into chunks only after a newline,
// so every pair is seen by exactly one map call however the input is
// chunked. A line of n words has n - 1 bigrams.
//
// Options: none (an unknown --opt is refused). `--top N` (an engine option)
// prints the N most frequent bigrams.
//
// Output, one line per bigram, by count descending, then by bigram (byte
// order of "word1 word2", the same as by word1 then word2 since a word never
// holds a space):
//   word1 word2<TAB>count
// Example, for "the cat and the cat\nthe dog\n":
//   the cat<TAB>2
//   and the<TAB>1
//   cat and<TAB>1
//   the dog<TAB>1
//
// Design: key "word1 word2", value a count, summed by a combiner in each map
// task (so the shuffle carries one pair per distinct bigram per task) and by
// the reducer.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "mr/job_api/plugin.h"
#include "mr/job_api/tokenizer.h"

namespace {

struct Bigrams : mr::MapReduceJob<std::string, std::uint64_t> {
  std::string previous_;  // the line's previous word (reused across lines)
  std::string pair_;      // "previous word" being built

  static std::vector<mr::OptionSpec> options() { return {}; }

  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    bool have_previous = false;
    mr::tokenize(line, mr::TokenizerOptions{}, [&](std::string_view w) {
      if (have_previous) {
        pair_.assign(previous_);
        pair_ += ' ';
        pair_ += w;
        ctx.emit(pair_, 1);
      }
      previous_.assign(w);
      have_previous = true;
    });
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::string& pair, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(pair, n);
  }
  // Most frequent first; ties by bigram.
  bool before(const std::string& pa, const std::uint64_t& na, const std::string& pb,
              const std::uint64_t& nb) const {
    if (na != nb) return na > nb;
    return pa < pb;
  }
};

}  // namespace

MR_PLUGIN(Bigrams, "bigrams", "counts of adjacent word pairs within a line, most frequent first")
