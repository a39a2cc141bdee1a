// The splitter: cuts the inputs into map tasks, in input order. A mapped
// input is cut every chunk_size bytes, each cut moved forward to where the
// job allows one (Job::split_point), so no record is split; a stream is read
// into a free stream slot, cut at the last allowed position in it, and the
// rest carried into the next slot. Master side only; not thread-safe.
//
// A stream's length is unknown in advance, so the 65536-chunk rule of the
// mapped inputs cannot size its chunks; instead they grow as the streams go
// on: chunk_size bytes for the first kStreamChunksPerSize stream chunks,
// twice that for the next as many, and so on up to the slots' size (which
// the master makes larger than chunk_size when --memory allows). The
// master's record per chunk (and per committed flush) thus stays small
// however long a stream is.
//
// Stream slots: buffers in one shared mapping that the master fills and the
// workers map in place. A slot is reused only once the map output of its
// chunk is committed, so a lost chunk can be mapped again. Each slot has a
// claim word: the master publishes a chunk with a fresh ticket; a worker
// that got the task from the queue claims it by CAS(ticket -> ticket | pid
// << kClaimShift) and skips it when the CAS fails (the master re-issued the
// task under a new ticket). The master re-issues a task only by winning a
// CAS on the unclaimed ticket, so no chunk is ever mapped twice.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mr/base/shared_region.h"
#include "mr/job_api/job.h"
#include "mr/mapreduce/backend.h"
#include "mr/mapreduce/input.h"
#include "protocol.h"

namespace mr::detail {

struct alignas(64) SlotHeader {
  std::atomic<std::uint64_t> claim;
};
constexpr int kClaimShift = 40;

// The pid in a claim word (0: not claimed).
inline pid_t claim_holder(std::uint64_t claim) { return static_cast<pid_t>(claim >> kClaimShift); }

class StreamSlots {
 public:
  // New slots; `memfd`: in a memfd, for workers that are fresh programs.
  StreamSlots(std::size_t count, std::size_t slot_bytes, bool memfd);
  // The master's slots, in a spawned worker. Throws std::runtime_error when
  // the region is too small for them.
  StreamSlots(SharedRegion attached, std::size_t count, std::size_t slot_bytes);
  static std::size_t bytes(std::size_t count, std::size_t slot_bytes) {
    return count * (sizeof(SlotHeader) + slot_bytes);
  }
  const SharedRegion& region() const { return region_; }
  std::size_t count() const { return count_; }
  std::size_t slot_bytes() const { return slot_bytes_; }
  SlotHeader* header(std::size_t i) const { return static_cast<SlotHeader*>(region_.data()) + i; }
  char* data(std::size_t i) const {
    return static_cast<char*>(region_.data()) + count_ * sizeof(SlotHeader) + i * slot_bytes_;
  }
  // Worker side: claims a queued task; false when it was re-issued.
  bool claim(const ChunkTask& t) const {
    std::uint64_t expected = t.ticket;
    std::uint64_t mine = t.ticket | (static_cast<std::uint64_t>(::getpid()) << kClaimShift);
    return header(static_cast<std::size_t>(t.slot))->claim.compare_exchange_strong(expected, mine);
  }

 private:
  SharedRegion region_;
  std::size_t count_, slot_bytes_;
};

class Splitter {
 public:
  // Cuts `inputs` for `job`. `slots` holds the stream chunks (null when no
  // input is a stream); the splitter hands out every slot once, then each
  // one given back by release_slot(). The references must outlive it.
  Splitter(const Job& job, Inputs& inputs, std::size_t chunk_size, StreamSlots* slots);

  // The next chunk, numbered `chunk`; nothing when the inputs are exhausted
  // or a stream waits for a free slot. A stream chunk carries its slot and
  // a fresh ticket, published in the slot's claim word. Throws InputError
  // (reading a stream) and JobError (a record longer than chunk_size in a
  // stream).
  std::optional<ChunkTask> next(std::uint32_t chunk);
  // True once every input is cut to the end.
  bool exhausted() const { return cursor_ >= inputs_.size(); }
  // True when a stream waits for a slot and none is free.
  bool out_of_slots() const { return slots_ && free_slots_.empty(); }
  // The chunk in `slot` is committed: the slot may be filled again.
  void release_slot(int slot);
  // A ticket never handed out before (for re-issuing a stream task).
  std::uint64_t fresh_ticket() { return next_ticket_++; }
  // A stream chunk another node cut (node 0 of a cluster), numbered
  // `chunk`: copied into a free slot and published like one cut here.
  // Throws std::logic_error when no slot is free or it does not fit one.
  ChunkTask accept(std::uint32_t chunk, const StreamChunk& from);
  // From now on stream inputs are passed over, not read (a node of a
  // cluster other than node 0: node 0 reads and maps them).
  void skip_streams() { skip_streams_ = true; }
  // Bytes of input cut into chunks so far.
  std::uint64_t bytes() const { return bytes_; }
  // The size the next stream chunk is filled up to.
  std::size_t stream_chunk_bytes() const { return stream_chunk_; }
  static constexpr std::uint64_t kStreamChunksPerSize = 1024;

 private:
  ChunkTask make_task(std::uint32_t chunk, std::uint64_t offset, std::uint64_t length, int slot,
                      std::string_view bytes);

  const Job& job_;
  Inputs& inputs_;
  std::size_t chunk_size_;
  StreamSlots* slots_;
  bool line_numbers_;            // the job wants ChunkInfo::first_line
  std::uint32_t cursor_ = 0;     // the input being cut
  std::uint64_t offset_ = 0;     // in the input at the cursor
  std::string carry_;            // stream bytes read past the last cut
  std::vector<int> free_slots_;  // handed out from the back
  std::uint64_t next_ticket_ = 1;
  std::uint64_t lines_before_ = 0;  // newlines before the next chunk of the current input
  std::uint64_t bytes_ = 0;
  bool skip_streams_ = false;
  std::size_t stream_chunk_;         // grows up to the slots' size
  std::uint64_t stream_chunks_ = 0;  // cut so far
};

}  // namespace mr::detail
