// The Manager().dict() lesson: ten processes (mr::Process, fork start
// method) fill one mr::SharedDict. Each writes its own key, and all of them
// bump a shared counter with update(), which is atomic; a plain std::map
// would have stayed empty in the parent, since each child writes its copy.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "mr/ipc/shared_dict.h"
#include "mr/process/process.h"

int main() {
  constexpr int kChildren = 10;
  constexpr int kBumps = 1000;
  mr::SharedDict<std::string, long> dict(256 * 1024);
  std::map<std::string, long> plain;  // for contrast

  std::vector<mr::Process> children;
  for (int i = 0; i < kChildren; ++i) {
    children.emplace_back([&, i] {
      std::string key = "worker-";
      key += std::to_string(i);
      dict.set(key, ::getpid());
      plain[key] = ::getpid();
      for (int b = 0; b < kBumps; ++b) dict.update("total", [](long& n) { n += 1; });
    });
  }
  for (auto& c : children) c.start();
  for (auto& c : children) c.join_checked();

  auto items = dict.items();
  std::sort(items.begin(), items.end());
  for (const auto& [key, value] : items) std::printf("  %-10s %ld\n", key.c_str(), value);
  const long total = dict.get_or("total", 0);
  std::printf("%zu keys in the shared dict, %zu in the plain std::map\n", dict.size(),
              plain.size());
  std::printf("total = %ld (expected %d)\n", total, kChildren * kBumps);
  return dict.size() == kChildren + 1 && total == kChildren * kBumps ? 0 : 1;
}
