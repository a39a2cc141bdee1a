// Whole-buffer reads and writes on descriptors, restarted on EINTR.
#pragma once

#include <cstddef>

#include "mr/base/deadline.h"

namespace mr {

// Writes all `n` bytes or throws std::system_error. Broken pipes raise EPIPE
// as an error (the caller is expected to ignore SIGPIPE; see
// ignore_sigpipe()).
void write_full(int fd, const void* data, std::size_t n);

// Reads exactly `n` bytes. Returns false on end-of-file before the first
// byte; throws std::system_error on errors and on end-of-file in the middle.
bool read_full(int fd, void* data, std::size_t n);

// Sends all `n` bytes on a socket with send(MSG_NOSIGNAL), so a dead peer
// is std::system_error(EPIPE) (a reset connection too), never SIGPIPE.
void send_full(int socket, const void* data, std::size_t n);

// Waits until `fd` is readable or hung up (poll(2), restarted on EINTR);
// false when `deadline` passed first. Throws std::system_error.
bool wait_readable(int fd, const Deadline& deadline);

// Sets SIGPIPE to ignored for this process, once, so that writes to a closed
// pipe fail with EPIPE instead of killing the process.
void ignore_sigpipe() noexcept;

}  // namespace mr
