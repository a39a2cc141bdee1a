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
//   };                                     // appends to `line` (earlier lines may be in it)
//                                          // TSV/CSV: the line without '\n'; JSON: "{...}"
//                                          // (append gets kJson for JSON Lines too)
//   std::uint64_t lines = mr::write_sorted_runs(cursors, records, output, out);
//
// A template, so each record costs what the job's own code costs: no
// virtual call per record. Not thread-safe (one writer per call); it only
// writes to `out` (errors show in ferror(out), which the caller checks).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "mr/job_api/job.h"

namespace mr {

// Merges `cursors` (each already positioned by nothing: write_sorted_runs
// calls next() once to load its first record; a run without records is
// dropped) and writes the records in `records.before` order. Returns the
// number of records written. The text goes to `out` in blocks of about
// 64 KiB (one fwrite each, not one a line).
template <class Cursor, class Records>
std::uint64_t write_sorted_runs(std::vector<Cursor> cursors, Records& records,
                                const OutputOptions& output, std::FILE* out) {
  std::vector<Cursor> heads;
  heads.reserve(cursors.size());
  for (auto& c : cursors)
    if (c.next()) heads.push_back(std::move(c));
  // A binary min-heap of indices into heads. The smallest head is taken,
  // advanced in place and sifted down once: one pass per record, where a
  // pop and a push would be two.
  std::vector<std::size_t> heap(heads.size());
  auto later = [&](std::size_t a, std::size_t b) { return records.before(heads[b], heads[a]); };
  for (std::size_t i = 0; i < heap.size(); ++i) heap[i] = i;
  std::make_heap(heap.begin(), heap.end(), later);
  auto sift_down_top = [&] {
    const std::size_t n = heap.size();
    const std::size_t moving = heap[0];
    std::size_t at = 0;
    for (;;) {
      std::size_t child = 2 * at + 1;
      if (child >= n) break;
      if (child + 1 < n && later(heap[child], heap[child + 1])) ++child;
      if (!later(moving, heap[child])) break;
      heap[at] = heap[child];
      at = child;
    }
    heap[at] = moving;
  };

  using Format = OutputOptions::Format;
  constexpr std::size_t kBlock = 64 << 10;
  std::uint64_t lines = 0;
  std::string text;
  text.reserve(kBlock + 4096);
  if (output.format == Format::kCsv) {
    records.csv_header(text);
    text += '\n';
  }
  if (output.format == Format::kJson) text += '[';
  // A JSON Lines record is the object of the JSON array, framed by lines.
  const Format record = output.format == Format::kJsonl ? Format::kJson : output.format;
  while (!heap.empty() && (!output.top || lines < output.top)) {
    const std::size_t i = heap.front();
    if (output.format == Format::kJson) text += lines ? ",\n  " : "\n  ";
    records.append(record, heads[i], text);
    if (output.format != Format::kJson) text += '\n';
    if (text.size() >= kBlock) {
      std::fwrite(text.data(), 1, text.size(), out);
      text.clear();
    }
    ++lines;
    if (heads[i].next()) {
      sift_down_top();
    } else {
      heap.front() = heap.back();
      heap.pop_back();
      if (!heap.empty()) sift_down_top();
    }
  }
  if (output.format == Format::kJson) text += lines ? "\n]\n" : "]\n";
  std::fwrite(text.data(), 1, text.size(), out);
  return lines;
}

}  // namespace mr
