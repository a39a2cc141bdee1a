// End-to-end tests of the MPI backend: `mpirun -np N mapreduce ...
// --backend mpi` must print exactly what the local engine prints, for
// wordcount (bundled samples, a generated corpus, standard input, .zst) and
// every plugin job, over shared memory and over TCP, with a memory budget
// small enough to force many exchange rounds and spills; and a rank that
// dies or stops answering must end the whole job, naming the rank, leaving
// no process behind.
//
// Every run gets a tag in its environment (MR_MPI_TEST_TAG), which mpirun
// passes to the ranks and the ranks to their workers: after the run, no
// process may carry it. Every wait has a hard timeout (the whole process
// group of the run is killed then).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kBinary = MAPREDUCE_BIN;
constexpr const char* kMpirun = MPIRUN;
constexpr const char* kNetnsAgent = NETNS_AGENT;
const std::string kData = DATA_DIR;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Result {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
  double seconds = 0;
  bool timed_out = false;
  std::vector<int> leftovers;  // processes of the run still alive afterwards
};

// The pids of processes whose environment holds `tag`.
std::vector<int> tagged(const std::string& tag) {
  std::vector<int> pids;
  const std::string needle = "MR_MPI_TEST_TAG=" + tag;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string env = slurp(e.path() / "environ");
    for (std::size_t at = 0; at < env.size();) {
      std::size_t end = env.find('\0', at);
      if (end == std::string::npos) end = env.size();
      if (env.compare(at, end - at, needle) == 0) pids.push_back(std::stoi(name));
      at = end + 1;
    }
  }
  return pids;
}

// Runs `argv` in its own process group with `extra` added to the
// environment, standard input from `in`; kills the group after `timeout`.
Result run(const std::vector<std::string>& argv, const std::string& in = "/dev/null",
           std::chrono::seconds timeout = 90s, std::vector<std::string> extra = {}) {
  static std::atomic<int> runs = 0;  // run() is also called from a test's thread
  const std::string tag = std::to_string(::getpid()) + "." + std::to_string(++runs);
  const fs::path dir = fs::temp_directory_path() / ("mr-mpi-test-" + tag);
  fs::create_directories(dir);
  const std::string out = dir / "out", err = dir / "err";
  // Everything the child needs, made before fork.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  env.push_back("MR_MPI_TEST_TAG=" + tag);
  env.push_back("OMPI_ALLOW_RUN_AS_ROOT=1");
  env.push_back("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1");
  env.push_back("OMPI_MCA_rmaps_base_oversubscribe=1");
  // Open MPI's components leak at exit, from modules it has unloaded by then
  // (no name to suppress): no leak check in the ranks of an ASan build. The
  // local runs keep it, and so do the engine's cluster parts (cluster_parts_test).
  // (The asan preset's own ASAN_OPTIONS come first in environ, and the first
  // of two entries wins: extend that one.)
  if (argv.at(0) != kBinary) {
    const auto asan = std::find_if(env.begin(), env.end(), [](const std::string& e) {
      return e.rfind("ASAN_OPTIONS=", 0) == 0;
    });
    if (asan == env.end())
      env.push_back("ASAN_OPTIONS=detect_leaks=0");
    else
      *asan += ":detect_leaks=0";  // a later option overrides an earlier one
  }
  for (auto& x : extra) env.push_back(x);
  std::vector<char*> envp, args;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> copy = argv;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // DANGER: child side of fork, async-signal-safe calls only.
    ::setpgid(0, 0);
    const int i = ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (i < 0 || o < 0 || e < 0 || ::dup2(i, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0)
      ::_exit(126);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // no race with the child's own call: either one does it
  Result r;
  int status = 0;
  const auto deadline = t0 + timeout;
  for (;;) {
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
    if (Clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    ::poll(nullptr, 0, 10);  // bounded polling of the child's state
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  // The ranks and workers end with mpirun, but not in the same instant:
  // wait (bounded) for the tag to vanish, then kill what is left.
  const auto gone_by = Clock::now() + 10s;
  while (!(r.leftovers = tagged(tag)).empty() && Clock::now() < gone_by) ::poll(nullptr, 0, 50);
  for (int p : r.leftovers) ::kill(p, SIGKILL);
  ::kill(-pid, SIGKILL);
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove_all(dir);
  return r;
}

// mpirun with `ranks` ranks (`mca`: extra mpirun options) running
// `mapreduce args... --backend mpi`.
std::vector<std::string> mpirun(int ranks, const std::vector<std::string>& args,
                                const std::vector<std::string>& mca = {}) {
  std::vector<std::string> v{kMpirun, "-np", std::to_string(ranks)};
  v.insert(v.end(), mca.begin(), mca.end());
  v.push_back(kBinary);
  v.insert(v.end(), args.begin(), args.end());
  v.push_back("--backend");
  v.push_back("mpi");
  return v;
}

std::vector<std::string> local(const std::vector<std::string>& args) {
  std::vector<std::string> v{kBinary};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

const std::vector<std::string> kTcp = {"--mca", "btl", "tcp,self"};

// `args` run locally and by `ranks` ranks print the same bytes; returns the
// ranks' run.
Result expect_same(const std::vector<std::string>& args, int ranks,
                   const std::vector<std::string>& mca = {}, const std::string& in = "/dev/null") {
  const Result want = run(local(args), in);
  EXPECT_EQ(want.status, 0) << want.err;
  EXPECT_FALSE(want.out.empty());
  // Standard input through a pipe, as `cat FILE | mpirun ...`: Open MPI
  // 4.1's mpirun now and then crashes forwarding a regular file
  // (open-mpi/ompi#7483, a segfault in orte_iof_hnp_read_local_handler).
  std::vector<std::string> argv = mpirun(ranks, args, mca);
  if (in != "/dev/null") argv.insert(argv.begin(), {"/bin/sh", "-c", "cat \"$0\" | \"$@\"", in});
  const Result got = run(argv);
  EXPECT_EQ(got.status, 0) << got.err;
  EXPECT_FALSE(got.timed_out);
  EXPECT_TRUE(got.leftovers.empty()) << got.leftovers.size() << " processes left";
  EXPECT_TRUE(got.out == want.out)
      << "output differs: " << got.out.size() << " bytes against " << want.out.size() << "\n"
      << got.err;
  return got;
}

class MpiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mr-mpi-data-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string samples() const { return kData; }
  std::vector<std::string> sample_files() const {
    return {kData + "/en/sherlock-holmes.txt", kData + "/ru/debian-handbook-ru.txt",
            kData + "/zh/guwen-guanzhi.txt", kData + "/zh/sishu.txt"};
  }
  // data/make-corpus: a Zipf corpus of `size`, made in one process (its
  // default pool of 2 forked Python workers once hung past run()'s 90 s in
  // a CI run under asan; the corpus is the same either way).
  std::string corpus(const std::string& size) {
    const std::string path = dir_ / ("zipf-" + size + ".txt");
    Result r = run({"/usr/bin/env", "python3", kData + "/make-corpus", "--kind", "zipf", "--size",
                    size, "--vocab", "100000", "--jobs", "1", "-o", path});
    EXPECT_EQ(r.status, 0) << r.err;
    return path;
  }
  fs::path dir_;
};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_F(MpiTest, WordcountOfTheSamplesAndACorpusIsTheLocalOutput) {
  // Small chunks: every rank maps a share of every file.
  expect_same(with({"wordcount", "-j", "2", "--chunk-size", "64K", corpus("2M")}, sample_files()),
              3);
}

TEST_F(MpiTest, OverTcpWithFourRanks) {
  expect_same(with({"wordcount", "-j", "1", "--chunk-size", "32K"}, sample_files()), 4, kTcp);
}

TEST_F(MpiTest, EveryPluginJobIsTheLocalOutput) {
  std::ofstream ranges(dir_ / "ranges.txt");
  for (int i = 0; i < 300; ++i) ranges << i * 997 << "-" << i * 997 + 5000 << "\n";
  ranges.close();
  const auto files = sample_files();
  for (const auto& job : std::vector<std::vector<std::string>>{
           {"--job", "bigrams"},
           {"--job", "charfreq"},
           {"--job", "invertedindex"},
           {"--job", "linelength"},
           {"--job", "grep", "--opt", "pattern=[Hh]olmes|Watson"}}) {
    SCOPED_TRACE(job[1]);
    expect_same(with(with({"run", "-j", "2", "--chunk-size", "48K"}, job), files), 3);
  }
  expect_same({"run", "--job", "primes", "-j", "1", "--chunk-size", "1K", dir_ / "ranges.txt"}, 3);
}

TEST_F(MpiTest, StandardInputAndZstdAreReadByRankZeroAndScattered) {
  const std::string text = corpus("1M");
  const std::string zst = text + ".zst";
  ASSERT_EQ(run({"/usr/bin/env", "zstd", "-q", "-f", text, "-o", zst}).status, 0);
  // Rank 0 reads the streams and hands every third chunk to each other rank
  // (one that has not taken its last ones yet gets none: rank 0 maps it).
  const Result got = expect_same({"wordcount", "-j", "2", "--chunk-size", "64K", "--stats", "-",
                                  kData + "/en/sherlock-holmes.txt", zst},
                                 3, {}, text);
  for (const std::string rank : {"1", "2"}) {
    const std::size_t at = got.err.find("  rank " + rank + ":");
    ASSERT_NE(at, std::string::npos) << got.err;
    const std::size_t chunks = got.err.find(" bytes in ", at);
    // A third of the file's 9 chunks, and at least its first stream chunk.
    EXPECT_GE(std::stoull(got.err.substr(chunks + 10)), 4u) << got.err;
  }
  expect_same({"wordcount", "-j", "1", "--chunk-size", "64K", zst, "-"}, 4, kTcp, zst);
}

TEST_F(MpiTest, TinyMemoryForcesManyRoundsAndSpills) {
  const auto args =
      with({"wordcount", "-j", "2", "--chunk-size", "16K", "--memory", "64K"}, sample_files());
  expect_same(args, 3, kTcp);
  // --stats: the exchange went in many rounds (4 KiB per peer each at this
  // budget) and spilled; the counters are the local run's.
  const Result local_run = run(local(with(args, {"--stats"})));
  const Result got = run(mpirun(3, with(args, {"--stats"}), kTcp));
  ASSERT_EQ(got.status, 0) << got.err;
  auto field = [](const std::string& err, const std::string& key) {
    const std::size_t at = err.find(key);
    return at == std::string::npos ? std::string() : err.substr(at, err.find('\n', at) - at);
  };
  EXPECT_EQ(field(got.err, "  words:"), field(local_run.err, "  words:"));
  EXPECT_EQ(field(got.err, "  output lines:"), field(local_run.err, "  output lines:"));
  for (int rank = 0; rank < 3; ++rank) {
    const std::string line = field(got.err, "  rank " + std::to_string(rank) + ":");
    ASSERT_FALSE(line.empty()) << got.err;
    const std::size_t at = line.find("sent ");
    ASSERT_NE(at, std::string::npos) << line;
    EXPECT_GT(std::stoull(line.substr(at + 5)), 20u * 4096) << line;  // > 20 rounds' worth
  }
  const std::string spills = field(got.err, "  retries:");
  EXPECT_EQ(spills.find("spills 0)"), std::string::npos) << spills;
}

// A worker killed after MPI_Init is replaced (by a spawned program: no
// fork after MPI_Init) and its chunk mapped again: the output stays exact.
TEST_F(MpiTest, AWorkerKilledAfterMpiInitIsReplaced) {
  const auto args = std::vector<std::string>{"wordcount", "-j",         "2",      "--chunk-size",
                                             "64K",       corpus("1M"), "--stats"};
  const Result want = run(local(args));
  ASSERT_EQ(want.status, 0) << want.err;
  // Chunk 3 is rank 0's (3 mod 3); its worker dies there once.
  const Result got = run(mpirun(3, args), "/dev/null", 90s, {"MAPREDUCE_FAULT=kill:3:1"});
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_TRUE(got.out == want.out);
  EXPECT_NE(got.err.find("workers replaced 1,"), std::string::npos) << got.err;
  EXPECT_TRUE(got.leftovers.empty());
}

// -o DIR --parts: one part per rank plus _SUCCESS, together the local
// output's lines; an existing folder is refused.
TEST_F(MpiTest, PartsAreOnePerRankPlusSuccess) {
  const auto args = with({"wordcount", "-j", "1", "--chunk-size", "64K"}, sample_files());
  const Result want = run(local(args));
  ASSERT_EQ(want.status, 0) << want.err;
  const std::string out = dir_ / "parts";
  const Result got = run(mpirun(3, with(args, {"-o", out, "--parts"})));
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_TRUE(got.out.empty());
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(out)) names.insert(e.path().filename());
  EXPECT_EQ(names,
            (std::set<std::string>{"_SUCCESS", "part-r-00000", "part-r-00001", "part-r-00002"}));
  auto sorted_lines = [](const std::string& text) {
    std::multiset<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.insert(line);
    return lines;
  };
  std::string all;
  for (int rank = 0; rank < 3; ++rank) {
    const std::string part = slurp(fs::path(out) / ("part-r-0000" + std::to_string(rank)));
    EXPECT_FALSE(part.empty()) << rank;
    all += part;
  }
  EXPECT_TRUE(sorted_lines(all) == sorted_lines(want.out));
  const Result again = run(mpirun(3, with(args, {"-o", out, "--parts"})));
  EXPECT_NE(again.status, 0);
  EXPECT_NE(again.err.find("exists"), std::string::npos) << again.err;
  EXPECT_TRUE(again.leftovers.empty());
}

// The same backend built against MPICH and launched with its mpiexec.
TEST_F(MpiTest, MpichGivesTheSameOutput) {
#ifndef MPICH_BACKEND_DIR
  GTEST_SKIP() << "MPICH (mpicxx.mpich, mpiexec.mpich) was not found at configure time";
#else
  const auto args =
      with({"wordcount", "-j", "2", "--chunk-size", "64K", "--memory", "256K"}, sample_files());
  const Result want = run(local(args));
  ASSERT_EQ(want.status, 0) << want.err;
  std::vector<std::string> argv{MPIEXEC_MPICH, "-n", "3", kBinary};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--backend", "mpi", "--stats"});
  const Result got =
      run(argv, "/dev/null", 90s, {std::string("MAPREDUCE_BACKEND_PATH=") + MPICH_BACKEND_DIR});
  EXPECT_EQ(got.status, 0) << got.err;
  EXPECT_TRUE(got.leftovers.empty()) << got.leftovers.size() << " processes left";
  EXPECT_TRUE(got.out == want.out) << got.err;
  EXPECT_NE(got.err.find("  rank 2:"), std::string::npos) << got.err;  // three ranks, not one
#endif
}

// What run_and_cut_rank_2 saw (MpiHostsTest, below).
struct CutRun {
  Result result;
  bool link_down = false;    // the link went down while the job ran
  double after_cut = 0;      // seconds from the cut to mpirun's end
  bool by_ranks = false;     // the ranks named rank 2
  bool by_agent = false;     // the agent named its host
  bool ranks_first = false;  // the ranks' message came first
};

// Separate hosts: each rank in its own network namespace with its own
// address, and mpirun in one more (the head node), the namespaces joined by
// a bridge (no uplink) that the test makes and removes; mpirun reaches the
// hosts through tests/mpi/netns-agent as plm_rsh_agent, which runs the
// command with `ip netns exec` and, like ssh with ServerAliveInterval,
// ends when its host stops answering. Every byte between ranks crosses a
// real network stack. The head gives up on unanswered TCP data after 3
// retransmissions (net.ipv4.tcp_retries2, about 3 s on a bridge), as README
// "MPI" advises for the node that runs mpirun (with 5 there, about 13 s:
// the test stays short).
class MpiHostsTest : public MpiTest {
 protected:
  void SetUp() override {
    MpiTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "not root: cannot make network namespaces";
    // Names of this test's own: a namespace that another test of this
    // process deleted may still hold its veth's name for a while.
    static int tests = 0;
    const std::string id = std::to_string(::getpid() % 100000) + std::to_string(tests++ % 10);
    subnet_ = "10.213." + std::to_string(::getpid() % 250) + ".";
    bridge_ = "mrb" + id;
    prefix_ = "mrns" + id + "-";
    if (!ip({"link", "add", bridge_, "type", "bridge"}))
      GTEST_SKIP() << "ip link/netns unavailable (cannot add a bridge)";
    made_bridge_ = true;
    ASSERT_TRUE(ip({"addr", "add", subnet_ + "1/24", "dev", bridge_}));
    ASSERT_TRUE(ip({"link", "set", bridge_, "up"}));
    for (int host = kHead; host < 11 + kHosts; host = host == kHead ? 11 : host + 1) {
      const std::string ns = prefix_ + std::to_string(host);
      const std::string veth = "mrv" + id + "h" + std::to_string(host);
      if (!ip({"netns", "add", ns})) GTEST_SKIP() << "ip netns unavailable";
      namespaces_.push_back(ns);
      ASSERT_TRUE(ip({"link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns}));
      ASSERT_TRUE(ip({"link", "set", veth, "master", bridge_, "up"}));
      ASSERT_TRUE(
          ip({"-n", ns, "addr", "add", subnet_ + std::to_string(host) + "/24", "dev", "eth0"}));
      ASSERT_TRUE(ip({"-n", ns, "link", "set", "eth0", "up"}));
      ASSERT_TRUE(ip({"-n", ns, "link", "set", "lo", "up"}));
      // A namespace lives on, and its veth with it, while a closed TCP
      // socket in it still retransmits (to the host that was cut off, for
      // minutes by default): closed sockets give up after one retry here.
      ASSERT_TRUE(ip({"netns", "exec", ns, "/bin/sh", "-c",
                      "echo 1 > /proc/sys/net/ipv4/tcp_orphan_retries"}));
      if (host != kHead) hosts_ += (hosts_.empty() ? "" : ",") + subnet_ + std::to_string(host);
    }
    // The head's own setting (each namespace has its own TCP settings).
    ASSERT_TRUE(
        ip({"netns", "exec", head(), "/bin/sh", "-c", "echo 3 > /proc/sys/net/ipv4/tcp_retries2"}));
  }
  void TearDown() override {
    for (const auto& ns : namespaces_) ip({"netns", "del", ns});  // takes its veth pair along
    if (made_bridge_) ip({"link", "del", bridge_});
    MpiTest::TearDown();
  }
  static std::string ip_binary() {
    return fs::exists("/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip";
  }
  static bool ip(std::vector<std::string> args) {
    args.insert(args.begin(), ip_binary());
    return run(args, "/dev/null", 30s).status == 0;
  }
  std::string head() const { return prefix_ + std::to_string(kHead); }
  // The namespace of rank r's host.
  std::string host_of(int rank) const { return prefix_ + std::to_string(11 + rank); }
  std::vector<std::string> mpirun_on_hosts(const std::vector<std::string>& args) const {
    const std::string net = subnet_ + "0/24";
    std::vector<std::string> v{ip_binary(),
                               "netns",
                               "exec",
                               head(),
                               "/usr/bin/env",
                               "MR_NETNS_PREFIX=" + prefix_,
                               "MR_NETNS_TMP=" + dir_.string(),
                               kMpirun,
                               "-np",
                               std::to_string(kHosts),
                               "--host",
                               hosts_,
                               "--mca",
                               "plm_rsh_agent",
                               kNetnsAgent,
                               "--mca",
                               "oob_tcp_if_include",
                               net,
                               "--mca",
                               "btl",
                               "tcp,self",
                               "--mca",
                               "btl_tcp_if_include",
                               net,
                               kBinary};
    v.insert(v.end(), args.begin(), args.end());
    v.insert(v.end(), {"--backend", "mpi"});
    return v;
  }
  // Runs wordcount on the hosts and sets rank 2's link down while it maps.
  CutRun run_and_cut_rank_2(const std::string& rank_timeout);
  // The job failed (non-zero), within `within_s` seconds of the cut, and
  // left no process on any host.
  static void expect_failed_cleanly(const CutRun& c, double within_s);
  static constexpr int kHosts = 3;
  static constexpr int kHead = 10;  // the head's address ends in .10, rank r's in .(11 + r)
  std::string subnet_, bridge_, prefix_, hosts_;
  std::vector<std::string> namespaces_;
  bool made_bridge_ = false;
};

TEST_F(MpiHostsTest, RanksInSeparateNetworkNamespacesGiveTheLocalOutput) {
  const auto args =
      with({"wordcount", "-j", "1", "--chunk-size", "64K", corpus("1M")}, sample_files());
  const Result want = run(local(args));
  ASSERT_EQ(want.status, 0) << want.err;
  const Result got = run(mpirun_on_hosts(args));
  EXPECT_EQ(got.status, 0) << got.err;
  EXPECT_TRUE(got.out == want.out) << got.err;
  EXPECT_TRUE(got.leftovers.empty()) << got.leftovers.size() << " processes left";
  // Standard input goes to rank 0 across the namespaces too.
  const Result in =
      run(mpirun_on_hosts({"run", "--job", "linelength", "-"}), kData + "/en/sherlock-holmes.txt");
  const Result in_local =
      run(local({"run", "--job", "linelength", "-"}), kData + "/en/sherlock-holmes.txt");
  EXPECT_EQ(in.status, 0) << in.err;
  EXPECT_TRUE(in.out == in_local.out) << in.err;
}

// A rank cut off from the network (its namespace's link set down mid-run)
// ends the job at a deadline, not never. Two things can notice, both
// bounded: the agent (ssh's ServerAlive), whose exit tells mpirun the host
// is lost, and the other ranks, which abort at --rank-timeout naming rank
// 2; mpirun then waits for the lost daemon's connection until the head's
// TCP gives up on the kill order it sent there (tcp_retries2). Nothing is
// left on any host either way.

CutRun MpiHostsTest::run_and_cut_rank_2(const std::string& rank_timeout) {
  // Every rank's workers sleep 100 ms per chunk, so the map phase lasts a
  // few seconds: the link goes down while the ranks are mapping.
  std::vector<std::string> argv = mpirun_on_hosts({"wordcount", "-j", "1", "--chunk-size", "32K",
                                                   "--rank-timeout", rank_timeout, corpus("2M")});
  const auto binary = std::find(argv.begin(), argv.end(), std::string(kBinary));
  argv.insert(binary, {"/bin/sh", "-c", "export MAPREDUCE_FAULT=slow@map:100; exec \"$@\"", "sh"});
  const std::string cut = host_of(2);
  std::atomic<bool> link_down{false};
  Clock::time_point cut_at;  // written by the cutter before it sets link_down
  std::thread cutter([&] {
    // Down once a worker on that host sleeps in its first map task (so
    // MPI_Init is over everywhere; bounded wait).
    const auto give_up = Clock::now() + 60s;
    while (Clock::now() < give_up) {
      const Result pids = run({ip_binary(), "netns", "pids", cut}, "/dev/null", 10s);
      std::istringstream in(pids.out);
      for (std::string pid; in >> pid;) {
        // A worker (its parent a mapreduce master; the master's own MPI_Init
        // polls in nanosleep too) sleeping in a map task.
        std::istringstream stat(slurp("/proc/" + pid + "/stat"));
        std::string self, comm, state, parent;
        stat >> self >> comm >> state >> parent;
        if (comm == "(mapreduce)" && slurp("/proc/" + parent + "/comm") == "mapreduce\n" &&
            slurp("/proc/" + pid + "/wchan").find("nanosleep") != std::string::npos) {
          cut_at = Clock::now();
          link_down = ip({"-n", cut, "link", "set", "eth0", "down"});
          return;
        }
      }
      ::poll(nullptr, 0, 20);
    }
  });
  CutRun c;
  c.result = run(argv, "/dev/null", 60s);
  const auto ended_at = Clock::now();
  cutter.join();
  // A safety net: the agent kills what the cut host runs once it notices.
  const Result left = run({ip_binary(), "netns", "pids", cut}, "/dev/null", 10s);
  std::istringstream pids(left.out);
  for (int pid; pids >> pid;) ::kill(pid, SIGKILL);
  c.link_down = link_down;
  c.after_cut = std::chrono::duration<double>(ended_at - cut_at).count();
  const std::size_t by_ranks = c.result.err.find("rank 2 did not answer");
  const std::size_t by_agent = c.result.err.find("host " + subnet_ + "13 did not answer");
  c.by_ranks = by_ranks != std::string::npos;
  c.by_agent = by_agent != std::string::npos;
  c.ranks_first = by_ranks < by_agent;
  ::testing::Test::RecordProperty("noticed_first", c.ranks_first ? "ranks" : "agent");
  ::testing::Test::RecordProperty("seconds", std::to_string(c.result.seconds));
  ::testing::Test::RecordProperty("seconds_after_cut", std::to_string(c.after_cut));
  return c;
}

void MpiHostsTest::expect_failed_cleanly(const CutRun& c, double within_s) {
  const Result& r = c.result;
  ASSERT_TRUE(c.link_down) << "the link was not cut while the job ran: " << r.err;
  EXPECT_FALSE(r.timed_out) << r.err;
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_LT(c.after_cut, within_s) << r.err;
  EXPECT_TRUE(r.leftovers.empty()) << r.leftovers.size() << " processes left\n" << r.err;
}

// The ranks' deadline (3 s) comes before the agent notices (3 probes of
// up to 2 s each): the ranks abort first, and mpirun, which then ignores
// the agent, ends when the head's TCP gives up on the lost daemon.
TEST_F(MpiHostsTest, ARankCutOffFromTheNetworkEndsTheJobAtTheDeadline) {
  const CutRun c = run_and_cut_rank_2("3");
  expect_failed_cleanly(c, 40);
  // Named by the ranks, or by the agent should the machine be so slow that
  // it noticed first.
  EXPECT_TRUE(c.by_ranks || c.by_agent) << c.result.err;
}

// With a deadline far away (60 s) only the agent can notice in time: its
// exit ends the job, as ssh's does on a real cluster.
TEST_F(MpiHostsTest, AHostCutOffIsNoticedByItsAgentBeforeAnyDeadline) {
  const CutRun c = run_and_cut_rank_2("60");
  expect_failed_cleanly(c, 30);
  EXPECT_TRUE(c.by_agent) << c.result.err;
  EXPECT_FALSE(c.by_ranks) << c.result.err;
}

// `mpirun -np 3` of wordcount over a 2 MB corpus, with MAPREDUCE_FAULT set
// to `fault` in rank `rank` alone (`extra`: more options).
Result run_with_fault(const std::string& text, int rank, const std::string& fault,
                      const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {kMpirun,
                                   "-np",
                                   "3",
                                   "/bin/sh",
                                   "-c",
                                   "[ \"$OMPI_COMM_WORLD_RANK\" = " + std::to_string(rank) +
                                       " ] && export MAPREDUCE_FAULT=" + fault + "; exec \"$@\"",
                                   "sh",
                                   kBinary,
                                   "wordcount",
                                   "--backend",
                                   "mpi",
                                   "--chunk-size",
                                   "32K",
                                   text};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run(argv, "/dev/null", 60s);
}

// --checkpoint: a run whose rank 1 is killed after committing its first
// map output, relaunched with the same folder, gives the local output, and
// the relaunch maps only what no commit holds (--stats: chunks mapped plus
// chunks restored make the whole input, and some were restored).
TEST_F(MpiTest, ACheckpointedRelaunchMapsOnlyWhatWasNotCommitted) {
  const std::string text = corpus("1M");
  const std::string checkpoint = dir_ / "checkpoint";
  const std::vector<std::string> options = {"-j",           "1",        "--memory", "256K",
                                            "--checkpoint", checkpoint, "--stats"};
  const Result killed = run_with_fault(text, 1, "master-kill@map", options);
  ASSERT_NE(killed.status, 0) << killed.err;
  ASSERT_TRUE(fs::exists(fs::path(checkpoint) / "rank-1"));
  const Result want = run(local({"wordcount", "--chunk-size", "32K", "--stats", text}));
  ASSERT_EQ(want.status, 0);
  auto args = with({"wordcount", "--chunk-size", "32K", text}, options);
  const Result got = run(mpirun(3, args));
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_TRUE(got.out == want.out);
  auto number_after = [](const std::string& text, const std::string& key, std::size_t from = 0) {
    const std::size_t at = text.find(key, from);
    return at == std::string::npos ? -1LL : std::stoll(text.substr(at + key.size()));
  };
  const std::size_t at = want.err.find("bytes in ");
  ASSERT_NE(at, std::string::npos) << want.err;
  const long long all = number_after(want.err, "bytes in ");
  long long mapped = 0, restored = 0;
  for (int rank = 0; rank < 3; ++rank) {
    const std::size_t line = got.err.find("  rank " + std::to_string(rank) + ":");
    ASSERT_NE(line, std::string::npos) << got.err;
    mapped += number_after(got.err, "bytes in ", line);
    restored += number_after(got.err, "chunks (", line);
  }
  EXPECT_GT(restored, 0) << got.err;
  EXPECT_EQ(mapped + restored, all) << got.err;
  EXPECT_TRUE(got.leftovers.empty());
  // Once the run has succeeded, a relaunch maps and reduces nothing: every
  // chunk and all 4 partitions (4 per worker) come from the checkpoint.
  const Result again = run(mpirun(3, args));
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_TRUE(again.out == want.out);
  long long partitions = 0;
  for (int rank = 0; rank < 3; ++rank) {
    const std::size_t line = again.err.find("  rank " + std::to_string(rank) + ":");
    ASSERT_NE(line, std::string::npos) << again.err;
    EXPECT_EQ(number_after(again.err, "bytes in ", line), 0) << again.err;
    partitions += number_after(again.err, "chunks, ", line);
  }
  EXPECT_EQ(partitions, 4) << again.err;
}

// A rank whose master is SIGKILLed (mid-run, after its first map output)
// ends the whole job fast, non-zero, naming the rank, with no process left.
TEST_F(MpiTest, AKilledRankEndsTheJob) {
  const Result r = run_with_fault(corpus("2M"), 1, "master-kill@map", {"-j", "2"});
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.status, 0);
  EXPECT_LT(r.seconds, 10) << r.err;
  EXPECT_NE(r.err.find("rank 1"), std::string::npos) << r.err;
  EXPECT_TRUE(r.leftovers.empty()) << r.leftovers.size() << " processes left";
}

// A rank that stops answering (its master SIGSTOPped) ends the job at the
// deadline, not never: the others abort naming it.
TEST_F(MpiTest, ARankThatStopsAnsweringEndsTheJobAtTheDeadline) {
  const Result r =
      run_with_fault(corpus("2M"), 2, "master-stop@map", {"-j", "1", "--rank-timeout", "2"});
  EXPECT_FALSE(r.timed_out);
  EXPECT_NE(r.status, 0);
  EXPECT_LT(r.seconds, 20) << r.err;
  EXPECT_NE(r.err.find("rank 2 did not answer"), std::string::npos) << r.err;
  EXPECT_TRUE(r.leftovers.empty()) << r.leftovers.size() << " processes left";
}

// A rank that never calls MPI_Init (stopped before its program starts, as
// one whose host is lost while the job starts; it never runs, even when
// mpirun's SIGCONT wakes it to be killed) ends the job at --rank-timeout,
// naming what did not finish: MPI_Init waits for every rank and has no
// deadline of its own, the ranks' watchdog gives it one. The rank that
// waited leaves nothing in the temporary folder. (Two ranks: a third that
// waited too could be SIGKILLed by mpirun, which follows its SIGTERM within
// a tenth of a second, before it cleans up.)
TEST_F(MpiTest, ARankThatNeverJoinsEndsTheJobAtTheDeadline) {
  const fs::path tmp = dir_ / "tmp";  // the ranks' spill folders go here
  fs::create_directories(tmp);
  const Result r =
      run({kMpirun, "-np", "2", "/bin/sh", "-c",
           "[ \"$OMPI_COMM_WORLD_RANK\" = 1 ] && { kill -STOP $$; exit 1; }; exec \"$@\"", "sh",
           kBinary, "wordcount", "--backend", "mpi", "--rank-timeout", "2",
           kData + "/en/sherlock-holmes.txt"},
          "/dev/null", 60s, {"TMPDIR=" + tmp.string()});
  EXPECT_FALSE(r.timed_out) << r.err;
  EXPECT_NE(r.status, 0);
  EXPECT_LT(r.seconds, 20) << r.err;
  EXPECT_NE(r.err.find("rank 0: MPI_Init did not finish within 2 s (--rank-timeout)"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(r.leftovers.empty()) << r.leftovers.size() << " processes left";
  for (const auto& e : fs::directory_iterator(tmp))
    EXPECT_NE(e.path().filename().string().rfind("mapreduce-", 0), 0u) << e.path() << " left\n"
                                                                       << r.err;
}

// The state letter of process `pid` from /proc (R, S, T, Z...), or 0 when
// it is gone.
char process_state(int pid) {
  std::istringstream stat(slurp("/proc/" + std::to_string(pid) + "/stat"));
  std::string self, comm;
  char state = 0;
  stat >> self >> comm >> state;
  return state;
}

// A rank whose MPI_Abort cannot end the job (mpirun, which serves it, is
// stopped by the test) ends alone 5 s later, naming why: whatever the
// launcher does, a rank does not outlive its abort by more than that.
TEST_F(MpiTest, ARankWhoseAbortCannotEndTheJobEndsAloneAfterAGrace) {
  const std::string text = corpus("1M");
  std::atomic<bool> stopped{false};
  std::atomic<double> ended_after{-1};  // seconds from SIGTERM to rank 1's end
  std::thread interrupter([&] {
    // Once a worker of rank 1 sleeps in a map task (its master is past
    // MPI_Init): stop mpirun, then interrupt rank 1, whose master cleans up
    // and calls MPI_Abort. Every wait is bounded; mpirun is always resumed.
    const auto give_up = Clock::now() + 60s;
    int mpirun = 0, master = 0;
    while (!stopped && Clock::now() < give_up) {
      for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::istringstream stat(slurp(e.path() / "stat"));
        std::string self, comm, state;
        int parent = 0;
        stat >> self >> comm >> state >> parent;
        const int pid = std::stoi(name);
        if (comm.rfind("(mpirun", 0) == 0 && parent == ::getpid()) mpirun = pid;
        // A rank's master is a child of our mpirun (a local launch).
        if (mpirun && parent == mpirun && comm == "(mapreduce)" &&
            slurp(e.path() / "environ").find(std::string("OMPI_COMM_WORLD_RANK=1") + '\0') !=
                std::string::npos)
          master = pid;
        if (mpirun && master && comm == "(mapreduce)" && parent == master &&
            slurp(e.path() / "wchan").find("nanosleep") != std::string::npos) {
          ::kill(mpirun, SIGSTOP);
          stopped = true;
          break;
        }
      }
      if (!stopped) ::poll(nullptr, 0, 20);
    }
    if (!stopped) return;
    const auto t0 = Clock::now();
    ::kill(master, SIGTERM);
    // Its parent, mpirun, is stopped: an ended master stays a zombie.
    while (Clock::now() < t0 + 30s && process_state(master) != 'Z' && process_state(master) != 0)
      ::poll(nullptr, 0, 20);
    if (process_state(master) == 'Z' || process_state(master) == 0)
      ended_after = std::chrono::duration<double>(Clock::now() - t0).count();
    ::kill(mpirun, SIGCONT);
  });
  const Result r = run({kMpirun, "-np", "2", kBinary, "wordcount", "-j", "1", "--chunk-size", "32K",
                        "--backend", "mpi", text},
                       "/dev/null", 90s, {"MAPREDUCE_FAULT=slow@map:300"});
  interrupter.join();
  ASSERT_TRUE(stopped) << "mpirun was not stopped while the job ran: " << r.err;
  EXPECT_GE(ended_after, 0) << "rank 1 did not end within 30 s: " << r.err;
  EXPECT_LT(ended_after, 15) << r.err;
  EXPECT_FALSE(r.timed_out) << r.err;
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("rank 1: MPI_Abort did not end the job within 5 s"), std::string::npos)
      << r.err;
  EXPECT_TRUE(r.leftovers.empty()) << r.leftovers.size() << " processes left";
}

}  // namespace
