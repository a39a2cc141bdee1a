// The spawn start method: fork + exec of this program, which the hook at the
// top of main() turns into the child, and the message that tells it what to
// run.
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "mr/base/error.h"
#include "mr/base/io.h"
#include "mr/process/process.h"
#include "process_internal.h"

namespace mr {
namespace detail {
namespace {

std::atomic<bool> g_hook_installed{false};

// What the child of fork sends through the close-on-exec pipe when it could
// not exec; nothing arrives when exec succeeded.
// Where the child of fork stops marking descriptors close-on-exec one by
// one, on a kernel without close_range(CLOSE_RANGE_CLOEXEC) (before 5.11).
constexpr int kMaxInheritedFd = 4096;

struct ExecFailure {
  int stage;  // 1: clearing FD_CLOEXEC, 2: exec
  int err;
};

[[noreturn]] void run_spawned(int fd) {
  UniqueFd in(fd);
  ChildRequest request;
  try {
    std::optional<std::string> msg = recv_message(in.get());
    if (!msg) {
      // The parent died or gave up before sending the request.
      ::_exit(1);
    }
    request = from_bytes<ChildRequest>(*msg);
  } catch (...) {
    report_uncaught_exception("(spawned, request unreadable)");
    ::_exit(1);
  }
  in.reset();
  become_child(request);
  run_request_and_exit(request);
}

}  // namespace

bool hook_installed() noexcept { return g_hook_installed; }

void send_message(int fd, const std::string& bytes) {
  const std::uint64_t n = bytes.size();
  send_full(fd, &n, sizeof n);
  send_full(fd, bytes.data(), bytes.size());
}

std::optional<std::string> recv_message(int fd) {
  std::uint64_t n = 0;
  if (!read_full(fd, &n, sizeof n)) return std::nullopt;
  std::string bytes(n, '\0');
  if (n != 0 && !read_full(fd, bytes.data(), n))
    throw std::system_error(EPIPE, std::generic_category(), "mr::Process: truncated message");
  return bytes;
}

Spawned spawn_program(const char* marker, int fd, bool die_with_parent) {
  // Everything the child needs is prepared before fork: after it, the child
  // may only make async-signal-safe calls.
  const std::string exe = get_executable();
  std::string fd_arg = std::to_string(fd);
  std::string marker_arg = marker;
  std::string name_arg = program_invocation_name;
  char* argv[] = {name_arg.data(), marker_arg.data(), fd_arg.data(), nullptr};

  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("mr::Process: pipe2");
  UniqueFd err_r(p[0]), err_w(p[1]);

  // No signal handler of the parent may run in the child before exec.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // DANGER: child side of fork, async-signal-safe calls only until exec.
    if (die_with_parent) die_with(parent);
    ExecFailure failure{1, 0};
    // Only stdin, stdout, stderr and `fd` cross exec, as Python's spawn
    // passes only what the child needs: every other descriptor the parent
    // left inheritable is made close-on-exec here.
    if (::close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int other = 3; other < kMaxInheritedFd; ++other) ::fcntl(other, F_SETFD, FD_CLOEXEC);
    }
    if (::fcntl(fd, F_SETFD, 0) == 0) {  // the one descriptor exec keeps
      failure.stage = 2;
      ::sigprocmask(SIG_SETMASK, &old, nullptr);
      ::execv(exe.c_str(), argv);
    }
    failure.err = errno;
    ssize_t ignored = ::write(err_w.get(), &failure, sizeof failure);
    (void)ignored;
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) throw_errno("mr::Process: fork", fork_errno);
  err_w.reset();

  ExecFailure failure{};
  ssize_t r;
  do {
    r = ::read(err_r.get(), &failure, sizeof failure);
  } while (r < 0 && errno == EINTR);
  if (r > 0) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw_errno(std::string("mr::Process: ") + (failure.stage == 1 ? "fcntl" : "exec ") +
                    (failure.stage == 1 ? "" : exe),
                failure.err);
  }
  Spawned s{pid, UniqueFd(pidfd_open(pid))};
  if (!s.pidfd) {
    const int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw_errno("mr::Process: pidfd_open", err);
  }
  return s;
}

std::shared_ptr<ChildState> start_spawned(const ChildRequest& request) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    throw_errno("mr::Process: socketpair");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  Spawned spawned = spawn_program(kSpawnMarker, theirs.get(), request.die_with_parent);
  theirs.reset();

  auto state = std::make_shared<ChildState>();
  state->pid = spawned.pid;
  state->owner = ::getpid();
  state->pidfd = std::move(spawned.pidfd);
  try {
    send_message(mine.get(), to_bytes(request));
  } catch (const std::system_error& e) {
    // A child that died before reading its request has an exit code that
    // says so; any other failure leaves a child that will never run.
    if (e.code().value() != EPIPE && e.code().value() != ECONNRESET) {
      state->send_signal(SIGKILL);
      state->wait(Deadline::never());
      throw;
    }
  }
  return state;
}

}  // namespace detail

void spawn_main_hook(int argc, char** argv) {
  detail::g_hook_installed = true;
  if (argc < 3) return;
  if (std::strcmp(argv[1], detail::kSpawnMarker) == 0) detail::run_spawned(std::atoi(argv[2]));
  if (std::strcmp(argv[1], detail::kForkserverMarker) == 0)
    detail::run_forkserver(std::atoi(argv[2]));
}

}  // namespace mr
