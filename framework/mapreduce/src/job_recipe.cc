#include "mr/mapreduce/job_recipe.h"

#include <stdexcept>

#include "mr/mapreduce/plugin_loader.h"

namespace mr {
namespace {

std::map<std::string, const PluginInfo*, std::less<>>& builtins() {
  static std::map<std::string, const PluginInfo*, std::less<>> table;
  return table;
}

}  // namespace

bool register_builtin_job(const PluginInfo& info) {
  if (!builtins().emplace(std::string(info.name), &info).second)
    throw std::logic_error("mr::register_builtin_job: '" + std::string(info.name) +
                           "' registered twice");
  return true;
}

const PluginInfo* find_builtin_job(std::string_view name) {
  auto it = builtins().find(name);
  return it == builtins().end() ? nullptr : it->second;
}

std::vector<const PluginInfo*> builtin_jobs() {
  std::vector<const PluginInfo*> out;
  for (const auto& [name, info] : builtins()) out.push_back(info);
  return out;
}

std::unique_ptr<Job> make_job(const JobRecipe& recipe) {
  const JobOptions options(recipe.options);
  if (!recipe.builtin.empty()) {
    const PluginInfo* info = find_builtin_job(recipe.builtin);
    if (!info)
      throw std::invalid_argument("no built-in job '" + recipe.builtin + "' in this program");
    return create_plugin_job(*info, options);
  }
  if (recipe.plugin.empty()) throw std::invalid_argument("mr::make_job: an empty recipe");
  return create_plugin_job(load_plugin(recipe.plugin), options);
}

}  // namespace mr
