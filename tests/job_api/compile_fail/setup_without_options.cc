// setup() without its options parameter: must not compile (it used to be
// ignored, so the job ran without being set up).
#include <cstdint>
#include <string>

#include "mr/job_api/plugin.h"

struct Job : mr::MapReduceJob<std::string, std::uint64_t> {
  void setup() { ready = true; }
  void map(std::string_view chunk, Context& ctx) {
    if (ready) ctx.emit(std::string(chunk), 1);
  }
  bool ready = false;
};

MR_PLUGIN(Job, "setup_without_options", "does not compile")
