// ThreadPool: one mutex guards the queue, the thread list and the running
// set; threads are replaced (max_tasks_per_child) by the retiring thread
// itself, and join() joins until the list stays empty.
#include "mr/pool/thread_pool.h"

#include "mr/process/process.h"

#include <algorithm>
#include <stdexcept>
#include <string>

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
  space_cv_.wait(lock, [&] { return closed_ || queue_.size() < options_.max_queued; });
  if (closed_) throw std::logic_error("mr::ThreadPool: submit after close() or terminate()");
  queue_.push_back(Task{std::move(state), std::move(run)});
  lock.unlock();
  work_cv_.notify_one();
}

void ThreadPool::worker_loop() {
  if (options_.initializer) {
    try {
      options_.initializer();
    } catch (...) {
      // Nothing to attribute it to; the thread still serves tasks.
    }
  }
  std::size_t done = 0;
  std::unique_lock lock(m_);
  for (;;) {
    work_cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) break;  // closed and drained
    Task task = std::move(queue_.front());
    queue_.pop_front();
    space_cv_.notify_one();
    if (!task.state->try_start()) continue;  // cancelled while queued
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
    for (auto it = running_.begin(); it != running_.end();) {
      if (it->deadline != Deadline::Clock::time_point::max() && it->deadline <= now) {
        it->state->set_error(detail::ErrorValue::timeout(
            "mr::ThreadPool: task ran past its timeout of " +
            std::to_string(options_.task_timeout->count() / 1000000) + " ms"));
        it = running_.erase(it);
      } else {
        next = std::min(next, it->deadline);
        ++it;
      }
    }
    if (next == Deadline::Clock::time_point::max()) {
      watchdog_cv_.wait(lock);
    } else {
      watchdog_cv_.wait_until(lock, next);
    }
  }
}

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
