/*
 * The map suite: input order, chunks, per-item errors at their position, one deadline for
 * the whole iteration, freeing cancels the rest, lazy input with buffersize, a pool that
 * breaks mid-map.
 */
#include <stdint.h>
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
            CU_ASSERT_EQUAL(e->status, PP_ETASK);
            CU_ASSERT_EQUAL(e->code, 7);
            char msg[32];
            snprintf(msg, sizeof msg, "negative: %d", (int)xs[i]);
            CU_ASSERT_STRING_EQUAL(e->message, msg);
            CU_ASSERT(e->pid > 0 && e->pid != pp_t_getpid());
            CU_ASSERT_PTR_NULL(r.data); /* *result is empty */
            CU_ASSERT_EQUAL(r.len, 0);
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
    size_t chunks[] = {1, 3, 7, 100, 1000, SIZE_MAX};
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

/* args[0 .. n-1] all point to *a. */
static void same_args(pp_buf *args, int n, const pp_t_sleep_arg *a)
{
    for (int i = 0; i < n; i++)
        args[i] = (pp_buf){a, sizeof *a};
}

/* pp_map of "sleep" over n copies of *a (args: the caller's array of n, filled here);
 * fails the test fatally if pp_map does. */
static pp_map_iter *map_sleeps(pp_executor *ex, const pp_t_sleep_arg *a, pp_buf *args, int n,
                               size_t chunksize, long timeout_ms)
{
    same_args(args, n, a);
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", args, (size_t)n, chunksize, timeout_ms, &it));
    return it;
}

/* Submits a "noop" and waits for it: starts the worker, or checks the executor still works
 * (CPython: the executor is usable after a map timed out or was closed). */
static void noop_ok(pp_executor *ex)
{
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(f);
}

/* The timeout covers the whole iteration, measured from pp_map (CPython test_map_timeout):
 * ten 300 ms calls on one worker under a 500 ms deadline. Per call it would never expire;
 * for the whole map it must. The first call sleeps 0 ms so that "some results came" does not
 * depend on the VM's speed; at most two calls can finish by the deadline (0 + 300 ms, the
 * next would end at 600 ms). */
static void test_timeout_whole_iteration(void)
{
    pp_executor *ex = pp_t_executor(1);
    noop_ok(ex); /* the worker exists: its start-up is not part of the deadline */
    pp_t_sleep_arg quick = {0, 1}, a = {300, 1};
    pp_buf args[10];
    args[0] = (pp_buf){&quick, sizeof quick};
    for (int i = 1; i < 10; i++)
        args[i] = (pp_buf){&a, sizeof a};
    pp_map_iter *it;
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", args, 10, 1, 500, &it));
    int ok = 0;
    pp_status st;
    pp_buf r;
    while ((st = pp_map_next(it, &r, NULL)) == PP_OK && ok < 10) {
        CU_ASSERT(r.len == 4 && memcmp(r.data, &a.value, 4) == 0);
        ok++;
    }
    CU_ASSERT_EQUAL(st, PP_ETIMEDOUT);
    CU_ASSERT(pp_t_now_ms() - t0 < 10000); /* not the 2.7 s of all the calls */
    CU_ASSERT(ok >= 1); /* some results, in order */
    CU_ASSERT(ok <= 2); /* one deadline for the whole map, not one per call */
    const pp_error *e = (const pp_error *)1;
    r = (pp_buf){(void *)1, 3};
    CU_ASSERT_EQUAL(pp_map_next(it, &r, &e), PP_END);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_EQUAL(r.len, 0);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    noop_ok(ex); /* still works; queued behind the cancelled calls, so they were dropped */
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT(s.cancelled > 0); /* the calls not started were cancelled */
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.cancelled + s.completed, 10 + 2); /* the map, the two noops */
    CU_ASSERT_EQUAL(s.failed, 0);
    pp_executor_destroy(ex);
}

/* pp_map_free right after pp_map, before consuming anything: what has not started is
 * cancelled, nothing hangs, the executor still works (CPython: closing the map generator
 * cancels the remaining futures). */
static void test_free_cancels(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {100, 1};
    pp_buf args[20];
    pp_map_iter *it = map_sleeps(ex, &a, args, 20, 1, PP_FOREVER);
    long long t0 = pp_t_now_ms();
    pp_map_free(it); /* before consuming anything */
    CU_ASSERT(pp_t_now_ms() - t0 < 10000); /* does not wait for the calls */
    noop_ok(ex); /* still works */
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    /* one worker: at most max_workers + 1 = 2 calls were handed out when it was freed
     * (a few more if this thread stalled 100 ms); the rest never ran */
    CU_ASSERT(s.cancelled >= 15);
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.cancelled + s.completed, 20 + 1);
    CU_ASSERT_EQUAL(s.failed, 0);
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

/* As next_arg, each argument a pp_t_sleep_arg of 300 ms. */
static bool next_sleep_arg(void *ud, pp_buf *arg)
{
    static pp_t_sleep_arg a = {300, 1};
    feed *fd = ud;
    if (fd->next >= fd->n)
        return false;
    fd->next++;
    fd->calls++;
    *arg = (pp_buf){&a, sizeof a};
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
        CU_ASSERT(fd.max_ahead >= (int)chunks[c]); /* the measure saw the pulls */
        CU_ASSERT_EQUAL(fd.calls, 50);
        pp_map_free(it);
    }
    feed empty = {0, 0, 0, 0, 0, 0};
    pp_map_iter *it;
    PP_ASSERT_OK(pp_map_lazy(ex, "square", next_arg, &empty, 1, 1, PP_FOREVER, &it));
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    it = (pp_map_iter *)1;
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", next_arg, &empty, 1, 0, PP_FOREVER, &it),
                    PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", next_arg, &empty, 0, 1, PP_FOREVER, &it),
                    PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", NULL, &empty, 1, 1, PP_FOREVER, &it), PP_EINVAL);
    CU_ASSERT_PTR_NULL(it);
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
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg a = {100, 1}, die = {250, 3};
    pp_buf args[8];
    same_args(args, 8, &a);
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

/* Checks one position of a map whose pool broke: PP_EBROKEN, *result empty, *err names the
 * dead worker's exit. */
static void check_broken_item(pp_status st, const pp_buf *r, const pp_error *e, size_t pos)
{
    if (st != PP_EBROKEN)
        fprintf(stderr, "\n  position %zu: %s, expected PP_EBROKEN\n", pos, pp_status_str(st));
    CU_ASSERT_EQUAL(st, PP_EBROKEN);
    CU_ASSERT_PTR_NULL(r->data);
    CU_ASSERT_EQUAL(r->len, 0);
    CU_ASSERT_PTR_NOT_NULL(e); /* a failure status comes with its error */
    if (e) {
        CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e->message);
        if (!strstr(e->message, "exited with code 3"))
            fprintf(stderr, "\n  position %zu: message \"%s\"\n", pos, e->message);
        CU_ASSERT(strstr(e->message, "exited with code 3") != NULL);
    }
    /* pp_last_error() says the same, naming pp_map_next */
    const char *t = pp_last_error();
    if (strncmp(t, "pp_map_next: ", 13) != 0 || !strstr(t, "exited with code 3"))
        fprintf(stderr, "\n  position %zu: pp_last_error() \"%s\"\n", pos, t);
    CU_ASSERT(strncmp(t, "pp_map_next: ", 13) == 0);
    CU_ASSERT(strstr(t, "exited with code 3") != NULL);
}

/* "exit_if" over 0..19 on one worker: the worker runs the calls in order and dies at 13.
 * The chunks before the one holding 13 have their results; the positions from that chunk on
 * report PP_EBROKEN, each naming the exit; then PP_END; nothing hangs; the pool stays
 * broken for later submits and maps. */
static void test_broken_exit_if(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    enum { N = 20 };
    int32_t xs[N];
    pp_buf args[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i;
        args[i] = (pp_buf){&xs[i], sizeof xs[i]};
    }
    const size_t chunks[] = {1, 4};
    for (size_t c = 0; c < 2; c++) {
        pp_executor *ex = pp_t_executor(1);
        pp_map_iter *it;
        PP_ASSERT_OK_FATAL(pp_map(ex, "exit_if", args, N, chunks[c], PP_T_TIMEOUT_MS, &it));
        size_t first_broken = 13 / chunks[c] * chunks[c];
        long long t0 = pp_t_now_ms();
        for (size_t i = 0; i < N; i++) {
            pp_buf r;
            const pp_error *e;
            pp_status st = pp_map_next(it, &r, &e);
            if (i < first_broken) {
                PP_ASSERT_OK(st);
                CU_ASSERT(r.len == 4 && memcmp(r.data, &xs[i], 4) == 0);
            } else {
                check_broken_item(st, &r, e, i);
                if (i == 13 && e) { /* the call the worker died in */
                    CU_ASSERT_EQUAL(e->code, 3);
                    CU_ASSERT(e->pid > 0 && e->pid != pp_t_getpid());
                    char worktxt[48]; /* its chunk's call, named in the message too */
                    snprintf(worktxt, sizeof worktxt, "(work %llu)", e->work_id);
                    CU_ASSERT(e->work_id > 0 && strstr(e->message, worktxt) != NULL);
                }
            }
        }
        CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
        CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
        CU_ASSERT(pp_t_now_ms() - t0 < PP_T_TIMEOUT_MS);
        pp_map_free(it);
        pp_future *f = (pp_future *)1;
        CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &f), PP_EBROKEN);
        CU_ASSERT_PTR_NULL(f);
        it = (pp_map_iter *)1;
        CU_ASSERT_EQUAL(pp_map(ex, "exit_if", args, 2, 1, PP_FOREVER, &it), PP_EBROKEN);
        CU_ASSERT_PTR_NULL(it);
        /* the text gives the pool's cause */
        CU_ASSERT(strncmp(pp_last_error(), "pp_map: the pool is broken: ", 28) == 0);
        CU_ASSERT(strstr(pp_last_error(), "exited with code 3") != NULL);
        pp_executor_destroy(ex);
    }
}

typedef struct int_feed {
    int32_t next, n;
    int32_t cur; /* reused for every argument */
} int_feed;

static bool next_int(void *ud, pp_buf *arg)
{
    int_feed *fd = ud;
    if (fd->next >= fd->n)
        return false;
    fd->cur = fd->next++;
    *arg = (pp_buf){&fd->cur, sizeof fd->cur};
    return true;
}

/* The same with a lazy map (buffersize 3): results up to 12, then PP_EBROKEN for the
 * positions that were submitted and for the refill the broken pool refused, then PP_END;
 * the rest of the input is not pulled. */
static void test_lazy_broken_exit_if(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    const size_t chunks[] = {1, 4};
    for (size_t c = 0; c < 2; c++) {
        pp_executor *ex = pp_t_executor(1);
        int_feed fd = {0, 40, 0};
        pp_map_iter *it;
        PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "exit_if", next_int, &fd, chunks[c], 3,
                                       PP_T_TIMEOUT_MS, &it));
        size_t first_broken = 13 / chunks[c] * chunks[c];
        size_t i = 0, broken = 0;
        pp_status st;
        pp_buf r;
        const pp_error *e;
        long long t0 = pp_t_now_ms();
        while ((st = pp_map_next(it, &r, &e)) != PP_END && i < 40) {
            if (i < first_broken) {
                PP_ASSERT_OK(st);
                int32_t want = (int32_t)i;
                CU_ASSERT(r.len == 4 && memcmp(r.data, &want, 4) == 0);
            } else {
                check_broken_item(st, &r, e, i);
                broken++;
            }
            i++;
        }
        CU_ASSERT_EQUAL(st, PP_END);
        CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
        CU_ASSERT(pp_t_now_ms() - t0 < PP_T_TIMEOUT_MS);
        CU_ASSERT(i > first_broken && broken >= 1);
        /* submitted chunks end broken; nothing beyond buffersize chunks was pulled */
        CU_ASSERT(fd.next <= (int32_t)(first_broken + 4 * chunks[c]));
        CU_ASSERT(i <= (size_t)fd.next + 1);
        pp_map_free(it);
        pp_executor_destroy(ex);
    }
}

/* Empty input: PP_END at once, with or without an args array; also for a task whose
 * workers would fail. Nothing is submitted, no worker starts. */
static void test_empty_map(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    pp_executor *ex = pp_t_executor(1);
    pp_map_iter *it = NULL;
    PP_ASSERT_OK_FATAL(pp_map(ex, "square", NULL, 0, 1, PP_FOREVER, &it));
    pp_buf r = {(void *)1, 5};
    const pp_error *e = (const pp_error *)1;
    long long t0 = pp_t_now_ms();
    CU_ASSERT_EQUAL(pp_map_next(it, &r, &e), PP_END);
    CU_ASSERT(pp_t_now_ms() - t0 < 5000); /* not a wait */
    CU_ASSERT_PTR_NULL(r.data);
    CU_ASSERT_EQUAL(r.len, 0);
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_EQUAL(pp_map_next(it, &r, &e), PP_END);
    pp_map_free(it);
    PP_ASSERT_OK_FATAL(pp_map(ex, "exit", NULL, 0, 5, 0, &it)); /* timeout 0: still PP_END */
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 0);
    pp_executor_destroy(ex);
}

/* NULL result and err pointers are allowed, for results and for failures; with only err
 * given a failure still says why. */
static void test_null_out_pointers(void)
{
    pp_executor *ex = pp_t_executor(2);
    int32_t xs[4] = {2, -2, 3, -3};
    pp_buf args[4];
    for (int i = 0; i < 4; i++)
        args[i] = (pp_buf){&xs[i], sizeof xs[i]};
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "square", args, 4, 1, PP_T_TIMEOUT_MS, &it));
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_OK);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_ETASK);
    pp_buf r;
    CU_ASSERT_EQUAL(pp_map_next(it, &r, NULL), PP_OK);
    CU_ASSERT(r.len == 8);
    const pp_error *e = NULL;
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, &e), PP_ETASK);
    CU_ASSERT(e && e->code == 7 && strcmp(e->message, "negative: -3") == 0);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_destroy(ex);
}

/* Chunks are work items: n items in chunks of c are ceil(n / c) items for the stats (and
 * for max_tasks_per_child), and a worker runs a chunk's calls in order. */
static void test_chunks_are_work_items(void)
{
    PP_T_SKIP_IF_MPI("a rank serves executor after executor: its counters carry over");
    pp_executor *ex = pp_t_executor(1);
    pp_buf args[10];
    for (int i = 0; i < 10; i++)
        args[i] = (pp_buf){NULL, 0};
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "calls", args, 10, 4, PP_T_TIMEOUT_MS, &it));
    uint64_t prev = 0;
    for (int i = 0; i < 10; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        uint64_t v = 0;
        if (r.len == sizeof v)
            memcpy(&v, r.data, sizeof v);
        CU_ASSERT_EQUAL(v, prev + 1); /* one worker, calls in input order */
        prev = v;
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.completed, 3); /* chunks of 4, 4 and 2 */
    pp_executor_destroy(ex);
}

/* The deadline is measured from pp_map: results that are ready are still returned after it
 * passed (CPython: result(timeout <= 0) of a done future), the first one that is not ready
 * ends the iteration with PP_ETIMEDOUT, promptly, and the calls not started are cancelled. */
static void test_deadline_from_map_call(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    pp_executor *ex = pp_t_executor(1);
    pp_future *warm;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &warm)); /* the worker exists */
    PP_ASSERT_OK(pp_future_result(warm, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(warm);
    int32_t xs[3] = {1, 2, 3};
    pp_t_sleep_arg slow = {5000, 0};
    pp_buf args[6] = {{&xs[0], 4}, {&xs[1], 4}, {&xs[2], 4},
                      {&slow, sizeof slow}, {&slow, sizeof slow}, {&slow, sizeof slow}};
    pp_map_iter *it;
    /* "square" of a sleep argument (8 bytes) fails: use two maps so each task is right */
    PP_ASSERT_OK_FATAL(pp_map(ex, "square", args, 3, 1, 300, &it));
    pp_map_iter *it2;
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", args + 3, 3, 1, 300, &it2));
    pp_t_sleep_ms(1000); /* past both deadlines; the squares ran long ago */
    long long t0 = pp_t_now_ms();
    for (int i = 0; i < 3; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        int64_t v = 0;
        if (r.len == sizeof v)
            memcpy(&v, r.data, sizeof v);
        CU_ASSERT_EQUAL(v, (int64_t)xs[i] * xs[i]);
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    CU_ASSERT_EQUAL(pp_map_next(it2, NULL, NULL), PP_ETIMEDOUT);
    CU_ASSERT(pp_t_now_ms() - t0 < 3000); /* not the 5 s the sleep takes */
    CU_ASSERT_EQUAL(pp_map_next(it2, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_map_free(it2);
    pp_executor_kill_workers(ex); /* rather than wait for the sleeps */
    pp_executor_shutdown(ex, true, false);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT(s.cancelled >= 1); /* the third sleep never started (max_workers + 1 = 2) */
    CU_ASSERT_EQUAL(s.cancelled + s.completed + s.failed, 1 + 3 + 3);
    pp_executor_destroy(ex);

    /* Not from the first pp_map_next: a 1500 ms call under a 1000 ms deadline, the first
     * pp_map_next 800 ms after pp_map, times out (it cannot have finished by the deadline;
     * a deadline counted from pp_map_next would have let it finish). */
    ex = pp_t_executor(1);
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &warm));
    PP_ASSERT_OK(pp_future_result(warm, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(warm);
    pp_t_sleep_arg mid = {1500, 0};
    pp_buf marg = {&mid, sizeof mid};
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", &marg, 1, 1, 1000, &it));
    pp_t_sleep_ms(800);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_ETIMEDOUT);
    pp_map_free(it);
    pp_executor_kill_workers(ex);
    pp_executor_destroy(ex);
}

/* A timeout of 0 polls: an unfinished first item gives PP_ETIMEDOUT at once. */
static void test_timeout_zero(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {2000, 1};
    pp_buf args[4];
    pp_map_iter *it = map_sleeps(ex, &a, args, 4, 1, 0);
    long long t0 = pp_t_now_ms();
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_ETIMEDOUT);
    CU_ASSERT(pp_t_now_ms() - t0 < 1500);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_kill_workers(ex); /* rather than wait for the sleeps */
    pp_executor_shutdown(ex, true, false);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT(s.cancelled >= 2); /* only max_workers + 1 = 2 could have started */
    pp_executor_destroy(ex);
}

/* Freeing an iterator part-way (and one that timed out, and one fully consumed) cancels
 * what has not started and leaves the executor usable. */
static void test_free_part_way(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {50, 7};
    pp_buf args[12];
    pp_map_iter *it = map_sleeps(ex, &a, args, 12, 2, PP_T_TIMEOUT_MS);
    for (int i = 0; i < 3; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        CU_ASSERT(r.len == 4 && memcmp(r.data, &a.value, 4) == 0);
    }
    long long t0 = pp_t_now_ms();
    pp_map_free(it);
    CU_ASSERT(pp_t_now_ms() - t0 < 5000); /* does not wait for the rest */
    int32_t x = 9;
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "square", &x, sizeof x, &f)); /* still usable */
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(f);
    pp_executor_shutdown(ex, true, false);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT(s.cancelled >= 1);
    CU_ASSERT_EQUAL(s.cancelled + s.completed, 6 + 1); /* 6 chunks, the square */
    CU_ASSERT_EQUAL(s.failed, 0);
    pp_executor_destroy(ex);
}

/* CPython test_map_buffersize_when_buffer_is_full: pp_map_lazy pulls exactly buffersize
 * chunks at once, and each consumed chunk pulls one more. */
static void test_lazy_pulls_buffersize_at_once(void)
{
    pp_executor *ex = pp_t_executor(2);
    feed fd = {0, 100, 0, 0, 0, 0};
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "square", next_arg, &fd, 2, 3, PP_T_TIMEOUT_MS, &it));
    CU_ASSERT_EQUAL(fd.calls, 6); /* 3 chunks of 2 */
    pp_t_sleep_ms(300);           /* nothing pulls behind the caller's back */
    CU_ASSERT_EQUAL(fd.calls, 6);
    PP_ASSERT_OK(pp_map_next(it, NULL, NULL)); /* first item of chunk 1 */
    fd.consumed++;
    CU_ASSERT(fd.calls <= 6 + 2);
    PP_ASSERT_OK(pp_map_next(it, NULL, NULL)); /* chunk 1 consumed */
    fd.consumed++;
    PP_ASSERT_OK(pp_map_next(it, NULL, NULL));
    fd.consumed++;
    CU_ASSERT_EQUAL(fd.calls, 8); /* one more chunk, pulled once chunk 1 was consumed */
    pp_map_free(it);
    CU_ASSERT_EQUAL(fd.calls, 8); /* freeing pulls nothing */
    pp_executor_destroy(ex);
}

static bool next_forever(void *ud, pp_buf *arg)
{
    feed *fd = ud;
    fd->cur = fd->next++;
    fd->calls++;
    *arg = (pp_buf){&fd->cur, sizeof fd->cur};
    return true;
}

/* CPython test_map_buffersize_on_infinite_iterable: an endless input is fine; take a few
 * results, free the iterator, nothing hangs and little input was pulled. */
static void test_lazy_infinite_input(void)
{
    pp_executor *ex = pp_t_executor(2);
    feed fd = {0, 0, 0, 0, 0, 0};
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "square", next_forever, &fd, 1, 2, PP_T_TIMEOUT_MS, &it));
    for (int i = 0; i < 5; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        int64_t v = -1;
        if (r.len == sizeof v)
            memcpy(&v, r.data, sizeof v);
        CU_ASSERT_EQUAL(v, (int64_t)i * i);
    }
    CU_ASSERT(fd.calls <= 5 + 2);
    pp_map_free(it);
    pp_executor_destroy(ex);
}

/* Lazy maps: failed items at their positions, the whole-iteration timeout, bad arguments. */
static void test_lazy_errors_and_timeout(void)
{
    pp_executor *ex = pp_t_executor(2);
    feed fd = {-3, 3, 0, 0, 0, 0}; /* -3 .. 2 */
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "square", next_arg, &fd, 2, 2, PP_T_TIMEOUT_MS, &it));
    for (int x = -3; x < 3; x++) {
        pp_buf r;
        const pp_error *e = NULL;
        pp_status st = pp_map_next(it, &r, &e);
        if (x < 0) {
            CU_ASSERT_EQUAL(st, PP_ETASK);
            CU_ASSERT(e && e->code == 7);
        } else {
            PP_ASSERT_OK(st);
            int64_t v = -1;
            if (r.len == sizeof v)
                memcpy(&v, r.data, sizeof v);
            CU_ASSERT_EQUAL(v, (int64_t)x * x);
        }
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);

    CU_ASSERT_EQUAL(pp_map_lazy(ex, "no such task", next_arg, &fd, 1, 1, PP_FOREVER, &it),
                    PP_ENOTASK);
    CU_ASSERT_PTR_NULL(it);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", next_arg, &fd, 1, 1, -2, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map_lazy(NULL, "square", next_arg, &fd, 1, 1, PP_FOREVER, &it),
                    PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, NULL, next_arg, &fd, 1, 1, PP_FOREVER, &it), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", next_arg, &fd, 1, 1, PP_FOREVER, NULL),
                    PP_EINVAL);

    /* the deadline covers the whole lazy iteration too */
    pp_executor_destroy(ex);
    ex = pp_t_executor(1);
    feed sl = {0, 10, 0, 0, 0, 0};
    PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "sleep", next_sleep_arg, &sl, 1, 3, 700, &it));
    int ok = 0;
    pp_status st;
    long long t0 = pp_t_now_ms();
    while ((st = pp_map_next(it, NULL, NULL)) == PP_OK)
        ok++;
    CU_ASSERT_EQUAL(st, PP_ETIMEDOUT);
    CU_ASSERT(ok < 10);
    CU_ASSERT(pp_t_now_ms() - t0 < 5000);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    CU_ASSERT(sl.calls < 10); /* the input was not drained */
    pp_executor_destroy(ex);
}

/* A lazy argument with NULL data and nonzero length: PP_EINVAL at pp_map_lazy when it comes
 * in the first buffersize chunks. */
static bool next_bad(void *ud, pp_buf *arg)
{
    int *n = ud;
    if ((*n)++ >= 1)
        *arg = (pp_buf){NULL, 4};
    else
        *arg = (pp_buf){"abcd", 4};
    return true;
}

static void test_lazy_bad_argument(void)
{
    pp_executor *ex = pp_t_executor(1);
    int n = 0;
    pp_map_iter *it = (pp_map_iter *)1;
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "echo", next_bad, &n, 1, 3, PP_FOREVER, &it), PP_EINVAL);
    CU_ASSERT_PTR_NULL(it);
    /* later in the input: no crash, no hang; the good item comes back, then a failure
     * status, then PP_END */
    n = 0;
    PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "echo", next_bad, &n, 1, 1, PP_T_TIMEOUT_MS, &it));
    pp_buf r;
    PP_ASSERT_OK(pp_map_next(it, &r, NULL));
    CU_ASSERT(r.len == 4 && memcmp(r.data, "abcd", 4) == 0);
    int guard = 0;
    pp_status st;
    const pp_error *e = NULL;
    while ((st = pp_map_next(it, NULL, &e)) != PP_END && ++guard < 10) {
        CU_ASSERT_EQUAL(st, PP_EINVAL);
        CU_ASSERT(e != NULL && e->status == PP_EINVAL); /* a failure status has its error */
    }
    CU_ASSERT_EQUAL(st, PP_END);
    pp_map_free(it);
    pp_executor_destroy(ex);
}

/* Lazy map on a shut down or broken executor, and an executor shut down mid-iteration: the
 * chunks already submitted still come back in order, then the failed refill is reported,
 * then PP_END; nothing hangs. */
static void test_lazy_shutdown(void)
{
    pp_executor *ex = pp_t_executor(1);
    feed fd = {0, 20, 0, 0, 0, 0};
    pp_map_iter *it = (pp_map_iter *)1;
    pp_executor_shutdown(ex, true, false);
    CU_ASSERT_EQUAL(pp_map_lazy(ex, "square", next_arg, &fd, 1, 2, PP_FOREVER, &it),
                    PP_ESHUTDOWN);
    CU_ASSERT_PTR_NULL(it);
    pp_executor_destroy(ex);

    ex = pp_t_executor(1);
    fd = (feed){0, 20, 0, 0, 0, 0};
    PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "square", next_arg, &fd, 1, 3, PP_T_TIMEOUT_MS, &it));
    pp_executor_shutdown(ex, false, false); /* the 3 submitted chunks still run */
    int i = 0, guard = 0;
    pp_status st;
    pp_buf r;
    const pp_error *e = NULL;
    while ((st = pp_map_next(it, &r, &e)) == PP_OK && ++guard < 30) {
        int64_t v = -1;
        if (r.len == sizeof v)
            memcpy(&v, r.data, sizeof v);
        CU_ASSERT_EQUAL(v, (int64_t)i * i);
        i++;
    }
    CU_ASSERT_EQUAL(i, 3); /* the chunks submitted before the shutdown; no refill after it */
    CU_ASSERT_EQUAL(st, PP_ESHUTDOWN);
    CU_ASSERT(e != NULL && e->status == PP_ESHUTDOWN); /* a failure status has its error */
    CU_ASSERT(fd.calls <= 3 + 1); /* at most one argument pulled for the refused refill */
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_destroy(ex);
}

/* Broken mid-map with chunks: every item of a broken chunk reports PP_EBROKEN at its
 * position; the count of positions is exact. */
static void test_broken_mid_map_chunks(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg a = {50, 1}, die = {200, 3};
    pp_buf args[30];
    same_args(args, 30, &a);
    args[7] = (pp_buf){&die, sizeof die}; /* "sleep" of this returns; the death is below */
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep_exit", &die, sizeof die, &f));
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "sleep", args, 30, 4, PP_T_TIMEOUT_MS, &it));
    int ok = 0, broken = 0, other = 0;
    pp_status st;
    long long t0 = pp_t_now_ms();
    while ((st = pp_map_next(it, NULL, NULL)) != PP_END && ok + broken + other < 40) {
        if (st == PP_OK)
            ok++;
        else if (st == PP_EBROKEN)
            broken++;
        else
            other++;
    }
    CU_ASSERT(pp_t_now_ms() - t0 < 10000);
    CU_ASSERT_EQUAL(ok + broken, 30);
    CU_ASSERT_EQUAL(other, 0);
    CU_ASSERT(broken >= 4);
    CU_ASSERT_EQUAL(broken % 4 == 0 || broken % 4 == 2, 1); /* whole chunks (the last has 2) */
    CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_EBROKEN);
    pp_map_free(it);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* A pool that breaks while a map is being submitted: pp_map returns PP_OK (the iterator
 * then reports PP_EBROKEN positions) or PP_EBROKEN (nothing leaks); never hangs. */
static void test_broken_while_submitting(void)
{
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    for (int round = 0; round < 3; round++) {
        pp_executor *ex = pp_t_executor(1);
        int32_t code = 2;
        pp_future *f;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "exit", &code, sizeof code, &f));
        enum { N = 3000 };
        static pp_buf args[N];
        int32_t x = 3;
        for (int i = 0; i < N; i++)
            args[i] = (pp_buf){&x, sizeof x};
        pp_map_iter *it = NULL;
        pp_status st = PP_OK;
        long long t0 = pp_t_now_ms();
        while (st == PP_OK && pp_t_now_ms() - t0 < 10000) {
            st = pp_map(ex, "square", args, N, 1, PP_T_TIMEOUT_MS, &it);
            if (st != PP_OK)
                break;
            int seen = 0;
            pp_status ist;
            while ((ist = pp_map_next(it, NULL, NULL)) != PP_END && seen <= N) {
                CU_ASSERT(ist == PP_OK || ist == PP_EBROKEN);
                seen++;
            }
            CU_ASSERT_EQUAL(seen, N);
            pp_map_free(it);
            it = NULL;
        }
        CU_ASSERT_EQUAL(st, PP_EBROKEN);
        CU_ASSERT_PTR_NULL(it);
        CU_ASSERT_EQUAL(pp_future_result(f, PP_T_TIMEOUT_MS, NULL), PP_EBROKEN);
        pp_future_release(f);
        pp_executor_destroy(ex);
    }
}

/* A pp_map iterator (not a lazy one) may outlive its executor: destroy waits for the calls,
 * the results are then all there. */
static void test_iterator_outlives_executor(void)
{
    pp_executor *ex = pp_t_executor(2);
    int32_t xs[20];
    pp_buf args[20];
    for (int i = 0; i < 20; i++) {
        xs[i] = i - 3;
        args[i] = (pp_buf){&xs[i], sizeof xs[i]};
    }
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "square", args, 20, 3, PP_T_TIMEOUT_MS, &it));
    pp_executor_destroy(ex);
    for (int i = 0; i < 20; i++) {
        pp_buf r;
        const pp_error *e = NULL;
        pp_status st = pp_map_next(it, &r, &e);
        if (xs[i] < 0) {
            CU_ASSERT_EQUAL(st, PP_ETASK);
            CU_ASSERT(e && e->code == 7);
        } else {
            PP_ASSERT_OK(st);
            int64_t v = -1;
            if (r.len == sizeof v)
                memcpy(&v, r.data, sizeof v);
            CU_ASSERT_EQUAL(v, (int64_t)xs[i] * xs[i]);
        }
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
}

/* Calls of a map cancelled by shutdown(cancel_futures) report PP_ECANCELLED at their
 * positions (with an error to read); the running ones finish; iteration ends normally. */
static void test_cancelled_positions(void)
{
    PP_T_SKIP_IF_PIPELINE(PP_T_WINDOW_PIN);
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {300, 2};
    pp_buf args[6];
    pp_map_iter *it = map_sleeps(ex, &a, args, 6, 1, PP_T_TIMEOUT_MS);
    CU_ASSERT(pp_t_wait_stats(ex, pp_t_handed_out_at_least, &(size_t){2}, PP_T_TIMEOUT_MS,
                              NULL));
    PP_ASSERT_OK(pp_executor_shutdown(ex, false, true));
    for (int i = 0; i < 6; i++) {
        pp_buf r;
        const pp_error *e = NULL;
        pp_status st = pp_map_next(it, &r, &e);
        if (i < 2) {
            PP_ASSERT_OK(st);
            CU_ASSERT(r.len == 4 && memcmp(r.data, &a.value, 4) == 0);
        } else {
            CU_ASSERT_EQUAL(st, PP_ECANCELLED);
            CU_ASSERT(e != NULL && e->status == PP_ECANCELLED && e->message != NULL);
        }
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_destroy(ex);
}

/* Two workers, both busy, max_workers + 1 items handed out. */
static bool both_busy_three_out(const pp_t_snapshot *snap, const void *arg)
{
    (void)arg;
    return snap->n_pids >= 2 && snap->s.idle_workers == 0 && snap->s.handed_out >= 3;
}

/* kill_workers during a map: the calls the workers held report PP_EBROKEN naming SIGKILL,
 * the others PP_ECANCELLED; nothing hangs. */
static void test_killed_during_map(void)
{
    PP_T_SKIP_IF_PIPELINE(PP_T_WINDOW_PIN);
    PP_T_SKIP_IF_MPI("a dead worker rank is lost for good (mpi_check covers crashes)");
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg a = {20000, 2};
    pp_buf args[8];
    pp_map_iter *it = map_sleeps(ex, &a, args, 8, 1, PP_T_TIMEOUT_MS);
    CU_ASSERT(pp_t_wait_stats(ex, both_busy_three_out, NULL, PP_T_TIMEOUT_MS, NULL));
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_executor_kill_workers(ex));
    int broken = 0, cancelled = 0, other = 0;
    for (int i = 0; i < 8; i++) {
        const pp_error *e = NULL;
        pp_status st = pp_map_next(it, NULL, &e);
        if (st == PP_EBROKEN) {
            broken++;
#ifndef _WIN32
            CU_ASSERT(e && strstr(e->message, "SIGKILL") != NULL);
#endif
        } else if (st == PP_ECANCELLED) {
            cancelled++;
        } else {
            other++;
        }
    }
    CU_ASSERT(pp_t_now_ms() - t0 < 10000);
    CU_ASSERT_EQUAL(broken, 3); /* max_workers + 1 handed out */
    CU_ASSERT_EQUAL(cancelled, 5);
    CU_ASSERT_EQUAL(other, 0);
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_destroy(ex);
}

/* Large and empty results and arguments inside chunks arrive intact, in order. */
static void test_large_items_in_chunks(void)
{
    pp_executor *ex = pp_t_executor(2);
    struct bytes_arg {
        uint64_t n;
        uint32_t seed;
    } ba[7]; /* the "bytes" task's layout */
    const uint64_t sizes[7] = {0, 1, 100000, 3u << 20, 70000, 5, 1u << 20};
    pp_buf args[7];
    memset(ba, 0, sizeof ba);
    for (int i = 0; i < 7; i++) {
        ba[i].n = sizes[i];
        ba[i].seed = (uint32_t)i + 1;
        args[i] = (pp_buf){&ba[i], sizeof ba[i]};
    }
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "bytes", args, 7, 3, PP_T_TIMEOUT_MS, &it));
    unsigned char *want = malloc(3u << 20);
    CU_ASSERT_FATAL(want != NULL);
    for (int i = 0; i < 7; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        pp_t_fill(want, (size_t)sizes[i], ba[i].seed);
        CU_ASSERT_EQUAL(r.len, sizes[i]);
        if (r.len == sizes[i] && sizes[i])
            CU_ASSERT(memcmp(r.data, want, (size_t)sizes[i]) == 0);
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    free(want);

    /* large arguments in chunks: checksums */
    enum { N = 6 };
    size_t len = 2u << 20;
    unsigned char *bufs = malloc(N * len);
    CU_ASSERT_FATAL(bufs != NULL);
    pp_buf cargs[N];
    for (int i = 0; i < N; i++) {
        size_t l = i == 2 ? 0 : len - (size_t)i;
        pp_t_fill(bufs + (size_t)i * len, l, (uint32_t)(100 + i));
        cargs[i] = (pp_buf){l ? bufs + (size_t)i * len : NULL, l};
    }
    PP_ASSERT_OK_FATAL(pp_map(ex, "checksum", cargs, N, 4, PP_T_TIMEOUT_MS, &it));
    for (int i = 0; i < N; i++) {
        pp_buf r;
        uint64_t h = 0;
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        if (r.len == sizeof h)
            memcpy(&h, r.data, sizeof h);
        CU_ASSERT_EQUAL(h, pp_t_fnv1a(cargs[i].data, cargs[i].len));
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    free(bufs);
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"input order with chunksize 1, 3, 7, n, > n, SIZE_MAX, and empty input", test_order_and_chunks},
    {"a failed item reports its error at its position", test_failed_item_keeps_going},
    {"bad arguments", test_bad_arguments},
    {"one timeout for the whole iteration", test_timeout_whole_iteration},
    {"freeing the iterator cancels what has not started", test_free_cancels},
    {"lazy input within buffersize chunks", test_lazy_buffersize},
    {"map after shutdown", test_after_shutdown},
    {"a pool that breaks mid-map", test_broken_mid_map},
    {"empty input ends at once", test_empty_map},
    {"NULL result and err pointers", test_null_out_pointers},
    {"a chunk is one work item, its calls in order", test_chunks_are_work_items},
    {"the deadline is measured from pp_map; ready results still come", test_deadline_from_map_call},
    {"timeout 0 polls", test_timeout_zero},
    {"freeing part-way cancels the rest", test_free_part_way},
    {"lazy: buffersize chunks pulled at once, one more per chunk consumed", test_lazy_pulls_buffersize_at_once},
    {"lazy: endless input", test_lazy_infinite_input},
    {"lazy: failed items, bad arguments, timeout", test_lazy_errors_and_timeout},
    {"lazy: a bad argument from the callback", test_lazy_bad_argument},
    {"lazy: shut down before and during the iteration", test_lazy_shutdown},
    {"broken mid-map with chunks: whole chunks fail at their positions", test_broken_mid_map_chunks},
    {"a pool that breaks while pp_map submits", test_broken_while_submitting},
    {"exit in a map's call: PP_EBROKEN from its chunk on, then PP_END", test_broken_exit_if},
    {"lazy: exit in a call breaks the pool mid-map", test_lazy_broken_exit_if},
    {"a map iterator outlives its executor", test_iterator_outlives_executor},
    {"cancelled calls report PP_ECANCELLED at their positions", test_cancelled_positions},
    {"kill_workers during a map", test_killed_during_map},
    {"large and empty items inside chunks", test_large_items_in_chunks},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_map = {"map", NULL, NULL, NULL, NULL, tests};
