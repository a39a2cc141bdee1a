// Inputs of a job, opened by the master before the workers are forked, so
// every worker sees the same bytes at the same addresses.
//
// Regular files are memory-mapped read-only and read in place by the
// workers. Standard input ("-"), pipes and zstd-compressed files (recognized
// by their magic bytes, whatever their name) are streams: the master reads
// (decompresses) them piece by piece with read() while the job runs.
//
// Errors a user can cause (missing file, directory without recursion,
// unreadable file, corrupt zstd, standard input named twice) throw
// InputError with a message in the Unix style: "cannot open 'x.txt': No such
// file or directory". File names are as given, unquoted: a program that
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

class Input {
 public:
  virtual ~Input() = default;
  const std::string& name() const noexcept { return name_; }
  // True for a stream, which has no data() but read().
  virtual bool streamed() const noexcept { return false; }
  // All bytes of a mapped input (empty for a stream).
  std::string_view data() const noexcept { return data_; }
  // Reads (decompresses) up to `n` bytes of a stream into `buffer`; 0 at the
  // end. Throws InputError (read errors, corrupt or truncated zstd data).
  virtual std::size_t read(char* buffer, std::size_t n);
  // Throws InputError when a mapped file shrank since it was opened.
  virtual void check() const {}

 protected:
  explicit Input(std::string name) : name_(std::move(name)) {}
  std::string name_;
  std::string_view data_;
};

using Inputs = std::vector<std::unique_ptr<Input>>;

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
