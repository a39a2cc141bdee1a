// Tests of the unicode and whitespace tokenizers and of safe_split_point.
#include "mr/job_api/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using Words = std::vector<std::string>;

Words words(std::string_view text, mr::TokenizerOptions options = {}) {
  return mr::tokenize_to_vector(text, options);
}

mr::TokenizerOptions keep_case(mr::TokenizerKind kind = mr::TokenizerKind::unicode) {
  mr::TokenizerOptions o;
  o.kind = kind;
  o.keep_case = true;
  return o;
}

mr::TokenizerOptions whitespace(bool keep = false) {
  mr::TokenizerOptions o;
  o.kind = mr::TokenizerKind::whitespace;
  o.keep_case = keep;
  return o;
}

TEST(TokenizerTest, EnglishWithPunctuation) {
  EXPECT_EQ(words("Hello, World! The quick-brown fox (aged 42) jumped... over_the lazy dog?"),
            (Words{"hello", "world", "the", "quick", "brown", "fox", "aged", "42", "jumped", "over", "the",
                   "lazy", "dog"}));
  EXPECT_EQ(words(""), Words{});
  EXPECT_EQ(words(" \t\n.,;"), Words{});
  EXPECT_EQ(words("a"), Words{"a"});
  EXPECT_EQ(words("MiXeD123abc"), Words{"mixed123abc"});
}

TEST(TokenizerTest, LongWordsAndRunsAcrossScanWindows) {
  // Words and separator runs longer than the 64-byte scan window, capitals
  // far into a word, and words ending exactly at window edges.
  std::string upper_late(150, 'a');
  upper_late[130] = 'Q';
  std::string expected_late(150, 'a');
  expected_late[130] = 'q';
  const std::string gap(100, ' ');
  const std::string text = upper_late + gap + std::string(63, 'b') + "," + std::string(64, 'c') + gap + "XÉZ";
  EXPECT_EQ(words(text), (Words{expected_late, std::string(63, 'b'), std::string(64, 'c'), "xéz"}));
  EXPECT_EQ(words(text, whitespace()),
            (Words{expected_late, std::string(63, 'b') + "," + std::string(64, 'c'), "xéz"}));
  for (std::size_t len = 1; len < 140; ++len) {
    const std::string w(len, 'K');
    ASSERT_EQ(words(gap.substr(0, len % 70) + w + "'" + w + gap), Words{std::string(2 * len + 1, 'k').replace(len, 1, "'")})
        << len;
    ASSERT_EQ(words(gap.substr(0, len % 70) + w + "	" + w, whitespace()),
              (Words{std::string(len, 'k'), std::string(len, 'k')}))
        << len;
  }
}

// The batched ASCII path reads 64-byte blocks and keys of 16 bytes: on a
// text that ends exactly where its allocation ends, every length and every
// kind of last word still gives the right words (and, under the asan preset,
// no read past the end).
TEST(TokenizerTest, TextsEndingWhereTheirMemoryEndsAreReadInBounds) {
  const std::string pattern = "Ab'c dEf 0123 x'' yéz ";
  for (std::size_t size = 0; size <= 200; ++size) {
    std::string text;
    while (text.size() < size) text += pattern;
    text.resize(size);
    const auto exact = std::make_unique<char[]>(size);
    std::memcpy(exact.get(), text.data(), size);
    // Against the code-point-by-code-point tokenizer the batched path
    // hands non-ASCII text to.
    Words general;
    auto collect = [&](std::string_view w) { general.emplace_back(w); };
    mr::detail::tokenize_unicode_general<false>(text, collect);
    ASSERT_EQ(mr::tokenize_to_vector(std::string_view(exact.get(), size)), general) << size;
  }
}

TEST(TokenizerTest, AsciiApostropheJoinsWordCharacters) {
  EXPECT_EQ(words("don't DON'T rock'n'roll"), (Words{"don't", "don't", "rock'n'roll"}));
}

TEST(TokenizerTest, RightSingleQuotationMarkIsWrittenAsApostrophe) {
  EXPECT_EQ(words("don\u2019t Don\u2019T"), (Words{"don't", "don't"}));
  EXPECT_EQ(words("l\u2019\u00e9t\u00e9"), Words{"l'\u00e9t\u00e9"});  // non-ASCII after the apostrophe
  EXPECT_EQ(words("\u00e9'a"), Words{"\u00e9'a"});                     // non-ASCII before it
}

TEST(TokenizerTest, ApostropheNotJoinedAtWordEdges) {
  EXPECT_EQ(words("'tis dogs' ''quoted'' a''b it'"), (Words{"tis", "dogs", "quoted", "a", "b", "it"}));
  EXPECT_EQ(words("\u2019tis dogs\u2019 a\u2019\u2019b"), (Words{"tis", "dogs", "a", "b"}));
  EXPECT_EQ(words("'"), Words{});
  EXPECT_EQ(words("a'"), Words{"a"});
}

TEST(TokenizerTest, ApostropheNotJoinedNextToCjkOrInvalidBytes) {
  EXPECT_EQ(words("a'\u4e2d"), (Words{"a", "\u4e2d"}));
  EXPECT_EQ(words("\u4e2d'a"), (Words{"\u4e2d", "a"}));
  EXPECT_EQ(words("a'\xff" "b"), (Words{"a", "b"}));
  EXPECT_EQ(words("a\u2019\xe4\xb8" "b"), (Words{"a", "b"}));
}

TEST(TokenizerTest, CyrillicLowercased) {
  EXPECT_EQ(words("ПРИВЕТ Мир"), (Words{"привет", "мир"}));
  EXPECT_EQ(words("Ёлка, ЁЛКА!"), (Words{"ёлка", "ёлка"}));
}

TEST(TokenizerTest, GreekLowercasedWithSimpleMapping) {
  // Simple mapping: capital sigma is always σ, never the final ς.
  EXPECT_EQ(words("ΟΔΥΣΣΕΥΣ Αθήνα"), (Words{"οδυσσευσ", "αθήνα"}));
  EXPECT_EQ(words("λόγος"), Words{"λόγος"});  // final sigma kept as written
}

TEST(TokenizerTest, AccentedLatinLowercased) {
  EXPECT_EQ(words("ÉCOLE Ça Straße ÀÖØ"), (Words{"école", "ça", "straße", "àöø"}));
  // U+0130 (2 bytes) lowercases to 'i' (1 byte); U+023A (2) to U+2C65 (3).
  EXPECT_EQ(words("\u0130stanbul \u023a"), (Words{"istanbul", "\u2c65"}));
}

TEST(TokenizerTest, ChineseIdeographsAreWordsByThemselves) {
  EXPECT_EQ(words("中文字"), (Words{"中", "文", "字"}));
  EXPECT_EQ(words("abc中文def"), (Words{"abc", "中", "文", "def"}));
  EXPECT_EQ(words("ABC中"), (Words{"abc", "中"}));
  EXPECT_EQ(words("\u00e9\u4e2d\u00e9"), (Words{"\u00e9", "\u4e2d", "\u00e9"}));
  // Compatibility ideograph block and extension A.
  EXPECT_EQ(words("\uf900\u3400"), (Words{"\uf900", "\u3400"}));
}

TEST(TokenizerTest, CjkExtensionBAndUnassignedCjkCodePoints) {
  EXPECT_EQ(words("x\U00020000y"), (Words{"x", "\U00020000", "y"}));
  // U+3FFFF is a noncharacter and U+3FFFD unassigned: still words by themselves.
  EXPECT_EQ(words("\U0003FFFF\U0003FFFD"), (Words{"\U0003FFFF", "\U0003FFFD"}));
  // Just outside the ranges: U+4DC0 (hexagram symbol) is a separator.
  EXPECT_EQ(words("a\u4dc0b"), (Words{"a", "b"}));
}

TEST(TokenizerTest, CombiningMarksStayInTheWord) {
  EXPECT_EQ(words("Cafe\u0301 nai\u0308ve"), (Words{"cafe\u0301", "nai\u0308ve"}));
  // No normalization: precomposed and decomposed forms are different words.
  EXPECT_NE(words("caf\u00e9"), words("cafe\u0301"));
  // A mark alone is a word character, too.
  EXPECT_EQ(words(" \u0301 "), Words{"\u0301"});
}

TEST(TokenizerTest, DecimalDigitsOfOtherScriptsAreWordCharacters) {
  EXPECT_EQ(words("\u0661\u0662\u0663 x\u0967y"), (Words{"\u0661\u0662\u0663", "x\u0967y"}));
  // Superscript two (No) and Roman numeral (Nl) are not Nd: separators.
  EXPECT_EQ(words("a\u00b2b c\u2160d"), (Words{"a", "b", "c", "d"}));
}

TEST(TokenizerTest, NonLetterSeparators) {
  EXPECT_EQ(words("a\u00a0b\u2014c\u3000d\u3002e\U0001F600f"), (Words{"a", "b", "c", "d", "e", "f"}));
}

TEST(TokenizerTest, InvalidSequencesNeverSwallowTheNextCharacter) {
  // Lone continuation byte.
  EXPECT_EQ(words("ab\x80" "cd"), (Words{"ab", "cd"}));
  // Truncated 3-byte sequence followed by a valid 'a'.
  EXPECT_EQ(words("\xe4\xb8" "a"), Words{"a"});
  EXPECT_EQ(words("x\xe4\xb8" "\u00e9"), (Words{"x", "\u00e9"}));
  // Truncated 4-byte sequence before a valid CJK character.
  EXPECT_EQ(words("\xf0\xa0\x80\u4e2d"), Words{"\u4e2d"});
  // Overlong encodings of 'A' and '/'.
  EXPECT_EQ(words("a\xc1\x81" "b"), (Words{"a", "b"}));
  EXPECT_EQ(words("a\xe0\x80\xaf" "b"), (Words{"a", "b"}));
  EXPECT_EQ(words("a\xf0\x80\x80\xaf" "b"), (Words{"a", "b"}));
  // Surrogate U+D800 encoded (CESU style).
  EXPECT_EQ(words("a\xed\xa0\x80" "b"), (Words{"a", "b"}));
  // Above U+10FFFF and bytes that never occur.
  EXPECT_EQ(words("a\xf4\x90\x80\x80" "b\xf5\xfe\xff" "c"), (Words{"a", "b", "c"}));
  // Truncated at the very end.
  EXPECT_EQ(words("abc\xe4"), Words{"abc"});
  EXPECT_EQ(words("\xd0"), Words{});
  // A lead byte followed by a lead byte: the second sequence is valid.
  EXPECT_EQ(words("\xe4\xd0\x9f"), Words{"\u043f"});
}

TEST(TokenizerTest, NulCrAndEscapeSequencesSeparate) {
  EXPECT_EQ(words(std::string("ab\0cd", 5)), (Words{"ab", "cd"}));
  EXPECT_EQ(words("line\r\nnext\x1b[31mred\x1b[0m"), (Words{"line", "next", "31mred", "0m"}));
}

TEST(TokenizerTest, KeepCase) {
  EXPECT_EQ(words("Don’t ПРИВЕТ Éa", keep_case()), (Words{"Don't", "ПРИВЕТ", "Éa"}));
  EXPECT_EQ(words("ABC中DEF", keep_case()), (Words{"ABC", "中", "DEF"}));
}

TEST(TokenizerTest, WhitespaceTokenizerSplitsOnAsciiWhitespaceOnly) {
  EXPECT_EQ(words("Hello, world!\tdon't\n\v\f\r(x)  ", whitespace()),
            (Words{"hello,", "world!", "don't", "(x)"}));
  // Non-ASCII whitespace and NUL are kept inside tokens; invalid bytes kept as they are.
  static const char kRaw[] = "a\u00a0b c\0d \xff\xc3X";
  EXPECT_EQ(words(std::string(kRaw, sizeof kRaw - 1), whitespace()),
            (Words{"a\u00a0b", std::string("c\0d", 3), "\xff\xc3x"}));
  EXPECT_EQ(words("ПРИВЕТ,Мир", whitespace()), Words{"привет,мир"});
  EXPECT_EQ(words("ПРИВЕТ,Мир don’t", whitespace(true)), (Words{"ПРИВЕТ,Мир", "don’t"}));
  EXPECT_EQ(words("abc中文def", whitespace()), Words{"abc中文def"});
}

TEST(TokenizerTest, ParsesKindNames) {
  EXPECT_EQ(mr::parse_tokenizer_kind("unicode"), mr::TokenizerKind::unicode);
  EXPECT_EQ(mr::parse_tokenizer_kind("whitespace"), mr::TokenizerKind::whitespace);
  EXPECT_EQ(mr::to_string(mr::TokenizerKind::whitespace), "whitespace");
  EXPECT_THROW(mr::parse_tokenizer_kind("ascii"), std::invalid_argument);
}

TEST(TokenizerTest, UnicodeTablesAreCompact) {
  const auto& t = mr::detail::unicode_tables();
  EXPECT_LT(t.unique_blocks, 1200u);
  EXPECT_EQ(t.char_class(U'a'), mr::CharClass::word);
  EXPECT_EQ(t.char_class(0x2019), mr::CharClass::apostrophe);
  EXPECT_EQ(t.char_class(0x9FFF), mr::CharClass::cjk);
  EXPECT_EQ(t.to_lower(0x212A), U'k');  // Kelvin sign
  EXPECT_EQ(t.to_lower(U'k'), U'k');
}

TEST(TokenizerTest, SafeSplitPointEdges) {
  EXPECT_EQ(mr::safe_split_point("abc def", 0), 0u);
  EXPECT_EQ(mr::safe_split_point("abc def", 1), 3u);
  EXPECT_EQ(mr::safe_split_point("abc def", 3), 3u);
  EXPECT_EQ(mr::safe_split_point("abc def", 5), 7u);
  EXPECT_EQ(mr::safe_split_point("abc def", 99), 7u);
  EXPECT_EQ(mr::safe_split_point("don't x", 2), 5u);   // not at the apostrophe
  EXPECT_EQ(mr::safe_split_point("中文 x", 1), 6u);    // never inside a UTF-8 sequence
  EXPECT_EQ(mr::safe_split_point("a,b c", 1), 1u);
  EXPECT_EQ(mr::safe_split_point("a,b c", 1, whitespace()), 3u);
}

// Random text from pieces that exercise every rule, including invalid bytes
// and the apostrophes, so that random cuts land everywhere.
std::string random_text(std::mt19937_64& rng, std::size_t pieces) {
  static const std::vector<std::string> kPieces = {
      "the", "Quick", "DON'T", "don\u2019t", "'", "\u2019", " ", "  ", "\n", ",", ".", "-", "\r\n",
      "ПРИВЕТ", "мир", "ΟΔΥΣΣΕΥΣ", "École", "e\u0301", "中", "文", "\U00020000", "\u0661\u0662",
      "\x80", "\xe4\xb8", "\xc1\x81", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", std::string(1, '\0'),
      "rock'n'roll", "x", "42", "\u00a0", "\u3000", "\u0130", "\t"};
  std::uniform_int_distribution<std::size_t> pick(0, kPieces.size() - 1);
  std::string s;
  for (std::size_t i = 0; i < pieces; ++i) s += kPieces[pick(rng)];
  return s;
}

void expect_chunks_match(const std::string& text, std::mt19937_64& rng, mr::TokenizerOptions options) {
  const Words whole = words(text, options);
  std::uniform_int_distribution<int> ncuts(1, 8);
  std::uniform_int_distribution<std::size_t> at(0, text.size());
  std::vector<std::size_t> cuts;
  for (int i = ncuts(rng); i > 0; --i) cuts.push_back(at(rng));
  std::sort(cuts.begin(), cuts.end());
  Words joined;
  std::size_t begin = 0;
  for (std::size_t near : cuts) {
    const std::size_t cut = mr::safe_split_point(text, std::max(near, begin), options);
    ASSERT_GE(cut, std::max(near, begin));
    for (auto& w : words(std::string_view(text).substr(begin, cut - begin), options)) joined.push_back(w);
    begin = cut;
  }
  for (auto& w : words(std::string_view(text).substr(begin), options)) joined.push_back(w);
  ASSERT_EQ(joined, whole) << "text of " << text.size() << " bytes";
}

TEST(TokenizerTest, ChunksCutAtSafeSplitPointsGiveTheWholeTextsWords) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    const std::string text = random_text(rng, 1 + round % 150);
    expect_chunks_match(text, rng, {});
    expect_chunks_match(text, rng, keep_case());
    expect_chunks_match(text, rng, whitespace());
  }
}

TEST(TokenizerTest, UnsafeCutsWouldChangeTheWords) {
  // The property test above is only meaningful if naive cuts do break words.
  const std::string text = "don't ПРИВЕТ";
  Words naive = words(text.substr(0, 3));
  for (auto& w : words(text.substr(3))) naive.push_back(w);
  EXPECT_NE(naive, words(text));
  // A cut inside a UTF-8 sequence loses the character in both halves.
  const std::string cyr = "ПРИВЕТ";
  Words split = words(cyr.substr(0, 3));
  for (auto& w : words(cyr.substr(3))) split.push_back(w);
  EXPECT_EQ(split, (Words{"п", "ивет"}));
}

TEST(TokenizerTest, RandomBytesNeverCrashAndYieldValidLowercaseWords) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 300; ++round) {
    std::string text(1 + round * 7, '\0');
    for (auto& c : text) c = static_cast<char>(byte(rng));
    mr::tokenize(text, {}, [&](std::string_view w) {
      ASSERT_FALSE(w.empty());
      // Every emitted word is valid UTF-8 and has no ASCII capital.
      const auto* p = reinterpret_cast<const unsigned char*>(w.data());
      const auto* end = p + w.size();
      while (p < end) {
        char32_t cp;
        const unsigned n = mr::detail::decode_utf8(p, end, cp);
        ASSERT_NE(n, 0u);
        ASSERT_FALSE(cp >= 'A' && cp <= 'Z');
        p += n;
      }
    });
  }
}

// Normal forms: the words as tokenize_to_vector gives them, expected values
// from the Unicode data (UAX #15).
TEST(TokenizerTest, NormalizationJoinsEquivalentSpellings) {
  const std::string text = "Cafe\u0301 caf\u00e9 \ufb01 \uff21 \ufdfb ok";
  mr::TokenizerOptions none, nfc, nfkc;
  nfc.normalize = mr::Normalization::nfc;
  nfkc.normalize = mr::Normalization::nfkc;
  EXPECT_EQ(mr::tokenize_to_vector(text, none),
            (std::vector<std::string>{"cafe\u0301", "caf\u00e9", "\ufb01", "\uff41", "\ufdfb", "ok"}));
  EXPECT_EQ(mr::tokenize_to_vector(text, nfc),
            (std::vector<std::string>{"caf\u00e9", "caf\u00e9", "\ufb01", "\uff41", "\ufdfb", "ok"}));
  EXPECT_EQ(mr::tokenize_to_vector(text, nfkc),
            (std::vector<std::string>{"caf\u00e9", "caf\u00e9", "fi", "a", "\u062c\u0644",
                                      "\u062c\u0644\u0627\u0644\u0647", "ok"}));
  EXPECT_EQ(mr::parse_normalization("nfkc"), mr::Normalization::nfkc);
  EXPECT_THROW(mr::parse_normalization("NFC"), std::invalid_argument);
}

}  // namespace
