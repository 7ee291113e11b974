/*
 * The as_completed suite: futures already done come first, then each in completion order;
 * duplicates are yielded once; PP_ETIMEDOUT when the deadline (measured from begin) passes
 * with futures unfinished; PP_END after the last; the iterator holds its own references;
 * cancelled futures are yielded. CPython: Lib/test/test_concurrent_futures/
 * test_as_completed.py.
 *
 * Completion order is made deterministic by completing futures from one helper thread in a
 * known sequence (each set_result happens before the next), or by executor tasks on a single
 * worker (FIFO), never by racing sleeps.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"
#include "pp_os.h" /* pp__os_handle_count: the notifier leaks nothing */

#ifdef _WIN32
#  include <windows.h>
#else
#  include <errno.h>
#  include <poll.h>
#endif

#define HANG_MS 10000LL
#define LONG_WAIT 20000L

static pp_as_completed *begin(pp_future *const *fs, size_t n, long timeout_ms)
{
    pp_as_completed *it = NULL;
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(fs, n, timeout_ms, &it));
    CU_ASSERT_PTR_NOT_NULL_FATAL(it);
    return it;
}

/* Next yielded future, or NULL (failing the test) if next did not return PP_OK. */
static pp_future *next_ok(pp_as_completed *it)
{
    pp_future *f = (pp_future *)1;
    pp_status st = pp_as_completed_next(it, &f);
    PP_ASSERT_ST(PP_OK, st);
    if (st != PP_OK)
        return NULL;
    CU_ASSERT_PTR_NOT_NULL(f);
    if (f)
        CU_ASSERT_TRUE(pp_future_done(f)); /* only done futures are yielded */
    return f;
}

static void expect_end(pp_as_completed *it)
{
    pp_future *f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_END);
    CU_ASSERT_PTR_NULL(f);
}

/* ---- order ---- */

static void test_done_first_then_completion_order(void)
{
    pp_future *a = pp_t_new_future(), *b = pp_t_new_finished(), *c = pp_t_new_future(),
              *d = pp_t_new_future();
    CU_ASSERT_TRUE(pp_future_cancel(d)); /* done (cancelled) before begin */
    pp_future *fs[4] = {a, b, c, d};
    long long t0 = pp_t_now_ms();
    pp_as_completed *it = begin(fs, 4, LONG_WAIT);
    /* c completes before a: the helper starts after begin, so neither is done at begin */
    pp_t_step steps[] = {{50, c, PP_T_DO_RESULT, false}, {50, a, PP_T_DO_ERROR, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 2);

    pp_future *y1 = next_ok(it), *y2 = next_ok(it);
    CU_ASSERT((y1 == b && y2 == d) || (y1 == d && y2 == b)); /* already done: first */
    CU_ASSERT_PTR_EQUAL(next_ok(it), c);
    CU_ASSERT_PTR_EQUAL(next_ok(it), a);
    expect_end(it);
    expect_end(it); /* and stays ended */
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_t_script_end(&s);
    pp_as_completed_end(it);
    pp_t_release_all(fs, 4);
}

static void test_completion_order_many(void)
{
    /* 50 futures completed in a scrambled order with no sleeps: yielded in exactly that
     * order (the order of the set_result calls, which one thread makes in sequence) */
    enum { N = 50 };
    pp_future *fs[N];
    pp_t_step steps[N];
    for (int i = 0; i < N; i++)
        fs[i] = pp_t_new_future();
    for (int i = 0; i < N; i++) {
        steps[i].delay_ms = i % 10 == 0 ? 5 : 0;
        steps[i].f = fs[(i * 17 + 3) % N];
        steps[i].what = (pp_t_action)(i % 3);
        steps[i].release = false;
    }
    pp_as_completed *it = begin(fs, N, LONG_WAIT);
    pp_t_script s;
    pp_t_script_run(&s, steps, N);
    int in_order = 1;
    for (int i = 0; i < N; i++) {
        pp_future *y = next_ok(it);
        in_order &= y == steps[i].f;
    }
    CU_ASSERT_TRUE(in_order);
    expect_end(it);
    pp_t_script_end(&s);
    pp_as_completed_end(it);
    pp_t_release_all(fs, N);
}

static void test_executor_completion_order(void)
{
    /* one worker runs items in submission order: 0 ms, 200 ms, 400 ms; the futures are
     * listed to as_completed in another order and must come back in completion order */
    pp_executor *ex = pp_t_executor(1);
    static const uint32_t ms[3] = {0, 200, 400};
    pp_future *sub[3];
    for (int i = 0; i < 3; i++) {
        pp_t_sleep_arg a = {ms[i], i};
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &sub[i]));
    }
    pp_future *fs[3] = {sub[2], sub[0], sub[1]};
    long long t0 = pp_t_now_ms();
    pp_as_completed *it = begin(fs, 3, LONG_WAIT);
    for (int i = 0; i < 3; i++) {
        pp_future *y = next_ok(it);
        CU_ASSERT_PTR_EQUAL(y, sub[i]);
        pp_buf r;
        if (y) {
            PP_ASSERT_OK(pp_future_result(y, 0, &r));
            CU_ASSERT(r.len == 4 && *(const int32_t *)r.data == i);
        }
    }
    expect_end(it);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS + 5000);
    pp_as_completed_end(it);
    pp_t_release_all(sub, 3);
    pp_executor_destroy(ex);
}

static void test_executor_mixed(void)
{
    /* executor futures (success, task failure) and a caller's future, all yielded once */
    pp_executor *ex = pp_t_executor(2);
    pp_future *mine = pp_t_new_future();
    pp_future *ok = NULL, *bad = NULL;
    pp_t_sleep_arg a = {100, 5};
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &ok));
    unsigned char arg[4 + 3];
    int32_t code = 4;
    memcpy(arg, &code, 4);
    memcpy(arg + 4, "bad", 3);
    PP_ASSERT_OK_FATAL(pp_submit(ex, "fail", arg, sizeof arg, &bad));
    pp_future *fs[3] = {ok, mine, bad};
    pp_as_completed *it = begin(fs, 3, LONG_WAIT);
    int seen_ok = 0, seen_bad = 0, seen_mine = 0;
    for (int i = 0; i < 2; i++) {
        pp_future *y = next_ok(it);
        seen_ok += y == ok;
        seen_bad += y == bad;
        seen_mine += y == mine;
    }
    CU_ASSERT(seen_ok == 1 && seen_bad == 1 && seen_mine == 0);
    PP_ASSERT_ST(PP_ETASK, pp_future_result(bad, 0, NULL));
    PP_ASSERT_OK(pp_future_result(ok, 0, NULL));
    for (int i = 0; i < 2; i++) { /* say why, if the pool broke instead */
        const pp_error *e = NULL;
        if (pp_future_exception(i ? bad : ok, 0, &e) == PP_OK && e && e->status != PP_ETASK)
            fprintf(stderr, "\n  %s: %s: %s\n", i ? "bad" : "ok", pp_status_str(e->status),
                    e->message);
    }
    /* mine is still pending: it comes when completed */
    PP_ASSERT_OK(pp_future_set_error(mine, PP_ESYS, 1, "mine"));
    CU_ASSERT_PTR_EQUAL(next_ok(it), mine);
    expect_end(it);
    pp_as_completed_end(it);
    pp_t_release_all(fs, 3);
    pp_executor_destroy(ex);
}

/* ---- duplicates, cancel, empty ---- */

static void test_duplicates_yielded_once(void)
{
    pp_future *a = pp_t_new_finished(), *b = pp_t_new_future(), *c = pp_t_new_future();
    pp_future *fs[7] = {a, b, a, c, b, a, c};
    pp_as_completed *it = begin(fs, 7, LONG_WAIT);
    pp_t_step steps[] = {{30, b, PP_T_DO_RESULT, false}, {30, c, PP_T_DO_RESULT, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 2);
    CU_ASSERT_PTR_EQUAL(next_ok(it), a);
    CU_ASSERT_PTR_EQUAL(next_ok(it), b);
    CU_ASSERT_PTR_EQUAL(next_ok(it), c);
    expect_end(it);
    pp_t_script_end(&s);
    pp_as_completed_end(it);

    /* all done at begin, duplicated: each once */
    pp_future *gs[5] = {a, b, a, c, b};
    it = begin(gs, 5, 0);
    int na = 0, nb = 0, nc = 0;
    for (int i = 0; i < 3; i++) {
        pp_future *y = next_ok(it);
        na += y == a;
        nb += y == b;
        nc += y == c;
    }
    CU_ASSERT(na == 1 && nb == 1 && nc == 1);
    expect_end(it);
    pp_as_completed_end(it);
    pp_future_release(a);
    pp_future_release(b);
    pp_future_release(c);
}

static void test_cancelled_is_yielded(void)
{
    pp_future *a = pp_t_new_future(), *b = pp_t_new_future();
    pp_future *fs[2] = {a, b};
    pp_as_completed *it = begin(fs, 2, LONG_WAIT);
    pp_t_step steps[] = {{50, b, PP_T_DO_CANCEL, false}, {50, a, PP_T_DO_RESULT, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 2);
    pp_future *y = next_ok(it);
    CU_ASSERT_PTR_EQUAL(y, b);
    if (y)
        CU_ASSERT_TRUE(pp_future_cancelled(y));
    CU_ASSERT_PTR_EQUAL(next_ok(it), a);
    expect_end(it);
    pp_t_script_end(&s);
    pp_as_completed_end(it);

    /* cancelled by the iterating thread itself, between two nexts */
    pp_future *c = pp_t_new_future();
    it = begin(&c, 1, LONG_WAIT);
    CU_ASSERT_TRUE(pp_future_cancel(c));
    CU_ASSERT_PTR_EQUAL(next_ok(it), c);
    expect_end(it);
    pp_as_completed_end(it);
    pp_future_release(c);
    pp_t_release_all(fs, 2);
}

static void test_empty(void)
{
    pp_future *dummy = pp_t_new_future();
    long long t0 = pp_t_now_ms();
    pp_as_completed *it = begin(NULL, 0, LONG_WAIT);
    expect_end(it);
    expect_end(it);
    pp_as_completed_end(it);
    it = begin(&dummy, 0, LONG_WAIT); /* n = 0: fs is not read */
    expect_end(it);
    pp_as_completed_end(it);
    /* PP_FOREVER is a valid timeout (with a done future: yielded at once) */
    pp_future *done = pp_t_new_finished();
    it = begin(&done, 1, pp_future_done(done) ? PP_FOREVER : 0);
    CU_ASSERT_PTR_EQUAL(next_ok(it), done);
    expect_end(it);
    pp_as_completed_end(it);
    pp_future_release(done);
    it = begin(NULL, 0, 0);
    expect_end(it);
    pp_as_completed_end(it);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_future_release(dummy);
}

/* ---- timeouts ---- */

static void test_timeout(void)
{
    pp_future *a = pp_t_new_finished(), *b = pp_t_new_future(), *c = pp_t_new_future();
    pp_future *fs[3] = {a, b, c};
    long long t0 = pp_t_now_ms();
    pp_as_completed *it = begin(fs, 3, 200);
    CU_ASSERT_PTR_EQUAL(next_ok(it), a);
    pp_future *f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_as_completed_end(it);
    /* the unfinished ones were not touched, and can still be waited for by other means */
    CU_ASSERT_FALSE(pp_future_done(b));
    CU_ASSERT_FALSE(pp_future_cancelled(c));
    pp_t_step steps[] = {{50, b, PP_T_DO_RESULT, false}, {50, c, PP_T_DO_ERROR, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 2);
    size_t nd = 0;
    PP_ASSERT_OK(pp_wait(fs, 3, LONG_WAIT, PP_ALL_COMPLETED, NULL, &nd));
    CU_ASSERT_EQUAL(nd, 3);
    PP_ASSERT_OK(pp_future_result(b, LONG_WAIT, NULL));
    CU_ASSERT_EQUAL(pp_future_result(c, LONG_WAIT, NULL), PP_ETASK);
    pp_t_script_end(&s);
    /* ... and by a new iterator */
    it = begin(fs, 3, 0);
    for (int i = 0; i < 3; i++)
        next_ok(it);
    expect_end(it);
    pp_as_completed_end(it);
    pp_t_release_all(fs, 3);
}

static void test_timeout_zero(void)
{
    /* timeout 0: what is done is yielded, then PP_ETIMEDOUT at once */
    pp_future *a = pp_t_new_future(), *b = pp_t_new_finished();
    pp_future *fs[2] = {a, b};
    long long t0 = pp_t_now_ms();
    pp_as_completed *it = begin(fs, 2, 0);
    CU_ASSERT_PTR_EQUAL(next_ok(it), b);
    pp_future *f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_as_completed_end(it);
    /* everything done: timeout 0 is no obstacle */
    PP_ASSERT_OK(pp_future_set_result(a, NULL, 0));
    it = begin(fs, 2, 0);
    next_ok(it);
    next_ok(it);
    expect_end(it);
    pp_as_completed_end(it);
    pp_t_release_all(fs, 2);
}

static void test_deadline_from_begin(void)
{
    /* The deadline is measured from begin: after sleeping past it, next answers
     * PP_ETIMEDOUT at once (measuring from next would wait another 2 s: the bound below
     * leaves 1.8 s for a slow machine), and futures already done are still yielded first. */
    pp_future *a = pp_t_new_finished(), *b = pp_t_new_future();
    pp_future *fs[2] = {a, b};
    pp_as_completed *it = begin(fs, 2, 2000);
    pp_t_sleep_ms(2100);
    long long t0 = pp_t_now_ms();
    CU_ASSERT_PTR_EQUAL(next_ok(it), a);
    pp_future *f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT(pp_t_now_ms() - t0 < 1800);
    pp_as_completed_end(it);

    /* the deadline spans several nexts: one yielded during it (completed 50 ms after begin;
     * the 2 s deadline leaves room for a slow machine), then the rest times out */
    pp_future *c = pp_t_new_future(), *d = pp_t_new_future();
    pp_future *gs[2] = {c, d};
    it = begin(gs, 2, 2000);
    pp_t_step steps[] = {{50, c, PP_T_DO_RESULT, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 1);
    CU_ASSERT_PTR_EQUAL(next_ok(it), c);
    t0 = pp_t_now_ms();
    CU_ASSERT_EQUAL(pp_as_completed_next(it, &f), PP_ETIMEDOUT);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_t_script_end(&s);
    pp_as_completed_end(it);
    pp_future_release(a);
    pp_future_release(b);
    pp_future_release(c);
    pp_future_release(d);
}

/* ---- references ---- */

static void test_iterator_holds_references(void)
{
    /* the caller drops its references right after begin; the iterator's keep the futures
     * alive until end (valgrind checks) */
    pp_future *a = pp_t_new_finished(), *b = pp_t_new_future(), *c = pp_t_new_future();
    pp_future *fs[3] = {a, b, c};
    pp_as_completed *it = begin(fs, 3, LONG_WAIT);
    /* the helper gets its own references to complete b and c, and drops them after */
    pp_future_retain(b);
    pp_future_retain(c);
    pp_t_step steps[] = {{50, c, PP_T_DO_RESULT, true}, {50, b, PP_T_DO_CANCEL, true}};
    pp_t_release_all(fs, 3); /* the caller's */
    pp_t_script s;
    pp_t_script_run(&s, steps, 2);
    pp_future *y = next_ok(it);
    CU_ASSERT_PTR_EQUAL(y, a);
    pp_buf r = {NULL, 0};
    if (y) { /* borrowed until the next call: readable */
        PP_ASSERT_OK(pp_future_result(y, 0, &r));
        CU_ASSERT(r.len == 2 && memcmp(r.data, "ok", 2) == 0);
    }
    y = next_ok(it);
    CU_ASSERT_PTR_EQUAL(y, c);
    if (y)
        PP_ASSERT_OK(pp_future_result(y, 0, NULL));
    pp_t_script_end(&s); /* the helper has dropped its references: only the iterator's left */
    y = next_ok(it);
    CU_ASSERT_PTR_EQUAL(y, b);
    if (y)
        CU_ASSERT_TRUE(pp_future_cancelled(y));
    expect_end(it);
    pp_as_completed_end(it); /* frees all three */

    /* ending early, with futures still pending, drops the references too */
    pp_future *p = pp_t_new_future(), *q = pp_t_new_finished();
    pp_future *ps[2] = {p, q};
    it = begin(ps, 2, LONG_WAIT);
    pp_future_release(q);
    CU_ASSERT_PTR_EQUAL(next_ok(it), q);
    pp_as_completed_end(it); /* q freed here */
    /* p is still the caller's, and completing it after the iterator is gone is fine */
    PP_ASSERT_OK(pp_future_set_result(p, NULL, 0));
    pp_future_release(p);

    /* ending without any next */
    pp_future *u = pp_t_new_future();
    it = begin(&u, 1, LONG_WAIT);
    pp_as_completed_end(it);
    CU_ASSERT_TRUE(pp_future_cancel(u));
    pp_future_release(u);
}

static void test_two_iterators(void)
{
    /* two iterators on overlapping sets both see every completion, in the same order */
    pp_future *fs[4] = {pp_t_new_future(), pp_t_new_future(), pp_t_new_future(), pp_t_new_future()};
    pp_as_completed *it1 = begin(fs, 4, LONG_WAIT);
    pp_as_completed *it2 = begin(fs + 1, 3, LONG_WAIT);
    pp_t_step steps[] = {{20, fs[3], PP_T_DO_RESULT, false},
                    {20, fs[0], PP_T_DO_RESULT, false},
                    {20, fs[2], PP_T_DO_CANCEL, false},
                    {20, fs[1], PP_T_DO_ERROR, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 4);
    CU_ASSERT_PTR_EQUAL(next_ok(it1), fs[3]);
    CU_ASSERT_PTR_EQUAL(next_ok(it1), fs[0]);
    CU_ASSERT_PTR_EQUAL(next_ok(it1), fs[2]);
    CU_ASSERT_PTR_EQUAL(next_ok(it1), fs[1]);
    expect_end(it1);
    CU_ASSERT_PTR_EQUAL(next_ok(it2), fs[3]);
    CU_ASSERT_PTR_EQUAL(next_ok(it2), fs[2]);
    CU_ASSERT_PTR_EQUAL(next_ok(it2), fs[1]);
    expect_end(it2);
    pp_t_script_end(&s);
    pp_as_completed_end(it2);
    pp_as_completed_end(it1);
    pp_t_release_all(fs, 4);
}

/* ---- arguments ---- */

static void test_invalid_arguments(void)
{
    pp_future *f = pp_t_new_future();
    pp_future *fs[3] = {f, NULL, f};
    pp_as_completed *it = (pp_as_completed *)1;
    CU_ASSERT_EQUAL(pp_as_completed_begin(&f, 1, 0, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_as_completed_begin(NULL, 2, 0, &it), PP_EINVAL);
    CU_ASSERT_PTR_NULL(it);
    it = (pp_as_completed *)1;
    CU_ASSERT_EQUAL(pp_as_completed_begin(fs, 3, 0, &it), PP_EINVAL);
    CU_ASSERT_PTR_NULL(it);
    it = (pp_as_completed *)1;
    CU_ASSERT_EQUAL(pp_as_completed_begin(fs + 1, 1, LONG_WAIT, &it), PP_EINVAL);
    CU_ASSERT_PTR_NULL(it);
    static const long bad[] = {-2, -1000, -2147483647L, LONG_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t n = 0; n < 2; n++) {
            it = (pp_as_completed *)1;
            CU_ASSERT_EQUAL(pp_as_completed_begin(n ? &f : NULL, n, bad[i], &it), PP_EINVAL);
            CU_ASSERT_PTR_NULL(it);
            if (it && it != (pp_as_completed *)1)
                pp_as_completed_end(it); /* accepted by mistake: do not leak it */
        }
    }
    /* no reference was kept by the failed calls: the future is freed by our release (a
     * leaked reference would show under valgrind), and it is still pending */
    CU_ASSERT_FALSE(pp_future_done(f));

    it = begin(&f, 1, LONG_WAIT);
    pp_future *y = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next(NULL, &y), PP_EINVAL);
    CU_ASSERT_PTR_NULL(y);
    CU_ASSERT_EQUAL(pp_as_completed_next(it, NULL), PP_EINVAL);
    pp_as_completed_end(it);
    pp_as_completed_end(NULL); /* no-op */
    pp_future_release(f);
}

/* Two threads complete half of a set each, with no delay, while the test thread iterates
 * (pp_t_completion_races; the iterator begins between the two threads' starts): every
 * future is yielded exactly once, whether it finished before begin, during it, or while the
 * iterator sleeps. */
static int race_begin(pp_future **fs, size_t n, int round, void *ctx)
{
    (void)round;
    pp_as_completed **it = ctx;
    *it = NULL;
    return pp_as_completed_begin(fs, n, LONG_WAIT, it) != PP_OK;
}

static int race_iterate(pp_future **fs, size_t n, int round, void *ctx)
{
    (void)round;
    pp_as_completed **it = ctx;
    if (!*it)
        return 1; /* begin failed (counted there) */
    int bad = 0, seen[64] = {0};
    size_t count = 0;
    pp_future *y;
    pp_status st;
    while ((st = pp_as_completed_next(*it, &y)) == PP_OK) {
        for (size_t i = 0; i < n; i++)
            seen[i] += fs[i] == y;
        count++;
    }
    bad += st != PP_END || count != n;
    for (size_t i = 0; i < n; i++)
        bad += seen[i] != 1;
    pp_as_completed_end(*it);
    *it = NULL;
    return bad;
}

static void test_stress_completion_races(void)
{
    pp_as_completed *it = NULL;
    CU_ASSERT_EQUAL(pp_t_completion_races(300, 8, 3, race_begin, race_iterate, &it), 0);
}

/* 100 000 futures, each listed twice: those done at begin first, then the others in
 * completion order, each once (begin's de-duplication is linear: the quadratic one it
 * replaced took 3 s here, 0.07 s now, and under valgrind outlasts the suite's watchdog). */
static void complete_from(void *p)
{
    pp_future **fs = p;
    for (size_t i = 50000; i < 100000; i++)
        pp_future_set_result(fs[i], &i, sizeof i);
}

static void test_many_futures(void)
{
    enum { N = 100000 };
    pp_future **fs = calloc(N, sizeof *fs), **list = calloc(2 * (size_t)N, sizeof *list);
    CU_ASSERT_FATAL(fs && list);
    for (size_t i = 0; i < N; i++)
        fs[i] = pp_t_new_future();
    for (size_t i = 0; i < N; i++) {
        list[2 * i] = fs[(i * 7919) % N];
        list[2 * i + 1] = fs[i];
    }
    for (size_t i = 0; i < N / 2; i++) /* done at begin */
        pp_future_set_result(fs[i], &i, sizeof i);
    pp_as_completed *it = begin(list, 2 * (size_t)N, LONG_WAIT);
    pp_t_thread *t = pp_t_thread_start(complete_from, fs);
    size_t count = 0, early = 0, out_of_order = 0, prev = 0;
    pp_future *y;
    while (pp_as_completed_next(it, &y) == PP_OK) {
        pp_buf r;
        size_t v = 0;
        if (pp_future_result(y, 0, &r) == PP_OK && r.len == sizeof v)
            memcpy(&v, r.data, sizeof v);
        if (count < N / 2) {
            early += v < N / 2; /* the first half were done at begin */
        } else {
            out_of_order += v < prev; /* then one thread's completion order */
            prev = v;
        }
        count++;
    }
    CU_ASSERT_EQUAL(count, N);
    CU_ASSERT_EQUAL(early, N / 2);
    CU_ASSERT_EQUAL(out_of_order, 0);
    pp_t_thread_join(t);
    pp_as_completed_end(it);
    pp_t_release_all(fs, N);
    free(list);
    free(fs);
}

/* Each future carries the application's tag back out of as_completed: the item a call
 * worked on is found from the future alone (executor futures and the caller's own). */
typedef struct item {
    int32_t value;
    int     seen;
} item;

static void test_userdata_through_as_completed(void)
{
    enum { N = 8 };
    pp_executor *ex = pp_t_executor(2);
    item items[N + 1];
    pp_future *fs[N + 1];
    for (int i = 0; i < N; i++) {
        items[i] = (item){i * 11, 0};
        PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", &items[i].value, sizeof items[i].value,
                                     &fs[i]));
        pp_future_set_userdata(fs[i], &items[i]);
    }
    items[N] = (item){-1, 0};
    fs[N] = pp_t_new_future();
    pp_future_set_userdata(fs[N], &items[N]);
    pp_as_completed *it = begin(fs, N + 1, LONG_WAIT);
    for (int k = 0; k < N; k++) {
        pp_future *y = next_ok(it);
        CU_ASSERT_PTR_NOT_NULL_FATAL(y);
        item *t = pp_future_userdata(y);
        CU_ASSERT_FATAL(t >= items && t < items + N);
        t->seen++;
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(y, 0, &r));
        CU_ASSERT(r.len == sizeof t->value && memcmp(r.data, &t->value, r.len) == 0);
    }
    PP_ASSERT_OK(pp_future_set_result(fs[N], "m", 1)); /* the caller's own, last */
    pp_future *y = next_ok(it);
    CU_ASSERT_PTR_EQUAL(pp_future_userdata(y), &items[N]);
    items[N].seen++;
    expect_end(it);
    for (int i = 0; i <= N; i++)
        CU_ASSERT_EQUAL(items[i].seen, 1);
    pp_as_completed_end(it);
    pp_t_release_all(fs, N + 1);
    pp_executor_destroy(ex);
}

/* ---- next_wait: a per-call wait ---- */

/* A wait that expires loses nothing: the iterator goes on, done futures come first, a
 * future completed after the expiry is yielded by the next call, then PP_END. Nothing here
 * completes the pending futures while a call waits, so every PP_ETIMEDOUT is certain. */
static void test_next_wait_expires_and_goes_on(void)
{
    pp_future *a = pp_t_new_future(), *b = pp_t_new_finished(), *c = pp_t_new_future();
    pp_future *fs[3] = {a, b, c};
    pp_as_completed *it = begin(fs, 3, PP_FOREVER);
    pp_future *y = (pp_future *)1;
    PP_ASSERT_OK(pp_as_completed_next_wait(it, 0, &y));
    CU_ASSERT_PTR_EQUAL(y, b);
    y = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next_wait(it, 0, &y), PP_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(y);
    CU_ASSERT_PTR_NOT_NULL(strstr(pp_last_error(), "pp_as_completed_next_wait: no future was "
                                                    "done within 0 ms (2 of 3 not done yet)"));
    long long t0 = pp_t_now_ms();
    CU_ASSERT_EQUAL(pp_as_completed_next_wait(it, 30, &y), PP_ETIMEDOUT);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS); /* a bound, not a timing test */
    PP_ASSERT_OK(pp_future_set_result(c, "c", 1));
    PP_ASSERT_OK(pp_as_completed_next_wait(it, 0, &y));
    CU_ASSERT_PTR_EQUAL(y, c);
    CU_ASSERT_EQUAL(pp_as_completed_next_wait(it, 10, &y), PP_ETIMEDOUT);
    PP_ASSERT_OK(pp_future_set_result(a, "a", 1));
    CU_ASSERT_PTR_EQUAL(next_ok(it), a); /* mixed with next */
    y = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next_wait(it, 0, &y), PP_END);
    CU_ASSERT_PTR_NULL(y);
    CU_ASSERT_EQUAL(pp_as_completed_next_wait(it, PP_FOREVER, &y), PP_END);
    pp_as_completed_end(it);
    pp_t_release_all(fs, 3);
}

/* The iterator's deadline still applies: a call with no limit of its own returns
 * PP_ETIMEDOUT once it has passed (and says so), and still yields what is done after. */
static void test_next_wait_iterator_deadline(void)
{
    pp_future *a = pp_t_new_future(), *b = pp_t_new_future();
    pp_future *fs[2] = {a, b};
    pp_as_completed *it = begin(fs, 2, 200);
    pp_future *y = (pp_future *)1;
    long long t0 = pp_t_now_ms();
    CU_ASSERT_EQUAL(pp_as_completed_next_wait(it, PP_FOREVER, &y), PP_ETIMEDOUT);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    CU_ASSERT_PTR_NULL(y);
    CU_ASSERT_PTR_NOT_NULL(strstr(pp_last_error(), "pp_as_completed_next_wait: the iterator's "
                                                    "deadline passed with 2 of 2 futures not "
                                                    "done"));
    CU_ASSERT_EQUAL(pp_as_completed_next_wait(it, LONG_WAIT, &y), PP_ETIMEDOUT);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS); /* at once: not LONG_WAIT */
    PP_ASSERT_OK(pp_future_set_result(b, "b", 1));
    PP_ASSERT_OK(pp_as_completed_next_wait(it, LONG_WAIT, &y));
    CU_ASSERT_PTR_EQUAL(y, b);
    pp_as_completed_end(it);
    pp_t_release_all(fs, 2);
}

/* A main loop's pattern: short waits while another thread completes the futures at its own
 * pace; every future is yielded exactly once, in completion order, then PP_END. */
static void test_next_wait_loop(void)
{
    enum { N = 5 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = pp_t_new_future();
    const pp_t_step steps[N] = {{30, fs[3], PP_T_DO_RESULT, false}, {30, fs[0], PP_T_DO_ERROR, false},
                           {30, fs[4], PP_T_DO_CANCEL, false}, {0, fs[1], PP_T_DO_RESULT, false},
                           {30, fs[2], PP_T_DO_RESULT, false}};
    pp_as_completed *it = begin(fs, N, LONG_WAIT);
    pp_t_script s;
    pp_t_script_run(&s, steps, N);
    int got = 0, ticks = 0;
    long long t0 = pp_t_now_ms();
    pp_status st;
    pp_future *y;
    while ((st = pp_as_completed_next_wait(it, 5, &y)) != PP_END &&
           pp_t_now_ms() - t0 < HANG_MS) {
        if (st == PP_ETIMEDOUT) {
            ticks++; /* the loop's other work would run here */
            continue;
        }
        PP_ASSERT_OK(st);
        CU_ASSERT_FATAL(got < N);
        CU_ASSERT_PTR_EQUAL(y, steps[got].f);
        got++;
    }
    CU_ASSERT_EQUAL(st, PP_END);
    CU_ASSERT_EQUAL(got, N);
    pp_t_script_end(&s);
    pp_as_completed_end(it);
    pp_t_release_all(fs, N);
    printf("(%d ticks) ", ticks);
}


/* ---- the readiness handle: pp_as_completed_fd (POSIX) / pp_as_completed_handle ---- */

/* The iterator's handle as an integer (fd, or HANDLE); fails the test if there is none. */
static intptr_t ready_handle(pp_as_completed *it)
{
#ifdef _WIN32
    void *h = pp_as_completed_handle(it);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    return (intptr_t)h;
#else
    int fd = pp_as_completed_fd(it);
    CU_ASSERT_FATAL(fd >= 0);
    return fd;
#endif
}

/* Does the handle report ready within ms (0: only looks)? What an event loop would see. */
static bool ready_within(intptr_t h, long ms)
{
#ifdef _WIN32
    return WaitForSingleObject((HANDLE)h, (DWORD)ms) == WAIT_OBJECT_0;
#else
    struct pollfd p = {(int)h, POLLIN, 0};
    int r;
    do
        r = poll(&p, 1, (int)ms);
    while (r < 0 && errno == EINTR);
    CU_ASSERT(r >= 0);
    CU_ASSERT_FALSE(p.revents & (POLLERR | POLLNVAL));
    return r == 1 && (p.revents & POLLIN);
#endif
}

/* Takes every ready future with next_wait(it, 0) into out (at most cap), until
 * PP_ETIMEDOUT or PP_END (*ended says which); returns how many. */
static size_t drain(pp_as_completed *it, pp_future **out, size_t cap, bool *ended)
{
    size_t n = 0;
    pp_future *y;
    pp_status st;
    while ((st = pp_as_completed_next_wait(it, 0, &y)) == PP_OK) {
        CU_ASSERT_FATAL(n < cap);
        out[n++] = y;
    }
    if (st != PP_END)
        PP_ASSERT_ST(PP_ETIMEDOUT, st);
    *ended = st == PP_END;
    return n;
}

/* Not ready before a future completes; ready as soon as one has (set by the completing
 * call, before it returns); polling consumes nothing; not ready once next has taken it with
 * others still pending; ready again for the next; ready at the end, so that a loop calls
 * next and gets PP_END. */
static void test_fd_ready_after_complete(void)
{
    size_t handles = pp__os_handle_count();
    pp_future *a = pp_t_new_future(), *b = pp_t_new_future();
    pp_future *fs[2] = {a, b};
    pp_as_completed *it = begin(fs, 2, LONG_WAIT);
    intptr_t h = ready_handle(it);
    CU_ASSERT_EQUAL(ready_handle(it), h); /* created once */
    CU_ASSERT_FALSE(ready_within(h, 0));
    CU_ASSERT_FALSE(ready_within(h, 20)); /* nothing can make it ready: no timing involved */
    PP_ASSERT_OK(pp_future_set_result(b, "b", 1));
    CU_ASSERT_TRUE(ready_within(h, 0));
    CU_ASSERT_TRUE(ready_within(h, 0)); /* level-triggered: still */
    CU_ASSERT_PTR_EQUAL(next_ok(it), b);
    CU_ASSERT_FALSE(ready_within(h, 0)); /* a still pending */
    pp_future *y = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_as_completed_next_wait(it, 0, &y), PP_ETIMEDOUT);
    CU_ASSERT_FALSE(ready_within(h, 0));
    CU_ASSERT_TRUE(pp_future_cancel(a));
    CU_ASSERT_TRUE(ready_within(h, 0));
    CU_ASSERT_PTR_EQUAL(next_ok(it), a);
    CU_ASSERT_TRUE(ready_within(h, 0)); /* every one yielded: PP_END is ready */
    expect_end(it);
    CU_ASSERT_TRUE(ready_within(h, 0));
    pp_as_completed_end(it);
    pp_t_release_all(fs, 2);
    CU_ASSERT_EQUAL(pp__os_handle_count(), handles); /* the end closed it */
}

/* Futures already done at begin make it ready at once, whether all are (the iterator has
 * nothing to wait for) or some are; asked for after some nexts, it reflects the state then. */
static void test_fd_already_done(void)
{
    size_t handles = pp__os_handle_count();
    pp_future *a = pp_t_new_finished(), *b = pp_t_new_finished(), *c = pp_t_new_future();
    pp_future *all[2] = {a, b};
    pp_as_completed *it = begin(all, 2, 0);
    intptr_t h = ready_handle(it);
    CU_ASSERT_TRUE(ready_within(h, 0));
    next_ok(it);
    CU_ASSERT_TRUE(ready_within(h, 0));
    next_ok(it);
    CU_ASSERT_TRUE(ready_within(h, 0)); /* PP_END next */
    expect_end(it);
    pp_as_completed_end(it);

    pp_future *some[3] = {a, c, b};
    it = begin(some, 3, LONG_WAIT);
    next_ok(it); /* one of a, b, before the handle exists */
    h = ready_handle(it);
    CU_ASSERT_TRUE(ready_within(h, 0)); /* the other */
    next_ok(it);
    CU_ASSERT_FALSE(ready_within(h, 0)); /* c pending */
    PP_ASSERT_OK(pp_future_set_error(c, PP_ETASK, 3, "c"));
    CU_ASSERT_TRUE(ready_within(h, 0));
    CU_ASSERT_PTR_EQUAL(next_ok(it), c);
    CU_ASSERT_TRUE(ready_within(h, 0));
    expect_end(it);
    pp_as_completed_end(it);

    /* none at all: PP_END at once, so ready at once */
    it = begin(NULL, 0, LONG_WAIT);
    CU_ASSERT_TRUE(ready_within(ready_handle(it), 0));
    expect_end(it);
    pp_as_completed_end(it);
    pp_future_release(a);
    pp_future_release(b);
    pp_future_release(c);
    CU_ASSERT_EQUAL(pp__os_handle_count(), handles);
}

/* Many futures completed while it is already ready (one system call, not one each), then
 * one drain takes them all and it is no longer ready; the rest complete later. */
static void test_fd_many(void)
{
    enum { N = 2000 };
    pp_future **fs = malloc(N * sizeof *fs), **got = malloc(N * sizeof *got);
    CU_ASSERT_FATAL(fs && got);
    for (int i = 0; i < N; i++)
        fs[i] = pp_t_new_future();
    pp_as_completed *it = begin(fs, N, LONG_WAIT);
    intptr_t h = ready_handle(it);
    CU_ASSERT_FALSE(ready_within(h, 0));
    for (int i = 0; i < N / 2; i++)
        PP_ASSERT_OK(pp_future_set_result(fs[(i * 7) % N], NULL, 0));
    CU_ASSERT_TRUE(ready_within(h, 0));
    bool ended = true;
    size_t n = drain(it, got, N, &ended);
    CU_ASSERT_EQUAL(n, N / 2);
    CU_ASSERT_FALSE(ended);
    int in_order = 1;
    for (size_t i = 0; i < n; i++)
        in_order &= got[i] == fs[(i * 7) % N];
    CU_ASSERT_TRUE(in_order);
    CU_ASSERT_FALSE(ready_within(h, 0));
    for (int i = 0; i < N; i++)
        if (!pp_future_done(fs[i]))
            CU_ASSERT_TRUE(pp_future_cancel(fs[i]));
    CU_ASSERT_TRUE(ready_within(h, 0));
    n = drain(it, got, N, &ended);
    CU_ASSERT_EQUAL(n, N - N / 2);
    CU_ASSERT_TRUE(ended); /* the last one taken, the next call said PP_END */
    CU_ASSERT_TRUE(ready_within(h, 0)); /* and says it again */
    CU_ASSERT_EQUAL(drain(it, got, N, &ended), 0);
    CU_ASSERT_TRUE(ended);
    pp_as_completed_end(it);
    pp_t_release_all(fs, N);
    free(fs);
    free(got);
}

/* An event loop's pattern: another thread completes futures at its own pace while this one
 * sleeps in poll / WaitForSingleObject (bounded: a lost wakeup fails, it does not hang),
 * then drains; every future comes exactly once, in completion order, then PP_END. */
static void test_fd_loop_with_completing_thread(void)
{
    enum { N = 60 };
    pp_future *fs[N], *got[N];
    pp_t_step steps[N];
    for (int i = 0; i < N; i++)
        fs[i] = pp_t_new_future();
    for (int i = 0; i < N; i++) {
        steps[i].delay_ms = i % 4 == 0 ? 3 : 0;
        steps[i].f = fs[(i * 13 + 5) % N];
        steps[i].what = (pp_t_action)(i % 3);
        steps[i].release = false;
    }
    pp_as_completed *it = begin(fs, N, LONG_WAIT);
    intptr_t h = ready_handle(it);
    pp_t_script s;
    pp_t_script_run(&s, steps, N);
    size_t n = 0;
    int wakeups = 0, lost = 0;
    bool ended = false;
    while (!ended) {
        if (!ready_within(h, LONG_WAIT)) {
            lost++; /* readiness never came: a future completed without setting it */
            break;
        }
        wakeups++;
        n += drain(it, got + n, N - n, &ended);
    }
    CU_ASSERT_EQUAL(lost, 0);
    CU_ASSERT_EQUAL(n, N);
    int in_order = 1;
    for (size_t i = 0; i < n; i++)
        in_order &= got[i] == steps[i].f;
    CU_ASSERT_TRUE(in_order);
    pp_t_script_end(&s);
    pp_as_completed_end(it);
    pp_t_release_all(fs, N);
    printf("(%d wakeups) ", wakeups);
}

/* The same with executor futures: results come from real worker processes. */
static void test_fd_executor(void)
{
    pp_executor *ex = pp_t_executor(2);
    enum { N = 6 };
    pp_future *fs[N], *got[N];
    for (int i = 0; i < N; i++) {
        pp_t_sleep_arg a = {(uint32_t)(i % 3) * 20, i};
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    }
    pp_as_completed *it = begin(fs, N, LONG_WAIT);
    intptr_t h = ready_handle(it);
    size_t n = 0;
    bool ended = false;
    long long t0 = pp_t_now_ms();
    while (!ended && ready_within(h, LONG_WAIT) && pp_t_now_ms() - t0 < HANG_MS)
        n += drain(it, got + n, N - n, &ended);
    CU_ASSERT_TRUE(ended);
    CU_ASSERT_EQUAL(n, N);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(got[i], 0, &r));
        if (r.len == 4)
            seen |= 1 << *(const int32_t *)r.data;
    }
    CU_ASSERT_EQUAL(seen, (1 << N) - 1);
    pp_as_completed_end(it);
    pp_t_release_all(fs, N);
    pp_executor_destroy(ex);
}

static void test_fd_invalid(void)
{
#ifdef _WIN32
    CU_ASSERT_PTR_NULL(pp_as_completed_handle(NULL));
    CU_ASSERT_PTR_NOT_NULL(strstr(pp_last_error(), "pp_as_completed_handle: invalid argument"));
#else
    CU_ASSERT_EQUAL(pp_as_completed_fd(NULL), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(pp_last_error(), "pp_as_completed_fd: invalid argument"));
#endif
}

static CU_TestInfo tests[] = {
    {"done_first_then_completion_order", test_done_first_then_completion_order},
    {"completion_order_many", test_completion_order_many},
    {"executor_completion_order", test_executor_completion_order},
    {"executor_mixed", test_executor_mixed},
    {"duplicates_yielded_once", test_duplicates_yielded_once},
    {"cancelled_is_yielded", test_cancelled_is_yielded},
    {"empty", test_empty},
    {"timeout", test_timeout},
    {"timeout_zero", test_timeout_zero},
    {"deadline_from_begin", test_deadline_from_begin},
    {"iterator_holds_references", test_iterator_holds_references},
    {"two_iterators", test_two_iterators},
    {"stress_completion_races", test_stress_completion_races},
    {"invalid_arguments", test_invalid_arguments},
    {"many_futures", test_many_futures},
    {"userdata_through_as_completed", test_userdata_through_as_completed},
    {"next_wait_expires_and_goes_on", test_next_wait_expires_and_goes_on},
    {"next_wait_iterator_deadline", test_next_wait_iterator_deadline},
    {"next_wait_loop", test_next_wait_loop},
    {"fd_ready_after_complete", test_fd_ready_after_complete},
    {"fd_already_done", test_fd_already_done},
    {"fd_many", test_fd_many},
    {"fd_loop_with_completing_thread", test_fd_loop_with_completing_thread},
    {"fd_executor", test_fd_executor},
    {"fd_invalid", test_fd_invalid},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_as_completed = {"as_completed", NULL,        NULL,
                                            pp_t_watchdog_setup,       pp_t_watchdog_teardown, tests};
