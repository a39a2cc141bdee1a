// reduce() misspelt as reduces(): must not compile (it used to be ignored,
// and the job ran as map-only).
#include <cstdint>
#include <span>
#include <string>

#include "mr/job_api/plugin.h"

struct Job : mr::MapReduceJob<std::string, std::uint64_t> {
  void map(std::string_view chunk, Context& ctx) { ctx.emit(std::string(chunk), 1); }
  void reduces(const std::string& key, std::span<const std::uint64_t> values, ReduceContext& ctx) {
    ctx.emit(key, values.size());
  }
};

MR_PLUGIN(Job, "reduce_misspelt", "does not compile")
