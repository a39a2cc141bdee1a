// Hadoop Streaming tasks (see mr/mapreduce/streaming.h).
#include "mr/mapreduce/streaming.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "mr/job_api/record_codec.h"
#include "mr/job_api/utf8.h"
#include "mr/mapreduce/interrupt.h"

namespace mr {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// After a read of `in` came short: true to read again (a signal that is
// not an interrupt broke it), false at the end of the input. Throws
// Interrupted (SIGINT, SIGTERM: the handlers have no SA_RESTART) or the
// read's error.
bool retry_read(std::FILE* in) {
  if (!std::ferror(in)) return false;
  if (interrupted()) throw Interrupted();
  if (errno != EINTR)
    throw std::system_error(errno, std::generic_category(), "read standard input");
  std::clearerr(in);
  return true;
}

// Buffered lines to a FILE*, failures as StreamingOutputError.
class LineWriter {
 public:
  explicit LineWriter(std::FILE* out) : out_(out) {}
  void record(const RecordView& r) {
    append_escaped(buf_, r.key);
    buf_ += '\t';
    append_escaped(buf_, r.value);
    buf_ += '\n';
    ++lines_;
    if (buf_.size() >= kFlushBytes) flush();
  }
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), out_) != buf_.size()) fail();
    buf_.clear();
    if (std::fflush(out_) != 0) fail();
  }
  std::uint64_t lines() const noexcept { return lines_; }

 private:
  static constexpr std::size_t kFlushBytes = 1 << 20;
  [[noreturn]] static void fail() {
    throw StreamingOutputError(std::string("write standard output: ") + std::strerror(errno));
  }
  std::FILE* out_;
  std::string buf_;
  std::uint64_t lines_ = 0;
};

// One `key<TAB>value` line after another, decoded; the fields stay valid
// until the next call.
class LineReader {
 public:
  explicit LineReader(std::FILE* in) : in_(in) {}
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  ~LineReader() { std::free(line_); }

  // False at the end of the input.
  bool next() {
    ssize_t n;
    do {
      errno = 0;
      n = ::getline(&line_, &capacity_, in_);
    } while (n < 0 && retry_read(in_));
    if (n < 0) return false;
    ++number_;
    std::string_view text(line_, static_cast<std::size_t>(n));
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    const std::size_t tab = text.find('\t');
    if (tab == std::string_view::npos)
      throw StreamingInputError(number_, "no tab between key and value");
    key_field_ = text.substr(0, tab);
    const std::string_view value = text.substr(tab + 1);
    if (value.find('\t') != std::string_view::npos)
      throw StreamingInputError(number_, "a raw tab in the value (escape it as \\t)");
    key_.clear();
    value_.clear();
    std::string error;
    if (!append_unescaped(key_, key_field_, error))
      throw StreamingInputError(number_, "key: " + error);
    if (!append_unescaped(value_, value, error))
      throw StreamingInputError(number_, "value: " + error);
    return true;
  }
  std::string_view key_field() const noexcept { return key_field_; }  // as escaped
  std::string_view key() const noexcept { return key_; }
  std::string_view value() const noexcept { return value_; }
  std::uint64_t number() const noexcept { return number_; }

 private:
  std::FILE* in_;
  char* line_ = nullptr;
  std::size_t capacity_ = 0;
  std::uint64_t number_ = 0;
  std::string_view key_field_;
  std::string key_, value_;
};

// Records copied into one arena (views into a growing string would move).
class RecordBatch {
 public:
  void add(std::string_view key, std::string_view value) {
    spans_.push_back({bytes_.size(), key.size(), value.size()});
    bytes_ += key;
    bytes_ += value;
  }
  std::size_t bytes() const noexcept { return bytes_.size() + spans_.size() * sizeof(Span); }
  bool empty() const noexcept { return spans_.empty(); }
  std::size_t size() const noexcept { return spans_.size(); }
  std::vector<RecordView> views() const {
    std::vector<RecordView> v;
    v.reserve(spans_.size());
    const std::string_view all = bytes_;
    for (const Span& s : spans_)
      v.push_back({all.substr(s.offset, s.key), all.substr(s.offset + s.key, s.value)});
    return v;
  }
  void clear() noexcept {
    bytes_.clear();
    spans_.clear();
  }

 private:
  struct Span {
    std::size_t offset, key, value;
  };
  std::string bytes_;
  std::vector<Span> spans_;
};

// A counter name as Hadoop's parser takes it: no comma (it splits the
// line at commas) and no line break.
std::string counter_name(std::string_view name) {
  std::string s(name);
  for (char& c : s) {
    if (c == ',') c = ';';
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

void report_counter(std::FILE* report, std::string_view group, std::string_view name,
                    std::int64_t amount) {
  std::fprintf(report, "reporter:counter:%s,%s,%lld\n", counter_name(group).c_str(),
               counter_name(name).c_str(), static_cast<long long>(amount));
}

void report_user_counters(std::FILE* report, const Job& job,
                          const std::map<std::string, std::int64_t>& user) {
  for (const auto& [name, n] : user) report_counter(report, job.name(), name, n);
}

void add_counters(std::map<std::string, std::int64_t>& sum, TaskCounters c) {
  for (const auto& [name, n] : c.user) sum[name] += n;
}

// One worker of the job and its record codec; stop() is the worker's
// normal end (its teardown).
class StreamingWorker {
 public:
  explicit StreamingWorker(const Job& job)
      : worker_(job.start_worker(WorkerOrigin::kMadeHere)), codec_(worker_->make_record_codec()) {
    if (!codec_)
      throw NoRecordCodec("job '" + std::string(job.name()) +
                          "' cannot run as a streaming task: it is a byte-level job "
                          "without a record codec (WorkerJob::make_record_codec)");
  }
  WorkerJob& worker() noexcept { return *worker_; }
  RecordCodec& codec() noexcept { return *codec_; }
  void stop() {
    codec_.reset();
    worker_->stop();
  }

 private:
  std::unique_ptr<WorkerJob> worker_;
  std::unique_ptr<RecordCodec> codec_;
};

// Writes what `task` holds as lines and empties it.
void flush_map_task(MapTask& task, const RecordCodec& codec, LineWriter& out) {
  std::string run(task.partition_sizes(1).at(0), '\0');
  const std::span<std::byte> part(reinterpret_cast<std::byte*>(run.data()), run.size());
  task.write_partitions(1, std::span(&part, 1));
  codec.read_run(run, [&](const RecordView& r) { out.record(r); });
}

// codec.make_run of the records of `batch`, read from consecutive lines
// from `first_line` on; a field that is not a form of the job's type is a
// StreamingInputError naming its line (found by trying the records one by
// one, on that error only).
std::string make_run_at(RecordCodec& codec, const RecordBatch& batch, bool combine,
                        std::uint64_t first_line) {
  const std::vector<RecordView> records = batch.views();
  try {
    return codec.make_run(records, combine);
  } catch (const std::invalid_argument& e) {
    for (std::size_t i = 0; i < records.size(); ++i) {
      try {
        codec.make_run(std::span(&records[i], 1), false);
      } catch (const std::invalid_argument& bad) {
        throw StreamingInputError(first_line + i, bad.what());
      }
    }
    throw StreamingInputError(first_line, e.what());
  }
}

// Reads up to `n` more bytes of `in` onto `buf`; false at the end.
bool read_more(std::FILE* in, std::string& buf, std::size_t n) {
  const std::size_t old = buf.size();
  buf.resize(old + n);
  std::size_t got = 0;
  do {
    errno = 0;
    got += std::fread(buf.data() + old + got, 1, n - got, in);
  } while (got < n && retry_read(in));
  buf.resize(old + got);
  return !std::feof(in);
}

}  // namespace

void append_escaped(std::string& out, std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    switch (c) {
      case '\\':
        out += "\\\\";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      default:
        break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      continue;
    }
    if (c >= 0x80) {
      const utf8::CodePoint cp = utf8::decode_at(bytes, i);
      if (cp.valid) {
        out += bytes.substr(i, cp.length);
        i += cp.length - 1;
        continue;
      }
    }
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
}

bool append_unescaped(std::string& out, std::string_view field, std::string& error) {
  for (std::size_t i = 0; i < field.size(); ++i) {
    const char c = field[i];
    if (c == '\r') {
      error = "a raw carriage return (escape it as \\r)";
      return false;
    }
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == field.size()) {
      error = "a backslash at the end of the field (escape it as \\\\)";
      return false;
    }
    switch (field[i]) {
      case '\\':
        out += '\\';
        break;
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 'x': {
        const int hi = i + 1 < field.size() ? hex_digit(field[i + 1]) : -1;
        const int lo = i + 2 < field.size() ? hex_digit(field[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
          error = "malformed escape '\\x" + std::string(field.substr(i + 1, 2)) +
                  "' (\\x takes two hex digits)";
          return false;
        }
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        error = "malformed escape '\\" + std::string(1, field[i]) +
                "' (use \\\\, \\t, \\n, \\r or \\xHH)";
        return false;
    }
  }
  return true;
}

void streaming_map(const Job& job, const StreamingOptions& options, std::FILE* in, std::FILE* out,
                   std::FILE* report) {
  StreamingWorker worker(job);
  std::unique_ptr<MapTask> task = worker.worker().make_map_task();
  LineWriter lines(out);
  ChunkInfo info;
  info.file = options.input_name;
  info.offset = options.input_offset;
  const bool numbered = job.wants_line_numbers();
  std::uint64_t line = options.first_line, input_bytes = 0;
  auto map_chunk = [&](std::string_view chunk) {
    if (interrupted()) throw Interrupted();
    info.length = chunk.size();
    info.first_line = numbered ? line : 0;
    task->map(chunk, info);
    ++info.index;
    info.offset += chunk.size();
    input_bytes += chunk.size();
    if (numbered) line += static_cast<std::uint64_t>(std::count(chunk.begin(), chunk.end(), '\n'));
    if (task->memory_bytes() > options.memory) flush_map_task(*task, worker.codec(), lines);
    std::fprintf(report, "reporter:status:mapreduce streaming map: %llu bytes mapped\n",
                 static_cast<unsigned long long>(input_bytes));
  };
  // Read a chunk's worth, cut it at the job's split point (reading on while
  // the text has none), map the part before the cut, keep the rest.
  std::string pending;
  bool more = true;
  while (more) {
    more = read_more(in, pending, options.chunk_size);
    while (pending.size() >= options.chunk_size) {
      const std::size_t cut = job.split_point(pending, options.chunk_size);
      if (cut == 0 || cut >= pending.size()) break;
      map_chunk(std::string_view(pending).substr(0, cut));
      pending.erase(0, cut);
    }
  }
  if (!pending.empty()) map_chunk(pending);
  flush_map_task(*task, worker.codec(), lines);
  lines.flush();
  const TaskCounters c = task->take_counters();
  task.reset();
  worker.stop();
  report_counter(report, "mapreduce", "map input bytes", static_cast<std::int64_t>(input_bytes));
  report_counter(report, "mapreduce", "map input records", static_cast<std::int64_t>(c.records));
  report_counter(report, "mapreduce", "map emitted pairs", static_cast<std::int64_t>(c.emitted));
  report_counter(report, "mapreduce", "map output records",
                 static_cast<std::int64_t>(lines.lines()));
  report_user_counters(report, job, c.user);
}

void streaming_combine(const Job& job, const StreamingOptions&, std::FILE* in, std::FILE* out,
                       std::FILE* report) {
  StreamingWorker worker(job);
  LineWriter lines(out);
  LineReader reader(in);
  // One group of equal adjacent keys at a time: the output keeps the keys
  // in input order (Hadoop writes a combiner's output into a sorted spill).
  RecordBatch group;
  std::string group_key;  // the group's key field, escaped
  std::uint64_t first_line = 0;
  auto combine_group = [&] {
    const std::string run = make_run_at(worker.codec(), group, true, first_line);
    worker.codec().read_run(run, [&](const RecordView& r) { lines.record(r); });
    group.clear();
  };
  std::uint64_t input = 0;
  while (reader.next()) {
    ++input;
    if (!group.empty() && reader.key_field() != group_key) combine_group();
    if (group.empty()) {
      group_key = reader.key_field();
      first_line = reader.number();
    }
    group.add(reader.key(), reader.value());
  }
  if (!group.empty()) combine_group();
  lines.flush();
  worker.stop();
  report_counter(report, "mapreduce", "combine input records", static_cast<std::int64_t>(input));
  report_counter(report, "mapreduce", "combine output records",
                 static_cast<std::int64_t>(lines.lines()));
}

void streaming_reduce(const Job& job, const StreamingOptions& options, std::FILE* in,
                      std::FILE* out, std::FILE* report) {
  StreamingWorker worker(job);
  LineReader reader(in);
  RecordBatch batch;
  std::vector<std::string> results;  // one sorted output run per batch
  std::map<std::string, std::int64_t> user;
  std::uint64_t input = 0, groups = 0, keys = 0;
  std::uint64_t first_line = 0;  // the batch's first line
  auto reduce_batch = [&] {
    const std::string run = make_run_at(worker.codec(), batch, false, first_line);
    batch.clear();
    std::unique_ptr<ReduceTask> task = worker.worker().make_reduce_task();
    task->set_partition(0, 1);
    task->add_run(run);
    results.push_back(task->finish());
    keys += task->keys();
    add_counters(user, task->take_counters());
    std::fprintf(report, "reporter:status:mapreduce streaming reduce: %llu records reduced\n",
                 static_cast<unsigned long long>(input));
  };
  std::string last_key;  // the key field before, escaped
  while (reader.next()) {
    ++input;
    const std::string_view key = reader.key_field();
    if (input == 1 || key != last_key) {
      if (input > 1 && key < last_key)
        throw StreamingInputError(reader.number(),
                                  "keys out of order: the reducer's input must be sorted by key "
                                  "in byte order (LC_ALL=C sort -t$'\\t' -k1,1)");
      ++groups;
      if (batch.bytes() >= options.memory) reduce_batch();
      if (batch.empty()) first_line = reader.number();
      last_key = key;
    }
    batch.add(reader.key(), reader.value());
  }
  if (!batch.empty()) reduce_batch();
  const std::vector<std::string_view> runs(results.begin(), results.end());
  const std::uint64_t written = job.write_output(runs, options.output, out);
  if (std::fflush(out) != 0 || std::ferror(out))
    throw StreamingOutputError(std::string("write standard output: ") + std::strerror(errno));
  worker.stop();
  report_counter(report, "mapreduce", "reduce input records", static_cast<std::int64_t>(input));
  report_counter(report, "mapreduce", "reduce input groups", static_cast<std::int64_t>(groups));
  report_counter(report, "mapreduce", "reduce distinct keys", static_cast<std::int64_t>(keys));
  report_counter(report, "mapreduce", "reduce output records", static_cast<std::int64_t>(written));
  report_user_counters(report, job, user);
}

}  // namespace mr
