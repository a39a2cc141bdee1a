// combine() taking non-const references: must not compile (it used to be
// dropped silently, and every pair was shuffled).
#include <cstdint>
#include <string>

#include "mr/job_api/plugin.h"

struct Job : mr::MapReduceJob<std::string, std::uint64_t> {
  void map(std::string_view chunk, Context& ctx) { ctx.emit(std::string(chunk), 1); }
  std::uint64_t combine(std::uint64_t& a, std::uint64_t& b) const { return a + b; }
};

MR_PLUGIN(Job, "combine_mutable_refs", "does not compile")
