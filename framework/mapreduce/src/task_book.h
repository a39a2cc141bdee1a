// The task book: the master's record of every map chunk and reduce
// partition, and the rules for what runs again. Pure bookkeeping: no
// processes, no I/O, no shared memory (the caller reads claim words and
// sends tasks), so every rule is tested in-process (tests/mapreduce).
//
// Rules:
//  - A chunk is committed once (a second commit is a bug: logic_error).
//  - A chunk or partition whose worker died, timed out or whose task threw
//    gets another attempt; after max_attempts failures the job fails
//    (chunk_failed / partition_failed return true: give up).
//  - When the map phase drains, every chunk not committed is mapped again
//    (uncommitted()): its output died with a worker.
//  - A stream chunk is lost (stream_task_lost) when the worker holding its
//    slot's claim died, or, while the splitter starves for slots and every
//    worker waits on an empty queue, when nobody claimed it (it vanished
//    with a worker between its get() and its claim).
//  - Workers that end before they are ready: start_attempts in a row fail
//    the job (start_failed); a ready worker resets the count.
//  - A straggling task is copied (speculate_*: not a failed attempt), at
//    most kMaxCopies times; of a partition reduced twice the first is kept
//    (partition_done), and one that fails while another attempt at it runs
//    is not pending again. Map races: speculation.h.
// Not thread-safe (the master's loop).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <vector>

#include "protocol.h"

namespace mr::detail {

class TaskBook {
 public:
  // `max_attempts` >= 1: per chunk and per partition; `partitions`: the
  // number of reduce partitions; `start_attempts` >= 1: workers in a row
  // that may end before they are ready (WorkerStartLimits::start_attempts).
  TaskBook(unsigned max_attempts, unsigned partitions, unsigned start_attempts);

  // ---- map chunks
  // Records a new chunk; its number must be chunks() (logic_error otherwise).
  void add(const ChunkTask& task);
  std::uint32_t chunks() const { return static_cast<std::uint32_t>(chunks_.size()); }
  const ChunkTask& task(std::uint32_t chunk) const { return chunks_.at(chunk).task; }
  bool committed(std::uint32_t chunk) const { return chunks_.at(chunk).committed; }
  // The chunk's map output is committed; returns its task. Throws
  // std::logic_error on a second commit.
  const ChunkTask& commit(std::uint32_t chunk);
  // An attempt at the chunk failed. True when that was its last allowed
  // attempt (the job fails). attempts(chunk) counts the failures.
  bool chunk_failed(std::uint32_t chunk);
  unsigned attempts(std::uint32_t chunk) const { return chunks_.at(chunk).attempts; }
  // The chunk has been mapped (its worker moved on to the next one, or
  // committed it): its bytes count in mapped_bytes() once, however often
  // it is mapped again after a death, so mapped_bytes() never decreases.
  void mapped(std::uint32_t chunk);
  // Input bytes of the chunks mapped so far (the progress line's count).
  std::uint64_t mapped_bytes() const { return mapped_bytes_; }
  // Every chunk not committed, in order, with its ticket cleared (assigned
  // to a worker directly, nothing else can hold it); counted as retries.
  std::vector<ChunkTask> uncommitted();
  // Stream chunks still in flight (a slot and a ticket, not committed).
  std::vector<std::uint32_t> stream_chunks_in_flight() const;
  // The re-issue rule for a stream chunk whose claim word names `holder`
  // (0: unclaimed): lost when `dead` (0: none) holds it, or when nobody
  // holds it while `starving`.
  static bool stream_task_lost(pid_t holder, pid_t dead, bool starving) {
    return (dead != 0 && holder == dead) || (starving && holder == 0);
  }
  // Re-issues a stream chunk under `ticket` (the caller won the claim word
  // for it); returns the task to queue again. Counted as a retry.
  const ChunkTask& reissue(std::uint32_t chunk, std::uint64_t ticket);

  // ---- reduce partitions
  unsigned partitions() const { return static_cast<unsigned>(partition_attempts_.size()); }
  // The map phase is over: every partition is pending, in order; with
  // `here`, only those it accepts (the others are another node's: done).
  void begin_reduce(const std::function<bool(std::uint32_t)>& here = {});
  // The next partition to reduce, if any is pending.
  std::optional<std::uint32_t> next_partition();
  // An attempt reduced partition `p`. True for the first (keep its
  // output); false when another attempt (a speculative copy, or the
  // straggler it copied) was first: discard it.
  bool partition_done(std::uint32_t p);
  // An attempt at `p` failed: it is pending again, first in line, unless
  // `another_attempt_runs` (a speculative copy or its original still runs).
  // True when that was its last allowed attempt (the job fails).
  bool partition_failed(std::uint32_t p, bool another_attempt_runs = false);
  unsigned partition_attempts(std::uint32_t p) const { return partition_attempts_.at(p); }
  bool reduce_finished() const { return partitions_done_ == partitions(); }
  std::uint32_t partitions_done() const { return partitions_done_; }

  // ---- worker starts
  // A worker ended before it was ready. True when start_attempts did so in
  // a row (the job fails). start_failures() counts them.
  bool start_failed() { return ++start_failures_ >= start_attempts_; }
  unsigned start_failures() const { return start_failures_; }
  // A worker became ready: the count of failed starts begins again.
  void worker_ready() { start_failures_ = 0; }

  // Chunk and partition re-executions so far.
  std::uint64_t retries() const { return retries_; }

  // ---- stragglers (speculative execution, Hadoop's way: a copy of the
  // straggler's task runs on an idle worker, the first attempt to finish is
  // kept, the others are killed; see speculation.h for the map side)
  // A task after another one: its time, for the medians (the latest
  // kTimesKept of each kind, so that the record stays small on a long run).
  void chunk_took(double seconds) { keep_time(chunk_seconds_, chunk_times_, seconds); }
  void partition_took(double seconds) { keep_time(partition_seconds_, partition_times_, seconds); }
  // True when a chunk (or partition) whose every running attempt has run
  // for at least `running` seconds straggles: at least two of its kind
  // finished, `running` is more than kStragglerFactor times their median
  // and kStragglerMinSeconds, and fewer than kMaxCopies copies of it were
  // started (a task that hangs wherever it runs is left to --task-timeout).
  bool chunk_straggles(std::uint32_t chunk, double running) const;
  bool partition_straggles(std::uint32_t p, double running) const;
  // A copy of the chunk (or partition) was started: not a failed attempt,
  // nothing is pending again (the copy goes to an idle worker directly).
  void speculate_chunk(std::uint32_t chunk) { ++chunks_.at(chunk).copies; }
  void speculate_partition(std::uint32_t p) { ++partition_copies_.at(p); }
  bool partitions_pending() const { return !pending_partitions_.empty(); }
  static constexpr double kStragglerFactor = 10, kStragglerMinSeconds = 1;
  static constexpr unsigned kMaxCopies = 3;
  static constexpr std::size_t kTimesKept = 1024;

 private:
  struct ChunkState {
    ChunkTask task;
    bool committed = false;
    unsigned attempts = 0;
    unsigned copies = 0;  // speculative copies started
    bool mapped = false;  // counted in mapped_bytes_
  };
  static bool straggles(double running, std::vector<double> finished);
  static void keep_time(std::vector<double>& times, std::size_t& recorded, double seconds);
  unsigned max_attempts_;
  unsigned start_attempts_;
  std::vector<ChunkState> chunks_;
  std::vector<unsigned> partition_attempts_;
  std::deque<std::uint32_t> pending_partitions_;
  std::uint32_t partitions_done_ = 0;
  unsigned start_failures_ = 0;
  std::uint64_t retries_ = 0;
  std::uint64_t mapped_bytes_ = 0;
  std::vector<double> chunk_seconds_, partition_seconds_;  // of finished tasks
  std::size_t chunk_times_ = 0, partition_times_ = 0;      // recorded so far
  std::vector<unsigned> partition_copies_;
  std::vector<bool> partition_finished_;
};

}  // namespace mr::detail
