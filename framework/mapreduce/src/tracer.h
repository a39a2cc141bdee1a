// --trace: spans of work on a Chrome trace-event timeline. A worker's
// Tracer collects its spans and hands them to the master with its next
// message; the master's TraceLog keeps every process's spans and writes the
// JSON file (open it in Perfetto or chrome://tracing). Both are no-ops
// without --trace. Not thread-safe (one per process).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "protocol.h"

namespace mr::detail {

using Clock = std::chrono::steady_clock;

inline std::uint64_t micros_since(Clock::time_point t0, Clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(t - t0).count());
}

// Collects spans while tracing; a no-op otherwise.
class Tracer {
 public:
  Tracer(bool on, Clock::time_point t0) : on_(on), t0_(t0) {}
  // Runs f(), recording it as a span called `name` (build the name only
  // when on(): it is not used otherwise).
  template <class F>
  auto span(std::string name, F&& f) {
    if (!on_) return f();
    auto start = Clock::now();
    struct Record {
      Tracer* self;
      std::string name;
      Clock::time_point start;
      ~Record() {
        self->spans_.push_back(TraceSpan{std::move(name), micros_since(self->t0_, start),
                                         micros_since(start, Clock::now())});
      }
    } record{this, std::move(name), start};
    return f();
  }
  // A span that began at `start` and ends now.
  void add(std::string name, Clock::time_point start) {
    if (on_)
      spans_.push_back(
          TraceSpan{std::move(name), micros_since(t0_, start), micros_since(start, Clock::now())});
  }
  std::vector<TraceSpan> take() { return std::exchange(spans_, {}); }
  bool on() const { return on_; }

 private:
  bool on_;
  Clock::time_point t0_;
  std::vector<TraceSpan> spans_;
};

// The master's timeline: a row per process, every span reported.
class TraceLog {
 public:
  // `path` empty and no `file`: tracing is off and everything is a no-op.
  // With `file` (an open file the caller commits), the trace is written
  // there and `path` only names it in messages.
  TraceLog(std::string path, Clock::time_point t0, std::FILE* file = nullptr)
      : path_(std::move(path)), t0_(t0), file_(file) {}
  bool on() const { return !path_.empty() || file_ != nullptr; }
  Clock::time_point t0() const { return t0_; }
  // A row for process `pid`.
  void row(pid_t pid, std::string name) {
    if (on()) rows_.emplace_back(pid, std::move(name));
  }
  // Spans that process `pid` reported.
  void record(pid_t pid, const std::vector<TraceSpan>& spans) {
    for (const auto& s : spans) spans_.push_back(TracedSpan{pid, s});
  }
  // A span of this (the master's) process, from `start` to now.
  void record_here(std::string name, Clock::time_point start);
  // Writes the JSON file. Throws std::system_error naming the file.
  void write_trace() const;

 private:
  struct TracedSpan {
    pid_t pid;
    TraceSpan span;
  };
  std::string path_;
  Clock::time_point t0_;
  std::FILE* file_ = nullptr;
  std::vector<TracedSpan> spans_;
  std::vector<std::pair<pid_t, std::string>> rows_;
};

}  // namespace mr::detail
