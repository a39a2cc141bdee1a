// Tests of the base layer, across real fork()ed processes where it matters.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "mr/base/deadline.h"
#include "mr/base/error.h"
#include "mr/base/futex.h"
#include "mr/base/io.h"
#include "mr/base/shared_region.h"
#include "mr/base/unique_fd.h"

namespace {

using namespace std::chrono_literals;

// Forks a child that runs `fn` and _exits with its result; returns the exit
// status, reaping the child.
template <class F>
int run_child(F fn) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(UniqueFdTest, ClosesOnDestructionAndRelease) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int raw = fds[0];
  { mr::UniqueFd a(fds[0]); }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1) << "descriptor should be closed";
  mr::UniqueFd b(fds[1]);
  int kept = b.release();
  EXPECT_FALSE(b);
  EXPECT_NE(::fcntl(kept, F_GETFD), -1) << "released descriptor must stay open";
  ::close(kept);
}

TEST(UniqueFdTest, MoveTransfersOwnership) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  mr::UniqueFd a(fds[0]), w(fds[1]);
  mr::UniqueFd b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), fds[0]);
}

TEST(IoTest, ReadFullReportsEofOnlyBeforeFirstByte) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  mr::UniqueFd r(fds[0]), w(fds[1]);
  mr::write_full(w.get(), "abcdef", 6);
  w.reset();
  char buf[4];
  ASSERT_TRUE(mr::read_full(r.get(), buf, 4));
  EXPECT_EQ(std::memcmp(buf, "abcd", 4), 0);
  EXPECT_THROW(mr::read_full(r.get(), buf, 4), std::system_error) << "2 bytes then EOF";
  EXPECT_FALSE(mr::read_full(r.get(), buf, 1));
}

TEST(SharedRegionTest, AnonymousIsSharedWithForkedChild) {
  auto region = mr::SharedRegion::anonymous(4096);
  auto* value = static_cast<int*>(region.data());
  EXPECT_EQ(*value, 0) << "fresh regions are zeroed";
  EXPECT_EQ(run_child([&] {
              *value = 42;
              return 0;
            }),
            0);
  EXPECT_EQ(*value, 42) << "the child's write must be visible to the parent";
}

TEST(SharedRegionTest, MemfdCanBeMappedAgainThroughItsDescriptor) {
  auto region = mr::SharedRegion::memfd("mr.test", 8192);
  ASSERT_GE(region.fd(), 0);
  static_cast<char*>(region.data())[100] = 'x';
  auto again = mr::SharedRegion::map_fd(mr::UniqueFd(::dup(region.fd())));
  EXPECT_EQ(again.size(), 8192u);
  EXPECT_EQ(static_cast<char*>(again.data())[100], 'x');
}

TEST(FutexTest, WaitTimesOutWhenNobodyWakes) {
  std::atomic<std::uint32_t> word{0};
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(mr::futex_wait(&word, 0, mr::Deadline::after(50ms)));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST(FutexTest, WaitReturnsAtOnceWhenValueDiffers) {
  std::atomic<std::uint32_t> word{1};
  EXPECT_TRUE(mr::futex_wait(&word, 0, mr::Deadline::after(10s)));
}

TEST(FutexTest, ChildWakesParentThroughSharedWord) {
  auto region = mr::SharedRegion::anonymous(4096);
  auto* word = new (region.data()) std::atomic<std::uint32_t>(0);
  pid_t pid = ::fork();
  if (pid == 0) {
    word->store(1);
    mr::futex_wake(word);
    ::_exit(0);
  }
  auto deadline = mr::Deadline::after(10s);
  while (word->load() == 0 && !deadline.expired()) mr::futex_wait(word, 0, deadline);
  EXPECT_EQ(word->load(), 1u);
  int status;
  ::waitpid(pid, &status, 0);
}

TEST(DeadlineTest, NeverAndAfter) {
  EXPECT_TRUE(mr::Deadline::never().is_never());
  EXPECT_EQ(mr::Deadline::never().poll_timeout_ms(), -1);
  auto d = mr::Deadline::after(-1s);
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.poll_timeout_ms(), 0);
  EXPECT_FALSE(mr::Deadline::from(std::optional<std::chrono::seconds>{}).expired());
}

TEST(ErrorTest, ThrowErrnoCarriesContextAndCode) {
  try {
    mr::throw_errno("shm_open mr.x", ENOENT);
    FAIL();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("shm_open mr.x"), std::string::npos);
  }
}

}  // namespace
