// WorkerProcess: one worker process and the parent's channel to it, started
// by fork, spawn or forkserver, the one supervisor that ProcessPool and the
// MapReduce engine's master both use.
//
//   // fork: the child runs body(its channel); spawn/forkserver: a fresh run
//   // of the program calls the registered Entry(address, token), which gets
//   // its channel with WorkerProcess::connect(address, token).
//   mr::WorkerProcess w = mr::WorkerProcess::start<&entry>(options, [](mr::Channel& ch) {
//     return serve(ch);
//   });
//   if (w.start_failure()) ...;        // it died, or never connected back
//   w.channel().send(request);
//
// A fresh program (spawn, forkserver) connects back to a one-off
// abstract-socket Listener and proves it is ours with a random token
// (mr::accept_child); it has WorkerStartLimits::connect_timeout to do so,
// after which it is killed. What the worker says first (its own start-up
// handshake) is the caller's protocol, over channel().
//
// Ownership: owns the Process (a WorkerProcess destroyed while its worker
// runs kills and reaps it: mr::Process's destructor) and the parent's end.
// Fork-safety: start() forks when the start method is fork; hold
// Options::fork_lock (or call it from a single-threaded parent) so that no
// other thread forks at the same time and a child never inherits another
// worker's channel end. Not thread-safe: one thread drives a WorkerProcess.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "mr/base/deadline.h"
#include "mr/base/error.h"
#include "mr/ipc/channel.h"
#include "mr/ipc/listener.h"
#include "mr/ipc/pipe.h"
#include "mr/process/process.h"

namespace mr {

// The start-up limits of worker processes, one set for the pool and the
// engine alike.
struct WorkerStartLimits {
  // A fresh program (spawn, forkserver) has this long to connect back.
  Timeout connect_timeout = std::chrono::seconds(60);
  // Failed starts in a row before the caller gives up.
  unsigned start_attempts = 3;
  // Polled about every 200 ms while a fresh program connects back: when it
  // returns true the wait ends at once and the start fails ("cancelled"), so
  // that e.g. Ctrl-C is acted on while many workers start. Optional.
  std::function<bool()> cancelled;
};

class WorkerProcess {
 public:
  struct Options {
    ProcessOptions process;  // name, daemon, start_method
    WorkerStartLimits limits;
    // Held around the fork (and a spawn's start) itself, if given.
    std::mutex* fork_lock = nullptr;
  };

  // Starts a worker by options.process.start_method: fork runs body(channel)
  // in the child (body returns the exit code; the child's copy of the
  // parent's end is closed first), spawn and forkserver run the registered
  // function Entry(std::string address, std::string token) in a fresh
  // program and wait for it to connect back. Throws std::system_error when
  // no process can be made; a worker that dies before connecting back or
  // does not connect in time is no exception: see start_failure().
  template <auto Entry, class Body>
  static WorkerProcess start(const Options& options, Body body) {
    WorkerProcess w;
    if (options.process.start_method == StartMethod::kFork) {
      Channel parent, child;
      {
        // The pipe is made under the lock too: a child forked meanwhile by
        // another thread must not inherit its ends.
        std::unique_lock<std::mutex> lock;
        if (options.fork_lock) lock = std::unique_lock(*options.fork_lock);
        auto [mine, theirs] = Pipe();
        parent = Channel(std::move(mine));
        child = Channel(std::move(theirs));
        Channel* parent_end = &parent;
        Channel* child_end = &child;
        // The body captures pointers: in the child they point at the child's
        // copies of these locals.
        w.process_.emplace(options.process, [parent_end, child_end, body]() mutable -> int {
          parent_end->close();
          return body(*child_end);
        });
        w.process_->start();
        child.close();
      }
      w.channel_ = std::move(parent);
      return w;
    }
    Listener listener;
    const std::string token = random_token();
    {
      std::unique_lock<std::mutex> lock;
      if (options.fork_lock) lock = std::unique_lock(*options.fork_lock);
      w.process_.emplace(options.process, target<Entry>, listener.address(), token);
      w.process_->start();
    }
    w.await_connection(listener, token, options.limits);
    return w;
  }

  // The worker side of spawn/forkserver: connects back to `address` with
  // `token` (the arguments Entry was given). Throws std::system_error.
  static Channel connect(const std::string& address, const std::string& token) {
    return Channel(connect_back(address, token));
  }

  WorkerProcess(WorkerProcess&&) noexcept = default;
  WorkerProcess& operator=(WorkerProcess&&) noexcept = default;

  Process& process() { return *process_; }
  const Process& process() const { return *process_; }
  pid_t pid() const { return process_->pid(); }
  // The parent's end; closed when the worker never connected back.
  Channel& channel() { return channel_; }
  // Why the start failed ("did not connect back within 60 s", "exited with
  // code 3 while starting"); empty when the worker started (and connected).
  // The process is then reaped (or killed and reaped).
  const std::optional<std::string>& start_failure() const { return start_failure_; }

  // Kills the worker (SIGKILL) if it runs and reaps it; returns its exit
  // code. The channel stays open: what the worker sent before it died can
  // still be read.
  int kill() noexcept;
  // Waits up to `grace` for the worker to end (after the caller asked it
  // to), then kills it; reaps it and closes the channel. Returns its exit
  // code.
  int reap(Timeout grace) noexcept;

 private:
  WorkerProcess() = default;
  void await_connection(Listener& listener, const std::string& token,
                        const WorkerStartLimits& limits);

  std::optional<Process> process_;
  Channel channel_;
  std::optional<std::string> start_failure_;
};

}  // namespace mr
