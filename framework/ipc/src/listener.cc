// Listener and SocketConnection: length-prefixed frames on Unix-domain
// stream sockets.
#include "mr/ipc/listener.h"

#include <errno.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
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
  return "@mr." + std::to_string(::getpid()) + "." + random_token();
}

}  // namespace

void SocketConnection::check_open(const char* op) const {
  if (!fd_) throw std::logic_error(std::string("mr::SocketConnection::") + op + ": closed");
}

void SocketConnection::send_deferred(std::string_view message) {
  check_open("send");
  const std::uint64_t n = message.size();
  const std::size_t at = out_.size();
  out_.resize(at + sizeof n + n);
  std::memcpy(out_.data() + at, &n, sizeof n);
  std::memcpy(out_.data() + at + sizeof n, message.data(), n);
}

void SocketConnection::flush() {
  if (out_.empty()) return;
  check_open("send");
  std::string pending;
  pending.swap(out_);  // dropped even if the peer is gone
  send_full(fd_.get(), pending.data(), pending.size());
}

void SocketConnection::send_bytes(std::string_view message) {
  check_open("send");
  const std::uint64_t n = message.size();
  if (!out_.empty()) {  // after the deferred ones, in one system call
    send_deferred(message);
    return flush();
  }
  if (n <= 4096) {  // one system call for small messages
    char buf[4096 + sizeof n];
    std::memcpy(buf, &n, sizeof n);
    std::memcpy(buf + sizeof n, message.data(), n);
    send_full(fd_.get(), buf, sizeof n + n);
    return;
  }
  send_full(fd_.get(), &n, sizeof n);
  send_full(fd_.get(), message.data(), n);
}

void SocketConnection::close() noexcept {
  fd_.reset();
  in_position_ = 0;
  out_.clear();
  in_.clear();
  in_head_ = in_tail_ = 0;
  in_fds_.clear();
}

bool SocketConnection::need(std::size_t n) {
  constexpr std::size_t kReadAhead = 64 * 1024;
  while (in_tail_ - in_head_ < n) {
    if (in_head_ == in_tail_) in_head_ = in_tail_ = 0;
    if (in_.size() - in_head_ < std::max(n, kReadAhead)) {
      // Move the unread bytes to the front, and grow for a big message.
      if (in_head_ != 0) std::memmove(in_.data(), in_.data() + in_head_, in_tail_ - in_head_);
      in_tail_ -= in_head_;
      in_head_ = 0;
      if (in_.size() < std::max(n, kReadAhead)) in_.resize(std::max(n, kReadAhead));
    }
    iovec iov{in_.data() + in_tail_, in_.size() - in_tail_};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t r;
    do {
      r = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno != ECONNRESET) throw_errno("mr::SocketConnection: recv");
    // The kernel ends a read with the segment that carries descriptors: our
    // sender's 8-byte frame header. Remember which frame they belong to.
    const std::uint64_t frame = in_position_ + (in_tail_ - in_head_) +
                                static_cast<std::uint64_t>(r > 0 ? r : 0) - sizeof(std::uint64_t);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); r > 0 && c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        in_fds_.push_back(PendingFd{frame, UniqueFd(fd)});
      }
    }
    if (r <= 0) {
      if (in_tail_ == in_head_) return false;
      throw EofError("mr::SocketConnection: peer vanished in the middle of a message");
    }
    in_tail_ += static_cast<std::size_t>(r);
  }
  return true;
}

std::string SocketConnection::recv_bytes() {
  std::vector<UniqueFd> unexpected;
  return recv_bytes_and_fds(unexpected);  // descriptors nobody asked for are closed
}

std::optional<std::string> SocketConnection::recv_bytes_for(Timeout timeout) {
  if (!poll(timeout)) return std::nullopt;
  return recv_bytes();
}

void SocketConnection::send_bytes(std::string_view message, std::span<const int> fds) {
  check_open("send");
  if (fds.size() > kMaxFds)
    throw std::invalid_argument("mr::SocketConnection::send_bytes: more than " +
                                std::to_string(kMaxFds) + " descriptors");
  if (fds.empty()) return send_bytes(message);
  flush();  // deferred messages go first
  // The length goes out with the descriptors in one sendmsg, the rest after.
  std::uint64_t n = message.size();
  iovec iov{&n, sizeof n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  std::memset(control, 0, sizeof control);
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  ssize_t w;
  do {
    w = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w < 0) {
    if (errno == ECONNRESET) errno = EPIPE;
    throw_errno("mr::SocketConnection: sendmsg");
  }
  send_full(fd_.get(), reinterpret_cast<const char*>(&n) + w,
            sizeof n - static_cast<std::size_t>(w));
  send_full(fd_.get(), message.data(), message.size());
}

std::string SocketConnection::recv_bytes_and_fds(std::vector<UniqueFd>& fds) {
  check_open("recv");
  std::uint64_t n = 0;
  if (!need(sizeof n))
    throw EofError("mr::SocketConnection: end of stream (the peer closed or died)");
  std::memcpy(&n, in_.data() + in_head_, sizeof n);
  need(sizeof n + n);
  std::string bytes(in_.data() + in_head_ + sizeof n, n);
  in_head_ += sizeof n + n;
  const std::uint64_t start = in_position_, end = in_position_ + sizeof n + n;
  in_position_ = end;
  // This frame's descriptors go to the caller; any others inside it
  // (nobody's) are closed; those of later frames wait.
  std::vector<PendingFd> later;
  for (auto& p : in_fds_) {
    if (p.frame == start) {
      fds.push_back(std::move(p.fd));
    } else if (p.frame >= end) {
      later.push_back(std::move(p));
    }
  }
  in_fds_ = std::move(later);
  return bytes;
}

bool SocketConnection::poll(Timeout timeout) {
  check_open("poll");
  if (in_tail_ != in_head_) return true;
  return wait_readable(fd_.get(), detail::deadline_after(timeout));
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
  if (!wait_readable(fd_.get(), detail::deadline_after(timeout))) return std::nullopt;
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

std::string random_token() {
  std::uint64_t r[2] = {0, 0};
  if (::getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) throw_errno("getrandom");
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(r[0]),
                static_cast<unsigned long long>(r[1]));
  return buf;
}

SocketConnection connect_back(std::string_view address, std::string_view token) {
  SocketConnection c = connect_to(address);
  c.send_bytes(token);
  return c;
}

namespace {

// Reads the first frame of `c` raw (8-byte length + bytes), at most 64 bytes
// and for at most 1 s (or until `deadline`); true when it is `token`.
bool said_token(SocketConnection& c, std::string_view token, const Deadline& deadline) {
  constexpr std::size_t kMaxToken = 64;
  Deadline limit = Deadline::after(std::chrono::seconds(1));
  if (!deadline.is_never() && deadline.remaining() < limit.remaining()) limit = deadline;
  char buf[sizeof(std::uint64_t) + kMaxToken];
  std::size_t got = 0, want = sizeof(std::uint64_t);
  while (got < want) {
    if (!wait_readable(c.fileno(), limit)) return false;
    ssize_t r = ::recv(c.fileno(), buf + got, want - got, MSG_DONTWAIT);
    if (r == 0) return false;
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    got += static_cast<std::size_t>(r);
    if (got == sizeof(std::uint64_t)) {
      std::uint64_t n = 0;
      std::memcpy(&n, buf, sizeof n);
      if (n > kMaxToken) return false;
      want += n;
    }
  }
  return std::string_view(buf + sizeof(std::uint64_t), want - sizeof(std::uint64_t)) == token;
}

// True when the peer of `c` runs as our effective uid and, unless `pid` is
// 0, is process `pid` (SO_PEERCRED: what the kernel recorded at connect).
bool is_our_child(const SocketConnection& c, pid_t pid) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(c.fileno(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == ::geteuid() && (pid == 0 || cred.pid == pid);
}

}  // namespace

std::optional<SocketConnection> accept_child(Listener& listener, std::string_view token,
                                             int sentinel, Timeout timeout) {
  return accept_child(listener, token, sentinel, 0, timeout);
}

std::optional<SocketConnection> accept_child(Listener& listener, std::string_view token,
                                             int sentinel, pid_t pid, Timeout timeout) {
  const Deadline deadline = detail::deadline_after(timeout);
  for (;;) {
    pollfd p[2] = {{listener.fileno(), POLLIN, 0}, {sentinel, POLLIN, 0}};
    int r = ::poll(p, 2, deadline.poll_timeout_ms());
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("mr::accept_child: poll");
    }
    if (p[0].revents != 0) {
      std::optional<SocketConnection> c = listener.accept_for(Timeout::zero());
      // Anyone on the machine can connect to an abstract address: a peer
      // that is not our child is dropped before we read (or wait) at all.
      if (c && is_our_child(*c, pid)) {
        try {
          // The child sends its token right after connecting: one small
          // frame, read with a size limit and a short deadline so that a
          // stranger can neither stall nor bloat us.
          if (said_token(*c, token, deadline)) return c;
        } catch (const std::exception&) {
          // Not our child (or it died mid-message): keep listening.
        }
      }
    }
    // Checked on every pass, so that a stream of strangers cannot hold us.
    if (p[1].revents != 0) return std::nullopt;
    if (deadline.expired())
      throw TimeoutError("mr::accept_child: the child did not connect back in time");
  }
}

}  // namespace mr
