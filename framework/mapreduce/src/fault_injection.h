// Fault injection for tests of the failure paths (tests/faults,
// tests/cli): the environment variable MAPREDUCE_FAULT makes a worker or
// the master fail on purpose at a chosen point of a run.
//
//   MAPREDUCE_FAULT="KIND:CHUNK[:TIMES]"          a worker, at the start of map chunk CHUNK
//   MAPREDUCE_FAULT="KIND@PHASE[:TASK[:TIMES]]"   a worker, at PHASE:
//       map     the start of map chunk TASK
//       spill   before writing its first spill file (TASK is ignored)
//       reduce  the start of reducing partition TASK
//   MAPREDUCE_FAULT="master-KIND@PHASE"           the master, once, at PHASE:
//       map     when it has taken in the first map output
//       spill   when it has taken in the first spilled output
//       reduce  when it has taken in the first reduce output
//       output  after writing the results, before they are committed
//
// KIND: kill (SIGKILL itself), segv (SIGSEGV itself), throw (a
// std::runtime_error from the task, or from the master's run), hang (a
// worker sleeps until killed), stop (a worker, or a master, SIGSTOPs itself: a
// master that stops is a cluster rank that no longer answers), slow (not a
// fault: a worker sleeps TASK milliseconds at the start of every task of
// PHASE, then goes on; "slow@map:100" makes a run slow enough for a test to
// watch its progress line). A worker fault fires the first
// TIMES times across the job (default: every time; the count lives in the shuffle arena, shared by
// all workers). Not for production use: a malformed value throws std::invalid_argument, so a typo
// cannot pass silently.
//
// Fork-safe value type; fire() is called in the process that fails.
#pragma once

#include <cstdint>
#include <optional>

namespace mr::detail {

struct FaultInjection {
  enum class Kind : std::uint8_t { kKill, kSegv, kThrow, kHang, kStop, kSlow } kind = Kind::kKill;
  enum class Phase : std::uint8_t { kMap, kSpill, kReduce, kOutput } phase = Phase::kMap;
  bool master = false;  // the master fails, not a worker
  std::uint32_t task = 0;
  std::uint32_t times = UINT32_MAX;

  // Parses MAPREDUCE_FAULT; nothing when it is unset or empty.
  static std::optional<FaultInjection> from_environment();

  // True when a worker at `phase` (of task `task`) should fail.
  bool worker_at(Phase p, std::uint32_t t) const noexcept {
    return !master && phase == p && (p == Phase::kSpill || kind == Kind::kSlow || task == t);
  }
  // True when the master at `phase` should fail.
  bool master_at(Phase p) const noexcept { return master && phase == p; }

  // Fails as `kind` says: does not return, except for kThrow, which
  // throws, and kSlow, which returns after its sleep.
  void fire() const;

  template <class Ar>
  void serialize(Ar& ar) {
    ar(kind, phase, master, task, times);
  }
};

}  // namespace mr::detail
