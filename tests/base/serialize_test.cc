// Tests of mr/base/serialize.h: round trips of every supported kind, user
// types, malformed input, and the compile-time Serializable concept.
#include "mr/base/serialize.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace {

using namespace std::chrono_literals;

enum class Color : std::uint8_t { kRed = 1, kGreen = 2, kBlue = 200 };
enum Plain { kZero, kOne, kBig = 1 << 20 };

// A user type with a member serialize().
struct Point {
  int x = 0;
  double y = 0;
  std::string label;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(x, y, label);
  }
  bool operator==(const Point&) const = default;
};

// A nested user type holding containers of user types.
struct Shape {
  std::vector<Point> points;
  std::optional<Color> color;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(points, color);
  }
  bool operator==(const Shape&) const = default;
};

// A recursive user type.
struct Tree {
  int value = 0;
  std::vector<Tree> children;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(value, children);
  }
  bool operator==(const Tree&) const = default;
};

}  // namespace

namespace geo {
// A user type with a free serialize() found by ADL.
struct Rect {
  int w = 0, h = 0;
  bool operator==(const Rect&) const = default;
};
template <class Ar>
void serialize(Ar& ar, Rect& r) {
  ar(r.w, r.h);
}
}  // namespace geo

namespace {

// Trivially copyable, but not opted in: must not be serializable.
struct Raw {
  int a;
  char* p;
};
// Trivially copyable and opted in below.
struct Pod {
  std::int32_t a;
  float b;
  bool operator==(const Pod&) const = default;
};
struct NotSerializable {
  int a;
};

}  // namespace

template <>
struct mr::SerializeAsBytes<Pod> : std::true_type {};

namespace {

// --- compile-time contract -------------------------------------------------
static_assert(mr::Serializable<int>);
static_assert(mr::Serializable<bool>);
static_assert(mr::Serializable<long double>);
static_assert(mr::Serializable<Color>);
static_assert(mr::Serializable<std::string>);
static_assert(mr::Serializable<std::vector<std::map<std::string, std::set<int>>>>);
static_assert(mr::Serializable<std::tuple<int, std::string, std::optional<double>>>);
static_assert(mr::Serializable<std::variant<std::monostate, int, std::string>>);
static_assert(mr::Serializable<std::chrono::milliseconds>);
static_assert(mr::Serializable<Point>);
static_assert(mr::Serializable<Tree>);
static_assert(mr::Serializable<geo::Rect>);
static_assert(mr::Serializable<std::vector<geo::Rect>>);
static_assert(mr::Serializable<Pod>);
static_assert(mr::Serializable<const int>);

static_assert(!mr::Serializable<int*>);
static_assert(!mr::Serializable<const char*>);
static_assert(!mr::Serializable<void*>);
static_assert(!mr::Serializable<std::vector<int*>>);
static_assert(!mr::Serializable<std::map<int, char*>>);
static_assert(!mr::Serializable<std::pair<int, Raw>>);
static_assert(!mr::Serializable<Raw>);
static_assert(!mr::Serializable<NotSerializable>);
static_assert(!mr::Serializable<std::unique_ptr<int>>);
static_assert(!mr::Serializable<std::shared_ptr<int>>);
static_assert(!mr::Serializable<std::optional<NotSerializable>>);
static_assert(!mr::Serializable<std::string_view>);  // save only
static_assert(mr::Saveable<std::string_view>);
static_assert(!mr::Saveable<int*>);

template <class T>
T round_trip(const T& v) {
  return mr::from_bytes<T>(mr::to_bytes(v));
}

template <class T>
void expect_round_trip(const T& v) {
  EXPECT_EQ(round_trip(v), v);
}

TEST(SerializeTest, Arithmetic) {
  expect_round_trip<char>('x');
  expect_round_trip<signed char>(-5);
  expect_round_trip<unsigned char>(250);
  expect_round_trip<short>(-12345);
  expect_round_trip<unsigned short>(65535);
  expect_round_trip<int>(std::numeric_limits<int>::min());
  expect_round_trip<unsigned>(std::numeric_limits<unsigned>::max());
  expect_round_trip<long>(-1234567890123L);
  expect_round_trip<unsigned long long>(std::numeric_limits<unsigned long long>::max());
  expect_round_trip<float>(3.5f);
  expect_round_trip<double>(-2.25e300);
  expect_round_trip<long double>(1.0L / 3);
  expect_round_trip<bool>(true);
  expect_round_trip<bool>(false);
  expect_round_trip<char8_t>(u8'a');
  expect_round_trip<char32_t>(U'\U0001F600');
  EXPECT_EQ(mr::to_bytes(std::int32_t{7}).size(), 4u);
  EXPECT_EQ(mr::to_bytes(true).size(), 1u);
}

TEST(SerializeTest, Enums) {
  expect_round_trip(Color::kBlue);
  expect_round_trip(kBig);
  EXPECT_EQ(mr::to_bytes(Color::kGreen).size(), 1u);
}

TEST(SerializeTest, Strings) {
  expect_round_trip(std::string());
  expect_round_trip(std::string("hello"));
  std::string binary("a\0b\xff", 4);
  expect_round_trip(binary);
  expect_round_trip(std::string(100000, 'z'));
  // A string_view saves as a string and loads back as one.
  std::string_view sv = "view";
  EXPECT_EQ(mr::from_bytes<std::string>(mr::to_bytes(sv)), "view");
}

TEST(SerializeTest, SequenceContainers) {
  expect_round_trip(std::vector<int>{});
  expect_round_trip(std::vector<int>{1, -2, 3});
  expect_round_trip(std::vector<double>{1.5, 2.5});
  expect_round_trip(std::vector<bool>{true, false, true, true});
  expect_round_trip(std::vector<std::string>{"a", "", "ccc"});
  expect_round_trip(std::vector<Color>{Color::kRed, Color::kBlue});
  expect_round_trip(std::array<int, 3>{4, 5, 6});
  expect_round_trip(std::array<std::string, 2>{"x", "y"});
  expect_round_trip(std::array<int, 0>{});
  expect_round_trip(std::deque<int>{7, 8, 9});
  expect_round_trip(std::list<std::string>{"l1", "l2"});
  // The memcpy fast path stores exactly size + payload.
  EXPECT_EQ(mr::to_bytes(std::vector<std::int32_t>(10)).size(), 8u + 40u);
  EXPECT_EQ(mr::to_bytes(std::array<std::int16_t, 5>{}).size(), 10u);
}

TEST(SerializeTest, AssociativeContainers) {
  expect_round_trip(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  expect_round_trip(std::multimap<int, int>{{1, 1}, {1, 2}, {0, 3}});
  expect_round_trip(std::unordered_map<std::string, double>{{"pi", 3.14}, {"e", 2.71}});
  expect_round_trip(std::set<int>{5, 1, 3});
  expect_round_trip(std::multiset<int>{1, 1, 2});
  expect_round_trip(std::unordered_set<std::string>{"p", "q"});
  std::unordered_map<int, int> big;
  for (int i = 0; i < 5000; ++i) big[i] = i * i;
  expect_round_trip(big);
}

TEST(SerializeTest, PairTupleOptionalVariantDuration) {
  expect_round_trip(std::pair<int, std::string>{1, "one"});
  expect_round_trip(std::tuple<>{});
  expect_round_trip(std::tuple<int, std::string, double>{1, "two", 3.0});
  expect_round_trip(std::optional<int>{});
  expect_round_trip(std::optional<int>{42});
  expect_round_trip(std::optional<std::string>{"s"});
  using V = std::variant<std::monostate, int, std::string, std::vector<int>>;
  expect_round_trip(V{});
  expect_round_trip(V{17});
  expect_round_trip(V{std::string("str")});
  expect_round_trip(V{std::vector<int>{1, 2}});
  expect_round_trip(std::chrono::milliseconds(1500));
  expect_round_trip(std::chrono::duration<double>(0.25));
  expect_round_trip(std::chrono::nanoseconds(-7));
}

TEST(SerializeTest, NestedContainers) {
  std::map<std::string, std::vector<std::pair<int, std::optional<std::string>>>> m{
      {"k1", {{1, "a"}, {2, std::nullopt}}},
      {"k2", {}},
  };
  expect_round_trip(m);
  std::vector<std::vector<std::vector<int>>> v3{{{1}, {2, 3}}, {}, {{}}};
  expect_round_trip(v3);
  std::unordered_map<int, std::set<std::tuple<int, std::string>>> u{{1, {{1, "x"}, {2, "y"}}}};
  expect_round_trip(u);
}

TEST(SerializeTest, UserTypes) {
  expect_round_trip(Point{1, 2.5, "p"});
  expect_round_trip(Shape{{{1, 1, "a"}, {2, 2, "b"}}, Color::kGreen});
  expect_round_trip(geo::Rect{3, 4});
  expect_round_trip(std::vector<geo::Rect>{{1, 2}, {3, 4}});
  expect_round_trip(std::map<int, Point>{{1, {0, 0, "origin"}}});
  Tree t{1, {{2, {}}, {3, {{4, {}}}}}};
  expect_round_trip(t);
  expect_round_trip(Pod{-3, 1.5f});
  expect_round_trip(std::vector<Pod>{{1, 1}, {2, 2}});
  EXPECT_EQ(mr::to_bytes(std::vector<Pod>(3)).size(), 8u + 3 * sizeof(Pod));
}

TEST(SerializeTest, WriterReaderStreamSeveralValues) {
  mr::Writer w;
  w(1, std::string("two"), 3.0);
  mr::save(w, Point{4, 5, "six"});
  mr::Reader r(w.buffer());
  int a = 0;
  std::string b;
  double c = 0;
  Point p;
  r(a, b, c);
  EXPECT_FALSE(r.at_end());
  mr::load(r, p);
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, "two");
  EXPECT_EQ(c, 3.0);
  EXPECT_EQ(p, (Point{4, 5, "six"}));

  auto bytes = mr::to_bytes_tuple(7, std::string("x"));
  auto [i, s] = mr::from_bytes_tuple<int, std::string>(bytes);
  EXPECT_EQ(i, 7);
  EXPECT_EQ(s, "x");
}

TEST(SerializeTest, LoadReplacesContainerContents) {
  std::vector<std::string> v{"old", "stuff"};
  std::string bytes = mr::to_bytes(std::vector<std::string>{"new"});
  mr::Reader r2(bytes);
  mr::load(r2, v);
  EXPECT_EQ(v, std::vector<std::string>{"new"});
  std::map<int, int> m{{9, 9}};
  std::string mb = mr::to_bytes(std::map<int, int>{{1, 2}});
  mr::Reader r3(mb);
  mr::load(r3, m);
  EXPECT_EQ(m, (std::map<int, int>{{1, 2}}));
}

TEST(SerializeTest, TruncatedInputThrowsAtEveryCut) {
  std::string full = mr::to_bytes(
      std::make_tuple(std::string("hello"), std::vector<int>{1, 2, 3}, Point{1, 2, "pt"},
                      std::map<int, std::string>{{1, "a"}}, std::optional<int>(5)));
  using T = std::tuple<std::string, std::vector<int>, Point, std::map<int, std::string>,
                       std::optional<int>>;
  for (std::size_t cut = 0; cut < full.size(); ++cut) {
    EXPECT_THROW(mr::from_bytes<T>(std::string_view(full).substr(0, cut)), mr::SerializationError)
        << "cut at " << cut;
  }
  EXPECT_NO_THROW(mr::from_bytes<T>(full));
}

TEST(SerializeTest, TrailingBytesThrow) {
  std::string bytes = mr::to_bytes(42) + "x";
  EXPECT_THROW(mr::from_bytes<int>(bytes), mr::SerializationError);
  EXPECT_THROW(mr::from_bytes<std::string>(mr::to_bytes(std::string("ab")) + '\0'),
               mr::SerializationError);
}

TEST(SerializeTest, MalformedInputThrows) {
  // A huge length must not allocate: it is rejected as truncated.
  std::string huge = mr::to_bytes(std::uint64_t{1} << 60);
  EXPECT_THROW(mr::from_bytes<std::vector<int>>(huge), mr::SerializationError);
  EXPECT_THROW(mr::from_bytes<std::string>(huge), mr::SerializationError);
  EXPECT_THROW(mr::from_bytes<std::vector<std::string>>(huge), mr::SerializationError);
  // Variant index out of range.
  using V = std::variant<int, std::string>;
  std::string bad_index = mr::to_bytes(std::uint32_t{5}) + mr::to_bytes(1);
  EXPECT_THROW(mr::from_bytes<V>(bad_index), mr::SerializationError);
  // A bool byte other than 0 or 1.
  EXPECT_THROW(mr::from_bytes<bool>(std::string(1, '\x07')), mr::SerializationError);
  // SerializationError is a std::runtime_error.
  try {
    mr::from_bytes<int>("");
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos);
  }
}

TEST(SerializeTest, ReaderReadBytesDoesNotConsumeOnFailure) {
  std::string bytes = "abc";
  mr::Reader r(bytes);
  char buf[4];
  EXPECT_THROW(r.read_bytes(buf, 4), mr::SerializationError);
  EXPECT_EQ(r.remaining(), 3u);
  r.read_bytes(buf, 3);
  EXPECT_TRUE(r.at_end());
}

}  // namespace
