// typed_wordcount_line: typed_wordcount.cc with map_line instead of map, the
// natural way to write a line-oriented job (bench/typed_bench.sh).
#include <string>
#include <string_view>

#include "mr/job_api/plugin.h"
#include "mr/job_api/tokenizer.h"
#include "summed_words.h"

namespace {

struct TypedWordCountLines : SummedWords {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    mr::tokenize(line, {}, [&](std::string_view word) { ctx.emit(word, 1); });
  }
};

}  // namespace

MR_PLUGIN(TypedWordCountLines, "bench_typed_wc_line",
          "benchmark: wordcount with the typed API, map_line")
