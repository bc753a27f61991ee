// shared_input.c - a map whose tasks all read one large input: how much
// of it the executors map, how much they copy, and how much private
// memory they grow by.
// SPDX-License-Identifier: MIT
//
// The input is one f64 ndarray of 256 MiB (--quick: 32 MiB), made in the
// node's object tier (sl_value_new_ndarray_shared) and put once; every
// one of the 1,000 tasks (--quick: 100) of a blas.ddot map gets its ref as
// both x and y, so each reads the whole array (and checks, by its result,
// that it read all of it). The input must be in the tier under its ref's
// key, else the run fails: the figures would not be about the tier.
//
// What is reported:
// - bytes mapped and bytes copied per task: sl_job_stats' bytes_mapped
//   and bytes_read over the tasks. A slot's input cache keeps the mapping,
//   so only a slot's first task maps the input and the rest count nothing;
//   the copied bytes are the tasks' own arguments.
// - the executors' memory growth over the map, per slot: the sum over the
//   executor processes (the children of the cluster's workers whose
//   command line has --executor-fd; with --executor thread, the workers
//   themselves) of RssAnon (private memory: what a copy of the input would
//   cost) and of Pss, after the map less before it, and the peak of
//   RssAnon sampled while the map ran. Not RSS: RSS counts the mapped
//   input's shared pages whole in every process that maps it, so it would
//   grow by the input's size in each executor whether it maps the input or
//   copies it. Pss divides each shared page among the processes that map
//   it; the executors' Pss grows by up to the input's size together.
//   The baseline is the input's size: a slot that copied the input would
//   grow by that much. Target: at most 16 MiB of private growth per slot.
//
// Before the before, a small map warms every executor up (its store
// connection, its tier, OpenBLAS), with a 1 MiB input in the tier, so that
// the growth is the large input's.
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "measure.h"

#define S_MIB (1024.0 * 1024.0)
#define S_MAX_PROCS 1024

// The memory of the processes that run kernels, summed, at one moment.
typedef struct {
    int procs;        // how many were found
    int64_t rss_anon; // bytes, summed
    int64_t pss;
} s_mem;

// Whether pid is an executor: its command line has --executor-fd.
static bool
s_is_executor(pid_t pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        if (strcmp(buf + i, "--executor-fd") == 0) {
            return true;
        }
    }
    return false;
}

// The processes that run cl's kernels: the workers' executors, or (slot
// threads) the workers. Up to max into pids; returns how many.
static int
s_kernel_procs(const sl__bench_cluster *cl, pid_t *pids, int max)
{
    int n = 0;
    for (int w = 0; w < cl->info.n_workers; w++) {
        pid_t kids[S_MAX_PROCS];
        size_t k =
            sl__bench_children(cl->info.worker_pids[w], kids, S_MAX_PROCS);
        for (size_t i = 0; i < k && i < S_MAX_PROCS && n < max; i++) {
            if (s_is_executor(kids[i])) {
                pids[n++] = kids[i];
            }
        }
    }
    if (n == 0 && cl->shape.threads) { // slot threads: the workers
        for (int w = 0; w < cl->info.n_workers && n < max; w++) {
            pids[n++] = cl->info.worker_pids[w];
        }
    }
    return n;
}

static sl_err
s_mem_now(const sl__bench_cluster *cl, s_mem *out, char *errbuf)
{
    pid_t pids[S_MAX_PROCS];
    memset(out, 0, sizeof(*out));
    out->procs = s_kernel_procs(cl, pids, S_MAX_PROCS);
    for (int i = 0; i < out->procs; i++) {
        sl__bench_mem m;
        sl__bench_mem_get(pids[i], &m);
        if (m.rss_anon < 0 || m.pss < 0) {
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "cannot read RssAnon and Pss of process %d from /proc",
                    (int) pids[i]);
            return SL_EIO;
        }
        out->rss_anon += m.rss_anon;
        out->pss += m.pss;
    }
    if (out->procs == 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "no executor processes found under the workers");
        return SL_ENOTFOUND;
    }
    return SL_OK;
}

// An f64 vector of n elements made in c's node tier, x[i] = i % 4, and
// its dot product with itself (exact: every partial sum is an integer
// below 2^53, in any order).
static sl_value *
s_input(sl_client *c, int64_t n, double *dot)
{
    sl_value *v = sl_value_new_ndarray_shared(c, SL_F64, 1, &n);
    double *x = v != NULL ? sl_ndarray_data(v) : NULL;
    uint64_t sum = 0;
    for (int64_t i = 0; x != NULL && i < n; i++) {
        x[i] = (double) (i % 4);
        sum += (uint64_t) ((i % 4) * (i % 4));
    }
    *dot = (double) sum;
    return v;
}

// The argument {x: ref, y: ref}.
static sl_value *
s_arg(const sl_value *ref)
{
    sl_value *arg = sl_value_new_map();
    sl_value *x = sl_value_copy(ref), *y = sl_value_copy(ref);
    if (arg == NULL || x == NULL || y == NULL ||
        sl_value_map_set(arg, "x", &x) != SL_OK ||
        sl_value_map_set(arg, "y", &y) != SL_OK) {
        sl_value_destroy(&x);
        sl_value_destroy(&y);
        sl_value_destroy(&arg);
    }
    return arg;
}

// Put an input of n elements, check that it went to the tier, and make
// the tasks' argument.
static sl_err
s_put(sl_client *c, sl__tier *tier, int64_t n, sl_value **arg_out, double *dot,
      char *errbuf)
{
    sl_value *v = s_input(c, n, dot), *ref = NULL;
    sl_err rv = v != NULL ? sl_put(c, v, &ref) : SL_ENOMEM;
    sl_value_destroy(&v);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "sl_put of the input: %s: %s",
                sl_strerror(rv), sl_client_errstr(c));
        return rv;
    }
    if (!sl__tier_has(tier, sl_ref_key(ref), NULL)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "the input (%llu bytes) did not go to the object tier: no "
                "%s in %s",
                (unsigned long long) sl_ref_size(ref), sl_ref_key(ref),
                sl__tier_path(tier));
        sl_value_destroy(&ref);
        return SL_EPROTO;
    }
    *arg_out = s_arg(ref);
    sl_value_destroy(&ref);
    return *arg_out != NULL ? SL_OK : SL_ENOMEM;
}

// Run tasks blas.ddot tasks of arg, waiting in steps of 20 ms, the peak
// RssAnon sampled at each into *peak; check every result is dot.
static sl_err
s_map(const sl__bench_cluster *cl, const sl_value *arg, size_t tasks,
      double dot, s_mem *peak, sl_job_stats *st, size_t *mapping_tasks,
      char *errbuf)
{
    sl_client *c = cl->client;
    sl_value **args = calloc(tasks, sizeof(*args));
    sl_job job;
    if (args == NULL) {
        return SL_ENOMEM;
    }
    for (size_t i = 0; i < tasks; i++) {
        args[i] = (sl_value *) arg; // encoded at once; not changed
    }
    sl_err rv = sl_map(c, "blas.ddot", args, tasks, NULL, &job);
    free(args);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "blas.ddot map: %s",
                sl_client_errstr(c));
        return rv;
    }
    int64_t deadline = sl__mono_ms() + 3600 * 1000;
    while ((rv = sl_wait(c, &job, 1, SL_ALL_COMPLETED, 20)) == SL_ETIMEDOUT &&
           sl__mono_ms() < deadline) {
        char ignored[SL_ERRSTR_LEN];
        s_mem m;
        if (peak != NULL && s_mem_now(cl, &m, ignored) == SL_OK &&
            m.rss_anon > peak->rss_anon) {
            *peak = m;
        }
    }
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "blas.ddot map: %s: %s", sl_strerror(rv),
                sl_client_errstr(c));
    }
    *mapping_tasks = 0;
    for (size_t i = 0; rv == SL_OK && i < tasks; i++) {
        const sl_result *r = sl_job_result(c, job, i);
        const sl_value *got = NULL;
        if (r->status != SL_TASK_OK || sl_job_value(c, job, i, &got) != SL_OK ||
            sl_value_type(got) != SL_FLOAT || sl_value_float(got) != dot) {
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "blas.ddot task %zu: %s (want %.17g)", i,
                    r->status != SL_TASK_OK ? r->error : "a wrong result", dot);
            rv = SL_EKERNEL;
        }
        *mapping_tasks += r->bytes_mapped > 0;
    }
    if (rv == SL_OK) {
        sl_job_stats_get(c, job, st);
    }
    sl_job_release(c, job);
    return rv;
}

typedef struct {
    size_t bytes, tasks, mapping_tasks;
    int slots;
    double wall_s;
    s_mem before, after, peak;
    sl_job_stats st;
} s_run;

static void
s_report(sl__bench_ctx *ctx, const s_run *run)
{
    char settings[384];
    double size = (double) run->bytes, mib = size / S_MIB;
    double slots = (double) run->slots, tasks = (double) run->tasks;
    double anon = (double) (run->after.rss_anon - run->before.rss_anon);
    double peak = (double) (run->peak.rss_anon - run->before.rss_anon);
    double pss = (double) (run->after.pss - run->before.pss);
    sl__bench_settings(ctx, &ctx->shape, settings, sizeof(settings));
    sl__bench_settings_add(
        settings, sizeof(settings),
        "bytes=%zu;tasks=%zu;kernel=blas.ddot;tasks_mapping=%zu;"
        "kernel_procs=%d/%d;memory=RssAnon+Pss;wall_s=%.2f",
        run->bytes, run->tasks, run->mapping_tasks, run->before.procs,
        run->after.procs, run->wall_s);
    const sl__bench_result rows[] = {
        {"shared_input", "bytes_mapped_per_task",
         (double) run->st.bytes_mapped / tasks, size, "bytes",
         SL__BENCH_NO_TARGET, 0, settings},
        {"shared_input", "bytes_copied_per_task",
         (double) run->st.bytes_read / tasks, size, "bytes", SL__BENCH_RATIO_LE,
         0.01, settings},
        {"shared_input", "executor_private_growth_per_slot",
         anon / slots / S_MIB, mib, "MiB", SL__BENCH_VALUE_LE, 16, settings},
        {"shared_input", "executor_private_peak_per_slot", peak / slots / S_MIB,
         mib, "MiB", SL__BENCH_VALUE_LE, 16, settings},
        {"shared_input", "executor_pss_growth_per_slot", pss / slots / S_MIB,
         mib, "MiB", SL__BENCH_NO_TARGET, 0, settings},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

sl_err
sl__bench_shared_input(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    s_run run = {
        .bytes = ctx->quick ? 32u << 20 : 256u << 20,
        .tasks = ctx->quick ? 100 : 1000,
        .slots = ctx->shape.procs * ctx->shape.slots,
    };
    sl__bench_cluster cl = {0};
    sl__tier *tier = NULL;
    sl_value *warm = NULL, *arg = NULL;
    double warm_dot = 0, dot = 0;
    size_t warm_mapping = 0, slots = (size_t) run.slots;
    sl_job_stats warm_st;
    // The workers first: the client finds the node's tier at its first put.
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK) {
        rv = sl__bench_cluster_workers_start(&cl, &ctx->shape, 30000, errbuf);
    }
    if (rv == SL_OK) {
        rv = sl__bench_cluster_tier_open(&cl, &tier, errbuf);
    }
    if (rv == SL_OK) {
        rv = s_put(cl.client, tier, (1 << 20) / sizeof(double), &warm,
                   &warm_dot, errbuf);
    }
    // Until every slot has run a warm-up task (its first maps the input):
    // a worker may give a short map to one slot.
    for (int round = 0; rv == SL_OK && round < 5 && warm_mapping < slots;
         round++) {
        size_t mapped = 0;
        rv = s_map(&cl, warm, 4 * slots, warm_dot, NULL, &warm_st, &mapped,
                   errbuf);
        warm_mapping += mapped;
        sl__bench_say(ctx,
                      "   warm-up: %zu blas.ddot tasks of a 1 MiB input; "
                      "%zu of %zu slots have mapped it",
                      4 * slots, warm_mapping, slots);
    }
    if (rv == SL_OK) {
        rv = s_put(cl.client, tier, (int64_t) (run.bytes / sizeof(double)),
                   &arg, &dot, errbuf);
    }
    if (rv == SL_OK && (rv = s_mem_now(&cl, &run.before, errbuf)) == SL_OK) {
        sl__bench_say(ctx,
                      "   %zu blas.ddot tasks, x and y one %.0f MiB input in "
                      "the tier; memory of %d kernel processes: RssAnon "
                      "(private) and Pss, not RSS, which counts mapped "
                      "shared pages in every process",
                      run.tasks, (double) run.bytes / S_MIB, run.before.procs);
        run.peak = run.before;
        double t0 = sl__mono();
        rv = s_map(&cl, arg, run.tasks, dot, &run.peak, &run.st,
                   &run.mapping_tasks, errbuf);
        run.wall_s = sl__mono() - t0;
    }
    if (rv == SL_OK && (rv = s_mem_now(&cl, &run.after, errbuf)) == SL_OK) {
        if (run.after.rss_anon > run.peak.rss_anon) {
            run.peak = run.after;
        }
        sl__bench_say(ctx,
                      "   %.2f s; %zu of %zu tasks mapped the input (the "
                      "others found it in their slot's input cache); "
                      "RssAnon %.1f -> %.1f MiB (peak %.1f), Pss %.1f -> "
                      "%.1f MiB",
                      run.wall_s, run.mapping_tasks, run.tasks,
                      (double) run.before.rss_anon / S_MIB,
                      (double) run.after.rss_anon / S_MIB,
                      (double) run.peak.rss_anon / S_MIB,
                      (double) run.before.pss / S_MIB,
                      (double) run.after.pss / S_MIB);
        s_report(ctx, &run);
    }
    sl_value_destroy(&warm);
    sl_value_destroy(&arg);
    sl__tier_close(&tier);
    sl__bench_cluster_stop(&cl);
    return rv;
}
