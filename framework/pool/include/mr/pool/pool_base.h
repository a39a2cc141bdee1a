// What ThreadPool and ProcessPool share: their options (PoolOptions), the
// lazy result range of imap()/imap_unordered() (ImapRange), and the front end
// that builds map/starmap/imap/apply on each pool's two primitives, submit()
// and submit_chunk() (detail::PoolBase, a CRTP base).
//
// Thread-safety: a pool's members may be called from any thread. An
// ImapRange is consumed by one thread. Fork-safety: see each pool's header.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/pool/future.h"
#include "mr/process/process.h"

namespace mr {

// Zeros, compared with Python: workers = 0 and max_tasks_per_child = 0 are
// this library's spelling of Python's None (one per CPU; never), not the
// ValueError Python raises for 0. A chunksize of 0 (map/imap) is an error,
// std::invalid_argument, as in Python.
struct PoolOptions {
  // Number of workers; 0 means one per usable CPU (mr::cpu_count()).
  std::size_t workers = 0;
  // Run once in every worker before its first task (for a ProcessPool: in
  // the worker process; with fork it may capture anything, with spawn and
  // forkserver it must be a plain function, void(*)()). If it throws, the
  // next task that worker takes fails with the initializer's error (a
  // TaskError naming its type), and the worker is replaced: a ProcessPool
  // starts a new process, a ThreadPool's thread runs the initializer again.
  // A ProcessPool counts an initializer against task_timeout: one that runs
  // longer is killed and the start counts as failed.
  std::function<void()> initializer{};
  // Replace a worker after it ran this many tasks (a chunk counts as one
  // task); 0 means never.
  std::size_t max_tasks_per_child = 0;
  // ProcessPool only: how workers are started (mr/process/process.h): fork,
  // or spawn/forkserver (fresh programs; see process_pool.h for what may
  // travel to them then).
  StartMethod start_method = StartMethod::kFork;
  // ProcessPool only: run a task again, up to this many times, when its
  // worker dies while running it; its future fails with WorkerDied only
  // after the last attempt.
  int retries = 0;
  // A task running longer than this fails with mr::TimeoutError. A
  // ProcessPool kills (SIGKILL) and replaces its worker; a ThreadPool cannot
  // stop a thread, so the future fails at the deadline and the thread's late
  // result is dropped.
  std::optional<Timeout> task_timeout{};
  // Bound of the queue of tasks not yet started: submit() and map() block
  // while it is full (back-pressure). map_async()/starmap_async() never
  // block (as Python's): their chunks may overfill the queue.
  std::size_t max_queued = 4096;
  // imap()/imap_unordered(): chunks submitted ahead of the consumer; 0
  // means twice the number of workers.
  std::size_t max_in_flight = 0;
};

// The results of imap()/imap_unordered(): a single-pass input range that
// pulls inputs lazily and keeps at most a fixed number of chunks in flight.
// Iterating yields results in input order (imap) or in completion order
// (imap_unordered); a failed chunk's error (TaskError, WorkerDied, ...) is
// thrown by the iterator increment / next() that reaches it, and iteration
// may continue after it. When reading the input throws, every result of the
// inputs read before the failure is yielded first (in the range's order),
// then the input's exception is thrown once, then the range ends (Python's
// imap). Destroying the range cancels the chunks that have not started
// (running ones finish and are dropped).
template <class R>
class ImapRange {
 public:
  // Submits the next chunk, or returns empty when the input is exhausted.
  // An exception from it (the input failed) ends the input; it is thrown
  // by next() once the chunks submitted before it are consumed.
  using Feeder = std::function<std::optional<Future<std::vector<R>>>()>;

  ImapRange(Feeder feeder, std::size_t window, bool ordered)
      : feeder_(std::move(feeder)),
        window_(window == 0 ? 1 : window),
        ordered_(ordered),
        channel_(std::make_shared<detail::CompletionChannel>()) {}
  ImapRange(ImapRange&&) noexcept = default;
  ImapRange& operator=(ImapRange&&) noexcept = default;
  ~ImapRange() {
    for (auto& [id, f] : in_flight_) f.cancel();
  }

  // The next result; empty at the end. Blocks until it is available.
  std::optional<R> next() { return next_until(Deadline::never()); }
  // next() waiting at most `timeout` (Python's IMapIterator.next(timeout)):
  // empty when no result came in time or at the end; done() tells which.
  // A result that is late stays due: the next call yields it.
  std::optional<R> next_for(Timeout timeout) { return next_until(Deadline::after(timeout)); }
  // True once every result (and the input's error, if any) was delivered.
  bool done() const noexcept {
    return pos_ >= buffer_.size() && exhausted_ && in_flight_.empty() && !input_error_;
  }

  // Chunks submitted and not yet consumed (for tests of back-pressure).
  std::size_t in_flight() const noexcept { return in_flight_.size(); }

 private:
  std::optional<R> next_until(const Deadline& deadline) {
    while (pos_ >= buffer_.size()) {
      top_up();
      if (in_flight_.empty()) {
        if (input_error_) std::rethrow_exception(std::exchange(input_error_, nullptr));
        return std::nullopt;
      }
      std::optional<Future<std::vector<R>>> done = take_next_done(deadline);
      if (!done) return std::nullopt;
      Future<std::vector<R>> f = std::move(*done);
      buffer_.clear();
      pos_ = 0;
      buffer_ = f.get();  // throws the chunk's error; the chunk is consumed
      top_up();
    }
    return std::move(buffer_[pos_++]);
  }

 public:
  class iterator {
   public:
    using value_type = R;
    using difference_type = std::ptrdiff_t;
    iterator() = default;
    explicit iterator(ImapRange* owner) : owner_(owner) { current_ = owner_->next(); }
    R& operator*() const { return *current_; }
    R* operator->() const { return &*current_; }
    iterator& operator++() {
      current_.reset();
      current_ = owner_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) {
      return !it.current_.has_value();
    }

   private:
    ImapRange* owner_ = nullptr;
    mutable std::optional<R> current_;
  };

  iterator begin() { return iterator(this); }
  std::default_sentinel_t end() { return {}; }

 private:
  void top_up() {
    while (!exhausted_ && in_flight_.size() < window_) {
      std::optional<Future<std::vector<R>>> f;
      try {
        f = feeder_();
      } catch (...) {
        input_error_ = std::current_exception();
      }
      if (!f) {
        exhausted_ = true;
        break;
      }
      const std::size_t id = next_id_++;
      if (!ordered_) {
        auto state = f->state();
        f->state()->on_done([ch = channel_, id, st = state.get()] { ch->push(id, st->failed()); });
      }
      in_flight_.emplace(id, std::move(*f));
    }
  }

  // The next chunk to consume once it is done; empty past the deadline.
  std::optional<Future<std::vector<R>>> take_next_done(const Deadline& deadline) {
    std::size_t id;
    if (ordered_) {
      id = in_flight_.begin()->first;
      if (!deadline.is_never() && !in_flight_.begin()->second.wait_for(deadline.remaining()))
        return std::nullopt;
    } else {
      std::unique_lock lock(channel_->m);
      auto arrived = [&] { return !channel_->done.empty(); };
      if (deadline.is_never()) {
        channel_->cv.wait(lock, arrived);
      } else if (!channel_->cv.wait_for(lock, deadline.remaining(), arrived)) {
        return std::nullopt;
      }
      id = channel_->done.front();
      channel_->done.pop_front();
    }
    auto it = in_flight_.find(id);
    Future<std::vector<R>> f = std::move(it->second);
    in_flight_.erase(it);
    return f;
  }

  Feeder feeder_;
  std::size_t window_;
  bool ordered_;
  bool exhausted_ = false;
  std::exception_ptr input_error_;  // the input's failure, thrown once at the end
  std::size_t next_id_ = 0;
  std::map<std::size_t, Future<std::vector<R>>> in_flight_;  // by submission order
  std::shared_ptr<detail::CompletionChannel> channel_;
  std::vector<R> buffer_;
  std::size_t pos_ = 0;
};

namespace detail {

// True while the calling thread submits for map_async(): the pools' enqueue
// then does not wait for room in the queue.
inline thread_local bool t_submit_unbounded = false;
class UnboundedSubmit {
 public:
  UnboundedSubmit() noexcept : saved_(std::exchange(t_submit_unbounded, true)) {}
  ~UnboundedSubmit() { t_submit_unbounded = saved_; }
  UnboundedSubmit(const UnboundedSubmit&) = delete;
  UnboundedSubmit& operator=(const UnboundedSubmit&) = delete;

 private:
  bool saved_;
};

// Cancels the futures of the tasks in a pool's `queue` (items with a
// `state` member): read under `m`, cancelled outside it (cancel() runs done
// callbacks, which may submit). Returns how many were cancelled.
template <class Queue>
std::size_t cancel_queued_states(std::mutex& m, const Queue& queue) {
  std::vector<std::shared_ptr<StateBase>> queued;
  {
    std::lock_guard lock(m);
    for (const auto& item : queue) queued.push_back(item.state);
  }
  std::size_t n = 0;
  for (auto& state : queued) n += state->cancel() ? 1 : 0;
  return n;
}

// The result of calling F on one input: f(in), or std::apply(f, in) for
// starmap.
template <bool kStar, class F, class In>
struct CallResult {
  using type = std::invoke_result_t<F&, In&>;
};
template <class F, class In>
struct CallResult<true, F, In> {
  using type = decltype(std::apply(std::declval<F&>(), std::declval<In&>()));
};
template <bool kStar, class F, class In>
using CallResultT = typename CallResult<kStar, F, In>::type;

template <class Range>
using InputOf = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;

// The chunk size of map()/imap() calls (Python's chunksize): empty chooses
// one as Python's map does, ceil(n / (4 x workers)) for an input of n
// elements (a range whose size is not known is counted first by map(),
// gets 1 from imap()); 0 is an error (std::invalid_argument, Python's
// ValueError).
std::size_t chunk_size_for(std::optional<std::size_t> chunksize, std::optional<std::size_t> inputs,
                           std::size_t workers);

// Wraps `inner` as Python's apply_async/map_async callbacks do:
// on_result(const R&) (on_result() for void) or on_error(std::exception_ptr)
// runs on the completing thread, then the returned future completes the
// same way. nullptr skips a callback; exceptions from callbacks are
// swallowed.
template <class R, class OnResult, class OnError>
Future<R> with_callbacks(Future<R> inner, OnResult on_result, OnError on_error) {
  Promise<R> outer;
  outer.set_running();
  inner.add_done_callback([outer, on_result = std::move(on_result),
                           on_error = std::move(on_error)](const Future<R>& done) mutable {
    if (auto e = done.state()->error()) {
      if constexpr (!std::is_null_pointer_v<OnError>) {
        try {
          on_error(e->to_exception_ptr());
        } catch (...) {
        }
      }
      outer.set_error(std::move(*e));
      return;
    }
    if constexpr (std::is_void_v<R>) {
      if constexpr (!std::is_null_pointer_v<OnResult>) {
        try {
          on_result();
        } catch (...) {
        }
      }
      outer.set_value();
    } else {
      if constexpr (!std::is_null_pointer_v<OnResult>) {
        try {
          on_result(done.state()->value());
        } catch (...) {
        }
      }
      outer.set_value(done.state()->value());
    }
  });
  return outer.future();
}

// The front end shared by ThreadPool and ProcessPool. Derived provides:
//   Future<R> submit(F, Args...);
//   template <bool kStar> Future<std::vector<R>> submit_chunk(F, std::vector<In>);
//   std::size_t in_flight_limit() const;
//   std::size_t size() const;  // workers
template <class Derived>
class PoolBase {
 public:
  // f(x) for every x of `inputs`, results in input order. Inputs are sent
  // in chunks of `chunksize` (empty: chosen as Python does, see
  // chunk_size_for(); 0: std::invalid_argument). Blocks until all are done;
  // throws the error of the first failed chunk in input order (the other
  // chunks still run).
  template <class F, std::ranges::input_range Range>
  auto map(F f, Range&& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    return collect(submit_all<false>(std::move(f), std::forward<Range>(inputs), chunksize));
  }
  // map() giving up after `timeout` (Python's map_async(...).get(timeout)):
  // empty then, and the chunks that have not started are cancelled.
  template <class F, std::ranges::input_range Range>
  auto map_for(F f, Range&& inputs, Timeout timeout,
               std::optional<std::size_t> chunksize = std::nullopt) {
    const Deadline deadline = Deadline::after(timeout);
    auto chunks = submit_all<false>(std::move(f), std::forward<Range>(inputs), chunksize);
    using Result = decltype(collect(std::move(chunks)));
    for (auto& c : chunks)
      if (!c.wait_for(deadline.remaining())) {
        for (auto& other : chunks) other.cancel();
        return std::optional<Result>();
      }
    return std::optional<Result>(collect(std::move(chunks)));
  }
  // map() where each input is a tuple of arguments: std::apply(f, x).
  template <class F, std::ranges::input_range Range>
  auto starmap(F f, Range&& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    return collect(submit_all<true>(std::move(f), std::forward<Range>(inputs), chunksize));
  }

  // map() without waiting: a future of the whole result vector. Never
  // blocks, however many chunks (max_queued does not apply). Python's callback and
  // error_callback: on_result(const std::vector<R>&) or
  // on_error(std::exception_ptr) runs on the completing thread before the
  // returned future becomes ready (nullptr: none; see with_callbacks()).
  template <class F, std::ranges::input_range Range, class OnResult = std::nullptr_t,
            class OnError = std::nullptr_t>
  auto map_async(F f, Range&& inputs, std::optional<std::size_t> chunksize = std::nullopt,
                 OnResult on_result = nullptr, OnError on_error = nullptr) {
    UnboundedSubmit unbounded;
    auto joined =
        join_chunks(submit_all<false>(std::move(f), std::forward<Range>(inputs), chunksize));
    if constexpr (std::is_null_pointer_v<OnResult> && std::is_null_pointer_v<OnError>) {
      return joined;
    } else {
      return with_callbacks(std::move(joined), std::move(on_result), std::move(on_error));
    }
  }
  template <class F, std::ranges::input_range Range>
  auto starmap_async(F f, Range&& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    UnboundedSubmit unbounded;
    return join_chunks(submit_all<true>(std::move(f), std::forward<Range>(inputs), chunksize));
  }

  // Lazy map: results in input order as they arrive. Inputs are read only as
  // results are consumed (at most the pool's in-flight window of chunks
  // ahead), so `inputs` may be endless. An lvalue range is referenced (it
  // must outlive the ImapRange), an rvalue one is moved in. chunksize as
  // for map() (a range of unknown size gets 1). With a timeout: the range's
  // next_for().
  template <class F, std::ranges::input_range Range>
  auto imap(F f, Range&& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    return lazy<false>(std::move(f), std::forward<Range>(inputs), chunksize, true);
  }
  // imap() yielding results in completion order.
  template <class F, std::ranges::input_range Range>
  auto imap_unordered(F f, Range&& inputs, std::optional<std::size_t> chunksize = std::nullopt) {
    return lazy<false>(std::move(f), std::forward<Range>(inputs), chunksize, false);
  }

  // Python's Executor.shutdown(wait, cancel_futures): refuses new work
  // (close()); with cancel_futures, cancels the tasks not yet started
  // (their futures fail with CancelledError); with wait, returns once the
  // workers have ended (join()).
  void shutdown(bool wait = true, bool cancel_futures = false) {
    self().close();
    if (cancel_futures) self().cancel_queued();
    if (wait) self().join();
  }

  // submit(f, args...).get().
  template <class F, class... Args>
  decltype(auto) apply(F f, Args&&... args) {
    auto fut = self().submit(std::move(f), std::forward<Args>(args)...);
    if constexpr (std::is_void_v<decltype(fut.get())>) {
      fut.get();
    } else {
      return std::remove_cvref_t<decltype(fut.get())>(fut.get());
    }
  }

  // Python's apply_async(func, args, callback, error_callback): runs
  // std::apply(f, args); then on_result(const R&) (on_result() for void) or
  // on_error(std::exception_ptr) runs on the completing thread, and only
  // after that does the returned future become ready. Pass nullptr to skip
  // a callback. Exceptions from the callbacks are swallowed.
  template <class F, class... Args, class OnResult = std::nullptr_t, class OnError = std::nullptr_t>
  auto apply_async(F f, std::tuple<Args...> args, OnResult on_result = nullptr,
                   OnError on_error = nullptr) {
    auto inner = std::apply(
        [&](auto&&... a) { return self().submit(std::move(f), std::forward<decltype(a)>(a)...); },
        std::move(args));
    return with_callbacks(std::move(inner), std::move(on_result), std::move(on_error));
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }

  template <bool kStar, class F, class Range>
  auto submit_all(F f, Range&& inputs, std::optional<std::size_t> chunksize) {
    using In = InputOf<Range>;
    using R = CallResultT<kStar, F, In>;
    static_assert(!std::is_void_v<R>,
                  "mr::Pool::map: the function returns void; use submit() for side effects");
    if constexpr (!std::ranges::sized_range<Range>) {
      if (!chunksize) {
        // Counted first, as Python's map makes a list of an iterator.
        std::vector<In> all;
        for (auto&& x : inputs) all.push_back(std::forward<decltype(x)>(x));
        return submit_all<kStar>(std::move(f), std::move(all), chunksize);
      }
    }
    std::optional<std::size_t> n;
    if constexpr (std::ranges::sized_range<Range>)
      n = static_cast<std::size_t>(std::ranges::size(inputs));
    const std::size_t size = chunk_size_for(chunksize, n, self().size());
    std::vector<Future<std::vector<R>>> chunks;
    std::vector<In> chunk;
    for (auto&& x : inputs) {
      chunk.push_back(std::forward<decltype(x)>(x));
      if (chunk.size() == size) {
        chunks.push_back(self().template submit_chunk<kStar>(f, std::move(chunk)));
        chunk = {};
      }
    }
    if (!chunk.empty()) chunks.push_back(self().template submit_chunk<kStar>(f, std::move(chunk)));
    return chunks;
  }

  template <class R>
  static std::vector<R> collect(std::vector<Future<std::vector<R>>> chunks) {
    // Tasks finish roughly in submission order: waiting for the last chunk
    // first means one sleep for the whole map instead of one per chunk
    // (errors are still thrown in input order, below).
    if (!chunks.empty()) chunks.back().wait();
    std::vector<R> out;
    for (auto& c : chunks) {
      const std::vector<R>& part = c.get();
      out.insert(out.end(), part.begin(), part.end());
    }
    return out;
  }

  // A future of the concatenation of `chunks`, completed by the last chunk
  // to finish (on its completing thread).
  template <class R>
  static Future<std::vector<R>> join_chunks(std::vector<Future<std::vector<R>>> chunks) {
    struct Join {
      std::vector<Future<std::vector<R>>> chunks;
      std::atomic<std::size_t> left;
      Promise<std::vector<R>> out;
    };
    auto j = std::make_shared<Join>();
    j->chunks = std::move(chunks);
    j->left = j->chunks.size();
    j->out.set_running();
    Future<std::vector<R>> result = j->out.future();
    if (j->chunks.empty()) {
      j->out.set_value(std::vector<R>{});
      return result;
    }
    for (auto& c : j->chunks) {
      c.state()->on_done([j] {
        if (j->left.fetch_sub(1) != 1) return;
        std::vector<R> all;
        for (auto& part : j->chunks) {
          if (auto e = part.state()->error()) {
            j->out.set_error(std::move(*e));
            j->chunks.clear();
            return;
          }
          const auto& v = part.state()->value();
          all.insert(all.end(), v.begin(), v.end());
        }
        j->chunks.clear();  // breaks the cycle chunk state -> callback -> j
        j->out.set_value(std::move(all));
      });
    }
    return result;
  }

  template <bool kStar, class F, class Range>
  auto lazy(F f, Range&& inputs, std::optional<std::size_t> chunksize_given, bool ordered) {
    using View = std::views::all_t<Range>;
    using In = InputOf<Range>;
    using R = CallResultT<kStar, F, In>;
    static_assert(!std::is_void_v<R>,
                  "mr::Pool::imap: the function returns void; use submit() for side effects");
    struct Source {
      explicit Source(View v) : view(std::move(v)) {}
      View view;
      std::optional<std::ranges::iterator_t<View>> it;
      // The input threw after part of a chunk was read: that part is
      // submitted first, the error is rethrown by the next call.
      std::exception_ptr error;
    };
    std::optional<std::size_t> n;
    if constexpr (std::ranges::sized_range<Range>)
      n = static_cast<std::size_t>(std::ranges::size(inputs));
    const std::size_t chunksize = chunk_size_for(chunksize_given, n, self().size());
    auto src = std::make_shared<Source>(std::views::all(std::forward<Range>(inputs)));
    Derived* pool = &self();
    typename ImapRange<R>::Feeder feeder = [pool, src, f = std::move(f),
                                            chunksize]() -> std::optional<Future<std::vector<R>>> {
      if (src->error) std::rethrow_exception(std::exchange(src->error, nullptr));
      std::vector<In> chunk;
      try {
        if (!src->it) src->it.emplace(std::ranges::begin(src->view));
        auto& it = *src->it;
        while (chunk.size() < chunksize && it != std::ranges::end(src->view)) {
          chunk.push_back(*it);
          ++it;
        }
      } catch (...) {
        if (chunk.empty()) throw;
        src->error = std::current_exception();
      }
      if (chunk.empty()) return std::nullopt;
      return pool->template submit_chunk<kStar>(f, std::move(chunk));
    };
    return ImapRange<R>(std::move(feeder), self().in_flight_limit(), ordered);
  }
};

}  // namespace detail
}  // namespace mr
