// OutputFile: where the program writes a result (-o) or a trace (--trace),
// opened before the job runs so that an unwritable place is reported at
// once, and made visible only when everything was written.
//
// - No name: standard output, written in place.
// - A name that does not exist, or an existing regular file: the data goes
//   to a nameless file (O_TMPFILE) in the target's folder, linked under a
//   fresh temporary name (which fails rather than follows anything planted
//   there) and renamed over the target at commit. A run that ends before
//   commit, even by SIGKILL, leaves nothing. Where the file system has no
//   O_TMPFILE, the temporary is created by name with O_EXCL | O_NOFOLLOW
//   (and then a SIGKILL leaves it). A replaced file keeps its mode (and its
//   owner and group, where we may set them); a new one gets
//   0666 & ~umask.
// - A character device (a terminal, /dev/null) or a FIFO: written in
//   place, never replaced.
// - A symbolic link that we or root own (/dev/stdout): followed, to a
//   device or FIFO written in place, or to a regular file replaced as
//   above. A link owned by another user (planted in a shared folder) is
//   refused, whatever it points to.
// - Anything else (a folder, a block device, a link to nothing):
//   refused with OutputError.
//
// Not thread-safe. Messages carry the name as given (the caller quotes).
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>

#include "mr/base/unique_fd.h"

namespace mr::cli {

// The output (-o FILE, --trace FILE or standard output) cannot be created or
// written: a full disk, a folder without write permission, a planted link.
// Exit status 2, like a bad input: the user can fix it.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class OutputFile {
 public:
  // `what` names the output in messages ("output", "trace"). Throws
  // OutputError when the target cannot be written, mr::Interrupted when
  // an interrupt arrives while opening a FIFO that has no reader yet.
  OutputFile(std::string path, std::string what);
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Without commit(): the data is dropped, the target left as it was.
  ~OutputFile();

  std::FILE* get() const noexcept { return file_; }
  // Flushes and puts the data in place. Throws OutputError.
  void commit();

 private:
  void open_replacement();
  void open_in_place();
  void adopt(int fd);  // `fd` (or errno when it is -1) becomes file_
  [[noreturn]] void fail(const std::string& doing, int err) const;

  std::string path_, what_;
  std::string dir_, base_;  // the target's folder and name, for a replacement
  UniqueFd dir_fd_;
  std::string named_tmp_;  // a temporary with a name (no O_TMPFILE)
  bool replace_ = false;   // a replacement, renamed over the target at commit
  bool existed_ = false;   // the target exists: keep its mode and owner
  unsigned mode_ = 0, uid_ = 0, gid_ = 0;
  std::FILE* file_ = nullptr;
  bool done_ = false;
};

}  // namespace mr::cli
