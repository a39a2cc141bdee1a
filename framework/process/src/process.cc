#include "mr/process/process.h"

#include <cxxabi.h>  // abi::__cxa_current_exception_type
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "mr/base/demangle.h"
#include "mr/base/error.h"
#include "mr/base/io.h"
#include "process_internal.h"

namespace mr {
namespace {

std::atomic<StartMethod> g_default_method{StartMethod::kFork};

struct Executable {
  std::mutex mu;
  std::string path = "/proc/self/exe";
};
Executable& executable() {
  static auto* e = new Executable;  // leaked on purpose: usable during exit
  return *e;
}

// Who this process is. Replaced, not reset, in a fresh child: a mutex copied
// by fork may be held by a thread that does not exist there.
struct Self {
  std::mutex mu;
  std::string name = "MainProcess";
  std::string identity;  // "" for the main process, "1:2" for Process-1:2
  pid_t parent_pid = 0;  // 0: the main process, use getppid()
  std::string parent_name;
  bool daemon = false;
  int created = 0;  // Processes constructed here, for "Process-N"
};
Self*& self_slot() {
  static Self* s = new Self;
  return s;
}

// The children this process started, for the exit handler.
struct Children {
  std::mutex mu;
  std::vector<std::weak_ptr<detail::ChildState>> list;
};
Children*& children_slot() {
  static Children* c = new Children;
  return c;
}
std::once_flag g_atexit_once;

// Daemons are told to stop, non-daemons joined, then daemons reaped.
void finish_children() noexcept {
  std::vector<std::shared_ptr<detail::ChildState>> live;
  {
    std::lock_guard lock(children_slot()->mu);
    for (auto& w : children_slot()->list)
      if (auto c = w.lock(); c && c->owned_here()) live.push_back(std::move(c));
    children_slot()->list.clear();
  }
  // Like Python: daemons are told to stop first, then every non-daemon is
  // joined, then the daemons get their grace period and are reaped.
  for (auto& c : live) {
    if (!c->daemon) continue;
    try {
      c->send_signal(SIGTERM);
    } catch (...) {
    }
  }
  for (auto& c : live)
    if (!c->daemon) c->finish();
  for (auto& c : live)
    if (c->daemon) c->finish();
}

void exit_handler() {
  finish_children();
  try {
    forkserver_stop();
  } catch (...) {
  }
}

// A forkserver child's end of its lifeline (hold_lifeline), or -1.
int g_lifeline = -1;

void write_stderr(const std::string& msg) noexcept {
  const char* p = msg.data();
  std::size_t n = msg.size();
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

}  // namespace

std::string_view to_string(StartMethod method) noexcept {
  switch (method) {
    case StartMethod::kFork:
      return "fork";
    case StartMethod::kSpawn:
      return "spawn";
    case StartMethod::kForkserver:
      return "forkserver";
  }
  return "?";
}

void set_start_method(StartMethod method) noexcept { g_default_method = method; }
StartMethod get_start_method() noexcept { return g_default_method; }

void set_executable(std::string path) {
  std::lock_guard lock(executable().mu);
  executable().path = std::move(path);
}
std::string get_executable() {
  std::lock_guard lock(executable().mu);
  return executable().path;
}

std::string describe_exit_code(int exit_code) {
  if (exit_code == kExitCodeUnknown)
    return "ended with an unknown status (its forkserver died before reaping it)";
  if (exit_code >= 0) return "exited with code " + std::to_string(exit_code);
  const int sig = -exit_code;
  std::string s = "killed by signal " + std::to_string(sig);
  if (const char* abbrev = ::sigabbrev_np(sig)) s += std::string(" (SIG") + abbrev + ")";
  return s;
}

ProcessInfo current_process() {
  std::lock_guard lock(self_slot()->mu);
  return ProcessInfo(self_slot()->name, ::getpid(),
                     self_slot()->parent_pid ? self_slot()->parent_pid : ::getppid(),
                     self_slot()->daemon);
}

int cpu_count() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

namespace detail {

int exit_code_from_wait_status(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -SIGKILL;  // not an end status; should not happen
}

bool ChildState::owned_here() const noexcept { return owner == ::getpid(); }

bool ChildState::wait(const Deadline& deadline) {
  {
    std::lock_guard lock(mu);
    if (exit_code) return true;
  }
  pollfd p{pidfd.get(), POLLIN, 0};  // readable once the child has ended
  for (;;) {
    int r = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("mr::Process: poll");
    }
    if (r > 0) break;
    if (deadline.expired()) return false;
  }
  std::lock_guard lock(mu);
  if (exit_code) return true;  // another thread collected it meanwhile
  if (status_fd) {
    // The child has ended; the forkserver reaps it and sends its wait
    // status at once. EOF means the server died first (its children live
    // on): then the code the child reported itself on its lifeline, if it
    // ended through end_child(), else an honest "unknown".
    int status = 0;
    bool got = false;
    try {
      got = wait_readable(status_fd.get(), Deadline::after(kServerStatusWait)) &&
            read_full(status_fd.get(), &status, sizeof status);
    } catch (const std::system_error&) {
    }
    int reported = 0;
    if (got) {
      exit_code = exit_code_from_wait_status(status);
    } else if (report_fd && ::recv(report_fd.get(), &reported, sizeof reported, MSG_DONTWAIT) ==
                                static_cast<ssize_t>(sizeof reported)) {
      exit_code = reported;
    } else {
      exit_code = kExitCodeUnknown;
    }
  } else {
    siginfo_t info{};
    while (::waitid(P_PIDFD, static_cast<id_t>(pidfd.get()), &info, WEXITED) < 0) {
      if (errno != EINTR) throw_errno("mr::Process: waitid " + name);
    }
    exit_code = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
  }
  return true;
}

void ChildState::send_signal(int sig) {
  std::lock_guard lock(mu);
  if (exit_code) return;
  // Through the pidfd: even a reaped child's recycled pid cannot be hit.
  if (pidfd_send_signal(pidfd.get(), sig) < 0 && errno != ESRCH)
    throw_errno("mr::Process: pidfd_send_signal " + name);
}

void ChildState::finish() noexcept {
  try {
    if (!owned_here()) return;
    if (daemon) {
      if (wait(Deadline::after(std::chrono::nanoseconds(0)))) return;
      send_signal(SIGTERM);
      if (wait(Deadline::after(kTerminateGrace))) return;
      send_signal(SIGKILL);
    }
    wait(Deadline::never());
  } catch (const std::exception& e) {
    write_stderr(std::string("mr::Process: could not reap ") + name + ": " + e.what() + "\n");
  }
}

void ensure_exit_handler() {
  std::call_once(g_atexit_once, [] { std::atexit(exit_handler); });
}

void track_child(const std::shared_ptr<ChildState>& child) {
  ensure_exit_handler();
  std::lock_guard lock(children_slot()->mu);
  auto& l = children_slot()->list;
  std::erase_if(l, [](const std::weak_ptr<ChildState>& w) { return w.expired(); });
  l.push_back(child);
}

void become_child(const std::string& name, const std::string& identity, pid_t parent_pid,
                  bool daemon, const std::string& parent_name) {
  // The parent's objects are abandoned, not destroyed: their mutexes may
  // have been copied locked.
  auto* s = new Self;
  s->name = name;
  s->identity = identity;
  s->parent_pid = parent_pid;
  s->parent_name = parent_name;
  s->daemon = daemon;
  self_slot() = s;
  children_slot() = new Children;
  forget_forkserver_after_fork();
  // A lifeline inherited from a forkserver child belongs to that child.
  if (g_lifeline >= 0) ::close(std::exchange(g_lifeline, -1));
}

void become_child(const ChildRequest& request) {
  become_child(request.name, request.identity, request.parent_pid, request.daemon,
               request.parent_name);
  g_default_method = static_cast<StartMethod>(request.start_method);
}

void hold_lifeline(int fd, bool die_with_requester) noexcept {
  g_lifeline = fd;
  if (!die_with_requester) return;
  // The requester never writes on its end, so the only event on ours is
  // the hang-up when its last copy is closed: that signal is SIGKILL.
  ::fcntl(fd, F_SETOWN, ::getpid());
  ::fcntl(fd, F_SETSIG, SIGKILL);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_ASYNC);
  // The requester may have gone before O_ASYNC was set.
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLRDHUP)))
    ::kill(::getpid(), SIGKILL);
}

void die_with(pid_t parent) noexcept {
  // DANGER: may run on the child side of fork: async-signal-safe calls only
  // (prctl, getppid and kill are plain system calls).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent may have died before prctl: then we were reparented already.
  if (::getppid() != parent) ::kill(::getpid(), SIGKILL);
}

void flush_std_streams() noexcept {
  try {
    std::cout.flush();
    std::cerr.flush();
    std::clog.flush();
  } catch (...) {
  }
  std::fflush(nullptr);
}

void report_uncaught_exception(const std::string& process_name) noexcept {
  try {
    std::string type = "unknown exception";
    std::string what;
    if (const std::type_info* t = abi::__cxa_current_exception_type()) type = demangle(t->name());
    try {
      throw;
    } catch (const std::exception& e) {
      type = demangle(typeid(e).name());
      what = e.what();
    } catch (...) {
    }
    flush_std_streams();
    std::string msg =
        "Process " + process_name + " (pid " + std::to_string(::getpid()) + "): uncaught " + type;
    if (!what.empty()) msg += " : " + what;
    write_stderr(msg + "\n");
  } catch (...) {
    write_stderr("Process: uncaught exception (could not describe it)\n");
  }
}

void end_child(int code) {
  // What Python does at the end of a child: its own children are joined
  // (daemons terminated), then the process ends without exit().
  finish_children();
  try {
    forkserver_stop();
  } catch (...) {
  }
  flush_std_streams();
  if (g_lifeline >= 0) {
    // For the requester, in case the forkserver dies before reaping us.
    ssize_t ignored = ::send(g_lifeline, &code, sizeof code, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
  }
  ::_exit(code);
}

void run_request_and_exit(const ChildRequest& request) {
  int code = 1;
  try {
    const RegisteredFunction* fn = find_function(request.function);
    if (!fn)
      throw std::invalid_argument("no function registered as \"" + request.function +
                                  "\" in this program (MR_REGISTER_FUNCTION)");
    code = fn->invoke(request.args);
  } catch (...) {
    report_uncaught_exception(request.name);
    code = 1;
  }
  end_child(code);
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Process

void Process::init_common(ProcessOptions& options) {
  {
    std::lock_guard lock(self_slot()->mu);
    const int n = ++self_slot()->created;
    identity_ = self_slot()->identity.empty() ? std::to_string(n)
                                              : self_slot()->identity + ":" + std::to_string(n);
  }
  name_ = options.name.empty() ? "Process-" + identity_ : std::move(options.name);
  daemon_ = options.daemon;
  die_with_parent_ = options.die_with_parent;
  method_ = options.start_method.value_or(get_start_method());
}

void Process::init_callable(ProcessOptions options, std::unique_ptr<detail::ChildBody> body) {
  init_common(options);
  if (method_ != StartMethod::kFork)
    throw std::invalid_argument(
        "mr::Process: a callable can only be started with fork (the start method is " +
        std::string(to_string(method_)) +
        "); register a function with MR_REGISTER_FUNCTION and pass mr::target<&fn>");
  body_ = std::move(body);
}

void Process::init_target(ProcessOptions options, const detail::RegisteredFunction& fn,
                          std::string args) {
  init_common(options);
  function_ = &fn;
  args_ = std::move(args);
}

Process::Process(Process&& other) noexcept = default;

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (state_ && state_->owned_here()) state_->finish();
    name_ = std::move(other.name_);
    identity_ = std::move(other.identity_);
    daemon_ = other.daemon_;
    die_with_parent_ = other.die_with_parent_;
    method_ = other.method_;
    body_ = std::move(other.body_);
    function_ = other.function_;
    args_ = std::move(other.args_);
    state_ = std::move(other.state_);
    closed_ = other.closed_;
  }
  return *this;
}

Process::~Process() {
  if (state_ && state_->owned_here()) state_->finish();
}

detail::ChildState& Process::started(const char* what) const {
  check_open(what);
  if (!state_)
    throw std::logic_error(std::string("mr::Process::") + what + ": " + name_ + " was not started");
  if (!state_->owned_here())
    throw std::logic_error(std::string("mr::Process::") + what + ": " + name_ +
                           " is a child of another process");
  return *state_;
}

void Process::set_daemon(bool daemon) {
  check_open("set_daemon");
  if (state_) throw std::logic_error("mr::Process::set_daemon: " + name_ + " already started");
  daemon_ = daemon;
}

void Process::check_open(const char* what) const {
  if (closed_)
    throw std::logic_error(std::string("mr::Process::") + what + ": " + name_ + " is closed");
}

void Process::start() {
  check_open("start");
  if (state_) throw std::logic_error("mr::Process::start: " + name_ + " already started");
  if (!body_ && !function_) throw std::logic_error("mr::Process::start: moved-from Process");
  if (method_ != StartMethod::kFork && !detail::hook_installed())
    throw std::logic_error("mr::Process::start: the " + std::string(to_string(method_)) +
                           " start method needs mr::spawn_main_hook(argc, argv) as the first "
                           "line of main()");

  // Before fork, or a forked child would print the buffered output again;
  // for every method, so that output keeps its order.
  detail::flush_std_streams();
  std::shared_ptr<detail::ChildState> state;
  if (method_ == StartMethod::kFork) {
    state = std::make_shared<detail::ChildState>();
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("mr::Process::start: fork");
    if (pid == 0) {
      // Child of fork: a copy of the parent, single-threaded as the header
      // requires of the parent; it runs the body and never returns.
      if (die_with_parent_) detail::die_with(parent);
      // Only this thread exists now: the parent's name is read unlocked.
      const std::string parent_name = self_slot()->name;
      detail::become_child(name_, identity_, parent, daemon_, parent_name);
      int code = 1;
      try {
        code = body_ ? body_->run() : function_->invoke(args_);
      } catch (...) {
        detail::report_uncaught_exception(name_);
        code = 1;
      }
      detail::end_child(code);
    }
    state->pid = pid;
    state->owner = parent;
    state->pidfd = UniqueFd(detail::pidfd_open(pid));
    if (!state->pidfd) {
      const int err = errno;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw_errno("mr::Process::start: pidfd_open", err);
    }
  } else {
    detail::ChildRequest request;
    request.function = function_->name;
    request.args = args_;
    request.name = name_;
    request.identity = identity_;
    request.parent_pid = ::getpid();
    request.daemon = daemon_;
    request.die_with_parent = die_with_parent_;
    request.start_method = static_cast<int>(method_);
    request.parent_name = current_process().name();
    state = method_ == StartMethod::kSpawn ? detail::start_spawned(request)
                                           : detail::start_in_forkserver(request);
  }
  state->name = name_;
  state->daemon = daemon_;
  detail::track_child(state);
  state_ = std::move(state);
}

void Process::join() { started("join").wait(Deadline::never()); }

void Process::interrupt() { started("interrupt").send_signal(SIGINT); }

void Process::close() {
  if (closed_) return;
  if (state_ && state_->owned_here()) {
    if (!state_->wait(Deadline::after(std::chrono::nanoseconds(0))))
      throw std::logic_error("mr::Process::close: " + name_ + " is still running");
  }
  state_.reset();  // the pidfd and sockets; the exit registry holds a weak_ptr
  body_.reset();
  function_ = nullptr;
  args_.clear();
  args_.shrink_to_fit();
  closed_ = true;
}

bool Process::join_for(Timeout timeout) {
  return started("join_for").wait(Deadline::after(timeout));
}

void Process::join_checked() {
  join();
  const int code = *exit_code();
  if (code != 0)
    throw ProcessError(
        "Process " + name_ + " (pid " + std::to_string(pid()) + ") " + describe_exit_code(code),
        code);
}

bool Process::is_alive() const {
  check_open("is_alive");
  if (!state_ || !state_->owned_here()) return false;
  return !state_->wait(Deadline::after(std::chrono::nanoseconds(0)));
}

std::optional<int> Process::exit_code() const {
  check_open("exit_code");
  if (!state_ || !state_->owned_here()) return std::nullopt;
  if (!state_->wait(Deadline::after(std::chrono::nanoseconds(0)))) return std::nullopt;
  std::lock_guard lock(state_->mu);
  return state_->exit_code;
}

void Process::terminate() { started("terminate").send_signal(SIGTERM); }
void Process::kill() { started("kill").send_signal(SIGKILL); }

pid_t Process::pid() const noexcept { return state_ ? state_->pid : 0; }
int Process::sentinel() const noexcept { return state_ ? state_->sentinel() : -1; }

// ---------------------------------------------------------------------------
// Free functions of Python's module level

ParentProcess::ParentProcess(std::string name, pid_t pid) : name_(std::move(name)), pid_(pid) {
  const int fd = detail::pidfd_open(pid);
  pidfd_ = std::shared_ptr<const int>(new int(fd), [](const int* p) {
    if (*p >= 0) ::close(*p);
    delete p;
  });
}

bool ParentProcess::join_for(Timeout timeout) const {
  if (*pidfd_ < 0) return true;  // gone before we could look
  return wait_readable(*pidfd_, Deadline::after(timeout));
}

bool ParentProcess::is_alive() const { return !join_for(Timeout::zero()); }

std::optional<ParentProcess> parent_process() {
  std::string name;
  pid_t pid;
  {
    std::lock_guard lock(self_slot()->mu);
    if (self_slot()->parent_pid == 0) return std::nullopt;  // the main process
    name = self_slot()->parent_name;
    pid = self_slot()->parent_pid;
  }
  return ParentProcess(std::move(name), pid);
}

std::vector<ProcessInfo> active_children() {
  std::vector<std::shared_ptr<detail::ChildState>> mine;
  {
    std::lock_guard lock(children_slot()->mu);
    auto& l = children_slot()->list;
    std::erase_if(l, [](const std::weak_ptr<detail::ChildState>& w) { return w.expired(); });
    for (auto& w : l)
      if (auto c = w.lock(); c && c->owned_here()) mine.push_back(std::move(c));
  }
  std::vector<ProcessInfo> running;
  const pid_t self = ::getpid();
  for (auto& c : mine)  // wait(0) reaps a child that has ended
    if (!c->wait(Deadline::after(std::chrono::nanoseconds(0))))
      running.emplace_back(c->name, c->pid, self, c->daemon);
  return running;
}

ProcessContext get_context(std::optional<StartMethod> method) noexcept {
  return ProcessContext(method.value_or(get_start_method()));
}

ProcessContext get_context(std::string_view method) {
  for (StartMethod m : {StartMethod::kFork, StartMethod::kSpawn, StartMethod::kForkserver})
    if (to_string(m) == method) return ProcessContext(m);
  throw std::invalid_argument("mr::get_context: unknown start method \"" + std::string(method) +
                              "\" (fork, spawn or forkserver)");
}

}  // namespace mr
