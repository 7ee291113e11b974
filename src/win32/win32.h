/*
 * Private declarations shared by the Windows backend's files. Only *W APIs are called;
 * strings cross the backend interface as UTF-8 and are converted at the call.
 */
#ifndef PP_WIN32_H
#define PP_WIN32_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00 /* Windows 10: nested jobs, CancelIoEx, handle lists */
#endif
#include <windows.h>

#include <stdbool.h>

#include "pp_core.h"
#include "pp_os.h"

/*
 * The parent's end of a channel is one end of a duplex overlapped named pipe, with at most
 * one read and one write in flight. Both OVERLAPPED structures share ONE manual-reset event,
 * so that a worker costs one wait handle (the wait set waits on 62 directly, and on the rest
 * through registered waits: waitset.c). The event is
 * only a hint: which operation completed is read from the OVERLAPPED structures
 * (HasOverlappedIoCompleted), and ReadFile / WriteFile reset the event when they start, so
 * the wait set always looks at both structures before it blocks (see waitset.c).
 *
 * The worker's end is a plain synchronous handle: blocking ReadFile / WriteFile.
 */
struct pp__chan {
    HANDLE h;
    bool worker; /* the worker's (blocking) end */

    /* Parent's end only. */
    HANDLE ev; /* manual-reset, shared by rov and wov */
    OVERLAPPED rov, wov;
    bool rpending;       /* a ReadFile was started and its result not yet collected */
    bool wpending;       /* same, WriteFile */
    unsigned char *rbuf; /* RBUF_CAP bytes: the read in flight fills it */
    DWORD rlen;          /* bytes of the completed read ... */
    DWORD rpos;          /* ... of which the caller has taken these */
    int rstate;          /* 0 open; 1 EOF / broken pipe; 2 error (rerr) */
    DWORD rerr;
    unsigned char *wbuf; /* the bytes of the write in flight (the caller's are copied) */
    size_t wcap;
    DWORD wlen, woff;
    int wstate; /* 0 open; 1 broken pipe; 2 error (werr) */
    DWORD werr;
};

struct pp__proc {
    HANDLE h;
    DWORD pid;
    bool reaped;
    pp__exit status; /* valid once reaped */
    HANDLE tree; /* the worker's own job (its descendants), nested in the pool's; or NULL */
};

/* Fills *oe with call and code; returns PP_ESYS. */
pp_status pp__win_err(pp__oserr *oe, const char *call, DWORD code);

/* UTF-8 -> UTF-16 in a pp__malloc'ed buffer (NUL-terminated). NULL on error: *err is then
 * ERROR_NOT_ENOUGH_MEMORY or the conversion's error (ERROR_NO_UNICODE_TRANSLATION). */
wchar_t *pp__win_utf16(const char *s, DWORD *err);

/* UTF-16 -> UTF-8 in a pp__malloc'ed buffer. NULL on error (*err as above). */
char *pp__win_utf8(const wchar_t *w, DWORD *err);

/* Creates a connected pipe: *parent is the parent's end, overlapped (a new channel); *child
 * is the child's end, synchronous and inheritable, for CreateProcessW's handle list. On
 * error nothing is left open. */
pp_status pp__win_chan_pair(pp__chan **parent, HANDLE *child, pp__oserr *oe);

/* A channel owning the worker's synchronous handle h. NULL on ENOMEM. */
pp__chan *pp__win_chan_worker(HANDLE h);

/* The events to report for channel c with the given interest (PP__EV_READ | PP__EV_WRITE),
 * from the state of its two operations; starts a read if none is in flight and none is
 * buffered. Never blocks. */
unsigned pp__win_chan_ready(pp__chan *c, unsigned interest);

#endif /* PP_WIN32_H */
