/*
 * The initializer suite: it runs once in each new worker before any task, with a copy of
 * the initargs; an initializer that fails, exits or crashes breaks the pool.
 */
#include <stdlib.h>
#include <string.h>

#include "pp_os.h"
#include "pp_test.h"

typedef struct init_info {
    int32_t   runs;
    uint64_t  calls_before;
    long long pid;
} init_info;

static init_info get_info(pp_future *f)
{
    init_info in = {-1, 99, 0};
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    if (r.len == sizeof in.runs + sizeof in.calls_before + sizeof in.pid) {
        const unsigned char *p = r.data;
        memcpy(&in.runs, p, sizeof in.runs);
        memcpy(&in.calls_before, p + sizeof in.runs, sizeof in.calls_before);
        memcpy(&in.pid, p + sizeof in.runs + sizeof in.calls_before, sizeof in.pid);
    }
    return in;
}

static void set_env(const char *name, const char *value)
{
#ifdef _WIN32
    char buf[256];
    snprintf(buf, sizeof buf, "%s=%s", name, value ? value : "");
    _putenv(buf);
#else
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
#endif
}

#define BOUND_MS 10000L

static void test_runs_with_initargs(void)
{
    char args[] = "hello init";
    pp_executor *ex = pp_t_executor_init(1, "init_set", args, sizeof args);
    memset(args, 'X', sizeof args - 1); /* initargs were copied at create */
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "init_get", NULL, 0, &f));
    pp_buf r;
    PP_ASSERT_OK_FATAL(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT_EQUAL(r.len, sizeof args);
    CU_ASSERT(r.len == sizeof args && memcmp(r.data, "hello init", sizeof args) == 0);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* Runs once per worker: with 3 workers busy at once, each reports the initargs, and the
 * call counter of each worker shows no task ran before the initializer. */
static void test_each_worker(void)
{
    const char args[] = "each";
    pp_executor *ex = pp_t_executor_init(3, "init_set", args, sizeof args);
    pp_t_sleep_arg a = {300, 0};
    pp_future *s[3], *g[6];
    for (int i = 0; i < 3; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &s[i]));
    for (int i = 0; i < 6; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "init_get", NULL, 0, &g[i]));
    for (int i = 0; i < 6; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(g[i], PP_T_TIMEOUT_MS, &r));
        CU_ASSERT(r.len == sizeof args && memcmp(r.data, args, sizeof args) == 0);
        pp_future_release(g[i]);
    }
    pp_t_finish_each(s, 3);
    pp_executor_stats st;
    pp_executor_stats_get(ex, &st);
    CU_ASSERT(st.workers_started >= 2 && st.workers_started <= 3);
    pp_executor_destroy(ex);
}

static void test_empty_initargs(void)
{
    pp_executor *ex = pp_t_executor_init(1, "init_set", NULL, 0);
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "init_get", NULL, 0, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT_EQUAL(r.len, 0);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* Submits n "echo" items: the first must be accepted; a later one may get PP_EBROKEN when
 * the pool has broken already (with fork every worker starts, and its initializer fails, at
 * the first submit). Returns how many were accepted: fs[0..k). */
static int submit_until_broken(pp_executor *ex, pp_future **fs, int n)
{
    PP_ASSERT_OK(pp_submit(ex, "echo", "x", 1, &fs[0]));
    if (!fs[0])
        return 0;
    int k = 1;
    for (; k < n; k++) {
        pp_status st = pp_submit(ex, "echo", "x", 1, &fs[k]);
        if (st == PP_EBROKEN)
            break;
        PP_ASSERT_OK(st);
    }
    for (int i = k + 1; i < n; i++) /* once broken, always broken */
        CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, &fs[i]), PP_EBROKEN);
    return k;
}

/* A broken initializer breaks the pool: futures resolve PP_EBROKEN with a message about
 * the initializer, later submits fail, nothing hangs. */
static void check_init_breaks(const char *init, const char *expect)
{
    pp_executor *ex = pp_t_executor_init(2, init, NULL, 0);
    pp_future *fs[4];
    int k = submit_until_broken(ex, fs, 4);
    CU_ASSERT_FATAL(k >= 1);
    long long t0 = pp_t_now_ms();
    for (int i = 0; i < k; i++) {
        const pp_error *e = NULL;
        PP_ASSERT_OK_FATAL(pp_future_exception(fs[i], BOUND_MS, &e));
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
        CU_ASSERT(e->pid > 0);
        if (!strstr(e->message, expect) || !strstr(e->message, init))
            fprintf(stderr, "\n  unexpected message: %s\n", e->message);
        CU_ASSERT(strstr(e->message, expect) != NULL);
        CU_ASSERT(strstr(e->message, init) != NULL);
    }
    CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS);
    pp_future *g = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, &g), PP_EBROKEN);
    CU_ASSERT_PTR_NULL(g);
    pp_map_iter *it = (pp_map_iter *)1;
    pp_buf a = {"x", 1};
    CU_ASSERT_EQUAL(pp_map(ex, "echo", &a, 1, 1, PP_FOREVER, &it), PP_EBROKEN);
    CU_ASSERT_PTR_NULL(it);
    /* the workers are gone (bounded), one at least counted as died */
    pp_t_snapshot snap;
    CU_ASSERT(pp_t_wait_stats(ex, pp_t_no_workers, NULL, BOUND_MS, &snap));
    pp_executor_stats st = snap.s;
    CU_ASSERT_EQUAL(st.workers, 0);
    CU_ASSERT(st.workers_died >= 1);
    CU_ASSERT_EQUAL(st.completed, 0);
    CU_ASSERT_EQUAL(st.failed, (unsigned long long)k);
    t0 = pp_t_now_ms();
    pp_executor_destroy(ex);
    CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS);
    for (int i = 0; i < 4; i++)
        pp_future_release(fs[i]);
}

static void test_init_fails(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    check_init_breaks("init_fail", "init failed");
}

static void test_init_exits(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    check_init_breaks("init_exit", "exited with code 5");
}

static void test_init_crashes(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
#ifdef _WIN32
    check_init_breaks("init_segv", "EXCEPTION_ACCESS_VIOLATION");
#else
    check_init_breaks("init_segv", "killed by signal 11 (SIGSEGV)");
#endif
}

static void test_unknown_initializer(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.initializer = "no such initializer";
    pp_executor *ex = (pp_executor *)1;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_ENOTASK);
    CU_ASSERT_PTR_NULL(ex);
    o.initializer = "";
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    o.initializer = "init_set";
    o.initargs.data = NULL;
    o.initargs.len = 3;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT_PTR_NULL(ex);
}

/* Exactly once per worker, before any task: every task in every worker sees one run of the
 * initializer, which saw no task before it. */
static void test_once_before_any_task(void)
{
    PP_T_SKIP_IF_MPI("a rank serves executor after executor: its counters carry over");
    pp_executor *ex = pp_t_executor_init(3, "init_count", NULL, 0);
    pp_t_sleep_arg a = {200, 0};
    pp_future *s[3], *g[9];
    for (int i = 0; i < 3; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &s[i]));
    for (int i = 0; i < 9; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "init_count_get", NULL, 0, &g[i]));
    for (int i = 0; i < 9; i++) {
        init_info in = get_info(g[i]);
        CU_ASSERT_EQUAL(in.runs, 1);
        CU_ASSERT_EQUAL(in.calls_before, 0);
        CU_ASSERT(in.pid > 0 && in.pid != pp_t_getpid());
        pp_future_release(g[i]);
    }
    pp_t_finish_each(s, 3);
    pp_executor_stats st;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT_EQUAL(st.completed, 12); /* the initializer is not a work item */
    CU_ASSERT_EQUAL(st.workers_died, 0);
    pp_executor_destroy(ex);
}

/* A worker that replaces a retired one (max_tasks_per_child) runs the initializer too. */
static void test_runs_in_replacement_workers(void)
{
    PP_T_SKIP_IF_MPI("worker_path, max_tasks_per_child, cpu count: n/a to MPI ranks");
    PP_T_SKIP_IF_FORK("max_tasks_per_child is PP_EINVAL with fork (submit suite)");
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    o.max_tasks_per_child = 2;
    o.initializer = "init_count";
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    long long pids[6];
    for (int i = 0; i < 6; i++) {
        pp_future *f;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "init_count_get", NULL, 0, &f));
        init_info in = get_info(f);
        CU_ASSERT_EQUAL(in.runs, 1);
        CU_ASSERT_EQUAL(in.calls_before, 0);
        pids[i] = in.pid;
        pp_future_release(f);
    }
    for (int i = 1; i < 6; i++) {
        if (i % 2) {
            CU_ASSERT_EQUAL(pids[i], pids[i - 1]);
        } else {
            CU_ASSERT_NOT_EQUAL(pids[i], pids[i - 1]);
        }
    }
    pp_executor_stats st;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT_EQUAL(st.workers_started, 3);
    pp_executor_destroy(ex);
}

/* Large initargs (1 MiB) arrive intact, and are the executor's copy. */
static void test_large_initargs(void)
{
    size_t n = 1u << 20;
    unsigned char *buf = malloc(n), *want = malloc(n);
    CU_ASSERT_FATAL(buf != NULL && want != NULL);
    pp_t_fill(buf, n, 77);
    memcpy(want, buf, n);
    pp_executor *ex = pp_t_executor_init(2, "init_set", buf, n);
    memset(buf, 0, n);
    free(buf);
    pp_future *f[2];
    pp_t_sleep_arg a = {200, 0};
    pp_future *s;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &s)); /* the second worker too */
    for (int i = 0; i < 2; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "init_get", NULL, 0, &f[i]));
    for (int i = 0; i < 2; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(f[i], PP_T_TIMEOUT_MS, &r));
        CU_ASSERT(r.len == n && memcmp(r.data, want, n) == 0);
        pp_future_release(f[i]);
    }
    PP_ASSERT_OK(pp_future_result(s, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(s);
    free(want);
    pp_executor_destroy(ex);
}

/* A slow initializer: the work waits for it, then runs; nothing fails. ("sleep" as the
 * initializer: it returns a value, which is ignored.) */
static void test_slow_initializer(void)
{
    pp_t_sleep_arg a = {300, 1};
    pp_executor *ex = pp_t_executor_init(2, "sleep", &a, sizeof a);
    pp_future *fs[5];
    pp_t_echo_each(ex, fs, 5);
    pp_executor_stats st;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT_EQUAL(st.workers_died, 0);
    CU_ASSERT_EQUAL(st.completed, 5);
    pp_executor_destroy(ex);
}

/* An initializer that fails on the worker's side without text: the message names it. An
 * initializer known in the parent but not in the workers breaks the pool (CPython: the
 * initializer cannot be unpickled in the child). */
static void test_initializer_unknown_in_worker(void)
{
    PP_T_SKIP_IF_FORK("a forked worker is a copy of this process: it knows the same tasks");
    set_env("PP_T_HIDE_PARENT_ONLY", "1");
    pp_executor *ex = pp_t_executor_init(1, "parent_only", "x", 1);
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "x", 1, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    if (!strstr(e->message, "parent_only"))
        fprintf(stderr, "\n  unexpected message: %s\n", e->message);
    CU_ASSERT(strstr(e->message, "parent_only") != NULL);
    pp_future_release(f);
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, &g), PP_EBROKEN);
    pp_executor_destroy(ex);
    set_env("PP_T_HIDE_PARENT_ONLY", NULL);
}

/* shutdown(wait=true) and destroy right after submitting to a pool whose initializer dies:
 * both return within a bound, every future resolves PP_EBROKEN. */
static void test_shutdown_while_initializer_dies(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    for (int destroy = 0; destroy < 2; destroy++) {
        pp_executor *ex = pp_t_executor_init(2, "init_exit", NULL, 0);
        pp_future *fs[5];
        int k = submit_until_broken(ex, fs, 5);
        CU_ASSERT_FATAL(k >= 1);
        long long t0 = pp_t_now_ms();
        if (destroy) {
            pp_executor_destroy(ex);
        } else {
            PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
        }
        CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS);
        for (int i = 0; i < k; i++) {
            CU_ASSERT(pp_future_done(fs[i]));
            CU_ASSERT_EQUAL(pp_future_result(fs[i], 0, NULL), PP_EBROKEN);
            pp_future_release(fs[i]);
        }
        if (!destroy)
            pp_executor_destroy(ex);
    }
}

/* CPython FailingInitializerResourcesTest: pools whose initializer fails, exits or crashes
 * leave no descriptor and no process (not even a zombie) behind. */
static void test_failing_initializer_resources(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    const char *inits[] = {"init_fail", "init_exit", "init_segv"};
    size_t fds = pp__os_handle_count();
    for (int round = 0; round < 6; round++) {
        pp_executor *ex = pp_t_executor_init(2, inits[round % 3], NULL, 0);
        pp_future *fs[3] = {NULL, NULL, NULL};
        PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "x", 1, &fs[0]));
        for (int i = 1; i < 3; i++) {
            /* the pool may have broken already (fork starts every worker at once) */
            pp_status st = pp_submit(ex, "echo", "x", 1, &fs[i]);
            CU_ASSERT(st == PP_OK || st == PP_EBROKEN);
        }
        long long pids[3] = {0, 0, 0};
        for (int i = 0; i < 3 && fs[i]; i++) {
            const pp_error *e = NULL;
            PP_ASSERT_OK(pp_future_exception(fs[i], BOUND_MS, &e));
            CU_ASSERT(e && e->status == PP_EBROKEN);
            pids[i] = e ? e->pid : 0;
        }
        pp_executor_destroy(ex);
        for (int i = 0; i < 3 && fs[i]; i++) {
            CU_ASSERT(!pp_t_pid_alive(pids[i]));
#ifndef _WIN32
            char path[64]; /* reaped: no zombie either */
            snprintf(path, sizeof path, "/proc/%lld", pids[i]);
            FILE *f = fopen(path, "r");
            CU_ASSERT_PTR_NULL(f);
            if (f)
                fclose(f);
#endif
            pp_future_release(fs[i]); /* NULL: no-op */
        }
    }
    CU_ASSERT_EQUAL(pp__os_handle_count(), fds);
}

static CU_TestInfo tests[] = {
    {"runs with a copy of the initargs", test_runs_with_initargs},
    {"runs in each worker", test_each_worker},
    {"empty initargs", test_empty_initargs},
    {"an initializer that fails breaks the pool", test_init_fails},
    {"an initializer that exits breaks the pool", test_init_exits},
    {"an initializer that crashes breaks the pool", test_init_crashes},
    {"unknown or invalid initializer is rejected at create", test_unknown_initializer},
    {"once in each worker, before any task", test_once_before_any_task},
    {"in each replacement worker (max_tasks_per_child)", test_runs_in_replacement_workers},
    {"large initargs arrive intact", test_large_initargs},
    {"a slow initializer delays work, fails nothing", test_slow_initializer},
    {"an initializer unknown in the workers breaks the pool", test_initializer_unknown_in_worker},
    {"shutdown and destroy while the initializer dies", test_shutdown_while_initializer_dies},
    {"failing initializers leave no descriptor or process behind", test_failing_initializer_resources},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_initializer = {"initializer", NULL, NULL, NULL, NULL, tests};
