// baseline_wordcount FILE...: the word count a typical programmer writes in
// plain C++, used by bench/wordcount_bench.sh as the single-threaded baseline.
//
// Reads each file with std::ifstream in 1 MiB blocks, takes runs of ASCII
// letters as words, lowercases them, counts them in
// std::unordered_map<std::string, uint64_t>, sorts by count descending then
// word, and prints "word<TAB>count" lines. No custom hash, no arena, no
// prefetch, no threads: this is the yardstick, not a contender. A word that
// crosses a block boundary is carried over in the current-word string.
//
// Exit status: 0 success, 2 usage error or unreadable file.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

constexpr std::size_t kBlockSize = 1 << 20;

bool is_ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char to_lower_ascii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Adds the words of `path` to `counts`; false if the file cannot be read.
bool count_file(const char* path, std::unordered_map<std::string, std::uint64_t>& counts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::vector<char> block(kBlockSize);
  std::string word;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const std::streamsize got = in.gcount();
    for (std::streamsize i = 0; i < got; ++i) {
      const char c = block[static_cast<std::size_t>(i)];
      if (is_ascii_letter(c)) {
        word.push_back(to_lower_ascii(c));
      } else if (!word.empty()) {
        ++counts[word];
        word.clear();
      }
    }
  }
  if (in.bad()) return false;
  if (!word.empty()) ++counts[word];
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: baseline_wordcount FILE...\n");
    return 2;
  }
  std::unordered_map<std::string, std::uint64_t> counts;
  for (int i = 1; i < argc; ++i) {
    if (!count_file(argv[i], counts)) {
      std::fprintf(stderr, "baseline_wordcount: cannot read '%s'\n", argv[i]);
      return 2;
    }
  }

  std::vector<std::pair<std::string, std::uint64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    if (a.second != b.second) return a.second > b.second;
    return a.first < b.first;
  });

  std::ios::sync_with_stdio(false);
  for (const auto& [word, count] : sorted) std::cout << word << '\t' << count << '\n';
  std::cout.flush();
  if (!std::cout) {
    std::fprintf(stderr, "baseline_wordcount: cannot write standard output\n");
    return 2;
  }
  return 0;
}
