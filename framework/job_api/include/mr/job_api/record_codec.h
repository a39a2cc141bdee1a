// RecordCodec: the records inside a job's runs, for Hadoop Streaming.
//
// The engine treats a map task's partition runs as opaque bytes; only the
// job knows their format (typed jobs: serialized key/value pairs; the
// built-in wordcount: WordCounter's flat table). `mapreduce streaming`
// (mr/mapreduce/streaming.h) needs the records themselves: it writes the
// map output as `key<TAB>value` lines and builds runs back from such lines
// for the combiner and the reducer. A job offers that through
// WorkerJob::make_record_codec(); make_job<J> does it for every typed job
// (mr/job_api/typed_record_codec.h), the built-in wordcount does it itself.
// A byte-level job without one cannot run as a streaming task (it still
// runs everywhere else).
//
// A field (key or value) is given in its streaming form: an integer as
// decimal text ("42", "-7"), a string as its bytes, any other type as its
// serialization (mr/base/serialize.h). The caller escapes the bytes for
// the line format; the codec never sees escapes.
//
// Ownership: views passed to callbacks are valid during the call only.
// Thread-safety: one thread per codec. Fork-safety: plain memory.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace mr {

// One record in streaming form (views into the caller's memory).
struct RecordView {
  std::string_view key;
  std::string_view value;
};

class RecordCodec {
 public:
  virtual ~RecordCodec() = default;
  // Calls `each` once per record of `run`, a run MapTask::write_partitions
  // wrote (one partition of a map task's output). Throws what decoding a
  // malformed run throws (std::runtime_error family).
  virtual void read_run(std::string_view run,
                        const std::function<void(const RecordView&)>& each) const = 0;
  // A run holding `records`, in the format MapTask::write_partitions writes
  // and ReduceTask::add_run reads. With `combine`, the values of equal keys
  // are merged with the job's combiner first (a job without one keeps them
  // all). Throws std::invalid_argument naming the field when one is not a
  // valid streaming form of the job's type (e.g. "x" for an integer).
  virtual std::string make_run(std::span<const RecordView> records, bool combine) = 0;
};

}  // namespace mr
