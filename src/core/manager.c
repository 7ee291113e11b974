/*
 * The manager thread: the only code that talks to workers. docs/design.md draws its loop,
 * its states and the messages; this file is that drawing in C.
 *
 * A work item's life (follow `work` from pp_submit in executor.c):
 *
 *   pp_submit -----> FIFO (ex->fifo, under ex->lock; its future is PENDING, cancellable)
 *   take_pending --> call queue (manager-private; "handed out"). At most max_workers x
 *                    the pipeline's depth + EXTRA_QUEUED_CALLS items are handed out.
 *   assign --------> held by one worker (w->item, or queued ahead behind it: w->ahead);
 *                    its CALL frame is queued and written without blocking (manager_io.c).
 *                    Its future stays PENDING until the worker claims the call ("the
 *                    pipeline" below); PROCPOOL_PIPELINE=0: RUNNING from take_pending.
 *   on_result -----> the worker is marked idle and given its next item, then the future is
 *                    finished with the result or the task's error (finish_item).
 *   break_now -----> (a worker died, sent garbage, or could not start: record_break) every
 *                    handed-out and queued item fails PP_EBROKEN.
 *
 * The loop (manager_main): step (carry out a recorded break; signal the workers if
 * terminate/kill_workers asked; hand out and assign work; start workers; shut down when
 * drained; collect exit statuses and kill what outlived its grace) -> publish the counts ->
 * free what was reaped -> wait for events (channels readable / writable, processes exited,
 * the wakeup), never longer than the nearest deadline -> dispatch them -> step ...
 *
 * Nothing here blocks on a worker: writes are non-blocking, exits are collected when the
 * backend reports them (pidfd, forkserver status pipe) or polled every REAP_POLL_MS where
 * it reports none (Windows: the broken pipe is the sentinel), and the grace before a kill
 * is a deadline (w->kill_at) inside the loop.
 *
 * Locks: ex->lock guards the FIFO, the shutdown/broken flags, the stats and the pid list,
 * the state callers can see. Everything else is this thread's alone. Futures are completed
 * (and their callbacks run) with no executor lock held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor_int.h"

#define N_EVENTS 64

PP__THREAD_LOCAL pp_executor *pp__tl_manager;

/* ---- the two state machines: every change goes through these ---- */

static void stop_worker(pp_executor *ex, worker *w); /* (below; on_result uses it too) */
static work *pop_ahead(worker *w);                     /* (below: the pipeline) */

static const char *const wstate_name[W__COUNT] = {
    "STARTING", "IDLE", "BUSY", "STOPPING", "CLOSED", "EXITING", "GONE"};

/* worker_moves[from][to]: the moves a worker may make (executor_int.h says when). */
static const bool worker_moves[W__COUNT][W__COUNT] = {
    /*               STARTING IDLE  BUSY   STOPPING CLOSED EXITING GONE */
    [W_STARTING] = {false,   true, true,  true,    true,  false,  false},
    [W_IDLE]     = {false,   false, true, true,    true,  false,  false},
    [W_BUSY]     = {false,   true, false, true,    true,  true,   false},
    [W_STOPPING] = {false,   false, false, false,  true,  false,  false},
    [W_CLOSED]   = {false,   false, false, false,  false, false,  true},
    [W_EXITING]  = {false,   false, false, false,  false, false,  true},
    [W_GONE]     = {false,   false, false, false,  false, false,  false},
};

static const char *const mstate_name[M__COUNT] = {"SERVING", "STOPPING", "BROKEN", "DONE"};

static const bool mgr_moves[M__COUNT][M__COUNT] = {
    /*               SERVING STOPPING BROKEN DONE */
    [M_SERVING]  = {false,  true,    true,  false},
    [M_STOPPING] = {false,  false,   true,  true},
    [M_BROKEN]   = {false,  false,   false, true},
    [M_DONE]     = {false,  false,   false, false},
};

/* A move the tables forbid is a bug in this file: debug builds stop at it; release builds
 * break the pool with a cause that says so (nothing hangs, and the report names the move). */
static void illegal_move(pp_executor *ex, const char *what, const char *from, const char *to,
                         long long pid)
{
    char cause[256];
    snprintf(cause, sizeof cause, "internal error: %s moved from %s to %s", what, from, to);
#ifndef NDEBUG
    pp__assert_fail(cause, __FILE__, __LINE__);
#endif
    pp__record_break(ex, cause, 0, pid, NULL);
}

void pp__worker_set_state(pp_executor *ex, worker *w, wstate to)
{
    if (!worker_moves[w->state][to]) {
        illegal_move(ex, "a worker", wstate_name[w->state], wstate_name[to], w->pid);
        return;
    }
    w->state = to;
    if (to == W_IDLE && ex->idle_timeout_ms)
        w->idle_since = pp__os_monotonic_ms();
}

static void mgr_set_state(pp_executor *ex, mstate to)
{
    if (!mgr_moves[ex->mstate][to]) {
        illegal_move(ex, "the manager", mstate_name[ex->mstate], mstate_name[to], 0);
        return;
    }
    ex->mstate = to;
}

/* ---- describing a worker's end ---- */

/* "exited with code 3" / "killed by signal 9 (SIGKILL)"; *code gets exit code or -signal.
 * remote: a worker on another host (PP_START_MPI), which has no exit status. An unknown
 * status is never made up: the signal the worker reported (CRASH) stands in for it, else
 * the text says it is unknown and, where the backend can tell, why. */
static void describe_exit(const pp__exit *st, const worker *w, bool remote, char *buf,
                          size_t cap, int *code)
{
    if (PP__EXIT_LOST(st) && w->crashed) {
        const char *sig = pp__os_signal_name((int)w->crash_code);
        const char *exc = pp__os_exit_name((int)w->crash_code);
        if (sig) {
            snprintf(buf, cap, "killed by signal %d (%s, as it reported; %s)",
                     (int)w->crash_code, sig,
                     remote ? "its connection ended" : "its exit status was not collected");
            *code = -(int)w->crash_code;
        } else {
            snprintf(buf, cap, "died of exception 0x%08X (%s, as it reported)",
                     (unsigned)w->crash_code, exc ? exc : "unknown");
            *code = (int)w->crash_code;
        }
        return;
    }
    if (remote && PP__EXIT_LOST(st)) {
        snprintf(buf, cap, "lost its connection (the process ended, or its host is gone)");
        *code = 0;
        return;
    }
    if (st->exited) {
        const char *name = pp__os_exit_name(st->code);
        if (name)
            snprintf(buf, cap, "exited with code 0x%08X (%s)", (unsigned)st->code, name);
        else
            snprintf(buf, cap, "exited with code %d", st->code);
        *code = st->code;
    } else if (st->signal) {
        const char *name = pp__os_signal_name(st->signal);
        snprintf(buf, cap, "killed by signal %d (%s)", st->signal, name ? name : "unknown");
        *code = -st->signal;
    } else {
        const char *why = pp__os_proc_lost_why(w->proc);
        snprintf(buf, cap, "ended; how is unknown (%s)",
                 why ? why : "its exit status could not be collected");
        *code = 0;
    }
}

/* What the worker was doing: "running 'decode' (work 17)", "in the initializer 'init'",
 * "while idle"; at_item: its map chunk's progress is known (chunk_salvage), and the item it
 * was running is named ("(work 17, item 3 of its chunk of 10, from 0)"). Everything it
 * sent is read before its end is handled, so a worker that never sent READY died in its
 * initializer, or before. */
static void describe_activity(const pp_executor *ex, const worker *w, bool at_item, char *buf,
                              size_t cap)
{
    if (!w->ready && ex->initializer)
        snprintf(buf, cap, "in the initializer '%s'", ex->initializer);
    else if (!w->ready)
        snprintf(buf, cap, "while starting");
    else if (w->item && at_item && w->item->acc_n < w->item->chunk_n)
        snprintf(buf, cap, "running '%s' (work %llu, item %u of its chunk of %u, from 0)",
                 w->item->task, (unsigned long long)w->item->id, (unsigned)w->item->acc_n,
                 (unsigned)w->item->chunk_n);
    else if (w->item)
        snprintf(buf, cap, "running '%s' (work %llu)", w->item->task,
                 (unsigned long long)w->item->id);
    else
        snprintf(buf, cap, "while idle");
}

/* ---- breaking the pool: recorded where detected, carried out at one point ---- */

/* A handed-out item to fail when the recorded break is carried out (with the call queue). */
static void fail_with_break(pp_executor *ex, work *it)
{
    it->next = ex->callq;
    ex->callq = it;
    if (!it->next)
        ex->callq_tail = &it->next;
}

void pp__record_break(pp_executor *ex, const char *cause, int code, long long pid, work *held)
{
    if (ex->brk.set || ex->mstate == M_BROKEN || ex->mstate == M_DONE) {
        /* a second cause: the first is the one reported; what this worker held fails
         * with everything else */
        if (held)
            fail_with_break(ex, held);
        return;
    }
    ex->brk = (pending_break){true, !ex->forced, pp__strdup(cause), code, pid, held};
}

/* Carries out the recorded break: sets the broken (or, for workers we signalled ourselves,
 * only the shutdown) flag first, so that a submit made after seeing a broken future gets
 * PP_EBROKEN; fails the item of the worker at fault with the cause, every other handed-out
 * and queued item with the prefix; tells every live worker to terminate, with a deadline
 * for the kill (as CPython does: their state is unknown). */
static void break_now(pp_executor *ex)
{
    static const char no_memory[] = "the pool broke (out of memory describing why)";
    const char *cause = ex->brk.cause ? ex->brk.cause : no_memory;
    int code = ex->brk.code;
    long long pid = ex->brk.pid;
    work *queued = pp__mark_broken(ex, ex->brk.broken, cause, code, pid), *it0;
    if (ex->brk.held)
        pp__fail_broken(ex, ex->brk.held, "", cause, code, pid);
    ex->brk.held = NULL;
    for (worker *w = ex->workers; w; w = w->next) {
        if (w->item) {
            work *it = w->item;
            w->item = NULL;
            pp__fail_broken(ex, it, BROKEN_PREFIX, cause, code, pid);
        }
        while ((it0 = pop_ahead(w)) != NULL)
            pp__fail_broken(ex, it0, BROKEN_PREFIX, cause, code, pid);
    }
    work *it;
    while ((it = pp__fifo_pop(&ex->callq, &ex->callq_tail)) != NULL)
        pp__fail_broken(ex, it, BROKEN_PREFIX, cause, code, pid);
    while ((it = queued) != NULL) {
        queued = it->next;
        pp__fail_broken(ex, it, BROKEN_PREFIX, cause, code, pid);
    }
    ex->n_handed = 0;
    pp__free(ex->brk.cause);
    ex->brk.cause = NULL;

    int64_t kill_at = pp__os_monotonic_ms() + REAP_GRACE_MS;
    for (worker *w = ex->workers; w; w = w->next) {
        if (!worker_live(w))
            continue;
        pp__os_proc_stop(w->proc, false, NULL);
        w->kill_at = kill_at;
        if (w->state != W_STOPPING)
            pp__worker_set_state(ex, w, W_STOPPING);
    }
    mgr_set_state(ex, M_BROKEN);
}

/* ---- stopping one call: time limit, pp_future_abort, pp_executor_stop ---- */

/* A ready worker has been given its item: it is busy from now, and its time limit, if
 * any, runs from now. */
static void start_clock(worker *w)
{
    w->busy_since = pp__os_monotonic_ms();
    if (w->item && w->item->limit_ms > 0)
        w->item->deadline = w->busy_since + w->item->limit_ms;
}

/* Asks the worker's call to stop (its shared flag: pp_task_should_stop) and sets when it
 * is killed if it has not returned: after grace_ms (0: at once, in the next reap_pass). */
static void ask_stop(pp_executor *ex, worker *w, stop_kind why, long grace_ms)
{
    (void)ex;
    if (w->stop_reason != STOP_NONE || !w->item)
        return;
    w->stop_reason = why;
    if (w->wshm)
        atomic_store_explicit(&w->wshm->stop_id, w->item->id, memory_order_release);
    w->kill_at = pp__os_monotonic_ms() + grace_ms;
    if (w->kill_at == 0)
        w->kill_at = 1; /* 0 means "no deadline" */
}

/* The call of a worker asked to stop returned (within the grace): the worker is reused. */
static stop_kind stop_answered(worker *w)
{
    stop_kind why = w->stop_reason;
    w->stop_reason = STOP_NONE;
    w->kill_at = 0;
    if (w->wshm)
        atomic_store_explicit(&w->wshm->stop_id, 0, memory_order_release);
    return why;
}

/* The text of a call that was stopped (item: a map chunk's item, from 0; UINT32_MAX:
 * the whole call). */
static char *stopped_msg(const work *it, uint32_t item, stop_kind why, long long pid,
                         bool killed, long grace_ms)
{
    const char *what = why == STOP_TIMELIMIT ? "ran past its time limit"
                       : why == STOP_ABORT   ? "was aborted (pp_future_abort)"
                                             : "was stopped (pp_executor_stop)";
    char call[PP__NAME_MAX + 96];
    if (item == UINT32_MAX)
        snprintf(call, sizeof call, "the call '%s' (work %llu)", it->task,
                 (unsigned long long)it->id);
    else
        snprintf(call, sizeof call, "the call '%s' (work %llu, item %u of its chunk of %u, "
                 "from 0)", it->task, (unsigned long long)it->id, (unsigned)item,
                 (unsigned)it->chunk_n);
    char *msg;
    if (killed)
        msg = pp__asprintf("%s %s: it was asked to stop, and worker %lld was killed after a "
                           "grace of %ld ms", call, what, pid, grace_ms);
    else
        msg = pp__asprintf("%s %s: it was asked to stop and returned within the grace "
                           "(worker %lld); its outcome is dropped", call, what, pid);
    if (msg && why == STOP_TIMELIMIT) {
        char *m2 = pp__asprintf("%s (time limit %ld ms)", msg, it->limit_ms);
        if (m2) {
            pp__free(msg);
            msg = m2;
        }
    }
    return msg;
}

/* Fails a call that was stopped: PP_ETIMELIMIT for a time limit, else PP_ECANCELLED. */
static void fail_stopped(pp_executor *ex, work *it, stop_kind why, long long pid,
                         bool killed, long grace_ms)
{
    pp_status st = why == STOP_TIMELIMIT ? PP_ETIMELIMIT : PP_ECANCELLED;
    char *msg = stopped_msg(it, UINT32_MAX, why, pid, killed, grace_ms);
    pp__stats_add(ex, st == PP_ECANCELLED ? &ex->stats.cancelled : &ex->stats.failed);
    pp__future_finish_error(it->f, st, 0, pid, msg);
    pp__work_free(it);
}

static void chunk_continue(pp_executor *ex, work *it, uint32_t from, bool rerun, int retries,
                           long long pid); /* (below: map chunks) */
static void sweep_revoked(pp_executor *ex, worker *w); /* (below: the pipeline) */
static void cancel_unstarted(pp_executor *ex);
static bool revoke_ahead(worker *w, work *it);
static void free_unsent(worker *w, work *it);
static void detach(work *it);
static void promote(pp_executor *ex, worker *w);

/* The requests callers made since the last pass: pp_future_abort (work ids), and
 * pp_executor_stop. Calls still in the call queue have not started: they end at once. */
static void serve_stop_requests(pp_executor *ex)
{
    /* cleared before the list is read: a request made after this sets it again */
    if (!atomic_exchange(&ex->stop_asked, false))
        return;
    apr_thread_mutex_lock(ex->lock);
    size_t n = ex->n_aborts;
    uint64_t small[16], *ids = n <= 16 ? small : pp__malloc(n * sizeof *ids);
    if (!ids) {
        n = 0; /* out of memory: they are served at the next pass */
        atomic_store(&ex->stop_asked, true);
    }
    else if (n)
        memcpy(ids, ex->aborts, n * sizeof *ids);
    ex->n_aborts -= n;
    bool stop_all = ex->stop_all && !ex->stopped_all;
    long grace = ex->stop_all_grace;
    bool revoked = ex->revoked, cancel_queued = ex->cancel_queued;
    ex->revoked = ex->cancel_queued = false;
    apr_thread_mutex_unlock(ex->lock);
    if (stop_all)
        ex->stopped_all = true;
    if (cancel_queued && ex->mstate == M_SERVING && !ex->brk.set)
        cancel_unstarted(ex); /* (sweeps too) */
    else if (revoked && ex->mstate == M_SERVING && !ex->brk.set)
        for (worker *w = ex->workers; w; w = w->next)
            sweep_revoked(ex, w);
    if ((n == 0 && !stop_all) || ex->brk.set || ex->mstate == M_BROKEN ||
        ex->mstate == M_DONE) {
        if (ids != small)
            pp__free(ids);
        return;
    }
    /* not started: out of the call queue, cancelled */
    work **pp = &ex->callq, *last = NULL;
    while (*pp) {
        work *it = *pp;
        bool hit = stop_all;
        for (size_t i = 0; i < n && !hit; i++)
            hit = ids[i] == it->id;
        if (!hit) {
            last = it;
            pp = &it->next;
            continue;
        }
        *pp = it->next;
        if (it->acc.data) { /* the rest of a map chunk: its done items keep their results */
            chunk_continue(ex, it, 0, false, 0, 0);
            continue;
        }
        ex->n_handed--;
        fail_stopped(ex, it, stop_all ? STOP_EXEC : STOP_ABORT, 0, false, 0);
    }
    ex->callq_tail = last ? &last->next : &ex->callq;
    /* queued ahead: not started, cancelled (pp_executor_stop); started behind the first
     * call (its RESULT not yet read): asked once it is the first */
    for (worker *w = ex->workers; w; w = w->next) {
        if (!worker_live(w))
            continue;
        work *next;
        for (work *it = w->ahead; it; it = next) {
            next = it->next;
            bool hit = stop_all;
            for (size_t i = 0; i < n && !hit; i++)
                hit = ids[i] == it->id;
            if (!hit)
                continue;
            if (stop_all && revoke_ahead(w, it)) {
                ex->n_handed--;
                pp__stats_add(ex, &ex->stats.cancelled);
                pp__future_finish_error(it->f, PP_ECANCELLED, 0, 0,
                                        stopped_msg(it, UINT32_MAX, STOP_EXEC, 0, false, 0));
                free_unsent(w, it);
                continue;
            }
            it->stop_later = stop_all ? STOP_EXEC : STOP_ABORT;
        }
        work *h = w->item;
        uint64_t v = h ? PP__SLOT(h->id, PP__SLOT_QUEUED) : 0;
        if (stop_all && h && h->slot >= 0 && w->wshm && w->stop_reason == STOP_NONE &&
            atomic_compare_exchange_strong_explicit(pp__wshm_slot(w->wshm, h->slot), &v,
                                                    PP__SLOT(h->id, PP__SLOT_REVOKED),
                                                    memory_order_acq_rel,
                                                    memory_order_acquire)) {
            /* its first call, not started either */
            w->item = NULL;
            detach(h);
            ex->n_handed--;
            pp__stats_add(ex, &ex->stats.cancelled);
            pp__future_finish_error(h->f, PP_ECANCELLED, 0, 0,
                                    stopped_msg(h, UINT32_MAX, STOP_EXEC, 0, false, 0));
            free_unsent(w, h);
            promote(ex, w);
        }
    }
    /* running: asked, then killed after the grace */
    for (worker *w = ex->workers; w; w = w->next) {
        if (!w->item || !worker_live(w))
            continue;
        if (stop_all) {
            ask_stop(ex, w, STOP_EXEC, grace);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (ids[i] == w->item->id)
                ask_stop(ex, w, STOP_ABORT, ex->stop_grace_ms);
    }
    if (ids != small)
        pp__free(ids);
}

/* ---- the pipeline: calls queued ahead to a worker (docs/design.md, "The pipeline") ----
 *
 * A worker may hold up to ex->pipeline calls: w->item (the first: running, or about to)
 * and w->ahead behind it. Each has a slot in the worker's block (wshm.h) that the worker
 * claims (CAS to 0) when it starts the call; until then a caller's cancel (future.c) or
 * the manager (revoke_ahead) can revoke it (CAS to REVOKED), and the worker skips it. */

int pp__pipeline_depth(void)
{
    const char *e = getenv("PROCPOOL_PIPELINE");
    if (!e || !*e)
        return PIPE_DEFAULT;
    char *end;
    long v = strtol(e, &end, 10);
    if (*end || v < 0)
        return PIPE_DEFAULT;
    return v > PIPE_MAX ? PIPE_MAX : (int)v;
}

void pp__revoked_hook(void *ctx, uint64_t work_id)
{
    (void)work_id;
    pp_executor *ex = ctx;
    apr_thread_mutex_lock(ex->lock);
    ex->revoked = true;
    atomic_store(&ex->stop_asked, true);
    apr_thread_mutex_unlock(ex->lock);
    pp__os_waitset_wake(ex->ws);
}

enum { SL_NONE, SL_QUEUED, SL_REVOKED, SL_STARTED };

/* Where item it of worker w is, as its slot says (SL_NONE: it has none: handed out the old
 * way, started as far as anyone knows). A slot the worker has let go of (0, or reused) means
 * it claimed the call, or skipped it because a caller revoked it: then its future is
 * cancelled, which the caller set under the future lock together with the revoke (a claimed
 * call cannot be cancelled), so the lock is taken to read it. */
static int slot_state(const worker *w, const work *it)
{
    if (it->slot < 0 || !w->wshm)
        return SL_NONE;
    uint64_t v = atomic_load_explicit(pp__wshm_slot(w->wshm, it->slot), memory_order_acquire);
    if (v == PP__SLOT(it->id, PP__SLOT_QUEUED))
        return SL_QUEUED;
    if (v == PP__SLOT(it->id, PP__SLOT_REVOKED))
        return SL_REVOKED;
    apr_thread_mutex_lock(pp__flock);
    bool cancelled = pp_future_cancelled(it->f);
    apr_thread_mutex_unlock(pp__flock);
    return cancelled ? SL_REVOKED : SL_STARTED;
}

/* The item leaves its slot (before the block can go away): its future is RUNNING if the
 * worker had started it. */
static void detach(work *it)
{
    if (it->slot < 0)
        return;
    (void)pp__future_unslot(it->f);
    it->slot = -1;
}

/* Each call queued ahead holds a slot until the worker is done with it: the deepest
 * pipeline must find one for each (else it would be shallower than it says). */
_Static_assert(PIPE_MAX <= PP__WSHM_SLOTS, "PROCPOOL_PIPELINE's most needs a slot a call");

/* A slot of w's block the worker is done with, or -1. */
static int free_slot(const worker *w)
{
    for (int i = 0; i < PP__WSHM_SLOTS; i++)
        if (atomic_load_explicit(pp__wshm_slot(w->wshm, i), memory_order_acquire) == 0)
            return i;
    return -1;
}

/* The calls w holds, the first included. */
static unsigned held_calls(const worker *w)
{
    return (w->item != NULL) + w->n_ahead;
}

static work *pop_ahead(worker *w)
{
    work *it = w->ahead;
    if (it) {
        w->ahead = it->next;
        if (!w->ahead)
            w->ahead_tail = &w->ahead;
        w->n_ahead--;
        it->next = NULL;
    }
    return it;
}

/* Frees an item taken from worker w before its RESULT: its CALL frame may still wait in w's
 * output queue (or be half written), so it is then freed once that queue is empty
 * (pp__worker_flush, pp__worker_free). */
static bool frame_queued(const worker *w, work *it)
{
    const uint8_t *p = work_frame(it);
    for (unsigned i = 0; i < w->out_n; i++)
        if (w->out[(w->out_head + i) % OUTQ].p == p)
            return true;
    return false;
}

static void free_unsent(worker *w, work *it)
{
    if (frame_queued(w, it)) {
        it->next = w->limbo;
        w->limbo = it;
        return;
    }
    pp__work_free(it);
}

/* A call revoked by a caller (its future is cancelled): dropped, counted. */
static void drop_revoked(pp_executor *ex, worker *w, work *it)
{
    detach(it);
    ex->n_handed--;
    pp__stats_add(ex, &ex->stats.cancelled);
    free_unsent(w, it);
}

/* w's first call is done (or gone): the next queued ahead becomes the first, or w is idle. */
static void promote(pp_executor *ex, worker *w)
{
    w->item = pop_ahead(w);
    if (!w->item) {
        if (w->state == W_BUSY)
            pp__worker_set_state(ex, w, W_IDLE);
        return;
    }
    if (w->state == W_BUSY)
        start_clock(w);
    if (w->item->stop_later != STOP_NONE) {
        stop_kind why = (stop_kind)w->item->stop_later;
        w->item->stop_later = STOP_NONE;
        ask_stop(ex, w, why, why == STOP_EXEC ? ex->stop_all_grace : ex->stop_grace_ms);
    }
}

/* Drops w's calls that callers revoked (cancelled before they started). */
static void sweep_revoked(pp_executor *ex, worker *w)
{
    work **pp = &w->ahead, *last = NULL;
    while (*pp) {
        work *it = *pp;
        if (slot_state(w, it) == SL_REVOKED) {
            *pp = it->next;
            w->n_ahead--;
            drop_revoked(ex, w, it);
            continue;
        }
        last = it;
        pp = &it->next;
    }
    w->ahead_tail = last ? &last->next : &w->ahead;
    while (w->item && slot_state(w, w->item) == SL_REVOKED) {
        work *it = w->item;
        w->item = NULL;
        drop_revoked(ex, w, it);
        promote(ex, w);
    }
}

/* The calls w holds that it has not started (all queued ahead; the first too when its slot
 * says so) go back to the front of the call queue, in order: not a retry. w->item is left
 * holding the call it had started, if any. Revoked ones are dropped. */
static void requeue_unstarted(pp_executor *ex, worker *w)
{
    work *list = w->ahead, **tail = w->ahead_tail;
    w->ahead = NULL;
    w->ahead_tail = &w->ahead;
    w->n_ahead = 0;
    if (w->item) {
        int st = slot_state(w, w->item);
        if (st == SL_QUEUED || st == SL_REVOKED) {
            work *h = w->item;
            w->item = NULL;
            h->next = list;
            if (!list)
                tail = &h->next;
            list = h;
        } else {
            detach(w->item);
        }
    }
    if (!list)
        return;
    /* the revoked ones out; then the rest before the call queue */
    work *keep = NULL, **kt = &keep;
    while (list) {
        work *it = list;
        list = it->next;
        it->next = NULL;
        if (slot_state(w, it) == SL_REVOKED) {
            drop_revoked(ex, w, it);
            continue;
        }
        detach(it);
        it->stop_later = STOP_NONE;
        *kt = it;
        kt = &it->next;
    }
    (void)tail;
    if (!keep)
        return;
    *kt = ex->callq;
    if (!ex->callq)
        ex->callq_tail = kt;
    ex->callq = keep;
}

/* The manager takes back a call queued ahead that w has not started (for an idle worker, or
 * to cancel it): true if it won the slot. The call is then the caller's (unlinked, its slot
 * let go; its future still PENDING). */
static bool revoke_ahead(worker *w, work *it)
{
    uint64_t v = PP__SLOT(it->id, PP__SLOT_QUEUED);
    if (it->slot < 0 || !w->wshm ||
        !atomic_compare_exchange_strong_explicit(pp__wshm_slot(w->wshm, it->slot), &v,
                                                 PP__SLOT(it->id, PP__SLOT_REVOKED),
                                                 memory_order_acq_rel, memory_order_acquire))
        return false;
    work **pp = &w->ahead, *last = NULL;
    while (*pp && *pp != it) {
        last = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = it->next;
        w->n_ahead--;
        if (!*pp)
            w->ahead_tail = last ? &last->next : &w->ahead;
    }
    it->next = NULL;
    detach(it);
    return true;
}

/* shutdown(cancel_futures): the calls handed out but not started are cancelled (the call
 * queue; calls queued ahead through their slots). */
static void cancel_unstarted(pp_executor *ex)
{
    work **pp = &ex->callq, *last = NULL;
    while (*pp) {
        work *it = *pp;
        if (!it->acc.data && pp_future_cancel(it->f)) {
            *pp = it->next;
            ex->n_handed--;
            pp__stats_add(ex, &ex->stats.cancelled);
            pp__work_free(it);
            continue;
        }
        last = it;
        pp = &it->next;
    }
    ex->callq_tail = last ? &last->next : &ex->callq;
    for (worker *w = ex->workers; w; w = w->next) {
        for (work *it = w->ahead; it; it = it->next)
            if (it->slot >= 0)
                (void)pp_future_cancel(it->f); /* revoked through its slot, or started */
        if (w->item && w->item->slot >= 0)
            (void)pp_future_cancel(w->item->f);
        sweep_revoked(ex, w);
    }
}

/* ---- a worker's end ---- */

/* Unlinks a worker whose process is reaped, unpublishes its pid; freed after the pass. */
static void worker_drop(pp_executor *ex, worker *w)
{
    for (worker **pp = &ex->workers; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    ex->n_workers--;
    pp__os_waitset_remove(ex->ws, w);
    apr_thread_mutex_lock(ex->lock);
    for (size_t i = 0; i < ex->n_pids; i++) {
        if (ex->pids[i] == w->pid) {
            ex->pids[i] = ex->pids[--ex->n_pids];
            break;
        }
    }
    ex->stats.workers = (int)ex->n_pids; /* with the pid list, under the same lock */
    apr_thread_mutex_unlock(ex->lock);
    work *ah;
    while ((ah = pop_ahead(w)) != NULL) { /* as w->item below */
        PP__ASSERT(ex->brk.set);
        fail_with_break(ex, ah);
    }
    if (w->item) { /* only while a break is pending: it fails with the rest */
        PP__ASSERT(ex->brk.set);
        fail_with_break(ex, w->item);
        w->item = NULL;
    }
    pp__worker_set_state(ex, w, W_GONE);
    w->next = ex->graveyard;
    ex->graveyard = w;
}

/* The call goes back to the front of the call queue (still handed out, still running for
 * its future) for the next worker. */
static void requeue_front(pp_executor *ex, work *it)
{
    it->next = ex->callq;
    ex->callq = it;
    if (!it->next)
        ex->callq_tail = &it->next;
}

/* ---- map chunks: precise blame (docs/design.md, "Map chunks") ----
 *
 * A chunk's result normally arrives in one RESULT and becomes its future's result as it is.
 * When it comes in pieces (frames flagged MORE; a worker that died or was stopped
 * part-way), the items so far are gathered in the item's `acc`, an assembled body (wire.h),
 * and what is left of the chunk runs again as a new CALL of the same id (chunk_rest). Only
 * under ISOLATE / RETRY and for calls asked to stop: under BREAK a death still fails the
 * whole chunk with the pool. */

/* A map chunk whose worker's progress can be known (it has a shared block; or the chunk
 * is already in pieces): blamed item by item. */
static bool chunk_blame(const worker *w, const work *it)
{
    return it->raw && it->chunk_n > 1 && (w->wshm || it->acc.data);
}

/* Appends n checked items of this CALL, run by worker pid, to the chunk's assembled body. */
static void acc_items(work *it, pp__wire_cur cur, uint32_t n, long long pid)
{
    if (!it->acc.data && pp__wire_assembled_begin(&it->acc) != PP_OK)
        it->acc_nomem = true;
    for (uint32_t i = 0; i < n; i++) {
        pp__wire_item x;
        pp__wire_next_item(&cur, &x);
        if (!it->acc_nomem &&
            pp__wire_assembled_item(&it->acc, x.status, x.code, pid, x.data, x.len) != PP_OK)
            it->acc_nomem = true;
    }
    it->acc_n += n;
    it->got += n;
}

/* Appends one item the manager decides (the one a worker died or was stopped running, or
 * one that will not run): status, code, text (owned, may be NULL). */
static void acc_failed(work *it, pp_status st, int code, long long pid, char *msg)
{
    const char *text = msg ? msg : pp_strerror(st);
    if (!it->acc.data && pp__wire_assembled_begin(&it->acc) != PP_OK)
        it->acc_nomem = true;
    if (!it->acc_nomem &&
        pp__wire_assembled_item(&it->acc, st, code, pid, text, strlen(text)) != PP_OK)
        it->acc_nomem = true;
    pp__free(msg);
    it->acc_n++;
    it->got++;
}

/* A worker that ended while it held a map chunk: the items it finished but the manager has
 * not received are in its shared block (wshm.h); they join the chunk's body. Then the item
 * it was running is it->got (it->n: it had finished them all). Anything inconsistent in
 * the block (it is the dead process's memory) adds nothing. */
static void chunk_salvage(worker *w, work *it)
{
    if (!w->wshm ||
        atomic_load_explicit(&w->wshm->run_id, memory_order_acquire) != it->id)
        return;
    uint32_t first = atomic_load_explicit(&w->wshm->first, memory_order_acquire);
    uint32_t n = atomic_load_explicit(&w->wshm->n, memory_order_acquire);
    uint64_t len = atomic_load_explicit(&w->wshm->len, memory_order_acquire);
    const size_t fixed = PP__WIRE_HDR + 12; /* the area's frame: header, work id, count */
    if (first > it->got || n > it->n - first || len > PP__WSHM_AREA_SIZE - fixed)
        return;
    pp__wire_cur cur;
    if (pp__wire_check_items(pp__wshm_area(w->wshm) + fixed, (size_t)len, n, &cur) != PP_OK)
        return;
    uint32_t skip = it->got - first; /* received already, in a MORE frame */
    if (skip >= n)
        return;
    for (uint32_t i = 0; i < skip; i++) {
        pp__wire_item x;
        pp__wire_next_item(&cur, &x);
    }
    acc_items(it, cur, n - skip, w->pid);
}

/* The rest of a chunk, items from..n of this CALL, as a new CALL of the same id that holds
 * what was done (it is freed, its future and body moved). NULL: out of memory (it is
 * untouched). */
static work *chunk_rest(work *it, uint32_t from, int retries)
{
    pp__wire_call c;
    if (pp__wire_decode_call(work_frame(it) + PP__WIRE_HDR, it->frame_len - PP__WIRE_HDR,
                             &c) != PP_OK)
        return NULL; /* cannot happen: we encoded it */
    uint32_t n = it->n - from;
    pp_buf *args = pp__malloc(n * sizeof *args);
    if (!args)
        return NULL;
    pp__wire_cur cur = c.args;
    for (uint32_t i = 0; i < it->n; i++) {
        pp_buf a;
        pp__wire_next_arg(&cur, &a);
        if (i >= from)
            args[i - from] = a;
    }
    size_t fl = pp__wire_call_size(c.name_len, args, n);
    work *nw = fl == SIZE_MAX ? NULL : pp__malloc(sizeof *nw + fl);
    if (nw) {
        *nw = *it;
        nw->n = n;
        nw->got = 0;
        nw->retries = retries;
        nw->deadline = 0;
        nw->frame_len = fl;
        nw->next = NULL;
        nw->embedded = false;
        pp__wire_encode_call(work_frame(nw), it->id, c.name, c.name_len, args, n);
        if (!it->embedded) /* (an embedded one goes with its future, which nw now holds) */
            pp__free(it);
    }
    pp__free(args);
    return nw;
}

/* The chunk is done: its future gets the assembled body (every item has its outcome). */
static void chunk_finish(pp_executor *ex, work *it, long long pid)
{
    ex->n_handed--;
    if (it->acc_nomem || !it->acc.data) {
        pp__stats_add(ex, &ex->stats.failed);
        pp__future_finish_error(it->f, PP_ENOMEM, 0, pid,
                                pp__strdup("out of memory assembling a map chunk's results"));
    } else {
        pp__wire_assembled_end(&it->acc, it->acc_n);
        pp__stats_add(ex, &ex->stats.completed);
        uint8_t *body = it->acc.data;
        it->acc.data = NULL;
        pp__future_finish_owned(it->f, body, body, it->acc.len, pid);
    }
    pp__work_free(it);
}

/* The chunk goes on from item `from` of this CALL (the items before are in acc): the rest
 * runs again, first in the call queue (rerun: its first item has had `retries`), or ends
 * PP_ECANCELLED (cancel); with nothing left the chunk is done. */
static void chunk_continue(pp_executor *ex, work *it, uint32_t from, bool rerun, int retries,
                           long long pid)
{
    if (from < it->n && rerun && ex->mstate == M_SERVING && !ex->brk.set) {
        work *nw = chunk_rest(it, from, retries);
        if (nw) {
            requeue_front(ex, nw);
            return;
        }
        it->acc_nomem = true;
    }
    while (it->got < it->n) /* not started, and will not be */
        acc_failed(it, PP_ECANCELLED, 0, 0,
                   pp__asprintf("the call '%s' (work %llu) was cancelled before this item of "
                                "its chunk started", it->task, (unsigned long long)it->id));
    chunk_finish(ex, it, pid);
}

/* PP_CRASH_ISOLATE / RETRY, a worker died holding a map chunk (its progress salvaged): the
 * item it was running is retried (RETRY, that item's retries left: counted as a call's) or
 * fails PP_EWORKERDIED; the items after it run again; the finished ones keep their
 * results. */
static void chunk_isolate(pp_executor *ex, worker *w, work *it, const char *cause, int code)
{
    if (it->got == it->n) { /* it had finished them all: nothing to blame */
        chunk_continue(ex, it, it->n, false, 0, w->pid);
        return;
    }
    int item_retries = it->got == 0 ? it->retries : 0;
    if (ex->crash_policy == PP_CRASH_RETRY && item_retries < ex->max_retries) {
        chunk_continue(ex, it, it->got, true, item_retries + 1, w->pid);
        return;
    }
    char *msg = ex->crash_policy == PP_CRASH_RETRY
                    ? pp__asprintf("%s after %d %s", cause, item_retries,
                                   item_retries == 1 ? "retry" : "retries")
                    : pp__strdup(cause);
    acc_failed(it, PP_EWORKERDIED, code, w->pid, msg);
    chunk_continue(ex, it, it->got, true, 0, w->pid);
}

/* A map chunk asked to stop (time limit, pp_future_abort, pp_executor_stop), its item
 * it->got the one running then: killed (the worker was killed after the grace), or it
 * returned within the grace, its outcome the last item of `r` (last, not yet in acc). That
 * item ends as a stopped call does; after it, the chunk runs again for a time limit (each
 * run of the chunk has the limit), and ends PP_ECANCELLED for an abort or a stop. */
static void chunk_stopped(pp_executor *ex, worker *w, work *it, stop_kind why, bool killed,
                          long grace_ms, const pp__wire_item *last)
{
    if (it->got < it->n) {
        uint32_t item = it->acc_n;
        if (why == STOP_EXEC && last) { /* pp_executor_stop keeps what returned */
            if (!it->acc.data && pp__wire_assembled_begin(&it->acc) != PP_OK)
                it->acc_nomem = true;
            if (!it->acc_nomem && pp__wire_assembled_item(&it->acc, last->status, last->code,
                                                          w->pid, last->data,
                                                          last->len) != PP_OK)
                it->acc_nomem = true;
            it->acc_n++;
            it->got++;
        } else {
            acc_failed(it, why == STOP_TIMELIMIT ? PP_ETIMELIMIT : PP_ECANCELLED, 0, w->pid,
                       stopped_msg(it, item, why, w->pid, killed, grace_ms));
        }
    }
    chunk_continue(ex, it, it->got, why == STOP_TIMELIMIT, 0, w->pid);
}

/*
 * PP_CRASH_ISOLATE / PP_CRASH_RETRY: a worker died; only the call it held (if any) is
 * concerned: run again (RETRY, retries left; or the worker was not even ready, so the call
 * never started) or failed PP_EWORKERDIED. Workers that keep dying before they are ready
 * break the pool instead (false: the caller records the break).
 */
static bool isolate(pp_executor *ex, worker *w, work *held, bool at_item, const char *cause,
                    int code)
{
    if (!w->ready) {
        if (++ex->early_deaths >= EARLY_DEATHS_MAX)
            return false;
        if (held)
            requeue_front(ex, held); /* it waited behind INIT: it never started */
        return true;
    }
    if (!held)
        return true; /* died idle: replaced when work needs a worker */
    if (at_item) { /* a map chunk whose progress is known */
        chunk_isolate(ex, w, held, cause, code);
        return true;
    }
    if (ex->crash_policy == PP_CRASH_RETRY && held->retries < ex->max_retries) {
        held->retries++;
        requeue_front(ex, held);
        return true;
    }
    char *msg = ex->crash_policy == PP_CRASH_RETRY
                    ? pp__asprintf("%s after %d %s", cause, held->retries,
                                   held->retries == 1 ? "retry" : "retries")
                    : pp__strdup(cause);
    ex->n_handed--;
    pp__stats_add(ex, &ex->stats.failed);
    pp__future_finish_error(held->f, PP_EWORKERDIED, code, w->pid, msg);
    pp__work_free(held);
    return true;
}

/*
 * The worker's end, with its exit status: expected (it was stopping, and neither failed
 * its initializer nor was killed for a malformed message), isolated (the crash policy), or
 * it breaks the pool. from: the state it was in when it ended. Deaths after the pool broke
 * are expected: every worker was told to terminate.
 */
static void worker_ended(pp_executor *ex, worker *w, wstate from, const pp__exit *st)
{
    /* the calls it had not started: back to the front of the call queue (under a break,
     * they fail there with the pool) */
    requeue_unstarted(ex, w);
    if (w->stop_reason != STOP_NONE && !ex->brk.set && ex->mstate != M_BROKEN) {
        /* killed (or ended) after its call was asked to stop: asked for, not a death */
        work *it = w->item;
        w->item = NULL;
        if (it) {
            long grace = w->stop_reason == STOP_EXEC ? ex->stop_all_grace : ex->stop_grace_ms;
            if (chunk_blame(w, it)) {
                chunk_salvage(w, it);
                chunk_stopped(ex, w, it, w->stop_reason, true, grace, NULL);
                return;
            }
            ex->n_handed--;
            fail_stopped(ex, it, w->stop_reason, w->pid, true, grace);
        }
        return;
    }
    if ((from == W_STOPPING && !w->init_err && !w->faulted) || ex->brk.set ||
        ex->mstate == M_BROKEN)
        return;
    if (!ex->forced) /* deaths nobody asked for; terminate / kill_workers asked */
        pp__stats_add(ex, &ex->stats.workers_died);
    bool isolating = ex->crash_policy != PP_CRASH_BREAK && !w->init_err && !ex->forced &&
                     ex->mstate == M_SERVING;
    bool at_item = isolating && w->ready && w->item && chunk_blame(w, w->item);
    if (at_item)
        chunk_salvage(w, w->item); /* before the text: it names the item */
    /* The cause is built on the heap: it may carry a 16 KiB backtrace, and a frame that
     * large on the manager's stack cost every break its page faults (tens of us). */
    static const char no_memory[] = "a worker ended (out of memory describing how)";
    char how[256], what[PP__NAME_MAX + 96], who[320], lim[80] = "";
    int code = 0;
    const char *where = pp__os_proc_desc(w->proc); /* "rank 2 on host node7", or NULL */
    snprintf(who, sizeof who, "worker %lld%s%s%s", w->pid, where ? " (" : "", where ? where : "",
             where ? ")" : "");
    describe_exit(st, w, where != NULL, how, sizeof how, &code);
    char *cause;
    if (w->faulted) {
        cause = pp__asprintf("%s sent a malformed message (%s) and was killed", who, w->fault);
    } else if (w->init_err) {
        cause = pp__asprintf("worker %lld: the initializer '%s' failed (code %d): %s", w->pid,
                             ex->initializer ? ex->initializer : "?", w->init_code,
                             w->init_err);
    } else {
        describe_activity(ex, w, at_item, what, sizeof what);
        if (ex->wstart.mem_limit) /* the likely cause, or not: say it is there */
            snprintf(lim, sizeof lim, " (its worker_memory_limit: %llu bytes)",
                     ex->wstart.mem_limit);
        cause = pp__asprintf("%s %s %s%s", who, how, what, lim);
    }
    if (cause && w->crash_text && !w->faulted) { /* the worker's own account of a fault */
        char *more = pp__asprintf("%s; its backtrace:\n%s", cause, w->crash_text);
        if (more) {
            pp__free(cause);
            cause = more;
        }
    }
    const char *text = cause ? cause : no_memory;
    work *held = w->item;
    w->item = NULL;
    if (isolating) {
        if (isolate(ex, w, held, at_item, text, code)) {
            pp__free(cause);
            return;
        }
        char *why = pp__asprintf("workers keep dying before they are ready (%d in a row); "
                                 "the last: %s", ex->early_deaths, text);
        pp__record_break(ex, why ? why : text, code, w->pid, held);
        pp__free(why);
        pp__free(cause);
        return;
    }
    pp__record_break(ex, text, code, w->pid, held);
    pp__free(cause);
}

/* Stops watching the channel (at EOF it would be readable for ever); the process stays in
 * the wait set as the exit sentinel where the backend has one. */
static void unwatch_channel(pp_executor *ex, worker *w)
{
    pp__os_waitset_remove(ex->ws, w);
    w->want_write = false;
    pp__os_waitset_proc(ex->ws, w->proc, w);
}

void pp__worker_closed(pp_executor *ex, worker *w)
{
    if (!worker_live(w))
        return;
    w->closed_from = w->state;
    pp__worker_set_state(ex, w, W_CLOSED);
    w->out_n = 0;
    unwatch_channel(ex, w);
    if (!w->kill_at)
        w->kill_at = pp__os_monotonic_ms() + REAP_GRACE_MS;
}

void pp__worker_malformed(pp_executor *ex, worker *w, const char *what)
{
    pp__os_proc_stop(w->proc, true, NULL);
    w->killed = true;
    w->faulted = true;
    snprintf(w->fault, sizeof w->fault, "%s", what);
    pp__worker_closed(ex, w);
}

/* A map chunk's time limit is each item's: when the item its worker is running began
 * (wshm.h), or 0 when the call is not a chunk whose progress the worker publishes. */
static int64_t chunk_item_began(const worker *w)
{
    if (!w->wshm || !w->item->raw ||
        atomic_load_explicit(&w->wshm->run_id, memory_order_acquire) != w->item->id)
        return 0;
    return atomic_load_explicit(&w->wshm->item_began, memory_order_acquire);
}

/*
 * Collects the exit status of every worker that has ended, without blocking; kills those
 * whose grace has passed; asks calls past their time limit to stop. Returns how long the
 * loop may wait before it must look again (PP_FOREVER: nothing to look at; 0: a worker was
 * reaped, so work may now be assigned or a worker started).
 */
static long reap_pass(pp_executor *ex)
{
    long wait_ms = PP_FOREVER;
    int64_t now = pp__os_monotonic_ms();
    worker *next;
    for (worker *w = ex->workers; w; w = next) {
        next = w->next;
        if (w->state == W_CLOSED || w->state == W_EXITING) {
            pp__exit st;
            pp_status rs = pp__os_proc_reap(w->proc, 0, &st, NULL);
            if (rs != PP_ETIMEDOUT) {
                if (rs != PP_OK) /* lost (not ours to reap any more): say so, invent nothing */
                    st = (pp__exit){false, 0, 0};
                if (w->state == W_CLOSED)
                    worker_ended(ex, w, w->closed_from, &st);
                worker_drop(ex, w);
                wait_ms = 0; /* something changed: the loop looks again before it sleeps */
                continue;
            }
            wait_ms = wait_ms == PP_FOREVER || wait_ms > REAP_POLL_MS ? REAP_POLL_MS : wait_ms;
        }
        if (w->state == W_BUSY && w->item && w->item->deadline &&
            w->stop_reason == STOP_NONE) {
            int64_t began = chunk_item_began(w);
            if (now >= w->item->deadline && began && began + w->item->limit_ms > now)
                w->item->deadline = began + w->item->limit_ms; /* a chunk's next item */
            if (now >= w->item->deadline) {
                /* its RESULT may be waiting in the channel, sent before the deadline: a
                 * loaded manager must not count that against the call */
                pp__worker_read(ex, w);
                if (w->state == W_BUSY && w->item && w->item->deadline &&
                    now >= w->item->deadline && w->stop_reason == STOP_NONE)
                    ask_stop(ex, w, STOP_TIMELIMIT, ex->stop_grace_ms);
            } else {
                long left = (long)(w->item->deadline - now);
                wait_ms = wait_ms == PP_FOREVER || wait_ms > left ? left : wait_ms;
            }
        }
        if (w->kill_at && !w->killed && w->stop_reason != STOP_NONE && worker_live(w) &&
            now >= w->kill_at)
            pp__worker_read(ex, w); /* it may have returned within the grace */
        if (w->kill_at && !w->killed) {
            if (now >= w->kill_at) {
                pp__os_proc_stop(w->proc, true, NULL);
                w->killed = true;
            } else {
                long left = (long)(w->kill_at - now);
                wait_ms = wait_ms == PP_FOREVER || wait_ms > left ? left : wait_ms;
            }
        }
    }
    return wait_ms;
}

/* ---- frames from a worker: a (message x state) table ---- */

/* Finishes an item from its RESULT; body is owned (freed here or by the future) if
 * body_owned, else it lives in the staging buffer and is copied. The counters are updated
 * before the future completes, so that whoever sees it done sees them counted. */
/* A call counted completed whose result could not be kept after all: failed. */
static void stats_move_failed(pp_executor *ex)
{
    apr_thread_mutex_lock(ex->lock);
    ex->stats.failed++;
    atomic_fetch_sub_explicit(&ex->n_completed, 1, memory_order_release);
    apr_thread_mutex_unlock(ex->lock);
}

static void finish_item(pp_executor *ex, worker *w, work *it, const pp__wire_result *r,
                        uint8_t *body, size_t body_len, bool body_owned, pp__seg *seg)
{
    if (seg) { /* the body lies in a payload segment: the future's result is a view of it */
        pp__wire_item sitem = {PP_OK, 0, body, body_len};
        if (!it->raw) {
            pp__wire_cur cur = r->items;
            pp__wire_next_item(&cur, &sitem);
        }
        if (sitem.status == PP_OK) {
            pp__stats_add(ex, &ex->stats.completed);
            pp__future_finish_seg(it->f, seg, sitem.len ? sitem.data : NULL, sitem.len, w->pid);
            pp__work_free(it);
            return;
        }
        /* a failure's text: copied below, the segment given back */
        char *msg = pp__strndup(sitem.data, sitem.len);
        pp__seg_put(seg);
        pp__stats_add(ex, &ex->stats.failed);
        pp__future_finish_error(it->f, sitem.status, sitem.code, w->pid, msg);
        pp__work_free(it);
        return;
    }
    pp__wire_item item = {PP_OK, 0, body, body_len}; /* raw: the whole body */
    if (!it->raw) {
        pp__wire_cur cur = r->items;
        pp__wire_next_item(&cur, &item);
    }
    if (item.status != PP_OK) {
        char *msg = pp__strndup(item.data, item.len);
        if (body_owned)
            pp__free(body);
        pp__stats_add(ex, &ex->stats.failed);
        pp__future_finish_error(it->f, item.status, item.code, w->pid, msg);
        pp__work_free(it);
        return;
    }
    /* counted without ex->lock (the submitting threads want it), before the future
     * completes: whoever sees it done (pp__flock) sees it counted */
    atomic_fetch_add_explicit(&ex->n_completed, 1, memory_order_release);
    if (!body_owned) {
        /* from the staging buffer: a copy, into the future itself when small; a copy that
         * fails moves the count to failed */
        if (pp__future_finish_copy(it->f, item.data, item.len, w->pid) == PP_ENOMEM) {
            stats_move_failed(ex);
            pp__future_finish_error(it->f, PP_ENOMEM, 0, w->pid, NULL);
        }
    } else {
        pp__future_finish_owned(it->f, body, item.len ? item.data : NULL, item.len, w->pid);
    }
    pp__work_free(it);
}

static void assign(pp_executor *ex);

/* After a RESULT: the next calls for the worker it freed. While manager_wait handles the
 * events of one wait (many RESULTs read at once from the rings), once at its end, before
 * the CALLs are written: one pass of assign (and one hold of the lock for the FIFO) for
 * all of them, not one per RESULT. Elsewhere at once. */
static void assign_soon(pp_executor *ex)
{
    if (ex->dispatching)
        ex->assign_owed = true;
    else
        assign(ex);
}

/* A frame handler: false if the frame breaks the protocol. It may take the body (sets
 * *owned false); otherwise pp__on_frame frees it. */
typedef bool (*frame_fn)(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                         bool *owned);

/* READY: the worker finished starting (in W_STOPPING too: it was asked to stop while in its
 * initializer, and answers INIT before it reads STOP). Once only. */
static bool on_ready(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                     bool *owned)
{
    (void)owned;
    uint64_t pid;
    if (w->ready || pp__wire_decode_ready(body, (size_t)h->body_len, &pid) != PP_OK)
        return false;
    w->ready = true;
    ex->early_deaths = 0;
    if (w->state == W_STARTING) {
        pp__worker_set_state(ex, w, w->item ? W_BUSY : W_IDLE);
        start_clock(w);
    }
    return true;
}

/* INITERR: its initializer failed; it exits after sending this. */
static bool on_initerr(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                       bool *owned)
{
    (void)owned;
    pp__wire_item it;
    if (w->ready || pp__wire_decode_initerr(body, (size_t)h->body_len, &it) != PP_OK)
        return false;
    pp__free(w->init_err);
    w->init_err = pp__strndup(it.data, it.len);
    if (!w->init_err)
        w->init_err = pp__strdup("(out of memory copying the message)");
    w->init_code = it.code;
    pp__worker_closed(ex, w);
    return true;
}

/* on_result's work once the body is at hand: in the frame (*owned: the handler may keep
 * it), or in payload segment seg (then the segment is taken: given to the future or back).
 * A map chunk's RESULT may come in pieces: frames flagged MORE (kept in the chunk's body;
 * the worker stays busy), and a last frame with fewer items than were left when the chunk
 * was asked to stop (it ended at the item it was running). */
static bool on_result_body(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                           bool *owned, pp__seg *seg)
{
    pp__wire_result r;
    size_t len = (size_t)h->body_len;
    bool decoded = pp__wire_decode_result(body, len, &r) == PP_OK;
    if (decoded && w->item && r.work_id != w->item->id)
        sweep_revoked(ex, w); /* calls revoked before they started come first */
    work *it = w->item;
    if (!decoded || !it || r.work_id != it->id) {
        pp__seg_put(seg);
        return false;
    }
    uint32_t left = it->n - it->got;
    if (h->flags & PP__MSGF_MORE) {
        bool ok = it->raw && r.n < left;
        if (ok)
            acc_items(it, r.items, r.n, w->pid);
        pp__seg_put(seg); /* the items are copied */
        return ok;
    }
    if (r.n > left || (r.n < left && (w->stop_reason == STOP_NONE || !it->raw))) {
        pp__seg_put(seg);
        return false;
    }
    w->item = NULL;
    w->calls++;
    detach(it);
    stop_kind why = w->stop_reason != STOP_NONE ? stop_answered(w) : STOP_NONE;
    bool pieces = it->raw && (it->acc.data || r.n < left ||
                              (why != STOP_NONE && chunk_blame(w, it)));
    if (it->raw && w->wshm) /* its progress is stale from now: the next CALL may share its id */
        atomic_store_explicit(&w->wshm->run_id, 0, memory_order_release);
    if (h->flags & PP__MSGF_LAST) { /* it exits: what was queued ahead runs elsewhere */
        requeue_unstarted(ex, w);
        w->out_n = 0; /* it reads nothing more: their CALL frames are not written */
        w->out_off = 0;
        pp__worker_set_state(ex, w, W_STOPPING);
    } else if (w->ahead) {
        promote(ex, w); /* its next call (it stays BUSY) */
    } else {
        pp__worker_set_state(ex, w, W_IDLE);
    }
    if (!pieces)
        ex->n_handed--;
    if (w->state == W_IDLE && ex->max_worker_rss && ex->mstate == M_SERVING && !ex->brk.set &&
        pp__os_pid_rss(w->pid) > ex->max_worker_rss)
        stop_worker(ex, w); /* max_worker_rss: recycled; grow starts another when needed */
    if (pieces) { /* the chunk's body is assembled; the rest, if any, runs first */
        if (why == STOP_NONE) {
            acc_items(it, r.items, r.n, w->pid);
            chunk_continue(ex, it, it->got, true, 0, w->pid);
        } else {
            acc_items(it, r.items, r.n - 1, w->pid); /* all but the one asked to stop */
            pp__wire_cur cur = r.items;
            pp__wire_item last;
            for (uint32_t i = 0; i < r.n; i++)
                pp__wire_next_item(&cur, &last);
            long grace = why == STOP_EXEC ? ex->stop_all_grace : ex->stop_grace_ms;
            chunk_stopped(ex, w, it, why, false, grace, &last);
        }
        pp__seg_put(seg); /* the items are copied */
        assign_soon(ex);
        return true; /* the body is freed by the caller */
    }
    assign_soon(ex);
    if (why == STOP_TIMELIMIT || why == STOP_ABORT) { /* returned within the grace */
        pp__seg_put(seg);
        fail_stopped(ex, it, why, w->pid, false, 0);
        return true;
    }
    bool body_owned = !seg && *owned;
    if (!seg)
        *owned = false; /* finish_item frees it, or gives it to the future */
    finish_item(ex, w, it, &r, body, len, body_owned, seg);
    return true;
}

/* RESULT: the item it holds is done. Mark the worker idle and give it its next item before
 * completing the future: back-to-back tasks reuse one worker, and the worker never waits
 * on callbacks. Flagged PP__MSGF_SEG, the frame is in the worker's result segment: checked
 * (max_message_size first) before it is mapped. */
static bool on_result(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                      bool *owned)
{
    if (!(h->flags & PP__MSGF_SEG))
        return on_result_body(ex, w, h, body, owned, NULL);
    pp__wire_hdr ih = *h;
    uint8_t *sbody = NULL;
    pp__seg *seg = NULL;
    char what[160];
    if (!pp__result_in_seg(ex, w, body, (size_t)h->body_len, &ih, &sbody, &seg, what,
                           sizeof what)) {
        pp__worker_malformed(ex, w, what);
        return true; /* (reported here, with what was wrong) */
    }
    return on_result_body(ex, w, &ih, sbody, owned, seg);
}

/* EXITING: a task it was running called exit(); only then is it sent. Its end is handled
 * at once with the announced status (the pool breaks without waiting for its teardown);
 * then it is answered, so that it finishes exiting, and reaped. */
static bool on_exiting(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                       bool *owned)
{
    (void)owned;
    int32_t code;
    if (!w->item || pp__wire_decode_exiting(body, (size_t)h->body_len, &code) != PP_OK)
        return false;
    pp__exit st = {true, code, 0};
    pp__worker_set_state(ex, w, W_EXITING);
    worker_ended(ex, w, W_BUSY, &st);
    w->exit_unanswered = true; /* answer_exits, once the futures have been failed */
    unwatch_channel(ex, w);
    w->kill_at = pp__os_monotonic_ms() + REAP_GRACE_MS;
    return true;
}

/* Answers the EXITING workers, after this pass has failed their futures (a break is carried
 * out before): only then does the worker go on with its teardown, which would otherwise take
 * the CPU the caller needs to see its future fail (announce_exit in worker.c). */
static void answer_exits(pp_executor *ex)
{
    for (worker *w = ex->workers; w; w = w->next) {
        if (!w->exit_unanswered)
            continue;
        w->exit_unanswered = false;
        size_t n = 0; /* the answer: any byte; the STOP frame is at hand */
        (void)pp__os_chan_write(w->chan, ex->stop_frame.data, ex->stop_frame.len, &n, NULL);
    }
}

/* CRASH: the worker is dying of a fatal signal / unhandled exception and says which, with
 * its backtrace (in its initializer too). Kept for the message; its end (the channel's EOF,
 * its exit status) is handled as usual. Once only. */
static bool on_crash(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                     bool *owned)
{
    (void)ex, (void)owned;
    uint32_t code;
    const char *text;
    size_t len;
    if (w->crashed || pp__wire_decode_crash(body, (size_t)h->body_len, &code, &text, &len) != PP_OK)
        return false;
    w->crashed = true;
    w->crash_code = code;
    w->crash_text = len ? pp__strndup(text, len) : NULL;
    return true;
}

enum { ROW_READY, ROW_INITERR, ROW_RESULT, ROW_EXITING, ROW_CRASH, N_ROWS };

static int frame_row(uint32_t type)
{
    switch (type) {
    case PP__MSG_READY: return ROW_READY;
    case PP__MSG_INITERR: return ROW_INITERR;
    case PP__MSG_RESULT: return ROW_RESULT;
    case PP__MSG_EXITING: return ROW_EXITING;
    case PP__MSG_CRASH: return ROW_CRASH;
    default: return -1; /* INIT, CALL, STOP go the other way; anything else is garbage */
    }
}

/* What each message means in each worker state. VIOLATION: the worker broke the protocol
 * (it is killed and the pool breaks). Frames reach only live workers (manager_io.c reads
 * nothing from W_CLOSED, W_EXITING or W_GONE ones): those columns are violations by
 * definition. */
#define VIOLATION NULL
static const frame_fn frame_table[N_ROWS][W__COUNT] = {
    /*              STARTING    IDLE       BUSY        STOPPING    CLOSED     EXITING    GONE */
    [ROW_READY]   = {on_ready,   VIOLATION, VIOLATION,  on_ready,   VIOLATION, VIOLATION, VIOLATION},
    [ROW_INITERR] = {on_initerr, VIOLATION, VIOLATION,  on_initerr, VIOLATION, VIOLATION, VIOLATION},
    [ROW_RESULT]  = {VIOLATION,  VIOLATION, on_result,  VIOLATION,  VIOLATION, VIOLATION, VIOLATION},
    [ROW_EXITING] = {VIOLATION,  VIOLATION, on_exiting, VIOLATION,  VIOLATION, VIOLATION, VIOLATION},
    [ROW_CRASH]   = {on_crash,   VIOLATION, on_crash,   on_crash,   VIOLATION, VIOLATION, VIOLATION},
};

void pp__on_frame(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                  bool body_owned)
{
    int row = frame_row(h->type);
    frame_fn fn = row >= 0 ? frame_table[row][w->state] : VIOLATION;
    bool owned = body_owned;
    bool ok = fn && fn(ex, w, h, body, &owned);
    if (body_owned && owned)
        pp__free(body);
    if (!ok) {
        char what[64];
        snprintf(what, sizeof what, "frame type 0x%08X, %llu bytes", (unsigned)h->type,
                 (unsigned long long)h->body_len);
        pp__worker_malformed(ex, w, what);
    }
}

/* ---- handing out work ---- */

/* How many items may be handed out at once (in the call queue and held by workers). */
static size_t handed_cap(const pp_executor *ex)
{
    return (size_t)ex->max_workers * (ex->pipeline > 1 ? (size_t)ex->pipeline : 1) +
           EXTRA_QUEUED_CALLS;
}

/* Moves items from the FIFO to the call queue while fewer than max_workers + 1 are handed
 * out (with the pipeline: max_workers x its depth + 1), setting their futures running (the
 * pipeline: only once a worker starts them, see give); cancelled ones are dropped here. */
static void take_pending(pp_executor *ex)
{
    size_t cap = handed_cap(ex);
    /* every item there is room for, under one hold of the lock (the submitting threads
     * take it too: one round of the lock per pass, not per call); again while cancelled
     * ones, dropped, left room */
    while (ex->n_handed < cap) {
        size_t room = cap - ex->n_handed, n = 0;
        work *taken = NULL, **tail = &taken;
        apr_thread_mutex_lock(ex->lock);
        size_t before = ex->n_fifo;
        while (n < room) {
            work *it = pp__fifo_pop(&ex->fifo, &ex->fifo_tail);
            if (!it)
                break;
            *tail = it;
            tail = &it->next;
            n++;
        }
        ex->n_fifo -= n;
        ex->stats.pending = ex->n_fifo;
        if (ex->max_pending && before >= ex->max_pending && ex->n_fifo < ex->max_pending)
            apr_thread_cond_broadcast(ex->room_cond); /* room for a waiting submit */
        apr_thread_mutex_unlock(ex->lock);
        while (taken) {
            work *it = taken;
            taken = it->next;
            it->next = NULL;
            if (ex->pipeline ? !pp_future_cancelled(it->f)
                             : pp_future_set_running_or_notify_cancel(it->f)) {
                pp__fifo_push(&ex->callq_tail, it);
                ex->n_handed++;
            } else {
                pp__stats_add(ex, &ex->stats.cancelled);
                pp__work_free(it);
            }
        }
        if (n < room)
            return; /* the FIFO is empty */
    }
}

/* Hands item it to worker w: with the pipeline, through a free slot of w's block (slot:
 * which, or -1: none, the old way), its future still PENDING until the worker claims it.
 * False: its future was cancelled meanwhile (the item is dropped). */
static bool hand_out(pp_executor *ex, worker *w, work *it, int slot)
{
    it->slot = -1;
    if (!ex->pipeline)
        return true; /* (RUNNING since take_pending) */
    if (slot >= 0)
        atomic_store_explicit(pp__wshm_slot(w->wshm, slot), PP__SLOT(it->id, PP__SLOT_QUEUED),
                              memory_order_release);
    if (!pp__future_hand_out(it->f, slot >= 0 ? pp__wshm_slot(w->wshm, slot) : NULL,
                             PP__SLOT(it->id, PP__SLOT_QUEUED), pp__revoked_hook)) {
        if (slot >= 0)
            atomic_store_explicit(pp__wshm_slot(w->wshm, slot), 0, memory_order_release);
        ex->n_handed--;
        pp__stats_add(ex, &ex->stats.cancelled);
        pp__work_free(it);
        return false;
    }
    it->slot = slot;
    return true;
}

/* Room in w's output queue for a call (its CALL, a result segment's SEG) and a STOP: the
 * frames of calls revoked or requeued may still wait there while its channel is full. */
static bool out_room(const worker *w)
{
    return w->out_n + 3 <= OUTQ;
}

/* May `it` be queued ahead behind w's calls? Only small calls without a time limit that are
 * not map chunks (their time limit and progress use the block's one area: a chunk runs
 * alone), behind a first call that is not a chunk, on a worker not asked to stop. */
static bool may_queue_ahead(const pp_executor *ex, const worker *w, const work *it)
{
    return w->item && held_calls(w) < (unsigned)ex->pipeline && w->wshm && out_room(w) &&
           (w->state == W_BUSY || w->state == W_STARTING) && w->stop_reason == STOP_NONE &&
           !it->seg && it->limit_ms == 0 && it->chunk_n <= 1 && !it->acc.data &&
           w->item->chunk_n <= 1 && !w->item->acc.data && !w->item->seg;
}

/* Is it time to queue more calls ahead to w? Through rings, always: a CALL put there costs
 * a copy, no system call, and w must hold enough work to last until the manager's next
 * pass, which a nap may put 800 us away. Through a channel (PROCPOOL_RING=0, remote
 * workers), once half its depth is gone (or when a CALL goes to it in this pass anyway): the
 * calls then go out several per write and are read several per read, instead of one write
 * and one read per RESULT, while w still holds at least half its depth (never fewer than
 * two calls: the one it runs and the next). (The half rule for ringed workers too left a
 * worker holding 33 of 64 calls of 20 us, 660 us of work, at the start of an 800 us nap:
 * it ran dry mid-batch; bench/ 20 us first batch 1.122 -> 1.095 x ideal without it.) */
static bool worth_topping_up(const pp_executor *ex, const worker *w)
{
    return w->want_flush || w->ringed || held_calls(w) <= (unsigned)(ex->pipeline + 1) / 2;
}

/* Gives queued items to workers that hold none (idle, or starting); then, with the
 * pipeline, queues more ahead (one more per worker per round, so that they spread), and
 * moves calls queued ahead that have not started to a worker left idle. The CALL frames
 * are written by flush_wanted at the end of the loop's step or dispatch, so that the CALLs
 * given for several RESULTs read at once go out in one write per worker. */
static void assign(pp_executor *ex)
{
    if (ex->mstate != M_SERVING || ex->brk.set)
        return;
    take_pending(ex);
    for (worker *w = ex->workers; w && ex->callq; w = w->next) {
        if (w->item || (w->state != W_IDLE && w->state != W_STARTING) || !out_room(w))
            continue;
        work *it = NULL;
        while (!it && ex->callq) {
            it = pp__fifo_pop(&ex->callq, &ex->callq_tail);
            if (!hand_out(ex, w, it, ex->pipeline && w->wshm ? free_slot(w) : -1))
                it = NULL; /* cancelled: dropped */
        }
        if (!it)
            break;
        w->item = it;
        if (w->wshm) /* a chunk's items then publish when each began (wshm.h) */
            atomic_store_explicit(&w->wshm->timed, w->item->limit_ms > 0,
                                  memory_order_relaxed);
        if (w->state == W_IDLE) {
            pp__worker_set_state(ex, w, W_BUSY);
            start_clock(w);
        }
        pp__queue_call(ex, w, w->item);
        w->want_flush = true;
    }
    /* a new worker first, while the pool may grow: a call queued behind a long one would
     * wait for it */
    bool may_grow = ex->method != PP_START_FORK && !ex->starter_done &&
                    ex->n_workers < ex->max_workers;
    if (ex->pipeline > 1 && !may_grow) {
        bool more = true;
        while (more && ex->callq) {
            more = false;
            for (worker *w = ex->workers; w && ex->callq; w = w->next) {
                if (!may_queue_ahead(ex, w, ex->callq) || !worth_topping_up(ex, w))
                    continue;
                int slot = free_slot(w);
                if (slot < 0)
                    continue;
                work *it = pp__fifo_pop(&ex->callq, &ex->callq_tail);
                more = true;
                if (!hand_out(ex, w, it, slot))
                    continue;
                *w->ahead_tail = it;
                w->ahead_tail = &it->next;
                w->n_ahead++;
                pp__queue_call(ex, w, it);
                w->want_flush = true;
            }
        }
    }
    if (ex->callq || ex->pipeline <= 1)
        return;
    /* no call waits: one queued ahead behind a running call goes to an idle worker */
    for (worker *w = ex->workers; w; w = w->next) {
        if ((w->state != W_IDLE && w->state != W_STARTING) || w->item)
            continue;
        worker *from = NULL;
        for (worker *v = ex->workers; v; v = v->next)
            if (v->n_ahead && worker_live(v) && (!from || v->n_ahead > from->n_ahead))
                from = v;
        if (!from)
            return;
        work *it = from->ahead;
        while (it->next) /* the last: the one that would wait longest */
            it = it->next;
        if (frame_queued(from, it) || !revoke_ahead(from, it))
            continue; /* (its CALL not yet written: it stays) */
        pp__fifo_push(&ex->callq_tail, it);
        assign(ex);
        return;
    }
}

/* Writes the CALL frames assign queued (one write per worker, manager_io.c). */
static void flush_wanted(pp_executor *ex)
{
    for (worker *w = ex->workers; w; w = w->next)
        if (w->want_flush) {
            w->want_flush = false;
            pp__worker_flush(ex, w);
        }
}

/* Starts workers for queued items no worker can take, up to max_workers (a worker that has
 * ended but is not yet reaped still counts). Not with fork: its workers were all forked
 * before the manager served anything, and none is added. */
static void grow(pp_executor *ex)
{
    if (ex->method == PP_START_FORK)
        return;
    if (ex->starter_done) {
        /* PP_START_MPI: a static pool that lost ranks goes on with those left, and breaks
         * when none is left while work waits */
        if (ex->n_workers == 0 && ex->callq)
            pp__record_break(ex, "no worker is left (every rank of the static pool was lost)",
                             0, 0, NULL);
        return;
    }
    while (ex->callq && ex->n_workers < ex->max_workers && !ex->brk.set) {
        if (!pp__worker_start(ex))
            return;
        assign(ex);
    }
}

/* pp_executor_start_workers: starts workers until that many are starting or ready (the
 * request lasts until they are ready: publish() clears it). */
static void start_wanted(pp_executor *ex)
{
    apr_thread_mutex_lock(ex->lock);
    int want = ex->want_workers;
    apr_thread_mutex_unlock(ex->lock);
    if (!want || ex->method == PP_START_FORK)
        return; /* fork: all forked already */
    int alive = 0;
    for (worker *w = ex->workers; w; w = w->next)
        alive += w->state == W_STARTING || w->state == W_IDLE || w->state == W_BUSY;
    while (alive < want && ex->n_workers < ex->max_workers && !ex->brk.set) {
        if (!pp__worker_start(ex))
            return;
        alive++;
    }
}

/* Sends STOP to a worker that holds nothing (starting or idle): it exits, as expected. */
static void stop_worker(pp_executor *ex, worker *w)
{
    pp__worker_set_state(ex, w, W_STOPPING);
    pp__queue_frame(w, ex->stop_frame.data, ex->stop_frame.len);
    pp__worker_flush(ex, w);
}

/* Shutdown, drained: STOP to every worker (none holds an item). */
static void stop_workers(pp_executor *ex)
{
    mgr_set_state(ex, M_STOPPING);
    for (worker *w = ex->workers; w; w = w->next) {
        if (w->state == W_STARTING || w->state == W_IDLE)
            stop_worker(ex, w);
    }
}

/* idle_timeout_ms: stops the workers idle for that long (after assign: work waiting takes
 * them first). Returns how long until the next one is due (PP_FOREVER: none). */
static long idle_pass(pp_executor *ex)
{
    if (!ex->idle_timeout_ms || ex->mstate != M_SERVING || ex->brk.set)
        return PP_FOREVER;
    long wait_ms = PP_FOREVER;
    int64_t now = pp__os_monotonic_ms();
    for (worker *w = ex->workers; w; w = w->next) {
        if (w->state != W_IDLE)
            continue;
        int64_t due = w->idle_since + ex->idle_timeout_ms;
        if (now >= due) {
            stop_worker(ex, w);
        } else {
            long left = (long)(due - now);
            wait_ms = wait_ms == PP_FOREVER || left < wait_ms ? left : wait_ms;
        }
    }
    return wait_ms;
}

/* Whether a call submitted now could be handed out at once: fewer are handed out than
 * may be (take_pending takes from the FIFO only then). If not, a submit need not wake the
 * manager (executor.c): what frees a place (a RESULT, a worker's end, a revoke) wakes it,
 * and the call goes out then. While the workers are busy with short calls, that spares the
 * submitting thread a system call, and the manager a wake-up, per submit. */
static bool could_take_work(const pp_executor *ex)
{
    return ex->mstate != M_SERVING || ex->brk.set || ex->n_handed < handed_cap(ex);
}

/* Publishes the manager-private counts that pp_executor_stats_get reports. */
static void publish(pp_executor *ex)
{
    bool take_work = could_take_work(ex);
    int idle = 0, ready = 0;
    for (worker *w = ex->workers; w; w = w->next) {
        idle += w->state == W_IDLE;
        ready += w->ready && (w->state == W_IDLE || w->state == W_BUSY);
    }
    apr_thread_mutex_lock(ex->lock);
    size_t k = 0;
    for (worker *w = ex->workers; w && k < (size_t)ex->max_workers; w = w->next) {
        pub_worker *p = &ex->pub[k++];
        p->pid = w->pid;
        p->state = w->state == W_STARTING ? PP_WORKER_STARTING
                   : w->state == W_IDLE   ? PP_WORKER_IDLE
                   : w->state == W_BUSY   ? PP_WORKER_BUSY
                                          : PP_WORKER_STOPPING;
        p->task = w->state == W_BUSY && w->item ? w->item->task : NULL;
        p->work_id = w->state == W_BUSY && w->item ? w->item->id : 0;
        p->busy_since = w->busy_since;
        p->calls = w->calls;
    }
    ex->n_pub = k;
    ex->take_work = take_work;
    if (ready != ex->n_ready) {
        ex->n_ready = ready;
        apr_thread_cond_broadcast(ex->ready_cond);
    }
    if (ex->want_workers && ready >= ex->want_workers)
        ex->want_workers = 0; /* pp_executor_start_workers is satisfied */
    ex->stats.idle_workers = idle;
    ex->stats.handed_out = ex->n_handed;
    apr_thread_mutex_unlock(ex->lock);
}

/* One pass of the state machine between two waits; returns how long the next wait may
 * last. */
static long manager_step(pp_executor *ex)
{
    apr_thread_mutex_lock(ex->lock);
    force_kind force = ex->force;
    apr_thread_mutex_unlock(ex->lock);
    if (force != FORCE_NONE && !ex->forced && ex->mstate != M_DONE) {
        /* Only the manager signals workers: it alone knows which are not yet reaped, so no
         * signal can reach a recycled pid. */
        ex->forced = true;
        for (worker *w = ex->workers; w; w = w->next)
            if (worker_live(w))
                pp__os_proc_stop(w->proc, force == FORCE_KILL, NULL);
    }
    serve_stop_requests(ex);
    (void)reap_pass(ex); /* first: a reaped worker makes room for a new one */
    if (ex->mstate == M_SERVING) {
        assign(ex);
        grow(ex);
        start_wanted(ex);
    }
    if (ex->mstate == M_SERVING && !ex->brk.set && ex->n_handed == 0) {
        apr_thread_mutex_lock(ex->lock);
        bool drained = ex->shutdown && ex->n_fifo == 0;
        apr_thread_mutex_unlock(ex->lock);
        if (drained)
            stop_workers(ex);
    }
    long wait_ms = idle_pass(ex);
    /* the one point where a break is carried out */
    if (ex->brk.set && (ex->mstate == M_SERVING || ex->mstate == M_STOPPING))
        break_now(ex);
    answer_exits(ex);
    /* last: the deadlines as this pass left them (time limits of calls just assigned,
     * kills after a break) bound the next wait */
    long timers = reap_pass(ex);
    if (timers != PP_FOREVER && (wait_ms == PP_FOREVER || timers < wait_ms))
        wait_ms = timers;
    if ((ex->mstate == M_STOPPING || ex->mstate == M_BROKEN) && ex->n_workers == 0)
        mgr_set_state(ex, M_DONE);
    flush_wanted(ex);
    return wait_ms;
}

/* ---- waiting ---- */

/* One look at the wait set without waiting, for pp__spin_poll: ready when it reported
 * something or failed. */
typedef struct events_look {
    pp_executor *ex;
    pp__event   *ev;
    size_t      *n;
    pp__oserr   *oe;
    pp_status    st;
    bool         ring_in; /* a ring had bytes to read */
} events_look;

/* Adds an event for tag to ev (or to its entry there), if there is room. */
static void add_event(pp__event *ev, size_t *n, worker *w, unsigned what)
{
    for (size_t i = 0; i < *n; i++) {
        if (ev[i].tag == w) {
            ev[i].events |= what;
            return;
        }
    }
    if (*n < N_EVENTS)
        ev[(*n)++] = (pp__event){w, what};
}

/* w's output queue may go on into its ring now (a full ring: the worker rings once it has
 * made room; a descriptor's wake-up byte the channel did not take: when it is writable). */
static bool ring_may_write(worker *w)
{
    uint64_t k;
    return w->ringed && w->out_n && !w->bell_full && (!pp__ring_room(&w->tx, &k) || k > 0);
}

/* How ring_events looks at the rings: just looking, or about to sleep or nap. */
enum { RINGS_LOOK, RINGS_SLEEP, RINGS_NAP };

/* The rings' events, which no wait set reports: bytes from a worker to read (or a corrupt
 * ring: the read says so); room for frames waiting to go to it. RINGS_SLEEP / _NAP: the
 * manager is about to block: each ring first says so (ring.h), so that a worker that
 * writes later rings (or, for a nap, rings once it would wait for the manager). True if
 * some ring had bytes to read. */
static bool ring_events(pp_executor *ex, pp__event *ev, size_t *n, int how)
{
    bool any = false;
    for (worker *w = ex->workers; w; w = w->next) {
        if (!w->ringed || !worker_live(w))
            continue;
        uint64_t k;
        bool in = how == RINGS_SLEEP ? pp__ring_sleep(&w->rx)
                  : how == RINGS_NAP ? pp__ring_nap(&w->rx)
                                     : !pp__ring_avail(&w->rx, &k) || k > 0;
        if (in) {
            add_event(ev, n, w, PP__EV_READ);
            any = true;
        }
        if (ring_may_write(w))
            add_event(ev, n, w, PP__EV_WRITE);
    }
    return any;
}

/* After a sleep: no ring needs a wake-up any more. */
static void ring_awake(pp_executor *ex)
{
    for (worker *w = ex->workers; w; w = w->next)
        if (w->ringed)
            pp__ring_awake(&w->rx);
}

static bool look_events(void *arg)
{
    events_look *l = arg;
    l->st = pp__os_waitset_wait(l->ex->ws, 0, l->ev, N_EVENTS, l->n, l->oe);
    if (l->st == PP_OK)
        l->ring_in = ring_events(l->ex, l->ev, l->n, RINGS_LOOK);
    return *l->n || l->st != PP_OK;
}

/* ---- naps ----
 *
 * While workers finish calls every few tens of microseconds, a wake-up per result (a
 * system call in the worker, a hand-off to the manager's thread) costs more than the
 * frames. The manager then naps instead of sleeping: it blocks for at most NAP_NS (16 times
 * the longest spin: 800 us by default), having told every ring so (PP__RING_NAPPING,
 * ring.h); a worker then writes its results without ringing until it would itself wait
 * for the manager (out of calls, or of room), and the nap's end reads them all: one
 * wake-up for many results (with the pipeline's 64 calls a worker, it has work for the
 * whole nap down to calls of ~15 us; shorter ones run out and ring). Each wake-up costs
 * the manager ~25 us of CPU on the VM of bench/ whatever it brings (timer, switch, poll):
 * 400 us naps with 32 calls a worker spent ~45 us a cycle on 20 us calls. A result then
 * waits at most a nap longer than it would have. Naps are taken only while they pay:
 * after a wait that was short (at most 2 naps long) and brought bytes from a ring
 * (nap_ok), while some worker holds a call; a nap that brings nothing ends them until such
 * a wait comes again. Never with PROCPOOL_SPIN_US=0 (a pool that never polls),
 * nor where the backend cannot wait less than a millisecond (pp__os_waitset_nap: Windows).
 *
 * Polling (spin.h) is for a CPU that would idle otherwise: while every CPU has a worker
 * running a call (the block's `busy`), the manager does not poll; it naps or sleeps, and
 * the workers keep their CPUs. */
#define NAP_NS_OF(spin_ns) (16 * (spin_ns))
#define NAP_NS(ex) NAP_NS_OF((ex)->spin.max_ns)

/* Workers that run a call now (ringed: as their blocks say; else: as the manager knows). */
static int busy_workers(const pp_executor *ex)
{
    int k = 0;
    for (const worker *w = ex->workers; w; w = w->next)
        if (worker_live(w))
            k += w->wshm ? atomic_load_explicit(&w->wshm->busy, memory_order_relaxed) != 0
                         : w->state == W_BUSY;
    return k;
}

static atomic_bool naps_always; /* (tests) */

void pp__naps_always(bool on)
{
    atomic_store(&naps_always, on);
}

static bool may_nap(const pp_executor *ex)
{
    bool always = atomic_load_explicit(&naps_always, memory_order_relaxed);
    if (ex->no_naps || ex->mstate != M_SERVING ||
        (!always && (!ex->nap_ok || !ex->spin.max_ns)))
        return false;
    for (const worker *w = ex->workers; w; w = w->next)
        if (w->ringed && worker_live(w) && w->item)
            return true;
    return false;
}

/* Blocks in the wait set up to timeout_ms, or naps (above). */
static pp_status block_events(pp_executor *ex, long timeout_ms, pp__event *ev, size_t *n,
                              pp__oserr *oe)
{
    pp_status st = PP_OK;
    bool nap = may_nap(ex);
    ring_events(ex, ev, n, nap ? RINGS_NAP : RINGS_SLEEP);
    if (*n)
        return PP_OK; /* (the wait set's wait would overwrite ev) */
    if (nap) {
        int64_t us = NAP_NS_OF(ex->spin.max_ns ? ex->spin.max_ns
                                               : (int64_t)PP__SPIN_DEFAULT_US * 1000) / 1000;
        if (timeout_ms != PP_FOREVER && (int64_t)timeout_ms * 1000 < us)
            us = (int64_t)timeout_ms * 1000;
        st = pp__os_waitset_nap(ex->ws, (long)us, ev, N_EVENTS, n, oe);
        if (st != PP_ENOTSUP)
            return st;
        ex->no_naps = true; /* the rings were told NAPPING: tell them again */
        ring_awake(ex);
        ring_events(ex, ev, n, RINGS_SLEEP);
        if (*n)
            return PP_OK;
    }
    return pp__os_waitset_wait(ex->ws, timeout_ms, ev, N_EVENTS, n, oe);
}

/* Waits up to timeout_ms for events: first polling the wait set, while the spin policy
 * allows (spin.h) and some CPU has no busy worker, then sleeping (or napping) in it. */
static pp_status wait_events(pp_executor *ex, long timeout_ms, pp__event *ev, size_t *n,
                             pp__oserr *oe)
{
    events_look l = {ex, ev, n, oe, PP_OK, false};
    int64_t t0;
    *n = 0;
    int64_t limit_ns = timeout_ms == PP_FOREVER ? -1 : (int64_t)timeout_ms * 1000000;
    if (ex->mstate != M_SERVING)
        limit_ns = 0; /* broken or stopping: nothing is served fast by polling, and the
                         CPU is wanted by the callers waking up and the workers exiting */
    else if (atomic_load_explicit(&naps_always, memory_order_relaxed))
        limit_ns = 0; /* (tests want naps) */
    if (ex->spin.max_ns) { /* (pp__spin_poll polls only while a CPU has no busy worker) */
        int busy = ex->mstate == M_SERVING ? busy_workers(ex) : 0;
        pp__spin_busy_add(busy - ex->busy_seen);
        ex->busy_seen = busy;
    }
    if (!pp__spin_poll(&ex->spin, limit_ns, look_events, &l, &t0) && timeout_ms != 0) {
        long left = timeout_ms;
        if (timeout_ms != PP_FOREVER && ex->spin.max_ns) {
            long spent = (long)((pp__os_monotonic_ns() - t0) / 1000000);
            left = spent >= timeout_ms ? 0 : timeout_ms - spent;
        }
        l.st = block_events(ex, left, ev, n, oe);
        ring_awake(ex);
        if (l.st == PP_OK)
            l.ring_in = ring_events(ex, ev, n, RINGS_LOOK);
    }
    if (ex->spin.max_ns)
        ex->nap_ok = l.ring_in && pp__os_monotonic_ns() - t0 <= 2 * NAP_NS(ex);
    pp__spin_end(&ex->spin, t0);
    return l.st;
}

/* The wait set itself failed twice: no event can be trusted any more. Kill and reap every
 * worker (blocking: there is nothing else left to serve) so that the loop can end. */
static void abandon_workers(pp_executor *ex)
{
    worker *next;
    for (worker *w = ex->workers; w; w = next) {
        next = w->next;
        pp__exit st;
        pp__os_proc_stop(w->proc, true, NULL);
        (void)pp__os_proc_reap(w->proc, PP_FOREVER, &st, NULL);
        if (w->state != W_CLOSED && w->state != W_EXITING) {
            if (worker_live(w))
                pp__worker_closed(ex, w);
        }
        worker_drop(ex, w);
    }
}

static void manager_wait(pp_executor *ex, long timeout_ms)
{
    pp__event ev[N_EVENTS];
    size_t n = 0;
    pp__oserr oe = {NULL, 0};
    if (wait_events(ex, timeout_ms, ev, &n, &oe) != PP_OK) {
        char err[256], cause[320];
        snprintf(cause, sizeof cause, "the manager cannot wait: %s",
                 pp__os_strerror(&oe, err, sizeof err));
        if (ex->mstate == M_BROKEN)
            abandon_workers(ex);
        else
            pp__record_break(ex, cause, 0, 0, NULL);
        return;
    }
    pp__future_defer_wakes(true); /* the waiters of this dispatch: woken once, at its end */
    ex->dispatching = true;
    for (size_t i = 0; i < n; i++) {
        worker *w = ev[i].tag;
        if (!w || !worker_live(w))
            continue; /* the wakeup; or an exit event of an ended worker: reap_pass */
        if (ev[i].events & (PP__EV_READ | PP__EV_EXIT))
            pp__worker_read(ex, w);
        if (worker_live(w) && ((ev[i].events & PP__EV_WRITE) || ring_may_write(w)))
            pp__worker_flush(ex, w); /* (a ringed worker rings when it has made room) */
        if (worker_live(w) && (ev[i].events & PP__EV_EXIT)) {
            /* The process is dead: whatever it wrote is readable now; then it has ended. */
            pp__worker_drain(ex, w);
            pp__worker_closed(ex, w);
        }
    }
    ex->dispatching = false;
    if (ex->assign_owed) {
        ex->assign_owed = false;
        assign(ex);
    }
    flush_wanted(ex); /* the next CALLs first */
    pp__future_defer_wakes(false);
}

/*
 * fork: the first submit starts the manager and waits while it forks every worker, before
 * anything else happens in it. The manager is the forking thread so that the workers'
 * parent-death signal (tied to the thread that forked them) lasts exactly as long as they
 * do; the submitting thread waits, so that at the moment of each fork no thread of the
 * library holds a lock (the application's own threads are its business, as in CPython).
 */
static void fork_workers(pp_executor *ex)
{
    fflush(NULL); /* else each child would inherit, and write, the unflushed output */
    for (int i = 0; i < ex->max_workers && !ex->brk.set; i++)
        pp__worker_start(ex);
    apr_thread_mutex_lock(ex->start_lock);
    ex->forked_all = true;
    apr_thread_cond_broadcast(ex->start_cond);
    apr_thread_mutex_unlock(ex->start_lock);
}

static void free_graveyard(pp_executor *ex)
{
    while (ex->graveyard) {
        worker *w = ex->graveyard;
        ex->graveyard = w->next;
        pp__worker_free(w);
    }
}

void *APR_THREAD_FUNC pp__manager_main(apr_thread_t *thread, void *arg)
{
    pp_executor *ex = arg;
    pp__tl_manager = ex;
    pp__os_precise_timers(); /* (its naps) */
    if (ex->method == PP_START_FORK)
        fork_workers(ex);
    for (;;) {
        long wait_ms = manager_step(ex);
        publish(ex);
        free_graveyard(ex);
        if (ex->mstate == M_DONE)
            break;
        manager_wait(ex, wait_ms);
    }
    pp__spin_busy_add(-ex->busy_seen); /* its workers are gone */
    ex->busy_seen = 0;
    pp__free(ex->brk.cause);
    ex->brk.cause = NULL;
    pp__tl_manager = NULL;
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}
