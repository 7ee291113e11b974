/*
 * Windows backend: the manager's wait set, over WaitForMultipleObjects, with no limit on
 * the number of channels.
 *
 * Handles: the wakeup (an auto-reset event), the overflow event (manual-reset), and the
 * event of each of the first DIRECT channels (the manual-reset event that channel's read and
 * write share): 64 handles, MAXIMUM_WAIT_OBJECTS. A channel beyond the first DIRECT is
 * watched by a registered wait (RegisterWaitForSingleObject, run once, its callback in the
 * system's wait thread) whose callback sets the overflow event; the manager re-arms it after
 * each firing. So a pool of up to DIRECT workers waits exactly as before (one system call),
 * and a larger one pays a thread hop only for the events of its workers beyond DIRECT
 * (src/win32/README.md: why not a completion port, and the measurements).
 *
 * Processes cost nothing: a dead worker's pipe breaks (its pending read fails with
 * ERROR_BROKEN_PIPE), which is reported as READ, and the process handle only serves to
 * collect the exit code afterwards.
 *
 * The events are hints. What is ready is read from each channel's OVERLAPPED structures
 * (pp__win_chan_ready), in a scan of every channel before blocking and after every return:
 * ReadFile and WriteFile reset the shared event when they start, so a completion may have
 * left no trace in it. A signalled event is reset before the channels are looked at again
 * (a completion after the reset signals it anew), so that no completion is lost and the wait
 * does not spin; an overflow channel's event is reset, then its wait re-armed, then the scan.
 *
 * Wakes coalesce: a flag set by the first wake spares the others the SetEvent (a system
 * call, and under Wine a round trip to wineserver) until the waiting thread consumes it.
 */
#include "win32.h"

#define DIRECT (MAXIMUM_WAIT_OBJECTS - 2) /* channels waited on directly: 62 */

typedef struct entry {
    void *tag;
    pp__chan *chan;
    unsigned interest;   /* PP__EV_READ | PP__EV_WRITE */
    HANDLE wait;         /* beyond DIRECT: the registered wait on chan's event, or NULL */
    volatile LONG fired; /* its callback ran: the (run-once) registration is spent */
    pp__waitset *ws;
} entry; /* allocated one by one: a registered wait's callback holds its address */

struct pp__waitset {
    HANDLE wake;                /* auto-reset */
    HANDLE overflow;            /* manual-reset: set by the registered waits' callbacks */
    volatile LONG wake_pending; /* Interlocked */
    entry **e;
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
    ws->wake = CreateEventW(NULL, FALSE, FALSE, NULL);
    ws->overflow = ws->wake ? CreateEventW(NULL, TRUE, FALSE, NULL) : NULL;
    if (!ws->overflow) {
        DWORD e = GetLastError();
        if (ws->wake)
            CloseHandle(ws->wake);
        pp__free(ws);
        return pp__win_err(oe, "CreateEventW", e);
    }
    *out = ws;
    return PP_OK;
}

/* Ends e's registered wait, if any, waiting for a callback in progress to return. */
static void disarm(entry *e)
{
    if (e->wait) {
        UnregisterWaitEx(e->wait, INVALID_HANDLE_VALUE);
        e->wait = NULL;
    }
    e->fired = 0;
}

static VOID CALLBACK on_fired(PVOID ctx, BOOLEAN timed_out)
{
    (void)timed_out;
    entry *e = ctx;
    InterlockedExchange(&e->fired, 1);
    SetEvent(e->ws->overflow);
}

/* Registers a run-once wait on e's channel event; false if the system refused (then the
 * channel is only seen at the next return of the wait: the caller polls). */
static bool arm(entry *e)
{
    e->fired = 0;
    if (RegisterWaitForSingleObject(&e->wait, e->chan->ev, on_fired, e, INFINITE,
                                    WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD))
        return true;
    e->wait = NULL;
    return false;
}

void pp__os_waitset_free(pp__waitset *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < ws->n; i++) {
        disarm(ws->e[i]);
        pp__free(ws->e[i]);
    }
    pp__free(ws->e);
    CloseHandle(ws->overflow);
    CloseHandle(ws->wake);
    pp__free(ws);
}

pp_status pp__os_waitset_chan(pp__waitset *ws, pp__chan *c, unsigned interest, void *tag)
{
    if (!ws || !c || !tag || c->worker)
        return PP_EINVAL;
    interest &= PP__EV_READ | PP__EV_WRITE;
    for (size_t i = 0; i < ws->n; i++) {
        entry *e = ws->e[i];
        if (e->tag == tag) {
            if (e->chan != c)
                disarm(e); /* (re-armed on c's event before the next block) */
            e->chan = c;
            e->interest = interest;
            return PP_OK;
        }
    }
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? 2 * ws->cap : 16;
        entry **a = pp__realloc(ws->e, cap * sizeof *a);
        if (!a)
            return PP_ENOMEM;
        ws->e = a;
        ws->cap = cap;
    }
    entry *e = pp__calloc(1, sizeof *e);
    if (!e)
        return PP_ENOMEM;
    *e = (entry){tag, c, interest, NULL, 0, ws};
    ws->e[ws->n++] = e;
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
        if (ws->e[i]->tag == tag) {
            disarm(ws->e[i]);
            pp__free(ws->e[i]);
        } else {
            ws->e[j++] = ws->e[i];
        }
    }
    ws->n = j;
    if (ws->first >= ws->n)
        ws->first = 0;
}

void pp__os_waitset_wake(pp__waitset *ws)
{
    if (!ws || InterlockedExchange(&ws->wake_pending, 1))
        return; /* a wake is already on its way */
    SetEvent(ws->wake);
}

/* The event was consumed (by a wait on it): clear the flag, in that order (as in the POSIX
 * backend: a wake landing in between is merged into this one, whose caller changed its state
 * before waking, and the manager looks at the state after every wait). */
static void wake_consumed(pp__waitset *ws)
{
    InterlockedExchange(&ws->wake_pending, 0);
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
        entry *e = ws->e[i];
        unsigned ev = pp__win_chan_ready(e->chan, e->interest);
        if (ev && !emit(out, cap, n, e->tag, ev) && !left_out) {
            left_out = true;
            next = i;
        }
    }
    ws->first = left_out ? next : ws->n ? (ws->first + 1) % ws->n : 0;
}

/* Before a scan that may block: the channels waited on directly have no registered wait
 * (an entry moves there when one before it is removed); each one beyond has an armed one,
 * a spent one being re-armed after its event is reset. false if one could not be armed. */
static bool prepare(pp__waitset *ws)
{
    bool ok = true;
    for (size_t i = 0; i < ws->n; i++) {
        entry *e = ws->e[i];
        if (i < DIRECT) {
            if (e->wait)
                disarm(e);
            continue;
        }
        if (e->wait && e->fired) {
            disarm(e); /* (spent: returns at once) */
            ResetEvent(e->chan->ev);
        }
        if (!e->wait && !arm(e))
            ok = false;
    }
    return ok;
}

pp_status pp__os_waitset_wait(pp__waitset *ws, long timeout_ms, pp__event *out, size_t cap,
                              size_t *n, pp__oserr *oe)
{
    *n = 0;
    if (!out || cap == 0)
        return PP_EINVAL;
    HANDLE h[MAXIMUM_WAIT_OBJECTS];
    int64_t deadline = timeout_ms == PP_FOREVER ? -1 : pp__os_monotonic_ms() + timeout_ms;
    for (;;) {
        /* What is ready now, without blocking. */
        if (ws->wake_pending && WaitForSingleObject(ws->wake, 0) == WAIT_OBJECT_0) {
            wake_consumed(ws);
            emit(out, cap, n, NULL, PP__EV_WAKE);
        }
        bool armed = prepare(ws);
        scan(ws, out, cap, n);
        if (*n)
            return PP_OK;

        DWORD t = INFINITE;
        if (deadline >= 0) {
            int64_t left = deadline - pp__os_monotonic_ms();
            t = left <= 0 ? 0 : left >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)left;
        }
        if (!armed && t > 10)
            t = 10; /* a registered wait was refused: look again soon */
        size_t direct = ws->n < DIRECT ? ws->n : DIRECT;
        h[0] = ws->wake;
        h[1] = ws->overflow;
        for (size_t i = 0; i < direct; i++)
            h[i + 2] = ws->e[i]->chan->ev;
        DWORD r = WaitForMultipleObjects((DWORD)direct + 2, h, FALSE, t);
        if (r == WAIT_TIMEOUT) {
            if (!armed && (deadline < 0 || pp__os_monotonic_ms() < deadline))
                continue;
            return PP_OK;
        }
        if (r == WAIT_OBJECT_0) {
            wake_consumed(ws);
            emit(out, cap, n, NULL, PP__EV_WAKE);
            scan(ws, out, cap, n);
            return PP_OK;
        }
        if (r > WAIT_OBJECT_0 && r < WAIT_OBJECT_0 + direct + 2) {
            /* Reset first, then look (at the top of the loop): a completion after the reset
             * signals the event again; the overflow's callbacks set it again. */
            ResetEvent(h[r - WAIT_OBJECT_0]);
            continue;
        }
        return pp__win_err(oe, "WaitForMultipleObjects", r == WAIT_FAILED ? GetLastError() : r);
    }
}

pp_status pp__os_waitset_nap(pp__waitset *ws, long timeout_us, pp__event *out, size_t cap,
                             size_t *n, pp__oserr *oe)
{
    /* A wait here ends on the system timer's tick (1-16 ms), not after some microseconds:
     * a nap would hold results back that long. The manager sleeps until rung instead. */
    (void)ws;
    (void)timeout_us;
    (void)out;
    (void)cap;
    *n = 0;
    (void)pp__win_err(oe, "a wait of microseconds (timer resolution)", ERROR_NOT_SUPPORTED);
    return PP_ENOTSUP;
}
