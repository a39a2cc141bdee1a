// mr::Process: one child process that runs one function, the C++ counterpart
// of Python's multiprocessing.Process.
//
//   mr::Process p([](int n) { return n == 42 ? 0 : 1; }, 42);   // fork
//   p.start();
//   p.join();                        // or p.join_for(2s)
//   assert(p.exit_code() == 0);
//
// Start methods (StartMethod; a process-wide default set_start_method(),
// fork unless changed, or ProcessOptions::start_method):
//  - kFork: the child is a copy of the parent and runs the callable. Any
//    callable works (lambdas with captures too). The parent must still be
//    single-threaded: create and start the Processes that fork before the
//    program starts threads, or use spawn/forkserver.
//  - kSpawn: fork + exec of this very program (/proc/self/exe, see
//    set_executable()); the fresh child runs only a function registered with
//    MR_REGISTER_FUNCTION, with arguments serialized through a socket. Needs
//    mr::spawn_main_hook(argc, argv) as the first line of main().
//  - kForkserver: a small single-threaded server, spawned once per program
//    (lazily, or forkserver_start()), forks the children on request; same
//    rules as spawn (registered function, serialized arguments, the hook).
//    Its children inherit the descriptors (stdin/stdout/stderr) the program
//    had when the server started, not the requester's current ones.
//  Spawned children and the forkserver inherit only stdin, stdout and
//  stderr (and their own channel), not every descriptor the parent left
//  without close-on-exec. In a spawned or forkserver child,
//  get_start_method() is the method that started it.
//  Threads in the parent are harmless for spawn and forkserver.
//
// The child's end is a value: exit_code() is 0, the exit status, or MINUS
// the number of the signal that killed it (-15 after terminate(), -9 after
// kill()); describe_exit_code() words it. One case cannot be known: a
// forkserver child that outlived its server (killed) and then died without
// reporting its code itself (by a signal, or without returning through
// the library): its exit code is kExitCodeUnknown, never a made-up signal.
// An exception that escapes the child's function is reported on stderr as
//   "Process <name> (pid N): uncaught <type> : <what()>"
// and the child exits with 1. A child always ends with _exit (after flushing
// the C and C++ standard streams), never exit(): the parent's static
// destructors and atexit handlers do not run twice.
//
// Lifetime: children die with their parent (PR_SET_PDEATHSIG(SIGKILL), unless
// ProcessOptions::die_with_parent is false; note that the kernel sends it
// when the *thread* that started the child ends, so start children from a
// thread that outlives them). A forkserver child's parent in this sense is
// the process that asked for it, not the server: it dies when the
// requester's end of a private socket pair is closed (the requester and its
// forked children hold it), and it survives the server's death. A server
// that died is replaced by the next forkserver start(), transparently.
// When the parent exits normally (return from main, exit()), an atexit
// handler terminates its running daemon children
// (SIGTERM, then SIGKILL after kTerminateGrace) and joins the non-daemon
// ones, as Python does. Destroying a started Process whose child still runs
// does the same for that child: daemon -> terminate, grace, kill, reap;
// non-daemon -> join (blocks until the child ends). No zombie is ever left.
//
// Thread-safety: one Process object is used by one thread at a time;
// different Process objects and the free functions may be used concurrently.
// Fork-safety: a Process copied into a forked child (as part of the parent's
// memory) is inert there: it neither signals nor waits for its parent's
// children.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/process/function_registry.h"

namespace mr {

enum class StartMethod { kFork, kSpawn, kForkserver };

// "fork", "spawn" or "forkserver".
std::string_view to_string(StartMethod method) noexcept;

// The start method of Processes constructed from now on without an explicit
// ProcessOptions::start_method. Thread-safe.
void set_start_method(StartMethod method) noexcept;
StartMethod get_start_method() noexcept;

// The program that spawn and the forkserver execute; default
// "/proc/self/exe" (this program). Like Python's set_executable(); mostly
// useful for tests. Thread-safe.
void set_executable(std::string path);
std::string get_executable();

// How long a daemon child has between SIGTERM and SIGKILL when its parent
// exits or its Process is destroyed.
inline constexpr std::chrono::milliseconds kTerminateGrace{1000};

// exit_code() of a child whose end status cannot be known (see the header
// comment: only a forkserver child whose server died before reaping it).
inline constexpr int kExitCodeUnknown = -1000;

// Words an exit code as exit_code() reports it: "exited with code 3",
// "killed by signal 9 (SIGKILL)", "ended with an unknown status (...)".
std::string describe_exit_code(int exit_code);

// A child that did not end with exit code 0, thrown by join_checked().
class ProcessError : public std::runtime_error {
 public:
  ProcessError(const std::string& what, int exit_code)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

struct ProcessOptions {
  // Empty: "Process-N" (N counts the Processes this process created;
  // a child's children are "Process-N:M", as in Python).
  std::string name{};
  // Daemon children are terminated, not joined, when the parent exits.
  bool daemon = false;
  // Empty: get_start_method() at construction.
  std::optional<StartMethod> start_method{};
  // PR_SET_PDEATHSIG(SIGKILL) in the child.
  bool die_with_parent = true;
};

// What current_process() returns: a snapshot.
class ProcessInfo {
 public:
  ProcessInfo(std::string name, pid_t pid, pid_t parent_pid, bool daemon)
      : name_(std::move(name)), pid_(pid), parent_pid_(parent_pid), daemon_(daemon) {}
  // "MainProcess" in a program's first process, the Process's name in a child.
  const std::string& name() const noexcept { return name_; }
  pid_t pid() const noexcept { return pid_; }
  // The process that started this one (for a forkserver child: the process
  // that asked for it, not the server). getppid() in the main process.
  pid_t parent_pid() const noexcept { return parent_pid_; }
  bool daemon() const noexcept { return daemon_; }

 private:
  std::string name_;
  pid_t pid_;
  pid_t parent_pid_;
  bool daemon_;
};

// The calling process as seen by this library.
ProcessInfo current_process();

// The process that started the calling one (Python's parent_process()): for
// a forkserver child the requester, not the server. Holds a pidfd of it, so
// is_alive()/join_for() are not fooled by pid reuse once it is open.
// Move-only; not thread-safe.
class ParentProcess {
 public:
  const std::string& name() const noexcept { return name_; }
  pid_t pid() const noexcept { return pid_; }
  // False once the parent has ended (also when it had ended before
  // parent_process() was called).
  bool is_alive() const;
  // Waits up to `timeout` for the parent to end; true if it has.
  bool join_for(Timeout timeout) const;

 private:
  friend std::optional<ParentProcess> parent_process();
  ParentProcess(std::string name, pid_t pid);
  std::string name_;
  pid_t pid_;
  std::shared_ptr<const int> pidfd_;  // -1 when the parent was already gone
};

// Empty in the main process (a program's first process, as Python's None);
// otherwise the parent (see ParentProcess).
std::optional<ParentProcess> parent_process();

// The children this process started that are still running (Python's
// active_children()); the ones that have ended meanwhile are reaped (their
// exit codes are then known to their Process objects).
std::vector<ProcessInfo> active_children();

// The number of CPUs this process may run on (its affinity mask), at least 1.
int cpu_count() noexcept;

namespace detail {

// Type-erased child body for fork: returns the exit code.
class ChildBody {
 public:
  virtual ~ChildBody() = default;
  virtual int run() = 0;
};

template <class F, class... Args>
class CallableBody final : public ChildBody {
 public:
  template <class G, class... A>
  explicit CallableBody(G&& f, A&&... args)
      : f_(std::forward<G>(f)), args_(std::forward<A>(args)...) {}
  int run() override {
    using R = std::invoke_result_t<F&, Args&...>;
    if constexpr (std::is_void_v<R>) {
      std::apply(f_, args_);
      return 0;
    } else {
      return static_cast<int>(std::apply(f_, args_));
    }
  }

 private:
  F f_;
  std::tuple<Args...> args_;
};

struct ChildState;

}  // namespace detail

class Process {
 public:
  // A child that runs f(args...) (copies of them) in a forked copy of this
  // process. f returns void (exit code 0) or something convertible to int
  // (the exit code). Throws std::invalid_argument if the start method (the
  // options', else the default) is not fork: spawn and forkserver children
  // cannot run a closure, only a registered function (see below).
  template <class F, class... Args>
  requires std::invocable < std::decay_t<F>
  &, std::decay_t<Args>&... > explicit Process(F&& f, Args&&... args)
      : Process(ProcessOptions{}, std::forward<F>(f), std::forward<Args>(args)...) {}

  template <class F, class... Args>
  requires std::invocable < std::decay_t<F>
  &, std::decay_t<Args>&... > Process(ProcessOptions options, F&& f, Args&&... args) {
    using R = std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>;
    static_assert(std::is_void_v<R> || std::is_convertible_v<R, int>,
                  "mr::Process: the child's function must return void or an exit code "
                  "(something convertible to int)");
    init_callable(std::move(options),
                  std::make_unique<detail::CallableBody<std::decay_t<F>, std::decay_t<Args>...>>(
                      std::forward<F>(f), std::forward<Args>(args)...));
  }

  // A child that runs the function registered (MR_REGISTER_FUNCTION) for
  // &fn, with `args` converted to its parameter types and serialized: any
  // start method. Checked at compile time: the argument count, each
  // argument's conversion, and that each parameter type is
  // mr::Serializable. Throws std::invalid_argument if fn is not registered.
  template <auto Fn, class... Args>
  explicit Process(Target<Fn> target, Args&&... args)
      : Process(ProcessOptions{}, target, std::forward<Args>(args)...) {}

  template <auto Fn, class... Args>
  Process(ProcessOptions options, Target<Fn>, Args&&... args) {
    init_target(std::move(options), detail::find_function_checked<Fn>(),
                detail::encode_target_args<Fn>(std::forward<Args>(args)...));
  }

  // The same by registered name; argument types (decayed) must be
  // mr::Serializable (compile time) and exactly the function's parameter
  // types (checked at run time: std::invalid_argument, as for a name that
  // is not registered).
  template <class... Args>
  explicit Process(std::string_view function_name, Args&&... args)
      : Process(ProcessOptions{}, function_name, std::forward<Args>(args)...) {}

  template <class... Args>
  Process(ProcessOptions options, std::string_view function_name, Args&&... args) {
    const auto& fn =
        detail::find_function_checked(function_name, detail::signature_of<std::decay_t<Args>...>());
    init_target(std::move(options), fn, detail::encode_args(std::forward<Args>(args)...));
  }

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // See "Lifetime" above: a running child is joined (non-daemon) or
  // terminated, killed after kTerminateGrace and reaped (daemon).
  ~Process();

  // Starts the child. Throws std::logic_error if already started,
  // std::system_error if fork/exec/the forkserver fails (an exec error such
  // as ENOENT comes back from the child through a close-on-exec pipe).
  void start();

  // Waits for the child to end. join() of a Process never started throws
  // std::logic_error; join_for returns false on timeout.
  void join();
  bool join_for(Timeout timeout);
  // join(), then throws ProcessError unless the exit code is 0.
  void join_checked();

  // True from start() until the child has ended. Does not block.
  bool is_alive() const;
  // Empty until the child has ended (checked without blocking), then its
  // exit code (see the header comment).
  std::optional<int> exit_code() const;

  // SIGTERM / SIGKILL / SIGINT to the child; nothing if it has already
  // ended. Throws std::logic_error before start(). interrupt() is Python's
  // Process.interrupt(): a C++ child ends by SIGINT unless it handles it.
  void terminate();
  void kill();
  void interrupt();

  // Releases what the Process holds (the child's descriptors, the function
  // and arguments), Python's Process.close(). Throws std::logic_error while
  // the child still runs. Afterwards every member but name(), daemon(),
  // start_method(), close() (idempotent) and the destructor throws
  // std::logic_error.
  void close();
  bool closed() const noexcept { return closed_; }

  // The child's pid; 0 before start().
  pid_t pid() const noexcept;
  // A descriptor that becomes readable when the child has ended (for
  // poll() over many children); -1 before start(). Owned by the Process.
  int sentinel() const noexcept;

  const std::string& name() const noexcept { return name_; }
  // Renaming a started Process does not rename the child.
  void set_name(std::string name) { name_ = std::move(name); }
  bool daemon() const noexcept { return daemon_; }
  // Throws std::logic_error after start().
  void set_daemon(bool daemon);
  StartMethod start_method() const noexcept { return method_; }

 private:
  void init_common(ProcessOptions& options);
  void init_callable(ProcessOptions options, std::unique_ptr<detail::ChildBody> body);
  void init_target(ProcessOptions options, const detail::RegisteredFunction& fn, std::string args);
  detail::ChildState& started(const char* what) const;
  void check_open(const char* what) const;

  std::string name_;
  std::string identity_;  // "1:2" for Process-1:2
  bool daemon_ = false;
  bool die_with_parent_ = true;
  StartMethod method_ = StartMethod::kFork;
  std::unique_ptr<detail::ChildBody> body_;  // fork of a callable
  const detail::RegisteredFunction* function_ = nullptr;
  std::string args_;                           // serialized arguments of function_
  std::shared_ptr<detail::ChildState> state_;  // from start()
  bool closed_ = false;
};

// A start method chosen by a library without touching the process-wide
// default (Python's get_context("spawn")): Processes made through it use
// its method.
//
//   auto ctx = mr::get_context(mr::StartMethod::kSpawn);
//   mr::Process p = ctx.process(mr::target<&work>, 42);
//   mr::ProcessPool pool(ctx.pool_options(mr::PoolOptions{.workers = 4}));
class ProcessContext {
 public:
  explicit ProcessContext(StartMethod method) noexcept : method_(method) {}
  StartMethod start_method() const noexcept { return method_; }
  // `options` with this context's start method.
  ProcessOptions options(ProcessOptions options = {}) const {
    options.start_method = method_;
    return options;
  }
  // A Process (not started) with this context's method; the arguments are
  // those of Process's constructors after the options.
  template <class... Args>
  Process process(Args&&... args) const {
    return Process(options(), std::forward<Args>(args)...);
  }
  template <class... Args>
  Process process(ProcessOptions opts, Args&&... args) const {
    return Process(options(std::move(opts)), std::forward<Args>(args)...);
  }
  // `o` (any options struct with a start_method member, e.g. PoolOptions)
  // with this context's method.
  template <class O>
  O pool_options(O o) const {
    o.start_method = method_;
    return o;
  }

 private:
  StartMethod method_;
};

// The context of `method`, or of the process-wide default.
ProcessContext get_context(std::optional<StartMethod> method = std::nullopt) noexcept;
// By name: "fork", "spawn" or "forkserver"; std::invalid_argument otherwise
// (Python's ValueError).
ProcessContext get_context(std::string_view method);

// The first line of main() in every program that uses spawn or the
// forkserver:
//   int main(int argc, char** argv) { mr::spawn_main_hook(argc, argv); ... }
// In a spawned child (or the forkserver) it runs the child's work and ends
// the process with _exit; otherwise it records that the hook is installed
// and returns.
void spawn_main_hook(int argc, char** argv);

// Starts this process's forkserver now (otherwise the first forkserver
// Process starts it): do it early in main, before threads and big
// allocations, so the server is small. Idempotent. Throws std::system_error
// if the server cannot be started.
void forkserver_start();
// Stops this process's forkserver (its running children are killed) and
// reaps it; done automatically at exit. Idempotent.
void forkserver_stop();
// The server's pid, or 0 if none runs for this process.
pid_t forkserver_pid();

}  // namespace mr
