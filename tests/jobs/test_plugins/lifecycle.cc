// Test plugin for lifecycle_test: counts words, and records its life in
// DIR (--opt dir=DIR): every setup(), teardown(), map() call (one per chunk)
// and reduce() call (one per key) appends a line to DIR/<pid>, so a test
// can tell which process called what, in which order. A map or reduce on a
// copy that was never set up throws.
//
// --opt setup_fault=hang|crash|throw makes every setup() but the run's
// first (the master's, which runs before any worker exists) hang, crash or
// throw: a worker's setup fails, the master's does not.
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mr/job_api/plugin.h"

namespace {

struct Lifecycle : mr::MapReduceJob<std::string, std::uint64_t> {
  std::string dir;
  bool set_up = false;

  static std::vector<mr::OptionSpec> options() {
    return {{"dir", "the folder to record setup/teardown/map/reduce calls in; required", ""},
            {"setup_fault", "hang, crash or throw in every setup() but the first", ""}};
  }

  void log(const char* what) const {
    const std::string path = dir + "/" + std::to_string(::getpid());
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot open " + path);
    const std::string line = std::string(what) + "\n";
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!ok) throw std::runtime_error("cannot write " + path);
  }

  void setup(const mr::JobOptions& o) {
    dir = o.get("dir");
    if (dir.empty()) throw std::invalid_argument("option 'dir' is required");
    log("setup");
    set_up = true;
    const std::string fault = o.get("setup_fault");
    if (fault.empty()) return;
    // The first setup of the run creates the marker; the others fail.
    const std::string marker = dir + "/first-setup";
    int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return;
    }
    if (fault == "hang")
      for (;;) ::pause();  // until the engine kills the worker (--task-timeout)
    if (fault == "crash") std::raise(SIGSEGV);
    throw std::runtime_error("setup refused on purpose");
  }
  void teardown() { log("teardown"); }

  void map(std::string_view chunk, Context& ctx) {
    if (!set_up) throw std::logic_error("map() on a copy that was never set up");
    log("map");
    std::size_t start = 0;
    for (std::size_t i = 0; i <= chunk.size(); ++i) {
      if (i < chunk.size() && chunk[i] != ' ' && chunk[i] != '\n') continue;
      if (i > start) ctx.emit(std::string(chunk.substr(start, i - start)), 1);
      start = i + 1;
    }
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::string& word, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    if (!set_up) throw std::logic_error("reduce() on a copy that was never set up");
    log("reduce");
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(std::string(word), std::move(n));
  }
};

}  // namespace

MR_PLUGIN(Lifecycle, "test_lifecycle", "test: records setup/teardown/map/reduce calls per process")
