// ChunkInfo::input_index end to end: a test plugin counts lines per
// (input index, file name); every chunk of every input must carry the
// 0-based position of its input on the command line (a directory read with
// -r standing for its files in name order), whatever -j and --chunk-size.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::lines_of;
using mr::testing::run_mapreduce;
using mr::testing::TempDir;

// n lines of varying length, so 64-byte chunks cut each file several times.
std::string text_of(int n, char letter) {
  std::string text;
  for (int i = 0; i < n; ++i)
    text += std::string(static_cast<std::size_t>(1 + i * 7 % 23), letter) + "\n";
  return text;
}

struct In {
  std::string path;
  std::string text;
};

// index<TAB>path<TAB>lines for each input, in command-line order.
std::string expected(const std::vector<In>& inputs) {
  std::string out;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    out += std::to_string(i) + "\t" + inputs[i].path + "\t" +
           std::to_string(lines_of(inputs[i].text).size()) + "\n";
  return out;
}

std::vector<std::string> run_args(const std::string& jobs, const std::vector<std::string>& files) {
  std::vector<std::string> args = {"run", "--job", TEST_PLUGIN, "-j", jobs, "--chunk-size", "64"};
  args.insert(args.end(), files.begin(), files.end());
  return args;
}

TEST(InputIndexTest, EachChunkCarriesItsInputsPosition) {
  TempDir dir;
  In a{dir.write("a.txt", text_of(40, 'a')), text_of(40, 'a')};
  In b{dir.write("b.txt", text_of(25, 'b')), text_of(25, 'b')};
  In c{dir.write("c.txt", text_of(3, 'c')), text_of(3, 'c')};
  // The same file twice is two inputs with two indexes.
  for (const auto& order : std::vector<std::vector<In>>{{a, b, c}, {c, a, b}, {b, a, b}}) {
    std::vector<std::string> files;
    for (const auto& in : order) files.push_back(in.path);
    for (const char* jobs : {"1", "3"}) {
      auto r = run_mapreduce(run_args(jobs, files));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, expected(order)) << "-j " << jobs;
    }
  }
}

TEST(InputIndexTest, RecursiveDirectoryStandsForItsFilesInNameOrder) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/d");
  In first{dir.write("first.txt", text_of(10, 'f')), text_of(10, 'f')};
  In y{dir.write("d/y.txt", text_of(12, 'y')), text_of(12, 'y')};
  In x{dir.write("d/x.txt", text_of(30, 'x')), text_of(30, 'x')};
  In last{dir.write("last.txt", text_of(5, 'l')), text_of(5, 'l')};
  auto r = run_mapreduce(run_args("3", {first.path, "-r", dir.path() + "/d", last.path}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected({first, x, y, last}));
}

}  // namespace
