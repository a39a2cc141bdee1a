// Pipe(): a two-ended message channel between fork()ed processes, Python's
// multiprocessing.Pipe().
//
//   auto [a, b] = mr::Pipe();          // duplex: both ends send and receive
//   auto [r, w] = mr::Pipe(false);     // one-way: r receives, w sends
//
// See mr/ipc/connection.h for the ends, how they work (shared-memory rings
// with a socket doorbell), end-of-stream and thread-safety rules.
#pragma once

#include "mr/ipc/connection.h"

namespace mr {

// Creates the shared rings (`ring_bytes` each, rounded up to a power of two,
// at least 4 KiB) and the doorbell sockets, and returns the two ends. With
// duplex == false, the first end can only receive and the second only send.
// Call before fork(); each process then closes the end it does not use.
// Throws std::system_error when memory or descriptors run out,
// std::invalid_argument for an absurd ring size.
//
//   std::pair<Connection, Connection> Pipe(bool duplex = true,
//                                          std::size_t ring_bytes = kPipeRingBytes);
//
// (Declared in connection.h, which this header includes.)

}  // namespace mr
