#include "shuffle.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <stdexcept>

#include "mr/base/error.h"
#include "mr/base/io.h"
#include "mr/base/unique_fd.h"
#include "spill_dir.h"

namespace mr::detail {

Arena::Arena(std::size_t capacity, bool memfd)
    : region_(memfd ? SharedRegion::memfd("mr.arena", capacity + kHeader)
                    : SharedRegion::anonymous(capacity + kHeader)),
      header_(new (region_.data()) ArenaHeader{}),
      base_(static_cast<std::byte*>(region_.data()) + kHeader),
      capacity_(capacity) {}

Arena::Arena(SharedRegion attached)
    : region_(std::move(attached)),
      header_(static_cast<ArenaHeader*>(region_.data())),
      base_(static_cast<std::byte*>(region_.data()) + kHeader),
      capacity_(region_.size() - kHeader) {}

std::span<std::byte> Arena::for_writing(const Run& r) const {
  const std::span<std::byte> bytes = at(r);
  // Whole pages only: the partial pages at the ends fault as before.
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(bytes.data()) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(bytes.data()) + bytes.size()) & ~(page - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
  return bytes;
}

void remove_tree(const std::string& dir) noexcept {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

std::vector<SpillRun> spill(const std::string& dir, std::span<const std::span<std::byte>> parts) {
  // The master made `dir` (spill_dir.h); empty when it could not.
  if (dir.empty())
    throw std::runtime_error("cannot spill: no folder for spill files could be made in '" +
                             temp_base() + "'");
  static unsigned counter = 0;
  std::string path =
      dir + "/spill-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".zst";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open " + path);
  std::vector<SpillRun> runs;
  std::uint64_t at = 0;
  std::string frame;
  for (const auto& part : parts) {
    SpillRun r{path, at, 0, part.size()};
    if (!part.empty()) {
      frame.resize(ZSTD_compressBound(part.size()));
      std::size_t n = ZSTD_compress(frame.data(), frame.size(), part.data(), part.size(), 1);
      if (ZSTD_isError(n)) throw std::runtime_error(std::string("zstd: ") + ZSTD_getErrorName(n));
      write_full(fd.get(), frame.data(), n);
      r.length = n;
      at += n;
    }
    runs.push_back(r);
  }
  return runs;
}

std::string unspill(const SpillRun& r) {
  UniqueFd fd(::open(r.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) throw_errno("open " + r.path);
  std::string frame(r.length, '\0');
  if (::pread(fd.get(), frame.data(), r.length, static_cast<off_t>(r.offset)) !=
      static_cast<ssize_t>(r.length))
    throw std::runtime_error("short read from spill file " + r.path);
  std::string plain(r.plain_length, '\0');
  std::size_t n = ZSTD_decompress(plain.data(), plain.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != r.plain_length)
    throw std::runtime_error("corrupt spill file " + r.path);
  return plain;
}

}  // namespace mr::detail
