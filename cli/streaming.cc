// `mapreduce streaming map|combine|reduce --job X [--opt K=V]...`.
#include "streaming.h"

#include <boost/program_options.hpp>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "mr/mapreduce/interrupt.h"
#include "mr/mapreduce/job_recipe.h"
#include "mr/mapreduce/plugin_loader.h"
#include "mr/mapreduce/streaming.h"
#include "printable.h"

namespace mr::cli {
namespace {

namespace po = boost::program_options;

constexpr int kExitOk = 0, kExitJobFailed = 1, kExitUsage = 2;

constexpr const char* kUsage =
    "Usage: mapreduce streaming map|combine|reduce --job NAME|PATH [--opt KEY=VALUE]... "
    "[options]\n"
    "Run a job as a Hadoop Streaming task, standard input to standard output:\n"
    "  map      input text -> 'key<TAB>value' lines (the job's map and combiner)\n"
    "  combine  'key<TAB>value' lines sorted by key -> the same, values of equal keys merged\n"
    "  reduce   'key<TAB>value' lines sorted by key (LC_ALL=C sort -t$'\\t' -k1,1) -> the\n"
    "           job's output lines, as 'mapreduce run --job NAME' writes them\n"
    "Keys and values are escaped: \\\\ \\t \\n \\r, and \\xHH for other control bytes and\n"
    "bytes that are not UTF-8; integers are decimal text. Counters go to standard error as\n"
    "'reporter:counter:GROUP,NAME,AMOUNT' lines, progress as 'reporter:status:' lines.\n\n";

constexpr const char* kExitStatus =
    "\nExit status: 0 success, 1 the job failed, 2 usage error, bad input line (the message\n"
    "names its number) or output error, 130 interrupted (SIGINT, SIGTERM or SIGHUP).\n";

void print_error(const std::string& mode, const std::string& message) {
  std::fprintf(stderr, "mapreduce: streaming %s: %s\n", mode.c_str(), printable(message).c_str());
}

// "64M", "1G", "4096" -> bytes (at least 1).
std::size_t parse_bytes(const std::string& text, const char* option) {
  std::size_t n = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, n);
  const std::string unit(p, end);
  const std::size_t shift = unit.empty()  ? 0
                            : unit == "K" ? 10
                            : unit == "M" ? 20
                            : unit == "G" ? 30
                                          : 64;
  if (ec != std::errc() || n == 0 || shift == 64 || n > (std::size_t{1} << 40) >> shift)
    throw po::error("invalid --" + std::string(option) + " '" + text +
                    "' (bytes, with K, M or G, at least 1, at most 1T)");
  return n << shift;
}

std::uint64_t parse_count(const std::string& text, const char* option) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty())
    throw po::error("invalid --" + std::string(option) + " '" + text + "' (a number)");
  return n;
}

// The first of the environment variables that is set (Hadoop passes the
// job configuration to a streaming task as variables, dots as '_').
const char* hadoop_env(const char* name, const char* old_name) {
  if (const char* v = std::getenv(name)) return v;
  return std::getenv(old_name);
}

}  // namespace

int streaming(const std::vector<std::string>& args) {
  std::string mode = args.empty() ? "" : args[0];
  const std::string help = "mapreduce streaming --help";
  po::options_description opts("streaming options");
  std::string job_name, format = "tsv", chunk_size = "8M", memory = "64M", input_name, offset,
                        first_line;
  std::vector<std::string> job_opts;
  opts.add_options()("help,h", "show this help and exit")(
      "job", po::value(&job_name), "the job: a name from 'mapreduce jobs' or a plugin's path")(
      "opt", po::value(&job_opts), "a job option KEY=VALUE (repeatable), as 'mapreduce run' takes")(
      "chunk-size", po::value(&chunk_size), "map: bytes per map call (default 8M)")(
      "memory", po::value(&memory),
      "map: write the map table out when it holds more; reduce: bytes of records per reduce "
      "batch (default 64M)")("input-name", po::value(&input_name),
                             "map: the input's name jobs see (default $mapreduce_map_input_file, "
                             "else '-')")(
      "input-offset", po::value(&offset),
      "map: byte offset of this split in its input (default $mapreduce_map_input_start, else 0)")(
      "first-line", po::value(&first_line),
      "map: number of the split's first line, for jobs that number lines (default 1)")(
      "format", po::value(&format), "reduce: tsv (default), csv or json, as 'mapreduce run'");
  try {
    if (mode == "--help" || mode == "-h" || mode.empty()) {
      std::cout << kUsage << opts << kExitStatus;
      return mode.empty() ? kExitUsage : kExitOk;
    }
    if (mode != "map" && mode != "combine" && mode != "reduce")
      throw po::error("unknown streaming task '" + mode + "' (use map, combine or reduce)");
    po::variables_map vm;
    po::store(po::command_line_parser(std::vector<std::string>(args.begin() + 1, args.end()))
                  .options(opts)
                  .run(),
              vm);
    po::notify(vm);
    if (vm.count("help")) {
      std::cout << kUsage << opts << kExitStatus;
      return kExitOk;
    }
    if (job_name.empty()) throw po::error("--job is required ('mapreduce jobs' lists the jobs)");
    StreamingOptions so;
    so.chunk_size = parse_bytes(chunk_size, "chunk-size");
    so.memory = parse_bytes(memory, "memory");
    if (const char* v = hadoop_env("mapreduce_map_input_file", "map_input_file")) so.input_name = v;
    if (vm.count("input-name")) so.input_name = input_name;
    if (const char* v = hadoop_env("mapreduce_map_input_start", "map_input_start"))
      so.input_offset = parse_count(v, "input-offset (from $mapreduce_map_input_start)");
    if (vm.count("input-offset")) so.input_offset = parse_count(offset, "input-offset");
    if (vm.count("first-line")) so.first_line = parse_count(first_line, "first-line");
    if (format == "tsv")
      so.output.format = OutputOptions::Format::kTsv;
    else if (format == "csv")
      so.output.format = OutputOptions::Format::kCsv;
    else if (format == "json")
      so.output.format = OutputOptions::Format::kJson;
    else
      throw po::error("invalid --format '" + format + "' (use tsv, csv or json)");
    JobRecipe recipe;
    if (find_builtin_job(job_name))
      recipe.builtin = job_name;
    else
      recipe.plugin = std::filesystem::absolute(resolve_plugin(job_name)).string();
    JobOptions jo;
    for (const auto& kv : job_opts) jo.add(kv);
    recipe.options = jo.all();
    std::unique_ptr<Job> job = make_job(recipe);
    try {
      if (mode == "map")
        streaming_map(*job, so, stdin, stdout, stderr);
      else if (mode == "combine")
        streaming_combine(*job, so, stdin, stdout, stderr);
      else
        streaming_reduce(*job, so, stdin, stdout, stderr);
    } catch (const NoRecordCodec& e) {
      print_error(mode, e.what());
      return kExitUsage;
    } catch (const StreamingInputError& e) {
      print_error(mode, e.what());
      return kExitUsage;
    } catch (const StreamingOutputError& e) {
      print_error(mode, e.what());
      return kExitUsage;
    } catch (const Interrupted&) {
      throw;
    } catch (const std::exception& e) {  // the job's map, combine or reduce threw
      print_error(mode, e.what());
      return kExitJobFailed;
    }
    return kExitOk;
  } catch (const po::error& e) {
    std::fprintf(stderr, "mapreduce: streaming %s\nTry '%s' for more information.\n",
                 printable(e.what()).c_str(), help.c_str());
    return kExitUsage;
  } catch (const std::invalid_argument& e) {  // a job option the job refused
    print_error(mode, e.what());
    return kExitUsage;
  } catch (const PluginError& e) {
    print_error(mode, e.what());
    return kExitUsage;
  }
}

}  // namespace mr::cli
