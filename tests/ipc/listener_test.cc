// Tests of Listener / SocketConnection / connect_to: messages between a
// parent and a spawned child (a fresh exec that shares no memory), end of
// stream on the peer's death, timeouts, and address clean-up.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "mr/base/error.h"
#include "mr/ipc/listener.h"
#include "mr/ipc/queue.h"
#include "mr/process/process.h"

using namespace std::chrono_literals;

namespace {

// Spawned child: connects, then echoes every message doubled until EOF;
// a message "die" makes it SIGKILL itself.
int echo_doubled(std::string address) {
  mr::SocketConnection c = mr::connect_to(address);
  for (;;) {
    std::vector<int> v;
    try {
      v = c.recv<std::vector<int>>();
    } catch (const mr::EofError&) {
      return 0;
    }
    if (v.empty()) ::raise(SIGKILL);
    for (int& x : v) x *= 2;
    c.send(v);
  }
}
MR_REGISTER_FUNCTION(echo_doubled);

// Spawned child: connects back with its token, receives a memfd queue's
// two descriptors, sums the ints it gets from the queue until it is closed,
// and reports the sum and count.
int sum_from_queue(std::string address, std::string token) {
  mr::SocketConnection c = mr::connect_back(address, token);
  std::vector<mr::UniqueFd> fds;
  const std::string hello = c.recv_bytes_and_fds(fds);
  if (hello != "queue" || fds.size() != 2) return 3;
  auto q = mr::Queue<int>::attach(mr::SharedRegion::map_fd(std::move(fds[0])),
                                  mr::SharedRegion::map_fd(std::move(fds[1])));
  long long sum = 0, count = 0;
  for (;;) {
    try {
      sum += q.get();
      ++count;
    } catch (const mr::QueueClosed&) {
      break;
    }
  }
  c.send(std::pair<long long, long long>(sum, count));
  return 0;
}
MR_REGISTER_FUNCTION(sum_from_queue);

int exit_at_once(std::string, std::string) { return 4; }
MR_REGISTER_FUNCTION(exit_at_once);

class ListenerTest : public ::testing::Test {
 protected:
  // The forkserver outlives the tests on purpose: start it before any.
  static void SetUpTestSuite() { mr::forkserver_start(); }
};

mr::ProcessOptions spawn_options() {
  mr::ProcessOptions po;
  po.start_method = mr::StartMethod::kSpawn;
  return po;
}

TEST_F(ListenerTest, MessagesTravelToASpawnedChildAndBack) {
  mr::Listener listener;
  ASSERT_EQ(listener.address().rfind("@mr.", 0), 0u) << listener.address();
  mr::Process child(spawn_options(), mr::target<&echo_doubled>, listener.address());
  child.start();
  std::optional<mr::SocketConnection> c = listener.accept_for(20s);
  ASSERT_TRUE(c.has_value());
  c->send(std::vector<int>{1, 2, 3});
  ASSERT_TRUE(c->poll(20s));
  EXPECT_EQ(c->recv<std::vector<int>>(), (std::vector<int>{2, 4, 6}));
  // A message far larger than the socket buffers streams through.
  std::vector<int> big(1 << 20, 7);
  c->send(big);
  EXPECT_EQ(c->recv<std::vector<int>>(), std::vector<int>(1 << 20, 14));
  c->close();  // the child sees end of stream and exits 0
  ASSERT_TRUE(child.join_for(20s));
  EXPECT_EQ(child.exit_code(), 0);
}

TEST_F(ListenerTest, PeerDeathIsEndOfStreamAndBrokenPipe) {
  mr::Listener listener;
  mr::Process child(spawn_options(), mr::target<&echo_doubled>, listener.address());
  child.start();
  std::optional<mr::SocketConnection> c = listener.accept_for(20s);
  ASSERT_TRUE(c.has_value());
  c->send(std::vector<int>{});  // "die"
  ASSERT_TRUE(child.join_for(20s));
  EXPECT_EQ(child.exit_code(), -SIGKILL);
  ASSERT_TRUE(c->poll(0s));  // readable: end of stream
  EXPECT_THROW(c->recv_bytes(), mr::EofError);
  try {
    // The first send may still be buffered; keep sending until it fails.
    for (int i = 0; i < 100; ++i) c->send(std::vector<int>(1000, i));
    FAIL() << "send to a dead peer never failed";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EPIPE);
  }
}

TEST_F(ListenerTest, TimeoutsAndErrors) {
  mr::Listener listener;
  EXPECT_FALSE(listener.accept_for(50ms).has_value());
  mr::SocketConnection c = mr::connect_to(listener.address());
  std::optional<mr::SocketConnection> s = listener.accept_for(20s);
  ASSERT_TRUE(s.has_value());
  EXPECT_FALSE(s->poll(20ms));
  EXPECT_FALSE(s->recv_bytes_for(20ms).has_value());
  c.send_bytes("x");
  EXPECT_EQ(s->recv_bytes_for(20s), std::optional<std::string>("x"));
  // Deferred messages wait for flush() or the next send, and keep their order.
  c.send_deferred("a");
  c.send_deferred("b");
  EXPECT_FALSE(s->poll(20ms));
  c.send_bytes("c");
  c.send_deferred("d");
  c.flush();
  for (const char* m : {"a", "b", "c", "d"})
    EXPECT_EQ(s->recv_bytes_for(20s), std::optional<std::string>(m));
  c.close();
  EXPECT_THROW(c.send_bytes("y"), std::logic_error);
  const std::string address = listener.address();
  listener.close();
  EXPECT_THROW(mr::connect_to(address), std::system_error);
  EXPECT_THROW(mr::Listener(std::string(200, 'a')), std::invalid_argument);
}

TEST_F(ListenerTest, FilesystemAddressIsRemovedWithTheListener) {
  const std::string path = ::testing::TempDir() + "mr_listener_" + std::to_string(::getpid());
  {
    mr::Listener listener(path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    mr::SocketConnection c = mr::connect_to(path);
    ASSERT_TRUE(listener.accept_for(20s).has_value());
    EXPECT_THROW(mr::Listener{path}, std::system_error);  // in use
  }
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0);
}

TEST_F(ListenerTest, QueueAndDescriptorsTravelToAFreshProgram) {
  for (mr::StartMethod method : {mr::StartMethod::kSpawn, mr::StartMethod::kForkserver}) {
    SCOPED_TRACE(std::string(mr::to_string(method)));
    mr::Queue<int> q(16, 4096, mr::Backing::kMemfd);
    mr::Listener listener;
    const std::string token = mr::random_token();
    mr::ProcessOptions po;
    po.start_method = method;
    mr::Process child(po, mr::target<&sum_from_queue>, listener.address(), token);
    child.start();
    // A stranger who does not know the token is turned away.
    mr::SocketConnection stranger = mr::connect_back(listener.address(), "wrong");
    std::optional<mr::SocketConnection> c =
        mr::accept_child(listener, token, child.sentinel(), 20s);
    ASSERT_TRUE(c.has_value());
    const int fds[] = {q.ring_region().fd(), q.lock_region().fd()};
    c->send_bytes("queue", fds);
    long long expect = 0;
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(q.put_for(i, 20s));  // 16 at a time: the child keeps up
      expect += i;
    }
    q.close();
    ASSERT_TRUE(c->poll(20s));
    EXPECT_EQ((c->recv<std::pair<long long, long long>>()),
              (std::pair<long long, long long>(expect, 1000)));
    ASSERT_TRUE(child.join_for(20s));
    EXPECT_EQ(child.exit_code(), 0);
  }
}

// A connection to `address` from the calling process, or (uid != 0) one
// made by a forked child running as `uid`: the kernel records the
// connecting process's credentials, which the child's exit does not change.
mr::UniqueFd silent_peer(const std::string& address, uid_t uid) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path + 1, address.data() + 1, address.size() - 1);  // "@name": abstract
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  mr::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  if (uid == 0) {
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) fd.reset();
    return fd;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    const bool ok = ::setresgid(uid, uid, uid) == 0 && ::setresuid(uid, uid, uid) == 0 &&
                    ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) == 0;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fd.reset();
  return fd;
}

// Strangers who queue silent connections before our child connects back
// cost nothing: another user's peer and our own uid's peer that is not the
// child are both dropped unread (before, each held accept_child for 1 s).
TEST_F(ListenerTest, AcceptChildDropsStrangersWithoutWaitingForThem) {
  mr::Listener listener;
  std::vector<mr::UniqueFd> strangers;
  for (int i = 0; i < 3; ++i) strangers.push_back(silent_peer(listener.address(), 0));
  if (::geteuid() == 0)  // root can be another user too
    for (int i = 0; i < 3; ++i) strangers.push_back(silent_peer(listener.address(), 65534));
  for (const auto& fd : strangers) ASSERT_TRUE(fd) << std::strerror(errno);
  const std::string token = mr::random_token();
  mr::ProcessOptions po = spawn_options();
  mr::Queue<int> q(4, 4096, mr::Backing::kMemfd);
  mr::Process child(po, mr::target<&sum_from_queue>, listener.address(), token);
  child.start();
  const auto started = std::chrono::steady_clock::now();
  std::optional<mr::SocketConnection> c =
      mr::accept_child(listener, token, child.sentinel(), child.pid(), 20s);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(c.has_value());
  EXPECT_LT(took, 900ms) << "accept_child waited for strangers";
  const int fds[] = {q.ring_region().fd(), q.lock_region().fd()};
  c->send_bytes("queue", fds);
  q.close();
  ASSERT_TRUE(child.join_for(20s));
  EXPECT_EQ(child.exit_code(), 0);
}

// The pid is checked too: our own child that is not the one expected is
// dropped as a stranger.
TEST_F(ListenerTest, AcceptChildRefusesAnotherPidOfOurs) {
  mr::Listener listener;
  mr::UniqueFd mine = silent_peer(listener.address(), 0);
  ASSERT_TRUE(mine);
  mr::SocketConnection talker(std::move(mine));
  talker.send_bytes("tok");  // the right token, from the wrong process
  mr::Process sleeper([] { ::pause(); });
  sleeper.start();
  EXPECT_THROW(mr::accept_child(listener, "tok", sleeper.sentinel(), sleeper.pid(), 300ms),
               mr::TimeoutError);
  sleeper.kill();
  sleeper.join();
}

TEST_F(ListenerTest, AcceptChildEndsWhenTheChildEndsOrTimeIsUp) {
  mr::Listener listener;
  mr::Process child(spawn_options(), mr::target<&exit_at_once>, listener.address(),
                    std::string("t"));
  child.start();
  EXPECT_FALSE(mr::accept_child(listener, "t", child.sentinel(), 20s).has_value());
  child.join();
  EXPECT_EQ(child.exit_code(), 4);
  mr::Process sleeper([] { ::pause(); });
  sleeper.start();
  EXPECT_THROW(mr::accept_child(listener, "t", sleeper.sentinel(), 50ms), mr::TimeoutError);
  sleeper.kill();
  sleeper.join();
  std::vector<mr::UniqueFd> none;
  mr::SocketConnection a = mr::connect_to(listener.address());
  std::optional<mr::SocketConnection> b = listener.accept_for(20s);
  ASSERT_TRUE(b);
  const std::vector<int> too_many(mr::SocketConnection::kMaxFds + 1, 0);
  EXPECT_THROW(a.send_bytes("x", too_many), std::invalid_argument);
  a.send_bytes("plain");
  EXPECT_EQ(b->recv_bytes_and_fds(none), "plain");
  EXPECT_TRUE(none.empty());
}

TEST_F(ListenerTest, DescriptorsGoWithTheirOwnMessageInOrder) {
  mr::Listener listener;
  mr::SocketConnection a = mr::connect_to(listener.address());
  std::optional<mr::SocketConnection> b = listener.accept_for(20s);
  ASSERT_TRUE(b);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  mr::UniqueFd r(p[0]), w(p[1]);
  // All three are read ahead together: the descriptor must still go to
  // "second" only, and the deferred "first" must come before it.
  a.send_deferred("first");
  const int fds[] = {w.get()};
  a.send_bytes("second", fds);
  a.send_bytes("third");
  std::vector<mr::UniqueFd> got;
  EXPECT_EQ(b->recv_bytes_and_fds(got), "first");
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(b->recv_bytes_and_fds(got), "second");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(::write(got[0].get(), "z", 1), 1);  // the received copy of our pipe's end
  char c = 0;
  ASSERT_EQ(::read(r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'z');
  got.clear();
  EXPECT_EQ(b->recv_bytes_and_fds(got), "third");
  EXPECT_TRUE(got.empty());
}

TEST_F(ListenerTest, AStrangerCannotStallTheHandshake) {
  mr::Listener listener;
  // A stranger announces a 16-byte first message and never sends it; a
  // second one claims 2 GiB. Then the real child connects with its token.
  mr::SocketConnection stall = mr::connect_to(listener.address());
  std::uint64_t n = 16;
  ASSERT_EQ(::send(stall.fileno(), &n, sizeof n, 0), static_cast<ssize_t>(sizeof n));
  mr::SocketConnection huge = mr::connect_to(listener.address());
  n = std::uint64_t{2} << 30;
  ASSERT_EQ(::send(huge.fileno(), &n, sizeof n, 0), static_cast<ssize_t>(sizeof n));
  const std::string token = mr::random_token();
  mr::SocketConnection child = mr::connect_back(listener.address(), token);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);  // a sentinel that never fires
  mr::UniqueFd r(p[0]), w(p[1]);
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<mr::SocketConnection> c = mr::accept_child(listener, token, r.get(), 20s);
  ASSERT_TRUE(c);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  c->send_bytes("hello");
  EXPECT_EQ(child.recv_bytes_for(20s), std::optional<std::string>("hello"));
}

}  // namespace
