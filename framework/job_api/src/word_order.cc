#include "mr/job_api/word_order.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <utility>

namespace mr {
namespace {

using Key = WordSorter::Entry;

// Word order: prefixes first (see word_prefix), whole words on a tie.
bool word_less(const Key& a, const Key& b) noexcept {
  if (a.prefix != b.prefix) return a.prefix < b.prefix;
  return a.word() < b.word();  // std::string_view compares bytes as unsigned char
}

// Below this many entries a comparison sort beats another radix pass (a
// pass costs 256 counters besides the entries).
constexpr std::size_t kSmallRange = 256;

// Sorts the n entries at `data` by word, prefix byte `byte` (0: the most
// significant) onwards; `scratch` is as large; the result ends in `out`,
// which is `data` or `scratch`. Each pass scatters into the other buffer, so
// the two swap roles at every level; depth is at most 8.
void radix_sort(Key* data, Key* scratch, Key* out, std::size_t n, int byte) {
  for (; byte < 8 && n > kSmallRange; ++byte) {
    const int shift = 56 - 8 * byte;
    std::size_t counts[256] = {};
    for (std::size_t i = 0; i < n; ++i) ++counts[(data[i].prefix >> shift) & 0xff];
    if (counts[(data[0].prefix >> shift) & 0xff] == n) continue;  // one bucket: next byte, no move
    std::size_t next[256];
    std::size_t at = 0;
    for (int b = 0; b < 256; ++b) {
      next[b] = at;
      at += counts[b];
    }
    for (std::size_t i = 0; i < n; ++i) scratch[next[(data[i].prefix >> shift) & 0xff]++] = data[i];
    at = 0;
    for (int b = 0; b < 256; ++b) {
      if (counts[b]) radix_sort(scratch + at, data + at, out + at, counts[b], byte + 1);
      at += counts[b];
    }
    return;
  }
  // Small, or every prefix byte equal: whole words decide.
  std::sort(data, data + n, word_less);
  if (out != data) std::copy(data, data + n, out);
}

// Where each entry goes in count-descending order: the distinct counts are
// ranked densely, small ones through a table, the few large ones through a
// sorted list; each rank's slots start where the higher counts' end.
class CountSlots {
 public:
  explicit CountSlots(const std::vector<Key>& words) {
    std::uint64_t max_small = 0;
    for (const Key& w : words)
      if (w.count < kSmall) max_small = std::max(max_small, w.count);
    small_.assign(max_small + 1, 0);
    for (const Key& w : words) {
      if (w.count < kSmall) {
        ++small_[w.count];
      } else {
        large_.push_back(w.count);
      }
    }
    std::sort(large_.begin(), large_.end(), std::greater<>());
    // large_ becomes the distinct large counts and large_next_ their sizes.
    std::size_t distinct = 0;
    for (std::size_t i = 0; i < large_.size(); ++i) {
      if (distinct == 0 || large_[distinct - 1] != large_[i]) {
        large_[distinct++] = large_[i];
        large_next_.push_back(0);
      }
      ++large_next_.back();
    }
    large_.resize(distinct);
  }

  // The smallest count that still reaches the first `keep` places (0: every
  // count does), so that only entries with at least that count need sorting.
  std::uint64_t threshold(std::size_t keep) const {
    std::size_t before = 0;
    for (std::size_t i = 0; i < large_.size(); ++i) {
      before += large_next_[i];
      if (before >= keep) return large_[i];
    }
    for (std::size_t c = small_.size(); c-- > 0;) {
      before += small_[c];
      if (before >= keep) return c;
    }
    return 0;
  }

  // Turns the sizes into start offsets, counting only counts >= `min_count`.
  void start_offsets(std::uint64_t min_count) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < large_.size() && large_[i] >= min_count; ++i)
      at += std::exchange(large_next_[i], at);
    for (std::size_t c = small_.size(); c-- > min_count;) at += std::exchange(small_[c], at);
  }

  // The next slot for an entry with `count` (after start_offsets).
  std::size_t take(std::uint64_t count) {
    if (count < kSmall) return small_[count]++;
    auto it = std::lower_bound(large_.begin(), large_.end(), count, std::greater<>());
    return large_next_[static_cast<std::size_t>(it - large_.begin())]++;
  }

 private:
  static constexpr std::uint64_t kSmall = 1 << 16;
  std::vector<std::size_t> small_;       // by count below kSmall: size, then next slot
  std::vector<std::uint64_t> large_;     // distinct counts >= kSmall, descending
  std::vector<std::size_t> large_next_;  // their sizes, then next slots
};

}  // namespace

std::span<const WordSorter::Entry> WordSorter::sort(WordOrder order, std::size_t keep) {
  if (keep == 0 || keep > entries_.size()) keep = entries_.size();
  if (entries_.empty()) return {};
  std::optional<CountSlots> slots;
  if (order == WordOrder::kCount) {
    slots.emplace(entries_);
    if (keep < entries_.size()) {
      // Only the entries that can reach the first `keep` places.
      const std::uint64_t min_count = slots->threshold(keep);
      std::erase_if(entries_, [&](const Entry& e) { return e.count < min_count; });
      slots->start_offsets(min_count);
    } else {
      slots->start_offsets(0);
    }
  }
  if (scratch_size_ < entries_.size()) {  // as large as the entries' room (see reserve)
    scratch_.reset();                     // the old one first: never both
    scratch_size_ = std::max(entries_.size(), entries_.capacity());
    scratch_ = std::make_unique_for_overwrite<Entry[]>(scratch_size_);
  }
  Entry* const scratch = scratch_.get();
  radix_sort(entries_.data(), scratch, entries_.data(), entries_.size(), 0);
  if (!slots) return {entries_.data(), keep};
  // Stable by count: each equal-count group stays in word order.
  for (const Entry& e : entries_) scratch[slots->take(e.count)] = e;
  return {scratch, keep};
}

}  // namespace mr
