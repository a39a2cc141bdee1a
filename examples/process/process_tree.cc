// A tree of processes started from one parent: the main process starts two
// children, each of which starts two of its own. Every process reports
// (name, pid, ppid) through one pipe; the root prints the tree as pstree
// would, from those parent links, while all seven processes are alive.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "mr/base/io.h"
#include "mr/base/unique_fd.h"
#include "mr/process/process.h"

namespace {

struct Record {  // fixed size and < PIPE_BUF: one write() is atomic
  char name[32];
  pid_t pid;
  pid_t ppid;
};

int g_report_fd = -1;
int g_release_fd = -1;  // each process blocks reading one byte from it

void report_self() {
  auto self = mr::current_process();
  Record r{};
  std::snprintf(r.name, sizeof r.name, "%s", self.name().c_str());
  r.pid = self.pid();
  r.ppid = self.parent_pid();
  mr::write_full(g_report_fd, &r, sizeof r);
}

void wait_for_release() {
  char c;
  mr::read_full(g_release_fd, &c, 1);  // the root writes one byte per process
}

void node(int depth) {
  report_self();
  std::vector<mr::Process> kids;
  if (depth < 2)
    for (int i = 0; i < 2; ++i) kids.emplace_back([depth] { node(depth + 1); });
  for (auto& k : kids) k.start();
  wait_for_release();
  for (auto& k : kids) k.join();
}

void print(const std::map<pid_t, std::vector<Record>>& by_parent, const Record& r, int depth) {
  std::printf("%*s%s (pid %d, ppid %d)\n", depth * 4, "", r.name, r.pid, r.ppid);
  auto it = by_parent.find(r.pid);
  if (it == by_parent.end()) return;
  for (const auto& child : it->second) print(by_parent, child, depth + 1);
}

}  // namespace

int main() {
  int report[2], release[2];
  if (::pipe2(report, O_CLOEXEC) != 0 || ::pipe2(release, O_CLOEXEC) != 0) return 1;
  mr::UniqueFd report_r(report[0]), report_w(report[1]);
  mr::UniqueFd release_r(release[0]), release_w(release[1]);
  g_report_fd = report_w.get();
  g_release_fd = release_r.get();

  std::vector<mr::Process> kids;
  for (int i = 0; i < 2; ++i) kids.emplace_back([] { node(1); });
  for (auto& k : kids) k.start();

  std::map<pid_t, std::vector<Record>> by_parent;
  Record root{};
  std::snprintf(root.name, sizeof root.name, "%s", mr::current_process().name().c_str());
  root.pid = ::getpid();
  root.ppid = ::getppid();
  for (int i = 0; i < 6; ++i) {  // 2 children + 4 grandchildren
    Record r{};
    if (!mr::read_full(report_r.get(), &r, sizeof r)) return 1;
    by_parent[r.ppid].push_back(r);
  }
  print(by_parent, root, 0);
  mr::write_full(release_w.get(), "123456", 6);  // let all six end
  for (auto& k : kids) k.join();
  return 0;
}
