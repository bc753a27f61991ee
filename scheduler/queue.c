// queue.c - the scheduler's task queue (runs of tasks per priority).
// SPDX-License-Identifier: MIT
#include "queue.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

static void
s_ring_grow(sl__ring *r)
{
    size_t cap = r->cap ? r->cap * 2 : 64;
    sl__run *runs = sl__xmalloc(cap * sizeof(*runs));
    for (size_t i = 0; i < r->n; i++) {
        runs[i] = r->runs[(r->head + i) & (r->cap - 1)];
    }
    free(r->runs);
    r->runs = runs;
    r->head = 0;
    r->cap = cap;
}

void
sl__queue_init(sl__queue *q)
{
    memset(q, 0, sizeof(*q));
}

void
sl__queue_fini(sl__queue *q)
{
    for (int p = 0; p < SL_PRIORITIES; p++) {
        free(q->rings[p].runs);
    }
    memset(q, 0, sizeof(*q));
}

static sl__ring *
s_ring(sl__queue *q, int priority)
{
    assert(priority >= 0 && priority < SL_PRIORITIES);
    return &q->rings[priority];
}

void
sl__queue_push(sl__queue *q, int priority, sl__run run)
{
    sl__ring *r = s_ring(q, priority);
    if (r->n == r->cap) {
        s_ring_grow(r);
    }
    r->runs[(r->head + r->n) & (r->cap - 1)] = run;
    r->n++;
}

void
sl__queue_push_front(sl__queue *q, int priority, sl__run run)
{
    sl__ring *r = s_ring(q, priority);
    if (r->n == r->cap) {
        s_ring_grow(r);
    }
    r->head = (r->head + r->cap - 1) & (r->cap - 1);
    r->runs[r->head] = run;
    r->n++;
}

sl__run *
sl__queue_peek(sl__queue *q, int *priority_out)
{
    for (int p = SL_PRIORITIES - 1; p >= 0; p--) {
        sl__ring *r = &q->rings[p];
        if (r->n > 0) {
            *priority_out = p;
            return &r->runs[r->head];
        }
    }
    return NULL;
}

void
sl__queue_pop(sl__queue *q, int priority)
{
    sl__ring *r = s_ring(q, priority);
    assert(r->n > 0);
    r->head = (r->head + 1) & (r->cap - 1);
    r->n--;
}

bool
sl__queue_empty(const sl__queue *q)
{
    for (int p = 0; p < SL_PRIORITIES; p++) {
        if (q->rings[p].n > 0) {
            return false;
        }
    }
    return true;
}
