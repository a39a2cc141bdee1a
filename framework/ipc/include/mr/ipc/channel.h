// Channel: one end of a message channel to another process, whichever way
// that process was started: a Pipe end (Connection: shared rings, for fork)
// or a SocketConnection (a Unix socket, for spawn and forkserver, which
// share no memory). Code that talks to a worker holds one Channel and never
// asks which kind it is; mr::wait() (mr/ipc/wait.h) takes Channels too.
//
//   mr::Channel ch(std::move(pipe_end));        // or: mr::Channel ch(std::move(socket));
//   ch.send(Request{...});
//   if (ch.poll(100ms)) Reply r = ch.recv<Reply>();
//
// Errors are those of the end inside: recv throws mr::EofError when the peer
// is gone and nothing is left; send throws std::system_error(EPIPE) when the
// peer is gone (a Pipe end only once its ring is full); std::logic_error on
// a closed channel.
//
// Ownership: move-only; owns its end (closing it closes the end).
// Thread-safety and fork-safety: those of the end inside (one sender and one
// receiver at a time; see connection.h and listener.h).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "mr/base/deadline.h"
#include "mr/base/serialize.h"
#include "mr/ipc/connection.h"
#include "mr/ipc/listener.h"

namespace mr {

class Channel {
 public:
  // A closed channel.
  Channel() noexcept = default;
  // Takes a Pipe end or a connected socket.
  explicit Channel(Connection end) noexcept : end_(std::move(end)) {}
  explicit Channel(SocketConnection end) noexcept : end_(std::move(end)) {}

  // Sends one message. See the errors above.
  void send_bytes(std::string_view message);
  // Receives one whole message, blocking until one arrives.
  std::string recv_bytes();
  template <class T>
  void send(const T& value) {
    static_assert(Saveable<T>, "mr::Channel::send<T>: T is not serializable");
    if constexpr (Saveable<T>) send_bytes(to_bytes(value));
  }
  template <class T>
  T recv() {
    static_assert(Serializable<T>, "mr::Channel::recv<T>: T is not serializable");
    if constexpr (Serializable<T>) return from_bytes<T>(recv_bytes());
  }
  // Queues a message for the next flush() (a socket then sends a batch in
  // one system call); a Pipe end sends it at once.
  void send_deferred(std::string_view message);
  void flush();

  // True when recv would not block: a message has begun to arrive, or the
  // peer is gone (recv then throws EofError). Waits up to `timeout`.
  // Throws std::logic_error on a closed channel.
  bool poll(Timeout timeout = Timeout::zero());

  // A descriptor for poll(2): the socket, or a Pipe end's doorbell. Owned by
  // the channel. Readable is only a hint (a Pipe end's writer rings only
  // when the reader said it sleeps): to sleep until a message, use
  // mr::wait(), which knows both kinds. -1 when closed.
  int fileno() const noexcept;

  void close() noexcept;
  bool closed() const noexcept;
  // The end inside, for code that needs what only that kind has (descriptor
  // passing on a socket); null when the channel holds the other kind.
  Connection* connection() noexcept { return std::get_if<Connection>(&end_); }
  SocketConnection* socket() noexcept { return std::get_if<SocketConnection>(&end_); }

 private:
  std::variant<std::monostate, Connection, SocketConnection> end_;
};

}  // namespace mr
