// Value<T> and RawValue<T>: one trivially copyable T in shared memory, the
// counterparts of Python's multiprocessing.Value and RawValue.
//
//   mr::Value<long> counter(0);             // before fork()
//   ... in each child:  counter.fetch_add(1);             // atomic
//                  or:  { mr::LockGuard g(counter.get_lock()); *counter += 1; }
//   counter.load();                          // in the parent, after the children
//
// Value<T, LockT> pairs the T with a process-shared lock (mr::RLock by
// default, like Python; mr::Lock is a little cheaper): load()/store(),
// exchange(), update() and, for arithmetic T, fetch_add()/fetch_sub() take
// it. operator*, operator-> and data() reach the T without the lock: a
// read-modify-write through them is only correct while holding get_lock().
// Because the default lock is recursive, load()/store() may also be called
// while holding get_lock().
//
// RawValue<T> has no lock. Its load()/store() are plain copies; for integral
// T it offers atomic operations through std::atomic_ref (fetch_add(),
// atomic()), which need no lock at all.
//
// Ownership: move-only owners of an anonymous shared mapping. A fork()ed
// child inherits the object and so the same memory (and lock); the memory is
// freed when the last process unmaps it. The memory does not reach exec()ed
// processes. Thread-safety: the locked and atomic operations are safe from
// any thread of any process sharing the object; the object itself (moving,
// destroying) is not synchronized. If a process dies holding the lock, the
// next locked operation takes over (mr::LockOwnerDied is absorbed; the T may
// be half-written by the dead process).
#pragma once

#include <atomic>
#include <concepts>
#include <new>
#include <type_traits>
#include <utility>

#include "mr/ipc/detail/locked.h"
#include "mr/ipc/shared_memory.h"
#include "mr/sync/lock.h"

namespace mr {

template <class T>
class RawValue {
  static_assert(std::is_trivially_copyable_v<T>,
                "mr::RawValue<T>: T must be trivially copyable (it lives in memory shared "
                "between processes: no pointers, no std::string, no virtual functions)");
  static_assert(!std::is_pointer_v<T>,
                "mr::RawValue<T>: a pointer means nothing in another process; store an offset");

 public:
  using value_type = T;

  // A new T in shared memory, holding `initial`. Throws std::system_error.
  explicit RawValue(T initial = T{}) : mem_(SharedMemory::anonymous(sizeof(T))) {
    new (mem_.data()) T(initial);
  }
  RawValue(RawValue&&) noexcept = default;
  RawValue& operator=(RawValue&&) noexcept = default;

  // Plain copies, not synchronized.
  T load() const noexcept { return *data(); }
  void store(T value) noexcept { *data() = value; }
  T get() const noexcept { return load(); }
  void set(T value) noexcept { store(value); }

  T* data() const noexcept { return static_cast<T*>(mem_.data()); }
  T& operator*() const noexcept { return *data(); }
  T* operator->() const noexcept { return data(); }

  // Atomic access for integral T, no lock involved.
  std::atomic_ref<T> atomic() const noexcept requires std::integral<T> {
    static_assert(std::atomic_ref<T>::is_always_lock_free,
                  "mr::RawValue<T>::atomic: needs a lock-free atomic T to work across processes");
    return std::atomic_ref<T>(*data());
  }
  // Adds `delta` atomically; returns the previous value.
  T fetch_add(T delta, std::memory_order order =
                           std::memory_order_seq_cst) noexcept requires std::integral<T> {
    return atomic().fetch_add(delta, order);
  }
  T fetch_sub(T delta, std::memory_order order =
                           std::memory_order_seq_cst) noexcept requires std::integral<T> {
    return atomic().fetch_sub(delta, order);
  }

 private:
  SharedMemory mem_;
};

template <class T, class LockT = RLock>
class Value {
  static_assert(std::is_trivially_copyable_v<T>,
                "mr::Value<T>: T must be trivially copyable (it lives in memory shared between "
                "processes: no pointers, no std::string, no virtual functions)");
  static_assert(!std::is_pointer_v<T>,
                "mr::Value<T>: a pointer means nothing in another process; store an offset");

 public:
  using value_type = T;
  using lock_type = LockT;

  // A new T in shared memory holding `initial`, with a new lock. Throws
  // std::system_error.
  explicit Value(T initial = T{}) : mem_(SharedMemory::anonymous(sizeof(T))) {
    new (mem_.data()) T(initial);
  }
  // The same guarded by an existing lock (Python's Value(type, v,
  // lock=some_lock)): a handle to it, so several Values (and Arrays) can
  // share one lock. For no lock at all (lock=False) use RawValue<T>.
  Value(T initial, LockT lock) : mem_(SharedMemory::anonymous(sizeof(T))), lock_(std::move(lock)) {
    new (mem_.data()) T(initial);
  }
  Value(Value&&) noexcept = default;
  Value& operator=(Value&&) noexcept = default;

  // The value, read under the lock.
  T load() const {
    return detail::with_lock(lock_, [&] { return *data(); });
  }
  // Replaces the value under the lock.
  void store(T value) {
    detail::with_lock(lock_, [&] { *data() = value; });
  }
  T get() const { return load(); }
  void set(T value) { store(value); }
  // Replaces the value under the lock; returns the previous one.
  T exchange(T value) {
    return detail::with_lock(lock_, [&] { return std::exchange(*data(), value); });
  }
  // Calls fn(T&) under the lock and returns what it returns: any
  // read-modify-write in one step. Exceptions from fn propagate (the lock
  // is released).
  template <class F>
  decltype(auto) update(F&& fn) {
    return detail::with_lock(lock_, [&]() -> decltype(auto) { return fn(*data()); });
  }
  // `value += delta` under the lock; returns the previous value.
  T fetch_add(T delta) requires std::is_arithmetic_v<T> {
    return update([&](T& v) { return std::exchange(v, static_cast<T>(v + delta)); });
  }
  T fetch_sub(T delta) requires std::is_arithmetic_v<T> {
    return update([&](T& v) { return std::exchange(v, static_cast<T>(v - delta)); });
  }

  // The lock that guards the value (shared with every process that has this
  // Value). Hold it around raw accesses that must be atomic together.
  LockT& get_lock() const noexcept { return lock_; }

  // Raw access, no lock.
  T* data() const noexcept { return static_cast<T*>(mem_.data()); }
  T& operator*() const noexcept { return *data(); }
  T* operator->() const noexcept { return data(); }

 private:
  SharedMemory mem_;
  mutable LockT lock_;
};

}  // namespace mr
