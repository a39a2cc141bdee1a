// Tests of the typed job API's map-side table (mr::make_job's MapTask),
// run in this process: the in-place combiner combine_into is used (and
// preferred to combine), its merged values reach the partition runs and the
// reducer, and the table's memory accounting sees values that grow in place.
#include "mr/job_api/typed_job.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using Numbers = std::vector<std::uint64_t>;

int g_combine_into_calls = 0;
int g_combine_calls = 0;

// Lines "key number": key -> the list of its numbers.
struct Lists : mr::MapReduceJob<std::string, Numbers> {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    auto space = line.find(' ');
    ctx.emit(std::string(line.substr(0, space)),
             Numbers{std::stoull(std::string(line.substr(space + 1)))});
  }
  void combine_into(Numbers& acc, Numbers&& incoming) {
    ++g_combine_into_calls;
    acc.insert(acc.end(), incoming.begin(), incoming.end());
  }
  // Defined too, to check that combine_into wins.
  Numbers combine(const Numbers& a, const Numbers&) const {
    ++g_combine_calls;
    return a;
  }
  void reduce(const std::string& key, std::span<const Numbers> lists, ReduceContext& ctx) {
    Numbers all;
    for (const auto& l : lists) all.insert(all.end(), l.begin(), l.end());
    ctx.emit(std::string(key), std::move(all));
  }
};

// Lines: key -> the list of the lines themselves (values that hold heap
// bytes of their own).
struct TextLists : mr::MapReduceJob<std::string, std::vector<std::string>> {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    ctx.emit("k", std::vector<std::string>{std::string(line)});
  }
  void combine_into(std::vector<std::string>& acc, std::vector<std::string>&& incoming) {
    acc.insert(acc.end(), std::make_move_iterator(incoming.begin()),
               std::make_move_iterator(incoming.end()));
  }
};

// The same job as Lists without any combiner.
struct PlainLists : mr::MapReduceJob<std::string, Numbers> {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    auto space = line.find(' ');
    ctx.emit(std::string(line.substr(0, space)),
             Numbers{std::stoull(std::string(line.substr(space + 1)))});
  }
};

// A map task's runs, one per partition.
std::vector<std::string> runs_of(mr::MapTask& task, unsigned partitions) {
  auto sizes = task.partition_sizes(partitions);
  std::vector<std::string> runs;
  for (auto size : sizes) runs.emplace_back(size, '\0');
  std::vector<std::span<std::byte>> spans;
  for (auto& run : runs) spans.emplace_back(reinterpret_cast<std::byte*>(run.data()), run.size());
  task.write_partitions(partitions, spans);
  return runs;
}

// (key, value) records serialized one after the other (a map task's run,
// a reduce task's result), read back as pairs.
template <class K, class V>
std::vector<std::pair<K, V>> pairs_of(std::string_view bytes) {
  std::vector<std::pair<K, V>> out;
  mr::Reader r(bytes);
  while (!r.at_end()) {
    K k;
    V v;
    mr::load(r, k);
    mr::load(r, v);
    out.emplace_back(std::move(k), std::move(v));
  }
  return out;
}

// The single partition run of a map task, read back as pairs.
template <class K, class V>
std::vector<std::pair<K, V>> single_run(mr::MapTask& task) {
  return pairs_of<K, V>(runs_of(task, 1).at(0));
}

TEST(TypedJobTest, CombineIntoMergesInPlaceAndIsPreferredToCombine) {
  g_combine_into_calls = g_combine_calls = 0;
  auto job = mr::make_job<Lists>("lists");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto map = worker->make_map_task();
  map->map("a 1\nb 2\na 3\n", mr::ChunkInfo{});
  map->map("a 4\nb 5\nc 6\n", mr::ChunkInfo{});
  EXPECT_EQ(g_combine_into_calls, 3);  // a twice, b once
  EXPECT_EQ(g_combine_calls, 0);
  EXPECT_EQ(map->take_counters().emitted, 6u);
  auto pairs = single_run<std::string, Numbers>(*map);
  std::map<std::string, Numbers> got(pairs.begin(), pairs.end());
  EXPECT_EQ(pairs.size(), 3u);  // one pair per key: only the combined path yields that
  EXPECT_EQ(got["a"], (Numbers{1, 3, 4}));
  EXPECT_EQ(got["b"], (Numbers{2, 5}));
  EXPECT_EQ(got["c"], (Numbers{6}));
  EXPECT_EQ(map->memory_bytes(), 0u);  // written out: the table is empty again

  // The reducer sees each map task's merged list as one value.
  auto map2 = worker->make_map_task();
  map2->map("a 7\na 8\n", mr::ChunkInfo{});
  auto sizes = map2->partition_sizes(1);
  std::string run2(sizes.at(0), '\0');
  std::span<std::byte> span(reinterpret_cast<std::byte*>(run2.data()), run2.size());
  map2->write_partitions(1, std::span<const std::span<std::byte>>(&span, 1));
  mr::Writer w;
  mr::save(w, std::string("a"));
  mr::save(w, Numbers{1, 3, 4});
  std::string run1 = std::move(w.buffer());
  auto reduce = worker->make_reduce_task();
  reduce->add_run(run1);
  reduce->add_run(run2);
  std::string out = reduce->finish();
  mr::Reader r(out);
  std::string key;
  Numbers all;
  mr::load(r, key);
  mr::load(r, all);
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(key, "a");
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (Numbers{1, 3, 4, 7, 8}));
}

// Converts to std::string only (not to a view), like std::filesystem::path.
struct Name {
  std::string text;
  operator std::string() const { return text; }  // NOLINT: implicit on purpose
};

// Every way a std::string key may be emitted compiles and lands in the table:
// a view, a literal, an lvalue and an rvalue std::string, a type that only
// converts to std::string.
struct KeyForms : mr::MapReduceJob<std::string, std::uint64_t> {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    std::string copy(line);
    const std::string& ref = copy;
    ctx.emit(line, 1);
    ctx.emit("literal", 1);
    ctx.emit(ref, 1);
    ctx.emit(std::string(line), 1);
    ctx.emit(Name{copy}, 1);
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
};

// Lines as keys, emitted by view (std::string_view: no std::string made
// per line), counted by a combiner.
struct LineCount : mr::MapReduceJob<std::string, std::uint64_t> {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) { ctx.emit(line, 1); }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::string& key, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(key, n);
  }
};

// Lines "key value": the values of a key concatenated by combine, an
// order-sensitive combiner. Keys are emitted as a std::string and by view in
// turn.
struct Concat : mr::MapReduceJob<std::string, std::string> {
  bool by_view = false;
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    auto space = line.find(' ');
    by_view = !by_view;
    if (by_view) {
      ctx.emit(line.substr(0, space), std::string(line.substr(space + 1)));
    } else {
      ctx.emit(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
    }
  }
  std::string combine(const std::string& a, const std::string& b) const { return a + b; }
};

// Lines holding a signed number: how often each occurs.
struct NumberCount : mr::MapReduceJob<std::int64_t, std::uint64_t> {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    ctx.emit(std::stoll(std::string(line)), 1);
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::int64_t& n, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    std::uint64_t total = 0;
    for (auto c : counts) total += c;
    ctx.emit(n, total);
  }
};

// Reduces partition p of every task's runs; the (key, value) results.
template <class K, class V>
std::vector<std::pair<K, V>> reduce_partition(mr::WorkerJob& worker,
                                              const std::vector<std::vector<std::string>>& runs,
                                              unsigned p) {
  auto reduce = worker.make_reduce_task();
  reduce->set_partition(p, static_cast<std::uint32_t>(runs.at(0).size()));
  for (const auto& task_runs : runs) reduce->add_run(task_runs.at(p));
  return pairs_of<K, V>(reduce->finish());
}

// Many distinct string keys (inline ones, long ones, NUL bytes, the empty
// key) from two map tasks, split over three partitions, reach the reducers
// with every count right and each partition's results in key order.
TEST(TypedJobTest, StringKeysEmittedByViewReachTheReducersIntact) {
  using namespace std::string_literals;
  std::map<std::string, std::uint64_t> want;
  std::string chunks[2];
  std::mt19937 rng(11);
  for (int i = 0; i < 40000; ++i) {
    std::string key = std::to_string(rng() % 15000);
    key.resize(key.size() + rng() % 30,
               static_cast<char>(rng() % 3 == 0 ? '\0' : 'a' + rng() % 26));
    chunks[i % 2] += key + "\n";
    ++want[key];
  }
  for (const std::string& odd :
       {""s, "\0"s, "\0\0"s, std::string(16, '\0'), std::string(17, '\0')}) {
    chunks[0] += odd + "\n";
    chunks[1] += odd + "\n";
    want[odd] += 2;
  }
  auto job = mr::make_job<LineCount>("lines");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  std::vector<std::vector<std::string>> runs;
  for (const auto& chunk : chunks) {
    auto map = worker->make_map_task();
    map->map(chunk, mr::ChunkInfo{});
    runs.push_back(runs_of(*map, 3));
  }
  std::map<std::string, std::uint64_t> got;
  for (unsigned p = 0; p < 3; ++p) {
    auto pairs = reduce_partition<std::string, std::uint64_t>(*worker, runs, p);
    EXPECT_TRUE(std::is_sorted(pairs.begin(), pairs.end())) << "partition " << p;
    EXPECT_FALSE(pairs.empty()) << "partition " << p;
    for (auto& [k, n] : pairs) EXPECT_TRUE(got.emplace(k, n).second) << "key in two partitions";
  }
  EXPECT_EQ(got, want);
}

TEST(TypedJobTest, AStringKeyMayBeEmittedInEveryStringForm) {
  auto job = mr::make_job<KeyForms>("forms");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto map = worker->make_map_task();
  map->map("a\nbb\n", mr::ChunkInfo{});
  auto pairs = single_run<std::string, std::uint64_t>(*map);
  using P = std::pair<std::string, std::uint64_t>;
  EXPECT_EQ(pairs, (std::vector<P>{{"a", 4}, {"bb", 4}, {"literal", 2}}));
}

// The map side queues emits to prefetch their slots; a key's values must
// still meet the combiner in the order they were emitted, whichever string
// form emitted them, and for keys too long to queue as well.
TEST(TypedJobTest, ACombinerSeesAKeysValuesInEmitOrder) {
  std::string chunk;
  std::map<std::string, std::string> want;
  for (int i = 0; i < 1000; ++i) {
    // Runs of one key (several queued at once), keys 40 emits apart, and
    // keys of more than 16 bytes among them.
    std::string key = std::to_string(i % 40);
    key = i % 3 == 0 ? "same" : i % 7 == 0 ? "a-key-longer-than-16-bytes" : key.insert(0, 1, 'k');
    const std::string value = std::to_string(i) + ";";
    chunk += key + " " + value + "\n";
    want[key] += value;
  }
  auto job = mr::make_job<Concat>("concat");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto map = worker->make_map_task();
  map->map(chunk, mr::ChunkInfo{});
  auto pairs = single_run<std::string, std::string>(*map);
  EXPECT_EQ((std::map<std::string, std::string>(pairs.begin(), pairs.end())), want);
  EXPECT_EQ(pairs.size(), want.size());
}

// A combiner that throws for one value, and a map that catches what emit
// throws and goes on: the map side's emit queue must stay usable (a flush
// that throws midway empties it; no write past it, no pair added twice).
struct GuardedSum : mr::MapReduceJob<std::string, std::uint64_t> {
  int caught = 0;
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    try {
      ctx.emit(line, line == "bad" ? 0 : 1);
    } catch (const std::domain_error&) {
      ++caught;
    }
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const {
    if (a == 0 || b == 0) throw std::domain_error("a zero count");
    return a + b;
  }
};

TEST(TypedJobTest, AnEmitQueueStaysUsableWhenTheCombinerThrows) {
  std::string chunk;
  for (int i = 0; i < 1000; ++i) chunk += i == 300 ? "bad\nbad\n" : "good\n";
  auto job = mr::make_job<GuardedSum>("guarded");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto map = worker->make_map_task();
  map->map(chunk, mr::ChunkInfo{});
  const auto pairs = single_run<std::string, std::uint64_t>(*map);
  ASSERT_FALSE(pairs.empty());
  ASSERT_EQ(pairs.front().first, "bad");  // the first "bad" went in; the second threw
  EXPECT_EQ(pairs.front().second, 0u);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs.back().first, "good");
  // The queued pairs after the throw in its queue are dropped, never added
  // twice: fewer than the 999 emitted.
  EXPECT_GT(pairs.back().second, 0u);
  EXPECT_LT(pairs.back().second, 999u);
}

// Integral keys go through the flat table too: negative ones included,
// reduced in numeric order.
TEST(TypedJobTest, IntegralKeysAreCombinedAndReducedInNumericOrder) {
  auto job = mr::make_job<NumberCount>("numbers");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  std::vector<std::vector<std::string>> runs;
  for (const char* chunk : {"3\n-5\n3\n0\n-9223372036854775808\n", "-5\n40\n3\n"}) {
    auto map = worker->make_map_task();
    map->map(chunk, mr::ChunkInfo{});
    runs.push_back(runs_of(*map, 1));
  }
  auto pairs = reduce_partition<std::int64_t, std::uint64_t>(*worker, runs, 0);
  using P = std::pair<std::int64_t, std::uint64_t>;
  EXPECT_EQ(pairs, (std::vector<P>{{INT64_MIN, 1}, {-5, 2}, {0, 1}, {3, 3}, {40, 1}}));
}

// A run not in key order (written by hand here; the map side writes sorted
// runs) is still grouped right: a key's values come run by run, each run's
// in its order.
TEST(TypedJobTest, AReducerSortsARunThatIsOutOfOrder) {
  auto job = mr::make_job<Lists>("lists");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  mr::Writer w1;
  for (auto [k, n] : {std::pair{"b", 1}, {"a", 2}, {"b", 3}, {"c", 5}, {"a", 6}}) {
    mr::save(w1, std::string(k));
    mr::save(w1, Numbers{static_cast<std::uint64_t>(n)});
  }
  mr::Writer w2;
  mr::save(w2, std::string("a"));
  mr::save(w2, Numbers{4});
  std::vector<std::vector<std::string>> runs = {{w1.take()}, {w2.take()}};
  auto pairs = reduce_partition<std::string, Numbers>(*worker, runs, 0);
  using P = std::pair<std::string, Numbers>;
  EXPECT_EQ(pairs, (std::vector<P>{{"a", {2, 6, 4}}, {"b", {1, 3}}, {"c", {5}}}));
}

// The memory budget sees every key once map() returns (none left pending),
// and a flushed table starts empty and fills again.
TEST(TypedJobTest, EveryKeyIsWeighedWhenMapReturnsAndAFlushEmptiesTheTable) {
  auto job = mr::make_job<LineCount>("lines");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto map = worker->make_map_task();
  std::string chunk;
  std::size_t want = 0;
  for (int i = 0; i < 37; ++i) {  // not a multiple of the 16 emits held back
    const std::string key = "key" + std::to_string(i);
    chunk += key + "\n" + key + "\n";
    want += sizeof(std::string) + sizeof(std::uint64_t) + 32 + key.size();
  }
  map->map(chunk, mr::ChunkInfo{});
  EXPECT_EQ(map->memory_bytes(), want);
  EXPECT_EQ(map->take_counters().emitted, 74u);
  auto first = single_run<std::string, std::uint64_t>(*map);
  EXPECT_EQ(first.size(), 37u);
  EXPECT_EQ(map->memory_bytes(), 0u);
  map->map("x\nx\n", mr::ChunkInfo{});
  auto second = single_run<std::string, std::uint64_t>(*map);
  using P = std::pair<std::string, std::uint64_t>;
  EXPECT_EQ(second, (std::vector<P>{{"x", 2}}));
}

TEST(TypedJobTest, ValuesGrownInPlaceCountAgainstTheTable) {
  auto job = mr::make_job<Lists>("lists");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto map = worker->make_map_task();
  std::string chunk;
  const int n = 20000;
  for (int i = 0; i < n; ++i) chunk += "k " + std::to_string(i) + "\n";
  map->map(chunk, mr::ChunkInfo{});
  // One key, but its list holds n numbers: at least 8 bytes each.
  EXPECT_GE(map->memory_bytes(), n * sizeof(std::uint64_t));
  EXPECT_LE(map->memory_bytes(), 4 * n * sizeof(std::uint64_t) + 1024);  // not wildly off

  // Without a combiner every pair is weighed: the same input weighs more,
  // but the same order of magnitude.
  auto plain_job = mr::make_job<PlainLists>("plain");
  auto plain_worker = plain_job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto plain = plain_worker->make_map_task();
  plain->map(chunk, mr::ChunkInfo{});
  EXPECT_GE(plain->memory_bytes(), map->memory_bytes());
}

TEST(TypedJobTest, GrowthCountsWhatIncomingElementsHold) {
  auto job = mr::make_job<TextLists>("text");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto map = worker->make_map_task();
  std::string chunk;
  const int n = 2000;
  const std::string line(200, 'x');  // far beyond the small-string buffer
  for (int i = 0; i < n; ++i) chunk += line + "\n";
  map->map(chunk, mr::ChunkInfo{});
  EXPECT_GE(map->memory_bytes(), n * (line.size() + sizeof(std::string)));
  auto pairs = single_run<std::string, std::vector<std::string>>(*map);
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_EQ(pairs[0].second.size(), static_cast<std::size_t>(n));
}

TEST(TypedJobTest, HeapBytesOfCommonTypes) {
  using mr::detail::heap_bytes;
  EXPECT_EQ(heap_bytes(std::uint64_t{7}), 0u);
  EXPECT_EQ(heap_bytes(std::string(100, 'a')), 100u);
  std::vector<std::uint32_t> v;
  v.reserve(10);
  EXPECT_EQ(heap_bytes(v), 10 * sizeof(std::uint32_t));
  std::vector<std::string> vs = {std::string(50, 'a'), std::string(30, 'b')};
  EXPECT_EQ(heap_bytes(vs), vs.capacity() * sizeof(std::string) + 80);
  EXPECT_EQ(heap_bytes(std::pair<std::string, std::uint64_t>(std::string(20, 'c'), 1)), 20u);
  EXPECT_EQ(heap_bytes(std::array<std::uint64_t, 4>{}), 0u);
}

// Counts its setups and teardowns, and checks that map runs on a set-up copy.
int g_setups = 0, g_teardowns = 0;
struct Counted : mr::MapReduceJob<std::string, std::uint64_t> {
  bool set_up = false;
  void setup(const mr::JobOptions&) {
    ++g_setups;
    set_up = true;
  }
  void teardown() { ++g_teardowns; }
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    if (!set_up) throw std::logic_error("map on a copy that was never set up");
    ctx.emit(std::string(line), 1);
  }
};

// The engine says where a worker's Job object came from (ABI 4); the job
// no longer guesses with getpid().
TEST(TypedJobTest, AForkedCopyGetsItsOwnSetupAndStopTearsItDown) {
  g_setups = g_teardowns = 0;
  auto job = mr::make_job<Counted>("counted");
  EXPECT_EQ(g_setups, 1);  // the master's copy
  {
    auto worker = job->start_worker(mr::WorkerOrigin::kCopy);
    EXPECT_EQ(g_setups, 2) << "a copy of the master's job gets its own setup";
    worker->make_map_task()->map("x\n", mr::ChunkInfo{});
    worker->stop();
    EXPECT_EQ(g_teardowns, 1);
  }
  EXPECT_EQ(g_teardowns, 1) << "stop() tore it down; destruction does not again";
  job.reset();
  EXPECT_EQ(g_teardowns, 2) << "the master's copy, at the end";
}

TEST(TypedJobTest, AJobMadeForItsWorkerIsThatWorkersAndTornDownOnce) {
  g_setups = g_teardowns = 0;
  auto job = mr::make_job<Counted>("counted");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  EXPECT_EQ(g_setups, 1) << "the constructor's setup is the worker's";
  worker->make_map_task()->map("x\n", mr::ChunkInfo{});
  worker->stop();
  EXPECT_EQ(g_teardowns, 1);
  worker.reset();
  job.reset();
  EXPECT_EQ(g_teardowns, 1) << "never twice";
}

TEST(TypedJobTest, AWorkerAbandonedAfterAFailedTaskRunsNoTeardownAndLeaksNothing) {
  g_setups = g_teardowns = 0;
  {
    auto job = mr::make_job<Counted>("counted");
    auto copy = job->start_worker(mr::WorkerOrigin::kCopy);
    copy.reset();  // a forked worker's task threw: no stop()
    EXPECT_EQ(g_teardowns, 0);
    auto mine = job->start_worker(mr::WorkerOrigin::kMadeHere);
    auto map = mine->make_map_task();
    mine.reset();  // a spawned worker's task threw
    map.reset();
  }  // the job itself is destroyed, not leaked: still no teardown of the abandoned copy
  EXPECT_EQ(g_setups, 2);
  EXPECT_EQ(g_teardowns, 0);
}

}  // namespace
