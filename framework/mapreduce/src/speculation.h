// Speculative execution of map work, Hadoop's way: races between a
// straggling worker and copies of what it owes. Pure bookkeeping (the
// master keeps the messages and kills the losers), tested in-process
// (tests/mapreduce).
//
// A worker maps many chunks into one table and commits them together in
// one flush, so a chunk's output cannot be kept or dropped on its own. A
// race is therefore over a group: every chunk the straggler had started or
// was ordered to map and had not committed (what it owes). A copy maps the
// whole group on an idle worker, whose table is empty (an idle worker has
// flushed everything), so its flushes hold nothing else. Every flush of a
// racing attempt is held, neither committed nor dropped; the first attempt
// whose flushes cover the whole group wins: what it held is committed
// (with chunks outside the group that the straggler took unannounced from
// the queue), the other attempts lose: what they held is dropped and their
// workers are killed (their tables hold part of the group). So each chunk's
// output is committed from exactly one attempt. An attempt that dies leaves
// its race; a race left without attempts ends, and its chunks, not
// committed, are mapped again with the other lost ones.
//
// Attempts are named by their worker's pid (unique among live workers; a
// replaced worker is a new attempt). Not thread-safe (the master's loop).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

namespace mr::detail {

class MapRaces {
 public:
  // `copy` (an idle worker) maps again what `original` owes: `owed`, or,
  // when `original` races already, its race's group (`copy` joins that
  // race). Returns the chunks `copy` must map. Throws std::logic_error when
  // `copy` races already or the group is empty.
  const std::vector<std::uint32_t>& copy(pid_t original, std::vector<std::uint32_t> owed,
                                         pid_t copy);
  bool racing(pid_t attempt) const { return find(attempt) != nullptr; }
  // The other attempts in `attempt`'s race (none when it does not race).
  std::vector<pid_t> rivals(pid_t attempt) const;

  struct Outcome {
    bool held = false;          // `attempt` races: hold the flush (not committed yet)
    bool won = false;           // ... and has now flushed its whole group: commit what it held
    std::vector<pid_t> losers;  // when it won: kill them, drop what they held
  };
  // `attempt` flushed the output of `chunks`.
  Outcome flushed(pid_t attempt, std::span<const std::uint32_t> chunks);
  // `attempt` died or was killed: it leaves its race, which ends when no
  // attempt is left. What it held is the caller's to drop.
  void ended(pid_t attempt);
  std::size_t races() const { return races_.size(); }

 private:
  struct Attempt {
    pid_t pid;
    std::vector<std::uint32_t> flushed;  // of the group, sorted
  };
  struct Race {
    std::vector<std::uint32_t> group;  // sorted
    std::vector<Attempt> attempts;
  };
  const Race* find(pid_t attempt) const;
  Race* find(pid_t attempt) {
    return const_cast<Race*>(static_cast<const MapRaces*>(this)->find(attempt));
  }
  std::vector<Race> races_;  // a few at most: one per straggler
};

}  // namespace mr::detail
