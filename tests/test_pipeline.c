/*
 * The pipeline suite: calls queued ahead to a worker (PROCPOOL_PIPELINE, docs/design.md "The
 * pipeline") keep cancellation honest. A call queued ahead but not started can still be
 * cancelled, and never runs; pp_future_running is true only once the call started; a call
 * queued behind a long one moves to a worker left idle; a worker that dies with calls queued
 * ahead: they run elsewhere (ISOLATE) or fail with the pool (BREAK), never as a retry;
 * shutdown(cancel_futures) cancels them. Every call records each of its runs in a file (task
 * chunk_step), so a test can tell that a cancelled call never ran. Long calls wait on gates
 * that the test opens; crashes are real (SIGKILL to the worker).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pp_core.h"
#include "pp_test.h"
#include "wshm.h"

#define BOUND_MS 30000L

/* The pipeline is read at pp_executor_create: set for the executors of one test. */
static void set_pipeline(const char *v)
{
#ifdef _WIN32
    _putenv_s("PROCPOOL_PIPELINE", v ? v : "");
#else
    if (v)
        setenv("PROCPOOL_PIPELINE", v, 1);
    else
        unsetenv("PROCPOOL_PIPELINE");
#endif
}

typedef struct steps {
    int           n;
    pp_t_step_arg args[80];
    char          path[256];
} steps;

static void steps_init(steps *s, int n, const char *tag)
{
    CU_ASSERT_FATAL(n <= (int)(sizeof s->args / sizeof s->args[0]));
    s->n = n;
    snprintf(s->path, sizeof s->path, "pp_pipeline_%s_%lld_%s.runs", tag, pp_t_getpid(),
             pp_t_start_name());
    pp_t_step_remove(s->path, n);
    for (int i = 0; i < n; i++) {
        memset(&s->args[i], 0, sizeof s->args[i]);
        s->args[i].index = i;
        s->args[i].mode = PP_T_STEP_OK;
        s->args[i].size = sizeof(pp_t_step_out);
        snprintf(s->args[i].path, sizeof s->args[i].path, "%s", s->path);
    }
}

static pp_future *submit_step(pp_executor *ex, steps *s, int i)
{
    pp_future *f = NULL;
    PP_ASSERT_OK(pp_submit(ex, "chunk_step", &s->args[i], sizeof s->args[i], &f));
    return f;
}

/* A call that waits on gate `name` (opened by the test). */
static pp_future *submit_gate(pp_executor *ex, const char *name)
{
    pp_future *f = NULL;
    PP_ASSERT_OK(pp_submit(ex, "wait_gate", name, strlen(name), &f));
    return f;
}

static void gate_name(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "pp_pipe_gate_%s_%lld_%s", tag, pp_t_getpid(), pp_t_start_name());
}

/* A closed gate named after tag (its name into buf, for the tasks); the test ends if none. */
static pp_t_gate *new_gate(char *buf, size_t cap, const char *tag)
{
    gate_name(buf, cap, tag);
    pp_t_gate *g = pp_t_gate_create(buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    return g;
}

static pp_executor *pipe_executor(int workers, const char *depth, pp_crash_policy policy)
{
    set_pipeline(depth);
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = workers;
    o.crash_policy = policy;
    pp_executor *ex = NULL;
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    set_pipeline(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
    PP_ASSERT_OK(pp_executor_start_workers(ex, workers));
    return ex;
}

static bool running_within(pp_future *f, long ms)
{
    long long end = pp_t_now_ms() + ms;
    while (!pp_future_running(f)) {
        if (pp_t_now_ms() > end)
            return false;
        pp_t_sleep_ms(2);
    }
    return true;
}

/* A call blocked on a new closed gate named after tag (*g: the gate, for the test to open),
 * running on ex: fatal if it is not running within BOUND_MS. */
static pp_future *blocked_call(pp_executor *ex, const char *tag, pp_t_gate **g)
{
    char gname[160];
    *g = new_gate(gname, sizeof gname, tag);
    pp_future *b = submit_gate(ex, gname);
    CU_ASSERT_FATAL(running_within(b, BOUND_MS));
    return b;
}

/* A test's end: destroys ex, frees g and removes the steps' run files. */
static void end_gated(pp_executor *ex, pp_t_gate *g, steps *s)
{
    pp_executor_destroy(ex);
    pp_t_gate_free(g);
    pp_t_step_remove(s->path, s->n);
}

static bool handed_out_within(pp_executor *ex, size_t want, long ms)
{
    long long end = pp_t_now_ms() + ms;
    for (;;) {
        pp_executor_stats st;
        if (pp_executor_stats_get(ex, &st) == PP_OK && st.handed_out >= want)
            return true;
        if (pp_t_now_ms() > end)
            return false;
        pp_t_sleep_ms(2);
    }
}

/* Two workers blocked on gates; 10 more calls handed out or pending behind them: every one
 * can be cancelled (those queued ahead too), and none of them runs. */
static void test_cancel_every_call_not_started(void)
{
    enum { N = 10 };
    pp_executor *ex = pipe_executor(2, "3", PP_CRASH_BREAK);
    char gname[160];
    pp_t_gate *g = new_gate(gname, sizeof gname, "cancel");
    pp_future *b0 = submit_gate(ex, gname), *b1 = submit_gate(ex, gname);
    CU_ASSERT_FATAL(running_within(b0, BOUND_MS) && running_within(b1, BOUND_MS));
    steps s;
    steps_init(&s, N, "cancel");
    pp_future *f[N];
    for (int i = 0; i < N; i++)
        f[i] = submit_step(ex, &s, i);
    /* 2 running + 2 x 2 queued ahead (depth 3) + 1 in the call queue */
    CU_ASSERT(handed_out_within(ex, 7, BOUND_MS));
    for (int i = 0; i < N; i++) {
        CU_ASSERT_FALSE(pp_future_running(f[i]));
        CU_ASSERT_TRUE(pp_future_cancel(f[i]));
        CU_ASSERT_TRUE(pp_future_cancelled(f[i]));
    }
    pp_t_gate_open(g);
    PP_ASSERT_OK(pp_future_result(b0, BOUND_MS, NULL));
    PP_ASSERT_OK(pp_future_result(b1, BOUND_MS, NULL));
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(pp_future_result(f[i], 0, NULL), PP_ECANCELLED);
        CU_ASSERT_EQUAL(pp_t_step_runs(s.path, i), 0);
    }
    pp_executor_stats st;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT_EQUAL(st.cancelled, N);
    CU_ASSERT_EQUAL(st.completed, 2);
    CU_ASSERT_EQUAL(st.handed_out, 0);
    for (int i = 0; i < N; i++)
        pp_future_release(f[i]);
    pp_future_release(b0);
    pp_future_release(b1);
    end_gated(ex, g, &s);
}

/* The depth: 64 calls a worker by default, and PROCPOOL_PIPELINE above 64 means 64: one
 * worker blocked on a gate holds 64 (63 queued ahead), one more waits in the call queue,
 * and the rest stay pending; all but the blocked one can be cancelled and none runs. */
#define DEPTH 64
static void depth_holds(const char *depth)
{
    enum { N = DEPTH + 8 };
    pp_executor *ex = pipe_executor(1, depth, PP_CRASH_BREAK);
    pp_t_gate *g = NULL;
    pp_future *b = blocked_call(ex, "depth", &g);
    steps s;
    steps_init(&s, N, "depth");
    pp_future *f[N];
    for (int i = 0; i < N; i++)
        f[i] = submit_step(ex, &s, i);
    CU_ASSERT(handed_out_within(ex, DEPTH + 1, BOUND_MS));
    pp_executor_stats st;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT_EQUAL(st.handed_out, DEPTH + 1); /* (not more: it stays there) */
    for (int i = 0; i < N; i++)
        CU_ASSERT_TRUE(pp_future_cancel(f[i]));
    pp_t_gate_open(g);
    PP_ASSERT_OK(pp_future_result(b, BOUND_MS, NULL));
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(pp_future_result(f[i], 0, NULL), PP_ECANCELLED);
        CU_ASSERT_EQUAL(pp_t_step_runs(s.path, i), 0);
        pp_future_release(f[i]);
    }
    pp_future_release(b);
    end_gated(ex, g, &s);
}

static void test_depth_default(void)
{
    depth_holds(NULL);
}

static void test_depth_clamped(void)
{
    depth_holds("100");
}

/* A result is never held back behind the next call (docs/design.md, "Naps"): many short
 * calls (the manager naps between their results, and the worker rings only when it would
 * wait), the last of them followed by a call that blocks until the test opens its gate:
 * the short calls' results all arrive while it blocks. */
static void test_result_not_held_back(void)
{
    enum { N = 300 };
    pp__naps_always(true); /* (else, with a CPU to spare, the manager polls instead) */
    pp_executor *ex = pipe_executor(1, NULL, PP_CRASH_BREAK);
    char gname[160];
    pp_t_gate *g = new_gate(gname, sizeof gname, "held");
    for (int round = 0; round < 3; round++) {
        pp_future *f[N];
        for (int i = 0; i < N; i++)
            PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f[i]));
        pp_future *b = round == 2 ? submit_gate(ex, gname) : NULL;
        for (int i = 0; i < N; i++) {
            PP_ASSERT_OK(pp_future_result(f[i], BOUND_MS, NULL));
            pp_future_release(f[i]);
        }
        if (b) {
            CU_ASSERT_FALSE(pp_future_done(b));
            pp_t_gate_open(g);
            PP_ASSERT_OK(pp_future_result(b, BOUND_MS, NULL));
            pp_future_release(b);
        }
    }
    pp_t_gate_free(g);
    pp_executor_destroy(ex);
    pp__naps_always(false);
}

/* One worker: a call queued ahead behind a blocked one is not running (and can be
 * cancelled) until the worker starts it; then it runs and finishes. */
static void test_running_only_once_started(void)
{
    pp_executor *ex = pipe_executor(1, "2", PP_CRASH_BREAK);
    pp_t_gate *g = NULL;
    pp_future *b = blocked_call(ex, "running", &g);
    steps s;
    steps_init(&s, 2, "running");
    pp_future *f0 = submit_step(ex, &s, 0), *f1 = submit_step(ex, &s, 1);
    CU_ASSERT(handed_out_within(ex, 3, BOUND_MS)); /* b, f0 ahead, f1 in the call queue */
    CU_ASSERT_FALSE(pp_future_running(f0));
    CU_ASSERT_FALSE(pp_future_done(f0));
    CU_ASSERT_FALSE(pp_future_running(f1));
    CU_ASSERT_FALSE(pp_future_done(b));
    CU_ASSERT_TRUE(pp_future_running(b));
    CU_ASSERT_FALSE(pp_future_cancel(b)); /* started: as CPython */
    pp_t_gate_open(g);
    PP_ASSERT_OK(pp_future_result(f0, BOUND_MS, NULL));
    PP_ASSERT_OK(pp_future_result(f1, BOUND_MS, NULL));
    CU_ASSERT_FALSE(pp_future_cancel(f0)); /* done */
    CU_ASSERT_EQUAL(pp_t_step_runs(s.path, 0), 1);
    CU_ASSERT_EQUAL(pp_t_step_runs(s.path, 1), 1);
    PP_ASSERT_OK(pp_future_result(b, BOUND_MS, NULL));
    pp_future_release(b);
    pp_future_release(f0);
    pp_future_release(f1);
    end_gated(ex, g, &s);
}

/* Two workers blocked on two gates, one call queued ahead behind each: when one gate opens,
 * its worker runs its own queued call, then takes the other one (revoked from the worker
 * still blocked): both finish while the other gate is closed. */
static void test_revoke_to_idle_worker(void)
{
    pp_executor *ex = pipe_executor(2, "2", PP_CRASH_BREAK);
    char n0[160], n1[160];
    gate_name(n0, sizeof n0, "idle0");
    gate_name(n1, sizeof n1, "idle1");
    pp_t_gate *g0 = pp_t_gate_create(n0), *g1 = pp_t_gate_create(n1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g1);
    pp_future *b0 = submit_gate(ex, n0);
    CU_ASSERT_FATAL(running_within(b0, BOUND_MS));
    pp_future *b1 = submit_gate(ex, n1);
    CU_ASSERT_FATAL(running_within(b1, BOUND_MS));
    steps s;
    steps_init(&s, 2, "idle");
    pp_future *f0 = submit_step(ex, &s, 0), *f1 = submit_step(ex, &s, 1);
    CU_ASSERT(handed_out_within(ex, 4, BOUND_MS)); /* one queued ahead behind each */
    pp_t_gate_open(g1);
    PP_ASSERT_OK(pp_future_result(f0, BOUND_MS, NULL));
    PP_ASSERT_OK(pp_future_result(f1, BOUND_MS, NULL));
    CU_ASSERT_FALSE(pp_future_done(b0)); /* its gate is still closed */
    CU_ASSERT_EQUAL(pp_t_step_runs(s.path, 0), 1);
    CU_ASSERT_EQUAL(pp_t_step_runs(s.path, 1), 1);
    pp_t_gate_open(g0);
    PP_ASSERT_OK(pp_future_result(b0, BOUND_MS, NULL));
    PP_ASSERT_OK(pp_future_result(b1, BOUND_MS, NULL));
    pp_future_release(b0);
    pp_future_release(b1);
    pp_future_release(f0);
    pp_future_release(f1);
    pp_executor_destroy(ex);
    pp_t_gate_free(g0);
    pp_t_gate_free(g1);
    pp_t_step_remove(s.path, s.n);
}

/* The only worker is killed (SIGKILL) while blocked, with calls queued ahead: under ISOLATE
 * its call fails PP_EWORKERDIED and the queued ones run once on a new worker (no retry
 * counted); under BREAK every one fails PP_EBROKEN and none runs. */
static void killed_with_calls_ahead(pp_crash_policy policy)
{
    if (policy != PP_CRASH_BREAK)
        PP_T_SKIP_IF_FORK("fork: a worker killed is not replaced");
    pp_executor *ex = pipe_executor(1, "3", policy);
    pp_t_gate *g = NULL;
    pp_future *b = blocked_call(ex, policy == PP_CRASH_BREAK ? "killb" : "killi", &g);
    steps s;
    steps_init(&s, 2, policy == PP_CRASH_BREAK ? "killb" : "killi");
    pp_future *f0 = submit_step(ex, &s, 0), *f1 = submit_step(ex, &s, 1);
    CU_ASSERT(handed_out_within(ex, 3, BOUND_MS));
    pp_worker_info wi;
    size_t n = 0;
    PP_ASSERT_OK(pp_executor_workers(ex, &wi, 1, &n));
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(pp_t_kill_pid(wi.pid), 0);
    if (policy == PP_CRASH_BREAK) {
        CU_ASSERT_EQUAL(pp_future_result(b, BOUND_MS, NULL), PP_EBROKEN);
        CU_ASSERT_EQUAL(pp_future_result(f0, BOUND_MS, NULL), PP_EBROKEN);
        CU_ASSERT_EQUAL(pp_future_result(f1, BOUND_MS, NULL), PP_EBROKEN);
        CU_ASSERT_EQUAL(pp_t_step_runs(s.path, 0), 0);
        CU_ASSERT_EQUAL(pp_t_step_runs(s.path, 1), 0);
    } else {
        CU_ASSERT_EQUAL(pp_future_result(b, BOUND_MS, NULL), PP_EWORKERDIED);
        PP_ASSERT_OK(pp_future_result(f0, BOUND_MS, NULL));
        PP_ASSERT_OK(pp_future_result(f1, BOUND_MS, NULL));
        CU_ASSERT_EQUAL(pp_t_step_runs(s.path, 0), 1);
        CU_ASSERT_EQUAL(pp_t_step_runs(s.path, 1), 1);
        pp_executor_stats st;
        PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
        CU_ASSERT_EQUAL(st.workers_died, 1);
        CU_ASSERT_EQUAL(st.completed, 2);
        CU_ASSERT_EQUAL(st.failed, 1);
    }
    pp_t_gate_open(g);
    pp_future_release(b);
    pp_future_release(f0);
    pp_future_release(f1);
    end_gated(ex, g, &s);
}

static void test_killed_isolate(void)
{
    killed_with_calls_ahead(PP_CRASH_ISOLATE);
}

static void test_killed_break(void)
{
    killed_with_calls_ahead(PP_CRASH_BREAK);
}

/* shutdown(cancel_futures) cancels the calls queued ahead (and those in the call queue), not
 * only the pending ones: none of them runs. */
static void test_shutdown_cancels_queued_ahead(void)
{
    enum { N = 6 };
    pp_executor *ex = pipe_executor(1, "3", PP_CRASH_BREAK);
    pp_t_gate *g = NULL;
    pp_future *b = blocked_call(ex, "shut", &g);
    steps s;
    steps_init(&s, N, "shut");
    pp_future *f[N];
    for (int i = 0; i < N; i++)
        f[i] = submit_step(ex, &s, i);
    CU_ASSERT(handed_out_within(ex, 4, BOUND_MS)); /* 2 queued ahead, 1 in the call queue */
    PP_ASSERT_OK(pp_executor_shutdown(ex, false, true));
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(pp_future_result(f[i], BOUND_MS, NULL), PP_ECANCELLED);
    pp_t_gate_open(g);
    PP_ASSERT_OK(pp_future_result(b, BOUND_MS, NULL));
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    for (int i = 0; i < N; i++)
        CU_ASSERT_EQUAL(pp_t_step_runs(s.path, i), 0);
    pp_executor_stats st;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT_EQUAL(st.cancelled, N);
    for (int i = 0; i < N; i++)
        pp_future_release(f[i]);
    pp_future_release(b);
    end_gated(ex, g, &s);
}

/* pp_executor_stop: the running call is asked to stop and keeps its outcome; the calls
 * queued ahead end PP_ECANCELLED without running. */
static void test_stop_cancels_queued_ahead(void)
{
    pp_executor *ex = pipe_executor(1, "3", PP_CRASH_BREAK);
    pp_future *b = NULL;
    PP_ASSERT_OK(pp_submit(ex, "until_stopped", NULL, 0, &b));
    CU_ASSERT_FATAL(running_within(b, BOUND_MS));
    steps s;
    steps_init(&s, 3, "stop");
    pp_future *f[3];
    for (int i = 0; i < 3; i++)
        f[i] = submit_step(ex, &s, i);
    CU_ASSERT(handed_out_within(ex, 3, BOUND_MS));
    PP_ASSERT_OK(pp_executor_stop(ex, 10000));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(b, BOUND_MS, &r));
    int32_t asked = 0;
    if (r.len == sizeof asked)
        memcpy(&asked, r.data, sizeof asked);
    CU_ASSERT_EQUAL(asked, 1);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(pp_future_result(f[i], BOUND_MS, NULL), PP_ECANCELLED);
        CU_ASSERT_EQUAL(pp_t_step_runs(s.path, i), 0);
        pp_future_release(f[i]);
    }
    pp_future_release(b);
    pp_executor_destroy(ex);
    pp_t_step_remove(s.path, s.n);
}

/* A worker fed through rings is topped up to its depth at each of the manager's passes, not
 * only once half of its calls are gone (worth_topping_up): a worker holding a blocked call
 * and 63 queued ahead, the blocked one and the 20 after it return; the call after those
 * then sees 63 calls queued ahead behind it again (with the half rule: 42, for 43 held is
 * more than half, and the worker could run dry before the manager's next pass). */
static void test_topped_up_to_depth(void)
{
    PP_T_SKIP_IF_NO_RINGS("through the channel the half rule stays");
    enum { QUICK = 20, REST = 100 };
    pp_executor *ex = pipe_executor(1, NULL, PP_CRASH_BREAK);
    pp_t_gate *g = NULL;
    pp_future *b = blocked_call(ex, "topup", &g);
    pp_future *q[QUICK], *r[REST], *p = NULL;
    for (int i = 0; i < QUICK; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &q[i]));
    uint32_t want = DEPTH - 1;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "slots_queued", &want, sizeof want, &p));
    for (int i = 0; i < REST; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &r[i]));
    CU_ASSERT(handed_out_within(ex, DEPTH + 1, BOUND_MS)); /* b and 63 ahead, one waiting */
    pp_t_gate_open(g);
    pp_buf out = {NULL, 0};
    PP_ASSERT_OK(pp_future_result(p, BOUND_MS, &out));
    uint32_t seen = 0;
    CU_ASSERT_FATAL(out.len == sizeof seen && out.data);
    memcpy(&seen, out.data, sizeof seen);
    CU_ASSERT_EQUAL(seen, DEPTH - 1);
    PP_ASSERT_OK(pp_future_result(b, BOUND_MS, NULL));
    for (int i = 0; i < QUICK; i++) {
        PP_ASSERT_OK(pp_future_result(q[i], BOUND_MS, NULL));
        pp_future_release(q[i]);
    }
    for (int i = 0; i < REST; i++) {
        PP_ASSERT_OK(pp_future_result(r[i], BOUND_MS, NULL));
        pp_future_release(r[i]);
    }
    pp_future_release(p);
    pp_future_release(b);
    pp_executor_destroy(ex);
    pp_t_gate_free(g);
}

/* Small calls streaming through a worker's rings keep to their first pages (ring.h: a
 * producer skips to the ring's start while little is unread): after more than a ring's
 * worth of frames each way, both sides have skipped, both write positions are within the
 * first pages, and (Linux) only those pages of the rings exist. */
static void test_rings_keep_to_first_pages(void)
{
    PP_T_SKIP_IF_NO_RINGS("frames go through the channel");
    set_pipeline(NULL);
    pp_executor *ex = pp_t_executor(1);
    enum { N = 6000 };
    pp_future **fs = calloc(N, sizeof *fs);
    CU_ASSERT_FATAL(fs != NULL);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t arg[4] = {i, i * 3, i * 7, ~i};
        PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", arg, sizeof arg, &fs[i]));
    }
    for (uint64_t i = 0; i < N; i++) {
        pp_buf r = {NULL, 0};
        PP_ASSERT_OK(pp_future_result(fs[i], BOUND_MS, &r));
        uint64_t want[4] = {i, i * 3, i * 7, ~i};
        CU_ASSERT(r.len == sizeof want && r.data && memcmp(r.data, want, sizeof want) == 0);
        pp_future_release(fs[i]);
    }
    free(fs);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "ring_where", NULL, 0, &f));
    pp_buf r = {NULL, 0};
    PP_ASSERT_OK_FATAL(pp_future_result(f, BOUND_MS, &r));
    CU_ASSERT_FATAL(r.len == 6 * sizeof(uint64_t) && r.data);
    uint64_t w[6];
    memcpy(w, r.data, sizeof w);
    /* A skip needs what is unread to fit below the write position: a worker that lags
     * (a loaded machine) holds up to its 64 calls' frames (~80 bytes each here) unread, so
     * a ring may go on past `rewind` by that much before it skips. Without skips, 6 000
     * frames each way sweep every page of both rings. */
    const uint64_t size = PP__WSHM_RING_SIZE, rewind = PP__WSHM_REWIND;
    const uint64_t used_max = rewind + 16 * 1024;
    CU_ASSERT(w[0] > size && w[2] > size); /* more than a lap each way */
    CU_ASSERT(w[1] > 0 && w[3] > 0);       /* both producers skipped */
    CU_ASSERT(w[0] % size < used_max && w[2] % size < used_max);
    if (w[4] != UINT64_MAX) { /* each ring: at most its first used_max bytes' pages */
        uint64_t page = w[5], per_ring = (used_max + page - 1) / page;
        CU_ASSERT(w[4] <= 2 * per_ring);
        CU_ASSERT(w[4] >= 2); /* (and mincore saw them) */
    } else {
        printf("SKIP (part): which pages of the rings exist is not known here (Linux mincore)\n");
    }
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* Many small calls and map chunks mixed, pipelined: every result is right, each call ran
 * once. */
static void test_many_calls_and_chunks(void)
{
    enum { N = 400 };
    pp_executor *ex = pipe_executor(2, "4", PP_CRASH_BREAK);
    pp_future *f[N];
    for (int32_t i = 0; i < N; i++)
        PP_ASSERT_OK(pp_submit(ex, "echo", &i, sizeof i, &f[i]));
    int32_t in[64];
    pp_buf bufs[64];
    for (int i = 0; i < 64; i++) {
        in[i] = i;
        bufs[i] = (pp_buf){&in[i], sizeof in[i]};
    }
    pp_map_iter *it = NULL;
    PP_ASSERT_OK(pp_map(ex, "echo", bufs, 64, 5, BOUND_MS, &it));
    for (int i = 0; i < 64; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        CU_ASSERT(r.len == 4 && memcmp(r.data, &in[i], 4) == 0);
    }
    pp_map_free(it);
    for (int32_t i = 0; i < N; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(f[i], BOUND_MS, &r));
        CU_ASSERT(r.len == 4 && memcmp(r.data, &i, 4) == 0);
        pp_future_release(f[i]);
    }
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"cancel succeeds for every call not started; none runs", test_cancel_every_call_not_started},
    {"running only once the worker started the call", test_running_only_once_started},
    {"64 calls a worker by default", test_depth_default},
    {"a result is not held back behind the next call", test_result_not_held_back},
    {"PROCPOOL_PIPELINE above 64 means 64", test_depth_clamped},
    {"a call queued behind a blocked one moves to a worker left idle", test_revoke_to_idle_worker},
    {"ISOLATE: killed with calls queued ahead: they run elsewhere", test_killed_isolate},
    {"BREAK: killed with calls queued ahead: they fail broken", test_killed_break},
    {"shutdown(cancel_futures) cancels calls queued ahead", test_shutdown_cancels_queued_ahead},
    {"pp_executor_stop cancels calls queued ahead", test_stop_cancels_queued_ahead},
    {"many calls and map chunks, pipelined", test_many_calls_and_chunks},
    {"small calls keep to the rings' first pages", test_rings_keep_to_first_pages},
    {"a worker fed through rings is topped up to its depth at each pass", test_topped_up_to_depth},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_pipeline = {"pipeline", NULL, NULL, NULL, NULL, tests};
