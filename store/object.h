// object.h - objects on one shard: the commands that put, get, touch and
// delete them, whole or in chunks.
// SPDX-License-Identifier: MIT
//
// Private to store/: nothing outside store/ includes this header. Each
// operation is an sl__conn_op: store.c picks the shard and runs it there
// with sl__conn_retry, which may run it twice. So an operation starts from
// the in fields of its arguments alone, and its out fields mean something
// only on SL_OK. The detail of an error is in the shard's link->errstr.
#ifndef SL_STORE_OBJECT_H
#define SL_STORE_OBJECT_H

#include "conn.h"
#include "manifest.h"

// What sl__object_put stores.
typedef struct {
    const char *key;    // where
    sl__span data;      // what
    bool nx;            // only if the key is free
    const char *ttl;    // seconds, in decimal
    size_t chunk_bytes; // split objects above this
    bool record;        // data is the store's own record (a location):
                        // never chunked as a lookalike
    bool stored;        // out: whether this call stored it
} sl__object_put_args;

// What sl__object_get fetches, and where to.
typedef struct {
    const char *key;   // what to fetch
    size_t max_len;    // refuse objects larger than this
    bool for_value;    // place a top-level ndarray's elements aligned
    sl__location *loc; // when not NULL, a location under the key fills it
    bool located;      // out: it did (and buf is NULL)
    uint8_t *buf;      // out: the 64-byte aligned buffer (free() it)
    size_t off;        // out: where the object starts in buf
    size_t len;        // out: its bytes
} sl__object_get_args;

// What sl__object_touch refreshes.
typedef struct {
    const char *key; // the object
    char ttl[24];    // seconds, in decimal
} sl__object_touch_args;

// SET the object (an sl__object_put_args) under its key with its TTL: in
// one piece, or in chunks behind a manifest when it is larger than
// chunk_bytes or would look like a manifest. With nx the first writer
// wins, and stored says whether that was this call.
sl_err sl__object_put(sl__conn *shard, void *arg);
// GET the object (an sl__object_get_args), and its chunks when it has
// them, into a new buffer that the caller owns on SL_OK (buf is NULL on
// error). SL_ENOTFOUND when it or a chunk of it is missing; SL_ELIMIT
// when it is larger than max_len, found before the buffer is allocated.
sl_err sl__object_get(sl__conn *shard, void *arg);
// EXPIRE the object (an sl__object_touch_args) and every chunk of it.
// SL_ENOTFOUND when there is no such object.
sl_err sl__object_touch(sl__conn *shard, void *arg);
// UNLINK every key of the shard that matches arg, a SCAN MATCH pattern
// (a const char *), a page of SCAN at a time.
sl_err sl__object_delete_matching(sl__conn *shard, void *arg);

// A list of keys, and an item of it.
typedef struct {
    const char *list;   // the list's key
    const char *item;   // push: what to append
    const char *ttl;    // push: the list's TTL; pop: seconds to wait
    char item_out[128]; // pop: the first item, or "" when none came
} sl__object_list_args;

// RPUSH an item (an sl__object_list_args) and reset the list's TTL.
sl_err sl__object_push(sl__conn *shard, void *arg);
// BLPOP the first item, waiting up to ttl seconds for one.
sl_err sl__object_pop(sl__conn *shard, void *arg);

// A field of a hash, or each of them.
typedef struct {
    const char *key;   // the hash
    const char *field; // hset, hdel: the field
    const char *value; // hset: its value
    void (*each)(void *ctx, const char *field, size_t field_len,
                 const char *value, size_t value_len); // hgetall
    void *ctx;
} sl__object_hash_args;

// UNLINK the object under arg (a const char *key) and its chunks.
sl_err sl__object_delete(sl__conn *shard, void *arg);
// HSET key field value; HDEL key field; HGETALL key, each field to each.
sl_err sl__object_hset(sl__conn *shard, void *arg);
sl_err sl__object_hdel(sl__conn *shard, void *arg);
sl_err sl__object_hgetall(sl__conn *shard, void *arg);

#endif
