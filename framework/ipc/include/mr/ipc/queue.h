// Queue<T>, SimpleQueue<T>, JoinableQueue<T>: multi-producer multi-consumer
// FIFO queues between fork()ed processes (and threads), the counterparts of
// Python's multiprocessing.Queue / SimpleQueue / JoinableQueue.
//
//   mr::Queue<int> q(/*maxsize=*/100);
//   // fork producers and consumers; each uses its inherited copy of q
//   q.put(42);                       // blocks while the queue is full
//   int v = q.get();                 // blocks while it is empty
//   auto w = q.get_for(100ms);       // empty optional on timeout
//
// How it works. All the state is in one anonymous shared region created by
// the constructor and inherited by fork(): a ring of serialized messages
// (4-byte length + the bytes of mr::to_bytes(value)), item and byte counts,
// a closed flag and futex words for "not empty", "not full" and "all tasks
// done", each with a count of sleepers so that put and get make no system
// call when nobody sleeps. A robust process-shared mr::Lock guards the ring;
// values are serialized before and deserialized after holding it. A process
// about to sleep first spins briefly, so that a producer and a consumer that
// keep up with each other never enter the kernel.
//
// Bounds: at most `maxsize` items (0: no item limit, like Python) and at
// most `capacity_bytes` bytes of records (4 bytes + message each). A single
// message larger than capacity_bytes - 4 throws std::length_error at put.
//
// Closing (a queue-wide state, unlike Python's per-process close()): after
// close(), put/put_for/try_put throw mr::QueueClosed; get/get_for/try_get
// keep returning what is left and, once the queue is empty, throw
// mr::QueueClosed (get_for/try_get throw rather than return empty, so a
// timeout and the end of the queue are never confused). Sleepers are woken.
//
// Process death: a process killed while holding the lock is detected by
// the robust lock; the next one repairs the counts from the ring and goes
// on (what the dead one was putting is lost or delivered whole, never
// half). A process killed in the middle of get() loses that one item. A
// sleeper that dies leaves its sleeper count behind, which only costs
// extra futex wakes.
//
// Ownership, thread-safety, fork-safety: the object owns its mapping and its
// handle of the lock (move-only). All operations are thread-safe and
// process-safe on the inherited copies. Create the queue before fork().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "mr/base/deadline.h"
#include "mr/base/serialize.h"
#include "mr/base/shared_region.h"
#include "mr/sync/lock.h"

namespace mr {

// put() on a closed queue, or get() on a closed queue that is empty.
class QueueClosed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The default byte capacity of a queue's ring.
inline constexpr std::size_t kQueueBytes = 4u << 20;

namespace detail {

struct QueueHeader;  // the shared state (queue.cc)

// The bytes-level queue under the typed ones: each message is a byte string.
// Same contracts as Queue<T>.
class QueueCore {
 public:
  QueueCore(std::size_t maxsize, std::size_t capacity_bytes, Backing backing);
  // Attaches to a queue created with Backing::kMemfd elsewhere.
  QueueCore(SharedRegion ring, SharedRegion lock);
  // A moved-from core must not be used (only destroyed or assigned to).
  QueueCore(QueueCore&& other) noexcept
      : region_(std::move(other.region_)),
        lock_(std::move(other.lock_)),
        h_(std::exchange(other.h_, nullptr)),
        data_(std::exchange(other.data_, nullptr)) {}
  QueueCore& operator=(QueueCore&& other) noexcept {
    if (this != &other) {
      region_ = std::move(other.region_);
      lock_ = std::move(other.lock_);
      h_ = std::exchange(other.h_, nullptr);
      data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
  }

  // False when the deadline passed while the queue was full. Throws
  // QueueClosed, std::length_error for a message that can never fit.
  bool put(std::string_view message, const Deadline& deadline);
  // Empty when the deadline passed while the queue was empty. Throws
  // QueueClosed once closed and empty.
  std::optional<std::string> get(const Deadline& deadline);

  std::size_t size() const noexcept;
  bool empty() const noexcept { return size() == 0; }
  bool full() const noexcept;
  std::size_t maxsize() const noexcept;
  std::size_t capacity_bytes() const noexcept;

  void close();
  bool closed() const noexcept;

  // Counts one item as processed; std::logic_error when more task_done()
  // calls than items were put.
  void task_done();
  // True once every item put has been task_done(); false on timeout.
  bool join(const Deadline& deadline);
  std::size_t unfinished_tasks() const noexcept;

  const SharedRegion& ring_region() const noexcept { return region_; }
  const SharedRegion& lock_region() const noexcept { return lock_.region(); }

 private:
  class Guard;
  void repair_after_owner_death() noexcept;

  SharedRegion region_;
  Lock lock_;
  QueueHeader* h_ = nullptr;
  char* data_ = nullptr;
};

Deadline queue_deadline(Timeout timeout) noexcept;

}  // namespace detail

template <class T>
class Queue {
  static_assert(Serializable<T>,
                "mr::Queue<T>: T is not serializable (see mr/base/serialize.h: give it a "
                "`template <class Ar> void serialize(Ar&)` member or opt in with "
                "mr::SerializeAsBytes<T>)");

 public:
  // A queue of at most `maxsize` items (0: no item limit) and
  // `capacity_bytes` bytes of serialized messages. Throws std::system_error
  // when shared memory cannot be had, std::invalid_argument for a capacity
  // under 64 bytes or over 2^40.
  explicit Queue(std::size_t maxsize = 0, std::size_t capacity_bytes = kQueueBytes,
                 Backing backing = Backing::kAnonymous)
      : core_(maxsize, capacity_bytes, backing) {}

  // Passing a queue to an exec()ed process (spawn, forkserver), where
  // inheritance by fork does not reach: create it with Backing::kMemfd, send
  // the descriptors ring_region().fd() and lock_region().fd() (e.g. with
  // SocketConnection::send_bytes(msg, fds), mr/ipc/listener.h), and attach
  // there: Queue<T>::attach(SharedRegion::map_fd(ring), SharedRegion::map_fd(lock)).
  // Throws std::invalid_argument when the regions do not hold a queue.
  static Queue attach(SharedRegion ring, SharedRegion lock) {
    return Queue(detail::QueueCore(std::move(ring), std::move(lock)));
  }
  const SharedRegion& ring_region() const noexcept { return core_.ring_region(); }
  const SharedRegion& lock_region() const noexcept { return core_.lock_region(); }

  // Appends `value`, blocking while the queue is full. Throws QueueClosed,
  // std::length_error when the serialized value can never fit.
  void put(const T& value) { core_.put(to_bytes(value), Deadline::never()); }
  // Like put(), giving up after `timeout`: false if still full then.
  bool put_for(const T& value, Timeout timeout) {
    return core_.put(to_bytes(value), detail::queue_deadline(timeout));
  }
  // Appends only if there is room now.
  bool try_put(const T& value) { return put_for(value, Timeout::zero()); }

  // Removes and returns the oldest item, blocking while the queue is empty.
  // Throws QueueClosed when closed and empty, mr::SerializationError when
  // the bytes do not decode as a T.
  T get() { return from_bytes<T>(*core_.get(Deadline::never())); }
  // Like get(), giving up after `timeout` (empty optional).
  std::optional<T> get_for(Timeout timeout) {
    auto bytes = core_.get(detail::queue_deadline(timeout));
    if (!bytes) return std::nullopt;
    return from_bytes<T>(*bytes);
  }
  // Removes an item only if one is there now.
  std::optional<T> try_get() { return get_for(Timeout::zero()); }

  // Approximate (other processes change it concurrently).
  std::size_t size() const noexcept { return core_.size(); }
  bool empty() const noexcept { return core_.empty(); }
  // True when maxsize items are queued or the ring has no room left.
  bool full() const noexcept { return core_.full(); }
  std::size_t maxsize() const noexcept { return core_.maxsize(); }

  // Closes the queue for every process (see the header comment).
  void close() { core_.close(); }
  bool closed() const noexcept { return core_.closed(); }

 protected:
  explicit Queue(detail::QueueCore core) : core_(std::move(core)) {}
  detail::QueueCore core_;
};

// Queue plus task tracking: every put() adds an unfinished task, every
// task_done() removes one, join() waits until none is left.
template <class T>
class JoinableQueue : public Queue<T> {
 public:
  using Queue<T>::Queue;

  // Marks one item fetched with get() as processed. Throws
  // std::logic_error when called more times than items were put. Makes no
  // system call unless someone waits in join().
  void task_done() { this->core_.task_done(); }
  // Blocks until every item ever put has been task_done().
  void join() { this->core_.join(Deadline::never()); }
  // Like join(), giving up after `timeout`: false if tasks remain then.
  bool join_for(Timeout timeout) { return this->core_.join(detail::queue_deadline(timeout)); }
  std::size_t unfinished_tasks() const noexcept { return this->core_.unfinished_tasks(); }
};

// Python's SimpleQueue: no item bound, put/get/empty/close only.
template <class T>
class SimpleQueue {
  static_assert(Serializable<T>,
                "mr::SimpleQueue<T>: T is not serializable (see mr/base/serialize.h)");

 public:
  explicit SimpleQueue(std::size_t capacity_bytes = kQueueBytes)
      : core_(0, capacity_bytes, Backing::kAnonymous) {}

  // Blocks only while the ring has no room for the message.
  void put(const T& value) { core_.put(to_bytes(value), Deadline::never()); }
  T get() { return from_bytes<T>(*core_.get(Deadline::never())); }
  std::optional<T> get_for(Timeout timeout) {
    auto bytes = core_.get(detail::queue_deadline(timeout));
    if (!bytes) return std::nullopt;
    return from_bytes<T>(*bytes);
  }
  bool empty() const noexcept { return core_.empty(); }
  void close() { core_.close(); }
  bool closed() const noexcept { return core_.closed(); }

 private:
  detail::QueueCore core_;
};

}  // namespace mr
