/*
 * pp_wait and pp_as_completed_*: waiting on several futures at once.
 *
 * Both register one waiter on every distinct future, under pp__flock, and sleep on it until
 * their condition holds or the deadline passes. as_completed's waiter carries a queue that
 * completing futures append themselves to, which gives the completion order.
 */
#include <stdint.h>
#include <string.h>

#include "future.h"
#include "pp_os.h"

/* Does the wait condition hold, given how many of the m distinct futures are done and
 * whether one of those failed (finished with an error; a cancelled one has not)? */
static bool wait_satisfied(size_t n_done, size_t m, bool failed, pp_return_when when)
{
    if (when == PP_FIRST_COMPLETED && n_done > 0)
        return true;
    if (when == PP_FIRST_EXCEPTION && failed)
        return true;
    return n_done == m;
}

/* The room distinct() needs: n entries of u, then its set. SIZE_MAX when that overflows. */
static size_t distinct_room(size_t n)
{
    size_t cap = 8;
    while (cap < 2 * n) {
        if (cap > SIZE_MAX / 4)
            return SIZE_MAX;
        cap *= 2;
    }
    if (n > SIZE_MAX / sizeof(pp_future *) - cap)
        return SIZE_MAX;
    return n + cap;
}

/* Fills u with the distinct entries of fs (first occurrence order); returns their count.
 * u has distinct_room(n) entries: after the first n, an open-addressing set of the
 * pointers (a power of two, at least 2n, slots) makes it O(n) (a list of 100 000 futures
 * took quadratic time before). */
static size_t distinct(pp_future *const *fs, size_t n, pp_future **u)
{
    size_t cap = distinct_room(n) - n;
    pp_future **set = u + n;
    memset(set, 0, cap * sizeof *set);
    unsigned bits = 0;
    while (((size_t)1 << bits) < cap)
        bits++;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        /* Fibonacci hashing of the address (its low bits are alignment) */
        uint64_t h = ((uint64_t)(uintptr_t)fs[i] >> 4) * 0x9E3779B97F4A7C15ull;
        size_t k = (size_t)(h >> (64 - bits)) & (cap - 1);
        while (set[k] && set[k] != fs[i])
            k = (k + 1) & (cap - 1);
        if (!set[k]) {
            set[k] = fs[i];
            u[m++] = fs[i];
        }
    }
    return m;
}

pp_status pp_wait(pp_future *const *fs, size_t n, long timeout_ms, pp_return_when when,
                  bool *done, size_t *n_done)
{
    if (n_done)
        *n_done = 0;
    PP__CHECK_ARG_MSG(fs != NULL || n == 0, "invalid argument: fs is NULL with n %zu", n);
    PP__CHECK_TIMEOUT(timeout_ms);
    PP__CHECK_ARG_MSG(when == PP_FIRST_COMPLETED || when == PP_FIRST_EXCEPTION ||
                          when == PP_ALL_COMPLETED,
                      "invalid argument: return_when %d is not a pp_return_when", (int)when);
    for (size_t i = 0; i < n; i++)
        PP__CHECK_ARG_MSG(fs[i] != NULL, "invalid argument: fs[%zu] is NULL", i);
    pp_status st = pp__global_init();
    if (st != PP_OK)
        return st;
    int64_t deadline = pp__deadline(timeout_ms);

    pp_future **u = NULL;
    pp__wreg *regs = NULL;
    size_t m = 0;
    if (n) {
        size_t room = distinct_room(n);
        u = room != SIZE_MAX ? pp__malloc(room * sizeof *u) : NULL;
        regs = n <= SIZE_MAX / sizeof *regs ? pp__malloc(n * sizeof *regs) : NULL;
        if (!u || !regs) {
            pp__free(u);
            pp__free(regs);
            return pp__fail(PP_ENOMEM, "pp_wait: out of memory (for %zu futures)", n);
        }
        m = distinct(fs, n, u);
    }

    apr_thread_mutex_lock(pp__flock);
    size_t done0 = 0;
    bool failed0 = false;
    for (size_t i = 0; i < m; i++) {
        if (pp__fdone(u[i])) {
            done0++;
            failed0 |= pp__ffailed(u[i]);
        }
    }
    if (!wait_satisfied(done0, m, failed0, when) && timeout_ms != 0) {
        pp__waiter *w = pp__waiter_get();
        if (!w) {
            apr_thread_mutex_unlock(pp__flock);
            pp__free(u);
            pp__free(regs);
            return pp__fail(PP_ENOMEM, "pp_wait: out of memory (for a waiter)");
        }
        /* registered on the futures not done yet: each tells the waiter once */
        size_t n_regs = 0;
        for (size_t i = 0; i < m; i++) {
            if (!pp__fdone(u[i])) {
                regs[n_regs] = (pp__wreg){w, u[i], NULL};
                pp__wreg_add(&regs[n_regs++]);
            }
        }
        while (!wait_satisfied(done0 + w->n_notified, m, failed0 || w->notified_failed, when) &&
               pp__waiter_sleep(w, deadline)) {
        }
        for (size_t i = 0; i < n_regs; i++)
            pp__wreg_remove(&regs[i]);
        pp__waiter_put(w);
    }
    size_t count = 0;
    for (size_t i = 0; i < m; i++)
        count += pp__fdone(u[i]);
    if (done) {
        for (size_t i = 0; i < n; i++)
            done[i] = pp__fdone(fs[i]);
    }
    apr_thread_mutex_unlock(pp__flock);
    if (n_done)
        *n_done = count;
    pp__free(u);
    pp__free(regs);
    return PP_OK;
}

/* ---- as_completed ---- */

struct pp_as_completed {
    size_t      m;        /* distinct futures */
    pp_future **u;        /* the futures, one reference each */
    pp__wreg   *regs;     /* registrations of the futures not done at begin */
    size_t      n_regs;
    pp_future **q;        /* yield order: done at begin, then completion order */
    size_t      q_next;   /* next index of q to yield */
    pp__waiter *w;        /* NULL once every future is done */
    int64_t     deadline;
    /* pp_as_completed_fd / _handle: created at the first call of either, NULL before.
     * Set while a future is ready to be yielded, or every one has been (PP_END is next):
     * with w, it is w->ntf, set by completing futures (notify_waiters) and cleared by
     * next_until, both under pp__flock; without w (all done at begin), always set. */
    pp__notifier *ntf;
};

pp_status pp_as_completed_begin(pp_future *const *fs, size_t n, long timeout_ms,
                                pp_as_completed **out)
{
    PP__CHECK_ARG(out != NULL);
    *out = NULL;
    PP__CHECK_ARG_MSG(fs != NULL || n == 0, "invalid argument: fs is NULL with n %zu", n);
    PP__CHECK_TIMEOUT(timeout_ms);
    for (size_t i = 0; i < n; i++)
        PP__CHECK_ARG_MSG(fs[i] != NULL, "invalid argument: fs[%zu] is NULL", i);
    pp_status st = pp__global_init();
    if (st != PP_OK)
        return st;

    static const char nomem[] = "pp_as_completed_begin: out of memory (for %zu futures)";
    pp_as_completed *it = pp__calloc(1, sizeof *it);
    if (!it)
        return pp__fail(PP_ENOMEM, nomem, n);
    if (n) {
        size_t room = distinct_room(n);
        it->u = room != SIZE_MAX ? pp__malloc(room * sizeof *it->u) : NULL;
        it->regs = n <= SIZE_MAX / sizeof *it->regs ? pp__malloc(n * sizeof *it->regs) : NULL;
        it->q = n <= SIZE_MAX / sizeof *it->q ? pp__malloc(n * sizeof *it->q) : NULL;
        if (!it->u || !it->regs || !it->q) {
            pp_as_completed_end(it);
            return pp__fail(PP_ENOMEM, nomem, n);
        }
    }
    it->deadline = pp__deadline(timeout_ms);
    it->m = n ? distinct(fs, n, it->u) : 0;
    for (size_t i = 0; i < it->m; i++)
        pp_future_retain(it->u[i]);

    apr_thread_mutex_lock(pp__flock);
    size_t q_len = 0;
    for (size_t i = 0; i < it->m; i++) {
        if (pp__fdone(it->u[i]))
            it->q[q_len++] = it->u[i];
    }
    if (q_len < it->m) {
        it->w = pp__waiter_get();
        if (!it->w) {
            apr_thread_mutex_unlock(pp__flock);
            pp_as_completed_end(it);
            return pp__fail(PP_ENOMEM, "pp_as_completed_begin: out of memory (for a waiter)");
        }
        it->w->q = it->q;
        it->w->q_len = q_len;
        for (size_t i = 0; i < it->m; i++) {
            if (!pp__fdone(it->u[i])) {
                it->regs[it->n_regs] = (pp__wreg){it->w, it->u[i], NULL};
                pp__wreg_add(&it->regs[it->n_regs++]);
            }
        }
    }
    apr_thread_mutex_unlock(pp__flock);
    *out = it;
    return PP_OK;
}

/* The earlier of two deadlines (-1: none). */
static int64_t earlier(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* pp_as_completed_next and _next_wait: yields the next done future, waiting until one is
 * done or the deadline passes (the iterator's own, or an earlier one of this call's). */
static pp_status next_until(pp_as_completed *it, int64_t deadline, pp_future **f,
                            const char *func, long timeout_ms)
{
    if (it->q_next == it->m)
        return PP_END;
    if (!it->w) { /* everything was done at begin */
        *f = it->q[it->q_next++];
        return PP_OK;
    }
    apr_thread_mutex_lock(pp__flock);
    while (it->w->q_len == it->q_next && pp__waiter_sleep(it->w, deadline)) {
    }
    pp_status st = PP_ETIMEDOUT;
    if (it->w->q_len > it->q_next) {
        *f = it->q[it->q_next++];
        st = PP_OK;
        /* the last ready one taken, and more to come: nothing to report until one is */
        if (it->w->ntf_on && it->w->q_len == it->q_next && it->q_next < it->m) {
            pp__os_notifier_clear(it->w->ntf);
            it->w->ntf_on = false;
        }
    }
    size_t left = it->m - it->q_next;
    apr_thread_mutex_unlock(pp__flock);
    if (st != PP_ETIMEDOUT)
        return st;
    if (it->deadline >= 0 && pp__os_monotonic_ms() >= it->deadline)
        return pp__fail(st, "%s: the iterator's deadline passed with %zu of %zu futures not "
                            "done", func, left, it->m);
    return pp__fail(st, "%s: no future was done within %ld ms (%zu of %zu not done yet)",
                    func, timeout_ms, left, it->m);
}

pp_status pp_as_completed_next(pp_as_completed *it, pp_future **f)
{
    if (f)
        *f = NULL;
    PP__CHECK_ARG(it != NULL);
    PP__CHECK_ARG(f != NULL);
    return next_until(it, it->deadline, f, "pp_as_completed_next", PP_FOREVER);
}

pp_status pp_as_completed_next_wait(pp_as_completed *it, long timeout_ms, pp_future **f)
{
    if (f)
        *f = NULL;
    PP__CHECK_ARG(it != NULL);
    PP__CHECK_ARG(f != NULL);
    PP__CHECK_TIMEOUT(timeout_ms);
    return next_until(it, earlier(it->deadline, pp__deadline(timeout_ms)), f,
                      "pp_as_completed_next_wait", timeout_ms);
}

pp_status pp__as_completed_notifier(pp_as_completed *it, const char *func, intptr_t *h)
{
    if (!it)
        return pp__fail_in(func, PP_EINVAL, "invalid argument: it != NULL");
    if (!it->ntf) {
        pp__oserr oe = {NULL, 0};
        pp__notifier *n = NULL;
        pp_status st = pp__os_notifier_create(&n, &oe);
        if (st == PP_ENOMEM)
            return pp__fail_in(func, st, "out of memory (for a notifier)");
        if (st != PP_OK)
            return pp__fail_oserr(st, func, &oe);
        if (!it->w) {
            pp__os_notifier_set(n); /* everything was done at begin: always ready */
        } else {
            apr_thread_mutex_lock(pp__flock);
            it->w->ntf = n;
            it->w->ntf_on = it->w->q_len > it->q_next || it->q_next == it->m;
            if (it->w->ntf_on)
                pp__os_notifier_set(n);
            apr_thread_mutex_unlock(pp__flock);
        }
        it->ntf = n;
    }
    *h = pp__os_notifier_handle(it->ntf);
    return PP_OK;
}

void pp_as_completed_end(pp_as_completed *it)
{
    if (!it)
        return;
    if (it->w) {
        apr_thread_mutex_lock(pp__flock);
        for (size_t i = 0; i < it->n_regs; i++)
            pp__wreg_remove(&it->regs[i]);
        pp__waiter_put(it->w); /* (forgets the notifier) */
        apr_thread_mutex_unlock(pp__flock);
    }
    pp__os_notifier_free(it->ntf);
    for (size_t i = 0; i < it->m; i++)
        pp_future_release(it->u[i]);
    pp__free(it->u);
    pp__free(it->regs);
    pp__free(it->q);
    pp__free(it);
}
