// UTF-8 decoding and the compact Unicode tables the tokenizer uses on its
// slow (non-ASCII) path.
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
}  // namespace mr
