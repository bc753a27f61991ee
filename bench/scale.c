// scale.c - throughput and dispatch latency as the cluster grows from 2 to
// 10,000 connected worker slots (many worker processes, many slots each),
// each held against the 2-slot figure of the same run.
// SPDX-License-Identifier: MIT
//
// One scheduler serves every size in turn; the workers of a size are
// stopped (and the scheduler counts none) before the next size starts.
// Slots are threads, and a worker's sockets are czmq's, limited to 1,024 a
// process by default (3 a slot, so at most 340 slots a process): no
// process here gets more than 250. Dispatch latency is the round trip of
// one sys.noop task on the idle cluster (as in latency.c).
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "measure.h"

#define S_WARMUP 20

// What one size measured.
typedef struct {
    int slots;           // connected slots
    double tasks_per_s;  // of a sys.noop map
    double p50_us;       // dispatch latency: one sys.noop round trip
    double p99_us;       // likewise
    double sched_cpu_us; // scheduler CPU per task, over the map
} s_point;

// Slots as threads (--executor thread): 10,000 executor processes would
// measure the machine's process table, not the scheduler's dispatch.
static const sl__bench_workers s_shapes[] = {
    {1, 2, -1, true},
    {4, 16, -1, true},
    {8, 128, -1, true},
    {40, 250, -1, true},
};

static sl_err
s_measure(sl__bench_ctx *ctx, sl__bench_cluster *cl, s_point *pt,
          double *samples, int calls, char *errbuf)
{
    size_t tasks = ctx->quick ? 100000 : 1000000;
    double seconds = 0, warm = 0;
    // Every slot gets a chance to run once before the clock runs.
    sl_err rv =
        sl__bench_noop_map(cl->client, (size_t) pt->slots * 2, &warm, errbuf);
    double cpu0 = sl__bench_cpu_s(cl->info.scheduler_pid);
    if (rv == SL_OK && (rv = sl__bench_noop_map(cl->client, tasks, &seconds,
                                                errbuf)) == SL_OK) {
        pt->tasks_per_s = (double) tasks / seconds;
        pt->sched_cpu_us = (sl__bench_cpu_s(cl->info.scheduler_pid) - cpu0) *
                           1e6 / (double) tasks;
        rv = sl__bench_task_round_trips(cl->client, S_WARMUP, samples, calls,
                                        errbuf);
    }
    if (rv == SL_OK) {
        sl__bench_sort(samples, (size_t) calls);
        pt->p50_us = sl__bench_percentile(samples, (size_t) calls, 50) * 1e6;
        pt->p99_us = sl__bench_percentile(samples, (size_t) calls, 99) * 1e6;
    }
    return rv;
}

static void
s_report(sl__bench_ctx *ctx, const sl__bench_workers *shape, const s_point *pt,
         const s_point *base, int calls)
{
    char settings[256], m_tps[48], m_p50[48], m_p99[48], m_cpu[48];
    sl__bench_settings(ctx, shape, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings),
                           "tasks=%d;calls=%d;baseline_slots=%d",
                           ctx->quick ? 20000 : 100000, calls, base->slots);
    sl__fmt(m_tps, sizeof(m_tps), "tasks_per_s_%d", pt->slots);
    sl__fmt(m_p50, sizeof(m_p50), "dispatch_p50_%d", pt->slots);
    sl__fmt(m_p99, sizeof(m_p99), "dispatch_p99_%d", pt->slots);
    sl__fmt(m_cpu, sizeof(m_cpu), "scheduler_cpu_per_task_%d", pt->slots);
    // The target is about the largest cluster: 10,000 slots keep half.
    bool largest = pt->slots >= 10000;
    const sl__bench_result rows[] = {
        {"scale", m_tps, pt->tasks_per_s, base->tasks_per_s, "tasks/s",
         largest ? SL__BENCH_RATIO_GE : SL__BENCH_NO_TARGET, 0.5, settings},
        {"scale", m_p50, pt->p50_us, base->p50_us, "us", SL__BENCH_NO_TARGET, 0,
         settings},
        {"scale", m_p99, pt->p99_us, base->p99_us, "us", SL__BENCH_NO_TARGET, 0,
         settings},
        {"scale", m_cpu, pt->sched_cpu_us, base->sched_cpu_us, "us",
         SL__BENCH_NO_TARGET, 0, settings},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

sl_err
sl__bench_scale(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    int sizes = ctx->quick ? 3 : 4;
    int calls = ctx->quick ? 200 : 1000;
    double *samples = calloc((size_t) calls, sizeof(*samples));
    s_point base = {0};
    sl__bench_cluster cl = {0};
    if (samples == NULL) {
        return SL_ENOMEM;
    }
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    for (int i = 0; rv == SL_OK && i < sizes; i++) {
        const sl__bench_workers *shape = &s_shapes[i];
        s_point pt = {.slots = shape->procs * shape->slots};
        sl__bench_say(ctx, "   %d slots: %d worker process(es) of %d", pt.slots,
                      shape->procs, shape->slots);
        double t0 = sl__mono();
        if ((rv = sl__bench_cluster_workers_start(&cl, shape, 180000,
                                                  errbuf)) != SL_OK) {
            break;
        }
        sl__bench_say(ctx, "     connected in %.1f s", sl__mono() - t0);
        if ((rv = s_measure(ctx, &cl, &pt, samples, calls, errbuf)) != SL_OK) {
            break;
        }
        if (i == 0) {
            base = pt;
        }
        s_report(ctx, shape, &pt, &base, calls);
        rv = sl__bench_cluster_workers_stop(&cl, errbuf);
    }
    sl__bench_cluster_stop(&cl);
    free(samples);
    return rv;
}
