#include "mr/job_api/tokenizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>
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

Normalization parse_normalization(std::string_view name) {
  if (name == "none") return Normalization::none;
  if (name == "nfc") return Normalization::nfc;
  if (name == "nfkc") return Normalization::nfkc;
  throw std::invalid_argument("unknown normalization '" + std::string(name) +
                              "' (expected 'none', 'nfc' or 'nfkc')");
}

std::string_view to_string(Normalization form) noexcept {
  switch (form) {
    case Normalization::nfc: return "nfc";
    case Normalization::nfkc: return "nfkc";
    case Normalization::none: break;
  }
  return "none";
}

namespace detail {

bool normalize_utf8(std::string_view word, Normalization form, std::string& out) {
  int flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  if (form == Normalization::nfkc) flags |= UTF8PROC_COMPAT;
  utf8proc_uint8_t* result = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(word.data()),
                   static_cast<utf8proc_ssize_t>(word.size()), &result,
                   static_cast<utf8proc_option_t>(flags));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(result, &std::free);
  if (n < 0) return false;
  out.assign(reinterpret_cast<const char*>(result), static_cast<std::size_t>(n));
  return true;
}

}  // namespace detail

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
