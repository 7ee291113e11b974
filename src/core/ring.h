/*
 * A byte stream through shared memory: a single-producer single-consumer ring of bytes in
 * a worker's shared block (wshm.h), one per direction, that carries the frames the channel
 * carried before (docs/design.md, "Frames through the shared block"). The channel stays:
 * it carries wake-up bytes (a "doorbell") and descriptors, and its end tells that the other
 * process is gone.
 *
 * A doorbell is only rung for a side that may block: the consumer says so (`sleeping`)
 * before it blocks on its channel, the producer when the ring is full (`waiting`); each
 * side stores its flag and then loads the other side's counter, both sequentially
 * consistent, so that either the blocking side sees the bytes (the room) or the other side
 * sees the flag and rings (the Dekker pattern of the wait set's wake flag). While both
 * sides are awake, no system call moves a frame.
 *
 * A consumer that will look again soon on its own (the manager, napping: a wait with a
 * short timeout, docs/design.md "Naps") says so with its other flag value, NAPPING: a
 * producer then need not ring for each put; it rings before it would itself wait for the
 * consumer (out of work, or of room), and the consumer's timeout bounds how late the
 * bytes are seen. A producer that writes on its way out rings either way.
 *
 * Counters only grow (64 bits: never wrap in practice); a position is the counter modulo
 * the ring's size (a power of two). A producer that is at least `rewind` bytes into a lap,
 * with everything unread and what it puts fitting below that point, skips the rest of the
 * lap and writes at position 0: it stores the counter it skips from in `skip` (with the
 * tail's release), and the consumer, at that counter, moves to the next lap. So while
 * little is in flight, frames keep to the ring's first pages (a page or two, warm in both
 * caches) instead of sweeping all of it; each fresh page costs a fault in both processes.
 * The skipped bytes count as unread until the consumer passes them. At most one skip is
 * outstanding: the next needs the consumer past the lap's start.
 *
 * Both processes map the block, and the worker may have scribbled over it: the manager
 * checks every counter it reads (a ring that claims more than its size, or less than
 * nothing, is a protocol violation, as a malformed frame).
 * Only lock-free atomics: address-free, valid in both mappings, and a process killed at any
 * instant leaves nothing locked.
 */
#ifndef PP_RING_H
#define PP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One side's view of one ring. The five words sit in the shared block: the producer
 * writes tail, waiting and skip, the consumer head and sleeping. */
typedef struct pp__ring {
    _Atomic(uint64_t) *head;     /* bytes consumed */
    _Atomic(uint64_t) *tail;     /* bytes produced */
    _Atomic(uint32_t) *sleeping; /* the consumer may block on its channel */
    _Atomic(uint32_t) *waiting;  /* the producer may block for room */
    _Atomic(uint64_t) *skip;     /* where the producer last skipped to the next lap (0: not
                                    yet; never a lap's start) */
    uint8_t           *data;
    uint64_t           size;     /* a power of two */
    uint64_t           rewind;   /* how far into a lap a producer may skip the rest (0:
                                    never); the producer's own setting */
} pp__ring;

/* Whether workers' frames go through rings: yes, unless the environment variable
 * PROCPOOL_RING is "0" (read once per process). */
bool pp__ring_enabled(void);

/* Producer: copies up to len bytes in, *n of them (0: full). false: the ring is corrupt
 * (nothing copied). */
bool pp__ring_put(pp__ring *r, const void *p, size_t len, size_t *n);

/* Consumer: copies up to cap bytes out, *n of them (0: empty), up to a skip (the next get
 * goes on from the next lap). false: corrupt. */
bool pp__ring_get(pp__ring *r, void *buf, size_t cap, size_t *n);

/* Bytes there to read, skipped ones included (consumer) / room to write (producer); false:
 * corrupt. */
bool pp__ring_avail(pp__ring *r, uint64_t *n);
bool pp__ring_room(pp__ring *r, uint64_t *n);

/* The consumer's flag: awake (0), asleep (it may block until rung), napping (it blocks
 * with a short timeout, and looks at the ring when it ends). */
#define PP__RING_ASLEEP 1u
#define PP__RING_NAPPING 2u

/* Producer, after a put: whether the consumer must be woken now (it said it may block,
 * not napping; any other value the consumer's side holds counts as asleep). */
bool pp__ring_put_wakes(pp__ring *r);
/* Producer, after pp__ring_put_wakes said no: whether the consumer naps (a ring may then
 * be deferred until the producer would wait for it). */
bool pp__ring_put_naps(pp__ring *r);

/* Consumer, after a get: whether the producer must be woken (it waits for room). */
bool pp__ring_get_wakes(pp__ring *r);

/* Consumer, about to block on its channel: says so, then true if bytes are there after
 * all (then it does not block: pp__ring_awake). false also for a corrupt ring (the next
 * get says so). */
bool pp__ring_sleep(pp__ring *r);
/* The same for a nap (PP__RING_NAPPING); pp__ring_awake ends it. */
bool pp__ring_nap(pp__ring *r);
void pp__ring_awake(pp__ring *r);

/* Producer, about to block for room: says so, then true if there is room after all. */
bool pp__ring_wait(pp__ring *r);
void pp__ring_unwait(pp__ring *r);

#endif /* PP_RING_H */
