#include "spill_dir.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace mr::detail {
namespace {

constexpr const char* kPrefix = "mapreduce-";

void remove_tree(const std::string& dir) noexcept {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // removes links, never follows them
}

// Removes the spill folders of our masters that died without cleaning up
// (SIGKILL): named mapreduce-<pid> (older runs) or mapreduce-<pid>.XXXXXX,
// a real folder owned by us, and no process <pid> any more. Another user's
// folders are not ours to judge, and a pid that was reused keeps its folder
// until a later run.
void sweep_stale(const std::string& base) noexcept {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + std::strlen(kPrefix), &end, 10);
    if (pid <= 0 || (*end != '\0' && *end != '.')) continue;
    struct stat st;
    if (::lstat(e.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
      continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    remove_tree(e.path().string());
  }
}

}  // namespace

std::string temp_base() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

SpillDir SpillDir::make() {
  const std::string base = temp_base();
  sweep_stale(base);
  std::string name = base + "/" + kPrefix + std::to_string(::getpid()) + ".XXXXXX";
  SpillDir d;
  if (::mkdtemp(name.data()))
    d.path_ = std::move(name);
  else
    d.error_ = "cannot make a folder for spill files in '" + base + "': " + std::strerror(errno);
  return d;
}

SpillDir& SpillDir::operator=(SpillDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) remove_tree(path_);
    path_ = std::move(other.path_);
    other.path_.clear();
    error_ = std::move(other.error_);
  }
  return *this;
}

SpillDir::~SpillDir() {
  if (!path_.empty()) remove_tree(path_);
}

}  // namespace mr::detail
