#include "worker.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>

#include "mr/ipc/listener.h"
#include "mr/mapreduce/engine.h"  // private_memory_kb
#include "mr/pool/worker_process.h"
#include "mr/process/process.h"
#include "tracer.h"

namespace mr::detail {

int worker_main(const WorkerEnv& env, Channel& conn) {
  ::signal(SIGINT, SIG_IGN);  // the master decides what Ctrl-C (or a hang-up) means
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGTERM, SIG_DFL);
  // The master's progress line may catch window changes; a worker has no
  // terminal to draw on, and its blocking calls need not see EINTR for it.
  ::signal(SIGWINCH, SIG_DFL);
  std::unique_ptr<WorkerJob> worker;  // the job as this worker holds it (its setup done)
  std::unique_ptr<MapTask> map;       // made by `worker`
  std::vector<std::uint32_t> done;
  std::string where;  // what the worker is doing, for error messages
  const WorkerConfig& config = *env.config;
  Tracer tracer(config.trace, Clock::time_point(Clock::duration(config.t0_ns)));
  // Fails here when MAPREDUCE_FAULT says so (fault_injection.h).
  auto fault_at = [&](FaultInjection::Phase phase, std::uint32_t task) {
    if (config.fault && config.fault->worker_at(phase, task) &&
        env.arena->fire_fault(config.fault->times))
      config.fault->fire();
  };

  // Maps one task; returns false for a stale stream task (re-issued).
  auto run_chunk = [&](const ChunkTask& t) {
    if (t.slot >= 0 && t.ticket && !env.slots->claim(t)) return false;
    const Input& in = (*env.inputs)[t.input];
    where = "map of '" + in.name() + "' " + byte_range(t);
    conn.send(WorkerMessage{Started{t.chunk}});
    fault_at(FaultInjection::Phase::kMap, t.chunk);
    std::string_view bytes =
        t.slot >= 0 ? std::string_view(env.slots->data(static_cast<std::size_t>(t.slot)), t.length)
                    : in.data().substr(t.offset, t.length);
    tracer.span(
        tracer.on()
            ? "map chunk " + std::to_string(t.chunk) + " (" + in.name() + " " + byte_range(t) + ")"
            : std::string(),
        [&] {
          map->map(bytes, ChunkInfo{t.chunk, in.name(), t.offset, t.length, t.first_line, t.input});
        });
    // Zero bytes instead of a truncated file's lost pages: never commit them.
    if (input_mapping_faulted())
      throw std::runtime_error("'" + in.name() + "' shrank while being read");
    done.push_back(t.chunk);
    return true;
  };
  std::vector<std::byte> private_buffer;  // for spills
  auto flush = [&](bool final) {
    tracer.span("commit map output", [&] {
      where = "writing map output";
      auto sizes = map->partition_sizes(config.partitions);
      std::uint64_t total = 0;
      for (auto s : sizes) total += s;
      MapDone msg;
      msg.chunks = std::move(done);
      msg.final = final;
      done.clear();
      std::vector<std::span<std::byte>> spans;
      std::optional<Run> space;
      if (total > 0) space = env.arena->reserve(total);
      if (space) env.arena->for_writing(*space);
      std::uint64_t at = space ? space->offset : 0;
      if (!space) private_buffer.resize(total);
      for (auto s : sizes) {
        if (space) {
          msg.runs.push_back(Run{at, s});
          spans.push_back(env.arena->at(Run{at, s}));
        } else {
          spans.push_back(std::span<std::byte>(private_buffer.data() + at, s));
        }
        at += s;
      }
      if (total > 0) map->write_partitions(config.partitions, spans);
      msg.private_kb = private_memory_kb();  // the table at its largest, and its copy
      if (!space) {
        msg.runs.assign(config.partitions, Run{});
        if (!msg.chunks.empty()) fault_at(FaultInjection::Phase::kSpill, 0);
        if (total > 0) msg.spills = spill(config.spill_dir, spans);
        private_buffer.clear();
        private_buffer.shrink_to_fit();
      }
      TaskCounters now = map->take_counters();
      msg.records = now.records;
      msg.emitted = now.emitted;
      msg.user_counters = std::move(now.user);
      msg.spans = tracer.take();
      conn.send(WorkerMessage{std::move(msg)});
    });
  };
  // Commit when the table outgrows its share, and after every stream chunk
  // so that its slot can be reused.
  auto after_chunk = [&](const ChunkTask& t) {
    if (t.slot >= 0 || map->memory_bytes() > config.table_limit) flush(false);
  };

  try {
    // The job's per-worker setup; the master times it like a task.
    where = "setup of worker " + std::to_string(::getpid());
    worker = env.job->start_worker(env.origin);
    map = worker->make_map_task();
    conn.send(WorkerMessage{Ready{}});
    // Pull chunks from the shared work queue until the master closes it.
    for (;;) {
      ChunkTask t;
      try {
        t = env.queue->get();
      } catch (const QueueClosed&) {
        break;
      }
      if (run_chunk(t)) after_chunk(t);
    }
    flush(true);
    // Then follow the master's orders.
    for (;;) {
      MasterMessage m = conn.recv<MasterMessage>();
      if (std::holds_alternative<Exit>(m)) {
        // Told to exit: the job's per-worker teardown. The master no longer
        // listens, so its failure can only be said on stderr.
        map.reset();
        try {
          worker->stop();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "mapreduce: %s: teardown of worker %d: %s\n",
                       std::string(env.job->name()).c_str(), static_cast<int>(::getpid()),
                       e.what());
          return 1;
        }
        return 0;
      }
      if (auto* mc = std::get_if<MapChunks>(&m)) {
        for (const auto& t : mc->chunks)
          if (run_chunk(t)) after_chunk(t);
        flush(true);
      } else if (auto* rp = std::get_if<ReducePartition>(&m)) {
        where = "reduce of partition " + std::to_string(rp->partition) + " of " +
                std::to_string(config.partitions);
        const auto reduce_start = Clock::now();
        fault_at(FaultInjection::Phase::kReduce, rp->partition);
        auto reduce = worker->make_reduce_task();
        reduce->set_partition(rp->partition, config.partitions);
        for (const auto& run : rp->runs) {
          auto bytes = env.arena->at(run);
          reduce->add_run(
              std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        }
        std::vector<std::string> unspilled;  // alive until finish()
        unspilled.reserve(rp->spills.size());
        for (const auto& spilled : rp->spills)
          reduce->add_run(unspilled.emplace_back(unspill(spilled)));
        std::string out = reduce->finish();
        ReduceDone msg{rp->partition, Run{}, std::nullopt, reduce->keys(), {}, {}};
        msg.private_kb = private_memory_kb();  // its runs and its output in hand
        msg.user_counters = reduce->take_counters().user;
        if (!out.empty()) {
          if (auto space = env.arena->reserve(out.size())) {
            std::memcpy(env.arena->for_writing(*space).data(), out.data(), out.size());
            msg.run = *space;
          } else {
            fault_at(FaultInjection::Phase::kSpill, 0);
            std::span<std::byte> whole(reinterpret_cast<std::byte*>(out.data()), out.size());
            msg.spill =
                spill(config.spill_dir, std::span<const std::span<std::byte>>(&whole, 1)).front();
          }
        }
        if (tracer.on()) {
          tracer.add("reduce partition " + std::to_string(rp->partition), reduce_start);
          msg.spans = tracer.take();
        }
        conn.send(WorkerMessage{msg});
      }
    }
  } catch (const EofError&) {
    return 0;  // the master is gone; nothing to report to
  } catch (const std::exception& e) {
    try {
      conn.send(WorkerMessage{
          Failed{std::string(env.job->name()) + ": " + where + ": " + e.what(), e.what()}});
    } catch (...) {
    }
    return 1;
  }
}

int spawned_worker_main(const std::string& address, const std::string& token) {
  Channel channel = WorkerProcess::connect(address, token);
  SocketConnection& conn = *channel.socket();
  std::vector<UniqueFd> fds;
  WorkerConfig config;
  try {
    config = from_bytes<WorkerConfig>(conn.recv_bytes_and_fds(fds));
  } catch (const EofError&) {
    return 0;  // the master gave up on us
  }
  std::unique_ptr<Job> job;
  Inputs inputs;
  std::optional<Arena> arena;
  std::optional<Queue<ChunkTask>> queue;
  std::optional<StreamSlots> slots;
  try {
    if (fds.size() != (config.slot_count ? 4u : 3u))
      throw std::runtime_error("expected the shared regions' descriptors");
    job = make_job(config.recipe);
    for (const auto& in : config.inputs) {
      if (in.streamed) {
        inputs.push_back(Input::stream_name(in.name));  // its bytes come through the slots
        continue;
      }
      Inputs one = open_inputs({in.name}, {});
      if (one.size() != 1 || one[0].streamed() || one[0].data().size() != in.size)
        throw std::runtime_error("input '" + in.name + "' changed since the job started");
      inputs.push_back(std::move(one[0]));
    }
    arena.emplace(SharedRegion::map_fd(std::move(fds[0])));
    queue.emplace(Queue<ChunkTask>::attach(SharedRegion::map_fd(std::move(fds[1])),
                                           SharedRegion::map_fd(std::move(fds[2]))));
    if (config.slot_count)
      slots.emplace(SharedRegion::map_fd(std::move(fds[3])), config.slot_count, config.slot_bytes);
  } catch (const std::exception& e) {
    const std::string job_name =
        !config.recipe.builtin.empty() ? config.recipe.builtin : config.recipe.plugin;
    try {
      conn.send(WorkerMessage{Failed{job_name + ": starting a worker: " + e.what(), e.what()}});
    } catch (...) {
    }
    return 1;
  }
  // This process made the job for this worker: its setup is the worker's.
  const WorkerEnv env{
      &config, job.get(), WorkerOrigin::kMadeHere, &inputs, slots ? &*slots : nullptr,
      &*queue, &*arena};
  // After a failed task the worker's job object was abandoned (no
  // teardown), so the job is simply destroyed.
  return worker_main(env, channel);
}

int engine_spawned_worker(std::string address, std::string token) {
  return spawned_worker_main(address, token);
}

}  // namespace mr::detail

MR_REGISTER_FUNCTION(mr::detail::engine_spawned_worker);
