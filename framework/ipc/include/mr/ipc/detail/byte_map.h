// ByteMap: the storage engine of mr::SharedDict. A view (it owns nothing)
// over a fixed-size block of shared memory that holds a map from byte strings
// to byte strings, with no pointers inside, so every process that maps the
// block at any address sees the same map:
//
//   [Header][index: slot_count Slots][arena: entries appended one after another]
//
// The index is an open-addressing hash table (linear probing, power-of-two
// size, load factor at most 3/4) of {hash, arena offset}; an entry in the
// arena is {key length, value length, live flag} followed by the key and the
// value bytes, 8-byte aligned. A put appends a new entry and then flips the
// slot to it (a same-size value is overwritten in place); an erase marks the
// entry dead and leaves a tombstone. When the arena is full the live entries
// are slid down over the dead ones (compaction) and the index is rebuilt.
//
// Thread- and process-safety: none here. Every call must be made under the
// lock that SharedDict holds. Exceptions leave the map unchanged.
// Crash-consistency: a change marks the header "changing" (and compaction
// records its progress), so that after a process died inside a change the
// next holder of the lock repairs the map (repair_if_needed()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string_view>

namespace mr {

// A SharedDict (or its storage) has no room left for an entry: its capacity
// was fixed at construction.
class SharedDictFullError : public std::length_error {
 public:
  using std::length_error::length_error;
};

namespace detail {

class ByteMap {
 public:
  // The bytes a map of `max_entries` entries needs besides its arena.
  static std::size_t overhead(std::size_t max_entries) noexcept;

  // Formats `size` bytes at `base` as an empty map of at most `max_entries`
  // entries (0: about one per 64 bytes). Throws std::invalid_argument if
  // the block is too small for the index plus a minimal arena.
  static ByteMap format(void* base, std::size_t size, std::size_t max_entries);
  // Views an already formatted block (in another process, after fork or
  // through a named segment). Throws std::invalid_argument for an
  // unformatted block.
  static ByteMap attach(void* base, std::size_t size);

  // The value stored under `key`; the view is valid until the next change.
  std::optional<std::string_view> find(std::string_view key) const noexcept;
  // Inserts or replaces. Throws SharedDictFullError when the entry does not
  // fit even after compaction, or the entry limit is reached.
  void put(std::string_view key, std::string_view value);
  // Removes `key`; returns whether it was there.
  bool erase(std::string_view key) noexcept;
  void clear() noexcept;
  // If a process died in the middle of a change (the header says so),
  // rebuilds the index and the counts from the arena, the later of two
  // entries of one key winning. Cheap no-op otherwise. Call it first under
  // the lock, before any other operation.
  void repair_if_needed() noexcept;
  // Calls fn(key, value) for every live entry, in arena order.
  void for_each(const std::function<void(std::string_view, std::string_view)>& fn) const;

  std::size_t size() const noexcept;
  std::size_t max_entries() const noexcept;
  // Arena bytes: total, holding live entries, holding dead entries.
  std::size_t arena_bytes() const noexcept;
  std::size_t live_bytes() const noexcept;
  std::size_t dead_bytes() const noexcept;

 private:
  struct Header;
  struct Slot;
  explicit ByteMap(std::byte* base) noexcept : base_(base) {}
  Header& header() const noexcept;
  Slot* slots() const noexcept;
  std::byte* arena() const noexcept;
  // Index of the slot holding `key`, or of the slot where it would go (the
  // first tombstone on the probe path, else the empty slot that ends it).
  std::size_t probe(std::string_view key, std::uint64_t hash, bool* found) const noexcept;
  void rebuild_index() noexcept;
  void compact() noexcept;
  void erase_slot(std::size_t i) noexcept;
  void set_state(std::uint64_t state) noexcept;

  std::byte* base_;
};

// FNV-1a, then a final mix: the same in every process (std::hash need not be).
std::uint64_t hash_bytes(std::string_view bytes) noexcept;

}  // namespace detail
}  // namespace mr
