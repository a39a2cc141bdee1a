#include "mr/ipc/queue.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <new>
#include <type_traits>

#include "mr/base/futex.h"
#include "ring.h"
#include "wait_util.h"

namespace mr {
namespace detail {

// The shared state. Ring positions count bytes ever written/read; a record
// is a 4-byte length then the message, and may wrap around the end.
//
// `head`, `tail`, `count` and `closed` change only under the lock; they are
// atomics so that size()/full() and the spinning phase of a waiter can read
// them without it. The sleeper counts change under the lock too, and are
// read under it by the side that decides whether to wake: a sleeper
// registers and reads the futex word under the lock, the waker bumps the
// word under the lock and wakes after releasing it, so no wake-up is lost.
// `*_signaled` counts sleepers already woken but not yet back under the
// lock (signaled <= sleepers): a waker only wakes when sleepers > signaled,
// so while a woken producer is on its way, the consumer's further gets make
// no system call. A returning sleeper takes one off each count (it cannot
// tell whether it was the one signaled; a wake that went to nobody is made
// good by the baton passing below and by the re-check every sleeper does).
//
// `unfinished` (JoinableQueue) is lock-free: put increments it under the
// lock before the item becomes visible, task_done() decrements it with a
// CAS; join() and task_done() pair up with seq_cst operations (sleeper:
// count++, read word, read unfinished; task_done: unfinished--, word++,
// read count), so one of the two sees the other.
struct QueueHeader {
  std::uint64_t magic;     // kQueueMagic, checked by attach()
  std::uint64_t capacity;  // bytes, a power of two
  std::uint64_t maxsize;   // items, 0 for no limit
  std::atomic<std::uint64_t> head{0};
  std::atomic<std::uint64_t> tail{0};
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint32_t> closed{0};
  alignas(64) std::atomic<std::uint32_t> not_empty_word{0};
  std::atomic<std::uint32_t> not_empty_sleepers{0};
  std::atomic<std::uint32_t> not_empty_signaled{0};
  alignas(64) std::atomic<std::uint32_t> not_full_word{0};
  std::atomic<std::uint32_t> not_full_sleepers{0};
  std::atomic<std::uint32_t> not_full_signaled{0};
  alignas(64) std::atomic<std::uint64_t> unfinished{0};
  std::atomic<std::uint32_t> all_done_word{0};
  std::atomic<std::uint32_t> join_sleepers{0};
};
static_assert(std::is_trivially_destructible_v<QueueHeader>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

namespace {

using detail::cpu_relax;
using detail::ring_get;
using detail::ring_put;

constexpr std::size_t kHeaderBytes = 256;
constexpr std::uint64_t kQueueMagic = 0x6d722e7175657565;  // "mr.queue"
constexpr std::uint64_t kRecordHeader = 4;
constexpr int kSpins = 400;
constexpr int kLockSpins = 100;
constexpr auto kRelaxed = std::memory_order_relaxed;

static_assert(sizeof(QueueHeader) <= kHeaderBytes);

bool room_for(const QueueHeader* h, std::uint64_t record) noexcept {
  const std::uint64_t count = h->count.load(kRelaxed);
  if (h->maxsize != 0 && count >= h->maxsize) return false;
  return h->capacity - (h->tail.load(kRelaxed) - h->head.load(kRelaxed)) >= record;
}

// Under the lock: registers a returning sleeper.
void sleeper_back(std::atomic<std::uint32_t>& sleepers,
                  std::atomic<std::uint32_t>& signaled) noexcept {
  sleepers.store(sleepers.load(kRelaxed) - 1, kRelaxed);
  const std::uint32_t sig = signaled.load(kRelaxed);
  if (sig != 0) signaled.store(sig - 1, kRelaxed);
}

// Under the lock: decides to wake one sleeper not yet signaled (and bumps
// the futex word); the caller wakes after unlocking when this is true.
bool signal_one(std::atomic<std::uint32_t>& word, std::atomic<std::uint32_t>& sleepers,
                std::atomic<std::uint32_t>& signaled) noexcept {
  const std::uint32_t sig = signaled.load(kRelaxed);
  if (sleepers.load(kRelaxed) <= sig) return false;
  signaled.store(sig + 1, kRelaxed);
  word.fetch_add(1, kRelaxed);
  return true;
}

}  // namespace

// Holds the queue's lock for a scope. A holder that died leaves the lock
// to us (LockOwnerDied): we hold it then, and repair before going on.
class QueueCore::Guard {
 public:
  explicit Guard(QueueCore& q) : q_(q) { lock(); }
  ~Guard() {
    if (held_) q_.lock_.release();
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  // The lock is held for a few dozen nanoseconds at a time, so a short spin
  // on try_acquire() usually gets it without sleeping in the kernel (the
  // process-shared pthread mutex under mr::Lock sleeps at once otherwise).
  void lock() {
    try {
      for (int i = 0; i < kLockSpins; ++i) {
        if (q_.lock_.try_acquire()) {
          held_ = true;
          return;
        }
        cpu_relax();
      }
      q_.lock_.acquire();
    } catch (const LockOwnerDied&) {
      q_.repair_after_owner_death();
    }
    held_ = true;
  }
  void unlock() {
    held_ = false;
    q_.lock_.release();
  }

 private:
  QueueCore& q_;
  bool held_ = false;
};

QueueCore::QueueCore(std::size_t maxsize, std::size_t capacity_bytes, Backing backing)
    : lock_(backing) {
  if (capacity_bytes < 64 || capacity_bytes > (std::size_t{1} << 40))
    throw std::invalid_argument("mr::Queue: capacity_bytes must be in [64, 2^40]");
  const std::uint64_t capacity = std::bit_ceil(capacity_bytes);
  region_ = backing == Backing::kMemfd ? SharedRegion::memfd("mr.queue", kHeaderBytes + capacity)
                                       : SharedRegion::anonymous(kHeaderBytes + capacity);
  h_ = new (region_.data()) QueueHeader;
  h_->capacity = capacity;
  h_->maxsize = maxsize;
  h_->magic = kQueueMagic;
  data_ = static_cast<char*>(region_.data()) + kHeaderBytes;
}

QueueCore::QueueCore(SharedRegion ring, SharedRegion lock)
    : region_(std::move(ring)), lock_(Lock::attach(std::move(lock))) {
  if (region_.size() < kHeaderBytes)
    throw std::invalid_argument("mr::Queue::attach: the region does not hold a queue");
  h_ = static_cast<QueueHeader*>(region_.data());
  if (h_->magic != kQueueMagic || region_.size() < kHeaderBytes + h_->capacity)
    throw std::invalid_argument("mr::Queue::attach: the region does not hold a queue");
  data_ = static_cast<char*>(region_.data()) + kHeaderBytes;
}

// The dead holder was inside a critical section: it may have written a
// record and advanced `tail` without counting it, or advanced `head` without
// uncounting. Records themselves are whole once `tail` covers them, so the
// count is rebuilt by walking the ring.
void QueueCore::repair_after_owner_death() noexcept {
  const std::uint64_t mask = h_->capacity - 1;
  std::uint64_t pos = h_->head.load(kRelaxed);
  const std::uint64_t tail = h_->tail.load(kRelaxed);
  std::uint64_t items = 0;
  while (tail - pos >= kRecordHeader) {
    std::uint32_t len = 0;
    ring_get(data_, mask, pos, &len, kRecordHeader);
    if (tail - pos - kRecordHeader < len) break;
    pos += kRecordHeader + len;
    ++items;
  }
  h_->tail.store(pos, kRelaxed);  // drops a torn record, if any
  h_->count.store(items, kRelaxed);
}

bool QueueCore::put(std::string_view message, const Deadline& deadline) {
  const std::uint64_t record = kRecordHeader + message.size();
  if (record > h_->capacity || message.size() > UINT32_MAX)
    throw std::length_error("mr::Queue::put: a message of " + std::to_string(message.size()) +
                            " bytes can never fit in a queue of " + std::to_string(h_->capacity) +
                            " bytes (create it with a larger capacity_bytes)");
  if (!room_for(h_, record) && !h_->closed.load(kRelaxed) && !deadline.expired()) {
    for (int i = 0; i < kSpins && !room_for(h_, record); ++i) cpu_relax();
  }
  Guard g(*this);
  for (;;) {
    if (h_->closed.load(kRelaxed)) throw QueueClosed("mr::Queue::put: the queue is closed");
    if (room_for(h_, record)) break;
    if (deadline.expired()) return false;
    h_->not_full_sleepers.fetch_add(1, kRelaxed);
    const std::uint32_t word = h_->not_full_word.load(kRelaxed);
    g.unlock();
    futex_wait(&h_->not_full_word, word, deadline);
    g.lock();
    sleeper_back(h_->not_full_sleepers, h_->not_full_signaled);
  }
  const std::uint64_t mask = h_->capacity - 1;
  const std::uint64_t tail = h_->tail.load(kRelaxed);
  const auto len = static_cast<std::uint32_t>(message.size());
  ring_put(data_, mask, tail, &len, kRecordHeader);
  if (len) ring_put(data_, mask, tail + kRecordHeader, message.data(), len);
  h_->unfinished.fetch_add(1, std::memory_order_seq_cst);
  h_->tail.store(tail + record, kRelaxed);
  h_->count.store(h_->count.load(kRelaxed) + 1, kRelaxed);
  const bool wake_getter =
      signal_one(h_->not_empty_word, h_->not_empty_sleepers, h_->not_empty_signaled);
  // Pass the baton: room left over goes to the next sleeping producer.
  const bool wake_putter =
      room_for(h_, kRecordHeader + 1) &&
      signal_one(h_->not_full_word, h_->not_full_sleepers, h_->not_full_signaled);
  g.unlock();
  if (wake_getter) futex_wake(&h_->not_empty_word, 1);
  if (wake_putter) futex_wake(&h_->not_full_word, 1);
  return true;
}

std::optional<std::string> QueueCore::get(const Deadline& deadline) {
  if (h_->count.load(kRelaxed) == 0 && !h_->closed.load(kRelaxed) && !deadline.expired()) {
    for (int i = 0; i < kSpins && h_->count.load(kRelaxed) == 0; ++i) cpu_relax();
  }
  Guard g(*this);
  for (;;) {
    if (h_->count.load(kRelaxed) != 0) break;
    if (h_->closed.load(kRelaxed))
      throw QueueClosed("mr::Queue::get: the queue is closed and empty");
    if (deadline.expired()) return std::nullopt;
    h_->not_empty_sleepers.fetch_add(1, kRelaxed);
    const std::uint32_t word = h_->not_empty_word.load(kRelaxed);
    g.unlock();
    futex_wait(&h_->not_empty_word, word, deadline);
    g.lock();
    sleeper_back(h_->not_empty_sleepers, h_->not_empty_signaled);
  }
  const std::uint64_t mask = h_->capacity - 1;
  const std::uint64_t head = h_->head.load(kRelaxed);
  std::uint32_t len = 0;
  ring_get(data_, mask, head, &len, kRecordHeader);
  std::string out(len, '\0');
  if (len) ring_get(data_, mask, head + kRecordHeader, out.data(), len);
  h_->head.store(head + kRecordHeader + len, kRelaxed);
  const std::uint64_t left = h_->count.load(kRelaxed) - 1;
  h_->count.store(left, kRelaxed);
  const bool wake_putter =
      signal_one(h_->not_full_word, h_->not_full_sleepers, h_->not_full_signaled);
  // Pass the baton: items left over go to the next sleeping consumer.
  const bool wake_getter =
      left != 0 && signal_one(h_->not_empty_word, h_->not_empty_sleepers, h_->not_empty_signaled);
  g.unlock();
  if (wake_putter) futex_wake(&h_->not_full_word, 1);
  if (wake_getter) futex_wake(&h_->not_empty_word, 1);
  return out;
}

std::size_t QueueCore::size() const noexcept {
  return static_cast<std::size_t>(h_->count.load(kRelaxed));
}

bool QueueCore::full() const noexcept { return !room_for(h_, kRecordHeader + 1); }

std::size_t QueueCore::maxsize() const noexcept { return static_cast<std::size_t>(h_->maxsize); }

std::size_t QueueCore::capacity_bytes() const noexcept {
  return static_cast<std::size_t>(h_->capacity);
}

void QueueCore::close() {
  {
    Guard g(*this);
    h_->closed.store(1, kRelaxed);
    h_->not_empty_word.fetch_add(1, kRelaxed);
    h_->not_full_word.fetch_add(1, kRelaxed);
  }
  futex_wake(&h_->not_empty_word);
  futex_wake(&h_->not_full_word);
}

bool QueueCore::closed() const noexcept { return h_->closed.load(kRelaxed) != 0; }

void QueueCore::task_done() {
  std::uint64_t n = h_->unfinished.load(std::memory_order_seq_cst);
  do {
    if (n == 0)
      throw std::logic_error("mr::JoinableQueue::task_done: called more times than items were put");
  } while (!h_->unfinished.compare_exchange_weak(n, n - 1, std::memory_order_seq_cst));
  if (n == 1) {
    h_->all_done_word.fetch_add(1, std::memory_order_seq_cst);
    if (h_->join_sleepers.load(std::memory_order_seq_cst) != 0) futex_wake(&h_->all_done_word);
  }
}

bool QueueCore::join(const Deadline& deadline) {
  for (;;) {
    if (h_->unfinished.load(std::memory_order_seq_cst) == 0) return true;
    if (deadline.expired()) return false;
    h_->join_sleepers.fetch_add(1, std::memory_order_seq_cst);
    const std::uint32_t word = h_->all_done_word.load(std::memory_order_seq_cst);
    if (h_->unfinished.load(std::memory_order_seq_cst) != 0)
      futex_wait(&h_->all_done_word, word, deadline);
    h_->join_sleepers.fetch_sub(1, std::memory_order_seq_cst);
  }
}

std::size_t QueueCore::unfinished_tasks() const noexcept {
  return static_cast<std::size_t>(h_->unfinished.load(kRelaxed));
}

Deadline queue_deadline(Timeout timeout) noexcept { return deadline_after(timeout); }

}  // namespace detail
}  // namespace mr
