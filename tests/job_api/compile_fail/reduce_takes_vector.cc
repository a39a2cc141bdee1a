// reduce() taking a std::vector instead of a std::span: must not compile
// (it used to be ignored, and the job ran as map-only).
#include <cstdint>
#include <string>
#include <vector>

#include "mr/job_api/plugin.h"

struct Job : mr::MapReduceJob<std::string, std::uint64_t> {
  void map(std::string_view chunk, Context& ctx) { ctx.emit(std::string(chunk), 1); }
  void reduce(const std::string& key, const std::vector<std::uint64_t>& values,
              ReduceContext& ctx) {
    ctx.emit(key, values.size());
  }
};

MR_PLUGIN(Job, "reduce_takes_vector", "does not compile")
