#!/usr/bin/env bash
# The MPI backend against MR-MPI and against the local engine, same input,
# same number of ranks (and of cores for the local engine), in one run.
#
#   bench/mpi_bench.sh [--size 100M] [--ranks 2] [--runs 3] [--no-build]
#
# Steps: build the `bench` preset's mapreduce and mrmpi_wordfreq targets
# (build/bench/bin/), generate data/corpus/zipf-SIZE.txt with data/make-corpus
# when missing, then run in rounds (each round runs every program once, so a
# burst of load hits all of them alike):
#   mapreduce wordcount -j RANKS --tokenizer whitespace --keep-case FILE -o OUT   (local engine)
#   mpirun -np RANKS mapreduce wordcount --backend mpi -j 1 --tokenizer whitespace --keep-case FILE -o OUT
#   mpirun -np RANKS mrmpi_wordfreq -o OUT FILE                                   (MR-MPI)
# (each writes its output to a file: rank 0's standard output would go
# through mpirun's forwarding, which is slow for big outputs)
# and print the median and best wall seconds, MB/s (10^6 bytes per median
# second) and each one's median against MR-MPI's. Whitespace words with
# their case kept are what MR-MPI's word frequency counts; the script checks
# that the three give the same counts (sorted lines) and says so.
# As root it sets OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
size=100M ranks=2 runs=3 build=1
while (($#)); do
  case $1 in
    --size) size=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "mpi_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
bin=$root/build/bench/bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$build" = 1 ]; then
  echo "# building (cmake --preset bench; --target mapreduce mrmpi_wordfreq)" >&2
  (cd "$root" && cmake --preset bench && cmake --build --preset bench --target mapreduce mrmpi_wordfreq) \
    > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
fi
file=$root/data/corpus/zipf-$size.txt
if [ ! -s "$file" ]; then
  mkdir -p "$root/data/corpus"
  "$root/data/make-corpus" --kind zipf --size "$size" -o "$file"
fi
bytes=$(stat -c %s "$file")
mpirun=$(command -v mpirun.openmpi || command -v mpirun)
words=(--tokenizer whitespace --keep-case --no-progress)
names=(local mpi mrmpi)
commands=(
  "$bin/mapreduce wordcount -j $ranks ${words[*]} $file -o $tmp/local.out"
  "$mpirun -np $ranks $bin/mapreduce wordcount --backend mpi -j 1 ${words[*]} $file -o $tmp/mpi.out"
  "$mpirun -np $ranks $bin/mrmpi_wordfreq -o $tmp/mrmpi.out $file"
)
declare -A times
for ((round = 0; round < runs; round++)); do
  for i in "${!names[@]}"; do
    start=$(date +%s.%N)
    ${commands[$i]} > /dev/null 2> "$tmp/${names[$i]}.err" ||
      { cat "$tmp/${names[$i]}.err" >&2; exit 1; }
    end=$(date +%s.%N)
    times[${names[$i]}]+="$(awk "BEGIN {print $end - $start}") "
  done
done
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
best() { tr ' ' '\n' | sed '/^$/d' | sort -g | head -1; }
mrmpi_median=$(echo "${times[mrmpi]}" | median)
echo "# zipf corpus $file ($bytes bytes), $ranks ranks, $runs rounds, $(nproc) cores"
printf '%-8s %10s %10s %10s %12s  %s\n' what median_s best_s MB/s vs_mrmpi command
for i in "${!names[@]}"; do
  n=${names[$i]}
  m=$(echo "${times[$n]}" | median)
  b=$(echo "${times[$n]}" | best)
  printf '%-8s %10.3f %10.3f %10.1f %11.2fx  %s\n' "$n" "$m" "$b" \
    "$(awk "BEGIN {print $bytes / 1000000 / $m}")" "$(awk "BEGIN {print $mrmpi_median / $m}")" \
    "${commands[$i]}"
done
for n in local mpi mrmpi; do LC_ALL=C sort "$tmp/$n.out" > "$tmp/$n.sorted"; done
if cmp -s "$tmp/local.sorted" "$tmp/mpi.sorted" && cmp -s "$tmp/local.sorted" "$tmp/mrmpi.sorted"; then
  echo "# counts: the three agree ($(wc -l < "$tmp/local.sorted") distinct words)"
else
  echo "# counts: MISMATCH between the outputs (sorted lines differ)" >&2
  exit 1
fi
