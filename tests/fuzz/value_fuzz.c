// value_fuzz.c - fuzz the value decoder (sl__value_decode_buf): with and
// without a blob, under tight limits, against sl__mpr_skip, and through a
// re-encode round trip.
// SPDX-License-Identifier: MIT
//
// Design notes. The input is one encoded value, as a worker gets a task's
// argument, a client a result, or the store an object. Oracles:
// - With a blob or without, a decode gives the same answer, the same error
//   text and the same value: the blob only saves copies.
// - Tighter limits can only turn an answer into SL_ELIMIT.
// - What decodes also skips, over exactly the same bytes: the scheduler
//   skips the arguments that workers then decode. That holds for each
//   value of a stream read with sl__value_decode too.
// - What decodes re-encodes, and that encoding is a fixed point: it decodes
//   to the same value, which encodes to the same bytes.
// - A copy is the same value, outlives the blob, and describes the same.
#include "fuzzutil.h"

// Limits small enough that inputs of a few hundred bytes break each one.
static const sl__limits s_tight = {
    .max_message = 2048,
    .max_depth = 3,
    .max_elems = 6,
    .max_str = 24,
    .max_ndarray = 64,
    .max_tasks = 4,
    .max_job_tasks = 16,
};

// Describe v into buffers of several sizes; each result is terminated
// inside its buffer and is a prefix of the longest.
static void
s_describe(const sl_value *v, char full[512])
{
    static const size_t sizes[] = {0, 1, 2, 7, 64};
    sl_value_describe(v, full, 512);
    SL_FUZZ_CHECK(strlen(full) < 512);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char small[64];
        memset(small, 'x', sizeof(small));
        SL_FUZZ_CHECK(sl_value_describe(v, small, sizes[i]) == small);
        if (sizes[i] > 0) {
            SL_FUZZ_CHECK(strlen(small) < sizes[i]);
            SL_FUZZ_CHECK(strncmp(small, full, strlen(small)) == 0);
        }
    }
}

// The value re-encodes, and its encoding is a fixed point.
static void
s_round_trip(const sl_value *v)
{
    void *e1 = NULL, *e2 = NULL;
    size_t n1 = 0, n2 = 0;
    sl_value *v2 = NULL;
    char errbuf[SL_ERRSTR_LEN];
    // Everything the decoder accepts, the encoder must accept.
    SL_FUZZ_CHECK(sl__value_encode(v, &e1, &n1) == SL_OK);
    SL_FUZZ_CHECK(sl__value_decode_buf(e1, n1, NULL, NULL, &v2, errbuf) ==
                  SL_OK);
    SL_FUZZ_CHECK(sl__fuzz_same(v, v2));
    SL_FUZZ_CHECK(sl__value_encode(v2, &e2, &n2) == SL_OK);
    SL_FUZZ_CHECK(n1 == n2 && memcmp(e1, e2, n1) == 0);
    // The split encoding (head, then a large ndarray's own elements) is
    // the same bytes.
    void *head = NULL;
    const void *tail = NULL;
    size_t head_len = 0, tail_len = 0;
    SL_FUZZ_CHECK(
        sl__value_encode_split(v, &head, &head_len, &tail, &tail_len) == SL_OK);
    SL_FUZZ_CHECK(head_len + tail_len == n1 &&
                  memcmp(head, e1, head_len) == 0 &&
                  (tail_len == 0 ||
                   memcmp(tail, (uint8_t *) e1 + head_len, tail_len) == 0));
    free(head);
    sl_value_destroy(&v2);
    free(e1);
    free(e2);
}

// What decoded from data also skips, over all of data.
static void
s_skip_agrees(const uint8_t *data, size_t size)
{
    sl__mpr r;
    const uint8_t *start = NULL;
    size_t len = 0;
    sl__mpr_init(&r, data, size);
    SL_FUZZ_CHECK(
        sl__mpr_skip(&r, sl__limits_default.max_depth, &start, &len) == 0);
    SL_FUZZ_CHECK(start == data && len == size && sl__mpr_left(&r) == 0);
}

// Read data as a stream of values with sl__value_decode, as far as they
// decode: each one spans the bytes sl__mpr_skip gives it.
static void
s_check_stream(const uint8_t *data, size_t size)
{
    sl__mpr r;
    sl__mpr_init(&r, data, size);
    while (sl__mpr_left(&r) > 0) {
        sl__mpr skip = r;
        const uint8_t *start;
        size_t len;
        sl_value *v = NULL;
        char errbuf[SL_ERRSTR_LEN];
        if (sl__value_decode(&r, NULL, NULL, &v, errbuf) != SL_OK) {
            SL_FUZZ_CHECK(v == NULL && errbuf[0] != '\0');
            return;
        }
        SL_FUZZ_CHECK(sl__mpr_skip(&skip, sl__limits_default.max_depth, &start,
                                   &len) == 0);
        SL_FUZZ_CHECK(skip.p == r.p && skip.end == r.end);
        sl_value_destroy(&v);
    }
}

// A copy is the same value and describes the same way.
static sl_value *
s_copy(const sl_value *v)
{
    char d1[512], d2[512];
    sl_value *c = sl_value_copy(v);
    SL_FUZZ_CHECK(c != NULL && sl__fuzz_same(c, v));
    s_describe(v, d1);
    s_describe(c, d2);
    SL_FUZZ_CHECK(strcmp(d1, d2) == 0);
    return c;
}

// Decode a heap copy of data whose blob the value may point into. The
// copy of the result must outlive the blob: it is checked after the
// decoded value, and with it the last hold on the blob, is gone.
static void
s_check_blob(const uint8_t *data, size_t size, sl_err want, const char *why,
             const sl_value *want_v)
{
    uint8_t *buf = sl__fuzz_dup(data, size);
    sl__blob *blob = sl__blob_new(buf, size, NULL, NULL);
    SL_FUZZ_CHECK(blob != NULL);
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__value_decode_buf(buf, size, NULL, blob, &v, errbuf);
    sl__blob_release(&blob);
    SL_FUZZ_CHECK(blob == NULL);
    SL_FUZZ_CHECK(rv == want && strcmp(errbuf, why) == 0);
    SL_FUZZ_CHECK((rv == SL_OK) == (v != NULL));
    if (rv != SL_OK) {
        return;
    }
    SL_FUZZ_CHECK(sl__fuzz_same(v, want_v));
    sl_value *c = s_copy(v);
    sl_value_destroy(&v); // frees buf: c must not point into it
    SL_FUZZ_CHECK(v == NULL);
    SL_FUZZ_CHECK(sl__fuzz_same(c, want_v));
    sl_value_destroy(&c);
}

// Tighter limits only ever add SL_ELIMIT.
static void
s_check_tight(const uint8_t *data, size_t size, sl_err want, const char *why,
              const sl_value *want_v)
{
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__value_decode_buf(data, size, &s_tight, NULL, &v, errbuf);
    SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(errbuf));
    if (rv == SL_ELIMIT) {
        SL_FUZZ_CHECK(v == NULL && errbuf[0] != '\0');
        return;
    }
    SL_FUZZ_CHECK(rv == want && strcmp(errbuf, why) == 0);
    if (rv == SL_OK) {
        SL_FUZZ_CHECK(sl__fuzz_same(v, want_v));
    }
    sl_value_destroy(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_value *v = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__value_decode_buf(data, size, NULL, NULL, &v, errbuf);
    SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(errbuf));
    SL_FUZZ_CHECK(rv == SL_OK || rv == SL_EPROTO || rv == SL_ELIMIT);
    SL_FUZZ_CHECK((rv == SL_OK) == (v != NULL));
    SL_FUZZ_CHECK((rv == SL_OK) == (errbuf[0] == '\0'));
    s_check_blob(data, size, rv, errbuf, v);
    s_check_tight(data, size, rv, errbuf, v);
    s_check_stream(data, size);
    if (rv == SL_OK) {
        s_skip_agrees(data, size);
        s_round_trip(v);
        sl_value *c = s_copy(v);
        sl_value_destroy(&c);
    }
    sl_value_destroy(&v);
    return 0;
}
