// A plugin built against an older job API: ABI 4, before WorkerJob had
// make_record_codec (ABI 5), so its WorkerJob's table of virtual functions
// lacks that entry. The loader must refuse it, with a message saying to
// rebuild.
#include "mr/job_api/plugin.h"

extern "C" __attribute__((visibility("default"))) const mr::PluginInfo* mr_plugin_v1() {
  static const mr::PluginInfo info{4,
                                   MR_PLUGIN_COMPILER,
                                   MR_PLUGIN_STDLIB,
                                   "wrongabi",
                                   "built against another job API",
                                   nullptr,
                                   nullptr};
  return &info;
}
