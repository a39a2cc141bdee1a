// Human-readable quantities for the mapreduce program's messages: sizes in
// binary units ("1.2 GiB") and durations ("2m05s"). Pure functions;
// thread-safe.
//
//   human_bytes(1288490189)  ->  "1.2 GiB"
//   human_bytes(512)         ->  "512 B"
//   human_seconds(125.4)     ->  "2m05s"
#pragma once

#include <cstdint>
#include <string>

namespace mr::cli {

// `n` bytes: "N B" below 1 KiB, else one decimal in KiB, MiB, GiB, TiB,
// PiB or EiB (1024-based, as `ls -h` and `du -h`).
std::string human_bytes(std::uint64_t n);

// A duration of `seconds` (negative taken as 0), rounded to whole seconds:
// "7s", "2m05s", "3h07m" (minutes dropped beyond a day: "52h").
std::string human_seconds(double seconds);

}  // namespace mr::cli
