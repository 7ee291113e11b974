#!/usr/bin/python3
"""mpi4py.futures' side of bench/run --mpi: MPIPoolExecutor on the other ranks of the job.

    mpiexec -n 3 python3 -m mpi4py.futures mpi4py_bench.py WORKLOAD [--n N] [--size BYTES]
                                                             [--reps N] [--chunksize C]

WORKLOAD: roundtrip (one no-op call at a time: median and p99), map (--n 8-byte items,
chunksize --chunksize, consumed in order), payload (a --size bytes argument, "arg" returns
nothing, "echo" returns it; --inflight N calls submitted at once, then collected), submit
(--n no-op calls submitted, then collected: calls/s and the parent's CPU per call), broken
(a call whose worker exits: until the caller learns it) or isolate (the same, then the time
to the next call's result). The same definitions and output as pp_bench's workloads with
--start=mpi: "figure<TAB>value<TAB>unit", figures suffixed ".mpi" (--tag T: ".T", so that
bench/run puts them in the rows of the other peers). mpi4py.futures does not survive a
worker's exit: the job hangs or aborts, and bench/run's timeout gives NA. Run under
`-m mpi4py.futures` (rank 0 runs this file, the other ranks are the pool: its world mode,
mpi4py's counterpart of PP_START_MPI's).
"""
import os
import resource
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def echo(x):
    return x


def sink(x):
    return None


def die():
    os._exit(3)


def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def percentile(values, p):
    v = sorted(values)
    rank = min(max(int((p / 100.0) * len(v) + 0.999999), 1), len(v))
    return v[rank - 1]


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("what")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--size", type=int, default=64 * 1024 * 1024)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--chunksize", type=int, default=1000)
    ap.add_argument("--inflight", type=int, default=1)
    ap.add_argument("--warm", type=int, default=0)
    ap.add_argument("--tag", default="mpi")
    a = ap.parse_args()
    tag = a.tag
    with MPIPoolExecutor() as ex:
        for f in [ex.submit(echo, 0) for _ in range(8)]:  # warm: every worker
            f.result()
        print("# mpi4py.futures %s, %d workers" % (a.what, ex._max_workers or 0))
        if a.what == "roundtrip":
            n = a.n or 2000
            for i in range(100):
                ex.submit(echo, i).result()
            t = []
            for i in range(n):
                t0 = time.perf_counter()
                if ex.submit(echo, i).result() != i:
                    sys.exit("roundtrip: wrong result")
                t.append(time.perf_counter() - t0)
            print("rtt.median.%s\t%.2f\tus" % (tag, median(t) * 1e6))
            print("rtt.p99.%s\t%.2f\tus" % (tag, percentile(t, 99) * 1e6))
        elif a.what == "map":
            n = a.n or 200000
            vals = [i.to_bytes(8, "little") for i in range(n)]
            rates = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                got = 0
                for i, r in enumerate(ex.map(echo, vals, chunksize=a.chunksize)):
                    if r != vals[i]:
                        sys.exit("map: wrong result")
                    got += 1
                rates.append(got / (time.perf_counter() - t0))
            print("map.c%d.%s\t%.1f\titems/s" % (a.chunksize, tag, median(rates)))
        elif a.what == "payload":
            buf = bytes((i * 131 + 7) & 0xFF for i in range(256)) * (a.size // 256)
            k = a.inflight
            arg, back = [], []
            # pipelined: first a round of one call per worker, then the --warm rounds, not timed
            first = (-1 if k > 1 else 0) - a.warm
            for r in range(first, a.reps):
                kr = 2 if r == first and k > 1 else k
                for fn, into in ((sink, arg), (echo, back)):
                    t0 = time.perf_counter()
                    rs = [f.result() for f in [ex.submit(fn, buf) for _ in range(kr)]]
                    if r >= 0:
                        into.append(k * a.size / 1e6 / (time.perf_counter() - t0))
                    if any(r != (None if fn is sink else buf) for r in rs):
                        sys.exit("payload: wrong result")
                    del rs
            label = "%dMiB" % (a.size >> 20) + (".x%d" % k if k > 1 else "")
            label += ".w%d" % a.warm if a.warm > 0 else ""
            print("payload.%s.arg.%s\t%.1f\tMB/s" % (label, tag, median(arg)))
            print("payload.%s.echo.%s\t%.1f\tMB/s" % (label, tag, median(back)))
        elif a.what == "submit":
            n = a.n or 20000
            rates, cpus = [], []
            for _ in range(a.reps):
                c0, t0 = cpu_s(), time.perf_counter()
                fs = [ex.submit(echo, i) for i in range(n)]
                for i, f in enumerate(fs):
                    if f.result() != i:
                        sys.exit("submit: wrong result")
                t1, c1 = time.perf_counter(), cpu_s()
                del fs
                rates.append(n / (t1 - t0))
                cpus.append((c1 - c0) / n)
            print("submit.%s\t%.1f\ttasks/s" % (tag, median(rates)))
            print("cpu_per_task.%s\t%.3f\tus/task" % (tag, median(cpus) * 1e6))
        elif a.what in ("broken", "isolate"):
            sys.stdout.flush()
            t0 = time.perf_counter()
            bad = ex.submit(die)
            good = ex.submit(echo, 1) if a.what == "isolate" else None
            try:
                if good is not None:
                    good.result()
                else:
                    bad.result()
            except Exception as e:
                print("# mpi4py.futures reports %s" % type(e).__name__)
            ms = (time.perf_counter() - t0) * 1e3
            if a.what == "broken":
                print("broken.%s\t%.4f\tms" % (tag, ms))
            else:
                print("isolate.crash_to_result.%s\t%.3f\tms" % (tag, ms))
        else:
            sys.exit("usage: mpi4py_bench.py roundtrip|map|payload|submit|broken|isolate [options]")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
