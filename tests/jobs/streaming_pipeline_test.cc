// `mapreduce streaming` end to end, as Hadoop runs it: shell pipelines
//   cat input | mapreduce streaming map --job X | LC_ALL=C sort -t$'\t' -k1,1
//     [| mapreduce streaming combine --job X]... | mapreduce streaming reduce --job X
// against `mapreduce run --job X input`. The reducer sees the whole input
// (one reducer), so its output must be the same bytes, in the job's output
// order: the comparison is exact, no sort after.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "run_binary.h"

namespace {

using mr::testing::run_bash;
using mr::testing::run_mapreduce;
using mr::testing::RunResult;
using mr::testing::TempDir;

// A job as both commands take it: "--job grep --opt pattern=o".
struct JobArgs {
  std::string name;
  std::vector<std::string> opts;  // KEY=VALUE
  std::string shell() const {
    std::string s = "--job '" + name + "'";
    for (const auto& o : opts) s += " --opt '" + o + "'";
    return s;
  }
  std::vector<std::string> run_args() const {
    std::vector<std::string> a{"run", "--job", name, "--no-progress"};
    for (const auto& o : opts) a.insert(a.end(), {"--opt", o});
    return a;
  }
};

// The map side of one mapper over `input` (a path; bash may use "$F" when
// the script sets it), as a shell command that writes map output lines.
std::string mapper(const JobArgs& job, const std::string& input, const std::string& extra = "") {
  return "cat " + input + " | $MR streaming map " + job.shell() + " --input-name " + input + " " +
         extra;
}

// Sort, `combiners` combiners, the reducer (with `extra` options).
std::string shuffle_and_reduce(const JobArgs& job, int combiners, const std::string& extra = "") {
  std::string s = " | LC_ALL=C sort -t$'\\t' -k1,1";
  for (int i = 0; i < combiners; ++i) s += " | $MR streaming combine " + job.shell();
  return s + " | $MR streaming reduce " + job.shell() + " " + extra;
}

RunResult run_local(const JobArgs& job, const std::string& input) {
  std::vector<std::string> args = job.run_args();
  args.push_back(input);
  return run_mapreduce(args);
}

// The `reporter:counter:GROUP,NAME,AMOUNT` lines of a task's stderr, summed.
std::map<std::string, std::int64_t> counters(const std::string& err) {
  std::map<std::string, std::int64_t> out;
  std::istringstream in(err);
  std::string line;
  const std::string prefix = "reporter:counter:";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const std::size_t comma = line.rfind(',');
    out[line.substr(prefix.size(), comma - prefix.size())] += std::stoll(line.substr(comma + 1));
  }
  return out;
}

// Checks the pipeline with 0, 1 and 2 combiners against `mapreduce run`.
void expect_same_as_run(const JobArgs& job, const std::string& input) {
  const RunResult local = run_local(job, input);
  ASSERT_EQ(local.exit_code, 0) << local.err;
  ASSERT_FALSE(local.out.empty());
  for (int combiners = 0; combiners <= 2; ++combiners) {
    SCOPED_TRACE(job.name + " with " + std::to_string(combiners) + " combiners");
    const RunResult r = run_bash(mapper(job, input) + shuffle_and_reduce(job, combiners));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, local.out);
  }
  // Small chunks, the map table written out often, a reduce batch per few
  // keys: the same output.
  SCOPED_TRACE(job.name + " with little memory");
  const RunResult r = run_bash(mapper(job, input, "--chunk-size 1K --memory 4K") +
                               shuffle_and_reduce(job, 1, "--memory 4K"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, local.out);
}

std::string sample(const std::string& path) { return std::string(SAMPLES_DIR) + "/" + path; }

// Text with repeated words, lines of many lengths, a few punctuation marks.
std::string generated_text(unsigned lines, unsigned seed) {
  std::mt19937 rng(seed);
  const char* words[] = {"alpha", "beta", "gamma", "delta",  "Alpha", "epsilon", "zeta", "eta",
                         "theta", "iota", "kappa", "lambda", "mu",    "nu",      "xi",   "omicron"};
  std::string text;
  for (unsigned l = 0; l < lines; ++l) {
    const unsigned n = rng() % 12;
    for (unsigned w = 0; w < n; ++w) {
      if (w) text += rng() % 7 ? " " : ", ";
      text += words[rng() % 16];
    }
    text += '\n';
  }
  return text;
}

TEST(StreamingPipelineTest, WordcountEqualsRunOnTheSamplesWithZeroOneAndTwoCombiners) {
  expect_same_as_run({"wordcount", {}}, sample("en/sherlock-holmes.txt"));
  expect_same_as_run({"wordcount", {}}, sample("zh/sishu.txt"));
  expect_same_as_run({"wordcount", {"sort=word", "keep_case=1"}},
                     sample("ru/debian-handbook-ru.txt"));
  expect_same_as_run({"wordcount", {"top=5"}}, sample("en/sherlock-holmes.txt"));
}

TEST(StreamingPipelineTest, EveryExampleJobEqualsRun) {
  TempDir dir;
  const std::string text = dir.write("text.txt", generated_text(3000, 7));
  std::string ranges;
  for (unsigned i = 0; i < 40; ++i)
    ranges += std::to_string(i * 997) + "-" + std::to_string(i * 997 + 5000) + "\n";
  const std::string primes = dir.write("ranges.txt", "# ranges\n" + ranges + ranges);
  expect_same_as_run({"bigrams", {}}, text);
  expect_same_as_run({"charfreq", {}}, sample("zh/sishu.txt"));
  expect_same_as_run({"grep", {"pattern=a+l", "ignore_case=1"}}, text);
  expect_same_as_run({"invertedindex", {}}, text);
  expect_same_as_run({"linelength", {}}, text);
  expect_same_as_run({"primes", {}}, primes);
  expect_same_as_run({TEST_PLUGIN, {}}, text);
}

// Hadoop runs one mapper per split: two mappers, their outputs
// concatenated, sorted and reduced give what one run over the whole input
// gives (the second mapper told its split's offset and first line).
TEST(StreamingPipelineTest, TwoMappersGiveWhatOneRunGives) {
  TempDir dir;
  const std::string text = generated_text(2000, 11);
  const std::size_t cut = text.find('\n', text.size() / 2) + 1;
  std::uint64_t first_line = 1;
  for (std::size_t i = 0; i < cut; ++i) first_line += text[i] == '\n';
  const std::string whole = dir.write("whole.txt", text);
  dir.write("part1", text.substr(0, cut));
  dir.write("part2", text.substr(cut));
  for (const JobArgs& job : {JobArgs{"wordcount", {}}, JobArgs{"grep", {"pattern=eta"}},
                             JobArgs{"invertedindex", {}}, JobArgs{"bigrams", {}}}) {
    SCOPED_TRACE(job.name);
    const RunResult local = run_local(job, whole);
    ASSERT_EQ(local.exit_code, 0) << local.err;
    const std::string map = "$MR streaming map " + job.shell() + " --input-name " + whole;
    const RunResult r =
        run_bash("{ " + map + " < " + dir.path() + "/part1 && " + map + " --input-offset " +
                 std::to_string(cut) + " --first-line " + std::to_string(first_line) + " < " +
                 dir.path() + "/part2; }" + shuffle_and_reduce(job, 1));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, local.out);
  }
}

// Keys and values holding tabs, newlines, carriage returns, backslashes and
// bytes that are not UTF-8 cross the line format intact: grep's keys hold
// the input's name (here with a tab and a newline in it) and its values the
// lines; test_counters' keys are whole lines.
TEST(StreamingPipelineTest, TabsNewlinesAndBadBytesInKeysAndValues) {
  TempDir dir;
  const std::string text =
      "a\tb\\t c\n"
      "plain\n"
      "caf\xc3\xa9 \xff\xfe\\x41 \\\\\n"
      "x\ty\tz\r\n"
      "a\tb\\t c\n"
      "\x01\x7f ctl\n";
  dir.write("in\tput\nname.txt", text);
  const std::string file = "\"$F\"";
  const std::string set_f = "F=\"" + dir.path() + "/in\"$'\\t'\"put\"$'\\n'\"name.txt\"; ";
  for (const JobArgs& job : {JobArgs{"grep", {"pattern=."}}, JobArgs{TEST_PLUGIN, {}},
                             JobArgs{"wordcount", {"tokenizer=whitespace", "keep_case=1"}}}) {
    SCOPED_TRACE(job.name);
    const RunResult local = run_bash(set_f + "$MR run " + JobArgs(job).shell() + " " + file);
    ASSERT_EQ(local.exit_code, 0) << local.err;
    if (job.name != "wordcount") {
      ASSERT_NE(local.out.find("x\ty\tz"), std::string::npos) << local.out;
    }
    const RunResult map = run_bash(set_f + mapper(job, file));
    ASSERT_EQ(map.exit_code, 0) << map.err;
    // One line per record, exactly one tab in each, no CR.
    std::istringstream lines(map.out);
    std::string line;
    while (std::getline(lines, line)) {
      EXPECT_EQ(std::count(line.begin(), line.end(), '\t'), 1) << line;
      EXPECT_EQ(line.find('\r'), std::string::npos) << line;
    }
    for (int combiners = 0; combiners <= 2; ++combiners) {
      const RunResult r = run_bash(set_f + mapper(job, file) + shuffle_and_reduce(job, combiners));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, local.out);
    }
  }
}

TEST(StreamingPipelineTest, CountersOnStandardError) {
  TempDir dir;
  const std::string in = dir.write("in.txt", "a b\nb c\nb a\nb a\n");
  // Map: 4 lines, each a record and a pair; 3 distinct lines after the
  // combiner; the job's own counter under its name.
  const JobArgs job{TEST_PLUGIN, {}};
  RunResult map = run_bash(mapper(job, in) + " > /dev/null");
  ASSERT_EQ(map.exit_code, 0) << map.err;
  auto c = counters(map.err);
  EXPECT_EQ(c["mapreduce,map input records"], 4);
  EXPECT_EQ(c["mapreduce,map output records"], 3);
  EXPECT_EQ(c["test_counters,lines"], 4);
  EXPECT_NE(map.err.find("reporter:status:"), std::string::npos) << map.err;
  // Reduce: the reduce's counters, summed over its batches.
  dir.write("more.txt", "b a\nb a\nz\n");
  RunResult reduce =
      run_bash("{ " + mapper(job, in) + " && " + mapper(job, dir.path() + "/more.txt") +
               "; } 2>/dev/null | LC_ALL=C sort -t$'\\t' -k1,1 | $MR streaming reduce " +
               job.shell() + " --memory 1 > /dev/null");
  ASSERT_EQ(reduce.exit_code, 0) << reduce.err;
  c = counters(reduce.err);
  EXPECT_EQ(c["mapreduce,reduce input records"], 5);  // 3 + 2 distinct lines per mapper
  EXPECT_EQ(c["mapreduce,reduce input groups"], 4);   // "a b", "b a", "b c", "z"
  EXPECT_EQ(c["mapreduce,reduce output records"], 4);
  EXPECT_EQ(c["test_counters,distinct"], 4);
  EXPECT_EQ(c["test_counters,repeated"], 1);  // "b a": 4 lines
  EXPECT_EQ(c["test_counters,copies"], 3);
  // Wordcount: the words it read, the distinct words it wrote.
  map = run_bash(mapper({"wordcount", {}}, in) + " > /dev/null");
  ASSERT_EQ(map.exit_code, 0) << map.err;
  c = counters(map.err);
  EXPECT_EQ(c["mapreduce,map input records"], 8);   // words
  EXPECT_EQ(c["mapreduce,map output records"], 3);  // a, b, c
}

// A bad line fails the task with exit status 2 and a message naming it.
TEST(StreamingPipelineTest, BadInputLinesNameTheirLineNumber) {
  struct Case {
    const char* mode;
    JobArgs job;
    std::string input, message;
  };
  const std::vector<Case> cases = {
      {"reduce",
       {"wordcount", {}},
       "a\t1\nb\t2\nno tab here\n",
       "line 3: no tab between key and value"},
      {"combine", {"wordcount", {}}, "a\t1\nb\\q\t2\n", "line 2: key: malformed escape '\\q'"},
      {"reduce", {"wordcount", {}}, "a\t1\nb\t2\\x4", "line 2: value: malformed escape '\\x4'"},
      {"reduce", {"wordcount", {}}, "a\t1\nb\\\t2\n", "line 2: key: a backslash at the end"},
      {"reduce", {"wordcount", {}}, "a\t1\nb\t2\tc\n", "line 2: a raw tab in the value"},
      {"reduce", {"wordcount", {}}, "a\t1\nb\tmany\n", "line 2: value 'many' is not a positive"},
      {"combine",
       {"linelength", {}},
       "0\t1\n0\t1\n10\t-3\n",
       "line 3: value '-3' is not a decimal"},
      {"reduce", {"wordcount", {}}, "b\t1\na\t2\n", "line 2: keys out of order"},
      {"reduce", {"invertedindex", {}}, "w\tab\n", "line 1: value does not decode"},
  };
  TempDir dir;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    const std::string in = dir.write("in", c.input);
    const RunResult r =
        run_bash(std::string("$MR streaming ") + c.mode + " " + c.job.shell() + " < " + in);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(std::string("mapreduce: streaming ") + c.mode + ": " + c.message),
              std::string::npos)
        << r.err;
  }
}

TEST(StreamingPipelineTest, UsageErrorsAndJobFailures) {
  TempDir dir;
  const std::string in = dir.write("in", "1-10\nbad\n");
  struct Case {
    std::string args, message;
    int status;
  };
  const std::vector<Case> cases = {
      {"", "Usage: mapreduce streaming map|combine|reduce", 2},
      {"shuffle --job wordcount", "unknown streaming task 'shuffle'", 2},
      {"map", "--job is required", 2},
      {"map --job nosuchjob", "nosuchjob", 2},
      {"map --job wordcount --opt colour=red", "colour", 2},
      {"map --job wordcount --memory 0", "invalid --memory '0'", 2},
      // The job's map throws: a job failure, as in `mapreduce run`.
      {"map --job primes --input-name r.txt", "r.txt:2: bad range 'bad'", 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    const RunResult r = run_bash("$MR streaming " + c.args + " < " + in);
    EXPECT_EQ(r.exit_code, c.status) << r.err << r.out;
    EXPECT_NE((r.err + r.out).find(c.message), std::string::npos) << r.err << r.out;
  }
}

}  // namespace
