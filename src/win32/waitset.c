/*
 * Windows backend: the manager's wait set, over WaitForMultipleObjects.
 *
 * Handles: the wakeup (an auto-reset event) and one event per channel, the manual-reset
 * event that channel's read and write share: at most 63 channels, so that the set fits in
 * MAXIMUM_WAIT_OBJECTS (64); the core caps workers at 61. Processes cost nothing: a dead
 * worker's pipe breaks (its pending read fails with ERROR_BROKEN_PIPE), which is reported as
 * READ, and the process handle only serves to collect the exit code afterwards.
 *
 * The events are hints. What is ready is read from each channel's OVERLAPPED structures
 * (pp__win_chan_ready), before blocking and after every return: ReadFile and WriteFile
 * reset the shared event when they start, so a completion may have left no trace in it.
 * A signalled event whose channel has nothing to report is reset, and the channel looked at
 * again after the reset, so that no completion is lost and the wait does not spin.
 *
 * Wakes coalesce: a flag set by the first wake spares the others the SetEvent (a system
 * call, and under Wine a round trip to wineserver) until the waiting thread consumes it.
 */
#include "win32.h"

#define MAX_CHANS (MAXIMUM_WAIT_OBJECTS - 1)

typedef struct entry {
    void *tag;
    pp__chan *chan;
    unsigned interest; /* PP__EV_READ | PP__EV_WRITE */
} entry;

struct pp__waitset {
    HANDLE wake;                /* auto-reset */
    volatile LONG wake_pending; /* Interlocked */
    entry e[MAX_CHANS];
    size_t n;
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
    if (!ws->wake) {
        DWORD e = GetLastError();
        pp__free(ws);
        return pp__win_err(oe, "CreateEventW", e);
    }
    *out = ws;
    return PP_OK;
}

void pp__os_waitset_free(pp__waitset *ws)
{
    if (!ws)
        return;
    CloseHandle(ws->wake);
    pp__free(ws);
}

pp_status pp__os_waitset_chan(pp__waitset *ws, pp__chan *c, unsigned interest, void *tag)
{
    if (!ws || !c || !tag || c->worker)
        return PP_EINVAL;
    interest &= PP__EV_READ | PP__EV_WRITE;
    for (size_t i = 0; i < ws->n; i++) {
        if (ws->e[i].tag == tag) {
            ws->e[i].chan = c;
            ws->e[i].interest = interest;
            return PP_OK;
        }
    }
    if (ws->n == MAX_CHANS)
        return PP_EINVAL; /* beyond WaitForMultipleObjects' 64 handles */
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
        unsigned ev = pp__win_chan_ready(ws->e[i].chan, ws->e[i].interest);
        if (ev && !emit(out, cap, n, ws->e[i].tag, ev) && !left_out) {
            left_out = true;
            next = i;
        }
    }
    ws->first = left_out ? next : ws->n ? (ws->first + 1) % ws->n : 0;
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
        scan(ws, out, cap, n);
        if (*n)
            return PP_OK;

        DWORD t = INFINITE;
        if (deadline >= 0) {
            int64_t left = deadline - pp__os_monotonic_ms();
            t = left <= 0 ? 0 : left >= (int64_t)INFINITE ? INFINITE - 1 : (DWORD)left;
        }
        h[0] = ws->wake;
        for (size_t i = 0; i < ws->n; i++)
            h[i + 1] = pp__win_chan_event(ws->e[i].chan);
        DWORD r = WaitForMultipleObjects((DWORD)ws->n + 1, h, FALSE, t);
        if (r == WAIT_TIMEOUT)
            return PP_OK;
        if (r == WAIT_OBJECT_0) {
            wake_consumed(ws);
            emit(out, cap, n, NULL, PP__EV_WAKE);
            scan(ws, out, cap, n);
            return PP_OK;
        }
        if (r > WAIT_OBJECT_0 && r <= WAIT_OBJECT_0 + ws->n) {
            /* Reset first, then look (at the top of the loop): a completion after the reset
             * signals the event again. */
            ResetEvent(h[r - WAIT_OBJECT_0]);
            continue;
        }
        return pp__win_err(oe, "WaitForMultipleObjects", r == WAIT_FAILED ? GetLastError() : r);
    }
}
