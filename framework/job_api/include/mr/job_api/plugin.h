// Plugins: a job in a shared library, loaded by `mapreduce run --job`.
//
//   // myjob.cc, built as libmr_job_myjob.so against the installed package
//   #include "mr/job_api/plugin.h"
//   struct MyJob : mr::MapReduceJob<std::string, std::uint64_t> { ... };
//   MR_PLUGIN(MyJob, "myjob", "what it does")
//
// MR_PLUGIN defines the one C symbol the loader looks for, mr_plugin_v1,
// which returns a PluginInfo. The loader refuses a plugin whose ABI
// version, compiler or C++ standard library differs from its own (the Job
// objects cross the library boundary as C++ objects), with a message saying
// what to rebuild. No exception crosses the C symbol: create() reports
// errors through its `error` argument.
#pragma once

#include <cstddef>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>

#include "mr/job_api/job.h"
#include "mr/job_api/job_options.h"
#include "mr/job_api/typed_job.h"

// Bumped whenever Job, MapTask, ReduceTask, PluginInfo or the types they use
// change shape.
// 2: ChunkInfo::input_index; 3: ReduceTask::take_counters and
// set_partition, Job::start_worker/stop_worker; 4: Job::start_worker returns
// the worker's WorkerJob, which makes the tasks (no make_map_task,
// make_reduce_task or stop_worker on Job); 5: WorkerJob::make_record_codec
// (Hadoop Streaming).
#define MR_PLUGIN_ABI_VERSION 5

#define MR_PLUGIN_STRINGIFY2(x) #x
#define MR_PLUGIN_STRINGIFY(x) MR_PLUGIN_STRINGIFY2(x)
// The compiler and standard library a plugin must share with the program.
#define MR_PLUGIN_COMPILER "g++ " __VERSION__
// clang-format off
#define MR_PLUGIN_STDLIB                                           \
  "libstdc++ " MR_PLUGIN_STRINGIFY(_GLIBCXX_RELEASE) " cxx11-abi=" \
      MR_PLUGIN_STRINGIFY(_GLIBCXX_USE_CXX11_ABI) " c++" MR_PLUGIN_STRINGIFY(__cplusplus)
// clang-format on

namespace mr {

struct PluginInfo {
  unsigned abi_version;
  const char* compiler;
  const char* stdlib;
  const char* name;
  const char* description;
  // The options the job declares (may be empty).
  std::vector<OptionSpec> (*options)();
  // A new job for these options, or nullptr with `error` filled in.
  Job* (*create)(const JobOptions& options, std::string* error);
};

namespace detail {
template <class J>
std::vector<OptionSpec> plugin_options() {
  if constexpr (DeclaresOptions<J>) {
    return J::options();
  } else {
    return {};
  }
}
template <class J>
Job* plugin_create(const char* name, const JobOptions& options, std::string* error) {
  try {
    if constexpr (std::is_base_of_v<Job, J>) {
      static_assert(std::is_constructible_v<J, const JobOptions&>,
                    "MR_PLUGIN: a byte-level job (derived from mr::Job) needs a constructor "
                    "taking const mr::JobOptions&");
      return new J(options);
    } else {
      return make_job<J>(name, options).release();
    }
  } catch (const std::exception& e) {
    *error = e.what();
  } catch (...) {
    *error = "unknown exception while creating the job";
  }
  return nullptr;
}
}  // namespace detail

}  // namespace mr

// Defines `const mr::PluginInfo* function_name()`: the description record
// of JobType (its name as `mapreduce jobs` lists it, a one-line description,
// its declared options, its factory). A plugin exports it as the C symbol
// mr_plugin_v1 (MR_PLUGIN); a built-in job, linked into the program, is
// registered by the same record (MR_BUILTIN_JOB, mr/mapreduce/job_recipe.h),
// so the program lists, documents and checks every job alike. JobType is a
// typed MapReduceJob (wrapped by make_job), or a byte-level mr::Job
// (mr/job_api/job.h: the fast path the built-in wordcount takes)
// constructible from const JobOptions&; either may declare
// `static std::vector<OptionSpec> options()`.
#define MR_JOB_INFO(function_name, JobType, job_name, job_description) \
  const ::mr::PluginInfo* function_name() {                            \
    static const ::mr::PluginInfo info{                                \
        MR_PLUGIN_ABI_VERSION,                                         \
        MR_PLUGIN_COMPILER,                                            \
        MR_PLUGIN_STDLIB,                                              \
        job_name,                                                      \
        job_description,                                               \
        &::mr::detail::plugin_options<JobType>,                        \
        [](const ::mr::JobOptions& o, std::string* e) -> ::mr::Job* {  \
          return ::mr::detail::plugin_create<JobType>(job_name, o, e); \
        }};                                                            \
    return &info;                                                      \
  }

// Declares the plugin's job: JobType, its name and a one-line description
// (see MR_JOB_INFO).
#define MR_PLUGIN(JobType, job_name, job_description) \
  extern "C" __attribute__((visibility("default")))   \
  MR_JOB_INFO(mr_plugin_v1, JobType, job_name, job_description)
