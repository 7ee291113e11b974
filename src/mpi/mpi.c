/*
 * libprocpool_mpi: PP_START_MPI. The ranks of an MPI job (or of a Slurm-style launch) are
 * the workers; MPI only starts them and carries the rendezvous (one MPI_Bcast). Each worker
 * rank reaches rank 0 through a TCP connection per executor, which carries procpool's own
 * wire protocol: the core's manager drives it through the POSIX backend's remote workers
 * (pp__os_remote_worker), whose death is the connection's end. Design and measurements:
 * DESIGN.md "Across machines", ../shared/notes/scale-out-mpi.md; the user's view:
 * include/procpool_mpi.h.
 *
 * The life of a worker rank (worker_loop):
 *
 *   connect to rank 0 --greeting (128 bytes: magic, token, registry hash, rank, pid, host)-->
 *   wait for rank 0's one-byte answer (it comes when an executor wants a worker, or at the end)
 *     'K': serve one executor on this connection (pp__worker_serve_session), close it, and
 *          connect again (the next executor reuses the rank)
 *     'Q': the program is ending: MPI_Finalize (if procpool initialised MPI), exit 0
 *     'T', 'R', 'X': refused (wrong token, other task names, bad rank): say so, exit 1
 *   EOF anywhere: rank 0 is gone, or cut this rank off (a broken pool): exit at once, without
 *   MPI_Finalize (which would wait for ranks that may be dead)
 *
 * Rank 0 accepts connections only when its manager wants a worker (starter_start) and at
 * the end (root_end); between executors the connected ranks wait in the listen backlog.
 * Nothing is read from a peer but its fixed greeting, with a deadline, before the token is
 * checked.
 *
 * Spawn mode (PP_MPI_SPAWN; the default in a singleton): for each worker the manager
 * thread calls MPI_Comm_spawn of this program, one process (spawn_start; in a thread of its
 * own, waited for with a bound: Open MPI hung in it once), sends the rendezvous and the
 * worker's serial number over the intercommunicator and frees it. The spawned process
 * finds its parent in pp_mpi_worker_main (MPI_Comm_get_parent), connects to a listening
 * socket of spawn mode's own, greets with its serial (rank 0 accepts only the one awaited,
 * under spawn_lock), serves one executor and exits, finalising MPI at exit. Why not
 * MPI_Comm_disconnect: it is collective, so it would hang on a worker that died; measured
 * (Open MPI 4.1.4), MPI_Finalize does not wait for freed intercommunicators' peers, dead or
 * alive (50 to 70 ms). Why a singleton gets orte_enable_recovery: without it, its runtime
 * aborted the dead worker's job, and a worker dying while another spawn was under way left
 * that spawn hanging.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "pp_core.h"
#include "pp_os.h"
#include "procpool_mpi.h"
#include "registry.h"
#include "starter.h"

#define GREETING_LEN 128
#define HOST_LEN 84
#define MAGIC "PPMPI01"        /* 8 bytes with its NUL */
#define GREETING_WAIT_MS 5000  /* a peer has this long to send its greeting */
#define END_WAIT_MS 10000      /* at the end, how long rank 0 waits for its ranks */
#define CONNECT_FIRST_MS 60000 /* srun: rank 0 may start after the others */
#define CONNECT_AGAIN_MS 10000
#define DEFAULT_DEAD_HOST_MS 15000

enum { ANS_OK = 'K', ANS_QUIT = 'Q', ANS_TOKEN = 'T', ANS_REGISTRY = 'R', ANS_RANK = 'X' };

enum { ROLE_NONE, ROLE_ROOT, ROLE_WORKER };

static struct {
    int role;
    bool via_mpi;  /* MPI started the ranks (else the srun-style environment) */
    bool mpi_ours; /* procpool called MPI_Init_thread: it finalises */
    int rank, nranks;
    int lfd; /* rank 0: the listening socket */
    unsigned char token[16];
    char host[HOST_LEN];
    char addr[256]; /* the rendezvous: host or address, and port */
    int port;
    pthread_mutex_t lock;
    bool busy; /* a live executor holds the ranks */
    int lost;  /* worker ranks gone with broken pools, or refused */
    bool ended;
    bool one_host; /* every rank of the world runs on this host */
    /* spawn mode (rank 0 or a singleton; MPI_Comm_spawn, one call per worker) */
    int argc;
    char **argv;                /* the program's arguments, given to each spawned worker */
    char *exe;                  /* this program's path (argv[0] if unknown) */
    int thread_level;           /* MPI_Query_thread */
    MPI_Comm self;              /* a dup of MPI_COMM_SELF with MPI_ERRORS_RETURN: spawns' root */
    pthread_mutex_t spawn_lock; /* one spawn and its accept at a time */
    int spawn_lfd;              /* the listening socket of spawned workers (own port) */
    int spawn_port;
    char spawn_addr[256];
    uint32_t spawn_serial; /* the last spawned worker's number (in its greeting) */
    bool spawn_warned;
    _Atomic bool spawn_hung; /* a spawn never returned: no MPI_Finalize at the end */
} g = {.lfd = -1,
       .lock = PTHREAD_MUTEX_INITIALIZER,
       .spawn_lock = PTHREAD_MUTEX_INITIALIZER,
       .spawn_lfd = -1};

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    return pp__os_monotonic_ms();
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}
static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Constant-time comparison of the token. */
static bool token_equal(const unsigned char *a, const unsigned char *b)
{
    unsigned d = 0;
    for (int i = 0; i < 16; i++)
        d |= (unsigned)(a[i] ^ b[i]);
    return d == 0;
}

static bool random_token(unsigned char *t)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t got = 0;
    while (got < 16) {
        ssize_t n = read(fd, t + got, 16 - got);
        if (n <= 0 && errno != EINTR)
            break;
        if (n > 0)
            got += (size_t)n;
    }
    close(fd);
    return got == 16;
}

static bool parse_token(const char *hex, unsigned char *t)
{
    if (!hex || strlen(hex) != 32)
        return false;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return false;
        t[i] = (unsigned char)v;
    }
    return true;
}

/* Reads or writes exactly len bytes on a non-blocking socket before the deadline (ms on
 * now_ms; INT64_MAX: none). false on EOF, error or timeout. */
static bool io_full(int fd, void *buf, size_t len, bool rd, int64_t deadline)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t n =
            rd ? recv(fd, p, len, MSG_DONTWAIT) : send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0 && rd)
            return false;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return false;
        int64_t left = deadline == INT64_MAX ? -1 : deadline - now_ms();
        if (deadline != INT64_MAX && left <= 0)
            return false;
        struct pollfd pfd = {fd, rd ? POLLIN : POLLOUT, 0};
        poll(&pfd, 1, left < 0 ? -1 : left > 1000 ? 1000 : (int)left);
    }
    return true;
}

/* TCP_NODELAY, and keepalive so that a host that vanishes is found after about dead_ms:
 * probes start after half of it, three of them fill the rest; and TCP_USER_TIMEOUT, so that
 * data sent to a dead host fails the connection after dead_ms too. */
void pp__mpi_tune_socket(int fd, long dead_ms);
void pp__mpi_tune_socket(int fd, long dead_ms)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    int dead_s = (int)((dead_ms + 999) / 1000);
    if (dead_s < 3)
        dead_s = 3;
    int cnt = 3, idle = dead_s / 2, intvl = (dead_s - idle) / cnt;
    if (intvl < 1)
        intvl = 1;
#ifdef TCP_KEEPIDLE
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#endif
#ifdef TCP_USER_TIMEOUT
    unsigned ut = (unsigned)dead_ms; /* data sent and never acknowledged */
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof ut);
#endif
}

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 10) : dflt;
}

/* ---- rank 0: listening, greetings ---- */

/* Listens on addr (NULL: every interface) and port (0: any); fills *lfd and *lport. */
static bool listen_on(const char *addr, int port, int *lfd, int *lport)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(addr, ps, &hints, &res) != 0 || !res) {
        fprintf(stderr, "procpool: cannot resolve the address to listen on '%s'\n",
                addr ? addr : "*");
        return false;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        fprintf(stderr, "procpool: cannot listen on %s:%d: %s\n", addr ? addr : "*", port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return false;
    }
    freeaddrinfo(res);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *lfd = fd;
    *lport = ntohs(sa.sin_port);
    return true;
}

static bool root_listen(const char *addr, int port)
{
    return listen_on(addr, port, &g.lfd, &g.port);
}

typedef struct greeting {
    uint64_t reg_hash;
    uint32_t rank;
    uint64_t pid;
    char host[HOST_LEN + 1];
} greeting;

/* Accepts one peer on lfd before the deadline and checks its greeting. Returns its socket
 * (blocking state unchanged: non-blocking) with the answer not yet sent, and *gr; -1 on
 * timeout. Peers with the wrong token or a bad greeting are answered, closed and reported
 * here, and the wait goes on. serial: 0 in world mode (gr->rank must be a worker rank),
 * else the number of the spawned worker awaited (gr->rank must be it). */
static int accept_peer(int lfd, int64_t deadline, greeting *gr, uint32_t serial)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left < 0)
            left = 0;
        struct pollfd pfd = {lfd, POLLIN, 0};
        int r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue;
        char peer[INET6_ADDRSTRLEN + 8] = "?";
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *si = (struct sockaddr_in *)&ss;
            char a[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &si->sin_addr, a, sizeof a);
            snprintf(peer, sizeof peer, "%s:%d", a, ntohs(si->sin_port));
        }
        /* The fixed greeting, with a deadline: nothing else is read from an unknown peer. */
        unsigned char b[GREETING_LEN];
        int64_t gd = now_ms() + GREETING_WAIT_MS;
        if (!io_full(fd, b, sizeof b, true, gd < deadline ? gd : deadline)) {
            fprintf(stderr, "procpool: refused a connection from %s: no greeting\n", peer);
            close(fd);
            continue;
        }
        if (memcmp(b, MAGIC, 8) != 0 || !token_equal(b + 8, g.token)) {
            unsigned char a = ANS_TOKEN;
            io_full(fd, &a, 1, false, now_ms() + 100);
            fprintf(stderr, "procpool: refused a connection from %s: wrong token\n", peer);
            close(fd);
            continue;
        }
        gr->reg_hash = get_u64(b + 24);
        gr->rank = get_u32(b + 32);
        gr->pid = get_u64(b + 36);
        memcpy(gr->host, b + 44, HOST_LEN);
        gr->host[HOST_LEN] = 0;
        if (serial != 0 && gr->rank != serial) {
            /* a spawned worker whose start timed out earlier, or a stray peer */
            unsigned char a = ANS_RANK;
            io_full(fd, &a, 1, false, now_ms() + 100);
            fprintf(stderr,
                    "procpool: refused a connection from %s: spawned worker %u, not the one "
                    "awaited (%u)\n",
                    peer, gr->rank, serial);
            close(fd);
            continue;
        }
        if (serial == 0 && (gr->rank == 0 || (int)gr->rank >= g.nranks)) {
            unsigned char a = ANS_RANK;
            io_full(fd, &a, 1, false, now_ms() + 100);
            fprintf(stderr, "procpool: refused a connection from %s: rank %u not in 1..%d\n", peer,
                    gr->rank, g.nranks - 1);
            close(fd);
            continue;
        }
        return fd;
    }
}

static int root_accept(int64_t deadline, greeting *gr)
{
    return accept_peer(g.lfd, deadline, gr, 0);
}

/* ---- the starter (starter.h) ---- */

typedef struct mpi_ctx {
    pp_mpi_mode mode;
    int started;
    long dead_ms;
} mpi_ctx;

typedef struct rendezvous {
    char addr[256];
    int32_t port;
    uint32_t serial; /* spawn mode: the spawned worker's number (0 in world mode) */
    unsigned char token[16];
} rendezvous;

#define RV_TAG 0x7070 /* the rendezvous message to a spawned worker (its parent intercomm) */

/* The default size of a spawn-mode pool: PROCPOOL_MPI_MAX_WORKERS, else the MPI universe
 * minus the world (the slots mpiexec was given beyond its ranks), else the CPUs. */
static int spawn_default_workers(void)
{
    long env = env_long("PROCPOOL_MPI_MAX_WORKERS", 0);
    if (env > 0)
        return env > pp__os_max_workers() ? pp__os_max_workers() : (int)env;
    int *usize = NULL, flag = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &usize, &flag);
    if (flag && usize && *usize - g.nranks > 0)
        return *usize - g.nranks;
    return pp__os_cpu_count();
}

/* Spawn mode's checks, and its listening socket (made at the first spawn-mode executor). */
static pp_status spawn_open(const pp_mpi_options *mo, char *err, size_t cap)
{
    if (!g.via_mpi) {
        snprintf(err, cap,
                 "PP_MPI_SPAWN needs MPI (this process was started by the srun-style "
                 "environment, PROCPOOL_CONNECT)");
        return PP_ENOTSUP;
    }
    if (g.thread_level < MPI_THREAD_MULTIPLE) {
        snprintf(err, cap,
                 "PP_MPI_SPAWN calls MPI_Comm_spawn from procpool's manager thread: it needs "
                 "MPI_THREAD_MULTIPLE (MPI was initialised with thread level %d)",
                 g.thread_level);
        return PP_ENOTSUP;
    }
    pp_status st = PP_OK;
    pthread_mutex_lock(&g.spawn_lock);
    if (g.spawn_lfd < 0) {
        /* The interface: listen_addr, else PROCPOOL_MPI_IFACE, else loopback when spawned
         * workers can only run on this host (a singleton, or Open MPI's allocation is this
         * one node), else this host's name, listening on every interface. */
        const char *iface = getenv("PROCPOOL_MPI_IFACE");
        bool local_only = g.one_host && (!getenv("OMPI_COMM_WORLD_SIZE") ||
                                         env_long("OMPI_MCA_orte_num_nodes", 0) == 1);
        const char *bind_to = mo->listen_addr   ? mo->listen_addr
                              : iface && *iface ? iface
                              : local_only      ? "127.0.0.1"
                                                : NULL;
        if (!listen_on(bind_to, 0, &g.spawn_lfd, &g.spawn_port)) {
            snprintf(err, cap, "cannot listen on %s for spawned workers",
                     bind_to ? bind_to : "every interface");
            st = PP_EINVAL;
        } else {
            snprintf(g.spawn_addr, sizeof g.spawn_addr, "%s", bind_to ? bind_to : g.host);
        }
    } else if (mo->listen_addr && strcmp(mo->listen_addr, g.spawn_addr) != 0) {
        snprintf(err, cap, "listen_addr %s: spawned workers already connect to %s", mo->listen_addr,
                 g.spawn_addr);
        st = PP_EINVAL;
    }
    bool warn = !g.spawn_warned && getenv("OMPI_COMM_WORLD_SIZE") &&
                !getenv("OMPI_MCA_orte_enable_recovery");
    g.spawn_warned = true;
    pthread_mutex_unlock(&g.spawn_lock);
    if (st == PP_OK && warn)
        fprintf(stderr, "procpool: warning: Open MPI without --enable-recovery ends the whole "
                        "job, rank 0 included, when a spawned worker dies (mpiexec "
                        "--enable-recovery)\n");
    return st;
}

static pp_status starter_open(const pp_executor_options *o, const void *ext, int *max_workers,
                              void **ctx, char *err, size_t cap)
{
    const pp_mpi_options *mo = ext;
    pp_mpi_options dflt;
    if (!mo) {
        pp_mpi_options_init(&dflt);
        mo = &dflt;
    }
    PP__CHECK_ARG(mo->mode == PP_MPI_WORLD || mo->mode == PP_MPI_SPAWN);
    PP__CHECK_ARG(mo->dead_host_ms >= 0);
    if (mo->mode == PP_MPI_SPAWN) {
        pp_status st = spawn_open(mo, err, cap);
        if (st != PP_OK)
            return st;
    } else {
        PP__CHECK_ARG(o->max_workers < g.nranks || (o->max_workers == 1 && g.nranks <= 1));
        if (mo->listen_addr && strcmp(mo->listen_addr, g.addr) != 0)
            return PP_EINVAL;
    }
    mpi_ctx *c = pp__calloc(1, sizeof *c);
    if (!c)
        return PP_ENOMEM;
    c->mode = mo->mode;
    c->dead_ms = mo->dead_host_ms ? mo->dead_host_ms : DEFAULT_DEAD_HOST_MS;
    if (mo->mode == PP_MPI_SPAWN) {
        *max_workers = o->max_workers ? o->max_workers : spawn_default_workers();
        *ctx = c;
        return PP_OK;
    }
    pthread_mutex_lock(&g.lock);
    bool busy = g.busy;
    int left = g.nranks - 1 - g.lost;
    if (!busy)
        g.busy = true;
    pthread_mutex_unlock(&g.lock);
    if (busy) {
        snprintf(err, cap, "another MPI executor is alive: its worker ranks are taken");
        fprintf(stderr, "procpool: %s\n", err);
        pp__free(c);
        return PP_ESTATE;
    }
    /* 0: every rank left (at least 1, so that the pool exists: its start then fails and
     * says why) */
    *max_workers = o->max_workers ? o->max_workers : left > 0 ? left : 1;
    *ctx = c;
    return PP_OK;
}

/* A greeted peer (fd, *gr) becomes a worker: its task names are checked, it is told to
 * serve, and its socket is tuned and handed to the core. */
static pp_status admit(mpi_ctx *ctx, int fd, const greeting *gr, const char *what, pp__proc **p,
                       pp__chan **c, char *err, size_t cap)
{
    unsigned char ans = ANS_OK;
    uint64_t want = pp__registry_hash();
    if (gr->reg_hash != want) {
        ans = ANS_REGISTRY;
        io_full(fd, &ans, 1, false, now_ms() + 100);
        close(fd);
        if (ctx->mode == PP_MPI_WORLD) {
            pthread_mutex_lock(&g.lock);
            g.lost++; /* it exits */
            pthread_mutex_unlock(&g.lock);
        }
        snprintf(err, cap,
                 "%s %u on host %s (pid %llu) was refused: its registered task names "
                 "differ from rank 0's (hash %016llx, rank 0 %016llx): a different build?",
                 what, gr->rank, gr->host, (unsigned long long)gr->pid,
                 (unsigned long long)gr->reg_hash, (unsigned long long)want);
        return PP_EINVAL;
    }
    if (!io_full(fd, &ans, 1, false, now_ms() + GREETING_WAIT_MS)) {
        close(fd);
        snprintf(err, cap, "%s %u on host %s (pid %llu) went away at its start", what, gr->rank,
                 gr->host, (unsigned long long)gr->pid);
        return PP_EBROKEN;
    }
    pp__mpi_tune_socket(fd, ctx->dead_ms);
    char desc[HOST_LEN + 64];
    snprintf(desc, sizeof desc, "%s %u on host %s", ctx->mode == PP_MPI_WORLD ? "rank" : what,
             gr->rank, gr->host);
    pp__oserr oe = {NULL, 0};
    pp_status st = pp__os_remote_worker(fd, (long long)gr->pid, strcmp(gr->host, g.host) == 0, desc,
                                        p, c, &oe);
    if (st != PP_OK) {
        char b[128];
        snprintf(err, cap, "%s",
                 st == PP_ESYS ? pp__os_strerror(&oe, b, sizeof b) : pp_status_str(st));
        return st;
    }
    ctx->started++;
    return PP_OK;
}

/* MPI_Comm_spawn in a thread of its own, waited for with a bound: Open MPI 4.1.4's spawn
 * hung once (of about 20 runs) right after an earlier spawned worker had died, and a
 * manager stuck in it would hang the caller. A spawn that does not return in time breaks
 * the pool; its thread is left behind, no MPI call is made again (g.spawn_hung), and the
 * process ends without MPI_Finalize. */
#define SPAWN_WAIT_MS 30000
typedef struct spawn_call {
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool done;
    int refs; /* the caller and the thread */
    int rc, code;
    MPI_Comm ic;
    const char *cmd;
    char **args;
} spawn_call;

static void spawn_call_unref(spawn_call *sc)
{
    pthread_mutex_lock(&sc->m);
    bool last = --sc->refs == 0;
    pthread_mutex_unlock(&sc->m);
    if (last) {
        pthread_cond_destroy(&sc->cv);
        pthread_mutex_destroy(&sc->m);
        pp__free(sc);
    }
}

static void *spawn_thread(void *arg)
{
    spawn_call *sc = arg;
    int code = MPI_SUCCESS;
    MPI_Comm ic = MPI_COMM_NULL;
    int rc = MPI_Comm_spawn(sc->cmd, sc->args, 1, MPI_INFO_NULL, 0, g.self, &ic, &code);
    pthread_mutex_lock(&sc->m);
    sc->rc = rc;
    sc->code = code;
    sc->ic = ic;
    sc->done = true;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->m);
    spawn_call_unref(sc);
    return NULL;
}

/* 1: spawned (*ic), 0: MPI said no (*rc, *code), -1: no answer in time, or no thread. */
static int spawn_bounded(const char *cmd, char **args, MPI_Comm *ic, int *rc, int *code)
{
    spawn_call *sc = pp__calloc(1, sizeof *sc);
    if (!sc)
        return -1;
    pthread_mutex_init(&sc->m, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sc->cv, &ca);
    pthread_condattr_destroy(&ca);
    sc->refs = 2;
    sc->cmd = cmd;
    sc->args = args;
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    int terr = pthread_create(&t, &ta, spawn_thread, sc);
    pthread_attr_destroy(&ta);
    if (terr != 0) {
        sc->refs = 1;
        spawn_call_unref(sc);
        return -1;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += SPAWN_WAIT_MS / 1000;
    pthread_mutex_lock(&sc->m);
    while (!sc->done)
        if (pthread_cond_timedwait(&sc->cv, &sc->m, &until) == ETIMEDOUT)
            break;
    bool done = sc->done;
    *rc = sc->rc;
    *code = sc->code;
    *ic = sc->ic;
    pthread_mutex_unlock(&sc->m);
    spawn_call_unref(sc);
    if (!done)
        return -1;
    return *rc == MPI_SUCCESS && *code == MPI_SUCCESS ? 1 : 0;
}

/* Spawn mode: one MPI_Comm_spawn of this program (one process, its own MPI job), the
 * rendezvous sent over the intercommunicator, which is then freed (never disconnected:
 * MPI_Comm_disconnect is collective and would hang on a worker that died), and the
 * worker's connection accepted. The manager thread waits here for MPI (0.2 to 0.5 s). */
static pp_status spawn_start(mpi_ctx *ctx, pp__proc **p, pp__chan **c, char *err, size_t cap)
{
    pthread_mutex_lock(&g.spawn_lock);
    uint32_t serial = ++g.spawn_serial;
    if (serial == 0)
        serial = ++g.spawn_serial;
    rendezvous rv;
    memset(&rv, 0, sizeof rv);
    snprintf(rv.addr, sizeof rv.addr, "%s", g.spawn_addr);
    rv.port = g.spawn_port;
    rv.serial = serial;
    memcpy(rv.token, g.token, 16);
    MPI_Comm ic = MPI_COMM_NULL;
    int code = MPI_SUCCESS, rc = MPI_SUCCESS;
    char **args = g.argc > 1 && g.argv ? g.argv + 1 : MPI_ARGV_NULL;
    const char *cmd = g.exe ? g.exe : g.argv && g.argv[0] ? g.argv[0] : "";
    int r = g.spawn_hung ? -2 : spawn_bounded(cmd, args, &ic, &rc, &code);
    if (r < 0) {
        if (r == -1)
            g.spawn_hung = true;
        pthread_mutex_unlock(&g.spawn_lock);
        snprintf(err, cap,
                 r == -1 ? "MPI_Comm_spawn did not return within %d s (Open MPI's runtime "
                           "hangs: no more spawns in this process)"
                         : "an earlier MPI_Comm_spawn never returned (after %d s): no more "
                           "spawns in this process",
                 SPAWN_WAIT_MS / 1000);
        return PP_ETIMEDOUT;
    }
    if (r == 0) {
        pthread_mutex_unlock(&g.spawn_lock);
        char es[MPI_MAX_ERROR_STRING] = "";
        int len = 0;
        MPI_Error_string(rc != MPI_SUCCESS ? rc : code, es, &len);
        for (char *q = es; *q; q++) /* MPICH's is an error stack, one line a frame */
            if (*q == '\n' || *q == '\r')
                *q = ' ';
        snprintf(err, cap,
                 "MPI_Comm_spawn of %s failed (Open MPI under mpiexec: no free slot? "
                 "--oversubscribe; MPICH 4.0.2 (ch4:ucx) cannot spawn: use world mode): %s",
                 cmd, es);
        return PP_ENOTSUP;
    }
    rc = MPI_Send(&rv, (int)sizeof rv, MPI_BYTE, 0, RV_TAG, ic);
    MPI_Comm_free(&ic);
    if (rc != MPI_SUCCESS) {
        pthread_mutex_unlock(&g.spawn_lock);
        snprintf(err, cap, "spawned worker %u: cannot send it the rendezvous", serial);
        return PP_EBROKEN;
    }
    greeting gr;
    int fd = accept_peer(g.spawn_lfd, now_ms() + ctx->dead_ms, &gr, serial);
    pthread_mutex_unlock(&g.spawn_lock);
    if (fd < 0) {
        snprintf(err, cap, "spawned worker %u did not connect within %ld ms", serial, ctx->dead_ms);
        return PP_ETIMEDOUT;
    }
    return admit(ctx, fd, &gr, "spawned worker", p, c, err, cap);
}

static pp_status starter_start(void *ctxp, pp__proc **p, pp__chan **c, char *err, size_t cap)
{
    mpi_ctx *ctx = ctxp;
    if (ctx->mode == PP_MPI_SPAWN)
        return spawn_start(ctx, p, c, err, cap);
    pthread_mutex_lock(&g.lock);
    int left = g.nranks - 1 - g.lost - ctx->started;
    int lost = g.lost;
    pthread_mutex_unlock(&g.lock);
    if (left <= 0) {
        if (g.nranks <= 1)
            snprintf(err, cap,
                     "this job has no worker ranks (run it with mpiexec -n N, N >= 2, "
                     "or use PP_MPI_SPAWN)");
        else
            snprintf(err, cap, "no worker rank left (%d of %d lost with broken pools)", lost,
                     g.nranks - 1);
        return PP_END; /* the pool goes on with the workers it has, if any */
    }
    greeting gr;
    int fd = root_accept(now_ms() + ctx->dead_ms, &gr);
    if (fd < 0) {
        snprintf(err, cap, "no worker rank connected within %ld ms", ctx->dead_ms);
        return PP_ETIMEDOUT;
    }
    return admit(ctx, fd, &gr, "worker rank", p, c, err, cap);
}

static void starter_close(void *ctxp, bool lost)
{
    mpi_ctx *ctx = ctxp;
    if (ctx->mode == PP_MPI_WORLD) {
        pthread_mutex_lock(&g.lock);
        g.busy = false;
        if (lost) /* a broken pool's ranks were cut off, or killed: they are gone */
            g.lost += ctx->started;
        pthread_mutex_unlock(&g.lock);
    }
    pp__free(ctx);
}

static const pp__starter mpi_starter = {starter_open, starter_start, starter_close};

/* ---- rank 0: the end ---- */

/* Releases the worker ranks: when every one of them is back in the lobby, each is told to
 * quit (they finalise MPI) and MPI is finalised here if procpool initialised it. Otherwise
 * (a rank was lost, or an executor is still alive) the others are cut off and this process
 * ends at once with its exit status: MPI_Finalize would wait for the ranks that are gone. */
static void root_end(int status, bool may_finalize)
{
    pthread_mutex_lock(&g.lock);
    bool ended = g.ended;
    g.ended = true;
    bool clean = !g.busy && g.lost == 0 && !atomic_load(&g.spawn_hung);
    pthread_mutex_unlock(&g.lock);
    if (ended || g.lfd < 0)
        return;
    if (clean) {
        int64_t deadline = now_ms() + END_WAIT_MS;
        for (int i = 1; i < g.nranks; i++) {
            greeting gr;
            int fd = root_accept(deadline, &gr);
            if (fd < 0) {
                clean = false;
                break;
            }
            unsigned char a = ANS_QUIT;
            io_full(fd, &a, 1, false, now_ms() + 1000);
            close(fd);
        }
    }
    close(g.lfd); /* the ranks still waiting get EOF: they exit */
    g.lfd = -1;
    if (!clean) {
        fflush(NULL);
        _exit(status);
    }
    if (g.mpi_ours && may_finalize)
        MPI_Finalize();
}

static void root_on_exit(int status, void *arg)
{
    (void)arg;
    root_end(status, true);
}

/* Called by MPI_Finalize (an attribute of MPI_COMM_SELF is deleted first thing in it), when
 * the application finalises MPI itself: the workers must be released before. */
static int self_attr_delete(MPI_Comm comm, int keyval, void *val, void *extra)
{
    (void)comm, (void)keyval, (void)val, (void)extra;
    pthread_mutex_lock(&g.lock);
    bool clean = !g.busy && g.lost == 0;
    pthread_mutex_unlock(&g.lock);
    if (!clean)
        fprintf(stderr, "procpool: MPI_Finalize after a worker rank was lost would wait for "
                        "it forever: rank 0 ends now\n");
    root_end(1, false);
    return MPI_SUCCESS;
}

/* ---- worker ranks ---- */

static int connect_to(const char *host, int port, int64_t deadline)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    for (;;) {
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host, ps, &hints, &res) == 0 && res) {
            for (struct addrinfo *a = res; a; a = a->ai_next) {
                int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                    continue;
                if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                    freeaddrinfo(res);
                    return fd;
                }
                close(fd);
            }
            freeaddrinfo(res);
        }
        if (now_ms() >= deadline)
            return -1;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static _Noreturn void worker_leave(bool quit, int code)
{
    if (quit && g.mpi_ours)
        MPI_Finalize();
    fflush(NULL);
    if (quit)
        exit(code);
    _exit(code); /* without MPI_Finalize: it would wait for ranks that may be gone */
}

static _Noreturn void worker_loop(void)
{
    long dead_ms = env_long("PROCPOOL_MPI_DEAD_HOST_MS", DEFAULT_DEAD_HOST_MS);
    /* srun: rank 0 may start after the others; under MPI it listens before the rendezvous
     * is sent, so a refused connection means it has ended (a rank late to connect once waited
     * out the whole minute after rank 0 had gone) */
    int64_t wait = g.via_mpi ? CONNECT_AGAIN_MS : CONNECT_FIRST_MS;
    unsigned char b[GREETING_LEN];
    memset(b, 0, sizeof b);
    memcpy(b, MAGIC, 8);
    memcpy(b + 8, g.token, 16);
    put_u64(b + 24, pp__registry_hash());
    put_u32(b + 32, (uint32_t)g.rank);
    put_u64(b + 36, (uint64_t)pp__os_getpid());
    memcpy(b + 44, g.host, strnlen(g.host, HOST_LEN));
    for (;;) {
        int fd = connect_to(g.addr, g.port, now_ms() + wait);
        wait = CONNECT_AGAIN_MS;
        if (fd < 0)
            worker_leave(false, 0); /* rank 0 is gone */
        pp__mpi_tune_socket(fd, dead_ms);
        unsigned char ans = 0;
        if (!io_full(fd, b, sizeof b, false, now_ms() + GREETING_WAIT_MS) ||
            !io_full(fd, &ans, 1, true, INT64_MAX))
            worker_leave(false, 0); /* rank 0 is gone, or has cut this rank off */
        switch (ans) {
        case ANS_OK: {
            pp__chan *c = NULL;
            if (pp__os_chan_from_socket(fd, &c, NULL) != PP_OK)
                worker_leave(false, 1);
            int r = pp__worker_serve_session(c);
            pp__os_chan_free(c);
            if (r == 1)
                worker_leave(true, 0);
            break;
        }
        case ANS_QUIT:
            close(fd);
            worker_leave(true, 0);
        default:
            fprintf(stderr,
                    "procpool: worker rank %d (pid %lld, host %s) was refused by rank "
                    "0: %s\n",
                    g.rank, pp__os_getpid(), g.host,
                    ans == ANS_TOKEN      ? "wrong token"
                    : ans == ANS_REGISTRY ? "its registered task names differ from rank 0's"
                    : ans == ANS_RANK     ? "its rank is out of range"
                                          : "unknown answer");
            close(fd);
            worker_leave(false, 1);
        }
    }
}

/* ---- spawned workers (spawn mode) ---- */

/* A spawned worker's every exit (the end of its session, EOF, a refusal, a task's exit())
 * finalises MPI, so that Open MPI sees a proper end; its own job has no other rank to wait
 * for, and its parent intercomm was only freed, never disconnected. */
static void spawned_at_exit(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin && g.mpi_ours)
        MPI_Finalize();
}

/* Connects to rank 0 with the rendezvous it sent (g.addr, g.port, g.token, serial), serves
 * its one executor, and exits. */
static _Noreturn void spawned_worker(uint32_t serial)
{
    atexit(spawned_at_exit);
    long dead_ms = env_long("PROCPOOL_MPI_DEAD_HOST_MS", DEFAULT_DEAD_HOST_MS);
    unsigned char b[GREETING_LEN];
    memset(b, 0, sizeof b);
    memcpy(b, MAGIC, 8);
    memcpy(b + 8, g.token, 16);
    put_u64(b + 24, pp__registry_hash());
    put_u32(b + 32, serial);
    put_u64(b + 36, (uint64_t)pp__os_getpid());
    memcpy(b + 44, g.host, strnlen(g.host, HOST_LEN));
    int fd = connect_to(g.addr, g.port, now_ms() + CONNECT_AGAIN_MS);
    if (fd < 0) {
        fprintf(stderr, "procpool: spawned worker %u (pid %lld) cannot connect to %s:%d\n", serial,
                pp__os_getpid(), g.addr, g.port);
        exit(1);
    }
    pp__mpi_tune_socket(fd, dead_ms);
    unsigned char ans = 0;
    /* rank 0 accepts right after the spawn returns; a worker it gave up on is refused, or
     * waits out this deadline */
    if (!io_full(fd, b, sizeof b, false, now_ms() + GREETING_WAIT_MS) ||
        !io_full(fd, &ans, 1, true, now_ms() + CONNECT_AGAIN_MS + dead_ms))
        exit(0); /* rank 0 is gone, or gave up on this worker */
    if (ans != ANS_OK) {
        fprintf(stderr,
                "procpool: spawned worker %u (pid %lld, host %s) was refused by rank 0: %s\n",
                serial, pp__os_getpid(), g.host,
                ans == ANS_TOKEN      ? "wrong token"
                : ans == ANS_REGISTRY ? "its registered task names differ from rank 0's"
                : ans == ANS_RANK     ? "rank 0 no longer waits for it"
                                      : "unknown answer");
        exit(1);
    }
    pp__chan *c = NULL;
    if (pp__os_chan_from_socket(fd, &c, NULL) != PP_OK)
        exit(1);
    pp__worker_serve_session(c); /* exits on EOF, as any worker */
    pp__os_chan_free(c);
    fflush(NULL);
    exit(0);
}

/* A singleton that initialised MPI finalises it at exit (its spawned workers' jobs have
 * ended, or are ended by its runtime: measured 50 to 70 ms, also after a worker died). */
static void singleton_on_exit(int status, void *arg)
{
    (void)arg;
    if (atomic_load(&g.spawn_hung)) {
        fflush(NULL);
        _exit(status); /* MPI_Finalize would wait for the hung spawn */
    }
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
}

/* ---- pp_mpi_worker_main ---- */

/* srun and other launchers: rank, size and the rendezvous from the environment. 1: done,
 * 0: not this kind of launch, -1: error. */
static int setup_env(void)
{
    const char *conn = getenv("PROCPOOL_CONNECT");
    const char *tok = getenv("PROCPOOL_TOKEN");
    const char *rk = getenv("PROCPOOL_RANK") ? getenv("PROCPOOL_RANK") : getenv("SLURM_PROCID");
    const char *nr = getenv("PROCPOOL_NRANKS") ? getenv("PROCPOOL_NRANKS") : getenv("SLURM_NTASKS");
    if (!conn || !*conn)
        return 0;
    const char *colon = strrchr(conn, ':');
    if (!colon || !rk || !nr || !parse_token(tok, g.token) || colon - conn >= (long)sizeof g.addr) {
        fprintf(stderr, "procpool: PROCPOOL_CONNECT needs host:port, PROCPOOL_TOKEN 32 hex "
                        "digits, and the rank and size (SLURM_PROCID and SLURM_NTASKS, or "
                        "PROCPOOL_RANK and PROCPOOL_NRANKS)\n");
        return -1;
    }
    memcpy(g.addr, conn, (size_t)(colon - conn));
    g.addr[colon - conn] = 0;
    g.port = atoi(colon + 1);
    g.rank = atoi(rk);
    g.nranks = atoi(nr);
    if (g.rank < 0 || g.nranks < 1 || g.rank >= g.nranks || g.port <= 0 || g.port > 65535) {
        fprintf(stderr, "procpool: bad rank %d of %d or port %d\n", g.rank, g.nranks, g.port);
        return -1;
    }
    if (g.rank == 0 && !root_listen(NULL, g.port))
        return -1;
    return 1;
}

static int setup_mpi(int *argc, char ***argv)
{
    int inited = 0, prov = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* A singleton (no launcher), for spawn mode: its own runtime would abort a spawned
         * worker's job when it dies, and a death during another MPI_Comm_spawn left that
         * spawn hanging (measured, Open MPI 4.1.4); with recovery, only the dead process is
         * gone. And its slots are the CPUs, the parent's included: a pool of as many workers
         * as CPUs needs oversubscription (as a local pool has). The program's own settings
         * win. */
        if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) {
            setenv("OMPI_MCA_orte_enable_recovery", "1", 0);
            setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
        }
        if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &prov) != MPI_SUCCESS) {
            fprintf(stderr, "procpool: MPI_Init_thread failed\n");
            return -1;
        }
        g.mpi_ours = true;
    }
    g.via_mpi = true;
    MPI_Query_thread(&g.thread_level);
    g.argc = *argc;
    g.argv = *argv;
    MPI_Comm parent = MPI_COMM_NULL;
    MPI_Comm_get_parent(&parent);
    if (parent != MPI_COMM_NULL) {
        /* a worker spawned by rank 0's PP_MPI_SPAWN executor: the rendezvous comes over
         * the intercommunicator (never in argv, which other users of the host can read) */
        rendezvous rv;
        memset(&rv, 0, sizeof rv);
        if (MPI_Recv(&rv, (int)sizeof rv, MPI_BYTE, 0, RV_TAG, parent, MPI_STATUS_IGNORE) !=
            MPI_SUCCESS)
            return -1;
        rv.addr[sizeof rv.addr - 1] = 0;
        memcpy(g.addr, rv.addr, sizeof g.addr);
        g.port = rv.port;
        memcpy(g.token, rv.token, 16);
        g.spawn_serial = rv.serial;
        g.rank = 0;
        g.nranks = 1;
        return 2;
    }
    MPI_Comm comm, node;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm); /* procpool's own copy: no clash with the program's */
    MPI_Comm_rank(comm, &g.rank);
    MPI_Comm_size(comm, &g.nranks);
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    int node_size = 0;
    MPI_Comm_size(node, &node_size);
    MPI_Comm_free(&node);
    int one_host = node_size == g.nranks, all_one_host = 0;
    MPI_Allreduce(&one_host, &all_one_host, 1, MPI_INT, MPI_MIN, comm);
    g.one_host = all_one_host != 0;
    rendezvous rv;
    memset(&rv, 0, sizeof rv);
    int ok = 1;
    if (g.rank == 0) { /* spawn mode's root of MPI_Comm_spawn: errors return */
        MPI_Comm_dup(MPI_COMM_SELF, &g.self);
        MPI_Comm_set_errhandler(g.self, MPI_ERRORS_RETURN);
    }
    if (g.rank == 0 && !random_token(rv.token))
        ok = 0;
    if (g.rank == 0 && g.nranks > 1 && ok) {
        const char *iface = getenv("PROCPOOL_MPI_IFACE");
        const char *bind_to = all_one_host ? "127.0.0.1" : iface && *iface ? iface : NULL;
        ok = root_listen(bind_to, 0);
        snprintf(rv.addr, sizeof rv.addr, "%s", bind_to ? bind_to : g.host);
        rv.port = g.port;
    }
    if (g.rank == 0 && !ok)
        rv.port = -1;
    if (g.nranks > 1)
        MPI_Bcast(&rv, (int)sizeof rv, MPI_BYTE, 0, comm);
    MPI_Comm_free(&comm);
    if (rv.port < 0) {
        if (g.rank != 0)
            worker_leave(false, 1);
        return -1;
    }
    memcpy(g.addr, rv.addr, sizeof g.addr);
    g.addr[sizeof g.addr - 1] = 0;
    g.port = rv.port;
    memcpy(g.token, rv.token, 16);
    return 1;
}

int pp_mpi_worker_main(int argc, char **argv)
{
    /* A local worker spawned by a local pool of this program: no MPI in it. */
    for (int i = 1; i < argc && argv; i++) {
        if (strcmp(argv[i], PP__WORKER_MARKER) == 0 ||
            strcmp(argv[i], "--procpool-forkserver") == 0)
            return pp_worker_main(argc, argv);
    }
    pp_worker_main(0, NULL); /* closes registration */
    if (g.role != ROLE_NONE)
        return 0;
    if (pp__global_init() != PP_OK)
        return 1;
    gethostname(g.host, sizeof g.host - 1);
    int r = setup_env();
    if (r == 0)
        r = setup_mpi(&argc, &argv);
    if (r < 0)
        return 1;
    if (r == 2) {
        g.role = ROLE_WORKER;
        spawned_worker(g.spawn_serial);
    }
    if (g.rank != 0) {
        g.role = ROLE_WORKER;
        worker_loop();
    }
    g.role = ROLE_ROOT;
    if (g.via_mpi && g.nranks > 1 && getenv("OMPI_COMM_WORLD_SIZE") &&
        !getenv("OMPI_MCA_orte_enable_recovery"))
        fprintf(stderr, "procpool: warning: Open MPI without --enable-recovery ends the whole "
                        "job, rank 0 included, when a worker rank dies (mpiexec "
                        "--enable-recovery)\n");
    if (g.via_mpi) { /* spawn mode runs this program again: its path, for MPI_Comm_spawn */
        pp__oserr oe = {NULL, 0};
        if (pp__os_exepath(&g.exe, &oe) != PP_OK)
            g.exe = NULL; /* spawn mode then uses argv[0] */
    }
    if (g.nranks <= 1 && g.mpi_ours)
        on_exit(singleton_on_exit, NULL);
    if (g.nranks > 1) {
        on_exit(root_on_exit, NULL);
        if (g.via_mpi) {
            int key;
            MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, self_attr_delete, &key, NULL);
            MPI_Comm_set_attr(MPI_COMM_SELF, key, NULL);
        }
    }
    pp__starter_set(PP_START_MPI, &mpi_starter);
    return 0;
}

void pp_mpi_options_init(pp_mpi_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    /* a singleton has no worker ranks: its workers are spawned */
    o->mode = g.role == ROLE_ROOT && g.via_mpi && g.nranks <= 1 ? PP_MPI_SPAWN : PP_MPI_WORLD;
}

pp_status pp_mpi_executor_create(const pp_executor_options *o, const pp_mpi_options *mo,
                                 pp_executor **out)
{
    PP__CHECK_ARG(out != NULL);
    *out = NULL;
    pp_executor_options copy;
    if (o)
        copy = *o;
    else
        pp_executor_options_init(&copy);
    if (copy.start_method == PP_START_DEFAULT)
        copy.start_method = PP_START_MPI;
    PP__CHECK_ARG(copy.start_method == PP_START_MPI);
    return pp__executor_create_ext(&copy, mo, out);
}

/* Tests: the rendezvous of rank 0 (address, port, token). false if there is none. */
bool pp__mpi_rendezvous(char *addr, size_t cap, int *port, unsigned char token[16]);
bool pp__mpi_rendezvous(char *addr, size_t cap, int *port, unsigned char token[16])
{
    if (g.role != ROLE_ROOT || g.lfd < 0)
        return false;
    snprintf(addr, cap, "%s", g.addr);
    *port = g.port;
    memcpy(token, g.token, 16);
    return true;
}
