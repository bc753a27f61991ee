// data.c - put and get throughput of 1 MiB and 64 MiB objects through the
// object store (sl_put / sl_get), beside raw SET and GET of the same bytes
// on the same redis-server; and of a 64 MiB object in the node's object
// tier, beside a memcpy of the same bytes.
// SPDX-License-Identifier: MIT
//
// The object is an f64 ndarray of the given bytes, as matrices travel.
//
// The store (the remote path: put_1MiB, get_1MiB, put_64MiB, get_64MiB).
// sl_put encodes it (header + payload) and stores it with a TTL, split into
// 64 MiB chunks with a manifest when larger; sl_get fetches and decodes it
// (the payload is used in place). The baseline is one hiredis SET or GET of
// the payload bytes, as redis-benchmark does. Each figure is the size over
// the median time of one operation, every operation on a new key; the
// store is flushed between sizes. The cluster has a worker, so this node
// has an object tier; the client of these figures names itself
// "remote-client" (STARLING_NODE), a node without one, and so uses the
// store alone, as a client on another machine does. Each of its objects
// is checked not to be in the tier.
//
// The tier (the local path: put_64MiB_local, get_64MiB_local). A client on
// the workers' node puts the same 64 MiB into the tier (a copy into shared
// memory, hashed as it goes) and gets it back mapped in place (the header
// and the hash checked, nothing copied). Each object is checked to be in
// the tier under its ref's key, and each value got to point into a mapping
// of that file: otherwise the run fails, as the figures would not be the
// tier's.
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "measure.h"

// Median seconds of put and get over the repetitions of one size.
typedef struct {
    double put;
    double get;
} s_times;

static double
s_median(double *v, int n)
{
    sl__bench_sort(v, (size_t) n);
    return sl__bench_percentile(v, (size_t) n, 50);
}

static redisContext *
s_redis_connect(const sl__bench_cluster *cl, char *errbuf)
{
    int port = atoi(strchr(cl->info.redis, ':') + 1);
    redisContext *ctx = redisConnect("127.0.0.1", port);
    redisReply *r = NULL;
    if (ctx != NULL && ctx->err == 0) {
        r = redisCommand(ctx, "AUTH %s", cl->password);
    }
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot reach redis at %s: %s",
                cl->info.redis, ctx != NULL ? ctx->errstr : "out of memory");
        freeReplyObject(r);
        redisFree(ctx);
        return NULL;
    }
    freeReplyObject(r);
    return ctx;
}

// One timed command whose reply must be of type want (and, for a string,
// of len bytes): its seconds, the reply's parsing included and its freeing
// not, as with sl_get.
static sl_err
s_timed(redisContext *ctx, int want, size_t len, double *seconds,
        const char *fmt, const char *key, const void *buf, size_t buflen)
{
    double t0 = sl__mono();
    redisReply *r = buf != NULL ? redisCommand(ctx, fmt, key, buf, buflen)
                                : redisCommand(ctx, fmt, key);
    *seconds = sl__mono() - t0;
    bool ok = r != NULL && r->type == want &&
              (want != REDIS_REPLY_STRING || (size_t) r->len == len);
    freeReplyObject(r);
    return ok ? SL_OK : SL_ESTORE;
}

static sl_err
s_raw(redisContext *ctx, const sl_value *v, int reps, double *put, double *get,
      s_times *out, char *errbuf)
{
    size_t len = sl_ndarray_nbytes(v);
    const void *bytes = sl_ndarray_cdata(v);
    char key[64];
    sl_err rv = SL_OK;
    for (int i = 0; rv == SL_OK && i < reps; i++) {
        sl__fmt(key, sizeof(key), "bench:raw:%d", i);
        rv = s_timed(ctx, REDIS_REPLY_STATUS, 0, &put[i], "SET %s %b", key,
                     bytes, len);
    }
    for (int i = 0; rv == SL_OK && i < reps; i++) {
        sl__fmt(key, sizeof(key), "bench:raw:%d", i);
        rv = s_timed(ctx, REDIS_REPLY_STRING, len, &get[i], "GET %s", key, NULL,
                     0);
    }
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "raw SET/GET failed: %s", ctx->errstr);
        return rv;
    }
    out->put = s_median(put, reps);
    out->get = s_median(get, reps);
    return SL_OK;
}

// The fetched value is the one that was put: same shape, same bytes.
static bool
s_same(const sl_value *a, const sl_value *b)
{
    return sl_value_type(b) == SL_NDARRAY &&
           sl_ndarray_nbytes(a) == sl_ndarray_nbytes(b) &&
           memcmp(sl_ndarray_cdata(a), sl_ndarray_cdata(b),
                  sl_ndarray_nbytes(a)) == 0;
}

// Whether an object lies where its path says: in the tier under its ref's
// key (local), or not (the store's path). errbuf says what went wrong.
static sl_err
s_check_placed(sl__tier *tier, const sl_value *ref, bool local, char *errbuf)
{
    const char *key = sl_ref_key(ref);
    bool in_tier = key != NULL && sl__tier_has(tier, key, NULL);
    if (in_tier == local) {
        return SL_OK;
    }
    sl__fmt(errbuf, SL_ERRSTR_LEN,
            local ? "sl_put of %zu bytes by a client on the workers' node "
                    "did not go to the object tier: no %s in %s"
                  : "sl_put of %zu bytes by a client of another node went "
                    "to this node's tier (%s in %s), not the store",
            (size_t) sl_ref_size(ref), key != NULL ? key : "(no key)",
            sl__tier_path(tier));
    return SL_EPROTO;
}

// Whether p lies in a mapping of the file path, by /proc/self/maps.
static bool
s_mapped_from(const void *p, const char *path)
{
    char want[4096];
    if (realpath(path, want) == NULL) {
        return false;
    }
    FILE *f = fopen("/proc/self/maps", "r");
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    uintptr_t at = (uintptr_t) p;
    while (f != NULL && !found && getline(&line, &cap, f) > 0) {
        unsigned long lo, hi;
        int name = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &name) < 2 ||
            name == 0 || at < lo || at >= hi) {
            continue;
        }
        line[strcspn(line, "\n")] = '\0';
        found = strcmp(line + name, want) == 0;
        break; // the one mapping that holds p
    }
    free(line);
    if (f != NULL) {
        fclose(f);
    }
    return found;
}

// A local get must map the tier's file, not copy it.
static sl_err
s_check_mapped(sl__tier *tier, const sl_value *ref, const sl_value *got,
               char *errbuf)
{
    char path[1024];
    sl__fmt(path, sizeof(path), "%s/%s", sl__tier_path(tier), sl_ref_key(ref));
    if (s_mapped_from(sl_ndarray_cdata(got), path)) {
        return SL_OK;
    }
    sl__fmt(errbuf, SL_ERRSTR_LEN,
            "sl_get of %s by a client on the workers' node did not map %s: "
            "its elements are not in that file's mapping",
            sl_ref_key(ref), path);
    return SL_EPROTO;
}

// reps puts of v with c, then a get of each. local: c is on the workers'
// node, and each object must be in tier (and each get a mapping of it);
// else none may be.
static sl_err
s_starling(sl_client *c, sl__tier *tier, bool local, const sl_value *v,
           int reps, double *put, double *get, s_times *out, char *errbuf)
{
    sl_value **refs = calloc((size_t) reps, sizeof(*refs));
    sl_err rv = refs != NULL ? SL_OK : SL_ENOMEM;
    bool checked = false; // errbuf says why already
    for (int i = 0; rv == SL_OK && i < reps; i++) {
        double t0 = sl__mono();
        rv = sl_put(c, v, &refs[i]);
        put[i] = sl__mono() - t0;
        if (rv == SL_OK &&
            (rv = s_check_placed(tier, refs[i], local, errbuf)) != SL_OK) {
            checked = true;
        }
    }
    for (int i = 0; rv == SL_OK && i < reps; i++) {
        sl_value *got = NULL;
        double t0 = sl__mono();
        rv = sl_get(c, refs[i], &got);
        get[i] = sl__mono() - t0;
        if (rv == SL_OK && !s_same(v, got)) {
            rv = SL_EPROTO;
        } else if (rv == SL_OK && local &&
                   (rv = s_check_mapped(tier, refs[i], got, errbuf)) != SL_OK) {
            checked = true;
        }
        sl_value_destroy(&got);
    }
    if (rv != SL_OK && !checked) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "sl_put/sl_get: %s: %s", sl_strerror(rv),
                rv == SL_EPROTO ? "the value fetched is not the value put"
                                : sl_client_errstr(c));
    } else if (rv == SL_OK) {
        out->put = s_median(put, reps);
        out->get = s_median(get, reps);
    }
    for (int i = 0; refs != NULL && i < reps; i++) {
        sl_value_destroy(&refs[i]);
    }
    free(refs);
    return rv;
}

static sl_value *
s_random_array(size_t bytes)
{
    int64_t shape[1] = {(int64_t) (bytes / sizeof(double))};
    sl_value *v = sl_value_new_ndarray(SL_F64, 1, shape, NULL);
    double *d = v != NULL ? sl_ndarray_data(v) : NULL;
    uint64_t x = 88172645463325252ull;
    for (int64_t i = 0; d != NULL && i < shape[0]; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        d[i] = (double) (x >> 11) * 0x1p-53;
    }
    return v;
}

static void
s_report(sl__bench_ctx *ctx, const char *size_name, size_t bytes, int reps,
         const s_times *ours, const s_times *raw)
{
    char settings[256], m_put[32], m_get[32];
    double mb = (double) bytes / 1e6;
    sl__bench_settings(ctx, NULL, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings),
                           "bytes=%zu;reps=%d;shards=1;value=f64_ndarray;"
                           "path=store",
                           bytes, reps);
    sl__fmt(m_put, sizeof(m_put), "put_%s", size_name);
    sl__fmt(m_get, sizeof(m_get), "get_%s", size_name);
    const sl__bench_result rows[] = {
        {"data", m_put, mb / ours->put, mb / raw->put, "MB/s",
         SL__BENCH_RATIO_GE, 0.7, settings},
        {"data", m_get, mb / ours->get, mb / raw->get, "MB/s",
         SL__BENCH_RATIO_GE, 0.7, settings},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

static sl_err
s_flush(redisContext *ctx, char *errbuf)
{
    redisReply *r = redisCommand(ctx, "FLUSHALL");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ok) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "FLUSHALL failed: %s", ctx->errstr);
        return SL_ESTORE;
    }
    return SL_OK;
}

// Raw, then starling, for one size.
static sl_err
s_size(sl__bench_ctx *ctx, sl_client *c, sl__tier *tier, redisContext *redis,
       const char *size_name, size_t bytes, int reps, char *errbuf)
{
    double *put = calloc((size_t) reps, sizeof(*put));
    double *get = calloc((size_t) reps, sizeof(*get));
    sl_value *v = s_random_array(bytes);
    s_times raw = {0}, ours = {0};
    sl_err rv = put && get && v ? SL_OK : SL_ENOMEM;
    sl__bench_say(ctx, "   %s: %d puts and gets, raw then sl_put/sl_get",
                  size_name, reps);
    if (rv == SL_OK &&
        (rv = s_raw(redis, v, reps, put, get, &raw, errbuf)) == SL_OK &&
        (rv = s_flush(redis, errbuf)) == SL_OK &&
        (rv = s_starling(c, tier, false, v, reps, put, get, &ours, errbuf)) ==
            SL_OK &&
        (rv = s_flush(redis, errbuf)) == SL_OK) {
        s_report(ctx, size_name, bytes, reps, &ours, &raw);
    }
    sl_value_destroy(&v);
    free(put);
    free(get);
    return rv;
}

// The baseline of the local path: malloc and memcpy of the bytes, every
// copy into a freshly allocated buffer (64 MiB is above glibc's mmap
// threshold, so each buffer is new pages from the kernel, faulted in by
// the copy), freed after its time is taken. Fresh memory because that is
// what a put has to fill: its object is a new file of the tier, whose pages
// the copy faults in as well (4 KiB pages both: tmpfs here gives no huge
// pages, and plain malloc memory gets them only where THP is "always");
// and a get that copied would have to fill a new buffer too. Copying
// again and again into one warm buffer is about three times as fast on
// the development VM (6 GB/s against 2) and is a copy that neither can
// do. The figure is the median of reps.
static double
s_memcpy(const sl_value *v, int reps, double *t)
{
    size_t len = sl_ndarray_nbytes(v);
    const void *src = sl_ndarray_cdata(v);
    for (int i = 0; i < reps; i++) {
        double t0 = sl__mono();
        void *dst = malloc(len);
        if (dst == NULL) {
            return -1;
        }
        memcpy(dst, src, len);
        // The copy is used (the compiler may not drop it).
        __asm__ volatile("" : : "r"(dst) : "memory");
        t[i] = sl__mono() - t0;
        free(dst);
    }
    return s_median(t, reps);
}

static void
s_local_report(sl__bench_ctx *ctx, size_t bytes, int reps, const s_times *ours,
               double copy)
{
    char settings[256];
    double gb = (double) bytes / 1e9;
    sl__bench_settings(ctx, NULL, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings),
                           "bytes=%zu;reps=%d;value=f64_ndarray;path=tier;"
                           "baseline=memcpy_fresh",
                           bytes, reps);
    const sl__bench_result rows[] = {
        {"data", "put_64MiB_local", gb / ours->put, gb / copy, "GB/s",
         SL__BENCH_RATIO_GE, 0.5, settings},
        {"data", "get_64MiB_local", gb / ours->get, gb / copy, "GB/s",
         SL__BENCH_RATIO_GE, 0.5, settings},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

// The local path: memcpy, then sl_put/sl_get through the tier.
static sl_err
s_local(sl__bench_ctx *ctx, sl_client *c, sl__tier *tier, size_t bytes,
        int reps, char *errbuf)
{
    double *put = calloc((size_t) reps, sizeof(*put));
    double *get = calloc((size_t) reps, sizeof(*get));
    sl_value *v = s_random_array(bytes);
    s_times ours = {0};
    double copy = -1;
    sl_err rv = put && get && v ? SL_OK : SL_ENOMEM;
    sl__bench_say(ctx,
                  "   64MiB_local: %d copies, then %d sl_put/sl_get through "
                  "the object tier %s",
                  reps, reps, sl__tier_path(tier));
    if (rv == SL_OK && (copy = s_memcpy(v, reps, put)) < 0) {
        rv = SL_ENOMEM;
    }
    if (rv == SL_OK && (rv = s_starling(c, tier, true, v, reps, put, get, &ours,
                                        errbuf)) == SL_OK) {
        s_local_report(ctx, bytes, reps, &ours, copy);
    }
    sl_value_destroy(&v);
    free(put);
    free(get);
    return rv;
}

// Make c (not yet connected to the store) connect to it now, and so find
// its node's tier or learn that there is none: the node is named at that
// moment (client/objects.c, from $STARLING_NODE).
static sl_err
s_client_node(sl_client *c, char *errbuf)
{
    size_t n = 0;
    sl_err rv = sl_cluster_tiers_get(c, NULL, 0, &n);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot reach the store: %s",
                sl_client_errstr(c));
    }
    return rv;
}

// A client of the cluster that believes it runs on node "remote-client",
// which has no tier, as a client on another machine: it uses the store
// alone. $STARLING_NODE names the node (common/util.c, sl__node_name) and
// is read by the connect (HELLO) and by the first use of the store (the
// tier's lookup); it is put back as it was after.
static sl_err
s_remote_client(const sl__bench_cluster *cl, sl_client **out, char *errbuf)
{
    const char *was = getenv("STARLING_NODE");
    char *saved = was != NULL ? strdup(was) : NULL;
    if (was != NULL && saved == NULL) {
        return SL_ENOMEM;
    }
    sl_err rv =
        setenv("STARLING_NODE", "remote-client", 1) == 0 ? SL_OK : SL_ENOMEM;
    if (rv == SL_OK &&
        (rv = sl_client_connect(out, cl->info.scheduler)) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot connect to the scheduler: %s",
                sl_strerror(rv));
    }
    if (rv == SL_OK) {
        rv = s_client_node(*out, errbuf);
    }
    if (saved != NULL) {
        setenv("STARLING_NODE", saved, 1);
    } else {
        unsetenv("STARLING_NODE");
    }
    free(saved);
    return rv;
}

sl_err
sl__bench_data(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    // One worker of one slot: it makes the node's tier and runs nothing.
    const sl__bench_workers shape = {.procs = 1, .slots = 1, .prefetch = -1};
    sl__bench_cluster cl = {0};
    sl_client *remote = NULL;
    sl__tier *tier = NULL;
    redisContext *redis = NULL;
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK) {
        rv = sl__bench_cluster_workers_start(&cl, &shape, 30000, errbuf);
    }
    if (rv == SL_OK) {
        rv = sl__bench_cluster_tier_open(&cl, &tier, errbuf);
    }
    if (rv == SL_OK && (rv = s_client_node(cl.client, errbuf)) == SL_OK) {
        rv = s_remote_client(&cl, &remote, errbuf);
    }
    if (rv == SL_OK && (redis = s_redis_connect(&cl, errbuf)) == NULL) {
        rv = SL_ESTORE;
    }
    if (rv == SL_OK) {
        rv = s_size(ctx, remote, tier, redis, "1MiB", 1u << 20,
                    ctx->quick ? 20 : 200, errbuf);
    }
    if (rv == SL_OK) {
        rv = s_size(ctx, remote, tier, redis, "64MiB", 64u << 20,
                    ctx->quick ? 3 : 10, errbuf);
    }
    if (rv == SL_OK) {
        rv = s_local(ctx, cl.client, tier, 64u << 20, ctx->quick ? 3 : 10,
                     errbuf);
    }
    redisFree(redis);
    sl_client_destroy(&remote);
    sl__tier_close(&tier);
    sl__bench_cluster_stop(&cl);
    return rv;
}
