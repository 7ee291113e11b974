/*
 * The MPI add-on's own checks (PP_START_MPI), each run as one job by tests/mpi/run.sh:
 *
 *   mpiexec -n 3 mpi_check reuse       executors one after another reuse the ranks; a second
 *                                      live one is PP_ESTATE; map, stats, worker pids
 *   mpiexec -n 3 mpi_check crash KIND  a worker dies (sigkill, abort, segv, exit): its future
 *                                      and the pool break (PP_EBROKEN) naming rank and host,
 *                                      never hang; the ranks are gone for the next executor;
 *                                      rank 0 ends without hanging in MPI_Finalize
 *   mpiexec -n 3 mpi_check partial     after a rank is lost, a pool goes on with the ranks left
 *   mpiexec -n 3 mpi_check token       a peer with a wrong token is refused and the pool works
 *   mpiexec -n 3 mpi_check registry    rank 2 registered other task names: refused, and the
 *                                      pool breaks with a message naming it
 *   SLURM_PROCID=.. mpi_check srun     the same without MPI (tests/mpi/srun.sh starts ranks)
 *   mpi_check spawn                    PP_MPI_SPAWN, as a singleton or under mpiexec -n 1:
 *                                      submit, map, a crash, ISOLATE, the end
 *   mpi_check spawn_single             the program initialised MPI without threads: spawn
 *                                      mode is PP_ENOTSUP, pp_last_error says why
 *   mpi_check vanish                   a worker rank's host vanishes mid-call (no FIN):
 *                                      keepalive (tests/mpi/vanish.sh, no MPI)
 *   mpi_check keepalive                dead_host_ms on a socket (no MPI)
 *
 * Rank 0 prints "mpi_check: exit 0" when every check passed (under mpiexec
 * --enable-recovery, mpiexec's status is 0 whatever the ranks return). Every wait is bounded.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <mpi.h>

#include "procpool.h"
#include "procpool_mpi.h"

#define WAIT_MS 30000L

bool pp__mpi_rendezvous(char *addr, size_t cap, int *port, unsigned char token[16]);
void pp__mpi_tune_socket(int fd, long dead_ms);

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "mpi_check: %s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int t_square(pp_task_ctx *ctx, const void *arg, size_t len)
{
    int32_t v;
    if (len != sizeof v)
        return 1;
    memcpy(&v, arg, sizeof v);
    v *= v;
    return pp_task_return(ctx, &v, sizeof v) == PP_OK ? 0 : 1;
}

static int t_sleep(pp_task_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    uint32_t ms = 0;
    if (len == sizeof ms)
        memcpy(&ms, arg, sizeof ms);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    return 0;
}

static int t_crash(pp_task_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx;
    char kind[16] = "";
    memcpy(kind, arg, len < sizeof kind - 1 ? len : sizeof kind - 1);
    if (strcmp(kind, "sigkill") == 0)
        raise(SIGKILL);
    else if (strcmp(kind, "abort") == 0)
        abort();
    else if (strcmp(kind, "segv") == 0)
        raise(SIGSEGV);
    else if (strcmp(kind, "exit") == 0)
        exit(3);
    return 7;
}

static int t_extra(pp_task_ctx *ctx, const void *arg, size_t len)
{
    (void)ctx, (void)arg, (void)len;
    return 0;
}

static pp_executor *mpi_executor(int max_workers, pp_status want)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.start_method = PP_START_MPI;
    o.max_workers = max_workers;
    pp_executor *ex = NULL;
    pp_status st = pp_executor_create(&o, &ex);
    if (st != want)
        fprintf(stderr, "mpi_check: pp_executor_create: %s, expected %s\n", pp_status_str(st),
                pp_status_str(want));
    CHECK(st == want);
    return ex;
}

static int32_t square_of(pp_executor *ex, int32_t v)
{
    pp_future *f = NULL;
    int32_t r = -1;
    if (pp_submit(ex, "square", &v, sizeof v, &f) != PP_OK)
        return -1;
    pp_buf b = {NULL, 0};
    pp_status st = pp_future_result(f, WAIT_MS, &b);
    if (st == PP_OK && b.len == sizeof r)
        memcpy(&r, b.data, sizeof r);
    if (st != PP_OK) {
        const pp_error *e = NULL;
        pp_future_exception(f, 0, &e);
        fprintf(stderr, "mpi_check: square of %d: %s: %s\n", (int)v, pp_status_str(st),
                e && e->message ? e->message : "(no message)");
    }
    pp_future_release(f);
    return r;
}

/* pp_map of "square" over 0 .. n-1 (n at most 1000) with this chunksize, consumed in order:
 * pp_map's status is CHECKed here; returns whether every item came back as its square, all
 * n of them. */
static bool map_squares(pp_executor *ex, int n, size_t chunksize)
{
    static int32_t in[1000];
    static pp_buf args[1000];
    if (n > 1000)
        return false;
    for (int i = 0; i < n; i++) {
        in[i] = i;
        args[i] = (pp_buf){&in[i], sizeof in[i]};
    }
    pp_map_iter *it = NULL;
    CHECK(pp_map(ex, "square", args, (size_t)n, chunksize, WAIT_MS, &it) == PP_OK);
    int got = 0;
    bool ok = true;
    for (;;) {
        pp_buf b = {NULL, 0};
        pp_status st = pp_map_next(it, &b, NULL);
        if (st == PP_END)
            break;
        int32_t v = -1;
        if (st == PP_OK && b.len == sizeof v)
            memcpy(&v, b.data, sizeof v);
        ok = ok && v == got * got;
        got++;
        if (st != PP_OK)
            break;
    }
    pp_map_free(it);
    return ok && got == n;
}

/* Executors one after another reuse the ranks; map; a second live executor; pids. */
static void check_reuse(int nranks)
{
    for (int round = 0; round < 3; round++) {
        pp_executor *ex = mpi_executor(0, PP_OK);
        if (!ex)
            return;
        CHECK(square_of(ex, 7) == 49);
        pp_executor *second = mpi_executor(0, PP_ESTATE);
        CHECK(second == NULL);
        CHECK(map_squares(ex, 1000, 100)); /* more items than workers, chunked */
        long long pids[16];
        size_t n = 0;
        CHECK(pp_executor_worker_pids(ex, pids, 16, &n) == PP_OK);
        CHECK(n >= 1 && n <= (size_t)(nranks - 1));
        for (size_t i = 0; i < n; i++)
            CHECK(pids[i] != (long long)getpid());
        pp_executor_destroy(ex);
    }
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.start_method = PP_START_MPI;
    o.max_workers = nranks; /* more than the worker ranks */
    pp_executor *ex = NULL;
    CHECK(pp_executor_create(&o, &ex) == PP_EINVAL);
    o.max_workers = 1;
    o.max_tasks_per_child = 3;
    CHECK(pp_executor_create(&o, &ex) == PP_EINVAL);
    pp_mpi_options mo;
    pp_mpi_options_init(&mo);
    mo.mode = PP_MPI_SPAWN;
    o.max_tasks_per_child = 0;
    mo.dead_host_ms = -1;
    CHECK(pp_mpi_executor_create(&o, &mo, &ex) == PP_EINVAL);
    if (getenv("PROCPOOL_CONNECT")) { /* the srun-style start: no MPI, no spawn */
        mo.dead_host_ms = 0;
        CHECK(pp_mpi_executor_create(&o, &mo, &ex) == PP_ENOTSUP);
        const char *why = pp_last_error();
        printf("mpi_check: spawn mode without MPI: %s\n", why ? why : "(none)");
        CHECK(why && strstr(why, "PP_MPI_SPAWN needs MPI"));
    }
    mo.mode = PP_MPI_WORLD;
    mo.dead_host_ms = 5000;
    CHECK(pp_mpi_executor_create(&o, &mo, &ex) == PP_OK);
    if (ex) {
        CHECK(square_of(ex, -3) == 9);
        pp_executor_destroy(ex);
    }
}

/* A worker dies mid-task: PP_EBROKEN naming rank and host, promptly; never a hang. */
static void check_crash(const char *kind)
{
    pp_executor *ex = mpi_executor(2, PP_OK);
    if (!ex)
        return;
    CHECK(square_of(ex, 5) == 25); /* the pool works first */
    uint32_t ms = 20000;
    pp_future *slow = NULL, *f = NULL;
    CHECK(pp_submit(ex, "sleep", &ms, sizeof ms, &slow) == PP_OK);
    long long t0 = now_ms();
    CHECK(pp_submit(ex, "crash", kind, strlen(kind), &f) == PP_OK);
    if (!f || !slow)
        return;
    pp_buf b;
    pp_status st = pp_future_result(f, WAIT_MS, &b);
    long long dt = now_ms() - t0;
    const pp_error *e = NULL;
    pp_future_exception(f, 0, &e);
    printf("mpi_check: crash %s: %s after %lld ms: %s\n", kind, pp_status_str(st), dt,
           e && e->message ? e->message : "(no message)");
    CHECK(st == PP_EBROKEN);
    CHECK(e && e->message && strstr(e->message, "rank ") && strstr(e->message, "on host "));
    if (strcmp(kind, "exit") == 0)
        CHECK(e && e->message && strstr(e->message, "exited with code 3"));
    /* the other worker's call fails with the pool, without waiting for its 20 s */
    CHECK(pp_future_result(slow, WAIT_MS, &b) == PP_EBROKEN);
    CHECK(now_ms() - t0 < WAIT_MS);
    pp_future *g = NULL;
    int32_t v = 2;
    CHECK(pp_submit(ex, "square", &v, sizeof v, &g) == PP_EBROKEN);
    pp_future_release(f);
    pp_future_release(slow);
    pp_executor_destroy(ex);
    /* The ranks are gone: the next executor's start fails, its future breaks, saying why. */
    ex = mpi_executor(0, PP_OK);
    if (ex) {
        CHECK(pp_submit(ex, "square", &v, sizeof v, &g) == PP_OK);
        if (g) {
            CHECK(pp_future_result(g, WAIT_MS, &b) == PP_EBROKEN);
            pp_future_exception(g, 0, &e);
            printf("mpi_check: after the crash: %s\n", e && e->message ? e->message : "?");
            CHECK(e && e->message && strstr(e->message, "no worker rank left"));
            pp_future_release(g);
        }
        pp_executor_destroy(ex);
    }
}

/* A rank lost with a broken pool is gone: the next executor asked for more workers than
 * there are ranks left goes on with those left (none would break it: check_crash). */
static void check_partial(void)
{
    pp_executor *ex = mpi_executor(1, PP_OK);
    if (!ex)
        return;
    pp_future *f = NULL;
    pp_buf b;
    CHECK(pp_submit(ex, "crash", "sigkill", 7, &f) == PP_OK);
    CHECK(f && pp_future_result(f, WAIT_MS, &b) == PP_EBROKEN);
    pp_future_release(f);
    pp_executor_destroy(ex);
    ex = mpi_executor(2, PP_OK); /* 2 worker ranks in the job, 1 left */
    if (!ex)
        return;
    pp_future *fs[6];
    for (int32_t i = 0; i < 6; i++)
        CHECK(pp_submit(ex, "square", &i, sizeof i, &fs[i]) == PP_OK);
    for (int32_t i = 0; i < 6; i++) {
        int32_t v = -1;
        pp_status st = pp_future_result(fs[i], WAIT_MS, &b);
        if (st == PP_OK && b.len == sizeof v)
            memcpy(&v, b.data, sizeof v);
        CHECK(st == PP_OK && v == i * i);
        pp_future_release(fs[i]);
    }
    pp_executor_stats stats;
    CHECK(pp_executor_stats_get(ex, &stats) == PP_OK && stats.workers_started == 1);
    printf("mpi_check: partial: %llu worker started of 2 asked\n",
           (unsigned long long)stats.workers_started);
    pp_executor_destroy(ex);
}

/* A peer with a wrong token is refused (answer 'T') and the pool goes on. */
static void check_token(void)
{
    pp_executor *ex = mpi_executor(0, PP_OK);
    if (!ex)
        return;
    /* two calls at once: both worker ranks leave the backlog for this executor's sessions */
    uint32_t ms = 200;
    pp_future *f[2] = {NULL, NULL};
    CHECK(pp_submit(ex, "sleep", &ms, sizeof ms, &f[0]) == PP_OK);
    CHECK(pp_submit(ex, "sleep", &ms, sizeof ms, &f[1]) == PP_OK);
    pp_executor_stats stats;
    long long t0 = now_ms();
    do {
        CHECK(pp_executor_stats_get(ex, &stats) == PP_OK);
    } while (stats.workers_started < 2 && now_ms() - t0 < WAIT_MS);
    CHECK(stats.workers_started == 2);
    char addr[256];
    int port = 0;
    unsigned char token[16];
    CHECK(pp__mpi_rendezvous(addr, sizeof addr, &port, token));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, strcmp(addr, "127.0.0.1") == 0 ? addr : "127.0.0.1", &sa.sin_addr);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    unsigned char greet[128] = "PPMPI01";
    memcpy(greet + 8, token, 16);
    greet[8] ^= 1; /* wrong by one bit */
    CHECK(write(fd, greet, sizeof greet) == (ssize_t)sizeof greet);
    for (int i = 0; i < 2; i++) {
        pp_buf b;
        CHECK(pp_future_result(f[i], WAIT_MS, &b) == PP_OK);
        pp_future_release(f[i]);
    }
    pp_executor_destroy(ex); /* the ranks reconnect behind the fake peer */
    ex = mpi_executor(0, PP_OK);
    if (ex) {
        CHECK(square_of(ex, 4) == 16);
        CHECK(square_of(ex, 6) == 36);
        pp_executor_destroy(ex);
    }
    unsigned char ans = 0;
    struct pollfd pfd = {fd, POLLIN, 0};
    CHECK(poll(&pfd, 1, (int)WAIT_MS) == 1);
    CHECK(read(fd, &ans, 1) == 1 && ans == 'T');
    close(fd);
}

/* Rank 2 registered other task names: refused; the pool breaks naming it. */
static void check_registry(void)
{
    pp_executor *ex = mpi_executor(2, PP_OK);
    if (!ex)
        return;
    uint32_t ms = 300;
    pp_future *f[2] = {NULL, NULL};
    CHECK(pp_submit(ex, "sleep", &ms, sizeof ms, &f[0]) == PP_OK);
    /* the pool may break before the second submit (rank 2 may be the first to connect) */
    pp_status st1 = pp_submit(ex, "sleep", &ms, sizeof ms, &f[1]);
    CHECK(st1 == PP_OK || st1 == PP_EBROKEN);
    bool named = false;
    for (int i = 0; i < 2; i++) {
        if (!f[i])
            continue;
        pp_buf b;
        pp_status st = pp_future_result(f[i], WAIT_MS, &b);
        const pp_error *e = NULL;
        pp_future_exception(f[i], 0, &e);
        printf("mpi_check: registry: %s: %s\n", pp_status_str(st),
               e && e->message ? e->message : "");
        if (st == PP_EBROKEN && e && e->message && strstr(e->message, "rank 2") &&
            strstr(e->message, "registered task names differ"))
            named = true;
        pp_future_release(f[i]);
    }
    CHECK(named);
    pp_executor_destroy(ex);
}

static pp_executor *spawn_executor(int max_workers, pp_crash_policy policy)
{
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.start_method = PP_START_MPI;
    o.max_workers = max_workers;
    o.crash_policy = policy;
    pp_mpi_options mo;
    pp_mpi_options_init(&mo);
    mo.mode = PP_MPI_SPAWN;
    pp_executor *ex = NULL;
    pp_status st = pp_mpi_executor_create(&o, &mo, &ex);
    if (st != PP_OK)
        fprintf(stderr, "mpi_check: spawn executor: %s: %s\n", pp_status_str(st),
                pp_last_error() ? pp_last_error() : "");
    CHECK(st == PP_OK);
    return ex;
}

/* Spawn mode (PP_MPI_SPAWN: one MPI_Comm_spawn per worker), as a singleton or under
 * mpiexec -n 1: submit, map, pids, two executors at once, a crash that breaks the pool (the
 * message names the spawned worker and its host), a crash under ISOLATE (the worker is
 * replaced: spawn mode can start workers again), and the end (the spawned workers exit,
 * rank 0 does not hang in MPI_Finalize: the hang guard of tests/mpi/run.sh). */
/* Open MPI 4.1.4's MPI_Comm_spawn right after a spawned worker died hung about once in 50
 * runs (never reproduced on purpose; more often on a loaded machine); procpool bounds it
 * (SPAWN_WAIT_MS in src/mpi/mpi.c) and breaks the pool saying so. That outcome, and only
 * that one, is reported as the known runtime fault: true if f ended so. */
static bool known_fault; /* (then the program ends with _exit: see main) */

static bool known_spawn_fault(pp_future *f, pp_status st)
{
    const pp_error *e = NULL;
    pp_future_exception(f, 0, &e);
    if (st != PP_EBROKEN || !e || !e->message ||
        !strstr(e->message, "MPI_Comm_spawn did not return"))
        return false;
    printf("mpi_check: spawn: isolate: KNOWN Open MPI fault, not procpool's: %s\n", e->message);
    known_fault = true;
    return true;
}

static void check_spawn(int nranks)
{
    pp_mpi_options mo;
    pp_mpi_options_init(&mo);
    if (nranks == 1)
        CHECK(mo.mode == PP_MPI_SPAWN); /* the default in a singleton */
    pp_executor *ex = spawn_executor(2, PP_CRASH_BREAK);
    if (!ex)
        return;
    long long t0 = now_ms();
    CHECK(square_of(ex, 7) == 49);
    printf("mpi_check: spawn: first result after %lld ms\n", now_ms() - t0);
    CHECK(map_squares(ex, 200, 20));
    /* a second spawn-mode executor at the same time (spawned workers are not shared) */
    pp_executor *ex2 = spawn_executor(1, PP_CRASH_BREAK);
    if (ex2) {
        CHECK(square_of(ex2, 9) == 81);
        pp_executor_destroy(ex2);
    }
    long long pids[4];
    size_t n = 0;
    CHECK(pp_executor_worker_pids(ex, pids, 4, &n) == PP_OK);
    CHECK(n >= 1 && n <= 2);
    for (size_t i = 0; i < n; i++)
        CHECK(pids[i] > 0 && pids[i] != (long long)getpid());
    /* a worker dies mid-task: its call and the pool break, promptly */
    uint32_t ms = 20000;
    pp_future *slow = NULL, *f = NULL;
    CHECK(pp_submit(ex, "sleep", &ms, sizeof ms, &slow) == PP_OK);
    t0 = now_ms();
    CHECK(pp_submit(ex, "crash", "sigkill", 7, &f) == PP_OK);
    if (f && slow) {
        pp_buf b;
        pp_status st = pp_future_result(f, WAIT_MS, &b);
        const pp_error *e = NULL;
        pp_future_exception(f, 0, &e);
        printf("mpi_check: spawn: crash: %s after %lld ms: %s\n", pp_status_str(st), now_ms() - t0,
               e && e->message ? e->message : "(no message)");
        CHECK(st == PP_EBROKEN);
        CHECK(e && e->message && strstr(e->message, "spawned worker ") &&
              strstr(e->message, "on host "));
        CHECK(pp_future_result(slow, WAIT_MS, &b) == PP_EBROKEN);
        CHECK(now_ms() - t0 < WAIT_MS);
    }
    pp_future_release(f);
    pp_future_release(slow);
    pp_executor_destroy(ex);
    /* ISOLATE: only the call fails; a new worker is spawned for the next one. max_workers
     * 0: PROCPOOL_MPI_MAX_WORKERS (1 here) */
    setenv("PROCPOOL_MPI_MAX_WORKERS", "1", 1);
    ex = spawn_executor(0, PP_CRASH_ISOLATE);
    unsetenv("PROCPOOL_MPI_MAX_WORKERS");
    if (!ex)
        return;
    f = NULL;
    CHECK(pp_submit(ex, "crash", "abort", 5, &f) == PP_OK);
    if (f) {
        pp_buf b;
        pp_status st = pp_future_result(f, WAIT_MS + 10000, &b);
        printf("mpi_check: spawn: isolate: %s\n", pp_status_str(st));
        if (known_spawn_fault(f, st)) { /* the first spawn, right after a worker died */
            pp_future_release(f);
            pp_executor_destroy(ex);
            return;
        }
        if (st != PP_EWORKERDIED) {
            const pp_error *e = NULL;
            pp_future_exception(f, 0, &e);
            fprintf(stderr, "mpi_check: spawn: isolate: %s\n",
                    e && e->message ? e->message : "(no message)");
        }
        CHECK(st == PP_EWORKERDIED);
        pp_future_release(f);
    }
    /* The replacement's spawn: the known fault may strike here too (known_spawn_fault). */
    {
        pp_future *sq = NULL;
        int32_t v = 12, r = -1;
        CHECK(pp_submit(ex, "square", &v, sizeof v, &sq) == PP_OK);
        pp_buf b = {NULL, 0};
        pp_status st = sq ? pp_future_result(sq, WAIT_MS + 10000, &b) : PP_EINVAL;
        const pp_error *e = NULL;
        if (sq)
            pp_future_exception(sq, 0, &e);
        if (sq && known_spawn_fault(sq, st)) {
            pp_future_release(sq);
            pp_executor_destroy(ex);
            return;
        }
        if (st == PP_OK && b.len == sizeof r)
            memcpy(&r, b.data, sizeof r);
        if (st != PP_OK)
            fprintf(stderr, "mpi_check: square of 12: %s: %s\n", pp_status_str(st),
                    e && e->message ? e->message : "(no message)");
        CHECK(r == 144);
        pp_future_release(sq);
    }
    /* two calls at once still run on one worker: the pool's size is 1 */
    uint32_t short_ms = 100;
    pp_future *two[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++)
        CHECK(pp_submit(ex, "sleep", &short_ms, sizeof short_ms, &two[i]) == PP_OK);
    for (int i = 0; i < 2; i++) {
        pp_buf b;
        CHECK(two[i] && pp_future_result(two[i], WAIT_MS, &b) == PP_OK);
        pp_future_release(two[i]);
    }
    pp_executor_stats stats;
    CHECK(pp_executor_stats_get(ex, &stats) == PP_OK && stats.workers_started == 2);
    printf("mpi_check: spawn: isolate: %llu workers started (1 replaced)\n",
           (unsigned long long)stats.workers_started);
    /* shutdown: the spawned worker leaves (its MPI job ends; mpiexec or the singleton's
     * runtime reaps it) */
    n = 0;
    CHECK(pp_executor_worker_pids(ex, pids, 4, &n) == PP_OK && n == 1);
    pp_executor_destroy(ex);
    for (size_t i = 0; i < n; i++) {
        t0 = now_ms();
        while (kill((pid_t)pids[i], 0) == 0 && now_ms() - t0 < WAIT_MS) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        printf("mpi_check: spawn: worker %lld gone after %lld ms\n", pids[i], now_ms() - t0);
        CHECK(kill((pid_t)pids[i], 0) != 0);
    }
}

/* A host that vanishes (tests/mpi/vanish.sh: the worker rank's link goes down mid-call;
 * no FIN, no RST): with dead_host_ms 3000 the call fails PP_EBROKEN within seconds, found by
 * keepalive and the user timeout, though the worker process lives on. */
static void check_vanish(void)
{
    const char *cut = getenv("PP_VANISH_CMD");
    CHECK(cut != NULL);
    if (!cut)
        return;
    pp_executor_options o;
    pp_executor_options_init(&o);
    o.start_method = PP_START_MPI;
    o.max_workers = 1;
    pp_mpi_options mo;
    pp_mpi_options_init(&mo);
    mo.dead_host_ms = 3000;
    pp_executor *ex = NULL;
    CHECK(pp_mpi_executor_create(&o, &mo, &ex) == PP_OK);
    if (!ex)
        return;
    CHECK(square_of(ex, 3) == 9); /* the link works */
    uint32_t ms = 20000;
    pp_future *f = NULL;
    CHECK(pp_submit(ex, "sleep", &ms, sizeof ms, &f) == PP_OK);
    long long t0 = now_ms();
    while (f && !pp_future_running(f) && now_ms() - t0 < WAIT_MS) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK(f && pp_future_running(f));
    t0 = now_ms();
    CHECK(system(cut) == 0);
    if (f) {
        pp_buf b;
        pp_status st = pp_future_result(f, WAIT_MS, &b);
        const pp_error *e = NULL;
        pp_future_exception(f, 0, &e);
        printf("mpi_check: vanish: %s after %lld ms: %s\n", pp_status_str(st), now_ms() - t0,
               e && e->message ? e->message : "(no message)");
        CHECK(st == PP_EBROKEN);
        CHECK(e && e->message && strstr(e->message, "lost its connection"));
        pp_future_release(f);
    }
    pp_executor_destroy(ex);
}

/* dead_host_ms reaches the socket: keepalive idle, interval, count and the user timeout
 * (no MPI needed: a TCP loopback pair). */
static void check_keepalive(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof sa;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(l, 1) == 0 &&
          getsockname(l, (struct sockaddr *)&sa, &sl) == 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    static const long ms[] = {15000, 6000, 1000, 120000};
    static const int want[][3] = {{7, 2, 3}, {3, 1, 3}, {1, 1, 3}, {60, 20, 3}};
    for (int i = 0; i < 4; i++) {
        pp__mpi_tune_socket(fd, ms[i]);
        int v[5] = {0};
        socklen_t vl = sizeof v[0];
        getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v[0], &vl);
        getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v[1], &vl);
        getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v[2], &vl);
        getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v[3], &vl);
        getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v[4], &vl);
        printf("mpi_check: dead_host_ms %ld: keepalive %d, idle %d s, interval %d s, count %d, "
               "user timeout %d ms\n",
               ms[i], v[0], v[1], v[2], v[3], v[4]);
        CHECK(v[0] == 1 && v[1] == want[i][0] && v[2] == want[i][1] && v[3] == want[i][2]);
        CHECK(v[4] == (int)ms[i]);
        /* found dead within about dead_host_ms (and never before half of it) */
        long dead_s = ms[i] < 3000 ? 3 : (ms[i] + 999) / 1000; /* 3 s at least */
        CHECK(v[1] + v[2] * v[3] <= dead_s + 2);
    }
    close(fd);
    close(l);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "keepalive") == 0) {
        check_keepalive();
        printf("mpi_check: exit %d\n", failures ? 1 : 0);
        return failures ? 1 : 0;
    }
    if (argc > 1 && strcmp(argv[1], "spawn_single") == 0) {
        /* the program initialised MPI without threads: spawn mode is PP_ENOTSUP, saying
         * why (MPI_Comm_spawn would be called from procpool's manager thread) */
        MPI_Init(&argc, &argv);
    }
    pp_register_task("square", t_square);
    pp_register_task("sleep", t_sleep);
    pp_register_task("crash", t_crash);
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r)
        r = getenv("PMI_RANK"); /* MPICH's Hydra */
    if (argc > 1 && strcmp(argv[1], "registry") == 0 && r && atoi(r) == 2)
        pp_register_task("extra", t_extra); /* a different build, as seen by rank 0 */
    if (pp_mpi_worker_main(argc, argv) != 0)
        return 2;
    const char *mode = argc > 1 ? argv[1] : "";
    int nranks = 0;
    const char *sz = getenv("OMPI_COMM_WORLD_SIZE");
    if (!sz)
        sz = getenv("PMI_SIZE"); /* MPICH's Hydra */
    if (!sz)
        sz = getenv("SLURM_NTASKS");
    nranks = sz ? atoi(sz) : 1;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(mode, "reuse") == 0 || strcmp(mode, "srun") == 0)
        check_reuse(nranks);
    else if (strcmp(mode, "crash") == 0 && argc > 2)
        check_crash(argv[2]);
    else if (strcmp(mode, "partial") == 0)
        check_partial();
    else if (strcmp(mode, "token") == 0)
        check_token();
    else if (strcmp(mode, "registry") == 0)
        check_registry();
    else if (strcmp(mode, "spawn") == 0)
        check_spawn(nranks);
    else if (strcmp(mode, "vanish") == 0)
        check_vanish();
    else if (strcmp(mode, "spawn_single") == 0) {
        pp_mpi_options mo;
        pp_mpi_options_init(&mo);
        mo.mode = PP_MPI_SPAWN;
        pp_executor *ex = NULL;
        CHECK(pp_mpi_executor_create(NULL, &mo, &ex) == PP_ENOTSUP && ex == NULL);
        const char *why = pp_last_error();
        printf("mpi_check: spawn_single: %s\n", why ? why : "(none)");
        CHECK(why && strstr(why, "MPI_THREAD_MULTIPLE"));
        MPI_Finalize(); /* the program's own */
    } else {
        fprintf(stderr, "usage: mpi_check reuse|crash "
                        "KIND|partial|token|registry|spawn|spawn_single|vanish|srun|keepalive\n");
        return 2;
    }
    printf("mpi_check: exit %d\n", failures ? 1 : 0);
    if (known_fault) /* Open MPI's runtime is wedged in the spawn that never returned: its
                        finalization at exit hung the job until run.sh's guard (seen once
                        under ctest -j2); nothing is left to check */
        _exit(failures ? 1 : 0);
    return failures ? 1 : 0;
}
