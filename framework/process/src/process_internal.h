// Private to the process layer: the state of one started child, the calling
// process's own identity, and the entry points shared by the three start
// methods.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "mr/base/deadline.h"
#include "mr/base/serialize.h"
#include "mr/base/unique_fd.h"

namespace mr::detail {

// glibc 2.36's <sys/pidfd.h> lacks extern "C", so C++ cannot link its
// wrappers: call the system calls. A pidfd is always close-on-exec.
inline int pidfd_open(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0u));
}
inline int pidfd_send_signal(int pidfd, int sig) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0u));
}

// How long a forkserver child's requester waits, once the child has ended,
// for the server's report of its wait status before deciding the server is
// gone (it sends it as soon as it reaps the child).
inline constexpr auto kServerStatusWait = std::chrono::seconds(5);

// One started child, shared by its Process and the exit-time registry.
struct ChildState {
  pid_t pid = 0;
  pid_t owner = 0;  // getpid() of the process that started it
  std::string name;
  bool daemon = false;
  // pidfd of the child: signals go through it (no pid-reuse race). For a
  // child of our own (fork, spawn) it is also what we wait on.
  UniqueFd pidfd;
  // Forkserver children only: the socket on which the server sends the
  // child's raw wait status when it has reaped it (EOF: the server died).
  UniqueFd status_fd;
  // Forkserver children only: our end of the child's lifeline, a socket
  // pair whose other end only the child holds. The child writes its exit
  // code there just before _exit (read when the server died before it could
  // report), and dies when every copy of this end is closed (its
  // die-with-parent, tied to us rather than to the server).
  UniqueFd report_fd;

  std::mutex mu;
  std::optional<int> exit_code;  // guarded by mu

  bool owned_here() const noexcept;
  // The pidfd: readable once the child has ended, whoever reaps it.
  int sentinel() const noexcept { return pidfd.get(); }
  // Waits until the child has ended (and collects its status) or the
  // deadline passes; returns whether it has ended.
  bool wait(const Deadline& deadline);
  // Sends `sig` unless the child has already been reaped.
  void send_signal(int sig);
  // What the destructor and the exit handler do with a running child:
  // daemon -> terminate, grace, kill, reap; non-daemon -> join. Never throws.
  void finish() noexcept;
};

// 0 / exit status / -signal from a waitpid() status word.
int exit_code_from_wait_status(int status) noexcept;

// What a spawned or forkserver child needs to know, sent serialized.
struct ChildRequest {
  std::string function;
  std::string args;
  std::string name;
  std::string identity;
  pid_t parent_pid = 0;
  bool daemon = false;
  bool die_with_parent = true;
  int start_method = 0;  // StartMethod: what get_start_method() says in the child
  std::string parent_name;

  template <class Ar>
  void serialize(Ar& ar) {
    ar(function, args, name, identity, parent_pid, daemon, die_with_parent, start_method,
       parent_name);
  }
};

// Installs the exit handler (joins/terminates children, stops the
// forkserver) once per process.
void ensure_exit_handler();
// Remembers a started child for the exit handler (installs it once).
void track_child(const std::shared_ptr<ChildState>& child);

// Becomes a child process: new identity, no children of its own yet, no
// forkserver (the parent's one is not ours). Called in the child right after
// fork (fork method, forkserver child) or exec (spawn).
void become_child(const std::string& name, const std::string& identity, pid_t parent_pid,
                  bool daemon, const std::string& parent_name);
// become_child() for a spawned or forkserver child: also makes the request's
// start method this process's default, as Python's children report theirs.
void become_child(const ChildRequest& request);

// A forkserver child's end of its lifeline (see ChildState::report_fd):
// end_child() writes the exit code on it; with `die_with_requester` the
// child gets SIGKILL when the requester's end is closed (O_ASYNC with
// F_SETSIG = SIGKILL: the kernel signals the hang-up), and dies at once if
// it already is. A forked grandchild forgets it (become_child).
void hold_lifeline(int fd, bool die_with_requester) noexcept;

// Sets PR_SET_PDEATHSIG(SIGKILL) and dies at once if the parent `parent`
// is already gone. Async-signal-safe.
void die_with(pid_t parent) noexcept;

// The end of every child: joins its non-daemon children, terminates its
// daemon ones, stops its forkserver, flushes the standard streams, _exit.
[[noreturn]] void end_child(int code);

// Runs the registered function of `request` in the calling (child) process,
// reports an escaping exception, flushes and _exits. Never returns.
[[noreturn]] void run_request_and_exit(const ChildRequest& request);

// Flushes C and C++ standard streams (before fork, before _exit).
void flush_std_streams() noexcept;

// Reports an exception escaping a child's function (call inside a catch
// block): "Process <name> (pid N): uncaught <type> : <what>".
void report_uncaught_exception(const std::string& process_name) noexcept;

// spawn.cc: fork + exec of get_executable() with `marker` and `fd` (kept
// open across exec) in argv; returns the child's pidfd and pid. An exec
// failure is reported through a close-on-exec pipe, the child reaped, and
// std::system_error thrown.
inline constexpr const char* kSpawnMarker = "--mr-spawn-child";
inline constexpr const char* kForkserverMarker = "--mr-forkserver";
struct Spawned {
  pid_t pid;
  UniqueFd pidfd;
};
Spawned spawn_program(const char* marker, int fd, bool die_with_parent);
// Sends/receives a length-prefixed message on a stream socket or pipe.
void send_message(int fd, const std::string& bytes);
std::optional<std::string> recv_message(int fd);
bool hook_installed() noexcept;

std::shared_ptr<ChildState> start_spawned(const ChildRequest& request);
std::shared_ptr<ChildState> start_in_forkserver(const ChildRequest& request);
// forkserver.cc: forget the parent's server after fork (no I/O on it).
void forget_forkserver_after_fork() noexcept;
[[noreturn]] void run_forkserver(int control_fd);

}  // namespace mr::detail
