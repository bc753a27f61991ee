// manifest_fuzz.c - fuzz the chunk manifest decoder (store/manifest.h):
// the bytes a GET of a chunked object's key returns, before the store
// asks for any chunk; and the location decoder beside it (the record
// under the key of an object that lives in a node's tier).
// SPDX-License-Identifier: MIT
//
// Design notes. The input is decoded as it is, and a second time with the
// magic written over its first five bytes (when it has 25), so that every
// input reaches the checks of the numbers and not only the fuzzer's lucky
// ones. Its numbers are also planned (sl__manifest_plan) as a total and a
// chunk size. Oracles, against a model written from manifest.h's comments
// with 128-bit arithmetic, so that no product wraps:
// - A buffer decodes exactly when it is 25 bytes, starts with 0xc1
//   "SLCK", and n, total and chunk are above 0 with (n - 1) * chunk <
//   total <= n * chunk; then to the numbers it holds, else *out is
//   untouched. sl__manifest_lookalike is the length and magic alone.
// - A decoded manifest encodes to the same 25 bytes, and its chunks'
//   lengths are chunk for all but the last, the last between 1 and chunk,
//   and they add up to total.
// - A plan succeeds exactly when total and chunk are above 0 and the
//   chunks number at most UINT32_MAX; a plan encodes to bytes that decode
//   to the same plan.
#include "fuzzutil.h"
#include "store/manifest.h"

typedef unsigned __int128 s_u128;

static uint64_t
s_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

// The model of a valid manifest's numbers.
static bool
s_model_agrees(uint64_t n, uint64_t total, uint64_t chunk)
{
    return n > 0 && total > 0 && chunk > 0 &&
           (s_u128) (n - 1) * chunk < total && total <= (s_u128) n * chunk;
}

static bool
s_model_magic(const uint8_t *p, size_t len)
{
    return len == SL_MANIFEST_LEN && p[0] == 0xc1 && p[1] == 'S' &&
           p[2] == 'L' && p[3] == 'C' && p[4] == 'K';
}

// The chunk lengths of a decoded or planned manifest.
static void
s_check_chunks(const sl__manifest *m)
{
    size_t last = sl__manifest_chunk_len(m, m->n - 1);
    SL_FUZZ_CHECK(last >= 1 && last <= m->chunk);
    SL_FUZZ_CHECK((s_u128) (m->n - 1) * m->chunk + last == m->total);
    SL_FUZZ_CHECK(sl__manifest_chunk_len(m, 0) == (m->n > 1 ? m->chunk : last));
    if (m->n > 2) {
        SL_FUZZ_CHECK(sl__manifest_chunk_len(m, m->n / 2) == m->chunk);
        SL_FUZZ_CHECK(sl__manifest_chunk_len(m, m->n - 2) == m->chunk);
    }
}

// Decode an exact heap copy of len bytes of data, and check the answer
// against the model.
static void
s_check_decode(const uint8_t *data, size_t len)
{
    uint8_t *p = sl__fuzz_dup(data, len);
    bool magic = s_model_magic(p, len);
    SL_FUZZ_CHECK(sl__manifest_lookalike(p, len) == magic);
    bool want = magic &&
                s_model_agrees(s_le(p + 5, 4), s_le(p + 9, 8), s_le(p + 17, 8));
    sl__manifest m = {7, 7, 7};
    bool ok = sl__manifest_decode(p, len, &m);
    SL_FUZZ_CHECK(ok == want);
    if (!ok) {
        SL_FUZZ_CHECK(m.n == 7 && m.total == 7 && m.chunk == 7);
        free(p);
        return;
    }
    SL_FUZZ_CHECK(m.n == s_le(p + 5, 4) && m.total == s_le(p + 9, 8) &&
                  m.chunk == s_le(p + 17, 8));
    uint8_t again[SL_MANIFEST_LEN];
    sl__manifest_encode(&m, again);
    SL_FUZZ_CHECK(memcmp(again, p, SL_MANIFEST_LEN) == 0);
    s_check_chunks(&m);
    free(p);
}

// Plan total bytes in chunks of chunk, and check the plan.
static void
s_check_plan(uint64_t total, uint64_t chunk)
{
    sl__manifest m = {7, 7, 7}, back = {0, 0, 0};
    sl_err rv = sl__manifest_plan(&m, total, chunk);
    if (total == 0 || chunk == 0) {
        SL_FUZZ_CHECK(rv == SL_EINVAL);
        return;
    }
    s_u128 n = ((s_u128) total + chunk - 1) / chunk;
    SL_FUZZ_CHECK((rv == SL_OK) == (n <= UINT32_MAX));
    if (rv != SL_OK) {
        SL_FUZZ_CHECK(rv == SL_ELIMIT);
        SL_FUZZ_CHECK(m.n == 7 && m.total == 7 && m.chunk == 7);
        return;
    }
    SL_FUZZ_CHECK(m.n == n && m.total == total && m.chunk == chunk);
    uint8_t buf[SL_MANIFEST_LEN];
    sl__manifest_encode(&m, buf);
    SL_FUZZ_CHECK(sl__manifest_decode(buf, sizeof(buf), &back));
    SL_FUZZ_CHECK(back.n == m.n && back.total == m.total &&
                  back.chunk == m.chunk);
    s_check_chunks(&m);
}

// Decode len bytes of data as a location (the tier's record), and check
// the answer against its layout: a decoded one encodes to the same bytes.
static void
s_check_location(const uint8_t *data, size_t len)
{
    uint8_t *p = sl__fuzz_dup(data, len);
    sl__location loc;
    bool want = len >= 22 && len <= SL_LOCATION_MAX &&
                memcmp(p, "\xc1SLLO", 5) == 0 && p[21] > 0 &&
                (size_t) p[21] == len - 22 && memchr(p + 22, 0, p[21]) == NULL;
    bool ok = sl__location_decode(p, len, &loc);
    SL_FUZZ_CHECK(ok == want);
    if (ok) {
        uint8_t again[SL_LOCATION_MAX];
        SL_FUZZ_CHECK(sl__location_encode(&loc, again) == len);
        SL_FUZZ_CHECK(memcmp(again, p, len) == 0);
    }
    free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_check_decode(data, size);
    s_check_location(data, size);
    if (size >= 22 && size <= SL_LOCATION_MAX) {
        uint8_t stamped[SL_LOCATION_MAX];
        memcpy(stamped, data, size);
        memcpy(stamped, "\xc1SLLO", 5);
        s_check_location(stamped, size);
    }
    if (size >= SL_MANIFEST_LEN) {
        uint8_t stamped[SL_MANIFEST_LEN];
        memcpy(stamped, data, sizeof(stamped));
        memcpy(stamped, "\xc1SLCK", 5);
        s_check_decode(stamped, sizeof(stamped));
        s_check_plan(s_le(data + 9, 8), s_le(data + 17, 8));
    }
    return 0;
}
