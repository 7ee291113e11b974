/*
 * The alloc suite: allocation failure through the library's one choke point (pp__malloc
 * and friends). For each call below, the 1st, 2nd, ... allocation the call makes fails in
 * turn, until the call succeeds with no failure injected. Each failing call must return
 * PP_ENOMEM (nothing half-done: no out-pointer, no callback, no future left behind), and the
 * executor must stay usable (a normal call right after works) or be cleanly destroyable.
 * That nothing leaks is proven by the sanitizer and valgrind runs of this suite.
 */
#include <stdlib.h>
#include <string.h>

#include "pp_core.h"
#include "seg.h"
#include "pp_test.h"

#define MAX_FAULTS 400 /* far more allocations than any of these calls makes */

/* A normal echo round trip on ex: the executor still works. */
static void check_usable(pp_executor *ex)
{
    pp_future *f = NULL;
    int v = 77;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", &v, sizeof v, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == sizeof v && memcmp(r.data, &v, sizeof v) == 0);
    pp_future_release(f);
}

static void test_create(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    o.initializer = "init_set";
    o.initargs.data = "abc";
    o.initargs.len = 3;
    int k, failed = 0;
    for (k = 1; k <= MAX_FAULTS; k++) {
        pp_executor *ex = (pp_executor *)1;
        pp__alloc_fail_nth(k);
        pp_status st = pp_executor_create(&o, &ex);
        bool fired = pp__alloc_fault_fired();
        if (!fired) {
            PP_ASSERT_OK_FATAL(st);
            check_usable(ex);
            pp_executor_destroy(ex);
            break;
        }
        failed++;
        PP_ASSERT_ST(PP_ENOMEM, st);
        CU_ASSERT_PTR_NULL(ex);
    }
    CU_ASSERT(k <= MAX_FAULTS);
    CU_ASSERT(failed >= 3); /* the executor, its program path, its frames at least */
    printf("(%d faults) ", failed);
}

/* One pp_submit of an argument of len bytes, every allocation failing in turn: at least
 * min_faults of them. */
static void submit_faults(size_t len, int min_faults)
{
    pp_executor *ex = pp_t_executor(1);
    check_usable(ex); /* the worker exists: only the submit's own allocations remain */
    unsigned char arg[1000];
    CU_ASSERT_FATAL(len <= sizeof arg);
    int k, failed = 0;
    for (k = 1; k <= MAX_FAULTS; k++) {
        pp_future *f = (pp_future *)1;
        memset(arg, k, len);
        pp__alloc_fail_nth(k);
        pp_status st = pp_submit(ex, "echo", arg, len, &f);
        bool fired = pp__alloc_fault_fired();
        if (!fired) {
            PP_ASSERT_OK_FATAL(st);
            pp_buf r;
            PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
            CU_ASSERT(r.len == len && memcmp(r.data, arg, len) == 0);
            pp_future_release(f);
            break;
        }
        failed++;
        PP_ASSERT_ST(PP_ENOMEM, st);
        CU_ASSERT_PTR_NULL(f);
        check_usable(ex);
    }
    CU_ASSERT(k <= MAX_FAULTS);
    CU_ASSERT(failed >= min_faults);
    printf("(%zu bytes: %d faults) ", len, failed);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    /* nothing half-submitted: every item that got in completed: the first check, one check
     * per failed submit, and the last submit */
    CU_ASSERT_EQUAL(s.completed, (unsigned long long)failed + 2);
    CU_ASSERT_EQUAL(s.pending, 0);
    CU_ASSERT_EQUAL(s.failed, 0);
    pp_executor_destroy(ex);
}

static void test_submit(void)
{
    submit_faults(sizeof(int), 1);  /* the future, its work item in the same block */
    submit_faults(1000, 2);         /* a larger CALL frame: the work item, the future */
}

/* pp_map over 10 items in chunks of 3, and pp_map_lazy: a failure anywhere in the call is
 * PP_ENOMEM with no iterator, whatever chunks it had submitted are taken back. */
typedef struct lazy_src {
    int i, n;
    int vals[10];
} lazy_src;

static bool lazy_next(void *ud, pp_buf *arg)
{
    lazy_src *s = ud;
    if (s->i >= s->n)
        return false;
    arg->data = &s->vals[s->i];
    arg->len = sizeof s->vals[0];
    s->i++;
    return true;
}

/* After a PP_ENOMEM: pp_last_error() names the function and says "out of memory". */
static bool nomem_text(const char *func)
{
    const char *t = pp_last_error();
    bool ok = strncmp(t, func, strlen(func)) == 0 && strstr(t, "out of memory") != NULL;
    if (!ok)
        fprintf(stderr, "\n  after PP_ENOMEM, pp_last_error() is \"%s\"", t);
    return ok;
}

static void test_map(void)
{
    enum { N = 10 };
    pp_executor *ex = pp_t_executor(2);
    check_usable(ex);
    int vals[N];
    pp_buf args[N];
    for (int i = 0; i < N; i++) {
        vals[i] = i * 3;
        args[i] = (pp_buf){&vals[i], sizeof vals[i]};
    }
    for (int lazy = 0; lazy < 2; lazy++) {
        int k, failed = 0;
        for (k = 1; k <= MAX_FAULTS; k++) {
            pp_map_iter *it = (pp_map_iter *)1;
            lazy_src src = {0, N, {0}};
            memcpy(src.vals, vals, sizeof vals);
            pp__alloc_fail_nth(k);
            pp_status st = lazy ? pp_map_lazy(ex, "echo", lazy_next, &src, 3, 2,
                                              PP_T_TIMEOUT_MS, &it)
                                : pp_map(ex, "echo", args, N, 3, PP_T_TIMEOUT_MS, &it);
            bool fired = pp__alloc_fault_fired();
            if (!fired) {
                PP_ASSERT_OK_FATAL(st);
                pp_buf r;
                for (int i = 0; i < N; i++) {
                    PP_ASSERT_OK(pp_map_next(it, &r, NULL));
                    CU_ASSERT(r.len == sizeof vals[i] && memcmp(r.data, &vals[i], r.len) == 0);
                }
                CU_ASSERT_EQUAL(pp_map_next(it, &r, NULL), PP_END);
                pp_map_free(it);
                break;
            }
            failed++;
            PP_ASSERT_ST(PP_ENOMEM, st);
            CU_ASSERT(nomem_text(lazy ? "pp_map_lazy: " : "pp_map: "));
            CU_ASSERT_PTR_NULL(it);
            check_usable(ex);
        }
        CU_ASSERT(k <= MAX_FAULTS);
        CU_ASSERT(failed >= 2);
        printf("(%s: %d faults) ", lazy ? "lazy" : "map", failed);
    }
    /* every submitted chunk was either run or taken back: the pool is idle and whole */
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0);
    CU_ASSERT_EQUAL(s.pending, 0);
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    pp_executor_destroy(ex);
}

/* as_completed, wait and done callbacks on futures that are done or not: PP_ENOMEM leaves
 * no iterator, no callback registered; the futures are untouched. */
static void count_cb(pp_future *f, void *ud)
{
    (void)f;
    (*(int *)ud)++;
}

static void test_as_completed_wait_callbacks(void)
{
    enum { N = 4 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++)
        PP_ASSERT_OK_FATAL(pp_future_create(&fs[i]));
    PP_ASSERT_OK(pp_future_set_result(fs[0], "a", 1)); /* one done, three pending */

    int k, failed = 0;
    for (k = 1; k <= MAX_FAULTS; k++) {
        pp_as_completed *it = (pp_as_completed *)1;
        pp__alloc_fail_nth(k);
        pp_status st = pp_as_completed_begin(fs, N, 0, &it);
        bool fired = pp__alloc_fault_fired();
        if (!fired) {
            PP_ASSERT_OK_FATAL(st);
            pp_future *f = NULL;
            PP_ASSERT_OK(pp_as_completed_next(it, &f));
            CU_ASSERT_PTR_EQUAL(f, fs[0]);
            CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_ETIMEDOUT);
            pp_as_completed_end(it);
            break;
        }
        failed++;
        PP_ASSERT_ST(PP_ENOMEM, st);
        CU_ASSERT(nomem_text("pp_as_completed_begin: "));
        CU_ASSERT_PTR_NULL(it);
    }
    CU_ASSERT(k <= MAX_FAULTS);
    CU_ASSERT(failed >= 1);

    for (k = 1; k <= MAX_FAULTS; k++) {
        size_t n_done = 99;
        pp__alloc_fail_nth(k);
        pp_status st = pp_wait(fs, N, 10, PP_ALL_COMPLETED, NULL, &n_done);
        bool fired = pp__alloc_fault_fired();
        if (!fired) {
            PP_ASSERT_OK(st);
            CU_ASSERT_EQUAL(n_done, 1);
            break;
        }
        PP_ASSERT_ST(PP_ENOMEM, st);
        CU_ASSERT(nomem_text("pp_wait: "));
    }
    CU_ASSERT(k <= MAX_FAULTS);

    int calls = 0;
    for (k = 1; k <= MAX_FAULTS; k++) {
        pp__alloc_fail_nth(k);
        pp_status st = pp_future_add_done_callback(fs[1], count_cb, &calls);
        bool fired = pp__alloc_fault_fired();
        if (!fired) {
            PP_ASSERT_OK(st);
            break;
        }
        PP_ASSERT_ST(PP_ENOMEM, st);
        CU_ASSERT(nomem_text("pp_future_add_done_callback: "));
    }
    CU_ASSERT(k <= MAX_FAULTS);
    CU_ASSERT_EQUAL(calls, 0);
    PP_ASSERT_OK(pp_future_set_result(fs[1], "b", 1));
    CU_ASSERT_EQUAL(calls, 1); /* registered exactly once */

    /* pp_future_create itself */
    for (k = 1; k <= MAX_FAULTS; k++) {
        pp_future *f = (pp_future *)1;
        pp__alloc_fail_nth(k);
        pp_status st = pp_future_create(&f);
        bool fired = pp__alloc_fault_fired();
        if (!fired) {
            PP_ASSERT_OK(st);
            pp_future_release(f);
            break;
        }
        PP_ASSERT_ST(PP_ENOMEM, st);
        CU_ASSERT(nomem_text("pp_future_create: "));
        CU_ASSERT_PTR_NULL(f);
    }
    for (int i = 0; i < N; i++)
        pp_future_release(fs[i]);
}

/* Large freed blocks (payloads) are kept for reuse while an executor exists, reused
 * without mixing old bytes into new results, and given back when the last executor goes. */
static void test_big_blocks_kept(void)
{
    const size_t big = (size_t)8 << 20, small = (size_t)1 << 20;
    CU_ASSERT_EQUAL(pp__big_kept(), 0); /* every earlier executor was destroyed */
    void *p = pp__malloc(big);
    CU_ASSERT_FATAL(p != NULL);
    pp__free(p);
    CU_ASSERT_EQUAL(pp__big_kept(), 0); /* no executor: freed at once */

    pp_executor *ex = pp_t_executor(1);
    /* Payloads this large go through shared memory (PROCPOOL_SHM_MIN), not through these
     * blocks, except with PP_START_MPI; the entry alloc.noshm runs this test without. */
    bool segs = pp__seg_min() != 0 && pp__seg_min() <= big && pp_t_start != PP_START_MPI;
    if (segs)
        printf("(payloads through segments) ");
    uint8_t *buf = malloc(big);
    CU_ASSERT_FATAL(buf != NULL);
    for (uint32_t seed = 1; seed <= 3; seed++) {
        pp_t_fill(buf, big, seed);
        pp_future *f = NULL;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", buf, big, &f));
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
        CU_ASSERT(r.len == big && memcmp(r.data, buf, big) == 0);
        pp_future_release(f);
        if (segs) {
            /* through payload segments (seg.h): the same ones serve every call */
            CU_ASSERT(pp__seg_count() <= 3);
            continue;
        }
        /* its result block and the call's frame are kept when their last owners free them
         * (the manager may still hold the work item for a moment) */
        long long end = pp_t_now_ms() + PP_T_TIMEOUT_MS;
        while (pp__big_kept() < 2 && pp_t_now_ms() < end)
            pp_t_sleep_ms(1);
        CU_ASSERT_EQUAL(pp__big_kept(), 2);
    }
    free(buf);
    size_t kept = pp__big_kept();
    p = pp__malloc(small);
    CU_ASSERT_FATAL(p != NULL);
    pp__free(p);
    CU_ASSERT_EQUAL(pp__big_kept(), kept); /* small blocks are not kept */

    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL(pp__big_kept(), 0); /* the last executor gave them back */
    CU_ASSERT_EQUAL(pp__seg_count(), 0); /* and the segments */
}

/* Medium blocks (a map chunk's frame: 1 KiB up) are kept too, while an executor exists, up
 * to 16 MiB in all, and given back with the last executor: maps no longer fault the C
 * heap in again each time (glibc trims it). */
static void test_mid_blocks_kept(void)
{
    enum { SIZE = 40000, FLOOD = 500 }; /* 500 x 40 kB: past the 16 MiB bound */
    const size_t cap = (size_t)16 << 20;
    CU_ASSERT_EQUAL(pp__mid_kept_bytes(), 0); /* every earlier executor was destroyed */
    void *p = pp__malloc(SIZE);
    CU_ASSERT_FATAL(p != NULL);
    pp__free(p);
    CU_ASSERT_EQUAL(pp__mid_kept_bytes(), 0); /* no executor: freed at once */

    pp_executor *ex = pp_t_executor(1);
    p = pp__malloc(SIZE);
    CU_ASSERT_FATAL(p != NULL);
    memset(p, 0xab, SIZE);
    size_t before = pp__mid_kept_bytes();
    pp__free(p);
    CU_ASSERT(pp__mid_kept_bytes() >= before + SIZE); /* kept, not freed */
    void *q = pp__malloc(SIZE);
    CU_ASSERT_FATAL(q != NULL);
    CU_ASSERT_PTR_EQUAL(q, p); /* and taken again by an allocation of its size */
    memset(q, 0, SIZE);
    pp__free(q);

    void *blocks[FLOOD];
    for (int i = 0; i < FLOOD; i++) {
        blocks[i] = pp__malloc(SIZE);
        CU_ASSERT_FATAL(blocks[i] != NULL);
    }
    for (int i = 0; i < FLOOD; i++)
        pp__free(blocks[i]);
    size_t kept = pp__mid_kept_bytes();
    CU_ASSERT(kept <= cap); /* bounded */
    CU_ASSERT(kept > cap - 2 * SIZE); /* and filled up to it */
    p = pp__malloc(64);
    CU_ASSERT_FATAL(p != NULL);
    pp__free(p);
    CU_ASSERT_EQUAL(pp__mid_kept_bytes(), kept); /* small blocks are not kept */
    p = pp__malloc(200000);
    CU_ASSERT_FATAL(p != NULL);
    pp__free(p);
    CU_ASSERT_EQUAL(pp__mid_kept_bytes(), kept); /* nor blocks the C library maps */

    /* A size none of the kept blocks serves, while they hold 1 MiB or more: all given back
     * (the C library serves the new size from them); then that size is kept as before. */
    CU_ASSERT(kept >= (size_t)1 << 20);
    p = pp__malloc(3000);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(pp__mid_kept_bytes(), 0);
    pp__free(p);
    CU_ASSERT(pp__mid_kept_bytes() >= 3000);
    q = pp__malloc(3000);
    CU_ASSERT_PTR_EQUAL(q, p);
    memset(q, 0xab, 3000);
    pp__free(q);
    unsigned char *z = pp__calloc(3, 1000); /* the same block, zeroed */
    CU_ASSERT_PTR_EQUAL(z, p);
    size_t nonzero = 0;
    for (size_t i = 0; z && i < 3000; i++)
        nonzero += z[i] != 0;
    CU_ASSERT_EQUAL(nonzero, 0);
    pp__free(z);

    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL(pp__mid_kept_bytes(), 0); /* the last executor gave them back */
}

static CU_TestInfo tests[] = {
    {"pp_executor_create: every allocation failing in turn", test_create},
    {"large freed blocks are kept for reuse only while an executor exists",
     test_big_blocks_kept},
    {"medium freed blocks are kept, up to a bound, only while an executor exists, given back when another size is wanted",
     test_mid_blocks_kept},
    {"pp_submit: every allocation failing in turn", test_submit},
    {"pp_map and pp_map_lazy: every allocation failing in turn", test_map},
    {"as_completed, wait, done callbacks, future_create: every allocation failing in turn",
     test_as_completed_wait_callbacks},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_alloc = {"alloc", NULL, NULL, NULL, NULL, tests};
