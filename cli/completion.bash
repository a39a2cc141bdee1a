# bash completion for the mapreduce program, installed as
# share/bash-completion/completions/mapreduce (bash-completion loads it the
# first time `mapreduce` is completed; or `source` it).
#
# Completes the commands, each command's options, the jobs after --job and
# the values of the options that take a fixed set. Commands and options are
# read from the program's own help, so they are never out of date; the jobs
# from `mapreduce jobs` (the built-in ones and the plugins that program
# finds). The program asked is the one being completed (the first word), so
# ./build/release/bin/mapreduce completes from itself.

# The commands, from the "Commands:" part of `mapreduce --help`.
_mapreduce_commands() {
  "$1" --help 2>/dev/null | awk '/^Commands:/ { in_list = 1; next }
                                 /^$/ { in_list = 0 }
                                 in_list && /^  [a-z]/ { print $1 }'
}

_mapreduce() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev="" prog=${COMP_WORDS[0]} cmd="" at=0 i
  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
  # The command: the first word after the program that is not an option.
  for ((i = 1; i < COMP_CWORD; i++)); do
    if [[ ${COMP_WORDS[i]} != -* ]]; then
      cmd=${COMP_WORDS[i]}
      at=$i
      break
    fi
  done
  COMPREPLY=()
  if [[ -z $cmd || ($cmd == help && $at -eq $((COMP_CWORD - 1))) ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_mapreduce_commands "$prog")" -- "$cur")
    fi
    return 0
  fi
  [[ $cmd == help ]] && cmd=${COMP_WORDS[at + 1]}
  local values=""
  case $prev in
    --job)
      values=$("$prog" jobs 2>/dev/null | awk '/^[^ ]/ { print $1 }') ;;
    --format) values="tsv csv json jsonl" ;;
    --sort) values="count word" ;;
    --tokenizer) values="unicode whitespace" ;;
    --normalize) values="none nfc nfkc" ;;
    --start-method) values="fork spawn forkserver" ;;
    -o | --output | --trace)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return 0 ;;
    -j | --workers | --reducers | --chunk-size | --memory | --task-timeout | --top | --opt)
      return 0 ;;  # a number or KEY=VALUE: nothing to offer
  esac
  if [[ -n $values ]]; then
    mapfile -t COMPREPLY < <(compgen -W "$values" -- "$cur")
  elif [[ $cur == -* ]]; then
    local options
    options=$("$prog" "$cmd" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u)
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
  else
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
  fi
  return 0
}

complete -o filenames -F _mapreduce mapreduce
