// The typed job API: what users write map/reduce jobs against.
//
//   struct LineLengths : mr::MapReduceJob<std::uint64_t, std::uint64_t> {
//     void map_line(std::string_view line, std::uint64_t, Context& ctx) {
//       ctx.emit(line.size(), 1);
//     }
//     std::uint64_t combine(std::uint64_t a, std::uint64_t b) const { return a + b; }
//     void reduce(const std::uint64_t& len, std::span<const std::uint64_t> counts,
//                 ReduceContext& ctx) {
//       std::uint64_t n = 0;
//       for (auto c : counts) n += c;
//       ctx.emit(len, n);
//     }
//   };
//
// A job derives from MapReduceJob<K, V, OutK = K, OutV = V> and defines some
// of these members (found at compile time; the ones marked * are required).
// A member function named like one of them that matches none of the
// signatures, or named reduces/reducer/Reduce, Map/mapper/map_lines,
// combiner/Combine, set_up/tear_down, is a compile-time error that prints the
// expected signature, instead of being ignored:
//   map(std::string_view chunk, Context&)             * one of map / map_line:
//   map_line(std::string_view line, std::uint64_t line_number, Context&)
//                          line_number is 1-based when the job sets
//                          kLineNumbers = true, else 0
//   V combine(const V&, const V&) const               values of one key merged in the
//                                                     mapper (a combiner); without it
//                                                     (or combine_into) every emitted
//                                                     pair is shuffled
//   void combine_into(V& acc, V&& incoming)           the in-place combiner, for values
//                                                     that grow (lists, sets): merge
//                                                     `incoming` into `acc` without
//                                                     copying acc; used instead of
//                                                     combine when both are defined
//   reduce(const K&, std::span<const V>, ReduceContext&)   without it the job is map-only:
//                                                     map's pairs are the output
//   setup(const JobOptions&) / teardown()             once per worker process: setup on
//                                                     the worker's own copy before its
//                                                     first task (fork, spawn, forkserver),
//                                                     which all its map and reduce calls
//                                                     then use; teardown when the worker
//                                                     ends normally (not after a crash, a
//                                                     kill or a throw). Also once on the
//                                                     master's copy, when the job is made
//                                                     (so a bad option fails at once;
//                                                     format(), before() and record() run
//                                                     on it), torn down when it is
//                                                     destroyed. A worker's setup is timed
//                                                     like a task (--task-timeout); one
//                                                     that hangs, crashes or throws is
//                                                     retried, then fails the job
//   unsigned partition(const K&, unsigned partitions) const
//                                                     which reduce partition gets a key
//                                                     (taken modulo partitions; default:
//                                                     a hash of the key)
//   bool before(const OutK&, const OutV&, const OutK&, const OutV&) const
//                                                     output order (default: by key, then value)
//   std::string format(const OutK&, const OutV&) const    one output line (default: key TAB value);
//                                                     with --format csv or json the
//                                                     output is key/value records instead:
//                                                     a `key,value` CSV header and RFC 4180
//                                                     rows, or [{"key": K, "value": V}, ...]
//                                                     with integers and finite floats as
//                                                     numbers, bool as true/false, anything
//                                                     else as a string of its text form
//                                                     (the default TSV text, append_text)
//   static std::vector<std::string> columns()  +  void record(const OutK&, const OutV&,
//                                      mr::Record& r) const
//                                                     named fields instead of key/value for
//                                                     --format csv|json: the CSV header is
//                                                     columns() (a field not set is an empty
//                                                     cell), a JSON object has the fields
//                                                     record() set, in that order
//                                                     (r.field("line", n).field("text", s))
//   static std::vector<OptionSpec> options()          the --opt keys the job takes; any
//                                                     other key is refused (a job without
//                                                     options() takes none), so read only
//                                                     declared ones
//   static constexpr unsigned kReducers               preferred number of partitions
// K, V, OutK and OutV are any types mr::Serializable knows (strings,
// integers, floats, containers, pairs, user types with a serialize member).
// What a user type needs (a missing one is a static_assert saying which):
//   every type          template <class Ar> void serialize(Ar& ar) { ar(a, b); },
//                       a default constructor, copies; all a map value needs
//   K                   operator== when the job has a combiner (the mapper's
//                       table); operator< to reduce keys in order; without a
//                       combiner either will do (== alone: grouped by hash)
//   OutK, OutV          operator< gives the default output order (by key,
//                       then value; or define before()), and
//                       std::ostream& operator<<(std::ostream&, const T&) the
//                       text of the default output line and of --format csv|json
//                       records, unless the job defines format() and
//                       columns() + record()
// (tests/jobs/test_plugins/typed_features.cc: struct key and values, floats,
// partition(), kReducers.)
// A Context gives emit(key, value) (a std::string key may be passed as a
// std::string_view: copied only when new to the map side's table),
// count("counter", n) (user counters, in map and in reduce, summed over the
// job and shown by --stats and the progress line), options(), chunk() (in
// map) and partition() / partitions() (in reduce).
//
// Combiners and memory. The map side keeps one table entry per key while a
// job has a combiner; the engine flushes the table (writes its partition
// runs) when its weight outgrows the worker's share of --memory. An entry
// weighs its node plus what the key and value hold (strings their bytes,
// containers their elements, recursively: see heap_bytes). When combine or
// combine_into makes a container value grow, the growth counts too: the
// container's own growth (capacity() for contiguous ones) plus, per element
// added, the average of what an element of `incoming` holds; so a value
// growing in place still triggers flushes. combine_into should therefore
// move incoming's elements into acc (acc.insert(acc.end(),
// std::make_move_iterator(...)) or push_back(std::move(...))):
//
//   using Positions = std::vector<std::uint64_t>;
//   struct Lines : mr::MapReduceJob<std::string, Positions> {
//     static constexpr bool kLineNumbers = true;
//     void map_line(std::string_view line, std::uint64_t n, Context& ctx) {
//       ctx.emit(std::string(line), Positions{n});
//     }
//     void combine_into(Positions& acc, Positions&& incoming) {
//       acc.insert(acc.end(), incoming.begin(), incoming.end());
//     }
//     ...
//   };
//
// How make_job<J>(options) runs a job on the engine's byte-level mr::Job:
// one set-up copy of J per worker (Job::start_worker). With a combiner and
// a std::string or integral key, the map side's table is a flat
// open-addressing KeyTable (mr/job_api/key_table.h, the design of the
// built-in wordcount's WordCounter): a key of up to 16 bytes held inline,
// values combined in place, and an emit of a key the table already holds
// allocates nothing (emit takes a std::string_view for string keys; emits
// are batched 16 deep so that their slots are prefetched). Other keys use a
// std::unordered_map, and a job without a combiner buffers its pairs.
// Partitions by the key's hash (or the job's partition()). Each partition
// run holds (key, value) records serialized with mr/base/serialize.h
// (write_run_record / read_run_record below), in key order when the key
// has operator<; each reducer merges its runs by key (no table of all
// keys) and calls reduce once per key, in key order.
//
// The last factor: a byte-level mr::Job. A job may instead implement the
// engine's interface, mr::Job with MapTask and ReduceTask (mr/job_api/job.h),
// and move bytes itself; the built-in wordcount does exactly that
// (jobs/wordcount/wordcount.cc), through the same interface any plugin can
// implement: its map tokenizes straight out of the input (mr::tokenize) into a
// WordCounter (mr/job_api/word_counter.h), which is also its combiner and
// writes fixed-size records as its partition runs, so nothing is serialized
// value by value. Writing a job that way is worth it only for a hot job on
// large inputs (bench/typed_bench.sh measures the difference); make_job is the
// way for everything else.
//
// Thread-safety: each copy of a job is used by one thread of one process.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <queue>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "mr/base/serialize.h"
#include "mr/job_api/job.h"
#include "mr/job_api/job_options.h"
#include "mr/job_api/key_table.h"
#include "mr/job_api/output_writer.h"
#include "mr/job_api/text_output.h"
#include "mr/job_api/word_counter.h"

namespace mr {

namespace detail {

// Where a Context's pairs go: the map task's table, the reduce task's
// results. emit_view is the string-key path: a key by view, which the map
// side copies only when its table does not hold it yet.
template <class K, class V>
class Emitter {
 public:
  virtual void emit(K&& key, V&& value) = 0;
  virtual void emit_view(std::string_view key, V&& value) {
    if constexpr (std::is_constructible_v<K, std::string_view>) emit(K(key), std::move(value));
  }
  // Empties the EmitQueue the context fills (see Context::set_queue).
  virtual void flush_queue() {}

 protected:
  ~Emitter() = default;
};

// Emits on their way to a map task's flat table (KeyTable<K, V>, FlatKey K):
// Context::emit packs a short string key or an integral key into the next
// entry itself, inline in the job's map code, and has the emitter empty the
// queue when it is full, so an emit costs no call. The table then takes a
// whole queue at once: prefetch every entry's slot, then probe each.
template <class K, class V>
struct EmitQueue {
  static constexpr std::size_t kCapacity = 128;
  struct Entry {
    typename KeyTable<K, V>::Packed key;
    V value{};
  };
  std::array<Entry, kCapacity> entries;
  std::size_t size = 0;
};

}  // namespace detail

// What a map or reduce hook receives.
//
// emit(key, value): for a std::string key it takes any string-like key
// (std::string, std::string_view, a literal) and copies its bytes only when
// the map task's table does not hold the key yet, so emitting a view of the
// input allocates nothing for a key seen before.
template <class K, class V>
class Context {
  static constexpr bool kStringKey = std::is_same_v<K, std::string>;

 public:
  using Sink = std::function<void(K&&, V&&)>;
  Context(Sink sink, const JobOptions& options, TaskCounters& counters)
      : sink_(std::move(sink)), options_(&options), counters_(&counters) {}
  // Internal (mr::make_job's tasks): pairs go to `emitter`, which must
  // outlive the context.
  Context(detail::Emitter<K, V>& emitter, const JobOptions& options, TaskCounters& counters)
      : emitter_(&emitter), options_(&options), counters_(&counters) {}

  void emit(K key, V value)
    requires(!kStringKey)
  {
    if constexpr (std::is_integral_v<K>) {
      if (queue_) return enqueue(key, value);
    }
    if (emitter_) {
      emitter_->emit(std::move(key), std::move(value));
    } else {
      sink_(std::move(key), std::move(value));
    }
  }
  void emit(std::string_view key, V value)
    requires kStringKey
  {
    if (queue_ && detail::KeyTable<K, V>::packable(key)) return enqueue(key, value);
    if (emitter_) {
      emitter_->emit_view(key, std::move(value));
    } else {
      sink_(K(key), std::move(value));
    }
  }
  // A std::string rvalue: moved on where the pair keeps its key (reduce).
  template <class S>
    requires(kStringKey && std::is_same_v<S, std::string>)
  void emit(S&& key, V value) {
    // Queued like a view (then copied only if new): one key's pairs must
    // reach the combiner in order whichever overload emitted them.
    if (queue_ && detail::KeyTable<K, V>::packable(key)) return enqueue(std::string_view(key), value, false);
    if (emitter_) {
      emitter_->emit(std::move(key), std::move(value));
    } else {
      sink_(std::move(key), std::move(value));
    }
  }
  // Anything else that converts to a std::string but not to a view (say a
  // std::filesystem::path): as before the view overload existed.
  template <class S>
    requires(kStringKey && !std::is_convertible_v<S&&, std::string_view> &&
             !std::is_same_v<std::remove_cvref_t<S>, std::string> &&
             std::is_convertible_v<S&&, std::string>)
  void emit(S&& key, V value) {
    emit(std::string(std::forward<S>(key)), std::move(value));
  }
  // Adds n to the user counter `name` (summed over all workers).
  void count(std::string_view name, std::int64_t n = 1) { counters_->user[std::string(name)] += n; }
  const JobOptions& options() const { return *options_; }
  // The chunk being mapped: file name, input_index (0-based position of the
  // input), byte range, first line number.
  const ChunkInfo& chunk() const { return chunk_; }
  void set_chunk(const ChunkInfo& c) { chunk_ = c; }
  // Internal (a map task with a flat table): queue packable keys in `queue`
  // (which must outlive the context) and call the emitter's flush_queue()
  // when it is full.
  void set_queue(detail::EmitQueue<K, V>* queue) { queue_ = queue; }
  // In reduce: the partition being reduced (0-based, what the job's
  // partition() or the default key hash chose) and how many there are. In
  // map both are 0.
  std::uint32_t partition() const { return partition_; }
  std::uint32_t partitions() const { return partitions_; }
  void set_partition(std::uint32_t partition, std::uint32_t partitions) {
    partition_ = partition;
    partitions_ = partitions;
  }

 private:
  // Queues a packable key and its value; inline, so that an emit costs no
  // call. `view`: a string key given by view, packed with two masked 16-byte
  // loads where that is safe (detail::may_load16; valgrind would report the
  // bytes past the key as read). A std::string just built is packed with
  // exact loads instead: its bytes were most likely just written by small
  // stores, and wide loads that straddle those stall (store forwarding).
  template <class View>
  [[gnu::always_inline]] void enqueue(View key, V& value, bool view = true) {
    auto& e = queue_->entries[queue_->size];
    if constexpr (kStringKey) {
      const char* data = key.data();
      if (view && !key.empty() && detail::may_load16(data)) {
        // Hide where `data` points from the compiler, which may see a
        // shorter object there (a literal) and would take the wide load
        // for a bug of ours (it is not one: see may_load16).
        asm("" : "+r"(data));
        e.key = detail::KeyTable<K, V>::pack(std::string_view(data, key.size()), true);
      } else {
        e.key = detail::KeyTable<K, V>::pack(key, false);
      }
    } else {
      e.key = detail::KeyTable<K, V>::pack(key);
    }
    e.value = std::move(value);
    if (++queue_->size == queue_->kCapacity) emitter_->flush_queue();
  }

  Sink sink_;
  detail::Emitter<K, V>* emitter_ = nullptr;  // when set, instead of sink_
  detail::EmitQueue<K, V>* queue_ = nullptr;  // when set, packable keys go there first
  const JobOptions* options_;
  TaskCounters* counters_;
  ChunkInfo chunk_;
  std::uint32_t partition_ = 0, partitions_ = 0;
};

class Record;

template <class K, class V, class OutK = K, class OutV = V>
struct MapReduceJob {
  using Key = K;
  using Value = V;
  using OutKey = OutK;
  using OutValue = OutV;
  using Context = mr::Context<K, V>;
  using ReduceContext = mr::Context<OutK, OutV>;
  static_assert(Serializable<K> && Serializable<V> && Serializable<OutK> && Serializable<OutV>,
                "mr::MapReduceJob<K, V, OutK, OutV>: every type must be serializable "
                "(see mr/base/serialize.h)");
};

namespace detail {

template <class J>
concept MapsChunks = requires(J& j, std::string_view s, typename J::Context& c) {
  j.map(s, c);
};
template <class J>
concept MapsLines = requires(J& j, std::string_view s, std::uint64_t n, typename J::Context& c) {
  j.map_line(s, n, c);
};
template <class J>
concept Combines = requires(const J& j, const typename J::Value& a, const typename J::Value& b) {
  { j.combine(a, b) } -> std::convertible_to<typename J::Value>;
};
template <class J>
concept CombinesInto = requires(J& j, typename J::Value& acc, typename J::Value&& incoming) {
  j.combine_into(acc, std::move(incoming));
};
template <class J>
concept HasCombiner = Combines<J> || CombinesInto<J>;
template <class J>
concept Reduces = requires(J& j, const typename J::Key& k, std::span<const typename J::Value> vs,
                           typename J::ReduceContext& c) {
  j.reduce(k, vs, c);
};
template <class J>
concept HasSetup = requires(J& j, const JobOptions& o) {
  j.setup(o);
};
template <class J>
concept HasTeardown = requires(J& j) {
  j.teardown();
};
template <class J>
concept Partitions = requires(const J& j, const typename J::Key& k, unsigned n) {
  { j.partition(k, n) } -> std::convertible_to<unsigned>;
};
template <class J>
concept Orders = requires(const J& j, const typename J::OutKey& k, const typename J::OutValue& v) {
  { j.before(k, v, k, v) } -> std::convertible_to<bool>;
};
template <class J>
concept Formats = requires(const J& j, const typename J::OutKey& k, const typename J::OutValue& v) {
  { j.format(k, v) } -> std::convertible_to<std::string>;
};
template <class J>
concept MakesRecords = requires(const J& j, const typename J::OutKey& k,
                                const typename J::OutValue& v, Record& r) {
  j.record(k, v, r);
  { J::columns() } -> std::convertible_to<std::vector<std::string>>;
};
template <class J>
concept DeclaresOptions = requires {
  { J::options() } -> std::convertible_to<std::vector<OptionSpec>>;
};
template <class J>
concept WantsLineNumbers = requires {
  requires J::kLineNumbers;
};
template <class J>
concept PrefersReducers = requires {
  { J::kReducers } -> std::convertible_to<unsigned>;
};

// A member named like a hook but matching none of its signatures would be
// silently ignored (a reduce taking a vector made the job map-only), and so
// would a hook under a near-miss name: both are compile-time errors,
// checked by check_hooks<J>() below. Only member functions (static or not)
// count, and only when the name is not overloaded and not a template; other
// members are left to the hook concepts alone.
template <class P>
concept FunctionPointer =
    std::is_member_function_pointer_v<P> || std::is_function_v<std::remove_pointer_t<P>>;
#define MR_DETAIL_NAMES_MEMBER(member)              \
  template <class J>                                \
  concept Names_##member = requires {               \
    requires FunctionPointer<decltype(&J::member)>; \
  };
MR_DETAIL_NAMES_MEMBER(map)
MR_DETAIL_NAMES_MEMBER(map_line)
MR_DETAIL_NAMES_MEMBER(combine)
MR_DETAIL_NAMES_MEMBER(combine_into)
MR_DETAIL_NAMES_MEMBER(reduce)
MR_DETAIL_NAMES_MEMBER(partition)
MR_DETAIL_NAMES_MEMBER(format)
MR_DETAIL_NAMES_MEMBER(before)
MR_DETAIL_NAMES_MEMBER(setup)
MR_DETAIL_NAMES_MEMBER(teardown)
MR_DETAIL_NAMES_MEMBER(options)
MR_DETAIL_NAMES_MEMBER(reduces)
MR_DETAIL_NAMES_MEMBER(reducer)
MR_DETAIL_NAMES_MEMBER(Reduce)
MR_DETAIL_NAMES_MEMBER(Map)
MR_DETAIL_NAMES_MEMBER(mapper)
MR_DETAIL_NAMES_MEMBER(map_lines)
MR_DETAIL_NAMES_MEMBER(combiner)
MR_DETAIL_NAMES_MEMBER(Combine)
MR_DETAIL_NAMES_MEMBER(set_up)
MR_DETAIL_NAMES_MEMBER(tear_down)
#undef MR_DETAIL_NAMES_MEMBER

template <class J>
constexpr bool check_hooks() {
  static_assert(!Names_map<J> || MapsChunks<J>,
                "mr::MapReduceJob: map() does not match: expected "
                "void map(std::string_view chunk, Context& ctx)");
  static_assert(!Names_map_line<J> || MapsLines<J>,
                "mr::MapReduceJob: map_line() does not match: expected "
                "void map_line(std::string_view line, std::uint64_t line_number, Context& ctx)");
  static_assert(!Names_combine<J> || Combines<J>,
                "mr::MapReduceJob: combine() does not match: expected "
                "Value combine(const Value& a, const Value& b) const");
  static_assert(!Names_combine_into<J> || CombinesInto<J>,
                "mr::MapReduceJob: combine_into() does not match: expected "
                "void combine_into(Value& acc, Value&& incoming)");
  static_assert(!Names_reduce<J> || Reduces<J>,
                "mr::MapReduceJob: reduce() does not match: expected "
                "void reduce(const Key& key, std::span<const Value> values, ReduceContext& ctx)");
  static_assert(!Names_partition<J> || Partitions<J>,
                "mr::MapReduceJob: partition() does not match: expected "
                "unsigned partition(const Key& key, unsigned partitions) const");
  static_assert(!Names_format<J> || Formats<J>,
                "mr::MapReduceJob: format() does not match: expected "
                "std::string format(const OutKey& key, const OutValue& value) const");
  static_assert(
      !Names_before<J> || Orders<J>,
      "mr::MapReduceJob: before() does not match: expected "
      "bool before(const OutKey&, const OutValue&, const OutKey&, const OutValue&) const");
  static_assert(!Names_setup<J> || HasSetup<J>,
                "mr::MapReduceJob: setup() does not match: expected "
                "void setup(const mr::JobOptions& options)");
  static_assert(!Names_teardown<J> || HasTeardown<J>,
                "mr::MapReduceJob: teardown() does not match: expected void teardown()");
  static_assert(!Names_options<J> || DeclaresOptions<J>,
                "mr::MapReduceJob: options() does not match: expected "
                "static std::vector<mr::OptionSpec> options()");
  static_assert(!Names_reduces<J> && !Names_reducer<J> && !Names_Reduce<J>,
                "mr::MapReduceJob: a member named like reduce (reduces, reducer, Reduce) is not a "
                "hook: name it reduce, as void reduce(const Key& key, std::span<const Value> "
                "values, ReduceContext& ctx), or rename it if it is not meant to be one");
  static_assert(!Names_Map<J> && !Names_mapper<J> && !Names_map_lines<J>,
                "mr::MapReduceJob: a member named like map (Map, mapper, map_lines) is not a "
                "hook: name it map(std::string_view chunk, Context& ctx) or "
                "map_line(std::string_view line, std::uint64_t line_number, Context& ctx)");
  static_assert(!Names_combiner<J> && !Names_Combine<J>,
                "mr::MapReduceJob: a member named like combine (combiner, Combine) is not a "
                "hook: name it combine, as Value combine(const Value& a, const Value& b) const");
  static_assert(!Names_set_up<J> && !Names_tear_down<J>,
                "mr::MapReduceJob: set_up/tear_down are not hooks: name them "
                "setup(const mr::JobOptions&) and teardown()");
  return true;
}

template <class T>
concept LessComparable = requires(const T& a, const T& b) {
  { a < b } -> std::convertible_to<bool>;
};
template <class T>
concept StdHashable = requires(const T& t) {
  { std::hash<T>{}(t) } -> std::convertible_to<std::size_t>;
};
template <class T>
concept EqualityComparable = requires(const T& a, const T& b) {
  { a == b } -> std::convertible_to<bool>;
};
template <class T>
concept Streamable = requires(std::ostream& os, const T& v) {
  os << v;
};

// True when append_text can write a T: strings, numbers, bool, pairs and
// containers of such, and anything with an operator<<.
template <class T>
constexpr bool has_text() {
  if constexpr (std::is_convertible_v<const T&, std::string_view> || std::is_arithmetic_v<T>) {
    return true;
  } else if constexpr (requires(const T& v) {
                         v.first;
                         v.second;
                       }) {
    return has_text<std::remove_cvref_t<decltype(std::declval<const T&>().first)>>() &&
           has_text<std::remove_cvref_t<decltype(std::declval<const T&>().second)>>();
  } else if constexpr (requires(const T& v) {
                         typename T::value_type;
                         v.begin();
                         v.end();
                       }) {
    return has_text<typename T::value_type>();
  } else {
    return Streamable<T>;
  }
}

// Hash of a key, the same in every process of a job (it depends only on the
// key's serialized bytes or its std::hash, both deterministic for one build).
template <class K>
struct KeyHash {
  std::size_t operator()(const K& k) const {
    if constexpr (std::is_same_v<K, std::string>) {
      return WordCounter::hash(k);
    } else if constexpr (std::is_integral_v<K>) {
      return static_cast<std::size_t>(static_cast<std::uint64_t>(k) * 0x9E3779B97F4A7C15ull);
    } else if constexpr (StdHashable<K>) {
      return std::hash<K>{}(k)*0x9E3779B97F4A7C15ull;
    } else {
      return WordCounter::hash(to_bytes(k));
    }
  }
};

// Default text of a value for output lines.
template <class T>
void append_text(std::string& out, const T& v) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out += std::string_view(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(v);
  } else if constexpr (std::is_floating_point_v<T>) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", static_cast<double>(v));
    out += buf;
  } else if constexpr (requires {
                         v.first;
                         v.second;
                       }) {
    append_text(out, v.first);
    out += ' ';
    append_text(out, v.second);
  } else if constexpr (requires {
                         v.begin();
                         v.end();
                       }) {
    bool first = true;
    for (const auto& e : v) {
      if (!first) out += ',';
      first = false;
      append_text(out, e);
    }
  } else {
    static_assert(Streamable<T>,
                  "mr::MapReduceJob: an output key or value of a user type needs "
                  "`std::ostream& operator<<(std::ostream&, const T&)` for its text form "
                  "(the default output line, --format csv|json), or the job defines both "
                  "format() and columns() + record()");
    if constexpr (Streamable<T>) {  // (no second error after the assertion's)
      std::ostringstream os;
      os << v;
      out += os.str();
    }
  }
}

// Approximate heap bytes of a value for the map table's memory accounting.
// Strings count their size; containers their elements (capacity() for
// contiguous ones, plus a node's overhead otherwise) and, recursively, what
// the elements hold; pairs both halves; anything else nothing.
template <class T>
std::size_t heap_bytes(const T& v);

// The container itself, without what its elements hold: O(1).
template <class T>
std::size_t shallow_heap_bytes(const T& v) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return std::string_view(v).size();
  } else if constexpr (requires { v.capacity(); }) {
    return v.capacity() * sizeof(typename T::value_type);
  } else if constexpr (requires { v.data(); }) {
    return 0;  // std::array and the like: the elements are inside the object
  } else {
    return v.size() * (sizeof(typename T::value_type) + 32);
  }
}

template <class T>
concept HeapContainer = !std::is_convertible_v<const T&, std::string_view> && requires(const T& v) {
  typename T::value_type;
  v.begin();
  v.end();
  { v.size() } -> std::convertible_to<std::size_t>;
};

// What the elements of a container hold (0 for elements of arithmetic type).
template <class T>
std::size_t element_heap_bytes(const T& v) {
  std::size_t n = 0;
  if constexpr (!std::is_arithmetic_v<typename T::value_type>)
    for (const auto& e : v) n += heap_bytes(e);
  return n;
}

template <class T>
std::size_t heap_bytes(const T& v) {
  if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
    return 0;
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    return shallow_heap_bytes(v);
  } else if constexpr (requires {
                         v.first;
                         v.second;
                       }) {
    return heap_bytes(v.first) + heap_bytes(v.second);
  } else if constexpr (HeapContainer<T>) {
    return shallow_heap_bytes(v) + element_heap_bytes(v);
  } else {
    return 0;
  }
}

// A value as a CSV field: its text form (append_text), quoted when needed.
template <class T>
void append_csv_value(std::string& out, const T& v) {
  std::string text;
  append_text(text, v);
  append_csv_field(out, text);
}

// A value as JSON: a number for integers and finite floating-point values,
// true/false for bool, otherwise its text form (append_text) as a string.
template <class T>
void append_json_value(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, bool> || std::is_integral_v<T>) {
    append_text(out, v);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (std::isfinite(v)) {
      append_text(out, v);
    } else {
      std::string text;
      append_text(text, v);
      append_json_string(out, text);
    }
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    append_json_string(out, std::string_view(v));
  } else {
    std::string text;
    append_text(text, v);
    append_json_string(out, text);
  }
}

}  // namespace detail

// One output record's named fields, for --format csv and json (the job's
// `record` hook). Values are rendered as for the default records: numbers
// stay numbers in JSON, anything else is its text form.
class Record {
 public:
  template <class T>
  Record& field(std::string_view name, const T& value) {
    Field f;
    f.name = name;
    detail::append_csv_value(f.csv, value);
    detail::append_json_value(f.json, value);
    fields_.push_back(std::move(f));
    return *this;
  }

  // Internal (TypedJob::write_output).
  struct Field {
    std::string name, csv, json;
  };
  const std::vector<Field>& fields() const noexcept { return fields_; }
  void clear() noexcept { fields_.clear(); }

 private:
  std::vector<Field> fields_;
};

namespace detail {

// The run format between a typed job's MapTask and ReduceTask (internal to
// one job: the engine only moves the bytes, and write_output reads the
// reducers' results, not these runs). A run is a sequence of records, each
// the key then the value as mr/base/serialize.h saves them (a string: its
// 8-byte length, then its bytes; an integer: its native bytes), with no
// header and nothing between records. When the key type has operator<, the
// map side writes each run's records in ascending key order and the reducer
// merges the runs; a run out of order is still read correctly (the reducer
// sorts it first). These two functions are the only places that write or
// read a record.
template <class K, class V>
void write_run_record(Writer& w, const KeyView<K>& key, const V& value) {
  save(w, key);
  save(w, value);
}
// Reads the next record of a run; a string key is a view into the run's
// bytes. Throws SerializationError on a truncated record.
template <class K, class V>
void read_run_record(Reader& r, KeyView<K>& key, V& value) {
  if constexpr (std::is_same_v<K, std::string>) {
    key = r.view_bytes(load_size(r));
  } else {
    load(r, key);
  }
  load(r, value);
}

template <class J>
class TypedMapTask : public MapTask, private Emitter<typename J::Key, typename J::Value> {
  using K = typename J::Key;
  using V = typename J::Value;
  using View = KeyView<K>;
  static_assert(!HasCombiner<J> || EqualityComparable<K>,
                "mr::MapReduceJob: a job with combine or combine_into needs operator== on its "
                "key type (the mapper's table finds keys by hash and ==)");
  // With a combiner, string and integral keys go to the flat KeyTable
  // (values combined in place, a string key by view, copied once), other
  // keys to a std::unordered_map; without one, pairs are buffered.
  static constexpr bool kFlat = HasCombiner<J> && FlatKey<K>;
  // table_ when there is no flat table (kFlat false).
  struct NoTable {
    using Packed = int;
    void clear() noexcept {}
  };
  static constexpr bool kStringKey = std::is_same_v<K, std::string>;
  using Table = std::conditional_t<kFlat, KeyTable<std::conditional_t<kFlat, K, int>, V>, NoTable>;
  using Queue = std::conditional_t<kFlat, EmitQueue<K, V>, NoTable>;

 public:
  // `job`: the worker's copy of the job, set up (TypedJob::start_worker).
  TypedMapTask(std::shared_ptr<J> job, const JobOptions& options)
      : owner_(std::move(job)),
        job_(*owner_),
        options_(options),
        ctx_(static_cast<Emitter<K, V>&>(*this), options_, counters_) {
    if constexpr (kFlat) ctx_.set_queue(&queue_);
  }

  void map(std::string_view chunk, const ChunkInfo& info) override {
    ctx_.set_chunk(info);
    chunk_begin_ = reinterpret_cast<std::uintptr_t>(chunk.data());
    chunk_end_ = chunk_begin_ + chunk.size();
    if constexpr (MapsLines<J>) {
      std::uint64_t line = info.first_line;
      while (!chunk.empty()) {
        std::size_t nl = chunk.find('\n');
        std::string_view text = chunk.substr(0, nl);
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        job_.map_line(text, line, ctx_);
        ++counters_.records;
        if (line) ++line;
        if (nl == std::string_view::npos) break;
        chunk.remove_prefix(nl + 1);
      }
    } else {
      static_assert(MapsChunks<J>,
                    "a job needs map(std::string_view, Context&) or "
                    "map_line(std::string_view, std::uint64_t, Context&)");
      job_.map(chunk, ctx_);
      ++counters_.records;
    }
    if constexpr (kFlat) flush_queue();
  }

  std::vector<std::size_t> partition_sizes(unsigned partitions) const override {
    std::vector<Writer> writers(partitions);
    if constexpr (kFlat) {
      // Each partition's records in key order (the reducer merges runs).
      std::vector<std::vector<std::pair<View, const V*>>> parts(partitions);
      table_.for_each(
          [&](View k, const V& v) { parts[partition_of(k, partitions)].emplace_back(k, &v); });
      for (unsigned p = 0; p < partitions; ++p) {
        auto& entries = parts[p];
        sort_by_key(entries);
        for (const auto& [k, v] : entries) write_run_record<K>(writers[p], k, *v);
      }
    } else {
      auto put = [&](const K& k, const V& v) {
        write_run_record<K>(writers[partition_of(k, partitions)], k, v);
      };
      if constexpr (HasCombiner<J>) {
        for (const auto& [k, v] : combined_) put(k, v);
      } else {
        for (const auto& [k, v] : pairs_) put(k, v);
      }
    }
    parts_.assign(partitions, std::string());
    std::vector<std::size_t> sizes;
    for (unsigned p = 0; p < partitions; ++p) {
      parts_[p] = std::move(writers[p].buffer());
      sizes.push_back(parts_[p].size());
    }
    return sizes;
  }

  void write_partitions(unsigned partitions, std::span<const std::span<std::byte>> out) override {
    if (parts_.size() != partitions) partition_sizes(partitions);
    for (unsigned p = 0; p < partitions; ++p)
      std::memcpy(out[p].data(), parts_[p].data(), parts_[p].size());
    parts_ = {};
    table_.clear();
    combined_ = {};
    pairs_ = {};
    bytes_ = 0;
  }

  std::size_t memory_bytes() const override { return bytes_; }
  TaskCounters take_counters() override { return std::exchange(counters_, {}); }

 private:
  // Emitter: what ctx_.emit() calls.
  void emit(K&& k, V&& v) override {
    if constexpr (kFlat) {
      // Not packed by two 16-byte masked loads although a std::string's
      // buffer has them: its bytes were most likely just copied in by
      // small stores, and loads that straddle those stall (store
      // forwarding); pack_short_key's overlapping loads mirror the copy's
      // stores instead.
      add_flat(View(k), std::move(v));
    } else {
      add(std::move(k), std::move(v));
    }
  }
  void emit_view(std::string_view k, V&& v) override {
    if constexpr (kFlat && std::is_same_v<View, std::string_view>) {
      // A view into the chunk (a word of the input) with 16 bytes after it.
      const auto at = reinterpret_cast<std::uintptr_t>(k.data());
      add_flat(k, std::move(v), at >= chunk_begin_ && at + 16 <= chunk_end_);
    } else if constexpr (std::is_constructible_v<K, std::string_view>) {
      add(K(k), std::move(v));
    }
  }

  unsigned partition_of(const View& k, unsigned partitions) const {
    if constexpr (Partitions<J>) {
      unsigned p;
      if constexpr (std::is_same_v<View, K>) {
        p = job_.partition(k, partitions);
      } else {
        key_.assign(k);
        p = job_.partition(key_, partitions);
      }
      return p < partitions ? p : p % partitions;
    } else if constexpr (std::is_same_v<K, std::string>) {
      return WordCounter::partition_of(WordCounter::hash(k), partitions);  // KeyHash<std::string>
    } else {
      return WordCounter::partition_of(KeyHash<K>{}(k), partitions);
    }
  }
  // What a new table entry costs: the node, the key and the value with
  // what they hold.
  static std::size_t weight(std::size_t key_bytes, const V& v) {
    return sizeof(K) + sizeof(V) + 32 + key_bytes + heap_bytes(v);
  }
  // Merges `incoming` into `acc` with the job's combiner and counts what
  // `acc` grew by. For a container value the growth is measured in O(1)
  // plus a walk of `incoming` (never of `acc`, which may be long): the
  // container's own growth, plus, per element added, the average of what
  // an incoming element holds. Other values are weighed before and after.
  void merge(V& acc, V&& incoming) {
    auto combine = [&] {
      if constexpr (CombinesInto<J>) {
        job_.combine_into(acc, std::move(incoming));
      } else {
        acc = job_.combine(std::as_const(acc), std::as_const(incoming));
      }
    };
    if constexpr (std::is_arithmetic_v<V>) {
      combine();
    } else if constexpr (HeapContainer<V>) {
      const std::size_t shallow_before = shallow_heap_bytes(acc), size_before = acc.size();
      const std::size_t in_size = incoming.size(), in_elements = element_heap_bytes(incoming);
      combine();
      const std::size_t shallow_after = shallow_heap_bytes(acc), size_after = acc.size();
      if (shallow_after > shallow_before) bytes_ += shallow_after - shallow_before;
      if (size_after > size_before && in_size)
        bytes_ += (size_after - size_before) * in_elements / in_size;
    } else {
      const std::size_t before = heap_bytes(acc);
      combine();
      const std::size_t after = heap_bytes(acc);
      if (after > before) bytes_ += after - before;
    }
  }
  // The flat table's emit of a key the context did not queue (a string key
  // too long to pack, or a pair emitted before set_queue).
  // `readable16`: see KeyTable::pack.
  void add_flat(View k, V&& v, bool readable16 = false) {
    ++counters_.emitted;
    bool inserted;
    V& acc = table_.find_or_insert(k, inserted, readable16);
    settle(acc, inserted, key_bytes(k), std::move(v));
  }
  // Adds the queued emits, in order (pairs of one key meet the combiner in
  // the order they were emitted): the table's cache misses overlap when
  // every slot is prefetched first.
  // If the table or the job's combiner throws, the entries not yet added
  // are dropped (the queue is empty and usable again) and the exception
  // goes on out of the emit that filled the queue, or out of map().
  void flush_queue() override {
    if constexpr (kFlat) {
      const std::size_t n = std::exchange(queue_.size, 0);
      counters_.emitted += n;
      for (std::size_t i = 0; i < n; ++i) table_.prefetch(queue_.entries[i].key.hash);
      for (std::size_t i = 0; i < n; ++i) {
        auto& e = queue_.entries[i];
        bool inserted;
        V& acc = table_.find_or_insert(e.key, inserted);
        settle(acc, inserted, kStringKey ? e.key.tag - 1 : 0, std::move(e.value));
      }
    }
  }
  static std::size_t key_bytes(const View& k) {
    if constexpr (kStringKey) {
      return k.size();
    } else {
      return 0;
    }
  }
  void settle(V& acc, bool inserted, std::size_t key_bytes, V&& v) {
    if (inserted) {
      bytes_ += weight(key_bytes, v);
      acc = std::move(v);
    } else {
      merge(acc, std::move(v));
    }
  }
  void add(K&& k, V&& v) {
    ++counters_.emitted;
    if constexpr (HasCombiner<J>) {
      auto it = combined_.find(k);
      if (it == combined_.end()) {
        bytes_ += weight(heap_bytes(k), v);
        combined_.emplace(std::move(k), std::move(v));
      } else {
        merge(it->second, std::move(v));
      }
    } else {
      bytes_ += weight(heap_bytes(k), v);
      pairs_.emplace_back(std::move(k), std::move(v));
    }
  }

  std::shared_ptr<J> owner_;
  J& job_;
  JobOptions options_;
  TaskCounters counters_;
  typename J::Context ctx_;
  Table table_;
  Queue queue_;                                     // emits not yet in table_ (kFlat)
  std::uintptr_t chunk_begin_ = 0, chunk_end_ = 0;  // the chunk being mapped
  std::unordered_map<K, V, KeyHash<K>> combined_;   // a combiner, other keys
  std::vector<std::pair<K, V>> pairs_;              // no combiner
  std::size_t bytes_ = 0;
  mutable std::vector<std::string> parts_;
  mutable std::conditional_t<std::is_same_v<K, std::string>, std::string, std::monostate> key_;
};

// Output order of (key, value) pairs.
template <class J>
bool output_before(const J& job, const typename J::OutKey& ka, const typename J::OutValue& va,
                   const typename J::OutKey& kb, const typename J::OutValue& vb) {
  if constexpr (Orders<J>) {
    return job.before(ka, va, kb, vb);
  } else {
    if constexpr (LessComparable<typename J::OutKey>) {
      if (ka < kb) return true;
      if (kb < ka) return false;
    }
    if constexpr (LessComparable<typename J::OutValue>) return va < vb;
    return false;
  }
}

template <class J>
class TypedReduceTask : public ReduceTask,
                        private Emitter<typename J::OutKey, typename J::OutValue> {
  using K = typename J::Key;
  using V = typename J::Value;
  using OK = typename J::OutKey;
  using OV = typename J::OutValue;
  using View = KeyView<K>;
  static_assert(LessComparable<K> || EqualityComparable<K>,
                "mr::MapReduceJob: the key type needs operator< (keys are then reduced in "
                "order) or operator== (keys are then grouped by hash)");
  static_assert(std::is_default_constructible_v<K> && std::is_default_constructible_v<V>,
                "mr::MapReduceJob: keys and values must be default-constructible (they are "
                "loaded into default-constructed objects)");

 public:
  // `job`: the worker's copy of the job, set up (TypedJob::start_worker).
  TypedReduceTask(std::shared_ptr<J> job, const JobOptions& options)
      : owner_(std::move(job)), job_(*owner_), options_(options) {}
  void set_partition(std::uint32_t partition, std::uint32_t partitions) override {
    partition_ = partition;
    partitions_ = partitions;
  }
  // With operator< on the key, the run's records (string keys as views into
  // it) are kept in key order for the merge in finish(); otherwise they are
  // grouped by hash at once.
  void add_run(std::string_view run) override {
    Reader r(run);
    if constexpr (LessComparable<K>) {
      SortedRun sorted;
      bool in_order = true;
      while (!r.at_end()) {
        View k{};
        V v{};
        read_run_record<K>(r, k, v);
        if (!sorted.keys.empty() && k < sorted.keys.back()) in_order = false;
        sorted.keys.push_back(std::move(k));
        sorted.values.push_back(std::move(v));
      }
      if (!in_order) sort_run(sorted);
      if (!sorted.keys.empty()) runs_.push_back(std::move(sorted));
    } else {
      while (!r.at_end()) {
        K k;
        V v;
        read_run_record<K>(r, k, v);
        hashed_[std::move(k)].push_back(std::move(v));
      }
    }
  }
  std::string finish() override {
    typename J::ReduceContext ctx(static_cast<Emitter<OK, OV>&>(*this), options_, counters_);
    ctx.set_partition(partition_, partitions_);
    auto each = [&](const K& k, std::vector<V>& vs) {
      ++keys_;
      if constexpr (Reduces<J>) {
        try {
          job_.reduce(k, std::span<const V>(vs.data(), vs.size()), ctx);
        } catch (const std::exception& e) {
          // Name the key when it has a text form: "key 'x': what".
          if constexpr (has_text<K>()) {
            std::string text;
            append_text(text, k);
            if (text.size() > 80) text = text.substr(0, 77) + "...";
            throw std::runtime_error("key '" + text + "': " + e.what());
          } else {
            throw;
          }
        }
      } else {
        static_assert(std::is_same_v<K, OK> && std::is_same_v<V, OV>,
                      "a map-only job (no reduce) has OutKey = Key and OutValue = Value");
        for (auto& v : vs) out_.emplace_back(k, std::move(v));
      }
    };
    if constexpr (LessComparable<K>) {
      merge_runs(each);
    } else {
      for (auto& [k, vs] : hashed_) each(k, vs);
    }
    auto order = [this](const auto& a, const auto& b) {
      return output_before(job_, a.first, a.second, b.first, b.second);
    };
    // Often already in order (keys reduced in order, output by key).
    if (!std::is_sorted(out_.begin(), out_.end(), order))
      std::stable_sort(out_.begin(), out_.end(), order);
    Writer w;
    for (const auto& [k, v] : out_) {
      save(w, k);
      save(w, v);
    }
    out_ = {};
    return std::move(w.buffer());
  }
  std::uint64_t keys() const override { return keys_; }
  TaskCounters take_counters() override { return std::exchange(counters_, {}); }

 private:
  // One run's records in key order (equal keys in the run's order).
  struct SortedRun {
    std::vector<View> keys;
    std::vector<V> values;
  };

  void emit(OK&& k, OV&& v) override { out_.emplace_back(std::move(k), std::move(v)); }

  static void sort_run(SortedRun& run) {
    std::vector<std::size_t> order(run.keys.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return run.keys[a] < run.keys[b]; });
    SortedRun sorted;
    sorted.keys.reserve(order.size());
    sorted.values.reserve(order.size());
    for (std::size_t i : order) {
      sorted.keys.push_back(std::move(run.keys[i]));
      sorted.values.push_back(std::move(run.values[i]));
    }
    run = std::move(sorted);
  }

  // Calls each(key, values) once per distinct key of the runs, in key
  // order; a key's values come run by run in the order the runs were
  // added (what one std::map of lists gave), each run's in its order.
  template <class F>
  void merge_runs(F&& each) {
    std::vector<std::size_t> at(runs_.size(), 0);  // each run's head
    // A min-heap of runs by (head key, run index).
    auto later = [&](std::size_t a, std::size_t b) {
      const View& ka = runs_[a].keys[at[a]];
      const View& kb = runs_[b].keys[at[b]];
      if (kb < ka) return true;
      if (ka < kb) return false;
      return a > b;
    };
    std::vector<std::size_t> heap;
    for (std::size_t i = 0; i < runs_.size(); ++i) heap.push_back(i);
    std::make_heap(heap.begin(), heap.end(), later);
    K key{};
    std::vector<V> group;
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      std::size_t r = heap.back();
      heap.pop_back();
      const View current = runs_[r].keys[at[r]];
      group.clear();
      for (;;) {
        SortedRun& run = runs_[r];
        do {
          group.push_back(std::move(run.values[at[r]]));
          ++at[r];
        } while (at[r] < run.keys.size() && !(current < run.keys[at[r]]));
        if (at[r] < run.keys.size()) {
          heap.push_back(r);
          std::push_heap(heap.begin(), heap.end(), later);
        }
        if (heap.empty() || current < runs_[heap.front()].keys[at[heap.front()]]) break;
        std::pop_heap(heap.begin(), heap.end(), later);
        r = heap.back();
        heap.pop_back();
      }
      if constexpr (std::is_same_v<View, K>) {
        key = current;
      } else {
        key.assign(current);
      }
      each(key, group);
    }
    runs_ = {};
  }

  std::shared_ptr<J> owner_;
  J& job_;
  JobOptions options_;
  TaskCounters counters_;  // ctx.count() in reduce
  std::uint32_t partition_ = 0, partitions_ = 0;
  std::vector<SortedRun> runs_;                               // keys with operator<
  std::unordered_map<K, std::vector<V>, KeyHash<K>> hashed_;  // keys with == only
  std::vector<std::pair<OK, OV>> out_;                        // what reduce emitted
  std::uint64_t keys_ = 0;
};

// One set-up copy of J: setup() ran when it was made (if J has one), and
// teardown() runs at most once: by teardown() (a worker's stop()), or when
// the last holder lets it go, unless a holder abandoned it (a worker whose
// task failed: no teardown then).
template <class J>
struct SetUpJob {
  J job;
  bool done = false;  // torn down or abandoned

  // Throws what setup() throws (nothing is torn down then).
  SetUpJob(J j, const JobOptions& options) : job(std::move(j)) {
    if constexpr (HasSetup<J>) job.setup(options);
  }
  SetUpJob(const SetUpJob&) = delete;
  SetUpJob& operator=(const SetUpJob&) = delete;
  void teardown() {
    if (std::exchange(done, true)) return;
    if constexpr (HasTeardown<J>) job.teardown();
  }
  void abandon() noexcept { done = true; }
  ~SetUpJob() {
    if (done) return;
    // A destructor must not throw (it would end the program): a teardown()
    // that throws here is reported and otherwise ignored.
    try {
      teardown();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "mapreduce: teardown() failed: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "mapreduce: teardown() failed\n");
    }
  }
};

// The streaming record codec of J (mr/job_api/typed_record_codec.h).
template <class J>
std::unique_ptr<RecordCodec> make_typed_record_codec(std::shared_ptr<J> job);

// One worker's job object: it holds that worker's set-up copy of J, which
// its tasks share; stop() tears it down, destruction without stop()
// abandons it.
template <class J>
class TypedWorkerJob : public WorkerJob {
 public:
  TypedWorkerJob(std::shared_ptr<SetUpJob<J>> job, const JobOptions& options)
      : job_(std::move(job)), options_(options) {}
  TypedWorkerJob(const TypedWorkerJob&) = delete;
  TypedWorkerJob& operator=(const TypedWorkerJob&) = delete;
  ~TypedWorkerJob() override {
    if (!stopped_) job_->abandon();
  }
  std::unique_ptr<MapTask> make_map_task() override {
    return std::make_unique<TypedMapTask<J>>(std::shared_ptr<J>(job_, &job_->job), options_);
  }
  std::unique_ptr<ReduceTask> make_reduce_task() override {
    return std::make_unique<TypedReduceTask<J>>(std::shared_ptr<J>(job_, &job_->job), options_);
  }
  std::unique_ptr<RecordCodec> make_record_codec() override {
    return make_typed_record_codec<J>(std::shared_ptr<J>(job_, &job_->job));
  }
  void stop() override {
    stopped_ = true;
    job_->teardown();
  }

 private:
  std::shared_ptr<SetUpJob<J>> job_;
  JobOptions options_;
  bool stopped_ = false;
};

template <class J>
class TypedJob : public Job {
  using OK = typename J::OutKey;
  using OV = typename J::OutValue;
  static_assert(check_hooks<J>());

 public:
  // Checks the options and runs J's setup() on the master's copy (so bad
  // options fail early, and format(), before() and record() run on a set-up
  // job). Throws std::invalid_argument, or what setup() throws.
  TypedJob(std::string name, J job, JobOptions options)
      : name_(std::move(name)),
        pristine_(job),
        options_(checked(std::move(options))),
        job_(std::make_shared<SetUpJob<J>>(std::move(job), options_)) {}

  // A worker's job object. kCopy (a forked worker, whose job_ is a copy of
  // the master's, set up there): a fresh copy of the job as it was before
  // any setup(), set up here: one setup() per worker. kMadeHere (this
  // process made the job for this worker): the constructor's setup is the
  // worker's, and the worker's stop() is its teardown.
  std::unique_ptr<WorkerJob> start_worker(WorkerOrigin origin) const override {
    if (origin == WorkerOrigin::kMadeHere)
      return std::make_unique<TypedWorkerJob<J>>(job_, options_);
    return std::make_unique<TypedWorkerJob<J>>(std::make_shared<SetUpJob<J>>(pristine_, options_),
                                               options_);
  }
  std::string_view name() const override { return name_; }
  std::size_t split_point(std::string_view data, std::size_t near) const override {
    if constexpr (MapsLines<J>) {
      std::size_t nl = data.find('\n', near == 0 ? 0 : near - 1);
      return nl == std::string_view::npos ? data.size() : nl + 1;
    } else {
      // A cut right after ASCII whitespace never splits a token.
      for (std::size_t p = near; p < data.size(); ++p) {
        char c = data[p - 1];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') return p;
      }
      return data.size();
    }
  }
  bool wants_line_numbers() const override { return WantsLineNumbers<J>; }
  bool map_only() const override { return !Reduces<J>; }
  unsigned preferred_reducers() const override {
    if constexpr (PrefersReducers<J>) return J::kReducers;
    return 0;
  }
  std::uint64_t write_output(const std::vector<std::string_view>& runs, const OutputOptions& output,
                             std::FILE* out) const override {
    // One cursor per sorted run: the record at its head.
    struct Head {
      Reader reader;
      OK key{};
      OV value{};
      bool next() {
        if (reader.at_end()) return false;
        load(reader, key);
        load(reader, value);
        return true;
      }
    };
    // The job's order and its lines: format() or key<TAB>value; columns()
    // and record() or key,value for CSV and JSON.
    struct Records {
      J& job;
      Record record;
      std::vector<std::string> columns;
      bool before(const Head& a, const Head& b) const {
        return output_before(job, a.key, a.value, b.key, b.value);
      }
      void csv_header(std::string& line) const {
        if constexpr (MakesRecords<J>) {
          for (std::size_t c = 0; c < columns.size(); ++c) {
            if (c) line += ',';
            append_csv_field(line, columns[c]);
          }
        } else {
          line += "key,value";
        }
      }
      void append(OutputOptions::Format format, const Head& h, std::string& line) {
        using Format = OutputOptions::Format;
        if constexpr (MakesRecords<J>) {
          if (format != Format::kTsv) {
            record.clear();
            job.record(h.key, h.value, record);
          }
        }
        switch (format) {
          case Format::kTsv:
            if constexpr (Formats<J>) {
              line += job.format(h.key, h.value);
            } else {
              append_text(line, h.key);
              line += '\t';
              append_text(line, h.value);
            }
            break;
          case Format::kCsv:
            if constexpr (MakesRecords<J>) {
              // One cell per column, in the columns' order; a field the
              // record does not set is an empty cell.
              for (std::size_t c = 0; c < columns.size(); ++c) {
                if (c) line += ',';
                for (const auto& f : record.fields())
                  if (f.name == columns[c]) {
                    line += f.csv;
                    break;
                  }
              }
            } else {
              append_csv_value(line, h.key);
              line += ',';
              append_csv_value(line, h.value);
            }
            break;
          case Format::kJson:
          case Format::kJsonl:  // the same object (write_sorted_runs passes kJson)
            line += '{';
            if constexpr (MakesRecords<J>) {
              bool first = true;
              for (const auto& f : record.fields()) {
                if (!first) line += ", ";
                first = false;
                append_json_string(line, f.name);
                line += ": ";
                line += f.json;
              }
            } else {
              line += "\"key\": ";
              append_json_value(line, h.key);
              line += ", \"value\": ";
              append_json_value(line, h.value);
            }
            line += '}';
            break;
        }
      }
    } records{job_->job, {}, {}};
    if constexpr (MakesRecords<J>) records.columns = J::columns();
    std::vector<Head> cursors;
    cursors.reserve(runs.size());
    for (auto r : runs) cursors.push_back(Head{Reader(r)});
    return write_sorted_runs(std::move(cursors), records, output, out);
  }

 private:
  static JobOptions checked(JobOptions options) {
    // Only declared options are accepted; a job without options() takes none.
    if constexpr (DeclaresOptions<J>) {
      options.check_known(J::options());
    } else {
      options.check_known({});
    }
    return options;
  }

  std::string name_;
  J pristine_;  // as made, before any setup(): what a forked worker sets up
  JobOptions options_;
  // The master's copy, set up in the constructor; also the worker's copy in
  // a process that made the job for its worker (WorkerOrigin::kMadeHere).
  // Shared: that worker's tasks hold it.
  std::shared_ptr<SetUpJob<J>> job_;
};

}  // namespace detail

// Wraps job type J into the engine's byte-level interface. Throws
// std::invalid_argument for option keys J does not declare in options()
// (any key, when it has no options()), and whatever J::setup throws.
template <class J>
std::unique_ptr<detail::TypedJob<J>> make_job(std::string name, JobOptions options = {},
                                              J job = J{}) {
  return std::make_unique<detail::TypedJob<J>>(std::move(name), std::move(job), std::move(options));
}

}  // namespace mr

// Defines make_typed_record_codec (it needs the concepts above).
#include "mr/job_api/typed_record_codec.h"  // IWYU pragma: export
