// Test helpers for end-to-end tests of plugin jobs: run the mapreduce
// program with arguments, capture its output, with a hard timeout; and the
// small reference helpers (lines, ASCII words) the tests compute expectations with.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace mr::testing {

struct RunResult {
  pid_t pid = 0;       // of the program (the master)
  int exit_code = -1;  // or 128 + signal
  std::string out, err;
  bool timed_out = false;
};

// Runs the program `argv[0]` with `argv` (standard input from the file
// `stdin_path`, or /dev/null); kills it after `timeout` (with `own_group`,
// it runs in a process group of its own, all of which is killed then).
inline RunResult run_program(const std::vector<std::string>& argv_in, std::chrono::seconds timeout,
                             const std::string& stdin_path, bool own_group = false) {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/mr-jobs-run-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string out_path = dir + "/out", err_path = dir + "/err";
  pid_t pid = ::fork();
  if (pid == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int i = ::open(stdin_path.c_str(), O_RDONLY);
    if (o < 0 || e < 0 || i < 0) ::_exit(126);
    if (own_group) ::setpgid(0, 0);
    ::dup2(i, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> argv;
    std::vector<std::string> copy = argv_in;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  RunResult r;
  r.pid = pid;
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(own_group ? -pid : pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    ::poll(nullptr, 0, 5);  // bounded polling of the child's state, not a sync
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  fs::remove_all(dir);
  return r;
}

// Runs MAPREDUCE_BIN with `args` (standard input from the file `stdin_path`,
// or /dev/null); kills it after `timeout`.
inline RunResult run_mapreduce(const std::vector<std::string>& args,
                               std::chrono::seconds timeout = std::chrono::seconds(60),
                               const std::string& stdin_path = "/dev/null") {
  std::vector<std::string> argv{MAPREDUCE_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, timeout, stdin_path);
}

// Runs `script` with bash, pipefail set and `$MR` naming MAPREDUCE_BIN; a
// timeout kills the whole pipeline.
inline RunResult run_bash(const std::string& script,
                          std::chrono::seconds timeout = std::chrono::seconds(60)) {
  return run_program({"/bin/bash", "-c", "set -o pipefail; MR='" MAPREDUCE_BIN "'; " + script},
                     timeout, "/dev/null", true);
}

// A temporary folder removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mr-jobs-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& bytes) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The lines of `text`: split at '\n', a trailing '\r' dropped.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    std::size_t end = nl == std::string::npos ? text.size() : nl;
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return lines;
}

// Maximal runs of ASCII letters and digits, lowercased.
inline std::vector<std::string> ascii_words(const std::string& line) {
  std::vector<std::string> words;
  std::string w;
  for (char c : line) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      words.push_back(w);
      w.clear();
    }
  }
  if (!w.empty()) words.push_back(w);
  return words;
}

}  // namespace mr::testing
