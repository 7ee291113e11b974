/*
 * The backend suite: src/core/pp_os.h exercised directly, on whichever backend is linked.
 * Workers are this test program, started with pp__os_spawn(); they run the real worker loop
 * and speak the wire protocol (wire.h), which these tests drive by hand. The last tests go
 * through the public API for what the backend decides there: worker paths, the worker cap,
 * crash reports.
 *
 * Only pp_os.h, wire.h and pp_test.h are used, except in checks that only make sense on
 * one platform (a worker's descriptors and signal state, seen through /proc; a worker's
 * handles on Windows); those print "SKIP: <reason>" elsewhere.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#else
#  include <dirent.h>
#  include <errno.h>
#  include <fcntl.h>
#  include <pthread.h>
#  include <signal.h>
#  include <sys/mman.h>
#  include <sys/stat.h>
#  include <unistd.h>
#endif
#ifdef __linux__
#  include <sys/syscall.h>
#endif

#include "pp_core.h"
#include "pp_os.h"
#include "pp_test.h"
#include "wire.h"

#define WAIT_MS 20000L

/* A started worker: process, channel, and the wait set watching it. */
typedef struct child {
    pp__proc    *proc;
    pp__chan    *chan;
    pp__waitset *ws;
} child;

static char *exe;

static int suite_init(void)
{
    pp__oserr oe;
    return pp__os_exepath(&exe, &oe) == PP_OK ? 0 : 1;
}

static int suite_clean(void)
{
    pp__free(exe);
    exe = NULL;
    return 0;
}

static void start(child *c)
{
    const char *argv[] = {exe, NULL};
    pp__oserr oe = {NULL, 0};
    PP_ASSERT_OK_FATAL(pp__os_spawn(argv, &c->proc, &c->chan, &oe));
    PP_ASSERT_OK_FATAL(pp__os_waitset_create(&c->ws, &oe));
    PP_ASSERT_OK_FATAL(pp__os_waitset_chan(c->ws, c->chan, PP__EV_READ, c));
    PP_ASSERT_OK_FATAL(pp__os_waitset_proc(c->ws, c->proc, c));
}

static void finish(child *c)
{
    pp__os_waitset_free(c->ws);
    pp__os_chan_free(c->chan);
    pp__os_proc_free(c->proc);
    memset(c, 0, sizeof *c);
}

/* Writes all of buf, waiting on the wait set when the channel is full. */
static void send_all(child *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    long long end = pp_t_now_ms() + WAIT_MS;
    while (len) {
        size_t n = 0;
        PP_ASSERT_OK_FATAL(pp__os_chan_write(c->chan, p, len, &n, NULL));
        p += n;
        len -= n;
        if (len && n == 0) {
            pp__event ev[4];
            size_t k;
            pp__os_waitset_chan(c->ws, c->chan, PP__EV_READ | PP__EV_WRITE, c);
            PP_ASSERT_OK_FATAL(pp__os_waitset_wait(c->ws, 1000, ev, 4, &k, NULL));
            pp__os_waitset_chan(c->ws, c->chan, PP__EV_READ, c);
        }
        CU_ASSERT_FATAL(pp_t_now_ms() < end);
    }
}

/* Reads exactly len bytes (PP_OK), or returns PP_END if the peer went away first. */
static pp_status recv_all(child *c, void *buf, size_t len)
{
    unsigned char *p = buf;
    long long end = pp_t_now_ms() + WAIT_MS;
    while (len) {
        size_t n = 0;
        pp_status st = pp__os_chan_read(c->chan, p, len, &n, NULL);
        if (st == PP_END)
            return st;
        PP_ASSERT_OK_FATAL(st);
        p += n;
        len -= n;
        if (len && n == 0) {
            pp__event ev[4];
            size_t k;
            PP_ASSERT_OK_FATAL(pp__os_waitset_wait(c->ws, 1000, ev, 4, &k, NULL));
        }
        CU_ASSERT_FATAL(pp_t_now_ms() < end);
    }
    return PP_OK;
}

/* Reads one frame; its body goes to *body (malloc'ed, caller frees). */
static pp__wire_hdr recv_frame(child *c, uint8_t **body)
{
    uint8_t raw[PP__WIRE_HDR];
    pp__wire_hdr h = {0, 0, 0};
    *body = NULL;
    PP_ASSERT_OK_FATAL(recv_all(c, raw, sizeof raw));
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(raw, PP__WIRE_MAX_BODY, &h));
    *body = malloc(h.body_len ? (size_t)h.body_len : 1);
    CU_ASSERT_FATAL(*body != NULL);
    PP_ASSERT_OK_FATAL(recv_all(c, *body, (size_t)h.body_len));
    return h;
}

/* INIT without initializer, then READY. */
static void handshake(child *c)
{
    pp__wbuf b = {NULL, 0, 0};
    PP_ASSERT_OK_FATAL(pp__wire_encode_init(&b, 0, NULL, NULL, 0));
    send_all(c, b.data, b.len);
    free(b.data);
    uint8_t *body;
    pp__wire_hdr h = recv_frame(c, &body);
    CU_ASSERT_EQUAL(h.type, PP__MSG_READY);
    uint64_t pid = 0;
    PP_ASSERT_OK(pp__wire_decode_ready(body, (size_t)h.body_len, &pid));
    CU_ASSERT_EQUAL((long long)pid, pp__os_proc_pid(c->proc));
    free(body);
}

/* A CALL frame of one argument (malloc'ed, caller frees); *n its size. */
static uint8_t *call_frame(uint64_t id, const char *task, const void *arg, size_t len,
                           size_t *n)
{
    pp_buf a = {arg, len};
    *n = pp__wire_call_size(strlen(task), &a, 1);
    uint8_t *frame = malloc(*n);
    CU_ASSERT_FATAL(frame != NULL);
    pp__wire_encode_call(frame, id, task, strlen(task), &a, 1);
    return frame;
}

static void send_call(child *c, uint64_t id, const char *task, const void *arg, size_t len)
{
    size_t n;
    uint8_t *frame = call_frame(id, task, arg, len, &n);
    send_all(c, frame, n);
    free(frame);
}

/* Receives the RESULT of call id and checks it carries exactly the bytes want. */
static void expect_result(child *c, uint64_t id, const void *want, size_t want_len)
{
    uint8_t *body;
    pp__wire_hdr h = recv_frame(c, &body);
    CU_ASSERT_EQUAL_FATAL(h.type, PP__MSG_RESULT);
    pp__wire_result r;
    PP_ASSERT_OK_FATAL(pp__wire_decode_result(body, (size_t)h.body_len, &r));
    CU_ASSERT_EQUAL(r.work_id, id);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    pp__wire_item it;
    pp__wire_next_item(&r.items, &it);
    CU_ASSERT_EQUAL(it.status, PP_OK);
    CU_ASSERT_EQUAL_FATAL(it.len, want_len);
    CU_ASSERT(memcmp(it.data, want, want_len) == 0);
    free(body);
}

static pp__exit reap(child *c)
{
    pp__exit st = {false, 0, 0};
    PP_ASSERT_OK(pp__os_proc_reap(c->proc, WAIT_MS, &st, NULL));
    return st;
}

/* Waits until the wait set has reported all of want for tag (or the bound passes); returns
 * what it saw. */
static unsigned wait_for(pp__waitset *ws, void *tag, unsigned want)
{
    pp__event ev[8];
    size_t n = 0;
    unsigned seen = 0;
    long long end = pp_t_now_ms() + WAIT_MS;
    while ((seen & want) != want && pp_t_now_ms() < end) {
        PP_ASSERT_OK_FATAL(pp__os_waitset_wait(ws, 1000, ev, 8, &n, NULL));
        for (size_t i = 0; i < n; i++) {
            if (ev[i].tag == tag)
                seen |= ev[i].events;
        }
    }
    return seen;
}

#if defined(__linux__) && !defined(PP_POSIX_NO_PIDFD)
/* Does this kernel have pidfds (Linux 5.3)? Then the POSIX backend has an exit sentinel. */
static bool have_pidfd(void)
{
#  ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
#  else
    return false;
#  endif
}
#endif

/* ---- process-wide ---- */

static void test_process_facts(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(exe);
    CU_ASSERT(strlen(exe) > 1);
#ifdef _WIN32
    CU_ASSERT(exe[1] == ':' || exe[0] == '\\');
#else
    CU_ASSERT(exe[0] == '/');
#endif
    FILE *f = fopen(exe, "rb"); /* it names a file that exists */
    CU_ASSERT_PTR_NOT_NULL(f);
    if (f)
        fclose(f);
    CU_ASSERT(pp__os_cpu_count() >= 1);
    CU_ASSERT_EQUAL(pp_cpu_count(), pp__os_cpu_count());
    CU_ASSERT_EQUAL(pp__os_max_workers(), INT_MAX); /* memory is the limit, on both */
    CU_ASSERT_EQUAL(pp__os_getpid(), pp_t_getpid());
    int64_t t0 = pp__os_monotonic_ms(), n0 = pp__os_monotonic_ns();
    pp_t_sleep_ms(20);
    int64_t dt = pp__os_monotonic_ms() - t0, dn = pp__os_monotonic_ns() - n0;
    CU_ASSERT(dt >= 15 && dt < WAIT_MS);
    CU_ASSERT(dn >= 15 * 1000000LL && dn < WAIT_MS * 1000000LL);
    /* the two are one clock: ns / 10^6 and ms agree to a few ms */
    int64_t ms = pp__os_monotonic_ms(), ns = pp__os_monotonic_ns(), ms2 = pp__os_monotonic_ms();
    CU_ASSERT(ns / 1000000 >= ms - 2 && ns / 1000000 <= ms2 + 2);
    int64_t prev = pp__os_monotonic_ns();
    for (int i = 0; i < 10000; i++) { /* never goes back */
        int64_t now = pp__os_monotonic_ns();
        CU_ASSERT_FATAL(now >= prev);
        prev = now;
    }
    pp__os_yield(); /* returns, whether or not another thread was ready */
    pp__oserr oe = {"open", 2};
    char buf[128];
    CU_ASSERT_PTR_EQUAL(pp__os_strerror(&oe, buf, sizeof buf), buf);
    CU_ASSERT(strncmp(buf, "open: (2) ", 10) == 0);
    CU_ASSERT(strlen(buf) > 10);
    char tiny[8];
    pp__os_strerror(&oe, tiny, sizeof tiny); /* truncated, terminated */
    CU_ASSERT_EQUAL(strlen(tiny), sizeof tiny - 1);
#ifndef _WIN32
    CU_ASSERT_STRING_EQUAL(pp__os_signal_name(9), "SIGKILL");
    CU_ASSERT_STRING_EQUAL(pp__os_signal_name(SIGSEGV), "SIGSEGV");
    CU_ASSERT_STRING_EQUAL(pp__os_signal_name(SIGTERM), "SIGTERM");
    CU_ASSERT_PTR_NULL(pp__os_signal_name(0));
    CU_ASSERT_PTR_NULL(pp__os_signal_name(-1));
    CU_ASSERT_PTR_NULL(pp__os_exit_name(1));
#else
    /* Exit codes that are exceptions have names; signals do not exist. */
    CU_ASSERT_STRING_EQUAL(pp__os_exit_name((int)0xC0000005), "EXCEPTION_ACCESS_VIOLATION");
    CU_ASSERT_STRING_EQUAL(pp__os_exit_name((int)0xC00000FD), "EXCEPTION_STACK_OVERFLOW");
    CU_ASSERT_STRING_EQUAL(pp__os_exit_name((int)0xC0000409), "STATUS_STACK_BUFFER_OVERRUN");
    CU_ASSERT_PTR_NULL(pp__os_exit_name(0));
    CU_ASSERT_PTR_NULL(pp__os_exit_name(1));
    CU_ASSERT_PTR_NULL(pp__os_exit_name(9));
    CU_ASSERT_PTR_NULL(pp__os_signal_name(9));
#endif
}

/* ---- spawning and the protocol over a real channel ---- */

static void test_echo_round_trip(void)
{
    child c;
    start(&c);
    handshake(&c);
    send_call(&c, 42, "echo", "hello", 5);
    expect_result(&c, 42, "hello", 5);
    send_call(&c, 43, "echo", "", 0);
    expect_result(&c, 43, "", 0);
    /* STOP: the worker exits 0. */
    pp__wbuf b = {NULL, 0, 0};
    PP_ASSERT_OK(pp__wire_encode_stop(&b));
    send_all(&c, b.data, b.len);
    free(b.data);
    pp__exit st = reap(&c);
    CU_ASSERT(st.exited);
    CU_ASSERT_EQUAL(st.code, 0);
    finish(&c);
}

/* Sets (value) or removes (NULL) a variable of this process's environment, which the
 * workers it spawns inherit. */
static void set_env(const char *name, const char *value)
{
#ifdef _WIN32
    CU_ASSERT_EQUAL(_putenv_s(name, value ? value : ""), 0);
#else
    CU_ASSERT_EQUAL(value ? setenv(name, value, 1) : unsetenv(name), 0);
#endif
}

/* A worker polls its channel (pp__os_chan_try_read) for its next call, here for up to
 * 10 ms (PROCPOOL_SPIN_US=10000 in its environment), once its waits have been short. Calls that arrive while it polls are answered, also one that
 * arrives in two pieces, and EOF while it polls ends it with exit code 0. Which path a call
 * takes depends on timing; every path must give the same answers. */
static void test_worker_polls(void)
{
    set_env("PROCPOOL_SPIN_US", "10000");
    child c;
    start(&c);
    set_env("PROCPOOL_SPIN_US", NULL);
    handshake(&c);
    char arg[32];
    uint64_t id = 1;
    for (int i = 0; i < 20; i++, id++) { /* back to back: short waits, it starts polling */
        int len = snprintf(arg, sizeof arg, "call %d", i);
        send_call(&c, id, "echo", arg, (size_t)len);
        expect_result(&c, id, arg, (size_t)len);
    }
    for (int i = 0; i < 5; i++, id++) { /* a call in two pieces, 1 ms apart, while it polls */
        int len = snprintf(arg, sizeof arg, "split %d", i);
        size_t n;
        uint8_t *frame = call_frame(id, "echo", arg, (size_t)len, &n);
        pp_t_sleep_ms(1);
        send_all(&c, frame, 10);
        pp_t_sleep_ms(1);
        send_all(&c, frame + 10, n - 10);
        free(frame);
        expect_result(&c, id, arg, (size_t)len);
    }
    /* a pause longer than its poll: it has gone to sleep, and the call wakes it */
    pp_t_sleep_ms(30);
    send_call(&c, id, "echo", "slept", 5);
    expect_result(&c, id++, "slept", 5);
    for (int i = 0; i < 20; i++, id++) { /* short waits again: it polls again */
        send_call(&c, id, "echo", "again", 5);
        expect_result(&c, id, "again", 5);
    }
    /* EOF while it polls for the next call: it exits 0 */
    pp__os_chan_free(c.chan);
    c.chan = NULL;
    pp__exit st = reap(&c);
    CU_ASSERT(st.exited);
    CU_ASSERT_EQUAL(st.code, 0);
    finish(&c);
}

/* 64 MiB to the worker and back: the non-blocking parent end and the wait set move it. */
static void test_big_round_trip(void)
{
    const size_t len = (size_t)64 << 20;
    unsigned char *buf = malloc(len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    pp_t_fill(buf, len, 7);
    child c;
    start(&c);
    handshake(&c);
    long long t0 = pp_t_now_ms();
    send_call(&c, 5, "echo", buf, len);
    expect_result(&c, 5, buf, len);
    printf("(64 MiB each way: %lld ms) ", pp_t_now_ms() - t0);
    free(buf);
    PP_ASSERT_OK(pp__os_proc_stop(c.proc, false, NULL));
    reap(&c);
    finish(&c);
}

static void test_eof_makes_worker_exit(void)
{
    child c;
    start(&c);
    handshake(&c);
    pp__os_waitset_remove(c.ws, &c);
    pp__os_chan_free(c.chan); /* the parent "dies": the worker sees EOF */
    c.chan = NULL;
    pp__exit st = reap(&c);
    CU_ASSERT(st.exited);
    CU_ASSERT_EQUAL(st.code, 0);
    finish(&c);
}

static void test_exit_code(void)
{
    child c;
    start(&c);
    handshake(&c);
    int32_t code = 3;
    send_call(&c, 1, "exit", &code, sizeof code);
#ifdef __GLIBC__
    /* where an exit handler sees the status (glibc's on_exit), the worker announces it */
    uint8_t f[PP__WIRE_EXITING_LEN];
    PP_ASSERT_OK_FATAL(recv_all(&c, f, sizeof f));
    pp__wire_hdr h;
    int32_t announced = 0;
    PP_ASSERT_OK(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.type, PP__MSG_EXITING);
    PP_ASSERT_OK(pp__wire_decode_exiting(f + PP__WIRE_HDR, 4, &announced));
    CU_ASSERT_EQUAL(announced, 3);
    /* it waits (a second at most) for the manager's answer: one byte */
    size_t n = 0;
    PP_ASSERT_OK(pp__os_chan_write(c.chan, "", 1, &n, NULL));
#endif
    uint8_t b;
    CU_ASSERT_EQUAL(recv_all(&c, &b, 1), PP_END); /* then its channel breaks */
    pp__exit st = reap(&c);
    CU_ASSERT(st.exited);
    CU_ASSERT_EQUAL(st.code, 3);
    CU_ASSERT_EQUAL(st.signal, 0);
    finish(&c);
}

static void test_killed_by_signal(void)
{
    const char *tasks[] = {"kill_self", "segv", "abort"};
#ifdef _WIN32
    /* No signals: the exit code says it. TerminateProcess(self, 9); an access violation
     * (the job's DIE_ON_UNHANDLED_EXCEPTION: no error dialog); abort() exits 3. */
    const int codes[] = {9, (int)0xC0000005, 3};
    const char *names[] = {NULL, "EXCEPTION_ACCESS_VIOLATION", NULL};
#else
    const int sigs[] = {SIGKILL, SIGSEGV, SIGABRT};
#endif
    for (int i = 0; i < 3; i++) {
        child c;
        start(&c);
        handshake(&c);
        send_call(&c, 1, tasks[i], NULL, 0);
        pp__exit st = reap(&c);
#ifdef _WIN32
        CU_ASSERT(st.exited);
        CU_ASSERT_EQUAL(st.code, codes[i]);
        CU_ASSERT_EQUAL(st.signal, 0);
        const char *name = pp__os_exit_name(st.code);
        if (names[i]) {
            CU_ASSERT(name && strcmp(name, names[i]) == 0);
        } else {
            CU_ASSERT_PTR_NULL(name);
        }
#else
        CU_ASSERT(!st.exited);
        CU_ASSERT_EQUAL(st.signal, sigs[i]);
#endif
        finish(&c);
    }
}

static void test_stop_and_reap(void)
{
    for (int kill_it = 0; kill_it < 2; kill_it++) {
        child c;
        start(&c);
        handshake(&c);
        pp__exit st;
        CU_ASSERT_EQUAL(pp__os_proc_reap(c.proc, 0, &st, NULL), PP_ETIMEDOUT); /* alive */
        long long t0 = pp_t_now_ms();
        CU_ASSERT_EQUAL(pp__os_proc_reap(c.proc, 50, &st, NULL), PP_ETIMEDOUT);
        long long dt = pp_t_now_ms() - t0;
        CU_ASSERT(dt >= 40 && dt < WAIT_MS);
        PP_ASSERT_OK(pp__os_proc_stop(c.proc, kill_it, NULL));
        st = reap(&c);
#ifndef _WIN32
        CU_ASSERT(!st.exited);
        CU_ASSERT_EQUAL(st.signal, kill_it ? SIGKILL : SIGTERM);
#endif
        /* Reaping again gives the same status; stopping a reaped child is fine. */
        pp__exit again;
        PP_ASSERT_OK(pp__os_proc_reap(c.proc, 0, &again, NULL));
        CU_ASSERT_EQUAL(again.exited, st.exited);
        CU_ASSERT_EQUAL(again.code, st.code);
        CU_ASSERT_EQUAL(again.signal, st.signal);
        PP_ASSERT_OK(pp__os_proc_reap(c.proc, PP_FOREVER, &again, NULL));
        CU_ASSERT_EQUAL(again.signal, st.signal);
        PP_ASSERT_OK(pp__os_proc_stop(c.proc, false, NULL));
        PP_ASSERT_OK(pp__os_proc_stop(c.proc, true, NULL));
        finish(&c);
    }
}

/* pp__os_proc_free on a live, unreaped child kills and reaps it. */
static void test_free_kills_live_child(void)
{
    child c;
    start(&c);
    handshake(&c);
    long long pid = pp__os_proc_pid(c.proc);
    CU_ASSERT(pp_t_pid_alive(pid));
    finish(&c);
    CU_ASSERT(!pp_t_pid_alive(pid));
}

/* A child reaped behind the backend's back (here: SIGCHLD ignored, so the kernel reaps it):
 * reaping says PP_ESYS (ECHILD) at once, every time, and stop / free never signal its pid,
 * which may belong to another process by then. */
static void test_child_reaped_elsewhere(void)
{
#ifdef _WIN32
    printf("SKIP: POSIX SIGCHLD\n");
    return;
#else
    struct sigaction ign, old;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGCHLD, &ign, &old);
    child c;
    start(&c);
    handshake(&c);
    int32_t code = 0;
    send_call(&c, 1, "exit", &code, sizeof code);
    pp__exit st;
    pp__oserr oe = {NULL, 0};
    CU_ASSERT_EQUAL(pp__os_proc_reap(c.proc, WAIT_MS, &st, &oe), PP_ESYS);
    CU_ASSERT_EQUAL(oe.code, ECHILD);
    long long t0 = pp_t_now_ms();
    CU_ASSERT_EQUAL(pp__os_proc_reap(c.proc, PP_FOREVER, &st, NULL), PP_ESYS);
    CU_ASSERT(pp_t_now_ms() - t0 < 1000);
    PP_ASSERT_OK(pp__os_proc_stop(c.proc, true, NULL));
    finish(&c);
    sigaction(SIGCHLD, &old, NULL);
#endif
}

/* A killed worker: its channel reads as READ then PP_END, with a pidfd it is also EXIT, and
 * a write to it is PP_END, not a SIGPIPE. */
static void test_dead_worker_is_reported(void)
{
    child c;
    start(&c);
    handshake(&c);
    unsigned want = PP__EV_READ;
#if defined(__linux__) && !defined(PP_POSIX_NO_PIDFD) /* (the knob builds the fallback) */
    if (have_pidfd())
        want |= PP__EV_EXIT;
#endif
    PP_ASSERT_OK(pp__os_proc_stop(c.proc, true, NULL));
    unsigned seen = wait_for(c.ws, &c, want);
    CU_ASSERT_EQUAL(seen & want, want);
    uint8_t b;
    CU_ASSERT_EQUAL(recv_all(&c, &b, 1), PP_END);
    CU_ASSERT_EQUAL(recv_all(&c, &b, 1), PP_END); /* and again */
    size_t wrote = 0;
    CU_ASSERT_EQUAL(pp__os_chan_write(c.chan, "x", 1, &wrote, NULL), PP_END);
    CU_ASSERT_EQUAL(wrote, 0);
    /* Asking for WRITE too reports both on a broken channel. */
    PP_ASSERT_OK(pp__os_waitset_chan(c.ws, c.chan, PP__EV_READ | PP__EV_WRITE, &c));
    seen = wait_for(c.ws, &c, PP__EV_READ | PP__EV_WRITE);
    CU_ASSERT_EQUAL(seen & (PP__EV_READ | PP__EV_WRITE), PP__EV_READ | PP__EV_WRITE);
    reap(&c);
    /* Once removed, nothing is reported for it any more. */
    pp__os_waitset_remove(c.ws, &c);
    pp__event ev[4];
    size_t n = 99;
    PP_ASSERT_OK(pp__os_waitset_wait(c.ws, 0, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 0);
    finish(&c);
}

/* Children whose pid glibc may not have reaped, Linux: /proc/self/task/<tid>/children (the
 * children of the calling thread). NULL if unavailable. */
static char *children_list(void)
{
#ifdef __linux__
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)syscall(SYS_gettid));
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strdup(buf);
#else
    return NULL;
#endif
}

static void expect_spawn_fails(const char *program)
{
    size_t before = pp__os_handle_count();
    char *kids = children_list();
    const char *argv[] = {program, "x", NULL};
    pp__proc *p = (pp__proc *)1;
    pp__chan *ch = (pp__chan *)1;
    pp__oserr oe = {NULL, 0};
    CU_ASSERT_EQUAL(pp__os_spawn(argv, &p, &ch, &oe), PP_ESYS);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NULL(ch);
    CU_ASSERT_PTR_NOT_NULL_FATAL(oe.call);
    CU_ASSERT(oe.code != 0);
    char buf[256];
    pp__os_strerror(&oe, buf, sizeof buf);
    CU_ASSERT(strstr(buf, oe.call) != NULL);
    CU_ASSERT_EQUAL(pp__os_handle_count(), before);
    char *kids_after = children_list();
    if (kids && kids_after)
        CU_ASSERT_STRING_EQUAL(kids_after, kids); /* no child, not even a zombie */
    free(kids);
    free(kids_after);
}

static void test_spawn_failures(void)
{
    expect_spawn_fails("/nonexistent/procpool-no-such-program");
#ifndef _WIN32
    expect_spawn_fails("/");       /* a directory */
    expect_spawn_fails("/dev/null"); /* not a regular file, not executable */
    /* A regular, executable file that is no program: only exec itself can tell (ENOEXEC).
     * glibc's posix_spawn reports it; where exec errors are not reported (valgrind runs the
     * spawn as a fork), the child exits 127 instead, which is what a caller then sees. */
    char path[] = "/tmp/pp_backend_noexec_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(write(fd, "\x01\x02garbage\n", 10) == 10);
    fchmod(fd, 0700);
    close(fd);
    size_t before = pp__os_handle_count();
    char *kids = children_list();
    const char *argv[] = {path, NULL};
    pp__proc *p = NULL;
    pp__chan *ch = NULL;
    pp__oserr oe = {NULL, 0};
    pp_status st = pp__os_spawn(argv, &p, &ch, &oe);
    if (st == PP_ESYS) {
        CU_ASSERT_STRING_EQUAL(oe.call, "posix_spawn");
        CU_ASSERT_EQUAL(oe.code, ENOEXEC);
        char *kids_after = children_list();
        if (kids && kids_after)
            CU_ASSERT_STRING_EQUAL(kids_after, kids);
        free(kids_after);
    } else {
        PP_ASSERT_OK(st);
        printf("(exec error not reported by posix_spawn here) ");
        pp__exit ex = {false, 0, 0};
        PP_ASSERT_OK(pp__os_proc_reap(p, WAIT_MS, &ex, NULL));
        CU_ASSERT(ex.exited && ex.code == 127);
        pp__os_chan_free(ch);
        pp__os_proc_free(p);
    }
    CU_ASSERT_EQUAL(pp__os_handle_count(), before);
    free(kids);
    unlink(path);
#endif
    const char *empty[] = {NULL};
    pp__proc *p2 = NULL;
    pp__chan *c2 = NULL;
    CU_ASSERT_EQUAL(pp__os_spawn(empty, &p2, &c2, NULL), PP_EINVAL);
}

/* pp__os_chan_from_argv: not a worker, malformed tokens, descriptors that are no channel. */
static void test_chan_from_argv(void)
{
    pp__chan *c = (pp__chan *)1;
    pp__oserr oe = {NULL, 0};
    char *plain[] = {"prog", "a", "b", NULL};
    CU_ASSERT_EQUAL(pp__os_chan_from_argv(3, plain, &c, &oe), PP_END);
    CU_ASSERT_PTR_NULL(c);
    char *marker_first[] = {PP__WORKER_MARKER, "3", NULL}; /* argv[0] is the program */
    CU_ASSERT_EQUAL(pp__os_chan_from_argv(2, marker_first, &c, &oe), PP_END);
    char *last[] = {"prog", PP__WORKER_MARKER, NULL};
    CU_ASSERT_EQUAL(pp__os_chan_from_argv(2, last, &c, &oe), PP_EINVAL);
    const char *bad[] = {"", "-1", "+3", " 3", "3 ", "3x", "0x3", "99999999999999999999", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"prog", PP__WORKER_MARKER, (char *)bad[i], NULL};
        c = (pp__chan *)1;
        CU_ASSERT_EQUAL(pp__os_chan_from_argv(3, argv, &c, &oe), PP_EINVAL);
        CU_ASSERT_PTR_NULL(c);
    }
#ifndef _WIN32
    /* A closed descriptor: the OS says so. */
    char *closed[] = {"prog", PP__WORKER_MARKER, "1000000", NULL};
    CU_ASSERT_EQUAL(pp__os_chan_from_argv(3, closed, &c, &oe), PP_ESYS);
    CU_ASSERT_PTR_NOT_NULL(oe.call);
    /* An open descriptor that is not a socket (left untouched). */
    FILE *f = fopen(exe, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char tok[16];
    snprintf(tok, sizeof tok, "%d", fileno(f));
    int fdflags = fcntl(fileno(f), F_GETFD);
    char *file[] = {"prog", "other", PP__WORKER_MARKER, tok, NULL};
    CU_ASSERT_EQUAL(pp__os_chan_from_argv(4, file, &c, &oe), PP_EINVAL);
    CU_ASSERT_EQUAL(fcntl(fileno(f), F_GETFD), fdflags);
    fclose(f);
#endif
}

/* ---- the wait set ---- */

static void wake_after(void *arg)
{
    pp_t_sleep_ms(100);
    pp__os_waitset_wake(arg);
}

static void test_wake(void)
{
    pp__waitset *ws;
    PP_ASSERT_OK_FATAL(pp__os_waitset_create(&ws, NULL));
    pp__event ev[4];
    size_t n = 99;
    /* A timeout with nothing ready reports nothing, after about that long. */
    PP_ASSERT_OK(pp__os_waitset_wait(ws, 0, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 0);
    long long t0 = pp_t_now_ms();
    n = 99;
    PP_ASSERT_OK(pp__os_waitset_wait(ws, 50, ev, 4, &n, NULL));
    long long dt = pp_t_now_ms() - t0;
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT(dt >= 45 && dt < WAIT_MS);
    /* Wakes coalesce: three wakes are one event, then nothing. */
    pp__os_waitset_wake(ws);
    pp__os_waitset_wake(ws);
    pp__os_waitset_wake(ws);
    PP_ASSERT_OK(pp__os_waitset_wait(ws, 0, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_PTR_NULL(ev[0].tag);
    CU_ASSERT_EQUAL(ev[0].events, PP__EV_WAKE);
    PP_ASSERT_OK(pp__os_waitset_wait(ws, 0, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 0);
    /* A wake before the wait is not lost; after it was consumed, a new one works. */
    for (int i = 0; i < 3; i++) {
        pp__os_waitset_wake(ws);
        PP_ASSERT_OK(pp__os_waitset_wait(ws, WAIT_MS, ev, 4, &n, NULL));
        CU_ASSERT_EQUAL(n, 1);
    }
    /* A wake from another thread ends a wait without limit. */
    pp_t_thread *t = pp_t_thread_start(wake_after, ws);
    t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp__os_waitset_wait(ws, PP_FOREVER, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(ev[0].events, PP__EV_WAKE);
    CU_ASSERT(pp_t_now_ms() - t0 < WAIT_MS);
    pp_t_thread_join(t);
    pp__os_waitset_free(ws);
    pp__os_waitset_free(NULL);
}

/* The manager's nap (docs/design.md, "Naps"): a wait of microseconds that ends by itself,
 * or at an event; Windows cannot wait less than its timer's tick, and says so. */
static void test_nap(void)
{
    pp__waitset *ws;
    PP_ASSERT_OK_FATAL(pp__os_waitset_create(&ws, NULL));
    pp__event ev[4];
    size_t n = 99;
    pp__oserr oe = {NULL, 0};
#if defined(_WIN32) || !defined(__linux__)
    CU_ASSERT_EQUAL(pp__os_waitset_nap(ws, 200, ev, 4, &n, &oe), PP_ENOTSUP);
    CU_ASSERT_EQUAL(n, 0);
    char msg[256];
    CU_ASSERT(strlen(pp__os_strerror(&oe, msg, sizeof msg)) > 0);
#else
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp__os_waitset_nap(ws, 200, ev, 4, &n, &oe));
    CU_ASSERT_EQUAL(n, 0); /* nothing: it ended by itself */
    CU_ASSERT(pp_t_now_ms() - t0 < WAIT_MS);
    pp__os_waitset_wake(ws); /* an event ends it (here: at once) */
    PP_ASSERT_OK(pp__os_waitset_nap(ws, 1000000, ev, 4, &n, &oe));
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(ev[0].events, PP__EV_WAKE);
    pp_t_thread *t = pp_t_thread_start(wake_after, ws); /* a long nap: woken meanwhile */
    t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp__os_waitset_nap(ws, 30 * 1000000L, ev, 4, &n, &oe));
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT(pp_t_now_ms() - t0 < WAIT_MS);
    pp_t_thread_join(t);
#endif
    pp__os_waitset_free(ws);
}

typedef struct waker {
    pp__waitset *ws;
    atomic_int   stop;
    atomic_int   done;
} waker;

static void wake_many(void *arg)
{
    waker *w = arg;
    while (!atomic_load(&w->stop)) {
        for (int i = 0; i < 1000; i++)
            pp__os_waitset_wake(w->ws);
    }
    atomic_fetch_add(&w->done, 1);
}

/* Wakes racing with the waiter are never lost: after a storm of wakes consumed by waits,
 * one more wake still ends a wait. A regression test: clearing the "pending" flag before
 * consuming the eventfd lost every later wake once a wake landed in between (3 threads on
 * fewer cores, so that the waiter is preempted there now and then). */
static void test_wake_storm(void)
{
    enum { WAKERS = 3 };
    waker w;
    w.ws = NULL;
    atomic_init(&w.stop, 0);
    atomic_init(&w.done, 0);
    PP_ASSERT_OK_FATAL(pp__os_waitset_create(&w.ws, NULL));
    pp_t_thread *t[WAKERS];
    for (int i = 0; i < WAKERS; i++)
        t[i] = pp_t_thread_start(wake_many, &w);
    pp__event ev[4];
    size_t n;
    long long end = pp_t_now_ms() + 500;
    unsigned long waits = 0, woken = 0, failed = 0;
    while (pp_t_now_ms() < end) {
        /* Each round: at least one wake lands after the previous one was consumed, so a
         * wait must see it. */
        pp_status st = pp__os_waitset_wait(w.ws, 2000, ev, 4, &n, NULL);
        failed += st != PP_OK;
        waits++;
        woken += n == 1;
        if (n != 1)
            break; /* lost: no wake for 2 s under a storm of them */
    }
    atomic_store(&w.stop, 1);
    for (int i = 0; i < WAKERS; i++)
        pp_t_thread_join(t[i]);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(woken, waits);
    PP_ASSERT_OK(pp__os_waitset_wait(w.ws, 0, ev, 4, &n, NULL)); /* drain what is left */
    pp__os_waitset_wake(w.ws);
    PP_ASSERT_OK(pp__os_waitset_wait(w.ws, 5000, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 1);
    pp__os_waitset_free(w.ws);
}

/* More tags ready than room in the output: each wait reports as many as fit, and the
 * ones left out come first in the next wait, so that none starves. One event per tag,
 * with its channel's and its process's events or-ed. */
static void test_more_ready_than_room(void)
{
    enum { N = 4 };
    child c[N];
    pp__waitset *ws;
    PP_ASSERT_OK_FATAL(pp__os_waitset_create(&ws, NULL));
    for (int i = 0; i < N; i++) {
        start(&c[i]);
        PP_ASSERT_OK_FATAL(pp__os_waitset_chan(ws, c[i].chan, PP__EV_READ, &c[i]));
        PP_ASSERT_OK_FATAL(pp__os_waitset_proc(ws, c[i].proc, &c[i]));
    }
    for (int i = 0; i < N; i++) {
        PP_ASSERT_OK(pp__os_proc_stop(c[i].proc, true, NULL));
        reap(&c[i]); /* dead: its channel is at EOF (and its pidfd readable) for good */
    }
    pp__event ev[N];
    size_t n = 0;
    /* Let the channels' EOF arrive: all N ready at once. */
    long long end = pp_t_now_ms() + WAIT_MS;
    do {
        PP_ASSERT_OK_FATAL(pp__os_waitset_wait(ws, 100, ev, N, &n, NULL));
    } while (n < N && pp_t_now_ms() < end);
    CU_ASSERT_EQUAL_FATAL(n, N);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            CU_ASSERT_PTR_NOT_EQUAL(ev[i].tag, ev[j].tag);
        CU_ASSERT(ev[i].events & PP__EV_READ);
    }
    /* Room for 1: N waits report N different tags. */
    bool seen[N] = {false};
    for (int k = 0; k < N; k++) {
        PP_ASSERT_OK(pp__os_waitset_wait(ws, 0, ev, 1, &n, NULL));
        CU_ASSERT_EQUAL_FATAL(n, 1);
        int i = (int)((child *)ev[0].tag - c);
        CU_ASSERT_FATAL(i >= 0 && i < N);
        CU_ASSERT(!seen[i]);
        seen[i] = true;
    }
    pp__os_waitset_free(ws);
    for (int i = 0; i < N; i++)
        finish(&c[i]);
}

static void test_no_descriptor_leak(void)
{
    size_t before = pp__os_handle_count();
    for (int i = 0; i < 200; i++) {
        child c;
        start(&c);
        if (i % 2)
            handshake(&c);
        PP_ASSERT_OK(pp__os_proc_stop(c.proc, i % 4 == 1 ? false : true, NULL));
        reap(&c);
        finish(&c);
    }
    CU_ASSERT_EQUAL(pp__os_handle_count(), before);
}

/* ---- what a worker inherits (Linux: seen through /proc/<pid>) ---- */

#ifdef __linux__
/* The worker's "Name:\t<hex>" line of /proc/<pid>/status, as a number. */
static unsigned long long status_mask(long long pid, const char *name)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%lld/status", pid);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    unsigned long long v = ~0ull;
    size_t len = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, len) == 0 && line[len] == ':')
            v = strtoull(line + len + 1, NULL, 16);
    }
    fclose(f);
    return v;
}
#endif

/* The worker holds exactly stdin, stdout, stderr and its channel (3, a socket, close-on-exec
 * and blocking), even when the parent has a descriptor without close-on-exec. */
static void test_worker_descriptors(void)
{
#if !defined(__linux__)
    printf("SKIP: needs /proc/<pid>/fd\n");
    return;
#elif !(defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34)))
    printf("SKIP: needs posix_spawn_file_actions_addclosefrom_np (glibc 2.34)\n");
    return;
#else
    int stray = open("/dev/null", O_RDONLY); /* inheritable */
    CU_ASSERT_FATAL(stray >= 0);
    child c;
    start(&c);
    close(stray);
    handshake(&c); /* it is idle in its loop now */
    long long pid = pp__os_proc_pid(c.proc);
    char path[64];
    snprintf(path, sizeof path, "/proc/%lld/fd", pid);
    /* A descriptor of the worker's own may be open for a moment (its crash report's
     * unwinder is being loaded, in a thread, while it serves: libgcc_s): looked at again
     * for up to 2 s; an inherited one would stay. */
    int n = 0;
    unsigned mask = 0;
    for (int look = 0; look < 100; look++) {
        DIR *d = opendir(path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        n = 0;
        mask = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            int fd = atoi(e->d_name);
            n++;
            if (fd >= 0 && fd < 8)
                mask |= 1u << fd;
        }
        closedir(d);
        if (n == 4 && mask == 0xFu)
            break;
        pp_t_sleep_ms(20);
    }
    if (n != 4 || mask != 0xFu)
        printf("(worker has %d descriptors, mask 0x%X) ", n, mask);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(mask, 0xFu);
    char link[64], target[128];
    snprintf(link, sizeof link, "/proc/%lld/fd/3", pid);
    ssize_t len = readlink(link, target, sizeof target - 1);
    CU_ASSERT_FATAL(len > 0);
    target[len] = 0;
    CU_ASSERT(strncmp(target, "socket:", 7) == 0);
    /* flags:\t<octal> in fdinfo: close-on-exec set (no grandchild keeps the channel open),
     * O_NONBLOCK clear (the worker's end blocks). */
    snprintf(path, sizeof path, "/proc/%lld/fdinfo/3", pid);
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[128];
    long flags = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags:", 6) == 0)
            flags = strtol(line + 6, NULL, 8);
    }
    fclose(f);
    CU_ASSERT(flags >= 0);
    CU_ASSERT(flags & O_CLOEXEC);
    CU_ASSERT(!(flags & O_NONBLOCK));
    finish(&c);
#endif
}

/* The worker starts with an empty signal mask and SIGPIPE, SIGTERM at their default action,
 * even when the spawning thread blocks signals and the parent ignores SIGPIPE; a signal the
 * parent ignores otherwise (SIGHUP, as under nohup) stays ignored. */
static void test_worker_signals(void)
{
#ifndef __linux__
    printf("SKIP: needs /proc/<pid>/status\n");
    return;
#else
    struct sigaction ign, old_pipe, old_hup, old_term;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGHUP, &ign, &old_hup);
    sigaction(SIGTERM, &ign, &old_term);
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask);
    child c;
    start(&c);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    handshake(&c);
    long long pid = pp__os_proc_pid(c.proc);
    unsigned long long blk = status_mask(pid, "SigBlk");
    unsigned long long ignd = status_mask(pid, "SigIgn");
    CU_ASSERT_EQUAL(blk, 0);
    CU_ASSERT(!(ignd & (1ull << (SIGPIPE - 1))));
    CU_ASSERT(!(ignd & (1ull << (SIGTERM - 1))));
    CU_ASSERT(ignd & (1ull << (SIGHUP - 1)));
    /* So SIGTERM stops it. */
    PP_ASSERT_OK(pp__os_proc_stop(c.proc, false, NULL));
    pp__exit st = reap(&c);
    CU_ASSERT(!st.exited);
    CU_ASSERT_EQUAL(st.signal, SIGTERM);
    finish(&c);
#endif
}

/* ---- through the public API: worker paths, the worker cap, crash reports ---- */

/* File-system helpers for UTF-8 paths (Windows: converted to UTF-16 for the *W calls). */
#ifdef _WIN32
static wchar_t *wide(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, s, -1, NULL, 0);
    wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
    if (w)
        MultiByteToWideChar(CP_UTF8, 0, s, -1, w, n);
    return w;
}

static char *narrow(const wchar_t *w)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = n > 0 ? malloc((size_t)n) : NULL;
    if (s)
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    return s;
}
#endif

/* The temporary directory, UTF-8, without a trailing separator; caller frees. */
static char *temp_dir(void)
{
#ifdef _WIN32
    wchar_t w[MAX_PATH + 1];
    DWORD n = GetTempPathW(MAX_PATH + 1, w);
    if (n == 0 || n > MAX_PATH)
        return NULL;
    if (n > 1 && w[n - 1] == L'\\')
        w[n - 1] = 0;
    return narrow(w);
#else
    const char *t = getenv("TMPDIR");
    return strdup(t && *t ? t : "/tmp");
#endif
}

static bool make_dir(const char *path)
{
#ifdef _WIN32
    wchar_t *w = wide(path);
    bool ok = w && CreateDirectoryW(w, NULL);
    free(w);
    return ok;
#else
    return mkdir(path, 0700) == 0;
#endif
}

static bool remove_path(const char *path, bool dir)
{
#ifdef _WIN32
    wchar_t *w = wide(path);
    bool ok = w && (dir ? RemoveDirectoryW(w) : DeleteFileW(w));
    free(w);
    return ok;
#else
    return (dir ? rmdir(path) : unlink(path)) == 0;
#endif
}

/* Copies the file from to to (to must not exist), keeping it executable. */
static bool copy_file(const char *from, const char *to)
{
#ifdef _WIN32
    wchar_t *wf = wide(from), *wt = wide(to);
    bool ok = wf && wt && CopyFileW(wf, wt, TRUE);
    free(wf);
    free(wt);
    return ok;
#else
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    bool ok = in >= 0 && out >= 0;
    char buf[65536];
    ssize_t n;
    while (ok && (n = read(in, buf, sizeof buf)) != 0) {
        ok = n > 0 && write(out, buf, (size_t)n) == n;
    }
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        ok = false;
    return ok;
#endif
}

/* The DLLs beside this program (an MSVC build with vcpkg's DLLs, a shared build): a copy of
 * the program elsewhere needs them beside it too. Copies them into dir and returns their
 * names (NULL-terminated, caller frees with free_names), or NULL if there are none. */
static char **copy_dlls(const char *dir)
{
#ifdef _WIN32
    char *slash = strrchr(exe, '\\');
    if (!slash)
        return NULL;
    char pattern[4096];
    snprintf(pattern, sizeof pattern, "%.*s\\*.dll", (int)(slash - exe), exe);
    wchar_t *wp = wide(pattern);
    WIN32_FIND_DATAW fd;
    HANDLE h = wp ? FindFirstFileW(wp, &fd) : INVALID_HANDLE_VALUE;
    free(wp);
    if (h == INVALID_HANDLE_VALUE)
        return NULL;
    char **names = calloc(1, sizeof *names);
    size_t n = 0;
    do {
        char *name = narrow(fd.cFileName);
        char **more = name && names ? realloc(names, (n + 2) * sizeof *names) : NULL;
        if (!more) {
            free(name);
            break;
        }
        names = more;
        char from[4096 + 256], to[4096 + 256];
        snprintf(from, sizeof from, "%.*s\\%s", (int)(slash - exe), exe, name);
        snprintf(to, sizeof to, "%s\\%s", dir, name);
        CU_ASSERT(copy_file(from, to));
        names[n++] = name;
        names[n] = NULL;
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return names;
#else
    (void)dir;
    return NULL;
#endif
}

/* The path of the program a process runs (UTF-8, caller frees), or NULL if unknown here. */
static char *process_image(long long pid)
{
#ifdef _WIN32
    HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
    if (!h)
        return NULL;
    wchar_t w[4096];
    DWORD len = sizeof w / sizeof w[0];
    char *s = QueryFullProcessImageNameW(h, 0, w, &len) ? narrow(w) : NULL;
    CloseHandle(h);
    return s;
#elif defined(__linux__)
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/%lld/exe", pid);
    ssize_t len = readlink(link, target, sizeof target - 1);
    if (len <= 0)
        return NULL;
    target[len] = 0;
    return strdup(target);
#else
    (void)pid;
    return NULL;
#endif
}

/* options.worker_path naming a copy of this program in a directory whose name, like the
 * copy's, has spaces and non-ASCII characters (Latin, CJK, an emoji outside the BMP: a
 * UTF-16 surrogate pair on Windows): the workers start from it and run tasks. */
static void test_worker_path_unicode(void)
{
#ifdef _WIN32
    const char sep = '\\';
    const char *base = "pp tests \xc3\xa7\xf0\x9f\x90\x8d.exe"; /* c-cedilla, U+1F40D */
#else
    const char sep = '/';
    const char *base = "pp tests \xc3\xa7\xf0\x9f\x90\x8d";
#endif
    char *tmp = temp_dir();
    CU_ASSERT_PTR_NOT_NULL_FATAL(tmp);
    char dir[2048], path[4096];
    /* "procpool w\u00fcrker \u65e5\u672c <pid>" */
    snprintf(dir, sizeof dir, "%.1900s%cprocpool w\xc3\xbcrker \xe6\x97\xa5\xe6\x9c\xac %lld", tmp,
             sep, pp_t_getpid());
    free(tmp);
    snprintf(path, sizeof path, "%s%c%s", dir, sep, base);
    CU_ASSERT_FATAL(make_dir(dir));
    CU_ASSERT(copy_file(exe, path));
    char **dlls = copy_dlls(dir);

    pp_executor_options o;
    pp_executor_options_init(&o);
    o.max_workers = 2;
    o.worker_path = path;
    pp_executor *ex = NULL;
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    if (ex) {
        pp_future *f = NULL, *g = NULL;
        PP_ASSERT_OK(pp_submit(ex, "echo", "h\xc3\xa9llo", 6, &f));
        PP_ASSERT_OK(pp_submit(ex, "pid", NULL, 0, &g));
        pp_buf r = {NULL, 0};
        PP_ASSERT_OK(pp_future_result(f, PP_T_TIMEOUT_MS, &r));
        CU_ASSERT(r.len == 6 && memcmp(r.data, "h\xc3\xa9llo", 6) == 0);
        PP_ASSERT_OK(pp_future_result(g, PP_T_TIMEOUT_MS, &r));
        long long pid = 0;
        CU_ASSERT_EQUAL(r.len, sizeof pid);
        if (r.len == sizeof pid)
            memcpy(&pid, r.data, sizeof pid);
        CU_ASSERT(pid > 0 && pid != pp_t_getpid());
        /* The worker (idle, alive until destroy) runs the copy. */
        char *image = pid > 0 ? process_image(pid) : NULL;
        if (image) {
            size_t li = strlen(image), lb = strlen(base);
            CU_ASSERT(li > lb && strcmp(image + li - lb, base) == 0);
            CU_ASSERT(strstr(image, "w\xc3\xbcrker \xe6\x97\xa5\xe6\x9c\xac") != NULL);
            if (!(li > lb && strcmp(image + li - lb, base) == 0))
                fprintf(stderr, "\n  worker image: %s\n", image);
            free(image);
        } else {
            printf("(worker image path: not readable here) ");
        }
        pp_future_release(f);
        pp_future_release(g);
        pp_executor_destroy(ex);
    }
    /* The workers are gone (destroy waited for them): the copy can go. */
    for (char **d = dlls; d && *d; d++) {
        char p[4096 + 256];
        snprintf(p, sizeof p, "%s%c%s", dir, sep, *d);
        CU_ASSERT(remove_path(p, false));
        free(*d);
    }
    free(dlls);
    CU_ASSERT(remove_path(path, false));
    CU_ASSERT(remove_path(dir, true));
}

/* No cap on max_workers but memory, on both backends (Windows had CPython's 61: one
 * WaitForMultipleObjects set of 64 handles; its wait set takes any number now, and the
 * scale suite runs 200 workers at once). The default is pp_cpu_count(). */
static void test_max_workers_cap(void)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
    pp_executor *ex = (pp_executor *)1;
    o.max_workers = 62;
    PP_ASSERT_OK(pp_executor_create(&o, &ex)); /* no worker starts before a submit */
    pp_executor_destroy(ex);
    o.max_workers = 100000;
    ex = NULL;
    PP_ASSERT_OK(pp_executor_create(&o, &ex));
    pp_executor_destroy(ex);
    o.max_workers = -1;
    ex = (pp_executor *)1;
    CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_EINVAL);
    CU_ASSERT_PTR_NULL(ex);

    /* 64 workers: more than WaitForMultipleObjects could wait on (the scale suite goes to
     * 200, all busy at once). */
    enum { N = 64 };
    o.max_workers = N;
    ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(&o, &ex));
    pp_future *fs[N];
    pp_t_sleep_arg a = {2000, 0};
    for (int i = 0; i < N; i++) {
        a.value = i;
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &fs[i]));
    }
    for (int i = 0; i < N; i++) {
        pp_buf r = {NULL, 0};
        PP_ASSERT_OK(pp_future_result(fs[i], 60000, &r));
        int32_t v = -1;
        if (r.len == sizeof v)
            memcpy(&v, r.data, sizeof v);
        CU_ASSERT_EQUAL(v, i);
        pp_future_release(fs[i]);
    }
    pp_executor_stats st;
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT(st.workers_started >= 1 && st.workers_started <= N);
    CU_ASSERT_EQUAL(st.workers_died, 0);
    printf("(%llu workers started) ", st.workers_started);
    pp_executor_destroy(ex);

    /* The default: never more workers than CPUs, nor than the cap. */
    int cap = pp_cpu_count() < pp__os_max_workers() ? pp_cpu_count() : pp__os_max_workers();
    ex = NULL;
    PP_ASSERT_OK_FATAL(pp_executor_create(NULL, &ex));
    pp_future *more[8];
    a.ms = 200;
    for (int i = 0; i < 8; i++)
        PP_ASSERT_OK_FATAL(pp_submit(ex, "sleep", &a, sizeof a, &more[i]));
    for (int i = 0; i < 8; i++) {
        PP_ASSERT_OK(pp_future_result(more[i], 60000, NULL));
        pp_future_release(more[i]);
    }
    PP_ASSERT_OK(pp_executor_stats_get(ex, &st));
    CU_ASSERT(st.workers_started >= 1 && st.workers_started <= (unsigned long long)cap);
    pp_executor_destroy(ex);
}

/* A worker that crashes breaks the pool with a report that names the crash: the exception
 * on Windows, the signal on POSIX, with the task and the pid. */
static void test_crash_report(void)
{
#ifdef _WIN32
    const char *want = "exited with code 0xC0000005 (EXCEPTION_ACCESS_VIOLATION) running 'segv'";
    const int want_code = (int)0xC0000005;
#else
    const char *want = "killed by signal 11 (SIGSEGV) running 'segv'";
    const int want_code = -SIGSEGV;
#endif
    pp_executor *ex = pp_t_executor(1);
    pp_future *f = NULL;
    PP_ASSERT_OK_FATAL(pp_submit(ex, "segv", NULL, 0, &f));
    const pp_error *e = NULL;
    PP_ASSERT_OK_FATAL(pp_future_exception(f, PP_T_TIMEOUT_MS, &e));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(e->status, PP_EBROKEN);
    CU_ASSERT_EQUAL(e->code, want_code);
    CU_ASSERT(e->pid > 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e->message);
    char pidtxt[48];
    snprintf(pidtxt, sizeof pidtxt, "worker %lld ", e->pid);
    CU_ASSERT(strstr(e->message, pidtxt) != NULL);
    CU_ASSERT(strstr(e->message, want) != NULL);
    if (!strstr(e->message, want))
        fprintf(stderr, "\n  crash report: %s\n", e->message);
    pp_future_release(f);
    pp_executor_destroy(ex);
}

/* Windows: the worker inherits no inheritable handle of the parent but its channel and the
 * standard handles (PROC_THREAD_ATTRIBUTE_HANDLE_LIST). An inheritable event made before
 * the spawn is looked up in the worker under the same value (inherited handles keep their
 * value): if a handle is there, it must not be that event (two set/reset rounds tell). */
static void test_worker_inherits_one_handle(void)
{
#ifndef _WIN32
    printf("SKIP: Windows handle lists (POSIX: see the descriptors test)\n");
#else
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE stray = CreateEventW(&sa, TRUE, FALSE, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(stray);
    child c;
    start(&c);
    handshake(&c);
    HANDLE proc = OpenProcess(PROCESS_DUP_HANDLE, FALSE, (DWORD)pp__os_proc_pid(c.proc));
    CU_ASSERT_PTR_NOT_NULL_FATAL(proc);
    HANDLE there = NULL;
    if (DuplicateHandle(proc, stray, GetCurrentProcess(), &there, 0, FALSE,
                        DUPLICATE_SAME_ACCESS)) {
        /* Something holds that value in the worker: is it our event? */
        bool same = true;
        for (int round = 0; round < 2 && same; round++) {
            SetEvent(stray);
            same = WaitForSingleObject(there, 0) == WAIT_OBJECT_0;
            ResetEvent(stray);
            same = same && WaitForSingleObject(there, 0) == WAIT_TIMEOUT;
        }
        CU_ASSERT(!same);
        CloseHandle(there);
    }
    CloseHandle(proc);
    CloseHandle(stray);
    PP_ASSERT_OK(pp__os_proc_stop(c.proc, true, NULL));
    reap(&c);
    finish(&c);
#endif
}

/* Windows: workers are in a job object with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, so they go
 * with their program however it ends: killed (TerminateProcess, which runs no code in it),
 * or returning from main without destroying its executor. The program is this one,
 * "--orphan-parent" (test_shutdown.c): two busy workers and an idle one, their pids on its
 * stdout. (POSIX: test_shutdown.c's no-orphans tests.) */
#ifdef _WIN32
static void orphans_case(bool kill_parent)
{
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE rd = NULL, wr = NULL;
    CU_ASSERT_FATAL(CreatePipe(&rd, &wr, &sa, 0));
    SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "\"%s\" --orphan-parent", exe);
    wchar_t *wcmd = wide(cmd), *wexe = wide(exe);
    CU_ASSERT_FATAL(wcmd && wexe);
    STARTUPINFOW si;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = wr;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    PROCESS_INFORMATION pi;
    if (!kill_parent)
        SetEnvironmentVariableW(L"PP_T_PARENT_MODE", L"exit");
    BOOL ok = CreateProcessW(wexe, wcmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
    SetEnvironmentVariableW(L"PP_T_PARENT_MODE", NULL);
    free(wcmd);
    free(wexe);
    CloseHandle(wr); /* the parent and its workers hold it now */
    CU_ASSERT_FATAL(ok);
    CloseHandle(pi.hThread);

    /* Its line: "<pid> <worker> <worker> <worker>\n", read without blocking past a bound. */
    char line[256];
    size_t len = 0;
    long long end = pp_t_now_ms() + WAIT_MS;
    while (len < sizeof line - 1 && !memchr(line, '\n', len) && pp_t_now_ms() < end) {
        DWORD avail = 0, got = 0;
        if (!PeekNamedPipe(rd, NULL, 0, NULL, &avail, NULL))
            break; /* the parent is gone */
        if (avail == 0) {
            pp_t_sleep_ms(10);
            continue;
        }
        if (avail > sizeof line - 1 - len)
            avail = (DWORD)(sizeof line - 1 - len);
        if (!ReadFile(rd, line + len, avail, &got, NULL))
            break;
        len += got;
    }
    line[len] = 0;
    long long ids[4] = {0, 0, 0, 0};
    int n = sscanf(line, "%lld %lld %lld %lld", &ids[0], &ids[1], &ids[2], &ids[3]);
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(ids[0], (long long)pi.dwProcessId);
    if (kill_parent) {
        /* (A parent that exits by itself may already be gone with its workers.) */
        for (int i = 1; n == 4 && i < 4; i++)
            CU_ASSERT(pp_t_pid_alive(ids[i]));
        TerminateProcess(pi.hProcess, 9);
    }
    /* The parent ends (killed, or by itself: exit must not wait for the busy workers). */
    CU_ASSERT_EQUAL(WaitForSingleObject(pi.hProcess, (DWORD)WAIT_MS), WAIT_OBJECT_0);
    DWORD code = 1;
    GetExitCodeProcess(pi.hProcess, &code);
    CU_ASSERT_EQUAL(code, kill_parent ? 9u : 0u);
    int alive = n == 4 ? pp_t_wait_gone(&ids[1], 3, pp_t_now_ms() + WAIT_MS, 10) : 3;
    CU_ASSERT_EQUAL(alive, 0);
    for (int i = 1; n == 4 && i < 4; i++) { /* leave nothing behind, whatever happened */
        HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)ids[i]);
        if (h) {
            TerminateProcess(h, 9);
            CloseHandle(h);
        }
    }
    TerminateProcess(pi.hProcess, 9);
    CloseHandle(pi.hProcess);
    CloseHandle(rd);
}
#endif

static void test_no_orphans_job(void)
{
#ifndef _WIN32
    printf("SKIP: Windows job objects (POSIX: the shutdown suite's no-orphans tests)\n");
#else
    orphans_case(true);
    orphans_case(false);
#endif
}

/* Windows has no fork: the fork and forkserver start methods are PP_ENOTSUP there, and
 * nothing is created. (POSIX: the start methods have their own tests.) */
static void test_no_fork_on_windows(void)
{
#ifndef _WIN32
    printf("SKIP: POSIX has fork (the start methods have their own tests)\n");
#else
    const pp_start_method methods[] = {PP_START_FORK, PP_START_FORKSERVER};
    for (int i = 0; i < 2; i++) {
        pp_executor_options o;
        pp_executor_options_init(&o);
        o.start_method = methods[i];
        pp_executor *ex = (pp_executor *)1;
        CU_ASSERT_EQUAL(pp_executor_create(&o, &ex), PP_ENOTSUP);
        CU_ASSERT_PTR_NULL(ex);
    }
#endif
}

/* pp__os_mem_prefault (alloc.c backs fresh heap pages with it): the whole pages within the
 * range are backed (Linux: mincore), the rest not, and no byte changes, anywhere. */
static void test_mem_prefault(void)
{
    enum { PAGES = 16, PAGE = 4096 };
    unsigned char *a = NULL;
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    a = mmap(NULL, (size_t)PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    CU_ASSERT_FATAL(a != MAP_FAILED);
    a[0] = 7;
    a[5 * PAGE + 3] = 9;
    pp__os_mem_prefault(a + 100, 8 * PAGE); /* pages 1..7 whole; 0 and 8 in part */
    unsigned char vec[PAGES];
    CU_ASSERT_FATAL(mincore(a, (size_t)PAGES * PAGE, vec) == 0);
    bool populate = vec[1] & 1;
    if (!populate)
        printf("SKIP (mincore part): MADV_POPULATE_WRITE refused here (Linux 5.14+) ");
    for (int i = 0; i < PAGES && populate; i++)
        CU_ASSERT_EQUAL(vec[i] & 1, i == 0 || (i >= 1 && i < 8));
#else
    a = malloc((size_t)PAGES * PAGE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    memset(a, 0, (size_t)PAGES * PAGE);
    a[0] = 7;
    a[5 * PAGE + 3] = 9;
    pp__os_mem_prefault(a + 100, 8 * PAGE);
#endif
    size_t odd = 0;
    for (size_t i = 0; i < (size_t)PAGES * PAGE; i++)
        odd += a[i] != (i == 0 ? 7 : i == 5 * PAGE + 3 ? 9 : 0);
    CU_ASSERT_EQUAL(odd, 0);
    pp__os_mem_prefault(a, 0); /* nothing: fine */
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    munmap(a, (size_t)PAGES * PAGE);
#else
    free(a);
#endif
}

static CU_TestInfo tests[] = {
    {"process facts: exe path, CPUs, clock, errors, signal names", test_process_facts},
    {"heap memory: prefault backs the whole pages asked for, unchanged", test_mem_prefault},
    {"spawned worker answers calls", test_echo_round_trip},
    {"a worker polling for its next call: answers, split frames, EOF", test_worker_polls},
    {"64 MiB to a worker and back", test_big_round_trip},
    {"EOF on its channel makes a worker exit 0", test_eof_makes_worker_exit},
    {"exit code is collected", test_exit_code},
    {"death by signal (Windows: exception, exit code) is collected", test_killed_by_signal},
    {"stop (TERM, KILL), reap with timeouts, reap twice", test_stop_and_reap},
    {"freeing a live child kills and reaps it", test_free_kills_live_child},
    {"a child reaped elsewhere: ECHILD at once, stop and free safe", test_child_reaped_elsewhere},
    {"a dead worker is reported by the wait set", test_dead_worker_is_reported},
    {"spawn failures leave nothing behind", test_spawn_failures},
    {"chan_from_argv: markers, tokens, descriptors", test_chan_from_argv},
    {"wakes: coalesced, cross-thread, timeouts", test_wake},
    {"a nap: a wait of microseconds (or PP_ENOTSUP)", test_nap},
    {"a storm of racing wakes loses none", test_wake_storm},
    {"more ready tags than room: none starves", test_more_ready_than_room},
    {"200 spawn/stop cycles leak no descriptor", test_no_descriptor_leak},
    {"a worker inherits exactly 0, 1, 2 and its channel", test_worker_descriptors},
    {"a worker's signal mask and dispositions", test_worker_signals},
    {"Windows: a worker inherits no stray inheritable handle", test_worker_inherits_one_handle},
    {"worker_path with spaces and non-ASCII characters", test_worker_path_unicode},
    {"max_workers: no cap, the default", test_max_workers_cap},
    {"a crash report names the exception or signal, the task, the pid", test_crash_report},
    {"Windows: a killed or exiting parent leaves no worker (job object)", test_no_orphans_job},
    {"Windows: fork and forkserver are PP_ENOTSUP", test_no_fork_on_windows},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_backend = {"backend", suite_init, suite_clean, NULL, NULL, tests};
