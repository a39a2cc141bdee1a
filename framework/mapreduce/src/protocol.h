// Messages between the master and one worker, over the worker's pipe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mr::detail {

// A slice of the shuffle arena.
struct Run {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  template <class Ar>
  void serialize(Ar& ar) { ar(offset, length); }
};

// worker -> master
struct Started {            // about to map chunk `chunk`
  std::uint32_t chunk = 0;
  template <class Ar>
  void serialize(Ar& ar) { ar(chunk); }
};
struct MapDone {            // map output of `chunks` committed as `runs` (one per partition)
  std::vector<std::uint32_t> chunks;
  std::vector<Run> runs;
  std::uint64_t records = 0;
  std::uint64_t emitted = 0;
  template <class Ar>
  void serialize(Ar& ar) { ar(chunks, runs, records, emitted); }
};
struct ReduceDone {         // partition `partition` reduced into `run`
  std::uint32_t partition = 0;
  Run run;
  std::uint64_t keys = 0;
  template <class Ar>
  void serialize(Ar& ar) { ar(partition, run, keys); }
};
struct Failed {             // the task threw; the worker exits after sending this
  std::string message;
  template <class Ar>
  void serialize(Ar& ar) { ar(message); }
};
using WorkerMessage = std::variant<Started, MapDone, ReduceDone, Failed>;

// master -> worker
struct MapChunks {
  std::vector<std::uint32_t> chunks;
  template <class Ar>
  void serialize(Ar& ar) { ar(chunks); }
};
struct ReducePartition {
  std::uint32_t partition = 0;
  std::vector<Run> runs;
  template <class Ar>
  void serialize(Ar& ar) { ar(partition, runs); }
};
struct Exit {
  template <class Ar>
  void serialize(Ar&) {}
};
using MasterMessage = std::variant<MapChunks, ReducePartition, Exit>;

}  // namespace mr::detail
