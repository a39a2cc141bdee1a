// The forkserver start method.
//
// The server is this program spawned with kForkserverMarker and one control
// socket (a socketpair end: no name, nothing to leak). Protocol, per child:
//  1. the client creates two socketpairs, the child's "status socket" and
//     its "lifeline", and passes one end of each to the server over the
//     control socket (SCM_RIGHTS);
//  2. the client writes the ChildRequest on its status socket end;
//  3. the server forks; the child keeps the lifeline end (hold_lifeline)
//     and runs the request; the server answers {pid} with the child's
//     pidfd (SCM_RIGHTS), opened before the server could reap it, so it
//     names exactly that child;
//  4. when the server reaps the child it writes the raw wait status on the
//     status socket and closes it.
// The client waits on the pidfd, reads the status from the status socket
// and signals through the pidfd, so join/terminate/kill behave as for its
// own children. EOF on the control socket (the client exited or died)
// makes the server kill its children and exit.
// The children do not depend on the server: a child dies with its client
// (the lifeline's hang-up, when die_with_parent), not with the server, and
// if the server dies first the child reports its own exit code on the
// lifeline. A client whose server died starts a new one at its next
// request.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

#include "mr/base/error.h"
#include "mr/base/io.h"
#include "mr/process/process.h"
#include "process_internal.h"

namespace mr {
namespace detail {
namespace {

constexpr auto kServerReplyTimeout = std::chrono::seconds(30);
constexpr auto kServerStopTimeout = std::chrono::seconds(5);

struct Client {
  std::mutex mu;
  pid_t owner = 0;  // the process that started the server
  pid_t pid = 0;
  UniqueFd pidfd;
  UniqueFd control;
};

Client*& client_slot() {
  static Client* c = new Client;  // leaked on purpose: used during exit
  return c;
}

// At most this many descriptors travel with one message.
constexpr std::size_t kMaxFds = 2;

// Sends `n` bytes and, along, the `nfds` descriptors of `fds`.
bool send_with_fds(int sock, const void* data, std::size_t n, const int* fds, std::size_t nfds) {
  iovec iov{const_cast<void*>(data), n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
  if (nfds > 0) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  for (;;) {
    ssize_t w = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (w >= 0) return static_cast<std::size_t>(w) == n;  // n is tiny: all or nothing
    if (errno != EINTR) return false;
  }
}

// Sends `n` bytes and, if fd_to_pass >= 0, that descriptor along.
bool send_with_fd(int sock, const void* data, std::size_t n, int fd_to_pass) {
  return send_with_fds(sock, data, n, &fd_to_pass, fd_to_pass >= 0 ? 1 : 0);
}

// Receives exactly `n` (small) bytes and up to kMaxFds descriptors that
// came along (close-on-exec) into fds[0..], the others left -1. Returns the
// byte count: 0 on EOF, -1 on error.
ssize_t recv_with_fds(int sock, void* data, std::size_t n, int (&fds)[kMaxFds]) {
  for (int& fd : fds) fd = -1;
  iovec iov{data, n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t r;
  do {
    r = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return r;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count =
          std::min<std::size_t>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int), kMaxFds);
      std::memcpy(fds, CMSG_DATA(c), count * sizeof(int));
    }
  return r;
}

ssize_t recv_with_fd(int sock, void* data, std::size_t n, int* fd) {
  int fds[kMaxFds];
  const ssize_t r = recv_with_fds(sock, data, n, fds);
  for (std::size_t i = 1; i < kMaxFds; ++i)
    if (fds[i] >= 0) ::close(fds[i]);  // more than the caller expects
  *fd = fds[0];
  return r;
}

// Reaps the server (the caller closed the control socket or it failed).
void reap_server(Client& c) noexcept {
  if (!c.pidfd) return;
  try {
    if (!wait_readable(c.pidfd.get(), Deadline::after(kServerStopTimeout)))
      pidfd_send_signal(c.pidfd.get(), SIGKILL);
  } catch (...) {
    pidfd_send_signal(c.pidfd.get(), SIGKILL);
  }
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(c.pidfd.get()), &info, WEXITED) < 0 &&
         errno == EINTR) {
  }
  c.control.reset();
  c.pidfd.reset();
  c.pid = 0;
  c.owner = 0;
}

// True if the server has ended (it was killed: the pidfd is readable).
bool server_gone(const Client& c) {
  pollfd p{c.pidfd.get(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

void start_locked(Client& c) {
  if (c.control && c.owner == ::getpid()) {
    if (!server_gone(c)) return;
    reap_server(c);  // killed from outside: start a new one
  }
  if (!hook_installed())
    throw std::logic_error(
        "mr::forkserver: needs mr::spawn_main_hook(argc, argv) as the first line of main()");
  ensure_exit_handler();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    throw_errno("mr::forkserver: socketpair");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  // PR_SET_PDEATHSIG fires when the *thread* that forked ends: only ask for
  // it from the main thread. Otherwise EOF on the control socket, which
  // comes when the whole process ends, is what stops the server.
  const bool main_thread = ::syscall(SYS_gettid) == ::getpid();
  Spawned s = spawn_program(kForkserverMarker, theirs.get(), main_thread);
  theirs.reset();
  c.owner = ::getpid();
  c.pid = s.pid;
  c.pidfd = std::move(s.pidfd);
  c.control = std::move(mine);
  // The server says it is ready with one byte.
  char ready = 0;
  int no_fd = -1;
  if (!wait_readable(c.control.get(), Deadline::after(kServerReplyTimeout)) ||
      recv_with_fd(c.control.get(), &ready, 1, &no_fd) != 1) {
    pidfd_send_signal(c.pidfd.get(), SIGKILL);
    reap_server(c);
    throw std::system_error(ECHILD, std::generic_category(),
                            "mr::forkserver: the server did not start");
  }
}

// ---------------------------------------------------------------------------
// The server.

void send_status(int fd, int status) noexcept {
  ssize_t ignored = ::send(fd, &status, sizeof status, MSG_NOSIGNAL);
  (void)ignored;
}

}  // namespace

void forget_forkserver_after_fork() noexcept {
  Client* old = client_slot();
  // Our copies of the parent's server descriptors: closing them keeps the
  // parent's server from waiting on us for its EOF.
  old->control.reset();
  old->pidfd.reset();
  client_slot() = new Client;
}

std::shared_ptr<ChildState> start_in_forkserver(const ChildRequest& request) {
  Client& c = *client_slot();
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    throw_errno("mr::forkserver: socketpair");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    throw_errno("mr::forkserver: socketpair");
  UniqueFd lifeline_mine(sv[0]), lifeline_theirs(sv[1]);
  {
    std::lock_guard lock(c.mu);
    const char tag = 'R';
    const int fds[] = {theirs.get(), lifeline_theirs.get()};
    // A server that died between the liveness check and the send is
    // replaced once; a fresh server that refuses the request is an error.
    for (int attempt = 0;; ++attempt) {
      start_locked(c);
      if (send_with_fds(c.control.get(), &tag, 1, fds, 2)) break;
      const int err = errno;
      reap_server(c);
      if (attempt == 1) throw_errno("mr::forkserver: the server is gone (send request)", err);
    }
  }
  theirs.reset();
  lifeline_theirs.reset();
  send_message(mine.get(), to_bytes(request));

  int reply = 0;
  int pidfd = -1;
  if (!wait_readable(mine.get(), Deadline::after(kServerReplyTimeout)))
    throw TimeoutError("mr::forkserver: no reply from the server");
  ssize_t r = recv_with_fd(mine.get(), &reply, sizeof reply, &pidfd);
  UniqueFd owned_pidfd(pidfd);
  if (r != static_cast<ssize_t>(sizeof reply))
    throw std::system_error(ECHILD, std::generic_category(),
                            "mr::forkserver: the server died before answering");
  if (reply <= 0) throw_errno("mr::forkserver: fork in the server", -reply);
  if (!owned_pidfd)
    throw std::system_error(EPROTO, std::generic_category(), "mr::forkserver: reply without pidfd");

  auto state = std::make_shared<ChildState>();
  state->pid = reply;
  state->owner = ::getpid();
  state->pidfd = std::move(owned_pidfd);
  state->status_fd = std::move(mine);
  state->report_fd = std::move(lifeline_mine);
  return state;
}

[[noreturn]] void run_forkserver(int control_fd) {
  sigset_t chld, old;
  ::sigemptyset(&chld);
  ::sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, &old);
  const int sfd = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) ::_exit(1);
  const char ready = 1;
  if (::send(control_fd, &ready, 1, MSG_NOSIGNAL) != 1) ::_exit(1);

  std::map<pid_t, int> children;  // pid -> status socket
  auto shutdown = [&]() {
    for (auto& [pid, fd] : children) ::kill(pid, SIGKILL);
    ::_exit(0);
  };

  for (;;) {
    pollfd fds[2] = {{control_fd, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      shutdown();
    }
    if (fds[1].revents) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) > 0) {
      }
      int status = 0;
      pid_t pid;
      while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
        auto it = children.find(pid);
        if (it == children.end()) continue;
        send_status(it->second, status);
        ::close(it->second);
        children.erase(it);
      }
    }
    if (!fds[0].revents) continue;
    char tag = 0;
    int passed[kMaxFds];
    if (recv_with_fds(control_fd, &tag, 1, passed) <= 0) shutdown();  // client gone
    const int status_fd = passed[0], lifeline = passed[1];
    if (status_fd < 0 || lifeline < 0) {
      for (int fd : passed)
        if (fd >= 0) ::close(fd);
      continue;
    }

    ChildRequest request;
    try {
      std::optional<std::string> msg = recv_message(status_fd);
      if (!msg) throw std::runtime_error("no request");
      request = from_bytes<ChildRequest>(*msg);
    } catch (...) {
      ::close(status_fd);
      ::close(lifeline);
      continue;
    }

    const pid_t pid = ::fork();
    if (pid == 0) {
      // Child of the (single-threaded) server: drop the server's descriptors.
      ::close(control_fd);
      ::close(sfd);
      for (auto& [p, fd] : children) ::close(fd);
      ::close(status_fd);
      ::sigprocmask(SIG_SETMASK, &old, nullptr);
      // Not die_with(server): the child's lifetime follows its requester.
      become_child(request);
      hold_lifeline(lifeline, request.die_with_parent);
      run_request_and_exit(request);
    }
    ::close(lifeline);
    int reply = pid > 0 ? pid : -errno;
    int pidfd = -1;
    if (pid > 0) {
      pidfd = pidfd_open(pid);  // not reaped yet, so this is that child
      if (pidfd < 0) {
        reply = -errno;
        ::kill(pid, SIGKILL);  // reaped by the loop; nobody hears its status
      }
    }
    send_with_fd(status_fd, &reply, sizeof reply, pidfd);
    if (pidfd >= 0) ::close(pidfd);
    if (reply > 0) {
      children[pid] = status_fd;
    } else {
      ::close(status_fd);
    }
  }
}

}  // namespace detail

void forkserver_start() {
  detail::Client& c = *detail::client_slot();
  std::lock_guard lock(c.mu);
  detail::start_locked(c);
}

void forkserver_stop() {
  detail::Client& c = *detail::client_slot();
  std::lock_guard lock(c.mu);
  if (!c.control || c.owner != ::getpid()) return;
  c.control.reset();  // EOF: the server kills its children and exits
  detail::reap_server(c);
}

pid_t forkserver_pid() {
  detail::Client& c = *detail::client_slot();
  std::lock_guard lock(c.mu);
  return c.control && c.owner == ::getpid() ? c.pid : 0;
}

}  // namespace mr
