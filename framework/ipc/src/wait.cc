#include "mr/ipc/wait.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <stdexcept>
#include <string>

#include "mr/base/error.h"
#include "wait_util.h"

namespace mr {
namespace detail {
namespace {

std::atomic<WaitTestHook> g_test_hook{nullptr};

void run_test_hook(WaitStage stage) {
  if (WaitTestHook hook = g_test_hook.load(std::memory_order_acquire)) hook(stage);
}

}  // namespace

void set_wait_test_hook(WaitTestHook hook) noexcept {
  g_test_hook.store(hook, std::memory_order_release);
}

// The friend of Connection that drives its reader-side pieces.
struct MultiWait {
  std::span<Connection* const> conns;
  std::span<const int> sentinels;
  std::vector<pollfd> fds;  // the doorbells, then the sentinels

  MultiWait(std::span<Connection* const> c, std::span<const int> s) : conns(c), sentinels(s) {
    fds.reserve(conns.size() + sentinels.size());
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Connection* conn = conns[i];
      if (!conn)
        throw std::invalid_argument("mr::wait: connection " + std::to_string(i) + " is null");
      conn->check_readable("wait");
      fds.push_back(pollfd{conn->in_bell_.get(), POLLIN, 0});
    }
    for (std::size_t i = 0; i < sentinels.size(); ++i) {
      if (sentinels[i] < 0)
        throw std::invalid_argument("mr::wait: sentinel " + std::to_string(i) +
                                    " is not a descriptor (a Process not started?)");
      fds.push_back(pollfd{sentinels[i], POLLIN, 0});
    }
  }

  bool any_message() {
    bool any = false;
    for (Connection* conn : conns) any = conn->has_message() || any;
    return any;
  }

  // Lowers the flags raised by announce(), also when poll(2) throws.
  struct Announced {
    MultiWait* self = nullptr;
    ~Announced() {
      if (self)
        for (Connection* conn : self->conns) conn->unannounce_sleep();
    }
  };

  void announce() {
    for (Connection* conn : conns) conn->announce_sleep();
  }

  // One poll(2); an interrupted one counts as a wake-up with nothing seen
  // (the caller's loop looks again and sleeps on with the same deadline).
  void poll_all(int timeout_ms) {
    for (pollfd& p : fds) p.revents = 0;
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR)
      throw_errno("mr::wait: poll");
  }

  // Everything ready now. Reads revents of the last poll_all().
  WaitResult collect() {
    WaitResult out;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      // drain_bell() first: it eats stale wake-up bytes, and a hang-up is
      // final, whereas has_message() would also be true on its own.
      const bool gone = fds[i].revents != 0 && conns[i]->drain_bell();
      if (conns[i]->has_message() || gone) out.connections.push_back(i);
    }
    for (std::size_t i = 0; i < sentinels.size(); ++i) {
      const short ev = fds[conns.size() + i].revents;
      if (ev & POLLNVAL)
        throw std::invalid_argument("mr::wait: sentinel " + std::to_string(i) + " (fd " +
                                    std::to_string(sentinels[i]) + ") is not open");
      if (ev != 0) out.sentinels.push_back(i);
    }
    return out;
  }

  WaitResult run(const Deadline& deadline) {
    for (;;) {
      // Fast path: a message is there; the poll below then only looks for
      // hang-ups and sentinels, without raising any flag.
      bool any = any_message();
      Announced guard;
      if (!any && !deadline.expired()) {
        run_test_hook(WaitStage::kBeforeAnnounce);
        announce();
        guard.self = this;
        // The Dekker re-check: a writer that stored its position before our
        // flag became visible is seen here; one after it rings the doorbell.
        any = any_message();
        if (!any) run_test_hook(WaitStage::kBeforeSleep);
      }
      poll_all(any || !guard.self ? 0 : deadline.poll_timeout_ms());
      if (guard.self) {
        for (Connection* conn : conns) conn->unannounce_sleep();
        guard.self = nullptr;
      }
      WaitResult out = collect();
      if (!out.empty() || deadline.expired()) return out;
    }
  }
};

WaitResult wait_channels(std::span<Channel* const> channels, std::span<const int> sentinels,
                         std::optional<Timeout> timeout) {
  // Pipe ends go to MultiWait as connections; sockets as descriptors placed
  // before the sentinels (a socket's read-ahead buffer is looked at first:
  // a buffered message does not make the descriptor readable).
  std::vector<Connection*> conns;
  std::vector<std::size_t> conn_channel, socket_channel;
  std::vector<int> fds;
  std::vector<std::size_t> ready_now;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    Channel* ch = channels[i];
    if (!ch || ch->closed())
      throw std::invalid_argument("mr::wait: channel " + std::to_string(i) +
                                  (ch ? " is closed" : " is null"));
    if (Connection* c = ch->connection()) {
      conns.push_back(c);
      conn_channel.push_back(i);
    } else {
      if (ch->socket()->poll()) ready_now.push_back(i);
      fds.push_back(ch->fileno());
      socket_channel.push_back(i);
    }
  }
  for (std::size_t i = 0; i < sentinels.size(); ++i) {
    if (sentinels[i] < 0)
      throw std::invalid_argument("mr::wait: sentinel " + std::to_string(i) +
                                  " is not a descriptor (a Process not started?)");
    fds.push_back(sentinels[i]);
  }
  const Deadline deadline = !ready_now.empty() ? Deadline::after(Timeout::zero())
                            : timeout          ? deadline_after(*timeout)
                                               : Deadline::never();
  WaitResult found = MultiWait(conns, fds).run(deadline);
  WaitResult out;
  out.connections = std::move(ready_now);
  for (std::size_t k : found.connections) out.connections.push_back(conn_channel[k]);
  for (std::size_t k : found.sentinels) {
    if (k < socket_channel.size())
      out.connections.push_back(socket_channel[k]);
    else
      out.sentinels.push_back(k - socket_channel.size());
  }
  std::sort(out.connections.begin(), out.connections.end());
  out.connections.erase(std::unique(out.connections.begin(), out.connections.end()),
                        out.connections.end());
  return out;
}

}  // namespace detail

WaitResult wait(std::span<Connection* const> connections, std::span<const int> sentinels) {
  if (connections.empty() && sentinels.empty())
    throw std::invalid_argument("mr::wait: nothing to wait for (it would never return)");
  return detail::MultiWait(connections, sentinels).run(Deadline::never());
}

WaitResult wait_for(std::span<Connection* const> connections, std::span<const int> sentinels,
                    Timeout timeout) {
  return detail::MultiWait(connections, sentinels).run(detail::deadline_after(timeout));
}

}  // namespace mr
