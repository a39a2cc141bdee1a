// typed_wordcount: the word count of `mapreduce wordcount` written with the
// typed job API as a user would write it (bench/typed_bench.sh compares the
// two): map(chunk) tokenizes and emits each word; summed_words.h sums and
// orders. The source compiles against the job API before and after the
// typed API's fast table (it emits a std::string, not a view).
#include <string>
#include <string_view>

#include "mr/job_api/plugin.h"
#include "mr/job_api/tokenizer.h"
#include "summed_words.h"

namespace {

struct TypedWordCount : SummedWords {
  void map(std::string_view chunk, Context& ctx) {
    mr::tokenize(chunk, {}, [&](std::string_view word) { ctx.emit(std::string(word), 1); });
  }
};

}  // namespace

MR_PLUGIN(TypedWordCount, "bench_typed_wc", "benchmark: wordcount with the typed API, map(chunk)")
