// node.c - objects where they live (node.h): this node's tier, or the store.
// SPDX-License-Identifier: MIT
//
// Design notes.
//
// Order. A put seals the object in the tier first and then stores its
// location, so that a reader who finds the location finds the object; a
// put with NX that loses in the store (a speculative copy of a task that
// finished on another node first) takes its tier copy away again.
//
// Wants. An object of another node crosses once, through the store: the
// reader appends the key to "sl:want:<cluster>:<node>", a worker of that
// node copies the object over its location in the store (and marks it
// spilled, so the tier may evict it later), and the reader, which polls
// the key meanwhile, fetches it and caches it in its own tier. A want the
// node cannot serve because its only copy is gone (s_want_gone) drops the
// location, which ends the reader's wait. The store is already the
// authenticated path between nodes; see docs/ARCHITECTURE.md ("Objects")
// for why not node to node.
//
// Loss. A location names a node whose tier holds the only copy. Those
// are a client's own puts and the results of its jobs' tasks that ran on
// its node (results of tasks on other nodes go to the store): if that
// node dies, so did the client. Eviction never drops an only copy
// without spilling it to the store first (tier.h).
#define _GNU_SOURCE
#include "node.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sl_err __attribute__((format(printf, 3, 4)))
s_fail(sl__node *n, sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->errstr, sizeof(n->errstr), fmt, ap);
    va_end(ap);
    return rv;
}

void
sl__node_cluster_id(const sl__store *store, char out[33])
{
    // FNV-1a, 64 bits, over the shards' addresses as every process of the
    // cluster was told them (the scheduler's WELCOME): the same for all,
    // and for as long as the cluster uses that store, through restarts of
    // the scheduler and of Redis (and a FLUSHALL, which a key of ours in
    // Redis would not survive).
    uint64_t h = 14695981039346656037ull;
    for (int i = 0; i < sl__store_shards(store); i++) {
        const char *a = sl__store_shard_addr(store, i);
        for (const unsigned char *p = (const unsigned char *) a; *p; p++) {
            h = (h ^ *p) * 1099511628211ull;
        }
        h = (h ^ ',') * 1099511628211ull;
    }
    snprintf(out, 33, "%016llx", (unsigned long long) h);
}

sl_err
sl__node_init(sl__node *n, sl__store *store, sl__tier *tier)
{
    memset(n, 0, sizeof(*n));
    n->store = store;
    n->tier = tier;
    sl__node_cluster_id(store, n->cluster);
    return SL_OK;
}

// The tier's spill: the only copy goes to the store before it is evicted.
static sl_err
s_spill(void *ctx, const char *key, const void *data, size_t len, int ttl_s)
{
    sl__node *n = ctx;
    return sl__store_put_ttl(n->store, key, data, len, false, ttl_s, NULL);
}

// Where the elements of a top-level ndarray start in its encoding: past
// the ext marker, length and type (so its ext payload, which starts with
// the array's own 8-byte-multiple header, lands 64-byte aligned).
static size_t
s_ext_header(const uint8_t *p, size_t len)
{
    switch (len > 0 ? p[0] : 0) {
    case 0xc7:
        return 3;
    case 0xc8:
        return 4;
    case 0xc9:
        return 6;
    default:
        return 0;
    }
}

// Whether the store's record under key is a location that names this
// node: a put with NX that found one (a task run again after its first
// result's file went from this tier) keeps its new copy, which the
// location then names, rather than leave a location to nothing.
static bool
s_located_here(sl__node *n, const char *key)
{
    sl__blob *blob = NULL;
    size_t off, len;
    sl__location loc;
    sl_value *ref =
        sl__value_new_ref(key, 0, sl__store_shard_of(n->store, key));
    bool here = ref != NULL &&
                sl__store_get_located(n->store, ref, NULL, &blob, &off, &len,
                                      &loc) == SL_OK &&
                blob == NULL && strcmp(loc.node, sl__tier_node(n->tier)) == 0;
    sl__blob_release(&blob);
    sl_value_destroy(&ref);
    return here;
}

// Seal head + tail under key in the tier, then store its location.
static sl_err
s_tier_put(sl__node *n, const char *key, const void *head, size_t head_len,
           const void *tail, size_t tail_len, size_t aligned_at, unsigned flags,
           sl_value **ref_out)
{
    bool nx = (flags & SL_NODE_NX) != 0, stored = false;
    int ttl = sl__store_ttl(n->store);
    sl__tier_seg *seg = NULL;
    sl__tier_set_spill(n->tier, s_spill, n);
    sl_err rv = sl__tier_begin(n->tier, head_len + tail_len, aligned_at, &seg);
    if (rv != SL_OK) {
        return s_fail(n, rv, "put %s: %s", key, sl__tier_errstr(n->tier));
    }
    sl__tier_seg_write(seg, head, head_len);
    if (tail_len > 0) {
        sl__tier_seg_write(seg, tail, tail_len);
    }
    sl__location loc = {.size = head_len + tail_len,
                        .hash = sl__tier_seg_hash(seg)};
    sl__strlcpy(loc.node, sl__tier_node(n->tier), sizeof(loc.node));
    rv = sl__tier_seal(n->tier, &seg, key, ttl, 0, nx, &stored, NULL);
    if (rv != SL_OK) {
        return s_fail(n, rv, "put %s: %s", key, sl__tier_errstr(n->tier));
    }
    if (stored) {
        bool located = false;
        rv = sl__store_put_location(n->store, key, &loc, nx, ttl, &located);
        if (rv != SL_OK || (!located && !s_located_here(n, key))) {
            sl__tier_delete(n->tier, key); // the store has another's
        }
        if (rv != SL_OK) {
            return s_fail(n, rv, "put %s: %s", key, sl__store_errstr(n->store));
        }
    }
    *ref_out =
        sl__value_new_ref(key, loc.size, sl__store_shard_of(n->store, key));
    return *ref_out != NULL ? SL_OK : s_fail(n, SL_ENOMEM, "out of memory");
}

// Whether a value of len bytes goes to the tier.
static bool
s_to_tier(const sl__node *n, const char *key, size_t len, unsigned flags)
{
    if (n->tier == NULL || (flags & SL_NODE_STORE) != 0 ||
        len < SL_NODE_TIER_MIN || !sl__tier_key_ok(key)) {
        return false;
    }
    sl__tier_usage u;
    sl__tier_usage_get(n->tier, &u);
    return len < u.budget / 2; // a larger one would evict everything
}

void *
sl__node_alloc_ndarray(void *ctx, const sl_value *v, sl__blob **owner)
{
    sl__node *n = ctx;
    void *head = NULL;
    const void *tail;
    size_t head_len, tail_len;
    sl__tier_seg *seg = NULL;
    *owner = NULL;
    // The encoding's head of an ndarray of this shape, then room for its
    // elements, which start 64-byte aligned.
    if (n->tier == NULL ||
        sl__value_encode_split(v, &head, &head_len, &tail, &tail_len) !=
            SL_OK ||
        tail_len != v->u.nd.nbytes) {
        free(head);
        return NULL;
    }
    if (sl__tier_begin(n->tier, head_len + tail_len, head_len, &seg) != SL_OK) {
        free(head);
        return NULL; // a full tier: the heap will do
    }
    uint8_t *data = sl__tier_seg_data(seg);
    memcpy(data, head, head_len);
    free(head);
    if (sl__tier_seg_recycled(seg)) {
        memset(data + head_len, 0, tail_len); // as the allocator promises
    }
    if ((*owner = sl__tier_seg_blob(n->tier, &seg)) == NULL) {
        sl__tier_abort(n->tier, &seg);
        return NULL;
    }
    // The blob's data is the whole encoding; the elements follow its head.
    return (uint8_t *) (*owner)->data + head_len;
}

// Seal v's segment under key where v is, when v is an ndarray made by
// sl__node_alloc_ndarray on this tier and not sealed yet: no copy.
static bool
s_seal_in_place(sl__node *n, const char *key, const sl_value *v, unsigned flags,
                sl_value **ref_out, sl_err *rv)
{
    if (n->tier == NULL || (flags & SL_NODE_STORE) != 0 ||
        v->type != SL_NDARRAY || !sl__tier_blob_writable(n->tier, v->owner) ||
        !sl__tier_key_ok(key)) {
        return false;
    }
    sl__blob *b = v->owner;
    size_t len = b->len;
    bool nx = (flags & SL_NODE_NX) != 0, stored = false, located = false;
    int ttl = sl__store_ttl(n->store);
    sl__location loc = {.size = len};
    sl__strlcpy(loc.node, sl__tier_node(n->tier), sizeof(loc.node));
    *rv = sl__tier_seal_blob(n->tier, b, key, ttl, 0, nx, &stored);
    if (*rv != SL_OK) {
        s_fail(n, *rv, "put %s: %s", key, sl__tier_errstr(n->tier));
        return true;
    }
    if (stored) {
        loc.hash = sl__tier_blob_hash(b);
        *rv = sl__store_put_location(n->store, key, &loc, nx, ttl, &located);
        if (*rv != SL_OK || (!located && !s_located_here(n, key))) {
            sl__tier_delete(n->tier, key);
        }
        if (*rv != SL_OK) {
            s_fail(n, *rv, "put %s: %s", key, sl__store_errstr(n->store));
            return true;
        }
    }
    *ref_out = sl__value_new_ref(key, len, sl__store_shard_of(n->store, key));
    *rv = *ref_out != NULL ? SL_OK : s_fail(n, SL_ENOMEM, "out of memory");
    return true;
}

sl_err
sl__node_put_value(sl__node *n, const char *key, const sl_value *v,
                   unsigned flags, sl_value **ref_out)
{
    void *head = NULL;
    const void *tail;
    size_t head_len, tail_len;
    sl_err rv;
    if (s_seal_in_place(n, key, v, flags, ref_out, &rv)) {
        return rv;
    }
    rv = sl__value_encode_split(v, &head, &head_len, &tail, &tail_len);
    if (rv != SL_OK) {
        return s_fail(n, rv, "put %s: cannot encode the value: %s", key,
                      sl_strerror(rv));
    }
    if (s_to_tier(n, key, head_len + tail_len, flags)) {
        // A split ndarray's elements (the tail) start 64-byte aligned.
        size_t at = tail_len > 0 ? head_len : s_ext_header(head, head_len);
        rv = s_tier_put(n, key, head, head_len, tail, tail_len, at, flags,
                        ref_out);
    } else if ((rv = sl__store_put_value(n->store, key, v,
                                         (flags & SL_NODE_NX) != 0, ref_out)) !=
               SL_OK) {
        s_fail(n, rv, "put %s: %s", key, sl__store_errstr(n->store));
    }
    free(head);
    return rv;
}

sl_err
sl__node_put_encoded(sl__node *n, const char *key, const void *buf, size_t len,
                     unsigned flags, sl_value **ref_out)
{
    if (s_to_tier(n, key, len, flags)) {
        return s_tier_put(n, key, buf, len, NULL, 0, s_ext_header(buf, len),
                          flags, ref_out);
    }
    sl_err rv =
        sl__store_put(n->store, key, buf, len, (flags & SL_NODE_NX) != 0, NULL);
    if (rv != SL_OK) {
        return s_fail(n, rv, "put %s: %s", key, sl__store_errstr(n->store));
    }
    *ref_out = sl__value_new_ref(key, len, sl__store_shard_of(n->store, key));
    return *ref_out != NULL ? SL_OK : s_fail(n, SL_ENOMEM, "out of memory");
}

static void
s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void
s_want_list(char *buf, size_t size, const char *cluster, const char *node)
{
    snprintf(buf, size, "sl:want:%s:%s", cluster, node);
}

// Keep a copy of an object fetched from elsewhere in the tier, so that the
// node's next reader maps it. Best effort: a full tier just does not.
static void
s_cache(sl__node *n, const char *key, const uint8_t *data, size_t len)
{
    if (n->tier != NULL && len >= SL_NODE_TIER_MIN && sl__tier_key_ok(key) &&
        !sl__tier_has(n->tier, key, NULL)) {
        sl__tier_set_spill(n->tier, s_spill, n);
        sl__tier_put(n->tier, key, data, len, s_ext_header(data, len),
                     sl__store_ttl(n->store), SL_TIER_CACHED, true, NULL);
    }
}

sl_err
sl__node_get_blob(sl__node *n, const sl_value *ref, const sl__limits *lim,
                  sl__blob **blob_out, size_t *off, size_t *len,
                  bool *copied_out)
{
    const char *key = sl_ref_key(ref);
    bool copied = false, damaged = false;
    sl_err rv;
    *blob_out = NULL;
    if (key == NULL) {
        return s_fail(n, SL_EINVAL, "get needs a ref");
    }
    if (n->tier != NULL) {
        const void *data;
        rv = sl__tier_get(n->tier, key, blob_out, &data, len);
        if (rv == SL_OK) {
            *off = (size_t) ((const uint8_t *) data -
                             (const uint8_t *) (*blob_out)->data);
            if (copied_out != NULL) {
                *copied_out = false;
            }
            return SL_OK;
        }
        if (rv == SL_EPROTO) {
            sl__log_warn("%s; fetching it from the store",
                         sl__tier_errstr(n->tier));
            damaged = true; // the tier's errstr says how, until its next call
        }
    }
    int wait_ms = n->want_wait_ms > 0 ? n->want_wait_ms : SL_NODE_WANT_WAIT_MS;
    int waited = 0, nap = 1;
    bool asked = false;
    char asked_of[SL_LOCATION_NODE_MAX + 1] = ""; // the node asked
    for (;;) {
        sl__location loc;
        rv =
            sl__store_get_located(n->store, ref, lim, blob_out, off, len, &loc);
        if (rv == SL_ENOTFOUND && asked) {
            // Its node dropped the location (s_want_gone): no copy is left.
            return s_fail(n, rv,
                          "node %s, where it lived, no longer has it "
                          "(released, or a damaged copy removed?)",
                          asked_of);
        }
        if (rv != SL_OK) {
            return s_fail(n, rv, "%s",
                          rv == SL_ENOTFOUND
                              ? "no such object (expired or released?)"
                              : sl__store_errstr(n->store));
        }
        if (*blob_out != NULL) {
            copied = true;
            s_cache(n, key, (const uint8_t *) (*blob_out)->data + *off, *len);
            break;
        }
        if (n->tier != NULL && strcmp(loc.node, sl__tier_node(n->tier)) == 0) {
            // Its only copy was here: lost, and no want can bring it.
            if (damaged) {
                return s_fail(n, SL_EPROTO, "%s, and the store has no copy",
                              sl__tier_errstr(n->tier));
            }
            return s_fail(n, SL_ENOTFOUND,
                          "no such object in this node's tier, where it "
                          "lived (released, or removed as damaged?)");
        }
        if (!asked) {
            char list[SL_STORE_KEY_LEN + 48];
            s_want_list(list, sizeof(list), n->cluster, loc.node);
            if ((rv = sl__store_push(n->store, list, key, 0)) != SL_OK) {
                return s_fail(n, rv, "cannot ask node %s for it: %s", loc.node,
                              sl__store_errstr(n->store));
            }
            asked = true;
            sl__strlcpy(asked_of, loc.node, sizeof(asked_of));
        }
        if (waited >= wait_ms) {
            return s_fail(n, SL_ETIMEDOUT,
                          "it lives on node %s, which did not send it in "
                          "%d s (are its workers down?)",
                          loc.node, wait_ms / 1000);
        }
        s_sleep_ms(nap);
        waited += nap;
        nap = nap < 32 ? nap * 2 : 50;
    }
    if (copied_out != NULL) {
        *copied_out = copied;
    }
    return SL_OK;
}

sl_err
sl__node_get_value(sl__node *n, const sl_value *ref, const sl__limits *lim,
                   sl_value **out)
{
    sl__blob *blob = NULL;
    size_t off = 0, len = 0;
    sl_err rv = sl__node_get_blob(n, ref, lim, &blob, &off, &len, NULL);
    if (rv == SL_OK) {
        if ((rv = sl__store_decode_blob(n->store, ref, lim, blob, off, len,
                                        out)) != SL_OK) {
            s_fail(n, rv, "%s", sl__store_errstr(n->store));
        }
        sl__blob_release(&blob);
    }
    return rv;
}

sl_err
sl__node_delete(sl__node *n, const char *key)
{
    if (n->tier != NULL) {
        sl__tier_delete(n->tier, key); // absent here: in the store only
    }
    sl_err rv = sl__store_delete(n->store, key);
    if (rv != SL_OK) {
        s_fail(n, rv, "%s", sl__store_errstr(n->store));
    }
    return rv;
}

sl_err
sl__node_delete_prefix(sl__node *n, const char *prefix)
{
    if (n->tier != NULL) {
        sl__tier_delete_prefix(n->tier, prefix);
    }
    sl_err rv = sl__store_delete_prefix(n->store, prefix);
    if (rv != SL_OK) {
        s_fail(n, rv, "%s", sl__store_errstr(n->store));
    }
    return rv;
}

// A want this node cannot serve: its tier has no copy of key (or had a
// damaged one, now removed). If the store still says the object lives
// here, no copy is left anywhere: drop that location, so that the reader
// polling it fails now rather than after SL_NODE_WANT_WAIT_MS. (A put
// seals before it stores a location, and an eviction spills the bytes
// over the location before it unlinks, so a location naming this node
// with no file here is never one about to be good.)
static void
s_want_gone(sl__node *n, const char *key)
{
    void *buf = NULL;
    size_t len = 0;
    sl__location loc;
    if (sl__store_get(n->store, key, -1, &buf, &len) == SL_OK &&
        sl__location_decode(buf, len, &loc) &&
        strcmp(loc.node, sl__tier_node(n->tier)) == 0 &&
        !sl__tier_has(n->tier, key, NULL)) {
        sl__log_warn("object %s was asked of this node, which has no copy "
                     "left: dropping its location",
                     key);
        sl__store_delete(n->store, key);
    }
    free(buf);
}

sl_err
sl__node_serve_want(sl__node *n, int wait_ms, bool *served_out)
{
    char list[SL_STORE_KEY_LEN + 48], key[128];
    if (served_out != NULL) {
        *served_out = false;
    }
    if (n->tier == NULL) {
        return s_fail(n, SL_EINVAL, "no tier to serve from");
    }
    s_want_list(list, sizeof(list), n->cluster, sl__tier_node(n->tier));
    sl_err rv = sl__store_pop(n->store, list, wait_ms, key);
    if (rv != SL_OK) {
        return s_fail(n, rv, "%s", sl__store_errstr(n->store));
    }
    if (key[0] == '\0') {
        return SL_OK;
    }
    if (served_out != NULL) {
        *served_out = true;
    }
    unsigned flags = 0;
    if (!sl__tier_has(n->tier, key, &flags)) {
        s_want_gone(n, key);
        return SL_OK; // released, or lost
    }
    if ((flags & SL_TIER_SPILLED) != 0) {
        return SL_OK; // in the store already
    }
    sl__blob *blob = NULL;
    const void *data;
    size_t len;
    if ((rv = sl__tier_get(n->tier, key, &blob, &data, &len)) != SL_OK) {
        s_fail(n, rv, "%s", sl__tier_errstr(n->tier));
        if (rv == SL_EPROTO || rv == SL_ENOTFOUND) {
            s_want_gone(n, key); // damaged (and removed), or gone since
        }
        return rv;
    }
    rv = sl__store_put(n->store, key, data, len, false, NULL);
    sl__blob_release(&blob);
    if (rv != SL_OK) {
        return s_fail(n, rv, "cannot send %s: %s", key,
                      sl__store_errstr(n->store));
    }
    sl__tier_add_flags(n->tier, key, SL_TIER_SPILLED);
    return SL_OK;
}

// ---------------------------------------------------------------------
// The nodes' tiers: "sl:tiers:<cluster>", a field per node, each
// "<unix time> <objects> <bytes> <budget>".

#define S_TIERS_DROP_S 3600

static void
s_tiers_key(char *buf, size_t size, const char *cluster)
{
    snprintf(buf, size, "sl:tiers:%s", cluster);
}

sl_err
sl__node_report_tier(sl__node *n)
{
    char key[64], value[96];
    sl__tier_usage u;
    if (n->tier == NULL) {
        return SL_OK;
    }
    sl__tier_usage_get(n->tier, &u);
    s_tiers_key(key, sizeof(key), n->cluster);
    snprintf(value, sizeof(value), "%lld %llu %llu %llu",
             (long long) time(NULL), (unsigned long long) u.objects,
             (unsigned long long) u.bytes, (unsigned long long) u.budget);
    sl_err rv = sl__store_hset(n->store, key, sl__tier_node(n->tier), value);
    return rv == SL_OK ? rv : s_fail(n, rv, "%s", sl__store_errstr(n->store));
}

typedef struct {
    sl__node_tier *out;
    size_t max, count;
    int64_t now;
    int stale_s;
    char drop[8][65]; // reports too old to keep
    int n_drop;
} s_tiers_ctx;

static void
s_tiers_each(void *arg, const char *field, size_t field_len, const char *value,
             size_t value_len)
{
    s_tiers_ctx *c = arg;
    char v[96];
    sl__node_tier t = {0};
    long long at;
    unsigned long long objects, bytes, budget;
    if (field_len == 0 || field_len >= sizeof(t.node) ||
        value_len >= sizeof(v)) {
        return;
    }
    memcpy(t.node, field, field_len);
    memcpy(v, value, value_len);
    v[value_len] = '\0';
    if (sscanf(v, "%lld %llu %llu %llu", &at, &objects, &bytes, &budget) != 4) {
        return;
    }
    if (c->now - at > S_TIERS_DROP_S && c->n_drop < 8) {
        sl__strlcpy(c->drop[c->n_drop++], t.node, sizeof(c->drop[0]));
    }
    if (c->now - at > c->stale_s) {
        return;
    }
    t.objects = objects;
    t.bytes = bytes;
    t.budget = budget;
    t.reported_s = at;
    if (c->count < c->max) {
        c->out[c->count] = t;
    }
    c->count++;
}

sl_err
sl__node_tiers(sl__node *n, sl__node_tier *out, size_t max, size_t *count,
               int stale_s)
{
    char key[64];
    s_tiers_ctx c = {
        .out = out, .max = max, .now = time(NULL), .stale_s = stale_s};
    s_tiers_key(key, sizeof(key), n->cluster);
    sl_err rv = sl__store_hgetall(n->store, key, s_tiers_each, &c);
    if (rv != SL_OK) {
        return s_fail(n, rv, "%s", sl__store_errstr(n->store));
    }
    for (int i = 0; i < c.n_drop; i++) {
        sl__store_hdel(n->store, key, c.drop[i]);
    }
    *count = c.count;
    return SL_OK;
}
