#include "mr/mapreduce/job_recipe.h"

#include <stdexcept>

#include "mr/mapreduce/plugin_loader.h"

namespace mr {
namespace {

std::map<std::string, BuiltinJobFactory, std::less<>>& builtins() {
  static std::map<std::string, BuiltinJobFactory, std::less<>> table;
  return table;
}

}  // namespace

bool register_builtin_job(std::string_view name, BuiltinJobFactory factory) {
  if (!builtins().emplace(std::string(name), factory).second)
    throw std::logic_error("mr::register_builtin_job: '" + std::string(name) +
                           "' registered twice");
  return true;
}

std::unique_ptr<Job> make_job(const JobRecipe& recipe) {
  const JobOptions options(recipe.options);
  if (!recipe.builtin.empty()) {
    auto it = builtins().find(recipe.builtin);
    if (it == builtins().end())
      throw std::invalid_argument("no built-in job '" + recipe.builtin + "' in this program");
    return it->second(options);
  }
  if (recipe.plugin.empty()) throw std::invalid_argument("mr::make_job: an empty recipe");
  return create_plugin_job(load_plugin(recipe.plugin), options);
}

}  // namespace mr
