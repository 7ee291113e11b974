/*
 * POSIX backend: the fork and forkserver start methods.
 *
 * fork: the executor's manager thread forks each worker, without exec, before it serves
 * anything (see manager.c), so the forking thread is the one that outlives the workers,
 * which makes PR_SET_PDEATHSIG exact. The child keeps its channel as descriptor 3 and closes
 * every other descriptor above 2 (the parent's other workers' channels among them: a worker
 * must see EOF when the parent goes), empties its signal mask, restores the default action of
 * SIGPIPE, SIGXFSZ, SIGTERM and SIGCHLD as a spawned worker does, and runs the worker loop.
 * It never returns into the application's code: the loop ends with _Exit.
 *
 * forkserver: a server process, started once per worker program on first need (with
 * posix_spawn, as a spawned worker, but marked PP__FORKSERVER_MARKER instead), is
 * single-threaded: it has run only the program's task registrations and pp_worker_main().
 * Its protocol, over a socketpair whose other end only this process holds:
 *
 *   request  (client -> server): 8 bytes {u32 magic FS_MAGIC, u32 FS_OP_FORK} with two
 *            descriptors (SCM_RIGHTS): the worker's end of its channel, and the write end of
 *            a status pipe; then {u32 length, then length bytes: u64 memory limit (0: none),
 *            the working directory NUL-terminated (the client's own at the time of the
 *            request unless worker_cwd says otherwise), then each worker_env entry
 *            NUL-terminated}. The server opens the directory before it forks (a failure is
 *            the reply's -errno); the child enters it, sets the environment and the limit
 *            before it serves anything (pp__os_wstart);
 *   reply    (server -> client): 8 bytes, the worker's pid (> 0) or -errno, with the
 *            worker's pidfd (SCM_RIGHTS) where Linux has them, opened before the server can
 *            reap the worker, so signals through it never hit a reused pid.
 *
 * The server forks the worker (which enters the loop as with fork, its parent-death signal
 * tied to the server), keeps the status pipe, and when it reaps the worker (SIGCHLD through a
 * self-pipe) writes the raw 4-byte wait status into it and closes it: the client's read end
 * is that worker's exit sentinel and its exit status (see read_status in spawn.c). The
 * server exits when its socket reaches EOF, that is when the client process has ended, and
 * also when it sees (every FS_PARENT_CHECK_MS) that its parent is no longer the client; its
 * workers follow by their own channel's EOF and their parent-death signal (Linux), which is
 * exact here: the server is single-threaded. Each worker leads its own process group, which
 * the server kills before it reaps the worker (fs_reap), and the worker's parent-death
 * handler kills it when the server goes (spawn.c's top comment).
 *
 * Requests are serialised by a process-wide mutex; one exchange costs a fork of a small,
 * single-threaded process (well under a millisecond). A server that died is reaped and
 * replaced at the next request.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#  include <sys/prctl.h>
#endif

#include "posix.h"

#define CHILD_FD PP__POSIX_CHILD_FD
#define FS_MAGIC 0x50504653u /* "PPFS" */
#define FS_OP_FORK 1u
#define EXIT_SETUP 71 /* a forked child could not set itself up (EX_OSERR) */
#define FS_PARENT_CHECK_MS 200
#define FS_MAX_SETUP (1u << 20) /* the largest setup payload of a request */

bool pp__os_fork_supported(void)
{
    return true;
}

/* ---- the forked child ---------------------------------------------------------------- */

/* Closes every descriptor from lo up. Async-signal-safe. */
static void close_from(int lo)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lo, ~0u, 0u) == 0)
        return;
#endif
    long max = 65536;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)max)
        max = (long)rl.rlim_cur;
    for (long fd = lo; fd < max; fd++)
        close((int)fd);
}

/* In a child just forked by `parent`: makes fd its channel at CHILD_FD (close-on-exec, so a
 * task's own programs do not inherit it), closes everything else above 2, resets signals as
 * for a spawned worker and ties the child's life to its parent's (Linux). Only
 * async-signal-safe calls: the parent may have had other threads. */
static void child_enter(int fd, pid_t parent)
{
    if (fd != CHILD_FD && dup2(fd, CHILD_FD) < 0)
        _exit(EXIT_SETUP);
    close_from(CHILD_FD + 1);
    if (fcntl(CHILD_FD, F_SETFD, FD_CLOEXEC) != 0)
        _exit(EXIT_SETUP);
    static const int dfl[] = {SIGPIPE, SIGXFSZ, SIGTERM, SIGCHLD};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof dfl / sizeof dfl[0]; i++)
        sigaction(dfl[i], &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Its own process group (its parent does the same, whichever runs first), and its
     * parent's death kills that group (spawn.c's top comment). */
    setpgid(0, 0);
    pp__posix_worker_guard(parent);
}

/* In a forked worker, before it serves: its environment, directory and memory limit
 * (pp__os_wstart). env strings stay this process's (putenv keeps the pointers: they are the
 * child's copy and live as long as it does). */
static void child_apply(const char *const *env, const char *cwd, unsigned long long mem)
{
    if (cwd && *cwd && chdir(cwd) != 0)
        _exit(EXIT_SETUP);
    for (size_t i = 0; env && env[i]; i++)
        if (putenv((char *)env[i]) != 0)
            _exit(EXIT_SETUP);
    if (pp__posix_set_memlimit(0, mem, NULL) != PP_OK)
        _exit(EXIT_SETUP);
}

pp_status pp__os_fork(pp__serve_fn serve, pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    return pp__os_fork_ex(serve, NULL, p, c, oe);
}

pp_status pp__os_fork_ex(pp__serve_fn serve, const pp__os_wstart *ws, pp__proc **p,
                         pp__chan **c, pp__oserr *oe)
{
    *p = NULL;
    *c = NULL;
    pp__proc *proc = pp__calloc(1, sizeof *proc);
    pp__chan *chan = pp__posix_chan_new(-1, false);
    pp__chan *child_chan = pp__posix_chan_new(CHILD_FD, true); /* allocated before fork */
    int sv[2] = {-1, -1};
    pp_status st = PP_ENOMEM;
    if (!proc || !chan || !child_chan)
        goto fail;
    if ((st = pp__posix_channel_pair(sv, true, oe)) != PP_OK)
        goto fail;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        child_enter(sv[1], parent);
        if (ws)
            child_apply(ws->env, ws->cwd, ws->mem_limit);
        serve(child_chan);
        _exit(0); /* not reached */
    }
    if (pid < 0) {
        st = pp__posix_err(oe, "fork", errno);
        close(sv[0]);
        close(sv[1]);
        goto fail;
    }
    close(sv[1]);
    setpgid(pid, pid); /* as the child does: a group kill before it ran must reach it */
    pp__free(child_chan);
    chan->fd = sv[0];
    proc->pid = pid;
    proc->pidfd = pp__posix_open_pidfd(pid);
    proc->status_fd = -1;
    *p = proc;
    *c = chan;
    return PP_OK;
fail:
    pp__free(proc);
    pp__free(chan);
    pp__free(child_chan);
    return st;
}

/* ---- descriptor passing ---------------------------------------------------------------- */

/* Sends the 8-byte message with up to two descriptors (fds[i] < 0: not sent). */
static int send_msg(int sock, const void *msg, const int *fds, int nfds)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {(void *)msg, 8};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (nfds > 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n == 8)
            return 0;
        if (n >= 0)
            return EPROTO;
        if (errno != EINTR)
            return errno;
    }
}

/* Receives an 8-byte message and up to two descriptors (close-on-exec; -1 where none came).
 * 0, ECONNRESET on EOF, or an errno value. */
static int recv_msg(int sock, void *msg, int fds[2], int *nfds)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } u;
    struct iovec iov = {msg, 8};
    struct msghdr mh;
    fds[0] = fds[1] = -1;
    *nfds = 0;
    for (;;) {
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int got[2 * 2];
            if (k > sizeof got / sizeof got[0])
                k = sizeof got / sizeof got[0];
            memcpy(got, CMSG_DATA(cm), k * sizeof(int));
            for (size_t i = 0; i < k; i++) {
                if (*nfds < 2)
                    fds[(*nfds)++] = got[i];
                else
                    close(got[i]);
            }
        }
        if (n == 0)
            return ECONNRESET;
        if (n != 8 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
            return EPROTO;
        return 0;
    }
}

/* ---- the server -------------------------------------------------------------------------- */

typedef struct fs_kid {
    pid_t pid;
    int   status_fd;
} fs_kid;

static int fs_sig_w = -1; /* the self-pipe's write end, for the SIGCHLD handler */

static void fs_on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    ssize_t r = write(fs_sig_w, "c", 1); /* full pipe: a wakeup is pending anyway */
    (void)r;
    errno = saved;
}

/* Reaps every exited child and hands each its status. */
static void fs_reap(fs_kid *kids, size_t *n)
{
    for (;;) {
        /* Seen first without reaping: a worker's process group dies while the worker, an
         * unreaped zombie, still holds its pgid (spawn.c's top comment). */
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (si.si_pid <= 0)
            return;
        for (size_t i = 0; i < *n; i++)
            if (kids[i].pid == si.si_pid)
                pp__posix_kill_group(si.si_pid);
        int status = 0;
        pid_t pid = waitpid(si.si_pid, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        for (size_t i = 0; i < *n; i++) {
            if (kids[i].pid != pid)
                continue;
            /* 4 bytes into an empty pipe: never short, never blocks; EPIPE (the client
             * dropped it) is ignored, SIGPIPE is ignored in the server. */
            ssize_t w = write(kids[i].status_fd, &status, sizeof status);
            (void)w;
            close(kids[i].status_fd);
            kids[i] = kids[--*n];
            break;
        }
    }
}

static void fs_reply(int ctl, int64_t v, int pidfd)
{
    int fds[1] = {pidfd};
    if (send_msg(ctl, &v, fds, pidfd >= 0 ? 1 : 0) != 0)
        _exit(0); /* the client is gone */
}

/* Reads exactly len bytes (blocking). 0, ECONNRESET at EOF, or an errno value. */
static int read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0)
            return ECONNRESET;
        else if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* Writes all of buf (blocking). 0 or an errno value. */
static int write_full(int fd, const void *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t n = send(fd, (const char *)buf + put, len - put, MSG_NOSIGNAL);
        if (n >= 0)
            put += (size_t)n;
        else if (errno != EINTR)
            return errno;
    }
    return 0;
}

/* The request's setup payload (see the top), in a pp__malloc'ed buffer. 0; ECONNRESET
 * (the client went); EIO (the stream is out of step: the server cannot go on). */
static int fs_read_setup(int ctl, char **out, size_t *len)
{
    uint32_t n;
    int err = read_full(ctl, &n, sizeof n);
    if (err)
        return err == ECONNRESET ? ECONNRESET : EIO;
    if (n < 9 || n > FS_MAX_SETUP)
        return EIO;
    char *buf = pp__malloc((size_t)n + 1);
    if (!buf)
        return EIO; /* the payload cannot be skipped without it */
    if ((err = read_full(ctl, buf, n)) != 0) {
        pp__free(buf);
        return err == ECONNRESET ? ECONNRESET : EIO;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

/* Splits the payload: the limit, the directory opened (O_DIRECTORY; -1 if none given), the
 * environment entries (pointers into buf, NULL-ended, pp__calloc'ed). 0 or an errno
 * value (the directory's open error). */
static int fs_parse_setup(char *buf, size_t len, unsigned long long *mem, int *dirfd,
                          const char ***env)
{
    uint64_t m;
    memcpy(&m, buf, sizeof m);
    *mem = m;
    char *cwd = buf + 8;
    size_t count = 0;
    for (size_t i = 8; i < len; i++)
        count += buf[i] == 0;
    const char **e = pp__calloc(count + 1, sizeof *e);
    if (!e)
        return ENOMEM;
    size_t k = 0;
    char *q = cwd + strlen(cwd) + 1;
    while (q < buf + len) {
        if (*q)
            e[k++] = q;
        q += strlen(q) + 1;
    }
    if (*cwd) {
        int fd = open(cwd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            pp__free(e);
            return err;
        }
        *dirfd = fd;
    }
    *env = e;
    return 0;
}

static void fs_serve(int ctl, pp__serve_fn serve)
{
    /* Not PR_SET_PDEATHSIG: it fires when the *thread* that spawned the server ends (an
     * executor's manager), and the server outlives executors. The socket's EOF ends it when
     * the client process ends; a check of getppid() every FS_PARENT_CHECK_MS is the second
     * guard. */
    pid_t client = getppid();
    int sp[2];
    if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) != 0)
        _exit(EXIT_SETUP);
    fs_sig_w = sp[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = fs_on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    fs_kid *kids = NULL;
    size_t n = 0, cap = 0;
    pid_t self = getpid();
    for (;;) {
        struct pollfd pf[2] = {{ctl, POLLIN, 0}, {sp[0], POLLIN, 0}};
        int r = poll(pf, 2, FS_PARENT_CHECK_MS);
        if (r < 0 && errno != EINTR)
            _exit(EXIT_SETUP);
        if (getppid() != client)
            _exit(0); /* the client process is gone */
        if (r <= 0)
            continue;
        if (pf[1].revents) {
            char buf[64];
            while (read(sp[0], buf, sizeof buf) > 0) {
            }
            fs_reap(kids, &n);
        }
        if (!pf[0].revents)
            continue;
        uint32_t req[2];
        int fds[2], nfds;
        int err = recv_msg(ctl, req, fds, &nfds);
        if (err == ECONNRESET)
            _exit(0); /* the client process is gone: so is the server */
        if (err == EAGAIN || err == EINTR)
            continue;
        if (err == 0 && (req[0] != FS_MAGIC || req[1] != FS_OP_FORK || nfds != 2))
            err = EPROTO;
        char *setup = NULL;
        size_t setup_len = 0;
        if (err == 0)
            err = fs_read_setup(ctl, &setup, &setup_len);
        int dirfd = -1;
        unsigned long long mem = 0;
        const char **env = NULL;
        if (err == 0)
            err = fs_parse_setup(setup, setup_len, &mem, &dirfd, &env);
        if (err == 0 && n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            fs_kid *nk = pp__realloc(kids, ncap * sizeof *nk);
            if (nk) {
                kids = nk;
                cap = ncap;
            } else {
                err = ENOMEM;
            }
        }
        pp__chan *child_chan = NULL;
        if (err == 0 && !(child_chan = pp__posix_chan_new(CHILD_FD, true)))
            err = ENOMEM;
        if (err != 0) {
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            if (dirfd >= 0)
                close(dirfd);
            pp__free(env);
            pp__free(setup);
            pp__free(child_chan);
            if (err == ECONNRESET)
                _exit(0); /* the client process is gone */
            if (err == EIO)
                _exit(EXIT_SETUP);
            fs_reply(ctl, -(int64_t)err, -1);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            /* The directory first: child_enter closes dirfd with the rest. */
            if (dirfd >= 0 && fchdir(dirfd) != 0)
                _exit(EXIT_SETUP);
            /* ctl is descriptor 3: child_enter puts the channel there, closing it. */
            child_enter(fds[0], self);
            child_apply(env, NULL, mem);
            serve(child_chan);
            _exit(0); /* not reached */
        }
        if (dirfd >= 0)
            close(dirfd);
        pp__free(env);
        pp__free(setup);
        pp__free(child_chan);
        close(fds[0]);
        if (pid > 0)
            setpgid(pid, pid); /* as the child does */
        if (pid < 0) {
            int e = errno;
            close(fds[1]);
            fs_reply(ctl, -(int64_t)e, -1);
            continue;
        }
        kids[n++] = (fs_kid){pid, fds[1]};
        int pidfd = pp__posix_open_pidfd(pid); /* before any reaping: the exact process */
        fs_reply(ctl, (int64_t)pid, pidfd);
        if (pidfd >= 0)
            close(pidfd);
    }
}

pp_status pp__os_forkserver_main(int argc, char **argv, void (*prepare)(void),
                                 pp__serve_fn serve, pp__oserr *oe)
{
    (void)oe;
    int i = 1;
    while (i < argc && (!argv[i] || strcmp(argv[i], PP__FORKSERVER_MARKER) != 0))
        i++;
    if (i >= argc)
        return PP_END;
    if (i + 1 >= argc || !argv[i + 1] || strcmp(argv[i + 1], "3") != 0)
        return PP_EINVAL;
    int ctl = CHILD_FD;
    int fl = fcntl(ctl, F_GETFL);
    if (fl < 0 || fcntl(ctl, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(ctl, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return pp__posix_err(oe, "fcntl(forkserver socket)", errno);
    if (prepare)
        prepare(); /* once here, inherited by every child (copy-on-write faults spared) */
    fflush(NULL);
    fs_serve(ctl, serve);
    _exit(0); /* not reached */
}

/* ---- the client ---------------------------------------------------------------------------- */

typedef struct fserver {
    struct fserver *next;
    char           *program;
    int             ctl;
    pid_t           pid;
} fserver;

static pthread_mutex_t fs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t  fs_once = PTHREAD_ONCE_INIT;
static fserver        *fs_list;

/* In a child forked by the application (not exec'd): the parent's servers are the parent's.
 * Forget them (their sockets closed), and the lock, which another thread may have held. */
static void fs_atfork_child(void)
{
    pthread_mutex_init(&fs_lock, NULL);
    for (fserver *s = fs_list; s;) {
        fserver *next = s->next;
        close(s->ctl);
        pp__free(s->program);
        pp__free(s);
        s = next;
    }
    fs_list = NULL;
}

static void fs_init(void)
{
    pthread_atfork(NULL, NULL, fs_atfork_child);
}

/* The server went away (its socket failed): collect it, it is our child. */
static void fs_drop(fserver *s)
{
    for (fserver **pp = &fs_list; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    close(s->ctl); /* a live server sees EOF and exits */
    int status;
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
    }
    pp__free(s->program);
    pp__free(s);
}

static pp_status fs_start(const char *program, fserver **out, pp__oserr *oe)
{
    pp_status st = pp__posix_check_program(program, oe);
    if (st != PP_OK)
        return st;
    fserver *s = pp__calloc(1, sizeof *s);
    char *prog = pp__strdup(program);
    int sv[2] = {-1, -1};
    if (!s || !prog) {
        pp__free(s);
        pp__free(prog);
        return PP_ENOMEM;
    }
    if ((st = pp__posix_channel_pair(sv, false, oe)) != PP_OK) /* the server's socket */
        goto fail;
    char *args[] = {prog, (char *)PP__FORKSERVER_MARKER, (char *)"3", NULL};
    if ((st = pp__posix_spawn_child(args, sv[1], NULL, NULL, &s->pid, oe)) != PP_OK)
        goto fail;
    close(sv[1]);
    s->ctl = sv[0];
    s->program = prog;
    s->next = fs_list;
    fs_list = s;
    *out = s;
    return PP_OK;
fail:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    pp__free(prog);
    pp__free(s);
    return st;
}

/* One request: PP_OK with the worker's pid and pidfd (or -1); PP_END if the server is gone
 * (the caller replaces it); PP_ESYS for a refusal. */
static pp_status fs_request(fserver *s, int chan_end, int status_w, const char *setup,
                            uint32_t setup_len, pid_t *pid, int *pidfd, pp__oserr *oe)
{
    uint32_t req[2] = {FS_MAGIC, FS_OP_FORK};
    int fds[2] = {chan_end, status_w};
    int err = send_msg(s->ctl, req, fds, 2);
    if (!err)
        err = write_full(s->ctl, &setup_len, sizeof setup_len);
    if (!err)
        err = write_full(s->ctl, setup, setup_len);
    if (err)
        return PP_END;
    int64_t v = 0;
    int got[2], ngot;
    err = recv_msg(s->ctl, &v, got, &ngot);
    if (err) {
        for (int i = 0; i < ngot; i++)
            close(got[i]);
        return PP_END;
    }
    for (int i = 1; i < ngot; i++)
        close(got[i]);
    if (v <= 0) {
        if (ngot)
            close(got[0]);
        return pp__posix_err(oe, "forkserver fork", v < 0 ? (int)-v : EPROTO);
    }
    *pid = (pid_t)v;
    *pidfd = ngot ? got[0] : -1;
    return PP_OK;
}

/* The request's setup payload (see the top) for ws, in a pp__malloc'ed buffer; NULL on
 * ENOMEM or if it is too large (*len is then 0 or not). */
static char *fs_setup(const pp__os_wstart *ws, uint32_t *len)
{
    char here[4096];
    const char *cwd = ws && ws->cwd ? ws->cwd : getcwd(here, sizeof here);
    if (!cwd)
        cwd = ""; /* no cwd to give (deleted, too long): the server's */
    size_t n = 8 + strlen(cwd) + 1;
    for (size_t i = 0; ws && ws->env && ws->env[i]; i++)
        n += strlen(ws->env[i]) + 1;
    *len = 0;
    if (n > FS_MAX_SETUP) {
        *len = 1; /* (too large, not out of memory) */
        return NULL;
    }
    char *buf = pp__malloc(n);
    if (!buf)
        return NULL;
    uint64_t m = ws ? ws->mem_limit : 0;
    memcpy(buf, &m, sizeof m);
    size_t off = 8;
    memcpy(buf + off, cwd, strlen(cwd) + 1);
    off += strlen(cwd) + 1;
    for (size_t i = 0; ws && ws->env && ws->env[i]; i++) {
        memcpy(buf + off, ws->env[i], strlen(ws->env[i]) + 1);
        off += strlen(ws->env[i]) + 1;
    }
    *len = (uint32_t)n;
    return buf;
}

pp_status pp__os_forkserver_spawn(const char *program, pp__proc **p, pp__chan **c,
                                  pp__oserr *oe)
{
    return pp__os_forkserver_spawn_ex(program, NULL, p, c, oe);
}

pp_status pp__os_forkserver_spawn_ex(const char *program, const pp__os_wstart *ws,
                                     pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    *p = NULL;
    *c = NULL;
    uint32_t setup_len = 0;
    char *setup = fs_setup(ws, &setup_len);
    if (!setup)
        return setup_len == 0 ? PP_ENOMEM : pp__posix_err(oe, "forkserver (worker_env too large)", E2BIG);
    pthread_once(&fs_once, fs_init);
    pp__proc *proc = pp__calloc(1, sizeof *proc);
    pp__chan *chan = pp__posix_chan_new(-1, false);
    int sv[2] = {-1, -1}, stp[2] = {-1, -1};
    pp_status st = PP_ENOMEM;
    if (!proc || !chan)
        goto out;
    if ((st = pp__posix_channel_pair(sv, true, oe)) != PP_OK)
        goto out;
    if (pipe2(stp, O_CLOEXEC) != 0) {
        st = pp__posix_err(oe, "pipe2", errno);
        goto out;
    }
    pid_t pid = -1;
    int pidfd = -1;
    pthread_mutex_lock(&fs_lock);
    fserver *s = fs_list;
    while (s && strcmp(s->program, program) != 0)
        s = s->next;
    /* Two tries: a server found dead is replaced once. */
    st = PP_END;
    for (int attempt = 0; attempt < 2 && st == PP_END; attempt++) {
        if (!s && (st = fs_start(program, &s, oe)) != PP_OK)
            break;
        st = fs_request(s, sv[1], stp[1], setup, setup_len, &pid, &pidfd, oe);
        if (st == PP_END) {
            fs_drop(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&fs_lock);
    if (st == PP_END)
        st = pp__posix_err(oe, "forkserver (it exited)", EPIPE);
    if (st != PP_OK)
        goto out;
    chan->fd = sv[0];
    sv[0] = -1;
    proc->pid = pid;
    proc->pidfd = pidfd;
    proc->status_fd = stp[0];
    stp[0] = -1;
    *p = proc;
    *c = chan;
    proc = NULL;
    chan = NULL;
out:
    for (int i = 0; i < 2; i++) {
        if (sv[i] >= 0)
            close(sv[i]);
        if (stp[i] >= 0)
            close(stp[i]);
    }
    pp__free(proc);
    pp__free(chan);
    pp__free(setup);
    return st;
}
