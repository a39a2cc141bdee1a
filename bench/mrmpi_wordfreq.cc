// Word frequency with MR-MPI (Debian's libmrmpi-dev, Sandia's MapReduce-MPI
// library): the baseline of bench/mpi_bench.sh, the same task as
// `mapreduce wordcount --tokenizer whitespace --keep-case`, in the style of
// MR-MPI's own wordfreq example (written here from the library's API: the
// package ships no examples).
//
//   mpirun -np N mrmpi_wordfreq [-o OUT] FILE...
//
// Each file is cut into 4 x N chunks at newlines (MR-MPI's map with a
// separator), words are runs of bytes other than space, tab, newline,
// carriage return and form feed, emitted as (word, nothing); collate groups
// them, reduce counts each group, and rank 0 prints the number of words,
// of distinct words, and the seconds taken on stderr, and
// "word<TAB>count" lines, most frequent first, on stdout or to OUT (rank 0
// writes it: stdout goes through mpirun's forwarding, slow for big outputs).
#include <mpi.h>
#include <mrmpi/keyvalue.h>
#include <mrmpi/mapreduce.h>

#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

namespace {

using MAPREDUCE_NS::KeyValue;
using MAPREDUCE_NS::MapReduce;

bool separator(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\0';
}

// A chunk of a file: emit every word.
void words(int /*task*/, char* text, int size, KeyValue* kv, void* count) {
  auto* n = static_cast<std::uint64_t*>(count);
  int i = 0;
  while (i < size) {
    while (i < size && separator(text[i])) ++i;
    const int start = i;
    while (i < size && !separator(text[i])) ++i;
    if (i > start) {
      kv->add(text + start, i - start, nullptr, 0);
      ++*n;
    }
  }
}

// One word and its occurrences: (word, count).
void count(char* key, int key_bytes, char* /*values*/, int nvalues, int* /*sizes*/, KeyValue* kv,
           void* /*unused*/) {
  kv->add(key, key_bytes, reinterpret_cast<char*>(&nvalues), sizeof nvalues);
}

// Most frequent first.
int by_count_descending(char* a, int, char* b, int) {
  const int x = *reinterpret_cast<int*>(a), y = *reinterpret_cast<int*>(b);
  return x > y ? -1 : x < y ? 1 : 0;
}

// Prints one (word, count) pair.
void print(char* key, int key_bytes, char* value, int, void* out) {
  std::fprintf(static_cast<std::FILE*>(out), "%.*s\t%d\n", key_bytes, key,
               *reinterpret_cast<int*>(value));
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  int first = 1;
  std::FILE* out = stdout;
  if (argc > 2 && std::string_view(argv[1]) == "-o") {
    first = 3;
    if (rank == 0 && !(out = std::fopen(argv[2], "w"))) MPI_Abort(MPI_COMM_WORLD, 2);
  }
  if (argc <= first) {
    if (rank == 0) std::fprintf(stderr, "usage: mrmpi_wordfreq [-o OUT] FILE...\n");
    MPI_Finalize();
    return 2;
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  auto* mr = new MapReduce(MPI_COMM_WORLD);
  mr->verbosity = 0;
  mr->memsize = 64;  // MB per page (the library default)
  std::uint64_t mine = 0;
  // 4 chunks per rank and file, cut at newlines (looked for up to 16 KiB past a cut).
  mr->map(4 * ranks, argc - first, argv + first, 0, 0, '\n', 16384, words, &mine);
  const std::uint64_t distinct = mr->collate(nullptr);
  mr->reduce(count, nullptr);
  mr->gather(1);
  mr->sort_values(by_count_descending);
  std::uint64_t total = 0;
  MPI_Reduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  mr->scan(print, out);
  std::fflush(out);
  MPI_Barrier(MPI_COMM_WORLD);
  const double seconds = MPI_Wtime() - t0;
  if (rank == 0)
    std::fprintf(stderr, "mrmpi_wordfreq: %llu words, %llu distinct, %.3f s on %d ranks\n",
                 static_cast<unsigned long long>(total), static_cast<unsigned long long>(distinct),
                 seconds, ranks);
  delete mr;
  if (out != stdout) std::fclose(out);
  MPI_Finalize();
  return 0;
}
