#!/usr/bin/env python3
"""Python baseline of bench/ipc_bench.cc: small integers from one process to
another through multiprocessing's Pipe, Queue and JoinableQueue (task_done
per item), measured the same way: the parent sends 0..N-1, a forked child
adds them up and sends the sum back over a pipe; timed from before starting
the child until the parent holds the checked sum (and, for JoinableQueue,
join() has returned).

    ipc_bench.py [--max-n N] [--repeat R] [--only MECHANISM]
    (defaults 1000000, 1 (best of R), all mechanisms)
"""
import argparse
import multiprocessing as mp
import time


def pipe_child(conn, n):
    s = 0
    for _ in range(n):
        s += conn.recv()
    conn.send(s)


def run_pipe(n):
    t0 = time.perf_counter()
    parent, child = mp.Pipe()
    p = mp.Process(target=pipe_child, args=(child, n))
    p.start()
    child.close()
    for i in range(n):
        parent.send(i)
    got = parent.recv()
    t = time.perf_counter() - t0
    p.join()
    assert got == n * (n - 1) // 2, got
    return t


def queue_child(q, w, n, joinable):
    s = 0
    for _ in range(n):
        s += q.get()
        if joinable:
            q.task_done()
    w.send(s)


def run_queue(n, joinable):
    t0 = time.perf_counter()
    q = mp.JoinableQueue() if joinable else mp.Queue()
    r, w = mp.Pipe(duplex=False)
    p = mp.Process(target=queue_child, args=(q, w, n, joinable))
    p.start()
    w.close()
    for i in range(n):
        q.put(i)
    if joinable:
        q.join()
    got = r.recv()
    t = time.perf_counter() - t0
    p.join()
    assert got == n * (n - 1) // 2, got
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    mp.set_start_method("fork")
    mechanisms = [
        ("Pipe", run_pipe),
        ("Queue", lambda n: run_queue(n, False)),
        ("JoinableQueue", lambda n: run_queue(n, True)),
    ]
    print(f"# Python {'.'.join(map(str, __import__('sys').version_info[:3]))} "
          f"multiprocessing, best of {args.repeat}")
    print(f"{'mechanism':<14} {'N':>10} {'seconds':>12} {'messages/s':>14}")
    for name, run in mechanisms:
        if args.only and args.only != name:
            continue
        n = 10_000
        while n <= args.max_n:
            best = min(run(n) for _ in range(args.repeat))
            print(f"{name:<14} {n:>10} {best:>12.6f} {n / best:>14.0f}", flush=True)
            n *= 10


if __name__ == "__main__":
    main()
