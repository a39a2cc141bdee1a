// Finding and loading job plugins (see mr/job_api/plugin.h).
//
// A plugin is a shared library named libmr_job_<name>.so exporting
// mr_plugin_v1. It is looked for, in order, in the folders of
// $MAPREDUCE_JOB_PATH (colon-separated), then where the install puts them
// relative to the running program (<bindir>/../<libdir>/mapreduce/jobs, from
// CMAKE_INSTALL_BINDIR and CMAKE_INSTALL_LIBDIR at configure time), then in
// the build tree's ../lib/mapreduce/jobs from bin/ (the same folder when the
// libdir is lib).
//
// The master loads the plugin; forked workers inherit it, and a worker that
// is a fresh program (spawn, forkserver) loads it again from the job's
// recipe. A loaded plugin stays loaded until the process ends.
// Not thread-safe (load from the main thread).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "mr/job_api/job.h"
#include "mr/job_api/plugin.h"

namespace mr {

// A file that is not a plugin, a missing symbol, an ABI or compiler
// mismatch, a job that refused its options. what() is for the user.
class PluginError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct PluginEntry {
  std::string name;  // as the plugin calls itself
  std::string path;
  std::string description;  // or the reason it cannot be loaded
  bool loadable = true;
};

// The folders searched, in order.
std::vector<std::string> plugin_search_path();
// Every libmr_job_*.so on the search path (the first of each name wins).
std::vector<PluginEntry> list_plugins();
// `job` is a path when it contains '/' (or ends in ".so"), else a name
// looked up on the search path. Throws PluginError when not found.
std::string resolve_plugin(const std::string& job);
// Loads the plugin at `path` and checks it. Throws PluginError.
const PluginInfo& load_plugin(const std::string& path);
// A new job of a loaded plugin. Throws PluginError for an option key the
// plugin does not declare (any key, when it declares none), naming the key
// and the declared ones, and with the job's message when it refuses.
std::unique_ptr<Job> create_plugin_job(const PluginInfo& plugin, const JobOptions& options);

}  // namespace mr
