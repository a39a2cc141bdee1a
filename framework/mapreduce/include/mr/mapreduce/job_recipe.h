// JobRecipe: how a job is made, so that a worker which is a fresh run of the
// program (start method spawn or forkserver, see mr/process/process.h) can
// make the same job again. A forked worker simply inherits the master's job.
//
//   mr::JobRecipe r{.plugin = mr::resolve_plugin("grep"), .options = {{"pattern", "x"}}};
//   std::unique_ptr<mr::Job> job = mr::make_job(r);
//   eo.job_recipe = r;   // mr::EngineOptions: workers rebuild it the same way
//
// Built-in jobs (linked into the program, like wordcount) register a factory
// under their name with MR_BUILTIN_JOB at namespace scope; registration
// happens during static initialization, lookups are read-only afterwards
// (thread-safe).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "mr/job_api/job.h"
#include "mr/job_api/job_options.h"

namespace mr {

struct JobRecipe {
  std::string builtin;                         // a name registered with MR_BUILTIN_JOB, or empty
  std::string plugin;                          // otherwise the path of a plugin (resolve_plugin())
  std::map<std::string, std::string> options;  // the job's options (JobOptions)

  bool empty() const noexcept { return builtin.empty() && plugin.empty(); }
  template <class Ar>
  void serialize(Ar& ar) {
    ar(builtin, plugin, options);
  }
};

// Makes a job of the given options; throws std::invalid_argument for bad ones.
using BuiltinJobFactory = std::unique_ptr<Job> (*)(const JobOptions& options);

// Registers a built-in job; returns true (for the macro). A second
// registration of a name throws std::logic_error.
bool register_builtin_job(std::string_view name, BuiltinJobFactory factory);

// Makes the job: the built-in's factory, or load_plugin(plugin) and
// create_plugin_job. Throws PluginError (mr/mapreduce/plugin_loader.h),
// std::invalid_argument for an unknown built-in or a bad option.
std::unique_ptr<Job> make_job(const JobRecipe& recipe);

}  // namespace mr

#define MR_BUILTIN_JOB_CONCAT2(a, b) a##b
#define MR_BUILTIN_JOB_CONCAT(a, b) MR_BUILTIN_JOB_CONCAT2(a, b)
// MR_BUILTIN_JOB("wordcount", make_wordcount_job);
#define MR_BUILTIN_JOB(name, factory)                                                   \
  [[maybe_unused]] static const bool MR_BUILTIN_JOB_CONCAT(mr_builtin_job_, __LINE__) = \
      ::mr::register_builtin_job(name, factory)
