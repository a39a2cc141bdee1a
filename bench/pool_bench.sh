#!/usr/bin/env bash
# Runs the C++ pool_bench and its Python multiprocessing baseline on the same
# machine, prints both tables, then the speed-up per test (C++ items per
# second / Python items per second: tasks for map_*, processes for start_*).
#
#   bench/pool_bench.sh [path/to/pool_bench] [--tasks N] [--workers W]
#                       [--repeat R] [--processes P] [--only map|start]
#                       [--py-spawn-processes Q]
#
# Python's spawn starts a whole interpreter per process, so it starts Q
# processes (default 100) instead of P; rates are per process either way.
# Build the C++ side first, e.g.
#   cmake --preset bench && cmake --build build/bench --target pool_bench
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/../build/bench/bin/pool_bench
if [[ $# -gt 0 && $1 != --* ]]; then
  bin=$1
  shift
fi
if [[ ! -x $bin ]]; then
  echo "pool_bench binary not found at $bin (pass its path as the first argument)" >&2
  exit 2
fi
common=()
py_spawn=100
while [[ $# -gt 0 ]]; do
  case $1 in
    --py-spawn-processes) py_spawn=$2; shift 2 ;;
    *) common+=("$1"); shift ;;
  esac
done
cpp=$(mktemp)
py=$(mktemp)
trap 'rm -f "$cpp" "$py"' EXIT
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "${common[@]}" | tee "$cpp"
echo
python3 "$here/pool_bench.py" "${common[@]}" --spawn-processes "$py_spawn" | tee "$py"
echo
echo "# speed-up of mr over Python multiprocessing (C++ per second / Python per second)"
awk '
  FNR == 1 { file++ }
  /^#/ || $1 == "test" { next }
  file == 1 { cpp[$1] = $4; order[++n] = $1 }
  file == 2 { py[$1] = $4 }
  END {
    printf "%-18s %14s %14s %10s\n", "test", "C++ /s", "Python /s", "ratio"
    for (i = 1; i <= n; i++) {
      k = order[i]
      if (!(k in py) || py[k] == 0) continue
      printf "%-18s %14.0f %14.0f %9.1fx\n", k, cpp[k], py[k], cpp[k] / py[k]
    }
  }' "$cpp" "$py"
