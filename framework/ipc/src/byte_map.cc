#include "mr/ipc/detail/byte_map.h"

#include <atomic>
#include <cstring>
#include <string>
#include <type_traits>

namespace mr::detail {
namespace {

constexpr std::uint64_t kMagic = 0x6d722e6469637431ull;  // "mr.dict1"
constexpr std::uint64_t kEmpty = 0;
constexpr std::uint64_t kTombstone = 1;
constexpr std::uint64_t kRefBase = 2;  // slot.ref = arena offset + kRefBase
constexpr std::size_t kAlign = 8;
constexpr std::size_t kMinArena = 256;
constexpr std::uint64_t kStable = 0;
constexpr std::uint64_t kChanging = 1;
constexpr std::uint64_t kCompacting = 2;

constexpr std::size_t align_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

std::size_t next_pow2(std::size_t n) {
  std::size_t p = 8;
  while (p < n) p <<= 1;
  return p;
}

// Slots for a limit of `max_entries` live entries: load factor <= 3/4 even
// when every live entry is there, so a probe always ends at an empty slot
// once tombstones are swept (rebuild_index()).
std::size_t slots_for(std::size_t max_entries) { return next_pow2(max_entries / 3 * 4 + 4); }

struct EntryHeader {
  std::uint32_t key_len;
  std::uint32_t value_len;
  std::uint32_t live;
  std::uint32_t pad;
};
static_assert(sizeof(EntryHeader) == 16);

std::size_t entry_size(std::size_t key_len, std::size_t value_len) {
  return align_up(sizeof(EntryHeader) + key_len + value_len, kAlign);
}

}  // namespace

struct ByteMap::Header {
  std::uint64_t magic;
  std::uint64_t slot_count;
  std::uint64_t max_entries;
  std::uint64_t arena_offset;  // from base
  std::uint64_t arena_size;
  std::uint64_t arena_used;
  std::uint64_t dead_bytes;
  std::uint64_t live;
  std::uint64_t used_slots;    // live + tombstones
  std::uint64_t state;         // kStable, kChanging or kCompacting
  std::uint64_t compact_to;    // compaction: arena[0, compact_to) is final
  std::uint64_t compact_next;  // compaction: arena[compact_next, used) untouched
};

struct ByteMap::Slot {
  std::uint64_t hash;
  std::uint64_t ref;
};

namespace {
constexpr std::size_t kHeaderSize = 128;
}

std::uint64_t hash_bytes(std::string_view bytes) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  // FNV's low bits are weak for short keys: mix before masking.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

std::size_t ByteMap::overhead(std::size_t max_entries) noexcept {
  return kHeaderSize + slots_for(max_entries) * sizeof(Slot);
}

ByteMap ByteMap::format(void* base, std::size_t size, std::size_t max_entries) {
  static_assert(sizeof(Header) <= kHeaderSize);
  if (max_entries == 0) max_entries = size / 64 > 8 ? size / 64 : 8;
  std::size_t index_end = overhead(max_entries);
  if (size < index_end + kMinArena)
    throw std::invalid_argument("mr::SharedDict: " + std::to_string(size) +
                                " bytes are too few for " + std::to_string(max_entries) +
                                " entries (need more than " +
                                std::to_string(index_end + kMinArena) + ")");
  ByteMap map(static_cast<std::byte*>(base));
  Header& h = map.header();
  h.slot_count = slots_for(max_entries);
  h.max_entries = max_entries;
  h.arena_offset = index_end;
  h.arena_size = (size - index_end) / kAlign * kAlign;
  h.compact_to = 0;
  h.compact_next = 0;
  map.clear();
  h.magic = kMagic;
  return map;
}

ByteMap ByteMap::attach(void* base, std::size_t size) {
  ByteMap map(static_cast<std::byte*>(base));
  if (size < kHeaderSize || map.header().magic != kMagic ||
      map.header().arena_offset + map.header().arena_size > size)
    throw std::invalid_argument("mr::SharedDict: the memory does not hold a formatted dict");
  return map;
}

ByteMap::Header& ByteMap::header() const noexcept { return *reinterpret_cast<Header*>(base_); }

ByteMap::Slot* ByteMap::slots() const noexcept {
  return reinterpret_cast<Slot*>(base_ + kHeaderSize);
}

std::byte* ByteMap::arena() const noexcept { return base_ + header().arena_offset; }

std::size_t ByteMap::probe(std::string_view key, std::uint64_t hash, bool* found) const noexcept {
  const Header& h = header();
  const std::size_t mask = h.slot_count - 1;
  const Slot* s = slots();
  std::size_t first_tomb = SIZE_MAX;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    if (s[i].ref == kEmpty) {
      *found = false;
      return first_tomb != SIZE_MAX ? first_tomb : i;
    }
    if (s[i].ref == kTombstone) {
      if (first_tomb == SIZE_MAX) first_tomb = i;
      continue;
    }
    if (s[i].hash != hash) continue;
    const std::byte* e = arena() + (s[i].ref - kRefBase);
    EntryHeader eh;
    std::memcpy(&eh, e, sizeof eh);
    if (eh.key_len == key.size() && std::memcmp(e + sizeof eh, key.data(), key.size()) == 0) {
      *found = true;
      return i;
    }
  }
}

std::optional<std::string_view> ByteMap::find(std::string_view key) const noexcept {
  bool found = false;
  std::size_t i = probe(key, hash_bytes(key), &found);
  if (!found) return std::nullopt;
  const std::byte* e = arena() + (slots()[i].ref - kRefBase);
  EntryHeader eh;
  std::memcpy(&eh, e, sizeof eh);
  return std::string_view(reinterpret_cast<const char*>(e + sizeof eh + eh.key_len), eh.value_len);
}

void ByteMap::put(std::string_view key, std::string_view value) {
  Header& h = header();
  if (key.size() > UINT32_MAX || value.size() > UINT32_MAX)
    throw SharedDictFullError("mr::SharedDict: key or value over 4 GiB");
  const std::uint64_t hash = hash_bytes(key);
  bool found = false;
  std::size_t i = probe(key, hash, &found);
  const std::size_t need = entry_size(key.size(), value.size());

  if (found) {
    std::byte* e = arena() + (slots()[i].ref - kRefBase);
    EntryHeader eh;
    std::memcpy(&eh, e, sizeof eh);
    if (eh.value_len == value.size()) {  // same size: overwrite in place
      set_state(kChanging);
      std::memcpy(e + sizeof eh + eh.key_len, value.data(), value.size());
      set_state(kStable);
      return;
    }
  } else if (h.live >= h.max_entries) {
    throw SharedDictFullError("mr::SharedDict is full: " + std::to_string(h.live) + " of " +
                              std::to_string(h.max_entries) +
                              " entries used; construct it with a larger capacity");
  }

  // Make room first, so that a failure changes nothing.
  if (h.arena_used + need > h.arena_size) {
    std::size_t old_size = 0;
    if (found) {
      EntryHeader oh;
      std::memcpy(&oh, arena() + (slots()[i].ref - kRefBase), sizeof oh);
      old_size = entry_size(oh.key_len, oh.value_len);
    }
    if (h.arena_used - h.dead_bytes - old_size + need > h.arena_size) {
      throw SharedDictFullError("mr::SharedDict is full: an entry of " + std::to_string(need) +
                                " bytes does not fit (" + std::to_string(h.arena_size) +
                                " arena bytes, " + std::to_string(h.arena_used - h.dead_bytes) +
                                " of them live); construct it with a larger capacity");
    }
    // From here on nothing can fail: retire the old entry, slide the live
    // ones down, and insert as new.
    set_state(kChanging);
    if (found) erase_slot(i);
    compact();
    i = probe(key, hash, &found);
  }
  set_state(kChanging);
  if (!found && slots()[i].ref == kEmpty && (h.used_slots + 1) * 4 > h.slot_count * 3) {
    rebuild_index();  // sweep tombstones
    i = probe(key, hash, &found);
  }

  // Append, then publish through the slot, then retire the old entry.
  const std::size_t off = h.arena_used;
  std::byte* e = arena() + off;
  EntryHeader eh{static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(value.size()),
                 1, 0};
  std::memcpy(e, &eh, sizeof eh);
  if (!key.empty()) std::memcpy(e + sizeof eh, key.data(), key.size());
  if (!value.empty()) std::memcpy(e + sizeof eh + key.size(), value.data(), value.size());
  std::atomic_signal_fence(std::memory_order_seq_cst);  // the entry, then its length
  h.arena_used += need;
  std::atomic_signal_fence(std::memory_order_seq_cst);

  Slot& s = slots()[i];
  if (found) {
    std::byte* old = arena() + (s.ref - kRefBase);
    EntryHeader oh;
    std::memcpy(&oh, old, sizeof oh);
    oh.live = 0;
    std::memcpy(old, &oh, sizeof oh);
    h.dead_bytes += entry_size(oh.key_len, oh.value_len);
  } else {
    if (s.ref == kEmpty) ++h.used_slots;
    ++h.live;
  }
  s.hash = hash;
  s.ref = off + kRefBase;
  set_state(kStable);
}

bool ByteMap::erase(std::string_view key) noexcept {
  bool found = false;
  std::size_t i = probe(key, hash_bytes(key), &found);
  if (!found) return false;
  set_state(kChanging);
  erase_slot(i);
  set_state(kStable);
  return true;
}

void ByteMap::erase_slot(std::size_t i) noexcept {
  Header& h = header();
  Slot& s = slots()[i];
  std::byte* e = arena() + (s.ref - kRefBase);
  EntryHeader eh;
  std::memcpy(&eh, e, sizeof eh);
  eh.live = 0;
  std::memcpy(e, &eh, sizeof eh);
  h.dead_bytes += entry_size(eh.key_len, eh.value_len);
  s.ref = kTombstone;
  --h.live;
}

void ByteMap::set_state(std::uint64_t state) noexcept {
  // Only the compiler could reorder these stores against the data stores
  // (the lock orders them between processes), and a process killed in
  // between must leave them in program order.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  header().state = state;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

void ByteMap::clear() noexcept {
  Header& h = header();
  set_state(kChanging);
  h.arena_used = 0;  // first: a repair after a death below finds nothing
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memset(static_cast<void*>(slots()), 0, h.slot_count * sizeof(Slot));
  h.dead_bytes = 0;
  h.live = 0;
  h.used_slots = 0;
  set_state(kStable);
}

void ByteMap::for_each(const std::function<void(std::string_view, std::string_view)>& fn) const {
  const Header& h = header();
  for (std::size_t off = 0; off < h.arena_used;) {
    const std::byte* e = arena() + off;
    EntryHeader eh;
    std::memcpy(&eh, e, sizeof eh);
    if (eh.live) {
      const char* k = reinterpret_cast<const char*>(e + sizeof eh);
      fn(std::string_view(k, eh.key_len), std::string_view(k + eh.key_len, eh.value_len));
    }
    off += entry_size(eh.key_len, eh.value_len);
  }
}

void ByteMap::rebuild_index() noexcept {
  Header& h = header();
  const std::size_t mask = h.slot_count - 1;
  Slot* s = slots();
  std::memset(static_cast<void*>(s), 0, h.slot_count * sizeof(Slot));
  h.used_slots = 0;
  for (std::size_t off = 0; off < h.arena_used;) {
    const std::byte* e = arena() + off;
    EntryHeader eh;
    std::memcpy(&eh, e, sizeof eh);
    if (eh.live) {
      std::uint64_t hash =
          hash_bytes(std::string_view(reinterpret_cast<const char*>(e + sizeof eh), eh.key_len));
      std::size_t i = hash & mask;
      while (s[i].ref != kEmpty) i = (i + 1) & mask;
      s[i] = Slot{hash, off + kRefBase};
      ++h.used_slots;
    }
    off += entry_size(eh.key_len, eh.value_len);
  }
}

void ByteMap::compact() noexcept {
  Header& h = header();
  h.compact_to = 0;
  h.compact_next = 0;
  set_state(kCompacting);
  std::size_t write = 0;
  for (std::size_t off = 0; off < h.arena_used;) {
    std::byte* e = arena() + off;
    EntryHeader eh;
    std::memcpy(&eh, e, sizeof eh);
    const std::size_t n = entry_size(eh.key_len, eh.value_len);
    h.compact_next = off + n;
    if (eh.live) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (write != off) std::memmove(arena() + write, e, n);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      write += n;
      h.compact_to = write;
    }
    off += n;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  h.arena_used = write;
  h.dead_bytes = 0;
  rebuild_index();
  set_state(kChanging);
}

void ByteMap::repair_if_needed() noexcept {
  Header& h = header();
  if (h.state == kStable) return;
  if (h.state == kCompacting && h.compact_to < h.compact_next) {
    // arena[compact_to, compact_next) holds moved-from leftovers and maybe
    // a half-moved entry: cover it with one dead filler entry.
    const std::size_t gap = h.compact_next - h.compact_to;
    EntryHeader filler{0, static_cast<std::uint32_t>(gap - sizeof(EntryHeader)), 0, 0};
    std::memcpy(arena() + h.compact_to, &filler, sizeof filler);
    if (h.arena_used < h.compact_next) h.arena_used = h.compact_next;
  }
  // Walk the arena with bounds checks (a dead writer may have left a
  // half-written entry at the end), newest entry of a key wins.
  Slot* s = slots();
  std::memset(static_cast<void*>(s), 0, h.slot_count * sizeof(Slot));
  h.used_slots = 0;
  h.live = 0;
  std::size_t live_bytes = 0;
  std::size_t off = 0;
  while (off < h.arena_used) {
    std::byte* e = arena() + off;
    EntryHeader eh;
    if (h.arena_used - off < sizeof eh) break;
    std::memcpy(&eh, e, sizeof eh);
    const std::size_t n = entry_size(eh.key_len, eh.value_len);
    if (n > h.arena_used - off || eh.live > 1) break;
    if (eh.live) {
      std::string_view key(reinterpret_cast<const char*>(e + sizeof eh), eh.key_len);
      std::uint64_t hash = hash_bytes(key);
      bool found = false;
      std::size_t i = probe(key, hash, &found);
      if (found) {
        std::byte* older = arena() + (s[i].ref - kRefBase);
        EntryHeader oh;
        std::memcpy(&oh, older, sizeof oh);
        oh.live = 0;
        std::memcpy(older, &oh, sizeof oh);
        live_bytes -= entry_size(oh.key_len, oh.value_len);
        s[i].ref = off + kRefBase;
        live_bytes += n;
      } else if (h.live < h.max_entries) {
        s[i] = Slot{hash, off + kRefBase};
        ++h.used_slots;
        ++h.live;
        live_bytes += n;
      } else {
        eh.live = 0;  // cannot be: over the limit; drop it
        std::memcpy(e, &eh, sizeof eh);
      }
    }
    off += n;
  }
  h.arena_used = off;
  h.dead_bytes = off - live_bytes;
  set_state(kStable);
}

std::size_t ByteMap::size() const noexcept { return header().live; }
std::size_t ByteMap::max_entries() const noexcept { return header().max_entries; }
std::size_t ByteMap::arena_bytes() const noexcept { return header().arena_size; }
std::size_t ByteMap::live_bytes() const noexcept {
  return header().arena_used - header().dead_bytes;
}
std::size_t ByteMap::dead_bytes() const noexcept { return header().dead_bytes; }

}  // namespace mr::detail
