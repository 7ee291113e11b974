/*
 * The isolate suite: pp_executor_options.crash_policy beyond CPython. Under
 * PP_CRASH_ISOLATE a worker that dies fails only the call it held (PP_EWORKERDIED) and is
 * replaced on demand; under PP_CRASH_RETRY the call runs again, at most 1 + max_retries
 * times; an initializer failure, or workers that keep dying before they are ready, still
 * break the pool. Crashes are real (tasks.c kills, aborts and segfaults its worker).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"

#define BOUND_MS 20000L

static pp_executor *policy_executor(int workers, pp_crash_policy policy, int retries,
                                    const char *initializer)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = workers;
    o.crash_policy = policy;
    o.max_retries = retries;
    o.initializer = initializer;
    pp_executor *ex = NULL;
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    return ex;
}

/* A temporary file's path for a task that counts its runs (removed first). */
static void run_file(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "pp_isolate_%s_%lld_%s.runs", tag, pp_t_getpid(), pp_t_start_name());
    remove(buf);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* One crash of each kind: only its call fails, PP_EWORKERDIED with the crash report; a call
 * running on the other worker finishes; the pool goes on with a new worker. */
static void check_isolated(const char *task, const void *arg, size_t len, int expect_code,
                           const char *expect_in_msg)
{
    pp_executor *ex = policy_executor(2, PP_CRASH_ISOLATE, 0, NULL);
    pp_t_sleep_arg slow = {300, 7};
    pp_future *running = NULL, *bad = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &running));
    PP_ASSERT_OK_FATAL(pp_submit(ex, task, arg, len, &bad));
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(bad, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EWORKERDIED);
    CU_ASSERT_EQUAL(pp_future_result(bad, 0, NULL), PP_EWORKERDIED);
    CU_ASSERT_EQUAL(e->code, expect_code);
    CU_ASSERT(e->pid > 0 && e->pid != pp_t_getpid());
    CU_ASSERT(e->work_id > 0);
    char pidtxt[48], worktxt[48];
    snprintf(pidtxt, sizeof pidtxt, "worker %lld", e->pid);
    snprintf(worktxt, sizeof worktxt, "(work %llu)", e->work_id);
    if (!strstr(e->message, pidtxt) || !strstr(e->message, expect_in_msg) ||
        !strstr(e->message, worktxt) || !strstr(e->message, task))
        fprintf(stderr, "\n  unexpected message: %s\n", e->message);
    CU_ASSERT(strstr(e->message, pidtxt) != NULL);
    CU_ASSERT(strstr(e->message, expect_in_msg) != NULL);
    CU_ASSERT(strstr(e->message, worktxt) != NULL);
    CU_ASSERT(strstr(e->message, task) != NULL);
    long long dead = e->pid;

    /* the other worker's call is untouched */
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(running, BOUND_MS, &r));
    CU_ASSERT(r.len == sizeof slow.value && memcmp(r.data, &slow.value, r.len) == 0);

    /* the pool goes on: new calls run, on a worker other than the dead one */
    for (int i = 0; i < 4; i++) {
        long long pid = pp_t_task_pid(ex);
        CU_ASSERT(pid > 0 && pid != dead);
    }
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 1);
    CU_ASSERT_EQUAL(s.failed, 1);
    CU_ASSERT_EQUAL(s.completed, 5);
    /* gone (reaped) once its exit has run its course: not at an instant, under ASan */
    long long t0 = pp_t_now_ms();
    while (pp_t_pid_alive(dead) && pp_t_now_ms() - t0 < BOUND_MS)
        pp_t_sleep_ms(10);
    CU_ASSERT(!pp_t_pid_alive(dead));
    pp_future_release(running);
    pp_future_release(bad);
    pp_executor_destroy(ex);
}

static void test_isolate_segv(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
#ifdef _WIN32
    check_isolated("segv", NULL, 0, (int)0xC0000005, "EXCEPTION_ACCESS_VIOLATION");
#else
    check_isolated("segv", NULL, 0, -11, "killed by signal 11 (SIGSEGV)");
#endif
}

/* The worker's own crash report reaches the isolated call's error: the signal (Windows: the
 * exception, or abort's exit code 3) and the backtrace; the pool goes on. */
static void test_isolate_reports(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    pp_executor *ex = policy_executor(1, PP_CRASH_ISOLATE, 0, NULL);
    static const char *const tasks[] = {"segv", "abort"};
#ifdef _WIN32
    static const char *const expect[] = {"EXCEPTION_ACCESS_VIOLATION", "exited with code 3"};
#else
    static const char *const expect[] = {"killed by signal 11 (SIGSEGV)",
                                         "killed by signal 6 (SIGABRT)"};
#endif
    for (int i = 0; i < 2; i++) {
        pp_future *f = NULL;
        PP_ASSERT_OK_FATAL(pp_submit(ex, tasks[i], NULL, 0, &f));
        const pp_error *e = NULL;
        PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_EQUAL(e->status, PP_EWORKERDIED);
        char worktxt[48];
        snprintf(worktxt, sizeof worktxt, "(work %llu); its backtrace", e->work_id);
        int traced = pp_t_has_backtrace(e->message);
        if (!strstr(e->message, expect[i]) || traced != PP_T_CRASH_TRACE)
            fprintf(stderr, "\n  message (backtrace expected: %d): %s\n", PP_T_CRASH_TRACE,
                    e->message);
        CU_ASSERT(strstr(e->message, expect[i]) != NULL);
        CU_ASSERT_EQUAL(traced, PP_T_CRASH_TRACE);
        if (PP_T_CRASH_TRACE)
            CU_ASSERT(strstr(e->message, worktxt) != NULL);
        pp_future_release(f);
    }
    CU_ASSERT(pp_t_task_pid(ex) > 0); /* the pool goes on */
    pp_executor_destroy(ex);
}

static void test_isolate_kill(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
#ifdef _WIN32
    check_isolated("kill_self", NULL, 0, 9, "exited with code 9");
#else
    check_isolated("kill_self", NULL, 0, -9, "killed by signal 9 (SIGKILL)");
#endif
}

static void test_isolate_exit(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    int32_t code = 3; /* a task that calls exit(): announced by the worker's exit handler */
    check_isolated("exit", &code, sizeof code, 3, "exited with code 3");
}

static void test_isolate_malformed(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    pp_executor *ex = policy_executor(1, PP_CRASH_ISOLATE, 0, NULL);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "malformed", NULL, 0, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EWORKERDIED);
    CU_ASSERT(strstr(e->message, "malformed") != NULL);
    pp_future_release(f);
    CU_ASSERT(pp_t_task_pid(ex) > 0); /* replaced */
    pp_executor_destroy(ex);
}

/* A worker killed while idle is replaced when work comes; nothing fails. */
static void test_idle_death_replaced(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    pp_executor *ex = policy_executor(1, PP_CRASH_ISOLATE, 0, NULL);
    long long first = pp_t_task_pid(ex);
    CU_ASSERT_FATAL(first > 0);
    CU_ASSERT_EQUAL(pp_t_kill_pid(first), 0);
    long long t0 = pp_t_now_ms();
    pp_executor_stats s = {0};
    while (pp_t_now_ms() - t0 < BOUND_MS) {
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
        if (s.workers_died == 1 && s.workers == 0)
            break;
        pp_t_sleep_ms(5);
    }
    CU_ASSERT_EQUAL(s.workers_died, 1);
    CU_ASSERT_EQUAL(s.workers, 0);
    long long second = pp_t_task_pid(ex);
    CU_ASSERT(second > 0 && second != first);
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.failed, 0);
    CU_ASSERT_EQUAL(s.workers_started, 2);
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &g), PP_OK); /* not broken */
    pp_future_release(g);
    pp_executor_destroy(ex);
}

/* RETRY: a call whose worker always dies runs 1 + max_retries times, then fails saying so. */
static void test_retry_gives_up(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_RETRY is PP_EINVAL with fork");
    char path[256];
    run_file(path, sizeof path, "always");
    pp_executor *ex = policy_executor(2, PP_CRASH_RETRY, 2, NULL);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "count_then_die", path, strlen(path), &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EWORKERDIED);
    CU_ASSERT(strstr(e->message, "after 2 retries") != NULL);
    CU_ASSERT(strstr(e->message, "count_then_die") != NULL);
    CU_ASSERT_EQUAL(file_size(path), 3); /* 1 + max_retries runs, no more */
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 3);
    CU_ASSERT_EQUAL(s.failed, 1);
    CU_ASSERT(pp_t_task_pid(ex) > 0); /* the pool goes on */
    pp_future_release(f);
    pp_executor_destroy(ex);
    remove(path);
}

/* RETRY: a call that dies once succeeds on its second run; runs one at a time. */
static void test_retry_succeeds(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_RETRY is PP_EINVAL with fork");
    char path[256];
    run_file(path, sizeof path, "once");
    pp_executor *ex = policy_executor(2, PP_CRASH_RETRY, 3, NULL);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "die_on_first_run", path, strlen(path), &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, BOUND_MS, &r));
    int32_t runs = 0;
    if (r.len == sizeof runs)
        memcpy(&runs, r.data, sizeof runs);
    CU_ASSERT_EQUAL(runs, 2);
    CU_ASSERT_EQUAL(file_size(path), 2);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 1);
    CU_ASSERT_EQUAL(s.failed, 0);
    CU_ASSERT_EQUAL(s.completed, 1);
    pp_future_release(f);
    pp_executor_destroy(ex);
    remove(path);
}

/* ISOLATE never retries: the call ran once. */
static void test_isolate_runs_once(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    char path[256];
    run_file(path, sizeof path, "isolate");
    pp_executor *ex = policy_executor(2, PP_CRASH_ISOLATE, 0, NULL);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "count_then_die", path, strlen(path), &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT(e && e->status == PP_EWORKERDIED && !strstr(e->message, "retr"));
    CU_ASSERT_EQUAL(file_size(path), 1);
    pp_future_release(f);
    pp_executor_destroy(ex);
    remove(path);
}

/* A failing initializer breaks the pool whatever the policy. */
static void test_initializer_failure_breaks(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    pp_executor *ex = policy_executor(2, PP_CRASH_ISOLATE, 0, "init_fail");
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT(e && e->status == PP_EBROKEN && strstr(e->message, "initializer") != NULL);
    pp_future_release(f);
    pp_future *g = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &g), PP_EBROKEN);
    CU_ASSERT_PTR_NULL(g);
    pp_executor_destroy(ex);
}

/* Workers that crash before they are ready (in the initializer) are replaced a few times,
 * then the pool breaks with a cause that says so: never a respawn loop. */
static void test_early_deaths_break(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_RETRY is PP_EINVAL with fork");
    pp_executor *ex = policy_executor(2, PP_CRASH_RETRY, 5, "init_segv");
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    if (!strstr(e->message, "keep dying before they are ready"))
        fprintf(stderr, "\n  unexpected message: %s\n", e->message);
    CU_ASSERT(strstr(e->message, "keep dying before they are ready (3 in a row)") != NULL);
    CU_ASSERT(strstr(e->message, "init_segv") != NULL);
    CU_ASSERT_EQUAL(pp_t_has_backtrace(e->message), PP_T_CRASH_TRACE); /* from STARTING */
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT(s.workers_started >= 3 && s.workers_started <= 4);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* A map whose chunk's worker dies: only the item it was running fails PP_EWORKERDIED (the
 * chunks suite has the details), every other item has its result, and the map goes on. */
static void test_map_chunk_isolated(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    enum { N = 24, CHUNK = 4 };
    int32_t xs[N];
    pp_buf args[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i;
        args[i] = (pp_buf){&xs[i], sizeof xs[i]};
    }
    pp_executor *ex = policy_executor(2, PP_CRASH_ISOLATE, 0, NULL);
    pp_map_iter *it = NULL;
    PP_ASSERT_OK_FATAL(pp_map(ex, "exit_if", args, N, CHUNK, PP_T_TIMEOUT_MS, &it));
    for (int i = 0; i < N; i++) {
        pp_buf r;
        const pp_error *e = NULL;
        pp_status st = pp_map_next(it, &r, &e);
        if (i == 13) { /* exit_if exits its worker at 13 */
            CU_ASSERT_EQUAL(st, PP_EWORKERDIED);
            CU_ASSERT(e && e->status == PP_EWORKERDIED && e->work_id > 0);
        } else {
            PP_ASSERT_OK(st);
            CU_ASSERT(r.len == sizeof xs[i] && memcmp(r.data, &xs[i], r.len) == 0);
        }
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    pp_executor_destroy(ex);
}

/* stats.workers and the pid list change together: read while workers crash and are
 * replaced, a pid list read between two equal stats snapshots has stats.workers pids. */
static void test_stats_agree_with_pids(void)
{
    PP_T_SKIP_IF_FORK("PP_CRASH_ISOLATE is PP_EINVAL with fork");
    pp_executor *ex = policy_executor(2, PP_CRASH_ISOLATE, 0, NULL);
    enum { N = 12 };
    pp_future *fs[N];
    for (int i = 0; i < N; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, i % 2 ? "kill_self" : "noop", NULL, 0, &fs[i]));
    int checked = 0;
    long long t0 = pp_t_now_ms();
    for (;;) {
        pp_executor_stats a, b;
        long long pids[8];
        size_t n = 0;
        PP_ASSERT_OK(pp_executor_stats_get(ex, &a));
        PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 8, &n));
        PP_ASSERT_OK(pp_executor_stats_get(ex, &b));
        if (a.workers == b.workers && a.workers_started == b.workers_started &&
            a.workers_died == b.workers_died) {
            CU_ASSERT_EQUAL((size_t)a.workers, n);
            checked++;
        }
        bool all = true;
        for (int i = 0; i < N; i++)
            all = all && pp_future_done(fs[i]);
        if (all || pp_t_now_ms() - t0 > BOUND_MS)
            break;
        pp_t_sleep_ms(1);
    }
    CU_ASSERT(checked > 0);
    for (int i = 0; i < N; i++) {
        CU_ASSERT(pp_future_done(fs[i]));
        pp_status st = pp_future_result(fs[i], 0, NULL);
        CU_ASSERT_EQUAL(st, i % 2 ? PP_EWORKERDIED : PP_OK);
        pp_future_release(fs[i]);
    }
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, N / 2);
    pp_executor_destroy(ex);
}

/* The options: which policies take which fields, and fork takes none of them. */
static void test_options(void)
{
    pp_executor_options o;
    pp_executor *ex = (pp_executor *)1;
    pp_t_options_init(&o);
    o.crash_policy = (pp_crash_policy)7;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT_PTR_NULL(ex);
    CU_ASSERT(strstr(pp_last_error(), "crash_policy") != NULL);
    pp_t_options_init(&o);
    o.crash_policy = PP_CRASH_ISOLATE;
    o.max_retries = 2;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT(strstr(pp_last_error(), "max_retries") != NULL);
    pp_t_options_init(&o);
    o.crash_policy = PP_CRASH_RETRY;
    o.max_retries = -1;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT(strstr(pp_last_error(), "max_retries") != NULL);
    pp_executor_options_init(&o);
    CU_ASSERT_EQUAL(o.crash_policy, PP_CRASH_BREAK);
    CU_ASSERT_EQUAL(o.max_retries, 0);
#ifndef _WIN32
    for (int p = PP_CRASH_ISOLATE; p <= PP_CRASH_RETRY; p++) {
        pp_executor_options_init(&o);
        o.start_method = PP_START_FORK;
        o.crash_policy = (pp_crash_policy)p;
        CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
        CU_ASSERT(strstr(pp_last_error(), "PP_START_FORK") != NULL);
    }
#endif
    pp_t_options_init(&o);
    if (pp_t_start != PP_START_FORK) {
        o.crash_policy = PP_CRASH_RETRY;
        o.max_retries = 1;
        PP_ASSERT_OK(pp_executor_create(&o, &ex));
        pp_executor_destroy(ex);
    }
}

static CU_TestInfo tests[] = {
    {"options: policies, max_retries, not with fork", test_options},
    {"ISOLATE: a segfault fails only its call", test_isolate_segv},
    {"ISOLATE: crash reports carry the signal and the backtrace", test_isolate_reports},
    {"ISOLATE: a SIGKILL fails only its call", test_isolate_kill},
    {"ISOLATE: exit() in a task fails only its call", test_isolate_exit},
    {"ISOLATE: a malformed message fails only its call", test_isolate_malformed},
    {"ISOLATE: a call whose worker died ran once", test_isolate_runs_once},
    {"ISOLATE: a worker killed while idle is replaced, nothing fails", test_idle_death_replaced},
    {"ISOLATE: a map chunk whose worker died fails alone", test_map_chunk_isolated},
    {"RETRY: at most 1 + max_retries runs, then PP_EWORKERDIED", test_retry_gives_up},
    {"RETRY: a call that died once succeeds on its second run", test_retry_succeeds},
    {"a failing initializer still breaks the pool", test_initializer_failure_breaks},
    {"stats and the pid list agree while workers die and are replaced",
     test_stats_agree_with_pids},
    {"workers dying before they are ready break the pool", test_early_deaths_break},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_isolate = {"isolate", NULL, NULL, NULL, NULL, tests};
