// The MapReduce engine: a master process and worker processes on one machine.
//
//   mr::WordCountJob job(options);
//   mr::EngineOptions eo;  eo.workers = 4;
//   auto inputs = mr::open_inputs({"a.txt", "b.txt"}, {});
//   mr::JobStats stats = mr::run_job(job, inputs, eo, stdout);
//
// The calling process is the master. It cuts the inputs into chunks at
// positions the job allows, starts the workers (mr::Process; forked unless
// EngineOptions::start_method says otherwise), feeds chunk
// tasks to them through a bounded work queue (mr::Queue; workers pull), and
// talks to each worker over its own mr::Channel (a duplex mr::Pipe for a
// forked worker, a Unix socket for a fresh program): "ready" (the
// job's per-worker setup is done; timed like a task), "started chunk",
// "map output written", "reduce this partition", "reduce output written",
// "exit". Map outputs and reduce outputs live in one shuffle arena, a
// shared mapping the master creates before starting workers and owns: a
// worker's committed output survives the worker. A worker that dies is
// replaced, and the chunks whose results died with it are mapped again; a
// chunk (or partition) that fails max_attempts times fails the job with an
// error naming the input and byte range (or the partition), and so do
// start_limits.start_attempts workers in a row that end before they are ready.
//
// Fork-safety: run_job() forks; call it from a single-threaded master (or
// use spawn/forkserver). Nothing it creates outlives it: no /dev/shm entry
// (anonymous or memfd memory only), no temporary file, no child process. Only
// a master killed by SIGKILL leaves its private spill folder, which the next
// run of the same user removes (spill_dir.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mr/job_api/job.h"
#include "mr/mapreduce/backend.h"
#include "mr/mapreduce/input.h"
#include "mr/mapreduce/interrupt.h"  // run_job throws Interrupted
#include "mr/mapreduce/job_recipe.h"
#include "mr/pool/worker_process.h"
#include "mr/process/process.h"

namespace mr {

// The mapped inputs are cut into at most about kMaxChunks chunks (larger
// chunks than EngineOptions::chunk_size when they are bigger): the master
// keeps a record per chunk, which must stay small next to the input.
constexpr std::uint64_t kMaxChunks = std::uint64_t{1} << 16;

// The memory this process may use: the physical memory, or the memory
// limit of its cgroup (v2 memory.max up the tree, or v1
// memory.limit_in_bytes) when that is lower.
std::size_t usable_memory();

// The calling process's anonymous resident memory in KiB (RssAnon in
// /proc/self/status): heap, stacks and private mappings, not the pages of
// mapped files nor shared memory. 0 when it cannot be read.
long private_memory_kb();

// A snapshot of a running job, for a progress display
// (EngineOptions::on_progress).
struct Progress {
  enum class Phase : std::uint8_t { kMap, kReduce, kDone };
  Phase phase = Phase::kMap;
  // Input bytes whose chunks are mapped, counted when a worker finishes a
  // chunk (not when it commits its output), each chunk once: a chunk mapped
  // again after its worker died is not counted twice, so this never
  // decreases and never exceeds the input.
  std::uint64_t bytes_mapped = 0;
  // The input's size: known from the start when every input is a mapped
  // file, and for stream inputs (standard input, FIFOs, compressed files)
  // only once they are read to their end.
  std::optional<std::uint64_t> bytes_total;
  std::uint32_t partitions_done = 0, partitions = 0;  // reduce tasks
  double seconds = 0;                                 // since the workers were started
  std::map<std::string, std::int64_t> counters;       // the job's own, as committed so far
};

struct EngineOptions {
  // 0: one per CPU. Never more than there are chunks when that is known
  // up front (no stream inputs).
  unsigned workers = 0;
  // 0: four per worker, so that one partition (what one reduce task holds in
  // memory) stays small on large vocabularies; costs nothing measurable.
  unsigned reducers = 0;
  // Bytes per map task. Mapped inputs: larger when they would make more
  // than kMaxChunks chunks. Streams (stdin, compressed files): this size
  // for the first 1024 stream chunks, then twice as large for each next
  // 1024, up to 64 MiB as long as the stream slots (two per worker, and
  // two) stay within a quarter of `memory`; so a long stream at a tiny
  // chunk size does not grow the master's records without bound.
  std::size_t chunk_size = 8u << 20;
  // The memory budget in bytes (0: a quarter of usable_memory():
  // RAM, or the cgroup's memory limit when it is lower): half is the shuffle
  // arena, the other half is shared out among the workers' map tables.
  std::size_t memory = 0;
  unsigned max_attempts = 3;  // per chunk and per partition
  // A worker's start: how long a fresh program (spawn, forkserver) has to
  // connect back, and how many workers in a row may end before they are
  // ready before the job fails. The pool's limits, with the same names.
  WorkerStartLimits start_limits;
  // A worker that spends longer than this on one chunk or partition, or on
  // its start (the job's per-worker setup), is killed (a hung task) and the
  // task is retried like a crashed one.
  std::chrono::duration<double> task_timeout{600};
  OutputOptions output;
  // Called on the master's thread (in run_job) about every 100 ms while the
  // job runs, and once with Phase::kDone when the last partition is reduced
  // (not when the job fails). It must not throw. Empty: no progress reports.
  std::function<void(const Progress&)> on_progress;
  // Non-empty: write a Chrome trace-event JSON timeline there (one row per
  // process, a span per chunk and per phase; open it in Perfetto or
  // chrome://tracing).
  std::string trace_path;
  // Or write it to this open file (the caller's to commit and close).
  std::FILE* trace_file = nullptr;
  // How the workers are started (mr/process/process.h). fork: copies of the
  // master, which have the job and the inputs already. spawn, forkserver:
  // fresh runs of the program (mr::spawn_main_hook first in main) that make
  // the job again from job_recipe (required then), map the input files
  // again by name, and attach the shuffle arena, the work queue and the
  // stream slots through memfd descriptors sent over a Unix socket (their
  // channel to the master). A plugin is thus loaded in every worker however
  // it is started.
  StartMethod start_method = StartMethod::kFork;
  JobRecipe job_recipe;
  // Non-null: this engine is one node of a run over several
  // (mr/mapreduce/backend.h; not owned). It maps its share of the chunks,
  // reduces the partitions it owns, and node 0 alone writes the output and
  // returns the summed JobStats. job_recipe is required (a worker replaced
  // after the backend started is spawned), and the default partition count
  // is 4 x workers when `workers` is given, else 64, the same on every node.
  Backend* backend = nullptr;
  // With a backend, non-empty: no gather; each node writes the results of
  // its own partitions, sorted, to part-r-<rank, 5 digits> in this folder
  // (made by whichever node comes first; write, fsync, rename), and node 0
  // adds an empty _SUCCESS once every part is written (Hadoop's layout).
  // `output.top` then applies to each part. The caller refuses a folder that
  // exists before the run.
  std::string parts_dir;
  // Non-empty: commit every map output and every reduce output to this
  // folder (node R: DIR/rank-R; write, fsync, rename) before counting on
  // it, and skip the chunks and partitions found committed there by an
  // earlier run of the same job, inputs and options (a relaunch after a
  // failure maps and reduces only what was not committed). Input files
  // only (no stream). The folder is kept after the run.
  std::string checkpoint_dir;
};

// What a run did, for --stats.
struct JobStats {
  bool map_only = false;  // the job has no reduce step (Job::map_only)
  double seconds_map = 0, seconds_reduce = 0, seconds_output = 0;
  std::uint64_t input_bytes = 0;
  std::uint64_t chunks = 0;
  std::uint64_t records = 0;  // words for wordcount
  std::uint64_t emitted = 0;  // key/value pairs map emitted, before combining
  std::uint64_t distinct_keys = 0;
  std::uint64_t output_lines = 0;
  std::uint64_t shuffle_bytes = 0;
  std::uint64_t retries = 0;  // chunk and partition re-executions
  std::uint64_t workers_replaced = 0;
  // Speculative copies of straggling tasks: when nothing else was left to
  // hand out, a worker was idle, and every attempt at a task had run 10
  // times the median of its siblings (and 1 s), a copy of it was started
  // on the idle worker; the first attempt to finish was kept, the others
  // killed (at most 3 copies per task). speculative_won: races a copy won.
  std::uint64_t speculative = 0;
  std::uint64_t speculative_won = 0;
  std::uint64_t spills = 0;
  // Peak resident memory (getrusage's maxrss), which counts the pages of the
  // memory-mapped input files that a process has read.
  long peak_rss_kb_master = 0, peak_rss_kb_workers = 0;
  // Peak private memory: anonymous resident memory (heap, stacks, the map
  // tables; RssAnon), without the mapped input files' pages and without the
  // shared shuffle arena. Sampled where it peaks: a worker's when it
  // commits map output and when it finishes a partition, the master's after
  // each phase.
  long peak_private_kb_master = 0, peak_private_kb_workers = 0;
  std::map<std::string, std::int64_t> user_counters;  // the job's own counters
  unsigned workers = 0, reducers = 0;
  // With a backend, on node 0: what each node did, in rank order (the
  // counters above are then the sums over the nodes; the phase times the
  // slowest node's, exchanges included).
  std::vector<RankStats> ranks;
};

// The job failed (a chunk failed max_attempts times, a task threw, the
// shuffle arena ran out, ...). what() is the message for the user.
class JobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs `job` over `inputs` and writes the merged results to `out`. Throws
// JobError, Interrupted (mr/mapreduce/interrupt.h: once interrupted() is
// set), InputError (an input file shrank while it was read: no retry), or
// std::system_error for resource failures. With a backend that has started,
// a failure is not thrown: it ends every node's run (Backend::abort, which
// prints it) with exit status 1, or 2 for an InputError, or 130 once
// interrupted.
JobStats run_job(const Job& job, Inputs& inputs, const EngineOptions& options, std::FILE* out);

}  // namespace mr
