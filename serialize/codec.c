// codec.c - values to msgpack and back.
// SPDX-License-Identifier: MIT
//
// Design notes. Scalars, strings, lists and maps are plain msgpack. Two ext
// types carry the rest (all integers little endian):
//
//   ndarray (ext 1): u8 dtype, u8 ndim, 6 zero bytes, ndim x i64 shape,
//                    then the row-major elements. The elements start at a
//                    multiple of 8 bytes into the payload.
//   ref     (ext 2): u8 version (1), u8 shard, u16 key length, u64 size,
//                    then the key bytes.
//   future  (ext 3): u64 job, u64 index (16 bytes).
//
// The decoder is recursive, bounded by lim->max_depth, and checks every
// declared count against the bytes left before it allocates.
#include "codec.h"

#include <string.h>

// The first buffer of sl__value_encode, in bytes.
#define S_ENCODE_FIRST 256

const sl__limits sl__limits_default = {
    .max_message = 512u << 20,
    .max_depth = 32,
    .max_elems = 16u << 20,
    .max_str = 256u << 20,
    .max_ndarray = 256u << 20,
    .max_tasks = 65536,
    .max_job_tasks = 64u << 20,
};

static void
s_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
}

static uint64_t
s_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

// The encoding of an ndarray up to its elements, which follow it.
static void
s_pack_ndarray_head(sl__mpw *w, const sl_value *v)
{
    uint8_t hdr[8 + 8 * SL_NDARRAY_MAX_DIMS] = {0};
    size_t hlen = 8 + 8 * (size_t) v->u.nd.ndim;
    hdr[0] = (uint8_t) v->u.nd.dtype;
    hdr[1] = (uint8_t) v->u.nd.ndim;
    for (int i = 0; i < v->u.nd.ndim; i++) {
        s_le64(hdr + 8 + 8 * i, (uint64_t) v->u.nd.shape[i]);
    }
    msgpack_pack_ext(&w->pk, hlen + v->u.nd.nbytes, SL_EXT_NDARRAY);
    msgpack_pack_ext_body(&w->pk, hdr, hlen);
}

static void
s_pack_ndarray(sl__mpw *w, const sl_value *v)
{
    s_pack_ndarray_head(w, v);
    msgpack_pack_ext_body(&w->pk, v->u.nd.data, v->u.nd.nbytes);
}

static sl_err
s_pack_ref(sl__mpw *w, const sl_value *v)
{
    size_t klen = strlen(v->u.ref.key);
    // The header has one byte for the shard and two for the key length:
    // refuse rather than write a ref that names another object.
    if (klen == 0 || klen > UINT16_MAX || v->u.ref.shard < 0 ||
        v->u.ref.shard > UINT8_MAX) {
        return SL_EINVAL;
    }
    uint8_t hdr[12];
    hdr[0] = 1;
    hdr[1] = (uint8_t) v->u.ref.shard;
    hdr[2] = (uint8_t) (klen & 0xff);
    hdr[3] = (uint8_t) (klen >> 8);
    s_le64(hdr + 4, v->u.ref.size);
    msgpack_pack_ext(&w->pk, sizeof(hdr) + klen, SL_EXT_REF);
    msgpack_pack_ext_body(&w->pk, hdr, sizeof(hdr));
    msgpack_pack_ext_body(&w->pk, v->u.ref.key, klen);
    return SL_OK;
}

static sl_err
s_pack(sl__mpw *w, const sl_value *v, int depth)
{
    sl_type type = sl_value_type(v);
    // v sits inside depth lists and maps; a peer's s_decode allows
    // max_depth of them one inside another.
    if ((type == SL_LIST || type == SL_MAP) &&
        depth >= sl__limits_default.max_depth) {
        return SL_EINVAL;
    }
    sl_err rv = SL_OK;
    switch (type) {
    case SL_NIL:
        msgpack_pack_nil(&w->pk);
        break;
    case SL_BOOL:
        v->u.b ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk);
        break;
    case SL_INT:
        msgpack_pack_int64(&w->pk, v->u.i);
        break;
    case SL_FLOAT:
        msgpack_pack_double(&w->pk, v->u.f);
        break;
    case SL_STR:
        sl__mpw_strn(w, v->u.s.ptr, v->u.s.len);
        break;
    case SL_BYTES:
        sl__mpw_bin(w, v->u.s.ptr, v->u.s.len);
        break;
    case SL_NDARRAY:
        s_pack_ndarray(w, v);
        break;
    case SL_REF:
        rv = s_pack_ref(w, v);
        break;
    case SL_FUTURE: {
        uint8_t body[16];
        s_le64(body, v->u.fut.job);
        s_le64(body + 8, v->u.fut.index);
        msgpack_pack_ext(&w->pk, sizeof(body), SL_EXT_FUTURE);
        msgpack_pack_ext_body(&w->pk, body, sizeof(body));
        break;
    }
    case SL_LIST:
        msgpack_pack_array(&w->pk, v->u.list.n);
        for (size_t i = 0; i < v->u.list.n && rv == SL_OK; i++) {
            rv = s_pack(w, v->u.list.items[i], depth + 1);
        }
        break;
    case SL_MAP:
        msgpack_pack_map(&w->pk, v->u.map.n);
        for (size_t i = 0; i < v->u.map.n && rv == SL_OK; i++) {
            if (strlen(v->u.map.keys[i]) > SL_MAP_KEY_MAX) {
                return SL_EINVAL; // s_decode_map would refuse it
            }
            sl__mpw_str(w, v->u.map.keys[i]);
            rv = s_pack(w, v->u.map.vals[i], depth + 1);
        }
        break;
    }
    return rv;
}

sl_err
sl__value_pack(sl__mpw *w, const sl_value *v)
{
    sl_err rv = s_pack(w, v, 0);
    return rv == SL_OK && sl__mpw_failed(w) ? SL_ENOMEM : rv;
}

sl_err
sl__value_encode_split(const sl_value *v, void **head_out, size_t *head_len,
                       const void **tail_out, size_t *tail_len)
{
    if (v == NULL || v->type != SL_NDARRAY ||
        v->u.nd.nbytes < SL_ENCODE_SPLIT_MIN) {
        *tail_out = NULL;
        *tail_len = 0;
        return sl__value_encode(v, head_out, head_len);
    }
    sl__mpw w;
    sl__mpw_init(&w);
    s_pack_ndarray_head(&w, v);
    if (w.buf.data == NULL || sl__mpw_failed(&w)) {
        sl__mpw_fini(&w);
        return SL_ENOMEM;
    }
    *head_len = w.buf.size;
    *head_out = msgpack_sbuffer_release(&w.buf);
    *tail_out = v->u.nd.data;
    *tail_len = v->u.nd.nbytes;
    return SL_OK;
}

sl_err
sl__value_encode(const sl_value *v, void **buf_out, size_t *len_out)
{
    sl__mpw w;
    sl__mpw_init(&w);
    // msgpack's first buffer would be 8 KiB; most values (a task's result,
    // a nil) are a few bytes, and a large allocation per task makes malloc
    // consolidate its free lists each time (perf: a tenth of an executor's
    // time). Start small; the buffer doubles as it fills.
    if ((w.buf.data = malloc(S_ENCODE_FIRST)) != NULL) {
        w.buf.alloc = S_ENCODE_FIRST;
    }
    sl_err rv = sl__value_pack(&w, v);
    if (rv != SL_OK) {
        sl__mpw_fini(&w);
        return rv;
    }
    if (w.buf.data == NULL) {
        sl__mpw_fini(&w);
        return SL_ENOMEM;
    }
    *len_out = w.buf.size;
    *buf_out = msgpack_sbuffer_release(&w.buf);
    return SL_OK;
}

// The decoder's state: where it reads, what bounds it, where to say why.
typedef struct {
    sl__mpr *r;
    const sl__limits *lim;
    sl__blob *blob;
    char *errbuf;
    const uint8_t *base; // start of the buffer, for error offsets
} s_dec;

static sl_err
s_fail(s_dec *d, sl_err rv, const char *what)
{
    sl__fmt(d->errbuf, SL_ERRSTR_LEN, "%s at byte %zu", what,
            (size_t) (d->r->p - d->base));
    return rv;
}

static sl_err s_decode(s_dec *d, int depth, sl_value **out);

static sl_err
s_decode_ndarray(s_dec *d, const uint8_t *p, uint32_t len, sl_value **out)
{
    if (len < 8) {
        return s_fail(d, SL_EPROTO, "ndarray header truncated");
    }
    sl_dtype dtype = (sl_dtype) p[0];
    int ndim = p[1];
    if (sl_dtype_size(dtype) == 0) {
        return s_fail(d, SL_EPROTO, "ndarray with unknown dtype");
    }
    if (ndim > SL_NDARRAY_MAX_DIMS) {
        return s_fail(d, SL_EPROTO, "ndarray with more than 4 dimensions");
    }
    size_t hlen = 8 + 8 * (size_t) ndim;
    if (len < hlen) {
        return s_fail(d, SL_EPROTO, "ndarray shape truncated");
    }
    int64_t shape[SL_NDARRAY_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        uint64_t dim = s_get_le64(p + 8 + 8 * i);
        if (dim > (uint64_t) INT64_MAX) {
            return s_fail(d, SL_EPROTO, "ndarray with a negative dimension");
        }
        shape[i] = (int64_t) dim;
    }
    size_t nbytes = sl__ndarray_nbytes(dtype, ndim, shape);
    if (nbytes == SIZE_MAX || nbytes > d->lim->max_ndarray) {
        return s_fail(d, SL_ELIMIT, "ndarray larger than the limit");
    }
    if (nbytes != len - hlen) {
        return s_fail(d, SL_EPROTO,
                      "ndarray byte count does not match its shape");
    }
    const uint8_t *data = p + hlen;
    size_t align = sl_dtype_size(dtype);
    sl_value *v;
    if (d->blob != NULL && ((uintptr_t) data % align) == 0) {
        v = sl__value_new_ndarray_view(dtype, ndim, shape, (void *) data,
                                       d->blob);
    } else {
        v = sl_value_new_ndarray(dtype, ndim, shape, data);
    }
    if (v == NULL) {
        return s_fail(d, SL_ENOMEM, "out of memory for ndarray");
    }
    *out = v;
    return SL_OK;
}

static sl_err
s_decode_ref(s_dec *d, const uint8_t *p, uint32_t len, sl_value **out)
{
    if (len < 12 || p[0] != 1) {
        return s_fail(d, SL_EPROTO,
                      "ref header truncated or of unknown "
                      "version");
    }
    size_t klen = (size_t) p[2] | ((size_t) p[3] << 8);
    if (klen == 0 || klen != len - 12) {
        return s_fail(d, SL_EPROTO, "ref key length does not match");
    }
    char key[65536];
    memcpy(key, p + 12, klen);
    key[klen] = '\0';
    if (strlen(key) != klen) {
        return s_fail(d, SL_EPROTO, "ref key contains a NUL byte");
    }
    sl_value *v = sl__value_new_ref(key, s_get_le64(p + 4), p[1]);
    if (v == NULL) {
        return s_fail(d, SL_ENOMEM, "out of memory for ref");
    }
    *out = v;
    return SL_OK;
}

static sl_err
s_decode_ext(s_dec *d, sl_value **out)
{
    int8_t type;
    const uint8_t *p;
    uint32_t len;
    if (sl__mpr_ext(d->r, &type, &p, &len) != 0) {
        return s_fail(d, SL_EPROTO, "ext truncated");
    }
    if (type == SL_EXT_NDARRAY) {
        return s_decode_ndarray(d, p, len, out);
    }
    if (type == SL_EXT_REF) {
        return s_decode_ref(d, p, len, out);
    }
    if (type == SL_EXT_FUTURE) {
        if (len != 16) {
            return s_fail(d, SL_EPROTO, "future payload is not 16 bytes");
        }
        *out = sl__value_new_future(s_get_le64(p), s_get_le64(p + 8));
        return *out != NULL ? SL_OK
                            : s_fail(d, SL_ENOMEM, "out of memory for future");
    }
    return s_fail(d, SL_EPROTO, "unknown ext type");
}

static sl_err
s_decode_list(s_dec *d, int depth, sl_value **out)
{
    uint32_t n;
    if (sl__mpr_array(d->r, &n) != 0) {
        return s_fail(d, SL_EPROTO, "array header truncated");
    }
    if (n > d->lim->max_elems) {
        return s_fail(d, SL_ELIMIT, "list longer than the limit");
    }
    sl_value *list = sl_value_new_list();
    if (list == NULL || (n > 0 && (list->u.list.items = malloc(
                                       n * sizeof(sl_value *))) == NULL)) {
        sl_value_destroy(&list);
        return s_fail(d, SL_ENOMEM, "out of memory for list");
    }
    list->u.list.cap = n;
    for (uint32_t i = 0; i < n; i++) {
        sl_value *item = NULL;
        sl_err rv = s_decode(d, depth + 1, &item);
        if (rv != SL_OK) {
            sl_value_destroy(&list);
            return rv;
        }
        list->u.list.items[list->u.list.n++] = item;
    }
    *out = list;
    return SL_OK;
}

static sl_err
s_decode_map(s_dec *d, int depth, sl_value **out)
{
    uint32_t n;
    if (sl__mpr_map(d->r, &n) != 0) {
        return s_fail(d, SL_EPROTO, "map header truncated");
    }
    if (n > d->lim->max_elems) {
        return s_fail(d, SL_ELIMIT, "map larger than the limit");
    }
    sl_value *map = sl_value_new_map();
    if (map == NULL) {
        return s_fail(d, SL_ENOMEM, "out of memory for map");
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        char key[SL_MAP_KEY_MAX + 1];
        if (sl__mpr_str(d->r, &k, &klen) != 0) {
            sl_value_destroy(&map);
            return s_fail(d, SL_EPROTO, "map key is not a string");
        }
        if (klen >= sizeof(key) || memchr(k, 0, klen) != NULL) {
            sl_value_destroy(&map);
            return s_fail(d, SL_EPROTO, "map key too long or with NUL");
        }
        memcpy(key, k, klen);
        key[klen] = '\0';
        sl_value *item = NULL;
        sl_err rv = s_decode(d, depth + 1, &item);
        if (rv == SL_OK && (rv = sl_value_map_set(map, key, &item)) != SL_OK) {
            sl_value_destroy(&item);
            s_fail(d, rv, "out of memory for map");
        }
        if (rv != SL_OK) {
            sl_value_destroy(&map);
            return rv;
        }
    }
    *out = map;
    return SL_OK;
}

static sl_err
s_decode_buf(s_dec *d, sl_type type, sl_value **out)
{
    const uint8_t *p;
    uint32_t len;
    int rc = type == SL_STR ? sl__mpr_str(d->r, (const char **) &p, &len)
                            : sl__mpr_bin(d->r, &p, &len);
    if (rc != 0) {
        return s_fail(d, SL_EPROTO, "string or binary truncated");
    }
    if (len > d->lim->max_str) {
        return s_fail(d, SL_ELIMIT, "string or binary longer than the limit");
    }
    sl_value *v = type == SL_STR ? sl__value_new_strn((const char *) p, len)
                                 : sl_value_new_bytes(p, len);
    if (v == NULL) {
        return s_fail(d, SL_ENOMEM, "out of memory for string");
    }
    *out = v;
    return SL_OK;
}

static sl_err
s_decode_scalar(s_dec *d, sl__mp_kind kind, sl_value **out)
{
    sl_value *v = NULL;
    bool b;
    int64_t i;
    uint64_t u;
    double f;
    if (kind == SL_MP_NIL && sl__mpr_nil(d->r) == 0) {
        v = sl_value_new_nil();
    } else if (kind == SL_MP_BOOL && sl__mpr_bool(d->r, &b) == 0) {
        v = sl_value_new_bool(b);
    } else if (kind == SL_MP_INT && sl__mpr_i64(d->r, &i) == 0) {
        v = sl_value_new_int(i);
    } else if (kind == SL_MP_INT && sl__mpr_u64(d->r, &u) == 0) {
        return s_fail(d, SL_EPROTO, "integer above the int64 range");
    } else if (kind == SL_MP_FLOAT && sl__mpr_f64(d->r, &f) == 0) {
        v = sl_value_new_float(f);
    } else {
        return s_fail(d, SL_EPROTO, "invalid or truncated item");
    }
    if (v == NULL) {
        return s_fail(d, SL_ENOMEM, "out of memory");
    }
    *out = v;
    return SL_OK;
}

// depth counts the lists and maps around the item. Like sl__mpr_skip
// (which the scheduler walks arguments with), allow max_depth of them one
// inside another, so that every value one accepts the other does too.
static sl_err
s_decode(s_dec *d, int depth, sl_value **out)
{
    sl__mp_kind kind = sl__mpr_peek(d->r);
    if ((kind == SL_MP_ARRAY || kind == SL_MP_MAP) &&
        depth >= d->lim->max_depth) {
        return s_fail(d, SL_ELIMIT, "value nested deeper than the limit");
    }
    switch (kind) {
    case SL_MP_STR:
        return s_decode_buf(d, SL_STR, out);
    case SL_MP_BIN:
        return s_decode_buf(d, SL_BYTES, out);
    case SL_MP_EXT:
        return s_decode_ext(d, out);
    case SL_MP_ARRAY:
        return s_decode_list(d, depth, out);
    case SL_MP_MAP:
        return s_decode_map(d, depth, out);
    default:
        return s_decode_scalar(d, kind, out);
    }
}

sl_err
sl__value_decode(sl__mpr *r, const sl__limits *lim, sl__blob *blob,
                 sl_value **out, char errbuf[SL_ERRSTR_LEN])
{
    s_dec d = {r, lim != NULL ? lim : &sl__limits_default, blob, errbuf, r->p};
    errbuf[0] = '\0';
    return s_decode(&d, 0, out);
}

sl_err
sl__value_decode_buf(const void *buf, size_t len, const sl__limits *lim,
                     sl__blob *blob, sl_value **out, char errbuf[SL_ERRSTR_LEN])
{
    sl__mpr r;
    sl__mpr_init(&r, buf, len);
    s_dec d = {&r, lim != NULL ? lim : &sl__limits_default, blob, errbuf, r.p};
    errbuf[0] = '\0';
    if (len > d.lim->max_message) {
        return s_fail(&d, SL_ELIMIT, "value larger than the limit");
    }
    sl_value *v = NULL;
    sl_err rv = s_decode(&d, 0, &v);
    if (rv == SL_OK && sl__mpr_left(&r) != 0) {
        sl_value_destroy(&v);
        return s_fail(&d, SL_EPROTO, "trailing bytes after the value");
    }
    if (rv == SL_OK) {
        *out = v;
    }
    return rv;
}
