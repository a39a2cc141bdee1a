// End-to-end tests of the `mapreduce` program: each test runs the real
// binary (MAPREDUCE_BIN) with posix_spawn in its own process group, on files
// in a per-test temporary folder, with stdout and stderr captured into files
// and a hard timeout on every wait. Expected results come from a tiny
// counter written here (ASCII letters only, or runs of non-whitespace bytes)
// or are written out by hand; fault paths use MAPREDUCE_FAULT.
//
// After every run the test checks that no process is left in the program's
// process group (the workers inherit it) and that the run's own $TMPDIR (a
// per-test folder, where spill files go) is empty, so a leaked worker or
// temporary file fails the test that leaked it.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "mr/base/deadline.h"
#include "mr/base/unique_fd.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kBinary = MAPREDUCE_BIN;

// ---- files ----------------------------------------------------------------

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void spill(const fs::path& p, std::string_view data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  f.close();
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

std::set<std::string> shm_names() {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev/shm", ec))
    names.insert(e.path().filename().string());
  return names;
}

std::string zstd_compress(std::string_view data, bool checksum = true) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, checksum ? 1 : 0);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, 3);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  std::size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n)) throw std::runtime_error(ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

// ---- /proc -----------------------------------------------------------------

struct ProcStat {
  pid_t pid = 0;
  char state = '?';
  pid_t ppid = 0;
  pid_t pgrp = 0;
  unsigned long long start_time = 0;
};

std::optional<ProcStat> proc_stat(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line)) return std::nullopt;
  auto close = line.rfind(')');  // the command name may hold spaces and ')'
  if (close == std::string::npos || close + 2 > line.size()) return std::nullopt;
  std::istringstream rest(line.substr(close + 2));
  ProcStat s;
  s.pid = pid;
  rest >> s.state >> s.ppid >> s.pgrp;
  std::string skip;
  for (int field = 6; field < 22; ++field) rest >> skip;  // session .. itrealvalue
  rest >> s.start_time;
  if (!rest) return std::nullopt;
  return s;
}

std::vector<ProcStat> all_processes() {
  std::vector<ProcStat> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (auto s = proc_stat(static_cast<pid_t>(pid))) out.push_back(*s);
  }
  ::closedir(d);
  return out;
}

// Living (not zombie) children of `parent`.
std::vector<ProcStat> children_of(pid_t parent) {
  std::vector<ProcStat> kids;
  for (const auto& s : all_processes())
    if (s.ppid == parent && s.state != 'Z' && s.state != 'X') kids.push_back(s);
  return kids;
}

// Every process (zombies included) in process group `pgrp`.
std::vector<ProcStat> group_members(pid_t pgrp) {
  std::vector<ProcStat> members;
  for (const auto& s : all_processes())
    if (s.pgrp == pgrp) members.push_back(s);
  return members;
}

std::string describe(const std::vector<ProcStat>& ps) {
  std::string out;
  for (const auto& s : ps)
    out +=
        " pid " + std::to_string(s.pid) + " state " + s.state + " ppid " + std::to_string(s.ppid);
  return out;
}

// True once the process recorded in `s` no longer runs: gone, a zombie, or
// its pid reused by another process.
bool has_ended(const ProcStat& s) {
  auto now = proc_stat(s.pid);
  return !now || now->state == 'Z' || now->state == 'X' || now->start_time != s.start_time;
}

// /dev/shm objects a process maps or holds open.
std::vector<std::string> shm_uses(pid_t pid) {
  std::vector<std::string> uses;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.find(" /dev/shm/") != std::string::npos) uses.push_back(line);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code ec2;
    auto target = fs::read_symlink(e.path(), ec2);
    if (!ec2 && target.string().rfind("/dev/shm/", 0) == 0) uses.push_back(target.string());
  }
  return uses;
}

// True when process `pid` holds a file that has no name yet in folder
// `dir` (O_TMPFILE: /proc shows it as "<dir>/#<inode> (deleted)").
bool holds_nameless_file_in(pid_t pid, const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code ec2;
    const std::string target = fs::read_symlink(e.path(), ec2).string();
    if (!ec2 && target.rfind(dir.string() + "/#", 0) == 0) return true;
  }
  return false;
}

// Polls `condition` until it holds or `timeout` passes (bounded polling on an
// observable condition; never a blind sleep).
bool poll_until(std::chrono::milliseconds timeout, const std::function<bool()>& condition) {
  auto deadline = mr::Deadline::after(timeout);
  for (;;) {
    if (condition()) return true;
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(2ms);
  }
}

// SIGPIPE ignored while it lives, so that writing to a program that died
// fails with EPIPE instead of killing the test.
class IgnoreSigpipe {
 public:
  IgnoreSigpipe() {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &saved_);
  }
  ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &saved_, nullptr); }
  IgnoreSigpipe(const IgnoreSigpipe&) = delete;
  IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;

 private:
  struct sigaction saved_ {};
};

// Writes `data` to the non-blocking descriptor `fd` in pieces of at most
// `piece` bytes. False on an error or when `timeout` passes first.
bool write_for(int fd, std::string_view data, std::size_t piece,
               std::chrono::milliseconds timeout) {
  auto deadline = mr::Deadline::after(timeout);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, std::min(piece, data.size() - done));
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (deadline.expired()) return false;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, std::max(1, deadline.poll_timeout_ms()));
  }
  return true;
}

// A pipe for a child's standard input: the read end for the child, the
// write end (non-blocking) for the test.
struct StdinPipe {
  mr::UniqueFd read, write;
  StdinPipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw std::system_error(errno, std::generic_category(), "pipe2");
    read.reset(fds[0]);
    write.reset(fds[1]);
    ::fcntl(write.get(), F_SETFL, O_NONBLOCK);
  }
};

// True once process `pid` has a handler installed for `sig` (SigCgt in
// /proc/<pid>/status), so sending it cannot kill the process by default.
bool catches_signal(pid_t pid, int sig) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("SigCgt:", 0) != 0) continue;
    unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> (sig - 1)) & 1;
  }
  return false;
}

// ---- running the program ----------------------------------------------------

struct Status {
  int raw = 0;
  bool exited() const { return WIFEXITED(raw); }
  int code() const { return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1; }
  bool signaled() const { return WIFSIGNALED(raw); }
  int signal() const { return WIFSIGNALED(raw) ? WTERMSIG(raw) : 0; }
  std::string str() const {
    if (exited()) return "exited with " + std::to_string(code());
    if (signaled()) return std::string("killed by signal ") + strsignal(signal());
    return "raw status " + std::to_string(raw);
  }
};

struct SpawnSpec {
  std::vector<std::string> args;  // after the program name
  std::string stdin_path = "/dev/null";
  int stdin_fd = -1;             // if set: standard input is this descriptor instead
  std::vector<std::string> env;  // NAME=VALUE, added to (or replacing in) ours
  fs::path cwd;
  fs::path out, err;
  bool close_stdout = false;   // start the program with descriptor 1 closed
  bool ignore_sighup = false;  // start it with SIGHUP ignored, as nohup does
  // If set: run this command with the program and its arguments appended
  // (e.g. a shell that first moves itself into a cgroup, then execs).
  std::vector<std::string> wrapper;
};

// The `mapreduce` program as a child of the test, leader of its own process
// group. The destructor kills the whole group and reaps the child if the
// test did not.
class Child {
 public:
  explicit Child(const SpawnSpec& spec) {
    std::vector<std::string> argv_s = spec.wrapper;
    argv_s.push_back(kBinary);
    argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);

    std::vector<std::string> env_s;
    auto overridden = [&spec](std::string_view entry) {
      if (entry.rfind("MAPREDUCE_", 0) == 0) return true;  // nothing from the outer environment
      for (const auto& e : spec.env) {
        auto eq = e.find('=');
        if (entry.substr(0, eq + 1) == std::string_view(e).substr(0, eq + 1)) return true;
      }
      return false;
    };
    for (char** e = environ; *e; ++e)
      if (!overridden(*e)) env_s.emplace_back(*e);
    env_s.insert(env_s.end(), spec.env.begin(), spec.env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
    if (spec.stdin_fd >= 0)
      posix_spawn_file_actions_adddup2(&fa, spec.stdin_fd, 0);
    else
      posix_spawn_file_actions_addopen(&fa, 0, spec.stdin_path.c_str(), O_RDONLY, 0);
    if (spec.close_stdout)
      posix_spawn_file_actions_addclose(&fa, 1);
    else
      posix_spawn_file_actions_addopen(&fa, 1, spec.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                       0644);
    posix_spawn_file_actions_addopen(&fa, 2, spec.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    sigset_t defaults, none;
    sigemptyset(&defaults);
    for (int s : {SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP, SIGQUIT}) sigaddset(&defaults, s);
    // An ignored signal stays ignored across exec: ignore SIGHUP here for
    // the moment of the spawn.
    struct sigaction ignore {
    }, saved_hup{};
    ignore.sa_handler = SIG_IGN;
    if (spec.ignore_sighup) {
      sigdelset(&defaults, SIGHUP);
      ::sigaction(SIGHUP, &ignore, &saved_hup);
    }
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    int rc = posix_spawn(&pid_, argv_s[0].c_str(), &fa, &attr, argv.data(), envp.data());
    if (spec.ignore_sighup) ::sigaction(SIGHUP, &saved_hup, nullptr);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
      throw std::system_error(rc, std::generic_category(), std::string("posix_spawn ") + kBinary);
    pidfd_ = mr::UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  ~Child() {
    if (reaped_) return;
    ::killpg(pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }

  pid_t pid() const { return pid_; }

  // Reaps the child if it ends within `timeout`.
  std::optional<Status> wait_for(std::chrono::milliseconds timeout) {
    if (reaped_) return status_;
    auto deadline = mr::Deadline::after(timeout);
    for (;;) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        status_.raw = st;
        return status_;
      }
      if (r < 0 && errno != EINTR)
        throw std::system_error(errno, std::generic_category(), "waitpid");
      if (deadline.expired()) return std::nullopt;
      if (pidfd_) {
        pollfd p{pidfd_.get(), POLLIN, 0};
        ::poll(&p, 1, std::max(1, deadline.poll_timeout_ms()));
      } else {
        std::this_thread::sleep_for(1ms);  // no pidfd: bounded polling of waitpid
      }
    }
  }

 private:
  pid_t pid_ = -1;
  mr::UniqueFd pidfd_;
  bool reaped_ = false;
  Status status_;
};

struct Result {
  Status status;
  std::string out, err;
  int code() const { return status.code(); }
  // For assertion messages.
  std::string str() const { return status.str() + "\n--- stderr:\n" + err.substr(0, 2000); }
};

struct RunOptions {
  std::string stdin_path = "/dev/null";
  int stdin_fd = -1;
  std::vector<std::string> env;
  fs::path cwd;
  std::chrono::milliseconds timeout = 30s;
  bool close_stdout = false;
  bool ignore_sighup = false;
  std::vector<std::string> wrapper;
};

RunOptions stdin_from(const std::filesystem::path& path) {
  RunOptions o;
  o.stdin_path = path.string();
  return o;
}
RunOptions with_env(std::string assignment) {
  RunOptions o;
  o.env.push_back(std::move(assignment));
  return o;
}
RunOptions in_dir(const std::filesystem::path& cwd) {
  RunOptions o;
  o.cwd = cwd;
  return o;
}

// The numbers after the colon on the first --stats line of `text` named
// `label` (trailing blanks ignored), e.g. {10000, 1947} for "words" and
// "  words:   10000 (1947 distinct keys)"; empty when there is no such line.
// (No <regex>: g++ 12 warns inside it under -O1 with sanitizers.)
std::vector<std::uint64_t> numbers_on_line(const std::string& text, std::string label) {
  while (!label.empty() && label.back() == ' ') label.pop_back();
  label += ':';
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    auto start = line.find_first_not_of(' ');
    if (start == std::string::npos || line.compare(start, label.size(), label) != 0) continue;
    std::vector<std::uint64_t> numbers;
    for (std::size_t i = start + label.size(); i < line.size();) {
      if (line[i] < '0' || line[i] > '9') {
        ++i;
        continue;
      }
      std::size_t end = line.find_first_not_of("0123456789", i);
      if (end == std::string::npos) end = line.size();
      numbers.push_back(std::stoull(line.substr(i, end - i)));
      i = end;
    }
    return numbers;
  }
  return {};
}

// {B, C} of the --stats line "input:  1.2 MiB (B bytes in C chunks)".
std::vector<std::uint64_t> input_bytes_and_chunks(const std::string& text) {
  std::vector<std::uint64_t> n = numbers_on_line(text, "input");
  if (n.size() > 2) n.erase(n.begin(), n.end() - 2);  // the human-readable size first
  return n;
}

// ---- independent expectations ------------------------------------------------

using Counts = std::map<std::string, std::uint64_t>;

// Words of ASCII text: maximal runs of ASCII letters, lowercased.
void count_letters(std::string_view text, Counts& counts) {
  std::string word;
  for (char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      word += static_cast<char>(c | 0x20);
    } else if (!word.empty()) {
      ++counts[word];
      word.clear();
    }
  }
  if (!word.empty()) ++counts[word];
}

// Words of the whitespace tokenizer with --keep-case: maximal runs of bytes
// other than ASCII whitespace, as they are.
void count_nonspace(std::string_view text, Counts& counts) {
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r') {
      if (!word.empty()) ++counts[word];
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) ++counts[word];
}

// The contract's order: count descending, then word in byte order.
std::vector<std::pair<std::string, std::uint64_t>> ordered(const Counts& counts) {
  std::vector<std::pair<std::string, std::uint64_t>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    return a.first < b.first;  // char_traits<char> compares as unsigned char
  });
  return v;
}

std::string tsv(const Counts& counts) {
  std::string out;
  for (const auto& [w, n] : ordered(counts)) out += w + "\t" + std::to_string(n) + "\n";
  return out;
}

// Deterministic ASCII text: a skewed choice from a random vocabulary (so
// there are many ties), random capitals, and separators including CRLF,
// tabs and punctuation. No digits and no apostrophes, so count_letters
// agrees with the unicode tokenizer.
std::string make_text(std::uint32_t seed, std::size_t bytes) {
  std::mt19937 rng(seed);
  std::vector<std::string> vocab;
  for (int i = 0; i < 300; ++i) {
    std::string w;
    int len = 1 + static_cast<int>(rng() % 11);
    for (int k = 0; k < len; ++k) w += static_cast<char>('a' + rng() % 26);
    vocab.push_back(w);
  }
  static const char* const kSeparators[] = {" ",  " ",    " ",  " ",   "\n", "\t", ", ",
                                            ". ", "\r\n", "--", "!\n", "; ", " (", ") "};
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::string out;
  while (out.size() < bytes) {
    double x = u(rng);
    std::string w = vocab[static_cast<std::size_t>(x * x * x * vocab.size())];
    for (char& c : w)
      if (rng() % 8 == 0) c = static_cast<char>(c - 'a' + 'A');
    out += w;
    out += kSeparators[rng() % std::size(kSeparators)];
  }
  return out;
}

// ---- a small JSON reader, to check the structure of --format json ----------

struct JsonEntry {
  std::string word;
  std::uint64_t count = 0;
};

class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : s_(text) {}

  // Parses `[ {"word": STRING, "count": INTEGER}, ... ]` followed only by
  // whitespace; throws std::runtime_error with the position on anything else.
  std::vector<JsonEntry> entries() {
    std::vector<JsonEntry> out;
    expect('[');
    if (!peek(']')) {
      do {
        out.push_back(entry());
      } while (take(','));
    }
    expect(']');
    skip_ws();
    if (i_ != s_.size()) fail("trailing bytes");
    return out;
  }

 private:
  JsonEntry entry() {
    JsonEntry e;
    bool has_word = false, has_count = false;
    expect('{');
    do {
      std::string key = string();
      expect(':');
      if (key == "word") {
        e.word = string();
        has_word = true;
      } else if (key == "count") {
        e.count = integer();
        has_count = true;
      } else {
        fail("unexpected key " + key);
      }
    } while (take(','));
    expect('}');
    if (!has_word || !has_count) fail("entry without word or count");
    return e;
  }

  std::uint64_t integer() {
    skip_ws();
    std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (i_ == start || (s_[start] == '0' && i_ - start > 1)) fail("bad integer");
    return std::stoull(std::string(s_.substr(start, i_ - start)));
  }

  std::string string() {
    skip_ws();
    if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("raw control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u':
          append_utf8(out, hex4());
          break;
        default:
          fail("bad escape");
      }
    }
  }

  char32_t hex4() {
    if (i_ + 4 > s_.size()) fail("short \\u escape");
    char32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        fail("bad hex digit");
    }
    if (v >= 0xD800 && v <= 0xDFFF) fail("surrogate escapes are not expected here");
    return v;
  }

  static void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool peek(char c) {
    skip_ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool take(char c) {
    if (!peek(c)) return false;
    ++i_;
    return true;
  }
  void expect(char c) {
    if (!take(c)) fail(std::string("expected '") + c + "'");
  }
  [[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("JSON: " + what + " at byte " + std::to_string(i_));
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF).
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    char32_t cp, min;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF)
      n = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
      n = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
      n = 4, cp = c & 0x07, min = 0x10000;
    else
      return false;
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// ---- the fixture -----------------------------------------------------------

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mr-cli-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
    root_ = tmpl;
    dir_ = root_ / "work";
    io_ = root_ / "io";
    tmp_ = root_ / "tmp";
    fs::create_directory(dir_);
    fs::create_directory(io_);
    fs::create_directory(tmp_);
  }

  void TearDown() override {
    std::error_code ec;
    // Give back permissions a test took away, so that removal works as non-root.
    for (auto it = fs::recursive_directory_iterator(root_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(root_, ec);
  }

  fs::path file(const std::string& name, std::string_view content) {
    fs::path p = dir_ / name;
    spill(p, content);
    return p;
  }

  std::unique_ptr<Child> start(std::vector<std::string> args, const RunOptions& o = {}) {
    ++runs_;
    SpawnSpec spec;
    spec.args = std::move(args);
    spec.stdin_path = o.stdin_path;
    spec.stdin_fd = o.stdin_fd;
    spec.env = o.env;
    spec.env.insert(spec.env.begin(), "TMPDIR=" + tmp_.string());
    spec.cwd = o.cwd;
    spec.close_stdout = o.close_stdout;
    spec.ignore_sighup = o.ignore_sighup;
    spec.wrapper = o.wrapper;
    spec.out = io_ / ("out." + std::to_string(runs_));
    spec.err = io_ / ("err." + std::to_string(runs_));
    last_out_ = spec.out;
    last_err_ = spec.err;
    return std::make_unique<Child>(spec);
  }

  // Waits for `child` (killing its group and failing the test on timeout),
  // then checks that nothing of its process group is left.
  Result finish(Child& child, std::chrono::milliseconds timeout) {
    Result r;
    auto st = child.wait_for(timeout);
    if (!st) {
      ADD_FAILURE() << "mapreduce (pid " << child.pid() << ") still running after "
                    << timeout.count() << " ms; killing it";
      ::killpg(child.pid(), SIGKILL);
      st = child.wait_for(10s);
    }
    if (st) r.status = *st;
    std::error_code ec;
    r.out = fs::exists(last_out_, ec) ? slurp(last_out_) : "";
    r.err = slurp(last_err_);
    auto left = group_members(child.pid());
    EXPECT_TRUE(left.empty()) << "processes left in the group of mapreduce " << child.pid() << ":"
                              << describe(left);
    auto temps = listing(tmp_);
    EXPECT_TRUE(temps.empty()) << "left in $TMPDIR: " << *temps.begin();
    return r;
  }

  Result run(std::vector<std::string> args, const RunOptions& o = {}) {
    auto child = start(std::move(args), o);
    return finish(*child, o.timeout);
  }

  // Runs a successful wordcount and returns its standard output.
  std::string counts(std::vector<std::string> args, const RunOptions& o = {}) {
    args.insert(args.begin(), "wordcount");
    Result r = run(args, o);
    EXPECT_EQ(r.code(), 0) << r.str();
    EXPECT_EQ(r.err, "") << "stderr of a quiet successful run";
    return r.out;
  }

  fs::path root_, dir_, io_, tmp_;  // tmp_ is the program's $TMPDIR (spill files)
  fs::path last_out_, last_err_;
  int runs_ = 0;
};

using CliFaultTest = CliTest;

// ---- help, version, usage ----------------------------------------------------

TEST_F(CliTest, PrintsHelpAndVersion) {
  Result top = run({"--help"});
  EXPECT_EQ(top.code(), 0) << top.str();
  EXPECT_NE(top.out.find("wordcount"), std::string::npos) << top.out;

  Result wc = run({"wordcount", "--help"});
  EXPECT_EQ(wc.code(), 0) << wc.str();
  for (const char* opt : {"--workers", "--reducers", "--chunk-size", "--memory", "--progress",
                          "--no-progress", "--stats", "--top", "--sort", "--format", "--output",
                          "--keep-case", "--tokenizer", "--recursive"})
    EXPECT_NE(wc.out.find(opt), std::string::npos) << "help does not mention " << opt << ":\n"
                                                   << wc.out;

  Result v = run({"--version"});
  EXPECT_EQ(v.code(), 0) << v.str();
  EXPECT_EQ(v.out.rfind("mapreduce ", 0), 0u) << v.out;
  EXPECT_TRUE(v.out.size() > 10 && v.out[10] >= '0' && v.out[10] <= '9') << v.out;
}

// `mapreduce help CMD [ARGS]` prints what `CMD [ARGS] --help` prints, and
// every command takes --version (the program's version).
TEST_F(CliTest, HelpCommandAndVersionOnEveryCommand) {
  const std::vector<std::vector<std::string>> commands = {
      {"wordcount"},
      {"run"},
      {"jobs"},
      {"run", "--job", "wordcount"},
      {"run", "--job", "grep"},
      {"streaming"},
      {"streaming", "map", "--job", "wordcount"}};
  const Result version = run({"--version"});
  ASSERT_EQ(version.code(), 0) << version.str();
  for (const auto& cmd : commands) {
    SCOPED_TRACE(cmd.back());
    std::vector<std::string> help = {"help"}, dashed = cmd, v = cmd;
    help.insert(help.end(), cmd.begin(), cmd.end());
    dashed.push_back("--help");
    v.push_back("--version");
    const Result a = run(help), b = run(dashed), c = run(v);
    EXPECT_EQ(a.code(), 0) << a.str();
    EXPECT_EQ(a.out.rfind("Usage: mapreduce " + cmd[0], 0), 0u) << a.out;
    EXPECT_EQ(a.out, b.out);
    EXPECT_EQ(c.code(), 0) << c.str();
    EXPECT_EQ(c.out, version.out);
  }
  const Result top = run({"help"});
  EXPECT_EQ(top.code(), 0) << top.str();
  EXPECT_EQ(top.out, run({"--help"}).out);
  const Result bad = run({"help", "frobnicate"});
  EXPECT_EQ(bad.code(), 2) << bad.str();
  EXPECT_NE(bad.err.find("unknown command 'frobnicate'"), std::string::npos) << bad.err;
}

TEST_F(CliTest, NoArgumentsIsAUsageError) {
  Result r = run({});
  EXPECT_EQ(r.code(), 2) << r.str();
}

TEST_F(CliTest, BadOptionsAreUsageErrors) {
  fs::path f = file("a.txt", "hello world\n");
  const std::string p = f.string();
  struct Case {
    std::vector<std::string> args;
    std::string mentions;  // the message names what was wrong
  };
  const std::vector<Case> cases = {
      {{"wordcount", "--frobnicate", p}, "frobnicate"},
      {{"run", "--frobnicate", p}, "frobnicate"},
      {{"run", "--job", "wordcount", "--workers", "0", p}, "workers"},
      {{"run", "--job", "wordcount", "--opt", "sort=sideways", p}, "sideways"},
      {{"run", p}, "--job is required"},
      {{"jobs", "bogus"}, "bogus"},
      {{"wordcount", "--workers", "0", p}, "workers"},
      {{"wordcount", "-j", "0", p}, "workers"},
      {{"wordcount", "--workers", "many", p}, "workers"},
      {{"wordcount", "--reducers", "0", p}, "reducers"},
      {{"wordcount", "--format", "xml", p}, "xml"},
      {{"wordcount", "--sort", "foo", p}, "foo"},
      {{"wordcount", "--chunk-size", "0", p}, "chunk-size"},
      {{"wordcount", "--chunk-size", "12X", p}, "12X"},
      {{"wordcount", "--memory", "lots", p}, "lots"},
      {{"wordcount", "--tokenizer", "bogus", p}, "bogus"},
      {{"wordcount", p, "--workers"}, "workers"},
      {{"frobnicate", p}, "frobnicate"},
  };
  for (const auto& c : cases) {
    std::string cmd;
    for (const auto& a : c.args) cmd += " " + a;
    SCOPED_TRACE("mapreduce" + cmd);
    Result r = run(c.args);
    EXPECT_EQ(r.code(), 2) << r.str();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("mapreduce: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.mentions), std::string::npos) << r.err;
    // The hint points to the help of the command (and job) that was used.
    std::string help = "mapreduce --help";
    if (c.args[0] == "wordcount" || c.args[0] == "jobs")
      help = "mapreduce " + c.args[0] + " --help";
    if (c.args[0] == "run")
      help = c.args[1] == "--job" ? "mapreduce run --job " + c.args[2] + " --help"
                                  : "mapreduce run --help";
    EXPECT_NE(r.err.find("Try '" + help + "'"), std::string::npos) << r.err;
  }
}

TEST_F(CliTest, JobsCommandTakesOnlyHelp) {
  Result help = run({"jobs", "--help"});
  EXPECT_EQ(help.code(), 0) << help.str();
  EXPECT_EQ(help.out.rfind("Usage: mapreduce jobs", 0), 0u) << help.out;
  EXPECT_EQ(help.err, "");
  Result list = run({"jobs"});
  EXPECT_EQ(list.code(), 0) << list.str();
  EXPECT_EQ(list.out.rfind("wordcount ", 0), 0u) << list.out;
  EXPECT_NE(list.out.find("\ngrep "), std::string::npos) << list.out;
}

// wordcount registers the same description record a plugin exports: `jobs`
// and `run --job wordcount --help` print its one description, and an
// undeclared --opt key is refused by the same check as a plugin's, naming
// the job and its declared keys, as a usage error.
TEST_F(CliTest, BuiltinJobIsListedDescribedAndCheckedLikeAPlugin) {
  fs::path f = file("a.txt", "b a b\n");
  Result list = run({"jobs"});
  ASSERT_EQ(list.code(), 0) << list.str();
  const std::string first = list.out.substr(0, list.out.find('\n'));
  ASSERT_EQ(first.rfind("wordcount ", 0), 0u) << list.out;
  const std::string description = first.substr(first.find_first_not_of(' ', 9));
  Result help = run({"run", "--job", "wordcount", "--help"});
  ASSERT_EQ(help.code(), 0) << help.str();
  EXPECT_NE(help.out.find("\nwordcount: " + description + "\n"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("  tokenizer (default unicode)"), std::string::npos) << help.out;

  for (const std::string job : {"wordcount", "grep"}) {
    SCOPED_TRACE(job);
    Result bad = run({"run", "--job", job, "--opt", "colour=red", f.string()});
    EXPECT_EQ(bad.code(), 2) << bad.str();
    EXPECT_NE(bad.err.find("mapreduce: " + job + ": unknown option 'colour' (known: "),
              std::string::npos)
        << bad.err;
    EXPECT_NE(bad.err.find("Try 'mapreduce run --job " + job + " --help'"), std::string::npos)
        << bad.err;
  }
}

// `mapreduce jobs` lists wordcount, so `run --job wordcount` runs it: the
// same job and output as `mapreduce wordcount`, its options given as --opt.
TEST_F(CliTest, RunJobWordcountIsTheWordcountCommand) {
  std::string text = make_text(23, 20'000) + "Don't STOP, don't stop\n";
  fs::path f = file("a.txt", text);
  const std::string p = f.string();
  struct Case {
    std::vector<std::string> wordcount, run;
  };
  const std::vector<Case> cases = {
      {{}, {}},
      {{"--keep-case", "--tokenizer", "whitespace"},
       {"--opt", "keep_case=1", "--opt", "tokenizer=whitespace"}},
      {{"--sort", "word", "--top", "7"}, {"--opt", "sort=word", "--top", "7"}},
      {{"--format", "json", "--top", "5"}, {"--format", "json", "--top", "5"}},
      {{"--top", "4"}, {"--opt", "top=4"}},  // --opt top is --top: each reducer and the output
      {{"--top", "6"}, {"--opt", "top=6", "--top", "6"}},
      {{"--start-method", "spawn"}, {"--start-method", "spawn"}},
  };
  for (const auto& c : cases) {
    std::vector<std::string> wc = {"wordcount", "-j", "2", "--chunk-size", "4K"};
    wc.insert(wc.end(), c.wordcount.begin(), c.wordcount.end());
    wc.push_back(p);
    std::vector<std::string> rj = {"run", "--job", "wordcount", "-j", "2", "--chunk-size", "4K"};
    rj.insert(rj.end(), c.run.begin(), c.run.end());
    rj.push_back(p);
    SCOPED_TRACE(rj.size() > 8 ? rj[7] : "defaults");
    Result a = run(wc), b = run(rj);
    ASSERT_EQ(a.code(), 0) << a.str();
    ASSERT_EQ(b.code(), 0) << b.str();
    EXPECT_FALSE(b.out.empty());
    EXPECT_EQ(b.out, a.out);
  }
  Result typo = run({"run", "--job", "wordcount", "--opt", "keepcase=1", p});
  EXPECT_EQ(typo.code(), 2) << typo.str();
  EXPECT_NE(typo.err.find(
                "unknown option 'keepcase' (known: tokenizer, keep_case, normalize, sort, top)"),
            std::string::npos)
      << typo.err;
  // Each reducer keeping 3 while the output shows 10 would print a wrong top.
  Result clash = run({"run", "--job", "wordcount", "--opt", "top=3", "--top", "10", p});
  EXPECT_EQ(clash.code(), 2) << clash.str();
  EXPECT_NE(clash.err.find("disagree"), std::string::npos) << clash.err;
}

// Unsigned options parsed by boost::program_options wrap negative numbers
// around (--top -3 would mean 2^64-3), so the program must refuse them
// itself. (--workers -1 and --reducers -1 are not run here: if the check
// regressed they would ask for 2^32-1 processes or partitions.)
TEST_F(CliTest, NegativeCountsAreUsageErrors) {
  fs::path f = file("a.txt", "hello world\n");
  Result r = run({"wordcount", "--top", "-3", f.string()});
  EXPECT_EQ(r.code(), 2) << r.str() << "\n--- stdout:\n" << r.out;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("top"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Try 'mapreduce wordcount --help'"), std::string::npos) << r.err;
}

// ---- counting ------------------------------------------------------------------

TEST_F(CliTest, CountsHandWrittenTextInContractOrder) {
  fs::path f = file("a.txt",
                    "The cat sat on the mat.\n"
                    "The dog sat, too; THE END\n"
                    "dog-cat cat\n");
  // the 4, cat 3; dog 2, sat 2; end, mat, on, too 1 (ties in byte order).
  EXPECT_EQ(counts({f.string()}),
            "the\t4\ncat\t3\ndog\t2\nsat\t2\nend\t1\nmat\t1\non\t1\ntoo\t1\n");
}

TEST_F(CliTest, TiesAreInByteOrder) {
  // With --keep-case, 'Z' (0x5A) < 'a' (0x61) < 0xC3 (first byte of é).
  fs::path f = file("a.txt",
                    "\xc3\xa9"
                    "clair alpha Zeta beta beta\n");
  EXPECT_EQ(counts({"--keep-case", f.string()}),
            "beta\t2\nZeta\t1\nalpha\t1\n\xc3\xa9"
            "clair\t1\n");
}

TEST_F(CliTest, MatchesAnIndependentCountAcrossWorkersReducersAndChunkSizes) {
  Counts expected;
  std::vector<std::string> paths;
  for (std::uint32_t i = 0; i < 3; ++i) {
    std::string text = make_text(100 + i, 40'000 + 7'000 * i);
    count_letters(text, expected);
    paths.push_back(file("part" + std::to_string(i) + ".txt", text).string());
  }
  const std::string want = tsv(expected);

  const std::vector<std::vector<std::string>> configs = {
      {"-j", "1"},
      {"-j", "2", "--chunk-size", "1K"},
      {"--workers", "3", "--reducers", "5", "--chunk-size", "700"},
      {"-j", "2", "--reducers", "1", "--chunk-size", "4K"},
  };
  for (const auto& config : configs) {
    std::vector<std::string> args = config;
    args.insert(args.end(), paths.begin(), paths.end());
    std::string cmd;
    for (const auto& a : args) cmd += " " + a;
    SCOPED_TRACE("wordcount" + cmd);
    EXPECT_EQ(counts(args), want);
  }
}

TEST_F(CliTest, WordsDoNotJoinAcrossFiles) {
  fs::path a = file("a.txt", "one foo");  // no final newline
  fs::path b = file("b.txt", "bar two");
  EXPECT_EQ(counts({"-j", "2", a.string(), b.string()}), "bar\t1\nfoo\t1\none\t1\ntwo\t1\n");
}

TEST_F(CliTest, ReadsStandardInput) {
  std::string text = make_text(5, 20'000);
  fs::path f = file("in.txt", text);
  Counts expected;
  count_letters(text, expected);
  EXPECT_EQ(counts({"-j", "2", "--chunk-size", "2K", "-"}, stdin_from(f)), tsv(expected));

  // Mixed with files, in any position.
  std::string other = make_text(6, 7'000);
  fs::path g = file("other.txt", other);
  count_letters(other, expected);
  EXPECT_EQ(counts({"-j", "3", "--chunk-size", "1K", g.string(), "-"}, stdin_from(f)),
            tsv(expected));
  EXPECT_EQ(counts({"-", g.string()}, stdin_from(f)), tsv(expected));

  fs::path small = file("small.txt", "b a b");
  EXPECT_EQ(counts({"-"}, stdin_from(small)), "b\t2\na\t1\n");
}

// No FILE means standard input, as wc and sort read it, for every command
// that reads files.
TEST_F(CliTest, NoFileReadsStandardInput) {
  std::string text = make_text(5, 20'000);
  fs::path f = file("in.txt", text);
  Counts expected;
  count_letters(text, expected);
  EXPECT_EQ(counts({"-j", "2", "--chunk-size", "2K"}, stdin_from(f)), tsv(expected));
  Result r = run({"run", "--job", "wordcount", "-j", "2"}, stdin_from(f));
  EXPECT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, tsv(expected));
  EXPECT_EQ(counts({}), "");  // /dev/null: nothing to count
}

// Standard input as a real pipe, written in pieces while the job runs (the
// engine streams it), plain and zstd-compressed, with and without a worker
// killed mid-run.
TEST_F(CliTest, StreamsStandardInputFromAPipe) {
  std::string text = make_text(8, 300'000);
  Counts expected;
  count_letters(text, expected);
  const std::string want = tsv(expected);
  const std::string compressed = zstd_compress(text);
  IgnoreSigpipe ignore_sigpipe;
  struct Case {
    const std::string* data;
    const char* fault;
  };
  for (const Case& c : {Case{&text, ""}, Case{&text, "kill:3:1"}, Case{&compressed, ""},
                        Case{&compressed, "kill:2:1"}}) {
    SCOPED_TRACE(std::string(c.data == &text ? "plain" : "zstd") + " MAPREDUCE_FAULT=" + c.fault);
    StdinPipe pipe;
    RunOptions o = with_env(std::string("MAPREDUCE_FAULT=") + c.fault);
    o.stdin_fd = pipe.read.get();
    auto child = start({"wordcount", "--stats", "-j", "2", "--chunk-size", "4K", "-"}, o);
    pipe.read.reset();
    EXPECT_TRUE(write_for(pipe.write.get(), *c.data, 1000, 20s)) << std::strerror(errno);
    pipe.write.reset();
    Result r = finish(*child, 30s);
    ASSERT_EQ(r.code(), 0) << r.str();
    EXPECT_EQ(r.out, want);
    auto retries = numbers_on_line(r.err, "retries ");  // "retries R (workers replaced W, ...)"
    ASSERT_EQ(retries.size(), 3u) << r.err;
    if (*c.fault) {
      EXPECT_GE(retries[1], 1u) << "the fault did not fire:\n" << r.err;
    }
  }
}

// A slow producer keeps the master reading standard input for longer than
// --task-timeout while the workers report Ready: waiting for input is not a
// hung setup, so no worker may be killed and replaced for it.
TEST_F(CliTest, SlowStdinDoesNotTimeOutReadyWorkers) {
  IgnoreSigpipe ignore_sigpipe;
  StdinPipe pipe;
  RunOptions o;
  o.stdin_fd = pipe.read.get();
  auto child = start(
      {"wordcount", "--stats", "-j", "2", "--task-timeout", "1", "--chunk-size", "4K", "-"}, o);
  pipe.read.reset();
  EXPECT_TRUE(write_for(pipe.write.get(), "slow start\n", 1000, 20s));
  // The producer is slow on purpose: the stall must outlast the timeout.
  std::this_thread::sleep_for(2500ms);
  EXPECT_TRUE(write_for(pipe.write.get(), "slow end\n", 1000, 20s));
  pipe.write.reset();
  Result r = finish(*child, 30s);
  ASSERT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, "slow\t2\nend\t1\nstart\t1\n");
  auto retries = numbers_on_line(r.err, "retries ");  // "retries R (workers replaced W, ...)"
  ASSERT_EQ(retries.size(), 3u) << r.err;
  EXPECT_EQ(retries[1], 0u) << "ready workers were replaced:\n" << r.err;
}

TEST_F(CliTest, ReadsANamedPipeArgument) {
  std::string text = make_text(9, 100'000);
  Counts expected;
  count_letters(text, expected);
  fs::path other = file("other.txt", "zebra zebra\n");
  count_letters("zebra zebra\n", expected);
  fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  IgnoreSigpipe ignore_sigpipe;
  auto child = start({"wordcount", "-j", "2", "--chunk-size", "8K", other.string(), fifo.string()});
  // Opening for writing without blocking succeeds once the program opened the FIFO.
  mr::UniqueFd w;
  ASSERT_TRUE(poll_until(15s, [&] {
    w.reset(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    return static_cast<bool>(w) || errno != ENXIO;
  }));
  ASSERT_TRUE(w) << std::strerror(errno);
  EXPECT_TRUE(write_for(w.get(), text, 3000, 20s)) << std::strerror(errno);
  w.reset();
  Result r = finish(*child, 30s);
  ASSERT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, tsv(expected));
}

TEST_F(CliTest, RelativeNamesAndMissingFileMessage) {
  file("here.txt", "x y\n");
  Result r = run({"wordcount", "here.txt", "x.txt"}, in_dir(dir_));
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "mapreduce: cannot open 'x.txt': No such file or directory\n");

  Result ok = run({"wordcount", "here.txt"}, in_dir(dir_));
  EXPECT_EQ(ok.code(), 0) << ok.str();
  EXPECT_EQ(ok.out, "x\t1\ny\t1\n");
}

TEST_F(CliTest, UnreadableFileIsAnInputError) {
  if (::geteuid() == 0)
    GTEST_SKIP()
        << "running as root: chmod 000 does not stop root from reading, so the case cannot arise";
  fs::path f = file("secret.txt", "hidden words\n");
  ASSERT_EQ(::chmod(f.c_str(), 0), 0);
  Result r = run({"wordcount", f.string()});
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_EQ(r.err, "mapreduce: cannot open '" + f.string() + "': Permission denied\n");
}

TEST_F(CliTest, DirectoryArgumentNeedsRecursive) {
  fs::create_directories(dir_ / "tree" / "sub" / "deeper");
  file("tree/a.txt", "apple banana\n");
  file("tree/sub/b.txt", "banana cherry");
  spill(dir_ / "tree" / "sub" / "deeper" / "c.bin", zstd_compress("cherry cherry apple\n"));
  const std::string tree = (dir_ / "tree").string();

  Result r = run({"wordcount", tree});
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("mapreduce: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("'" + tree + "'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("directory"), std::string::npos) << r.err;

  EXPECT_EQ(counts({"-r", tree}), "cherry\t3\napple\t2\nbanana\t2\n");
  EXPECT_EQ(counts({"--recursive", "-j", "1", tree + "/"}), "cherry\t3\napple\t2\nbanana\t2\n");
}

// ---- compressed input -------------------------------------------------------------

TEST_F(CliTest, DecompressesZstdByMagicBytes) {
  std::string text = make_text(11, 60'000);
  std::string more = make_text(12, 5'000);
  Counts expected;
  count_letters(text, expected);
  const std::string want = tsv(expected);

  fs::path zst = dir_ / "text.zst";
  spill(zst, zstd_compress(text));
  fs::path disguised = dir_ / "text.txt";  // compressed, whatever the name says
  spill(disguised, zstd_compress(text, /*checksum=*/false));
  EXPECT_EQ(counts({"-j", "2", "--chunk-size", "4K", zst.string()}), want);
  EXPECT_EQ(counts({"-j", "2", disguised.string()}), want);

  // Two frames one after the other are one stream.
  fs::path two = dir_ / "two.zst";
  spill(two, zstd_compress(text) + zstd_compress(more));
  Counts both = expected;
  count_letters(more, both);
  EXPECT_EQ(counts({two.string()}), tsv(both));

  // Mixed with plain input.
  fs::path plain = file("plain.txt", more);
  EXPECT_EQ(counts({zst.string(), plain.string()}), tsv(both));
}

TEST_F(CliTest, TruncatedZstdIsAnInputError) {
  std::string z = zstd_compress(make_text(13, 50'000));
  for (std::size_t keep : {z.size() / 2, z.size() - 1, std::size_t{4}}) {
    SCOPED_TRACE("first " + std::to_string(keep) + " of " + std::to_string(z.size()) + " bytes");
    fs::path f = dir_ / "cut.zst";
    spill(f, std::string_view(z).substr(0, keep));
    Result r = run({"wordcount", f.string()});
    EXPECT_EQ(r.code(), 2) << r.str();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("mapreduce: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("'" + f.string() + "'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("zstd"), std::string::npos) << r.err;
  }
}

TEST_F(CliTest, CorruptZstdIsAnInputError) {
  std::string z = zstd_compress(make_text(14, 50'000));
  std::string bad_header = z;
  bad_header[4] = static_cast<char>(0xFF);  // frame header descriptor with the reserved bit set
  std::string bad_middle = z;
  for (std::size_t i = z.size() / 2; i < z.size() / 2 + 16; ++i)
    bad_middle[i] = static_cast<char>(~bad_middle[i]);
  int n = 0;
  for (const std::string& data : {bad_header, bad_middle}) {
    fs::path f = dir_ / ("corrupt" + std::to_string(n++) + ".zst");
    spill(f, data);
    SCOPED_TRACE(f.string());
    Result r = run({"wordcount", f.string()});
    EXPECT_EQ(r.code(), 2) << r.str();
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("mapreduce: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("'" + f.string() + "'"), std::string::npos) << r.err;
  }
}

TEST_F(CliTest, DecompressesZstdFromStandardInput) {
  std::string text = make_text(15, 30'000);
  Counts expected;
  count_letters(text, expected);
  fs::path zst = dir_ / "text.zst";
  spill(zst, zstd_compress(text));
  EXPECT_EQ(counts({"-j", "2", "--chunk-size", "4K", "-"}, stdin_from(zst)), tsv(expected));

  // Corrupt data on standard input is an input error naming '-'.
  std::string bad = zstd_compress(text);
  bad[4] = static_cast<char>(0xFF);
  fs::path f = dir_ / "corrupt.zst";
  spill(f, bad);
  Result r = run({"wordcount", "-"}, stdin_from(f));
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("'-'"), std::string::npos) << r.err;
}

// ---- options -------------------------------------------------------------------------

TEST_F(CliTest, ChunkSizeAndMemoryAcceptSuffixes) {
  std::string text = make_text(21, 30'000);
  fs::path f = file("a.txt", text);
  Counts expected;
  count_letters(text, expected);
  const std::string want = tsv(expected);
  for (const char* size : {"512", "1K", "1k", "2M", "1G"}) {
    SCOPED_TRACE(std::string("--chunk-size ") + size);
    EXPECT_EQ(counts({"-j", "2", "--chunk-size", size, f.string()}), want);
  }
  EXPECT_EQ(counts({"--memory", "64M", f.string()}), want);
}

TEST_F(CliTest, TopPrintsTheFirstLinesOfTheFullOutput) {
  std::string text = make_text(22, 30'000);
  fs::path f = file("a.txt", text);
  Counts expected;
  count_letters(text, expected);
  auto all = ordered(expected);
  ASSERT_GT(all.size(), 10u);
  for (std::size_t top : {1u, 7u}) {
    std::string want;
    for (std::size_t i = 0; i < top; ++i)
      want += all[i].first + "\t" + std::to_string(all[i].second) + "\n";
    EXPECT_EQ(counts({"-j", "2", "--reducers", "3", "--chunk-size", "2K", "--top",
                      std::to_string(top), f.string()}),
              want);
  }
  EXPECT_EQ(counts({"--top", "100000", f.string()}), tsv(expected));
}

TEST_F(CliTest, SortByWord) {
  fs::path f = file("a.txt", "pear apple pear Zebra mango apple pear\n");
  EXPECT_EQ(counts({"--sort", "word", "--reducers", "3", f.string()}),
            "apple\t2\nmango\t1\npear\t3\nzebra\t1\n");
  EXPECT_EQ(counts({"--sort", "count", f.string()}), "pear\t3\napple\t2\nmango\t1\nzebra\t1\n");
}

TEST_F(CliTest, KeepCase) {
  fs::path f = file("a.txt", "The the THE tHe the\n");
  EXPECT_EQ(counts({f.string()}), "the\t5\n");
  EXPECT_EQ(counts({"--keep-case", f.string()}), "the\t2\nTHE\t1\nThe\t1\ntHe\t1\n");
}

TEST_F(CliTest, WhitespaceTokenizerKeepsPunctuation) {
  fs::path f = file("a.txt", "Don't stop. don't\tSTOP.\r\nstop\n");
  EXPECT_EQ(counts({"--tokenizer", "whitespace", f.string()}), "don't\t2\nstop.\t2\nstop\t1\n");
  EXPECT_EQ(counts({"--tokenizer", "unicode", f.string()}), "stop\t3\ndon't\t2\n");
}

TEST_F(CliTest, CsvQuotesFieldsWithCommasAndQuotes) {
  fs::path f = file("a.txt", "a,b \"q\" plain a,b x\"y\n");
  EXPECT_EQ(counts({"--tokenizer", "whitespace", "--format", "csv", f.string()}),
            "word,count\n"
            "\"a,b\",2\n"
            "\"\"\"q\"\"\",1\n"
            "plain,1\n"
            "\"x\"\"y\",1\n");
}

TEST_F(CliTest, JsonIsWellFormedAndEscaped) {
  fs::path f = file("a.txt",
                    "back\\slash \"quoted\" ctl\x01x plain plain caf\xc3\xa9 bad\xff"
                    "byte\n");
  std::string out =
      counts({"--tokenizer", "whitespace", "--keep-case", "--format", "json", f.string()});
  EXPECT_TRUE(valid_utf8(out)) << out;
  EXPECT_NE(out.find("\\u0001"), std::string::npos) << out;
  std::vector<JsonEntry> got;
  try {
    got = JsonReader(out).entries();
  } catch (const std::exception& e) {
    FAIL() << e.what() << " in:\n" << out;
  }
  const std::vector<std::pair<std::string, std::uint64_t>> want = {
      {"plain", 2},
      {"\"quoted\"", 1},
      {"back\\slash", 1},
      {"bad\xef\xbf\xbd"
       "byte",
       1},  // the invalid byte becomes U+FFFD
      {"caf\xc3\xa9", 1},
      {"ctl\x01x", 1},
  };
  ASSERT_EQ(got.size(), want.size()) << out;
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].word, want[i].first) << "entry " << i;
    EXPECT_EQ(got[i].count, want[i].second) << "entry " << i;
  }

  fs::path empty = file("empty.txt", "");
  std::string none = counts({"--format", "json", empty.string()});
  EXPECT_NO_THROW(EXPECT_TRUE(JsonReader(none).entries().empty())) << none;
  EXPECT_EQ(counts({"--format", "csv", empty.string()}), "word,count\n");
}

TEST_F(CliTest, StatsAndProgressGoToStandardError) {
  std::string text = make_text(31, 50'000);
  fs::path f = file("a.txt", text);
  Counts expected;
  count_letters(text, expected);
  std::uint64_t words = 0;
  for (const auto& [w, n] : expected) words += n;

  Result r =
      run({"wordcount", "--stats", "-j", "2", "--reducers", "3", "--chunk-size", "8K", f.string()});
  ASSERT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, tsv(expected));
  EXPECT_NE(r.err.find("mapreduce: stats"), std::string::npos) << r.err;
  // "workers 2 (reducers 3)", "input N bytes in C chunks", "words N (D distinct)"
  EXPECT_EQ(numbers_on_line(r.err, "workers "), (std::vector<std::uint64_t>{2, 3})) << r.err;
  auto input = input_bytes_and_chunks(r.err);
  ASSERT_EQ(input.size(), 2u) << r.err;
  EXPECT_EQ(input[0], text.size()) << r.err;
  EXPECT_GE(input[1], 6u) << r.err;
  EXPECT_EQ(numbers_on_line(r.err, "words "), (std::vector<std::uint64_t>{words, expected.size()}))
      << r.err;
  // Every field is measured: wordcount emits each word once before
  // combining, and no phase is printed that is never timed (there was a
  // "split" time that was always 0.000).
  EXPECT_EQ(numbers_on_line(r.err, "map emitted "), (std::vector<std::uint64_t>{words})) << r.err;
  EXPECT_EQ(r.err.find("split"), std::string::npos) << r.err;

  Result p = run({"wordcount", "--progress", f.string()});
  ASSERT_EQ(p.code(), 0) << p.str();
  EXPECT_EQ(p.out, tsv(expected));
  EXPECT_NE(p.err.find("mapreduce: done: "), std::string::npos) << "no progress line: " << p.err;

  Result q = run({"wordcount", "--no-progress", f.string()});
  ASSERT_EQ(q.code(), 0) << q.str();
  EXPECT_EQ(q.err, "");
  EXPECT_EQ(q.out, tsv(expected));
}

// "1.7 MiB" (at the start of `text`) in bytes; 0 when it is not a size.
double human_size(const std::string& text) {
  std::istringstream in(text);
  double v = 0;
  std::string unit;
  if (!(in >> v >> unit)) return 0;
  const std::vector<std::string> units = {"B", "KiB", "MiB", "GiB", "TiB"};
  for (std::size_t i = 0; i < units.size(); ++i, v *= 1024)
    if (unit.rfind(units[i], 0) == 0) return v;
  return 0;
}

// --stats: "name: value" lines with the values in one column, sizes in
// binary units, and peak memory twice, saying which is which: private
// (anonymous memory, without the memory-mapped input's pages) and resident
// (with them). A worker that maps a 48 MiB input has read all its pages
// (resident memory above 40 MiB) while its private memory stays small.
TEST_F(CliTest, StatsAreAlignedHumanReadableAndSeparateTheInputsPages) {
  std::string text;
  const std::string line = "the quick brown fox jumps over the lazy dog\n";
  text.reserve(48u << 20);
  while (text.size() + line.size() <= (48u << 20)) text += line;
  fs::path f = file("big.txt", text);
  Result r = run({"wordcount", "--stats", "-j", "1", f.string()});
  ASSERT_EQ(r.code(), 0) << r.str();
  const std::size_t at = r.err.find("mapreduce: stats\n");
  ASSERT_NE(at, std::string::npos) << r.err;
  std::map<std::string, std::string> values;
  std::set<std::size_t> value_columns;
  std::istringstream lines(r.err.substr(at + 17));
  for (std::string l; std::getline(lines, l);) {
    ASSERT_EQ(l.rfind("  ", 0), 0u) << l;
    const std::size_t colon = l.find(": ");
    ASSERT_NE(colon, std::string::npos) << "no 'name: value': " << l;
    const std::size_t value = l.find_first_not_of(' ', colon + 1);
    value_columns.insert(value);
    values[l.substr(2, colon - 2)] = l.substr(value);
  }
  EXPECT_EQ(value_columns.size(), 1u) << "values not aligned:\n" << r.err;
  EXPECT_EQ(values["input"].rfind("48.0 MiB (" + std::to_string(text.size()) + " bytes in ", 0), 0u)
      << r.err;
  EXPECT_GT(human_size(values["shuffle"]), 0) << r.err;
  const std::string& priv = values["private memory"];
  const std::string& res = values["resident memory"];
  ASSERT_NE(priv.find("without the input files' pages"), std::string::npos) << r.err;
  ASSERT_NE(res.find("with the pages of the mapped input files"), std::string::npos) << r.err;
  const auto worker = [](const std::string& v) {
    const std::size_t w = v.find("largest worker ");
    return w == std::string::npos ? 0.0 : human_size(v.substr(w + 15));
  };
  EXPECT_GT(worker(res), 40.0 * (1 << 20)) << r.err;
  EXPECT_GT(worker(priv), 0) << r.err;
  EXPECT_LT(worker(priv), 24.0 * (1 << 20)) << r.err;
}

// With stderr not a terminal, --progress prints plain lines (a log), one
// every period (MAPREDUCE_PROGRESS_PERIOD, 2 s by default), never a "\r"
// redraw; the percentage is there from the first line and never goes back.
// The run is slowed by MAPREDUCE_FAULT=slow@map:MS (every chunk waits MS ms),
// so it lasts at least 24 chunks x 100 ms / 2 workers: several periods.
TEST_F(CliTest, ProgressIntoAPipeIsPlainPeriodicLines) {
  std::string text;
  while (text.size() < 24 * 1024) text += "one two three four five six seven eight nine ten\n";
  fs::path f = file("in.txt", text);
  RunOptions o = with_env("MAPREDUCE_FAULT=slow@map:100");
  o.env.push_back("MAPREDUCE_PROGRESS_PERIOD=0.2");
  Result r = run({"wordcount", "--progress", "-j", "2", "--chunk-size", "1K", f.string()}, o);
  ASSERT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\033'), std::string::npos) << r.err;
  std::vector<int> percents;
  std::string last;
  std::istringstream lines(r.err);
  for (std::string line; std::getline(lines, line); last = line) {
    ASSERT_EQ(line.rfind("mapreduce: ", 0), 0u) << line;
    if (line.rfind("mapreduce: done: ", 0) == 0) continue;
    percents.push_back(std::stoi(line.substr(11)));  // "mapreduce: 45%  [###...] ..."
    EXPECT_NE(line.find('%'), std::string::npos) << line;
    EXPECT_NE(line.find("/24.0 KiB"), std::string::npos) << "the total from the start: " << line;
  }
  EXPECT_GE(percents.size(), 3u) << r.err;  // about 1.2 s of run: at least 3 periods
  EXPECT_TRUE(std::is_sorted(percents.begin(), percents.end())) << r.err;
  EXPECT_EQ(last.rfind("mapreduce: done: 24.0 KiB in ", 0), 0u) << r.err;
}

// ---- output file -------------------------------------------------------------------------

TEST_F(CliTest, OutputFileReplacesTheTargetAndLeavesNoTemporary) {
  fs::path f = file("in.txt", "b a b\n");
  fs::path target = dir_ / "out.tsv";
  Result r = run({"wordcount", "-o", target.string(), f.string()});
  ASSERT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(slurp(target), "b\t2\na\t1\n");
  EXPECT_EQ(listing(dir_), (std::set<std::string>{"in.txt", "out.tsv"}));

  spill(target, "previous contents\n");
  Result again = run({"wordcount", "--output", target.string(), "--format", "csv", f.string()});
  ASSERT_EQ(again.code(), 0) << again.str();
  EXPECT_EQ(slurp(target), "word,count\nb,2\na,1\n");
  EXPECT_EQ(listing(dir_), (std::set<std::string>{"in.txt", "out.tsv"}));
}

TEST_F(CliTest, UncreatableOutputIsAnOutputErrorWithStatusTwo) {
  fs::path f = file("in.txt", "b a b\n");
  fs::path target = dir_ / "no-such-folder" / "out.tsv";
  Result r = run({"wordcount", "-o", target.string(), f.string()});
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_NE(r.err.find("mapreduce: cannot write output '" + target.string() + "'"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(CliTest, FailedRunLeavesTheTargetAlone) {
  fs::path f = file("in.txt", make_text(41, 20'000));
  fs::path target = dir_ / "out.tsv";

  // Input error: no target appears.
  Result missing =
      run({"wordcount", "-o", target.string(), f.string(), (dir_ / "nope.txt").string()});
  EXPECT_EQ(missing.code(), 2) << missing.str();
  EXPECT_EQ(listing(dir_), (std::set<std::string>{"in.txt"}));

  // Job failure after the output was opened: the old target stays as it was.
  spill(target, "previous contents\n");
  Result failed =
      run({"wordcount", "-j", "2", "--chunk-size", "2K", "-o", target.string(), f.string()},
          with_env("MAPREDUCE_FAULT=kill:3"));
  EXPECT_EQ(failed.code(), 1) << failed.str();
  EXPECT_EQ(slurp(target), "previous contents\n");
  EXPECT_EQ(listing(dir_), (std::set<std::string>{"in.txt", "out.tsv"}));

  // A folder that does not exist.
  Result nodir = run({"wordcount", "-o", (dir_ / "no" / "such" / "out.tsv").string(), f.string()});
  EXPECT_EQ(nodir.code(), 2) << nodir.str();
  EXPECT_NE(nodir.err.find("no/such/out.tsv"), std::string::npos) << nodir.err;
}

// ---- awkward input ---------------------------------------------------------------------------

TEST_F(CliTest, EmptyFileAndNoFinalNewline) {
  fs::path empty = file("empty.txt", "");
  EXPECT_EQ(counts({empty.string()}), "");
  EXPECT_EQ(counts({"-j", "2", empty.string(), empty.string()}), "");
  fs::path tail = file("tail.txt", "alpha beta\nbeta");
  EXPECT_EQ(counts({tail.string()}), "beta\t2\nalpha\t1\n");
  EXPECT_EQ(counts({"--tokenizer", "whitespace", tail.string()}), "beta\t2\nalpha\t1\n");
}

TEST_F(CliTest, CrlfCountsLikeLf) {
  std::string lf = make_text(51, 30'000);
  lf.erase(std::remove(lf.begin(), lf.end(), '\r'), lf.end());
  std::string crlf;
  for (char c : lf) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  fs::path a = file("lf.txt", lf), b = file("crlf.txt", crlf);
  Counts expected;
  count_letters(lf, expected);
  for (const char* tokenizer : {"unicode", "whitespace"}) {
    SCOPED_TRACE(tokenizer);
    std::string from_lf =
        counts({"--tokenizer", tokenizer, "--chunk-size", "1K", "-j", "2", a.string()});
    EXPECT_EQ(counts({"--tokenizer", tokenizer, "--chunk-size", "1K", "-j", "2", b.string()}),
              from_lf);
    EXPECT_EQ(from_lf.find('\r'), std::string::npos);
  }
  EXPECT_EQ(counts({b.string()}), tsv(expected));
}

TEST_F(CliTest, TwentyMegabyteLineWithoutNewline) {
  const std::string unit = "alpha beta gamma ";
  const std::size_t n = (20u << 20) / unit.size() + 1;
  std::string text;
  text.reserve(n * unit.size() + 8);
  for (std::size_t i = 0; i < n; ++i) text += unit;
  text += "delta";  // no newline anywhere
  fs::path f = file("line.txt", text);
  text = std::string();
  const std::string c = std::to_string(n);
  EXPECT_EQ(counts({"-j", "2", "--chunk-size", "4M", f.string()}),
            "alpha\t" + c + "\nbeta\t" + c + "\ngamma\t" + c + "\ndelta\t1\n");
}

TEST_F(CliTest, LongWordsAreNotSplitByChunks) {
  std::string x(3u << 20, 'x'), y(1u << 20, 'y');
  fs::path f = file("long.txt", x + " " + y);
  EXPECT_EQ(counts({"-j", "2", "--chunk-size", "64K", f.string()}), x + "\t1\n" + y + "\t1\n");
}

TEST_F(CliTest, InvalidUtf8SeparatesWords) {
  // 0xFF, a truncated sequence, an overlong '/' and a surrogate all separate words.
  fs::path f = file("bad.txt",
                    "abc\xff"
                    "def abc \xc3\xa9t\xc3\xa9 \xe2\x82 zz \xc0\xafzz\xed\xa0\x80zz\n");
  EXPECT_EQ(counts({f.string()}), "zz\t3\nabc\t2\ndef\t1\n\xc3\xa9t\xc3\xa9\t1\n");
}

TEST_F(CliTest, BinaryGarbageIsCountedWithoutCrashing) {
  std::mt19937 rng(20240607);
  std::string bytes(1u << 20, '\0');
  for (char& b : bytes) b = static_cast<char>(rng() & 0xFF);
  fs::path f = file("garbage.bin", bytes);
  // Make sure the zstd detector is not fooled into an error by chance.
  ASSERT_NE(bytes.substr(0, 4), std::string("\x28\xb5\x2f\xfd", 4));

  std::string out = counts({"-j", "2", "--chunk-size", "64K", f.string()});
  // Well-formed lines in the contract's order.
  std::istringstream lines(out);
  std::string line, prev_word;
  std::uint64_t prev_count = UINT64_MAX, total = 0, n_lines = 0;
  while (std::getline(lines, line)) {
    auto tab = line.rfind('\t');
    ASSERT_NE(tab, std::string::npos) << "line " << n_lines;
    ASSERT_GT(tab, 0u) << "empty word on line " << n_lines;
    std::string word = line.substr(0, tab), num = line.substr(tab + 1);
    ASSERT_TRUE(!num.empty() && num.find_first_not_of("0123456789") == std::string::npos) << num;
    std::uint64_t count = std::stoull(num);
    EXPECT_TRUE(count < prev_count || (count == prev_count && prev_word < word))
        << "order broken at line " << n_lines;
    prev_count = count;
    prev_word = word;
    total += count;
    ++n_lines;
  }
  EXPECT_GT(n_lines, 1000u);

  // The whitespace tokenizer with --keep-case is simple enough to count here.
  Counts expected;
  count_nonspace(bytes, expected);
  EXPECT_EQ(counts({"--tokenizer", "whitespace", "--keep-case", "-j", "2", "--chunk-size", "64K",
                    f.string()}),
            tsv(expected));
}

TEST_F(CliTest, TinyMemoryBudgetSpillsAndStillCountsExactly) {
  std::string text = make_text(61, 60'000);
  fs::path f = file("a.txt", text);
  Counts expected;
  count_letters(text, expected);
  for (const char* fault : {"", "kill:3:1"}) {
    SCOPED_TRACE(std::string("MAPREDUCE_FAULT=") + fault);
    Result r = run({"wordcount", "--stats", "-j", "2", "--reducers", "3", "--chunk-size", "4K",
                    "--memory", "1K", f.string()},
                   with_env(std::string("MAPREDUCE_FAULT=") + fault));
    ASSERT_EQ(r.code(), 0) << r.str();
    EXPECT_EQ(r.out, tsv(expected));
    // "retries R (workers replaced W, spills S)"
    auto retries = numbers_on_line(r.err, "retries ");
    ASSERT_EQ(retries.size(), 3u) << r.err;
    EXPECT_GE(retries[2], 1u) << "a 1 KiB budget cannot hold the shuffle without spilling:\n"
                              << r.err;
    // finish() checked that the spill folder under $TMPDIR is gone.
  }
}

// ---- faults ------------------------------------------------------------------------------

TEST_F(CliFaultTest, WorkerDeathMidRunStillGivesExactOutput) {
  std::string text = make_text(71, 120'000);
  fs::path f = file("a.txt", text);
  Counts expected;
  count_letters(text, expected);
  const std::vector<std::string> args = {"wordcount", "--stats",      "-j", "2",       "--reducers",
                                         "3",         "--chunk-size", "2K", f.string()};
  Result clean = run(args);
  ASSERT_EQ(clean.code(), 0) << clean.str();
  ASSERT_EQ(clean.out, tsv(expected));

  for (const char* fault : {"kill:1:1", "segv:5:1", "throw:0:1", "kill:30:2"}) {
    SCOPED_TRACE(fault);
    Result r = run(args, with_env(std::string("MAPREDUCE_FAULT=") + fault));
    ASSERT_EQ(r.code(), 0) << r.str();
    EXPECT_EQ(r.out, clean.out);
    // The fault really fired: a worker was replaced.
    auto retries = numbers_on_line(r.err, "retries ");  // "retries R (workers replaced W, ...)"
    ASSERT_EQ(retries.size(), 3u) << r.err;
    EXPECT_GE(retries[1], 1u) << r.err;
  }
}

TEST_F(CliFaultTest, ChunkThatAlwaysFailsNamesTheFileAndByteRange) {
  // 16-byte lines: a cut is moved forward to the next separator, so with
  // 1K chunks chunk 0 is bytes 0-1039 and chunk 1 is bytes 1039-2063.
  std::string text;
  for (int i = 0; i < 400; ++i) text += "abcdefghijklmno\n";
  fs::path f = file("lines.txt", text);
  for (const char* fault : {"kill:1", "segv:1", "throw:1"}) {
    SCOPED_TRACE(fault);
    Result r = run({"wordcount", "-j", "2", "--chunk-size", "1K", f.string()},
                   with_env(std::string("MAPREDUCE_FAULT=") + fault));
    EXPECT_EQ(r.code(), 1) << r.str();
    EXPECT_EQ(r.out, "");
    // The program's own message is its last line (under a sanitizer the
    // crashing workers print their reports before it).
    std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
    EXPECT_EQ(last.rfind("mapreduce: ", 0), 0u) << r.err;
    EXPECT_NE(last.find("'" + f.string() + "'"), std::string::npos) << r.err;
    EXPECT_NE(last.find("bytes 1039-2063"), std::string::npos) << r.err;
  }
}

// Starts a run whose chunk 0 hangs forever, waits for both workers, and
// checks what can be checked while it runs. Returns the workers.
std::vector<ProcStat> wait_for_hanging_run(Child& master) {
  std::vector<ProcStat> workers;
  bool up = poll_until(15s, [&] {
    workers = children_of(master.pid());
    return workers.size() >= 2;
  });
  EXPECT_TRUE(up) << "the workers did not appear; children:" << describe(workers);
  EXPECT_FALSE(master.wait_for(0ms)) << "the master ended although chunk 0 hangs";
  for (pid_t p : {master.pid(), workers.empty() ? 0 : workers[0].pid,
                  workers.size() < 2 ? 0 : workers[1].pid}) {
    if (p == 0) continue;
    auto uses = shm_uses(p);
    EXPECT_TRUE(uses.empty()) << "process " << p << " uses /dev/shm: " << uses.front();
  }
  return workers;
}

void expect_no_shm_named_after(const std::set<std::string>& before, pid_t master,
                               const std::vector<ProcStat>& workers) {
  std::vector<pid_t> pids{master};
  for (const auto& w : workers) pids.push_back(w.pid);
  for (const auto& name : shm_names()) {
    if (before.count(name)) continue;
    for (pid_t p : pids)
      EXPECT_EQ(name.find(std::to_string(p)), std::string::npos)
          << "new /dev/shm/" << name << " left behind";
  }
}

TEST_F(CliFaultTest, InterruptWhileAWorkerHangsExitsQuicklyAndCleansUp) {
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(strsignal(sig));
    fs::path f = file("in.txt", make_text(81, 64'000));
    fs::path target = dir_ / "out.tsv";
    auto shm_before = shm_names();
    auto master =
        start({"wordcount", "-j", "2", "--chunk-size", "4K", "-o", target.string(), f.string()},
              with_env("MAPREDUCE_FAULT=hang:0"));
    auto workers = wait_for_hanging_run(*master);
    ASSERT_EQ(workers.size(), 2u);
    // The output is opened before the job runs, as a nameless file in the
    // target's folder (O_TMPFILE): nothing with a name is there yet.
    EXPECT_TRUE(holds_nameless_file_in(master->pid(), dir_)) << "no temporary output while running";
    EXPECT_EQ(listing(dir_), (std::set<std::string>{"in.txt"}));

    auto t0 = Clock::now();
    ASSERT_EQ(::kill(master->pid(), sig), 0);
    auto st = master->wait_for(3s);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    ASSERT_TRUE(st) << "mapreduce did not exit within 3 s of " << strsignal(sig);
    Result r = finish(*master, 1s);  // checks the process group is empty
    EXPECT_EQ(r.code(), 130) << r.str();
    EXPECT_LT(secs, 2.0) << "exit took " << secs << " s";
    EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
    for (const auto& w : workers) EXPECT_TRUE(has_ended(w)) << "worker " << w.pid << " still runs";
    EXPECT_EQ(listing(dir_), (std::set<std::string>{"in.txt"}));
    expect_no_shm_named_after(shm_before, master->pid(), workers);
  }
}

// Ctrl-C while the program waits for more standard input.
TEST_F(CliFaultTest, InterruptWhileWaitingForInputExits130) {
  StdinPipe pipe;
  RunOptions o;
  o.stdin_fd = pipe.read.get();
  fs::path target = dir_ / "out.tsv";
  auto child = start({"wordcount", "-j", "2", "-o", target.string(), "-"}, o);
  pipe.read.reset();
  IgnoreSigpipe ignore_sigpipe;
  ASSERT_TRUE(write_for(pipe.write.get(), "some words without an end ", 100, 10s));
  // Wait until the handler is installed and our bytes were read: the program
  // now waits for more (the write end stays open).
  ASSERT_TRUE(poll_until(15s, [&] {
    int unread = -1;
    return catches_signal(child->pid(), SIGINT) &&
           ::ioctl(pipe.write.get(), FIONREAD, &unread) == 0 && unread == 0;
  }));
  auto t0 = Clock::now();
  ASSERT_EQ(::kill(child->pid(), SIGINT), 0);
  auto st = child->wait_for(3s);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(st) << "mapreduce did not exit within 3 s of SIGINT while reading a pipe";
  Result r = finish(*child, 1s);
  EXPECT_EQ(r.code(), 130) << r.str();
  EXPECT_LT(secs, 2.0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(listing(dir_), std::set<std::string>{});
}

TEST_F(CliFaultTest, KillingTheMasterKillsItsWorkers) {
  fs::path f = file("in.txt", make_text(91, 64'000));
  for (const char* method : {"fork", "spawn"}) {
    SCOPED_TRACE(method);
    auto shm_before = shm_names();
    auto master =
        start({"wordcount", "-j", "2", "--chunk-size", "4K", "--start-method", method, f.string()},
              with_env("MAPREDUCE_FAULT=hang:0"));
    auto workers = wait_for_hanging_run(*master);
    ASSERT_EQ(workers.size(), 2u);
    // A forked worker runs the master's command line; a spawned one is a
    // fresh run of the program with the spawn marker and a descriptor.
    auto cmdline = [](pid_t pid) { return slurp("/proc/" + std::to_string(pid) + "/cmdline"); };
    // A spawned worker is seen from its fork on, so it may not have reached
    // its exec yet: wait for it (bounded) rather than race it.
    if (std::string(method) == "spawn")
      poll_until(5s, [&] {
        return std::all_of(workers.begin(), workers.end(), [&](const ProcStat& w) {
          return cmdline(w.pid) != cmdline(master->pid());
        });
      });
    for (const auto& w : workers)
      EXPECT_EQ(cmdline(w.pid) == cmdline(master->pid()), std::string(method) == "fork")
          << cmdline(w.pid);

    ASSERT_EQ(::kill(master->pid(), SIGKILL), 0);
    auto st = master->wait_for(5s);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->signal(), SIGKILL) << st->str();
    bool gone = poll_until(5s, [&] {
      return std::all_of(workers.begin(), workers.end(),
                         [](const ProcStat& w) { return has_ended(w); });
    });
    EXPECT_TRUE(gone) << "workers outlived their master by 5 s:" << describe(workers);
    // Belt and braces for the rest of the suite: nothing of that group may run on.
    for (const auto& w : workers)
      if (!has_ended(w)) ::kill(w.pid, SIGKILL);
    expect_no_shm_named_after(shm_before, master->pid(), workers);
  }
}

// ---- start methods: workers that are fresh runs of the program ----------------------------

TEST_F(CliTest, SpawnAndForkserverWorkersCountExactly) {
  std::string text = make_text(101, 80'000);
  fs::path f = file("a.txt", text);
  fs::path g = file("b.txt.zst", zstd_compress(text.substr(0, 30'000)));
  Counts expected;
  count_letters(text, expected);
  count_letters(text.substr(0, 30'000), expected);
  for (const char* method : {"spawn", "forkserver"}) {
    SCOPED_TRACE(method);
    // A mapped file and a compressed stream, spilling with a tiny budget.
    EXPECT_EQ(counts({"-j", "3", "--reducers", "3", "--chunk-size", "4K", "--start-method", method,
                      f.string(), g.string()}),
              tsv(expected));
    EXPECT_EQ(counts({"-j", "2", "--chunk-size", "4K", "--memory", "1K", "--start-method", method,
                      f.string(), g.string()}),
              tsv(expected));
    // Standard input through the stream slots.
    Counts only_f;
    count_letters(text, only_f);
    EXPECT_EQ(
        counts({"-j", "2", "--chunk-size", "4K", "--start-method", method, "-"}, stdin_from(f)),
        tsv(only_f));
  }
  Result bad = run({"wordcount", "--start-method", "vfork", f.string()});
  EXPECT_EQ(bad.code(), 2) << bad.str();
  EXPECT_NE(bad.err.find("--start-method"), std::string::npos) << bad.err;
}

TEST_F(CliFaultTest, SpawnedWorkersAreReplacedAndFailuresNamed) {
  std::string text = make_text(103, 60'000);
  fs::path f = file("a.txt", text);
  Counts expected;
  count_letters(text, expected);
  for (const char* method : {"spawn", "forkserver"}) {
    for (const char* fault : {"kill:1:1", "throw:2:1"}) {
      SCOPED_TRACE(std::string(method) + " " + fault);
      Result r = run({"wordcount", "--stats", "-j", "2", "--chunk-size", "2K", "--start-method",
                      method, f.string()},
                     with_env(std::string("MAPREDUCE_FAULT=") + fault));
      ASSERT_EQ(r.code(), 0) << r.str();
      EXPECT_EQ(r.out, tsv(expected));
      auto retries = numbers_on_line(r.err, "retries ");
      ASSERT_EQ(retries.size(), 3u) << r.err;
      EXPECT_GE(retries[1], 1u) << r.err;
    }
    Result r =
        run({"wordcount", "-j", "2", "--chunk-size", "2K", "--start-method", method, f.string()},
            with_env("MAPREDUCE_FAULT=kill:1"));
    EXPECT_EQ(r.code(), 1) << r.str();
    EXPECT_NE(r.err.find("'" + f.string() + "'"), std::string::npos) << r.err;
  }
}

// A plugin job gives the same result however its workers start: a spawned
// or forkserver worker shares nothing with the master, so it can only have
// mapped its chunks with the plugin it loaded itself.
TEST_F(CliTest, PluginJobsRunInSpawnedAndForkserverWorkers) {
  std::string text;
  for (int i = 0; i < 3000; ++i)
    text += "line " + std::to_string(i) + (i % 7 ? " plain\n" : " holmes\n");
  fs::path f = file("lines.txt", text);
  const std::vector<std::string> base = {"run", "--job", "grep",         "--opt", "pattern=holmes",
                                         "-j",  "2",     "--chunk-size", "4K"};
  Result forked = run([&] {
    auto a = base;
    a.push_back(f.string());
    return a;
  }());
  ASSERT_EQ(forked.code(), 0) << forked.str();
  ASSERT_NE(forked.out.find("holmes"), std::string::npos) << forked.out;
  for (const char* method : {"spawn", "forkserver"}) {
    SCOPED_TRACE(method);
    auto args = base;
    args.insert(args.end(), {"--start-method", method, f.string()});
    Result r = run(args);
    ASSERT_EQ(r.code(), 0) << r.str();
    EXPECT_EQ(r.out, forked.out);
  }
}

// ---- reliability and security: a hostile user, interrupts, leftovers, bad values -----------

// The spill folder used to be $TMPDIR/mapreduce-<pid>, reused when it
// existed: a link planted under that name carried the spill files into the
// attacker's folder. Now it is a fresh mkdtemp folder, 0700 and ours, and a
// planted name is never used.
TEST_F(CliTest, SpillFolderIsFreshAndPrivateNeverAPlantedOne) {
  const std::string text = make_text(101, 60'000);
  Counts expected;
  count_letters(text, expected);
  const fs::path attacker = io_ / "attacker";
  fs::create_directory(attacker);
  fs::permissions(attacker, fs::perms::all);
  StdinPipe pipe;
  RunOptions o;
  o.stdin_fd = pipe.read.get();
  auto child =
      start({"wordcount", "--stats", "-j", "2", "--chunk-size", "4K", "--memory", "1K", "-"}, o);
  pipe.read.reset();
  const std::string pid = std::to_string(child->pid());
  const fs::path planted = tmp_ / ("mapreduce-" + pid);
  fs::create_directory_symlink(attacker, planted);
  IgnoreSigpipe ignore_sigpipe;
  // Less than a chunk: the run starts (it sniffs standard input for the
  // zstd magic first) but cannot map anything, let alone spill, yet.
  const std::size_t head = 100;
  ASSERT_TRUE(write_for(pipe.write.get(), std::string_view(text).substr(0, head), 100, 10s));
  fs::path own;
  ASSERT_TRUE(poll_until(15s, [&] {
    for (const auto& name : listing(tmp_))
      if (name.rfind("mapreduce-" + pid + ".", 0) == 0) own = tmp_ / name;
    return !own.empty();
  })) << "no spill folder of the run appeared in $TMPDIR";
  struct stat st;
  ASSERT_EQ(::lstat(own.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  ASSERT_TRUE(write_for(pipe.write.get(), std::string_view(text).substr(head), 4096, 20s));
  pipe.write.reset();
  ASSERT_TRUE(child->wait_for(30s));
  EXPECT_TRUE(fs::is_empty(attacker)) << "spill files went through the planted link";
  fs::remove(planted);
  Result r = finish(*child, 1s);
  ASSERT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, tsv(expected));
  auto retries = numbers_on_line(r.err, "retries ");  // "retries R (workers replaced W, spills S)"
  ASSERT_EQ(retries.size(), 3u) << r.err;
  EXPECT_GE(retries[2], 1u) << "the run did not spill, so the folder was not tried:\n" << r.err;
}

// A master killed by SIGKILL cannot clean up: its output temporary never
// had a name (nothing is left next to the target), and the next run of the
// same user removes its spill folder.
TEST_F(CliFaultTest, SigkilledMasterLeavesNoOutputTemporaryAndItsSpillFolderIsSwept) {
  fs::path f = file("in.txt", make_text(111, 64'000));
  fs::path target = dir_ / "out.tsv";
  auto master = start({"wordcount", "-j", "2", "--chunk-size", "4K", "--memory", "1K", "-o",
                       target.string(), f.string()},
                      with_env("MAPREDUCE_FAULT=hang:0"));
  auto workers = wait_for_hanging_run(*master);
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_EQ(::kill(master->pid(), SIGKILL), 0);
  auto st = master->wait_for(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->signal(), SIGKILL);
  EXPECT_TRUE(poll_until(5s, [&] { return group_members(master->pid()).empty(); }))
      << "left:" << describe(group_members(master->pid()));
  EXPECT_EQ(listing(dir_), (std::set<std::string>{"in.txt"})) << "a temporary output was left";
  EXPECT_FALSE(listing(tmp_).empty()) << "expected the dead master's spill folder";
  // Any later run sweeps it (finish() checks that $TMPDIR is empty again).
  Result next = run({"wordcount", file("small.txt", "a b a\n").string()});
  EXPECT_EQ(next.code(), 0) << next.str();
  EXPECT_EQ(next.out, "a\t2\nb\t1\n");
}

// A link planted in a folder others may write to (here a 0777 one, as a
// shared project folder) must not make us write where it points: --trace
// used to follow it, and -o replaced it.
TEST_F(CliTest, OutputsRefuseALinkPlantedByAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make links owned by another user";
  fs::path f = file("in.txt", "one two two\n");
  const fs::path shared = io_ / "shared", victim = dir_ / "victim";
  fs::create_directory(shared);
  fs::permissions(shared, fs::perms::all);
  spill(victim, "precious\n");
  for (const char* option : {"--trace", "-o"}) {
    SCOPED_TRACE(option);
    const fs::path link = shared / "planted";
    fs::create_symlink(victim, link);
    ASSERT_EQ(::lchown(link.c_str(), 65534, 65534), 0) << std::strerror(errno);
    Result r = run({"wordcount", option, link.string(), f.string()});
    EXPECT_EQ(r.code(), 2) << r.str();
    EXPECT_NE(r.err.find("symbolic link owned by another user"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(victim), "precious\n");
    EXPECT_TRUE(fs::is_symlink(link));
    EXPECT_EQ(listing(shared), (std::set<std::string>{"planted"})) << "a temporary was left";
    fs::remove(link);
  }
  // Our own link to a file of ours is followed: the file is replaced.
  fs::create_symlink(victim, shared / "mine");
  Result ok = run({"wordcount", "-o", (shared / "mine").string(), f.string()});
  EXPECT_EQ(ok.code(), 0) << ok.str();
  EXPECT_EQ(slurp(victim), "two\t2\none\t1\n");
  EXPECT_TRUE(fs::is_symlink(shared / "mine"));
}

// A device or a FIFO is written in place: -o /dev/null used to replace the
// device node with a regular file.
TEST_F(CliTest, OutputOntoADeviceOrAFifoIsWrittenInPlace) {
  fs::path f = file("in.txt", "one two two\n");
  const std::string want = "two\t2\none\t1\n";
  if (::geteuid() == 0) {  // a device node of our own, not the machine's /dev/null
    const fs::path null = io_ / "null", link = io_ / "null-link";
    ASSERT_EQ(::mknod(null.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << std::strerror(errno);
    fs::create_symlink(null, link);
    for (const fs::path& target : {null, link}) {
      Result r = run({"wordcount", "-o", target.string(), f.string()});
      EXPECT_EQ(r.code(), 0) << r.str();
      struct stat st;
      ASSERT_EQ(::lstat(null.c_str(), &st), 0);
      EXPECT_TRUE(S_ISCHR(st.st_mode)) << target << ": the device was replaced";
      EXPECT_TRUE(fs::is_symlink(link));
    }
  }
  const fs::path fifo = io_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  mr::UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader);
  Result r = run({"wordcount", "-o", fifo.string(), f.string()});
  EXPECT_EQ(r.code(), 0) << r.str();
  char buf[256];
  ssize_t n = ::read(reader.get(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0), want);
  struct stat st;
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  EXPECT_EQ(listing(io_).count("fifo"), 1u);
}

// A replaced file keeps its mode (a 0600 file used to become 0644) and,
// for root, its owner; a new file gets 0666 & ~umask.
TEST_F(CliTest, ReplacedOutputKeepsItsModeAndOwner) {
  fs::path f = file("in.txt", "one two two\n");
  const fs::path secret = dir_ / "secret.tsv", fresh = dir_ / "fresh.tsv";
  spill(secret, "old\n");
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::chown(secret.c_str(), 65534, 65534), 0);
  }
  Result r = run({"wordcount", "-o", secret.string(), f.string()});
  ASSERT_EQ(r.code(), 0) << r.str();
  struct stat st;
  ASSERT_EQ(::stat(secret.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  if (root) {
    EXPECT_EQ(st.st_uid, 65534u);
    EXPECT_EQ(st.st_gid, 65534u);
  }
  EXPECT_EQ(slurp(secret), "two\t2\none\t1\n");
  Result n = run({"wordcount", "-o", fresh.string(), f.string()});
  ASSERT_EQ(n.code(), 0) << n.str();
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u & ~mask);
}

// A file name holding escape sequences must not reach the terminal raw.
TEST_F(CliTest, MessagesQuoteUnprintableBytesInNames) {
  const std::string evil =
      "a\x1b]0;pwned\x07\x9b"
      "b.txt";
  Result r = run({"wordcount", (dir_ / evil).string()});
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x07'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x9b'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("a\\033]0;pwned\\007\\x9bb.txt"), std::string::npos) << r.err;
  // Printable UTF-8 stays as it is.
  Result u = run({"wordcount", (dir_ / "naïve.txt").string()});
  EXPECT_NE(u.err.find("naïve.txt"), std::string::npos) << u.err;
  // Usage errors too.
  Result usage = run({"wordcount", "--format", "\x1b[2J"});
  EXPECT_EQ(usage.code(), 2);
  EXPECT_EQ(usage.err.find('\x1b'), std::string::npos) << usage.err;
}

// A hang-up (SIGHUP to the process group, as when the terminal closes) is
// an interrupt: clean up, exit 130, nothing written. It used to kill the
// master and leave its temporaries.
TEST_F(CliFaultTest, HangUpCleansUpAndExits130) {
  fs::path f = file("in.txt", make_text(121, 64'000));
  fs::path target = dir_ / "out.tsv";
  auto master =
      start({"wordcount", "-j", "2", "--chunk-size", "4K", "-o", target.string(), f.string()},
            with_env("MAPREDUCE_FAULT=hang:0"));
  auto workers = wait_for_hanging_run(*master);
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_TRUE(catches_signal(master->pid(), SIGHUP));
  ASSERT_EQ(::killpg(master->pid(), SIGHUP), 0);
  ASSERT_TRUE(master->wait_for(3s)) << "mapreduce did not exit within 3 s of SIGHUP";
  Result r = finish(*master, 1s);
  EXPECT_EQ(r.code(), 130) << r.str();
  EXPECT_NE(r.err.find("interrupted"), std::string::npos) << r.err;
  EXPECT_EQ(listing(dir_), (std::set<std::string>{"in.txt"}));
}

// Under nohup (SIGHUP ignored at start) a hang-up changes nothing.
TEST_F(CliFaultTest, HangUpIsIgnoredUnderNohup) {
  const std::string text = make_text(131, 30'000);
  Counts expected;
  count_letters(text, expected);
  StdinPipe pipe;
  RunOptions o;
  o.stdin_fd = pipe.read.get();
  o.ignore_sighup = true;
  auto child = start({"wordcount", "-j", "2", "--chunk-size", "4K", "-"}, o);
  pipe.read.reset();
  IgnoreSigpipe ignore_sigpipe;
  const std::size_t head = 100;  // less than a chunk: the run starts and waits for more
  ASSERT_TRUE(write_for(pipe.write.get(), std::string_view(text).substr(0, head), 100, 10s));
  std::vector<ProcStat> workers;
  ASSERT_TRUE(poll_until(15s, [&] {
    workers = children_of(child->pid());
    return workers.size() >= 2 && catches_signal(child->pid(), SIGINT);
  }));
  EXPECT_FALSE(catches_signal(child->pid(), SIGHUP));
  ASSERT_EQ(::killpg(child->pid(), SIGHUP), 0);
  ASSERT_TRUE(write_for(pipe.write.get(), std::string_view(text).substr(head), 4096, 20s));
  pipe.write.reset();
  Result r = finish(*child, 30s);
  EXPECT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, tsv(expected));
}

// An interrupt while hundreds of workers start is acted on at once (it used
// to wait until every worker had started), and no more workers start than
// there are chunks.
TEST_F(CliFaultTest, InterruptWhileManyWorkersStartIsHeardAtOnce) {
  fs::path f = file("in.txt", make_text(141, 64'000));
  auto master = start(
      {"wordcount", "-j", "400", "--chunk-size", "128", "--start-method", "spawn", f.string()});
  ASSERT_TRUE(poll_until(20s, [&] { return children_of(master->pid()).size() >= 3; }));
  auto t0 = Clock::now();
  ASSERT_EQ(::kill(master->pid(), SIGINT), 0);
  auto st = master->wait_for(10s);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  ASSERT_TRUE(st);
  Result r = finish(*master, 1s);
  EXPECT_EQ(r.code(), 130) << r.str();
  EXPECT_LT(secs, 1.5) << "the interrupt took " << secs << " s to end the run";
}

// A stopped worker (SIGSTOP) used to stall the run for the whole default
// 600 s --task-timeout. Once nothing else is left to hand out, a worker is
// idle and its task has run ten times the median of its siblings (and at
// least 1 s), a copy of the task races it on the idle worker: here the copy
// wins, the stopped worker is killed; the output and the counts stay exact
// (the loser's output is dropped, not added) and --stats counts the copy.
// A copy that stops too is copied again (up to three copies): one
// speculation is not the end of it, no fall-back to --task-timeout.
TEST_F(CliFaultTest, AStoppedWorkerDoesNotStallTheRunNorDoesAStoppedCopy) {
  const std::string text = make_text(181, 120'000);
  Counts expected;
  count_letters(text, expected);
  std::uint64_t words = 0;
  for (const auto& [w, n] : expected) words += n;
  fs::path f = file("in.txt", text);
  struct Case {
    const char* fault;
    std::uint64_t copies;  // all won by a copy: the first, or the second when the first stops too
  };
  for (const Case c : {Case{"stop@map:3:1", 1}, Case{"stop@reduce:1:1", 1}, Case{"stop@map:3:2", 2},
                       Case{"stop@reduce:1:2", 2}}) {
    SCOPED_TRACE(c.fault);
    RunOptions o = with_env(std::string("MAPREDUCE_FAULT=") + c.fault);
    o.timeout = 60s;
    const auto t0 = Clock::now();
    Result r = run(
        {"wordcount", "--stats", "-j", "3", "--reducers", "4", "--chunk-size", "4K", f.string()},
        o);
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    ASSERT_EQ(r.code(), 0) << r.str();
    EXPECT_EQ(r.out, tsv(expected));
    EXPECT_LT(secs, 20.0) << "a stopped worker stalled the run";
    auto speculative = numbers_on_line(r.err, "speculative");  // copies, won by a copy
    ASSERT_EQ(speculative.size(), 2u) << r.err;
    EXPECT_GE(speculative[0], c.copies) << r.err;  // more only if a copy crawled (load)
    EXPECT_EQ(speculative[1], 1u) << "a copy won: " << r.err;
    auto counted = numbers_on_line(r.err, "words");
    ASSERT_FALSE(counted.empty()) << r.err;
    EXPECT_EQ(counted[0], words) << "the loser's counts were added: " << r.err;
  }
}

// The stopped worker (the original) and its copy both stop at the same
// task; the test wakes the original (SIGCONT), which then finishes first:
// its output is kept, the copy is killed, and the output is exact.
TEST_F(CliFaultTest, AStragglerThatResumesFirstWinsTheRaceAgainstItsCopy) {
  const std::string text = make_text(183, 120'000);
  Counts expected;
  count_letters(text, expected);
  fs::path f = file("in.txt", text);
  for (const char* fault : {"stop@map:3:2", "stop@reduce:1:2"}) {
    SCOPED_TRACE(fault);
    // Two workers: no third one that could copy the task again meanwhile.
    auto master = start(
        {"wordcount", "--stats", "-j", "2", "--reducers", "4", "--chunk-size", "4K", f.string()},
        with_env(std::string("MAPREDUCE_FAULT=") + fault));
    auto stopped = [&] {
      std::vector<ProcStat> out;
      for (const ProcStat& c : children_of(master->pid()))
        if (c.state == 'T') out.push_back(c);
      return out;
    };
    std::optional<ProcStat> original;
    ASSERT_TRUE(poll_until(20s, [&] {
      auto now = stopped();
      if (now.size() == 1) original = now.front();
      return original.has_value();
    })) << "no worker stopped";
    ProcStat copy{};
    ASSERT_TRUE(poll_until(20s, [&] {
      for (const ProcStat& c : stopped())
        if (c.pid != original->pid) copy = c;
      return copy.pid != 0;
    })) << "no copy of the stopped task stopped too";
    ASSERT_EQ(::kill(original->pid, SIGCONT), 0);
    Result r = finish(*master, 60s);
    ASSERT_EQ(r.code(), 0) << r.str();
    EXPECT_EQ(r.out, tsv(expected));
    auto speculative = numbers_on_line(r.err, "speculative");
    ASSERT_EQ(speculative.size(), 2u) << r.err;
    EXPECT_EQ(speculative[0], 1u) << r.err;
    EXPECT_EQ(speculative[1], 0u) << "the original won: " << r.err;
  }
}

TEST_F(CliTest, NoMoreWorkersThanChunks) {
  fs::path f = file("small.txt", "a few words, fewer than one chunk\n");
  Result r = run({"wordcount", "--stats", "-j", "64", f.string()});
  ASSERT_EQ(r.code(), 0) << r.str();
  auto workers = numbers_on_line(r.err, "workers");  // "workers N (reducers R)"
  ASSERT_EQ(workers.size(), 2u) << r.err;
  EXPECT_EQ(workers[0], 1u) << r.err;
  Result many = run({"wordcount", "-j", "4097", f.string()});
  EXPECT_EQ(many.code(), 2);
  EXPECT_NE(many.err.find("--workers must be between 1 and 4096"), std::string::npos) << many.err;
}

// -r skips FIFOs (and devices) with a note, as grep -r does: it used to
// block forever in open().
TEST_F(CliTest, RecursionSkipsFifosWithANote) {
  const fs::path tree = dir_ / "tree";
  fs::create_directories(tree / "sub");
  spill(tree / "a.txt", "apple banana\n");
  spill(tree / "sub" / "b.txt", "apple\n");
  ASSERT_EQ(::mkfifo((tree / "sub" / "pipe").c_str(), 0600), 0);
  RunOptions o;
  o.timeout = 15s;
  Result r = run({"wordcount", "-r", tree.string()}, o);
  EXPECT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, "apple\t2\nbanana\t1\n");
  EXPECT_NE(r.err.find("skipping '" + (tree / "sub" / "pipe").string() + "': not a regular file"),
            std::string::npos)
      << r.err;
}

// A FIFO argument without a writer waits in open() (as cat does); an
// interrupt then ends the run with 130, not "cannot open ...: Interrupted".
TEST_F(CliFaultTest, InterruptWhileOpeningAFifoExits130) {
  const fs::path fifo = dir_ / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(strsignal(sig));
    auto child = start({"wordcount", fifo.string()});
    // Wait until it is inside open() of the FIFO (its handlers are set by then).
    ASSERT_TRUE(poll_until(15s, [&] {
      std::ifstream sc("/proc/" + std::to_string(child->pid()) + "/syscall");
      long nr = -1;
      return catches_signal(child->pid(), sig) && (sc >> nr) && nr == SYS_openat;
    }));
    ASSERT_EQ(::kill(child->pid(), sig), 0);
    ASSERT_TRUE(child->wait_for(3s));
    Result r = finish(*child, 1s);
    EXPECT_EQ(r.code(), 130) << r.str();
  }
}

// A mapped input truncated by another process while it is read used to
// kill the master with SIGBUS; now it is an input error naming the file.
TEST_F(CliFaultTest, InputTruncatedWhileReadIsAnInputError) {
  fs::path big = file("big.txt", make_text(151, 400'000));
  StdinPipe pipe;
  RunOptions o;
  o.stdin_fd = pipe.read.get();
  // Standard input first: the master reads it to its end before it cuts
  // big.txt, so the test truncates big.txt while the run waits for it.
  auto child = start({"wordcount", "-j", "2", "--chunk-size", "4K", "-", big.string()}, o);
  pipe.read.reset();
  IgnoreSigpipe ignore_sigpipe;
  ASSERT_TRUE(write_for(pipe.write.get(), "some words first\n", 100, 10s));
  ASSERT_TRUE(poll_until(15s, [&] {
    int unread = -1;
    return children_of(child->pid()).size() >= 2 &&
           ::ioctl(pipe.write.get(), FIONREAD, &unread) == 0 && unread == 0;
  }));
  ASSERT_EQ(::truncate(big.c_str(), 0), 0);
  pipe.write.reset();
  Result r = finish(*child, 30s);
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_NE(r.err.find("'" + big.string() + "' shrank while being read"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(CliTest, OptionValuesOutsideTheirRangeAreRefused) {
  fs::path f = file("in.txt", "x\n");
  const std::string p = f.string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--chunk-size", "-1"}, "--chunk-size '-1'"},
      {{"--chunk-size", "2G"}, "between 1 and 1G"},
      {{"--chunk-size", " 5"}, "--chunk-size"},
      {{"--memory", "-5M"}, "--memory '-5M'"},
      {{"--memory", "1000T"}, "--memory '1000T'"},
      {{"--memory", "99999999999999999G"}, "--memory"},
      {{"--memory", "12"}, "between 1K and"},
  };
  for (const auto& [opts, message] : cases) {
    SCOPED_TRACE(opts[0] + " " + opts[1]);
    std::vector<std::string> args = {"wordcount"};
    args.insert(args.end(), opts.begin(), opts.end());
    args.push_back(p);
    Result r = run(args);
    EXPECT_EQ(r.code(), 2) << r.str();
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

// --chunk-size 1 on a big input used to make one master record per byte
// (1.8 GiB of master memory for a 94 MiB input): the chunks grow so that
// there are at most about 65536 of them, and the count stays exact.
TEST_F(CliTest, TinyChunksOfABigInputAreBounded) {
  const std::string text = make_text(161, 1'000'000);
  Counts expected;
  count_letters(text, expected);
  fs::path f = file("big.txt", text);
  Result r = run({"wordcount", "--stats", "-j", "2", "--chunk-size", "1", f.string()});
  ASSERT_EQ(r.code(), 0) << r.str();
  EXPECT_EQ(r.out, tsv(expected));
  auto input = input_bytes_and_chunks(r.err);
  ASSERT_EQ(input.size(), 2u) << r.err;
  EXPECT_LE(input[1], 65536u + 1) << r.err;
  EXPECT_GE(input[1], 1000u) << r.err;  // still small chunks
}

// A stream's length is unknown in advance, so the 65536-chunk rule does not
// size its chunks: at --chunk-size 1K a 48 MB stream used to make 47,000
// chunks, each a record in the master (and a committed flush per chunk),
// about 15 MB more master memory than a 2 MB stream. Stream chunks now grow
// as the stream goes on (doubled every 1024), so the master's peak memory
// stays near that of a short stream.
TEST_F(CliTest, ALongStreamAtTinyChunksKeepsTheMastersMemoryBounded) {
  const std::string text = make_text(163, 48'000'000);
  Counts expected;
  count_letters(text, expected);
  // The master is forked by a shell, not spawned by the test: a peak RSS
  // survives exec, and the test's own (the text) would show through.
  RunOptions o;
  o.wrapper = {"/bin/sh", "-c", "\"$0\" \"$@\"; exit $?"};
  auto master_kib = [&](const fs::path& f) {
    Result r = run({"wordcount", "--stats", "-j", "2", "--chunk-size", "1K", f.string()}, o);
    EXPECT_EQ(r.code(), 0) << r.str();
    // "resident memory: master 13.0 MiB, largest worker ...": the master's peak RSS
    const std::size_t at = r.err.find("resident memory:");
    EXPECT_NE(at, std::string::npos) << r.err;
    const std::size_t m = at == std::string::npos ? at : r.err.find("master ", at);
    const double kib = m == std::string::npos ? 0 : human_size(r.err.substr(m + 7)) / 1024;
    EXPECT_GT(kib, 0) << r.err;
    return std::make_pair(static_cast<std::uint64_t>(kib), std::move(r));
  };
  [[maybe_unused]] const auto [short_kib, short_run] =
      master_kib(file("short.zst", zstd_compress(text.substr(0, 2'000'000))));
  [[maybe_unused]] const auto [long_kib, long_run] =
      master_kib(file("long.zst", zstd_compress(text)));
  EXPECT_EQ(long_run.out, tsv(expected));
  auto input = input_bytes_and_chunks(long_run.err);  // "input: ... (B bytes in C chunks)"
  ASSERT_EQ(input.size(), 2u) << long_run.err;
  EXPECT_LT(input[1], 12'000u) << "one chunk per KiB: " << long_run.err;
  EXPECT_GT(input[1], 4096u) << "the first 1024 chunks have --chunk-size: " << long_run.err;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // (Under a sanitizer freed memory is held in quarantine: no measure.)
  EXPECT_LT(long_kib, short_kib + 6 * 1024) << "the master grew with the stream: " << short_kib
                                            << " KiB for 2 MB, " << long_kib << " KiB for 48 MB";
#endif
}

// The ceiling of --memory (and its default, a quarter of it) follows the
// memory limit of the cgroup the program runs in: in a 64 MiB cgroup,
// --memory 1G is refused (it used to fail later with "Cannot allocate
// memory", or to be OOM-killed with the default). Root only: it makes a
// cgroup (v1 or v2) below ours.
TEST_F(CliTest, MemoryCeilingFollowsTheCgroupLimit) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a cgroup";
  fs::path base;
  std::string limit_file;
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    const auto a = line.find(':'), b = line.find(':', a + 1);
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      base = fs::path("/sys/fs/cgroup/memory") / path.substr(1);
      limit_file = "memory.limit_in_bytes";
    } else if (controllers.empty() && base.empty() &&
               slurp("/sys/fs/cgroup/cgroup.controllers").find("memory") != std::string::npos) {
      base = fs::path("/sys/fs/cgroup") / path.substr(1);
      limit_file = "memory.max";
    }
  }
  const fs::path group = base / ("mr-cli-test-" + std::to_string(::getpid()));
  std::error_code ec;
  if (base.empty() || !fs::create_directory(group, ec))
    GTEST_SKIP() << "no writable memory cgroup here (" << base << ")";
  struct Remove {
    fs::path dir;
    ~Remove() { ::rmdir(dir.c_str()); }
  } remove{group};
  {
    std::ofstream limit(group / limit_file);
    limit << (64 << 20);
  }
  if (slurp(group / limit_file).rfind("67108864", 0) != 0)
    GTEST_SKIP() << "cannot set " << (group / limit_file);
  fs::path f = file("in.txt", "a b a\n");
  RunOptions o;
  o.wrapper = {"/bin/sh", "-c",
               "echo $$ > '" + (group / "cgroup.procs").string() + "' && exec \"$0\" \"$@\""};
  Result r = run({"wordcount", "--memory", "1G", f.string()}, o);
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_NE(r.err.find("invalid --memory '1G': must be between 1K and 64M"), std::string::npos)
      << r.err;
  // Within the limit it runs (the default budget is a quarter of 64 MiB).
  Result ok = run({"wordcount", f.string()}, o);
  EXPECT_EQ(ok.code(), 0) << ok.str();
  EXPECT_EQ(ok.out, "a\t2\nb\t1\n");
}

TEST_F(CliTest, TopZeroPrintsEverything) {
  fs::path f = file("in.txt", "b a b c\n");
  EXPECT_EQ(counts({"--top", "0", f.string()}), "b\t2\na\t1\nc\t1\n");
}

TEST_F(CliTest, StandardInputTwiceIsRefused) {
  Result r = run({"wordcount", "-", "-"}, stdin_from(file("in.txt", "a b\n")));
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_NE(r.err.find("standard input ('-') is given more than once"), std::string::npos) << r.err;
}

// With stdout closed (>&-), descriptor 1 used to be taken by an internal
// socket, so the results went into it and the run died of SIGPIPE.
TEST_F(CliTest, ClosedStandardOutputIsReported) {
  fs::path f = file("in.txt", "a b\n");
  RunOptions o;
  o.close_stdout = true;
  Result r = run({"wordcount", f.string()}, o);
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_NE(r.err.find("standard output is closed"), std::string::npos) << r.err;
  // -o still works then.
  Result ok =
      run({"wordcount", "--start-method", "spawn", "-o", (dir_ / "o.tsv").string(), f.string()}, o);
  EXPECT_EQ(ok.code(), 0) << ok.str();
  EXPECT_EQ(slurp(dir_ / "o.tsv"), "a\t1\nb\t1\n");
}

// Every output is opened before the run: an unwritable --trace is reported
// at once (it used to be found only after the whole run; here the run would
// wait for standard input forever).
TEST_F(CliTest, UnwritableTraceIsReportedBeforeTheRun) {
  StdinPipe pipe;
  RunOptions o;
  o.stdin_fd = pipe.read.get();
  o.timeout = 10s;
  Result r = run({"wordcount", "--trace", (dir_ / "no" / "such" / "t.json").string(), "-"}, o);
  EXPECT_EQ(r.code(), 2) << r.str();
  EXPECT_NE(r.err.find("cannot write trace"), std::string::npos) << r.err;
  // A writable one is written, and only at the end.
  fs::path f = file("in.txt", "a b\n");
  Result ok = run({"wordcount", "--trace", (dir_ / "t.json").string(), f.string()});
  EXPECT_EQ(ok.code(), 0) << ok.str();
  EXPECT_NE(slurp(dir_ / "t.json").find("traceEvents"), std::string::npos);
}

}  // namespace
