/*
 * Payload segments: large CALL and RESULT frames travel through shared memory instead of
 * the channel (docs/design.md, "Large payloads through shared memory"). A segment is a
 * pp__shm the parent created and keeps mapped; freed segments are kept for reuse while an
 * executor exists (pp__big_hold), so that their pages, already faulted in here and in the
 * workers that mapped them, serve the next payload.
 */
#ifndef PP_SEG_H
#define PP_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pp_os.h"

typedef struct pp__seg {
    pp__shm  *shm;
    uint64_t  id;       /* unique in this process, never 0 */
    size_t    size;     /* as mapped here */
    long long last_pid; /* the worker that last had it as its result segment (0: none) */
    bool      result;   /* its last use: a result segment (else a CALL's) */
} pp__seg;

/* The smallest frame sent through a segment: PROCPOOL_SHM_MIN (bytes; 0: never), read once
 * per process, else PP__SEG_MIN_DEFAULT. */
#define PP__SEG_MIN_DEFAULT ((size_t)256 * 1024)
#define PP__SEG_FLOOR ((size_t)4096) /* a smaller PROCPOOL_SHM_MIN counts as this */
size_t pp__seg_min(void);

/* A segment for a CALL of need bytes, or (need 0) a result segment for worker pid: from
 * those kept when one fits, else a new one of max(need, pp__seg_min()) bytes. Kept ones
 * are chosen so that the process about to write the segment most likely wrote it before
 * through the same mapping (its pages warm there: a first write costs a page fault, or on
 * a VM with shadow page tables a trip to the hypervisor, per page): a CALL's segment one
 * last used for a CALL (the smallest that fits), a result segment the one pid last had,
 * then another result segment, then any (the largest). NULL: none could be made. */
pp__seg *pp__seg_get(size_t need, long long pid);
/* A worker's result segment: as pp__seg_get(0, pid), of one that can grow to most bytes
 * (the largest RESULT frame max_message_size allows; Windows reserves that much for it,
 * pp__os_shm_create_max). */
pp__seg *pp__seg_get_result(size_t most, long long pid);
/* Gives s back: kept for reuse (while an executor exists, within the bounds) or freed. */
void pp__seg_put(pp__seg *s);
/* Frees s now (a segment a process that ended abnormally may have had mapped). */
void pp__seg_free(pp__seg *s);
static inline uint8_t *pp__seg_addr(const pp__seg *s)
{
    return (uint8_t *)pp__os_shm_addr(s->shm);
}
/* The other side made s size bytes long: maps it so here. */
pp_status pp__seg_grow(pp__seg *s, size_t size);
/* Frees the kept segments (alloc.c, when the last executor goes). */
void pp__seg_drop_kept(void);
/* How many segments exist in this process (kept or in use). */
size_t pp__seg_count(void);

#endif /* PP_SEG_H */
