// WordCounter: the combiner's table, an open-addressing hash table from word
// bytes to a 64-bit count, built for word counting.
//
// Design (see PERFORMANCE-NOTES): a slot is 32 bytes, two to a cache line. A
// word of at most 16 bytes lives inline in its slot, zero-padded, so hashing
// it is two 64-bit multiplies and comparing it is two loads, no memcmp. A
// longer word keeps its full 64-bit hash and an offset in the slot and its
// bytes in a side arena. Linear probing on the low bits of the hash; the
// engine partitions on the top bits of the same hash (partition_of), so each
// reducer's table stays well spread. count_words() feeds the table through a
// small ring that prefetches each word's slot 16 words before probing it.
//
// Ownership: the table owns its memory; views handed out (iteration) are
// valid until the next non-const call. Thread-safety: none (one table per
// worker); const calls may run concurrently. Fork-safe: plain memory.
//
// Shuffle format: serialize_partitions() writes, for each partition, one
// flat, position-independent buffer (header, fixed 32-byte records, then the
// long words' bytes; offsets, no pointers) into memory the caller provides,
// e.g. a shared-memory region. merge_serialized() and SerializedWords read
// such a buffer back. Native endianness: same machine only.
//
// Example:
//   mr::WordCounter counter(50'000);            // expected distinct words
//   mr::count_words(chunk, {}, counter);        // tokenize + count
//   counter.for_each([](std::string_view w, std::uint64_t n) { ... });
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mr/job_api/tokenizer.h"

namespace mr {

namespace detail {

__extension__ typedef unsigned __int128 Uint128;  // GCC/Clang; __extension__ for -Wpedantic

// Folded 64x64->128 multiply: the mixing step of every hash here.
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
  const Uint128 r = static_cast<Uint128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

inline constexpr std::uint64_t kHashSeed0 = 0xa0761d6478bd642fULL;
inline constexpr std::uint64_t kHashSeed1 = 0xe7037ed1a0b428dbULL;
inline constexpr std::uint64_t kHashSeed2 = 0x8ebc6af09c88c6e3ULL;
inline constexpr std::uint64_t kHashSeed3 = 0x589965cc75374cc3ULL;

inline std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline std::uint32_t load32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// A word of at most 16 bytes as two zero-padded little-endian 64-bit words,
// with overlapping loads instead of a variable-length memcpy; never reads
// outside [p, p + n).
struct ShortKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

[[gnu::always_inline]] inline ShortKey pack_short_key(const char* p, std::size_t n) noexcept {
  ShortKey k;
  if (n >= 8) {
    k.k0 = load64(p);
    if (n > 8) k.k1 = load64(p + n - 8) >> (8 * (16 - n));
  } else if (n >= 4) {
    const std::uint64_t lo = load32(p);
    const std::uint64_t hi = load32(p + n - 4);
    k.k0 = lo | (hi << (8 * (n - 4)));
  } else if (n > 0) {
    const auto b = [p](std::size_t i) { return std::uint64_t{static_cast<unsigned char>(p[i])}; };
    k.k0 = b(0) | (b(n / 2) << (8 * (n / 2))) | (b(n - 1) << (8 * (n - 1)));
  }
  return k;
}

// The same key from a 16-byte load and a mask, for words with at least 16
// readable bytes at p (words inside a larger text): no length branches.
[[gnu::always_inline]] inline ShortKey pack_short_key_padded(const char* p, std::size_t n) noexcept {
  const std::uint64_t m0 = n >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * n)) - 1;
  const std::uint64_t m1 = n >= 16 ? ~std::uint64_t{0} : n > 8 ? (std::uint64_t{1} << (8 * (n - 8))) - 1 : 0;
  return {load64(p) & m0, load64(p + 8) & m1};
}

// True when 16 bytes from p may be loaded although fewer belong to the key
// there (n >= 1 bytes at p do): the 16 stay inside p's 4 KiB page, which is
// mapped since p's first byte is, so the load cannot fault, and
// pack_short_key_padded masks off the bytes past the key. Reading them is
// still a read outside the key's object, so sanitizer builds (and valgrind,
// which would report it) get false: the exact, branchier loads.
inline bool may_load16(const char* p) noexcept {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  (void)p;
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
  (void)p;
  return false;
#else
  return (reinterpret_cast<std::uintptr_t>(p) & 4095) <= 4096 - 16;
#endif
#else
  return (reinterpret_cast<std::uintptr_t>(p) & 4095) <= 4096 - 16;
#endif
}

// ASCII A-Z to a-z in all 8 bytes at once (other bytes unchanged): per byte
// b < 0x80, b + 0x3f and b + 0x25 set the top bit iff b >= 'A' / b > 'Z'
// without carrying into the next byte.
inline std::uint64_t ascii_lower8(std::uint64_t k) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  const std::uint64_t seven = k & (0x7f * kOnes);
  const std::uint64_t upper = ((seven + 0x3f * kOnes) ^ (seven + 0x25 * kOnes)) & ~k & (0x80 * kOnes);
  return k | (upper >> 2);
}

inline std::uint64_t hash_short_key(const ShortKey& k, std::size_t n) noexcept {
  return mum(k.k0 ^ kHashSeed0, k.k1 ^ kHashSeed1 ^ (n << 56));
}

// Words longer than 16 bytes: 16 bytes per multiply, the last block overlapping.
inline std::uint64_t hash_long_key(const char* p, std::size_t n) noexcept {
  std::uint64_t h = kHashSeed3;
  std::size_t i = 0;
  for (; i + 16 < n; i += 16) h = mum(load64(p + i) ^ kHashSeed1 ^ h, load64(p + i + 8) ^ kHashSeed2);
  h = mum(load64(p + n - 16) ^ kHashSeed1 ^ h, load64(p + n - 8) ^ kHashSeed2);
  return mum(h ^ kHashSeed0, n ^ kHashSeed3);
}

// One table slot and one serialized record (same layout). Empty iff
// count == 0. Short word (len <= 16): key holds its bytes zero-padded. Long
// word: key holds {full 64-bit hash, offset of its bytes}.
struct WordSlot {
  alignas(8) char key[16];
  std::uint64_t count;
  std::uint32_t len;
  std::uint32_t hash_lo;  // low 32 bits of the word's hash: the probe start
};
static_assert(sizeof(WordSlot) == 32);
static_assert(std::is_trivially_copyable_v<WordSlot> && std::is_standard_layout_v<WordSlot>);

}  // namespace detail

// The header of one serialized partition buffer. Followed by `entries`
// records (detail::WordSlot, 32 bytes each; a long word's offset is relative
// to the start of the key bytes) and then `key_bytes` bytes of long words.
struct SerializedWordsHeader {
  std::uint64_t magic;
  std::uint64_t entries;
  std::uint64_t key_bytes;
  std::uint64_t total_count;  // sum of the counts, a cheap checksum
};
static_assert(sizeof(SerializedWordsHeader) == 32);
static_assert(std::is_trivially_copyable_v<SerializedWordsHeader>);

class WordCounter {
 public:
  static constexpr std::size_t kInlineWordBytes = 16;

  // One (word, count) pair; the view is valid until the table is modified.
  struct Entry {
    std::string_view word;
    std::uint64_t count;
  };

  // An empty table sized for about `expected_words` distinct words without
  // growing (0: a small table that grows as needed).
  explicit WordCounter(std::size_t expected_words = 0);
  ~WordCounter();
  WordCounter(const WordCounter& other);
  WordCounter& operator=(const WordCounter& other);
  // A moved-from table holds no memory: it may be destroyed, assigned to,
  // iterated (empty) or merged from, nothing else.
  WordCounter(WordCounter&& other) noexcept;
  WordCounter& operator=(WordCounter&& other) noexcept;

  // Adds n to the count of `word` (inserting it). n == 0 does nothing.
  // Throws std::bad_alloc when growing fails (the word is counted; the table
  // stays valid, only fuller than its load limit).
  void add(std::string_view word, std::uint64_t n = 1) {
    if (n == 0) return;
    if (word.size() <= kInlineWordBytes) {
      const auto k = detail::pack_short_key(word.data(), word.size());
      add_short(k, static_cast<std::uint32_t>(word.size()), detail::hash_short_key(k, word.size()), n);
    } else {
      add_long(word, detail::hash_long_key(word.data(), word.size()), n);
    }
  }

  // The count of `word`, 0 when absent.
  std::uint64_t count(std::string_view word) const noexcept;

  // Distinct words held.
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // Slots allocated (a power of two; 0 when moved from); grows at 3/4 full.
  std::size_t capacity() const noexcept { return slots_ ? mask_ + 1 : 0; }
  // Bytes of memory held by the slots and the long-word arena.
  std::size_t memory_bytes() const noexcept;

  // Makes room for `expected_words` distinct words without further growth.
  void reserve(std::size_t expected_words);
  // Removes every word; keeps the memory (zeroes the slots: cheap for the
  // small tables it is meant for, then no page faults when refilling).
  void clear() noexcept;
  // Removes every word and gives the memory back: the table is then as if
  // constructed with `expected_words`. Throws std::bad_alloc (table empty).
  void reset(std::size_t expected_words = 0);
  // Adds every (word, count) of `other` to this table.
  void merge(const WordCounter& other);

  // Calls f(std::string_view word, std::uint64_t count) for each word, in
  // table order (unspecified).
  template <class F>
  void for_each(F&& f) const {
    const std::size_t cap = capacity();
    for (std::size_t i = 0; i < cap; ++i) {
      const detail::WordSlot& s = slots_[i];
      if (s.count != 0) f(word_of(s), s.count);
    }
  }

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Entry;
    const_iterator() = default;
    Entry operator*() const noexcept { return {table_->word_of(table_->slots_[i_]), table_->slots_[i_].count}; }
    const_iterator& operator++() noexcept {
      ++i_;
      skip_empty();
      return *this;
    }
    const_iterator operator++(int) noexcept {
      auto old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const noexcept { return i_ == o.i_; }

   private:
    friend class WordCounter;
    const_iterator(const WordCounter* t, std::size_t i) : table_(t), i_(i) { skip_empty(); }
    void skip_empty() noexcept {
      while (i_ < table_->capacity() && table_->slots_[i_].count == 0) ++i_;
    }
    const WordCounter* table_ = nullptr;
    std::size_t i_ = 0;
  };
  const_iterator begin() const noexcept { return const_iterator(this, 0); }
  const_iterator end() const noexcept { return const_iterator(this, capacity()); }

  // The 64-bit hash of a word. Tables index by its low bits; the engine
  // partitions by its top bits with partition_of(). Stable within a build.
  static std::uint64_t hash(std::string_view word) noexcept {
    return word.size() <= kInlineWordBytes
               ? detail::hash_short_key(detail::pack_short_key(word.data(), word.size()), word.size())
               : detail::hash_long_key(word.data(), word.size());
  }
  // Which of `partitions` (> 0) partitions a hash belongs to: the top 32
  // bits of the hash scaled to [0, partitions), so any count works.
  static unsigned partition_of(std::uint64_t hash, unsigned partitions) noexcept {
    return static_cast<unsigned>(((hash >> 32) * partitions) >> 32);
  }

  // Bytes serialize_partitions() writes for each of `partitions` partitions.
  // One pass over the table. Throws std::invalid_argument for 0 partitions.
  std::vector<std::size_t> serialized_sizes(unsigned partitions) const;
  // Writes partition p of the words into out[p], one pass over the table.
  // out.size() must equal `partitions` and out[p].size() must equal
  // serialized_sizes(partitions)[p] (std::invalid_argument otherwise). The
  // buffers need no particular alignment and may live in shared memory.
  void serialize_partitions(unsigned partitions, std::span<const std::span<std::byte>> out) const;
  // Convenience: serialized_sizes + serialize_partitions into new vectors.
  std::vector<std::vector<std::byte>> serialize_partitions(unsigned partitions) const;
  // Adds every (word, count) of a buffer written by serialize_partitions().
  // Throws std::invalid_argument for a malformed or truncated buffer (words
  // read before the fault stay added).
  void merge_serialized(std::span<const std::byte> buffer);

  // Low-level pieces of the fused count_words() path.
  void prefetch(std::uint64_t hash) const noexcept { __builtin_prefetch(&slots_[hash & mask_], 1); }
  void add_short(const detail::ShortKey& k, std::uint32_t len, std::uint64_t hash, std::uint64_t n) {
    std::size_t i = hash & mask_;
    for (;;) {
      detail::WordSlot& s = slots_[i];
      if (s.count == 0) {
        std::memcpy(s.key, &k.k0, 8);
        std::memcpy(s.key + 8, &k.k1, 8);
        s.len = len;
        s.hash_lo = static_cast<std::uint32_t>(hash);
        s.count = n;
        if (++size_ > grow_at_) grow();
        return;
      }
      if (detail::load64(s.key) == k.k0 && detail::load64(s.key + 8) == k.k1 && s.len == len) {
        s.count += n;
        return;
      }
      i = (i + 1) & mask_;
    }
  }
  void add_long(std::string_view word, std::uint64_t hash, std::uint64_t n);

 private:
  std::string_view word_of(const detail::WordSlot& s) const noexcept {
    if (s.len <= kInlineWordBytes) return {s.key, s.len};
    return {long_words_.data() + detail::load64(s.key + 8), s.len};
  }
  void allocate(std::size_t capacity);
  void release() noexcept;
  void grow();
  void rehash(std::size_t capacity);
  // Inserts a slot known to be absent (rehash): no compare.
  void place(const detail::WordSlot& s) noexcept;

  detail::WordSlot* slots_ = nullptr;
  std::size_t mask_ = 0;      // capacity - 1
  std::size_t size_ = 0;
  std::size_t grow_at_ = 0;   // grow when size_ exceeds this
  std::vector<char> long_words_;
};

// A read-only view of one buffer written by WordCounter::serialize_partitions.
// Validates the header on construction (std::invalid_argument if malformed)
// and each record's bounds while iterating. Does not own the buffer.
class SerializedWords {
 public:
  explicit SerializedWords(std::span<const std::byte> buffer);
  // Number of (word, count) records.
  std::size_t size() const noexcept { return static_cast<std::size_t>(header_.entries); }
  // Sum of all counts in the buffer.
  std::uint64_t total_count() const noexcept { return header_.total_count; }
  // Calls f(std::string_view word, std::uint64_t count) for each record;
  // the view points into the buffer, so it stays valid as long as the
  // buffer. Throws std::invalid_argument at a record pointing outside it.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < size(); ++i) {
      const detail::WordSlot s = record(i);
      f(s.len <= WordCounter::kInlineWordBytes
            ? std::string_view(records_ + i * sizeof(detail::WordSlot), s.len)  // its key bytes
            : word_of(s),
        s.count);
    }
  }

 private:
  friend class WordCounter;
  detail::WordSlot record(std::size_t i) const noexcept {
    detail::WordSlot s;
    std::memcpy(&s, records_ + i * sizeof(detail::WordSlot), sizeof s);
    return s;
  }
  std::string_view word_of(const detail::WordSlot& s) const;
  SerializedWordsHeader header_{};
  const char* records_ = nullptr;
  const char* keys_ = nullptr;
};

// Tokenizes `text` with `options` and adds each word to `counter`: the
// fused hot path of the wordcount job (no per-word allocation; slots are
// prefetched 16 words ahead). Same words as tokenize() + add(). If it throws
// (std::bad_alloc), the counter holds part of the text's words.
void count_words(std::string_view text, const TokenizerOptions& options, WordCounter& counter);

}  // namespace mr
