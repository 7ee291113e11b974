/*
 * mainloop: results from a pool arrive in an event loop that does other work meanwhile,
 * and Ctrl-C stops everything cleanly.
 *
 * The loop has the shape of every event loop (GLib, Qt, libuv, a game's frame loop): it
 * sleeps in poll() (Windows: WaitForMultipleObjects; a GUI thread would use
 * MsgWaitForMultipleObjects) on the descriptors it cares about, with a timeout for its own
 * timer. Here those are pp_as_completed_fd(), readable while a result is ready, and a
 * self-pipe that the SIGINT handler writes to; the timer ticks a progress line on stderr
 * every 100 ms. The loop never blocks anywhere else: results are taken with
 * pp_as_completed_next_wait(it, 0, &f) until it says PP_ETIMEDOUT.
 *
 * Ctrl-C: the handler only writes a byte to the self-pipe (write() is async-signal-safe;
 * no procpool call is). The loop sees the byte and calls pp_executor_stop(ex, 2000):
 * pending calls are cancelled, running ones are asked to stop (the task checks
 * pp_task_should_stop() between slices of its work) and killed after 2 s if they do not;
 * then the loop goes on until the iterator has given back every future (done or
 * cancelled), and the program exits with status 130 (128 + SIGINT, the shell's
 * convention) leaving no worker behind. A second Ctrl-C changes nothing: the stop is
 * already under way, and bounded.
 *
 * usage: mainloop [N [MS]]   N calls (default 40), each working MS ms (default 50) before it
 *                            returns the square of its number
 * Prints "N of N calls done, sum of squares S" and exits 0; interrupted, prints
 * "interrupted: D done, C cancelled" and exits 130; 1 on any error.
 */
#ifndef _WIN32
#  define _POSIX_C_SOURCE 200809L /* sigaction, clock_gettime, nanosleep */
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#else
#  include <errno.h>
#  include <fcntl.h>
#  include <poll.h>
#  include <signal.h>
#  include <unistd.h>
#endif

#include "procpool.h"

#define TICK_MS 100
#define GRACE_MS 2000

/* ---- the task, run in a worker ---- */

typedef struct call_arg {
    uint32_t i;  /* the number to square */
    uint32_t ms; /* how long to work first */
} call_arg;

static void sleep_ms(unsigned ms)
{
#ifdef _WIN32
    Sleep(ms);
#else
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
#endif
}

/* Works in 10 ms slices, and returns early (with no result) when asked to stop: a call that
 * returns within the grace is not killed. */
static int slow_square(pp_task_ctx *ctx, const void *arg, size_t len)
{
    call_arg a;
    if (len != sizeof a) {
        pp_task_error(ctx, "slow_square: expected %lu argument bytes, got %lu",
                      (unsigned long)sizeof a, (unsigned long)len);
        return 1;
    }
    memcpy(&a, arg, sizeof a);
    for (uint32_t t = 0; t < a.ms; t += 10) {
        if (pp_task_should_stop(ctx)) {
            pp_task_error(ctx, "slow_square(%u): stopped", (unsigned)a.i);
            return 1;
        }
        sleep_ms(a.ms - t < 10 ? a.ms - t : 10);
    }
    uint64_t sq = (uint64_t)a.i * a.i;
    return pp_task_return(ctx, &sq, sizeof sq) == PP_OK ? 0 : 1;
}

/* ---- the clock and the interrupt ---- */

static long long now_ms(void)
{
#ifdef _WIN32
    return (long long)GetTickCount64();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
}

#ifdef _WIN32
/* Windows delivers Ctrl-C to a handler on a thread of its own: it sets an event that the
 * loop waits on beside the iterator's handle. */
static HANDLE g_interrupt;
static BOOL WINAPI on_ctrl(DWORD type)
{
    if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT)
        return FALSE;
    SetEvent(g_interrupt);
    return TRUE;
}
static bool interrupt_setup(void)
{
    g_interrupt = CreateEventW(NULL, TRUE, FALSE, NULL);
    return g_interrupt && SetConsoleCtrlHandler(on_ctrl, TRUE);
}
#else
/* The self-pipe: the handler writes a byte, the loop polls the read end. */
static int g_sig_pipe[2] = {-1, -1};
static void on_sigint(int sig)
{
    (void)sig;
    int saved = errno; /* a handler must leave errno as it found it */
    ssize_t r = write(g_sig_pipe[1], "!", 1); /* full pipe: a byte is pending anyway */
    (void)r;
    errno = saved;
}
static bool interrupt_setup(void)
{
    if (pipe(g_sig_pipe) != 0)
        return false;
    for (int k = 0; k < 2; k++) {
        int fl = fcntl(g_sig_pipe[k], F_GETFL);
        if (fl < 0 || fcntl(g_sig_pipe[k], F_SETFL, fl | O_NONBLOCK) != 0 ||
            fcntl(g_sig_pipe[k], F_SETFD, FD_CLOEXEC) != 0)
            return false;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(SIGINT, &sa, NULL) == 0;
}
#endif

/* Waits up to timeout_ms for the iterator's handle or the interrupt; says which are ready. */
static bool wait_events(intptr_t ready_h, long timeout_ms, bool *ready, bool *interrupted)
{
    *ready = *interrupted = false;
#ifdef _WIN32
    HANDLE hs[2] = {(HANDLE)ready_h, g_interrupt};
    DWORD r = WaitForMultipleObjects(2, hs, FALSE, (DWORD)timeout_ms);
    if (r == WAIT_FAILED)
        return false;
    *ready = WaitForSingleObject(hs[0], 0) == WAIT_OBJECT_0;
    *interrupted = WaitForSingleObject(hs[1], 0) == WAIT_OBJECT_0;
    ResetEvent(g_interrupt);
#else
    struct pollfd p[2] = {{(int)ready_h, POLLIN, 0}, {g_sig_pipe[0], POLLIN, 0}};
    int r = poll(p, 2, (int)timeout_ms);
    if (r < 0)
        return errno == EINTR; /* a signal: the next round sees its byte */
    *ready = (p[0].revents & POLLIN) != 0;
    if (p[1].revents & POLLIN) {
        char buf[16];
        while (read(g_sig_pipe[0], buf, sizeof buf) > 0) {
        }
        *interrupted = true;
    }
#endif
    return true;
}

static int fail(const char *what, pp_status st)
{
    fprintf(stderr, "mainloop: %s: %s: %s\n", what, pp_status_str(st), pp_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    pp_status st = pp_register_task("slow_square", slow_square);
    if (st != PP_OK)
        return fail("pp_register_task", st);
#ifndef _WIN32
    /* A terminal's Ctrl-C goes to the whole foreground process group, workers included.
     * Workers ignore it (this line runs in them too: spawned workers run main() up to
     * pp_worker_main()), so that this process alone decides what Ctrl-C does to them. */
    signal(SIGINT, SIG_IGN);
#endif
    pp_worker_main(argc, argv); /* in a worker: serves and never returns */

    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 40;
    uint32_t ms = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 50;
    if (n == 0 || n > 1000000) {
        fprintf(stderr, "usage: mainloop [N [MS]]  (0 < N <= 1000000)\n");
        return 2;
    }
    if (!interrupt_setup()) {
        fprintf(stderr, "mainloop: cannot set up the Ctrl-C handler\n");
        return 1;
    }

    pp_executor_options o;
    pp_executor_options_init(&o);
    o.max_workers = 2;
    pp_executor *ex;
    st = pp_executor_create(&o, &ex);
    if (st != PP_OK)
        return fail("pp_executor_create", st);
    pp_future **fs = calloc(n, sizeof *fs);
    if (!fs)
        return fail("calloc", PP_ENOMEM);
    int rc = 0;
    uint32_t submitted = 0;
    for (; submitted < n; submitted++) {
        call_arg a = {submitted, ms};
        st = pp_submit(ex, "slow_square", &a, sizeof a, &fs[submitted]);
        if (st != PP_OK) {
            rc = fail("pp_submit", st);
            break;
        }
    }
    pp_as_completed *it = NULL;
    st = pp_as_completed_begin(fs, submitted, PP_FOREVER, &it);
    if (st != PP_OK) {
        rc = fail("pp_as_completed_begin", st);
        submitted = 0;
    }
#ifdef _WIN32
    intptr_t ready_h = it ? (intptr_t)pp_as_completed_handle(it) : 0;
    if (it && !ready_h)
#else
    intptr_t ready_h = it ? pp_as_completed_fd(it) : -1;
    if (it && ready_h < 0)
#endif
        rc = fail("pp_as_completed_fd / _handle", PP_ESYS);

    uint32_t done = 0, cancelled = 0, failed = 0;
    uint64_t sum = 0;
    bool stopping = false, ended = it == NULL || rc != 0;
    long long next_tick = now_ms() + TICK_MS;
    while (!ended) {
        long long left = next_tick - now_ms();
        bool ready, interrupted;
        if (!wait_events(ready_h, left > 0 ? (long)left : 0, &ready, &interrupted)) {
            rc = fail("waiting", PP_ESYS);
            break;
        }
        if (interrupted && !stopping) {
            stopping = true;
            fprintf(stderr, "\nmainloop: interrupted: stopping (running calls get %d ms)\n",
                    GRACE_MS);
            st = pp_executor_stop(ex, GRACE_MS);
            if (st != PP_OK)
                rc = fail("pp_executor_stop", st);
        }
        if (ready) { /* take every ready result, never waiting */
            pp_future *f;
            while ((st = pp_as_completed_next_wait(it, 0, &f)) == PP_OK) {
                pp_buf r;
                pp_status fst = pp_future_result(f, 0, &r);
                if (fst == PP_OK && r.len == sizeof(uint64_t)) {
                    uint64_t sq;
                    memcpy(&sq, r.data, sizeof sq);
                    sum += sq;
                    done++;
                } else if (fst == PP_ECANCELLED || (stopping && fst == PP_ETASK)) {
                    cancelled++; /* (PP_ETASK: the task saw pp_task_should_stop) */
                } else {
                    fprintf(stderr, "mainloop: a call failed: %s: %s\n", pp_status_str(fst),
                            pp_last_error());
                    failed++;
                }
            }
            if (st == PP_END)
                ended = true;
            else if (st != PP_ETIMEDOUT) {
                rc = fail("pp_as_completed_next_wait", st);
                break;
            }
        }
        if (now_ms() >= next_tick) { /* the loop's own work: a progress line */
            next_tick += TICK_MS;
            fprintf(stderr, "\r%u/%u done%s", (unsigned)done, (unsigned)n,
                    stopping ? ", stopping" : "");
            fflush(stderr);
        }
    }
    fprintf(stderr, "\n");

    pp_as_completed_end(it);
    for (uint32_t i = 0; i < submitted; i++)
        pp_future_release(fs[i]);
    free(fs);
    pp_executor_destroy(ex); /* waits for the workers to be gone */
    if (rc != 0 || failed)
        return 1;
    if (stopping) {
        printf("interrupted: %u done, %u cancelled\n", (unsigned)done, (unsigned)cancelled);
        return 130;
    }
    printf("%u of %u calls done, sum of squares %llu\n", (unsigned)done, (unsigned)n,
           (unsigned long long)sum);
    return done == n ? 0 : 1;
}
