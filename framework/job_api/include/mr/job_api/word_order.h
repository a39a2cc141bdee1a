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
// A WordSorter keeps its buffers from one sort to the next (a worker reduces
// partition after partition), so their pages are touched once per process,
// not once per partition.
//
// Example:
//   mr::WordSorter sorter;
//   sorter.add("b", 2);
//   sorter.add("a", 2);
//   sorter.add("c", 5);
//   for (const auto& e : sorter.sort(mr::WordOrder::kCount)) ...  // c 5, a 2, b 2
//   sorter.clear();                                               // keeps the memory
//
// Ownership: the words' bytes are the caller's (views); the sorter owns its
// buffers. Thread-safety: none (one sorter per thread); fork-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace mr {

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

class WordSorter {
 public:
  // One word and its count; `data` points into the caller's memory.
  struct Entry {
    std::uint64_t prefix;  // word_prefix(word()): the radix sort's key
    const char* data;
    std::size_t size;
    std::uint64_t count;
    std::string_view word() const noexcept { return {data, size}; }
  };

  // Room for `n` entries without growing. When it must grow, it takes an
  // eighth more: the next partition is about as large, often a little
  // larger, and should find its pages already touched. Throws std::bad_alloc.
  void reserve(std::size_t n) {
    if (n > entries_.capacity()) entries_.reserve(n + n / 8);
  }
  // Adds one word (its bytes must stay valid until the sort's result is
  // used). Throws std::bad_alloc.
  void add(std::string_view word, std::uint64_t count) {
    entries_.push_back(Entry{word_prefix(word), word.data(), word.size(), count});
  }
  std::size_t size() const noexcept { return entries_.size(); }
  // Forgets the entries, keeps the memory.
  void clear() noexcept { entries_.clear(); }

  // Sorts the entries added into `order` and returns the first `keep` of
  // them (0: all): exactly what std::sort with that order followed by a
  // truncation would give (equal words compare equal; their relative order
  // is unspecified). The span is valid until the next non-const call.
  // Needs a scratch buffer as large as the entries. Throws std::bad_alloc.
  std::span<const Entry> sort(WordOrder order, std::size_t keep = 0);

 private:
  std::vector<Entry> entries_;
  std::unique_ptr<Entry[]> scratch_;  // never initialized: written before read
  std::size_t scratch_size_ = 0;
};

}  // namespace mr
