/*
 * The shutdown suite: shutdown(wait, cancel_futures) and destroy, as CPython's
 * Executor.shutdown: no new work, pending work runs (or is cancelled), workers are joined,
 * calling it again is fine, nothing is left behind.
 */
#include <string.h>
#ifndef _WIN32
#  include <signal.h>
#  include <sys/types.h>
#endif

#include "pp_core.h"
#include "pp_os.h"
#include "pp_test.h"

#define BOUND_MS 10000L

static void test_wait_runs_pending_work(void)
{
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg a = {100, 5};
    pp_future *fs[6];
    for (int i = 0; i < 6; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    for (int i = 0; i < 6; i++) {
        CU_ASSERT(pp_future_done(fs[i]));
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(fs[i], 0, &r));
        CU_ASSERT(r.len == 4 && *(const int32_t *)r.data == 5);
        pp_future_release(fs[i]);
    }
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false)); /* twice is fine */
    PP_ASSERT_OK(pp_executor_shutdown(ex, false, true));
    pp_future *f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &f), PP_ESHUTDOWN);
    CU_ASSERT_PTR_NULL(f);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers, 0);
    CU_ASSERT_EQUAL(s.completed, 6);
    pp_executor_destroy(ex);
}

static int cancel_callbacks;
static void count_cb(pp_future *f, void *ud)
{
    (void)ud;
    if (pp_future_cancelled(f))
        cancel_callbacks++;
}

static void test_cancel_futures(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {300, 1};
    pp_future *fs[6];
    cancel_callbacks = 0;
    for (int i = 0; i < 6; i++) {
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
        PP_ASSERT_OK(pp_future_add_done_callback(fs[i], count_cb, NULL));
    }
    pp_executor_stats s;
    long long end = pp_t_now_ms() + BOUND_MS;
    do {
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    } while (s.handed_out < 2 && pp_t_now_ms() < end && (pp_t_sleep_ms(5), 1));
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, true));
    int done = 0, cancelled = 0;
    for (int i = 0; i < 6; i++) {
        pp_status st = pp_future_result(fs[i], 0, NULL);
        if (st == PP_OK)
            done++;
        else if (st == PP_ECANCELLED && pp_future_cancelled(fs[i]))
            cancelled++;
        pp_future_release(fs[i]);
    }
    CU_ASSERT_EQUAL(done, 2); /* the max_workers + 1 handed out */
    CU_ASSERT_EQUAL(cancelled, 4);
    CU_ASSERT_EQUAL(cancel_callbacks, 4);
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.cancelled, 4);
    pp_executor_destroy(ex);
}

static void test_no_wait(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_t_sleep_arg a = {300, 3};
    pp_future *fs[3];
    for (int i = 0; i < 3; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp_executor_shutdown(ex, false, false));
    CU_ASSERT(pp_t_now_ms() - t0 < 250); /* returned before the work could finish */
    for (int i = 0; i < 3; i++) { /* the work still runs */
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, NULL));
        pp_future_release(fs[i]);
    }
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false)); /* then wait */
    pp_executor_destroy(ex);
}

static void test_destroy_waits(void)
{
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg a = {100, 9};
    pp_future *fs[5];
    for (int i = 0; i < 5; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    pp_executor_destroy(ex);
    for (int i = 0; i < 5; i++) { /* futures outlive their executor */
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(fs[i], 0, &r));
        CU_ASSERT(r.len == 4 && *(const int32_t *)r.data == 9);
        pp_future_release(fs[i]);
    }
    pp_executor_destroy(NULL);
    CU_ASSERT_EQUAL(pp_executor_shutdown(NULL, true, false), PP_EINVAL);
}

static void test_no_worker_left(void)
{
    pp_executor *ex = pp_t_executor(3);
    pp_t_sleep_arg a = {200, 0};
    pp_future *fs[3];
    for (int i = 0; i < 3; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    long long pids[3];
    size_t n = 0;
    long long end = pp_t_now_ms() + BOUND_MS;
    do {
        PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 3, &n));
    } while (n < 3 && pp_t_now_ms() < end && (pp_t_sleep_ms(5), 1));
    CU_ASSERT_EQUAL(n, 3);
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    for (size_t i = 0; i < n; i++)
        CU_ASSERT(!pp_t_pid_alive(pids[i])); /* exited and reaped: no zombie either */
    for (int i = 0; i < 3; i++)
        pp_future_release(fs[i]);
    pp_executor_destroy(ex);
}

static void test_unused_executor(void)
{
    pp_executor *ex = pp_t_executor(2);
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 0);
    pp_executor_destroy(ex);
    ex = pp_t_executor(2);
    pp_executor_destroy(ex); /* straight away */
}

/* Create, submit, destroy, again and again: no descriptor and no worker is left. */
static void test_cycles_leave_nothing(void)
{
    size_t fds = pp__os_handle_count();
    long long last_pid = 0;
    for (int i = 0; i < 30; i++) {
        pp_executor *ex = pp_t_executor(2);
        pp_future *f;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "pid", NULL, 0, &f));
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
        if (r.len == sizeof last_pid)
            memcpy(&last_pid, r.data, sizeof last_pid);
        pp_future_release(f);
        pp_executor_destroy(ex);
        CU_ASSERT(!pp_t_pid_alive(last_pid));
    }
    CU_ASSERT_EQUAL(pp__os_handle_count(), fds);
}

/* terminate_workers / kill_workers: running items end broken (naming the signal), pending
 * ones are cancelled, later submits see a shut-down executor, the workers are gone. */
static void check_force(pp_status (*force)(pp_executor *), const char *sig)
{
    (void)sig; /* not checked on Windows */
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg a = {20000, 0};
    pp_future *fs[5];
    for (int i = 0; i < 5; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    long long end = pp_t_now_ms() + BOUND_MS;
    size_t n = 0;
    long long pids[2];
    do { /* both workers started and running */
        PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 2, &n));
    } while ((n < 2 || !pp_future_running(fs[1])) && pp_t_now_ms() < end &&
             (pp_t_sleep_ms(5), 1));
    CU_ASSERT_EQUAL_FATAL(n, 2);
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(force(ex));
    int broken = 0, cancelled = 0;
    for (int i = 0; i < 5; i++) {
        const pp_error *e = NULL;
        pp_status st = pp_future_exception(fs[i], BOUND_MS, &e);
        if (st == PP_ECANCELLED) {
            cancelled++;
        } else {
            PP_ASSERT_OK(st);
            CU_ASSERT_PTR_NOT_NULL_FATAL(e);
            CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
#ifndef _WIN32
            if (!strstr(e->message, sig))
                fprintf(stderr, "\n  unexpected message: %s\n", e->message);
            CU_ASSERT(strstr(e->message, sig) != NULL);
#endif
            broken++;
        }
    }
    CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS); /* not the 20 s the tasks would take */
    CU_ASSERT_EQUAL(cancelled, 2); /* not handed out */
    CU_ASSERT_EQUAL(broken, 3);    /* max_workers + 1 handed out */
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &g), PP_ESHUTDOWN);
    pp_executor_shutdown(ex, true, false);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT(!pp_t_pid_alive(pids[i]));
    PP_ASSERT_OK(force(ex)); /* again: nothing harmful */
    for (int i = 0; i < 5; i++)
        pp_future_release(fs[i]);
    pp_executor_destroy(ex);
}

static void test_terminate_workers(void)
{
    check_force(pp_executor_terminate_workers, "killed by signal 15 (SIGTERM)");
}

static void test_kill_workers(void)
{
    check_force(pp_executor_kill_workers, "killed by signal 9 (SIGKILL)");
}

static void test_force_harmless_cases(void)
{
    CU_ASSERT_EQUAL(pp_executor_terminate_workers(NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_executor_kill_workers(NULL), PP_EINVAL);
    pp_executor *ex = pp_t_executor(2); /* before any worker exists */
    PP_ASSERT_OK(pp_executor_kill_workers(ex));
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &g), PP_ESHUTDOWN);
    pp_executor_destroy(ex);
    ex = pp_t_executor(1); /* on a broken pool */
    int32_t code = 3;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "exit", &code, sizeof code, &g));
    CU_ASSERT_EQUAL(pp_future_result(g, BOUND_MS, NULL), PP_EBROKEN);
    pp_future_release(g);
    PP_ASSERT_OK(pp_executor_terminate_workers(ex));
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &g), PP_EBROKEN);
    pp_executor_destroy(ex);
}

int pp_t_orphan_parent(void)
{
    pp_executor *ex = NULL;
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.max_workers = 3;
    if (pp_executor_create(&o, &ex) != PP_OK)
        return 1;
    pp_t_sleep_arg busy = {60000, 0}, quick = {0, 0};
    pp_future *f[3];
    pp_submit(ex, "sleep", &busy, sizeof busy, &f[0]);
    pp_submit(ex, "sleep", &busy, sizeof busy, &f[1]);
    pp_submit(ex, "sleep", &quick, sizeof quick, &f[2]);
    pp_future_result(f[2], PP_T_TIMEOUT_MS, NULL); /* the third worker is idle now */
    long long pids[3];
    size_t n = 0;
    long long end = pp_t_now_ms() + PP_T_TIMEOUT_MS;
    while ((n < 3 || !pp_future_running(f[1])) && pp_t_now_ms() < end) {
        pp_executor_worker_pids(ex, pids, 3, &n);
        pp_t_sleep_ms(5);
    }
    printf("%lld", pp_t_getpid());
    for (size_t i = 0; i < n && i < 3; i++)
        printf(" %lld", pids[i]);
    printf("\n");
    fflush(stdout);
    pp_t_sleep_ms(60000); /* until the test kills this process */
    return 0;
}

/* A parent that dies, even by SIGKILL, leaves no worker behind: idle ones see their
 * channel's EOF, busy ones get PR_SET_PDEATHSIG's SIGKILL (Linux). */
static void test_no_orphans(void)
{
#ifndef __linux__
    printf("SKIP: needs PR_SET_PDEATHSIG (Linux) for busy workers\n");
#else
    char *exe = NULL;
    PP_ASSERT_OK_FATAL(pp__os_exepath(&exe, NULL));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "exec '%s' --orphan-parent", exe);
    pp__free(exe);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    long long ids[4] = {0, 0, 0, 0};
    int got = fscanf(p, "%lld %lld %lld %lld", &ids[0], &ids[1], &ids[2], &ids[3]);
    CU_ASSERT_EQUAL_FATAL(got, 4);
    for (int i = 1; i < 4; i++)
        CU_ASSERT(pp_t_pid_alive(ids[i]));
    CU_ASSERT_EQUAL_FATAL(kill((pid_t)ids[0], SIGKILL), 0);
    pclose(p); /* reaps the parent */
    long long t0 = pp_t_now_ms();
    int alive = 3;
    while (alive && pp_t_now_ms() - t0 < BOUND_MS) {
        alive = 0;
        for (int i = 1; i < 4; i++)
            alive += pp_t_pid_alive(ids[i]) != 0;
        pp_t_sleep_ms(10);
    }
    CU_ASSERT_EQUAL(alive, 0);
    if (alive == 0 && pp_t_now_ms() - t0 > 1000)
        printf("(workers took %lld ms to go) ", pp_t_now_ms() - t0);
#endif
}

static CU_TestInfo tests[] = {
    {"shutdown(wait) runs pending work; twice is fine", test_wait_runs_pending_work},
    {"cancel_futures cancels what is not handed out", test_cancel_futures},
    {"shutdown(wait=false) returns at once; work continues", test_no_wait},
    {"destroy waits for pending work", test_destroy_waits},
    {"no worker process is left after shutdown", test_no_worker_left},
    {"an executor never used", test_unused_executor},
    {"terminate_workers", test_terminate_workers},
    {"kill_workers", test_kill_workers},
    {"terminate/kill before any worker and on a broken pool", test_force_harmless_cases},
    {"a parent killed by SIGKILL leaves no worker behind", test_no_orphans},
    {"30 create/submit/destroy cycles leave nothing behind", test_cycles_leave_nothing},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_shutdown = {"shutdown", NULL, NULL, NULL, NULL, tests};
