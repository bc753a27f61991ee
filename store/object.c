// object.c - objects on one shard: put, get, touch and delete them, whole
// or in chunks, pipelined through the shard's connection.
// SPDX-License-Identifier: MIT
//
// Design notes.
//
// Operations. Each function of object.h is one operation on one shard,
// which store.c runs under sl__conn_retry: it may run twice, so it starts
// from its arguments alone. What goes over the wire and how is conn.c's;
// the manifest's bytes are manifest.c's.
//
// Chunks. An object of more than chunk_bytes (or one that would look like a
// manifest) is stored as chunks "<key>#<i>", i = 0..n-1 in decimal, and
// under <key> itself a 25-byte manifest (manifest.c). Every chunk gets the
// object's TTL. Without NX the chunks are written first and the manifest
// last, so a reader never finds a manifest whose chunks are yet to come.
// With NX the manifest is taken first (SET NX): that decides who writes;
// the winner then writes its chunks, and removes the manifest again if it
// cannot.
//
// Pipelining. Chunk commands are sent and then their replies read, in
// windows of at most 1024 commands and 64 MiB: redis queues every reply
// in its own buffer, so asking for all the chunks of a 4 GiB object at
// once would cost another 4 GiB there. Small chunks still go 1024 to a
// round trip. After an error reply in a window the remaining replies are
// still read, so the connection stays in step.
//
// Chunk size. The default chunk is 4 MiB: redis-server copies a GET's
// value into its reply buffers and allocates a SET's anew, and at 64 MiB
// each such buffer was fresh memory to fault in (perf); chunks of 4 to 16
// MiB moved a 64 MiB object about twice as fast as one 64 MiB string
// (bench data: put 575 -> 1,134 MB/s, get 713 -> 1,232 MB/s with both
// changes, this and conn.c's writes with sendmsg).
//
// Alignment. A fetched object is copied into one 64-byte aligned buffer.
// For a value whose top level is an ndarray, the object starts a few bytes
// into that buffer so that the array's elements (8-byte aligned within the
// ext payload) are 8-byte aligned in memory, and the decoder can use them
// in place. The chunks of a large object, and a large whole one, land
// there through conn.c's sinks rather than by a copy here.
#include "object.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

#define S_WINDOW_CMDS 1024
#define S_WINDOW_BYTES (64u << 20)
#define S_SCAN_COUNT "1000"
// Room after a key for "#<chunk index>" and the NUL.
#define S_CHUNK_SUFFIX 16

static sl_err __attribute__((format(printf, 3, 4)))
s_fail(sl__conn *shard, sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl__link_vfail(shard->link, rv, fmt, ap);
    va_end(ap);
    return rv;
}

// ---------------------------------------------------------------------
// Commands.

// One command, one reply, no value and no sink (sl__conn_call).
static sl_err
s_call(sl__conn *shard, int argc, const char **argv, const size_t *lens,
       redisReply **out)
{
    return sl__conn_call(shard, argc, argv, lens, NULL, NULL, out);
}

// Check a SET reply: +OK stored it; nil (only with NX) did not.
static sl_err
s_set_reply(sl__conn *shard, const redisReply *r, const char *key, bool *stored)
{
    if (r->type == REDIS_REPLY_STATUS) {
        *stored = true;
        return SL_OK;
    }
    if (r->type == REDIS_REPLY_NIL) {
        *stored = false;
        return SL_OK;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return s_fail(shard, SL_ESTORE, "store %s: SET %s: %s", shard->addr,
                      key, r->str);
    }
    return s_fail(shard, SL_ESTORE,
                  "store %s: SET %s: unexpected reply "
                  "type %d",
                  shard->addr, key, r->type);
}

// SET key value EX ttl [NX].
static sl_err
s_set(sl__conn *shard, const char *key, const sl__span *value, const char *ttl,
      bool nx, bool *stored)
{
    const char *argv[] = {"SET", key, (const char *) value->p[0],
                          "EX",  ttl, "NX"};
    size_t lens[] = {3, strlen(key), sl__span_len(value), 2, strlen(ttl), 2};
    redisReply *r;
    sl_err rv = sl__conn_call(shard, nx ? 6 : 5, argv, lens, value, NULL, &r);
    if (rv == SL_OK) {
        rv = s_set_reply(shard, r, key, stored);
        freeReplyObject(r);
    }
    return rv;
}

static void
s_unlink(sl__conn *shard, const char *key)
{
    const char *argv[] = {"UNLINK", key};
    size_t lens[] = {6, strlen(key)};
    redisReply *r;
    if (s_call(shard, 2, argv, lens, &r) == SL_OK) {
        freeReplyObject(r);
    }
}

// ---------------------------------------------------------------------
// Chunks.

// Bytes off .. off+len-1 of sp.
static sl__span
s_span_slice(const sl__span *sp, size_t off, size_t len)
{
    sl__span out = {{NULL, NULL}, {0, 0}};
    int k = 0;
    for (int i = 0; i < 2 && len > 0; i++) {
        if (off >= sp->n[i]) {
            off -= sp->n[i];
            continue;
        }
        size_t take = sp->n[i] - off < len ? sp->n[i] - off : len;
        out.p[k] = sp->p[i] + off;
        out.n[k++] = take;
        len -= take;
        off = 0;
    }
    return out;
}

// "<key>#<i>" into keybuf (strlen(key) + S_CHUNK_SUFFIX bytes).
static void
s_chunk_key(char *keybuf, size_t size, const char *key, uint32_t i)
{
    snprintf(keybuf, size, "%s#%u", key, i);
}

// Chunk commands per pipeline window (see the design notes).
static uint32_t
s_window(uint64_t chunk)
{
    uint64_t w = S_WINDOW_BYTES / chunk;
    return w < 1 ? 1 : w > S_WINDOW_CMDS ? S_WINDOW_CMDS : (uint32_t) w;
}

// Read the replies of chunk SETs from..to-1; all are read even after an
// error reply, to keep the connection in step.
static sl_err
s_read_set_replies(sl__conn *shard, const char *key, uint32_t from, uint32_t to)
{
    sl_err first = SL_OK;
    for (uint32_t i = from; i < to; i++) {
        redisReply *r;
        bool stored;
        sl_err rv = sl__conn_read(shard, "SET chunk", NULL, &r);
        if (rv != SL_OK) {
            return rv; // the connection is gone, and the rest with it
        }
        if (first == SL_OK) {
            first = s_set_reply(shard, r, key, &stored);
        }
        freeReplyObject(r);
    }
    return first;
}

// Queue SET <key>#<i> for chunks from..to-1 of the object's bytes.
static sl_err
s_append_sets(sl__conn *shard, const char *key, const sl__span *data,
              const sl__manifest *m, const char *ttl, uint32_t from,
              uint32_t to)
{
    size_t ksize = strlen(key) + S_CHUNK_SUFFIX;
    char *ckey = malloc(ksize);
    sl_err rv =
        ckey != NULL ? SL_OK : s_fail(shard, SL_ENOMEM, "store: out of memory");
    for (uint32_t i = from; i < to && rv == SL_OK; i++) {
        s_chunk_key(ckey, ksize, key, i);
        sl__span chunk = s_span_slice(data, (size_t) i * m->chunk,
                                      sl__manifest_chunk_len(m, i));
        const char *argv[] = {"SET", ckey, (const char *) chunk.p[0], "EX",
                              ttl};
        size_t lens[] = {3, strlen(ckey), sl__span_len(&chunk), 2, strlen(ttl)};
        rv = sl__conn_append(shard, 5, argv, lens, &chunk);
    }
    free(ckey);
    return rv;
}

static sl_err
s_set_chunks(sl__conn *shard, const char *key, const sl__span *data,
             const sl__manifest *m, const char *ttl)
{
    sl_err rv = sl__conn_ready(shard);
    uint32_t window = s_window(m->chunk);
    for (uint32_t from = 0; from < m->n && rv == SL_OK; from += window) {
        uint32_t to = m->n - from > window ? from + window : m->n;
        if ((rv = s_append_sets(shard, key, data, m, ttl, from, to)) != SL_OK) {
            sl__conn_drop(shard);
            break;
        }
        rv = s_read_set_replies(shard, key, from, to);
    }
    return rv;
}

static sl_err
s_put_chunked(sl__conn *shard, sl__object_put_args *a)
{
    size_t len = sl__span_len(&a->data);
    sl__manifest m;
    if (sl__manifest_plan(&m, len, a->chunk_bytes) != SL_OK) {
        return s_fail(shard, SL_ELIMIT,
                      "store: %s: %zu bytes is more than "
                      "2^32 chunks",
                      a->key, len);
    }
    uint8_t man[SL_MANIFEST_LEN];
    sl__manifest_encode(&m, man);
    sl__span man_span = sl__span_of(man, sizeof(man));
    sl_err rv;
    if (a->nx) {
        rv = s_set(shard, a->key, &man_span, a->ttl, true, &a->stored);
        if (rv != SL_OK || !a->stored) {
            return rv;
        }
    }
    if ((rv = s_set_chunks(shard, a->key, &a->data, &m, a->ttl)) != SL_OK) {
        if (a->nx) {
            // Give the key back, or a retry would find it taken and never
            // write the chunks. Best effort: the TTL ends it otherwise.
            char keep[SL_ERRSTR_LEN];
            sl__strlcpy(keep, shard->link->errstr, sizeof(keep));
            s_unlink(shard, a->key);
            sl__strlcpy(shard->link->errstr, keep, sizeof(shard->link->errstr));
        }
        return rv;
    }
    if (!a->nx) {
        rv = s_set(shard, a->key, &man_span, a->ttl, false, &a->stored);
    }
    return rv;
}

sl_err
sl__object_put(sl__conn *shard, void *arg)
{
    sl__object_put_args *a = arg;
    // Only a one-piece object can be 25 bytes (a split one is 64 KiB and
    // more): the manifest check needs no copy.
    if (sl__span_len(&a->data) > a->chunk_bytes ||
        (a->data.n[1] == 0 && !a->record &&
         (sl__manifest_lookalike(a->data.p[0], a->data.n[0]) ||
          sl__location_lookalike(a->data.p[0], a->data.n[0])))) {
        return s_put_chunked(shard, a);
    }
    return s_set(shard, a->key, &a->data, a->ttl, a->nx, &a->stored);
}

// A 64-byte aligned buffer for len bytes after up to 7 bytes of padding.
static sl_err
s_alloc(sl__conn *shard, sl__object_get_args *a, size_t len)
{
    if (len > a->max_len) {
        return s_fail(shard, SL_ELIMIT,
                      "store: %s: %zu bytes is more than "
                      "the limit of %zu",
                      a->key, len, a->max_len);
    }
    if ((a->buf = sl__alloc_aligned(sl__conn_buf_size(len))) == NULL) {
        return s_fail(shard, SL_ENOMEM,
                      "store: %s: out of memory for %zu "
                      "bytes",
                      a->key, len);
    }
    a->len = len;
    return SL_OK;
}

// Check one chunk's reply (read by sl__conn_read with sink) and copy it
// into place unless the sink put it there. The first chunk decides the
// padding.
static sl_err
s_take_chunk(sl__conn *shard, sl__object_get_args *a, const sl__manifest *m,
             uint32_t i, const redisReply *r, const sl__sink *sink)
{
    if (sink->direct && r->type == REDIS_REPLY_ERROR) {
        // Read past hiredis (a large chunk), an error reply is reported
        // with its text; one through hiredis falls to the size check.
        return s_fail(shard, SL_ESTORE, "store %s: GET %s#%u: %s", shard->addr,
                      a->key, i, r->str);
    }
    size_t want = sl__manifest_chunk_len(m, i);
    if (r->type == REDIS_REPLY_NIL) {
        return s_fail(shard, SL_ENOTFOUND,
                      "store %s: %s: chunk %u of %u is "
                      "missing (expired, or still being written)",
                      shard->addr, a->key, i, m->n);
    }
    if (r->type != REDIS_REPLY_STRING || r->len != want) {
        return s_fail(shard, SL_ESTORE,
                      "store %s: %s: chunk %u has %zu "
                      "bytes, want %zu",
                      shard->addr, a->key, i,
                      r->type == REDIS_REPLY_STRING ? r->len : 0, want);
    }
    if (r->str == NULL) {
        return SL_OK; // the reply functions put it in place
    }
    if (i == 0 && a->for_value) {
        a->off = sl__conn_value_pad((const uint8_t *) r->str, r->len);
    }
    memcpy(a->buf + a->off + (size_t) i * m->chunk, r->str, want);
    return SL_OK;
}

// Queue GET <key>#<i> for chunks from..to-1.
static sl_err
s_append_gets(sl__conn *shard, const char *key, uint32_t from, uint32_t to)
{
    size_t ksize = strlen(key) + S_CHUNK_SUFFIX;
    char *ckey = malloc(ksize);
    sl_err rv =
        ckey != NULL ? SL_OK : s_fail(shard, SL_ENOMEM, "store: out of memory");
    for (uint32_t i = from; i < to && rv == SL_OK; i++) {
        s_chunk_key(ckey, ksize, key, i);
        const char *argv[] = {"GET", ckey};
        size_t lens[] = {3, strlen(ckey)};
        rv = sl__conn_append(shard, 2, argv, lens, NULL);
    }
    free(ckey);
    return rv;
}

// Read the replies of chunk GETs from..to-1 into place; all are read even
// after a bad one, to keep the connection in step, and only the first bad
// one is reported.
static sl_err
s_read_chunks(sl__conn *shard, sl__object_get_args *a, const sl__manifest *m,
              uint32_t from, uint32_t to)
{
    sl_err first = SL_OK;
    for (uint32_t i = from; i < to; i++) {
        redisReply *r;
        // The first chunk decides the padding; the others follow it.
        sl__sink sink = {.dst = a->buf + (i == 0 ? 0 : a->off + i * m->chunk),
                         .want = sl__manifest_chunk_len(m, i),
                         .pad = i == 0 && a->for_value};
        sl_err rv = sl__conn_read(shard, "GET chunk", &sink, &r);
        if (rv != SL_OK) {
            return rv; // the connection is gone, and the rest with it
        }
        if (sink.taken && i == 0) {
            a->off = sink.off;
        }
        if (first == SL_OK) {
            first = s_take_chunk(shard, a, m, i, r, &sink);
        }
        freeReplyObject(r);
    }
    return first;
}

static sl_err
s_get_chunks(sl__conn *shard, sl__object_get_args *a, const sl__manifest *m)
{
    if (m->total > SIZE_MAX - 2 * SL_CONN_ALIGN) {
        return s_fail(shard, SL_ELIMIT, "store: %s: too large", a->key);
    }
    sl_err rv = s_alloc(shard, a, (size_t) m->total);
    uint32_t window = s_window(m->chunk);
    for (uint32_t from = 0; from < m->n && rv == SL_OK; from += window) {
        uint32_t to = m->n - from > window ? from + window : m->n;
        if ((rv = s_append_gets(shard, a->key, from, to)) != SL_OK) {
            sl__conn_drop(shard);
            break;
        }
        rv = s_read_chunks(shard, a, m, from, to);
    }
    return rv;
}

sl_err
sl__object_get(sl__conn *shard, void *arg)
{
    sl__object_get_args *a = arg;
    const char *argv[] = {"GET", a->key};
    size_t lens[] = {3, strlen(a->key)};
    redisReply *r;
    sl__manifest m;
    a->buf = NULL;
    a->off = 0;
    a->located = false;
    sl__sink sink = {.pad = a->for_value, .max_len = a->max_len};
    sl_err rv = sl__conn_call(shard, 2, argv, lens, NULL, &sink, &r);
    if (rv != SL_OK) {
        free(sink.buf);
        return rv;
    }
    if (sink.taken) { // a whole object, in place already
        a->buf = sink.buf;
        a->off = sink.off;
        a->len = r->len;
    } else if (r->type == REDIS_REPLY_NIL) {
        rv = s_fail(shard, SL_ENOTFOUND, "store %s: no object %s", shard->addr,
                    a->key);
    } else if (r->type != REDIS_REPLY_STRING) {
        rv = s_fail(shard, SL_ESTORE,
                    "store %s: GET %s: unexpected reply "
                    "type %d",
                    shard->addr, a->key, r->type);
    } else if (a->loc != NULL && sl__location_decode(r->str, r->len, a->loc)) {
        a->located = true; // no bytes: the caller goes to the node
    } else if (sl__manifest_decode(r->str, r->len, &m)) {
        rv = s_get_chunks(shard, a, &m);
    } else if ((rv = s_alloc(shard, a, r->len)) == SL_OK) {
        a->off =
            a->for_value ? sl__conn_value_pad((uint8_t *) r->str, r->len) : 0;
        memcpy(a->buf + a->off, r->str, r->len);
    }
    freeReplyObject(r);
    if (rv != SL_OK) {
        free(a->buf);
        a->buf = NULL;
    }
    return rv;
}

// ---------------------------------------------------------------------
// Refreshing a TTL.

// EXPIRE key ttl: *found tells whether the key exists.
static sl_err
s_expire(sl__conn *shard, const char *key, const char *ttl, bool *found)
{
    const char *argv[] = {"EXPIRE", key, ttl};
    size_t lens[] = {6, strlen(key), strlen(ttl)};
    redisReply *r;
    sl_err rv = s_call(shard, 3, argv, lens, &r);
    if (rv == SL_OK) {
        *found = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
    }
    return rv;
}

// Read the manifest under key into *m; false when the object is not
// chunked (anything but 25 bytes is read no further than its length).
static sl_err
s_read_manifest(sl__conn *shard, const char *key, sl__manifest *m,
                bool *chunked)
{
    const char *argv[] = {"STRLEN", key};
    size_t lens[] = {6, strlen(key)};
    redisReply *r;
    *chunked = false;
    sl_err rv = s_call(shard, 2, argv, lens, &r);
    if (rv != SL_OK) {
        return rv;
    }
    bool maybe =
        r->type == REDIS_REPLY_INTEGER && r->integer == SL_MANIFEST_LEN;
    freeReplyObject(r);
    argv[0] = "GET";
    lens[0] = 3;
    if (!maybe || (rv = s_call(shard, 2, argv, lens, &r)) != SL_OK) {
        return rv;
    }
    *chunked =
        r->type == REDIS_REPLY_STRING && sl__manifest_decode(r->str, r->len, m);
    freeReplyObject(r);
    return SL_OK;
}

// EXPIRE every chunk, pipelined in windows like the chunk SETs.
static sl_err
s_expire_chunks(sl__conn *shard, const sl__object_touch_args *a,
                const sl__manifest *m)
{
    size_t ksize = strlen(a->key) + S_CHUNK_SUFFIX;
    char *ckey = malloc(ksize);
    sl_err rv =
        ckey != NULL ? SL_OK : s_fail(shard, SL_ENOMEM, "store: out of memory");
    for (uint32_t from = 0; from < m->n && rv == SL_OK; from += S_WINDOW_CMDS) {
        uint32_t to = m->n - from > S_WINDOW_CMDS ? from + S_WINDOW_CMDS : m->n;
        for (uint32_t i = from; i < to && rv == SL_OK; i++) {
            s_chunk_key(ckey, ksize, a->key, i);
            const char *argv[] = {"EXPIRE", ckey, a->ttl};
            size_t lens[] = {6, strlen(ckey), strlen(a->ttl)};
            rv = sl__conn_append(shard, 3, argv, lens, NULL);
        }
        for (uint32_t i = from; i < to && rv == SL_OK; i++) {
            redisReply *r;
            if ((rv = sl__conn_read(shard, "EXPIRE chunk", NULL, &r)) ==
                SL_OK) {
                freeReplyObject(r);
            }
        }
        if (rv != SL_OK) {
            sl__conn_drop(shard); // replies may be left unread
        }
    }
    free(ckey);
    return rv;
}

sl_err
sl__object_touch(sl__conn *shard, void *arg)
{
    sl__object_touch_args *a = arg;
    bool found, chunked;
    sl__manifest m;
    sl_err rv = sl__conn_ready(shard);
    if (rv == SL_OK) {
        rv = s_expire(shard, a->key, a->ttl, &found);
    }
    if (rv == SL_OK && !found) {
        return s_fail(shard, SL_ENOTFOUND, "store %s: no object %s",
                      shard->addr, a->key);
    }
    if (rv == SL_OK) {
        rv = s_read_manifest(shard, a->key, &m, &chunked);
    }
    if (rv == SL_OK && chunked) {
        rv = s_expire_chunks(shard, a, &m);
    }
    return rv;
}

// ---------------------------------------------------------------------
// Deleting by prefix.

// UNLINK the keys of one SCAN page.
static sl_err
s_unlink_page(sl__conn *shard, const redisReply *keys)
{
    if (keys->elements == 0) {
        return SL_OK;
    }
    size_t n = keys->elements + 1;
    const char **argv = malloc(n * sizeof(*argv));
    size_t *lens = malloc(n * sizeof(*lens));
    sl_err rv = SL_ENOMEM;
    redisReply *r;
    if (argv == NULL || lens == NULL || n > INT_MAX) {
        s_fail(shard, rv, "store: out of memory");
        goto done;
    }
    argv[0] = "UNLINK";
    lens[0] = 6;
    for (size_t i = 1; i < n; i++) {
        argv[i] = keys->element[i - 1]->str;
        lens[i] = keys->element[i - 1]->len;
    }
    if ((rv = s_call(shard, (int) n, argv, lens, &r)) == SL_OK) {
        freeReplyObject(r);
    }

done:
    free(argv);
    free(lens);
    return rv;
}

// A SCAN reply is [cursor, [key...]], every key a string.
static bool
s_scan_reply_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        return false;
    }
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        if (r->element[1]->element[i]->type != REDIS_REPLY_STRING) {
            return false;
        }
    }
    return true;
}

sl_err
sl__object_delete_matching(sl__conn *shard, void *arg)
{
    const char *pattern = arg;
    char cursor[32] = "0";
    sl_err rv = SL_OK;
    do {
        const char *argv[] = {"SCAN",  cursor,  "MATCH",
                              pattern, "COUNT", S_SCAN_COUNT};
        size_t lens[] = {4, strlen(cursor),      5, strlen(pattern),
                         5, strlen(S_SCAN_COUNT)};
        redisReply *r;
        if ((rv = s_call(shard, 6, argv, lens, &r)) != SL_OK) {
            break;
        }
        if (!s_scan_reply_ok(r) || r->element[0]->len >= sizeof(cursor)) {
            rv = s_fail(shard, SL_ESTORE, "store %s: SCAN: unexpected reply",
                        shard->addr);
        } else {
            sl__strlcpy(cursor, r->element[0]->str, sizeof(cursor));
            rv = s_unlink_page(shard, r->element[1]);
        }
        freeReplyObject(r);
    } while (rv == SL_OK && strcmp(cursor, "0") != 0);
    return rv;
}

// ---------------------------------------------------------------------
// Commands of the tier's records: lists, hashes, one object's keys.

// A reply that is not the one cmd on key should get.
static sl_err
s_reply_bad(sl__conn *shard, const redisReply *r, const char *cmd,
            const char *key)
{
    return s_fail(shard, SL_ESTORE, "store %s: %s %s: %s", shard->addr, cmd,
                  key,
                  r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
}

// Run a command whose reply is an integer (argv[0] the command, argv[1]
// its key, for the message).
static sl_err
s_call_int(sl__conn *shard, int argc, const char **argv, const size_t *lens)
{
    redisReply *r;
    sl_err rv = s_call(shard, argc, argv, lens, &r);
    if (rv == SL_OK) {
        if (r->type != REDIS_REPLY_INTEGER) {
            rv = s_reply_bad(shard, r, argv[0], argv[1]);
        }
        freeReplyObject(r);
    }
    return rv;
}

sl_err
sl__object_push(sl__conn *shard, void *arg)
{
    sl__object_list_args *a = arg;
    const char *argv[] = {"RPUSH", a->list, a->item};
    size_t lens[] = {5, strlen(a->list), strlen(a->item)};
    sl_err rv = s_call_int(shard, 3, argv, lens);
    if (rv == SL_OK) {
        bool found;
        rv = s_expire(shard, a->list, a->ttl, &found);
    }
    return rv;
}

sl_err
sl__object_pop(sl__conn *shard, void *arg)
{
    sl__object_list_args *a = arg;
    const char *argv[] = {"BLPOP", a->list, a->ttl};
    size_t lens[] = {5, strlen(a->list), strlen(a->ttl)};
    redisReply *r;
    a->item_out[0] = '\0';
    sl_err rv = s_call(shard, 3, argv, lens, &r);
    if (rv != SL_OK) {
        return rv;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        if (r->element[1]->len < sizeof(a->item_out)) {
            memcpy(a->item_out, r->element[1]->str, r->element[1]->len);
            a->item_out[r->element[1]->len] = '\0';
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        rv = s_reply_bad(shard, r, "BLPOP", a->list);
    }
    freeReplyObject(r);
    return rv;
}

// Hashes: a small table under one key (the nodes' tier usage).

sl_err
sl__object_hset(sl__conn *shard, void *arg)
{
    sl__object_hash_args *a = arg;
    const char *argv[] = {"HSET", a->key, a->field, a->value};
    size_t lens[] = {4, strlen(a->key), strlen(a->field), strlen(a->value)};
    return s_call_int(shard, 4, argv, lens);
}

sl_err
sl__object_hdel(sl__conn *shard, void *arg)
{
    sl__object_hash_args *a = arg;
    const char *argv[] = {"HDEL", a->key, a->field};
    size_t lens[] = {4, strlen(a->key), strlen(a->field)};
    return s_call_int(shard, 3, argv, lens);
}

sl_err
sl__object_hgetall(sl__conn *shard, void *arg)
{
    sl__object_hash_args *a = arg;
    const char *argv[] = {"HGETALL", a->key};
    size_t lens[] = {7, strlen(a->key)};
    redisReply *r;
    sl_err rv = s_call(shard, 2, argv, lens, &r);
    if (rv != SL_OK) {
        return rv;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        rv = s_reply_bad(shard, r, "HGETALL", a->key);
    }
    for (size_t i = 0; rv == SL_OK && i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING) {
            a->each(a->ctx, f->str, f->len, v->str, v->len);
        }
    }
    freeReplyObject(r);
    return rv;
}

// ---------------------------------------------------------------------
// Deleting one object.

// UNLINK an object's keys a batch at a time: the key and, when it is
// chunked, its chunks (a forged manifest may name billions of them).
#define S_UNLINK_BATCH 256

sl_err
sl__object_delete(sl__conn *shard, void *arg)
{
    const char *key = arg;
    bool chunked;
    sl__manifest m;
    sl_err rv = sl__conn_ready(shard);
    if (rv == SL_OK) {
        rv = s_read_manifest(shard, key, &m, &chunked);
    }
    uint64_t n = rv == SL_OK && chunked ? m.n : 0;
    char names[S_UNLINK_BATCH][128]; // "<key>#<i>": keys are < 96 bytes
    const char *argv[S_UNLINK_BATCH + 1] = {"UNLINK"};
    size_t lens[S_UNLINK_BATCH + 1] = {6};
    // The chunks first, then the key: a failure leaves the manifest, so
    // that a second delete finds the chunks.
    for (uint64_t i = 0; rv == SL_OK && i <= n;) {
        int argc = 1;
        for (; i < n && argc <= S_UNLINK_BATCH; i++, argc++) {
            s_chunk_key(names[argc - 1], sizeof(names[0]), key, (uint32_t) i);
            argv[argc] = names[argc - 1];
            lens[argc] = strlen(names[argc - 1]);
        }
        if (i == n && argc <= S_UNLINK_BATCH) {
            argv[argc] = key;
            lens[argc++] = strlen(key);
            i++;
        }
        rv = s_call_int(shard, argc, argv, lens);
    }
    return rv;
}
