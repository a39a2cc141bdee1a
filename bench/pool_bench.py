#!/usr/bin/env python3
"""Python baseline of bench/pool_bench.cc, measured the same way:

map_cN: multiprocessing.Pool.map(square, range(N), chunksize) on a pool that
already runs (its start is not timed); the results are checked.
start_M: start() then join() of one Process running a no-op function, P
times in a row, with start method M (the forkserver is started before the
timing, as in the C++ run).

    pool_bench.py [--tasks N] [--workers W] [--repeat R] [--processes P]
                  [--spawn-processes Q] [--only map|start]
    (defaults 100000, os.cpu_count() of the affinity mask, 3 (best of R),
    1000, P; spawn starts a whole interpreter, so Q may be smaller to keep
    the run short: the rates are per process either way)
"""
import argparse
import multiprocessing as mp
import os
import time


def square(x):
    return x * x


def noop():
    pass


def best_of(repeat, run):
    return min(run() for _ in range(repeat))


def row(name, n, seconds):
    print(f"{name:<18} {n:8d} {seconds:12.6f} {n / seconds:14.0f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100000)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--processes", type=int, default=1000)
    ap.add_argument("--spawn-processes", type=int, default=0)
    ap.add_argument("--only", choices=["map", "start"])
    a = ap.parse_args()
    workers = a.workers or len(os.sched_getaffinity(0))
    repeat = max(1, a.repeat)
    print(f"# pool_bench (Python {'.'.join(map(str, os.sys.version_info[:3]))} "
          f"multiprocessing): workers={workers}, best of {repeat}")
    print(f"{'test':<18} {'N':>8} {'seconds':>12} {'per_second':>14}")

    if a.only in (None, "map"):
        inputs = list(range(a.tasks))
        expect = sum(square(x) for x in inputs)
        for method, prefix in (("fork", "map_c"), ("spawn", "map_spawn_c")):
            with mp.get_context(method).Pool(workers) as pool:
                for chunksize in (1, 1000):
                    def run():
                        t0 = time.perf_counter()
                        out = pool.map(square, inputs, chunksize)
                        dt = time.perf_counter() - t0
                        assert len(out) == len(inputs) and sum(out) == expect
                        return dt
                    row(f"{prefix}{chunksize}", a.tasks, best_of(repeat, run))

    if a.only in (None, "start"):
        for method in ("fork", "spawn", "forkserver"):
            ctx = mp.get_context(method)
            n = a.processes
            if method == "spawn" and a.spawn_processes:
                n = a.spawn_processes
            if method == "forkserver":
                warm = ctx.Process(target=noop)  # starts the server, not timed
                warm.start()
                warm.join()

            def run():
                t0 = time.perf_counter()
                for _ in range(n):
                    p = ctx.Process(target=noop)
                    p.start()
                    p.join()
                    assert p.exitcode == 0
                return time.perf_counter() - t0
            row(f"start_{method}", n, best_of(repeat, run))


if __name__ == "__main__":
    main()
