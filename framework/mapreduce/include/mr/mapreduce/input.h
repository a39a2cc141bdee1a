// Inputs of a job, opened by the master before it starts the workers: a
// forked worker sees a mapped input's bytes at the same addresses; a worker
// that is a fresh program maps the file again by name.
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

namespace detail {
class MappedInput;
class StreamInput;
}  // namespace detail

// One input: either mapped (a regular file: all its bytes in data(), read
// in place) or a stream (read() gives its bytes piece by piece), never
// both. Move-only; the mapping or the descriptor goes with the object.
// Not thread-safe; a mapped input's data() may be read from any process
// that inherited the mapping.
class Input {
 public:
  // A stream input known by its name alone, with no bytes behind it (read()
  // returns 0 at once): what a worker that is a fresh program holds for a
  // stream the master reads.
  static Input stream_name(std::string name);

  Input(Input&&) noexcept;
  Input& operator=(Input&&) noexcept;
  ~Input();

  const std::string& name() const noexcept { return name_; }
  // True for a stream, false for a mapped input.
  bool streamed() const noexcept { return streamed_; }
  // All bytes of a mapped input; empty for a stream.
  std::string_view data() const noexcept { return data_; }
  // Reads (decompresses) up to `n` bytes of a stream into `buffer`; 0 at the
  // end, and always 0 for a mapped input (its bytes are data()). Throws
  // InputError (read errors, corrupt or truncated compressed data).
  std::size_t read(char* buffer, std::size_t n);

 private:
  friend class detail::MappedInput;
  friend class detail::StreamInput;
  Input(std::string name, std::unique_ptr<detail::MappedInput> mapped);
  Input(std::string name, std::unique_ptr<detail::StreamInput> stream);

  std::string name_;
  bool streamed_ = false;
  std::string_view data_;
  std::unique_ptr<detail::MappedInput> mapped_;  // owns data_'s mapping
  std::unique_ptr<detail::StreamInput> stream_;  // null for a stream_name()
};

using Inputs = std::vector<Input>;

// Opens every path ("-" is standard input). Throws InputError.
Inputs open_inputs(const std::vector<std::string>& paths, const InputOptions& options);

}  // namespace mr
