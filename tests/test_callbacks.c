/*
 * The callbacks suite: pp_future_add_done_callback. Callbacks run in the order added,
 * exactly once, at once (on the caller's thread) when the future is already done, otherwise
 * on the thread that completes it (set_result / set_error / cancel, or the executor's
 * manager); they may call procpool functions (never under a library lock), and a slow or odd
 * callback does not break the executor. CPython: test_future.py (add_done_callback tests).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"

#define HANG_MS 10000LL

/* Which test thread we are on: 1 for the CUnit thread, other values for helper threads,
 * 0 for threads the library owns (the manager). */
#if defined(_MSC_VER) && !defined(__clang__)
static __declspec(thread) int tl_tag;
#else
static _Thread_local int tl_tag;
#endif

/* A record of callback invocations. */
#define MAX_CALLS 2048
typedef struct {
    atomic_int n;              /* how many calls */
    int order[MAX_CALLS];      /* userdata index of each call, in call order */
    int tag[MAX_CALLS];        /* tl_tag of the thread of each call */
    pp_future *fut[MAX_CALLS]; /* the future passed */
    bool done_inside[MAX_CALLS];
    bool cancelled_inside[MAX_CALLS];
} record;

typedef struct {
    record *rec;
    int index;
} rec_arg;

static void record_cb(pp_future *f, void *ud)
{
    rec_arg *a = ud;
    int i = atomic_fetch_add(&a->rec->n, 1);
    if (i >= MAX_CALLS)
        return;
    a->rec->order[i] = a->index;
    a->rec->tag[i] = tl_tag;
    a->rec->fut[i] = f;
    a->rec->done_inside[i] = pp_future_done(f);
    a->rec->cancelled_inside[i] = pp_future_cancelled(f);
}

static void count_cb(pp_future *f, void *ud)
{
    (void)f;
    atomic_fetch_add((atomic_int *)ud, 1);
}

/* Polls an atomic counter until it reaches want or ms pass. */
static bool wait_count(atomic_int *c, int want, long long ms)
{
    long long end = pp_t_now_ms() + ms;
    while (atomic_load(c) < want) {
        if (pp_t_now_ms() > end)
            return false;
        pp_t_sleep_ms(2);
    }
    return true;
}

/* A helper thread that completes a future, tagged so callbacks can tell where they ran. */
typedef enum { DO_RESULT, DO_ERROR, DO_CANCEL } action;
typedef struct {
    pp_future *f;
    unsigned delay_ms;
    action what;
    int tag;
    int ok;
} completer;

static void completer_main(void *p)
{
    completer *c = p;
    tl_tag = c->tag;
    pp_t_sleep_ms(c->delay_ms);
    int32_t v = 5;
    switch (c->what) {
    case DO_RESULT:
        c->ok = pp_future_set_result(c->f, &v, sizeof v) == PP_OK;
        break;
    case DO_ERROR:
        c->ok = pp_future_set_error(c->f, PP_ETASK, 5, "thread") == PP_OK;
        break;
    case DO_CANCEL:
        c->ok = pp_future_cancel(c->f);
        break;
    }
}

/* If the library deadlocks in a completion (a callback run under its own lock), a plain
 * join would hang the whole run: wait for the flag with a bound, and stop the program with a
 * clear message if it never comes. */
static void join_or_die(pp_t_thread *t, atomic_int *finished, const char *what)
{
    if (!wait_count(finished, 1, 20000)) {
        fprintf(stderr, "\n  FATAL: %s did not return within 20 s (deadlock?)\n", what);
        fflush(stderr);
        _Exit(3);
    }
    pp_t_thread_join(t);
}

static pp_t_sleep_arg sleep_arg(uint32_t ms, int32_t v)
{
    pp_t_sleep_arg a = {ms, v};
    return a;
}

/* ---- ordering, once, at once ---- */

static void test_run_in_order_added(void)
{
    static const action acts[] = {DO_RESULT, DO_ERROR, DO_CANCEL};
    for (int k = 0; k < 3; k++) {
        record *rec = calloc(1, sizeof *rec);
        CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
        pp_future *f = pp_t_new_future();
        rec_arg a[5];
        for (int i = 0; i < 5; i++) {
            a[i].rec = rec;
            a[i].index = i;
            PP_ASSERT_OK(pp_future_add_done_callback(f, record_cb, &a[i]));
        }
        CU_ASSERT_EQUAL(atomic_load(&rec->n), 0); /* nothing runs before completion */
        if (acts[k] != DO_CANCEL) {
            CU_ASSERT_TRUE(pp_future_set_running_or_notify_cancel(f));
            CU_ASSERT_EQUAL(atomic_load(&rec->n), 0); /* running is not done */
        }
        tl_tag = 1;
        switch (acts[k]) {
        case DO_RESULT:
            PP_ASSERT_OK(pp_future_set_result(f, "r", 1));
            break;
        case DO_ERROR:
            PP_ASSERT_OK(pp_future_set_error(f, PP_ETASK, 1, "e"));
            break;
        case DO_CANCEL:
            CU_ASSERT_TRUE(pp_future_cancel(f));
            break;
        }
        /* all ran, before the completing call returned, in order, on this thread */
        CU_ASSERT_EQUAL(atomic_load(&rec->n), 5);
        for (int i = 0; i < 5; i++) {
            CU_ASSERT_EQUAL(rec->order[i], i);
            CU_ASSERT_EQUAL(rec->tag[i], 1);
            CU_ASSERT_PTR_EQUAL(rec->fut[i], f);
            CU_ASSERT_TRUE(rec->done_inside[i]);
            CU_ASSERT_EQUAL(rec->cancelled_inside[i], acts[k] == DO_CANCEL);
        }
        tl_tag = 0;
        pp_future_release(f);
        free(rec);
    }
}

static void test_run_exactly_once(void)
{
    atomic_int n = 0;
    pp_future *f = pp_t_new_future();
    PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
    PP_ASSERT_OK(pp_future_set_result(f, NULL, 0));
    CU_ASSERT_EQUAL(atomic_load(&n), 1);
    /* later attempts to complete it again fail and run nothing */
    CU_ASSERT_EQUAL(pp_future_set_result(f, NULL, 0), PP_ESTATE);
    CU_ASSERT_EQUAL(pp_future_set_error(f, PP_ETASK, 1, "x"), PP_ESTATE);
    CU_ASSERT_FALSE(pp_future_cancel(f));
    CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, 0, &r));
    CU_ASSERT_EQUAL(atomic_load(&n), 1);
    pp_future_release(f);

    /* cancelled: cancelling again, notifying, setting: still once */
    atomic_store(&n, 0);
    f = pp_t_new_future();
    PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
    CU_ASSERT_TRUE(pp_future_cancel(f));
    CU_ASSERT_EQUAL(atomic_load(&n), 1);
    CU_ASSERT_TRUE(pp_future_cancel(f));
    CU_ASSERT_FALSE(pp_future_set_running_or_notify_cancel(f));
    CU_ASSERT_TRUE(pp_future_cancel(f));
    CU_ASSERT_EQUAL(pp_future_set_result(f, NULL, 0), PP_ESTATE);
    CU_ASSERT_EQUAL(atomic_load(&n), 1);
    pp_future_release(f);

    /* the same function and userdata added twice runs twice (two registrations) */
    atomic_store(&n, 0);
    f = pp_t_new_future();
    PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
    PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
    PP_ASSERT_OK(pp_future_set_error(f, PP_EBROKEN, 1, NULL));
    CU_ASSERT_EQUAL(atomic_load(&n), 2);
    pp_future_release(f);

    /* releasing a future with callbacks that never ran neither runs nor leaks them */
    atomic_store(&n, 0);
    f = pp_t_new_future();
    PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
    pp_future_release(f);
    CU_ASSERT_EQUAL(atomic_load(&n), 0);
}

static void test_already_done_runs_at_once(void)
{
    record *rec = calloc(1, sizeof *rec);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    pp_future *fs[3] = {pp_t_new_future(), pp_t_new_future(), pp_t_new_future()};
    PP_ASSERT_OK(pp_future_set_result(fs[0], "x", 1));
    PP_ASSERT_OK(pp_future_set_error(fs[1], PP_ETASK, 2, "y"));
    CU_ASSERT_TRUE(pp_future_cancel(fs[2]));
    tl_tag = 1;
    rec_arg a[3];
    for (int i = 0; i < 3; i++) {
        a[i].rec = rec;
        a[i].index = i;
        PP_ASSERT_OK(pp_future_add_done_callback(fs[i], record_cb, &a[i]));
        /* it ran before add returned, on this thread */
        CU_ASSERT_EQUAL(atomic_load(&rec->n), i + 1);
        CU_ASSERT_EQUAL(rec->order[i], i);
        CU_ASSERT_EQUAL(rec->tag[i], 1);
        CU_ASSERT_PTR_EQUAL(rec->fut[i], fs[i]);
        CU_ASSERT_TRUE(rec->done_inside[i]);
    }
    CU_ASSERT_TRUE(rec->cancelled_inside[2]);
    tl_tag = 0;
    /* and it does not run again */
    CU_ASSERT_EQUAL(pp_future_set_result(fs[0], "x", 1), PP_ESTATE);
    CU_ASSERT_TRUE(pp_future_cancel(fs[2]));
    CU_ASSERT_EQUAL(atomic_load(&rec->n), 3);
    for (int i = 0; i < 3; i++)
        pp_future_release(fs[i]);
    free(rec);
}

static void test_many_callbacks(void)
{
    enum { N = 1000 };
    record *rec = calloc(1, sizeof *rec);
    rec_arg *a = calloc(N, sizeof *a);
    CU_ASSERT_FATAL(rec && a);
    pp_future *f = pp_t_new_future();
    for (int i = 0; i < N; i++) {
        a[i].rec = rec;
        a[i].index = i;
        PP_ASSERT_OK(pp_future_add_done_callback(f, record_cb, &a[i]));
    }
    PP_ASSERT_OK(pp_future_set_result(f, NULL, 0));
    CU_ASSERT_EQUAL_FATAL(atomic_load(&rec->n), N);
    int in_order = 1;
    for (int i = 0; i < N; i++)
        in_order &= rec->order[i] == i;
    CU_ASSERT_TRUE(in_order);
    pp_future_release(f);
    free(a);
    free(rec);
}

/* ---- which thread ---- */

static void test_run_on_completing_thread(void)
{
    static const action acts[] = {DO_RESULT, DO_ERROR, DO_CANCEL};
    for (int k = 0; k < 3; k++) {
        record *rec = calloc(1, sizeof *rec);
        CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
        pp_future *f = pp_t_new_future();
        tl_tag = 1;
        rec_arg a[3];
        for (int i = 0; i < 3; i++) {
            a[i].rec = rec;
            a[i].index = i;
            PP_ASSERT_OK(pp_future_add_done_callback(f, record_cb, &a[i]));
        }
        completer c = {f, 50, acts[k], 7 + k, 0};
        pp_t_thread *t = pp_t_thread_start(completer_main, &c);
        /* wait for the completion like any user would (bounded) */
        pp_status st = pp_future_result(f, 20000, NULL);
        CU_ASSERT(st == (k == 0 ? PP_OK : k == 1 ? PP_ETASK : PP_ECANCELLED));
        pp_t_thread_join(t);
        CU_ASSERT_TRUE(c.ok);
        CU_ASSERT_EQUAL_FATAL(atomic_load(&rec->n), 3); /* the completer ran them */
        for (int i = 0; i < 3; i++) {
            CU_ASSERT_EQUAL(rec->order[i], i);
            CU_ASSERT_EQUAL(rec->tag[i], 7 + k); /* on the completing thread */
        }
        tl_tag = 0;
        pp_future_release(f);
        free(rec);
    }
}

/* A callback that records what several procpool calls return from inside a callback. */
typedef struct {
    pp_future *other; /* a pending future owned by the test */
    pp_status result_st;
    size_t result_len;
    int32_t result_val;
    pp_status exc_st;
    bool exc_null;
    pp_status set_again;
    bool cancel;
    pp_status wait_st;
    size_t wait_done;
    pp_status nested_add;
    atomic_int nested_ran;
    bool nested_ran_at_once;
    pp_status other_add;
    pp_status create_st;
    bool created_done;
    pp_future *kept; /* a reference the callback took */
    atomic_int finished;
} inside;

static void nested_cb(pp_future *f, void *ud)
{
    (void)f;
    inside *in = ud;
    atomic_fetch_add(&in->nested_ran, 1);
}

static void inside_cb(pp_future *f, void *ud)
{
    inside *in = ud;
    pp_buf r = {NULL, 0};
    /* its own, finished future: result and exception answer at once */
    in->result_st = pp_future_result(f, 10000, &r);
    in->result_len = r.len;
    if (r.len == sizeof in->result_val)
        memcpy(&in->result_val, r.data, sizeof in->result_val);
    const pp_error *e = (const pp_error *)1;
    in->exc_st = pp_future_exception(f, 10000, &e);
    in->exc_null = e == NULL;
    in->set_again = pp_future_set_result(f, NULL, 0);
    in->cancel = pp_future_cancel(f);
    /* wait on a set including itself and a pending future */
    pp_future *set[2] = {f, in->other};
    in->wait_st = pp_wait(set, 2, 0, PP_ALL_COMPLETED, NULL, &in->wait_done);
    /* a callback added to itself from inside runs at once */
    in->nested_add = pp_future_add_done_callback(f, nested_cb, in);
    in->nested_ran_at_once = atomic_load(&in->nested_ran) == 1;
    in->other_add = pp_future_add_done_callback(in->other, nested_cb, in);
    /* new futures */
    pp_future *g = NULL;
    in->create_st = pp_future_create(&g);
    if (g) {
        pp_future_set_result(g, "g", 1);
        in->created_done = pp_future_done(g);
        pp_future_release(g);
    }
    pp_future_retain(f);
    in->kept = f;
    atomic_store(&in->finished, 1);
}

static void check_inside(inside *in)
{
    PP_ASSERT_OK(in->result_st);
    CU_ASSERT_EQUAL(in->result_len, 4);
    CU_ASSERT_EQUAL(in->result_val, 5);
    PP_ASSERT_OK(in->exc_st);
    CU_ASSERT_TRUE(in->exc_null);
    CU_ASSERT_EQUAL(in->set_again, PP_ESTATE);
    CU_ASSERT_FALSE(in->cancel);
    PP_ASSERT_OK(in->wait_st);
    CU_ASSERT_EQUAL(in->wait_done, 1);
    PP_ASSERT_OK(in->nested_add);
    CU_ASSERT_TRUE(in->nested_ran_at_once);
    PP_ASSERT_OK(in->other_add);
    PP_ASSERT_OK(in->create_st);
    CU_ASSERT_TRUE(in->created_done);
    CU_ASSERT_PTR_NOT_NULL(in->kept);
}

static void test_callback_calls_procpool(void)
{
    /* from the completing thread (a helper), with the wait bounded: a callback run under a
     * library lock would deadlock here */
    inside *in = calloc(1, sizeof *in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    in->other = pp_t_new_future();
    pp_future *f = pp_t_new_future();
    PP_ASSERT_OK(pp_future_add_done_callback(f, inside_cb, in));
    completer c = {f, 20, DO_RESULT, 2, 0};
    pp_t_thread *t = pp_t_thread_start(completer_main, &c);
    join_or_die(t, &in->finished, "a callback calling procpool functions");
    CU_ASSERT_TRUE(c.ok);
    check_inside(in);
    CU_ASSERT_EQUAL(atomic_load(&in->nested_ran), 1);
    /* the callback added to the other future runs when that one completes */
    CU_ASSERT_TRUE(pp_future_cancel(in->other));
    CU_ASSERT_EQUAL(atomic_load(&in->nested_ran), 2);
    /* the reference the callback took keeps f alive after ours is gone */
    pp_future_release(f);
    CU_ASSERT_TRUE(pp_future_done(in->kept));
    pp_future_release(in->kept);
    pp_future_release(in->other);

    /* the same, already done: run at once by add_done_callback */
    memset(in, 0, sizeof *in);
    in->other = pp_t_new_future();
    f = pp_t_new_future();
    int32_t v = 5;
    PP_ASSERT_OK(pp_future_set_result(f, &v, sizeof v));
    PP_ASSERT_OK(pp_future_add_done_callback(f, inside_cb, in));
    CU_ASSERT_EQUAL(atomic_load(&in->finished), 1);
    check_inside(in);
    pp_future_release(f);
    pp_future_release(in->kept);
    pp_future_release(in->other);
    free(in);
}

static void release_cb(pp_future *f, void *ud)
{
    (void)ud;
    pp_future_release(f);
}

static void test_callback_releases_reference(void)
{
    /* A callback may drop a reference it was given (fire and forget): the completing call
     * still runs the later callbacks on a live future (valgrind checks). */
    atomic_int n = 0;
    pp_future *f = pp_t_new_future();
    pp_future_retain(f); /* the reference the callback will drop */
    PP_ASSERT_OK(pp_future_add_done_callback(f, release_cb, NULL));
    PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
    PP_ASSERT_OK(pp_future_set_result(f, NULL, 0));
    CU_ASSERT_EQUAL(atomic_load(&n), 1);
    pp_future_release(f);
}

static void test_null_fn(void)
{
    atomic_int n = 0;
    CU_ASSERT_EQUAL(pp_future_add_done_callback(NULL, count_cb, &n), PP_EINVAL);
    pp_future *f = pp_t_new_future();
    CU_ASSERT_EQUAL(pp_future_add_done_callback(f, NULL, &n), PP_EINVAL);
    PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
    PP_ASSERT_OK(pp_future_set_result(f, NULL, 0));
    CU_ASSERT_EQUAL(atomic_load(&n), 1); /* only the valid one ran */
    CU_ASSERT_EQUAL(pp_future_add_done_callback(f, NULL, &n), PP_EINVAL); /* done: same */
    CU_ASSERT_EQUAL(pp_future_add_done_callback(NULL, count_cb, &n), PP_EINVAL);
    CU_ASSERT_EQUAL(atomic_load(&n), 1);
    pp_future_release(f);
}

/* set_result and cancel race from two threads: exactly one wins, callbacks run once. */
typedef struct {
    pp_future *f;
    bool won;
} racer;

static void race_set(void *p)
{
    racer *r = p;
    r->won = pp_future_set_result(r->f, NULL, 0) == PP_OK;
}

static void race_cancel(void *p)
{
    racer *r = p;
    r->won = pp_future_cancel(r->f);
}

static void test_complete_cancel_race(void)
{
    enum { ROUNDS = 300 };
    int bad = 0, cancels = 0;
    for (int i = 0; i < ROUNDS; i++) {
        atomic_int n = 0;
        pp_future *f = pp_t_new_future();
        PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
        PP_ASSERT_OK(pp_future_add_done_callback(f, count_cb, &n));
        racer a = {f, false}, b = {f, false};
        pp_t_thread *ta = pp_t_thread_start(race_set, &a);
        pp_t_thread *tb = pp_t_thread_start(race_cancel, &b);
        pp_t_thread_join(ta);
        pp_t_thread_join(tb);
        bad += a.won == b.won;                  /* exactly one completion */
        bad += atomic_load(&n) != 2;            /* each callback once */
        bad += pp_future_cancelled(f) != b.won; /* the state matches the winner */
        cancels += b.won;
        pp_future_release(f);
    }
    CU_ASSERT_EQUAL(bad, 0);
    (void)cancels; /* either may win any round: no assertion on the split */
}

/* add_done_callback racing the completion: every callback runs exactly once; those added
 * before the completion (a prefix) run on the completing thread in the order added, the
 * rest at once on the adding thread, also in order. */
enum { ADD_RACE_K = 40 };
typedef struct {
    atomic_int seq;
    atomic_int runs[ADD_RACE_K];
    int tag_of[ADD_RACE_K]; /* each written once, by the thread that ran it */
    int seq_of[ADD_RACE_K];
} add_race;
typedef struct {
    add_race *ar;
    int index;
} add_race_arg;
typedef struct {
    pp_future *f;
    add_race_arg args[ADD_RACE_K];
    atomic_int *go;
    int failed_adds;
} adder;

static void add_race_cb(pp_future *f, void *ud)
{
    (void)f;
    add_race_arg *a = ud;
    a->ar->tag_of[a->index] = tl_tag;
    a->ar->seq_of[a->index] = atomic_fetch_add(&a->ar->seq, 1);
    atomic_fetch_add(&a->ar->runs[a->index], 1);
}

static void adder_main(void *p)
{
    adder *d = p;
    tl_tag = 2;
    while (!atomic_load(d->go)) {
    }
    for (int i = 0; i < ADD_RACE_K; i++)
        d->failed_adds += pp_future_add_done_callback(d->f, add_race_cb, &d->args[i]) != PP_OK;
}

static void test_add_racing_completion(void)
{
    enum { ROUNDS = 200 };
    add_race *ar = malloc(sizeof *ar);
    adder *d = malloc(sizeof *d);
    CU_ASSERT_FATAL(ar && d);
    int bad = 0, split_seen[3] = {0, 0, 0};
    for (int k = 0; k < ROUNDS && bad < 5; k++) {
        atomic_init(&ar->seq, 0);
        for (int i = 0; i < ADD_RACE_K; i++) {
            atomic_init(&ar->runs[i], 0);
            ar->tag_of[i] = -1;
            ar->seq_of[i] = -1;
            d->args[i].ar = ar;
            d->args[i].index = i;
        }
        atomic_int go = 0;
        d->f = pp_t_new_future();
        d->go = &go;
        d->failed_adds = 0;
        tl_tag = 1;
        pp_t_thread *t = pp_t_thread_start(adder_main, d);
        atomic_store(&go, 1);
        for (volatile int spin = 0; spin < (k % 20) * 50; spin++) {
        }
        PP_ASSERT_OK(pp_future_set_result(d->f, NULL, 0));
        pp_t_thread_join(t);
        tl_tag = 0;

        /* j: the first callback run by the adder (every one before it by the completer) */
        int j = 0;
        while (j < ADD_RACE_K && ar->tag_of[j] == 1)
            j++;
        bool ok = d->failed_adds == 0;
        for (int i = 0; i < ADD_RACE_K; i++) {
            ok = ok && atomic_load(&ar->runs[i]) == 1;
            ok = ok && ar->tag_of[i] == (i < j ? 1 : 2);
            if (i > 0 && i != j)
                ok = ok && ar->seq_of[i] > ar->seq_of[i - 1]; /* in order within each side */
        }
        split_seen[j == 0 ? 0 : j == ADD_RACE_K ? 2 : 1]++;
        if (!ok) {
            bad++;
            fprintf(stderr, "\n  round %d: split at %d, failed adds %d\n", k, j, d->failed_adds);
        }
        pp_future_release(d->f);
    }
    CU_ASSERT_EQUAL(bad, 0);
    (void)split_seen; /* where the split falls is up to the scheduler */
    free(ar);
    free(d);
}

/* ---- with an executor: the manager runs them ---- */

typedef struct {
    pp_executor *ex;
    atomic_int calls;
    int tag;             /* tl_tag of the thread that ran it */
    pp_status result_st; /* pp_future_result on its own future, from inside */
    int32_t value;
    pp_status submit_st; /* pp_submit from inside */
    pp_future *submitted;
    pp_status stats_st;
    pp_status shutdown_st; /* for the shutdown test */
    unsigned sleep_ms;
} exec_cb_arg;

static void exec_cb(pp_future *f, void *ud)
{
    exec_cb_arg *a = ud;
    a->tag = tl_tag;
    pp_buf r = {NULL, 0};
    a->result_st = pp_future_result(f, 10000, &r);
    if (r.len == sizeof a->value)
        memcpy(&a->value, r.data, sizeof a->value);
    if (a->sleep_ms)
        pp_t_sleep_ms(a->sleep_ms);
    pp_executor_stats s;
    a->stats_st = pp_executor_stats_get(a->ex, &s);
    pp_t_sleep_arg sa = sleep_arg(0, 123);
    a->submit_st = pp_submit(a->ex, "sleep", &sa, sizeof sa, &a->submitted);
    atomic_fetch_add(&a->calls, 1);
}

static void test_executor_callback_on_manager(void)
{
    pp_executor *ex = pp_t_executor(1);
    tl_tag = 1;
    /* a blocker keeps f from finishing before its callback is added */
    pp_t_sleep_arg b = sleep_arg(1500, 0), s = sleep_arg(0, 77);
    pp_future *blocker = NULL, *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &b, sizeof b, &blocker));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &s, sizeof s, &f));
    exec_cb_arg *a = calloc(1, sizeof *a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    a->ex = ex;
    a->tag = -1;
    PP_ASSERT_OK(pp_future_add_done_callback(f, exec_cb, a));
    CU_ASSERT_FALSE(pp_future_done(f)); /* the blocker still holds the only worker */

    /* the manager completes f, runs the callback, which submits more work */
    CU_ASSERT_FATAL(wait_count(&a->calls, 1, PP_T_TIMEOUT_MS));
    CU_ASSERT_EQUAL(a->tag, 0); /* not this thread: the library's (manager) thread */
    PP_ASSERT_OK(a->result_st);
    CU_ASSERT_EQUAL(a->value, 77);
    PP_ASSERT_OK(a->stats_st);
    PP_ASSERT_OK(a->submit_st);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a->submitted);
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(a->submitted, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == 4 && *(const int32_t *)r.data == 123);
    CU_ASSERT_EQUAL(atomic_load(&a->calls), 1);
    pp_future_release(a->submitted);
    a->submitted = NULL;

    /* added after it finished: runs at once, here */
    PP_ASSERT_OK(pp_future_add_done_callback(f, exec_cb, a));
    CU_ASSERT_EQUAL(atomic_load(&a->calls), 2);
    CU_ASSERT_EQUAL(a->tag, 1);
    PP_ASSERT_OK(a->submit_st);
    PP_ASSERT_OK(pp_future_result(a->submitted, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(a->submitted);
    tl_tag = 0;
    pp_future_release(blocker);
    pp_future_release(f);
    pp_executor_destroy(ex);
    free(a);
}

static void test_executor_cancel_runs_on_canceller(void)
{
    /* an executor future cancelled by the caller: its callback runs on the caller's thread
     * before cancel returns */
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg b = sleep_arg(1500, 0), s = sleep_arg(0, 1);
    pp_future *blocker = NULL, *queued = NULL, *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &b, sizeof b, &blocker));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &s, sizeof s, &queued)); /* the +1 window */
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &s, sizeof s, &f));
    record *rec = calloc(1, sizeof *rec);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    rec_arg a = {rec, 0};
    PP_ASSERT_OK(pp_future_add_done_callback(f, record_cb, &a));
    tl_tag = 1;
    CU_ASSERT_TRUE_FATAL(pp_future_cancel(f));
    CU_ASSERT_EQUAL_FATAL(atomic_load(&rec->n), 1);
    CU_ASSERT_EQUAL(rec->tag[0], 1);
    CU_ASSERT_TRUE(rec->cancelled_inside[0]);
    tl_tag = 0;
    PP_ASSERT_OK(pp_future_result(queued, PP_T_TIMEOUT_MS, NULL));
    CU_ASSERT_EQUAL(atomic_load(&rec->n), 1); /* not run again when the manager skips it */
    pp_future_release(blocker);
    pp_future_release(queued);
    pp_future_release(f);
    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL(atomic_load(&rec->n), 1);
    free(rec);
}

/* Odd things a callback on the manager thread may do. */
typedef struct {
    pp_executor *ex;
    atomic_int calls;
    atomic_int nested;
    pp_status add_st;
    pp_status set_st;
    bool cancel;
} odd_arg;

static void odd_nested_cb(pp_future *f, void *ud)
{
    (void)f;
    odd_arg *a = ud;
    atomic_fetch_add(&a->nested, 1);
}

static void odd_cb(pp_future *f, void *ud)
{
    odd_arg *a = ud;
    pp_t_sleep_ms(150);                                           /* slow */
    a->add_st = pp_future_add_done_callback(f, odd_nested_cb, a); /* runs at once */
    a->set_st = pp_future_set_result(f, "x", 1);                  /* PP_ESTATE */
    a->cancel = pp_future_cancel(f);                              /* false */
    pp_future_retain(f);
    pp_future_release(f);
    pp_executor_stats s;
    pp_executor_stats_get(a->ex, &s);
    atomic_fetch_add(&a->calls, 1);
}

static void test_executor_survives_odd_callbacks(void)
{
    enum { N = 6 };
    pp_executor *ex = pp_t_executor(2);
    odd_arg *a = calloc(1, sizeof *a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    a->ex = ex;
    pp_future *f[N];
    for (int i = 0; i < N; i++) {
        int32_t x = i;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "square", &x, sizeof x, &f[i]));
        PP_ASSERT_OK(pp_future_add_done_callback(f[i], odd_cb, a));
    }
    for (int i = 0; i < N; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(f[i], PP_T_TIMEOUT_MS, &r));
        CU_ASSERT(r.len == 8 && *(const int64_t *)r.data == (int64_t)i * i);
    }
    CU_ASSERT(wait_count(&a->calls, N, PP_T_TIMEOUT_MS));
    CU_ASSERT_EQUAL(atomic_load(&a->calls), N);
    CU_ASSERT_EQUAL(atomic_load(&a->nested), N);
    PP_ASSERT_OK(a->add_st);
    CU_ASSERT_EQUAL(a->set_st, PP_ESTATE);
    CU_ASSERT_FALSE(a->cancel);

    /* the executor still works, and no worker died */
    pp_future *g = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "still", 5, &g));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(g, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == 5 && memcmp(r.data, "still", 5) == 0);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0);
    CU_ASSERT_EQUAL(s.failed, 0);
    pp_future_release(g);
    for (int i = 0; i < N; i++)
        pp_future_release(f[i]);
    pp_executor_destroy(ex);
    free(a);
}

static void fire_and_forget_cb(pp_future *f, void *ud)
{
    atomic_fetch_add((atomic_int *)ud, 1);
    pp_future_release(f); /* the caller's reference, handed to the callback */
}

/* Counts a call only if the future it gets is alive and done, with its result readable. */
static void check_alive_cb(pp_future *f, void *ud)
{
    pp_buf r = {NULL, 0};
    if (pp_future_done(f) && !pp_future_cancelled(f) && pp_future_result(f, 0, &r) == PP_OK &&
        r.len == 8)
        atomic_fetch_add((atomic_int *)ud, 1);
}

static void test_executor_callback_releases_caller_reference(void)
{
    /* submit, add a callback that releases the caller's reference, forget the future:
     * the manager must keep the future alive while it runs the callbacks (valgrind) */
    enum { N = 8 };
    atomic_int n = 0, m = 0;
    pp_executor *ex = pp_t_executor(2);
    for (int i = 0; i < N; i++) {
        pp_future *f = NULL;
        int32_t x = i;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "square", &x, sizeof x, &f));
        /* f may complete at any moment (fork's workers are running already): a reference
         * of our own keeps it valid until both callbacks are added; then only the
         * manager's keeps it alive while it runs them */
        pp_future_retain(f);
        PP_ASSERT_OK(pp_future_add_done_callback(f, fire_and_forget_cb, &n));
        PP_ASSERT_OK(pp_future_add_done_callback(f, check_alive_cb, &m)); /* after release */
        pp_future_release(f);
    }
    CU_ASSERT(wait_count(&m, N, PP_T_TIMEOUT_MS));
    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL(atomic_load(&n), N);
    CU_ASSERT_EQUAL(atomic_load(&m), N);
}

static void shutdown_cb(pp_future *f, void *ud)
{
    (void)f;
    exec_cb_arg *a = ud;
    /* waiting from the manager would wait for itself: PP_ESTATE, shutdown started */
    a->shutdown_st = pp_executor_shutdown(a->ex, true, false);
    pp_t_sleep_arg sa = sleep_arg(0, 1);
    pp_future *g = NULL;
    a->submit_st = pp_submit(a->ex, "sleep", &sa, sizeof sa, &g);
    a->submitted = g;
    atomic_fetch_add(&a->calls, 1);
}

static void test_executor_callback_shutdown(void)
{
    pp_executor *ex = pp_t_executor(1);
    exec_cb_arg *a = calloc(1, sizeof *a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    a->ex = ex;
    pp_t_sleep_arg b = sleep_arg(1500, 0), s = sleep_arg(0, 2);
    pp_future *blocker = NULL, *f = NULL, *later = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &b, sizeof b, &blocker));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &s, sizeof s, &f));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &s, sizeof s, &later));
    PP_ASSERT_OK(pp_future_add_done_callback(blocker, shutdown_cb, a));
    CU_ASSERT_FATAL(wait_count(&a->calls, 1, PP_T_TIMEOUT_MS));
    CU_ASSERT_EQUAL(a->shutdown_st, PP_ESTATE);
    CU_ASSERT_EQUAL(a->submit_st, PP_ESHUTDOWN);
    CU_ASSERT_PTR_NULL(a->submitted);
    /* work submitted before the shutdown still completes */
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    PP_ASSERT_OK(pp_future_result(later, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(blocker);
    pp_future_release(f);
    pp_future_release(later);
    pp_executor_destroy(ex);
    free(a);
}

static CU_TestInfo tests[] = {
    {"run_in_order_added", test_run_in_order_added},
    {"run_exactly_once", test_run_exactly_once},
    {"already_done_runs_at_once", test_already_done_runs_at_once},
    {"many_callbacks", test_many_callbacks},
    {"run_on_completing_thread", test_run_on_completing_thread},
    {"callback_calls_procpool", test_callback_calls_procpool},
    {"callback_releases_reference", test_callback_releases_reference},
    {"null_fn", test_null_fn},
    {"complete_cancel_race", test_complete_cancel_race},
    {"add_racing_completion", test_add_racing_completion},
    {"executor_callback_on_manager", test_executor_callback_on_manager},
    {"executor_cancel_runs_on_canceller", test_executor_cancel_runs_on_canceller},
    {"executor_survives_odd_callbacks", test_executor_survives_odd_callbacks},
    {"executor_callback_releases_caller_reference",
     test_executor_callback_releases_caller_reference},
    {"executor_callback_shutdown", test_executor_callback_shutdown},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_callbacks = {"callbacks", NULL, NULL, pp_t_watchdog_setup, pp_t_watchdog_teardown, tests};
