/*
 * The wire protocol (wire.h): little-endian framing, encoders and validating decoders.
 *
 * Pure functions over memory buffers: no I/O, no globals, no OS header; the only side effect
 * is pp__wbuf_reserve()'s allocation (through pp__realloc). Integers are little-endian on
 * every host (a plain load or store where the host is little-endian, bytes elsewhere). A
 * decoder checks the whole body (every length against the bytes that remain, every count,
 * every status, the exact total) before it returns a view, so the pp__wire_next_*
 * functions that walk that view cannot fail.
 */
#include <string.h>

#include "pp_core.h"
#include "wire.h"

/* Fixed parts of the bodies. */
#define U32 4u
#define U64 8u
#define ITEM_FIXED (U32 + U32 + U64) /* status, code, data length */

/* ---- little-endian integers ---- */

/* On a little-endian host the wire's integers are the host's: one unaligned load or store
 * (memcpy, which compilers turn into a single move). Elsewhere, byte by byte. Compilers
 * do not merge the byte loops into one load (measured: a map item cost about 60
 * instructions more in decoding). */
#if (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) || defined(_WIN32)
#  define PP__WIRE_LE_HOST 1
#else
#  define PP__WIRE_LE_HOST 0
#endif

static void put_u32(uint8_t *p, uint32_t v)
{
#if PP__WIRE_LE_HOST
    memcpy(p, &v, sizeof v);
#else
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static void put_u64(uint8_t *p, uint64_t v)
{
#if PP__WIRE_LE_HOST
    memcpy(p, &v, sizeof v);
#else
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
#endif
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
#if PP__WIRE_LE_HOST
    memcpy(&v, p, sizeof v);
#else
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
#endif
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
#if PP__WIRE_LE_HOST
    memcpy(&v, p, sizeof v);
#else
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
#endif
    return v;
}

/* int32 <-> u32 two's complement, without implementation-defined conversions. */
static uint32_t from_i32(int32_t v)
{
    return (uint32_t)v;
}

static int32_t to_i32(uint32_t v)
{
    return v <= (uint32_t)INT32_MAX ? (int32_t)v : (int32_t)(v - 0x80000000u) + INT32_MIN;
}

/* ---- a bounds-checked read cursor, for the decoders ---- */

typedef struct rd {
    const uint8_t *p;
    size_t         left; /* bytes left */
} rd;

static bool rd_u32(rd *r, uint32_t *v)
{
    if (r->left < U32)
        return false;
    *v = get_u32(r->p);
    r->p += U32;
    r->left -= U32;
    return true;
}

static bool rd_u64(rd *r, uint64_t *v)
{
    if (r->left < U64)
        return false;
    *v = get_u64(r->p);
    r->p += U64;
    r->left -= U64;
    return true;
}

/* n bytes that must all be there (n <= left also means n fits in size_t). */
static bool rd_bytes(rd *r, uint64_t n, const uint8_t **out)
{
    if (n > (uint64_t)r->left)
        return false;
    *out = r->p;
    r->p += (size_t)n;
    r->left -= (size_t)n;
    return true;
}

/* s: a u32 length in [min, max] then that many bytes. */
static bool rd_s(rd *r, uint32_t min, uint32_t max, const uint8_t **s, size_t *len)
{
    uint32_t n;
    if (!rd_u32(r, &n) || n < min || n > max || !rd_bytes(r, n, s))
        return false;
    *len = n;
    return true;
}

/* b: a u64 length then that many bytes. */
static bool rd_b(rd *r, const uint8_t **b, size_t *len)
{
    uint64_t n;
    if (!rd_u64(r, &n) || !rd_bytes(r, n, b))
        return false;
    *len = (size_t)n;
    return true;
}

/* ---- a write cursor over space already reserved, for the encoders ---- */

static uint8_t *wr_u32(uint8_t *p, uint32_t v)
{
    put_u32(p, v);
    return p + U32;
}

static uint8_t *wr_u64(uint8_t *p, uint64_t v)
{
    put_u64(p, v);
    return p + U64;
}

static uint8_t *wr_bytes(uint8_t *p, const void *data, size_t len)
{
    if (len)
        memcpy(p, data, len);
    return p + len;
}

/* ---- headers ---- */

void pp__wire_put_hdr(uint8_t out[PP__WIRE_HDR], uint32_t type, uint32_t flags,
                      uint64_t body_len)
{
    put_u32(out, type);
    put_u32(out + 4, flags);
    put_u64(out + 8, body_len);
}

pp_status pp__wire_get_hdr(const uint8_t in[PP__WIRE_HDR], uint64_t max_body,
                           pp__wire_hdr *h)
{
    PP__CHECK_ARG(in != NULL && h != NULL);
    uint32_t type = get_u32(in), flags = get_u32(in + 4);
    uint64_t body_len = get_u64(in + 8);
    uint32_t allowed = 0;
    switch (type) {
    case PP__MSG_STOP:
        if (body_len != 0)
            return PP_EINVAL;
        break;
    case PP__MSG_READY:
        if (body_len != U64)
            return PP_EINVAL;
        break;
    case PP__MSG_EXITING:
        if (body_len != U32)
            return PP_EINVAL;
        break;
    case PP__MSG_SHM:
        if (body_len != 2 * U64)
            return PP_EINVAL;
        break;
    case PP__MSG_CRASH:
        if (body_len < U32 + U64 || body_len > PP__WIRE_CRASH_MAX)
            return PP_EINVAL;
        break;
    case PP__MSG_RESULT:
        allowed = PP__MSGF_LAST | PP__MSGF_MORE | PP__MSGF_SEG;
        if ((flags & (PP__MSGF_LAST | PP__MSGF_MORE)) == (PP__MSGF_LAST | PP__MSGF_MORE))
            return PP_EINVAL;
        if ((flags & PP__MSGF_SEG) && body_len != 3 * U64)
            return PP_EINVAL;
        break;
    case PP__MSG_SEG:
        if (body_len != 4 * U64)
            return PP_EINVAL;
        break;
    case PP__MSG_INIT:
    case PP__MSG_CALL:
    case PP__MSG_INITERR:
        break;
    default:
        return PP_EINVAL;
    }
    /* A body that could not be held in memory (size_t) is malformed too. */
    if ((flags & ~allowed) != 0 || body_len > max_body || body_len > (uint64_t)SIZE_MAX)
        return PP_EINVAL;
    h->type = type;
    h->flags = flags;
    h->body_len = body_len;
    return PP_OK;
}

/* ---- growable buffer ---- */

pp_status pp__wbuf_reserve(pp__wbuf *b, size_t extra)
{
    PP__CHECK_ARG(b != NULL);
    if (extra > SIZE_MAX - b->len)
        return PP_ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return PP_OK;
    size_t cap = b->cap <= SIZE_MAX / 2 ? b->cap * 2 : SIZE_MAX;
    if (cap < need)
        cap = need;
    uint8_t *p = pp__realloc(b->data, cap);
    if (!p)
        return PP_ENOMEM;
    b->data = p;
    b->cap = cap;
    return PP_OK;
}

/* Empties b and makes room for a whole frame of PP__WIRE_HDR + body bytes; returns where the
 * body starts (the header is written), or NULL on overflow / out of memory. */
static uint8_t *frame_start(pp__wbuf *b, uint32_t type, size_t body)
{
    b->len = 0;
    if (body > SIZE_MAX - PP__WIRE_HDR || pp__wbuf_reserve(b, PP__WIRE_HDR + body) != PP_OK)
        return NULL;
    pp__wire_put_hdr(b->data, type, 0, body);
    b->len = PP__WIRE_HDR + body;
    return b->data + PP__WIRE_HDR;
}

static bool item_status_ok(uint32_t s)
{
    return s == PP_OK || s == PP_ETASK || s == PP_ENOTASK || s == PP_ENOMEM;
}

static bool initerr_status_ok(uint32_t s)
{
    return s == PP_ETASK || s == PP_ENOTASK || s == PP_ENOMEM;
}

/* ---- CALL ---- */

size_t pp__wire_call_size(size_t name_len, const pp_buf *args, size_t n)
{
    if (name_len > UINT32_MAX || n > UINT32_MAX || (n && !args))
        return SIZE_MAX;
    size_t fixed = PP__WIRE_HDR + U64 + U32 + U32; /* header, work_id, name length, n */
    if (name_len > SIZE_MAX - fixed)
        return SIZE_MAX;
    size_t size = fixed + name_len;
    for (size_t i = 0; i < n; i++) {
        if (args[i].len > SIZE_MAX - U64 || size > SIZE_MAX - U64 - args[i].len)
            return SIZE_MAX;
        size += U64 + args[i].len;
    }
    return size;
}

void pp__wire_encode_call(uint8_t *out, uint64_t work_id, const char *name, size_t name_len,
                          const pp_buf *args, size_t n)
{
    /* One pass: the caller sized out with pp__wire_call_size(), which checked the counts
     * and lengths; the header's body length is what was written. */
    PP__ASSERT(out != NULL && (name != NULL || name_len == 0) && (args != NULL || n == 0));
    uint8_t *p = out + PP__WIRE_HDR;
    p = wr_u64(p, work_id);
    p = wr_u32(p, (uint32_t)name_len);
    p = wr_bytes(p, name, name_len);
    p = wr_u32(p, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        p = wr_u64(p, args[i].len);
        p = wr_bytes(p, args[i].data, args[i].len);
    }
    pp__wire_put_hdr(out, PP__MSG_CALL, 0, (uint64_t)(p - out) - PP__WIRE_HDR);
}

pp_status pp__wire_decode_call(const uint8_t *body, size_t len, pp__wire_call *c)
{
    PP__CHECK_ARG(c != NULL && (body != NULL || len == 0));
    rd r = {body, len};
    const uint8_t *name, *arg;
    size_t name_len, arg_len;
    uint64_t work_id;
    uint32_t n;
    if (!rd_u64(&r, &work_id) || !rd_s(&r, 1, PP__NAME_MAX, &name, &name_len) ||
        !rd_u32(&r, &n) || n == 0)
        return PP_EINVAL;
    const uint8_t *first = r.p;
    for (uint32_t i = 0; i < n; i++)
        if (!rd_b(&r, &arg, &arg_len))
            return PP_EINVAL;
    if (r.left != 0)
        return PP_EINVAL;
    c->work_id = work_id;
    c->name = (const char *)name;
    c->name_len = name_len;
    c->n = n;
    c->args.p = first;
    c->args.left = n;
    return PP_OK;
}

void pp__wire_next_arg(pp__wire_cur *cur, pp_buf *arg)
{
    PP__ASSERT(cur != NULL && arg != NULL && cur->left > 0);
    uint64_t len = get_u64(cur->p);
    arg->data = cur->p + U64;
    arg->len = (size_t)len;
    cur->p += U64 + (size_t)len;
    cur->left--;
}

/* ---- RESULT ---- */

pp_status pp__wire_result_begin(pp__wbuf *b, uint64_t work_id, uint32_t n)
{
    PP__CHECK_ARG(b != NULL);
    uint8_t *p = frame_start(b, PP__MSG_RESULT, U64 + U32);
    if (!p)
        return PP_ENOMEM;
    p = wr_u64(p, work_id);
    wr_u32(p, n);
    return PP_OK;
}

pp_status pp__wire_result_item_head(pp__wbuf *b, pp_status status, int32_t code, size_t len)
{
    PP__CHECK_ARG(b != NULL && b->len >= PP__WIRE_HDR && item_status_ok((uint32_t)status));
    if (pp__wbuf_reserve(b, ITEM_FIXED) != PP_OK)
        return PP_ENOMEM;
    uint8_t *p = b->data + b->len;
    p = wr_u32(p, (uint32_t)status);
    p = wr_u32(p, from_i32(code));
    wr_u64(p, len);
    b->len += ITEM_FIXED;
    return PP_OK;
}

pp_status pp__wire_result_item(pp__wbuf *b, pp_status status, int32_t code, const void *data,
                               size_t len)
{
    PP__CHECK_ARG(b != NULL && b->len >= PP__WIRE_HDR && item_status_ok((uint32_t)status) &&
                  (data != NULL || len == 0));
    if (len > SIZE_MAX - ITEM_FIXED || pp__wbuf_reserve(b, ITEM_FIXED + len) != PP_OK)
        return PP_ENOMEM;
    pp_status st = pp__wire_result_item_head(b, status, code, len);
    PP__ASSERT(st == PP_OK); /* reserved above */
    (void)st;
    wr_bytes(b->data + b->len, data, len);
    b->len += len;
    return PP_OK;
}

void pp__wire_result_end(pp__wbuf *b, uint32_t flags)
{
    pp__wire_result_end_tail(b, flags, 0);
}

void pp__wire_result_end_tail(pp__wbuf *b, uint32_t flags, size_t len)
{
    PP__ASSERT(b != NULL && b->len >= PP__WIRE_HDR);
    pp__wire_put_hdr(b->data, PP__MSG_RESULT, flags, b->len - PP__WIRE_HDR + (uint64_t)len);
}

uint8_t *pp__wire_item_put(uint8_t *p, pp_status status, int32_t code, const void *data,
                           size_t len)
{
    p = wr_u32(p, (uint32_t)status);
    p = wr_u32(p, from_i32(code));
    p = wr_u64(p, len);
    return wr_bytes(p, data, len);
}

void pp__wire_result_set_n(pp__wbuf *b, uint32_t n)
{
    PP__ASSERT(b != NULL && b->len >= PP__WIRE_HDR + U64 + U32);
    put_u32(b->data + PP__WIRE_HDR + U64, n);
}

pp_status pp__wire_assembled_begin(pp__wbuf *b)
{
    PP__CHECK_ARG(b != NULL);
    b->len = 0;
    if (pp__wbuf_reserve(b, U64 + U32) != PP_OK)
        return PP_ENOMEM;
    put_u64(b->data, PP__WIRE_ASSEMBLED);
    put_u32(b->data + U64, 0);
    b->len = U64 + U32;
    return PP_OK;
}

pp_status pp__wire_assembled_item(pp__wbuf *b, pp_status status, int32_t code, long long pid,
                                  const void *data, size_t len)
{
    PP__CHECK_ARG(b != NULL && b->len >= U64 + U32 && (data != NULL || len == 0));
    size_t extra = status == PP_OK ? 0 : U64;
    if (len > SIZE_MAX - ITEM_FIXED - extra ||
        pp__wbuf_reserve(b, ITEM_FIXED + extra + len) != PP_OK)
        return PP_ENOMEM;
    uint8_t *p = b->data + b->len;
    p = wr_u32(p, (uint32_t)status);
    p = wr_u32(p, from_i32(code));
    p = wr_u64(p, extra + len);
    if (extra)
        p = wr_u64(p, (uint64_t)pid);
    wr_bytes(p, data, len);
    b->len += ITEM_FIXED + extra + len;
    return PP_OK;
}

void pp__wire_assembled_end(pp__wbuf *b, uint32_t n)
{
    PP__ASSERT(b != NULL && b->len >= U64 + U32);
    put_u32(b->data + U64, n);
}

/* Reads one RESULT / INITERR item: status, code, data. */
static bool rd_item(rd *r, bool (*status_ok)(uint32_t), pp__wire_item *it)
{
    uint32_t status, code;
    const uint8_t *data;
    size_t len;
    if (!rd_u32(r, &status) || !status_ok(status) || !rd_u32(r, &code) ||
        !rd_b(r, &data, &len))
        return false;
    if (it) {
        it->status = (pp_status)status;
        it->code = to_i32(code);
        it->data = data;
        it->len = len;
    }
    return true;
}

pp_status pp__wire_decode_result(const uint8_t *body, size_t len, pp__wire_result *res)
{
    PP__CHECK_ARG(res != NULL && (body != NULL || len == 0));
    rd r = {body, len};
    uint64_t work_id;
    uint32_t n;
    if (!rd_u64(&r, &work_id) || !rd_u32(&r, &n) || n == 0)
        return PP_EINVAL;
    const uint8_t *first = r.p;
    for (uint32_t i = 0; i < n; i++)
        if (!rd_item(&r, item_status_ok, NULL))
            return PP_EINVAL;
    if (r.left != 0)
        return PP_EINVAL;
    res->work_id = work_id;
    res->n = n;
    res->items.p = first;
    res->items.left = n;
    return PP_OK;
}

long long pp__wire_item_pid(pp__wire_item *it)
{
    if (it->len < U64)
        return 0;
    long long pid = (long long)get_u64(it->data);
    it->data = (const uint8_t *)it->data + U64;
    it->len -= U64;
    return pid;
}

pp_status pp__wire_check_items(const uint8_t *p, size_t len, uint32_t n, pp__wire_cur *cur)
{
    PP__CHECK_ARG(cur != NULL && (p != NULL || len == 0));
    rd r = {p, len};
    for (uint32_t i = 0; i < n; i++)
        if (!rd_item(&r, item_status_ok, NULL))
            return PP_EINVAL;
    if (r.left != 0)
        return PP_EINVAL;
    cur->p = p;
    cur->left = n;
    return PP_OK;
}

pp_status pp__wire_view_result(const uint8_t *body, size_t len, pp__wire_result *res)
{
    PP__CHECK_ARG(res != NULL && body != NULL && len >= U64 + U32);
    res->work_id = get_u64(body);
    res->n = get_u32(body + U64);
    res->items.p = body + U64 + U32;
    res->items.left = res->n;
    return res->n ? PP_OK : PP_EINVAL;
}

void pp__wire_next_item(pp__wire_cur *cur, pp__wire_item *it)
{
    PP__ASSERT(cur != NULL && it != NULL && cur->left > 0);
    uint64_t len = get_u64(cur->p + U32 + U32);
    it->status = (pp_status)get_u32(cur->p);
    it->code = to_i32(get_u32(cur->p + U32));
    it->data = cur->p + ITEM_FIXED;
    it->len = (size_t)len;
    cur->p += ITEM_FIXED + (size_t)len;
    cur->left--;
}

/* ---- INIT ---- */

pp_status pp__wire_encode_init(pp__wbuf *b, uint32_t max_tasks, const char *initializer,
                               const void *initargs, size_t initargs_len)
{
    size_t name_len = initializer ? strlen(initializer) : 0;
    PP__CHECK_ARG(b != NULL && name_len <= PP__NAME_MAX &&
                  (initargs != NULL || initargs_len == 0));
    size_t fixed = U32 + U32 + U64 + name_len;
    if (initargs_len > SIZE_MAX - fixed)
        return PP_ENOMEM;
    uint8_t *p = frame_start(b, PP__MSG_INIT, fixed + initargs_len);
    if (!p)
        return PP_ENOMEM;
    p = wr_u32(p, max_tasks);
    p = wr_u32(p, (uint32_t)name_len);
    p = wr_bytes(p, initializer, name_len);
    p = wr_u64(p, initargs_len);
    wr_bytes(p, initargs, initargs_len);
    return PP_OK;
}

pp_status pp__wire_decode_init(const uint8_t *body, size_t len, pp__wire_init *in)
{
    PP__CHECK_ARG(in != NULL && (body != NULL || len == 0));
    rd r = {body, len};
    uint32_t max_tasks;
    const uint8_t *name, *args;
    size_t name_len, args_len;
    if (!rd_u32(&r, &max_tasks) || !rd_s(&r, 0, PP__NAME_MAX, &name, &name_len) ||
        !rd_b(&r, &args, &args_len) || r.left != 0)
        return PP_EINVAL;
    in->max_tasks = max_tasks;
    in->name = (const char *)name;
    in->name_len = name_len;
    in->initargs.data = args;
    in->initargs.len = args_len;
    return PP_OK;
}

/* ---- READY ---- */

pp_status pp__wire_encode_ready(pp__wbuf *b, uint64_t pid)
{
    PP__CHECK_ARG(b != NULL);
    uint8_t *p = frame_start(b, PP__MSG_READY, U64);
    if (!p)
        return PP_ENOMEM;
    wr_u64(p, pid);
    return PP_OK;
}

pp_status pp__wire_decode_ready(const uint8_t *body, size_t len, uint64_t *pid)
{
    PP__CHECK_ARG(pid != NULL && (body != NULL || len == 0));
    if (len != U64)
        return PP_EINVAL;
    *pid = get_u64(body);
    return PP_OK;
}

/* ---- EXITING ---- */

void pp__wire_encode_exiting(uint8_t out[PP__WIRE_EXITING_LEN], int32_t code)
{
    pp__wire_put_hdr(out, PP__MSG_EXITING, 0, U32);
    wr_u32(out + PP__WIRE_HDR, from_i32(code));
}

pp_status pp__wire_decode_exiting(const uint8_t *body, size_t len, int32_t *code)
{
    PP__CHECK_ARG(code != NULL && (body != NULL || len == 0));
    if (len != U32)
        return PP_EINVAL;
    *code = to_i32(get_u32(body));
    return PP_OK;
}

/* ---- SHM ---- */

void pp__wire_encode_shm(uint8_t out[PP__WIRE_SHM_LEN], uint64_t token, uint64_t size)
{
    pp__wire_put_hdr(out, PP__MSG_SHM, 0, 2 * U64);
    wr_u64(out + PP__WIRE_HDR, token);
    wr_u64(out + PP__WIRE_HDR + U64, size);
}

pp_status pp__wire_decode_shm(const uint8_t *body, size_t len, uint64_t *token, uint64_t *size)
{
    PP__CHECK_ARG(token != NULL && size != NULL && (body != NULL || len == 0));
    if (len != 2 * U64)
        return PP_EINVAL;
    *token = get_u64(body);
    *size = get_u64(body + U64);
    return PP_OK;
}

/* ---- SEG and a RESULT in a segment ---- */

void pp__wire_encode_seg(uint8_t out[PP__WIRE_SEG_LEN], uint64_t token, uint64_t size,
                         uint64_t seg_id, uint64_t frame_len)
{
    pp__wire_put_hdr(out, PP__MSG_SEG, 0, 4 * U64);
    wr_u64(out + PP__WIRE_HDR, token);
    wr_u64(out + PP__WIRE_HDR + U64, size);
    wr_u64(out + PP__WIRE_HDR + 2 * U64, seg_id);
    wr_u64(out + PP__WIRE_HDR + 3 * U64, frame_len);
}

pp_status pp__wire_decode_seg(const uint8_t *body, size_t len, pp__wire_seg *s)
{
    PP__CHECK_ARG(s != NULL && (body != NULL || len == 0));
    if (len != 4 * U64)
        return PP_EINVAL;
    s->token = get_u64(body);
    s->size = get_u64(body + U64);
    s->seg_id = get_u64(body + 2 * U64);
    s->frame_len = get_u64(body + 3 * U64);
    if (s->seg_id == 0 || s->size == 0 || s->frame_len > s->size ||
        (s->frame_len != 0 && s->frame_len < PP__WIRE_HDR))
        return PP_EINVAL;
    return PP_OK;
}

void pp__wire_encode_segref(uint8_t out[PP__WIRE_SEGREF_LEN], uint32_t flags, uint64_t seg_id,
                            uint64_t size, uint64_t frame_len)
{
    pp__wire_put_hdr(out, PP__MSG_RESULT, flags | PP__MSGF_SEG, 3 * U64);
    wr_u64(out + PP__WIRE_HDR, seg_id);
    wr_u64(out + PP__WIRE_HDR + U64, size);
    wr_u64(out + PP__WIRE_HDR + 2 * U64, frame_len);
}

pp_status pp__wire_decode_segref(const uint8_t *body, size_t len, pp__wire_seg *s)
{
    PP__CHECK_ARG(s != NULL && (body != NULL || len == 0));
    if (len != 3 * U64)
        return PP_EINVAL;
    s->token = 0;
    s->seg_id = get_u64(body);
    s->size = get_u64(body + U64);
    s->frame_len = get_u64(body + 2 * U64);
    if (s->seg_id == 0 || s->frame_len < PP__WIRE_HDR || s->frame_len > s->size)
        return PP_EINVAL;
    return PP_OK;
}

/* ---- CRASH ---- */

size_t pp__wire_encode_crash(uint8_t *out, size_t cap, uint32_t code, const char *text,
                             size_t len)
{
    /* In a signal handler: plain loops, no memcpy (not async-signal-safe by POSIX). */
    size_t fixed = PP__WIRE_HDR + U32 + U64;
    size_t room = cap > fixed ? cap - fixed : 0;
    if (room > PP__WIRE_CRASH_MAX - U32 - U64)
        room = PP__WIRE_CRASH_MAX - U32 - U64;
    if (!text || len > room)
        len = text ? room : 0;
    if (!out || cap < fixed)
        return 0;
    pp__wire_put_hdr(out, PP__MSG_CRASH, 0, U32 + U64 + (uint64_t)len);
    uint8_t *p = wr_u32(out + PP__WIRE_HDR, code);
    p = wr_u64(p, len);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)text[i];
    return fixed + len;
}

pp_status pp__wire_decode_crash(const uint8_t *body, size_t len, uint32_t *code,
                                const char **text, size_t *text_len)
{
    PP__CHECK_ARG(code != NULL && text != NULL && text_len != NULL &&
                  (body != NULL || len == 0));
    rd r = {body, len};
    const uint8_t *t;
    size_t n;
    if (len > PP__WIRE_CRASH_MAX || !rd_u32(&r, code) || !rd_b(&r, &t, &n) || r.left != 0)
        return PP_EINVAL;
    *text = (const char *)t;
    *text_len = n;
    return PP_OK;
}

/* ---- INITERR ---- */

pp_status pp__wire_encode_initerr(pp__wbuf *b, pp_status status, int32_t code,
                                  const char *msg, size_t msg_len)
{
    PP__CHECK_ARG(b != NULL && initerr_status_ok((uint32_t)status) &&
                  (msg != NULL || msg_len == 0));
    if (msg_len > SIZE_MAX - ITEM_FIXED)
        return PP_ENOMEM;
    uint8_t *p = frame_start(b, PP__MSG_INITERR, ITEM_FIXED + msg_len);
    if (!p)
        return PP_ENOMEM;
    p = wr_u32(p, (uint32_t)status);
    p = wr_u32(p, from_i32(code));
    p = wr_u64(p, msg_len);
    wr_bytes(p, msg, msg_len);
    return PP_OK;
}

pp_status pp__wire_decode_initerr(const uint8_t *body, size_t len, pp__wire_item *it)
{
    PP__CHECK_ARG(it != NULL && (body != NULL || len == 0));
    rd r = {body, len};
    pp__wire_item tmp;
    if (!rd_item(&r, initerr_status_ok, &tmp) || r.left != 0)
        return PP_EINVAL;
    *it = tmp;
    return PP_OK;
}

/* ---- STOP ---- */

pp_status pp__wire_encode_stop(pp__wbuf *b)
{
    PP__CHECK_ARG(b != NULL);
    return frame_start(b, PP__MSG_STOP, 0) ? PP_OK : PP_ENOMEM;
}
