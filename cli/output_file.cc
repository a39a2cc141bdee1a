#include "output_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "mr/mapreduce/engine.h"
#include "mr/mapreduce/input.h"

namespace mr::cli {
namespace {

// "<base>.tmp.<12 random hex digits>": a name nobody can guess in advance.
std::string temporary_name(const std::string& base) {
  unsigned char r[6] = {};
  if (::getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) {
    const auto t = static_cast<unsigned long>(::getpid()) ^ static_cast<unsigned long>(::clock());
    std::memcpy(r, &t, std::min(sizeof r, sizeof t));
  }
  char hex[13];
  for (int i = 0; i < 6; ++i) std::snprintf(hex + 2 * i, 3, "%02x", r[i]);
  return base + ".tmp." + hex;
}

mode_t current_umask() {
  mode_t m = ::umask(0);
  ::umask(m);
  return m;
}

bool written_in_place(mode_t mode) { return S_ISCHR(mode) || S_ISFIFO(mode) || S_ISSOCK(mode); }

}  // namespace

OutputFile::OutputFile(std::string path, std::string what)
    : path_(std::move(path)), what_(std::move(what)) {
  if (path_.empty()) {
    file_ = stdout;
    return;
  }
  struct stat lst;
  if (::lstat(path_.c_str(), &lst) != 0) {
    if (errno != ENOENT) fail("cannot write", errno);
    open_replacement();  // a new file
    return;
  }
  if (S_ISREG(lst.st_mode)) {
    existed_ = true;
    mode_ = lst.st_mode & 07777;
    uid_ = lst.st_uid;
    gid_ = lst.st_gid;
    open_replacement();
    return;
  }
  if (S_ISDIR(lst.st_mode)) fail("cannot write", EISDIR);
  if (written_in_place(lst.st_mode)) {
    open_in_place();
    return;
  }
  if (S_ISLNK(lst.st_mode)) {
    // Only a link that we or root made is followed (/dev/stdout): one that
    // another user planted in a shared folder is refused, whatever it
    // points to. A device or pipe behind it is written in place; a regular
    // file behind it is replaced like a file named directly.
    struct stat st;
    const bool trusted = lst.st_uid == ::geteuid() || lst.st_uid == 0;
    if (trusted && ::stat(path_.c_str(), &st) == 0) {
      if (written_in_place(st.st_mode)) {
        open_in_place();
        return;
      }
      char* real = S_ISREG(st.st_mode) ? ::realpath(path_.c_str(), nullptr) : nullptr;
      if (real) {
        const std::string shown = path_;
        path_ = real;
        std::free(real);
        existed_ = true;
        mode_ = st.st_mode & 07777;
        uid_ = st.st_uid;
        gid_ = st.st_gid;
        open_replacement();
        path_ = shown;  // messages name what the user gave
        return;
      }
    }
    throw OutputError(
        "refusing to write " + what_ + " '" + path_ + "': it is a symbolic link" +
        (trusted ? " to neither a file nor a device or pipe" : " owned by another user"));
  }
  throw OutputError("refusing to write " + what_ + " '" + path_ + "': not a regular file");
}

OutputFile::~OutputFile() {
  if (file_ && file_ != stdout) std::fclose(file_);
  if (!named_tmp_.empty()) ::unlinkat(dir_fd_.get(), named_tmp_.c_str(), 0);
}

void OutputFile::fail(const std::string& doing, int err) const {
  throw OutputError(doing + " " + what_ + " '" + path_ + "': " + std::strerror(err));
}

void OutputFile::adopt(int fd) {
  if (fd < 0) fail("cannot write", errno);
  file_ = ::fdopen(fd, "w");
  if (!file_) {
    const int err = errno;
    ::close(fd);
    fail("cannot write", err);
  }
}

void OutputFile::open_replacement() {
  replace_ = true;
  const auto slash = path_.rfind('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  base_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  if (base_.empty()) fail("cannot write", EISDIR);
  dir_fd_.reset(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd_) fail("cannot write", errno);
  // 0600 while it is written; its final mode is set at commit.
  int fd = ::openat(dir_fd_.get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
      named_tmp_ = temporary_name(base_);
      fd = ::openat(dir_fd_.get(), named_tmp_.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) named_tmp_.clear();
  }
  adopt(fd);
}

void OutputFile::open_in_place() {
  // A FIFO waits for a reader here, as for any writer; an interrupt ends
  // the wait (the handlers have no SA_RESTART).
  int fd;
  for (;;) {
    fd = ::open(path_.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0 || errno != EINTR) break;
    if (interrupted()) throw Interrupted();
  }
  adopt(fd);
}

void OutputFile::commit() {
  if (done_) return;
  done_ = true;
  bool bad = std::fflush(file_) != 0 || std::ferror(file_);
  int err = errno;
  if (file_ == stdout) {
    if (bad) throw OutputError(std::string("cannot write standard output: ") + std::strerror(err));
    return;
  }
  const int fd = ::fileno(file_);
  if (replace_ && !bad) {
    if (existed_ && (uid_ != ::geteuid() || gid_ != ::getegid())) {
      // Keep the owner where we may (root), else at least the group.
      if (::fchown(fd, uid_, gid_) != 0) (void)::fchown(fd, static_cast<uid_t>(-1), gid_);
    }
    ::fchmod(fd, existed_ ? static_cast<mode_t>(mode_) : 0666 & ~current_umask());
    if (named_tmp_.empty()) {
      // Give the nameless file a fresh name: linkat fails on any existing
      // name (a planted link included) instead of following it.
      const std::string proc = "/proc/self/fd/" + std::to_string(fd);
      for (int attempt = 0; attempt < 100; ++attempt) {
        std::string name = temporary_name(base_);
        int r = ::linkat(AT_FDCWD, proc.c_str(), dir_fd_.get(), name.c_str(), AT_SYMLINK_FOLLOW);
        if (r != 0 && errno == ENOENT)  // no /proc: needs CAP_DAC_READ_SEARCH
          r = ::linkat(fd, "", dir_fd_.get(), name.c_str(), AT_EMPTY_PATH);
        if (r == 0) {
          named_tmp_ = std::move(name);
          break;
        }
        if (errno != EEXIST) break;
      }
      if (named_tmp_.empty()) bad = true, err = errno;
    }
  }
  if (std::fclose(file_) != 0 && !bad) bad = true, err = errno;
  file_ = nullptr;
  if (!bad && replace_ &&
      ::renameat(dir_fd_.get(), named_tmp_.c_str(), dir_fd_.get(), base_.c_str()) != 0)
    bad = true, err = errno;
  if (bad) fail("cannot write", err);  // the destructor removes the temporary
  named_tmp_.clear();
}

}  // namespace mr::cli
