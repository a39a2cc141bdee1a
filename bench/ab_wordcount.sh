#!/usr/bin/env bash
# A/B benchmark of two builds of `mapreduce wordcount` (a change against the
# commit before it), in one run of this script, on the same machine:
#
#   bench/ab_wordcount.sh [--runs 5] [--workers "1 2"] [--args "..."] BIN_A BIN_B FILE...
#
# For each FILE and each worker count it runs A and B alternately (A B A B
# ...), so a burst of load on the machine hits both alike, each as
#   BIN wordcount -j N --no-progress ARGS FILE > /dev/null
# checks that A and B print the same counts (once per FILE), and prints one
# table: median and best wall seconds of each, MB/s (10^6 bytes of input per
# median second) and the ratio B/A of the medians (below 1: B is faster).
# Build the "before" binary from a worktree of the old commit, e.g.
#   git worktree add /tmp/before HEAD~1 && cmake --preset release -S /tmp/before ...
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

runs=5 workers="1 2" extra=""
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --args) extra=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "ab_wordcount: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
if (($# < 3)); then
  usage >&2
  exit 2
fi
a=$1 b=$2
shift 2
for bin in "$a" "$b"; do
  [[ -x $bin ]] || { echo "ab_wordcount: '$bin' is not an executable" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ab_wordcount.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Seconds (wall) of one run, its output discarded.
seconds() {
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$@" > /dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.4f\n", e - s }' 
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
best() { sort -g | head -1; }

printf '%-22s %3s  %9s %9s %8s  %9s %9s %8s  %6s\n' file j "A median" "A best" "A MB/s" \
  "B median" "B best" "B MB/s" "B/A"
for file in "$@"; do
  bytes=$(stat -L -c %s "$file")
  # shellcheck disable=SC2086
  "$a" wordcount -j 2 --no-progress $extra "$file" > "$tmp/a.out"
  # shellcheck disable=SC2086
  "$b" wordcount -j 2 --no-progress $extra "$file" > "$tmp/b.out"
  cmp -s "$tmp/a.out" "$tmp/b.out" || echo "ab_wordcount: A and B count $file differently" >&2
  for j in $workers; do
    : > "$tmp/a.t"
    : > "$tmp/b.t"
    for ((r = 0; r < runs; r++)); do
      # shellcheck disable=SC2086
      seconds "$a" wordcount -j "$j" --no-progress $extra "$file" >> "$tmp/a.t"
      # shellcheck disable=SC2086
      seconds "$b" wordcount -j "$j" --no-progress $extra "$file" >> "$tmp/b.t"
    done
    am=$(median < "$tmp/a.t") ab=$(best < "$tmp/a.t")
    bm=$(median < "$tmp/b.t") bb=$(best < "$tmp/b.t")
    awk -v f="$(basename "$file")" -v j="$j" -v n="$bytes" -v am="$am" -v ab="$ab" -v bm="$bm" \
      -v bb="$bb" 'BEGIN { printf "%-22s %3s  %9.3f %9.3f %8.0f  %9.3f %9.3f %8.0f  %6.3f\n",
                           f, j, am, ab, n / 1e6 / am, bm, bb, n / 1e6 / bm, bm / am }' 
  done
done
