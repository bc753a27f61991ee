// data.c - put and get throughput of 1 MiB and 64 MiB objects through the
// object store (sl_put / sl_get), beside raw SET and GET of the same bytes
// on the same redis-server.
// SPDX-License-Identifier: MIT
//
// The object is an f64 ndarray of the given bytes, as matrices travel.
// sl_put encodes it (header + payload) and stores it with a TTL, split into
// 64 MiB chunks with a manifest when larger; sl_get fetches and decodes it
// (the payload is used in place). The baseline is one hiredis SET or GET of
// the payload bytes, as redis-benchmark does. Each figure is the size over
// the median time of one operation, every operation on a new key; the
// store is flushed between sizes.
#define _GNU_SOURCE
#include <hiredis/hiredis.h>
#include <math.h>
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

static sl_err
s_starling(sl_client *c, const sl_value *v, int reps, double *put, double *get,
           s_times *out, char *errbuf)
{
    sl_value **refs = calloc((size_t) reps, sizeof(*refs));
    sl_err rv = refs != NULL ? SL_OK : SL_ENOMEM;
    for (int i = 0; rv == SL_OK && i < reps; i++) {
        double t0 = sl__mono();
        rv = sl_put(c, v, &refs[i]);
        put[i] = sl__mono() - t0;
    }
    for (int i = 0; rv == SL_OK && i < reps; i++) {
        sl_value *got = NULL;
        double t0 = sl__mono();
        rv = sl_get(c, refs[i], &got);
        get[i] = sl__mono() - t0;
        if (rv == SL_OK && !s_same(v, got)) {
            rv = SL_EPROTO;
        }
        sl_value_destroy(&got);
    }
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "sl_put/sl_get: %s: %s", sl_strerror(rv),
                rv == SL_EPROTO ? "the value fetched is not the value put"
                                : sl_client_errstr(c));
    } else {
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
                           "bytes=%zu;reps=%d;shards=1;value=f64_ndarray",
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
s_size(sl__bench_ctx *ctx, sl__bench_cluster *cl, redisContext *redis,
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
        (rv = s_starling(cl->client, v, reps, put, get, &ours, errbuf)) ==
            SL_OK &&
        (rv = s_flush(redis, errbuf)) == SL_OK) {
        s_report(ctx, size_name, bytes, reps, &ours, &raw);
    }
    sl_value_destroy(&v);
    free(put);
    free(get);
    return rv;
}

sl_err
sl__bench_data(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    sl__bench_cluster cl = {0};
    redisContext *redis = NULL;
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK && (redis = s_redis_connect(&cl, errbuf)) == NULL) {
        rv = SL_ESTORE;
    }
    if (rv == SL_OK) {
        rv = s_size(ctx, &cl, redis, "1MiB", 1u << 20, ctx->quick ? 20 : 200,
                    errbuf);
    }
    if (rv == SL_OK) {
        rv = s_size(ctx, &cl, redis, "64MiB", 64u << 20, ctx->quick ? 3 : 10,
                    errbuf);
    }
    redisFree(redis);
    sl__bench_cluster_stop(&cl);
    return rv;
}
