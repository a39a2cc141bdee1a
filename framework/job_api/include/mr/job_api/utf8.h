// UTF-8 decoding (public: mr::utf8) and the compact Unicode tables the
// tokenizer uses on its slow (non-ASCII) path.
//
// Decoding text a job maps, one code point at a time:
//
//   for (std::size_t pos = 0; pos < text.size();) {
//     char32_t cp = mr::utf8::decode(text, pos);  // U+FFFD for a bad byte
//     ...
//   }
//   // or, when invalid bytes must be told apart from a real U+FFFD:
//   for (mr::utf8::CodePoint c : mr::utf8::code_points(text))
//     if (!c.valid) count_bad_byte(text[c.offset]);
//
// Decoding is strict (RFC 3629): overlong forms, surrogates (U+D800..DFFF),
// values above U+10FFFF, stray continuation bytes and truncated sequences are
// invalid, and decoding resumes at the very next byte, so a valid character
// after garbage is never lost. The functions are pure and thread-safe.
//
// The tables are built once per process from utf8proc (Unicode 15) on first
// use, or eagerly with mr::warm_up_unicode_tables(); after that a lookup is
// two array loads and never calls into utf8proc. Building is thread-safe (a
// function-local static); the tables are read-only afterwards, so they are
// shared by threads and inherited by fork()ed children for free. Build them
// before forking workers to pay the few milliseconds only once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace mr {

// What a code point is to the `unicode` tokenizer.
enum class CharClass : std::uint8_t {
  separator = 0,  // anything else: punctuation, space, symbols, controls, unassigned
  word = 1,       // General Category L*, M* or Nd, outside the CJK ranges
  cjk = 2,        // U+3400–4DBF, U+4E00–9FFF, U+F900–FAFF, U+20000–3FFFF: a word by itself
  apostrophe = 3  // U+0027 or U+2019: joins two word characters
};

// Builds the Unicode tables now instead of at the first non-ASCII character.
// Call before forking workers. Throws std::bad_alloc only.
void warm_up_unicode_tables();

namespace detail {

// Two-stage table: entry = stage2[(stage1[cp >> kBlockBits] << kBlockBits) |
// (cp & kBlockMask)]; an entry holds the CharClass in its low 8 bits and the
// signed delta from cp to its simple lowercase mapping in the upper 24 bits.
struct UnicodeTables {
  static constexpr unsigned kBlockBits = 7;
  static constexpr std::uint32_t kBlockMask = (1u << kBlockBits) - 1;
  const std::uint16_t* stage1 = nullptr;
  const std::int32_t* stage2 = nullptr;
  std::size_t unique_blocks = 0;  // for tests and curiosity

  std::int32_t entry(char32_t cp) const noexcept {
    return stage2[(std::uint32_t{stage1[cp >> kBlockBits]} << kBlockBits) | (cp & kBlockMask)];
  }
  CharClass char_class(char32_t cp) const noexcept {
    return static_cast<CharClass>(entry(cp) & 0xff);
  }
  char32_t to_lower(char32_t cp) const noexcept {
    return static_cast<char32_t>(static_cast<std::int32_t>(cp) + (entry(cp) >> 8));
  }
};

// The process-wide tables, built on first call (thread-safe).
const UnicodeTables& unicode_tables();

// Decodes one strict UTF-8 sequence at p (p < end). Returns its length (1..4)
// and stores the code point in cp, or returns 0 for an invalid sequence:
// stray continuation byte, overlong form (C0, C1, E0 80..9F, F0 80..8F),
// surrogate (ED A0..BF), above U+10FFFF (F4 90.., F5..FF) or truncated. The
// caller skips one byte on 0, so a valid character after garbage is never lost.
inline unsigned decode_utf8(const unsigned char* p, const unsigned char* end, char32_t& cp) noexcept {
  const unsigned b0 = p[0];
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  const std::ptrdiff_t avail = end - p;
  auto cont = [](unsigned b) { return (b & 0xC0u) == 0x80u; };
  if (b0 < 0xC2) return 0;
  if (b0 < 0xE0) {
    if (avail < 2 || !cont(p[1])) return 0;
    cp = ((b0 & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    return 2;
  }
  if (b0 < 0xF0) {
    if (avail < 3) return 0;
    const unsigned b1 = p[1];
    const unsigned lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const unsigned hi = b0 == 0xED ? 0x9F : 0xBF;
    if (b1 < lo || b1 > hi || !cont(p[2])) return 0;
    cp = ((b0 & 0x0Fu) << 12) | ((b1 & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    return 3;
  }
  if (b0 < 0xF5) {
    if (avail < 4) return 0;
    const unsigned b1 = p[1];
    const unsigned lo = b0 == 0xF0 ? 0x90 : 0x80;
    const unsigned hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (b1 < lo || b1 > hi || !cont(p[2]) || !cont(p[3])) return 0;
    cp = ((b0 & 0x07u) << 18) | ((b1 & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    return 4;
  }
  return 0;
}

// Appends the UTF-8 encoding of a valid scalar value cp at out; returns the
// number of bytes written (1..4). out must have room for 4 bytes.
inline unsigned encode_utf8(char32_t cp, char* out) noexcept {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

}  // namespace detail

namespace utf8 {

// U+FFFD REPLACEMENT CHARACTER: what decode() returns for an invalid byte.
inline constexpr char32_t kReplacement = 0xFFFD;

// One decoded character of a text.
struct CodePoint {
  char32_t value = kReplacement;  // the code point; kReplacement when !valid
  std::size_t offset = 0;         // byte offset of its first byte in the text
  unsigned length = 1;            // bytes it took: 1..4 (1 for an invalid byte)
  bool valid = true;              // false: text[offset] begins no valid sequence
};

// Decodes the character at byte `pos` of `s` (pos < s.size()); never throws.
// An invalid byte gives {kReplacement, pos, 1, false}.
inline CodePoint decode_at(std::string_view s, std::size_t pos) noexcept {
  auto begin = reinterpret_cast<const unsigned char*>(s.data());
  char32_t cp = 0;
  unsigned n = detail::decode_utf8(begin + pos, begin + s.size(), cp);
  if (n == 0) return CodePoint{kReplacement, pos, 1, false};
  return CodePoint{cp, pos, n, true};
}

// Decodes the character at byte `pos` of `s` (pos < s.size()) and advances
// pos past it: by its length, or by one byte for an invalid sequence, which
// decodes as U+FFFD.
inline char32_t decode(std::string_view s, std::size_t& pos) noexcept {
  CodePoint c = decode_at(s, pos);
  pos += c.length;
  return c.value;
}

// True when all of `s` is valid UTF-8.
inline bool is_valid(std::string_view s) noexcept {
  for (std::size_t pos = 0; pos < s.size();) {
    CodePoint c = decode_at(s, pos);
    if (!c.valid) return false;
    pos += c.length;
  }
  return true;
}

// Appends the UTF-8 form of `cp` to `out`; a surrogate or a value above
// U+10FFFF appends U+FFFD.
inline void append(std::string& out, char32_t cp) {
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = kReplacement;
  char buf[4];
  out.append(buf, detail::encode_utf8(cp, buf));
}

// A forward range over the characters of a text (see CodePoint); the text
// must outlive it. `for (CodePoint c : code_points(s))`.
class CodePoints {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = CodePoint;
    using difference_type = std::ptrdiff_t;
    using pointer = const CodePoint*;
    using reference = const CodePoint&;

    iterator() = default;
    iterator(std::string_view s, std::size_t pos) : s_(s) { load(pos); }
    reference operator*() const { return current_; }
    pointer operator->() const { return &current_; }
    iterator& operator++() {
      load(current_.offset + current_.length);
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) {
      return a.current_.offset == b.current_.offset;
    }

   private:
    void load(std::size_t pos) {
      if (pos < s_.size()) {
        current_ = decode_at(s_, pos);
      } else {
        current_ = CodePoint{kReplacement, s_.size(), 0, false};
      }
    }
    std::string_view s_;
    CodePoint current_{kReplacement, 0, 0, false};
  };

  explicit CodePoints(std::string_view s) : s_(s) {}
  iterator begin() const { return iterator(s_, 0); }
  iterator end() const { return iterator(s_, s_.size()); }

 private:
  std::string_view s_;
};

// The characters of `s`, decoded lazily.
inline CodePoints code_points(std::string_view s) { return CodePoints(s); }

}  // namespace utf8
}  // namespace mr
