// bench.c - what every benchmark shares: progress lines, the settings of
// a figure, and a private cluster from the launcher.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A benchmark's cluster is its own: a fresh scheduler has no jobs, no
//   peers and an idle RSS, so benchmarks do not measure each other. It is
//   the launcher's (client/launch/), as `starling up` starts it, but in a
//   temporary directory, without CURVE keys (a benchmark measures the
//   scheduler, not the cipher) and without Redis's append-only file.
// - Every process goes through the launcher and so the watchdog the
//   runner installed: an interrupted or killed run stops it.
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "client/launch/watch.h"
#include "measure.h"
#include "store/node.h"

// ---------------------------------------------------------------------
// Progress and settings.

void
sl__bench_say(const sl__bench_ctx *ctx, const char *fmt, ...)
{
    FILE *f = sl__bench_report_out(ctx->report);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fflush(f);
}

void
sl__bench_settings_add(char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= len) {
        return;
    }
    if (used > 0) {
        buf[used++] = ';';
        buf[used] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

void
sl__bench_settings(const sl__bench_ctx *ctx, const sl__bench_workers *shape,
                   char *buf, size_t len)
{
    buf[0] = '\0';
    if (shape != NULL) {
        char prefetch[16] = "default";
        if (shape->prefetch >= 0) {
            sl__fmt(prefetch, sizeof(prefetch), "%d", shape->prefetch);
        }
        sl__bench_settings_add(buf, len,
                               "workers=%d;slots=%d;prefetch=%s;executor=%s",
                               shape->procs, shape->slots, prefetch,
                               shape->threads ? "thread" : "process");
    }
    sl__bench_settings_add(buf, len, "mode=%s;load=%.2f",
                           ctx->quick ? "quick" : "full", sl__bench_load());
}

// ---------------------------------------------------------------------
// The cluster.

// The launcher's options for cl, with shape's workers (NULL: none).
static sl__cluster_opts
s_opts(const sl__bench_cluster *cl, const sl__bench_workers *shape,
       const char *module_cache, int timeout_ms)
{
    sl__cluster_opts opts = {
        .home = cl->dir,
        .bin_dir = cl->bin_dir,
        .insecure = true,
        .no_workers = shape == NULL,
        .timeout_ms = timeout_ms,
        .module_cache = module_cache,
    };
    if (shape != NULL) {
        opts.workers = shape->procs;
        opts.slots = shape->slots;
        opts.executor = shape->threads ? "thread" : NULL;
        // The launcher's 0 is the worker's default, < 0 a prefetch of 0.
        opts.prefetch = shape->prefetch < 0    ? 0
                        : shape->prefetch == 0 ? -1
                                               : shape->prefetch;
    }
    return opts;
}

static sl_err
s_read_password(sl__bench_cluster *cl, char *errbuf)
{
    char path[512];
    sl__fmt(path, sizeof(path), "%s/redis.pass", cl->dir);
    FILE *f = fopen(path, "r");
    bool ok = f != NULL && fgets(cl->password, sizeof(cl->password), f);
    if (f != NULL) {
        fclose(f);
    }
    if (!ok) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot read %s", path);
        return SL_EIO;
    }
    cl->password[strcspn(cl->password, "\r\n")] = '\0';
    return SL_OK;
}

sl_err
sl__bench_cluster_start(sl__bench_cluster *cl, const char *bin_dir,
                        char errbuf[SL_ERRSTR_LEN])
{
    sl_err rv;
    sl__strlcpy(cl->bin_dir, bin_dir, sizeof(cl->bin_dir));
    if ((rv = sl__watch_dir_new(cl->dir, sizeof(cl->dir), "starling-bench")) !=
        SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot make a temporary directory");
        return rv;
    }
    sl__cluster_opts opts = s_opts(cl, NULL, NULL, 0);
    if ((rv = sl__cluster_up(&opts, &cl->info, NULL, errbuf)) != SL_OK ||
        (rv = s_read_password(cl, errbuf)) != SL_OK) {
        goto fail;
    }
    if ((rv = sl_client_connect(&cl->client, cl->info.scheduler)) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot connect to the scheduler: %s",
                sl_strerror(rv));
        goto fail;
    }
    return SL_OK;

fail:
    sl__bench_cluster_stop(cl);
    return rv;
}

sl_err
sl__bench_cluster_workers_start(sl__bench_cluster *cl,
                                const sl__bench_workers *shape, int timeout_ms,
                                char errbuf[SL_ERRSTR_LEN])
{
    char cache[512];
    if (cl->info.n_workers > 0 || shape->procs < 1 || shape->slots < 1) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "bad worker shape, or workers running");
        return SL_EINVAL;
    }
    cl->shape = *shape;
    sl__fmt(cache, sizeof(cache), "%s/modules", cl->dir);
    sl__cluster_opts opts = s_opts(cl, shape, cache, timeout_ms);
    return sl__cluster_workers_start(&opts, &cl->info, errbuf);
}

sl_err
sl__bench_cluster_workers_stop(sl__bench_cluster *cl,
                               char errbuf[SL_ERRSTR_LEN])
{
    sl__cluster_opts opts = s_opts(cl, NULL, NULL, 0);
    return sl__cluster_workers_stop(&opts, &cl->info, errbuf);
}

void
sl__bench_cluster_stop(sl__bench_cluster *cl)
{
    char errbuf[SL_ERRSTR_LEN];
    sl_client_destroy(&cl->client);
    sl_err rv =
        cl->dir[0] != '\0' ? sl__cluster_down(cl->dir, errbuf) : SL_ENOTFOUND;
    if (rv != SL_OK && rv != SL_ENOTFOUND) {
        fprintf(stderr, "starling-bench: %s\n", errbuf);
    }
    sl__watch_dir_remove(cl->dir);
    memset(&cl->info, 0, sizeof(cl->info));
    cl->dir[0] = '\0';
}

double
sl__bench_cluster_workers_cpu_s(const sl__bench_cluster *cl)
{
    double sum = 0;
    for (int i = 0; i < cl->info.n_workers; i++) {
        double s = sl__bench_tree_cpu_s(cl->info.worker_pids[i]);
        sum += s > 0 ? s : 0;
    }
    return sum;
}

sl_err
sl__bench_cluster_tier_open(const sl__bench_cluster *cl, sl__tier **out,
                            char errbuf[SL_ERRSTR_LEN])
{
    char cluster[33], node[SL_NODE_NAME_MAX + 1], why[SL_ERRSTR_LEN];
    sl__store_opts so = {
        .addrs = {cl->info.redis}, .n_addrs = 1, .password = cl->password};
    sl__store *store = NULL;
    *out = NULL;
    sl_err rv = sl__store_connect(&store, &so, why);
    if (rv == SL_OK) {
        sl__node_cluster_id(store, cluster);
    }
    sl__store_destroy(&store);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot reach the store: %s", why);
        return rv;
    }
    sl__node_name(node, sizeof(node));
    sl__tier_opts to = {.cluster = cluster, .node = node};
    if ((rv = sl__tier_open(out, &to, why)) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no object tier of node %s: %s", node,
                why);
    }
    return rv;
}
