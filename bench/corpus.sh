# shellcheck shell=bash
# Sourced by the benchmark scripts: the corpora they share.
#
# bench_corpus ROOT KIND SIZE: prints the path of the KIND (text or zipf)
# corpus of SIZE bytes (data/make-corpus's --size, e.g. 500M), making it with
# data/make-corpus when missing: ROOT/data/corpus/text-en-SIZE.txt (real
# English text) or ROOT/data/corpus/zipf-SIZE.txt. Returns 2 for an unknown
# kind.
bench_corpus() {
  local root=$1 kind=$2 size=$3 path
  case $kind in
    text) path=$root/data/corpus/text-en-$size.txt ;;
    zipf) path=$root/data/corpus/zipf-$size.txt ;;
    *) echo "unknown corpus kind '$kind' (text or zipf)" >&2; return 2 ;;
  esac
  if [[ ! -s $path ]]; then
    echo "# generating $path" >&2
    "$root/data/make-corpus" --kind "$kind" --size "$size" -o "$path" >&2 || return 1
  fi
  echo "$path"
}
