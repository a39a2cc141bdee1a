// SharedMemory: one move-only owner of a block of memory shared between
// processes, in one of three kinds:
//
//  - anonymous(size): inherited by fork()ed children, has no name, so nothing
//    can leak; the kernel frees it when the last process unmaps it.
//  - memfd(size): backed by an anonymous file; fd() can be handed to exec()ed
//    children (see dup_fd()), who map it with from_fd(). Also leak-free.
//  - named, opt-in: create(label, size) makes /dev/shm/mr.<pid>.<label>,
//    open(name) maps it from any process that knows name().
//
// Named segments and leaks. A name in /dev/shm outlives every process, so
// removal is someone's explicit job:
//  1. The creating process unlinks on destruction. The creator's pid is kept
//     and compared with getpid(), so a fork()ed child's copy never unlinks.
//  2. unlink() removes the name early: the usual pattern is "create, let the
//     openers open, unlink"; the mappings stay valid until the last unmap.
//  3. A creator killed by SIGKILL runs no destructor. Every name carries its
//     creator's pid (mr.<pid>.<label>), so cleanup_stale() can remove the
//     entries mr.<pid>.* whose pid no longer exists. create() calls it first,
//     so the next creator on the machine sweeps what a killed one left; tools
//     and test fixtures may call it directly.
//  Hazards of (3): a recycled pid keeps a stale entry alive until that pid
//  dies too (a delay, never a wrong removal of a live creator's segment), and
//  processes in another pid namespace sharing /dev/shm would be mistaken for
//  dead: do not share /dev/shm across pid namespaces.
//
// Thread-safety: the object itself is not synchronized; what the memory holds
// is the users' business. Fork-safety: a fork()ed child's copy maps the same
// pages; it may be used and destroyed there (it never unlinks the name).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "mr/base/shared_region.h"
#include "mr/base/unique_fd.h"

namespace mr {

class SharedMemory {
 public:
  enum class Kind { kNone, kAnonymous, kMemfd, kNamed };

  // The prefix of every named segment in /dev/shm.
  static constexpr std::string_view kNamePrefix = "mr.";

  SharedMemory() noexcept = default;
  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&& other) noexcept;
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  // Unmaps; a named segment is also unlinked when this process created it and
  // has not unlinked it yet. Never throws.
  ~SharedMemory();

  // `size` zeroed bytes (at least 1) shared with fork()ed children. Throws
  // std::system_error.
  static SharedMemory anonymous(std::size_t size);
  // `size` zeroed bytes backed by a memfd; `label` only names it in /proc.
  // Throws std::system_error.
  static SharedMemory memfd(std::size_t size, const std::string& label = "mr.shm");
  // Maps all of a memfd or shm descriptor received from another process,
  // taking ownership of it. Throws std::system_error, or
  // std::invalid_argument for an empty or invalid descriptor.
  static SharedMemory from_fd(UniqueFd fd);

  // Creates the named segment /dev/shm/mr.<getpid()>.<label> of `size`
  // zeroed bytes, after sweeping stale entries (cleanup_stale()). An empty
  // label picks a fresh one (mr.<pid>.<n>). The label may hold letters,
  // digits, '_', '-' and '.', and `size` must be positive (as Python's
  // ValueError); otherwise std::invalid_argument. Throws
  // std::system_error with EEXIST if the name is taken, or other errors.
  static SharedMemory create(std::string_view label, std::size_t size);
  // Maps all of the existing named segment `name` (as returned by name(),
  // with or without a leading '/'). This process does not own the name and
  // never unlinks it on destruction. Throws std::system_error (ENOENT when
  // there is no such segment).
  static SharedMemory open(std::string_view name);

  // Removes the name of a named segment now (the memory stays mapped).
  // Returns true if this call removed it, false if it was already gone or
  // this is not a named segment. Any process may call it; afterwards this
  // object will not unlink again. Throws std::system_error on other errors.
  bool unlink();

  // Removes every /dev/shm/mr.<pid>.* whose process <pid> no longer exists
  // (segments of killed creators). Returns how many were removed. Never
  // removes this process's own segments. Never throws.
  static std::size_t cleanup_stale() noexcept;

  void* data() const noexcept { return region_.data(); }
  std::size_t size() const noexcept { return region_.size(); }
  std::span<std::byte> bytes() const noexcept {
    return {static_cast<std::byte*>(region_.data()), region_.size()};
  }
  // The backing descriptor (close-on-exec), or -1 for an anonymous segment.
  int fd() const noexcept { return region_.fd(); }
  // A close-on-exec duplicate of fd(), for handing to another process (dup2
  // it onto the child's descriptor, which clears close-on-exec there).
  // Throws std::logic_error for an anonymous segment, std::system_error.
  UniqueFd dup_fd() const;
  Kind kind() const noexcept { return kind_; }
  // For a named segment, its name without the leading '/' (for example
  // "mr.4242.counts"); empty otherwise.
  const std::string& name() const noexcept { return name_; }
  // True when this process created the named segment and is to unlink it.
  bool owns_name() const noexcept;
  explicit operator bool() const noexcept { return static_cast<bool>(region_); }

  // Typed view of the start of the memory. T must be trivially copyable (the
  // memory is shared with other processes, so no pointers, no vtables).
  template <class T>
  T* as() const noexcept {
    static_assert(std::is_trivially_copyable_v<T>,
                  "SharedMemory::as<T>: only trivially copyable types may live in shared memory");
    return static_cast<T*>(region_.data());
  }

 private:
  SharedMemory(SharedRegion region, Kind kind, std::string name, pid_t creator) noexcept
      : region_(std::move(region)), kind_(kind), name_(std::move(name)), creator_(creator) {}
  void reset() noexcept;

  SharedRegion region_;
  Kind kind_ = Kind::kNone;
  std::string name_;
  pid_t creator_ = 0;  // pid that unlinks the name; 0 when none does
};

}  // namespace mr
