// Test support shared by every suite: a GoogleTest listener that fails any
// test that leaves a new /dev/shm entry or a child process behind.
// Installed for every test program by tests/common/main.cc.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

namespace mr::testing {

// Names of the entries in /dev/shm now.
std::set<std::string> shm_entries();
// Pids of this process's living children (zombies included).
std::vector<pid_t> child_pids();

}  // namespace mr::testing
