/*
 * The executor's private structures, shared by its three files (docs/design.md draws them):
 *
 *   executor.c    the callers' side: pp_executor_create / pp_submit / shutdown / stats ...
 *                 (any thread; touches only the fields "guarded by lock")
 *   manager.c     the manager thread: its loop, the manager and worker state machines (every
 *                 state change goes through mgr_set_state / worker_set_state), the frame
 *                 table, breaking the pool, reaping
 *   manager_io.c  the manager thread's per-worker I/O: starting a worker, its output queue,
 *                 reading and framing its input (hands each frame to manager.c)
 */
#ifndef PP_EXECUTOR_INT_H
#define PP_EXECUTOR_INT_H

#include <stdatomic.h>
#include <apr_pools.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include "executor.h"
#include "future.h"
#include "pp_os.h"
#include "spin.h"
#include "starter.h"
#include "wire.h"
#include "wshm.h"
#include "seg.h"

#define EXTRA_QUEUED_CALLS 1
#define PP__MIN_MESSAGE_SIZE 1024        /* max_message_size: room for any control message */
#define RBUF_CAP (64u * 1024u)           /* staging buffer for small frames, per worker */
#define READ_BUDGET (8u * 1024u * 1024u) /* bytes read from one worker per wakeup */
#define WBATCH_CAP 8192 /* small frames for one worker gathered into one write, up to this */
#define PIPE_MAX 64 /* PROCPOOL_PIPELINE: at most this many calls held by one worker */
#define PIPE_DEFAULT 64 /* ... and by default (docs/design.md, "The pipeline") */
#define OUTQ (6 + PIPE_MAX) /* SHM + INIT + result SEG + a CALL (or its SEG) + STOP, and
                               the calls queued ahead */
#define REAP_GRACE_MS 2000 /* a worker whose channel closed, or that was told to terminate,
                              has this long to exit before it is killed */
#define REAP_POLL_MS 5     /* while a worker's exit is awaited: how often its status is
                              polled where the backend gives no exit event */
#define EARLY_DEATHS_MAX 3 /* ISOLATE / RETRY: this many workers in a row dying before they
                              are ready break the pool instead of being replaced */
#define BROKEN_PREFIX "A process in the process pool was terminated abruptly while the " \
                      "future was running or pending: "

/* How pp_executor_terminate_workers / _kill_workers asked the manager to signal them. */
typedef enum force_kind { FORCE_NONE, FORCE_TERM, FORCE_KILL } force_kind;

/* ---- work items ---- */

typedef struct work {
    uint64_t     id;
    pp_future   *f;
    const char  *task;      /* stable registered name */
    uint32_t     n;         /* arguments in the call */
    bool         raw;       /* map chunk: the future's result is the RESULT body */
    size_t       frame_len; /* the CALL frame follows the struct, or is in seg */
    pp__seg     *seg;       /* a large CALL: the frame is at its offset 0 (seg.h), or NULL */
    int          retries;   /* PP_CRASH_RETRY: times it was run again after its worker died */
    long         limit_ms;  /* its time limit (0: none) */
    int64_t      deadline;  /* once a ready worker holds it, with a limit: when it is asked
                               to stop (pp__os_monotonic_ms), else 0 */
    /* A map chunk whose result comes in pieces (MORE frames; or a worker died or was
     * stopped part-way, and the rest of the chunk runs again as a new CALL of the same
     * id, holding what was done): manager.c, "map chunks". */
    uint32_t     chunk_n;   /* raw: items in the whole chunk (n: in this CALL) */
    uint32_t     got;       /* items of this CALL already in acc */
    uint32_t     acc_n;     /* items of the chunk in acc */
    bool         acc_nomem; /* acc could not grow: the chunk fails PP_ENOMEM */
    pp__wbuf     acc;       /* the chunk's items so far, an assembled body (wire.h); or
                               empty while the result comes in one piece */
    int          slot;      /* held by a worker through a slot of its block (wshm.h): which,
                               else -1 */
    int          stop_later; /* a stop_kind asked while it was queued ahead (claimed): asked
                                once it is its worker's first call */
    struct work *next;
    bool         embedded;  /* it lives in its future's own block (pp__future_new_ext),
                               freed with the future: pp__work_free releases it last */
    /* uint8_t frame[frame_len]; */
} work;

static inline uint8_t *work_frame(work *w)
{
    return w->seg ? pp__seg_addr(w->seg) : (uint8_t *)(w + 1);
}

void pp__work_free(work *w);
void pp__fifo_push(work ***tail, work *w);
work *pp__fifo_pop(work **head, work ***tail);

/* ---- workers (the manager's alone) ---- */

/*
 * A worker's state. Changed only by worker_set_state() (manager.c), which checks the move
 * against the table there. "Has finished starting" (READY received) is the separate fact
 * `ready`: a worker asked to stop while in its initializer still sends READY.
 *
 *   W_STARTING  started, INIT queued; no READY yet. May already hold an item (its CALL
 *               waits in the channel behind INIT).
 *   W_IDLE      ready, holds nothing.
 *   W_BUSY      ready, holds an item.
 *   W_STOPPING  its exit is expected: it was sent STOP (shutdown), or told to terminate
 *               (the pool broke), or sent its last RESULT (max_tasks_per_child). Holds
 *               nothing.
 *   W_CLOSED    its channel ended (EOF or error) or its process exited: nothing more is
 *               read from it; its exit status is collected without blocking (exit event, or
 *               polled), and it is killed if it has not exited by `kill_at`.
 *   W_EXITING   it announced that its task called exit() (EXITING): its end is already
 *               handled with the announced status; it is answered and awaited as W_CLOSED.
 *   W_GONE      reaped: unlinked, freed at the end of the manager's pass.
 */
typedef enum wstate {
    W_STARTING,
    W_IDLE,
    W_BUSY,
    W_STOPPING,
    W_CLOSED,
    W_EXITING,
    W_GONE,
    W__COUNT
} wstate;

/* Why the manager asked a worker's call to stop (the worker is killed if the call has not
 * returned by kill_at). */
typedef enum stop_kind {
    STOP_NONE,
    STOP_TIMELIMIT, /* its time limit passed: ends PP_ETIMELIMIT */
    STOP_ABORT,     /* pp_future_abort: ends PP_ECANCELLED */
    STOP_EXEC       /* pp_executor_stop: keeps its outcome if it returns, else PP_ECANCELLED */
} stop_kind;

typedef struct outframe {
    const uint8_t *p;
    size_t         len;
    pp__shm       *attach; /* goes with the frame's first byte (pp__os_shm_attach), or NULL */
} outframe;

typedef struct worker {
    pp__proc      *proc;
    pp__chan      *chan;
    long long      pid;
    wstate         state;
    bool           ready;      /* READY received */
    wstate         closed_from; /* W_CLOSED: the state it was in when its channel ended */
    work          *item;      /* the item it holds (the first, running or about to), or NULL */
    work          *ahead;     /* the calls queued ahead behind it, in order (a list) */
    work         **ahead_tail;
    unsigned       n_ahead;
    bool           want_flush; /* assign: CALL frames queued, to be written at once */
    struct work   *limbo;     /* items dropped while their CALL frame was still queued:
                                 freed once the output queue is empty */
    int64_t        kill_at;   /* W_CLOSED / W_EXITING / terminated: killed at this time
                                 (pp__os_monotonic_ms), 0: no deadline */
    bool           killed;    /* SIGKILL / TerminateProcess sent */
    bool           exit_unanswered; /* W_EXITING: its EXITING is answered once its call's
                                       future (or the pool's) has been failed */
    int64_t        idle_since; /* W_IDLE, with idle_timeout_ms: when it became idle */
    int64_t        busy_since; /* W_BUSY: when it was given its call */
    unsigned long long calls;  /* RESULTs it sent */
    stop_kind      stop_reason; /* its call was asked to stop (kill_at is the deadline) */
    pp__shm       *shm;       /* the block shared with it (wshm.h), or NULL */
    pp__wshm      *wshm;
    uint8_t        shm_frame[PP__WIRE_SHM_LEN];
    /* the rings of its block (ring.h), turned on once the SHM frame is written: every later
     * frame, both ways, goes through them; the channel carries wake-up bytes, descriptors
     * (each with a wake-up byte, before its frame) and, by its end, the worker's */
    bool           ringed;    /* (tx.data: its block has them, on once SHM is written) */
    bool           fd_sent;   /* the head frame's descriptor is gone */
    bool           bell_full; /* the channel took no wake-up byte: write when writable */
    pp__ring       tx, rx;
    pp__seg       *rseg;      /* its result segment (seg.h), or NULL */
    uint8_t        rseg_frame[PP__WIRE_SEG_LEN]; /* the SEG frame that gave it */
    uint8_t        call_frame[PP__WIRE_SEG_LEN]; /* the SEG frame of a CALL in a segment */
    bool           faulted;   /* the manager killed it for a malformed message: */
    char           fault[160]; /* which */
    char          *init_err;  /* the initializer's failure (INITERR), or NULL */
    int            init_code;
    bool           crashed;    /* it sent CRASH (its own account of a fatal fault): */
    uint32_t       crash_code; /* the signal (Windows: the exception code) */
    char          *crash_text; /* its backtrace ("#0 ..." lines), or NULL */
    struct worker *next;
    /* output: a small queue of frames; CALL frames belong to their work item, INIT to the
     * executor, STOP is static */
    outframe       out[OUTQ];
    unsigned       out_head, out_n;
    size_t         out_off;
    bool           want_write;
    bool           out_closed; /* a write failed: the worker closed its end; write nothing */
    /* input: frames are parsed from a staging buffer; a body larger than it is read
     * straight into its own allocation */
    uint8_t       *rbuf;
    size_t         rlen, rpos;
    pp__wire_hdr   big_hdr;
    uint8_t       *big;       /* the large body being read, or NULL */
    size_t         big_got;
} worker;

/* True while the worker's process may still send frames that mean something. */
static inline bool worker_live(const worker *w)
{
    return w->state <= W_STOPPING;
}

/*
 * The manager's state. Changed only by mgr_set_state() (manager.c), which checks the move:
 *
 *   M_SERVING  --shutdown asked, FIFO empty, nothing handed out: STOP to every worker-->
 *   M_STOPPING --no worker left-->                                                   M_DONE
 *   M_SERVING / M_STOPPING --the break recorded in `brk` is carried out-->           M_BROKEN
 *   M_BROKEN   --no worker left (each was told to terminate, killed after the grace)--> M_DONE
 */
typedef enum mstate { M_SERVING, M_STOPPING, M_BROKEN, M_DONE, M__COUNT } mstate;

/* Why the pool breaks: recorded where it is detected (record_break), carried out at one
 * point of the manager's loop (break_now). The first cause wins. */
typedef struct pending_break {
    bool      set;
    bool      broken;  /* false: the workers were signalled by terminate / kill_workers:
                          the pool is shut down, not broken (CPython 3.14) */
    char     *cause;   /* "worker 4242 killed by signal 9 (SIGKILL) running 'decode' (work 17)" */
    int       code;    /* exit code, or -signal */
    long long pid;
    work     *held;    /* the item of the worker at fault: fails with `cause` alone */
} pending_break;

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
    pp__os_wstart       wstart;       /* worker_env / worker_cwd / worker_memory_limit, copied
                                         (wstart.c) */
    unsigned long long  max_worker_rss; /* 0: none; else a worker above it after a call is
                                           stopped and replaced (on_result) */
    const char         *initializer;  /* stable registered name, or NULL */
    pp_crash_policy     crash_policy;
    int                 max_retries;
    long                idle_timeout_ms; /* 0: workers never exit for being idle */
    long                call_time_limit_ms; /* 0: none */
    long                stop_grace_ms;
    pp__wbuf            init_frame;   /* the INIT frame every worker gets */
    pp__wbuf            stop_frame;
    atomic_uint_fast64_t next_id;

    /* --- guarded by lock: what callers see --- */
    apr_thread_mutex_t *lock;
    work               *fifo, **fifo_tail;
    size_t              n_fifo;
    size_t              max_pending;  /* 0: unlimited */
    apr_thread_cond_t  *room_cond;    /* with max_pending: signalled when the FIFO shrinks,
                                         and at shutdown / break */
    bool                shutdown, broken;
    pp_error            broken_err;   /* why it broke (message owned), once broken */
    force_kind          force;        /* terminate / kill_workers asked */
    pp_executor_stats   stats;
    atomic_ullong       n_completed;  /* calls completed with a result: the manager counts
                                         them without ex->lock (stats.completed is the
                                         rest); pp_executor_stats_get adds them up */
    long long          *pids;         /* live workers, max_workers slots */
    struct pub_worker  *pub;          /* what each worker does, as of the last publish() */
    size_t              n_pub;
    size_t              n_pids;
    int                 want_workers; /* pp_executor_start_workers: start up to this many */
    int                 n_ready;      /* live workers that have sent READY */
    bool                take_work;    /* a submitted call could go out at once (else a
                                         submit does not wake the manager: manager.c,
                                         could_take_work); true until it says */
    apr_thread_cond_t  *ready_cond;   /* signalled when n_ready, broken or shutdown change */
    uint64_t           *aborts;       /* pp_future_abort: work ids whose call is to stop */
    size_t              n_aborts, cap_aborts;
    atomic_bool         stop_asked;   /* aborts or stop_all pending: the manager looks (its
                                         pass takes no lock while there is nothing) */
    bool                revoked;      /* a caller revoked a call queued ahead to a worker */
    bool                cancel_queued; /* shutdown(cancel_futures): the manager cancels the
                                          calls handed out but not started */
    bool                stop_all;     /* pp_executor_stop asked ... */
    long                stop_all_grace; /* ... with this grace */

    /* --- the manager thread's alone --- */
    mstate              mstate;
    worker             *workers;      /* every worker not yet W_GONE */
    int                 n_workers;
    work               *callq, **callq_tail;
    size_t              n_handed;      /* in the call queue or held by a worker */
    int                 pipeline;      /* PROCPOOL_PIPELINE: calls a worker may hold (queued
                                          ahead in its block's slots); 0: the old rule (one,
                                          its future RUNNING from the hand-out) */
    worker             *graveyard;     /* W_GONE workers, freed after each pass */
    bool                forced;        /* the workers were signalled (terminate / kill) */
    int                 early_deaths;  /* workers in a row that died before READY */
    bool                stopped_all;   /* pp_executor_stop carried out */
    bool                starter_done;  /* PP_START_MPI: the starter has no more workers */
    pending_break       brk;
    pp__spin            spin;          /* how long to poll before sleeping (spin.h) */
    int                 busy_seen;     /* its workers running a call at the last wait, as
                                          counted in pp__spin_busy_add (spin.h) */
    bool                nap_ok;        /* the last wait was short and brought results:
                                          the next may be a nap (manager.c, "naps") */
    bool                no_naps;       /* the backend cannot nap (pp__os_waitset_nap) */
    bool                dispatching;   /* manager_wait is handling the events of a wait */
    bool                assign_owed;   /* ... and a RESULT freed a worker: assign at its
                                          end, once (manager.c, assign_soon) */
    uint8_t            *wbatch;        /* WBATCH_CAP bytes: small frames queued for one
                                          worker, gathered into one write (manager_io.c) */

    /* --- starting (fork: the manager starts at the first submit) and joining --- */
    apr_thread_mutex_t *start_lock;
    apr_thread_cond_t  *start_cond;
    bool                thread_created; /* under start_lock */
    bool                forked_all;     /* fork: the workers exist (under start_lock) */
    atomic_bool         started;        /* thread_created, read without the lock */
    apr_thread_mutex_t *join_lock;
    bool                joined;
};

/* A worker as pp_executor_workers reports it (published under the lock by the manager). */
typedef struct pub_worker {
    long long          pid;
    pp_worker_state    state;
    const char        *task;
    uint64_t           work_id;
    int64_t            busy_since; /* pp__os_monotonic_ms */
    unsigned long long calls;
} pub_worker;

/* ---- between the files ---- */

/* executor.c: under the lock, sets the broken (or only the shutdown) flag and why, and takes
 * the queued items for the caller to fail. Counters are updated under the lock. */
work *pp__mark_broken(pp_executor *ex, bool broken, const char *cause, int code,
                      long long pid);
void  pp__stats_add(pp_executor *ex, unsigned long long *counter);
/* Fails one item PP_EBROKEN with prefix + cause, counts it, frees it. */
void  pp__fail_broken(pp_executor *ex, work *it, const char *prefix, const char *cause,
                      int code, long long pid);

/* manager.c */
/* PROCPOOL_PIPELINE: 0 (off), 1..PIPE_MAX; unset or invalid: PIPE_DEFAULT. */
int   pp__pipeline_depth(void);
/* A caller revoked a call queued ahead (future.c, under pp__flock): the manager drops it. */
void  pp__revoked_hook(void *ctx, uint64_t work_id);
void *APR_THREAD_FUNC pp__manager_main(apr_thread_t *thread, void *arg);
extern PP__THREAD_LOCAL pp_executor *pp__tl_manager; /* the executor whose manager runs here */
void  pp__worker_set_state(pp_executor *ex, worker *w, wstate to);
/* Records why the pool breaks (the first cause wins); carried out by the loop. held: the
 * item of the worker at fault, now owned by the record. */
void  pp__record_break(pp_executor *ex, const char *cause, int code, long long pid,
                       work *held);
/* One complete frame from worker w (body owned: freed or kept by the handler). */
void  pp__on_frame(pp_executor *ex, worker *w, const pp__wire_hdr *h, uint8_t *body,
                   bool body_owned);
/* The worker's channel ended or its process exited: W_CLOSED, exit awaited. */
void  pp__worker_closed(pp_executor *ex, worker *w);
/* The worker broke the protocol: killed, W_CLOSED, and the pool breaks once it is reaped. */
void  pp__worker_malformed(pp_executor *ex, worker *w, const char *what);

/* executor.c: submits one work item (pp__submit_batch with a time limit, 0: none). */
pp_status pp__submit_work(pp_executor *ex, const char *task, const pp_buf *args, size_t n,
                          bool raw, long limit_ms, long wait_ms, pp_future **out);

/* manager_io.c */
worker *pp__worker_start(pp_executor *ex);  /* NULL: could not (the break is recorded) */
void    pp__worker_free(worker *w);
void    pp__queue_frame(worker *w, const uint8_t *p, size_t len);
/* Queues a frame whose first byte carries a shared block or segment (pp__os_shm_attach). */
void    pp__queue_frame_shm(worker *w, const uint8_t *p, size_t len, pp__shm *attach);
/* Queues item it's CALL for w: the frame itself, or a SEG frame standing for it when the
 * frame is in a segment and w can map it; and first, with a CALL, a result segment if w
 * has none (seg.h). */
void    pp__queue_call(pp_executor *ex, worker *w, work *it);
/* RESULT flagged PP__MSGF_SEG from w: checks the reference against max_message_size and
 * w's result segment before anything is mapped, maps it, and gives the frame's body; the
 * segment is taken from w (*seg: the caller's now). False: malformed (*what says why). */
bool    pp__result_in_seg(pp_executor *ex, worker *w, const uint8_t *ref, size_t ref_len,
                          pp__wire_hdr *h, uint8_t **body, pp__seg **seg, char *what,
                          size_t cap);
void    pp__worker_flush(pp_executor *ex, worker *w);
void    pp__worker_read(pp_executor *ex, worker *w);
/* Reads what a dead worker left in its channel, until nothing more comes. */
void    pp__worker_drain(pp_executor *ex, worker *w);

/* wstart.c: pp_executor_options.worker_env / worker_cwd / worker_memory_limit /
 * max_worker_rss: check (as pp_executor_create reports), copy into ex->wstart and
 * ex->max_worker_rss, free. */
pp_status pp__wstart_check(const pp_executor_options *o);
pp_status pp__wstart_copy(pp_executor *ex, const pp_executor_options *o);
void      pp__wstart_free(pp__os_wstart *ws);

#endif /* PP_EXECUTOR_INT_H */
