#include "splitter.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include "mr/mapreduce/engine.h"  // JobError

namespace mr::detail {

StreamSlots::StreamSlots(std::size_t count, std::size_t slot_bytes, bool memfd)
    : region_(memfd ? SharedRegion::memfd("mr.slots", bytes(count, slot_bytes))
                    : SharedRegion::anonymous(bytes(count, slot_bytes))),
      count_(count),
      slot_bytes_(slot_bytes) {
  for (std::size_t i = 0; i < count; ++i) new (header(i)) SlotHeader{};
}

StreamSlots::StreamSlots(SharedRegion attached, std::size_t count, std::size_t slot_bytes)
    : region_(std::move(attached)), count_(count), slot_bytes_(slot_bytes) {
  if (region_.size() < bytes(count, slot_bytes))
    throw std::runtime_error("stream slots: the shared region is too small");
}

Splitter::Splitter(const Job& job, Inputs& inputs, std::size_t chunk_size, StreamSlots* slots)
    : job_(job),
      inputs_(inputs),
      chunk_size_(chunk_size),
      slots_(slots),
      line_numbers_(job.wants_line_numbers()),
      stream_chunk_(slots ? std::min(chunk_size, slots->slot_bytes()) : chunk_size) {
  if (slots_)
    for (std::size_t i = slots_->count(); i-- > 0;) free_slots_.push_back(static_cast<int>(i));
}

void Splitter::release_slot(int slot) {
  slots_->header(static_cast<std::size_t>(slot))->claim.store(0);
  free_slots_.push_back(slot);
}

ChunkTask Splitter::accept(std::uint32_t chunk, const StreamChunk& from) {
  if (!slots_ || free_slots_.empty() || from.bytes.size() > slots_->slot_bytes())
    throw std::logic_error("Splitter::accept: no free slot that fits the chunk");
  const int slot = free_slots_.back();
  free_slots_.pop_back();
  std::memcpy(slots_->data(static_cast<std::size_t>(slot)), from.bytes.data(), from.bytes.size());
  ChunkTask t{chunk, from.input,     from.offset,    from.bytes.size(),
              slot,  next_ticket_++, from.first_line};
  bytes_ += t.length;
  slots_->header(static_cast<std::size_t>(slot))->claim.store(t.ticket);
  return t;
}

ChunkTask Splitter::make_task(std::uint32_t chunk, std::uint64_t offset, std::uint64_t length,
                              int slot, std::string_view bytes) {
  ChunkTask t{chunk, 0, offset, length, slot, 0, 0};
  if (line_numbers_) {
    if (offset == 0) lines_before_ = 0;  // a new input
    t.first_line = lines_before_ + 1;
    lines_before_ += static_cast<std::uint64_t>(std::count(bytes.begin(), bytes.end(), '\n'));
  }
  bytes_ += length;
  return t;
}

std::optional<ChunkTask> Splitter::next(std::uint32_t chunk) {
  while (cursor_ < inputs_.size()) {
    Input& in = inputs_[cursor_];
    if (!in.streamed()) {
      std::string_view data = in.data();
      std::uint64_t pos = offset_;
      if (pos >= data.size()) {
        ++cursor_;
        offset_ = 0;
        continue;
      }
      std::uint64_t end = data.size();
      if (data.size() - pos > chunk_size_)
        end = std::max<std::uint64_t>(job_.split_point(data, pos + chunk_size_), pos + 1);
      offset_ = end;
      ChunkTask t = make_task(chunk, pos, end - pos, -1, data.substr(pos, end - pos));
      t.input = cursor_;
      return t;
    }
    if (skip_streams_) {
      ++cursor_;
      offset_ = 0;
      continue;
    }
    if (free_slots_.empty()) return std::nullopt;
    // Fill a slot: the carried-over bytes, then as much of the stream as fits.
    int slot = free_slots_.back();
    char* buf = slots_->data(static_cast<std::size_t>(slot));
    std::size_t cap = stream_chunk_, n = carry_.size();
    std::memcpy(buf, carry_.data(), n);
    carry_.clear();
    bool eof = false;
    while (n < cap) {
      std::size_t r = in.read(buf + n, cap - n);
      if (r == 0) {
        eof = true;
        break;
      }
      n += r;
    }
    std::size_t cut = n;
    if (!eof) {
      // The last position in the slot where the job allows a cut.
      std::string_view data(buf, n);
      cut = n;
      for (std::size_t back = 4096;; back *= 2) {
        std::size_t from = back >= n ? 1 : n - back;
        std::size_t p = job_.split_point(data, from);
        if (p < n) {
          for (std::size_t q = p; q < n; q = job_.split_point(data, q + 1)) p = q;
          cut = p;
          break;
        }
        if (from == 1)
          throw JobError("'" + in.name() + "' has a record longer than --chunk-size (" +
                         std::to_string(cap) + " bytes) near byte " + std::to_string(offset_ + n) +
                         "; raise --chunk-size");
      }
      carry_.assign(buf + cut, n - cut);
    }
    std::uint64_t offset = offset_;
    const std::uint32_t input = cursor_;
    offset_ += cut;
    if (eof) {
      ++cursor_;
      offset_ = 0;
    }
    if (cut == 0) continue;  // an empty stream
    free_slots_.pop_back();
    ChunkTask t = make_task(chunk, offset, cut, slot, std::string_view(buf, cut));
    t.input = input;
    t.ticket = next_ticket_++;
    if (++stream_chunks_ % kStreamChunksPerSize == 0)
      stream_chunk_ = std::min(2 * stream_chunk_, slots_->slot_bytes());
    slots_->header(static_cast<std::size_t>(slot))->claim.store(t.ticket);
    return t;
  }
  return std::nullopt;
}

}  // namespace mr::detail
