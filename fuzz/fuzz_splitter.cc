// The chunk splitter: cutting a text at the positions safe_split_point()
// gives, for any chunk size, and tokenizing the pieces one by one yields
// exactly the words of the whole text, in order (what the engine relies on
// when it maps chunks separately). The first byte picks the options, the
// second the chunk size; the rest is the text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mr/job_api/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  mr::TokenizerOptions options;
  options.kind = data[0] & 1 ? mr::TokenizerKind::whitespace : mr::TokenizerKind::unicode;
  options.keep_case = (data[0] & 2) != 0;
  const std::size_t chunk = 1 + data[1] % 64;
  const std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::vector<std::string> pieces;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.size();
    if (text.size() - pos > chunk) {
      end = mr::safe_split_point(text, pos + chunk, options);
      if (end < pos + chunk || end > text.size()) {
        std::fprintf(stderr, "safe_split_point(%zu) = %zu: out of range\n", pos + chunk, end);
        std::abort();
      }
    }
    for (auto& w : mr::tokenize_to_vector(text.substr(pos, end - pos), options))
      pieces.push_back(std::move(w));
    pos = end;
  }
  if (pieces != mr::tokenize_to_vector(text, options)) {
    std::fprintf(stderr, "chunked words differ from the whole text's (chunk %zu)\n", chunk);
    std::abort();
  }
  return 0;
}
