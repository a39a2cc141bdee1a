// The tokenizer (both kinds, with and without case folding) gives exactly
// the words of the slow reference on any bytes, and count_words (the
// wordcount job's batched counting path) counts exactly those words. The
// first byte picks the options; the rest is the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "mr/job_api/word_counter.h"

#include "reference_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  mr::TokenizerOptions options;
  options.kind = data[0] & 1 ? mr::TokenizerKind::whitespace : mr::TokenizerKind::unicode;
  options.keep_case = (data[0] & 2) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> fast = mr::tokenize_to_vector(text, options);
  if (fast != mr::fuzz::reference_words(text, options)) {
    std::fprintf(stderr, "tokenizer and reference disagree (%zu vs %zu words)\n", fast.size(),
                 mr::fuzz::reference_words(text, options).size());
    std::abort();
  }
  std::map<std::string, std::uint64_t> want;
  for (const std::string& w : fast) ++want[w];
  mr::WordCounter counter;
  mr::count_words(text, options, counter);
  std::map<std::string, std::uint64_t> got;
  counter.for_each([&](std::string_view w, std::uint64_t n) { got.emplace(w, n); });
  if (got != want) {
    std::fprintf(stderr, "count_words and the tokenizer disagree (%zu vs %zu distinct words)\n",
                 got.size(), want.size());
    std::abort();
  }
  return 0;
}
