// A plugin whose job is a byte-level mr::Job, the API's fast path: here the
// built-in wordcount's own class, so that its output can be compared with
// `mapreduce wordcount`'s (byte_level_plugin_test).
#include "mr/job_api/plugin.h"
#include "wordcount.h"

namespace {

struct FastWords : mr::WordCountJob {
  explicit FastWords(const mr::JobOptions& options)
      : WordCountJob(mr::wordcount_options(options)) {}
  static std::vector<mr::OptionSpec> options() { return mr::wordcount_option_specs(); }
};

}  // namespace

MR_PLUGIN(FastWords, "fast_words", "wordcount's byte-level job, loaded as a plugin")
