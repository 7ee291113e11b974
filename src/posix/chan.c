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
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "posix.h"

pp__chan *pp__posix_chan_new(int fd, bool blocking)
{
    pp__chan *c = pp__malloc(sizeof *c);
    if (c) {
        c->fd = fd;
        c->blocking = blocking;
        c->attach_fd = -1;
        c->passed_fd = -1;
        c->n_more = 0;
        c->local = -1;
    }
    return c;
}

/* A worker's read: recvmsg, so that a descriptor sent with the bytes (pp__os_shm_share) is
 * received (close-on-exec) and kept for pp__os_shm_open / _adopt, in the order of the
 * frames they came with (Linux ends a read after bytes that carried descriptors, so each
 * comes with its frame's first byte; up to 5 wait, more are closed). */
static ssize_t recv_fds(pp__chan *c, void *buf, size_t cap, int flags)
{
    union {
        struct cmsghdr h;
        char           space[CMSG_SPACE(sizeof(int) * 4)];
    } ctl;
    struct iovec iov = {buf, cap};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.space;
    m.msg_controllen = sizeof ctl.space;
    ssize_t r = recvmsg(c->fd, &m, flags | MSG_CMSG_CLOEXEC);
    if (r < 0 || m.msg_controllen == 0)
        return r;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
            if (c->passed_fd < 0)
                c->passed_fd = fd;
            else if (c->n_more < 4) /* the next frame's, read with this one's end */
                c->more_fds[c->n_more++] = fd;
            else
                close(fd);
        }
    }
    return r;
}

/* recv() with flags: 0 (the channel's own blocking mode) or MSG_DONTWAIT. */
static pp_status chan_recv(pp__chan *c, void *buf, size_t cap, int flags, size_t *n,
                           pp__oserr *oe)
{
    *n = 0;
    if (cap == 0)
        return PP_OK; /* recv() would return 0, which means EOF */
    for (;;) {
        ssize_t r = c->blocking ? recv_fds(c, buf, cap, flags) : recv(c->fd, buf, cap, flags);
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
        ssize_t r;
        if (c->attach_fd >= 0) { /* the first byte carries the descriptor */
            union {
                struct cmsghdr h;
                char           space[CMSG_SPACE(sizeof(int))];
            } ctl;
            memset(&ctl, 0, sizeof ctl);
            struct iovec iov = {(void *)buf, len};
            struct msghdr m;
            memset(&m, 0, sizeof m);
            m.msg_iov = &iov;
            m.msg_iovlen = 1;
            m.msg_control = ctl.space;
            m.msg_controllen = sizeof ctl.space;
            struct cmsghdr *h = CMSG_FIRSTHDR(&m);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(h), &c->attach_fd, sizeof(int));
            r = sendmsg(c->fd, &m, MSG_NOSIGNAL);
            if (r > 0)
                c->attach_fd = -1; /* sent (the receiver has its own copy) */
        } else {
            r = send(c->fd, buf, len, MSG_NOSIGNAL);
        }
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

pp_status pp__os_chan_await_fd(pp__chan *c)
{
    while (c->passed_fd < 0) {
        uint8_t bells[64];
        size_t n = 0;
        pp_status st = chan_recv(c, bells, sizeof bells, 0, &n, NULL);
        if (st != PP_OK)
            return st;
    }
    return PP_OK;
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
    if (c->passed_fd >= 0)
        close(c->passed_fd);
    for (int i = 0; i < c->n_more; i++)
        close(c->more_fds[i]);
    pp__free(c);
}
