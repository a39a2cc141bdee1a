#include "mr/ipc/shared_memory.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <utility>

#include "mr/base/error.h"

namespace mr {
namespace {

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 200) return false;
  for (char c : label) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// The pid in "mr.<pid>.<label>", or 0 when the name does not follow the
// pattern (such entries are never touched by the sweep).
pid_t creator_of(std::string_view name) {
  if (name.substr(0, SharedMemory::kNamePrefix.size()) != SharedMemory::kNamePrefix) return 0;
  name.remove_prefix(SharedMemory::kNamePrefix.size());
  long pid = 0;
  std::size_t i = 0;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
    pid = pid * 10 + (name[i] - '0');
    if (pid > 0x3fffffff) return 0;
  }
  if (i == 0 || i >= name.size() || name[i] != '.') return 0;
  return static_cast<pid_t>(pid);
}

}  // namespace

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : region_(std::move(other.region_)),
      kind_(std::exchange(other.kind_, Kind::kNone)),
      name_(std::move(other.name_)),
      creator_(std::exchange(other.creator_, 0)) {
  other.name_.clear();
}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
  if (this != &other) {
    reset();
    region_ = std::move(other.region_);
    kind_ = std::exchange(other.kind_, Kind::kNone);
    name_ = std::move(other.name_);
    other.name_.clear();
    creator_ = std::exchange(other.creator_, 0);
  }
  return *this;
}

SharedMemory::~SharedMemory() { reset(); }

void SharedMemory::reset() noexcept {
  // A fork()ed child holds a copy with the parent's pid as creator_: it must
  // leave the name to the parent.
  if (owns_name()) ::shm_unlink(("/" + name_).c_str());
  region_ = SharedRegion();
  kind_ = Kind::kNone;
  name_.clear();
  creator_ = 0;
}

bool SharedMemory::owns_name() const noexcept {
  return kind_ == Kind::kNamed && creator_ != 0 && creator_ == ::getpid();
}

SharedMemory SharedMemory::anonymous(std::size_t size) {
  return SharedMemory(SharedRegion::anonymous(size), Kind::kAnonymous, {}, 0);
}

SharedMemory SharedMemory::memfd(std::size_t size, const std::string& label) {
  return SharedMemory(SharedRegion::memfd(label, size), Kind::kMemfd, {}, 0);
}

SharedMemory SharedMemory::from_fd(UniqueFd fd) {
  if (!fd) throw std::invalid_argument("SharedMemory::from_fd: invalid descriptor");
  return SharedMemory(SharedRegion::map_fd(std::move(fd)), Kind::kMemfd, {}, 0);
}

SharedMemory SharedMemory::create(std::string_view label, std::size_t size) {
  static std::atomic<unsigned> counter{0};
  std::string chosen;
  if (label.empty()) {
    chosen = std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
  } else if (!valid_label(label)) {
    throw std::invalid_argument("SharedMemory::create: bad label '" + std::string(label) +
                                "' (letters, digits, '_', '-', '.' only)");
  } else {
    chosen = label;
  }
  if (size == 0) throw std::invalid_argument("SharedMemory::create: size must be positive (got 0)");
  cleanup_stale();
  const pid_t self = ::getpid();
  std::string name = std::string(kNamePrefix) + std::to_string(self) + "." + chosen;
  const std::string path = "/" + name;
  UniqueFd fd(::shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) throw_errno("shm_open " + name);
  // From here on the name exists: remove it again if mapping fails.
  try {
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) throw_errno("ftruncate " + name);
    auto region = SharedRegion::map_fd(std::move(fd));
    return SharedMemory(std::move(region), Kind::kNamed, std::move(name), self);
  } catch (...) {
    ::shm_unlink(path.c_str());
    throw;
  }
}

SharedMemory SharedMemory::open(std::string_view name) {
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.empty() || name.find('/') != std::string_view::npos)
    throw std::invalid_argument("SharedMemory::open: bad name '" + std::string(name) + "'");
  std::string n(name);
  UniqueFd fd(::shm_open(("/" + n).c_str(), O_RDWR | O_CLOEXEC, 0));
  if (!fd) throw_errno("shm_open " + n);
  return SharedMemory(SharedRegion::map_fd(std::move(fd)), Kind::kNamed, std::move(n), 0);
}

bool SharedMemory::unlink() {
  if (kind_ != Kind::kNamed) return false;
  creator_ = 0;  // whatever happens, this object will not try again
  if (::shm_unlink(("/" + name_).c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  throw_errno("shm_unlink " + name_);
}

UniqueFd SharedMemory::dup_fd() const {
  if (fd() < 0) throw std::logic_error("SharedMemory::dup_fd: anonymous segment has no descriptor");
  UniqueFd copy(::fcntl(fd(), F_DUPFD_CLOEXEC, 0));
  if (!copy) throw_errno("fcntl F_DUPFD_CLOEXEC");
  return copy;
}

std::size_t SharedMemory::cleanup_stale() noexcept try {
  std::size_t removed = 0;
  DIR* dir = ::opendir("/dev/shm");
  if (!dir) return 0;
  const pid_t self = ::getpid();
  // Names are collected first: unlinking while readdir() runs may skip
  // entries.
  std::string stale;
  while (dirent* e = ::readdir(dir)) {
    pid_t pid = creator_of(e->d_name);
    if (pid <= 0 || pid == self) continue;
    // ESRCH: no such process. EPERM means it exists under another user.
    if (::kill(pid, 0) == -1 && errno == ESRCH) {
      stale += '/';
      stale += e->d_name;
      stale += '\0';
    }
  }
  ::closedir(dir);
  std::string_view rest(stale);
  while (!rest.empty()) {
    auto end = rest.find('\0');
    std::string path(rest.substr(0, end));
    if (::shm_unlink(path.c_str()) == 0) ++removed;
    rest.remove_prefix(end + 1);
  }
  return removed;
} catch (...) {
  return 0;  // out of memory: the next creator sweeps again
}

}  // namespace mr
