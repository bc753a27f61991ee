// queue_test.c - the scheduler's run queue and id table.
// SPDX-License-Identifier: MIT
#include "common/table.h"
#include "scheduler/queue.h"
#include "testutil.h"

static void
test_queue_fifo_and_priority(void)
{
    sl__queue q;
    sl__queue_init(&q);
    SL_ASSERT(sl__queue_empty(&q));
    sl__queue_push(&q, 0, (sl__run){1, 0, 10});
    sl__queue_push(&q, 0, (sl__run){2, 0, 5});
    sl__queue_push(&q, 5, (sl__run){3, 7, 8});
    int prio;
    sl__run *run = sl__queue_peek(&q, &prio);
    SL_ASSERT_EQ(prio, 5);
    SL_ASSERT_EQ(run->job, 3);
    sl__queue_pop(&q, prio);
    run = sl__queue_peek(&q, &prio);
    SL_ASSERT_EQ(run->job, 1);
    run->first = 4; // a partial take leaves the rest in place
    SL_ASSERT_EQ(sl__queue_peek(&q, &prio)->first, 4);
    // A retry goes in front of everything of its priority.
    sl__queue_push_front(&q, 0, (sl__run){9, 3, 4});
    SL_ASSERT_EQ(sl__queue_peek(&q, &prio)->job, 9);
    sl__queue_pop(&q, 0);
    sl__queue_pop(&q, 0);
    SL_ASSERT_EQ(sl__queue_peek(&q, &prio)->job, 2);
    sl__queue_pop(&q, 0);
    SL_ASSERT(sl__queue_empty(&q));
    SL_ASSERT(sl__queue_peek(&q, &prio) == NULL);
    sl__queue_fini(&q);
}

static void
test_queue_grows_and_wraps(void)
{
    sl__queue q;
    sl__queue_init(&q);
    int prio;
    // Interleave pushes at both ends across several growths.
    for (uint32_t i = 0; i < 1000; i++) {
        sl__queue_push(&q, 2, (sl__run){i + 1, i, i + 1});
        if (i % 3 == 0) {
            sl__queue_push_front(&q, 2, (sl__run){100000 + i, 0, 1});
        }
    }
    // Fronts come out newest first, then the FIFO in order.
    uint64_t expect_front = 100000 + 999;
    while (sl__queue_peek(&q, &prio)->job >= 100000) {
        SL_ASSERT_EQ(sl__queue_peek(&q, &prio)->job, expect_front);
        expect_front -= 3;
        sl__queue_pop(&q, prio);
    }
    for (uint32_t i = 0; i < 1000; i++) {
        SL_ASSERT_EQ(sl__queue_peek(&q, &prio)->job, i + 1);
        sl__queue_pop(&q, prio);
    }
    SL_ASSERT(sl__queue_empty(&q));
    sl__queue_fini(&q);
}

static void
test_table_put_get_del(void)
{
    sl__table t;
    sl__table_init(&t);
    SL_ASSERT(sl__table_get(&t, 42) == NULL);
    static int vals[5000];
    for (uint64_t k = 1; k <= 5000; k++) {
        sl__table_put(&t, k * 7919, &vals[k - 1]);
    }
    SL_ASSERT_EQ(t.n, 5000);
    for (uint64_t k = 1; k <= 5000; k++) {
        SL_ASSERT(sl__table_get(&t, k * 7919) == &vals[k - 1]);
    }
    // Delete every other key; the rest must stay reachable (backward-shift
    // deletion must not break probe chains).
    for (uint64_t k = 1; k <= 5000; k += 2) {
        sl__table_del(&t, k * 7919);
    }
    SL_ASSERT_EQ(t.n, 2500);
    for (uint64_t k = 1; k <= 5000; k++) {
        void *want = k % 2 ? NULL : &vals[k - 1];
        SL_ASSERT(sl__table_get(&t, k * 7919) == want);
    }
    sl__table_put(&t, 2 * 7919, &vals[0]); // replace
    SL_ASSERT(sl__table_get(&t, 2 * 7919) == &vals[0]);
    SL_ASSERT_EQ(t.n, 2500);
    sl__table_del(&t, 123456789); // absent: no-op
    SL_ASSERT_EQ(t.n, 2500);
    sl__table_fini(&t);
}

int
main(void)
{
    SL_RUN(test_queue_fifo_and_priority);
    SL_RUN(test_queue_grows_and_wraps);
    SL_RUN(test_table_put_get_del);
    return 0;
}
