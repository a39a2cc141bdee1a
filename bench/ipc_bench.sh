#!/usr/bin/env bash
# Runs the C++ ipc_bench and its Python multiprocessing baseline on the same
# machine, prints both tables, then the speed-up per mechanism and N
# (Python seconds / C++ seconds).
#
#   bench/ipc_bench.sh [path/to/ipc_bench] [--max-n N]
#
# Build the C++ side first, e.g.
#   cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DMR_BUILD_BENCH=ON
#   cmake --build build/bench --target ipc_bench
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../build/bench/bin/ipc_bench}
shift || true
if [[ ! -x $bin ]]; then
  echo "ipc_bench binary not found at $bin (pass its path as the first argument)" >&2
  exit 2
fi
cpp=$(mktemp)
py=$(mktemp)
trap 'rm -f "$cpp" "$py"' EXIT
"$bin" "$@" | tee "$cpp"
echo
python3 "$here/ipc_bench.py" "$@" | tee "$py"
echo
echo "# speed-up of mr::ipc over Python multiprocessing (Python seconds / C++ seconds)"
awk '
  FNR == 1 { file++ }
  /^#/ || $1 == "mechanism" { next }
  file == 1 { cpp[$1 " " $2] = $3; order[++n] = $1 " " $2 }
  file == 2 { py[$1 " " $2] = $3 }
  END {
    printf "%-14s %10s %12s %12s %10s\n", "mechanism", "N", "C++ s", "Python s", "ratio"
    for (i = 1; i <= n; i++) {
      k = order[i]
      if (!(k in py)) continue
      split(k, f, " ")
      printf "%-14s %10s %12.6f %12.6f %9.0fx\n", f[1], f[2], cpp[k], py[k], py[k] / cpp[k]
    }
  }' "$cpp" "$py"
