#include "mr/mapreduce/input.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "mr/base/shared_region.h"
#include "mr/base/unique_fd.h"

namespace mr {
namespace {

constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

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

// Bytes held in anonymous shared memory (stdin, pipes, decompressed zstd).
class BufferedInput : public Input {
 public:
  explicit BufferedInput(std::string name) : Input(std::move(name)) {}

  // Appends bytes, growing the region by doubling.
  char* reserve(std::size_t n) {
    if (used_ + n > region_.size() || !region_) {
      std::size_t cap = std::max<std::size_t>(region_ ? region_.size() * 2 : 1 << 20, used_ + n);
      auto bigger = SharedRegion::anonymous(cap);
      if (used_) std::memcpy(bigger.data(), region_.data(), used_);
      region_ = std::move(bigger);
    }
    return static_cast<char*>(region_.data()) + used_;
  }
  void commit(std::size_t n) {
    used_ += n;
    data_ = std::string_view(static_cast<const char*>(region_.data()), used_);
  }

 private:
  SharedRegion region_;
  std::size_t used_ = 0;
};

std::size_t read_some(int fd, char* p, std::size_t n, const std::string& name) {
  for (;;) {
    ssize_t r = ::read(fd, p, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno != EINTR) fail("cannot read", name, errno);
  }
}

// Reads all of `fd` (from its current position) after `prefix` bytes already read.
void read_all(BufferedInput& in, int fd, const std::string& name) {
  for (;;) {
    char* p = in.reserve(1 << 20);
    std::size_t r = read_some(fd, p, 1 << 20, name);
    if (r == 0) return;
    in.commit(r);
  }
}

// Decompresses `src` (whole zstd frames, possibly several) into `out`.
void decompress_zstd(std::string_view src, BufferedInput& out, const std::string& name) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  ZSTD_inBuffer in{src.data(), src.size(), 0};
  std::size_t last = 0;
  while (in.pos < in.size) {
    char* p = out.reserve(1 << 20);
    ZSTD_outBuffer o{p, 1 << 20, 0};
    last = ZSTD_decompressStream(ctx.get(), &o, &in);
    if (ZSTD_isError(last))
      throw InputError("corrupt zstd data in '" + name + "': " + ZSTD_getErrorName(last));
    out.commit(o.pos);
  }
  // Flush what the decoder still holds.
  while (last != 0) {
    char* p = out.reserve(1 << 20);
    ZSTD_outBuffer o{p, 1 << 20, 0};
    last = ZSTD_decompressStream(ctx.get(), &o, &in);
    if (ZSTD_isError(last))
      throw InputError("corrupt zstd data in '" + name + "': " + ZSTD_getErrorName(last));
    if (o.pos == 0 && last != 0) throw InputError("truncated zstd data in '" + name + "'");
    out.commit(o.pos);
  }
}

bool is_zstd(std::string_view data) {
  return data.size() >= 4 && std::memcmp(data.data(), kZstdMagic, 4) == 0;
}

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

void open_one(const std::string& path, const InputOptions& options, Inputs& out) {
  if (path == "-") {
    auto in = std::make_unique<BufferedInput>("-");
    read_all(*in, STDIN_FILENO, "-");
    if (is_zstd(in->data())) {
      auto plain = std::make_unique<BufferedInput>("-");
      decompress_zstd(in->data(), *plain, "-");
      in = std::move(plain);
    }
    out.push_back(std::move(in));
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
    auto mapped = std::make_unique<MappedInput>(path, fd.get(), static_cast<std::size_t>(st.st_size));
    if (is_zstd(mapped->data())) {
      auto plain = std::make_unique<BufferedInput>(path);
      decompress_zstd(mapped->data(), *plain, path);
      out.push_back(std::move(plain));
    } else {
      out.push_back(std::move(mapped));
    }
    return;
  }
  // A pipe, FIFO or character device: read it to the end.
  auto in = std::make_unique<BufferedInput>(path);
  read_all(*in, fd.get(), path);
  if (is_zstd(in->data())) {
    auto plain = std::make_unique<BufferedInput>(path);
    decompress_zstd(in->data(), *plain, path);
    in = std::move(plain);
  }
  out.push_back(std::move(in));
}

}  // namespace

Inputs open_inputs(const std::vector<std::string>& paths, const InputOptions& options) {
  Inputs inputs;
  for (const auto& p : paths) open_one(p, options, inputs);
  return inputs;
}

}  // namespace mr
