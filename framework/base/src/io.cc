#include "mr/base/io.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "mr/base/error.h"

namespace mr {

void write_full(int fd, const void* data, std::size_t n) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("write");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

bool read_full(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("read");
    }
    if (r == 0) {
      if (got == 0) return false;
      throw std::system_error(EPIPE, std::generic_category(), "read: end of file inside a message");
    }
    got += static_cast<std::size_t>(r);
  }
  return true;
}

void send_full(int socket, const void* data, std::size_t n) {
  auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::send(socket, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) errno = EPIPE;
      throw_errno("send");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

bool wait_readable(int fd, const Deadline& deadline) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int r = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) throw_errno("poll");
    if (r == 0 && deadline.expired()) return false;
  }
}

void ignore_sigpipe() noexcept {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

}  // namespace mr
