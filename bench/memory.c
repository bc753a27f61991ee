// memory.c - the scheduler's resident memory with 1,000,000 queued sys.noop
// tasks, beside its resident memory when idle; and what a pending
// dependent task (one that waits on futures) and each of its edges cost.
// SPDX-License-Identifier: MIT
//
// The cluster has no worker, so every task of the map stays queued: the
// scheduler holds the job, its task array and the SUBMIT frames the
// arguments live in. RSS is read from /proc/<pid>/status once the
// scheduler reports every task queued. The job is then cancelled, and
// every task must come back CANCELLED.
//
// The graph: on a fresh scheduler without workers, a producer job of 4
// sys.noop tasks (which stay queued), then 1,000,000 sys.sum tasks that
// each take futures of the first F of them, {values: [future, ...]}:
// every one waits. Done twice, F = 1 and F = 4, each on its own scheduler.
// The RSS each grew by is N (t + F e + s_F), with t the scheduler's own
// bytes per dependent task, e its own bytes per edge, and s_F the bytes of
// one task's argument and of its entry in the SUBMIT's deps field (the
// (job, index) pairs of its futures), which stay in the kept SUBMIT frame.
// s_F is known exactly (the argument encoded as the client encodes it,
// the deps entry packed as the client packs it), so the two runs give t
// and e. Reported: t and e without the SUBMIT bytes (the targets: at most
// 64 and 8), the same with them (all of RSS), and the SUBMIT bytes apart:
// per task (the map, its key, the list) and per edge, the future in the
// argument (18 bytes) and the pair in the deps entry (about 10). What the
// scheduler holds per task and per edge beside the frame is its task
// entry, deps entry, waiter and edge (scheduler/graph.c), and the slack of
// the arrays and pools they grow in.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "measure.h"
#include "serialize/codec.h"

#define S_MIB (1024.0 * 1024.0)

// Poll the scheduler until it reports want tasks queued.
static sl_err
s_wait_queued(sl_client *c, uint64_t want, char *errbuf)
{
    int64_t deadline = sl__mono_ms() + 120000;
    sl_cluster_status st = {0};
    while (sl_cluster_status_get(c, &st) == SL_OK && st.queued < want) {
        if (sl__mono_ms() > deadline) {
            break;
        }
        usleep(20000);
    }
    if (st.queued != want) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "the scheduler reports %llu tasks queued, not %llu",
                (unsigned long long) st.queued, (unsigned long long) want);
        return SL_ETIMEDOUT;
    }
    return SL_OK;
}

// Cancel the queued job and check that every task ended CANCELLED.
static sl_err
s_cancel(sl_client *c, sl_job job, size_t n, char *errbuf)
{
    sl_err rv = sl_job_cancel(c, job);
    if (rv == SL_OK) {
        rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, 120000);
    }
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cancel: %s", sl_client_errstr(c));
    }
    for (size_t i = 0; rv == SL_OK && i < n; i++) {
        if (sl_job_result(c, job, i)->status != SL_TASK_CANCELLED) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "task %zu did not end CANCELLED", i);
            rv = SL_EKERNEL;
        }
    }
    sl_job_release(c, job);
    return rv;
}

static void
s_report(sl__bench_ctx *ctx, size_t n, int64_t idle, int64_t queued)
{
    char settings[256];
    sl__bench_settings(ctx, NULL, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings), "workers=0;tasks=%zu",
                           n);
    const sl__bench_result rows[] = {
        {"memory", "rss_idle", (double) idle / S_MIB, NAN, "MiB",
         SL__BENCH_NO_TARGET, 0, settings},
        {"memory", "rss_queued", (double) queued / S_MIB, (double) idle / S_MIB,
         "MiB", SL__BENCH_NO_TARGET, 0, settings},
        {"memory", "bytes_per_queued_task",
         (double) (queued - idle) / (double) n, NAN, "bytes",
         SL__BENCH_VALUE_LE, 100, settings},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

// ---------------------------------------------------------------------
// Pending dependents and their edges.

#define S_PRODUCERS 4 // tasks of the producer job: a dependent takes 1 or 4

// One measurement: n dependents of `futures` futures each.
typedef struct {
    int futures;         // per dependent
    size_t n;            // dependents
    int64_t idle;        // the scheduler's RSS before any job
    int64_t full;        // and with every dependent waiting
    size_t arg_bytes;    // one dependent's argument, encoded
    size_t submit_bytes; // that and its deps entry: its SUBMIT bytes
} s_graph;

// {values: [future(producer, 0), ..., future(producer, futures - 1)]}.
static sl_value *
s_dependent_arg(sl_job producer, int futures)
{
    sl_value *list = sl_value_new_list();
    sl_value *arg = sl_value_new_map();
    for (int k = 0; list != NULL && k < futures; k++) {
        sl_value *f = sl_value_new_future(producer, (size_t) k);
        if (f == NULL || sl_value_list_append(list, &f) != SL_OK) {
            sl_value_destroy(&f);
            sl_value_destroy(&list);
        }
    }
    if (list == NULL || arg == NULL ||
        sl_value_map_set(arg, "values", &list) != SL_OK) {
        sl_value_destroy(&arg);
    }
    sl_value_destroy(&list);
    return arg;
}

// The bytes of arg as the client packs it (sl__value_pack, as
// sl__client_pack_arg does for an argument this small), plus its deps
// entry as the client packs that (client.c, s_pack_deps): an array of the
// (job, index) pairs of tasks 0 .. futures - 1 of producer, each number
// the shortest msgpack uint.
static sl_err
s_submit_bytes(const sl_value *arg, sl_job producer, int futures, s_graph *g)
{
    void *buf = NULL;
    size_t len = 0;
    if (sl__value_encode(arg, &buf, &len) != SL_OK) {
        return SL_ENOMEM;
    }
    free(buf);
    sl__mpw w;
    sl__mpw_init(&w);
    msgpack_pack_array(&w.pk, (uint32_t) (2 * futures));
    for (int k = 0; k < futures; k++) {
        msgpack_pack_uint64(&w.pk, producer.id);
        msgpack_pack_uint64(&w.pk, (uint64_t) k);
    }
    g->arg_bytes = len;
    g->submit_bytes = len + w.buf.size;
    sl__mpw_fini(&w);
    return SL_OK;
}

// The scheduler holds three jobs (producer, dependents, sentinel): it has
// taken every chunk of the dependents.
static sl_err
s_wait_jobs(sl_client *c, uint32_t want, char *errbuf)
{
    sl_cluster_status st = {0};
    sl_err rv = sl_cluster_status_get(c, &st);
    if (rv == SL_OK && st.jobs != want) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "the scheduler reports %u jobs, not %u (the dependents "
                "refused?)",
                st.jobs, want);
        rv = SL_EPROTO;
    }
    return rv;
}

// On cl (no workers): the producer, g->n dependents and a sentinel task
// submitted after them. Queued are only the producer's tasks and the
// sentinel (the dependents wait); once the scheduler counts the sentinel
// queued it has read every chunk before it, since one client's messages
// are handled in order. Then RSS, and every job cancelled: each task must
// end CANCELLED (the dependents first, so none fails for its input).
static sl_err
s_graph_hold(sl__bench_cluster *cl, s_graph *g, char *errbuf)
{
    sl_client *c = cl->client;
    sl_value *none[S_PRODUCERS] = {NULL}; // nil: sys.noop takes nothing
    sl_job producer, dependents, sentinel;
    sl_err rv = sl_map(c, "sys.noop", none, S_PRODUCERS, NULL, &producer);
    if (rv != SL_OK) {
        return sl__errf(errbuf, rv, "producer: %s", sl_client_errstr(c));
    }
    sl_value *arg = s_dependent_arg(producer, g->futures);
    sl_value **args = calloc(g->n, sizeof(*args));
    rv = arg != NULL && args != NULL ? SL_OK : SL_ENOMEM;
    for (size_t i = 0; rv == SL_OK && i < g->n; i++) {
        args[i] = arg; // the same argument, encoded for each task
    }
    if (rv == SL_OK) {
        rv = s_submit_bytes(arg, producer, g->futures, g);
    }
    if (rv == SL_OK &&
        (rv = sl_map(c, "sys.sum", args, g->n, NULL, &dependents)) != SL_OK) {
        sl__errf(errbuf, rv, "dependents: %s", sl_client_errstr(c));
    }
    free(args);
    sl_value_destroy(&arg);
    if (rv == SL_OK) {
        bool sent =
            sl_call_async(c, "sys.noop", NULL, NULL, &sentinel) == SL_OK;
        rv = sent ? s_wait_queued(c, S_PRODUCERS + 1, errbuf)
                  : sl__errf(errbuf, SL_EIO, "sentinel: %s",
                             sl_client_errstr(c));
        if (rv == SL_OK && (rv = s_wait_jobs(c, 3, errbuf)) == SL_OK) {
            g->full = sl__bench_rss(cl->info.scheduler_pid);
        }
        sl_err rv2 = s_cancel(c, dependents, g->n, errbuf);
        rv = rv != SL_OK ? rv : rv2;
        rv2 = sent ? s_cancel(c, sentinel, 1, errbuf) : SL_OK;
        rv = rv != SL_OK ? rv : rv2;
    }
    sl_err rv2 = s_cancel(c, producer, S_PRODUCERS, errbuf);
    return rv != SL_OK ? rv : rv2;
}

// One measurement on a scheduler of its own: a fresh one's heap holds
// nothing of an earlier run.
static sl_err
s_graph_measure(sl__bench_ctx *ctx, s_graph *g, char *errbuf)
{
    sl__bench_cluster cl = {0};
    sl_cluster_status st;
    sl__bench_say(ctx,
                  "   %zu sys.sum tasks of %d future%s each, waiting on a "
                  "producer that cannot run (no workers)",
                  g->n, g->futures, g->futures == 1 ? "" : "s");
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK && (rv = sl_cluster_status_get(cl.client, &st)) == SL_OK) {
        g->idle = sl__bench_rss(cl.info.scheduler_pid);
        rv = s_graph_hold(&cl, g, errbuf);
    }
    if (rv == SL_OK && (g->idle < 0 || g->full <= g->idle)) {
        rv = sl__errf(errbuf, SL_EIO,
                      "the scheduler's RSS: %lld bytes idle, %lld with the "
                      "graph",
                      (long long) g->idle, (long long) g->full);
    }
    sl__bench_cluster_stop(&cl);
    return rv;
}

// Solve RSS growth per task d_F = t + F e + s_F for t and e, from the two
// measurements a (fewer futures) and b; with the SUBMIT bytes s_F taken
// out, or (all_in) left in.
static void
s_graph_solve(const s_graph *a, const s_graph *b, bool all_in, double *t,
              double *e)
{
    double da = (double) (a->full - a->idle) / (double) a->n;
    double db = (double) (b->full - b->idle) / (double) b->n;
    if (!all_in) {
        da -= (double) a->submit_bytes;
        db -= (double) b->submit_bytes;
    }
    *e = (db - da) / (double) (b->futures - a->futures);
    *t = da - *e * a->futures;
}

static void
s_graph_report(sl__bench_ctx *ctx, const s_graph *a, const s_graph *b)
{
    char base[256], own[384], all[384], sub[384];
    double t, e, t_all, e_all;
    int df = b->futures - a->futures;
    s_graph_solve(a, b, false, &t, &e);
    s_graph_solve(a, b, true, &t_all, &e_all);
    // The SUBMIT bytes of one edge: the future in the argument, the pair
    // in the deps entry; and of one task, the rest.
    double arg_edge = (double) (b->arg_bytes - a->arg_bytes) / df;
    double deps_edge = (double) ((b->submit_bytes - b->arg_bytes) -
                                 (a->submit_bytes - a->arg_bytes)) /
                       df;
    double sub_task = (double) a->submit_bytes - (arg_edge + deps_edge);
    sl__bench_settings(ctx, NULL, base, sizeof(base));
    sl__bench_settings_add(
        base, sizeof(base),
        "workers=0;dependents=%zu;futures=%d,%d;rss_idle=%lld,%lld;"
        "rss_graph=%lld,%lld;submit_bytes_per_task=%zu,%zu",
        a->n, a->futures, b->futures, (long long) a->idle, (long long) b->idle,
        (long long) a->full, (long long) b->full, a->submit_bytes,
        b->submit_bytes);
    sl__fmt(own, sizeof(own), "%s;counted=rss_less_submit_bytes", base);
    sl__fmt(all, sizeof(all), "%s;counted=rss", base);
    sl__fmt(sub, sizeof(sub), "%s;counted=submit_bytes_encoded", base);
    const sl__bench_result rows[] = {
        {"memory", "bytes_per_dependent_task", t, NAN, "bytes",
         SL__BENCH_VALUE_LE, 64, own},
        {"memory", "bytes_per_edge", e, NAN, "bytes", SL__BENCH_VALUE_LE, 8,
         own},
        {"memory", "rss_bytes_per_dependent_task", t_all, NAN, "bytes",
         SL__BENCH_NO_TARGET, 0, all},
        {"memory", "rss_bytes_per_edge", e_all, NAN, "bytes",
         SL__BENCH_NO_TARGET, 0, all},
        {"memory", "submit_bytes_per_dependent_task", sub_task, NAN, "bytes",
         SL__BENCH_NO_TARGET, 0, sub},
        {"memory", "submit_arg_bytes_per_edge", arg_edge, NAN, "bytes",
         SL__BENCH_NO_TARGET, 0, sub},
        {"memory", "submit_deps_bytes_per_edge", deps_edge, NAN, "bytes",
         SL__BENCH_NO_TARGET, 0, sub},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

static sl_err
s_graph_run(sl__bench_ctx *ctx, size_t n, char *errbuf)
{
    s_graph a = {.futures = 1, .n = n}, b = {.futures = S_PRODUCERS, .n = n};
    sl_err rv = s_graph_measure(ctx, &a, errbuf);
    if (rv == SL_OK && (rv = s_graph_measure(ctx, &b, errbuf)) == SL_OK) {
        s_graph_report(ctx, &a, &b);
    }
    return rv;
}

sl_err
sl__bench_memory(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    size_t n = ctx->quick ? 200000 : 1000000;
    sl_value **args = calloc(n, sizeof(*args)); // NULL: nil, as sys.noop takes
    sl__bench_cluster cl = {0};
    sl_cluster_status st;
    sl_job job;
    if (args == NULL) {
        return SL_ENOMEM;
    }
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK && (rv = sl_cluster_status_get(cl.client, &st)) == SL_OK) {
        int64_t idle = sl__bench_rss(cl.info.scheduler_pid);
        sl__bench_say(ctx,
                      "   %zu sys.noop tasks queued on a scheduler "
                      "without workers",
                      n);
        if ((rv = sl_map(cl.client, "sys.noop", args, n, NULL, &job)) !=
            SL_OK) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "map: %s",
                    sl_client_errstr(cl.client));
        } else {
            if ((rv = s_wait_queued(cl.client, n, errbuf)) == SL_OK) {
                s_report(ctx, n, idle, sl__bench_rss(cl.info.scheduler_pid));
            }
            sl_err rv2 = s_cancel(cl.client, job, n, errbuf);
            rv = rv != SL_OK ? rv : rv2;
        }
    }
    sl__bench_cluster_stop(&cl);
    free(args);
    return rv != SL_OK ? rv : s_graph_run(ctx, n, errbuf);
}
