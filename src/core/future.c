/*
 * Futures: states, results, errors, done callbacks, reference counting, and the waiters that
 * blocking calls sleep on. See future.h for the locking rules.
 *
 * States (CPython's, minus the separate "cancelled and notified" state, which only
 * set_running_or_notify_cancel() needs and is kept as a flag):
 *
 *   PENDING --set_running_or_notify_cancel--> RUNNING --set_result/set_error--> FINISHED
 *   PENDING --cancel--> CANCELLED                  (a done state, like FINISHED)
 *   PENDING --set_result/set_error--> FINISHED     (allowed, as in CPython)
 */
#include <stdint.h>
#include <string.h>

#include <apr_pools.h>

#include "future.h"
#include "pp_os.h"
#include "seg.h"
#include "spin.h"
#include "wshm.h"

apr_thread_mutex_t *pp__flock;
static apr_pool_t  *g_pool;      /* under pp__flock after initialisation */
static pp__waiter  *g_free_waiters;

void pp__future_global_init(pp_status *st)
{
    if (apr_pool_create(&g_pool, NULL) != APR_SUCCESS ||
        apr_thread_mutex_create(&pp__flock, APR_THREAD_MUTEX_DEFAULT, g_pool) != APR_SUCCESS) {
        *st = PP_ESYS;
        return;
    }
    *st = PP_OK;
}

int64_t pp__deadline(long timeout_ms)
{
    if (timeout_ms == PP_FOREVER)
        return -1;
    int64_t now = pp__os_monotonic_ms();
    if ((int64_t)timeout_ms > INT64_MAX - now)
        return -1; /* beyond any clock: no limit */
    return now + timeout_ms;
}

/* ---- waiters ---- */

pp__waiter *pp__waiter_get(void)
{
    pp__waiter *w = g_free_waiters;
    if (w) {
        g_free_waiters = w->next_free;
    } else {
        w = apr_pcalloc(g_pool, sizeof *w);
        if (!w || apr_thread_cond_create(&w->cond, g_pool) != APR_SUCCESS)
            return NULL; /* the pool keeps the memory: no leak to undo */
    }
    w->q = NULL;
    w->q_len = 0;
    w->ntf = NULL;
    w->ntf_on = false;
    w->n_notified = 0;
    w->notified_failed = false;
    w->next_free = NULL;
    return w;
}

void pp__waiter_put(pp__waiter *w)
{
    if (!w)
        return;
    w->q = NULL;
    w->ntf = NULL;
    w->next_free = g_free_waiters;
    g_free_waiters = w;
}

void pp__wreg_add(pp__wreg *reg)
{
    reg->next = reg->f->waiters;
    reg->f->waiters = reg;
}

void pp__wreg_remove(pp__wreg *reg)
{
    for (pp__wreg **pp = &reg->f->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == reg) {
            *pp = reg->next;
            reg->next = NULL;
            return;
        }
    }
}

bool pp__waiter_sleep(pp__waiter *w, int64_t deadline_ms)
{
    if (deadline_ms < 0) {
        apr_thread_cond_wait(w->cond, pp__flock);
        return true;
    }
    int64_t left = deadline_ms - pp__os_monotonic_ms();
    if (left <= 0)
        return false;
    /* APR turns the interval into an absolute time, which overflows for huge intervals
     * (the wait would return at once, and its caller would spin on the lock): sleep at most
     * an hour at a time; every caller loops until its condition or deadline. */
    if (left > 3600 * 1000)
        left = 3600 * 1000;
    apr_thread_cond_timedwait(w->cond, pp__flock, (apr_interval_time_t)left * 1000);
    return true;
}

/*
 * What completing a future leaves to do once pp__flock is released: wake its waiters and
 * run its callbacks. Waking after the unlock spares the woken thread a second sleep on the
 * lock its waker still holds (a futex wait and wake more per completion, measured in
 * bench/). It is safe because a waiter's condition variable is never freed (waiters are
 * recycled, their pool lives as long as the process) and every sleeper re-checks its
 * condition: a late signal to a waiter that has moved on is a spurious wakeup.
 */
#define WAKE_MAX 8
typedef struct completion {
    pp__cb            *cbs;
    apr_thread_cond_t *wake[WAKE_MAX];
    size_t             n_wake;
} completion;

/* Under pp__flock: tell every waiter registered on f that it is done (the first WAKE_MAX
 * are signalled by finish_unlocked, the rest at once). */
static void notify_waiters(pp_future *f, completion *c)
{
    bool failed = pp__ffailed(f);
    for (pp__wreg *r = f->waiters; r; r = r->next) {
        if (r->w->q) {
            r->w->q[r->w->q_len++] = f;
            if (r->w->ntf && !r->w->ntf_on) { /* a system call only when it changes */
                pp__os_notifier_set(r->w->ntf);
                r->w->ntf_on = true;
            }
        }
        r->w->n_notified++;
        r->w->notified_failed |= failed;
        if (c->n_wake < WAKE_MAX)
            c->wake[c->n_wake++] = r->w->cond;
        else
            apr_thread_cond_signal(r->w->cond);
    }
}

/* Under pp__flock: mark done, note the waiters to wake and detach the callbacks. */
static void complete_locked(pp_future *f, pp__fstate state, completion *c)
{
    f->abort_fn = NULL; /* done: nothing to abort any more */
    f->state = state;
    c->n_wake = 0;
    notify_waiters(f, c);
    c->cbs = f->cbs;
    f->cbs = NULL;
    f->cbs_tail = &f->cbs;
}

/*
 * Wakes held back (pp__future_defer_wakes): the manager thread completes the futures of all
 * the RESULTs one read brought, then wakes their waiters once. A caller collecting results
 * in order then wakes once for the lot, not once for the first and again for each next one
 * it catches up with while the manager is still completing them (a futex wait, a wake and
 * two context switches each). Per thread; the condition variables are never freed, so a
 * late signal is at worst a spurious wakeup.
 */
#define DEFER_MAX 64
static PP__THREAD_LOCAL bool tl_defer;
static PP__THREAD_LOCAL size_t tl_n_deferred;
static PP__THREAD_LOCAL apr_thread_cond_t *tl_deferred[DEFER_MAX];

void pp__future_defer_wakes(bool on)
{
    if (!on) {
        for (size_t i = 0; i < tl_n_deferred; i++)
            apr_thread_cond_signal(tl_deferred[i]);
        tl_n_deferred = 0;
    }
    tl_defer = on;
}

static void wake(apr_thread_cond_t *cond)
{
    if (!tl_defer) {
        apr_thread_cond_signal(cond);
        return;
    }
    for (size_t i = 0; i < tl_n_deferred; i++)
        if (tl_deferred[i] == cond)
            return; /* one signal wakes its one sleeper, who looks at all it waits for */
    if (tl_n_deferred == DEFER_MAX) {
        apr_thread_cond_signal(cond);
        return;
    }
    tl_deferred[tl_n_deferred++] = cond;
}

/* After pp__flock is released: wake the waiters, then run the callbacks on this thread. */
static void finish_unlocked(pp_future *f, completion *c)
{
    for (size_t i = 0; i < c->n_wake; i++)
        wake(c->wake[i]);
    pp__cb *cb = c->cbs;
    while (cb) {
        pp__cb *next = cb->next;
        cb->fn(f, cb->userdata);
        pp__free(cb);
        cb = next;
    }
}

/* The slow path of pp__future_wait_done: sleeps on a waiter registered on f. */
static bool wait_done_sleeping(pp_future *f, int64_t deadline_ms)
{
    apr_thread_mutex_lock(pp__flock);
    bool done = pp__fdone(f);
    if (!done) {
        pp__waiter *w = pp__waiter_get();
        if (!w) {
            /* No condition variable to be had: poll (ENOMEM fallback, not the normal path). */
            apr_thread_mutex_unlock(pp__flock);
            for (;;) {
                apr_thread_mutex_lock(pp__flock);
                done = pp__fdone(f);
                apr_thread_mutex_unlock(pp__flock);
                if (done || (deadline_ms >= 0 && pp__os_monotonic_ms() >= deadline_ms))
                    return done;
                apr_sleep(1000);
            }
        }
        pp__wreg reg = {w, f, NULL};
        pp__wreg_add(&reg);
        for (;;) { /* (no assignment in a condition: MSVC's C4706) */
            done = pp__fdone(f);
            if (done || !pp__waiter_sleep(w, deadline_ms))
                break;
        }
        pp__wreg_remove(&reg);
        pp__waiter_put(w);
    }
    apr_thread_mutex_unlock(pp__flock);
    return done;
}

/* How long this thread polls a future before it sleeps on it (spin.h): each thread that
 * waits has its own record of how long its waits were. */
static PP__THREAD_LOCAL pp__spin tl_spin;
static PP__THREAD_LOCAL bool tl_spin_init;

static bool future_done(void *f)
{
    return pp__fdone(f);
}

bool pp__future_wait_done(pp_future *f, int64_t deadline_ms)
{
    if (pp__fdone(f))
        return true; /* done futures never change: no lock */
    if (!tl_spin_init) {
        pp__spin_init(&tl_spin, pp__spin_max_ns());
        tl_spin_init = true;
    }
    int64_t limit = -1; /* the poll never outlasts the deadline (a far one: no limit) */
    if (deadline_ms >= 0) {
        int64_t left = deadline_ms - pp__os_monotonic_ms();
        limit = left <= 0 ? 0 : left > INT64_MAX / 1000000 ? -1 : left * 1000000;
    }
    int64_t t0;
    bool done = pp__spin_poll(&tl_spin, limit, future_done, f, &t0) ||
                wait_done_sleeping(f, deadline_ms);
    pp__spin_end(&tl_spin, t0);
    return done;
}

/* ---- lifecycle ---- */

pp_future *pp__future_new(void)
{
    return pp__future_new_ext(0, NULL);
}

pp_future *pp__future_new_ext(size_t extra, void **extra_out)
{
    if (extra_out)
        *extra_out = NULL;
    if (pp__global_init() != PP_OK || extra > SIZE_MAX - sizeof(pp_future))
        return NULL;
    pp_future *f = pp__calloc(1, sizeof *f + extra);
    if (!f)
        return NULL;
    if (extra_out)
        *extra_out = f + 1;
    atomic_init(&f->refs, 1);
    atomic_init(&f->userdata, NULL);
    f->state = PP__F_PENDING;
    f->cbs_tail = &f->cbs;
    return f;
}

pp_status pp_future_create(pp_future **out)
{
    PP__CHECK_ARG(out != NULL);
    *out = NULL;
    pp_status st = pp__global_init();
    if (st != PP_OK)
        return st; /* (with its text) */
    *out = pp__future_new();
    return *out ? PP_OK : pp__fail(PP_ENOMEM, "pp_future_create: out of memory");
}

void pp_future_retain(pp_future *f)
{
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void pp_future_release(pp_future *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* The last reference: nobody can be waiting on f or adding callbacks to it. */
    pp__cb *cb = f->cbs;
    while (cb) {
        pp__cb *next = cb->next;
        pp__free(cb);
        cb = next;
    }
    pp__free(f->owned);
    pp__seg_put(f->seg);
    if (f->msg_owned)
        pp__free((char *)f->err.message);
    pp__free(f);
}

/* ---- the application's tag ---- */

void pp_future_set_userdata(pp_future *f, void *userdata)
{
    if (f)
        atomic_store_explicit(&f->userdata, userdata, memory_order_release);
}

void *pp_future_userdata(pp_future *f)
{
    return f ? atomic_load_explicit(&f->userdata, memory_order_acquire) : NULL;
}

/* ---- state queries ---- */

/* A snapshot of the state: no lock (the state is atomic). */
static bool state_is(pp_future *f, pp__fstate s)
{
    return f && f->state == s;
}

bool pp_future_cancelled(pp_future *f)
{
    return state_is(f, PP__F_CANCELLED);
}

/* Under pp__flock: a PENDING future whose call is queued ahead to a worker: has the worker
 * claimed it (then it is RUNNING from now)? 0: not started (its slot still holds it,
 * QUEUED); 1: started; 2: revoked by the manager (moved to another worker: not started). */
static int slot_look_locked(pp_future *f)
{
    uint64_t v = atomic_load_explicit(f->slot, memory_order_acquire);
    if (v == f->slot_val)
        return 0;
    if (v == ((f->slot_val & ~(uint64_t)3) | PP__SLOT_REVOKED))
        return 2;
    f->state = PP__F_RUNNING;
    f->slot = NULL;
    return 1;
}

bool pp_future_running(pp_future *f)
{
    if (!f)
        return false;
    if (atomic_load(&f->state) != PP__F_PENDING)
        return atomic_load(&f->state) == PP__F_RUNNING;
    apr_thread_mutex_lock(pp__flock);
    if (f->state == PP__F_PENDING && f->slot)
        (void)slot_look_locked(f);
    bool r = f->state == PP__F_RUNNING;
    apr_thread_mutex_unlock(pp__flock);
    return r;
}

/* Under pp__flock, f PENDING: its call is not started and will not be (true), or it has
 * started (false: f is RUNNING now). A call queued ahead to a worker is revoked in its
 * slot, and the executor told. */
static bool revoke_locked(pp_future *f)
{
    if (!f->slot)
        return true;
    uint64_t v = f->slot_val;
    if (atomic_compare_exchange_strong_explicit(
            f->slot, &v, (f->slot_val & ~(uint64_t)3) | PP__SLOT_REVOKED, memory_order_acq_rel,
            memory_order_acquire)) {
        f->slot = NULL;
        if (f->revoked_fn)
            f->revoked_fn(f->abort_ctx, f->work_id);
        return true;
    }
    if (slot_look_locked(f) == 2) { /* the manager is moving it: it will see the cancel */
        f->slot = NULL;
        return true;
    }
    return false;
}

bool pp__future_hand_out(pp_future *f, _Atomic(uint64_t) *slot, uint64_t val,
                         void (*revoked_fn)(void *ctx, uint64_t work_id))
{
    apr_thread_mutex_lock(pp__flock);
    bool ok = true;
    if (f->state == PP__F_CANCELLED) {
        f->cancel_notified = true;
        ok = false;
    } else if (f->state == PP__F_PENDING) {
        if (slot) {
            f->slot = slot;
            f->slot_val = val;
            f->revoked_fn = revoked_fn;
        } else {
            f->state = PP__F_RUNNING;
        }
    }
    apr_thread_mutex_unlock(pp__flock);
    return ok;
}

bool pp__future_unslot(pp_future *f)
{
    apr_thread_mutex_lock(pp__flock);
    bool started = f->state != PP__F_PENDING;
    if (f->state == PP__F_PENDING && f->slot)
        started = slot_look_locked(f) == 1;
    f->slot = NULL;
    apr_thread_mutex_unlock(pp__flock);
    return started;
}

bool pp_future_done(pp_future *f)
{
    return f && pp__fdone(f);
}

void pp__future_set_work_id(pp_future *f, uint64_t id)
{
    f->work_id = id;
}

uint64_t pp__future_work_id(const pp_future *f)
{
    return f->work_id;
}

long long pp__future_pid(pp_future *f)
{
    apr_thread_mutex_lock(pp__flock);
    long long pid = f->pid;
    apr_thread_mutex_unlock(pp__flock);
    return pid;
}

/* ---- transitions ---- */

bool pp_future_cancel(pp_future *f)
{
    if (!f)
        return false;
    apr_thread_mutex_lock(pp__flock);
    if (f->state == PP__F_RUNNING || f->state == PP__F_FINISHED) {
        apr_thread_mutex_unlock(pp__flock);
        return false;
    }
    if (f->state == PP__F_CANCELLED) {
        apr_thread_mutex_unlock(pp__flock);
        return true;
    }
    if (!revoke_locked(f)) { /* its worker started it: RUNNING now */
        apr_thread_mutex_unlock(pp__flock);
        return false;
    }
    completion c;
    complete_locked(f, PP__F_CANCELLED, &c);
    apr_thread_mutex_unlock(pp__flock);
    finish_unlocked(f, &c);
    return true;
}

void pp__future_init_abort(pp_future *f, pp_status (*fn)(void *ctx, uint64_t work_id),
                           void *ctx)
{
    f->abort_fn = fn;
    f->abort_ctx = ctx;
}

void pp__future_set_abort(pp_future *f, pp_status (*fn)(void *ctx, uint64_t work_id),
                          void *ctx)
{
    apr_thread_mutex_lock(pp__flock);
    f->abort_fn = fn;
    f->abort_ctx = ctx;
    apr_thread_mutex_unlock(pp__flock);
}

pp_status pp_future_abort(pp_future *f)
{
    PP__CHECK_ARG(f != NULL);
    apr_thread_mutex_lock(pp__flock);
    pp__fstate state = atomic_load_explicit(&f->state, memory_order_relaxed); /* under the lock */
    if (state == PP__F_PENDING && !revoke_locked(f))
        state = PP__F_RUNNING; /* its worker started it: stopped as a running call */
    switch (state) {
    case PP__F_PENDING: {
        completion c;
        complete_locked(f, PP__F_CANCELLED, &c);
        apr_thread_mutex_unlock(pp__flock);
        finish_unlocked(f, &c);
        return PP_OK;
    }
    case PP__F_CANCELLED:
        apr_thread_mutex_unlock(pp__flock);
        return PP_OK;
    case PP__F_FINISHED:
        apr_thread_mutex_unlock(pp__flock);
        return pp__fail(PP_ESTATE, "pp_future_abort: the future has finished already");
    default:
        break;
    }
    bool hooked = f->abort_fn != NULL;
    pp_status st = hooked ? f->abort_fn(f->abort_ctx, f->work_id) : PP_ENOTSUP;
    apr_thread_mutex_unlock(pp__flock);
    if (st == PP_ENOTSUP)
        return pp__fail(st, "pp_future_abort: the call is running and %s",
                        hooked ? "its executor (PP_START_FORK) cannot replace a worker"
                               : "nothing can stop it (not an executor's future)");
    if (st != PP_OK)
        return pp__fail(st, "pp_future_abort: %s", pp_strerror(st));
    return PP_OK;
}

bool pp_future_set_running_or_notify_cancel(pp_future *f)
{
    if (!f)
        return false;
    apr_thread_mutex_lock(pp__flock);
    bool r = false;
    if (f->state == PP__F_PENDING) {
        f->state = PP__F_RUNNING;
        r = true;
    } else if (f->state == PP__F_CANCELLED) {
        f->cancel_notified = true;
    }
    apr_thread_mutex_unlock(pp__flock);
    return r;
}

/* A result that lives in owned (freed with the future), in payload segment seg (given back
 * with it), or (inl) is copied into the future itself (len <= PP__FUTURE_INLINE); on a
 * future already done, whichever it is goes back at once. */
static pp_status finish_result(pp_future *f, void *owned, pp__seg *seg, bool inl,
                               const void *data, size_t len, long long pid)
{
    apr_thread_mutex_lock(pp__flock);
    if (pp__fdone(f)) {
        apr_thread_mutex_unlock(pp__flock);
        pp__free(owned);
        pp__seg_put(seg);
        return PP_ESTATE;
    }
    if (inl)
        data = len ? memcpy(f->inl.b, data, len) : NULL;
    f->owned = owned;
    f->seg = seg;
    f->data = data;
    f->len = len;
    f->pid = pid;
    f->err.status = PP_OK;
    completion c;
    complete_locked(f, PP__F_FINISHED, &c);
    apr_thread_mutex_unlock(pp__flock);
    finish_unlocked(f, &c);
    return PP_OK;
}

pp_status pp__future_finish_copy(pp_future *f, const void *data, size_t len, long long pid)
{
    if (len <= PP__FUTURE_INLINE)
        return finish_result(f, NULL, NULL, true, data, len, pid);
    void *own = pp__malloc(len);
    if (!own)
        return PP_ENOMEM;
    memcpy(own, data, len);
    return finish_result(f, own, NULL, false, own, len, pid);
}

pp_status pp__future_finish_owned(pp_future *f, void *owned, const void *data, size_t len,
                                  long long pid)
{
    return finish_result(f, owned, NULL, false, data, len, pid);
}

pp_status pp__future_finish_seg(pp_future *f, pp__seg *seg, const void *data, size_t len,
                                long long pid)
{
    return finish_result(f, NULL, seg, false, data, len, pid);
}

pp_status pp__future_finish_error(pp_future *f, pp_status status, int code, long long pid,
                                  char *msg)
{
    apr_thread_mutex_lock(pp__flock);
    if (pp__fdone(f)) {
        apr_thread_mutex_unlock(pp__flock);
        pp__free(msg);
        return PP_ESTATE;
    }
    f->err.status = status;
    f->err.code = code;
    f->err.pid = pid;
    f->err.work_id = f->work_id;
    f->err.message = msg ? msg : pp_status_str(status);
    f->msg_owned = msg != NULL;
    f->pid = pid;
    completion c;
    complete_locked(f, PP__F_FINISHED, &c);
    apr_thread_mutex_unlock(pp__flock);
    finish_unlocked(f, &c);
    return PP_OK;
}


/* The PP_ESTATE of a setter called on a done future, with its text. */
static pp_status already_done(const char *func, pp_future *f)
{
    return pp__fail(PP_ESTATE, "%s: the future is already %s", func,
                    f->state == PP__F_CANCELLED ? "cancelled" : "finished");
}

pp_status pp_future_set_result(pp_future *f, const void *data, size_t len)
{
    PP__CHECK_ARG(f != NULL);
    PP__CHECK_ARG_MSG(data != NULL || len == 0, "invalid argument: data is NULL with len %zu",
                      len);
    if (pp__fdone(f))
        return already_done("pp_future_set_result", f);
    void *copy = NULL;
    if (len) {
        copy = pp__malloc(len);
        if (!copy)
            return pp__fail(PP_ENOMEM, "pp_future_set_result: out of memory (copying %zu bytes)",
                            len);
        memcpy(copy, data, len);
    }
    pp_status st = pp__future_finish_owned(f, copy, copy, len, 0);
    return st == PP_ESTATE ? already_done("pp_future_set_result", f) : st;
}

pp_status pp_future_set_error(pp_future *f, pp_status status, int code, const char *message)
{
    PP__CHECK_ARG(f != NULL);
    PP__CHECK_ARG_MSG(pp__status_can_fail(status),
                      "invalid argument: status %d (%s) is not one a future can fail with",
                      (int)status, pp_status_str(status));
    if (pp__fdone(f))
        return already_done("pp_future_set_error", f);
    char *msg = pp__strdup(message ? message : pp_status_str(status));
    if (!msg)
        return pp__fail(PP_ENOMEM, "pp_future_set_error: out of memory (copying the message)");
    pp_status st = pp__future_finish_error(f, status, code, 0, msg);
    return st == PP_ESTATE ? already_done("pp_future_set_error", f) : st;
}

pp_status pp_future_add_done_callback(pp_future *f, pp_done_fn fn, void *userdata)
{
    PP__CHECK_ARG(f != NULL);
    PP__CHECK_ARG(fn != NULL);
    pp__cb *cb = pp__malloc(sizeof *cb);
    if (!cb)
        return pp__fail(PP_ENOMEM, "pp_future_add_done_callback: out of memory");
    cb->fn = fn;
    cb->userdata = userdata;
    cb->next = NULL;
    apr_thread_mutex_lock(pp__flock);
    if (!pp__fdone(f)) {
        *f->cbs_tail = cb;
        f->cbs_tail = &cb->next;
        apr_thread_mutex_unlock(pp__flock);
        return PP_OK;
    }
    apr_thread_mutex_unlock(pp__flock);
    fn(f, userdata);
    pp__free(cb);
    return PP_OK;
}

/* ---- results ---- */

/* The PP_ETIMEDOUT of a wait for one future, with its text. */
static pp_status not_done(const char *func, long timeout_ms)
{
    return pp__fail(PP_ETIMEDOUT, "%s: the future is not done after the timeout of %ld ms",
                    func, timeout_ms);
}

pp_status pp_future_result(pp_future *f, long timeout_ms, pp_buf *result)
{
    if (result) {
        result->data = NULL;
        result->len = 0;
    }
    PP__CHECK_ARG(f != NULL);
    PP__CHECK_TIMEOUT(timeout_ms);
    if (!pp__future_wait_done(f, pp__deadline(timeout_ms)))
        return not_done("pp_future_result", timeout_ms);
    /* Done (seen through the atomic state): the outcome was written before and never
     * changes again, so it is read without the lock. */
    if (f->state == PP__F_CANCELLED)
        return pp__fail(PP_ECANCELLED, "pp_future_result: the future was cancelled");
    pp_status st = f->err.status;
    if (st == PP_OK) {
        if (result) {
            result->data = f->data;
            result->len = f->len;
        }
        return PP_OK;
    }
    return pp__fail(st, "pp_future_result: the call failed (%s): %s", pp_status_str(st),
                    f->err.message);
}

pp_status pp_future_exception(pp_future *f, long timeout_ms, const pp_error **err)
{
    if (err)
        *err = NULL;
    PP__CHECK_ARG(f != NULL);
    PP__CHECK_ARG(err != NULL);
    PP__CHECK_TIMEOUT(timeout_ms);
    if (!pp__future_wait_done(f, pp__deadline(timeout_ms)))
        return not_done("pp_future_exception", timeout_ms);
    /* done: read without the lock, as in pp_future_result */
    if (f->state == PP__F_CANCELLED)
        return pp__fail(PP_ECANCELLED, "pp_future_exception: the future was cancelled");
    if (f->err.status != PP_OK)
        *err = &f->err;
    return PP_OK;
}
