// Inputs of a job, opened by the master before the workers are forked, so
// every worker sees the same bytes at the same addresses.
//
// Regular files are memory-mapped read-only and read in place by the
// workers. Standard input ("-"), pipes and compressed files (gzip, xz, bzip2,
// lz4 or zstd, recognized by their magic bytes, whatever their name; a tar
// archive inside is read member by member) are streams: the master reads
// (decompresses) them piece by piece with read() while the job runs.
//
// Errors a user can cause (missing file, directory without recursion,
// unreadable file, corrupt or truncated compressed data) throw InputError with a message in the
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
  // True for a stream, which has no data() but read().
  virtual bool streamed() const noexcept { return false; }
  // All bytes of a mapped input (empty for a stream).
  std::string_view data() const noexcept { return data_; }
  // Reads (decompresses) up to `n` bytes of a stream into `buffer`; 0 at the
  // end. Throws InputError (read errors, corrupt or truncated compressed
  // data).
  virtual std::size_t read(char* buffer, std::size_t n);

 protected:
  explicit Input(std::string name) : name_(std::move(name)) {}
  std::string name_;
  std::string_view data_;
};

using Inputs = std::vector<std::unique_ptr<Input>>;

// Opens every path ("-" is standard input). Throws InputError.
Inputs open_inputs(const std::vector<std::string>& paths, const InputOptions& options);

}  // namespace mr
