// charfreq: how often each Unicode character occurs in UTF-8 input, with
// the character's name.
//
// Output, one line per character, by count (highest first), then code point:
//   U+0065<TAB>e<TAB>53120<TAB>LATIN SMALL LETTER E
//   U+000A<TAB>\n<TAB>12306<TAB>LINE FEED (LF)
// Every byte counts, newlines and carriage returns included. Characters that
// would disturb the output are shown escaped in the second column: \t, \n
// and \r, \xNN for the other ASCII controls and DEL, \uNNNN for the C1
// controls (U+0080–U+009F), U+2028 and U+2029. The name column is empty when
// no name is known (see unicode_names.h for where names come from: built-in
// for U+0000–U+00FF, CJK, Tangut and Hangul; every character with a
// UnicodeData.txt, found in /usr/share/unicode/ or named by --opt names=FILE).
//
// Invalid UTF-8 is counted, not skipped: each byte that does not begin a
// valid sequence (stray continuation byte, overlong form, surrogate, above
// U+10FFFF, truncated sequence) counts once under its own value, sorted
// after the characters of equal count, as
//   0xFF<TAB>\xFF<TAB>3<TAB><invalid UTF-8 byte>
// and the user counter "invalid bytes" (--stats) sums them. Decoding resumes
// at the next byte, so a valid character after garbage is never lost.
//
// Chunks are cut after ASCII whitespace (the engine's default for map()),
// which is never inside a UTF-8 sequence, so the counts do not depend on -j
// or --chunk-size.
#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include "mr/job_api/plugin.h"
#include "mr/job_api/utf8.h"
#include "unicode_names.h"

namespace {

using mr::charfreq::UnicodeNames;

// Keys above U+10FFFF are invalid bytes: kInvalid + byte value.
constexpr std::uint32_t kInvalid = 0x110000;

struct CharFreq : mr::MapReduceJob<std::uint32_t, std::uint64_t> {
  std::string names_path;  // "" = search the default paths; "none" = built-in only
  // Loaded on first format(), which runs in the master only: workers never
  // pay for reading the file. Shared by copies of the job.
  mutable std::shared_ptr<const UnicodeNames> names;

  static std::vector<mr::OptionSpec> options() {
    return {{"names",
             "UnicodeData.txt to take character names from; 'none': built-in names only "
             "(U+0000-U+00FF, CJK, Tangut, Hangul)",
             "/usr/share/unicode/UnicodeData.txt if installed (Debian package unicode-data)"}};
  }

  void setup(const mr::JobOptions& o) {
    names_path = o.get("names");
    if (names_path.empty() && o.has("names"))
      throw std::invalid_argument("option 'names': expected a file or 'none'");
    if (!names_path.empty() && names_path != "none" && ::access(names_path.c_str(), R_OK) != 0)
      throw std::invalid_argument("option 'names': cannot read '" + names_path + "'");
  }

  void map(std::string_view chunk, Context& ctx) {
    // Count locally first: one hash-map update per distinct character per
    // chunk instead of one per byte.
    std::array<std::uint64_t, 128> ascii{};
    std::unordered_map<std::uint32_t, std::uint64_t> other;
    std::uint64_t invalid = 0;
    for (std::size_t pos = 0; pos < chunk.size();) {
      auto byte = static_cast<unsigned char>(chunk[pos]);
      if (byte < 0x80) {
        ++ascii[byte];
        ++pos;
        continue;
      }
      mr::utf8::CodePoint c = mr::utf8::decode_at(chunk, pos);
      if (c.valid) {
        ++other[static_cast<std::uint32_t>(c.value)];
      } else {
        ++other[kInvalid + byte];
        ++invalid;
      }
      pos += c.length;
    }
    for (std::uint32_t c = 0; c < ascii.size(); ++c)
      if (ascii[c]) ctx.emit(c, ascii[c]);
    for (const auto& [k, n] : other) ctx.emit(k, n);
    if (invalid) ctx.count("invalid bytes", static_cast<std::int64_t>(invalid));
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::uint32_t& key, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(key, n);
  }
  bool before(const std::uint32_t& ka, const std::uint64_t& na, const std::uint32_t& kb,
              const std::uint64_t& nb) const {
    return na != nb ? na > nb : ka < kb;
  }

  // --format csv|json: {code_point, char, count, name} ("0xFF", "\\xFF", n,
  // "<invalid UTF-8 byte>" for an invalid byte).
  static std::vector<std::string> columns() { return {"code_point", "char", "count", "name"}; }
  void record(const std::uint32_t& key, const std::uint64_t& n, mr::Record& r) const {
    char buf[32];
    if (key >= kInvalid) {
      std::snprintf(buf, sizeof buf, "0x%02X", key - kInvalid);
      r.field("code_point", std::string(buf));
      std::snprintf(buf, sizeof buf, "\\x%02X", key - kInvalid);
      r.field("char", std::string(buf)).field("count", n).field("name", "<invalid UTF-8 byte>");
      return;
    }
    std::snprintf(buf, sizeof buf, "U+%04X", key);
    std::string shown;
    append_shown(shown, key);
    r.field("code_point", std::string(buf)).field("char", shown).field("count", n);
    r.field("name", names_table().name(key));
  }

  std::string format(const std::uint32_t& key, const std::uint64_t& n) const {
    char buf[32];
    if (key >= kInvalid) {
      std::snprintf(buf, sizeof buf, "0x%02X\t\\x%02X\t", key - kInvalid, key - kInvalid);
      return buf + std::to_string(n) + "\t<invalid UTF-8 byte>";
    }
    std::snprintf(buf, sizeof buf, "U+%04X\t", key);
    std::string line = buf;
    append_shown(line, key);
    line += '\t';
    line += std::to_string(n);
    line += '\t';
    line += names_table().name(key);
    return line;
  }

 private:
  static void append_shown(std::string& out, std::uint32_t cp) {
    char buf[16];
    if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02X", cp);
      out += buf;
    } else if ((cp >= 0x80 && cp < 0xA0) || cp == 0x2028 || cp == 0x2029) {
      std::snprintf(buf, sizeof buf, "\\u%04X", cp);
      out += buf;
    } else {
      mr::utf8::append(out, cp);
    }
  }

  const UnicodeNames& names_table() const {
    if (!names) {
      if (names_path == "none") {
        names = std::make_shared<UnicodeNames>();
      } else if (!names_path.empty()) {
        names = std::make_shared<UnicodeNames>(UnicodeNames::from_file(names_path));
      } else {
        for (const auto& p : UnicodeNames::default_paths()) {
          if (::access(p.c_str(), R_OK) != 0) continue;
          try {
            names = std::make_shared<UnicodeNames>(UnicodeNames::from_file(p));
            break;
          } catch (const std::runtime_error&) {
            // An unreadable or empty system file: try the next, then built-in names.
          }
        }
        if (!names) names = std::make_shared<UnicodeNames>();
      }
    }
    return *names;
  }
};

}  // namespace

MR_PLUGIN(CharFreq, "charfreq", "frequency of each Unicode character (UTF-8), with its name")
