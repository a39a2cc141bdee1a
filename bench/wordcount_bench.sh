#!/usr/bin/env bash
# Word-count benchmark: `mapreduce wordcount` at several worker counts against
# two baselines, on the same corpora, in one run of this script.
#
#   bench/wordcount_bench.sh [--size 500M] [--kinds "text zipf"] [--runs 3]
#                            [--workers "1 2 ..."] [--start-methods "fork spawn"]
#                            [--quick] [--no-build] [--build-jobs N]
#
# Steps: build the `bench` preset's mapreduce and baseline_wordcount targets
# (build/bench/bin/), generate the missing corpora with data/make-corpus into
# data/corpus/, then for each corpus run, in rounds (each round runs every
# program once, so a burst of load on the machine hits all of them alike):
#   mapreduce wordcount -j N --no-progress --stats FILE > /dev/null   (each N of --workers)
#     (and with --start-method M for each other M of --start-methods, default fork only)
#   LC_ALL=C; tr -cs 'A-Za-z' '\n' < FILE | tr A-Z a-z | sort | uniq -c > /dev/null
#   baseline_wordcount FILE > /dev/null
# and print one table: median wall seconds, best seconds, MB/s (10^6 bytes of
# input per median second), peak RSS from /usr/bin/time, mapreduce's own
# peak-memory figures from --stats, and speed ratios against baseline_wordcount
# and the tr pipeline. Then it checks mapreduce's counts against the
# baseline's on the text corpus (a warning, not a failure, on mismatch).
# Column meanings: bench/README.md.
#
# Environment: GNU_TIME (default /usr/bin/time) is the GNU time binary used for
# peak RSS; if it is not executable, RSS is reported as n/a.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

size="" runs="" kinds="text zipf" workers="" methods="fork" quick=0 build=1 build_jobs=""
while (($#)); do
  case $1 in
    --size) size=$2; shift 2 ;;
    --kinds) kinds=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --start-methods) methods=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --no-build) build=0; shift ;;
    --build-jobs) build_jobs=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "wordcount_bench: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if ((quick)); then
  size=${size:-20M}
  runs=${runs:-1}
fi
size=${size:-500M}
runs=${runs:-3}
ncpu=$(nproc)
if [[ -z $workers ]]; then
  # 1, 2, then powers of two up to the number of CPUs, and the number of CPUs.
  workers="1 2"
  for ((n = 4; n < ncpu; n *= 2)); do workers+=" $n"; done
  ((ncpu > 2)) && workers+=" $ncpu"
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "wordcount_bench: --runs must be a positive integer" >&2; exit 2; }
for j in $workers; do
  [[ $j =~ ^[1-9][0-9]*$ ]] || { echo "wordcount_bench: bad worker count '$j' in --workers" >&2; exit 2; }
done
for m in $methods; do
  [[ $m == fork || $m == spawn || $m == forkserver ]] || { echo "wordcount_bench: unknown start method '$m'" >&2; exit 2; }
done
for kind in $kinds; do
  [[ $kind == text || $kind == zipf ]] || { echo "wordcount_bench: unknown kind '$kind' (text or zipf)" >&2; exit 2; }
done

bin=$root/build/bench/bin
mapreduce=$bin/mapreduce
baseline=$bin/baseline_wordcount
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wordcount_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- build ------------------------------------------------------------------
if ((build)); then
  echo "# building (cmake --preset bench; cmake --build --preset bench --target mapreduce baseline_wordcount)" >&2
  (cd "$root" && cmake --preset bench) > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
  (cd "$root" && cmake --build --preset bench ${build_jobs:+-j "$build_jobs"} \
    --target mapreduce baseline_wordcount) >> "$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
fi
for b in "$mapreduce" "$baseline"; do
  [[ -x $b ]] || { echo "wordcount_bench: $b not built (run without --no-build)" >&2; exit 1; }
done

# --- corpora ----------------------------------------------------------------
# shellcheck source=bench/corpus.sh
source "$root/bench/corpus.sh"
declare -A corpus_path
for kind in $kinds; do
  corpus_path[$kind]=$(bench_corpus "$root" "$kind" "$size")
done

# --- measuring --------------------------------------------------------------
gnu_time=${GNU_TIME:-/usr/bin/time}
have_time=0
[[ -x $gnu_time ]] && have_time=1

# run_one LABEL KEY CMD...: runs CMD once with stdout to /dev/null and stderr to
# $tmp/KEY.err, appends "seconds rss_kib" to $tmp/KEY.times (rss "n/a" without
# GNU time) and, for mapreduce, "master_kib worker_kib" from --stats to
# $tmp/KEY.mem. A failed run is recorded in $tmp/KEY.failed.
run_one() {
  local key=$1
  shift
  local t0 t1 rss=n/a status=0
  t0=$EPOCHREALTIME
  if ((have_time)); then
    "$gnu_time" -f '%M' -o "$tmp/$key.rss" "$@" > /dev/null 2> "$tmp/$key.err" || status=$?
  else
    "$@" > /dev/null 2> "$tmp/$key.err" || status=$?
  fi
  t1=$EPOCHREALTIME
  if ((status != 0)); then
    echo "wordcount_bench: '$*' exited with status $status:" >&2
    tail -n 5 "$tmp/$key.err" >&2
    echo "$status" > "$tmp/$key.failed"
    return
  fi
  ((have_time)) && rss=$(tail -n 1 "$tmp/$key.rss")
  awk -v a="$t0" -v b="$t1" -v r="$rss" 'BEGIN { printf "%.6f %s\n", b - a, r }' >> "$tmp/$key.times"
  # --stats: "resident memory: master N UNIT, largest worker N UNIT" and the
  # same for "private memory" (without the input's pages), in KiB here.
  awk 'function kib(v, u) { return u ~ /^GiB/ ? v * 1048576 : u ~ /^MiB/ ? v * 1024 : u ~ /^KiB/ ? v : v / 1024 }
       /resident memory:/ { for (i = 1; i < NF; i++) { if ($i == "master") m = kib($(i + 1), $(i + 2))
                                                       if ($i == "worker") w = kib($(i + 1), $(i + 2)) } }
       /private memory:/ { for (i = 1; i < NF; i++) if ($i == "worker") p = kib($(i + 1), $(i + 2)) }
       END { if (m != "") print m, w, p }' "$tmp/$key.err" >> "$tmp/$key.mem"
}

programs=()
for m in $methods; do
  for j in $workers; do
    if [[ $m == fork ]]; then programs+=("mapreduce-j$j"); else programs+=("mapreduce-$m-j$j"); fi
  done
done
programs+=(tr-pipeline baseline)

# shellcheck disable=SC2016  # the tr pipeline's $1 is expanded by the inner bash
run_program() {  # run_program PROGRAM KEY FILE
  local prog=$1 key=$2 file=$3
  case $prog in
    mapreduce-j*) run_one "$key" "$mapreduce" wordcount -j "${prog#mapreduce-j}" --no-progress --stats "$file" ;;
    mapreduce-*-j*)
      local m=${prog#mapreduce-}
      run_one "$key" "$mapreduce" wordcount -j "${prog##*-j}" --start-method "${m%-j*}" --no-progress --stats "$file" ;;
    tr-pipeline) run_one "$key" bash -c 'export LC_ALL=C; tr -cs "A-Za-z" "\n" < "$1" | tr A-Z a-z | sort | uniq -c' _ "$file" ;;
    baseline) run_one "$key" "$baseline" "$file" ;;
  esac
}

commit=$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2> /dev/null || commit+="+dirty"
echo "# wordcount benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), $ncpu CPUs" \
  "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), commit $commit"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); runs per program: $runs (median and best shown);" \
  "workers: $workers; peak RSS: $([[ $have_time == 1 ]] && echo "$gnu_time %M" || echo "n/a (no GNU time)")"

rows=$tmp/rows
: > "$rows"
for kind in $kinds; do
  file=${corpus_path[$kind]}
  bytes=$(stat -c %s "$file")
  cat "$file" > /dev/null  # warm the page cache: every program reads from memory
  for ((r = 1; r <= runs; r++)); do
    echo "# $kind: round $r of $runs" >&2
    for prog in "${programs[@]}"; do run_program "$prog" "$kind.$prog" "$file"; done
  done
  for prog in "${programs[@]}"; do
    key=$kind.$prog
    if [[ -e $tmp/$key.failed || ! -s $tmp/$key.times ]]; then
      echo "$kind $bytes $prog FAILED" >> "$rows"
      continue
    fi
    # median seconds, best seconds, max RSS KiB over the runs; mapreduce: max master/worker KiB.
    stats=$(sort -g "$tmp/$key.times" | awk '
      { s[NR] = $1; if ($2 != "n/a" && $2 + 0 > rss) rss = $2 + 0; if ($2 == "n/a") na = 1 }
      END { med = (NR % 2) ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2
            printf "%.6f %.6f %s", med, s[1], na ? "n/a" : rss }')
    mem="- - -"
    if [[ -s $tmp/$key.mem ]]; then
      mem=$(awk '{ if ($1 + 0 > m) m = $1 + 0; if ($2 + 0 > w) w = $2 + 0; if ($3 + 0 > p) p = $3 + 0 }
                 END { print m, w, p }' "$tmp/$key.mem")
    fi
    echo "$kind $bytes $prog $stats $mem" >> "$rows"
  done
done

echo
awk '
  function mib(k) { return (k == "-" || k == "n/a") ? k : sprintf("%.1f", k / 1024) }
  function ratio(ref, t) { return (ref == "" || t <= 0) ? "-" : sprintf("%.2fx", ref / t) }
  { line[NR] = $0 }
  $4 != "FAILED" && $3 == "baseline" { base[$1] = $4 }
  $4 != "FAILED" && $3 == "tr-pipeline" { trp[$1] = $4 }
  END {
    fmt = "%-6s %-15s %9s %9s %9s %9s %10s %10s %10s %11s %9s\n"
    printf fmt, "corpus", "program", "median_s", "best_s", "MB/s", "RSS_MiB", "master_MiB", "worker_MiB", "wpriv_MiB",
           "vs_baseline", "vs_tr"
    for (i = 1; i <= NR; i++) {
      split(line[i], f, " ")
      label = f[3]
      if (label ~ /^mapreduce-j/) label = "mapreduce -j" substr(label, 12)
      else if (label ~ /^mapreduce-/) { m = substr(label, 11); j = m; sub(/-j.*/, "", m); sub(/.*-j/, "", j); label = "mr -j" j " " m }
      else if (label == "tr-pipeline") label = "tr|sort|uniq"
      else if (label == "baseline") label = "baseline_wc"
      if (f[4] == "FAILED") { printf fmt, f[1], label, "FAILED", "-", "-", "-", "-", "-", "-", "-", "-"; continue }
      printf fmt, f[1], label, sprintf("%.3f", f[4]), sprintf("%.3f", f[5]), sprintf("%.1f", f[2] / 1e6 / f[4]),
             mib(f[6]), mib(f[7]), mib(f[8]), mib(f[9]), ratio(base[f[1]], f[4]), ratio(trp[f[1]], f[4])
    }
  }' "$rows"
echo "# corpora: $(for kind in $kinds; do printf '%s=%s (%s bytes) ' "$kind" \
  "${corpus_path[$kind]#"$root/"}" "$(stat -c %s "${corpus_path[$kind]}")"; done)"
echo "# RSS_MiB: /usr/bin/time %M, the largest single process (the master or one reaped worker);" \
  "master_MiB/worker_MiB: mapreduce --stats resident memory (master, largest worker);" \
  "wpriv_MiB: --stats private memory of the largest worker (without the input's pages); vs_*: reference seconds / these seconds"

# --- correctness ------------------------------------------------------------
# mapreduce's Unicode tokenizer keeps apostrophes, digits and non-ASCII letters
# inside words ("don't", "café"), so its words are unions of the baseline's
# ASCII-letter runs. Re-splitting each mapreduce word into ASCII-letter runs
# and summing the counts must give the baseline's counts exactly.
if [[ " $kinds " == *" text "* ]]; then
  file=${corpus_path[text]}
  jmax=${workers##* }
  echo
  echo "# correctness on ${file#"$root/"}: mapreduce -j $jmax vs baseline_wordcount"
  if ! "$mapreduce" wordcount -j "$jmax" --no-progress "$file" > "$tmp/mr.out" 2> "$tmp/mr.err"; then
    echo "WARNING: mapreduce failed on the text corpus: $(tail -n 3 "$tmp/mr.err")"
  elif ! "$baseline" "$file" > "$tmp/base.out" 2> "$tmp/base.err"; then
    echo "WARNING: baseline_wordcount failed on the text corpus: $(tail -n 3 "$tmp/base.err")"
  else
    LC_ALL=C awk -F '\t' '
      FNR == 1 { file++ }
      file == 1 {  # mapreduce: re-split into ASCII-letter runs
        n = split(tolower($1), parts, /[^a-z]+/)
        for (i = 1; i <= n; i++) if (parts[i] != "") mr[parts[i]] += $2
        next
      }
      { base[$1] = $2; if (FNR <= 20) top[FNR] = $1 }
      END {
        bad = 0
        for (w in base) if (mr[w] != base[w]) { if (++bad <= 10) diff[bad] = sprintf("%s: mapreduce %d, baseline %d", w, mr[w], base[w]) }
        for (w in mr) if (!(w in base)) { if (++bad <= 10) diff[bad] = sprintf("%s: mapreduce %d, baseline 0", w, mr[w]) }
        topbad = 0
        for (i = 1; i in top; i++) if (mr[top[i]] != base[top[i]]) topbad++
        printf "top 20 of baseline_wordcount:"
        for (i = 1; i in top; i++) printf " %s=%d", top[i], base[top[i]]
        printf "\n"
        if (bad == 0) printf "OK: all %d words agree (top 20 included)\n", length(base)
        else {
          printf "WARNING: %d words differ (%d of the top 20); first ones:\n", bad, topbad
          for (i = 1; i <= bad && i <= 10; i++) printf "  %s\n", diff[i]
        }
      }' "$tmp/mr.out" "$tmp/base.out"
  fi
fi
