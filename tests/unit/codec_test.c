// codec_test.c - values to msgpack and back, and every way a peer's bytes
// can be wrong.
// SPDX-License-Identifier: MIT
#include <float.h>
#include <math.h>

#include "serialize/codec.h"
#include "testutil.h"

// A heap copy of exactly len bytes, so that AddressSanitizer catches any
// read past the end.
static uint8_t *
s_dup(const void *buf, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    SL_ASSERT(p != NULL);
    if (len > 0) {
        memcpy(p, buf, len);
    }
    return p;
}

// The same value, down to the bits of every float.
static bool
s_same(const sl_value *a, const sl_value *b)
{
    size_t la, lb;
    if (sl_value_type(a) != sl_value_type(b)) {
        return false;
    }
    switch (sl_value_type(a)) {
    case SL_NIL:
        return true;
    case SL_BOOL:
        return sl_value_bool(a) == sl_value_bool(b);
    case SL_INT:
        return sl_value_int(a) == sl_value_int(b);
    case SL_FLOAT: {
        double x = sl_value_float(a), y = sl_value_float(b);
        return memcmp(&x, &y, sizeof(x)) == 0;
    }
    case SL_STR: {
        const char *x = sl_value_str(a, &la), *y = sl_value_str(b, &lb);
        return la == lb && memcmp(x, y, la) == 0 && y[lb] == '\0';
    }
    case SL_BYTES: {
        const void *x = sl_value_bytes(a, &la), *y = sl_value_bytes(b, &lb);
        return la == lb && (la == 0 || memcmp(x, y, la) == 0);
    }
    case SL_NDARRAY:
        if (sl_ndarray_dtype(a) != sl_ndarray_dtype(b) ||
            sl_ndarray_ndim(a) != sl_ndarray_ndim(b) ||
            sl_ndarray_nbytes(a) != sl_ndarray_nbytes(b)) {
            return false;
        }
        for (int i = 0; i < sl_ndarray_ndim(a); i++) {
            if (sl_ndarray_dim(a, i) != sl_ndarray_dim(b, i)) {
                return false;
            }
        }
        return memcmp(sl_ndarray_cdata(a), sl_ndarray_cdata(b),
                      sl_ndarray_nbytes(a)) == 0;
    case SL_REF:
        return strcmp(sl_ref_key(a), sl_ref_key(b)) == 0 &&
               sl_ref_size(a) == sl_ref_size(b) &&
               sl_ref_shard(a) == sl_ref_shard(b);
    case SL_FUTURE:
        return sl_future_job(a) == sl_future_job(b) &&
               sl_future_index(a) == sl_future_index(b);
    case SL_LIST:
        if (sl_value_list_size(a) != sl_value_list_size(b)) {
            return false;
        }
        for (size_t i = 0; i < sl_value_list_size(a); i++) {
            if (!s_same(sl_value_list_at(a, i), sl_value_list_at(b, i))) {
                return false;
            }
        }
        return true;
    case SL_MAP:
        if (sl_value_map_size(a) != sl_value_map_size(b)) {
            return false;
        }
        for (size_t i = 0; i < sl_value_map_size(a); i++) {
            if (strcmp(sl_value_map_key_at(a, i), sl_value_map_key_at(b, i)) !=
                    0 ||
                !s_same(sl_value_map_value_at(a, i),
                        sl_value_map_value_at(b, i))) {
                return false;
            }
        }
        return true;
    }
    return false;
}

// Decode buf expecting want; *out must stay untouched and errbuf must say
// something. Returns errbuf for further checks.
static const char *
s_decode_fails(const void *buf, size_t len, const sl__limits *lim, sl_err want)
{
    static char errbuf[SL_ERRSTR_LEN];
    sl_value *sentinel = (sl_value *) &errbuf; // any non-NULL address
    sl_value *out = sentinel;
    uint8_t *p = s_dup(buf, len);
    SL_FAILS(sl__value_decode_buf(p, len, lim, NULL, &out, errbuf), want);
    SL_ASSERT(out == sentinel);
    SL_ASSERT(errbuf[0] != '\0');
    free(p);
    return errbuf;
}

// Every strict prefix of a valid encoding fails cleanly (long encodings
// are cut near both ends and at a few points between).
static void
s_check_truncations(const uint8_t *buf, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        if (len > 4096 && k >= 256 && k < len - 256) {
            k = k * 2 < len - 256 ? k * 2 : len - 256;
        }
        s_decode_fails(buf, k, NULL, SL_EPROTO);
    }
}

// Encode v, decode it again (also one byte at a time short), and check it
// is the same value. Consumes v.
static void
s_round_trip(sl_value *v)
{
    void *buf;
    size_t len;
    char errbuf[SL_ERRSTR_LEN];
    SL_ASSERT(v != NULL);
    SL_PASS(sl__value_encode(v, &buf, &len));
    sl_value *back = NULL;
    SL_PASS(sl__value_decode_buf(buf, len, NULL, NULL, &back, errbuf));
    SL_ASSERT(s_same(v, back));
    s_check_truncations(buf, len);
    sl_value_destroy(&back);
    sl_value_destroy(&v);
    SL_ASSERT(v == NULL);
    free(buf);
}

static void
test_codec_scalars(void)
{
    s_round_trip(sl_value_new_nil());
    s_round_trip(sl_value_new_bool(true));
    s_round_trip(sl_value_new_bool(false));
    static const int64_t ints[] = {
        INT64_MIN, INT64_MIN + 1, -2147483649ll, INT32_MIN, -32769, -32768,
        -129,      -128,          -33,           -32,       -1,     0,
        1,         127,           128,           255,       256,    65535,
        65536,     UINT32_MAX,    1ll << 32,     INT64_MAX};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        s_round_trip(sl_value_new_int(ints[i]));
    }
    static const double floats[] = {
        0.0, -0.0, 1.5, -1e300, DBL_MIN / 4, DBL_MAX, INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
        s_round_trip(sl_value_new_float(floats[i]));
    }
}

// Other peers may pack numbers in any width: all decode to int or float.
static void
test_codec_scalars_any_width(void)
{
    static const uint8_t u64_small[] = {0xcf, 0, 0, 0, 0, 0, 0, 0, 5};
    static const uint8_t i64_pos[] = {0xd3, 0x7f, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff};
    static const uint8_t f32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00};
    char errbuf[SL_ERRSTR_LEN];
    sl_value *v = NULL;
    SL_PASS(sl__value_decode_buf(u64_small, sizeof(u64_small), NULL, NULL, &v,
                                 errbuf));
    SL_ASSERT_EQ(sl_value_type(v), SL_INT);
    SL_ASSERT_EQ(sl_value_int(v), 5);
    sl_value_destroy(&v);
    SL_PASS(
        sl__value_decode_buf(i64_pos, sizeof(i64_pos), NULL, NULL, &v, errbuf));
    SL_ASSERT(sl_value_int(v) == INT64_MAX);
    sl_value_destroy(&v);
    SL_PASS(sl__value_decode_buf(f32, sizeof(f32), NULL, NULL, &v, errbuf));
    SL_ASSERT_EQ(sl_value_type(v), SL_FLOAT);
    SL_ASSERT(sl_value_float(v) == 1.5);
    sl_value_destroy(&v);
}

static void
test_codec_str_and_bytes(void)
{
    s_round_trip(sl_value_new_str(""));
    s_round_trip(sl_value_new_str("hello, world"));
    s_round_trip(sl__value_new_strn("a\0b\0", 4)); // NULs inside
    s_round_trip(sl_value_new_bytes(NULL, 0));
    s_round_trip(sl_value_new_bytes("\0\1\2\377", 4));
    static const size_t lens[] = {31, 32, 255, 256, 65535, 65536, 100000};
    char *text = malloc(100000);
    for (size_t i = 0; i < 100000; i++) {
        text[i] = (char) (i % 251);
    }
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        s_round_trip(sl__value_new_strn(text, lens[i]));
        s_round_trip(sl_value_new_bytes(text, lens[i]));
    }
    free(text);
    // The decoded string keeps its NULs and is terminated after them.
    void *buf;
    size_t len, n;
    char errbuf[SL_ERRSTR_LEN];
    sl_value *v = sl__value_new_strn("x\0y", 3), *back = NULL;
    SL_PASS(sl__value_encode(v, &buf, &len));
    SL_PASS(sl__value_decode_buf(buf, len, NULL, NULL, &back, errbuf));
    const char *s = sl_value_str(back, &n);
    SL_ASSERT_EQ(n, 3);
    SL_ASSERT(s[1] == '\0' && s[2] == 'y' && s[3] == '\0');
    sl_value_destroy(&v);
    sl_value_destroy(&back);
    free(buf);
}

static sl_value *
s_ndarray(sl_dtype dtype, int ndim, const int64_t *shape)
{
    size_t nbytes = sl__ndarray_nbytes(dtype, ndim, shape);
    uint8_t *data = malloc(nbytes > 0 ? nbytes : 1);
    for (size_t i = 0; i < nbytes; i++) {
        data[i] = (uint8_t) (i * 7 + 1);
    }
    sl_value *v = sl_value_new_ndarray(dtype, ndim, shape, data);
    free(data);
    SL_ASSERT(v != NULL);
    return v;
}

static void
test_codec_ndarray_every_dtype_and_rank(void)
{
    static const sl_dtype dtypes[] = {SL_F32, SL_F64, SL_I32, SL_I64};
    static const int64_t shapes[][4] = {
        {0}, {5}, {3, 4}, {2, 3, 2}, {2, 1, 3, 2},
    };
    // Zero-size dimensions anywhere.
    static const int64_t empty[][4] = {
        {0}, {0}, {3, 0}, {0, 2, 0}, {2, 0, 3, 1},
    };
    for (int d = 0; d < 4; d++) {
        for (int ndim = 0; ndim <= 4; ndim++) {
            sl_value *v = s_ndarray(dtypes[d], ndim, shapes[ndim]);
            SL_ASSERT_EQ(sl_ndarray_nbytes(v),
                         sl__ndarray_nbytes(dtypes[d], ndim, shapes[ndim]));
            s_round_trip(v);
            if (ndim > 0) {
                v = s_ndarray(dtypes[d], ndim, empty[ndim]);
                SL_ASSERT_EQ(sl_ndarray_size(v), 0);
                s_round_trip(v);
            }
        }
    }
    // From SL_ENCODE_SPLIT_MIN bytes on, the split encoding is the same
    // bytes in two pieces, the second being the array's own elements;
    // below it, and for anything else, the head is all of it.
    int64_t big_shape[] = {SL_ENCODE_SPLIT_MIN / 8, 1}, small_shape[] = {7};
    for (int k = 0; k < 2; k++) {
        sl_value *arr = k == 0 ? s_ndarray(SL_F64, 2, big_shape)
                               : s_ndarray(SL_F64, 1, small_shape);
        void *whole, *head;
        const void *tail;
        size_t whole_len, head_len, tail_len;
        SL_PASS(sl__value_encode(arr, &whole, &whole_len));
        SL_PASS(
            sl__value_encode_split(arr, &head, &head_len, &tail, &tail_len));
        SL_ASSERT_EQ(head_len + tail_len, whole_len);
        SL_ASSERT(memcmp(head, whole, head_len) == 0);
        if (k == 0) {
            SL_ASSERT(tail == sl_ndarray_cdata(arr));
            SL_ASSERT_EQ(tail_len, SL_ENCODE_SPLIT_MIN);
            SL_ASSERT(memcmp(tail, (uint8_t *) whole + head_len, tail_len) ==
                      0);
        } else {
            SL_ASSERT(tail == NULL && tail_len == 0);
        }
        free(whole);
        free(head);
        sl_value_destroy(&arr);
    }
    // A copied payload is 64-byte aligned.
    int64_t shape[] = {3};
    sl_value *v = s_ndarray(SL_F64, 1, shape), *back = NULL;
    void *buf;
    size_t len;
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(sl__value_encode(v, &buf, &len));
    SL_PASS(sl__value_decode_buf(buf, len, NULL, NULL, &back, errbuf));
    SL_ASSERT_EQ((uintptr_t) sl_ndarray_cdata(back) % 64, 0);
    SL_ASSERT_EQ(sl_ndarray_dim(back, 0), 3);
    SL_ASSERT_EQ(sl_ndarray_dtype(back), SL_F64);
    sl_value_destroy(&v);
    sl_value_destroy(&back);
    free(buf);
}

static void
test_codec_ref(void)
{
    s_round_trip(sl__value_new_ref("sl:j00000000000000ff:r7", 12345, 3));
    s_round_trip(sl__value_new_ref("k", 0, 0));
    s_round_trip(sl__value_new_ref("sl:s0000000000000001:9", UINT64_MAX, 15));
    char *key = malloc(65536);
    memset(key, 'k', 65535);
    key[65535] = '\0';
    s_round_trip(sl__value_new_ref(key, 1, 255)); // the longest key
    free(key);
}

// A future anywhere in a value: ext 3, sixteen bytes; any other length is
// malformed.
static void
test_codec_future(void)
{
    s_round_trip(sl__value_new_future(0x0123456789abcdefull, 7));
    s_round_trip(sl__value_new_future(UINT64_MAX, UINT64_MAX));
    sl_value *map = sl_value_new_map();
    sl_value *list = sl_value_new_list();
    sl_value *f = sl__value_new_future(42, 0);
    SL_PASS(sl_value_list_append(list, &f));
    SL_PASS(sl_value_map_set(map, "inputs", &list));
    s_round_trip(map);
    uint8_t short_ext[] = {0xd7, 3, 1, 2, 3, 4, 5, 6, 7, 8}; // fixext 8
    SL_ASSERT_HAS(s_decode_fails(short_ext, sizeof(short_ext), NULL, SL_EPROTO),
                  "future payload is not 16 bytes");
    // The bytes, as PROTOCOL.md's peers must write them: fixext 16 of
    // type 3, job then index, little endian.
    static const uint8_t want[] = {0xd8, 3, 8, 7, 6, 5, 4, 3, 2,
                                   1,    9, 0, 0, 0, 0, 0, 0, 0};
    void *enc;
    size_t enc_len;
    f = sl__value_new_future(0x0102030405060708ull, 9);
    SL_PASS(sl__value_encode(f, &enc, &enc_len));
    SL_ASSERT_EQ(enc_len, sizeof(want));
    SL_ASSERT(memcmp(enc, want, sizeof(want)) == 0);
    free(enc);
    sl_value *c = sl_value_copy(f);
    SL_ASSERT(c != NULL && s_same(c, f));
    sl_value_destroy(&c);
    sl_value_destroy(&f);
    // Sixteen bytes in an ext 8 decode as well; seventeen do not.
    uint8_t ext8[19] = {0xc7, 16, 3, 8, 7, 6, 5, 4, 3, 2, 1, 9};
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(sl__value_decode_buf(ext8, 19, NULL, NULL, &v, errbuf));
    SL_ASSERT(sl_future_job(v) == 0x0102030405060708ull &&
              sl_future_index(v) == 9);
    sl_value_destroy(&v);
    uint8_t ext8_17[20] = {0xc7, 17, 3};
    SL_ASSERT_HAS(s_decode_fails(ext8_17, sizeof(ext8_17), NULL, SL_EPROTO),
                  "future payload is not 16 bytes");
    char buf[64];
    f = sl__value_new_future(5, 3);
    SL_ASSERT_STR(sl_value_describe(f, buf, sizeof(buf)),
                  "future(job 5 task 3)");
    SL_ASSERT_STR(sl_type_name(sl_value_type(f)), "future");
    SL_ASSERT_EQ(sl_future_job(f), 5);
    SL_ASSERT_EQ(sl_future_index(f), 3);
    sl_value_destroy(&f);
    sl_value *i = sl_value_new_int(5);
    SL_ASSERT_EQ(sl_future_job(i), 0); // not a future
    sl_value_destroy(&i);
}

static sl_value *
s_nested_lists(int levels, sl_value *inner)
{
    sl_value *v = inner != NULL ? inner : sl_value_new_list();
    for (int i = 1; i < levels; i++) {
        sl_value *outer = sl_value_new_list();
        SL_PASS(sl_value_list_append(outer, &v));
        v = outer;
    }
    return v;
}

static void
test_codec_nested(void)
{
    s_round_trip(sl_value_new_list());
    s_round_trip(sl_value_new_map());
    int64_t shape[] = {2, 2};
    sl_value *map = sl_value_new_map();
    sl_value *list = sl_value_new_list();
    sl_value *items[] = {sl_value_new_int(1),
                         sl_value_new_str("x"),
                         s_ndarray(SL_I32, 2, shape),
                         sl_value_new_map(),
                         sl__value_new_ref("sl:j1:r0", 9, 1),
                         sl_value_new_bytes("b", 1),
                         sl_value_new_float(2.5)};
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        SL_PASS(sl_value_list_append(list, &items[i]));
        SL_ASSERT(items[i] == NULL);
    }
    SL_PASS(sl_value_map_set(map, "list", &list));
    sl_value *nil = sl_value_new_nil(), *t = sl_value_new_bool(true);
    SL_PASS(sl_value_map_set(map, "", &nil));
    SL_PASS(sl_value_map_set(map, "t", &t));
    sl_value *deep = s_nested_lists(31, sl_value_new_int(7));
    SL_PASS(sl_value_map_set(map, "deep", &deep)); // 32 levels in all
    s_round_trip(map);
    // 100 entries: map16 and array16 headers.
    map = sl_value_new_map();
    list = sl_value_new_list();
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        sl_value *a = sl_value_new_int(i), *b = sl_value_new_int(-i);
        SL_PASS(sl_value_map_set(map, key, &a));
        SL_PASS(sl_value_list_append(list, &b));
    }
    SL_PASS(sl_value_map_set(map, "list", &list));
    s_round_trip(map);
}

// Two values back to back in one reader.
static void
test_codec_decode_from_reader(void)
{
    sl__mpw w;
    sl__mpw_init(&w);
    sl_value *a = sl_value_new_str("first"), *b = sl_value_new_int(-2);
    SL_PASS(sl__value_pack(&w, a));
    SL_PASS(sl__value_pack(&w, b));
    sl__mpr r;
    char errbuf[SL_ERRSTR_LEN];
    sl_value *x = NULL, *y = NULL;
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_PASS(sl__value_decode(&r, NULL, NULL, &x, errbuf));
    SL_PASS(sl__value_decode(&r, NULL, NULL, &y, errbuf));
    SL_ASSERT(s_same(a, x) && s_same(b, y));
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    SL_FAILS(sl__value_decode(&r, NULL, NULL, &x, errbuf), SL_EPROTO);
    sl_value_destroy(&a);
    sl_value_destroy(&b);
    sl_value_destroy(&x);
    sl_value_destroy(&y);
    sl__mpw_fini(&w);
}

static int s_blob_frees;

static void
s_blob_free(void *ctx, void *data)
{
    (void) ctx;
    s_blob_frees++;
    free(data);
}

// The encoding of v copied into a fresh 64-byte aligned blob so that the
// ndarray's elements (the last nbytes) land at address % 8 == mod8.
static sl__blob *
s_blob_with(const sl_value *v, size_t mod8, uint8_t **at)
{
    void *enc;
    size_t len;
    SL_PASS(sl__value_encode(v, &enc, &len));
    size_t data_off = len - sl_ndarray_nbytes(v);
    size_t shift = (mod8 + 8 - data_off % 8) % 8;
    uint8_t *mem = aligned_alloc(64, (len + shift + 63) / 64 * 64);
    memcpy(mem + shift, enc, len);
    free(enc);
    sl__blob *blob = sl__blob_new(mem, len + shift, s_blob_free, NULL);
    SL_ASSERT(blob != NULL);
    *at = mem + shift;
    return blob;
}

static bool
s_inside(const void *p, const sl__blob *blob)
{
    const uint8_t *b = blob->data;
    return (const uint8_t *) p >= b && (const uint8_t *) p < b + blob->len;
}

static void
test_codec_ndarray_zero_copy(void)
{
    int64_t shape[] = {4, 4};
    sl_value *v = s_ndarray(SL_F64, 2, shape);
    char errbuf[SL_ERRSTR_LEN];
    size_t len = 0;
    uint8_t *at;
    s_blob_frees = 0;

    // Aligned: the value points into the blob and holds it.
    sl__blob *blob = s_blob_with(v, 0, &at);
    sl_value *view = NULL;
    len = blob->len - (size_t) (at - (uint8_t *) blob->data);
    SL_PASS(sl__value_decode_buf(at, len, NULL, blob, &view, errbuf));
    SL_ASSERT(s_same(v, view));
    SL_ASSERT(s_inside(sl_ndarray_cdata(view), blob));
    SL_ASSERT_EQ((uintptr_t) sl_ndarray_cdata(view) % 8, 0);
    SL_ASSERT_EQ(blob->refs, 2);
    // A copy of a view owns its own payload.
    sl_value *copy = sl_value_copy(view);
    SL_ASSERT(!s_inside(sl_ndarray_cdata(copy), blob));
    sl__blob_release(&blob);
    SL_ASSERT(blob == NULL);
    SL_ASSERT_EQ(s_blob_frees, 0); // the view keeps it alive
    SL_ASSERT(s_same(v, view));
    sl_value_destroy(&view);
    SL_ASSERT_EQ(s_blob_frees, 1);
    SL_ASSERT(s_same(v, copy));
    sl_value_destroy(&copy);

    // Misaligned for f64: copied, and the blob is not retained.
    blob = s_blob_with(v, 4, &at);
    len = blob->len - (size_t) (at - (uint8_t *) blob->data);
    SL_PASS(sl__value_decode_buf(at, len, NULL, blob, &view, errbuf));
    SL_ASSERT(s_same(v, view));
    SL_ASSERT(!s_inside(sl_ndarray_cdata(view), blob));
    SL_ASSERT_EQ((uintptr_t) sl_ndarray_cdata(view) % 64, 0);
    SL_ASSERT_EQ(blob->refs, 1);
    sl_value_destroy(&view);
    sl__blob_release(&blob);
    SL_ASSERT_EQ(s_blob_frees, 2);
    sl_value_destroy(&v);

    // Four-byte elements need only four-byte alignment.
    v = s_ndarray(SL_F32, 2, shape);
    blob = s_blob_with(v, 4, &at);
    len = blob->len - (size_t) (at - (uint8_t *) blob->data);
    SL_PASS(sl__value_decode_buf(at, len, NULL, blob, &view, errbuf));
    SL_ASSERT(s_inside(sl_ndarray_cdata(view), blob));
    sl_value_destroy(&view);
    // Without a blob the payload is always copied.
    SL_PASS(sl__value_decode_buf(at, len, NULL, NULL, &view, errbuf));
    SL_ASSERT(!s_inside(sl_ndarray_cdata(view), blob));
    SL_ASSERT(s_same(v, view));
    sl_value_destroy(&view);
    sl__blob_release(&blob);
    SL_ASSERT_EQ(s_blob_frees, 3);
    sl_value_destroy(&v);
}

// An ndarray inside a list is used in place too; bytes are always copied.
static void
test_codec_zero_copy_nested(void)
{
    int64_t shape[] = {8};
    sl_value *list = sl_value_new_list();
    sl_value *bytes = sl_value_new_bytes("12345678", 8);
    sl_value *nd = s_ndarray(SL_I64, 1, shape);
    SL_PASS(sl_value_list_append(list, &bytes));
    SL_PASS(sl_value_list_append(list, &nd));
    void *enc;
    size_t len;
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(sl__value_encode(list, &enc, &len));
    uint8_t *mem = aligned_alloc(64, 64 * ((len + 8 + 63) / 64));
    size_t shift = (8 - (len - 64) % 8) % 8; // the last 64 bytes are i64s
    memcpy(mem + shift, enc, len);
    sl__blob *blob = sl__blob_new(mem, len + shift, NULL, NULL);
    sl_value *back = NULL;
    SL_PASS(sl__value_decode_buf(mem + shift, len, NULL, blob, &back, errbuf));
    SL_ASSERT(s_same(list, back));
    SL_ASSERT(s_inside(sl_ndarray_cdata(sl_value_list_at(back, 1)), blob));
    SL_ASSERT(!s_inside(sl_value_bytes(sl_value_list_at(back, 0), NULL), blob));
    SL_ASSERT_EQ(blob->refs, 2);
    sl__blob_release(&blob);
    sl_value_destroy(&back); // frees the blob (ASan reports a leak if not)
    sl_value_destroy(&list);
    free(enc);
}

// A long composite value, cut at every byte.
static void
test_codec_truncated_everywhere(void)
{
    sl_value *map = sl_value_new_map();
    int64_t shape[] = {2, 3};
    sl_value *items[] = {
        sl_value_new_nil(),          sl_value_new_bool(true),
        sl_value_new_int(INT64_MIN), sl_value_new_int(300),
        sl_value_new_float(0.1),     sl__value_new_strn("s\0t", 3),
        sl_value_new_bytes("xy", 2), s_ndarray(SL_F64, 2, shape),
        s_ndarray(SL_I32, 0, NULL),  sl__value_new_ref("sl:j1:r2", 5, 1),
        sl_value_new_list(),         sl_value_new_map(),
    };
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%zu", i);
        SL_PASS(sl_value_map_set(map, key, &items[i]));
    }
    sl_value *list = s_nested_lists(5, sl_value_copy(map));
    SL_PASS(sl_value_map_set(map, "nested", &list));
    void *buf;
    size_t len;
    SL_PASS(sl__value_encode(map, &buf, &len));
    SL_ASSERT(len > 200);
    s_check_truncations(buf, len); // every prefix, all under ASan
    sl_value_destroy(&map);
    free(buf);
}

static void
test_codec_trailing_bytes(void)
{
    static const uint8_t two[] = {0x01, 0xc0};
    static const uint8_t list_then_nil[] = {0x91, 0x01, 0xc0};
    SL_ASSERT_HAS(s_decode_fails(two, sizeof(two), NULL, SL_EPROTO),
                  "trailing");
    SL_ASSERT_HAS(
        s_decode_fails(list_then_nil, sizeof(list_then_nil), NULL, SL_EPROTO),
        "trailing");
    s_decode_fails("", 0, NULL, SL_EPROTO);
}

// Headers that claim 4 billion entries fail on the bytes check, before any
// allocation: with max_elems raised, only that check stands between the
// claim and a 32 GiB malloc (which ASan would abort on).
static void
test_codec_huge_counts(void)
{
    sl__limits lim = sl__limits_default;
    lim.max_elems = UINT32_MAX;
    uint8_t arr[5 + 16] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    uint8_t map[5 + 16] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    uint8_t nested[1 + sizeof(arr)] = {0x91};
    memset(arr + 5, 0xc0, 16);
    memset(map + 5, 0xc0, 16);
    memcpy(nested + 1, arr, sizeof(arr));
    s_decode_fails(arr, sizeof(arr), &lim, SL_EPROTO);
    s_decode_fails(map, sizeof(map), &lim, SL_EPROTO);
    s_decode_fails(nested, sizeof(nested), &lim, SL_EPROTO);
    // Within the bytes but above the limit.
    static const uint8_t four[] = {0x94, 1, 2, 3, 4};
    static const uint8_t four_map[] = {0x84, 0xa1, 'a', 1,    0xa1, 'b', 2,
                                       0xa1, 'c',  3,   0xa1, 'd',  4};
    lim.max_elems = 3;
    SL_ASSERT_HAS(s_decode_fails(four, sizeof(four), &lim, SL_ELIMIT), "list");
    SL_ASSERT_HAS(s_decode_fails(four_map, sizeof(four_map), &lim, SL_ELIMIT),
                  "map");
    lim.max_elems = 4;
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(sl__value_decode_buf(four, sizeof(four), &lim, NULL, &v, errbuf));
    sl_value_destroy(&v);
    // A string or binary that claims more bytes than there are.
    static const uint8_t str4g[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t bin4g[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 'a'};
    s_decode_fails(str4g, sizeof(str4g), NULL, SL_EPROTO);
    s_decode_fails(bin4g, sizeof(bin4g), NULL, SL_EPROTO);
}

// levels nested one-element lists (0x91) around an empty list (0x90).
static uint8_t *
s_nested_bytes(size_t levels, size_t *len)
{
    uint8_t *p = malloc(levels);
    memset(p, 0x91, levels - 1);
    p[levels - 1] = 0x90;
    *len = levels;
    return p;
}

// The codec and sl__mpr_skip (which the scheduler walks arguments with)
// agree on what max_depth allows: max_depth lists and maps, one in another.
static void
test_codec_depth(void)
{
    int max = sl__limits_default.max_depth;
    size_t len;
    sl__mpr r;
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    uint8_t *ok = s_nested_bytes((size_t) max, &len);
    SL_PASS(sl__value_decode_buf(ok, len, NULL, NULL, &v, errbuf));
    sl_value_destroy(&v);
    sl__mpr_init(&r, ok, len);
    SL_ASSERT_EQ(sl__mpr_skip(&r, max, NULL, NULL), 0);
    free(ok);
    uint8_t *deep = s_nested_bytes((size_t) max + 1, &len);
    SL_ASSERT_HAS(s_decode_fails(deep, len, NULL, SL_ELIMIT), "deeper");
    sl__mpr_init(&r, deep, len);
    SL_ASSERT_EQ(sl__mpr_skip(&r, max, NULL, NULL), -1);
    free(deep);
    // The encoder refuses what a peer would refuse.
    void *buf;
    v = s_nested_lists(max, NULL);
    SL_PASS(sl__value_encode(v, &buf, &len));
    free(buf);
    sl_value_destroy(&v);
    v = s_nested_lists(max + 1, NULL);
    SL_FAILS(sl__value_encode(v, &buf, &len), SL_EINVAL);
    sl_value_destroy(&v);
    // A map counts as a level like a list.
    sl__limits lim = sl__limits_default;
    lim.max_depth = 2;
    static const uint8_t two[] = {0x81, 0xa1, 'k', 0x91, 0x07};
    static const uint8_t three[] = {0x81, 0xa1, 'k', 0x91, 0x80};
    SL_PASS(sl__value_decode_buf(two, sizeof(two), &lim, NULL, &v, errbuf));
    sl_value_destroy(&v);
    s_decode_fails(three, sizeof(three), &lim, SL_ELIMIT);
    // A depth bomb: a million levels fail after max_depth, without
    // recursing further.
    uint8_t *bomb = s_nested_bytes(1000000, &len);
    s_decode_fails(bomb, len, NULL, SL_ELIMIT);
    free(bomb);
}

static void
test_codec_map_keys(void)
{
    static const uint8_t int_key[] = {0x81, 0x01, 0xc0};
    static const uint8_t bin_key[] = {0x81, 0xc4, 1, 'a', 0xc0};
    static const uint8_t nil_key[] = {0x81, 0xc0, 0xc0};
    static const uint8_t list_key[] = {0x81, 0x90, 0xc0};
    static const uint8_t nul_key[] = {0x81, 0xa3, 'a', 0, 'b', 0xc0};
    static const uint8_t dup_keys[] = {0x82, 0xa1, 'a', 1, 0xa1, 'a', 2};
    SL_ASSERT_HAS(s_decode_fails(int_key, sizeof(int_key), NULL, SL_EPROTO),
                  "not a string");
    s_decode_fails(bin_key, sizeof(bin_key), NULL, SL_EPROTO);
    s_decode_fails(nil_key, sizeof(nil_key), NULL, SL_EPROTO);
    s_decode_fails(list_key, sizeof(list_key), NULL, SL_EPROTO);
    SL_ASSERT_HAS(s_decode_fails(nul_key, sizeof(nul_key), NULL, SL_EPROTO),
                  "NUL");
    // A repeated key: the last value wins.
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(sl__value_decode_buf(dup_keys, sizeof(dup_keys), NULL, NULL, &v,
                                 errbuf));
    SL_ASSERT_EQ(sl_value_map_size(v), 1);
    SL_ASSERT_EQ(sl_value_int(sl_value_map_get(v, "a")), 2);
    sl_value_destroy(&v);
    // Keys up to 255 bytes; the encoder refuses longer ones, which the
    // decoder would refuse.
    char key[257];
    memset(key, 'k', 256);
    key[255] = '\0';
    sl_value *map = sl_value_new_map(), *one = sl_value_new_int(1);
    SL_PASS(sl_value_map_set(map, key, &one));
    s_round_trip(sl_value_copy(map));
    key[255] = 'k';
    key[256] = '\0';
    one = sl_value_new_int(1);
    SL_PASS(sl_value_map_set(map, key, &one));
    void *buf;
    size_t len;
    SL_FAILS(sl__value_encode(map, &buf, &len), SL_EINVAL);
    sl__mpw w;
    sl__mpw_init(&w);
    msgpack_pack_map(&w.pk, 1);
    sl__mpw_str(&w, key);
    msgpack_pack_nil(&w.pk);
    SL_ASSERT_HAS(s_decode_fails(w.buf.data, w.buf.size, NULL, SL_EPROTO),
                  "too long");
    sl__mpw_fini(&w);
    sl_value_destroy(&map);
}

static void
test_codec_unknown_ext(void)
{
    static const int8_t types[] = {0, 4, 127, -1, -128};
    for (size_t i = 0; i < sizeof(types); i++) {
        uint8_t ext[] = {0xd4, (uint8_t) types[i], 0};
        SL_ASSERT_HAS(s_decode_fails(ext, sizeof(ext), NULL, SL_EPROTO),
                      "unknown ext");
    }
}

// An ndarray ext with a header of our choosing and nbytes payload bytes.
static void
s_pack_nd(sl__mpw *w, uint8_t dtype, uint8_t ndim, const uint64_t *dims,
          size_t ndims_written, size_t hdr_len, size_t nbytes)
{
    uint8_t hdr[8 + 8 * 8] = {dtype, ndim};
    for (size_t i = 0; i < ndims_written; i++) {
        for (int b = 0; b < 8; b++) {
            hdr[8 + 8 * i + b] = (uint8_t) (dims[i] >> (8 * b));
        }
    }
    if (hdr_len == 0) {
        hdr_len = 8 + 8 * ndims_written;
    }
    uint8_t *payload = calloc(1, nbytes > 0 ? nbytes : 1);
    sl__mpw_reset(w);
    msgpack_pack_ext(&w->pk, hdr_len + nbytes, SL_EXT_NDARRAY);
    msgpack_pack_ext_body(&w->pk, hdr, hdr_len);
    msgpack_pack_ext_body(&w->pk, payload, nbytes);
    free(payload);
}

static const char *
s_nd_fails(sl__mpw *w, const sl__limits *lim, sl_err want)
{
    return s_decode_fails(w->buf.data, w->buf.size, lim, want);
}

static void
test_codec_bad_ndarray(void)
{
    sl__mpw w;
    sl__mpw_init(&w);
    uint64_t dims[5] = {3, 2, 1, 1, 1};
    char errbuf[SL_ERRSTR_LEN];
    sl_value *v = NULL;
    // The well-formed one, as a reference.
    s_pack_nd(&w, SL_F64, 2, dims, 2, 0, 48);
    SL_PASS(
        sl__value_decode_buf(w.buf.data, w.buf.size, NULL, NULL, &v, errbuf));
    sl_value_destroy(&v);
    static const uint8_t bad_dtypes[] = {0, 5, 255};
    for (size_t i = 0; i < sizeof(bad_dtypes); i++) {
        s_pack_nd(&w, bad_dtypes[i], 2, dims, 2, 0, 48);
        SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "dtype");
    }
    s_pack_nd(&w, SL_F64, 5, dims, 5, 0, 48);
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "more than 4");
    s_pack_nd(&w, SL_F64, 255, dims, 5, 0, 48);
    s_nd_fails(&w, NULL, SL_EPROTO);
    s_pack_nd(&w, SL_F64, 0, dims, 0, 7, 0); // header of 7 bytes
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "header truncated");
    s_pack_nd(&w, SL_F64, 2, dims, 1, 0, 0); // one dimension of two
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "shape truncated");
    // Byte count against shape: one short, one over, and data for an
    // empty shape.
    s_pack_nd(&w, SL_F64, 2, dims, 2, 0, 47);
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "does not match");
    s_pack_nd(&w, SL_F64, 2, dims, 2, 0, 49);
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "does not match");
    uint64_t zero[2] = {0, 4};
    s_pack_nd(&w, SL_I32, 2, zero, 2, 0, 4);
    s_nd_fails(&w, NULL, SL_EPROTO);
    s_pack_nd(&w, SL_I32, 0, NULL, 0, 0, 8); // a scalar has one element
    s_nd_fails(&w, NULL, SL_EPROTO);
    // Shapes whose byte count overflows, or is just too big.
    uint64_t big[4] = {1ull << 32, 1ull << 32, 1ull << 32, 1};
    s_pack_nd(&w, SL_F64, 3, big, 3, 0, 0);
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_ELIMIT), "larger");
    uint64_t wide[2] = {INT64_MAX, 2};
    s_pack_nd(&w, SL_I32, 2, wide, 2, 0, 0);
    s_nd_fails(&w, NULL, SL_ELIMIT);
    uint64_t neg[1] = {1ull << 63};
    s_pack_nd(&w, SL_I32, 1, neg, 1, 0, 0);
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "negative");
    sl__limits lim = sl__limits_default;
    lim.max_ndarray = 1024;
    uint64_t n129[1] = {129};
    s_pack_nd(&w, SL_F64, 1, n129, 1, 0, 129 * 8);
    s_nd_fails(&w, &lim, SL_ELIMIT);
    // An empty dimension makes the rest harmless: zero elements.
    uint64_t zero_big[2] = {0, 1ull << 62};
    s_pack_nd(&w, SL_F64, 2, zero_big, 2, 0, 0);
    SL_PASS(
        sl__value_decode_buf(w.buf.data, w.buf.size, NULL, NULL, &v, errbuf));
    SL_ASSERT_EQ(sl_ndarray_size(v), 0);
    sl_value_destroy(&v);
    sl__mpw_fini(&w);
}

// A ref ext: version, shard, key length (as claimed), size, key bytes.
static void
s_pack_ref(sl__mpw *w, uint8_t version, size_t klen_claimed, const char *key,
           size_t klen)
{
    uint8_t hdr[12] = {version, 1, (uint8_t) klen_claimed,
                       (uint8_t) (klen_claimed >> 8), 42};
    sl__mpw_reset(w);
    msgpack_pack_ext(&w->pk, sizeof(hdr) + klen, SL_EXT_REF);
    msgpack_pack_ext_body(&w->pk, hdr, sizeof(hdr));
    msgpack_pack_ext_body(&w->pk, key, klen);
}

static void
test_codec_bad_ref(void)
{
    sl__mpw w;
    sl__mpw_init(&w);
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    s_pack_ref(&w, 1, 4, "abcd", 4);
    SL_PASS(
        sl__value_decode_buf(w.buf.data, w.buf.size, NULL, NULL, &v, errbuf));
    SL_ASSERT_STR(sl_ref_key(v), "abcd");
    SL_ASSERT_EQ(sl_ref_size(v), 42);
    SL_ASSERT_EQ(sl_ref_shard(v), 1);
    sl_value_destroy(&v);
    s_pack_ref(&w, 0, 4, "abcd", 4);
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "version");
    s_pack_ref(&w, 2, 4, "abcd", 4);
    s_nd_fails(&w, NULL, SL_EPROTO);
    s_pack_ref(&w, 1, 5, "abcd", 4);
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "key length");
    s_pack_ref(&w, 1, 3, "abcd", 4);
    s_nd_fails(&w, NULL, SL_EPROTO);
    s_pack_ref(&w, 1, 0, "", 0);
    s_nd_fails(&w, NULL, SL_EPROTO);
    s_pack_ref(&w, 1, 65535, "abcd", 4);
    s_nd_fails(&w, NULL, SL_EPROTO);
    s_pack_ref(&w, 1, 3, "a\0b", 3);
    SL_ASSERT_HAS(s_nd_fails(&w, NULL, SL_EPROTO), "NUL");
    // Shorter than the fixed header.
    sl__mpw_reset(&w);
    msgpack_pack_ext(&w.pk, 11, SL_EXT_REF);
    msgpack_pack_ext_body(&w.pk, "\1\0\0\0\0\0\0\0\0\0\0", 11);
    s_nd_fails(&w, NULL, SL_EPROTO);
    sl__mpw_fini(&w);
    // The encoder refuses refs it cannot write.
    void *buf;
    size_t len;
    char *key = malloc(65537);
    memset(key, 'k', 65536);
    key[65536] = '\0';
    v = sl__value_new_ref(key, 1, 0);
    SL_FAILS(sl__value_encode(v, &buf, &len), SL_EINVAL);
    sl_value_destroy(&v);
    free(key);
    v = sl__value_new_ref("", 1, 0);
    SL_FAILS(sl__value_encode(v, &buf, &len), SL_EINVAL);
    sl_value_destroy(&v);
    v = sl__value_new_ref("k", 1, 256);
    SL_FAILS(sl__value_encode(v, &buf, &len), SL_EINVAL);
    sl_value_destroy(&v);
}

static void
test_codec_ints_beyond_int64(void)
{
    static const uint8_t two63[] = {0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t max[] = {0xcf, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff};
    SL_ASSERT_HAS(s_decode_fails(two63, sizeof(two63), NULL, SL_EPROTO),
                  "int64 range");
    s_decode_fails(max, sizeof(max), NULL, SL_EPROTO);
}

static void
test_codec_c1(void)
{
    static const uint8_t c1[] = {0xc1};
    static const uint8_t in_list[] = {0x92, 0x01, 0xc1};
    static const uint8_t in_map[] = {0x81, 0xa1, 'k', 0xc1};
    SL_ASSERT_HAS(s_decode_fails(c1, sizeof(c1), NULL, SL_EPROTO), "invalid");
    s_decode_fails(in_list, sizeof(in_list), NULL, SL_EPROTO);
    s_decode_fails(in_map, sizeof(in_map), NULL, SL_EPROTO);
}

static void
test_codec_size_limits(void)
{
    sl__limits lim = sl__limits_default;
    lim.max_str = 4;
    static const uint8_t str5[] = {0xa5, 'a', 'b', 'c', 'd', 'e'};
    static const uint8_t bin5[] = {0xc4, 5, 1, 2, 3, 4, 5};
    static const uint8_t str4[] = {0xa4, 'a', 'b', 'c', 'd'};
    SL_ASSERT_HAS(s_decode_fails(str5, sizeof(str5), &lim, SL_ELIMIT),
                  "longer");
    s_decode_fails(bin5, sizeof(bin5), &lim, SL_ELIMIT);
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(sl__value_decode_buf(str4, sizeof(str4), &lim, NULL, &v, errbuf));
    sl_value_destroy(&v);
    lim = sl__limits_default;
    lim.max_message = 4;
    s_decode_fails(str4, sizeof(str4), &lim, SL_ELIMIT);
}

int
main(void)
{
    SL_RUN(test_codec_scalars);
    SL_RUN(test_codec_scalars_any_width);
    SL_RUN(test_codec_str_and_bytes);
    SL_RUN(test_codec_ndarray_every_dtype_and_rank);
    SL_RUN(test_codec_ref);
    SL_RUN(test_codec_future);
    SL_RUN(test_codec_nested);
    SL_RUN(test_codec_decode_from_reader);
    SL_RUN(test_codec_ndarray_zero_copy);
    SL_RUN(test_codec_zero_copy_nested);
    SL_RUN(test_codec_truncated_everywhere);
    SL_RUN(test_codec_trailing_bytes);
    SL_RUN(test_codec_huge_counts);
    SL_RUN(test_codec_depth);
    SL_RUN(test_codec_map_keys);
    SL_RUN(test_codec_unknown_ext);
    SL_RUN(test_codec_bad_ndarray);
    SL_RUN(test_codec_bad_ref);
    SL_RUN(test_codec_ints_beyond_int64);
    SL_RUN(test_codec_c1);
    SL_RUN(test_codec_size_limits);
    return 0;
}
