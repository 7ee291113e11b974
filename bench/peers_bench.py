#!/usr/bin/python3
"""The peers' side of bench/run: multiprocessing.Pool, Pebble and loky, same workloads.

    python3 peers_bench.py IMPL WORKLOAD [--start=spawn|fork|forkserver] [--reps N] [--n N]
                                         [--chunksize C[,C...]] [--size BYTES]
                                         [--inflight N] [--warm N] [--hang SECONDS]

IMPL: pool (multiprocessing.Pool, standard library), pebble (Pebble's ProcessPool, Debian's
python3-pebble) or loky (joblib.externals.loky's ProcessPoolExecutor, Debian's
python3-joblib). WORKLOAD: startup, submit, map, roundtrip, payload, broken, isolate: the
definitions, defaults and output of cpython_bench.py and pp_bench (bench/README.md), one line
"figure<TAB>value<TAB>unit" per figure, '#' lines are comments. A value "NA" means the peer
never answered within --hang seconds (multiprocessing.Pool never resolves a call whose
worker died): bench/run prints NA for it.

Every pool has 2 workers (isolate: 1). Pool and Pebble use
multiprocessing.get_context(START); loky always uses its own start method ("loky": fork +
exec, like spawn) and ignores --start, but names its figures after it so that they land in
the same rows. With spawn every worker re-imports this file: the tasks are module-level
functions and the peers are imported only in main().
"""
import os
import resource
import statistics
import sys
import time

WORKERS = 2


# ---- tasks (run in the workers) ----

def echo(x):
    return x


def sink(x):
    return None


def die():
    os._exit(3)


# ---- helpers ----

def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_stime


median = statistics.median


def percentile(values, p):
    v = sorted(values)
    rank = min(max(int((p / 100.0) * len(v) + 0.999999), 1), len(v))
    return v[rank - 1]


def out(name, value, unit, fmt="%.1f"):
    if value is None:
        print("%s\tNA\t%s" % (name, unit), flush=True)
    else:
        print(("%s\t" + fmt + "\t%s") % (name, value, unit), flush=True)


def size_label(size):
    if size % (1024 * 1024) == 0:
        return "%dMiB" % (size // (1024 * 1024))
    if size % 1024 == 0:
        return "%dKiB" % (size // 1024)
    return "%dB" % size


class Hung(Exception):
    """The peer did not answer within --hang seconds."""


# ---- one interface over the three peers ----
#
# new(workers) -> pool; submit(pool, fn, *args) -> handle; result(handle, timeout) -> value
# (raises Hung on a timeout, the peer's own exception on a failure); pmap(pool, fn, items, c)
# -> list; close(pool); kill(pool): after a hang, without waiting.

class PoolPeer:
    name = "multiprocessing.Pool"

    def __init__(self, ctx):
        import multiprocessing
        self.ctx = ctx
        self.TimeoutError = multiprocessing.TimeoutError

    def new(self, workers):
        return self.ctx.Pool(workers)

    def submit(self, pool, fn, *args):
        return pool.apply_async(fn, args)

    def result(self, h, timeout=None):
        if timeout is None:
            return h.get()
        try:
            return h.get(timeout)
        except self.TimeoutError:
            raise Hung()

    def pmap(self, pool, fn, items, c):
        return pool.map(fn, items, chunksize=c)

    def close(self, pool):
        pool.close()
        pool.join()

    def kill(self, pool):
        pool.terminate()
        pool.join()


class FuturesPeer:
    """Shared by Pebble and loky: their handles are concurrent.futures.Future."""

    def result(self, h, timeout=None):
        import concurrent.futures as cf
        try:
            return h.result(timeout)
        except cf.TimeoutError:
            raise Hung()

    def kill(self, pool):
        self.close(pool)


class PebblePeer(FuturesPeer):
    name = "Pebble"

    def __init__(self, ctx):
        import pebble
        self.pebble = pebble
        self.ctx = ctx
        self.name = "Pebble %s" % getattr(pebble, "__version__", "?")

    def new(self, workers):
        return self.pebble.ProcessPool(max_workers=workers, context=self.ctx)

    def submit(self, pool, fn, *args):
        return pool.schedule(fn, args=args)

    def pmap(self, pool, fn, items, c):
        return list(pool.map(fn, items, chunksize=c).result())

    def close(self, pool):
        pool.close()
        pool.join()

    def kill(self, pool):
        pool.stop()
        pool.join()


class LokyPeer(FuturesPeer):
    name = "loky"

    def __init__(self, ctx):
        from joblib.externals import loky
        self.loky = loky
        self.name = "loky %s (joblib)" % getattr(loky, "__version__", "?")

    def new(self, workers):
        return self.loky.ProcessPoolExecutor(max_workers=workers)

    def submit(self, pool, fn, *args):
        return pool.submit(fn, *args)

    def pmap(self, pool, fn, items, c):
        return list(pool.map(fn, items, chunksize=c))

    def close(self, pool):
        pool.shutdown(wait=True)

    def kill(self, pool):
        pool.shutdown(wait=False, kill_workers=True)


def warm(P, pool, workers=WORKERS):
    for h in [P.submit(pool, echo, 0) for _ in range(2 * workers)]:
        P.result(h)


# ---- workloads (as cpython_bench.py's) ----

def bench_startup(P, m, reps):
    t = []
    for i in range(reps):
        t0 = time.perf_counter()
        pool = P.new(WORKERS)
        if P.result(P.submit(pool, echo, i)) != i:
            raise SystemExit("startup: wrong result")
        t.append(time.perf_counter() - t0)
        P.close(pool)
    out("startup.%s" % m, median(t) * 1e3, "ms", "%.4f")


def bench_submit(P, m, reps, n):
    rates, cpus, subs, syss = [], [], [], []
    pool = P.new(WORKERS)
    warm(P, pool)
    for _ in range(reps):
        (c0, s0), t0 = cpu_s(), time.perf_counter()
        hs = [P.submit(pool, echo, i) for i in range(n)]
        subs.append(time.perf_counter() - t0)
        for i, h in enumerate(hs):
            if P.result(h) != i:
                raise SystemExit("submit: wrong result")
        t1, (c1, s1) = time.perf_counter(), cpu_s()
        del hs
        rates.append(n / (t1 - t0))
        cpus.append((c1 - c0) / n)
        syss.append((s1 - s0) / n)
    P.close(pool)
    out("submit.%s" % m, median(rates), "tasks/s")
    out("cpu_per_task.%s" % m, median(cpus) * 1e6, "us/task", "%.3f")
    print("# of which the submit loop: %.3f us/task (wall)" % (median(subs) / n * 1e6))
    print("# of the parent's CPU, in the kernel: %.3f us/task" % (median(syss) * 1e6))


def bench_map(P, m, reps, n, chunks):
    items = list(range(n))
    pool = P.new(WORKERS)
    warm(P, pool)
    for c in chunks:
        rates = []
        for _ in range(reps):
            t0 = time.perf_counter()
            res = P.pmap(pool, echo, items, c)
            t1 = time.perf_counter()
            if res != items:
                raise SystemExit("map: wrong result")
            del res
            rates.append(n / (t1 - t0))
        out("map.c%d.%s" % (c, m), median(rates), "items/s")
    P.close(pool)


def bench_roundtrip(P, m, n):
    t = []
    pool = P.new(WORKERS)
    warm(P, pool)
    for i in range(100):
        P.result(P.submit(pool, echo, i))
    for i in range(n):
        t0 = time.perf_counter()
        r = P.result(P.submit(pool, echo, i))
        t.append(time.perf_counter() - t0)
        if r != i:
            raise SystemExit("roundtrip: wrong result")
    P.close(pool)
    out("rtt.median.%s" % m, median(t) * 1e6, "us", "%.2f")
    out("rtt.p99.%s" % m, percentile(t, 99) * 1e6, "us", "%.2f")


def bench_payload(P, m, reps, size, inflight, warm_rounds=0):
    """(e): inflight calls with a size-byte argument submitted at once, collected in order;
    the results are checked after the clock stops. MB/s = inflight * size / 1e6 / time.
    With inflight > 1, one call per worker of each kind runs first, not timed, then warm_rounds
    rounds of inflight calls, not timed either (--warm N: the steady state)."""
    buf = bytes((i * 131 + 7) & 0xFF for i in range(256)) * (size // 256) + bytes(size % 256)
    arg, ech = [], []
    pool = P.new(WORKERS)
    warm(P, pool)
    # pipelined: first a round of one call per worker, then the --warm rounds, not timed
    first = (-1 if inflight > 1 else 0) - warm_rounds
    for rep in range(first, reps):
        k = WORKERS if rep == first and inflight > 1 else inflight
        for fn, into in ((sink, arg), (echo, ech)):
            t0 = time.perf_counter()
            hs = [P.submit(pool, fn, buf) for _ in range(k)]
            rs = [P.result(h) for h in hs]
            t1 = time.perf_counter()
            for r in rs:
                if r != (None if fn is sink else buf):
                    raise SystemExit("payload: wrong result")
            del hs, rs
            if rep >= 0:
                into.append(inflight * size / 1e6 / (t1 - t0))
    P.close(pool)
    label = size_label(size) + (".x%d" % inflight if inflight > 1 else "")
    label += ".w%d" % warm_rounds if warm_rounds > 0 else ""
    out("payload.%s.arg.%s" % (label, m), median(arg), "MB/s")
    out("payload.%s.echo.%s" % (label, m), median(ech), "MB/s")


def bench_broken(P, m, reps, hang):
    """(f): on a warm pool, a call whose worker exits, until the caller learns that it
    failed (loky: TerminatedWorkerError, the pool is broken; Pebble: ProcessExpired, the
    pool goes on; Pool: never, NA after --hang seconds)."""
    t = []
    for _ in range(reps):
        pool = P.new(WORKERS)
        warm(P, pool)
        t0 = time.perf_counter()
        h = P.submit(pool, die)
        try:
            P.result(h, hang)
        except Hung:
            print("# %s: the call whose worker died had no outcome after %g s"
                  % (P.name, hang))
            P.kill(pool)
            out("broken.%s" % m, None, "ms")
            return
        except Exception as e:  # the peer's own error: what we wait for
            t.append(time.perf_counter() - t0)
            err = type(e).__name__
        else:
            raise SystemExit("broken: the call whose worker died returned")
        P.kill(pool)
    print("# %s reports %s" % (P.name, err))
    out("broken.%s" % m, median(t) * 1e3, "ms", "%.4f")


def bench_isolate(P, m, reps, hang):
    """The time from a call that kills its worker to the result of the next call, which a
    new worker runs; one worker. Pebble: ProcessExpired, the pool replaces the worker. Pool:
    replaces the worker, but the crashed call never resolves (said in a comment). loky: the
    crash breaks the executor (the next call fails too); get_reusable_executor() then
    returns a new one, on which the call is submitted again: loky's (and joblib's)
    recovery."""
    loky = isinstance(P, LokyPeer)
    if loky:
        get = P.loky.get_reusable_executor
        pool = get(max_workers=1)
    else:
        pool = P.new(1)
    warm(P, pool, 1)
    t, lost = [], 0
    for r in range(reps):
        t0 = time.perf_counter()
        bad = P.submit(pool, die)
        good = P.submit(pool, echo, r)
        while True:
            try:
                v = P.result(good, hang)
                break
            except Hung:
                print("# %s: no result after a crash within %g s" % (P.name, hang))
                P.kill(pool)
                out("isolate.crash_to_result.%s" % m, None, "ms")
                return
            except Exception:
                if not loky:
                    raise
                pool = get(max_workers=1)  # the broken one is replaced
                good = P.submit(pool, echo, r)
        if v != r:
            raise SystemExit("isolate: wrong result")
        t.append(time.perf_counter() - t0)
        try:
            P.result(bad, 0 if isinstance(P, PoolPeer) else hang)
            raise SystemExit("isolate: the crashing call returned")
        except Hung:
            lost += 1
        except SystemExit:
            raise
        except Exception:
            pass
    if lost:
        print("# %s: %d of %d crashed calls never resolved (lost)" % (P.name, lost, reps))
    if loky:
        pool.shutdown(wait=True)
    elif lost:
        P.kill(pool)  # Pool.join() would wait for the lost calls forever
    else:
        P.close(pool)
    out("isolate.crash_to_result.%s" % m, median(t) * 1e3, "ms", "%.3f")


def main():
    import argparse
    import multiprocessing
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("impl", choices=["pool", "pebble", "loky"])
    p.add_argument("workload", choices=["startup", "submit", "map", "roundtrip", "payload",
                                        "broken", "isolate"])
    p.add_argument("--start", default="spawn", choices=["spawn", "fork", "forkserver"])
    p.add_argument("--reps", type=int, default=0)
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--chunksize", default="1,100,1000")
    p.add_argument("--size", type=int, default=64 * 1024 * 1024)
    p.add_argument("--inflight", type=int, default=1)
    p.add_argument("--warm", type=int, default=0)
    p.add_argument("--hang", type=float, default=5.0,
                   help="seconds to wait for the outcome of a crashed call")
    a = p.parse_args()
    ctx = multiprocessing.get_context(a.start)
    P = {"pool": PoolPeer, "pebble": PebblePeer, "loky": LokyPeer}[a.impl](ctx)
    m = a.start
    print("# peers_bench %s %s --start=%s%s, Python %s"
          % (P.name, a.workload, m, " (loky's own start method)" if a.impl == "loky" else "",
             sys.version.split()[0]), flush=True)
    w = a.workload
    if w == "startup":
        bench_startup(P, m, a.reps or 10)
    elif w == "submit":
        bench_submit(P, m, a.reps or 1, a.n or 20000)
    elif w == "map":
        bench_map(P, m, a.reps or 1, a.n or 200000, [int(c) for c in a.chunksize.split(",")])
    elif w == "roundtrip":
        bench_roundtrip(P, m, a.n or 2000)
    elif w == "payload":
        bench_payload(P, m, a.reps or 3, a.size, a.inflight, a.warm)
    elif w == "broken":
        bench_broken(P, m, a.reps or 10, a.hang)
    elif w == "isolate":
        bench_isolate(P, m, a.reps or 20, a.hang)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
