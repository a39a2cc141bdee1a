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
#include "mr/mapreduce/interrupt.h"

namespace mr {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& name, int err) {
  throw InputError(what + " '" + name + "': " + std::strerror(err));
}

}  // namespace

namespace detail {

// A regular file mapped read-only. Shared with fork()ed workers.
class MappedInput {
 public:
  static Input open(std::string name, int fd, std::size_t size) {
    auto mapped = std::make_unique<MappedInput>(name, fd, size);
    return Input(std::move(name), std::move(mapped));
  }
  MappedInput(const std::string& name, int fd, std::size_t size) : size_(size) {
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) fail("cannot map", name, errno);
    ::madvise(p, size_, MADV_SEQUENTIAL);
    map_ = p;
  }
  MappedInput(const MappedInput&) = delete;
  MappedInput& operator=(const MappedInput&) = delete;
  ~MappedInput() {
    if (map_) ::munmap(map_, size_);
  }
  std::string_view data() const noexcept {
    return map_ ? std::string_view(static_cast<const char*>(map_), size_) : std::string_view();
  }

 private:
  void* map_ = nullptr;
  std::size_t size_;
};

}  // namespace detail

namespace {

std::size_t read_some(int fd, char* p, std::size_t n, const std::string& name) {
  for (;;) {
    ssize_t r = ::read(fd, p, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno != EINTR) fail("cannot read", name, errno);
    if (interrupted()) throw Interrupted();  // Ctrl-C while waiting for input
  }
}

}  // namespace

namespace detail {

// A stream read with read(): standard input, a pipe, or a compressed file.
// Plain streams are passed through; compressed ones are decompressed
// (decompressor.h says which formats, and how archives are read).
class StreamInput {
 public:
  static Input open(std::string name, UniqueFd fd, std::string prefix, Compression format) {
    auto stream = std::make_unique<StreamInput>(name, std::move(fd), std::move(prefix), format);
    return Input(std::move(name), std::move(stream));
  }
  StreamInput(std::string name, UniqueFd fd, std::string prefix, Compression format)
      : name_(std::move(name)), fd_(std::move(fd)), pending_(std::move(prefix)) {
    if (format != Compression::kNone)
      decoder_ = std::make_unique<Decompressor>(
          name_, format, [this](char* p, std::size_t n) { return read_plain(p, n); });
  }

  std::size_t read(char* buffer, std::size_t n) {
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

  std::string name_;
  UniqueFd fd_;
  std::string pending_;  // bytes read to sniff the format, not yet consumed
  std::unique_ptr<Decompressor> decoder_;
};

}  // namespace detail

namespace {

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
  out.push_back(detail::StreamInput::open(name, std::move(fd), std::move(prefix), format));
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
    out.push_back(detail::MappedInput::open(path, fd.get(), static_cast<std::size_t>(st.st_size)));
    return;
  }
  open_stream(path, std::move(fd), out);  // a FIFO or character device
}

}  // namespace

Input::Input(std::string name, std::unique_ptr<detail::MappedInput> mapped)
    : name_(std::move(name)), data_(mapped->data()), mapped_(std::move(mapped)) {}
Input::Input(std::string name, std::unique_ptr<detail::StreamInput> stream)
    : name_(std::move(name)), streamed_(true), stream_(std::move(stream)) {}
Input::Input(Input&&) noexcept = default;
Input& Input::operator=(Input&&) noexcept = default;
Input::~Input() = default;

Input Input::stream_name(std::string name) {
  return Input(std::move(name), std::unique_ptr<detail::StreamInput>());
}

std::size_t Input::read(char* buffer, std::size_t n) {
  return stream_ ? stream_->read(buffer, n) : 0;
}

Inputs open_inputs(const std::vector<std::string>& paths, const InputOptions& options) {
  Inputs inputs;
  for (const auto& p : paths) open_one(p, options, inputs);
  return inputs;
}

}  // namespace mr
