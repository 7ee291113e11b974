/*
 * POSIX backend: starting, stopping and reaping workers.
 *
 * A worker is started with posix_spawn. Its end of the channel socketpair is dup2'ed to
 * descriptor 3 and every descriptor above it is closed in the child
 * (posix_spawn_file_actions_addclosefrom_np), so a worker inherits exactly stdin, stdout,
 * stderr and its channel, even when the program has descriptors without close-on-exec.
 * The child starts with an empty signal mask and default dispositions. On Linux a pidfd is
 * the exact exit sentinel. Only the child's own pid is ever waited for.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#  include <sys/prctl.h>
#endif

#include "posix.h"

extern char **environ;

#define CHILD_FD 3
#define CHILD_FD_STR "3"

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC); /* pidfds are close-on-exec already; be sure */
        return fd;
    }
#else
    (void)pid;
#endif
    return -1;
}

pp_status pp__os_spawn(const char *const *argv, pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    *p = NULL;
    *c = NULL;
    size_t argc = 0;
    while (argv[argc])
        argc++;
    char **args = pp__calloc(argc + 3, sizeof *args);
    pp__proc *proc = pp__calloc(1, sizeof *proc);
    if (!args || !proc) {
        pp__free(args);
        pp__free(proc);
        return PP_ENOMEM;
    }
    for (size_t i = 0; i < argc; i++)
        args[i] = (char *)argv[i];
    args[argc] = (char *)PP__WORKER_MARKER;
    args[argc + 1] = (char *)CHILD_FD_STR;

    int sv[2] = {-1, -1};
    pp_status st = PP_OK;
    /* posix_spawn reports exec failures on glibc, but not everywhere (nor under valgrind,
     * which runs its clone as a fork): check first, for a clear error in the common case. */
    if (access(args[0], X_OK) != 0) {
        st = pp__posix_err(oe, "access(worker program)", errno);
        goto out;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        st = pp__posix_err(oe, "socketpair", errno);
        goto out;
    }
    /* The child's end must not already be CHILD_FD: dup2(3, 3) would keep close-on-exec. */
    if (sv[1] == CHILD_FD) {
        int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, CHILD_FD + 1);
        if (fd < 0) {
            st = pp__posix_err(oe, "fcntl(F_DUPFD_CLOEXEC)", errno);
            goto out;
        }
        close(sv[1]);
        sv[1] = fd;
    }

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int err = posix_spawn_file_actions_init(&fa);
    if (err) {
        st = pp__posix_err(oe, "posix_spawn_file_actions_init", err);
        goto out;
    }
    err = posix_spawnattr_init(&attr);
    if (err) {
        posix_spawn_file_actions_destroy(&fa);
        st = pp__posix_err(oe, "posix_spawnattr_init", err);
        goto out;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    err = posix_spawn_file_actions_adddup2(&fa, sv[1], CHILD_FD);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    if (!err)
        err = posix_spawn_file_actions_addclosefrom_np(&fa, CHILD_FD + 1);
#endif
    if (!err)
        err = posix_spawnattr_setsigmask(&attr, &none);
    if (!err)
        err = posix_spawnattr_setsigdefault(&attr, &all);
    if (!err)
        err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    if (!err) {
        err = posix_spawn(&pid, args[0], &fa, &attr, args, environ);
        if (err)
            st = pp__posix_err(oe, "posix_spawn", err);
    } else {
        st = pp__posix_err(oe, "posix_spawn_file_actions", err);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (st != PP_OK)
        goto out;

    close(sv[1]);
    sv[1] = -1;
    int fl = fcntl(sv[0], F_GETFL);
    if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0 ||
        !(*c = pp__posix_chan_new(sv[0], false))) {
        st = fl < 0 ? pp__posix_err(oe, "fcntl", errno) : PP_ENOMEM;
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        goto out;
    }
    sv[0] = -1;
    proc->pid = pid;
    proc->pidfd = open_pidfd(pid);
    *p = proc;
    proc = NULL;
out:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    pp__free(proc);
    pp__free(args);
    return st;
}

pp_status pp__os_chan_from_argv(int argc, char **argv, pp__chan **c, pp__oserr *oe)
{
    *c = NULL;
    int i = 1;
    while (i < argc && (!argv[i] || strcmp(argv[i], PP__WORKER_MARKER) != 0))
        i++;
    if (i >= argc)
        return PP_END;
    if (i + 1 >= argc || !argv[i + 1])
        return PP_EINVAL;
    const char *tok = argv[i + 1];
    char *end = NULL;
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (errno || end == tok || *end || v < 0 || v > INT_MAX || (tok[0] < '0' || tok[0] > '9'))
        return PP_EINVAL;
    int fd = (int)v;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return pp__posix_err(oe, "fstat(channel)", errno);
    if (!S_ISSOCK(sb.st_mode))
        return PP_EINVAL;
    /* No grandchild may keep the channel open: its EOF is the parent's death sentinel. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return pp__posix_err(oe, "fcntl(FD_CLOEXEC)", errno);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return pp__posix_err(oe, "fcntl(O_NONBLOCK)", errno);
#ifdef __linux__
    /* A second guard against orphans: the channel's EOF stops an idle worker when the
     * parent dies, but a worker busy in a long task reads it only afterwards. The spawning
     * thread is the executor's manager, which outlives every worker it starts. If the
     * parent died before this call, the channel is at EOF already. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    *c = pp__posix_chan_new(fd, true);
    return *c ? PP_OK : PP_ENOMEM;
}

long long pp__os_proc_pid(const pp__proc *p)
{
    return (long long)p->pid;
}

pp_status pp__os_proc_stop(pp__proc *p, bool kill_it, pp__oserr *oe)
{
    if (p->reaped)
        return PP_OK;
    if (kill(p->pid, kill_it ? SIGKILL : SIGTERM) != 0 && errno != ESRCH)
        return pp__posix_err(oe, "kill", errno);
    return PP_OK;
}

/* waitpid(pid, WNOHANG or 0): PP_OK reaped, PP_ETIMEDOUT still running. */
static pp_status try_reap(pp__proc *p, bool block, pp__oserr *oe)
{
    for (;;) {
        int status = 0;
        pid_t r = waitpid(p->pid, &status, block ? 0 : WNOHANG);
        if (r == p->pid) {
            p->reaped = true;
            if (WIFEXITED(status))
                p->status = (pp__exit){true, WEXITSTATUS(status), 0};
            else
                p->status = (pp__exit){false, 0, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
            return PP_OK; /* the pidfd stays open until pp__os_proc_free: a wait set may
                             still hold its number */
        }
        if (r == 0)
            return PP_ETIMEDOUT;
        if (errno == EINTR)
            continue;
        return pp__posix_err(oe, "waitpid", errno);
    }
}

pp_status pp__os_proc_reap(pp__proc *p, long timeout_ms, pp__exit *st, pp__oserr *oe)
{
    pp_status r = PP_OK;
    if (!p->reaped) {
        if (timeout_ms == PP_FOREVER) {
            r = try_reap(p, true, oe);
        } else {
            int64_t deadline = pp__os_monotonic_ms() + timeout_ms;
            while ((r = try_reap(p, false, oe)) == PP_ETIMEDOUT) {
                int64_t left = deadline - pp__os_monotonic_ms();
                if (left <= 0)
                    break;
                if (p->pidfd >= 0) {
                    struct pollfd pfd = {p->pidfd, POLLIN, 0};
                    poll(&pfd, 1, (int)(left > INT_MAX ? INT_MAX : left));
                } else {
                    struct timespec ts = {0, (left < 5 ? left : 5) * 1000000L};
                    nanosleep(&ts, NULL);
                }
            }
        }
    }
    if (r == PP_OK && st)
        *st = p->status;
    return r;
}

void pp__os_proc_free(pp__proc *p)
{
    if (!p)
        return;
    if (!p->reaped) {
        kill(p->pid, SIGKILL);
        try_reap(p, true, NULL);
    }
    if (p->pidfd >= 0)
        close(p->pidfd);
    pp__free(p);
}

