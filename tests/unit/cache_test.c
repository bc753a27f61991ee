// cache_test.c - the worker's input cache: hits and misses, least recently
// used eviction within the budget, and the blobs' reference counts.
// SPDX-License-Identifier: MIT
#include "../worker/cache.h"

#include "testutil.h"

// Blob frees are counted here, so that a test sees when one is let go.
static int s_freed;

static void
s_count_free(void *ctx, void *data)
{
    (void) ctx;
    free(data);
    s_freed++;
}

static sl__blob *
s_blob(size_t len)
{
    void *data = calloc(1, len);
    SL_ASSERT(data != NULL);
    sl__blob *b = sl__blob_new(data, len, s_count_free, NULL);
    SL_ASSERT(b != NULL);
    return b;
}

static void
test_hit_and_miss(void)
{
    sl__cache *c = sl__cache_new(1000);
    sl__blob *b = s_blob(100), *got = NULL;
    size_t off = 0, len = 0;
    SL_ASSERT(!sl__cache_get(c, "k", &got, &off, &len));
    sl__cache_put(c, "k", b, 7, 90);
    SL_ASSERT(sl__cache_get(c, "k", &got, &off, &len));
    SL_ASSERT(got == b);
    SL_ASSERT_EQ(off, 7);
    SL_ASSERT_EQ(len, 90);
    SL_ASSERT(!sl__cache_get(c, "k2", &got, &off, &len));
    sl__cache_stats st;
    sl__cache_stats_get(c, &st);
    SL_ASSERT_EQ(st.hits, 1);
    SL_ASSERT_EQ(st.misses, 2);
    SL_ASSERT_EQ(st.entries, 1);
    SL_ASSERT_EQ(st.bytes, 100);
    // The cache holds its own reference: ours can go.
    int freed = s_freed;
    sl__blob_release(&b);
    SL_ASSERT_EQ(s_freed, freed);
    sl__cache_destroy(&c);
    SL_ASSERT_EQ(s_freed, freed + 1);
    SL_ASSERT(c == NULL);
}

// Three of 400 bytes in a budget of 1,000: the least recently used goes,
// and a lookup counts as a use.
static void
test_lru_eviction(void)
{
    sl__cache *c = sl__cache_new(1000);
    sl__blob *a = s_blob(400), *b = s_blob(400), *d = s_blob(400), *got;
    size_t off, len;
    sl__cache_put(c, "a", a, 0, 400);
    sl__cache_put(c, "b", b, 0, 400);
    SL_ASSERT(sl__cache_get(c, "a", &got, &off, &len)); // b is now oldest
    int freed = s_freed;
    sl__blob_release(&b); // only the cache holds b
    sl__cache_put(c, "d", d, 0, 400);
    SL_ASSERT_EQ(s_freed, freed + 1); // b was evicted and freed
    SL_ASSERT(!sl__cache_get(c, "b", &got, &off, &len));
    SL_ASSERT(sl__cache_get(c, "a", &got, &off, &len));
    SL_ASSERT(sl__cache_get(c, "d", &got, &off, &len));
    sl__cache_stats st;
    sl__cache_stats_get(c, &st);
    SL_ASSERT_EQ(st.evictions, 1);
    SL_ASSERT_EQ(st.entries, 2);
    SL_ASSERT_EQ(st.bytes, 800);
    // A blob still held elsewhere outlives its eviction.
    sl__blob *held = a;
    sl__blob_retain(held);
    sl__blob *e = s_blob(900);
    freed = s_freed;
    sl__cache_put(c, "e", e, 0, 900); // evicts both a and d
    sl__cache_stats_get(c, &st);
    SL_ASSERT_EQ(st.entries, 1);
    SL_ASSERT_EQ(st.bytes, 900);
    SL_ASSERT(!sl__cache_get(c, "a", &got, &off, &len));
    sl__blob_release(&a); // the test's first reference
    sl__blob_release(&d);
    sl__blob_release(&e);
    SL_ASSERT_EQ(s_freed, freed + 1); // d; a is still held
    sl__cache_destroy(&c);
    SL_ASSERT_EQ(s_freed, freed + 2); // e
    sl__blob_release(&held);
    SL_ASSERT_EQ(s_freed, freed + 3);
}

// Larger than the whole budget: not kept, and nothing else is evicted
// for it. A key put again replaces its entry.
static void
test_too_large_and_replace(void)
{
    sl__cache *c = sl__cache_new(1000);
    sl__blob *a = s_blob(500), *big = s_blob(1001), *a2 = s_blob(300), *got;
    size_t off, len;
    sl__cache_put(c, "a", a, 0, 500);
    sl__cache_put(c, "big", big, 0, 1001);
    SL_ASSERT(!sl__cache_get(c, "big", &got, &off, &len));
    SL_ASSERT(sl__cache_get(c, "a", &got, &off, &len));
    SL_ASSERT(got == a);
    sl__cache_put(c, "a", a2, 3, 297);
    SL_ASSERT(sl__cache_get(c, "a", &got, &off, &len));
    SL_ASSERT(got == a2);
    SL_ASSERT_EQ(off, 3);
    sl__cache_stats st;
    sl__cache_stats_get(c, &st);
    SL_ASSERT_EQ(st.entries, 1);
    SL_ASSERT_EQ(st.bytes, 300);
    sl__blob_release(&a);
    sl__blob_release(&big);
    sl__blob_release(&a2);
    sl__cache_destroy(&c);
    // A budget of zero keeps nothing.
    c = sl__cache_new(0);
    sl__blob *z = s_blob(1);
    sl__cache_put(c, "z", z, 0, 1);
    SL_ASSERT(!sl__cache_get(c, "z", &got, &off, &len));
    sl__blob_release(&z);
    sl__cache_destroy(&c);
}

// Many keys: the hash and the list agree through a long run of puts,
// hits and evictions.
static void
test_many_keys(void)
{
    enum { KEYS = 5000, KEEP = 100 };
    sl__cache *c = sl__cache_new(KEEP * 64);
    sl__blob *got;
    size_t off, len;
    char key[32];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "sl:s1:%d", i);
        sl__blob *b = s_blob(64);
        sl__cache_put(c, key, b, 0, 64);
        sl__blob_release(&b);
        // Key i - 49 was put 49 puts and 49 gets ago: 98 other keys
        // used since, so it is still among the last 100.
        if (i >= KEEP / 2 - 1) {
            snprintf(key, sizeof(key), "sl:s1:%d", i - (KEEP / 2 - 1));
            SL_ASSERT(sl__cache_get(c, key, &got, &off, &len));
        }
    }
    sl__cache_stats st;
    sl__cache_stats_get(c, &st);
    SL_ASSERT_EQ(st.entries, KEEP);
    SL_ASSERT_EQ(st.evictions, KEYS - KEEP);
    SL_ASSERT(sl__cache_default_budget(1) > 0);
    // More slots than cores share the same eighth of the memory.
    SL_ASSERT(sl__cache_default_budget(1 << 20) < sl__cache_default_budget(1));
    sl__cache_destroy(&c);
}

int
main(void)
{
    SL_RUN(test_hit_and_miss);
    SL_RUN(test_lru_eviction);
    SL_RUN(test_too_large_and_replace);
    SL_RUN(test_many_keys);
    return 0;
}
