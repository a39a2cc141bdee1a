#include "wordcount.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "mr/job_api/output_writer.h"
#include "mr/job_api/text_output.h"
#include "mr/job_api/word_counter.h"
#include "mr/job_api/word_order.h"

namespace mr {
namespace {

// A reducer's sorted output run: records of {u64 count, u32 length, bytes}.
constexpr std::size_t kRecordHeader = 12;

// Writes one record at `at`; returns the end of it.
char* put_record(char* at, std::string_view word, std::uint64_t count) {
  const auto len = static_cast<std::uint32_t>(word.size());
  std::memcpy(at, &count, sizeof count);
  std::memcpy(at + sizeof count, &len, sizeof len);
  std::memcpy(at + kRecordHeader, word.data(), word.size());
  return at + kRecordHeader + word.size();
}

struct RunReader {
  std::string_view rest;
  std::string_view word;
  std::uint64_t count = 0;
  std::uint64_t prefix = 0;  // the word's first 8 bytes, big-endian, zero-padded
  bool next() {
    if (rest.size() < kRecordHeader) return false;
    std::uint32_t len;
    std::memcpy(&count, rest.data(), 8);
    std::memcpy(&len, rest.data() + 8, 4);
    if (rest.size() - kRecordHeader < len)
      throw std::runtime_error("wordcount: corrupt reduce output run");
    word = rest.substr(kRecordHeader, len);
    rest.remove_prefix(kRecordHeader + len);
    prefix = word_prefix(word);
    return true;
  }
};

// True when a's record comes before b's in the output order. Equal counts
// are common (most words of a big vocabulary occur once or twice), so the
// words' prefixes decide before whole words are compared.
bool before(WordCountOptions::SortOrder order, const RunReader& a, const RunReader& b) {
  if (order == WordCountOptions::SortOrder::kCount && a.count != b.count) return a.count > b.count;
  if (a.prefix != b.prefix) return a.prefix < b.prefix;
  return a.word < b.word;  // std::string_view compares bytes as unsigned char
}

// Appends n in decimal.
void append_count(std::string& line, std::uint64_t n) {
  char digits[20];
  line.append(digits, std::to_chars(digits, digits + sizeof digits, n).ptr);
}

class WordCountMap : public MapTask {
 public:
  static constexpr std::size_t kInitialWords = 1 << 14;
  explicit WordCountMap(const TokenizerOptions& t) : tokenizer_(t), counter_(kInitialWords) {}
  void map(std::string_view chunk, const ChunkInfo&) override {
    if (next_words_ > kInitialWords) counter_.reserve(std::exchange(next_words_, 0));
    count_words(chunk, tokenizer_, counter_);
  }
  std::vector<std::size_t> partition_sizes(unsigned partitions) const override {
    return counter_.serialized_sizes(partitions);
  }
  void write_partitions(unsigned partitions, std::span<const std::span<std::byte>> out) override {
    counter_.serialize_partitions(partitions, out);
    for (const auto& buf : out) counters_.records += SerializedWords(buf).total_count();
    counters_.emitted = counters_.records;
    // Release the memory too: the engine flushes when the table outgrows the
    // worker's share of --memory. The next chunk's table starts at half the
    // size this one grew to (reserved when that chunk comes, as often none
    // does): the words to come are about as many as those just flushed, and
    // regrowing from 16 K would rehash and touch fresh pages eight times
    // over. The half was within the budget before the last doubling (if
    // not, the next flush comes after one chunk and halves it again).
    next_words_ = counter_.size() / 2;
    counter_ = WordCounter(kInitialWords);
  }
  std::size_t memory_bytes() const override { return counter_.memory_bytes(); }
  TaskCounters take_counters() override { return std::exchange(counters_, {}); }

 private:
  TokenizerOptions tokenizer_;
  WordCounter counter_;
  std::size_t next_words_ = 0;  // words to reserve before the next chunk
  TaskCounters counters_;
};

// What a worker's reduce tasks reuse, one partition after the other: the
// merge table and the sorter keep their memory, so a worker touches fresh
// pages for them once, not once per partition.
struct ReduceBuffers {
  WordCounter table;
  WordSorter sorter;
};

class WordCountReduce : public ReduceTask {
 public:
  WordCountReduce(const WordCountOptions& o, ReduceBuffers& buffers)
      : options_(o), buffers_(buffers) {}
  void add_run(std::string_view run) override { runs_.push_back(run); }
  std::string finish() override {
    WordSorter& sorter = buffers_.sorter;
    sorter.clear();
    if (runs_.size() == 1) {
      // One run is one map table's partition: its words are distinct, so
      // they need no table (its memory, its page faults, a probe per word).
      const SerializedWords run(as_bytes(runs_.front()));
      sorter.reserve(run.size());
      run.for_each([&](std::string_view w, std::uint64_t n) {
        if (n == 0) throw std::invalid_argument("serialized words: record with a zero count");
        sorter.add(w, n);
      });
    } else {
      // Size the table for the largest run first: merging a run that comes
      // out of a bigger table, in its slot order, into a smaller
      // linear-probing table piles the words into long clusters (quadratic
      // time). Sizing for the sum of all runs would overshoot the distinct
      // words many times when the runs overlap (spills), breaking the memory
      // budget.
      WordCounter& table = buffers_.table;
      table.clear();
      std::size_t largest = 0;
      for (auto run : runs_) largest = std::max(largest, SerializedWords(as_bytes(run)).size());
      table.reserve(largest);
      for (auto run : runs_) table.merge_serialized(as_bytes(run));
      sorter.reserve(table.size());
      table.for_each([&](std::string_view w, std::uint64_t n) { sorter.add(w, n); });
    }
    keys_ = sorter.size();
    const auto sorted = sorter.sort(
        options_.sort == WordCountOptions::SortOrder::kCount ? WordOrder::kCount : WordOrder::kWord,
        options_.top);
    // The run at its final size at once: growing it would copy it again.
    std::size_t bytes = 0;
    for (const auto& e : sorted) bytes += kRecordHeader + e.size;
    std::string out(bytes, '\0');
    char* at = out.data();
    // The words' bytes lie in the table or the run in hash order: fetch
    // them ahead, so that the misses overlap.
    constexpr std::size_t kAhead = 16;
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      if (i + kAhead < sorted.size()) __builtin_prefetch(sorted[i + kAhead].data);
      at = put_record(at, sorted[i].word(), sorted[i].count);
    }
    return out;
  }
  std::uint64_t keys() const override { return keys_; }

 private:
  static std::span<const std::byte> as_bytes(std::string_view run) {
    return std::as_bytes(std::span(run.data(), run.size()));
  }
  WordCountOptions options_;
  ReduceBuffers& buffers_;
  std::vector<std::string_view> runs_;
  std::uint64_t keys_ = 0;
};

}  // namespace

std::size_t WordCountJob::split_point(std::string_view data, std::size_t near) const {
  return safe_split_point(data, near, options_.tokenizer);
}

WordCountJob::WordCountJob(WordCountOptions options) : options_(options) {
  // Build the Unicode tables once in the master, before the workers are
  // forked, instead of once per worker.
  warm_up_unicode_tables();
}

namespace {

// Streaming records of wordcount's map runs (WordCounter's flat tables):
// key the word's bytes, value its count in decimal. A run is a table, so
// make_run always sums the counts of equal words (the combiner).
class WordCountCodec : public RecordCodec {
 public:
  void read_run(std::string_view run,
                const std::function<void(const RecordView&)>& each) const override {
    std::string count;
    SerializedWords(std::as_bytes(std::span(run.data(), run.size())))
        .for_each([&](std::string_view word, std::uint64_t n) {
          count = std::to_string(n);
          each(RecordView{word, count});
        });
  }
  std::string make_run(std::span<const RecordView> records, bool) override {
    WordCounter counter(records.size());
    for (const RecordView& r : records) {
      std::uint64_t n = 0;
      auto [end, ec] = std::from_chars(r.value.data(), r.value.data() + r.value.size(), n);
      if (ec != std::errc() || end != r.value.data() + r.value.size() || n == 0)
        throw std::invalid_argument("value '" + std::string(r.value.substr(0, 40)) +
                                    "' is not a positive decimal count");
      counter.add(r.key, n);
    }
    std::string run(counter.serialized_sizes(1)[0], '\0');
    const std::span<std::byte> out(reinterpret_cast<std::byte*>(run.data()), run.size());
    counter.serialize_partitions(1, std::span(&out, 1));
    return run;
  }
};

// A worker of wordcount: its state is the reduce tasks' buffers.
class WordCountWorker : public WorkerJob {
 public:
  explicit WordCountWorker(const WordCountOptions& o) : options_(o) {}
  std::unique_ptr<MapTask> make_map_task() override {
    return std::make_unique<WordCountMap>(options_.tokenizer);
  }
  // Reduce tasks run one at a time in a worker, so they share its buffers.
  std::unique_ptr<ReduceTask> make_reduce_task() override {
    return std::make_unique<WordCountReduce>(options_, reduce_buffers_);
  }
  std::unique_ptr<RecordCodec> make_record_codec() override {
    return std::make_unique<WordCountCodec>();
  }

 private:
  WordCountOptions options_;
  ReduceBuffers reduce_buffers_;
};

}  // namespace

std::unique_ptr<WorkerJob> WordCountJob::start_worker(WorkerOrigin) const {
  return std::make_unique<WordCountWorker>(options_);
}

std::uint64_t WordCountJob::write_output(const std::vector<std::string_view>& runs,
                                         const OutputOptions& output, std::FILE* out) const {
  // word<TAB>count, word,count or {"word": ..., "count": ...}.
  struct Records {
    WordCountOptions::SortOrder order;
    bool before(const RunReader& a, const RunReader& b) const { return mr::before(order, a, b); }
    void csv_header(std::string& line) const { line += "word,count"; }
    void append(OutputOptions::Format format, const RunReader& r, std::string& line) const {
      switch (format) {
        case OutputOptions::Format::kTsv:
          line += r.word;
          line += '\t';
          append_count(line, r.count);
          break;
        case OutputOptions::Format::kCsv:
          append_csv_field(line, r.word);
          line += ',';
          append_count(line, r.count);
          break;
        case OutputOptions::Format::kJson:
        case OutputOptions::Format::kJsonl:  // the same object (write_sorted_runs passes kJson)
          line += "{\"word\": ";
          append_json_string(line, r.word);
          line += ", \"count\": ";
          append_count(line, r.count);
          line += '}';
          break;
      }
    }
  } records{options_.sort};
  std::vector<RunReader> cursors;
  cursors.reserve(runs.size());
  for (auto r : runs) cursors.push_back(RunReader{r, {}, 0});
  OutputOptions framing = output;
  if (!framing.top) framing.top = options_.top;  // the job's top option is the same setting
  return write_sorted_runs(std::move(cursors), records, framing, out);
}

std::vector<OptionSpec> wordcount_option_specs() {
  return {{"tokenizer", "unicode or whitespace", "unicode"},
          {"keep_case", "do not lowercase words", "0"},
          {"normalize", "Unicode normal form of each word: none, nfc or nfkc", "none"},
          {"sort", "count or word", "count"},
          {"top", "keep only the first N results", "0"}};
}

WordCountOptions wordcount_options(const JobOptions& options) {
  options.check_known(wordcount_option_specs());
  WordCountOptions wo;
  wo.tokenizer.kind = parse_tokenizer_kind(options.get("tokenizer", "unicode"));
  wo.tokenizer.keep_case = options.get_bool("keep_case", false);
  wo.tokenizer.normalize = parse_normalization(options.get("normalize", "none"));
  const std::string sort = options.get("sort", "count");
  if (sort == "count") {
    wo.sort = WordCountOptions::SortOrder::kCount;
  } else if (sort == "word") {
    wo.sort = WordCountOptions::SortOrder::kWord;
  } else {
    throw std::invalid_argument("invalid --sort '" + sort + "' (use count or word)");
  }
  const long long top = options.get_int("top", 0);
  if (top < 0) throw std::invalid_argument("--top must not be negative");
  wo.top = static_cast<std::uint64_t>(top);
  return wo;
}

WordCountJob::WordCountJob(const JobOptions& options) : WordCountJob(wordcount_options(options)) {}

std::vector<OptionSpec> WordCountJob::options() { return wordcount_option_specs(); }

MR_JOB_INFO(wordcount_job_info, WordCountJob, "wordcount",
            "count words, most frequent first (built in; also 'mapreduce wordcount')")

}  // namespace mr
