/*
 * The submit suite: pp_submit results and errors, argument checks, options, worker reuse
 * and on-demand start, submits from several threads, stats.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pp_core.h"
#include "pp_os.h"
#include "pp_test.h"

/* Sets or removes an environment variable that workers spawned later inherit. */
static void set_env(const char *name, const char *value)
{
#ifdef _WIN32
    char buf[256];
    snprintf(buf, sizeof buf, "%s=%s", name, value ? value : "");
    _putenv(buf);
#else
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
#endif
}

static int pid_in(long long pid, const long long *pids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return 1;
    return 0;
}

/* Polls the stats (bounded) until pred holds; returns the last snapshot. */
static pp_executor_stats stats_until(pp_executor *ex, int (*pred)(const pp_executor_stats *))
{
    pp_executor_stats s;
    long long end = pp_t_now_ms() + PP_T_TIMEOUT_MS;
    for (;;) {
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
        if (pred(&s) || pp_t_now_ms() > end)
            return s;
        pp_t_sleep_ms(5);
    }
}

static void test_results(void)
{
    pp_executor *ex = pp_t_executor(2);
    pp_future *f;
    pp_buf r;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "abc", 3, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == 3 && memcmp(r.data, "abc", 3) == 0);
    pp_future_release(f);

    int32_t x = 12;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "square", &x, sizeof x, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT_EQUAL_FATAL(r.len, sizeof(int64_t));
    int64_t sq;
    memcpy(&sq, r.data, sizeof sq);
    CU_ASSERT_EQUAL(sq, 144);
    pp_future_release(f);

    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", NULL, 0, &f)); /* empty argument */
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT_EQUAL(r.len, 0);
    const pp_error *e = (const pp_error *)1;
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NULL(e);
    pp_future_release(f);

    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "", 0, &f)); /* empty, non-NULL argument */
    r = (pp_buf){(void *)1, 99};
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT_EQUAL(r.len, 0);
    pp_future_release(f);

    /* the caller's argument buffer is copied at submit */
    char buf[4] = "wxyz";
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", buf, 4, &f));
    memset(buf, 0, sizeof buf);
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == 4 && memcmp(r.data, "wxyz", 4) == 0);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

static void test_task_errors(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_future *f;
    const pp_error *e;
    int32_t neg = -3;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "square", &neg, sizeof neg, &f));
    CU_ASSERT_EQUAL(pp_future_result(f, PP_T_TIMEOUT_MS, NULL), PP_ETASK);
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ETASK);
    CU_ASSERT_EQUAL(e->code, 7);
    CU_ASSERT_STRING_EQUAL(e->message, "negative: -3");
    CU_ASSERT(e->pid > 0 && e->pid != pp_t_getpid());
    unsigned long long first_id = e->work_id; /* the call's id: set, and new per call */
    CU_ASSERT(first_id > 0);
    pp_future_release(f);

    /* a failure without text gets a default message naming the task and code */
    int32_t code = 5;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "fail", &code, sizeof code, &f));
    PP_ASSERT_OK(pp_future_exception(f, PP_T_TIMEOUT_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT(e->work_id > first_id);
    CU_ASSERT_EQUAL(e->code, 5);
    CU_ASSERT(strstr(e->message, "fail") != NULL);
    pp_future_release(f);

    PP_ASSERT_OK_FATAL(pp_submit(ex, "return_then_fail", NULL, 0, &f));
    pp_buf r = {(void *)1, 9};
    CU_ASSERT_EQUAL(pp_future_result(f, PP_T_TIMEOUT_MS, &r), PP_ETASK);
    CU_ASSERT_PTR_NULL(r.data);
    CU_ASSERT_EQUAL(r.len, 0);
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT(e && e->code == 2);
    pp_future_release(f);

    PP_ASSERT_OK_FATAL(pp_submit(ex, "error_then_ok", NULL, 0, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(f);

    /* a task whose pp_task_error ran out of memory: PP_ENOMEM, with the worker's text whole
     * (its length was a hand-counted 27) and the task's return value */
    PP_ASSERT_OK_FATAL(pp_submit(ex, "nomem", NULL, 0, &f));
    CU_ASSERT_EQUAL(pp_future_result(f, PP_T_TIMEOUT_MS, NULL), PP_ENOMEM);
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ENOMEM);
    CU_ASSERT_EQUAL(e->code, 3);
    CU_ASSERT_STRING_EQUAL(e->message, "out of memory in the worker");
    pp_future_release(f);

    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.failed, 4);
    CU_ASSERT_EQUAL(s.completed, 1);
    CU_ASSERT_EQUAL(s.workers_died, 0);
    pp_executor_destroy(ex);
}

static void test_bad_arguments(void)
{
    pp_executor *ex = pp_t_executor(1);
    pp_future *f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit(ex, "no such task", NULL, 0, &f), PP_ENOTASK);
    CU_ASSERT_PTR_NULL(f);
    f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit(NULL, "echo", NULL, 0, &f), PP_EINVAL);
    CU_ASSERT_PTR_NULL(f);
    CU_ASSERT_EQUAL(pp_submit(ex, NULL, NULL, 0, &f), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_submit(ex, "echo", NULL, 3, &f), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_executor_stats_get(NULL, NULL), PP_EINVAL);
    size_t n;
    CU_ASSERT_EQUAL(pp_executor_worker_pids(ex, NULL, 3, &n), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_executor_worker_pids(ex, NULL, 0, NULL), PP_EINVAL);
    pp_executor_destroy(ex);
}

static void test_options(void)
{
    PP_T_SKIP_IF_MPI("worker_path, max_tasks_per_child, cpu count: n/a to MPI ranks");
    pp_executor_options o;
    pp_executor *ex = (pp_executor *)1;
    CU_ASSERT_EQUAL(pp_executor_create(NULL, NULL), PP_EINVAL);
    pp_executor_options_init(NULL); /* no-op */
    pp_executor_options_init(&o);
    CU_ASSERT_EQUAL(o.max_workers, 0);
    CU_ASSERT_EQUAL(o.start_method, PP_START_DEFAULT);
    CU_ASSERT_PTR_NULL(o.worker_path);
    CU_ASSERT_PTR_NULL(o.initializer);
    CU_ASSERT_EQUAL(o.max_tasks_per_child, 0);
    o.max_workers = -1;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT_PTR_NULL(ex);
    pp_executor_options_init(&o);
    o.start_method = (pp_start_method)42;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
#ifdef _WIN32
    o.start_method = PP_START_FORK; /* POSIX only */
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_ENOTSUP);
    o.start_method = PP_START_FORKSERVER;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_ENOTSUP);
    CU_ASSERT_PTR_NULL(ex);
#else
    /* fork cannot replace workers: max_tasks_per_child is PP_EINVAL (CPython: ValueError) */
    o.start_method = PP_START_FORK;
    o.max_tasks_per_child = 2;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT_PTR_NULL(ex);
    o.start_method = PP_START_FORKSERVER; /* forkserver can */
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    pp_executor_destroy(ex);
    o.start_method = PP_START_FORK;
    o.max_tasks_per_child = -1;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
#endif
    pp_executor_options_init(&o);
    o.max_tasks_per_child = -1;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT_PTR_NULL(ex);
    /* spawn with an explicit, valid start method works */
    pp_executor_options_init(&o);
    o.start_method = PP_START_SPAWN;
    o.max_workers = 1;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    pp_future *f;
    PP_ASSERT_OK(pp_submit(ex, "noop", NULL, 0, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(f);
    pp_executor_destroy(ex);
    pp_executor_destroy(NULL);
    CU_ASSERT(pp_cpu_count() >= 1);
}

/* A worker program that does not exist: submitted futures fail broken, nothing hangs. */
static void test_missing_worker_program(void)
{
    PP_T_SKIP_IF_MPI("worker_path, max_tasks_per_child, cpu count: n/a to MPI ranks");
    pp_executor_options o;
    pp_t_options_init(&o);
    o.worker_path = "/nonexistent/procpool-worker";
    pp_executor *ex;
    if (pp_t_start == PP_START_FORK) { /* fork runs no program */
        CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
        return;
    }
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f));
    const pp_error *e;
    PP_ASSERT_OK(pp_future_exception(f, PP_T_TIMEOUT_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    CU_ASSERT(strstr(e->message, "cannot start a worker") != NULL);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* Sequential submits reuse one idle worker: CPython's idle-worker semaphore. */
static void test_sequential_reuse_one_worker(void)
{
    PP_T_SKIP_IF_FORK("all workers are forked at the first submit (start suite)");
    pp_executor *ex = pp_t_executor(4);
    long long first = pp_t_task_pid(ex);
    CU_ASSERT(first > 0);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(pp_t_task_pid(ex), first);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers, 1);
    CU_ASSERT_EQUAL(s.workers_started, 1);
    long long pids[4];
    size_t n;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &n));
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(pids[0], first);
    pp_executor_destroy(ex);
}

/* Workers start on demand, up to max_workers, never beyond. */
static void test_workers_on_demand_up_to_max(void)
{
    PP_T_SKIP_IF_PIPELINE(PP_T_WINDOW_PIN);
    PP_T_SKIP_IF_FORK("all workers are forked at the first submit (start suite)");
    pp_executor *ex = pp_t_executor(2);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers, 0); /* none before any work */
    pp_t_sleep_arg a = {200, 0};
    pp_future *fs[8];
    pp_t_submit_each(ex, "sleep", &a, sizeof a, fs, 8);
    for (int i = 0; i < 8; i++) {
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
        CU_ASSERT(s.workers <= 2);
        CU_ASSERT(s.handed_out <= 3);
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, NULL));
        pp_future_release(fs[i]);
    }
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 2);
    CU_ASSERT_EQUAL(s.completed, 8);
    CU_ASSERT_EQUAL(s.pending, 0);
    pp_executor_destroy(ex);
}

/* max_workers 0 means pp_cpu_count(). */
static void test_default_max_workers(void)
{
    PP_T_SKIP_IF_MPI("worker_path, max_tasks_per_child, cpu count: n/a to MPI ranks");
    pp_executor *ex = pp_t_executor(0);
    int cpus = pp_cpu_count();
    pp_t_sleep_arg a = {300, 0};
    int n = cpus + 2;
    pp_future **fs = calloc((size_t)n, sizeof *fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
    pp_t_run_each(ex, "sleep", &a, sizeof a, fs, n);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, (unsigned long long)cpus);
    free(fs);
    pp_executor_destroy(ex);
}

static void test_many_tasks(void)
{
    enum { N = 2000 };
    pp_executor *ex = pp_t_executor(2);
    pp_future **fs = calloc(N, sizeof *fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
    pp_t_echo_each(ex, fs, N);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.completed, N);
    free(fs);
    pp_executor_destroy(ex);
}

typedef struct thr_arg {
    pp_executor *ex;
    int          base;
    int          ok;
} thr_arg;

static void submitter(void *p)
{
    thr_arg *a = p;
    pp_future *fs[200];
    for (int i = 0; i < 200; i++) {
        int v = a->base + i;
        if (pp_submit(a->ex, "echo", &v, sizeof v, &fs[i]) != PP_OK)
            fs[i] = NULL;
    }
    for (int i = 0; i < 200; i++) {
        pp_buf r;
        int v = a->base + i;
        if (fs[i] && pp_future_result(fs[i], PP_T_TIMEOUT_MS, &r) == PP_OK && r.len == sizeof v &&
            memcmp(r.data, &v, sizeof v) == 0)
            a->ok++;
        pp_future_release(fs[i]);
    }
}

static void test_submit_from_threads(void)
{
    pp_executor *ex = pp_t_executor(2);
    thr_arg args[4];
    pp_t_thread *t[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thr_arg){ex, i * 1000, 0};
        t[i] = pp_t_thread_start(submitter, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pp_t_thread_join(t[i]);
        CU_ASSERT_EQUAL(args[i].ok, 200);
    }
    pp_executor_destroy(ex);
}

static void test_status_strings(void)
{
    CU_ASSERT_STRING_EQUAL(pp_status_str(PP_OK), "PP_OK");
    CU_ASSERT_STRING_EQUAL(pp_status_str(PP_EBROKEN), "PP_EBROKEN");
    CU_ASSERT_STRING_EQUAL(pp_status_str(PP_ESYS), "PP_ESYS");
    CU_ASSERT_STRING_EQUAL(pp_status_str((pp_status)999), "PP_UNKNOWN");
    for (int s = PP_OK; s <= PP_ETIMELIMIT; s++)
        CU_ASSERT_PTR_NOT_NULL(pp_status_str((pp_status)s));
}

static void test_registration_closed(void)
{
    /* main() called pp_worker_main(), so registration is over in this process. */
    CU_ASSERT_EQUAL(pp_register_task("late", NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_register_task(NULL, NULL), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_worker_main(0, NULL), 0);
}

static pp_executor *executor_max_tasks(int workers, int max_tasks)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = workers;
    o.max_tasks_per_child = max_tasks;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    return ex;
}

/* A worker exits after max_tasks_per_child items and is replaced: the pid changes every N. */
static void test_max_tasks_per_child(void)
{
    PP_T_SKIP_IF_FORK("max_tasks_per_child is PP_EINVAL with fork (executor options)");
    pp_executor *ex = executor_max_tasks(1, 3);
    long long pids[9];
    for (int i = 0; i < 9; i++)
        pids[i] = pp_t_task_pid(ex);
    for (int i = 0; i < 9; i++) {
        CU_ASSERT(pids[i] > 0);
        if (i % 3) {
            CU_ASSERT_EQUAL(pids[i], pids[i - 1]);
        } else if (i) {
            CU_ASSERT_NOT_EQUAL(pids[i], pids[i - 1]);
        }
    }
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 3);
    CU_ASSERT_EQUAL(s.workers_died, 0); /* retiring is not dying */
    CU_ASSERT_EQUAL(s.completed, 9);
    pp_executor_destroy(ex);
}

/* No task is lost or run twice while workers retire under load, also across a shutdown
 * that does not wait. */
static void test_max_tasks_under_load(void)
{
    PP_T_SKIP_IF_FORK("max_tasks_per_child is PP_EINVAL with fork (executor options)");
    enum { N = 40 };
    for (int nowait = 0; nowait < 2; nowait++) {
        pp_executor *ex = executor_max_tasks(2, 2);
        pp_future *fs[N];
        for (int i = 0; i < N; i++)
            PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", &i, sizeof i, &fs[i]));
        if (nowait)
            PP_ASSERT_OK(pp_executor_shutdown(ex, false, false));
        for (int i = 0; i < N; i++) {
            pp_buf r;
            PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, &r));
            CU_ASSERT(r.len == sizeof i && memcmp(r.data, &i, sizeof i) == 0);
            pp_future_release(fs[i]);
        }
        pp_executor_stats s;
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
        CU_ASSERT_EQUAL(s.completed, N);
        CU_ASSERT(s.workers_started >= N / 2);
        CU_ASSERT_EQUAL(s.workers_died, 0);
        pp_executor_destroy(ex);
    }
}

/* A task's failure text arrives intact up to 64 KiB, and truncated with a marker beyond. */
static void test_error_text_limit(void)
{
    pp_executor *ex = pp_t_executor(1);
    const uint32_t lens[] = {0, 100, 65536, 65537, 200000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        pp_future *f;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "error_len", &lens[i], sizeof lens[i], &f));
        const pp_error *e = NULL;
        PP_ASSERT_OK(pp_future_exception(f, PP_T_TIMEOUT_MS, &e));
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        size_t got = strlen(e->message);
        if (lens[i] == 0) {
            CU_ASSERT(strstr(e->message, "error_len") != NULL); /* empty: the default text */
        } else if (lens[i] <= 65536) {
            CU_ASSERT_EQUAL(got, lens[i]);
            CU_ASSERT(e->message[0] == 'x' && e->message[got - 1] == 'x');
        } else {
            CU_ASSERT_EQUAL(got, 65536);
            CU_ASSERT(got > 14 && strcmp(e->message + got - 14, "...[truncated]") == 0);
        }
        pp_future_release(f);
    }
    pp_executor_destroy(ex);
}

/* Submit after shutdown: PP_ESHUTDOWN, *out NULL, with or without waiting, with or without
 * earlier work. */
static void test_submit_after_shutdown(void)
{
    for (int used = 0; used < 2; used++) {
        for (int wait = 0; wait < 2; wait++) {
            pp_executor *ex = pp_t_executor(1);
            pp_future *f = NULL;
            if (used) {
                PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f));
                PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
                pp_future_release(f);
            }
            PP_ASSERT_OK(pp_executor_shutdown(ex, wait != 0, false));
            f = (pp_future *)1;
            CU_ASSERT_EQUAL(pp_submit(ex, "echo", "x", 1, &f), PP_ESHUTDOWN);
            CU_ASSERT_PTR_NULL(f);
            f = (pp_future *)1; /* the name check does not hide the state, nor vice versa */
            pp_status st = pp_submit(ex, "no such task", NULL, 0, &f);
            CU_ASSERT(st == PP_ENOTASK || st == PP_ESHUTDOWN);
            CU_ASSERT_PTR_NULL(f);
            pp_executor_destroy(ex);
        }
    }
}

static int all_idle_2(const pp_executor_stats *s)
{
    return s->workers == 2 && s->idle_workers == 2 && s->handed_out == 0 && s->pending == 0;
}

static int saturated_1(const pp_executor_stats *s)
{
    return s->handed_out == 2 && s->pending == 3;
}

/* pp_executor_worker_pids and pp_executor_stats_get agree with each other and with the pids
 * the tasks report; pending and handed_out follow the max_workers + 1 window. */
static void test_pids_and_stats_consistent(void)
{
    PP_T_SKIP_IF_PIPELINE(PP_T_WINDOW_PIN);
    PP_T_SKIP_IF_MPI("looks at workers as local child processes");
    pp_executor *ex = pp_t_executor(2);
    size_t n = 99;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, NULL, 0, &n));
    CU_ASSERT_EQUAL(n, 0);
    pp_t_sleep_arg a = {300, 0};
    pp_future *fs[2], *p[2];
    pp_t_submit_each(ex, "sleep", &a, sizeof a, fs, 2);
    for (int i = 0; i < 2; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "pid", NULL, 0, &p[i]));
    long long seen[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(p[i], PP_T_TIMEOUT_MS, &r));
        if (r.len == sizeof seen[i])
            memcpy(&seen[i], r.data, sizeof seen[i]);
        pp_future_release(p[i]);
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, NULL));
        pp_future_release(fs[i]);
    }
    pp_executor_stats s = stats_until(ex, all_idle_2);
    CU_ASSERT_EQUAL(s.workers, 2);
    CU_ASSERT_EQUAL(s.idle_workers, 2);
    CU_ASSERT_EQUAL(s.handed_out, 0);
    CU_ASSERT_EQUAL(s.pending, 0);
    CU_ASSERT_EQUAL(s.workers_started, 2);
    CU_ASSERT_EQUAL(s.completed, 4);
    long long pids[4] = {0, 0, 0, 0};
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &n));
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT(pids[0] > 0 && pids[1] > 0 && pids[0] != pids[1]);
    CU_ASSERT(pp_t_pid_alive(pids[0]) && pp_t_pid_alive(pids[1]));
    CU_ASSERT(pids[0] != pp_t_getpid() && pids[1] != pp_t_getpid());
    for (int i = 0; i < 2; i++)
        CU_ASSERT(pid_in(seen[i], pids, 2)); /* a task ran in a worker the pool lists */
    /* a cap smaller than the count: *n is still the count, only cap pids are written */
    long long one[2] = {-5, -5};
    PP_ASSERT_OK(pp_executor_worker_pids(ex, one, 1, &n));
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT(pid_in(one[0], pids, 2));
    CU_ASSERT_EQUAL(one[1], -5);
    pp_executor_destroy(ex);

    /* one worker, one long task, four more: two handed out (running), three pending */
    ex = pp_t_executor(1);
    pp_t_sleep_arg slow = {800, 0};
    pp_future *q[5];
    for (int i = 0; i < 5; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &q[i]));
    s = stats_until(ex, saturated_1);
    CU_ASSERT_EQUAL(s.handed_out, 2);
    CU_ASSERT_EQUAL(s.pending, 3);
    CU_ASSERT_EQUAL(s.workers, 1);
    CU_ASSERT_EQUAL(s.idle_workers, 0);
    CU_ASSERT(pp_future_running(q[0]) && pp_future_running(q[1]));
    CU_ASSERT(!pp_future_running(q[2]) && !pp_future_done(q[2]));
    /* the pending ones can be cancelled; the stats count them when the manager drops them */
    for (int i = 2; i < 5; i++)
        CU_ASSERT(pp_future_cancel(q[i]));
    CU_ASSERT(!pp_future_cancel(q[0]));
    for (int i = 0; i < 5; i++) {
        pp_status st = pp_future_result(q[i], PP_T_TIMEOUT_MS, NULL);
        CU_ASSERT_EQUAL(st, i < 2 ? PP_OK : PP_ECANCELLED);
        pp_future_release(q[i]);
    }
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.completed, 2);
    CU_ASSERT_EQUAL(s.cancelled, 3);
    CU_ASSERT_EQUAL(s.workers, 0);
    CU_ASSERT_EQUAL(s.pending, 0);
    CU_ASSERT_EQUAL(s.handed_out, 0);
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &n));
    CU_ASSERT_EQUAL(n, 0);
    pp_executor_destroy(ex);
}

/* Saturation: never more than max_workers processes, by stats and by worker_pids, and the
 * pids the tasks report are among at most max_workers distinct ones (CPython
 * test_saturation); never more calls handed out than the window: max_workers + 1, or with
 * the pipeline max_workers x its depth + 1 (docs/design.md, "The pipeline"). */
static void test_saturation(void)
{
    enum { N = 12 };
    int depth = pp_t_start == PP_START_MPI ? 0 : pp__pipeline_depth();
    size_t window = 2 * (size_t)(depth > 0 ? depth : 1) + 1;
    pp_executor *ex = pp_t_executor(2);
    pp_t_sleep_arg a = {50, 0};
    pp_future *fs[N], *ps[N];
    for (int i = 0; i < N; i++) {
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
        PP_ASSERT_OK_FATAL(pp_submit(ex, "pid", NULL, 0, &ps[i]));
        size_t n = 0;
        pp_executor_stats s;
        PP_ASSERT_OK(pp_executor_worker_pids(ex, NULL, 0, &n));
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
        CU_ASSERT(n <= 2);
        CU_ASSERT(s.workers <= 2);
        CU_ASSERT(s.workers_started <= 2);
        CU_ASSERT(s.handed_out <= window);
    }
    long long distinct[N + 1];
    size_t nd = 0;
    for (int i = 0; i < N; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(ps[i], PP_T_TIMEOUT_MS, &r));
        long long pid = 0;
        if (r.len == sizeof pid)
            memcpy(&pid, r.data, sizeof pid);
        if (!pid_in(pid, distinct, nd))
            distinct[nd++] = pid;
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, NULL));
        pp_future_release(fs[i]);
        pp_future_release(ps[i]);
    }
    CU_ASSERT(nd >= 1 && nd <= 2);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 2);
    CU_ASSERT_EQUAL(s.completed, 2 * N);
    pp_executor_destroy(ex);
}

/* Idle workers are reused before new ones start: once three workers exist, more work (in
 * bursts of up to three, or one at a time) starts no fourth, and runs in those three. */
static void test_idle_workers_reused(void)
{
    PP_T_SKIP_IF_FORK("all workers are forked at the first submit (start suite)");
    pp_executor *ex = pp_t_executor(4);
    pp_t_sleep_arg a = {300, 0};
    pp_future *fs[3];
    pp_t_run_each(ex, "sleep", &a, sizeof a, fs, 3);
    long long pids[4];
    size_t n = 0;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &n));
    CU_ASSERT_EQUAL_FATAL(n, 3);
    for (int round = 0; round < 5; round++) {
        int burst = round % 3 + 1; /* 1, 2, 3, 1, 2 concurrent tasks */
        pp_future *ps[3];
        for (int i = 0; i < burst; i++)
            PP_ASSERT_OK_FATAL(pp_submit(ex, "pid", NULL, 0, &ps[i]));
        for (int i = 0; i < burst; i++) {
            pp_buf r;
            long long pid = 0;
            PP_ASSERT_OK(pp_future_result(ps[i], PP_T_TIMEOUT_MS, &r));
            if (r.len == sizeof pid)
                memcpy(&pid, r.data, sizeof pid);
            CU_ASSERT(pid_in(pid, pids, 3));
            pp_future_release(ps[i]);
        }
    }
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 3);
    CU_ASSERT_EQUAL(s.workers, 3);
    pp_executor_destroy(ex);
}

/* A failed task's pid is that of the worker that ran it. */
static void test_error_pid_is_worker(void)
{
    pp_executor *ex = pp_t_executor(1);
    long long pid = pp_t_task_pid(ex);
    int32_t neg = -1;
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "square", &neg, sizeof neg, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(f, PP_T_TIMEOUT_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ETASK);
    CU_ASSERT_EQUAL(e->pid, pid);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* A task registered in the parent but not in the workers: submit succeeds, the future fails
 * PP_ENOTASK naming the task and the worker, and the pool is not broken. */
static void test_task_unknown_in_worker(void)
{
    PP_T_SKIP_IF_FORK("a forked worker is a copy of this process: it knows the same tasks");
    set_env("PP_T_HIDE_PARENT_ONLY", "1"); /* inherited by the workers started below */
    pp_executor *ex = pp_t_executor(1);
    pp_future *f;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "parent_only", "abc", 3, &f));
    pp_buf r = {(void *)1, 9};
    CU_ASSERT_EQUAL(pp_future_result(f, PP_T_TIMEOUT_MS, &r), PP_ENOTASK);
    CU_ASSERT_EQUAL(r.len, 0);
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(f, 0, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_ENOTASK);
    CU_ASSERT(e->pid > 0 && e->pid != pp_t_getpid());
    CU_ASSERT(strstr(e->message, "parent_only") != NULL);
    pp_future_release(f);

    /* the same through map: each item reports it at its position */
    pp_buf args[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
    pp_map_iter *it;
    PP_ASSERT_OK_FATAL(pp_map(ex, "parent_only", args, 3, 2, PP_T_TIMEOUT_MS, &it));
    for (int i = 0; i < 3; i++) {
        const pp_error *me = NULL;
        CU_ASSERT_EQUAL(pp_map_next(it, NULL, &me), PP_ENOTASK);
        CU_ASSERT(me && me->status == PP_ENOTASK);
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);

    /* not broken: other tasks still run in the same worker */
    PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", "ok", 2, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == 2 && memcmp(r.data, "ok", 2) == 0);
    pp_future_release(f);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_died, 0);
    CU_ASSERT_EQUAL(s.workers_started, 1);
    CU_ASSERT(s.failed >= 1); /* the submit; stats count work items (a map chunk is one) */
    pp_executor_destroy(ex);
    set_env("PP_T_HIDE_PARENT_ONLY", NULL);
}

/* Many submits of no-op tasks all complete; so do many with a tiny pool of one. */
static void test_many_noops(void)
{
    enum { N = 2000 };
    pp_executor *ex = pp_t_executor(1);
    pp_future **fs = calloc(N, sizeof *fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
    for (int i = 0; i < N; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &fs[i]));
    bool *done = calloc(N, sizeof *done);
    size_t n_done = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(done);
    PP_ASSERT_OK(pp_wait(fs, N, PP_T_TIMEOUT_MS, PP_ALL_COMPLETED, done, &n_done));
    CU_ASSERT_EQUAL(n_done, N);
    for (int i = 0; i < N; i++) {
        CU_ASSERT(done[i]);
        PP_ASSERT_OK(pp_future_result(fs[i], 0, NULL));
        pp_future_release(fs[i]);
    }
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.completed, N);
    CU_ASSERT_EQUAL(s.workers_started, 1);
    free(done);
    free(fs);
    pp_executor_destroy(ex);
}

static atomic_int slow_cb_started, slow_cb_finished, submits_done, slow_cb_timed_out;
static void slow_callback(pp_future *f, void *ud)
{
    (void)f, (void)ud;
    atomic_store(&slow_cb_started, 1);
    /* the manager thread is stuck here until the test's submits are all done (bounded) */
    long long end = pp_t_now_ms() + 30000;
    while (!atomic_load(&submits_done) && pp_t_now_ms() < end)
        pp_t_sleep_ms(2);
    if (!atomic_load(&submits_done))
        atomic_store(&slow_cb_timed_out, 1);
    atomic_store(&slow_cb_finished, 1);
}

/* submit never blocks on the manager: with the manager stuck in a slow done callback,
 * thousands of submits (each a wakeup) return before it is free again (CPython gh-105829:
 * a full wakeup pipe deadlocked submit). The callback waits for the submits: if a submit
 * waited for the manager, the callback would time out. */
static void test_submit_does_not_block_on_manager(void)
{
#ifdef _WIN32
    enum { N = 5000 }; /* an event is the wakeup there (no pipe to fill); and a call costs ~1
                          ms under Wine: 20000 outlasted the bound on a loaded machine */
#else
    enum { N = 20000 };
#endif
    pp_executor *ex = pp_t_executor(1);
    atomic_store(&slow_cb_started, 0);
    atomic_store(&slow_cb_finished, 0);
    atomic_store(&submits_done, 0);
    atomic_store(&slow_cb_timed_out, 0);
    pp_future *f;
    /* a call that cannot finish before its callback is added (else the callback would run
     * here, on the test thread) */
    pp_t_sleep_arg a = {200, 0};
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &f));
    PP_ASSERT_OK(pp_future_add_done_callback(f, slow_callback, NULL));
    long long end = pp_t_now_ms() + PP_T_TIMEOUT_MS;
    while (!atomic_load(&slow_cb_started) && pp_t_now_ms() < end)
        pp_t_sleep_ms(2);
    CU_ASSERT_FATAL(atomic_load(&slow_cb_started));
    pp_future **fs = calloc(N, sizeof *fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
    for (int i = 0; i < N; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &fs[i]));
    CU_ASSERT(!atomic_load(&slow_cb_finished)); /* none of them waited for the manager */
    atomic_store(&submits_done, 1);
    size_t n_done = 0;
    PP_ASSERT_OK(pp_wait(fs, N, 2 * PP_T_TIMEOUT_MS, PP_ALL_COMPLETED, NULL, &n_done));
    CU_ASSERT_EQUAL(n_done, N);
    CU_ASSERT(!atomic_load(&slow_cb_timed_out));
    for (int i = 0; i < N; i++)
        pp_future_release(fs[i]);
    free(fs);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* A worker program that is not a procpool worker (it exits at once): the pool breaks,
 * naming the exit, and nothing hangs. */
static void test_foreign_worker_program(void)
{
    PP_T_SKIP_IF_MPI("worker_path, max_tasks_per_child, cpu count: n/a to MPI ranks");
    PP_T_SKIP_IF_FORK("fork runs no program: worker_path is PP_EINVAL (missing program test)");
#ifdef _WIN32
    printf("SKIP: uses /bin/true\n");
#else
    const char *prog = "/bin/true";
    FILE *probe = fopen(prog, "rb");
    if (!probe) {
        printf("SKIP: no %s\n", prog);
        return;
    }
    fclose(probe);
    pp_executor_options o;
    pp_t_options_init(&o);
    o.worker_path = prog;
    o.max_workers = 2;
    pp_executor *ex;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    pp_future *fs[3];
    for (int i = 0; i < 3; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &fs[i]));
    for (int i = 0; i < 3; i++) {
        const pp_error *e = NULL;
        PP_ASSERT_OK(pp_future_exception(fs[i], 10000, &e));
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
        if (pp_t_start == PP_START_FORKSERVER) { /* the server program is the foreign one */
            CU_ASSERT(strstr(e->message, "forkserver") != NULL);
        } else {
            CU_ASSERT(strstr(e->message, "exited with code 0") != NULL);
        }
        pp_future_release(fs[i]);
    }
    pp_future *g = NULL;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &g), PP_EBROKEN);
    pp_executor_destroy(ex);
#endif
}

/* worker_path naming this program explicitly works like the default; the path is copied. */
static void test_explicit_worker_path(void)
{
    PP_T_SKIP_IF_MPI("worker_path, max_tasks_per_child, cpu count: n/a to MPI ranks");
    PP_T_SKIP_IF_FORK("fork runs no program: worker_path is PP_EINVAL (missing program test)");
    char *exe = NULL;
    PP_ASSERT_OK_FATAL(pp__os_exepath(&exe, NULL));
    size_t len = strlen(exe);
    char *copy = malloc(len + 1);
    CU_ASSERT_FATAL(copy != NULL);
    memcpy(copy, exe, len + 1);
    pp__free(exe);
    pp_executor_options o;
    pp_t_options_init(&o);
    o.worker_path = copy;
    o.max_workers = 2;
    pp_executor *ex;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    memset(copy, 'x', len); /* options are copied at create */
    free(copy);
    pp_future *fs[4];
    pp_t_echo_each(ex, fs, 4);
    pp_executor_destroy(ex);
}

/* idle_timeout_ms: an idle worker exits after it (not a death), so an idle pool holds no
 * process; new work starts workers again. Fails if the option is ignored: the worker would
 * stay. */
static void test_idle_timeout(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 2;
    o.idle_timeout_ms = 100;
    pp_executor *ex = NULL;
    if (pp_t_start == PP_START_FORK || pp_t_start == PP_START_MPI) { /* static pools */
        CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
        CU_ASSERT(strstr(pp_last_error(), "idle_timeout_ms") != NULL);
        return;
    }
    o.idle_timeout_ms = -5;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    o.idle_timeout_ms = 100;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    for (int round = 0; round < 2; round++) {
        long long pid = pp_t_task_pid(ex);
        CU_ASSERT(pid > 0);
        long long t0 = pp_t_now_ms();
        pp_executor_stats s = {0};
        size_t n = 1;
        long long pids[4];
        while (pp_t_now_ms() - t0 < PP_T_TIMEOUT_MS) {
            PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
            PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &n));
            if (s.workers == 0 && n == 0)
                break;
            pp_t_sleep_ms(10);
        }
        CU_ASSERT_EQUAL(s.workers, 0); /* the pool is idle: no worker process */
        CU_ASSERT_EQUAL(n, 0);
        CU_ASSERT(!pp_t_pid_alive(pid));
        CU_ASSERT_EQUAL(s.workers_died, 0);
        CU_ASSERT_EQUAL(s.workers_started, (unsigned long long)round + 1);
    }
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.completed, 2);
    CU_ASSERT_EQUAL(s.failed, 0);
    pp_executor_destroy(ex);
}

/* A busy worker does not time out: only idle time counts. */
static void test_idle_timeout_spares_busy(void)
{
    PP_T_SKIP_IF_FORK("idle_timeout_ms is PP_EINVAL with fork");
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    o.idle_timeout_ms = 50;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    pp_t_sleep_arg a = {300, 9}; /* six idle timeouts long */
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &f));
    pp_buf r;
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    CU_ASSERT(r.len == sizeof a.value && memcmp(r.data, &a.value, r.len) == 0);
    pp_future_release(f);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 1);
    CU_ASSERT_EQUAL(s.workers_died, 0);
    pp_executor_destroy(ex);
}

/* pp_executor_start_workers: n workers ready before any work, reused by later calls. */
static void test_start_workers(void)
{
    pp_executor *ex = pp_t_executor(2);
    CU_ASSERT_EQUAL(pp_executor_start_workers(NULL, 1), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_executor_start_workers(ex, 0), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_executor_start_workers(ex, 3), PP_EINVAL);
    CU_ASSERT(strstr(pp_last_error(), "pp_executor_start_workers") != NULL);
    PP_ASSERT_OK(pp_executor_start_workers(ex, 2));
    long long pids[4];
    size_t n = 0;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &n));
    CU_ASSERT_EQUAL(n, 2);
    for (size_t i = 0; i < n && i < 4; i++)
        CU_ASSERT(pp_t_pid_alive(pids[i]));
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers, 2);
    CU_ASSERT_EQUAL(s.workers_started, 2);
    PP_ASSERT_OK(pp_executor_start_workers(ex, 1)); /* already there: returns at once */
    for (int i = 0; i < 4; i++) {
        long long pid = pp_t_task_pid(ex);
        CU_ASSERT(pid == pids[0] || pid == pids[1]);
    }
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 2);
    pp_executor_shutdown(ex, true, false);
    CU_ASSERT_EQUAL(pp_executor_start_workers(ex, 1), PP_ESHUTDOWN);
    pp_executor_destroy(ex);

    /* an initializer that fails: the pool breaks, and says why */
    ex = pp_t_executor_init(2, "init_fail", NULL, 0);
    CU_ASSERT_EQUAL(pp_executor_start_workers(ex, 2), PP_EBROKEN);
    CU_ASSERT(strstr(pp_last_error(), "initializer") != NULL);
    pp_executor_destroy(ex);
}

/* max_pending: a full queue makes a submit wait (submit_wait_ms: 0 fails at once, a bound
 * times out, PP_FOREVER waits for room); shutdown, and a broken pool, wake a waiting
 * submit. */
typedef struct blocked_submit {
    pp_executor *ex;
    pp_status    st;
} blocked_submit;

static void submit_forever(void *arg)
{
    blocked_submit *b = arg;
    pp_future *f = NULL;
    b->st = pp_submit(b->ex, "noop", NULL, 0, &f);
    pp_future_release(f);
}

static void wait_handed_out(pp_executor *ex, size_t handed, size_t pending)
{
    long long t0 = pp_t_now_ms();
    pp_executor_stats s = {0};
    while (pp_t_now_ms() - t0 < PP_T_TIMEOUT_MS) {
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
        if (s.handed_out == handed && s.pending == pending)
            break;
        pp_t_sleep_ms(2);
    }
    CU_ASSERT_EQUAL(s.handed_out, handed);
    CU_ASSERT_EQUAL(s.pending, pending);
}

static void test_max_pending(void)
{
    PP_T_SKIP_IF_PIPELINE(PP_T_WINDOW_PIN);
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    o.max_pending = 2;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    pp_t_sleep_arg slow = {1500, 1};
    pp_future *fs[4];
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &fs[0]));
    for (int i = 1; i < 4; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &fs[i]));
    wait_handed_out(ex, 2, 2); /* the sleep and one no-op handed out, two queued: full */
    pp_call_options co;
    pp_call_options_init(&co);
    co.submit_wait_ms = 0;
    pp_future *g = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit_ex(ex, "noop", NULL, 0, &co, &g), PP_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(g);
    CU_ASSERT(strstr(pp_last_error(), "max_pending") != NULL);
    co.submit_wait_ms = 30;
    CU_ASSERT_EQUAL(pp_submit_ex(ex, "noop", NULL, 0, &co, &g), PP_ETIMEDOUT);
    /* without a bound: returns once the sleep ends and the queue moves */
    PP_ASSERT_OK(pp_submit(ex, "noop", NULL, 0, &g));
    CU_ASSERT(pp_future_done(fs[0]) || pp_future_running(fs[0]));
    PP_ASSERT_OK(pp_future_result(g, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(g);
    pp_t_finish_each(fs, 4);

    /* a submit waiting for room wakes with PP_ESHUTDOWN when the executor shuts down */
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &fs[0]));
    for (int i = 1; i < 4; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &fs[i]));
    wait_handed_out(ex, 2, 2);
    blocked_submit b = {ex, PP_OK};
    pp_t_thread *t = pp_t_thread_start(submit_forever, &b);
    pp_t_sleep_ms(50); /* it is (very likely) waiting; either way the outcome is the same */
    PP_ASSERT_OK(pp_executor_shutdown(ex, false, true));
    pp_t_thread_join(t);
    CU_ASSERT_EQUAL(b.st, PP_ESHUTDOWN);
    for (int i = 0; i < 4; i++)
        pp_future_release(fs[i]);
    pp_executor_destroy(ex);

    /* ... and with PP_EBROKEN when the pool breaks (its worker killed) */
    if (pp_t_start == PP_START_MPI) {
        printf("SKIP (mpi, broken part): killing a rank ends the MPI job ");
        return;
    }
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &slow, sizeof slow, &fs[0]));
    for (int i = 1; i < 4; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &fs[i]));
    wait_handed_out(ex, 2, 2);
    b = (blocked_submit){ex, PP_OK};
    t = pp_t_thread_start(submit_forever, &b);
    pp_t_sleep_ms(50);
    long long pids[2];
    size_t np = 0;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 2, &np));
    CU_ASSERT_FATAL(np == 1);
    CU_ASSERT_EQUAL(pp_t_kill_pid(pids[0]), 0);
    pp_t_thread_join(t);
    CU_ASSERT_EQUAL(b.st, PP_EBROKEN);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(pp_future_result(fs[i], PP_T_TIMEOUT_MS, NULL), PP_EBROKEN);
        pp_future_release(fs[i]);
    }
    pp_executor_destroy(ex);
}

/* map respects max_pending (a chunk is one call): everything still runs, in order. */
static void test_max_pending_map(void)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 2;
    o.max_pending = 3;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    enum { N = 200 };
    int32_t xs[N];
    pp_buf args[N];
    for (int i = 0; i < N; i++) {
        xs[i] = i;
        args[i] = (pp_buf){&xs[i], sizeof xs[i]};
    }
    pp_map_iter *it = NULL;
    PP_ASSERT_OK_FATAL(pp_map(ex, "square", args, N, 7, PP_T_TIMEOUT_MS, &it));
    for (int i = 0; i < N; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        int64_t v = -1; /* square returns an int64 */
        if (r.len == sizeof v)
            memcpy(&v, r.data, sizeof v);
        CU_ASSERT_EQUAL(v, (int64_t)i * i);
    }
    pp_map_free(it);
    pp_executor_destroy(ex);
}

/* pp_executor_workers: every live worker, its state, its call, its counts. */
static void test_workers_view(void)
{
    pp_executor *ex = pp_t_executor(2);
    size_t n = 99;
    pp_worker_info wi[4];
    CU_ASSERT_EQUAL(pp_executor_workers(NULL, wi, 4, &n), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_executor_workers(ex, NULL, 4, &n), PP_EINVAL);
    CU_ASSERT_EQUAL(pp_executor_workers(ex, wi, 4, NULL), PP_EINVAL);
    PP_ASSERT_OK(pp_executor_workers(ex, NULL, 0, &n));
    CU_ASSERT_EQUAL(n, 0); /* none yet */
    PP_ASSERT_OK(pp_executor_start_workers(ex, 2));
    pp_t_sleep_arg a = {600, 3};
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &f));
    long long t0 = pp_t_now_ms();
    int busy = -1;
    while (busy < 0 && pp_t_now_ms() - t0 < PP_T_TIMEOUT_MS) {
        PP_ASSERT_OK(pp_executor_workers(ex, wi, 4, &n));
        for (size_t i = 0; i < n && i < 4; i++)
            if (wi[i].state == PP_WORKER_BUSY)
                busy = (int)i;
        if (busy < 0)
            pp_t_sleep_ms(2);
    }
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_FATAL(busy >= 0);
    CU_ASSERT_STRING_EQUAL(wi[busy].task, "sleep");
    CU_ASSERT(wi[busy].work_id > 0);
    CU_ASSERT(wi[busy].busy_ms >= 0);
    long long pids[4];
    size_t np = 0;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &np));
    CU_ASSERT_EQUAL(np, n);
    for (size_t i = 0; i < n && i < 4; i++) {
        CU_ASSERT(wi[i].pid == pids[0] || wi[i].pid == pids[1]);
        if ((int)i != busy) {
            CU_ASSERT_EQUAL(wi[i].state, PP_WORKER_IDLE);
            CU_ASSERT_PTR_NULL(wi[i].task);
            CU_ASSERT_EQUAL(wi[i].work_id, 0);
        }
#ifdef __linux__
        CU_ASSERT(wi[i].rss > 0);
#endif
    }
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(f);
    t0 = pp_t_now_ms();
    unsigned long long calls = 0;
    while (pp_t_now_ms() - t0 < PP_T_TIMEOUT_MS) {
        PP_ASSERT_OK(pp_executor_workers(ex, wi, 4, &n));
        calls = 0;
        for (size_t i = 0; i < n && i < 4; i++)
            calls += wi[i].calls;
        if (calls == 1)
            break;
        pp_t_sleep_ms(2);
    }
    CU_ASSERT_EQUAL(calls, 1);
    PP_ASSERT_OK(pp_executor_workers(ex, wi, 1, &n)); /* cap below the count */
    CU_ASSERT_EQUAL(n, 2);
    pp_executor_destroy(ex);
}

static CU_TestInfo tests[] = {
    {"pp_executor_workers: state, call, counts, resident set", test_workers_view},
    {"max_pending: submit waits, times out, or fails at once; shutdown wakes it",
     test_max_pending},
    {"max_pending: map's chunks respect it", test_max_pending_map},
    {"pp_executor_start_workers: ready before any work, then reused", test_start_workers},
    {"idle_timeout_ms: an idle pool holds no worker; work starts them again",
     test_idle_timeout},
    {"idle_timeout_ms: a busy worker is not stopped", test_idle_timeout_spares_busy},
    {"results of echo, square, empty and copied arguments", test_results},
    {"task failures: code, message, pid", test_task_errors},
    {"bad arguments", test_bad_arguments},
    {"executor options", test_options},
    {"a missing worker program breaks the pool without hanging", test_missing_worker_program},
    {"sequential submits reuse one worker", test_sequential_reuse_one_worker},
    {"workers start on demand up to max_workers", test_workers_on_demand_up_to_max},
    {"max_workers 0 is pp_cpu_count()", test_default_max_workers},
    {"2000 tasks", test_many_tasks},
    {"submits from four threads", test_submit_from_threads},
    {"max_tasks_per_child replaces workers every N items", test_max_tasks_per_child},
    {"max_tasks_per_child under load and shutdown(wait=false)", test_max_tasks_under_load},
    {"task error text: intact to 64 KiB, truncated beyond", test_error_text_limit},
    {"submit after shutdown", test_submit_after_shutdown},
    {"worker pids and stats are consistent", test_pids_and_stats_consistent},
    {"saturation: never more than max_workers processes", test_saturation},
    {"idle workers are reused before new ones start", test_idle_workers_reused},
    {"a task failure names the worker that ran it", test_error_pid_is_worker},
    {"a task unknown in the workers fails PP_ENOTASK", test_task_unknown_in_worker},
    {"2000 no-op tasks on one worker", test_many_noops},
    {"submit does not block while the manager is busy", test_submit_does_not_block_on_manager},
    {"a worker program that is not a procpool worker", test_foreign_worker_program},
    {"worker_path naming this program, copied at create", test_explicit_worker_path},
    {"status strings", test_status_strings},
    {"registration is closed after pp_worker_main", test_registration_closed},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_submit = {"submit", NULL, NULL, NULL, NULL, tests};
