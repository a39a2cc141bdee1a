// wait(): sleeps until any of many connections can be read or any of many
// process sentinels fires, the counterpart of Python's
// multiprocessing.connection.wait(object_list, timeout). The connections are
// Pipe ends (Connection*) or Channels (Channel*: a Pipe end or a socket,
// mr/ipc/channel.h), so a caller with workers of both kinds waits on its
// channels alone and passes no socket as a "sentinel".
//
//   // A master with N workers, each with a Connection and a Process:
//   std::vector<mr::Connection*> conns;   // conns[i]: worker i's end
//   std::vector<int> sentinels;           // sentinels[i]: workers[i].sentinel()
//   for (;;) {
//     mr::WaitResult ready = mr::wait(conns, sentinels);   // or wait_for(..., 100ms)
//     for (std::size_t i : ready.connections) handle(conns[i]->recv<Reply>());  // may throw
//     EofError for (std::size_t i : ready.sentinels) reap_and_replace(i);
//   }
//
// Ready means: a connection is ready exactly when its poll() would return
// true (a message has begun to arrive, or the peer is gone and recv would
// throw EofError); a sentinel is ready when its descriptor is readable
// (Process::sentinel(): the child has ended). Ready objects stay ready until
// they are consumed (recv, join), so a caller that handles only some of them
// sees the others again at the next call. An end whose peer is gone and a
// sentinel of an ended child stay ready for good: take them out of the lists
// (after the EofError, after join) or every later call returns at once.
//
// How it works. Without a system call it first looks for a connection that
// already holds a message. Otherwise it raises each connection's "reader
// sleeps" flag, looks again (a writer that published before seeing the flag
// is caught here, one that publishes after rings the doorbell), and sleeps in
// a single poll(2) over every doorbell and sentinel; then it lowers the flags
// and reports everything ready at that moment. No wake-up is lost and nothing
// spins.
//
// Thread-safety: wait() is a reader of every connection it is given, under
// the same contract as recv(): no other thread or process may receive on (or
// wait on) one of those ends at the same time; sending on them meanwhile is
// fine. Different calls on disjoint sets of ends may run concurrently. The
// sentinels are only polled, never consumed or closed. Fork-safe in the sense
// of the ends it is given (an end is used by one process at a time).
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <ranges>
#include <span>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/ipc/channel.h"
#include "mr/ipc/connection.h"

namespace mr {

// What wait() found ready: positions in its arguments, ascending.
struct WaitResult {
  std::vector<std::size_t> connections;  // indices into `connections`
  std::vector<std::size_t> sentinels;    // indices into `sentinels`

  // True after a wait_for() that timed out (wait() never returns it empty).
  bool empty() const noexcept { return connections.empty() && sentinels.empty(); }
};

// Blocks until at least one of `connections` is ready or one of `sentinels`
// (descriptors such as Process::sentinel()) is readable, and returns all that
// are ready. Returns at once if something is already ready. Throws
// std::invalid_argument for a null connection, a negative or closed sentinel,
// or two empty lists (that wait would never end); std::logic_error for an end
// that is closed or cannot receive; std::system_error if poll(2) fails.
WaitResult wait(std::span<Connection* const> connections, std::span<const int> sentinels = {});

// Like wait() but gives up after `timeout` and then returns an empty result
// (zero: just looks; Timeout::max(): waits forever). Two empty lists are
// allowed here: it sleeps for `timeout`.
WaitResult wait_for(std::span<Connection* const> connections, std::span<const int> sentinels,
                    Timeout timeout);
inline WaitResult wait_for(std::span<Connection* const> connections, Timeout timeout) {
  return wait_for(connections, {}, timeout);
}

namespace detail {
// Contiguous Channel* lists (a template, so that wait({}, sentinels) still
// means the Connection overload).
template <class R>
concept ChannelRange =
    std::ranges::contiguous_range<R> && std::same_as<std::ranges::range_value_t<R>, Channel*>;
// `timeout` empty: no time limit.
WaitResult wait_channels(std::span<Channel* const> channels, std::span<const int> sentinels,
                         std::optional<Timeout> timeout);
}  // namespace detail

// wait() and wait_for() over Channels (a std::vector<Channel*>, an array,
// ...): the same contract, `connections` in the result being indices into
// `channels`. A channel holding a socket is ready when a message has begun
// to arrive or the peer is gone, as its poll() says. Throws
// std::invalid_argument for a null or closed channel (and as above).
template <detail::ChannelRange Channels>
WaitResult wait(const Channels& channels, std::span<const int> sentinels = {}) {
  if (std::ranges::empty(channels) && sentinels.empty())
    throw std::invalid_argument("mr::wait: nothing to wait for (it would never return)");
  return detail::wait_channels(std::span<Channel* const>(channels), sentinels, std::nullopt);
}
template <detail::ChannelRange Channels>
WaitResult wait_for(const Channels& channels, std::span<const int> sentinels, Timeout timeout) {
  return detail::wait_channels(std::span<Channel* const>(channels), sentinels, timeout);
}

namespace detail {

// For tests only: the points of wait()'s sleeping path where a test hook runs
// (in the waiting thread), so that a test can make a writer publish exactly
// there. kBeforeAnnounce: the first look found nothing, the flags are not
// raised yet (a writer publishing here is caught by the re-check).
// kBeforeSleep: the flags are up, the re-check found nothing, poll(2) has not
// started (a writer publishing here must ring the doorbell).
enum class WaitStage { kBeforeAnnounce, kBeforeSleep };
using WaitTestHook = void (*)(WaitStage stage);
// Installs `hook` (nullptr: none, the default) for every later wait() in
// this process. Thread-safe.
void set_wait_test_hook(WaitTestHook hook) noexcept;

}  // namespace detail
}  // namespace mr
