// The record codec of a typed job (mr/job_api/record_codec.h): what
// TypedWorkerJob::make_record_codec returns, so that every job written with
// make_job runs as a Hadoop Streaming task without a line of its own.
//
// A typed run is a sequence of save(key), save(value) (mr/base/serialize.h);
// this codec reads and writes it knowing J::Key and J::Value. Streaming
// forms: integral types (bool as 0/1) as decimal text, std::string as its
// bytes, everything else as its serialization. make_run with `combine`
// merges the values of equal keys with J's combine or combine_into, keeping
// the keys in the order they first appear.
//
// Thread-safety: one thread per codec (it calls the worker's copy of J).
// Fork-safety: plain memory.
#pragma once

#include <charconv>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mr/base/serialize.h"
#include "mr/job_api/record_codec.h"
#include "mr/job_api/typed_job.h"

namespace mr::detail {

// A field's streaming form (see the file comment).
template <class T>
void append_streaming_field(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    out += v ? '1' : '0';
  } else if constexpr (std::is_integral_v<T>) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  } else if constexpr (std::is_same_v<T, std::string>) {
    out += v;
  } else {
    Writer w(std::move(out));
    save(w, v);
    out = w.take();
  }
}

// The inverse: throws std::invalid_argument naming `what` (key or value)
// when `text` is not a form of T.
template <class T>
void parse_streaming_field(std::string_view text, T& v, const char* what) {
  if constexpr (std::is_same_v<T, bool>) {
    if (text != "0" && text != "1")
      throw std::invalid_argument(std::string(what) + " '" + std::string(text) +
                                  "' is not 0 or 1 (a bool)");
    v = text == "1";
  } else if constexpr (std::is_integral_v<T>) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
      throw std::invalid_argument(std::string(what) + " '" + std::string(text.substr(0, 40)) +
                                  "' is not a decimal integer of the job's type");
  } else if constexpr (std::is_same_v<T, std::string>) {
    v.assign(text);
  } else {
    try {
      v = from_bytes<T>(text);
    } catch (const SerializationError& e) {
      throw std::invalid_argument(std::string(what) +
                                  " does not decode as the job's type: " + e.what());
    }
  }
}

template <class J>
class TypedRecordCodec : public RecordCodec {
  using K = typename J::Key;
  using V = typename J::Value;

 public:
  // `job`: the worker's set-up copy of J (its combiner is called).
  explicit TypedRecordCodec(std::shared_ptr<J> job) : job_(std::move(job)) {}

  void read_run(std::string_view run,
                const std::function<void(const RecordView&)>& each) const override {
    Reader r(run);
    K k{};
    V v{};
    std::string key, value;
    while (!r.at_end()) {
      load(r, k);
      load(r, v);
      key.clear();
      value.clear();
      append_streaming_field(key, k);
      append_streaming_field(value, v);
      each(RecordView{key, value});
    }
  }

  std::string make_run(std::span<const RecordView> records, bool combine) override {
    std::vector<std::pair<K, V>> pairs;
    pairs.reserve(records.size());
    [[maybe_unused]] std::unordered_map<K, std::size_t, KeyHash<K>> index;
    for (const RecordView& rec : records) {
      K k{};
      V v{};
      parse_streaming_field(rec.key, k, "key");
      parse_streaming_field(rec.value, v, "value");
      if constexpr (HasCombiner<J>) {
        if (combine) {
          auto [it, added] = index.try_emplace(k, pairs.size());
          if (!added) {
            merge(pairs[it->second].second, std::move(v));
            continue;
          }
        }
      }
      pairs.emplace_back(std::move(k), std::move(v));
    }
    Writer w;
    for (const auto& [k, v] : pairs) {
      save(w, k);
      save(w, v);
    }
    return w.take();
  }

 private:
  void merge(V& acc, V&& incoming) {
    if constexpr (CombinesInto<J>) {
      job_->combine_into(acc, std::move(incoming));
    } else if constexpr (Combines<J>) {
      acc = job_->combine(std::as_const(acc), std::as_const(incoming));
    }
  }

  std::shared_ptr<J> job_;
};

template <class J>
std::unique_ptr<RecordCodec> make_typed_record_codec(std::shared_ptr<J> job) {
  return std::make_unique<TypedRecordCodec<J>>(std::move(job));
}

}  // namespace mr::detail
