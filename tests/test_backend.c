/*
 * The backend suite: src/core/pp_os.h exercised directly, on whichever backend is linked.
 * Workers are this test program, started with pp__os_spawn(); they run the real worker loop
 * and speak the wire protocol (wire.h), which these tests drive by hand.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

static void send_call(child *c, uint64_t id, const char *task, const void *arg, size_t len)
{
    pp_buf a = {arg, len};
    size_t n = pp__wire_call_size(strlen(task), &a, 1);
    uint8_t *frame = malloc(n);
    CU_ASSERT_FATAL(frame != NULL);
    pp__wire_encode_call(frame, id, task, strlen(task), &a, 1);
    send_all(c, frame, n);
    free(frame);
}

static pp__exit reap(child *c)
{
    pp__exit st = {false, 0, 0};
    PP_ASSERT_OK(pp__os_proc_reap(c->proc, WAIT_MS, &st, NULL));
    return st;
}

static void test_exepath(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(exe);
    CU_ASSERT(strlen(exe) > 1);
#ifdef _WIN32
    CU_ASSERT(exe[1] == ':' || exe[0] == '\\');
#else
    CU_ASSERT(exe[0] == '/');
#endif
    CU_ASSERT(pp__os_cpu_count() >= 1);
    CU_ASSERT_EQUAL(pp_cpu_count(), pp__os_cpu_count());
    CU_ASSERT(pp__os_max_workers() >= 61);
}

static void test_echo_round_trip(void)
{
    child c;
    start(&c);
    handshake(&c);
    send_call(&c, 42, "echo", "hello", 5);
    uint8_t *body;
    pp__wire_hdr h = recv_frame(&c, &body);
    CU_ASSERT_EQUAL_FATAL(h.type, PP__MSG_RESULT);
    pp__wire_result r;
    PP_ASSERT_OK_FATAL(pp__wire_decode_result(body, (size_t)h.body_len, &r));
    CU_ASSERT_EQUAL(r.work_id, 42);
    CU_ASSERT_EQUAL_FATAL(r.n, 1);
    pp__wire_item it;
    pp__wire_next_item(&r.items, &it);
    CU_ASSERT_EQUAL(it.status, PP_OK);
    CU_ASSERT_EQUAL_FATAL(it.len, 5);
    CU_ASSERT(memcmp(it.data, "hello", 5) == 0);
    free(body);
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
    uint8_t b;
    CU_ASSERT_EQUAL(recv_all(&c, &b, 1), PP_END); /* its channel breaks */
    pp__exit st = reap(&c);
    CU_ASSERT(st.exited);
    CU_ASSERT_EQUAL(st.code, 3);
    finish(&c);
}

static void test_killed_by_signal(void)
{
#ifdef _WIN32
    printf("SKIP: POSIX signals\n");
    return;
#else
    const char *tasks[] = {"kill_self", "segv", "abort"};
    const int sigs[] = {9, 11, 6};
    for (int i = 0; i < 3; i++) {
        child c;
        start(&c);
        handshake(&c);
        send_call(&c, 1, tasks[i], NULL, 0);
        pp__exit st = reap(&c);
        CU_ASSERT(!st.exited);
        CU_ASSERT_EQUAL(st.signal, sigs[i]);
        finish(&c);
    }
    CU_ASSERT_STRING_EQUAL(pp__os_signal_name(9), "SIGKILL");
    CU_ASSERT_STRING_EQUAL(pp__os_signal_name(11), "SIGSEGV");
    CU_ASSERT_PTR_NULL(pp__os_signal_name(0));
#endif
}

static void test_stop_and_reap(void)
{
    child c;
    start(&c);
    handshake(&c);
    pp__exit st;
    CU_ASSERT_EQUAL(pp__os_proc_reap(c.proc, 0, &st, NULL), PP_ETIMEDOUT); /* alive */
    CU_ASSERT_EQUAL(pp__os_proc_reap(c.proc, 50, &st, NULL), PP_ETIMEDOUT);
    PP_ASSERT_OK(pp__os_proc_stop(c.proc, true, NULL));
    st = reap(&c);
#ifndef _WIN32
    CU_ASSERT(!st.exited);
    CU_ASSERT_EQUAL(st.signal, 9);
#endif
    /* Reaping again gives the same status; stopping a reaped child is fine. */
    pp__exit again;
    PP_ASSERT_OK(pp__os_proc_reap(c.proc, 0, &again, NULL));
    CU_ASSERT_EQUAL(again.exited, st.exited);
    CU_ASSERT_EQUAL(again.signal, st.signal);
    PP_ASSERT_OK(pp__os_proc_stop(c.proc, false, NULL));
    finish(&c);
}

static void test_dead_worker_is_reported(void)
{
    child c;
    start(&c);
    handshake(&c);
    PP_ASSERT_OK(pp__os_proc_stop(c.proc, true, NULL));
    /* The wait set reports the death (EXIT, or READ with the channel at EOF). */
    pp__event ev[4];
    size_t n = 0;
    long long end = pp_t_now_ms() + WAIT_MS;
    unsigned seen = 0;
    while (!(seen & (PP__EV_EXIT | PP__EV_READ)) && pp_t_now_ms() < end) {
        PP_ASSERT_OK_FATAL(pp__os_waitset_wait(c.ws, 1000, ev, 4, &n, NULL));
        for (size_t i = 0; i < n; i++) {
            if (ev[i].tag == &c)
                seen |= ev[i].events;
        }
    }
    CU_ASSERT(seen & (PP__EV_EXIT | PP__EV_READ));
    uint8_t b;
    CU_ASSERT_EQUAL(recv_all(&c, &b, 1), PP_END);
    size_t wrote = 0;
    CU_ASSERT_EQUAL(pp__os_chan_write(c.chan, "x", 1, &wrote, NULL), PP_END); /* no SIGPIPE */
    reap(&c);
    finish(&c);
}

static void test_spawn_missing_program(void)
{
    size_t before = pp__os_handle_count();
    const char *argv[] = {"/nonexistent/procpool-no-such-program", NULL};
    pp__proc *p = NULL;
    pp__chan *ch = NULL;
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
}

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
    /* A timeout with nothing ready reports nothing. */
    PP_ASSERT_OK(pp__os_waitset_wait(ws, 10, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 0);
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
    /* A wake from another thread ends a wait without limit. */
    pp_t_thread *t = pp_t_thread_start(wake_after, ws);
    long long t0 = pp_t_now_ms();
    PP_ASSERT_OK(pp__os_waitset_wait(ws, PP_FOREVER, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT(pp_t_now_ms() - t0 < WAIT_MS);
    pp_t_thread_join(t);
    pp__os_waitset_free(ws);
}

typedef struct waker {
    pp__waitset *ws;
    atomic_int   done;
} waker;

static void wake_many(void *arg)
{
    waker *w = arg;
    for (int i = 0; i < 200000; i++)
        pp__os_waitset_wake(w->ws);
    atomic_fetch_add(&w->done, 1);
}

/* Wakes racing with the waiter are never lost: after a storm of wakes consumed by waits,
 * one more wake still ends a wait (a regression test: clearing the "pending" flag before
 * consuming the eventfd once lost every later wake). */
static void test_wake_storm(void)
{
    waker w;
    w.ws = NULL;
    atomic_init(&w.done, 0);
    PP_ASSERT_OK_FATAL(pp__os_waitset_create(&w.ws, NULL));
    pp_t_thread *t1 = pp_t_thread_start(wake_many, &w);
    pp_t_thread *t2 = pp_t_thread_start(wake_many, &w);
    pp__event ev[4];
    size_t n;
    long long end = pp_t_now_ms() + WAIT_MS;
    while (atomic_load(&w.done) < 2 && pp_t_now_ms() < end)
        PP_ASSERT_OK(pp__os_waitset_wait(w.ws, 0, ev, 4, &n, NULL));
    pp_t_thread_join(t1);
    pp_t_thread_join(t2);
    PP_ASSERT_OK(pp__os_waitset_wait(w.ws, 0, ev, 4, &n, NULL)); /* drain what is left */
    pp__os_waitset_wake(w.ws);
    PP_ASSERT_OK(pp__os_waitset_wait(w.ws, 5000, ev, 4, &n, NULL));
    CU_ASSERT_EQUAL(n, 1);
    pp__os_waitset_free(w.ws);
}

static void test_no_descriptor_leak(void)
{
    size_t before = pp__os_handle_count();
    for (int i = 0; i < 100; i++) {
        child c;
        start(&c);
        if (i % 2)
            handshake(&c);
        PP_ASSERT_OK(pp__os_proc_stop(c.proc, true, NULL));
        reap(&c);
        finish(&c);
    }
    CU_ASSERT_EQUAL(pp__os_handle_count(), before);
}

/* The worker holds exactly stdin, stdout, stderr and its channel. */
static void test_worker_descriptors(void)
{
#ifndef __linux__
    printf("SKIP: needs /proc/<pid>/fd\n");
    return;
#else
    child c;
    start(&c);
    handshake(&c); /* it is idle in its loop now */
    char path[64];
    snprintf(path, sizeof path, "/proc/%lld/fd", pp__os_proc_pid(c.proc));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls %s", path);
    FILE *f = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[64];
    int fds[64], n = 0;
    while (n < 64 && fgets(line, sizeof line, f))
        fds[n++] = atoi(line);
    pclose(f);
    CU_ASSERT_EQUAL(n, 4);
    for (int i = 0; i < n; i++)
        CU_ASSERT(fds[i] >= 0 && fds[i] <= 3);
    finish(&c);
#endif
}

static CU_TestInfo tests[] = {
    {"executable path and CPU count", test_exepath},
    {"spawned worker answers a call", test_echo_round_trip},
    {"EOF on its channel makes a worker exit 0", test_eof_makes_worker_exit},
    {"exit code is collected", test_exit_code},
    {"death by signal is collected", test_killed_by_signal},
    {"stop, reap with timeouts, reap twice", test_stop_and_reap},
    {"a dead worker is reported by the wait set", test_dead_worker_is_reported},
    {"spawning a missing program fails cleanly", test_spawn_missing_program},
    {"wakes: coalesced, cross-thread, timeouts", test_wake},
    {"a storm of racing wakes loses none", test_wake_storm},
    {"100 spawn/kill cycles leak no descriptor", test_no_descriptor_leak},
    {"a worker inherits exactly 0, 1, 2 and its channel", test_worker_descriptors},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_backend = {"backend", suite_init, suite_clean, NULL, NULL, tests};
