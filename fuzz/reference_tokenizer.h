// A slow, obviously correct reading of the tokenizer rules of
// mr/job_api/tokenizer.h, one code point at a time, for the fuzzers to hold
// the fast tokenizer against.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mr/job_api/tokenizer.h"
#include "mr/job_api/utf8.h"

namespace mr::fuzz {

inline std::vector<std::string> reference_unicode(std::string_view text, bool keep_case) {
  const auto& t = detail::unicode_tables();
  std::vector<utf8::CodePoint> cps;
  for (std::size_t pos = 0; pos < text.size();) {
    utf8::CodePoint c = utf8::decode_at(text, pos);
    cps.push_back(c);
    pos += c.length;
  }
  auto cls = [&](std::size_t i) {
    return cps[i].valid ? t.char_class(cps[i].value) : CharClass::separator;
  };
  std::vector<std::string> words;
  std::string word;
  auto end_word = [&] {
    if (!word.empty()) words.push_back(word);
    word.clear();
  };
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const char32_t cp = keep_case ? cps[i].value : t.to_lower(cps[i].value);
    switch (cls(i)) {
      case CharClass::word:
        utf8::append(word, cp);
        break;
      case CharClass::cjk:
        end_word();
        utf8::append(word, cp);
        end_word();
        break;
      case CharClass::apostrophe:
        if (!word.empty() && i + 1 < cps.size() && cls(i + 1) == CharClass::word)
          word += '\'';
        else
          end_word();
        break;
      case CharClass::separator:
        end_word();
        break;
    }
  }
  end_word();
  return words;
}

inline std::vector<std::string> reference_whitespace(std::string_view text, bool keep_case) {
  const auto& t = detail::unicode_tables();
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  std::vector<std::string> words;
  std::string word;
  for (std::size_t pos = 0; pos < text.size();) {
    if (space(text[pos])) {
      if (!word.empty()) words.push_back(word);
      word.clear();
      ++pos;
      continue;
    }
    utf8::CodePoint c = utf8::decode_at(text, pos);
    if (!c.valid || keep_case)
      word.append(text.substr(pos, c.length));
    else
      utf8::append(word, t.to_lower(c.value));
    pos += c.length;
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

inline std::vector<std::string> reference_words(std::string_view text,
                                                const TokenizerOptions& options) {
  return options.kind == TokenizerKind::unicode ? reference_unicode(text, options.keep_case)
                                                : reference_whitespace(text, options.keep_case);
}

}  // namespace mr::fuzz
