// throughput.c - end-to-end sys.noop tasks per second for a map of
// 1,000,000 tasks, client, scheduler and workers on this machine, and the
// CPU each of them spent per task.
// SPDX-License-Identifier: MIT
//
// The clock runs from sl_map (packing included) to the last result. CPU
// time comes from /proc (every thread of the scheduler, and of the workers
// and their executor processes) and getrusage (the client: this process).
// The standard cluster is measured, then, unless it runs kernels in
// threads already, the same with slot threads (--executor thread). With
// --perf FILE the scheduler is profiled (perf record -g) over the first
// timed map.
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "client/launch/watch.h"
#include "measure.h"

// CPU seconds each party had used at one moment.
typedef struct {
    double scheduler; // every thread of the scheduler
    double workers;   // of every worker process
    double client;    // this process
} s_cpu;

sl_err
sl__bench_noop_map(sl_client *c, size_t n, double *seconds_out,
                   char errbuf[SL_ERRSTR_LEN])
{
    // A NULL argument travels as nil: sys.noop takes none.
    sl_value **args = calloc(n, sizeof(*args));
    sl_job job;
    sl_job_stats st = {0};
    if (args == NULL) {
        return SL_ENOMEM;
    }
    double t0 = sl__mono();
    sl_err rv = sl_map(c, "sys.noop", args, n, NULL, &job);
    if (rv == SL_OK) {
        rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, 3600 * 1000);
        *seconds_out = sl__mono() - t0;
        sl_job_stats_get(c, job, &st);
        sl_job_release(c, job);
    }
    free(args);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "sys.noop map of %zu: %s: %s", n,
                sl_strerror(rv), sl_client_errstr(c));
    } else if (st.ok != n) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "sys.noop map of %zu: %zu tasks ended OK, %zu failed", n, st.ok,
                st.failed);
        rv = SL_EKERNEL;
    }
    return rv;
}

static s_cpu
s_cpu_now(const sl__bench_cluster *cl)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    s_cpu cpu = {sl__bench_cpu_s(cl->info.scheduler_pid),
                 sl__bench_cluster_workers_cpu_s(cl),
                 (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                     (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6};
    return cpu;
}

// Start `perf record -g` on the scheduler, writing path. Its output goes
// to path.log.
static sl_err
s_perf_start(const sl__bench_cluster *cl, const char *path, pid_t *pid_out,
             char *errbuf)
{
    char pid[16], log[1024];
    sl__fmt(pid, sizeof(pid), "%d", (int) cl->info.scheduler_pid);
    sl__fmt(log, sizeof(log), "%s.log", path);
    char *argv[] = {"perf", "record", "-g",          "-p",
                    pid,    "-o",     (char *) path, NULL};
    sl_err rv = sl__watch_spawn(pid_out, argv, log, true, errbuf);
    if (rv == SL_OK) {
        usleep(500 * 1000); // perf attaches to every thread first
    }
    return rv;
}

// perf writes its file when interrupted, then exits.
static void
s_perf_stop(pid_t *pid_p)
{
    if (*pid_p > 0) {
        sl__watch_signal(*pid_p, SIGINT);
        sl__watch_wait(pid_p, -1, NULL);
    }
}

// One measured configuration: its shape, and the suffix of its metrics.
typedef struct {
    sl__bench_workers shape; // the workers
    const char *suffix;      // "" for the standard cluster
    size_t n;                // tasks in the map
    double seconds;          // its wall time
    s_cpu before, after;     // CPU around it
} s_run;

static void
s_report(sl__bench_ctx *ctx, const s_run *run)
{
    char settings[256], m_tps[64], m_sched[64], m_worker[64], m_client[64];
    double us = 1e6 / (double) run->n;
    sl__bench_settings(ctx, &run->shape, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings), "tasks=%zu;wall_s=%.3f",
                           run->n, run->seconds);
    sl__fmt(m_tps, sizeof(m_tps), "tasks_per_s%s", run->suffix);
    sl__fmt(m_sched, sizeof(m_sched), "scheduler_cpu_per_task%s", run->suffix);
    sl__fmt(m_worker, sizeof(m_worker), "worker_cpu_per_task%s", run->suffix);
    sl__fmt(m_client, sizeof(m_client), "client_cpu_per_task%s", run->suffix);
    const sl__bench_result rows[] = {
        {"throughput", m_tps, (double) run->n / run->seconds, NAN, "tasks/s",
         SL__BENCH_VALUE_GE, 1e6, settings},
        {"throughput", m_sched,
         (run->after.scheduler - run->before.scheduler) * us, NAN, "us",
         SL__BENCH_NO_TARGET, 0, settings},
        {"throughput", m_worker,
         (run->after.workers - run->before.workers) * us, NAN, "us",
         SL__BENCH_NO_TARGET, 0, settings},
        {"throughput", m_client, (run->after.client - run->before.client) * us,
         NAN, "us", SL__BENCH_NO_TARGET, 0, settings},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

// Start a cluster of run->shape, warm it up, and time one map of run->n
// tasks; with perf_path, the scheduler is profiled over the map.
static sl_err
s_measure(sl__bench_ctx *ctx, s_run *run, const char *perf_path, char *errbuf)
{
    sl__bench_cluster cl = {0};
    pid_t perf = 0;
    double warm = 0;
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK) {
        rv = sl__bench_cluster_workers_start(&cl, &run->shape, 30000, errbuf);
    }
    // A short map first: every slot has run a task before the clock runs.
    if (rv == SL_OK) {
        rv = sl__bench_noop_map(cl.client, 10000, &warm, errbuf);
    }
    if (rv == SL_OK && perf_path != NULL) {
        rv = s_perf_start(&cl, perf_path, &perf, errbuf);
    }
    if (rv == SL_OK) {
        char prefetch[32] = "the worker's default";
        if (run->shape.prefetch >= 0) {
            sl__fmt(prefetch, sizeof(prefetch), "%d", run->shape.prefetch);
        }
        sl__bench_say(ctx,
                      "   %zu sys.noop tasks in one map, %d worker(s) of "
                      "%d slots (%s), prefetch %s%s",
                      run->n, run->shape.procs, run->shape.slots,
                      run->shape.threads ? "threads" : "executor processes",
                      prefetch,
                      perf > 0 ? " (perf recording the scheduler)" : "");
        run->before = s_cpu_now(&cl);
        rv = sl__bench_noop_map(cl.client, run->n, &run->seconds, errbuf);
        run->after = s_cpu_now(&cl);
    }
    s_perf_stop(&perf);
    sl__bench_cluster_stop(&cl);
    return rv;
}

// The standard cluster (as `starling up` makes it, unless the command line
// says otherwise); then, when it runs kernels in executor processes, the
// same cluster with slot threads: what the processes' isolation costs.
sl_err
sl__bench_throughput(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    size_t n = ctx->quick ? 100000 : 1000000;
    s_run runs[2] = {
        {.shape = ctx->shape, .suffix = "", .n = n},
        {.shape = ctx->shape, .suffix = "_threads", .n = n},
    };
    runs[1].shape.threads = true;
    int n_runs = ctx->shape.threads ? 1 : 2;
    sl_err rv = SL_OK;
    for (int i = 0; i < n_runs && rv == SL_OK; i++) {
        rv = s_measure(ctx, &runs[i], i == 0 ? ctx->perf_path : NULL, errbuf);
        if (rv == SL_OK) {
            s_report(ctx, &runs[i]);
        }
    }
    return rv;
}
