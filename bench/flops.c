// flops.c - aggregate GFLOPS over every slot (PyWren's benchmark), beside
// bare single-threaded OpenBLAS processes doing the same gemms.
// SPDX-License-Identifier: MIT
//
// Starling: a map of bench.gemm_flops over every slot, 4 tasks a slot (2
// in a quick run); the figure is the job's FLOPs over its wall time
// (submit to last result).
//
// Baseline: one process per slot, each running its share of the same tasks
// (allocate, fill with splitmix64 as the kernel does, gemm reps times) with
// single-threaded OpenBLAS and no scheduler. Each process is started and
// its OpenBLAS set up before its clock runs, as the workers are before the
// map, and all begin at one moment; the figure is the same FLOPs over the
// time from the first start of work to the last end.
//
// The two alternate ctx->rounds times and the best of each counts: the
// machine may be shared, and a neighbour's burst should not decide the
// ratio. Every size has about the same work per task (reps = (2048/n)^3,
// at least 1), so that n = 1024 is not all overhead.
#define _GNU_SOURCE
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "bench.h"
#include "client/launch/watch.h"

#define S_TASKS_PER_SLOT 4
#define S_MAX_SLOTS 256

typedef struct {
    int n;     // the matrices' order
    int reps;  // gemms per task
    int tasks; // in the job, and in the baseline
} s_size;

// ---------------------------------------------------------------------
// The baseline's work, as bench.gemm_flops does it.

static uint64_t
s_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void
s_fill(double *p, size_t count, uint64_t *state)
{
    for (size_t i = 0; i < count; i++) {
        p[i] = (double) (s_splitmix64(state) >> 11) * 0x1p-52 - 1.0;
    }
}

// One task: three n x n matrices, A and B random, C = A.B reps times.
static int
s_bare_task(int n, int reps, uint64_t seed)
{
    size_t count = (size_t) n * (size_t) n;
    size_t bytes = (count * sizeof(double) + 63) / 64 * 64;
    double *a = aligned_alloc(64, bytes);
    double *b = aligned_alloc(64, bytes);
    double *c = aligned_alloc(64, bytes);
    if (a == NULL || b == NULL || c == NULL) {
        return 1;
    }
    s_fill(a, count, &seed);
    s_fill(b, count, &seed);
    memset(c, 0, count * sizeof(double));
    for (int r = 0; r < reps; r++) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a,
                    n, b, n, 0.0, c, n);
    }
    free(a);
    free(b);
    free(c);
    return 0;
}

// Sleep until the monotonic clock reads at (seconds), so that processes
// started one after another begin their work together.
static void
s_sleep_until(double at)
{
    struct timespec ts = {(time_t) at, (long) ((at - floor(at)) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
           EINTR) {
    }
}

int
sl__bench_helper_gemm(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: --helper gemm N REPS TASKS FIRST STRIDE "
                        "START_AT TIMES_FILE\n");
        return 2;
    }
    int n = atoi(argv[0]), reps = atoi(argv[1]), tasks = atoi(argv[2]);
    int first = atoi(argv[3]), stride = atoi(argv[4]);
    double one = 1, out = 0;
    if (n < 1 || reps < 1 || stride < 1 || first < 0) {
        return 2;
    }
    // One core per process, as in a slot; OpenBLAS set up before the
    // clock starts, as in a worker that is already running.
    openblas_set_num_threads(1);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0, &one,
                1, &one, 1, 0.0, &out, 1);
    s_sleep_until(atof(argv[5]));
    double t0 = sl__mono();
    for (int t = first; t < tasks; t += stride) {
        if (s_bare_task(n, reps, (uint64_t) t + 1) != 0) {
            return 1;
        }
    }
    double t1 = sl__mono();
    FILE *f = fopen(argv[6], "w");
    if (f == NULL || fprintf(f, "%.9f %.9f\n", t0, t1) < 0 || fclose(f) != 0) {
        return 1;
    }
    return 0;
}

// The baseline's wall time: from the first process's start of work to the
// last one's end, as each wrote them (the monotonic clock is the
// machine's). -1 if a file is missing.
static double
s_bare_seconds(const sl__bench_cluster *cl, int procs)
{
    double start = 0, end = 0;
    for (int p = 0; p < procs; p++) {
        char path[512];
        double t0, t1;
        sl__fmt(path, sizeof(path), "%s/gemm-%d.times", cl->dir, p);
        FILE *f = fopen(path, "r");
        int got = f != NULL ? fscanf(f, "%lf %lf", &t0, &t1) : 0;
        if (f != NULL) {
            fclose(f);
        }
        remove(path);
        if (got != 2) {
            return -1;
        }
        start = p == 0 || t0 < start ? t0 : start;
        end = p == 0 || t1 > end ? t1 : end;
    }
    return end - start;
}

// GFLOPS of procs bare processes sharing the tasks of size.
static sl_err
s_bare_gflops(sl__bench_ctx *ctx, const sl__bench_cluster *cl,
              const s_size *size, int procs, double *gflops_out, char *errbuf)
{
    pid_t pids[S_MAX_SLOTS] = {0};
    char n[16], reps[16], tasks[16], first[16], stride[16], start[32];
    char times[512];
    sl__fmt(n, sizeof(n), "%d", size->n);
    sl__fmt(reps, sizeof(reps), "%d", size->reps);
    sl__fmt(tasks, sizeof(tasks), "%d", size->tasks);
    sl__fmt(stride, sizeof(stride), "%d", procs);
    // Every process starts its work at the same moment, once all have
    // been started: a start staggered by the exec of each would count.
    sl__fmt(start, sizeof(start), "%.9f", sl__mono() + 0.2 + 0.02 * procs);
    sl_err rv = SL_OK;
    for (int p = 0; p < procs && rv == SL_OK; p++) {
        sl__fmt(first, sizeof(first), "%d", p);
        sl__fmt(times, sizeof(times), "%s/gemm-%d.times", cl->dir, p);
        char *argv[] = {ctx->self, "--helper", "gemm", n,     reps, tasks,
                        first,     stride,     start,  times, NULL};
        rv = sl__watch_spawn(&pids[p], argv, NULL, true, errbuf);
    }
    int failed = 0;
    for (int p = 0; p < procs; p++) {
        int status = 0;
        if (pids[p] > 0 && (sl__watch_wait(&pids[p], -1, &status) != SL_OK ||
                            !WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
            failed++;
        }
    }
    double seconds = rv == SL_OK ? s_bare_seconds(cl, procs) : -1;
    if (rv == SL_OK && (failed > 0 || seconds <= 0)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "%d bare gemm process(es) failed",
                failed);
        rv = SL_EIO;
    }
    double flops = 2.0 * size->n * (double) size->n * size->n * size->reps;
    *gflops_out = rv == SL_OK ? flops * size->tasks / seconds / 1e9 : 0;
    return rv;
}

// ---------------------------------------------------------------------
// Starling.

static sl_value *
s_task_arg(const s_size *size)
{
    sl_value *arg = sl_value_new_map();
    sl_value *v = sl_value_new_int(size->n);
    sl_value_map_set(arg, "n", &v);
    v = sl_value_new_int(size->reps);
    sl_value_map_set(arg, "reps", &v);
    return arg;
}

// Every task ended OK and counted the FLOPs it should have.
static sl_err
s_check(sl_client *c, sl_job job, const s_size *size, char *errbuf)
{
    double want = 2.0 * size->n * (double) size->n * size->n * size->reps;
    for (int t = 0; t < size->tasks; t++) {
        const sl_result *r = sl_job_result(c, job, (size_t) t);
        if (r == NULL || r->status != SL_TASK_OK || r->flops != want) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "task %d: %s", t,
                    r == NULL  ? "no result"
                    : r->error ? r->error
                               : "wrong FLOP count");
            return SL_EKERNEL;
        }
    }
    return SL_OK;
}

static sl_err
s_starling_gflops(sl__bench_cluster *cl, const s_size *size, double *gflops_out,
                  char *errbuf)
{
    sl_value **args = calloc((size_t) size->tasks, sizeof(*args));
    sl_job job;
    sl_job_stats st;
    sl_err rv = SL_ENOMEM;
    for (int t = 0; args != NULL && t < size->tasks; t++) {
        args[t] = s_task_arg(size);
    }
    if (args != NULL) {
        rv = sl_map(cl->client, "bench.gemm_flops", args, (size_t) size->tasks,
                    NULL, &job);
    }
    if (rv == SL_OK && (rv = sl_wait(cl->client, &job, 1, SL_ALL_COMPLETED,
                                     3600 * 1000)) != SL_OK) {
        sl_job_release(cl->client, job);
    }
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "map: %s", sl_client_errstr(cl->client));
    } else {
        rv = s_check(cl->client, job, size, errbuf);
        sl_job_stats_get(cl->client, job, &st);
        *gflops_out = st.gflops;
        sl_job_release(cl->client, job);
    }
    for (int t = 0; args != NULL && t < size->tasks; t++) {
        sl_value_destroy(&args[t]);
    }
    free(args);
    return rv;
}

// Starling, then the baseline, ctx->rounds times; the best of each counts.
static sl_err
s_measure(sl__bench_ctx *ctx, sl__bench_cluster *cl, const s_size *size,
          int slots, char *errbuf)
{
    double ours = 0, bare = 0;
    sl_err rv = SL_OK;
    char metric[32], settings[256];
    sl__bench_settings(ctx, &ctx->shape, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings),
                           "n=%d;reps=%d;tasks=%d;rounds=%d", size->n,
                           size->reps, size->tasks, ctx->rounds);
    sl__bench_say(ctx,
                  "   n=%d: %d tasks of %d gemm(s) on %d slots, then %d "
                  "bare processes; best of %d",
                  size->n, size->tasks, size->reps, slots, slots, ctx->rounds);
    for (int i = 0; i < ctx->rounds && rv == SL_OK; i++) {
        double g_ours = 0, g_bare = 0;
        if ((rv = s_starling_gflops(cl, size, &g_ours, errbuf)) == SL_OK &&
            (rv = s_bare_gflops(ctx, cl, size, slots, &g_bare, errbuf)) ==
                SL_OK) {
            ours = g_ours > ours ? g_ours : ours;
            bare = g_bare > bare ? g_bare : bare;
        }
    }
    if (rv != SL_OK) {
        return rv;
    }
    sl__fmt(metric, sizeof(metric), "gflops_n%d", size->n);
    sl__bench_result r = {"flops", metric,   ours,
                          bare,    "GFLOPS", SL__BENCH_RATIO_GE,
                          0.97,    settings};
    sl__bench_report_add(ctx->report, &r);
    return SL_OK;
}

sl_err
sl__bench_flops(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    static const int full[] = {1024, 2048, 4096};
    sl__bench_cluster cl = {0};
    int slots = ctx->shape.procs * ctx->shape.slots;
    if (slots > S_MAX_SLOTS) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "flops runs on at most %d slots",
                S_MAX_SLOTS);
        return SL_EINVAL;
    }
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK) {
        rv = sl__bench_cluster_workers_start(&cl, &ctx->shape, 30000, errbuf);
    }
    for (int i = 0; rv == SL_OK && i < (ctx->quick ? 1 : 3); i++) {
        int n = full[i];
        int reps = n >= 2048 ? 1 : (int) pow(2048.0 / n, 3);
        s_size size = {n, reps, (ctx->quick ? 2 : S_TASKS_PER_SLOT) * slots};
        rv = s_measure(ctx, &cl, &size, slots, errbuf);
    }
    sl__bench_cluster_stop(&cl);
    return rv;
}
