// The engine's side of a backend (mr/mapreduce/backend.h): the RunStore
// over the master's shuffle runs, and the counters every node sends to
// node 0. Master side only; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mr/mapreduce/backend.h"
#include "mr/mapreduce/engine.h"
#include "shuffle.h"

namespace mr::detail {

// The runs of each partition, in the arena (`runs`) or spilled (`spills`):
// the master's map outputs, or its reduce outputs (one run per partition).
// A received run goes into the arena when it has room, else into a spill
// file in `spill_dir` (read back by whoever reduces or writes it).
class ShuffleStore final : public RunStore {
 public:
  ShuffleStore(Arena& arena, std::string spill_dir, std::vector<std::vector<Run>>& runs,
               std::vector<std::vector<SpillRun>>& spills)
      : arena_(arena), spill_dir_(std::move(spill_dir)), runs_(runs), spills_(spills) {}

  std::uint32_t partitions() const override { return static_cast<std::uint32_t>(runs_.size()); }
  std::size_t runs(std::uint32_t p) const override {
    return runs_.at(p).size() + spills_.at(p).size();
  }
  std::uint64_t run_length(std::uint32_t p, std::size_t i) const override {
    const auto& in_arena = runs_.at(p);
    return i < in_arena.size() ? in_arena[i].length
                               : spills_.at(p).at(i - in_arena.size()).plain_length;
  }
  std::string_view run(std::uint32_t p, std::size_t i, std::string& scratch) override;
  void sent(std::uint32_t p) override;
  Room receive(std::uint32_t p, std::uint64_t length) override;
  void received(std::size_t id) override;
  // Runs spilled because the arena was full.
  std::uint64_t spills() const { return spilled_; }

 private:
  struct Pending {
    std::uint32_t partition = 0;
    std::optional<Run> run;  // in the arena, or:
    std::string buffer;      // to be spilled when complete
  };
  Arena& arena_;
  std::string spill_dir_;
  std::vector<std::vector<Run>>& runs_;
  std::vector<std::vector<SpillRun>>& spills_;
  std::map<std::size_t, Pending> pending_;
  std::size_t next_id_ = 0;
  std::uint64_t spilled_ = 0;
};

// A node's part of the output in a parts folder (EngineOptions::parts_dir):
// dir/part-r-NNNNN, written to a temporary name beside it and renamed into
// place by commit() after an fsync; removed if never committed. Makes the
// folder when no other node has yet. Throws std::system_error.
class PartFile {
 public:
  PartFile(const std::string& dir, unsigned rank);
  ~PartFile();
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;
  std::FILE* get() const { return file_; }
  void commit();

 private:
  std::string temporary_, final_;
  std::FILE* file_ = nullptr;
};
// Writes the empty dir/_SUCCESS (after every part is committed).
void mark_success(const std::string& dir);

// --checkpoint DIR: a node's committed map outputs in DIR/rank-R, so that a
// relaunch maps only what was not committed. Each commit is a data file (the
// partition runs in the spill format, fsynced) and then its manifest entry
// commit-<pid>-<n> (the chunks and the runs; written to a temporary name,
// fsynced, renamed): a commit without its manifest entry does not exist.
// Entries made with another fingerprint (other inputs, chunk size, ranks,
// partitions, job) are refused: std::runtime_error. Throws std::system_error.
class Checkpoint {
 public:
  Checkpoint(const std::string& dir, unsigned rank, std::string fingerprint);
  bool committed(std::uint32_t chunk) const { return chunks_.count(chunk) > 0; }
  std::size_t committed_chunks() const { return chunks_.size(); }
  // The runs of every commit found at the start: (partition, run).
  const std::vector<std::pair<std::uint32_t, SpillRun>>& restored() const { return restored_; }
  // Commits the map output of `chunks`: parts[p] is partition p's run.
  void commit(const std::vector<std::uint32_t>& chunks,
              std::span<const std::span<std::byte>> parts);
  // A reduced partition: its sorted output run (maybe empty) and key count.
  struct Reduced {
    SpillRun run;  // length 0: empty
    std::uint64_t keys = 0;
  };
  // Commits partition `p`'s reduce output.
  void commit_reduced(std::uint32_t p, std::span<std::byte> run, std::uint64_t keys);
  // Partition `p`'s committed reduce output, if any.
  const Reduced* reduced(std::uint32_t p) const {
    auto it = reduced_.find(p);
    return it == reduced_.end() ? nullptr : &it->second;
  }

 private:
  std::string dir_, fingerprint_;
  std::set<std::uint32_t> chunks_;
  std::vector<std::pair<std::uint32_t, SpillRun>> restored_;
  std::map<std::uint32_t, Reduced> reduced_;
  void write_entry(const std::string& bytes);
  unsigned next_ = 0;
};

// One node's counters for node 0 (JobStats' sums and its RankStats).
std::string node_stats_to_bytes(const JobStats& stats, const RankStats& rank);
// Adds a node's counters (from node_stats_to_bytes) to `total`, and its
// RankStats to total.ranks. Throws SerializationError on malformed bytes.
void add_node_stats(JobStats& total, std::string_view bytes);

}  // namespace mr::detail
