/*
 * libFuzzer target for the wire decoder (src/core/wire.c): a frame as the manager or a
 * worker would receive it. Properties checked beyond "no crash, no out-of-bounds read" (the
 * sanitizers see those):
 *   - a header is accepted only with a body length within the limit given;
 *   - every decoder accepts a body only if it is exactly as long as its fields say: what a
 *     decoder accepts re-encodes to the same bytes (CALL, RESULT, INIT, READY, INITERR, CRASH);
 *   - the views a decoder returns lie inside the body.
 *
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DPP_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_wire
 *   build-fuzz/fuzz_wire -max_total_time=60 <work-dir> fuzz/corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pp_core.h"
#include "wire.h"

#define LIMIT (1u << 20) /* the body limit this target decodes with */

#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c))                                                                              \
            abort();                                                                           \
    } while (0)

static void check_inside(const void *p, size_t n, const uint8_t *body, size_t len)
{
    if (n == 0)
        return;
    const uint8_t *q = p;
    CHECK(q >= body && n <= len && q - body <= (ptrdiff_t)(len - n));
}

static void same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    CHECK(alen == blen && memcmp(a, b, alen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PP__WIRE_HDR)
        return 0;
    pp__wire_hdr h;
    if (pp__wire_get_hdr(data, LIMIT, &h) != PP_OK)
        return 0;
    CHECK(h.body_len <= LIMIT);
    const uint8_t *body = data + PP__WIRE_HDR;
    size_t len = size - PP__WIRE_HDR;
    if (h.body_len != len)
        return 0; /* the reader would wait for more, or read the rest as the next frame */
    pp__wbuf out = {NULL, 0, 0};

    switch (h.type) {
    case PP__MSG_CALL: {
        pp__wire_call c;
        if (pp__wire_decode_call(body, len, &c) != PP_OK)
            break;
        CHECK(c.n >= 1 && c.name_len >= 1);
        check_inside(c.name, c.name_len, body, len);
        pp_buf *args = malloc(c.n * sizeof *args);
        CHECK(args != NULL);
        pp__wire_cur cur = c.args;
        for (uint32_t i = 0; i < c.n; i++) {
            pp__wire_next_arg(&cur, &args[i]);
            check_inside(args[i].data, args[i].len, body, len);
        }
        size_t fl = pp__wire_call_size(c.name_len, args, c.n);
        CHECK(fl == size);
        uint8_t *frame = malloc(fl);
        CHECK(frame != NULL);
        pp__wire_encode_call(frame, c.work_id, c.name, c.name_len, args, c.n);
        same(frame, fl, data, size);
        free(frame);
        free(args);
        break;
    }
    case PP__MSG_RESULT: {
        pp__wire_result r;
        if (h.flags & PP__MSGF_SEG) { /* a reference to a RESULT in a payload segment */
            pp__wire_seg sg;
            if (pp__wire_decode_segref(body, len, &sg) != PP_OK)
                break;
            CHECK(sg.seg_id != 0 && sg.frame_len >= PP__WIRE_HDR && sg.frame_len <= sg.size);
            uint8_t f[PP__WIRE_SEGREF_LEN];
            pp__wire_encode_segref(f, h.flags & ~PP__MSGF_SEG, sg.seg_id, sg.size, sg.frame_len);
            same(f, sizeof f, data, size);
            break;
        }
        if (pp__wire_decode_result(body, len, &r) != PP_OK)
            break;
        CHECK(r.n >= 1);
        pp__wire_result v; /* the view of an accepted body is the same */
        CHECK(pp__wire_view_result(body, len, &v) == PP_OK);
        CHECK(v.work_id == r.work_id && v.n == r.n && v.items.p == r.items.p &&
              v.items.left == r.items.left);
        pp__wire_cur items; /* its items alone, as a dead worker's shared block holds them */
        CHECK(pp__wire_check_items(r.items.p, len - (size_t)(r.items.p - body), r.n,
                                   &items) == PP_OK);
        CHECK(items.p == r.items.p && items.left == r.n);
        CHECK(pp__wire_result_begin(&out, r.work_id, r.n) == PP_OK);
        pp__wire_cur cur = r.items;
        for (uint32_t i = 0; i < r.n; i++) {
            pp__wire_item it;
            pp__wire_next_item(&cur, &it);
            check_inside(it.data, it.len, body, len);
            CHECK(pp__wire_result_item(&out, it.status, it.code, it.data, it.len) == PP_OK);
        }
        pp__wire_result_end(&out, h.flags);
        same(out.data, out.len, data, size);
        break;
    }
    case PP__MSG_INIT: {
        pp__wire_init in;
        if (pp__wire_decode_init(body, len, &in) != PP_OK)
            break;
        check_inside(in.name, in.name_len, body, len);
        check_inside(in.initargs.data, in.initargs.len, body, len);
        char *name = NULL;
        if (in.name_len) {
            if (memchr(in.name, 0, in.name_len))
                break; /* the encoder takes a C string: such a name cannot round-trip */
            name = pp__strndup(in.name, in.name_len);
            CHECK(name != NULL);
        }
        CHECK(pp__wire_encode_init(&out, in.max_tasks, name, in.initargs.data,
                                   in.initargs.len) == PP_OK);
        same(out.data, out.len, data, size);
        pp__free(name);
        break;
    }
    case PP__MSG_READY: {
        uint64_t pid;
        if (pp__wire_decode_ready(body, len, &pid) != PP_OK)
            break;
        CHECK(pp__wire_encode_ready(&out, pid) == PP_OK);
        same(out.data, out.len, data, size);
        break;
    }
    case PP__MSG_INITERR: {
        pp__wire_item it;
        if (pp__wire_decode_initerr(body, len, &it) != PP_OK)
            break;
        check_inside(it.data, it.len, body, len);
        CHECK(pp__wire_encode_initerr(&out, it.status, it.code, it.data, it.len) == PP_OK);
        same(out.data, out.len, data, size);
        break;
    }
    case PP__MSG_EXITING: {
        int32_t code;
        if (pp__wire_decode_exiting(body, len, &code) != PP_OK)
            break;
        uint8_t f[PP__WIRE_EXITING_LEN];
        pp__wire_encode_exiting(f, code);
        same(f, sizeof f, data, size);
        break;
    }
    case PP__MSG_CRASH: {
        uint32_t code;
        const char *text;
        size_t tl;
        if (pp__wire_decode_crash(body, len, &code, &text, &tl) != PP_OK)
            break;
        check_inside(text, tl, body, len);
        uint8_t *f = malloc(size);
        CHECK(f != NULL);
        CHECK(pp__wire_encode_crash(f, size, code, text, tl) == size);
        same(f, size, data, size);
        free(f);
        break;
    }
    case PP__MSG_SHM: {
        uint64_t token, sz;
        if (pp__wire_decode_shm(body, len, &token, &sz) != PP_OK)
            break;
        uint8_t f[PP__WIRE_SHM_LEN];
        pp__wire_encode_shm(f, token, sz);
        same(f, sizeof f, data, size);
        break;
    }
    case PP__MSG_SEG: {
        pp__wire_seg sg;
        if (pp__wire_decode_seg(body, len, &sg) != PP_OK)
            break;
        CHECK(sg.seg_id != 0 && sg.size != 0 && sg.frame_len <= sg.size);
        uint8_t f[PP__WIRE_SEG_LEN];
        pp__wire_encode_seg(f, sg.token, sg.size, sg.seg_id, sg.frame_len);
        same(f, sizeof f, data, size);
        break;
    }
    case PP__MSG_STOP:
        CHECK(pp__wire_encode_stop(&out) == PP_OK);
        same(out.data, out.len, data, size);
        break;
    default:
        CHECK(0); /* get_hdr accepted an unknown type */
    }
    pp__free(out.data);
    return 0;
}
