/*
 * POSIX backend: the manager's wait set, over poll().
 *
 * Entries are channels (POLLIN / POLLOUT) and processes (their pidfd, readable once the
 * process has exited), each with a tag; events are merged into one pp__event per tag. The
 * wakeup is an eventfd (a pipe where there is none); a "wake pending" flag makes repeated
 * wakes cost no system call until the waiting thread has consumed the first, and a
 * "sleeping" flag makes a wake cost none at all while the waiting thread is awake (the
 * manager polling, or busy): it looks at the flag before each poll, and only a thread about
 * to block in poll() needs the eventfd written.
 *
 * The pollfd array is rebuilt only when entries are added or removed (a change of interest
 * patches it in place), so a wait costs one poll() over n + 1 descriptors. When more tags
 * are ready than the caller has room for, the next wait starts its scan at the first tag
 * left out: poll() is level-triggered, so nothing is lost, and nothing starves.
 */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>
#if defined(__linux__) && !defined(PP_POSIX_NO_EVENTFD) /* the knob tests the fallback */
#  define HAVE_EVENTFD 1
#  include <sys/eventfd.h>
#endif

#include "posix.h"

typedef struct entry {
    void     *tag;
    int       fd;
    unsigned  interest; /* PP__EV_READ | PP__EV_WRITE for channels; PP__EV_EXIT for procs */
    bool      proc;
} entry;

struct pp__waitset {
    int            wake_r, wake_w; /* eventfd: both the same descriptor */
    int            wake_pending;   /* __atomic; 1 from the first wake until it is consumed */
    int            sleeping;       /* __atomic; 1 while the waiting thread may block in poll */
    entry         *e;
    size_t         n, cap;
    struct pollfd *pfd;            /* [0] the wakeup, [i + 1] entry i; valid unless dirty */
    size_t         pfd_cap;
    bool           dirty;
    size_t         next;           /* where the next scan of poll's results starts */
};

pp_status pp__os_waitset_create(pp__waitset **out, pp__oserr *oe)
{
    *out = NULL;
    pp__waitset *ws = pp__calloc(1, sizeof *ws);
    if (!ws)
        return PP_ENOMEM;
#ifdef HAVE_EVENTFD
    ws->wake_r = ws->wake_w = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ws->wake_r < 0) {
        int err = errno;
        pp__free(ws);
        return pp__posix_err(oe, "eventfd", err);
    }
#else
    /* A self-pipe, with pipe() and fcntl(): pipe2() is not everywhere. Another thread's
     * fork/exec may inherit it in between: harmless, it carries nothing. */
    int p[2];
    if (pipe(p) != 0) {
        int err = errno;
        pp__free(ws);
        return pp__posix_err(oe, "pipe", err);
    }
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(p[i], F_GETFL);
        if (fcntl(p[i], F_SETFD, FD_CLOEXEC) != 0 || fl < 0 ||
            fcntl(p[i], F_SETFL, fl | O_NONBLOCK) != 0) {
            int err = errno;
            close(p[0]);
            close(p[1]);
            pp__free(ws);
            return pp__posix_err(oe, "fcntl(wake pipe)", err);
        }
    }
    ws->wake_r = p[0];
    ws->wake_w = p[1];
#endif
    ws->dirty = true;
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

static short poll_events(const entry *e)
{
    short ev = 0;
    if (e->interest & (PP__EV_READ | PP__EV_EXIT))
        ev |= POLLIN;
    if (e->interest & PP__EV_WRITE)
        ev |= POLLOUT;
    return ev;
}

/* poll() ignores a negative fd: a channel with no interest is not watched at all (it would
 * report POLLHUP regardless of events). */
static struct pollfd to_pollfd(const entry *e)
{
    return (struct pollfd){e->interest ? e->fd : -1, poll_events(e), 0};
}

static entry *find(pp__waitset *ws, void *tag, bool proc)
{
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->e[i].tag == tag && ws->e[i].proc == proc)
            return &ws->e[i];
    }
    return NULL;
}

/* Adds or updates the (tag, proc) entry. */
static pp_status put(pp__waitset *ws, entry ne)
{
    entry *e = find(ws, ne.tag, ne.proc);
    if (e) {
        *e = ne;
        if (!ws->dirty)
            ws->pfd[e - ws->e + 1] = to_pollfd(e);
        return PP_OK;
    }
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? 2 * ws->cap : 16;
        entry *ne_arr = pp__realloc(ws->e, cap * sizeof *ne_arr);
        if (!ne_arr)
            return PP_ENOMEM;
        ws->e = ne_arr;
        ws->cap = cap;
    }
    ws->e[ws->n++] = ne;
    ws->dirty = true;
    return PP_OK;
}

pp_status pp__os_waitset_chan(pp__waitset *ws, pp__chan *c, unsigned interest, void *tag)
{
    if (!ws || !c || !tag)
        return PP_EINVAL;
    return put(ws, (entry){tag, c->fd, interest & (PP__EV_READ | PP__EV_WRITE), false});
}

pp_status pp__os_waitset_proc(pp__waitset *ws, pp__proc *p, void *tag)
{
    if (!ws || !p || !tag)
        return PP_EINVAL;
    int fd = pp__posix_proc_sentinel(p);
    if (fd < 0 || p->reaped)
        return PP_OK; /* no exact sentinel: the channel's EOF serves */
    return put(ws, (entry){tag, fd, PP__EV_EXIT, true});
}

void pp__os_waitset_remove(pp__waitset *ws, void *tag)
{
    if (!ws)
        return;
    size_t j = 0;
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->e[i].tag != tag)
            ws->e[j++] = ws->e[i];
    }
    if (j != ws->n) {
        ws->n = j;
        ws->dirty = true;
    }
}

void pp__os_waitset_wake(pp__waitset *ws)
{
    /* Both sequentially consistent, against the waiting thread's store of `sleeping` and
     * load of `wake_pending` (pp__os_waitset_wait): either it sees the flag before it
     * blocks, or this sees it sleeping and writes the eventfd. */
    if (__atomic_exchange_n(&ws->wake_pending, 1, __ATOMIC_SEQ_CST))
        return; /* a wake is already on its way */
    if (!__atomic_load_n(&ws->sleeping, __ATOMIC_SEQ_CST))
        return; /* awake: it sees the flag before it next waits */
#ifdef HAVE_EVENTFD
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
 * is skipped, but its caller changed the state before waking, and the waiting thread looks
 * at the state after this wait returns. The clear is an exchange (acquire) so that it
 * synchronises with such a skipped wake's exchange (release): its state change is visible.
 * (A wake made while the thread was awake set only the flag: drain_flag.) */
static void drain_wake(pp__waitset *ws)
{
#ifdef HAVE_EVENTFD
    uint64_t count; /* one read takes the whole counter */
    ssize_t r;
    do {
        r = read(ws->wake_r, &count, sizeof count);
    } while (r < 0 && errno == EINTR);
#else
    char buf[64];
    ssize_t r;
    while ((r = read(ws->wake_r, buf, sizeof buf)) == (ssize_t)sizeof buf ||
           (r < 0 && errno == EINTR)) {
    }
#endif
    (void)r;
    (void)__atomic_exchange_n(&ws->wake_pending, 0, __ATOMIC_ACQ_REL);
}

/* A wake that set only the flag (the thread was awake): consumed, true. */
static bool drain_flag(pp__waitset *ws)
{
    return __atomic_load_n(&ws->wake_pending, __ATOMIC_RELAXED) &&
           __atomic_exchange_n(&ws->wake_pending, 0, __ATOMIC_ACQ_REL);
}

/* Or-s ev into tag's event, adding it if there is room; false if there was none. */
static bool emit(pp__event *out, size_t cap, size_t *n, void *tag, unsigned ev)
{
    for (size_t i = 0; i < *n; i++) {
        if (out[i].tag == tag) {
            out[i].events |= ev;
            return true;
        }
    }
    if (*n >= cap)
        return false;
    out[(*n)++] = (pp__event){tag, ev};
    return true;
}

static pp_status rebuild(pp__waitset *ws)
{
    if (ws->pfd_cap < ws->n + 1) {
        size_t cap = ws->cap + 1;
        struct pollfd *p = pp__realloc(ws->pfd, cap * sizeof *p);
        if (!p)
            return PP_ENOMEM;
        ws->pfd = p;
        ws->pfd_cap = cap;
    }
    ws->pfd[0] = (struct pollfd){ws->wake_r, POLLIN, 0};
    for (size_t i = 0; i < ws->n; i++)
        ws->pfd[i + 1] = to_pollfd(&ws->e[i]);
    ws->dirty = false;
    return PP_OK;
}

/* The events entry i's poll results mean (0: none). */
static unsigned entry_events(const entry *e, short re)
{
    if (!re)
        return 0;
    if (e->proc)
        return PP__EV_EXIT;
    unsigned ev = 0;
    bool broken = (re & (POLLHUP | POLLERR | POLLNVAL)) != 0;
    /* A broken channel is reported readable (and writable, if asked): the read (write)
     * then returns PP_END. */
    if (((e->interest & PP__EV_READ) && (re & POLLIN)) || broken)
        ev |= PP__EV_READ;
    if ((e->interest & PP__EV_WRITE) && ((re & POLLOUT) || broken))
        ev |= PP__EV_WRITE;
    return ev;
}

/* The wait of pp__os_waitset_wait and _nap: timeout_ns -1 (none), 0 (a poll) or more. */
static pp_status wait_ns(pp__waitset *ws, int64_t timeout_ns, pp__event *out, size_t cap,
                         size_t *n, pp__oserr *oe)
{
    *n = 0;
    if (ws->dirty && rebuild(ws) != PP_OK)
        return PP_ENOMEM;
    /* timeout 0 (a poll: the manager's spin) needs no clock */
    int64_t deadline = timeout_ns < 0   ? -1
                       : timeout_ns > 0 ? pp__os_monotonic_ns() + timeout_ns
                                        : 0;
    /* About to block: say so, then look at the flag (see pp__os_waitset_wake). A wake seen
     * here makes this wait a poll without a timeout. */
    bool may_block = deadline != 0;
    if (may_block) {
        __atomic_store_n(&ws->sleeping, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&ws->wake_pending, __ATOMIC_SEQ_CST))
            deadline = 0;
    }
    int r;
    for (;;) {
        int64_t left = -1;
        if (deadline == 0) {
            left = 0;
        } else if (deadline > 0) {
            left = deadline - pp__os_monotonic_ns();
            if (left < 0)
                left = 0;
        }
#ifdef __linux__
        struct timespec ts = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
        r = ppoll(ws->pfd, (nfds_t)(ws->n + 1), left < 0 ? NULL : &ts, NULL);
#else
        int64_t ms = left < 0 ? -1 : (left + 999999) / 1000000;
        r = poll(ws->pfd, (nfds_t)(ws->n + 1), ms > INT_MAX ? INT_MAX : (int)ms);
#endif
        if (r >= 0 || errno != EINTR)
            break;
    }
    int err = r < 0 ? errno : 0;
    if (may_block)
        __atomic_store_n(&ws->sleeping, 0, __ATOMIC_RELAXED);
    if (r < 0)
        return pp__posix_err(oe, "poll", err);
    if (r > 0 && ws->pfd[0].revents) {
        drain_wake(ws);
        emit(out, cap, n, NULL, PP__EV_WAKE);
    } else if (drain_flag(ws)) {
        emit(out, cap, n, NULL, PP__EV_WAKE);
    }
    if (r == 0)
        return PP_OK;
    /* Scan from where the last wait ran out of room; remember where this one does. */
    size_t start = ws->next < ws->n ? ws->next : 0;
    ws->next = 0;
    bool full = false;
    for (size_t k = 0; k < ws->n; k++) {
        size_t i = (start + k) % ws->n;
        unsigned ev = entry_events(&ws->e[i], ws->pfd[i + 1].revents);
        if (ev && !emit(out, cap, n, ws->e[i].tag, ev) && !full) {
            full = true;
            ws->next = i;
        }
    }
    return PP_OK;
}

pp_status pp__os_waitset_wait(pp__waitset *ws, long timeout_ms, pp__event *out, size_t cap,
                              size_t *n, pp__oserr *oe)
{
    int64_t ns = timeout_ms == PP_FOREVER ? -1 : timeout_ms > 0 ? (int64_t)timeout_ms * 1000000
                                                                 : 0;
    return wait_ns(ws, ns, out, cap, n, oe);
}

pp_status pp__os_waitset_nap(pp__waitset *ws, long timeout_us, pp__event *out, size_t cap,
                             size_t *n, pp__oserr *oe)
{
#ifdef __linux__
    return wait_ns(ws, timeout_us > 0 ? (int64_t)timeout_us * 1000 : 0, out, cap, n, oe);
#else
    (void)ws;
    (void)timeout_us;
    (void)out;
    (void)cap;
    *n = 0;
    (void)pp__posix_err(oe, "ppoll (poll() waits whole milliseconds here)", ENOTSUP);
    return PP_ENOTSUP;
#endif
}
