/*
 * The chunks suite: a map chunk blames precisely (DESIGN.md, "Beyond CPython"). When the
 * worker running a chunk dies (ISOLATE, RETRY) or is stopped (a time limit), the items it
 * finished keep their results, the item it was running gets the error (or, under RETRY, runs
 * again), and the items it had not started run again on another worker. Every item records
 * each of its runs in a file of its own (task chunk_step), so that a test can tell that none ran twice.
 * Crashes and hangs are real.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"

#define BOUND_MS 30000L

typedef struct plan {
    int            n;         /* items */
    pp_t_step_arg *args;
    pp_buf        *bufs;
    char           path[256];
} plan;

/* n items of chunk_step, all PP_T_STEP_OK with `size` result bytes, recording their runs in
 * a fresh file named after tag. */
static void plan_init(plan *p, int n, const char *tag, uint32_t size)
{
    p->n = n;
    p->args = calloc((size_t)n, sizeof *p->args);
    p->bufs = calloc((size_t)n, sizeof *p->bufs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->args);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p->bufs);
    snprintf(p->path, sizeof p->path, "pp_chunks_%s_%lld_%s.runs", tag, pp_t_getpid(),
             pp_t_start_name());
    pp_t_step_remove(p->path, n);
    for (int i = 0; i < n; i++) {
        p->args[i].index = i;
        p->args[i].mode = PP_T_STEP_OK;
        p->args[i].size = size;
        snprintf(p->args[i].path, sizeof p->args[i].path, "%s", p->path);
        p->bufs[i] = (pp_buf){&p->args[i], sizeof p->args[i]};
    }
}

static void plan_free(plan *p)
{
    pp_t_step_remove(p->path, p->n);
    free(p->args);
    free(p->bufs);
}

/* pp_map of chunk_step over all the plan's items, in chunks of chunksize (fatal if it
 * fails). */
static pp_map_iter *plan_map(pp_executor *ex, const plan *p, size_t chunksize)
{
    pp_map_iter *it = NULL;
    PP_ASSERT_OK_FATAL(pp_map(ex, "chunk_step", p->bufs, (size_t)p->n, chunksize, BOUND_MS,
                              &it));
    return it;
}

/* A test's end: frees the iterator, the executor and the plan. */
static void plan_end(pp_map_iter *it, pp_executor *ex, plan *p)
{
    pp_map_free(it);
    pp_executor_destroy(ex);
    plan_free(p);
}

static pp_executor *chunk_executor(pp_crash_policy policy, int retries, long limit_ms)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 2;
    o.crash_policy = policy;
    o.max_retries = retries;
    o.call_time_limit_ms = limit_ms;
    o.stop_grace_ms = limit_ms ? 200 : 0;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    return ex;
}

/* What one item of a map gave back. */
typedef struct outcome {
    pp_status st;
    pp_error  e;
    char      msg[1024];
    pp_t_step_out out;
    size_t    len;
    bool      bytes_ok; /* the padding is as the task wrote it */
} outcome;

static void next_outcome(pp_map_iter *it, outcome *o)
{
    pp_buf r = {NULL, 0};
    const pp_error *e = NULL;
    memset(o, 0, sizeof *o);
    o->st = pp_map_next(it, &r, &e);
    if (o->st == PP_OK) {
        o->len = r.len;
        if (r.len >= sizeof o->out) {
            memcpy(&o->out, r.data, sizeof o->out);
            o->bytes_ok = true;
            const unsigned char *b = r.data;
            for (size_t i = sizeof o->out; i < r.len; i++)
                o->bytes_ok &= b[i] == (unsigned char)(o->out.index + i);
        }
    } else if (e) {
        o->e = *e;
        snprintf(o->msg, sizeof o->msg, "%s", e->message ? e->message : "");
        o->e.message = o->msg;
    }
}

/* Every item ran exactly once, but `again` (-1: none), which ran twice. */
static void check_runs(const plan *p, int again)
{
    for (int i = 0; i < p->n; i++) {
        int runs = pp_t_step_runs(p->path, i);
        int want = i == again ? 2 : 1;
        if (runs != want)
            fprintf(stderr, "\n  item %d ran %d times (expected %d)\n", i, runs, want);
        CU_ASSERT_EQUAL(runs, want);
    }
}

/* The item that was running when its worker died: PP_EWORKERDIED, naming the worker, the
 * call and the item. */
static void check_died(const outcome *o, int item, int chunk_n)
{
    CU_ASSERT_EQUAL(o->st, PP_EWORKERDIED);
    CU_ASSERT_EQUAL(o->e.status, PP_EWORKERDIED);
    CU_ASSERT(o->e.pid > 0 && o->e.pid != pp_t_getpid());
    CU_ASSERT(o->e.work_id > 0);
    CU_ASSERT(o->e.code != 0);
    char who[64], work[64], which[96];
    snprintf(who, sizeof who, "worker %lld ", o->e.pid);
    snprintf(work, sizeof work, "(work %llu, ", o->e.work_id);
    snprintf(which, sizeof which, "item %d of its chunk of %d", item, chunk_n);
    bool ok = strstr(o->msg, who) && strstr(o->msg, work) && strstr(o->msg, which) &&
              strstr(o->msg, "chunk_step");
    if (!ok)
        fprintf(stderr, "\n  unexpected message: %s\n", o->msg);
    CU_ASSERT(ok);
}

/* One chunk of 10 whose item `bad` crashes (mode): the items before it keep their results
 * from the dead worker, it fails PP_EWORKERDIED, the items after it run on another worker;
 * each ran once. The second chunk is untouched. */
static void crash_in_chunk(int mode, int bad)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    enum { N = 20, CHUNK = 10 };
    plan p;
    plan_init(&p, N, mode == PP_T_STEP_SEGV ? "segv" : "kill", 0);
    p.args[bad].mode = mode;
    pp_executor *ex = chunk_executor(PP_CRASH_ISOLATE, 0, 0);
    pp_map_iter *it = plan_map(ex, &p, CHUNK);
    long long before = 0, after = 0, dead = 0;
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        if (i == bad) {
            check_died(&o, bad % CHUNK, CHUNK);
            dead = o.e.pid;
            continue;
        }
        PP_ASSERT_OK(o.st);
        CU_ASSERT_EQUAL(o.out.index, i);
        CU_ASSERT_EQUAL(o.out.runs, 1);
        if (i / CHUNK == bad / CHUNK && i < bad)
            before = before ? before : o.out.pid;
        if (i / CHUNK == bad / CHUNK && i < bad)
            CU_ASSERT_EQUAL(o.out.pid, before); /* one worker ran them, then died */
        if (i / CHUNK == bad / CHUNK && i > bad)
            after = o.out.pid;
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    if (bad % CHUNK)
        CU_ASSERT_EQUAL(before, dead);
    if (bad % CHUNK != CHUNK - 1)
        CU_ASSERT(after != 0 && after != dead); /* the rest ran on another worker */
    check_runs(&p, -1);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 1);
    plan_end(it, ex, &p);
}

static void test_segv_mid_chunk(void)
{
    crash_in_chunk(PP_T_STEP_SEGV, 4);
}

static void test_kill_mid_chunk(void)
{
    crash_in_chunk(PP_T_STEP_KILL, 16);
}

static void test_kill_first_and_last(void)
{
    crash_in_chunk(PP_T_STEP_KILL, 0);
    crash_in_chunk(PP_T_STEP_SEGV, 19);
}

/* RETRY: the item that was running runs again (counted as a call's retries), the items
 * before it are not run again. */
static void test_retry_item(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_RETRY is PP_EINVAL with fork");
    enum { N = 8 };
    /* dies once, then succeeds on its retry */
    plan p;
    plan_init(&p, N, "retry_once", 0);
    p.args[3].mode = PP_T_STEP_KILL_ONCE;
    pp_executor *ex = chunk_executor(PP_CRASH_RETRY, 1, 0);
    pp_map_iter *it = plan_map(ex, &p, N);
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        PP_ASSERT_OK(o.st);
        CU_ASSERT_EQUAL(o.out.index, i);
        CU_ASSERT_EQUAL(o.out.runs, i == 3 ? 2 : 1);
    }
    check_runs(&p, 3);
    plan_end(it, ex, &p);

    /* dies every time: 1 + max_retries runs, then PP_EWORKERDIED "after 1 retry"; the
     * items after it still run, once */
    plan_init(&p, N, "retry_always", 0);
    p.args[5].mode = PP_T_STEP_KILL;
    ex = chunk_executor(PP_CRASH_RETRY, 1, 0);
    it = plan_map(ex, &p, N);
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        if (i == 5) {
            check_died(&o, 5, N);
            CU_ASSERT(strstr(o.msg, "after 1 retry") != NULL);
            continue;
        }
        PP_ASSERT_OK(o.st);
        CU_ASSERT_EQUAL(o.out.runs, 1);
    }
    check_runs(&p, 5);
    plan_end(it, ex, &p);
}

/* A time limit: the item that hangs ends PP_ETIMELIMIT (killed after the grace, or, if it
 * listens, returned within it), the items before it keep their results, the items after
 * it run (again with the limit) and succeed; each ran once. */
static void hang_in_chunk(int mode)
{
    PP_T_SKIP_IF_FORK("time limits are PP_EINVAL with fork");
    enum { N = 8, BAD = 2 };
    plan p;
    plan_init(&p, N, mode == PP_T_STEP_HANG ? "hang" : "polite", 0);
    p.args[BAD].mode = mode;
    pp_executor *ex = chunk_executor(PP_CRASH_BREAK, 0, 1000); /* the default policy */
    pp_map_iter *it = plan_map(ex, &p, N);
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        if (i == BAD) {
            CU_ASSERT_EQUAL(o.st, PP_ETIMELIMIT);
            CU_ASSERT_EQUAL(o.e.status, PP_ETIMELIMIT);
            CU_ASSERT(o.e.work_id > 0 && o.e.pid > 0);
            const char *how = mode == PP_T_STEP_HANG ? "was killed after a grace"
                                                     : "returned within the grace";
            bool ok = strstr(o.msg, "item 2 of its chunk of 8") && strstr(o.msg, how) &&
                      strstr(o.msg, "time limit 1000 ms");
            if (!ok)
                fprintf(stderr, "\n  unexpected message: %s\n", o.msg);
            CU_ASSERT(ok);
            continue;
        }
        PP_ASSERT_OK(o.st);
        CU_ASSERT_EQUAL(o.out.index, i);
        CU_ASSERT_EQUAL(o.out.runs, 1);
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    check_runs(&p, -1);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0); /* a stop is not a death */
    plan_end(it, ex, &p);
}

/* The time limit is each item's: a chunk of items that each take well under the limit
 * runs whole, though the chunk takes longer than the limit (failed before: the item
 * running when the chunk's first deadline passed ended PP_ETIMELIMIT). */
static void test_limit_per_item(void)
{
    PP_T_SKIP_IF_FORK("time limits are PP_EINVAL with fork");
    enum { N = 6 }; /* 6 x 300 ms = 1.8 s, against a limit of 1 s */
    plan p;
    plan_init(&p, N, "per_item", 0);
    for (int i = 0; i < N; i++)
        p.args[i].mode = PP_T_STEP_SLEEP300;
    pp_executor *ex = chunk_executor(PP_CRASH_BREAK, 0, 1000);
    pp_map_iter *it = plan_map(ex, &p, N);
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        if (o.st != PP_OK)
            fprintf(stderr, "\n  item %d: %s: %s\n", i, pp_status_str(o.st), o.msg);
        PP_ASSERT_OK(o.st);
        CU_ASSERT_EQUAL(o.out.index, i);
        CU_ASSERT_EQUAL(o.out.runs, 1);
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    check_runs(&p, -1);
    plan_end(it, ex, &p);
}

static void test_hang_killed(void)
{
    hang_in_chunk(PP_T_STEP_HANG);
}

static void test_hang_polite(void)
{
    hang_in_chunk(PP_T_STEP_POLITE);
}

/* Results larger than the worker's shared block: they reach the manager in several frames
 * (MORE), and a crash after some of them still keeps each. */
static void test_large_results(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    enum { N = 9, BAD = 6 };
    plan p;
    plan_init(&p, N, "large", 100 * 1024);
    p.args[1].size = 600 * 1024; /* larger than the block alone */
    p.args[BAD].mode = PP_T_STEP_KILL;
    pp_executor *ex = chunk_executor(PP_CRASH_ISOLATE, 0, 0);
    pp_map_iter *it = plan_map(ex, &p, N);
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        if (i == BAD) {
            check_died(&o, BAD, N);
            continue;
        }
        PP_ASSERT_OK(o.st);
        CU_ASSERT_EQUAL(o.len, (size_t)p.args[i].size);
        CU_ASSERT(o.bytes_ok);
        CU_ASSERT_EQUAL(o.out.runs, 1);
    }
    check_runs(&p, -1);
    pp_map_free(it);
    pp_executor_destroy(ex);

    /* and with no crash, the same map gives every result (the pieces are put together) */
    p.args[BAD].mode = PP_T_STEP_OK;
    pp_t_step_remove(p.path, p.n);
    ex = chunk_executor(PP_CRASH_BREAK, 0, 0);
    it = plan_map(ex, &p, N);
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        PP_ASSERT_OK(o.st);
        CU_ASSERT_EQUAL(o.len, (size_t)p.args[i].size);
        CU_ASSERT(o.bytes_ok);
    }
    check_runs(&p, -1);
    plan_end(it, ex, &p);
}

/* map_lazy: the same blame, chunk by chunk. */
typedef struct lazy_src {
    plan *p;
    int   next;
} lazy_src;

static bool lazy_next(void *ud, pp_buf *arg)
{
    lazy_src *s = ud;
    if (s->next >= s->p->n)
        return false;
    *arg = s->p->bufs[s->next++];
    return true;
}

static void test_map_lazy(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    enum { N = 15, CHUNK = 5, BAD = 7 };
    plan p;
    plan_init(&p, N, "lazy", 0);
    p.args[BAD].mode = PP_T_STEP_SEGV;
    pp_executor *ex = chunk_executor(PP_CRASH_ISOLATE, 0, 0);
    lazy_src src = {&p, 0};
    pp_map_iter *it = NULL;
    PP_ASSERT_OK_FATAL(pp_map_lazy(ex, "chunk_step", lazy_next, &src, CHUNK, 2, BOUND_MS,
                                   &it));
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        if (i == BAD) {
            check_died(&o, BAD % CHUNK, CHUNK);
            continue;
        }
        PP_ASSERT_OK(o.st);
        CU_ASSERT_EQUAL(o.out.index, i);
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    check_runs(&p, -1);
    plan_end(it, ex, &p);
}

/* BREAK (the default) is CPython's: a crash inside a chunk breaks the pool, and every item
 * of the chunk fails PP_EBROKEN, the finished ones too. */
static void test_break_unchanged(void)
{
    enum { N = 6 };
    plan p;
    plan_init(&p, N, "break", 0);
    p.args[3].mode = PP_T_STEP_KILL;
    pp_executor *ex = chunk_executor(PP_CRASH_BREAK, 0, 0);
    pp_map_iter *it = plan_map(ex, &p, N);
    for (int i = 0; i < N; i++) {
        outcome o;
        next_outcome(it, &o);
        CU_ASSERT_EQUAL(o.st, PP_EBROKEN);
    }
    plan_end(it, ex, &p);
}

/* pp_executor_stop while a chunk's item runs (fork too): the items before it keep their
 * results; it keeps what it returns within the grace, or ends PP_ECANCELLED when its worker
 * is killed after it; the items not started end PP_ECANCELLED without running. */
static void stop_in_chunk(int mode)
{
    enum { N = 6, BAD = 2 };
    plan p;
    plan_init(&p, N, mode == PP_T_STEP_HANG ? "stop_hang" : "stop_polite", 0);
    p.args[BAD].mode = mode;
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 2;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    pp_map_iter *it = plan_map(ex, &p, N);
    long long t0 = pp_t_now_ms();
    while (pp_t_step_runs(p.path, BAD) == 0 && pp_t_now_ms() - t0 < BOUND_MS)
        pp_t_sleep_ms(5);
    CU_ASSERT_EQUAL_FATAL(pp_t_step_runs(p.path, BAD), 1);
    PP_ASSERT_OK(pp_executor_stop(ex, mode == PP_T_STEP_HANG ? 200 : 20000));
    for (int i = 0; i < N; i++) {
        outcome o2;
        next_outcome(it, &o2);
        if (i < BAD || (i == BAD && mode == PP_T_STEP_POLITE)) {
            PP_ASSERT_OK(o2.st);
            CU_ASSERT_EQUAL(o2.out.index, i);
        } else {
            CU_ASSERT_EQUAL(o2.st, PP_ECANCELLED);
            CU_ASSERT(o2.e.work_id > 0);
            const char *why = i == BAD ? "was stopped (pp_executor_stop)"
                                       : "cancelled before this item of its chunk started";
            if (!strstr(o2.msg, why))
                fprintf(stderr, "\n  item %d: unexpected message: %s\n", i, o2.msg);
            CU_ASSERT(strstr(o2.msg, why) != NULL);
        }
    }
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(pp_t_step_runs(p.path, i), i <= BAD ? 1 : 0);
    plan_end(it, ex, &p);
}

static void test_stop_polite(void)
{
    stop_in_chunk(PP_T_STEP_POLITE);
}

static void test_stop_hang(void)
{
    stop_in_chunk(PP_T_STEP_HANG);
}

static CU_TestInfo tests[] = {
    {"ISOLATE: a segfault mid-chunk blames its item alone", test_segv_mid_chunk},
    {"ISOLATE: a SIGKILL mid-chunk blames its item alone", test_kill_mid_chunk},
    {"ISOLATE: the first and the last item of a chunk", test_kill_first_and_last},
    {"RETRY: the running item is retried, the others run once", test_retry_item},
    {"time limit: a hanging item is killed, the rest of its chunk runs", test_hang_killed},
    {"time limit: each item's, not the chunk's", test_limit_per_item},
    {"time limit: an item that listens returns, the rest of its chunk runs",
     test_hang_polite},
    {"results larger than the shared block, with and without a crash", test_large_results},
    {"map_lazy: the same blame", test_map_lazy},
    {"pp_executor_stop: the running item returns, the rest is cancelled", test_stop_polite},
    {"pp_executor_stop: the running item is killed, the rest is cancelled", test_stop_hang},
    {"BREAK: a crash in a chunk still breaks the pool", test_break_unchanged},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_chunks = {"chunks", NULL, NULL, NULL, NULL, tests};
