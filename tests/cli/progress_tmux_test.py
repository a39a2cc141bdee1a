#!/usr/bin/env python3
"""The progress line as a user sees it: `mapreduce wordcount --progress` runs in
a detached tmux session of a fixed width, and the test reads the screen while
it runs (tmux capture-pane) and after it ends.

Checked, at 30 and at 80 columns:
  - the line never wraps: no screen line (wrapped rows joined) is wider than
    the terminal, and while the job runs it holds one row;
  - the percentage is shown from the start, seen at two or more values
    strictly between 0 and 100, and never decreases;
  - the run ends with a clean summary line ("done: ..."), nothing of the
    progress line left after it;
and that a window made narrower mid-run (SIGWINCH) is followed: the line the
cursor is on fits the new width.

The run is made slow deterministically, not by hoping: MAPREDUCE_FAULT=slow@map:MS
makes every worker sleep MS milliseconds at the start of each chunk, so 48
chunks on 2 workers take at least 48 * MS / 2 ms. Every wait polls with a hard
deadline. The tmux server is private to the test (its own socket) and killed
at the end, whatever happens (its sessions stay until then).

Usage: progress_tmux_test.py MAPREDUCE_BINARY
"""

import os
import re
import shlex
import subprocess
import sys
import tempfile
import time

CHUNKS = 48
CHUNK = 4096
SLOW_MS = 120
DEADLINE_S = 60
PERCENT = re.compile(r"^(\d+)%")


def tmux(sock, *args, check=True):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True,
                          check=check, timeout=10)


def screen(sock, session, joined=True):
    args = ["capture-pane", "-p", "-t", session] + (["-J"] if joined else [])
    # -J keeps the trailing blanks of erased cells: not the program's text.
    return [r.rstrip() for r in tmux(sock, *args).stdout.split("\n")]


def make_input(path):
    # Lines of words, CHUNKS chunks of CHUNK bytes (cut at line ends).
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    with open(path, "w") as f:
        size, i = 0, 0
        while size < CHUNKS * CHUNK:
            line = " ".join(words[(i + k) % len(words)] for k in range(10)) + "\n"
            f.write(line)
            size += len(line)
            i += 1


def start(sock, session, width, binary, data, out):
    env = f"MAPREDUCE_FAULT=slow@map:{SLOW_MS}"
    cmd = (f"env {env} {shlex.quote(binary)} wordcount --progress -j 2 --chunk-size {CHUNK} "
           f"{shlex.quote(data)} > {shlex.quote(out)}; echo MR-EXIT $?; exec sleep 600")
    tmux(sock, "new-session", "-d", "-s", session, "-x", str(width), "-y", "8", cmd)


def watch(sock, session, width, on_percent=None):
    """Polls the screen until the run has ended; returns (percentages seen while
    running, the final screen, failures)."""
    failures, seen = [], []
    deadline = time.monotonic() + DEADLINE_S
    while True:
        if time.monotonic() > deadline:
            failures.append(f"no end within {DEADLINE_S} s")
            return seen, [], failures
        rows = screen(sock, session)
        text = [r for r in rows if r.strip()]
        ended = any(r.startswith("MR-EXIT") for r in rows)
        for r in text:
            if len(r) > width:
                failures.append(f"a line of {len(r)} columns in a {width}-column window: {r!r}")
        if ended:
            return seen, text, failures
        if len(text) > 1:
            failures.append(f"the running line spans several rows: {text!r}")
        if text:
            m = PERCENT.match(text[0])
            if m:
                seen.append(int(m.group(1)))
                if on_percent:
                    on_percent(int(m.group(1)))
        time.sleep(0.02)


def check_final(final, failures):
    if len(final) != 2 or not final[1].startswith("MR-EXIT 0"):
        failures.append(f"final screen is not the summary line and MR-EXIT 0: {final!r}")
        return
    # The summary alone: a "\r" without erasing would leave the tail of the
    # longer progress line after it.
    if not re.fullmatch(r"done: [0-9.]+ (B|KiB|MiB) in \d+s( +\([0-9.]+ (B|KiB|MiB)/s\))?",
                        final[0]):
        failures.append(f"final line is not a clean summary: {final[0]!r}")


def check_percentages(seen, failures):
    if any(b < a for a, b in zip(seen, seen[1:])):
        failures.append(f"the percentage went down: {seen}")
    mid = sorted({p for p in seen if 0 < p < 100})
    if len(mid) < 2:
        failures.append(f"fewer than two percentages seen mid-run: {seen}")


def main():
    binary = sys.argv[1]
    sock = f"mr-progress-test-{os.getpid()}"
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "words.txt")
        make_input(data)
        try:
            for width in (30, 80):
                session = f"w{width}"
                start(sock, session, width, binary, data, os.path.join(tmp, f"out{width}"))
                seen, final, f = watch(sock, session, width)
                check_percentages(seen, f)
                check_final(final, f)
                failures += [f"{width} columns: {x}" for x in f]
                print(f"{width} columns: percentages {seen}; final {final}")
            # 80 columns, made 30 wide once the run is under way: the cursor's
            # line fits the new width (the rows above it may hold the old
            # line, rewrapped by the terminal).
            session = "resize"
            start(sock, session, 80, binary, data, os.path.join(tmp, "out-resize"))
            state = {"resized": False, "after": []}

            def resize(pct):
                if state["resized"]:
                    return
                if pct > 0:
                    tmux(sock, "resize-window", "-t", session, "-x", "30")
                    state["resized"] = True

            deadline = time.monotonic() + DEADLINE_S
            while not state["resized"] and time.monotonic() < deadline:
                rows = [r for r in screen(sock, session) if r.strip()]
                if any(r.startswith("MR-EXIT") for r in rows):
                    break
                if rows and PERCENT.match(rows[0]):
                    resize(int(PERCENT.match(rows[0]).group(1)))
                time.sleep(0.02)
            if not state["resized"]:
                failures.append("resize: the run ended before it could be resized")
            else:
                # Poll the cursor's row until the run ends.
                while time.monotonic() < deadline:
                    y = int(tmux(sock, "display-message", "-p", "-t", session,
                                 "#{cursor_y}").stdout.strip())
                    rows = screen(sock, session, joined=False)
                    if any(r.startswith("MR-EXIT") for r in rows):
                        break
                    line = rows[y] if y < len(rows) else ""
                    if PERCENT.match(line):
                        state["after"].append(line)
                    time.sleep(0.02)
                late = state["after"][3:]  # a redraw or two may precede the signal
                if not late:
                    failures.append("resize: no progress line seen after the resize")
                for line in late:
                    if len(line) > 30:
                        failures.append(f"resize: {len(line)} columns after the window became 30: "
                                        f"{line!r}")
                        break
                print(f"resize: {len(late)} lines checked after the resize")
        finally:
            tmux(sock, "kill-server", check=False)
    for x in failures:
        print("FAIL:", x)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
