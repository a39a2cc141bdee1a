// The private folder of one run for its spill files (map and reduce outputs
// that do not fit the shuffle arena).
//
// Made by the master before it starts workers, with mkdtemp: the name,
// $TMPDIR/mapreduce-<master pid>.XXXXXX, is unpredictable, the folder is new
// (never one that somebody created before us), 0700 and ours. Workers
// create spill files in it with O_EXCL | O_NOFOLLOW. The owner removes the
// folder with everything in it when it is destroyed. A master killed by
// SIGKILL cannot: the next run of the same user removes such folders of
// dead masters (make_spill_dir() sweeps first), and only folders that are
// really ours (lstat: a folder, not a link; owned by our uid).
//
// Not thread-safe; fork-safe in that a forked worker never destroys the
// master's SpillDir (it ends with _exit).
#pragma once

#include <string>

namespace mr::detail {

class SpillDir {
 public:
  // Sweeps stale folders of our dead masters, then makes a fresh one. When
  // that fails (no writable $TMPDIR), path() is empty and error() says why:
  // a run that never spills does not need the folder.
  static SpillDir make();

  SpillDir() = default;
  SpillDir(SpillDir&& other) noexcept : path_(std::move(other.path_)), error_(other.error_) {
    other.path_.clear();
  }
  SpillDir& operator=(SpillDir&& other) noexcept;
  SpillDir(const SpillDir&) = delete;
  SpillDir& operator=(const SpillDir&) = delete;
  // Removes the folder and its files.
  ~SpillDir();

  const std::string& path() const noexcept { return path_; }
  const std::string& error() const noexcept { return error_; }

 private:
  std::string path_;
  std::string error_;
};

// The folder spill files go to: $TMPDIR, or /tmp.
std::string temp_base();

}  // namespace mr::detail
