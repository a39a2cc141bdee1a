// Loading plugins: missing, not a plugin, wrong ABI, wrong compiler, and a
// plugin that crashes in map.
#include <gtest/gtest.h>

#include <string>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;

std::string bad(const std::string& name) { return std::string(BAD_PLUGIN_DIR) + "/libmr_job_" + name + ".so"; }

TEST(PluginLoadingTest, MissingJobIsAUsageError) {
  TempDir dir;
  auto f = dir.write("a.txt", "a\n");
  auto r = run_mapreduce({"run", "--job", "nosuchjob", f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no job named 'nosuchjob'"), std::string::npos) << r.err;
}

TEST(PluginLoadingTest, LibraryWithoutTheEntryIsRefused) {
  TempDir dir;
  auto f = dir.write("a.txt", "a\n");
  auto r = run_mapreduce({"run", "--job", bad("not_a_plugin"), f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not a mapreduce job plugin"), std::string::npos) << r.err;
  r = run_mapreduce({"run", "--job", f, f});  // not even a shared library
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot load job plugin"), std::string::npos) << r.err;
}

TEST(PluginLoadingTest, MismatchedAbiOrCompilerIsRefusedWithAMessage) {
  TempDir dir;
  auto f = dir.write("a.txt", "a\n");
  auto r = run_mapreduce({"run", "--job", bad("wrong_abi"), f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("plugin ABI 4, this mapreduce with 5: rebuild the plugin"),
            std::string::npos)
      << r.err;
  r = run_mapreduce({"run", "--job", bad("wrong_compiler"), f});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("clang 99.0.0"), std::string::npos) << r.err;
}

TEST(PluginLoadingTest, CrashingMapFailsTheJobNamingJobPhaseFileAndRange) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 200; ++i) text += "fine\n";
  text += "crash\n";
  auto f = dir.write("input.txt", text);
  auto r = run_mapreduce({"run", "--job", bad("crashing"), "-j", "2", "--chunk-size", "64", "--no-progress", f});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("crashing: map of chunk"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("input.txt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bytes "), std::string::npos) << r.err;
  // (The signal's name is not checked: under AddressSanitizer a SIGSEGV
  // becomes a report and exit code 1.)
  EXPECT_NE(r.err.find("failed 3 times"), std::string::npos) << r.err;
}

}  // namespace
