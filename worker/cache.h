// cache.h - the hot-input cache: objects a slot fetched for refs, kept
// for the next task that names them.
// SPDX-License-Identifier: MIT
//
// A stored object never changes: object keys carry the client's session
// and a sequence number, result keys the job and the task's index, and a
// result is written once (SET NX). So a cached copy is never stale, and
// the only question is which objects to keep: the most recently used,
// within a budget of bytes. A map whose tasks all name one big input
// (a model, a matrix) then fetches it once per slot instead of once per
// task, and blocked algorithms reuse the blocks a slot already holds.
//
// An entry holds the fetched buffer (a blob, retained) and where in it
// the value's encoding lies; values decoded from it point into the blob,
// so a hit copies nothing. One cache per slot: no locks.
#ifndef SL_WORKER_CACHE_H
#define SL_WORKER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../serialize/value.h"

typedef struct sl__cache sl__cache;

// Counters, for logs and tests.
typedef struct {
    uint64_t hits, misses; // lookups that found the key, and those that did not
    uint64_t evictions;    // entries dropped to make room
    size_t entries;        // held now
    size_t bytes;          // their buffers' bytes, <= the budget
} sl__cache_stats;

// A cache of at most budget bytes (0: a cache that keeps nothing). NULL on
// ENOMEM.
sl__cache *sl__cache_new(size_t budget);
void sl__cache_destroy(sl__cache **cache_p);
// Look key up. On a hit, *blob (borrowed: retain it to keep it past the
// next sl__cache_put), *off and *len say where the encoding is, and the
// entry becomes the most recently used.
bool sl__cache_get(sl__cache *cache, const char *key, sl__blob **blob,
                   size_t *off, size_t *len);
// Keep blob (retained here) under key, its encoding at off, len bytes,
// dropping the least recently used entries until it fits. A blob larger
// than the whole budget is not kept. A key already held is replaced.
void sl__cache_put(sl__cache *cache, const char *key, sl__blob *blob,
                   size_t off, size_t len);
void sl__cache_stats_get(const sl__cache *cache, sl__cache_stats *out);

// The default budget of each of a worker's slots: an eighth of the
// machine's memory, shared by one slot per core (as `starling up` starts
// them) or by the worker's slots if it has more.
size_t sl__cache_default_budget(int slots);

#endif
