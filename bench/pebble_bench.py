#!/usr/bin/python3
"""bench/pebble_bench.py: Pebble's side of pp_bench's 'isolate' figure.

    python3 bench/pebble_bench.py [--reps N]

Pebble 5 (Debian's python3-pebble) ProcessPool(max_workers=1): a call whose worker exits
(os._exit(3): Pebble reports ProcessExpired and starts another worker) and then an echo;
the time from the first schedule() to the echo's result, median of --reps, printed as
"isolate.crash_to_result.pebble<TAB>ms<TAB>ms" like pp_bench's line.
"""
import argparse
import os
import statistics
import time

import pebble


def die():
    os._exit(3)


def echo(x):
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=20)
    a = ap.parse_args()
    times = []
    with pebble.ProcessPool(max_workers=1) as pool:
        pool.schedule(echo, args=(0,)).result()  # warm: the worker exists
        for r in range(a.reps):
            t0 = time.perf_counter()
            bad = pool.schedule(die)
            good = pool.schedule(echo, args=(r,))
            assert good.result() == r
            times.append(time.perf_counter() - t0)
            try:
                bad.result()
                raise SystemExit("pebble_bench: the crashing call did not fail")
            except pebble.ProcessExpired:
                pass
    print("isolate.crash_to_result.pebble\t%.3f\tms" % (statistics.median(times) * 1e3))


if __name__ == "__main__":
    main()
