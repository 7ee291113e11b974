/*
 * The initializer suite: it runs once in each new worker before any task, with a copy of
 * the initargs; an initializer that fails, exits or crashes breaks the pool.
 */
#include <string.h>

#include "pp_test.h"

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
    for (int i = 0; i < 3; i++) {
        PP_ASSERT_OK(pp_future_result(s[i], PP_T_TIMEOUT_MS, NULL));
        pp_future_release(s[i]);
    }
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

/* A broken initializer breaks the pool: futures resolve PP_EBROKEN with a message about
 * the initializer, later submits fail, nothing hangs. */
static void check_init_breaks(const char *init, const char *expect)
{
    pp_executor *ex = pp_t_executor_init(2, init, NULL, 0);
    pp_future *fs[4];
    for (int i = 0; i < 4; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "x", 1, &fs[i]));
    long long t0 = pp_t_now_ms();
    for (int i = 0; i < 4; i++) {
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
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, &g), PP_EBROKEN);
    CU_ASSERT_PTR_NULL(g);
    for (int i = 0; i < 4; i++)
        pp_future_release(fs[i]);
    pp_executor_destroy(ex);
}

static void test_init_fails(void)
{
    check_init_breaks("init_fail", "init failed");
}

static void test_init_exits(void)
{
    check_init_breaks("init_exit", "exited with code 5");
}

static void test_init_crashes(void)
{
#ifdef _WIN32
    check_init_breaks("init_segv", "EXCEPTION_ACCESS_VIOLATION");
#else
    check_init_breaks("init_segv", "killed by signal 11 (SIGSEGV)");
#endif
}

static void test_unknown_initializer(void)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
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

static CU_TestInfo tests[] = {
    {"runs with a copy of the initargs", test_runs_with_initargs},
    {"runs in each worker", test_each_worker},
    {"empty initargs", test_empty_initargs},
    {"an initializer that fails breaks the pool", test_init_fails},
    {"an initializer that exits breaks the pool", test_init_exits},
    {"an initializer that crashes breaks the pool", test_init_crashes},
    {"unknown or invalid initializer is rejected at create", test_unknown_initializer},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_initializer = {"initializer", NULL, NULL, NULL, NULL, tests};
