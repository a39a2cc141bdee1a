// The engine's view of a job: byte-level map and reduce tasks.
//
// The engine moves bytes and keeps books (which chunk ran where, which
// partition run lives where in the shuffle arena, what to re-execute when a
// worker dies); a Job gives those bytes meaning. The master makes a Job
// object; a forked worker holds a copy of it, and a worker that is a fresh
// program (spawn, forkserver) makes its own from the job's recipe.
//
// Each worker first calls Job::start_worker(), which returns the worker's
// own job object (a WorkerJob: making it is the job's per-worker setup, its
// stop() the teardown, when the worker ends normally). The WorkerJob makes
// the worker's tasks: one MapTask, fed chunks, whose output is taken as R
// partition runs (byte strings, one per reducer); per reducer partition r,
// one ReduceTask, fed the run r of every map output, which gives one sorted
// output run. The master merges the R sorted output runs into the final
// output with Job::write_output.
//
// Thread-safety: every task object is used by one thread of one process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mr/job_api/record_codec.h"

namespace mr {

// Where a chunk comes from, for error messages and traces.
struct ChunkInfo {
  std::uint32_t index = 0;   // chunk number in the job
  std::string_view file;     // input name as given ("-" for standard input)
  std::uint64_t offset = 0;  // byte offset of the chunk in that input
  std::uint64_t length = 0;
  std::uint64_t first_line = 0;   // 1-based number of the chunk's first line, when the job
                                  // asked for line numbers (Job::wants_line_numbers), else 0
  std::uint32_t input_index = 0;  // 0-based position of the input among the job's inputs: the
                                  // order of the command line, a directory read with -r
                                  // standing for its files in byte order of their paths
};

// Counters a task reports; summed over the job by the master.
struct TaskCounters {
  std::uint64_t records = 0;  // words, lines, ... whatever the job counts as input records
  std::uint64_t emitted = 0;  // key/value pairs emitted by map (before combining)
  std::map<std::string, std::int64_t> user;  // the job's own counters, by name
};

class MapTask {
 public:
  virtual ~MapTask() = default;
  // Processes one chunk (never cut inside a record: see Job::split_point).
  virtual void map(std::string_view chunk, const ChunkInfo& info) = 0;
  // The sizes in bytes of the `partitions` runs (one per reducer) that
  // write_partitions() would write for everything mapped so far.
  virtual std::vector<std::size_t> partition_sizes(unsigned partitions) const = 0;
  // Writes those runs into `out` (out[r] has exactly partition_sizes()[r]
  // bytes, possibly in shared memory) and resets the task to empty, giving
  // back the memory it grew (the engine flushes a task whose
  // memory_bytes() outgrows the worker's share of the memory budget).
  virtual void write_partitions(unsigned partitions, std::span<const std::span<std::byte>> out) = 0;
  // Approximate bytes held in memory (for the memory budget).
  virtual std::size_t memory_bytes() const = 0;
  // The counters since the last call (the engine sums them).
  virtual TaskCounters take_counters() = 0;
};

class ReduceTask {
 public:
  virtual ~ReduceTask() = default;
  // Which partition the task reduces: `partition` (0-based) of `partitions`.
  // Called once, before the first add_run(). Default: ignored.
  virtual void set_partition(std::uint32_t /*partition*/, std::uint32_t /*partitions*/) {}
  // Adds one run that a MapTask produced for this task's partition. The
  // bytes stay valid until finish() returns.
  virtual void add_run(std::string_view run) = 0;
  // Reduces everything added and returns the results as one run sorted in
  // the job's output order. Called once.
  virtual std::string finish() = 0;
  // Number of distinct keys reduced (after finish()).
  virtual std::uint64_t keys() const = 0;
  // The counters since the last call (after finish(); the engine sums them
  // with the map tasks' counters). Default: none.
  virtual TaskCounters take_counters() { return {}; }
};

// How the master writes merged results.
struct OutputOptions {
  // kJsonl: one JSON object a line (JSON Lines, for `jq -c`), each the
  // object kJson puts in its array.
  enum class Format { kTsv, kCsv, kJson, kJsonl } format = Format::kTsv;
  std::uint64_t top = 0;  // 0: all
};

// The job as one worker holds it (Job::start_worker): constructing it was
// the worker's setup; stop() is its teardown, called once when the worker
// ends normally (the master told it to exit). Destroyed without stop() (a
// task threw, the worker is abandoned), it runs no teardown. Used by one
// thread of one process.
class WorkerJob {
 public:
  virtual ~WorkerJob() = default;
  // A task of this worker; it may hold the worker's state (it is destroyed
  // before stop()).
  virtual std::unique_ptr<MapTask> make_map_task() = 0;
  virtual std::unique_ptr<ReduceTask> make_reduce_task() = 0;
  // The records inside this job's runs, for Hadoop Streaming (`mapreduce
  // streaming`; mr/job_api/record_codec.h); it may hold the worker's state.
  // make_job<J> gives every typed job one; a byte-level job that has none
  // keeps this default (nullptr) and cannot run as a streaming task.
  virtual std::unique_ptr<RecordCodec> make_record_codec() { return nullptr; }
  // The per-worker teardown. May throw (the worker reports it on stderr).
  virtual void stop() {}
};

// Where the Job object a worker starts from came from: the engine knows it
// and says so, the job never guesses.
enum class WorkerOrigin {
  kCopy,      // a copy of the master's job (a forked worker): set up a fresh one
  kMadeHere,  // made in this process for this worker (a fresh program that made it
              // from its JobRecipe, or a caller running tasks itself): its own setup
              // is the worker's
};

class Job {
 public:
  virtual ~Job() = default;
  virtual std::string_view name() const = 0;
  // Moves a proposed chunk boundary `near` forward to a position where the
  // input may be cut (see mr::safe_split_point for words, a newline for
  // line-oriented jobs). Returns data.size() when there is none.
  virtual std::size_t split_point(std::string_view data, std::size_t near) const = 0;
  // True when map needs ChunkInfo::first_line (the master then counts the
  // newlines before each chunk).
  virtual bool wants_line_numbers() const { return false; }
  // The number of reduce partitions the job prefers (0: the engine's
  // default, four per worker; --reducers overrides it).
  virtual unsigned preferred_reducers() const { return 0; }
  // True for a job without a reduce step: its map output, grouped and
  // sorted, is the result. --stats says so (a reduce() with a wrong
  // signature is a compile error, a missing one makes the job map-only).
  virtual bool map_only() const { return false; }
  // Starts one worker's life: the engine calls it once in each worker
  // process (forked or a fresh program) before the worker's first task,
  // saying where this Job object came from. The result is the worker's own
  // job object, which makes its tasks; per-worker state lives there, not in
  // the Job. May throw (the worker's start fails, and is retried like a
  // crash); its time counts against the task timeout.
  virtual std::unique_ptr<WorkerJob> start_worker(WorkerOrigin origin) const = 0;
  // Merges the reducers' sorted runs and writes the results to `out`.
  // Returns the number of result lines written.
  virtual std::uint64_t write_output(const std::vector<std::string_view>& runs,
                                     const OutputOptions& options, std::FILE* out) const = 0;
};

}  // namespace mr
