#include "mr/job_api/job_options.h"

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace mr {

void JobOptions::add(std::string_view kv) {
  auto eq = kv.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw std::invalid_argument("--opt expects key=value, got '" + std::string(kv) + "'");
  values_[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
}

std::string JobOptions::get(std::string_view key, std::string fallback) const {
  auto it = values_.find(std::string(key));
  return it == values_.end() ? fallback : it->second;
}

namespace {
[[noreturn]] void bad(std::string_view key, const char* expected, const std::string& value) {
  throw std::invalid_argument("option '" + std::string(key) + "': expected " + expected +
                              ", got '" + value + "'");
}
}  // namespace

long long JobOptions::get_int(std::string_view key, long long fallback) const {
  if (!has(key)) return fallback;
  std::string v = get(key);
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE) bad(key, "an integer", v);
  return n;
}

double JobOptions::get_double(std::string_view key, double fallback) const {
  if (!has(key)) return fallback;
  std::string v = get(key);
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0') bad(key, "a number", v);
  return d;
}

bool JobOptions::get_bool(std::string_view key, bool fallback) const {
  if (!has(key)) return fallback;
  std::string v = get(key);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  bad(key, "true or false", v);
}

void JobOptions::check_known(const std::vector<OptionSpec>& known) const {
  for (const auto& [key, value] : values_) {
    bool found = false;
    for (const auto& spec : known) found = found || spec.name == key;
    if (found) continue;
    std::string names;
    for (const auto& spec : known) names += (names.empty() ? "" : ", ") + spec.name;
    throw std::invalid_argument(
        "unknown option '" + key + "'" +
        (names.empty() ? " (this job declares no options)" : " (known: " + names + ")"));
  }
}

}  // namespace mr
