// ThreadPool: one mutex guards the queue, the thread list and the running
// set; threads are replaced (max_tasks_per_child) by the retiring thread
// itself, and join() joins until the list stays empty.
#include "mr/pool/thread_pool.h"

#include "mr/process/process.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mr {

namespace {
std::size_t default_workers() { return static_cast<std::size_t>(cpu_count()); }
}  // namespace

ThreadPool::ThreadPool(PoolOptions options) : options_(std::move(options)) {
  workers_ = options_.workers == 0 ? default_workers() : options_.workers;
  if (options_.max_queued == 0) options_.max_queued = 1;
  std::lock_guard lock(m_);
  for (std::size_t i = 0; i < workers_; ++i) start_thread_locked();
  if (options_.task_timeout) watchdog_ = std::thread([this] { watchdog_loop(); });
}

ThreadPool::~ThreadPool() {
  try {
    close();
    join();
  } catch (...) {
  }
}

std::size_t ThreadPool::in_flight_limit() const noexcept {
  return options_.max_in_flight != 0 ? options_.max_in_flight : 2 * workers_;
}

void ThreadPool::start_thread_locked() {
  ++live_;
  threads_.emplace_back([this] { worker_loop(); });
}

void ThreadPool::enqueue(std::shared_ptr<detail::StateBase> state, std::function<void()> run) {
  std::unique_lock lock(m_);
  space_cv_.wait(lock, [&] {
    return closed_ || queue_.size() < options_.max_queued || detail::t_submit_unbounded;
  });
  if (closed_) throw std::logic_error("mr::ThreadPool: submit after close() or terminate()");
  queue_.push_back(Task{std::move(state), std::move(run)});
  lock.unlock();
  work_cv_.notify_one();
}

void ThreadPool::worker_loop() {
  // As in a ProcessPool, a failed initializer fails the next task this
  // thread takes (with the initializer's error), and then runs again, as it
  // would in a replacement worker.
  std::optional<detail::ErrorValue> init_error;
  auto initialize = [&] {
    init_error.reset();
    if (!options_.initializer) return;
    try {
      options_.initializer();
    } catch (...) {
      init_error = detail::ErrorValue::current();
    }
  };
  initialize();
  std::size_t done = 0;
  std::unique_lock lock(m_);
  for (;;) {
    work_cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) break;  // closed and drained
    Task task = std::move(queue_.front());
    queue_.pop_front();
    space_cv_.notify_one();
    if (!task.state->try_start()) continue;  // cancelled while queued
    if (init_error) {
      lock.unlock();
      task.state->set_error(std::move(*init_error));
      task = {};
      initialize();
      lock.lock();
      continue;
    }
    if (options_.task_timeout) {
      running_.push_back({task.state, Deadline::Clock::now() + *options_.task_timeout});
      watchdog_cv_.notify_one();
    } else {
      running_.push_back({task.state, Deadline::Clock::time_point::max()});
    }
    lock.unlock();
    task.run();
    lock.lock();
    auto it = std::find_if(running_.begin(), running_.end(),
                           [&](const Running& r) { return r.state == task.state; });
    if (it != running_.end()) running_.erase(it);
    task = {};
    if (options_.max_tasks_per_child != 0 && ++done >= options_.max_tasks_per_child && !closed_) {
      start_thread_locked();  // this thread retires; join() reaps it
      break;
    }
  }
  --live_;
  exit_cv_.notify_all();
}

void ThreadPool::watchdog_loop() {
  std::unique_lock lock(m_);
  while (!watchdog_stop_) {
    auto now = Deadline::Clock::now();
    auto next = Deadline::Clock::time_point::max();
    std::vector<std::shared_ptr<detail::StateBase>> expired;
    for (auto it = running_.begin(); it != running_.end();) {
      if (it->deadline != Deadline::Clock::time_point::max() && it->deadline <= now) {
        expired.push_back(std::move(it->state));
        it = running_.erase(it);
      } else {
        next = std::min(next, it->deadline);
        ++it;
      }
    }
    if (!expired.empty()) {
      // Outside the lock: failing a future runs its done callbacks, which
      // may call back into the pool (submit() takes m_).
      lock.unlock();
      for (auto& state : expired)
        state->set_error(detail::ErrorValue::timeout(
            "mr::ThreadPool: task ran past its timeout of " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(*options_.task_timeout)
                    .count()) +
            " ms"));
      expired.clear();
      lock.lock();
      continue;  // running_ may have changed meanwhile
    }
    if (next == Deadline::Clock::time_point::max()) {
      watchdog_cv_.wait(lock);
    } else {
      watchdog_cv_.wait_until(lock, next);
    }
  }
}

std::size_t ThreadPool::cancel_queued() { return detail::cancel_queued_states(m_, queue_); }

void ThreadPool::close() {
  {
    std::lock_guard lock(m_);
    closed_ = true;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
}

void ThreadPool::terminate() {
  std::deque<Task> dropped;
  std::vector<Running> running;
  {
    std::lock_guard lock(m_);
    closed_ = true;
    terminated_ = true;
    dropped.swap(queue_);
    running = running_;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
  for (auto& t : dropped) t.state->abandon("mr::ThreadPool: pool terminated before the task ran");
  for (auto& r : running) r.state->abandon("mr::ThreadPool: pool terminated while the task ran");
}

bool ThreadPool::join_for(Timeout timeout) {
  const Deadline deadline = Deadline::after(timeout);
  std::unique_lock lock(m_);
  if (!closed_) throw std::logic_error("mr::ThreadPool::join: call close() or terminate() first");
  if (!exit_cv_.wait_for(lock, deadline.remaining(), [&] { return live_ == 0; })) return false;
  std::vector<std::thread> threads;
  threads.swap(threads_);
  watchdog_stop_ = true;
  std::thread watchdog = std::move(watchdog_);
  lock.unlock();
  watchdog_cv_.notify_all();
  for (auto& t : threads) t.join();
  if (watchdog.joinable()) watchdog.join();
  return true;
}

void ThreadPool::join() {
  std::unique_lock lock(m_);
  if (!closed_) throw std::logic_error("mr::ThreadPool::join: call close() or terminate() first");
  exit_cv_.wait(lock, [&] { return live_ == 0; });
  lock.unlock();
  join_for(Timeout::zero());
}

}  // namespace mr
