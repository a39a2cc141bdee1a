// Whole-buffer reads and writes on descriptors, restarted on EINTR.
#pragma once

#include <cstddef>

namespace mr {

// Writes all `n` bytes or throws std::system_error. Broken pipes raise EPIPE
// as an error (the caller is expected to ignore SIGPIPE; see
// ignore_sigpipe()).
void write_full(int fd, const void* data, std::size_t n);

// Reads exactly `n` bytes. Returns false on end-of-file before the first
// byte; throws std::system_error on errors and on end-of-file in the middle.
bool read_full(int fd, void* data, std::size_t n);

// Sets SIGPIPE to ignored for this process, once, so that writes to a closed
// pipe fail with EPIPE instead of killing the process.
void ignore_sigpipe() noexcept;

}  // namespace mr
