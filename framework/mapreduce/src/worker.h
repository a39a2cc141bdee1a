// A worker of the engine: its configuration (WorkerConfig, the same for a
// forked worker and for a fresh program, which receives it serialized) and
// its loop (worker_main: setup, pull chunks from the queue, commit map
// output, then follow the master's orders: map lost chunks, reduce
// partitions, exit).
//
// DANGER: worker_main runs in the worker process. Exceptions end in a
// Failed message and exit code 1; the Process layer ends the child with
// _exit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mr/ipc/channel.h"
#include "mr/ipc/queue.h"
#include "mr/job_api/job.h"
#include "mr/mapreduce/input.h"
#include "mr/mapreduce/job_recipe.h"
#include "fault_injection.h"
#include "protocol.h"
#include "shuffle.h"
#include "splitter.h"

namespace mr::detail {

// An input as a worker that is a fresh program opens it again.
struct WorkerInput {
  std::string name;
  bool streamed = false;
  std::uint64_t size = 0;  // of a mapped input, checked by the worker
  template <class Ar>
  void serialize(Ar& ar) {
    ar(name, streamed, size);
  }
};

// Everything a worker needs to know, made once by the master. A forked
// worker reads the master's copy; a fresh program gets it serialized, with
// the shared regions' descriptors (arena, queue ring, queue lock, then the
// stream slots if any), and makes the job and the inputs from it.
struct WorkerConfig {
  JobRecipe recipe;                              // how a fresh program makes the job
  std::vector<WorkerInput> inputs;               // what it opens (a fork inherits them)
  std::uint64_t slot_count = 0, slot_bytes = 0;  // 0 slots: no stream inputs
  std::uint32_t partitions = 0;
  std::uint64_t table_limit = 0;  // a worker flushes its map table beyond this many bytes
  std::string spill_dir;
  bool trace = false;
  std::int64_t t0_ns = 0;  // the job's start; steady_clock is the same clock in every process
  std::optional<FaultInjection> fault;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(recipe, inputs, slot_count, slot_bytes, partitions, table_limit, spill_dir, trace, t0_ns,
       fault);
  }
};

// What a worker runs with: its configuration and the job, the inputs and the
// shared state, the master's (fork) or attached again (a fresh program).
struct WorkerEnv {
  const WorkerConfig* config;
  const Job* job;
  WorkerOrigin origin;  // a forked worker's job is a copy; a fresh program made its own
  const Inputs* inputs;
  const StreamSlots* slots;  // null without stream inputs
  Queue<ChunkTask>* queue;
  Arena* arena;
};

// The worker's life after it started; `conn` is its channel to the master.
// Returns the exit code (0: told to exit, or the master is gone).
int worker_main(const WorkerEnv& env, Channel& conn);

// The life of a spawned or forkserver worker: connect back, rebuild the job
// and the inputs, attach the master's shared regions, then worker_main.
int spawned_worker_main(const std::string& address, const std::string& token);

// The registered entry point of a worker that is a fresh program.
int engine_spawned_worker(std::string address, std::string token);

}  // namespace mr::detail
