/*
 * Core-private view of futures and waiters, shared by future.c, wait.c, map.c and the
 * executor (executor.c, manager.c).
 *
 * Locking: all future state (state, result, callbacks, waiter lists) is guarded by one
 * process-wide mutex, pp__flock. Critical sections are a few pointer moves; callbacks and
 * frees happen outside it. The state is also atomic, so that it can be read without the
 * lock: a future seen done (an acquire load) never changes again, and its outcome (result,
 * error) was written before its state, so a caller reads a done future's outcome with no
 * lock at all (no convoy between callers collecting results and the manager completing
 * others). A blocking call (result, wait, as_completed) borrows a waiter: a
 * condition variable on pp__flock, registered on each future it waits for; completing a
 * future signals the waiters registered on it.
 */
#ifndef PP_FUTURE_H
#define PP_FUTURE_H

#include <stdatomic.h>

#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

#include "pp_core.h"

typedef enum pp__fstate {
    PP__F_PENDING,   /* created / queued: cancel() succeeds */
    PP__F_RUNNING,   /* handed to a worker: cannot be cancelled */
    PP__F_CANCELLED, /* cancelled; done */
    PP__F_FINISHED   /* result or error set; done */
} pp__fstate;

typedef struct pp__cb {
    pp_done_fn     fn;
    void          *userdata;
    struct pp__cb *next;
} pp__cb;

typedef struct pp__waiter pp__waiter;

/* One registration of a waiter on one future (an intrusive list node on the future). */
typedef struct pp__wreg {
    pp__waiter      *w;
    pp_future       *f;
    struct pp__wreg *next;
} pp__wreg;

struct pp__waiter {
    apr_thread_cond_t *cond;
    /* as_completed: completed futures are appended here (capacity given by the owner). */
    pp_future        **q;
    size_t             q_len;
    /* as_completed with a readiness notifier (pp_as_completed_fd / _handle; NULL if none,
     * owned by the iterator): set when a future is appended while it is not (ntf_on); the
     * iterator clears it when it has taken every ready future (and some are still to come) */
    struct pp__notifier *ntf;
    bool               ntf_on;
    /* pp_wait: how many futures it is registered on have completed since, and whether one
     * of them failed (finished with an error): its condition is checked in O(1). */
    size_t             n_notified;
    bool               notified_failed;
    pp__waiter        *next_free;
};

/* The largest result kept inside the future itself (pp__future_finish_copy). */
#ifndef PP__FUTURE_INLINE
#  define PP__FUTURE_INLINE 32
#endif

struct pp_future {
    atomic_uint           refs;
    _Atomic(pp__fstate)   state;  /* written under pp__flock; read with or without it */
    bool                  cancel_notified; /* set_running_or_notify_cancel saw the cancel */
    /* FINISHED with a result: */
    void                 *owned; /* freed with the future */
    struct pp__seg       *seg;   /* the payload segment data lies in (seg.h), given back with
                                    the future, or NULL */
    const void           *data;
    size_t                len;
    /* FINISHED with an error: err.status != PP_OK; err.message is owned (or static). */
    pp_error              err;
    bool                  msg_owned;
    long long             pid; /* the worker that produced the outcome, 0 if none */
    uint64_t              work_id; /* the executor's id of its call (set before it is
                                      shared), 0 if none: copied into err.work_id */
    /* pp_future_abort of a running call: the executor's hook, under pp__flock, while the
     * executor holds the call (cleared when it lets go of it) */
    pp_status           (*abort_fn)(void *ctx, uint64_t work_id);
    void                 *abort_ctx;
    /* A call queued ahead to a worker, not known to have started (the manager's, under
     * pp__flock): its slot in the worker's shared block (wshm.h) and the value it has
     * while unclaimed; NULL: none. cancel / abort win a CAS QUEUED -> REVOKED, or find it
     * started (then it is RUNNING); pp_future_running looks. revoked_fn tells the
     * executor that a call was revoked (under pp__flock). */
    _Atomic(uint64_t)    *slot;
    uint64_t              slot_val;
    void                (*revoked_fn)(void *ctx, uint64_t work_id);
    pp__cb               *cbs, **cbs_tail;
    pp__wreg             *waiters;
    _Atomic(void *)       userdata; /* the application's tag; never read by the library */
    /* A small result is copied here (pp__future_finish_copy): no allocation on the
     * manager's thread to be freed on the caller's, for the many calls that return a few
     * bytes. Aligned as malloc's blocks are, for the callers that cast the data. */
    union {
        long double   ld;
        void         *p;
        uint64_t      u;
        unsigned char b[PP__FUTURE_INLINE];
    } inl;
};

/* The global future lock (created by pp__global_init). */
extern apr_thread_mutex_t *pp__flock;

/* A new pending future with one reference. NULL on ENOMEM. */
pp_future *pp__future_new(void);
/* The same, with extra zeroed bytes after it in the same block (*extra_out, aligned as a
 * pp_future is), freed with the future when its last reference goes. */
pp_future *pp__future_new_ext(size_t extra, void **extra_out);

/* Finishes f with a result whose bytes [data, data+len) live in owned (freed with f; may be
 * NULL with len 0). Ownership of owned passes to f even on failure (PP_ESTATE: f was
 * already done, owned is freed). Runs callbacks on this thread. */
pp_status pp__future_finish_owned(pp_future *f, void *owned, const void *data, size_t len,
                                  long long pid);

/* The same for a result whose bytes lie in payload segment seg (given back with f). */
pp_status pp__future_finish_seg(pp_future *f, struct pp__seg *seg, const void *data,
                                size_t len, long long pid);

/* Finishes f with an error; msg is an owned, NUL-terminated string (NULL: the status name is
 * used). msg is consumed whatever the outcome. PP_ESTATE if f was already done. */
pp_status pp__future_finish_error(pp_future *f, pp_status status, int code, long long pid,
                                  char *msg);

/* Finishes f with a copy of [data, data+len), which the caller keeps: into the future itself
 * when len <= PP__FUTURE_INLINE, else into a block of its own (PP_ENOMEM if none: f is then
 * not finished). PP_ESTATE: f was already done. Runs callbacks on this thread. */
pp_status pp__future_finish_copy(pp_future *f, const void *data, size_t len, long long pid);

/* On this thread, from on until off: the waiters of the futures it completes are woken
 * (their condition variables signalled) at the off, once each, instead of at each
 * completion. Callbacks still run at once. The manager's dispatch of one wait's events. */
void pp__future_defer_wakes(bool on);

/* pp__future_set_abort for a future nobody else can see yet (just made): no lock. */
void pp__future_init_abort(pp_future *f, pp_status (*fn)(void *ctx, uint64_t work_id),
                           void *ctx);

/* The executor's abort hook for f's running call (fn NULL: none any more). The hook runs
 * under pp__flock: it may take the executor's lock, never the other way round. */
void pp__future_set_abort(pp_future *f, pp_status (*fn)(void *ctx, uint64_t work_id),
                          void *ctx);

/* The manager hands f's call to a worker (pp__flock taken here). slot: its slot in the
 * worker's shared block (wshm.h) holding val (QUEUED), or NULL: the call counts as started
 * from now (set RUNNING: the old rule). False: f was cancelled (the call must not run).
 * revoked_fn: called (under pp__flock) when a caller revokes the call through its slot. */
bool pp__future_hand_out(pp_future *f, _Atomic(uint64_t) *slot, uint64_t val,
                         void (*revoked_fn)(void *ctx, uint64_t work_id));

/* The manager lets go of f's slot (before the worker's block can go away): f becomes
 * RUNNING if the worker claimed the call, stays PENDING if it did not (or it was
 * revoked). Returns true if the call had started. */
bool pp__future_unslot(pp_future *f);

/* The executor's id of f's call: set once, before f is shared (pp__submit_batch). */
void pp__future_set_work_id(pp_future *f, uint64_t id);
uint64_t pp__future_work_id(const pp_future *f);

/* The worker pid recorded with the outcome (0 if none). */
long long pp__future_pid(pp_future *f);

/* Waits until f is done or the deadline passes (deadline_ms: PP_FOREVER-like -1 = none, in
 * pp__os_monotonic_ms time). Returns true if done. */
bool pp__future_wait_done(pp_future *f, int64_t deadline_ms);

/* Waiters: take one (NULL on ENOMEM) and give it back, both under pp__flock. */
pp__waiter *pp__waiter_get(void);
void        pp__waiter_put(pp__waiter *w);
/* Registers / unregisters reg (reg->w and reg->f set) on reg->f, under pp__flock. */
void pp__wreg_add(pp__wreg *reg);
void pp__wreg_remove(pp__wreg *reg);
/* Waits on w's condition until signalled or the deadline (-1: none). Under pp__flock.
 * Returns false once the deadline has passed. */
bool pp__waiter_sleep(pp__waiter *w, int64_t deadline_ms);

/* A deadline from a validated timeout: -1 for PP_FOREVER. */
int64_t pp__deadline(long timeout_ms);

/* Finished with an error (not cancelled, not a result)? A done future's answer never
 * changes: with or without pp__flock once it is done. */
static inline bool pp__ffailed(pp_future *f)
{
    return atomic_load(&f->state) == PP__F_FINISHED && f->err.status != PP_OK;
}

/* Done (cancelled or finished)? One atomic load: with or without pp__flock. */
static inline bool pp__fdone(pp_future *f)
{
    pp__fstate s = atomic_load(&f->state);
    return s == PP__F_CANCELLED || s == PP__F_FINISHED;
}

#endif /* PP_FUTURE_H */
