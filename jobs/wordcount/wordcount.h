// The built-in wordcount job: counts words with the job API's tokenizer and
// WordCounter (the combiner), partitions by the top bits of the word hash,
// and writes `word<TAB>count` lines, by count descending then word in byte
// order (or by word with SortOrder::kWord).
#pragma once

#include <memory>

#include "mr/job_api/tokenizer.h"
#include "mr/job_api/job.h"
#include "mr/job_api/job_options.h"

namespace mr {

struct WordCountOptions {
  TokenizerOptions tokenizer;
  enum class SortOrder { kCount, kWord } sort = SortOrder::kCount;
  std::uint64_t top = 0;  // 0: all; otherwise each reducer keeps only its top N
};

class WordCountJob : public Job {
 public:
  explicit WordCountJob(WordCountOptions options);
  std::string_view name() const override { return "wordcount"; }
  std::size_t split_point(std::string_view data, std::size_t near) const override;
  std::unique_ptr<MapTask> make_map_task() const override;
  std::unique_ptr<ReduceTask> make_reduce_task() const override;
  std::uint64_t write_output(const std::vector<std::string_view>& runs, const OutputOptions& options,
                             std::FILE* out) const override;

 private:
  WordCountOptions options_;
};

// The options wordcount takes as job options, and parsing them (throws
// std::invalid_argument for a bad or unknown one).
std::vector<OptionSpec> wordcount_option_specs();
WordCountOptions wordcount_options(const JobOptions& options);

// The job from its options (tokenizer=unicode|whitespace, keep_case=0|1,
// normalize=none|nfc|nfkc, sort=count|word, top=N): the factory the mapreduce program registers as
// the built-in job "wordcount" (MR_BUILTIN_JOB, mr/mapreduce/job_recipe.h),
// so that spawned workers can make it too.
// Throws std::invalid_argument for a bad or unknown option.
std::unique_ptr<Job> make_wordcount_job(const JobOptions& options);

}  // namespace mr
