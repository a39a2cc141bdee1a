// ThreadPool: a fixed set of threads running tasks from one bounded queue,
// with the same interface as ProcessPool (see pool_base.h for map, starmap,
// map_async, imap, imap_unordered, apply, apply_async).
//
//   mr::ThreadPool pool({.workers = 4});
//   std::vector<int> squares = pool.map([](int x) { return x * x; }, inputs);
//   mr::Future<std::string> f = pool.submit(load, path);
//
// A task may be any copyable callable with copyable arguments (they are
// copied into the task). A task's exception reaches get() as itself: the
// very object the task threw (as in Python's concurrent.futures), where a
// ProcessPool can only rebuild registered types (mr::register_exception)
// and reports others as mr::TaskError.
//
// Lifecycle: close() refuses new work; join() (after close() or
// terminate()) waits until the queue is drained and every thread has ended.
// terminate() drops the queued tasks (their futures fail with
// CancelledError) and fails the running tasks' futures at once; it cannot
// stop a running thread, so join() still waits for those tasks to return.
// The destructor is close() + join(): queued work is finished first.
//
// Thread-safety: every member may be called from any thread (join() from
// one thread at a time), but never from inside one of the pool's own tasks
// (join() would wait for itself; submit() may block on a full queue).
// Fork-safety: a forked child gets no threads; do not use a ThreadPool
// object inherited from a parent.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mr/pool/future.h"
#include "mr/pool/pool_base.h"

namespace mr {

class ThreadPool : public detail::PoolBase<ThreadPool> {
 public:
  // Starts options.workers threads (0: one per usable CPU), each running the
  // initializer first. Throws std::system_error if a thread cannot start.
  explicit ThreadPool(PoolOptions options = {});
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  // close() + join().
  ~ThreadPool();

  // Queues f(args...) (copies of them) and returns its future. Blocks while
  // the queue is full; throws std::logic_error after close()/terminate().
  template <class F, class... Args>
  auto submit(F f, Args... args) -> Future<std::invoke_result_t<F&, Args&...>> {
    using R = std::invoke_result_t<F&, Args&...>;
    Promise<R> p;
    Future<R> fut = p.future();
    enqueue(fut.state(),
            [p, f = std::move(f), tup = std::make_tuple(std::move(args)...)]() mutable {
              try {
                if constexpr (std::is_void_v<R>) {
                  std::apply(f, tup);
                  p.set_value();
                } else {
                  p.set_value(std::apply(f, tup));
                }
              } catch (...) {
                p.set_error(detail::ErrorValue::current_with_original());
              }
            });
    return fut;
  }

  // Internal (used by the PoolBase front end): one task computing f over a
  // chunk of inputs (std::apply(f, x) when kStar).
  template <bool kStar, class F, class In>
  auto submit_chunk(F f, std::vector<In> chunk) {
    using R = detail::CallResultT<kStar, F, In>;
    return submit(
        [f = std::move(f)](std::vector<In>& xs) mutable {
          std::vector<R> out;
          out.reserve(xs.size());
          for (auto& x : xs) {
            if constexpr (kStar) {
              out.push_back(std::apply(f, x));
            } else {
              out.push_back(f(x));
            }
          }
          return out;
        },
        std::move(chunk));
  }

  void close();
  // Waits until every thread has ended. Throws std::logic_error unless
  // close() or terminate() was called.
  void join();
  // join() for at most `timeout`; false if threads are still running.
  bool join_for(Timeout timeout);
  void terminate();
  // Cancels the tasks still waiting in the queue (their futures fail with
  // CancelledError; running ones go on) and returns how many. For
  // shutdown(wait, cancel_futures).
  std::size_t cancel_queued();

  // The number of worker threads.
  std::size_t size() const noexcept { return workers_; }
  std::size_t in_flight_limit() const noexcept;

 private:
  struct Task {
    std::shared_ptr<detail::StateBase> state;
    std::function<void()> run;
  };

  void enqueue(std::shared_ptr<detail::StateBase> state, std::function<void()> run);
  void worker_loop();
  void watchdog_loop();
  void start_thread_locked();

  PoolOptions options_;
  std::size_t workers_ = 0;
  mutable std::mutex m_;
  std::condition_variable work_cv_;   // queue not empty, or closing
  std::condition_variable space_cv_;  // queue not full
  std::condition_variable exit_cv_;   // a thread ended
  std::deque<Task> queue_;
  bool closed_ = false;
  bool terminated_ = false;
  std::size_t live_ = 0;              // threads that have not ended their loop
  std::vector<std::thread> threads_;  // started and not joined yet
  // Running tasks; deadline is max() without options.task_timeout.
  struct Running {
    std::shared_ptr<detail::StateBase> state;
    Deadline::Clock::time_point deadline;
  };
  std::vector<Running> running_;
  std::condition_variable watchdog_cv_;
  std::thread watchdog_;
  bool watchdog_stop_ = false;
};

}  // namespace mr
