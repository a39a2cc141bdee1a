// The built-in wordcount job: counts words with the job API's tokenizer and
// WordCounter (the combiner), partitions by the top bits of the word hash,
// and writes `word<TAB>count` lines, by count descending then word in byte
// order (or by word with SortOrder::kWord).
#pragma once

#include <memory>

#include "mr/job_api/job.h"
#include "mr/job_api/job_options.h"
#include "mr/job_api/plugin.h"
#include "mr/job_api/tokenizer.h"

namespace mr {

struct WordCountOptions {
  TokenizerOptions tokenizer;
  enum class SortOrder { kCount, kWord } sort = SortOrder::kCount;
  std::uint64_t top = 0;  // 0: all; otherwise each reducer keeps only its top N
};

class WordCountJob : public Job {
 public:
  explicit WordCountJob(WordCountOptions options);
  // From job options (see wordcount_options); throws std::invalid_argument.
  explicit WordCountJob(const JobOptions& options);
  static std::vector<OptionSpec> options();
  std::string_view name() const override { return "wordcount"; }
  std::size_t split_point(std::string_view data, std::size_t near) const override;
  std::unique_ptr<WorkerJob> start_worker(WorkerOrigin origin) const override;
  std::uint64_t write_output(const std::vector<std::string_view>& runs, const OutputOptions& options,
                             std::FILE* out) const override;

 private:
  WordCountOptions options_;
};

// The options wordcount takes as job options, and parsing them (throws
// std::invalid_argument for a bad or unknown one).
std::vector<OptionSpec> wordcount_option_specs();
WordCountOptions wordcount_options(const JobOptions& options);

// The job's description record (name "wordcount", description, options
// tokenizer=unicode|whitespace, keep_case=0|1, normalize=none|nfc|nfkc,
// sort=count|word, top=N, and factory): the same record a plugin exports (MR_JOB_INFO,
// mr/job_api/plugin.h), which the mapreduce program registers as a built-in
// job (MR_BUILTIN_JOB, mr/mapreduce/job_recipe.h), so that it is listed,
// documented and checked like any job, and spawned workers make it too.
const PluginInfo* wordcount_job_info();

}  // namespace mr
