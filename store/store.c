// store.c - the object store: starling's values in Redis, by key.
// SPDX-License-Identifier: MIT
//
// Design notes.
//
// Files. This file is the store's API: options, shards, keys, TTLs,
// values and refs. Each operation is checked here, given its shard and its
// TTL, and run there by object.c (put, get, touch, delete, whole or in
// chunks; the chunks' design notes are there), whose commands go through
// conn.c (hiredis, sendmsg, replies in place, SIGPIPE); manifest.c reads
// and writes chunk manifests. Calls go that way only, never back.
//
// Shards. A key lives on shard fnv1a64(key) % n. A chunked object keeps
// its chunks on the same shard as its manifest, so that one pipelined
// connection moves the whole object and a ref's shard names all of it.
//
// Connections. One per shard, made at connect time and made again after
// one fails; an operation that a stale connection broke is done once
// more on a new one (conn.c, "Connections").
//
// TTLs. Every object gets the store's TTL, except where the caller names
// its own (sl__store_put_ttl): kernel modules, which are content-addressed
// and shared by every job, live for SL_STORE_MODULE_TTL and have it reset
// (sl__store_touch, chunks included) each time a client registers them.
#include "store.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"

struct sl__store {
    sl__conn shards[SL_STORE_MAX_SHARDS]; // 1..16 shards, by index
    int n_shards;                         // shards in use
    sl__link link;      // what the shards share; the last error's detail
    char ttl_arg[24];   // the TTL in seconds, for SET EX
    size_t chunk_bytes; // split objects above this
};

static sl_err __attribute__((format(printf, 3, 4)))
s_fail(sl__store *store, sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl__link_vfail(&store->link, rv, fmt, ap);
    va_end(ap);
    return rv;
}

// ---------------------------------------------------------------------
// The API.

void
sl__store_destroy(sl__store **store_p)
{
    sl__store *store = *store_p;
    if (store == NULL) {
        return;
    }
    for (int i = 0; i < store->n_shards; i++) {
        sl__conn_drop(&store->shards[i]);
    }
    sl__link_fini(&store->link);
    free(store);
    *store_p = NULL;
}

static sl_err
s_configure(sl__store *store, const sl__store_opts *opts)
{
    if (opts == NULL || opts->n_addrs < 1 ||
        opts->n_addrs > SL_STORE_MAX_SHARDS || opts->ttl_s < 0 ||
        opts->timeout_ms < 0) {
        return s_fail(store, SL_EINVAL,
                      "store: bad options (1 to %d shards, "
                      "a TTL and a timeout >= 0)",
                      SL_STORE_MAX_SHARDS);
    }
    store->n_shards = opts->n_addrs;
    for (int i = 0; i < opts->n_addrs; i++) {
        if (sl__conn_init(&store->shards[i], &store->link, opts->addrs[i]) !=
            SL_OK) {
            return s_fail(store, SL_EINVAL,
                          "store: bad address \"%s\" "
                          "(want host:port)",
                          opts->addrs[i] != NULL ? opts->addrs[i] : "(null)");
        }
    }
    int ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
    sl_err rv = sl__link_init(&store->link, opts->password, ms);
    if (rv != SL_OK) {
        return rv;
    }
    sl__fmt(store->ttl_arg, sizeof(store->ttl_arg), "%d",
            opts->ttl_s > 0 ? opts->ttl_s : SL_STORE_TTL_DEFAULT);
    store->chunk_bytes =
        opts->chunk_bytes > 0 ? opts->chunk_bytes : SL_STORE_CHUNK_DEFAULT;
    return SL_OK;
}

sl_err
sl__store_connect(sl__store **out, const sl__store_opts *opts,
                  char errbuf[SL_ERRSTR_LEN])
{
    sl__store *store = calloc(1, sizeof(*store));
    sl_err rv = SL_ENOMEM;
    *out = NULL;
    if (store == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "store: out of memory");
        return rv;
    }
    sl__strlcpy(store->link.errstr, "no error", sizeof(store->link.errstr));
    if ((rv = s_configure(store, opts)) != SL_OK) {
        goto fail;
    }
    for (int i = 0; i < store->n_shards; i++) {
        if ((rv = sl__conn_open(&store->shards[i])) != SL_OK) {
            goto fail;
        }
    }
    *out = store;
    return SL_OK;

fail:
    sl__strlcpy(errbuf, store->link.errstr, SL_ERRSTR_LEN);
    sl__store_destroy(&store);
    return rv;
}

const char *
sl__store_errstr(const sl__store *store)
{
    return store != NULL ? store->link.errstr : "no store";
}

int
sl__store_shards(const sl__store *store)
{
    return store->n_shards;
}

const char *
sl__store_shard_addr(const sl__store *store, int i)
{
    return i >= 0 && i < store->n_shards ? store->shards[i].addr : "";
}

int
sl__store_shard_of(const sl__store *store, const char *key)
{
    // FNV-1a, 64 bits: cheap, and it spreads keys that differ only in
    // their last digits.
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
        h = (h ^ *p) * 1099511628211ull;
    }
    return (int) (h % (uint64_t) store->n_shards);
}

sl_err
sl__store_put(sl__store *store, const char *key, const void *buf, size_t len,
              bool nx, bool *stored_out)
{
    return sl__store_put_ttl(store, key, buf, len, nx, 0, stored_out);
}

// Store data under key; a TTL of ttl_s seconds (0: the store's).
static sl_err
s_put_span(sl__store *store, const char *key, const sl__span *data, bool nx,
           int ttl_s, bool *stored_out)
{
    char ttl[24];
    sl__fmt(ttl, sizeof(ttl), "%d", ttl_s);
    sl__object_put_args a = {.key = key,
                             .data = *data,
                             .nx = nx,
                             .ttl = ttl_s > 0 ? ttl : store->ttl_arg,
                             .chunk_bytes = store->chunk_bytes};
    sl__conn *shard = &store->shards[sl__store_shard_of(store, key)];
    sl_err rv = sl__conn_retry(shard, sl__object_put, &a);
    if (stored_out != NULL) {
        *stored_out = rv == SL_OK && a.stored;
    }
    return rv;
}

sl_err
sl__store_put_ttl(sl__store *store, const char *key, const void *buf,
                  size_t len, bool nx, int ttl_s, bool *stored_out)
{
    if (store == NULL || key == NULL || key[0] == '\0' ||
        (buf == NULL && len > 0) || ttl_s < 0) {
        return store != NULL ? s_fail(store, SL_EINVAL,
                                      "store: put needs a "
                                      "key and a buffer")
                             : SL_EINVAL;
    }
    sl__span data = sl__span_of(buf != NULL ? buf : "", len);
    return s_put_span(store, key, &data, nx, ttl_s, stored_out);
}

// Fetch key's object into a->buf, from shard (negative: the key's own).
static sl_err
s_get(sl__store *store, int shard, sl__object_get_args *a)
{
    if (shard < 0) {
        shard = sl__store_shard_of(store, a->key);
    }
    if (shard >= store->n_shards) {
        return s_fail(store, SL_EINVAL,
                      "store: %s is on shard %d, but the "
                      "store has %d",
                      a->key, shard, store->n_shards);
    }
    return sl__conn_retry(&store->shards[shard], sl__object_get, a);
}

sl_err
sl__store_get(sl__store *store, const char *key, int shard, void **buf_out,
              size_t *len_out)
{
    if (store == NULL || key == NULL || buf_out == NULL || len_out == NULL) {
        return store != NULL ? s_fail(store, SL_EINVAL,
                                      "store: get needs a "
                                      "key")
                             : SL_EINVAL;
    }
    sl__object_get_args a = {.key = key, .max_len = SIZE_MAX};
    sl_err rv = s_get(store, shard, &a);
    if (rv == SL_OK) {
        *buf_out = a.buf;
        *len_out = a.len;
    }
    return rv;
}

sl_err
sl__store_put_value(sl__store *store, const char *key, const sl_value *v,
                    bool nx, sl_value **ref_out)
{
    void *head = NULL;
    const void *tail;
    size_t head_len, tail_len;
    if (store == NULL || key == NULL || key[0] == '\0' || v == NULL ||
        ref_out == NULL) {
        return store != NULL ? s_fail(store, SL_EINVAL,
                                      "store: put_value "
                                      "needs a key and a value")
                             : SL_EINVAL;
    }
    // A large ndarray's elements go from where they are, not from a copy.
    sl_err rv = sl__value_encode_split(v, &head, &head_len, &tail, &tail_len);
    if (rv != SL_OK) {
        s_fail(store, rv, "store: %s: cannot encode the value: %s", key,
               sl_strerror(rv));
        goto done;
    }
    sl__span data = {{head, tail}, {head_len, tail_len}};
    if ((rv = s_put_span(store, key, &data, nx, 0, NULL)) != SL_OK) {
        goto done;
    }
    *ref_out = sl__value_new_ref(key, head_len + tail_len,
                                 sl__store_shard_of(store, key));
    if (*ref_out == NULL) {
        rv = s_fail(store, SL_ENOMEM, "store: out of memory");
    }

done:
    free(head);
    return rv;
}

// A fetched buffer's blob lets it go back for reuse (sl__free_aligned);
// ctx is its size.
static void
s_buf_free(void *ctx, void *data)
{
    sl__free_aligned(data, (size_t) (uintptr_t) ctx);
}

sl_err
sl__store_get_located(sl__store *store, const sl_value *ref,
                      const sl__limits *lim, sl__blob **blob_out, size_t *off,
                      size_t *len, sl__location *loc)
{
    if (store == NULL || ref == NULL || ref->type != SL_REF ||
        blob_out == NULL || off == NULL || len == NULL || loc == NULL) {
        return store != NULL
                   ? s_fail(store, SL_EINVAL, "store: get needs a ref")
                   : SL_EINVAL;
    }
    *blob_out = NULL;
    lim = lim != NULL ? lim : &sl__limits_default;
    sl__object_get_args a = {.key = ref->u.ref.key,
                             .max_len = lim->max_message,
                             .for_value = true,
                             .loc = loc};
    sl_err rv = s_get(store, ref->u.ref.shard, &a);
    if (rv != SL_OK || a.located) {
        return rv;
    }
    // The blob owns the buffer; values decoded in place hold it.
    if ((*blob_out = sl__blob_new(
             a.buf, a.off + a.len, s_buf_free,
             (void *) (uintptr_t) sl__conn_buf_size(a.len))) == NULL) {
        free(a.buf);
        return s_fail(store, SL_ENOMEM, "store: out of memory");
    }
    *off = a.off;
    *len = a.len;
    return SL_OK;
}

sl_err
sl__store_get_blob(sl__store *store, const sl_value *ref, const sl__limits *lim,
                   sl__blob **blob_out, size_t *off, size_t *len)
{
    sl__location loc;
    sl_err rv =
        sl__store_get_located(store, ref, lim, blob_out, off, len, &loc);
    if (rv == SL_OK && *blob_out == NULL) {
        rv = s_fail(store, SL_ENOTFOUND,
                    "store: %s lives in the object tier of node %s, which "
                    "this process does not reach",
                    ref->u.ref.key, loc.node);
    }
    return rv;
}

sl_err
sl__store_put_location(sl__store *store, const char *key,
                       const sl__location *loc, bool nx, int ttl_s,
                       bool *stored_out)
{
    uint8_t rec[SL_LOCATION_MAX];
    size_t n = sl__location_encode(loc, rec);
    char ttl[24];
    sl__fmt(ttl, sizeof(ttl), "%d", ttl_s);
    sl__object_put_args a = {.key = key,
                             .data = sl__span_of(rec, n),
                             .nx = nx,
                             .ttl = ttl_s > 0 ? ttl : store->ttl_arg,
                             .chunk_bytes = store->chunk_bytes,
                             .record = true};
    sl__conn *shard = &store->shards[sl__store_shard_of(store, key)];
    sl_err rv = sl__conn_retry(shard, sl__object_put, &a);
    if (stored_out != NULL) {
        *stored_out = rv == SL_OK && a.stored;
    }
    return rv;
}

int
sl__store_ttl(const sl__store *store)
{
    return atoi(store->ttl_arg);
}

sl_err
sl__store_push(sl__store *store, const char *list, const char *item, int ttl_s)
{
    char ttl[24];
    sl__fmt(ttl, sizeof(ttl), "%d", ttl_s > 0 ? ttl_s : 60);
    sl__object_list_args a = {.list = list, .item = item, .ttl = ttl};
    sl__conn *shard = &store->shards[sl__store_shard_of(store, list)];
    return sl__conn_retry(shard, sl__object_push, &a);
}

sl_err
sl__store_pop(sl__store *store, const char *list, int wait_ms,
              char item_out[128])
{
    char wait[24];
    wait_ms = wait_ms > 0 ? wait_ms : 1000;
    sl__fmt(wait, sizeof(wait), "%d.%03d", wait_ms / 1000, wait_ms % 1000);
    sl__object_list_args a = {.list = list, .ttl = wait};
    sl__conn *shard = &store->shards[sl__store_shard_of(store, list)];
    sl_err rv = sl__conn_retry(shard, sl__object_pop, &a);
    sl__strlcpy(item_out, rv == SL_OK ? a.item_out : "", 128);
    return rv;
}

static sl_err
s_hash_op(sl__store *store, sl__conn_op op, sl__object_hash_args *a)
{
    sl__conn *shard = &store->shards[sl__store_shard_of(store, a->key)];
    return sl__conn_retry(shard, op, a);
}

sl_err
sl__store_hset(sl__store *store, const char *key, const char *field,
               const char *value)
{
    sl__object_hash_args a = {.key = key, .field = field, .value = value};
    return s_hash_op(store, sl__object_hset, &a);
}

sl_err
sl__store_hdel(sl__store *store, const char *key, const char *field)
{
    sl__object_hash_args a = {.key = key, .field = field};
    return s_hash_op(store, sl__object_hdel, &a);
}

sl_err
sl__store_hgetall(sl__store *store, const char *key,
                  void (*each)(void *ctx, const char *field, size_t field_len,
                               const char *value, size_t value_len),
                  void *ctx)
{
    sl__object_hash_args a = {.key = key, .each = each, .ctx = ctx};
    return s_hash_op(store, sl__object_hgetall, &a);
}

sl_err
sl__store_decode_blob(sl__store *store, const sl_value *ref,
                      const sl__limits *lim, sl__blob *blob, size_t off,
                      size_t len, sl_value **out)
{
    char errbuf[SL_ERRSTR_LEN];
    lim = lim != NULL ? lim : &sl__limits_default;
    sl_err rv = sl__value_decode_buf((const uint8_t *) blob->data + off, len,
                                     lim, blob, out, errbuf);
    if (rv != SL_OK) {
        s_fail(store, rv, "store: %s: cannot decode: %s", ref->u.ref.key,
               errbuf);
    }
    return rv;
}

sl_err
sl__store_get_value(sl__store *store, const sl_value *ref,
                    const sl__limits *lim, sl_value **out)
{
    sl__blob *blob = NULL;
    size_t off = 0, len = 0; // gcc cannot see that SL_OK sets them
    sl_err rv = out != NULL
                    ? sl__store_get_blob(store, ref, lim, &blob, &off, &len)
                    : SL_EINVAL;
    if (rv == SL_OK) {
        rv = sl__store_decode_blob(store, ref, lim, blob, off, len, out);
        sl__blob_release(&blob);
    }
    return rv;
}

sl_err
sl__store_touch(sl__store *store, const char *key, int ttl_s)
{
    if (store == NULL || key == NULL || key[0] == '\0' || ttl_s < 0) {
        return store != NULL
                   ? s_fail(store, SL_EINVAL, "store: touch needs a key")
                   : SL_EINVAL;
    }
    sl__object_touch_args a = {key, ""};
    sl__fmt(a.ttl, sizeof(a.ttl), "%s", store->ttl_arg);
    if (ttl_s > 0) {
        sl__fmt(a.ttl, sizeof(a.ttl), "%d", ttl_s);
    }
    sl__conn *shard = &store->shards[sl__store_shard_of(store, key)];
    return sl__conn_retry(shard, sl__object_touch, &a);
}

// prefix with the glob characters of SCAN MATCH escaped, then "*".
static char *
s_match_pattern(const char *prefix)
{
    char *pat = malloc(2 * strlen(prefix) + 2);
    char *q = pat;
    if (pat == NULL) {
        return NULL;
    }
    for (const char *p = prefix; *p; p++) {
        if (strchr("*?[]\\", *p) != NULL) {
            *q++ = '\\';
        }
        *q++ = *p;
    }
    *q++ = '*';
    *q = '\0';
    return pat;
}

sl_err
sl__store_delete(sl__store *store, const char *key)
{
    if (store == NULL || key == NULL || key[0] == '\0') {
        return store != NULL
                   ? s_fail(store, SL_EINVAL, "store: delete needs a key")
                   : SL_EINVAL;
    }
    sl__conn *shard = &store->shards[sl__store_shard_of(store, key)];
    return sl__conn_retry(shard, sl__object_delete, (void *) key);
}

sl_err
sl__store_delete_prefix(sl__store *store, const char *prefix)
{
    // An empty prefix would match every key of the server, not only ours.
    if (store == NULL || prefix == NULL || prefix[0] == '\0') {
        return store != NULL ? s_fail(store, SL_EINVAL,
                                      "store: delete needs "
                                      "a prefix")
                             : SL_EINVAL;
    }
    char *pattern = s_match_pattern(prefix);
    if (pattern == NULL) {
        return s_fail(store, SL_ENOMEM, "store: out of memory");
    }
    sl_err rv = SL_OK;
    for (int i = 0; i < store->n_shards && rv == SL_OK; i++) {
        rv = sl__conn_retry(&store->shards[i], sl__object_delete_matching,
                            pattern);
    }
    free(pattern);
    return rv;
}

void
sl__store_result_key(char *buf, uint64_t job, uint32_t index)
{
    sl__fmt(buf, SL_STORE_KEY_LEN, "sl:j%016llx:r%u", (unsigned long long) job,
            index);
}

void
sl__store_object_key(char *buf, uint64_t session, uint64_t seq)
{
    sl__fmt(buf, SL_STORE_KEY_LEN, "sl:s%016llx:%llu",
            (unsigned long long) session, (unsigned long long) seq);
}

void
sl__store_job_prefix(char *buf, uint64_t job)
{
    sl__fmt(buf, SL_STORE_KEY_LEN, "sl:j%016llx:", (unsigned long long) job);
}

void
sl__store_session_prefix(char *buf, uint64_t session)
{
    sl__fmt(buf, SL_STORE_KEY_LEN,
            "sl:s%016llx:", (unsigned long long) session);
}

void
sl__store_module_key(char *buf, const char *hash)
{
    sl__fmt(buf, SL_STORE_KEY_LEN, "sl:m%.64s", hash);
}
