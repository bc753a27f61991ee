// cholesky.c - a tiled Cholesky factorization as one graph of tasks,
// against one multi-threaded LAPACK dpotrf of the same matrix.
// SPDX-License-Identifier: MIT
//
// The graph is examples/cholesky.c's (read that first): right-looking,
// lower, t x t tiles; per step k a dpotrf, the dtrsm of the panel, then
// the trailing update (dsyrk on the diagonal, dgemm below it), the panel
// and the next step's panel column at a higher priority. Here the tasks
// are first laid out as a list (s_plan: which kernel, which tile versions
// it reads), then submitted in order, one job per kernel and step.
//
// What is timed, as the baseline is: from the matrix in this process's
// memory to its factor there. Starling's side puts the tiles (copied into
// the node's tier, each just before the first job that reads it is
// submitted, so that the first panel runs while the rest is put), runs
// the graph, and copies the tiles of L into an
// array that was written before (as LAPACK's lies in A's place); the
// baseline's matrix is copied (untimed) and factored in place. The best
// of ctx->rounds of each counts, and the factor is checked every round.
#define _GNU_SOURCE
#include <cblas.h>
#include <f77blas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define S_MAX_REL_ERROR 1e-10

// Kernels of the graph, in the order of a step.
enum { S_POTRF, S_TRSM, S_SYRK, S_GEMM };
static const char *const s_fn[] = {"blas.dpotrf", "blas.dtrsm", "blas.dsyrk",
                                   "blas.dgemm"};

// One task: it writes tile (i, j), from the tiles it names by version.
typedef struct {
    int kind;    // S_POTRF .. S_GEMM
    int i, j;    // the tile it makes
    int a, b, c; // versions it reads (index into s_chol.ver): A, B, C; -1
    int prio;    // its job's priority
    int out;     // the version it makes
    int prev;    // the version of its tile it replaces
} s_task;

typedef struct {
    int n, tile, t; // order, tile size, tiles a side
    double *a;      // the matrix (row-major, symmetric)
    double *out;    // starling's factor, written over a copy of a
    double *ref;    // LAPACK's
    s_task *tasks;  // the plan, in submission order
    int n_tasks;    //
    sl_value **ver; // per tile version: a ref or a future; NULL when freed
    int *ver_task;  // the task that made it; -1 for a put tile
    int n_ver;      //
    int *latest;    // per tile: its latest version
    int *group;     // per task: its job's number (s_run)
    sl_job *jobs;   // per job: its id; released ones are 0
    int *left;      // per job: its tiles not replaced yet
} s_chol;

// A symmetric matrix with a dominant diagonal (examples/cholesky.c's).
static void
s_fill_spd(double *a, int n)
{
    uint64_t seed = 42;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            double x = (double) (seed >> 11) / 9007199254740992.0 - 0.5;
            a[(size_t) i * n + j] = a[(size_t) j * n + i] = x;
        }
        a[(size_t) i * n + i] += n;
    }
}

// A new version of tile (i, j), made by task (or -1: put).
static int
s_version(s_chol *ch, int i, int j, int task)
{
    int v = ch->n_ver++;
    ch->ver_task[v] = task;
    ch->latest[i * ch->t + j] = v;
    return v;
}

static void
s_add(s_chol *ch, int kind, int i, int j, int a, int b, int c, int prio)
{
    int id = ch->n_tasks++;
    int prev = ch->latest[i * ch->t + j];
    ch->tasks[id] = (s_task){kind, i, j, a, b, c, prio, 0, prev};
    ch->tasks[id].out = s_version(ch, i, j, id);
}

// The trailing update of step k for the tiles of columns [j0, j1).
static void
s_plan_update(s_chol *ch, int k, int j0, int j1, int prio)
{
    int t = ch->t, *l = ch->latest;
    for (int i = j0; i < j1; i++) {
        s_add(ch, S_SYRK, i, i, l[i * t + k], -1, l[i * t + i], prio);
    }
    for (int j = j0; j < j1; j++) {
        for (int i = j + 1; i < t; i++) {
            s_add(ch, S_GEMM, i, j, l[i * t + k], l[j * t + k], l[i * t + j],
                  prio);
        }
    }
}

// Lay the graph out: versions 0 .. t(t+1)/2 - 1 are the put tiles.
static void
s_plan(s_chol *ch)
{
    int t = ch->t, *l = ch->latest;
    ch->n_tasks = ch->n_ver = 0;
    for (int i = 0; i < t; i++) {
        for (int j = 0; j <= i; j++) {
            s_version(ch, i, j, -1);
        }
    }
    for (int k = 0; k < t; k++) {
        s_add(ch, S_POTRF, k, k, l[k * t + k], -1, -1, 9);
        for (int i = k + 1; i < t; i++) {
            s_add(ch, S_TRSM, i, k, l[k * t + k], l[i * t + k], -1, 9);
        }
        if (k + 1 < t) {
            s_plan_update(ch, k, k + 1, k + 2, 8);
            s_plan_update(ch, k, k + 2, t, 0);
        }
    }
}

static sl_err
s_init(s_chol *ch, int n, int tile)
{
    int t = n / tile;
    // Tasks: t potrf, t(t-1)/2 trsm and syrk, t(t-1)(t-2)/6 gemm; fewer
    // than t^3 + t in all.
    size_t max_tasks = (size_t) t * t * t + (size_t) t;
    size_t max_ver = max_tasks + (size_t) t * t;
    *ch = (s_chol){.n = n, .tile = tile, .t = t};
    ch->a = malloc((size_t) n * n * sizeof(double));
    ch->out = malloc((size_t) n * n * sizeof(double));
    ch->ref = malloc((size_t) n * n * sizeof(double));
    ch->tasks = calloc(max_tasks, sizeof(*ch->tasks));
    ch->ver = calloc(max_ver, sizeof(*ch->ver));
    ch->ver_task = calloc(max_ver, sizeof(*ch->ver_task));
    ch->latest = calloc((size_t) t * t, sizeof(*ch->latest));
    ch->group = calloc(max_tasks, sizeof(*ch->group));
    ch->jobs = calloc(max_tasks, sizeof(*ch->jobs));
    ch->left = calloc(max_tasks, sizeof(*ch->left));
    if (ch->a == NULL || ch->out == NULL || ch->ref == NULL ||
        ch->tasks == NULL || ch->ver == NULL || ch->ver_task == NULL ||
        ch->latest == NULL || ch->group == NULL || ch->jobs == NULL ||
        ch->left == NULL) {
        return SL_ENOMEM;
    }
    s_fill_spd(ch->a, n);
    memcpy(ch->out, ch->a, (size_t) n * n * sizeof(double)); // written
    s_plan(ch);
    return SL_OK;
}

static void
s_fini(s_chol *ch)
{
    for (int v = 0; v < ch->n_ver; v++) {
        sl_value_destroy(&ch->ver[v]);
    }
    free(ch->a);
    free(ch->out);
    free(ch->ref);
    free(ch->tasks);
    free(ch->ver);
    free(ch->ver_task);
    free(ch->latest);
    free(ch->group);
    free(ch->jobs);
    free(ch->left);
}

// Put tile version v, one of A's lower tiles (versions 0 .. t(t+1)/2 - 1,
// row by row), into the node's tier, unless it is there already; the
// caller owns the ref in ch->ver[v].
static sl_err
s_put_tile(sl_client *c, s_chol *ch, int v, char *errbuf)
{
    if (ch->ver[v] != NULL) {
        return SL_OK;
    }
    int i = 0;
    while ((i + 1) * (i + 2) / 2 <= v) {
        i++;
    }
    int j = v - i * (i + 1) / 2;
    int64_t shape[2] = {ch->tile, ch->tile};
    sl_value *blk = sl_value_new_ndarray_shared(c, SL_F64, 2, shape);
    if (blk == NULL) {
        return SL_ENOMEM;
    }
    double *dst = sl_ndarray_data(blk);
    for (int r = 0; r < ch->tile; r++) {
        memcpy(dst + (size_t) r * ch->tile,
               ch->a + ((size_t) i * ch->tile + r) * ch->n +
                   (size_t) j * ch->tile,
               (size_t) ch->tile * sizeof(double));
    }
    sl_err rv = sl_put(c, blk, &ch->ver[v]);
    sl_value_destroy(&blk);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "put tile (%d, %d): %s", i, j,
                sl_client_errstr(c));
    }
    return rv;
}

// Put the tiles of A that tasks [from, to) read and that are not put yet:
// each goes in just before the first job that needs it, so that the
// workers start on the first panel while the rest is still being put.
static sl_err
s_put_inputs(sl_client *c, s_chol *ch, int from, int to, char *errbuf)
{
    int puts = ch->t * (ch->t + 1) / 2;
    sl_err rv = SL_OK;
    for (int x = from; x < to && rv == SL_OK; x++) {
        const int in[3] = {ch->tasks[x].a, ch->tasks[x].b, ch->tasks[x].c};
        for (int k = 0; k < 3 && rv == SL_OK; k++) {
            if (in[k] >= 0 && in[k] < puts) {
                rv = s_put_tile(c, ch, in[k], errbuf);
            }
        }
    }
    return rv;
}

// The argument of task k: its inputs by name, and the kernel's options.
static sl_value *
s_task_arg(const s_chol *ch, const s_task *k)
{
    sl_value *m = sl_value_new_map();
    sl_value *v;
    static const char *const names[4][3] = {
        {"A", NULL, NULL}, {"A", "B", NULL}, {"A", NULL, "C"}, {"A", "B", "C"}};
    const int in[3] = {k->a, k->b, k->c};
    for (int x = 0; x < 3; x++) {
        if (names[k->kind][x] != NULL) {
            v = sl_value_copy(ch->ver[in[x]]);
            sl_value_map_set(m, names[k->kind][x], &v);
        }
    }
    if (k->kind == S_TRSM) {
        v = sl_value_new_str("right");
        sl_value_map_set(m, "side", &v);
        v = sl_value_new_bool(true);
        sl_value_map_set(m, "transa", &v);
    } else if (k->kind != S_POTRF) {
        v = sl_value_new_float(-1);
        sl_value_map_set(m, "alpha", &v);
    }
    if (k->kind == S_GEMM) {
        v = sl_value_new_bool(true);
        sl_value_map_set(m, "transb", &v);
    }
    return m;
}

// Submit tasks [from, to) (one kernel, one priority) as one job.
static sl_err
s_submit(sl_client *c, s_chol *ch, int from, int to, sl_job *job, char *errbuf)
{
    int n = to - from;
    sl_value **args = calloc((size_t) n, sizeof(*args));
    if (args == NULL) {
        return SL_ENOMEM;
    }
    for (int x = 0; x < n; x++) {
        args[x] = s_task_arg(ch, &ch->tasks[from + x]);
    }
    sl_job_opts opts = {.priority = ch->tasks[from].prio};
    sl_err rv =
        sl_map(c, s_fn[ch->tasks[from].kind], args, (size_t) n, &opts, job);
    for (int x = 0; x < n; x++) {
        sl_value_destroy(&args[x]);
    }
    free(args);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "%s: %s", s_fn[ch->tasks[from].kind],
                sl_client_errstr(c));
    }
    return rv;
}

// Copy the tile task k made, a tile of L, into out.
static sl_err
s_copy_tile(sl_client *c, s_chol *ch, const s_task *k, char *errbuf)
{
    const sl_value *f = ch->ver[k->out];
    sl_job job = {sl_future_job(f)};
    size_t index = (size_t) sl_future_index(f);
    const sl_value *v;
    const sl_result *r = sl_job_result(c, job, index);
    sl_err rv = SL_EKERNEL;
    if (r == NULL || r->status != SL_TASK_OK ||
        (rv = sl_job_value(c, job, index, &v)) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "tile (%d, %d) of L: %s", k->i, k->j,
                r != NULL && r->error ? r->error : sl_client_errstr(c));
        return rv != SL_OK ? rv : SL_EKERNEL;
    }
    const double *src = sl_ndarray_cdata(v);
    for (int row = 0; row < ch->tile; row++) {
        memcpy(ch->out + ((size_t) k->i * ch->tile + row) * ch->n +
                   (size_t) k->j * ch->tile,
               src + (size_t) row * ch->tile,
               (size_t) ch->tile * sizeof(double));
    }
    return SL_OK;
}

// Run the graph: submit each run of tasks of one kernel and priority as a
// job, the versions it makes futures of it. A job none of whose tiles is
// the latest any more is released as soon as the tasks that replace them
// are submitted (they keep it until they end), so that its memory in the
// node's tier is reused; the jobs of L's tiles are waited on.
static sl_err
s_run(sl_client *c, s_chol *ch, char *errbuf)
{
    int n_jobs = 0;
    sl_err rv = SL_OK;
    for (int from = 0; from < ch->n_tasks && rv == SL_OK;) {
        int to = from + 1;
        while (to < ch->n_tasks && to - from < 4096 &&
               ch->tasks[to].kind == ch->tasks[from].kind &&
               ch->tasks[to].prio == ch->tasks[from].prio) {
            to++;
        }
        int g = n_jobs++;
        if ((rv = s_put_inputs(c, ch, from, to, errbuf)) != SL_OK ||
            (rv = s_submit(c, ch, from, to, &ch->jobs[g], errbuf)) != SL_OK) {
            break;
        }
        ch->left[g] = to - from;
        for (int x = from; x < to; x++) {
            const s_task *k = &ch->tasks[x];
            ch->group[x] = g;
            ch->ver[k->out] =
                sl_value_new_future(ch->jobs[g], (size_t) (x - from));
            int p = ch->ver_task[k->prev];
            if (p >= 0 && --ch->left[ch->group[p]] == 0) {
                sl_job_release(c, ch->jobs[ch->group[p]]);
                ch->jobs[ch->group[p]].id = 0;
            }
        }
        from = to;
    }
    // What is not released makes L: each job's tiles are copied into out
    // as soon as it has ended, in the order they were submitted, while the
    // later steps still run.
    int n = 0;
    for (int g = 0; g < n_jobs && rv == SL_OK; g++) {
        if (ch->jobs[g].id == 0) {
            continue;
        }
        if ((rv = sl_wait(c, &ch->jobs[g], 1, SL_ALL_COMPLETED, -1)) != SL_OK) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "wait: %s", sl_client_errstr(c));
            break;
        }
        for (int x = 0; x < ch->n_tasks && rv == SL_OK; x++) {
            const s_task *k = &ch->tasks[x];
            if (ch->group[x] == g &&
                ch->latest[k->i * ch->t + k->j] == k->out) {
                rv = s_copy_tile(c, ch, k, errbuf);
            }
        }
        ch->jobs[n++] = ch->jobs[g];
    }
    for (int g = 0; g < n; g++) {
        sl_job_release(c, ch->jobs[g]);
    }
    return rv;
}

// The largest difference between the two factors' lower triangles, over
// the largest element of LAPACK's.
static double
s_max_rel_error(const s_chol *ch)
{
    size_t n = (size_t) ch->n;
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j <= i; j++) {
            double x = fabs(ch->ref[i * n + j]);
            scale = x > scale ? x : scale;
            double d = fabs(ch->out[i * n + j] - ch->ref[i * n + j]);
            worst = d > worst ? d : worst;
        }
    }
    return scale > 0 ? worst / scale : INFINITY;
}

// One round: the graph (puts to the assembled L), then LAPACK in place on
// a copy. Returns the seconds of each in *dist_s and *ref_s.
static sl_err
s_round(sl_client *c, s_chol *ch, double *dist_s, double *ref_s,
        double *max_rel, char *errbuf)
{
    double t0 = sl__mono();
    sl_err rv = s_run(c, ch, errbuf);
    *dist_s = sl__mono() - t0;
    int puts = ch->t * (ch->t + 1) / 2;
    for (int v = 0; v < ch->n_ver; v++) {
        if (v < puts && ch->ver[v] != NULL) {
            sl_delete(c, ch->ver[v]);
        }
        sl_value_destroy(&ch->ver[v]);
    }
    if (rv != SL_OK) {
        return rv;
    }
    memcpy(ch->ref, ch->a, (size_t) ch->n * ch->n * sizeof(double));
    blasint nn = ch->n, info = 0;
    char uplo = 'U'; // row-major lower is column-major upper
    double t1 = sl__mono();
    dpotrf_(&uplo, &nn, ch->ref, &nn, &info);
    *ref_s = sl__mono() - t1;
    if (info != 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "LAPACK dpotrf: info %d", (int) info);
        return SL_EKERNEL;
    }
    *max_rel = s_max_rel_error(ch);
    return SL_OK;
}

// One tile size: best of the rounds, as metric.
static sl_err
s_size(sl__bench_ctx *ctx, sl__bench_cluster *cl, int n, int tile,
       const char *metric, char errbuf[SL_ERRSTR_LEN])
{
    sl_client *c = cl->client;
    s_chol ch;
    double best_dist = 0, best_ref = 0, worst_err = 0;
    sl_err rv = s_init(&ch, n, tile);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "out of memory for n = %d", n);
    } else {
        sl__bench_say(ctx,
                      "   n=%d in %dx%d tiles of %d (%d tasks), then one "
                      "LAPACK dpotrf; best of %d",
                      n, ch.t, ch.t, tile, ch.n_tasks, ctx->rounds);
    }
    for (int r = 0; r < ctx->rounds && rv == SL_OK; r++) {
        double dist, ref, err = 0;
        double cpu0 = sl__bench_cluster_workers_cpu_s(cl);
        rv = s_round(c, &ch, &dist, &ref, &err, errbuf);
        if (rv == SL_OK) {
            // The workers' CPU over the slots' time: what the critical
            // path and the data movement leave idle.
            double cpu = sl__bench_cluster_workers_cpu_s(cl) - cpu0;
            sl__bench_say(ctx,
                          "   round %d: %.2f s (LAPACK %.2f s); the workers "
                          "used %.2f CPU s, %.0f%% of their %d slots",
                          r + 1, dist, ref, cpu,
                          100 * cpu / dist / ctx->shape.procs /
                              ctx->shape.slots,
                          ctx->shape.procs * ctx->shape.slots);
            best_dist = best_dist == 0 || dist < best_dist ? dist : best_dist;
            best_ref = best_ref == 0 || ref < best_ref ? ref : best_ref;
            worst_err = err > worst_err ? err : worst_err;
        }
    }
    if (rv == SL_OK) {
        char settings[256];
        double flops = (double) n * n * n / 3;
        sl__bench_settings(ctx, &ctx->shape, settings, sizeof(settings));
        sl__bench_settings_add(
            settings, sizeof(settings),
            "n=%d;tile=%d;tasks=%d;blas_threads=%d;rounds=%d", n, tile,
            ch.n_tasks, openblas_get_num_threads(), ctx->rounds);
        sl__bench_result res = {"cholesky",
                                metric,
                                flops / best_dist / 1e9,
                                flops / best_ref / 1e9,
                                "GFLOPS",
                                SL__BENCH_RATIO_GE,
                                0.75,
                                settings};
        sl__bench_report_add(ctx->report, &res);
        sl__bench_result e = {
            "cholesky", "max_rel_error",    worst_err,       NAN,
            "",         SL__BENCH_VALUE_LE, S_MAX_REL_ERROR, settings};
        sl__bench_report_add(ctx->report, &e);
        if (worst_err > S_MAX_REL_ERROR) {
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "wrong factor: max relative error %.3g", worst_err);
            rv = SL_EKERNEL;
        }
    }
    s_fini(&ch);
    return rv;
}

sl_err
sl__bench_cholesky(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    sl__bench_cluster cl = {0};
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK) {
        rv = sl__bench_cluster_workers_start(&cl, &ctx->shape, 30000, errbuf);
    }
    // Tiles of 1024 are "gflops" (more tasks, more parallel slack), of
    // 2048 "gflops_tile2048" (fewer, larger kernels, a longer critical
    // path against the work).
    int n = ctx->quick ? 2048 : 8192;
    if (rv == SL_OK) {
        rv = s_size(ctx, &cl, n, n / 8, "gflops", errbuf);
    }
    if (rv == SL_OK) {
        rv = s_size(ctx, &cl, n, n / 4, "gflops_tile2048", errbuf);
    }
    sl__bench_cluster_stop(&cl);
    return rv;
}
