// Character names for the charfreq job: a lookup from a code point to its
// Unicode name ("LATIN SMALL LETTER A"), from a UnicodeData.txt file when
// one is given or installed, else from a small built-in set.
//
// Built in (always available): U+0000–U+00FF (ASCII and Latin-1, control
// characters by their Unicode 1.0 names such as "LINE FEED (LF)", as
// UnicodeData.txt gives them), and the names Unicode derives by rule: CJK
// unified ideographs ("CJK UNIFIED IDEOGRAPH-4E00", Unicode 15 ranges),
// Tangut ideographs and Hangul syllables ("HANGUL SYLLABLE GAG"). A file
// adds every other assigned character of its Unicode version.
//
// Debian ships UnicodeData.txt in the package `unicode-data`
// (/usr/share/unicode/UnicodeData.txt), which is not installed by default.
//
// Ownership: a UnicodeNames owns its table (about 1 MB when loaded from a
// file). Thread-safety: read-only after construction. Fork-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mr::charfreq {

class UnicodeNames {
 public:
  // The built-in names only.
  UnicodeNames();

  // Names from a UnicodeData.txt (fields separated by ';', code point in hex,
  // then the name; "<control>" entries use field 10, the Unicode 1.0 name;
  // "<..., First>"/"<..., Last>" pairs mark ranges). Lines that do not parse
  // are skipped. Throws std::runtime_error when the file cannot be read or
  // holds no entry at all.
  static UnicodeNames from_file(const std::string& path);

  // The files searched when no file is named, in order.
  static const std::vector<std::string>& default_paths();

  // The name of `cp`, or "" when unknown (unassigned, private use, or not in
  // the built-in set without a file).
  std::string name(char32_t cp) const;

 private:
  enum class RangeKind : std::uint8_t { cjk, tangut, hangul, unnamed };
  struct Range {
    char32_t first, last;
    RangeKind kind;
  };
  struct Entry {
    char32_t cp;
    std::uint32_t offset, length;  // into text_
  };
  void add(char32_t cp, std::string_view name);

  std::vector<Entry> entries_;  // sorted by cp
  std::string text_;
  std::vector<Range> ranges_;
};

// The Hangul syllable name of cp in U+AC00–U+D7A3 by the Unicode algorithm
// (chapter 3.12), e.g. U+AC01 -> "HANGUL SYLLABLE GAG".
std::string hangul_syllable_name(char32_t cp);

}  // namespace mr::charfreq
