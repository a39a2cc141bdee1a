// usable_memory(): the physical memory, or the cgroup's limit when lower, so
// that default budgets fit a container instead of being OOM-killed in it.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
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

// The lowest memory.max from our cgroup (v2) up to the root.
std::uint64_t cgroup_limit() {
  std::ifstream f("/proc/self/cgroup");
  std::uint64_t limit = UINT64_MAX;
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("0::", 0) == 0) {
      std::string dir = line.substr(3);
      for (;;) {
        limit = std::min(limit, read_limit("/sys/fs/cgroup" + dir + "/memory.max"));
        if (dir.empty() || dir == "/") break;
        dir = dir.substr(0, dir.rfind('/'));
      }
    }
  }
  // cgroup v1 (a huge number there means no limit).
  return std::min(limit, read_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
}

}  // namespace

std::size_t usable_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  std::uint64_t physical =
      pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page)
                            : std::uint64_t{4} << 30;
  return static_cast<std::size_t>(std::min(physical, cgroup_limit()));
}

}  // namespace mr
