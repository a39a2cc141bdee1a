// mapreduce: the command-line program.
//
//   mapreduce wordcount [options] [FILE...]
//   mapreduce run --job NAME|PATH [--opt KEY=VALUE]... [options] [FILE...]
//   mapreduce jobs
//   mapreduce streaming map|combine|reduce --job NAME|PATH [--opt KEY=VALUE]...
//   mapreduce help [COMMAND]
//
// With no FILE, standard input is read (as wc and sort do). Every command
// takes --help and --version.
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

#include "mr/mapreduce/backend.h"
#include "mr/mapreduce/engine.h"
#include "mr/mapreduce/input.h"
#include "mr/mapreduce/job_recipe.h"
#include "mr/mapreduce/plugin_loader.h"
#include "mr/process/process.h"
#include "output_file.h"
#include "printable.h"
#include "progress_line.h"
#include "streaming.h"
#include "units.h"
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

// --version, for the program and each of its commands.
int print_version() {
  std::printf("%s\n", kVersion);
  return kExitOk;
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

// --stats: one "name: value" line each, the values aligned in one column,
// sizes human-readable ("1.2 GiB"); the job's counters last ("counter NAME").
void print_stats(const mr::JobStats& s, const char* records) {
  using mr::cli::human_bytes;
  const auto n = [](auto v) { return std::to_string(v); };
  const auto kib = [](long kb) { return human_bytes(static_cast<std::uint64_t>(kb) * 1024); };
  const double total = s.seconds_map + s.seconds_reduce + s.seconds_output;
  char times[160];
  std::snprintf(
      times, sizeof times, "map %.3f s, reduce %.3f s, output %.3f s (total %.3f s, %s/s)",
      s.seconds_map, s.seconds_reduce, s.seconds_output, total,
      human_bytes(total > 0 ? static_cast<std::uint64_t>(s.input_bytes / total) : 0).c_str());
  std::vector<std::pair<std::string, std::string>> rows = {
      {"workers", n(s.workers) + " (reducers " + n(s.reducers) + ")"},
      {"input", human_bytes(s.input_bytes) + " (" + n(s.input_bytes) + " bytes in " + n(s.chunks) +
                    " chunks)"},
      {records, n(s.records) + " (" + n(s.distinct_keys) + " distinct keys)"},
      {"map emitted", n(s.emitted) + " pairs (before combining)"},
      {"output lines", n(s.output_lines)},
      {"time", times},
      {"shuffle", human_bytes(s.shuffle_bytes)},
      {"retries", n(s.retries) + " (workers replaced " + n(s.workers_replaced) + ", spills " +
                      n(s.spills) + ")"},
  };
  if (s.map_only) rows.push_back({"reduce", "none: a map-only job (no reduce step)"});
  if (s.speculative)
    rows.push_back({"speculative", n(s.speculative) + " (copies of straggling tasks; " +
                                       n(s.speculative_won) + " won the race)"});
  rows.push_back({"private memory", "master " + kib(s.peak_private_kb_master) +
                                        ", largest worker " + kib(s.peak_private_kb_workers) +
                                        " (peak anonymous memory: heap, stacks, tables; without "
                                        "the input files' pages)"});
  rows.push_back({"resident memory", "master " + kib(s.peak_rss_kb_master) + ", largest worker " +
                                         kib(s.peak_rss_kb_workers) +
                                         " (peak RSS: with the pages of the mapped input files)"});
  for (const auto& [name, v] : s.user_counters)
    rows.push_back({"counter " + mr::cli::printable(name), std::to_string(v)});
  for (std::size_t i = 0; i < s.ranks.size(); ++i) {
    const mr::RankStats& r = s.ranks[i];
    char line[320];
    std::snprintf(line, sizeof line,
                  "read %llu bytes in %llu chunks (%llu chunks, %llu partitions restored from "
                  "--checkpoint), shuffle sent %llu received %llu bytes, "
                  "map/exchange/reduce/gather %.3f / %.3f / %.3f / %.3f s",
                  (unsigned long long)r.input_bytes, (unsigned long long)r.chunks,
                  (unsigned long long)r.restored_chunks, (unsigned long long)r.restored_partitions,
                  (unsigned long long)r.sent_bytes, (unsigned long long)r.received_bytes,
                  r.seconds_map, r.seconds_exchange, r.seconds_reduce, r.seconds_gather);
    rows.push_back({"rank " + n(i), line});
  }
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size() + 1);
  std::string text = "mapreduce: stats\n";
  for (const auto& [name, value] : rows) {
    text += "  " + name + ":";
    text.append(width - name.size() - 1 + 1, ' ');
    text += value + "\n";
  }
  std::fputs(text.c_str(), stderr);
}

// "2.5" -> 2.5 s for --OPTION, which must be more than 0.
std::chrono::duration<double> parse_seconds(const std::string& text, const char* option) {
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(seconds > 0))
    throw po::error("invalid --" + std::string(option) + " '" + text + "' (seconds, more than 0)");
  return std::chrono::duration<double>(seconds);
}

// --format: tsv, csv, json or jsonl.
mr::OutputOptions::Format parse_format(const std::string& format) {
  if (format == "tsv") return mr::OutputOptions::Format::kTsv;
  if (format == "csv") return mr::OutputOptions::Format::kCsv;
  if (format == "json") return mr::OutputOptions::Format::kJson;
  if (format == "jsonl") return mr::OutputOptions::Format::kJsonl;
  throw po::error("invalid --format '" + format + "' (use tsv, csv, json or jsonl)");
}

// The options every command that runs a job takes, and the files.
struct CommonOptions {
  std::string output, chunk_size = "8M", memory, task_timeout = "600", start_method = "fork";
  std::string backend = "local", rank_timeout, checkpoint;
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
        "progress",
        "show progress on stderr: a line redrawn in place on a terminal (the default there), "
        "else a line every 2 seconds")("no-progress", "never show the progress line")(
        "stats", "print phase times, counts and peak memory on stderr")(
        "trace", po::value<std::string>(),
        "write a Chrome trace-event JSON timeline to FILE (open it in Perfetto)")(
        "start-method", po::value(&start_method),
        "how workers start: fork (default: copies of this process), spawn or forkserver (fresh "
        "runs of the program that load the job again)")(
        "backend", po::value(&backend),
        "local (default: this machine) or mpi (one rank of 'mpirun -np N mapreduce ...': "
        "every rank maps its share, rank 0 writes the output)")(
        "parts",
        "with --backend mpi and -o DIR: each rank writes its results to DIR/part-r-NNNNN, rank 0 "
        "adds DIR/_SUCCESS (DIR must not exist)")(
        "checkpoint", po::value(&checkpoint),
        "commit every map output to DIR (write, fsync, rename); a relaunch with the same DIR, "
        "job, files and options maps only what was not committed (input files only)")(
        "rank-timeout", po::value(&rank_timeout),
        "with --backend mpi: seconds a rank waits for another one to answer, or for all of "
        "them to start (MPI_Init), before the job fails naming it (default: --task-timeout)");
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
    eo.task_timeout = parse_seconds(task_timeout, "task-timeout");
    eo.output.top = static_cast<std::uint64_t>(top);
    if (vm.count("trace")) eo.trace_path = vm["trace"].as<std::string>();
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

  // The backend --backend names (null: local), its timeout from --rank-timeout.
  std::unique_ptr<mr::Backend> load_backend(const mr::EngineOptions& eo) const {
    if (backend == "local") return nullptr;
    if (backend != "mpi") throw po::error("invalid --backend '" + backend + "' (use local or mpi)");
    mr::BackendOptions bo;
    bo.timeout = eo.task_timeout;
    if (!rank_timeout.empty()) bo.timeout = parse_seconds(rank_timeout, "rank-timeout");
    return mr::load_backend(backend, bo);
  }

  // --parts: needs --backend mpi and -o DIR, a folder that does not exist.
  void check_parts_folder() const {
    if (backend == "local") throw po::error("--parts needs --backend mpi");
    if (output.empty()) throw po::error("--parts needs -o DIR (the folder to make)");
    struct stat st {};
    if (::lstat(output.c_str(), &st) == 0)
      throw mr::cli::OutputError(
          "'" + output + "' exists; --parts writes a new folder (remove it or pick another)");
  }

  // Opens the inputs, runs the job and writes the output; returns the exit status.
  int run(const mr::Job& job, const po::variables_map& vm, mr::EngineOptions eo,
          const char* records) const {
    if (output.empty() && g_closed_at_start[STDOUT_FILENO])
      throw mr::InputError("standard output is closed (use -o FILE to write to a file)");
    if (g_closed_at_start[STDIN_FILENO] && files.empty())
      throw mr::InputError("no input files, and standard input is closed");
    if (g_closed_at_start[STDIN_FILENO] &&
        std::find(files.begin(), files.end(), "-") != files.end())
      throw mr::InputError("standard input is closed, but '-' names it as an input");
    // No FILE: standard input, as wc and sort read it.
    const std::vector<std::string> inputs_named =
        files.empty() ? std::vector<std::string>{"-"} : files;
    // Every output is opened first: a place that cannot be written is
    // reported now, not after the whole run (nor after waiting for input).
    const bool parts = vm.count("parts") > 0;
    if (parts) check_parts_folder();
    mr::cli::OutputFile out(parts ? "" : output, "output");
    std::optional<mr::cli::OutputFile> trace;
    if (vm.count("trace")) {
      trace.emplace(vm["trace"].as<std::string>(), "trace");
      eo.trace_file = trace->get();
      eo.trace_path = vm["trace"].as<std::string>();
    }
    mr::InputOptions io;
    io.recursive = vm.count("recursive") > 0;
    io.note = [](const std::string& note) { print_error(note); };
    mr::Inputs inputs = mr::open_inputs(inputs_named, io);
    std::unique_ptr<mr::Backend> cluster = load_backend(eo);
    eo.backend = cluster.get();
    if (parts) eo.parts_dir = output;
    eo.checkpoint_dir = checkpoint;
    // Declared after the outputs: erased (or ended) before a message about them.
    // Not on a cluster: each rank would show only its own share.
    std::optional<mr::cli::ProgressLine> progress;
    const bool tty = ::isatty(STDERR_FILENO);
    if (!cluster && !vm.count("no-progress") && (vm.count("progress") || tty)) {
      progress.emplace(STDERR_FILENO, tty ? mr::cli::ProgressLine::Mode::kTerminal
                                          : mr::cli::ProgressLine::Mode::kLog);
      eo.on_progress = [&progress](const mr::Progress& p) { progress->update(p); };
    }
    mr::JobStats stats = mr::run_job(job, inputs, eo, out.get());
    if (cluster && cluster->rank() != 0) return kExitOk;  // rank 0 wrote the output
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
  opts.add_options()("help,h", "show this help and exit")("version", "show the version and exit");
  common.add_to(opts);
  opts.add_options()("tokenizer", po::value(&tokenizer), "unicode (default) or whitespace")(
      "keep-case", "do not lowercase words")(
      "normalize", po::value(&normalize),
      "Unicode normal form of each word: none (default), nfc (precomposed and combining "
      "spellings are one word) or nfkc (also compatibility forms: ligatures, full-width)")(
      "sort", po::value(&sort), "count (default: by count descending, then word) or word")(
      "format", po::value(&format),
      "tsv (default), csv, json (an array of objects) or jsonl (one JSON object a line)");
  try {
    po::variables_map vm = parse(args, opts, common.files);
    if (vm.count("version")) return print_version();
    if (vm.count("help")) {
      std::cout << "Usage: mapreduce wordcount [options] [FILE...]\n"
                   "Count the words of the FILEs (none, or '-': standard input; gzip, xz,\n"
                   "bzip2, lz4 and zstd files are decompressed) and print 'word<TAB>count'\n"
                   "lines, most frequent first.\n\n"
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
      "version", "show the version and exit")(
      "job", po::value(&job_name),
      "the job: a name from 'mapreduce jobs' or the path of a plugin (.so)")(
      "opt", po::value(&job_opts), "a job option KEY=VALUE (repeatable)");
  common.add_to(opts);
  opts.add_options()(
      "format", po::value(&format),
      "tsv (default: the job's own lines), csv ('key,value' header, RFC 4180 fields), json "
      "(an array of {\"key\": ..., \"value\": ...}) or jsonl (one such object a line)");
  std::string help = "mapreduce run --help";  // where a usage error points to
  try {
    po::variables_map vm = parse(args, opts, common.files);
    if (vm.count("version")) return print_version();
    if (job_name.empty()) {
      if (vm.count("help")) {
        std::cout << "Usage: mapreduce run --job NAME|PATH [--opt KEY=VALUE]... [options] "
                     "[FILE...]\n"
                     "Run a job (the built-in wordcount or a plugin) over the FILEs (none, or\n"
                     "'-': standard input).\n\n"
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
                << " [--opt KEY=VALUE]... [options] [FILE...]\n"
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

// `mapreduce jobs`: takes no arguments but --help and --version.
int list_jobs(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "--version") return print_version();
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
  // `help CMD [ARGS...]` is `CMD [ARGS...] --help`.
  if (args.size() > 1 && args[0] == "help") {
    args.erase(args.begin());
    args.push_back("--help");
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::printf(
        "Usage: mapreduce COMMAND [options] [FILE...]\n"
        "Run MapReduce jobs over files on this machine's cores. With no FILE, or when\n"
        "FILE is -, standard input is read.\n\n"
        "Commands:\n"
        "  wordcount   count words, most frequent first ('mapreduce wordcount --help')\n"
        "  run         run a job: wordcount or a plugin ('mapreduce run --job NAME --help')\n"
        "  jobs        list the jobs: built in, and plugins on the search path\n"
        "  streaming   run a job as a Hadoop Streaming map, combine or reduce task\n"
        "  help        'mapreduce help COMMAND': the same as 'mapreduce COMMAND --help'\n\n"
        "Options:\n"
        "  -h, --help  show this help\n"
        "  --version   show the version (also after a command)\n\n"
        "Exit status: 0 success, 1 job failure, 2 usage, input or output error, 130\n"
        "interrupted (SIGINT, SIGTERM or SIGHUP).\n");
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version") return print_version();
  std::string command = args[0];
  args.erase(args.begin());
  mr::install_interrupt_handlers();
  try {
    if (command == "wordcount") return wordcount(args);
    if (command == "run") return run_job(args);
    if (command == "jobs") return list_jobs(args);
    if (command == "streaming") {
      if (std::find(args.begin(), args.end(), "--version") != args.end()) return print_version();
      return mr::cli::streaming(args);
    }
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
