// Test plugin for fault_test: counts distinct lines, and fails on purpose
// where --opt fail=MODE says: throw_map, crash_map or hang_map on a line
// starting with "poison"; throw_reduce, crash_reduce or hang_reduce on a key
// starting with "poison". Its partition() puts the poison key in the last
// partition (everything else in partition 0), so a test knows which
// partition's reduce fails.
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mr/job_api/plugin.h"

namespace {

struct Faulty : mr::MapReduceJob<std::string, std::uint64_t> {
  std::string fail;

  static std::vector<mr::OptionSpec> options() {
    return {{"fail",
             "throw_map|crash_map|hang_map (on a line starting with 'poison') or "
             "throw_reduce|crash_reduce|hang_reduce (on a key starting with 'poison')",
             ""}};
  }
  void setup(const mr::JobOptions& o) {
    fail = o.get("fail");
    static const char* const kModes[] = {
        "", "throw_map", "crash_map", "hang_map", "throw_reduce", "crash_reduce", "hang_reduce"};
    for (const char* m : kModes)
      if (fail == m) return;
    throw std::invalid_argument("option 'fail': unknown mode '" + fail + "'");
  }

  // Does what `fail` says when it names `phase` ("map" or "reduce").
  void maybe_fail(const std::string& phase) const {
    if (!fail.ends_with("_" + phase)) return;
    if (fail.starts_with("throw")) throw std::runtime_error("poisoned " + phase);
    if (fail.starts_with("crash")) std::raise(SIGSEGV);
    if (fail.starts_with("hang"))
      for (;;) ::pause();  // until the engine kills the worker (--task-timeout)
  }

  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    if (line.starts_with("poison")) maybe_fail("map");
    ctx.emit(std::string(line), 1);
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  unsigned partition(const std::string& key, unsigned partitions) const {
    return key.starts_with("poison") ? partitions - 1 : 0;
  }
  void reduce(const std::string& key, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    if (key.starts_with("poison")) maybe_fail("reduce");
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(std::string(key), std::move(n));
  }
};

}  // namespace

MR_PLUGIN(Faulty, "test_faulty", "test: counts distinct lines; fails where --opt fail=MODE says")
