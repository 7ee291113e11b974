/*
 * The submit suite: pp_submit results and errors, argument checks, options, worker reuse
 * and on-demand start, submits from several threads, stats.
 */
#include <stdlib.h>
#include <string.h>

#include "pp_test.h"

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
    pp_future_release(f);

    /* a failure without text gets a default message naming the task and code */
    int32_t code = 5;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "fail", &code, sizeof code, &f));
    PP_ASSERT_OK(pp_future_exception(f, PP_T_TIMEOUT_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
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

    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.failed, 3);
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
    o.start_method = PP_START_FORK;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_ENOTSUP);
    o.start_method = PP_START_FORKSERVER;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_ENOTSUP);
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
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.worker_path = "/nonexistent/procpool-worker";
    pp_executor *ex;
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

static long long task_pid(pp_executor *ex)
{
    pp_future *f;
    pp_buf r;
    long long pid = -1;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "pid", NULL, 0, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    if (r.len == sizeof pid)
        memcpy(&pid, r.data, sizeof pid);
    pp_future_release(f);
    return pid;
}

/* Sequential submits reuse one idle worker: CPython's idle-worker semaphore. */
static void test_sequential_reuse_one_worker(void)
{
    pp_executor *ex = pp_t_executor(4);
    long long first = task_pid(ex);
    CU_ASSERT(first > 0);
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(task_pid(ex), first);
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
    pp_executor *ex = pp_t_executor(2);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers, 0); /* none before any work */
    pp_t_sleep_arg a = {200, 0};
    pp_future *fs[8];
    for (int i = 0; i < 8; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
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
    pp_executor *ex = pp_t_executor(0);
    int cpus = pp_cpu_count();
    pp_t_sleep_arg a = {300, 0};
    int n = cpus + 2;
    pp_future **fs = calloc((size_t)n, sizeof *fs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fs);
    for (int i = 0; i < n; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    for (int i = 0; i < n; i++) {
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, NULL));
        pp_future_release(fs[i]);
    }
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
    for (int i = 0; i < N; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", &i, sizeof i, &fs[i]));
    for (int i = 0; i < N; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, &r));
        CU_ASSERT(r.len == sizeof i && memcmp(r.data, &i, sizeof i) == 0);
        pp_future_release(fs[i]);
    }
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
    for (int s = PP_OK; s <= PP_ESYS; s++)
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
    pp_executor_options_init(&o);
    o.max_workers = workers;
    o.max_tasks_per_child = max_tasks;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    return ex;
}

/* A worker exits after max_tasks_per_child items and is replaced: the pid changes every N. */
static void test_max_tasks_per_child(void)
{
    pp_executor *ex = executor_max_tasks(1, 3);
    long long pids[9];
    for (int i = 0; i < 9; i++)
        pids[i] = task_pid(ex);
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

static CU_TestInfo tests[] = {
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
    {"status strings", test_status_strings},
    {"registration is closed after pp_worker_main", test_registration_closed},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_submit = {"submit", NULL, NULL, NULL, NULL, tests};
