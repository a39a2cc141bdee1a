#!/usr/bin/env python3
"""What `cmake --install` gives a user of the program besides the binary: the
man pages (made from --help by help2man at build time) and the bash
completion.

Installs the build tree into a temporary prefix, then checks:
  - share/man/man1 holds mapreduce.1 and a page per command, and `man -l`
    renders them with the commands' options (--format jsonl among them);
  - share/bash-completion/completions/mapreduce, sourced into bash, completes
    the commands, a command's options, the jobs after --job (built-in and the
    installed plugins, as the installed program lists them) and --format's
    values, by calling _mapreduce with COMP_WORDS and COMP_CWORD set.

Usage: installed_cli_test.py BUILD_DIR BINDIR DATADIR MANDIR
"""

import os
import shutil
import subprocess
import sys
import tempfile

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def complete(script, program, words, cword):
    """COMPREPLY of _mapreduce for the command line `words`, the cursor on
    words[cword]."""
    words_text = " ".join("'" + w.replace("'", "'\\''") + "'" for w in [program] + words)
    code = (f"source '{script}'\n"
            f"COMP_WORDS=({words_text})\n"
            f"COMP_CWORD={cword}\n"
            "_mapreduce\n"
            "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = {k: v for k, v in os.environ.items() if k != "MAPREDUCE_JOB_PATH"}
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", code], capture_output=True,
                       text=True, timeout=30, env=env)
    check(r.returncode == 0, f"completion of {words} failed: {r.stderr}")
    return [w for w in r.stdout.split("\n") if w]


def main():
    build, bindir, datadir, mandir = sys.argv[1:5]
    prefix = tempfile.mkdtemp(prefix="mr-installed-cli-")
    try:
        r = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            print("cmake --install failed:", r.stderr)
            return 1
        program = os.path.join(prefix, bindir, "mapreduce")

        # ---- man pages
        man1 = os.path.join(prefix, mandir, "man1")
        pages = sorted(os.listdir(man1)) if os.path.isdir(man1) else []
        want = ["mapreduce-jobs.1", "mapreduce-run.1", "mapreduce-wordcount.1", "mapreduce.1"]
        check(all(p in pages for p in want), f"man pages installed: {pages}, want {want}")
        if shutil.which("man") and "mapreduce-wordcount.1" in pages:
            env = dict(os.environ, MANWIDTH="100", MANPAGER="cat", PAGER="cat")
            text = subprocess.run(["man", "-l", os.path.join(man1, "mapreduce-wordcount.1")],
                                  capture_output=True, text=True, timeout=30, env=env).stdout
            for needle in ["mapreduce-wordcount - ", "--workers", "--format", "jsonl",
                           "--version", "SEE ALSO"]:
                check(needle in text, f"man mapreduce-wordcount lacks {needle!r}:\n{text[:1500]}")
            text = subprocess.run(["man", "-l", os.path.join(man1, "mapreduce.1")],
                                  capture_output=True, text=True, timeout=30, env=env).stdout
            for needle in ["wordcount", "jobs", "mapreduce-run(1)"]:
                check(needle in text, f"man mapreduce lacks {needle!r}:\n{text[:1500]}")

        # ---- bash completion
        script = os.path.join(prefix, datadir, "bash-completion", "completions", "mapreduce")
        if check(os.path.isfile(script), f"no completion script at {script}"):
            got = complete(script, program, [""], 1)
            check(set(got) >= {"wordcount", "run", "jobs", "help"}, f"commands: {got}")
            got = complete(script, program, ["wo"], 1)
            check(got == ["wordcount"], f"'wo': {got}")
            got = complete(script, program, ["help", "r"], 2)
            check(got == ["run"], f"'help r': {got}")
            got = complete(script, program, ["wordcount", "--fo"], 2)
            check(got == ["--format"], f"'wordcount --fo': {got}")
            got = complete(script, program, ["wordcount", "-"], 2)
            check({"--workers", "--stats", "--progress", "--version", "--normalize"} <= set(got),
                  f"'wordcount -': {got}")
            got = complete(script, program, ["run", "--job", ""], 3)
            check({"wordcount", "grep", "charfreq", "invertedindex"} <= set(got),
                  f"'run --job': {got}")
            got = complete(script, program, ["run", "--job", "gr"], 3)
            check(got == ["grep"], f"'run --job gr': {got}")
            got = complete(script, program, ["run", "--job", "grep", "--o"], 4)
            check({"--opt", "--output"} <= set(got) and "--job" not in got,
                  f"'run --job grep --o': {got}")
            got = complete(script, program, ["wordcount", "--format", "js"], 3)
            check(got == ["json", "jsonl"], f"'--format js': {got}")
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
