// Code addresses that mean the same thing in another process running the
// same program: a function's address becomes (loaded object, offset), which
// a spawned or forkserver worker (a fresh exec, with its own address-space
// layout) turns back into an address of its own.
#pragma once

#include <cstdint>
#include <string>

namespace mr::detail {

struct CodeRef {
  std::string module;  // the loaded object's name as the loader knows it; "" is the program
  std::uint64_t offset = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(module, offset);
  }
};

// Where `address` lies in this process. Throws std::invalid_argument when it
// is in no loaded object (not code at all).
CodeRef code_ref(std::uint64_t address);

// The address of `ref` in this process; dlopen()s a shared object that is
// not loaded yet. Throws std::runtime_error when the object cannot be found
// or loaded. Caches the objects' load addresses (not thread-safe: one thread
// per worker process calls it).
std::uint64_t code_address(const CodeRef& ref);

// "<device>:<inode>" of the program file this process runs; equal in two
// processes exactly when they run the same file.
std::string program_identity();

}  // namespace mr::detail
