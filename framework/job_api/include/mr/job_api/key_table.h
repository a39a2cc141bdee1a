// KeyTable: the typed job API's combiner table (mr::make_job's map side) for
// string and integral keys: a flat open-addressing table from a key to a
// value of any type, the value combined in place.
//
// The design of WordCounter (word_counter.h), with any value: a string key
// of at most 16 bytes lives inline in its slot as two zero-padded 64-bit
// words (hashing is two multiplies, comparing is two loads); a longer one
// keeps its full 64-bit hash and an offset into a side arena that holds its
// bytes. An integral key is its 64-bit image. Linear probing on the low bits
// of the hash; the table doubles at 3/4 full. Finding a key, by
// std::string_view for strings, allocates nothing; inserting one allocates
// only to grow the table or the arena. The hash of a string key is
// WordCounter::hash, so the engine partitions on the same hash.
//
// Example:
//   mr::detail::KeyTable<std::string, std::uint64_t> table;
//   bool inserted;
//   table.find_or_insert("word", inserted) += 1;   // a new value starts at V{}
//   table.for_each([](std::string_view key, std::uint64_t& n) { ... });
//
// Ownership: the table owns its slots, values and arena; a reference or a
// view it hands out is valid until the next insertion or clear().
// Thread-safety: none (one table per map task). Fork-safe: plain memory.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mr/job_api/word_counter.h"

namespace mr::detail {

// Keys a KeyTable holds: std::string and the integral types.
template <class K>
concept FlatKey = std::is_same_v<K, std::string> || std::is_integral_v<K>;

// How a table hands out and takes a key: a view for strings, the value
// itself for integers.
template <class K>
using KeyView = std::conditional_t<std::is_same_v<K, std::string>, std::string_view, K>;

template <FlatKey K, class V>
class KeyTable {
  static constexpr bool kString = std::is_same_v<K, std::string>;

 public:
  using View = KeyView<K>;
  static constexpr std::size_t kInlineBytes = 16;

  KeyTable() = default;

  // The hash the table finds `key` by (WordCounter::hash for strings).
  static std::uint64_t hash(View key) noexcept {
    if constexpr (kString) {
      return WordCounter::hash(key);
    } else {
      return mum(static_cast<std::uint64_t>(key) ^ kHashSeed0, kHashSeed1);
    }
  }

  // The value of `key`; when absent, inserts it with a value-initialized V
  // and sets `inserted`. Throws std::bad_alloc or std::length_error (a
  // string key of 4 GiB or more); the table is then unchanged.
  V& find_or_insert(View key, bool& inserted, bool readable16 = false) {
    if constexpr (kString) {
      if (!packable(key)) return find_or_insert_long(key, inserted);
    }
    return find_or_insert(pack(key, readable16), inserted);
  }

  // A key packed for the batched path (hash it now, prefetch its slot, find
  // it later): a string key of at most kInlineBytes bytes, or any integral
  // key. Holds no pointer into the key.
  struct Packed {
    ShortKey bytes;
    std::uint64_t hash = 0;
    std::uint32_t tag = 0;  // as in a slot: string length + 1, or 1
  };
  static bool packable(View key) noexcept {
    if constexpr (kString) {
      return key.size() <= kInlineBytes;
    } else {
      return true;
    }
  }
  // Requires packable(key). `readable16`: 16 bytes may be read from
  // key.data() (a std::string's buffer always has them; so does a word
  // inside a larger text), so the key is two masked loads.
  // Inlined: returned through memory, the key's two halves would be stored
  // as two words and reloaded as one (a store-forwarding stall per emit).
  [[gnu::always_inline]] static Packed pack(View key, bool readable16 = false) noexcept {
    Packed p;
    if constexpr (kString) {
      p.bytes = readable16 ? pack_short_key_padded(key.data(), key.size())
                           : pack_short_key(key.data(), key.size());
      p.hash = hash_short_key(p.bytes, key.size());
      p.tag = static_cast<std::uint32_t>(key.size() + 1);
    } else {
      p.bytes.k0 = static_cast<std::uint64_t>(key);
      p.hash = hash(key);
      p.tag = 1;
    }
    return p;
  }
  // find_or_insert for a packed key.
  V& find_or_insert(const Packed& key, bool& inserted) {
    if (size_ >= grow_at_) grow();
    std::size_t i = key.hash & mask_;
    for (;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.tag == 0 || (s.k0 == key.bytes.k0 && s.k1 == key.bytes.k1 && s.tag == key.tag)) break;
    }
    Slot& s = slots_[i];
    inserted = s.tag == 0;
    if (inserted) {
      s.k0 = key.bytes.k0;
      s.k1 = key.bytes.k1;
      s.tag = key.tag;
      s.hash_lo = static_cast<std::uint32_t>(key.hash);
      ++size_;
    }
    return s.value;
  }

  // Starts loading the slot where hash `h` is probed first (no effect on an
  // empty table).
  void prefetch(std::uint64_t h) const noexcept {
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_], 1);
  }

  // True when the slots outgrow what the caches keep close (256 KiB): only
  // then does prefetching a slot ahead of its probe pay for the batching.
  bool large() const noexcept { return slots_.size() * sizeof(Slot) > (std::size_t{16} << 10); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // Bytes held: the slots and the long keys' arena.
  std::size_t memory_bytes() const noexcept {
    return slots_.capacity() * sizeof(Slot) + arena_.capacity();
  }

  // Calls f(View key, V& value) for each entry, in table order (unspecified).
  template <class F>
  void for_each(F&& f) {
    for (Slot& s : slots_)
      if (s.tag != 0) f(key_of(s), s.value);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.tag != 0) f(key_of(s), s.value);
  }

  // Removes every entry and gives the memory back.
  void clear() noexcept {
    std::vector<Slot>().swap(slots_);
    std::vector<char>().swap(arena_);
    mask_ = size_ = grow_at_ = 0;
  }

 private:
  // Empty iff tag == 0. String key: tag = length + 1; a short key's bytes
  // zero-padded in k0/k1, a long key's {full hash, arena offset}. Integral
  // key: tag = 1, k0 its 64-bit image.
  struct Slot {
    std::uint64_t k0 = 0, k1 = 0;  // adjacent: a short key's bytes are read as 16 chars
    std::uint32_t tag = 0;
    std::uint32_t hash_lo = 0;  // low 32 bits of the hash: where probing starts
    V value{};
    const char* bytes() const noexcept { return reinterpret_cast<const char*>(&k0); }
  };

  View key_of(const Slot& s) const noexcept {
    if constexpr (kString) {
      const std::size_t len = s.tag - 1;
      if (len <= kInlineBytes) return {s.bytes(), len};
      return {arena_.data() + s.k1, len};
    } else {
      return static_cast<K>(s.k0);
    }
  }

  // A string key longer than kInlineBytes: its full hash and its bytes in
  // the arena.
  V& find_or_insert_long(std::string_view key, bool& inserted) {
    if (key.size() >= std::numeric_limits<std::uint32_t>::max())
      throw std::length_error("mr::KeyTable: a key of 4 GiB or more");
    const std::uint64_t h = hash(key);
    const auto tag = static_cast<std::uint32_t>(key.size() + 1);
    if (size_ >= grow_at_) grow();
    std::size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.tag == 0 || (s.tag == tag && s.k0 == h &&
                         std::memcmp(arena_.data() + s.k1, key.data(), key.size()) == 0))
        break;
    }
    Slot& s = slots_[i];
    inserted = s.tag == 0;
    if (inserted) {
      arena_.insert(arena_.end(), key.begin(), key.end());  // first: it may throw
      s.k0 = h;
      s.k1 = arena_.size() - key.size();
      s.tag = tag;
      s.hash_lo = static_cast<std::uint32_t>(h);
      ++size_;
    }
    return s.value;
  }

  void grow() {
    const std::size_t capacity = slots_.empty() ? 16 : slots_.size() * 2;
    if (capacity > (std::size_t{1} << 32)) throw std::length_error("mr::KeyTable: too many keys");
    std::vector<Slot> bigger(capacity);
    const std::size_t mask = capacity - 1;
    for (Slot& s : slots_) {
      if (s.tag == 0) continue;
      std::size_t i = s.hash_lo & mask;
      while (bigger[i].tag != 0) i = (i + 1) & mask;
      bigger[i] = std::move(s);
    }
    slots_ = std::move(bigger);
    mask_ = mask;
    grow_at_ = capacity / 4 * 3;
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t grow_at_ = 0;  // grow before inserting at this size
  std::vector<char> arena_;  // the bytes of string keys longer than kInlineBytes
};

// Sorts (key, anything) pairs by key: strings in byte order (std::string's
// operator<), integers by value; equal keys in no particular order. A
// string is compared first by its first 16 bytes as two big-endian
// integers, zero-padded (a padded prefix orders the same way as the bytes
// do), so most comparisons are two integer compares, not a memcmp.
template <class T>
void sort_by_key(std::vector<std::pair<std::string_view, T>>& entries) {
  struct Item {
    std::uint64_t hi, lo;
    std::size_t index;
  };
  std::vector<Item> items(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string_view k = entries[i].first;
    const ShortKey b = pack_short_key(k.data(), k.size() < 16 ? k.size() : 16);
    items[i] = {__builtin_bswap64(b.k0), __builtin_bswap64(b.k1), i};
  }
  std::sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
    if (a.hi != b.hi) return a.hi < b.hi;
    if (a.lo != b.lo) return a.lo < b.lo;
    return entries[a.index].first < entries[b.index].first;
  });
  std::vector<std::pair<std::string_view, T>> sorted;
  sorted.reserve(entries.size());
  for (const Item& item : items) sorted.push_back(std::move(entries[item.index]));
  entries = std::move(sorted);
}
template <class K, class T>
requires std::is_integral_v<K>
void sort_by_key(std::vector<std::pair<K, T>>& entries) {
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

}  // namespace mr::detail
