// Tests of the ipc layer's messaging: Pipe/Connection, Queue, SimpleQueue and
// JoinableQueue, across real fork()ed processes. Every wait is bounded: a
// child that does not finish in time is killed and the test fails.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "mr/base/shared_region.h"
#include "mr/ipc/pipe.h"
#include "mr/ipc/queue.h"

namespace {

using namespace std::chrono_literals;

// Forks a child that runs `fn` (returning its exit code); exceptions become
// exit code 99. The child never returns into the test.
pid_t spawn(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid == 0) {
    int code = 98;
    try {
      code = fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
      code = 99;
    } catch (...) {
      code = 99;
    }
    ::_exit(code);
  }
  return pid;
}

// Reaps `pid`, waiting at most `timeout`; a child still running then is
// killed and reported as -1. Returns the exit code, or 128+signal.
int reap(pid_t pid, std::chrono::milliseconds timeout = 10s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -2;
    if (std::chrono::steady_clock::now() >= end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(1ms);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Point {
  int x = 0;
  std::string label;
  std::vector<double> weights;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(x, label, weights);
  }
  bool operator==(const Point&) const = default;
};

// ---------------------------------------------------------------------------
// Pipe / Connection

TEST(PipeTest, DuplexRoundTripOfTypes) {
  auto [parent, child] = mr::Pipe();
  EXPECT_TRUE(parent.readable() && parent.writable());
  pid_t pid = spawn([&, &parent = parent, &child = child] {
    parent.close();
    // Echo each value back transformed, so the parent sees both directions.
    int i = child.recv<int>();
    child.send(i * 2);
    auto s = child.recv<std::string>();
    child.send(s + "!");
    auto v = child.recv<std::vector<int>>();
    v.push_back(static_cast<int>(v.size()));
    child.send(v);
    auto p = child.recv<Point>();
    p.x += 1;
    child.send(p);
    auto m = child.recv<std::map<std::string, int>>();
    child.send(m.size());
    return 0;
  });
  child.close();
  parent.send(21);
  EXPECT_EQ(parent.recv<int>(), 42);
  parent.send(std::string("hello"));
  EXPECT_EQ(parent.recv<std::string>(), "hello!");
  parent.send(std::vector<int>{5, 6, 7});
  EXPECT_EQ(parent.recv<std::vector<int>>(), (std::vector<int>{5, 6, 7, 3}));
  Point p{1, "origin", {0.5, 1.5}};
  parent.send(p);
  p.x = 2;
  EXPECT_EQ(parent.recv<Point>(), p);
  parent.send(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  EXPECT_EQ(parent.recv<std::size_t>(), 2u);
  EXPECT_EQ(reap(pid), 0);
}

TEST(PipeTest, OneWayEndsHaveOneDirection) {
  auto [r, w] = mr::Pipe(/*duplex=*/false);
  EXPECT_TRUE(r.readable());
  EXPECT_FALSE(r.writable());
  EXPECT_TRUE(w.writable());
  EXPECT_FALSE(w.readable());
  EXPECT_THROW(r.send(1), std::logic_error);
  EXPECT_THROW(w.recv<int>(), std::logic_error);
  pid_t pid = spawn([&, &r = r, &w = w] {
    r.close();
    for (int i = 0; i < 1000; ++i) w.send(i);
    w.send_bytes("");
    return 0;
  });
  w.close();
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(r.recv<int>(), i);
  EXPECT_EQ(r.recv_bytes(), "");
  EXPECT_EQ(reap(pid), 0);
  EXPECT_THROW(r.recv_bytes(), mr::EofError);
}

// Python's send_bytes(buf, offset, size) and recv_bytes_into(buf, offset):
// bounds are checked, and a message too long for the buffer comes back
// whole in BufferTooShort.
TEST(PipeTest, SendBytesSliceAndRecvBytesInto) {
  auto [a, b] = mr::Pipe();
  const std::string text = "0123456789";
  a.send_bytes(text, 2, 3);
  a.send_bytes(text, 7);
  a.send_bytes(text, 10, 0);  // empty slice at the end is fine
  EXPECT_THROW(a.send_bytes(text, 11), std::out_of_range);
  EXPECT_THROW(a.send_bytes(text, 8, 3), std::out_of_range);
  std::array<char, 8> buf{};
  EXPECT_EQ(b.recv_bytes_into(buf, 1), 3u);
  EXPECT_EQ(std::string(buf.data() + 1, 3), "234");
  EXPECT_EQ(b.recv_bytes_into(buf), 3u);
  EXPECT_EQ(std::string(buf.data(), 3), "789");
  EXPECT_EQ(b.recv_bytes_into(buf), 0u);
  EXPECT_THROW(b.recv_bytes_into(buf, 9), std::out_of_range);
  a.send_bytes(text);
  try {
    b.recv_bytes_into(buf, 4);
    ADD_FAILURE() << "no BufferTooShort";
  } catch (const mr::BufferTooShort& e) {
    EXPECT_EQ(e.message(), text);
  }
  a.send_bytes("next");
  EXPECT_EQ(b.recv_bytes(), "next");  // the long message was consumed
}

TEST(PipeTest, ClosedConnectionRejectsUse) {
  auto [a, b] = mr::Pipe();
  a.close();
  EXPECT_TRUE(a.closed());
  EXPECT_THROW(a.send(1), std::logic_error);
  EXPECT_THROW(a.recv_bytes(), std::logic_error);
  // The only copy of `a` is closed, so `b` sees end of stream at once.
  EXPECT_TRUE(b.poll());
  EXPECT_THROW(b.recv_bytes(), mr::EofError);
  mr::Connection moved = std::move(b);
  EXPECT_TRUE(b.closed());
  EXPECT_FALSE(moved.closed());
}

TEST(PipeTest, RecvThrowsEofAfterWriterCloses) {
  auto [r, w] = mr::Pipe(false);
  pid_t pid = spawn([&, &r = r, &w = w] {
    r.close();
    w.send(std::string("one"));
    w.send(std::string("two"));
    w.close();
    return 0;
  });
  w.close();
  EXPECT_EQ(r.recv<std::string>(), "one");
  EXPECT_EQ(r.recv<std::string>(), "two");
  EXPECT_THROW(r.recv_bytes(), mr::EofError);
  EXPECT_THROW(r.recv_bytes_for(1s), mr::EofError);
  EXPECT_EQ(reap(pid), 0);
}

TEST(PipeTest, RecvThrowsEofAfterWriterIsKilled) {
  auto [r, w] = mr::Pipe(false);
  pid_t pid = spawn([&, &r = r, &w = w] {
    r.close();
    w.send(7);
    ::pause();  // killed here, never closes `w` itself
    return 0;
  });
  w.close();
  EXPECT_EQ(r.recv<int>(), 7);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(r.recv_bytes(), mr::EofError);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(reap(pid), 128 + SIGKILL);
}

TEST(PipeTest, RecvThrowsEofWhenWriterDiesMidMessage) {
  auto [r, w] = mr::Pipe(false, 4096);
  pid_t pid = spawn([&, &r = r, &w = w] {
    r.close();
    w.send_bytes(std::string(1 << 20, 'x'));  // blocks: nobody reads that much
    return 0;
  });
  w.close();
  ASSERT_TRUE(r.poll(5s));  // the message has begun
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_THROW(r.recv_bytes(), mr::EofError);
  EXPECT_EQ(reap(pid), 128 + SIGKILL);
}

TEST(PipeTest, SendToDeadReaderThrowsEpipe) {
  auto [r, w] = mr::Pipe(false, 4096);
  pid_t pid = spawn([&, &r = r, &w = w] {
    w.close();
    return r.recv<int>() == 1 ? 0 : 1;
  });
  r.close();
  w.send(1);
  EXPECT_EQ(reap(pid), 0);
  // Larger than the ring: the sender must wait for room and sees the hangup.
  try {
    w.send_bytes(std::string(64 * 1024, 'y'));
    ADD_FAILURE() << "send to a dead reader did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EPIPE);
  }
}

TEST(PipeTest, PollTimesOutThenSeesData) {
  auto [a, b] = mr::Pipe();
  pid_t pid = spawn([&, &a = a, &b = b] {
    a.close();
    // Waits for the go, so the parent's first poll surely finds nothing.
    if (b.recv<std::string>() != "go") return 1;
    b.send(std::string("data"));
    return b.recv<int>() == 0 ? 0 : 2;  // wait until the parent is done
  });
  b.close();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(a.poll(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_FALSE(a.poll());
  EXPECT_FALSE(a.recv_bytes_for(20ms).has_value());
  EXPECT_FALSE(a.recv_for<int>(0ms).has_value());
  a.send(std::string("go"));
  EXPECT_TRUE(a.poll(5s));
  EXPECT_TRUE(a.poll());  // still there: poll does not consume
  auto got = a.recv_for<std::string>(1s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "data");
  a.send(0);
  EXPECT_EQ(reap(pid), 0);
}

TEST(PipeTest, FiftyMegabyteMessage) {
  auto [a, b] = mr::Pipe();
  constexpr std::size_t kSize = 50u << 20;
  pid_t pid = spawn([&, &a = a, &b = b] {
    a.close();
    std::string big(kSize, '\0');
    for (std::size_t i = 0; i < kSize; ++i) big[i] = static_cast<char>(i * 2654435761u >> 24);
    b.send_bytes(big);
    // And the echo of what the parent sends back, checked by size and bytes.
    std::string back = b.recv_bytes();
    return back == big ? 0 : 1;
  });
  b.close();
  std::string got = a.recv_bytes();
  ASSERT_EQ(got.size(), kSize);
  bool same = true;
  for (std::size_t i = 0; i < kSize && same; ++i)
    same = got[i] == static_cast<char>(i * 2654435761u >> 24);
  EXPECT_TRUE(same);
  a.send_bytes(got);
  EXPECT_EQ(reap(pid, 20s), 0);
}

TEST(PipeTest, ManySmallMessagesStayInOrder) {
  // A small ring, so that both sides sleep and wake many times.
  auto [r, w] = mr::Pipe(false, 4096);
  constexpr std::uint32_t kCount = 200'000;
  pid_t pid = spawn([&, &r = r, &w = w] {
    r.close();
    for (std::uint32_t i = 0; i < kCount; ++i) {
      if (i % 1000 == 999) {
        w.send(std::string(i % 5000, 'z'));  // odd sizes, wrapping the ring
      } else {
        w.send(i);
      }
    }
    return 0;
  });
  w.close();
  for (std::uint32_t i = 0; i < kCount; ++i) {
    if (i % 1000 == 999) {
      ASSERT_EQ(r.recv<std::string>().size(), i % 5000);
    } else {
      ASSERT_EQ(r.recv<std::uint32_t>(), i);
    }
  }
  EXPECT_THROW(r.recv_bytes(), mr::EofError);
  EXPECT_EQ(reap(pid), 0);
}

TEST(PipeTest, PingPongWakesEachSide) {
  auto [a, b] = mr::Pipe();
  constexpr int kRounds = 2000;
  pid_t pid = spawn([&, &a = a, &b = b] {
    a.close();
    try {
      for (;;) b.send(b.recv<int>() + 1);
    } catch (const mr::EofError&) {
      return 0;
    }
  });
  b.close();
  int v = 0;
  for (int i = 0; i < kRounds; ++i) {
    a.send(v);
    v = a.recv<int>();
  }
  EXPECT_EQ(v, kRounds);
  a.close();
  EXPECT_EQ(reap(pid), 0);
}

TEST(PipeTest, OneThreadSendsWhileAnotherReceivesOnTheSameEnd) {
  auto [a, b] = mr::Pipe(true, 4096);
  constexpr int kCount = 50'000;
  pid_t pid = spawn([&, &a = a, &b = b] {
    a.close();
    for (int i = 0; i < kCount; ++i) b.send(b.recv<int>());
    return 0;
  });
  b.close();
  std::thread sender([&a = a] {
    for (int i = 0; i < kCount; ++i) a.send(i);
  });
  long long sum = 0;
  for (int i = 0; i < kCount; ++i) sum += a.recv<int>();
  sender.join();
  EXPECT_EQ(sum, 1LL * kCount * (kCount - 1) / 2);
  EXPECT_EQ(reap(pid), 0);
}

// ---------------------------------------------------------------------------
// Queue, JoinableQueue, SimpleQueue

// Shared counters of the consumers of a many-process queue test.
struct Tally {
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> sum{0};
  std::atomic<std::uint64_t> xor_all{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> out_of_range{0};
};

TEST(QueueTest, FourProducersFourConsumersMoveOneMillionExactly) {
  constexpr std::uint32_t kProducers = 4, kConsumers = 4, kPerProducer = 250'000;
  constexpr std::uint32_t kTotal = kProducers * kPerProducer;
  mr::Queue<std::uint32_t> q(/*maxsize=*/4096);
  // A tally plus one bit per message: a second delivery finds its bit set.
  auto shm = mr::SharedRegion::anonymous(sizeof(Tally) + kTotal / 8);
  auto* tally = new (shm.data()) Tally;
  auto* bits =
      reinterpret_cast<std::atomic<std::uint8_t>*>(static_cast<char*>(shm.data()) + sizeof(Tally));
  std::vector<pid_t> consumers, producers;
  for (std::uint32_t c = 0; c < kConsumers; ++c) {
    consumers.push_back(spawn([&] {
      std::uint64_t n = 0, sum = 0, x = 0;
      try {
        for (;;) {
          std::uint32_t v = q.get();
          if (v >= kTotal) {
            tally->out_of_range.fetch_add(1);
            continue;
          }
          auto bit = static_cast<std::uint8_t>(1u << (v % 8));
          if (bits[v / 8].fetch_or(bit) & bit) tally->duplicates.fetch_add(1);
          ++n;
          sum += v;
          x ^= v;
        }
      } catch (const mr::QueueClosed&) {
      }
      tally->count.fetch_add(n);
      tally->sum.fetch_add(sum);
      tally->xor_all.fetch_xor(x);
      return 0;
    }));
  }
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    producers.push_back(spawn([&, p] {
      for (std::uint32_t i = 0; i < kPerProducer; ++i) q.put(p * kPerProducer + i);
      return 0;
    }));
  }
  for (pid_t pid : producers) EXPECT_EQ(reap(pid, 15s), 0);
  q.close();  // consumers drain what is left, then see QueueClosed
  for (pid_t pid : consumers) EXPECT_EQ(reap(pid, 15s), 0);

  std::uint64_t want_sum = 0, want_xor = 0;
  for (std::uint64_t v = 0; v < kTotal; ++v) {
    want_sum += v;
    want_xor ^= v;
  }
  EXPECT_EQ(tally->count.load(), kTotal);
  EXPECT_EQ(tally->sum.load(), want_sum);
  EXPECT_EQ(tally->xor_all.load(), want_xor);
  EXPECT_EQ(tally->duplicates.load(), 0u);
  EXPECT_EQ(tally->out_of_range.load(), 0u);
  std::uint64_t missing = 0;
  for (std::uint32_t i = 0; i < kTotal / 8; ++i) missing += bits[i].load() != 0xff;
  EXPECT_EQ(missing, 0u);
  EXPECT_TRUE(q.empty());
}

TEST(QueueTest, BoundedQueueBlocksProducerUntilConsumerTakes) {
  mr::Queue<int> q(/*maxsize=*/2);
  EXPECT_EQ(q.maxsize(), 2u);
  q.put(1);
  EXPECT_TRUE(q.try_put(2));
  EXPECT_TRUE(q.full());
  EXPECT_EQ(q.size(), 2u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(q.put_for(99, 50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_FALSE(q.try_put(99));

  auto [r, w] = mr::Pipe(false);
  pid_t pid = spawn([&, &r = r, &w = w] {
    r.close();
    w.send(std::string("putting"));
    q.put(3);  // blocks until the parent takes one
    w.send(std::string("put returned"));
    return 0;
  });
  w.close();
  EXPECT_EQ(r.recv<std::string>(), "putting");
  // The producer stays blocked while the queue is full.
  EXPECT_FALSE(r.poll(150ms));
  EXPECT_EQ(q.get(), 1);
  auto done = r.recv_for<std::string>(5s);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(*done, "put returned");
  EXPECT_EQ(q.get(), 2);
  EXPECT_EQ(q.get(), 3);
  EXPECT_EQ(reap(pid), 0);
}

TEST(QueueTest, GetForTimesOutOnEmptyThenGetsWhatAChildPuts) {
  mr::Queue<std::string> q;
  EXPECT_TRUE(q.empty());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(q.get_for(50ms).has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_FALSE(q.try_get().has_value());
  pid_t pid = spawn([&] {
    q.put("from child");
    return 0;
  });
  auto got = q.get_for(5s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "from child");
  EXPECT_EQ(reap(pid), 0);
}

TEST(QueueTest, CloseDrainsThenThrowsAndWakesBlockedGetters) {
  mr::Queue<int> q;
  q.put(1);
  q.put(2);
  q.close();
  EXPECT_TRUE(q.closed());
  EXPECT_THROW(q.put(3), mr::QueueClosed);
  EXPECT_THROW(q.try_put(3), mr::QueueClosed);
  EXPECT_EQ(q.get(), 1);
  EXPECT_EQ(q.get_for(10ms), 2);
  EXPECT_THROW(q.get(), mr::QueueClosed);
  EXPECT_THROW(q.get_for(10ms), mr::QueueClosed);
  EXPECT_THROW(q.try_get(), mr::QueueClosed);

  // A getter asleep in another process is woken by close().
  mr::Queue<int> q2;
  auto [r, w] = mr::Pipe(false);
  pid_t pid = spawn([&, &r = r, &w = w] {
    r.close();
    w.send(0);
    try {
      q2.get();
      return 1;
    } catch (const mr::QueueClosed&) {
      return 0;
    }
  });
  w.close();
  r.recv<int>();
  q2.close();
  EXPECT_EQ(reap(pid, 5s), 0);
}

TEST(QueueTest, AGetterKilledWhileAsleepDoesNotStallTheOthers) {
  mr::Queue<int> q;
  auto [r, w] = mr::Pipe(false);
  pid_t doomed = spawn([&, &r = r, &w = w] {
    r.close();
    w.send(0);
    q.get();  // sleeps until killed
    return 1;
  });
  r.recv<int>();
  // Give it time to fall asleep in the kernel; correctness does not depend
  // on it, only what the test exercises does.
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(doomed, SIGKILL), 0);
  EXPECT_EQ(reap(doomed), 128 + SIGKILL);
  pid_t getter = spawn([&, &r = r, &w = w] {
    r.close();
    w.send(0);
    return q.get() + q.get() == 3 ? 0 : 1;
  });
  w.close();
  r.recv<int>();
  q.put(1);
  std::this_thread::sleep_for(20ms);
  q.put(2);
  EXPECT_EQ(reap(getter, 5s), 0);
  EXPECT_TRUE(q.empty());
}

TEST(QueueTest, FifoOfVariableSizesThroughATinyRing) {
  // 256 bytes of ring: records wrap constantly and the producer blocks on
  // bytes, not items.
  mr::Queue<std::string> q(0, 256);
  EXPECT_THROW(q.put(std::string(300, 'x')), std::length_error);
  constexpr int kCount = 20'000;
  pid_t pid = spawn([&] {
    for (int i = 0; i < kCount; ++i)
      q.put(std::string(static_cast<std::size_t>(i % 97), 'a' + i % 26));
    return 0;
  });
  for (int i = 0; i < kCount; ++i) {
    auto s = q.get_for(5s);
    ASSERT_TRUE(s.has_value()) << "item " << i;
    ASSERT_EQ(*s, std::string(static_cast<std::size_t>(i % 97), 'a' + i % 26));
  }
  EXPECT_EQ(reap(pid), 0);
}

TEST(QueueTest, UsableFromThreadsOfOneProcess) {
  mr::Queue<int> q(16);
  std::thread producer([&] {
    for (int i = 0; i < 20'000; ++i) q.put(i);
  });
  long long sum = 0;
  for (int i = 0; i < 20'000; ++i) sum += q.get();
  producer.join();
  EXPECT_EQ(sum, 20'000LL * 19'999 / 2);
}

TEST(JoinableQueueTest, JoinReturnsOnlyAfterEveryTaskDone) {
  constexpr int kItems = 2000, kWorkers = 3;
  mr::JoinableQueue<int> q;
  auto shm = mr::SharedRegion::anonymous(kItems);
  auto* done = reinterpret_cast<std::atomic<std::uint8_t>*>(shm.data());
  for (int i = 0; i < kItems; ++i) q.put(i);
  EXPECT_EQ(q.unfinished_tasks(), static_cast<std::size_t>(kItems));
  EXPECT_FALSE(q.join_for(20ms));  // nobody works yet
  std::vector<pid_t> workers;
  for (int k = 0; k < kWorkers; ++k) {
    workers.push_back(spawn([&] {
      try {
        for (;;) {
          int i = q.get();
          done[i].fetch_add(1);  // marked before task_done
          q.task_done();
        }
      } catch (const mr::QueueClosed&) {
      }
      return 0;
    }));
  }
  ASSERT_TRUE(q.join_for(10s));
  int unmarked = 0, twice = 0;
  for (int i = 0; i < kItems; ++i) {
    unmarked += done[i].load() == 0;
    twice += done[i].load() > 1;
  }
  EXPECT_EQ(unmarked, 0);
  EXPECT_EQ(twice, 0);
  EXPECT_EQ(q.unfinished_tasks(), 0u);
  q.close();
  for (pid_t pid : workers) EXPECT_EQ(reap(pid), 0);
}

TEST(JoinableQueueTest, TaskDoneMoreThanPutsThrows) {
  mr::JoinableQueue<int> q;
  EXPECT_THROW(q.task_done(), std::logic_error);
  q.put(5);
  EXPECT_EQ(q.get(), 5);
  q.task_done();
  EXPECT_THROW(q.task_done(), std::logic_error);
  EXPECT_TRUE(q.join_for(0ms));
  q.join();
}

TEST(SimpleQueueTest, PutGetAcrossProcesses) {
  mr::SimpleQueue<std::vector<int>> q;
  EXPECT_TRUE(q.empty());
  pid_t pid = spawn([&] {
    for (int i = 0; i < 100; ++i) q.put(std::vector<int>(static_cast<std::size_t>(i), i));
    return 0;
  });
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(q.get(), std::vector<int>(static_cast<std::size_t>(i), i));
  EXPECT_FALSE(q.get_for(10ms).has_value());
  q.close();
  EXPECT_THROW(q.get(), mr::QueueClosed);
  EXPECT_EQ(reap(pid), 0);
}

}  // namespace
