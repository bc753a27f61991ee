// memory.c - the scheduler's resident memory with 1,000,000 queued sys.noop
// tasks, beside its resident memory when idle.
// SPDX-License-Identifier: MIT
//
// The cluster has no worker, so every task of the map stays queued: the
// scheduler holds the job, its task array and the SUBMIT frames the
// arguments live in. RSS is read from /proc/<pid>/status once the
// scheduler reports every task queued. The job is then cancelled, and
// every task must come back CANCELLED.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"
#include "measure.h"

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
    return rv;
}
