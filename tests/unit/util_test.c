// util_test.c - large buffers: alignment, and reuse through the pool;
// the node's name.
// SPDX-License-Identifier: MIT
#include "../common/util.h"
#include "../serialize/value.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static void
test_alignment(void)
{
    void *small = sl__alloc_aligned(100), *big = sl__alloc_aligned(5u << 20);
    SL_ASSERT(small != NULL && big != NULL);
    SL_ASSERT_EQ((uintptr_t) small % 64, 0);
    SL_ASSERT_EQ((uintptr_t) big % (2u << 20), 0);
    memset(big, 1, 5u << 20); // all of it is ours
    sl__free_aligned(small, 100);
    sl__free_aligned(big, 5u << 20);
    sl__free_aligned(NULL, 1u << 30);
}

// A freed large buffer is what the next allocation of its size gets; one
// of another size is not.
static void
test_reuse(void)
{
    size_t a_len = 6u << 20, b_len = 10u << 20;
    void *a = sl__alloc_aligned(a_len);
    sl__free_aligned(a, a_len);
    void *b = sl__alloc_aligned(b_len);
    SL_ASSERT(b != a);
    void *again = sl__alloc_aligned(a_len - 1000); // rounds to the same
    SL_ASSERT(again == a || !SL_POOL_ON);
    sl__free_aligned(again, a_len - 1000);
    sl__free_aligned(b, b_len);
    // Past the pool's bounds the oldest go: many frees, then every
    // allocation still works and is writable.
    void *many[20];
    for (int i = 0; i < 20; i++) {
        many[i] = sl__alloc_aligned(40u << 20);
        SL_ASSERT(many[i] != NULL);
    }
    for (int i = 0; i < 20; i++) {
        sl__free_aligned(many[i], 40u << 20);
    }
    for (int i = 0; i < 20; i++) {
        many[i] = sl__alloc_aligned(40u << 20);
        memset(many[i], i, 40u << 20);
    }
    for (int i = 0; i < 20; i++) {
        sl__free_aligned(many[i], 40u << 20);
    }
    // Larger than the whole pool: freed at once.
    void *huge = sl__alloc_aligned(SL_POOL_BYTES + 1);
    SL_ASSERT(huge != NULL);
    sl__free_aligned(huge, SL_POOL_BYTES + 1);
}

// An ndarray's elements go back to the pool when the value is destroyed.
static void
test_ndarray_reuse(void)
{
    int64_t shape[] = {1024, 1024}; // 8 MiB of f64
    sl_value *v = sl_value_new_ndarray(SL_F64, 2, shape, NULL);
    const void *first = sl_ndarray_cdata(v);
    sl_value_destroy(&v);
    v = sl_value_new_ndarray(SL_F64, 2, shape, NULL);
    SL_ASSERT(sl_ndarray_cdata(v) == first || !SL_POOL_ON);
    // Zeroed, as a new array is, though the buffer was used before.
    const double *d = sl_ndarray_cdata(v);
    SL_ASSERT(d[0] == 0 && d[1024 * 1024 - 1] == 0);
    sl_value_destroy(&v);
}

// The node's name: $STARLING_NODE when set and not empty, else the host
// name; never more than SL_NODE_NAME_MAX bytes, nor than the buffer holds.
static void
test_node_name(void)
{
    char name[SL_NODE_NAME_MAX + 1], host[SL_NODE_NAME_MAX + 1] = "";
    SL_ASSERT(gethostname(host, sizeof(host)) == 0);
    host[sizeof(host) - 1] = '\0';
    SL_ASSERT(unsetenv("STARLING_NODE") == 0);
    sl__node_name(name, sizeof(name));
    SL_ASSERT_STR(name, host);
    SL_ASSERT(setenv("STARLING_NODE", "", 1) == 0);
    sl__node_name(name, sizeof(name));
    SL_ASSERT_STR(name, host);
    SL_ASSERT(setenv("STARLING_NODE", "rack4-node17", 1) == 0);
    sl__node_name(name, sizeof(name));
    SL_ASSERT_STR(name, "rack4-node17");
    char small[6];
    sl__node_name(small, sizeof(small));
    SL_ASSERT_STR(small, "rack4");
    // A longer one is cut to SL_NODE_NAME_MAX, even in a larger buffer.
    char big[200], want[SL_NODE_NAME_MAX + 1];
    memset(big, 'n', 150);
    big[150] = '\0';
    SL_ASSERT(setenv("STARLING_NODE", big, 1) == 0);
    sl__node_name(big, sizeof(big));
    memset(want, 'n', SL_NODE_NAME_MAX);
    want[SL_NODE_NAME_MAX] = '\0';
    SL_ASSERT_STR(big, want);
    SL_ASSERT(unsetenv("STARLING_NODE") == 0);
}

int
main(void)
{
    SL_RUN(test_alignment);
    SL_RUN(test_reuse);
    SL_RUN(test_ndarray_reuse);
    SL_RUN(test_node_name);
    return 0;
}
