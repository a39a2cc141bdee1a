// A plugin built against an older job API: ABI 3, before Job::start_worker
// returned the worker's job object (ABI 4). The loader must refuse it, with
// a message saying to rebuild.
#include "mr/job_api/plugin.h"

extern "C" __attribute__((visibility("default"))) const mr::PluginInfo* mr_plugin_v1() {
  static const mr::PluginInfo info{3,
                                   MR_PLUGIN_COMPILER,
                                   MR_PLUGIN_STDLIB,
                                   "wrongabi",
                                   "built against another job API",
                                   nullptr,
                                   nullptr};
  return &info;
}
