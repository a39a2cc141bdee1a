// Connection: one end of a Pipe (see mr/ipc/pipe.h), the counterpart of
// Python's multiprocessing.connection.Connection for fork()ed processes.
//
//   auto [parent, child] = mr::Pipe();
//   // fork; the child keeps `child` and closes `parent`, the parent the reverse
//   child.send(std::vector<int>{1, 2, 3});
//   auto v = parent.recv<std::vector<int>>();
//
// How it works. Each direction of a pipe is a single-producer/single-consumer
// ring buffer in shared memory (an anonymous SharedRegion inherited across
// fork) carrying length-prefixed messages; while both sides keep up, sending
// and receiving make no system call. A side that must wait (empty ring for a
// reader, full ring for a writer) raises a flag and sleeps in poll(2) on a
// "doorbell" socket pair; the other side writes one byte to it only when the
// flag is up. Messages of any size stream through the ring in pieces.
//
// End of stream. The doorbell socket also carries liveness: when every copy
// of the peer end is closed (close(), destruction, or the death of the
// processes that held it, SIGKILL included), a reader that finds nothing
// left to read gets mr::EofError, and a writer that has to wait for room
// gets std::system_error(EPIPE). Like for an OS pipe, a process must close
// the copies of the ends it does not use after fork(), or its own copy keeps
// the stream alive. Because sending does not wait for the reader, messages
// sent to a peer that is already gone are silently accepted until the ring
// is full; the EPIPE error comes at the latest then.
//
// Ownership: a Connection owns its doorbell descriptors (close-on-exec) and
// shares the ring mapping with the other end created in the same process.
// Move-only; destruction closes.
//
// Thread-safety and fork-safety: like Python's, an end must not be used for
// receiving by two threads or processes at the same time, nor for sending by
// two at the same time (the stream would interleave). One thread sending
// while another receives on the same duplex end is fine. An end may be
// handed from process to process (fork), used by one at a time. The object
// itself is not synchronized (close() while another thread uses it is a
// race).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "mr/base/deadline.h"
#include "mr/base/serialize.h"
#include "mr/base/shared_region.h"
#include "mr/base/unique_fd.h"

namespace mr {

// The peer closed its end (or its processes died) and nothing is left to
// read: Python's EOFError. Also thrown when the peer vanished in the middle
// of a message.
class EofError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// recv_bytes_into(): the message did not fit in the buffer given (Python's
// BufferTooShort). The message was consumed; message() holds all of it.
class BufferTooShort : public std::runtime_error {
 public:
  explicit BufferTooShort(std::string message, std::size_t room);
  const std::string& message() const noexcept { return message_; }

 private:
  std::string message_;
};

namespace detail {
struct RingHeader;  // the shared state of one direction (connection.cc)
struct MultiWait;   // mr::wait's access to the reader side (wait.cc)
}  // namespace detail

class Connection;

// The default size of each direction's ring buffer in a Pipe.
inline constexpr std::size_t kPipeRingBytes = 256 * 1024;

// Creates a pipe and returns its two ends (declared here, documented in
// mr/ipc/pipe.h).
std::pair<Connection, Connection> Pipe(bool duplex = true, std::size_t ring_bytes = kPipeRingBytes);

class Connection {
 public:
  // A closed connection (readable() and writable() are false).
  Connection() noexcept = default;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Sends one message: returns once all of it is in the ring (not when the
  // peer read it). Blocks while the ring is full. Throws std::logic_error on
  // a closed or read-only end, std::system_error(EPIPE) when the peer is gone
  // and the message cannot be delivered.
  void send_bytes(std::string_view message);
  // Sends buffer[offset, offset + size) as one message (size npos: to the
  // end), Python's send_bytes(buf, offset, size). Throws std::out_of_range
  // when offset or offset + size lies past the end of `buffer`.
  void send_bytes(std::string_view buffer, std::size_t offset,
                  std::size_t size = std::string_view::npos);

  // Receives one whole message, blocking until one arrives. Throws EofError
  // when the peer is closed and nothing is left, std::logic_error on a
  // closed or write-only end.
  std::string recv_bytes();
  // Like recv_bytes() but gives up (empty optional) if no message has begun
  // to arrive within `timeout`. Once a message has begun, waits for the rest
  // of it without a deadline (the sender is committed to finishing it).
  std::optional<std::string> recv_bytes_for(Timeout timeout);
  // Receives one message into buffer[offset, ...) and returns its size
  // (Python's recv_bytes_into). Throws std::out_of_range when offset is
  // past the end of `buffer` (nothing is received then), BufferTooShort
  // (carrying the whole, consumed message) when it does not fit, and what
  // recv_bytes() throws.
  std::size_t recv_bytes_into(std::span<char> buffer, std::size_t offset = 0);

  // Serializes `value` with mr/base/serialize.h and sends it.
  template <class T>
  void send(const T& value);
  // Receives one message and deserializes it as T. Throws EofError like
  // recv_bytes(), mr::SerializationError when the bytes are not a T.
  template <class T>
  T recv();
  template <class T>
  std::optional<T> recv_for(Timeout timeout);

  // True when recv would not block: a message has begun to arrive, or the
  // peer is gone (recv then throws EofError). Waits up to `timeout` (zero:
  // just checks; Timeout::max(): waits forever).
  bool poll(Timeout timeout = Timeout::zero());

  // Closes this end in this process (the peer sees end of stream once every
  // process holding a copy of this end has closed it). Idempotent.
  void close() noexcept;
  bool closed() const noexcept { return !in_ && !out_; }
  bool readable() const noexcept { return in_ != nullptr; }
  bool writable() const noexcept { return out_ != nullptr; }

 private:
  friend std::pair<Connection, Connection> Pipe(bool duplex, std::size_t ring_bytes);
  friend struct detail::MultiWait;
  friend class Channel;  // fileno(): the doorbell

  // Which way a wait goes: for data to read, or for room to write.
  enum class WaitResult { kReady, kTimeout, kHangup };

  void check_readable(const char* op) const;
  void check_writable(const char* op) const;
  // Waits until at least `n` bytes can be read; kHangup when the writer is
  // gone and fewer than `n` bytes are there.
  WaitResult wait_readable(std::size_t n, const Deadline& deadline);
  // Waits until at least `n` bytes of room; throws EPIPE when the reader is gone.
  void wait_writable(std::size_t n);
  // Reads one message whose first byte is known to be available.
  std::string read_message();
  // Publishes the new write/read position and rings the peer if it sleeps.
  void publish_tail(std::uint64_t tail);
  void publish_head(std::uint64_t head) noexcept;

  // The reader side of wait_readable() in pieces, for mr::wait (wait.h),
  // which sleeps on many doorbells at once. Same contract as recv: only the
  // one reader of this end calls them. has_message(): a message has begun to
  // arrive (a seq_cst look at the writer's position). announce_sleep():
  // raises the "reader sleeps" flag, after which the caller must re-check
  // has_message() before it sleeps on in_bell_ (the Dekker handshake);
  // unannounce_sleep() lowers it. drain_bell(): eats the wake-up bytes of a
  // doorbell that poll(2) reported; true when the writer is gone.
  bool has_message() noexcept;
  void announce_sleep() noexcept;
  void unannounce_sleep() noexcept;
  bool drain_bell();

  std::shared_ptr<SharedRegion> region_;  // both directions' rings
  detail::RingHeader* in_ = nullptr;      // ring this end reads from
  detail::RingHeader* out_ = nullptr;     // ring this end writes to
  UniqueFd in_bell_;                      // doorbell of `in_` (the writer of `in_` holds the peer)
  UniqueFd out_bell_;                     // doorbell of `out_`
  char* in_data_ = nullptr;               // ring bytes of `in_` / `out_` in this process's mapping
  char* out_data_ = nullptr;
  std::uint64_t in_mask_ = 0;  // capacity - 1 (capacities are powers of two)
  std::uint64_t out_mask_ = 0;
  // Hints about the other side's position (never ahead of the truth).
  std::uint64_t in_tail_hint_ = 0;
  std::uint64_t out_head_hint_ = 0;
};

template <class T>
void Connection::send(const T& value) {
  static_assert(Saveable<T>,
                "mr::Connection::send<T>: T is not serializable (see mr/base/serialize.h: give "
                "it a `template <class Ar> void serialize(Ar&)` member or opt in with "
                "mr::SerializeAsBytes<T>)");
  if constexpr (Saveable<T>) send_bytes(to_bytes(value));
}

template <class T>
T Connection::recv() {
  static_assert(Serializable<T>,
                "mr::Connection::recv<T>: T is not serializable (see mr/base/serialize.h)");
  if constexpr (Serializable<T>) return from_bytes<T>(recv_bytes());
}

template <class T>
std::optional<T> Connection::recv_for(Timeout timeout) {
  static_assert(Serializable<T>,
                "mr::Connection::recv_for<T>: T is not serializable (see mr/base/serialize.h)");
  if constexpr (Serializable<T>) {
    auto bytes = recv_bytes_for(timeout);
    if (!bytes) return std::nullopt;
    return from_bytes<T>(*bytes);
  }
}

}  // namespace mr
