// Where the running program lives, for finding what is installed beside it
// (plugins, backends). Thread-safe.
#pragma once

#include <string>

namespace mr::detail {

// The folder of /proc/self/exe ("." when it cannot be read).
std::string program_dir();

}  // namespace mr::detail
