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
import sys
import time

from mpi4py.futures import MPIPoolExecutor

# The tasks, statistics and timed loops are pybench_common's (shared with cpython_bench.py).
from pybench_common import (RESULT, die, echo, median, out, out_payload, out_roundtrip,
                            payload_label, payload_runs, roundtrip_times, submit_runs)


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
            out_roundtrip(tag, roundtrip_times(ex.submit, RESULT, a.n or 2000))
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
            out("map.c%d.%s" % (a.chunksize, tag), median(rates), "items/s")
        elif a.what == "payload":
            buf = bytes((i * 131 + 7) & 0xFF for i in range(256)) * (a.size // 256)
            runs = payload_runs(ex.submit, RESULT, buf, a.size, a.reps, a.inflight, a.warm)
            out_payload(payload_label(a.size, a.inflight, a.warm,
                                      lambda size: "%dMiB" % (size >> 20)), tag, runs)
        elif a.what == "submit":
            rates, cpus, _, _ = submit_runs(ex.submit, RESULT, a.reps, a.n or 20000)
            out("submit.%s" % tag, median(rates), "tasks/s")
            out("cpu_per_task.%s" % tag, median(cpus) * 1e6, "us/task", "%.3f")
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
                out("broken.%s" % tag, ms, "ms", "%.4f")
            else:
                out("isolate.crash_to_result.%s" % tag, ms, "ms", "%.3f")
        else:
            sys.exit("usage: mpi4py_bench.py roundtrip|map|payload|submit|broken|isolate [options]")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
