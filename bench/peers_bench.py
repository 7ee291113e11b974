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
import sys
import time

# The tasks, statistics and timed loops are pybench_common's (shared with cpython_bench.py).
from pybench_common import (WORKERS, add_options, die, echo, map_rates, median, out,
                            out_payload, out_roundtrip, out_submit, payload_buf,
                            payload_label, payload_runs, roundtrip_times, startup_times,
                            submit_runs)


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
    t = startup_times(lambda: P.new(WORKERS), P.submit, P.result, P.close, reps)
    out("startup.%s" % m, median(t) * 1e3, "ms", "%.4f")


def bench_submit(P, m, reps, n):
    pool = P.new(WORKERS)
    warm(P, pool)
    runs = submit_runs(lambda fn, x: P.submit(pool, fn, x), P.result, reps, n)
    P.close(pool)
    out_submit(m, n, runs)


def bench_map(P, m, reps, n, chunks):
    items = list(range(n))
    pool = P.new(WORKERS)
    warm(P, pool)
    for c in chunks:
        rates = map_rates(lambda fn, it: P.pmap(pool, fn, it, c), items, reps)
        out("map.c%d.%s" % (c, m), median(rates), "items/s")
    P.close(pool)


def bench_roundtrip(P, m, n):
    pool = P.new(WORKERS)
    warm(P, pool)
    t = roundtrip_times(lambda fn, x: P.submit(pool, fn, x), P.result, n)
    P.close(pool)
    out_roundtrip(m, t)


def bench_payload(P, m, reps, size, inflight, warm_rounds=0):
    """(e): pybench_common.payload_runs()."""
    buf = payload_buf(size)
    pool = P.new(WORKERS)
    warm(P, pool)
    runs = payload_runs(lambda fn, x: P.submit(pool, fn, x), P.result, buf, size, reps,
                        inflight, warm_rounds)
    P.close(pool)
    out_payload(payload_label(size, inflight, warm_rounds), m, runs)


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
    add_options(p)
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
        bench_payload(P, m, a.reps or 3, a.size or 64 * 1024 * 1024, a.inflight, a.warm)
    elif w == "broken":
        bench_broken(P, m, a.reps or 10, a.hang)
    elif w == "isolate":
        bench_isolate(P, m, a.reps or 20, a.hang)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
