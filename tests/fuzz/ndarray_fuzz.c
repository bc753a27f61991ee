// ndarray_fuzz.c - fuzz the payload decoders of the two ext types,
// ndarray (ext 1) and ref (ext 2), with the msgpack header built around
// the input so that every execution reaches them.
// SPDX-License-Identifier: MIT
//
// Design notes. The first input byte is a control byte, the rest the ext
// payload:
//   bit 0     0: ndarray, 1: ref
//   bits 1-2  the header: 0 the smallest (fixext when it fits), 1 ext8,
//             2 ext16, 3 ext32 (a form too small for the payload falls
//             back to the smallest)
//   bits 3-5  0 to 7 bytes of padding before the value in its buffer, so
//             that the elements of an ndarray land at every alignment
// The value is decoded with a blob that holds the buffer, and without.
// Oracles:
// - A payload decodes exactly when a model written from PROTOCOL.md says
//   it is valid, and then to the fields the model reads from it.
// - With a blob, an ndarray whose elements are aligned to their size is
//   a view into the buffer; any other is a 64-byte aligned copy.
// - Blob or not, and under a tight ndarray limit (which may only add
//   SL_ELIMIT), the answer is the same.
// - Re-encoding gives the same payload, with the six unused header bytes
//   of an ndarray written as zero.
#include "fuzzutil.h"

typedef struct {
    uint8_t *buf;           // the whole allocation (the blob's data)
    size_t buf_len;         // its size
    const uint8_t *value;   // the encoded value: pad bytes into buf
    size_t value_len;       // header and payload
    const uint8_t *payload; // the copy of the payload inside buf
    size_t len;             // payload bytes
    int8_t type;            // SL_EXT_NDARRAY or SL_EXT_REF
} s_input;

static uint64_t
s_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

// The ext header of form (see the design notes) for len bytes of type.
static size_t
s_header(uint8_t *out, int form, int8_t type, size_t len)
{
    static const uint8_t fixext[17] = {
        [1] = 0xd4, [2] = 0xd5, [4] = 0xd6, [8] = 0xd7, [16] = 0xd8};
    if (form == 1 && len > UINT8_MAX) {
        form = 0;
    }
    if (form == 2 && len > UINT16_MAX) {
        form = 0;
    }
    if (form == 0 && len <= 16 && fixext[len] != 0) {
        out[0] = fixext[len];
        out[1] = (uint8_t) type;
        return 2;
    }
    if (form == 0) {
        form = len <= UINT8_MAX ? 1 : len <= UINT16_MAX ? 2 : 3;
    }
    size_t n = form == 1 ? 1 : form == 2 ? 2 : 4;
    out[0] = (uint8_t) (0xc6 + form); // 0xc7 ext8, 0xc8 ext16, 0xc9 ext32
    for (size_t i = 0; i < n; i++) {
        out[1 + i] = (uint8_t) (len >> (8 * (n - 1 - i)));
    }
    out[1 + n] = (uint8_t) type;
    return 2 + n;
}

static s_input
s_input_build(const uint8_t *data, size_t size)
{
    s_input in;
    uint8_t ctl = data[0];
    size_t pad = (ctl >> 3) & 7;
    uint8_t hdr[6];
    in.type = (ctl & 1) ? SL_EXT_REF : SL_EXT_NDARRAY;
    in.len = size - 1;
    size_t hlen = s_header(hdr, (ctl >> 1) & 3, in.type, in.len);
    in.buf_len = pad + hlen + in.len;
    in.buf = malloc(in.buf_len);
    SL_FUZZ_CHECK(in.buf != NULL);
    memset(in.buf, 0xee, pad);
    memcpy(in.buf + pad, hdr, hlen);
    memcpy(in.buf + pad + hlen, data + 1, in.len);
    in.value = in.buf + pad;
    in.value_len = hlen + in.len;
    in.payload = in.buf + pad + hlen;
    return in;
}

// ---------------------------------------------------------------------
// The model: what PROTOCOL.md says a payload holds.

typedef struct {
    bool valid;
    bool has_zero_dim;
    size_t elem;      // element size
    size_t hlen;      // header and shape bytes
    int64_t shape[4]; // dimensions
} s_nd_model;

static s_nd_model
s_nd_model_read(const uint8_t *p, size_t len)
{
    s_nd_model m = {false, false, 0, 0, {0}};
    if (len < 8 || p[0] < SL_F32 || p[0] > SL_I64 || p[1] > 4) {
        return m;
    }
    m.elem = p[0] == SL_F32 || p[0] == SL_I32 ? 4 : 8;
    m.hlen = 8 + 8 * (size_t) p[1];
    if (len < m.hlen) {
        return m;
    }
    unsigned __int128 count = 1; // saturates at 2^64
    for (int i = 0; i < p[1]; i++) {
        uint64_t dim = s_le64(p + 8 + 8 * i);
        if (dim > (uint64_t) INT64_MAX) {
            return m;
        }
        m.shape[i] = (int64_t) dim;
        m.has_zero_dim |= dim == 0;
        count *= dim;
        if (count > UINT64_MAX) {
            count = (unsigned __int128) UINT64_MAX + 1;
        }
    }
    m.valid = m.has_zero_dim
                  ? len == m.hlen
                  : count * m.elem == (unsigned __int128) len - m.hlen;
    return m;
}

static bool
s_ref_model_valid(const uint8_t *p, size_t len)
{
    if (len < 12 || p[0] != 1) {
        return false;
    }
    size_t klen = (size_t) p[2] | ((size_t) p[3] << 8);
    return klen != 0 && klen == len - 12 && memchr(p + 12, 0, klen) == NULL;
}

// ---------------------------------------------------------------------

static void
s_check_ndarray(const s_input *in, const sl_value *v, bool with_blob)
{
    s_nd_model m = s_nd_model_read(in->payload, in->len);
    SL_FUZZ_CHECK(m.valid);
    const uint8_t *p = in->payload;
    SL_FUZZ_CHECK(sl_value_type(v) == SL_NDARRAY);
    SL_FUZZ_CHECK(sl_ndarray_dtype(v) == (sl_dtype) p[0]);
    SL_FUZZ_CHECK(sl_ndarray_ndim(v) == p[1]);
    for (int i = 0; i < p[1]; i++) {
        SL_FUZZ_CHECK(sl_ndarray_dim(v, i) == m.shape[i]);
    }
    size_t nbytes = in->len - m.hlen;
    SL_FUZZ_CHECK(sl_ndarray_nbytes(v) == nbytes);
    SL_FUZZ_CHECK(sl_ndarray_size(v) * m.elem == nbytes);
    const uint8_t *elems = p + m.hlen;
    const uint8_t *data = sl_ndarray_cdata(v);
    SL_FUZZ_CHECK(data != NULL && memcmp(data, elems, nbytes) == 0);
    bool aligned = (uintptr_t) elems % m.elem == 0;
    if (with_blob && aligned) {
        SL_FUZZ_CHECK(data == elems && v->owner != NULL);
    } else {
        SL_FUZZ_CHECK((uintptr_t) data % 64 == 0 && v->owner == NULL);
    }
}

static void
s_check_ref(const s_input *in, const sl_value *v)
{
    const uint8_t *p = in->payload;
    size_t klen = in->len - 12;
    SL_FUZZ_CHECK(s_ref_model_valid(p, in->len));
    SL_FUZZ_CHECK(sl_value_type(v) == SL_REF);
    SL_FUZZ_CHECK(strlen(sl_ref_key(v)) == klen &&
                  memcmp(sl_ref_key(v), p + 12, klen) == 0);
    SL_FUZZ_CHECK(sl_ref_size(v) == s_le64(p + 4));
    SL_FUZZ_CHECK(sl_ref_shard(v) == p[1]);
}

// Re-encoding gives back the payload (with an ndarray's unused bytes 0).
static void
s_check_reencode(const s_input *in, const sl_value *v)
{
    void *enc;
    size_t n;
    SL_FUZZ_CHECK(sl__value_encode(v, &enc, &n) == SL_OK);
    sl__mpr r;
    int8_t type;
    const uint8_t *p;
    uint32_t len;
    sl__mpr_init(&r, enc, n);
    SL_FUZZ_CHECK(sl__mpr_ext(&r, &type, &p, &len) == 0);
    SL_FUZZ_CHECK(sl__mpr_left(&r) == 0);
    SL_FUZZ_CHECK(type == in->type && len == in->len);
    if (type == SL_EXT_NDARRAY) {
        static const uint8_t zero[6] = {0};
        SL_FUZZ_CHECK(memcmp(p, in->payload, 2) == 0);
        SL_FUZZ_CHECK(memcmp(p + 2, zero, 6) == 0);
        SL_FUZZ_CHECK(memcmp(p + 8, in->payload + 8, len - 8) == 0);
    } else {
        SL_FUZZ_CHECK(memcmp(p, in->payload, len) == 0);
    }
    free(enc);
}

// The answer agrees with the model; a value, with the payload.
static void
s_check(const s_input *in, sl_err rv, const char *errbuf, const sl_value *v,
        bool with_blob)
{
    SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(errbuf));
    if (rv != SL_OK) {
        SL_FUZZ_CHECK(v == NULL && errbuf[0] != '\0');
        SL_FUZZ_CHECK(rv == SL_EPROTO || rv == SL_ELIMIT);
        if (in->type == SL_EXT_REF) {
            SL_FUZZ_CHECK(!s_ref_model_valid(in->payload, in->len));
        } else {
            // Without a zero dimension, the product of the dimensions is
            // at most the payload: no step of it can overflow.
            s_nd_model m = s_nd_model_read(in->payload, in->len);
            SL_FUZZ_CHECK(!m.valid || m.has_zero_dim);
        }
        return;
    }
    if (in->type == SL_EXT_REF) {
        s_check_ref(in, v);
    } else {
        s_check_ndarray(in, v, with_blob);
    }
    s_check_reencode(in, v);
}

// Under a tight ndarray limit the answer is the same, or SL_ELIMIT.
static void
s_check_tight(const s_input *in, sl_err want, const char *why,
              const sl_value *want_v)
{
    sl__limits tight = sl__limits_default;
    tight.max_ndarray = 48;
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__value_decode_buf(in->value, in->value_len, &tight, NULL, &v,
                                     errbuf);
    if (rv != SL_ELIMIT) {
        SL_FUZZ_CHECK(rv == want && strcmp(errbuf, why) == 0);
        SL_FUZZ_CHECK(rv != SL_OK || sl__fuzz_same(v, want_v));
    } else {
        SL_FUZZ_CHECK(in->type == SL_EXT_NDARRAY);
    }
    sl_value_destroy(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    s_input in = s_input_build(data, size);
    sl__blob *blob = sl__blob_new(in.buf, in.buf_len, NULL, NULL);
    SL_FUZZ_CHECK(blob != NULL);
    sl_value *v = NULL, *vb = NULL;
    char errbuf[SL_ERRSTR_LEN], errbuf_b[SL_ERRSTR_LEN];
    sl_err rv =
        sl__value_decode_buf(in.value, in.value_len, NULL, NULL, &v, errbuf);
    sl_err rv_b =
        sl__value_decode_buf(in.value, in.value_len, NULL, blob, &vb, errbuf_b);
    s_check(&in, rv, errbuf, v, false);
    s_check(&in, rv_b, errbuf_b, vb, true);
    SL_FUZZ_CHECK(rv == rv_b && strcmp(errbuf, errbuf_b) == 0);
    SL_FUZZ_CHECK(rv != SL_OK || sl__fuzz_same(v, vb));
    s_check_tight(&in, rv, errbuf, v);
    sl_value_destroy(&v);
    sl_value_destroy(&vb);
    sl__blob_release(&blob); // frees in.buf
    return 0;
}
