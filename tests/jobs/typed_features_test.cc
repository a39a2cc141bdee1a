// The typed API's user types, floats, partition() and kReducers, end to
// end: tests/jobs/test_plugins/typed_features.cc keys readings by a user
// struct (city, zone), carries them in another (a double sum, float min and
// max, a count), prints a third, partitions by zone and prefers 3 reducers.
// The expected lines are computed here from the input; temperatures are
// multiples of 1/4, so every sum is exact whatever order the engine adds in.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;

struct Expected {
  std::uint64_t n = 0;
  float min = 0, max = 0;
  double sum = 0;
};

struct Input {
  std::string text;
  std::map<std::pair<std::string, int>, Expected> by_place;  // (city, zone)
};

Input make_input() {
  const char* cities[] = {"oslo", "lima", "kyiv", "rome", "baku", "doha", "lome", "male"};
  std::mt19937 rng(11);
  Input in;
  for (int i = 0; i < 4000; ++i) {
    const std::string city = cities[rng() % 8];
    const int zone = static_cast<int>(rng() % 7);
    const int quarters = static_cast<int>(rng() % 241) - 80;  // -20.00 to 40.00
    const float t = static_cast<float>(quarters) / 4.0f;
    std::ostringstream line;
    line << city << ' ' << zone << ' ' << t << '\n';
    in.text += line.str();
    Expected& e = in.by_place[{city, zone}];
    e.min = e.n ? std::min(e.min, t) : t;
    e.max = e.n ? std::max(e.max, t) : t;
    e.sum += t;
    ++e.n;
  }
  return in;
}

// What the job prints for each place, in key order, when `reducers`
// partitions are used: "city@zone<TAB>n min max mean p<partition>".
std::string expected_output(const Input& in, unsigned reducers) {
  std::string out;
  for (const auto& [place, e] : in.by_place) {
    std::ostringstream line;
    line << std::setprecision(17) << place.first << '@' << place.second << '\t' << e.n << ' '
         << e.min << ' ' << e.max << ' ' << e.sum / static_cast<double>(e.n) << " p"
         << static_cast<unsigned>(place.second) % reducers << '\n';
    out += line.str();
  }
  return out;
}

TEST(TypedFeaturesTest, UserTypesFloatsPartitionAndPreferredReducers) {
  TempDir dir;
  const Input in = make_input();
  auto f = dir.write("readings.txt", in.text);
  for (const char* method : {"fork", "spawn"}) {
    SCOPED_TRACE(method);
    // kReducers = 3: the job's partition() by zone decides which of the 3
    // reduces each place.
    auto r = run_mapreduce({"run", "--job", TEST_PLUGIN, "-j", "2", "--chunk-size", "4K",
                            "--start-method", method, "--stats", "--no-progress", f});
    ASSERT_FALSE(r.timed_out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, expected_output(in, 3));
    EXPECT_NE(r.err.find("(reducers 3)"), std::string::npos) << r.err;
  }
  // --reducers overrides kReducers; partition() is asked with that count.
  auto r = run_mapreduce({"run", "--job", TEST_PLUGIN, "-j", "2", "--chunk-size", "4K",
                          "--reducers", "2", "--stats", "--no-progress", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected_output(in, 2));
  EXPECT_NE(r.err.find("(reducers 2)"), std::string::npos) << r.err;
}

}  // namespace
