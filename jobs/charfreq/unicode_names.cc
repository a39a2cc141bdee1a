// Character names for charfreq; see unicode_names.h.
#include "unicode_names.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace mr::charfreq {
namespace {

// U+0000–U+00FF as UnicodeData.txt 15.0 names them (controls by field 10,
// "<control>" where that is empty). Generated once from the file of Debian's
// unicode-data 15.0.0-1; these names are stable by Unicode policy.
constexpr std::array<std::string_view, 256> kLatin1Names = {
    "NULL",                                        // U+0000
    "START OF HEADING",                            // U+0001
    "START OF TEXT",                               // U+0002
    "END OF TEXT",                                 // U+0003
    "END OF TRANSMISSION",                         // U+0004
    "ENQUIRY",                                     // U+0005
    "ACKNOWLEDGE",                                 // U+0006
    "BELL",                                        // U+0007
    "BACKSPACE",                                   // U+0008
    "CHARACTER TABULATION",                        // U+0009
    "LINE FEED (LF)",                              // U+000A
    "LINE TABULATION",                             // U+000B
    "FORM FEED (FF)",                              // U+000C
    "CARRIAGE RETURN (CR)",                        // U+000D
    "SHIFT OUT",                                   // U+000E
    "SHIFT IN",                                    // U+000F
    "DATA LINK ESCAPE",                            // U+0010
    "DEVICE CONTROL ONE",                          // U+0011
    "DEVICE CONTROL TWO",                          // U+0012
    "DEVICE CONTROL THREE",                        // U+0013
    "DEVICE CONTROL FOUR",                         // U+0014
    "NEGATIVE ACKNOWLEDGE",                        // U+0015
    "SYNCHRONOUS IDLE",                            // U+0016
    "END OF TRANSMISSION BLOCK",                   // U+0017
    "CANCEL",                                      // U+0018
    "END OF MEDIUM",                               // U+0019
    "SUBSTITUTE",                                  // U+001A
    "ESCAPE",                                      // U+001B
    "INFORMATION SEPARATOR FOUR",                  // U+001C
    "INFORMATION SEPARATOR THREE",                 // U+001D
    "INFORMATION SEPARATOR TWO",                   // U+001E
    "INFORMATION SEPARATOR ONE",                   // U+001F
    "SPACE",                                       // U+0020
    "EXCLAMATION MARK",                            // U+0021
    "QUOTATION MARK",                              // U+0022
    "NUMBER SIGN",                                 // U+0023
    "DOLLAR SIGN",                                 // U+0024
    "PERCENT SIGN",                                // U+0025
    "AMPERSAND",                                   // U+0026
    "APOSTROPHE",                                  // U+0027
    "LEFT PARENTHESIS",                            // U+0028
    "RIGHT PARENTHESIS",                           // U+0029
    "ASTERISK",                                    // U+002A
    "PLUS SIGN",                                   // U+002B
    "COMMA",                                       // U+002C
    "HYPHEN-MINUS",                                // U+002D
    "FULL STOP",                                   // U+002E
    "SOLIDUS",                                     // U+002F
    "DIGIT ZERO",                                  // U+0030
    "DIGIT ONE",                                   // U+0031
    "DIGIT TWO",                                   // U+0032
    "DIGIT THREE",                                 // U+0033
    "DIGIT FOUR",                                  // U+0034
    "DIGIT FIVE",                                  // U+0035
    "DIGIT SIX",                                   // U+0036
    "DIGIT SEVEN",                                 // U+0037
    "DIGIT EIGHT",                                 // U+0038
    "DIGIT NINE",                                  // U+0039
    "COLON",                                       // U+003A
    "SEMICOLON",                                   // U+003B
    "LESS-THAN SIGN",                              // U+003C
    "EQUALS SIGN",                                 // U+003D
    "GREATER-THAN SIGN",                           // U+003E
    "QUESTION MARK",                               // U+003F
    "COMMERCIAL AT",                               // U+0040
    "LATIN CAPITAL LETTER A",                      // U+0041
    "LATIN CAPITAL LETTER B",                      // U+0042
    "LATIN CAPITAL LETTER C",                      // U+0043
    "LATIN CAPITAL LETTER D",                      // U+0044
    "LATIN CAPITAL LETTER E",                      // U+0045
    "LATIN CAPITAL LETTER F",                      // U+0046
    "LATIN CAPITAL LETTER G",                      // U+0047
    "LATIN CAPITAL LETTER H",                      // U+0048
    "LATIN CAPITAL LETTER I",                      // U+0049
    "LATIN CAPITAL LETTER J",                      // U+004A
    "LATIN CAPITAL LETTER K",                      // U+004B
    "LATIN CAPITAL LETTER L",                      // U+004C
    "LATIN CAPITAL LETTER M",                      // U+004D
    "LATIN CAPITAL LETTER N",                      // U+004E
    "LATIN CAPITAL LETTER O",                      // U+004F
    "LATIN CAPITAL LETTER P",                      // U+0050
    "LATIN CAPITAL LETTER Q",                      // U+0051
    "LATIN CAPITAL LETTER R",                      // U+0052
    "LATIN CAPITAL LETTER S",                      // U+0053
    "LATIN CAPITAL LETTER T",                      // U+0054
    "LATIN CAPITAL LETTER U",                      // U+0055
    "LATIN CAPITAL LETTER V",                      // U+0056
    "LATIN CAPITAL LETTER W",                      // U+0057
    "LATIN CAPITAL LETTER X",                      // U+0058
    "LATIN CAPITAL LETTER Y",                      // U+0059
    "LATIN CAPITAL LETTER Z",                      // U+005A
    "LEFT SQUARE BRACKET",                         // U+005B
    "REVERSE SOLIDUS",                             // U+005C
    "RIGHT SQUARE BRACKET",                        // U+005D
    "CIRCUMFLEX ACCENT",                           // U+005E
    "LOW LINE",                                    // U+005F
    "GRAVE ACCENT",                                // U+0060
    "LATIN SMALL LETTER A",                        // U+0061
    "LATIN SMALL LETTER B",                        // U+0062
    "LATIN SMALL LETTER C",                        // U+0063
    "LATIN SMALL LETTER D",                        // U+0064
    "LATIN SMALL LETTER E",                        // U+0065
    "LATIN SMALL LETTER F",                        // U+0066
    "LATIN SMALL LETTER G",                        // U+0067
    "LATIN SMALL LETTER H",                        // U+0068
    "LATIN SMALL LETTER I",                        // U+0069
    "LATIN SMALL LETTER J",                        // U+006A
    "LATIN SMALL LETTER K",                        // U+006B
    "LATIN SMALL LETTER L",                        // U+006C
    "LATIN SMALL LETTER M",                        // U+006D
    "LATIN SMALL LETTER N",                        // U+006E
    "LATIN SMALL LETTER O",                        // U+006F
    "LATIN SMALL LETTER P",                        // U+0070
    "LATIN SMALL LETTER Q",                        // U+0071
    "LATIN SMALL LETTER R",                        // U+0072
    "LATIN SMALL LETTER S",                        // U+0073
    "LATIN SMALL LETTER T",                        // U+0074
    "LATIN SMALL LETTER U",                        // U+0075
    "LATIN SMALL LETTER V",                        // U+0076
    "LATIN SMALL LETTER W",                        // U+0077
    "LATIN SMALL LETTER X",                        // U+0078
    "LATIN SMALL LETTER Y",                        // U+0079
    "LATIN SMALL LETTER Z",                        // U+007A
    "LEFT CURLY BRACKET",                          // U+007B
    "VERTICAL LINE",                               // U+007C
    "RIGHT CURLY BRACKET",                         // U+007D
    "TILDE",                                       // U+007E
    "DELETE",                                      // U+007F
    "<control>",                                   // U+0080
    "<control>",                                   // U+0081
    "BREAK PERMITTED HERE",                        // U+0082
    "NO BREAK HERE",                               // U+0083
    "<control>",                                   // U+0084
    "NEXT LINE (NEL)",                             // U+0085
    "START OF SELECTED AREA",                      // U+0086
    "END OF SELECTED AREA",                        // U+0087
    "CHARACTER TABULATION SET",                    // U+0088
    "CHARACTER TABULATION WITH JUSTIFICATION",     // U+0089
    "LINE TABULATION SET",                         // U+008A
    "PARTIAL LINE FORWARD",                        // U+008B
    "PARTIAL LINE BACKWARD",                       // U+008C
    "REVERSE LINE FEED",                           // U+008D
    "SINGLE SHIFT TWO",                            // U+008E
    "SINGLE SHIFT THREE",                          // U+008F
    "DEVICE CONTROL STRING",                       // U+0090
    "PRIVATE USE ONE",                             // U+0091
    "PRIVATE USE TWO",                             // U+0092
    "SET TRANSMIT STATE",                          // U+0093
    "CANCEL CHARACTER",                            // U+0094
    "MESSAGE WAITING",                             // U+0095
    "START OF GUARDED AREA",                       // U+0096
    "END OF GUARDED AREA",                         // U+0097
    "START OF STRING",                             // U+0098
    "<control>",                                   // U+0099
    "SINGLE CHARACTER INTRODUCER",                 // U+009A
    "CONTROL SEQUENCE INTRODUCER",                 // U+009B
    "STRING TERMINATOR",                           // U+009C
    "OPERATING SYSTEM COMMAND",                    // U+009D
    "PRIVACY MESSAGE",                             // U+009E
    "APPLICATION PROGRAM COMMAND",                 // U+009F
    "NO-BREAK SPACE",                              // U+00A0
    "INVERTED EXCLAMATION MARK",                   // U+00A1
    "CENT SIGN",                                   // U+00A2
    "POUND SIGN",                                  // U+00A3
    "CURRENCY SIGN",                               // U+00A4
    "YEN SIGN",                                    // U+00A5
    "BROKEN BAR",                                  // U+00A6
    "SECTION SIGN",                                // U+00A7
    "DIAERESIS",                                   // U+00A8
    "COPYRIGHT SIGN",                              // U+00A9
    "FEMININE ORDINAL INDICATOR",                  // U+00AA
    "LEFT-POINTING DOUBLE ANGLE QUOTATION MARK",   // U+00AB
    "NOT SIGN",                                    // U+00AC
    "SOFT HYPHEN",                                 // U+00AD
    "REGISTERED SIGN",                             // U+00AE
    "MACRON",                                      // U+00AF
    "DEGREE SIGN",                                 // U+00B0
    "PLUS-MINUS SIGN",                             // U+00B1
    "SUPERSCRIPT TWO",                             // U+00B2
    "SUPERSCRIPT THREE",                           // U+00B3
    "ACUTE ACCENT",                                // U+00B4
    "MICRO SIGN",                                  // U+00B5
    "PILCROW SIGN",                                // U+00B6
    "MIDDLE DOT",                                  // U+00B7
    "CEDILLA",                                     // U+00B8
    "SUPERSCRIPT ONE",                             // U+00B9
    "MASCULINE ORDINAL INDICATOR",                 // U+00BA
    "RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK",  // U+00BB
    "VULGAR FRACTION ONE QUARTER",                 // U+00BC
    "VULGAR FRACTION ONE HALF",                    // U+00BD
    "VULGAR FRACTION THREE QUARTERS",              // U+00BE
    "INVERTED QUESTION MARK",                      // U+00BF
    "LATIN CAPITAL LETTER A WITH GRAVE",           // U+00C0
    "LATIN CAPITAL LETTER A WITH ACUTE",           // U+00C1
    "LATIN CAPITAL LETTER A WITH CIRCUMFLEX",      // U+00C2
    "LATIN CAPITAL LETTER A WITH TILDE",           // U+00C3
    "LATIN CAPITAL LETTER A WITH DIAERESIS",       // U+00C4
    "LATIN CAPITAL LETTER A WITH RING ABOVE",      // U+00C5
    "LATIN CAPITAL LETTER AE",                     // U+00C6
    "LATIN CAPITAL LETTER C WITH CEDILLA",         // U+00C7
    "LATIN CAPITAL LETTER E WITH GRAVE",           // U+00C8
    "LATIN CAPITAL LETTER E WITH ACUTE",           // U+00C9
    "LATIN CAPITAL LETTER E WITH CIRCUMFLEX",      // U+00CA
    "LATIN CAPITAL LETTER E WITH DIAERESIS",       // U+00CB
    "LATIN CAPITAL LETTER I WITH GRAVE",           // U+00CC
    "LATIN CAPITAL LETTER I WITH ACUTE",           // U+00CD
    "LATIN CAPITAL LETTER I WITH CIRCUMFLEX",      // U+00CE
    "LATIN CAPITAL LETTER I WITH DIAERESIS",       // U+00CF
    "LATIN CAPITAL LETTER ETH",                    // U+00D0
    "LATIN CAPITAL LETTER N WITH TILDE",           // U+00D1
    "LATIN CAPITAL LETTER O WITH GRAVE",           // U+00D2
    "LATIN CAPITAL LETTER O WITH ACUTE",           // U+00D3
    "LATIN CAPITAL LETTER O WITH CIRCUMFLEX",      // U+00D4
    "LATIN CAPITAL LETTER O WITH TILDE",           // U+00D5
    "LATIN CAPITAL LETTER O WITH DIAERESIS",       // U+00D6
    "MULTIPLICATION SIGN",                         // U+00D7
    "LATIN CAPITAL LETTER O WITH STROKE",          // U+00D8
    "LATIN CAPITAL LETTER U WITH GRAVE",           // U+00D9
    "LATIN CAPITAL LETTER U WITH ACUTE",           // U+00DA
    "LATIN CAPITAL LETTER U WITH CIRCUMFLEX",      // U+00DB
    "LATIN CAPITAL LETTER U WITH DIAERESIS",       // U+00DC
    "LATIN CAPITAL LETTER Y WITH ACUTE",           // U+00DD
    "LATIN CAPITAL LETTER THORN",                  // U+00DE
    "LATIN SMALL LETTER SHARP S",                  // U+00DF
    "LATIN SMALL LETTER A WITH GRAVE",             // U+00E0
    "LATIN SMALL LETTER A WITH ACUTE",             // U+00E1
    "LATIN SMALL LETTER A WITH CIRCUMFLEX",        // U+00E2
    "LATIN SMALL LETTER A WITH TILDE",             // U+00E3
    "LATIN SMALL LETTER A WITH DIAERESIS",         // U+00E4
    "LATIN SMALL LETTER A WITH RING ABOVE",        // U+00E5
    "LATIN SMALL LETTER AE",                       // U+00E6
    "LATIN SMALL LETTER C WITH CEDILLA",           // U+00E7
    "LATIN SMALL LETTER E WITH GRAVE",             // U+00E8
    "LATIN SMALL LETTER E WITH ACUTE",             // U+00E9
    "LATIN SMALL LETTER E WITH CIRCUMFLEX",        // U+00EA
    "LATIN SMALL LETTER E WITH DIAERESIS",         // U+00EB
    "LATIN SMALL LETTER I WITH GRAVE",             // U+00EC
    "LATIN SMALL LETTER I WITH ACUTE",             // U+00ED
    "LATIN SMALL LETTER I WITH CIRCUMFLEX",        // U+00EE
    "LATIN SMALL LETTER I WITH DIAERESIS",         // U+00EF
    "LATIN SMALL LETTER ETH",                      // U+00F0
    "LATIN SMALL LETTER N WITH TILDE",             // U+00F1
    "LATIN SMALL LETTER O WITH GRAVE",             // U+00F2
    "LATIN SMALL LETTER O WITH ACUTE",             // U+00F3
    "LATIN SMALL LETTER O WITH CIRCUMFLEX",        // U+00F4
    "LATIN SMALL LETTER O WITH TILDE",             // U+00F5
    "LATIN SMALL LETTER O WITH DIAERESIS",         // U+00F6
    "DIVISION SIGN",                               // U+00F7
    "LATIN SMALL LETTER O WITH STROKE",            // U+00F8
    "LATIN SMALL LETTER U WITH GRAVE",             // U+00F9
    "LATIN SMALL LETTER U WITH ACUTE",             // U+00FA
    "LATIN SMALL LETTER U WITH CIRCUMFLEX",        // U+00FB
    "LATIN SMALL LETTER U WITH DIAERESIS",         // U+00FC
    "LATIN SMALL LETTER Y WITH ACUTE",             // U+00FD
    "LATIN SMALL LETTER THORN",                    // U+00FE
    "LATIN SMALL LETTER Y WITH DIAERESIS",         // U+00FF
};

// Built-in ranges of names derived by rule (UnicodeData.txt 15.0 "First/Last" pairs).
struct BuiltInRange {
  char32_t first, last;
  bool tangut;
};
constexpr BuiltInRange kIdeographs[] = {
    {0x3400, 0x4DBF, false},   {0x4E00, 0x9FFF, false},   {0x17000, 0x187F7, true},
    {0x18D00, 0x18D08, true},  {0x20000, 0x2A6DF, false}, {0x2A700, 0x2B739, false},
    {0x2B740, 0x2B81D, false}, {0x2B820, 0x2CEA1, false}, {0x2CEB0, 0x2EBE0, false},
    {0x30000, 0x3134A, false}, {0x31350, 0x323AF, false},
};
constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;

std::string hex_name(const char* prefix, char32_t cp) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%04X", prefix, static_cast<unsigned>(cp));
  return buf;
}

// Parses the hex code point field; false when it is not 4 to 6 hex digits.
bool parse_code_point(std::string_view s, char32_t& cp) {
  if (s.size() < 4 || s.size() > 6) return false;
  std::uint32_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<std::uint32_t>(d);
  }
  if (v > 0x10FFFF) return false;
  cp = v;
  return true;
}

// Field i (0-based) of a ';'-separated line, or "" when there are fewer.
std::string_view field(std::string_view line, unsigned i) {
  for (; i > 0; --i) {
    std::size_t semi = line.find(';');
    if (semi == std::string_view::npos) return {};
    line.remove_prefix(semi + 1);
  }
  return line.substr(0, line.find(';'));
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string hangul_syllable_name(char32_t cp) {
  // Unicode 15, section 3.12: S = L * 588 + V * 28 + T.
  static constexpr std::string_view kLead[] = {"G", "GG", "N", "D",  "DD", "R", "M",
                                               "B", "BB", "S", "SS", "",   "J", "JJ",
                                               "C", "K",  "T", "P",  "H"};
  static constexpr std::string_view kVowel[] = {"A",   "AE", "YA", "YAE", "EO", "E",  "YEO",
                                                "YE",  "O",  "WA", "WAE", "OE", "YO", "U",
                                                "WEO", "WE", "WI", "YU",  "EU", "YI", "I"};
  static constexpr std::string_view kTrail[] = {
      "",   "G",  "GG", "GS", "N",  "NJ", "NH", "D",  "L", "LG", "LM", "LB", "LS", "LT",
      "LP", "LH", "M",  "B",  "BS", "S",  "SS", "NG", "J", "C",  "K",  "T",  "P",  "H"};
  const std::uint32_t s = cp - kHangulFirst;
  std::string name = "HANGUL SYLLABLE ";
  name += kLead[s / 588];
  name += kVowel[s % 588 / 28];
  name += kTrail[s % 28];
  return name;
}

UnicodeNames::UnicodeNames() {
  for (char32_t cp = 0; cp < kLatin1Names.size(); ++cp) add(cp, kLatin1Names[cp]);
  for (const auto& r : kIdeographs)
    ranges_.push_back({r.first, r.last, r.tangut ? RangeKind::tangut : RangeKind::cjk});
  ranges_.push_back({kHangulFirst, kHangulLast, RangeKind::hangul});
  std::sort(ranges_.begin(), ranges_.end(),
            [](const Range& a, const Range& b) { return a.first < b.first; });
}

void UnicodeNames::add(char32_t cp, std::string_view name) {
  entries_.push_back(
      {cp, static_cast<std::uint32_t>(text_.size()), static_cast<std::uint32_t>(name.size())});
  text_ += name;
}

UnicodeNames UnicodeNames::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + path + "': " + std::strerror(errno));
  UnicodeNames names;
  names.entries_.clear();
  names.text_.clear();
  names.ranges_.clear();
  std::string line;
  char32_t range_first = 0;
  bool in_range = false;
  while (std::getline(in, line)) {
    char32_t cp;
    if (!parse_code_point(field(line, 0), cp)) continue;
    std::string_view name = field(line, 1);
    if (name.empty()) continue;
    if (name.front() != '<') {
      names.add(cp, name);
    } else if (ends_with(name, ", First>")) {
      range_first = cp;
      in_range = true;
    } else if (ends_with(name, ", Last>")) {
      if (!in_range || cp < range_first) continue;
      in_range = false;
      RangeKind kind = starts_with(name, "<CJK Ideograph")      ? RangeKind::cjk
                       : starts_with(name, "<Tangut Ideograph") ? RangeKind::tangut
                       : starts_with(name, "<Hangul Syllable")  ? RangeKind::hangul
                                                                : RangeKind::unnamed;
      names.ranges_.push_back({range_first, cp, kind});
    } else {
      std::string_view old_name = field(line, 10);  // "<control>": its Unicode 1.0 name
      names.add(cp, old_name.empty() ? name : old_name);
    }
  }
  if (names.entries_.empty() && names.ranges_.empty())
    throw std::runtime_error("'" + path + "' holds no UnicodeData.txt entries");
  std::stable_sort(names.entries_.begin(), names.entries_.end(),
                   [](const Entry& a, const Entry& b) { return a.cp < b.cp; });
  std::sort(names.ranges_.begin(), names.ranges_.end(),
            [](const Range& a, const Range& b) { return a.first < b.first; });
  return names;
}

const std::vector<std::string>& UnicodeNames::default_paths() {
  static const std::vector<std::string> paths = {
      "/usr/share/unicode/UnicodeData.txt",      // Debian, Ubuntu: package unicode-data
      "/usr/share/unicode/ucd/UnicodeData.txt",  // Fedora: unicode-ucd
      "/usr/share/unicode-data/UnicodeData.txt",
  };
  return paths;
}

std::string UnicodeNames::name(char32_t cp) const {
  auto e = std::lower_bound(entries_.begin(), entries_.end(), cp,
                            [](const Entry& x, char32_t c) { return x.cp < c; });
  if (e != entries_.end() && e->cp == cp) return text_.substr(e->offset, e->length);
  auto r = std::upper_bound(ranges_.begin(), ranges_.end(), cp,
                            [](char32_t c, const Range& x) { return c < x.first; });
  if (r == ranges_.begin()) return {};
  --r;
  if (cp > r->last) return {};
  switch (r->kind) {
    case RangeKind::cjk:
      return hex_name("CJK UNIFIED IDEOGRAPH-", cp);
    case RangeKind::tangut:
      return hex_name("TANGUT IDEOGRAPH-", cp);
    case RangeKind::hangul:
      return hangul_syllable_name(cp);
    case RangeKind::unnamed:
      break;
  }
  return {};
}

}  // namespace mr::charfreq
