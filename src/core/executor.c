/*
 * The executor, on the callers' side: pp_executor_create, pp_submit, shutdown, terminate /
 * kill_workers, destroy, stats. Any thread may call these; they touch only what ex->lock
 * guards (the FIFO, the flags, the stats, the pid list) and wake the manager thread
 * (manager.c), which does everything else. docs/design.md follows a call from pp_submit to
 * its future through both files.
 */
#include <stdio.h>
#include <string.h>

#include "executor_int.h"
#include "registry.h"

/* The add-on starter of PP_START_MPI (starter.h), or NULL. */
static _Atomic(const pp__starter *) mpi_starter;

void pp__starter_set(pp_start_method m, const pp__starter *s)
{
    if (m == PP_START_MPI)
        atomic_store(&mpi_starter, s);
}

/* ---- shared with the manager ---- */

void pp__fifo_push(work ***tail, work *w)
{
    w->next = NULL;
    **tail = w;
    *tail = &w->next;
}

work *pp__fifo_pop(work **head, work ***tail)
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

void pp__work_free(work *w)
{
    if (w) {
        pp_future *f = w->f;
        pp__free(w->acc.data);
        pp__seg_put(w->seg);
        if (!w->embedded)
            pp__free(w);
        pp_future_release(f); /* last: an embedded item goes with the future's block */
    }
}

void pp__stats_add(pp_executor *ex, unsigned long long *counter)
{
    apr_thread_mutex_lock(ex->lock);
    (*counter)++;
    apr_thread_mutex_unlock(ex->lock);
}

void pp__fail_broken(pp_executor *ex, work *it, const char *prefix, const char *cause,
                     int code, long long pid)
{
    char *msg = pp__asprintf("%s%s", prefix, cause);
    /* Counted first (see finish_item); a queued item its owner cancelled counts as such. */
    pp__stats_add(ex, pp_future_cancelled(it->f) ? &ex->stats.cancelled : &ex->stats.failed);
    pp__future_finish_error(it->f, PP_EBROKEN, code, pid, msg);
    pp__work_free(it);
}

work *pp__mark_broken(pp_executor *ex, bool broken, const char *cause, int code,
                      long long pid)
{
    char *saved = pp__strdup(cause);
    apr_thread_mutex_lock(ex->lock);
    ex->broken = broken;
    pp__free((char *)ex->broken_err.message);
    ex->broken_err = (pp_error){PP_EBROKEN, code, pid, saved, 0};
    ex->shutdown = true;
    apr_thread_cond_broadcast(ex->ready_cond);
    apr_thread_cond_broadcast(ex->room_cond);
    work *queued = ex->fifo;
    ex->fifo = NULL;
    ex->fifo_tail = &ex->fifo;
    ex->n_fifo = 0;
    ex->stats.pending = 0;
    apr_thread_mutex_unlock(ex->lock);
    return queued;
}

/* ---- the callers' API ---- */

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

/* The options' checks: each failure says which field and why, as pp_executor_create. */
#define OPT_CHECK(cond, ...)                                                                   \
    do {                                                                                       \
        if (!(cond))                                                                           \
            return pp__fail_in("pp_executor_create", PP_EINVAL, __VA_ARGS__);                  \
    } while (0)

static pp_status check_options(const pp_executor_options *o)
{
    OPT_CHECK(o->max_workers >= 0 && o->max_workers <= pp__os_max_workers(),
              "max_workers %d: must be 0 (one per CPU) or 1..%d", o->max_workers,
              pp__os_max_workers());
    OPT_CHECK(o->max_tasks_per_child >= 0, "max_tasks_per_child %d: must be >= 0 (0: no limit)",
              o->max_tasks_per_child);
    OPT_CHECK(o->max_message_size == 0 || o->max_message_size >= PP__MIN_MESSAGE_SIZE,
              "max_message_size %llu: must be 0 (the default) or at least %u bytes",
              (unsigned long long)o->max_message_size, (unsigned)PP__MIN_MESSAGE_SIZE);
    OPT_CHECK(o->initargs.data != NULL || o->initargs.len == 0,
              "initargs: data is NULL with len %zu", o->initargs.len);
    OPT_CHECK(o->crash_policy == PP_CRASH_BREAK || o->crash_policy == PP_CRASH_ISOLATE ||
                  o->crash_policy == PP_CRASH_RETRY,
              "crash_policy %d: unknown", (int)o->crash_policy);
    OPT_CHECK(o->max_retries >= 0, "max_retries %d: must be >= 0", o->max_retries);
    OPT_CHECK(o->max_retries == 0 || o->crash_policy == PP_CRASH_RETRY,
              "max_retries %d: only with crash_policy PP_CRASH_RETRY", o->max_retries);
    OPT_CHECK(o->idle_timeout_ms >= 0, "idle_timeout_ms %ld: must be >= 0 (0: never)",
              o->idle_timeout_ms);
    OPT_CHECK(o->call_time_limit_ms >= 0, "call_time_limit_ms %ld: must be >= 0 (0: none)",
              o->call_time_limit_ms);
    OPT_CHECK(o->stop_grace_ms >= 0, "stop_grace_ms %ld: must be >= 0 (0: kill at once)",
              o->stop_grace_ms);
    switch (o->start_method) {
    case PP_START_DEFAULT:
    case PP_START_SPAWN:
        break;
    case PP_START_FORK:
        if (!pp__os_fork_supported())
            return pp__fail_in("pp_executor_create", PP_ENOTSUP,
                               "start_method PP_START_FORK: this system has no fork");
        /* CPython: "max_tasks_per_child is incompatible with the 'fork' start method" (a
         * fork pool never adds a worker, so it could not replace one). */
        OPT_CHECK(o->max_tasks_per_child == 0,
                  "max_tasks_per_child %d: not with PP_START_FORK (a fork pool cannot "
                  "replace a worker)", o->max_tasks_per_child);
        OPT_CHECK(o->crash_policy == PP_CRASH_BREAK,
                  "crash_policy %s: not with PP_START_FORK (a fork pool cannot replace a "
                  "worker)", o->crash_policy == PP_CRASH_RETRY ? "PP_CRASH_RETRY"
                                                              : "PP_CRASH_ISOLATE");
        OPT_CHECK(o->call_time_limit_ms == 0,
                  "call_time_limit_ms %ld: not with PP_START_FORK (a fork pool cannot "
                  "replace the worker it kills)", o->call_time_limit_ms);
        OPT_CHECK(o->idle_timeout_ms == 0,
                  "idle_timeout_ms %ld: not with PP_START_FORK (a fork pool cannot start a "
                  "worker again)", o->idle_timeout_ms);
        OPT_CHECK(o->worker_path == NULL,
                  "worker_path \"%s\": not with PP_START_FORK (a forked worker runs no "
                  "program)", o->worker_path);
        break;
    case PP_START_FORKSERVER:
        if (!pp__os_fork_supported())
            return pp__fail_in("pp_executor_create", PP_ENOTSUP,
                               "start_method PP_START_FORKSERVER: this system has no fork");
        break;
    case PP_START_MPI:
        if (!atomic_load(&mpi_starter))
            return pp__fail_in("pp_executor_create", PP_ENOTSUP,
                               "start_method PP_START_MPI: libprocpool_mpi is not linked, or "
                               "pp_mpi_worker_main() has not run");
        /* a static pool, as with fork: no worker is added; no program runs */
        OPT_CHECK(o->max_tasks_per_child == 0,
                  "max_tasks_per_child %d: not with PP_START_MPI (its workers are a static "
                  "pool)", o->max_tasks_per_child);
        OPT_CHECK(o->worker_path == NULL,
                  "worker_path \"%s\": not with PP_START_MPI (MPI starts the program)",
                  o->worker_path);
        OPT_CHECK(o->idle_timeout_ms == 0,
                  "idle_timeout_ms %ld: not with PP_START_MPI (its workers are a static pool)",
                  o->idle_timeout_ms);
        break;
    default:
        return pp__fail_in("pp_executor_create", PP_EINVAL, "start_method %d: unknown",
                           (int)o->start_method);
    }
    pp_status wst = pp__wstart_check(o);
    if (wst != PP_OK)
        return wst;
    if (o->initializer) {
        size_t len = strlen(o->initializer);
        OPT_CHECK(len > 0 && len <= PP__NAME_MAX,
                  "initializer: a task name is 1 to %d bytes long (this one: %zu)",
                  PP__NAME_MAX, len);
        if (!pp__registry_lookup(o->initializer, len, NULL))
            return pp__fail_in("pp_executor_create", PP_ENOTASK,
                               "initializer '%.*s': no task of that name is registered",
                               (int)(len > 200 ? 200 : len), o->initializer);
    }
    /* A spawned program, or the forkserver, must recognise the worker marker; a forked
     * worker is this process's copy and needs nothing. */
    if (!o->worker_path && o->start_method != PP_START_FORK && !pp__registry_closed())
        return pp__fail_in("pp_executor_create", PP_ESTATE,
                           "pp_worker_main() was never called in this process, so the "
                           "workers (this program) would not know they are workers: call "
                           "it at the start of main, or set worker_path");
    return PP_OK;
}

static void executor_free(pp_executor *ex)
{
    if (ex->starter) /* lost: a worker was cut off or killed, not stopped */
        ex->starter->close(ex->starter_ctx,
                           ex->broken || ex->forced || ex->stats.workers_died > 0);
    pp__os_waitset_free(ex->ws);
    pp__free(ex->program);
    pp__wstart_free(&ex->wstart);
    pp__free(ex->init_frame.data);
    pp__free(ex->stop_frame.data);
    pp__free(ex->wbatch);
    pp__free(ex->pids);
    pp__free(ex->pub);
    pp__free(ex->aborts);
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
    if (!out)
        return pp__fail_in("pp_executor_create", PP_EINVAL, "invalid argument: out != NULL");
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
        return pp__fail_in("pp_executor_create", PP_ENOMEM, "out of memory");
    pp__big_hold(true); /* released by executor_free */
    ex->method = o->start_method == PP_START_DEFAULT ? PP_START_SPAWN : o->start_method;
    ex->max_body = o->max_message_size ? o->max_message_size : PP_DEFAULT_MAX_MESSAGE_SIZE;
    ex->max_body = ex->max_body > PP__WIRE_HDR ? ex->max_body - PP__WIRE_HDR : 0;
    ex->max_workers = o->max_workers ? o->max_workers : pp__os_cpu_count();
    ex->take_work = true; /* (the manager says otherwise once all its workers are full) */
    if (ex->max_workers > pp__os_max_workers())
        ex->max_workers = pp__os_max_workers();
    ex->initializer = o->initializer
                          ? pp__registry_lookup(o->initializer, strlen(o->initializer), NULL)
                          : NULL;
    ex->crash_policy = o->crash_policy;
    ex->max_retries = o->max_retries;
    ex->idle_timeout_ms = o->idle_timeout_ms;
    ex->call_time_limit_ms = o->call_time_limit_ms;
    ex->stop_grace_ms = o->stop_grace_ms;
    ex->max_pending = o->max_pending;
    atomic_store(&ex->next_id, 1); /* work ids start at 1: 0 means "no call" in pp_error */
    ex->fifo_tail = &ex->fifo;
    ex->callq_tail = &ex->callq;
    ex->pipeline = ex->method == PP_START_MPI ? 0 : pp__pipeline_depth(); /* MPI: no block */
    ex->mstate = M_SERVING;
    pp__spin_init(&ex->spin, pp__spin_max_ns());
    pp__oserr oe = {NULL, 0};
    const char *what = NULL; /* the step that failed, for pp_last_error() */
    bool no_program = ex->method == PP_START_FORK || ex->method == PP_START_MPI;
    if (ex->method == PP_START_MPI) {
        const pp__starter *s = atomic_load(&mpi_starter);
        char err[256] = "";
        int n = o->max_workers;
        if (!s || (st = s->open(o, ext, &n, &ex->starter_ctx, err, sizeof err)) != PP_OK) {
            if (!s)
                st = PP_ENOTSUP;
            executor_free(ex);
            return pp__fail_in("pp_executor_create", st, "PP_START_MPI: %s",
                               err[0] ? err : pp_strerror(st));
        }
        ex->starter = s;
        ex->max_workers = n;
    }
    st = PP_ENOMEM;
    if (o->worker_path) {
        ex->program = pp__strdup(o->worker_path);
    } else if (!no_program && (st = pp__os_exepath(&ex->program, &oe)) != PP_OK) {
        what = "cannot find this program's path (the default worker program)";
        goto fail;
    }
    if (pp__wstart_copy(ex, o) != PP_OK) {
        st = PP_ENOMEM;
        goto fail;
    }
    ex->pids = pp__calloc((size_t)ex->max_workers, sizeof *ex->pids);
    ex->pub = pp__calloc((size_t)ex->max_workers, sizeof *ex->pub);
    if ((!ex->program && !no_program) || !ex->pids || !ex->pub ||
        pp__wire_encode_init(&ex->init_frame, (uint32_t)o->max_tasks_per_child, ex->initializer,
                             o->initargs.data,
                             o->initargs.len) != PP_OK ||
        pp__wire_encode_stop(&ex->stop_frame) != PP_OK) {
        st = PP_ENOMEM;
        goto fail;
    }
    st = PP_ESYS;
    what = "APR cannot create the executor's memory pool, locks or condition variable";
    if (apr_pool_create(&ex->pool, NULL) != APR_SUCCESS ||
        apr_thread_mutex_create(&ex->lock, APR_THREAD_MUTEX_DEFAULT, ex->pool) != APR_SUCCESS ||
        apr_thread_mutex_create(&ex->join_lock, APR_THREAD_MUTEX_DEFAULT, ex->pool) !=
            APR_SUCCESS ||
        apr_thread_mutex_create(&ex->start_lock, APR_THREAD_MUTEX_DEFAULT, ex->pool) !=
            APR_SUCCESS ||
        apr_thread_cond_create(&ex->start_cond, ex->pool) != APR_SUCCESS ||
        apr_thread_cond_create(&ex->ready_cond, ex->pool) != APR_SUCCESS ||
        apr_thread_cond_create(&ex->room_cond, ex->pool) != APR_SUCCESS)
        goto fail;
    what = "cannot create the manager's wait set";
    if ((st = pp__os_waitset_create(&ex->ws, &oe)) != PP_OK)
        goto fail;
    /* fork: the manager starts at the first submit (fork_workers). */
    if (ex->method != PP_START_FORK) {
        if (apr_thread_create(&ex->thread, NULL, pp__manager_main, ex, ex->pool) != APR_SUCCESS) {
            st = PP_ESYS;
            what = "cannot start the manager thread";
            goto fail;
        }
        ex->thread_created = true;
        atomic_store(&ex->started, true);
    }
    *out = ex;
    return PP_OK;
fail:
    executor_free(ex);
    if (st == PP_ENOMEM)
        return pp__fail_in("pp_executor_create", st, "out of memory");
    if (oe.call) {
        char err[256];
        return pp__fail_in("pp_executor_create", st, "%s: %s", what ? what : "failed",
                           pp__os_strerror(&oe, err, sizeof err));
    }
    return pp__fail_in("pp_executor_create", st, "%s", what ? what : "failed");
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
        /* else a shutdown took it all: nothing to do */
        bool work_queued = ex->n_fifo > 0 || ex->want_workers > 0;
        apr_thread_mutex_unlock(ex->lock);
        if (work_queued) {
            if (apr_thread_create(&ex->thread, NULL, pp__manager_main, ex, ex->pool) !=
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
    work *it, *queued = pp__mark_broken(ex, true, cause, 0, 0);
    while ((it = queued) != NULL) {
        queued = it->next;
        pp__fail_broken(ex, it, BROKEN_PREFIX, cause, 0, 0);
    }
}

/* pp_future_abort of a running call (under pp__flock, see future.h): queued for the
 * manager, which alone knows which worker holds it. */
static pp_status abort_hook(void *ctx, uint64_t work_id)
{
    pp_executor *ex = ctx;
    if (ex->method == PP_START_FORK)
        return PP_ENOTSUP;
    pp_status st = PP_OK;
    apr_thread_mutex_lock(ex->lock);
    if (ex->n_aborts == ex->cap_aborts) {
        size_t cap = ex->cap_aborts ? 2 * ex->cap_aborts : 8;
        uint64_t *a = pp__realloc(ex->aborts, cap * sizeof *a);
        if (a) {
            ex->aborts = a;
            ex->cap_aborts = cap;
        } else {
            st = PP_ENOMEM;
        }
    }
    if (st == PP_OK) {
        ex->aborts[ex->n_aborts++] = work_id;
        atomic_store(&ex->stop_asked, true);
    }
    apr_thread_mutex_unlock(ex->lock);
    if (st == PP_OK)
        pp__os_waitset_wake(ex->ws);
    return st;
}

pp_status pp__submit_batch(pp_executor *ex, const char *task, const pp_buf *args, size_t n,
                           bool raw, pp_future **out)
{
    return pp__submit_work(ex, task, args, n, raw, ex->call_time_limit_ms, PP_FOREVER, out);
}

/* With max_pending: under the lock, waits for room in the FIFO (at most wait_ms), unless
 * shut down or broken. False if there is none. The manager thread never waits. */
static bool wait_for_room(pp_executor *ex, long wait_ms)
{
    if (!ex->max_pending || ex->n_fifo < ex->max_pending)
        return true;
    if (wait_ms == 0 || pp__tl_manager == ex)
        return pp__tl_manager == ex;
    int64_t deadline = wait_ms == PP_FOREVER ? 0 : pp__os_monotonic_ms() + wait_ms;
    while (ex->n_fifo >= ex->max_pending && !ex->shutdown && !ex->broken) {
        if (wait_ms == PP_FOREVER) {
            apr_thread_cond_wait(ex->room_cond, ex->lock);
            continue;
        }
        int64_t left = deadline - pp__os_monotonic_ms();
        if (left <= 0)
            return false;
        apr_thread_cond_timedwait(ex->room_cond, ex->lock, (apr_interval_time_t)left * 1000);
    }
    return true;
}

/* The largest CALL frame allocated with its future (see pp__submit_work). */
#define EMBED_MAX 256

pp_status pp__submit_work(pp_executor *ex, const char *task, const pp_buf *args, size_t n,
                          bool raw, long limit_ms, long wait_ms, pp_future **out)
{
    *out = NULL;
    size_t name_len = strlen(task);
    size_t frame_len = pp__wire_call_size(name_len, args, n);
    if (frame_len == SIZE_MAX || frame_len > SIZE_MAX - sizeof(work))
        return PP_ENOMEM;
    /* A large call is written once, into a payload segment that the worker maps and reads
     * in place (seg.h); not for MPI ranks, which may be on other machines. */
    size_t seg_min = pp__seg_min();
    pp__seg *seg = seg_min && frame_len >= seg_min && ex->method != PP_START_MPI
                       ? pp__seg_get(frame_len, 0)
                       : NULL;
    /* A small item is allocated with its future, in one block freed with it (by whichever
     * thread lets the future go last, usually the caller that allocated it): one
     * allocation a call, and none freed on the manager's thread into the caller's heap. */
    work *it;
    pp_future *f;
    bool embedded = !seg && frame_len <= EMBED_MAX;
    if (embedded) {
        void *mem = NULL;
        f = pp__future_new_ext(sizeof *it + frame_len, &mem);
        it = mem;
    } else {
        it = pp__malloc(sizeof *it + (seg ? 0 : frame_len));
        f = pp__future_new();
    }
    if (!it || !f) {
        if (!embedded)
            pp__free(it);
        pp__seg_put(seg);
        pp_future_release(f);
        return PP_ENOMEM;
    }
    it->embedded = embedded;
    it->seg = seg;
    it->id = atomic_fetch_add_explicit(&ex->next_id, 1, memory_order_relaxed);
    it->f = f;
    pp__future_set_work_id(f, it->id);
    pp__future_init_abort(f, abort_hook, ex); /* f is not shared yet */
    it->task = task;
    it->n = (uint32_t)n;
    it->retries = 0;
    it->limit_ms = limit_ms;
    it->deadline = 0;
    it->raw = raw;
    it->chunk_n = raw ? (uint32_t)n : 0;
    it->got = 0;
    it->acc_n = 0;
    it->acc_nomem = false;
    it->acc = (pp__wbuf){NULL, 0, 0};
    it->slot = -1;
    it->stop_later = 0;
    it->frame_len = frame_len;
    it->next = NULL;
    pp__wire_encode_call(work_frame(it), it->id, task, name_len, args, n);

    apr_thread_mutex_lock(ex->lock);
    bool room = wait_for_room(ex, wait_ms);
    pp_status st = ex->broken ? PP_EBROKEN : ex->shutdown ? PP_ESHUTDOWN : room ? PP_OK
                                                                               : PP_ETIMEDOUT;
    bool wake = ex->take_work;
    if (st == PP_OK) {
        pp__fifo_push(&ex->fifo_tail, it);
        ex->stats.pending = ++ex->n_fifo;
        pp_future_retain(f); /* the caller's reference; the item keeps its own */
    }
    apr_thread_mutex_unlock(ex->lock);
    if (st != PP_OK) {
        pp__work_free(it);
        return st;
    }
    /* fork: the item is queued first, so that the first submit always has its future,
     * which breaks with the pool if a worker cannot start (as in CPython). */
    if (ensure_started(ex) != PP_OK)
        fail_unstarted(ex, "cannot start the executor's manager thread");
    if (wake) /* (else no worker could take it now: the next RESULT wakes the manager) */
        pp__os_waitset_wake(ex->ws);
    *out = f;
    return PP_OK;
}

void pp_call_options_init(pp_call_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->time_limit_ms = 0;
    o->submit_wait_ms = PP_FOREVER;
}

static pp_status submit_one(pp_executor *ex, const char *task, const void *arg, size_t len,
                            const pp_call_options *co, pp_future **out, const char *func)
{
    if (!out)
        return pp__fail_in(func, PP_EINVAL, "invalid argument: out != NULL");
    *out = NULL;
    if (!ex)
        return pp__fail_in(func, PP_EINVAL, "invalid argument: ex != NULL");
    if (!task)
        return pp__fail_in(func, PP_EINVAL, "invalid argument: task != NULL");
    if (!arg && len)
        return pp__fail_in(func, PP_EINVAL, "invalid argument: arg is NULL with len %zu", len);
    long limit = ex->call_time_limit_ms;
    if (co) {
        if (!PP__TIMEOUT_OK(co->time_limit_ms) || !PP__TIMEOUT_OK(co->submit_wait_ms))
            return pp__fail_in(func, PP_EINVAL,
                               "invalid argument: time_limit_ms %ld / submit_wait_ms %ld "
                               "(PP_FOREVER or >= 0)", co->time_limit_ms, co->submit_wait_ms);
        if (co->time_limit_ms == PP_FOREVER)
            limit = 0;
        else if (co->time_limit_ms > 0)
            limit = co->time_limit_ms;
        if (limit && ex->method == PP_START_FORK)
            return pp__fail_in(func, PP_EINVAL,
                               "time_limit_ms %ld: not with PP_START_FORK (a fork pool cannot "
                               "replace the worker it kills)", limit);
    }
    size_t task_len = strlen(task);
    const char *name = pp__registry_lookup(task, task_len, NULL);
    if (!name)
        return pp__fail_in(func, PP_ENOTASK,
                           "no task '%.*s' is registered in this process (pp_register_task)",
                           (int)(task_len > 200 ? 200 : task_len), task);
    pp_buf b = {arg, len};
    pp_status st = pp__submit_work(ex, name, &b, 1, false, limit,
                                   co ? co->submit_wait_ms : PP_FOREVER, out);
    switch (st) {
    case PP_OK:
        return PP_OK;
    case PP_EBROKEN: {
        int code;
        long long pid;
        char *cause = pp__executor_broken_cause(ex, &code, &pid);
        pp__fail_in(func, st, "the pool is broken: %s", cause ? cause : "(cause unknown)");
        pp__free(cause);
        return st;
    }
    case PP_ESHUTDOWN:
        return pp__fail_in(func, st, "the executor was shut down");
    case PP_ETIMEDOUT:
        return pp__fail_in(func, st, "max_pending (%zu) calls stayed queued for all of "
                           "submit_wait_ms (%ld ms)", ex->max_pending,
                           co ? co->submit_wait_ms : PP_FOREVER);
    case PP_ENOMEM:
        return pp__fail_in(func, st, "out of memory (an argument of %zu bytes)", len);
    default:
        return pp__fail_in(func, st, "%s", pp_strerror(st));
    }
}

pp_status pp_submit_ex(pp_executor *ex, const char *task, const void *arg, size_t len,
                       const pp_call_options *co, pp_future **out)
{
    return submit_one(ex, task, arg, len, co, out, "pp_submit_ex");
}

pp_status pp_submit(pp_executor *ex, const char *task, const void *arg, size_t len,
                    pp_future **out)
{
    return submit_one(ex, task, arg, len, NULL, out, "pp_submit");
}

pp_status pp_executor_workers(pp_executor *ex, pp_worker_info *out, size_t cap, size_t *n)
{
    if (n)
        *n = 0;
    PP__CHECK_ARG(ex != NULL);
    PP__CHECK_ARG(n != NULL);
    PP__CHECK_ARG_MSG(out != NULL || cap == 0, "invalid argument: out is NULL with cap %zu",
                      cap);
    int64_t now = pp__os_monotonic_ms();
    apr_thread_mutex_lock(ex->lock);
    size_t k = 0;
    for (size_t i = 0; i < ex->n_pids; i++) {
        if (k == cap)
            continue;
        pp_worker_info wi = {ex->pids[i], PP_WORKER_STARTING, NULL, 0, 0, 0, 0};
        for (size_t j = 0; j < ex->n_pub; j++) {
            const pub_worker *p = &ex->pub[j];
            if (p->pid != wi.pid)
                continue;
            wi.state = p->state;
            wi.calls = p->calls;
            if (p->state == PP_WORKER_BUSY) {
                wi.task = p->task;
                wi.work_id = p->work_id;
                wi.busy_ms = now - p->busy_since;
            }
            break;
        }
        out[k++] = wi;
    }
    *n = ex->n_pids;
    apr_thread_mutex_unlock(ex->lock);
    for (size_t i = 0; i < k; i++)
        out[i].rss = pp__os_pid_rss(out[i].pid);
    return PP_OK;
}

pp_status pp_executor_start_workers(pp_executor *ex, int n)
{
    PP__CHECK_ARG(ex != NULL);
    PP__CHECK_ARG_MSG(n >= 1 && n <= ex->max_workers,
                      "invalid argument: n %d (1..max_workers, %d here)", n, ex->max_workers);
    apr_thread_mutex_lock(ex->lock);
    pp_status st = ex->broken ? PP_EBROKEN : ex->shutdown ? PP_ESHUTDOWN : PP_OK;
    if (st == PP_OK && n > ex->want_workers)
        ex->want_workers = n;
    apr_thread_mutex_unlock(ex->lock);
    if (st == PP_OK) {
        if (ensure_started(ex) != PP_OK)
            return pp__fail_in("pp_executor_start_workers", PP_ESYS,
                               "cannot start the executor's manager thread");
        pp__os_waitset_wake(ex->ws);
        apr_thread_mutex_lock(ex->lock);
        while (ex->n_ready < n && !ex->broken && !ex->shutdown)
            apr_thread_cond_wait(ex->ready_cond, ex->lock);
        st = ex->n_ready >= n ? PP_OK : ex->broken ? PP_EBROKEN : PP_ESHUTDOWN;
        apr_thread_mutex_unlock(ex->lock);
    }
    if (st == PP_EBROKEN) {
        int code;
        long long pid;
        char *cause = pp__executor_broken_cause(ex, &code, &pid);
        pp__fail_in("pp_executor_start_workers", st, "the pool is broken: %s",
                    cause ? cause : "(cause unknown)");
        pp__free(cause);
    } else if (st == PP_ESHUTDOWN) {
        pp__fail_in("pp_executor_start_workers", st, "the executor was shut down");
    }
    return st;
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
    apr_thread_cond_broadcast(ex->ready_cond); /* pp_executor_start_workers gives up */
    apr_thread_cond_broadcast(ex->room_cond);  /* and so do submits waiting for room */
    work *cancel = NULL;
    if (cancel_futures) {
        cancel = ex->fifo;
        ex->fifo = NULL;
        ex->fifo_tail = &ex->fifo;
        ex->n_fifo = 0;
        ex->stats.pending = 0;
        /* handed out but not started (the call queue, calls queued ahead): the manager's */
        ex->cancel_queued = true;
        atomic_store(&ex->stop_asked, true);
    }
    apr_thread_mutex_unlock(ex->lock);
    /* Cancelled here, on the caller's thread: their callbacks run here, no lock held. */
    while (cancel) {
        work *it = cancel;
        cancel = it->next;
        pp_future_cancel(it->f);
        pp__stats_add(ex, &ex->stats.cancelled);
        pp__work_free(it);
    }
    pp__os_waitset_wake(ex->ws);
    if (!wait)
        return PP_OK;
    if (pp__tl_manager == ex)
        return pp__fail_in("pp_executor_shutdown", PP_ESTATE,
                           "wait=true from one of this executor's own done callbacks (it "
                           "runs on the manager thread, which cannot wait for itself)");
    join_manager(ex);
    return PP_OK;
}

static pp_status force_workers(pp_executor *ex, force_kind how, const char *func)
{
    if (!ex)
        return pp__fail_in(func, PP_EINVAL, "invalid argument: ex != NULL");
    pp_executor_shutdown(ex, false, true);
    apr_thread_mutex_lock(ex->lock);
    if (ex->force == FORCE_NONE)
        ex->force = how;
    apr_thread_mutex_unlock(ex->lock);
    pp__os_waitset_wake(ex->ws);
    return PP_OK;
}

pp_status pp_executor_stop(pp_executor *ex, long grace_ms)
{
    PP__CHECK_ARG(ex != NULL);
    PP__CHECK_ARG_MSG(grace_ms >= 0, "invalid argument: grace_ms %ld (>= 0)", grace_ms);
    pp_executor_shutdown(ex, false, true);
    apr_thread_mutex_lock(ex->lock);
    if (!ex->stop_all) {
        ex->stop_all = true;
        ex->stop_all_grace = grace_ms;
        atomic_store(&ex->stop_asked, true);
    }
    apr_thread_mutex_unlock(ex->lock);
    pp__os_waitset_wake(ex->ws);
    return PP_OK;
}

pp_status pp_executor_terminate_workers(pp_executor *ex)
{
    return force_workers(ex, FORCE_TERM, "pp_executor_terminate_workers");
}

pp_status pp_executor_kill_workers(pp_executor *ex)
{
    return force_workers(ex, FORCE_KILL, "pp_executor_kill_workers");
}

void pp_executor_destroy(pp_executor *ex)
{
    if (!ex)
        return;
    if (pp__tl_manager == ex) {
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
    PP__CHECK_ARG(ex != NULL);
    PP__CHECK_ARG(out != NULL);
    apr_thread_mutex_lock(ex->lock);
    *out = ex->stats;
    out->pending = ex->n_fifo;
    out->completed += atomic_load_explicit(&ex->n_completed, memory_order_acquire);
    apr_thread_mutex_unlock(ex->lock);
    return PP_OK;
}

pp_status pp_executor_worker_pids(pp_executor *ex, long long *pids, size_t cap, size_t *n)
{
    if (n)
        *n = 0;
    PP__CHECK_ARG(ex != NULL);
    PP__CHECK_ARG(n != NULL);
    PP__CHECK_ARG_MSG(pids != NULL || cap == 0, "invalid argument: pids is NULL with cap %zu",
                      cap);
    apr_thread_mutex_lock(ex->lock);
    for (size_t i = 0; i < ex->n_pids && i < cap; i++)
        pids[i] = ex->pids[i];
    *n = ex->n_pids;
    apr_thread_mutex_unlock(ex->lock);
    return PP_OK;
}
