#include "task_book.h"

#include <algorithm>

#include <stdexcept>
#include <string>
#include <utility>

namespace mr::detail {

TaskBook::TaskBook(unsigned max_attempts, unsigned partitions, unsigned start_attempts)
    : max_attempts_(max_attempts),
      start_attempts_(start_attempts),
      partition_attempts_(partitions, 0) {
  if (max_attempts == 0) throw std::invalid_argument("max_attempts must be at least 1");
  if (start_attempts == 0) throw std::invalid_argument("start_attempts must be at least 1");
  partition_copies_.assign(partitions, 0);
  partition_finished_.assign(partitions, false);
}

void TaskBook::add(const ChunkTask& task) {
  if (task.chunk != chunks_.size())
    throw std::logic_error("mapreduce engine: chunk " + std::to_string(task.chunk) +
                           " recorded out of order");
  chunks_.push_back(ChunkState{task});
}

const ChunkTask& TaskBook::commit(std::uint32_t chunk) {
  ChunkState& cs = chunks_.at(chunk);
  if (cs.committed) throw std::logic_error("mapreduce engine: chunk committed twice");
  cs.committed = true;
  return cs.task;
}

void TaskBook::mapped(std::uint32_t chunk) {
  ChunkState& cs = chunks_.at(chunk);
  if (std::exchange(cs.mapped, true)) return;
  mapped_bytes_ += cs.task.length;
}

bool TaskBook::chunk_failed(std::uint32_t chunk) {
  return ++chunks_.at(chunk).attempts >= max_attempts_;
}

std::vector<ChunkTask> TaskBook::uncommitted() {
  std::vector<ChunkTask> lost;
  for (auto& cs : chunks_)
    if (!cs.committed) {
      cs.task.ticket = 0;
      lost.push_back(cs.task);
    }
  retries_ += lost.size();
  return lost;
}

std::vector<std::uint32_t> TaskBook::stream_chunks_in_flight() const {
  std::vector<std::uint32_t> out;
  for (const auto& cs : chunks_)
    if (cs.task.slot >= 0 && !cs.committed && cs.task.ticket) out.push_back(cs.task.chunk);
  return out;
}

const ChunkTask& TaskBook::reissue(std::uint32_t chunk, std::uint64_t ticket) {
  ChunkState& cs = chunks_.at(chunk);
  cs.task.ticket = ticket;
  ++retries_;
  return cs.task;
}

void TaskBook::begin_reduce(const std::function<bool(std::uint32_t)>& here) {
  for (std::uint32_t r = 0; r < partitions(); ++r) {
    if (!here || here(r))
      pending_partitions_.push_back(r);
    else
      ++partitions_done_;  // another node reduces it
  }
}

std::optional<std::uint32_t> TaskBook::next_partition() {
  if (pending_partitions_.empty()) return std::nullopt;
  std::uint32_t p = pending_partitions_.front();
  pending_partitions_.pop_front();
  return p;
}

bool TaskBook::partition_done(std::uint32_t p) {
  if (partition_finished_.at(p)) return false;
  partition_finished_[p] = true;
  ++partitions_done_;
  return true;
}

bool TaskBook::partition_failed(std::uint32_t p, bool another_attempt_runs) {
  const bool last = ++partition_attempts_.at(p) >= max_attempts_;
  if (!another_attempt_runs && !partition_finished_[p]) {
    pending_partitions_.push_front(p);
    ++retries_;
  }
  return last;
}

void TaskBook::keep_time(std::vector<double>& times, std::size_t& recorded, double seconds) {
  if (times.size() < kTimesKept)
    times.push_back(seconds);
  else
    times[recorded % kTimesKept] = seconds;  // the oldest
  ++recorded;
}

bool TaskBook::straggles(double running, std::vector<double> finished) {
  if (finished.size() < 2) return false;
  auto mid = finished.begin() + static_cast<std::ptrdiff_t>(finished.size() / 2);
  std::nth_element(finished.begin(), mid, finished.end());
  return running > std::max(kStragglerMinSeconds, kStragglerFactor * *mid);
}

bool TaskBook::chunk_straggles(std::uint32_t chunk, double running) const {
  return chunks_.at(chunk).copies < kMaxCopies && straggles(running, chunk_seconds_);
}

bool TaskBook::partition_straggles(std::uint32_t p, double running) const {
  return partition_copies_.at(p) < kMaxCopies && straggles(running, partition_seconds_);
}

}  // namespace mr::detail
