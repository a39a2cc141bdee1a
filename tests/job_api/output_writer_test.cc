// The output writer (mr/job_api/output_writer.h): the k-way merge, --top and
// the TSV/CSV/JSON/JSON Lines framing that every job's output goes through.
#include "mr/job_api/output_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace {

// A run of ints in ascending order, one record per call of next().
struct IntCursor {
  std::vector<int> values;
  std::size_t at = 0;
  int current = 0;
  bool next() {
    if (at == values.size()) return false;
    current = values[at++];
    return true;
  }
};

struct IntRecords {
  int appended = 0;
  bool before(const IntCursor& a, const IntCursor& b) const { return a.current < b.current; }
  void csv_header(std::string& line) const { line += "n"; }
  void append(mr::OutputOptions::Format format, const IntCursor& c, std::string& line) {
    ++appended;
    if (format == mr::OutputOptions::Format::kJson)
      line += "{\"n\": " + std::to_string(c.current) + "}";
    else
      line += std::to_string(c.current);
  }
};

std::string write(std::vector<IntCursor> runs, mr::OutputOptions::Format format, std::uint64_t top,
                  std::uint64_t* lines, int* appended = nullptr) {
  char* buf = nullptr;
  std::size_t size = 0;
  std::FILE* out = ::open_memstream(&buf, &size);
  IntRecords records;
  *lines = mr::write_sorted_runs(std::move(runs), records, mr::OutputOptions{format, top}, out);
  std::fclose(out);
  std::string text(buf, size);
  std::free(buf);
  if (appended) *appended = records.appended;
  return text;
}

using Format = mr::OutputOptions::Format;

TEST(OutputWriterTest, MergesSortedRunsAndDropsEmptyOnes) {
  std::uint64_t lines = 0;
  EXPECT_EQ(write({{{1, 4, 9}}, {{}}, {{2, 3}}, {{5}}}, Format::kTsv, 0, &lines),
            "1\n2\n3\n4\n5\n9\n");
  EXPECT_EQ(lines, 6u);
  EXPECT_EQ(write({}, Format::kTsv, 0, &lines), "");
  EXPECT_EQ(lines, 0u);
}

TEST(OutputWriterTest, TopStopsTheMergeAfterNRecords) {
  std::uint64_t lines = 0;
  int appended = 0;
  EXPECT_EQ(write({{{1, 4, 9}}, {{2, 3}}}, Format::kTsv, 3, &lines, &appended), "1\n2\n3\n");
  EXPECT_EQ(lines, 3u);
  EXPECT_EQ(appended, 3) << "records past the top are not even formatted";
}

TEST(OutputWriterTest, FramesCsvWithAHeaderAndJsonAsAnArray) {
  std::uint64_t lines = 0;
  EXPECT_EQ(write({{{2}}, {{1}}}, Format::kCsv, 0, &lines), "n\n1\n2\n");
  EXPECT_EQ(write({{{2}}, {{1}}}, Format::kJson, 0, &lines), "[\n  {\"n\": 1},\n  {\"n\": 2}\n]\n");
  EXPECT_EQ(write({}, Format::kJson, 0, &lines), "[]\n");
  EXPECT_EQ(write({}, Format::kCsv, 0, &lines), "n\n");
}

// JSON Lines: the JSON array's objects, one a line, nothing around them.
TEST(OutputWriterTest, FramesJsonLinesAsOneObjectALine) {
  std::uint64_t lines = 0;
  EXPECT_EQ(write({{{2, 3}}, {{1}}}, Format::kJsonl, 0, &lines),
            "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n");
  EXPECT_EQ(lines, 3u);
  EXPECT_EQ(write({}, Format::kJsonl, 0, &lines), "");
}

// Many runs of uneven lengths (some empty, some ending early) merged into
// more text than one 64 KiB block, in every framing: the same records in
// the same order as one sorted list, the JSON array closed once.
TEST(OutputWriterTest, ManyRunsAcrossBlocksMergeLikeOneSortedList) {
  std::mt19937_64 rng(64);
  std::vector<IntCursor> runs(37);
  std::vector<int> all;
  for (auto& r : runs) {
    for (std::size_t n = rng() % 2000; n > 0; --n)
      r.values.push_back(static_cast<int>(rng() % 100000));
    std::sort(r.values.begin(), r.values.end());
    all.insert(all.end(), r.values.begin(), r.values.end());
  }
  std::sort(all.begin(), all.end());
  std::string tsv, json = "[";
  for (std::size_t i = 0; i < all.size(); ++i) {
    tsv += std::to_string(all[i]) + "\n";
    json += (i ? ",\n  {\"n\": " : "\n  {\"n\": ") + std::to_string(all[i]) + "}";
  }
  json += "\n]\n";
  ASSERT_GT(tsv.size(), 2u * 65536);
  std::uint64_t lines = 0;
  EXPECT_EQ(write(runs, Format::kTsv, 0, &lines), tsv);
  EXPECT_EQ(lines, all.size());
  EXPECT_EQ(write(runs, Format::kCsv, 0, &lines), "n\n" + tsv);
  EXPECT_EQ(write(runs, Format::kJson, 0, &lines), json);
  const std::size_t top = all.size() / 2 + 1;
  std::size_t top_bytes = 0;
  for (std::size_t i = 0; i < top; ++i) top_bytes = tsv.find('\n', top_bytes) + 1;
  EXPECT_EQ(write(runs, Format::kTsv, top, &lines), tsv.substr(0, top_bytes));
  EXPECT_EQ(lines, top);
}

}  // namespace
