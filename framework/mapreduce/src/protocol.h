// Messages between the master and one worker, over the worker's pipe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace mr::detail {

// One map task: a chunk of a mapped input (slot < 0: the worker reads the
// input's mapping in place) or of a stream (the bytes are in stream slot
// `slot`, which the worker claims with `ticket` before mapping, see
// engine.cc). Travels through the work queue and in MapChunks.
struct ChunkTask {
  std::uint32_t chunk = 0;
  std::uint32_t input = 0;
  std::uint64_t offset = 0;  // in the input (for messages)
  std::uint64_t length = 0;
  std::int32_t slot = -1;
  std::uint64_t ticket = 0;      // 0: assigned by the master, no claim needed
  std::uint64_t first_line = 0;  // see ChunkInfo::first_line
  template <class Ar>
  void serialize(Ar& ar) {
    ar(chunk, input, offset, length, slot, ticket, first_line);
  }
};

// "bytes 100-200": a chunk's range in its input, for messages.
inline std::string byte_range(const ChunkTask& c) {
  return "bytes " + std::to_string(c.offset) + "-" + std::to_string(c.offset + c.length);
}

// A slice of the shuffle arena.
struct Run {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(offset, length);
  }
};

// One partition run spilled to a zstd-compressed file (one frame).
struct SpillRun {
  std::string path;
  std::uint64_t offset = 0;        // of the frame in the file
  std::uint64_t length = 0;        // compressed bytes
  std::uint64_t plain_length = 0;  // bytes after decompression
  template <class Ar>
  void serialize(Ar& ar) {
    ar(path, offset, length, plain_length);
  }
};

// A span for --trace: microseconds since the job started.
struct TraceSpan {
  std::string name;
  std::uint64_t start_us = 0;
  std::uint64_t duration_us = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(name, start_us, duration_us);
  }
};

// worker -> master
struct Ready {  // the worker has started (the job's per-worker setup is done)
  template <class Ar>
  void serialize(Ar&) {}
};
struct Started {  // about to map chunk `chunk`
  std::uint32_t chunk = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(chunk);
  }
};
// Map output of `chunks` committed: one run per partition, either in the
// arena (`runs`) or spilled to a file (`spills`). `final` is false for an
// intermediate flush (the worker's table outgrew its memory share) and true
// when the worker has no more chunks to map.
struct MapDone {
  std::vector<std::uint32_t> chunks;
  std::vector<Run> runs;
  std::vector<SpillRun> spills;
  bool final = true;
  std::uint64_t records = 0;
  std::uint64_t emitted = 0;
  std::map<std::string, std::int64_t> user_counters;
  std::vector<TraceSpan> spans;  // with --trace
  long private_kb = 0;           // the worker's private memory now (--stats)
  template <class Ar>
  void serialize(Ar& ar) {
    ar(chunks, runs, spills, final, records, emitted, user_counters, spans, private_kb);
  }
};
struct ReduceDone {  // partition `partition` reduced into `run` (or `spill`)
  std::uint32_t partition = 0;
  Run run;
  std::optional<SpillRun> spill;
  std::uint64_t keys = 0;
  std::vector<TraceSpan> spans;                       // with --trace
  std::map<std::string, std::int64_t> user_counters;  // ctx.count() in reduce
  long private_kb = 0;  // the worker's private memory, its partition in hand (--stats)
  template <class Ar>
  void serialize(Ar& ar) {
    ar(partition, run, spill, keys, spans, user_counters, private_kb);
  }
};
struct Failed {         // the task threw; the worker exits after sending this
  std::string message;  // for the user: "job: where: cause"
  std::string cause;    // the exception's what() alone (a retried task's "last: ...")
  template <class Ar>
  void serialize(Ar& ar) {
    ar(message, cause);
  }
};
using WorkerMessage = std::variant<Started, MapDone, ReduceDone, Failed, Ready>;

// master -> worker
struct MapChunks {
  std::vector<ChunkTask> chunks;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(chunks);
  }
};
struct ReducePartition {
  std::uint32_t partition = 0;
  std::vector<Run> runs;
  std::vector<SpillRun> spills;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(partition, runs, spills);
  }
};
struct Exit {
  template <class Ar>
  void serialize(Ar&) {}
};
using MasterMessage = std::variant<MapChunks, ReducePartition, Exit>;

}  // namespace mr::detail
