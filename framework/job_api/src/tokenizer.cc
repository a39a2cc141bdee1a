#include "mr/job_api/tokenizer.h"

#include <stdexcept>
#include <string>

namespace mr {

TokenizerKind parse_tokenizer_kind(std::string_view name) {
  if (name == "unicode") return TokenizerKind::unicode;
  if (name == "whitespace") return TokenizerKind::whitespace;
  throw std::invalid_argument("unknown tokenizer '" + std::string(name) +
                              "' (expected 'unicode' or 'whitespace')");
}

std::string_view to_string(TokenizerKind kind) noexcept {
  return kind == TokenizerKind::whitespace ? "whitespace" : "unicode";
}

std::size_t safe_split_point(std::string_view data, std::size_t near, const TokenizerOptions& options) noexcept {
  if (near >= data.size()) return data.size();
  if (near == 0) return 0;
  // A cut before an ASCII separator is safe: the separator ends any word in
  // both the whole text and the two parts, an apostrophe before it is not
  // joined either way, and an ASCII byte never continues a UTF-8 sequence.
  const std::uint8_t mask =
      options.kind == TokenizerKind::whitespace ? detail::kByteSpace : detail::kByteAsciiSep;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t i = near;
  while (i < data.size() && !(detail::kByteClasses.v[p[i]] & mask)) ++i;
  return i;
}

}  // namespace mr
