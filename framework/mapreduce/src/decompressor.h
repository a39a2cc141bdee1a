// Compressed inputs: which format a file's first bytes announce, and a
// streaming decoder for it (libarchive's filters: gzip, xz, bzip2, lz4,
// zstd). Used by the master only, from one thread; not fork-safe while a
// read is in progress (the master does not fork then).
//
// A format is recognized by its magic bytes alone, whatever the file is
// called, as zcat -f or zstd's own tools do; anything else is plain text.
// Several compressed members in a row (concatenated gzip files, zstd frames)
// are one stream. A tar archive inside the compression (.tar.gz, .tar.xz,
// ...) is read member by member as `tar -xOf` prints them, with a line break
// added after a member that does not end in one, so a word or a line never
// runs from one member into the next.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace mr::detail {

enum class Compression { kNone, kGzip, kXz, kBzip2, kLz4, kZstd };

// How many leading bytes sniff_compression() looks at (fewer is fine when the
// input is shorter).
inline constexpr std::size_t kSniffBytes = 10;

// The compression announced by `head`, the first bytes of an input.
Compression sniff_compression(std::string_view head) noexcept;

// "gzip", "xz", "bzip2", "lz4", "zstd" ("none" for kNone).
const char* compression_name(Compression c) noexcept;

// Decompresses one input. `read_raw(buffer, n)` supplies the compressed bytes
// (0 at their end) and may throw; its exception is rethrown by read() after
// the decoder has been left in a consistent state.
class Decompressor {
 public:
  using RawReader = std::function<std::size_t(char* buffer, std::size_t n)>;
  Decompressor(std::string name, Compression format, RawReader read_raw);
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // Up to `n` decompressed bytes into `buffer`; 0 at the end of the input.
  // Throws InputError naming the input and the format for corrupt or
  // truncated data.
  std::size_t read(char* buffer, std::size_t n);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mr::detail
