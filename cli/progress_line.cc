#include "progress_line.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <string_view>
#include <system_error>
#include <vector>

#include "mr/base/io.h"
#include "printable.h"
#include "units.h"

namespace mr::cli {
namespace {

// Set by the SIGWINCH handler; the next update reads the width again.
volatile std::sig_atomic_t g_resized = 0;
struct sigaction g_old_winch {};

void on_winch(int) { g_resized = 1; }

// The rate is the bytes mapped over the last kWindow seconds, known once
// the snapshots span kMinSpan seconds.
constexpr double kWindow = 5, kMinSpan = 1;
constexpr std::size_t kBarMin = 10, kBarMax = 30;  // inner width of the bar

// Columns of UTF-8 text: one per code point (the counters' names are the
// only text that is not ASCII).
std::size_t columns(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// The first `cols` columns of `s`, cut between code points.
std::string cut(std::string_view s, std::size_t cols) {
  std::size_t i = 0;
  for (std::size_t seen = 0; i < s.size(); ++i)
    if ((s[i] & 0xC0) != 0x80 && seen++ == cols) break;
  return std::string(s.substr(0, i));
}

struct Part {
  std::string text;
  int priority;  // the lowest goes first when the line is too wide
  bool bar = false;
};

std::string join(const std::vector<Part>& parts, std::string_view sep) {
  std::string out;
  for (const Part& p : parts) {
    if (!out.empty()) out += sep;
    out += p.text;
  }
  return out;
}

std::string percent(const Progress& p) {
  const std::uint64_t total = *p.bytes_total;
  const std::uint64_t pct =
      total == 0 ? 100 : std::min<std::uint64_t>(100, p.bytes_mapped * 100 / total);
  return std::to_string(pct) + "%";
}

std::string bar(const Progress& p, std::size_t inner) {
  const std::uint64_t total = *p.bytes_total;
  const std::size_t filled = total == 0 ? inner
                                        : static_cast<std::size_t>(std::min<std::uint64_t>(
                                              inner, p.bytes_mapped * inner / total));
  std::string out(inner + 2, '.');
  out.front() = '[';
  out.back() = ']';
  std::fill_n(out.begin() + 1, filled, '#');
  return out;
}

// "88.0/300.0 MiB", or "900.0 KiB/1.2 MiB" when the units differ.
std::string of_total(std::uint64_t n, std::uint64_t total) {
  std::string a = human_bytes(n), b = human_bytes(total);
  const std::size_t space = a.rfind(' ');
  if (a.compare(space, std::string::npos, b, b.rfind(' ')) == 0) a.resize(space);
  return a.append("/").append(b);
}

std::vector<Part> parts_of(const Progress& p, std::optional<double> rate) {
  using Phase = Progress::Phase;
  std::vector<Part> parts;
  const bool known = p.bytes_total.has_value();
  if (p.phase == Phase::kDone) {
    parts.push_back(
        {"done: " + human_bytes(p.bytes_mapped) + " in " + human_seconds(p.seconds), 6});
    if (p.seconds > 0)
      parts.push_back(
          {std::string("(")
               .append(human_bytes(static_cast<std::uint64_t>(p.bytes_mapped / p.seconds)))
               .append("/s)"),
           3});
  } else if (known) {
    parts.push_back({percent(p), 6});
    parts.push_back({bar(p, kBarMin), 1, true});
    parts.push_back({of_total(p.bytes_mapped, *p.bytes_total), 4});
  } else {
    parts.push_back({human_bytes(p.bytes_mapped), 6});
  }
  if (p.phase == Phase::kMap) {
    parts.push_back({rate ? human_bytes(static_cast<std::uint64_t>(*rate)) + "/s" : "--/s", 2});
    if (known) {
      const std::uint64_t left = *p.bytes_total - std::min(*p.bytes_total, p.bytes_mapped);
      parts.push_back(
          {rate && *rate > 0 ? "ETA " + human_seconds(static_cast<double>(left) / *rate) : "ETA --",
           3});
    }
  } else if (p.phase == Phase::kReduce) {
    parts.push_back(
        {"reduce " + std::to_string(p.partitions_done) + "/" + std::to_string(p.partitions), 5});
  }
  for (const auto& [name, n] : p.counters)
    parts.push_back({printable(name) + "=" + std::to_string(n), 0});
  return parts;
}

}  // namespace

std::string progress_text(const Progress& p, std::optional<double> rate, std::size_t width) {
  std::vector<Part> parts = parts_of(p, rate);
  std::string_view sep = "  ";
  // Drop the least important part (the rightmost of equals) until the rest
  // fits, squeezing the separators first.
  while (columns(join(parts, sep)) > width) {
    if (sep.size() == 2 && columns(join(parts, " ")) <= width) {
      sep = " ";
      break;
    }
    if (parts.size() == 1) return cut(parts[0].text, width);
    auto least = parts.begin();
    for (auto it = parts.begin(); it != parts.end(); ++it)
      if (it->priority <= least->priority) least = it;
    parts.erase(least);
  }
  // The bar takes what room is left, up to its widest.
  auto b = std::find_if(parts.begin(), parts.end(), [](const Part& x) { return x.bar; });
  if (b != parts.end()) {
    const std::size_t room = width - columns(join(parts, sep));
    b->text = bar(p, kBarMin + std::min(room, kBarMax - kBarMin));
  }
  return join(parts, sep);
}

std::size_t ProgressLine::terminal_width(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* env = std::getenv("COLUMNS")) {
    const long n = std::strtol(env, nullptr, 10);
    if (n > 0 && n < 100000) return static_cast<std::size_t>(n);
  }
  return 80;
}

ProgressLine::ProgressLine(int fd, Mode mode) : fd_(fd), mode_(mode) {
  if (mode_ == Mode::kTerminal) {
    width_ = terminal_width(fd_);
    struct sigaction sa {};
    sa.sa_handler = on_winch;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    g_resized = 0;
    ::sigaction(SIGWINCH, &sa, &g_old_winch);
  } else if (const char* env = std::getenv("MAPREDUCE_PROGRESS_PERIOD")) {
    const double s = std::strtod(env, nullptr);
    if (s > 0) period_ = s;
  }
}

ProgressLine::~ProgressLine() {
  if (mode_ != Mode::kTerminal) return;
  if (drawn_) write("\r\033[K");
  ::sigaction(SIGWINCH, &g_old_winch, nullptr);
}

void ProgressLine::write(const std::string& bytes) {
  if (broken_) return;
  try {
    mr::write_full(fd_, bytes.data(), bytes.size());
  } catch (const std::system_error&) {
    broken_ = true;
  }
}

std::optional<double> ProgressLine::rate(const Progress& p) {
  samples_.emplace_back(p.seconds, p.bytes_mapped);
  while (samples_.size() > 2 && p.seconds - samples_[1].first >= kWindow) samples_.pop_front();
  const double span = p.seconds - samples_.front().first;
  if (span < kMinSpan) return std::nullopt;
  return static_cast<double>(p.bytes_mapped - samples_.front().second) / span;
}

void ProgressLine::update(const Progress& p) noexcept {
  try {
    const bool done = p.phase == Progress::Phase::kDone;
    const std::optional<double> r = rate(p);
    if (mode_ == Mode::kLog) {
      if (!done && p.seconds - last_printed_ < period_) return;
      last_printed_ = p.seconds;
      write("mapreduce: " + progress_text(p, r, 1000) + "\n");
      return;
    }
    if (g_resized) {
      g_resized = 0;
      width_ = terminal_width(fd_);
    }
    // One column short of the width: a character in the last column makes
    // some terminals wrap at once.
    std::string line(1, '\r');
    line.append(progress_text(p, r, width_ > 1 ? width_ - 1 : 0)).append("\033[K");
    if (done) line += "\n";
    write(line);
    drawn_ = !done;
  } catch (...) {  // std::bad_alloc: no progress line rather than no result
    broken_ = true;
  }
}

}  // namespace mr::cli
