/*
 * The future suite: states and transitions, results and errors, cancellation, reference
 * counting, argument checks; and, with a real executor, "running" means "handed out".
 */
#include <string.h>

#include "pp_test.h"

static pp_future *new_future(void)
{
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    return f;
}

static void test_states(void)
{
    pp_future *f = new_future();
    CU_ASSERT(!pp_future_done(f) && !pp_future_running(f) && !pp_future_cancelled(f));
    CU_ASSERT(pp_future_set_running_or_notify_cancel(f));
    CU_ASSERT(pp_future_running(f) && !pp_future_done(f));
    CU_ASSERT(!pp_future_set_running_or_notify_cancel(f)); /* already running */
    PP_ASSERT_OK(pp_future_set_result(f, "r", 1));
    CU_ASSERT(pp_future_done(f) && !pp_future_running(f) && !pp_future_cancelled(f));
    pp_future_release(f);

    /* pending -> finished directly is allowed, as in CPython */
    f = new_future();
    PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 3, "boom"));
    CU_ASSERT(pp_future_done(f));
    pp_future_release(f);
}

static void test_cancel(void)
{
    pp_future *f = new_future();
    CU_ASSERT(pp_future_cancel(f));
    CU_ASSERT(pp_future_cancel(f)); /* twice succeeds */
    CU_ASSERT(pp_future_cancelled(f) && pp_future_done(f) && !pp_future_running(f));
    CU_ASSERT(!pp_future_set_running_or_notify_cancel(f));
    CU_ASSERT(pp_future_cancelled(f)); /* stays cancelled */
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ECANCELLED);
    CU_ASSERT_EQUAL(pp_future_result(f, PP_FOREVER, NULL), PP_ECANCELLED);
    const pp_error *e = (const pp_error *)1;
    CU_ASSERT_EQUAL(pp_future_exception(f, 0, &e), PP_ECANCELLED);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_EQUAL(pp_future_set_result(f, "x", 1), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ETASK, 1, "x"), PP_ESTATE);
    pp_future_release(f);

    f = new_future(); /* running: cannot be cancelled */
    CU_ASSERT(pp_future_set_running_or_notify_cancel(f));
    CU_ASSERT(!pp_future_cancel(f));
    CU_ASSERT(!pp_future_cancelled(f));
    PP_ASSERT_OK(pp_future_set_result(f, NULL, 0));
    CU_ASSERT(!pp_future_cancel(f)); /* finished: cannot be cancelled */
    pp_future_release(f);
}

static void test_result_and_error(void)
{
    pp_future *f = new_future();
    char buf[5] = "abcd";
    PP_ASSERT_OK(pp_future_set_result(f, buf, 4));
    memset(buf, 'z', 4); /* copied */
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    CU_ASSERT(r.len == 4 && memcmp(r.data, "abcd", 4) == 0);
    PP_ASSERT_OK(pp_future_result(f, 0, NULL)); /* result may be NULL */
    const pp_error *e = (const pp_error *)1;
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NULL(e); /* success */
    CU_ASSERT_EQUAL(pp_future_set_result(f, "x", 1), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ETASK, 1, "x"), PP_ESTATE);
    pp_future_release(f);

    f = new_future();
    char msg[] = "it failed";
    PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 42, msg));
    msg[0] = 'X'; /* copied */
    r.data = (void *)1;
    r.len = 7;
    CU_ASSERT_EQUAL(pp_future_result(f, 0, &r), PP_ETASK);
    CU_ASSERT_PTR_NULL(r.data);
    CU_ASSERT_EQUAL(r.len, 0);
    PP_ASSERT_OK(pp_future_exception(f, PP_FOREVER, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ETASK);
    CU_ASSERT_EQUAL(e->code, 42);
    CU_ASSERT_EQUAL(e->pid, 0);
    CU_ASSERT_STRING_EQUAL(e->message, "it failed");
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_EBROKEN, 1, NULL), PP_ESTATE);
    pp_future_release(f);

    f = new_future(); /* no message: the status name */
    PP_ASSERT_OK(pp_future_set_error(f, PP_EBROKEN, -9, NULL));
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT(e && e->message && strcmp(e->message, "PP_EBROKEN") == 0);
    pp_future_release(f);
}

static void test_timeouts(void)
{
    pp_future *f = new_future();
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ETIMEDOUT);
    long long t0 = pp_t_now_ms();
    CU_ASSERT_EQUAL(pp_future_result(f, 50, NULL), PP_ETIMEDOUT);
    CU_ASSERT(pp_t_now_ms() - t0 >= 40);
    const pp_error *e = (const pp_error *)1;
    CU_ASSERT_EQUAL(pp_future_exception(f, 10, &e), PP_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT(pp_future_set_running_or_notify_cancel(f));
    CU_ASSERT_EQUAL(pp_future_result(f, 10, NULL), PP_ETIMEDOUT);
    pp_future_release(f);
}

static void set_later(void *arg)
{
    pp_t_sleep_ms(100);
    pp_future_set_result(arg, "late", 4);
}

static void test_wakes_waiter(void)
{
    pp_future *f = new_future();
    pp_t_thread *t = pp_t_thread_start(set_later, f);
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == 4 && memcmp(r.data, "late", 4) == 0);
    pp_t_thread_join(t);
    pp_future_release(f);
}

static void test_refcount(void)
{
    pp_future *f = new_future();
    pp_future_retain(f);
    pp_future_retain(f);
    pp_future_release(f);
    pp_future_release(f);
    PP_ASSERT_OK(pp_future_set_result(f, "still here", 10)); /* one reference left */
    pp_future_release(f);
    pp_future_retain(NULL);
    pp_future_release(NULL);
}

static void test_bad_arguments(void)
{
    CU_ASSERT_EQUAL(pp_future_create(NULL), PP_EINVAL);
    pp_future *f = new_future();
    CU_ASSERT_EQUAL(pp_future_result(NULL, 0, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_result(f, -2, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_result(f, -1000, NULL), PP_EINVAL);
    const pp_error *e;
    CU_ASSERT_EQUAL(pp_future_exception(f, -5, &e), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_exception(f, 0, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_exception(NULL, 0, &e), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_result(NULL, "x", 1), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_result(f, NULL, 1), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_OK, 0, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_END, 0, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ECANCELLED, 0, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, (pp_status)77, 0, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(NULL, PP_ETASK, 0, "x"), PP_EINVAL);
    CU_ASSERT(!pp_future_done(f)); /* none of that changed it */
    CU_ASSERT(!pp_future_cancel(NULL));
    CU_ASSERT(!pp_future_cancelled(NULL) && !pp_future_running(NULL) && !pp_future_done(NULL));
    CU_ASSERT(!pp_future_set_running_or_notify_cancel(NULL));
    pp_future_release(f);
}

/* A submitted future runs when handed to a worker (max_workers + 1 window) and is then no
 * longer cancellable; the rest stay pending and cancellable. */
static void test_running_means_handed_out(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {400, 7};
    pp_future *fs[5];
    for (int i = 0; i < 5; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    long long end = pp_t_now_ms() + PP_T_TIMEOUT_MS;
    pp_executor_stats s;
    do {
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    } while (s.handed_out < 2 && pp_t_now_ms() < end && (pp_t_sleep_ms(5), 1));
    CU_ASSERT_EQUAL(s.handed_out, 2); /* max_workers + 1 */
    CU_ASSERT(pp_future_running(fs[0]) && pp_future_running(fs[1]));
    CU_ASSERT(!pp_future_cancel(fs[0]) && !pp_future_cancel(fs[1]));
    for (int i = 2; i < 5; i++) {
        CU_ASSERT(!pp_future_running(fs[i]));
        CU_ASSERT(pp_future_cancel(fs[i]));
    }
    for (int i = 0; i < 5; i++) {
        pp_buf r;
        pp_status st = pp_future_result(fs[i], PP_T_TIMEOUT_MS, &r);
        if (i < 2) {
            PP_ASSERT_OK(st);
            CU_ASSERT(r.len == 4 && *(const int32_t *)r.data == 7);
        } else {
            CU_ASSERT_EQUAL(st, PP_ECANCELLED);
        }
        pp_future_release(fs[i]);
    }
    pp_executor_shutdown(ex, true, false);
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.cancelled, 3);
    CU_ASSERT_EQUAL(s.completed, 2);
    pp_executor_destroy(ex);
}

/* Releasing a pending executor future does not cancel it: the work still runs. */
static void test_release_pending_does_not_cancel(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_future *f;
    pp_t_sleep_arg a = {50, 1};
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &f));
    pp_future_release(f);
    pp_executor_shutdown(ex, true, false);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.completed, 1);
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"states: pending, running, finished", test_states},
    {"cancel: pending only, twice, then final", test_cancel},
    {"results and errors are copied; set twice is PP_ESTATE", test_result_and_error},
    {"timeouts: 0 polls, small timeouts expire", test_timeouts},
    {"a result set on another thread wakes the waiter", test_wakes_waiter},
    {"retain and release", test_refcount},
    {"bad arguments", test_bad_arguments},
    {"running means handed out (max_workers + 1)", test_running_means_handed_out},
    {"releasing a pending future does not cancel it", test_release_pending_does_not_cancel},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_future = {"future", NULL, NULL, NULL, NULL, tests};
