/*
 * The worker side: pp_worker_main() and the loop a worker process runs.
 *
 * A worker reads frames from its channel (blocking): first INIT (run the initializer, answer
 * READY or INITERR), then CALLs, each answered by one RESULT with one item per argument.
 * It exits 0 on STOP or when the channel reaches EOF (the parent is gone), and exits after
 * the RESULT flagged PP__MSGF_LAST when it has run max_tasks calls. Anything malformed makes
 * it exit with WORKER_EXIT_PROTOCOL: the manager reports it as a broken pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "pp_core.h"
#include "pp_os.h"
#include "registry.h"
#include "seg.h"
#include "spin.h"
#include "starter.h"
#include "wire.h"
#include "wshm.h"

#define WORKER_EXIT_PROTOCOL 70 /* EX_SOFTWARE */
#define TASK_ERROR_MAX (64u * 1024u)
#define TRUNCATED_MARK "...[truncated]"
/* The error of a call whose pp_task_return / pp_task_error ran out of memory. */
#define NOMEM_MESSAGE "out of memory in the worker"

struct pp_task_ctx {
    uint64_t work_id;  /* the current call's id (0 in the initializer) */
    pp__wbuf result;   /* result bytes of the current call */
    char    *error;    /* failure text, or NULL */
    bool     nomem;    /* a pp_task_return / pp_task_error ran out of memory */
    bool     direct;   /* a call of one argument: a large result may go straight into the
                          result segment */
    bool     in_seg;   /* it did: result.len bytes at SEG_DIRECT_OFF of the result segment */
};

/* ---- payload segments (seg.h; docs/design.md) ---- */

/* The segments this worker has mapped, by id: the manager sends the same ones again (its
 * kept segments), and a mapping kept saves faulting its pages in again. At most WSEGS, the
 * least recently used unmapped first (never the result segment). A segment the parent has
 * freed stays alive while it is mapped here: at most WSEGS of them per worker. */
#define WSEGS 24
typedef struct wseg {
    uint64_t id; /* 0: free entry */
    pp__shm *shm;
    uint64_t used;
} wseg;
static wseg wsegs[WSEGS];
static uint64_t wseg_tick;
static uint64_t rseg_id;   /* its result segment (SEG with frame_len 0), 0: none */
static size_t   seg_min;   /* pp__seg_min(): results this large go into the result segment */
/* Where a result of one item starts in its RESULT frame: header, work id, count, then the
 * item's status, code and length. */
#define SEG_DIRECT_OFF (PP__WIRE_HDR + 8u + 4u + 4u + 4u + 8u)

static wseg *seg_find(uint64_t id)
{
    for (int i = 0; id && i < WSEGS; i++)
        if (wsegs[i].id == id)
            return &wsegs[i];
    return NULL;
}

/* The result segment, at least need bytes long (grown if it must be), or NULL: none, or
 * it cannot grow that far (Windows: past its reservation, max_message_size): the result
 * goes through the channel. */
static wseg *rseg_fit(size_t need)
{
    wseg *e = seg_find(rseg_id);
    if (!e || !seg_min || need < seg_min)
        return NULL;
    size_t size = pp__os_shm_size(e->shm);
    if (size < need) {
        size_t want = need <= SIZE_MAX - 0xFFFFu ? (need + 0xFFFFu) & ~(size_t)0xFFFFu : need;
        if (pp__os_shm_resize(e->shm, want, true, NULL) != PP_OK)
            return NULL;
    }
    return e;
}

/* The block shared with the manager (wshm.h), once the SHM frame mapped it; else NULL. */
static pp__wshm *shared;

bool pp_task_should_stop(pp_task_ctx *ctx)
{
    return ctx && ctx->work_id && shared &&
           atomic_load_explicit(&shared->stop_id, memory_order_acquire) == ctx->work_id;
}

pp_status pp_task_return(pp_task_ctx *ctx, const void *data, size_t len)
{
    PP__CHECK_ARG(ctx != NULL);
    PP__CHECK_ARG_MSG(data != NULL || len == 0, "invalid argument: data is NULL with len %zu",
                      len);
    ctx->result.len = 0;
    ctx->in_seg = false;
    wseg *e = ctx->direct ? rseg_fit(len <= SIZE_MAX - SEG_DIRECT_OFF ? SEG_DIRECT_OFF + len : 0)
                          : NULL;
    if (e && len) { /* written once, where the parent will read it */
        memcpy((uint8_t *)pp__os_shm_addr(e->shm) + SEG_DIRECT_OFF, data, len);
        ctx->in_seg = true;
        ctx->result.len = len;
        return PP_OK;
    }
    if (pp__wbuf_reserve(&ctx->result, len) != PP_OK) {
        ctx->nomem = true;
        return pp__fail(PP_ENOMEM, "pp_task_return: out of memory (for %zu bytes)", len);
    }
    if (len)
        memcpy(ctx->result.data, data, len);
    ctx->result.len = len;
    return PP_OK;
}

pp_status pp_task_error(pp_task_ctx *ctx, const char *fmt, ...)
{
    PP__CHECK_ARG(ctx != NULL);
    PP__CHECK_ARG(fmt != NULL);
    va_list ap;
    va_start(ap, fmt);
    char *s = pp__vasprintf(fmt, ap);
    va_end(ap);
    if (!s) {
        ctx->nomem = true;
        return pp__fail(PP_ENOMEM, "pp_task_error: out of memory");
    }
    size_t len = strlen(s);
    if (len > TASK_ERROR_MAX) {
        size_t keep = TASK_ERROR_MAX - (sizeof TRUNCATED_MARK - 1);
        memcpy(s + keep, TRUNCATED_MARK, sizeof TRUNCATED_MARK);
    }
    pp__free(ctx->error);
    ctx->error = s;
    return PP_OK;
}

/* ---- blocking frame I/O on the worker's channel ---- */

/* A worker forked without exec (fork, forkserver) shares the application's atexit handlers
 * and the state they tear down: it ends with _Exit after flushing its own output (the parent
 * flushed its buffers before forking, so nothing is written twice). */
static bool forked;

static void die_quietly(int code)
{
    fflush(NULL);
    if (forked)
        _Exit(code);
    exit(code);
}

/* Bytes read ahead from the channel: small frames (most calls) come in one read, with
 * whatever follows them. */
#define READ_AHEAD (64u * 1024u)
static unsigned char ra_buf[READ_AHEAD];
static size_t ra_pos, ra_len;

/* The rings of the shared block, once the manager turned them on (wshm.h, ring.h): every
 * frame after SHM goes through them, both ways; the channel carries wake-up bytes (and
 * descriptors), and its EOF still says the parent is gone. */
static bool ringed;
static pp__ring ring_out, ring_in;

/* Wakes the manager: a byte on the channel (any: it reads them only to wake). */
static void ring_bell(pp__chan *c)
{
    static const uint8_t bell = 0;
    size_t n = 0;
    (void)pp__os_chan_write(c, &bell, 1, &n, NULL);
}

/* A wake-up deferred while the manager naps (ring.h): it looks at the ring when its nap
 * ends, so the bytes just written wait at most that long; owed, and rung, once this worker
 * is about to wait for the manager (for its next call, or for room). */
static bool bell_owed;

static void pay_bell(pp__chan *c)
{
    if (!bell_owed)
        return;
    bell_owed = false;
    if (pp__ring_put_wakes(&ring_out) || pp__ring_put_naps(&ring_out))
        ring_bell(c);
}

/* Blocks until the channel has a byte (a wake-up), and takes those there; exits 0 on EOF. */
static void ring_block(pp__chan *c)
{
    uint8_t bells[64];
    size_t n = 0;
    pp_status st = pp__os_chan_read(c, bells, sizeof bells, &n, NULL);
    if (st == PP_END)
        die_quietly(0);
    if (st != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
}

/* read_some from the ring: sleeps on the channel only after saying so (pp__ring_sleep). */
static size_t ring_read(pp__chan *c, void *buf, size_t cap, bool wait)
{
    for (;;) {
        size_t n = 0;
        if (!pp__ring_get(&ring_in, buf, cap, &n))
            die_quietly(WORKER_EXIT_PROTOCOL);
        if (n) {
            if (pp__ring_get_wakes(&ring_in))
                ring_bell(c); /* the manager waits for room */
            return n;
        }
        if (!wait)
            return 0;
        pay_bell(c);
        if (!pp__ring_sleep(&ring_in))
            ring_block(c);
        pp__ring_awake(&ring_in);
    }
}

/* Puts len bytes into the ring, as far as it takes them (all, unless wait is false: a
 * signal handler's one attempt); rings for a manager that may be asleep. false: not all. */
static bool ring_write(pp__chan *c, const void *buf, size_t len, bool wait)
{
    const uint8_t *p = buf;
    while (len) {
        size_t n = 0;
        if (!pp__ring_put(&ring_out, p, len, &n))
            return false;
        p += n;
        len -= n;
        if (n && pp__ring_put_wakes(&ring_out)) {
            ring_bell(c);
            bell_owed = false;
        } else if (n && pp__ring_put_naps(&ring_out)) {
            if (wait)
                bell_owed = true;
            else
                ring_bell(c); /* (on the way out: now) */
        }
        if (len && !n) { /* full: wait for the manager to make room */
            if (!wait)
                return false;
            pay_bell(c);
            if (!pp__ring_wait(&ring_out))
                ring_block(c);
            pp__ring_unwait(&ring_out);
        }
    }
    return true;
}

/* Reads at most cap bytes: at least one if wait, else what is there (maybe none); exits 0
 * on EOF (the parent is gone). */
static size_t read_some(pp__chan *c, void *buf, size_t cap, bool wait)
{
    if (ringed)
        return ring_read(c, buf, cap, wait);
    size_t n = 0;
    pp_status st = wait ? pp__os_chan_read(c, buf, cap, &n, NULL)
                        : pp__os_chan_try_read(c, buf, cap, &n, NULL);
    if (st == PP_END)
        die_quietly(0);
    if (st != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
    return n;
}

/* Reads exactly len bytes: from what was read ahead, else through a refill of the
 * read-ahead buffer for a short request, else straight into buf. */
static void read_full(pp__chan *c, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        size_t k;
        if (ra_pos < ra_len) {
            k = ra_len - ra_pos < len ? ra_len - ra_pos : len;
            memcpy(p, ra_buf + ra_pos, k);
            ra_pos += k;
        } else if (len < READ_AHEAD) {
            ra_pos = 0;
            ra_len = read_some(c, ra_buf, READ_AHEAD, true);
            continue;
        } else {
            k = read_some(c, p, len, true);
        }
        p += k;
        len -= k;
    }
}

/* Waits until the next frame has begun to arrive (into the read-ahead buffer, unless bytes
 * are there already): polls the channel first, for as long as the spin policy allows
 * (spin.h), then blocks. */
static pp__spin await_spin;

static bool look_channel(void *c)
{
    ra_len = read_some(c, ra_buf, READ_AHEAD, false);
    return ra_len != 0;
}

static void await_frame(pp__chan *c)
{
    if (ra_pos < ra_len)
        return;
    ra_pos = ra_len = 0;
    uint64_t k;
    if (bell_owed && pp__ring_avail(&ring_in, &k) && k == 0)
        pay_bell(c); /* out of work: the manager is wanted now */
    int64_t t0;
    if (!pp__spin_poll(&await_spin, -1, look_channel, c, &t0))
        ra_len = read_some(c, ra_buf, READ_AHEAD, true);
    pp__spin_end(&await_spin, t0);
}

/* A frame is being written: a crash report now would land inside it. */
static volatile int writing;

static void write_full(pp__chan *c, const void *buf, size_t len)
{
    writing = 1;
    if (ringed) {
        if (!ring_write(c, buf, len, true))
            die_quietly(WORKER_EXIT_PROTOCOL);
        writing = 0;
        return;
    }
    const unsigned char *p = buf;
    while (len) {
        size_t n = 0;
        pp_status st = pp__os_chan_write(c, p, len, &n, NULL);
        if (st == PP_END)
            die_quietly(0);
        if (st != PP_OK)
            die_quietly(WORKER_EXIT_PROTOCOL);
        p += n;
        len -= n;
    }
    writing = 0;
}

/* Reads one frame into *body (grown as needed); returns its header. */
static pp__wire_hdr read_frame(pp__chan *c, pp__wbuf *body)
{
    uint8_t raw[PP__WIRE_HDR];
    pp__wire_hdr h;
    read_full(c, raw, sizeof raw);
    if (pp__wire_get_hdr(raw, PP__WIRE_MAX_BODY, &h) != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
    body->len = 0;
    if (h.body_len > SIZE_MAX || pp__wbuf_reserve(body, (size_t)h.body_len) != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
    read_full(c, body->data, (size_t)h.body_len);
    body->len = (size_t)h.body_len;
    return h;
}

/* ---- a task that calls exit() ---- */

/* A task that calls exit(code) ends the worker: the exit handler tells the manager at once,
 * so that the pool breaks without waiting for the process to be torn down and reaped (most
 * of the time it takes, measured in bench/: figure (f)). The manager still reaps it. Only
 * while a task runs (not in the initializer, nor at a normal exit), and only once. */
#define ANNOUNCE_WAIT_MS 1000
static pp__chan *exit_chan; /* the channel, while serve() runs */
static long long exit_pid;  /* this worker: a child a task forks must not speak for it */
static bool in_task;

/* A frame sent on the way out (an exit's announcement, a crash report): one attempt per
 * piece, a broken channel (a full ring) ends it; async-signal-safe. false: not all sent. */
static bool send_last(const uint8_t *f, size_t len)
{
    if (ringed)
        return ring_write(exit_chan, f, len, false);
    size_t off = 0;
    while (off < len) {
        size_t n = 0;
        if (pp__os_chan_write(exit_chan, f + off, len - off, &n, NULL) != PP_OK || n == 0)
            return false;
        off += n;
    }
    return true;
}

static void announce_exit(int status)
{
    if (!in_task || !exit_chan || pp__os_getpid() != exit_pid)
        return;
    in_task = false;
    uint8_t f[PP__WIRE_EXITING_LEN];
    pp__wire_encode_exiting(f, (int32_t)status);
    if (ringed) { /* wake-ups still unread would end the wait below at once */
        uint8_t bells[64];
        size_t n;
        while (pp__os_chan_try_read(exit_chan, bells, sizeof bells, &n, NULL) == PP_OK && n)
            continue;
    }
    if (!send_last(f, sizeof f))
        return;
    /* Wait for the manager's answer (or EOF) before going on with the exit: this process's
     * teardown, which the kernel does not interrupt, would otherwise hold the CPU that the
     * manager, or the caller it wakes, may be waiting for (measured: 0.3-0.9 ms later on a
     * 2-CPU VM). The manager answers once it has failed the futures; if it cannot, it kills
     * this process after a grace period; a second at most is waited here. */
    pp__os_chan_wait_readable(exit_chan, ANNOUNCE_WAIT_MS);
}

/* ---- a crash ---- */

/* The worker's own account of its death (pp__os_crash_hook): the signal or exception code
 * and its backtrace, in a CRASH frame, sent from the signal handler (or exception filter)
 * with async-signal-safe calls only; the process then dies of it as it would have. Not
 * while a frame is half written (the manager would read the report as part of it), and not
 * from a child a task forked. */
static uint8_t crash_frame[PP__WIRE_CRASH_MAX];

static void report_crash(int code, const char *trace, size_t len)
{
    if (!exit_chan || writing || pp__os_getpid() != exit_pid)
        return;
    size_t n = pp__wire_encode_crash(crash_frame, sizeof crash_frame, (uint32_t)code, trace,
                                     len);
    (void)send_last(crash_frame, n);
}

void pp__worker_inject(const void *p, size_t len)
{
    if (exit_chan)
        write_full(exit_chan, p, len);
}

void *pp__worker_block(void)
{
    return ringed ? shared : NULL;
}

void pp__worker_bell(void)
{
    if (exit_chan && ringed)
        ring_bell(exit_chan);
}

/* ---- running calls ---- */

/* A result this large, alone in its RESULT, is written from the task's buffer after the
 * frame's first bytes instead of being copied behind them: a system call more, a copy less. */
#define DIRECT_RESULT (256u * 1024u)

/* Runs fn once; gives its RESULT item (status, code, data) in *item, pointing into ctx or
 * msg (msg_cap bytes for the default failure text). */
static void run_task(pp_task_ctx *ctx, const char *name, pp_task_fn fn, pp_buf arg,
                     pp__wire_item *item, char *msg, size_t msg_cap)
{
    ctx->result.len = 0;
    ctx->in_seg = false;
    pp__free(ctx->error);
    ctx->error = NULL;
    ctx->nomem = false;
    in_task = true;
    int rc = fn(ctx, arg.data, arg.len);
    in_task = false;
    if (rc != 0 || ctx->nomem)
        ctx->in_seg = false; /* a result written to the segment does not stand */
    if (ctx->nomem) {
        *item = (pp__wire_item){PP_ENOMEM, rc, NOMEM_MESSAGE, sizeof NOMEM_MESSAGE - 1};
    } else if (rc == 0) { /* in_seg: the bytes are in the result segment already */
        *item = (pp__wire_item){PP_OK, 0, ctx->in_seg ? NULL : ctx->result.data,
                                ctx->result.len};
    } else if (ctx->error && ctx->error[0]) { /* an empty text gets the default one */
        *item = (pp__wire_item){PP_ETASK, rc, ctx->error, strlen(ctx->error)};
    } else {
        int n = snprintf(msg, msg_cap, "task '%s' failed with code %d", name, rc);
        *item = (pp__wire_item){PP_ETASK, rc, msg, (size_t)n};
    }
}

/* Runs fn once; appends its RESULT item to out. With tail non-NULL (a call of one item),
 * a large successful result is left where it is: only the item's fixed fields are appended,
 * and *tail gets the bytes to send after out. */
static pp_status run_one(pp_task_ctx *ctx, const char *name, pp_task_fn fn, pp_buf arg,
                         pp__wbuf *out, pp_buf *tail)
{
    char msg[PP__NAME_MAX + 64];
    pp__wire_item item;
    run_task(ctx, name, fn, arg, &item, msg, sizeof msg);
    if (item.status == PP_OK && ctx->in_seg) { /* (tail is set: a call of one argument) */
        *tail = (pp_buf){NULL, item.len};
        return pp__wire_result_item_head(out, PP_OK, 0, item.len);
    }
    if (item.status == PP_OK && tail && item.len >= DIRECT_RESULT) {
        *tail = (pp_buf){item.data, item.len};
        return pp__wire_result_item_head(out, PP_OK, 0, item.len);
    }
    return pp__wire_result_item(out, item.status, item.code, item.data, item.len);
}

/* The manager asked this call to stop (a map chunk then ends at the item it was running). */
static bool stop_asked(uint64_t work_id)
{
    return shared && atomic_load_explicit(&shared->stop_id, memory_order_acquire) == work_id;
}

/* Writes the items the shared area holds as a RESULT frame (flags: PP__MSGF_MORE when more
 * items of the call follow, else those of its last frame) and empties the area, which then
 * starts at item `next`. */
static void flush_area(pp__chan *c, pp__wbuf *area, uint64_t work_id, uint32_t n,
                       uint32_t flags, uint32_t next)
{
    pp__wire_result_set_n(area, n);
    pp__wire_result_end(area, flags);
    write_full(c, area->data, area->len);
    if (pp__wire_result_begin(area, work_id, 0) != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL); /* cannot happen: the area has room */
    atomic_store_explicit(&shared->n, 0, memory_order_relaxed);
    atomic_store_explicit(&shared->len, 0, memory_order_relaxed);
    atomic_store_explicit(&shared->first, next, memory_order_release);
}

/*
 * A map chunk (a CALL of more than one item) with a shared block: its RESULT frame is built
 * in the block's area, so that a worker that dies part-way leaves the manager every finished
 * item (wshm.h). Per item this costs three stores to shared memory, and no system call: the
 * frame is written once at the end, from the area. Results that do not fit go out early in
 * frames flagged MORE. When the manager asks the call to stop, the chunk ends after the
 * item that was running: the items not started are the manager's to run again.
 */
static void serve_chunk(pp__chan *c, pp_task_ctx *ctx, const pp__wire_call *call,
                        const char *name, pp_task_fn fn, const char *nomsg, size_t nomsg_len,
                        pp__wbuf *out, uint32_t flags)
{
    pp__wbuf area = {pp__wshm_area(shared), 0, PP__WSHM_AREA_SIZE};
    atomic_store_explicit(&shared->n, 0, memory_order_relaxed);
    atomic_store_explicit(&shared->len, 0, memory_order_relaxed);
    atomic_store_explicit(&shared->first, 0, memory_order_relaxed);
    if (atomic_load_explicit(&shared->timed, memory_order_relaxed)) /* before run_id: the */
        atomic_store_explicit(&shared->item_began, pp__os_monotonic_ms(), /* manager reads */
                              memory_order_relaxed);                     /* them in turn */
    atomic_store_explicit(&shared->run_id, call->work_id, memory_order_release);
    if (pp__wire_result_begin(&area, call->work_id, 0) != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
    const size_t fixed = area.len; /* header, work id, count */
    char msg[PP__NAME_MAX + 64];
    pp__wire_cur cur = call->args;
    uint32_t in_area = 0, i = 0;
    bool timed = atomic_load_explicit(&shared->timed, memory_order_relaxed) != 0;
    while (i < call->n) {
        pp_buf arg;
        pp__wire_next_arg(&cur, &arg);
        pp__wire_item item = {PP_ENOTASK, 0, nomsg, nomsg_len};
        if (timed) /* each item has the call's time limit from its own start */
            atomic_store_explicit(&shared->item_began, pp__os_monotonic_ms(),
                                  memory_order_release);
        if (fn)
            run_task(ctx, name, fn, arg, &item, msg, sizeof msg);
        i++;
        bool end = i == call->n || stop_asked(call->work_id);
        size_t need = PP__WIRE_ITEM_FIXED + item.len;
        if (item.len > area.cap - fixed - PP__WIRE_ITEM_FIXED) {
            /* too large for the area even alone: what the area holds goes first, then
             * this item in a frame of its own from a private buffer */
            if (in_area)
                flush_area(c, &area, call->work_id, in_area, PP__MSGF_MORE, i - 1);
            in_area = 0;
            pp_buf tail = {NULL, 0};
            if (pp__wire_result_begin(out, call->work_id, 1) != PP_OK)
                die_quietly(WORKER_EXIT_PROTOCOL);
            if (item.status == PP_OK && item.len >= DIRECT_RESULT) {
                if (pp__wire_result_item_head(out, PP_OK, 0, item.len) != PP_OK)
                    die_quietly(WORKER_EXIT_PROTOCOL);
                tail = (pp_buf){item.data, item.len};
            } else if (pp__wire_result_item(out, item.status, item.code, item.data,
                                            item.len) != PP_OK) {
                die_quietly(WORKER_EXIT_PROTOCOL);
            }
            pp__wire_result_end_tail(out, end ? flags : PP__MSGF_MORE, tail.len);
            write_full(c, out->data, out->len);
            if (tail.len)
                write_full(c, tail.data, tail.len);
            atomic_store_explicit(&shared->first, i, memory_order_release);
            if (end)
                return;
            continue;
        }
        if (need > area.cap - area.len) { /* full: what it holds goes out first */
            flush_area(c, &area, call->work_id, in_area, PP__MSGF_MORE, i - 1);
            in_area = 0;
        }
        area.len = (size_t)(pp__wire_item_put(area.data + area.len, item.status, item.code,
                                              item.data, item.len) -
                            area.data);
        in_area++;
        atomic_store_explicit(&shared->len, area.len - fixed, memory_order_relaxed);
        atomic_store_explicit(&shared->n, in_area, memory_order_release);
        if (end)
            break;
    }
    pp__wire_result_set_n(&area, in_area);
    pp__wire_result_end(&area, flags);
    write_full(c, area.data, area.len);
}

/* A call queued ahead (wshm.h, slots): true if it is this worker's to run (claimed, or it
 * has no slot: sent the old way), false if it was revoked (skipped: no RESULT). */
static bool claim(uint64_t work_id)
{
    if (!shared)
        return true;
    uint64_t queued = PP__SLOT(work_id, PP__SLOT_QUEUED);
    uint64_t revoked = PP__SLOT(work_id, PP__SLOT_REVOKED);
    for (int i = 0; i < PP__WSHM_SLOTS; i++) {
        uint64_t v = atomic_load_explicit(pp__wshm_slot(shared, i), memory_order_acquire);
        if (v == queued &&
            atomic_compare_exchange_strong_explicit(pp__wshm_slot(shared, i), &v, 0,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire))
            return true;
        if (v == revoked) {
            atomic_store_explicit(pp__wshm_slot(shared, i), 0, memory_order_release);
            return false;
        }
    }
    return true;
}

/* Runs one claimed CALL and sends its RESULT. */
static void run_call(pp__chan *c, pp_task_ctx *ctx, const pp__wire_call *call, pp__wbuf *out,
                     uint32_t flags)
{
    pp_task_fn fn = NULL;
    char name[PP__NAME_MAX + 1];
    memcpy(name, call->name, call->name_len);
    name[call->name_len] = 0;
    bool known = pp__registry_lookup(call->name, call->name_len, &fn) != NULL;
    char msg[PP__NAME_MAX + 64];
    int msg_len = 0;
    if (!known)
        msg_len = snprintf(msg, sizeof msg, "no task '%s' is registered in worker %lld", name,
                           pp__os_getpid());

    ctx->work_id = call->work_id; /* pp_task_should_stop compares with it */
    if (call->n > 1 && shared) {
        serve_chunk(c, ctx, call, name, known ? fn : NULL, msg, (size_t)msg_len, out, flags);
        return;
    }
    if (pp__wire_result_begin(out, call->work_id, call->n) != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
    pp__wire_cur cur = call->args;
    pp_buf tail = {NULL, 0};
    for (uint32_t i = 0; i < call->n; i++) {
        pp_buf arg;
        pp__wire_next_arg(&cur, &arg);
        pp_status st = known ? run_one(ctx, name, fn, arg, out, call->n == 1 ? &tail : NULL)
                             : pp__wire_result_item(out, PP_ENOTASK, 0, msg, (size_t)msg_len);
        if (st != PP_OK)
            die_quietly(WORKER_EXIT_PROTOCOL); /* out of memory building the result */
    }
    pp__wire_result_end_tail(out, flags, tail.len);
    ctx->direct = false;
    size_t total = out->len + tail.len;
    wseg *e = total >= out->len ? rseg_fit(total) : NULL;
    if (ctx->in_seg && (!e || out->len != SEG_DIRECT_OFF))
        die_quietly(WORKER_EXIT_PROTOCOL); /* (cannot happen: the segment was fitted) */
    if (e) { /* the frame goes into the result segment; the channel carries a reference */
        uint8_t *a = pp__os_shm_addr(e->shm);
        memcpy(a, out->data, out->len);
        if (tail.len && !ctx->in_seg)
            memcpy(a + out->len, tail.data, tail.len);
        ctx->in_seg = false;
        uint8_t ref[PP__WIRE_SEGREF_LEN];
        pp__wire_encode_segref(ref, flags, e->id, pp__os_shm_size(e->shm), total);
        rseg_id = 0; /* the parent's now, until it is sent again */
        write_full(c, ref, sizeof ref);
        return;
    }
    write_full(c, out->data, out->len);
    if (tail.len)
        write_full(c, tail.data, tail.len);
}

/* Runs one CALL and sends its RESULT; false: it was revoked before it started (claim).
 * The block's `busy` says, meanwhile, that a task holds this worker's CPU (wshm.h). */
static bool serve_call(pp__chan *c, pp_task_ctx *ctx, const pp__wire_call *call,
                       pp__wbuf *out, uint32_t flags)
{
    if (!claim(call->work_id))
        return false;
    if (shared)
        atomic_store_explicit(&shared->busy, 1, memory_order_relaxed);
    run_call(c, ctx, call, out, flags);
    if (shared)
        atomic_store_explicit(&shared->busy, 0, memory_order_relaxed);
    return true;
}

/* SEG: a segment (maps it, or finds it mapped), then either it is the result segment, or
 * it holds a CALL, served from there in place. */
static void serve_seg(pp__chan *c, pp_task_ctx *ctx, const pp__wbuf *body, pp__wbuf *out,
                      uint32_t flags, bool *was_call)
{
    pp__wire_seg s;
    if (pp__wire_decode_seg(body->data, body->len, &s) != PP_OK || s.size > SIZE_MAX)
        die_quietly(WORKER_EXIT_PROTOCOL);
    if (ringed && pp__os_chan_await_fd(c) != PP_OK) /* sent apart from the frame */
        die_quietly(WORKER_EXIT_PROTOCOL);
    wseg *e = seg_find(s.seg_id);
    if (e) {
        pp__os_shm_drop(c, s.token);
        if (pp__os_shm_size(e->shm) < s.size &&
            pp__os_shm_resize(e->shm, (size_t)s.size, false, NULL) != PP_OK)
            die_quietly(WORKER_EXIT_PROTOCOL);
    } else {
        for (int i = 0; i < WSEGS; i++) /* a free entry, else the oldest but the result's */
            if (!(rseg_id && wsegs[i].id == rseg_id) &&
                (!e || !wsegs[i].id || (e->id && wsegs[i].used < e->used)))
                e = &wsegs[i];
        pp__os_shm_free(e->shm);
        e->shm = NULL;
        e->id = 0;
        /* populated either way: a result segment handed out again is as large as a result
         * it held, and will be written about as far (its pages exist: mapping them at once
         * costs ~4 ms per 64 MiB; left to fault one by one at the first write, ~2x that
         * write's ~120 ms on this VM). Not a result segment of the smallest size: every
         * worker gets one with its first CALL, and most never write a large result (64
         * pages faulted in at start-up for nothing) */
        bool populate = s.frame_len != 0 || s.size > seg_min;
        if (pp__os_shm_adopt(c, s.token, (size_t)s.size, populate, &e->shm, NULL) != PP_OK)
            die_quietly(WORKER_EXIT_PROTOCOL);
        e->id = s.seg_id;
    }
    e->used = ++wseg_tick;
    *was_call = s.frame_len != 0;
    if (!s.frame_len) {
        rseg_id = s.seg_id;
        return;
    }
    const uint8_t *a = pp__os_shm_addr(e->shm);
    pp__wire_hdr h;
    pp__wire_call call;
    if (pp__wire_get_hdr(a, PP__WIRE_MAX_BODY, &h) != PP_OK || h.type != PP__MSG_CALL ||
        h.body_len != s.frame_len - PP__WIRE_HDR ||
        pp__wire_decode_call(a + PP__WIRE_HDR, (size_t)h.body_len, &call) != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
    ctx->direct = call.n == 1;
    *was_call = serve_call(c, ctx, &call, out, flags);
}

/* INIT: run the initializer; answer READY, or INITERR and exit. */
static uint32_t serve_init(pp__chan *c, pp_task_ctx *ctx, const pp__wbuf *body, pp__wbuf *out)
{
    pp__wire_init in;
    if (pp__wire_decode_init(body->data, body->len, &in) != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
    if (in.name_len) {
        pp_task_fn fn = NULL;
        char name[PP__NAME_MAX + 1];
        memcpy(name, in.name, in.name_len);
        name[in.name_len] = 0;
        pp_status st = PP_OK;
        int code = 0;
        char *msg = NULL;
        if (!pp__registry_lookup(in.name, in.name_len, &fn)) {
            st = PP_ENOTASK;
            msg = pp__asprintf("no initializer '%s' is registered in worker %lld", name,
                               pp__os_getpid());
        } else {
            ctx->result.len = 0;
            ctx->error = NULL;
            ctx->nomem = false;
            code = fn(ctx, in.initargs.data, in.initargs.len);
            if (code != 0) {
                st = PP_ETASK;
                msg = ctx->error ? pp__strdup(ctx->error)
                                 : pp__asprintf("initializer '%s' failed with code %d", name,
                                                code);
            }
            pp__free(ctx->error);
            ctx->error = NULL;
        }
        if (st != PP_OK) {
            if (pp__wire_encode_initerr(out, st, code, msg ? msg : "", msg ? strlen(msg) : 0) ==
                PP_OK)
                write_full(c, out->data, out->len);
            pp__free(msg);
            die_quietly(1);
        }
    }
    if (pp__wire_encode_ready(out, (uint64_t)pp__os_getpid()) != PP_OK)
        die_quietly(WORKER_EXIT_PROTOCOL);
    write_full(c, out->data, out->len);
    return in.max_tasks;
}

/* The worker loop: INIT, then CALLs until STOP (or the last call of max_tasks). A spawned
 * or forked worker then exits; in a session (a remote worker, which serves one executor
 * after another on new connections) it returns 0 instead, and returns 1 at once when the
 * first frame is STOP (no executor: the parent is done with it). The channel stays the
 * caller's in a session. */
/* The exit and crash hooks of a worker process: once per process, before its first INIT
 * (a forkserver installs them before it forks: its children inherit them). They do nothing
 * while exit_chan is NULL or in another process than exit_pid's. */
static void install_hooks(void)
{
    static bool hooked;
    if (!hooked) {
        hooked = pp__os_on_exit(announce_exit);
        (void)pp__os_crash_hook(report_crash);
    }
}

static int serve_loop(pp__chan *c, bool session)
{
    pp_task_ctx ctx = {0, {NULL, 0, 0}, NULL, false, false, false};
    seg_min = pp__seg_min();
    pp__wbuf body = {NULL, 0, 0}, out = {NULL, 0, 0};

    install_hooks();
    exit_chan = c;
    exit_pid = pp__os_getpid();
    ra_pos = ra_len = 0;
    ringed = false; /* (a pool's worker forked by a task of this one's: not this block's) */
    pp__wire_hdr h = read_frame(c, &body);
    if (session && h.type == PP__MSG_STOP) {
        pp__free(body.data);
        exit_chan = NULL;
        return 1;
    }
    if (h.type == PP__MSG_SHM) { /* the block shared with the manager, before INIT */
        uint64_t token, size;
        pp__shm *shm = NULL;
        if (pp__wire_decode_shm(body.data, body.len, &token, &size) != PP_OK ||
            size != PP__WSHM_SIZE ||
            pp__os_shm_open(c, token, (size_t)size, &shm, NULL) != PP_OK)
            die_quietly(WORKER_EXIT_PROTOCOL);
        shared = pp__os_shm_addr(shm); /* mapped for the life of this process */
        if (atomic_load_explicit(&pp__wshm_rings(shared)->to_worker_tail.on,
                                 memory_order_acquire)) {
            pp__wshm_ring_views(shared, false, &ring_out, &ring_in);
            ringed = true;
            ra_pos = ra_len = 0; /* what followed SHM on the channel: wake-ups only */
        }
        h = read_frame(c, &body);
    }
    if (h.type != PP__MSG_INIT)
        die_quietly(WORKER_EXIT_PROTOCOL);
    uint32_t max_tasks = serve_init(c, &ctx, &body, &out);
    uint64_t done = 0;
    pp__spin_init(&await_spin, pp__spin_max_ns());
    pp__spin_busy_forget(); /* (the pools of the process it was forked from are not its) */
    for (;;) {
        await_frame(c);
        h = read_frame(c, &body);
        if (h.type == PP__MSG_STOP)
            break;
        if (h.type == PP__MSG_SEG) {
            bool last = max_tasks != 0 && done + 1 >= max_tasks, was_call = false;
            serve_seg(c, &ctx, &body, &out, last ? PP__MSGF_LAST : 0, &was_call);
            if (!was_call)
                continue;
            if (++done, last)
                break;
            continue;
        }
        pp__wire_call call;
        if (h.type != PP__MSG_CALL || pp__wire_decode_call(body.data, body.len, &call) != PP_OK)
            die_quietly(WORKER_EXIT_PROTOCOL);
        bool last = max_tasks != 0 && done + 1 >= max_tasks;
        ctx.direct = call.n == 1;
        if (!serve_call(c, &ctx, &call, &out, last ? PP__MSGF_LAST : 0))
            continue; /* revoked: it did not count */

        if (++done, last)
            break;
    }
    pp__free(ctx.result.data);
    pp__free(ctx.error);
    pp__free(body.data);
    pp__free(out.data);
    exit_chan = NULL;
    if (session)
        return 0;
    pp__os_chan_free(c);
    die_quietly(0);
    return 0; /* not reached */
}

static void serve(pp__chan *c)
{
    serve_loop(c, false);
}

int pp__worker_serve_session(pp__chan *c)
{
    pp__registry_close();
    return serve_loop(c, true);
}

void pp__worker_serve_forked(pp__chan *c)
{
    forked = true;
    serve(c);
}

int pp_worker_main(int argc, char **argv)
{
    pp__chan *c = NULL;
    pp__oserr oe = {NULL, 0};
    pp__registry_close();
    if (argc <= 0 || argv == NULL)
        return 0;
    pp_status st = pp__os_forkserver_main(argc, argv, install_hooks, pp__worker_serve_forked, &oe);
    if (st != PP_END) { /* a forkserver that could not start */
        char buf[256];
        fprintf(stderr, "procpool: bad forkserver socket (%s)\n",
                st == PP_ESYS ? pp__os_strerror(&oe, buf, sizeof buf) : pp_status_str(st));
        die_quietly(WORKER_EXIT_PROTOCOL);
    }
    st = pp__os_chan_from_argv(argc, argv, &c, &oe);
    if (st == PP_END)
        return 0;
    if (st != PP_OK) {
        char buf[256];
        fprintf(stderr, "procpool: bad worker channel (%s)\n",
                st == PP_ESYS ? pp__os_strerror(&oe, buf, sizeof buf) : pp_status_str(st));
        die_quietly(WORKER_EXIT_PROTOCOL);
    }
    serve(c);
    return 0; /* not reached */
}
