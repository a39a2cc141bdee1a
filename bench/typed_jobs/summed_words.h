// The part the benchmark's typed word counts share (typed_wordcount.cc and
// typed_wordcount_line.cc differ only in how they map): a word's count is
// summed by a combiner and by reduce, and the output is in the built-in
// wordcount's order (count descending, then word), so both print its bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "mr/job_api/typed_job.h"

struct SummedWords : mr::MapReduceJob<std::string, std::uint64_t> {
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::string& word, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(word, n);
  }
  bool before(const std::string& a, const std::uint64_t& na, const std::string& b,
              const std::uint64_t& nb) const {
    return na != nb ? na > nb : a < b;
  }
};
