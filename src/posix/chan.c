/*
 * POSIX backend: channels. A channel is one end of a socketpair(AF_UNIX, SOCK_STREAM):
 * duplex, so a worker inherits exactly one descriptor. Writes use send(MSG_NOSIGNAL), so a
 * peer that died mid-transfer gives EPIPE (PP_END) and never a SIGPIPE, in the parent or in
 * a worker.
 *
 * Buffer sizes are the kernel's defaults (net.core.wmem_default, 208 KiB on Linux). Measured
 * on Linux 6.x, 2 cores: 64 MiB from the manager to a worker and back through this backend
 * (non-blocking writes driven by the wait set) takes about 33 ms each way, most of it
 * copying and the receiver's page faults; raising SO_SNDBUF / SO_RCVBUF to 256 KiB .. 4 MiB
 * gained nothing (from 1 MiB it was slightly slower). One way, bare: a socketpair about
 * 21 ms, a pipe about 28 ms (with its default 64 KiB or with F_SETPIPE_SZ 1 MiB alike).
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "posix.h"

pp__chan *pp__posix_chan_new(int fd, bool blocking)
{
    pp__chan *c = pp__malloc(sizeof *c);
    if (c) {
        c->fd = fd;
        c->blocking = blocking;
    }
    return c;
}

/* recv() with flags: 0 (the channel's own blocking mode) or MSG_DONTWAIT. */
static pp_status chan_recv(pp__chan *c, void *buf, size_t cap, int flags, size_t *n,
                           pp__oserr *oe)
{
    *n = 0;
    if (cap == 0)
        return PP_OK; /* recv() would return 0, which means EOF */
    for (;;) {
        ssize_t r = recv(c->fd, buf, cap, flags);
        if (r > 0) {
            *n = (size_t)r;
            return PP_OK;
        }
        if (r == 0)
            return PP_END;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return PP_OK;
        if (errno == ECONNRESET || errno == EPIPE)
            return PP_END;
        return pp__posix_err(oe, "recv", errno);
    }
}

pp_status pp__os_chan_read(pp__chan *c, void *buf, size_t cap, size_t *n, pp__oserr *oe)
{
    return chan_recv(c, buf, cap, 0, n, oe);
}

pp_status pp__os_chan_try_read(pp__chan *c, void *buf, size_t cap, size_t *n, pp__oserr *oe)
{
    return chan_recv(c, buf, cap, MSG_DONTWAIT, n, oe);
}

pp_status pp__os_chan_write(pp__chan *c, const void *buf, size_t len, size_t *n,
                            pp__oserr *oe)
{
    *n = 0;
    if (len == 0)
        return PP_OK;
    for (;;) {
        ssize_t r = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (r >= 0) {
            *n = (size_t)r;
            return PP_OK;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return PP_OK;
        if (errno == EPIPE || errno == ECONNRESET)
            return PP_END;
        return pp__posix_err(oe, "send", errno);
    }
}

void pp__os_chan_wait_readable(pp__chan *c, int timeout_ms)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {
        /* (a signal: wait again, with the whole timeout; only a bound matters here) */
    }
}

void pp__os_chan_free(pp__chan *c)
{
    if (!c)
        return;
    close(c->fd);
    pp__free(c);
}
