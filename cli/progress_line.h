// The mapreduce program's progress display on stderr, fed by the engine's
// snapshots (mr::EngineOptions::on_progress).
//
// On a terminal it is one line redrawn in place ("\r", the text, "\033[K"),
// never wider than the terminal (read with TIOCGWINSZ, read again after a
// SIGWINCH), so it never wraps; it ends as a clean summary line and a
// newline, or is erased when the run fails, so that the error message
// starts on a line of its own:
//
//   47%  [#########..........]  148.0 MiB/314.6 MiB  52.1 MiB/s  ETA 3s
//   314.6 MiB in 6s, 51.9 MiB/s  lines=3000
//
// When stderr is not a terminal (--progress into a log) it prints a plain
// line every few seconds instead (2 s; MAPREDUCE_PROGRESS_PERIOD=SECONDS
// changes it, for tests), and the summary at the end, never a "\r".
//
// The rate is averaged over the last few seconds (a sliding window), so it
// follows the run rather than its start; the ETA reads "ETA --" until a
// rate is known. A stream input (standard input, a FIFO, a compressed file)
// has no known size until it is read to its end: bytes and rate, no
// percentage.
//
// Not thread-safe: one object, used on the master's thread. While a
// terminal-mode ProgressLine lives it owns the process's SIGWINCH
// disposition (a handler that sets a flag); the destructor restores the
// previous one.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "mr/mapreduce/engine.h"

namespace mr::cli {

// `p` as one line of at most `width` columns (code points): no control
// characters, no newline. Less important parts are left out as the width
// shrinks: the job's counters first, then the bar, the rate, the ETA, then
// the sizes; the percentage (or the byte count of a stream) goes last.
// `rate`: input bytes per second, empty while unknown.
std::string progress_text(const Progress& p, std::optional<double> rate, std::size_t width);

class ProgressLine {
 public:
  enum class Mode {
    kTerminal,  // redrawn in place, fitted to the terminal's width
    kLog,       // a plain line every period, for a file or a pipe
  };
  // Draws on `fd` (stderr in the program) as `mode` says. Terminal mode
  // installs the SIGWINCH handler.
  ProgressLine(int fd, Mode mode);
  // Terminal mode: erases a line left unfinished (the run failed) and
  // restores the SIGWINCH disposition.
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Takes a snapshot: redraws the line (terminal), prints one when a period
  // has passed (log), or, with Phase::kDone, prints the summary line.
  // Never throws: a stderr that cannot be written stops the display.
  void update(const Progress& p) noexcept;

  // The width of a terminal on `fd`: its columns, else $COLUMNS, else 80.
  static std::size_t terminal_width(int fd);

 private:
  std::optional<double> rate(const Progress& p);
  void write(const std::string& bytes);

  int fd_;
  Mode mode_;
  std::size_t width_ = 80;
  double period_ = 2;        // seconds between log lines
  double last_printed_ = 0;  // when the last log line was printed
  bool drawn_ = false;       // terminal: a line is on the screen, not ended
  bool broken_ = false;      // writing failed: stay quiet
  // (seconds, bytes mapped) of the recent snapshots, for the rate.
  std::deque<std::pair<double, std::uint64_t>> samples_;
};

}  // namespace mr::cli
