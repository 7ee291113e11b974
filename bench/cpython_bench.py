#!/usr/bin/python3
"""CPython's side of the benchmark suite: concurrent.futures.ProcessPoolExecutor.

    python3 cpython_bench.py WORKLOAD [--start=spawn|fork|forkserver] [--reps N] [--n N]
                                      [--chunksize C[,C...]] [--size BYTES] [--inflight N] [--warm N]

The same workloads, defaults and output as pp_bench (bench/README.md describes each
figure): one line per figure, "figure<TAB>value<TAB>unit"; lines starting with '#' are
comments. Every pool has max_workers=2 and mp_context=multiprocessing.get_context(START).
Standard library only.

With the spawn start method every worker re-imports this file as its main module: the tasks
are module-level functions and everything else runs only under `if __name__ == '__main__'`.
"""
import concurrent.futures as cf
import multiprocessing
import os
import resource
import statistics
import sys
import time

# Only what the workers need is imported at module level: a spawned worker re-imports this
# file, and its imports count in the start-up figure. argparse is imported in main().

WORKERS = 2


# ---- tasks (run in the workers) ----

def echo(x):
    """Returns its argument: the no-op of (a)-(d) and the echo of (e)."""
    return x


def sink(x):
    """Takes its argument and returns nothing: the "argument only" payload of (e)."""
    return None


def die():
    """Exits the worker in the middle of the task: (f). os._exit, since SystemExit would be
    caught by the worker and sent back as the task's exception."""
    os._exit(3)


# ---- helpers ----

def cpu_s():
    """The parent's CPU time so far (all threads): (user + system, system)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_stime


# The median is statistics.median (the mean of the two middle values for an even count), as
# bench/stats.c and bench/run compute it.
median = statistics.median


def percentile(values, p):
    """Nearest-rank percentile, as bench/stats.c computes it."""
    v = sorted(values)
    rank = int((p / 100.0) * len(v) + 0.999999)
    rank = min(max(rank, 1), len(v))
    return v[rank - 1]


def new_pool(ctx):
    return cf.ProcessPoolExecutor(max_workers=WORKERS, mp_context=ctx)


def warm(ex):
    """Starts both workers (not timed): four no-op calls in flight at once."""
    fs = [ex.submit(echo, 0) for _ in range(2 * WORKERS)]
    for f in fs:
        f.result()


def size_label(size):
    if size % (1024 * 1024) == 0:
        return "%dMiB" % (size // (1024 * 1024))
    if size % 1024 == 0:
        return "%dKiB" % (size // 1024)
    return "%dB" % size


def out(name, value, unit, fmt="%.1f"):
    print(("%s\t" + fmt + "\t%s") % (name, value, unit), flush=True)


# ---- workloads ----

def bench_startup(ctx, m, reps):
    """(a) ProcessPoolExecutor() until the first no-op result is in hand; the pool is shut
    down after the clock stops."""
    t = []
    for i in range(reps):
        t0 = time.perf_counter()
        ex = new_pool(ctx)
        if ex.submit(echo, i).result() != i:
            raise SystemExit("startup: wrong result")
        t.append(time.perf_counter() - t0)
        ex.shutdown(wait=True)
    out("startup.%s" % m, median(t) * 1e3, "ms", "%.4f")


def bench_submit(ctx, m, reps, n):
    """(b) and (g): n submits, then n results collected in submission order, on a warm
    pool; wall time and the parent's CPU time (all its threads)."""
    rates, cpus, subs, syss = [], [], [], []
    with new_pool(ctx) as ex:
        warm(ex)
        for _ in range(reps):
            (c0, s0), t0 = cpu_s(), time.perf_counter()
            fs = [ex.submit(echo, i) for i in range(n)]
            subs.append(time.perf_counter() - t0)
            for i, f in enumerate(fs):
                if f.result() != i:
                    raise SystemExit("submit: wrong result")
            t1, (c1, s1) = time.perf_counter(), cpu_s()
            del fs
            rates.append(n / (t1 - t0))
            cpus.append((c1 - c0) / n)
            syss.append((s1 - s0) / n)
    out("submit.%s" % m, median(rates), "tasks/s")
    out("cpu_per_task.%s" % m, median(cpus) * 1e6, "us/task", "%.3f")
    print("# of which the submit loop: %.3f us/task (wall)" % (median(subs) / n * 1e6))
    print("# of the parent's CPU, in the kernel: %.3f us/task" % (median(syss) * 1e6))


def bench_map(ctx, m, reps, n, chunks):
    """(c) executor.map over n small ints with the given chunksize, consumed to the end, on
    a warm pool."""
    items = list(range(n))
    with new_pool(ctx) as ex:
        warm(ex)
        for c in chunks:
            rates = []
            for _ in range(reps):
                t0 = time.perf_counter()
                res = list(ex.map(echo, items, chunksize=c))
                t1 = time.perf_counter()
                if res != items:
                    raise SystemExit("map: wrong result")
                del res
                rates.append(n / (t1 - t0))
            out("map.c%d.%s" % (c, m), median(rates), "items/s")


def bench_roundtrip(ctx, m, n):
    """(d) one no-op call at a time on a warm pool, each from submit to its result."""
    t = []
    with new_pool(ctx) as ex:
        warm(ex)
        for i in range(100):  # settle: not recorded
            ex.submit(echo, i).result()
        for i in range(n):
            t0 = time.perf_counter()
            r = ex.submit(echo, i).result()
            t.append(time.perf_counter() - t0)
            if r != i:
                raise SystemExit("roundtrip: wrong result")
    out("rtt.median.%s" % m, median(t) * 1e6, "us", "%.2f")
    out("rtt.p99.%s" % m, percentile(t, 99) * 1e6, "us", "%.2f")


def bench_payload(ctx, m, reps, size, inflight=1, warm_rounds=0):
    """(e) inflight calls (1: one) with a size-byte bytes argument, submitted at once and
    collected in order, on a warm pool: to sink (returns None) and to echo (returns it); the
    results are checked after the clock stops. MB/s = inflight * size / 1e6 / time. With
    inflight > 1, one call per worker of each kind runs first, not timed, then warm_rounds
    rounds of inflight calls, not timed either (--warm N: the steady state)."""
    buf = bytes((i * 131 + 7) & 0xFF for i in range(256)) * (size // 256) + bytes(size % 256)
    arg, ech = [], []
    with new_pool(ctx) as ex:
        warm(ex)
        # pipelined: first a round of one call per worker, then the --warm rounds, not timed
        first = (-1 if inflight > 1 else 0) - warm_rounds
        for rep in range(first, reps):
            k = WORKERS if rep == first and inflight > 1 else inflight
            for fn, into in ((sink, arg), (echo, ech)):
                t0 = time.perf_counter()
                rs = [f.result() for f in [ex.submit(fn, buf) for _ in range(k)]]
                t1 = time.perf_counter()
                for r in rs:
                    if r != (None if fn is sink else buf):
                        raise SystemExit("payload: wrong result")
                del rs
                if rep >= 0:
                    into.append(inflight * size / 1e6 / (t1 - t0))
    label = size_label(size) + (".x%d" % inflight if inflight > 1 else "")
    label += ".w%d" % warm_rounds if warm_rounds > 0 else ""
    out("payload.%s.arg.%s" % (label, m), median(arg), "MB/s")
    out("payload.%s.echo.%s" % (label, m), median(ech), "MB/s")


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


def main():
    import argparse
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("workload",
                   choices=["startup", "submit", "map", "roundtrip", "payload", "broken"])
    p.add_argument("--start", default="spawn", choices=["spawn", "fork", "forkserver"])
    p.add_argument("--reps", type=int, default=0)
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--chunksize", default="1,100,1000")
    p.add_argument("--size", type=int, default=64 * 1024 * 1024)
    p.add_argument("--inflight", type=int, default=1)
    p.add_argument("--warm", type=int, default=0)
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
        bench_payload(ctx, m, a.reps or 3, a.size, a.inflight, a.warm)
    elif a.workload == "broken":
        bench_broken(ctx, m, a.reps or 10)


if __name__ == "__main__":
    main()
