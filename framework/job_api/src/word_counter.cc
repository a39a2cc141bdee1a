#include "mr/job_api/word_counter.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

namespace mr {
namespace {

using detail::WordSlot;

constexpr std::uint64_t kMagic = 0x3130304357524d2dULL;  // "-MRWC001"
constexpr std::size_t kMinCapacity = 16;
// Slot indices come from the low 32 bits of the hash (WordSlot::hash_lo).
constexpr std::size_t kMaxCapacity = std::size_t{1} << 32;
// Big tables come straight from mmap: page-aligned and zero pages for free
// (no memset); small ones from aligned_alloc so that slots never straddle a
// cache line.
constexpr std::size_t kMmapBytes = std::size_t{2} << 20;

std::size_t capacity_for(std::size_t expected_words) {
  if (expected_words > kMaxCapacity / 4 * 3) throw std::length_error("WordCounter: too many words");
  const std::size_t need = expected_words + expected_words / 3 + 1;  // load <= 3/4
  std::size_t cap = kMinCapacity;
  while (cap < need) cap *= 2;
  return cap;
}

std::uint64_t slot_hash(const WordSlot& s) noexcept {
  if (s.len > WordCounter::kInlineWordBytes) return detail::load64(s.key);
  return detail::hash_short_key({detail::load64(s.key), detail::load64(s.key + 8)}, s.len);
}

}  // namespace

WordCounter::WordCounter(std::size_t expected_words) { allocate(capacity_for(expected_words)); }

WordCounter::~WordCounter() { release(); }

WordCounter::WordCounter(const WordCounter& other) : long_words_(other.long_words_) {
  allocate(std::max(other.capacity(), kMinCapacity));
  if (other.slots_) std::memcpy(static_cast<void*>(slots_), other.slots_, other.capacity() * sizeof(WordSlot));
  size_ = other.size_;
}

WordCounter& WordCounter::operator=(const WordCounter& other) {
  if (this != &other) {
    WordCounter copy(other);
    *this = std::move(copy);
  }
  return *this;
}

WordCounter::WordCounter(WordCounter&& other) noexcept
    : slots_(std::exchange(other.slots_, nullptr)),
      mask_(std::exchange(other.mask_, 0)),
      size_(std::exchange(other.size_, 0)),
      grow_at_(std::exchange(other.grow_at_, 0)),
      long_words_(std::move(other.long_words_)) {}

WordCounter& WordCounter::operator=(WordCounter&& other) noexcept {
  if (this != &other) {
    release();
    slots_ = std::exchange(other.slots_, nullptr);
    mask_ = std::exchange(other.mask_, 0);
    size_ = std::exchange(other.size_, 0);
    grow_at_ = std::exchange(other.grow_at_, 0);
    long_words_ = std::move(other.long_words_);
    other.long_words_.clear();
  }
  return *this;
}

void WordCounter::allocate(std::size_t capacity) {
  const std::size_t bytes = capacity * sizeof(WordSlot);
  void* p;
  if (bytes >= kMmapBytes) {
    p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
  } else {
    p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
  }
  slots_ = static_cast<WordSlot*>(p);
  mask_ = capacity - 1;
  grow_at_ = capacity / 4 * 3;
}

void WordCounter::release() noexcept {
  if (!slots_) return;
  const std::size_t bytes = capacity() * sizeof(WordSlot);
  if (bytes >= kMmapBytes) {
    ::munmap(slots_, bytes);
  } else {
    std::free(slots_);
  }
  slots_ = nullptr;
  mask_ = 0;
  size_ = 0;
  grow_at_ = 0;
}

std::size_t WordCounter::memory_bytes() const noexcept {
  return capacity() * sizeof(WordSlot) + long_words_.capacity();
}

void WordCounter::place(const WordSlot& s) noexcept {
  std::size_t i = s.hash_lo & mask_;
  while (slots_[i].count != 0) i = (i + 1) & mask_;
  slots_[i] = s;
}

void WordCounter::rehash(std::size_t capacity) {
  WordSlot* old = slots_;
  const std::size_t old_capacity = this->capacity();
  const std::size_t size = size_;
  allocate(capacity);  // on bad_alloc slots_ etc. are still the old table
  size_ = size;
  // With low-bit indexing, old slot i moves to i or i + old_capacity (or a
  // little after): the writes stream through two regions, cache-friendly.
  for (std::size_t i = 0; i < old_capacity; ++i) {
    if (old[i].count != 0) place(old[i]);
  }
  const std::size_t old_bytes = old_capacity * sizeof(WordSlot);
  if (old_bytes >= kMmapBytes) {
    ::munmap(old, old_bytes);
  } else {
    std::free(old);
  }
}

void WordCounter::grow() {
  if (capacity() >= kMaxCapacity) throw std::length_error("WordCounter: too many words");
  rehash(capacity() * 2);
}

void WordCounter::reserve(std::size_t expected_words) {
  const std::size_t cap = capacity_for(std::max(expected_words, size_));
  if (cap > capacity()) rehash(cap);
}

void WordCounter::clear() noexcept {
  if (!slots_) return;
  std::memset(static_cast<void*>(slots_), 0, capacity() * sizeof(WordSlot));
  size_ = 0;
  long_words_.clear();
}

void WordCounter::reset(std::size_t expected_words) {
  release();
  std::vector<char>().swap(long_words_);
  allocate(capacity_for(expected_words));
}

void WordCounter::add_long(std::string_view word, std::uint64_t hash, std::uint64_t n) {
  if (word.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("WordCounter: word longer than 4 GiB");
  }
  const auto len = static_cast<std::uint32_t>(word.size());
  std::size_t i = hash & mask_;
  for (;;) {
    WordSlot& s = slots_[i];
    if (s.count == 0) {
      const std::uint64_t offset = long_words_.size();
      long_words_.insert(long_words_.end(), word.begin(), word.end());
      std::memcpy(s.key, &hash, 8);
      std::memcpy(s.key + 8, &offset, 8);
      s.len = len;
      s.hash_lo = static_cast<std::uint32_t>(hash);
      s.count = n;
      if (++size_ > grow_at_) grow();
      return;
    }
    if (s.len == len && detail::load64(s.key) == hash &&
        std::memcmp(long_words_.data() + detail::load64(s.key + 8), word.data(), len) == 0) {
      s.count += n;
      return;
    }
    i = (i + 1) & mask_;
  }
}

std::uint64_t WordCounter::count(std::string_view word) const noexcept {
  if (!slots_) return 0;
  const std::uint64_t h = hash(word);
  const auto len = word.size();
  detail::ShortKey k;
  if (len <= kInlineWordBytes) k = detail::pack_short_key(word.data(), len);
  for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
    const WordSlot& s = slots_[i];
    if (s.count == 0) return 0;
    if (s.len != len) continue;
    if (len <= kInlineWordBytes) {
      if (detail::load64(s.key) == k.k0 && detail::load64(s.key + 8) == k.k1) return s.count;
    } else if (detail::load64(s.key) == h &&
               std::memcmp(long_words_.data() + detail::load64(s.key + 8), word.data(), len) == 0) {
      return s.count;
    }
  }
}

void WordCounter::merge(const WordCounter& other) {
  if (&other == this) {  // every word is present: doubling needs no insertion
    for (std::size_t i = 0; i < capacity(); ++i) slots_[i].count *= 2;
    return;
  }
  constexpr std::size_t kAhead = 16;
  const std::size_t n = other.capacity();
  for (std::size_t i = 0; i < n; ++i) {
    if (i + kAhead < n && other.slots_[i + kAhead].count != 0) prefetch(other.slots_[i + kAhead].hash_lo);
    const WordSlot& s = other.slots_[i];
    if (s.count == 0) continue;
    if (s.len <= kInlineWordBytes) {
      add_short({detail::load64(s.key), detail::load64(s.key + 8)}, s.len, s.hash_lo, s.count);
    } else {
      add_long(other.word_of(s), detail::load64(s.key), s.count);
    }
  }
}

std::vector<std::size_t> WordCounter::serialized_sizes(unsigned partitions) const {
  if (partitions == 0) throw std::invalid_argument("WordCounter::serialized_sizes: 0 partitions");
  std::vector<std::size_t> bytes(partitions, sizeof(SerializedWordsHeader));
  for (std::size_t i = 0; i < capacity(); ++i) {
    const WordSlot& s = slots_[i];
    if (s.count == 0) continue;
    bytes[partition_of(slot_hash(s), partitions)] +=
        sizeof(WordSlot) + (s.len > kInlineWordBytes ? s.len : 0);
  }
  return bytes;
}

void WordCounter::serialize_partitions(unsigned partitions, std::span<const std::span<std::byte>> out) const {
  if (partitions == 0 || out.size() != partitions) {
    throw std::invalid_argument("WordCounter::serialize_partitions: need one buffer per partition");
  }
  // Pass 1: records and long-word bytes per partition, to place the key area.
  std::vector<SerializedWordsHeader> headers(partitions, SerializedWordsHeader{kMagic, 0, 0, 0});
  for (std::size_t i = 0; i < capacity(); ++i) {
    const WordSlot& s = slots_[i];
    if (s.count == 0) continue;
    auto& h = headers[partition_of(slot_hash(s), partitions)];
    ++h.entries;
    if (s.len > kInlineWordBytes) h.key_bytes += s.len;
  }
  for (unsigned p = 0; p < partitions; ++p) {
    const auto& h = headers[p];
    if (out[p].size() != sizeof h + h.entries * sizeof(WordSlot) + h.key_bytes) {
      throw std::invalid_argument("WordCounter::serialize_partitions: buffer " + std::to_string(p) +
                                  " has the wrong size");
    }
  }
  // Pass 2: records and key bytes through per-partition cursors.
  struct Cursor {
    std::size_t record;
    std::uint64_t key;
  };
  std::vector<Cursor> cursors(partitions, Cursor{0, 0});
  for (std::size_t i = 0; i < capacity(); ++i) {
    const WordSlot& s = slots_[i];
    if (s.count == 0) continue;
    const unsigned p = partition_of(slot_hash(s), partitions);
    auto& h = headers[p];
    auto& c = cursors[p];
    char* base = reinterpret_cast<char*>(out[p].data());
    char* records = base + sizeof(SerializedWordsHeader);
    WordSlot r = s;
    if (s.len > kInlineWordBytes) {
      char* keys = records + h.entries * sizeof(WordSlot);
      std::memcpy(keys + c.key, long_words_.data() + detail::load64(s.key + 8), s.len);
      std::memcpy(r.key + 8, &c.key, 8);
      c.key += s.len;
    }
    std::memcpy(records + c.record * sizeof(WordSlot), &r, sizeof r);
    ++c.record;
    h.total_count += s.count;
  }
  for (unsigned p = 0; p < partitions; ++p) std::memcpy(out[p].data(), &headers[p], sizeof headers[p]);
}

std::vector<std::vector<std::byte>> WordCounter::serialize_partitions(unsigned partitions) const {
  const auto sizes = serialized_sizes(partitions);
  std::vector<std::vector<std::byte>> buffers(partitions);
  std::vector<std::span<std::byte>> spans(partitions);
  for (unsigned p = 0; p < partitions; ++p) {
    buffers[p].resize(sizes[p]);
    spans[p] = buffers[p];
  }
  serialize_partitions(partitions, spans);
  return buffers;
}

void WordCounter::merge_serialized(std::span<const std::byte> buffer) {
  const SerializedWords in(buffer);
  constexpr std::size_t kAhead = 16;
  const std::size_t n = in.size();
  for (std::size_t i = 0; i < n; ++i) {
    // The stored hash only steers the prefetch; the key is rehashed below,
    // so a damaged buffer cannot corrupt the table.
    if (i + kAhead < n) prefetch(in.record(i + kAhead).hash_lo);
    const WordSlot s = in.record(i);
    if (s.count == 0) throw std::invalid_argument("serialized words: record with a zero count");
    add(in.word_of(s), s.count);
  }
}

SerializedWords::SerializedWords(std::span<const std::byte> buffer) {
  const auto* base = reinterpret_cast<const char*>(buffer.data());
  if (buffer.size() < sizeof header_) throw std::invalid_argument("serialized words: truncated header");
  std::memcpy(&header_, base, sizeof header_);
  if (header_.magic != kMagic) throw std::invalid_argument("serialized words: bad magic");
  const std::size_t body = buffer.size() - sizeof header_;
  if (header_.entries > body / sizeof(detail::WordSlot) ||
      header_.key_bytes != body - header_.entries * sizeof(detail::WordSlot)) {
    throw std::invalid_argument("serialized words: sizes do not match the buffer");
  }
  records_ = base + sizeof header_;
  keys_ = records_ + header_.entries * sizeof(detail::WordSlot);
}

std::string_view SerializedWords::word_of(const detail::WordSlot& s) const {
  if (s.len <= WordCounter::kInlineWordBytes) return {s.key, s.len};
  const std::uint64_t offset = detail::load64(s.key + 8);
  if (offset > header_.key_bytes || s.len > header_.key_bytes - offset) {
    throw std::invalid_argument("serialized words: record points outside the buffer");
  }
  return {keys_ + offset, s.len};
}

namespace {

// The emit of count_words: each short word is hashed and its slot
// prefetched, then probed kAhead words later, so that on large vocabularies
// the cache misses overlap.
class PrefetchingCounter {
 public:
  PrefetchingCounter(std::string_view text, WordCounter& counter)
      : counter_(counter),
        text_begin_(reinterpret_cast<std::uintptr_t>(text.data())),
        text_end_(text_begin_ + text.size()) {}
  // Adds the words still in the ring. Not a destructor: it may throw.
  void flush() {
    for (std::size_t i = n_ > kAhead ? n_ - kAhead : 0; i < n_; ++i) {
      const Pending& p = ring_[i % kAhead];
      counter_.add_short(p.key, p.len, p.hash, 1);
    }
    n_ = 0;
  }

  [[gnu::always_inline]] void operator()(std::string_view w) {
    if (w.size() > WordCounter::kInlineWordBytes) {
      counter_.add(w);
      return;
    }
    push(pack(w), w.size());
  }

  // An ASCII word with capitals, not lowercased by the tokenizer: lowercase
  // the packed key instead of copying the word.
  [[gnu::always_inline]] void operator()(std::string_view w, detail::RawAsciiCapitals) {
    if (w.size() > WordCounter::kInlineWordBytes) {
      long_word_.resize(w.size());
      for (std::size_t i = 0; i < w.size(); ++i) long_word_[i] = detail::ascii_lower(static_cast<unsigned char>(w[i]));
      counter_.add(long_word_);
      return;
    }
    detail::ShortKey k = pack(w);
    k.k0 = detail::ascii_lower8(k.k0);
    k.k1 = detail::ascii_lower8(k.k1);
    push(k, w.size());
  }

 private:
  static constexpr std::size_t kAhead = 16;
  struct Pending {
    detail::ShortKey key;
    std::uint64_t hash;
    std::uint32_t len;
  };

  // Most words are views into the text: with 16 bytes readable there, the
  // key is two masked loads (integer compares: the tokenizer's buffer of
  // rewritten words is another object).
  detail::ShortKey pack(std::string_view w) const noexcept {
    const auto at = reinterpret_cast<std::uintptr_t>(w.data());
    return at >= text_begin_ && at + 16 <= text_end_ ? detail::pack_short_key_padded(w.data(), w.size())
                                                     : detail::pack_short_key(w.data(), w.size());
  }

  void push(const detail::ShortKey& key, std::size_t len) {
    Pending& slot = ring_[n_ % kAhead];
    if (n_ >= kAhead) counter_.add_short(slot.key, slot.len, slot.hash, 1);
    slot.key = key;
    slot.len = static_cast<std::uint32_t>(len);
    slot.hash = detail::hash_short_key(key, len);
    counter_.prefetch(slot.hash);
    ++n_;
  }

  WordCounter& counter_;
  const std::uintptr_t text_begin_;
  const std::uintptr_t text_end_;
  Pending ring_[kAhead];
  std::size_t n_ = 0;
  std::string long_word_;
};

#if defined(__SSE2__)

// count_words' consumer of the unicode tokenizer's ASCII word batches: a
// loop that loads each word's key from the lowercased buffer (two loads and
// a mask) and hashes it, a loop that prefetches the slots, a loop that
// probes. Three small loops cost less than one that does it all per word.
class BatchCounter {
 public:
  explicit BatchCounter(WordCounter& counter) : counter_(counter) {}

  void operator()(const char* const* starts, const char* const* ends, std::size_t n) {
    std::size_t pending = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char* const s = starts[i];
      const auto len = static_cast<std::size_t>(ends[i] - s);
      if (len > WordCounter::kInlineWordBytes) {
        counter_.add(std::string_view(s, len));
        continue;
      }
      // 16 bytes are readable at s (scan_ascii_stretch's buffer).
      const KeyMask& mask = kKeyMasks[len];
      Pending& p = pending_[pending++];
      p.key = {detail::load64(s) & mask.m0, detail::load64(s + 8) & mask.m1};
      p.len = static_cast<std::uint32_t>(len);
      p.hash = detail::hash_short_key(p.key, len);
    }
    // A loop of its own: the stores above might alias the table's fields.
    for (std::size_t i = 0; i < pending; ++i) counter_.prefetch(pending_[i].hash);
    for (std::size_t i = 0; i < pending; ++i) {
      const Pending& p = pending_[i];
      counter_.add_short(p.key, p.len, p.hash, 1);
    }
  }

 private:
  struct Pending {
    detail::ShortKey key;
    std::uint64_t hash;
    std::uint32_t len;
  };
  // The masks that keep the first n bytes of a 16-byte load, n = 0..16.
  struct KeyMask {
    std::uint64_t m0, m1;
  };
  static constexpr std::array<KeyMask, 17> kKeyMasks = [] {
    std::array<KeyMask, 17> t{};
    for (std::size_t n = 0; n <= 16; ++n) {
      t[n].m0 = n >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * n)) - 1;
      t[n].m1 = n >= 16 ? ~std::uint64_t{0} : n > 8 ? (std::uint64_t{1} << (8 * (n - 8))) - 1 : 0;
    }
    return t;
  }();

  WordCounter& counter_;
  Pending pending_[detail::kAsciiBatch + 64];
};

template <TokenizerKind Kind, bool KeepCase>
void count_words_in_batches(std::string_view text, WordCounter& counter) {
  BatchCounter batches(counter);
  detail::for_each_word_batch<Kind, KeepCase>(text, batches, [&counter](std::string_view part) {
    PrefetchingCounter sink(part, counter);
    detail::tokenize_general<Kind, KeepCase>(part, sink);
    sink.flush();
  });
}

#endif  // __SSE2__

}  // namespace

void count_words(std::string_view text, const TokenizerOptions& options, WordCounter& counter) {
#if defined(__SSE2__)
  if (options.normalize == Normalization::none) {
    detail::with_tokenizer(options, [&]<TokenizerKind Kind, bool KeepCase>() {
      count_words_in_batches<Kind, KeepCase>(text, counter);
    });
    return;
  }
#endif
  PrefetchingCounter sink(text, counter);
  tokenize(text, options, sink);
  sink.flush();
}

}  // namespace mr
