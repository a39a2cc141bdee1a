// The forkserver start method.
//
// The server is this program spawned with kForkserverMarker and one control
// socket (a socketpair end: no name, nothing to leak). Protocol, per child:
//  1. the client creates a socketpair (the child's "status socket") and
//     passes one end to the server over the control socket (SCM_RIGHTS);
//  2. the client writes the ChildRequest on its end;
//  3. the server forks; the child runs the request; the server answers
//     {pid} with the child's pidfd (SCM_RIGHTS), opened before the server
//     could reap it, so it names exactly that child;
//  4. when the server reaps the child it writes the raw wait status on the
//     status socket and closes it.
// The client waits on the status socket and signals through the pidfd, so
// join/terminate/kill behave as for its own children. EOF on the control
// socket (the client exited or died) makes the server kill its children and
// exit; the children also have PR_SET_PDEATHSIG against the server.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

// Sends `n` bytes and, if fd_to_pass >= 0, that descriptor along.
bool send_with_fd(int sock, const void* data, std::size_t n, int fd_to_pass) {
  iovec iov{const_cast<void*>(data), n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd_to_pass >= 0) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd_to_pass, sizeof(int));
  }
  for (;;) {
    ssize_t w = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (w >= 0) return static_cast<std::size_t>(w) == n;  // n is tiny: all or nothing
    if (errno != EINTR) return false;
  }
}

// Receives exactly `n` (small) bytes and, if one came along, a descriptor
// (close-on-exec) into *fd. Returns the byte count: 0 on EOF, -1 on error.
ssize_t recv_with_fd(int sock, void* data, std::size_t n, int* fd) {
  *fd = -1;
  iovec iov{data, n};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t r;
  do {
    r = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) return r;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(fd, CMSG_DATA(c), sizeof(int));
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

void start_locked(Client& c) {
  if (c.control && c.owner == ::getpid()) return;
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
  {
    std::lock_guard lock(c.mu);
    start_locked(c);
    const char tag = 'R';
    if (!send_with_fd(c.control.get(), &tag, 1, theirs.get())) {
      const int err = errno;
      reap_server(c);  // it is gone or broken; the next request starts another
      throw_errno("mr::forkserver: the server is gone (send request)", err);
    }
  }
  theirs.reset();
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
  return state;
}

[[noreturn]] void run_forkserver(int control_fd) {
  const pid_t server = ::getpid();
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
    int status_fd = -1;
    if (recv_with_fd(control_fd, &tag, 1, &status_fd) <= 0) shutdown();  // client gone
    if (status_fd < 0) continue;

    ChildRequest request;
    try {
      std::optional<std::string> msg = recv_message(status_fd);
      if (!msg) throw std::runtime_error("no request");
      request = from_bytes<ChildRequest>(*msg);
    } catch (...) {
      ::close(status_fd);
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
      if (request.die_with_parent) die_with(server);
      become_child(request.name, request.identity, request.parent_pid, request.daemon);
      run_request_and_exit(request);
    }
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
