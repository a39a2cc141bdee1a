#include "cluster.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "mr/base/error.h"
#include "mr/base/io.h"
#include "mr/base/serialize.h"
#include "mr/base/unique_fd.h"

namespace mr::detail {

std::string_view ShuffleStore::run(std::uint32_t p, std::size_t i, std::string& scratch) {
  const auto& in_arena = runs_.at(p);
  if (i < in_arena.size()) {
    auto bytes = arena_.at(in_arena[i]);
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  scratch = unspill(spills_.at(p).at(i - in_arena.size()));
  return scratch;
}

void ShuffleStore::sent(std::uint32_t p) {
  // The arena's space is not reused (a bump allocator); spill files go
  // with the spill folder.
  runs_.at(p).clear();
  spills_.at(p).clear();
}

RunStore::Room ShuffleStore::receive(std::uint32_t p, std::uint64_t length) {
  if (p >= runs_.size()) throw std::out_of_range("received a run of unknown partition");
  const std::size_t id = next_id_++;
  Pending& slot = pending_[id];  // a map node: stays where it is
  slot.partition = p;
  slot.run = arena_.reserve(length);
  if (slot.run) return Room{arena_.at(*slot.run), id};
  slot.buffer.resize(length);
  return Room{std::as_writable_bytes(std::span(slot.buffer)), id};
}

void ShuffleStore::received(std::size_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) throw std::logic_error("ShuffleStore: unknown room");
  Pending& done = it->second;
  if (done.run) {
    runs_[done.partition].push_back(*done.run);
  } else {
    std::span<std::byte> parts[] = {std::as_writable_bytes(std::span(done.buffer))};
    spills_[done.partition].push_back(std::move(spill(spill_dir_, parts).at(0)));
    ++spilled_;
  }
  pending_.erase(it);
}

namespace {

void sync_folder(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("open " + dir);
  if (::fsync(fd.get()) != 0) throw_errno("fsync " + dir);
}

}  // namespace

PartFile::PartFile(const std::string& dir, unsigned rank) {
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) throw_errno("mkdir " + dir);
  char name[32];
  std::snprintf(name, sizeof name, "part-r-%05u", rank);
  final_ = dir + "/" + name;
  temporary_ = dir + "/." + name + "." + std::to_string(::getpid()) + ".tmp";
  const int fd =
      ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (fd < 0) throw_errno("open " + temporary_);
  file_ = ::fdopen(fd, "w");
  if (!file_) {
    ::close(fd);
    ::unlink(temporary_.c_str());
    throw_errno("fdopen " + temporary_);
  }
}

PartFile::~PartFile() {
  if (!file_) return;
  std::fclose(file_);
  ::unlink(temporary_.c_str());
}

void PartFile::commit() {
  std::FILE* f = std::exchange(file_, nullptr);
  int err = 0;
  if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) err = errno;
  if (std::fclose(f) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(temporary_.c_str());
    throw_errno("write " + temporary_, err);
  }
  if (::rename(temporary_.c_str(), final_.c_str()) != 0) throw_errno("rename " + final_);
  sync_folder(final_.substr(0, final_.rfind('/')));
}

namespace {

// A commit's manifest entry: map output (reduced < 0: one run per
// partition, length 0 when empty) or one partition's reduce output.
struct CommitEntry {
  std::string fingerprint;
  std::vector<std::uint32_t> chunks;
  std::vector<SpillRun> runs;
  std::int64_t reduced = -1;
  std::uint64_t keys = 0;
  template <class Ar>
  void serialize(Ar& ar) {
    ar(fingerprint, chunks, runs, reduced, keys);
  }
};

void sync_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path);
  if (::fsync(fd.get()) != 0) throw_errno("fsync " + path);
}

}  // namespace

Checkpoint::Checkpoint(const std::string& dir, unsigned rank, std::string fingerprint)
    : fingerprint_(std::move(fingerprint)) {
  std::error_code ec;
  const std::string base = std::filesystem::absolute(dir, ec).string();
  if (ec) throw std::system_error(ec, "checkpoint folder " + dir);
  if (::mkdir(base.c_str(), 0777) != 0 && errno != EEXIST) throw_errno("mkdir " + base);
  dir_ = base + "/rank-" + std::to_string(rank);
  if (::mkdir(dir_.c_str(), 0777) != 0 && errno != EEXIST) throw_errno("mkdir " + dir_);
  std::vector<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("commit-") && !name.ends_with(".tmp")) entries.push_back(e.path());
  }
  std::sort(entries.begin(), entries.end());
  for (const std::string& path : entries) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto entry = from_bytes<CommitEntry>(bytes);
    if (entry.fingerprint != fingerprint_)
      throw std::runtime_error("checkpoint " + path +
                               " is of another run (other inputs, options or ranks); use a new "
                               "--checkpoint folder");
    if (entry.reduced >= 0) {
      reduced_[static_cast<std::uint32_t>(entry.reduced)] = Reduced{entry.runs.at(0), entry.keys};
      continue;
    }
    chunks_.insert(entry.chunks.begin(), entry.chunks.end());
    for (std::uint32_t p = 0; p < entry.runs.size(); ++p)
      if (entry.runs[p].length) restored_.emplace_back(p, entry.runs[p]);
  }
}

void Checkpoint::commit(const std::vector<std::uint32_t>& chunks,
                        std::span<const std::span<std::byte>> parts) {
  CommitEntry entry{fingerprint_, chunks, spill(dir_, parts)};
  sync_file(entry.runs.at(0).path);  // every run is in that one file
  write_entry(to_bytes(entry));
  chunks_.insert(chunks.begin(), chunks.end());
}

void Checkpoint::commit_reduced(std::uint32_t p, std::span<std::byte> run, std::uint64_t keys) {
  const std::span<std::byte> parts[] = {run};
  CommitEntry entry{fingerprint_, {}, spill(dir_, parts), p, keys};
  sync_file(entry.runs.at(0).path);
  write_entry(to_bytes(entry));
  reduced_[p] = Reduced{entry.runs[0], keys};
}

// The manifest entry: a temporary name, fsync, rename, fsync the folder.
void Checkpoint::write_entry(const std::string& bytes) {
  const std::string name =
      dir_ + "/commit-" + std::to_string(::getpid()) + "-" + std::to_string(next_++);
  const std::string temporary = name + ".tmp";
  {
    UniqueFd fd(
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666));
    if (!fd) throw_errno("open " + temporary);
    write_full(fd.get(), bytes.data(), bytes.size());
    if (::fsync(fd.get()) != 0) throw_errno("fsync " + temporary);
  }
  if (::rename(temporary.c_str(), name.c_str()) != 0) throw_errno("rename " + name);
  sync_folder(dir_);
}

void mark_success(const std::string& dir) {
  const std::string path = dir + "/_SUCCESS";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (!fd) throw_errno("open " + path);
  if (::fsync(fd.get()) != 0) throw_errno("fsync " + path);
  sync_folder(dir);
}

namespace {

// The summed part of JobStats, in one serializable tuple.
auto summed(const JobStats& s) {
  return std::tuple{s.records,
                    s.emitted,
                    s.distinct_keys,
                    s.output_lines,
                    s.shuffle_bytes,
                    s.retries,
                    s.workers_replaced,
                    s.speculative,
                    s.speculative_won,
                    s.spills,
                    s.peak_rss_kb_master,
                    s.peak_rss_kb_workers,
                    s.peak_private_kb_master,
                    s.peak_private_kb_workers,
                    s.user_counters,
                    s.workers,
                    s.seconds_output};
}

}  // namespace

std::string node_stats_to_bytes(const JobStats& stats, const RankStats& rank) {
  return to_bytes(std::tuple{summed(stats), rank});
}

void add_node_stats(JobStats& total, std::string_view bytes) {
  auto [s, rank] = from_bytes<std::tuple<decltype(summed(total)), RankStats>>(bytes);
  auto& [records, emitted, keys, lines, shuffle, retries, replaced, speculative, won, spills,
         rss_master, rss_workers, private_master, private_workers, counters, workers,
         seconds_output] = s;
  total.records += records;
  total.emitted += emitted;
  total.distinct_keys += keys;
  total.output_lines += lines;
  total.shuffle_bytes += shuffle;
  total.retries += retries;
  total.workers_replaced += replaced;
  total.speculative += speculative;
  total.speculative_won += won;
  total.spills += spills;
  total.peak_rss_kb_master = std::max(total.peak_rss_kb_master, rss_master);
  total.peak_rss_kb_workers = std::max(total.peak_rss_kb_workers, rss_workers);
  total.peak_private_kb_master = std::max(total.peak_private_kb_master, private_master);
  total.peak_private_kb_workers = std::max(total.peak_private_kb_workers, private_workers);
  for (const auto& [name, n] : counters) total.user_counters[name] += n;
  total.workers += workers;
  total.seconds_output = std::max(total.seconds_output, seconds_output);
  total.input_bytes += rank.input_bytes;
  total.chunks += rank.chunks;
  total.seconds_map = std::max(total.seconds_map, rank.seconds_map + rank.seconds_exchange);
  total.seconds_reduce = std::max(total.seconds_reduce, rank.seconds_reduce + rank.seconds_gather);
  total.ranks.push_back(rank);
}

}  // namespace mr::detail
