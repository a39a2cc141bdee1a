#include "code_address.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/stat.h>

#include <map>
#include <optional>
#include <stdexcept>

#include "mr/base/error.h"

namespace mr::detail {
namespace {

struct Lookup {
  std::uint64_t address;
  std::optional<CodeRef> found;
};

int find_containing(dl_phdr_info* info, std::size_t, void* data) {
  auto* q = static_cast<Lookup*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const std::uint64_t start = info->dlpi_addr + ph.p_vaddr;
    if (q->address >= start && q->address < start + ph.p_memsz) {
      q->found = CodeRef{info->dlpi_name ? info->dlpi_name : "", q->address - info->dlpi_addr};
      return 1;
    }
  }
  return 0;
}

struct BaseLookup {
  const std::string* name;
  std::optional<std::uint64_t> base;
};

int find_named(dl_phdr_info* info, std::size_t, void* data) {
  auto* q = static_cast<BaseLookup*>(data);
  if (*q->name == (info->dlpi_name ? info->dlpi_name : "")) {
    q->base = info->dlpi_addr;
    return 1;
  }
  return 0;
}

std::optional<std::uint64_t> base_of(const std::string& module) {
  BaseLookup q{&module, std::nullopt};
  dl_iterate_phdr(find_named, &q);
  return q.base;
}

}  // namespace

CodeRef code_ref(std::uint64_t address) {
  Lookup q{address, std::nullopt};
  dl_iterate_phdr(find_containing, &q);
  if (!q.found)
    throw std::invalid_argument(
        "mr::ProcessPool: the task's address is in no loaded program or "
        "library, so a spawned worker cannot find it");
  return *q.found;
}

std::uint64_t code_address(const CodeRef& ref) {
  static std::map<std::string, std::uint64_t> bases;
  auto it = bases.find(ref.module);
  if (it == bases.end()) {
    std::optional<std::uint64_t> base = base_of(ref.module);
    if (!base && !ref.module.empty()) {
      // A library the parent loaded with dlopen(): load it here too (kept
      // loaded for the worker's life).
      if (::dlopen(ref.module.c_str(), RTLD_NOW) == nullptr) {
        const char* why = ::dlerror();
        throw std::runtime_error("mr::ProcessPool worker: cannot load " + ref.module + ": " +
                                 (why ? why : "unknown error"));
      }
      base = base_of(ref.module);
    }
    if (!base)
      throw std::runtime_error("mr::ProcessPool worker: the task's library " + ref.module +
                               " is not loaded in the worker");
    it = bases.emplace(ref.module, *base).first;
  }
  return it->second + ref.offset;
}

std::string program_identity() {
  struct stat st {};
  if (::stat("/proc/self/exe", &st) < 0) throw_errno("mr::ProcessPool: stat /proc/self/exe");
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

}  // namespace mr::detail
