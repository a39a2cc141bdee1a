// Hadoop Streaming tasks: any job as the mapper, combiner or reducer of
// `hadoop jar hadoop-streaming.jar` (`mapreduce streaming map|combine|reduce`).
//
// The contract (Hadoop's, plus the encoding below):
//   map      reads the input text on `in` (lines, as Hadoop feeds a mapper),
//            cuts it into chunks with the job's split_point, maps them with
//            the job's own MapTask (its combiner included) and writes the
//            map output as `key<TAB>value` lines.
//   combine  reads such lines, sorted by key as Hadoop gives them, merges the
//            values of equal adjacent keys with the job's combiner and writes
//            lines of the same form, keys in the order read. A job without a
//            combiner passes the lines through. Running it 0, 1 or n times
//            gives the same final result (it only merges adjacent equal keys,
//            so it is also right on unsorted input).
//   reduce   reads lines sorted by key (byte order of the key field: Hadoop's
//            default, or `LC_ALL=C sort -t$'\t' -k1,1`), cuts them into
//            batches at key changes, reduces each batch with the job's
//            ReduceTask and writes the job's final output lines (the job's
//            write_output: for one reducer the same bytes as
//            `mapreduce run --job X`, in the job's output order).
//
// Line encoding. A line is `KEY<TAB>VALUE<LF>`. A field is the record's
// streaming form (mr/job_api/record_codec.h: integers as decimal text,
// strings as their bytes, other types as their serialization) escaped so
// that it holds no tab, newline or carriage return and stays readable:
//   backslash -> \\   tab -> \t   LF -> \n   CR -> \r
//   other bytes below 0x20, 0x7f, and bytes >= 0x80 that do not begin a
//   valid UTF-8 sequence -> \xHH (two lowercase hex digits; the decoder
//   takes either case); every other byte (valid UTF-8 included) as is.
// The escape is one-to-one, so byte-equal key fields are equal keys and
// a byte-order sort of the lines puts equal keys together.
//
// Errors. A line without a tab, with a raw tab in the value, with a
// malformed escape, with a field that is not a form of the job's type, or
// (reduce) a key smaller than the one before throws StreamingInputError
// naming the 1-based line number. A write to `out` that fails throws
// StreamingOutputError. What the job's map or reduce throws is passed on.
//
// Reporting. `report` (Hadoop reads the task's stderr) gets one
// `reporter:status:...` line per chunk mapped or batch reduced and, at the
// end, one `reporter:counter:<group>,<name>,<amount>` line per counter:
// group "mapreduce" for the task's own counts, the job's name for the
// job's counters (ctx.count); commas and line breaks in names become ';'
// and ' '.
//
// Not thread-safe (one task per process); forks nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mr/job_api/job.h"

namespace mr {

// A bad input line: what() is "line N: why".
class StreamingInputError : public std::runtime_error {
 public:
  StreamingInputError(std::uint64_t line, const std::string& why)
      : std::runtime_error("line " + std::to_string(line) + ": " + why), line_(line) {}
  std::uint64_t line() const noexcept { return line_; }

 private:
  std::uint64_t line_;
};

// Writing the output failed (disk full, closed pipe with SIGPIPE ignored).
class StreamingOutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The job cannot run as a streaming task: a byte-level job whose WorkerJob
// has no record codec (WorkerJob::make_record_codec).
class NoRecordCodec : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct StreamingOptions {
  // map: bytes per chunk handed to MapTask::map (cut at the job's
  // split_point, so a record is never split).
  std::size_t chunk_size = std::size_t{8} << 20;
  // map: the map task's table is written out when it holds more than this;
  // reduce: a batch of records is reduced when it holds more (at the next
  // key change). The reducer keeps the reduced output of all batches to
  // write it in the job's order, as the local engine's master does.
  std::size_t memory = std::size_t{64} << 20;
  // map: where the text comes from, for ChunkInfo (jobs that name files,
  // like grep and invertedindex, see it): the input's name, the byte offset
  // of the split in it, and the number of the split's first line (only
  // Hadoop knows the offset; a split's line numbers start at first_line).
  std::string input_name = "-";
  std::uint64_t input_offset = 0;
  std::uint64_t first_line = 1;
  // reduce: the output format and --top.
  OutputOptions output;
};

// Appends the escaped form of `bytes` (see the file comment).
void append_escaped(std::string& out, std::string_view bytes);
// Appends the bytes an escaped field stands for; on a malformed escape
// returns false and says why in `error` (out is then partly appended).
bool append_unescaped(std::string& out, std::string_view field, std::string& error);

// The three tasks. Each starts one worker of `job` (Job::start_worker), runs
// to the end of `in`, writes counters to `report` and stops the worker.
// Throw NoRecordCodec (before reading anything), StreamingInputError,
// StreamingOutputError, or what the job throws.
void streaming_map(const Job& job, const StreamingOptions& options, std::FILE* in, std::FILE* out,
                   std::FILE* report);
void streaming_combine(const Job& job, const StreamingOptions& options, std::FILE* in,
                       std::FILE* out, std::FILE* report);
void streaming_reduce(const Job& job, const StreamingOptions& options, std::FILE* in,
                      std::FILE* out, std::FILE* report);

}  // namespace mr
