// primes: how many primes each range of the input holds (the course's
// practice exercise as a job).
//
// Input: one range per line, `FIRST-LAST`, inclusive, FIRST <= LAST <= 10^12
// (spaces around the numbers and the '-' are allowed). Blank lines and lines
// starting with '#' are ignored.
// Output: `FIRST-LAST<TAB>count`, one line per distinct range, sorted by
// FIRST then LAST:
//   3-10000      1228
//   10001-20000  1033
// A malformed line fails the job with a message naming the file and the line
// ("ranges.txt:4: bad range 'x-9': ..."), exit status 1. With --opt bad=skip
// it is skipped instead and counted in the user counter "bad lines" (shown by
// --stats).
//
// Each range is counted by a segmented sieve of Eratosthenes in one map call
// (time about proportional to LAST - FIRST, plus sqrt(LAST) once per worker),
// so a single huge range is not spread over workers: split it into lines.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mr/job_api/plugin.h"

namespace {

constexpr std::uint64_t kMaxNumber = 1'000'000'000'000;

// Counts primes in [first, last] by a segmented sieve; keeps the base primes
// (up to sqrt(last)) between calls.
class PrimeCounter {
 public:
  std::uint64_t count(std::uint64_t first, std::uint64_t last) {
    if (last < 2) return 0;
    first = std::max<std::uint64_t>(first, 2);
    extend_base(isqrt(last));
    std::uint64_t total = 0;
    std::vector<char> composite(kBlock);
    for (std::uint64_t lo = first; lo <= last; lo += kBlock) {
      const std::uint64_t hi = std::min(last, lo + kBlock - 1);
      std::fill(composite.begin(), composite.end(), 0);
      for (std::uint64_t p : base_) {
        if (p * p > hi) break;
        std::uint64_t m = std::max(p * p, (lo + p - 1) / p * p);
        for (; m <= hi; m += p) composite[m - lo] = 1;
      }
      total += static_cast<std::uint64_t>(
          std::count(composite.begin(), composite.begin() + static_cast<long>(hi - lo + 1), 0));
    }
    return total;
  }

 private:
  static constexpr std::uint64_t kBlock = 1 << 16;

  static std::uint64_t isqrt(std::uint64_t n) {
    auto r = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(n)));
    while (r * r > n) --r;
    while ((r + 1) * (r + 1) <= n) ++r;
    return r;
  }
  // Makes base_ hold every prime <= limit.
  void extend_base(std::uint64_t limit) {
    if (limit <= base_limit_) return;
    std::vector<char> composite(limit + 1, 0);
    base_.clear();
    for (std::uint64_t i = 2; i <= limit; ++i) {
      if (composite[i]) continue;
      base_.push_back(i);
      for (std::uint64_t m = i * i; m <= limit; m += i) composite[m] = 1;
    }
    base_limit_ = limit;
  }

  std::vector<std::uint64_t> base_;
  std::uint64_t base_limit_ = 1;
};

using Range = std::pair<std::uint64_t, std::uint64_t>;

struct Primes : mr::MapReduceJob<Range, std::uint64_t> {
  static constexpr bool kLineNumbers = true;
  bool skip_bad = false;
  PrimeCounter counter;

  static std::vector<mr::OptionSpec> options() {
    return {{"bad",
             "what a malformed line does: 'fail' the job or 'skip' it (counted as 'bad lines')",
             "fail"}};
  }
  void setup(const mr::JobOptions& o) {
    std::string bad = o.get("bad", "fail");
    if (bad != "fail" && bad != "skip")
      throw std::invalid_argument("option 'bad': expected 'fail' or 'skip', got '" + bad + "'");
    skip_bad = bad == "skip";
  }

  void map_line(std::string_view line, std::uint64_t number, Context& ctx) {
    std::string_view text = trim(line);
    if (text.empty() || text.front() == '#') return;
    Range r;
    if (const char* why = parse(text, r)) {
      if (skip_bad) {
        ctx.count("bad lines");
        return;
      }
      // "FILE:LINE: ..." (just "FILE: ..." if the engine gave no line number).
      std::string where(ctx.chunk().file);
      if (number) where += ":" + std::to_string(number);
      throw std::invalid_argument(where + ": bad range '" + std::string(text) + "': " + why);
    }
    ctx.emit(r, counter.count(r.first, r.second));
  }
  // A range's count is the same wherever it is computed: keep one.
  std::uint64_t combine(std::uint64_t a, std::uint64_t) const { return a; }
  void reduce(const Range& r, std::span<const std::uint64_t> counts, ReduceContext& ctx) {
    ctx.emit(r, counts.front());
  }
  std::string format(const Range& r, const std::uint64_t& n) const {
    return std::to_string(r.first) + "-" + std::to_string(r.second) + "\t" + std::to_string(n);
  }
  // --format csv|json: {from, to, primes}.
  static std::vector<std::string> columns() { return {"from", "to", "primes"}; }
  void record(const Range& range, const std::uint64_t& n, mr::Record& r) const {
    r.field("from", range.first).field("to", range.second).field("primes", n);
  }

 private:
  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  }
  static bool parse_number(std::string_view s, std::uint64_t& v) {
    s = trim(s);
    if (s.empty() || s.front() < '0' || s.front() > '9') return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && end == s.data() + s.size() && v <= kMaxNumber;
  }
  // nullptr when `text` is a valid range, else why not.
  static const char* parse(std::string_view text, Range& r) {
    std::size_t dash = text.find('-');
    if (dash == std::string_view::npos || !parse_number(text.substr(0, dash), r.first) ||
        !parse_number(text.substr(dash + 1), r.second))
      return "expected FIRST-LAST with whole numbers 0..1000000000000, e.g. 3-10000";
    if (r.first > r.second) return "FIRST is greater than LAST";
    return nullptr;
  }
};

}  // namespace

MR_PLUGIN(Primes, "primes", "number of primes in each range FIRST-LAST of the input")
