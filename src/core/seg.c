/*
 * Payload segments (seg.h): the parent's side. Kept segments sit in lock-free slots, as the
 * large blocks of alloc.c do (a scan reads copies beside the slots, never a segment it has
 * not taken) (a forked worker may inherit them mid-operation; it never uses
 * them: the mappings are not inherited, the descriptors are closed).
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "pp_core.h"
#include "seg.h"

#define SEG_SLOTS 32
#define SEG_KEEP_BYTES ((size_t)3 << 29) /* at most this much kept (1.5 GiB), all together */
#define SEG_ROUND ((size_t)64 * 1024)

static _Atomic(pp__seg *) slot[SEG_SLOTS];
/* What the scan ranks a kept segment by, copied beside its slot when it is kept: the scan
 * never reads a segment it has not taken (another thread may take and free it meanwhile).
 * A copy may be stale (the slot changed hands since): that only makes a worse choice, and
 * the segment taken is checked again once it is ours. */
typedef struct {
    atomic_size_t    size, max;
    _Atomic(long long) last_pid;
    atomic_bool      result;
} seg_meta;
static seg_meta meta[SEG_SLOTS];
static atomic_size_t kept_bytes;
static atomic_size_t n_segs;
static atomic_uint_fast64_t next_id = 1;

size_t pp__seg_min(void)
{
    /* SIZE_MAX: not read yet. Threads that race here compute the same value. */
    static atomic_size_t cached = SIZE_MAX;
    size_t v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v == SIZE_MAX) {
        const char *e = getenv("PROCPOOL_SHM_MIN");
        char *end = NULL;
        unsigned long long x = e && *e ? strtoull(e, &end, 10) : 0;
        v = e && *e && end && *end == 0 ? (x >= SIZE_MAX ? SIZE_MAX - 1 : (size_t)x)
                                        : PP__SEG_MIN_DEFAULT;
        if (v != 0 && v < PP__SEG_FLOOR)
            v = PP__SEG_FLOOR;
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}

size_t pp__seg_count(void)
{
    return atomic_load(&n_segs);
}

void pp__seg_free(pp__seg *s)
{
    if (!s)
        return;
    pp__os_shm_free(s->shm);
    pp__free(s);
    atomic_fetch_sub(&n_segs, 1);
}

static pp__seg *seg_new(size_t need, size_t most)
{
    size_t min = pp__seg_min();
    size_t size = need > min ? need : min;
    if (size <= SIZE_MAX - SEG_ROUND)
        size = (size + SEG_ROUND - 1) / SEG_ROUND * SEG_ROUND;
    pp__seg *s = pp__calloc(1, sizeof *s);
    if (!s)
        return NULL;
    /* (a reservation the system refuses, from a huge max_message_size: one that cannot
     * grow; its larger results go through the channel) */
    if (pp__os_shm_create_max(size, most, need != 0, &s->shm, NULL) != PP_OK &&
        (most <= size || pp__os_shm_create(size, need != 0, &s->shm, NULL) != PP_OK)) {
        pp__free(s);
        return NULL;
    }
    s->id = atomic_fetch_add(&next_id, 1);
    s->result = need == 0;
    s->size = size;
    atomic_fetch_add(&n_segs, 1);
    return s;
}

static bool seg_keep(pp__seg *s);

/* pp__seg_get, pp__seg_get_result: one that can grow to most bytes (0: any). */
static pp__seg *seg_take(size_t need, size_t most, long long pid)
{
    bool result = need == 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        int best = -1, best_rank = 0;
        size_t best_size = 0, best_max = 0;
        pp__seg *best_s = NULL;
        for (int i = 0; i < SEG_SLOTS; i++) {
            pp__seg *s = atomic_load(&slot[i]);
            if (!s)
                continue;
            size_t size = atomic_load_explicit(&meta[i].size, memory_order_relaxed);
            size_t max = atomic_load_explicit(&meta[i].max, memory_order_relaxed);
            if (size < need || (most && max < most))
                continue;
            /* (see seg.h) same use first, then (a result) the same worker; then the
             * smallest that fits (a result: the largest); an argument takes one that can
             * grow least first (Windows: a plain section before one reserved for results;
             * POSIX: all alike) */
            bool was_result = atomic_load_explicit(&meta[i].result, memory_order_relaxed);
            long long last = atomic_load_explicit(&meta[i].last_pid, memory_order_relaxed);
            int rank = (was_result == result) * 2 + (result && pid && last == pid);
            bool better = need ? max < best_max || (max == best_max && size < best_size)
                               : size > best_size;
            if (best < 0 || rank > best_rank || (rank == best_rank && better)) {
                best = i;
                best_rank = rank;
                best_size = size;
                best_max = max;
                best_s = s;
            }
        }
        if (best < 0)
            break;
        pp__seg *s = best_s;
        if (!atomic_compare_exchange_strong(&slot[best], &s, NULL))
            continue; /* taken meanwhile: look again */
        atomic_fetch_sub(&kept_bytes, s->size);
        if (s->size >= need && (!most || pp__os_shm_max(s->shm) >= most)) {
            s->result = result;
            return s;
        }
        if (!seg_keep(s)) /* (the slot was refilled since the scan: not this one after all) */
            pp__seg_free(s);
    }
    return seg_new(need, most);
}

pp__seg *pp__seg_get(size_t need, long long pid)
{
    return seg_take(need, 0, pid);
}

pp__seg *pp__seg_get_result(size_t most, long long pid)
{
    return seg_take(0, most, pid);
}

void pp__seg_put(pp__seg *s)
{
    if (!s)
        return;
    if (!pp__big_held() || s->size > SEG_KEEP_BYTES) {
        pp__seg_free(s);
        return;
    }
    if (!seg_keep(s))
        pp__seg_free(s);
}

/* Puts s in a free slot, within the bytes kept; false: no room (s is still the caller's). */
static bool seg_keep(pp__seg *s)
{
    if (atomic_fetch_add(&kept_bytes, s->size) + s->size <= SEG_KEEP_BYTES) {
        for (int i = 0; i < SEG_SLOTS; i++) {
            pp__seg *none = NULL;
            if (atomic_load(&slot[i]))
                continue;
            /* the copies first (a scan that sees s with the previous tenant's copies only
             * ranks it worse), then the segment */
            atomic_store_explicit(&meta[i].size, s->size, memory_order_relaxed);
            atomic_store_explicit(&meta[i].max, pp__os_shm_max(s->shm), memory_order_relaxed);
            atomic_store_explicit(&meta[i].last_pid, s->last_pid, memory_order_relaxed);
            atomic_store_explicit(&meta[i].result, s->result, memory_order_relaxed);
            if (atomic_compare_exchange_strong(&slot[i], &none, s)) {
                if (!pp__big_held())
                    pp__seg_drop_kept(); /* the last executor went away meanwhile */
                return true;
            }
        }
    }
    atomic_fetch_sub(&kept_bytes, s->size);
    return false;
}

void pp__seg_drop_kept(void)
{
    for (int i = 0; i < SEG_SLOTS; i++) {
        pp__seg *s = atomic_exchange(&slot[i], NULL);
        if (s) {
            atomic_fetch_sub(&kept_bytes, s->size);
            pp__seg_free(s);
        }
    }
}

pp_status pp__seg_grow(pp__seg *s, size_t size)
{
    if (size <= s->size)
        return PP_OK;
    pp_status st = pp__os_shm_resize(s->shm, size, false, NULL);
    if (st == PP_OK)
        s->size = size;
    return st;
}
