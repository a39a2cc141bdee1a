// Sorting counted words into a word count's output order without a
// comparison sort of the whole vocabulary: by count descending, then by the
// word's bytes ascending (WordOrder::kCount, the order of `mapreduce
// wordcount`), or by the word's bytes alone (WordOrder::kWord).
//
// How: an MSD radix sort on the words' first 8 bytes (as a big-endian
// integer, zero-padded), byte by byte, down to ranges of a few hundred
// entries, which a comparison sort finishes (whole words compared only
// where the 8-byte prefixes are equal); then, for kCount, one stable
// counting pass by count (dense ranks of the distinct counts: a Zipf
// vocabulary has a few thousand distinct counts for millions of words), so
// each equal-count group keeps the word order. With `keep`, only the words
// whose count can still reach the first `keep` places are sorted at all.
// Linear in the number of words (plus small sorts of equal prefixes), where
// std::sort of 3 M words was 8 % of a whole Zipf word count.
//
// Example:
//   std::vector<mr::WordCount> words = {{"b", 2}, {"a", 2}, {"c", 5}};
//   mr::sort_word_counts(words, mr::WordOrder::kCount);   // c 5, a 2, b 2
//   mr::sort_word_counts(words, mr::WordOrder::kWord, 1); // a 2 (size 1)
//
// Ownership: the entries' views are the caller's; nothing is kept.
// Thread-safety: none needed (no shared state); fork-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace mr {

// One word and its count (views into the caller's memory).
struct WordCount {
  std::string_view word;
  std::uint64_t count;
};

// The first 8 bytes of `word` as a big-endian integer, zero-padded: when
// two words' prefixes differ, they order the words as their bytes do
// (unsigned); equal prefixes leave it to the whole words (a word that is a
// proper prefix of another never has the greater prefix).
inline std::uint64_t word_prefix(std::string_view word) noexcept {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "word_prefix assumes little-endian");
  std::uint64_t v = 0;
  if (!word.empty()) std::memcpy(&v, word.data(), std::min<std::size_t>(8, word.size()));
  return __builtin_bswap64(v);
}

enum class WordOrder {
  kCount,  // count descending, then word bytes ascending (unsigned)
  kWord,   // word bytes ascending (unsigned)
};

// Sorts `words` into `order` and keeps the first `keep` entries (0: all):
// afterwards `words` holds min(keep, size) entries, exactly what
// std::sort with that order followed by a resize would leave (equal words
// compare equal; their relative order is unspecified). Needs memory for
// about twice the entries kept. Throws std::bad_alloc.
void sort_word_counts(std::vector<WordCount>& words, WordOrder order, std::size_t keep = 0);

}  // namespace mr
