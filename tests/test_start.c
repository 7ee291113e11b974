/*
 * The start methods' own rules (every other suite also runs once per start method):
 * fork forks all workers at the first submit and none later, as copies of this process;
 * forkserver's workers are children of one server per program, which outlives executors,
 * takes its workers with it when it dies, and is replaced when needed. Windows: only spawn.
 */
#include <stdlib.h>

#include "pp_test.h"
#include "pp_core.h"
#include "pp_os.h"

#ifndef _WIN32
#  include <fcntl.h>
#  include <signal.h>
#  include <unistd.h>
#endif
#ifdef __linux__
#  include <dirent.h>
#endif

#define BOUND_MS 20000L

/* Set by a test at run time, after registration: a forked worker sees the value the parent
 * had when it forked; a spawned one sees the program's initial value. */
static volatile int fork_marker = 0;

static int t_fork_marker(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    int v = fork_marker;
    return pp_task_return(c, &v, sizeof v) == PP_OK ? 0 : 1;
}

static int t_ppid(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
#ifdef _WIN32
    long long v = 0;
#else
    long long v = (long long)getppid();
#endif
    return pp_task_return(c, &v, sizeof v) == PP_OK ? 0 : 1;
}

/* The worker's open descriptors, from /proc/self/fd (Linux; else an empty result), but the
 * library's payload segments: a bit per descriptor below 64, and their count in the top byte... as {uint64 mask, int32 n,
 * int32 channel_is_socket}. */
typedef struct fd_report {
    uint64_t mask;
    int32_t  n;
    int32_t  fd3_socket;
} fd_report;

static int t_fds(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    fd_report r = {0, -1, 0};
#ifdef __linux__
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int self = dirfd(d);
        r.n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            int fd = atoi(e->d_name);
            if (fd == self)
                continue;
            /* the payload segments it keeps mapped (src/core/seg.h: memfds it may have to
             * grow for a result) are the library's own, not inherited */
            char path[64], tgt[256];
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            ssize_t tl = readlink(path, tgt, sizeof tgt - 1);
            if (tl > 0 && (tgt[tl] = 0, strncmp(tgt, "/memfd:procpool", 15) == 0))
                continue;
            /* nor the unwinder the crash report needs, being loaded by a thread of the
             * worker's own for a moment after it starts (src/posix/sys.c) */
            if (tl > 0 && strstr(tgt, "libgcc_s"))
                continue;
            r.n++;
            if (fd < 64)
                r.mask |= 1ull << fd;
        }
        closedir(d);
        char target[64];
        ssize_t len = readlink("/proc/self/fd/3", target, sizeof target - 1);
        if (len > 0) {
            target[len] = 0;
            r.fd3_socket = strncmp(target, "socket:", 7) == 0;
        }
    }
#endif
    return pp_task_return(c, &r, sizeof r) == PP_OK ? 0 : 1;
}

void pp_t_register_start_tasks(void)
{
    if (pp_register_task("fork_marker", t_fork_marker) != PP_OK ||
        pp_register_task("fds", t_fds) != PP_OK ||
        pp_register_task("ppid", t_ppid) != PP_OK) {
        fprintf(stderr, "pp_tests: cannot register the start suite's tasks\n");
        exit(2);
    }
}

#ifdef _WIN32

static void test_windows_spawn_only(void)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
    pp_executor *ex = (pp_executor *)1;
    o.start_method = PP_START_FORK;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_ENOTSUP);
    CU_ASSERT_PTR_NULL(ex);
    o.start_method = PP_START_FORKSERVER;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_ENOTSUP);
    CU_ASSERT_PTR_NULL(ex);
    printf("SKIP (the other cases): fork and forkserver are POSIX-only\n");
}

static CU_TestInfo tests[] = {
    {"fork and forkserver are PP_ENOTSUP on Windows", test_windows_spawn_only},
    CU_TEST_INFO_NULL,
};

#else

static pp_executor *executor_with(pp_start_method m, int workers)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.start_method = m;
    o.max_workers = workers;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    return ex;
}

static long long call_ll(pp_executor *ex, const char *task)
{
    pp_future *f = NULL;
    PP_ASSERT_OK(pp_submit(ex, task, NULL, 0, &f));
    if (!f)
        return -1;
    pp_buf r;
    long long v = -1;
    if (pp_future_result(f, PP_T_TIMEOUT_MS, &r) == PP_OK && r.len == sizeof v)
        memcpy(&v, r.data, sizeof v);
    pp_future_release(f);
    return v;
}

static int sorted_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* fork: nothing before the first submit; all max_workers right after it (before it
 * returns); none later, however much work comes. */
static void test_fork_all_workers_at_first_submit(void)
{
    pp_executor *ex = executor_with(PP_START_FORK, 3);
    pp_executor_stats s;
    long long pids[4], later[4];
    size_t n = 0;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 0);
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &n));
    CU_ASSERT_EQUAL(n, 0);

    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "noop", NULL, 0, &f));
    PP_ASSERT_OK(pp_executor_worker_pids(ex, pids, 4, &n)); /* before the result */
    CU_ASSERT_EQUAL(n, 3);
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, NULL));
    pp_future_release(f);

    enum { N = 60 };
    pp_future *fs[N];
    pp_t_sleep_arg a = {2, 0};
    pp_t_submit_each(ex, "sleep", &a, sizeof a, fs, N);
    size_t done = 0;
    PP_ASSERT_OK(pp_wait(fs, N, PP_T_TIMEOUT_MS, PP_ALL_COMPLETED, NULL, &done));
    CU_ASSERT_EQUAL(done, N);
    for (int i = 0; i < N; i++)
        pp_future_release(fs[i]);
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 3);
    CU_ASSERT_EQUAL(s.workers, 3);
    size_t m = 0;
    PP_ASSERT_OK(pp_executor_worker_pids(ex, later, 4, &m));
    CU_ASSERT_EQUAL_FATAL(m, 3);
    qsort(pids, 3, sizeof pids[0], sorted_cmp);
    qsort(later, 3, sizeof later[0], sorted_cmp);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(pids[i], later[i]);
    /* their parent is this process: no server in between */
    CU_ASSERT_EQUAL(call_ll(ex, "ppid"), pp_t_getpid());
    pp_executor_destroy(ex);
}

/* fork: a worker is a copy of this process as it was at the first submit (no exec); spawn
 * and forkserver workers start from the program's initial state. */
static void test_fork_copies_the_parent(void)
{
    static const pp_start_method ms[] = {PP_START_FORK, PP_START_SPAWN, PP_START_FORKSERVER};
    for (size_t i = 0; i < 3; i++) {
        fork_marker = 4242;
        pp_executor *ex = executor_with(ms[i], 1);
        pp_future *f = NULL;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "fork_marker", NULL, 0, &f));
        fork_marker = 0; /* after the fork: the copy keeps 4242 */
        pp_buf r;
        int v = -1;
        PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
        if (r.len == sizeof v)
            memcpy(&v, r.data, sizeof v);
        CU_ASSERT_EQUAL(v, ms[i] == PP_START_FORK ? 4242 : 0);
        pp_future_release(f);
        pp_executor_destroy(ex);
    }
}

/* fork: shutdown, terminate or destroy before the first submit start nothing; a submit
 * after shutdown is refused without forking. */
static void test_fork_unstarted_pool(void)
{
    pp_executor *ex = executor_with(PP_START_FORK, 2);
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    pp_future *f = (pp_future *)1;
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &f), PP_ESHUTDOWN);
    CU_ASSERT_PTR_NULL(f);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 0);
    pp_executor_destroy(ex);

    ex = executor_with(PP_START_FORK, 2);
    PP_ASSERT_OK(pp_executor_kill_workers(ex));
    CU_ASSERT_EQUAL(pp_submit(ex, "noop", NULL, 0, &f), PP_ESHUTDOWN);
    pp_executor_destroy(ex);

    pp_executor_destroy(executor_with(PP_START_FORK, 2)); /* never used */
}

/* forkserver: the workers of two executors are children of the same server, itself a
 * child of this process that outlives both executors. */
static void test_forkserver_shared_server(void)
{
    pp_executor *a = executor_with(PP_START_FORKSERVER, 1);
    pp_executor *b = executor_with(PP_START_FORKSERVER, 2);
    long long sa = call_ll(a, "ppid"), sb = call_ll(b, "ppid");
    CU_ASSERT(sa > 0);
    CU_ASSERT_EQUAL(sa, sb);
    CU_ASSERT_NOT_EQUAL(sa, pp_t_getpid());
    CU_ASSERT_NOT_EQUAL(call_ll(a, "pid"), call_ll(b, "pid"));
    pp_executor_destroy(a);
    pp_executor_destroy(b);
    CU_ASSERT(pp_t_pid_alive(sa)); /* the server stays for the next executor */
    if (pp_t_ppid_of(sa) >= 0) {
        CU_ASSERT_EQUAL(pp_t_ppid_of(sa), pp_t_getpid());
    } else {
        printf("SKIP (server's parent): needs /proc\n");
    }
    pp_executor *c = executor_with(PP_START_FORKSERVER, 1);
    CU_ASSERT_EQUAL(call_ll(c, "ppid"), sa);
    pp_executor_destroy(c);
}

/* forkserver: a server that dies takes its workers with it (their pool breaks, nothing
 * hangs), and the next executor gets a new server. */
static void test_forkserver_server_dies(void)
{
    pp_executor *ex = executor_with(PP_START_FORKSERVER, 2);
    long long server = call_ll(ex, "ppid");
    CU_ASSERT_FATAL(server > 0 && server != pp_t_getpid());
    pp_t_sleep_arg busy = {30000, 0};
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &busy, sizeof busy, &f));
    long long end = pp_t_now_ms() + BOUND_MS;
    while (!pp_future_running(f) && pp_t_now_ms() < end)
        pp_t_sleep_ms(5);
    pp_t_sleep_ms(50); /* the call is in the worker */
    CU_ASSERT_EQUAL_FATAL(kill((pid_t)server, SIGKILL), 0);
    const pp_error *e = NULL;
    PP_ASSERT_OK(pp_future_exception(f, BOUND_MS, &e)); /* bounded: never hangs */
    CU_ASSERT(e != NULL && e->status == PP_EBROKEN);
    pp_future_release(f);
    pp_executor_destroy(ex);

    ex = executor_with(PP_START_FORKSERVER, 1);
    long long again = call_ll(ex, "ppid");
    CU_ASSERT(again > 0 && again != server && again != pp_t_getpid());
    pp_executor_destroy(ex);
    CU_ASSERT(!pp_t_pid_alive(server)); /* the dead server was reaped */
}

/* forkserver: recycled workers (max_tasks_per_child) come from the same server. */
static void test_forkserver_recycles(void)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.start_method = PP_START_FORKSERVER;
    o.max_workers = 1;
    o.max_tasks_per_child = 1;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    long long p1 = call_ll(ex, "pid"), s1 = call_ll(ex, "ppid");
    long long p2 = call_ll(ex, "pid"), s2 = call_ll(ex, "ppid");
    CU_ASSERT(p1 > 0 && p2 > 0 && p1 != p2);
    CU_ASSERT(s1 > 0 && s1 == s2);
    pp_executor_stats s;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
    CU_ASSERT_EQUAL(s.workers_started, 4);
    CU_ASSERT_EQUAL(s.workers_died, 0);
    pp_executor_destroy(ex);
}

/* Every start method: a worker holds exactly stdin, stdout, stderr and its channel
 * (descriptor 3, a socket), even when the parent has an inheritable descriptor and other
 * pools' channels open (fork copies all of them: the child closes them). */
static void test_worker_descriptors_every_method(void)
{
#ifndef __linux__
    printf("SKIP: needs /proc/self/fd\n");
#else
    static const pp_start_method ms[] = {PP_START_SPAWN, PP_START_FORK, PP_START_FORKSERVER};
    int stray = open("/dev/null", O_RDONLY); /* inheritable */
    CU_ASSERT_FATAL(stray >= 0);
    pp_executor *other = executor_with(PP_START_SPAWN, 2); /* channels open in the parent */
    CU_ASSERT(call_ll(other, "pid") > 0);
    for (size_t i = 0; i < 3; i++) {
        pp_executor *ex = executor_with(ms[i], 2);
        pp_future *fs[2];
        pp_t_sleep_arg a = {100, 0}; /* two at once: both workers answer */
        for (int k = 0; k < 2; k++)
            PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[k]));
        for (int k = 0; k < 2; k++) {
            PP_ASSERT_OK(pp_future_result(fs[k], PP_T_TIMEOUT_MS, NULL));
            pp_future_release(fs[k]);
        }
        for (int k = 0; k < 2; k++) {
            pp_future *f = NULL;
            PP_ASSERT_OK_FATAL(pp_submit(ex, "fds", NULL, 0, &f));
            pp_buf r;
            fd_report rep = {0, -1, 0};
            PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
            if (r.len == sizeof rep)
                memcpy(&rep, r.data, sizeof rep);
            if (rep.n != 4 || rep.mask != 0xFu)
                printf("(%s worker: %d descriptors, mask %#llx) ",
                       i == 0 ? "spawn" : i == 1 ? "fork" : "forkserver", (int)rep.n,
                       (unsigned long long)rep.mask);
            CU_ASSERT_EQUAL(rep.n, 4);
            CU_ASSERT_EQUAL(rep.mask, 0xFu);
            CU_ASSERT(rep.fd3_socket);
            pp_future_release(f);
        }
        pp_executor_destroy(ex);
    }
    pp_executor_destroy(other);
    close(stray);
#endif
}

static CU_TestInfo tests[] = {
    {"every start method: a worker holds exactly 0, 1, 2 and its channel",
     test_worker_descriptors_every_method},
    {"fork: all workers at the first submit, none later", test_fork_all_workers_at_first_submit},
    {"fork: a worker is a copy of the parent at the first submit", test_fork_copies_the_parent},
    {"fork: a pool never submitted to starts nothing", test_fork_unstarted_pool},
    {"forkserver: one server for every executor, outliving them", test_forkserver_shared_server},
    {"forkserver: a dead server breaks its pools and is replaced", test_forkserver_server_dies},
    {"forkserver: recycled workers come from the same server", test_forkserver_recycles},
    CU_TEST_INFO_NULL,
};

#endif

const CU_SuiteInfo pp_suite_start = {"start", NULL, NULL, NULL, NULL, tests};
