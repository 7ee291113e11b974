/*
 * POSIX backend: starting, stopping and reaping workers.
 *
 * A worker is started with posix_spawn (glibc: clone(CLONE_VM | CLONE_VFORK), so it is cheap
 * and safe from a multithreaded parent). Its end of the channel socketpair is dup2'ed to
 * descriptor 3 and every descriptor above it is closed in the child
 * (posix_spawn_file_actions_addclosefrom_np, glibc >= 2.34), so a worker inherits exactly
 * stdin, stdout, stderr and its channel, even when the program has descriptors without
 * close-on-exec. Elsewhere every descriptor the library opens is close-on-exec, so only the
 * application's own non-close-on-exec descriptors can leak into a worker.
 *
 * Signals in the child: the mask is emptied (the manager thread that spawns may block
 * signals), and SIGPIPE, SIGXFSZ, SIGTERM and SIGCHLD get their default action even if the
 * parent ignores them (SIGPIPE and SIGXFSZ as CPython's restore_signals; SIGTERM so that
 * pp_executor_terminate_workers works; SIGCHLD so that a task's own children can be waited
 * for). Other ignored signals stay ignored, as across any exec: a program started with nohup,
 * or in the background by a shell, keeps its workers alive on SIGHUP / SIGINT as it is.
 *
 * On Linux a pidfd is the exact exit sentinel, and signals go through it (no pid reuse race).
 * Only the child's own pid is ever waited for.
 *
 * A worker's descendants die with it. Every worker leads its own process group
 * (POSIX_SPAWN_SETPGROUP here; setpgid in a forked child, and in its parent too, see fork.c),
 * which its descendants inherit unless they leave it on purpose (setsid, setpgid: what a task
 * detaches so is its own). Three things kill the group:
 *   - the reaper: before a worker is reaped, its group gets SIGKILL (try_reap: waitid with
 *     WNOWAIT sees the exit, kill(-pid), then waitpid). While the leader is an unreaped
 *     zombie its pid, and so its pgid, cannot be reused: the kill is exact. This covers every
 *     way a worker ends: a crash, a time limit, an abort, pp_executor_stop, terminate / kill,
 *     a broken pool, shutdown. The forkserver, which reaps its workers, does the same.
 *   - pp__os_proc_stop: the stop signal (SIGTERM or SIGKILL) goes to the leader through its
 *     pidfd and, if that worked (not reaped yet), to its group.
 *   - the parent's death, even by SIGKILL: nothing in the parent runs then, so the worker
 *     does it. Its parent-death signal (PR_SET_PDEATHSIG) is PP__POSIX_PDEATHSIG with a
 *     handler that sends SIGKILL to its own group, itself included (kill(0, SIGKILL), one
 *     async-signal-safe call). No extra process, no cost per call or per start. Its limits:
 *     a task that blocks that signal in every thread, or replaces its handler, delays the
 *     worker's death to the channel's EOF (and leaves its descendants), and
 *     an application that reaps its children behind the library's back (SIGCHLD ignored,
 *     waitpid(-1): "lost") leaves the reaper nothing exact to kill: the group is then killed
 *     only through the parent-death signal.
 * A worker in its own group does not get the terminal's Ctrl-C (SIGINT to the foreground
 * group): the application decides (pp_executor_stop, or dying, which kills the workers as
 * above). A worker that reads the terminal gets SIGTTIN, as any background job.
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
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#  include <sys/prctl.h>
#endif

#include "posix.h"

extern char **environ;

#define CHILD_FD PP__POSIX_CHILD_FD
#define CHILD_FD_STR "3"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#  define HAVE_ADDCLOSEFROM 1
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
#  define HAVE_ADDCHDIR 1
#endif

/* PP_POSIX_NO_PIDFD builds the fallback used where there is no pidfd (tests use it). */
#if defined(SYS_pidfd_open) && !defined(PP_POSIX_NO_PIDFD)
#  define HAVE_PIDFD 1
#endif

int pp__posix_open_pidfd(pid_t pid)
{
#ifdef HAVE_PIDFD
    int fd = (int)syscall(SYS_pidfd_open, pid, 0); /* ENOSYS before Linux 5.3: no pidfd */
    if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC); /* pidfds are close-on-exec already; be sure */
        return fd;
    }
#else
    (void)pid;
#endif
    return -1;
}

/* Sends sig to the child: through its pidfd where there is one, so that a pid reused after
 * someone else reaped the child is never hit. 0 or an errno value. */
int pp__posix_send_signal(pp__proc *p, int sig)
{
#if defined(HAVE_PIDFD) && defined(SYS_pidfd_send_signal)
    if (p->pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0)
            return 0;
        if (errno != ENOSYS)
            return errno;
    }
#endif
    return kill(p->pid, sig) == 0 ? 0 : errno;
}

/* The parent-death handler: the worker and its whole process group go (see the top). */
static void on_parent_death(int sig)
{
    (void)sig;
    kill(0, SIGKILL);
}

void pp__posix_worker_guard(pid_t parent)
{
    if (getpgid(0) != getpid())
        setpgid(0, 0); /* already done by the spawn / the forking parent; be sure */
#if defined(__linux__)
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_parent_death;
    sigfillset(&sa.sa_mask);
    sigaction(PP__POSIX_PDEATHSIG, &sa, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, PP__POSIX_PDEATHSIG);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    prctl(PR_SET_PDEATHSIG, PP__POSIX_PDEATHSIG);
#endif
    if (parent > 0 && getppid() != parent) /* the parent died before the guard was set */
        kill(0, SIGKILL);
}

void pp__posix_kill_group(pid_t leader)
{
    kill(-leader, SIGKILL); /* ESRCH: the group is empty, fine */
}

/* Is path a program posix_spawn can start? posix_spawn reports exec failures on glibc, but
 * not everywhere (nor under valgrind, which runs its clone as a fork): check first, so the
 * common mistakes (no such file, a directory, not executable) fail here, clearly. */
pp_status pp__posix_check_program(const char *path, pp__oserr *oe)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return pp__posix_err(oe, "stat(worker program)", errno);
    if (!S_ISREG(sb.st_mode))
        return pp__posix_err(oe, "stat(worker program)", EACCES); /* as execve says */
    if (access(path, X_OK) != 0)
        return pp__posix_err(oe, "access(worker program)", errno);
    return PP_OK;
}

/* Runs posix_spawn with the file actions and attributes described at the top. */
pp_status pp__posix_spawn_child(char *const *args, int child_end, char *const *envp,
                                const char *cwd, pid_t *pid, pp__oserr *oe)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int err = posix_spawn_file_actions_init(&fa);
    if (err)
        return pp__posix_err(oe, "posix_spawn_file_actions_init", err);
    err = posix_spawnattr_init(&attr);
    if (err) {
        posix_spawn_file_actions_destroy(&fa);
        return pp__posix_err(oe, "posix_spawnattr_init", err);
    }
    const char *call = NULL;
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGXFSZ);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGCHLD);
    if ((err = posix_spawn_file_actions_adddup2(&fa, child_end, CHILD_FD)) != 0)
        call = "posix_spawn_file_actions_adddup2";
#ifdef HAVE_ADDCLOSEFROM
    else if ((err = posix_spawn_file_actions_addclosefrom_np(&fa, CHILD_FD + 1)) != 0)
        call = "posix_spawn_file_actions_addclosefrom_np";
#endif
#ifdef HAVE_ADDCHDIR
    else if (cwd && (err = posix_spawn_file_actions_addchdir_np(&fa, cwd)) != 0)
        call = "posix_spawn_file_actions_addchdir_np";
#else
    else if (cwd && (err = ENOSYS) != 0)
        call = "posix_spawn (worker_cwd needs glibc 2.29)";
#endif
    else if ((err = posix_spawnattr_setsigmask(&attr, &none)) != 0)
        call = "posix_spawnattr_setsigmask";
    else if ((err = posix_spawnattr_setsigdefault(&attr, &dfl)) != 0)
        call = "posix_spawnattr_setsigdefault";
    else if ((err = posix_spawnattr_setpgroup(&attr, 0)) != 0) /* its own process group */
        call = "posix_spawnattr_setpgroup";
    else if ((err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                                        POSIX_SPAWN_SETSIGDEF |
                                                        POSIX_SPAWN_SETPGROUP)) != 0)
        call = "posix_spawnattr_setflags";
    else if ((err = posix_spawn(pid, args[0], &fa, &attr, args, envp ? envp : environ)) != 0)
        call = "posix_spawn";
    /* glibc has reaped a child whose exec failed before returning the error. */
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return err ? pp__posix_err(oe, call, err) : PP_OK;
}

pp_status pp__posix_channel_pair(int sv[2], bool parent_nonblock, pp__oserr *oe)
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        sv[0] = sv[1] = -1;
        return pp__posix_err(oe, "socketpair", errno);
    }
    int err = 0;
    const char *call = NULL;
    /* The child's end must not be CHILD_FD itself: dup2(3, 3) is a no-op that leaves
     * close-on-exec set (only newer C libraries clear it, as POSIX 2024 asks), and a
     * spawned child would start without its channel. */
    if (sv[1] == CHILD_FD) {
        int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, CHILD_FD + 1);
        if (fd < 0) {
            err = errno;
            call = "fcntl(F_DUPFD_CLOEXEC)";
        } else {
            close(sv[1]);
            sv[1] = fd;
        }
    }
    /* O_NONBLOCK belongs to this end's open file description only: the child's end stays
     * blocking. */
    if (!call && parent_nonblock) {
        int fl = fcntl(sv[0], F_GETFL);
        if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) != 0) {
            err = errno;
            call = "fcntl(O_NONBLOCK)";
        }
    }
    if (call) {
        close(sv[0]);
        close(sv[1]);
        sv[0] = sv[1] = -1;
        return pp__posix_err(oe, call, err);
    }
    return PP_OK;
}

/* Does entry e ("NAME=value") set the same name as f? */
static bool same_name(const char *e, const char *f)
{
    size_t n = strcspn(e, "=");
    return strncmp(e, f, n) == 0 && f[n] == '=';
}

char **pp__posix_merge_env(const char *const *add)
{
    size_t ne = 0, na = 0;
    while (environ && environ[ne])
        ne++;
    while (add[na])
        na++;
    char **out = pp__calloc(ne + na + 1, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        bool over = false;
        for (size_t j = 0; j < na && !over; j++)
            over = same_name(add[j], environ[i]);
        if (!over)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < na; j++) {
        bool later = false; /* a later entry for the same name wins */
        for (size_t l = j + 1; l < na && !later; l++)
            later = same_name(add[j], add[l]);
        if (!later)
            out[k++] = (char *)add[j];
    }
    return out;
}

pp_status pp__posix_set_memlimit(pid_t pid, unsigned long long bytes, pp__oserr *oe)
{
    if (!bytes)
        return PP_OK;
#ifdef __linux__
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max = (rlim_t)bytes;
    if (pid == 0 ? setrlimit(RLIMIT_DATA, &rl) != 0 : prlimit(pid, RLIMIT_DATA, &rl, NULL) != 0)
        return pp__posix_err(oe, "setrlimit(RLIMIT_DATA)", errno);
    return PP_OK;
#else
    (void)pid;
    return pp__posix_err(oe, "setrlimit(RLIMIT_DATA) of another process", ENOSYS);
#endif
}

pp_status pp__os_check_dir(const char *path, pp__oserr *oe)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return pp__posix_err(oe, "stat", errno);
    if (!S_ISDIR(sb.st_mode))
        return pp__posix_err(oe, "stat", ENOTDIR);
    if (access(path, X_OK) != 0)
        return pp__posix_err(oe, "access", errno);
    return PP_OK;
}

pp_status pp__os_spawn(const char *const *argv, pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    return pp__os_spawn_ex(argv, NULL, p, c, oe);
}

pp_status pp__os_spawn_ex(const char *const *argv, const pp__os_wstart *ws, pp__proc **p,
                          pp__chan **c, pp__oserr *oe)
{
    *p = NULL;
    *c = NULL;
    size_t argc = 0;
    while (argv[argc])
        argc++;
    if (argc == 0)
        return PP_EINVAL;
    char **args = pp__calloc(argc + 3, sizeof *args);
    pp__proc *proc = pp__calloc(1, sizeof *proc);
    pp__chan *chan = pp__posix_chan_new(-1, false);
    int sv[2] = {-1, -1};
    pp_status st = PP_OK;
    char **envp = ws && ws->env ? pp__posix_merge_env(ws->env) : NULL;
    if (!args || !proc || !chan || (ws && ws->env && !envp)) {
        st = PP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < argc; i++)
        args[i] = (char *)argv[i];
    args[argc] = (char *)PP__WORKER_MARKER;
    args[argc + 1] = (char *)CHILD_FD_STR;

    if ((st = pp__posix_check_program(args[0], oe)) != PP_OK)
        goto out;
    /* Everything that can fail is done before the child exists, so that a failure never
     * has to kill it. */
    if ((st = pp__posix_channel_pair(sv, true, oe)) != PP_OK)
        goto out;
    pid_t pid = -1;
    if ((st = pp__posix_spawn_child(args, sv[1], envp, ws ? ws->cwd : NULL, &pid, oe)) !=
        PP_OK)
        goto out;
    /* Before the worker can run a task: it runs none before it reads INIT, sent later. */
    if (ws && (st = pp__posix_set_memlimit(pid, ws->mem_limit, oe)) != PP_OK) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        goto out;
    }

    chan->fd = sv[0];
    sv[0] = -1;
    proc->pid = pid;
    proc->status_fd = -1;
    /* No pid reuse race: only this backend waits for the child, so it is at worst a zombie
     * now (unless the program reaps with waitpid(-1) or ignores SIGCHLD: see "lost"). */
    proc->pidfd = pp__posix_open_pidfd(pid);
    *p = proc;
    *c = chan;
    proc = NULL;
    chan = NULL;
out:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    pp__free(chan);
    pp__free(proc);
    pp__free(args);
    pp__free(envp);
    return st;
}

/* Parses a descriptor number: decimal digits only, no sign, no blanks, within int. */
static bool parse_fd(const char *tok, int *fd)
{
    long v = 0;
    if (!*tok)
        return false;
    for (const char *s = tok; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
        if (v > INT_MAX)
            return false;
    }
    *fd = (int)v;
    return true;
}

pp_status pp__os_chan_from_argv(int argc, char **argv, pp__chan **c, pp__oserr *oe)
{
    *c = NULL;
    int i = 1;
    while (i < argc && (!argv[i] || strcmp(argv[i], PP__WORKER_MARKER) != 0))
        i++;
    if (i >= argc)
        return PP_END;
    int fd = -1;
    if (i + 1 >= argc || !argv[i + 1] || !parse_fd(argv[i + 1], &fd))
        return PP_EINVAL;
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return pp__posix_err(oe, "fstat(channel)", errno);
    if (!S_ISSOCK(sb.st_mode))
        return PP_EINVAL;
    /* At once: no child of this worker may keep the channel open, since its EOF is how the
     * parent learns that the worker died. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return pp__posix_err(oe, "fcntl(FD_CLOEXEC)", errno);
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return pp__posix_err(oe, "fcntl(O_NONBLOCK)", errno);
    /* A second guard against orphans: the channel's EOF stops an idle worker when the
     * parent dies, but a worker busy in a long task reads it only afterwards. The spawning
     * thread is the executor's manager, which outlives every worker it starts (the signal
     * comes when the *thread* that spawned the worker ends). If the parent died before this
     * call, the channel is at EOF already. */
    pp__posix_worker_guard(0);
    *c = pp__posix_chan_new(fd, true);
    return *c ? PP_OK : PP_ENOMEM;
}

int pp__posix_proc_sentinel(const pp__proc *p)
{
    if (p->remote)
        return -1; /* its pidfd (if local) says nothing of the connection: EOF is the sign */
    return p->status_fd >= 0 ? p->status_fd : p->pidfd;
}

long long pp__os_proc_pid(const pp__proc *p)
{
    return (long long)p->pid;
}

pp_status pp__os_proc_stop(pp__proc *p, bool kill_it, pp__oserr *oe)
{
    if (p->remote)
        return pp__posix_remote_stop(p, kill_it, oe);
    if (p->reaped || p->lost)
        return PP_OK;
    int sig = kill_it ? SIGKILL : SIGTERM;
    int err = pp__posix_send_signal(p, sig);
    /* The group too, while the leader is not reaped (the signal reached it), and only where
     * this process reaps it: a forkserver's worker is reaped by the server, which kills the
     * group itself (fork.c). */
    if (err == 0 && p->status_fd < 0)
        kill(-p->pid, sig);
    if (err && err != ESRCH)
        return pp__posix_err(oe, "kill", err);
    return PP_OK;
}

static void set_status(pp__proc *p, int status)
{
    p->reaped = true;
    if (WIFEXITED(status))
        p->status = (pp__exit){true, WEXITSTATUS(status), 0};
    else
        p->status = (pp__exit){false, 0, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
}

/* A forkserver's worker: its status is the 4 bytes the server writes to the status pipe
 * once it has reaped it. EOF without them: the server is gone, and with it the worker
 * (which has the server as its parent-death signal), status unknown. */
static pp_status read_status(pp__proc *p, bool block, pp__oserr *oe)
{
    if (p->lost)
        return pp__posix_err(oe, "forkserver", EPIPE);
    if (!block) {
        struct pollfd pfd = {p->status_fd, POLLIN, 0};
        int r = poll(&pfd, 1, 0);
        if (r == 0)
            return PP_ETIMEDOUT;
        if (r < 0)
            return errno == EINTR ? PP_ETIMEDOUT : pp__posix_err(oe, "poll", errno);
    }
    unsigned char buf[4];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(p->status_fd, buf + got, sizeof buf - got);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0) {
            p->lost = true;
            return pp__posix_err(oe, "forkserver (no exit status)", EPIPE);
        } else if (errno != EINTR) {
            p->lost = true;
            return pp__posix_err(oe, "read(status)", errno);
        }
    }
    int status;
    memcpy(&status, buf, sizeof status);
    set_status(p, status);
    return PP_OK;
}

/* waitpid(pid, WNOHANG or 0): PP_OK reaped, PP_ETIMEDOUT still running. */
static pp_status try_reap(pp__proc *p, bool block, pp__oserr *oe)
{
    if (p->status_fd >= 0)
        return read_status(p, block, oe);
    if (p->lost)
        return pp__posix_err(oe, "waitpid", ECHILD);
    for (;;) {
        /* First see the exit without reaping: the group dies while the leader's pid still
         * holds its pgid (see the top). */
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOWAIT | (block ? 0 : WNOHANG)) == 0) {
            if (si.si_pid != p->pid)
                return PP_ETIMEDOUT;
            pp__posix_kill_group(p->pid);
        } else if (errno == EINTR) {
            continue;
        }
        /* (an error: waitpid says which) */
        int status = 0;
        pid_t r = waitpid(p->pid, &status, block ? 0 : WNOHANG);
        if (r == p->pid) {
            set_status(p, status);
            return PP_OK; /* the pidfd stays open until pp__os_proc_free: a wait set may
                             still hold its number */
        }
        if (r == 0)
            return PP_ETIMEDOUT;
        if (errno == EINTR)
            continue;
        if (errno == ECHILD)
            p->lost = true;
        return pp__posix_err(oe, "waitpid", errno);
    }
}

const char *pp__os_proc_lost_why(const pp__proc *p)
{
    if (!p || !p->lost)
        return NULL;
    struct sigaction old;
    if (sigaction(SIGCHLD, NULL, &old) == 0) {
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN)
            return "SIGCHLD is ignored in this process, so the system discarded it";
        if (old.sa_flags & SA_NOCLDWAIT)
            return "SIGCHLD has SA_NOCLDWAIT in this process, so the system discarded it";
    }
    return "something else in this process collected it (a waitpid(-1) or wait())";
}

pp_status pp__os_proc_reap(pp__proc *p, long timeout_ms, pp__exit *st, pp__oserr *oe)
{
    pp_status r = PP_OK;
    if (p->remote && !p->reaped)
        r = pp__posix_remote_reap(p, timeout_ms);
    else if (!p->reaped) {
        if (timeout_ms == PP_FOREVER) {
            r = try_reap(p, true, oe);
        } else {
            int64_t deadline = pp__os_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
            while ((r = try_reap(p, false, oe)) == PP_ETIMEDOUT) {
                int64_t left = deadline - pp__os_monotonic_ms();
                if (left <= 0)
                    break;
                int sentinel = pp__posix_proc_sentinel(p);
                if (sentinel >= 0) {
                    /* Readable once the child has exited; EINTR just loops. */
                    struct pollfd pfd = {sentinel, POLLIN, 0};
                    poll(&pfd, 1, (int)(left > INT_MAX ? INT_MAX : left));
                } else {
                    struct timespec ts = {0, (long)(left < 5 ? left : 5) * 1000000L};
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
    if (p->remote) {
        pp__posix_remote_free(p);
        return;
    }
    if (!p->reaped && !p->lost) {
        pp__posix_send_signal(p, SIGKILL);
        try_reap(p, true, NULL);
    }
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->status_fd >= 0)
        close(p->status_fd);
    pp__free(p);
}
