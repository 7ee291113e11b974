/*
 * The statistics of the benchmark programs (pp_bench, pp_bound), in one place. Both sort v
 * in place. bench/cpython_bench.py computes the same figures (statistics.median, and its
 * percentile()), so that the two sides of a comparison are measured alike.
 */
#ifndef PP_BENCH_STATS_H
#define PP_BENCH_STATS_H

#include <stddef.h>

/* The median of v[0..n), n >= 1: the mean of the two middle values for an even count. */
double bench_median(double *v, size_t n);
/* The nearest-rank percentile p (0 < p <= 100) of v[0..n), n >= 1. */
double bench_percentile(double *v, size_t n, double p);

#endif /* PP_BENCH_STATS_H */
