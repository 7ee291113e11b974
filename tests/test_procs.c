/*
 * The procs suite: how workers are started and what dies with them.
 *
 * Descendants: a task starts a `sleep 600` grandchild (POSIX; Windows: this program in its
 * --sleep-child mode) and writes its pid to a file, then hangs, crashes or returns. Whatever
 * ends its worker (a time limit, pp_future_abort, pp_executor_stop, kill_workers, a crash,
 * shutdown), the grandchild is gone within 2 s (a bounded poll). The parent-SIGKILL case is
 * in the shutdown suite ("a parent killed by SIGKILL leaves no worker behind").
 *
 * worker_env / worker_cwd under every start method (tasks getenv, getcwd), and the
 * forkserver's workers in the parent's directory of the moment. worker_memory_limit (task
 * alloc: malloc past it gets NULL; a worker that dies of it is a crash naming the limit) and
 * max_worker_rss (a leak past it replaces the worker, failing nothing).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#  include <direct.h>
#  include <windows.h>
#  define getcwd _getcwd
#  define chdir _chdir
#  define rmdir _rmdir
#  define make_dir(d) _mkdir(d)
#else
#  include <spawn.h>
#  include <sys/stat.h>
#  include <unistd.h>
#  define make_dir(d) mkdir(d, 0700)
#endif

#include "pp_test.h"

#define BOUND_MS 20000L
#define GONE_MS 2000L

#ifndef _WIN32
extern char **environ;
#endif

typedef struct gc_arg {
    int32_t mode; /* 0: hang 30 s (ignores stop requests), 1: crash, 2: return */
    char    path[480];
} gc_arg;

/* Starts the grandchild; its pid, or -1. */
static long long start_grandchild(void)
{
#ifdef _WIN32
    char exe[MAX_PATH], cmd[MAX_PATH + 32];
    if (!GetModuleFileNameA(NULL, exe, sizeof exe))
        return -1;
    snprintf(cmd, sizeof cmd, "\"%s\" --sleep-child", exe);
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
        return -1;
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    return (long long)pi.dwProcessId;
#else
    pid_t pid;
    char *argv[] = {(char *)"sleep", (char *)"600", NULL};
    if (posix_spawnp(&pid, "sleep", NULL, NULL, argv, environ) != 0)
        return -1;
    return (long long)pid;
#endif
}

int pp_t_sleep_child(void)
{
    for (int i = 0; i < 6000; i++)
        pp_t_sleep_ms(100);
    return 0;
}

/* Writes pid to path whole (a temporary file renamed over it). */
static int write_pid(const char *path, long long pid)
{
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%lld\n", pid);
    if (fclose(f) != 0)
        return -1;
#ifdef _WIN32
    return MoveFileExA(tmp, path, MOVEFILE_REPLACE_EXISTING) ? 0 : -1;
#else
    return rename(tmp, path);
#endif
}

static int t_grandchild(pp_task_ctx *c, const void *a, size_t n)
{
    gc_arg g;
    if (n != sizeof g) {
        pp_task_error(c, "grandchild: bad argument");
        return 1;
    }
    memcpy(&g, a, sizeof g);
    long long pid = start_grandchild();
    if (pid < 0 || write_pid(g.path, pid) != 0) {
        pp_task_error(c, "grandchild: cannot start it");
        return 1;
    }
    if (g.mode == 1) {
#ifdef _WIN32
        RaiseException(0xC0000005, EXCEPTION_NONCONTINUABLE, 0, NULL);
#else
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
#endif
    }
    if (g.mode == 0) {
        for (int i = 0; i < 300; i++)
            pp_t_sleep_ms(100);
    }
    return pp_task_return(c, &pid, sizeof pid) == PP_OK ? 0 : 1;
}

/* Returns the value of the environment variable named by the argument (with its NUL), or
 * fails "unset". */
static int t_getenv(pp_task_ctx *c, const void *a, size_t n)
{
    char name[128];
    if (n == 0 || n >= sizeof name) {
        pp_task_error(c, "getenv: bad argument");
        return 1;
    }
    memcpy(name, a, n);
    name[n] = 0;
    const char *v = getenv(name);
    if (!v) {
        pp_task_error(c, "unset");
        return 1;
    }
    return pp_task_return(c, v, strlen(v) + 1) == PP_OK ? 0 : 1;
}

/* Returns the worker's working directory (with its NUL). */
static int t_getcwd(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    char buf[4096];
    if (!getcwd(buf, sizeof buf)) {
        pp_task_error(c, "getcwd failed");
        return 1;
    }
    return pp_task_return(c, buf, strlen(buf) + 1) == PP_OK ? 0 : 1;
}

/* Asks malloc for the bytes given (a uint64); mode (a second uint64): 0 returns whether it
 * got NULL (an int32, the block freed), 1 dies (abort) if it got NULL, 2 touches every page
 * and keeps the block (a leak, still reachable: leaked[]). */
static void *leaked[64];
static int t_alloc(pp_task_ctx *c, const void *a, size_t n)
{
    uint64_t v[2];
    if (n != sizeof v) {
        pp_task_error(c, "alloc: bad argument");
        return 1;
    }
    memcpy(v, a, sizeof v);
    char *p = malloc((size_t)v[0]);
    int32_t got_null = p == NULL;
    if (got_null && v[1] == 1) {
        signal(SIGABRT, SIG_DFL);
        abort();
    }
    if (p && v[1] == 2) {
        memset(p, 1, (size_t)v[0]);
        for (size_t i = 0; i < sizeof leaked / sizeof leaked[0]; i++) {
            if (!leaked[i]) {
                leaked[i] = p;
                p = NULL;
                break;
            }
        }
    }
    free(p);
    return pp_task_return(c, &got_null, sizeof got_null) == PP_OK ? 0 : 1;
}

void pp_t_register_procs_tasks(void)
{
    if (pp_register_task("alloc", t_alloc) != PP_OK) {
        fprintf(stderr, "pp_tests: cannot register task alloc\n");
        exit(2);
    }
    if (pp_register_task("grandchild", t_grandchild) != PP_OK ||
        pp_register_task("getenv", t_getenv) != PP_OK ||
        pp_register_task("getcwd", t_getcwd) != PP_OK) {
        fprintf(stderr, "pp_tests: cannot register the procs suite's tasks\n");
        exit(2);
    }
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void gc_path(char *buf, size_t cap, const char *tag)
{
#ifdef _WIN32
    char dir[MAX_PATH];
    if (!GetTempPathA(sizeof dir, dir))
        strcpy(dir, ".\\");
    snprintf(buf, cap, "%spp_gc_%lld_%s", dir, pp_t_getpid(), tag);
#else
    const char *dir = getenv("TMPDIR");
    snprintf(buf, cap, "%s/pp_gc_%lld_%s", dir && *dir ? dir : "/tmp", pp_t_getpid(), tag);
#endif
    remove(buf);
}

/* The pid the task wrote, waiting for it (bounded); -1 if none came. */
static long long read_pid(const char *path)
{
    long long end = pp_t_now_ms() + BOUND_MS;
    while (pp_t_now_ms() < end) {
        FILE *f = fopen(path, "r");
        if (f) {
            long long pid = -1;
            int got = fscanf(f, "%lld", &pid);
            fclose(f);
            if (got == 1 && pid > 0) {
                remove(path);
                return pid;
            }
        }
        pp_t_sleep_ms(5);
    }
    return -1;
}

/* Whether pid is gone within GONE_MS; if not, kills it (nothing is left behind). */
static bool gone_soon(long long pid)
{
    long long t0 = pp_t_now_ms();
    while (pp_t_pid_alive(pid) && pp_t_now_ms() - t0 < GONE_MS)
        pp_t_sleep_ms(5);
    if (!pp_t_pid_alive(pid))
        return true;
    pp_t_kill_pid(pid);
    return false;
}

static pp_executor *gc_executor(pp_crash_policy policy, long limit_ms)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    o.crash_policy = policy;
    o.call_time_limit_ms = limit_ms;
    o.stop_grace_ms = 50;
    pp_executor *ex = NULL;
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    return ex;
}

/* Submits a grandchild task in mode, waits for the grandchild's pid. */
static pp_future *gc_submit(pp_executor *ex, int32_t mode, const char *tag, long long *gpid)
{
    gc_arg g;
    memset(&g, 0, sizeof g);
    g.mode = mode;
    gc_path(g.path, sizeof g.path, tag);
    pp_future *f = NULL;
    PP_ASSERT_OK(pp_submit(ex, "grandchild", &g, sizeof g, &f));
    *gpid = read_pid(g.path);
    CU_ASSERT(*gpid > 0);
    if (*gpid > 0 && mode != 1) /* (a crash may have taken it already) */
        CU_ASSERT(pp_t_pid_alive(*gpid));
    return f;
}

long long pp_t_submit_grandchild(pp_executor *ex, pp_future **f)
{
    gc_arg g;
    memset(&g, 0, sizeof g);
    gc_path(g.path, sizeof g.path, "orphan");
    if (pp_submit(ex, "grandchild", &g, sizeof g, f) != PP_OK)
        return -1;
    return read_pid(g.path);
}

/* ---- descendants ---------------------------------------------------------------------------- */

static void test_tree_time_limit(void)
{
    PP_T_SKIP_IF_MPI("remote workers are not this process's children");
    PP_T_SKIP_IF_FORK("fork has no time limits");
    pp_executor *ex = gc_executor(PP_CRASH_BREAK, 2000); /* (the grandchild starts first: Wine is slow) */
    if (!ex)
        return;
    long long g = -1;
    pp_future *f = gc_submit(ex, 0, "tl", &g);
    CU_ASSERT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_ETIMELIMIT);
    if (g > 0)
        CU_ASSERT(gone_soon(g));
    pp_future_release(f);
    pp_executor_destroy(ex);
}

static void test_tree_abort(void)
{
    PP_T_SKIP_IF_MPI("remote workers are not this process's children");
    PP_T_SKIP_IF_FORK("fork cannot replace a worker: no pp_future_abort");
    pp_executor *ex = gc_executor(PP_CRASH_BREAK, 0);
    if (!ex)
        return;
    long long g = -1;
    pp_future *f = gc_submit(ex, 0, "ab", &g);
    PP_ASSERT_OK(pp_future_abort(f));
    CU_ASSERT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_ECANCELLED);
    if (g > 0)
        CU_ASSERT(gone_soon(g));
    pp_future_release(f);
    pp_executor_destroy(ex);
}

static void test_tree_stop(void)
{
    PP_T_SKIP_IF_MPI("remote workers are not this process's children");
    pp_executor *ex = gc_executor(PP_CRASH_BREAK, 0);
    if (!ex)
        return;
    long long g = -1;
    pp_future *f = gc_submit(ex, 0, "st", &g);
    PP_ASSERT_OK(pp_executor_stop(ex, 50));
    CU_ASSERT_NOT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_OK);
    if (g > 0)
        CU_ASSERT(gone_soon(g));
    pp_future_release(f);
    pp_executor_destroy(ex);
}

static void test_tree_kill_workers(void)
{
    PP_T_SKIP_IF_MPI("remote workers are not this process's children");
    pp_executor *ex = gc_executor(PP_CRASH_BREAK, 0);
    if (!ex)
        return;
    long long g = -1;
    pp_future *f = gc_submit(ex, 0, "kw", &g);
    PP_ASSERT_OK(pp_executor_kill_workers(ex));
    CU_ASSERT_NOT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_OK);
    if (g > 0)
        CU_ASSERT(gone_soon(g));
    pp_future_release(f);
    pp_executor_destroy(ex);
}

static void test_tree_terminate_workers(void)
{
    PP_T_SKIP_IF_MPI("remote workers are not this process's children");
    pp_executor *ex = gc_executor(PP_CRASH_BREAK, 0);
    if (!ex)
        return;
    long long g = -1;
    pp_future *f = gc_submit(ex, 0, "tw", &g);
    PP_ASSERT_OK(pp_executor_terminate_workers(ex));
    CU_ASSERT_NOT_EQUAL(pp_future_result(f, BOUND_MS, NULL), PP_OK);
    if (g > 0)
        CU_ASSERT(gone_soon(g));
    pp_future_release(f);
    pp_executor_destroy(ex);
}

static void test_tree_crash(void)
{
    PP_T_SKIP_IF_MPI("remote workers are not this process's children");
    for (int policy = 0; policy < (pp_t_start == PP_START_FORK ? 1 : 2); policy++) {
        pp_executor *ex = gc_executor(policy ? PP_CRASH_ISOLATE : PP_CRASH_BREAK, 0);
        if (!ex)
            return;
        long long g = -1;
        pp_future *f = gc_submit(ex, 1, "cr", &g);
        CU_ASSERT_EQUAL(pp_future_result(f, BOUND_MS, NULL),
                        policy ? PP_EWORKERDIED : PP_EBROKEN);
        if (g > 0)
            CU_ASSERT(gone_soon(g));
        pp_future_release(f);
        pp_executor_destroy(ex);
    }
}

/* A grandchild left running by a call that returned dies when its worker is stopped at
 * shutdown. */
static void test_tree_shutdown(void)
{
    PP_T_SKIP_IF_MPI("remote workers are not this process's children");
    pp_executor *ex = gc_executor(PP_CRASH_BREAK, 0);
    if (!ex)
        return;
    long long g = -1;
    pp_future *f = gc_submit(ex, 2, "sd", &g);
    PP_ASSERT_OK(pp_future_result(f, BOUND_MS, NULL));
    PP_ASSERT_OK(pp_executor_shutdown(ex, true, false));
    if (g > 0)
        CU_ASSERT(gone_soon(g));
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* ---- worker_env, worker_cwd -------------------------------------------------------------- */

/* Runs task with the string arg on ex; its string result in out (empty if it failed). */
static pp_status run_str(pp_executor *ex, const char *task, const char *arg, char *out,
                         size_t cap)
{
    pp_future *f = NULL;
    out[0] = 0;
    pp_status st = pp_submit(ex, task, arg, arg ? strlen(arg) : 0, &f);
    if (st != PP_OK)
        return st;
    pp_buf r;
    st = pp_future_result(f, PP_T_TIMEOUT_MS, &r);
    if (st == PP_OK && r.len > 0 && r.len <= cap)
        memcpy(out, r.data, r.len);
    pp_future_release(f);
    return st;
}

static void test_worker_env(void)
{
    PP_T_SKIP_IF_MPI("mpiexec sets the ranks' environment (PP_ENOTSUP)");
    static const char *const env[] = {"PP_T_A=1", "PP_T_B=first", "PP_T_B=second",
                                      "PP_T_EMPTY=", NULL};
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    o.worker_env = env;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    char v[256];
    PP_ASSERT_OK(run_str(ex, "getenv", "PP_T_A", v, sizeof v));
    CU_ASSERT_STRING_EQUAL(v, "1");
    PP_ASSERT_OK(run_str(ex, "getenv", "PP_T_B", v, sizeof v)); /* the later entry wins */
    CU_ASSERT_STRING_EQUAL(v, "second");
    PP_ASSERT_OK(run_str(ex, "getenv", "PP_T_EMPTY", v, sizeof v));
    CU_ASSERT_STRING_EQUAL(v, "");
    /* the inherited environment is still there */
    PP_ASSERT_OK(run_str(ex, "getenv", "PATH", v, sizeof v));
    CU_ASSERT(v[0] != 0);
    pp_executor_destroy(ex);
    /* without worker_env, nothing of it */
    ex = pp_t_executor(1);
    CU_ASSERT_EQUAL(run_str(ex, "getenv", "PP_T_A", v, sizeof v), PP_ETASK);
    pp_executor_destroy(ex);
}

static void make_temp_dir(char *buf, size_t cap, const char *tag)
{
#ifdef _WIN32
    char dir[MAX_PATH];
    if (!GetTempPathA(sizeof dir, dir))
        strcpy(dir, ".\\");
    snprintf(buf, cap, "%spp_%s_%lld", dir, tag, pp_t_getpid());
#else
    const char *dir = getenv("TMPDIR");
    snprintf(buf, cap, "%s/pp_%s_%lld", dir && *dir ? dir : "/tmp", tag, pp_t_getpid());
#endif
    make_dir(buf);
}

/* dir as getcwd() spells it (links resolved). */
static void canonical_dir(const char *dir, char *out, size_t cap)
{
    char here[4096];
    out[0] = 0;
    if (!getcwd(here, sizeof here))
        return;
    if (chdir(dir) == 0 && !getcwd(out, (int)cap)) /* (int: the Windows CRT's parameter) */
        out[0] = 0;
    CU_ASSERT_EQUAL_FATAL(chdir(here), 0);
}

static void test_worker_cwd(void)
{
    PP_T_SKIP_IF_MPI("mpiexec sets the ranks' directory (PP_ENOTSUP)");
    char dir[512], want[4096], got[4096], here[4096];
    make_temp_dir(dir, sizeof dir, "cwd");
    canonical_dir(dir, want, sizeof want);
    CU_ASSERT_FATAL(want[0] != 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(here, sizeof here));
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    o.worker_cwd = dir;
    pp_executor *ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    PP_ASSERT_OK(run_str(ex, "getcwd", NULL, got, sizeof got));
    CU_ASSERT_STRING_EQUAL(got, want);
    pp_executor_destroy(ex);
    /* NULL: the parent's */
    ex = pp_t_executor(1);
    PP_ASSERT_OK(run_str(ex, "getcwd", NULL, got, sizeof got));
    CU_ASSERT_STRING_EQUAL(got, here);
    pp_executor_destroy(ex);
    rmdir(dir);
}

/* Forkserver (and every method): a worker runs in the parent's working directory at the
 * time it is started, not the server's (the server started in another directory). */
static void test_cwd_follows_parent(void)
{
    PP_T_SKIP_IF_MPI("mpiexec sets the ranks' directory");
    char dir[512], want[4096], got[4096], here[4096];
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(here, sizeof here));
    pp_executor *ex = pp_t_executor(1); /* the server (forkserver) starts here */
    PP_ASSERT_OK(run_str(ex, "getcwd", NULL, got, sizeof got));
    pp_executor_destroy(ex);
    make_temp_dir(dir, sizeof dir, "cwd2");
    canonical_dir(dir, want, sizeof want);
    CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
    ex = pp_t_executor(1);
    pp_status st = run_str(ex, "getcwd", NULL, got, sizeof got);
    pp_executor_destroy(ex);
    CU_ASSERT_EQUAL_FATAL(chdir(here), 0);
    PP_ASSERT_OK(st);
    CU_ASSERT_STRING_EQUAL(got, want);
    rmdir(dir);
}

static void test_worker_env_cwd_bad(void)
{
    PP_T_SKIP_IF_MPI("PP_START_MPI answers PP_ENOTSUP for both");
    static const char *const bad1[] = {"PP_T_OK=1", "NOEQUALS", NULL};
    static const char *const bad2[] = {"=value", NULL};
    const char *const *bads[] = {bad1, bad2};
    for (int i = 0; i < 2; i++) {
        pp_executor_options o;
        pp_t_options_init(&o);
        o.worker_env = bads[i];
        pp_executor *ex = NULL;
        CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
        CU_ASSERT_PTR_NULL(ex);
        CU_ASSERT_PTR_NOT_NULL(strstr(pp_last_error(), "worker_env"));
    }
    pp_executor_options o;
    pp_t_options_init(&o);
    o.worker_cwd = "/no/such/directory/for/procpool";
    pp_executor *ex = NULL;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT_PTR_NULL(ex);
    CU_ASSERT_PTR_NOT_NULL(strstr(pp_last_error(), "worker_cwd"));
}

/* ---- worker_memory_limit, max_worker_rss ------------------------------------------------ */

#define MIB (1024ull * 1024ull)

static pp_status alloc_call(pp_executor *ex, uint64_t bytes, uint64_t mode, int32_t *got_null,
                            pp_future **keep)
{
    uint64_t v[2] = {bytes, mode};
    pp_future *f = NULL;
    pp_status st = pp_submit(ex, "alloc", v, sizeof v, &f);
    if (st != PP_OK)
        return st;
    pp_buf r;
    st = pp_future_result(f, PP_T_TIMEOUT_MS, &r);
    if (st == PP_OK && r.len == sizeof *got_null)
        memcpy(got_null, r.data, sizeof *got_null);
    if (keep)
        *keep = f;
    else
        pp_future_release(f);
    return st;
}

static pp_executor *mem_executor(unsigned long long hard, unsigned long long soft,
                                 pp_crash_policy policy)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    o.max_workers = 1;
    o.worker_memory_limit = hard;
    o.max_worker_rss = soft;
    o.crash_policy = policy;
    pp_executor *ex = NULL;
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    return ex;
}

/* The sanitizers reserve terabytes of shadow memory, which a data limit forbids. */
#define SKIP_IF_SANITIZED()                                                                    \
    do {                                                                                       \
        if (sanitized) {                                                                       \
            printf("SKIP: a sanitizer's shadow memory does not fit a data limit\n");          \
            return;                                                                            \
        }                                                                                      \
    } while (0)
#if PP_T_SANITIZED
static const bool sanitized = true;
#else
static const bool sanitized = false;
#endif

/* Wine (8) accepts JOB_OBJECT_LIMIT_PROCESS_MEMORY but does not enforce it. */
#define SKIP_IF_WINE()                                                                         \
    do {                                                                                       \
        if (pp_t_under_wine()) {                                                                    \
            printf("SKIP: Wine does not enforce a job's per-process memory limit\n");          \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* A task that asks for more than worker_memory_limit gets NULL, and can say so; the same
 * request without the limit gets its memory (the test fails if the option is ignored). */
static void test_memory_limit_null(void)
{
    PP_T_SKIP_IF_MPI("PP_ENOTSUP with PP_START_MPI");
    SKIP_IF_SANITIZED();
    SKIP_IF_WINE();
    pp_executor *ex = mem_executor(256 * MIB, 0, PP_CRASH_BREAK);
    if (!ex)
        return;
    int32_t got_null = -1;
    PP_ASSERT_OK(alloc_call(ex, 1024 * MIB, 0, &got_null, NULL));
    CU_ASSERT_EQUAL(got_null, 1);
    PP_ASSERT_OK(alloc_call(ex, 4 * MIB, 0, &got_null, NULL)); /* within: fine */
    CU_ASSERT_EQUAL(got_null, 0);
    pp_executor_destroy(ex);
    ex = mem_executor(0, 0, PP_CRASH_BREAK);
    got_null = -1;
    PP_ASSERT_OK(alloc_call(ex, 1024 * MIB, 0, &got_null, NULL));
    CU_ASSERT_EQUAL(got_null, 0);
    pp_executor_destroy(ex);
}

/* A worker that dies of it is a crash under the crash policy, its message naming the
 * limit. */
static void test_memory_limit_death(void)
{
    PP_T_SKIP_IF_MPI("PP_ENOTSUP with PP_START_MPI");
    SKIP_IF_SANITIZED();
    SKIP_IF_WINE();
    bool fork = pp_t_start == PP_START_FORK; /* no ISOLATE: the pool breaks */
    pp_executor *ex = mem_executor(256 * MIB, 0, fork ? PP_CRASH_BREAK : PP_CRASH_ISOLATE);
    if (!ex)
        return;
    pp_future *f = NULL;
    int32_t got_null = -1;
    CU_ASSERT_EQUAL(alloc_call(ex, 1024 * MIB, 1, &got_null, &f),
                    fork ? PP_EBROKEN : PP_EWORKERDIED);
    const pp_error *e = NULL;
    if (f && pp_future_exception(f, 0, &e) == PP_OK && e) {
        CU_ASSERT(e->message && strstr(e->message, "worker_memory_limit"));
        if (!e->message || !strstr(e->message, "worker_memory_limit"))
            printf("(message: %s) ", e->message ? e->message : "(none)");
    } else {
        CU_FAIL("no error");
    }
    pp_future_release(f);
    if (!fork) { /* the pool goes on */
        PP_ASSERT_OK(alloc_call(ex, 4 * MIB, 0, &got_null, NULL));
        CU_ASSERT_EQUAL(got_null, 0);
    }
    pp_executor_destroy(ex);
}

static long long worker_pid(pp_executor *ex)
{
    pp_future *f = NULL;
    pp_buf r;
    long long pid = -1;
    if (pp_submit(ex, "pid", NULL, 0, &f) != PP_OK)
        return -1;
    if (pp_future_result(f, PP_T_TIMEOUT_MS, &r) == PP_OK && r.len == sizeof pid)
        memcpy(&pid, r.data, sizeof pid);
    pp_future_release(f);
    return pid;
}

/* max_worker_rss: a call that leaks past it has its worker replaced, failing nothing; below
 * it (and without the option) the worker stays. */
static void test_max_worker_rss(void)
{
    PP_T_SKIP_IF_MPI("PP_ENOTSUP with PP_START_MPI");
    if (pp_t_start == PP_START_FORK) {
        pp_executor_options o;
        pp_t_options_init(&o);
        o.max_worker_rss = 64 * MIB;
        pp_executor *ex = NULL;
        CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(pp_last_error(), "max_worker_rss"));
        return;
    }
    /* A fresh worker's resident set (a sanitizer build's is large): the limit is 48 MiB
     * above it. */
    unsigned long long base = 0;
    pp_executor *probe = mem_executor(0, 0, PP_CRASH_BREAK);
    if (!probe)
        return;
    worker_pid(probe);
    pp_worker_info wi[1];
    size_t nw = 0;
    PP_ASSERT_OK(pp_executor_workers(probe, wi, 1, &nw));
    if (nw == 1)
        base = wi[0].rss;
    pp_executor_destroy(probe);
    CU_ASSERT_FATAL(base > 0);
    for (int with = 0; with < 2; with++) {
        pp_executor *ex = mem_executor(0, with ? base + 48 * MIB : 0, PP_CRASH_BREAK);
        if (!ex)
            return;
        long long pid1 = worker_pid(ex);
        int32_t got_null = -1;
        PP_ASSERT_OK(alloc_call(ex, 4 * MIB, 2, &got_null, NULL)); /* below it */
        CU_ASSERT_EQUAL(worker_pid(ex), pid1);
        PP_ASSERT_OK(alloc_call(ex, 96 * MIB, 2, &got_null, NULL)); /* past it */
        CU_ASSERT_EQUAL(got_null, 0);
        long long pid2 = worker_pid(ex);
        CU_ASSERT(pid1 > 0 && pid2 > 0);
        if (with) {
            CU_ASSERT_NOT_EQUAL(pid2, pid1);
        } else {
            CU_ASSERT_EQUAL(pid2, pid1);
        }
        pp_executor_stats s;
        PP_ASSERT_OK(pp_executor_stats_get(ex, &s));
        CU_ASSERT_EQUAL(s.workers_started, with ? 2u : 1u);
        CU_ASSERT_EQUAL(s.workers_died, 0);
        CU_ASSERT_EQUAL(s.failed, 0);
        pp_executor_destroy(ex);
    }
}

static CU_TestInfo tests[] = {
    {"worker_memory_limit: malloc gets NULL", test_memory_limit_null},
    {"worker_memory_limit: a worker that dies of it", test_memory_limit_death},
    {"max_worker_rss: the worker is replaced", test_max_worker_rss},
    {"worker_env", test_worker_env},
    {"worker_cwd", test_worker_cwd},
    {"workers start in the parent's directory of the moment", test_cwd_follows_parent},
    {"worker_env / worker_cwd: bad values", test_worker_env_cwd_bad},
    {"descendants die: time limit", test_tree_time_limit},
    {"descendants die: pp_future_abort", test_tree_abort},
    {"descendants die: pp_executor_stop", test_tree_stop},
    {"descendants die: kill_workers", test_tree_kill_workers},
    {"descendants die: terminate_workers", test_tree_terminate_workers},
    {"descendants die: a crash (BREAK and ISOLATE)", test_tree_crash},
    {"descendants die: shutdown", test_tree_shutdown},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_procs = {"procs", NULL, NULL, NULL, NULL, tests};
