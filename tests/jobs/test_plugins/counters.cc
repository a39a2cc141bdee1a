// Test plugin for counters_test: counts distinct lines, and user counters
// in map ("lines": every line) and in reduce ("distinct": every key,
// "repeated": the keys seen more than once, "copies": the lines beyond the
// first of each key).
#include <cstdint>
#include <string>

#include "mr/job_api/plugin.h"

namespace {

struct Counters : mr::MapReduceJob<std::string, std::uint64_t> {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    ctx.count("lines");
    ctx.emit(std::string(line), 1);
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::string& line, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.count("distinct");
    if (n > 1) {
      ctx.count("repeated");
      ctx.count("copies", static_cast<std::int64_t>(n - 1));
    }
    ctx.emit(std::string(line), std::move(n));
  }
};

}  // namespace

MR_PLUGIN(Counters, "test_counters", "test: user counters in map and in reduce")
