// Listener and SocketConnection: length-prefixed frames on Unix-domain
// stream sockets.
#include "mr/ipc/listener.h"

#include <errno.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "mr/base/error.h"
#include "mr/base/io.h"
#include "wait_util.h"

namespace mr {
namespace {

// sockaddr_un for `address` and its length ("@x": abstract, a leading NUL).
socklen_t make_sockaddr(std::string_view address, sockaddr_un& sa) {
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (address.empty() || address.size() >= sizeof sa.sun_path)
    throw std::invalid_argument("mr::Listener: bad socket address '" + std::string(address) +
                                "' (empty, or longer than " +
                                std::to_string(sizeof sa.sun_path - 1) + " bytes)");
  std::memcpy(sa.sun_path, address.data(), address.size());
  if (address[0] == '@') sa.sun_path[0] = '\0';
  const std::size_t path_len = address.size() + (address[0] == '@' ? 0 : 1);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_len);
}

std::string fresh_abstract_address() {
  std::uint64_t r[2] = {0, 0};
  if (::getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) throw_errno("getrandom");
  char buf[64];
  std::snprintf(buf, sizeof buf, "@mr.%d.%016llx%016llx", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(r[0]), static_cast<unsigned long long>(r[1]));
  return buf;
}

// Waits until `fd` is readable (or hung up); false on timeout.
bool wait_in(int fd, const Deadline& deadline, const char* what) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int r = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) throw_errno(what);
    if (r == 0 && deadline.expired()) return false;
  }
}

// Reads exactly n bytes; false on EOF before the first, EofError on EOF after.
bool read_exact(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, p + got, n - got, 0);
    if (r > 0) {
      got += static_cast<std::size_t>(r);
    } else if (r == 0 || errno == ECONNRESET) {
      if (got == 0) return false;
      throw EofError("mr::SocketConnection: peer vanished in the middle of a message");
    } else if (errno != EINTR) {
      throw_errno("mr::SocketConnection: recv");
    }
  }
  return true;
}

void send_exact(int fd, const void* data, std::size_t n) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) errno = EPIPE;
      throw_errno("mr::SocketConnection: send");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

void SocketConnection::check_open(const char* op) const {
  if (!fd_) throw std::logic_error(std::string("mr::SocketConnection::") + op + ": closed");
}

void SocketConnection::send_bytes(std::string_view message) {
  check_open("send");
  const std::uint64_t n = message.size();
  if (n <= 4096) {  // one system call for small messages
    char buf[4096 + sizeof n];
    std::memcpy(buf, &n, sizeof n);
    std::memcpy(buf + sizeof n, message.data(), n);
    send_exact(fd_.get(), buf, sizeof n + n);
    return;
  }
  send_exact(fd_.get(), &n, sizeof n);
  send_exact(fd_.get(), message.data(), n);
}

std::string SocketConnection::recv_bytes() {
  check_open("recv");
  std::uint64_t n = 0;
  if (!read_exact(fd_.get(), &n, sizeof n))
    throw EofError("mr::SocketConnection: end of stream (the peer closed or died)");
  std::string bytes(n, '\0');
  if (n != 0 && !read_exact(fd_.get(), bytes.data(), n))
    throw EofError("mr::SocketConnection: peer vanished in the middle of a message");
  return bytes;
}

std::optional<std::string> SocketConnection::recv_bytes_for(Timeout timeout) {
  if (!poll(timeout)) return std::nullopt;
  return recv_bytes();
}

bool SocketConnection::poll(Timeout timeout) {
  check_open("poll");
  return wait_in(fd_.get(), detail::deadline_after(timeout), "mr::SocketConnection: poll");
}

Listener::Listener(std::string address) {
  if (address.empty()) address = fresh_abstract_address();
  sockaddr_un sa;
  const socklen_t len = make_sockaddr(address, sa);
  fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd_) throw_errno("mr::Listener: socket");
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), len) < 0)
    throw_errno("mr::Listener: bind " + address);
  unlink_ = address[0] != '@';
  address_ = std::move(address);
  if (::listen(fd_.get(), 64) < 0) {
    const int err = errno;
    close();
    throw_errno("mr::Listener: listen", err);
  }
}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    close();
    address_ = std::move(other.address_);
    fd_ = std::move(other.fd_);
    unlink_ = std::exchange(other.unlink_, false);
  }
  return *this;
}

Listener::~Listener() { close(); }

void Listener::close() noexcept {
  if (fd_ && unlink_) ::unlink(address_.c_str());
  unlink_ = false;
  fd_.reset();
}

SocketConnection Listener::accept() { return *accept_for(Timeout::max()); }

std::optional<SocketConnection> Listener::accept_for(Timeout timeout) {
  if (!fd_) throw std::logic_error("mr::Listener::accept: closed");
  if (!wait_in(fd_.get(), detail::deadline_after(timeout), "mr::Listener: poll"))
    return std::nullopt;
  for (;;) {
    int c = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) return SocketConnection(UniqueFd(c));
    if (errno != EINTR && errno != ECONNABORTED) throw_errno("mr::Listener: accept");
  }
}

SocketConnection connect_to(std::string_view address) {
  sockaddr_un sa;
  const socklen_t len = make_sockaddr(address, sa);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("mr::connect_to: socket");
  while (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) < 0)
    if (errno != EINTR) throw_errno("mr::connect_to " + std::string(address));
  return SocketConnection(std::move(fd));
}

}  // namespace mr
