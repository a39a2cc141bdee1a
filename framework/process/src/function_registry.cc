#include "mr/process/function_registry.h"

#include <cstdlib>
#include <map>
#include <stdexcept>

#include "mr/base/demangle.h"

namespace mr::detail {
namespace {

struct Registry {
  // nullopt: registered twice under this name.
  std::map<std::string, std::optional<RegisteredFunction>, std::less<>> by_name;
};

Registry& registry() {
  static auto* r = new Registry;  // filled during static initialization
  return *r;
}

// "int,std::string," (mangled) -> "(int, std::string)".
std::string readable(const std::string& signature) {
  std::string out = "(";
  std::size_t start = 0;
  while (start < signature.size()) {
    std::size_t comma = signature.find(',', start);
    if (out.size() > 1) out += ", ";
    out += demangle(signature.substr(start, comma - start).c_str());
    start = comma + 1;
  }
  return out + ")";
}

}  // namespace

bool add_function(RegisteredFunction fn) noexcept {
  try {
    auto& m = registry().by_name;
    auto it = m.find(fn.name);
    if (it == m.end()) {
      std::string name = fn.name;
      m.emplace(std::move(name), std::move(fn));
    } else if (!it->second || it->second->address != fn.address) {
      it->second.reset();  // two different functions under one name
    }
    return true;
  } catch (...) {
    return false;
  }
}

const RegisteredFunction* find_function(std::string_view name) noexcept {
  auto& m = registry().by_name;
  auto it = m.find(name);
  if (it == m.end() || !it->second) return nullptr;
  return &*it->second;
}

const RegisteredFunction& find_function_checked(std::string_view name,
                                                const std::string& signature) {
  auto& m = registry().by_name;
  auto it = m.find(name);
  if (it == m.end())
    throw std::invalid_argument("mr::Process: no function registered as \"" + std::string(name) +
                                "\" (add MR_REGISTER_FUNCTION(" + std::string(name) +
                                ") at namespace scope)");
  if (!it->second)
    throw std::invalid_argument("mr::Process: two different functions are registered as \"" +
                                std::string(name) + "\"; register them with qualified names");
  if (it->second->signature != signature)
    throw std::invalid_argument("mr::Process: \"" + std::string(name) + "\" takes " +
                                readable(it->second->signature) + " but was given " +
                                readable(signature));
  return *it->second;
}

const RegisteredFunction& find_function_by_address(FunctionAddress address) {
  for (auto& [name, fn] : registry().by_name)
    if (fn && fn->address == address) return *fn;
  throw std::invalid_argument(
      "mr::Process(mr::target<&fn>, ...): fn is not registered (add MR_REGISTER_FUNCTION(fn) at "
      "namespace scope), or is registered twice under one name");
}

}  // namespace mr::detail
