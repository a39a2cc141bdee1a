// linelength: a histogram of line lengths (in bytes, without the newline),
// in buckets of --opt bucket=N bytes, printed with a text bar chart.
#include <algorithm>
#include <cstdint>
#include <string>

#include "mr/job_api/plugin.h"

namespace {

struct LineLength : mr::MapReduceJob<std::uint64_t, std::uint64_t> {
  std::uint64_t bucket = 10;
  std::uint64_t per_mark = 100;

  static std::vector<mr::OptionSpec> options() {
    return {{"bucket", "width of a bucket in bytes", "10"},
            {"scale", "lines per '#' in the bar chart", "100"}};
  }
  void setup(const mr::JobOptions& o) {
    long long b = o.get_int("bucket", 10), s = o.get_int("scale", 100);
    if (b < 1) throw std::invalid_argument("option 'bucket' must be at least 1");
    if (s < 1) throw std::invalid_argument("option 'scale' must be at least 1");
    bucket = static_cast<std::uint64_t>(b);
    per_mark = static_cast<std::uint64_t>(s);
  }
  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    ctx.emit(line.size() / bucket * bucket, 1);
    if (line.empty()) ctx.count("empty lines");
  }
  std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
  void reduce(const std::uint64_t& start, std::span<const std::uint64_t> counts,
              ReduceContext& ctx) {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    ctx.emit(start, n);
  }
  // One line per bucket: "0-9<TAB>count<TAB>####", one '#' per `scale`
  // lines (rounded up), at most 100 of them.
  std::string format(const std::uint64_t& start, const std::uint64_t& n) const {
    std::uint64_t marks = (n + per_mark - 1) / per_mark;
    std::string bar(static_cast<std::size_t>(std::min<std::uint64_t>(marks, 100)), '#');
    if (marks > 100) bar += "+";
    return std::to_string(start) + "-" + std::to_string(start + bucket - 1) + "\t" +
           std::to_string(n) + "\t" + bar;
  }
  // --format csv|json: {from, to, lines}, no bar.
  static std::vector<std::string> columns() { return {"from", "to", "lines"}; }
  void record(const std::uint64_t& start, const std::uint64_t& n, mr::Record& r) const {
    r.field("from", start).field("to", start + bucket - 1).field("lines", n);
  }
};

}  // namespace

MR_PLUGIN(LineLength, "linelength", "histogram of line lengths in buckets, with a text bar chart")
