// JobOptions: the `--opt key=value` settings of one job run, with typed
// getters; OptionSpec: an option a job declares (shown by
// `mapreduce run --job X --help`).
//
// Thread-safety: read-only after construction. Fork-safe (plain values).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mr {

struct OptionSpec {
  std::string name;
  std::string help;
  std::string default_value;  // shown in the help; empty: no default
};

class JobOptions {
 public:
  JobOptions() = default;
  explicit JobOptions(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  // Parses "key=value"; throws std::invalid_argument without '=' or key.
  void add(std::string_view key_equals_value);

  bool has(std::string_view key) const { return values_.find(std::string(key)) != values_.end(); }
  // The value, or `fallback` when the option was not given.
  std::string get(std::string_view key, std::string fallback = "") const;
  // Typed values; a value that does not parse throws std::invalid_argument
  // naming the option ("option 'n': expected an integer, got 'x'").
  long long get_int(std::string_view key, long long fallback) const;
  double get_double(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;  // 1/0, true/false, yes/no, on/off

  const std::map<std::string, std::string>& all() const { return values_; }
  // Throws std::invalid_argument for a key that is not in `known`, listing
  // the known ones (a typo in --opt should not be silently ignored).
  void check_known(const std::vector<OptionSpec>& known) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace mr
