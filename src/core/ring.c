/*
 * The shared-memory byte ring (ring.h).
 */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

bool pp__ring_enabled(void)
{
    /* -1: not read yet. Threads that race here compute the same value. */
    static atomic_int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        const char *e = getenv("PROCPOOL_RING");
        v = !(e && strcmp(e, "0") == 0);
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v != 0;
}

/* The consumer's data is the producer's since tail's release; the producer may reuse room
 * since head's release. */

/* The two counters as one side sees them (the other side's with acquire), and the bytes
 * between them; false: more than the ring holds (a corrupt counter). */
static bool counters(pp__ring *r, bool producer, uint64_t *h, uint64_t *t, uint64_t *used)
{
    *h = atomic_load_explicit(r->head, producer ? memory_order_acquire : memory_order_relaxed);
    *t = atomic_load_explicit(r->tail, producer ? memory_order_relaxed : memory_order_acquire);
    *used = *t - *h;
    return *used <= r->size;
}

bool pp__ring_avail(pp__ring *r, uint64_t *n)
{
    uint64_t h, t;
    return counters(r, false, &h, &t, n);
}

bool pp__ring_room(pp__ring *r, uint64_t *n)
{
    uint64_t h, t, used;
    bool ok = counters(r, true, &h, &t, &used);
    *n = ok ? r->size - used : 0;
    return ok;
}

bool pp__ring_put(pp__ring *r, const void *p, size_t len, size_t *n)
{
    *n = 0;
    uint64_t h, t, used;
    if (!counters(r, true, &h, &t, &used))
        return false;
    size_t k = len < r->size - used ? len : (size_t)(r->size - used);
    if (k == 0)
        return true;
    size_t at = (size_t)(t & (r->size - 1));
    if (r->rewind && at >= r->rewind && used + len <= at) {
        /* everything unread and all of this fit below `at`: on to the next lap (the skip is
         * the consumer's since the tail's release below) */
        atomic_store_explicit(r->skip, t, memory_order_relaxed);
        t += r->size - at;
        at = 0;
    }
    size_t first = k < r->size - at ? k : (size_t)(r->size - at);
    memcpy(r->data + at, p, first);
    memcpy(r->data, (const uint8_t *)p + first, k - first);
    atomic_store_explicit(r->tail, t + k, memory_order_release);
    *n = k;
    return true;
}

bool pp__ring_get(pp__ring *r, void *buf, size_t cap, size_t *n)
{
    *n = 0;
    uint64_t h, t, avail;
    if (!counters(r, false, &h, &t, &avail))
        return false;
    if (avail == 0)
        return true;
    /* A skip (the producer's, or what a corrupt one wrote there): taken where it says, and
     * only once the tail is past the lap's end (before that it may be the one the producer
     * is writing, ahead of its tail); else the bytes are read as they are. */
    uint64_t s = atomic_load_explicit(r->skip, memory_order_relaxed);
    uint64_t at = h & (r->size - 1);
    if (s == h && at != 0 && avail >= r->size - at) {
        h += r->size - at;
        avail = t - h;
        at = 0;
    } else if (s > h && s - h < avail) {
        avail = s - h; /* this lap's bytes first */
    }
    size_t k = cap < avail ? cap : (size_t)avail;
    size_t first = k < r->size - at ? k : (size_t)(r->size - at);
    memcpy(buf, r->data + at, first);
    memcpy((uint8_t *)buf + first, r->data, k - first);
    atomic_store_explicit(r->head, h + k, memory_order_release);
    *n = k;
    return true;
}

/* The two halves of each Dekker pair: a store of one's own word and a load of the other
 * side's, with a sequentially consistent fence between (the counters are stored with
 * release only, so the fence orders them too). */

bool pp__ring_put_wakes(pp__ring *r)
{
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t f = atomic_load_explicit(r->sleeping, memory_order_relaxed);
    return f != 0 && f != PP__RING_NAPPING;
}

bool pp__ring_put_naps(pp__ring *r)
{
    return atomic_load_explicit(r->sleeping, memory_order_relaxed) == PP__RING_NAPPING;
}

bool pp__ring_get_wakes(pp__ring *r)
{
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(r->waiting, memory_order_relaxed) != 0;
}

/* Raises one's own flag, then (the caller) looks at the other side's counter. */
static void raise_flag(_Atomic(uint32_t) *flag, uint32_t value)
{
    atomic_store_explicit(flag, value, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

bool pp__ring_sleep(pp__ring *r)
{
    raise_flag(r->sleeping, PP__RING_ASLEEP);
    uint64_t n;
    return pp__ring_avail(r, &n) && n > 0;
}

bool pp__ring_nap(pp__ring *r)
{
    raise_flag(r->sleeping, PP__RING_NAPPING);
    uint64_t n;
    return pp__ring_avail(r, &n) && n > 0;
}

void pp__ring_awake(pp__ring *r)
{
    atomic_store_explicit(r->sleeping, 0, memory_order_relaxed);
}

bool pp__ring_wait(pp__ring *r)
{
    raise_flag(r->waiting, 1);
    uint64_t n;
    return pp__ring_room(r, &n) && n > 0;
}

void pp__ring_unwait(pp__ring *r)
{
    atomic_store_explicit(r->waiting, 0, memory_order_relaxed);
}
