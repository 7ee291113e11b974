"""What cpython_bench.py, peers_bench.py and mpi4py_bench.py share: the tasks, the
statistics, the output line and the timed loops of the workloads (bench/README.md defines
each figure).

The workers import this module (the tasks live here), so it imports only what they need:
the standard library modules below, nothing else.

The loops take the pool's operations as functions: submit(fn, *args) -> handle and
result(handle) -> value (for concurrent.futures: ex.submit and RESULT).
"""
import operator
import os
import resource
import statistics
import time

WORKERS = 2

# handle -> its value, for the futures of concurrent.futures (and mpi4py.futures)
RESULT = operator.methodcaller("result")


# ---- tasks (run in the workers) ----

def echo(x):
    """Returns its argument: the no-op of (a)-(d) and the echo of (e)."""
    return x


def sink(x):
    """Takes its argument and returns nothing: the "argument only" payload of (e)."""
    return None


def burn(us):
    """Busy for us microseconds of wall time: the CPU-bound task of the cpu workload."""
    end = time.perf_counter() + us * 1e-6
    x = 0
    while time.perf_counter() < end:
        for i in range(100):
            x += i
    return None


def die():
    """Exits the worker in the middle of the task: (f). os._exit, since SystemExit would be
    caught by the worker and sent back as the task's exception."""
    os._exit(3)


# ---- helpers ----

def cpu_batches(submit, result, n, us, batches):
    """The cpu workload's loop: batches rounds of n burn(us) calls submitted at once, then
    collected; each round's wall time over the ideal n * us / min(WORKERS, CPUs)."""
    par = min(WORKERS, os.cpu_count() or 1)
    ideal = n * us * 1e-6 / par
    ratios = []
    for b in range(batches):
        t0 = time.perf_counter()
        fs = [submit(burn, us) for _ in range(n)]
        for f in fs:
            result(f)
        ratios.append((time.perf_counter() - t0) / ideal)
        print("# batch %d: %.3f x ideal" % (b + 1, ratios[-1]), flush=True)
    return ratios


def out_cpu(m, us, ratios):
    """cpu.*: the first batch; cpu_steady.*: the median of the others (as pp_bench)."""
    out("cpu.%dus.w%d.%s" % (us, WORKERS, m), ratios[0], "x ideal", "%.3f")
    if len(ratios) > 1:
        out("cpu_steady.%dus.w%d.%s" % (us, WORKERS, m), median(ratios[1:]), "x ideal",
            "%.3f")


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


def size_label(size):
    if size % (1024 * 1024) == 0:
        return "%dMiB" % (size // (1024 * 1024))
    if size % 1024 == 0:
        return "%dKiB" % (size // 1024)
    return "%dB" % size


def out(name, value, unit, fmt="%.1f"):
    """One figure: "name<TAB>value<TAB>unit"; value None prints NA (no answer)."""
    if value is None:
        print("%s\tNA\t%s" % (name, unit), flush=True)
    else:
        print(("%s\t" + fmt + "\t%s") % (name, value, unit), flush=True)


def payload_buf(size):
    """The argument of (e): size bytes of a fixed pattern."""
    return bytes((i * 131 + 7) & 0xFF for i in range(256)) * (size // 256) + bytes(size % 256)


def payload_label(size, inflight, warm_rounds, label=size_label):
    """The figure's middle part: the size, then ".xN" (inflight) and ".wN" (--warm)."""
    s = label(size) + (".x%d" % inflight if inflight > 1 else "")
    return s + (".w%d" % warm_rounds if warm_rounds > 0 else "")


def add_options(p):
    """The options of cpython_bench.py and peers_bench.py, on the argparse parser p (their
    defaults of 0 stand for each workload's own)."""
    p.add_argument("--start", default="spawn", choices=["spawn", "fork", "forkserver"])
    p.add_argument("--reps", type=int, default=0)
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--chunksize", default="1,100,1000")
    p.add_argument("--size", type=int, default=0)  # payload: 64 MiB; cpu: 1000 us
    p.add_argument("--inflight", type=int, default=1)
    p.add_argument("--warm", type=int, default=0)


# ---- timed loops of the workloads ----

def startup_times(new, submit, result, close, reps):
    """(a) new() until the first no-op result is in hand; close(pool) after the clock
    stops. Seconds, one a repetition."""
    t = []
    for i in range(reps):
        t0 = time.perf_counter()
        pool = new()
        if result(submit(pool, echo, i)) != i:
            raise SystemExit("startup: wrong result")
        t.append(time.perf_counter() - t0)
        close(pool)
    return t


def submit_runs(submit, result, reps, n):
    """(b) and (g): n submits, then n results collected in submission order; a repetition
    gives its rate (tasks/s), the parent's CPU (all its threads) and its CPU in the kernel
    per task (s), and the submit loop's wall time (s). Returns the four lists."""
    rates, cpus, subs, syss = [], [], [], []
    for _ in range(reps):
        (c0, s0), t0 = cpu_s(), time.perf_counter()
        hs = [submit(echo, i) for i in range(n)]
        subs.append(time.perf_counter() - t0)
        for i, h in enumerate(hs):
            if result(h) != i:
                raise SystemExit("submit: wrong result")
        t1, (c1, s1) = time.perf_counter(), cpu_s()
        del hs
        rates.append(n / (t1 - t0))
        cpus.append((c1 - c0) / n)
        syss.append((s1 - s0) / n)
    return rates, cpus, subs, syss


def out_submit(m, n, runs):
    """The figures of submit_runs() for start method (or tag) m."""
    rates, cpus, subs, syss = runs
    out("submit.%s" % m, median(rates), "tasks/s")
    out("cpu_per_task.%s" % m, median(cpus) * 1e6, "us/task", "%.3f")
    print("# of which the submit loop: %.3f us/task (wall)" % (median(subs) / n * 1e6))
    print("# of the parent's CPU, in the kernel: %.3f us/task" % (median(syss) * 1e6))


def map_rates(pmap, items, reps):
    """(c) pmap(echo, items) (a list, consumed to the end) reps times: items/s each."""
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter()
        res = pmap(echo, items)
        t1 = time.perf_counter()
        if res != items:
            raise SystemExit("map: wrong result")
        del res
        rates.append(len(items) / (t1 - t0))
    return rates


def roundtrip_times(submit, result, n):
    """(d) one no-op call at a time, each from submit to its result, after 100 calls that
    settle (not recorded). Seconds, one a call."""
    for i in range(100):
        result(submit(echo, i))
    t = []
    for i in range(n):
        t0 = time.perf_counter()
        r = result(submit(echo, i))
        t.append(time.perf_counter() - t0)
        if r != i:
            raise SystemExit("roundtrip: wrong result")
    return t


def out_roundtrip(m, t):
    out("rtt.median.%s" % m, median(t) * 1e6, "us", "%.2f")
    out("rtt.p99.%s" % m, percentile(t, 99) * 1e6, "us", "%.2f")


def payload_runs(submit, result, buf, size, reps, inflight=1, warm_rounds=0):
    """(e) inflight calls (1: one) with the argument buf (size bytes), submitted at once and
    collected in order: to sink (returns None) and to echo (returns it); the results are
    checked after the clock stops. MB/s = inflight * size / 1e6 / time. With inflight > 1,
    one call per worker of each kind runs first, not timed, then warm_rounds rounds of
    inflight calls, not timed either (--warm N: the steady state). Returns the MB/s of the
    repetitions: (sink's, echo's)."""
    arg, ech = [], []
    # pipelined: first a round of one call per worker, then the --warm rounds, not timed
    first = (-1 if inflight > 1 else 0) - warm_rounds
    for rep in range(first, reps):
        k = WORKERS if rep == first and inflight > 1 else inflight
        for fn, into in ((sink, arg), (echo, ech)):
            t0 = time.perf_counter()
            hs = [submit(fn, buf) for _ in range(k)]
            rs = [result(h) for h in hs]
            t1 = time.perf_counter()
            for r in rs:
                if r != (None if fn is sink else buf):
                    raise SystemExit("payload: wrong result")
            del hs, rs
            if rep >= 0:
                into.append(inflight * size / 1e6 / (t1 - t0))
    return arg, ech


def out_payload(label, m, runs):
    arg, ech = runs
    out("payload.%s.arg.%s" % (label, m), median(arg), "MB/s")
    out("payload.%s.echo.%s" % (label, m), median(ech), "MB/s")
