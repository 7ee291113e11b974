/*
 * The wire protocol between the manager and a worker: framing, encode and decode, as pure
 * functions over memory buffers (no I/O, no globals: fuzzable).
 *
 * A frame is a 16-byte header followed by a body of body_len bytes. All integers are
 * little-endian, whatever the host. Lengths are 64-bit.
 *
 *   header:  u32 type   one of PP__MSG_* (their high 16 bits are the magic 0x5050, "PP")
 *            u32 flags  PP__MSGF_* bits; unknown bits are malformed
 *            u64 body_len
 *
 * Bodies (s = a u32 length then that many bytes, b = a u64 length then that many bytes):
 *   INIT    M->W  u32 max_tasks (0 = unlimited), s initializer name (empty: none), b initargs
 *   CALL    M->W  u64 work_id, s task name (1..PP__NAME_MAX bytes), u32 n (>= 1),
 *                 n x b argument
 *   STOP    M->W  empty: finish and exit 0
 *   READY   W->M  u64 pid: the worker has run its initializer (if any) and serves calls
 *   INITERR W->M  u32 status (PP_ETASK | PP_ENOTASK | PP_ENOMEM), u32 code (an int32),
 *                 b message: the initializer failed; the worker exits after sending it
 *   RESULT  W->M  u64 work_id, u32 n (>= 1), n x item; item = u32 status (PP_OK | PP_ETASK |
 *                 PP_ENOTASK | PP_ENOMEM), u32 code (an int32), b data (the result bytes for
 *                 PP_OK, else the failure text). Flag PP__MSGF_LAST: the worker exits after
 *                 this result (max_tasks_per_child reached). Flag PP__MSGF_MORE (a map
 *                 chunk's results overflowed the worker's shared block, wshm.h): these are
 *                 the call's next n items and more RESULT frames of the call follow; the
 *                 frames' n add up to the call's n, or to fewer when the call was asked to
 *                 stop (the worker ends a chunk at the item it was running then). Never
 *                 both flags.
 *   EXITING W->M  u32 code (an int32): a task called exit(code); the worker is ending (sent
 *                 from its exit handler, where the system has one that sees the status)
 *   SHM     M->W  u64 token, u64 size: the worker's shared block (pp__os_shm_open maps it;
 *                 POSIX: its descriptor comes with the frame's first byte). Optional; when
 *                 sent, it is the first frame, before INIT.
 *   SEG     M->W  u64 token, u64 size, u64 seg_id (not 0), u64 frame_len (0, or 16..size):
 *                 a payload segment of size bytes (shared memory, mapped by
 *                 pp__os_shm_adopt; POSIX: its descriptor comes with the frame's first byte).
 *                 frame_len 0: the worker's result segment (where it may write its next
 *                 large RESULT); else a whole CALL frame (header included) of frame_len bytes
 *                 is at the segment's offset 0: this frame stands for that CALL.
 *   RESULT flagged PP__MSGF_SEG  W->M  u64 seg_id, u64 size, u64 frame_len (16..size): the
 *                 RESULT frame (header included) is at offset 0 of the worker's result
 *                 segment seg_id, which is now size bytes long (the worker may have grown
 *                 it); PP__MSGF_LAST may be set with it.
 *   CRASH   W->M  u32 code (POSIX: the signal, Windows: the exception code), b text (its
 *                 backtrace, one "#N ..." line per frame): the worker is dying of a fatal
 *                 signal or an unhandled exception (sent from the crash handler; the
 *                 process still dies of it, and its exit is handled as usual). Any length
 *                 up to PP__WIRE_CRASH_MAX - PP__WIRE_HDR - 12 bytes.
 *
 * Encoders of whole frames (INIT, READY, INITERR, STOP, and a RESULT from result_begin)
 * replace the buffer's contents (b->len restarts at 0). They return PP_EINVAL for a NULL
 * buffer, a status the message does not allow, NULL data with a nonzero length, or an INIT
 * name longer than PP__NAME_MAX; pp__wire_call_size / encode_call leave n >= 1 and the name
 * length to the caller, and give SIZE_MAX when a count or length does not fit its field.
 *
 * A decoder accepts a body only if it is exactly as long as its fields say, every count and
 * length fits, and every status is one of those listed; anything else is PP_EINVAL
 * ("malformed"). Decoders never allocate: the views they return point into the body.
 */
#ifndef PP_WIRE_H
#define PP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "procpool.h"

#define PP__WIRE_HDR 16u
#define PP__WIRE_MAGIC 0x50500000u
enum {
    PP__MSG_INIT = PP__WIRE_MAGIC | 1u,
    PP__MSG_CALL = PP__WIRE_MAGIC | 2u,
    PP__MSG_STOP = PP__WIRE_MAGIC | 3u,
    PP__MSG_READY = PP__WIRE_MAGIC | 4u,
    PP__MSG_INITERR = PP__WIRE_MAGIC | 5u,
    PP__MSG_RESULT = PP__WIRE_MAGIC | 6u,
    PP__MSG_EXITING = PP__WIRE_MAGIC | 7u,
    PP__MSG_SHM = PP__WIRE_MAGIC | 8u,
    PP__MSG_CRASH = PP__WIRE_MAGIC | 9u,
    PP__MSG_SEG = PP__WIRE_MAGIC | 10u
};
#define PP__MSGF_LAST 1u /* RESULT: the worker exits after it (max_tasks_per_child) */
#define PP__MSGF_MORE 2u /* RESULT: more items of the same call follow in another RESULT */
#define PP__MSGF_SEG 4u  /* RESULT: the frame is in a payload segment (body: a reference) */
#define PP__WIRE_ITEM_FIXED 16u /* an item's fixed fields: status, code, data length */
/* Default upper bound on a body; larger lengths are malformed before anything is allocated. */
#define PP__WIRE_MAX_BODY ((uint64_t)1 << 40)

typedef struct pp__wire_hdr {
    uint32_t type;
    uint32_t flags;
    uint64_t body_len;
} pp__wire_hdr;

/* Writes a header. */
void pp__wire_put_hdr(uint8_t out[PP__WIRE_HDR], uint32_t type, uint32_t flags,
                      uint64_t body_len);
/* Reads and checks a header: known type, only flags that type allows (PP__MSGF_LAST or
 * PP__MSGF_MORE, not both, on RESULT), body_len <= max_body and <= SIZE_MAX, and a body length
 * the type allows (STOP: 0; READY: 8; EXITING: 4). PP_OK or PP_EINVAL. */
pp_status pp__wire_get_hdr(const uint8_t in[PP__WIRE_HDR], uint64_t max_body,
                           pp__wire_hdr *h);

/* A read cursor over a run of items (arguments of a CALL, items of a RESULT) that a decoder
 * has already validated: the next_* functions cannot fail on it. */
typedef struct pp__wire_cur {
    const uint8_t *p;
    size_t         left; /* items left */
} pp__wire_cur;

/* ---- CALL ---- */
/* Size of a whole CALL frame (header included) for these arguments; SIZE_MAX on overflow. */
size_t pp__wire_call_size(size_t name_len, const pp_buf *args, size_t n);
/* Writes a whole CALL frame (header included) into out, which has pp__wire_call_size()
 * bytes. */
void pp__wire_encode_call(uint8_t *out, uint64_t work_id, const char *name, size_t name_len,
                          const pp_buf *args, size_t n);
typedef struct pp__wire_call {
    uint64_t     work_id;
    const char  *name; /* not NUL-terminated */
    size_t       name_len;
    uint32_t     n;
    pp__wire_cur args; /* n arguments: pp__wire_next_arg() */
} pp__wire_call;
pp_status pp__wire_decode_call(const uint8_t *body, size_t len, pp__wire_call *c);
void pp__wire_next_arg(pp__wire_cur *cur, pp_buf *arg);

/* ---- RESULT ---- */
/* A growable output buffer. Zero-initialise; free data with pp__free(). */
typedef struct pp__wbuf {
    uint8_t *data;
    size_t   len, cap;
} pp__wbuf;
pp_status pp__wbuf_reserve(pp__wbuf *b, size_t extra);
/* Building a RESULT frame: begin (resets b->len to 0, writes the header and the fixed
 * fields; n is the number of items that will follow), one item() per item, then end(),
 * which patches body_len and flags into the header. PP_ENOMEM leaves b valid. */
pp_status pp__wire_result_begin(pp__wbuf *b, uint64_t work_id, uint32_t n);
pp_status pp__wire_result_item(pp__wbuf *b, pp_status status, int32_t code, const void *data,
                               size_t len);
void pp__wire_result_end(pp__wbuf *b, uint32_t flags);
/* Writes one item (a status a worker may send) at p, which has PP__WIRE_ITEM_FIXED + len
 * bytes of room: no check, no allocation (a map chunk's item, in the worker's shared block).
 * Returns the end of what it wrote. */
uint8_t *pp__wire_item_put(uint8_t *p, pp_status status, int32_t code, const void *data,
                           size_t len);
/* Rewrites the item count of a RESULT frame that result_begin started in b (a map chunk's
 * frame, whose count is known only at its end). */
void pp__wire_result_set_n(pp__wbuf *b, uint32_t n);
/* Checks that len bytes at p are exactly n well-formed RESULT items (PP_OK, else PP_EINVAL)
 * and gives a cursor over them: the items a dead worker left in its shared block. */
pp_status pp__wire_check_items(const uint8_t *p, size_t len, uint32_t n, pp__wire_cur *cur);
/* A map chunk's result assembled by the manager from several runs (a worker died, or was
 * stopped, part-way through the chunk): a RESULT body (no header) whose work_id field is
 * 0 (PP__WIRE_ASSEMBLED; a worker's body has the call's id, never 0) and whose failed
 * items' data start with the u64 pid of the worker that ran (or died running) the item,
 * then the text. Besides the statuses a worker sends, such an item may be PP_EWORKERDIED,
 * PP_ETIMELIMIT or PP_ECANCELLED. begin (b->len 0, count 0), append items, then
 * set_n-style patch with pp__wire_assembled_end. Only map.c reads these bodies back. */
#define PP__WIRE_ASSEMBLED 0u
pp_status pp__wire_assembled_begin(pp__wbuf *b);
pp_status pp__wire_assembled_item(pp__wbuf *b, pp_status status, int32_t code, long long pid,
                                  const void *data, size_t len);
void      pp__wire_assembled_end(pp__wbuf *b, uint32_t n);
/* The same frame with the last item's data sent separately (a large result written from
 * where the task left it, not copied into b): item_head() appends the item's fixed fields
 * for len data bytes, end_tail() counts those len bytes in body_len; b then holds every byte
 * of the frame but the last len, which the caller writes right after it. */
pp_status pp__wire_result_item_head(pp__wbuf *b, pp_status status, int32_t code, size_t len);
void pp__wire_result_end_tail(pp__wbuf *b, uint32_t flags, size_t len);
typedef struct pp__wire_item {
    pp_status   status;
    int32_t     code;
    const void *data;
    size_t      len;
} pp__wire_item;
typedef struct pp__wire_result {
    uint64_t     work_id;
    uint32_t     n;
    pp__wire_cur items; /* pp__wire_next_item() */
} pp__wire_result;
pp_status pp__wire_decode_result(const uint8_t *body, size_t len, pp__wire_result *r);
/* The same view of a body that pp__wire_decode_result() has already accepted (a map chunk's
 * result, checked by the manager when it arrived), without walking its items again: only
 * the fixed fields are read (PP_EINVAL if they do not fit or n is 0). Never for bytes that
 * have not been decoded once. */
pp_status pp__wire_view_result(const uint8_t *body, size_t len, pp__wire_result *r);
void pp__wire_next_item(pp__wire_cur *cur, pp__wire_item *it);
/* A failed item of an assembled body (PP__WIRE_ASSEMBLED): takes the pid off the front of
 * its data and returns it (0 if the data is too short to hold one). */
long long pp__wire_item_pid(pp__wire_item *it);

/* ---- INIT, READY, INITERR, STOP: whole frames, header included ---- */
pp_status pp__wire_encode_init(pp__wbuf *b, uint32_t max_tasks, const char *initializer,
                               const void *initargs, size_t initargs_len);
typedef struct pp__wire_init {
    uint32_t    max_tasks;
    const char *name; /* not NUL-terminated; name_len 0: no initializer */
    size_t      name_len;
    pp_buf      initargs;
} pp__wire_init;
pp_status pp__wire_decode_init(const uint8_t *body, size_t len, pp__wire_init *in);

pp_status pp__wire_encode_ready(pp__wbuf *b, uint64_t pid);
pp_status pp__wire_decode_ready(const uint8_t *body, size_t len, uint64_t *pid);

pp_status pp__wire_encode_initerr(pp__wbuf *b, pp_status status, int32_t code,
                                  const char *msg, size_t msg_len);
pp_status pp__wire_decode_initerr(const uint8_t *body, size_t len, pp__wire_item *it);

pp_status pp__wire_encode_stop(pp__wbuf *b);

/* EXITING: a whole frame of PP__WIRE_EXITING_LEN bytes, written into out with no allocation
 * (it is sent from an exit handler). */
#define PP__WIRE_EXITING_LEN (PP__WIRE_HDR + 4u)
void pp__wire_encode_exiting(uint8_t out[PP__WIRE_EXITING_LEN], int32_t code);
pp_status pp__wire_decode_exiting(const uint8_t *body, size_t len, int32_t *code);

/* SHM: a whole frame of PP__WIRE_SHM_LEN bytes, written into out with no allocation. */
#define PP__WIRE_SHM_LEN (PP__WIRE_HDR + 16u)
void pp__wire_encode_shm(uint8_t out[PP__WIRE_SHM_LEN], uint64_t token, uint64_t size);
pp_status pp__wire_decode_shm(const uint8_t *body, size_t len, uint64_t *token, uint64_t *size);

/* SEG, and the reference a RESULT in a segment carries (decoders check seg_id != 0 and
 * frame_len <= size; SEG: size != 0, frame_len 0 or >= 16; RESULT: frame_len >= 16). */
typedef struct pp__wire_seg {
    uint64_t token; /* SEG only */
    uint64_t size;
    uint64_t seg_id;
    uint64_t frame_len;
} pp__wire_seg;
#define PP__WIRE_SEG_LEN (PP__WIRE_HDR + 32u)
void pp__wire_encode_seg(uint8_t out[PP__WIRE_SEG_LEN], uint64_t token, uint64_t size,
                         uint64_t seg_id, uint64_t frame_len);
pp_status pp__wire_decode_seg(const uint8_t *body, size_t len, pp__wire_seg *s);
#define PP__WIRE_SEGREF_LEN (PP__WIRE_HDR + 24u)
/* A whole RESULT frame flagged PP__MSGF_SEG (plus flags: PP__MSGF_LAST or 0). */
void pp__wire_encode_segref(uint8_t out[PP__WIRE_SEGREF_LEN], uint32_t flags, uint64_t seg_id,
                            uint64_t size, uint64_t frame_len);
pp_status pp__wire_decode_segref(const uint8_t *body, size_t len, pp__wire_seg *s);

/* CRASH: a whole frame, written into out (cap bytes, at least PP__WIRE_HDR + 12) with no
 * allocation and no library call (it is built in a signal handler); text longer than fits
 * is cut. Returns the frame's length. A body longer than PP__WIRE_CRASH_MAX is malformed. */
#define PP__WIRE_CRASH_MAX (16u * 1024u)
size_t pp__wire_encode_crash(uint8_t *out, size_t cap, uint32_t code, const char *text,
                             size_t len);
pp_status pp__wire_decode_crash(const uint8_t *body, size_t len, uint32_t *code,
                                const char **text, size_t *text_len);

#endif /* PP_WIRE_H */
