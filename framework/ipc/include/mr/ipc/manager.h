// Manager and SharedMemoryManager: a server process that holds named shared
// objects and serves them to any process that knows its address and
// authkey, the counterparts of Python's multiprocessing.managers.SyncManager
// and SharedMemoryManager.
//
//   mr::Manager manager;                                  // starts the server
//   auto counts = manager.dict<std::string, long>("counts");
//   counts.set("a", 1);
//   // a spawned (or forkserver, or unrelated) process, given the address,
//   // the authkey and the object's name:
//   mr::ManagerClient client(address, authkey);
//   client.dict<std::string, long>("counts").get("a");   // 1
//
// Why a server at all, when SharedDict, Queue and Lock live in shared
// memory: those reach only processes forked from their creator. A
// manager's objects live in one server process and are reached through an
// abstract Unix socket ("@mr.<pid>.<random>": no file, gone with the
// server), so exec()ed programs and forkserver children can use them too.
// Every call is a round trip (a request and its answer, serialized with
// mr/base/serialize.h), much slower than the shared-memory objects.
//
// Objects are named and created on first use: dict<K, V>(name),
// list<T>(name), queue<T>(name), lock(name) return proxies; two proxies
// with the same name (in any process) are the same object. Keys and values
// travel serialized; the server keeps the bytes, so one name must be used
// with one type. A blocking call (queue get, lock acquire) parks in the
// server, which keeps serving the others.
//
// Authentication: the first message of a connection must be the authkey
// (32 random hex digits made by the Manager, or one given in
// ManagerOptions); the server drops a connection that sends anything else.
//
// Lifetime: the server is a fork()ed child of the Manager's creator, so
// create the Manager before the program starts threads (mr/process). It
// stops at shutdown() (the Manager's destructor calls it), and on its own
// when its creator dies (it watches the creator's pidfd), SIGKILL included.
// A lock is owned by the client connection that acquired it; when that
// connection closes (its process died) the lock is released.
//
// SharedMemoryManager: the same server also creates named segments
// (SharedMemory::create in the server, so their names carry the server's
// pid) and hands out their names; a client maps them with segment().
// Everything it created is unlinked when it stops: at shutdown(), when its
// creator dies (the server's watch), and even if the server itself is
// SIGKILLed, the next SharedMemory::create or SharedMemoryManager of any
// process of the same user sweeps the entries of the dead server
// (SharedMemory::cleanup_stale(): names of dead pids). Python's
// resource_tracker leaks in that last case; this does not.
//
// Thread-safety: a ManagerClient (and the Manager's own client side)
// serializes its calls with a mutex: proxies of one client may be used
// from several threads, but a blocking call holds the client until it
// returns and all threads share the client's identity (lock ownership).
// Use one client per thread to block independently. Fork-safety: a forked
// child must make its own ManagerClient (a copied connection would
// interleave with the parent's).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/base/serialize.h"
#include "mr/ipc/listener.h"
#include "mr/ipc/shared_memory.h"
#include "mr/process/process.h"

namespace mr {

// The server refused a request (wrong type of object under a name, a
// release of a lock the caller does not hold, ...). The message says why.
class ManagerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

// One request to the manager server (private protocol; see manager.cc).
struct ManagerRequest {
  std::uint8_t op = 0;
  std::string name;
  std::string key;
  std::string value;
  std::int64_t index = 0;
  std::int64_t timeout_ns = -1;  // blocking calls: -1 waits forever

  template <class Ar>
  void serialize(Ar& ar) {
    ar(op, name, key, value, index, timeout_ns);
  }
};

// Its answer: `found` false means absent / timed out, `error` non-empty
// means refused (thrown as ManagerError).
struct ManagerReply {
  bool found = false;
  std::string value;
  std::vector<std::string> values;
  std::string error;

  template <class Ar>
  void serialize(Ar& ar) {
    ar(found, value, values, error);
  }
};

enum ManagerOp : std::uint8_t {
  kDictSet = 1,
  kDictGet,
  kDictErase,
  kDictPop,
  kDictSetdefault,
  kDictSize,
  kDictItems,  // values: key, value, key, value, ...
  kListAppend,
  kListGet,
  kListSet,
  kListPop,
  kListSize,
  kListItems,
  kQueuePut,
  kQueueGet,
  kQueueSize,
  kLockAcquire,
  kLockRelease,
  kShmCreate,   // index: size; value: the segment's name
  kShmRelease,  // name: the segment's name
};

// One authenticated connection to a server; the proxies' shared channel.
class ManagerChannel {
 public:
  ManagerChannel(std::string_view address, std::string_view authkey);
  // Sends `request` and returns the reply; ManagerError when refused,
  // EofError / std::system_error when the server is gone.
  ManagerReply call(const ManagerRequest& request);

 private:
  std::mutex mu_;
  SocketConnection conn_;
};

// What every proxy has: the client's channel and the object's name.
class ProxyBase {
 public:
  const std::string& name() const noexcept { return name_; }

 protected:
  ProxyBase(std::shared_ptr<ManagerChannel> ch, std::string name)
      : ch_(std::move(ch)), name_(std::move(name)) {}
  // Sends `op` on this object with the given fields.
  ManagerReply call(std::uint8_t op, std::string key = {}, std::string value = {},
                    std::int64_t index = 0, std::int64_t timeout_ns = -1) const;

 private:
  std::shared_ptr<ManagerChannel> ch_;
  std::string name_;
};

// A size the server sent.
inline std::size_t count(const ManagerReply& r) {
  return static_cast<std::size_t>(from_bytes<std::int64_t>(r.value));
}

// A timeout as the protocol carries it (never negative).
inline std::int64_t timeout_ns(Timeout t) { return t.count() < 0 ? 0 : t.count(); }

}  // namespace detail

// A dict served by a manager (Python's manager.dict()).
template <Serializable K, Serializable V>
class DictProxy : public detail::ProxyBase {
 public:
  void set(const K& key, const V& value) { call(detail::kDictSet, to_bytes(key), to_bytes(value)); }
  std::optional<V> get(const K& key) const {
    return decoded(call(detail::kDictGet, to_bytes(key)));
  }
  bool contains(const K& key) const { return call(detail::kDictGet, to_bytes(key)).found; }
  // Removes `key`; whether it was there.
  bool erase(const K& key) { return call(detail::kDictErase, to_bytes(key)).found; }
  // Removes `key` and returns its value; empty when absent.
  std::optional<V> pop(const K& key) { return decoded(call(detail::kDictPop, to_bytes(key))); }
  // The value under `key`, storing `fallback` first when absent.
  V setdefault(const K& key, const V& fallback) {
    return from_bytes<V>(call(detail::kDictSetdefault, to_bytes(key), to_bytes(fallback)).value);
  }
  std::size_t size() const { return detail::count(call(detail::kDictSize)); }
  // A snapshot of the entries (sorted by the keys' serialized bytes).
  std::vector<std::pair<K, V>> items() const {
    detail::ManagerReply r = call(detail::kDictItems);
    std::vector<std::pair<K, V>> out;
    for (std::size_t i = 0; i + 1 < r.values.size(); i += 2)
      out.emplace_back(from_bytes<K>(r.values[i]), from_bytes<V>(r.values[i + 1]));
    return out;
  }

 private:
  friend class ManagerClient;
  using ProxyBase::ProxyBase;
  static std::optional<V> decoded(const detail::ManagerReply& r) {
    if (!r.found) return std::nullopt;
    return from_bytes<V>(r.value);
  }
};

// A list served by a manager (Python's manager.list()). Indices may be
// negative (from the end, as in Python); out of range: std::out_of_range.
template <Serializable T>
class ListProxy : public detail::ProxyBase {
 public:
  void append(const T& value) { call(detail::kListAppend, {}, to_bytes(value)); }
  T at(std::int64_t index) const { return from_bytes<T>(at_index(detail::kListGet, index).value); }
  void set(std::int64_t index, const T& value) { at_index(detail::kListSet, index, &value); }
  // Removes and returns the element at `index` (default: the last).
  T pop(std::int64_t index = -1) { return from_bytes<T>(at_index(detail::kListPop, index).value); }
  std::size_t size() const { return detail::count(call(detail::kListSize)); }
  std::vector<T> items() const {
    std::vector<T> out;
    for (const auto& v : call(detail::kListItems).values) out.push_back(from_bytes<T>(v));
    return out;
  }

 private:
  friend class ManagerClient;
  using ProxyBase::ProxyBase;
  detail::ManagerReply at_index(std::uint8_t op, std::int64_t index,
                                const T* value = nullptr) const {
    detail::ManagerReply r = call(op, {}, value ? to_bytes(*value) : std::string(), index);
    if (!r.found)
      throw std::out_of_range("mr::ListProxy " + name() + ": index " + std::to_string(index) +
                              " out of range");
    return r;
  }
};

// An unbounded FIFO queue served by a manager (Python's manager.Queue()).
template <Serializable T>
class QueueProxy : public detail::ProxyBase {
 public:
  void put(const T& value) { call(detail::kQueuePut, {}, to_bytes(value)); }
  // Blocks until an item is there.
  T get() { return from_bytes<T>(call(detail::kQueueGet).value); }
  // Empty when no item came within `timeout`.
  std::optional<T> get_for(Timeout timeout) {
    detail::ManagerReply r = call(detail::kQueueGet, {}, {}, 0, detail::timeout_ns(timeout));
    if (!r.found) return std::nullopt;
    return from_bytes<T>(r.value);
  }
  std::size_t size() const { return detail::count(call(detail::kQueueSize)); }

 private:
  friend class ManagerClient;
  using ProxyBase::ProxyBase;
};

// A non-recursive lock served by a manager (Python's manager.Lock()),
// owned by the client connection that acquired it. Meets Lockable, so
// std::lock_guard works. release() by a client that does not hold it
// throws ManagerError.
class LockProxy : public detail::ProxyBase {
 public:
  void acquire() { call(detail::kLockAcquire); }
  bool acquire_for(Timeout timeout) {
    return call(detail::kLockAcquire, {}, {}, 0, detail::timeout_ns(timeout)).found;
  }
  bool try_acquire() { return acquire_for(Timeout::zero()); }
  void release() { call(detail::kLockRelease); }
  void lock() { acquire(); }
  void unlock() { release(); }
  bool try_lock() { return try_acquire(); }

 private:
  friend class ManagerClient;
  using ProxyBase::ProxyBase;
};

// A connection to a manager's server, from any process (Python's
// BaseManager(address, authkey).connect()). Throws std::system_error when
// nobody listens at `address`, ManagerError when the authkey is refused.
class ManagerClient {
 public:
  ManagerClient(std::string_view address, std::string_view authkey);

  template <Serializable K, Serializable V>
  DictProxy<K, V> dict(std::string name) const {
    return DictProxy<K, V>(ch_, std::move(name));
  }
  template <Serializable T>
  ListProxy<T> list(std::string name) const {
    return ListProxy<T>(ch_, std::move(name));
  }
  template <Serializable T>
  QueueProxy<T> queue(std::string name) const {
    return QueueProxy<T>(ch_, std::move(name));
  }
  LockProxy lock(std::string name) const { return LockProxy(ch_, std::move(name)); }

  // SharedMemoryManager's segments: a new named segment of `size` bytes
  // (> 0, else std::invalid_argument) created and owned by the server,
  // mapped here; release() unlinks one before the server stops.
  SharedMemory segment(std::size_t size) const;
  void release(const SharedMemory& segment) const;

 private:
  std::shared_ptr<detail::ManagerChannel> ch_;
};

struct ManagerOptions {
  // Empty: a fresh abstract address "@mr.<pid>.<random>".
  std::string address{};
  // Empty: 32 random hex digits.
  std::string authkey{};
};

// The owner of a manager server (Python's SyncManager after start()):
// starts the server in its constructor and is a client of it.
class Manager : public ManagerClient {
 public:
  // Forks the server and connects to it. Throws std::system_error.
  explicit Manager(ManagerOptions options = {});
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;
  // shutdown().
  ~Manager();

  const std::string& address() const noexcept { return address_; }
  const std::string& authkey() const noexcept { return authkey_; }
  // The server's pid; 0 after shutdown().
  pid_t pid() const noexcept { return server_ ? server_->pid() : 0; }
  // Stops the server (SIGTERM, which it handles: what it owns goes with
  // it, a SharedMemoryManager's segments are unlinked) and reaps it.
  // Idempotent; never throws.
  void shutdown() noexcept;

 private:
  struct Started;
  static Started start_server(ManagerOptions options);
  explicit Manager(Started started);
  std::string address_;
  std::string authkey_;
  std::unique_ptr<Process> server_;
};

// A Manager whose main use is named shared memory (Python's
// SharedMemoryManager): segment(size) in any client, everything unlinked
// when it stops or its owner dies. Sweeps the segments of dead managers
// (and any dead creator) when it starts.
class SharedMemoryManager : public Manager {
 public:
  explicit SharedMemoryManager(ManagerOptions options = {});
};

}  // namespace mr
