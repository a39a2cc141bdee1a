// JobRecipe: how a job is made, so that a worker which is a fresh run of the
// program (start method spawn or forkserver, see mr/process/process.h) can
// make the same job again. A forked worker simply inherits the master's job.
//
//   mr::JobRecipe r{.plugin = mr::resolve_plugin("grep"), .options = {{"pattern", "x"}}};
//   std::unique_ptr<mr::Job> job = mr::make_job(r);
//   eo.job_recipe = r;   // mr::EngineOptions: workers rebuild it the same way
//
// Built-in jobs (linked into the program, like wordcount) register the same
// description record a plugin exports (PluginInfo, made by MR_JOB_INFO in
// mr/job_api/plugin.h) with MR_BUILTIN_JOB at namespace scope, so that the
// program lists them, prints their options and checks --opt keys exactly as
// for a plugin. Registration happens during static initialization, lookups
// are read-only afterwards (thread-safe).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <vector>

#include "mr/job_api/job.h"
#include "mr/job_api/job_options.h"
#include "mr/job_api/plugin.h"

namespace mr {

struct JobRecipe {
  std::string builtin;                         // a built-in job's name (MR_BUILTIN_JOB), or empty
  std::string plugin;                          // otherwise the path of a plugin (resolve_plugin())
  std::map<std::string, std::string> options;  // the job's options (JobOptions)

  bool empty() const noexcept { return builtin.empty() && plugin.empty(); }
  template <class Ar>
  void serialize(Ar& ar) {
    ar(builtin, plugin, options);
  }
};

// Registers a built-in job by its description record (which must outlive
// the program: MR_JOB_INFO's is static); returns true (for the macro). A
// second registration of a name throws std::logic_error.
bool register_builtin_job(const PluginInfo& info);
// The built-in job called `name`, or nullptr.
const PluginInfo* find_builtin_job(std::string_view name);
// Every built-in job, by name.
std::vector<const PluginInfo*> builtin_jobs();

// Makes the job: create_plugin_job over the built-in's record, or over
// load_plugin(plugin)'s. Throws PluginError (mr/mapreduce/plugin_loader.h)
// for a plugin that cannot be loaded and for options the job refuses (an
// undeclared key, a bad value), naming the job; std::invalid_argument for
// an unknown built-in or an empty recipe.
std::unique_ptr<Job> make_job(const JobRecipe& recipe);

}  // namespace mr

#define MR_BUILTIN_JOB_CONCAT2(a, b) a##b
#define MR_BUILTIN_JOB_CONCAT(a, b) MR_BUILTIN_JOB_CONCAT2(a, b)
// MR_BUILTIN_JOB(mr::wordcount_job_info);  (a function made by MR_JOB_INFO)
#define MR_BUILTIN_JOB(info_function)                                                   \
  [[maybe_unused]] static const bool MR_BUILTIN_JOB_CONCAT(mr_builtin_job_, __LINE__) = \
      ::mr::register_builtin_job(*info_function())
