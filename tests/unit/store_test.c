// store_test.c - the object store against real redis-servers.
// SPDX-License-Identifier: MIT
//
// Each server is a private redis-server on a free loopback port, with a
// random password, in its own temporary directory. They are stopped by PID
// when the tests end, also when an assertion fails (atexit) or the test
// runs out of time (SIGALRM).
#define _GNU_SOURCE
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/proc.h"
#include "serialize/value.h"
#include "store/manifest.h"
#include "store/store.h"
#include "testutil.h"

typedef struct {
    char dir[64];      // its temporary directory; "" once removed
    int port;          // on 127.0.0.1
    char password[33]; // 16 random bytes in hex
    char addr[32];     // "127.0.0.1:<port>", for the store
    pid_t pid;         // 0 when not running
} s_redis;

static s_redis s_a, s_b; // two shards

// ---------------------------------------------------------------------
// Servers.

static void
s_redis_run(s_redis *r)
{
    sl__redis_opts opts = {r->dir, r->port, r->password, false, NULL};
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__redis_start(&opts, &r->pid, errbuf);
    if (rv != SL_OK) {
        r->pid = 0;
        SL_FAIL_AT("redis-server: %s: %s", sl_strerror(rv), errbuf);
    }
}

static void
s_redis_start(s_redis *r)
{
    sl__strlcpy(r->dir, "/tmp/sl_store_test.XXXXXX", sizeof(r->dir));
    SL_ASSERT(mkdtemp(r->dir) != NULL);
    r->port = sl__free_port();
    SL_ASSERT(r->port > 0);
    sl__random_hex(r->password, 16);
    sl__fmt(r->addr, sizeof(r->addr), "127.0.0.1:%d", r->port);
    s_redis_run(r);
}

static void
s_redis_halt(s_redis *r)
{
    if (r->pid > 0) {
        SL_PASS(sl__proc_stop(r->pid, 5000));
        r->pid = 0;
    }
}

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void
s_redis_stop(s_redis *r)
{
    s_redis_halt(r);
    if (r->dir[0] != '\0') {
        nftw(r->dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
        r->dir[0] = '\0';
    }
}

static void
s_cleanup(void)
{
    // Not s_redis_stop: an assertion here would exit inside exit.
    s_redis *all[] = {&s_a, &s_b};
    for (size_t i = 0; i < 2; i++) {
        if (all[i]->pid > 0) {
            sl__proc_stop(all[i]->pid, 5000);
            all[i]->pid = 0;
        }
        if (all[i]->dir[0] != '\0') {
            nftw(all[i]->dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
}

static void
s_on_signal(int sig)
{
    // Only async-signal-safe calls here: kill the servers, leave the
    // directories.
    if (s_a.pid > 0) {
        kill(s_a.pid, SIGKILL);
    }
    if (s_b.pid > 0) {
        kill(s_b.pid, SIGKILL);
    }
    _exit(128 + sig);
}

// A raw, authenticated connection to look behind the store's back.
static redisContext *
s_raw(const s_redis *r)
{
    redisContext *ctx = redisConnect("127.0.0.1", r->port);
    SL_ASSERT(ctx != NULL && ctx->err == 0);
    redisReply *rep = redisCommand(ctx, "AUTH %s", r->password);
    SL_ASSERT(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    return ctx;
}

static long long
s_raw_int(redisContext *ctx, const char *cmd, const char *key)
{
    redisReply *rep = redisCommand(ctx, "%s %s", cmd, key);
    SL_ASSERT(rep != NULL && rep->type == REDIS_REPLY_INTEGER);
    long long v = rep->integer;
    freeReplyObject(rep);
    return v;
}

static sl__store *
s_store(const s_redis *r, size_t chunk_bytes, int ttl_s)
{
    sl__store_opts opts = {.addrs = {r->addr},
                           .n_addrs = 1,
                           .password = r->password,
                           .chunk_bytes = chunk_bytes,
                           .ttl_s = ttl_s,
                           .timeout_ms = 5000};
    sl__store *store = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__store_connect(&store, &opts, errbuf);
    if (rv != SL_OK) {
        SL_FAIL_AT("connect: %s: %s", sl_strerror(rv), errbuf);
    }
    SL_ASSERT_EQ(sl__store_shards(store), 1);
    return store;
}

static uint8_t *
s_pattern(size_t len, unsigned seed)
{
    uint8_t *buf = malloc(len);
    SL_ASSERT(buf != NULL);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1664525u + 1013904223u;
        buf[i] = (uint8_t) (x >> 24);
    }
    return buf;
}

// The ndarray's payload points into the buffer the store fetched.
static void
s_assert_zero_copy(const sl_value *v)
{
    const uint8_t *data = sl_ndarray_cdata(v);
    SL_ASSERT(v->owner != NULL);
    const uint8_t *base = v->owner->data;
    SL_ASSERT(data >= base &&
              data + sl_ndarray_nbytes(v) <= base + v->owner->len);
    SL_ASSERT_EQ((uintptr_t) data % sl_dtype_size(sl_ndarray_dtype(v)), 0);
}

// ---------------------------------------------------------------------
// Tests.

static void
test_keys(void)
{
    char key[SL_STORE_KEY_LEN];
    sl__store_result_key(key, 0xabcull, 7);
    SL_ASSERT_STR(key, "sl:j0000000000000abc:r7");
    sl__store_result_key(key, UINT64_MAX, UINT32_MAX);
    SL_ASSERT_STR(key, "sl:jffffffffffffffff:r4294967295");
    sl__store_object_key(key, 0x1234, 42);
    SL_ASSERT_STR(key, "sl:s0000000000001234:42");
    sl__store_job_prefix(key, 0xabc);
    SL_ASSERT_STR(key, "sl:j0000000000000abc:");
    sl__store_session_prefix(key, 0x1234);
    SL_ASSERT_STR(key, "sl:s0000000000001234:");
}

static void
test_bytes_round_trip(void)
{
    sl__store *store = s_store(&s_a, 0, 0);
    static const char data[] = "hello\0world\xc1"; // NUL and 0xc1 inside
    bool stored = false;
    SL_PASS(
        sl__store_put(store, "sl:t:bytes", data, sizeof(data), false, &stored));
    SL_ASSERT(stored);

    void *buf = NULL;
    size_t len = 0;
    SL_PASS(sl__store_get(store, "sl:t:bytes", 0, &buf, &len));
    SL_ASSERT_EQ(len, sizeof(data));
    SL_ASSERT(memcmp(buf, data, len) == 0);
    SL_ASSERT_EQ((uintptr_t) buf % 64, 0);
    free(buf);

    // An empty object is an object.
    SL_PASS(sl__store_put(store, "sl:t:empty", NULL, 0, false, NULL));
    SL_PASS(sl__store_get(store, "sl:t:empty", 0, &buf, &len));
    SL_ASSERT_EQ(len, 0);
    free(buf);

    // Bytes that happen to look like a manifest come back as themselves.
    uint8_t fake[25] = {0xc1, 'S', 'L', 'C', 'K', 1, 0, 0, 0, 9};
    fake[17] = 9;
    SL_PASS(sl__store_put(store, "sl:t:fake", fake, sizeof(fake), false, NULL));
    SL_PASS(sl__store_get(store, "sl:t:fake", 0, &buf, &len));
    SL_ASSERT_EQ(len, sizeof(fake));
    SL_ASSERT(memcmp(buf, fake, len) == 0);
    free(buf);
    sl__store_destroy(&store);
    SL_ASSERT(store == NULL);
}

static void
s_check_value(sl__store *store, const char *key, sl_dtype dtype, int ndim,
              const int64_t *shape)
{
    sl_value *v = sl_value_new_ndarray(dtype, ndim, shape, NULL);
    SL_ASSERT(v != NULL);
    uint8_t *pat = s_pattern(sl_ndarray_nbytes(v), 7);
    memcpy(sl_ndarray_data(v), pat, sl_ndarray_nbytes(v));
    free(pat);

    sl_value *ref = NULL;
    SL_PASS(sl__store_put_value(store, key, v, false, &ref));
    SL_ASSERT_EQ(sl_value_type(ref), SL_REF);
    SL_ASSERT_STR(sl_ref_key(ref), key);
    SL_ASSERT_EQ(sl_ref_shard(ref), sl__store_shard_of(store, key));
    void *enc;
    size_t enc_len;
    SL_PASS(sl__value_encode(v, &enc, &enc_len));
    SL_ASSERT_EQ(sl_ref_size(ref), enc_len);
    free(enc);

    sl_value *got = NULL;
    SL_PASS(sl__store_get_value(store, ref, NULL, &got));
    SL_ASSERT_EQ(sl_value_type(got), SL_NDARRAY);
    SL_ASSERT_EQ(sl_ndarray_dtype(got), dtype);
    SL_ASSERT_EQ(sl_ndarray_ndim(got), ndim);
    SL_ASSERT_EQ(sl_ndarray_nbytes(got), sl_ndarray_nbytes(v));
    SL_ASSERT(memcmp(sl_ndarray_cdata(got), sl_ndarray_cdata(v),
                     sl_ndarray_nbytes(v)) == 0);
    s_assert_zero_copy(got);
    sl_value_destroy(&got);
    sl_value_destroy(&ref);
    sl_value_destroy(&v);
}

static void
test_values(void)
{
    sl__store *store = s_store(&s_a, 0, 0);
    // Payload sizes that take each msgpack ext header: 8, 16, 32 bits.
    int64_t small[] = {3};
    int64_t medium[] = {20, 30};
    int64_t large[] = {300, 40};
    s_check_value(store, "sl:t:v8", SL_F32, 1, small);
    s_check_value(store, "sl:t:v16", SL_F64, 2, medium);
    s_check_value(store, "sl:t:v32", SL_F64, 2, large);
    s_check_value(store, "sl:t:vi64", SL_I64, 2, large);

    // A tree of values comes back equal.
    sl_value *list = sl_value_new_list();
    sl_value *item = sl_value_new_str("starling");
    SL_PASS(sl_value_list_append(list, &item));
    item = sl_value_new_int(-42);
    SL_PASS(sl_value_list_append(list, &item));
    sl_value *ref = NULL, *got = NULL;
    SL_PASS(sl__store_put_value(store, "sl:t:list", list, false, &ref));
    SL_PASS(sl__store_get_value(store, ref, NULL, &got));
    SL_ASSERT_EQ(sl_value_list_size(got), 2);
    SL_ASSERT_STR(sl_value_str(sl_value_list_at(got, 0), NULL), "starling");
    SL_ASSERT_EQ(sl_value_int(sl_value_list_at(got, 1)), -42);
    sl_value_destroy(&got);
    sl_value_destroy(&ref);
    sl_value_destroy(&list);

    // Bytes that are not a value: a decode error, not a crash.
    SL_PASS(sl__store_put(store, "sl:t:junk", "\xc1\xc1", 2, false, NULL));
    ref = sl__value_new_ref("sl:t:junk", 2, 0);
    SL_FAILS(sl__store_get_value(store, ref, NULL, &got), SL_EPROTO);
    SL_ASSERT_HAS(sl__store_errstr(store), "sl:t:junk");
    sl_value_destroy(&ref);

    // A limit smaller than the object refuses it.
    int64_t shape[] = {1000};
    sl_value *v = sl_value_new_ndarray(SL_F64, 1, shape, NULL);
    SL_PASS(sl__store_put_value(store, "sl:t:big", v, false, &ref));
    sl__limits lim = sl__limits_default;
    lim.max_message = 1000;
    SL_FAILS(sl__store_get_value(store, ref, &lim, &got), SL_ELIMIT);
    sl_value_destroy(&ref);
    sl_value_destroy(&v);
    sl__store_destroy(&store);
}

static void
test_chunks(void)
{
    sl__store *store = s_store(&s_a, 1000, 0);
    const size_t len = 1000003; // 1001 chunks, the last of 3 bytes
    uint8_t *data = s_pattern(len, 1);
    SL_PASS(sl__store_put(store, "sl:t:chunked", data, len, false, NULL));

    redisContext *raw = s_raw(&s_a);
    redisReply *rep = redisCommand(raw, "GET sl:t:chunked");
    SL_ASSERT(rep != NULL && rep->type == REDIS_REPLY_STRING);
    SL_ASSERT_EQ(rep->len, 25);
    SL_ASSERT(memcmp(rep->str, "\xc1SLCK", 5) == 0);
    freeReplyObject(rep);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", "sl:t:chunked#0"), 1);
    SL_ASSERT_EQ(s_raw_int(raw, "STRLEN", "sl:t:chunked#999"), 1000);
    SL_ASSERT_EQ(s_raw_int(raw, "STRLEN", "sl:t:chunked#1000"), 3);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", "sl:t:chunked#1001"), 0);
    SL_ASSERT(s_raw_int(raw, "TTL", "sl:t:chunked#500") > 0);

    void *buf = NULL;
    size_t got_len = 0;
    SL_PASS(sl__store_get(store, "sl:t:chunked", 0, &buf, &got_len));
    SL_ASSERT_EQ(got_len, len);
    SL_ASSERT(memcmp(buf, data, len) == 0);
    SL_ASSERT_EQ((uintptr_t) buf % 64, 0);
    free(buf);

    // A lost chunk is reported, not papered over.
    SL_ASSERT_EQ(s_raw_int(raw, "DEL", "sl:t:chunked#7"), 1);
    SL_FAILS(sl__store_get(store, "sl:t:chunked", 0, &buf, &got_len),
             SL_ENOTFOUND);
    SL_ASSERT_HAS(sl__store_errstr(store), "chunk 7");

    // A chunked ndarray is still used in place.
    int64_t shape[] = {250, 250};
    s_check_value(store, "sl:t:chunked_value", SL_F64, 2, shape);
    redisFree(raw);
    free(data);
    sl__store_destroy(&store);
}

// Large replies are read straight into place (conn.c, "Replies in
// place"): whole objects and chunks of 64 KiB and more, next to small
// chunks that hiredis still copies, with the checks of the copying path.
static void
test_large_in_place(void)
{
    const size_t chunk = 100 << 10;
    sl__store *store = s_store(&s_a, chunk, 0);
    void *buf = NULL;
    size_t got_len = 0;
    // Whole, and in 4 chunks: three large and a small last one.
    size_t sizes[] = {90 << 10, 3 * chunk + 12345};
    for (int i = 0; i < 2; i++) {
        uint8_t *data = s_pattern(sizes[i], 3 + i);
        SL_PASS(
            sl__store_put(store, "sl:t:large", data, sizes[i], false, NULL));
        SL_PASS(sl__store_get(store, "sl:t:large", 0, &buf, &got_len));
        SL_ASSERT_EQ(got_len, sizes[i]);
        SL_ASSERT(memcmp(buf, data, sizes[i]) == 0);
        SL_ASSERT_EQ((uintptr_t) buf % 64, 0);
        free(buf);
        free(data);
    }
    // ndarrays used in place, whole (80 KB) and chunked (500 KB).
    int64_t whole[] = {100, 100}, chunked[] = {250, 250};
    s_check_value(store, "sl:t:large_whole", SL_F64, 2, whole);
    s_check_value(store, "sl:t:large_chunked", SL_F64, 2, chunked);

    // A limit below a large whole object still refuses it.
    sl_value *v = sl_value_new_ndarray(SL_F64, 2, whole, NULL), *ref = NULL;
    sl_value *got = NULL;
    SL_PASS(sl__store_put_value(store, "sl:t:large_limit", v, false, &ref));
    sl__limits lim = sl__limits_default;
    lim.max_message = 70 << 10;
    SL_FAILS(sl__store_get_value(store, ref, &lim, &got), SL_ELIMIT);
    sl_value_destroy(&ref);
    sl_value_destroy(&v);

    // A large chunk of the wrong size is reported, and the connection stays
    // in step for the next request.
    uint8_t *data = s_pattern(3 * chunk, 5);
    SL_PASS(
        sl__store_put(store, "sl:t:large_bad", data, 3 * chunk, false, NULL));
    redisContext *raw = s_raw(&s_a);
    redisReply *rep =
        redisCommand(raw, "SET sl:t:large_bad#1 %b", data, (size_t) 70000);
    SL_ASSERT(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    SL_FAILS(sl__store_get(store, "sl:t:large_bad", 0, &buf, &got_len),
             SL_ESTORE);
    SL_ASSERT_HAS(sl__store_errstr(store), "chunk 1 has 70000 bytes");
    SL_PASS(sl__store_get(store, "sl:t:large", 0, &buf, &got_len));
    SL_ASSERT_EQ(got_len, sizes[1]);
    free(buf);
    redisFree(raw);
    free(data);
    sl__store_destroy(&store);

    // Default chunks (SL_STORE_CHUNK_DEFAULT), each larger than a socket
    // buffer: every SET leaves in many partial writes (s_send_all).
    store = s_store(&s_a, 0, 0);
    size_t big = 2 * SL_STORE_CHUNK_DEFAULT + 777;
    data = s_pattern(big, 9);
    SL_PASS(sl__store_put(store, "sl:t:large_default", data, big, false, NULL));
    SL_PASS(sl__store_get(store, "sl:t:large_default", 0, &buf, &got_len));
    SL_ASSERT_EQ(got_len, big);
    SL_ASSERT(memcmp(buf, data, big) == 0);
    free(buf);
    // Chunks this large are read from the socket straight into place
    // (conn.c, s_read_direct): a missing chunk, an error reply and a chunk of
    // the wrong size are each reported, and the connection stays in step.
    raw = s_raw(&s_a);
    SL_ASSERT_EQ(s_raw_int(raw, "DEL", "sl:t:large_default#1"), 1);
    SL_FAILS(sl__store_get(store, "sl:t:large_default", 0, &buf, &got_len),
             SL_ENOTFOUND);
    SL_ASSERT_HAS(sl__store_errstr(store), "chunk 1 of 3 is missing");
    rep = redisCommand(raw, "RPUSH sl:t:large_default#1 x");
    freeReplyObject(rep);
    SL_FAILS(sl__store_get(store, "sl:t:large_default", 0, &buf, &got_len),
             SL_ESTORE);
    SL_ASSERT_HAS(sl__store_errstr(store), "WRONGTYPE");
    SL_ASSERT_EQ(s_raw_int(raw, "DEL", "sl:t:large_default#1"), 1);
    rep = redisCommand(raw, "SET sl:t:large_default#1 %b", data,
                       (size_t) SL_STORE_CHUNK_DEFAULT - 1);
    freeReplyObject(rep);
    SL_FAILS(sl__store_get(store, "sl:t:large_default", 0, &buf, &got_len),
             SL_ESTORE);
    SL_ASSERT_HAS(sl__store_errstr(store), "chunk 1 has 4194303 bytes");
    SL_PASS(sl__store_put(store, "sl:t:large_default", data, big, false, NULL));
    SL_PASS(sl__store_get(store, "sl:t:large_default", 0, &buf, &got_len));
    SL_ASSERT(memcmp(buf, data, big) == 0);
    free(buf);
    redisFree(raw);
    free(data);
    sl__store_destroy(&store);
}

static void
test_nx(void)
{
    sl__store *store = s_store(&s_a, 1000, 0);
    bool stored = false;
    SL_PASS(sl__store_put(store, "sl:t:nx", "first", 5, true, &stored));
    SL_ASSERT(stored);
    SL_PASS(sl__store_put(store, "sl:t:nx", "second", 6, true, &stored));
    SL_ASSERT(!stored);
    void *buf;
    size_t len;
    SL_PASS(sl__store_get(store, "sl:t:nx", 0, &buf, &len));
    SL_ASSERT_EQ(len, 5);
    SL_ASSERT(memcmp(buf, "first", 5) == 0);
    free(buf);

    // The same for chunked objects: the manifest decides.
    uint8_t *one = s_pattern(5500, 1), *two = s_pattern(7700, 2);
    SL_PASS(sl__store_put(store, "sl:t:nxc", one, 5500, true, &stored));
    SL_ASSERT(stored);
    SL_PASS(sl__store_put(store, "sl:t:nxc", two, 7700, true, &stored));
    SL_ASSERT(!stored);
    SL_PASS(sl__store_get(store, "sl:t:nxc", 0, &buf, &len));
    SL_ASSERT_EQ(len, 5500);
    SL_ASSERT(memcmp(buf, one, len) == 0);
    free(buf);

    // Without NX the later writer wins.
    SL_PASS(sl__store_put(store, "sl:t:nxc", two, 7700, false, &stored));
    SL_ASSERT(stored);
    SL_PASS(sl__store_get(store, "sl:t:nxc", 0, &buf, &len));
    SL_ASSERT_EQ(len, 7700);
    SL_ASSERT(memcmp(buf, two, len) == 0);
    free(buf);
    free(one);
    free(two);
    sl__store_destroy(&store);
}

static void
test_ttl(void)
{
    sl__store *store = s_store(&s_a, 0, 100);
    SL_PASS(sl__store_put(store, "sl:t:ttl", "x", 1, false, NULL));
    sl__store_destroy(&store);
    store = s_store(&s_a, 0, 0); // the default: a day
    SL_PASS(sl__store_put(store, "sl:t:ttl_default", "x", 1, false, NULL));
    sl__store_destroy(&store);

    redisContext *raw = s_raw(&s_a);
    long long ttl = s_raw_int(raw, "TTL", "sl:t:ttl");
    SL_ASSERT(ttl > 0 && ttl <= 100);
    ttl = s_raw_int(raw, "TTL", "sl:t:ttl_default");
    SL_ASSERT(ttl > 100 && ttl <= SL_STORE_TTL_DEFAULT);
    redisFree(raw);
}

// A module's TTL is its own, and a touch resets it on the key and on every
// chunk without moving the bytes.
static void
test_module_ttl_and_touch(void)
{
    char key[SL_STORE_KEY_LEN];
    sl__store_module_key(key, "0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef");
    SL_ASSERT_STR(key, "sl:m0123456789abcdef0123456789abcdef"
                       "0123456789abcdef0123456789abcdef");
    sl__store *store = s_store(&s_a, 1000, 100);
    uint8_t *data = s_pattern(3500, 3);
    bool stored = false;
    SL_PASS(sl__store_put_ttl(store, key, data, 3500, true, 5000, &stored));
    SL_ASSERT(stored);
    SL_PASS(sl__store_put_ttl(store, key, data, 3500, true, 5000, &stored));
    SL_ASSERT(!stored);
    redisContext *raw = s_raw(&s_a);
    char chunk[SL_STORE_KEY_LEN + 8];
    sl__fmt(chunk, sizeof(chunk), "%s#3", key);
    long long ttl = s_raw_int(raw, "TTL", chunk);
    SL_ASSERT(ttl > 100 && ttl <= 5000);

    // Shorten the TTLs behind the store's back, then touch: all reset.
    redisReply *r = redisCommand(raw, "EXPIRE %s 7", key);
    freeReplyObject(r);
    r = redisCommand(raw, "EXPIRE %s 7", chunk);
    freeReplyObject(r);
    SL_PASS(sl__store_touch(store, key, 4000));
    ttl = s_raw_int(raw, "TTL", key);
    SL_ASSERT(ttl > 3000 && ttl <= 4000);
    ttl = s_raw_int(raw, "TTL", chunk);
    SL_ASSERT(ttl > 3000 && ttl <= 4000);

    // A small object: the key alone; 0 means the store's TTL.
    SL_PASS(sl__store_put(store, "sl:t:small_touch", "x", 1, false, NULL));
    SL_PASS(sl__store_touch(store, "sl:t:small_touch", 0));
    ttl = s_raw_int(raw, "TTL", "sl:t:small_touch");
    SL_ASSERT(ttl > 0 && ttl <= 100);
    SL_FAILS(sl__store_touch(store, "sl:t:never_touched", 0), SL_ENOTFOUND);
    void *buf;
    size_t len;
    SL_PASS(sl__store_get(store, key, -1, &buf, &len));
    SL_ASSERT_EQ(len, 3500);
    SL_ASSERT(memcmp(buf, data, len) == 0);
    free(buf);
    free(data);
    redisFree(raw);
    sl__store_destroy(&store);
}

static void
test_missing(void)
{
    sl__store *store = s_store(&s_a, 0, 0);
    void *buf = NULL;
    size_t len = 0;
    SL_FAILS(sl__store_get(store, "sl:t:never", 0, &buf, &len), SL_ENOTFOUND);
    SL_ASSERT(buf == NULL);
    SL_ASSERT_HAS(sl__store_errstr(store), "sl:t:never");

    sl_value *ref = sl__value_new_ref("sl:t:never", 10, 0), *got = NULL;
    SL_FAILS(sl__store_get_value(store, ref, NULL, &got), SL_ENOTFOUND);
    SL_ASSERT(got == NULL);
    sl_value_destroy(&ref);

    // A ref to a shard the store does not have is the caller's mistake.
    ref = sl__value_new_ref("sl:t:never", 10, 5);
    SL_FAILS(sl__store_get_value(store, ref, NULL, &got), SL_EINVAL);
    sl_value_destroy(&ref);
    sl__store_destroy(&store);
}

// SET key to the manifest of m, behind the store's back.
static void
s_raw_manifest(redisContext *raw, const char *key, const sl__manifest *m)
{
    uint8_t man[SL_MANIFEST_LEN];
    sl__manifest_encode(m, man);
    redisReply *rep = redisCommand(raw, "SET %s %b", key, man, sizeof(man));
    SL_ASSERT(rep != NULL && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
}

// Manifests the store did not write. One that claims more bytes than a
// buffer can have, or than the caller's limit, is refused before anything
// is allocated or any chunk asked for; one whose numbers disagree is no
// manifest, and comes back as the bytes it is.
static void
test_forged_manifests(void)
{
    sl__store *store = s_store(&s_a, 1000, 0);
    redisContext *raw = s_raw(&s_a);
    void *buf = NULL;
    size_t len = 0;
    s_raw_manifest(raw, "sl:t:forged_huge",
                   &(sl__manifest){1, UINT64_MAX, UINT64_MAX});
    SL_FAILS(sl__store_get(store, "sl:t:forged_huge", 0, &buf, &len),
             SL_ELIMIT);
    SL_ASSERT_HAS(sl__store_errstr(store), "too large");

    // A GiB in chunks that are not there: the limit answers first.
    s_raw_manifest(raw, "sl:t:forged_big",
                   &(sl__manifest){1024, 1u << 30, 1u << 20});
    sl_value *ref = sl__value_new_ref("sl:t:forged_big", 1u << 30, 0);
    sl_value *got = NULL;
    sl__limits lim = sl__limits_default;
    lim.max_message = 1u << 20;
    SL_FAILS(sl__store_get_value(store, ref, &lim, &got), SL_ELIMIT);
    SL_ASSERT_HAS(sl__store_errstr(store), "more than the limit");
    SL_ASSERT(got == NULL);
    sl_value_destroy(&ref);

    sl__manifest bad = {2, 1000, 1000}; // one chunk would hold it
    s_raw_manifest(raw, "sl:t:forged_bad", &bad);
    SL_PASS(sl__store_get(store, "sl:t:forged_bad", 0, &buf, &len));
    SL_ASSERT_EQ(len, SL_MANIFEST_LEN);
    SL_ASSERT(memcmp(buf, "\xc1SLCK\x02", 6) == 0);
    free(buf);
    redisFree(raw);
    sl__store_destroy(&store);
}

// One object's delete takes its chunks with it (here 600 of them: three
// batches of UNLINK), and a key with nothing under it is no error.
static void
test_delete_one(void)
{
    sl__store *store = s_store(&s_a, 1000, 0);
    uint8_t *big = s_pattern(600 * 1000, 5);
    void *buf = NULL;
    size_t len = 0;
    SL_PASS(sl__store_put(store, "sl:t:del", big, 600 * 1000, false, NULL));
    SL_PASS(sl__store_put(store, "sl:t:del2", "keep", 4, false, NULL));
    SL_PASS(sl__store_get(store, "sl:t:del#599", -1, &buf, &len));
    free(buf);
    SL_PASS(sl__store_delete(store, "sl:t:del"));
    const char *gone[] = {"sl:t:del", "sl:t:del#0", "sl:t:del#255",
                          "sl:t:del#256", "sl:t:del#599"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        SL_FAILS(sl__store_get(store, gone[i], -1, &buf, &len), SL_ENOTFOUND);
    }
    SL_PASS(sl__store_get(store, "sl:t:del2", -1, &buf, &len));
    free(buf);
    SL_PASS(sl__store_delete(store, "sl:t:del2"));
    SL_FAILS(sl__store_get(store, "sl:t:del2", -1, &buf, &len), SL_ENOTFOUND);
    SL_PASS(sl__store_delete(store, "sl:t:never"));
    SL_FAILS(sl__store_delete(store, ""), SL_EINVAL);
    free(big);
    sl__store_destroy(&store);
}

static void
test_delete_prefix(void)
{
    sl__store *store = s_store(&s_a, 1000, 0);
    char prefix[SL_STORE_KEY_LEN], key[SL_STORE_KEY_LEN];
    sl__store_job_prefix(prefix, 0x5);
    for (uint32_t i = 0; i < 2500; i++) { // several SCAN pages
        sl__store_result_key(key, 0x5, i);
        SL_PASS(sl__store_put(store, key, "r", 1, false, NULL));
    }
    uint8_t *big = s_pattern(5000, 3);
    SL_PASS(sl__store_put(store, "sl:j0000000000000005:a0.x", big, 5000, false,
                          NULL));
    free(big);
    sl__store_result_key(key, 0x55, 1);
    SL_PASS(sl__store_put(store, key, "keep", 4, false, NULL));
    // Glob characters in a prefix are literal: the unescaped pattern
    // "sl:x[a]*?:*" would match "sl:xab:c:1" too.
    SL_PASS(sl__store_put(store, "sl:x[a]*?:1", "g", 1, false, NULL));
    SL_PASS(sl__store_put(store, "sl:xab:c:1", "keep", 4, false, NULL));

    SL_PASS(sl__store_delete_prefix(store, prefix));
    SL_PASS(sl__store_delete_prefix(store, "sl:x[a]*?:"));
    SL_FAILS(sl__store_delete_prefix(store, ""), SL_EINVAL);

    redisContext *raw = s_raw(&s_a);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", "sl:j0000000000000005:r0"), 0);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", "sl:j0000000000000005:r2499"), 0);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", "sl:j0000000000000005:a0.x"), 0);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", "sl:j0000000000000005:a0.x#4"), 0);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", key), 1);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", "sl:x[a]*?:1"), 0);
    SL_ASSERT_EQ(s_raw_int(raw, "EXISTS", "sl:xab:c:1"), 1);
    redisFree(raw);
    sl__store_destroy(&store);
}

static void
test_connect_errors(void)
{
    sl__store_opts opts = {.addrs = {s_a.addr},
                           .n_addrs = 1,
                           .password = "not-the-password",
                           .timeout_ms = 2000};
    sl__store *store = (sl__store *) &opts; // must be set to NULL
    char errbuf[SL_ERRSTR_LEN];
    int64_t t0 = sl__mono_ms();
    SL_FAILS(sl__store_connect(&store, &opts, errbuf), SL_EAUTH);
    SL_ASSERT(store == NULL);
    SL_ASSERT(sl__mono_ms() - t0 < 1000); // an answer, not a timeout
    SL_ASSERT_HAS(errbuf, "authentication failed");
    SL_ASSERT_HAS(errbuf, "WRONGPASS");
    SL_ASSERT_HAS(errbuf, s_a.addr);

    opts.password = NULL;
    SL_FAILS(sl__store_connect(&store, &opts, errbuf), SL_EAUTH);
    SL_ASSERT_HAS(errbuf, "NOAUTH");
    SL_ASSERT_HAS(errbuf, "no password was given");

    char closed[32];
    sl__fmt(closed, sizeof(closed), "127.0.0.1:%d", sl__free_port());
    opts.addrs[0] = closed;
    opts.password = s_a.password;
    SL_FAILS(sl__store_connect(&store, &opts, errbuf), SL_ESTORE);
    SL_ASSERT_HAS(errbuf, "cannot connect");
    SL_ASSERT_HAS(errbuf, closed);

    opts.addrs[0] = "no-port";
    SL_FAILS(sl__store_connect(&store, &opts, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, "no-port");
    opts.n_addrs = 0;
    SL_FAILS(sl__store_connect(&store, &opts, errbuf), SL_EINVAL);
}

static void
test_two_shards(void)
{
    s_redis_start(&s_b);
    // Both servers get the same password: a store has one.
    s_redis_halt(&s_b);
    sl__strlcpy(s_b.password, s_a.password, sizeof(s_b.password));
    s_redis_run(&s_b);

    sl__store_opts opts = {.addrs = {s_a.addr, s_b.addr},
                           .n_addrs = 2,
                           .password = s_a.password,
                           .chunk_bytes = 1000};
    sl__store *store;
    char errbuf[SL_ERRSTR_LEN];
    SL_PASS(sl__store_connect(&store, &opts, errbuf));
    SL_ASSERT_EQ(sl__store_shards(store), 2);

    redisContext *raw[2] = {s_raw(&s_a), s_raw(&s_b)};
    int per_shard[2] = {0, 0};
    char key[SL_STORE_KEY_LEN];
    for (uint64_t i = 0; i < 64; i++) {
        sl__store_object_key(key, 0x77, i);
        size_t len = 100 + 50 * (size_t) i; // some are chunked
        uint8_t *data = s_pattern(len, (unsigned) i);
        SL_PASS(sl__store_put(store, key, data, len, false, NULL));
        int shard = sl__store_shard_of(store, key);
        SL_ASSERT(shard == 0 || shard == 1);
        per_shard[shard]++;
        SL_ASSERT_EQ(s_raw_int(raw[shard], "EXISTS", key), 1);
        SL_ASSERT_EQ(s_raw_int(raw[1 - shard], "EXISTS", key), 0);
        void *buf;
        size_t got;
        SL_PASS(sl__store_get(store, key, shard, &buf, &got));
        SL_ASSERT_EQ(got, len);
        SL_ASSERT(memcmp(buf, data, len) == 0);
        free(buf);
        free(data);
    }
    SL_ASSERT(per_shard[0] > 8 && per_shard[1] > 8);

    char prefix[SL_STORE_KEY_LEN];
    sl__store_session_prefix(prefix, 0x77);
    SL_PASS(sl__store_delete_prefix(store, prefix));
    for (int s = 0; s < 2; s++) {
        redisReply *rep = redisCommand(raw[s], "KEYS sl:s*");
        SL_ASSERT(rep != NULL && rep->type == REDIS_REPLY_ARRAY);
        SL_ASSERT_EQ(rep->elements, 0);
        freeReplyObject(rep);
        redisFree(raw[s]);
    }
    sl__store_destroy(&store);
    s_redis_stop(&s_b);
}

static void
test_reconnect(void)
{
    sl__store *store = s_store(&s_a, 0, 0);
    SL_PASS(sl__store_put(store, "sl:t:before", "1", 1, false, NULL));

    // While the server is down, commands fail and say why...
    s_redis_halt(&s_a);
    SL_FAILS(sl__store_put(store, "sl:t:during", "2", 1, false, NULL),
             SL_ESTORE);
    SL_ASSERT_HAS(sl__store_errstr(store), s_a.addr);
    SL_FAILS(sl__store_put(store, "sl:t:during", "2", 1, false, NULL),
             SL_ESTORE);
    SL_ASSERT_HAS(sl__store_errstr(store), "cannot connect");

    // ...and once it is back, the next command connects anew.
    s_redis_run(&s_a);
    SL_PASS(sl__store_put(store, "sl:t:after", "3", 1, false, NULL));
    void *buf;
    size_t len;
    SL_PASS(sl__store_get(store, "sl:t:after", 0, &buf, &len));
    SL_ASSERT_EQ(len, 1);
    free(buf);

    // A restart between two commands is not even seen: the broken
    // connection is found on the next command, which is done again.
    s_redis_halt(&s_a);
    s_redis_run(&s_a);
    SL_PASS(sl__store_put(store, "sl:t:again", "4", 1, false, NULL));
    SL_PASS(sl__store_get(store, "sl:t:again", 0, &buf, &len));
    free(buf);
    s_redis_halt(&s_a);
    s_redis_run(&s_a);
    SL_FAILS(sl__store_get(store, "sl:t:again", 0, &buf, &len),
             SL_ENOTFOUND); // a new, empty server
    sl__store_destroy(&store);

    // The same with the first command after the restart a pipeline longer
    // than a socket buffer (2,000 small chunks): hiredis writes it in
    // several sends, and a send to the closed connection must be an error
    // and a retry, not a SIGPIPE that ends the program.
    store = s_store(&s_a, 1000, 0);
    uint8_t *data = s_pattern(2000 * 1000, 7);
    SL_PASS(sl__store_put(store, "sl:t:pipe", "x", 1, false, NULL));
    s_redis_halt(&s_a);
    s_redis_run(&s_a);
    SL_PASS(sl__store_put(store, "sl:t:pipe", data, 2000 * 1000, false, NULL));
    SL_PASS(sl__store_get(store, "sl:t:pipe", 0, &buf, &len));
    SL_ASSERT_EQ(len, 2000 * 1000);
    SL_ASSERT(memcmp(buf, data, len) == 0);
    free(buf);
    free(data);
    sl__store_destroy(&store);
}

int
main(void)
{
    signal(SIGALRM, s_on_signal);
    signal(SIGTERM, s_on_signal);
    signal(SIGINT, s_on_signal);
    // A store that dies of SIGPIPE or abort must not leave redis behind.
    signal(SIGPIPE, s_on_signal);
    signal(SIGABRT, s_on_signal);
    alarm(110); // before ctest's 120 s, so that the servers are stopped
    atexit(s_cleanup);

    SL_RUN(test_keys);
    s_redis_start(&s_a);
    SL_ASSERT(sl__proc_is(s_a.pid, "redis-server"));
    SL_RUN(test_bytes_round_trip);
    SL_RUN(test_values);
    SL_RUN(test_chunks);
    SL_RUN(test_large_in_place);
    SL_RUN(test_nx);
    SL_RUN(test_ttl);
    SL_RUN(test_module_ttl_and_touch);
    SL_RUN(test_missing);
    SL_RUN(test_forged_manifests);
    SL_RUN(test_delete_prefix);
    SL_RUN(test_delete_one);
    SL_RUN(test_connect_errors);
    SL_RUN(test_two_shards);
    SL_RUN(test_reconnect);
    s_redis_stop(&s_a);
    return 0;
}
