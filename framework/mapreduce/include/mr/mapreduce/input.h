// Inputs of a job, opened by the master before the workers are forked, so
// every worker sees the same bytes at the same addresses.
//
// Regular files are memory-mapped read-only and read in place. Standard input
// ("-"), pipes and zstd-compressed files (recognized by their magic bytes,
// whatever their name) are read into anonymous shared memory.
//
// Errors a user can cause (missing file, directory without recursion,
// unreadable file, corrupt zstd) throw InputError with a message in the
// Unix style: "cannot open 'x.txt': No such file or directory".
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mr {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct InputOptions {
  bool recursive = false;  // a directory argument means every regular file below it
};

class Input {
 public:
  virtual ~Input() = default;
  const std::string& name() const noexcept { return name_; }
  std::string_view data() const noexcept { return data_; }

 protected:
  explicit Input(std::string name) : name_(std::move(name)) {}
  std::string name_;
  std::string_view data_;
};

using Inputs = std::vector<std::unique_ptr<Input>>;

// Opens every path ("-" is standard input). Throws InputError.
Inputs open_inputs(const std::vector<std::string>& paths, const InputOptions& options);

}  // namespace mr
