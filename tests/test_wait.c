/*
 * The wait suite: pp_wait's three modes, duplicates, done flags, timeouts (not errors),
 * argument checks, futures completed by other threads and by an executor.
 */
#include <string.h>

#include "pp_test.h"

static pp_future *pending(void)
{
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    return f;
}

static pp_future *finished(void)
{
    pp_future *f = pending();
    PP_ASSERT_OK(pp_future_set_result(f, "ok", 2));
    return f;
}

static pp_future *failed(void)
{
    pp_future *f = pending();
    PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 1, "failed"));
    return f;
}

static pp_future *cancelled(void)
{
    pp_future *f = pending();
    CU_ASSERT(pp_future_cancel(f));
    return f;
}

static void release_all(pp_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pp_future_release(fs[i]);
}

static void test_first_completed(void)
{
    pp_future *fs[3] = {pending(), finished(), pending()};
    bool done[3];
    size_t n = 99;
    PP_ASSERT_OK(pp_wait(fs, 3, PP_T_TIMEOUT_MS, PP_FIRST_COMPLETED, done, &n));
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT(!done[0] && done[1] && !done[2]);
    release_all(fs, 3);
}

static void test_first_exception(void)
{
    /* returns at the first failure, with the others still pending */
    pp_future *fs[3] = {pending(), failed(), finished()};
    size_t n = 0;
    PP_ASSERT_OK(pp_wait(fs, 3, PP_T_TIMEOUT_MS, PP_FIRST_EXCEPTION, NULL, &n));
    CU_ASSERT_EQUAL(n, 2);
    release_all(fs, 3);

    /* a cancelled future is done but not an exception: without failures, it waits for all */
    pp_future *gs[2] = {cancelled(), pending()};
    bool done[2];
    PP_ASSERT_OK(pp_wait(gs, 2, 100, PP_FIRST_EXCEPTION, done, &n));
    CU_ASSERT_EQUAL(n, 1); /* timed out: the pending one is not done */
    CU_ASSERT(done[0] && !done[1]);
    PP_ASSERT_OK(pp_future_set_result(gs[1], NULL, 0));
    PP_ASSERT_OK(pp_wait(gs, 2, PP_T_TIMEOUT_MS, PP_FIRST_EXCEPTION, done, &n));
    CU_ASSERT_EQUAL(n, 2); /* like ALL_COMPLETED */
    release_all(gs, 2);
}

static void test_all_completed(void)
{
    pp_future *fs[4] = {finished(), failed(), cancelled(), finished()};
    bool done[4];
    size_t n = 0;
    PP_ASSERT_OK(pp_wait(fs, 4, PP_T_TIMEOUT_MS, PP_ALL_COMPLETED, done, &n));
    CU_ASSERT_EQUAL(n, 4);
    for (int i = 0; i < 4; i++)
        CU_ASSERT(done[i]);
    release_all(fs, 4);
}

static void test_duplicates(void)
{
    pp_future *a = finished(), *b = pending();
    pp_future *fs[5] = {a, b, a, a, b};
    bool done[5];
    size_t n = 0;
    PP_ASSERT_OK(pp_wait(fs, 5, 0, PP_ALL_COMPLETED, done, &n));
    CU_ASSERT_EQUAL(n, 1); /* each distinct future once */
    CU_ASSERT(done[0] && !done[1] && done[2] && done[3] && !done[4]);
    PP_ASSERT_OK(pp_future_set_result(b, NULL, 0));
    PP_ASSERT_OK(pp_wait(fs, 5, PP_T_TIMEOUT_MS, PP_ALL_COMPLETED, done, &n));
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT(done[1] && done[4]);
    pp_future_release(a);
    pp_future_release(b);
}

static void test_timeout_is_not_an_error(void)
{
    pp_future *fs[2] = {pending(), finished()};
    size_t n = 0;
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_wait(fs, 2, 100, PP_ALL_COMPLETED, NULL, &n));
    CU_ASSERT(pp_t_now_ms() - t0 >= 90);
    CU_ASSERT_EQUAL(n, 1);
    PP_ASSERT_OK(pp_wait(fs, 2, 0, PP_ALL_COMPLETED, NULL, &n)); /* 0 polls */
    CU_ASSERT_EQUAL(n, 1);
    PP_ASSERT_OK(pp_wait(fs, 1, 0, PP_FIRST_COMPLETED, NULL, NULL));
    release_all(fs, 2);
    PP_ASSERT_OK(pp_wait(NULL, 0, PP_FOREVER, PP_ALL_COMPLETED, NULL, &n)); /* nothing */
    CU_ASSERT_EQUAL(n, 0);
}

static void test_bad_arguments(void)
{
    pp_future *f = pending();
    pp_future *fs[2] = {f, NULL};
    size_t n = 7;
    CU_ASSERT_EQUAL(pp_wait(fs, 2, 0, PP_ALL_COMPLETED, NULL, &n), PP_EINVAL);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(pp_wait(NULL, 1, 0, PP_ALL_COMPLETED, NULL, &n), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_wait(fs, 1, -2, PP_ALL_COMPLETED, NULL, &n), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_wait(fs, 1, 0, (pp_return_when)9, NULL, &n), PP_EINVAL);
    pp_future_release(f);
}

typedef struct later {
    pp_future *f;
    unsigned   ms;
    bool       fail;
} later;

static void finish_later(void *arg)
{
    later *l = arg;
    pp_t_sleep_ms(l->ms);
    if (l->fail)
        pp_future_set_error(l->f, PP_ETASK, 2, "late failure");
    else
        pp_future_set_result(l->f, NULL, 0);
}

static void test_completed_by_other_threads(void)
{
    pp_future *fs[3] = {pending(), pending(), pending()};
    later l[3] = {{fs[0], 50, false}, {fs[1], 100, true}, {fs[2], 150, false}};
    pp_t_thread *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = pp_t_thread_start(finish_later, &l[i]);
    size_t n = 0;
    bool done[3];
    PP_ASSERT_OK(pp_wait(fs, 3, PP_T_TIMEOUT_MS, PP_FIRST_COMPLETED, done, &n));
    CU_ASSERT(n >= 1);
    PP_ASSERT_OK(pp_wait(fs, 3, PP_T_TIMEOUT_MS, PP_FIRST_EXCEPTION, done, &n));
    CU_ASSERT(done[1]);
    PP_ASSERT_OK(pp_wait(fs, 3, PP_T_TIMEOUT_MS, PP_ALL_COMPLETED, done, &n));
    CU_ASSERT_EQUAL(n, 3);
    for (int i = 0; i < 3; i++)
        pp_t_thread_join(t[i]);
    release_all(fs, 3);
}

static void test_executor_futures(void)
{
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg quick = {0, 1}, slow = {1500, 2};
    int32_t code = 4;
    pp_future *fs[3];
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &fs[0]));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "fail", &code, sizeof code, &fs[1]));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &quick, sizeof quick, &fs[2]));
    bool done[3];
    size_t n = 0;
    PP_ASSERT_OK(pp_wait(fs, 3, PP_T_TIMEOUT_MS, PP_FIRST_EXCEPTION, done, &n));
    CU_ASSERT(done[1]);
    CU_ASSERT(!done[0]); /* the slow one is still running */
    PP_ASSERT_OK(pp_wait(fs, 3, PP_T_TIMEOUT_MS, PP_ALL_COMPLETED, done, &n));
    CU_ASSERT_EQUAL(n, 3);
    release_all(fs, 3);
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"FIRST_COMPLETED", test_first_completed},
    {"FIRST_EXCEPTION (cancelled is not an exception)", test_first_exception},
    {"ALL_COMPLETED, cancelled counts as done", test_all_completed},
    {"duplicates count once, flags per entry", test_duplicates},
    {"a timeout returns what is done; 0 polls", test_timeout_is_not_an_error},
    {"bad arguments", test_bad_arguments},
    {"futures completed by other threads", test_completed_by_other_threads},
    {"executor futures", test_executor_futures},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_wait = {"wait", NULL, NULL, NULL, NULL, tests};
