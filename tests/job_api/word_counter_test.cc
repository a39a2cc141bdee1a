// Tests of WordCounter (against std::unordered_map), its partitioned
// serialization, and the fused count_words path.
#include "mr/job_api/word_counter.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using Reference = std::unordered_map<std::string, std::uint64_t>;

// Random words of lengths 1..40 over an alphabet that includes NUL and
// bytes >= 0x80, drawn with heavy repetition, plus every length boundary of
// the inline key (8, 9, 15, 16, 17 bytes) sharing prefixes.
std::vector<std::string> random_words(std::mt19937_64& rng, std::size_t n) {
  std::uniform_int_distribution<int> len(1, 40);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> letter('a', 'e');
  std::vector<std::string> vocab;
  for (int i = 0; i < 3000; ++i) {
    std::string w(static_cast<std::size_t>(len(rng)), '\0');
    const bool binary = i % 7 == 0;
    for (auto& c : w) c = static_cast<char>(binary ? byte(rng) : letter(rng));
    vocab.push_back(w);
  }
  const std::string base = "abcdefghijklmnopqrstuvwxyz";
  for (std::size_t l : {1, 7, 8, 9, 15, 16, 17, 18, 24, 31, 32, 33}) {
    vocab.push_back(base.substr(0, l));
    vocab.push_back(base.substr(0, l - 1) + '\0');
    vocab.push_back(base.substr(0, l - 1) + 'Z');
  }
  vocab.push_back(std::string(16, '\0'));
  vocab.push_back(std::string(15, '\0'));
  vocab.push_back(std::string(17, '\0'));
  std::geometric_distribution<std::size_t> zipfish(0.002);
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(vocab[zipfish(rng) % vocab.size()]);
  return out;
}

Reference to_map(const mr::WordCounter& counter) {
  Reference m;
  for (auto [word, count] : counter) {
    EXPECT_TRUE(m.emplace(std::string(word), count).second) << "duplicate word in iteration";
  }
  return m;
}

TEST(WordCounterTest, MatchesUnorderedMapOnRandomWords) {
  std::mt19937_64 rng(1);
  mr::WordCounter counter;
  Reference ref;
  std::uniform_int_distribution<std::uint64_t> amount(1, 5);
  for (const auto& w : random_words(rng, 200'000)) {
    const auto n = amount(rng);
    counter.add(w, n);
    ref[w] += n;
  }
  EXPECT_EQ(counter.size(), ref.size());
  EXPECT_EQ(to_map(counter), ref);
  for (const auto& [w, n] : ref) ASSERT_EQ(counter.count(w), n) << w.size();
  EXPECT_EQ(counter.count("definitely absent word"), 0u);
  EXPECT_EQ(counter.count("zz"), 0u);
}

TEST(WordCounterTest, InlineKeyBoundariesAreDistinct) {
  mr::WordCounter counter;
  const std::vector<std::string> words = {
      "",  std::string(1, '\0'), "a", std::string("a\0", 2), "abcdefgh", "abcdefghi",
      "abcdefghijklmnop", "abcdefghijklmnoq", "abcdefghijklmnopq", "abcdefghijklmnopr",
      std::string("abcdefghijklmno\0", 16), "abcdefghijklmno"};
  for (std::size_t i = 0; i < words.size(); ++i) counter.add(words[i], i + 1);
  ASSERT_EQ(counter.size(), words.size());
  for (std::size_t i = 0; i < words.size(); ++i) EXPECT_EQ(counter.count(words[i]), i + 1) << i;
}

TEST(WordCounterTest, AddingZeroDoesNothing) {
  mr::WordCounter counter;
  counter.add("x", 0);
  counter.add(std::string(30, 'y'), 0);
  EXPECT_TRUE(counter.empty());
  EXPECT_EQ(counter.begin(), counter.end());
}

TEST(WordCounterTest, GrowsFromATinySizeHint) {
  mr::WordCounter counter(1);
  const std::size_t initial = counter.capacity();
  Reference ref;
  for (int i = 0; i < 100'000; ++i) {
    const std::string w = (i % 3 == 0 ? "a-rather-long-prefix-for-the-arena-" : "w") + std::to_string(i);
    counter.add(w, 2);
    ref[w] += 2;
  }
  for (int i = 0; i < 100'000; i += 10) {
    const std::string w = (i % 3 == 0 ? "a-rather-long-prefix-for-the-arena-" : "w") + std::to_string(i);
    counter.add(w);
    ref[w] += 1;
  }
  EXPECT_GT(counter.capacity(), initial);
  EXPECT_GE(counter.capacity() * 3, counter.size() * 4);  // load factor <= 3/4
  EXPECT_EQ(to_map(counter), ref);
}

TEST(WordCounterTest, SizeHintAvoidsGrowth) {
  mr::WordCounter counter(10'000);
  const std::size_t cap = counter.capacity();
  for (int i = 0; i < 10'000; ++i) counter.add(std::string("k").append(std::to_string(i)));
  EXPECT_EQ(counter.capacity(), cap);
  counter.reserve(100'000);
  EXPECT_GT(counter.capacity(), cap);
  EXPECT_EQ(counter.size(), 10'000u);
  EXPECT_EQ(counter.count("k9999"), 1u);
}

TEST(WordCounterTest, ResetGivesMemoryBack) {
  mr::WordCounter counter(16);
  for (int i = 0; i < 200'000; ++i) counter.add(std::to_string(i) + "-a-long-word-for-the-arena");
  const std::size_t grown = counter.memory_bytes();
  counter.clear();
  EXPECT_TRUE(counter.empty());
  EXPECT_EQ(counter.memory_bytes() > grown / 2, true);  // clear keeps the slots
  counter.reset();
  EXPECT_TRUE(counter.empty());
  EXPECT_LT(counter.memory_bytes(), grown / 100);
  counter.add("again", 2);
  EXPECT_EQ(to_map(counter), (Reference{{"again", 2}}));
}

TEST(WordCounterTest, MergeAddsCounts) {
  std::mt19937_64 rng(2);
  mr::WordCounter a;
  mr::WordCounter b(4);
  Reference ref;
  for (const auto& w : random_words(rng, 50'000)) {
    a.add(w);
    ref[w] += 1;
  }
  for (const auto& w : random_words(rng, 50'000)) {
    b.add(w, 3);
    ref[w] += 3;
  }
  a.merge(b);
  EXPECT_EQ(to_map(a), ref);
  a.merge(a);  // self-merge doubles
  for (auto& [w, n] : ref) n *= 2;
  EXPECT_EQ(to_map(a), ref);
}

TEST(WordCounterTest, CopyMoveAndClear) {
  mr::WordCounter a;
  a.add("short");
  a.add("a-word-longer-than-sixteen-bytes", 4);
  mr::WordCounter copy(a);
  a.add("short");
  EXPECT_EQ(copy.count("short"), 1u);
  EXPECT_EQ(copy.count("a-word-longer-than-sixteen-bytes"), 4u);
  mr::WordCounter moved(std::move(a));
  EXPECT_EQ(moved.count("short"), 2u);
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(a.begin(), a.end());
  moved.merge(a);
  a = copy;
  EXPECT_EQ(a.count("a-word-longer-than-sixteen-bytes"), 4u);
  moved.clear();
  EXPECT_TRUE(moved.empty());
  EXPECT_EQ(moved.count("short"), 0u);
  moved.add("a-word-longer-than-sixteen-bytes");
  EXPECT_EQ(to_map(moved), (Reference{{"a-word-longer-than-sixteen-bytes", 1}}));
}

TEST(WordCounterTest, HashIsStableAndPartitionsEvenly) {
  EXPECT_EQ(mr::WordCounter::hash("hello"), mr::WordCounter::hash(std::string("hello")));
  EXPECT_NE(mr::WordCounter::hash("a"), mr::WordCounter::hash(std::string("a\0", 2)));
  EXPECT_NE(mr::WordCounter::hash(std::string(17, 'x')), mr::WordCounter::hash(std::string(18, 'x')));
  constexpr unsigned kParts = 16;
  std::vector<int> hist(kParts);
  for (int i = 0; i < 160'000; ++i) {
    const std::string w = (i % 2 ? "w" : "a-long-word-over-sixteen-") + std::to_string(i);
    const unsigned p = mr::WordCounter::partition_of(mr::WordCounter::hash(w), kParts);
    ASSERT_LT(p, kParts);
    ++hist[p];
  }
  for (int n : hist) EXPECT_NEAR(n, 10'000, 600);
  EXPECT_EQ(mr::WordCounter::partition_of(~std::uint64_t{0}, 7), 6u);
  EXPECT_EQ(mr::WordCounter::partition_of(0, 7), 0u);
}

TEST(WordCounterTest, PartitionSerializationRoundTrip) {
  std::mt19937_64 rng(3);
  mr::WordCounter counter;
  for (const auto& w : random_words(rng, 100'000)) counter.add(w);
  const Reference ref = to_map(counter);
  for (unsigned parts : {1u, 3u, 7u, 16u}) {
    const auto buffers = counter.serialize_partitions(parts);
    ASSERT_EQ(buffers.size(), parts);
    const auto sizes = counter.serialized_sizes(parts);
    std::map<std::string, unsigned> seen_in;
    mr::WordCounter merged(1);
    std::uint64_t total = 0;
    for (unsigned p = 0; p < parts; ++p) {
      ASSERT_EQ(buffers[p].size(), sizes[p]);
      const mr::SerializedWords view(buffers[p]);
      std::uint64_t sum = 0;
      view.for_each([&](std::string_view w, std::uint64_t n) {
        EXPECT_TRUE(seen_in.emplace(std::string(w), p).second) << "word in two partitions";
        EXPECT_EQ(mr::WordCounter::partition_of(mr::WordCounter::hash(w), parts), p);
        EXPECT_EQ(ref.at(std::string(w)), n);
        sum += n;
      });
      EXPECT_EQ(view.total_count(), sum);
      total += sum;
      merged.merge_serialized(buffers[p]);
    }
    EXPECT_EQ(seen_in.size(), ref.size());  // every word in exactly one partition
    EXPECT_EQ(to_map(merged), ref);
    EXPECT_EQ(total, 100'000u);
  }
}

TEST(WordCounterTest, SerializesIntoCallerMemoryAtAnyAlignment) {
  mr::WordCounter counter;
  counter.add("x", 5);
  counter.add("a-word-longer-than-sixteen-bytes", 7);
  const auto sizes = counter.serialized_sizes(2);
  std::vector<std::byte> arena(sizes[0] + sizes[1] + 1);
  std::vector<std::span<std::byte>> out = {std::span(arena).subspan(1, sizes[0]),
                                           std::span(arena).subspan(1 + sizes[0], sizes[1])};
  counter.serialize_partitions(2, out);
  mr::WordCounter back;
  back.merge_serialized(out[0]);
  back.merge_serialized(out[1]);
  EXPECT_EQ(to_map(back), to_map(counter));
  // Wrong sizes or counts of buffers are refused.
  out[1] = out[1].first(out[1].size() - 1);
  EXPECT_THROW(counter.serialize_partitions(2, out), std::invalid_argument);
  EXPECT_THROW(counter.serialize_partitions(3, out), std::invalid_argument);
  EXPECT_THROW(counter.serialized_sizes(0), std::invalid_argument);
}

TEST(WordCounterTest, MalformedBuffersAreRejected) {
  mr::WordCounter counter;
  counter.add("short", 2);
  counter.add("a-word-longer-than-sixteen-bytes", 3);
  auto buf = counter.serialize_partitions(1)[0];
  mr::WordCounter sink;
  EXPECT_THROW(sink.merge_serialized(std::span(buf).first(buf.size() - 1)), std::invalid_argument);
  EXPECT_THROW(sink.merge_serialized(std::span(buf).first(8)), std::invalid_argument);
  auto bad_magic = buf;
  bad_magic[0] ^= std::byte{1};
  EXPECT_THROW(mr::SerializedWords{bad_magic}, std::invalid_argument);
  // Point the long word's offset past the key area.
  auto bad_offset = buf;
  const std::size_t records = sizeof(mr::SerializedWordsHeader);
  for (std::size_t r = 0; r < 2; ++r) {
    std::byte* rec = bad_offset.data() + records + r * 32;
    std::uint32_t len;
    std::memcpy(&len, rec + 24, 4);
    if (len > 16) {
      const std::uint64_t far = 1000;
      std::memcpy(rec + 8, &far, 8);
    }
  }
  EXPECT_THROW(sink.merge_serialized(bad_offset), std::invalid_argument);
}

TEST(WordCounterTest, SwarAsciiLowercaseMatchesPerByte) {
  for (unsigned b = 0; b < 256; ++b) {
    for (unsigned pos = 0; pos < 8; ++pos) {
      const std::uint64_t k = (std::uint64_t{b} << (8 * pos)) | 0x4100000000000000ULL >> (pos == 7 ? 8 : 0);
      std::uint64_t expect = 0;
      for (unsigned i = 0; i < 8; ++i) {
        auto c = static_cast<unsigned char>(k >> (8 * i));
        if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c + 32);
        expect |= std::uint64_t{c} << (8 * i);
      }
      ASSERT_EQ(mr::detail::ascii_lower8(k), expect) << b << " at " << pos;
    }
  }
}

// For both tokenizers, with and without keep_case: tokenize and count_words
// (the batched path) give the words of the general loops, which see the text
// code point by code point (and which the batched path hands non-ASCII text).
void expect_batched_paths_match_general_loops(const std::string& text, const std::string& what) {
  for (auto kind : {mr::TokenizerKind::unicode, mr::TokenizerKind::whitespace}) {
    for (bool keep : {false, true}) {
      mr::TokenizerOptions options;
      options.kind = kind;
      options.keep_case = keep;
      Reference general;
      auto add = [&](std::string_view w) { ++general[std::string(w)]; };
      if (kind == mr::TokenizerKind::unicode) {
        keep ? mr::detail::tokenize_unicode_general<true>(text, add)
             : mr::detail::tokenize_unicode_general<false>(text, add);
      } else {
        keep ? mr::detail::tokenize_whitespace_general<true>(text, add)
             : mr::detail::tokenize_whitespace_general<false>(text, add);
      }
      const std::string label =
          what + (kind == mr::TokenizerKind::unicode ? ", unicode" : ", whitespace") +
          (keep ? ", keep_case" : "");
      Reference tokenized;
      mr::tokenize(text, options, [&](std::string_view w) { ++tokenized[std::string(w)]; });
      EXPECT_EQ(tokenized, general) << label;
      mr::WordCounter counter;
      mr::count_words(text, options, counter);
      EXPECT_EQ(to_map(counter), general) << label;
      EXPECT_FALSE(general.empty()) << label;
    }
  }
}

TEST(WordCounterTest, CountWordsMatchesTokenizeIntoUnorderedMap) {
  std::mt19937_64 rng(4);
  const std::vector<std::string> pieces = {
      "The", "quick", "BROWN", "fox", "don't", "don\u2019t", " ", "\n", ", ", "ПРИВЕТ", "мир", "中文",
      "\xff", "a-very-long-word-indeed-more-than-sixteen", "Supercalifragilistic", "x", "42", "é",
      "MiXeD16ByTesWord", "ZZ", "O'NEILL", "AbCdEfGhIjKlMnOpQ"};
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::string text;
  for (int i = 0; i < 50'000; ++i) text += pieces[pick(rng)];
  expect_batched_paths_match_general_loops(text, "random pieces");
  mr::WordCounter few;
  mr::count_words("a b a", {}, few);  // fewer words than a batch
  EXPECT_EQ(to_map(few), (Reference{{"a", 2}, {"b", 1}}));
}

// count_words and tokenize read all-ASCII stretches in 64-byte blocks and
// 64 KiB windows, handing non-ASCII bytes to the general loops: every word
// length at every block offset, apostrophes, whitespace and non-ASCII bytes
// on block edges, a separator-free run longer than a window, and texts that
// end within 16 bytes of a word's start give the words of the general loops
// (which see the text code point by code point), for both tokenizers.
TEST(WordCounterTest, CountWordsMatchesTheTokenizerAcrossBlockAndWindowEdges) {
  auto check = [](const std::string& text, const std::string& what) {
    expect_batched_paths_match_general_loops(text, what);
    ASSERT_FALSE(::testing::Test::HasFailure()) << what;
  };
  const std::string letters = "AbcDefGhijKlmnOpqRstUvwxYz0123456789abcdefghijklmnopqrstuvwxyz";
  for (std::size_t len = 1; len <= 40; ++len) {
    for (std::size_t offset = 0; offset < 64; ++offset) {
      const std::string word = letters.substr(offset % 20, len);
      // The word at `offset` in a block, then itself again across the next
      // block edge, then at the very end of the text.
      check(std::string(offset, ' ') + word + std::string(64 - (offset + len) % 64, '.') + word +
                " " + word,
            "length " + std::to_string(len) + " at offset " + std::to_string(offset));
    }
  }
  for (std::size_t edge = 52; edge <= 68; ++edge) {
    for (std::string join :
         {"'", "''", "\u2019", "\xc3\xa9", "\xff", "\xe4\xb8\xad", "\t", "\v", "\r\n"}) {
      // `join` right after byte `edge` - 1 of the text, then in other places.
      std::string text(edge - 3, 'x');
      text += " do" + join + "nt " + join + "x" + join + " A" + join + join + "B";
      check(text + std::string(200, 'y') + join, "'" + join + "' after byte " + std::to_string(edge - 1));
    }
  }
  // Longer than a window (64 KiB) without a place to cut, in the middle of
  // ASCII text and next to a non-ASCII letter.
  const std::string run(70'000, 'q');
  check("x " + run + " y", "a 70000-byte word");
  check(std::string(65'530, 'a') + " " + run + "\u00e9" + run + " END", "long words around \u00e9");
  // Pure ASCII: many batches of words in one window, a word open at each
  // batch's end.
  std::string ascii;
  for (int i = 0; ascii.size() < 300'000; ++i) ascii += letters.substr(i % 23, 1 + i % 19) + (i % 5 ? " " : ", ");
  check(ascii, "300 KB of ASCII words");
  std::string mixed;
  for (int i = 0; i < 40'000; ++i) mixed += i % 97 == 0 ? "caf\u00e9 " : i % 13 == 0 ? "O'Neill " : "Word ";
  check(mixed, "mostly ASCII with a non-ASCII word now and then");
}

}  // namespace
