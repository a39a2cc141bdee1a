#include "mr/ipc/connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <new>
#include <stdexcept>
#include <system_error>
#include <type_traits>

#include "mr/base/error.h"
#include "mr/ipc/pipe.h"
#include "ring.h"
#include "wait_util.h"

namespace mr {
namespace detail {

// The shared state of one direction. Positions count bytes ever written and
// read (they never wrap; 2^64 bytes is out of reach), so the fill level is
// tail - head and a position's ring offset is pos & mask.
//
// Invariants: only the writer stores `tail`, only the reader stores `head`;
// head <= tail <= head + capacity. A message is an 8-byte length followed by
// its bytes; the writer publishes the length only together with what follows
// it or alone but whole, so a reader that sees one byte sees the whole length.
//
// The waiting flags implement the doorbell handshake (Dekker style, every
// access involved seq_cst, no fences, which ThreadSanitizer cannot model): a
// sleeper stores its flag, re-checks the position it waits on, and only then
// sleeps; the other side stores its position and then reads the flag, so at
// least one of them sees the other. The waker clears the flag with an exchange so one sleep costs
// one byte on the doorbell.
struct alignas(64) RingHeader {
  alignas(64) std::atomic<std::uint64_t> tail{0};
  alignas(64) std::atomic<std::uint64_t> head{0};
  // Rarely written, read after every publish: a line of its own, so that it
  // stays shared in both caches.
  alignas(64) std::atomic<std::uint32_t> reader_waiting{0};
  std::atomic<std::uint32_t> writer_waiting{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::is_trivially_destructible_v<RingHeader>);

}  // namespace detail

namespace {

using detail::cpu_relax;
using detail::ring_get;
using detail::ring_put;

using detail::RingHeader;

constexpr std::size_t kHeaderSlot = 256;   // bytes reserved per RingHeader
constexpr std::uint64_t kLengthBytes = 8;  // message length prefix
constexpr std::size_t kMinRingBytes = 4096;
constexpr int kSpins = 200;  // checks before going to sleep

// Rings the doorbell if the other side announced it sleeps. Returns false
// when the peer's socket is gone (EPIPE/ECONNRESET).
bool ring_bell(std::atomic<std::uint32_t>& flag, int fd) noexcept {
  if (flag.load(std::memory_order_seq_cst) == 0) return true;
  if (flag.exchange(0, std::memory_order_acq_rel) == 0) return true;
  const char byte = 1;
  for (;;) {
    ssize_t r = ::send(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r == 1) return true;
    if (r < 0 && errno == EINTR) continue;
    // EAGAIN: the socket already holds unread bytes, so the peer wakes anyway.
    return !(r < 0 && (errno == EPIPE || errno == ECONNRESET));
  }
}

enum class Bell { kRang, kTimeout, kHangup };

// Sleeps on a doorbell until a byte arrives, the peer hangs up or the
// deadline passes; eats the bytes that are there.
Bell sleep_on_bell(int fd, const Deadline& deadline) {
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (r < 0) {
      if (errno == EINTR) continue;
      throw_errno("Connection: poll on doorbell");
    }
    if (r == 0) {
      if (deadline.expired()) return Bell::kTimeout;
      continue;
    }
    if (p.revents & POLLIN) {
      char buf[64];
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return Bell::kHangup;
      if (n > 0) return Bell::kRang;
      if (errno == ECONNRESET) return Bell::kHangup;
      if (errno != EAGAIN && errno != EINTR) throw_errno("Connection: recv on doorbell");
    }
    if (p.revents & (POLLHUP | POLLERR)) return Bell::kHangup;
  }
}

}  // namespace

Connection::Connection(Connection&& other) noexcept
    : region_(std::move(other.region_)),
      in_(std::exchange(other.in_, nullptr)),
      out_(std::exchange(other.out_, nullptr)),
      in_bell_(std::move(other.in_bell_)),
      out_bell_(std::move(other.out_bell_)),
      in_data_(std::exchange(other.in_data_, nullptr)),
      out_data_(std::exchange(other.out_data_, nullptr)),
      in_mask_(other.in_mask_),
      out_mask_(other.out_mask_),
      in_tail_hint_(other.in_tail_hint_),
      out_head_hint_(other.out_head_hint_) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    region_ = std::move(other.region_);
    in_ = std::exchange(other.in_, nullptr);
    out_ = std::exchange(other.out_, nullptr);
    in_bell_ = std::move(other.in_bell_);
    out_bell_ = std::move(other.out_bell_);
    in_data_ = std::exchange(other.in_data_, nullptr);
    out_data_ = std::exchange(other.out_data_, nullptr);
    in_mask_ = other.in_mask_;
    out_mask_ = other.out_mask_;
    in_tail_hint_ = other.in_tail_hint_;
    out_head_hint_ = other.out_head_hint_;
  }
  return *this;
}

Connection::~Connection() { close(); }

void Connection::close() noexcept {
  in_ = nullptr;
  out_ = nullptr;
  in_data_ = out_data_ = nullptr;
  in_bell_.reset();
  out_bell_.reset();
  region_.reset();
}

void Connection::check_readable(const char* op) const {
  if (in_) return;
  throw std::logic_error(std::string("mr::Connection::") + op +
                         (out_ ? ": this end is write-only" : ": connection is closed"));
}

void Connection::check_writable(const char* op) const {
  if (out_) return;
  throw std::logic_error(std::string("mr::Connection::") + op +
                         (in_ ? ": this end is read-only" : ": connection is closed"));
}

void Connection::publish_tail(std::uint64_t tail) {
  out_->tail.store(tail, std::memory_order_seq_cst);
  if (!ring_bell(out_->reader_waiting, out_bell_.get()))
    throw std::system_error(EPIPE, std::generic_category(),
                            "mr::Connection::send: the receiving end is closed");
}

void Connection::publish_head(std::uint64_t head) noexcept {
  in_->head.store(head, std::memory_order_seq_cst);
  // A writer that is gone needs no wake-up; the error is not ours to report.
  (void)ring_bell(in_->writer_waiting, in_bell_.get());
}

Connection::WaitResult Connection::wait_readable(std::size_t n, const Deadline& deadline) {
  const std::uint64_t head = in_->head.load(std::memory_order_relaxed);
  auto ready = [&] {
    in_tail_hint_ = in_->tail.load(std::memory_order_seq_cst);
    return in_tail_hint_ - head >= n;
  };
  if (in_tail_hint_ - head >= n || ready()) return WaitResult::kReady;
  if (!deadline.expired()) {
    for (int i = 0; i < kSpins; ++i) {
      cpu_relax();
      if (ready()) return WaitResult::kReady;
    }
  }
  for (;;) {
    in_->reader_waiting.store(1, std::memory_order_seq_cst);
    if (ready()) {
      in_->reader_waiting.store(0, std::memory_order_relaxed);
      return WaitResult::kReady;
    }
    Bell b = sleep_on_bell(in_bell_.get(), deadline);
    in_->reader_waiting.store(0, std::memory_order_relaxed);
    if (ready()) return WaitResult::kReady;
    // The writer's last bytes were published before its descriptor closed,
    // so after a hangup the re-check above has seen all of them.
    if (b == Bell::kHangup) return WaitResult::kHangup;
    if (b == Bell::kTimeout) return WaitResult::kTimeout;
  }
}

bool Connection::has_message() noexcept {
  const std::uint64_t head = in_->head.load(std::memory_order_relaxed);
  if (in_tail_hint_ != head) return true;
  in_tail_hint_ = in_->tail.load(std::memory_order_seq_cst);
  return in_tail_hint_ != head;
}

void Connection::announce_sleep() noexcept {
  in_->reader_waiting.store(1, std::memory_order_seq_cst);
}

void Connection::unannounce_sleep() noexcept {
  // A byte the writer sends after seeing the flag may still be on its way;
  // it stays in the socket and costs the next sleeper one spurious wake-up.
  in_->reader_waiting.store(0, std::memory_order_relaxed);
}

bool Connection::drain_bell() {
  for (;;) {
    char buf[64];
    ssize_t n = ::recv(in_bell_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (errno == ECONNRESET) return true;
    throw_errno("mr::wait: recv on doorbell");
  }
}

void Connection::wait_writable(std::size_t n) {
  const std::uint64_t tail = out_->tail.load(std::memory_order_relaxed);
  const std::uint64_t capacity = out_mask_ + 1;
  auto ready = [&] {
    out_head_hint_ = out_->head.load(std::memory_order_seq_cst);
    return capacity - (tail - out_head_hint_) >= n;
  };
  if (ready()) return;
  for (int i = 0; i < kSpins; ++i) {
    cpu_relax();
    if (ready()) return;
  }
  for (;;) {
    out_->writer_waiting.store(1, std::memory_order_seq_cst);
    if (ready()) {
      out_->writer_waiting.store(0, std::memory_order_relaxed);
      return;
    }
    Bell b = sleep_on_bell(out_bell_.get(), Deadline::never());
    out_->writer_waiting.store(0, std::memory_order_relaxed);
    if (b == Bell::kHangup)
      throw std::system_error(EPIPE, std::generic_category(),
                              "mr::Connection::send: the receiving end is closed");
    if (ready()) return;
  }
}

void Connection::send_bytes(std::string_view message) {
  check_writable("send_bytes");
  const std::uint64_t capacity = out_mask_ + 1;
  std::uint64_t tail = out_->tail.load(std::memory_order_relaxed);
  auto room = [&] { return capacity - (tail - out_head_hint_); };

  // Fast path: the whole message fits in the room we already know of, or
  // learn of with one load.
  const std::uint64_t length = message.size();
  const std::uint64_t whole = kLengthBytes + length;
  if (room() < whole) out_head_hint_ = out_->head.load(std::memory_order_acquire);
  if (room() >= whole) {
    ring_put(out_data_, out_mask_, tail, &length, kLengthBytes);
    if (length) ring_put(out_data_, out_mask_, tail + kLengthBytes, message.data(), length);
    publish_tail(tail + whole);
    return;
  }

  // Streaming: the length as a whole, then the bytes as room appears.
  if (room() < kLengthBytes) {
    wait_writable(kLengthBytes);
  }
  ring_put(out_data_, out_mask_, tail, &length, kLengthBytes);
  tail += kLengthBytes;
  const char* p = message.data();
  std::size_t left = message.size();
  while (left > 0) {
    std::uint64_t free = room();
    if (free == 0) {
      publish_tail(tail);
      wait_writable(1);
      continue;
    }
    std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(free, left));
    ring_put(out_data_, out_mask_, tail, p, chunk);
    tail += chunk;
    p += chunk;
    left -= chunk;
    // Let the reader start on big messages early.
    if (left > 0) publish_tail(tail);
  }
  publish_tail(tail);
}

std::string Connection::read_message() {
  std::uint64_t head = in_->head.load(std::memory_order_relaxed);
  std::uint64_t length = 0;
  ring_get(in_data_, in_mask_, head, &length, kLengthBytes);
  head += kLengthBytes;
  std::string out(static_cast<std::size_t>(length), '\0');
  std::size_t done = 0;
  while (done < length) {
    std::uint64_t avail = in_tail_hint_ - head;
    if (avail == 0) {
      publish_head(head);
      if (wait_readable(1, Deadline::never()) == WaitResult::kHangup)
        throw EofError("mr::Connection::recv: the sending end closed in the middle of a message");
      continue;
    }
    std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(avail, length - done));
    ring_get(in_data_, in_mask_, head, out.data() + done, chunk);
    head += chunk;
    done += chunk;
    // Let the writer refill while we copy the rest of a big message.
    if (done < length) publish_head(head);
  }
  publish_head(head);
  return out;
}

std::string Connection::recv_bytes() {
  check_readable("recv_bytes");
  if (wait_readable(1, Deadline::never()) == WaitResult::kHangup)
    throw EofError("mr::Connection::recv: end of stream (the sending end is closed)");
  return read_message();
}

std::optional<std::string> Connection::recv_bytes_for(Timeout timeout) {
  check_readable("recv_bytes_for");
  switch (wait_readable(1, detail::deadline_after(timeout))) {
    case WaitResult::kReady:
      return read_message();
    case WaitResult::kTimeout:
      return std::nullopt;
    case WaitResult::kHangup:
      break;
  }
  throw EofError("mr::Connection::recv: end of stream (the sending end is closed)");
}

bool Connection::poll(Timeout timeout) {
  check_readable("poll");
  return wait_readable(1, detail::deadline_after(timeout)) != WaitResult::kTimeout;
}

std::pair<Connection, Connection> Pipe(bool duplex, std::size_t ring_bytes) {
  if (ring_bytes > (std::size_t{1} << 40))
    throw std::invalid_argument("mr::Pipe: ring_bytes is absurdly large");
  const std::uint64_t capacity = std::bit_ceil(std::max(ring_bytes, kMinRingBytes));
  const int rings = duplex ? 2 : 1;
  auto region =
      std::make_shared<SharedRegion>(SharedRegion::anonymous(rings * (kHeaderSlot + capacity)));
  char* base = static_cast<char*>(region->data());

  Connection first, second;
  // Ring 0 is read by `first` and written by `second`, so that a one-way
  // pipe returns (reader, writer) as Python's Pipe(duplex=False) does.
  for (int i = 0; i < rings; ++i) {
    auto* header = new (base + i * kHeaderSlot) RingHeader;
    char* data = base + rings * kHeaderSlot + i * capacity;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw_errno("mr::Pipe: socketpair");
    Connection& reader = i == 0 ? first : second;
    Connection& writer = i == 0 ? second : first;
    reader.in_ = header;
    reader.in_data_ = data;
    reader.in_mask_ = capacity - 1;
    reader.in_bell_.reset(sv[0]);
    writer.out_ = header;
    writer.out_data_ = data;
    writer.out_mask_ = capacity - 1;
    writer.out_bell_.reset(sv[1]);
  }
  first.region_ = region;
  second.region_ = std::move(region);
  return {std::move(first), std::move(second)};
}

BufferTooShort::BufferTooShort(std::string message, std::size_t room)
    : std::runtime_error("mr::Connection::recv_bytes_into: a message of " +
                         std::to_string(message.size()) + " bytes does not fit in " +
                         std::to_string(room) + " bytes"),
      message_(std::move(message)) {}

void Connection::send_bytes(std::string_view buffer, std::size_t offset, std::size_t size) {
  if (offset > buffer.size())
    throw std::out_of_range("mr::Connection::send_bytes: offset " + std::to_string(offset) +
                            " is past the end of a buffer of " + std::to_string(buffer.size()));
  const std::size_t rest = buffer.size() - offset;
  if (size == std::string_view::npos) size = rest;
  if (size > rest)
    throw std::out_of_range("mr::Connection::send_bytes: offset " + std::to_string(offset) +
                            " + size " + std::to_string(size) + " is past the end of a buffer of " +
                            std::to_string(buffer.size()));
  send_bytes(buffer.substr(offset, size));
}

std::size_t Connection::recv_bytes_into(std::span<char> buffer, std::size_t offset) {
  if (offset > buffer.size())
    throw std::out_of_range("mr::Connection::recv_bytes_into: offset " + std::to_string(offset) +
                            " is past the end of a buffer of " + std::to_string(buffer.size()));
  std::string message = recv_bytes();
  const std::size_t room = buffer.size() - offset;
  if (message.size() > room) throw BufferTooShort(std::move(message), room);
  std::copy(message.begin(), message.end(), buffer.begin() + static_cast<std::ptrdiff_t>(offset));
  return message.size();
}

}  // namespace mr
