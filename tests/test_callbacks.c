/*
 * The done-callback suite: order, exactly once, immediate when already done, the thread
 * that completes the future, cancellation, callbacks that use procpool themselves.
 */
#include <string.h>

#include "pp_test.h"

static _Thread_local int thread_marker;

typedef struct log {
    int  calls[16];
    int  n;
    int  marker[16];
    pp_future *seen[16];
} log_t;

static log_t lg;

static void record(pp_future *f, void *ud)
{
    if (lg.n < 16) {
        lg.calls[lg.n] = (int)(intptr_t)ud;
        lg.marker[lg.n] = thread_marker;
        lg.seen[lg.n] = f;
        lg.n++;
    }
}

static void test_order_and_once(void)
{
    memset(&lg, 0, sizeof lg);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    for (intptr_t i = 1; i <= 5; i++)
        PP_ASSERT_OK(pp_future_add_done_callback(f, record, (void *)i));
    CU_ASSERT_EQUAL(lg.n, 0);
    PP_ASSERT_OK(pp_future_set_result(f, "x", 1));
    CU_ASSERT_EQUAL_FATAL(lg.n, 5);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(lg.calls[i], i + 1);
        CU_ASSERT_PTR_EQUAL(lg.seen[i], f);
    }
    CU_ASSERT_EQUAL(pp_future_set_result(f, "y", 1), PP_ESTATE);
    CU_ASSERT_EQUAL(lg.n, 5); /* never again */
    pp_future_release(f);
}

static void test_immediate_when_done(void)
{
    memset(&lg, 0, sizeof lg);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 1, "x"));
    thread_marker = 77;
    PP_ASSERT_OK(pp_future_add_done_callback(f, record, (void *)9));
    CU_ASSERT_EQUAL(lg.n, 1); /* ran before add returned */
    CU_ASSERT_EQUAL(lg.marker[0], 77);
    thread_marker = 0;
    pp_future_release(f);
}

static void complete_on_thread(void *arg)
{
    thread_marker = 1234;
    pp_future_set_result(arg, "t", 1);
}

static void test_runs_on_completing_thread(void)
{
    memset(&lg, 0, sizeof lg);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    thread_marker = 1;
    PP_ASSERT_OK(pp_future_add_done_callback(f, record, NULL));
    pp_t_thread *t = pp_t_thread_start(complete_on_thread, f);
    pp_t_thread_join(t);
    CU_ASSERT_EQUAL_FATAL(lg.n, 1);
    CU_ASSERT_EQUAL(lg.marker[0], 1234);
    thread_marker = 0;
    pp_future_release(f);
}

static void test_on_cancel(void)
{
    memset(&lg, 0, sizeof lg);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    PP_ASSERT_OK(pp_future_add_done_callback(f, record, (void *)1));
    CU_ASSERT(pp_future_cancel(f));
    CU_ASSERT_EQUAL(lg.n, 1);
    CU_ASSERT(pp_future_cancel(f));
    CU_ASSERT_EQUAL(lg.n, 1); /* once */
    pp_future_release(f);
}

static void test_bad_arguments(void)
{
    memset(&lg, 0, sizeof lg);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    CU_ASSERT_EQUAL(pp_future_add_done_callback(f, NULL, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_add_done_callback(NULL, record, NULL), PP_EINVAL);
    PP_ASSERT_OK(pp_future_set_result(f, NULL, 0));
    CU_ASSERT_EQUAL(lg.n, 0);
    pp_future_release(f);
}

/* Executor futures: the callback runs on the manager thread (not this one), and may use
 * procpool: submit to the same executor, read its own future's result, retain it. */
typedef struct chain {
    pp_executor *ex;
    pp_future   *next;     /* submitted from the callback */
    pp_status    submit_st, result_st;
    int          marker;
    pp_future   *kept;
    pp_future   *done;     /* set by the callback when it has finished */
} chain;

static void chain_cb(pp_future *f, void *ud)
{
    chain *c = ud;
    c->marker = thread_marker;
    pp_buf r;
    c->result_st = pp_future_result(f, 0, &r);
    pp_future_retain(f);
    c->kept = f;
    c->submit_st = pp_submit(c->ex, "echo", "again", 5, &c->next);
    pp_future_set_result(c->done, NULL, 0);
}

static void test_executor_callbacks(void)
{
    pp_executor *ex = pp_t_executor(1);
    chain c = {ex, NULL, PP_EINVAL, PP_EINVAL, -1, NULL, NULL};
    PP_ASSERT_OK_FATAL(pp_future_create(&c.done));
    thread_marker = 5;
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "first", 5, &f));
    PP_ASSERT_OK(pp_future_add_done_callback(f, chain_cb, &c));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    PP_ASSERT_OK_FATAL(pp_future_result(c.done, PP_T_TIMEOUT_MS, NULL)); /* callback ran */
    CU_ASSERT_PTR_NOT_NULL_FATAL(c.next);
    PP_ASSERT_OK(c.submit_st);
    PP_ASSERT_OK(c.result_st);
    CU_ASSERT_EQUAL(c.marker, 0); /* the manager thread, not this one */
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(c.next, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == 5 && memcmp(r.data, "again", 5) == 0);
    pp_future_release(c.next);
    pp_future_release(c.kept);
    pp_future_release(c.done);
    pp_future_release(f);
    thread_marker = 0;
    pp_executor_destroy(ex);
}

static int slow_calls;
static void slow_cb(pp_future *f, void *ud)
{
    (void)f, (void)ud;
    pp_t_sleep_ms(50);
    slow_calls++;
}

/* Slow callbacks delay nothing but themselves; the executor keeps working. */
static void test_slow_callbacks(void)
{
    pp_executor *ex = pp_t_executor(2);
    pp_future *fs[6];
    slow_calls = 0;
    for (int i = 0; i < 6; i++) {
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &fs[i]));
        PP_ASSERT_OK(pp_future_add_done_callback(fs[i], slow_cb, NULL));
    }
    for (int i = 0; i < 6; i++) {
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, NULL));
        pp_future_release(fs[i]);
    }
    pp_executor_shutdown(ex, true, false); /* joins the manager: every callback ran */
    CU_ASSERT_EQUAL(slow_calls, 6);
    pp_executor_destroy(ex);
}

static pp_status shutdown_from_cb = PP_OK;
static void shutdown_cb(pp_future *f, void *ud)
{
    (void)f;
    shutdown_from_cb = pp_executor_shutdown(ud, true, false);
}

/* shutdown(wait=true) from the manager thread would wait for itself: PP_ESTATE. */
static void test_shutdown_wait_from_callback(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f));
    PP_ASSERT_OK(pp_future_add_done_callback(f, shutdown_cb, ex));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    pp_executor_shutdown(ex, true, false);
    CU_ASSERT_EQUAL(shutdown_from_cb, PP_ESTATE);
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &g), PP_ESHUTDOWN);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"run in the order added, exactly once", test_order_and_once},
    {"run at once when already done", test_immediate_when_done},
    {"run on the thread that completes the future", test_runs_on_completing_thread},
    {"run on cancel", test_on_cancel},
    {"bad arguments: never called", test_bad_arguments},
    {"executor callbacks may submit and read results", test_executor_callbacks},
    {"slow callbacks do not break the executor", test_slow_callbacks},
    {"shutdown(wait) from a callback is PP_ESTATE", test_shutdown_wait_from_callback},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_callbacks = {"callbacks", NULL, NULL, NULL, NULL, tests};
