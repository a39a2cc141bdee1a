// Test plugin for input_index_test: counts the lines of each input, keyed by
// (ChunkInfo::input_index, file name as given), so the output shows which
// index the engine gave each input.
#include <cstdint>
#include <string>
#include <utility>

#include "mr/job_api/plugin.h"

namespace {

using Input = std::pair<std::uint32_t, std::string>;  // (input index, file)

struct InputIndex : mr::MapReduceJob<Input, std::uint64_t> {
  void map_line(std::string_view, std::uint64_t, Context& ctx) {
    ctx.emit(Input{ctx.chunk().input_index, std::string(ctx.chunk().file)}, 1);
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const Input& input, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(Input(input), std::move(n));
  }
  std::string format(const Input& input, const std::uint64_t& n) const {
    return std::to_string(input.first) + "\t" + input.second + "\t" + std::to_string(n);
  }
};

}  // namespace

MR_PLUGIN(InputIndex, "test_input_index", "test: lines per input, by input index")
