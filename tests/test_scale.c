/*
 * The scale suite: pools of 100 and 200 workers, every one of them busy at the same time
 * (each holds a "wait_gate" call that returns only when the test opens the gate, so "all
 * busy" is a fact, not a matter of timing); then the calls complete, or one worker is killed
 * and the pool breaks; then shutdown leaves no process behind. On Windows this is beyond
 * WaitForMultipleObjects' 64 handles (channels beyond 62 use registered waits: issue 15); the
 * same tests run on POSIX.
 */
#include <stdlib.h>
#include <string.h>

#include "pp_core.h"
#include "pp_os.h"
#include "pp_test.h"

/* Sanitizer builds run the same tests with fewer workers: each instrumented worker holds
 * tens of MiB (ASan, TSan), and 200 of them would take gigabytes of a CI machine. */
#if PP_T_SANITIZED
#  define SMALL 40
#  define LARGE 80
#else
#  define SMALL 100
#  define LARGE 200
#endif

#define BUSY_BOUND_MS 80000LL /* below the watchdog's 90 s */
#define BOUND_MS 30000L

/* Starts n workers, each busy on one wait_gate call; returns the executor, the futures (fs)
 * and the worker pids (pids), or NULL after failing the test. */
static pp_executor *all_busy(int n, const char *gate, pp_future **fs, long long *pids)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = n;
    pp_executor *ex = NULL;
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    if (!ex)
        return NULL;
    long long t0 = pp_t_now_ms();
    for (int i = 0; i < n; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "wait_gate", gate, strlen(gate), &fs[i]));
    pp_executor_stats st;
    memset(&st, 0, sizeof st);
    while (pp_t_now_ms() - t0 < BUSY_BOUND_MS) {
        PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
        if (st.workers == n && st.handed_out == (size_t)n && st.idle_workers == 0)
            break;
        pp_t_sleep_ms(20);
    }
    CU_ASSERT_EQUAL(st.workers, n);
    CU_ASSERT_EQUAL(st.handed_out, (size_t)n);
    CU_ASSERT_EQUAL(st.idle_workers, 0);
    CU_ASSERT_EQUAL(st.workers_died, 0);
    size_t k = 0;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, (size_t)n, &k));
    CU_ASSERT_EQUAL(k, (size_t)n);
    int distinct = 1;
    for (size_t i = 0; i < k && distinct; i++)
        for (size_t j = i + 1; j < k && distinct; j++)
            distinct = pids[i] != pids[j];
    CU_ASSERT(distinct);
    printf("(%d busy after %lld ms) ", n, pp_t_now_ms() - t0);
    return ex;
}

/* Every pid is gone within a bound, after the pool was destroyed. */
static void none_left(const long long *pids, int n)
{
    int alive = pp_t_wait_gone(pids, n, pp_t_now_ms() + BOUND_MS, 20);
    CU_ASSERT_EQUAL(alive, 0);
    for (int i = 0; i < n && alive; i++)
        if (pp_t_pid_alive(pids[i]))
            pp_t_kill_pid(pids[i]); /* leave nothing behind */
}

/* A test's gate (named after this process, n and tag), and room for n futures and n pids. */
typedef struct busy {
    char        gate[64];
    pp_t_gate  *g;
    pp_future **fs;
    long long  *pids;
} busy;

static void busy_init(busy *b, int n, const char *tag)
{
    snprintf(b->gate, sizeof b->gate, "pp_t_scale_%lld_%d_%s", pp_t_getpid(), n, tag);
    b->g = pp_t_gate_create(b->gate);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b->g);
    b->fs = calloc((size_t)n, sizeof *b->fs);
    b->pids = calloc((size_t)n, sizeof *b->pids);
    CU_ASSERT_FATAL(b->fs && b->pids);
}

static void busy_free(busy *b)
{
    pp_t_gate_free(b->g);
    free(b->fs);
    free(b->pids);
}

/* n workers busy at once; the gate opens and every call returns 1; shutdown(wait) joins
 * them all. */
static void busy_then_complete(int n)
{
    busy b;
    busy_init(&b, n, "ok");
    pp_future **fs = b.fs;
    long long *pids = b.pids;
    pp_executor *ex = all_busy(n, b.gate, fs, pids);
    pp_t_gate_open(b.g);
    if (ex) {
        int ok = 0;
        for (int i = 0; i < n; i++) {
            pp_buf r = {NULL, 0};
            pp_status st = pp_future_result(fs[i], BOUND_MS, &r);
            int32_t v = 0;
            if (st == PP_OK && r.len == sizeof v)
                memcpy(&v, r.data, sizeof v);
            ok += st == PP_OK && v == 1;
            pp_future_release(fs[i]);
        }
        CU_ASSERT_EQUAL(ok, n);
        long long t0 = pp_t_now_ms();
        PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
        pp_executor_stats st;
        PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
        CU_ASSERT_EQUAL(st.workers, 0);
        CU_ASSERT_EQUAL(st.completed, (unsigned long long)n);
        pp_executor_destroy(ex);
        printf("(shutdown %lld ms) ", pp_t_now_ms() - t0);
        none_left(pids, n);
    }
    busy_free(&b);
}

/* n workers busy at once; one is killed: the pool breaks, and every call fails with
 * PP_EBROKEN, promptly (the gate never opens); destroy leaves no worker. */
static void busy_then_crash(int n)
{
    busy b;
    busy_init(&b, n, "crash");
    pp_future **fs = b.fs;
    long long *pids = b.pids;
    pp_executor *ex = all_busy(n, b.gate, fs, pids);
    if (ex) {
        long long t0 = pp_t_now_ms();
        pp_t_kill_pid(pids[n / 2]);
        int broken = 0;
        for (int i = 0; i < n; i++) {
            broken += pp_future_result(fs[i], BOUND_MS, NULL) == PP_EBROKEN;
            pp_future_release(fs[i]);
        }
        CU_ASSERT_EQUAL(broken, n);
        printf("(broken in %lld ms) ", pp_t_now_ms() - t0);
        pp_future *f = NULL;
        CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &f), PP_EBROKEN);
        pp_executor_destroy(ex);
        none_left(pids, n);
    }
    pp_t_gate_open(b.g); /* (releases any worker still there) */
    busy_free(&b);
}

/* (Two sizes, each ending one way: under Wine a worker takes about 0.1 s to start, and the
 * four combinations would add 80 s to the Windows job.) */
static void test_100_complete(void)
{
    busy_then_complete(SMALL);
}

static void test_200_crash(void)
{
    busy_then_crash(LARGE);
}

static CU_TestInfo tests[] = {
    {"100 workers (sanitizers: 40) busy at once, then all complete; shutdown",
     test_100_complete},
    {"200 workers (sanitizers: 80) busy at once, one killed: the pool breaks; destroy",
     test_200_crash},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_scale = {"scale", NULL, NULL, pp_t_watchdog_setup,
                                     pp_t_watchdog_teardown, tests};
