// Test plugin for output_format_test: how often each distinct line occurs
// (key: the line's bytes, value: the count), with its own format() so the
// test can tell the job's TSV lines from the structured --format forms.
#include <cstdint>
#include <string>

#include "mr/job_api/plugin.h"

namespace {

struct DistinctLines : mr::MapReduceJob<std::string, std::uint64_t> {
  static std::vector<mr::OptionSpec> options() { return {}; }
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    ctx.emit(std::string(line), 1);
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::string& line, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(std::string(line), std::move(n));
  }
  // Most frequent first, then by line.
  bool before(const std::string& a, const std::uint64_t& na, const std::string& b,
              const std::uint64_t& nb) const {
    return na != nb ? na > nb : a < b;
  }
  std::string format(const std::string& line, const std::uint64_t& n) const {
    return std::to_string(n) + " x [" + line + "]";
  }
};

}  // namespace

MR_PLUGIN(DistinctLines, "test_distinct_lines", "test: count of each distinct line")
