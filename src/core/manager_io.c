/*
 * The manager thread's per-worker I/O: starting a worker, writing its output queue without
 * blocking, and reading its channel into frames, each handed to pp__on_frame (manager.c),
 * where the state machine decides what it means. Nothing here changes a state directly:
 * a channel that ends goes to pp__worker_closed, a frame that cannot be received to
 * pp__worker_malformed.
 */
#include <stdio.h>
#include <string.h>

#include "executor_int.h"

void pp__queue_frame_shm(worker *w, const uint8_t *p, size_t len, pp__shm *attach)
{
    PP__ASSERT(w->out_n < OUTQ);
    w->out[(w->out_head + w->out_n) % OUTQ] = (outframe){p, len, attach};
    w->out_n++;
}

void pp__queue_frame(worker *w, const uint8_t *p, size_t len)
{
    pp__queue_frame_shm(w, p, len, NULL);
}

/* A segment of w's: shared with it (the token for its SEG frame), else false (a remote
 * worker's channel cannot carry one). */
static bool share_seg(worker *w, pp__seg *s, uint64_t *token)
{
    return w->shm && pp__os_shm_share(s->shm, w->proc, w->chan, token, NULL) == PP_OK;
}

/* Gives w its result segment: where it writes a large RESULT (kept until one comes), able
 * to grow to the largest RESULT frame max_message_size allows, as the worker rounds it
 * (Windows reserves that much). Queued right after INIT, while the worker starts (making
 * and sending it costs a descriptor and a mapping on each side: with the first CALL that
 * was on the first result's path), and again with the next CALL after a large result took
 * it. */
static void give_rseg(pp_executor *ex, worker *w)
{
    uint64_t token = 0;
    if (!w->shm || w->rseg || pp__seg_min() == 0)
        return;
    uint64_t body = ex->max_body < PP__WIRE_MAX_BODY ? ex->max_body : PP__WIRE_MAX_BODY;
    uint64_t most = (body + PP__WIRE_HDR + 0xFFFFu) & ~(uint64_t)0xFFFFu;
    most = most > SIZE_MAX ? SIZE_MAX : most;
    pp__seg *s = pp__seg_get_result((size_t)most, w->pid);
    if (s && share_seg(w, s, &token)) {
        s->last_pid = w->pid;
        w->rseg = s;
        pp__wire_encode_seg(w->rseg_frame, token, s->size, s->id, 0);
        pp__queue_frame_shm(w, w->rseg_frame, sizeof w->rseg_frame, s->shm);
    } else {
        pp__seg_put(s);
    }
}

void pp__queue_call(pp_executor *ex, worker *w, work *it)
{
    uint64_t token = 0;
    give_rseg(ex, w);
    if (it->seg && share_seg(w, it->seg, &token)) {
        pp__wire_encode_seg(w->call_frame, token, it->seg->size, it->seg->id, it->frame_len);
        pp__queue_frame_shm(w, w->call_frame, sizeof w->call_frame, it->seg->shm);
        return;
    }
    pp__queue_frame(w, work_frame(it), it->frame_len); /* (from the segment, if in one) */
}

bool pp__result_in_seg(pp_executor *ex, worker *w, const uint8_t *ref, size_t ref_len,
                       pp__wire_hdr *h, uint8_t **body, pp__seg **seg, char *what, size_t cap)
{
    pp__wire_seg r;
    pp__seg *s = w->rseg;
    if (pp__wire_decode_segref(ref, ref_len, &r) != PP_OK) {
        snprintf(what, cap, "a bad segment reference");
        return false;
    }
    if (!s || r.seg_id != s->id) {
        snprintf(what, cap, "a result in segment %llu, which it does not hold",
                 (unsigned long long)r.seg_id);
        return false;
    }
    /* max_message_size first: nothing is mapped for a body above it */
    if (r.frame_len - PP__WIRE_HDR > ex->max_body) {
        snprintf(what, cap, "a body of %llu bytes, above max_message_size (%llu)",
                 (unsigned long long)(r.frame_len - PP__WIRE_HDR),
                 (unsigned long long)ex->max_body);
        return false;
    }
    /* it grows its segment to the frame's length (rounded up), never more */
    uint64_t most = r.frame_len + (64u << 10) > s->size ? r.frame_len + (64u << 10) : s->size;
    if (r.size > most || r.size > SIZE_MAX || pp__seg_grow(s, (size_t)r.size) != PP_OK) {
        snprintf(what, cap, "a result segment of %llu bytes that cannot be mapped",
                 (unsigned long long)r.size);
        return false;
    }
    pp__wire_hdr ih;
    uint8_t *a = pp__seg_addr(s);
    if (pp__wire_get_hdr(a, ex->max_body, &ih) != PP_OK || ih.type != PP__MSG_RESULT ||
        (ih.flags & PP__MSGF_SEG) || ih.body_len != r.frame_len - PP__WIRE_HDR) {
        snprintf(what, cap, "a bad frame in its result segment");
        return false;
    }
    h->body_len = ih.body_len;
    *body = a + PP__WIRE_HDR;
    *seg = s;
    w->rseg = NULL; /* the caller's now: a new one goes with its next CALL */
    return true;
}

/* A wake-up byte for w (any byte: it reads them only to wake); false: its end is closed.
 * *sent false: the channel is full (of bytes the worker has not read: it wakes anyway). */
static bool ring_bell(worker *w, bool *sent)
{
    static const uint8_t bell = 0;
    size_t n = 0;
    if (pp__os_chan_write(w->chan, &bell, 1, &n, NULL) != PP_OK)
        return false;
    if (sent)
        *sent = n == 1;
    return true;
}

/* The output queue into the ring to w, as far as it takes it. A frame with a descriptor
 * sends it first, with a wake-up byte on the channel (the worker waits for it when it reads
 * the frame: pp__os_chan_await_fd). A full ring: the worker rings once it has made room. */
static void ring_flush(pp_executor *ex, worker *w)
{
    bool put = false, sent = true;
    pp__ring_unwait(&w->tx); /* rung, or about to look again */
    w->bell_full = false;
    while (w->out_n) {
        outframe *o = &w->out[w->out_head];
        if (w->out_off == 0 && o->attach && !w->fd_sent) {
            pp__os_shm_attach(o->attach, w->chan);
            if (!ring_bell(w, &sent)) {
                w->out_closed = true; /* as a failed write: see pp__worker_flush */
                w->out_n = 0;
                break;
            }
            if (!sent) { /* (the descriptor stays attached) again when it is writable */
                w->bell_full = true;
                break;
            }
            w->fd_sent = true;
        }
        size_t n = 0;
        if (!pp__ring_put(&w->tx, o->p + w->out_off, o->len - w->out_off, &n)) {
            pp__worker_malformed(ex, w, "a corrupt ring (its read position)");
            return;
        }
        if (n == 0) {
            if (!pp__ring_wait(&w->tx))
                break;
            pp__ring_unwait(&w->tx); /* room after all */
            continue;
        }
        put = true;
        w->out_off += n;
        if (w->out_off == o->len) {
            w->out_head = (w->out_head + 1) % OUTQ;
            w->out_n--;
            w->out_off = 0;
            w->fd_sent = false;
        }
    }
    if (put && pp__ring_put_wakes(&w->tx) && !ring_bell(w, NULL))
        w->out_closed = true;
}

/* Writes what the worker's output queue holds, as far as the channel (the ring) takes it. */
void pp__worker_flush(pp_executor *ex, worker *w)
{
    if (w->out_closed || !worker_live(w) || ex->mstate == M_BROKEN)
        w->out_n = 0; /* nothing can, or need, be written any more */
    if (w->ringed)
        ring_flush(ex, w);
    while (w->out_n && !w->ringed) {
        outframe *o = &w->out[w->out_head];
        size_t n = 0, total = 0;
        if (w->out_off == 0 && o->attach)
            pp__os_shm_attach(o->attach, w->chan); /* with the frame's first byte */
        unsigned k = 0;
        if (w->out_off == 0 && w->out_n > 1 && !o->attach &&
            (ex->wbatch || (ex->wbatch = pp__malloc(WBATCH_CAP)) != NULL)) {
            /* several small frames (CALLs queued ahead): one write */
            for (; k < w->out_n; k++) {
                const outframe *q = &w->out[(w->out_head + k) % OUTQ];
                if (q->attach || q->len > WBATCH_CAP - total)
                    break;
                memcpy(ex->wbatch + total, q->p, q->len);
                total += q->len;
            }
        }
        pp_status st = k > 1 ? pp__os_chan_write(w->chan, ex->wbatch, total, &n, NULL)
                             : pp__os_chan_write(w->chan, o->p + w->out_off,
                                                 o->len - w->out_off, &n, NULL);
        if (st != PP_OK) {
            /* The worker has closed its end: whatever it sent before (an INITERR, a
             * RESULT) is still to be read, and its EOF and exit will be reported by the
             * wait set; they tell the rest. */
            w->out_closed = true;
            w->out_n = 0;
            w->out_off = 0;
            break;
        }
        if (n == 0)
            break;
        bool partial = k > 1 && n < total;
        while (n) { /* the frames written, and how far into the last */
            o = &w->out[w->out_head];
            size_t take = o->len - w->out_off < n ? o->len - w->out_off : n;
            w->out_off += take;
            n -= take;
            if (w->out_off == o->len) {
                if (o->p == w->shm_frame && w->tx.data)
                    w->ringed = true; /* the rest goes through the rings */
                w->out_head = (w->out_head + 1) % OUTQ;
                w->out_n--;
                w->out_off = 0;
            }
        }
        if (partial)
            break; /* the channel is full */
        if (w->ringed)
            ring_flush(ex, w);
    }
    while (w->limbo && w->out_n == 0) {
        work *it = w->limbo;
        w->limbo = it->next;
        pp__work_free(it);
    }
    if (w->state == W_GONE)
        return;
    bool want = w->ringed ? w->out_n > 0 && w->bell_full : w->out_n > 0;
    if (want != w->want_write) {
        pp__os_waitset_chan(ex->ws, w->chan, PP__EV_READ | (want ? PP__EV_WRITE : 0), w);
        w->want_write = want;
    }
}

static pp_status start_process(pp_executor *ex, worker *w, pp__oserr *oe, char *err,
                               size_t cap)
{
    const char *argv[] = {ex->program, NULL};
    switch (ex->method) {
    case PP_START_MPI:
        return ex->starter->start(ex->starter_ctx, &w->proc, &w->chan, err, cap);
    case PP_START_FORK:
        return pp__os_fork_ex(pp__worker_serve_forked, &ex->wstart, &w->proc, &w->chan, oe);
    case PP_START_FORKSERVER:
        return pp__os_forkserver_spawn_ex(ex->program, &ex->wstart, &w->proc, &w->chan, oe);
    default:
        return pp__os_spawn_ex(argv, &ex->wstart, &w->proc, &w->chan, oe);
    }
}

/* The block the worker shares with the manager (wshm.h: its "should stop" flag), sent
 * first, before INIT. Where it cannot be made or sent (a remote worker's channel), the
 * worker has none: its calls never see a request to stop, only the kill after the grace. */
static void share_block(worker *w)
{
    uint64_t token = 0;
    if (pp__os_shm_create(PP__WSHM_SIZE, false, &w->shm, NULL) != PP_OK)
        return;
    if (pp__os_shm_share(w->shm, w->proc, w->chan, &token, NULL) != PP_OK) {
        pp__os_shm_free(w->shm);
        w->shm = NULL;
        return;
    }
    w->wshm = pp__os_shm_addr(w->shm);
    if (pp__ring_enabled()) {
        pp__wshm_ring_views(w->wshm, true, &w->tx, &w->rx);
        atomic_store_explicit(&pp__wshm_rings(w->wshm)->to_worker_tail.on, 1,
                              memory_order_release);
    }
    pp__wire_encode_shm(w->shm_frame, token, PP__WSHM_SIZE);
    pp__queue_frame_shm(w, w->shm_frame, sizeof w->shm_frame, w->shm);
}

worker *pp__worker_start(pp_executor *ex)
{
    worker *w = pp__calloc(1, sizeof *w);
    uint8_t *rbuf = pp__malloc(RBUF_CAP);
    pp__oserr oe = {NULL, 0};
    char err[256];
    err[0] = 0;
    if (w)
        w->ahead_tail = &w->ahead;
    pp_status st = w && rbuf ? start_process(ex, w, &oe, err, sizeof err) : PP_ENOMEM;
    if (st == PP_OK) {
        w->pid = pp__os_proc_pid(w->proc);
        if (pp__os_waitset_chan(ex->ws, w->chan, PP__EV_READ, w) != PP_OK ||
            pp__os_waitset_proc(ex->ws, w->proc, w) != PP_OK) {
            pp__os_waitset_remove(ex->ws, w);
            oe = (pp__oserr){"waitset", 0};
            st = PP_ESYS;
        }
    }
    if (st == PP_END && ex->n_workers > 0) {
        /* PP_START_MPI: no more workers to start (a static pool that lost some): the pool
         * goes on with those it has */
        ex->starter_done = true;
        pp__free(w);
        pp__free(rbuf);
        return NULL;
    }
    if (st != PP_OK) {
        char cause[512];
        if (err[0])
            (void)0; /* the starter (PP_START_MPI) said why */
        else if (st == PP_ESYS)
            pp__os_strerror(&oe, err, sizeof err);
        else
            snprintf(err, sizeof err, "%s", pp_status_str(st));
        snprintf(cause, sizeof cause, "cannot start a worker (%s): %s",
                 ex->method == PP_START_FORK  ? "fork"
                 : ex->method == PP_START_MPI ? "mpi"
                                              : ex->program,
                 err);
        if (w) {
            pp__os_chan_free(w->chan);
            pp__os_proc_free(w->proc);
        }
        pp__free(w);
        pp__free(rbuf);
        pp__record_break(ex, cause, 0, 0, NULL);
        return NULL;
    }
    w->rbuf = rbuf;
    w->state = W_STARTING; /* born in it: the one state not entered by a move */
    w->next = ex->workers;
    ex->workers = w;
    ex->n_workers++;
    apr_thread_mutex_lock(ex->lock); /* the pid list and the counts change together */
    ex->pids[ex->n_pids++] = w->pid;
    ex->stats.workers = (int)ex->n_pids;
    ex->stats.workers_started++;
    apr_thread_mutex_unlock(ex->lock);
    share_block(w);
    pp__queue_frame(w, ex->init_frame.data, ex->init_frame.len);
    give_rseg(ex, w);
    pp__worker_flush(ex, w);
    return w;
}

void pp__worker_free(worker *w)
{
    while (w->limbo) {
        work *it = w->limbo;
        w->limbo = it->next;
        pp__work_free(it);
    }
    pp__os_chan_free(w->chan);
    pp__os_proc_free(w->proc);
    pp__free(w->rbuf);
    pp__free(w->big);
    pp__free(w->init_err);
    pp__free(w->crash_text);
    pp__os_shm_free(w->shm);
    /* its result segment is not reused: whatever it (or a descendant it left) wrote there */
    pp__seg_free(w->rseg);
    pp__free(w);
}

/* Frames are handed on only while the worker's frames mean something: in M_BROKEN every
 * call has failed already, and what the workers still send is read only to see them end. */
static bool frames_wanted(const pp_executor *ex, const worker *w)
{
    return worker_live(w) && ex->mstate != M_BROKEN && !ex->brk.set;
}

/* Parses every complete frame in the staging buffer; false if reading must stop. */
static bool parse_staged(pp_executor *ex, worker *w)
{
    while (w->rlen - w->rpos >= PP__WIRE_HDR) {
        if (!frames_wanted(ex, w)) {
            w->rpos = w->rlen = 0; /* discarded */
            return worker_live(w);
        }
        pp__wire_hdr h;
        if (pp__wire_get_hdr(w->rbuf + w->rpos, ex->max_body, &h) != PP_OK) {
            char what[160];
            if (pp__wire_get_hdr(w->rbuf + w->rpos, UINT64_MAX, &h) == PP_OK)
                snprintf(what, sizeof what,
                         "a body of %llu bytes, above max_message_size (%llu)",
                         (unsigned long long)h.body_len, (unsigned long long)ex->max_body);
            else
                snprintf(what, sizeof what, "bad frame header");
            pp__worker_malformed(ex, w, what);
            return false;
        }
        size_t avail = w->rlen - w->rpos - PP__WIRE_HDR;
        if (h.body_len <= avail) {
            uint8_t *body = w->rbuf + w->rpos + PP__WIRE_HDR;
            w->rpos += PP__WIRE_HDR + (size_t)h.body_len;
            pp__on_frame(ex, w, &h, body, false);
        } else if (h.body_len + PP__WIRE_HDR <= RBUF_CAP) {
            break; /* the rest comes with the next read */
        } else {
            if (h.body_len > SIZE_MAX || !(w->big = pp__malloc((size_t)h.body_len))) {
                pp__worker_malformed(ex, w, "frame too large to receive");
                return false;
            }
            memcpy(w->big, w->rbuf + w->rpos + PP__WIRE_HDR, avail);
            w->big_got = avail;
            w->big_hdr = h;
            w->rpos = w->rlen;
        }
        if (!worker_live(w))
            return false;
    }
    if (w->rpos) {
        memmove(w->rbuf, w->rbuf + w->rpos, w->rlen - w->rpos);
        w->rlen -= w->rpos;
        w->rpos = 0;
    }
    return true;
}

/* Reads what w has sent: from its ring, and when that is empty, the wake-up bytes on the
 * channel, whose end (or failure) is still the worker's; else from the channel. *bad: the
 * ring is corrupt. */
static pp_status link_read(worker *w, uint8_t *dst, size_t want, size_t *n, bool *bad)
{
    if (!w->ringed)
        return pp__os_chan_read(w->chan, dst, want, n, NULL);
    for (int pass = 0;; pass++) {
        if (!pp__ring_get(&w->rx, dst, want, n)) {
            *bad = true;
            return PP_OK;
        }
        if (*n) {
            if (pp__ring_get_wakes(&w->rx))
                (void)ring_bell(w, NULL); /* (a closed end: its EOF comes next, these first) */
            return PP_OK;
        }
        if (pass)
            return PP_OK;
        uint8_t bells[256];
        size_t k = 0;
        pp_status st = pp__os_chan_read(w->chan, bells, sizeof bells, &k, NULL);
        if (st != PP_OK || k == 0)
            return st;
    }
}

/* Reads what worker w has sent, up to a budget, and hands on every complete frame. */
void pp__worker_read(pp_executor *ex, worker *w)
{
    size_t budget = READ_BUDGET;
    /* A read that returns less than asked has emptied the channel for now: the next read
     * would only say "would block", so the wait set is asked again instead (it is
     * level-triggered: whatever arrives meanwhile is reported). Saves a system call per
     * wakeup. */
    bool drained = false;
    while (worker_live(w) && budget) {
        size_t n = 0, want;
        uint8_t *dst;
        if (w->big) { /* a large body: straight into its own buffer */
            want = (size_t)w->big_hdr.body_len - w->big_got;
            dst = w->big + w->big_got;
        } else {
            if (!parse_staged(ex, w) || w->big)
                continue;
            want = RBUF_CAP - w->rlen;
            dst = w->rbuf + w->rlen;
        }
        if (drained)
            return;
        bool bad = false;
        pp_status st = link_read(w, dst, want, &n, &bad);
        if (bad) {
            pp__worker_malformed(ex, w, "a corrupt ring (its write position)");
            return;
        }
        if (st != PP_OK) {
            pp__worker_closed(ex, w);
            return;
        }
        if (n == 0)
            return;
        drained = n < want;
        budget -= n < budget ? n : budget;
        if (!w->big) {
            w->rlen += n;
            continue;
        }
        w->big_got += n;
        if (w->big_got == w->big_hdr.body_len) {
            uint8_t *body = w->big;
            pp__wire_hdr h = w->big_hdr;
            w->big = NULL;
            if (frames_wanted(ex, w))
                pp__on_frame(ex, w, &h, body, true);
            else
                pp__free(body);
        }
    }
    if (worker_live(w) && !w->big)
        parse_staged(ex, w); /* the budget ran out with whole frames staged */
}

void pp__worker_drain(pp_executor *ex, worker *w)
{
    while (worker_live(w)) {
        size_t before = w->rlen + w->big_got;
        pp__worker_read(ex, w);
        if (w->rlen + w->big_got == before)
            break;
    }
}
