// mp_test.c - the bounds-checked msgpack reader and the writing helpers.
// SPDX-License-Identifier: MIT
#include "serialize/codec.h"
#include "serialize/mp.h"
#include "testutil.h"

// The out-of-memory test asks for an impossible buffer: under
// AddressSanitizer that must fail as malloc does, not stop the test.
const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

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

// Every strict prefix of the item in buf fails to skip and leaves the
// reader where it was; the whole item skips to its end. Long items are
// cut near both ends only.
static void
s_check_prefixes(const uint8_t *buf, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        if (len > 4096 && k >= 64 && k < len - 64) {
            k = len - 64;
        }
        uint8_t *p = s_dup(buf, k);
        sl__mpr r;
        sl__mpr_init(&r, p, k);
        SL_ASSERT(sl__mpr_skip(&r, 64, NULL, NULL) != 0);
        SL_ASSERT(r.p == p);
        free(p);
    }
    uint8_t *p = s_dup(buf, len);
    sl__mpr r;
    const uint8_t *start;
    size_t n;
    sl__mpr_init(&r, p, len);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 64, &start, &n), 0);
    SL_ASSERT(start == p);
    SL_ASSERT_EQ(n, len);
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    free(p);
}

static void
test_mp_peek_every_byte(void)
{
    for (int b = 0; b < 256; b++) {
        sl__mp_kind want;
        if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3)) {
            want = SL_MP_INT;
        } else if (b <= 0x8f || b == 0xde || b == 0xdf) {
            want = SL_MP_MAP;
        } else if (b <= 0x9f || b == 0xdc || b == 0xdd) {
            want = SL_MP_ARRAY;
        } else if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) {
            want = SL_MP_STR;
        } else if (b == 0xc0) {
            want = SL_MP_NIL;
        } else if (b == 0xc2 || b == 0xc3) {
            want = SL_MP_BOOL;
        } else if (b >= 0xc4 && b <= 0xc6) {
            want = SL_MP_BIN;
        } else if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) {
            want = SL_MP_EXT;
        } else if (b == 0xca || b == 0xcb) {
            want = SL_MP_FLOAT;
        } else {
            want = SL_MP_INVALID; // 0xc1, never used
        }
        uint8_t byte = (uint8_t) b;
        sl__mpr r;
        sl__mpr_init(&r, &byte, 1);
        SL_ASSERT_EQ(sl__mpr_peek(&r), want);
    }
    sl__mpr r;
    sl__mpr_init(&r, "", 0);
    SL_ASSERT_EQ(sl__mpr_peek(&r), SL_MP_INVALID);
}

static void
test_mp_nil_bool(void)
{
    static const uint8_t buf[] = {0xc0, 0xc2, 0xc3};
    sl__mpr r;
    bool b;
    sl__mpr_init(&r, buf, sizeof(buf));
    SL_ASSERT_EQ(sl__mpr_bool(&r, &b), -1); // nil is not a bool
    SL_ASSERT_EQ(sl__mpr_nil(&r), 0);
    SL_ASSERT_EQ(sl__mpr_nil(&r), -1); // false is not nil
    SL_ASSERT_EQ(sl__mpr_bool(&r, &b), 0);
    SL_ASSERT(!b);
    SL_ASSERT_EQ(sl__mpr_bool(&r, &b), 0);
    SL_ASSERT(b);
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    SL_ASSERT_EQ(sl__mpr_nil(&r), -1);
    SL_ASSERT_EQ(sl__mpr_bool(&r, &b), -1);
}

// One integer encoding: which readers accept it and what they give.
typedef struct {
    uint8_t bytes[9];
    size_t len;
    bool has_i; // fits int64
    int64_t i;
    bool has_u; // fits uint64
    uint64_t u;
} s_int_case;

static const s_int_case s_ints[] = {
    {{0x00}, 1, true, 0, true, 0},
    {{0x7f}, 1, true, 127, true, 127},
    {{0xe0}, 1, true, -32, false, 0},
    {{0xff}, 1, true, -1, false, 0},
    {{0xcc, 0xff}, 2, true, 255, true, 255},
    {{0xcd, 0xff, 0xff}, 3, true, 65535, true, 65535},
    {{0xce, 0xff, 0xff, 0xff, 0xff}, 5, true, UINT32_MAX, true, UINT32_MAX},
    {{0xcf, 0, 0, 0, 1, 0, 0, 0, 0}, 9, true, 1ll << 32, true, 1ull << 32},
    {{0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
     9,
     true,
     INT64_MAX,
     true,
     INT64_MAX},
    {{0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, false, 0, true, 1ull << 63},
    {{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
     9,
     false,
     0,
     true,
     UINT64_MAX},
    {{0xd0, 0x80}, 2, true, -128, false, 0},
    {{0xd0, 0x7f}, 2, true, 127, true, 127},
    {{0xd1, 0x80, 0x00}, 3, true, -32768, false, 0},
    {{0xd1, 0x7f, 0xff}, 3, true, 32767, true, 32767},
    {{0xd2, 0x80, 0, 0, 0}, 5, true, INT32_MIN, false, 0},
    {{0xd2, 0xff, 0xff, 0xff, 0xfe}, 5, true, -2, false, 0},
    {{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9, true, INT64_MIN, false, 0},
    {{0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
     9,
     true,
     -1,
     false,
     0},
    {{0xd3, 0, 0, 0, 0, 0, 0, 0, 5}, 9, true, 5, true, 5},
};

static void
s_check_int(const s_int_case *c)
{
    uint8_t *p = s_dup(c->bytes, c->len);
    sl__mpr r;
    int64_t i;
    uint64_t u;
    uint32_t u32;
    double d;
    sl__mpr_init(&r, p, c->len);
    SL_ASSERT_EQ(sl__mpr_peek(&r), SL_MP_INT);
    SL_ASSERT_EQ(sl__mpr_i64(&r, &i), c->has_i ? 0 : -1);
    SL_ASSERT(r.p == (c->has_i ? p + c->len : p));
    if (c->has_i) {
        SL_ASSERT_EQ(i, c->i);
    }
    sl__mpr_init(&r, p, c->len);
    SL_ASSERT_EQ(sl__mpr_u64(&r, &u), c->has_u ? 0 : -1);
    SL_ASSERT(r.p == (c->has_u ? p + c->len : p));
    if (c->has_u) {
        SL_ASSERT(u == c->u);
    }
    bool fits32 = c->has_u && c->u <= UINT32_MAX;
    sl__mpr_init(&r, p, c->len);
    SL_ASSERT_EQ(sl__mpr_u32(&r, &u32), fits32 ? 0 : -1);
    SL_ASSERT(r.p == (fits32 ? p + c->len : p));
    if (fits32) {
        SL_ASSERT_EQ(u32, c->u);
    }
    // Any integer reads as a double.
    sl__mpr_init(&r, p, c->len);
    SL_ASSERT_EQ(sl__mpr_f64(&r, &d), 0);
    SL_ASSERT(d == (c->has_i ? (double) c->i : (double) c->u));
    // No reader accepts a cut integer, and none moves.
    for (size_t k = 0; k < c->len; k++) {
        uint8_t *q = s_dup(c->bytes, k);
        sl__mpr_init(&r, q, k);
        SL_ASSERT_EQ(sl__mpr_i64(&r, &i), -1);
        SL_ASSERT_EQ(sl__mpr_u64(&r, &u), -1);
        SL_ASSERT_EQ(sl__mpr_u32(&r, &u32), -1);
        SL_ASSERT_EQ(sl__mpr_f64(&r, &d), -1);
        SL_ASSERT(r.p == q);
        free(q);
    }
    s_check_prefixes(c->bytes, c->len);
    free(p);
}

static void
test_mp_int_every_width(void)
{
    for (size_t k = 0; k < sizeof(s_ints) / sizeof(s_ints[0]); k++) {
        s_check_int(&s_ints[k]);
    }
}

// msgpack-c's packers of each fixed width read back through our reader.
static void
test_mp_int_packed_widths(void)
{
    sl__mpw w;
    sl__mpw_init(&w);
    msgpack_pack_fix_uint8(&w.pk, 200);
    msgpack_pack_fix_uint16(&w.pk, 60000);
    msgpack_pack_fix_uint32(&w.pk, 4000000000u);
    msgpack_pack_fix_uint64(&w.pk, UINT64_MAX - 1);
    msgpack_pack_fix_int8(&w.pk, -100);
    msgpack_pack_fix_int16(&w.pk, -30000);
    msgpack_pack_fix_int32(&w.pk, -2000000000);
    msgpack_pack_fix_int64(&w.pk, INT64_MIN + 1);
    static const size_t sizes[] = {2, 3, 5, 9, 2, 3, 5, 9};
    static const uint8_t heads[] = {0xcc, 0xcd, 0xce, 0xcf,
                                    0xd0, 0xd1, 0xd2, 0xd3};
    size_t off = 0;
    for (int k = 0; k < 8; k++) {
        SL_ASSERT_EQ((uint8_t) w.buf.data[off], heads[k]);
        off += sizes[k];
    }
    SL_ASSERT_EQ(off, w.buf.size);
    sl__mpr r;
    uint64_t u;
    int64_t i;
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_ASSERT(sl__mpr_u64(&r, &u) == 0 && u == 200);
    SL_ASSERT(sl__mpr_u64(&r, &u) == 0 && u == 60000);
    SL_ASSERT(sl__mpr_u64(&r, &u) == 0 && u == 4000000000u);
    SL_ASSERT(sl__mpr_u64(&r, &u) == 0 && u == UINT64_MAX - 1);
    SL_ASSERT(sl__mpr_i64(&r, &i) == 0 && i == -100);
    SL_ASSERT(sl__mpr_i64(&r, &i) == 0 && i == -30000);
    SL_ASSERT(sl__mpr_i64(&r, &i) == 0 && i == -2000000000);
    SL_ASSERT(sl__mpr_i64(&r, &i) == 0 && i == INT64_MIN + 1);
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    sl__mpw_fini(&w);
}

static void
test_mp_floats(void)
{
    static const uint8_t f32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00}; // 1.5f
    static const uint8_t f64[] = {0xcb, 0xc0, 0x09, 0x21, 0xfb,
                                  0x54, 0x44, 0x2d, 0x18}; // -pi
    sl__mpr r;
    double d;
    int64_t i;
    sl__mpr_init(&r, f32, sizeof(f32));
    SL_ASSERT_EQ(sl__mpr_peek(&r), SL_MP_FLOAT);
    SL_ASSERT_EQ(sl__mpr_i64(&r, &i), -1); // a float is not an integer
    SL_ASSERT_EQ(sl__mpr_f64(&r, &d), 0);
    SL_ASSERT(d == 1.5);
    sl__mpr_init(&r, f64, sizeof(f64));
    SL_ASSERT_EQ(sl__mpr_f64(&r, &d), 0);
    SL_ASSERT_NEAR(d, -3.14159265358979, 1e-14);
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    for (size_t k = 0; k < sizeof(f64); k++) {
        uint8_t *p = s_dup(f64, k);
        sl__mpr_init(&r, p, k);
        SL_ASSERT_EQ(sl__mpr_f64(&r, &d), -1);
        SL_ASSERT(r.p == p);
        free(p);
        if (k < sizeof(f32)) {
            p = s_dup(f32, k);
            sl__mpr_init(&r, p, k);
            SL_ASSERT_EQ(sl__mpr_f64(&r, &d), -1);
            SL_ASSERT(r.p == p);
            free(p);
        }
    }
    s_check_prefixes(f32, sizeof(f32));
    s_check_prefixes(f64, sizeof(f64));
    // A nil is not a number.
    sl__mpr_init(&r, "\xc0", 1);
    SL_ASSERT_EQ(sl__mpr_f64(&r, &d), -1);
}

static void
test_mp_str_every_width(void)
{
    static const size_t lens[] = {0, 5, 31, 32, 255, 256, 65535, 65536};
    static const uint8_t heads[] = {0xa0, 0xa5, 0xbf, 0xd9,
                                    0xd9, 0xda, 0xda, 0xdb};
    static const size_t hdrs[] = {1, 1, 1, 2, 2, 3, 3, 5};
    char *text = malloc(65536);
    for (size_t i = 0; i < 65536; i++) {
        text[i] = (char) (i % 7 == 3 ? 0 : 'a' + i % 26); // NULs inside
    }
    for (int k = 0; k < 8; k++) {
        sl__mpw w;
        sl__mpw_init(&w);
        sl__mpw_strn(&w, text, lens[k]);
        SL_ASSERT_EQ(w.buf.size, hdrs[k] + lens[k]);
        SL_ASSERT_EQ((uint8_t) w.buf.data[0], heads[k]);
        uint8_t *p = s_dup(w.buf.data, w.buf.size);
        sl__mpr r;
        const char *s;
        uint32_t n;
        const uint8_t *b;
        sl__mpr_init(&r, p, w.buf.size);
        SL_ASSERT_EQ(sl__mpr_peek(&r), SL_MP_STR);
        SL_ASSERT_EQ(sl__mpr_bin(&r, &b, &n), -1); // a str is not a bin
        SL_ASSERT_EQ(sl__mpr_str(&r, &s, &n), 0);
        SL_ASSERT_EQ(n, lens[k]);
        SL_ASSERT(s == (const char *) p + hdrs[k]); // a view, not a copy
        SL_ASSERT(memcmp(s, text, n) == 0);
        SL_ASSERT_EQ(sl__mpr_left(&r), 0);
        for (size_t cut = 0; cut < w.buf.size; cut++) {
            if (w.buf.size > 4096 && cut >= 16 && cut < w.buf.size - 2) {
                cut = w.buf.size - 2;
            }
            sl__mpr_init(&r, p, cut);
            SL_ASSERT_EQ(sl__mpr_str(&r, &s, &n), -1);
            SL_ASSERT(r.p == p);
        }
        s_check_prefixes(p, w.buf.size);
        free(p);
        sl__mpw_fini(&w);
    }
    free(text);
    // A longer header than needed is still valid msgpack.
    static const uint8_t str8[] = {0xd9, 3, 'a', 'b', 'c'};
    sl__mpr r;
    const char *s;
    uint32_t n;
    sl__mpr_init(&r, str8, sizeof(str8));
    SL_ASSERT(sl__mpr_str(&r, &s, &n) == 0 && n == 3 && s[2] == 'c');
}

static void
test_mp_bin_every_width(void)
{
    static const size_t lens[] = {0, 255, 256, 65535, 65536};
    static const uint8_t heads[] = {0xc4, 0xc4, 0xc5, 0xc5, 0xc6};
    static const size_t hdrs[] = {2, 2, 3, 3, 5};
    uint8_t *data = malloc(65536);
    for (size_t i = 0; i < 65536; i++) {
        data[i] = (uint8_t) (i * 31);
    }
    for (int k = 0; k < 5; k++) {
        sl__mpw w;
        sl__mpw_init(&w);
        sl__mpw_bin(&w, data, lens[k]);
        SL_ASSERT_EQ(w.buf.size, hdrs[k] + lens[k]);
        SL_ASSERT_EQ((uint8_t) w.buf.data[0], heads[k]);
        uint8_t *p = s_dup(w.buf.data, w.buf.size);
        sl__mpr r;
        const uint8_t *b;
        const char *s;
        uint32_t n;
        sl__mpr_init(&r, p, w.buf.size);
        SL_ASSERT_EQ(sl__mpr_peek(&r), SL_MP_BIN);
        SL_ASSERT_EQ(sl__mpr_str(&r, &s, &n), -1);
        SL_ASSERT_EQ(sl__mpr_bin(&r, &b, &n), 0);
        SL_ASSERT_EQ(n, lens[k]);
        SL_ASSERT(b == p + hdrs[k]);
        SL_ASSERT(memcmp(b, data, n) == 0);
        s_check_prefixes(p, w.buf.size);
        free(p);
        sl__mpw_fini(&w);
    }
    free(data);
}

// n nils in an array (or n nil:nil entries in a map).
static void
s_check_container(bool is_map, uint32_t n, uint8_t head, size_t hdr)
{
    sl__mpw w;
    sl__mpw_init(&w);
    if (is_map) {
        msgpack_pack_map(&w.pk, n);
    } else {
        msgpack_pack_array(&w.pk, n);
    }
    for (uint64_t i = 0; i < (is_map ? 2ull : 1ull) * n; i++) {
        msgpack_pack_nil(&w.pk);
    }
    SL_ASSERT_EQ((uint8_t) w.buf.data[0], head);
    uint8_t *p = s_dup(w.buf.data, w.buf.size);
    sl__mpr r;
    uint32_t got;
    sl__mpr_init(&r, p, w.buf.size);
    SL_ASSERT_EQ(sl__mpr_peek(&r), is_map ? SL_MP_MAP : SL_MP_ARRAY);
    SL_ASSERT_EQ(is_map ? sl__mpr_array(&r, &got) : sl__mpr_map(&r, &got), -1);
    SL_ASSERT_EQ(is_map ? sl__mpr_map(&r, &got) : sl__mpr_array(&r, &got), 0);
    SL_ASSERT_EQ(got, n);
    SL_ASSERT(r.p == p + hdr);
    // The header alone (all elements missing) is refused, unless empty.
    sl__mpr_init(&r, p, hdr);
    SL_ASSERT_EQ(is_map ? sl__mpr_map(&r, &got) : sl__mpr_array(&r, &got),
                 n == 0 ? 0 : -1);
    s_check_prefixes(p, w.buf.size);
    free(p);
    sl__mpw_fini(&w);
}

static void
test_mp_array_map_every_width(void)
{
    for (int m = 0; m < 2; m++) {
        bool is_map = m == 1;
        uint8_t fix = is_map ? 0x80 : 0x90;
        uint8_t b16 = is_map ? 0xde : 0xdc;
        s_check_container(is_map, 0, fix, 1);
        s_check_container(is_map, 15, fix | 15, 1);
        s_check_container(is_map, 16, b16, 3);
        s_check_container(is_map, 65535, b16, 3);
        s_check_container(is_map, 65536, b16 + 1, 5);
    }
    // Longer headers than needed are accepted.
    static const uint8_t a16[] = {0xdc, 0, 1, 0xc0};
    static const uint8_t m32[] = {0xdf, 0, 0, 0, 1, 0xa1, 'k', 0x07};
    sl__mpr r;
    uint32_t n;
    sl__mpr_init(&r, a16, sizeof(a16));
    SL_ASSERT(sl__mpr_array(&r, &n) == 0 && n == 1);
    sl__mpr_init(&r, m32, sizeof(m32));
    SL_ASSERT(sl__mpr_map(&r, &n) == 0 && n == 1);
}

// A header that claims more elements than bytes remain is refused before
// anyone could allocate for it.
static void
test_mp_counts_checked_against_bytes(void)
{
    static const uint8_t arr4g[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0};
    static const uint8_t map4g[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0};
    static const uint8_t str4g[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
    static const uint8_t bin4g[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 0};
    static const uint8_t ext4g[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 1, 0};
    static const uint8_t arr3[] = {0x93, 0xc0, 0xc0};       // 3 claimed, 2
    static const uint8_t arr2[] = {0x92, 0xc0, 0xc0};       // exactly 2
    static const uint8_t map2[] = {0x82, 0xc0, 0xc0, 0xc0}; // 4 needed, 3
    sl__mpr r;
    uint32_t n;
    const char *s;
    const uint8_t *b;
    int8_t t;
    sl__mpr_init(&r, arr4g, sizeof(arr4g));
    SL_ASSERT_EQ(sl__mpr_array(&r, &n), -1);
    SL_ASSERT(r.p == arr4g);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 8, NULL, NULL), -1);
    sl__mpr_init(&r, map4g, sizeof(map4g));
    SL_ASSERT_EQ(sl__mpr_map(&r, &n), -1);
    SL_ASSERT(r.p == map4g);
    sl__mpr_init(&r, str4g, sizeof(str4g));
    SL_ASSERT_EQ(sl__mpr_str(&r, &s, &n), -1);
    SL_ASSERT(r.p == str4g);
    sl__mpr_init(&r, bin4g, sizeof(bin4g));
    SL_ASSERT_EQ(sl__mpr_bin(&r, &b, &n), -1);
    sl__mpr_init(&r, ext4g, sizeof(ext4g));
    SL_ASSERT_EQ(sl__mpr_ext(&r, &t, &b, &n), -1);
    SL_ASSERT(r.p == ext4g);
    sl__mpr_init(&r, arr3, sizeof(arr3));
    SL_ASSERT_EQ(sl__mpr_array(&r, &n), -1);
    sl__mpr_init(&r, arr2, sizeof(arr2));
    SL_ASSERT(sl__mpr_array(&r, &n) == 0 && n == 2);
    sl__mpr_init(&r, map2, sizeof(map2));
    SL_ASSERT_EQ(sl__mpr_map(&r, &n), -1);
}

static void
s_check_ext(size_t len, int8_t type, uint8_t head, size_t hdr)
{
    uint8_t body[65536];
    for (size_t i = 0; i < len; i++) {
        body[i] = (uint8_t) (i ^ 0x5a);
    }
    sl__mpw w;
    sl__mpw_init(&w);
    msgpack_pack_ext(&w.pk, len, type);
    msgpack_pack_ext_body(&w.pk, body, len);
    SL_ASSERT_EQ((uint8_t) w.buf.data[0], head);
    SL_ASSERT_EQ(w.buf.size, hdr + len);
    uint8_t *p = s_dup(w.buf.data, w.buf.size);
    sl__mpr r;
    int8_t t;
    const uint8_t *data;
    uint32_t n;
    sl__mpr_init(&r, p, w.buf.size);
    SL_ASSERT_EQ(sl__mpr_peek(&r), SL_MP_EXT);
    SL_ASSERT_EQ(sl__mpr_ext(&r, &t, &data, &n), 0);
    SL_ASSERT_EQ(t, type);
    SL_ASSERT_EQ(n, len);
    SL_ASSERT(data == p + hdr);
    SL_ASSERT(len == 0 || memcmp(data, body, len) == 0);
    SL_ASSERT_EQ(sl__mpr_left(&r), 0);
    for (size_t cut = 0; cut < w.buf.size; cut++) {
        if (w.buf.size > 4096 && cut >= 16 && cut < w.buf.size - 2) {
            cut = w.buf.size - 2;
        }
        sl__mpr_init(&r, p, cut);
        SL_ASSERT_EQ(sl__mpr_ext(&r, &t, &data, &n), -1);
        SL_ASSERT(r.p == p);
    }
    s_check_prefixes(p, w.buf.size);
    free(p);
    sl__mpw_fini(&w);
}

static void
test_mp_ext_every_width(void)
{
    s_check_ext(1, 1, 0xd4, 2);
    s_check_ext(2, 2, 0xd5, 2);
    s_check_ext(4, -1, 0xd6, 2); // negative (msgpack-reserved) types read
    s_check_ext(8, 1, 0xd7, 2);
    s_check_ext(16, 2, 0xd8, 2);
    s_check_ext(0, 1, 0xc7, 3);
    s_check_ext(3, 1, 0xc7, 3);
    s_check_ext(255, 1, 0xc7, 3);
    s_check_ext(256, 2, 0xc8, 4);
    s_check_ext(65535, 2, 0xc8, 4);
    s_check_ext(65536, 1, 0xc9, 6);
}

static void
test_mp_c1_is_invalid(void)
{
    static const uint8_t c1[] = {0xc1};
    static const uint8_t in_array[] = {0x92, 0xc0, 0xc1};
    static const uint8_t in_map[] = {0x81, 0xa1, 'k', 0xc1};
    sl__mpr r;
    bool b;
    int64_t i;
    uint64_t u;
    double d;
    const char *s;
    const uint8_t *p;
    uint32_t n;
    int8_t t;
    sl__mpr_init(&r, c1, 1);
    SL_ASSERT_EQ(sl__mpr_peek(&r), SL_MP_INVALID);
    SL_ASSERT(sl__mpr_nil(&r) == -1 && sl__mpr_bool(&r, &b) == -1);
    SL_ASSERT(sl__mpr_i64(&r, &i) == -1 && sl__mpr_u64(&r, &u) == -1);
    SL_ASSERT(sl__mpr_f64(&r, &d) == -1 && sl__mpr_str(&r, &s, &n) == -1);
    SL_ASSERT(sl__mpr_bin(&r, &p, &n) == -1);
    SL_ASSERT(sl__mpr_array(&r, &n) == -1 && sl__mpr_map(&r, &n) == -1);
    SL_ASSERT_EQ(sl__mpr_ext(&r, &t, &p, &n), -1);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 8, NULL, NULL), -1);
    SL_ASSERT(r.p == c1);
    sl__mpr_init(&r, in_array, sizeof(in_array));
    SL_ASSERT_EQ(sl__mpr_skip(&r, 8, NULL, NULL), -1);
    SL_ASSERT(r.p == in_array);
    sl__mpr_init(&r, in_map, sizeof(in_map));
    SL_ASSERT_EQ(sl__mpr_skip(&r, 8, NULL, NULL), -1);
    SL_ASSERT(r.p == in_map);
}

// One item of every kind inside nested containers, then a second item.
static void
test_mp_skip_every_kind(void)
{
    sl__mpw w;
    sl__mpw_init(&w);
    msgpack_pack_map(&w.pk, 2);
    sl__mpw_str(&w, "all");
    msgpack_pack_array(&w.pk, 17);
    msgpack_pack_nil(&w.pk);
    msgpack_pack_true(&w.pk);
    msgpack_pack_false(&w.pk);
    msgpack_pack_fix_uint8(&w.pk, 1);
    msgpack_pack_fix_uint16(&w.pk, 2);
    msgpack_pack_fix_uint32(&w.pk, 3);
    msgpack_pack_fix_uint64(&w.pk, UINT64_MAX);
    msgpack_pack_fix_int8(&w.pk, -4);
    msgpack_pack_fix_int16(&w.pk, -5);
    msgpack_pack_fix_int32(&w.pk, -6);
    msgpack_pack_fix_int64(&w.pk, INT64_MIN);
    msgpack_pack_float(&w.pk, 0.5f);
    msgpack_pack_double(&w.pk, 0.25);
    sl__mpw_str(&w, "x");
    sl__mpw_bin(&w, "yz", 2);
    msgpack_pack_ext(&w.pk, 3, 7);
    msgpack_pack_ext_body(&w.pk, "abc", 3);
    msgpack_pack_array(&w.pk, 2);
    msgpack_pack_map(&w.pk, 0);
    msgpack_pack_array(&w.pk, 0);
    sl__mpw_str(&w, "tail");
    msgpack_pack_fix_int8(&w.pk, -1);
    size_t first = w.buf.size;
    msgpack_pack_uint32(&w.pk, 99); // a second item after the first
    s_check_prefixes((const uint8_t *) w.buf.data, first);

    sl__mpr r;
    const uint8_t *start;
    size_t len;
    uint32_t n;
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 4, &start, &len), 0);
    SL_ASSERT(start == (const uint8_t *) w.buf.data);
    SL_ASSERT_EQ(len, first);
    SL_ASSERT(sl__mpr_u32(&r, &n) == 0 && n == 99);
    // A map holds an array holding an array of empty containers: depth 4.
    sl__mpr_init(&r, w.buf.data, w.buf.size);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 3, NULL, NULL), -1);
    SL_ASSERT(r.p == (const uint8_t *) w.buf.data);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 4, NULL, &len), 0);
    SL_ASSERT_EQ(len, first);
    sl__mpw_fini(&w);
}

// depth nested one-element arrays around a nil.
static uint8_t *
s_nested(size_t depth, size_t *len)
{
    uint8_t *p = malloc(depth + 1);
    memset(p, 0x91, depth);
    p[depth] = 0xc0;
    *len = depth + 1;
    return p;
}

static void
test_mp_skip_depth(void)
{
    size_t len;
    sl__mpr r;
    uint8_t *p = s_nested(10, &len);
    sl__mpr_init(&r, p, len);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 9, NULL, NULL), -1);
    SL_ASSERT(r.p == p);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 10, NULL, NULL), 0);
    free(p);
    // max_depth 0 still takes a scalar, but no container.
    sl__mpr_init(&r, "\x07", 1);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 0, NULL, NULL), 0);
    sl__mpr_init(&r, "\x90", 1);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 0, NULL, NULL), -1);
    // The skipper's own stack holds 64 levels, whatever the caller asks.
    p = s_nested(64, &len);
    sl__mpr_init(&r, p, len);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 1000, NULL, NULL), 0);
    free(p);
    p = s_nested(65, &len);
    sl__mpr_init(&r, p, len);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 1000, NULL, NULL), -1);
    free(p);
    // A depth bomb: a million levels fail fast and cleanly.
    p = s_nested(1000000, &len);
    sl__mpr_init(&r, p, len);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 32, NULL, NULL), -1);
    SL_ASSERT(r.p == p);
    free(p);
    // [[], [[]], {"": {}}] is 3 deep: empty containers close their
    // levels correctly.
    static const uint8_t mixed[] = {0x93, 0x90, 0x91, 0x90,
                                    0x81, 0xa0, 0x80, 0x2a};
    sl__mpr_init(&r, mixed, sizeof(mixed));
    SL_ASSERT_EQ(sl__mpr_skip(&r, 2, NULL, &len), -1);
    SL_ASSERT_EQ(sl__mpr_skip(&r, 3, NULL, &len), 0);
    SL_ASSERT_EQ(len, sizeof(mixed) - 1);
    SL_ASSERT_EQ(sl__mpr_left(&r), 1);
    s_check_prefixes(mixed, sizeof(mixed) - 1);
}

static void
test_mp_writer_helpers(void)
{
    sl__mpw w;
    sl__mpw_init(&w);
    sl__mpw_str(&w, "hi");
    sl__mpw_strn(&w, "a\0b", 3);
    sl__mpw_bin(&w, "\x01\x02", 2);
    sl__mpw_raw(&w, "\x92\xc0\xc3", 3);
    static const uint8_t want[] = {0xa2, 'h', 'i', 0xa3, 'a',  0,    'b',
                                   0xc4, 2,   1,   2,    0x92, 0xc0, 0xc3};
    SL_ASSERT_EQ(w.buf.size, sizeof(want));
    SL_ASSERT(memcmp(w.buf.data, want, sizeof(want)) == 0);
    char *mem = w.buf.data;
    sl__mpw_reset(&w);
    SL_ASSERT_EQ(w.buf.size, 0);
    sl__mpw_str(&w, "again");
    SL_ASSERT(w.buf.data == mem); // the memory is kept
    SL_ASSERT_EQ(w.buf.size, 6);
    sl__mpw_fini(&w);
}

// A write that finds no memory is remembered until the next reset, and
// the encoders turn it into SL_ENOMEM: half-packed bytes never leave.
// The write asks for more than any machine has (realloc fails at once, and
// msgpack reads the source only after it got the memory).
static void
test_mp_writer_out_of_memory(void)
{
    static const uint8_t byte = 0xc0;
    sl__mpw w;
    sl__mpw_init(&w);
    sl__mpw_str(&w, "before");
    SL_ASSERT(!sl__mpw_failed(&w));
    sl__mpw_raw(&w, &byte, SIZE_MAX / 4);
    SL_ASSERT(sl__mpw_failed(&w));
    sl__mpw_str(&w, "after"); // this one fits, but the message is broken
    SL_ASSERT(sl__mpw_failed(&w));
    // A message built from a failed buffer of parts is failed too.
    sl__mpw whole;
    sl__mpw_init(&whole);
    sl__mpw_str(&whole, "header");
    sl__mpw_append(&whole, &w);
    SL_ASSERT(sl__mpw_failed(&whole));
    sl__mpw_fini(&whole);
    sl_value *v = sl_value_new_int(7);
    SL_ASSERT_EQ(sl__value_pack(&w, v), SL_ENOMEM);
    sl__mpw_reset(&w);
    SL_ASSERT(!sl__mpw_failed(&w));
    SL_PASS(sl__value_pack(&w, v));
    sl__mpw_init(&whole);
    sl__mpw_append(&whole, &w); // the same bytes, and no failure
    SL_ASSERT(!sl__mpw_failed(&whole));
    SL_ASSERT_EQ(whole.buf.size, w.buf.size);
    SL_ASSERT(memcmp(whole.buf.data, w.buf.data, w.buf.size) == 0);
    sl__mpw_fini(&whole);
    sl_value_destroy(&v);
    sl__mpw_fini(&w);
}

int
main(void)
{
    SL_RUN(test_mp_peek_every_byte);
    SL_RUN(test_mp_nil_bool);
    SL_RUN(test_mp_int_every_width);
    SL_RUN(test_mp_int_packed_widths);
    SL_RUN(test_mp_floats);
    SL_RUN(test_mp_str_every_width);
    SL_RUN(test_mp_bin_every_width);
    SL_RUN(test_mp_array_map_every_width);
    SL_RUN(test_mp_counts_checked_against_bytes);
    SL_RUN(test_mp_ext_every_width);
    SL_RUN(test_mp_c1_is_invalid);
    SL_RUN(test_mp_skip_every_kind);
    SL_RUN(test_mp_skip_depth);
    SL_RUN(test_mp_writer_helpers);
    SL_RUN(test_mp_writer_out_of_memory);
    return 0;
}
