/*
 * Windows backend: the manager's wait set, over an I/O completion port.
 *
 * Every channel added to the set has its pipe associated with the set's completion port
 * (once, at its first pp__os_waitset_chan: a handle belongs to one port for its life, so a
 * channel is in one wait set only, and is added before any I/O is started on it, which is
 * what the core does). Each completed ReadFile / WriteFile then queues a packet; the wakeup
 * is a packet too (PostQueuedCompletionStatus). The manager blocks in one
 * GetQueuedCompletionStatusEx, whatever the number of channels: there is no
 * MAXIMUM_WAIT_OBJECTS (64) limit, so no 61-worker cap (pp__os_max_workers()).
 *
 * Processes cost nothing: a dead worker's pipe breaks (its pending read fails with
 * ERROR_BROKEN_PIPE, which queues a packet), which is reported as READ; the process handle
 * only serves to collect the exit code afterwards.
 *
 * Packets are hints, as the events were: what is ready is read from each channel's
 * OVERLAPPED structures (pp__win_chan_ready), in one scan of every channel before blocking
 * and after every return (a few loads per channel: microseconds for hundreds). Packets
 * queue rather than coalesce, so no completion can be lost between the scan and the wait:
 * one that lands after the scan leaves a packet that ends the wait at once. A packet carries
 * no pointer the set would follow (only its kind in the key): one left by a channel that was
 * removed, or freed, is only a spurious return.
 *
 * Wakes coalesce: a flag set by the first wake spares the others the post (a system call,
 * and under Wine a round trip to wineserver) until the waiting thread dequeues it.
 *
 * Why a port and not the alternatives (src/win32/README.md has the measurements):
 * WaitForMultipleObjects over several helper threads (64 handles each) costs a thread
 * switch per event, and RegisterWaitForSingleObject / thread-pool waits a pool thread per
 * event; the port's dequeue is the same one system call as WaitForMultipleObjects was.
 */
#include "win32.h"

#define KEY_CHAN 1 /* a completed read or write: a hint */
#define KEY_WAKE 2 /* pp__os_waitset_wake */

typedef struct entry {
    void *tag;
    pp__chan *chan;
    unsigned interest; /* PP__EV_READ | PP__EV_WRITE */
} entry;

struct pp__waitset {
    HANDLE port;
    volatile LONG wake_pending; /* Interlocked: a wake packet is (about to be) queued */
    entry *e;
    size_t n, cap;
    size_t first; /* the scan starts here: a tag left out for want of room comes
                     first in the next wait, so that none starves */
};

pp_status pp__os_waitset_create(pp__waitset **out, pp__oserr *oe)
{
    *out = NULL;
    pp__waitset *ws = pp__calloc(1, sizeof *ws);
    if (!ws)
        return PP_ENOMEM;
    /* One thread dequeues (the manager): concurrency 1. */
    ws->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (!ws->port) {
        DWORD e = GetLastError();
        pp__free(ws);
        return pp__win_err(oe, "CreateIoCompletionPort", e);
    }
    *out = ws;
    return PP_OK;
}

void pp__os_waitset_free(pp__waitset *ws)
{
    if (!ws)
        return;
    /* Channels still associated keep the port object alive until they are closed; their
     * later packets go nowhere. */
    CloseHandle(ws->port);
    pp__free(ws->e);
    pp__free(ws);
}

pp_status pp__os_waitset_chan(pp__waitset *ws, pp__chan *c, unsigned interest, void *tag)
{
    if (!ws || !c || !tag || c->worker)
        return PP_EINVAL;
    interest &= PP__EV_READ | PP__EV_WRITE;
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->e[i].tag == tag && ws->e[i].chan == c) {
            ws->e[i].interest = interest;
            return PP_OK;
        }
    }
    if (c->port != ws->port) {
        if (c->port)
            return PP_EINVAL; /* in another wait set: a handle has one port for life */
        if (!CreateIoCompletionPort(c->h, ws->port, KEY_CHAN, 0))
            return PP_ESYS;
        c->port = ws->port;
        /* An operation that completes at once is seen by the scan that started it (or by
         * the caller): no packet for it, which would only cost the manager a spurious
         * return. Best effort: without it, packets are only more numerous. */
        (void)SetFileCompletionNotificationModes(c->h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS);
    }
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->e[i].tag == tag) { /* the tag's channel is replaced */
            ws->e[i].chan = c;
            ws->e[i].interest = interest;
            return PP_OK;
        }
    }
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? 2 * ws->cap : 16;
        entry *e = pp__realloc(ws->e, cap * sizeof *e);
        if (!e)
            return PP_ENOMEM;
        ws->e = e;
        ws->cap = cap;
    }
    ws->e[ws->n++] = (entry){tag, c, interest};
    return PP_OK;
}

pp_status pp__os_waitset_proc(pp__waitset *ws, pp__proc *p, void *tag)
{
    /* The channel is the sentinel: see the top of this file. */
    (void)p;
    return ws && tag ? PP_OK : PP_EINVAL;
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
    ws->n = j;
    if (ws->first >= ws->n)
        ws->first = 0;
}

void pp__os_waitset_wake(pp__waitset *ws)
{
    if (!ws || InterlockedExchange(&ws->wake_pending, 1))
        return; /* a wake is already on its way */
    PostQueuedCompletionStatus(ws->port, 0, KEY_WAKE, NULL);
}

/* Adds an event for tag; false if there was no room for it. */
static bool emit(pp__event *out, size_t cap, size_t *n, void *tag, unsigned ev)
{
    for (size_t i = 0; i < *n; i++) {
        if (out[i].tag == tag) {
            out[i].events |= ev;
            return true;
        }
    }
    if (*n == cap)
        return false;
    out[(*n)++] = (pp__event){tag, ev};
    return true;
}

/* Reports every channel with something to report, starting at ws->first; the first one
 * left out for want of room is where the next scan starts. */
static void scan(pp__waitset *ws, pp__event *out, size_t cap, size_t *n)
{
    size_t next = ws->first;
    bool left_out = false;
    for (size_t k = 0; k < ws->n; k++) {
        size_t i = (ws->first + k) % ws->n;
        unsigned ev = pp__win_chan_ready(ws->e[i].chan, ws->e[i].interest);
        if (ev && !emit(out, cap, n, ws->e[i].tag, ev) && !left_out) {
            left_out = true;
            next = i;
        }
    }
    ws->first = left_out ? next : ws->n ? (ws->first + 1) % ws->n : 0;
}

/* Dequeues a packet, waiting up to t ms for it, then, while a wake is pending and not yet
 * dequeued, the packets before it. 1: some were dequeued (*woken: one was the wakeup, which
 * is consumed: the flag is cleared after the dequeue, so that a wake landing in between is
 * merged into this one, whose caller changed its state before waking; the manager looks at
 * the state after every wait); 0: none within t; -1: error (*err).
 *
 * One packet at a time (GetQueuedCompletionStatus, not the Ex batch): Wine 8 makes one
 * wineserver call per packet either way, and its Ex variant one more to find the queue
 * empty; the packets left are hints for the next wait, which takes them without blocking. */
static int dequeue(pp__waitset *ws, DWORD t, bool *woken, DWORD *err)
{
    int got = 0;
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *ov = NULL;
        if (!GetQueuedCompletionStatus(ws->port, &bytes, &key, &ov, t) && !ov) {
            DWORD e = GetLastError();
            if (e == WAIT_TIMEOUT)
                return got;
            *err = e;
            return -1;
        }
        /* (A packet of a failed operation, ov set, is a packet like the others.) */
        got = 1;
        if (key == KEY_WAKE) {
            InterlockedExchange(&ws->wake_pending, 0);
            *woken = true;
        }
        if (*woken || !ws->wake_pending)
            return got;
        t = 0; /* a wake is queued behind: take the packets before it, without waiting */
    }
}

pp_status pp__os_waitset_wait(pp__waitset *ws, long timeout_ms, pp__event *out, size_t cap,
                              size_t *n, pp__oserr *oe)
{
    *n = 0;
    if (!out || cap == 0)
        return PP_EINVAL;
    int64_t deadline = timeout_ms == PP_FOREVER ? -1 : pp__os_monotonic_ms() + timeout_ms;
    DWORD err = 0;
    for (;;) {
        /* What is ready now, without blocking: a wake already posted, then the channels. */
        bool woken = false;
        if (ws->wake_pending && dequeue(ws, 0, &woken, &err) < 0)
            return pp__win_err(oe, "GetQueuedCompletionStatus", err);
        if (woken)
            emit(out, cap, n, NULL, PP__EV_WAKE);
        scan(ws, out, cap, n);
        if (*n)
            return PP_OK;

        DWORD t = INFINITE;
        if (deadline >= 0) {
            int64_t left = deadline - pp__os_monotonic_ms();
            t = left <= 0 ? 0 : left >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)left;
        }
        int r = dequeue(ws, t, &woken, &err);
        if (r < 0)
            return pp__win_err(oe, "GetQueuedCompletionStatus", err);
        if (woken) {
            emit(out, cap, n, NULL, PP__EV_WAKE);
            scan(ws, out, cap, n);
            return PP_OK;
        }
        if (r == 0)
            return PP_OK; /* the timeout */
        /* Completion packets: look (at the top of the loop). */
    }
}
