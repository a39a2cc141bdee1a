// wordcount_core_bench FILE [FILE...]: single-threaded MB/s of the wordcount
// hot path against a plain std::unordered_map baseline, in one program.
//
// For each file (read into memory first), each variant runs 3 times and the
// best run counts; times are this thread's CPU time, so other processes on a
// loaded machine disturb the figures less (caches are still shared). Ratios
// are against the baseline: an ASCII-letters tokenizer (lowercased) feeding
// std::unordered_map<std::string, uint64_t>.
//
// Variants:
//   baseline        ASCII-letters tokenizer + std::unordered_map
//   ascii+counter   the same tokenizer + mr::WordCounter::add (the table alone)
//   tokenize only   mr::tokenize (unicode), words only counted
//   unicode+add     mr::tokenize (unicode) + WordCounter::add per word
//   count_words     mr::count_words (unicode): fused, with slot prefetch
//   count_words/ws  mr::count_words (whitespace tokenizer)
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mr/job_api/tokenizer.h"
#include "mr/job_api/word_counter.h"

namespace {

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

bool ascii_letter(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

// The baseline's tokenizer: runs of ASCII letters, lowercased into a string.
template <class F>
void ascii_words(std::string_view text, F&& f) {
  std::string word;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    while (i < n && !ascii_letter(static_cast<unsigned char>(text[i]))) ++i;
    if (i == n) break;
    word.clear();
    while (i < n && ascii_letter(static_cast<unsigned char>(text[i]))) {
      word.push_back(static_cast<char>(text[i] | 0x20));
      ++i;
    }
    f(word);
  }
}

struct Result {
  double seconds;
  std::size_t distinct;
  std::uint64_t words;
};

Result best_of(int runs, const std::function<Result()>& run) {
  Result best{1e300, 0, 0};
  for (int i = 0; i < runs; ++i) {
    const Result r = run();
    if (r.seconds < best.seconds) best = r;
  }
  return best;
}

template <class Body>
Result timed(Body&& body) {
  const double t0 = cpu_seconds();
  auto [distinct, words] = body();
  return {cpu_seconds() - t0, distinct, words};
}

std::uint64_t total(const mr::WordCounter& c) {
  std::uint64_t t = 0;
  c.for_each([&](std::string_view, std::uint64_t n) { t += n; });
  return t;
}

void bench_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", path);
    return;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const double mb = static_cast<double>(text.size()) / 1e6;
  mr::warm_up_unicode_tables();
  constexpr int kRuns = 3;
  mr::TokenizerOptions ws;
  ws.kind = mr::TokenizerKind::whitespace;

  struct Row {
    const char* name;
    std::function<Result()> run;
  };
  const std::vector<Row> rows = {
      {"baseline", [&] {
         return timed([&] {
           std::unordered_map<std::string, std::uint64_t> m;
           std::uint64_t words = 0;
           ascii_words(text, [&](const std::string& w) {
             ++m[w];
             ++words;
           });
           return std::pair{m.size(), words};
         });
       }},
      {"ascii+counter", [&] {
         return timed([&] {
           mr::WordCounter c;
           ascii_words(text, [&](const std::string& w) { c.add(w); });
           return std::pair{c.size(), total(c)};
         });
       }},
      {"tokenize only", [&] {
         return timed([&] {
           std::uint64_t words = 0, bytes = 0;
           mr::tokenize(text, {}, [&](std::string_view w) {
             ++words;
             bytes += w.size();
           });
           return std::pair{static_cast<std::size_t>(bytes), words};
         });
       }},
      {"unicode+add", [&] {
         return timed([&] {
           mr::WordCounter c;
           mr::tokenize(text, {}, [&](std::string_view w) { c.add(w); });
           return std::pair{c.size(), total(c)};
         });
       }},
      {"count_words", [&] {
         return timed([&] {
           mr::WordCounter c;
           mr::count_words(text, {}, c);
           return std::pair{c.size(), total(c)};
         });
       }},
      {"count_words/ws", [&] {
         return timed([&] {
           mr::WordCounter c;
           mr::count_words(text, ws, c);
           return std::pair{c.size(), total(c)};
         });
       }},
  };

  std::printf("\n%s: %.1f MB, best of %d, thread CPU time\n", path, mb, kRuns);
  std::printf("%-16s %10s %8s %12s %12s\n", "variant", "MB/s", "ratio", "distinct", "words");
  double base = 0;
  for (const auto& row : rows) {
    const Result r = best_of(kRuns, row.run);
    const double rate = mb / r.seconds;
    if (base == 0) base = rate;
    std::printf("%-16s %10.1f %7.2fx %12zu %12llu\n", row.name, rate, rate / base, r.distinct,
                static_cast<unsigned long long>(r.words));
    std::fflush(stdout);
  }
  std::printf("(tokenize only: 'distinct' column shows total word bytes)\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [FILE...]\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) bench_file(argv[i]);
  return 0;
}
