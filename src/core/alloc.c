/*
 * The allocation choke point, assertions, and process-wide initialisation.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>

#include "pp_core.h"
#include "pp_os.h"
#include "seg.h"

/* Fault injection: allocations left before the one that fails (0: disarmed), per thread. */
static PP__THREAD_LOCAL long fault_countdown;
static PP__THREAD_LOCAL bool fault_fired;

static bool fault_now(void)
{
    if (fault_countdown <= 0 || --fault_countdown > 0)
        return false;
    fault_fired = true;
    return true;
}

void pp__alloc_fail_nth(long k)
{
    fault_countdown = k > 0 ? k : 0;
    fault_fired = false;
}

bool pp__alloc_fault_fired(void)
{
    bool fired = fault_fired;
    fault_countdown = 0;
    fault_fired = false;
    return fired;
}

/*
 * Large blocks (payloads: a CALL frame holding a big argument, a big RESULT body) are
 * recycled: a freed block of PP__BIG_ALLOC to BIG_KEEP_MAX bytes is kept in one of
 * BIG_SLOTS slots, and the next large malloc that it fits (not more than twice its size)
 * takes it. A fresh block costs a page fault and the zeroing of every page it touches; in a
 * virtual machine that is more than the copy into it (bench/: a 64 MiB echo went from
 * 0.3x to near the pipe bound). Blocks are kept only while an executor exists
 * (pp__big_hold): the last one destroyed returns them. The slots are lock-free (a forked
 * worker may inherit them mid-operation without inheriting a held lock). Where the system
 * cannot tell a block's size, nothing is kept.
 */
#define BIG_SLOTS 2
#define BIG_KEEP_MAX ((size_t)128 << 20)
static _Atomic(void *) big_slot[BIG_SLOTS];
static atomic_int big_holders;

/*
 * Medium blocks (a future with its call, a map chunk's CALL frame, its RESULT; pp__calloc's
 * too, zeroed) are kept too, up to MID_KEEP_BYTES in all, in bins by size class: a map of
 * 200 000 items encodes ~3 MB of chunk frames at once; freed, they sit at the top of the C
 * heap, which the C library gives back to the system (glibc trims above 128 KiB) and faults
 * in again at the next map, page by page (bench/: maps of chunksize 100-1000 ran at half
 * speed from the second map on). Each bin has a try-lock,
 * never waited for: a caller that finds it taken goes to malloc/free as if the bin were empty
 * or full, so a forked worker that inherits a taken bin just bypasses it.
 *
 * Only blocks below MID_MAX are kept: larger ones are the C library's own mappings (glibc
 * maps blocks from 128 KiB), whose free() is what raises its trim threshold to their size,
 * so that a heap that once held a big map is not trimmed again. And a block a bin cannot
 * give while the bins hold MID_SPILL or more (the maps' chunk size changed: their frames
 * are of another size class now) gives every kept block back first, where the C library
 * joins them and serves this size from them: kept apart by size, they made the next map
 * of another chunk size grow the heap anew (bench/: chunksize 1000 after 100, 0.6x).
 */
#define MID_MIN_SHIFT 8 /* 256 bytes */
#define MID_BINS 9       /* bin k: usable sizes [2^(k+8), 2^(k+9)), below MID_MAX */
#define MID_KEEP_BYTES ((size_t)16 << 20)
#define MID_MAX ((size_t)128 << 10)
#define MID_SPILL ((size_t)1 << 20)
typedef struct mid_block {
    struct mid_block *next;
} mid_block;
static struct {
    atomic_flag busy;
    mid_block  *head;
} mid_bin[MID_BINS] = {{ATOMIC_FLAG_INIT, NULL}};
static atomic_size_t mid_bytes;

/* The bin of a block of `size` usable bytes (floor), or -1 if not a medium block. */
static int mid_bin_of(size_t size)
{
    if (size < ((size_t)1 << MID_MIN_SHIFT) || size >= MID_MAX)
        return -1;
    int k = 0;
    while (k + 1 < MID_BINS && size >= ((size_t)1 << (k + 1 + MID_MIN_SHIFT)))
        k++;
    return k;
}

/* The first block of bin k if it holds n bytes, or NULL. */
static void *mid_pop(int k, size_t n)
{
    if (k >= MID_BINS ||
        atomic_flag_test_and_set_explicit(&mid_bin[k].busy, memory_order_acquire))
        return NULL;
    mid_block *b = mid_bin[k].head;
    size_t size = b ? pp__os_alloc_size(b) : 0;
    if (b && size >= n)
        mid_bin[k].head = b->next;
    else
        b = NULL;
    atomic_flag_clear_explicit(&mid_bin[k].busy, memory_order_release);
    if (b)
        atomic_fetch_sub(&mid_bytes, size);
    return b;
}

static void mid_drop(void);

/* A kept block of at least n bytes: from n's own bin (a freed block of the same size is
 * there) or the next one up. NULL if neither has one; then, if the bins hold MID_SPILL or
 * more, they are emptied (see above). */
static void *mid_take(size_t n)
{
    int k = mid_bin_of(n);
    if (k < 0)
        return NULL;
    void *p = mid_pop(k, n);
    p = p ? p : mid_pop(k + 1, n);
    if (!p && atomic_load(&mid_bytes) >= MID_SPILL)
        mid_drop();
    return p;
}

/* Keeps p if it is a medium block, an executor exists and there is room; false: the caller
 * frees it. */
static bool mid_keep(void *p)
{
    if (atomic_load(&big_holders) <= 0)
        return false;
    size_t size = pp__os_alloc_size(p);
    int k = mid_bin_of(size);
    if (k < 0)
        return false;
    if (atomic_fetch_add(&mid_bytes, size) + size > MID_KEEP_BYTES ||
        atomic_flag_test_and_set_explicit(&mid_bin[k].busy, memory_order_acquire)) {
        atomic_fetch_sub(&mid_bytes, size);
        return false;
    }
    mid_block *b = p;
    b->next = mid_bin[k].head;
    mid_bin[k].head = b;
    atomic_flag_clear_explicit(&mid_bin[k].busy, memory_order_release);
    return true;
}

/* Frees every kept medium block (a bin another thread holds this instant keeps its own). */
static void mid_drop(void)
{
    for (int k = 0; k < MID_BINS; k++) {
        if (atomic_flag_test_and_set_explicit(&mid_bin[k].busy, memory_order_acquire))
            continue;
        mid_block *b = mid_bin[k].head;
        mid_bin[k].head = NULL;
        atomic_flag_clear_explicit(&mid_bin[k].busy, memory_order_release);
        while (b) {
            mid_block *next = b->next;
            atomic_fetch_sub(&mid_bytes, pp__os_alloc_size(b));
            free(b);
            b = next;
        }
    }
}

size_t pp__mid_kept_bytes(void)
{
    return atomic_load(&mid_bytes);
}

static void free_slots(void)
{
    for (int i = 0; i < BIG_SLOTS; i++)
        free(atomic_exchange(&big_slot[i], NULL));
    mid_drop();
    pp__seg_drop_kept(); /* the payload segments kept for reuse (seg.c) go with them */
}

bool pp__big_held(void)
{
    return atomic_load(&big_holders) > 0;
}

void pp__big_hold(bool hold)
{
    if (hold)
        atomic_fetch_add(&big_holders, 1);
    else if (atomic_fetch_sub(&big_holders, 1) == 1)
        free_slots();
}

size_t pp__big_kept(void)
{
    size_t n = 0;
    for (int i = 0; i < BIG_SLOTS; i++)
        n += atomic_load(&big_slot[i]) != NULL;
    return n;
}

/* A kept block of at least n bytes, and not more than 2n, or NULL. */
static void *big_take(size_t n)
{
    for (int i = 0; i < BIG_SLOTS; i++) {
        void *p = atomic_load(&big_slot[i]);
        if (!p)
            continue;
        size_t size = pp__os_alloc_size(p);
        if (size < n || size / 2 > n || !atomic_compare_exchange_strong(&big_slot[i], &p, NULL))
            continue;
        if (pp__os_alloc_size(p) >= n)
            return p; /* (re-checked: the slot may have changed hands in between) */
        free(p);
    }
    return NULL;
}

/* Keeps p if it is a large block and an executor exists; false: the caller frees it. */
static bool big_keep(void *p)
{
    if (atomic_load(&big_holders) <= 0)
        return false;
    size_t size = pp__os_alloc_size(p);
    if (size < PP__BIG_ALLOC || size > BIG_KEEP_MAX)
        return false;
    for (int i = 0; i < BIG_SLOTS; i++) {
        void *none = NULL;
        if (atomic_compare_exchange_strong(&big_slot[i], &none, p)) {
            if (atomic_load(&big_holders) <= 0)
                free_slots(); /* the last executor went away meanwhile */
            return true;
        }
    }
    for (int i = 0; i < BIG_SLOTS; i++) { /* full: replace a smaller one */
        void *q = atomic_load(&big_slot[i]);
        if (q && pp__os_alloc_size(q) < size &&
            atomic_compare_exchange_strong(&big_slot[i], &q, p)) {
            free(q);
            return true;
        }
    }
    return false;
}

/*
 * Fresh memory: a page the C library hands out for the first time faults at its first
 * write (~25 us on the VM of bench/: a batch of 20 000 calls on a new pool, ~500 bytes each,
 * spent 3-5 us a call on faults). So, while an executor exists, every PREFAULT_STEP bytes
 * that a thread allocated below MID_MAX without the medium cache, it takes a block of
 * PREFAULT_STEP from the C library, backs its pages in one system call
 * (pp__os_mem_prefault) and gives it back: the C library carves the next blocks from those
 * pages (its heap keeps that much at its top when it trims: glibc's M_TOP_PAD, 128 KiB).
 * Memory already backed costs the call a walk of its page table, no more. A thread's first
 * PREFAULT_STEP bytes fault as they go: a pool that serves a call or two (start-up) pays
 * no system call for pages it may never use.
 */
#define PREFAULT_STEP ((size_t)96 << 10)
static PP__THREAD_LOCAL size_t fresh_bytes;

static void fresh(size_t n)
{
    if (n >= MID_MAX || atomic_load_explicit(&big_holders, memory_order_relaxed) <= 0)
        return;
    fresh_bytes += n;
    if (fresh_bytes < PREFAULT_STEP)
        return;
    fresh_bytes = 0;
    void *p = malloc(PREFAULT_STEP);
    if (p) {
        pp__os_mem_prefault(p, PREFAULT_STEP);
        free(p);
    }
}

static void *large(void *p, size_t n)
{
    if (p && n >= PP__BIG_ALLOC)
        pp__os_mem_large(p, n);
    return p;
}

void *pp__malloc(size_t n)
{
    if (fault_now())
        return NULL;
    void *p = n >= PP__BIG_ALLOC ? big_take(n) : mid_take(n);
    if (p)
        return p;
    fresh(n);
    return large(malloc(n ? n : 1), n);
}

void *pp__calloc(size_t n, size_t size)
{
    if (fault_now())
        return NULL;
    n = n ? n : 1;
    size = size ? size : 1;
    if (size <= MID_MAX / n) { /* a medium block (or less) */
        void *p = mid_take(n * size);
        if (p)
            return memset(p, 0, n * size);
        fresh(n * size);
    }
    return calloc(n, size); /* zeroed already */
}

void *pp__realloc(void *p, size_t n)
{
    return fault_now() ? NULL : large(realloc(p, n ? n : 1), n);
}

void pp__free(void *p)
{
    if (p && !big_keep(p) && !mid_keep(p))
        free(p);
}

char *pp__strndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len < n && s[len])
        len++;
    char *d = pp__malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

char *pp__strdup(const char *s)
{
    return pp__strndup(s, strlen(s));
}

char *pp__vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = pp__malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *pp__asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pp__vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

void pp__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "procpool: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}

/* ---- process-wide initialisation ---- */

static pp_status global_status = PP_ESYS;

static void global_init_once(void)
{
    if (apr_initialize() != APR_SUCCESS) {
        global_status = PP_ESYS;
        return;
    }
    pp__future_global_init(&global_status);
}

pp_status pp__global_init(void)
{
    pp__os_call_once(global_init_once);
    if (global_status != PP_OK)
        return pp__fail(global_status, "procpool could not initialise: APR (apr_initialize, "
                                       "or its first pool and mutex) failed");
    return PP_OK;
}
