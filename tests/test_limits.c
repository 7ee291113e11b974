/*
 * The limits suite: stopping one call beyond CPython. A call past its time limit
 * (call_time_limit_ms, pp_call_options.time_limit_ms), one aborted (pp_future_abort), and
 * every running call at pp_executor_stop is first asked to stop (pp_task_should_stop, a
 * flag in memory shared with the worker), then its worker is killed after stop_grace_ms
 * and replaced. None of these breaks the pool or counts as a worker's death. Tasks:
 * until_stopped (returns when asked), stubborn (ignores the request for 30 s).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"

#define BOUND_MS 20000L

static pp_executor *limits_executor(int workers, long limit_ms, long grace_ms)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = workers;
    o.call_time_limit_ms = limit_ms;
    o.stop_grace_ms = grace_ms;
    pp_executor *ex = NULL;
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    return ex;
}

static pp_future *submit_limited(pp_executor *ex, const char *task, const void *arg,
                                 size_t len, long limit_ms)
{
    pp_call_options co;
    pp_call_options_init(&co);
    co.time_limit_ms = limit_ms;
    pp_future *f = NULL;
    PP_ASSERT_OK(pp_submit_ex(ex, task, arg, len, &co, &f));
    return f;
}

static void check_no_deaths(pp_executor *ex, unsigned long long started)
{
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0);
    CU_ASSERT_EQUAL(s.workers_started, started);
}

/* Outside a stop request, and in a plain call, pp_task_should_stop is false. */
static void test_should_stop_false(void)
{
    CU_ASSERT(!pp_task_should_stop(NULL));
    pp_executor *ex = pp_t_executor(1);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "should_stop_now", NULL, 0, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    int32_t v = -1;
    if (r.len == sizeof v)
        memcpy(&v, r.data, sizeof v);
    CU_ASSERT_EQUAL(v, 0);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* A call past its limit is asked to stop; it returns within the grace: PP_ETIMELIMIT, its
 * outcome dropped, its worker reused (no kill, no new worker). */
static void test_time_limit_asked(void)
{
    PP_T_SKIP_IF_FORK("time limits are PP_EINVAL with fork");
    pp_executor *ex = limits_executor(1, 0, 10000);
    long long before = pp_t_task_pid(ex);
    pp_future *f = submit_limited(ex, "until_stopped", NULL, 0, 100);
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ETIMELIMIT);
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ETIMELIMIT);
    CU_ASSERT(e->work_id > 0);
    CU_ASSERT_EQUAL(e->pid, before);
    if (!strstr(e->message, "time limit") || !strstr(e->message, "returned within"))
        fprintf(stderr, "\n  message: %s\n", e->message);
    CU_ASSERT(strstr(e->message, "time limit") != NULL);
    CU_ASSERT(strstr(e->message, "returned within") != NULL);
    CU_ASSERT_EQUAL(pp_t_task_pid(ex), before); /* the same worker goes on */
    check_no_deaths(ex, 1);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* A call that ignores the request is killed after the grace; a new worker serves the next
 * call; the pool is not broken. */
static void test_time_limit_killed(void)
{
    PP_T_SKIP_IF_FORK("time limits are PP_EINVAL with fork");
    pp_executor *ex = limits_executor(1, 0, 100);
    pp_future *f = submit_limited(ex, "stubborn", NULL, 0, 100);
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ETIMELIMIT);
    if (!strstr(e->message, "killed"))
        fprintf(stderr, "\n  message: %s\n", e->message);
    CU_ASSERT(strstr(e->message, "killed") != NULL);
    long long killed = e->pid;
    CU_ASSERT(killed > 0);
    long long next = pp_t_task_pid(ex);
    CU_ASSERT(next > 0 && next != killed);
    CU_ASSERT(!pp_t_pid_alive(killed));
    check_no_deaths(ex, 2);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* The executor's limit applies to pp_submit and to map items; PP_FOREVER lifts it for one
 * call; a call within its limit is untouched. */
static void test_executor_limit(void)
{
    PP_T_SKIP_IF_FORK("time limits are PP_EINVAL with fork");
    pp_executor *ex = limits_executor(2, 150, 0);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "stubborn", NULL, 0, &f));
    CU_ASSERT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_ETIMELIMIT);
    pp_future_release(f);

    pp_t_sleep_arg quick = {10, 5}, slow = {400, 6};
    f = submit_limited(ex, "sleep", &slow, sizeof slow, PP_FOREVER);
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, BOUND_MS, &r)); /* no limit for this one */
    pp_future_release(f);

    pp_buf args[3] = {{&quick, sizeof quick}, {&slow, sizeof slow}, {&quick, sizeof quick}};
    pp_map_iter *it = NULL;
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", args, 3, 1, PP_T_TIMEOUT_MS, &it));
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_map_next(it, &r, &e));
    CU_ASSERT_EQUAL(pp_map_next(it, &r, &e), PP_ETIMELIMIT);
    CU_ASSERT(e && e->status == PP_ETIMELIMIT);
    PP_ASSERT_OK(pp_map_next(it, &r, &e));
    CU_ASSERT_EQUAL(pp_map_next(it, &r, &e), PP_END);
    pp_map_free(it);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0);
    pp_executor_destroy(ex);
}

/* pp_future_abort: pending -> cancelled; running -> asked (returns: PP_ECANCELLED, worker
 * reused) or killed after the grace; finished -> PP_ESTATE. */
static void test_abort(void)
{
    CU_ASSERT_EQUAL(pp_future_abort(NULL), PP_EINVAL);
    pp_future *mine = NULL;
    PP_ASSERT_OK(pp_future_create(&mine));
    PP_ASSERT_OK(pp_future_abort(mine)); /* pending, not an executor's: cancelled */
    CU_ASSERT(pp_future_cancelled(mine));
    pp_future_release(mine);
    PP_ASSERT_OK(pp_future_create(&mine));
    CU_ASSERT(pp_future_set_running_or_notify_cancel(mine));
    CU_ASSERT_EQUAL(pp_future_abort(mine), PP_ENOTSUP);
    CU_ASSERT(strstr(pp_last_error(), "pp_future_abort") != NULL);
    PP_ASSERT_OK(pp_future_set_result(mine, NULL, 0));
    CU_ASSERT_EQUAL(pp_future_abort(mine), PP_ESTATE);
    pp_future_release(mine);

    pp_executor *ex = limits_executor(1, 0, 10000);
    pp_future *run = NULL, *queued = NULL, *third = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "until_stopped", NULL, 0, &run));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &queued)); /* handed out, waiting */
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &third));  /* pending */
    long long t0 = pp_t_now_ms();
    while (!pp_future_running(run) && pp_t_now_ms() - t0 < BOUND_MS)
        pp_t_sleep_ms(2);
    if (pp_t_start == PP_START_FORK) {
        CU_ASSERT_EQUAL(pp_future_abort(run), PP_ENOTSUP);
        PP_ASSERT_OK(pp_future_abort(third));
        CU_ASSERT(pp_future_cancelled(third));
        pp_executor_stop(ex, 0);
    } else {
        PP_ASSERT_OK(pp_future_abort(third));
        CU_ASSERT(pp_future_cancelled(third));
        PP_ASSERT_OK(pp_future_abort(queued)); /* not started: ends at once */
        CU_ASSERT_EQUAL(pp_future_result(queued, BOUND_MS, NULL), PP_ECANCELLED);
        PP_ASSERT_OK(pp_future_abort(run));
        const pp_error *e = NULL;
        PP_ASSERT_OK(pp_future_exception(run, BOUND_MS, &e));
        CU_ASSERT(e && e->status == PP_ECANCELLED && strstr(e->message, "abort"));
        CU_ASSERT(!pp_future_cancelled(run)); /* it had started */
        CU_ASSERT_EQUAL(pp_future_abort(run), PP_ESTATE);
        long long pid = e ? e->pid : 0;
        CU_ASSERT_EQUAL(pp_t_task_pid(ex), pid); /* it returned: the worker is reused */
        check_no_deaths(ex, 1);
    }
    pp_future_release(run);
    pp_future_release(queued);
    pp_future_release(third);
    pp_executor_destroy(ex);

    /* a call that ignores the request: killed after the grace, replaced */
    if (pp_t_start != PP_START_FORK) {
        ex = limits_executor(1, 0, 50);
        PP_ASSERT_OK_FATAL(pp_submit(ex, "stubborn", NULL, 0, &run));
        t0 = pp_t_now_ms();
        while (!pp_future_running(run) && pp_t_now_ms() - t0 < BOUND_MS)
            pp_t_sleep_ms(2);
        PP_ASSERT_OK(pp_future_abort(run));
        const pp_error *e = NULL;
        PP_ASSERT_OK(pp_future_exception(run, BOUND_MS, &e));
        CU_ASSERT(e && e->status == PP_ECANCELLED && strstr(e->message, "killed"));
        long long dead = e ? e->pid : 0;
        long long next = pp_t_task_pid(ex);
        CU_ASSERT(next > 0 && next != dead);
        check_no_deaths(ex, 2);
        pp_future_release(run);
        pp_executor_destroy(ex);
    }
}

/* pp_executor_stop: pending cancelled, a call that returns within the grace keeps its
 * outcome, one that does not is killed (PP_ECANCELLED); later submits PP_ESHUTDOWN; never
 * broken, nothing counted as a death. Every start method. */
static void test_executor_stop(void)
{
    pp_executor *ex = limits_executor(2, 0, 0);
    CU_ASSERT_EQUAL(pp_executor_stop(NULL, 0), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_executor_stop(ex, -1), PP_EINVAL);
    pp_future *coop = NULL, *stub = NULL, *pend[3];
    PP_ASSERT_OK_FATAL(pp_submit(ex, "until_stopped", NULL, 0, &coop));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "stubborn", NULL, 0, &stub));
    for (int i = 0; i < 3; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &pend[i]));
    long long t0 = pp_t_now_ms();
    while ((!pp_future_running(coop) || !pp_future_running(stub)) &&
           pp_t_now_ms() - t0 < BOUND_MS)
        pp_t_sleep_ms(2);
    pp_t_sleep_ms(50); /* both calls have started in their workers */
    PP_ASSERT_OK(pp_executor_stop(ex, 1000));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(coop, BOUND_MS, &r)); /* returned within the grace */
    int32_t asked = 0;
    if (r.len == sizeof asked)
        memcpy(&asked, r.data, sizeof asked);
    CU_ASSERT_EQUAL(asked, 1);
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(stub, BOUND_MS, &e));
    CU_ASSERT(e && e->status == PP_ECANCELLED && strstr(e->message, "pp_executor_stop"));
    int cancelled = 0;
    for (int i = 0; i < 3; i++) {
        pp_status st = pp_future_result(pend[i], BOUND_MS, NULL);
        CU_ASSERT(st == PP_ECANCELLED);
        cancelled += st == PP_ECANCELLED;
    }
    CU_ASSERT_EQUAL(cancelled, 3);
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &g), PP_ESHUTDOWN);
    PP_ASSERT_OK(pp_executor_stop(ex, 0)); /* again: harmless */
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0);
    CU_ASSERT_EQUAL(s.workers, 0);
    pp_future_release(coop);
    pp_future_release(stub);
    for (int i = 0; i < 3; i++)
        pp_future_release(pend[i]);
    pp_executor_destroy(ex);
}

/* Options and call options: bad values, and fork. */
static void test_limit_options(void)
{
    pp_executor_options o;
    pp_executor *ex = (pp_executor *)1;
    pp_t_options_init(&o);
    o.call_time_limit_ms = -2;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT(strstr(pp_last_error(), "call_time_limit_ms") != NULL);
    pp_t_options_init(&o);
    o.stop_grace_ms = -1;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT(strstr(pp_last_error(), "stop_grace_ms") != NULL);
    pp_call_options co;
    pp_call_options_init(&co);
    CU_ASSERT_EQUAL(co.time_limit_ms, 0);
    CU_ASSERT_EQUAL(co.submit_wait_ms, PP_FOREVER);
    pp_call_options_init(NULL);
    ex = pp_t_executor(1);
    pp_future *f = (pp_future *)1;
    co.time_limit_ms = -3;
    CU_ASSERT_EQUAL(pp_submit_ex(ex, "noop", NULL, 0, &co, &f), PP_EINVAL);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT(strstr(pp_last_error(), "pp_submit_ex") != NULL);
    pp_call_options_init(&co);
    co.time_limit_ms = 1000;
    if (pp_t_start == PP_START_FORK) {
        CU_ASSERT_EQUAL(pp_submit_ex(ex, "noop", NULL, 0, &co, &f), PP_EINVAL);
        CU_ASSERT(strstr(pp_last_error(), "PP_START_FORK") != NULL);
        pp_t_options_init(&o);
        o.call_time_limit_ms = 10;
        pp_executor *other = (pp_executor *)1;
        CU_ASSERT_EQUAL(pp_executor_create(&o, &other), PP_EINVAL);
        CU_ASSERT_PTR_NULL(other);
    } else {
        PP_ASSERT_OK(pp_submit_ex(ex, "noop", NULL, 0, &co, &f)); /* within its limit */
        PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
        pp_future_release(f);
        PP_ASSERT_OK(pp_submit_ex(ex, "noop", NULL, 0, NULL, &f)); /* NULL: defaults */
        PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
        pp_future_release(f);
    }
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"options and call options", test_limit_options},
    {"pp_task_should_stop is false unless asked", test_should_stop_false},
    {"time limit: asked, returns within the grace, worker reused", test_time_limit_asked},
    {"time limit: ignored, killed after the grace, replaced", test_time_limit_killed},
    {"the executor's limit: submit and map; PP_FOREVER lifts it", test_executor_limit},
    {"pp_future_abort: pending, queued, running, finished", test_abort},
    {"pp_executor_stop: grace kept, stubborn killed, pending cancelled", test_executor_stop},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_limits = {"limits", NULL, NULL, NULL, NULL, tests};
