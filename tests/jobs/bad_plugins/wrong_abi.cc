// A plugin that claims another ABI version: the loader must refuse it.
#include "mr/job_api/plugin.h"

extern "C" __attribute__((visibility("default"))) const mr::PluginInfo* mr_plugin_v1() {
  static const mr::PluginInfo info{MR_PLUGIN_ABI_VERSION + 1, MR_PLUGIN_COMPILER, MR_PLUGIN_STDLIB,
                                   "wrongabi", "built against another job API", nullptr, nullptr};
  return &info;
}
