// Tests of mr::wait / mr::wait_for (mr/ipc/wait.h): waiting on many
// connections and process sentinels at once, across real fork()ed worker
// processes (mr::Process). Every wait is bounded: a lost wake-up shows as an
// empty result after the timeout, which fails the test.
#include "mr/ipc/wait.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mr/base/io.h"
#include "mr/base/unique_fd.h"
#include "mr/ipc/channel.h"
#include "mr/ipc/listener.h"
#include "mr/ipc/pipe.h"
#include "mr/process/process.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Indices = std::vector<std::size_t>;

constexpr auto kLong = 10s;  // bound of waits that must succeed

// What the parent asks a worker to do.
enum Op : int {
  kSend,     // send `value` back
  kSendAck,  // send `value` back, then write one byte to the ack pipe
  kFlood,    // send 0..value-1 as fast as possible (random short pauses), then exit
  kHang,     // sleep until killed
  kExit,     // exit with code `value`
};

struct Cmd {
  int op = kSend;
  int value = 0;
  std::int64_t spin_ns = 0;  // busy-wait this long first (kFlood: random seed)
  template <class Ar>
  void serialize(Ar& ar) {
    ar(op, value, spin_ns);
  }
};

void spin_for(std::chrono::nanoseconds d) {
  const auto end = Clock::now() + d;
  while (Clock::now() < end) {
  }
}

// N worker processes, each with a duplex Pipe to the parent and a sentinel,
// laid out as the engine's master holds them: conns()[i] and sentinels()[i]
// belong to worker i.
class Workers {
 public:
  explicit Workers(std::size_t n) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
    ack_read_.reset(fds[0]);
    ack_write_.reset(fds[1]);
    mine_.reserve(n);
    theirs_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto [a, b] = mr::Pipe();
      mine_.push_back(std::move(a));
      theirs_.push_back(std::move(b));
      procs_.push_back(std::make_unique<mr::Process>([this, i]() {
        try {
          return worker_main(i);
        } catch (...) {
          return 99;
        }
      }));
      procs_.back()->start();
      theirs_[i].close();  // only the worker holds its end now
    }
    ack_write_.reset();
    for (auto& c : mine_) conns_.push_back(&c);
    for (auto& p : procs_) sentinels_.push_back(p->sentinel());
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  ~Workers() { finish(); }

  const std::vector<mr::Connection*>& conns() const { return conns_; }
  const std::vector<int>& sentinels() const { return sentinels_; }
  mr::Connection& conn(std::size_t i) { return mine_[i]; }
  mr::Process& proc(std::size_t i) { return *procs_[i]; }

  void command(std::size_t i, Cmd cmd) { mine_[i].send(cmd); }

  // Waits for one ack byte from a worker (kSendAck): its message is then
  // entirely in the ring.
  bool await_ack(mr::Timeout timeout) {
    pollfd p{ack_read_.get(), POLLIN, 0};
    int ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
    if (::poll(&p, 1, ms) != 1) return false;
    char byte;
    return ::read(ack_read_.get(), &byte, 1) == 1;
  }

  // Closes the parent's ends (workers then see EOF and exit 0) and joins
  // every worker; returns their exit codes (-1000: did not end in time, killed).
  std::vector<int> finish() {
    std::vector<int> codes;
    for (auto& c : mine_) c.close();
    for (auto& p : procs_) {
      if (!p->join_for(kLong)) {
        p->kill();
        p->join_for(kLong);
        codes.push_back(-1000);
        continue;
      }
      codes.push_back(*p->exit_code());
    }
    return codes;
  }

 private:
  // DANGER: runs in the forked worker; ends with the Process's _exit.
  int worker_main(std::size_t i) {
    // Copies of the parent's ends of the pipes made so far: closing them
    // lets each worker see EOF as soon as the parent closes its end.
    for (std::size_t j = 0; j <= i; ++j) mine_[j].close();
    ack_read_.reset();
    mr::Connection& c = theirs_[i];
    for (;;) {
      Cmd cmd;
      try {
        cmd = c.recv<Cmd>();
      } catch (const mr::EofError&) {
        return 0;
      }
      switch (cmd.op) {
        case kSend:
          spin_for(std::chrono::nanoseconds(cmd.spin_ns));
          c.send(cmd.value);
          break;
        case kSendAck:
          c.send(cmd.value);
          mr::write_full(ack_write_.get(), "!", 1);
          break;
        case kFlood: {
          std::mt19937 rng(static_cast<std::uint32_t>(cmd.spin_ns));
          for (int v = 0; v < cmd.value; ++v) {
            c.send(v);
            if (rng() % 16 == 0) spin_for(std::chrono::nanoseconds(rng() % 20000));
            if (rng() % 64 == 0) std::this_thread::yield();
          }
          return 0;
        }
        case kHang:
          for (;;) ::pause();
        case kExit:
          return cmd.value;
        default:
          return 98;
      }
    }
  }

  mr::UniqueFd ack_read_, ack_write_;
  std::vector<mr::Connection> mine_, theirs_;
  std::vector<std::unique_ptr<mr::Process>> procs_;
  std::vector<mr::Connection*> conns_;
  std::vector<int> sentinels_;
};

std::chrono::nanoseconds since(Clock::time_point t0) { return Clock::now() - t0; }

std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

TEST(WaitTest, ReadyAtOnceWhenDataIsAlreadyThere) {
  Workers w(3);
  w.command(2, {kSendAck, 42});
  ASSERT_TRUE(w.await_ack(kLong));
  // Just looking (zero timeout) finds it, and so does a wait without timeout.
  auto r = mr::wait_for(w.conns(), w.sentinels(), 0s);
  EXPECT_EQ(r.connections, Indices{2});
  EXPECT_TRUE(r.sentinels.empty());
  auto t0 = Clock::now();
  r = mr::wait(w.conns(), w.sentinels());
  EXPECT_LT(since(t0), 1s);
  EXPECT_EQ(r.connections, Indices{2});
  EXPECT_TRUE(w.conn(2).poll());
  EXPECT_FALSE(w.conn(0).poll());

  // Two ready at once are both reported, in order.
  w.command(0, {kSendAck, 7});
  ASSERT_TRUE(w.await_ack(kLong));
  r = mr::wait(w.conns(), w.sentinels());
  EXPECT_EQ(r.connections, (Indices{0, 2}));
  EXPECT_EQ(w.conn(0).recv<int>(), 7);
  EXPECT_EQ(w.conn(2).recv<int>(), 42);
  // Consumed: nothing is ready any more.
  EXPECT_TRUE(mr::wait_for(w.conns(), w.sentinels(), 0s).empty());
  for (int code : w.finish()) EXPECT_EQ(code, 0);
}

TEST(WaitTest, TimesOutWhenNothingIsReady) {
  Workers w(3);
  auto t0 = Clock::now();
  const auto cpu0 = thread_cpu_time();
  auto r = mr::wait_for(w.conns(), w.sentinels(), 200ms);
  const auto cpu = thread_cpu_time() - cpu0;
  auto took = since(t0);
  EXPECT_TRUE(r.empty());
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 5s);
  // It slept in poll(2): a spinning wait would burn ~200 ms of CPU.
  EXPECT_LT(cpu, 50ms);
  t0 = Clock::now();
  EXPECT_TRUE(mr::wait_for(w.conns(), w.sentinels(), 0s).empty());
  EXPECT_LT(since(t0), 1s);
  // After a timed-out wait the flags are down and the next wait still wakes.
  w.command(1, {kSend, 5});
  r = mr::wait_for(w.conns(), w.sentinels(), kLong);
  EXPECT_EQ(r.connections, Indices{1});
  EXPECT_EQ(w.conn(1).recv<int>(), 5);
  for (int code : w.finish()) EXPECT_EQ(code, 0);
}

TEST(WaitTest, WakesForExactlyTheChildThatSentOverManyRounds) {
  constexpr std::size_t kWorkers = 8;
  constexpr int kRounds = 4000;
  Workers w(kWorkers);
  std::mt19937 rng(12345);
  for (int round = 0; round < kRounds; ++round) {
    const std::size_t k = rng() % kWorkers;
    // The worker sends after 0..30 us, the parent starts waiting after
    // 0..30 us: the send lands before, during or after the announce.
    w.command(k, {kSend, round, static_cast<std::int64_t>(rng() % 30000)});
    spin_for(std::chrono::nanoseconds(rng() % 30000));
    auto r = mr::wait_for(w.conns(), w.sentinels(), kLong);
    ASSERT_EQ(r.connections, Indices{k}) << "round " << round;
    ASSERT_TRUE(r.sentinels.empty()) << "round " << round;
    ASSERT_EQ(w.conn(k).recv<int>(), round);
  }
  for (int code : w.finish()) EXPECT_EQ(code, 0);
}

TEST(WaitTest, KilledPeerIsReadyAndRecvThenThrowsEof) {
  Workers w(3);
  w.command(1, {kSend, 8});
  auto r = mr::wait_for(w.conns(), w.sentinels(), kLong);
  ASSERT_EQ(r.connections, Indices{1});
  w.command(1, {kHang});
  w.proc(1).kill();  // SIGKILL, with the 8 still unread
  // Ready (the message), still ready after it is read (the hang-up).
  r = mr::wait_for(w.conns(), kLong);
  EXPECT_EQ(r.connections, Indices{1});
  EXPECT_EQ(w.conn(1).recv<int>(), 8);
  auto t0 = Clock::now();
  r = mr::wait_for(w.conns(), kLong);
  EXPECT_LT(since(t0), 5s);
  EXPECT_EQ(r.connections, Indices{1});
  EXPECT_TRUE(w.conn(1).poll());
  EXPECT_THROW(w.conn(1).recv_bytes(), mr::EofError);
  // Its sentinel fires too; the others stay quiet.
  r = mr::wait_for({}, w.sentinels(), kLong);
  EXPECT_EQ(r.sentinels, Indices{1});
  auto codes = w.finish();
  EXPECT_EQ(codes, (std::vector<int>{0, -9, 0}));
}

TEST(WaitTest, ReportsTheSentinelOfAChildThatExits) {
  Workers w(4);
  w.command(2, {kExit, 3});
  auto r = mr::wait_for({}, w.sentinels(), kLong);
  EXPECT_EQ(r.sentinels, Indices{2});
  EXPECT_TRUE(r.connections.empty());
  // With the connections too: its end hung up as well (sentinels fire after
  // the child's descriptors are closed).
  r = mr::wait_for(w.conns(), w.sentinels(), kLong);
  EXPECT_EQ(r.connections, Indices{2});
  EXPECT_EQ(r.sentinels, Indices{2});
  ASSERT_TRUE(w.proc(2).join_for(kLong));
  EXPECT_EQ(w.proc(2).exit_code().value_or(-1), 3);
  EXPECT_THROW(w.conn(2).recv_bytes(), mr::EofError);
  // Still ready after the join (Python's sentinel stays readable too).
  r = mr::wait_for({}, w.sentinels(), 0s);
  EXPECT_EQ(r.sentinels, Indices{2});
  auto codes = w.finish();
  EXPECT_EQ(codes, (std::vector<int>{0, 0, 3, 0}));
}

// The window between raising the flags and sleeping in poll(2): the test
// hook makes a worker send exactly there and waits until it has.
struct HookPlan {
  Workers* workers = nullptr;
  std::size_t target = 0;
  int value = 0;
  mr::detail::WaitStage stage = mr::detail::WaitStage::kBeforeAnnounce;
  int fired = 0;
  bool acked = false;
};
HookPlan g_plan;

void send_in_window(mr::detail::WaitStage stage) {
  if (stage != g_plan.stage || g_plan.fired++ != 0) return;
  g_plan.workers->command(g_plan.target, {kSendAck, g_plan.value});
  g_plan.acked = g_plan.workers->await_ack(kLong);
}

struct HookGuard {
  explicit HookGuard(mr::detail::WaitTestHook h) { mr::detail::set_wait_test_hook(h); }
  ~HookGuard() { mr::detail::set_wait_test_hook(nullptr); }
};

TEST(WaitTest, WriterSendingBetweenAnnounceAndPollIsNotLost) {
  constexpr std::size_t kWorkers = 4;
  Workers w(kWorkers);
  HookGuard guard(&send_in_window);
  std::mt19937 rng(777);
  for (int round = 0; round < 300; ++round) {
    g_plan = HookPlan{};
    g_plan.workers = &w;
    g_plan.target = rng() % kWorkers;
    g_plan.value = round;
    g_plan.stage =
        round % 2 ? mr::detail::WaitStage::kBeforeSleep : mr::detail::WaitStage::kBeforeAnnounce;
    auto t0 = Clock::now();
    auto r = mr::wait_for(w.conns(), w.sentinels(), kLong);
    ASSERT_EQ(g_plan.fired, 1) << "round " << round;
    ASSERT_TRUE(g_plan.acked) << "round " << round;
    // kBeforeAnnounce: only the re-check after raising the flags sees it
    // (the writer saw no flag, so rang no bell). kBeforeSleep: only the
    // doorbell can wake it. Either lost would sleep kLong and return empty.
    ASSERT_EQ(r.connections, Indices{g_plan.target}) << "round " << round;
    ASSERT_LT(since(t0), 5s) << "round " << round;
    ASSERT_EQ(w.conn(g_plan.target).recv<int>(), round);
  }
  for (int code : w.finish()) EXPECT_EQ(code, 0);
}

TEST(WaitTest, FloodFromManyWritersLosesNothing) {
  // The engine's loop: wait, drain what is ready, drop ends that hang up.
  constexpr std::size_t kWorkers = 4;
  constexpr int kMessages = 5000;
  Workers w(kWorkers);
  for (std::size_t i = 0; i < kWorkers; ++i)
    w.command(i, {kFlood, kMessages, static_cast<std::int64_t>(i + 1)});
  std::vector<int> next(kWorkers, 0);
  std::vector<std::size_t> live = {0, 1, 2, 3};
  int waits = 0;
  while (!live.empty()) {
    std::vector<mr::Connection*> conns;
    for (std::size_t i : live) conns.push_back(&w.conn(i));
    auto r = mr::wait_for(conns, kLong);
    ++waits;
    ASSERT_FALSE(r.empty()) << "lost wake-up: nothing after " << waits << " waits";
    std::vector<std::size_t> still;
    std::size_t ready_at = 0;
    for (std::size_t pos = 0; pos < live.size(); ++pos) {
      const std::size_t i = live[pos];
      const bool ready = ready_at < r.connections.size() && r.connections[ready_at] == pos;
      if (ready) ++ready_at;
      bool ended = false;
      if (ready) {
        try {
          do {
            const int v = w.conn(i).recv<int>();
            ASSERT_EQ(v, next[i]);
            ++next[i];
          } while (w.conn(i).poll());
        } catch (const mr::EofError&) {
          ended = true;
        }
      }
      if (!ended) still.push_back(i);
    }
    live = std::move(still);
  }
  for (int n : next) EXPECT_EQ(n, kMessages);
  for (int code : w.finish()) EXPECT_EQ(code, 0);
}

TEST(WaitTest, RejectsMisuse) {
  auto [r, wr] = mr::Pipe(/*duplex=*/false);
  std::vector<mr::Connection*> null_conn = {nullptr};
  EXPECT_THROW(mr::wait(null_conn), std::invalid_argument);
  std::vector<mr::Connection*> write_only = {&wr};
  EXPECT_THROW(mr::wait(write_only), std::logic_error);
  std::vector<int> negative = {-1};
  EXPECT_THROW(mr::wait({}, negative), std::invalid_argument);
  EXPECT_THROW(mr::wait({}, {}), std::invalid_argument);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::close(fds[0]);
  ::close(fds[1]);
  std::vector<int> closed = {fds[0]};
  EXPECT_THROW(mr::wait_for({}, closed, 1s), std::invalid_argument);
  // Nothing to wait for, with a timeout: just sleeps.
  auto t0 = Clock::now();
  EXPECT_TRUE(mr::wait_for({}, {}, 50ms).empty());
  EXPECT_GE(since(t0), 50ms);
  // A closed end, and one whose peer closed (ready at once).
  std::vector<mr::Connection*> reader = {&r};
  wr.close();
  EXPECT_EQ(mr::wait(reader).connections, Indices{0});
  r.close();
  EXPECT_THROW(mr::wait(reader), std::logic_error);
}

// A connected socket pair through a listener of this process.
std::pair<mr::SocketConnection, mr::SocketConnection> socket_pair() {
  mr::Listener listener;
  mr::SocketConnection client = mr::connect_to(listener.address());
  std::optional<mr::SocketConnection> server = listener.accept_for(kLong);
  if (!server) throw std::runtime_error("socket_pair: no connection");
  return {std::move(client), std::move(*server)};
}

TEST(ChannelTest, CarriesMessagesOverAPipeEndOrASocketAlike) {
  auto [pipe_mine, pipe_theirs] = mr::Pipe();
  auto [sock_mine, sock_theirs] = socket_pair();
  mr::Channel channels[] = {mr::Channel(std::move(pipe_mine)), mr::Channel(std::move(sock_mine))};
  mr::Channel peers[] = {mr::Channel(std::move(pipe_theirs)), mr::Channel(std::move(sock_theirs))};
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i == 0 ? "pipe" : "socket");
    EXPECT_FALSE(channels[i].closed());
    EXPECT_GE(channels[i].fileno(), 0);
    EXPECT_FALSE(channels[i].poll());
    peers[i].send(std::string("hello"));
    peers[i].send_deferred(mr::to_bytes(std::string("batched")));
    peers[i].flush();
    ASSERT_TRUE(channels[i].poll(kLong));
    EXPECT_EQ(channels[i].recv<std::string>(), "hello");
    EXPECT_EQ(channels[i].recv<std::string>(), "batched");
    peers[i].close();
    EXPECT_TRUE(channels[i].poll(kLong));  // the peer is gone: recv would not block
    EXPECT_THROW(channels[i].recv_bytes(), mr::EofError);
    channels[i].close();
    EXPECT_TRUE(channels[i].closed());
    EXPECT_EQ(channels[i].fileno(), -1);
    EXPECT_THROW(channels[i].send_bytes("x"), std::logic_error);
  }
  EXPECT_EQ(channels[0].connection(), nullptr);
  EXPECT_TRUE(mr::Channel().closed());
}

TEST(WaitTest, WaitsOnChannelsOfBothKinds) {
  auto [pipe_mine, pipe_theirs] = mr::Pipe();
  auto [sock_mine, sock_theirs] = socket_pair();
  mr::Channel pipe(std::move(pipe_mine)), sock(std::move(sock_mine));
  std::vector<mr::Channel*> channels = {&pipe, &sock};
  EXPECT_TRUE(mr::wait_for(channels, {}, 20ms).empty());

  // Only the socket: its index among the channels, not among the sentinels.
  sock_theirs.send(1);
  EXPECT_EQ(mr::wait_for(channels, {}, kLong).connections, Indices{1});
  // Two messages in one read: the second sits in the socket's read-ahead
  // buffer, the descriptor is no longer readable, and wait still sees it.
  sock_theirs.send_deferred(mr::to_bytes(2));
  sock_theirs.send_deferred(mr::to_bytes(3));
  sock_theirs.flush();
  ASSERT_TRUE(sock.poll(kLong));
  EXPECT_EQ(sock.recv<int>(), 1);
  EXPECT_EQ(sock.recv<int>(), 2);
  EXPECT_EQ(mr::wait(channels).connections, Indices{1});
  EXPECT_EQ(sock.recv<int>(), 3);

  pipe_theirs.send(4);
  EXPECT_EQ(mr::wait(channels).connections, Indices{0});
  sock_theirs.send(5);
  EXPECT_EQ(mr::wait_for(channels, {}, kLong).connections, (Indices{0, 1}));
  EXPECT_EQ(pipe.recv<int>(), 4);
  EXPECT_EQ(sock.recv<int>(), 5);

  // A sentinel keeps its own index; a peer that is gone makes its channel ready.
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  mr::UniqueFd sentinel_read(fds[0]), sentinel_write(fds[1]);
  std::vector<int> sentinels = {sentinel_read.get()};
  EXPECT_TRUE(mr::wait_for(channels, sentinels, 20ms).empty());
  sentinel_write.reset();
  mr::WaitResult r = mr::wait_for(channels, sentinels, kLong);
  EXPECT_TRUE(r.connections.empty());
  EXPECT_EQ(r.sentinels, Indices{0});
  sock_theirs.close();
  EXPECT_EQ(mr::wait_for(channels, {}, kLong).connections, Indices{1});

  mr::Channel closed;
  std::vector<mr::Channel*> with_closed = {&pipe, &closed};
  EXPECT_THROW(mr::wait(with_closed), std::invalid_argument);
  std::vector<mr::Channel*> with_null = {nullptr};
  EXPECT_THROW(mr::wait(with_null), std::invalid_argument);
}

}  // namespace
