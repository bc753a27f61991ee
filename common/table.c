// table.c - id tables (the scheduler's jobs and peers, a client's jobs):
// open addressing, linear probing, backward-shift deletion.
// SPDX-License-Identifier: MIT
#include "table.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

// Fibonacci hashing spreads sequential ids over the table.
static size_t
s_slot(const sl__table *t, uint64_t key)
{
    return (size_t) ((key * 0x9E3779B97F4A7C15ull) >> 17) & (t->cap - 1);
}

void
sl__table_init(sl__table *t)
{
    memset(t, 0, sizeof(*t));
}

void
sl__table_fini(sl__table *t)
{
    free(t->keys);
    free(t->vals);
    memset(t, 0, sizeof(*t));
}

void *
sl__table_get(const sl__table *t, uint64_t key)
{
    if (t->cap == 0) {
        return NULL;
    }
    for (size_t i = s_slot(t, key);; i = (i + 1) & (t->cap - 1)) {
        if (t->keys[i] == key) {
            return t->vals[i];
        }
        if (t->keys[i] == 0) {
            return NULL;
        }
    }
}

static void
s_table_grow(sl__table *t)
{
    sl__table old = *t;
    t->cap = old.cap ? old.cap * 2 : 64;
    t->keys = sl__xcalloc(t->cap, sizeof(*t->keys));
    t->vals = sl__xcalloc(t->cap, sizeof(*t->vals));
    t->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.keys[i] != 0) {
            sl__table_put(t, old.keys[i], old.vals[i]);
        }
    }
    free(old.keys);
    free(old.vals);
}

void
sl__table_put(sl__table *t, uint64_t key, void *val)
{
    assert(key != 0);
    if ((t->n + 1) * 2 > t->cap) {
        s_table_grow(t);
    }
    size_t i = s_slot(t, key);
    while (t->keys[i] != 0 && t->keys[i] != key) {
        i = (i + 1) & (t->cap - 1);
    }
    if (t->keys[i] == 0) {
        t->n++;
    }
    t->keys[i] = key;
    t->vals[i] = val;
}

void
sl__table_del(sl__table *t, uint64_t key)
{
    if (t->cap == 0) {
        return;
    }
    size_t i = s_slot(t, key);
    while (t->keys[i] != key) {
        if (t->keys[i] == 0) {
            return;
        }
        i = (i + 1) & (t->cap - 1);
    }
    // Backward-shift: move later entries of the probe chain into the hole
    // so that lookups never need tombstones.
    size_t hole = i;
    for (size_t j = (i + 1) & (t->cap - 1); t->keys[j] != 0;
         j = (j + 1) & (t->cap - 1)) {
        size_t home = s_slot(t, t->keys[j]);
        bool movable =
            hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            t->keys[hole] = t->keys[j];
            t->vals[hole] = t->vals[j];
            hole = j;
        }
    }
    t->keys[hole] = 0;
    t->vals[hole] = NULL;
    t->n--;
}
