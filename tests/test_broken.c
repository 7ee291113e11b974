/*
 * The broken-pool suite: a worker that dies for any reason breaks the pool; every pending
 * and running future resolves PP_EBROKEN with a message naming the pid, the exit code or
 * signal and the task; later submits fail; the other workers are stopped; nothing hangs.
 * Every crash here is a real crash of a real worker process.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#  include <signal.h>
#  include <sys/types.h>
#  include <sys/wait.h>
#  include <unistd.h>
#endif

#include "pp_core.h"
#include "pp_os.h"
#include "pp_test.h"

#define BOUND_MS 10000L /* generous bound on "resolves promptly" */

/* Waits (bounded) until no pid of pids is alive. */
static int all_gone(const long long *pids, size_t n)
{
    long long end = pp_t_now_ms() + BOUND_MS;
    for (;;) {
        size_t alive = 0;
        for (size_t i = 0; i < n; i++)
            alive += pp_t_pid_alive(pids[i]) != 0;
        if (!alive)
            return 1;
        if (pp_t_now_ms() > end)
            return 0;
        pp_t_sleep_ms(10);
    }
}

/*
 * Runs `task` (with arg) on a 2-worker pool that also has a long "sleep" running and three
 * queued items, and checks the whole broken-pool contract. expect_in_msg must appear in
 * the culprit's message; expect_code is pp_error.code of the culprit.
 */
static void check_break(const char *task, const void *arg, size_t len,
                        const char *expect_in_msg, int expect_code)
{
    pp_executor *ex = pp_t_executor(2);
    /* A finished future before the break keeps its result: the pid of the first worker,
     * which (idle, so reused) then runs the long "sleep" below. */
    pp_future *early;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "pid", NULL, 0, &early));
    pp_buf r;
    PP_ASSERT_OK_FATAL(pp_future_result(early, PP_T_TIMEOUT_MS, &r));
    long long busy_pid = 0;
    CU_ASSERT_EQUAL_FATAL(r.len, sizeof busy_pid);
    memcpy(&busy_pid, r.data, sizeof busy_pid);

    /* long enough that a worker still running it after BOUND_MS was not stopped */
    pp_t_sleep_arg slow = {20000, 1};
    pp_future *running, *bad, *queued[3];
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &running));
    PP_ASSERT_OK_FATAL(pp_submit(ex, task, arg, len, &bad));
    /* The culprit may already have crashed (a fast crash, a forked worker): a submit made
     * after that gets PP_EBROKEN, as it must; only what was accepted is checked below. */
    int n_failed = 2;
    for (int i = 0; i < 3; i++) {
        pp_status st = pp_submit(ex, "sleep", &slow, sizeof slow, &queued[i]);
        if (st == PP_EBROKEN) {
            CU_ASSERT_PTR_NULL(queued[i]);
            continue;
        }
        PP_ASSERT_OK_FATAL(st);
        n_failed++;
    }

    long long t0 = pp_t_now_ms();
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(bad, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    CU_ASSERT(e->pid > 0);
    CU_ASSERT_EQUAL(e->code, expect_code);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e->message);
    char pidtxt[32];
    snprintf(pidtxt, sizeof pidtxt, "worker %lld", e->pid);
    if (!strstr(e->message, pidtxt) || !strstr(e->message, expect_in_msg) ||
        !strstr(e->message, task))
        fprintf(stderr, "\n  unexpected message: %s\n", e->message);
    CU_ASSERT(strstr(e->message, pidtxt) != NULL);
    CU_ASSERT(strstr(e->message, expect_in_msg) != NULL);
    CU_ASSERT(strstr(e->message, task) != NULL);
    /* the call is named by its id, in the message and in the error */
    char worktxt[48];
    snprintf(worktxt, sizeof worktxt, "(work %llu)", e->work_id);
    CU_ASSERT(e->work_id > 0);
    CU_ASSERT(strstr(e->message, worktxt) != NULL);
    long long dead_pid = e->pid;
    CU_ASSERT_NOT_EQUAL(dead_pid, busy_pid); /* the culprit ran in the second worker */

    /* Every other pending and running future fails too, each with its own error. */
    pp_future *others[4] = {running, queued[0], queued[1], queued[2]};
    for (int i = 0; i < 4; i++) {
        if (!others[i])
            continue; /* refused with PP_EBROKEN above */
        const pp_error *oe = NULL;
        PP_ASSERT_OK_FATAL(pp_future_exception(others[i], BOUND_MS, &oe));
        CU_ASSERT_PTR_NOT_NULL_FATAL(oe);
        CU_ASSERT_EQUAL(oe->status, PP_EBROKEN);
        CU_ASSERT_EQUAL(oe->pid, dead_pid);
        CU_ASSERT(strstr(oe->message, pidtxt) != NULL);
        CU_ASSERT(oe != e);
        CU_ASSERT(oe->work_id > 0 && oe->work_id != e->work_id); /* each its own call */
        CU_ASSERT_EQUAL(pp_future_result(others[i], 0, NULL), PP_EBROKEN);
    }
    CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS); /* a bound on hanging, not a timing test */

    /* Later submits fail; the earlier result is intact. */
    pp_future *later = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, &later), PP_EBROKEN);
    CU_ASSERT_PTR_NULL(later);
    PP_ASSERT_OK(pp_future_result(early, 0, &r));
    CU_ASSERT(r.len == sizeof busy_pid && memcmp(r.data, &busy_pid, sizeof busy_pid) == 0);

    /* The pool's workers are gone; the counters say one died. */
    pp_t_snapshot snap;
    CU_ASSERT(pp_t_wait_stats(ex, pp_t_no_workers, NULL, BOUND_MS, &snap));
    pp_executor_stats s = snap.s;
    CU_ASSERT_EQUAL(s.workers, 0);
    CU_ASSERT(s.workers_died >= 1);
    CU_ASSERT(s.failed >= (unsigned long long)n_failed);
    CU_ASSERT(s.workers_started >= 1 && s.workers_started <= 2);
    CU_ASSERT(all_gone(&dead_pid, 1));
    CU_ASSERT(all_gone(&busy_pid, 1)); /* the other worker was stopped mid-task */

    t0 = pp_t_now_ms();
    pp_executor_destroy(ex); /* a broken executor is destroyed promptly */
    CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS);
    pp_future_release(early);
    pp_future_release(bad);
    for (int i = 0; i < 4; i++)
        pp_future_release(others[i]);
}

static void test_exit(void)
{
    int32_t code = 3;
    check_break("exit", &code, sizeof code, "exited with code 3", 3);
}

static void test_exit_zero(void)
{
    int32_t code = 0; /* even a clean exit in the middle of a task breaks the pool */
    check_break("exit", &code, sizeof code, "exited with code 0", 0);
}

static void test_exit_mid_task(void)
{
    pp_t_sleep_arg a = {200, 4};
    check_break("sleep_exit", &a, sizeof a, "exited with code 4", 4);
}

static void test_abort(void)
{
#ifdef _WIN32
    check_break("abort", NULL, 0, "exited with code 3", 3);
#else
    check_break("abort", NULL, 0, "killed by signal 6 (SIGABRT)", -6);
#endif
}

static void test_segv(void)
{
#ifdef _WIN32
    check_break("segv", NULL, 0, "EXCEPTION_ACCESS_VIOLATION", (int)0xC0000005);
#else
    check_break("segv", NULL, 0, "killed by signal 11 (SIGSEGV)", -11);
#endif
}

/* A worker that dies of a fault says so itself before it dies: the message names the signal
 * (Windows: the exception) and carries its backtrace, numbered frames. */
static void check_crash_report(const char *task, const char *expect_in_msg)
{
    pp_executor *ex = pp_t_executor(1);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, task, NULL, 0, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    int traced = pp_t_has_backtrace(e->message);
    if (!strstr(e->message, expect_in_msg) || traced != PP_T_CRASH_TRACE)
        fprintf(stderr, "\n  message (backtrace expected: %d): %s\n", PP_T_CRASH_TRACE,
                e->message);
    CU_ASSERT(strstr(e->message, expect_in_msg) != NULL);
    CU_ASSERT_EQUAL(traced, PP_T_CRASH_TRACE);
    CU_ASSERT(strstr(e->message, "SIGKILL") == NULL);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

static void test_segv_report(void)
{
#ifdef _WIN32
    check_crash_report("segv", "EXCEPTION_ACCESS_VIOLATION");
#else
    check_crash_report("segv", "killed by signal 11 (SIGSEGV)");
#endif
}

static void test_abort_report(void)
{
#ifdef _WIN32
    check_crash_report("abort", "exited with code 3");
#else
    check_crash_report("abort", "killed by signal 6 (SIGABRT)");
#endif
}

/* The helper process of the SIGCHLD test (main.c, --crash-child TASK [ignore]): an
 * application that ignores SIGCHLD (itself with "ignore", else as inherited), so that the
 * system discards its workers' exit statuses; runs TASK on a 1-worker pool and prints the
 * error's code and message. */
int pp_t_crash_child(const char *task, int ignore)
{
#ifdef _WIN32
    (void)task, (void)ignore;
    return 2;
#else
    if (ignore)
        signal(SIGCHLD, SIG_IGN);
    pp_executor *ex = NULL; /* no CUnit here: pp_t_executor asserts */
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    if (pp_executor_create(&o, &ex) != PP_OK)
        return 1;
    pp_future *f = NULL;
    const pp_error *e = NULL;
    if (pp_submit(ex, task, NULL, 0, &f) != PP_OK ||
        pp_future_exception(f, BOUND_MS, &e) != PP_OK || !e)
        return 1;
    printf("%d %s\n", e->code, e->message);
    fflush(stdout);
    pp_future_release(f);
    pp_executor_destroy(ex);
    return 0;
#endif
}

#ifndef _WIN32
/* Runs the helper and returns what it printed (at most cap - 1 bytes). */
static void run_crash_child(const char *task, bool env_ignore, char *out, size_t cap)
{
    char *exe = NULL;
    PP_ASSERT_OK_FATAL(pp__os_exepath(&exe, NULL));
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "exec %s'%s' --start=%s --crash-child %s%s",
             env_ignore ? "env --ignore-signal=CHLD " : "", exe, pp_t_start_name(), task,
             env_ignore ? "" : " ignore");
    pp__free(exe);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    CU_ASSERT_EQUAL(pclose(p), 0);
}
#endif

/* An application that ignores SIGCHLD (in the program, or inherited from its parent): the
 * system reaps the workers itself and their exit statuses are lost (under spawn and fork;
 * forkserver workers are the server's children). A crash is never reported as a SIGKILL
 * nobody sent: a segfault is named by the worker's own report; a worker killed outside
 * leaves an unknown status, and the message says so and why. */
static void test_sigchld_ignored(void)
{
    PP_T_SKIP_IF_MPI("the helper process starts its own pool");
    if (getenv("PP_T_NO_EXEC")) {
        printf("SKIP: this program cannot exec itself here (PP_T_NO_EXEC: qemu-user without "
               "binfmt_misc)\n");
        return;
    }
#ifdef _WIN32
    printf("SKIP: no SIGCHLD on Windows\n");
#else
    for (int how = 0; how < 2; how++) {
        char out[16384];
        run_crash_child("segv", how == 1, out, sizeof out);
        if (!strstr(out, "killed by signal 11 (SIGSEGV") || strstr(out, "SIGKILL"))
            fprintf(stderr, "\n  segv (%s): %s\n", how ? "env" : "program", out);
        CU_ASSERT(strncmp(out, "-11 ", 4) == 0);
        CU_ASSERT(strstr(out, "killed by signal 11 (SIGSEGV") != NULL);
        CU_ASSERT(strstr(out, "SIGKILL") == NULL);
        CU_ASSERT_EQUAL(pp_t_has_backtrace(out), PP_T_CRASH_TRACE);

        run_crash_child("kill_self", how == 1, out, sizeof out);
        if (pp_t_start == PP_START_FORKSERVER) { /* the server reaps: the truth is known */
            CU_ASSERT(strstr(out, "killed by signal 9 (SIGKILL)") != NULL);
        } else {
            if (!strstr(out, "SIGCHLD is ignored") || strstr(out, "SIGKILL"))
                fprintf(stderr, "\n  kill_self (%s): %s\n", how ? "env" : "program", out);
            CU_ASSERT(strncmp(out, "0 ", 2) == 0);
            CU_ASSERT(strstr(out, "how is unknown (SIGCHLD is ignored in this process") != NULL);
            CU_ASSERT(strstr(out, "SIGKILL") == NULL);
        }
    }
#endif
}

static void test_kill_self(void)
{
#ifdef _WIN32
    check_break("kill_self", NULL, 0, "exited with code 9", 9);
#else
    check_break("kill_self", NULL, 0, "killed by signal 9 (SIGKILL)", -9);
#endif
}

/* A task that fails only fails its own future. */
static void test_task_failure_does_not_break(void)
{
    pp_executor *ex = pp_t_executor(1);
    for (int i = 0; i < 3; i++) {
        pp_future *f;
        unsigned char arg[4 + 5];
        int32_t code = 9;
        memcpy(arg, &code, 4);
        memcpy(arg + 4, "oops!", 5);
        PP_ASSERT_OK_FATAL(pp_submit(ex, "fail", arg, sizeof arg, &f));
        CU_ASSERT_EQUAL(pp_future_result(f, PP_T_TIMEOUT_MS, NULL), PP_ETASK);
        const pp_error *e;
        PP_ASSERT_OK(pp_future_exception(f, 0, &e));
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_EQUAL(e->code, 9);
        CU_ASSERT_STRING_EQUAL(e->message, "oops!");
        pp_future_release(f);
    }
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "ok", 2, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(f);
    pp_executor_stats s;
    pp_executor_stats_get(ex, &s);
    CU_ASSERT_EQUAL(s.workers_died, 0);
    CU_ASSERT_EQUAL(s.workers, 1);
    pp_executor_destroy(ex);
}

/* An idle worker killed from outside breaks the pool too; so does one killed mid-task. */
static void test_killed_from_outside(void)
{
#ifdef _WIN32
    printf("SKIP: kills a worker with a POSIX signal\n");
#else
    for (int busy = 0; busy < 2; busy++) {
        pp_executor *ex = pp_t_executor(2);
        long long pid = pp_t_task_pid(ex);
        CU_ASSERT_FATAL(pid > 0);
        pp_future *g = NULL;
        if (busy) {
            pp_t_sleep_arg a = {5000, 0};
            PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &g));
            long long end = pp_t_now_ms() + BOUND_MS;
            while (!pp_future_running(g) && pp_t_now_ms() < end)
                pp_t_sleep_ms(5);
        }
        CU_ASSERT_EQUAL_FATAL(kill((pid_t)pid, SIGKILL), 0);
        /* the next submit (or the running future) sees the broken pool, promptly */
        long long end = pp_t_now_ms() + BOUND_MS;
        pp_status st = PP_OK;
        if (g) {
            const pp_error *e;
            PP_ASSERT_OK(pp_future_exception(g, BOUND_MS, &e));
            CU_ASSERT_PTR_NOT_NULL_FATAL(e);
            CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
            CU_ASSERT_EQUAL(e->code, -9);
            CU_ASSERT(strstr(e->message, "killed by signal 9 (SIGKILL) running 'sleep'") != NULL);
            pp_future_release(g);
        }
        while (pp_t_now_ms() < end) {
            pp_future *h = NULL;
            st = pp_submit(ex, "echo", "x", 1, &h);
            if (st != PP_OK)
                break;
            pp_future_result(h, BOUND_MS, NULL);
            pp_future_release(h);
            pp_t_sleep_ms(10);
        }
        CU_ASSERT_EQUAL(st, PP_EBROKEN);
        if (!busy) { /* a later future would have failed with "... while idle" */
            pp_executor_stats s;
            PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
            CU_ASSERT_EQUAL(s.workers_died, 1);
        }
        pp_executor_destroy(ex);
    }
#endif
}

/* The other workers are stopped when the pool breaks. */
static void test_other_workers_stopped(void)
{
    pp_executor *ex = pp_t_executor(3);
    pp_t_sleep_arg a = {300, 0};
    pp_future *fs[3];
    pp_t_run_each(ex, "sleep", &a, sizeof a, fs, 3);
    long long pids[8];
    size_t n = 0;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 8, &n));
    CU_ASSERT_FATAL(n >= 1 && n <= 3);
    pp_future *f;
    int32_t code = 2;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "exit", &code, sizeof code, &f));
    CU_ASSERT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_EBROKEN);
    pp_future_release(f);
    CU_ASSERT(all_gone(pids, n));
    pp_t_snapshot snap;
    CU_ASSERT(pp_t_wait_stats(ex, pp_t_no_workers, NULL, BOUND_MS, &snap));
    CU_ASSERT_EQUAL(snap.n_pids, 0);
    pp_executor_destroy(ex);
}

/* A done callback that submits after seeing the broken future gets PP_EBROKEN. */
static pp_status cb_status = PP_OK;
static void submit_from_callback(pp_future *f, void *ud)
{
    (void)f;
    pp_future *g = NULL;
    cb_status = pp_submit(ud, "echo", "x", 1, &g);
    pp_future_release(g);
}

static void test_broken_flag_before_futures_fail(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_future *f;
    int32_t code = 1;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "exit", &code, sizeof code, &f));
    cb_status = PP_OK;
    PP_ASSERT_OK(pp_future_add_done_callback(f, submit_from_callback, ex));
    CU_ASSERT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_EBROKEN);
    pp_executor_shutdown(ex, true, false); /* the callback has run by then */
    CU_ASSERT_EQUAL(cb_status, PP_EBROKEN);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* A task that calls exit() announces it (where the system lets the worker see the exit
 * status); a child that a task forks and that calls exit() speaks for nobody: the pool
 * stays whole. */
static void test_forked_child_exit_is_not_the_worker(void)
{
#ifdef _WIN32
    printf("SKIP: no fork() on Windows\n");
#else
    PP_T_SKIP_IF_FORK("the grandchild's exit() would run LeakSanitizer over a heap reachable "
                      "only from threads that fork did not copy");
    pp_executor *ex = pp_t_executor(1);
    for (int i = 0; i < 3; i++) {
        pp_future *f = NULL;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "fork_exit", NULL, 0, &f));
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(f, BOUND_MS, &r));
        int32_t code = -2;
        if (r.len == sizeof code)
            memcpy(&code, r.data, sizeof code);
        CU_ASSERT_EQUAL(code, 7);
        pp_future_release(f);
    }
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0);
    pp_future *g = NULL;
    PP_ASSERT_OK(pp_submit(ex, "echo", "x", 1, &g));
    PP_ASSERT_OK(pp_future_result(g, BOUND_MS, NULL));
    pp_future_release(g);
    pp_executor_destroy(ex);
#endif
}

/* A worker that breaks the protocol breaks the pool and is killed. */
/* f, whose task broke the protocol and then sleeps 10 s: fails PP_EBROKEN soon (the worker
 * killed, not waited for), its message saying why; its error. */
static const pp_error *protocol_break(pp_future *f, const char *why)
{
    long long t0 = pp_t_now_ms();
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT(pp_t_now_ms() - t0 < 5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    CU_ASSERT(strstr(e->message, why) != NULL);
    CU_ASSERT(e->pid > 0);
    return e;
}

static void test_malformed_message(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_future *f, *g;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "malformed", NULL, 0, &f));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "x", 1, &g));
    const pp_error *e = protocol_break(f, "malformed");
    CU_ASSERT_EQUAL(pp_future_result(g, BOUND_MS, NULL), PP_EBROKEN);
    CU_ASSERT(all_gone(&e->pid, 1));
    pp_future *h = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, &h), PP_EBROKEN);
    pp_future_release(f);
    pp_future_release(g);
    pp_executor_destroy(ex);
}

/* The library reaps only its own workers: a child the program started itself, exiting
 * while a pool runs (and breaks), is still there for the program to wait for. */
static void test_foreign_child_not_reaped(void)
{
#ifdef _WIN32
    printf("SKIP: POSIX fork/waitpid\n");
#else
    pid_t child = fork();
    CU_ASSERT_FATAL(child >= 0);
    if (child == 0)
        _exit(42);
    pp_executor *ex = pp_t_executor(2);
    for (int i = 0; i < 5; i++) {
        pp_future *f;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f));
        PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
        pp_future_release(f);
    }
    int32_t code = 1;
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "exit", &code, sizeof code, &f));
    CU_ASSERT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_EBROKEN);
    pp_future_release(f);
    pp_executor_destroy(ex);
    int status = 0;
    CU_ASSERT_EQUAL(waitpid(child, &status, 0), child);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 42);
#endif
}

static atomic_int broken_callbacks, other_callbacks;
static void count_broken(pp_future *f, void *ud)
{
    (void)ud;
    const pp_error *e = NULL;
    if (pp_future_exception(f, 0, &e) == PP_OK && e && e->status == PP_EBROKEN)
        atomic_fetch_add(&broken_callbacks, 1);
    else
        atomic_fetch_add(&other_callbacks, 1);
}

/* Many futures pending when the pool breaks: each resolves PP_EBROKEN, each done callback
 * runs exactly once, pp_wait(ALL_COMPLETED) and pp_as_completed see them all, promptly. */
static void test_many_pending_all_resolve(void)
{
    enum { N = 60 };
    pp_executor *ex = pp_t_executor(2);
    atomic_store(&broken_callbacks, 0);
    atomic_store(&other_callbacks, 0);
    pp_t_sleep_arg slow = {4000, 0}, die = {100, 6};
    pp_future *fs[N];
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep_exit", &die, sizeof die, &fs[0]));
    for (int i = 1; i < N; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &fs[i]));
    for (int i = 0; i < N; i++)
        PP_ASSERT_OK(pp_future_add_done_callback(fs[i], count_broken, NULL));
    long long t0 = pp_t_now_ms();
    size_t n_done = 0;
    PP_ASSERT_OK(pp_wait(fs, N, BOUND_MS, PP_ALL_COMPLETED, NULL, &n_done));
    CU_ASSERT_EQUAL(n_done, N);
    CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS);
    pp_as_completed *ac;
    PP_ASSERT_OK_FATAL(pp_as_completed_begin(fs, N, BOUND_MS, &ac));
    int yielded = 0;
    pp_future *f;
    while (pp_as_completed_next(ac, &f) == PP_OK && yielded <= N) {
        CU_ASSERT_EQUAL(pp_future_result(f, 0, NULL), PP_EBROKEN);
        yielded++;
    }
    pp_as_completed_end(ac);
    CU_ASSERT_EQUAL(yielded, N);
    pp_executor_shutdown(ex, true, false); /* the manager's callbacks have all run */
    CU_ASSERT_EQUAL(atomic_load(&broken_callbacks), N);
    CU_ASSERT_EQUAL(atomic_load(&other_callbacks), 0);
    long long pid = 0;
    for (int i = 0; i < N; i++) {
        const pp_error *e = NULL;
        PP_ASSERT_OK(pp_future_exception(fs[i], 0, &e));
        CU_ASSERT_FATAL(e != NULL);
        CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
        CU_ASSERT_EQUAL(e->code, 6);
        CU_ASSERT(strstr(e->message, "exited with code 6") != NULL);
        if (i == 0)
            pid = e->pid;
        CU_ASSERT_EQUAL(e->pid, pid);
        pp_future_release(fs[i]);
    }
    pp_executor_stats st;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT_EQUAL(st.failed, N);
    CU_ASSERT_EQUAL(st.workers_died, 1);
    CU_ASSERT_EQUAL(st.pending, 0);
    CU_ASSERT_EQUAL(st.handed_out, 0);
    pp_executor_destroy(ex);
}

typedef struct spammer {
    pp_executor *ex;
    int          ok, broken, refused, bad;
} spammer;

static void spam(void *p)
{
    spammer *sp = p;
    for (int i = 0; i < 400; i++) {
        pp_future *f = NULL;
        pp_status st = pp_submit(sp->ex, "echo", &i, sizeof i, &f);
        if (st == PP_EBROKEN) {
            sp->refused++;
            sp->bad += f != NULL;
            continue;
        }
        if (st != PP_OK) {
            sp->bad++;
            continue;
        }
        st = pp_future_result(f, BOUND_MS, NULL);
        if (st == PP_OK)
            sp->ok++;
        else if (st == PP_EBROKEN)
            sp->broken++;
        else
            sp->bad++;
        pp_future_release(f);
    }
}

/* Threads keep submitting while a worker dies: every submit is accepted and resolves (with
 * its result or PP_EBROKEN), or is refused PP_EBROKEN; once refused, always refused. */
static void test_submits_racing_with_break(void)
{
    pp_executor *ex = pp_t_executor(2);
    spammer sp[3];
    pp_t_thread *t[3];
    for (int i = 0; i < 3; i++) {
        sp[i] = (spammer){ex, 0, 0, 0, 0};
        t[i] = pp_t_thread_start(spam, &sp[i]);
    }
    pp_t_sleep_ms(20);
    pp_t_sleep_arg die = {10, 1};
    pp_future *f = NULL;
    pp_status st = pp_submit(ex, "sleep_exit", &die, sizeof die, &f);
    CU_ASSERT(st == PP_OK || st == PP_EBROKEN);
    if (st == PP_OK)
        CU_ASSERT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_EBROKEN);
    pp_future_release(f);
    for (int i = 0; i < 3; i++) {
        pp_t_thread_join(t[i]);
        CU_ASSERT_EQUAL(sp[i].bad, 0);
        CU_ASSERT_EQUAL(sp[i].ok + sp[i].broken + sp[i].refused, 400);
    }
    pp_future *g = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, &g), PP_EBROKEN);
    CU_ASSERT_PTR_NULL(g);
    pp_executor_destroy(ex);
}

/* A worker killed while it sends a large result (64 MiB): the future resolves, with the
 * right bytes if they all arrived, or PP_EBROKEN; nothing hangs on the half-read body. */
static void test_killed_while_sending_big_result(void)
{
#ifdef _WIN32
    printf("SKIP: kills a worker with a POSIX signal\n");
#else
    for (int delay = 0; delay < 6; delay++) {
        pp_executor *ex = pp_t_executor(1);
        long long pid = pp_t_task_pid(ex);
        CU_ASSERT_FATAL(pid > 0);
        pp_future *f;
        pp_buf r;
        struct {
            uint64_t n;
            uint32_t seed;
        } arg; /* the "bytes" task's layout, padding included */
        memset(&arg, 0, sizeof arg);
        arg.n = 64u << 20;
        arg.seed = 99;
        size_t n = (size_t)arg.n;
        uint32_t seed = arg.seed;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "bytes", &arg, sizeof arg, &f));
        pp_t_sleep_ms(40 + 30 * (unsigned)delay); /* before, during or after the sending */
        CU_ASSERT_EQUAL(kill((pid_t)pid, SIGKILL), 0);
        long long t0 = pp_t_now_ms();
        pp_status st = pp_future_result(f, BOUND_MS, &r);
        CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS);
        CU_ASSERT(st == PP_OK || st == PP_EBROKEN);
        printf("%s", delay == 0 ? "(" : " ");
        printf("%s%s", st == PP_OK ? "sent" : "killed", delay == 5 ? ") " : "");
        if (st == PP_OK) {
            unsigned char *want = malloc(n);
            CU_ASSERT_FATAL(want != NULL);
            pp_t_fill(want, n, seed);
            CU_ASSERT(r.len == n && memcmp(r.data, want, n) == 0);
            free(want);
        } else {
            const pp_error *e = NULL;
            PP_ASSERT_OK(pp_future_exception(f, 0, &e));
            CU_ASSERT(e && e->code == -9 && e->pid == pid);
        }
        pp_future_release(f);
        pp_executor_destroy(ex);
    }
#endif
}

/* A worker that dies while the manager is writing a large argument to it (CPython
 * test_crash_big_data): the write fails (EPIPE, no SIGPIPE kills us), the futures resolve
 * PP_EBROKEN, nothing hangs. The call is queued behind a slow initializer that then exits. */
static void test_dies_while_big_argument_written(void)
{
    size_t n = 32u << 20;
    unsigned char *big = malloc(n);
    CU_ASSERT_FATAL(big != NULL);
    pp_t_fill(big, n, 5);
    pp_t_sleep_arg a = {500, 8}; /* "sleep_exit" as the initializer: exits with 8 */
    pp_executor *ex = pp_t_executor_init(1, "sleep_exit", &a, sizeof a);
    pp_future *fs[3];
    int n_fs = 0;
    for (int i = 0; i < 3; i++) { /* the later ones may come after the break (slow builds) */
        pp_status st = pp_submit(ex, "checksum", big, n, &fs[n_fs]);
        if (i == 0)
            PP_ASSERT_OK(st);
        else
            CU_ASSERT(st == PP_OK || st == PP_EBROKEN);
        if (st != PP_OK)
            break;
        n_fs++;
    }
    free(big);
    long long t0 = pp_t_now_ms();
    for (int i = 0; i < n_fs; i++) {
        const pp_error *e = NULL;
        PP_ASSERT_OK(pp_future_exception(fs[i], BOUND_MS, &e));
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
        CU_ASSERT_EQUAL(e->code, 8);
        if (!strstr(e->message, "exited with code 8"))
            fprintf(stderr, "\n  unexpected message: %s\n", e->message);
        CU_ASSERT(strstr(e->message, "exited with code 8") != NULL);
        pp_future_release(fs[i]);
    }
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "checksum", "x", 1, &g), PP_EBROKEN);
    CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS);
    pp_executor_destroy(ex);
}

/* A worker whose ring to the manager claims more bytes than it holds (a wild write into its
 * shared block) is taken for a protocol violation, as a malformed frame: killed, the pool
 * broken, nothing read past the ring. */
static void test_corrupt_ring(void)
{
    PP_T_SKIP_IF_NO_RINGS("frames go through the channel");
    pp_executor *ex = pp_t_executor(1);
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "ring_corrupt", NULL, 0, &f));
    const pp_error *e = protocol_break(f, "corrupt ring");
    CU_ASSERT(all_gone(&e->pid, 1));
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* Broken pools leave no descriptor and no process (nor zombie) behind: each way of dying,
 * with a busy second worker to stop, then destroy. */
static void test_break_leaves_nothing(void)
{
    static const char *const tasks[] = {"exit", "abort", "segv", "kill_self", "malformed"};
    size_t fds = pp__os_handle_count();
    for (size_t t = 0; t < sizeof tasks / sizeof tasks[0]; t++) {
        pp_executor *ex = pp_t_executor(2);
        pp_t_sleep_arg slow = {20000, 0};
        pp_future *busy, *bad;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &busy));
        int32_t code = 3;
        PP_ASSERT_OK_FATAL(pp_submit(ex, tasks[t], &code, sizeof code, &bad));
        long long pids[2] = {0, 0};
        size_t n = 0;
        PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 2, &n)); /* may miss one: fine */
        CU_ASSERT_EQUAL(pp_future_result(bad, BOUND_MS, NULL), PP_EBROKEN);
        CU_ASSERT_EQUAL(pp_future_result(busy, BOUND_MS, NULL), PP_EBROKEN);
        const pp_error *e = NULL;
        PP_ASSERT_OK(pp_future_exception(bad, 0, &e));
        long long dead = e ? e->pid : 0;
        long long t0 = pp_t_now_ms();
        pp_executor_destroy(ex);
        CU_ASSERT(pp_t_now_ms() - t0 < BOUND_MS);
        pp_future_release(busy);
        pp_future_release(bad);
        long long all[3] = {pids[0], pids[1], dead};
        for (int i = 0; i < 3; i++) {
            if (all[i] <= 0)
                continue;
            CU_ASSERT(!pp_t_pid_alive(all[i]));
#ifndef _WIN32
            CU_ASSERT(kill((pid_t)all[i], 0) != 0); /* reaped, not a zombie */
#endif
        }
    }
    CU_ASSERT_EQUAL(pp__os_handle_count(), fds);
}

/* A result above max_message_size: the worker is killed before anything is allocated for
 * it, the pool breaks naming both sizes; one at the limit passes. Bad limits are refused. */
static void test_max_message_size(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    pp_executor *ex = (pp_executor *)1;
    o.max_message_size = 100; /* below the smallest sensible limit */
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT_PTR_NULL(ex);
    o.max_message_size = 4096;
    o.max_workers = 1;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    struct {
        uint64_t n;
        uint32_t seed;
    } small = {1000, 1}, big = {100000, 2};
    memset((char *)&small + 12, 0, sizeof small - 12);
    memset((char *)&big + 12, 0, sizeof big - 12);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "bytes", &small, sizeof small, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT_EQUAL(r.len, 1000);
    pp_future_release(f);
    PP_ASSERT_OK_FATAL(pp_submit(ex, "bytes", &big, sizeof big, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(f, BOUND_MS, &e));
    CU_ASSERT_FATAL(e != NULL);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    if (!strstr(e->message, "max_message_size"))
        printf("(message: %s) ", e->message);
    CU_ASSERT(strstr(e->message, "max_message_size") != NULL);
    CU_ASSERT(strstr(e->message, "4080") != NULL); /* the body limit: 4096 - 16 */
    pp_future_release(f);
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &f), PP_EBROKEN);
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"worker exits with code 3", test_exit},
    {"a result above max_message_size breaks the pool", test_max_message_size},
    {"worker exits with code 0 mid-task", test_exit_zero},
    {"worker exits in the middle of a task", test_exit_mid_task},
    {"worker aborts", test_abort},
    {"worker segfaults", test_segv},
    {"a segfault's message carries the worker's backtrace", test_segv_report},
    {"an abort's message carries the worker's backtrace", test_abort_report},
    {"with SIGCHLD ignored, crashes are reported truly", test_sigchld_ignored},
    {"worker is killed", test_kill_self},
    {"a failing task does not break the pool", test_task_failure_does_not_break},
    {"worker killed from outside, idle and busy", test_killed_from_outside},
    {"the other workers are stopped", test_other_workers_stopped},
    {"broken flag is set before futures fail", test_broken_flag_before_futures_fail},
    {"a malformed message breaks the pool", test_malformed_message},
    {"a corrupt ring breaks the pool", test_corrupt_ring},
    {"a child forked by a task that calls exit() does not break the pool",
     test_forked_child_exit_is_not_the_worker},
    {"many pending futures all resolve, callbacks once each", test_many_pending_all_resolve},
    {"submits from threads racing with a break", test_submits_racing_with_break},
    {"killed while sending a large result", test_killed_while_sending_big_result},
    {"dies while a large argument is written to it", test_dies_while_big_argument_written},
    {"broken pools leave no descriptor or process behind", test_break_leaves_nothing},
    {"a child the program started is never reaped", test_foreign_child_not_reaped},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_broken = {"broken", NULL, NULL, NULL, NULL, tests};
