// primes end to end: prime counts per range against a sieve and trial
// division computed here; malformed lines fail the job or are skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;

// Plain sieve of Eratosthenes: prefix[n] = number of primes <= n.
std::vector<std::uint64_t> prime_prefix(std::uint64_t limit) {
  std::vector<bool> composite(limit + 1, false);
  std::vector<std::uint64_t> prefix(limit + 1, 0);
  for (std::uint64_t i = 2; i <= limit; ++i) {
    if (!composite[i])
      for (std::uint64_t m = i * i; m <= limit; m += i) composite[m] = true;
    prefix[i] = prefix[i - 1] + (composite[i] ? 0 : 1);
  }
  return prefix;
}

bool is_prime_by_trial_division(std::uint64_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (std::uint64_t d = 3; d * d <= n; d += 2)
    if (n % d == 0) return false;
  return true;
}

std::string line(std::uint64_t a, std::uint64_t b, std::uint64_t n) {
  return std::to_string(a) + "-" + std::to_string(b) + "\t" + std::to_string(n) + "\n";
}

TEST(PrimesJobTest, CourseRangesMatchASieve) {
  auto prefix = prime_prefix(30000);
  auto count = [&](std::uint64_t a, std::uint64_t b) {
    return prefix[b] - (a == 0 ? 0 : prefix[a - 1]);
  };
  // The course's expected answers, checked against the sieve first.
  ASSERT_EQ(count(3, 10000), 1228u);
  ASSERT_EQ(count(10001, 20000), 1033u);
  ASSERT_EQ(count(20001, 30000), 983u);

  // Course ranges, edge ranges, duplicates, comments, blank lines, CRLF and
  // spaces, then random ranges in random order: enough lines that 64-byte
  // chunks cut the input in many places.
  std::string input =
      "# the course's ranges\n20001-30000\n3-10000\n\n10001-20000\r\n"
      "0-1\n2-2\n1-2\n  0 - 0 \n\t2-3\t\n3-10000\n   \n#0-5\n";
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> want;
  for (auto [a, b] : std::vector<std::pair<std::uint64_t, std::uint64_t>>{
           {3, 10000}, {10001, 20000}, {20001, 30000}, {0, 1}, {2, 2}, {1, 2}, {0, 0}, {2, 3}})
    want[{a, b}] = count(a, b);
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    std::uint64_t a = rng() % 30001, b = rng() % 30001;
    if (a > b) std::swap(a, b);
    if (i % 10 == 0) b = a;  // one-number ranges
    input += std::to_string(a) + "-" + std::to_string(b) + "\n";
    want[{a, b}] = count(a, b);
  }
  std::string expected;
  for (auto [r, n] : want) expected += line(r.first, r.second, n);
  for (const char* course : {"\n3-10000\t1228\n", "\n10001-20000\t1033\n", "\n20001-30000\t983\n"})
    ASSERT_NE(expected.find(course), std::string::npos) << course;
  ASSERT_EQ(expected.rfind("0-0\t0\n0-1\t0\n", 0), 0u);
  ASSERT_NE(expected.find("1-2\t1\n"), std::string::npos);
  ASSERT_NE(expected.find("2-2\t1\n"), std::string::npos);

  TempDir dir;
  auto f = dir.write("ranges.txt", input);
  for (const char* j : {"1", "3"}) {
    auto r = run_mapreduce(
        {"run", "--job", "primes", "-j", j, "--chunk-size", "64", "--no-progress", f});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, expected) << "-j " << j;
  }
}

TEST(PrimesJobTest, LargeNumbersMatchTrialDivision) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges = {
      {999'999'000, 1'000'000'000},
      {999'999'999'000, 1'000'000'000'000},
      {4'294'967'000, 4'294'967'400}};
  std::string input, expected;
  for (auto [a, b] : ranges) input += std::to_string(a) + "-" + std::to_string(b) + "\n";
  std::sort(ranges.begin(), ranges.end());
  for (auto [a, b] : ranges) {
    std::uint64_t n = 0;
    for (std::uint64_t x = a; x <= b; ++x) n += is_prime_by_trial_division(x);
    expected += line(a, b, n);
  }
  TempDir dir;
  auto f = dir.write("big.txt", input);
  auto r = run_mapreduce(
      {"run", "--job", "primes", "-j", "3", "--chunk-size", "64", "--no-progress", f});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
}

TEST(PrimesJobTest, MalformedLinesFailTheJobOrAreSkipped) {
  const std::vector<std::string> bad = {"x-9",
                                        "10-3",
                                        "1-2-3",
                                        "-5",
                                        "7-",
                                        "7",
                                        "1 0-20",
                                        "+1-5",
                                        "0x10-0x20",
                                        "1000000000001-1000000000002",
                                        "99999999999999999999-1"};
  TempDir dir;
  for (const auto& b : bad) {
    auto f = dir.write("bad.txt", "3-10\n" + b + "\n11-20\n");
    auto r = run_mapreduce({"run", "--job", "primes", "--no-progress", f});
    EXPECT_EQ(r.exit_code, 1) << b;
    EXPECT_EQ(r.out, "") << b;
    EXPECT_NE(r.err.find(f), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bad range '" + b + "'"), std::string::npos) << r.err;

    r = run_mapreduce(
        {"run", "--job", "primes", "--opt", "bad=skip", "--stats", "--no-progress", "-j", "2", f});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "3-10\t3\n11-20\t4\n") << b;
    EXPECT_NE(r.err.find("\n  counter bad lines: 1\n"), std::string::npos) << r.err;
  }
  auto f = dir.write("ok.txt", "1-5\n");
  auto r = run_mapreduce({"run", "--job", "primes", "--opt", "bad=ignore", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("option 'bad'"), std::string::npos) << r.err;
}

// Line numbers survive chunking: the master numbers each chunk's first line.
TEST(PrimesJobTest, MalformedLineMessageNamesFileAndLine) {
  TempDir dir;
  auto f = dir.write("ranges.txt", "# header\n3-10\n\n11-20\n5:9\n21-30\n");
  for (const char* chunk : {"64", "8"}) {
    auto r = run_mapreduce({"run", "--job", "primes", "--chunk-size", chunk, "--no-progress", f});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(f + ":5: bad range '5:9'"), std::string::npos) << r.err;
  }
}

}  // namespace
