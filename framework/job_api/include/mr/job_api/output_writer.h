// The output writer: the one place where a job's sorted reduce runs become
// the result the user reads. It k-way merges the runs (one cursor per run,
// a heap of their heads), keeps the first OutputOptions::top records (0:
// all), and frames them for the format: TSV lines, CSV with a header line,
// a JSON array of objects, or one such object a line (JSON Lines). Used by the built-in wordcount
// and by every typed job (Job::write_output), so the framing and --top mean the same for every job.
//
//   struct Cursor { std::string_view rest; Word word; bool next(); };   // one per run
//   struct Records {                       // the job's view of its records
//     bool before(const Cursor& a, const Cursor& b) const;  // a's record first
//     void csv_header(std::string& line) const;             // no '\n'
//     void append(OutputOptions::Format f, const Cursor& c, std::string& line);
//   };                                     // TSV/CSV: the line without '\n'; JSON: "{...}"
//                                          // (append gets kJson for JSON Lines too)
//   std::uint64_t lines = mr::write_sorted_runs(cursors, records, output, out);
//
// A template, so each record costs what the job's own code costs: no
// virtual call per record. Not thread-safe (one writer per call); it only
// writes to `out` (errors show in ferror(out), which the caller checks).
#pragma once

#include <cstdint>
#include <cstdio>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "mr/job_api/job.h"

namespace mr {

// Merges `cursors` (each already positioned by nothing: write_sorted_runs
// calls next() once to load its first record; a run without records is
// dropped) and writes the records in `records.before` order. Returns the
// number of records written.
template <class Cursor, class Records>
std::uint64_t write_sorted_runs(std::vector<Cursor> cursors, Records& records,
                                const OutputOptions& output, std::FILE* out) {
  std::vector<Cursor> heads;
  heads.reserve(cursors.size());
  for (auto& c : cursors)
    if (c.next()) heads.push_back(std::move(c));
  auto later = [&](std::size_t a, std::size_t b) { return records.before(heads[b], heads[a]); };
  std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> heap(later);
  for (std::size_t i = 0; i < heads.size(); ++i) heap.push(i);

  using Format = OutputOptions::Format;
  std::uint64_t lines = 0;
  std::string line;
  if (output.format == Format::kCsv) {
    records.csv_header(line);
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), out);
  }
  if (output.format == Format::kJson) std::fputs("[", out);
  // A JSON Lines record is the object of the JSON array, framed by lines.
  const Format record = output.format == Format::kJsonl ? Format::kJson : output.format;
  while (!heap.empty() && (!output.top || lines < output.top)) {
    std::size_t i = heap.top();
    heap.pop();
    line.clear();
    if (output.format == Format::kJson) line += lines ? ",\n  " : "\n  ";
    records.append(record, heads[i], line);
    if (output.format != Format::kJson) line += '\n';
    std::fwrite(line.data(), 1, line.size(), out);
    ++lines;
    if (heads[i].next()) heap.push(i);
  }
  if (output.format == Format::kJson) std::fputs(lines ? "\n]\n" : "]\n", out);
  return lines;
}

}  // namespace mr
