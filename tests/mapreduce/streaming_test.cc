// Hadoop Streaming's line encoding and tasks (mr/mapreduce/streaming.h), in
// this process: the escape round-trips every byte and keeps tab, newline and
// carriage return out of a field; malformed escapes are refused; the tasks
// run the built-in wordcount from memory streams; a byte-level job without
// a record codec is refused before any input is read.
#include "mr/mapreduce/streaming.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "wordcount.h"

namespace {

std::string escaped(std::string_view s) {
  std::string out;
  mr::append_escaped(out, s);
  return out;
}

TEST(StreamingEscapeTest, FormsOfEachKindOfByte) {
  EXPECT_EQ(escaped("a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
  EXPECT_EQ(escaped(std::string("\0\x01\x1f\x7f", 4)), "\\x00\\x01\\x1f\\x7f");
  EXPECT_EQ(escaped("caf\xc3\xa9 \xe4\xb8\xad"), "caf\xc3\xa9 \xe4\xb8\xad");  // UTF-8 stays
  EXPECT_EQ(escaped("\xff\xc3(\xe4\xb8"), "\\xff\\xc3(\\xe4\\xb8");            // not UTF-8: escaped
}

TEST(StreamingEscapeTest, RoundTripsRandomBytesAndKeepsSeparatorsOut) {
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 8 ? rng() % 256 : "\t\n\r\\x"[rng() % 5]);
    const std::string e = escaped(s);
    EXPECT_EQ(e.find_first_of("\t\n\r"), std::string::npos);
    std::string back, error;
    ASSERT_TRUE(mr::append_unescaped(back, e, error)) << error;
    EXPECT_EQ(back, s);
  }
}

TEST(StreamingEscapeTest, RefusesMalformedEscapes) {
  for (std::string_view bad : {"a\\", "\\q", "\\x", "\\x4", "\\xg0", "a\rb"}) {
    std::string out, error;
    EXPECT_FALSE(mr::append_unescaped(out, bad, error)) << bad;
    EXPECT_FALSE(error.empty());
  }
  std::string out, error;
  EXPECT_TRUE(mr::append_unescaped(out, "\\x4A\\x4a", error));
  EXPECT_EQ(out, "JJ");
}

// A memory stream with `text` to read, or an empty one to write.
struct Stream {
  std::string input;  // what fmemopen reads
  char* data = nullptr;
  std::size_t size = 0;
  std::FILE* file = nullptr;
  explicit Stream(std::string text = "") : input(std::move(text)) {
    if (input.empty()) {
      file = ::open_memstream(&data, &size);
    } else {
      file = ::fmemopen(input.data(), input.size(), "r");
    }
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (file) std::fclose(file);
    std::free(data);
  }
  std::string text() {
    std::fflush(file);
    return std::string(data, size);
  }
};

TEST(StreamingTaskTest, WordcountMapCombineReduceInMemory) {
  mr::WordCountJob job{mr::WordCountOptions{}};
  const std::string text = "b a b\nc a b\n";
  Stream in(text), mapped, report;
  mr::StreamingOptions options;
  options.chunk_size = 2;  // several chunks, cut between words
  mr::streaming_map(job, options, in.file, mapped.file, report.file);
  std::vector<std::string> lines;
  std::string all = mapped.text();
  for (std::size_t p = 0; p < all.size();) {
    const std::size_t nl = all.find('\n', p);
    lines.push_back(all.substr(p, nl - p + 1));
    p = nl + 1;
  }
  std::sort(lines.begin(), lines.end());
  std::string sorted;
  for (const auto& l : lines) sorted += l;
  EXPECT_EQ(sorted, "a\t2\nb\t3\nc\t1\n");
  EXPECT_NE(report.text().find("reporter:counter:mapreduce,map input records,6\n"),
            std::string::npos)
      << report.text();

  Stream combine_in("a\t2\na\t5\nb\t3\nc\t1\nc\t1\n"), combined, report2;
  mr::streaming_combine(job, options, combine_in.file, combined.file, report2.file);
  EXPECT_EQ(combined.text(), "a\t7\nb\t3\nc\t2\n");

  Stream reduce_in("a\t7\nb\t3\nc\t1\nc\t1\n"), reduced, report3;
  options.memory = 1;  // a batch per key
  mr::streaming_reduce(job, options, reduce_in.file, reduced.file, report3.file);
  EXPECT_EQ(reduced.text(), "a\t7\nb\t3\nc\t2\n");  // by count, then word
}

TEST(StreamingTaskTest, BadLinesAreErrorsNamingTheLine) {
  mr::WordCountJob job{mr::WordCountOptions{}};
  Stream in("a\t1\nb\t1\nc\n"), out, report;
  try {
    mr::streaming_reduce(job, mr::StreamingOptions{}, in.file, out.file, report.file);
    FAIL() << "no error";
  } catch (const mr::StreamingInputError& e) {
    EXPECT_EQ(e.line(), 3u);
    EXPECT_STREQ(e.what(), "line 3: no tab between key and value");
  }
}

// A byte-level job whose worker has no record codec.
class NoCodecJob : public mr::Job {
  struct Worker : mr::WorkerJob {
    std::unique_ptr<mr::MapTask> make_map_task() override { return nullptr; }
    std::unique_ptr<mr::ReduceTask> make_reduce_task() override { return nullptr; }
  };

 public:
  std::string_view name() const override { return "nocodec"; }
  std::size_t split_point(std::string_view data, std::size_t) const override { return data.size(); }
  std::unique_ptr<mr::WorkerJob> start_worker(mr::WorkerOrigin) const override {
    return std::make_unique<Worker>();
  }
  std::uint64_t write_output(const std::vector<std::string_view>&, const mr::OutputOptions&,
                             std::FILE*) const override {
    return 0;
  }
};

TEST(StreamingTaskTest, AJobWithoutRecordCodecIsRefusedBeforeReading) {
  NoCodecJob job;
  Stream in("text\n"), out, report;
  EXPECT_THROW(mr::streaming_map(job, mr::StreamingOptions{}, in.file, out.file, report.file),
               mr::NoRecordCodec);
  EXPECT_EQ(std::ftell(in.file), 0);
}

}  // namespace
