// table.h - id tables: the scheduler's jobs by id and peers by a hash of
// their routing id, a client's jobs by id.
// SPDX-License-Identifier: MIT
#ifndef SL_COMMON_TABLE_H
#define SL_COMMON_TABLE_H

#include <stddef.h>
#include <stdint.h>

// A hash table from non-zero 64-bit keys to pointers. Open addressing, linear
// probing, backward- shift deletion (no tombstones), grows at 50% load.
typedef struct {
    uint64_t *keys; // 0: empty slot
    void **vals;    // value of each key
    size_t cap;     // a power of two
    size_t n;       // keys present
} sl__table;

void sl__table_init(sl__table *t);
void sl__table_fini(sl__table *t);
void *sl__table_get(const sl__table *t, uint64_t key);
void sl__table_put(sl__table *t, uint64_t key, void *val);
void sl__table_del(sl__table *t, uint64_t key);

#endif
