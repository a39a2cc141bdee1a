// The word tokenizers of the job API: `unicode` (the default) and
// `whitespace` (Hadoop style), both callback-driven and allocation-free per
// word.
//
// `unicode` rules:
//  - Input is UTF-8. A word character is a code point of General Category
//    L*, M* or Nd; a word is a maximal run of word characters.
//  - Every code point in U+3400–4DBF, U+4E00–9FFF, U+F900–FAFF and
//    U+20000–3FFFF (CJK) is a word by itself and ends a preceding word.
//  - An apostrophe (U+0027 or U+2019) between two non-CJK word characters
//    belongs to the word and is written as U+0027: "don’t" -> `don't`.
//  - Words are lowercased code point by code point with the simple Unicode
//    lowercase mapping (no normalization, no special casing).
//  - Invalid UTF-8 (overlong, surrogates, > U+10FFFF, truncated, stray
//    continuation bytes) separates words; decoding resumes at the next byte,
//    so a valid character after garbage is never lost.
// `whitespace` rules: a word is a maximal run of bytes other than ASCII
// whitespace (space, \t, \n, \v, \f, \r). Bytes are kept as they are except
// that, unless keep_case is set, ASCII letters and valid UTF-8 code points
// are lowercased with the same simple mapping (invalid bytes are copied).
//
// Speed: both tokenizers read all-ASCII stretches of text in 64-byte blocks
// (SSE2, part of x86-64): byte-class bit masks give every word start and end
// with shifts and bit counts, and the block is copied, lowercased, into a
// buffer the words are handed out from, in batches (see for_each_word_batch
// below). The text around bytes >= 0x80 goes to the general loops: a
// decoder and the two-stage tables of utf8.h.
//
// Thread-safety: tokenize() is reentrant; it reads only the process-wide
// read-only Unicode tables (see utf8.h). Fork-safe.
//
// Example:
//   mr::tokenize("Don’t PANIC", {}, [](std::string_view w) { ... });
//   // calls back with "don't", then "panic"
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "mr/job_api/utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mr {

enum class TokenizerKind : std::uint8_t {
  unicode,    // Unicode letters, marks and digits; CJK ideographs one by one
  whitespace  // runs of non-whitespace bytes, as Hadoop's WordCount
};

// Unicode normalization of each word (UAX #15, by utf8proc), so that
// canonically equivalent spellings count as one word: precomposed "é" and
// "e" + U+0301 are one word under nfc. nfkc also folds compatibility
// characters ("ﬁ" → "fi", full-width "Ａ" → "a", "²" → "2"); a word whose
// normal form holds separators (NFKC of "¼" is "1⁄4") is split there.
// Lowercasing applies to the normal form. An all-ASCII word is its own
// normal form, so plain ASCII text pays one byte scan per non-ASCII word.
enum class Normalization : std::uint8_t { none, nfc, nfkc };

struct TokenizerOptions {
  TokenizerKind kind = TokenizerKind::unicode;
  bool keep_case = false;  // true: no lowercasing
  Normalization normalize = Normalization::none;
};

// "unicode" or "whitespace" -> the kind; anything else throws
// std::invalid_argument naming the accepted values.
TokenizerKind parse_tokenizer_kind(std::string_view name);
// The name parse_tokenizer_kind() accepts for `kind`.
std::string_view to_string(TokenizerKind kind) noexcept;
// "none", "nfc" or "nfkc" -> the form; anything else throws
// std::invalid_argument naming the accepted values.
Normalization parse_normalization(std::string_view name);
std::string_view to_string(Normalization form) noexcept;

// Moves a proposed chunk boundary `near` forward to the first position p >=
// near where cutting `data` into [0, p) and [p, size) and tokenizing each part
// separately yields exactly the words of tokenizing `data` whole: a position
// holding an ASCII separator byte (ASCII whitespace for `whitespace`; any
// ASCII byte but letters, digits and U+0027 for `unicode`). Such a cut never
// splits a word, an apostrophe join or a UTF-8 sequence. Returns data.size()
// when no such position exists at or after `near`, and 0 for near == 0.
std::size_t safe_split_point(std::string_view data, std::size_t near,
                             const TokenizerOptions& options = {}) noexcept;

namespace detail {

// Byte classes for the ASCII fast path. Bytes >= 0x80 are only kHigh.
inline constexpr std::uint8_t kByteWord = 0x01;       // ASCII letter or digit
inline constexpr std::uint8_t kByteApostrophe = 0x02; // U+0027
inline constexpr std::uint8_t kByteHigh = 0x04;       // >= 0x80: slow path
inline constexpr std::uint8_t kByteSpace = 0x08;      // ASCII whitespace
inline constexpr std::uint8_t kByteAsciiSep = 0x10;   // ASCII, not word, not apostrophe
inline constexpr std::uint8_t kByteUpper = 0x20;      // A-Z; equal to the case bit

struct ByteClasses {
  std::uint8_t v[256];
};

constexpr ByteClasses make_byte_classes() {
  ByteClasses t{};
  for (unsigned b = 0; b < 256; ++b) {
    std::uint8_t c = 0;
    const bool upper = b >= 'A' && b <= 'Z';
    const bool word = upper || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9');
    if (b >= 0x80) {
      c = kByteHigh;
    } else if (word) {
      c = kByteWord | (upper ? kByteUpper : 0);
    } else if (b == '\'') {
      c = kByteApostrophe;
    } else {
      c = kByteAsciiSep;
    }
    if (b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r') c |= kByteSpace;
    t.v[b] = c;
  }
  return t;
}

inline constexpr ByteClasses kByteClasses = make_byte_classes();

// ASCII lowercase through the class table: sets the case bit of A-Z only.
inline char ascii_lower(unsigned char b) noexcept {
  return static_cast<char>(b | (kByteClasses.v[b] & kByteUpper));
}


// 16 bytes classified at once (SSE2 is part of x86-64, so no dispatch):
// bit i of each mask describes byte i.
struct ByteMasks {
  unsigned word;   // ASCII letter or digit
  unsigned upper;  // A-Z
  unsigned high;   // >= 0x80
  unsigned space;  // ASCII whitespace
};

#if defined(__SSE2__)
inline constexpr bool kHaveSimdScan = true;

inline ByteMasks classify16(const unsigned char* p) noexcept {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // Range checks with signed compares: adding 0x80 - lo maps [lo, hi] onto
  // [-128, -128 + hi - lo]; bytes >= 0x80 never land there.
  auto in_range = [](__m128i x, char lo, int len) {
    const __m128i shifted = _mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
    return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(-128 + len)));
  };
  const __m128i letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 26);
  const __m128i digit = in_range(v, '0', 10);
  const __m128i upper = in_range(v, 'A', 26);
  const __m128i space = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), in_range(v, '\t', 5));
  return {static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(letter, digit))),
          static_cast<unsigned>(_mm_movemask_epi8(upper)), static_cast<unsigned>(_mm_movemask_epi8(v)),
          static_cast<unsigned>(_mm_movemask_epi8(space))};
}
#else
inline constexpr bool kHaveSimdScan = false;
inline ByteMasks classify16(const unsigned char*) noexcept { return {}; }
#endif

// Bit masks of a 64-byte window of the text, kept while the tokenizer moves
// through it: finding the next word start or word end is then a shift and
// a count of trailing zeros, with no per-byte loop and no load on the
// critical path. The window is reloaded at the current position when it is
// used up; the last 63 bytes of a text go through the scalar loops.
class MaskWindow {
 public:
  explicit MaskWindow(const unsigned char* end) noexcept : end_(end) {}

  // First position at or after p holding an ASCII word character or a byte
  // >= 0x80 (a possible start of a `unicode` word), or end.
  const unsigned char* skip_separators(const unsigned char* p) noexcept {
    for (;;) {
      std::size_t off;
      if (!cover(p, off)) {
        while (p < end_ && !(kByteClasses.v[*p] & (kByteWord | kByteHigh))) ++p;
        return p;
      }
      if (const std::uint64_t stop = (word_ | high_) >> off) return p + __builtin_ctzll(stop);
      p = base_ + 64;
    }
  }

  // End of the run of ASCII letters and digits from p; sets `upper` non-zero
  // if the run holds a capital.
  const unsigned char* skip_ascii_word(const unsigned char* p, std::uint64_t& upper) noexcept {
    for (;;) {
      std::size_t off;
      if (!cover(p, off)) {
        unsigned c;
        while (p < end_ && ((c = kByteClasses.v[*p]) & kByteWord)) {
          upper |= c & kByteUpper;
          ++p;
        }
        return p;
      }
      const std::uint64_t stop = ~word_ >> off;  // bits past the window read as "word"
      if (stop) {
        const unsigned n = static_cast<unsigned>(__builtin_ctzll(stop));
        upper |= (upper_ >> off) & ((std::uint64_t{1} << n) - 1);
        return p + n;
      }
      upper |= upper_ >> off;
      p = base_ + 64;
    }
  }

  // First position at or after p that is not ASCII whitespace, or end.
  const unsigned char* skip_space(const unsigned char* p) noexcept {
    for (;;) {
      std::size_t off;
      if (!cover(p, off)) {
        while (p < end_ && (kByteClasses.v[*p] & kByteSpace)) ++p;
        return p;
      }
      if (const std::uint64_t stop = ~space_ >> off) return p + __builtin_ctzll(stop);
      p = base_ + 64;
    }
  }

  // End of the run of non-whitespace bytes from p; sets `upper` / `high`
  // non-zero if it holds a capital / a byte >= 0x80.
  const unsigned char* skip_non_space(const unsigned char* p, std::uint64_t& upper, std::uint64_t& high) noexcept {
    for (;;) {
      std::size_t off;
      if (!cover(p, off)) {
        unsigned c;
        while (p < end_ && !((c = kByteClasses.v[*p]) & kByteSpace)) {
          upper |= c & kByteUpper;
          high |= c & kByteHigh;
          ++p;
        }
        return p;
      }
      const std::uint64_t stop = space_ >> off;
      if (stop) {
        const unsigned n = static_cast<unsigned>(__builtin_ctzll(stop));
        const std::uint64_t in = (std::uint64_t{1} << n) - 1;
        upper |= (upper_ >> off) & in;
        high |= (high_ >> off) & in;
        return p + n;
      }
      upper |= upper_ >> off;
      high |= high_ >> off;
      p = base_ + 64;
    }
  }

 private:
  // Makes the window hold p; false when fewer than 64 bytes are left there.
  bool cover(const unsigned char* p, std::size_t& off) noexcept {
    if constexpr (kHaveSimdScan) {
      if (base_ && (off = static_cast<std::size_t>(p - base_)) < 64) return true;
      if (end_ - p < 64) return false;
      base_ = p;
      off = 0;
      word_ = upper_ = high_ = space_ = 0;
      for (unsigned i = 0; i < 4; ++i) {
        const ByteMasks m = classify16(p + 16 * i);
        word_ |= std::uint64_t{m.word} << (16 * i);
        upper_ |= std::uint64_t{m.upper} << (16 * i);
        high_ |= std::uint64_t{m.high} << (16 * i);
        space_ |= std::uint64_t{m.space} << (16 * i);
      }
      return true;
    } else {
      (void)p;
      off = 0;
      return false;
    }
  }

  const unsigned char* const end_;
  const unsigned char* base_ = nullptr;
  std::uint64_t word_ = 0, upper_ = 0, high_ = 0, space_ = 0;
};

// Opt-in hook for consumers that lowercase cheaper themselves (count_words):
// when emit is also callable as emit(std::string_view, RawAsciiCapitals), an
// all-ASCII word holding capitals is passed that way, unlowered.
struct RawAsciiCapitals {};

template <class Emit>
[[gnu::always_inline]] inline void emit_ascii_word(const unsigned char* start, const unsigned char* end, bool lower,
                                                   std::string& buf, Emit& emit) {
  const auto n = static_cast<std::size_t>(end - start);
  if constexpr (std::is_invocable_v<Emit&, std::string_view, RawAsciiCapitals>) {
    if (lower) {
      emit(std::string_view(reinterpret_cast<const char*>(start), n), RawAsciiCapitals{});
      return;
    }
  }
  if (!lower) {
    emit(std::string_view(reinterpret_cast<const char*>(start), n));
    return;
  }
  buf.resize(n);
  for (std::size_t i = 0; i < n; ++i) buf[i] = ascii_lower(start[i]);
  emit(std::string_view(buf));
}

// Finishes a word of the unicode tokenizer from p on. [start, p) holds the
// word so far: ASCII word characters and joined ASCII apostrophes (the last
// one a word character), or nothing when *p starts the word with a non-ASCII
// word character. `rewrite` says whether the prefix needs lowercasing. Emits
// the word and returns the position after it.
template <bool KeepCase, class Emit>
[[gnu::noinline]] const unsigned char* finish_unicode_word(const unsigned char* start, const unsigned char* p,
                                         const unsigned char* end, bool rewrite, const UnicodeTables& t,
                                         std::string& buf, Emit& emit) {
  if (rewrite) {
    buf.resize(static_cast<std::size_t>(p - start));
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = ascii_lower(start[i]);
  }
  // From here the original bytes stay usable as the word (no copy) until the
  // first code point that changes: then the prefix moves to buf.
  auto start_rewriting = [&] {
    if (!rewrite) {
      buf.assign(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p - start));
      rewrite = true;
    }
  };
  while (p < end) {
    char32_t cp;
    const unsigned n = decode_utf8(p, end, cp);
    if (n == 0) break;
    const std::int32_t e = t.entry(cp);
    const auto cls = static_cast<CharClass>(e & 0xff);
    if (cls == CharClass::word) {
      if constexpr (!KeepCase) {
        if ((e >> 8) != 0) {
          start_rewriting();
          char tmp[4];
          buf.append(tmp, encode_utf8(static_cast<char32_t>(static_cast<std::int32_t>(cp) + (e >> 8)), tmp));
          p += n;
          continue;
        }
      }
      if (rewrite) buf.append(reinterpret_cast<const char*>(p), n);
      p += n;
      continue;
    }
    if (cls != CharClass::apostrophe) break;  // separator or CJK ends the word
    // The character before is a word character (loop invariant); join the
    // apostrophe only if a non-CJK word character follows.
    const unsigned char* q = p + n;
    char32_t next;
    if (q >= end || decode_utf8(q, end, next) == 0 || t.char_class(next) != CharClass::word) break;
    if (n != 1) start_rewriting();  // U+2019 is written as U+0027
    if (rewrite) buf.push_back('\'');
    p = q;
  }
  emit(rewrite ? std::string_view(buf)
               : std::string_view(reinterpret_cast<const char*>(start), static_cast<std::size_t>(p - start)));
  return p;
}

// The `unicode` tokenizer on any text, code point by code point past the
// ASCII fast path (tokenize_unicode() sends it the text around non-ASCII
// bytes).
template <bool KeepCase, class Emit>
void tokenize_unicode_general(std::string_view text, Emit& emit) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  const UnicodeTables* tables = nullptr;  // fetched at the first non-ASCII byte
  std::string buf;
  MaskWindow window(end);
  for (;;) {
    p = window.skip_separators(p);  // apostrophes after no word are skipped too
    if (p == end) break;
    if (*p < 0x80) {
      // ASCII fast path: letters, digits and apostrophes between them.
      const unsigned char* const start = p;
      std::uint64_t upper = 0;
      for (;;) {
        p = window.skip_ascii_word(p, upper);
        if (p + 1 < end && *p == '\'' && (kByteClasses.v[p[1]] & kByteWord)) {
          ++p;
          continue;
        }
        break;
      }
      const bool lower = !KeepCase && upper != 0;
      if (p < end && (*p >= 0x80 || (*p == '\'' && p + 1 < end && p[1] >= 0x80))) {
        if (!tables) tables = &unicode_tables();
        p = finish_unicode_word<KeepCase>(start, p, end, lower, *tables, buf, emit);
      } else {
        emit_ascii_word(start, p, lower, buf, emit);
      }
      continue;
    }
    if (!tables) tables = &unicode_tables();
    char32_t cp;
    const unsigned n = decode_utf8(p, end, cp);
    if (n == 0) {  // invalid: skip one byte and decode again
      ++p;
      continue;
    }
    const auto k = tables->char_class(cp);
    if (k == CharClass::word) {
      p = finish_unicode_word<KeepCase>(p, p, end, false, *tables, buf, emit);
    } else {
      // CJK ideographs have no case mapping: emitted as they are.
      if (k == CharClass::cjk) emit(std::string_view(reinterpret_cast<const char*>(p), n));
      p += n;
    }
  }
}

#if defined(__SSE2__)

// The batched ASCII path of the `unicode` tokenizer. Text is cut (at
// safe_split_point positions, so the words do not change) into all-ASCII
// stretches and the rest. A stretch is read in 64-byte blocks: bit masks of
// letters, digits and apostrophes give every word start and end with shifts
// and bit counts and no per-word branch, and the block is copied, lowercased,
// into a buffer. The words' positions go to an array, handed on in batches:
// whoever consumes them runs a tight loop of its own (count_words hashes,
// prefetches and probes; tokenize() calls emit). The rest of the text goes
// to tokenize_unicode_general().

inline constexpr std::size_t kAsciiBatch = 256;  // words per batch (a few more at times)
inline constexpr std::size_t kAsciiSlack = 80;   // buffer bytes needed past a stretch

// The buffer a stretch is copied into: on the stack for a short text (a
// map_line job tokenizes one line at a time), 64 KiB on the heap otherwise.
class AsciiStretchBuffer {
 public:
  explicit AsciiStretchBuffer(std::size_t text_size)
      : window_(text_size <= kSmall ? kSmall : kLarge),
        heap_(window_ == kLarge ? new char[kLarge + kAsciiSlack] : nullptr) {}
  ~AsciiStretchBuffer() { delete[] heap_; }
  AsciiStretchBuffer(const AsciiStretchBuffer&) = delete;
  AsciiStretchBuffer& operator=(const AsciiStretchBuffer&) = delete;
  char* data() noexcept { return heap_ ? heap_ : small_; }
  // The longest stretch it holds.
  std::size_t window() const noexcept { return window_; }

 private:
  static constexpr std::size_t kSmall = 2048;
  static constexpr std::size_t kLarge = 64 * 1024;
  const std::size_t window_;
  char* const heap_;
  char small_[kSmall + kAsciiSlack];
};

struct AsciiBlockMasks {
  std::uint64_t word;        // ASCII letter or digit
  std::uint64_t apostrophe;  // U+0027
};

// Classifies the 64 ASCII bytes at p and writes them to out, lowercased
// unless KeepCase (p == out is allowed). `word`: the bytes a word of Kind is
// made of (for `whitespace` every byte but ASCII whitespace), `apostrophe`
// (`unicode` only) the ones that join two words' worth of them.
template <TokenizerKind Kind, bool KeepCase>
[[gnu::always_inline]] inline AsciiBlockMasks classify_ascii64(const char* p, char* out) noexcept {
  AsciiBlockMasks m{0, 0};
  for (unsigned i = 0; i < 4; ++i) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    // Range checks as in classify16.
    auto in_range = [](__m128i x, char lo, int len) {
      const __m128i shifted = _mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
      return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(-128 + len)));
    };
    __m128i lower = v;
    if constexpr (!KeepCase)
      lower = _mm_or_si128(v, _mm_and_si128(in_range(v, 'A', 26), _mm_set1_epi8(0x20)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * i), lower);
    if constexpr (Kind == TokenizerKind::unicode) {
      const __m128i letter = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 26);
      const __m128i digit = in_range(v, '0', 10);
      const __m128i apostrophe = _mm_cmpeq_epi8(v, _mm_set1_epi8('\''));
      const auto word = static_cast<std::uint16_t>(_mm_movemask_epi8(_mm_or_si128(letter, digit)));
      m.word |= std::uint64_t{word} << (16 * i);
      m.apostrophe |= std::uint64_t{static_cast<std::uint16_t>(_mm_movemask_epi8(apostrophe))}
                      << (16 * i);
    } else {
      const __m128i space =
          _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), in_range(v, '\t', 5));
      const auto word = static_cast<std::uint16_t>(~_mm_movemask_epi8(space));
      m.word |= std::uint64_t{word} << (16 * i);
    }
  }
  return m;
}

// Bits set in x, inline: the baseline x86-64 has no POPCNT instruction, and
// __builtin_popcountll would be a library call.
inline std::size_t popcount64(std::uint64_t x) noexcept {
  x -= (x >> 1) & 0x5555555555555555ULL;
  x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
  return static_cast<std::size_t>((x * 0x0101010101010101ULL) >> 56);
}

// Appends base + i to out[n...] for each set bit i. The first 8 are written
// whatever the count (a loop's exit per block mispredicts often): with the
// top bit forced on, ctz is defined, and the extra entries lie past the new
// n, to be overwritten; out needs 8 entries of room past it.
inline constexpr std::size_t kAsciiUnrolled = 8;
[[gnu::always_inline]] inline void append_bit_positions(std::uint64_t bits, const char* base,
                                                        const char** out, std::size_t& n) noexcept {
  const std::size_t count = popcount64(bits);
  const char** o = out + n;
  for (std::size_t i = 0; i < kAsciiUnrolled; ++i) {
    o[i] = base + __builtin_ctzll(bits | (std::uint64_t{1} << 63));
    bits &= bits - 1;
  }
  for (std::size_t i = kAsciiUnrolled; i < count; ++i) {
    o[i] = base + __builtin_ctzll(bits);
    bits &= bits - 1;
  }
  n += count;
}

// The words of Kind in [begin, end): all ASCII, at most buffer.window()
// bytes, and cut at safe split points (so nothing outside it joins its first
// or last bytes to a word). Calls drain(const char* const* starts, const
// char* const* ends, std::size_t n) with batches of complete words in text
// order: word i is [starts[i], ends[i]) inside the buffer, lowercased unless
// KeepCase, and 16 bytes from each start are readable.
template <TokenizerKind Kind, bool KeepCase, class Drain>
void scan_ascii_stretch(const char* begin, const char* end, AsciiStretchBuffer& buffer,
                        Drain& drain) {
  // A block adds at most 32 starts and 32 ends, plus the unrolled writes.
  const char* starts[kAsciiBatch + 64 + kAsciiUnrolled];
  const char* ends[kAsciiBatch + 64 + kAsciiUnrolled];
  std::size_t n_starts = 0, n_ends = 0;
  std::uint64_t prev_word = 0;  // bit 0: the byte before the block is a letter or digit
  std::uint64_t prev_in = 0;    // bit 0: the byte before the block is inside a word
  char* out = buffer.data();
  for (const char* base = begin; base < end; base += 64, out += 64) {
    AsciiBlockMasks m;
    if (end - base >= 64) {
      m = classify_ascii64<Kind, KeepCase>(base, out);
    } else {  // the tail, padded with spaces (in the buffer's slack)
      std::memset(out, ' ', 64);
      std::memcpy(out, base, static_cast<std::size_t>(end - base));
      m = classify_ascii64<Kind, KeepCase>(out, out);
    }
    const std::uint64_t next_word =
        end - base > 64 && (kByteClasses.v[static_cast<unsigned char>(base[64])] & kByteWord) ? 1
                                                                                              : 0;
    // An apostrophe joins when a letter or digit is on both sides.
    const std::uint64_t joined =
        m.apostrophe & ((m.word << 1) | prev_word) & ((m.word >> 1) | (next_word << 63));
    const std::uint64_t in = m.word | joined;
    const std::uint64_t before = (in << 1) | prev_in;
    append_bit_positions(in & ~before, out, starts, n_starts);
    append_bit_positions(~in & before, out, ends, n_ends);
    prev_word = m.word >> 63;
    prev_in = in >> 63;
    if (n_ends >= kAsciiBatch) {
      drain(static_cast<const char* const*>(starts), static_cast<const char* const*>(ends), n_ends);
      if (n_starts > n_ends) starts[0] = starts[n_ends];  // a word still open
      n_starts -= n_ends;
      n_ends = 0;
    }
  }
  if (prev_in) ends[n_ends++] = out;
  if (n_ends)
    drain(static_cast<const char* const*>(starts), static_cast<const char* const*>(ends), n_ends);
}

// The first byte >= 0x80 in [p, end), or end.
inline const char* find_non_ascii(const char* p, const char* end) noexcept {
  for (; end - p >= 64; p += 64) {
    const auto* v = reinterpret_cast<const __m128i*>(p);
    const __m128i any = _mm_or_si128(_mm_or_si128(_mm_loadu_si128(v), _mm_loadu_si128(v + 1)),
                                     _mm_or_si128(_mm_loadu_si128(v + 2), _mm_loadu_si128(v + 3)));
    if (_mm_movemask_epi8(any) != 0) break;
  }
  while (p < end && static_cast<unsigned char>(*p) < 0x80) ++p;
  return p;
}

// The words of tokenizer Kind in `text` (KeepCase: options.keep_case; no
// normalization): batches of the all-ASCII stretches' words to
// drain(starts, ends, n) as scan_ascii_stretch() gives them, and the rest of
// the text, in pieces cut at safe split points, to general(std::string_view),
// all in text order.
template <TokenizerKind Kind, bool KeepCase, class Drain, class General>
void for_each_word_batch(std::string_view text, Drain& drain, General&& general) {
  constexpr std::uint8_t kCut = Kind == TokenizerKind::unicode ? kByteAsciiSep : kByteSpace;
  TokenizerOptions options;
  options.kind = Kind;
  // A non-ASCII byte sends at least this much text after it to the general
  // tokenizer, so mostly non-ASCII text does not bounce between the two.
  constexpr std::size_t kGeneralStretch = 256;
  AsciiStretchBuffer buffer(text.size());
  const std::size_t window = buffer.window();
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const char* p = begin;
  while (p < end) {
    // Each window is scanned for non-ASCII bytes, then tokenized while it
    // is still in the cache.
    const char* const window_end = static_cast<std::size_t>(end - p) > window ? p + window : end;
    const char* const high = find_non_ascii(p, window_end);
    if (high == end) {
      scan_ascii_stretch<Kind, KeepCase>(p, end, buffer, drain);
      return;
    }
    // The ASCII stretch ends at the last safe cut before `high` (an ASCII
    // separator of Kind; if there is none, the stretch is empty).
    const char* cut = high;
    while (cut > p && !(kByteClasses.v[static_cast<unsigned char>(*cut)] & kCut)) --cut;
    scan_ascii_stretch<Kind, KeepCase>(p, cut, buffer, drain);
    if (high == window_end && cut > p) {  // no non-ASCII byte in the window
      p = cut;
      continue;
    }
    const auto from = static_cast<std::size_t>(cut - begin);
    const std::size_t near =
        std::max(static_cast<std::size_t>(high - begin) + kGeneralStretch, from + 1);
    const std::size_t to = safe_split_point(text, near, options);
    general(text.substr(from, to - from));
    p = begin + to;
  }
}

#endif  // __SSE2__

// The `whitespace` tokenizer on any text (tokenize_whitespace() sends it the
// text around non-ASCII bytes).
template <bool KeepCase, class Emit>
void tokenize_whitespace_general(std::string_view text, Emit& emit) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* const end = p + text.size();
  std::string buf;
  MaskWindow window(end);
  for (;;) {
    p = window.skip_space(p);
    if (p == end) break;
    const unsigned char* const start = p;
    std::uint64_t upper = 0, high = 0;
    p = window.skip_non_space(p, upper, high);
    if (KeepCase || !(upper | high)) {
      emit(std::string_view(reinterpret_cast<const char*>(start),
                            static_cast<std::size_t>(p - start)));
    } else if (!high) {
      emit_ascii_word(start, p, true, buf, emit);
    } else {
      const UnicodeTables& t = unicode_tables();
      buf.clear();
      for (const unsigned char* q = start; q < p;) {
        char32_t cp;
        const unsigned n = *q < 0x80 ? 0 : decode_utf8(q, p, cp);
        if (n == 0) {  // ASCII or an invalid byte: kept (ASCII lowercased)
          buf.push_back(ascii_lower(*q));
          ++q;
          continue;
        }
        char tmp[4];
        buf.append(tmp, encode_utf8(t.to_lower(cp), tmp));
        q += n;
      }
      emit(std::string_view(buf));
    }
  }
}

// The general loop of tokenizer Kind.
template <TokenizerKind Kind, bool KeepCase, class Emit>
void tokenize_general(std::string_view text, Emit& emit) {
  if constexpr (Kind == TokenizerKind::unicode) {
    tokenize_unicode_general<KeepCase>(text, emit);
  } else {
    tokenize_whitespace_general<KeepCase>(text, emit);
  }
}

// Tokenizer Kind: for_each_word_batch() where SSE2 is (x86-64), handing each
// word of a batch to emit, else the general loop.
template <TokenizerKind Kind, bool KeepCase, class Emit>
void tokenize_kind(std::string_view text, Emit& emit) {
#if defined(__SSE2__)
  auto each = [&emit](const char* const* starts, const char* const* ends, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      emit(std::string_view(starts[i], static_cast<std::size_t>(ends[i] - starts[i])));
  };
  for_each_word_batch<Kind, KeepCase>(
      text, each, [&emit](std::string_view part) { tokenize_general<Kind, KeepCase>(part, emit); });
#else
  tokenize_general<Kind, KeepCase>(text, emit);
#endif
}

// `word` (valid UTF-8) in the normal form `form` (not none), into `out`;
// false, leaving `out` unspecified, when utf8proc refuses it.
bool normalize_utf8(std::string_view word, Normalization form, std::string& out);

}  // namespace detail

namespace detail {

// Calls f.template operator()<Kind, KeepCase>() with options.kind and
// options.keep_case as template arguments.
template <class F>
void with_tokenizer(const TokenizerOptions& options, F&& f) {
  using enum TokenizerKind;
  if (options.kind == whitespace) {
    options.keep_case ? f.template operator()<whitespace, true>()
                      : f.template operator()<whitespace, false>();
  } else {
    options.keep_case ? f.template operator()<unicode, true>() : f.template operator()<unicode, false>();
  }
}

// tokenize() without normalization (options.normalize is not looked at).
template <class Emit>
void tokenize_plain(std::string_view text, const TokenizerOptions& options, Emit& emit) {
  with_tokenizer(options, [&]<TokenizerKind Kind, bool KeepCase>() { tokenize_kind<Kind, KeepCase>(text, emit); });
}

}  // namespace detail

// Calls emit(std::string_view word) for each word of `text` in order. The
// view points into `text` or into a buffer owned by this call; it is valid
// until emit returns. No allocation per word (one reusable buffer for words
// that need rewriting) unless options.normalize asks for a normal form.
// Exceptions from emit propagate.
template <class Emit>
void tokenize(std::string_view text, const TokenizerOptions& options, Emit&& emit) {
  if (options.normalize != Normalization::none) [[unlikely]] {
    std::string normal;
    auto each = [&](std::string_view word) {
      bool ascii = true;
      for (char c : word) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
      if (ascii || !detail::normalize_utf8(word, options.normalize, normal) || normal == word) {
        emit(word);
      } else {
        detail::tokenize_plain(normal, options, emit);  // what the normal form is made of
      }
    };
    detail::tokenize_plain(text, options, each);
    return;
  }
  detail::tokenize_plain(text, options, emit);
}

// Convenience for tests and small jobs: the words of `text` as strings.
inline std::vector<std::string> tokenize_to_vector(std::string_view text, const TokenizerOptions& options = {}) {
  std::vector<std::string> words;
  tokenize(text, options, [&](std::string_view w) { words.emplace_back(w); });
  return words;
}

}  // namespace mr
