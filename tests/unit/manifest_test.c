// manifest_test.c - chunk manifests: the layout, plans, and the decoder
// against malformed manifests (truncated, wrong counts, sizes that do not
// add up, huge claimed sizes). No Redis: a manifest is a plain buffer.
// SPDX-License-Identifier: MIT
#include "common/util.h"
#include "store/manifest.h"

#include "testutil.h"

// A manifest's bytes from its three numbers, written out by hand (not by
// the encoder under test): 0xc1 "SLCK", u32, u64, u64, little endian.
static void
s_bytes(uint8_t out[SL_MANIFEST_LEN], uint32_t n, uint64_t total,
        uint64_t chunk)
{
    memcpy(out, "\xc1SLCK", 5);
    for (int i = 0; i < 4; i++) {
        out[5 + i] = (uint8_t) (n >> (8 * i));
    }
    for (int i = 0; i < 8; i++) {
        out[9 + i] = (uint8_t) (total >> (8 * i));
        out[17 + i] = (uint8_t) (chunk >> (8 * i));
    }
}

// Whether the bytes of n, total, chunk decode, and to those numbers.
static bool
s_decodes(uint32_t n, uint64_t total, uint64_t chunk)
{
    uint8_t buf[SL_MANIFEST_LEN];
    s_bytes(buf, n, total, chunk);
    sl__manifest m = {7, 7, 7};
    if (!sl__manifest_decode(buf, sizeof(buf), &m)) {
        SL_ASSERT(m.n == 7 && m.total == 7 && m.chunk == 7); // untouched
        return false;
    }
    SL_ASSERT_EQ(m.n, n);
    SL_ASSERT(m.total == total && m.chunk == chunk);
    return true;
}

static void
test_layout(void)
{
    sl__manifest m = {0x04030201u, 0x1817161514131211ull,
                      0x2827262524232221ull};
    uint8_t got[SL_MANIFEST_LEN], want[SL_MANIFEST_LEN];
    sl__manifest_encode(&m, got);
    s_bytes(want, m.n, m.total, m.chunk);
    SL_ASSERT(memcmp(got, want, sizeof(got)) == 0);
    SL_ASSERT_EQ(got[0], 0xc1);
    SL_ASSERT_EQ(got[5], 0x01);  // the count, lowest byte first
    SL_ASSERT_EQ(got[9], 0x11);  // the total
    SL_ASSERT_EQ(got[24], 0x28); // the chunk size's highest byte, last
}

// A plan, encoded and decoded, is the same plan, and its chunks add up.
static void
s_check_plan(uint64_t total, uint64_t chunk, uint32_t n, size_t last)
{
    sl__manifest m, back;
    SL_PASS(sl__manifest_plan(&m, total, chunk));
    SL_ASSERT_EQ(m.n, n);
    SL_ASSERT(m.total == total && m.chunk == chunk);
    SL_ASSERT_EQ(sl__manifest_chunk_len(&m, 0), n > 1 ? chunk : total);
    SL_ASSERT_EQ(sl__manifest_chunk_len(&m, n - 1), last);
    uint8_t buf[SL_MANIFEST_LEN];
    sl__manifest_encode(&m, buf);
    SL_ASSERT(sl__manifest_lookalike(buf, sizeof(buf)));
    SL_ASSERT(sl__manifest_decode(buf, sizeof(buf), &back));
    SL_ASSERT(back.n == m.n && back.total == m.total && back.chunk == m.chunk);
}

static void
test_plans(void)
{
    s_check_plan(1000003, 1000, 1001, 3); // store_test's chunked object
    s_check_plan(3000, 1000, 3, 1000);    // an exact multiple
    s_check_plan(25, 4u << 20, 1, 25);    // a lookalike: one short chunk
    s_check_plan(1, 1, 1, 1);
    s_check_plan(UINT32_MAX, 1, UINT32_MAX, 1); // the most chunks there are
    s_check_plan(UINT64_MAX, UINT64_MAX, 1, SIZE_MAX);

    sl__manifest m = {7, 7, 7};
    SL_FAILS(sl__manifest_plan(&m, (uint64_t) UINT32_MAX + 1, 1), SL_ELIMIT);
    SL_FAILS(sl__manifest_plan(&m, UINT64_MAX, 1u << 31), SL_ELIMIT);
    SL_FAILS(sl__manifest_plan(&m, 0, 1000), SL_EINVAL);
    SL_FAILS(sl__manifest_plan(&m, 1000, 0), SL_EINVAL);
    SL_ASSERT(m.n == 7 && m.total == 7 && m.chunk == 7);
}

// Every chunk's length, summed, is the total; all but the last are full.
static void
test_chunk_lengths(void)
{
    sl__manifest m;
    SL_PASS(sl__manifest_plan(&m, 10007, 100));
    uint64_t sum = 0;
    for (uint32_t i = 0; i < m.n; i++) {
        size_t len = sl__manifest_chunk_len(&m, i);
        SL_ASSERT(len >= 1 && len <= 100);
        SL_ASSERT(i + 1 == m.n || len == 100);
        sum += len;
    }
    SL_ASSERT_EQ(sum, 10007);
}

// Bytes that are not 25 long, or lack the magic, are no manifest, whatever
// they hold.
static void
test_lookalike(void)
{
    uint8_t buf[SL_MANIFEST_LEN + 1];
    s_bytes(buf, 1, 9, 9);
    buf[SL_MANIFEST_LEN] = 0;
    SL_ASSERT(sl__manifest_lookalike(buf, SL_MANIFEST_LEN));
    SL_ASSERT(!sl__manifest_lookalike(buf, SL_MANIFEST_LEN - 1));
    SL_ASSERT(!sl__manifest_lookalike(buf, SL_MANIFEST_LEN + 1));
    for (int i = 0; i < 5; i++) {
        uint8_t bad[SL_MANIFEST_LEN];
        memcpy(bad, buf, sizeof(bad));
        bad[i] ^= 0x20; // "slck", 0xe1: not the magic
        SL_ASSERT(!sl__manifest_lookalike(bad, sizeof(bad)));
        SL_ASSERT(!sl__manifest_decode(bad, sizeof(bad), &(sl__manifest){0}));
    }
}

// Every prefix of a good manifest, and the manifest with a byte more, is
// refused, and *out is left alone.
static void
test_truncated(void)
{
    uint8_t buf[SL_MANIFEST_LEN + 1];
    s_bytes(buf, 1001, 1000003, 1000);
    buf[SL_MANIFEST_LEN] = 0;
    for (size_t len = 0; len <= SL_MANIFEST_LEN + 1; len++) {
        // An exact heap copy, so that a read past the end is caught.
        uint8_t *copy = malloc(len > 0 ? len : 1);
        SL_ASSERT(copy != NULL);
        memcpy(copy, buf, len);
        sl__manifest m = {7, 7, 7};
        bool ok = sl__manifest_decode(copy, len, &m);
        SL_ASSERT_EQ(ok, len == SL_MANIFEST_LEN);
        if (!ok) {
            SL_ASSERT(m.n == 7 && m.total == 7 && m.chunk == 7);
        }
        free(copy);
    }
}

// A count that is not the least number of chunks for the total: too few,
// too many, none.
static void
test_wrong_counts(void)
{
    SL_ASSERT(s_decodes(1001, 1000003, 1000));
    SL_ASSERT(!s_decodes(1000, 1000003, 1000)); // the last 3 bytes lost
    SL_ASSERT(!s_decodes(1002, 1000003, 1000)); // an empty chunk at the end
    SL_ASSERT(!s_decodes(0, 1000003, 1000));
    SL_ASSERT(!s_decodes(0, 0, 0));
    SL_ASSERT(!s_decodes(UINT32_MAX, 1000003, 1000));
    SL_ASSERT(s_decodes(3, 3000, 1000));
    SL_ASSERT(!s_decodes(4, 3000, 1000));
    SL_ASSERT(!s_decodes(2, 3000, 1000));
}

// Sizes that do not add up: no bytes, chunks of no bytes, a total that n
// chunks cannot hold or that fewer would.
static void
test_sizes_disagree(void)
{
    SL_ASSERT(!s_decodes(1, 0, 1000)); // an object of no bytes
    // No bytes, with counts that total - 1 would wrap around to.
    SL_ASSERT(!s_decodes(2, 0, UINT64_MAX));
    SL_ASSERT(!s_decodes(1u << 31, 0, 1ull << 33));
    SL_ASSERT(!s_decodes(1, 1000, 0));    // chunks of no bytes
    SL_ASSERT(!s_decodes(1, 1001, 1000)); // one chunk cannot hold it
    SL_ASSERT(!s_decodes(2, 1000, 1000)); // one chunk would do
    SL_ASSERT(!s_decodes(2, 2001, 1000));
    SL_ASSERT(s_decodes(2, 2000, 1000));
    SL_ASSERT(s_decodes(2, 1001, 1000)); // a last chunk of 1 byte
    SL_ASSERT(s_decodes(1, 1, UINT64_MAX));
}

// Huge claimed sizes decode when they agree (the reader's limit refuses
// them, before it allocates), and never wrap around in the check.
static void
test_huge_sizes(void)
{
    SL_ASSERT(s_decodes(1, UINT64_MAX, UINT64_MAX));
    SL_ASSERT(s_decodes(2, UINT64_MAX, 1ull << 63));
    SL_ASSERT(!s_decodes(1, UINT64_MAX, 1ull << 63));
    SL_ASSERT(s_decodes(UINT32_MAX, UINT32_MAX, 1));
    SL_ASSERT(!s_decodes(UINT32_MAX, UINT64_MAX, 1)); // 2^64 - 1 chunks
    // Counts for which n * chunk would wrap around to a small number.
    SL_ASSERT(!s_decodes(2, 1, 1ull << 63));
    SL_ASSERT(!s_decodes(UINT32_MAX, 1000, 1ull << 40));
    uint64_t big = (uint64_t) UINT32_MAX * (1ull << 32);
    SL_ASSERT(s_decodes(UINT32_MAX, big, 1ull << 32));
    sl__manifest m;
    SL_ASSERT(sl__manifest_decode(
        (uint8_t[SL_MANIFEST_LEN]){
            0xc1, 'S',  'L',  'C',  'K', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0,   0,    0,    0,    1,    0, 0, 0},
        SL_MANIFEST_LEN, &m));
    SL_ASSERT_EQ(sl__manifest_chunk_len(&m, m.n - 1), 1ull << 32);
}

// A location round-trips; every damaged one (cut short, a node name whose
// length byte disagrees, an empty or a NUL-bearing name, another magic)
// is refused, and is not a manifest either.
static void
test_locations(void)
{
    sl__location loc = {.size = 1ull << 40, .hash = 0x0123456789abcdefull};
    sl__strlcpy(loc.node, "n1", sizeof(loc.node));
    uint8_t buf[SL_LOCATION_MAX + 8];
    size_t n = sl__location_encode(&loc, buf);
    SL_ASSERT_EQ(n, 24);
    SL_ASSERT_EQ(buf[0], 0xc1);
    SL_ASSERT(sl__location_lookalike(buf, n));
    sl__location got;
    SL_ASSERT(sl__location_decode(buf, n, &got));
    SL_ASSERT_EQ(got.size, loc.size);
    SL_ASSERT_EQ(got.hash, loc.hash);
    SL_ASSERT_STR(got.node, "n1");
    sl__manifest m;
    SL_ASSERT(!sl__manifest_decode(buf, n, &m));
    for (size_t cut = 0; cut < n; cut++) {
        SL_ASSERT(!sl__location_decode(buf, cut, &got));
    }
    buf[21] = 3; // says 3 bytes of name, has 2
    SL_ASSERT(!sl__location_decode(buf, n, &got));
    buf[21] = 0;
    SL_ASSERT(!sl__location_decode(buf, 22, &got)); // no name
    buf[21] = 2;
    buf[23] = '\0';
    SL_ASSERT(!sl__location_decode(buf, n, &got)); // a NUL in it
    buf[23] = '1';
    buf[4] = 'X';
    SL_ASSERT(!sl__location_decode(buf, n, &got));
    SL_ASSERT(!sl__location_lookalike(buf, n));
    // The longest name fits; a longer one is cut to it.
    memset(loc.node, 'a', SL_LOCATION_NODE_MAX);
    loc.node[SL_LOCATION_NODE_MAX] = '\0';
    n = sl__location_encode(&loc, buf);
    SL_ASSERT_EQ(n, SL_LOCATION_MAX);
    SL_ASSERT(sl__location_decode(buf, n, &got));
    SL_ASSERT_EQ(strlen(got.node), SL_LOCATION_NODE_MAX);
    SL_ASSERT(!sl__location_lookalike(buf, SL_LOCATION_MAX + 1));
}

int
main(void)
{
    SL_RUN(test_layout);
    SL_RUN(test_plans);
    SL_RUN(test_chunk_lengths);
    SL_RUN(test_lookalike);
    SL_RUN(test_truncated);
    SL_RUN(test_wrong_counts);
    SL_RUN(test_sizes_disagree);
    SL_RUN(test_huge_sizes);
    SL_RUN(test_locations);
    return 0;
}
