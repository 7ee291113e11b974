#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_wire: one valid frame of each message type (and a few
variants), as the wire protocol in src/core/wire.h lays them out. Run from anywhere:
    python3 fuzz/make_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
MAGIC = 0x50500000
INIT, CALL, STOP, READY, INITERR, RESULT, EXITING, SHM, CRASH, SEG = (MAGIC | i for i in range(1, 11))
PP_OK, PP_ENOMEM, PP_ETASK, PP_ENOTASK = 0, 3, 8, 9


def frame(t, body, flags=0):
    return struct.pack("<IIQ", t, flags, len(body)) + body


def s(b):
    return struct.pack("<I", len(b)) + b


def b(x):
    return struct.pack("<Q", len(x)) + x


def item(status, code, data):
    return struct.pack("<Ii", status, code) + b(data)


seeds = {
    "call_one": frame(CALL, struct.pack("<Q", 7) + s(b"square") + struct.pack("<I", 1) + b(b"\x05\x00\x00\x00")),
    "call_chunk": frame(CALL, struct.pack("<Q", 8) + s(b"echo") + struct.pack("<I", 3)
                        + b(b"a") + b(b"") + b(b"xyz" * 10)),
    "result_ok": frame(RESULT, struct.pack("<QI", 7, 1) + item(PP_OK, 0, b"\x19\x00\x00\x00")),
    "result_mixed_last": frame(RESULT, struct.pack("<QI", 8, 3) + item(PP_OK, 0, b"a")
                               + item(PP_ETASK, -3, b"negative: -3") + item(PP_ENOTASK, 0, b"nope"),
                               flags=1),
    "init_none": frame(INIT, struct.pack("<I", 0) + s(b"") + b(b"")),
    "init_named": frame(INIT, struct.pack("<I", 3) + s(b"init_set") + b(b"abc")),
    "ready": frame(READY, struct.pack("<Q", 4242)),
    "exiting": frame(EXITING, struct.pack("<i", -3)),
    "initerr": frame(INITERR, item(PP_ETASK, 1, b"initializer failed")),
    "stop": frame(STOP, b""),
    "shm": frame(SHM, struct.pack("<QQ", 0x1234, 4096)),
    "seg_call": frame(SEG, struct.pack("<QQQQ", 0x88, 5 << 30, 3, (5 << 30) - 100)),
    "seg_result": frame(SEG, struct.pack("<QQQQ", 0, 262144, 4, 0)),
    "result_in_seg": frame(RESULT, struct.pack("<QQQ", 4, 67174400, 67108908), flags=5),
    "crash": frame(CRASH, struct.pack("<I", 11) + b(b"#0 ./app(+0x1234)[0x55d0c0de1234]\n"
                                                     b"#1 /lib/libc.so.6(+0x3c050)[0x7f0000003c05]\n")),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print("wrote %d seeds to %s" % (len(seeds), OUT))
