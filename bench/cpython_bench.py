#!/usr/bin/python3
"""CPython's side of the benchmark suite: concurrent.futures.ProcessPoolExecutor.

    python3 cpython_bench.py WORKLOAD [--start=spawn|fork|forkserver] [--reps N] [--n N]
                                      [--chunksize C[,C...]] [--size BYTES] [--inflight N] [--warm N]
                                      (cpu: --size is microseconds per call)

The same workloads, defaults and output as pp_bench (bench/README.md describes each
figure): one line per figure, "figure<TAB>value<TAB>unit"; lines starting with '#' are
comments. Every pool has max_workers=2 and mp_context=multiprocessing.get_context(START).
Standard library only.

With the spawn start method every worker re-imports this file as its main module: the tasks
are module-level functions (in pybench_common.py) and everything else runs only under
`if __name__ == '__main__'`.
"""
import concurrent.futures as cf
import multiprocessing
import sys
import time

# Only what the workers need is imported at module level: a spawned worker re-imports this
# file, and its imports count in the start-up figure. argparse is imported in main(). The
# tasks, statistics and timed loops are pybench_common's (shared with the peers' scripts).
from pybench_common import (RESULT, WORKERS, add_options, cpu_batches, die, echo, map_rates,
                            median, out, out_cpu, out_payload, out_roundtrip, out_submit,
                            payload_buf, payload_label, payload_runs, roundtrip_times,
                            startup_times, submit_runs)


# ---- helpers ----

def new_pool(ctx):
    return cf.ProcessPoolExecutor(max_workers=WORKERS, mp_context=ctx)


def warm(ex):
    """Starts both workers (not timed): four no-op calls in flight at once."""
    fs = [ex.submit(echo, 0) for _ in range(2 * WORKERS)]
    for f in fs:
        f.result()


# ---- workloads ----

def bench_startup(ctx, m, reps):
    """(a) ProcessPoolExecutor() until the first no-op result is in hand; the pool is shut
    down after the clock stops."""
    t = startup_times(lambda: new_pool(ctx), lambda ex, fn, x: ex.submit(fn, x), RESULT,
                      lambda ex: ex.shutdown(wait=True), reps)
    out("startup.%s" % m, median(t) * 1e3, "ms", "%.4f")


def bench_submit(ctx, m, reps, n):
    """(b) and (g): n submits, then n results collected in submission order, on a warm
    pool; wall time and the parent's CPU time (all its threads)."""
    with new_pool(ctx) as ex:
        warm(ex)
        runs = submit_runs(ex.submit, RESULT, reps, n)
    out_submit(m, n, runs)


def bench_map(ctx, m, reps, n, chunks):
    """(c) executor.map over n small ints with the given chunksize, consumed to the end, on
    a warm pool."""
    items = list(range(n))
    with new_pool(ctx) as ex:
        warm(ex)
        for c in chunks:
            rates = map_rates(lambda fn, it: list(ex.map(fn, it, chunksize=c)), items, reps)
            out("map.c%d.%s" % (c, m), median(rates), "items/s")


def bench_roundtrip(ctx, m, n):
    """(d) one no-op call at a time on a warm pool, each from submit to its result."""
    with new_pool(ctx) as ex:
        warm(ex)
        t = roundtrip_times(ex.submit, RESULT, n)
    out_roundtrip(m, t)


def bench_payload(ctx, m, reps, size, inflight=1, warm_rounds=0):
    """(e) pybench_common.payload_runs() on a warm pool."""
    buf = payload_buf(size)
    with new_pool(ctx) as ex:
        warm(ex)
        runs = payload_runs(ex.submit, RESULT, buf, size, reps, inflight, warm_rounds)
    out_payload(payload_label(size, inflight, warm_rounds), m, runs)


def bench_broken(ctx, m, reps):
    """(f) on a warm pool, submit of a task that exits until result() raises
    BrokenProcessPool; a new pool per repetition, shut down after the clock stops."""
    t = []
    for _ in range(reps):
        ex = new_pool(ctx)
        warm(ex)
        t0 = time.perf_counter()
        f = ex.submit(die)
        try:
            f.result()
        except cf.process.BrokenProcessPool:
            t.append(time.perf_counter() - t0)
        else:
            raise SystemExit("broken: expected BrokenProcessPool")
        ex.shutdown(wait=True)
    out("broken.%s" % m, median(t) * 1e3, "ms", "%.4f")


def bench_cpu(ctx, m, batches, n, us):
    """cpu: n calls of us microseconds of CPU each, submitted at once, then collected, on a
    warm pool: the wall time over the ideal (pp_bench cpu's figure)."""
    with new_pool(ctx) as ex:
        warm(ex)
        out_cpu(m, us, cpu_batches(ex.submit, RESULT, n, us, batches))


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("workload",
                   choices=["startup", "submit", "map", "roundtrip", "payload", "broken", "cpu"])
    add_options(p)
    a = p.parse_args()
    ctx = multiprocessing.get_context(a.start)
    m = a.start
    print("# cpython_bench %s --start=%s, max_workers=%d, Python %s"
          % (a.workload, m, WORKERS, sys.version.split()[0]), flush=True)
    if a.workload == "startup":
        bench_startup(ctx, m, a.reps or 10)
    elif a.workload == "submit":
        bench_submit(ctx, m, a.reps or 1, a.n or 20000)
    elif a.workload == "map":
        chunks = [int(c) for c in a.chunksize.split(",")]
        bench_map(ctx, m, a.reps or 1, a.n or 200000, chunks)
    elif a.workload == "roundtrip":
        bench_roundtrip(ctx, m, a.n or 2000)
    elif a.workload == "payload":
        bench_payload(ctx, m, a.reps or 3, a.size or 64 * 1024 * 1024, a.inflight, a.warm)
    elif a.workload == "broken":
        bench_broken(ctx, m, a.reps or 10)
    elif a.workload == "cpu":  # --size: microseconds per call (as pp_bench)
        bench_cpu(ctx, m, a.reps or 3, a.n or 2000, a.size or 1000)


if __name__ == "__main__":
    main()
