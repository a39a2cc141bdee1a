#include "tracer.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace mr::detail {

void TraceLog::record_here(std::string name, Clock::time_point start) {
  if (!on()) return;
  spans_.push_back(TracedSpan{
      ::getpid(), {std::move(name), micros_since(t0_, start), micros_since(start, Clock::now())}});
}

void TraceLog::write_trace() const {
  // The caller's open file (it commits it), or one this opens by name.
  std::FILE* f = file_ ? file_ : std::fopen(path_.c_str(), "w");
  if (!f)
    throw std::system_error(errno, std::generic_category(), "cannot write trace '" + path_ + "'");
  auto json_string = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) < 0x20) continue;
      out += c;
    }
    return out + "\"";
  };
  std::fprintf(f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
  bool first = true;
  auto sep = [&] {
    if (!first) std::fputs(",\n", f);
    first = false;
  };
  for (const auto& [pid, name] : rows_) {
    sep();
    std::fprintf(f,
                 "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"args\": "
                 "{\"name\": %s}}",
                 static_cast<int>(pid), json_string(name).c_str());
  }
  for (const auto& t : spans_) {
    sep();
    std::fprintf(
        f, "{\"name\": %s, \"ph\": \"X\", \"pid\": %d, \"tid\": 0, \"ts\": %llu, \"dur\": %llu}",
        json_string(t.span.name).c_str(), static_cast<int>(t.pid),
        static_cast<unsigned long long>(t.span.start_us),
        static_cast<unsigned long long>(t.span.duration_us));
  }
  std::fputs("\n]}\n", f);
  if (file_) return;
  if (std::fclose(f) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot write trace '" + path_ + "'");
}

}  // namespace mr::detail
