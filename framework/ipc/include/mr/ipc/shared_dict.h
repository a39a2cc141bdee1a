// SharedDict<K, V>: a key-value map shared by fork()ed processes, for what
// Python does with multiprocessing.Manager().dict().
//
//   mr::SharedDict<std::string, long> counts(1 << 20);   // 1 MiB, before fork()
//   ... in each child:  counts.set("pid." + std::to_string(getpid()), 1);
//                       counts.update("total", [](long& n) { n += 1; });  // atomic
//   ... in the parent:  counts.get("total")  // == number of children
//
// Design (and why not a manager process). Python's manager is a server
// process that owns a dict and answers proxies over sockets: every access
// is a round trip through two context switches and a pickle, and the server
// is one more process to start, watch and stop. Here the map lives directly
// in one fixed-size block of anonymous shared memory that every fork()ed
// process maps: an open-addressing hash index plus an arena of serialized
// entries (detail/byte_map.h), guarded by one process-shared mr::RLock. An
// access is a lock, a hash probe and a (de)serialization, with no server and
// nothing to leak. The price: the capacity is fixed at construction (bytes,
// and a maximum number of entries), a full dict throws SharedDictFullError,
// and the map reaches fork()ed children only (not exec()ed processes).
// Entries that die (erase, or a put of a value of another size) are
// reclaimed by compaction when the arena fills; same-size values are
// rewritten in place, so counters never fill the arena.
//
// Keys and values: any type with mr::Serializable (mr/base/serialize.h).
// Keys are compared by their serialized bytes, so two keys are the same key
// exactly when they serialize identically.
//
// Ownership: move-only owner of the block and a handle to the lock; a
// fork()ed child inherits both, the memory is freed with the last mapping.
// Thread-safety: every operation is atomic with respect to every other one,
// from any thread of any process sharing the dict. get_lock() is recursive,
// so a caller may hold it around several calls to make them one
// transaction. Owner death: if a process dies inside an operation (or
// holding get_lock()), the next operation takes the lock over and repairs
// the index from the arena: a put the dead process was making is either
// complete or absent; a value overwritten in place may be half-written (a
// later get may then throw mr::SerializationError); a death in the middle of
// a compaction loses the one entry being moved.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mr/base/serialize.h"
#include "mr/ipc/detail/byte_map.h"
#include "mr/ipc/detail/locked.h"
#include "mr/ipc/shared_memory.h"
#include "mr/sync/lock.h"

namespace mr {

template <Serializable K, Serializable V>
class SharedDict {
 public:
  using key_type = K;
  using mapped_type = V;

  static constexpr std::size_t kDefaultCapacity = std::size_t{1} << 20;

  // An empty dict in `capacity_bytes` of shared memory (index + entries),
  // holding at most `max_entries` entries (0: one per 64 bytes of
  // capacity). Throws std::invalid_argument when the capacity is too small
  // for that many entries, std::system_error.
  explicit SharedDict(std::size_t capacity_bytes = kDefaultCapacity, std::size_t max_entries = 0)
      : mem_(SharedMemory::anonymous(capacity_bytes)),
        map_(detail::ByteMap::format(mem_.data(), mem_.size(), max_entries)) {}
  SharedDict(SharedDict&&) noexcept = default;
  SharedDict& operator=(SharedDict&&) noexcept = default;

  // Inserts or replaces. Throws SharedDictFullError (the dict is unchanged)
  // when there is no room, SerializationError from the key's or value's
  // serialization.
  void set(const K& key, const V& value) {
    std::string k = to_bytes(key), v = to_bytes(value);
    locked([&] { map_.put(k, v); });
  }
  // The value under `key`, or nothing. Throws SerializationError when the
  // stored bytes do not decode as a V.
  std::optional<V> get(const K& key) const {
    std::string k = to_bytes(key);
    auto bytes = locked([&]() -> std::optional<std::string> {
      auto found = map_.find(k);
      if (!found) return std::nullopt;
      return std::string(*found);
    });
    if (!bytes) return std::nullopt;
    return from_bytes<V>(*bytes);
  }
  // get(key), or `fallback` when absent.
  V get_or(const K& key, V fallback) const {
    auto v = get(key);
    return v ? std::move(*v) : std::move(fallback);
  }
  bool contains(const K& key) const {
    std::string k = to_bytes(key);
    return locked([&] { return map_.find(k).has_value(); });
  }
  // Removes `key`; returns whether it was there.
  bool erase(const K& key) {
    std::string k = to_bytes(key);
    return locked([&] { return map_.erase(k); });
  }
  // Removes `key` and returns its value (Python's pop(key)); empty when it
  // was not there (where Python raises KeyError). One atomic step.
  std::optional<V> pop(const K& key) {
    std::string k = to_bytes(key);
    auto bytes = locked([&]() -> std::optional<std::string> {
      auto found = map_.find(k);
      if (!found) return std::nullopt;
      std::string v(*found);
      map_.erase(k);
      return v;
    });
    if (!bytes) return std::nullopt;
    return from_bytes<V>(*bytes);
  }
  // pop(key), or `fallback` when absent (Python's pop(key, default)).
  V pop(const K& key, V fallback) {
    auto v = pop(key);
    return v ? std::move(*v) : std::move(fallback);
  }
  // Removes and returns the entry stored last (Python's popitem(), LIFO
  // for entries written once); empty when the dict is empty (Python:
  // KeyError). One atomic step.
  std::optional<std::pair<K, V>> popitem() {
    auto raw = locked([&]() -> std::optional<std::pair<std::string, std::string>> {
      std::optional<std::pair<std::string, std::string>> last;
      map_.for_each([&](std::string_view k, std::string_view v) { last.emplace(k, v); });
      if (last) map_.erase(last->first);
      return last;
    });
    if (!raw) return std::nullopt;
    return std::pair<K, V>(from_bytes<K>(raw->first), from_bytes<V>(raw->second));
  }
  // The value under `key`; if absent, stores `fallback` first and returns
  // it (Python's setdefault). One atomic step; SharedDictFullError when the
  // new entry does not fit.
  V setdefault(const K& key, const V& fallback) {
    std::string k = to_bytes(key);
    auto bytes = locked([&]() -> std::optional<std::string> {
      auto found = map_.find(k);
      if (found) return std::string(*found);
      map_.put(k, to_bytes(fallback));
      return std::nullopt;
    });
    return bytes ? from_bytes<V>(*bytes) : fallback;
  }
  std::size_t size() const {
    return locked([&] { return map_.size(); });
  }
  bool empty() const { return size() == 0; }
  void clear() {
    locked([&] { map_.clear(); });
  }

  // Read-modify-write of one entry as one atomic step: fn(V&) is called
  // under the lock with the current value (or `initial` when the key is
  // absent), and the result is stored. Returns the stored value. If fn
  // throws, or the new value does not fit (SharedDictFullError), nothing
  // changes. fn may call this dict's other methods (the lock is
  // recursive); they see the old value.
  template <class F>
  V update(const K& key, V initial, F&& fn) {
    std::string k = to_bytes(key);
    return locked([&] {
      auto found = map_.find(k);
      V value = found ? from_bytes<V>(*found) : std::move(initial);
      fn(value);
      map_.put(k, to_bytes(value));
      return value;
    });
  }
  // update() starting from a value-initialized V{} for an absent key: with
  // V = long, update(k, [](long& n) { n += 1; }) is Python's d[k] += 1 made
  // atomic (without a KeyError for a new key).
  template <class F>
  V update(const K& key, F&& fn) {
    return update(key, V{}, std::forward<F>(fn));
  }

  // Consistent snapshots, taken under the lock (in storage order, which is
  // not sorted). Throw SerializationError for undecodable bytes.
  std::vector<K> keys() const {
    std::vector<K> out;
    for_each_bytes([&](std::string_view k, std::string_view) { out.push_back(from_bytes<K>(k)); });
    return out;
  }
  std::vector<V> values() const {
    std::vector<V> out;
    for_each_bytes([&](std::string_view, std::string_view v) { out.push_back(from_bytes<V>(v)); });
    return out;
  }
  std::vector<std::pair<K, V>> items() const {
    std::vector<std::pair<K, V>> out;
    for_each_bytes([&](std::string_view k, std::string_view v) {
      out.emplace_back(from_bytes<K>(k), from_bytes<V>(v));
    });
    return out;
  }

  // The recursive lock every operation takes; hold it to group operations.
  RLock& get_lock() const noexcept { return lock_; }

  // Capacity figures: bytes of the whole block, the most entries, and the
  // arena bytes now holding live entries.
  std::size_t capacity_bytes() const noexcept { return mem_.size(); }
  std::size_t max_entries() const noexcept { return map_.max_entries(); }
  std::size_t bytes_used() const {
    return locked([&] { return map_.live_bytes(); });
  }

 private:
  template <class F>
  decltype(auto) locked(F&& fn) const {
    return detail::with_lock(lock_, [&]() -> decltype(auto) {
      map_.repair_if_needed();
      return fn();
    });
  }
  template <class F>
  void for_each_bytes(F&& fn) const {
    // Copy the raw bytes under the lock, decode outside it.
    std::vector<std::pair<std::string, std::string>> raw;
    locked([&] {
      raw.reserve(map_.size());
      map_.for_each([&](std::string_view k, std::string_view v) { raw.emplace_back(k, v); });
    });
    for (const auto& [k, v] : raw) fn(k, v);
  }

  SharedMemory mem_;
  mutable detail::ByteMap map_;
  mutable RLock lock_;
};

}  // namespace mr
