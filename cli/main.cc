// mapreduce: the command-line program.
//
//   mapreduce wordcount [options] FILE...
//   mapreduce run --job NAME|PATH [--opt KEY=VALUE]... [options] FILE...
//   mapreduce jobs [--help]
//   mapreduce streaming map|combine|reduce --job NAME|PATH [--opt KEY=VALUE]...
//
// Exit status: 0 success, 1 job failure, 2 usage, input or output error, 130
// interrupted (SIGINT, SIGTERM, or SIGHUP unless it was ignored at start).
//
// Every message is passed through printable(): a file name holding escape
// sequences cannot act on the user's terminal.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "mr/mapreduce/engine.h"
#include "mr/mapreduce/input.h"
#include "mr/mapreduce/job_recipe.h"
#include "mr/mapreduce/plugin_loader.h"
#include "mr/process/process.h"
#include "output_file.h"
#include "printable.h"
#include "streaming.h"
#include "wordcount.h"

namespace po = boost::program_options;

namespace {

constexpr int kExitOk = 0, kExitJobFailed = 1, kExitUsage = 2, kExitInterrupted = 130;
constexpr const char* kVersion = "mapreduce 0.1.0";
constexpr long long kMaxWorkers = 4096;  // --workers: more is refused
constexpr std::size_t kMaxChunkSize = std::size_t{1} << 30;
constexpr std::size_t kMinMemory = 1 << 10;

// Which of descriptors 0, 1, 2 were closed when the program started (they
// are then /dev/null, so that no internal descriptor takes their place).
bool g_closed_at_start[3] = {false, false, false};

void occupy_standard_descriptors() {
  for (int fd = 0; fd < 3; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    g_closed_at_start[fd] = true;
    // The lowest free descriptor: `fd` itself (the lower ones are open).
    const int got = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (got != fd && got >= 0) ::close(got);
  }
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "mapreduce: %s\n", mr::cli::printable(message).c_str());
}

// Prints a usage error and where to read about the right usage: `help` is
// the command whose --help applies ("mapreduce wordcount --help").
void usage_error(const std::string& message, const std::string& help = "mapreduce --help") {
  std::fprintf(stderr, "mapreduce: %s\nTry '%s' for more information.\n",
               mr::cli::printable(message).c_str(), mr::cli::printable(help).c_str());
}

// 1536 -> "1.5K", 1 << 30 -> "1G".
std::string format_size(std::size_t n) {
  const char* units = "BKMGTPE";
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf,
                v == static_cast<double>(static_cast<long long>(v)) ? "%.0f%c" : "%.1f%c", v,
                units[u]);
  std::string out = buf;
  if (u == 0) out.pop_back();  // plain bytes
  return out;
}

// "64M", "1G", "4096" -> bytes, which must be in [min, max]: the message
// names the option and the range.
std::size_t parse_size(const std::string& text, const char* option, std::size_t min,
                       std::size_t max) {
  const std::string range = "between " + format_size(min) + " and " + format_size(max);
  const auto bad = [&](const std::string& why) {
    return po::error("invalid --" + std::string(option) + " '" + text + "': " + why);
  };
  if (text.empty() || text[0] < '0' || text[0] > '9')  // stoull would take "-1" and " 5"
    throw bad("give a size " + range + " (bytes, or with K, M or G)");
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &pos);
  } catch (...) {
    throw bad("must be " + range);
  }
  std::string unit = text.substr(pos);
  unsigned long long mult = 1;
  if (unit == "" || unit == "B")
    mult = 1;
  else if (unit == "K" || unit == "k" || unit == "KiB")
    mult = 1ull << 10;
  else if (unit == "M" || unit == "MiB")
    mult = 1ull << 20;
  else if (unit == "G" || unit == "GiB")
    mult = 1ull << 30;
  else if (unit == "T" || unit == "TiB")
    mult = 1ull << 40;
  else
    throw bad("use K, M or G");
  if (n == 0) throw po::error(std::string("--") + option + " must be positive");
  if (n > max / mult || n * mult < min) throw bad("must be " + range);
  return static_cast<std::size_t>(n * mult);
}

void print_stats(const mr::JobStats& s, const char* records) {
  double total = s.seconds_map + s.seconds_reduce + s.seconds_output;
  std::fprintf(stderr,
               "mapreduce: stats\n"
               "  workers            %u (reducers %u)\n"
               "  input              %llu bytes in %llu chunks\n"
               "  %-18s %llu (%llu distinct keys)\n"
               "  map emitted        %llu pairs (before combining)\n"
               "  output lines       %llu\n"
               "  time map/reduce/output  %.3f / %.3f / %.3f s (%.3f s, %.1f MB/s)\n"
               "  shuffle            %llu bytes\n"
               "  retries            %llu (workers replaced %llu, spills %llu)\n"
               "  peak memory        master %ld KiB, largest worker %ld KiB\n",
               s.workers, s.reducers, (unsigned long long)s.input_bytes,
               (unsigned long long)s.chunks, records, (unsigned long long)s.records,
               (unsigned long long)s.distinct_keys, (unsigned long long)s.emitted,
               (unsigned long long)s.output_lines, s.seconds_map, s.seconds_reduce,
               s.seconds_output, total, total > 0 ? s.input_bytes / 1e6 / total : 0.0,
               (unsigned long long)s.shuffle_bytes, (unsigned long long)s.retries,
               (unsigned long long)s.workers_replaced, (unsigned long long)s.spills,
               s.peak_rss_kb_master, s.peak_rss_kb_workers);
  if (s.map_only)
    std::fprintf(stderr, "  reduce             none: a map-only job (no reduce step)\n");
  if (s.speculative)
    std::fprintf(stderr,
                 "  speculative        %llu (copies of straggling tasks; %llu won the race)\n",
                 (unsigned long long)s.speculative, (unsigned long long)s.speculative_won);
  for (const auto& [name, n] : s.user_counters)
    std::fprintf(stderr, "  counter %-10s %lld\n", mr::cli::printable(name).c_str(),
                 static_cast<long long>(n));
}

// --format: tsv, csv or json.
mr::OutputOptions::Format parse_format(const std::string& format) {
  if (format == "tsv") return mr::OutputOptions::Format::kTsv;
  if (format == "csv") return mr::OutputOptions::Format::kCsv;
  if (format == "json") return mr::OutputOptions::Format::kJson;
  throw po::error("invalid --format '" + format + "' (use tsv, csv or json)");
}

// The options every command that runs a job takes, and the files.
struct CommonOptions {
  std::string output, chunk_size = "8M", memory, task_timeout = "600", start_method = "fork";
  long long workers = 0, reducers = 0, top = 0;  // signed: "-3" is refused, not wrapped
  std::vector<std::string> files;

  void add_to(po::options_description& opts) {
    opts.add_options()("workers,j", po::value(&workers),
                       "worker processes, at most 4096 (default: number of CPUs; never more "
                       "than there are chunks)")("reducers", po::value(&reducers),
                                                 "reduce partitions (default: 4 per worker)")(
        "chunk-size", po::value(&chunk_size),
        "bytes per map chunk, with K/M/G, up to 1G (default 8M; larger when the input "
        "would make more than 65536 chunks)")(
        "memory", po::value(&memory),
        "shuffle memory budget, with K/M/G, 1K up to the machine's (or cgroup's) memory "
        "(default: a quarter of that)")(
        "task-timeout", po::value(&task_timeout),
        "seconds a chunk, a partition or a worker's setup may take before its worker is killed "
        "and the task is retried (default 600)")(
        "top", po::value(&top), "print only the first N results (0: all, the default)")(
        "output,o", po::value(&output), "write to FILE (atomically) instead of standard output")(
        "recursive,r", "read the files in directory arguments, recursively")(
        "progress", "show a progress line on stderr (default when stderr is a terminal)")(
        "no-progress", "never show the progress line")(
        "stats", "print phase times, counts and peak memory on stderr")(
        "trace", po::value<std::string>(),
        "write a Chrome trace-event JSON timeline to FILE (open it in Perfetto)")(
        "start-method", po::value(&start_method),
        "how workers start: fork (default: copies of this process), spawn or forkserver (fresh "
        "runs of the program that load the job again)");
  }

  mr::EngineOptions engine(const po::variables_map& vm) const {
    if (vm.count("workers") && (workers < 1 || workers > kMaxWorkers))
      throw po::error("--workers must be between 1 and " + std::to_string(kMaxWorkers));
    if (vm.count("reducers") && (reducers < 1 || reducers > 65536))
      throw po::error("--reducers must be between 1 and 65536");
    if (top < 0) throw po::error("--top must not be negative");
    mr::EngineOptions eo;
    eo.workers = static_cast<unsigned>(workers);
    eo.reducers = static_cast<unsigned>(reducers);
    eo.chunk_size = parse_size(chunk_size, "chunk-size", 1, kMaxChunkSize);
    if (!memory.empty()) eo.memory = parse_size(memory, "memory", kMinMemory, mr::usable_memory());
    char* end = nullptr;
    double timeout = std::strtod(task_timeout.c_str(), &end);
    if (task_timeout.empty() || *end != '\0' || !(timeout > 0))
      throw po::error("invalid --task-timeout '" + task_timeout + "' (seconds, more than 0)");
    eo.task_timeout = std::chrono::duration<double>(timeout);
    eo.output.top = static_cast<std::uint64_t>(top);
    if (vm.count("trace")) eo.trace_path = vm["trace"].as<std::string>();
    eo.progress = !vm.count("no-progress") && (vm.count("progress") || ::isatty(STDERR_FILENO));
    if (start_method == "fork")
      eo.start_method = mr::StartMethod::kFork;
    else if (start_method == "spawn")
      eo.start_method = mr::StartMethod::kSpawn;
    else if (start_method == "forkserver")
      eo.start_method = mr::StartMethod::kForkserver;
    else
      throw po::error("invalid --start-method '" + start_method +
                      "' (use fork, spawn or forkserver)");
    return eo;
  }

  // Opens the inputs, runs the job and writes the output; returns the exit status.
  int run(const mr::Job& job, const po::variables_map& vm, mr::EngineOptions eo,
          const char* records) const {
    if (files.empty()) throw po::error("no input files (use '-' for standard input)");
    if (output.empty() && g_closed_at_start[STDOUT_FILENO])
      throw mr::InputError("standard output is closed (use -o FILE to write to a file)");
    if (g_closed_at_start[STDIN_FILENO] &&
        std::find(files.begin(), files.end(), "-") != files.end())
      throw mr::InputError("standard input is closed, but '-' names it as an input");
    // Every output is opened first: a place that cannot be written is
    // reported now, not after the whole run (nor after waiting for input).
    mr::cli::OutputFile out(output, "output");
    std::optional<mr::cli::OutputFile> trace;
    if (vm.count("trace")) {
      trace.emplace(vm["trace"].as<std::string>(), "trace");
      eo.trace_file = trace->get();
      eo.trace_path = vm["trace"].as<std::string>();
    }
    mr::InputOptions io;
    io.recursive = vm.count("recursive") > 0;
    io.note = [](const std::string& note) { print_error(note); };
    mr::Inputs inputs = mr::open_inputs(files, io);
    mr::JobStats stats = mr::run_job(job, inputs, eo, out.get());
    if (trace) trace->commit();
    out.commit();
    if (vm.count("stats")) print_stats(stats, records);
    return kExitOk;
  }
};

// Parses `args` with `opts` plus the positional FILE arguments.
po::variables_map parse(const std::vector<std::string>& args, const po::options_description& opts,
                        std::vector<std::string>& files) {
  po::options_description hidden;
  hidden.add_options()("files", po::value(&files));
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("files", -1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
  po::notify(vm);
  return vm;
}

int wordcount(const std::vector<std::string>& args) {
  po::options_description opts("wordcount options");
  std::string tokenizer = "unicode", normalize = "none", sort = "count", format = "tsv";
  CommonOptions common;
  opts.add_options()("help,h", "show this help and exit");
  common.add_to(opts);
  opts.add_options()("tokenizer", po::value(&tokenizer), "unicode (default) or whitespace")(
      "keep-case", "do not lowercase words")(
      "normalize", po::value(&normalize),
      "Unicode normal form of each word: none (default), nfc (precomposed and combining "
      "spellings are one word) or nfkc (also compatibility forms: ligatures, full-width)")(
      "sort", po::value(&sort), "count (default: by count descending, then word) or word")(
      "format", po::value(&format), "tsv (default), csv or json");
  try {
    po::variables_map vm = parse(args, opts, common.files);
    if (vm.count("help")) {
      std::cout << "Usage: mapreduce wordcount [options] FILE...\n"
                   "Count the words of the FILEs ('-' for standard input; gzip, xz, bzip2,\n"
                   "lz4 and zstd files are decompressed) and print 'word<TAB>count' lines,\n"
                   "most frequent first.\n\n"
                << opts
                << "\nExit status: 0 success, 1 job failure, 2 usage, input or output error, 130 "
                   "interrupted\n"
                   "(SIGINT, SIGTERM or SIGHUP).\n";
      return kExitOk;
    }
    mr::EngineOptions eo = common.engine(vm);
    // The same recipe makes the job here and in spawned workers.
    eo.job_recipe.builtin = "wordcount";
    eo.job_recipe.options = {{"tokenizer", tokenizer},
                             {"keep_case", vm.count("keep-case") ? "1" : "0"},
                             {"normalize", normalize},
                             {"sort", sort},
                             {"top", std::to_string(eo.output.top)}};
    eo.output.format = parse_format(format);
    std::unique_ptr<mr::Job> job = mr::make_job(eo.job_recipe);
    return common.run(*job, vm, eo, "words");
  } catch (const po::error& e) {
    usage_error(e.what(), "mapreduce wordcount --help");
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    usage_error(e.what(), "mapreduce wordcount --help");
    return kExitUsage;
  } catch (const mr::PluginError& e) {  // an option value the job refused
    usage_error(e.what(), "mapreduce wordcount --help");
    return kExitUsage;
  }
}

// `mapreduce run --job NAME|PATH`: a built-in job (wordcount: the same job
// and output as `mapreduce wordcount`, its options as --opt) or a plugin,
// described, checked and run alike through their PluginInfo records.
int run_job(const std::vector<std::string>& args) {
  po::options_description opts("run options");
  std::string job_name, format = "tsv";
  std::vector<std::string> job_opts;
  CommonOptions common;
  opts.add_options()("help,h", "show this help (with --job: the job's options) and exit")(
      "job", po::value(&job_name),
      "the job: a name from 'mapreduce jobs' or the path of a plugin (.so)")(
      "opt", po::value(&job_opts), "a job option KEY=VALUE (repeatable)");
  common.add_to(opts);
  opts.add_options()(
      "format", po::value(&format),
      "tsv (default: the job's own lines), csv ('key,value' header, RFC 4180 fields) or json "
      "(an array of {\"key\": ..., \"value\": ...})");
  std::string help = "mapreduce run --help";  // where a usage error points to
  try {
    po::variables_map vm = parse(args, opts, common.files);
    if (job_name.empty()) {
      if (vm.count("help")) {
        std::cout << "Usage: mapreduce run --job NAME|PATH [--opt KEY=VALUE]... [options] FILE...\n"
                     "Run a job (the built-in wordcount or a plugin) over the FILEs.\n\n"
                  << opts;
        return kExitOk;
      }
      throw po::error("--job is required ('mapreduce jobs' lists the jobs)");
    }
    help = "mapreduce run --job " + job_name + " --help";
    // The job's description record (a built-in's or a plugin's) and the
    // recipe that makes it (here and in spawned workers).
    mr::JobRecipe recipe;
    const mr::PluginInfo* info = mr::find_builtin_job(job_name);
    if (info) {
      recipe.builtin = job_name;
    } else {
      recipe.plugin = std::filesystem::absolute(mr::resolve_plugin(job_name)).string();
      info = &mr::load_plugin(recipe.plugin);
    }
    const std::vector<mr::OptionSpec> specs =
        info->options ? info->options() : std::vector<mr::OptionSpec>{};
    if (vm.count("help")) {
      std::cout << "Usage: mapreduce run --job " << job_name
                << " [--opt KEY=VALUE]... [options] FILE...\n"
                << info->name << ": " << info->description
                << "\n\nJob options (--opt KEY=VALUE):\n";
      if (specs.empty()) std::cout << "  (none)\n";
      for (const auto& o : specs)
        std::cout << "  " << o.name
                  << (o.default_value.empty() ? "" : " (default " + o.default_value + ")")
                  << "\n      " << o.help << "\n";
      std::cout << "\n" << opts;
      return kExitOk;
    }
    mr::EngineOptions eo = common.engine(vm);
    eo.output.format = parse_format(format);
    mr::JobOptions jo;
    for (const auto& kv : job_opts) jo.add(kv);
    // A job that declares a `top` option (wordcount: each reducer then keeps
    // only its first N) gets --top as that option; --opt top=N is the same
    // setting, so the output keeps N lines too (a reducer keeping fewer than
    // the output shows would print a wrong top). The job checks the value
    // and the other keys.
    const bool takes_top = std::any_of(specs.begin(), specs.end(),
                                       [](const mr::OptionSpec& o) { return o.name == "top"; });
    if (takes_top && jo.has("top")) {
      const long long n = jo.get_int("top", 0);
      if (eo.output.top != 0 && eo.output.top != static_cast<std::uint64_t>(n))
        throw std::invalid_argument(std::string(info->name) + ": --opt top=" + jo.get("top") +
                                    " and --top " + std::to_string(eo.output.top) +
                                    " disagree; give one");
      eo.output.top = static_cast<std::uint64_t>(n);
    } else if (takes_top && eo.output.top) {
      jo.add("top=" + std::to_string(eo.output.top));
    }
    recipe.options = jo.all();
    eo.job_recipe = recipe;
    std::unique_ptr<mr::Job> job;
    try {
      job = mr::make_job(eo.job_recipe);  // its errors name the job
    } catch (const mr::PluginError& e) {
      usage_error(e.what(), help);  // an option the job refused
      return kExitUsage;
    }
    return common.run(*job, vm, eo, "records");
  } catch (const po::error& e) {
    usage_error(e.what(), help);
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    usage_error(e.what(), help);
    return kExitUsage;
  } catch (const mr::PluginError& e) {
    print_error(e.what());
    return kExitUsage;
  }
}

// `mapreduce jobs`: takes no arguments but --help.
int list_jobs(const std::vector<std::string>& args) {
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::printf(
        "Usage: mapreduce jobs\n"
        "List the jobs that 'mapreduce run --job NAME' runs: the built-in ones, then the\n"
        "plugins (libmr_job_NAME.so) found on $MAPREDUCE_JOB_PATH and where plugins are\n"
        "installed beside this program, each with its path.\n");
    return kExitOk;
  }
  if (!args.empty()) {
    usage_error("'jobs' takes no arguments, got '" + args[0] + "'", "mapreduce jobs --help");
    return kExitUsage;
  }
  for (const mr::PluginInfo* b : mr::builtin_jobs())
    std::printf("%-14s %s\n    (built into this program)\n", b->name, b->description);
  for (const auto& p : mr::list_plugins()) {
    if (p.loadable)
      std::printf("%-14s %s\n    %s\n", mr::cli::printable(p.name).c_str(),
                  mr::cli::printable(p.description).c_str(), mr::cli::printable(p.path).c_str());
    else
      std::printf("%-14s (cannot be loaded: %s)\n", mr::cli::printable(p.name).c_str(),
                  mr::cli::printable(p.description).c_str());
  }
  return kExitOk;
}

}  // namespace

// The built-in jobs of this program, registered by the same description
// record a plugin exports (spawned workers make them from a JobRecipe).
MR_BUILTIN_JOB(mr::wordcount_job_info);

int main(int argc, char** argv) {
  occupy_standard_descriptors();
  mr::spawn_main_hook(argc, argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::printf(
        "Usage: mapreduce COMMAND [options] [FILE...]\n\n"
        "Commands:\n"
        "  wordcount   count words, most frequent first ('mapreduce wordcount --help')\n"
        "  run         run a job: wordcount or a plugin ('mapreduce run --job NAME --help')\n"
        "  jobs        list the jobs: built in, and plugins on the search path\n"
        "  streaming   run a job as a Hadoop Streaming map, combine or reduce task\n"
        "              ('mapreduce streaming --help')\n\n"
        "Options:\n"
        "  -h, --help  show this help\n"
        "  --version   show the version\n");
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version") {
    std::printf("%s\n", kVersion);
    return kExitOk;
  }
  std::string command = args[0];
  args.erase(args.begin());
  mr::install_interrupt_handlers();
  try {
    if (command == "wordcount") return wordcount(args);
    if (command == "run") return run_job(args);
    if (command == "jobs") return list_jobs(args);
    if (command == "streaming") return mr::cli::streaming(args);
    usage_error("unknown command '" + command + "'");
    return kExitUsage;
  } catch (const mr::InputError& e) {
    print_error(e.what());
    return kExitUsage;
  } catch (const mr::cli::OutputError& e) {
    print_error(e.what());
    return kExitUsage;
  } catch (const mr::Interrupted&) {
    print_error("interrupted");
    return kExitInterrupted;
  } catch (const std::exception& e) {
    print_error(e.what());
    return kExitJobFailed;
  }
}
