// Tests of mr::detail::KeyTable, the typed API's flat combiner table, and of
// sort_by_key, the order of its partition runs: every key kind the table
// stores differently (inline short strings, arena long strings, NUL bytes,
// the empty string, integers of either sign), growth across many rehashes,
// and the byte order of std::string for keys that share 16-byte prefixes.
#include "mr/job_api/key_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using mr::detail::KeyTable;

// Every (key, value) of a table, as a std::map.
template <class K, class V>
std::map<K, V> contents(KeyTable<K, V>& table) {
  std::map<K, V> out;
  table.for_each([&](auto key, V& value) {
    EXPECT_TRUE(out.emplace(K(key), value).second) << "a key listed twice";
  });
  return out;
}

std::string nul_after(std::string s) {
  s.push_back('\0');
  return s;
}

TEST(KeyTableTest, StringKeysOfEveryKindAreDistinctAndKeepTheirBytes) {
  using namespace std::string_literals;
  // Inline (<= 16 bytes) and arena (> 16) keys, NUL bytes that zero padding
  // must not confuse with shorter keys, the empty key, bytes >= 0x80.
  const std::vector<std::string> keys = {
      ""s,
      "\0"s,
      "\0\0"s,
      "a"s,
      "a\0"s,
      "\0a"s,
      "ab"s,
      "abcdefgh"s,
      "abcdefgh\0"s,
      "\xff\xfe"s,
      std::string(16, 'x'),
      nul_after(std::string(15, 'x')),
      std::string(17, 'x'),
      nul_after(std::string(16, 'x')),
      std::string(100, 'y'),
      nul_after(std::string(99, 'y')),
  };
  KeyTable<std::string, std::uint64_t> table;
  for (int round = 1; round <= 3; ++round) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      bool inserted = false;
      std::uint64_t& v = table.find_or_insert(keys[i], inserted);
      EXPECT_EQ(inserted, round == 1) << "key " << i;
      v += i + 1;
    }
  }
  EXPECT_EQ(table.size(), keys.size());
  auto got = contents(table);
  ASSERT_EQ(got.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(got[keys[i]], 3 * (i + 1)) << "key " << i;
  table.clear();
  EXPECT_TRUE(table.empty());
  EXPECT_TRUE(contents(table).empty());
}

TEST(KeyTableTest, GrowsThroughManyRehashesWithoutLosingAKey) {
  KeyTable<std::string, std::uint64_t> table;
  std::map<std::string, std::uint64_t> expected;
  std::mt19937_64 rng(42);
  // 200k emits of keys 1..40 bytes long from a 60k-key vocabulary.
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t id = rng() % 60000;
    std::string key = std::to_string(id);
    key.insert(key.begin(), 'k');
    key.resize(1 + id % 40, static_cast<char>('a' + id % 26));
    bool inserted;
    table.find_or_insert(key, inserted) += 2;
    expected[key] += 2;
  }
  EXPECT_EQ(table.size(), expected.size());
  EXPECT_EQ(contents(table), expected);
  EXPECT_GE(table.memory_bytes(), expected.size() * 32);
}

TEST(KeyTableTest, IntegralKeysOfEitherSign) {
  KeyTable<std::int64_t, int> table;
  const std::vector<std::int64_t> keys = {0,
                                          1,
                                          -1,
                                          42,
                                          -42,
                                          std::numeric_limits<std::int64_t>::min(),
                                          std::numeric_limits<std::int64_t>::max(),
                                          1LL << 40};
  for (int round = 0; round < 2; ++round)
    for (auto k : keys) {
      bool inserted;
      ++table.find_or_insert(k, inserted);
    }
  // Many keys that differ only in high bits: the table's own mixing spreads them.
  for (std::int64_t i = 1; i <= 5000; ++i) {
    bool inserted;
    table.find_or_insert(i << 32, inserted) = 7;
    EXPECT_EQ(inserted, (i << 32) != (1LL << 40)) << i;
  }
  auto got = contents(table);
  EXPECT_EQ(got.size(), keys.size() + 5000 - 1);  // 1 << 40 is also 256 << 32
  for (auto k : keys) EXPECT_EQ(got[k], k == (1LL << 40) ? 7 : 2) << k;

  KeyTable<std::uint32_t, std::uint64_t> small;
  bool inserted;
  small.find_or_insert(0xffffffffu, inserted) = 5;
  EXPECT_EQ(contents(small), (std::map<std::uint32_t, std::uint64_t>{{0xffffffffu, 5}}));
}

TEST(KeyTableTest, ValuesThatOwnMemoryMoveWithTheirSlotsAcrossGrowth) {
  KeyTable<std::string, std::vector<std::string>> table;
  for (int i = 0; i < 3000; ++i) {
    bool inserted;
    auto& list = table.find_or_insert("key" + std::to_string(i % 1000), inserted);
    list.push_back(std::string(40, static_cast<char>('a' + i % 26)) + std::to_string(i));
  }
  auto got = contents(table);
  ASSERT_EQ(got.size(), 1000u);
  for (int k = 0; k < 1000; ++k) {
    const auto& list = got["key" + std::to_string(k)];
    ASSERT_EQ(list.size(), 3u);
    for (int j = 0; j < 3; ++j) EXPECT_TRUE(list[j].ends_with(std::to_string(k + 1000 * j)));
  }
}

TEST(KeyTableTest, SortByKeyIsStdStringOrder) {
  using namespace std::string_literals;
  std::vector<std::string> keys = {""s, "\0"s, "a"s, "a\0"s, "a\0b"s, "\x80"s, "\xff"s, "Z"s, "z"s};
  // Keys sharing their first 16 bytes (only the full compare orders them),
  // prefixes of each other, and random bytes, high ones included.
  const std::string stem(16, 'q');
  for (const char* tail : {"", "a", "\0", "b", "ab", "\xff"}) keys.push_back(stem + tail);
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string k(rng() % 24, '\0');
    for (auto& c : k) c = static_cast<char>(rng() % 4 == 0 ? 0x80 + rng() % 128 : 'a' + rng() % 3);
    keys.push_back(std::move(k));
  }
  std::vector<std::pair<std::string_view, int>> entries;
  for (std::size_t i = 0; i < keys.size(); ++i) entries.emplace_back(keys[i], static_cast<int>(i));
  mr::detail::sort_by_key(entries);
  std::vector<std::string> expected = keys;
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(entries.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(std::string(entries[i].first), expected[i]) << "position " << i;
    EXPECT_EQ(keys[entries[i].second], std::string(entries[i].first)) << "value left its key";
  }

  std::vector<std::pair<int, int>> ints = {{3, 0}, {-5, 1}, {0, 2}, {-1, 3}};
  mr::detail::sort_by_key(ints);
  EXPECT_EQ(ints, (std::vector<std::pair<int, int>>{{-5, 1}, {-1, 3}, {0, 2}, {3, 0}}));
}

}  // namespace
