// The shuffle: where map output and reduce output live between tasks. The
// arena is one shared mapping the master creates before it starts the
// workers and owns, so a committed run survives the worker that wrote it;
// what does not fit goes to zstd-compressed spill files in the spill folder.
//
// Thread-safety: Arena::reserve and fire_fault are atomic across every
// process that maps the arena; everything else is used by one thread.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mr/base/shared_region.h"
#include "protocol.h"

namespace mr::detail {

// The arena's first 64 bytes, shared by every process of the job.
struct ArenaHeader {
  std::atomic<std::uint64_t> used;
  std::atomic<std::uint32_t> faults_fired;  // see FaultInjection (worker.h)
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// The shuffle arena: one shared mapping (anonymous for forked workers,
// memfd for fresh programs, which attach it by descriptor). Space is handed
// out by an atomic bump pointer; it is never freed during a run (a run is
// small next to the input, and the whole arena goes away with the job).
class Arena {
 public:
  // A new arena of `capacity` bytes; `memfd`: in a memfd, for workers that
  // are fresh programs. Pages are committed only when written.
  Arena(std::size_t capacity, bool memfd);
  // The master's arena, in a spawned worker.
  explicit Arena(SharedRegion attached);
  const SharedRegion& region() const { return region_; }

  // Space for `n` bytes, or nothing when the arena is full.
  std::optional<Run> reserve(std::uint64_t n) {
    std::uint64_t rounded = (n + 63) & ~std::uint64_t{63};
    std::uint64_t at = header_->used.fetch_add(rounded, std::memory_order_relaxed);
    if (at + rounded > capacity_) return std::nullopt;
    return Run{at, n};
  }
  std::span<std::byte> at(const Run& r) const { return {base_ + r.offset, r.length}; }
  // at(r), its pages made present and writable first: one madvise
  // (MADV_POPULATE_WRITE) instead of a page fault per 4 KiB page when the
  // run is written. Best effort: an old kernel's refusal changes nothing.
  std::span<std::byte> for_writing(const Run& r) const;
  // Bytes handed out so far (at most the capacity).
  std::uint64_t used() const { return std::min<std::uint64_t>(header_->used.load(), capacity_); }
  // True for the first `times` calls across all processes of the job.
  bool fire_fault(std::uint32_t times) { return header_->faults_fired.fetch_add(1) < times; }

 private:
  static constexpr std::size_t kHeader = 64;
  SharedRegion region_;
  ArenaHeader* header_;
  std::byte* base_;
  std::uint64_t capacity_;
};

// Removes a folder and everything in it; errors are ignored.
void remove_tree(const std::string& dir) noexcept;

// Writes each non-empty buffer as one zstd frame of a new file in `dir`
// (the run's private folder, spill_dir.h; made by the master, never here:
// the file is created with O_EXCL | O_NOFOLLOW); returns one SpillRun per
// buffer (empty ones have length 0). Throws std::system_error,
// std::runtime_error (zstd, or `dir` empty: the master could make none).
std::vector<SpillRun> spill(const std::string& dir, std::span<const std::span<std::byte>> parts);
// Reads one spilled run back. Throws std::system_error, std::runtime_error
// (a short or corrupt file).
std::string unspill(const SpillRun& r);

}  // namespace mr::detail
