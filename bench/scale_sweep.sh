#!/usr/bin/env bash
# Scaling of the built-in wordcount with the number of workers:
#
#   bench/scale_sweep.sh [--max N] [--runs 3] [--size 500M] [--kinds "text zipf"]
#                        [--svg FILE] [--no-build]
#
# For each corpus (bench/corpus.sh: data/corpus/text-en-SIZE.txt and
# data/corpus/zipf-SIZE.txt, made when missing) and each worker count
# j = 1 .. N (default: nproc) it runs `build/bench/bin/mapreduce wordcount -j j
# --no-progress FILE > /dev/null`, --runs times, the counts interleaved (1 2
# ... N, then again), and prints one table: median wall seconds, MB/s (10^6
# bytes per median second), speedup over -j 1 and scaling efficiency
# (speedup / j). The same table goes to FILE.tsv beside --svg, and
# bench/plot_scaling.py draws MB/s against workers, one line per corpus, into
# the SVG file (default build/bench/scaling.svg).
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

root=$(cd "$(dirname "$0")/.." && pwd)
max=$(nproc) runs=3 size=500M kinds="text zipf" svg=$root/build/bench/scaling.svg build=1
while (($#)); do
  case $1 in
    --max) max=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --kinds) kinds=$2; shift 2 ;;
    --svg) svg=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "scale_sweep: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
for n in "$max" "$runs"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "scale_sweep: --max and --runs take a positive integer" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/scale_sweep.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ((build)); then
  { (cd "$root" && cmake --preset bench && cmake --build --preset bench --target mapreduce); } \
    > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
fi
mapreduce=$root/build/bench/bin/mapreduce
[[ -x $mapreduce ]] || { echo "scale_sweep: $mapreduce not built (run without --no-build)" >&2; exit 1; }
# shellcheck source=bench/corpus.sh
source "$root/bench/corpus.sh"

mkdir -p "$(dirname "$svg")"
tsv=${svg%.svg}.tsv
echo "# wordcount scaling: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $runs runs," \
  "commit $(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'corpus\tworkers\tmedian_s\tMB_s\tspeedup\tefficiency\n' | tee "$tsv"
for kind in $kinds; do
  file=$(bench_corpus "$root" "$kind" "$size")
  bytes=$(stat -L -c %s "$file")
  cat "$file" > /dev/null
  for ((r = 0; r < runs; r++)); do
    for ((j = 1; j <= max; j++)); do
      t0=$EPOCHREALTIME
      "$mapreduce" wordcount -j "$j" --no-progress "$file" > /dev/null
      t1=$EPOCHREALTIME
      awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >> "$tmp/$kind.$j"
    done
  done
  base=""
  for ((j = 1; j <= max; j++)); do
    m=$(sort -g "$tmp/$kind.$j" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    [[ -z $base ]] && base=$m
    awk -v k="$kind" -v j="$j" -v m="$m" -v n="$bytes" -v b="$base" \
      'BEGIN { printf "%s\t%d\t%.3f\t%.1f\t%.2f\t%.0f%%\n", k, j, m, n / 1e6 / m, b / m, 100 * b / m / j }'
  done | tee -a "$tsv"
done
python3 "$root/bench/plot_scaling.py" "$tsv" "$svg"
echo "# plot: $svg (data: $tsv)"
