// Tests of the public UTF-8 decoder mr::utf8 (decode, decode_at,
// code_points, is_valid, append): every valid length, every class of invalid
// sequence of RFC 3629, and an exhaustive round trip of all scalar values.
#include "mr/job_api/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using mr::utf8::CodePoint;
using mr::utf8::kReplacement;

// All characters of s via decode(), which advances pos.
std::vector<char32_t> decode_all(std::string_view s) {
  std::vector<char32_t> out;
  for (std::size_t pos = 0; pos < s.size();) {
    std::size_t before = pos;
    out.push_back(mr::utf8::decode(s, pos));
    EXPECT_GT(pos, before);
  }
  return out;
}

TEST(Utf8Test, DecodesOneToFourByteSequences) {
  struct Case {
    std::string bytes;
    char32_t cp;
  };
  const std::vector<Case> cases = {
      {std::string(1, '\0'), 0x0},
      {"A", 0x41},
      {"\x7f", 0x7F},
      {"\xc2\x80", 0x80},
      {"\xc3\xa9", 0xE9},
      {"\xdf\xbf", 0x7FF},
      {"\xe0\xa0\x80", 0x800},
      {"\xe2\x82\xac", 0x20AC},
      {"\xed\x9f\xbf", 0xD7FF},  // last before the surrogates
      {"\xee\x80\x80", 0xE000},  // first after them
      {"\xef\xbf\xbd", 0xFFFD},  // a real U+FFFD is valid
      {"\xef\xbf\xbf", 0xFFFF},
      {"\xf0\x90\x80\x80", 0x10000},
      {"\xf0\x9f\x98\x80", 0x1F600},
      {"\xf4\x8f\xbf\xbf", 0x10FFFF},
  };
  for (const auto& c : cases) {
    std::size_t pos = 0;
    EXPECT_EQ(mr::utf8::decode(c.bytes, pos), c.cp) << std::hex << std::uint32_t{c.cp};
    EXPECT_EQ(pos, c.bytes.size()) << std::hex << std::uint32_t{c.cp};
    CodePoint d = mr::utf8::decode_at(c.bytes, 0);
    EXPECT_TRUE(d.valid);
    EXPECT_EQ(d.length, c.bytes.size());
    EXPECT_TRUE(mr::utf8::is_valid(c.bytes));
  }
}

// Each invalid input decodes byte by byte: U+FFFD (invalid) or the ASCII
// byte, as listed, so decoding resumes right after the first bad byte.
TEST(Utf8Test, InvalidSequencesGiveReplacementAndAdvanceOneByte) {
  struct Case {
    const char* what;
    std::string bytes;
    std::vector<char32_t> want;
  };
  const char32_t R = kReplacement;
  const std::vector<Case> cases = {
      {"stray continuation", "\x80", {R}},
      {"stray continuations", "\xbf\x80", {R, R}},
      {"overlong 2-byte C0", "\xc0\xaf", {R, R}},
      {"overlong 2-byte C1", "\xc1\xbf", {R, R}},
      {"overlong 3-byte", "\xe0\x80\xaf", {R, R, R}},
      {"overlong 3-byte max", "\xe0\x9f\xbf", {R, R, R}},
      {"overlong 4-byte", "\xf0\x80\x80\xaf", {R, R, R, R}},
      {"overlong 4-byte max", "\xf0\x8f\xbf\xbf", {R, R, R, R}},
      {"high surrogate", "\xed\xa0\x80", {R, R, R}},
      {"low surrogate", "\xed\xbf\xbf", {R, R, R}},
      {"above U+10FFFF", "\xf4\x90\x80\x80", {R, R, R, R}},
      {"F5 lead", "\xf5\x80\x80\x80", {R, R, R, R}},
      {"FF byte", "\xff", {R}},
      {"truncated 2-byte at end", "\xc3", {R}},
      {"truncated 3-byte at end", "\xe2\x82", {R, R}},
      {"truncated 4-byte at end", "\xf0\x9f\x98", {R, R, R}},
      {"truncated then ASCII", "\xe2\x82x", {R, R, 'x'}},
      {"lead then valid char", "\xc3\xc3\xa9", {R, 0xE9}},
      {"4-byte lead, 3 continuations short",
       "\xf0\x9f\x98"
       "A",
       {R, R, R, 'A'}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(decode_all(c.bytes), c.want) << c.what;
    EXPECT_FALSE(mr::utf8::is_valid(c.bytes)) << c.what;
    CodePoint d = mr::utf8::decode_at(c.bytes, 0);
    EXPECT_FALSE(d.valid) << c.what;
    EXPECT_EQ(d.length, 1u) << c.what;
    EXPECT_EQ(d.value, kReplacement) << c.what;
  }
}

TEST(Utf8Test, DecodeAtReadsInTheMiddleAndNotPastTheView) {
  std::string text =
      "a\xe2\x82\xac"
      "b";
  CodePoint euro = mr::utf8::decode_at(text, 1);
  EXPECT_TRUE(euro.valid);
  EXPECT_EQ(euro.value, 0x20ACu);
  EXPECT_EQ(euro.offset, 1u);
  EXPECT_EQ(euro.length, 3u);
  // The same bytes cut short by the view are truncated, even though the
  // memory after the view holds the rest of the sequence.
  std::string_view cut(text.data(), 3);
  CodePoint bad = mr::utf8::decode_at(cut, 1);
  EXPECT_FALSE(bad.valid);
  EXPECT_EQ(bad.length, 1u);
}

TEST(Utf8Test, CodePointsRangeReportsOffsetsAndInvalidBytes) {
  std::string text = "h\xc3\xa9\xff\xef\xbf\xbd\xf0\x9f\x98\x80!";
  std::vector<CodePoint> got;
  for (CodePoint c : mr::utf8::code_points(text)) got.push_back(c);
  ASSERT_EQ(got.size(), 6u);
  const char32_t want_cp[] = {'h', 0xE9, kReplacement, 0xFFFD, 0x1F600, '!'};
  const std::size_t want_off[] = {0, 1, 3, 4, 7, 11};
  const bool want_valid[] = {true, true, false, true, true, true};
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].value, want_cp[i]) << i;
    EXPECT_EQ(got[i].offset, want_off[i]) << i;
    EXPECT_EQ(got[i].valid, want_valid[i]) << i;
  }
  std::size_t n = 0;
  for (auto c : mr::utf8::code_points("")) n += c.length;
  EXPECT_EQ(n, 0u);
}

// Every scalar value survives append() then decode(); surrogates and values
// above U+10FFFF are appended as U+FFFD.
TEST(Utf8Test, RoundTripsEveryScalarValue) {
  std::string s;
  for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    s.clear();
    mr::utf8::append(s, cp);
    std::size_t pos = 0;
    ASSERT_EQ(mr::utf8::decode(s, pos), cp) << std::hex << std::uint32_t{cp};
    ASSERT_EQ(pos, s.size()) << std::hex << std::uint32_t{cp};
    ASSERT_EQ(s.size(), cp < 0x80      ? 1u
                        : cp < 0x800   ? 2u
                        : cp < 0x10000 ? 3u
                                       : 4u)
        << std::hex << std::uint32_t{cp};
  }
  s.clear();
  mr::utf8::append(s, 0xD800);
  mr::utf8::append(s, 0x110000);
  EXPECT_EQ(s, "\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
