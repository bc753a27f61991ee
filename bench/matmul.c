// matmul.c - a distributed blocked C = A.B whose tiles travel through the
// object store, beside one multi-threaded cblas_dgemm of the same matrices.
// SPDX-License-Identifier: MIT
//
// A is cut into row blocks A_i (tile x n) and B into column blocks B_j
// (n x tile), each put into the store once (examples/matmul.c is the
// graph of partial products and their sums instead); task (i, j)
// runs blas.dgemm on refs to A_i and B_j and its tile C_ij comes back
// through the store. The clock runs from the first put to the assembled
// C: data movement is included. The result is checked against the
// baseline's C. Full runs do it twice (new puts, new tasks), alternating
// with the baseline, and keep the best time of each.
//
// It is written the way a program that wants the time should be: a
// tile's task is submitted as soon as its two blocks are in the store
// (A_0, B_0, then B_k and A_k), so that the workers compute while the
// client still puts, and tiles are fetched as they end. The workers'
// input caches keep the blocks they fetched for the next tile that needs
// them.
#define _GNU_SOURCE
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

// Largest relative error accepted from the distributed product.
#define S_MAX_REL_ERROR 1e-9

typedef struct {
    int n;           // the matrices' order
    int tile;        // rows of A_i, columns of B_j
    int blocks;      // n / tile
    double *a, *b;   // the inputs, n x n row-major
    double *c_dist;  // starling's product
    double *c_ref;   // the baseline's
    sl_value **arow; // refs to the row blocks of A
    sl_value **bcol; // refs to the column blocks of B
    sl_job *jobs;    // tile t = i * blocks + j's task; id 0: not submitted
    bool *placed;    // tile t is in c_dist
} s_mm;

static void
s_fill_random(double *m, size_t count, uint64_t seed)
{
    for (size_t i = 0; i < count; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        m[i] = (double) (seed >> 11) / 9007199254740992.0 - 0.5;
    }
}

// Put rows x cols of m (row stride ld) as an ndarray; the caller owns *ref.
static sl_err
s_put_block(sl_client *c, const double *m, int rows, int cols, int ld,
            sl_value **ref)
{
    int64_t shape[2] = {rows, cols};
    // Made in the node's object tier: the rows are copied there once, and
    // the put stores the block where it is.
    sl_value *block = sl_value_new_ndarray_shared(c, SL_F64, 2, shape);
    if (block == NULL) {
        return SL_ENOMEM;
    }
    double *dst = sl_ndarray_data(block);
    for (int r = 0; r < rows; r++) {
        memcpy(dst + (size_t) r * cols, m + (size_t) r * ld,
               (size_t) cols * sizeof(double));
    }
    sl_err rv = sl_put(c, block, ref);
    sl_value_destroy(&block);
    return rv;
}

// Fetch tile t and place it in c_dist.
static sl_err
s_place_tile(sl_client *c, s_mm *mm, size_t t, char *errbuf)
{
    const sl_value *ct;
    if (sl_job_value(c, mm->jobs[t], 0, &ct) != SL_OK ||
        sl_ndarray_dim(ct, 0) != mm->tile ||
        sl_ndarray_dim(ct, 1) != mm->tile) {
        const sl_result *r = sl_job_result(c, mm->jobs[t], 0);
        sl__fmt(errbuf, SL_ERRSTR_LEN, "tile %zu: %s", t,
                r != NULL && r->error ? r->error : sl_client_errstr(c));
        return SL_EKERNEL;
    }
    const double *src = sl_ndarray_cdata(ct);
    size_t bi = t / (size_t) mm->blocks, bj = t % (size_t) mm->blocks;
    for (int r = 0; r < mm->tile; r++) {
        memcpy(mm->c_dist + (bi * mm->tile + r) * mm->n + bj * mm->tile,
               src + (size_t) r * mm->tile, (size_t) mm->tile * sizeof(double));
    }
    mm->placed[t] = true;
    return SL_OK;
}

// Submit the task of every tile whose blocks are both in the store and
// that has none yet: blas.dgemm on {A: ref A_i, B: ref B_j}.
static sl_err
s_submit_ready(sl_client *c, s_mm *mm, char *errbuf)
{
    for (int i = 0; i < mm->blocks; i++) {
        for (int j = 0; j < mm->blocks; j++) {
            size_t t = (size_t) i * mm->blocks + j;
            if (mm->arow[i] == NULL || mm->bcol[j] == NULL ||
                mm->jobs[t].id != 0) {
                continue;
            }
            sl_value *ra = sl_value_copy(mm->arow[i]);
            sl_value *rb = sl_value_copy(mm->bcol[j]);
            sl_value *arg = sl_value_new_map();
            sl_value_map_set(arg, "A", &ra);
            sl_value_map_set(arg, "B", &rb);
            sl_err rv = sl_call_async(c, "blas.dgemm", arg, NULL, &mm->jobs[t]);
            sl_value_destroy(&arg);
            if (rv != SL_OK) {
                sl__fmt(errbuf, SL_ERRSTR_LEN, "submit: %s",
                        sl_client_errstr(c));
                return rv;
            }
        }
    }
    return SL_OK;
}

// Put A_0, B_0, then B_k and A_k for k = 1, 2, ..., submitting each tile
// once it can run.
static sl_err
s_put_and_submit(sl_client *c, s_mm *mm, char *errbuf)
{
    sl_err rv = SL_OK;
    for (int k = 0; k < mm->blocks && rv == SL_OK; k++) {
        for (int half = 0; half < 2 && rv == SL_OK; half++) {
            bool a = (k == 0) == (half == 0);
            rv = a ? s_put_block(c, mm->a + (size_t) k * mm->tile * mm->n,
                                 mm->tile, mm->n, mm->n, &mm->arow[k])
                   : s_put_block(c, mm->b + (size_t) k * mm->tile, mm->n,
                                 mm->tile, mm->n, &mm->bcol[k]);
            if (rv != SL_OK) {
                sl__fmt(errbuf, SL_ERRSTR_LEN, "put: %s", sl_client_errstr(c));
            } else {
                rv = s_submit_ready(c, mm, errbuf);
            }
        }
    }
    return rv;
}

// Place the tiles as their tasks end.
static sl_err
s_gather(sl_client *c, s_mm *mm, char *errbuf)
{
    size_t tasks = (size_t) mm->blocks * mm->blocks, placed = 0;
    sl_err rv = SL_OK;
    while (rv == SL_OK && placed < tasks) {
        rv = sl_wait(c, mm->jobs, tasks, SL_ANY_COMPLETED, 3600 * 1000);
        if (rv != SL_OK) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "wait: %s", sl_client_errstr(c));
        }
        for (size_t t = 0; rv == SL_OK && t < tasks; t++) {
            if (!mm->placed[t] && sl_job_done(c, mm->jobs[t]) == 1) {
                rv = s_place_tile(c, mm, t, errbuf);
                placed++;
            }
        }
    }
    return rv;
}

// Release the tiles' tasks and the blocks' refs.
static void
s_tiles_release(sl_client *c, s_mm *mm)
{
    for (size_t t = 0; t < (size_t) mm->blocks * mm->blocks; t++) {
        if (mm->jobs[t].id != 0) {
            sl_job_release(c, mm->jobs[t]);
        }
        mm->jobs[t].id = 0;
        mm->placed[t] = false;
    }
    for (int i = 0; i < mm->blocks; i++) {
        if (mm->arow[i] != NULL) {
            sl_delete(c, mm->arow[i]); // now, not with the session
        }
        if (mm->bcol[i] != NULL) {
            sl_delete(c, mm->bcol[i]);
        }
        sl_value_destroy(&mm->arow[i]);
        sl_value_destroy(&mm->bcol[i]);
    }
}

// The largest relative error of c_dist against c_ref, over the entries
// that are not tiny (the relative error of a near-zero entry says
// nothing).
static double
s_max_rel_error(const s_mm *mm)
{
    double max_rel = 0;
    for (size_t i = 0; i < (size_t) mm->n * mm->n; i++) {
        double ref = fabs(mm->c_ref[i]);
        double rel = fabs(mm->c_dist[i] - mm->c_ref[i]) / ref;
        if (ref > 1e-6 && rel > max_rel) {
            max_rel = rel;
        }
    }
    return max_rel;
}

static void
s_mm_free(s_mm *mm)
{
    free(mm->arow);
    free(mm->bcol);
    free(mm->jobs);
    free(mm->placed);
    free(mm->a);
    free(mm->b);
    free(mm->c_dist);
    free(mm->c_ref);
}

static sl_err
s_mm_init(s_mm *mm, int n, int tile)
{
    size_t nn = (size_t) n * n;
    mm->n = n;
    mm->tile = tile;
    mm->blocks = n / tile;
    mm->a = malloc(nn * sizeof(double));
    mm->b = malloc(nn * sizeof(double));
    mm->c_dist = calloc(nn, sizeof(double));
    mm->c_ref = malloc(nn * sizeof(double));
    mm->arow = calloc((size_t) mm->blocks, sizeof(*mm->arow));
    mm->bcol = calloc((size_t) mm->blocks, sizeof(*mm->bcol));
    mm->jobs = calloc((size_t) mm->blocks * mm->blocks, sizeof(*mm->jobs));
    mm->placed = calloc((size_t) mm->blocks * mm->blocks, sizeof(bool));
    if (mm->a == NULL || mm->b == NULL || mm->c_dist == NULL ||
        mm->c_ref == NULL || mm->arow == NULL || mm->bcol == NULL ||
        mm->jobs == NULL || mm->placed == NULL) {
        return SL_ENOMEM;
    }
    s_fill_random(mm->a, nn, 1);
    s_fill_random(mm->b, nn, 2);
    return SL_OK;
}

// Seconds of one multi-threaded cblas_dgemm of the same matrices, after a
// small one that starts OpenBLAS's threads.
static double
s_cblas_seconds(s_mm *mm)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 64, 64, 64, 1.0,
                mm->a, mm->n, mm->b, mm->n, 0.0, mm->c_ref, mm->n);
    double t0 = sl__mono();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mm->n, mm->n, mm->n,
                1.0, mm->a, mm->n, mm->b, mm->n, 0.0, mm->c_ref, mm->n);
    return sl__mono() - t0;
}

// The best of the rounds: seconds of each side, and the worst error.
typedef struct {
    double dist_s;  // starling, from the first put to the assembled C
    double ref_s;   // one cblas_dgemm
    double max_rel; // of starling's C against cblas's, over every round
} s_best;

static void
s_report(sl__bench_ctx *ctx, const s_mm *mm, const s_best *best,
         const char *metric)
{
    char settings[256];
    double flops = 2.0 * mm->n * (double) mm->n * mm->n;
    sl__bench_settings(ctx, &ctx->shape, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings),
                           "n=%d;tile=%d;tasks=%d;blas_threads=%d;rounds=%d",
                           mm->n, mm->tile, mm->blocks * mm->blocks,
                           openblas_get_num_threads(), ctx->rounds);
    sl__bench_result r = {"matmul",
                          metric,
                          flops / best->dist_s / 1e9,
                          flops / best->ref_s / 1e9,
                          "GFLOPS",
                          SL__BENCH_RATIO_GE,
                          0.80,
                          settings};
    sl__bench_report_add(ctx->report, &r);
    sl__bench_result e = {
        "matmul", "max_rel_error",    best->max_rel,   NAN,
        "",       SL__BENCH_VALUE_LE, S_MAX_REL_ERROR, settings};
    sl__bench_report_add(ctx->report, &e);
}

// One round: the distributed product (new puts, new tasks), then cblas.
static sl_err
s_round(sl_client *c, s_mm *mm, s_best *best, char *errbuf)
{
    memset(mm->c_dist, 0, (size_t) mm->n * mm->n * sizeof(double));
    double t0 = sl__mono();
    sl_err rv = s_put_and_submit(c, mm, errbuf);
    if (rv == SL_OK) {
        rv = s_gather(c, mm, errbuf);
    }
    double dist_s = sl__mono() - t0;
    s_tiles_release(c, mm);
    if (rv != SL_OK) {
        return rv;
    }
    double ref_s = s_cblas_seconds(mm);
    double max_rel = s_max_rel_error(mm);
    if (best->dist_s == 0 || dist_s < best->dist_s) {
        best->dist_s = dist_s;
    }
    if (best->ref_s == 0 || ref_s < best->ref_s) {
        best->ref_s = ref_s;
    }
    best->max_rel = max_rel > best->max_rel ? max_rel : best->max_rel;
    return SL_OK;
}

// One size: n x n matrices in 4 tiles, best of the rounds, reported as
// metric.
static sl_err
s_size(sl__bench_ctx *ctx, sl__bench_cluster *cl, int n, const char *metric,
       char errbuf[SL_ERRSTR_LEN])
{
    int tile = n / 2;
    s_mm mm = {0};
    s_best best = {0};
    sl_err rv = s_mm_init(&mm, n, tile);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "out of memory for n = %d", n);
    } else {
        sl__bench_say(ctx,
                      "   n=%d in %d tiles of %d, then one cblas_dgemm; best "
                      "of %d",
                      n, mm.blocks * mm.blocks, tile, ctx->rounds);
        for (int i = 0; i < ctx->rounds && rv == SL_OK; i++) {
            rv = s_round(cl->client, &mm, &best, errbuf);
        }
    }
    if (rv == SL_OK) {
        s_report(ctx, &mm, &best, metric);
        if (best.max_rel > S_MAX_REL_ERROR) {
            sl__fmt(errbuf, SL_ERRSTR_LEN,
                    "wrong product: max relative error %.3g", best.max_rel);
            rv = SL_EKERNEL;
        }
    }
    s_mm_free(&mm);
    return rv;
}

sl_err
sl__bench_matmul(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    sl__bench_cluster cl = {0};
    sl_err rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    if (rv == SL_OK) {
        rv = sl__bench_cluster_workers_start(&cl, &ctx->shape, 30000, errbuf);
    }
    // n = 4096 is "gflops"; the larger one, where data movement weighs
    // less against the O(n^3) work, "gflops_n8192".
    if (rv == SL_OK) {
        rv = s_size(ctx, &cl, ctx->quick ? 1024 : 4096, "gflops", errbuf);
    }
    if (rv == SL_OK && !ctx->quick) {
        rv = s_size(ctx, &cl, 8192, "gflops_n8192", errbuf);
    }
    sl__bench_cluster_stop(&cl);
    return rv;
}
