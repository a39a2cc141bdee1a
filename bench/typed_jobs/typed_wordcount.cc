// typed_wordcount: the word count of `mapreduce wordcount` written with the
// typed job API as a user would write it (bench/typed_bench.sh compares the
// two): map(chunk) tokenizes and emits each word, by view, as the README's
// topwords example does; summed_words.h sums and orders. (Until 4131f2e it
// emitted std::string(word), so that it compiled against the job API from
// before emit took a view, 56205aa; --before needs a commit from cf19f9b on.)
#include <string>
#include <string_view>

#include "mr/job_api/plugin.h"
#include "mr/job_api/tokenizer.h"
#include "summed_words.h"

namespace {

struct TypedWordCount : SummedWords {
  void map(std::string_view chunk, Context& ctx) {
    mr::tokenize(chunk, {}, [&](std::string_view word) { ctx.emit(word, 1); });
  }
};

}  // namespace

MR_PLUGIN(TypedWordCount, "bench_typed_wc", "benchmark: wordcount with the typed API, map(chunk)")
