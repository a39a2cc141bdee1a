// Private helpers of the ipc layer's shared-memory rings (Connection's
// SPSC rings and Queue's ring): copies into and out of a power-of-two byte
// ring that wrap at its end, and the spin hint used while polling one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mr::detail {

// Copies `n` bytes to ring position `pos` (any value; masked by `mask`,
// which is the ring's capacity - 1), wrapping at the end of `data`.
inline void ring_put(char* data, std::uint64_t mask, std::uint64_t pos, const void* src,
                     std::size_t n) noexcept {
  const std::size_t off = pos & mask;
  const std::size_t first = std::min<std::size_t>(n, mask + 1 - off);
  std::memcpy(data + off, src, first);
  if (n > first) std::memcpy(data, static_cast<const char*>(src) + first, n - first);
}

// Copies `n` bytes from ring position `pos` out to `dst`, wrapping likewise.
inline void ring_get(const char* data, std::uint64_t mask, std::uint64_t pos, void* dst,
                     std::size_t n) noexcept {
  const std::size_t off = pos & mask;
  const std::size_t first = std::min<std::size_t>(n, mask + 1 - off);
  std::memcpy(dst, data + off, first);
  if (n > first) std::memcpy(static_cast<char*>(dst) + first, data, n - first);
}

// Tells the CPU this thread is spinning on a value another core will change.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace mr::detail
