#!/usr/bin/env bash
# Typed jobs against the built-in wordcount, in CPU time, on the same corpora
# in one run of this script:
#
#   bench/typed_bench.sh [--runs 3] [-j 2] [--size 300M] [--kinds "text zipf"]
#                        [--before REF] [--no-build] [FILE...]
#
# Jobs (each `BIN/mapreduce ... -j N --no-progress FILE > OUT`):
#   builtin        mapreduce wordcount                      (the byte-level fast path)
#   typed_wc       run --job bench_typed_wc                 (bench/typed_jobs/typed_wordcount.cc:
#                                                            MapReduceJob<std::string, uint64_t>,
#                                                            map(chunk) emitting each word)
#   typed_wc_line  run --job bench_typed_wc_line            (the same with map_line)
#   wordlen        run --job wordlen                        (the README's example, integer keys)
#   bigrams        run --job bigrams                        (jobs/bigrams)
#   invertedindex  run --job invertedindex                  (jobs/invertedindex)
# CPU time is user + system of the whole process tree (GNU time: the master
# and the workers it reaped), the figure to trust on a shared machine; wall
# seconds are printed beside it. Each round runs every job once, alternating
# the builds, so a burst of load hits all alike. The table gives per job the
# median CPU seconds, its ratio to the built-in wordcount of the same build
# on the same file (xbuiltin) and, with --before, the speedup before/after.
#
# --before REF builds the same jobs from commit REF (a git worktree in
# ${TMPDIR:-/tmp}/mr-typed-bench-<sha>, this folder's typed_jobs/ copied into its
# jobs/, removed at the end) and runs both builds. Outputs are checked: the
# typed word counts must print the built-in's bytes, and each job the same
# bytes before and after. Without FILE the corpora are
# data/corpus/text-en-SIZE.txt and data/corpus/zipf-SIZE.txt (made by
# data/make-corpus when missing, as bench/wordcount_bench.sh does).
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

root=$(cd "$(dirname "$0")/.." && pwd)
runs=3 workers=2 size=300M kinds="text zipf" before="" build=1
while (($#)); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    -j) workers=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --kinds) kinds=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "typed_bench: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "typed_bench: --runs must be a positive integer" >&2; exit 2; }
[[ $workers =~ ^[1-9][0-9]*$ ]] || { echo "typed_bench: -j must be a positive integer" >&2; exit 2; }
gnu_time=${GNU_TIME:-/usr/bin/time}
[[ -x $gnu_time ]] || { echo "typed_bench: needs GNU time ($gnu_time; apt-get install time)" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/typed_bench.XXXXXX")
before_tree=""
cleanup() {
  rm -rf "$tmp"
  if [[ -n $before_tree && -d $before_tree ]]; then
    git -C "$root" worktree remove --force "$before_tree" > /dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

plugins=(mr_job_bigrams mr_job_invertedindex mr_job_bench_typed_wc mr_job_bench_typed_wc_line mr_job_wordlen)

# --- builds -----------------------------------------------------------------
if ((build)); then
  echo "# building this tree (cmake --preset bench; targets mapreduce and the jobs' plugins)" >&2
  { (cd "$root" && cmake --preset bench && cmake --build --preset bench --target mapreduce "${plugins[@]}"); } \
    > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
fi
builds=(after)
declare -A bin_of
bin_of[after]=$root/build/bench/bin/mapreduce
if [[ -n $before ]]; then
  sha=$(git -C "$root" rev-parse --verify "$before^{commit}") || { echo "typed_bench: no commit '$before'" >&2; exit 2; }
  before_tree=${TMPDIR:-/tmp}/mr-typed-bench-${sha:0:12}
  echo "# building $before (${sha:0:12}) in $before_tree" >&2
  [[ -d $before_tree ]] && git -C "$root" worktree remove --force "$before_tree" > /dev/null 2>&1
  git -C "$root" worktree add --detach "$before_tree" "$sha" > "$tmp/before.log" 2>&1 \
    || { cat "$tmp/before.log" >&2; exit 1; }
  mkdir -p "$before_tree/jobs/bench_typed"
  cp "$root"/bench/typed_jobs/* "$before_tree/jobs/bench_typed/"
  { (cd "$before_tree" && cmake --preset release && cmake --build --preset release --target mapreduce "${plugins[@]}"); } \
    >> "$tmp/before.log" 2>&1 || { cat "$tmp/before.log" >&2; exit 1; }
  builds=(before after)
  bin_of[before]=$before_tree/build/release/bin/mapreduce
fi
for b in "${builds[@]}"; do
  [[ -x ${bin_of[$b]} ]] || { echo "typed_bench: ${bin_of[$b]} not built (run without --no-build)" >&2; exit 1; }
done

# --- corpora ----------------------------------------------------------------
files=("$@")
if ((${#files[@]} == 0)); then
  # shellcheck source=bench/corpus.sh
  source "$root/bench/corpus.sh"
  for kind in $kinds; do
    files+=("$(bench_corpus "$root" "$kind" "$size")") || exit 2
  done
fi

jobs=(builtin typed_wc typed_wc_line wordlen bigrams invertedindex)
job_args() {  # the mapreduce arguments of a job, before the options
  case $1 in
    builtin) echo wordcount ;;
    typed_wc) echo run --job bench_typed_wc ;;
    typed_wc_line) echo run --job bench_typed_wc_line ;;
    *) echo run --job "$1" ;;
  esac
}

# run_one BUILD JOB FILE KEY: one run, output to $tmp/KEY.out, "cpu wall" appended to $tmp/KEY.t.
run_one() {
  local build=$1 job=$2 file=$3 key=$4 status=0
  # shellcheck disable=SC2046
  "$gnu_time" -f '%U %S %e' -o "$tmp/$key.time" "${bin_of[$build]}" $(job_args "$job") \
    -j "$workers" --no-progress "$file" > "$tmp/$key.out" 2> "$tmp/$key.err" || status=$?
  if ((status != 0)); then
    echo "typed_bench: $build $job on $file exited with status $status:" >&2
    tail -n 5 "$tmp/$key.err" >&2
    exit 1
  fi
  awk '{ printf "%.3f %.3f\n", $1 + $2, $3 }' "$tmp/$key.time" >> "$tmp/$key.t"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

commit=$(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2> /dev/null || commit+="+dirty"
echo "# typed jobs vs built-in wordcount: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, -j $workers," \
  "$runs runs, after = $commit${before:+, before = $before}, load $(cut -d' ' -f1-3 /proc/loadavg)"

for file in "${files[@]}"; do
  [[ -r $file ]] || { echo "typed_bench: cannot read '$file'" >&2; exit 2; }
  cat "$file" > /dev/null
  f=$(basename "$file")
  for ((r = 0; r < runs; r++)); do
    for job in "${jobs[@]}"; do
      for b in "${builds[@]}"; do run_one "$b" "$job" "$file" "$b.$job"; done
    done
  done
  # Outputs: the typed word counts print the built-in's bytes; a job prints
  # the same bytes before and after.
  for b in "${builds[@]}"; do
    for job in typed_wc typed_wc_line; do
      cmp -s "$tmp/$b.builtin.out" "$tmp/$b.$job.out" \
        || echo "typed_bench: WARNING: $b $job on $f differs from the built-in wordcount" >&2
    done
  done
  if [[ -n $before ]]; then
    for job in "${jobs[@]}"; do
      cmp -s "$tmp/before.$job.out" "$tmp/after.$job.out" \
        || echo "typed_bench: WARNING: $job on $f prints different bytes before and after" >&2
    done
  fi
  printf '\n%-24s %-14s' "$f" job
  for b in "${builds[@]}"; do printf ' %9s %9s %9s' "${b}_cpu" "${b}_wall" "xbuiltin"; done
  [[ -n $before ]] && printf ' %9s' speedup
  printf '\n'
  declare -A cpu
  for b in "${builds[@]}"; do
    for job in "${jobs[@]}"; do cpu[$b.$job]=$(cut -d' ' -f1 "$tmp/$b.$job.t" | median); done
  done
  for job in "${jobs[@]}"; do
    printf '%-24s %-14s' "" "$job"
    for b in "${builds[@]}"; do
      wall=$(cut -d' ' -f2 "$tmp/$b.$job.t" | median)
      awk -v c="${cpu[$b.$job]}" -v w="$wall" -v base="${cpu[$b.builtin]}" \
        'BEGIN { printf " %9.2f %9.2f %8.2fx", c, w, c / base }'
    done
    [[ -n $before ]] && awk -v a="${cpu[before.$job]}" -v b="${cpu[after.$job]}" 'BEGIN { printf " %8.2fx", a / b }'
    printf '\n'
  done
  rm -f "$tmp"/*.t "$tmp"/*.out
done
