// Test plugin for typed_features_test: the typed API's less common parts in
// one job. Input lines are "CITY ZONE TEMPERATURE". The key is a user
// struct (Place), the map value a user struct holding a double and floats
// (Reading), the output value another user struct (Summary); the job has its
// own partition() (by zone) and prefers 3 reducers (kReducers). Each output
// line says which partition reduced it (ctx.partition()), so a test can
// check partition() was used.
#include <charconv>
#include <cstdint>
#include <iomanip>
#include <ostream>
#include <stdexcept>
#include <string>
#include <tuple>

#include "mr/job_api/plugin.h"

namespace {

// A key: needs serialize (shuffle), == (the combiner's table), < (reduce
// order and the default output order; == alone would do) and << (its text in
// the default output line).
struct Place {
  std::string city;
  std::int32_t zone = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(city, zone);
  }
  friend bool operator==(const Place&, const Place&) = default;
  friend bool operator<(const Place& a, const Place& b) {
    return std::tie(a.city, a.zone) < std::tie(b.city, b.zone);
  }
  friend std::ostream& operator<<(std::ostream& os, const Place& p) {
    return os << p.city << '@' << p.zone;
  }
};

// A map value, never printed: serialize is all it needs.
struct Reading {
  double sum = 0;
  float min = 0, max = 0;
  std::uint64_t n = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(sum, min, max, n);
  }
};

// An output value: serialize and << (printed).
struct Summary {
  std::uint64_t n = 0;
  float min = 0, max = 0;
  double mean = 0;
  std::uint32_t partition = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(n, min, max, mean, partition);
  }
  friend std::ostream& operator<<(std::ostream& os, const Summary& s) {
    return os << std::setprecision(17) << s.n << ' ' << s.min << ' ' << s.max << ' ' << s.mean
              << " p" << s.partition;
  }
};

struct TypedFeatures : mr::MapReduceJob<Place, Reading, Place, Summary> {
  static constexpr unsigned kReducers = 3;

  void map_line(std::string_view line, std::uint64_t, Context& ctx) {
    const auto a = line.find(' '), b = line.rfind(' ');
    if (a == std::string_view::npos || a == b) throw std::runtime_error("bad line");
    Place p{std::string(line.substr(0, a)), 0};
    std::string_view zone = line.substr(a + 1, b - a - 1);
    std::from_chars(zone.data(), zone.data() + zone.size(), p.zone);
    const float t = std::stof(std::string(line.substr(b + 1)));
    ctx.emit(std::move(p), Reading{t, t, t, 1});
  }
  Reading combine(const Reading& a, const Reading& b) const {
    return Reading{a.sum + b.sum, std::min(a.min, b.min), std::max(a.max, b.max), a.n + b.n};
  }
  unsigned partition(const Place& p, unsigned partitions) const {
    return static_cast<unsigned>(p.zone) % partitions;
  }
  void reduce(const Place& p, std::span<const Reading> readings, ReduceContext& ctx) {
    Reading all = readings.front();
    for (std::size_t i = 1; i < readings.size(); ++i) all = combine(all, readings[i]);
    ctx.emit(Place(p), Summary{all.n, all.min, all.max, all.sum / static_cast<double>(all.n),
                               ctx.partition()});
  }
};

}  // namespace

MR_PLUGIN(TypedFeatures, "test_typed_features",
          "test: user key and value types, floats, partition() and kReducers")
