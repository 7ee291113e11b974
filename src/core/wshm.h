/*
 * The block of memory a worker shares with its manager (one per worker, announced by the
 * SHM frame, pp_os.h's pp__os_shm_*). Zero when created. Only lock-free atomics live here:
 * they are address-free, so valid across the two processes' mappings, and a worker killed
 * at any instant leaves nothing locked.
 *
 * Besides the stop flag, the block holds a map chunk's progress (a CALL of more than one
 * item): the worker builds the chunk's RESULT frame in the block's area, item by item, and
 * writes the frame to its channel from there at the chunk's end (no copy more than with a
 * private buffer). After each item it publishes how many complete items the area holds and
 * their length. A worker that dies part-way (crash, kill, time limit) leaves the manager its
 * finished items' results and, by their count, which item it was running (docs/design.md,
 * "Map chunks"). Results that overflow the area go out early in RESULT frames flagged
 * PP__MSGF_MORE, and the area starts again.
 */
#ifndef PP_WSHM_H
#define PP_WSHM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pp_os.h"
#include "ring.h"

/* The whole block; pages are only backed once touched (a chunk of small results touches
 * one or two). The struct below, then the rings' words (a cache line for each side of each
 * ring), then the area up to PP__WSHM_RINGS, then the two rings' bytes (ring.h): manager
 * to worker, then worker to manager. */
#define PP__WSHM_RING_SIZE (128u * 1024u)
#define PP__WSHM_RINGS (256u * 1024u)
#define PP__WSHM_SIZE (PP__WSHM_RINGS + 2u * PP__WSHM_RING_SIZE)
/* How far into a lap of its ring a producer may skip to the next (ring.h): frames of a
 * few hundred bytes then keep to the first two pages of each ring. */
#define PP__WSHM_REWIND (4u * 1024u)
#define PP__WSHM_CTL 128u
/* The slots of calls queued ahead (below), after the rings' words. */
#define PP__WSHM_SLOT_OFF 512u
/* Where the area starts in the block, and its size. */
#define PP__WSHM_AREA 1024u
#define PP__WSHM_AREA_SIZE (PP__WSHM_RINGS - PP__WSHM_AREA)
/* Slots of calls queued ahead (below): at most this many calls of a worker are unclaimed
 * or revoked-but-not-yet-read at once. */
#define PP__WSHM_SLOTS 64
#define PP__SLOT_QUEUED 1u
#define PP__SLOT_REVOKED 2u

typedef struct pp__wshm {
    /* Written by the manager: the work id of the call it asks to stop (0: none). The
     * worker's pp_task_should_stop() compares it with the running call's id: one load, no
     * system call. A map chunk ends at the item that was running when it was asked. */
    _Atomic(uint64_t) stop_id;
    /* A map chunk's progress, written by the worker (run_id also by the manager, which
     * sets it to 0 once it has the chunk's last RESULT: a later CALL with the same id,
     * the rest of a chunk, never sees stale progress): */
    _Atomic(uint64_t) run_id; /* the call whose progress the area holds; 0: none */
    _Atomic(uint32_t) first;  /* the call's index of the first item in the area (those
                                 before went out in RESULT frames flagged MORE) */
    _Atomic(uint32_t) n;      /* complete items in the area */
    _Atomic(uint64_t) len;    /* their bytes, after the area's first PP__WIRE_HDR + 12
                                 (the RESULT frame's header, work id and count) */
    /* A map chunk's time limit is each item's (call_time_limit_ms): the manager sets
     * `timed` before it sends a CALL with a limit; the worker then stores when each item
     * of a chunk began (pp__os_monotonic_ms: one clock for every process of the machine),
     * and the manager moves the chunk's deadline to that item's start + the limit. */
    _Atomic(uint32_t) timed;
    /* 1 while the worker runs a call (worker-written; a hint: the manager polls for
     * events only while some CPU has no busy worker, spin.h) */
    _Atomic(uint32_t) busy;
    _Atomic(int64_t)  item_began;
    /* Calls queued ahead (docs/design.md, "The pipeline"): the manager hands a worker a
     * few calls at once; each has a slot (pp__wshm_slot: PP__WSHM_SLOTS words at
     * PP__WSHM_SLOT_OFF), PP__SLOT(id, PP__SLOT_QUEUED), written by the manager before it
     * sends the CALL. The worker, before it runs a CALL, looks for its id there: QUEUED is
     * claimed by a CAS to 0 (started: from then the slot is free for the manager to
     * reuse); REVOKED (a caller cancelled it, or the manager moved it to an idle worker) is
     * freed (0) and the call is skipped without a RESULT; no slot: the call runs as before
     * (pipeline off). The manager reuses only slots that are 0, so a slot never holds
     * another call before the worker has read the CALL it was written for. */
} pp__wshm;

/* The rings' words, from PP__WSHM_CTL: each line written by one side only. `on` is set by
 * the manager before it shares the block: the frames after the SHM frame go through the
 * rings, in both directions (else, PROCPOOL_RING=0, through the channel as before). */
typedef struct pp__wshm_line {
    _Atomic(uint64_t) count; /* a ring's head or tail */
    _Atomic(uint32_t) flag;  /* its consumer's `sleeping` or its producer's `waiting` */
    _Atomic(uint32_t) on;    /* (the first line only) */
    _Atomic(uint64_t) skip;  /* (a producer's line) the ring's skip (ring.h) */
    uint8_t           pad[40];
} pp__wshm_line;

typedef struct pp__wshm_ctl {
    pp__wshm_line to_worker_tail; /* the manager's: tail and waiting of the ring to the worker */
    pp__wshm_line to_worker_head; /* the worker's: head and sleeping of that ring */
    pp__wshm_line to_mgr_tail;    /* the worker's: tail and waiting of the ring to the manager */
    pp__wshm_line to_mgr_head;    /* the manager's: head and sleeping of that ring */
} pp__wshm_ctl;

_Static_assert(sizeof(pp__wshm) <= PP__WSHM_CTL, "the block's words overlap its rings' words");
_Static_assert(PP__WSHM_CTL + sizeof(pp__wshm_ctl) <= PP__WSHM_SLOT_OFF,
               "the rings' words overlap the slots");
_Static_assert(PP__WSHM_SLOT_OFF + PP__WSHM_SLOTS * sizeof(uint64_t) <= PP__WSHM_AREA,
               "the slots overlap the area");

/* Slot i (< PP__WSHM_SLOTS) of block w. */
static inline _Atomic(uint64_t) *pp__wshm_slot(pp__wshm *w, int i)
{
    return (_Atomic(uint64_t) *)((uint8_t *)w + PP__WSHM_SLOT_OFF) + i;
}

static inline pp__wshm_ctl *pp__wshm_rings(pp__wshm *w)
{
    return (pp__wshm_ctl *)((uint8_t *)w + PP__WSHM_CTL);
}

/* The two rings of block w as one side sees them: *out the one it writes, *in the one it
 * reads (manager: to the worker, from it; the worker: the other way round). */
static inline void pp__wshm_ring_views(pp__wshm *w, bool manager, pp__ring *out, pp__ring *in)
{
    pp__wshm_ctl *c = pp__wshm_rings(w);
    uint8_t *base = (uint8_t *)w + PP__WSHM_RINGS;
    pp__ring to_w = {&c->to_worker_head.count, &c->to_worker_tail.count,
                     &c->to_worker_head.flag,  &c->to_worker_tail.flag,
                     &c->to_worker_tail.skip,  base,
                     PP__WSHM_RING_SIZE,       PP__WSHM_REWIND};
    pp__ring to_m = {&c->to_mgr_head.count, &c->to_mgr_tail.count,
                     &c->to_mgr_head.flag,  &c->to_mgr_tail.flag,
                     &c->to_mgr_tail.skip,  base + PP__WSHM_RING_SIZE,
                     PP__WSHM_RING_SIZE,    PP__WSHM_REWIND};
    *out = manager ? to_w : to_m;
    *in = manager ? to_m : to_w;
}

/* The value of a slot: the call's work id and its state; and its state back. */
#define PP__SLOT(id, st) (((uint64_t)(id) << 2) | (uint64_t)(st))
#define PP__SLOT_STATE(v) ((uint32_t)((v) & 3u))

static inline uint8_t *pp__wshm_area(pp__wshm *w)
{
    return (uint8_t *)w + PP__WSHM_AREA;
}

#endif /* PP_WSHM_H */
