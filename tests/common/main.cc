#include "leak_check.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "mr/process/process.h"

namespace mr::testing {

std::set<std::string> shm_entries() {
  std::set<std::string> names;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.insert(n);
    }
    ::closedir(d);
  }
  return names;
}

std::vector<pid_t> child_pids() {
  std::vector<pid_t> kids;
  const pid_t self = ::getpid();
  DIR* d = ::opendir("/proc");
  if (!d) return kids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(e->d_name) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // Fields after the command name, which is in parentheses and may hold spaces.
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    long ppid;
    rest >> state >> ppid;
    if (ppid == self) kids.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return kids;
}

namespace {

bool created_here_or_orphaned(const std::string& name) {
  long pid = std::strtol(name.c_str() + 3, nullptr, 10);
  if (pid <= 0) return true;
  if (pid == ::getpid()) return true;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

class LeakListener : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override {
    before_ = shm_entries();
    kids_before_ = child_pids();
  }

  void OnTestEnd(const ::testing::TestInfo&) override {
    // Named segments are "mr.<creator pid>.<label>". Test programs run in
    // parallel, so an entry of another living program is not ours; what this
    // program (or one of its children, now dead) left is.
    std::vector<std::string> leaked;
    for (const auto& n : shm_entries())
      if (!before_.count(n) && n.rfind("mr.", 0) == 0 && created_here_or_orphaned(n))
        leaked.push_back(n);
    for (const auto& n : leaked) ADD_FAILURE() << "test left /dev/shm/" << n << " behind";
    // Children that outlive one test on purpose (a forkserver started once
    // per program) were there before the test began.
    for (pid_t k : child_pids())
      if (std::find(kids_before_.begin(), kids_before_.end(), k) == kids_before_.end())
        ADD_FAILURE() << "test left child process " << k << " behind (not reaped)";
  }

  std::set<std::string> before_;
  std::vector<pid_t> kids_before_;
};

}  // namespace
}  // namespace mr::testing

int main(int argc, char** argv) {
  // A spawned child or the forkserver of a test program runs its work here
  // and never returns.
  mr::spawn_main_hook(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new mr::testing::LeakListener);
  return RUN_ALL_TESTS();
}
