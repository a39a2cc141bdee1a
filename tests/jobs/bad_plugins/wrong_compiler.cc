// A plugin that says it was built by another compiler: the loader must refuse it.
#include "mr/job_api/plugin.h"

extern "C" __attribute__((visibility("default"))) const mr::PluginInfo* mr_plugin_v1() {
  static const mr::PluginInfo info{MR_PLUGIN_ABI_VERSION, "clang 99.0.0", MR_PLUGIN_STDLIB,
                                   "wrongcc", "built by another compiler", nullptr, nullptr};
  return &info;
}
