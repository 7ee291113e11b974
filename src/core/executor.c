/*
 * The executor: pp_executor_* and pp_submit on the callers' side, and the manager thread's
 * state machine, the only code that talks to workers.
 *
 * A work item's life (follow `work` through this file):
 *
 *   pp_submit ------> FIFO (ex->fifo, under ex->lock; its future is PENDING, cancellable)
 *   take_pending ---> call queue (manager-private; future set RUNNING: "handed out").
 *                     At most max_workers + EXTRA_QUEUED_CALLS items are handed out.
 *   assign ---------> held by one worker; its CALL frame is written (non-blocking).
 *   on_result ------> the worker is marked idle and given its next item, then the future
 *                     is finished with the result or the task's error.
 *   break_pool -----> (a worker died, or sent garbage) every handed-out and queued item fails
 *                     PP_EBROKEN.
 *
 * Manager states (ex->mstate):
 *
 *   M_SERVING  --shutdown requested, FIFO empty, nothing handed out--> M_STOPPING
 *              (STOP sent to every worker)
 *   M_STOPPING --every worker has exited and been reaped-->            M_DONE
 *   M_SERVING / M_STOPPING --a worker died unexpectedly, sent a malformed message, or could
 *              not be started: break_pool-->                          M_DONE
 *   terminate_workers / kill_workers: shutdown(wait=false, cancel_futures=true), then the
 *              manager signals every live worker; their deaths run break_pool, which fails
 *              what they held (PP_EBROKEN) without marking the pool broken (later submits
 *              get PP_ESHUTDOWN, as in CPython 3.14).
 *
 * Worker states (worker.state), each worker holding at most one item:
 *
 *   W_STARTING --READY--> W_IDLE or W_BUSY  (an item may be assigned before READY: it waits
 *                                            in the channel behind INIT)
 *   W_IDLE --assign--> W_BUSY --RESULT--> W_IDLE
 *   W_BUSY --RESULT flagged LAST--> W_STOPPING (exit expected: max_tasks_per_child)
 *   any --STOP sent--> W_STOPPING --channel EOF / process exit--> gone (reaped, freed)
 *   any but W_STOPPING --channel EOF / process exit--> gone, and the pool breaks
 *   W_BUSY --EXITING (its task called exit(); sent by the worker's exit handler)--> gone at
 *            once with that status, the pool breaks; then it is answered and reaped
 *
 * Locks: ex->lock guards the FIFO, the shutdown/broken flags, the stats and the pid list:
 * the state callers can see. Everything else is the manager thread's alone. Futures are
 * completed (and their callbacks run) with no executor lock held.
 */
#include <string.h>

#include <stdatomic.h>
#include <apr_pools.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "executor.h"
#include "future.h"
#include "pp_os.h"
#include "registry.h"
#include "spin.h"
#include "starter.h"
#include "wire.h"

#define EXTRA_QUEUED_CALLS 1
#define PP__MIN_MESSAGE_SIZE 1024 /* max_message_size: room for any control message */
#define RBUF_CAP (64u * 1024u)         /* staging buffer for small frames, per worker */
#define READ_BUDGET (8u * 1024u * 1024u) /* bytes read from one worker per wakeup */
#define N_EVENTS 64
#define FORCE_TERM 1
#define FORCE_KILL 2
#define OUTQ 4                           /* INIT + one CALL + STOP fit */
#define REAP_GRACE_MS 2000               /* how long a dying worker gets to exit on its own */
#define BROKEN_PREFIX "A process in the process pool was terminated abruptly while the " \
                      "future was running or pending: "

/* ---- types ---- */

typedef struct work {
    uint64_t     id;
    pp_future   *f;
    const char  *task;      /* stable registered name */
    uint32_t     n;         /* arguments in the call */
    bool         raw;       /* map chunk: the future's result is the RESULT body */
    size_t       frame_len; /* the CALL frame follows the struct */
    struct work *next;
    /* uint8_t frame[frame_len]; */
} work;

static uint8_t *work_frame(work *w)
{
    return (uint8_t *)(w + 1);
}

typedef enum wstate { W_STARTING, W_IDLE, W_BUSY, W_STOPPING } wstate;

typedef struct outframe {
    const uint8_t *p;
    size_t         len;
} outframe;

typedef struct worker {
    pp__proc      *proc;
    pp__chan      *chan;
    long long      pid;
    wstate         state;
    work          *item;      /* the item it holds, or NULL */
    bool           gone;      /* exited and reaped: freed after the current event batch */
    struct worker *next;
    /* output: a small queue of frames; CALL frames belong to their work item, INIT to the
     * executor, STOP is static */
    outframe       out[OUTQ];
    unsigned       out_head, out_n;
    size_t         out_off;
    bool           want_write;
    bool           chan_broken; /* a write failed: the worker closed its end */
    /* input: frames are parsed from a staging buffer; a body larger than it is read
     * straight into its own allocation */
    uint8_t       *rbuf;
    size_t         rlen, rpos;
    pp__wire_hdr   big_hdr;
    uint8_t       *big;       /* the large body being read, or NULL */
    size_t         big_got;
    /* an initializer failure reported by the worker (INITERR) */
    char          *init_err;
    int            init_code;
} worker;

typedef enum mstate { M_SERVING, M_STOPPING, M_DONE } mstate;

struct pp_executor {
    apr_pool_t         *pool;
    apr_thread_t       *thread;
    pp__waitset        *ws;
    /* options, immutable after create */
    int                 max_workers;
    uint64_t            max_body;     /* the largest body accepted from a worker */
    pp_start_method     method;       /* PP_START_SPAWN, _FORK, _FORKSERVER or _MPI */
    const pp__starter  *starter;      /* PP_START_MPI: the add-on's (starter.h), else NULL */
    void               *starter_ctx;
    char               *program;      /* the worker program (spawn, forkserver); fork: NULL */
    const char         *initializer;  /* stable registered name, or NULL */
    pp__wbuf            init_frame;   /* the INIT frame every worker gets */
    pp__wbuf            stop_frame;
    atomic_uint_fast64_t next_id;

    /* --- guarded by lock --- */
    apr_thread_mutex_t *lock;
    work               *fifo, **fifo_tail;
    size_t              n_fifo;
    bool                shutdown, broken;
    pp_error            broken_err;   /* why it broke (message owned), once broken */
    int                 force;        /* 0, or FORCE_TERM / FORCE_KILL: signal the workers */
    pp_executor_stats   stats;
    long long          *pids;         /* live workers, max_workers slots */
    size_t              n_pids;

    /* --- the manager thread's alone --- */
    mstate              mstate;
    worker             *workers;
    int                 n_workers;
    work               *callq, **callq_tail;
    size_t              n_handed;      /* in the call queue or held by a worker */
    worker             *graveyard;     /* gone workers, freed after each event batch */
    bool                forced;        /* the workers were signalled (terminate / kill) */
    bool                starter_done;  /* PP_START_MPI: the starter has no more workers */
    pp__spin            spin;          /* how long to poll before sleeping (spin.h) */

    /* --- starting (fork: the manager starts at the first submit) and joining --- */
    apr_thread_mutex_t *start_lock;
    apr_thread_cond_t  *start_cond;
    bool                thread_created; /* under start_lock */
    bool                forked_all;     /* fork: the workers exist (under start_lock) */
    atomic_bool         started;        /* thread_created, read without the lock */
    apr_thread_mutex_t *join_lock;
    bool                joined;
};

static PP__THREAD_LOCAL pp_executor *tl_manager; /* the executor whose manager runs here */

/* The add-on starter of PP_START_MPI (starter.h), or NULL. */
static _Atomic(const pp__starter *) mpi_starter;

void pp__starter_set(pp_start_method m, const pp__starter *s)
{
    if (m == PP_START_MPI)
        atomic_store(&mpi_starter, s);
}

/* ---- small helpers ---- */

static void fifo_push(work ***tail, work *w)
{
    w->next = NULL;
    **tail = w;
    *tail = &w->next;
}

static work *fifo_pop(work **head, work ***tail)
{
    work *w = *head;
    if (w) {
        *head = w->next;
        if (!*head)
            *tail = head;
        w->next = NULL;
    }
    return w;
}

static void work_free(work *w)
{
    if (w) {
        pp_future_release(w->f);
        pp__free(w);
    }
}

static void stats_add(pp_executor *ex, unsigned long long *counter)
{
    apr_thread_mutex_lock(ex->lock);
    (*counter)++;
    apr_thread_mutex_unlock(ex->lock);
}

/* Publishes the manager-private counts that pp_executor_stats_get reports. */
static void publish(pp_executor *ex)
{
    int idle = 0;
    for (worker *w = ex->workers; w; w = w->next)
        idle += w->state == W_IDLE;
    apr_thread_mutex_lock(ex->lock);
    ex->stats.workers = ex->n_workers;
    ex->stats.idle_workers = idle;
    ex->stats.handed_out = ex->n_handed;
    apr_thread_mutex_unlock(ex->lock);
}

/* ---- the cause of a broken pool ---- */

/* "exited with code 3" / "killed by signal 9 (SIGKILL)"; *code gets exit code or -signal. */
static void describe_exit(const pp__exit *st, char *buf, size_t cap, int *code)
{
    if (PP__EXIT_LOST(st)) { /* a remote worker (pp__os_remote_worker): no status */
        snprintf(buf, cap, "lost its connection (the process ended, or its host is gone)");
        *code = 0;
    } else if (st->exited) {
        const char *name = pp__os_exit_name(st->code);
        if (name)
            snprintf(buf, cap, "exited with code 0x%08X (%s)", (unsigned)st->code, name);
        else
            snprintf(buf, cap, "exited with code %d", st->code);
        *code = st->code;
    } else {
        const char *name = pp__os_signal_name(st->signal);
        snprintf(buf, cap, "killed by signal %d (%s)", st->signal, name ? name : "unknown");
        *code = -st->signal;
    }
}

/* What the worker was doing: "running 'decode' (work 17)", "in the initializer 'init'",
 * "while idle". */
static void describe_activity(const pp_executor *ex, const worker *w, char *buf, size_t cap)
{
    /* A worker still W_STARTING never sent READY (everything it sent is read before its
     * exit is handled): it died in its initializer, or before. */
    if (w->state == W_STARTING && ex->initializer)
        snprintf(buf, cap, "in the initializer '%s'", ex->initializer);
    else if (w->state == W_STARTING)
        snprintf(buf, cap, "while starting");
    else if (w->item)
        snprintf(buf, cap, "running '%s' (work %llu)", w->item->task,
                 (unsigned long long)w->item->id);
    else
        snprintf(buf, cap, "while idle");
}

/* ---- breaking the pool ---- */

static void reap_worker(worker *w, pp__exit *st);
static void worker_drop(pp_executor *ex, worker *w);

/* Fails one future PP_EBROKEN with its own message. */
static void fail_broken(pp_executor *ex, work *it, const char *prefix, const char *cause,
                        int code, long long pid)
{
    char *msg = pp__asprintf("%s%s", prefix, cause);
    /* Counted first (see finish_item); a queued item its owner cancelled counts as such. */
    stats_add(ex, pp_future_cancelled(it->f) ? &ex->stats.cancelled : &ex->stats.failed);
    pp__future_finish_error(it->f, PP_EBROKEN, code, pid, msg);
    work_free(it);
}

/*
 * The pool is broken: `cause` says why ("worker 4242 killed by signal 9 (SIGKILL) running
 * 'decode' (work 17)"), `culprit` is the worker at fault (already reaped and dropped: its
 * item is passed as `held`), or NULL. Sets the broken flag first, so that a submit made
 * after seeing a broken future gets PP_EBROKEN; then fails every handed-out and queued
 * item; then terminates the remaining workers.
 */
/* Under the lock: sets the broken (or, for workers we signalled ourselves, only the
 * shutdown) flag and why, so that a submit made after seeing a broken future gets
 * PP_EBROKEN; takes the queued items for the caller to fail. */
static work *mark_broken(pp_executor *ex, bool broken, const char *cause, int code,
                         long long pid)
{
    char *saved = pp__strdup(cause);
    apr_thread_mutex_lock(ex->lock);
    ex->broken = broken;
    pp__free((char *)ex->broken_err.message);
    ex->broken_err = (pp_error){PP_EBROKEN, code, pid, saved};
    ex->shutdown = true;
    work *queued = ex->fifo;
    ex->fifo = NULL;
    ex->fifo_tail = &ex->fifo;
    ex->n_fifo = 0;
    ex->stats.pending = 0;
    apr_thread_mutex_unlock(ex->lock);
    return queued;
}

static void break_pool(pp_executor *ex, work *held, const char *cause, int code, long long pid)
{
    /* workers we signalled ourselves (terminate / kill) do not break the pool */
    work *queued = mark_broken(ex, !ex->forced, cause, code, pid);

    if (held)
        fail_broken(ex, held, "", cause, code, pid);
    for (worker *w = ex->workers; w; w = w->next) {
        if (w->item) {
            work *it = w->item;
            w->item = NULL;
            fail_broken(ex, it, BROKEN_PREFIX, cause, code, pid);
        }
    }
    work *it;
    while ((it = fifo_pop(&ex->callq, &ex->callq_tail)) != NULL)
        fail_broken(ex, it, BROKEN_PREFIX, cause, code, pid);
    while ((it = queued) != NULL) {
        queued = it->next;
        fail_broken(ex, it, BROKEN_PREFIX, cause, code, pid);
    }
    ex->n_handed = 0;

    /* Terminate the others, as CPython does: their state is unknown. */
    for (worker *w = ex->workers; w; w = w->next)
        pp__os_proc_stop(w->proc, false, NULL);
    while (ex->workers) {
        worker *w = ex->workers;
        pp__exit st;
        reap_worker(w, &st);
        worker_drop(ex, w);
    }
    ex->mstate = M_DONE;
}

/* ---- workers: start, I/O, exit ---- */

static void queue_frame(worker *w, const uint8_t *p, size_t len)
{
    PP__ASSERT(w->out_n < OUTQ);
    w->out[(w->out_head + w->out_n) % OUTQ] = (outframe){p, len};
    w->out_n++;
}

/* Collects the exit status: waits a grace period, then kills. */
static void reap_worker(worker *w, pp__exit *st)
{
    if (pp__os_proc_reap(w->proc, REAP_GRACE_MS, st, NULL) == PP_OK)
        return;
    pp__os_proc_stop(w->proc, true, NULL);
    if (pp__os_proc_reap(w->proc, PP_FOREVER, st, NULL) != PP_OK)
        *st = (pp__exit){false, 0, 9};
}

/* Unlinks a reaped worker, unpublishes its pid; it is freed after the event batch. */
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
    apr_thread_mutex_unlock(ex->lock);
    w->gone = true;
    w->next = ex->graveyard;
    ex->graveyard = w;
}

static void worker_free(worker *w)
{
    pp__os_chan_free(w->chan);
    pp__os_proc_free(w->proc);
    pp__free(w->rbuf);
    pp__free(w->big);
    pp__free(w->init_err);
    pp__free(w);
}

/*
 * The worker's channel reached EOF or its process exited (announced NULL), or it announced
 * that a task called exit() (announced: that status; the process is still ending). Expected
 * for a W_STOPPING worker; anything else breaks the pool. An announced exit breaks the pool
 * first and reaps the worker after, so that nobody waits for its teardown.
 */
static void worker_gone_as(pp_executor *ex, worker *w, const pp__exit *announced)
{
    if (w->gone)
        return;
    pp__exit st;
    if (announced)
        st = *announced;
    else
        reap_worker(w, &st);
    work *held = w->item;
    w->item = NULL;
    if (w->state == W_STOPPING && !held && !w->init_err) {
        worker_drop(ex, w);
        return;
    }
    stats_add(ex, &ex->stats.workers_died);
    char how[128], what[PP__NAME_MAX + 64], cause[1024];
    int code = 0;
    describe_exit(&st, how, sizeof how, &code);
    if (w->init_err) {
        snprintf(cause, sizeof cause, "worker %lld: the initializer '%s' failed (code %d): %s",
                 w->pid, ex->initializer ? ex->initializer : "?", w->init_code, w->init_err);
    } else {
        w->item = held; /* for the description */
        describe_activity(ex, w, what, sizeof what);
        w->item = NULL;
        const char *where = pp__os_proc_desc(w->proc);
        snprintf(cause, sizeof cause, "worker %lld%s%s%s %s %s", w->pid, where ? " (" : "",
                 where ? where : "", where ? ")" : "", how, what);
    }
    long long pid = w->pid;
    worker_drop(ex, w);
    break_pool(ex, held, cause, code, pid);
    if (announced) {
        /* the futures have failed: let it finish exiting (it waits for a byte), then reap
         * it (dropped, w lives until the end of the event batch) */
        size_t n = 0;
        (void)pp__os_chan_write(w->chan, ex->stop_frame.data, ex->stop_frame.len, &n, NULL);
        pp__exit real;
        reap_worker(w, &real);
    }
}

static void worker_gone(pp_executor *ex, worker *w)
{
    worker_gone_as(ex, w, NULL);
}

/* The worker broke the protocol: kill it and break the pool. */
static void worker_malformed(pp_executor *ex, worker *w, const char *what)
{
    pp__os_proc_stop(w->proc, true, NULL);
    pp__exit st;
    reap_worker(w, &st);
    stats_add(ex, &ex->stats.workers_died);
    char cause[768];
    const char *where = pp__os_proc_desc(w->proc);
    snprintf(cause, sizeof cause,
             "worker %lld%s%s%s sent a malformed message (%s) and was killed", w->pid,
             where ? " (" : "", where ? where : "", where ? ")" : "", what);
    int code = st.exited ? st.code : -st.signal;
    work *held = w->item;
    w->item = NULL;
    long long pid = w->pid;
    worker_drop(ex, w);
    break_pool(ex, held, cause, code, pid);
}

/* Writes what the worker's output queue holds, as far as the channel takes it. */
static void worker_flush(pp_executor *ex, worker *w)
{
    if (w->chan_broken)
        w->out_n = 0; /* nothing can be written any more */
    while (w->out_n && !w->gone) {
        outframe *o = &w->out[w->out_head];
        size_t n = 0;
        pp_status st = pp__os_chan_write(w->chan, o->p + w->out_off, o->len - w->out_off, &n,
                                         NULL);
        if (st != PP_OK) {
            /* The worker has closed its end: whatever it sent before (an INITERR, a
             * RESULT) is still to be read, and its EOF and exit will be reported by the
             * wait set; they tell the rest. (Not handled here: this can run inside a read
             * of this same worker.) */
            w->chan_broken = true;
            w->out_n = 0;
            w->out_off = 0;
            break;
        }
        if (n == 0)
            break;
        w->out_off += n;
        if (w->out_off == o->len) {
            w->out_head = (w->out_head + 1) % OUTQ;
            w->out_n--;
            w->out_off = 0;
        }
    }
    if (w->gone)
        return;
    bool want = w->out_n > 0;
    if (want != w->want_write) {
        pp__os_waitset_chan(ex->ws, w->chan, PP__EV_READ | (want ? PP__EV_WRITE : 0), w);
        w->want_write = want;
    }
}

static void worker_stop(pp_executor *ex, worker *w)
{
    if (w->state == W_STOPPING)
        return;
    w->state = W_STOPPING;
    queue_frame(w, ex->stop_frame.data, ex->stop_frame.len);
    worker_flush(ex, w);
}

/* Starts one worker; on failure the pool breaks (nothing else could run the work). */
static worker *worker_start(pp_executor *ex)
{
    worker *w = pp__calloc(1, sizeof *w);
    uint8_t *rbuf = pp__malloc(RBUF_CAP);
    const char *argv[] = {ex->program, NULL};
    pp__oserr oe = {NULL, 0};
    pp_status st = PP_ENOMEM;
    char err[256];
    err[0] = 0;
    if (w && rbuf) {
        switch (ex->method) {
        case PP_START_MPI:
            st = ex->starter->start(ex->starter_ctx, &w->proc, &w->chan, err, sizeof err);
            break;
        case PP_START_FORK:
            st = pp__os_fork(pp__worker_serve_forked, &w->proc, &w->chan, &oe);
            break;
        case PP_START_FORKSERVER:
            st = pp__os_forkserver_spawn(ex->program, &w->proc, &w->chan, &oe);
            break;
        default:
            st = pp__os_spawn(argv, &w->proc, &w->chan, &oe);
            break;
        }
    }
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
        break_pool(ex, NULL, cause, 0, 0);
        return NULL;
    }
    w->rbuf = rbuf;
    w->state = W_STARTING;
    w->next = ex->workers;
    ex->workers = w;
    ex->n_workers++;
    apr_thread_mutex_lock(ex->lock);
    ex->pids[ex->n_pids++] = w->pid;
    ex->stats.workers_started++;
    apr_thread_mutex_unlock(ex->lock);
    queue_frame(w, ex->init_frame.data, ex->init_frame.len);
    worker_flush(ex, w);
    return w;
}

/* ---- results ---- */

/* Finishes an item from its RESULT; body is owned (freed here or by the future) if
 * body_owned, else it lives in the staging buffer and is copied. The counters are updated
 * before the future completes, so that whoever sees it done sees them counted. */
static void finish_item(pp_executor *ex, worker *w, work *it, const pp__wire_result *r,
                        uint8_t *body, size_t body_len, bool body_owned)
{
    pp__wire_item item = {PP_OK, 0, body, body_len}; /* raw: the whole body */
    if (!it->raw) {
        pp__wire_cur cur = r->items;
        pp__wire_next_item(&cur, &item);
    }
    if (item.status != PP_OK) {
        char *msg = pp__strndup(item.data, item.len);
        if (body_owned)
            pp__free(body);
        stats_add(ex, &ex->stats.failed);
        pp__future_finish_error(it->f, item.status, item.code, w->pid, msg);
        work_free(it);
        return;
    }
    void *own = body_owned ? body : NULL;
    const void *data = item.len ? item.data : NULL; /* never into the staging buffer */
    if (!body_owned && item.len) {
        own = pp__malloc(item.len);
        if (own)
            memcpy(own, item.data, item.len);
        data = own;
    }
    if (!own && item.len) {
        stats_add(ex, &ex->stats.failed);
        pp__future_finish_error(it->f, PP_ENOMEM, 0, w->pid, NULL);
    } else {
        stats_add(ex, &ex->stats.completed);
        pp__future_finish_owned(it->f, own, data, item.len, w->pid);
    }
    work_free(it);
}

static void assign(pp_executor *ex);

/* One complete frame from worker w. */
static void on_frame(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                     bool body_owned)
{
    size_t len = (size_t)h->body_len;
    switch (h->type) {
    case PP__MSG_READY: {
        uint64_t pid;
        if (w->state != W_STARTING || pp__wire_decode_ready(body, len, &pid) != PP_OK)
            goto malformed;
        w->state = w->item ? W_BUSY : W_IDLE;
        break;
    }
    case PP__MSG_INITERR: {
        pp__wire_item it;
        if (w->state != W_STARTING || pp__wire_decode_initerr(body, len, &it) != PP_OK)
            goto malformed;
        w->init_err = pp__strndup(it.data, it.len);
        w->init_code = it.code;
        if (body_owned)
            pp__free(body);
        worker_gone(ex, w); /* it exits after sending INITERR */
        return;
    }
    case PP__MSG_EXITING: {
        /* a task it was running called exit(): only then is it sent */
        int32_t code;
        if (!w->item || w->state != W_BUSY || pp__wire_decode_exiting(body, len, &code) != PP_OK)
            goto malformed;
        if (body_owned)
            pp__free(body);
        pp__exit st = {true, code, 0};
        worker_gone_as(ex, w, &st);
        return;
    }
    case PP__MSG_RESULT: {
        pp__wire_result r;
        if (pp__wire_decode_result(body, len, &r) != PP_OK)
            goto malformed;
        work *it = w->item;
        if (!it || w->state == W_STARTING || r.work_id != it->id || r.n != it->n)
            goto malformed;
        /* Mark the worker idle and give it its next item before completing the future:
         * back-to-back tasks reuse one worker, and the worker never waits on callbacks. */
        w->item = NULL;
        w->state = (h->flags & PP__MSGF_LAST) ? W_STOPPING : W_IDLE;
        ex->n_handed--;
        assign(ex);
        finish_item(ex, w, it, &r, body, len, body_owned);
        return;
    }
    default:
        goto malformed;
    }
    if (body_owned)
        pp__free(body);
    return;
malformed:
    if (body_owned)
        pp__free(body);
    char what[64];
    snprintf(what, sizeof what, "frame type 0x%08X, %llu bytes", (unsigned)h->type,
             (unsigned long long)h->body_len);
    worker_malformed(ex, w, what);
}

/* Reads what worker w has sent, up to a budget, and handles every complete frame. */
static void worker_read(pp_executor *ex, worker *w)
{
    size_t budget = READ_BUDGET;
    /* A read that returns less than asked has emptied the channel for now: the next read
     * would only say "would block", so the wait set is asked again instead (it is
     * level-triggered: whatever arrives meanwhile is reported). Saves a system call per
     * wakeup. */
    bool drained = false;
    while (!w->gone && ex->mstate != M_DONE && budget) {
        size_t n = 0;
        pp_status st;
        if (w->big) { /* a large body: straight into its own buffer */
            if (drained)
                return;
            size_t want = (size_t)w->big_hdr.body_len - w->big_got;
            st = pp__os_chan_read(w->chan, w->big + w->big_got, want, &n, NULL);
            if (st != PP_OK) {
                worker_gone(ex, w);
                return;
            }
            if (n == 0)
                return;
            drained = n < want;
            budget -= n < budget ? n : budget;
            w->big_got += n;
            if (w->big_got == w->big_hdr.body_len) {
                uint8_t *body = w->big;
                pp__wire_hdr h = w->big_hdr;
                w->big = NULL;
                on_frame(ex, w, &h, body, true);
            }
            continue;
        }
        /* parse every complete frame in the staging buffer */
        while (!w->gone && ex->mstate != M_DONE && w->rlen - w->rpos >= PP__WIRE_HDR) {
            pp__wire_hdr h;
            if (pp__wire_get_hdr(w->rbuf + w->rpos, ex->max_body, &h) != PP_OK) {
                char what[160];
                if (pp__wire_get_hdr(w->rbuf + w->rpos, UINT64_MAX, &h) == PP_OK)
                    snprintf(what, sizeof what,
                             "a body of %llu bytes, above max_message_size (%llu)",
                             (unsigned long long)h.body_len,
                             (unsigned long long)ex->max_body);
                else
                    snprintf(what, sizeof what, "bad frame header");
                worker_malformed(ex, w, what);
                return;
            }
            size_t avail = w->rlen - w->rpos - PP__WIRE_HDR;
            if (h.body_len <= avail) {
                uint8_t *body = w->rbuf + w->rpos + PP__WIRE_HDR;
                w->rpos += PP__WIRE_HDR + (size_t)h.body_len;
                on_frame(ex, w, &h, body, false);
            } else if (h.body_len + PP__WIRE_HDR <= RBUF_CAP) {
                break; /* the rest comes with the next read */
            } else {
                if (h.body_len > SIZE_MAX || !(w->big = pp__malloc((size_t)h.body_len))) {
                    worker_malformed(ex, w, "frame too large to receive");
                    return;
                }
                memcpy(w->big, w->rbuf + w->rpos + PP__WIRE_HDR, avail);
                w->big_got = avail;
                w->big_hdr = h;
                w->rpos = w->rlen;
            }
        }
        if (w->gone || ex->mstate == M_DONE)
            return;
        if (w->rpos) {
            memmove(w->rbuf, w->rbuf + w->rpos, w->rlen - w->rpos);
            w->rlen -= w->rpos;
            w->rpos = 0;
        }
        if (w->big)
            continue;
        if (drained)
            return;
        size_t want = RBUF_CAP - w->rlen;
        st = pp__os_chan_read(w->chan, w->rbuf + w->rlen, want, &n, NULL);
        if (st != PP_OK) {
            worker_gone(ex, w);
            return;
        }
        if (n == 0)
            return;
        drained = n < want;
        budget -= n < budget ? n : budget;
        w->rlen += n;
    }
}

/* ---- the manager's steps ---- */

/* Moves items from the FIFO to the call queue while fewer than max_workers + 1 are handed
 * out, setting their futures running; cancelled ones are dropped here. */
static void take_pending(pp_executor *ex)
{
    size_t cap = (size_t)ex->max_workers + EXTRA_QUEUED_CALLS;
    while (ex->n_handed < cap) {
        apr_thread_mutex_lock(ex->lock);
        work *it = fifo_pop(&ex->fifo, &ex->fifo_tail);
        if (it)
            ex->stats.pending = --ex->n_fifo;
        apr_thread_mutex_unlock(ex->lock);
        if (!it)
            return;
        if (pp_future_set_running_or_notify_cancel(it->f)) {
            fifo_push(&ex->callq_tail, it);
            ex->n_handed++;
        } else {
            stats_add(ex, &ex->stats.cancelled);
            work_free(it);
        }
    }
}

/* Gives queued items to workers that hold none (idle, or starting). */
static void assign(pp_executor *ex)
{
    take_pending(ex);
    for (worker *w = ex->workers; w && ex->callq; w = w->next) {
        if (w->item || w->gone || w->state == W_STOPPING || w->state == W_BUSY)
            continue;
        w->item = fifo_pop(&ex->callq, &ex->callq_tail);
        if (w->state == W_IDLE)
            w->state = W_BUSY;
        queue_frame(w, work_frame(w->item), w->item->frame_len);
        worker_flush(ex, w);
        if (ex->mstate == M_DONE)
            return;
    }
}

/* Starts workers for queued items no worker can take, up to max_workers. Not with fork:
 * its workers were all forked before the manager served anything, and none is added. */
static void grow(pp_executor *ex)
{
    if (ex->method == PP_START_FORK || ex->starter_done)
        return;
    while (ex->callq && ex->n_workers < ex->max_workers && ex->mstate != M_DONE) {
        if (!worker_start(ex))
            return;
        assign(ex);
    }
}

/* One pass of the state machine between two waits. */
static void manager_step(pp_executor *ex)
{
    apr_thread_mutex_lock(ex->lock);
    int force = ex->force;
    apr_thread_mutex_unlock(ex->lock);
    if (force && !ex->forced && ex->mstate != M_DONE) {
        /* Only the manager signals workers: it alone knows which are not yet reaped, so no
         * signal can reach a recycled pid. */
        ex->forced = true;
        for (worker *w = ex->workers; w; w = w->next)
            pp__os_proc_stop(w->proc, force == FORCE_KILL, NULL);
    }
    if (ex->mstate == M_SERVING) {
        assign(ex);
        grow(ex);
    }
    if (ex->mstate == M_SERVING) {
        apr_thread_mutex_lock(ex->lock);
        bool drained = ex->shutdown && ex->n_fifo == 0;
        apr_thread_mutex_unlock(ex->lock);
        if (drained && ex->n_handed == 0) {
            ex->mstate = M_STOPPING;
            for (worker *w = ex->workers; w; w = w->next)
                worker_stop(ex, w);
        }
    }
    if (ex->mstate == M_STOPPING && ex->n_workers == 0)
        ex->mstate = M_DONE;
}

/* One look at the wait set without waiting, for pp__spin_poll: ready when it reported
 * something or failed. */
typedef struct events_look {
    pp_executor *ex;
    pp__event   *ev;
    size_t      *n;
    pp__oserr   *oe;
    pp_status    st;
} events_look;

static bool look_events(void *arg)
{
    events_look *l = arg;
    l->st = pp__os_waitset_wait(l->ex->ws, 0, l->ev, N_EVENTS, l->n, l->oe);
    return *l->n || l->st != PP_OK;
}

/* Waits for events: first polling the wait set, while the spin policy allows (spin.h), then
 * sleeping in it. */
static pp_status wait_events(pp_executor *ex, pp__event *ev, size_t *n, pp__oserr *oe)
{
    events_look l = {ex, ev, n, oe, PP_OK};
    int64_t t0;
    *n = 0;
    if (!pp__spin_poll(&ex->spin, -1, look_events, &l, &t0))
        l.st = pp__os_waitset_wait(ex->ws, PP_FOREVER, ev, N_EVENTS, n, oe);
    pp__spin_end(&ex->spin, t0);
    return l.st;
}

static void manager_wait(pp_executor *ex)
{
    pp__event ev[N_EVENTS];
    size_t n = 0;
    pp__oserr oe = {NULL, 0};
    if (wait_events(ex, ev, &n, &oe) != PP_OK) {
        char err[256], cause[320];
        snprintf(cause, sizeof cause, "the manager cannot wait: %s",
                 pp__os_strerror(&oe, err, sizeof err));
        break_pool(ex, NULL, cause, 0, 0);
        return;
    }
    for (size_t i = 0; i < n && ex->mstate != M_DONE; i++) {
        worker *w = ev[i].tag;
        if (!w || w->gone)
            continue;
        if (ev[i].events & (PP__EV_READ | PP__EV_EXIT))
            worker_read(ex, w);
        if (!w->gone && (ev[i].events & PP__EV_WRITE))
            worker_flush(ex, w);
        if (!w->gone && (ev[i].events & PP__EV_EXIT)) {
            /* The process is dead: whatever it wrote is readable now; then it is gone. */
            while (!w->gone && ex->mstate != M_DONE) {
                size_t before = w->rlen + w->big_got;
                worker_read(ex, w);
                if (w->gone || w->rlen + w->big_got == before)
                    break;
            }
            worker_gone(ex, w);
        }
    }
    while (ex->graveyard) {
        worker *w = ex->graveyard;
        ex->graveyard = w->next;
        worker_free(w);
    }
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
    for (int i = 0; i < ex->max_workers && ex->mstate != M_DONE; i++)
        worker_start(ex);
    apr_thread_mutex_lock(ex->start_lock);
    ex->forked_all = true;
    apr_thread_cond_broadcast(ex->start_cond);
    apr_thread_mutex_unlock(ex->start_lock);
}

static void *APR_THREAD_FUNC manager_main(apr_thread_t *thread, void *arg)
{
    pp_executor *ex = arg;
    tl_manager = ex;
    if (ex->method == PP_START_FORK)
        fork_workers(ex);
    for (;;) {
        manager_step(ex);
        publish(ex);
        if (ex->mstate == M_DONE)
            break;
        manager_wait(ex);
    }
    while (ex->graveyard) {
        worker *w = ex->graveyard;
        ex->graveyard = w->next;
        worker_free(w);
    }
    publish(ex);
    tl_manager = NULL;
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}

/* ---- the callers' side ---- */

void pp_executor_options_init(pp_executor_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->start_method = PP_START_DEFAULT;
}

int pp_cpu_count(void)
{
    return pp__os_cpu_count();
}

static pp_status check_options(const pp_executor_options *o)
{
    PP__CHECK_ARG(o->max_workers >= 0 && o->max_workers <= pp__os_max_workers());
    PP__CHECK_ARG(o->max_tasks_per_child >= 0);
    PP__CHECK_ARG(o->max_message_size == 0 || o->max_message_size >= PP__MIN_MESSAGE_SIZE);
    PP__CHECK_ARG(o->initargs.data != NULL || o->initargs.len == 0);
    switch (o->start_method) {
    case PP_START_DEFAULT:
    case PP_START_SPAWN:
        break;
    case PP_START_FORK:
        if (!pp__os_fork_supported())
            return PP_ENOTSUP;
        /* CPython: "max_tasks_per_child is incompatible with the 'fork' start method" (a
         * fork pool never adds a worker, so it could not replace one). */
        PP__CHECK_ARG(o->max_tasks_per_child == 0);
        PP__CHECK_ARG(o->worker_path == NULL); /* fork runs no program */
        break;
    case PP_START_FORKSERVER:
        if (!pp__os_fork_supported())
            return PP_ENOTSUP;
        break;
    case PP_START_MPI:
        if (!atomic_load(&mpi_starter))
            return PP_ENOTSUP; /* libprocpool_mpi not linked, or pp_mpi_worker_main not run */
        /* a static pool, as with fork: no worker is added, none replaced; no program runs */
        PP__CHECK_ARG(o->max_tasks_per_child == 0);
        PP__CHECK_ARG(o->worker_path == NULL);
        break;
    default:
        return PP_EINVAL;
    }
    if (o->initializer) {
        size_t len = strlen(o->initializer);
        PP__CHECK_ARG(len > 0 && len <= PP__NAME_MAX);
        if (!pp__registry_lookup(o->initializer, len, NULL))
            return PP_ENOTASK;
    }
    /* A spawned program, or the forkserver, must recognise the worker marker; a forked
     * worker is this process's copy and needs nothing. */
    if (!o->worker_path && o->start_method != PP_START_FORK && !pp__registry_closed())
        return PP_ESTATE;
    return PP_OK;
}

static void executor_free(pp_executor *ex)
{
    if (ex->starter)
        ex->starter->close(ex->starter_ctx, ex->broken || ex->forced);
    pp__os_waitset_free(ex->ws);
    pp__free(ex->program);
    pp__free(ex->init_frame.data);
    pp__free(ex->stop_frame.data);
    pp__free(ex->pids);
    pp__free((char *)ex->broken_err.message);
    if (ex->pool)
        apr_pool_destroy(ex->pool);
    pp__free(ex);
    pp__big_hold(false);
}

pp_status pp_executor_create(const pp_executor_options *o, pp_executor **out)
{
    return pp__executor_create_ext(o, NULL, out);
}

pp_status pp__executor_create_ext(const pp_executor_options *o, const void *ext,
                                  pp_executor **out)
{
    PP__CHECK_ARG(out != NULL);
    *out = NULL;
    pp_executor_options defaults;
    if (!o) {
        pp_executor_options_init(&defaults);
        o = &defaults;
    }
    pp_status st = check_options(o);
    if (st != PP_OK)
        return st;
    if ((st = pp__global_init()) != PP_OK)
        return st;

    pp_executor *ex = pp__calloc(1, sizeof *ex);
    if (!ex)
        return PP_ENOMEM;
    pp__big_hold(true); /* released by executor_free */
    ex->method = o->start_method == PP_START_DEFAULT ? PP_START_SPAWN : o->start_method;
    ex->max_body = o->max_message_size ? o->max_message_size : PP_DEFAULT_MAX_MESSAGE_SIZE;
    ex->max_body = ex->max_body > PP__WIRE_HDR ? ex->max_body - PP__WIRE_HDR : 0;
    ex->max_workers = o->max_workers ? o->max_workers : pp__os_cpu_count();
    if (ex->max_workers > pp__os_max_workers())
        ex->max_workers = pp__os_max_workers();
    ex->initializer = o->initializer
                          ? pp__registry_lookup(o->initializer, strlen(o->initializer), NULL)
                          : NULL;
    ex->fifo_tail = &ex->fifo;
    ex->callq_tail = &ex->callq;
    ex->mstate = M_SERVING;
    pp__spin_init(&ex->spin, pp__spin_max_ns());
    pp__oserr oe = {NULL, 0};
    bool no_program = ex->method == PP_START_FORK || ex->method == PP_START_MPI;
    if (ex->method == PP_START_MPI) {
        const pp__starter *s = atomic_load(&mpi_starter);
        char err[256] = "";
        int n = o->max_workers;
        if (!s) {
            st = PP_ENOTSUP;
            goto fail;
        }
        if ((st = s->open(o, ext, &n, &ex->starter_ctx, err, sizeof err)) != PP_OK)
            goto fail;
        ex->starter = s;
        ex->max_workers = n;
    }
    st = PP_ENOMEM;
    if (o->worker_path)
        ex->program = pp__strdup(o->worker_path);
    else if (!no_program && (st = pp__os_exepath(&ex->program, &oe)) != PP_OK)
        goto fail;
    ex->pids = pp__calloc((size_t)ex->max_workers, sizeof *ex->pids);
    if ((!ex->program && !no_program) || !ex->pids ||
        pp__wire_encode_init(&ex->init_frame, (uint32_t)o->max_tasks_per_child, ex->initializer,
                             o->initargs.data,
                             o->initargs.len) != PP_OK ||
        pp__wire_encode_stop(&ex->stop_frame) != PP_OK) {
        st = PP_ENOMEM;
        goto fail;
    }
    st = PP_ESYS;
    if (apr_pool_create(&ex->pool, NULL) != APR_SUCCESS ||
        apr_thread_mutex_create(&ex->lock, APR_THREAD_MUTEX_DEFAULT, ex->pool) != APR_SUCCESS ||
        apr_thread_mutex_create(&ex->join_lock, APR_THREAD_MUTEX_DEFAULT, ex->pool) !=
            APR_SUCCESS ||
        apr_thread_mutex_create(&ex->start_lock, APR_THREAD_MUTEX_DEFAULT, ex->pool) !=
            APR_SUCCESS ||
        apr_thread_cond_create(&ex->start_cond, ex->pool) != APR_SUCCESS)
        goto fail;
    if ((st = pp__os_waitset_create(&ex->ws, &oe)) != PP_OK)
        goto fail;
    /* fork: the manager starts at the first submit (fork_workers). */
    if (ex->method != PP_START_FORK) {
        if (apr_thread_create(&ex->thread, NULL, manager_main, ex, ex->pool) != APR_SUCCESS) {
            st = PP_ESYS;
            goto fail;
        }
        ex->thread_created = true;
        atomic_store(&ex->started, true);
    }
    *out = ex;
    return PP_OK;
fail:
    executor_free(ex);
    return st;
}

char *pp__executor_broken_cause(pp_executor *ex, int *code, long long *pid)
{
    apr_thread_mutex_lock(ex->lock);
    char *msg = ex->broken_err.message ? pp__strdup(ex->broken_err.message) : NULL;
    *code = ex->broken_err.code;
    *pid = ex->broken_err.pid;
    apr_thread_mutex_unlock(ex->lock);
    return msg;
}

/* fork: starts the manager, which forks the workers, and waits until it has. Called after
 * queueing an item; nothing to start if the item is gone already (shutdown with
 * cancel_futures took it: its future is cancelled). */
static pp_status ensure_started(pp_executor *ex)
{
    if (atomic_load_explicit(&ex->started, memory_order_acquire))
        return PP_OK;
    pp_status st = PP_OK;
    apr_thread_mutex_lock(ex->start_lock);
    if (!ex->thread_created) {
        apr_thread_mutex_lock(ex->lock);
        bool work_queued = ex->n_fifo > 0; /* else a shutdown took it all: nothing to do */
        apr_thread_mutex_unlock(ex->lock);
        if (work_queued) {
            if (apr_thread_create(&ex->thread, NULL, manager_main, ex, ex->pool) !=
                APR_SUCCESS) {
                st = PP_ESYS;
            } else {
                ex->thread_created = true;
                while (!ex->forked_all)
                    apr_thread_cond_wait(ex->start_cond, ex->start_lock);
                atomic_store_explicit(&ex->started, true, memory_order_release);
            }
        }
    }
    apr_thread_mutex_unlock(ex->start_lock);
    return st;
}

/* No manager could start (fork): the pool is broken, and what was queued fails here, on
 * the caller's thread (there is no other). */
static void fail_unstarted(pp_executor *ex, const char *cause)
{
    work *it, *queued = mark_broken(ex, true, cause, 0, 0);
    while ((it = queued) != NULL) {
        queued = it->next;
        fail_broken(ex, it, BROKEN_PREFIX, cause, 0, 0);
    }
}

pp_status pp__submit_batch(pp_executor *ex, const char *task, const pp_buf *args, size_t n,
                           bool raw, pp_future **out)
{
    *out = NULL;
    size_t name_len = strlen(task);
    size_t frame_len = pp__wire_call_size(name_len, args, n);
    if (frame_len == SIZE_MAX || frame_len > SIZE_MAX - sizeof(work))
        return PP_ENOMEM;
    work *it = pp__malloc(sizeof *it + frame_len);
    pp_future *f = pp__future_new();
    if (!it || !f) {
        pp__free(it);
        pp_future_release(f);
        return PP_ENOMEM;
    }
    it->id = atomic_fetch_add_explicit(&ex->next_id, 1, memory_order_relaxed);
    it->f = f;
    it->task = task;
    it->n = (uint32_t)n;
    it->raw = raw;
    it->frame_len = frame_len;
    it->next = NULL;
    pp__wire_encode_call(work_frame(it), it->id, task, name_len, args, n);

    apr_thread_mutex_lock(ex->lock);
    pp_status st = ex->broken ? PP_EBROKEN : ex->shutdown ? PP_ESHUTDOWN : PP_OK;
    if (st == PP_OK) {
        fifo_push(&ex->fifo_tail, it);
        ex->stats.pending = ++ex->n_fifo;
        pp_future_retain(f); /* the caller's reference; the item keeps its own */
    }
    apr_thread_mutex_unlock(ex->lock);
    if (st != PP_OK) {
        work_free(it);
        return st;
    }
    /* fork: the item is queued first, so that the first submit always has its future,
     * which breaks with the pool if a worker cannot start (as in CPython). */
    if (ensure_started(ex) != PP_OK)
        fail_unstarted(ex, "cannot start the executor's manager thread");
    pp__os_waitset_wake(ex->ws);
    *out = f;
    return PP_OK;
}

pp_status pp_submit(pp_executor *ex, const char *task, const void *arg, size_t len,
                    pp_future **out)
{
    PP__CHECK_ARG(out != NULL);
    *out = NULL;
    PP__CHECK_ARG(ex != NULL && task != NULL && (arg != NULL || len == 0));
    const char *name = pp__registry_lookup(task, strlen(task), NULL);
    if (!name)
        return PP_ENOTASK;
    pp_buf b = {arg, len};
    return pp__submit_batch(ex, name, &b, 1, false, out);
}

static void join_manager(pp_executor *ex)
{
    apr_thread_mutex_lock(ex->start_lock); /* waits for a start in progress */
    bool created = ex->thread_created;
    apr_thread_mutex_unlock(ex->start_lock);
    if (!created)
        return;
    apr_thread_mutex_lock(ex->join_lock);
    if (!ex->joined) {
        apr_status_t rv;
        apr_thread_join(&rv, ex->thread);
        ex->joined = true;
    }
    apr_thread_mutex_unlock(ex->join_lock);
}

pp_status pp_executor_shutdown(pp_executor *ex, bool wait, bool cancel_futures)
{
    PP__CHECK_ARG(ex != NULL);
    apr_thread_mutex_lock(ex->lock);
    ex->shutdown = true;
    work *cancel = NULL;
    if (cancel_futures) {
        cancel = ex->fifo;
        ex->fifo = NULL;
        ex->fifo_tail = &ex->fifo;
        ex->n_fifo = 0;
        ex->stats.pending = 0;
    }
    apr_thread_mutex_unlock(ex->lock);
    /* Cancelled here, on the caller's thread: their callbacks run here, no lock held. */
    while (cancel) {
        work *it = cancel;
        cancel = it->next;
        pp_future_cancel(it->f);
        stats_add(ex, &ex->stats.cancelled);
        work_free(it);
    }
    pp__os_waitset_wake(ex->ws);
    if (!wait)
        return PP_OK;
    if (tl_manager == ex)
        return PP_ESTATE;
    join_manager(ex);
    return PP_OK;
}

static pp_status force_workers(pp_executor *ex, int how)
{
    PP__CHECK_ARG(ex != NULL);
    pp_executor_shutdown(ex, false, true);
    apr_thread_mutex_lock(ex->lock);
    if (!ex->force)
        ex->force = how;
    apr_thread_mutex_unlock(ex->lock);
    pp__os_waitset_wake(ex->ws);
    return PP_OK;
}

pp_status pp_executor_terminate_workers(pp_executor *ex)
{
    return force_workers(ex, FORCE_TERM);
}

pp_status pp_executor_kill_workers(pp_executor *ex)
{
    return force_workers(ex, FORCE_KILL);
}

void pp_executor_destroy(pp_executor *ex)
{
    if (!ex)
        return;
    if (tl_manager == ex) {
        /* From one of its own done callbacks: it cannot wait for itself. Shut down and
         * leave the executor allocated (documented as not allowed). */
        pp_executor_shutdown(ex, false, false);
        return;
    }
    pp_executor_shutdown(ex, true, false);
    executor_free(ex);
}

pp_status pp_executor_stats_get(pp_executor *ex, pp_executor_stats *out)
{
    PP__CHECK_ARG(ex != NULL && out != NULL);
    apr_thread_mutex_lock(ex->lock);
    *out = ex->stats;
    out->pending = ex->n_fifo;
    apr_thread_mutex_unlock(ex->lock);
    return PP_OK;
}

pp_status pp_executor_worker_pids(pp_executor *ex, long long *pids, size_t cap, size_t *n)
{
    if (n)
        *n = 0;
    PP__CHECK_ARG(ex != NULL && n != NULL && (pids != NULL || cap == 0));
    apr_thread_mutex_lock(ex->lock);
    for (size_t i = 0; i < ex->n_pids && i < cap; i++)
        pids[i] = ex->pids[i];
    *n = ex->n_pids;
    apr_thread_mutex_unlock(ex->lock);
    return PP_OK;
}
