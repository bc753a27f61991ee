// mp.c - a bounds-checked msgpack reader, and msgpack-c writing helpers.
// SPDX-License-Identifier: MIT
#include "mp.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

static inline uint16_t
s_be16(const uint8_t *p)
{
    return (uint16_t) ((p[0] << 8) | p[1]);
}

static inline uint32_t
s_be32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
           ((uint32_t) p[2] << 8) | p[3];
}

static inline uint64_t
s_be64(const uint8_t *p)
{
    return ((uint64_t) s_be32(p) << 32) | s_be32(p + 4);
}

sl__mp_kind
sl__mpr_peek(const sl__mpr *r)
{
    if (r->p >= r->end) {
        return SL_MP_INVALID;
    }
    uint8_t b = *r->p;
    if (b <= 0x7f || b >= 0xe0) {
        return SL_MP_INT;
    }
    if (b <= 0x8f) {
        return SL_MP_MAP;
    }
    if (b <= 0x9f) {
        return SL_MP_ARRAY;
    }
    if (b <= 0xbf) {
        return SL_MP_STR;
    }
    switch (b) {
    case 0xc0:
        return SL_MP_NIL;
    case 0xc2:
    case 0xc3:
        return SL_MP_BOOL;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        return SL_MP_BIN;
    case 0xc7:
    case 0xc8:
    case 0xc9:
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        return SL_MP_EXT;
    case 0xca:
    case 0xcb:
        return SL_MP_FLOAT;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        return SL_MP_INT;
    case 0xd9:
    case 0xda:
    case 0xdb:
        return SL_MP_STR;
    case 0xdc:
    case 0xdd:
        return SL_MP_ARRAY;
    case 0xde:
    case 0xdf:
        return SL_MP_MAP;
    default:
        return SL_MP_INVALID;
    }
}

int
sl__mpr_nil(sl__mpr *r)
{
    if (r->p >= r->end || *r->p != 0xc0) {
        return -1;
    }
    r->p++;
    return 0;
}

int
sl__mpr_bool(sl__mpr *r, bool *out)
{
    if (r->p >= r->end || (*r->p != 0xc2 && *r->p != 0xc3)) {
        return -1;
    }
    *out = *r->p == 0xc3;
    r->p++;
    return 0;
}

// Read any integer as a sign flag and magnitude.
static int
s_int(sl__mpr *r, bool *neg, uint64_t *mag)
{
    size_t left = sl__mpr_left(r);
    if (left == 0) {
        return -1;
    }
    uint8_t b = *r->p;
    int64_t sv;
    size_t need;
    if (b <= 0x7f) {
        *neg = false;
        *mag = b;
        r->p++;
        return 0;
    }
    if (b >= 0xe0) {
        *neg = true;
        *mag = (uint64_t) (-(int64_t) (int8_t) b);
        r->p++;
        return 0;
    }
    switch (b) {
    case 0xcc:
    case 0xd0:
        need = 2;
        break;
    case 0xcd:
    case 0xd1:
        need = 3;
        break;
    case 0xce:
    case 0xd2:
        need = 5;
        break;
    case 0xcf:
    case 0xd3:
        need = 9;
        break;
    default:
        return -1;
    }
    if (left < need) {
        return -1;
    }
    const uint8_t *q = r->p + 1;
    switch (b) {
    case 0xcc:
        *neg = false, *mag = q[0];
        break;
    case 0xcd:
        *neg = false, *mag = s_be16(q);
        break;
    case 0xce:
        *neg = false, *mag = s_be32(q);
        break;
    case 0xcf:
        *neg = false, *mag = s_be64(q);
        break;
    default:
        if (b == 0xd0) {
            sv = (int8_t) q[0];
        } else if (b == 0xd1) {
            sv = (int16_t) s_be16(q);
        } else if (b == 0xd2) {
            sv = (int32_t) s_be32(q);
        } else {
            sv = (int64_t) s_be64(q);
        }
        *neg = sv < 0;
        // Magnitude of INT64_MIN does not fit int64: compute in unsigned.
        *mag = sv < 0 ? (uint64_t) 0 - (uint64_t) sv : (uint64_t) sv;
        break;
    }
    r->p += need;
    return 0;
}

int
sl__mpr_u64(sl__mpr *r, uint64_t *out)
{
    sl__mpr save = *r;
    bool neg;
    uint64_t mag;
    if (s_int(r, &neg, &mag) != 0 || (neg && mag != 0)) {
        *r = save;
        return -1;
    }
    *out = mag;
    return 0;
}

int
sl__mpr_u32(sl__mpr *r, uint32_t *out)
{
    sl__mpr save = *r;
    uint64_t v;
    if (sl__mpr_u64(r, &v) != 0 || v > UINT32_MAX) {
        *r = save;
        return -1;
    }
    *out = (uint32_t) v;
    return 0;
}

int
sl__mpr_i64(sl__mpr *r, int64_t *out)
{
    sl__mpr save = *r;
    bool neg;
    uint64_t mag;
    if (s_int(r, &neg, &mag) != 0) {
        return -1;
    }
    if (!neg && mag > (uint64_t) INT64_MAX) {
        *r = save;
        return -1;
    }
    if (neg && mag > (uint64_t) INT64_MAX + 1) {
        *r = save;
        return -1;
    }
    *out = neg ? (int64_t) (0 - mag) : (int64_t) mag;
    return 0;
}

int
sl__mpr_f64(sl__mpr *r, double *out)
{
    size_t left = sl__mpr_left(r);
    if (left == 0) {
        return -1;
    }
    uint8_t b = *r->p;
    if (b == 0xca && left >= 5) {
        uint32_t bits = s_be32(r->p + 1);
        float f;
        memcpy(&f, &bits, sizeof(f));
        *out = f;
        r->p += 5;
        return 0;
    }
    if (b == 0xcb && left >= 9) {
        uint64_t bits = s_be64(r->p + 1);
        memcpy(out, &bits, sizeof(*out));
        r->p += 9;
        return 0;
    }
    int64_t i;
    if (sl__mpr_peek(r) == SL_MP_INT) {
        uint64_t u;
        if (sl__mpr_i64(r, &i) == 0) {
            *out = (double) i;
            return 0;
        }
        if (sl__mpr_u64(r, &u) == 0) {
            *out = (double) u;
            return 0;
        }
    }
    return -1;
}

// Read a length-prefixed body whose length field is lenbytes wide (0 for
// a length packed into the type byte as fixlen), then the body itself.
static int
s_body(sl__mpr *r, size_t hdr, uint32_t len, const uint8_t **body)
{
    if (sl__mpr_left(r) - hdr < len) {
        return -1;
    }
    *body = r->p + hdr;
    r->p += hdr + len;
    return 0;
}

// Decode the length of a str/bin/array/map header: returns the header size
// or 0 when the bytes are missing.
static size_t
s_len(const sl__mpr *r, size_t lenbytes, uint32_t *len)
{
    size_t left = sl__mpr_left(r);
    if (left < 1 + lenbytes) {
        return 0;
    }
    const uint8_t *q = r->p + 1;
    if (lenbytes == 1) {
        *len = q[0];
    } else if (lenbytes == 2) {
        *len = s_be16(q);
    } else {
        *len = s_be32(q);
    }
    return 1 + lenbytes;
}

int
sl__mpr_str(sl__mpr *r, const char **s, uint32_t *len)
{
    if (r->p >= r->end) {
        return -1;
    }
    uint8_t b = *r->p;
    size_t hdr;
    if (b >= 0xa0 && b <= 0xbf) {
        *len = b & 0x1f;
        hdr = 1;
    } else if (b >= 0xd9 && b <= 0xdb) {
        hdr = s_len(r, (size_t) 1 << (b - 0xd9), len);
        if (hdr == 0) {
            return -1;
        }
    } else {
        return -1;
    }
    return s_body(r, hdr, *len, (const uint8_t **) s);
}

int
sl__mpr_bin(sl__mpr *r, const uint8_t **bin, uint32_t *len)
{
    if (r->p >= r->end) {
        return -1;
    }
    uint8_t b = *r->p;
    if (b < 0xc4 || b > 0xc6) {
        return -1;
    }
    size_t hdr = s_len(r, (size_t) 1 << (b - 0xc4), len);
    if (hdr == 0) {
        return -1;
    }
    return s_body(r, hdr, *len, bin);
}

static int
s_container(sl__mpr *r, uint8_t fixlo, uint8_t fixhi, uint8_t b16, uint32_t *n)
{
    if (r->p >= r->end) {
        return -1;
    }
    uint8_t b = *r->p;
    size_t hdr;
    if (b >= fixlo && b <= fixhi) {
        *n = b & 0x0f;
        hdr = 1;
    } else if (b == b16 || b == b16 + 1) {
        hdr = s_len(r, b == b16 ? 2 : 4, n);
        if (hdr == 0) {
            return -1;
        }
    } else {
        return -1;
    }
    r->p += hdr;
    return 0;
}

int
sl__mpr_array(sl__mpr *r, uint32_t *n)
{
    sl__mpr save = *r;
    if (s_container(r, 0x90, 0x9f, 0xdc, n) != 0) {
        return -1;
    }
    if (*n > sl__mpr_left(r)) {
        *r = save;
        return -1;
    }
    return 0;
}

int
sl__mpr_map(sl__mpr *r, uint32_t *n)
{
    sl__mpr save = *r;
    if (s_container(r, 0x80, 0x8f, 0xde, n) != 0) {
        return -1;
    }
    if ((uint64_t) *n * 2 > sl__mpr_left(r)) {
        *r = save;
        return -1;
    }
    return 0;
}

int
sl__mpr_ext(sl__mpr *r, int8_t *type, const uint8_t **data, uint32_t *len)
{
    size_t left = sl__mpr_left(r);
    if (left < 2) {
        return -1;
    }
    uint8_t b = *r->p;
    size_t hdr;
    switch (b) {
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        *len = 1u << (b - 0xd4);
        hdr = 1;
        break;
    case 0xc7:
    case 0xc8:
    case 0xc9:
        hdr = s_len(r, (size_t) 1 << (b - 0xc7), len);
        if (hdr == 0) {
            return -1;
        }
        break;
    default:
        return -1;
    }
    // hdr counts the type byte and the length; the ext type byte follows.
    if (left < hdr + 1) {
        return -1;
    }
    *type = (int8_t) r->p[hdr];
    return s_body(r, hdr + 1, *len, data);
}

int
sl__mpr_skip(sl__mpr *r, int max_depth, const uint8_t **start, size_t *len)
{
    const uint8_t *begin = r->p;
    sl__mpr save = *r;
    // An explicit count of items still to skip keeps this iterative, so a
    // deep nesting cannot exhaust the stack; depth is still bounded.
    uint64_t todo = 1;
    uint64_t stack[64];
    int depth = 0;
    if (max_depth > 64) {
        max_depth = 64;
    }
    while (todo > 0) {
        uint32_t n;
        const char *s;
        const uint8_t *b;
        int8_t t;
        double d;
        bool flag;
        uint64_t u;
        int64_t i;
        int rc;
        switch (sl__mpr_peek(r)) {
        case SL_MP_NIL:
            rc = sl__mpr_nil(r);
            break;
        case SL_MP_BOOL:
            rc = sl__mpr_bool(r, &flag);
            break;
        case SL_MP_INT:
            rc = sl__mpr_u64(r, &u) == 0 ? 0 : sl__mpr_i64(r, &i);
            break;
        case SL_MP_FLOAT:
            rc = sl__mpr_f64(r, &d);
            break;
        case SL_MP_STR:
            rc = sl__mpr_str(r, &s, &n);
            break;
        case SL_MP_BIN:
            rc = sl__mpr_bin(r, &b, &n);
            break;
        case SL_MP_EXT:
            rc = sl__mpr_ext(r, &t, &b, &n);
            break;
        case SL_MP_ARRAY:
        case SL_MP_MAP: {
            bool is_map = sl__mpr_peek(r) == SL_MP_MAP;
            rc = is_map ? sl__mpr_map(r, &n) : sl__mpr_array(r, &n);
            if (rc != 0) {
                break;
            }
            if (depth >= max_depth) {
                rc = -1;
                break;
            }
            todo--;
            stack[depth++] = todo;
            todo = is_map ? (uint64_t) n * 2 : n;
            // Pop finished levels below.
            while (todo == 0 && depth > 0) {
                todo = stack[--depth];
            }
            continue;
        }
        default:
            rc = -1;
            break;
        }
        if (rc != 0) {
            *r = save;
            return -1;
        }
        todo--;
        while (todo == 0 && depth > 0) {
            todo = stack[--depth];
        }
    }
    if (start != NULL) {
        *start = begin;
    }
    if (len != NULL) {
        *len = (size_t) (r->p - begin);
    }
    return 0;
}

static int
s_write(void *data, const char *buf, size_t len)
{
    sl__mpw *w = data;
    if (msgpack_sbuffer_write(&w->buf, buf, len) != 0) {
        w->failed = true;
        return -1;
    }
    return 0;
}

void
sl__mpw_init(sl__mpw *w)
{
    msgpack_sbuffer_init(&w->buf);
    msgpack_packer_init(&w->pk, w, s_write);
    w->failed = false;
}

void
sl__mpw_fini(sl__mpw *w)
{
    msgpack_sbuffer_destroy(&w->buf);
}

void
sl__mpw_reset(sl__mpw *w)
{
    w->buf.size = 0;
    w->failed = false;
}

bool
sl__mpw_failed(const sl__mpw *w)
{
    return w->failed;
}

void
sl__mpw_append(sl__mpw *w, const sl__mpw *src)
{
    s_write(w, src->buf.data, src->buf.size);
    w->failed = w->failed || src->failed;
}

void
sl__mpw_xcheck(const sl__mpw *w)
{
    if (w->failed) {
        sl__log_error("out of memory packing a message");
        abort();
    }
}

void
sl__mpw_str(sl__mpw *w, const char *s)
{
    sl__mpw_strn(w, s, strlen(s));
}

void
sl__mpw_strn(sl__mpw *w, const char *s, size_t len)
{
    msgpack_pack_str(&w->pk, len);
    msgpack_pack_str_body(&w->pk, s, len);
}

void
sl__mpw_bin(sl__mpw *w, const void *b, size_t len)
{
    msgpack_pack_bin(&w->pk, len);
    msgpack_pack_bin_body(&w->pk, b, len);
}

void
sl__mpw_raw(sl__mpw *w, const void *b, size_t len)
{
    s_write(w, b, len);
}
