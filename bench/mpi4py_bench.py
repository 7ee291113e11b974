#!/usr/bin/python3
"""mpi4py.futures' side of bench/run --mpi: MPIPoolExecutor on the other ranks of the job.

    mpiexec -n 3 python3 -m mpi4py.futures mpi4py_bench.py WORKLOAD [--n N] [--size BYTES]
                                                             [--reps N] [--chunksize C]

WORKLOAD: roundtrip (one no-op call at a time: median and p99), map (--n 8-byte items,
chunksize --chunksize, consumed in order) or payload (a --size bytes argument, "arg" returns
nothing, "echo" returns it). The same definitions and output as pp_bench's workloads with
--start=mpi: "figure<TAB>value<TAB>unit", figures suffixed ".mpi". Run under
`-m mpi4py.futures` (rank 0 runs this file, the other ranks are the pool: its world mode,
mpi4py's counterpart of PP_START_MPI's).
"""
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def echo(x):
    return x


def sink(x):
    return None


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
    a = ap.parse_args()
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
            print("rtt.median.mpi\t%.2f\tus" % (median(t) * 1e6))
            print("rtt.p99.mpi\t%.2f\tus" % (percentile(t, 99) * 1e6))
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
            print("map.c%d.mpi\t%.1f\titems/s" % (a.chunksize, median(rates)))
        elif a.what == "payload":
            buf = bytes((i * 131 + 7) & 0xFF for i in range(256)) * (a.size // 256)
            arg, back = [], []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                if ex.submit(sink, buf).result() is not None:
                    sys.exit("payload: wrong result")
                arg.append(a.size / 1e6 / (time.perf_counter() - t0))
                t0 = time.perf_counter()
                if ex.submit(echo, buf).result() != buf:
                    sys.exit("payload: wrong echo")
                back.append(a.size / 1e6 / (time.perf_counter() - t0))
            label = "%dMiB" % (a.size >> 20)
            print("payload.%s.arg.mpi\t%.1f\tMB/s" % (label, median(arg)))
            print("payload.%s.echo.mpi\t%.1f\tMB/s" % (label, median(back)))
        else:
            sys.exit("usage: mpi4py_bench.py roundtrip|map|payload [options]")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
