// latency.c - the round trip of one task (sl_call_async + sl_wait of
// sys.noop), beside a bare ZeroMQ REQ/REP round trip and a raw TCP
// ping-pong over the same loopback.
// SPDX-License-Identifier: MIT
//
// A task's round trip crosses the client's DEALER, the scheduler, the
// worker's DEALER and a slot thread, and back: two TCP hops each way. The
// baselines cross one, to an echo process, with messages of about a
// SUBMIT's size. Each series is sequential: one request in flight.
// starling's client polls for a while before it sleeps in sl_wait
// (sl_client_set_spin); a second series, reported beside the target,
// has it sleep at once, as the baselines' blocking calls do.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "echo.h"
#include "measure.h"

#define S_MSG_LEN 64
#define S_WARMUP 200

// Percentiles of a sorted series, in microseconds.
typedef struct {
    double p50, p99, p999;
} s_pct;

static s_pct
s_percentiles(double *seconds, int n)
{
    sl__bench_sort(seconds, (size_t) n);
    s_pct p = {sl__bench_percentile(seconds, (size_t) n, 50) * 1e6,
               sl__bench_percentile(seconds, (size_t) n, 99) * 1e6,
               sl__bench_percentile(seconds, (size_t) n, 99.9) * 1e6};
    return p;
}

// One sys.noop task, submitted and waited for; its time in *seconds.
static sl_err
s_one_task(sl_client *c, double *seconds, char *errbuf)
{
    sl_job job;
    double t0 = sl__mono();
    sl_err rv = sl_call_async(c, "sys.noop", NULL, NULL, &job);
    if (rv == SL_OK) {
        rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, 10000);
        *seconds = sl__mono() - t0;
        const sl_result *r = sl_job_result(c, job, 0);
        if (rv == SL_OK && (r == NULL || r->status != SL_TASK_OK)) {
            rv = SL_EKERNEL;
        }
        sl_job_release(c, job);
    }
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "sys.noop: %s: %s", sl_strerror(rv),
                sl_client_errstr(c));
    }
    return rv;
}

sl_err
sl__bench_task_round_trips(sl_client *c, int warmup, double *seconds, int n,
                           char errbuf[SL_ERRSTR_LEN])
{
    double ignored;
    sl_err rv = SL_OK;
    for (int i = 0; rv == SL_OK && i < warmup; i++) {
        rv = s_one_task(c, &ignored, errbuf);
    }
    for (int i = 0; rv == SL_OK && i < n; i++) {
        rv = s_one_task(c, &seconds[i], errbuf);
    }
    return rv;
}

static void
s_report(sl__bench_ctx *ctx, const char *settings, const s_pct *ours,
         const s_pct *nospin, const s_pct *zmq, const s_pct *tcp)
{
    const sl__bench_result rows[] = {
        {"latency", "p50", ours->p50, zmq->p50, "us", SL__BENCH_RATIO_LE, 2.5,
         settings},
        {"latency", "p99", ours->p99, zmq->p99, "us", SL__BENCH_RATIO_LE, 5,
         settings},
        {"latency", "p999", ours->p999, zmq->p999, "us", SL__BENCH_NO_TARGET, 0,
         settings},
        {"latency", "nospin_p50", nospin->p50, zmq->p50, "us",
         SL__BENCH_NO_TARGET, 0, settings},
        {"latency", "nospin_p99", nospin->p99, zmq->p99, "us",
         SL__BENCH_NO_TARGET, 0, settings},
        {"latency", "zmq_p50", zmq->p50, tcp->p50, "us", SL__BENCH_NO_TARGET, 0,
         settings},
        {"latency", "zmq_p99", zmq->p99, tcp->p99, "us", SL__BENCH_NO_TARGET, 0,
         settings},
        {"latency", "zmq_p999", zmq->p999, tcp->p999, "us", SL__BENCH_NO_TARGET,
         0, settings},
        {"latency", "tcp_p50", tcp->p50, NAN, "us", SL__BENCH_NO_TARGET, 0,
         settings},
        {"latency", "tcp_p99", tcp->p99, NAN, "us", SL__BENCH_NO_TARGET, 0,
         settings},
        {"latency", "tcp_p999", tcp->p999, NAN, "us", SL__BENCH_NO_TARGET, 0,
         settings},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

sl_err
sl__bench_latency(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    int n = ctx->quick ? 1000 : 10000;
    double *seconds = calloc((size_t) n, sizeof(*seconds));
    s_pct ours = {0}, nospin = {0}, zmq = {0}, tcp = {0};
    sl__bench_cluster cl = {0};
    char settings[256];
    if (seconds == NULL) {
        return SL_ENOMEM;
    }
    sl__bench_settings(ctx, &ctx->shape, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings),
                           "calls=%d;warmup=%d;echo_bytes=%d", n, S_WARMUP,
                           S_MSG_LEN);
    sl__bench_say(ctx,
                  "   %d round trips each: raw TCP, bare ZeroMQ, "
                  "starling sys.noop (the client spinning before it sleeps, "
                  "then not)",
                  n);
    sl_err rv = sl__bench_echo_round_trips(ctx, "tcp-echo", S_MSG_LEN, S_WARMUP,
                                           seconds, n, errbuf);
    if (rv == SL_OK) {
        tcp = s_percentiles(seconds, n);
        rv = sl__bench_echo_round_trips(ctx, "zmq-echo", S_MSG_LEN, S_WARMUP,
                                        seconds, n, errbuf);
    }
    if (rv == SL_OK) {
        zmq = s_percentiles(seconds, n);
        if ((rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf)) ==
                SL_OK &&
            (rv = sl__bench_cluster_workers_start(&cl, &ctx->shape, 30000,
                                                  errbuf)) == SL_OK &&
            (rv = sl__bench_task_round_trips(cl.client, S_WARMUP, seconds, n,
                                             errbuf)) == SL_OK) {
            ours = s_percentiles(seconds, n);
            // The same calls with a client that sleeps at once.
            sl_client_set_spin(cl.client, 0);
            rv = sl__bench_task_round_trips(cl.client, S_WARMUP, seconds, n,
                                            errbuf);
        }
        if (rv == SL_OK) {
            nospin = s_percentiles(seconds, n);
            s_report(ctx, settings, &ours, &nospin, &zmq, &tcp);
        }
    }
    sl__bench_cluster_stop(&cl);
    free(seconds);
    return rv;
}
