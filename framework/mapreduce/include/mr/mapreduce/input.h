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
// unreadable file, corrupt or truncated compressed data, standard input
// named twice) throw InputError with a message in the Unix style: "cannot
// open 'x.txt': No such file or directory". File names are as given, unquoted: a program that
// prints a message quotes its unprintable bytes.
//
// A mapped file is read as it was when opened: one that grows meanwhile is
// read up to its size at open. One that another process truncates while
// it is read would raise SIGBUS in whoever reads the lost pages; a handler
// (installed with the first mapping, inherited by forked workers) turns
// such a fault into zero bytes and a flag, input_mapping_faulted(), and
// check_inputs() then names the file. A SIGBUS outside the input mappings
// keeps its default action.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
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
  // A directory argument means every regular file below it. As `grep -r`:
  // symbolic links met inside the tree are not followed, and other files
  // that are not regular (FIFOs, devices, sockets) are skipped with a note.
  bool recursive = false;
  // Called with a note for the user ("skipping 'd/fifo': not a regular
  // file"); may be empty.
  std::function<void(const std::string&)> note;
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
  // Throws InputError when a mapped file shrank since it was opened.
  void check() const;

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

// Opens every path ("-" is standard input, at most once). A FIFO waits for
// a writer; Interrupted (engine.h) when an interrupt arrives meanwhile.
// Throws InputError.
Inputs open_inputs(const std::vector<std::string>& paths, const InputOptions& options);

// True once this process read a page of an input mapping that its file no
// longer has (it got zero bytes instead). Async-signal-safe.
bool input_mapping_faulted() noexcept;
// Throws InputError naming a mapped input that shrank since it was opened
// (or, when this process read lost pages of one that is closed meanwhile,
// without a name).
void check_inputs(const Inputs& inputs);

// How many chunks of `chunk_size` bytes the inputs make at most; 0 when one
// of them is a stream (unknown until read).
std::uint64_t count_chunks(const Inputs& inputs, std::size_t chunk_size);

}  // namespace mr
