/*
 * pp_bound: the raw bound of this machine for the figures of bench/README.md, with no
 * library in the way: two processes and a pair of pipes (or, with --chan=socket, one
 * socketpair, the channel procpool's POSIX backend uses).
 *
 *     pp_bound pingpong  [--n 2000]           16-byte ping-pong: median and p99 round trip
 *     pp_bound pipeline  [--n 200000]         16-byte messages, 64 outstanding: messages/s
 *                                             (one syscall per message, and batched)
 *     pp_bound window    [--n 100000] [--window 3] [--spin]
 *                                             16-byte messages to two children with at most
 *                                             --window outstanding in all (procpool's
 *                                             max_workers + 1 = 3): messages/s and the
 *                                             parent's CPU per message; --spin: every
 *                                             process polls (yielding) instead of sleeping
 *     pp_bound relay     [--n 2000]           the ping-pong through a relay thread, as a
 *                                             call goes through procpool's manager: median
 *                                             and p99 round trip
 *     pp_bound payload   [--size B] [--reps 3] B bytes to the child until it has read them
 *                                             all ("arg"), and there and back ("echo"): MB/s
 *     pp_bound spawn     [--reps 10]          posix_spawn of this program until it answers
 *     pp_bound fork      [--reps 10]          fork until the child answers
 *     pp_bound exit      [--reps 10]          a spawned child told to exit(3), until its
 *                                             socket is at EOF and it is reaped
 *     pp_bound all                            every one of the above, default sizes
 *
 * --pipe-size BYTES sets both pipes' capacity (F_SETPIPE_SZ; the default is 64 KiB): bench/run
 * uses 1 MiB for the payloads, where the default size makes the figure swing by 2-3x with
 * the placement of the two processes on the CPUs (one hand-off per 64 KiB).
 *
 * Output: "figure<TAB>value<TAB>unit" lines, the format of pp_bench and cpython_bench.py.
 * The child of pingpong, pipeline and payload is forked (the parent has one thread, so that
 * is safe); it is busy-free: it blocks in read() like a worker does. The channel of exit is
 * always a socketpair, as procpool's (--chan and --pipe-size do not apply to it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

extern char **environ;

#define MSG 16
#define OUTSTANDING 64

static int g_socket; /* --chan=socket: one socketpair instead of two pipes; --chan=tcp (2):
                        a TCP loopback connection with TCP_NODELAY (the MPI add-on's
                        channel), its figures prefixed "tcp." */
static int g_spin;   /* window --spin: poll (and yield) instead of sleeping in read/poll */
static int g_pipe_size; /* --pipe-size: F_SETPIPE_SZ on both pipes (0: the default) */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fatal(const char *what)
{
    fprintf(stderr, "pp_bound: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        fatal("malloc");
    return p;
}

/* Reads exactly len bytes (0: EOF before any byte). */
static size_t read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            fatal("read");
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static void write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t r = write(fd, (const char *)buf + put, len - put);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            fatal("write");
        put += (size_t)r;
    }
}

/* A child process joined to the parent: the parent writes to *to, reads from *from. */
typedef struct {
    pid_t pid;
    int to, from;
} child;

typedef void (*child_fn)(int in, int out, void *arg);

static child start_child(child_fn fn, void *arg)
{
    int down[2], up[2];
    if (g_socket) {
        /* one socket each: the parent writes down[1] and reads up[0], the child reads
         * down[0] and writes up[1], as with the two pipes */
        int sv[2];
        if (g_socket == 2) {
            int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
            struct sockaddr_in sa = {0};
            socklen_t sl = sizeof sa;
            sa.sin_family = AF_INET;
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 1) != 0 ||
                getsockname(l, (struct sockaddr *)&sa, &sl) != 0)
                fatal("tcp listen");
            sv[0] = socket(AF_INET, SOCK_STREAM, 0);
            if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&sa, sizeof sa) != 0 ||
                (sv[1] = accept(l, NULL, NULL)) < 0)
                fatal("tcp connect");
            close(l);
            setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        } else if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            fatal("socketpair");
        }
        down[1] = sv[0];
        up[0] = dup(sv[0]);
        down[0] = sv[1];
        up[1] = dup(sv[1]);
        if (up[0] < 0 || up[1] < 0)
            fatal("dup");
    } else {
        if (pipe(down) != 0 || pipe(up) != 0)
            fatal("pipe");
        if (g_pipe_size && (fcntl(down[1], F_SETPIPE_SZ, g_pipe_size) < 0 ||
                            fcntl(up[1], F_SETPIPE_SZ, g_pipe_size) < 0))
            fatal("F_SETPIPE_SZ");
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork");
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        fn(down[0], up[1], arg);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    return (child){pid, down[1], up[0]};
}

static void end_child(child c)
{
    close(c.to);
    close(c.from);
    int status;
    while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/* ---- ping-pong and pipeline: the child echoes whatever it reads ---- */

static void child_echo(int in, int out, void *arg)
{
    (void)arg;
    char buf[OUTSTANDING * MSG * 4];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        write_full(out, buf, (size_t)r);
    }
}

static void bound_pingpong(size_t n)
{
    child c = start_child(child_echo, NULL);
    unsigned char msg[MSG] = {0}, back[MSG];
    double *t = xmalloc(n * sizeof *t);
    for (size_t i = 0; i < 100 + n; i++) {
        memcpy(msg, &i, sizeof i);
        double t0 = now_s();
        write_full(c.to, msg, MSG);
        if (read_full(c.from, back, MSG) != MSG)
            fatal("pingpong: short read");
        double t1 = now_s();
        if (memcmp(msg, back, MSG) != 0) {
            errno = EPROTO;
            fatal("pingpong: wrong echo");
        }
        if (i >= 100)
            t[i - 100] = t1 - t0;
    }
    end_child(c);
    const char *pre = g_socket == 2 ? "tcp." : "";
    printf("%spingpong.median\t%.2f\tus\n", pre, bench_median(t, n) * 1e6);
    printf("%spingpong.p99\t%.2f\tus\n", pre, bench_percentile(t, n, 99) * 1e6);
    free(t);
}

/* 16-byte messages with at most 64 written and not yet answered.
 *
 * pipeline.msg: one write() per message and one read() per answer, in the parent and in
 * the child alike (a message-per-syscall protocol, as one frame per task is).
 * pipeline.batched: each write sends every message the window allows, each read takes
 * every answer that is there, and the child echoes whatever it read at once: the best
 * batching the kernel allows (mostly memcpy). */
static void child_echo_msg(int in, int out, void *arg)
{
    (void)arg;
    unsigned char buf[MSG];
    while (read_full(in, buf, MSG) == MSG)
        write_full(out, buf, MSG);
}

static void bound_pipeline(size_t n, int batched)
{
    child c = start_child(batched ? child_echo : child_echo_msg, NULL);
    unsigned char out[OUTSTANDING * MSG], in[OUTSTANDING * MSG];
    memset(out, 0xab, sizeof out);
    size_t sent = 0, answered = 0, partial = 0; /* partial: bytes of an incomplete answer */
    double t0 = now_s();
    while (answered < n) {
        size_t room = OUTSTANDING - (sent - answered);
        if (room > n - sent)
            room = n - sent;
        if (batched) {
            if (room > 0)
                write_full(c.to, out, room * MSG);
            sent += room;
            ssize_t r = read(c.from, in, sizeof in);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                fatal("pipeline: read");
            partial += (size_t)r;
            answered += partial / MSG;
            partial %= MSG;
        } else {
            for (; room > 0; room--, sent++)
                write_full(c.to, out, MSG);
            if (read_full(c.from, in, MSG) != MSG)
                fatal("pipeline: short read");
            answered++;
        }
    }
    double t1 = now_s();
    end_child(c);
    printf("pipeline.%s\t%.1f\tmsgs/s\n", batched ? "batched" : "msg", (double)n / (t1 - t0));
}

/* ---- window: the pipeline with procpool's window, over two children ---- */

/* The echo child of window --spin: polls its channel (non-blocking reads, yielding between
 * two) instead of sleeping in read(). */
static void child_echo_spin(int in, int out, void *arg)
{
    (void)arg;
    unsigned char buf[MSG];
    int fl = fcntl(in, F_GETFL);
    if (fl < 0 || fcntl(in, F_SETFL, fl | O_NONBLOCK) != 0)
        fatal("fcntl");
    size_t got = 0;
    for (;;) {
        ssize_t r = read(in, buf + got, MSG - got);
        if (r == 0)
            return;
        if (r < 0) {
            if (errno != EAGAIN && errno != EINTR)
                fatal("window: child read");
            sched_yield();
            continue;
        }
        got += (size_t)r;
        if (got == MSG) {
            write_full(out, buf, MSG);
            got = 0;
        }
    }
}

/* The parent's CPU time so far, user + system (one thread here). */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

/* 16-byte messages to two echoing children (one read and one write per message on both
 * sides, as pipeline.msg), at most `window` written and not yet answered in all: the bound
 * of a pool that hands out at most max_workers + 1 items (DESIGN.md), with nothing but the
 * system calls. The parent waits in poll() on both children, reads one answer per read(),
 * and gives the next message to the child with the fewest outstanding. window.msg is
 * messages/s; window.cpu the parent's CPU time (user + system) per message. */
static void bound_window(size_t n, size_t window)
{
    child_fn echo = g_spin ? child_echo_spin : child_echo_msg;
    child c[2] = {start_child(echo, NULL), start_child(echo, NULL)};
    size_t held[2] = {0, 0};
    unsigned char out[MSG], in[MSG];
    memset(out, 0xcd, sizeof out);
    size_t sent = 0, answered = 0;
    double c0 = cpu_s(), t0 = now_s();
    while (answered < n) {
        while (sent - answered < window && sent < n) {
            int k = held[1] < held[0];
            write_full(c[k].to, out, MSG);
            held[k]++;
            sent++;
        }
        struct pollfd pf[2] = {{.fd = c[0].from, .events = POLLIN},
                               {.fd = c[1].from, .events = POLLIN}};
        int r = poll(pf, 2, g_spin ? 0 : 10000);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 && g_spin) {
            sched_yield();
            continue;
        }
        if (r <= 0)
            fatal("window: poll");
        for (int k = 0; k < 2; k++) {
            if (!pf[k].revents)
                continue;
            if (read_full(c[k].from, in, MSG) != MSG)
                fatal("window: short read");
            held[k]--;
            answered++;
        }
    }
    double t1 = now_s(), c1 = cpu_s();
    end_child(c[1]); /* first: it holds copies of c[0]'s descriptors (forked after it) */
    end_child(c[0]);
    const char *tag = g_spin ? "window_spin" : "window";
    printf("%s.msg\t%.1f\tmsgs/s\n", tag, (double)n / (t1 - t0));
    printf("%s.cpu\t%.3f\tus/msg\n", tag, (c1 - c0) / (double)n * 1e6);
    printf("# %s: %zu messages outstanding at most, two children%s\n", tag, window,
           g_spin ? ", every process polling" : "");
}

/* ---- relay: the ping-pong with a thread in between, as procpool's manager ---- */

typedef struct {
    int             wake;   /* eventfd: the caller has a message for the relay */
    child           c;
    pthread_mutex_t lock;
    pthread_cond_t  cond;
    int             done;   /* under lock: the answer is back */
    int             quit;
    unsigned char   msg[MSG], back[MSG];
} relay_state;

/* The relay thread: waits in poll() on its eventfd and the child's channel; passes the
 * caller's message on to the child and the child's answer back to the caller (a condition
 * variable), as the manager does with a call and its result. */
static void *relay_main(void *arg)
{
    relay_state *s = arg;
    for (;;) {
        struct pollfd pf[2] = {{.fd = s->wake, .events = POLLIN},
                               {.fd = s->c.from, .events = POLLIN}};
        int r = poll(pf, 2, -1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            fatal("relay: poll");
        if (pf[0].revents) {
            uint64_t v;
            if (read(s->wake, &v, sizeof v) != (ssize_t)sizeof v)
                fatal("relay: eventfd");
            pthread_mutex_lock(&s->lock);
            int quit = s->quit;
            pthread_mutex_unlock(&s->lock);
            if (quit)
                return NULL;
            write_full(s->c.to, s->msg, MSG);
        }
        if (pf[1].revents) {
            if (read_full(s->c.from, s->back, MSG) != MSG)
                fatal("relay: short read");
            pthread_mutex_lock(&s->lock);
            s->done = 1;
            pthread_mutex_unlock(&s->lock);
            pthread_cond_signal(&s->cond);
        }
    }
}

/* Four hand-offs per call (caller -> relay -> child -> relay -> caller) where pingpong has
 * two: the round trip of a pool whose calls go through a manager thread (DESIGN.md), with
 * nothing but the system calls. */
static void bound_relay(size_t n)
{
    relay_state s;
    memset(&s, 0, sizeof s);
    s.c = start_child(child_echo_msg, NULL); /* forked before the thread exists */
    s.wake = eventfd(0, EFD_CLOEXEC);
    if (s.wake < 0)
        fatal("eventfd");
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, relay_main, &s) != 0)
        fatal("pthread_create");
    double *t = xmalloc(n * sizeof *t);
    uint64_t one = 1;
    for (size_t i = 0; i < 100 + n; i++) {
        double t0 = now_s();
        pthread_mutex_lock(&s.lock);
        memcpy(s.msg, &i, sizeof i);
        s.done = 0;
        pthread_mutex_unlock(&s.lock);
        if (write(s.wake, &one, sizeof one) != (ssize_t)sizeof one)
            fatal("relay: eventfd write");
        pthread_mutex_lock(&s.lock);
        while (!s.done)
            pthread_cond_wait(&s.cond, &s.lock);
        int ok = memcmp(s.msg, s.back, MSG) == 0;
        pthread_mutex_unlock(&s.lock);
        double t1 = now_s();
        if (!ok) {
            errno = EPROTO;
            fatal("relay: wrong echo");
        }
        if (i >= 100)
            t[i - 100] = t1 - t0;
    }
    pthread_mutex_lock(&s.lock);
    s.quit = 1;
    pthread_mutex_unlock(&s.lock);
    if (write(s.wake, &one, sizeof one) != (ssize_t)sizeof one)
        fatal("relay: eventfd write");
    pthread_join(th, NULL);
    end_child(s.c);
    close(s.wake);
    printf("relay.median\t%.2f\tus\n", bench_median(t, n) * 1e6);
    printf("relay.p99\t%.2f\tus\n", bench_percentile(t, n, 99) * 1e6);
    free(t);
}

/* ---- payload: the child reads size bytes; answers 1 byte (arg) or sends them back ---- */

typedef struct {
    size_t size;
} payload_arg;

static void child_payload(int in, int out, void *arg)
{
    const payload_arg *p = arg;
    unsigned char *buf = xmalloc(p->size);
    memset(buf, 0, p->size); /* touched once: the bound has no page fault on the way */
    for (;;) {
        unsigned char mode;
        if (read_full(in, &mode, 1) != 1)
            break;
        if (read_full(in, buf, p->size) != p->size)
            break;
        if (mode)
            write_full(out, buf, p->size);
        else
            write_full(out, &mode, 1);
    }
    free(buf);
}

static void size_label(size_t size, char *buf, size_t cap)
{
    if (size % (1024 * 1024) == 0)
        snprintf(buf, cap, "%zuMiB", size / (1024 * 1024));
    else if (size % 1024 == 0)
        snprintf(buf, cap, "%zuKiB", size / 1024);
    else
        snprintf(buf, cap, "%zuB", size);
}

static void bound_payload(size_t size, int reps)
{
    payload_arg pa = {size};
    child c = start_child(child_payload, &pa);
    unsigned char *buf = xmalloc(size), *back = xmalloc(size);
    for (size_t i = 0; i < size; i++)
        buf[i] = (unsigned char)(i * 131u + 7u);
    memset(back, 0, size);
    double *arg = xmalloc((size_t)reps * sizeof *arg);
    double *echo = xmalloc((size_t)reps * sizeof *echo);
    for (int r = 0; r < reps; r++) {
        for (unsigned char mode = 0; mode < 2; mode++) {
            double t0 = now_s();
            write_full(c.to, &mode, 1);
            write_full(c.to, buf, size);
            if (read_full(c.from, back, mode ? size : 1) != (mode ? size : 1))
                fatal("payload: short read");
            double t1 = now_s();
            if (mode && memcmp(buf, back, size) != 0) {
                errno = EPROTO;
                fatal("payload: wrong echo");
            }
            (mode ? echo : arg)[r] = (double)size / 1e6 / (t1 - t0);
        }
    }
    end_child(c);
    char label[32];
    size_label(size, label, sizeof label);
    const char *pre = g_socket == 2 ? "tcp." : "";
    printf("%spayload.%s.arg\t%.1f\tMB/s\n", pre, label, bench_median(arg, (size_t)reps));
    printf("%spayload.%s.echo\t%.1f\tMB/s\n", pre, label, bench_median(echo, (size_t)reps));
    free(echo);
    free(arg);
    free(back);
    free(buf);
}

/* ---- start-up: a new process until its first byte arrives ---- */

static char g_self[4096];

/* posix_spawn of this program as "pp_bound MODE", with fd as its descriptor 3. */
static pid_t spawn_self(const char *mode, int fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 3);
    char *argv[] = {g_self, (char *)mode, NULL};
    pid_t pid;
    int e = posix_spawn(&pid, g_self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0) {
        errno = e;
        fatal("posix_spawn");
    }
    return pid;
}

static void bound_spawn(int reps, int use_fork)
{
    double *t = xmalloc((size_t)reps * sizeof *t);
    for (int r = 0; r < reps; r++) {
        int p[2];
        if (pipe(p) != 0)
            fatal("pipe");
        double t0 = now_s();
        pid_t pid;
        if (use_fork) {
            pid = fork();
            if (pid < 0)
                fatal("fork");
            if (pid == 0) {
                unsigned char one = 1;
                if (write(p[1], &one, 1) != 1)
                    _exit(1);
                _exit(0);
            }
        } else {
            pid = spawn_self("answer", p[1]);
        }
        close(p[1]);
        unsigned char one;
        if (read_full(p[0], &one, 1) != 1)
            fatal("spawn: no answer");
        t[r] = now_s() - t0;
        close(p[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    printf("%s\t%.4f\tms\n", use_fork ? "fork" : "spawn", bench_median(t, (size_t)reps) * 1e3);
    free(t);
}

/* ---- exit: a live child that exits, until the parent has seen it (EOF) and reaped it ---- */

/* A pidfd for pid (readable once the process has exited), or -1 where the kernel (before
 * Linux 5.3) or the headers have none; as procpool opens one. */
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

/* Per repetition: posix_spawn of this program in its "die" mode with one end of a socketpair
 * as fd 3; the child writes 1 byte (ready) and blocks reading 1 byte. Not timed so far. The
 * clock runs from the parent's write of that byte (the child then calls exit(3)) until the
 * parent has both seen the socket at EOF and reaped the child with waitpid(WNOHANG), exit
 * status 3 checked: poll() on the socket and on the child's pidfd, as procpool's manager
 * waits for a worker's death. Without a pidfd, waitpid(WNOHANG) is retried every 0.1 ms once
 * the socket is at EOF. */
static void bound_exit(int reps)
{
    double *t = xmalloc((size_t)reps * sizeof *t);
    int have_pidfd = 1;
    for (int r = 0; r < reps; r++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            fatal("socketpair");
        pid_t pid = spawn_self("die", sv[1]);
        close(sv[1]);
        int pidfd = open_pidfd(pid);
        if (pidfd < 0)
            have_pidfd = 0;
        unsigned char one = 1;
        if (read_full(sv[0], &one, 1) != 1)
            fatal("exit: the child is not ready");

        double t0 = now_s();
        write_full(sv[0], &one, 1);
        int eof = 0, reaped = 0, status = 0;
        while (!eof || !reaped) {
            struct pollfd pf[2];
            nfds_t n = 0;
            int sock_i = -1, pid_i = -1;
            if (!eof) {
                sock_i = (int)n;
                pf[n++] = (struct pollfd){.fd = sv[0], .events = POLLIN};
            }
            if (!reaped && pidfd >= 0) {
                pid_i = (int)n;
                pf[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
            }
            /* n == 0: no pidfd and the socket at EOF, only waitpid is left to retry */
            int k = n ? poll(pf, n, 10000) : 0;
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                fatal("poll");
            if (n && k == 0) {
                errno = ETIMEDOUT;
                fatal("exit: the child did not end");
            }
            if (sock_i >= 0 && pf[sock_i].revents) {
                unsigned char b;
                ssize_t got = read(sv[0], &b, 1);
                if (got < 0 && errno != EINTR && errno != ECONNRESET)
                    fatal("exit: read");
                if (got > 0) {
                    errno = EPROTO;
                    fatal("exit: unexpected byte from the child");
                }
                if (got == 0 || (got < 0 && errno == ECONNRESET))
                    eof = 1;
            }
            if (!reaped && (pidfd < 0 ? eof : pid_i >= 0 && pf[pid_i].revents)) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w < 0 && errno != EINTR)
                    fatal("exit: waitpid");
                if (w == pid)
                    reaped = 1;
                else if (pidfd < 0)
                    nanosleep(&(struct timespec){0, 100000}, NULL);
            }
        }
        t[r] = now_s() - t0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 3) {
            errno = EPROTO;
            fatal("exit: the child did not exit with status 3");
        }
        if (pidfd >= 0)
            close(pidfd);
        close(sv[0]);
    }
    if (!have_pidfd)
        printf("# exit: no pidfd (kernel before 5.3?): waitpid(WNOHANG) retried every 0.1 ms\n");
    printf("exit\t%.4f\tms\n", bench_median(t, (size_t)reps) * 1e3);
    free(t);
}

/* ---- command line ---- */

static void usage(void)
{
    fprintf(stderr, "usage: pp_bound pingpong|pipeline|window|relay|payload|spawn|fork|exit|all "
                    "[--n N] [--size BYTES] [--reps N] [--window N] [--spin] "
                    "[--chan=pipe|socket|tcp] [--pipe-size BYTES]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "answer") == 0) { /* the spawned child */
        unsigned char one = 1;
        return write(3, &one, 1) == 1 ? 0 : 1;
    }
    if (argc == 2 && strcmp(argv[1], "die") == 0) { /* the child of exit */
        unsigned char one = 1;
        if (write(3, &one, 1) != 1 || read(3, &one, 1) != 1)
            return 1;
        exit(3);
    }
    if (argc < 2)
        usage();
    ssize_t len = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    if (len <= 0)
        fatal("readlink /proc/self/exe");
    g_self[len] = '\0';
    const char *what = argv[1];
    size_t n = 0, size = 0, window = 3;
    int reps = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--chan=socket") == 0) {
            g_socket = 1;
            continue;
        }
        if (strcmp(argv[i], "--chan=tcp") == 0) {
            g_socket = 2;
            continue;
        }
        if (strcmp(argv[i], "--chan=pipe") == 0) {
            g_socket = 0;
            continue;
        }
        if (strcmp(argv[i], "--spin") == 0) {
            g_spin = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        char *end;
        unsigned long long v = strtoull(argv[i + 1], &end, 10);
        if (end == argv[i + 1] || *end)
            usage();
        if (strcmp(argv[i], "--n") == 0)
            n = (size_t)v;
        else if (strcmp(argv[i], "--size") == 0)
            size = (size_t)v;
        else if (strcmp(argv[i], "--reps") == 0)
            reps = (int)v;
        else if (strcmp(argv[i], "--pipe-size") == 0)
            g_pipe_size = (int)v;
        else if (strcmp(argv[i], "--window") == 0 && v >= 1)
            window = (size_t)v;
        else
            usage();
        i++;
    }
    int all = strcmp(what, "all") == 0;
    if (g_socket || strcmp(what, "exit") == 0)
        printf("# pp_bound %s (%s)\n", what, g_socket == 2 ? "TCP loopback" : "socketpair");
    else
        printf("# pp_bound %s (pipes of %d bytes)\n", what,
               g_pipe_size ? g_pipe_size : 65536);
    int known = all;
    if (all || strcmp(what, "pingpong") == 0)
        bound_pingpong(n ? n : 2000), known = 1;
    if (all || strcmp(what, "pipeline") == 0) {
        bound_pipeline(n ? n : 200000, 0);
        bound_pipeline(n ? n : 200000, 1);
        known = 1;
    }
    if (all || strcmp(what, "window") == 0)
        bound_window(n ? n : 100000, window), known = 1;
    if (all || strcmp(what, "relay") == 0)
        bound_relay(n ? n : 2000), known = 1;
    if (all || strcmp(what, "payload") == 0) {
        if (all) {
            bound_payload(1024 * 1024, reps ? reps : 10);
            bound_payload(64u * 1024 * 1024, reps ? reps : 3);
        } else {
            bound_payload(size ? size : 64u * 1024 * 1024, reps ? reps : 3);
        }
        known = 1;
    }
    if (all || strcmp(what, "spawn") == 0)
        bound_spawn(reps ? reps : 10, 0), known = 1;
    if (all || strcmp(what, "fork") == 0)
        bound_spawn(reps ? reps : 10, 1), known = 1;
    if (all || strcmp(what, "exit") == 0)
        bound_exit(reps ? reps : 10), known = 1;
    if (!known)
        usage();
    fflush(stdout);
    return 0;
}
