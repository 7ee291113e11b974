/*
 * POSIX backend: the manager's wait set, over poll().
 *
 * Entries are channels (POLLIN / POLLOUT) and processes (their pidfd, readable once the
 * process has exited), each with a tag; events are merged into one pp__event per tag. The
 * wakeup is an eventfd (a pipe where there is none); a "wake pending" flag makes repeated
 * wakes cost no system call until the waiting thread has consumed the first.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>
#ifdef __linux__
#  include <sys/eventfd.h>
#endif

#include "posix.h"

typedef struct entry {
    void    *tag;
    int      fd;
    unsigned interest; /* PP__EV_READ | PP__EV_WRITE for channels; PP__EV_EXIT for procs */
    pp__chan *chan;    /* NULL for a process */
} entry;

struct pp__waitset {
    int            wake_r, wake_w; /* eventfd: both the same descriptor */
    int            wake_pending;   /* __atomic */
    entry         *e;
    size_t         n, cap;
    struct pollfd *pfd;            /* n + 1 */
    size_t         pfd_cap;
};

pp_status pp__os_waitset_create(pp__waitset **out, pp__oserr *oe)
{
    *out = NULL;
    pp__waitset *ws = pp__calloc(1, sizeof *ws);
    if (!ws)
        return PP_ENOMEM;
#ifdef __linux__
    ws->wake_r = ws->wake_w = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ws->wake_r < 0) {
        int err = errno;
        pp__free(ws);
        return pp__posix_err(oe, "eventfd", err);
    }
#else
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
        int err = errno;
        pp__free(ws);
        return pp__posix_err(oe, "pipe2", err);
    }
    ws->wake_r = p[0];
    ws->wake_w = p[1];
#endif
    *out = ws;
    return PP_OK;
}

void pp__os_waitset_free(pp__waitset *ws)
{
    if (!ws)
        return;
    close(ws->wake_r);
    if (ws->wake_w != ws->wake_r)
        close(ws->wake_w);
    pp__free(ws->e);
    pp__free(ws->pfd);
    pp__free(ws);
}

static entry *find(pp__waitset *ws, void *tag, bool proc)
{
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->e[i].tag == tag && (ws->e[i].chan == NULL) == proc)
            return &ws->e[i];
    }
    return NULL;
}

static entry *add(pp__waitset *ws)
{
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? 2 * ws->cap : 16;
        entry *e = pp__realloc(ws->e, cap * sizeof *e);
        if (!e)
            return NULL;
        ws->e = e;
        ws->cap = cap;
    }
    return &ws->e[ws->n++];
}

pp_status pp__os_waitset_chan(pp__waitset *ws, pp__chan *c, unsigned interest, void *tag)
{
    if (!tag)
        return PP_EINVAL;
    entry *e = find(ws, tag, false);
    if (!e && !(e = add(ws)))
        return PP_ENOMEM;
    *e = (entry){tag, c->fd, interest & (PP__EV_READ | PP__EV_WRITE), c};
    return PP_OK;
}

pp_status pp__os_waitset_proc(pp__waitset *ws, pp__proc *p, void *tag)
{
    if (!tag)
        return PP_EINVAL;
    if (p->pidfd < 0 || p->reaped)
        return PP_OK; /* no exact sentinel: the channel's EOF serves */
    entry *e = find(ws, tag, true);
    if (!e && !(e = add(ws)))
        return PP_ENOMEM;
    *e = (entry){tag, p->pidfd, PP__EV_EXIT, NULL};
    return PP_OK;
}

void pp__os_waitset_remove(pp__waitset *ws, void *tag)
{
    size_t j = 0;
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->e[i].tag != tag)
            ws->e[j++] = ws->e[i];
    }
    ws->n = j;
}

void pp__os_waitset_wake(pp__waitset *ws)
{
    if (__atomic_exchange_n(&ws->wake_pending, 1, __ATOMIC_ACQ_REL))
        return; /* a wake is already on its way */
#ifdef __linux__
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(ws->wake_w, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
#else
    char b = 1;
    ssize_t r;
    do {
        r = write(ws->wake_w, &b, 1);
    } while (r < 0 && errno == EINTR);
#endif
    (void)r; /* EAGAIN: the counter / pipe is full, so a wake is pending anyway */
}

/* Consume the wakeup, then clear the flag, in that order: cleared first, a wake landing in
 * between would write the eventfd, be consumed by the read, and leave the flag set for
 * good, so that every later wake would be skipped. Cleared after, a wake landing in between
 * is skipped, but its caller changed the state before waking, and the manager looks at the
 * state after every wait. */
static void drain_wake(pp__waitset *ws)
{
    char buf[64];
    while (read(ws->wake_r, buf, sizeof buf) > 0) {
    }
    __atomic_store_n(&ws->wake_pending, 0, __ATOMIC_RELEASE);
}

static void emit(pp__event *out, size_t cap, size_t *n, void *tag, unsigned ev)
{
    for (size_t i = 0; i < *n; i++) {
        if (out[i].tag == tag) {
            out[i].events |= ev;
            return;
        }
    }
    if (*n < cap)
        out[(*n)++] = (pp__event){tag, ev};
}

pp_status pp__os_waitset_wait(pp__waitset *ws, long timeout_ms, pp__event *out, size_t cap,
                              size_t *n, pp__oserr *oe)
{
    *n = 0;
    if (ws->pfd_cap < ws->n + 1) {
        struct pollfd *p = pp__realloc(ws->pfd, (ws->n + 1) * sizeof *p);
        if (!p)
            return PP_ENOMEM;
        ws->pfd = p;
        ws->pfd_cap = ws->n + 1;
    }
    ws->pfd[0] = (struct pollfd){ws->wake_r, POLLIN, 0};
    for (size_t i = 0; i < ws->n; i++) {
        short ev = 0;
        if (ws->e[i].interest & (PP__EV_READ | PP__EV_EXIT))
            ev |= POLLIN;
        if (ws->e[i].interest & PP__EV_WRITE)
            ev |= POLLOUT;
        ws->pfd[i + 1] = (struct pollfd){ws->e[i].fd, ev, 0};
    }
    int64_t deadline = timeout_ms == PP_FOREVER ? -1 : pp__os_monotonic_ms() + timeout_ms;
    int r;
    for (;;) {
        int t = -1;
        if (deadline >= 0) {
            int64_t left = deadline - pp__os_monotonic_ms();
            t = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
        }
        r = poll(ws->pfd, (nfds_t)(ws->n + 1), t);
        if (r >= 0)
            break;
        if (errno != EINTR)
            return pp__posix_err(oe, "poll", errno);
    }
    if (r == 0)
        return PP_OK;
    if (ws->pfd[0].revents) {
        drain_wake(ws);
        emit(out, cap, n, NULL, PP__EV_WAKE);
    }
    for (size_t i = 0; i < ws->n; i++) {
        short re = ws->pfd[i + 1].revents;
        if (!re)
            continue;
        unsigned ev = 0;
        if (ws->e[i].chan) {
            bool broken = (re & (POLLHUP | POLLERR | POLLNVAL)) != 0;
            if ((re & POLLIN) || broken)
                ev |= PP__EV_READ;
            if ((ws->e[i].interest & PP__EV_WRITE) && ((re & POLLOUT) || broken))
                ev |= PP__EV_WRITE;
        } else {
            ev = PP__EV_EXIT;
        }
        if (ev)
            emit(out, cap, n, ws->e[i].tag, ev);
    }
    return PP_OK;
}
