/*
 * POSIX backend: remote workers (pp_os.h, "remote workers"). A remote worker is a process
 * this one did not start (an MPI rank, here or on another host) that reached it through a
 * TCP connection. The connection is its channel, and its end is the only sign of the
 * process's death that crosses hosts: a process that dies, however, has its socket closed
 * by its kernel (FIN, or RST), and a host that vanishes is found by TCP keepalive (set by
 * whoever made the connection). So a remote worker has no exit sentinel in the wait set: the
 * manager sees EOF on the channel, reaps (which only looks at the connection) and reports
 * the worker as lost.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "posix.h"

pp_status pp__os_remote_worker(intptr_t sock, long long pid, bool local, const char *desc,
                               pp__proc **p, pp__chan **c, pp__oserr *oe)
{
    *p = NULL;
    *c = NULL;
    int fd = (int)sock;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int err = errno;
        close(fd);
        return pp__posix_err(oe, "fcntl", err);
    }
    pp__proc *proc = pp__calloc(1, sizeof *proc);
    char *d = desc ? pp__strdup(desc) : NULL;
    pp__chan *chan = proc && (d || !desc) ? pp__posix_chan_new(fd, false) : NULL;
    if (!chan) {
        pp__free(d);
        pp__free(proc);
        close(fd);
        return PP_ENOMEM;
    }
    proc->pid = (pid_t)pid;
    proc->pidfd = local ? pp__posix_open_pidfd((pid_t)pid) : -1;
    proc->status_fd = -1;
    proc->remote = true;
    proc->local = local;
    proc->sock = fd;
    proc->desc = d;
    *p = proc;
    *c = chan;
    return PP_OK;
}

pp_status pp__os_chan_from_socket(intptr_t sock, pp__chan **c, pp__oserr *oe)
{
    int fd = (int)sock;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return pp__posix_err(oe, "fcntl", errno);
    *c = pp__posix_chan_new(fd, true);
    return *c ? PP_OK : PP_ENOMEM;
}

const char *pp__os_proc_desc(const pp__proc *p)
{
    return p && p->remote ? p->desc : NULL;
}

pp_status pp__posix_remote_stop(pp__proc *p, bool kill_it, pp__oserr *oe)
{
    if (p->reaped)
        return PP_OK;
    /* The worker reads EOF at its next read and exits; a task it runs goes on to its end
     * unless a signal can reach it (same host). */
    shutdown(p->sock, SHUT_RDWR);
    if (p->local) {
        int err = pp__posix_send_signal(p, kill_it ? SIGKILL : SIGTERM);
        if (err && err != ESRCH)
            return pp__posix_err(oe, "kill", err);
    }
    return PP_OK;
}

/* Has the connection ended (the peer closed it, it broke, or it was shut down here)?
 * Bytes still unread are not an end: the manager reads them first. */
static bool conn_ended(int fd, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLRDHUP, 0};
    int r = poll(&pfd, 1, timeout_ms);
    return r > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

pp_status pp__posix_remote_reap(pp__proc *p, long timeout_ms)
{
    int64_t deadline = timeout_ms == PP_FOREVER
                           ? INT64_MAX
                           : pp__os_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int64_t left = deadline - pp__os_monotonic_ms();
        int step = left <= 0 ? 0 : left > 1000 ? 1000 : (int)left;
        if (conn_ended(p->sock, step)) {
            p->reaped = true;
            p->status = (pp__exit){false, 0, 0}; /* PP__EXIT_LOST */
            return PP_OK;
        }
        if (left <= 0)
            return PP_ETIMEDOUT;
        /* readable with bytes but no end yet: POLLRDHUP alone was asked, so poll slept */
    }
}

void pp__posix_remote_free(pp__proc *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    pp__free(p->desc);
    pp__free(p);
}
