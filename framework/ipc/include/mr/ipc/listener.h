// Listener and connect_to(): message connections between processes that do
// not share memory (a spawned child, a forkserver child, an unrelated
// program), the counterpart of Python's multiprocessing.connection.Listener
// and Client.
//
//   mr::Listener listener;                        // a fresh abstract address
//   start_child(listener.address());              // e.g. as a spawn argument
//   std::optional<mr::SocketConnection> c = listener.accept_for(10s);
//   c->send(std::string("hello"));
//
//   // in the child:
//   mr::SocketConnection c = mr::connect_to(address);
//   auto s = c.recv<std::string>();
//
// Addresses are Unix-domain socket names: "@name" is a Linux abstract
// address (no file, nothing to clean up, gone with the listener), anything
// else a filesystem path (created by the Listener, unlinked by it). Messages
// are length-prefixed frames on a stream socket; every descriptor is
// close-on-exec. Unlike a Pipe end, which needs memory shared by fork, a
// SocketConnection works across exec, at the price of a system call per
// message. There is no authentication: anyone on the machine who knows the
// address can connect, so a protocol that cares sends a secret first (the
// process pool does).
//
// End of stream: recv on a connection whose peer closed or died throws
// mr::EofError once every message sent before is read; send to such a peer
// throws std::system_error(EPIPE) (never SIGPIPE).
//
// Thread-safety: as for Connection: one sender and one receiver at a time,
// which may be different threads. Listener: accept from one thread at a
// time. Fork-safety: a forked child gets copies of the descriptors; as for
// a Pipe, the stream ends only when every copy is closed.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/base/serialize.h"
#include "mr/base/unique_fd.h"
#include "mr/ipc/connection.h"  // EofError

namespace mr {

class SocketConnection {
 public:
  // A closed connection.
  SocketConnection() noexcept = default;
  // Takes a connected stream socket.
  explicit SocketConnection(UniqueFd socket) noexcept : fd_(std::move(socket)) {}

  // Sends one message (blocks until the kernel took all of it). Throws
  // std::logic_error when closed, std::system_error(EPIPE) when the peer is gone.
  void send_bytes(std::string_view message);
  // Receives one whole message. Throws EofError at end of stream (also in
  // the middle of a message), std::logic_error when closed.
  std::string recv_bytes();
  // Gives up (empty) when no message has begun within `timeout`.
  std::optional<std::string> recv_bytes_for(Timeout timeout);

  // A message with descriptors (at most kMaxFds; SCM_RIGHTS): the peer gets
  // its own copies, close-on-exec, with recv_bytes_and_fds(). The sender
  // keeps its descriptors. Throws std::invalid_argument for too many.
  static constexpr std::size_t kMaxFds = 16;
  void send_bytes(std::string_view message, std::span<const int> fds);
  // Receives one message and the descriptors sent with it (appended to
  // `fds`). Same errors as recv_bytes().
  std::string recv_bytes_and_fds(std::vector<UniqueFd>& fds);

  // Queues a message that goes out with the next flush() or send: many
  // small messages then cost one system call. Errors come from flush().
  void send_deferred(std::string_view message);
  // Sends what send_deferred() queued (the queue is emptied even when this
  // throws). Same errors as send_bytes().
  void flush();

  template <class T>
  void send(const T& value) {
    static_assert(Saveable<T>, "mr::SocketConnection::send<T>: T is not serializable");
    if constexpr (Saveable<T>) send_bytes(to_bytes(value));
  }
  template <class T>
  T recv() {
    static_assert(Serializable<T>, "mr::SocketConnection::recv<T>: T is not serializable");
    if constexpr (Serializable<T>) return from_bytes<T>(recv_bytes());
  }

  // True when recv would not block for the first byte: data has arrived or
  // the peer is gone. Waits up to `timeout`.
  bool poll(Timeout timeout = Timeout::zero());

  void close() noexcept;
  bool closed() const noexcept { return !fd_; }
  // The socket, for poll(2) over many; owned by this object. Received bytes
  // are read ahead into a buffer (one system call for many small messages),
  // so call poll() (which sees the buffer) until it is false before sleeping
  // on fileno().
  int fileno() const noexcept { return fd_.get(); }

 private:
  void check_open(const char* op) const;
  // Makes at least `n` bytes available in the buffer; false on end of
  // stream with the buffer empty, EofError on end of stream inside a message.
  bool need(std::size_t n);
  UniqueFd fd_;
  std::vector<char> in_;                   // read-ahead buffer
  std::size_t in_head_ = 0, in_tail_ = 0;  // unread bytes: [in_head_, in_tail_)
  // Descriptors received, with the stream position of the frame header they
  // came with (a sender's descriptors ride on its 8-byte header).
  struct PendingFd {
    std::uint64_t frame;
    UniqueFd fd;
  };
  std::vector<PendingFd> in_fds_;
  std::uint64_t in_position_ = 0;  // stream position of in_head_
  std::string out_;                // framed messages queued by send_deferred()
};

class Listener {
 public:
  // Listens on `address` ("@name": abstract; otherwise a path, which must
  // not exist yet). Empty: a fresh abstract address "@mr.<pid>.<random>".
  // Throws std::system_error (EADDRINUSE, ...), std::invalid_argument for a
  // name too long for a Unix socket.
  explicit Listener(std::string address = {});
  Listener(Listener&&) noexcept = default;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  // Closes; unlinks a filesystem address.
  ~Listener();

  const std::string& address() const noexcept { return address_; }
  // Waits for the next connection.
  SocketConnection accept();
  // Empty when none arrived within `timeout`.
  std::optional<SocketConnection> accept_for(Timeout timeout);
  void close() noexcept;
  int fileno() const noexcept { return fd_.get(); }

 private:
  std::string address_;
  UniqueFd fd_;
  bool unlink_ = false;
};

// Connects to a Listener's address. Throws std::system_error
// (ECONNREFUSED, ENOENT) when nobody listens there.
SocketConnection connect_to(std::string_view address);

// The connect-back handshake of a child that shares no memory with its
// parent (spawn, forkserver), used by the process pool and the engine:
//
//   mr::Listener listener;
//   const std::string token = mr::random_token();
//   mr::Process child(po, mr::target<&entry>, listener.address(), token);
//   child.start();
//   std::optional<mr::SocketConnection> c =
//       mr::accept_child(listener, token, child.sentinel(), child.pid(), 60s);
//   // in entry(address, token):  mr::SocketConnection c = mr::connect_back(address, token);
//
// 32 random hex digits (getrandom), a secret for connect_back.
std::string random_token();
// connect_to(address), then sends `token` as the first message.
SocketConnection connect_back(std::string_view address, std::string_view token);
// Accepts connections until one sends `token` first, and returns it. A peer
// whose credentials (SO_PEERCRED) are not our effective uid, or not process
// `pid` when that is given (non-zero), is dropped at once without reading
// from it, so that strangers queuing silent connections cannot delay us;
// our own uid's other peers get at most 1 s each to send the token. Empty
// when `sentinel` (e.g. Process::sentinel()) becomes readable first, i.e.
// the child ended without connecting. Throws mr::TimeoutError after
// `timeout`.
std::optional<SocketConnection> accept_child(Listener& listener, std::string_view token,
                                             int sentinel, pid_t pid, Timeout timeout);
// The same for any process of our uid.
std::optional<SocketConnection> accept_child(Listener& listener, std::string_view token,
                                             int sentinel, Timeout timeout);

}  // namespace mr
