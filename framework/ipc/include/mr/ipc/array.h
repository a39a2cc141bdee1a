// Array<T> and RawArray<T>: a fixed number of trivially copyable T in shared
// memory, the counterparts of Python's multiprocessing.Array and RawArray.
//
//   mr::Array<double> a{1.0, 2.0, 3.0};      // before fork()
//   ... in a child:  { mr::LockGuard g(a.get_lock()); for (auto& x : a) x = -x; }
//   a.to_vector();                           // {-1, -2, -3} in the parent
//
// Array<T, LockT> pairs the elements with a process-shared lock (mr::RLock by
// default, like Python): get()/set(), to_vector(), assign(), update() and,
// for arithmetic T, fetch_add() take it. operator[], data(), begin()/end()
// and span() are raw, unlocked access.
//
// RawArray<T> has no lock; for integral T it offers per-element atomic
// operations through std::atomic_ref (fetch_add(i, d), atomic(i)).
//
// Ownership, thread- and fork-safety: as Value/RawValue (value.h): move-only
// owners of an anonymous shared mapping inherited by fork()ed children, freed
// with the last mapping; locked and atomic operations are safe from any
// thread of any process; a holder's death is absorbed by the next locked
// operation. The size is fixed at construction.
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mr/ipc/detail/locked.h"
#include "mr/ipc/shared_memory.h"
#include "mr/sync/lock.h"

namespace mr {
namespace detail {

// Shared storage of n elements: the part RawArray and Array have in common.
template <class T>
class SharedElements {
  static_assert(std::is_trivially_copyable_v<T>,
                "mr::Array<T>/RawArray<T>: T must be trivially copyable (it lives in memory "
                "shared between processes: no pointers, no std::string, no virtual functions)");
  static_assert(!std::is_pointer_v<T>,
                "mr::Array<T>/RawArray<T>: a pointer means nothing in another process; store "
                "an offset");

 public:
  SharedElements(std::size_t n, const T& fill)
      : mem_(SharedMemory::anonymous(n * sizeof(T))), size_(n) {
    std::uninitialized_fill_n(data(), n, fill);
  }
  explicit SharedElements(std::span<const T> init)
      : mem_(SharedMemory::anonymous(init.size() * sizeof(T))), size_(init.size()) {
    std::uninitialized_copy(init.begin(), init.end(), data());
  }
  SharedElements(SharedElements&& other) noexcept
      : mem_(std::move(other.mem_)), size_(std::exchange(other.size_, 0)) {}
  SharedElements& operator=(SharedElements&& other) noexcept {
    mem_ = std::move(other.mem_);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  T* data() const noexcept { return static_cast<T*>(mem_.data()); }
  std::size_t size() const noexcept { return size_; }
  void check(std::size_t i, const char* what) const {
    if (i >= size_)
      throw std::out_of_range(std::string(what) + ": index " + std::to_string(i) +
                              " out of range for size " + std::to_string(size_));
  }

 private:
  SharedMemory mem_;
  std::size_t size_ = 0;
};

}  // namespace detail

template <class T>
class RawArray {
 public:
  using value_type = T;

  // `n` elements in shared memory, each `fill`. Throws std::system_error.
  explicit RawArray(std::size_t n, const T& fill = T{}) : e_(n, fill) {}
  RawArray(std::initializer_list<T> init) : e_(std::span<const T>(init.begin(), init.size())) {}
  explicit RawArray(std::span<const T> init) : e_(init) {}
  RawArray(RawArray&&) noexcept = default;
  RawArray& operator=(RawArray&&) noexcept = default;

  std::size_t size() const noexcept { return e_.size(); }
  bool empty() const noexcept { return e_.size() == 0; }
  T* data() const noexcept { return e_.data(); }
  T& operator[](std::size_t i) const noexcept { return e_.data()[i]; }
  // Bounds-checked: std::out_of_range.
  T& at(std::size_t i) const {
    e_.check(i, "mr::RawArray::at");
    return e_.data()[i];
  }
  T* begin() const noexcept { return e_.data(); }
  T* end() const noexcept { return e_.data() + e_.size(); }
  std::span<T> span() const noexcept { return {e_.data(), e_.size()}; }
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

  // Atomic access to element i for integral T (unchecked index).
  std::atomic_ref<T> atomic(std::size_t i) const noexcept requires std::integral<T> {
    static_assert(std::atomic_ref<T>::is_always_lock_free,
                  "mr::RawArray<T>::atomic: needs a lock-free atomic T to work across processes");
    return std::atomic_ref<T>(e_.data()[i]);
  }
  // Adds `delta` to element i atomically; returns the previous value.
  T fetch_add(std::size_t i, T delta, std::memory_order order = std::memory_order_seq_cst)
      const noexcept requires std::integral<T> {
    return atomic(i).fetch_add(delta, order);
  }
  T fetch_sub(std::size_t i, T delta, std::memory_order order = std::memory_order_seq_cst)
      const noexcept requires std::integral<T> {
    return atomic(i).fetch_sub(delta, order);
  }

 private:
  detail::SharedElements<T> e_;
};

template <class T, class LockT = RLock>
class Array {
 public:
  using value_type = T;
  using lock_type = LockT;

  // `n` elements in shared memory, each `fill`, with a new lock. Throws
  // std::system_error.
  explicit Array(std::size_t n, const T& fill = T{}) : e_(n, fill) {}
  Array(std::initializer_list<T> init) : e_(std::span<const T>(init.begin(), init.size())) {}
  explicit Array(std::span<const T> init) : e_(init) {}
  // The same guarded by an existing lock (Python's Array(type, n,
  // lock=some_lock)); for no lock at all (lock=False) use RawArray<T>.
  Array(std::size_t n, const T& fill, LockT lock) : e_(n, fill), lock_(std::move(lock)) {}
  Array(std::span<const T> init, LockT lock) : e_(init), lock_(std::move(lock)) {}
  Array(Array&&) noexcept = default;
  Array& operator=(Array&&) noexcept = default;

  std::size_t size() const noexcept { return e_.size(); }
  bool empty() const noexcept { return e_.size() == 0; }

  // Element i under the lock; std::out_of_range for a bad index.
  T get(std::size_t i) const {
    e_.check(i, "mr::Array::get");
    return detail::with_lock(lock_, [&] { return e_.data()[i]; });
  }
  void set(std::size_t i, const T& value) {
    e_.check(i, "mr::Array::set");
    detail::with_lock(lock_, [&] { e_.data()[i] = value; });
  }
  // A consistent copy of all elements, taken under the lock.
  std::vector<T> to_vector() const {
    return detail::with_lock(lock_, [&] { return std::vector<T>(begin(), end()); });
  }
  // Replaces all elements under the lock; std::invalid_argument when the
  // sizes differ.
  void assign(std::span<const T> values) {
    if (values.size() != size())
      throw std::invalid_argument("mr::Array::assign: " + std::to_string(values.size()) +
                                  " values for an array of " + std::to_string(size()));
    detail::with_lock(lock_, [&] { std::copy(values.begin(), values.end(), begin()); });
  }
  // Calls fn(std::span<T>) under the lock; returns what it returns.
  template <class F>
  decltype(auto) update(F&& fn) {
    return detail::with_lock(lock_, [&]() -> decltype(auto) { return fn(span()); });
  }
  // `a[i] += delta` under the lock; returns the previous value.
  T fetch_add(std::size_t i, T delta) requires std::is_arithmetic_v<T> {
    e_.check(i, "mr::Array::fetch_add");
    return detail::with_lock(lock_, [&] {
      T& v = e_.data()[i];
      return std::exchange(v, static_cast<T>(v + delta));
    });
  }

  // The lock that guards the elements, shared by every process that has
  // this Array.
  LockT& get_lock() const noexcept { return lock_; }

  // Raw access, no lock.
  T* data() const noexcept { return e_.data(); }
  T& operator[](std::size_t i) const noexcept { return e_.data()[i]; }
  T* begin() const noexcept { return e_.data(); }
  T* end() const noexcept { return e_.data() + e_.size(); }
  std::span<T> span() const noexcept { return {e_.data(), e_.size()}; }

 private:
  detail::SharedElements<T> e_;
  mutable LockT lock_;
};

}  // namespace mr
