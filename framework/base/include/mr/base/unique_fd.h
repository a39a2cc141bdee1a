// UniqueFd: the one owner of a file descriptor. Move-only; closes on
// destruction (never throws). Not thread-safe; fork-safe in the sense that a
// forked child holds its own copy of the table and closes its own copy.
#pragma once

#include <unistd.h>

#include <utility>

namespace mr {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  // Takes ownership of `fd` (may be -1 for "none").
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }

  // Gives up ownership and returns the descriptor.
  int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the owned descriptor (errors ignored: the descriptor is gone
  // either way on Linux) and takes `fd`.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace mr
