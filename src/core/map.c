/*
 * pp_map / pp_map_lazy: calls submitted in chunks (one work item and one RESULT per chunk),
 * results given back in input order, item by item.
 *
 * The chunks' futures sit in a ring in input order. pp_map_next waits for the oldest with
 * what is left of the map's deadline, then walks the items of its RESULT; a chunk that
 * failed as a whole (broken pool, cancelled) reports its error at each of its positions. A
 * chunk whose worker died or was stopped part-way has a body the manager assembled (wire.h,
 * PP__WIRE_ASSEMBLED): each item has its own outcome, and each failed one its worker. A
 * lazy map submits one more chunk each time one has been consumed, so at most buffersize
 * chunks are submitted and not yet consumed.
 */
#include <string.h>

#include "executor.h"
#include "future.h"
#include "pp_os.h"
#include "registry.h"
#include "wire.h"

struct pp_map_iter {
    pp_executor    *ex;
    const char     *task;      /* stable registered name */
    size_t          chunksize;
    int64_t         deadline;  /* -1: none */
    bool            finished;  /* timed out, or reported its last status */
    /* ring of submitted, unconsumed chunks, in input order */
    pp_future     **ring;
    uint32_t       *counts;    /* items in each chunk */
    size_t          cap, head, n_ring;
    /* the chunk being consumed */
    pp_future      *cur;
    uint32_t        left;      /* items of cur not yet returned */
    pp__wire_cur    items;     /* when cur succeeded */
    bool            assembled; /* its body was assembled by the manager (wire.h): each
                                  failed item carries its worker's pid */
    pp_status       cur_st;    /* PP_OK, or the chunk's own failure */
    const pp_error *cur_err;
    pp_error        cancelled_err;
    /* the error of the item last returned */
    pp_error        item_err;
    char           *item_msg;
    /* lazy input */
    pp_next_arg_fn  next;
    void           *userdata;
    bool            input_done;
    pp_status       late_st;   /* a submit that failed while refilling: reported at the end */
    size_t          bad_arg_len; /* PP_EINVAL: the len of the argument with NULL data */
    pp_error        late_err;
    char           *late_msg;
    pp__wbuf        argbytes;
    size_t         *argoffs;   /* chunksize offsets + lengths into argbytes */
    pp_buf         *args;      /* chunksize */
};

static void cancel_outstanding(pp_map_iter *it)
{
    for (size_t i = 0; i < it->n_ring; i++)
        pp_future_cancel(it->ring[(it->head + i) % it->cap]);
}

void pp_map_free(pp_map_iter *it)
{
    if (!it)
        return;
    cancel_outstanding(it);
    for (size_t i = 0; i < it->n_ring; i++)
        pp_future_release(it->ring[(it->head + i) % it->cap]);
    pp_future_release(it->cur);
    pp__free(it->ring);
    pp__free(it->counts);
    pp__free(it->item_msg);
    pp__free(it->late_msg);
    pp__free(it->argbytes.data);
    pp__free(it->argoffs);
    pp__free(it->args);
    pp__free(it);
}

/* The text of a failed submit of a chunk, for the function func that reports it: st is
 * PP_EBROKEN (with the pool's cause), PP_ESHUTDOWN or PP_ENOMEM. */
static pp_status submit_failed(pp_executor *ex, const char *func, pp_status st)
{
    if (st == PP_EBROKEN) {
        int code;
        long long pid;
        char *cause = pp__executor_broken_cause(ex, &code, &pid);
        pp__fail(st, "%s: the pool is broken: %s", func, cause ? cause : "(cause unknown)");
        pp__free(cause);
        return st;
    }
    if (st == PP_ESHUTDOWN)
        return pp__fail(st, "%s: the executor was shut down", func);
    if (st == PP_ENOMEM)
        return pp__fail(st, "%s: out of memory", func);
    return pp__fail(st, "%s: a chunk could not be submitted (%s)", func, pp_status_str(st));
}

static pp_status ring_push(pp_map_iter *it, const pp_buf *args, size_t n)
{
    pp_future *f = NULL;
    pp_status st = pp__submit_batch(it->ex, it->task, args, n, true, &f);
    if (st != PP_OK)
        return st;
    size_t slot = (it->head + it->n_ring) % it->cap;
    it->ring[slot] = f;
    it->counts[slot] = (uint32_t)n;
    it->n_ring++;
    return PP_OK;
}

static size_t effective_chunk(size_t chunksize)
{
    return chunksize > UINT32_MAX ? UINT32_MAX : chunksize;
}

static pp_map_iter *iter_new(pp_executor *ex, const char *task, size_t chunksize,
                             long timeout_ms, size_t cap)
{
    pp_map_iter *it = pp__calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->ex = ex;
    it->task = task;
    it->chunksize = effective_chunk(chunksize);
    it->deadline = pp__deadline(timeout_ms);
    it->cap = cap ? cap : 1;
    it->ring = pp__calloc(it->cap, sizeof *it->ring);
    it->counts = pp__calloc(it->cap, sizeof *it->counts);
    it->cancelled_err = (pp_error){PP_ECANCELLED, 0, 0, "the call was cancelled", 0};
    if (!it->ring || !it->counts) {
        pp_map_free(it);
        return NULL;
    }
    return it;
}

/* The PP_ENOTASK of a map, with its text. */
static pp_status no_task(const char *func, const char *task)
{
    return pp__fail(PP_ENOTASK, "%s: no task '%.*s' is registered in this process", func,
                    PP__NAME_MAX, task);
}

pp_status pp_map(pp_executor *ex, const char *task, const pp_buf *args, size_t n,
                 size_t chunksize, long timeout_ms, pp_map_iter **out)
{
    PP__CHECK_ARG(out != NULL);
    *out = NULL;
    PP__CHECK_ARG(ex != NULL);
    PP__CHECK_ARG(task != NULL);
    PP__CHECK_ARG_MSG(args != NULL || n == 0, "invalid argument: args is NULL with n %zu", n);
    PP__CHECK_ARG(chunksize > 0);
    PP__CHECK_TIMEOUT(timeout_ms);
    for (size_t i = 0; i < n; i++)
        PP__CHECK_ARG_MSG(args[i].data != NULL || args[i].len == 0,
                          "invalid argument: args[%zu] has NULL data with len %zu", i,
                          args[i].len);
    const char *name = pp__registry_lookup(task, strlen(task), NULL);
    if (!name)
        return no_task("pp_map", task);
    size_t cs = effective_chunk(chunksize);
    size_t n_chunks = n / cs + (n % cs != 0);
    pp_map_iter *it = iter_new(ex, name, chunksize, timeout_ms, n_chunks);
    if (!it)
        return pp__fail(PP_ENOMEM, "pp_map: out of memory");
    it->input_done = true;
    for (size_t i = 0; i < n; i += cs) {
        pp_status st = ring_push(it, args + i, n - i < cs ? n - i : cs);
        if (st != PP_OK) {
            pp_map_free(it); /* cancels what was submitted */
            return submit_failed(ex, "pp_map", st);
        }
    }
    *out = it;
    return PP_OK;
}

/* Lazy maps: pulls up to chunksize arguments and submits them as one chunk. */
static pp_status refill_one(pp_map_iter *it)
{
    if (it->input_done)
        return PP_OK;
    size_t n = 0;
    it->argbytes.len = 0;
    while (n < it->chunksize) {
        pp_buf a = {NULL, 0};
        if (!it->next(it->userdata, &a)) {
            it->input_done = true;
            break;
        }
        if (!a.data && a.len) {
            it->input_done = true;
            it->bad_arg_len = a.len;
            return PP_EINVAL;
        }
        if (pp__wbuf_reserve(&it->argbytes, a.len) != PP_OK)
            return PP_ENOMEM;
        if (a.len)
            memcpy(it->argbytes.data + it->argbytes.len, a.data, a.len);
        it->argoffs[2 * n] = it->argbytes.len;
        it->argoffs[2 * n + 1] = a.len;
        it->argbytes.len += a.len;
        n++;
    }
    if (n == 0)
        return PP_OK;
    for (size_t i = 0; i < n; i++)
        it->args[i] = (pp_buf){it->argbytes.data + it->argoffs[2 * i], it->argoffs[2 * i + 1]};
    return ring_push(it, it->args, n);
}

pp_status pp_map_lazy(pp_executor *ex, const char *task, pp_next_arg_fn next, void *userdata,
                      size_t chunksize, size_t buffersize, long timeout_ms, pp_map_iter **out)
{
    PP__CHECK_ARG(out != NULL);
    *out = NULL;
    PP__CHECK_ARG(ex != NULL);
    PP__CHECK_ARG(task != NULL);
    PP__CHECK_ARG(next != NULL);
    PP__CHECK_ARG(chunksize > 0);
    PP__CHECK_ARG(buffersize > 0);
    PP__CHECK_TIMEOUT(timeout_ms);
    const char *name = pp__registry_lookup(task, strlen(task), NULL);
    if (!name)
        return no_task("pp_map_lazy", task);
    pp_map_iter *it = iter_new(ex, name, chunksize, timeout_ms, buffersize);
    if (!it)
        return pp__fail(PP_ENOMEM, "pp_map_lazy: out of memory");
    it->next = next;
    it->userdata = userdata;
    size_t cs = it->chunksize;
    it->argoffs = pp__malloc(2 * cs * sizeof *it->argoffs);
    it->args = pp__malloc(cs * sizeof *it->args);
    if (!it->argoffs || !it->args) {
        pp_map_free(it);
        return pp__fail(PP_ENOMEM, "pp_map_lazy: out of memory (chunksize %zu)", cs);
    }
    while (!it->input_done && it->n_ring < it->cap) {
        pp_status st = refill_one(it);
        if (st != PP_OK) {
            size_t bad_len = it->bad_arg_len;
            pp_map_free(it);
            if (st == PP_EINVAL)
                return pp__fail(st, "pp_map_lazy: invalid argument: next() gave an argument "
                                    "with NULL data and len %zu", bad_len);
            return submit_failed(ex, "pp_map_lazy", st);
        }
    }
    *out = it;
    return PP_OK;
}

/* Makes the oldest chunk current, waiting for it. PP_END when none is left. */
static pp_status next_chunk(pp_map_iter *it)
{
    if (it->cur) {
        pp_future_release(it->cur);
        it->cur = NULL;
        pp_status st = refill_one(it);
        if (st != PP_OK) {
            it->input_done = true;
            it->late_st = st;
        }
    }
    if (it->n_ring == 0)
        return PP_END;
    pp_future *f = it->ring[it->head];
    if (!pp__future_wait_done(f, it->deadline))
        return PP_ETIMEDOUT;
    it->cur = f;
    it->left = it->counts[it->head];
    it->head = (it->head + 1) % it->cap;
    it->n_ring--;
    pp_buf body;
    it->cur_st = pp_future_result(f, 0, &body);
    it->cur_err = NULL;
    if (it->cur_st == PP_OK) {
        pp__wire_result r;
        /* the manager decoded (checked) it when it arrived */
        if (pp__wire_view_result(body.data, body.len, &r) != PP_OK || r.n != it->left) {
            it->cur_st = PP_EBROKEN; /* the manager validated it: cannot happen */
            it->cur_err = NULL;
        } else {
            it->items = r.items;
            it->assembled = r.work_id == PP__WIRE_ASSEMBLED;
        }
    } else if (it->cur_st == PP_ECANCELLED) {
        it->cancelled_err.work_id = pp__future_work_id(f);
        it->cur_err = &it->cancelled_err;
    } else {
        pp_future_exception(f, 0, &it->cur_err);
    }
    return PP_OK;
}

/* The failure of one item (or of its whole chunk), with its text. */
static pp_status item_failed(pp_status st, const pp_error *e)
{
    return pp__fail(st, "pp_map_next: the item failed (%s): %s", pp_status_str(st),
                    e && e->message ? e->message : pp_strerror(st));
}

pp_status pp_map_next(pp_map_iter *it, pp_buf *result, const pp_error **err)
{
    if (result)
        *result = (pp_buf){NULL, 0};
    if (err)
        *err = NULL;
    PP__CHECK_ARG(it != NULL);
    if (it->item_msg) {
        pp__free(it->item_msg);
        it->item_msg = NULL;
    }
    if (it->finished)
        return PP_END;
    while (!it->cur || it->left == 0) {
        pp_status st = next_chunk(it);
        if (st == PP_ETIMEDOUT) {
            cancel_outstanding(it);
            it->finished = true;
            return pp__fail(st, "pp_map_next: the map's deadline passed (the calls not yet "
                                "done were cancelled)");
        }
        if (st == PP_END) {
            it->finished = true;
            st = it->late_st;
            if (st == PP_OK)
                return PP_END;
            /* The rest of the input could not be submitted: say why, once. */
            int code = 0;
            long long pid = 0;
            const char *why = pp_status_str(st);
            if (st == PP_EBROKEN) {
                char *cause = pp__executor_broken_cause(it->ex, &code, &pid);
                it->late_msg = cause ? pp__asprintf("the rest of the input could not be "
                                                    "submitted: the pool is broken: %s",
                                                    cause)
                                     : NULL;
                pp__free(cause);
            } else if (st == PP_ESHUTDOWN) {
                why = "the rest of the input could not be submitted: the executor was shut "
                      "down";
            }
            it->late_err = (pp_error){st, code, pid, it->late_msg ? it->late_msg : why, 0};
            if (err)
                *err = &it->late_err;
            return pp__fail(st, "pp_map_next: %s", it->late_err.message);
        }
    }
    it->left--;
    if (it->cur_st != PP_OK) {
        if (err)
            *err = it->cur_err;
        return item_failed(it->cur_st, it->cur_err);
    }
    pp__wire_item item;
    pp__wire_next_item(&it->items, &item);
    if (item.status == PP_OK) {
        if (result)
            *result = (pp_buf){item.data, item.len};
        return PP_OK;
    }
    long long pid = it->assembled ? pp__wire_item_pid(&item) : pp__future_pid(it->cur);
    it->item_msg = pp__strndup(item.data, item.len);
    it->item_err = (pp_error){item.status, item.code, pid,
                              it->item_msg ? it->item_msg : pp_status_str(item.status),
                              pp__future_work_id(it->cur)};
    if (err)
        *err = &it->item_err;
    return item_failed(item.status, &it->item_err);
}
