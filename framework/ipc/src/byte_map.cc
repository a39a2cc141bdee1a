#include "mr/ipc/detail/byte_map.h"

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
  std::uint64_t used_slots;  // live + tombstones
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
      std::memcpy(e + sizeof eh + eh.key_len, value.data(), value.size());
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
    if (found) erase(key);
    compact();
    i = probe(key, hash, &found);
  }
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
  h.arena_used += need;

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
}

bool ByteMap::erase(std::string_view key) noexcept {
  bool found = false;
  std::size_t i = probe(key, hash_bytes(key), &found);
  if (!found) return false;
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
  return true;
}

void ByteMap::clear() noexcept {
  Header& h = header();
  std::memset(static_cast<void*>(slots()), 0, h.slot_count * sizeof(Slot));
  h.arena_used = 0;
  h.dead_bytes = 0;
  h.live = 0;
  h.used_slots = 0;
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
  std::size_t write = 0;
  for (std::size_t off = 0; off < h.arena_used;) {
    std::byte* e = arena() + off;
    EntryHeader eh;
    std::memcpy(&eh, e, sizeof eh);
    const std::size_t n = entry_size(eh.key_len, eh.value_len);
    if (eh.live) {
      if (write != off) std::memmove(arena() + write, e, n);
      write += n;
    }
    off += n;
  }
  h.arena_used = write;
  h.dead_bytes = 0;
  rebuild_index();
}

std::size_t ByteMap::size() const noexcept { return header().live; }
std::size_t ByteMap::max_entries() const noexcept { return header().max_entries; }
std::size_t ByteMap::arena_bytes() const noexcept { return header().arena_size; }
std::size_t ByteMap::live_bytes() const noexcept {
  return header().arena_used - header().dead_bytes;
}
std::size_t ByteMap::dead_bytes() const noexcept { return header().dead_bytes; }

}  // namespace mr::detail
