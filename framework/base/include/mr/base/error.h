// Error helpers shared by every layer: errno becomes std::system_error in
// exactly one place, with the call and its object as context, for example
// "shm_open mr.4242.0: Permission denied".
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

namespace mr {

// Throws std::system_error for `err` (default: the current errno) with
// `what` as context. Never returns.
[[noreturn]] inline void throw_errno(std::string_view what, int err = errno) {
  throw std::system_error(err, std::generic_category(), std::string(what));
}

// A blocking call with a deadline ran out of time. Derives from
// std::runtime_error so that callers that only care about "it failed" can
// catch that.
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace mr
