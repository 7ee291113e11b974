/*
 * The wait suite: pp_wait with FIRST_COMPLETED, FIRST_EXCEPTION and ALL_COMPLETED; duplicates
 * counted once; per-entry done flags; a timeout returns what is done (PP_OK); timeout 0
 * polls; futures finished by other threads while waiting; executor futures mixed with
 * pp_future_create futures. CPython: Lib/test/test_concurrent_futures/test_wait.py.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"

#define HANG_MS 10000LL
#define LONG_WAIT 20000L /* a wait that must be ended by its condition, not its timeout */

static pp_future *new_failed(void)
{
    pp_future *f = pp_t_new_future();
    PP_ASSERT_OK_FATAL(pp_future_set_error(f, PP_ETASK, 1, "failed"));
    return f;
}

static pp_future *new_cancelled(void)
{
    pp_future *f = pp_t_new_future();
    CU_ASSERT_FATAL(pp_future_cancel(f));
    return f;
}

/* ---- FIRST_COMPLETED ---- */

static void test_first_completed(void)
{
    pp_future *fs[3] = {pp_t_new_future(), pp_t_new_finished(), pp_t_new_future()};
    bool done[3] = {true, false, true};
    size_t nd = 99;
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_wait(fs, 3, LONG_WAIT, PP_FIRST_COMPLETED, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS); /* already satisfied: at once */
    CU_ASSERT_EQUAL(nd, 1);
    CU_ASSERT(!done[0] && done[1] && !done[2]);
    pp_t_release_all(fs, 3);

    /* none done at first: the first completion from another thread ends the wait */
    pp_future *gs[3] = {pp_t_new_future(), pp_t_new_future(), pp_t_new_future()};
    pp_t_step steps[] = {{150, gs[2], PP_T_DO_RESULT, false}};
    pp_t_script s;
    t0 = pp_t_now_ms();
    pp_t_script_run(&s, steps, 1);
    PP_ASSERT_OK(pp_wait(gs, 3, LONG_WAIT, PP_FIRST_COMPLETED, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_t_script_end(&s);
    CU_ASSERT_EQUAL(nd, 1);
    CU_ASSERT(!done[0] && !done[1] && done[2]);
    pp_t_release_all(gs, 3);
}

static void test_first_completed_by_error_or_cancel(void)
{
    static const pp_t_action acts[] = {PP_T_DO_ERROR, PP_T_DO_CANCEL};
    for (int k = 0; k < 2; k++) {
        pp_future *fs[2] = {pp_t_new_future(), pp_t_new_future()};
        pp_t_step steps[] = {{100, fs[0], acts[k], false}};
        pp_t_script s;
        bool done[2];
        size_t nd = 99;
        long long t0 = pp_t_now_ms();
        pp_t_script_run(&s, steps, 1);
        PP_ASSERT_OK(pp_wait(fs, 2, LONG_WAIT, PP_FIRST_COMPLETED, done, &nd));
        CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
        pp_t_script_end(&s);
        CU_ASSERT_EQUAL(nd, 1);
        CU_ASSERT(done[0] && !done[1]);
        pp_t_release_all(fs, 2);
    }
    /* an already cancelled future satisfies FIRST_COMPLETED at once */
    pp_future *fs[2] = {pp_t_new_future(), new_cancelled()};
    size_t nd = 0;
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_wait(fs, 2, LONG_WAIT, PP_FIRST_COMPLETED, NULL, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    CU_ASSERT_EQUAL(nd, 1);
    pp_t_release_all(fs, 2);
}

/* ---- FIRST_EXCEPTION ---- */

static void test_first_exception(void)
{
    /* a failed future already there: at once */
    pp_future *fs[4] = {pp_t_new_finished(), pp_t_new_future(), new_failed(), new_cancelled()};
    bool done[4];
    size_t nd = 99;
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_wait(fs, 4, LONG_WAIT, PP_FIRST_EXCEPTION, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    CU_ASSERT_EQUAL(nd, 3);
    CU_ASSERT(done[0] && !done[1] && done[2] && done[3]);
    pp_t_release_all(fs, 4);

    /* successes do not end it; the first failure does, with the rest still pending */
    pp_future *gs[4] = {pp_t_new_future(), pp_t_new_future(), pp_t_new_future(), pp_t_new_future()};
    pp_t_step steps[] = {{50, gs[0], PP_T_DO_RESULT, false}, {100, gs[1], PP_T_DO_RESULT, false}, {100, gs[2], PP_T_DO_ERROR, false}};
    pp_t_script s;
    t0 = pp_t_now_ms();
    pp_t_script_run(&s, steps, 3);
    PP_ASSERT_OK(pp_wait(gs, 4, LONG_WAIT, PP_FIRST_EXCEPTION, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS); /* gs[3] never finishes: no timeout */
    pp_t_script_end(&s);
    CU_ASSERT_EQUAL(nd, 3);
    CU_ASSERT(done[0] && done[1] && done[2] && !done[3]);
    pp_t_release_all(gs, 4);
}

static void test_first_exception_none_fails(void)
{
    /* no failure: behaves like ALL_COMPLETED (returns when the last one is done) */
    pp_future *fs[3] = {pp_t_new_future(), pp_t_new_future(), pp_t_new_future()};
    pp_t_step steps[] = {{30, fs[1], PP_T_DO_RESULT, false}, {100, fs[0], PP_T_DO_RESULT, false}, {100, fs[2], PP_T_DO_RESULT, false}};
    pp_t_script s;
    bool done[3] = {false, false, false};
    size_t nd = 0;
    long long t0 = pp_t_now_ms();
    pp_t_script_run(&s, steps, 3);
    PP_ASSERT_OK(pp_wait(fs, 3, LONG_WAIT, PP_FIRST_EXCEPTION, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    CU_ASSERT_EQUAL(nd, 3); /* not after the first success */
    CU_ASSERT(done[0] && done[1] && done[2]);
    pp_t_script_end(&s);
    pp_t_release_all(fs, 3);

    /* all already done, none failed: at once */
    pp_future *gs[2] = {pp_t_new_finished(), new_cancelled()};
    t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_wait(gs, 2, LONG_WAIT, PP_FIRST_EXCEPTION, NULL, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    CU_ASSERT_EQUAL(nd, 2);
    pp_t_release_all(gs, 2);
}

static void test_first_exception_cancel_is_not_failure(void)
{
    /* a cancelled future is done but is not an exception: the wait goes on until the
     * others are done (here completed 200 ms later by a helper) */
    pp_future *fs[2] = {new_cancelled(), pp_t_new_future()};
    pp_t_step steps[] = {{200, fs[1], PP_T_DO_RESULT, false}};
    pp_t_script s;
    bool done[2];
    size_t nd = 0;
    pp_t_script_run(&s, steps, 1);
    PP_ASSERT_OK(pp_wait(fs, 2, LONG_WAIT, PP_FIRST_EXCEPTION, done, &nd));
    pp_t_script_end(&s);
    CU_ASSERT_EQUAL(nd, 2);
    CU_ASSERT(done[0] && done[1]);
    pp_t_release_all(fs, 2);

    /* cancelled while waiting: same */
    pp_future *gs[2] = {pp_t_new_future(), pp_t_new_future()};
    pp_t_step steps2[] = {{50, gs[0], PP_T_DO_CANCEL, false}, {200, gs[1], PP_T_DO_RESULT, false}};
    pp_t_script_run(&s, steps2, 2);
    PP_ASSERT_OK(pp_wait(gs, 2, LONG_WAIT, PP_FIRST_EXCEPTION, done, &nd));
    pp_t_script_end(&s);
    CU_ASSERT_EQUAL(nd, 2);
    CU_ASSERT(done[0] && done[1]);
    pp_t_release_all(gs, 2);

    /* with a timeout and a never-finished future: PP_OK at the timeout, cancelled counted */
    pp_future *hs[2] = {new_cancelled(), pp_t_new_future()};
    PP_ASSERT_OK(pp_wait(hs, 2, 100, PP_FIRST_EXCEPTION, done, &nd));
    CU_ASSERT_EQUAL(nd, 1);
    CU_ASSERT(done[0] && !done[1]);
    pp_t_release_all(hs, 2);
}

/* ---- ALL_COMPLETED ---- */

static void test_all_completed(void)
{
    pp_future *fs[5] = {pp_t_new_future(), pp_t_new_future(), pp_t_new_finished(),
                        pp_t_new_future(), pp_t_new_future()};
    pp_t_step steps[] = {{30, fs[3], PP_T_DO_ERROR, false},
                    {60, fs[0], PP_T_DO_CANCEL, false},
                    {60, fs[4], PP_T_DO_RESULT, false},
                    {60, fs[1], PP_T_DO_RESULT, false}};
    pp_t_script s;
    bool done[5] = {false};
    size_t nd = 0;
    long long t0 = pp_t_now_ms();
    pp_t_script_run(&s, steps, 4);
    PP_ASSERT_OK(pp_wait(fs, 5, LONG_WAIT, PP_ALL_COMPLETED, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_t_script_end(&s);
    CU_ASSERT_EQUAL(nd, 5);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_TRUE(done[i]);
    /* and every one is really done */
    for (int i = 0; i < 5; i++)
        CU_ASSERT_TRUE(pp_future_done(fs[i]));
    pp_t_release_all(fs, 5);

    /* many futures finished in a scrambled order */
    enum { N = 64 };
    pp_future *gs[N];
    pp_t_step *st = calloc(N, sizeof *st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    for (int i = 0; i < N; i++)
        gs[i] = pp_t_new_future();
    for (int i = 0; i < N; i++) {
        st[i].delay_ms = (unsigned)(i % 3);
        st[i].f = gs[(i * 37) % N];
        st[i].what = (pp_t_action)(i % 3);
    }
    pp_t_script_run(&s, st, N);
    PP_ASSERT_OK(pp_wait(gs, N, LONG_WAIT, PP_ALL_COMPLETED, NULL, &nd));
    pp_t_script_end(&s);
    CU_ASSERT_EQUAL(nd, N);
    pp_t_release_all(gs, N);
    free(st);
}

/* ---- duplicates, flags, timeouts ---- */

static void test_duplicates_count_once(void)
{
    pp_future *a = pp_t_new_finished(), *b = pp_t_new_future(), *c = new_failed();
    pp_future *fs[6] = {a, b, a, c, b, a};
    bool done[6];
    size_t nd = 99;
    PP_ASSERT_OK(pp_wait(fs, 6, 0, PP_ALL_COMPLETED, done, &nd));
    CU_ASSERT_EQUAL(nd, 2); /* a and c */
    CU_ASSERT(done[0] && !done[1] && done[2] && done[3] && !done[4] && done[5]);

    /* FIRST_COMPLETED and FIRST_EXCEPTION with duplicates */
    PP_ASSERT_OK(pp_wait(fs, 6, LONG_WAIT, PP_FIRST_COMPLETED, done, &nd));
    CU_ASSERT_EQUAL(nd, 2);
    PP_ASSERT_OK(pp_wait(fs, 6, LONG_WAIT, PP_FIRST_EXCEPTION, done, &nd));
    CU_ASSERT_EQUAL(nd, 2);

    /* once b is done, every distinct future is: ALL_COMPLETED is satisfied at once (a
     * wait counting duplicates would wait for 6 and time out) */
    PP_ASSERT_OK(pp_future_set_result(b, NULL, 0));
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_wait(fs, 6, LONG_WAIT, PP_ALL_COMPLETED, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    CU_ASSERT_EQUAL(nd, 3);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_TRUE(done[i]);

    /* the same future many times, finished while waiting */
    pp_future *d = pp_t_new_future();
    pp_future *ds[4] = {d, d, d, d};
    pp_t_step steps[] = {{100, d, PP_T_DO_RESULT, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 1);
    t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_wait(ds, 4, LONG_WAIT, PP_ALL_COMPLETED, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_t_script_end(&s);
    CU_ASSERT_EQUAL(nd, 1);
    CU_ASSERT(done[0] && done[1] && done[2] && done[3]);
    pp_future_release(a);
    pp_future_release(b);
    pp_future_release(c);
    pp_future_release(d);
}

static void test_timeout_returns_what_is_done(void)
{
    pp_future *fs[3] = {pp_t_new_finished(), pp_t_new_future(), pp_t_new_future()};
    CU_ASSERT_TRUE(pp_future_set_running_or_notify_cancel(fs[2]));
    static const pp_return_when whens[] = {PP_ALL_COMPLETED, PP_FIRST_EXCEPTION};
    for (int k = 0; k < 2; k++) {
        bool done[3] = {false, true, true};
        size_t nd = 99;
        long long t0 = pp_t_now_ms();
        PP_ASSERT_OK(pp_wait(fs, 3, 100, whens[k], done, &nd)); /* not an error */
        CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
        CU_ASSERT_EQUAL(nd, 1);
        CU_ASSERT(done[0] && !done[1] && !done[2]);
    }
    /* nothing done at all */
    bool done[2] = {true, true};
    size_t nd = 99;
    PP_ASSERT_OK(pp_wait(fs + 1, 2, 50, PP_FIRST_COMPLETED, done, &nd));
    CU_ASSERT_EQUAL(nd, 0);
    CU_ASSERT(!done[0] && !done[1]);
    /* waiting changed nothing */
    CU_ASSERT_FALSE(pp_future_done(fs[1]));
    CU_ASSERT_TRUE(pp_future_running(fs[2]));

    /* a nonzero timeout really waits: a future finished during it is reported */
    pp_t_step steps[] = {{100, fs[1], PP_T_DO_RESULT, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 1);
    bool d1 = false;
    PP_ASSERT_OK(pp_wait(fs + 1, 1, 5000, PP_ALL_COMPLETED, &d1, &nd));
    CU_ASSERT_TRUE(d1);
    CU_ASSERT_EQUAL(nd, 1);
    pp_t_script_end(&s);
    CU_ASSERT_FALSE(pp_future_done(fs[2]));
    pp_t_release_all(fs, 3);
}

static void test_timeout_zero_polls(void)
{
    pp_future *fs[3] = {pp_t_new_future(), pp_t_new_finished(), pp_t_new_future()};
    static const pp_return_when whens[] = {PP_FIRST_COMPLETED, PP_FIRST_EXCEPTION,
                                           PP_ALL_COMPLETED};
    long long t0 = pp_t_now_ms();
    for (int k = 0; k < 3; k++) {
        bool done[3];
        size_t nd = 99;
        PP_ASSERT_OK(pp_wait(fs, 3, 0, whens[k], done, &nd));
        CU_ASSERT_EQUAL(nd, 1);
        CU_ASSERT(!done[0] && done[1] && !done[2]);
        /* NULL outputs are allowed */
        PP_ASSERT_OK(pp_wait(fs, 3, 0, whens[k], NULL, NULL));
        PP_ASSERT_OK(pp_wait(fs, 3, 0, whens[k], done, NULL));
        PP_ASSERT_OK(pp_wait(fs, 3, 0, whens[k], NULL, &nd));
        CU_ASSERT_EQUAL(nd, 1);
    }
    /* polling pending futures many times returns promptly every time */
    for (int i = 0; i < 1000; i++)
        PP_ASSERT_OK(pp_wait(fs, 1, 0, PP_ALL_COMPLETED, NULL, NULL));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    pp_t_release_all(fs, 3);
}

static void test_empty(void)
{
    static const pp_return_when whens[] = {PP_FIRST_COMPLETED, PP_FIRST_EXCEPTION,
                                           PP_ALL_COMPLETED};
    pp_future *one = pp_t_new_future();
    long long t0 = pp_t_now_ms();
    for (int k = 0; k < 3; k++) {
        size_t nd = 99;
        PP_ASSERT_OK(pp_wait(NULL, 0, LONG_WAIT, whens[k], NULL, &nd));
        CU_ASSERT_EQUAL(nd, 0);
        nd = 99;
        PP_ASSERT_OK(pp_wait(&one, 0, LONG_WAIT, whens[k], NULL, &nd));
        CU_ASSERT_EQUAL(nd, 0);
        PP_ASSERT_OK(pp_wait(NULL, 0, 0, whens[k], NULL, NULL));
    }
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS); /* nothing to wait for: at once */
    pp_future_release(one);
}

static void test_invalid_arguments(void)
{
    pp_future *f = pp_t_new_future();
    pp_future *fs[3] = {f, NULL, f};
    bool done[3];
    size_t nd = 99;
    CU_ASSERT_EQUAL(pp_wait(NULL, 2, 0, PP_ALL_COMPLETED, done, &nd), PP_EINVAL);
    CU_ASSERT_EQUAL(nd, 0);
    nd = 99;
    CU_ASSERT_EQUAL(pp_wait(fs, 3, 0, PP_ALL_COMPLETED, done, &nd), PP_EINVAL);
    CU_ASSERT_EQUAL(nd, 0);
    CU_ASSERT_EQUAL(pp_wait(fs + 1, 1, LONG_WAIT, PP_FIRST_COMPLETED, NULL, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_wait(&f, 1, 0, (pp_return_when)3, done, &nd), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_wait(&f, 1, 0, (pp_return_when)-1, done, &nd), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_wait(&f, 1, 0, (pp_return_when)100, done, &nd), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_wait(NULL, 0, 0, (pp_return_when)3, NULL, NULL), PP_EINVAL);
    /* invalid timeouts: small ones with a pending future (a library taking them for a
     * past deadline would not hang), any with a done one */
    pp_future *fin = pp_t_new_finished();
    static const long bad[] = {-2, -1000, -2147483647L, LONG_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nd = 99;
        if (i < 2) {
            CU_ASSERT_EQUAL(pp_wait(&f, 1, bad[i], PP_ALL_COMPLETED, done, &nd), PP_EINVAL);
            CU_ASSERT_EQUAL(nd, 0);
        }
        nd = 99;
        CU_ASSERT_EQUAL(pp_wait(&fin, 1, bad[i], PP_ALL_COMPLETED, done, &nd), PP_EINVAL);
        CU_ASSERT_EQUAL(nd, 0);
        CU_ASSERT_EQUAL(pp_wait(NULL, 0, bad[i], PP_ALL_COMPLETED, NULL, NULL), PP_EINVAL);
    }
    pp_future_release(fin);
    /* rejected arguments did not wait or change anything */
    CU_ASSERT_FALSE(pp_future_done(f));
    /* PP_FOREVER is valid (already-satisfied condition, so it returns at once) */
    pp_future *g = pp_t_new_finished();
    long forever = pp_future_done(g) ? PP_FOREVER : 0; /* never hang if g is not done */
    PP_ASSERT_OK(pp_wait(&g, 1, forever, PP_ALL_COMPLETED, NULL, &nd));
    CU_ASSERT_EQUAL(nd, 1);
    pp_future_release(g);
    pp_future_release(f);
}

/* ---- many waiters, and executor futures ---- */

typedef struct {
    pp_future **fs;
    size_t n;
    pp_return_when when;
    pp_status st;
    size_t nd;
} wait_job;

static void wait_job_main(void *p)
{
    wait_job *j = p;
    j->st = pp_wait(j->fs, j->n, LONG_WAIT, j->when, NULL, &j->nd);
}

static void test_concurrent_waiters(void)
{
    /* several threads wait on overlapping sets; each wakes on its own condition */
    pp_future *fs[4] = {pp_t_new_future(), pp_t_new_future(), pp_t_new_future(), pp_t_new_future()};
    pp_future *set_a[2] = {fs[0], fs[1]};
    pp_future *set_b[3] = {fs[1], fs[2], fs[3]};
    wait_job jobs[4] = {
        {fs, 4, PP_ALL_COMPLETED, PP_EINVAL, 0},
        {set_a, 2, PP_FIRST_COMPLETED, PP_EINVAL, 0},
        {set_b, 3, PP_FIRST_EXCEPTION, PP_EINVAL, 0},
        {set_b, 3, PP_ALL_COMPLETED, PP_EINVAL, 0},
    };
    pp_t_thread *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = pp_t_thread_start(wait_job_main, &jobs[i]);
    pp_t_step steps[] = {{100, fs[1], PP_T_DO_RESULT, false},
                    {50, fs[2], PP_T_DO_ERROR, false},
                    {50, fs[3], PP_T_DO_RESULT, false},
                    {50, fs[0], PP_T_DO_CANCEL, false}};
    pp_t_script s;
    long long t0 = pp_t_now_ms();
    pp_t_script_run(&s, steps, 4);
    for (int i = 0; i < 4; i++)
        pp_t_thread_join(t[i]);
    pp_t_script_end(&s);
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    for (int i = 0; i < 4; i++)
        PP_ASSERT_OK(jobs[i].st);
    CU_ASSERT_EQUAL(jobs[0].nd, 4);
    CU_ASSERT(jobs[1].nd >= 1);
    CU_ASSERT(jobs[2].nd >= 2 && pp_future_done(fs[2]));
    CU_ASSERT_EQUAL(jobs[3].nd, 3);
    pp_t_release_all(fs, 4);
}

/* Prints why a future that should have succeeded failed (a broken pool names the cause). */
static void explain(pp_future *f)
{
    const pp_error *e = NULL;
    if (pp_future_exception(f, 0, &e) == PP_OK && e)
        fprintf(stderr, "\n  unexpected failure: %s: %s (code %d, pid %lld)\n",
                pp_status_str(e->status), e->message, e->code, e->pid);
}

static pp_future *submit_sleep(pp_executor *ex, uint32_t ms, int32_t v)
{
    pp_t_sleep_arg a = {ms, v};
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &f));
    return f;
}

static pp_future *submit_fail(pp_executor *ex, int32_t code)
{
    unsigned char arg[4 + 6];
    memcpy(arg, &code, 4);
    memcpy(arg + 4, "failed", 6);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "fail", arg, sizeof arg, &f));
    return f;
}

static void test_executor_futures(void)
{
    pp_executor *ex = pp_t_executor(2);
    pp_future *mine = pp_t_new_future(); /* never completed by the executor */
    pp_future *fast = submit_sleep(ex, 0, 1);
    pp_future *slow = submit_sleep(ex, 1500, 2);
    pp_future *fail = submit_fail(ex, 9);
    pp_future *fs[4] = {mine, fast, slow, fail};
    bool done[4];
    size_t nd = 0;

    /* FIRST_COMPLETED: something finishes soon */
    PP_ASSERT_OK(pp_wait(fs + 1, 3, LONG_WAIT, PP_FIRST_COMPLETED, done, &nd));
    CU_ASSERT(nd >= 1);

    /* FIRST_EXCEPTION: the failing task ends it; mine is still pending, so it is not
     * ALL_COMPLETED that returned */
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_wait(fs, 4, LONG_WAIT, PP_FIRST_EXCEPTION, done, &nd));
    CU_ASSERT(pp_t_now_ms() - t0 < HANG_MS);
    CU_ASSERT_TRUE(done[3]);
    CU_ASSERT_FALSE(done[0]);
    CU_ASSERT_EQUAL(pp_future_result(fail, 0, NULL), PP_ETASK);
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(fail, 0, &e));
    CU_ASSERT(e && e->code == 9 && strcmp(e->message, "failed") == 0);

    /* ALL_COMPLETED, with mine completed by another thread meanwhile */
    pp_t_step steps[] = {{200, mine, PP_T_DO_RESULT, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 1);
    PP_ASSERT_OK(pp_wait(fs, 4, LONG_WAIT, PP_ALL_COMPLETED, done, &nd));
    pp_t_script_end(&s);
    CU_ASSERT_EQUAL(nd, 4);
    CU_ASSERT(done[0] && done[1] && done[2] && done[3]);
    pp_buf r;
    explain(slow);
    PP_ASSERT_OK(pp_future_result(slow, 0, &r));
    CU_ASSERT(r.len == 4 && *(const int32_t *)r.data == 2);
    pp_t_release_all(fs, 4);

    /* executor futures only: FIRST_EXCEPTION with no failure waits for all */
    pp_future *gs[3] = {submit_sleep(ex, 300, 0), submit_sleep(ex, 0, 0), submit_sleep(ex, 100, 0)};
    PP_ASSERT_OK(pp_wait(gs, 3, LONG_WAIT, PP_FIRST_EXCEPTION, done, &nd));
    CU_ASSERT_EQUAL(nd, 3);
    pp_t_release_all(gs, 3);

    /* a timeout on executor futures: PP_OK, the running one not done */
    pp_future *h = submit_sleep(ex, 1500, 0);
    PP_ASSERT_OK(pp_wait(&h, 1, 50, PP_ALL_COMPLETED, done, &nd));
    CU_ASSERT_EQUAL(nd, 0);
    CU_ASSERT_FALSE(done[0]);
    PP_ASSERT_OK(pp_wait(&h, 1, LONG_WAIT, PP_ALL_COMPLETED, done, &nd));
    CU_ASSERT_EQUAL(nd, 1);
    pp_future_release(h);
    pp_executor_destroy(ex);
}

static void test_executor_cancelled_pending(void)
{
    /* a pending executor future cancelled by another thread wakes FIRST_COMPLETED */
    pp_executor *ex = pp_t_executor(1);
    pp_future *blocker = submit_sleep(ex, 2500, 0); /* outlasts the cancel at 100 ms */
    pp_future *queued = submit_sleep(ex, 0, 0);     /* handed out: the +1 window */
    pp_future *f = submit_sleep(ex, 0, 0);          /* pending */
    pp_t_step steps[] = {{100, f, PP_T_DO_CANCEL, false}};
    pp_t_script s;
    pp_t_script_run(&s, steps, 1);
    pp_future *fs[2] = {blocker, f};
    bool done[2];
    size_t nd = 0;
    PP_ASSERT_OK(pp_wait(fs, 2, LONG_WAIT, PP_FIRST_COMPLETED, done, &nd));
    pp_t_script_end(&s);
    CU_ASSERT_TRUE(done[1]);
    CU_ASSERT_TRUE(pp_future_cancelled(f));
    PP_ASSERT_OK(pp_wait(fs, 2, LONG_WAIT, PP_ALL_COMPLETED, done, &nd));
    CU_ASSERT_EQUAL(nd, 2);
    pp_future_release(blocker);
    pp_future_release(queued);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* Two threads complete half of a set each, with no delay, while the test thread waits
 * (pp_t_completion_races): races between registering on futures and their completion must
 * never lose a wakeup. */
static int race_wait(pp_future **fs, size_t n, int round, void *ctx)
{
    (void)ctx;
    static const pp_return_when whens[] = {PP_ALL_COMPLETED, PP_FIRST_EXCEPTION};
    size_t nd = 0;
    pp_status st = pp_wait(fs, n, LONG_WAIT, whens[round % 2], NULL, &nd);
    return st != PP_OK || nd != n;
}

static void test_stress_completion_races(void)
{
    CU_ASSERT_EQUAL(pp_t_completion_races(300, 8, 4, NULL, race_wait, NULL), 0);
}

/* 100 000 futures, each listed twice (out of order), completed one by one by another
 * thread: every wait counts each once and returns when its condition holds. The work of a
 * wait grows linearly with its list: the quadratic one this replaced took 11 s here (0.1 s
 * now), and under valgrind, whose job runs this suite, it outlasts the suite's watchdog. */
typedef struct {
    pp_future **fs;
    size_t      n, fail_at; /* fail_at: the one that finishes with an error (n: none) */
} many;

static void complete_many(void *p)
{
    many *m = p;
    for (size_t i = 0; i < m->n; i++) {
        if (i == m->fail_at)
            pp_future_set_error(m->fs[i], PP_ETASK, 1, "the one that fails");
        else if (i % 7 == 3)
            pp_future_cancel(m->fs[i]);
        else
            pp_future_set_result(m->fs[i], &i, sizeof i);
    }
}

static void test_many_futures(void)
{
    enum { N = 100000 };
    pp_future **fs = calloc(N, sizeof *fs), **list = calloc(2 * (size_t)N, sizeof *list);
    bool *done = calloc(2 * (size_t)N, sizeof *done);
    CU_ASSERT_FATAL(fs && list && done);
    static const pp_return_when whens[] = {PP_ALL_COMPLETED, PP_FIRST_EXCEPTION};
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N; i++)
            fs[i] = pp_t_new_future();
        for (size_t i = 0; i < N; i++) { /* each twice: in order, and scattered */
            list[2 * i] = fs[i];
            list[2 * i + 1] = fs[(i * 7919) % N];
        }
        /* FIRST_EXCEPTION: the last one fails, so the wait ends when all are done */
        many m = {fs, N, round ? N - 1 : N};
        pp_t_thread *t = pp_t_thread_start(complete_many, &m);
        size_t nd = 0;
        PP_ASSERT_OK(pp_wait(list, 2 * (size_t)N, LONG_WAIT, whens[round], done, &nd));
        CU_ASSERT_EQUAL(nd, N);
        size_t not_done = 0;
        for (size_t i = 0; i < 2 * (size_t)N; i++)
            not_done += !done[i];
        CU_ASSERT_EQUAL(not_done, 0);
        pp_t_thread_join(t);
        /* all done: FIRST_COMPLETED and a poll return at once, counting each once */
        PP_ASSERT_OK(pp_wait(list, 2 * (size_t)N, 0, PP_FIRST_COMPLETED, NULL, &nd));
        CU_ASSERT_EQUAL(nd, N);
        pp_t_release_all(fs, N);
    }
    free(done);
    free(list);
    free(fs);
}

static CU_TestInfo tests[] = {
    {"first_completed", test_first_completed},
    {"first_completed_by_error_or_cancel", test_first_completed_by_error_or_cancel},
    {"first_exception", test_first_exception},
    {"first_exception_none_fails", test_first_exception_none_fails},
    {"first_exception_cancel_is_not_failure", test_first_exception_cancel_is_not_failure},
    {"all_completed", test_all_completed},
    {"duplicates_count_once", test_duplicates_count_once},
    {"timeout_returns_what_is_done", test_timeout_returns_what_is_done},
    {"timeout_zero_polls", test_timeout_zero_polls},
    {"empty", test_empty},
    {"invalid_arguments", test_invalid_arguments},
    {"concurrent_waiters", test_concurrent_waiters},
    {"executor_futures", test_executor_futures},
    {"executor_cancelled_pending", test_executor_cancelled_pending},
    {"stress_completion_races", test_stress_completion_races},
    {"many_futures", test_many_futures},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_wait = {"wait", NULL, NULL, pp_t_watchdog_setup, pp_t_watchdog_teardown, tests};
