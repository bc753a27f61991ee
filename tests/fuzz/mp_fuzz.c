// mp_fuzz.c - fuzz the bounds-checked msgpack reader (serialize/mp.h):
// sl__mpr_peek, each typed reader and sl__mpr_skip, over arbitrary bytes.
// SPDX-License-Identifier: MIT
//
// Design notes. The first input byte is the max_depth given to
// sl__mpr_skip (0 to 66, past the reader's own cap of 64); the rest is the
// buffer, which ends where libFuzzer's allocation ends, so a read past it
// is an ASan report. At each position of a walk that steps into arrays and
// maps, every reader runs on a copy of the reader. Oracles:
// - A reader that fails leaves the reader unchanged; one that succeeds
//   moves it forward, never past the end, and agrees with sl__mpr_peek.
// - A body (str, bin, ext) ends where the reader stops.
// - The integer readers agree with each other and with sl__mpr_f64.
// - sl__mpr_skip reports as the item's length exactly the bytes it
//   consumed; it accepts whatever a scalar reader accepts, over the same
//   bytes; and a larger depth never refuses what a smaller one accepted.
// - msgpack-c's own unpacker reads an item that sl__mpr_skip accepted
//   (at depth 16, well inside msgpack-c's stack) over the same bytes and
//   to the same values. The other way round is not asked: msgpack-c
//   allocates what a header claims before it sees the bytes.
#include <math.h>

#include "fuzzutil.h"

// At most this many positions per input: a walk is linear anyway.
#define S_MAX_STEPS 4096

typedef struct {
    bool ok;
    sl__mpr after; // the reader after the call (unchanged on failure)
} s_try;

static void
s_check_moved(const sl__mpr *before, const s_try *t)
{
    SL_FUZZ_CHECK(t->after.end == before->end);
    if (!t->ok) {
        SL_FUZZ_CHECK(t->after.p == before->p);
        return;
    }
    SL_FUZZ_CHECK(t->after.p > before->p && t->after.p <= before->end);
}

// A body of len bytes at body ends the item the reader consumed.
static void
s_check_body(const sl__mpr *before, const s_try *t, const void *body,
             uint32_t len)
{
    if (!t->ok) {
        return;
    }
    const uint8_t *b = body;
    SL_FUZZ_CHECK(b > before->p && b <= t->after.p);
    SL_FUZZ_CHECK((size_t) (t->after.p - b) == len);
}

// Skip at max_depth; the same item skips with NULL outputs and at depth
// 64 too.
static void
s_check_skip(const sl__mpr *before, int max_depth, s_try *out)
{
    sl__mpr r = *before;
    const uint8_t *start = NULL;
    size_t len = 0;
    out->ok = sl__mpr_skip(&r, max_depth, &start, &len) == 0;
    out->after = r;
    s_check_moved(before, out);
    if (out->ok) {
        SL_FUZZ_CHECK(start == before->p);
        SL_FUZZ_CHECK(len == (size_t) (r.p - before->p));
        // NULL outputs are allowed and change nothing.
        sl__mpr r2 = *before;
        SL_FUZZ_CHECK(sl__mpr_skip(&r2, max_depth, NULL, NULL) == 0);
        SL_FUZZ_CHECK(r2.p == r.p);
        // More depth never refuses what less accepted.
        sl__mpr r3 = *before;
        SL_FUZZ_CHECK(sl__mpr_skip(&r3, 64, NULL, NULL) == 0);
        SL_FUZZ_CHECK(r3.p == r.p);
    }
}

// The integer readers agree.
static void
s_check_ints(const sl__mpr *at, sl__mp_kind kind)
{
    sl__mpr ru = *at, ri = *at, r32 = *at, rf = *at;
    uint64_t u = 0;
    int64_t i = 0;
    uint32_t u32 = 0;
    double f = 0;
    s_try tu = {sl__mpr_u64(&ru, &u) == 0, ru};
    s_try ti = {sl__mpr_i64(&ri, &i) == 0, ri};
    s_try t32 = {sl__mpr_u32(&r32, &u32) == 0, r32};
    s_try tf = {sl__mpr_f64(&rf, &f) == 0, rf};
    s_check_moved(at, &tu);
    s_check_moved(at, &ti);
    s_check_moved(at, &t32);
    s_check_moved(at, &tf);
    SL_FUZZ_CHECK(!tu.ok || kind == SL_MP_INT);
    SL_FUZZ_CHECK(!ti.ok || kind == SL_MP_INT);
    SL_FUZZ_CHECK(!tf.ok || kind == SL_MP_INT || kind == SL_MP_FLOAT);
    if (tu.ok && ti.ok) {
        SL_FUZZ_CHECK(i >= 0 && (uint64_t) i == u && ru.p == ri.p);
    }
    SL_FUZZ_CHECK(t32.ok == (tu.ok && u <= UINT32_MAX));
    if (t32.ok) {
        SL_FUZZ_CHECK(u32 == u && r32.p == ru.p);
    }
    if (kind == SL_MP_INT) {
        // Every integer is a uint64 or an int64, unless it is truncated;
        // as a double it is the nearest one.
        SL_FUZZ_CHECK(tf.ok == (tu.ok || ti.ok));
        if (tf.ok) {
            SL_FUZZ_CHECK(f == (tu.ok ? (double) u : (double) i));
            SL_FUZZ_CHECK(rf.p == (tu.ok ? ru.p : ri.p));
        }
    }
}

// The same body: the same length and, unless empty (msgpack-c then may
// give any pointer), the same bytes of the buffer.
static bool
s_same_body(const void *ours, uint32_t n, const char *theirs, uint32_t size)
{
    return n == size && (n == 0 || (const char *) ours == theirs);
}

// Compare one item with msgpack-c's reading of the same bytes.
static void
s_check_msgpack_c(const sl__mpr *at, const s_try *skip16)
{
    if (!skip16->ok) {
        return;
    }
    size_t len = (size_t) (skip16->after.p - at->p);
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    msgpack_unpack_return ret =
        msgpack_unpack_next(&u, (const char *) at->p, sl__mpr_left(at), &off);
    SL_FUZZ_CHECK(ret == MSGPACK_UNPACK_SUCCESS);
    SL_FUZZ_CHECK(off == len);
    const msgpack_object *o = &u.data;
    sl__mpr r = *at;
    uint64_t uv;
    int64_t iv;
    double f;
    const char *s;
    const uint8_t *b;
    uint32_t n;
    int8_t type;
    bool flag;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        SL_FUZZ_CHECK(sl__mpr_nil(&r) == 0);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        SL_FUZZ_CHECK(sl__mpr_bool(&r, &flag) == 0 && flag == o->via.boolean);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        SL_FUZZ_CHECK(sl__mpr_u64(&r, &uv) == 0 && uv == o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        SL_FUZZ_CHECK(sl__mpr_i64(&r, &iv) == 0 && iv == o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        SL_FUZZ_CHECK(sl__mpr_f64(&r, &f) == 0);
        SL_FUZZ_CHECK(sl__fuzz_same_bits(f, o->via.f64) ||
                      (isnan(f) && isnan(o->via.f64)));
        break;
    case MSGPACK_OBJECT_STR:
        SL_FUZZ_CHECK(sl__mpr_str(&r, &s, &n) == 0);
        SL_FUZZ_CHECK(s_same_body(s, n, o->via.str.ptr, o->via.str.size));
        break;
    case MSGPACK_OBJECT_BIN:
        SL_FUZZ_CHECK(sl__mpr_bin(&r, &b, &n) == 0);
        SL_FUZZ_CHECK(s_same_body(b, n, o->via.bin.ptr, o->via.bin.size));
        break;
    case MSGPACK_OBJECT_EXT:
        SL_FUZZ_CHECK(sl__mpr_ext(&r, &type, &b, &n) == 0);
        SL_FUZZ_CHECK(type == o->via.ext.type &&
                      s_same_body(b, n, o->via.ext.ptr, o->via.ext.size));
        break;
    case MSGPACK_OBJECT_ARRAY:
        SL_FUZZ_CHECK(sl__mpr_array(&r, &n) == 0 && n == o->via.array.size);
        break;
    case MSGPACK_OBJECT_MAP:
        SL_FUZZ_CHECK(sl__mpr_map(&r, &n) == 0 && n == o->via.map.size);
        break;
    }
    msgpack_unpacked_destroy(&u);
}

// Run the typed readers that are not integers at at. Sets *scalar to the
// end of a scalar item that one of them read, and *header to the reader
// past an array or map header.
static void
s_check_typed(const sl__mpr *at, sl__mp_kind kind, s_try *scalar, s_try *header)
{
    static const sl__mp_kind kinds[] = {SL_MP_NIL, SL_MP_BOOL, SL_MP_STR,
                                        SL_MP_BIN, SL_MP_EXT,  SL_MP_ARRAY,
                                        SL_MP_MAP};
    sl__mpr r[7] = {*at, *at, *at, *at, *at, *at, *at};
    bool flag;
    const char *s = NULL;
    const uint8_t *b = NULL, *e = NULL;
    uint32_t slen = 0, blen = 0, elen = 0, an = 0, mn = 0;
    int8_t type;
    bool ok[7] = {
        sl__mpr_nil(&r[0]) == 0,
        sl__mpr_bool(&r[1], &flag) == 0,
        sl__mpr_str(&r[2], &s, &slen) == 0,
        sl__mpr_bin(&r[3], &b, &blen) == 0,
        sl__mpr_ext(&r[4], &type, &e, &elen) == 0,
        sl__mpr_array(&r[5], &an) == 0,
        sl__mpr_map(&r[6], &mn) == 0,
    };
    for (int i = 0; i < 7; i++) {
        s_try t = {ok[i], r[i]};
        s_check_moved(at, &t);
        SL_FUZZ_CHECK(!ok[i] || kind == kinds[i]);
        if (ok[i]) {
            *(i < 5 ? scalar : header) = t;
        }
    }
    s_check_body(at, &(s_try){ok[2], r[2]}, s, slen);
    s_check_body(at, &(s_try){ok[3], r[3]}, b, blen);
    s_check_body(at, &(s_try){ok[4], r[4]}, e, elen);
    // A header's count fits in what is left (one byte an element).
    SL_FUZZ_CHECK(!ok[5] || an <= sl__mpr_left(&r[5]));
    SL_FUZZ_CHECK(!ok[6] || (uint64_t) mn * 2 <= sl__mpr_left(&r[6]));
}

// The end of a number at at, read as an integer or else as a float.
static void
s_number_end(const sl__mpr *at, s_try *scalar)
{
    sl__mpr r = *at;
    uint64_t u;
    int64_t i;
    double f;
    if (sl__mpr_u64(&r, &u) == 0 || sl__mpr_i64(&r, &i) == 0 ||
        sl__mpr_f64(&r, &f) == 0) {
        *scalar = (s_try){true, r};
    }
}

// Run every reader at at. Returns the reader moved past the item (or into
// a container, past its header), or with p == NULL when nothing reads.
static sl__mpr
s_step(const sl__mpr *at, int max_depth)
{
    sl__mp_kind kind = sl__mpr_peek(at);
    s_try scalar = {false, *at}, header = {false, *at}, skip, skip16;
    s_check_typed(at, kind, &scalar, &header);
    s_check_ints(at, kind);
    s_number_end(at, &scalar);
    s_check_skip(at, max_depth, &skip);
    s_check_skip(at, 16, &skip16);
    if (scalar.ok) {
        SL_FUZZ_CHECK(skip.ok && skip.after.p == scalar.after.p);
    }
    if (kind == SL_MP_INVALID) {
        SL_FUZZ_CHECK(!skip.ok && !scalar.ok && !header.ok);
    }
    s_check_msgpack_c(at, &skip16);
    // Step inside containers, so that every nested item gets its turn.
    if (header.ok) {
        return header.after;
    }
    if (scalar.ok) {
        return scalar.after;
    }
    return (sl__mpr){NULL, NULL};
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    int max_depth = data[0] % 67;
    sl__mpr r;
    sl__mpr_init(&r, data + 1, size - 1);
    for (int steps = 0; steps < S_MAX_STEPS && sl__mpr_left(&r) > 0; steps++) {
        sl__mpr next = s_step(&r, max_depth);
        if (next.p == NULL) {
            break;
        }
        r = next;
    }
    // The end of the buffer: no reader reads there.
    sl__mpr end = {data + size, data + size};
    SL_FUZZ_CHECK(sl__mpr_peek(&end) == SL_MP_INVALID);
    SL_FUZZ_CHECK(s_step(&end, max_depth).p == NULL);
    return 0;
}
