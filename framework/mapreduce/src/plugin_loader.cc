#include "mr/mapreduce/plugin_loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "program_dir.h"

namespace mr {
namespace detail {

std::string program_dir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<std::size_t>(n));
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace detail
namespace {

using detail::program_dir;

bool is_path(const std::string& job) {
  return job.find('/') != std::string::npos || job.ends_with(".so");
}

}  // namespace

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("MAPREDUCE_JOB_PATH")) {
    std::string all = env;
    std::size_t start = 0;
    while (start <= all.size()) {
      std::size_t colon = all.find(':', start);
      if (colon == std::string::npos) colon = all.size();
      if (colon > start) dirs.push_back(all.substr(start, colon - start));
      start = colon + 1;
    }
  }
  // The build tree keeps the program in bin/ and the plugins in
  // lib/mapreduce/jobs; an install puts them where its bindir and libdir
  // say (lib/x86_64-linux-gnu on Debian with prefix /usr, lib64 elsewhere).
  const std::string dir = program_dir();
  const std::string build_tree = dir + "/../lib/mapreduce/jobs";
  const std::string installed = std::string(MR_INSTALLED_JOBS_DIR).starts_with('/')
                                    ? std::string(MR_INSTALLED_JOBS_DIR)
                                    : dir + "/" + MR_INSTALLED_JOBS_DIR;
  dirs.push_back(installed);
  if (installed != build_tree) dirs.push_back(build_tree);
  return dirs;
}

std::vector<PluginEntry> list_plugins() {
  std::vector<PluginEntry> found;
  std::set<std::string> names;
  for (const auto& dir : plugin_search_path()) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) continue;
    std::vector<std::string> files;
    while (dirent* e = ::readdir(d)) {
      std::string f = e->d_name;
      if (f.starts_with("libmr_job_") && f.ends_with(".so")) files.push_back(f);
    }
    ::closedir(d);
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      PluginEntry entry;
      entry.path = dir + "/" + f;
      entry.name = f.substr(10, f.size() - 13);
      try {
        const PluginInfo& info = load_plugin(entry.path);
        entry.name = info.name;
        entry.description = info.description;
      } catch (const PluginError& e) {
        entry.loadable = false;
        entry.description = e.what();
      }
      if (names.insert(entry.name).second) found.push_back(entry);
    }
  }
  return found;
}

std::string resolve_plugin(const std::string& job) {
  if (is_path(job)) {
    if (::access(job.c_str(), R_OK) != 0)
      throw PluginError("cannot open job plugin '" + job + "': " + std::strerror(errno));
    return job;
  }
  for (const auto& dir : plugin_search_path()) {
    std::string path = dir + "/libmr_job_" + job + ".so";
    if (::access(path.c_str(), R_OK) == 0) return path;
  }
  std::string where;
  for (const auto& dir : plugin_search_path()) where += "\n  " + dir;
  throw PluginError("no job named '" + job + "' (looked for libmr_job_" + job + ".so in:" + where +
                    "\n; 'mapreduce jobs' lists the jobs, MAPREDUCE_JOB_PATH adds folders)");
}

const PluginInfo& load_plugin(const std::string& path) {
  static std::map<std::string, const PluginInfo*> loaded;
  if (auto it = loaded.find(path); it != loaded.end()) return *it->second;
  // RTLD_LOCAL: each plugin keeps its own copy of the job API's symbols.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw PluginError("cannot load job plugin '" + path + "': " + ::dlerror());
  using Entry = const PluginInfo* (*)();
  auto entry = reinterpret_cast<Entry>(::dlsym(handle, "mr_plugin_v1"));
  if (!entry) {
    ::dlclose(handle);
    throw PluginError("'" + path +
                      "' is not a mapreduce job plugin (it has no mr_plugin_v1 symbol; "
                      "declare the job with MR_PLUGIN)");
  }
  const PluginInfo* info = entry();
  auto mismatch = [&](const std::string& what, const std::string& theirs, const std::string& ours) {
    return PluginError("job plugin '" + path + "' was built with " + what + " " + theirs +
                       ", this mapreduce with " + ours +
                       ": rebuild the plugin against this installation");
  };
  if (!info) throw PluginError("job plugin '" + path + "' returned no description");
  if (info->abi_version != MR_PLUGIN_ABI_VERSION)
    throw mismatch("plugin ABI", std::to_string(info->abi_version),
                   std::to_string(MR_PLUGIN_ABI_VERSION));
  if (std::string(info->compiler) != MR_PLUGIN_COMPILER)
    throw mismatch("compiler", info->compiler, MR_PLUGIN_COMPILER);
  if (std::string(info->stdlib) != MR_PLUGIN_STDLIB)
    throw mismatch("standard library", info->stdlib, MR_PLUGIN_STDLIB);
  loaded[path] = info;  // the handle stays open for the life of the process
  return *info;
}

std::unique_ptr<Job> create_plugin_job(const PluginInfo& plugin, const JobOptions& options) {
  // Only the options the plugin declares are accepted, whatever kind of
  // job it is (a typed or a byte-level one, declaring options or none): a
  // typo in --opt must not be silently ignored.
  try {
    options.check_known(plugin.options ? plugin.options() : std::vector<OptionSpec>{});
  } catch (const std::invalid_argument& e) {
    throw PluginError(std::string(plugin.name) + ": " + e.what());
  }
  std::string error;
  Job* job = plugin.create(options, &error);
  if (!job) throw PluginError(std::string(plugin.name) + ": " + error);
  return std::unique_ptr<Job>(job);
}

}  // namespace mr
