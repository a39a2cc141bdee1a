// wordlen: how many words of each length (in characters) the input holds.
// An out-of-tree plugin job: see README.md for how to build and run it.
#include <cstdint>
#include <span>
#include <string_view>

#include "mr/job_api/plugin.h"
#include "mr/job_api/tokenizer.h"

namespace {

struct WordLength : mr::MapReduceJob<std::uint64_t, std::uint64_t> {
  // Words as `mapreduce wordcount` sees them; length = UTF-8 lead bytes.
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    mr::tokenize(line, {}, [&](std::string_view word) {
      std::uint64_t chars = 0;
      for (char c : word) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      ctx.emit(chars, 1);
    });
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::uint64_t& length, std::span<const std::uint64_t> counts,
              ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(length, n);  // printed as "length<TAB>words", by length
  }
};

}  // namespace

MR_PLUGIN(WordLength, "wordlen", "histogram of word lengths in characters")
