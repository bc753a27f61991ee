// cache.c - the hot-input cache: a hash from key to entry, and the entries
// in a list from most to least recently used.
// SPDX-License-Identifier: MIT
#include "cache.h"

#include <czmq.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct s_entry s_entry;
struct s_entry {
    char *key;       // owned; also the hash's key
    sl__blob *blob;  // retained
    size_t off, len; // the encoding within blob
    s_entry *newer;  // toward the most recently used
    s_entry *older;  // toward the least
};

struct sl__cache {
    zhashx_t *index; // key -> entry (the hash does not own the entries)
    s_entry *newest; // list head
    s_entry *oldest; // list tail: evicted first
    size_t budget;   // bytes
    sl__cache_stats stats;
};

static void
s_unlink(sl__cache *cache, s_entry *e)
{
    if (e->newer != NULL) {
        e->newer->older = e->older;
    } else {
        cache->newest = e->older;
    }
    if (e->older != NULL) {
        e->older->newer = e->newer;
    } else {
        cache->oldest = e->newer;
    }
    e->newer = e->older = NULL;
}

static void
s_push_newest(sl__cache *cache, s_entry *e)
{
    e->older = cache->newest;
    e->newer = NULL;
    if (cache->newest != NULL) {
        cache->newest->newer = e;
    }
    cache->newest = e;
    if (cache->oldest == NULL) {
        cache->oldest = e;
    }
}

static void
s_drop(sl__cache *cache, s_entry *e)
{
    s_unlink(cache, e);
    zhashx_delete(cache->index, e->key);
    cache->stats.bytes -= e->blob->len;
    cache->stats.entries--;
    sl__blob_release(&e->blob);
    free(e->key);
    free(e);
}

sl__cache *
sl__cache_new(size_t budget)
{
    sl__cache *cache = calloc(1, sizeof(*cache));
    if (cache == NULL) {
        return NULL;
    }
    cache->budget = budget; // the hash comes with the first entry
    return cache;
}

void
sl__cache_destroy(sl__cache **cache_p)
{
    sl__cache *cache = *cache_p;
    if (cache == NULL) {
        return;
    }
    *cache_p = NULL;
    while (cache->oldest != NULL) {
        s_drop(cache, cache->oldest);
    }
    zhashx_destroy(&cache->index);
    free(cache);
}

bool
sl__cache_get(sl__cache *cache, const char *key, sl__blob **blob, size_t *off,
              size_t *len)
{
    s_entry *e = cache->index != NULL ? zhashx_lookup(cache->index, key) : NULL;
    if (e == NULL) {
        cache->stats.misses++;
        return false;
    }
    cache->stats.hits++;
    s_unlink(cache, e);
    s_push_newest(cache, e);
    *blob = e->blob;
    *off = e->off;
    *len = e->len;
    return true;
}

void
sl__cache_put(sl__cache *cache, const char *key, sl__blob *blob, size_t off,
              size_t len)
{
    if (cache->index == NULL) {
        // A slot that never fetches (one of thousands running no-ops)
        // costs no table.
        if (blob->len > cache->budget ||
            (cache->index = zhashx_new()) == NULL) {
            return;
        }
        // The hash keys on the entries' own copies.
        zhashx_set_key_duplicator(cache->index, NULL);
        zhashx_set_key_destructor(cache->index, NULL);
    }
    s_entry *old = zhashx_lookup(cache->index, key);
    if (old != NULL) {
        s_drop(cache, old);
    }
    if (blob->len > cache->budget) {
        return;
    }
    while (cache->stats.bytes + blob->len > cache->budget) {
        s_drop(cache, cache->oldest);
        cache->stats.evictions++;
    }
    s_entry *e = calloc(1, sizeof(*e));
    char *k = strdup(key);
    if (e == NULL || k == NULL || zhashx_insert(cache->index, k, e) != 0) {
        free(e);
        free(k);
        return; // out of memory: simply not cached
    }
    sl__blob_retain(blob);
    e->key = k;
    e->blob = blob;
    e->off = off;
    e->len = len;
    s_push_newest(cache, e);
    cache->stats.bytes += blob->len;
    cache->stats.entries++;
}

void
sl__cache_stats_get(const sl__cache *cache, sl__cache_stats *out)
{
    *out = cache->stats;
}

size_t
sl__cache_default_budget(int slots)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    long share = sysconf(_SC_NPROCESSORS_ONLN);
    share = slots > share ? slots : share;
    if (pages <= 0 || page <= 0) {
        return (size_t) 256 << 20;
    }
    return (size_t) pages * (size_t) page / 8 /
           (size_t) (share > 0 ? share : 1);
}
