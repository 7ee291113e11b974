/*
 * The future suite: the state machine of one future (pending -> running -> finished,
 * pending -> cancelled), results and errors, timeouts, waking a waiter from another thread,
 * reference counting, argument checks; and, with a real executor, when a submitted future
 * becomes running (handed to a worker: the max_workers + 1 window) and stops being
 * cancellable. CPython: Lib/test/test_concurrent_futures/test_future.py.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"

/* Generous bound for "this should not have waited for its timeout". */
#define HANG_MS 10000LL

/* ---- helpers ---- */

static pp_future *new_running(void)
{
    pp_future *f = pp_t_new_future();
    CU_ASSERT_FATAL(pp_future_set_running_or_notify_cancel(f));
    return f;
}

static pp_future *new_finished(int32_t v)
{
    pp_future *f = pp_t_new_future();
    PP_ASSERT_OK_FATAL(pp_future_set_result(f, &v, sizeof v));
    return f;
}

static pp_future *new_failed(pp_status st, int code, const char *msg)
{
    pp_future *f = pp_t_new_future();
    PP_ASSERT_OK_FATAL(pp_future_set_error(f, st, code, msg));
    return f;
}

static pp_future *new_cancelled(void)
{
    pp_future *f = pp_t_new_future();
    CU_ASSERT_FATAL(pp_future_cancel(f));
    return f;
}

/* The four observable flags of a future, compared in one assertion each. */
#define CHECK_FLAGS(f, running, cancelled, done)                                                   \
    do {                                                                                           \
        CU_ASSERT_EQUAL(pp_future_running(f), (running));                                          \
        CU_ASSERT_EQUAL(pp_future_cancelled(f), (cancelled));                                      \
        CU_ASSERT_EQUAL(pp_future_done(f), (done));                                                \
    } while (0)

/* PP_FOREVER, for a future the test has just made done (a done future never changes, so
 * the wait returns at once); 0 with a failure if it is not done, so that a broken library
 * fails the test instead of hanging it. */
static long forever_if_done(pp_future *f)
{
    if (pp_future_done(f))
        return PP_FOREVER;
    CU_FAIL("future expected done is not");
    return 0;
}

static int32_t result_i32(pp_future *f)
{
    pp_buf r = {NULL, 0};
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    int32_t v = INT32_MIN;
    CU_ASSERT_EQUAL(r.len, sizeof v);
    if (r.len == sizeof v)
        memcpy(&v, r.data, sizeof v);
    return v;
}

/* Polls pred(f) every 2 ms until it holds or ms pass. */
static bool poll_until(bool (*pred)(pp_future *), pp_future *f, long long ms)
{
    long long end = pp_t_now_ms() + ms;
    while (!pred(f)) {
        if (pp_t_now_ms() > end)
            return false;
        pp_t_sleep_ms(2);
    }
    return true;
}

/* A helper thread that sleeps, then completes a future one way or another. */
typedef enum { DO_RESULT, DO_ERROR, DO_CANCEL } action;
typedef struct {
    pp_future *f;
    unsigned delay_ms;
    action what;
    int32_t value;
    pp_status st; /* what the action returned (DO_CANCEL: PP_OK if cancel was true) */
} later;

static void later_main(void *p)
{
    later *l = p;
    pp_t_sleep_ms(l->delay_ms);
    switch (l->what) {
    case DO_RESULT:
        l->st = pp_future_set_result(l->f, &l->value, sizeof l->value);
        break;
    case DO_ERROR:
        l->st = pp_future_set_error(l->f, PP_ETASK, l->value, "from a thread");
        break;
    case DO_CANCEL:
        l->st = pp_future_cancel(l->f) ? PP_OK : PP_ESTATE;
        break;
    }
}

static pp_executor_stats stats(pp_executor *ex)
{
    pp_executor_stats s;
    memset(&s, 0, sizeof s);
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    return s;
}

/* ---- the state machine, without an executor ---- */

static void test_pending_running_finished(void)
{
    pp_future *f = pp_t_new_future();
    CHECK_FLAGS(f, false, false, false);

    CU_ASSERT_TRUE(pp_future_set_running_or_notify_cancel(f));
    CHECK_FLAGS(f, true, false, false);
    /* a second call changes nothing */
    CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(f));
    CHECK_FLAGS(f, true, false, false);

    int32_t v = 42;
    PP_ASSERT_OK(pp_future_set_result(f, &v, sizeof v));
    CHECK_FLAGS(f, false, false, true);
    CU_ASSERT_EQUAL(result_i32(f), 42);
    CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(f));
    CHECK_FLAGS(f, false, false, true);
    pp_future_release(f);

    /* running -> finished with an error */
    f = new_running();
    PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 3, "bad"));
    CHECK_FLAGS(f, false, false, true);
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ETASK);
    pp_future_release(f);
}

static void test_pending_to_finished_directly(void)
{
    /* CPython allows set_result / set_exception on a pending future (no running step). */
    pp_future *f = pp_t_new_future();
    int32_t v = 7;
    PP_ASSERT_OK(pp_future_set_result(f, &v, sizeof v));
    CHECK_FLAGS(f, false, false, true);
    CU_ASSERT_EQUAL(result_i32(f), 7);
    CU_ASSERT_FALSE(pp_future_cancel(f));
    pp_future_release(f);

    f = pp_t_new_future();
    PP_ASSERT_OK(pp_future_set_error(f, PP_ESYS, 2, "no"));
    CHECK_FLAGS(f, false, false, true);
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ESYS);
    pp_future_release(f);
}

static void test_pending_cancelled(void)
{
    pp_future *f = pp_t_new_future();
    CU_ASSERT_TRUE(pp_future_cancel(f));
    CHECK_FLAGS(f, false, true, true);
    /* cancelling twice succeeds */
    CU_ASSERT_TRUE(pp_future_cancel(f));
    CHECK_FLAGS(f, false, true, true);

    /* set_running_or_notify_cancel on a cancelled future: false, and it stays cancelled */
    CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(f));
    CHECK_FLAGS(f, false, true, true);
    CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(f));
    CHECK_FLAGS(f, false, true, true);
    CU_ASSERT_TRUE(pp_future_cancel(f));

    pp_buf r = {(void *)1, 5};
    CU_ASSERT_EQUAL(pp_future_result(f, 0, &r), PP_ECANCELLED);
    CU_ASSERT_PTR_NULL(r.data);
    CU_ASSERT_EQUAL(r.len, 0);
    CU_ASSERT_EQUAL(pp_future_result(f, 100, NULL), PP_ECANCELLED);
    CU_ASSERT_EQUAL(pp_future_result(f, forever_if_done(f), NULL), PP_ECANCELLED);
    const pp_error *e = (const pp_error *)1;
    CU_ASSERT_EQUAL(pp_future_exception(f, 0, &e), PP_ECANCELLED);
    CU_ASSERT_PTR_NULL(e);
    e = (const pp_error *)1;
    CU_ASSERT_EQUAL(pp_future_exception(f, forever_if_done(f), &e), PP_ECANCELLED);
    CU_ASSERT_PTR_NULL(e);
    pp_future_release(f);
}

static void test_cancel_running_or_finished_fails(void)
{
    pp_future *f = new_running();
    CU_ASSERT_FALSE(pp_future_cancel(f));
    CHECK_FLAGS(f, true, false, false);
    CU_ASSERT_FALSE(pp_future_cancel(f));
    int32_t v = 1;
    PP_ASSERT_OK(pp_future_set_result(f, &v, sizeof v)); /* still completable */
    CU_ASSERT_FALSE(pp_future_cancel(f));
    CHECK_FLAGS(f, false, false, true);
    CU_ASSERT_EQUAL(result_i32(f), 1);
    pp_future_release(f);

    f = new_finished(5);
    CU_ASSERT_FALSE(pp_future_cancel(f));
    CHECK_FLAGS(f, false, false, true);
    CU_ASSERT_EQUAL(result_i32(f), 5);
    pp_future_release(f);

    f = new_failed(PP_ETASK, 9, "x");
    CU_ASSERT_FALSE(pp_future_cancel(f));
    CHECK_FLAGS(f, false, false, true);
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ETASK);
    pp_future_release(f);
}

static void test_set_on_done_is_estate(void)
{
    int32_t other = 99;
    /* finished with a result */
    pp_future *f = new_finished(5);
    CU_ASSERT_EQUAL(pp_future_set_result(f, &other, sizeof other), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_result(f, NULL, 0), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ETASK, 1, "late"), PP_ESTATE);
    CU_ASSERT_EQUAL(result_i32(f), 5); /* unchanged */
    const pp_error *e = (const pp_error *)1;
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NULL(e);
    pp_future_release(f);

    /* finished with an error */
    f = new_failed(PP_ETASK, 4, "first");
    CU_ASSERT_EQUAL(pp_future_set_result(f, &other, sizeof other), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_EBROKEN, 1, "second"), PP_ESTATE);
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ETASK);
    CU_ASSERT_EQUAL(e->code, 4);
    CU_ASSERT_STRING_EQUAL(e->message, "first");
    pp_future_release(f);

    /* cancelled */
    f = new_cancelled();
    CU_ASSERT_EQUAL(pp_future_set_result(f, &other, sizeof other), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ETASK, 1, "late"), PP_ESTATE);
    CHECK_FLAGS(f, false, true, true);
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ECANCELLED);
    /* ... also after set_running_or_notify_cancel saw the cancellation */
    CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(f));
    CU_ASSERT_EQUAL(pp_future_set_result(f, &other, sizeof other), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ETASK, 1, "late"), PP_ESTATE);
    CHECK_FLAGS(f, false, true, true);
    pp_future_release(f);
}

static void test_result_timeouts(void)
{
    /* pending and running futures: timeout 0 polls, a small timeout expires */
    pp_future *fs[2] = {pp_t_new_future(), new_running()};
    for (int i = 0; i < 2; i++) {
        pp_future *f = fs[i];
        pp_buf r = {(void *)1, 3};
        long long t0 = pp_t_now_ms();
        CU_ASSERT_EQUAL(pp_future_result(f, 0, &r), PP_ETIMEDOUT);
        CU_ASSERT_PTR_NULL(r.data);
        CU_ASSERT_EQUAL(r.len, 0);
        r.data = (void *)1;
        r.len = 3;
        CU_ASSERT_EQUAL(pp_future_result(f, 50, &r), PP_ETIMEDOUT);
        CU_ASSERT_PTR_NULL(r.data);
        CU_ASSERT_EQUAL(r.len, 0);
        CU_ASSERT_EQUAL(pp_future_result(f, 1, NULL), PP_ETIMEDOUT);

        const pp_error *e = (const pp_error *)1;
        CU_ASSERT_EQUAL(pp_future_exception(f, 0, &e), PP_ETIMEDOUT);
        CU_ASSERT_PTR_NULL(e);
        e = (const pp_error *)1;
        CU_ASSERT_EQUAL(pp_future_exception(f, 50, &e), PP_ETIMEDOUT);
        CU_ASSERT_PTR_NULL(e);
        CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
        /* waiting did not change the state */
        CHECK_FLAGS(f, i == 1, false, false);
    }
    /* done futures answer at once whatever the timeout */
    for (int i = 0; i < 2; i++) {
        int32_t v = 10 + i;
        PP_ASSERT_OK(pp_future_set_result(fs[i], &v, sizeof v));
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(fs[i], 0, &r));
        PP_ASSERT_OK(pp_future_result(fs[i], 1, &r));
        PP_ASSERT_OK(pp_future_result(fs[i], forever_if_done(fs[i]), &r));
        CU_ASSERT_EQUAL(result_i32(fs[i]), 10 + i);
        pp_future_release(fs[i]);
    }
}

static void test_error_details(void)
{
    char msg[] = "boom: disk on fire";
    pp_future *f = new_running();
    PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 42, msg));
    msg[0] = 'X'; /* the message was copied */

    pp_buf r = {(void *)1, 8};
    CU_ASSERT_EQUAL(pp_future_result(f, 0, &r), PP_ETASK);
    CU_ASSERT_PTR_NULL(r.data);
    CU_ASSERT_EQUAL(r.len, 0);
    CU_ASSERT_EQUAL(pp_future_result(f, forever_if_done(f), NULL), PP_ETASK);

    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ETASK);
    CU_ASSERT_EQUAL(e->code, 42);
    CU_ASSERT_EQUAL(e->pid, 0); /* no worker involved */
    CU_ASSERT_PTR_NOT_NULL_FATAL(e->message);
    CU_ASSERT_STRING_EQUAL(e->message, "boom: disk on fire");
    CU_ASSERT_PTR_NOT_EQUAL(e->message, msg);
    /* the same error every time, valid while we hold the reference */
    const pp_error *e2 = NULL;
    PP_ASSERT_OK(pp_future_exception(f, forever_if_done(f), &e2));
    CU_ASSERT_PTR_EQUAL(e, e2);
    pp_future_release(f);

    /* NULL message: the status name */
    f = new_failed(PP_EBROKEN, -9, NULL);
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    CU_ASSERT_EQUAL(e->code, -9);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e->message);
    CU_ASSERT_STRING_EQUAL(e->message, pp_status_str(PP_EBROKEN));
    pp_future_release(f);

    /* empty message is kept as is */
    f = new_failed(PP_ETASK, 1, "");
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e->message);
    CU_ASSERT_STRING_EQUAL(e->message, "");
    pp_future_release(f);

    /* every error status is accepted, and result() returns it */
    static const pp_status errs[] = {PP_EINVAL,   PP_ENOMEM,      PP_ETIMEDOUT, PP_ESHUTDOWN,
                                     PP_EBROKEN,  PP_ETASK,       PP_ENOTASK,   PP_ESTATE,
                                     PP_ENOTSUP,  PP_ESYS,        PP_EWORKERDIED,
                                     PP_ETIMELIMIT};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        f = pp_t_new_future();
        PP_ASSERT_OK(pp_future_set_error(f, errs[i], (int)i, "m"));
        CHECK_FLAGS(f, false, false, true);
        CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), errs[i]);
        e = NULL;
        PP_ASSERT_OK(pp_future_exception(f, 0, &e));
        CU_ASSERT(e && e->status == errs[i] && e->code == (int)i && strcmp(e->message, "m") == 0);
        pp_future_release(f);
    }
}

static void test_exception_on_success_is_null(void)
{
    pp_future *f = new_finished(3);
    const pp_error *e = (const pp_error *)1;
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NULL(e);
    e = (const pp_error *)1;
    PP_ASSERT_OK(pp_future_exception(f, forever_if_done(f), &e));
    CU_ASSERT_PTR_NULL(e);
    pp_future_release(f);

    /* an empty result is a success too */
    f = pp_t_new_future();
    PP_ASSERT_OK(pp_future_set_result(f, NULL, 0));
    e = (const pp_error *)1;
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NULL(e);
    pp_buf r = {(void *)1, 4};
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    CU_ASSERT_EQUAL(r.len, 0);
    pp_future_release(f);
}

static void test_result_bytes_copied(void)
{
    unsigned char buf[256];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)i;
    pp_future *f = new_running();
    PP_ASSERT_OK(pp_future_set_result(f, buf, sizeof buf));
    memset(buf, 0xEE, sizeof buf);

    pp_buf r = {NULL, 0};
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    CU_ASSERT_EQUAL_FATAL(r.len, sizeof buf);
    CU_ASSERT_PTR_NOT_EQUAL(r.data, buf);
    const unsigned char *p = r.data;
    int same = 1;
    for (size_t i = 0; i < sizeof buf; i++)
        same &= p[i] == (unsigned char)i;
    CU_ASSERT_TRUE(same);

    /* stable while the reference is held, also across another holder's retain/release */
    pp_future_retain(f);
    pp_buf r2 = {NULL, 0};
    PP_ASSERT_OK(pp_future_result(f, forever_if_done(f), &r2));
    pp_future_release(f);
    CU_ASSERT_PTR_EQUAL(r.data, r2.data);
    CU_ASSERT_EQUAL(r.len, r2.len);
    CU_ASSERT_EQUAL(((const unsigned char *)r.data)[255], 255);
    pp_future_release(f);

    /* a large result */
    size_t big_n = 4u << 20;
    unsigned char *big = malloc(big_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    pp_t_fill(big, big_n, 77);
    uint64_t h = pp_t_fnv1a(big, big_n);
    f = pp_t_new_future();
    PP_ASSERT_OK(pp_future_set_result(f, big, big_n));
    memset(big, 0, big_n);
    free(big);
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    CU_ASSERT_EQUAL_FATAL(r.len, big_n);
    CU_ASSERT_EQUAL(pp_t_fnv1a(r.data, r.len), h);
    pp_future_release(f);
}

static void test_completed_from_another_thread(void)
{
    static const action acts[] = {DO_RESULT, DO_ERROR, DO_CANCEL};
    for (size_t k = 0; k < 3; k++) {
        /* result() and exception() both wake when another thread completes the future */
        for (int use_exception = 0; use_exception < 2; use_exception++) {
            pp_future *f = k == 2 ? pp_t_new_future() : new_running();
            later l = {f, 150, acts[k], 31, PP_EINVAL};
            long long t0 = pp_t_now_ms();
            pp_t_thread *t = pp_t_thread_start(later_main, &l);
            pp_status st;
            const pp_error *e = NULL;
            pp_buf r = {NULL, 0};
            if (use_exception)
                st = pp_future_exception(f, 20000, &e);
            else
                st = pp_future_result(f, 20000, &r);
            long long dt = pp_t_now_ms() - t0;
            pp_t_thread_join(t);
            PP_ASSERT_OK(l.st);
            CU_ASSERT(dt < HANG_MS); /* woken, not timed out */
            switch (acts[k]) {
            case DO_RESULT:
                PP_ASSERT_OK(st);
                if (use_exception) {
                    CU_ASSERT_PTR_NULL(e);
                } else {
                    CU_ASSERT(r.len == 4 && memcmp(r.data, &l.value, 4) == 0);
                }
                break;
            case DO_ERROR:
                if (use_exception) {
                    PP_ASSERT_OK(st);
                    CU_ASSERT(e && e->status == PP_ETASK && e->code == 31 &&
                              strcmp(e->message, "from a thread") == 0);
                } else {
                    CU_ASSERT_EQUAL(st, PP_ETASK);
                }
                break;
            case DO_CANCEL:
                CU_ASSERT_EQUAL(st, PP_ECANCELLED);
                CU_ASSERT_TRUE(pp_future_cancelled(f));
                break;
            }
            CU_ASSERT_TRUE(pp_future_done(f));
            pp_future_release(f);
        }
    }
}

typedef struct {
    pp_future *f;
    int n;
    pp_status st[8];
} waiter_arg;

static void waiter_main(void *p)
{
    waiter_arg *w = p;
    for (int i = 0; i < w->n; i++)
        w->st[i] = pp_future_result(w->f, 20000, NULL);
}

static void test_many_waiters_woken(void)
{
    /* several threads wait on one future; one set_result wakes them all */
    pp_future *f = new_running();
    waiter_arg wa[4];
    pp_t_thread *t[4];
    for (int i = 0; i < 4; i++) {
        wa[i].f = f;
        wa[i].n = 1;
        wa[i].st[0] = PP_EINVAL;
        t[i] = pp_t_thread_start(waiter_main, &wa[i]);
    }
    pp_t_sleep_ms(100);
    long long t0 = pp_t_now_ms();
    int32_t v = 1;
    PP_ASSERT_OK(pp_future_set_result(f, &v, sizeof v));
    for (int i = 0; i < 4; i++) {
        pp_t_thread_join(t[i]);
        PP_ASSERT_OK(wa[i].st[0]);
    }
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_future_release(f);
}

static void test_refcount(void)
{
    pp_future *f = pp_t_new_future();
    pp_future_retain(f);
    pp_future_retain(f);
    pp_future_release(f);
    pp_future_release(f);
    /* one reference left: still fully usable */
    CHECK_FLAGS(f, false, false, false);
    int32_t v = 8;
    PP_ASSERT_OK(pp_future_set_result(f, &v, sizeof v));
    CU_ASSERT_EQUAL(result_i32(f), 8);

    /* a result stays valid as long as any reference is held, whoever created it */
    pp_future_retain(f);
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    pp_future_release(f); /* the original */
    CU_ASSERT(r.len == 4 && memcmp(r.data, &v, 4) == 0);
    pp_future_release(f); /* the last: freed (valgrind checks) */

    /* NULL is a no-op */
    pp_future_retain(NULL);
    pp_future_release(NULL);

    /* releasing a pending future does not cancel it: another holder still sees it pending */
    f = pp_t_new_future();
    pp_future_retain(f);
    pp_future_release(f);
    CHECK_FLAGS(f, false, false, false);
    CU_ASSERT_TRUE(pp_future_set_running_or_notify_cancel(f));
    pp_future_release(f); /* released while running, never finished: no leak */

    /* freeing each kind of future (valgrind checks nothing leaks) */
    pp_future_release(pp_t_new_future());
    pp_future_release(new_cancelled());
    pp_future_release(new_failed(PP_ETASK, 1, "leak check"));
    pp_future_release(new_finished(1));
}

static void churn_main(void *p)
{
    pp_future *f = p;
    for (int i = 0; i < 20000; i++) {
        pp_future_retain(f);
        pp_future_release(f);
    }
    pp_future_release(f); /* the reference the starter gave this thread */
}

static void test_refcount_threads(void)
{
    pp_future *f = new_finished(6);
    pp_t_thread *t[3];
    for (int i = 0; i < 3; i++) {
        pp_future_retain(f);
        t[i] = pp_t_thread_start(churn_main, f);
    }
    for (int i = 0; i < 20000; i++) {
        pp_future_retain(f);
        pp_future_release(f);
    }
    for (int i = 0; i < 3; i++)
        pp_t_thread_join(t[i]);
    CU_ASSERT_EQUAL(result_i32(f), 6); /* still alive: ours is the last reference */
    pp_future_release(f);
}

static void test_invalid_arguments(void)
{
    CU_ASSERT_EQUAL(pp_future_create(NULL), PP_EINVAL);

    /* NULL future */
    pp_buf r = {(void *)1, 3};
    CU_ASSERT_EQUAL(pp_future_result(NULL, 0, &r), PP_EINVAL);
    CU_ASSERT_PTR_NULL(r.data);
    CU_ASSERT_EQUAL(r.len, 0);
    CU_ASSERT_EQUAL(pp_future_result(NULL, PP_FOREVER, NULL), PP_EINVAL);
    const pp_error *e = (const pp_error *)1;
    CU_ASSERT_EQUAL(pp_future_exception(NULL, 0, &e), PP_EINVAL);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_FALSE(pp_future_cancel(NULL));
    CU_ASSERT_FALSE(pp_future_cancelled(NULL));
    CU_ASSERT_FALSE(pp_future_running(NULL));
    CU_ASSERT_FALSE(pp_future_done(NULL));
    CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(NULL));
    CU_ASSERT_EQUAL(pp_future_set_result(NULL, "x", 1), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_result(NULL, NULL, 0), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(NULL, PP_ETASK, 1, "x"), PP_EINVAL);

    pp_future *f = pp_t_new_future();
    /* exception() needs somewhere to put the error */
    CU_ASSERT_EQUAL(pp_future_exception(f, 0, NULL), PP_EINVAL);
    /* data NULL with len > 0 */
    CU_ASSERT_EQUAL(pp_future_set_result(f, NULL, 4), PP_EINVAL);
    /* statuses that are not errors, and unknown ones */
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_OK, 1, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_END, 1, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ECANCELLED, 1, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, (pp_status)(PP_ETIMELIMIT + 1), 1, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, (pp_status)1000, 1, "x"), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_future_set_error(f, (pp_status)-1, 1, "x"), PP_EINVAL);
    /* negative timeouts other than PP_FOREVER (small ones on a pending future: a library
     * that took them for a deadline in the past would still not hang) */
    static const long bad[] = {-2, -100};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r.data = (void *)1;
        r.len = 3;
        CU_ASSERT_EQUAL(pp_future_result(f, bad[i], &r), PP_EINVAL);
        CU_ASSERT_PTR_NULL(r.data);
        CU_ASSERT_EQUAL(r.len, 0);
        e = (const pp_error *)1;
        CU_ASSERT_EQUAL(pp_future_exception(f, bad[i], &e), PP_EINVAL);
        CU_ASSERT_PTR_NULL(e);
    }
    /* none of that changed the future */
    CHECK_FLAGS(f, false, false, false);
    CU_ASSERT_TRUE(pp_future_set_running_or_notify_cancel(f));
    /* invalid timeouts are rejected on a done future too (checked before waiting) */
    int32_t v = 2;
    PP_ASSERT_OK(pp_future_set_result(f, &v, sizeof v));
    static const long bad_done[] = {-2, -1000000, LONG_MIN, LONG_MIN + 1};
    for (size_t i = 0; i < sizeof bad_done / sizeof bad_done[0]; i++) {
        r.data = (void *)1;
        r.len = 3;
        CU_ASSERT_EQUAL(pp_future_result(f, bad_done[i], &r), PP_EINVAL);
        CU_ASSERT_PTR_NULL(r.data);
        CU_ASSERT_EQUAL(r.len, 0);
        e = (const pp_error *)1;
        CU_ASSERT_EQUAL(pp_future_exception(f, bad_done[i], &e), PP_EINVAL);
        CU_ASSERT_PTR_NULL(e);
    }
    CU_ASSERT_EQUAL(result_i32(f), 2);
    pp_future_release(f);

    CU_ASSERT_STRING_EQUAL(pp_status_str(PP_ECANCELLED), "PP_ECANCELLED");
    CU_ASSERT_PTR_NOT_NULL(pp_status_str((pp_status)1000));
}

static void set_now_main(void *p)
{
    int32_t v = 3;
    pp_future_set_result(p, &v, sizeof v);
}

static void test_stress_wake_races(void)
{
    /* the completion races with the waiter going to sleep: no wakeup may be lost */
    enum { ROUNDS = 500 };
    long long t0 = pp_t_now_ms();
    int bad = 0;
    for (int i = 0; i < ROUNDS; i++) {
        pp_future *f = pp_t_new_future();
        pp_t_thread *t = pp_t_thread_start(set_now_main, f);
        pp_buf r = {NULL, 0};
        bad += pp_future_result(f, 20000, &r) != PP_OK || r.len != 4;
        pp_t_thread_join(t);
        pp_future_release(f);
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(pp_t_now_ms() - t0 < 60000);
}

/* ---- with an executor: running means handed to a worker ---- */

static pp_future *submit_sleep(pp_executor *ex, uint32_t ms, int32_t value)
{
    pp_t_sleep_arg a = {ms, value};
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &f));
    return f;
}

static void test_executor_running_not_cancellable(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_future *f = submit_sleep(ex, 2000, 17);
    /* it becomes running (handed out) without anybody waiting on it; the task sleeps for two
     * seconds once a worker has started it, so it is still running when we look */
    CU_ASSERT_FATAL(poll_until(pp_future_running, f, HANG_MS));
    CU_ASSERT_FALSE(pp_future_done(f));
    CU_ASSERT_FALSE(pp_future_cancel(f));
    CU_ASSERT_FALSE(pp_future_cancelled(f));
    CU_ASSERT_TRUE(pp_future_running(f));
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_ETIMEDOUT);
    CU_ASSERT_EQUAL(pp_future_result(f, 20, NULL), PP_ETIMEDOUT);
    CU_ASSERT_TRUE(pp_future_running(f)); /* waiting changed nothing */

    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CHECK_FLAGS(f, false, false, true);
    CU_ASSERT(r.len == 4 && *(const int32_t *)r.data == 17);
    CU_ASSERT_FALSE(pp_future_cancel(f));
    const pp_error *e = (const pp_error *)1;
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NULL(e);
    /* an executor future is completed once: the caller cannot finish it again */
    int32_t v = 0;
    CU_ASSERT_EQUAL(pp_future_set_result(f, &v, sizeof v), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ETASK, 1, "x"), PP_ESTATE);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* Polls the executor's stats every 2 ms until handed_out == want or ms pass. */
static bool poll_handed_out(pp_executor *ex, size_t want, long long ms)
{
    long long end = pp_t_now_ms() + ms;
    for (;;) {
        pp_executor_stats s;
        if (pp_executor_stats_get(ex, &s) == PP_OK && s.handed_out == want)
            return true;
        if (pp_t_now_ms() > end)
            return false;
        pp_t_sleep_ms(2);
    }
}

static void test_executor_window_of_max_workers_plus_one(void)
{
    PP_T_SKIP_IF_PIPELINE(PP_T_WINDOW_PIN);
    /* max_workers = 1: at most 2 items are handed out (the worker's and one queued call);
     * they are running and cannot be cancelled; the rest are pending and can. */
    enum { N = 6 };
    pp_executor *ex = pp_t_executor(1);
    pp_future *f[N];
    f[0] = submit_sleep(ex, 2500, 0); /* holds the worker long enough to look around */
    for (int i = 1; i < N; i++)
        f[i] = submit_sleep(ex, 0, i);

    CU_ASSERT_FATAL(poll_until(pp_future_running, f[0], HANG_MS));
    CU_ASSERT_FATAL(poll_until(pp_future_running, f[1], HANG_MS));
    /* the manager publishes its counts a moment after handing out */
    CU_ASSERT(poll_handed_out(ex, 2, HANG_MS));
    pp_executor_stats s = stats(ex);
    CU_ASSERT(s.handed_out <= 2);
    CU_ASSERT_EQUAL(s.handed_out, 2);
    CU_ASSERT_EQUAL(s.pending, N - 2);
    CU_ASSERT(s.workers <= 1);

    /* f[0] sleeps for seconds: nothing else can have been handed out */
    CU_ASSERT_FALSE(pp_future_done(f[0]));
    CU_ASSERT_TRUE(pp_future_running(f[1])); /* queued behind f[0], yet running */
    for (int i = 2; i < N; i++)
        CHECK_FLAGS(f[i], false, false, false);
    int running = 0;
    for (int i = 0; i < N; i++)
        running += pp_future_running(f[i]);
    CU_ASSERT_EQUAL(running, 2);

    /* the handed-out ones cannot be cancelled; the others can */
    CU_ASSERT_FALSE(pp_future_cancel(f[0]));
    CU_ASSERT_FALSE(pp_future_cancel(f[1]));
    CU_ASSERT_TRUE(pp_future_running(f[0]) || pp_future_done(f[0]));
    for (int i = 2; i < N; i++) {
        CU_ASSERT_TRUE(pp_future_cancel(f[i]));
        CU_ASSERT_TRUE(pp_future_cancel(f[i])); /* twice */
        CHECK_FLAGS(f[i], false, true, true);
        CU_ASSERT_EQUAL(pp_future_result(f[i], 0, NULL), PP_ECANCELLED);
    }
    s = stats(ex);
    CU_ASSERT(s.handed_out <= 2);

    /* the running ones finish normally; the cancelled ones never run */
    PP_ASSERT_OK(pp_future_result(f[0], PP_T_TIMEOUT_MS, NULL));
    PP_ASSERT_OK(pp_future_result(f[1], PP_T_TIMEOUT_MS, NULL));
    CU_ASSERT_EQUAL(result_i32(f[1]), 1);
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    for (int i = 2; i < N; i++) {
        CHECK_FLAGS(f[i], false, true, true);
        CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(f[i]));
    }
    s = stats(ex);
    CU_ASSERT_EQUAL(s.completed, 2);
    CU_ASSERT_EQUAL(s.cancelled, N - 2);
    CU_ASSERT_EQUAL(s.failed, 0);
    CU_ASSERT_EQUAL(s.handed_out, 0);
    CU_ASSERT_EQUAL(s.pending, 0);
    for (int i = 0; i < N; i++)
        pp_future_release(f[i]);
    pp_executor_destroy(ex);
}

static void test_executor_window_two_workers(void)
{
    PP_T_SKIP_IF_PIPELINE(PP_T_WINDOW_PIN);
    /* max_workers = 2: never more than 3 items handed out at once */
    enum { N = 8 };
    pp_executor *ex = pp_t_executor(2);
    pp_future *f[N];
    for (int i = 0; i < N; i++)
        f[i] = submit_sleep(ex, i < 2 ? 2500 : 0, i);
    CU_ASSERT_FATAL(poll_until(pp_future_running, f[2], HANG_MS));
    CU_ASSERT_TRUE(pp_future_running(f[0]) || pp_future_done(f[0]));
    CU_ASSERT_TRUE(pp_future_running(f[1]) || pp_future_done(f[1]));
    if (!pp_future_done(f[0]) && !pp_future_done(f[1])) {
        for (int i = 3; i < N; i++)
            CU_ASSERT_FALSE(pp_future_running(f[i]));
    }
    pp_executor_stats s = stats(ex);
    CU_ASSERT(s.handed_out <= 3);
    CU_ASSERT(s.workers <= 2);
    int cancelled = 0;
    for (int i = 3; i < N; i++)
        cancelled += pp_future_cancel(f[i]);
    CU_ASSERT_EQUAL(cancelled, N - 3);
    for (int i = 0; i < 3; i++) {
        PP_ASSERT_OK(pp_future_result(f[i], PP_T_TIMEOUT_MS, NULL));
        CU_ASSERT_EQUAL(result_i32(f[i]), i);
    }
    for (int i = 0; i < N; i++)
        pp_future_release(f[i]);
    pp_executor_destroy(ex);
}

static void test_executor_release_does_not_cancel(void)
{
    /* releasing the only caller reference to a pending executor future does not cancel
     * it: the work still runs (observed through another reference) */
    pp_executor *ex = pp_t_executor(1);
    pp_future *blocker = submit_sleep(ex, 300, 0);
    pp_future *f = submit_sleep(ex, 0, 55);
    pp_future *g = submit_sleep(ex, 0, 66);
    pp_future_retain(g);
    pp_future_release(g); /* one of two references */
    pp_future_release(f); /* the only reference: the item still runs */
    PP_ASSERT_OK(pp_future_result(g, PP_T_TIMEOUT_MS, NULL));
    CU_ASSERT_EQUAL(result_i32(g), 66);
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    pp_executor_stats s = stats(ex);
    CU_ASSERT_EQUAL(s.completed, 3);
    CU_ASSERT_EQUAL(s.cancelled, 0);
    pp_future_release(g);
    pp_future_release(blocker);
    pp_executor_destroy(ex);
}

/* ---- races: two threads change one future at the same moment ---- */

/* A helper that spins until told to go, then does one thing to a future. */
typedef enum { OP_CANCEL, OP_RUNNING, OP_RESULT, OP_ERROR } race_op;
typedef struct {
    pp_future *f;
    race_op op;
    atomic_int *go;
    atomic_int *ready;
    int won; /* cancel/set_running returned true, or set_* returned PP_OK */
    pp_status st;
} racer;

static void do_race_op(racer *r)
{
    int32_t v = 1;
    switch (r->op) {
    case OP_CANCEL:
        r->won = pp_future_cancel(r->f);
        r->st = r->won ? PP_OK : PP_ESTATE;
        break;
    case OP_RUNNING:
        r->won = pp_future_set_running_or_notify_cancel(r->f);
        r->st = r->won ? PP_OK : PP_ESTATE;
        break;
    case OP_RESULT:
        r->st = pp_future_set_result(r->f, &v, sizeof v);
        r->won = r->st == PP_OK;
        break;
    case OP_ERROR:
        r->st = pp_future_set_error(r->f, PP_ETASK, 2, "race");
        r->won = r->st == PP_OK;
        break;
    }
}

static void racer_main(void *p)
{
    racer *r = p;
    atomic_fetch_add(r->ready, 1);
    while (!atomic_load(r->go)) {
    }
    do_race_op(r);
}

static void count_cb(pp_future *f, void *ud)
{
    (void)f;
    atomic_fetch_add((atomic_int *)ud, 1);
}

/* Runs ops[0] on this thread and ops[1..n) on helper threads, all released at once, on a
 * fresh pending future with one counting callback; returns the future (caller releases). */
static pp_future *race(const race_op *ops, size_t n, racer *rs, atomic_int *calls)
{
    pp_future *f = pp_t_new_future();
    atomic_store(calls, 0);
    PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, calls));
    atomic_int go = 0, ready = 0;
    pp_t_thread *t[4];
    for (size_t i = 0; i < n; i++) {
        rs[i].f = f;
        rs[i].op = ops[i];
        rs[i].go = &go;
        rs[i].ready = &ready;
        rs[i].won = 0;
        rs[i].st = PP_EINVAL;
        if (i > 0)
            t[i] = pp_t_thread_start(racer_main, &rs[i]);
    }
    while (atomic_load(&ready) < (int)n - 1) {
    }
    atomic_store(&go, 1);
    do_race_op(&rs[0]);
    for (size_t i = 1; i < n; i++)
        pp_t_thread_join(t[i]);
    return f;
}

static void test_race_cancel_vs_running(void)
{
    /* cancel and set_running_or_notify_cancel at the same instant: exactly one wins, and
     * the future ends in the winner's state (CPython: the executor's worker hand-off racing
     * a caller's cancel) */
    enum { ROUNDS = 300 };
    int bad = 0, cancels = 0;
    for (int k = 0; k < ROUNDS && bad < 5; k++) {
        racer rs[2];
        atomic_int calls;
        const race_op ops[2] = {k % 2 ? OP_CANCEL : OP_RUNNING, k % 2 ? OP_RUNNING : OP_CANCEL};
        pp_future *f = race(ops, 2, rs, &calls);
        racer *c = rs[0].op == OP_CANCEL ? &rs[0] : &rs[1];
        racer *r = rs[0].op == OP_CANCEL ? &rs[1] : &rs[0];
        bool ok = c->won != r->won;
        if (c->won) {
            cancels++;
            ok = ok && pp_future_cancelled(f) && !pp_future_running(f) && pp_future_done(f) &&
                 atomic_load(&calls) == 1 && !pp_future_set_running_or_notify_cancel(f) &&
                 pp_future_set_result(f, NULL, 0) == PP_ESTATE;
        } else {
            ok = ok && pp_future_running(f) && !pp_future_cancelled(f) && !pp_future_done(f) &&
                 atomic_load(&calls) == 0 && !pp_future_cancel(f) &&
                 pp_future_set_result(f, NULL, 0) == PP_OK && atomic_load(&calls) == 1;
        }
        if (!ok) {
            bad++;
            fprintf(stderr,
                    "\n  round %d: cancel %d, set_running %d, cancelled %d, running %d, "
                    "callbacks %d\n",
                    k, c->won, r->won, pp_future_cancelled(f), pp_future_running(f),
                    atomic_load(&calls));
        }
        pp_future_release(f);
    }
    CU_ASSERT_EQUAL(bad, 0);
    (void)cancels; /* either outcome is fine; which one wins is up to the scheduler */
}

static void test_race_complete_once(void)
{
    /* set_result, set_error and cancel at the same instant: exactly one succeeds, the
     * others see PP_ESTATE / false, the callback runs exactly once, and the outcome is the
     * winner's */
    enum { ROUNDS = 200 };
    int bad = 0;
    for (int k = 0; k < ROUNDS && bad < 5; k++) {
        racer rs[3];
        atomic_int calls;
        race_op ops[3] = {OP_RESULT, OP_ERROR, OP_CANCEL};
        /* rotate who runs on the test thread */
        race_op rot[3] = {ops[k % 3], ops[(k + 1) % 3], ops[(k + 2) % 3]};
        pp_future *f = race(rot, 3, rs, &calls);
        int winners = 0;
        race_op win = OP_RUNNING;
        for (int i = 0; i < 3; i++) {
            winners += rs[i].won;
            if (rs[i].won)
                win = rs[i].op;
            else if (rs[i].st != PP_ESTATE)
                winners = 99; /* a loser must see PP_ESTATE (or false) */
        }
        pp_status expect = win == OP_RESULT ? PP_OK : win == OP_ERROR ? PP_ETASK : PP_ECANCELLED;
        bool ok = winners == 1 && atomic_load(&calls) == 1 &&
                  pp_future_result(f, 0, NULL) == expect &&
                  pp_future_cancelled(f) == (win == OP_CANCEL);
        if (!ok) {
            bad++;
            fprintf(stderr, "\n  round %d: %d winners, %d callbacks, result %s\n", k, winners,
                    atomic_load(&calls), pp_status_str(pp_future_result(f, 0, NULL)));
        }
        pp_future_release(f);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* ---- huge timeouts ---- */

typedef struct {
    pp_future *f;
    long timeout;
    int how; /* 0 result, 1 exception, 2 wait, 3 as_completed */
    pp_status st;
    atomic_int started; /* set just before the wait: the thread is up */
    atomic_int finished;
} huge_waiter;

static void huge_waiter_main(void *p)
{
    huge_waiter *h = p;
    atomic_store(&h->started, 1);
    switch (h->how) {
    case 0:
        h->st = pp_future_result(h->f, h->timeout, NULL);
        break;
    case 1: {
        const pp_error *e = NULL;
        h->st = pp_future_exception(h->f, h->timeout, &e);
        break;
    }
    case 2: {
        size_t nd = 0;
        h->st = pp_wait(&h->f, 1, h->timeout, PP_ALL_COMPLETED, NULL, &nd);
        if (h->st == PP_OK && nd != 1)
            h->st = PP_ETIMEDOUT;
        break;
    }
    default: {
        pp_as_completed *it = NULL;
        h->st = pp_as_completed_begin(&h->f, 1, h->timeout, &it);
        if (h->st == PP_OK) {
            pp_future *y = NULL;
            h->st = pp_as_completed_next(it, &y);
            if (h->st == PP_OK && y != h->f)
                h->st = PP_ESTATE;
        }
        pp_as_completed_end(it);
        break;
    }
    }
    atomic_store(&h->finished, 1);
}

typedef struct {
    pp_future *f;
    pp_status st;
    atomic_int finished;
} huge_completer;

static void huge_completer_main(void *p)
{
    huge_completer *c = p;
    int32_t v = 3;
    c->st = pp_future_set_result(c->f, &v, sizeof v);
    atomic_store(&c->finished, 1);
}

static bool wait_flag(atomic_int *flag, long long ms)
{
    long long end = pp_t_now_ms() + ms;
    while (!atomic_load(flag)) {
        if (pp_t_now_ms() > end)
            return false;
        pp_t_sleep_ms(2);
    }
    return true;
}

static void test_huge_timeouts(void)
{
    /* Any non-negative timeout is valid, however large: a C user may well pass LONG_MAX for
     * "practically forever". A huge timeout must act as a long wait: answer at once on a
     * done future, wake on completion on a pending one (no arithmetic overflow on the
     * deadline, no timed wait that expires at once). The waits run on a helper thread and
     * this thread completes the future from another one: if the library deadlocks (a waiter
     * spinning with the future lock held), the test stops the program with a message rather
     * than hang; it is last in the suite for that reason. */
    static const long huge[] = {
        LONG_MAX,
        LONG_MAX - 1,
        LONG_MAX / 2,
#if LONG_MAX > 2147483647L
        LONG_MAX / 1000,
        9300000000000000L,
        1000000000000000L,
        1000000000000L,
#endif
        2147483647L,
    };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        /* done: at once */
        pp_future *d = new_finished(4);
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(d, huge[i], &r));
        const pp_error *e = (const pp_error *)1;
        PP_ASSERT_OK(pp_future_exception(d, huge[i], &e));
        CU_ASSERT_PTR_NULL(e);
        size_t nd = 0;
        PP_ASSERT_OK(pp_wait(&d, 1, huge[i], PP_ALL_COMPLETED, NULL, &nd));
        CU_ASSERT_EQUAL(nd, 1);
        pp_future_release(d);

        /* pending, completed by another thread while the wait is under way */
        for (int how = 0; how < 4; how++) {
            huge_waiter h;
            h.f = pp_t_new_future();
            h.timeout = huge[i];
            h.how = how;
            h.st = PP_EINVAL;
            atomic_init(&h.started, 0);
            atomic_init(&h.finished, 0);
            pp_t_thread *tw = pp_t_thread_start(huge_waiter_main, &h);
            /* let it get into the wait: up (however slow the machine), then a moment more */
            CU_ASSERT_FATAL(wait_flag(&h.started, HANG_MS));
            pp_t_sleep_ms(200);
            CU_ASSERT_FALSE(atomic_load(&h.finished)); /* did not time out at once */
            huge_completer c;
            c.f = h.f;
            c.st = PP_EINVAL;
            atomic_init(&c.finished, 0);
            pp_t_thread *tc = pp_t_thread_start(huge_completer_main, &c);
            if (!wait_flag(&c.finished, HANG_MS) || !wait_flag(&h.finished, HANG_MS)) {
                fprintf(stderr,
                        "\n  FATAL: timeout %ld (%s): set_result %s, the wait %s "
                        "within 10 s: deadlock\n",
                        huge[i],
                        how == 0   ? "result"
                        : how == 1 ? "exception"
                        : how == 2 ? "wait"
                                   : "as_completed",
                        atomic_load(&c.finished) ? "returned" : "did not return",
                        atomic_load(&h.finished) ? "returned" : "did not return");
                fflush(stderr);
                _Exit(3);
            }
            pp_t_thread_join(tc);
            pp_t_thread_join(tw);
            PP_ASSERT_OK(c.st);
            if (h.st != PP_OK)
                fprintf(stderr, "\n  timeout %ld, way %d: %s\n", huge[i], how, pp_status_str(h.st));
            PP_ASSERT_OK(h.st);
            pp_future_release(h.f);
        }
    }
}

/* The application's tag: NULL at first, set and replaced, kept through completion and
 * cancellation, seen by a done callback on another thread; NULL future: no-op / NULL. */
static void tag_cb(pp_future *f, void *ud)
{
    *(void **)ud = pp_future_userdata(f);
}

static void complete_later(void *p)
{
    pp_future_set_result(p, "r", 1);
}

static void test_userdata(void)
{
    int a = 1, b = 2;
    pp_future *f = pp_t_new_future();
    CU_ASSERT_PTR_NULL(pp_future_userdata(f));
    pp_future_set_userdata(f, &a);
    CU_ASSERT_PTR_EQUAL(pp_future_userdata(f), &a);
    pp_future_set_userdata(f, &b);
    CU_ASSERT_PTR_EQUAL(pp_future_userdata(f), &b);
    void *seen = NULL;
    PP_ASSERT_OK(pp_future_add_done_callback(f, tag_cb, &seen));
    pp_t_thread *t = pp_t_thread_start(complete_later, f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    pp_t_thread_join(t);
    CU_ASSERT_PTR_EQUAL(seen, &b); /* the callback, on the completing thread, saw it */
    CU_ASSERT_PTR_EQUAL(pp_future_userdata(f), &b);
    pp_future_set_userdata(f, NULL);
    CU_ASSERT_PTR_NULL(pp_future_userdata(f));
    pp_future_release(f);

    f = pp_t_new_future();
    pp_future_set_userdata(f, &a);
    CU_ASSERT(pp_future_cancel(f));
    CU_ASSERT_PTR_EQUAL(pp_future_userdata(f), &a);
    pp_future_release(f);

    pp_future_set_userdata(NULL, &a); /* no-op */
    CU_ASSERT_PTR_NULL(pp_future_userdata(NULL));
}

static CU_TestInfo tests[] = {
    {"pending_running_finished", test_pending_running_finished},
    {"userdata", test_userdata},
    {"pending_to_finished_directly", test_pending_to_finished_directly},
    {"pending_cancelled", test_pending_cancelled},
    {"cancel_running_or_finished_fails", test_cancel_running_or_finished_fails},
    {"set_on_done_is_estate", test_set_on_done_is_estate},
    {"result_timeouts", test_result_timeouts},
    {"error_details", test_error_details},
    {"exception_on_success_is_null", test_exception_on_success_is_null},
    {"result_bytes_copied", test_result_bytes_copied},
    {"completed_from_another_thread", test_completed_from_another_thread},
    {"many_waiters_woken", test_many_waiters_woken},
    {"stress_wake_races", test_stress_wake_races},
    {"refcount", test_refcount},
    {"refcount_threads", test_refcount_threads},
    {"invalid_arguments", test_invalid_arguments},
    {"executor_running_not_cancellable", test_executor_running_not_cancellable},
    {"executor_window_of_max_workers_plus_one", test_executor_window_of_max_workers_plus_one},
    {"executor_window_two_workers", test_executor_window_two_workers},
    {"executor_release_does_not_cancel", test_executor_release_does_not_cancel},
    {"race_cancel_vs_running", test_race_cancel_vs_running},
    {"race_complete_once", test_race_complete_once},
    /* last: a library that deadlocks here ends the program (see the test) */
    {"huge_timeouts", test_huge_timeouts},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_future = {"future", NULL, NULL, pp_t_watchdog_setup, pp_t_watchdog_teardown, tests};
