/*
 * The wire protocol (src/core/wire.h): codec tests (round trips, the exact little-endian
 * layout, rejection of every truncation and of each malformed field, size overflow), then
 * large payloads through the executor in both directions at once.
 *
 * Frames under test are decoded from heap copies of exactly their own size, so that an
 * over-read shows up under valgrind or ASan.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_pools.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

#include "pp_test.h"
#include "pp_core.h"
#include "ring.h"
#include "spin.h"
#include "wire.h"

#define MIB ((size_t)1 << 20)
#define BIG (64 * MIB)
#define BIG_TIMEOUT_MS 120000L

/* ---- helpers ---- */

/* An exact-size heap copy of len bytes (at least one byte allocated). */
static uint8_t *dup_bytes(const void *p, size_t len)
{
    uint8_t *d = malloc(len ? len : 1);
    CU_ASSERT_FATAL(d != NULL);
    if (len)
        memcpy(d, p, len);
    return d;
}

/* A hand-written frame builder, independent of the encoders, to pin the layout. */
typedef struct tb {
    uint8_t b[1024];
    size_t  len;
} tb;

static void tb_u32(tb *t, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        t->b[t->len++] = (uint8_t)(v >> (8 * i));
}

static void tb_u64(tb *t, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        t->b[t->len++] = (uint8_t)(v >> (8 * i));
}

static void tb_bytes(tb *t, const void *p, size_t n)
{
    memcpy(t->b + t->len, p, n);
    t->len += n;
}

static void tb_hdr(tb *t, uint32_t type, uint32_t flags, uint64_t body_len)
{
    t->len = 0;
    tb_u32(t, type);
    tb_u32(t, flags);
    tb_u64(t, body_len);
}

/* Sets the header's body_len to what follows it. */
static void tb_fix_len(tb *t)
{
    for (int i = 0; i < 8; i++)
        t->b[8 + i] = (uint8_t)((uint64_t)(t->len - PP__WIRE_HDR) >> (8 * i));
}

/* A length (u64) and then n bytes of p: a CALL argument, or the tail of a RESULT item (the
 * length may say more or less than n: the malformed frames). */
static void tb_len_bytes(tb *t, uint64_t len, const void *p, size_t n)
{
    tb_u64(t, len);
    tb_bytes(t, p, n);
}

/* A CALL frame's start: header, id 1 and the name "echo" (then its argument count and
 * arguments follow). */
static void tb_call_echo(tb *t)
{
    tb_hdr(t, PP__MSG_CALL, 0, 0);
    tb_u64(t, 1);
    tb_u32(t, 4);
    tb_bytes(t, "echo", 4);
}

/* A RESULT frame's start: header, id 1 and n, the item count. */
static void tb_result(tb *t, uint32_t n)
{
    tb_hdr(t, PP__MSG_RESULT, 0, 0);
    tb_u64(t, 1);
    tb_u32(t, n);
}

/* A RESULT item: status, code, then tb_len_bytes(len, p, n). */
static void tb_item(tb *t, uint32_t status, uint32_t code, uint64_t len, const void *p, size_t n)
{
    tb_u32(t, status);
    tb_u32(t, code);
    tb_len_bytes(t, len, p, n);
}

/* Sets t's body_len to what follows the header and asserts decode_frame's status on it (a
 * macro: a failure names the test's line). */
#define TB_EXPECT(expected, t)                                                                 \
    do {                                                                                       \
        tb_fix_len(t);                                                                         \
        PP_ASSERT_ST(expected, decode_frame((t)->b, (t)->len));                                \
    } while (0)

/* Decodes a whole frame as a receiver would: header, exact body length, then the decoder of
 * its type. On a heap copy of exactly len bytes. */
static pp_status decode_frame(const uint8_t *frame, size_t len)
{
    if (len < PP__WIRE_HDR)
        return PP_EINVAL;
    uint8_t *f = dup_bytes(frame, len);
    pp__wire_hdr h;
    pp_status st = pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h);
    if (st == PP_OK && h.body_len != len - PP__WIRE_HDR)
        st = PP_EINVAL;
    const uint8_t *body = f + PP__WIRE_HDR;
    size_t n = len - PP__WIRE_HDR;
    if (st == PP_OK) {
        switch (h.type) {
        case PP__MSG_INIT: {
            pp__wire_init in;
            st = pp__wire_decode_init(body, n, &in);
            break;
        }
        case PP__MSG_CALL: {
            pp__wire_call c;
            st = pp__wire_decode_call(body, n, &c);
            if (st == PP_OK) { /* walking the view must stay inside the body */
                pp_buf arg;
                for (uint32_t i = 0; i < c.n; i++)
                    pp__wire_next_arg(&c.args, &arg);
            }
            break;
        }
        case PP__MSG_RESULT: {
            pp__wire_result r;
            st = pp__wire_decode_result(body, n, &r);
            if (st == PP_OK) {
                pp__wire_item it;
                for (uint32_t i = 0; i < r.n; i++)
                    pp__wire_next_item(&r.items, &it);
            }
            break;
        }
        case PP__MSG_READY: {
            uint64_t pid;
            st = pp__wire_decode_ready(body, n, &pid);
            break;
        }
        case PP__MSG_INITERR: {
            pp__wire_item it;
            st = pp__wire_decode_initerr(body, n, &it);
            break;
        }
        case PP__MSG_STOP:
            break;
        default:
            st = PP_EINVAL;
        }
    }
    free(f);
    return st;
}

/* Builds and returns (malloc'd) a small valid CALL frame: 3 arguments, one of them empty. */
static uint8_t *small_call(size_t *len)
{
    const pp_buf args[3] = {{"hello", 5}, {NULL, 0}, {"\x00\xff", 2}};
    *len = pp__wire_call_size(4, args, 3);
    uint8_t *f = malloc(*len);
    CU_ASSERT_FATAL(f != NULL);
    pp__wire_encode_call(f, 42, "task", 4, args, 3);
    return f;
}

/* ---- headers and exact bytes ---- */

static void test_header_bytes(void)
{
    uint8_t h[PP__WIRE_HDR];
    pp__wire_put_hdr(h, 0x50500006u, 0x01020304u, 0x1122334455667788ull);
    static const uint8_t want[PP__WIRE_HDR] = {0x06, 0x00, 0x50, 0x50, 0x04, 0x03, 0x02, 0x01,
                                               0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    CU_ASSERT_EQUAL(memcmp(h, want, sizeof want), 0);

    pp__wire_hdr got;
    pp__wire_put_hdr(h, PP__MSG_RESULT, PP__MSGF_LAST, 12345);
    PP_ASSERT_OK(pp__wire_get_hdr(h, PP__WIRE_MAX_BODY, &got));
    CU_ASSERT_EQUAL(got.type, PP__MSG_RESULT);
    CU_ASSERT_EQUAL(got.flags, PP__MSGF_LAST);
    CU_ASSERT_EQUAL(got.body_len, 12345);

    const uint32_t types[] = {PP__MSG_INIT, PP__MSG_CALL, PP__MSG_INITERR, PP__MSG_RESULT};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        pp__wire_put_hdr(h, types[i], 0, 100);
        PP_ASSERT_OK(pp__wire_get_hdr(h, 100, &got)); /* body_len == max_body is fine */
        CU_ASSERT_EQUAL(got.type, types[i]);
        CU_ASSERT_EQUAL(got.flags, 0);
        CU_ASSERT_EQUAL(got.body_len, 100);
        pp__wire_put_hdr(h, types[i], 0, 0);
        PP_ASSERT_OK(pp__wire_get_hdr(h, PP__WIRE_MAX_BODY, &got));
    }
    pp__wire_put_hdr(h, PP__MSG_STOP, 0, 0);
    PP_ASSERT_OK(pp__wire_get_hdr(h, PP__WIRE_MAX_BODY, &got));
    pp__wire_put_hdr(h, PP__MSG_READY, 0, 8);
    PP_ASSERT_OK(pp__wire_get_hdr(h, PP__WIRE_MAX_BODY, &got));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_get_hdr(NULL, PP__WIRE_MAX_BODY, &got));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_get_hdr(h, PP__WIRE_MAX_BODY, NULL));
}

/* A known CALL frame, byte for byte: pins the little-endian layout. */
static void test_call_exact_bytes(void)
{
    static const uint8_t want[] = {
        0x02, 0x00, 0x50, 0x50,                         /* type CALL */
        0x00, 0x00, 0x00, 0x00,                         /* flags */
        0x1d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* body_len 29 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* work_id */
        0x02, 0x00, 0x00, 0x00, 'a',  'b',              /* name */
        0x01, 0x00, 0x00, 0x00,                         /* n */
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'x', 'y', 'z'};
    const pp_buf arg = {"xyz", 3};
    size_t size = pp__wire_call_size(2, &arg, 1);
    CU_ASSERT_EQUAL_FATAL(size, sizeof want);
    uint8_t *f = malloc(size);
    CU_ASSERT_FATAL(f != NULL);
    pp__wire_encode_call(f, 0x0102030405060708ull, "ab", 2, &arg, 1);
    CU_ASSERT_EQUAL(memcmp(f, want, sizeof want), 0);
    free(f);
}

/* A known RESULT frame, byte for byte: a negative code, the LAST flag. */
static void test_result_exact_bytes(void)
{
    static const uint8_t want[] = {
        0x06, 0x00, 0x50, 0x50,                         /* type RESULT */
        0x01, 0x00, 0x00, 0x00,                         /* flags LAST */
        0x1d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* body_len 29 */
        0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* work_id */
        0x01, 0x00, 0x00, 0x00,                         /* n */
        0x08, 0x00, 0x00, 0x00,                         /* status PP_ETASK */
        0xfe, 0xff, 0xff, 0xff,                         /* code -2 */
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'e'};
    CU_ASSERT_EQUAL(PP_ETASK, 8);
    pp__wbuf b = {NULL, 0, 0};
    PP_ASSERT_OK_FATAL(pp__wire_result_begin(&b, 0x11, 1));
    PP_ASSERT_OK_FATAL(pp__wire_result_item(&b, PP_ETASK, -2, "e", 1));
    pp__wire_result_end(&b, PP__MSGF_LAST);
    CU_ASSERT_EQUAL(b.len, sizeof want);
    CU_ASSERT(b.len == sizeof want && memcmp(b.data, want, sizeof want) == 0);
    pp__free(b.data);
}

/* A map chunk's pieces: a RESULT built in place with item_put and set_n is the bytes
 * result_item builds; check_items accepts exactly n items and nothing truncated; a body the
 * manager assembles has work id 0 and the pid in front of each failed item's text. */
static void test_chunk_pieces(void)
{
    pp__wbuf a = {NULL, 0, 0}, b = {NULL, 0, 0};
    PP_ASSERT_OK_FATAL(pp__wire_result_begin(&a, 0x11, 0));
    PP_ASSERT_OK_FATAL(pp__wbuf_reserve(&a, 2 * PP__WIRE_ITEM_FIXED + 4));
    uint8_t *end = pp__wire_item_put(a.data + a.len, PP_OK, 0, "abc", 3);
    end = pp__wire_item_put(end, PP_ETASK, -2, "e", 1);
    a.len = (size_t)(end - a.data);
    pp__wire_result_set_n(&a, 2);
    pp__wire_result_end(&a, PP__MSGF_MORE);
    PP_ASSERT_OK_FATAL(pp__wire_result_begin(&b, 0x11, 2));
    PP_ASSERT_OK_FATAL(pp__wire_result_item(&b, PP_OK, 0, "abc", 3));
    PP_ASSERT_OK_FATAL(pp__wire_result_item(&b, PP_ETASK, -2, "e", 1));
    pp__wire_result_end(&b, PP__MSGF_MORE);
    CU_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    pp__wire_hdr h;
    PP_ASSERT_OK(pp__wire_get_hdr(a.data, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.flags, PP__MSGF_MORE);

    const uint8_t *items = a.data + PP__WIRE_HDR + 12;
    size_t len = a.len - PP__WIRE_HDR - 12;
    pp__wire_cur cur;
    PP_ASSERT_OK(pp__wire_check_items(items, len, 2, &cur));
    CU_ASSERT_EQUAL(cur.left, 2);
    PP_ASSERT_ST(PP_EINVAL, pp__wire_check_items(items, len, 1, &cur)); /* bytes left */
    PP_ASSERT_ST(PP_EINVAL, pp__wire_check_items(items, len, 3, &cur)); /* one missing */
    for (size_t cut = 0; cut < len; cut++)
        PP_ASSERT_ST(PP_EINVAL, pp__wire_check_items(items, cut, 2, &cur));
    PP_ASSERT_OK(pp__wire_check_items(NULL, 0, 0, &cur));

    /* assembled: an OK item as it is, a failed one with its worker's pid */
    pp__wbuf m = {NULL, 0, 0};
    PP_ASSERT_OK_FATAL(pp__wire_assembled_begin(&m));
    PP_ASSERT_OK_FATAL(pp__wire_assembled_item(&m, PP_OK, 0, 41, "abc", 3));
    PP_ASSERT_OK_FATAL(pp__wire_assembled_item(&m, PP_EWORKERDIED, -9, 4242, "died", 4));
    pp__wire_assembled_end(&m, 2);
    pp__wire_result r;
    PP_ASSERT_OK_FATAL(pp__wire_view_result(m.data, m.len, &r));
    CU_ASSERT_EQUAL(r.work_id, PP__WIRE_ASSEMBLED);
    CU_ASSERT_EQUAL(r.n, 2);
    pp__wire_item x;
    pp__wire_next_item(&r.items, &x);
    CU_ASSERT(x.status == PP_OK && x.len == 3 && memcmp(x.data, "abc", 3) == 0);
    pp__wire_next_item(&r.items, &x);
    CU_ASSERT(x.status == PP_EWORKERDIED && x.code == -9);
    CU_ASSERT_EQUAL(pp__wire_item_pid(&x), 4242);
    CU_ASSERT(x.len == 4 && memcmp(x.data, "died", 4) == 0);
    pp__wire_item shortx = {PP_ETASK, 0, "abc", 3};
    CU_ASSERT_EQUAL(pp__wire_item_pid(&shortx), 0); /* too short to hold one */
    pp__free(a.data);
    pp__free(b.data);
    pp__free(m.data);
}

/* A RESULT whose last item's data is sent after the frame (item_head + end_tail, the
 * worker's way with a large result) is the same bytes as one built with the data inside. */
static void test_result_split_bytes(void)
{
    static const char data[] = "the result bytes";
    const size_t len = sizeof data - 1;
    pp__wbuf whole = {NULL, 0, 0}, head = {NULL, 0, 0};
    PP_ASSERT_OK_FATAL(pp__wire_result_begin(&whole, 0x42, 1));
    PP_ASSERT_OK_FATAL(pp__wire_result_item(&whole, PP_OK, 0, data, len));
    pp__wire_result_end(&whole, PP__MSGF_LAST);
    PP_ASSERT_OK_FATAL(pp__wire_result_begin(&head, 0x42, 1));
    PP_ASSERT_OK_FATAL(pp__wire_result_item_head(&head, PP_OK, 0, len));
    pp__wire_result_end_tail(&head, PP__MSGF_LAST, len);
    CU_ASSERT_EQUAL_FATAL(head.len + len, whole.len);
    CU_ASSERT(memcmp(head.data, whole.data, head.len) == 0);
    CU_ASSERT(memcmp(whole.data + head.len, data, len) == 0);
    /* and the joined bytes decode to the item */
    uint8_t *f = dup_bytes(whole.data, whole.len);
    pp__wire_hdr h;
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
    pp__wire_result r;
    PP_ASSERT_OK_FATAL(pp__wire_decode_result(f + PP__WIRE_HDR, (size_t)h.body_len, &r));
    pp__wire_item it;
    pp__wire_next_item(&r.items, &it);
    CU_ASSERT(it.status == PP_OK && it.len == len && memcmp(it.data, data, len) == 0);
    free(f);
    pp__free(whole.data);
    pp__free(head.data);
}

/* EXITING: the exact bytes, the round trip, and only a 4-byte body accepted. */
static void test_exiting_bytes(void)
{
    static const uint8_t want[] = {
        0x07, 0x00, 0x50, 0x50,                         /* type EXITING */
        0x00, 0x00, 0x00, 0x00,                         /* flags */
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* body_len 4 */
        0xfd, 0xff, 0xff, 0xff};                        /* code -3 */
    uint8_t f[PP__WIRE_EXITING_LEN];
    CU_ASSERT_EQUAL_FATAL(sizeof f, sizeof want);
    pp__wire_encode_exiting(f, -3);
    CU_ASSERT(memcmp(f, want, sizeof want) == 0);
    static const int32_t codes[] = {0, 3, 255, -1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        pp__wire_encode_exiting(f, codes[i]);
        pp__wire_hdr h;
        PP_ASSERT_OK_FATAL(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
        CU_ASSERT(h.type == PP__MSG_EXITING && h.flags == 0 && h.body_len == 4);
        uint8_t *body = dup_bytes(f + PP__WIRE_HDR, 4);
        int32_t code = 0;
        PP_ASSERT_OK(pp__wire_decode_exiting(body, 4, &code));
        CU_ASSERT_EQUAL(code, codes[i]);
        CU_ASSERT_EQUAL(pp__wire_decode_exiting(body, 3, &code), PP_EINVAL);
        free(body);
    }
    uint8_t bad[PP__WIRE_HDR];
    pp__wire_hdr h;
    for (uint64_t len = 0; len <= 8; len++) {
        pp__wire_put_hdr(bad, PP__MSG_EXITING, 0, len);
        CU_ASSERT_EQUAL(pp__wire_get_hdr(bad, PP__WIRE_MAX_BODY, &h) == PP_OK, len == 4);
    }
    pp__wire_put_hdr(bad, PP__MSG_EXITING, PP__MSGF_LAST, 4); /* no flag allowed */
    CU_ASSERT_EQUAL(pp__wire_get_hdr(bad, PP__WIRE_MAX_BODY, &h), PP_EINVAL);
}

/* CRASH: the exact bytes, the round trip, a text cut to the buffer, and the body lengths
 * accepted (12 .. PP__WIRE_CRASH_MAX, the text exactly as long as it says). */
static void test_crash_bytes(void)
{
    static const uint8_t want[] = {
        0x09, 0x00, 0x50, 0x50,                         /* type CRASH */
        0x00, 0x00, 0x00, 0x00,                         /* flags */
        0x0e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* body_len 14 */
        0x0b, 0x00, 0x00, 0x00,                         /* code 11 */
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* text length 2 */
        '#', '0'};
    uint8_t f[64];
    CU_ASSERT_EQUAL_FATAL(pp__wire_encode_crash(f, sizeof f, 11, "#0", 2), sizeof want);
    CU_ASSERT(memcmp(f, want, sizeof want) == 0);
    pp__wire_hdr h;
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT(h.type == PP__MSG_CRASH && h.flags == 0 && h.body_len == 14);
    uint8_t *body = dup_bytes(f + PP__WIRE_HDR, 14);
    uint32_t code = 0;
    const char *text = NULL;
    size_t tl = 0;
    PP_ASSERT_OK(pp__wire_decode_crash(body, 14, &code, &text, &tl));
    CU_ASSERT(code == 11 && tl == 2 && memcmp(text, "#0", 2) == 0);
    for (size_t len = 0; len < 14; len++)
        CU_ASSERT_EQUAL(pp__wire_decode_crash(body, len, &code, &text, &tl), PP_EINVAL);
    free(body);

    /* a text longer than the buffer is cut; an exception code keeps all its bits */
    char big[100];
    memset(big, 'x', sizeof big);
    size_t n = pp__wire_encode_crash(f, sizeof f, 0xC0000005u, big, sizeof big);
    CU_ASSERT_EQUAL_FATAL(n, sizeof f);
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.body_len, sizeof f - PP__WIRE_HDR);
    PP_ASSERT_OK(pp__wire_decode_crash(f + PP__WIRE_HDR, sizeof f - PP__WIRE_HDR, &code, &text,
                                       &tl));
    CU_ASSERT(code == 0xC0000005u && tl == sizeof f - PP__WIRE_HDR - 12);
    CU_ASSERT_EQUAL(pp__wire_encode_crash(f, 27, 6, "ab", 2), 0); /* no room for the fields */
    CU_ASSERT_EQUAL(pp__wire_encode_crash(f, 28, 6, NULL, 0), 28);

    uint8_t bad[PP__WIRE_HDR];
    static const uint64_t lens[] = {0, 4, 11, 12, 13, PP__WIRE_CRASH_MAX, PP__WIRE_CRASH_MAX + 1,
                                    UINT64_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        pp__wire_put_hdr(bad, PP__MSG_CRASH, 0, lens[i]);
        CU_ASSERT_EQUAL(pp__wire_get_hdr(bad, PP__WIRE_MAX_BODY, &h) == PP_OK,
                        lens[i] >= 12 && lens[i] <= PP__WIRE_CRASH_MAX);
    }
    pp__wire_put_hdr(bad, PP__MSG_CRASH, PP__MSGF_LAST, 12); /* no flag allowed */
    CU_ASSERT_EQUAL(pp__wire_get_hdr(bad, PP__WIRE_MAX_BODY, &h), PP_EINVAL);
}

/* ---- round trips ---- */

/* Encodes a CALL, checks its header, decodes it from an exact copy, checks every field. */
static void call_round_trip(uint64_t id, const char *name, size_t name_len, const pp_buf *args,
                            size_t n)
{
    size_t size = pp__wire_call_size(name_len, args, n);
    CU_ASSERT_FATAL(size != SIZE_MAX && size > PP__WIRE_HDR);
    uint8_t *f = malloc(size);
    CU_ASSERT_FATAL(f != NULL);
    pp__wire_encode_call(f, id, name, name_len, args, n);
    pp__wire_hdr h;
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.type, PP__MSG_CALL);
    CU_ASSERT_EQUAL(h.flags, 0);
    CU_ASSERT_EQUAL_FATAL(h.body_len, size - PP__WIRE_HDR);

    pp__wire_call c;
    PP_ASSERT_OK_FATAL(pp__wire_decode_call(f + PP__WIRE_HDR, size - PP__WIRE_HDR, &c));
    CU_ASSERT_EQUAL(c.work_id, id);
    CU_ASSERT_EQUAL(c.name_len, name_len);
    CU_ASSERT(memcmp(c.name, name, name_len) == 0);
    CU_ASSERT_EQUAL_FATAL(c.n, n);
    CU_ASSERT_EQUAL(c.args.left, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        pp_buf a;
        pp__wire_next_arg(&c.args, &a);
        if (a.len != args[i].len || (a.len && memcmp(a.data, args[i].data, a.len) != 0))
            bad++;
        if ((const uint8_t *)a.data + a.len > f + size)
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(c.args.left, 0);
    CU_ASSERT(c.args.p == f + size);
    free(f);
}

static void test_call_round_trip(void)
{
    /* one empty argument */
    const pp_buf empty = {NULL, 0};
    call_round_trip(1, "noop", 4, &empty, 1);
    /* one small argument; the largest work id */
    const pp_buf one = {"\x01\x02\x03", 3};
    call_round_trip(UINT64_MAX, "echo", 4, &one, 1);
    /* a name of PP__NAME_MAX bytes, and of 1 byte */
    char name[PP__NAME_MAX];
    memset(name, 'n', sizeof name);
    call_round_trip(7, name, sizeof name, &one, 1);
    call_round_trip(8, "x", 1, &one, 1);
    /* 1000 arguments of various lengths, some empty */
    enum { N = 1000 };
    pp_buf *args = calloc(N, sizeof *args);
    uint8_t *data = malloc(N * 17);
    CU_ASSERT_FATAL(args != NULL && data != NULL);
    for (size_t i = 0; i < N * 17; i++)
        data[i] = (uint8_t)(i * 31 + 7);
    for (size_t i = 0; i < N; i++) {
        args[i].len = i % 17;
        args[i].data = args[i].len ? data + i * 17 : NULL;
    }
    call_round_trip(0x8000000000000001ull, "square", 6, args, N);
    free(data);
    free(args);
}

static void test_call_round_trip_64mib(void)
{
    uint8_t *big = malloc(BIG);
    CU_ASSERT_FATAL(big != NULL);
    pp_t_fill(big, BIG, 99);
    const pp_buf args[3] = {{"a", 1}, {big, BIG}, {NULL, 0}};
    call_round_trip(5, "checksum", 8, args, 3);
    free(big);
}

typedef struct item_spec {
    pp_status   status;
    int32_t     code;
    const void *data;
    size_t      len;
} item_spec;

static void result_round_trip(uint64_t id, uint32_t flags, const item_spec *items, uint32_t n)
{
    pp__wbuf b = {NULL, 0, 0};
    PP_ASSERT_OK_FATAL(pp__wire_result_begin(&b, id, n));
    for (uint32_t i = 0; i < n; i++)
        PP_ASSERT_OK_FATAL(pp__wire_result_item(&b, items[i].status, items[i].code,
                                                items[i].data, items[i].len));
    pp__wire_result_end(&b, flags);
    CU_ASSERT_FATAL(b.len >= PP__WIRE_HDR && b.len <= b.cap);
    uint8_t *f = dup_bytes(b.data, b.len);
    size_t size = b.len;
    pp__free(b.data);

    pp__wire_hdr h;
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.type, PP__MSG_RESULT);
    CU_ASSERT_EQUAL(h.flags, flags);
    CU_ASSERT_EQUAL_FATAL(h.body_len, size - PP__WIRE_HDR);
    pp__wire_result r;
    PP_ASSERT_OK_FATAL(pp__wire_decode_result(f + PP__WIRE_HDR, size - PP__WIRE_HDR, &r));
    CU_ASSERT_EQUAL(r.work_id, id);
    CU_ASSERT_EQUAL_FATAL(r.n, n);
    size_t bad = 0;
    for (uint32_t i = 0; i < n; i++) {
        pp__wire_item it;
        pp__wire_next_item(&r.items, &it);
        if (it.status != items[i].status || it.code != items[i].code ||
            it.len != items[i].len || (it.len && memcmp(it.data, items[i].data, it.len) != 0))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(r.items.left, 0);
    CU_ASSERT(r.items.p == f + size);
    /* the view of an accepted body is the same view */
    pp__wire_result v;
    PP_ASSERT_OK_FATAL(pp__wire_view_result(f + PP__WIRE_HDR, size - PP__WIRE_HDR, &v));
    CU_ASSERT_EQUAL(v.work_id, id);
    CU_ASSERT_EQUAL(v.n, n);
    CU_ASSERT_EQUAL(v.items.left, n);
    CU_ASSERT(v.items.p == f + PP__WIRE_HDR + 12);
    free(f);
}

/* pp__wire_view_result: fixed fields only, and it refuses what cannot hold them */
static void test_view_result_args(void)
{
    pp__wire_result v;
    uint8_t body[12] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; /* work 1, n 0 */
    PP_ASSERT_ST(PP_EINVAL, pp__wire_view_result(body, sizeof body, &v)); /* n == 0 */
    PP_ASSERT_ST(PP_EINVAL, pp__wire_view_result(body, 11, &v));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_view_result(NULL, 12, &v));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_view_result(body, sizeof body, NULL));
    body[8] = 2;
    PP_ASSERT_OK(pp__wire_view_result(body, sizeof body, &v));
    CU_ASSERT_EQUAL(v.work_id, 1);
    CU_ASSERT_EQUAL(v.n, 2);
}

static void test_result_round_trip(void)
{
    const item_spec one[] = {{PP_OK, 0, NULL, 0}};
    result_round_trip(1, 0, one, 1);
    result_round_trip(2, PP__MSGF_LAST, one, 1);
    const item_spec each[] = {{PP_OK, 0, "result", 6},
                              {PP_ETASK, INT32_MIN, "failed", 6},
                              {PP_ENOTASK, INT32_MAX, "no task", 7},
                              {PP_ENOMEM, -1, NULL, 0}};
    result_round_trip(UINT64_MAX, 0, each, 4);

    enum { N = 1000 };
    static const pp_status st[] = {PP_OK, PP_ETASK, PP_ENOTASK, PP_ENOMEM};
    item_spec *items = calloc(N, sizeof *items);
    uint8_t *data = malloc(N * 13);
    CU_ASSERT_FATAL(items != NULL && data != NULL);
    for (size_t i = 0; i < N * 13; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    for (uint32_t i = 0; i < N; i++) {
        items[i].status = st[i % 4];
        items[i].code = (int32_t)i - 500;
        items[i].len = i % 13;
        items[i].data = items[i].len ? data + i * 13 : NULL;
    }
    result_round_trip(77, PP__MSGF_LAST, items, N);
    free(data);
    free(items);
}

static void test_result_round_trip_64mib(void)
{
    uint8_t *big = malloc(BIG);
    CU_ASSERT_FATAL(big != NULL);
    pp_t_fill(big, BIG, 1234);
    const item_spec items[] = {{PP_OK, 0, big, BIG}, {PP_ETASK, 3, "x", 1}};
    result_round_trip(9, 0, items, 2);
    free(big);
}

static void init_round_trip(uint32_t max_tasks, const char *name, const void *args,
                            size_t args_len)
{
    pp__wbuf b = {NULL, 0, 0};
    PP_ASSERT_OK_FATAL(pp__wire_encode_init(&b, max_tasks, name, args, args_len));
    uint8_t *f = dup_bytes(b.data, b.len);
    size_t size = b.len;
    pp__free(b.data);
    pp__wire_hdr h;
    PP_ASSERT_OK_FATAL(pp__wire_get_hdr(f, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.type, PP__MSG_INIT);
    CU_ASSERT_EQUAL(h.flags, 0);
    CU_ASSERT_EQUAL_FATAL(h.body_len, size - PP__WIRE_HDR);
    pp__wire_init in;
    PP_ASSERT_OK_FATAL(pp__wire_decode_init(f + PP__WIRE_HDR, size - PP__WIRE_HDR, &in));
    size_t name_len = name ? strlen(name) : 0;
    CU_ASSERT_EQUAL(in.max_tasks, max_tasks);
    CU_ASSERT_EQUAL(in.name_len, name_len);
    CU_ASSERT(name_len == 0 || memcmp(in.name, name, name_len) == 0);
    CU_ASSERT_EQUAL(in.initargs.len, args_len);
    CU_ASSERT(args_len == 0 || memcmp(in.initargs.data, args, args_len) == 0);
    free(f);
}

static void test_init_round_trip(void)
{
    init_round_trip(0, NULL, NULL, 0);
    init_round_trip(0, "", NULL, 0);
    init_round_trip(UINT32_MAX, "init_set", "abc", 3);
    init_round_trip(3, "init_get", NULL, 0);
    char name[PP__NAME_MAX + 1];
    memset(name, 'i', PP__NAME_MAX);
    name[PP__NAME_MAX] = 0;
    init_round_trip(1, name, "\0\0", 2);
    uint8_t *args = malloc(MIB);
    CU_ASSERT_FATAL(args != NULL);
    pp_t_fill(args, MIB, 5);
    init_round_trip(0, NULL, args, MIB);
    free(args);
}

static void test_ready_stop_initerr_round_trip(void)
{
    pp__wbuf b = {NULL, 0, 0};
    pp__wire_hdr h;

    /* READY; a whole-frame encoder starts the buffer afresh */
    PP_ASSERT_OK_FATAL(pp__wire_encode_stop(&b));
    PP_ASSERT_OK_FATAL(pp__wire_encode_ready(&b, 0x0123456789abcdefull));
    CU_ASSERT_EQUAL_FATAL(b.len, PP__WIRE_HDR + 8);
    PP_ASSERT_OK(pp__wire_get_hdr(b.data, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.type, PP__MSG_READY);
    CU_ASSERT_EQUAL(h.body_len, 8);
    CU_ASSERT_EQUAL(b.data[PP__WIRE_HDR], 0xef); /* little-endian */
    uint64_t pid = 0;
    PP_ASSERT_OK(pp__wire_decode_ready(b.data + PP__WIRE_HDR, 8, &pid));
    CU_ASSERT_EQUAL(pid, 0x0123456789abcdefull);

    /* STOP */
    PP_ASSERT_OK_FATAL(pp__wire_encode_stop(&b));
    CU_ASSERT_EQUAL_FATAL(b.len, PP__WIRE_HDR);
    PP_ASSERT_OK(pp__wire_get_hdr(b.data, PP__WIRE_MAX_BODY, &h));
    CU_ASSERT_EQUAL(h.type, PP__MSG_STOP);
    CU_ASSERT_EQUAL(h.flags, 0);
    CU_ASSERT_EQUAL(h.body_len, 0);

    /* INITERR, each status it allows */
    const item_spec errs[] = {{PP_ETASK, 3, "init failed", 11},
                              {PP_ENOTASK, 0, "no initializer", 14},
                              {PP_ENOMEM, INT32_MIN, NULL, 0}};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        PP_ASSERT_OK_FATAL(pp__wire_encode_initerr(&b, errs[i].status, errs[i].code,
                                                   errs[i].data, errs[i].len));
        PP_ASSERT_OK(pp__wire_get_hdr(b.data, PP__WIRE_MAX_BODY, &h));
        CU_ASSERT_EQUAL(h.type, PP__MSG_INITERR);
        CU_ASSERT_EQUAL_FATAL(h.body_len, b.len - PP__WIRE_HDR);
        uint8_t *body = dup_bytes(b.data + PP__WIRE_HDR, b.len - PP__WIRE_HDR);
        pp__wire_item it;
        PP_ASSERT_OK(pp__wire_decode_initerr(body, b.len - PP__WIRE_HDR, &it));
        CU_ASSERT_EQUAL(it.status, errs[i].status);
        CU_ASSERT_EQUAL(it.code, errs[i].code);
        CU_ASSERT_EQUAL(it.len, errs[i].len);
        CU_ASSERT(it.len == 0 || memcmp(it.data, errs[i].data, it.len) == 0);
        free(body);
    }
    pp__free(b.data);
}

/* ---- truncation ---- */

/* Every proper prefix of a valid frame is rejected: as a frame whose header claims the
 * shorter body, and as a short body given straight to the decoder. */
static void check_truncations(const uint8_t *frame, size_t len)
{
    CU_ASSERT_FATAL(len >= PP__WIRE_HDR && len <= 1024);
    PP_ASSERT_OK_FATAL(decode_frame(frame, len));
    size_t accepted = 0;
    for (size_t p = 0; p < len; p++) {
        uint8_t buf[1024];
        memcpy(buf, frame, p);
        if (p >= PP__WIRE_HDR) {
            for (int i = 0; i < 8; i++)
                buf[8 + i] = (uint8_t)((uint64_t)(p - PP__WIRE_HDR) >> (8 * i));
        }
        if (decode_frame(buf, p) != PP_EINVAL)
            accepted++;
    }
    CU_ASSERT_EQUAL(accepted, 0);
}

static void test_truncations(void)
{
    size_t len;
    uint8_t *f = small_call(&len);
    check_truncations(f, len);
    free(f);

    pp__wbuf b = {NULL, 0, 0};
    PP_ASSERT_OK_FATAL(pp__wire_result_begin(&b, 3, 3));
    PP_ASSERT_OK_FATAL(pp__wire_result_item(&b, PP_OK, 0, "abc", 3));
    PP_ASSERT_OK_FATAL(pp__wire_result_item(&b, PP_ENOMEM, 0, NULL, 0));
    PP_ASSERT_OK_FATAL(pp__wire_result_item(&b, PP_ETASK, -9, "bad", 3));
    pp__wire_result_end(&b, PP__MSGF_LAST);
    check_truncations(b.data, b.len);

    PP_ASSERT_OK_FATAL(pp__wire_encode_init(&b, 4, "init_set", "args", 4));
    check_truncations(b.data, b.len);
    PP_ASSERT_OK_FATAL(pp__wire_encode_init(&b, 0, NULL, NULL, 0));
    check_truncations(b.data, b.len);
    PP_ASSERT_OK_FATAL(pp__wire_encode_ready(&b, 4242));
    check_truncations(b.data, b.len);
    PP_ASSERT_OK_FATAL(pp__wire_encode_initerr(&b, PP_ETASK, 3, "init failed", 11));
    check_truncations(b.data, b.len);
    PP_ASSERT_OK_FATAL(pp__wire_encode_stop(&b));
    check_truncations(b.data, b.len);
    pp__free(b.data);

    /* NULL body with length 0: rejected, not dereferenced */
    pp__wire_call c;
    pp__wire_result r;
    pp__wire_init in;
    pp__wire_item it;
    uint64_t pid;
    PP_ASSERT_ST(PP_EINVAL, pp__wire_decode_call(NULL, 0, &c));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_decode_result(NULL, 0, &r));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_decode_init(NULL, 0, &in));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_decode_initerr(NULL, 0, &it));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_decode_ready(NULL, 0, &pid));
}

/* ---- malformed fields ---- */

static void test_bad_header(void)
{
    uint8_t h[PP__WIRE_HDR];
    pp__wire_hdr got;
    const struct {
        uint32_t type, flags;
        uint64_t body_len;
    } bad[] = {
        {0x51500002u, 0, 10},                      /* bad magic */
        {0x00000002u, 0, 10},                      /* no magic */
        {0x50500000u, 0, 10},                      /* unknown type 0 */
        {0x50500007u, 0, 10},                      /* unknown type 7 */
        {0x5050ffffu, 0, 10},                      /* unknown type */
        {PP__MSG_RESULT, 4, 10},                   /* unknown flag */
        {PP__MSG_RESULT, PP__MSGF_LAST | PP__MSGF_MORE, 10}, /* both: never */
        {PP__MSG_CALL, PP__MSGF_MORE, 10},         /* MORE on the wrong type */
        {PP__MSG_RESULT, 0x80000000u, 10},         /* unknown flag */
        {PP__MSG_RESULT, PP__MSGF_LAST | 4, 10},   /* known + unknown flag */
        {PP__MSG_CALL, PP__MSGF_LAST, 10},         /* LAST on the wrong type */
        {PP__MSG_CALL, 2, 10},                     /* unknown flag */
        {PP__MSG_INIT, PP__MSGF_LAST, 10},         /* LAST on the wrong type */
        {PP__MSG_INITERR, PP__MSGF_LAST, 10},      /* LAST on the wrong type */
        {PP__MSG_READY, PP__MSGF_LAST, 8},         /* LAST on the wrong type */
        {PP__MSG_STOP, PP__MSGF_LAST, 0},          /* LAST on the wrong type */
        {PP__MSG_STOP, 0, 1},                      /* STOP with a body */
        {PP__MSG_STOP, 0, UINT64_MAX},             /* STOP with a body */
        {PP__MSG_READY, 0, 0},                     /* READY not 8 bytes */
        {PP__MSG_READY, 0, 7},                     /* READY not 8 bytes */
        {PP__MSG_READY, 0, 9},                     /* READY not 8 bytes */
        {PP__MSG_CALL, 0, PP__WIRE_MAX_BODY + 1},  /* above the maximum */
        {PP__MSG_RESULT, 0, UINT64_MAX},           /* above the maximum */
        {PP__MSG_INIT, 0, (uint64_t)1 << 63},      /* above the maximum */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pp__wire_put_hdr(h, bad[i].type, bad[i].flags, bad[i].body_len);
        pp_status st = pp__wire_get_hdr(h, PP__WIRE_MAX_BODY, &got);
        if (st != PP_EINVAL)
            fprintf(stderr, "\n  bad header %zu accepted\n", i);
        CU_ASSERT_EQUAL(st, PP_EINVAL);
    }
    /* the caller's max_body */
    pp__wire_put_hdr(h, PP__MSG_CALL, 0, 101);
    PP_ASSERT_ST(PP_EINVAL, pp__wire_get_hdr(h, 100, &got));
    PP_ASSERT_OK(pp__wire_get_hdr(h, 101, &got));
    pp__wire_put_hdr(h, PP__MSG_RESULT, 0, 1);
    PP_ASSERT_ST(PP_EINVAL, pp__wire_get_hdr(h, 0, &got));
}

/* CALL bodies built by hand: each breaks one rule. */
static void test_bad_call(void)
{
    tb t;
    /* valid reference */
    tb_call_echo(&t);
    tb_u32(&t, 1);
    tb_len_bytes(&t, 2, "hi", 2);
    TB_EXPECT(PP_OK, &t);

    /* trailing byte */
    t.b[t.len++] = 0;
    TB_EXPECT(PP_EINVAL, &t);

    /* name length 0 */
    tb_hdr(&t, PP__MSG_CALL, 0, 0);
    tb_u64(&t, 1);
    tb_u32(&t, 0);
    tb_u32(&t, 1);
    tb_u64(&t, 0);
    TB_EXPECT(PP_EINVAL, &t);

    /* name length above PP__NAME_MAX (the bytes are there), and exactly PP__NAME_MAX */
    for (uint32_t name_len = PP__NAME_MAX; name_len <= PP__NAME_MAX + 1; name_len++) {
        tb_hdr(&t, PP__MSG_CALL, 0, 0);
        tb_u64(&t, 1);
        tb_u32(&t, name_len);
        memset(t.b + t.len, 'a', name_len);
        t.len += name_len;
        tb_u32(&t, 1);
        tb_u64(&t, 0);
        TB_EXPECT(name_len <= PP__NAME_MAX ? PP_OK : PP_EINVAL, &t);
    }

    /* name length past the end */
    tb_hdr(&t, PP__MSG_CALL, 0, 0);
    tb_u64(&t, 1);
    tb_u32(&t, 200);
    tb_bytes(&t, "echo", 4);
    TB_EXPECT(PP_EINVAL, &t);

    /* n == 0 (with and without anything after it) */
    tb_call_echo(&t);
    tb_u32(&t, 0);
    TB_EXPECT(PP_EINVAL, &t);
    tb_u64(&t, 0);
    TB_EXPECT(PP_EINVAL, &t);

    /* n larger than the arguments present */
    tb_call_echo(&t);
    tb_u32(&t, 3);
    tb_u64(&t, 0);
    tb_u64(&t, 0);
    TB_EXPECT(PP_EINVAL, &t);
    /* n = UINT32_MAX with few bytes */
    t.b[PP__WIRE_HDR + 16] = t.b[PP__WIRE_HDR + 17] = t.b[PP__WIRE_HDR + 18] =
        t.b[PP__WIRE_HDR + 19] = 0xff;
    PP_ASSERT_ST(PP_EINVAL, decode_frame(t.b, t.len));

    /* an argument length pointing past the end: by one, by a lot, UINT64_MAX, and lengths
     * that wrap a 32-bit size_t */
    const uint64_t lens[] = {3, 1000, UINT64_MAX, UINT64_MAX - 1, (uint64_t)1 << 32,
                             ((uint64_t)1 << 32) + 2, (uint64_t)1 << 63, SIZE_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        tb_call_echo(&t);
        tb_u32(&t, 1);
        tb_len_bytes(&t, lens[i], "hi", 2);
        TB_EXPECT(PP_EINVAL, &t);
    }
    /* the second of two arguments too long */
    tb_call_echo(&t);
    tb_u32(&t, 2);
    tb_len_bytes(&t, 1, "a", 1);
    tb_len_bytes(&t, 2, "b", 1);
    TB_EXPECT(PP_EINVAL, &t);
}

static void test_bad_result(void)
{
    tb t;
    /* valid reference */
    tb_result(&t, 1);
    tb_item(&t, PP_OK, 0, 1, "r", 1);
    TB_EXPECT(PP_OK, &t);
    /* trailing byte */
    t.b[t.len++] = 0;
    TB_EXPECT(PP_EINVAL, &t);

    /* n == 0 */
    tb_result(&t, 0);
    TB_EXPECT(PP_EINVAL, &t);

    /* unknown statuses, in the first or the second item */
    const uint32_t bad_st[] = {PP_END,         PP_EINVAL,         PP_ETIMEDOUT, PP_ECANCELLED,
                               PP_ESHUTDOWN,   PP_EBROKEN,        PP_ESTATE,    PP_ENOTSUP,
                               PP_ESYS,        PP_EWORKERDIED,    PP_ETIMELIMIT,
                               PP_ETIMELIMIT + 1, 0x80000000u,   UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_st / sizeof bad_st[0]; i++) {
        for (int second = 0; second < 2; second++) {
            tb_result(&t, 2);
            tb_item(&t, second ? PP_OK : bad_st[i], 0, 0, "", 0);
            tb_item(&t, second ? bad_st[i] : PP_ETASK, 1, 0, "", 0);
            TB_EXPECT(PP_EINVAL, &t);
        }
    }

    /* a data length past the end */
    const uint64_t lens[] = {2, UINT64_MAX, (uint64_t)1 << 32, ((uint64_t)1 << 32) + 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        tb_result(&t, 1);
        tb_item(&t, PP_OK, 0, lens[i], "r", 1);
        TB_EXPECT(PP_EINVAL, &t);
    }
    /* more items announced than present */
    tb_result(&t, 2);
    tb_item(&t, PP_OK, 0, 0, "", 0);
    TB_EXPECT(PP_EINVAL, &t);
}

static void test_bad_init_initerr_ready(void)
{
    tb t;
    /* INIT: valid, empty name */
    tb_hdr(&t, PP__MSG_INIT, 0, 0);
    tb_u32(&t, 0);
    tb_u32(&t, 0);
    tb_u64(&t, 0);
    TB_EXPECT(PP_OK, &t);
    t.b[t.len++] = 0; /* trailing byte */
    TB_EXPECT(PP_EINVAL, &t);

    /* INIT: name length above PP__NAME_MAX */
    tb_hdr(&t, PP__MSG_INIT, 0, 0);
    tb_u32(&t, 0);
    tb_u32(&t, PP__NAME_MAX + 1);
    memset(t.b + t.len, 'a', PP__NAME_MAX + 1);
    t.len += PP__NAME_MAX + 1;
    tb_u64(&t, 0);
    TB_EXPECT(PP_EINVAL, &t);

    /* INIT: initargs past the end */
    tb_hdr(&t, PP__MSG_INIT, 0, 0);
    tb_u32(&t, 0);
    tb_u32(&t, 1);
    tb_bytes(&t, "i", 1);
    tb_u64(&t, UINT64_MAX);
    tb_bytes(&t, "abc", 3);
    TB_EXPECT(PP_EINVAL, &t);

    /* INITERR: valid, then each status it does not allow */
    tb_hdr(&t, PP__MSG_INITERR, 0, 0);
    tb_u32(&t, PP_ETASK);
    tb_u32(&t, 0xffffffffu);
    tb_u64(&t, 2);
    tb_bytes(&t, "no", 2);
    TB_EXPECT(PP_OK, &t);
    {
        pp__wire_item it;
        PP_ASSERT_OK(pp__wire_decode_initerr(t.b + PP__WIRE_HDR, t.len - PP__WIRE_HDR, &it));
        CU_ASSERT_EQUAL(it.code, -1);
    }
    t.b[t.len++] = 0; /* trailing byte */
    TB_EXPECT(PP_EINVAL, &t);
    const uint32_t bad_st[] = {PP_OK,          PP_END,        PP_EINVAL,         PP_ETIMEDOUT,
                               PP_ECANCELLED,  PP_ESHUTDOWN,  PP_EBROKEN,        PP_ESTATE,
                               PP_ENOTSUP,     PP_ESYS,       PP_EWORKERDIED,    PP_ETIMELIMIT,
                               PP_ETIMELIMIT + 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_st / sizeof bad_st[0]; i++) {
        tb_hdr(&t, PP__MSG_INITERR, 0, 0);
        tb_u32(&t, bad_st[i]);
        tb_u32(&t, 0);
        tb_u64(&t, 0);
        TB_EXPECT(PP_EINVAL, &t);
    }
    /* INITERR: message past the end */
    tb_hdr(&t, PP__MSG_INITERR, 0, 0);
    tb_u32(&t, PP_ENOMEM);
    tb_u32(&t, 0);
    tb_u64(&t, 3);
    tb_bytes(&t, "ab", 2);
    TB_EXPECT(PP_EINVAL, &t);

    /* READY body of the wrong size, given straight to the decoder */
    uint64_t pid;
    uint8_t nine[9] = {0};
    PP_ASSERT_ST(PP_EINVAL, pp__wire_decode_ready(nine, 7, &pid));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_decode_ready(nine, 9, &pid));
    PP_ASSERT_OK(pp__wire_decode_ready(nine, 8, &pid));
}

/* ---- encoders' argument checks, sizes and the growable buffer ---- */

static void test_call_size_overflow(void)
{
    pp_buf args[3] = {{"a", 1}, {NULL, SIZE_MAX}, {NULL, 0}};
    CU_ASSERT_EQUAL(pp__wire_call_size(4, args, 1), PP__WIRE_HDR + 8 + 4 + 4 + 4 + 8 + 1);
    CU_ASSERT_EQUAL(pp__wire_call_size(4, args, 2), SIZE_MAX);
    args[1].len = SIZE_MAX - 8;
    CU_ASSERT_EQUAL(pp__wire_call_size(4, args, 2), SIZE_MAX);
    args[1].len = SIZE_MAX - 30; /* fits with its own length, not with the header */
    CU_ASSERT_EQUAL(pp__wire_call_size(0, args + 1, 1), SIZE_MAX);
    args[0].len = SIZE_MAX / 2;
    args[1].len = SIZE_MAX / 2;
    CU_ASSERT_EQUAL(pp__wire_call_size(4, args, 2), SIZE_MAX);
    args[0].len = 1;
    CU_ASSERT_EQUAL(pp__wire_call_size(SIZE_MAX, args, 1), SIZE_MAX);
    CU_ASSERT_EQUAL(pp__wire_call_size(SIZE_MAX - 20, args, 1), SIZE_MAX);
#if SIZE_MAX > UINT32_MAX
    /* counts and name lengths that do not fit their u32 fields */
    CU_ASSERT_EQUAL(pp__wire_call_size((size_t)UINT32_MAX + 1, args, 1), SIZE_MAX);
    CU_ASSERT_EQUAL(pp__wire_call_size(4, args, (size_t)UINT32_MAX + 1), SIZE_MAX);
#endif
}

static void test_wbuf_and_encoder_args(void)
{
    pp__wbuf b = {NULL, 0, 0};
    PP_ASSERT_ST(PP_EINVAL, pp__wbuf_reserve(NULL, 1));
    PP_ASSERT_OK(pp__wbuf_reserve(&b, 0));
    PP_ASSERT_OK_FATAL(pp__wbuf_reserve(&b, 10));
    CU_ASSERT(b.data != NULL && b.cap >= 10);
    /* geometric growth: appending one byte at a time reallocates O(log n) times */
    unsigned reallocs = 0;
    for (size_t i = 0; i < 100000; i++) {
        size_t cap = b.cap;
        PP_ASSERT_OK_FATAL(pp__wbuf_reserve(&b, 1));
        b.data[b.len++] = (uint8_t)i;
        if (b.cap != cap)
            reallocs++;
    }
    CU_ASSERT(reallocs <= 20);
    CU_ASSERT(b.len == 100000 && b.cap >= b.len && b.data[99999] == (uint8_t)99999);
    /* overflowing requests fail and leave the buffer as it was */
    uint8_t *data = b.data;
    size_t len = b.len, cap = b.cap;
    PP_ASSERT_ST(PP_ENOMEM, pp__wbuf_reserve(&b, SIZE_MAX));
    PP_ASSERT_ST(PP_ENOMEM, pp__wbuf_reserve(&b, SIZE_MAX - len + 1));
    CU_ASSERT(b.data == data && b.len == len && b.cap == cap);
    /* an item larger than memory fails cleanly too */
    PP_ASSERT_OK_FATAL(pp__wire_result_begin(&b, 1, 1));
    len = b.len;
    PP_ASSERT_ST(PP_ENOMEM, pp__wire_result_item(&b, PP_OK, 0, "x", SIZE_MAX - 4));
    CU_ASSERT_EQUAL(b.len, len);

    /* encoders' argument checks */
    PP_ASSERT_ST(PP_EINVAL, pp__wire_result_item(&b, PP_EBROKEN, 0, NULL, 0));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_result_item(&b, PP_END, 0, NULL, 0));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_result_item(&b, PP_OK, 0, NULL, 1));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_result_item(NULL, PP_OK, 0, NULL, 0));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_result_begin(NULL, 1, 1));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_encode_initerr(&b, PP_OK, 0, NULL, 0));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_encode_initerr(&b, PP_EBROKEN, 0, NULL, 0));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_encode_initerr(&b, PP_ETASK, 0, NULL, 1));
    char name[PP__NAME_MAX + 2];
    memset(name, 'n', PP__NAME_MAX + 1);
    name[PP__NAME_MAX + 1] = 0;
    PP_ASSERT_ST(PP_EINVAL, pp__wire_encode_init(&b, 0, name, NULL, 0));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_encode_init(&b, 0, "i", NULL, 1));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_encode_init(NULL, 0, "i", NULL, 0));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_encode_ready(NULL, 1));
    PP_ASSERT_ST(PP_EINVAL, pp__wire_encode_stop(NULL));
    pp__free(b.data);
}

/* ---- large payloads through the executor ---- */

typedef struct bytes_arg { /* the "bytes" task's argument, as tasks.c reads it */
    uint64_t n;
    uint32_t seed;
} bytes_arg;

/* A call and its result can each be 64 MiB or more, in both directions at once with
 * max_workers + 1 items in flight, without deadlock. */
static void test_big_both_directions(void)
{
    enum { N_ECHO = 3, N_BYTES = 3, N = N_ECHO + N_BYTES };
    pp_executor *ex = pp_t_executor(2);
    uint8_t *buf = malloc(BIG);
    CU_ASSERT_FATAL(buf != NULL);
    pp_future *fs[N] = {NULL};
    uint64_t want[N];
    for (int i = 0; i < N_ECHO; i++) {
        pp_t_fill(buf, BIG, 1000u + (uint32_t)i);
        want[i] = pp_t_fnv1a(buf, BIG);
        PP_ASSERT_OK(pp_submit(ex, "echo", buf, BIG, &fs[i])); /* copied: buf is reused */
    }
    for (int i = N_ECHO; i < N; i++) {
        bytes_arg a;
        memset(&a, 0, sizeof a);
        a.n = BIG;
        a.seed = 2000u + (uint32_t)i;
        pp_t_fill(buf, BIG, a.seed);
        want[i] = pp_t_fnv1a(buf, BIG);
        PP_ASSERT_OK(pp_submit(ex, "bytes", &a, sizeof a, &fs[i]));
    }
    free(buf);
    for (int i = 0; i < N; i++) {
        pp_buf r = {NULL, 0};
        if (!fs[i])
            continue;
        PP_ASSERT_OK(pp_future_result(fs[i], BIG_TIMEOUT_MS, &r));
        CU_ASSERT_EQUAL(r.len, BIG);
        CU_ASSERT(r.len == BIG && pp_t_fnv1a(r.data, r.len) == want[i]);
        pp_future_release(fs[i]);
    }
    pp_executor_destroy(ex);
}

/* Results on both sides of the size from which a worker writes a single result from the
 * task's own buffer (256 KiB), alone (submit: written after the frame) and as items of one
 * chunk (map: copied into the frame), come back intact. */
static void test_results_around_direct_size(void)
{
    static const size_t sizes[] = {256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 3 * MIB + 5};
    enum { N = sizeof sizes / sizeof sizes[0] };
    pp_executor *ex = pp_t_executor(2);
    uint8_t *bufs[N];
    pp_buf args[N];
    pp_future *fs[N] = {NULL};
    for (size_t i = 0; i < N; i++) {
        bufs[i] = malloc(sizes[i]);
        CU_ASSERT_FATAL(bufs[i] != NULL);
        pp_t_fill(bufs[i], sizes[i], 300u + (uint32_t)i);
        args[i] = (pp_buf){bufs[i], sizes[i]};
        PP_ASSERT_OK(pp_submit(ex, "echo", bufs[i], sizes[i], &fs[i]));
    }
    for (size_t i = 0; i < N; i++) {
        pp_buf r = {NULL, 0};
        if (!fs[i])
            continue;
        PP_ASSERT_OK(pp_future_result(fs[i], BIG_TIMEOUT_MS, &r));
        CU_ASSERT(r.len == sizes[i] && memcmp(r.data, bufs[i], sizes[i]) == 0);
        pp_future_release(fs[i]);
    }
    pp_map_iter *it = NULL;
    PP_ASSERT_OK_FATAL(pp_map(ex, "echo", args, N, 2, BIG_TIMEOUT_MS, &it));
    for (size_t i = 0; i < N; i++) {
        pp_buf r = {NULL, 0};
        PP_ASSERT_OK(pp_map_next(it, &r, NULL));
        CU_ASSERT(r.len == sizes[i] && memcmp(r.data, bufs[i], sizes[i]) == 0);
    }
    CU_ASSERT_EQUAL(pp_map_next(it, NULL, NULL), PP_END);
    pp_map_free(it);
    for (size_t i = 0; i < N; i++)
        free(bufs[i]);
    pp_executor_destroy(ex);
}

static void test_big_checksum(void)
{
    pp_executor *ex = pp_t_executor(1);
    uint8_t *buf = malloc(BIG + 3);
    CU_ASSERT_FATAL(buf != NULL);
    pp_t_fill(buf, BIG + 3, 77);
    uint64_t want = pp_t_fnv1a(buf, BIG + 3);
    pp_future *f = NULL;
    PP_ASSERT_OK(pp_submit(ex, "checksum", buf, BIG + 3, &f));
    free(buf);
    if (f) {
        pp_buf r = {NULL, 0};
        PP_ASSERT_OK(pp_future_result(f, BIG_TIMEOUT_MS, &r));
        uint64_t got = 0;
        CU_ASSERT_EQUAL(r.len, sizeof got);
        if (r.len == sizeof got)
            memcpy(&got, r.data, sizeof got);
        CU_ASSERT_EQUAL(got, want);
        pp_future_release(f);
    }
    pp_executor_destroy(ex);
}

/* ---- spin, then sleep (spin.h): the policy's arithmetic ---- */

static void test_spin_parse(void)
{
    const int64_t def = (int64_t)PP__SPIN_DEFAULT_US * 1000;
    CU_ASSERT_EQUAL(pp__spin_parse_ns(NULL), def);
    CU_ASSERT_EQUAL(pp__spin_parse_ns(""), def);
    CU_ASSERT_EQUAL(pp__spin_parse_ns("abc"), def);
    CU_ASSERT_EQUAL(pp__spin_parse_ns("12x"), def);
    CU_ASSERT_EQUAL(pp__spin_parse_ns(" "), def);
    CU_ASSERT_EQUAL(pp__spin_parse_ns("0"), 0);
    CU_ASSERT_EQUAL(pp__spin_parse_ns("-5"), 0);
    CU_ASSERT_EQUAL(pp__spin_parse_ns("1"), 1000);
    CU_ASSERT_EQUAL(pp__spin_parse_ns("100"), 100000);
    CU_ASSERT_EQUAL(pp__spin_parse_ns("10000"), (int64_t)PP__SPIN_MAX_US * 1000);
    CU_ASSERT_EQUAL(pp__spin_parse_ns("99999999"), (int64_t)PP__SPIN_MAX_US * 1000);
    int64_t max = pp__spin_max_ns(); /* this process's, from its environment */
    CU_ASSERT(max >= 0 && max <= (int64_t)PP__SPIN_MAX_US * 1000);
    CU_ASSERT_EQUAL(pp__spin_max_ns(), max); /* read once */
}

static void test_spin_policy(void)
{
    const int64_t max = 50000; /* 50 us */
    pp__spin s;
    pp__spin_init(&s, max);
    /* a new policy does not poll until waits have shown to be short */
    CU_ASSERT_EQUAL(pp__spin_budget(&s), 0);
    int polls_after = -1;
    for (int i = 1; i <= 20 && polls_after < 0; i++) {
        pp__spin_record(&s, 5000);
        if (pp__spin_budget(&s) == max)
            polls_after = i;
    }
    CU_ASSERT(polls_after >= 6 && polls_after <= 10);
    /* short waits keep it polling */
    for (int i = 0; i < 100; i++)
        pp__spin_record(&s, 10000);
    CU_ASSERT_EQUAL(pp__spin_budget(&s), max);
    /* one wait of a second stops it, counted as 8 * max only: a few short waits undo it */
    pp__spin_record(&s, 1000000000);
    CU_ASSERT_EQUAL(pp__spin_budget(&s), 0);
    int undone = 0;
    while (pp__spin_budget(&s) == 0 && undone < 20) {
        pp__spin_record(&s, 0);
        undone++;
    }
    CU_ASSERT(undone >= 1 && undone <= 8);
    /* waits just above the longest spin: it stops (tasks too long to wait for by polling) */
    for (int i = 0; i < 50; i++)
        pp__spin_record(&s, max + max / 10);
    CU_ASSERT_EQUAL(pp__spin_budget(&s), 0);
    /* and just below: it polls */
    for (int i = 0; i < 50; i++)
        pp__spin_record(&s, max - max / 5);
    CU_ASSERT_EQUAL(pp__spin_budget(&s), max);
    /* a negative duration (a clock that cannot go back, but still) counts as 0 */
    pp__spin_record(&s, -1000000000);
    CU_ASSERT_EQUAL(pp__spin_budget(&s), max);
    /* max 0 (PROCPOOL_SPIN_US=0): never polls, whatever it records */
    pp__spin_init(&s, 0);
    for (int i = 0; i < 50; i++) {
        pp__spin_record(&s, 0);
        CU_ASSERT_EQUAL(pp__spin_budget(&s), 0);
    }
    pp__spin_init(&s, -5);
    CU_ASSERT_EQUAL(pp__spin_budget(&s), 0);
}

/* pp__spin_poll: looks until ready says so, not at all when the policy does not poll or
 * the limit is 0, and gives up after the budget (the caller then sleeps). */
static int looks, ready_at;
static bool count_looks(void *arg)
{
    (void)arg;
    return ++looks >= ready_at;
}

static void test_spin_poll(void)
{
    pp__spin s;
    int64_t t0;
    pp__spin_init(&s, 0); /* never polls */
    looks = 0, ready_at = 1;
    CU_ASSERT(!pp__spin_poll(&s, -1, count_looks, NULL, &t0));
    CU_ASSERT_EQUAL(looks, 0);
    pp__spin_end(&s, t0);
    CU_ASSERT_EQUAL(pp__spin_budget(&s), 0);

    /* 10 s, and make it hot: three looks fit in it however loaded the machine is (with
     * 10 ms, a yield that let other programs run longer made this fail) */
    const int64_t ten_s = 10LL * 1000 * 1000 * 1000;
    pp__spin_init(&s, ten_s);
    for (int i = 0; i < 20; i++)
        pp__spin_record(&s, 0);
    CU_ASSERT_EQUAL_FATAL(pp__spin_budget(&s), ten_s);
    looks = 0, ready_at = 3;
    CU_ASSERT(pp__spin_poll(&s, -1, count_looks, NULL, &t0));
    CU_ASSERT_EQUAL(looks, 3);
    pp__spin_end(&s, t0); /* a short wait: still hot */
    CU_ASSERT_EQUAL(pp__spin_budget(&s), ten_s);
    looks = 0, ready_at = 1;
    CU_ASSERT(!pp__spin_poll(&s, 0, count_looks, NULL, &t0)); /* limit 0: no look */
    CU_ASSERT_EQUAL(looks, 0);
    looks = 0, ready_at = 1 << 30; /* never ready: gives up after 1 ms (the limit) */
    long long start = pp_t_now_ms();
    CU_ASSERT(!pp__spin_poll(&s, 1000 * 1000, count_looks, NULL, &t0));
    CU_ASSERT(looks >= 1);
    CU_ASSERT(pp_t_now_ms() - start < PP_T_TIMEOUT_MS);
}

/* ---- the shared-memory ring (ring.h) ---- */

typedef struct ring_mem {
    _Atomic(uint64_t) head, tail;
    _Atomic(uint32_t) sleeping, waiting;
    _Atomic(uint64_t) skip;
    uint8_t           data[4096];
} ring_mem;

static void ring_of(ring_mem *m, pp__ring *r, uint64_t size)
{
    memset(m, 0, sizeof *m);
    *r = (pp__ring){&m->head, &m->tail, &m->sleeping, &m->waiting, &m->skip, m->data, size, 0};
}

/* Bytes in order through many wraps, in pieces of every size up to twice the ring's; with a
 * rewind, through many skips too (the skipped bytes count as unread until passed). */
static void ring_order(uint64_t rewind)
{
    ring_mem m;
    pp__ring r;
    ring_of(&m, &r, 64);
    r.rewind = rewind;
    uint8_t in[200], out[200];
    unsigned next_in = 0, next_out = 0, seed = 1, skips = 0;
    uint64_t last_skip = 0;
    for (int round = 0; round < 5000; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t want = (seed >> 16) % 129, n = 0;
        for (size_t i = 0; i < want; i++)
            in[i] = (uint8_t)(next_in + i);
        CU_ASSERT_FATAL(pp__ring_put(&r, in, want, &n));
        CU_ASSERT_FATAL(n <= want);
        next_in += (unsigned)n;
        if (atomic_load(&m.skip) != last_skip) {
            CU_ASSERT_FATAL(atomic_load(&m.skip) > last_skip);
            CU_ASSERT_FATAL(atomic_load(&m.skip) % 64 >= rewind);
            last_skip = atomic_load(&m.skip);
            skips++;
        }
        uint64_t avail = 0;
        CU_ASSERT_FATAL(pp__ring_avail(&r, &avail));
        CU_ASSERT_FATAL(avail <= 64);
        CU_ASSERT_FATAL(rewind ? avail >= next_in - next_out : avail == next_in - next_out);
        size_t cap = (seed >> 8) % 129, got = 0;
        CU_ASSERT_FATAL(pp__ring_get(&r, out, cap, &got));
        CU_ASSERT_FATAL(got <= (cap < avail ? cap : avail));
        CU_ASSERT_FATAL(rewind || got == (cap < avail ? cap : avail));
        for (size_t i = 0; i < got; i++)
            CU_ASSERT_FATAL(out[i] == (uint8_t)(next_out + i));
        next_out += (unsigned)got;
    }
    CU_ASSERT(next_in > 64 * 100); /* it wrapped, many times */
    CU_ASSERT(rewind ? skips > 100 : skips == 0);
}

static void test_ring_order(void)
{
    ring_order(0);
    ring_order(16);
}

/* A producer far enough into a lap, with what is unread and what it puts fitting below,
 * writes at the ring's start; the consumer reads what came before the skip first, then
 * goes on at the start. Not when it would not fit; and a skip the producer's side claims
 * while its tail is not past the lap's end is not taken (a corrupt one: the bytes are read
 * as they are, and nothing is read past the tail). */
static void test_ring_rewind(void)
{
    ring_mem m;
    pp__ring r;
    ring_of(&m, &r, 64);
    r.rewind = 16;
    uint8_t buf[64], got[64];
    for (int i = 0; i < 64; i++)
        buf[i] = (uint8_t)(100 + i);
    size_t n = 0;
    CU_ASSERT(pp__ring_put(&r, buf, 20, &n) && n == 20);
    CU_ASSERT_EQUAL(atomic_load(&m.tail), 20);
    CU_ASSERT(pp__ring_get(&r, got, 8, &n) && n == 8);
    /* 12 unread + 4 more fit below 20: skip from 20 to 64 */
    CU_ASSERT(pp__ring_put(&r, buf + 20, 4, &n) && n == 4);
    CU_ASSERT_EQUAL(atomic_load(&m.skip), 20);
    CU_ASSERT_EQUAL(atomic_load(&m.tail), 68);
    CU_ASSERT(memcmp(m.data, buf + 20, 4) == 0); /* at the ring's start */
    uint64_t k = 0;
    CU_ASSERT(pp__ring_room(&r, &k) && k == 64 - 60); /* the skipped bytes are taken */
    CU_ASSERT(pp__ring_get(&r, got, sizeof got, &n) && n == 12); /* up to the skip */
    CU_ASSERT(memcmp(got, buf + 8, 12) == 0);
    CU_ASSERT_EQUAL(atomic_load(&m.head), 20);
    CU_ASSERT(pp__ring_avail(&r, &k) && k == 48);
    CU_ASSERT(pp__ring_get(&r, got, sizeof got, &n) && n == 4); /* then the next lap */
    CU_ASSERT(memcmp(got, buf + 20, 4) == 0);
    CU_ASSERT_EQUAL(atomic_load(&m.head), 68);
    CU_ASSERT(pp__ring_avail(&r, &k) && k == 0);

    /* 40 bytes unread at position 44 (68 + 40): 40 + 8 do not fit below 44, no skip */
    CU_ASSERT(pp__ring_put(&r, buf, 40, &n) && n == 40);
    CU_ASSERT(pp__ring_put(&r, buf + 40, 8, &n) && n == 8);
    CU_ASSERT_EQUAL(atomic_load(&m.skip), 20);
    CU_ASSERT_EQUAL(atomic_load(&m.tail), 116);
    CU_ASSERT(pp__ring_get(&r, got, sizeof got, &n) && n == 48);
    CU_ASSERT(memcmp(got, buf, 48) == 0);

    /* the other side claims a skip at the consumer's position with its tail short of the
     * lap's end: not taken */
    ring_of(&m, &r, 64);
    atomic_store(&m.head, 10);
    atomic_store(&m.tail, 15);
    atomic_store(&m.skip, 10);
    memcpy(m.data + 10, "abcde", 5);
    CU_ASSERT(pp__ring_get(&r, got, sizeof got, &n) && n == 5);
    CU_ASSERT(memcmp(got, "abcde", 5) == 0);
    CU_ASSERT_EQUAL(atomic_load(&m.head), 15);
    /* ... and one past the tail bounds nothing */
    atomic_store(&m.tail, 20);
    atomic_store(&m.skip, 30);
    CU_ASSERT(pp__ring_get(&r, got, sizeof got, &n) && n == 5);
    CU_ASSERT_EQUAL(atomic_load(&m.head), 20);
    /* a consumer with no rewind of its own still takes the producer's skips */
    atomic_store(&m.skip, 20);
    atomic_store(&m.tail, 64 + 3);
    memcpy(m.data, "xyz", 3);
    CU_ASSERT(pp__ring_get(&r, got, sizeof got, &n) && n == 3);
    CU_ASSERT(memcmp(got, "xyz", 3) == 0);
    CU_ASSERT_EQUAL(atomic_load(&m.head), 67);
}

/* Full takes nothing, empty gives nothing, and room comes back as bytes are read. */
static void test_ring_full_empty(void)
{
    ring_mem m;
    pp__ring r;
    ring_of(&m, &r, 4096);
    uint8_t buf[5000];
    memset(buf, 7, sizeof buf);
    size_t n = 0;
    CU_ASSERT(pp__ring_get(&r, buf, sizeof buf, &n) && n == 0);
    CU_ASSERT(pp__ring_put(&r, buf, sizeof buf, &n) && n == 4096);
    CU_ASSERT(pp__ring_put(&r, buf, 1, &n) && n == 0);
    uint64_t room = 1;
    CU_ASSERT(pp__ring_room(&r, &room) && room == 0);
    CU_ASSERT(pp__ring_get(&r, buf, 100, &n) && n == 100);
    CU_ASSERT(pp__ring_room(&r, &room) && room == 100);
    CU_ASSERT(pp__ring_put(&r, buf, 1000, &n) && n == 100);
    CU_ASSERT(pp__ring_get(&r, buf, sizeof buf, &n) && n == 4096);
    CU_ASSERT(pp__ring_get(&r, buf, sizeof buf, &n) && n == 0);
}

/* Counters the other process may have scribbled over: refused, nothing copied. */
static void test_ring_corrupt(void)
{
    ring_mem m;
    pp__ring r;
    ring_of(&m, &r, 4096);
    uint8_t buf[16] = {0};
    size_t n = 99;
    uint64_t k;
    atomic_store(&m.head, 10);
    atomic_store(&m.tail, 10 + 4097); /* more than the ring holds */
    CU_ASSERT(!pp__ring_get(&r, buf, sizeof buf, &n) && n == 0);
    CU_ASSERT(!pp__ring_put(&r, buf, sizeof buf, &n) && n == 0);
    CU_ASSERT(!pp__ring_avail(&r, &k));
    CU_ASSERT(!pp__ring_room(&r, &k));
    atomic_store(&m.head, 20);
    atomic_store(&m.tail, 19); /* read past what was written */
    CU_ASSERT(!pp__ring_get(&r, buf, sizeof buf, &n) && n == 0);
    CU_ASSERT(!pp__ring_put(&r, buf, sizeof buf, &n) && n == 0);
    CU_ASSERT(!pp__ring_sleep(&r)); /* (nothing to read: the get says why) */
    atomic_store(&m.tail, 20 + 4096); /* exactly full: fine */
    CU_ASSERT(pp__ring_avail(&r, &k) && k == 4096);
    CU_ASSERT(pp__ring_sleep(&r));
}

/* The consumer's flag as the producer reads it: awake (no ring), asleep (ring now), napping
 * (a ring may wait: pp__ring_put_naps), and any other value the other process wrote there
 * counts as asleep; pp__ring_nap, like pp__ring_sleep, says whether bytes are there. */
static void test_ring_nap(void)
{
    ring_mem m;
    pp__ring r;
    ring_of(&m, &r, 4096);
    uint8_t b = 1;
    size_t n = 0;
    CU_ASSERT(!pp__ring_put_wakes(&r) && !pp__ring_put_naps(&r));
    CU_ASSERT_FALSE(pp__ring_nap(&r)); /* empty: the nap goes ahead */
    CU_ASSERT(!pp__ring_put_wakes(&r) && pp__ring_put_naps(&r));
    CU_ASSERT(pp__ring_put(&r, &b, 1, &n) && n == 1);
    CU_ASSERT(!pp__ring_put_wakes(&r) && pp__ring_put_naps(&r));
    pp__ring_awake(&r);
    CU_ASSERT(!pp__ring_put_wakes(&r) && !pp__ring_put_naps(&r));
    CU_ASSERT_TRUE(pp__ring_nap(&r)); /* a byte is there: no nap */
    pp__ring_awake(&r);
    CU_ASSERT_TRUE(pp__ring_sleep(&r));
    CU_ASSERT(pp__ring_put_wakes(&r) && !pp__ring_put_naps(&r));
    atomic_store(&m.sleeping, 7); /* scribbled: rung, as for a sleeper */
    CU_ASSERT(pp__ring_put_wakes(&r) && !pp__ring_put_naps(&r));
}

/* A wake-up: a count of bells, waited for with a bound (a lost wake-up fails the test
 * instead of hanging it). */
typedef struct bell {
    apr_thread_mutex_t *m;
    apr_thread_cond_t  *c;
    unsigned            n;
} bell;

static void bell_ring(bell *b)
{
    apr_thread_mutex_lock(b->m);
    b->n++;
    apr_thread_cond_signal(b->c);
    apr_thread_mutex_unlock(b->m);
}

static bool bell_wait(bell *b)
{
    bool ok = true;
    apr_thread_mutex_lock(b->m);
    long long until = pp_t_now_ms() + PP_T_TIMEOUT_MS;
    while (!b->n && ok) {
        long long left = until - pp_t_now_ms();
        ok = left > 0 &&
             (apr_thread_cond_timedwait(b->c, b->m, (apr_interval_time_t)left * 1000) ==
                  APR_SUCCESS ||
              b->n);
    }
    b->n = 0;
    apr_thread_mutex_unlock(b->m);
    return ok;
}

typedef struct ring_stream {
    pp__ring       r;
    bell           to_consumer, to_producer;
    const uint8_t *src;
    size_t         len;
    atomic_int     lost; /* a bell waited for in vain */
    unsigned long  sleeps, waits;
} ring_stream;

static void ring_producer(void *arg)
{
    ring_stream *s = arg;
    size_t off = 0;
    unsigned seed = 7;
    while (off < s->len && !atomic_load(&s->lost)) {
        seed = seed * 1103515245u + 12345u;
        /* (with a rewind, small puts: each skips once the consumer is close behind) */
        size_t want = 1 + (seed >> 16) % (s->r.rewind ? 300 : 3000), n = 0;
        if (want > s->len - off)
            want = s->len - off;
        if (!pp__ring_put(&s->r, s->src + off, want, &n))
            break;
        off += n;
        if (n && pp__ring_put_wakes(&s->r))
            bell_ring(&s->to_consumer);
        if (!n) { /* full: the producer's side of the protocol, as the manager's */
            if (!pp__ring_wait(&s->r)) {
                s->waits++;
                if (!bell_wait(&s->to_producer))
                    atomic_store(&s->lost, 1);
            }
            pp__ring_unwait(&s->r);
        }
    }
}

/* Two threads stream 4 MiB through a 4 KiB ring, each blocking when the other must go on
 * (empty, full), woken only as the flags say: every byte arrives in order, and no wake-up
 * is lost (each wait is bounded). With a rewind, through whatever skips the threads'
 * timing allows too. */
static void ring_threads(uint64_t rewind)
{
    apr_pool_t *pool = NULL;
    CU_ASSERT_FATAL(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    ring_mem *m = malloc(sizeof *m);
    ring_stream *s = calloc(1, sizeof *s);
    size_t len = (size_t)4 << 20;
    uint8_t *src = malloc(len), *dst = malloc(len);
    CU_ASSERT_FATAL(m && s && src && dst);
    for (size_t i = 0; i < len; i++)
        src[i] = (uint8_t)(i * 31 + (i >> 12));
    ring_of(m, &s->r, sizeof m->data);
    s->r.rewind = rewind;
    s->src = src;
    s->len = len;
    bell *bells[2] = {&s->to_consumer, &s->to_producer};
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_FATAL(apr_thread_mutex_create(&bells[i]->m, APR_THREAD_MUTEX_DEFAULT, pool) ==
                        APR_SUCCESS);
        CU_ASSERT_FATAL(apr_thread_cond_create(&bells[i]->c, pool) == APR_SUCCESS);
    }
    pp_t_thread *t = pp_t_thread_start(ring_producer, s);
    size_t off = 0;
    unsigned seed = 3;
    while (off < len && !atomic_load(&s->lost)) {
        seed = seed * 1103515245u + 12345u;
        size_t cap = 1 + (seed >> 16) % 5000, n = 0;
        if (cap > len - off)
            cap = len - off;
        CU_ASSERT_FATAL(pp__ring_get(&s->r, dst + off, cap, &n));
        off += n;
        if (n && pp__ring_get_wakes(&s->r))
            bell_ring(&s->to_producer);
        if (!n) { /* empty: the consumer's side, as a worker's */
            if (!pp__ring_sleep(&s->r)) {
                s->sleeps++;
                if (!bell_wait(&s->to_consumer))
                    atomic_store(&s->lost, 1);
            }
            pp__ring_awake(&s->r);
        }
    }
    if (atomic_load(&s->lost))
        bell_ring(&s->to_producer); /* (let it end) */
    pp_t_thread_join(t);
    CU_ASSERT_EQUAL(atomic_load(&s->lost), 0);
    CU_ASSERT_EQUAL(off, len);
    CU_ASSERT(memcmp(src, dst, len) == 0);
    CU_ASSERT(s->sleeps + s->waits > 0); /* the protocol was exercised, not just polled */
    if (!rewind)
        CU_ASSERT_EQUAL(atomic_load(&m->skip), 0);
    /* (whether a skip happened depends on how the threads ran: ring_order and
     * test_ring_rewind say that they happen) */
    free(src);
    free(dst);
    free(s);
    free(m);
    apr_pool_destroy(pool);
}

static void test_ring_threads(void)
{
    ring_threads(0);
    ring_threads(1024);
}

static CU_TestInfo tests[] = {
    {"header layout and checks", test_header_bytes},
    {"CALL exact bytes", test_call_exact_bytes},
    {"RESULT exact bytes", test_result_exact_bytes},
    {"RESULT with its data sent after the frame: the same bytes", test_result_split_bytes},
    {"map chunk pieces: item_put, set_n, check_items, assembled bodies", test_chunk_pieces},
    {"EXITING exact bytes, round trip, body length", test_exiting_bytes},
    {"CRASH exact bytes, round trip, cut text, body length", test_crash_bytes},
    {"CALL round trip (0-length, n=1, n=1000)", test_call_round_trip},
    {"CALL round trip with a 64 MiB argument", test_call_round_trip_64mib},
    {"RESULT round trip (every status, n=1000)", test_result_round_trip},
    {"RESULT view of an accepted body: argument checks", test_view_result_args},
    {"RESULT round trip with a 64 MiB item", test_result_round_trip_64mib},
    {"INIT round trip", test_init_round_trip},
    {"READY, STOP, INITERR round trip", test_ready_stop_initerr_round_trip},
    {"every truncation is rejected", test_truncations},
    {"bad headers are rejected", test_bad_header},
    {"bad CALL bodies are rejected", test_bad_call},
    {"bad RESULT bodies are rejected", test_bad_result},
    {"bad INIT, INITERR, READY bodies are rejected", test_bad_init_initerr_ready},
    {"call size overflow gives SIZE_MAX", test_call_size_overflow},
    {"growable buffer and encoder argument checks", test_wbuf_and_encoder_args},
    {"64 MiB calls and results both ways at once, max_workers + 1 in flight",
     test_big_both_directions},
    {"checksum of a 64 MiB argument", test_big_checksum},
    {"spin policy: PROCPOOL_SPIN_US values", test_spin_parse},
    {"spin policy: polls only after short waits, stops after long ones", test_spin_policy},
    {"spin poll: looks until ready, within the policy and the limit", test_spin_poll},
    {"results around the direct-write size, alone and in a chunk",
     test_results_around_direct_size},
    {"ring: bytes in order through many wraps (and skips)", test_ring_order},
    {"ring: a producer skips to the start while little is unread", test_ring_rewind},
    {"ring: full and empty", test_ring_full_empty},
    {"ring: scribbled counters are refused", test_ring_corrupt},
    {"ring: a napping consumer need not be rung at once", test_ring_nap},
    {"ring: two threads stream 4 MiB, blocking and woken as the flags say",
     test_ring_threads},
    CU_TEST_INFO_NULL,
};

const CU_SuiteInfo pp_suite_protocol = {"protocol", NULL, NULL, NULL, NULL, tests};
