#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "mr/mapreduce/backend.h"
#include "program_dir.h"

namespace mr {

using detail::program_dir;

std::vector<std::string> backend_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("MAPREDUCE_BACKEND_PATH"); env && *env) dirs.push_back(env);
  // Beside the plugins' folder (MR_INSTALLED_JOBS_DIR is <libdir>/mapreduce/jobs).
  const std::string dir = program_dir();
  const std::string jobs = std::string(MR_INSTALLED_JOBS_DIR).starts_with('/')
                               ? std::string(MR_INSTALLED_JOBS_DIR)
                               : dir + "/" + MR_INSTALLED_JOBS_DIR;
  dirs.push_back(jobs + "/..");
  const std::string build_tree = dir + "/../lib/mapreduce";
  if (dirs.back() != build_tree + "/jobs/..") dirs.push_back(build_tree);
  return dirs;
}

std::unique_ptr<Backend> load_backend(const std::string& name, const BackendOptions& options) {
  if (name.empty() || name.find('/') != std::string::npos)
    throw BackendError("invalid backend name '" + name + "'");
  const std::string file = "libmapreduce-" + name + ".so";
  std::string where;
  for (const std::string& dir : backend_search_path()) {
    const std::string path = dir + "/" + file;
    where += " " + dir;
    if (::access(path.c_str(), F_OK) != 0) continue;
    // RTLD_GLOBAL: an MPI library loads components of its own that resolve
    // its symbols globally.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!handle) throw BackendError("cannot load backend '" + path + "': " + ::dlerror());
    auto* factory = reinterpret_cast<BackendFactory*>(::dlsym(handle, kBackendSymbol));
    if (!factory)
      throw BackendError("'" + path + "' is not a mapreduce backend (no " + kBackendSymbol + ")");
    char error[512] = "";
    Backend* backend = factory(&options, error, sizeof error);
    if (!backend) throw BackendError("backend " + name + ": " + error);
    return std::unique_ptr<Backend>(backend);  // the library stays loaded
  }
  throw BackendError("no backend '" + name + "' (looked for " + file + " in:" + where +
                     "; was the program built with MPI?)");
}

}  // namespace mr
