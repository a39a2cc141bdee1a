// The typed jobs' record codec (mr/job_api/typed_record_codec.h), in this
// process: a map task's run read as streaming records, runs built back from
// records (what the reducer reads), the combiner merging equal keys in
// make_run, and fields that are not a form of the job's types refused.
#include "mr/job_api/typed_record_codec.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Word -> count, with a combiner.
struct Counts : mr::MapReduceJob<std::string, std::int64_t> {
  void map(std::string_view chunk, Context& ctx) {
    std::size_t start = 0;
    while (start < chunk.size()) {
      std::size_t end = chunk.find(' ', start);
      if (end == std::string_view::npos) end = chunk.size();
      if (end > start) ctx.emit(std::string(chunk.substr(start, end - start)), 1);
      start = end + 1;
    }
  }
  std::int64_t combine(std::int64_t a, std::int64_t b) const { return a + b; }
  void reduce(const std::string& k, std::span<const std::int64_t> vs, ReduceContext& ctx) {
    std::int64_t n = 0;
    for (auto v : vs) n += v;
    ctx.emit(std::string(k), std::move(n));
  }
};

// Integer keys, list values, no combiner.
struct Lists : mr::MapReduceJob<std::uint32_t, std::vector<std::string>> {
  void map(std::string_view chunk, Context& ctx) {
    ctx.emit(static_cast<std::uint32_t>(chunk.size()), {std::string(chunk)});
  }
};

Pairs read_all(const mr::RecordCodec& codec, std::string_view run) {
  Pairs out;
  codec.read_run(run, [&](const mr::RecordView& r) { out.emplace_back(r.key, r.value); });
  return out;
}

std::string map_run(mr::WorkerJob& worker, std::string_view text) {
  auto task = worker.make_map_task();
  task->map(text, mr::ChunkInfo{});
  std::string run(task->partition_sizes(1)[0], '\0');
  const std::span<std::byte> part(reinterpret_cast<std::byte*>(run.data()), run.size());
  task->write_partitions(1, std::span(&part, 1));
  return run;
}

TEST(RecordCodecTest, ReadsAMapRunAsDecimalCountsAndBuildsRunsTheReducerReads) {
  auto job = mr::make_job<Counts>("counts");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto codec = worker->make_record_codec();
  ASSERT_NE(codec, nullptr);
  Pairs records = read_all(*codec, map_run(*worker, "b a b c b"));
  std::sort(records.begin(), records.end());
  EXPECT_EQ(records, (Pairs{{"a", "1"}, {"b", "3"}, {"c", "1"}}));

  // A run from records, without combining, holds every record; the reducer
  // sums them.
  const std::vector<mr::RecordView> in = {{"x", "2"}, {"y", "-5"}, {"x", "40"}};
  const std::string run = codec->make_run(in, false);
  EXPECT_EQ(read_all(*codec, run), (Pairs{{"x", "2"}, {"y", "-5"}, {"x", "40"}}));
  auto reduce = worker->make_reduce_task();
  reduce->add_run(run);
  const std::string out = reduce->finish();
  EXPECT_EQ(reduce->keys(), 2u);
  EXPECT_EQ(read_all(*codec, out), (Pairs{{"x", "42"}, {"y", "-5"}}));
}

TEST(RecordCodecTest, MakeRunWithCombineMergesEqualKeysInFirstSeenOrder) {
  auto job = mr::make_job<Counts>("counts");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto codec = worker->make_record_codec();
  const std::vector<mr::RecordView> in = {
      {"z", "1"}, {"a", "2"}, {"z", "3"}, {"a", "4"}, {"m", "5"}};
  EXPECT_EQ(read_all(*codec, codec->make_run(in, true)),
            (Pairs{{"z", "4"}, {"a", "6"}, {"m", "5"}}));
}

TEST(RecordCodecTest, OtherTypesTravelAsTheirSerializationAndAJobWithoutCombinerKeepsAll) {
  auto job = mr::make_job<Lists>("lists");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto codec = worker->make_record_codec();
  const std::string value = mr::to_bytes(std::vector<std::string>{"a\tb"});
  const std::vector<mr::RecordView> in = {{"3", value}, {"3", value}};
  const Pairs out = read_all(*codec, codec->make_run(in, true));
  EXPECT_EQ(out, (Pairs{{"3", value}, {"3", value}}));
  EXPECT_EQ(read_all(*codec, map_run(*worker, "a\tb")), (Pairs{{"3", value}}));
}

TEST(RecordCodecTest, RefusesFieldsThatAreNotFormsOfTheJobsTypes) {
  auto job = mr::make_job<Lists>("lists");
  auto worker = job->start_worker(mr::WorkerOrigin::kMadeHere);
  auto codec = worker->make_record_codec();
  const std::string value = mr::to_bytes(std::vector<std::string>{"x"});
  for (std::string_view key : {"", "-1", "4294967296", "12a", " 1", "0x10"}) {
    const std::vector<mr::RecordView> in = {{key, value}};
    EXPECT_THROW(codec->make_run(in, false), std::invalid_argument) << key;
  }
  for (const std::string& bad : {value.substr(0, value.size() - 1), value + "x"}) {
    const std::vector<mr::RecordView> in = {{"1", bad}};  // truncated, bytes left over
    EXPECT_THROW(codec->make_run(in, false), std::invalid_argument);
  }
}

}  // namespace
