// In-process tests of the engine's side of a cluster run: the task book's
// share of the partitions and the checkpoint's commits (cluster.h), over real
// files. The MPI runs themselves are tested end to end in tests/mpi.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster.h"
#include "task_book.h"

namespace {

namespace fs = std::filesystem;
using mr::detail::TaskBook;

// A node of a cluster reduces only its share; the others count as done.
TEST(TaskBookTest, ReduceShareLeavesTheOtherPartitionsDone) {
  TaskBook book(2, 5, 3);
  book.begin_reduce([](std::uint32_t p) { return p % 2 == 1; });
  EXPECT_EQ(book.next_partition(), 1u);
  EXPECT_EQ(book.next_partition(), 3u);
  EXPECT_FALSE(book.next_partition());
  book.partition_done(1);
  EXPECT_FALSE(book.reduce_finished());
  book.partition_done(3);
  EXPECT_TRUE(book.reduce_finished());
}

// Commits survive the process (they are read back by the next Checkpoint on
// the folder), map runs and reduce outputs read back as written, and a
// checkpoint of another run (another fingerprint) is refused.
TEST(CheckpointTest, MapAndReduceCommitsAreReadBackAndAnotherRunIsRefused) {
  std::string name = "mr-checkpoint-";
  name += std::to_string(::getpid());
  const fs::path dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  {
    mr::detail::Checkpoint first(dir, 2, "job A");
    EXPECT_FALSE(first.committed(7));
    std::string p0 = "partition zero", p2 = "two";
    std::vector<std::span<std::byte>> parts{
        std::as_writable_bytes(std::span(p0)), {}, std::as_writable_bytes(std::span(p2))};
    first.commit({7, 9}, parts);
    EXPECT_TRUE(first.committed(9));
    std::string sorted = "b\t2\na\t1\n";
    first.commit_reduced(1, std::as_writable_bytes(std::span(sorted)), 2);
    first.commit_reduced(4, {}, 0);  // a partition without keys
  }
  mr::detail::Checkpoint again(dir, 2, "job A");
  EXPECT_TRUE(again.committed(7));
  EXPECT_TRUE(again.committed(9));
  EXPECT_FALSE(again.committed(8));
  ASSERT_EQ(again.restored().size(), 2u);  // the empty partition has no run
  EXPECT_EQ(again.restored()[0].first, 0u);
  EXPECT_EQ(mr::detail::unspill(again.restored()[0].second), "partition zero");
  EXPECT_EQ(again.restored()[1].first, 2u);
  EXPECT_EQ(mr::detail::unspill(again.restored()[1].second), "two");
  ASSERT_NE(again.reduced(1), nullptr);
  EXPECT_EQ(again.reduced(1)->keys, 2u);
  EXPECT_EQ(mr::detail::unspill(again.reduced(1)->run), "b\t2\na\t1\n");
  ASSERT_NE(again.reduced(4), nullptr);
  EXPECT_EQ(again.reduced(4)->run.length, 0u);
  EXPECT_EQ(again.reduced(0), nullptr);
  EXPECT_EQ(again.restored().size(), 2u) << "a reduce commit restores no map run";
  EXPECT_FALSE(mr::detail::Checkpoint(dir, 1, "job B").committed(7)) << "another rank's folder";
  EXPECT_THROW(mr::detail::Checkpoint(dir, 2, "job B"), std::runtime_error);
  fs::remove_all(dir);
}

}  // namespace
