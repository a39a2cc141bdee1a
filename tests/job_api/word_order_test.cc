// WordSorter (mr/job_api/word_order.h) against std::sort with the same
// order, on random vocabularies and on the inputs a radix sort gets wrong
// first: equal counts, long common prefixes, words of 8, 9, 16 and 17 bytes,
// bytes 0x00 and 0xff, words that are prefixes of others, counts past the
// small-count table, and every `keep` around the group boundaries.
#include "mr/job_api/word_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using mr::WordOrder;

struct WordCount {
  std::string_view word;
  std::uint64_t count;
};

// The order by definition: count descending (kCount), then the bytes.
std::vector<WordCount> reference(std::vector<WordCount> words, WordOrder order, std::size_t keep) {
  std::sort(words.begin(), words.end(), [&](const WordCount& a, const WordCount& b) {
    if (order == WordOrder::kCount && a.count != b.count) return a.count > b.count;
    return a.word < b.word;
  });
  if (keep && keep < words.size()) words.resize(keep);
  return words;
}

// The sorter's result as WordCounts. The sorter is reused, and sorts
// something else first: what its buffers held must not matter.
std::vector<WordCount> sorted(const std::vector<WordCount>& words, WordOrder order,
                              std::size_t keep) {
  static mr::WordSorter reused;
  reused.clear();
  for (std::size_t i = 0; i < words.size() + 300; ++i) reused.add("zz-left-over", i % 7);
  reused.sort(WordOrder::kCount);
  reused.clear();
  for (const auto& w : words) reused.add(w.word, w.count);
  std::vector<WordCount> out;
  for (const auto& e : reused.sort(order, keep)) out.push_back({e.word(), e.count});
  return out;
}

std::string show(const std::vector<WordCount>& v) {
  std::string s;
  for (const auto& w : v) s += std::string(w.word) + "=" + std::to_string(w.count) + " ";
  return s;
}

// sort_word_counts and the reference agree, for both orders and the keeps
// given (0: all).
void expect_sorted_like_std(const std::vector<WordCount>& words,
                            const std::vector<std::size_t>& keeps) {
  for (WordOrder order : {WordOrder::kCount, WordOrder::kWord}) {
    for (std::size_t keep : keeps) {
      SCOPED_TRACE("order " + std::string(order == WordOrder::kCount ? "count" : "word") +
                   ", keep " + std::to_string(keep) + ", " + std::to_string(words.size()) +
                   " words");
      const std::vector<WordCount> got = sorted(words, order, keep);
      const std::vector<WordCount> want = reference(words, order, keep);
      ASSERT_EQ(got.size(), want.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].word, want[i].word) << "at " << i;
        ASSERT_EQ(got[i].count, want[i].count) << "at " << i;
      }
    }
  }
}

// Distinct random words over `alphabet`, lengths in [min_len, max_len],
// each after `prefix`.
std::vector<std::string> random_words(std::mt19937_64& rng, std::size_t n,
                                      const std::string& alphabet, std::size_t min_len,
                                      std::size_t max_len, const std::string& prefix = "") {
  std::set<std::string> seen;
  std::vector<std::string> out;
  while (out.size() < n) {
    std::string w = prefix;
    const std::size_t len = min_len + rng() % (max_len - min_len + 1);
    for (std::size_t i = 0; i < len; ++i) w += alphabet[rng() % alphabet.size()];
    if (seen.insert(w).second) out.push_back(w);
  }
  return out;
}

std::vector<WordCount> with_counts(const std::vector<std::string>& words,
                                   const std::vector<std::uint64_t>& counts) {
  std::vector<WordCount> out;
  for (std::size_t i = 0; i < words.size(); ++i) out.push_back({words[i], counts[i]});
  return out;
}

// Zipf-like: most counts 1 or 2, a few large ones past 2^16 and 2^32.
std::vector<std::uint64_t> zipf_counts(std::mt19937_64& rng, std::size_t n) {
  std::vector<std::uint64_t> c(n);
  for (auto& x : c) {
    const unsigned r = static_cast<unsigned>(rng() % 1000);
    x = r < 600   ? 1
        : r < 850 ? 2
        : r < 990 ? 3 + rng() % 500
        : r < 997 ? 65'000 + rng() % 1'000  // both sides of the small-count table's end
                  : (std::uint64_t{1} << 33) + rng() % 3;
  }
  return c;
}

TEST(WordOrderTest, RandomVocabulariesSortLikeStdSort) {
  std::mt19937_64 rng(20261207);
  const std::string letters = "abcdefghijklmnopqrstuvwxyz";
  for (std::size_t n : {0, 1, 2, 255, 256, 257, 5000, 60000}) {
    auto words = random_words(rng, n, letters, 1, 20);
    expect_sorted_like_std(with_counts(words, zipf_counts(rng, n)), {0, 1, 7, n / 2, n + 3});
  }
}

TEST(WordOrderTest, EqualCountsAndCommonPrefixesLongerThanEightAndSixteenBytes) {
  std::mt19937_64 rng(7);
  std::vector<std::string> words;
  // Words sharing 8 and 16 bytes, then differing at byte 8, 9, 16 or 17.
  for (const std::string prefix : {"abcdefgh", "abcdefghijklmnop", "zzzzzzzzzzzzzzzzz"}) {
    auto more = random_words(rng, 3000, "ab", 0, 12, prefix);
    words.insert(words.end(), more.begin(), more.end());
  }
  // Prefixes of one another, bytes 0x00 and 0xff (unsigned order), the empty word.
  for (const std::string& w :
       std::vector<std::string>{"", "a", std::string("a\0", 2), std::string("a\0\0", 3), "ab",
                                "\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff",
                                std::string(8, '\0'), std::string(9, '\0'), "\x7f", "\x80"})
    words.push_back(w);
  std::set<std::string> unique(words.begin(), words.end());
  words.assign(unique.begin(), unique.end());
  std::shuffle(words.begin(), words.end(), rng);
  const std::size_t n = words.size();
  // All counts equal: the word order alone decides.
  expect_sorted_like_std(with_counts(words, std::vector<std::uint64_t>(n, 5)), {0, 1, 100, n - 1});
  // Few distinct counts, so each group is large and mixes the prefixes.
  std::vector<std::uint64_t> few(n);
  for (auto& c : few) c = 1 + rng() % 3;
  expect_sorted_like_std(with_counts(words, few), {0, 1, 2, n / 3, n / 3 + 1, n - 1, n});
  expect_sorted_like_std(with_counts(words, zipf_counts(rng, n)), {0, 10, 1000});
}

TEST(WordOrderTest, KeepAtEveryGroupBoundaryOfASmallInput) {
  // Counts 9, 7 7, 5 5 5, 0 0: every keep from 1 to past the end.
  std::vector<WordCount> words = {{"e", 5}, {"b", 7}, {"zero", 0}, {"a", 9},
                                  {"d", 5}, {"c", 7}, {"f", 5},    {"", 0}};
  std::vector<std::size_t> keeps;
  for (std::size_t k = 0; k <= words.size() + 1; ++k) keeps.push_back(k);
  expect_sorted_like_std(words, keeps);
  EXPECT_EQ(show(sorted(words, WordOrder::kCount, 3)), "a=9 b=7 c=7 ");
  mr::WordSorter empty;
  EXPECT_TRUE(empty.sort(WordOrder::kCount, 5).empty());
}

TEST(WordOrderTest, WordPrefixOrdersLikeTheBytes) {
  EXPECT_LT(mr::word_prefix("ab"), mr::word_prefix("ab\x01"));
  EXPECT_LT(mr::word_prefix("a\x7f"), mr::word_prefix("a\x80"));  // unsigned bytes
  EXPECT_EQ(mr::word_prefix("abcdefgh"), mr::word_prefix("abcdefghzzz"));
  EXPECT_EQ(mr::word_prefix(""), 0u);
  EXPECT_EQ(mr::word_prefix("\x01"), std::uint64_t{1} << 56);
}

}  // namespace
