// A job whose map crashes on one line: the job must fail naming itself, the
// phase, the file and the byte range, after the engine's retries.
#include <csignal>

#include "mr/job_api/plugin.h"

namespace {
struct Crashing : mr::MapReduceJob<std::string, std::uint64_t> {
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    if (line == "crash") std::raise(SIGSEGV);
    ctx.emit(std::string(line), 1);
  }
  void reduce(const std::string& k, std::span<const std::uint64_t> v, ReduceContext& ctx) {
    ctx.emit(k, v.size());
  }
};
}  // namespace

MR_PLUGIN(Crashing, "crashing", "crashes on the line 'crash'")
