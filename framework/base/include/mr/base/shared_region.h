// SharedRegion: one owner of a memory mapping that is shared between
// processes. Move-only; unmaps on destruction.
//
// Kinds:
//  - anonymous(): MAP_SHARED|MAP_ANONYMOUS, inherited by fork()ed children.
//    Has no name, so nothing can leak: the kernel frees it with the last
//    mapping.
//  - memfd(): backed by a memfd (an anonymous file), so it can also be handed
//    to exec()ed children as a descriptor (fd()). Also leak-free.
// Named POSIX segments (/dev/shm) live in the ipc layer, opt-in.
//
// Thread-safety: the object itself is not synchronized; what the memory holds
// is the users' business. Fork-safety: after fork the child's copy maps the
// same pages.
#pragma once

#include <cstddef>
#include <string>

#include "mr/base/unique_fd.h"

namespace mr {

class SharedRegion {
 public:
  SharedRegion() noexcept = default;
  SharedRegion(SharedRegion&& other) noexcept;
  SharedRegion& operator=(SharedRegion&& other) noexcept;
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  ~SharedRegion();

  // `size` zeroed bytes shared with fork()ed children. Throws
  // std::system_error (for example ENOMEM).
  static SharedRegion anonymous(std::size_t size);
  // `size` zeroed bytes backed by a memfd named `name` (the name is only a
  // label for /proc; it reserves nothing). Throws std::system_error.
  static SharedRegion memfd(const std::string& name, std::size_t size);
  // Maps all of an existing memfd or shm descriptor, taking ownership of it.
  static SharedRegion map_fd(UniqueFd fd);

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  // The backing descriptor, or -1 for an anonymous region.
  int fd() const noexcept { return fd_.get(); }
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  SharedRegion(void* data, std::size_t size, UniqueFd fd) noexcept
      : data_(data), size_(size), fd_(std::move(fd)) {}
  void reset() noexcept;

  void* data_ = nullptr;
  std::size_t size_ = 0;
  UniqueFd fd_;
};

}  // namespace mr
