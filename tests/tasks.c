/*
 * The tasks every test can call, registered in the parent and in every worker (the test
 * program is its own worker). Argument layouts are native-endian structs: parent and worker
 * are the same program.
 *
 *   noop         any             -> no bytes
 *   echo         bytes           -> the same bytes
 *   pid          any             -> long long: the worker's pid
 *   sleep        pp_t_sleep_arg  -> sleeps .ms, returns int32 .value
 *   sleep_exit   pp_t_sleep_arg  -> sleeps .ms, then exits the worker with code .value
 *   square       int32 x         -> int64 x*x; fails with code 7, "negative: <x>" if x < 0
 *   fail         int32 code, then text -> fails with that code and text
 *   exit         int32 code      -> exits the worker with that code
 *   abort        any             -> abort()
 *   segv         any             -> writes through a NULL pointer (SIGSEGV / access violation)
 *   kill_self    any             -> SIGKILL to itself (Windows: TerminateProcess(self, 9))
 *   bytes        uint64 n, uint32 seed -> n bytes of pp_t_fill(seed)
 *   checksum     bytes           -> uint64 pp_t_fnv1a(bytes)
 *   return_then_fail any         -> sets result "partial", then returns 2
 *   error_then_ok any            -> sets error text "ignored", then returns 0
 *   calls        any             -> uint64: how many calls this worker process has run,
 *                                   this one included
 *   init_set     bytes (initializer) -> stores the bytes in the worker
 *   init_get     any             -> the bytes stored by init_set (empty if none)
 *   init_fail    any (initializer) -> fails with code 3, "init failed"
 *   init_exit    any (initializer) -> exits the worker with code 5
 *   init_segv    any (initializer) -> SIGSEGV
 *   error_len    uint32 n        -> fails (code 1) with a text of n 'x' characters
 *   malformed    any             -> writes 16 bytes of junk into its stream to the parent
 *   ring_where   any             -> uint64[6]: its block's rings as it sees them: the tail
 *                                   and skip of the ring to it, of the ring to the parent,
 *                                   the rings' pages resident (Linux: mincore; else
 *                                   UINT64_MAX) and the page size (an error if its frames do
 *                                   not go through rings)
 *   slots_queued uint32 want     -> uint32: the most calls queued ahead to this worker (slots
 *                                   QUEUED in its block) it saw, polling until `want` or
 *                                   PP_T_TIMEOUT_MS / 2 pass
 *   ring_corrupt any             -> its ring to the parent claims more than its size (an
 *                                   error if its frames do not go through rings)
 *                                   (POSIX: descriptor 3), then sleeps: a protocol violation
 *   parent_only  bytes           -> the same bytes; registered in the parent always, but in a
 *                                   worker only if the environment variable
 *                                   PP_T_HIDE_PARENT_ONLY is unset: a test sets it to make
 *                                   the registrations of parent and workers differ
 *   init_count   any (initializer) -> counts its runs in this worker and records how many
 *                                   counted tasks ("calls") had run before it
 *   init_count_get any           -> int32 runs of init_count in this worker, then uint64 the
 *                                   "calls" count when it last ran (0: no task before it),
 *                                   then long long the worker's pid (counted as a call)
 *   exit_if      int32 x         -> exits the worker with code 3 if x == 13, else returns
 *                                   int32 x (a pool that breaks in the middle of a map)
 *   fork_exit    any             -> POSIX: forks a child that calls exit(7) (the worker's
 *                                   exit handler runs in it), waits for it, returns int32
 *                                   its exit code (-1 if it did not exit)
 *   chunk_step   pp_t_step_arg   -> records its run in the item's file, then as its mode says
 *                                   (pp_test.h): a map item that crashes, hangs or returns
 *   wait_gate    bytes: a name   -> blocks until the gate of that name is open
 *                                   (pp_t_gate_*), for at most 120 s; returns int32 1 if it
 *                                   opened, 0 if not
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#  include <windows.h>
#  include <tlhelp32.h>
#else
#  include <signal.h>
#  include <sys/types.h>
#  include <sys/wait.h>
#  include <sys/mman.h>
#  include <time.h>
#  include <unistd.h>
#endif
#ifdef __linux__
#  include <dirent.h>
#endif
#include <stdatomic.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_thread_proc.h>

#include "pp_core.h"
#include "pp_os.h"
#include "pp_test.h"
#include "wshm.h"

struct pp_t_thread {
    apr_pool_t   *pool;
    apr_thread_t *thr;
    void (*fn)(void *);
    void *arg;
};

static void *APR_THREAD_FUNC thread_main(apr_thread_t *thr, void *data)
{
    pp_t_thread *t = data;
    t->fn(t->arg);
    apr_thread_exit(thr, APR_SUCCESS);
    return NULL;
}

pp_t_thread *pp_t_thread_start(void (*fn)(void *), void *arg)
{
    static int apr_ready;
    if (!apr_ready) {
        CU_ASSERT_FATAL(apr_initialize() == APR_SUCCESS);
        apr_ready = 1;
    }
    pp_t_thread *t = calloc(1, sizeof *t);
    CU_ASSERT_FATAL(t != NULL);
    CU_ASSERT_FATAL(apr_pool_create(&t->pool, NULL) == APR_SUCCESS);
    t->fn = fn;
    t->arg = arg;
    CU_ASSERT_FATAL(apr_thread_create(&t->thr, NULL, thread_main, t, t->pool) == APR_SUCCESS);
    return t;
}

void pp_t_thread_join(pp_t_thread *t)
{
    apr_status_t rv;
    apr_thread_join(&rv, t->thr);
    apr_pool_destroy(t->pool);
    free(t);
}

static void script_main(void *p)
{
    pp_t_script *s = p;
    for (size_t i = 0; i < s->n; i++) {
        const pp_t_step *st = &s->steps[i];
        pp_t_sleep_ms(st->delay_ms);
        bool ok = false;
        switch (st->what) {
        case PP_T_DO_RESULT:
            ok = pp_future_set_result(st->f, &i, sizeof i) == PP_OK;
            break;
        case PP_T_DO_ERROR:
            ok = pp_future_set_error(st->f, PP_ETASK, (int)i, "scripted") == PP_OK;
            break;
        case PP_T_DO_CANCEL:
            ok = pp_future_cancel(st->f);
            break;
        }
        s->failures += !ok;
        if (st->release)
            pp_future_release(st->f);
    }
}

void pp_t_script_run(pp_t_script *s, const pp_t_step *steps, size_t n)
{
    s->steps = steps;
    s->n = n;
    s->failures = 0;
    s->thread = pp_t_thread_start(script_main, s);
}

void pp_t_script_end(pp_t_script *s)
{
    pp_t_thread_join(s->thread);
    s->thread = NULL;
    CU_ASSERT_EQUAL(s->failures, 0);
}

static uint64_t n_calls;
static unsigned char *init_data;
static size_t init_len;

long long pp_t_now_ms(void)
{
#ifdef _WIN32
    return (long long)GetTickCount64();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
}

typedef struct race_half {
    pp_future **fs;
    size_t      from, to, cancel_mod;
} race_half;

static void race_complete(void *p)
{
    race_half *h = p;
    for (size_t i = h->from; i < h->to; i++) {
        if (i % h->cancel_mod == h->cancel_mod - 1)
            pp_future_cancel(h->fs[i]);
        else
            pp_future_set_result(h->fs[i], NULL, 0);
    }
}

int pp_t_completion_races(int rounds, size_t n, size_t cancel_mod, pp_t_race_fn begin,
                          pp_t_race_fn wait, void *ctx)
{
    pp_future *fs[64];
    if (n > 64 || cancel_mod == 0)
        return 1;
    long long t0 = pp_t_now_ms();
    int bad = 0;
    for (int round = 0; round < rounds; round++) {
        for (size_t i = 0; i < n; i++)
            PP_ASSERT_OK_FATAL(pp_future_create(&fs[i]));
        race_half h1 = {fs, 0, n / 2, cancel_mod}, h2 = {fs, n / 2, n, cancel_mod};
        pp_t_thread *t1 = pp_t_thread_start(race_complete, &h1);
        if (begin)
            bad += begin(fs, n, round, ctx);
        pp_t_thread *t2 = pp_t_thread_start(race_complete, &h2);
        bad += wait(fs, n, round, ctx);
        pp_t_thread_join(t1);
        pp_t_thread_join(t2);
        for (size_t i = 0; i < n; i++)
            pp_future_release(fs[i]);
    }
    bad += pp_t_now_ms() - t0 >= 60000; /* no round waited for its timeout */
    return bad;
}

bool pp_t_wait_stats(pp_executor *ex, pp_t_stats_pred pred, const void *arg, long bound_ms,
                     pp_t_snapshot *out)
{
    pp_t_snapshot snap;
    long long end = pp_t_now_ms() + bound_ms;
    bool held;
    for (;;) {
        memset(&snap, 0, sizeof snap);
        PP_ASSERT_OK(pp_executor_stats_get(ex, &snap.s));
        size_t cap = sizeof snap.pids / sizeof snap.pids[0];
        PP_ASSERT_OK(pp_executor_worker_pids(ex, snap.pids, cap, &snap.n_pids));
        held = pred(&snap, arg);
        if (held || pp_t_now_ms() >= end)
            break;
        pp_t_sleep_ms(5);
    }
    if (out)
        *out = snap;
    return held;
}

bool pp_t_no_workers(const pp_t_snapshot *snap, const void *arg)
{
    (void)arg;
    return snap->s.workers == 0 && snap->n_pids == 0;
}

bool pp_t_handed_out_at_least(const pp_t_snapshot *snap, const void *arg)
{
    return snap->s.handed_out >= *(const size_t *)arg;
}

bool pp_t_workers_at_least(const pp_t_snapshot *snap, const void *arg)
{
    return snap->n_pids >= *(const size_t *)arg;
}

void pp_t_sleep_ms(unsigned ms)
{
#ifdef _WIN32
    Sleep(ms);
#else
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
#endif
}

long long pp_t_getpid(void)
{
#ifdef _WIN32
    return (long long)GetCurrentProcessId();
#else
    return (long long)getpid();
#endif
}

long long pp_t_task_pid(pp_executor *ex)
{
    pp_future *f = NULL;
    pp_buf r;
    long long pid = -1;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "pid", NULL, 0, &f));
    PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
    if (r.len == sizeof pid)
        memcpy(&pid, r.data, sizeof pid);
    pp_future_release(f);
    return pid;
}

pp_future *pp_t_new_future(void)
{
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_future_create(&f));
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    return f;
}

pp_future *pp_t_new_finished(void)
{
    pp_future *f = pp_t_new_future();
    PP_ASSERT_OK_FATAL(pp_future_set_result(f, "ok", 2));
    return f;
}

void pp_t_release_all(pp_future **fs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pp_future_release(fs[i]);
}

void pp_t_submit_each(pp_executor *ex, const char *task, const void *arg, size_t len,
                      pp_future **fs, int n)
{
    for (int i = 0; i < n; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, task, arg, len, &fs[i]));
}

void pp_t_finish_each(pp_future **fs, int n)
{
    for (int i = 0; i < n; i++) {
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, NULL));
        pp_future_release(fs[i]);
    }
}

void pp_t_run_each(pp_executor *ex, const char *task, const void *arg, size_t len,
                   pp_future **fs, int n)
{
    pp_t_submit_each(ex, task, arg, len, fs, n);
    pp_t_finish_each(fs, n);
}

void pp_t_echo_each(pp_executor *ex, pp_future **fs, int n)
{
    for (int i = 0; i < n; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "echo", &i, sizeof i, &fs[i]));
    for (int i = 0; i < n; i++) {
        pp_buf r;
        PP_ASSERT_OK(pp_future_result(fs[i], PP_T_TIMEOUT_MS, &r));
        CU_ASSERT(r.len == sizeof i && memcmp(r.data, &i, sizeof i) == 0);
        pp_future_release(fs[i]);
    }
}

int pp_t_wait_gone(const long long *pids, int n, long long deadline_ms, unsigned poll_ms)
{
    int alive = n;
    while (alive && pp_t_now_ms() < deadline_ms) {
        alive = 0;
        for (int i = 0; i < n; i++)
            alive += pp_t_pid_alive(pids[i]) != 0;
        if (alive)
            pp_t_sleep_ms(poll_ms);
    }
    return alive;
}

int pp_t_kill_pid(long long pid)
{
#ifdef _WIN32
    HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)pid);
    if (!h)
        return -1;
    BOOL ok = TerminateProcess(h, 9);
    CloseHandle(h);
    return ok ? 0 : -1;
#else
    return kill((pid_t)pid, SIGKILL);
#endif
}

int pp_t_pid_alive(long long pid)
{
#ifdef _WIN32
    HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
    if (!h)
        return 0;
    DWORD r = WaitForSingleObject(h, 0);
    CloseHandle(h);
    return r == WAIT_TIMEOUT;
#else
    if (kill((pid_t)pid, 0) != 0)
        return 0;
    /* A zombie still answers kill(0): look at its state in /proc where there is one. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')');
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
#endif
}

uint64_t pp_t_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void pp_t_fill(void *buf, size_t n, uint32_t seed)
{
    unsigned char *p = buf;
    uint64_t x = 0x9E3779B97F4A7C15ULL ^ seed;
    size_t i = 0;
    while (i < n) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for (int k = 0; k < 8 && i < n; k++, i++)
            p[i] = (unsigned char)(x >> (8 * k));
    }
}

/* A real memory fault. UBSan flags NULL stores: fault on an unmapped, non-NULL address, so
 * the worker dies by SIGSEGV (an access violation on Windows) in every build. The worker's
 * crash hook (pp__os_crash_hook), installed after any sanitizer's own handler, reports it
 * and dies of it; where a build has no hook (PP_T_CRASH_TRACE 0), the default action is
 * restored first (ASan's handler would report and exit 1). */
static void crash_segv(void)
{
#if !PP_T_CRASH_TRACE
    signal(SIGSEGV, SIG_DFL);
#endif
    volatile int *volatile p = (volatile int *)(uintptr_t)16;
    *p = 42;
}

static void kill_self(void)
{
#ifdef _WIN32
    TerminateProcess(GetCurrentProcess(), 9);
#else
    kill(getpid(), SIGKILL);
#endif
    for (int i = 0; i < 600; i++) /* bounded: no "unreachable code" after a call (C4702) */
        pp_t_sleep_ms(100);
}

static int t_noop(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    return 0;
}

/* A task that ends its worker with an exit code. exit() in general; _Exit in a worker
 * forked without exec (fork), whose atexit handlers are the parent's: in a sanitizer build
 * LeakSanitizer's handler would report the parent's memory, reachable only from threads the
 * fork did not copy, as leaked, and change the exit code. */
_Noreturn static void task_exit(int code)
{
    if (pp_t_start == PP_START_FORK)
        _Exit(code);
    exit(code);
}

static int t_echo(pp_task_ctx *c, const void *a, size_t n)
{
    return pp_task_return(c, a, n) == PP_OK ? 0 : 1;
}

static int t_pid(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    long long pid = pp_t_getpid();
    return pp_task_return(c, &pid, sizeof pid) == PP_OK ? 0 : 1;
}

static int t_sleep(pp_task_ctx *c, const void *a, size_t n)
{
    pp_t_sleep_arg s = {0, 0};
    if (n == sizeof s)
        memcpy(&s, a, sizeof s);
    pp_t_sleep_ms(s.ms);
    return pp_task_return(c, &s.value, sizeof s.value) == PP_OK ? 0 : 1;
}

/* ---- gates: a barrier between the test and many workers, with no polling on Windows ---- */

#define GATE_NAME_MAX 200

#ifdef _WIN32
/* "Local\<name>" (the names are ASCII). */
static void gate_wname(const char *name, wchar_t *w, size_t cap)
{
    static const wchar_t prefix[] = L"Local\\";
    size_t k = 0;
    for (; prefix[k] && k + 1 < cap; k++)
        w[k] = prefix[k];
    for (const char *p = name; *p && k + 1 < cap; p++)
        w[k++] = (wchar_t)(unsigned char)*p;
    w[k] = 0;
}
#else
static void gate_path(const char *name, char *path, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(path, cap, "%s/%s", tmp && *tmp ? tmp : "/tmp", name);
}
#endif

struct pp_t_gate {
#ifdef _WIN32
    HANDLE ev; /* a named manual-reset event */
#else
    char path[GATE_NAME_MAX + 256]; /* a file that exists once the gate is open */
#endif
};

pp_t_gate *pp_t_gate_create(const char *name)
{
    if (strlen(name) > GATE_NAME_MAX)
        return NULL;
    pp_t_gate *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
#ifdef _WIN32
    wchar_t w[GATE_NAME_MAX + 16];
    gate_wname(name, w, sizeof w / sizeof w[0]);
    g->ev = CreateEventW(NULL, TRUE, FALSE, w);
    if (!g->ev) {
        free(g);
        return NULL;
    }
#else
    gate_path(name, g->path, sizeof g->path);
    remove(g->path);
#endif
    return g;
}

void pp_t_gate_open(pp_t_gate *g)
{
#ifdef _WIN32
    SetEvent(g->ev);
#else
    FILE *f = fopen(g->path, "wb");
    if (f)
        fclose(f);
#endif
}

void pp_t_gate_free(pp_t_gate *g)
{
    if (!g)
        return;
#ifdef _WIN32
    CloseHandle(g->ev);
#else
    remove(g->path);
#endif
    free(g);
}

static int t_wait_gate(pp_task_ctx *c, const void *a, size_t n)
{
    char name[GATE_NAME_MAX + 1];
    int32_t open = 0;
    if (n <= GATE_NAME_MAX) {
        memcpy(name, a, n);
        name[n] = 0;
#ifdef _WIN32
        wchar_t w[GATE_NAME_MAX + 16];
        gate_wname(name, w, sizeof w / sizeof w[0]);
        HANDLE ev = OpenEventW(SYNCHRONIZE, FALSE, w);
        if (ev) {
            open = WaitForSingleObject(ev, 120000) == WAIT_OBJECT_0;
            CloseHandle(ev);
        }
#else
        char path[GATE_NAME_MAX + 256];
        gate_path(name, path, sizeof path);
        for (long long end = pp_t_now_ms() + 120000; !open && pp_t_now_ms() < end;) {
            FILE *f = fopen(path, "rb");
            if (f) {
                fclose(f);
                open = 1;
            } else {
                pp_t_sleep_ms(10);
            }
        }
#endif
    }
    return pp_task_return(c, &open, sizeof open) == PP_OK ? 0 : 1;
}

static int t_sleep_exit(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c;
    pp_t_sleep_arg s = {0, 0};
    if (n == sizeof s)
        memcpy(&s, a, sizeof s);
    pp_t_sleep_ms(s.ms);
    task_exit(s.value);
}

/* An initializer that takes a while, different in each worker: 0 to the int32 argument
 * milliseconds (from the pid), then succeeds. */
static int t_init_sleep_rand(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c;
    int32_t max_ms = 0;
    if (n == sizeof max_ms)
        memcpy(&max_ms, a, sizeof max_ms);
    if (max_ms > 0)
        pp_t_sleep_ms((unsigned)((unsigned long long)pp_t_getpid() * 7919u % (unsigned)(max_ms + 1)));
    return 0;
}

/* Makes its worker slow to end: ignores SIGTERM and, at exit (after the worker has closed
 * its channel), sleeps 10 s before exiting. Returns the worker's pid. */
static void linger(void)
{
    pp_t_sleep_ms(10000);
}

static int t_linger_at_exit(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
#ifndef _WIN32
    signal(SIGTERM, SIG_IGN);
#endif
    atexit(linger);
    long long pid = pp_t_getpid();
    return pp_task_return(c, &pid, sizeof pid) == PP_OK ? 0 : 1;
}

/* Appends one byte to the file named by the argument (a path, not NUL-terminated) and
 * returns the file's new size: how many times a call with this argument has run. -1 if the
 * file cannot be written. */
static long count_run(const void *a, size_t n)
{
    char path[1024];
    if (n == 0 || n >= sizeof path)
        return -1;
    memcpy(path, a, n);
    path[n] = 0;
    FILE *f = fopen(path, "ab");
    if (!f)
        return -1;
    fputc('x', f);
    /* the size after the append (the C runtime on Windows reports the position of an
     * append stream only once flushed and sought) */
    long size = fflush(f) == 0 && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    fclose(f);
    return size;
}

/* Counts its run in the file, then dies (SIGKILL / TerminateProcess): always. */
static int t_count_then_die(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c;
    if (count_run(a, n) < 0)
        return 1;
    kill_self();
    return 2;
}

/* Counts its run in the file; dies on the first run, returns the run count on later ones. */
static int t_die_on_first_run(pp_task_ctx *c, const void *a, size_t n)
{
    long runs = count_run(a, n);
    if (runs < 0)
        return 1;
    if (runs == 1)
        kill_self();
    int32_t r = (int32_t)runs;
    return pp_task_return(c, &r, sizeof r) == PP_OK ? 0 : 1;
}

/* Item `index`'s own file: concurrent appends to one shared file are not atomic everywhere
 * (Wine emulates O_APPEND as seek-then-write, so two workers overwrote each other's records),
 * and an item runs on one worker at a time. */
static void step_file(char *out, size_t cap, const char *path, int32_t index)
{
    snprintf(out, cap, "%s.%d", path, (int)index);
}

int pp_t_step_runs(const char *path, int32_t index)
{
    char file[300];
    step_file(file, sizeof file, path, index);
    FILE *f = fopen(file, "rb");
    if (!f)
        return 0;
    int runs = 0;
    int32_t v;
    while (fread(&v, sizeof v, 1, f) == 1)
        runs += v == index;
    fclose(f);
    return runs;
}

bool pp_t_under_wine(void)
{
#ifdef _WIN32
    HMODULE nt = GetModuleHandleA("ntdll.dll");
    return nt && GetProcAddress(nt, "wine_get_version") != NULL;
#else
    return false;
#endif
}

void pp_t_step_remove(const char *path, int n)
{
    char file[300];
    for (int i = 0; i < n; i++) {
        step_file(file, sizeof file, path, i);
        remove(file);
    }
}

static int t_chunk_step(pp_task_ctx *c, const void *a, size_t n)
{
    pp_t_step_arg s;
    if (n != sizeof s) {
        pp_task_error(c, "chunk_step: bad argument length %zu", n);
        return 1;
    }
    memcpy(&s, a, sizeof s);
    s.path[sizeof s.path - 1] = 0;
    char file[300];
    step_file(file, sizeof file, s.path, s.index);
    FILE *f = fopen(file, "ab");
    if (!f || fwrite(&s.index, sizeof s.index, 1, f) != 1 || fclose(f) != 0) {
        pp_task_error(c, "chunk_step: cannot record the run in %s", s.path);
        return 1;
    }
    int runs = pp_t_step_runs(s.path, s.index);
    switch (s.mode) {
    case PP_T_STEP_SEGV:
        crash_segv();
        break;
    case PP_T_STEP_KILL:
        kill_self();
        break;
    case PP_T_STEP_KILL_ONCE:
        if (runs == 1)
            kill_self();
        break;
    case PP_T_STEP_HANG:
        for (int i = 0; i < 300; i++)
            pp_t_sleep_ms(100);
        break;
    case PP_T_STEP_SLEEP300:
        pp_t_sleep_ms(300);
        break;
    case PP_T_STEP_POLITE:
        for (int i = 0; i < 30000 && !pp_task_should_stop(c); i++)
            pp_t_sleep_ms(1);
        break;
    default:
        break;
    }
    pp_t_step_out o = {s.index, runs, pp_t_getpid()};
    size_t len = s.size > sizeof o ? s.size : sizeof o;
    unsigned char *buf = calloc(1, len);
    if (!buf)
        return 1;
    memcpy(buf, &o, sizeof o);
    for (size_t i = sizeof o; i < len; i++)
        buf[i] = (unsigned char)(s.index + i);
    int rc = pp_task_return(c, buf, len) == PP_OK ? 0 : 1;
    free(buf);
    return rc;
}

/* Runs until asked to stop (pp_task_should_stop), 30 s at most; returns 1 if it was asked,
 * 0 if not (an int32). */
static int t_until_stopped(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    int32_t asked = 0;
    for (int i = 0; i < 30000 && !asked; i++) {
        asked = pp_task_should_stop(c);
        if (!asked)
            pp_t_sleep_ms(1);
    }
    return pp_task_return(c, &asked, sizeof asked) == PP_OK ? 0 : 1;
}

/* Ignores requests to stop: sleeps 30 s, then returns its pid. */
static int t_stubborn(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    for (int i = 0; i < 300; i++)
        pp_t_sleep_ms(100);
    long long pid = pp_t_getpid();
    return pp_task_return(c, &pid, sizeof pid) == PP_OK ? 0 : 1;
}

/* Returns pp_task_should_stop() as an int32, at once. */
static int t_should_stop_now(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    int32_t v = pp_task_should_stop(c);
    return pp_task_return(c, &v, sizeof v) == PP_OK ? 0 : 1;
}

static int t_square(pp_task_ctx *c, const void *a, size_t n)
{
    int32_t x = 0;
    if (n != sizeof x) {
        pp_task_error(c, "square: bad argument length %zu", n);
        return 1;
    }
    memcpy(&x, a, sizeof x);
    if (x < 0) {
        pp_task_error(c, "negative: %d", (int)x);
        return 7;
    }
    int64_t r = (int64_t)x * x;
    return pp_task_return(c, &r, sizeof r) == PP_OK ? 0 : 1;
}

static int t_fail(pp_task_ctx *c, const void *a, size_t n)
{
    int32_t code = 1;
    if (n >= sizeof code)
        memcpy(&code, a, sizeof code);
    if (n > sizeof code)
        pp_task_error(c, "%.*s", (int)(n - sizeof code), (const char *)a + sizeof code);
    return code;
}

static int t_exit(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c;
    int32_t code = 0;
    if (n >= sizeof code)
        memcpy(&code, a, sizeof code);
    task_exit(code);
}

static int t_abort(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    abort();
}

static int t_segv(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    crash_segv();
    return 0;
}

static int t_kill_self(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    kill_self();
    return 0;
}

static int t_bytes(pp_task_ctx *c, const void *a, size_t n)
{
    struct {
        uint64_t n;
        uint32_t seed;
    } arg;
    if (n != sizeof arg)
        return 1;
    memcpy(&arg, a, sizeof arg);
    unsigned char *buf = malloc(arg.n ? (size_t)arg.n : 1);
    if (!buf)
        return 1;
    pp_t_fill(buf, (size_t)arg.n, arg.seed);
    pp_status st = pp_task_return(c, buf, (size_t)arg.n);
    free(buf);
    return st == PP_OK ? 0 : 1;
}

/* As "bytes", then the worker is killed before it can send its result (which, large, was
 * written into its result segment: a worker killed mid-write). */
static int t_bytes_then_die(pp_task_ctx *c, const void *a, size_t n)
{
    int rc = t_bytes(c, a, n);
    kill_self();
    return rc;
}

static int t_checksum(pp_task_ctx *c, const void *a, size_t n)
{
    uint64_t h = pp_t_fnv1a(a, n);
    return pp_task_return(c, &h, sizeof h) == PP_OK ? 0 : 1;
}

static int t_return_then_fail(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    pp_task_return(c, "partial", 7);
    return 2;
}

static int t_error_then_ok(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    pp_task_error(c, "ignored");
    return 0;
}

static int t_calls(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    uint64_t v = n_calls;
    return pp_task_return(c, &v, sizeof v) == PP_OK ? 0 : 1;
}

static int t_init_set(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c;
    free(init_data);
    init_data = malloc(n ? n : 1);
    if (!init_data)
        return 1;
    if (n)
        memcpy(init_data, a, n);
    init_len = n;
    return 0;
}

static int t_init_get(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    return pp_task_return(c, init_data, init_len) == PP_OK ? 0 : 1;
}

static int t_init_fail(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    pp_task_error(c, "init failed");
    return 3;
}

static int t_init_exit(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    task_exit(5);
}

static int t_init_segv(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    crash_segv();
    return 0;
}

static int t_error_len(pp_task_ctx *c, const void *a, size_t n)
{
    uint32_t len = 0;
    if (n == sizeof len)
        memcpy(&len, a, sizeof len);
    char *text = malloc((size_t)len + 1);
    if (!text)
        return 2;
    memset(text, 'x', len);
    text[len] = 0;
    pp_task_error(c, "%s", text);
    free(text);
    return 1;
}

static int t_malformed(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    static const char junk[16] = "NOT A PP FRAME!";
    pp__worker_inject(junk, sizeof junk); /* into the stream to the manager (ring or channel) */
    pp_t_sleep_ms(10000);
    return 0;
}

static int t_ring_where(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    pp__wshm *w = pp__worker_block();
    if (!w || !atomic_load(&pp__wshm_rings(w)->to_worker_tail.on)) {
        pp_task_error(c, "no rings: frames go through the channel");
        return 1;
    }
    pp__wshm_ctl *r = pp__wshm_rings(w);
    uint64_t out[6] = {atomic_load(&r->to_worker_tail.count), atomic_load(&r->to_worker_tail.skip),
                       atomic_load(&r->to_mgr_tail.count), atomic_load(&r->to_mgr_tail.skip),
                       UINT64_MAX, 0};
#ifdef __linux__
    long page = sysconf(_SC_PAGESIZE);
    out[5] = (uint64_t)page;
    size_t pages = 2 * (size_t)PP__WSHM_RING_SIZE / (size_t)page;
    unsigned char *vec = malloc(pages);
    if (vec && mincore((uint8_t *)w + PP__WSHM_RINGS, pages * (size_t)page, vec) == 0) {
        out[4] = 0;
        for (size_t i = 0; i < pages; i++)
            out[4] += vec[i] & 1;
    }
    free(vec);
#endif
    return pp_task_return(c, out, sizeof out) == PP_OK ? 0 : 1;
}

static int t_slots_queued(pp_task_ctx *c, const void *a, size_t n)
{
    uint32_t want = 0;
    if (n != sizeof want) {
        pp_task_error(c, "slots_queued wants a uint32");
        return 2;
    }
    memcpy(&want, a, sizeof want);
    pp__wshm *w = pp__worker_block();
    if (!w) {
        pp_task_error(c, "no shared block");
        return 1;
    }
    uint32_t best = 0;
    long long end = pp_t_now_ms() + PP_T_TIMEOUT_MS / 2;
    for (;;) {
        uint32_t k = 0;
        for (int i = 0; i < PP__WSHM_SLOTS; i++)
            k += PP__SLOT_STATE(atomic_load(pp__wshm_slot(w, i))) == PP__SLOT_QUEUED;
        if (k > best)
            best = k;
        if (best >= want || pp_t_now_ms() > end)
            break;
        pp_t_sleep_ms(1);
    }
    return pp_task_return(c, &best, sizeof best) == PP_OK ? 0 : 1;
}

static int t_ring_corrupt(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    pp__wshm *w = pp__worker_block();
    if (!w) {
        pp_task_error(c, "no rings: frames go through the channel");
        return 1;
    }
    /* the ring to the manager now claims three times its size */
    pp__wshm_ctl *r = pp__wshm_rings(w);
    uint64_t head = atomic_load(&r->to_mgr_head.count);
    atomic_store(&r->to_mgr_tail.count, head + 3 * (uint64_t)PP__WSHM_RING_SIZE);
    pp__worker_bell();
    pp_t_sleep_ms(10000);
    return 0;
}

static int t_fork_exit(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
#ifdef _WIN32
    pp_task_error(c, "no fork() on Windows");
    return 1;
#else
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        exit(7);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return 1;
    int32_t code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return pp_task_return(c, &code, sizeof code) == PP_OK ? 0 : 1;
#endif
}

static int32_t init_runs;
static uint64_t calls_at_init;

/* "nomem": its pp_task_error runs out of memory (the worker's next allocation is made to
 * fail), so the call fails PP_ENOMEM with the worker's own message; then it returns 3. */
static int t_nomem(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    pp__alloc_fail_nth(1);
    pp_status st = pp_task_error(c, "%s", "this text needs memory");
    pp__alloc_fault_fired(); /* disarm */
    return st == PP_ENOMEM ? 3 : 0;
}

static int t_init_count(pp_task_ctx *c, const void *a, size_t n)
{
    (void)c, (void)a, (void)n;
    init_runs++;
    calls_at_init = n_calls;
    return 0;
}

static int t_init_count_get(pp_task_ctx *c, const void *a, size_t n)
{
    (void)a, (void)n;
    unsigned char out[sizeof(int32_t) + sizeof(uint64_t) + sizeof(long long)];
    long long pid = pp_t_getpid();
    memcpy(out, &init_runs, sizeof init_runs);
    memcpy(out + sizeof init_runs, &calls_at_init, sizeof calls_at_init);
    memcpy(out + sizeof init_runs + sizeof calls_at_init, &pid, sizeof pid);
    return pp_task_return(c, out, sizeof out) == PP_OK ? 0 : 1;
}

static int t_exit_if(pp_task_ctx *c, const void *a, size_t n)
{
    int32_t x = 0;
    if (n != sizeof x) {
        pp_task_error(c, "exit_if: bad argument length %zu", n);
        return 1;
    }
    memcpy(&x, a, sizeof x);
    if (x == 13)
        task_exit(3);
    return pp_task_return(c, &x, sizeof x) == PP_OK ? 0 : 1;
}

/* ---- processes: parents and children ---- */

long long pp_t_ppid_of(long long pid)
{
#ifdef __linux__
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%lld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    const char *rp = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    char state = 0;
    long long ppid = -1;
    if (!rp || sscanf(rp + 1, " %c %lld", &state, &ppid) != 2)
        return -1;
    return ppid;
#else
    (void)pid;
    return -1;
#endif
}

int pp_t_children_of(long long pid, long long *out, int cap)
{
#ifdef __linux__
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        long long child = atoll(e->d_name);
        if (pp_t_ppid_of(child) != pid)
            continue; /* zombies count too: they are children not reaped */
        if (n < cap)
            out[n] = child;
        n++;
    }
    closedir(d);
    return n;
#else
    (void)pid, (void)out, (void)cap;
    return -1;
#endif
}

#ifdef _WIN32
/* 100 ns units since 1601, as a number. */
static unsigned long long filetime_u64(FILETIME t)
{
    return ((unsigned long long)t.dwHighDateTime << 32) | t.dwLowDateTime;
}
#endif

int pp_t_count_children(void)
{
#ifdef _WIN32
    /* Windows reuses process ids, and a process keeps the id of a parent that has exited:
     * only a process created after this one can be its child. */
    FILETIME created, t1, t2, t3;
    if (!GetProcessTimes(GetCurrentProcess(), &created, &t1, &t2, &t3))
        return -1;
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snap == INVALID_HANDLE_VALUE)
        return -1;
    DWORD self = GetCurrentProcessId();
    PROCESSENTRY32W e;
    e.dwSize = sizeof e;
    int n = 0;
    for (BOOL more = Process32FirstW(snap, &e); more; more = Process32NextW(snap, &e)) {
        if (e.th32ParentProcessID != self || e.th32ProcessID == self)
            continue;
        HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, e.th32ProcessID);
        if (!h)
            continue; /* gone since the snapshot */
        FILETIME c;
        if (GetProcessTimes(h, &c, &t1, &t2, &t3) && filetime_u64(c) >= filetime_u64(created))
            n++;
        CloseHandle(h);
    }
    CloseHandle(snap);
    return n;
#else
    return pp_t_children_of(pp_t_getpid(), NULL, 0);
#endif
}

/* ---- the per-test watchdog ---- */

#define WATCHDOG_MS 90000LL
static atomic_int wd_stop;
static pp_t_thread *wd_thread;

static void wd_main(void *p)
{
    const char *name = p;
    long long end = pp_t_now_ms() + WATCHDOG_MS;
    while (!atomic_load(&wd_stop)) {
        if (pp_t_now_ms() > end) {
            fprintf(stderr, "\n  FATAL: test %s still running after %lld s (hang?)\n", name,
                    WATCHDOG_MS / 1000);
            fflush(stderr);
            _Exit(3);
        }
        pp_t_sleep_ms(20);
    }
}

void pp_t_watchdog_setup(void)
{
    CU_pTest t = CU_get_current_test();
    atomic_store(&wd_stop, 0);
    wd_thread = pp_t_thread_start(wd_main, (void *)(t && t->pName ? t->pName : "?"));
}

void pp_t_watchdog_teardown(void)
{
    atomic_store(&wd_stop, 1);
    pp_t_thread_join(wd_thread);
    wd_thread = NULL;
}

/* Wraps each task so that "calls" can count them. */
#define COUNTED(fn)                                                                            \
    static int counted_##fn(pp_task_ctx *c, const void *a, size_t n)                           \
    {                                                                                          \
        n_calls++;                                                                             \
        return fn(c, a, n);                                                                    \
    }
COUNTED(t_noop)
COUNTED(t_echo)
COUNTED(t_pid)
COUNTED(t_sleep)
COUNTED(t_square)
COUNTED(t_calls)
COUNTED(t_init_count_get)

void pp_t_register_tasks(void)
{
    static const struct {
        const char *name;
        pp_task_fn  fn;
    } tasks[] = {
        {"noop", counted_t_noop},
        {"echo", counted_t_echo},
        {"pid", counted_t_pid},
        {"sleep", counted_t_sleep},
        {"sleep_exit", t_sleep_exit},
        {"square", counted_t_square},
        {"fail", t_fail},
        {"exit", t_exit},
        {"abort", t_abort},
        {"segv", t_segv},
        {"kill_self", t_kill_self},
        {"bytes", t_bytes},
        {"checksum", t_checksum},
        {"bytes_then_die", t_bytes_then_die},
        {"return_then_fail", t_return_then_fail},
        {"error_then_ok", t_error_then_ok},
        {"calls", counted_t_calls},
        {"init_set", t_init_set},
        {"init_get", t_init_get},
        {"init_fail", t_init_fail},
        {"init_exit", t_init_exit},
        {"init_segv", t_init_segv},
        {"malformed", t_malformed},
        {"ring_where", t_ring_where},
        {"slots_queued", t_slots_queued},
        {"ring_corrupt", t_ring_corrupt},
        {"error_len", t_error_len},
        {"init_count", t_init_count},
        {"init_count_get", counted_t_init_count_get},
        {"exit_if", t_exit_if},
        {"fork_exit", t_fork_exit},
        {"init_sleep_rand", t_init_sleep_rand},
        {"linger_at_exit", t_linger_at_exit},
        {"nomem", t_nomem},
        {"count_then_die", t_count_then_die},
        {"die_on_first_run", t_die_on_first_run},
        {"until_stopped", t_until_stopped},
        {"stubborn", t_stubborn},
        {"should_stop_now", t_should_stop_now},
        {"wait_gate", t_wait_gate},
        {"chunk_step", t_chunk_step},
    };
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        if (pp_register_task(tasks[i].name, tasks[i].fn) != PP_OK) {
            fprintf(stderr, "pp_tests: cannot register task %s\n", tasks[i].name);
            exit(2);
        }
    }
    /* Makes the registrations differ on request: see "parent_only" above. */
    const char *hide = getenv("PP_T_HIDE_PARENT_ONLY");
    if ((!hide || !*hide) && pp_register_task("parent_only", counted_t_echo) != PP_OK) {
        fprintf(stderr, "pp_tests: cannot register task parent_only\n");
        exit(2);
    }
}

pp_start_method pp_t_start = PP_START_SPAWN;

const char *pp_t_start_name(void)
{
    switch (pp_t_start) {
    case PP_START_FORK:
        return "fork";
    case PP_START_FORKSERVER:
        return "forkserver";
    case PP_START_MPI:
        return "mpi";
    default:
        return "spawn";
    }
}

void pp_t_options_init(pp_executor_options *o)
{
    pp_executor_options_init(o);
    o->start_method = pp_t_start;
}

char *pp_t_fresh_worker_path(void)
{
    static int calls;
    char *exe = NULL;
    if (pp__os_exepath(&exe, NULL) != PP_OK)
        return NULL;
    char *slash = strrchr(exe, '/');
    if (!slash)
        slash = strrchr(exe, '\\');
    int k = ++calls;
    size_t len = strlen(exe) + 2 * (size_t)k + 1;
    char *out = malloc(len);
    if (out && slash) {
        size_t dir = (size_t)(slash - exe) + 1;
        memcpy(out, exe, dir);
        char *p = out + dir;
        for (int i = 0; i < k; i++, p += 2)
            memcpy(p, "./", 2);
        strcpy(p, slash + 1);
    } else if (out) {
        strcpy(out, exe);
    }
    pp__free(exe);
    return out;
}

pp_executor *pp_t_executor_init(int max_workers, const char *initializer, const void *initargs,
                                size_t initargs_len)
{
    pp_executor_options o;
    pp_t_options_init(&o);
    /* PP_T_FRESH_SERVER: a test changed the environment the workers must see (forkserver:
     * a new server; its path is spelled anew for that) */
    char *fresh = NULL;
    if (pp_t_start == PP_START_FORKSERVER && getenv("PP_T_HIDE_PARENT_ONLY") &&
        *getenv("PP_T_HIDE_PARENT_ONLY"))
        o.worker_path = fresh = pp_t_fresh_worker_path();
    o.max_workers = max_workers;
    o.initializer = initializer;
    o.initargs.data = initargs;
    o.initargs.len = initargs_len;
    pp_executor *ex = NULL;
    pp_status st = pp_executor_create(&o, &ex);
    free(fresh);
    PP_ASSERT_OK_FATAL(st);
    return ex;
}

pp_executor *pp_t_executor(int max_workers)
{
    return pp_t_executor_init(max_workers, NULL, NULL, 0);
}

int pp_t_has_backtrace(const char *msg)
{
    const char *t = msg ? strstr(msg, "its backtrace:\n#0 ") : NULL;
    return t && strstr(t, "\n#1 ") != NULL;
}
