// `--opt KEY=VALUE` keys a job does not declare are refused (exit status 2,
// nothing run, a message naming the job, the key and the declared keys),
// whether the job declares options or none at all, so a typo is never
// silently ignored. TEST_PLUGIN (tests/jobs/test_plugins/counters.cc) is a
// typed job without options().
#include <gtest/gtest.h>

#include <string>

#include "run_binary.h"

namespace {

using mr::testing::run_mapreduce;
using mr::testing::TempDir;

TEST(JobOptionsTest, AnUndeclaredKeyIsRefusedNamingItAndTheDeclaredOnes) {
  TempDir dir;
  auto f = dir.write("a.txt", "holmes\nwatson\n");
  auto r = run_mapreduce(
      {"run", "--job", "grep", "--opt", "pattern=holmes", "--opt", "patern=watson", f});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("grep: unknown option 'patern' (known: pattern, ignore_case)"),
            std::string::npos)
      << r.err;
  // The declared ones are accepted.
  r = run_mapreduce(
      {"run", "--job", "grep", "--opt", "pattern=holmes", "--opt", "ignore_case=1", f});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(JobOptionsTest, AJobThatDeclaresNoOptionsTakesNone) {
  TempDir dir;
  auto f = dir.write("a.txt", "a\nb\na\n");
  auto r = run_mapreduce({"run", "--job", TEST_PLUGIN, f});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a\t2\nb\t1\n");
  for (const char* method : {"fork", "spawn"}) {
    SCOPED_TRACE(method);
    r = run_mapreduce(
        {"run", "--job", TEST_PLUGIN, "--opt", "typo=1", "--start-method", method, f});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("test_counters: unknown option 'typo' (this job declares no options)"),
              std::string::npos)
        << r.err;
  }
}

}  // namespace
