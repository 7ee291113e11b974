/*
 * Windows backend: channels. Each worker has one duplex named pipe, in byte mode:
 *
 * - the name is unique, \\.\pipe\procpool-<pid>-<counter>-<random>, and the pipe is created
 *   with FILE_FLAG_FIRST_PIPE_INSTANCE (fails if anyone squats the name: a new name is
 *   tried), one instance, and PIPE_REJECT_REMOTE_CLIENTS;
 * - the parent's end (the server) is overlapped: at most one read and one write in flight,
 *   sharing one manual-reset event (see win32.h), reads landing in the channel's own buffer
 *   and writes sent from the channel's own copy of the caller's bytes, so the caller's
 *   buffers are never referenced after a call returns;
 * - the worker's end (the client, opened with CreateFileW before the worker starts) is
 *   synchronous and inheritable until the worker marks it otherwise (pp__os_chan_from_argv).
 *
 * A peer that is gone reads and writes as PP_END: ERROR_BROKEN_PIPE, ERROR_NO_DATA ("the pipe
 * is being closed"), ERROR_PIPE_NOT_CONNECTED, or a zero-byte read at EOF.
 */
#define _CRT_RAND_S /* rand_s() */
#include "win32.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIPE_BUF_SIZE (64u * 1024u) /* the pipe's own buffers, each way */
#define RBUF_CAP (64u * 1024u)      /* one read's buffer */
#define WBUF_MAX (1024u * 1024u)    /* at most this many bytes per write in flight */
#define NAME_TRIES 16

static bool peer_gone(DWORD e)
{
    return e == ERROR_BROKEN_PIPE || e == ERROR_NO_DATA || e == ERROR_PIPE_NOT_CONNECTED ||
           e == ERROR_HANDLE_EOF;
}

static unsigned random32(void)
{
    unsigned r = 0;
    if (rand_s(&r) != 0) { /* never in practice; the name only has to be unique */
        LARGE_INTEGER c;
        QueryPerformanceCounter(&c);
        r = (unsigned)(c.QuadPart ^ (c.QuadPart >> 32));
    }
    return r;
}

static pp__chan *chan_alloc(HANDLE h, bool worker)
{
    pp__chan *c = pp__calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->h = h;
    c->worker = worker;
    return c;
}

pp__chan *pp__win_chan_worker(HANDLE h)
{
    return chan_alloc(h, true);
}

pp_status pp__win_chan_pair(pp__chan **parent, HANDLE *child, pp__oserr *oe)
{
    static volatile LONG counter;
    *parent = NULL;
    *child = INVALID_HANDLE_VALUE;

    pp__chan *c = chan_alloc(INVALID_HANDLE_VALUE, false);
    unsigned char *rbuf = pp__malloc(RBUF_CAP);
    if (!c || !rbuf) {
        pp__free(c);
        pp__free(rbuf);
        return PP_ENOMEM;
    }
    c->rbuf = rbuf;
    pp_status st = PP_OK;
    HANDLE server = INVALID_HANDLE_VALUE, client = INVALID_HANDLE_VALUE;
    c->ev = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!c->ev) {
        st = pp__win_err(oe, "CreateEventW", GetLastError());
        goto fail;
    }
    wchar_t name[96];
    for (int i = 0;; i++) {
        swprintf(name, sizeof name / sizeof name[0], L"\\\\.\\pipe\\procpool-%lu-%ld-%08x",
                 (unsigned long)GetCurrentProcessId(), (long)InterlockedIncrement(&counter),
                 random32());
        /* Not inheritable (lpSecurityAttributes NULL); the default DACL. */
        server = CreateNamedPipeW(
            name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1,
            PIPE_BUF_SIZE, PIPE_BUF_SIZE, 0, NULL);
        if (server != INVALID_HANDLE_VALUE)
            break;
        DWORD e = GetLastError();
        /* ACCESS_DENIED / PIPE_BUSY: the name exists (a squatter or a clash): another. */
        if ((e != ERROR_ACCESS_DENIED && e != ERROR_PIPE_BUSY) || i + 1 >= NAME_TRIES) {
            st = pp__win_err(oe, "CreateNamedPipeW", e);
            goto fail;
        }
    }
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE}; /* inheritable: the handle list wants it */
    client = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, &sa, OPEN_EXISTING,
                         SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
    if (client == INVALID_HANDLE_VALUE) {
        st = pp__win_err(oe, "CreateFileW(pipe)", GetLastError());
        goto fail;
    }
    /* The client is connected already: ConnectNamedPipe reports ERROR_PIPE_CONNECTED. */
    c->rov.hEvent = c->ev;
    if (!ConnectNamedPipe(server, &c->rov)) {
        DWORD e = GetLastError();
        if (e == ERROR_IO_PENDING) {
            DWORD n;
            if (!GetOverlappedResult(server, &c->rov, &n, TRUE))
                e = GetLastError();
            else
                e = ERROR_PIPE_CONNECTED;
        }
        if (e != ERROR_PIPE_CONNECTED) {
            st = pp__win_err(oe, "ConnectNamedPipe", e);
            goto fail;
        }
    }
    memset(&c->rov, 0, sizeof c->rov);
    c->rov.hEvent = c->ev;
    c->wov.hEvent = c->ev;
    ResetEvent(c->ev);
    c->h = server;
    *parent = c;
    *child = client;
    return PP_OK;
fail:
    if (client != INVALID_HANDLE_VALUE)
        CloseHandle(client);
    if (server != INVALID_HANDLE_VALUE)
        CloseHandle(server);
    if (c->ev)
        CloseHandle(c->ev);
    pp__free(c->rbuf);
    pp__free(c);
    return st;
}

static bool op_done(const OVERLAPPED *ov)
{
    /* The I/O manager writes Internal when the operation completes. */
    return ((const volatile OVERLAPPED *)ov)->Internal != (ULONG_PTR)STATUS_PENDING;
}

/* ---- reads (parent) ---- */

/* Starts the next read into rbuf. Its result is collected by collect_read (a read that
 * completes at once is collected the same way). */
static void start_read(pp__chan *c)
{
    c->rlen = c->rpos = 0;
    memset(&c->rov, 0, sizeof c->rov);
    c->rov.hEvent = c->ev;
    if (ReadFile(c->h, c->rbuf, RBUF_CAP, NULL, &c->rov)) {
        c->rpending = true;
        return;
    }
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING) {
        c->rpending = true;
    } else if (peer_gone(e)) {
        c->rstate = 1;
    } else {
        c->rstate = 2;
        c->rerr = e;
    }
}

/* If the read in flight has completed, collects it: bytes into rlen, or the end. */
static void collect_read(pp__chan *c)
{
    if (!c->rpending || !op_done(&c->rov))
        return;
    c->rpending = false;
    DWORD n = 0;
    if (GetOverlappedResult(c->h, &c->rov, &n, FALSE)) {
        c->rlen = n;
        c->rpos = 0;
        if (n == 0) /* a zero-byte message: nothing to hand out; read again */
            start_read(c);
        return;
    }
    DWORD e = GetLastError();
    if (peer_gone(e)) {
        c->rstate = 1;
    } else if (e == ERROR_MORE_DATA) { /* message mode only; counts as data */
        c->rlen = RBUF_CAP;
        c->rpos = 0;
    } else {
        c->rstate = 2;
        c->rerr = e;
    }
}

static pp_status worker_read(pp__chan *c, void *buf, size_t cap, size_t *n, pp__oserr *oe)
{
    DWORD want = cap > 0x40000000u ? 0x40000000u : (DWORD)cap;
    for (;;) {
        DWORD got = 0;
        if (!ReadFile(c->h, buf, want, &got, NULL)) {
            DWORD e = GetLastError();
            if (peer_gone(e))
                return PP_END;
            if (e == ERROR_MORE_DATA) {
                *n = got;
                return PP_OK;
            }
            return pp__win_err(oe, "ReadFile", e);
        }
        if (got > 0) {
            *n = got;
            return PP_OK;
        }
        /* A zero-byte read on a byte-mode pipe: a zero-length write by the peer. Again. */
    }
}

pp_status pp__os_chan_try_read(pp__chan *c, void *buf, size_t cap, size_t *n, pp__oserr *oe)
{
    *n = 0;
    if (cap == 0)
        return PP_OK;
    if (!c->worker) /* the parent's end never blocks anyway */
        return pp__os_chan_read(c, buf, cap, n, oe);
    DWORD avail = 0;
    if (!PeekNamedPipe(c->h, NULL, 0, NULL, &avail, NULL)) {
        DWORD e = GetLastError();
        if (peer_gone(e))
            return PP_END;
        return pp__win_err(oe, "PeekNamedPipe", e);
    }
    if (avail == 0)
        return PP_OK;
    /* bytes are there: the synchronous read returns at once */
    return worker_read(c, buf, cap < avail ? cap : avail, n, oe);
}

pp_status pp__os_chan_read(pp__chan *c, void *buf, size_t cap, size_t *n, pp__oserr *oe)
{
    *n = 0;
    if (cap == 0)
        return PP_OK;
    if (c->worker)
        return worker_read(c, buf, cap, n, oe);
    collect_read(c);
    if (c->rpos < c->rlen) {
        size_t k = c->rlen - c->rpos;
        if (k > cap)
            k = cap;
        memcpy(buf, c->rbuf + c->rpos, k);
        c->rpos += (DWORD)k;
        *n = k;
        if (c->rpos == c->rlen && c->rstate == 0)
            start_read(c); /* the next bytes are on their way while the caller works */
        return PP_OK;
    }
    if (c->rstate == 1)
        return PP_END;
    if (c->rstate == 2)
        return pp__win_err(oe, "ReadFile", c->rerr);
    if (!c->rpending) {
        start_read(c);
        collect_read(c); /* completed at once? */
        if (c->rpos < c->rlen)
            return pp__os_chan_read(c, buf, cap, n, oe);
        if (c->rstate == 1)
            return PP_END;
        if (c->rstate == 2)
            return pp__win_err(oe, "ReadFile", c->rerr);
    }
    return PP_OK; /* a read is in flight: the wait set reports it */
}

/* ---- writes (parent) ---- */

static void start_write(pp__chan *c)
{
    memset(&c->wov, 0, sizeof c->wov);
    c->wov.hEvent = c->ev;
    if (WriteFile(c->h, c->wbuf + c->woff, c->wlen - c->woff, NULL, &c->wov)) {
        c->wpending = true;
        return;
    }
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING) {
        c->wpending = true;
    } else if (peer_gone(e)) {
        c->wstate = 1;
    } else {
        c->wstate = 2;
        c->werr = e;
    }
}

/* If the write in flight has completed, collects it; a short write sends the rest. */
static void collect_write(pp__chan *c)
{
    if (!c->wpending || !op_done(&c->wov))
        return;
    c->wpending = false;
    DWORD n = 0;
    if (GetOverlappedResult(c->h, &c->wov, &n, FALSE)) {
        c->woff += n;
        if (c->woff < c->wlen)
            start_write(c);
        else
            c->wlen = c->woff = 0;
        return;
    }
    DWORD e = GetLastError();
    if (peer_gone(e)) {
        c->wstate = 1;
    } else {
        c->wstate = 2;
        c->werr = e;
    }
}

static pp_status worker_write(pp__chan *c, const void *buf, size_t len, size_t *n, pp__oserr *oe)
{
    DWORD want = len > 0x40000000u ? 0x40000000u : (DWORD)len;
    DWORD put = 0;
    if (!WriteFile(c->h, buf, want, &put, NULL)) {
        DWORD e = GetLastError();
        if (peer_gone(e))
            return PP_END;
        return pp__win_err(oe, "WriteFile", e);
    }
    *n = put;
    return PP_OK;
}

pp_status pp__os_chan_write(pp__chan *c, const void *buf, size_t len, size_t *n, pp__oserr *oe)
{
    *n = 0;
    if (len == 0)
        return PP_OK;
    if (c->worker)
        return worker_write(c, buf, len, n, oe);
    collect_write(c);
    if (c->wstate == 1)
        return PP_END;
    if (c->wstate == 2)
        return pp__win_err(oe, "WriteFile", c->werr);
    if (c->wpending)
        return PP_OK; /* the previous write is in flight: the wait set reports its end */
    size_t k = len > WBUF_MAX ? WBUF_MAX : len;
    if (c->wcap < k) {
        size_t cap = c->wcap ? c->wcap : 4096;
        while (cap < k)
            cap *= 2;
        unsigned char *b = pp__realloc(c->wbuf, cap);
        if (!b)
            return PP_ENOMEM;
        c->wbuf = b;
        c->wcap = cap;
    }
    memcpy(c->wbuf, buf, k);
    c->wlen = (DWORD)k;
    c->woff = 0;
    start_write(c);
    if (c->wstate == 1)
        return PP_END;
    if (c->wstate == 2)
        return pp__win_err(oe, "WriteFile", c->werr);
    *n = k;
    return PP_OK;
}

/* ---- readiness, for the wait set ---- */

unsigned pp__win_chan_ready(pp__chan *c, unsigned interest)
{
    unsigned ev = 0;
    if (interest & PP__EV_READ) {
        /* Start the read first: ReadFile resets the shared event, so the write's state is
         * looked at after it. */
        if (!c->rpending && c->rpos >= c->rlen && c->rstate == 0)
            start_read(c);
        if (c->rpos < c->rlen || c->rstate != 0 || (c->rpending && op_done(&c->rov)))
            ev |= PP__EV_READ;
    }
    if (interest & PP__EV_WRITE) {
        if (!c->wpending || op_done(&c->wov) || c->wstate != 0)
            ev |= PP__EV_WRITE;
    }
    return ev;
}

/* ---- freeing ---- */

pp_status pp__os_chan_await_fd(pp__chan *c)
{
    (void)c; /* a handle is duplicated into the worker: its token is in the frame */
    return PP_OK;
}

void pp__os_chan_wait_readable(pp__chan *c, int timeout_ms)
{
    /* not needed: pp__os_on_exit() has nothing to hook on Windows */
    (void)c;
    (void)timeout_ms;
}

void pp__os_chan_free(pp__chan *c)
{
    if (!c)
        return;
    if (!c->worker) {
        /* The OVERLAPPED structures and buffers must outlive their operations: cancel
         * them and wait until both have completed (aborted or not). */
        if ((c->rpending && !op_done(&c->rov)) || (c->wpending && !op_done(&c->wov)))
            CancelIoEx(c->h, NULL);
        while ((c->rpending && !op_done(&c->rov)) || (c->wpending && !op_done(&c->wov))) {
            ResetEvent(c->ev);
            if ((c->rpending && !op_done(&c->rov)) || (c->wpending && !op_done(&c->wov)))
                WaitForSingleObject(c->ev, 100);
        }
        CloseHandle(c->ev);
    }
    CloseHandle(c->h);
    pp__free(c->rbuf);
    pp__free(c->wbuf);
    pp__free(c);
}
