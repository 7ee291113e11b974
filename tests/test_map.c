/*
 * The map suite: input order, chunks, per-item errors at their position, one deadline for
 * the whole iteration, freeing cancels the rest, lazy input with buffersize, a pool that
 * breaks mid-map.
 */
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"

/* Maps "square" over xs and checks every result (negative x: PP_ETASK code 7). */
static void check_squares(pp_executor *ex, const int32_t *xs, size_t n, size_t chunksize)
{
    pp_buf *args = calloc(n ? n : 1, sizeof *args);
    CU_ASSERT_PTR_NOT_NULL_FATAL(args);
    for (size_t i = 0; i < n; i++)
        args[i] = (pp_buf){&xs[i], sizeof xs[i]};
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "square", args, n, chunksize, PP_T_TIMEOUT_MS, &it));
    free(args); /* copied by pp_map */
    for (size_t i = 0; i < n; i++) {
        pp_buf r;
        const pp_error *e;
        pp_status st = pp_map_next(it, &r, &e);
        if (xs[i] < 0) {
            CU_ASSERT_EQUAL(st, PP_ETASK);
            CU_ASSERT_PTR_NOT_NULL_FATAL(e);
            CU_ASSERT_EQUAL(e->code, 7);
            char msg[32];
            snprintf(msg, sizeof msg, "negative: %d", (int)xs[i]);
            CU_ASSERT_STRING_EQUAL(e->message, msg);
            CU_ASSERT(e->pid > 0);
            CU_ASSERT_PTR_NULL(r.data);
        } else {
            PP_ASSERT_OK(st);
            CU_ASSERT_PTR_NULL(e);
            int64_t v = -1;
            if (r.len == sizeof v)
                memcpy(&v, r.data, sizeof v);
            CU_ASSERT_EQUAL(v, (int64_t)xs[i] * xs[i]);
        }
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
}

static void test_order_and_chunks(void)
{
    pp_executor *ex = pp_t_executor(2);
    int32_t xs[100];
    for (int i = 0; i < 100; i++)
        xs[i] = i;
    size_t chunks[] = {1, 3, 7, 100, 1000};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
        check_squares(ex, xs, 100, chunks[c]);
    check_squares(ex, xs, 0, 1); /* empty */
    pp_executor_destroy(ex);
}

static void test_failed_item_keeps_going(void)
{
    pp_executor *ex = pp_t_executor(2);
    int32_t xs[10] = {1, 2, -3, 4, 5, -6, 7, 8, 9, -10};
    check_squares(ex, xs, 10, 1);
    check_squares(ex, xs, 10, 4);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0);
    pp_executor_destroy(ex);
}

static void test_bad_arguments(void)
{
    pp_executor *ex = pp_t_executor(1);
    int32_t x = 1;
    pp_buf args[2] = {{&x, sizeof x}, {NULL, 4}};
    pp_map_iter *it = (pp_map_iter *)1;
    CU_ASSERT_EQUAL(pp_map(ex, "square", args, 1, 0, PP_FOREVER, &it), PP_EINVAL);
    CU_ASSERT_PTR_NULL(it);
    CU_ASSERT_EQUAL(pp_map(ex, "square", args, 2, 1, PP_FOREVER, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map(ex, "square", NULL, 1, 1, PP_FOREVER, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map(ex, "square", args, 1, 1, -7, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map(NULL, "square", args, 1, 1, PP_FOREVER, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map(ex, NULL, args, 1, 1, PP_FOREVER, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map(ex, "square", args, 1, 1, PP_FOREVER, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map(ex, "nope", args, 1, 1, PP_FOREVER, &it), PP_ENOTASK);
    CU_ASSERT_PTR_NULL(it);
    CU_ASSERT_EQUAL(pp_map_next(NULL, NULL, NULL), PP_EINVAL);
    pp_map_free(NULL);
    pp_executor_destroy(ex);
}

/* The timeout covers the whole iteration, measured from pp_map. */
static void test_timeout_whole_iteration(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {300, 1};
    pp_buf args[10];
    for (int i = 0; i < 10; i++)
        args[i] = (pp_buf){&a, sizeof a};
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", args, 10, 1, 700, &it));
    int ok = 0;
    pp_status st;
    while ((st = pp_map_next(it, NULL, NULL)) == PP_OK)
        ok++;
    CU_ASSERT_EQUAL(st, PP_ETIMEDOUT);
    CU_ASSERT(ok < 10); /* 10 x 300 ms cannot fit in 700 ms */
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_shutdown(ex, true, false);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT(s.cancelled > 0); /* what had not started was cancelled */
    pp_executor_destroy(ex);
}

static void test_free_cancels(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {100, 1};
    pp_buf args[20];
    for (int i = 0; i < 20; i++)
        args[i] = (pp_buf){&a, sizeof a};
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", args, 20, 1, PP_FOREVER, &it));
    long long t0 = pp_t_now_ms();
    pp_map_free(it); /* before consuming anything */
    pp_executor_shutdown(ex, true, false);
    CU_ASSERT(pp_t_now_ms() - t0 < 1800); /* not 20 x 100 ms: the rest was cancelled */
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT(s.cancelled >= 17);
    CU_ASSERT_EQUAL(s.cancelled + s.completed, 20);
    pp_executor_destroy(ex);
}

typedef struct feed {
    int     next, n;
    int32_t cur;    /* reused for every argument: the map must copy it */
    int     calls;
    int     consumed;
    int     max_ahead;
} feed;

static bool next_arg(void *ud, pp_buf *arg)
{
    feed *fd = ud;
    if (fd->next >= fd->n)
        return false;
    fd->cur = fd->next++;
    fd->calls++;
    int ahead = fd->calls - fd->consumed;
    if (ahead > fd->max_ahead)
        fd->max_ahead = ahead;
    *arg = (pp_buf){&fd->cur, sizeof fd->cur};
    return true;
}

static void test_lazy_buffersize(void)
{
    pp_executor *ex = pp_t_executor(2);
    size_t chunks[] = {1, 3};
    for (size_t c = 0; c < 2; c++) {
        feed fd = {0, 50, 0, 0, 0, 0};
        size_t buffersize = 4;
        pp_map_iter *it;
        PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "square", next_arg, &fd, chunks[c], buffersize,
                                       PP_T_TIMEOUT_MS, &it));
        for (int i = 0; i < 50; i++) {
            pp_buf r;
            PP_ASSERT_OK(pp_map_next(it, &r, NULL));
            int64_t v = -1;
            if (r.len == sizeof v)
                memcpy(&v, r.data, sizeof v);
            CU_ASSERT_EQUAL(v, (int64_t)i * i);
            fd.consumed++;
        }
        CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
        /* never more than buffersize chunks pulled ahead of what was consumed */
        CU_ASSERT(fd.max_ahead <= (int)(buffersize * chunks[c]));
        CU_ASSERT_EQUAL(fd.calls, 50);
        pp_map_free(it);
    }
    feed empty = {0, 0, 0, 0, 0, 0};
    pp_map_iter *it;
    PP_ASSERT_OK(pp_map_lazy(ex, "square", next_arg, &empty, 1, 1, PP_FOREVER, &it));
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", next_arg, &empty, 1, 0, PP_FOREVER, &it),
                    PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", next_arg, &empty, 0, 1, PP_FOREVER, &it),
                    PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", NULL, &empty, 1, 1, PP_FOREVER, &it), PP_EINVAL);
    pp_executor_destroy(ex);
}

static void test_after_shutdown(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_executor_shutdown(ex, true, false);
    int32_t x = 2;
    pp_buf a = {&x, sizeof x};
    pp_map_iter *it = (pp_map_iter *)1;
    CU_ASSERT_EQUAL(pp_map(ex, "square", &a, 1, 1, PP_FOREVER, &it), PP_ESHUTDOWN);
    CU_ASSERT_PTR_NULL(it);
    pp_executor_destroy(ex);
}

/* The pool breaks in the middle of a map: affected positions report PP_EBROKEN, nothing
 * hangs, the iteration ends. */
static void test_broken_mid_map(void)
{
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg a = {100, 1}, die = {250, 3};
    pp_buf args[8];
    for (int i = 0; i < 8; i++)
        args[i] = (pp_buf){&a, sizeof a};
    pp_future *f; /* first in the FIFO: it dies while the map's items run or wait */
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep_exit", &die, sizeof die, &f));
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", args, 8, 1, PP_T_TIMEOUT_MS, &it));
    int broken = 0, ok = 0;
    pp_status st;
    const pp_error *e;
    while ((st = pp_map_next(it, NULL, &e)) != PP_END) {
        if (st == PP_OK) {
            ok++;
        } else {
            CU_ASSERT_EQUAL(st, PP_EBROKEN);
            CU_ASSERT(e && strstr(e->message, "exited with code 3") != NULL);
            broken++;
        }
        CU_ASSERT_FATAL(ok + broken <= 8);
    }
    CU_ASSERT_EQUAL(ok + broken, 8);
    CU_ASSERT(broken > 0);
    pp_map_free(it);
    pp_future_release(f);
    pp_map_iter *it2 = (pp_map_iter *)1;
    CU_ASSERT_EQUAL(pp_map(ex, "sleep", args, 1, 1, PP_FOREVER, &it2), PP_EBROKEN);
    CU_ASSERT_PTR_NULL(it2);
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"input order with chunksize 1, 3, 7, n, > n, and empty input", test_order_and_chunks},
    {"a failed item reports its error at its position", test_failed_item_keeps_going},
    {"bad arguments", test_bad_arguments},
    {"one timeout for the whole iteration", test_timeout_whole_iteration},
    {"freeing the iterator cancels what has not started", test_free_cancels},
    {"lazy input within buffersize chunks", test_lazy_buffersize},
    {"map after shutdown", test_after_shutdown},
    {"a pool that breaks mid-map", test_broken_mid_map},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_map = {"map", NULL, NULL, NULL, NULL, tests};
