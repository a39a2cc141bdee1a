// Binary serialization for messages between processes of the same machine:
// native endianness, native type sizes, no versioning, no iostreams, no
// virtual calls. Header-only.
//
//   std::string bytes = mr::to_bytes(std::map<std::string, int>{{"a", 1}});
//   auto m = mr::from_bytes<std::map<std::string, int>>(bytes);
//
// Supported out of the box (the mr::Serializable concept is true exactly for
// these, recursively for their elements):
//  - arithmetic types (bool as one byte), enums (as their underlying type);
//  - std::string; std::string_view can be saved (and loaded as std::string);
//  - std::vector, std::array, std::deque, std::list, std::map, std::multimap,
//    std::unordered_map, std::set, std::multiset, std::unordered_set,
//    std::pair, std::tuple, std::optional, std::variant (+ std::monostate),
//    std::chrono::duration;
//  - user types with a member `template <class Ar> void serialize(Ar& ar)
//    { ar(a, b, c); }` (one function for both directions: Ar is mr::Writer
//    when saving and mr::Reader when loading), or a free function
//    `template <class Ar> void serialize(Ar& ar, T& t)` found by ADL;
//  - trivially copyable types that opt in with
//    `template <> struct mr::SerializeAsBytes<T> : std::true_type {};`
//    (copied as raw bytes). Nothing is pickled as raw bytes without that
//    opt-in, so a struct holding a pointer cannot be sent by accident.
// Raw pointers are never serializable: save()/load() of one fails to compile
// with a readable message.
//
// Wire format: lengths are uint64, a variant index is uint32, an optional has
// a one-byte flag. Vectors and arrays of arithmetic types (except bool) are
// copied with one memcpy.
//
// Errors: loading throws mr::SerializationError on truncated input (and on a
// malformed variant index or bool); from_bytes() also throws when bytes are
// left over. Thread-safety: a Writer or Reader is used by one thread at a
// time; the functions hold no global state. Fork-safety: nothing to share.
#pragma once

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace mr {

// Input that does not decode: truncated, trailing bytes, bad tag.
class SerializationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Opt-in for trivially copyable types to be copied as raw bytes.
// Specialize to std::true_type only for types without pointers or handles.
template <class T>
struct SerializeAsBytes : std::false_type {};

class Writer;
class Reader;

namespace detail {

// One Codec per kind of type: `static constexpr bool kSave, kLoad` and the
// save/load functions they enable. The primary template (defined at the end
// of this file) handles user types with serialize() and rejects the rest;
// every standard type has a partial specialization, which always wins.
template <class T, class Enable = void>
struct Codec;

}  // namespace detail

// True when save(Writer&, const T&) works.
template <class T>
concept Saveable = detail::Codec<std::remove_cv_t<T>>::kSave;

// True when T can be both saved and loaded (what a message type needs).
template <class T>
concept Serializable =
    detail::Codec<std::remove_cv_t<T>>::kSave && detail::Codec<std::remove_cv_t<T>>::kLoad;

// Appends encoded values to an owned std::string buffer.
class Writer {
 public:
  Writer() = default;
  // Appends to `initial` (for example a buffer reused between messages).
  explicit Writer(std::string initial) : buf_(std::move(initial)) {}

  void write_bytes(const void* data, std::size_t n) {
    buf_.append(static_cast<const char*>(data), n);
  }
  void reserve(std::size_t n) { buf_.reserve(buf_.size() + n); }

  std::string& buffer() noexcept { return buf_; }
  // Moves the buffer out; the writer is left empty.
  std::string take() noexcept { return std::move(buf_); }

  // Saves each argument in order: what a serialize() member calls.
  template <class... Ts>
  void operator()(const Ts&... values);

 private:
  std::string buf_;
};

// Decodes values from a byte range it does not own (the bytes must outlive
// the reader).
class Reader {
 public:
  explicit Reader(std::string_view bytes) noexcept : data_(bytes) {}

  // Copies the next `n` bytes into `out`; throws SerializationError when
  // fewer than `n` are left (nothing is consumed then).
  void read_bytes(void* out, std::size_t n) {
    if (n > data_.size() - pos_) throw_truncated(n);
    if (n != 0) std::memcpy(out, data_.data() + pos_, n);
    pos_ += n;
  }
  // The next `n` bytes without copying; throws like read_bytes().
  std::string_view view_bytes(std::size_t n) {
    if (n > data_.size() - pos_) throw_truncated(n);
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }

  bool at_end() const noexcept { return pos_ == data_.size(); }
  std::size_t remaining() const noexcept { return data_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }

  // Loads each argument in order: what a serialize() member calls.
  template <class... Ts>
  void operator()(Ts&... values);

 private:
  [[noreturn]] void throw_truncated(std::size_t n) const {
    throw SerializationError("mr::Reader: truncated input: need " + std::to_string(n) +
                             " bytes at offset " + std::to_string(pos_) + ", " +
                             std::to_string(data_.size() - pos_) + " left");
  }

  std::string_view data_;
  std::size_t pos_ = 0;
};

// Appends the encoding of `value`.
template <class T>
void save(Writer& w, const T& value) {
  static_assert(!std::is_pointer_v<T>,
                "mr::save: raw pointers cannot be serialized (the address means nothing in "
                "another process); send the pointed-to value instead");
  static_assert(Saveable<T>,
                "mr::save: type is not serializable. Supported: arithmetic, enums, std::string, "
                "standard containers/pair/tuple/optional/variant/duration of serializable types, "
                "types with a `template <class Ar> void serialize(Ar&)` member or an ADL "
                "`serialize(Ar&, T&)`, and types opted in with mr::SerializeAsBytes<T>");
  if constexpr (Saveable<T>) detail::Codec<std::remove_cv_t<T>>::save(w, value);
}

// Decodes into `value` (containers are replaced, not appended to). Throws
// SerializationError on truncated or malformed input; `value` is then in a
// valid but unspecified state.
template <class T>
void load(Reader& r, T& value) {
  static_assert(!std::is_pointer_v<T>,
                "mr::load: raw pointers cannot be deserialized (an address from another process "
                "means nothing here)");
  static_assert(!std::is_const_v<T>, "mr::load: cannot load into a const object");
  static_assert(Serializable<T>,
                "mr::load: type is not (de)serializable. Supported: arithmetic, enums, "
                "std::string, standard containers/pair/tuple/optional/variant/duration of "
                "serializable types, types with a `template <class Ar> void serialize(Ar&)` "
                "member or an ADL `serialize(Ar&, T&)`, and types opted in with "
                "mr::SerializeAsBytes<T>");
  if constexpr (Serializable<T>) detail::Codec<T>::load(r, value);
}

template <class... Ts>
void Writer::operator()(const Ts&... values) {
  (save(*this, values), ...);
}

template <class... Ts>
void Reader::operator()(Ts&... values) {
  (load(*this, values), ...);
}

// The encoding of `value` as a new string.
template <class T>
std::string to_bytes(const T& value) {
  Writer w;
  save(w, value);
  return w.take();
}

// Decodes a T that must span exactly `bytes`: throws SerializationError on
// missing or left-over bytes. T must be default-constructible.
template <class T>
T from_bytes(std::string_view bytes) {
  T value{};
  Reader r(bytes);
  load(r, value);
  if (!r.at_end())
    throw SerializationError("mr::from_bytes: " + std::to_string(r.remaining()) +
                             " trailing bytes after the value");
  return value;
}

// Several values one after another, same as to_bytes(std::tuple{values...}).
template <class... Ts>
std::string to_bytes_tuple(const Ts&... values) {
  Writer w;
  w(values...);
  return w.take();
}

// Inverse of to_bytes_tuple(): exactly the bytes of Ts... in order.
template <class... Ts>
std::tuple<Ts...> from_bytes_tuple(std::string_view bytes) {
  return from_bytes<std::tuple<Ts...>>(bytes);
}

// ---------------------------------------------------------------------------
// Implementation: one Codec specialization per kind.
namespace detail {

using Size = std::uint64_t;

inline void save_size(Writer& w, std::size_t n) {
  Size s = n;
  w.write_bytes(&s, sizeof s);
}

inline std::size_t load_size(Reader& r) {
  Size s;
  r.read_bytes(&s, sizeof s);
  if (s > SIZE_MAX) throw SerializationError("mr::load: length does not fit in size_t");
  return static_cast<std::size_t>(s);
}

// Element types that are copied as a block: their byte image is the value.
template <class T>
inline constexpr bool kMemcpyable =
    (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) || std::is_enum_v<T> ||
    (SerializeAsBytes<T>::value && std::is_trivially_copyable_v<T>);

// A sanity bound for a count read from the wire, so that corrupt input
// throws instead of trying to allocate terabytes: each element of a memcpy
// type takes sizeof(T) bytes, anything else at least... nothing we can know,
// so only reserve what the remaining input could possibly hold.
inline std::size_t reserve_hint(const Reader& r, std::size_t n) {
  return n < r.remaining() ? n : r.remaining();
}

template <class T>
concept Loadable = Codec<T>::kLoad;
template <class T>
concept SaveOk = Codec<T>::kSave;

// Arithmetic and enums (bool as one byte, checked on load).
template <class T>
struct Codec<T, std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>> {
  static constexpr bool kSave = true;
  static constexpr bool kLoad = true;
  static void save(Writer& w, const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      std::uint8_t b = v ? 1 : 0;
      w.write_bytes(&b, 1);
    } else {
      w.write_bytes(&v, sizeof v);
    }
  }
  static void load(Reader& r, T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      std::uint8_t b;
      r.read_bytes(&b, 1);
      if (b > 1) throw SerializationError("mr::load: bad bool byte");
      v = b != 0;
    } else {
      r.read_bytes(&v, sizeof v);
    }
  }
};

// Opted-in trivially copyable types (not arithmetic/enum, handled above).
template <class T>
struct Codec<T, std::enable_if_t<SerializeAsBytes<T>::value && !std::is_arithmetic_v<T> &&
                                 !std::is_enum_v<T>>> {
  static_assert(std::is_trivially_copyable_v<T>,
                "mr::SerializeAsBytes<T> is only allowed for trivially copyable T");
  static_assert(!std::is_pointer_v<T>, "mr::SerializeAsBytes: raw pointers are never allowed");
  static constexpr bool kSave = true;
  static constexpr bool kLoad = true;
  static void save(Writer& w, const T& v) { w.write_bytes(&v, sizeof v); }
  static void load(Reader& r, T& v) { r.read_bytes(&v, sizeof v); }
};

template <class Traits, class Alloc>
struct Codec<std::basic_string<char, Traits, Alloc>> {
  static constexpr bool kSave = true;
  static constexpr bool kLoad = true;
  static void save(Writer& w, const std::basic_string<char, Traits, Alloc>& s) {
    save_size(w, s.size());
    w.write_bytes(s.data(), s.size());
  }
  static void load(Reader& r, std::basic_string<char, Traits, Alloc>& s) {
    std::size_t n = load_size(r);
    std::string_view v = r.view_bytes(n);
    s.assign(v.data(), v.size());
  }
};

// Saved like std::string (so it loads as one); cannot be loaded into.
template <>
struct Codec<std::string_view> {
  static constexpr bool kSave = true;
  static constexpr bool kLoad = false;
  static void save(Writer& w, std::string_view s) {
    save_size(w, s.size());
    w.write_bytes(s.data(), s.size());
  }
};

template <class T, class A>
struct Codec<std::vector<T, A>> {
  static constexpr bool kSave = SaveOk<T>;
  static constexpr bool kLoad = Loadable<T> && std::is_default_constructible_v<T>;
  static void save(Writer& w, const std::vector<T, A>& v) {
    save_size(w, v.size());
    if constexpr (kMemcpyable<T>) {
      w.write_bytes(v.data(), v.size() * sizeof(T));
    } else {
      for (const auto& e : v) mr::save(w, static_cast<const T&>(e));
    }
  }
  static void load(Reader& r, std::vector<T, A>& v) {
    std::size_t n = load_size(r);
    if constexpr (kMemcpyable<T>) {
      if (n > r.remaining() / sizeof(T))
        throw SerializationError("mr::load: truncated vector of " + std::to_string(n) +
                                 " elements");
      v.resize(n);
      r.read_bytes(v.data(), n * sizeof(T));
    } else {
      v.clear();
      v.reserve(reserve_hint(r, n));
      for (std::size_t i = 0; i < n; ++i) {
        T e{};
        mr::load(r, e);
        v.push_back(std::move(e));
      }
    }
  }
};

template <class T, std::size_t N>
struct Codec<std::array<T, N>> {
  static constexpr bool kSave = SaveOk<T>;
  static constexpr bool kLoad = Loadable<T>;
  static void save(Writer& w, const std::array<T, N>& a) {
    if constexpr (kMemcpyable<T>) {
      w.write_bytes(a.data(), N * sizeof(T));
    } else {
      for (const auto& e : a) mr::save(w, e);
    }
  }
  static void load(Reader& r, std::array<T, N>& a) {
    if constexpr (kMemcpyable<T>) {
      r.read_bytes(a.data(), N * sizeof(T));
    } else {
      for (auto& e : a) mr::load(r, e);
    }
  }
};

// Sequences loaded by push_back: deque, list.
template <class C>
struct SequenceCodec {
  using T = typename C::value_type;
  static constexpr bool kSave = SaveOk<T>;
  static constexpr bool kLoad = Loadable<T> && std::is_default_constructible_v<T>;
  static void save(Writer& w, const C& c) {
    save_size(w, c.size());
    for (const auto& e : c) mr::save(w, e);
  }
  static void load(Reader& r, C& c) {
    std::size_t n = load_size(r);
    c.clear();
    for (std::size_t i = 0; i < n; ++i) {
      T e{};
      mr::load(r, e);
      c.push_back(std::move(e));
    }
  }
};

template <class T, class A>
struct Codec<std::deque<T, A>> : SequenceCodec<std::deque<T, A>> {};
template <class T, class A>
struct Codec<std::list<T, A>> : SequenceCodec<std::list<T, A>> {};

// Associative containers: size, then elements (key/value pairs for maps),
// inserted with a hint at the end (sorted input inserts in O(1) each).
template <class C, bool kIsMap>
struct MappedOf {
  using type = typename C::key_type;
};
template <class C>
struct MappedOf<C, true> {
  using type = typename C::mapped_type;
};

template <class C, bool kIsMap>
struct AssocCodec {
  using K = typename C::key_type;
  using V = typename MappedOf<C, kIsMap>::type;
  static constexpr bool kSave = SaveOk<K> && SaveOk<V>;
  static constexpr bool kLoad = Loadable<K> && Loadable<V> && std::is_default_constructible_v<K> &&
                                std::is_default_constructible_v<V>;
  static void save(Writer& w, const C& c) {
    save_size(w, c.size());
    for (const auto& e : c) {
      if constexpr (kIsMap) {
        mr::save(w, e.first);
        mr::save(w, e.second);
      } else {
        mr::save(w, e);
      }
    }
  }
  static void load(Reader& r, C& c) {
    std::size_t n = load_size(r);
    c.clear();
    if constexpr (requires { c.reserve(n); }) c.reserve(reserve_hint(r, n));
    for (std::size_t i = 0; i < n; ++i) {
      K k{};
      mr::load(r, k);
      if constexpr (kIsMap) {
        V v{};
        mr::load(r, v);
        c.emplace_hint(c.end(), std::move(k), std::move(v));
      } else {
        c.emplace_hint(c.end(), std::move(k));
      }
    }
  }
};

template <class K, class V, class Cmp, class A>
struct Codec<std::map<K, V, Cmp, A>> : AssocCodec<std::map<K, V, Cmp, A>, true> {};
template <class K, class V, class Cmp, class A>
struct Codec<std::multimap<K, V, Cmp, A>> : AssocCodec<std::multimap<K, V, Cmp, A>, true> {};
template <class K, class V, class H, class Eq, class A>
struct Codec<std::unordered_map<K, V, H, Eq, A>>
    : AssocCodec<std::unordered_map<K, V, H, Eq, A>, true> {};
template <class K, class Cmp, class A>
struct Codec<std::set<K, Cmp, A>> : AssocCodec<std::set<K, Cmp, A>, false> {};
template <class K, class Cmp, class A>
struct Codec<std::multiset<K, Cmp, A>> : AssocCodec<std::multiset<K, Cmp, A>, false> {};
template <class K, class H, class Eq, class A>
struct Codec<std::unordered_set<K, H, Eq, A>> : AssocCodec<std::unordered_set<K, H, Eq, A>, false> {
};

template <class A, class B>
struct Codec<std::pair<A, B>> {
  static constexpr bool kSave = SaveOk<A> && SaveOk<B>;
  static constexpr bool kLoad = Loadable<A> && Loadable<B>;
  static void save(Writer& w, const std::pair<A, B>& p) {
    mr::save(w, p.first);
    mr::save(w, p.second);
  }
  static void load(Reader& r, std::pair<A, B>& p) {
    mr::load(r, p.first);
    mr::load(r, p.second);
  }
};

template <class... Ts>
struct Codec<std::tuple<Ts...>> {
  static constexpr bool kSave = (SaveOk<Ts> && ...);
  static constexpr bool kLoad = (Loadable<Ts> && ...);
  static void save(Writer& w, const std::tuple<Ts...>& t) {
    std::apply([&w](const auto&... e) { (mr::save(w, e), ...); }, t);
  }
  static void load(Reader& r, std::tuple<Ts...>& t) {
    std::apply([&r](auto&... e) { (mr::load(r, e), ...); }, t);
  }
};

template <class T>
struct Codec<std::optional<T>> {
  static constexpr bool kSave = SaveOk<T>;
  static constexpr bool kLoad = Loadable<T> && std::is_default_constructible_v<T>;
  static void save(Writer& w, const std::optional<T>& o) {
    mr::save(w, o.has_value());
    if (o) mr::save(w, *o);
  }
  static void load(Reader& r, std::optional<T>& o) {
    bool has = false;
    mr::load(r, has);
    if (has) {
      mr::load(r, o.emplace());
    } else {
      o.reset();
    }
  }
};

template <>
struct Codec<std::monostate> {
  static constexpr bool kSave = true;
  static constexpr bool kLoad = true;
  static void save(Writer&, const std::monostate&) {}
  static void load(Reader&, std::monostate&) {}
};

template <class... Ts>
struct Codec<std::variant<Ts...>> {
  using V = std::variant<Ts...>;
  static constexpr bool kSave = (SaveOk<Ts> && ...);
  static constexpr bool kLoad =
      (Loadable<Ts> && ...) && (std::is_default_constructible_v<Ts> && ...);
  static void save(Writer& w, const V& v) {
    if (v.valueless_by_exception())
      throw SerializationError("mr::save: variant is valueless by exception");
    auto index = static_cast<std::uint32_t>(v.index());
    mr::save(w, index);
    std::visit([&w](const auto& e) { mr::save(w, e); }, v);
  }
  template <std::size_t I>
  static void load_alternative(Reader& r, V& v) {
    mr::load(r, v.template emplace<I>());
  }
  static void load(Reader& r, V& v) {
    std::uint32_t index = 0;
    mr::load(r, index);
    if (index >= sizeof...(Ts))
      throw SerializationError("mr::load: variant index " + std::to_string(index) +
                               " out of range");
    load_by_index(r, v, index, std::index_sequence_for<Ts...>{});
  }
  template <std::size_t... Is>
  static void load_by_index(Reader& r, V& v, std::uint32_t index, std::index_sequence<Is...>) {
    using Fn = void (*)(Reader&, V&);
    static constexpr Fn kTable[] = {&load_alternative<Is>...};
    kTable[index](r, v);
  }
};

template <class Rep, class Period>
struct Codec<std::chrono::duration<Rep, Period>> {
  static constexpr bool kSave = SaveOk<Rep>;
  static constexpr bool kLoad = Loadable<Rep>;
  static void save(Writer& w, const std::chrono::duration<Rep, Period>& d) {
    Rep c = d.count();
    mr::save(w, c);
  }
  static void load(Reader& r, std::chrono::duration<Rep, Period>& d) {
    Rep c{};
    mr::load(r, c);
    d = std::chrono::duration<Rep, Period>(c);
  }
};

// User types: a serialize(Ar&) member template, or an ADL serialize(Ar&, T&).
template <class T>
concept HasMemberSerialize = requires(T& t, Writer& w, Reader& r) {
  t.serialize(w);
  t.serialize(r);
};

namespace adl {
// Blocks unqualified lookup from finding anything but ADL candidates.
void serialize() = delete;

template <class T>
concept HasFreeSerialize = requires(T& t, Writer& w, Reader& r) {
  serialize(w, t);
  serialize(r, t);
};

template <class Ar, class T>
void call_serialize(Ar& ar, T& t) {
  serialize(ar, t);
}
}  // namespace adl

template <class T>
inline constexpr bool kIsUserType = std::is_class_v<T> && !SerializeAsBytes<T>::value &&
                                    (HasMemberSerialize<T> || adl::HasFreeSerialize<T>);

template <class T, class Enable>
struct Codec {
  static constexpr bool kSave = kIsUserType<T>;
  static constexpr bool kLoad = kIsUserType<T>;
  // One function serves both directions, so saving goes through a
  // non-const reference; a Writer only reads from it.
  static void save(Writer& w, const T& v) {
    if constexpr (HasMemberSerialize<T>) {
      const_cast<T&>(v).serialize(w);
    } else {
      adl::call_serialize(w, const_cast<T&>(v));
    }
  }
  static void load(Reader& r, T& v) {
    if constexpr (HasMemberSerialize<T>) {
      v.serialize(r);
    } else {
      adl::call_serialize(r, v);
    }
  }
};

}  // namespace detail
}  // namespace mr
