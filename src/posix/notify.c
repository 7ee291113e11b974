/*
 * POSIX backend: readiness notifiers (pp_as_completed_fd). A descriptor that poll() reports
 * readable while the notifier is set: a Linux eventfd (one descriptor; set adds 1 to its
 * counter, clear reads it back to 0), else a pipe whose read end is the descriptor (set
 * writes a byte, clear drains them). Both ends non-blocking and close-on-exec, so that
 * neither set nor clear can ever block, and no worker inherits them. The core calls set and
 * clear under pp__flock, only when the state changes.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#if defined(__linux__)
#  include <sys/eventfd.h>
#endif

#include "posix.h"

struct pp__notifier {
    int rfd; /* what poll() watches: the eventfd, or the pipe's read end */
    int wfd; /* the pipe's write end, or -1 (eventfd: rfd is both) */
};

static pp_status set_flags(int fd, pp__oserr *oe)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return pp__posix_err(oe, "fcntl", errno);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return pp__posix_err(oe, "fcntl", errno);
    return PP_OK;
}

pp_status pp__os_notifier_create(pp__notifier **out, pp__oserr *oe)
{
    *out = NULL;
    pp__notifier *n = pp__calloc(1, sizeof *n);
    if (!n)
        return PP_ENOMEM;
    n->rfd = n->wfd = -1;
#if defined(__linux__)
    n->rfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->rfd >= 0) {
        *out = n;
        return PP_OK;
    }
#endif
    int p[2];
    if (pipe(p) != 0) {
        pp_status st = pp__posix_err(oe, "pipe", errno);
        pp__free(n);
        return st;
    }
    n->rfd = p[0];
    n->wfd = p[1];
    pp_status st = set_flags(p[0], oe);
    if (st == PP_OK)
        st = set_flags(p[1], oe);
    if (st != PP_OK) {
        pp__os_notifier_free(n);
        return st;
    }
    *out = n;
    return PP_OK;
}

void pp__os_notifier_set(pp__notifier *n)
{
    ssize_t r;
    if (n->wfd < 0) {
        uint64_t one = 1;
        do
            r = write(n->rfd, &one, sizeof one);
        while (r < 0 && errno == EINTR);
    } else {
        char b = 1;
        do
            r = write(n->wfd, &b, 1);
        while (r < 0 && errno == EINTR);
    }
    (void)r; /* EAGAIN: already readable (a full pipe, a counter at its maximum) */
}

void pp__os_notifier_clear(pp__notifier *n)
{
    char buf[64];
    ssize_t r;
    do /* eventfd: one 8-byte read resets the counter; pipe: until it is empty */
        r = read(n->rfd, buf, sizeof buf);
    while ((r > 0 && n->wfd >= 0) || (r < 0 && errno == EINTR));
}

intptr_t pp__os_notifier_handle(const pp__notifier *n)
{
    return n->rfd;
}

void pp__os_notifier_free(pp__notifier *n)
{
    if (!n)
        return;
    if (n->rfd >= 0)
        close(n->rfd);
    if (n->wfd >= 0)
        close(n->wfd);
    pp__free(n);
}

int pp_as_completed_fd(pp_as_completed *it)
{
    intptr_t h = -1;
    if (pp__as_completed_notifier(it, "pp_as_completed_fd", &h) != PP_OK)
        return -1;
    return (int)h;
}
