// In-process tests of the engine's parts that hold logic without processes:
// the task book's re-issue rules (task_book.h), the speculative races
// (speculation.h) and the splitter's cuts
// (splitter.h), over real mapped files and a real pipe.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mr/base/unique_fd.h"
#include "mr/mapreduce/engine.h"
#include "shuffle.h"
#include "speculation.h"
#include "spill_dir.h"
#include "splitter.h"
#include "task_book.h"

namespace {

namespace fs = std::filesystem;
using mr::detail::ChunkTask;
using mr::detail::MapRaces;
using mr::detail::TaskBook;

ChunkTask chunk(std::uint32_t c, int slot = -1, std::uint64_t ticket = 0) {
  return ChunkTask{c, 0, 100ull * c, 100, slot, ticket, 0};
}

// ---- the task book ---------------------------------------------------------

TEST(TaskBookTest, CommitsEachChunkOnceAndRecordsInOrder) {
  TaskBook book(3, 2, 3);
  book.add(chunk(0));
  book.add(chunk(1));
  EXPECT_THROW(book.add(chunk(5)), std::logic_error);
  EXPECT_EQ(book.chunks(), 2u);
  EXPECT_EQ(book.commit(1).offset, 100u);
  EXPECT_TRUE(book.committed(1));
  EXPECT_FALSE(book.committed(0));
  EXPECT_THROW(book.commit(1), std::logic_error);
  EXPECT_THROW(TaskBook(0, 1, 3), std::invalid_argument);
  EXPECT_THROW(TaskBook(3, 1, 0), std::invalid_argument);
}

TEST(TaskBookTest, AChunkFailsTheJobOnItsLastAllowedAttempt) {
  TaskBook book(3, 1, 3);
  book.add(chunk(0));
  EXPECT_FALSE(book.chunk_failed(0));
  EXPECT_FALSE(book.chunk_failed(0));
  EXPECT_TRUE(book.chunk_failed(0));
  EXPECT_EQ(book.attempts(0), 3u);
  TaskBook once(1, 1, 3);
  once.add(chunk(0));
  EXPECT_TRUE(once.chunk_failed(0));
}

// The progress line's byte count: a chunk mapped again (its worker died
// before committing it) is not counted twice, so the count never goes back
// or past the input.
TEST(TaskBookTest, MappedBytesCountEachChunkOnce) {
  TaskBook book(3, 1, 3);
  for (std::uint32_t c = 0; c < 3; ++c) book.add(chunk(c));
  EXPECT_EQ(book.mapped_bytes(), 0u);
  book.mapped(0);
  EXPECT_EQ(book.mapped_bytes(), 100u);
  book.mapped(0);  // its MapDone after the next Started, or a second attempt
  book.mapped(2);
  EXPECT_EQ(book.mapped_bytes(), 200u);
  EXPECT_EQ(book.uncommitted().size(), 3u);  // all mapped again: counted already
  book.mapped(0);
  book.mapped(1);
  book.mapped(2);
  EXPECT_EQ(book.mapped_bytes(), 300u);
}

TEST(TaskBookTest, DrainedMapPhaseReissuesEveryUncommittedChunkWithoutTicket) {
  TaskBook book(3, 1, 3);
  for (std::uint32_t c = 0; c < 4; ++c) book.add(chunk(c, c % 2 ? 1 : -1, c % 2 ? 7 : 0));
  book.commit(0);
  book.commit(2);
  std::vector<ChunkTask> lost = book.uncommitted();
  ASSERT_EQ(lost.size(), 2u);
  EXPECT_EQ(lost[0].chunk, 1u);
  EXPECT_EQ(lost[1].chunk, 3u);
  for (const auto& t : lost) EXPECT_EQ(t.ticket, 0u) << "assigned directly: no claim";
  EXPECT_EQ(book.retries(), 2u);
  book.commit(1);
  book.commit(3);
  EXPECT_TRUE(book.uncommitted().empty());
  EXPECT_EQ(book.retries(), 2u);
}

TEST(TaskBookTest, StreamTaskIsLostWithItsDeadHolderOrUnclaimedWhileStarving) {
  // Claimed by the worker that died: lost, starving or not.
  EXPECT_TRUE(TaskBook::stream_task_lost(42, 42, false));
  EXPECT_TRUE(TaskBook::stream_task_lost(42, 42, true));
  // Claimed by a live worker: never lost.
  EXPECT_FALSE(TaskBook::stream_task_lost(43, 42, false));
  EXPECT_FALSE(TaskBook::stream_task_lost(43, 42, true));
  EXPECT_FALSE(TaskBook::stream_task_lost(43, 0, true));
  // Unclaimed: lost only when the producer starves (it vanished between a
  // worker's get() and its claim); otherwise it may still be in the queue.
  EXPECT_TRUE(TaskBook::stream_task_lost(0, 0, true));
  EXPECT_TRUE(TaskBook::stream_task_lost(0, 42, true));
  EXPECT_FALSE(TaskBook::stream_task_lost(0, 42, false));
  EXPECT_FALSE(TaskBook::stream_task_lost(0, 0, false));
}

TEST(TaskBookTest, OnlyStreamChunksInFlightAreReissuedUnderTheirNewTicket) {
  TaskBook book(3, 1, 3);
  book.add(chunk(0));        // mapped input
  book.add(chunk(1, 0, 5));  // stream, in flight
  book.add(chunk(2, 1, 6));  // stream, committed below
  book.add(chunk(3, 2, 0));  // stream, assigned directly (no ticket)
  book.commit(2);
  EXPECT_EQ(book.stream_chunks_in_flight(), (std::vector<std::uint32_t>{1}));
  const ChunkTask& again = book.reissue(1, 99);
  EXPECT_EQ(again.chunk, 1u);
  EXPECT_EQ(again.ticket, 99u);
  EXPECT_EQ(book.task(1).ticket, 99u);
  EXPECT_EQ(book.retries(), 1u);
}

TEST(TaskBookTest, FailedPartitionGoesFirstInLineUntilItsLastAttempt) {
  TaskBook book(2, 3, 3);
  EXPECT_FALSE(book.next_partition()) << "nothing is pending before the reduce phase";
  book.begin_reduce();
  EXPECT_EQ(book.next_partition(), 0u);
  EXPECT_EQ(book.next_partition(), 1u);
  EXPECT_FALSE(book.partition_failed(0));
  EXPECT_EQ(book.next_partition(), 0u) << "a failed partition is retried first";
  EXPECT_EQ(book.next_partition(), 2u);
  EXPECT_FALSE(book.next_partition());
  EXPECT_TRUE(book.partition_failed(0)) << "second failure of two allowed";
  EXPECT_EQ(book.partition_attempts(0), 2u);
  EXPECT_EQ(book.retries(), 2u);
  book.partition_done(1);
  book.partition_done(2);
  EXPECT_FALSE(book.reduce_finished());
  book.partition_done(0);
  EXPECT_TRUE(book.reduce_finished());
}

TEST(TaskBookTest, FailedStartsCountInARowAndAReadyWorkerResetsThem) {
  // Start attempts (WorkerStartLimits) are their own limit, not a task's.
  TaskBook book(5, 1, 3);
  EXPECT_FALSE(book.start_failed());
  EXPECT_FALSE(book.start_failed());
  book.worker_ready();
  EXPECT_EQ(book.start_failures(), 0u);
  EXPECT_FALSE(book.start_failed());
  EXPECT_FALSE(book.start_failed());
  EXPECT_TRUE(book.start_failed());
  EXPECT_EQ(book.start_failures(), 3u);
}

TEST(TaskBookTest, AStragglerIsFarBeyondTheMedianOfItsSiblingsAndCopiedAtMostThreeTimes) {
  TaskBook book(3, 2, 3);
  book.add(chunk(0));
  book.add(chunk(1));
  EXPECT_FALSE(book.chunk_straggles(0, 100)) << "no sibling finished yet";
  book.chunk_took(0.2);
  EXPECT_FALSE(book.chunk_straggles(0, 100)) << "one sibling is no median";
  book.chunk_took(0.3);
  book.chunk_took(0.25);
  // Median 0.25 s: 10 times that is 2.5 s; and never under 1 s.
  EXPECT_FALSE(book.chunk_straggles(0, 2.4));
  EXPECT_TRUE(book.chunk_straggles(0, 2.6));
  for (unsigned copy = 1; copy <= TaskBook::kMaxCopies; ++copy) {
    book.speculate_chunk(0);
    EXPECT_EQ(book.chunk_straggles(0, 1000), copy < TaskBook::kMaxCopies)
        << "a copy that straggles too is copied again, up to kMaxCopies; copy " << copy;
  }
  EXPECT_TRUE(book.chunk_straggles(1, 2.6));
  EXPECT_EQ(book.attempts(0), 0u) << "a copy is not a failed attempt";
  EXPECT_EQ(book.retries(), 0u);
  EXPECT_EQ(book.uncommitted().size(), 2u) << "nothing committed yet";

  book.partition_took(0.01);
  book.partition_took(0.02);
  EXPECT_FALSE(book.partition_straggles(1, 0.9)) << "at least kStragglerMinSeconds";
  EXPECT_TRUE(book.partition_straggles(1, 1.1));
  book.begin_reduce();
  EXPECT_EQ(book.next_partition(), 0u);
  EXPECT_EQ(book.next_partition(), 1u);
  book.speculate_partition(1);
  EXPECT_EQ(book.partition_attempts(1), 0u);
  EXPECT_FALSE(book.partitions_pending()) << "the copy goes to an idle worker, not the line";
  EXPECT_TRUE(book.partition_straggles(1, 1000)) << "a copy that straggles is copied again";
  book.speculate_partition(1);
  book.speculate_partition(1);
  EXPECT_FALSE(book.partition_straggles(1, 1000)) << "at most kMaxCopies";
}

TEST(TaskBookTest, APartitionReducedTwiceKeepsTheFirstAndAFailedRacerIsNotPendingAgain) {
  TaskBook book(3, 2, 3);
  book.begin_reduce();
  EXPECT_EQ(book.next_partition(), 0u);
  EXPECT_EQ(book.next_partition(), 1u);
  book.speculate_partition(0);
  // One attempt at 0 fails while its copy runs: counted, not pending again.
  EXPECT_FALSE(book.partition_failed(0, true));
  EXPECT_EQ(book.partition_attempts(0), 1u);
  EXPECT_FALSE(book.partitions_pending());
  EXPECT_TRUE(book.partition_done(0)) << "the first to finish is kept";
  EXPECT_FALSE(book.partition_done(0)) << "a second finish (the loser's) is dropped";
  EXPECT_FALSE(book.reduce_finished()) << "partition 1 is not done: counted once";
  EXPECT_TRUE(book.partition_done(1));
  EXPECT_TRUE(book.reduce_finished());
}

TEST(TaskBookTest, TheMediansAreOfTheLatestTimesOnly) {
  // A long run keeps kTimesKept times of each kind, not one per task: the
  // latest (1024 slow chunks, then 1024 fast ones: the median is fast).
  TaskBook book(3, 1, 3);
  book.add(chunk(0));
  for (std::size_t i = 0; i < TaskBook::kTimesKept; ++i) book.chunk_took(10);
  EXPECT_FALSE(book.chunk_straggles(0, 50));
  for (std::size_t i = 0; i < TaskBook::kTimesKept; ++i) book.chunk_took(0.1);
  EXPECT_TRUE(book.chunk_straggles(0, 2)) << "the slow times are forgotten";
}

// ---- speculative map races --------------------------------------------------

TEST(MapRacesTest, TheFirstAttemptToFlushTheWholeGroupWinsAndTheOthersLose) {
  MapRaces races;
  EXPECT_FALSE(races.flushed(10, std::vector<std::uint32_t>{1}).held) << "not racing: commit";
  // Worker 10 straggles owing chunks 3 and 5; worker 20 copies them.
  EXPECT_EQ(races.copy(10, {5, 3, 5}, 20), (std::vector<std::uint32_t>{3, 5}));
  EXPECT_TRUE(races.racing(10));
  EXPECT_TRUE(races.racing(20));
  EXPECT_EQ(races.rivals(10), (std::vector<pid_t>{20}));
  EXPECT_THROW(races.copy(30, {7}, 20), std::logic_error) << "a copy that races already";
  // The copy flushes 3 (its table outgrew its share), the original 5 and 3.
  MapRaces::Outcome o = races.flushed(20, std::vector<std::uint32_t>{3});
  EXPECT_TRUE(o.held);
  EXPECT_FALSE(o.won) << "5 is not flushed yet";
  o = races.flushed(10, std::vector<std::uint32_t>{5});
  EXPECT_TRUE(o.held);
  EXPECT_FALSE(o.won);
  o = races.flushed(10, std::vector<std::uint32_t>{3, 9});  // 9: taken unannounced
  EXPECT_TRUE(o.held);
  EXPECT_TRUE(o.won) << "the original flushed the whole group first";
  EXPECT_EQ(o.losers, (std::vector<pid_t>{20}));
  EXPECT_EQ(races.races(), 0u);
  EXPECT_FALSE(races.racing(20)) << "the race is over: the loser's late flush is its own";
}

TEST(MapRacesTest, ACopyOfACopyJoinsTheRaceAndTheLastAttemptLeftEndsIt) {
  MapRaces races;
  races.copy(10, {1, 2}, 20);
  // The copy straggles too: a third attempt joins the same race, with the
  // same group whatever the copy owes.
  EXPECT_EQ(races.copy(20, {2}, 30), (std::vector<std::uint32_t>{1, 2}));
  EXPECT_EQ(races.rivals(30), (std::vector<pid_t>{10, 20}));
  races.ended(10);  // the original died
  EXPECT_EQ(races.rivals(30), (std::vector<pid_t>{20}));
  MapRaces::Outcome o = races.flushed(30, std::vector<std::uint32_t>{1, 2});
  EXPECT_TRUE(o.won);
  EXPECT_EQ(o.losers, (std::vector<pid_t>{20}));
  races.copy(40, {4}, 50);
  races.ended(50);
  races.ended(40);
  EXPECT_EQ(races.races(), 0u) << "no attempt left: its chunks are mapped again as lost ones";
  EXPECT_THROW(races.copy(60, {}, 70), std::logic_error) << "a copy of nothing";
}

// ---- the splitter ----------------------------------------------------------

// A job that allows cuts only after a space or a newline, and counts lines.
class SpaceJob : public mr::Job {
 public:
  explicit SpaceJob(bool lines) : lines_(lines) {}
  std::string_view name() const override { return "space"; }
  std::size_t split_point(std::string_view data, std::size_t near) const override {
    for (std::size_t i = near; i < data.size(); ++i)
      if (data[i - 1] == ' ' || data[i - 1] == '\n') return i;
    return data.size();
  }
  bool wants_line_numbers() const override { return lines_; }
  std::unique_ptr<mr::WorkerJob> start_worker(mr::WorkerOrigin) const override { return nullptr; }
  std::uint64_t write_output(const std::vector<std::string_view>&, const mr::OutputOptions&,
                             std::FILE*) const override {
    return 0;
  }

 private:
  bool lines_;
};

class SplitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mr-splitter-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (writer_.joinable()) writer_.join();
    fs::remove_all(dir_);
  }
  std::string file(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  // A stream input: `text` written into a pipe by a thread.
  mr::Inputs pipe_stream(const std::string& text) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    mr::UniqueFd read_end(fds[0]);
    writer_ = std::thread([text, write_end = mr::UniqueFd(fds[1])]() mutable {
      std::size_t at = 0;
      while (at < text.size()) {
        ssize_t w = ::write(write_end.get(), text.data() + at, text.size() - at);
        if (w <= 0) break;
        at += static_cast<std::size_t>(w);
      }
    });
    return mr::open_inputs({"/proc/self/fd/" + std::to_string(read_end.get())}, {});
  }
  fs::path dir_;
  std::thread writer_;
};

// "w0 w1 ... wN" with a newline every seventh word.
std::string words(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {  // appended piece by piece: g++ 12 -Wrestrict misfires on a + b + c
    s += 'w';
    s += std::to_string(i);
    s += i % 7 == 6 ? '\n' : ' ';
  }
  return s;
}

TEST_F(SplitterTest, CutsMappedInputsOnlyWhereTheJobAllowsAndCoversEveryByte) {
  const std::string a = words(300), b = words(40);
  mr::Inputs inputs = mr::open_inputs({file("a.txt", a), file("b.txt", b)}, {});
  SpaceJob job(/*lines=*/true);
  mr::detail::Splitter splitter(job, inputs, 64, nullptr);
  std::vector<std::string> got(2);
  std::uint64_t expected_line[2] = {1, 1};
  std::uint32_t n = 0;
  while (auto t = splitter.next(n)) {
    EXPECT_EQ(t->chunk, n++);
    EXPECT_EQ(t->slot, -1);
    ASSERT_LT(t->input, 2u);
    const std::string& text = t->input == 0 ? a : b;
    EXPECT_EQ(t->offset, got[t->input].size()) << "chunks follow each other";
    std::string piece = text.substr(t->offset, t->length);
    // Every cut is at a separator (or the input's end), never inside a word,
    // and no chunk is much larger than the chunk size.
    EXPECT_TRUE(piece.back() == ' ' || piece.back() == '\n') << piece;
    EXPECT_LE(piece.size(), 64u + 8u);
    EXPECT_EQ(t->first_line, expected_line[t->input]);
    expected_line[t->input] += std::count(piece.begin(), piece.end(), '\n');
    got[t->input] += piece;
  }
  EXPECT_EQ(got[0], a);
  EXPECT_EQ(got[1], b);
  EXPECT_TRUE(splitter.exhausted());
  EXPECT_EQ(splitter.bytes(), a.size() + b.size());
  EXPECT_GT(n, a.size() / 64);
}

TEST_F(SplitterTest, StreamChunksWaitForFreeSlotsAndCarryTheRestOver) {
  const std::string text = words(400);
  mr::Inputs inputs = pipe_stream(text);
  ASSERT_TRUE(inputs[0].streamed());
  SpaceJob job(/*lines=*/false);
  mr::detail::StreamSlots slots(2, 100, /*memfd=*/false);
  mr::detail::Splitter splitter(job, inputs, 100, &slots);

  std::string got;
  std::uint32_t n = 0;
  std::uint64_t last_ticket = 0;
  std::vector<int> held;
  for (;;) {
    std::optional<ChunkTask> t = splitter.next(n);
    if (!t) {
      if (splitter.exhausted()) break;
      // Both slots hold uncommitted chunks: the splitter waits for one.
      ASSERT_TRUE(splitter.out_of_slots());
      ASSERT_EQ(held.size(), 2u);
      splitter.release_slot(held.front());
      EXPECT_EQ(slots.header(static_cast<std::size_t>(held.front()))->claim.load(), 0u);
      held.erase(held.begin());
      continue;
    }
    ++n;
    ASSERT_GE(t->slot, 0);
    EXPECT_GT(t->ticket, last_ticket) << "every stream chunk has a fresh ticket";
    last_ticket = t->ticket;
    EXPECT_EQ(slots.header(static_cast<std::size_t>(t->slot))->claim.load(), t->ticket);
    EXPECT_EQ(t->offset, got.size());
    std::string piece(slots.data(static_cast<std::size_t>(t->slot)), t->length);
    EXPECT_LE(piece.size(), 100u);
    EXPECT_TRUE(piece.back() == ' ' || piece.back() == '\n') << piece;
    got += piece;
    held.push_back(t->slot);
  }
  EXPECT_EQ(got, text);
  EXPECT_EQ(splitter.bytes(), text.size());
  EXPECT_GT(splitter.fresh_ticket(), last_ticket);
}

// A stream's length is unknown in advance: its chunks grow as it goes on
// (twice as large every kStreamChunksPerSize chunks, up to the slots' size),
// so that the master's records stay few however long it is.
TEST_F(SplitterTest, StreamChunksGrowAsTheStreamGoesOnUpToTheSlotSize) {
  const std::string text = words(25'000);  // about 160 KB
  mr::Inputs inputs = pipe_stream(text);
  SpaceJob job(/*lines=*/false);
  mr::detail::StreamSlots slots(2, 100, /*memfd=*/false);
  mr::detail::Splitter splitter(job, inputs, 32, &slots);
  constexpr auto kPer = mr::detail::Splitter::kStreamChunksPerSize;
  std::string got;
  std::vector<std::uint64_t> longest(4, 0);  // per kPer chunks
  std::uint32_t n = 0;
  while (std::optional<ChunkTask> t = splitter.next(n)) {
    got.append(slots.data(static_cast<std::size_t>(t->slot)), t->length);
    std::uint64_t& l = longest[std::min<std::size_t>(n / kPer, 3)];
    l = std::max(l, t->length);
    splitter.release_slot(t->slot);
    ++n;
  }
  ASSERT_TRUE(splitter.exhausted());
  EXPECT_EQ(got, text);
  EXPECT_LE(longest[0], 32u) << "--chunk-size for the first chunks";
  EXPECT_GT(longest[1], 32u);
  EXPECT_LE(longest[1], 64u) << "then twice that";
  EXPECT_GT(longest[2], 64u);
  EXPECT_LE(longest[3], 100u) << "never more than a slot";
  EXPECT_EQ(splitter.stream_chunk_bytes(), 100u);
  EXPECT_LT(n, text.size() / 32 * 3 / 4) << "fewer chunks than at a fixed --chunk-size";
}

TEST_F(SplitterTest, StreamRecordLongerThanASlotIsAJobErrorNamingTheInput) {
  const std::string text(300, 'x');  // no separator at all
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  mr::UniqueFd read_end(fds[0]), write_end(fds[1]);
  ASSERT_EQ(::write(write_end.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  write_end.reset();
  const std::string name = "/proc/self/fd/" + std::to_string(read_end.get());
  mr::Inputs inputs = mr::open_inputs({name}, {});
  read_end.reset();
  SpaceJob job(false);
  mr::detail::StreamSlots slots(2, 100, false);
  mr::detail::Splitter splitter(job, inputs, 100, &slots);
  try {
    splitter.next(0);
    FAIL() << "no error";
  } catch (const mr::JobError& e) {
    EXPECT_NE(std::string(e.what()).find("'" + name + "' has a record longer than --chunk-size"),
              std::string::npos)
        << e.what();
  }
}

// ---- the shuffle -----------------------------------------------------------

TEST(ShuffleTest, ArenaHandsOutAlignedRunsUntilItIsFull) {
  mr::detail::Arena arena(256, /*memfd=*/false);
  auto a = arena.reserve(10);
  auto b = arena.reserve(100);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->offset, 0u);
  EXPECT_EQ(a->length, 10u);
  EXPECT_EQ(b->offset, 64u) << "runs start on 64-byte boundaries";
  std::memcpy(arena.at(*b).data(), "hello", 5);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(arena.at(*b).data()), 5), "hello");
  EXPECT_FALSE(arena.reserve(100)) << "64 + 128 + 128 > 256: full";
  EXPECT_EQ(arena.used(), 256u);
  EXPECT_TRUE(arena.fire_fault(2));
  EXPECT_TRUE(arena.fire_fault(2));
  EXPECT_FALSE(arena.fire_fault(2)) << "only the first `times` calls fire";
}

TEST(ShuffleTest, SpilledRunsComeBackByteForByte) {
  std::string dir_path;
  {
    mr::detail::SpillDir dir = mr::detail::SpillDir::make();
    ASSERT_FALSE(dir.path().empty()) << dir.error();
    dir_path = dir.path();
    std::string one(100'000, 'a'), two = "short", empty;
    for (std::size_t i = 0; i < one.size(); i += 7) one[i] = static_cast<char>('a' + i % 26);
    std::span<std::byte> parts[] = {{reinterpret_cast<std::byte*>(one.data()), one.size()},
                                    {reinterpret_cast<std::byte*>(empty.data()), 0},
                                    {reinterpret_cast<std::byte*>(two.data()), two.size()}};
    std::vector<mr::detail::SpillRun> runs = mr::detail::spill(dir.path(), parts);
    ASSERT_EQ(runs.size(), 3u);
    EXPECT_EQ(runs[1].length, 0u) << "an empty part takes no frame";
    EXPECT_LT(runs[0].length, one.size()) << "compressed";
    EXPECT_EQ(mr::detail::unspill(runs[0]), one);
    EXPECT_EQ(mr::detail::unspill(runs[2]), two);
    EXPECT_EQ(fs::status(dir.path()).permissions() & fs::perms::all, fs::perms::owner_all);
    // A run whose file was cut short is an error, not wrong data.
    fs::resize_file(runs[2].path, runs[2].offset + 1);
    EXPECT_THROW(mr::detail::unspill(runs[2]), std::runtime_error);
    // No folder (the master could make none): an error, no file anywhere.
    EXPECT_THROW(mr::detail::spill("", parts), std::runtime_error);
  }
  EXPECT_FALSE(fs::exists(dir_path)) << "the SpillDir removes its folder with its files";
}

}  // namespace
