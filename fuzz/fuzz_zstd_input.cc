// The compressed-input reader on hostile bytes: a file that starts with the
// zstd magic is opened as a stream and read to its end; it either yields
// bytes or throws mr::InputError (corrupt, truncated), never crashes or
// over-reads. Half the inputs are made valid frames of the fuzz bytes (so
// decompression is exercised past the header) and then possibly damaged.
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mr/base/io.h"
#include "mr/mapreduce/input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string file;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    file.resize(ZSTD_compressBound(rest.size()));
    file.resize(ZSTD_compress(file.data(), file.size(), rest.data(), rest.size(), 1));
    if (data[0] & 2 && !file.empty()) file[(data[0] >> 2) % file.size()] ^= 0x5a;  // damage
    if (data[0] & 4) file.resize(file.size() - (data[0] >> 3) % file.size());      // truncate
  } else {
    file = "\x28\xb5\x2f\xfd";  // the magic, then raw hostile bytes
    file.append(rest);
  }
  const int fd = ::memfd_create("fuzz-zstd", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  mr::write_full(fd, file.data(), file.size());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  try {
    mr::Inputs inputs = mr::open_inputs({"/proc/self/fd/" + std::to_string(fd)}, {});
    if (inputs.size() != 1) std::abort();
    if (!inputs[0].streamed()) return 0;  // truncated before the end of the magic: plain text
    std::string out;
    char buf[4096];
    while (std::size_t n = inputs[0].read(buf, sizeof buf)) out.append(buf, n);
    // An undamaged frame gives back exactly the bytes that were compressed.
    if ((data[0] & 7) == 1 && out != rest) std::abort();
  } catch (const mr::InputError&) {
  }
  return 0;
}
