#include "mr/mapreduce/input.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "decompressor.h"
#include "mr/base/unique_fd.h"
#include "mr/mapreduce/interrupt.h"

namespace mr {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& name, int err) {
  throw InputError(what + " '" + name + "': " + std::strerror(err));
}

// ---- files that shrink while mapped -------------------------------------
//
// Reading a page of a mapping past the end of a file that another process
// truncated raises SIGBUS. The handler below turns such a fault inside one
// of our input mappings into zero bytes (an anonymous page mapped over the
// lost one) and raises a flag; whoever reads checks the flag after reading
// and check_inputs() names the file. A SIGBUS anywhere else keeps its
// default action (the handler restores it and returns, so the fault
// repeats and kills the process as before).
//
// The ranges are a push-only list of nodes that are never freed (a closed
// input clears its range and frees the node for the next input), so the
// handler walks it without locks.
struct MappedRange {
  std::atomic<std::uintptr_t> begin{0}, end{0};
  std::atomic<bool> used{true};
  MappedRange* next = nullptr;
};
std::atomic<MappedRange*> g_ranges{nullptr};
volatile sig_atomic_t g_mapping_faulted = 0;

// DANGER: signal handler: async-signal-safe calls only (mmap and sigaction
// are plain system calls).
extern "C" void on_sigbus(int sig, siginfo_t* info, void*) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  const auto page_size = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  for (MappedRange* r = g_ranges.load(); r; r = r->next) {
    if (addr < r->begin.load() || addr >= r->end.load()) continue;
    void* page = reinterpret_cast<void*>(addr & ~(page_size - 1));
    if (::mmap(page, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
        MAP_FAILED) {
      g_mapping_faulted = 1;
      return;
    }
    break;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
}

MappedRange* register_range(const void* p, std::size_t n) {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
    return true;
  }();
  (void)installed;
  MappedRange* r = g_ranges.load();
  for (; r; r = r->next) {
    bool free = false;
    if (r->used.compare_exchange_strong(free, true)) break;
  }
  const bool fresh = r == nullptr;
  if (fresh) r = new MappedRange;  // never freed: the handler may be walking it
  r->begin.store(reinterpret_cast<std::uintptr_t>(p));
  r->end.store(reinterpret_cast<std::uintptr_t>(p) + n);
  if (fresh) {
    r->next = g_ranges.load();
    while (!g_ranges.compare_exchange_weak(r->next, r)) {
    }
  }
  return r;
}

void unregister_range(MappedRange* r) {
  r->end.store(0);
  r->begin.store(0);
  r->used.store(false);
}

}  // namespace

namespace detail {

// A regular file mapped read-only. Shared with fork()ed workers. Keeps the
// file open, so that check() can tell when it shrank.
class MappedInput {
 public:
  static Input open(std::string name, UniqueFd fd, std::size_t size) {
    auto mapped = std::make_unique<MappedInput>(name, std::move(fd), size);
    return Input(std::move(name), std::move(mapped));
  }
  MappedInput(std::string name, UniqueFd fd, std::size_t size)
      : name_(std::move(name)), fd_(std::move(fd)), size_(size) {
    if (size_ == 0) return;
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) fail("cannot map", name_, errno);
    ::madvise(p, size_, MADV_SEQUENTIAL);
    map_ = p;
    range_ = register_range(p, size_);
  }
  MappedInput(const MappedInput&) = delete;
  MappedInput& operator=(const MappedInput&) = delete;
  ~MappedInput() {
    if (range_) unregister_range(range_);
    if (map_) ::munmap(map_, size_);
  }
  std::string_view data() const noexcept {
    return map_ ? std::string_view(static_cast<const char*>(map_), size_) : std::string_view();
  }
  void check() const {
    struct stat st;
    if (::fstat(fd_.get(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) < size_)
      throw InputError("'" + name_ + "' shrank while being read (" + std::to_string(size_) +
                       " bytes when opened, " + std::to_string(st.st_size) +
                       " now): another process truncated it");
  }

 private:
  std::string name_;
  UniqueFd fd_;
  void* map_ = nullptr;
  MappedRange* range_ = nullptr;
  std::size_t size_;
};

}  // namespace detail

namespace {

std::size_t read_some(int fd, char* p, std::size_t n, const std::string& name) {
  for (;;) {
    ssize_t r = ::read(fd, p, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno != EINTR) fail("cannot read", name, errno);
    if (interrupted()) throw Interrupted();  // Ctrl-C while waiting for input
  }
}

}  // namespace

namespace detail {

// A stream read with read(): standard input, a pipe, or a compressed file.
// Plain streams are passed through; compressed ones are decompressed
// (decompressor.h says which formats, and how archives are read).
class StreamInput {
 public:
  static Input open(std::string name, UniqueFd fd, std::string prefix, Compression format) {
    auto stream = std::make_unique<StreamInput>(name, std::move(fd), std::move(prefix), format);
    return Input(std::move(name), std::move(stream));
  }
  StreamInput(std::string name, UniqueFd fd, std::string prefix, Compression format)
      : name_(std::move(name)), fd_(std::move(fd)), pending_(std::move(prefix)) {
    if (format != Compression::kNone)
      decoder_ = std::make_unique<Decompressor>(
          name_, format, [this](char* p, std::size_t n) { return read_plain(p, n); });
  }

  std::size_t read(char* buffer, std::size_t n) {
    return decoder_ ? decoder_->read(buffer, n) : read_plain(buffer, n);
  }

 private:
  std::size_t read_plain(char* buffer, std::size_t n) {
    if (!pending_.empty()) {
      std::size_t k = std::min(n, pending_.size());
      std::memcpy(buffer, pending_.data(), k);
      pending_.erase(0, k);
      return k;
    }
    return read_some(fd_.get(), buffer, n, name_);
  }

  std::string name_;
  UniqueFd fd_;
  std::string pending_;  // bytes read to sniff the format, not yet consumed
  std::unique_ptr<Decompressor> decoder_;
};

}  // namespace detail

namespace {

void open_one(const std::string& path, const InputOptions& options, Inputs& out);

void open_directory(const std::string& path, const InputOptions& options, Inputs& out) {
  DIR* d = ::opendir(path.c_str());
  if (!d) fail("cannot open", path, errno);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());  // deterministic order
  for (const auto& n : names) {
    const std::string child = path + (path.ends_with('/') ? "" : "/") + n;
    // As `grep -r`: symbolic links met in the recursion are not followed
    // (no loops, no escape from the tree), and only folders and regular
    // files are read: opening a FIFO or a device could block forever.
    struct stat st;
    if (::lstat(child.c_str(), &st) != 0) fail("cannot open", child, errno);
    if (S_ISLNK(st.st_mode)) continue;
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      if (options.note) options.note("skipping '" + child + "': not a regular file");
      continue;
    }
    open_one(child, options, out);
  }
}

// Opens a stream: sniffs its first bytes for a compression format.
void open_stream(const std::string& name, UniqueFd fd, Inputs& out) {
  std::string prefix(detail::kSniffBytes, '\0');
  std::size_t got = 0;
  while (got < prefix.size()) {
    std::size_t r = read_some(fd.get(), prefix.data() + got, prefix.size() - got, name);
    if (r == 0) break;
    got += r;
  }
  prefix.resize(got);
  auto format = detail::sniff_compression(prefix);
  out.push_back(detail::StreamInput::open(name, std::move(fd), std::move(prefix), format));
}

void open_one(const std::string& path, const InputOptions& options, Inputs& out) {
  if (path == "-") {
    for (const auto& in : out)
      if (in.name() == "-" && in.streamed())
        throw InputError("standard input ('-') is given more than once");
    int fd = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) fail("cannot read", "-", errno);
    open_stream("-", UniqueFd(fd), out);
    return;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) fail("cannot open", path, errno);
  if (S_ISDIR(st.st_mode)) {
    if (!options.recursive) throw InputError("'" + path + "' is a directory (use -r to read the files in it)");
    open_directory(path, options, out);
    return;
  }
  // open() of a FIFO waits for a writer (as `cat` does); a signal ends the
  // wait (the handlers have no SA_RESTART), and an interrupt ends the run.
  UniqueFd fd;
  for (;;) {
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd || errno != EINTR) break;
    if (interrupted()) throw Interrupted();
  }
  if (!fd) fail("cannot open", path, errno);
  if (S_ISREG(st.st_mode)) {
    char head[detail::kSniffBytes];
    ssize_t got = ::pread(fd.get(), head, sizeof head, 0);
    if (got < 0) fail("cannot read", path, errno);
    if (detail::sniff_compression(std::string_view(head, static_cast<std::size_t>(got))) !=
        detail::Compression::kNone) {
      open_stream(path, std::move(fd), out);
      return;
    }
    out.push_back(
        detail::MappedInput::open(path, std::move(fd), static_cast<std::size_t>(st.st_size)));
    return;
  }
  open_stream(path, std::move(fd), out);  // a FIFO or character device
}

}  // namespace

Input::Input(std::string name, std::unique_ptr<detail::MappedInput> mapped)
    : name_(std::move(name)), data_(mapped->data()), mapped_(std::move(mapped)) {}
Input::Input(std::string name, std::unique_ptr<detail::StreamInput> stream)
    : name_(std::move(name)), streamed_(true), stream_(std::move(stream)) {}
Input::Input(Input&&) noexcept = default;
Input& Input::operator=(Input&&) noexcept = default;
Input::~Input() = default;

Input Input::stream_name(std::string name) {
  return Input(std::move(name), std::unique_ptr<detail::StreamInput>());
}

std::size_t Input::read(char* buffer, std::size_t n) {
  return stream_ ? stream_->read(buffer, n) : 0;
}

void Input::check() const {
  if (mapped_) mapped_->check();
}

Inputs open_inputs(const std::vector<std::string>& paths, const InputOptions& options) {
  Inputs inputs;
  for (const auto& p : paths) open_one(p, options, inputs);
  return inputs;
}

bool input_mapping_faulted() noexcept { return g_mapping_faulted != 0; }

void check_inputs(const Inputs& inputs) {
  for (const auto& in : inputs) in.check();
  if (input_mapping_faulted())
    throw InputError("an input file shrank while being read (another process truncated it)");
}

std::uint64_t count_chunks(const Inputs& inputs, std::size_t chunk_size) {
  std::uint64_t n = 0;
  for (const auto& in : inputs) {
    if (in.streamed()) return 0;
    n += (in.data().size() + chunk_size - 1) / chunk_size;
  }
  return n;
}

}  // namespace mr
