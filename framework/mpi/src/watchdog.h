// A deadline for an MPI call that has none of its own: MPI_Init waits for
// every rank (a host lost while the job starts stalls it forever), and
// MPI_Abort waits for the launcher's daemon (which may itself wait for a
// lost host). A Watchdog is a thread that calls no MPI: if it is still
// alive when `limit` has passed, or once `cancelled` (polled every 20 ms,
// when given) returns true, it calls `last_words` (if any), writes
// "mapreduce: <message>" to standard error and ends the whole process with
// _exit(status), whatever the guarded call is doing. The rank's workers die
// with it (PR_SET_PDEATHSIG).
//
//   {
//     Watchdog guard(timeout, {"MPI_Init did not finish within 3 s", 1},
//                    [dir] { ::rmdir(dir.c_str()); }, mr::interrupted, {"interrupted", 130});
//     MPI_Init_thread(...);
//   }  // returned in time: the guard is disarmed and its thread joined
//
// Owned and destroyed by the one thread that made it. Fork-safety: the
// process has a second thread while a Watchdog lives, so it may only fork
// to exec at once (spawn), never to run on in the child.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace mr::detail {

class Watchdog {
 public:
  // How the process ends: the message and the exit status.
  struct Ending {
    std::string message;
    int status = 1;
  };
  // Starts the thread. `last_words` and `cancelled` run on the watchdog's
  // thread while the guarded call still runs on its own: both must be
  // thread-safe. Throws std::system_error when the thread cannot start.
  // Either function may be empty: no last words, no polling.
  Watchdog(std::chrono::duration<double> limit, Ending at_deadline,
           std::function<void()> last_words, std::function<bool()> cancelled,
           Ending when_cancelled);
  // Disarms the watchdog and joins its thread.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void watch(std::chrono::steady_clock::time_point deadline);
  [[noreturn]] void end(const Ending& ending);

  Ending at_deadline_, when_cancelled_;
  std::function<void()> last_words_;
  std::function<bool()> cancelled_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool disarmed_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace mr::detail
