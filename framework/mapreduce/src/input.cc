#include "mr/mapreduce/input.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "decompressor.h"
#include "mr/base/unique_fd.h"
#include "mr/mapreduce/engine.h"

namespace mr {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& name, int err) {
  throw InputError(what + " '" + name + "': " + std::strerror(err));
}

// A regular file mapped read-only. Shared with fork()ed workers.
class MappedInput : public Input {
 public:
  MappedInput(std::string name, int fd, std::size_t size) : Input(std::move(name)), size_(size) {
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) fail("cannot map", name_, errno);
    ::madvise(p, size_, MADV_SEQUENTIAL);
    map_ = p;
    data_ = std::string_view(static_cast<const char*>(p), size_);
  }
  ~MappedInput() override {
    if (map_) ::munmap(map_, size_);
  }

 private:
  void* map_ = nullptr;
  std::size_t size_;
};

std::size_t read_some(int fd, char* p, std::size_t n, const std::string& name) {
  for (;;) {
    ssize_t r = ::read(fd, p, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno != EINTR) fail("cannot read", name, errno);
    if (interrupted()) throw Interrupted();  // Ctrl-C while waiting for input
  }
}

// A stream read with read(): standard input, a pipe, or a compressed file.
// Plain streams are passed through; compressed ones are decompressed
// (decompressor.h says which formats, and how archives are read).
class StreamInput : public Input {
 public:
  StreamInput(std::string name, UniqueFd fd, std::string prefix, detail::Compression format)
      : Input(std::move(name)), fd_(std::move(fd)), pending_(std::move(prefix)) {
    if (format != detail::Compression::kNone)
      decoder_ = std::make_unique<detail::Decompressor>(
          name_, format, [this](char* p, std::size_t n) { return read_plain(p, n); });
  }
  bool streamed() const noexcept override { return true; }

  std::size_t read(char* buffer, std::size_t n) override {
    return decoder_ ? decoder_->read(buffer, n) : read_plain(buffer, n);
  }

 private:
  std::size_t read_plain(char* buffer, std::size_t n) {
    if (!pending_.empty()) {
      std::size_t k = std::min(n, pending_.size());
      std::memcpy(buffer, pending_.data(), k);
      pending_.erase(0, k);
      return k;
    }
    return read_some(fd_.get(), buffer, n, name_);
  }

  UniqueFd fd_;
  std::string pending_;  // bytes read to sniff the format, not yet consumed
  std::unique_ptr<detail::Decompressor> decoder_;
};

void open_one(const std::string& path, const InputOptions& options, Inputs& out);

void open_directory(const std::string& path, const InputOptions& options, Inputs& out) {
  DIR* d = ::opendir(path.c_str());
  if (!d) fail("cannot open", path, errno);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());  // deterministic order
  for (const auto& n : names) open_one(path + (path.ends_with('/') ? "" : "/") + n, options, out);
}

// Opens a stream: sniffs its first bytes for a compression format.
void open_stream(const std::string& name, UniqueFd fd, Inputs& out) {
  std::string prefix(detail::kSniffBytes, '\0');
  std::size_t got = 0;
  while (got < prefix.size()) {
    std::size_t r = read_some(fd.get(), prefix.data() + got, prefix.size() - got, name);
    if (r == 0) break;
    got += r;
  }
  prefix.resize(got);
  auto format = detail::sniff_compression(prefix);
  out.push_back(std::make_unique<StreamInput>(name, std::move(fd), std::move(prefix), format));
}

void open_one(const std::string& path, const InputOptions& options, Inputs& out) {
  if (path == "-") {
    int fd = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) fail("cannot read", "-", errno);
    open_stream("-", UniqueFd(fd), out);
    return;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) fail("cannot open", path, errno);
  if (S_ISDIR(st.st_mode)) {
    if (!options.recursive) throw InputError("'" + path + "' is a directory (use -r to read the files in it)");
    open_directory(path, options, out);
    return;
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) fail("cannot open", path, errno);
  if (S_ISREG(st.st_mode)) {
    char head[detail::kSniffBytes];
    ssize_t got = ::pread(fd.get(), head, sizeof head, 0);
    if (got < 0) fail("cannot read", path, errno);
    if (detail::sniff_compression(std::string_view(head, static_cast<std::size_t>(got))) !=
        detail::Compression::kNone) {
      open_stream(path, std::move(fd), out);
      return;
    }
    out.push_back(std::make_unique<MappedInput>(path, fd.get(), static_cast<std::size_t>(st.st_size)));
    return;
  }
  open_stream(path, std::move(fd), out);  // a FIFO or character device
}

}  // namespace

std::size_t Input::read(char*, std::size_t) {
  throw std::logic_error("Input::read on a mapped input");
}

Inputs open_inputs(const std::vector<std::string>& paths, const InputOptions& options) {
  Inputs inputs;
  for (const auto& p : paths) open_one(p, options, inputs);
  return inputs;
}

}  // namespace mr
