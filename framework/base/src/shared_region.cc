#include "mr/base/shared_region.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <stdexcept>
#include <utility>

#include "mr/base/error.h"

namespace mr {

SharedRegion::SharedRegion(SharedRegion&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      fd_(std::move(other.fd_)) {}

SharedRegion& SharedRegion::operator=(SharedRegion&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    fd_ = std::move(other.fd_);
  }
  return *this;
}

SharedRegion::~SharedRegion() { reset(); }

void SharedRegion::reset() noexcept {
  if (data_) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
  fd_.reset();
}

SharedRegion SharedRegion::anonymous(std::size_t size) {
  if (size == 0) size = 1;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw_errno("mmap shared anonymous");
  return SharedRegion(p, size, UniqueFd());
}

SharedRegion SharedRegion::memfd(const std::string& name, std::size_t size) {
  if (size == 0) size = 1;
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC));
  if (!fd) throw_errno("memfd_create " + name);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) throw_errno("ftruncate " + name);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) throw_errno("mmap " + name);
  return SharedRegion(p, size, std::move(fd));
}

SharedRegion SharedRegion::map_fd(UniqueFd fd) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw_errno("fstat");
  auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) throw std::invalid_argument("SharedRegion::map_fd: empty descriptor");
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) throw_errno("mmap fd");
  return SharedRegion(p, size, std::move(fd));
}

}  // namespace mr
