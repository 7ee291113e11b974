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
#include <stdint.h>

/* The whole block; pages are only backed once touched (a chunk of small results touches
 * one or two). */
#define PP__WSHM_SIZE (256u * 1024u)
/* Where the area starts in the block, and its size. */
#define PP__WSHM_AREA 256u
#define PP__WSHM_AREA_SIZE (PP__WSHM_SIZE - PP__WSHM_AREA)
/* Slots of calls queued ahead (below): at most this many calls of a worker are unclaimed
 * or revoked-but-not-yet-read at once. */
#define PP__WSHM_SLOTS 8
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
    _Atomic(int64_t)  item_began;
    /* Calls queued ahead (docs/design.md, "The pipeline"): the manager hands a worker a
     * few calls at once; each has a slot here, PP__SLOT(id, PP__SLOT_QUEUED), written by the
     * manager before it sends the CALL. The worker, before it runs a CALL, looks for its id
     * here: QUEUED is claimed by a CAS to 0 (started: from then the slot is free for the
     * manager to reuse); REVOKED (a caller cancelled it, or the manager moved it to an idle
     * worker) is freed (0) and the call is skipped without a RESULT; no slot: the call runs
     * as before (pipeline off). The manager reuses only slots that are 0, so a slot never
     * holds another call before the worker has read the CALL it was written for. */
    _Atomic(uint64_t) slot[PP__WSHM_SLOTS];
} pp__wshm;

/* The value of a slot: the call's work id and its state. */
#define PP__SLOT(id, st) (((uint64_t)(id) << 2) | (uint64_t)(st))

static inline uint8_t *pp__wshm_area(pp__wshm *w)
{
    return (uint8_t *)w + PP__WSHM_AREA;
}

#endif /* PP_WSHM_H */
