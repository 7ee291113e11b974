/*
 * pp_bench: procpool's side of the benchmark suite (bench/README.md describes each figure).
 *
 *     pp_bench WORKLOAD [--start=spawn|fork|forkserver] [--reps N] [--n N] [--workers N]
 *                       [--chunksize C[,C...]] [--size BYTES] [--inflight N]
 *
 * WORKLOAD is startup, submit, map, roundtrip, payload, broken, cpu, flow or isolate
 * (flow: --n calls submitted and released at once, fire and forget, with max_pending
 * --size (0: unlimited): the parent's peak resident set; isolate: PP_CRASH_ISOLATE, the time
 * from submitting a call that crashes its worker to the result of the next call, which a
 * replacement worker runs). Every pool has
 * max_workers = 2 (--workers N changes it; bench/run never does). Each figure is printed as
 * one line, "figure<TAB>value<TAB>unit", the same format as cpython_bench.py and pp_bound;
 * lines starting with '#' are comments. The value is the median over --reps repetitions
 * where a workload repeats inside one run.
 *
 * Only the public API is used, as an application would use it. The program is its own
 * worker: it registers its tasks and calls pp_worker_main() first thing in main().
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#endif

#include "procpool.h"
#include "stats.h"
#ifdef PP_BENCH_MPI
#  include "procpool_mpi.h"
#endif

#define WORKERS 2

/* ---- tasks (run in the workers) ---- */

/* Returns its argument: the no-op of (a)-(d) and the echo of (e). */
static int task_echo(pp_task_ctx *ctx, const void *arg, size_t len)
{
    return pp_task_return(ctx, arg, len) == PP_OK ? 0 : 1;
}

/* Takes its argument and returns nothing: the "argument only" payload of (e). */
static int task_sink(pp_task_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    return 0;
}

/* Exits the worker in the middle of the task: (f). */
static int task_die(pp_task_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    (void)arg;
    (void)len;
    exit(3);
}

/* ---- helpers ---- */

#ifdef _WIN32
static double now_s(void)
{
    LARGE_INTEGER c, f;
    QueryPerformanceCounter(&c);
    QueryPerformanceFrequency(&f);
    return (double)c.QuadPart / (double)f.QuadPart;
}

/* The parent's CPU time so far (every thread), user + system; *sys_s gets the system part. */
static double cpu_s(double *sys_s)
{
    FILETIME c, e, k, u;
    GetProcessTimes(GetCurrentProcess(), &c, &e, &k, &u);
    double ks = (double)(((unsigned long long)k.dwHighDateTime << 32) | k.dwLowDateTime) * 1e-7;
    double us = (double)(((unsigned long long)u.dwHighDateTime << 32) | u.dwLowDateTime) * 1e-7;
    *sys_s = ks;
    return ks + us;
}

/* The parent's page faults and context switches so far (not counted here: -1). */
static void counts(double *faults, double *switches)
{
    *faults = *switches = -1;
}
#else
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The parent's CPU time so far (every thread), user + system; *sys_s gets the system part. */
static double cpu_s(double *sys_s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* The parent's page faults (minor and major) and context switches (each wait that slept,
 * each preemption) so far, every thread. */
static void counts(double *faults, double *switches)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *faults = (double)ru.ru_minflt + (double)ru.ru_majflt;
    *switches = (double)ru.ru_nvcsw + (double)ru.ru_nivcsw;
}
#endif

/* Busy for the number of microseconds its 8-byte argument says: a CPU-bound task. */
static int task_burn(pp_task_ctx *ctx, const void *arg, size_t len)
{
    uint64_t us = 0;
    if (len == sizeof us)
        memcpy(&us, arg, sizeof us);
    double end = now_s() + (double)us * 1e-6;
    volatile uint64_t x = 0;
    while (now_s() < end)
        for (int i = 0; i < 100; i++)
            x += (uint64_t)i;
    (void)x; /* (clang: "set but not used", volatile or not) */
    (void)ctx;
    return 0;
}

static void die_st(const char *what, pp_status st)
{
    fprintf(stderr, "pp_bench: %s: %s\n", what, pp_status_str(st));
    exit(2);
}

static void die_msg(const char *what)
{
    fprintf(stderr, "pp_bench: %s\n", what);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die_msg("out of memory");
    return p;
}

static pp_start_method g_method = PP_START_SPAWN;
static const char *g_method_name = "spawn";

static int g_workers = WORKERS;

static pp_executor *new_pool(void)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.max_workers = g_workers;
    o.start_method = g_method;
    pp_executor *ex;
    pp_status st = pp_executor_create(&o, &ex);
    if (st != PP_OK)
        die_st("pp_executor_create", st);
    return ex;
}

/* One no-op call, waited for; checks the echoed value. */
static void noop(pp_executor *ex, uint64_t x)
{
    pp_future *f;
    pp_status st = pp_submit(ex, "echo", &x, sizeof x, &f);
    if (st != PP_OK)
        die_st("pp_submit", st);
    pp_buf r;
    st = pp_future_result(f, PP_FOREVER, &r);
    if (st != PP_OK)
        die_st("pp_future_result", st);
    if (r.len != sizeof x || memcmp(r.data, &x, sizeof x) != 0)
        die_msg("no-op: wrong result");
    pp_future_release(f);
}

/* Starts both workers (not timed): two no-op calls in flight at once make the pool start a
 * second worker, since the first one is busy. Waits for both. */
static void warm(pp_executor *ex)
{
    pp_future *f[2 * WORKERS];
    uint64_t x = 0;
    for (size_t i = 0; i < 2 * WORKERS; i++) {
        pp_status st = pp_submit(ex, "echo", &x, sizeof x, &f[i]);
        if (st != PP_OK)
            die_st("pp_submit (warm-up)", st);
    }
    for (size_t i = 0; i < 2 * WORKERS; i++) {
        pp_status st = pp_future_result(f[i], PP_FOREVER, NULL);
        if (st != PP_OK)
            die_st("pp_future_result (warm-up)", st);
        pp_future_release(f[i]);
    }
}

/* ---- workloads ---- */

/* (a) pp_executor_create until the first no-op result is in hand; the pool is destroyed
 * after the clock stops. */
static void bench_startup(int reps)
{
    double *t = xmalloc((size_t)reps * sizeof *t);
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();
        pp_executor *ex = new_pool();
        noop(ex, (uint64_t)i);
        t[i] = now_s() - t0;
        pp_executor_destroy(ex);
    }
    printf("startup.%s\t%.4f\tms\n", g_method_name, bench_median(t, (size_t)reps) * 1e3);
    free(t);
}

/* (b) and (g): n submits of an 8-byte argument, then n results collected in submission
 * order, on a warm pool. Wall time and the parent's CPU time (every thread: the caller and
 * the manager) from before the first submit to after the last result. */
static void bench_submit(int reps, size_t n)
{
    double *rate = xmalloc((size_t)reps * sizeof *rate);
    double *cpu = xmalloc((size_t)reps * sizeof *cpu);
    double *sub = xmalloc((size_t)reps * sizeof *sub);
    double *sys = xmalloc((size_t)reps * sizeof *sys);
    pp_future **fs = xmalloc(n * sizeof *fs);
    pp_executor *ex = new_pool();
    warm(ex);
    for (int r = 0; r < reps; r++) {
        double s0, s1;
        double c0 = cpu_s(&s0), t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            uint64_t x = i;
            pp_status st = pp_submit(ex, "echo", &x, sizeof x, &fs[i]);
            if (st != PP_OK)
                die_st("pp_submit", st);
        }
        sub[r] = now_s() - t0;
        for (size_t i = 0; i < n; i++) {
            pp_buf b;
            uint64_t x = i;
            pp_status st = pp_future_result(fs[i], PP_FOREVER, &b);
            if (st != PP_OK)
                die_st("pp_future_result", st);
            if (b.len != sizeof x || memcmp(b.data, &x, sizeof x) != 0)
                die_msg("submit: wrong result");
            pp_future_release(fs[i]);
        }
        double t1 = now_s(), c1 = cpu_s(&s1);
        rate[r] = (double)n / (t1 - t0);
        cpu[r] = (c1 - c0) / (double)n;
        sys[r] = (s1 - s0) / (double)n;
    }
    pp_executor_destroy(ex);
    printf("submit.%s\t%.1f\ttasks/s\n", g_method_name, bench_median(rate, (size_t)reps));
    printf("cpu_per_task.%s\t%.3f\tus/task\n", g_method_name,
           bench_median(cpu, (size_t)reps) * 1e6);
    printf("# of which the submit loop: %.3f us/task (wall)\n",
           bench_median(sub, (size_t)reps) / (double)n * 1e6);
    printf("# of the parent's CPU, in the kernel: %.3f us/task\n",
           bench_median(sys, (size_t)reps) * 1e6);
    free(sys);
    free(sub);
    free(fs);
    free(cpu);
    free(rate);
}

/* (c) pp_map over n 8-byte items with the given chunksize, consumed to the end, on a warm
 * pool: from the pp_map call to the last pp_map_next result. */
static void bench_map(int reps, size_t n, const size_t *chunks, size_t n_chunks)
{
    uint64_t *vals = xmalloc(n * sizeof *vals);
    pp_buf *args = xmalloc(n * sizeof *args);
    for (size_t i = 0; i < n; i++) {
        vals[i] = i;
        args[i] = (pp_buf){&vals[i], sizeof vals[i]};
    }
    double *rate = xmalloc((size_t)reps * sizeof *rate);
    pp_executor *ex = new_pool();
    warm(ex);
    for (size_t c = 0; c < n_chunks; c++) {
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            pp_map_iter *it;
            pp_status st = pp_map(ex, "echo", args, n, chunks[c], PP_FOREVER, &it);
            if (st != PP_OK)
                die_st("pp_map", st);
            for (size_t i = 0; i < n; i++) {
                pp_buf b;
                const pp_error *err;
                st = pp_map_next(it, &b, &err);
                if (st != PP_OK)
                    die_st("pp_map_next", st);
                if (b.len != sizeof vals[i] || memcmp(b.data, &vals[i], sizeof vals[i]) != 0)
                    die_msg("map: wrong result");
            }
            if (pp_map_next(it, NULL, NULL) != PP_END)
                die_msg("map: more results than items");
            double t1 = now_s();
            pp_map_free(it);
            rate[r] = (double)n / (t1 - t0);
        }
        printf("map.c%zu.%s\t%.1f\titems/s\n", chunks[c], g_method_name,
               bench_median(rate, (size_t)reps));
    }
    pp_executor_destroy(ex);
    free(rate);
    free(args);
    free(vals);
}

/* (d) one no-op call at a time on a warm pool, each timed from pp_submit to its result. */
static void bench_roundtrip(size_t n)
{
    double *t = xmalloc(n * sizeof *t);
    pp_executor *ex = new_pool();
    warm(ex);
    for (size_t i = 0; i < 100; i++) /* settle: not recorded */
        noop(ex, i);
    for (size_t i = 0; i < n; i++) {
        double t0 = now_s();
        noop(ex, i);
        t[i] = now_s() - t0;
    }
    pp_executor_destroy(ex);
    printf("rtt.median.%s\t%.2f\tus\n", g_method_name, bench_median(t, n) * 1e6);
    printf("rtt.p99.%s\t%.2f\tus\n", g_method_name, bench_percentile(t, n, 99) * 1e6);
    free(t);
}

static void size_label(size_t size, char *buf, size_t cap)
{
    if (size % (1024 * 1024) == 0)
        snprintf(buf, cap, "%zuMiB", size / (1024 * 1024));
    else if (size % 1024 == 0)
        snprintf(buf, cap, "%zuKiB", size / 1024);
    else
        snprintf(buf, cap, "%zuB", size);
}

/* PP_BENCH_ROUNDS: the CPU time (seconds) this process and its children (the workers) have
 * run so far, from /proc/.../schedstat (ns): a measure of the work of a round that the
 * load of the machine does not change as much as the wall time. -1: not on this system. */
#ifdef __linux__
/* Calls visit(path, arg) with "/proc/PID/task/TID" of every thread of process pid ("self"
 * or a number). */
static void each_thread(const char *pid, void (*visit)(const char *path, void *arg), void *arg)
{
    char path[512];
    snprintf(path, sizeof path, "/proc/%s/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%s/task/%s", pid, e->d_name);
        visit(path, arg);
    }
    closedir(d);
}

static void add_run_time(const char *thread, void *sum)
{
    char path[600];
    snprintf(path, sizeof path, "%s/schedstat", thread);
    FILE *f = fopen(path, "r");
    unsigned long long ns = 0;
    if (f && fscanf(f, "%llu", &ns) == 1)
        *(double *)sum += (double)ns / 1e9;
    if (f)
        fclose(f);
}

/* The run time of every thread of process pid, in seconds. */
static double threads_cpu_s(const char *pid)
{
    double sum = 0;
    each_thread(pid, add_run_time, &sum);
    return sum;
}

/* The page faults (minor and major) of process pid so far, from /proc/PID/stat. */
static double proc_faults(const char *pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(line, 1, sizeof line - 1, f) : 0;
    if (f)
        fclose(f);
    line[got] = '\0';
    /* after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * (the command may hold spaces and parentheses: after its last ')') */
    const char *after = strrchr(line, ')');
    unsigned long long minflt, majflt;
    if (after && sscanf(after + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minflt,
                        &majflt) == 2)
        return (double)minflt + (double)majflt;
    return 0;
}

typedef struct children_sum {
    double (*of)(const char *pid);
    double sum;
} children_sum;

static void add_children(const char *thread, void *arg)
{
    children_sum *c = arg;
    char path[600];
    snprintf(path, sizeof path, "%s/children", thread);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char child[32];
    while (fscanf(f, "%31s", child) == 1)
        c->sum += c->of(child);
    fclose(f);
}

/* The sum of of(child) over the children of every thread of this process (the workers). */
static double sum_children(double (*of)(const char *pid))
{
    children_sum c = {of, 0};
    each_thread("self", add_children, &c);
    return c.sum;
}
#endif

/* The page faults of the workers (every child of this process) so far; -1 where there is no
 * /proc. */
static double children_faults(void)
{
#ifdef __linux__
    return sum_children(proc_faults);
#else
    return -1;
#endif
}

/* This process's run time and its children's, in seconds; -1 where there is no /proc. */
static double tree_cpu_s(void)
{
#ifdef __linux__
    return threads_cpu_s("self") + sum_children(threads_cpu_s);
#else
    return -1;
#endif
}

/* (e) one call with a size-byte argument, from pp_submit to its result, on a warm pool:
 * "arg" to a task that returns nothing, "echo" to one that returns the argument. MB/s is
 * the payload size (10^6 bytes) over that time, for both. With inflight > 1 ("pipelined",
 * figures named ...x8...): inflight calls are submitted at once, then their results are
 * collected in submission order; the clock stops at the last result, the results are
 * checked after it; MB/s = inflight * size / 10^6 / that time. One call per worker of each
 * kind runs first, not timed (the single-call figures' median of 3 leaves out the first,
 * cold call too); then warm_rounds rounds of inflight calls, not timed either (--warm N:
 * the steady state of a pool at work, every segment's pages already touched by every
 * process; bench/run leaves it at 0, its figure includes the first touch of new
 * segments). */
static void bench_payload(int reps, size_t size, size_t inflight, int warm_rounds)
{
    unsigned char *buf = xmalloc(size);
    for (size_t i = 0; i < size; i++)
        buf[i] = (unsigned char)(i * 131u + 7u);
    double *arg = xmalloc((size_t)reps * sizeof *arg);
    double *echo = xmalloc((size_t)reps * sizeof *echo);
    pp_future **fs = xmalloc(inflight * sizeof *fs);
    pp_buf *bs = xmalloc(inflight * sizeof *bs);
    pp_executor *ex = new_pool();
    warm(ex);
    /* pipelined: first a round of one call per worker, not timed; then the --warm rounds */
    int first = (inflight > 1 ? -1 : 0) - warm_rounds;
    for (int r = first; r < reps; r++) {
        size_t k = inflight > 1 && r == first && inflight >= (size_t)g_workers
                       ? (size_t)g_workers
                       : inflight;
        for (int mode = 0; mode < 2; mode++) {
            double c0 = getenv("PP_BENCH_ROUNDS") ? tree_cpu_s() : 0;
            double t0 = now_s();
            for (size_t i = 0; i < k; i++) {
                pp_status st = pp_submit(ex, mode ? "echo" : "sink", buf, size, &fs[i]);
                if (st != PP_OK)
                    die_st("pp_submit", st);
            }
            for (size_t i = 0; i < k; i++) {
                pp_status st = pp_future_result(fs[i], PP_FOREVER, &bs[i]);
                if (st != PP_OK)
                    die_st("pp_future_result", st);
            }
            double t1 = now_s();
            double c1 = getenv("PP_BENCH_ROUNDS") ? tree_cpu_s() : 0;
            for (size_t i = 0; i < k; i++) {
                if (mode ? (bs[i].len != size || memcmp(bs[i].data, buf, size) != 0)
                         : bs[i].len != 0)
                    die_msg("payload: wrong result");
                pp_future_release(fs[i]);
            }
            if (r >= 0)
                (mode ? echo : arg)[r] = (double)inflight * (double)size / 1e6 / (t1 - t0);
            if (getenv("PP_BENCH_ROUNDS")) /* every round, the untimed first one included */
                fprintf(stderr, "# round %d %s: %zu calls, %.1f ms, %.1f MB/s, cpu %.1f ms\n", r,
                        mode ? "echo" : "arg", k, (t1 - t0) * 1e3,
                        (double)k * (double)size / 1e6 / (t1 - t0), (c1 - c0) * 1e3);
        }
    }
    pp_executor_destroy(ex);
    char label[48];
    size_label(size, label, sizeof label);
    if (inflight > 1) {
        size_t l = strlen(label);
        snprintf(label + l, sizeof label - l, ".x%zu", inflight);
    }
    if (warm_rounds > 0) { /* the steady state is another figure than the first round */
        size_t l = strlen(label);
        snprintf(label + l, sizeof label - l, ".w%d", warm_rounds);
    }
    printf("payload.%s.arg.%s\t%.1f\tMB/s\n", label, g_method_name,
           bench_median(arg, (size_t)reps));
    printf("payload.%s.echo.%s\t%.1f\tMB/s\n", label, g_method_name,
           bench_median(echo, (size_t)reps));
    free(bs);
    free(fs);
    free(echo);
    free(arg);
    free(buf);
}

/* (f) on a warm pool, pp_submit of a task that calls exit() until pp_future_result returns
 * PP_EBROKEN; one new pool per repetition, destroyed after the clock stops. */
static void bench_broken(int reps)
{
    double *t = xmalloc((size_t)reps * sizeof *t);
    for (int r = 0; r < reps; r++) {
        pp_executor *ex = new_pool();
        warm(ex);
        pp_future *f;
        double t0 = now_s();
        pp_status st = pp_submit(ex, "die", NULL, 0, &f);
        if (st != PP_OK)
            die_st("pp_submit", st);
        st = pp_future_result(f, PP_FOREVER, NULL);
        t[r] = now_s() - t0;
        if (st != PP_EBROKEN)
            die_st("broken: expected PP_EBROKEN, got", st);
        pp_future_release(f);
        pp_executor_destroy(ex);
    }
    printf("broken.%s\t%.4f\tms\n", g_method_name, bench_median(t, (size_t)reps) * 1e3);
    free(t);
}

/* cpu: n tasks of us microseconds of CPU each, all submitted at once, then collected; the
 * wall time over the ideal n * us / min(workers, CPUs): how much the pool's own waiting
 * costs CPU-bound work (1.0 = none). `batches` rounds on one warm pool: the first
 * (cpu.*: its memory is fresh, and each page of it faults once, in the parent and in the
 * workers: ~25 us a fault on the VM of bench/) and the median of the others (cpu_steady.*:
 * a pool that has run such a batch before). With each round, the parent's CPU per task and
 * the workers' CPU beyond their tasks and page faults (Linux). */
static void bench_cpu(size_t n, uint64_t us, int batches)
{
    pp_future **fs = xmalloc(n * sizeof *fs);
    double *ratio = xmalloc((size_t)batches * sizeof *ratio);
    pp_executor *ex = new_pool();
    warm(ex);
    int cpus = pp_cpu_count();
    int par = g_workers < cpus ? g_workers : cpus;
    double ideal = (double)n * (double)us * 1e-6 / par;
    for (int b = 0; b < batches; b++) {
        double s0, s1, c0 = cpu_s(&s0), k0 = tree_cpu_s(), pf0, sw0, wf0 = children_faults();
        counts(&pf0, &sw0);
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            pp_status st = pp_submit(ex, "burn", &us, sizeof us, &fs[i]);
            if (st != PP_OK)
                die_st("pp_submit", st);
        }
        for (size_t i = 0; i < n; i++) {
            pp_status st = pp_future_result(fs[i], PP_FOREVER, NULL);
            if (st != PP_OK)
                die_st("pp_future_result", st);
            pp_future_release(fs[i]);
        }
        double t1 = now_s();
        double c1 = cpu_s(&s1), k1 = tree_cpu_s(), pf1, sw1, wf1 = children_faults();
        counts(&pf1, &sw1);
        ratio[b] = (t1 - t0) / ideal;
        printf("# batch %d: %.3f x ideal; the parent's CPU %.2f us/task (%.2f page faults, "
               "%.3f context switches a task), the workers' beyond their tasks %.2f us/task "
               "(%.0f page faults in all)\n",
               b + 1, ratio[b], (c1 - c0) / (double)n * 1e6,
               pf0 < 0 ? -1.0 : (pf1 - pf0) / (double)n,
               sw0 < 0 ? -1.0 : (sw1 - sw0) / (double)n,
               k0 < 0 ? -1.0 : ((k1 - k0) - (c1 - c0)) / (double)n * 1e6 - (double)us,
               wf0 < 0 ? -1.0 : wf1 - wf0);
    }
    pp_executor_destroy(ex);
    printf("cpu.%lluus.w%d.%s\t%.3f\tx ideal\n", (unsigned long long)us, g_workers,
           g_method_name, ratio[0]);
    if (batches > 1)
        printf("cpu_steady.%lluus.w%d.%s\t%.3f\tx ideal\n", (unsigned long long)us, g_workers,
               g_method_name, bench_median(ratio + 1, (size_t)batches - 1));
    free(ratio);
    free(fs);
}

/* The parent's peak resident set so far, in MiB (0 where unknown). */
static double peak_rss_mib(void)
{
#ifdef _WIN32
    return 0;
#else
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
#endif
}

/* flow: a producer that submits n small calls and drops each future at once (fire and
 * forget), with max_pending (0: unlimited, CPython), then waits for all: the peak resident
 * set of the parent and the rate. Run once per process (the peak is the process's). */
static void bench_flow(size_t n, size_t max_pending)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.max_workers = g_workers;
    o.start_method = g_method;
    o.max_pending = max_pending;
    pp_executor *ex;
    pp_status st = pp_executor_create(&o, &ex);
    if (st != PP_OK)
        die_st("pp_executor_create", st);
    warm(ex);
    double rss0 = peak_rss_mib();
    double t0 = now_s();
    uint64_t x = 1;
    for (size_t i = 0; i < n; i++) {
        pp_future *f;
        st = pp_submit(ex, "echo", &x, sizeof x, &f);
        if (st != PP_OK)
            die_st("pp_submit", st);
        pp_future_release(f);
    }
    pp_executor_shutdown(ex, true, false);
    double t1 = now_s();
    pp_executor_stats s;
    pp_executor_stats_get(ex, &s);
    if (s.completed < n) /* (warm() ran a few more) */
        die_msg("flow: not every call completed");
    pp_executor_destroy(ex);
    printf("flow.pending%zu.%s.peak_rss\t%.1f\tMiB\n", max_pending, g_method_name,
           peak_rss_mib());
    printf("flow.pending%zu.%s.rss_growth\t%.1f\tMiB\n", max_pending, g_method_name,
           peak_rss_mib() - rss0);
    printf("flow.pending%zu.%s.rate\t%.0f\tcalls/s\n", max_pending, g_method_name,
           (double)n / (t1 - t0));
}

/* isolate: under PP_CRASH_ISOLATE with one worker, a call that kills its worker (exit(3))
 * and then an echo: from the first submit to the echo's result, which a new worker runs. */
static void bench_isolate(int reps)
{
    double *t = xmalloc((size_t)reps * sizeof *t);
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.max_workers = 1;
    o.start_method = g_method;
    o.crash_policy = PP_CRASH_ISOLATE;
    pp_executor *ex;
    pp_status st = pp_executor_create(&o, &ex);
    if (st != PP_OK)
        die_st("pp_executor_create", st);
    warm(ex);
    for (int r = 0; r < reps; r++) {
        pp_future *bad = NULL, *good = NULL;
        uint64_t x = (uint64_t)r;
        double t0 = now_s();
        if ((st = pp_submit(ex, "die", NULL, 0, &bad)) != PP_OK ||
            (st = pp_submit(ex, "echo", &x, sizeof x, &good)) != PP_OK)
            die_st("pp_submit", st);
        st = pp_future_result(good, PP_FOREVER, NULL);
        t[r] = now_s() - t0;
        if (st != PP_OK)
            die_st("isolate: the call after the crash", st);
        if ((st = pp_future_result(bad, PP_FOREVER, NULL)) != PP_EWORKERDIED)
            die_st("isolate: expected PP_EWORKERDIED, got", st);
        pp_future_release(bad);
        pp_future_release(good);
    }
    pp_executor_destroy(ex);
    printf("isolate.crash_to_result.%s\t%.3f\tms\n", g_method_name,
           bench_median(t, (size_t)reps) * 1e3);
    free(t);
}

/* ---- command line ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: pp_bench startup|submit|map|roundtrip|payload|broken|cpu|flow|isolate\n"
            "         [--start=spawn|fork|forkserver] [--reps N] [--n N] [--workers N]\n"
            "         [--chunksize C[,C...]] [--size BYTES (cpu: microseconds per task)]\n"
            "         [--inflight N (payload: N calls submitted at once)]\n"
            "         [--warm N (payload: N untimed rounds first)]\n");
    exit(2);
}

static unsigned long long parse_num(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0')
        usage();
    return v;
}

int main(int argc, char **argv)
{
    if (pp_register_task("echo", task_echo) != PP_OK ||
        pp_register_task("sink", task_sink) != PP_OK ||
        pp_register_task("die", task_die) != PP_OK ||
        pp_register_task("burn", task_burn) != PP_OK)
        die_msg("pp_register_task failed");
#ifdef PP_BENCH_MPI
    /* pp_bench_mpi, under mpiexec: ranks >= 1 serve (--start=mpi), never return */
    if (pp_mpi_worker_main(argc, argv) != 0)
        die_msg("pp_mpi_worker_main failed");
#else
    pp_worker_main(argc, argv); /* in a worker: serves, never returns */
#endif

    if (argc < 2)
        usage();
    const char *what = argv[1];
    int reps = -1;
    size_t n = 0, size = 0, inflight = 1;
    int warm_rounds = 0;
    size_t chunks[16], n_chunks = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strncmp(a, "--start=", 8) == 0) {
            v = a + 8;
            if (strcmp(v, "spawn") == 0)
                g_method = PP_START_SPAWN;
            else if (strcmp(v, "fork") == 0)
                g_method = PP_START_FORK;
            else if (strcmp(v, "forkserver") == 0)
                g_method = PP_START_FORKSERVER;
            else if (strcmp(v, "mpi") == 0)
                g_method = PP_START_MPI;
            else
                usage();
            g_method_name = v;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        v = argv[++i];
        if (strcmp(a, "--reps") == 0) {
            reps = (int)parse_num(v);
        } else if (strcmp(a, "--n") == 0) {
            n = (size_t)parse_num(v);
        } else if (strcmp(a, "--inflight") == 0) {
            inflight = (size_t)parse_num(v);
            if (inflight == 0)
                usage();
        } else if (strcmp(a, "--warm") == 0) {
            warm_rounds = (int)parse_num(v);
        } else if (strcmp(a, "--workers") == 0) {
            g_workers = (int)parse_num(v);
        } else if (strcmp(a, "--size") == 0) {
            size = (size_t)parse_num(v);
        } else if (strcmp(a, "--chunksize") == 0) {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", v);
            for (char *tok = strtok(tmp, ","); tok; tok = strtok(NULL, ",")) {
                if (n_chunks == sizeof chunks / sizeof chunks[0])
                    usage();
                chunks[n_chunks++] = (size_t)parse_num(tok);
                if (chunks[n_chunks - 1] == 0)
                    usage();
            }
        } else {
            usage();
        }
    }
    if (reps == 0)
        usage();

    printf("# pp_bench %s --start=%s, max_workers=%d\n", what, g_method_name, g_workers);
    if (strcmp(what, "startup") == 0) {
        bench_startup(reps > 0 ? reps : 10);
    } else if (strcmp(what, "submit") == 0) {
        bench_submit(reps > 0 ? reps : 1, n ? n : 20000);
    } else if (strcmp(what, "map") == 0) {
        if (n_chunks == 0) {
            chunks[0] = 1, chunks[1] = 100, chunks[2] = 1000;
            n_chunks = 3;
        }
        bench_map(reps > 0 ? reps : 1, n ? n : 200000, chunks, n_chunks);
    } else if (strcmp(what, "roundtrip") == 0) {
        bench_roundtrip(n ? n : 2000);
    } else if (strcmp(what, "payload") == 0) {
        bench_payload(reps > 0 ? reps : 3, size ? size : 64u * 1024u * 1024u, inflight,
                      warm_rounds);
    } else if (strcmp(what, "cpu") == 0) {
        bench_cpu(n ? n : 2000, size ? size : 1000, reps > 0 ? reps : 3);
    } else if (strcmp(what, "broken") == 0) {
        bench_broken(reps > 0 ? reps : 10);
    } else if (strcmp(what, "flow") == 0) {
        bench_flow(n ? n : 1000000, size);
    } else if (strcmp(what, "isolate") == 0) {
        bench_isolate(reps > 0 ? reps : 20);
    } else {
        usage();
    }
    fflush(stdout);
    return 0;
}
