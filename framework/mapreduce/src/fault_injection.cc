#include "fault_injection.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>

namespace mr::detail {
namespace {

constexpr const char* kUsage =
    "MAPREDUCE_FAULT must look like KIND:CHUNK[:TIMES], KIND@PHASE[:TASK[:TIMES]] or "
    "master-KIND@PHASE (KIND kill, segv, throw, hang (a worker), stop or slow (a worker); PHASE "
    "map, "
    "spill, reduce or output)";

std::optional<FaultInjection::Kind> parse_kind(const std::string& k) {
  using Kind = FaultInjection::Kind;
  if (k == "kill") return Kind::kKill;
  if (k == "segv") return Kind::kSegv;
  if (k == "throw") return Kind::kThrow;
  if (k == "hang") return Kind::kHang;
  if (k == "stop") return Kind::kStop;
  if (k == "slow") return Kind::kSlow;
  return std::nullopt;
}

std::optional<FaultInjection::Phase> parse_phase(const std::string& p) {
  using Phase = FaultInjection::Phase;
  if (p == "map") return Phase::kMap;
  if (p == "spill") return Phase::kSpill;
  if (p == "reduce") return Phase::kReduce;
  if (p == "output") return Phase::kOutput;
  return std::nullopt;
}

}  // namespace

std::optional<FaultInjection> FaultInjection::from_environment() {
  const char* env = std::getenv("MAPREDUCE_FAULT");
  if (!env || !*env) return std::nullopt;
  std::string spec = env;
  FaultInjection f;
  if (spec.rfind("master-", 0) == 0) {
    f.master = true;
    spec.erase(0, 7);
  }
  char kind[16] = {}, phase[16] = {};
  unsigned task = 0, times = UINT32_MAX;
  Phase p = Phase::kMap;
  bool ok = false;
  if (spec.find('@') != std::string::npos) {
    const int n = std::sscanf(spec.c_str(), "%15[a-z]@%15[a-z]:%u:%u", kind, phase, &task, &times);
    const std::optional<Phase> parsed = parse_phase(phase);
    ok = n >= 2 && parsed.has_value();
    if (ok) p = *parsed;
  } else {
    ok = std::sscanf(spec.c_str(), "%15[a-z]:%u:%u", kind, &task, &times) >= 2 && !f.master;
  }
  const std::optional<Kind> k = parse_kind(kind);
  // A worker does not write the output; a master does not hang or slow down
  // on purpose (it may stop: a cluster rank that no longer answers, for the
  // MPI tests).
  if (!ok || !k || (!f.master && p == Phase::kOutput) ||
      (f.master && (*k == Kind::kHang || *k == Kind::kSlow)))
    throw std::invalid_argument(kUsage);
  f.kind = *k;
  f.phase = p;
  f.task = task;
  f.times = times;
  return f;
}

void FaultInjection::fire() const {
  switch (kind) {
    case Kind::kKill:
      ::raise(SIGKILL);
      break;
    case Kind::kSegv:
      ::signal(SIGSEGV, SIG_DFL);
      ::raise(SIGSEGV);
      break;
    case Kind::kThrow:
      throw std::runtime_error("injected fault (MAPREDUCE_FAULT)");
    case Kind::kHang:
      for (;;) ::pause();
    case Kind::kStop:
      ::raise(SIGSTOP);  // stopped: it continues only if someone sends SIGCONT
      break;
    case Kind::kSlow: {
      timespec left{static_cast<time_t>(task / 1000), static_cast<long>(task % 1000) * 1000000};
      while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
      }
      break;
    }
  }
}

}  // namespace mr::detail
