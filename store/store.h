// store.h - the object store: starling's values in Redis, by key.
// SPDX-License-Identifier: MIT
//
// Client and worker hold one store each (one per thread: a store is not
// thread-safe). A store talks to 1..16 Redis shards; a key's shard is a
// hash of the key, and a ref names its shard, so more shards add bandwidth.
//
// Keys: every object lives under "sl:" and a namespace, so the objects of a
// job (or a client session) can be found and freed together:
//   sl:j<job hex>:r<index>   the result of task <index> of a job
//   sl:s<session hex>:<seq>  an object a client put
//   sl:m<sha256 hex>         a kernel module (a shared object), addressed
//                            by the SHA-256 of its bytes
// Every object gets a TTL, so a dead client cannot fill memory forever.
// Modules get a long one (30 days), which each registration resets: a
// module in use never expires, one no client registers any more does.
// An object larger than the chunk size (4 MiB) is split into chunks
// "<key>#<i>", moved with pipelining, and the key itself holds a small
// manifest that no encoded value can be mistaken for (it starts with
// 0xc1, a byte msgpack never uses).
#ifndef SL_STORE_STORE_H
#define SL_STORE_STORE_H

#include "../serialize/codec.h"
#include "../serialize/msg.h"
#include "manifest.h"

#define SL_STORE_MAX_SHARDS 16
#define SL_STORE_CHUNK_DEFAULT (4u << 20)
#define SL_STORE_TTL_DEFAULT (24 * 3600)
#define SL_STORE_MODULE_TTL (30 * 24 * 3600)

typedef struct sl__store sl__store;

typedef struct {
    const char *addrs[SL_STORE_MAX_SHARDS]; // "host:port" of each shard
    int n_addrs;                            // 1..16
    const char *password; // AUTH with this; NULL or "" for none
    int ttl_s;            // TTL of every object; 0: the default
    size_t chunk_bytes;   // split objects above this; 0: the default
    int timeout_ms;       // connect and command timeout; 0: 10 s
} sl__store_opts;

// Where the store is, as a WELCOME names it (the scheduler tells clients
// and workers): the options, and the strings they point to. Filled in
// place, so it must not be copied or moved after (copy opts instead: its
// pointers stay valid while this lives).
typedef struct {
    sl__store_opts opts;                  // points into addrs and password
    char addrs[SL_STORE_MAX_SHARDS][128]; // "host:port" of each shard
    char password[256];                   // "" for none
} sl__store_where;

// Fill where from m's shards and password (copied; a longer string than
// its field is cut, a shard past SL_STORE_MAX_SHARDS left out). The other
// options are zero: their defaults.
void sl__store_where_from_welcome(sl__store_where *where, const sl__welcome *m);

// Connect to every shard (and AUTH). On error *out is NULL and errbuf says
// which shard failed and why. A wrong or missing password is SL_EAUTH (it
// will not get better by retrying); a shard that cannot be reached is
// SL_ESTORE.
sl_err sl__store_connect(sl__store **out, const sl__store_opts *opts,
                         char errbuf[SL_ERRSTR_LEN]);
void sl__store_destroy(sl__store **store_p);
// Detail of the last error (never NULL).
const char *sl__store_errstr(const sl__store *store);
int sl__store_shards(const sl__store *store);
// The "host:port" of shard i, as configured.
const char *sl__store_shard_addr(const sl__store *store, int i);
// The shard a key maps to.
int sl__store_shard_of(const sl__store *store, const char *key);

// Store len bytes under key (chunked when large), with the TTL. With nx,
// only if the key does not exist yet: *stored_out (may be NULL) tells
// whether this call stored it (the first writer wins).
sl_err sl__store_put(sl__store *store, const char *key, const void *buf,
                     size_t len, bool nx, bool *stored_out);
// sl__store_put with a TTL of ttl_s seconds for this object and its chunks
// (0: the store's).
sl_err sl__store_put_ttl(sl__store *store, const char *key, const void *buf,
                         size_t len, bool nx, int ttl_s, bool *stored_out);
// Reset the TTL of the object under key, and of its chunks, to ttl_s
// seconds (0: the store's). SL_ENOTFOUND when there is no such object.
// Moves no object bytes: a registration that finds its module costs this.
sl_err sl__store_touch(sl__store *store, const char *key, int ttl_s);
// Fetch the object under key from shard into a new buffer (64-byte
// aligned, free() it) of *len_out bytes. SL_ENOTFOUND when absent
// (expired, never stored, or released).
sl_err sl__store_get(sl__store *store, const char *key, int shard,
                     void **buf_out, size_t *len_out);
// Encode v, store it under key, and give back a ref to it.
sl_err sl__store_put_value(sl__store *store, const char *key, const sl_value *v,
                           bool nx, sl_value **ref_out);
// Fetch and decode the object a ref names. ndarray payloads point into the
// fetched buffer instead of being copied.
sl_err sl__store_get_value(sl__store *store, const sl_value *ref,
                           const sl__limits *lim, sl_value **out);
// sl__store_get_value in two steps, for a caller that keeps the fetched
// bytes (the worker's input cache): fetch into *blob_out (the caller
// releases it), the value's encoding at *off, *len bytes; then decode a
// value that points into the blob (the ref names the object in errors).
sl_err sl__store_get_blob(sl__store *store, const sl_value *ref,
                          const sl__limits *lim, sl__blob **blob_out,
                          size_t *off, size_t *len);
// sl__store_get_blob, where the key may hold a location instead: then
// SL_OK with *blob_out NULL and *loc filled (sl__store_get_blob makes that
// an SL_ENOTFOUND that names the node).
sl_err sl__store_get_located(sl__store *store, const sl_value *ref,
                             const sl__limits *lim, sl__blob **blob_out,
                             size_t *off, size_t *len, sl__location *loc);
// Store loc under key (with nx, only if the key is free), for ttl_s
// seconds (0: the store's).
sl_err sl__store_put_location(sl__store *store, const char *key,
                              const sl__location *loc, bool nx, int ttl_s,
                              bool *stored_out);
// The store's TTL in seconds.
int sl__store_ttl(const sl__store *store);
// Append item to the list under key list, which lives ttl_s seconds more
// (0: 60); take the first item of a list, waiting up to wait_ms (0: 1000)
// for one ("" when none came).
sl_err sl__store_push(sl__store *store, const char *list, const char *item,
                      int ttl_s);
sl_err sl__store_pop(sl__store *store, const char *list, int wait_ms,
                     char item_out[128]);
// A small table under key: set a field, delete one, or call each with
// every field and value (not NUL-terminated).
sl_err sl__store_hset(sl__store *store, const char *key, const char *field,
                      const char *value);
sl_err sl__store_hdel(sl__store *store, const char *key, const char *field);
sl_err sl__store_hgetall(sl__store *store, const char *key,
                         void (*each)(void *ctx, const char *field,
                                      size_t field_len, const char *value,
                                      size_t value_len),
                         void *ctx);
sl_err sl__store_decode_blob(sl__store *store, const sl_value *ref,
                             const sl__limits *lim, sl__blob *blob, size_t off,
                             size_t len, sl_value **out);
// Delete the object under key, and its chunks (none there: SL_OK).
sl_err sl__store_delete(sl__store *store, const char *key);
// Delete every object whose key starts with prefix, on every shard.
sl_err sl__store_delete_prefix(sl__store *store, const char *prefix);

// Key helpers: write the key into buf (SL_STORE_KEY_LEN bytes).
#define SL_STORE_KEY_LEN 96
void sl__store_result_key(char *buf, uint64_t job, uint32_t index);
// "sl:m<hash>", hash being the 64 hex digits of a module's SHA-256.
void sl__store_module_key(char *buf, const char *hash);
void sl__store_object_key(char *buf, uint64_t session, uint64_t seq);
void sl__store_job_prefix(char *buf, uint64_t job);
void sl__store_session_prefix(char *buf, uint64_t session);

#endif
