// In-process tests of the progress line's text (cli/progress_line.h) and
// of the human-readable units (cli/units.h): what is shown at which width.
// The terminal behaviour itself (redraw in place, SIGWINCH, the final
// line) is tested on a real terminal by progress_tmux_test.py.
#include "progress_line.h"

#include <gtest/gtest.h>

#include <string>

#include "units.h"

namespace {

using mr::Progress;
using mr::cli::human_bytes;
using mr::cli::human_seconds;
using mr::cli::progress_text;

std::size_t columns(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

Progress mapping(std::uint64_t mapped, std::optional<std::uint64_t> total) {
  Progress p;
  p.bytes_mapped = mapped;
  p.bytes_total = total;
  p.seconds = 3;
  p.counters = {{"lines", 3000}, {"naïve", 12}};
  return p;
}

TEST(UnitsTest, SizesAreBinaryWithOneDecimal) {
  EXPECT_EQ(human_bytes(0), "0 B");
  EXPECT_EQ(human_bytes(1023), "1023 B");
  EXPECT_EQ(human_bytes(1024), "1.0 KiB");
  EXPECT_EQ(human_bytes(1536), "1.5 KiB");
  EXPECT_EQ(human_bytes(1288490189), "1.2 GiB");
  EXPECT_EQ(human_bytes((1u << 20) - 1), "1.0 MiB");  // not "1024.0 KiB"
  EXPECT_EQ(human_bytes(~std::uint64_t{0}), "16.0 EiB");
  EXPECT_EQ(human_seconds(-1), "0s");
  EXPECT_EQ(human_seconds(7.4), "7s");
  EXPECT_EQ(human_seconds(125.4), "2m05s");
  EXPECT_EQ(human_seconds(3 * 3600 + 7 * 60), "3h07m");
}

TEST(ProgressLineTest, AFileShowsItsPercentageAndTotalFromTheStart) {
  const std::string s = progress_text(mapping(0, 300 << 20), std::nullopt, 200);
  EXPECT_EQ(s.rfind("0%  [", 0), 0u) << s;
  EXPECT_NE(s.find("0 B/300.0 MiB"), std::string::npos) << s;
  EXPECT_NE(s.find("ETA --"), std::string::npos) << s;  // no rate yet
  const std::string t = progress_text(mapping(150 << 20, 300 << 20), 50 << 20, 200);
  EXPECT_EQ(t.rfind("50%  [", 0), 0u) << t;
  EXPECT_NE(t.find("150.0/300.0 MiB  50.0 MiB/s  ETA 3s"), std::string::npos) << t;
  EXPECT_NE(t.find("lines=3000"), std::string::npos) << t;
}

TEST(ProgressLineTest, AStreamShowsBytesAndRateButNoPercentage) {
  const std::string s = progress_text(mapping(5 << 20, std::nullopt), 1 << 20, 200);
  EXPECT_EQ(s.find('%'), std::string::npos) << s;
  EXPECT_EQ(s.find("ETA"), std::string::npos) << s;
  EXPECT_EQ(s.rfind("5.0 MiB  1.0 MiB/s", 0), 0u) << s;
}

TEST(ProgressLineTest, NeverWiderThanAskedAndKeepsThePercentageLongest) {
  for (const Progress& p : {mapping(7 << 20, 300 << 20), mapping(7 << 20, std::nullopt)}) {
    for (std::size_t width = 0; width <= 120; ++width) {
      const std::string s = progress_text(p, 2 << 20, width);
      EXPECT_LE(columns(s), width) << s;
      if (width >= 3 && p.bytes_total) {
        EXPECT_EQ(s.rfind("2%", 0), 0u) << width << ": " << s;
      }
    }
  }
  // At 29 columns (a 30-column terminal) the counters and the bar go first.
  const std::string s = progress_text(mapping(7 << 20, 300 << 20), 2 << 20, 29);
  EXPECT_EQ(s.find('='), std::string::npos) << s;
  EXPECT_EQ(s.find('['), std::string::npos) << s;
  EXPECT_NE(s.find("ETA"), std::string::npos) << s;
}

TEST(ProgressLineTest, TheReduceAndDoneLinesSayWhatHappened) {
  Progress p = mapping(300 << 20, 300 << 20);
  p.phase = Progress::Phase::kReduce;
  p.partitions_done = 3;
  p.partitions = 8;
  std::string s = progress_text(p, std::nullopt, 200);
  EXPECT_EQ(s.rfind("100%", 0), 0u) << s;
  EXPECT_NE(s.find("reduce 3/8"), std::string::npos) << s;
  p.phase = Progress::Phase::kDone;
  s = progress_text(p, std::nullopt, 200);
  // The average over the whole run, not a rate over a last instant.
  EXPECT_EQ(s.rfind("done: 300.0 MiB in 3s  (100.0 MiB/s)  lines=3000  naïve=12", 0), 0u) << s;
}

}  // namespace
