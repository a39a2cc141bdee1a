// usable_memory(): the physical memory, or the cgroup's limit when lower, so
// that default budgets fit a container instead of being OOM-killed in it.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "mr/mapreduce/engine.h"

namespace mr {
namespace {

// A number from a cgroup file; nothing for "max", a missing file or junk.
std::uint64_t read_limit(const std::string& path) {
  std::ifstream f(path);
  std::string text;
  if (!(f >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return UINT64_MAX;
  try {
    return std::stoull(text);
  } catch (...) {
    return UINT64_MAX;
  }
}

// The lowest limit from `dir` up to the root of a cgroup hierarchy mounted
// at `mount`, read from `file` in each folder.
std::uint64_t lowest_limit(const std::string& mount, std::string dir, const char* file) {
  std::uint64_t limit = UINT64_MAX;
  for (;;) {
    limit = std::min(limit, read_limit(mount + dir + "/" + file));
    if (dir.empty() || dir == "/") break;
    dir = dir.substr(0, dir.rfind('/'));
  }
  return limit;
}

// Our cgroup's memory limit: v2 ("0::/path", memory.max) or v1
// ("N:...memory...:/path", memory.limit_in_bytes, where a huge number means
// none), the lowest on the way up to the root.
std::uint64_t cgroup_limit() {
  std::ifstream f("/proc/self/cgroup");
  std::uint64_t limit = UINT64_MAX;
  for (std::string line; std::getline(f, line);) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers.empty())
      limit = std::min(limit, lowest_limit("/sys/fs/cgroup", path, "memory.max"));
    else if (("," + controllers + ",").find(",memory,") != std::string::npos)
      limit = std::min(limit, lowest_limit("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes"));
  }
  return limit;
}

}  // namespace

std::size_t usable_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  std::uint64_t physical =
      pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page)
                            : std::uint64_t{4} << 30;
  return static_cast<std::size_t>(std::min(physical, cgroup_limit()));
}

long private_memory_kb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::strtol(line.c_str() + 8, nullptr, 10);
  return 0;
}

}  // namespace mr
