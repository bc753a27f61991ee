// cholesky.c - a right-looking tiled Cholesky factorization A = L.L^T of a
// symmetric positive definite matrix, submitted as one graph of tasks
// whose inputs are other tasks' results, checked against LAPACK's dpotrf
// of the same matrix.
//
// A is cut into t x t tiles of tile x tile (t = n / tile); only the lower
// triangle is used. For k = 0 .. t-1:
//
//   L_kk = dpotrf(A_kk)                              (blas.dpotrf)
//   L_ik = A_ik . L_kk^-T             for i > k      (blas.dtrsm, right)
//   A_ii = A_ii - L_ik . L_ik^T       for i > k      (blas.dsyrk)
//   A_ij = A_ij - L_ik . L_jk^T       for i > j > k  (blas.dgemm)
//
// Every tile the graph reads is the latest version of it: a ref to the
// block that was put, at first, then a future of the task that updated
// it. The whole graph goes out before anything has run; the scheduler
// holds each task until its inputs have ended and sends the results with
// it, so that no tile comes back to the program until the end, when it
// fetches the tiles of L. Each step's tasks of one kernel are one job, and
// the jobs on the critical path have a higher priority.
//
//   starling up && ./cholesky [--n 2048] [--tile 512]
#include <starling/starling.h>

#include <cblas.h>
#include <f77blas.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

// A symmetric matrix with a dominant diagonal, so positive definite.
static void
fill_spd(double *a, int n)
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

// Put tile (i, j) of a as an ndarray made in the node's shared memory.
static sl_value *
put_tile(sl_client *c, const double *a, int n, int tile, int i, int j)
{
    int64_t shape[2] = {tile, tile};
    sl_value *block = sl_value_new_ndarray_shared(c, SL_F64, 2, shape);
    double *dst = sl_ndarray_data(block);
    for (int r = 0; r < tile; r++) {
        memcpy(dst + (size_t) r * tile,
               a + ((size_t) i * tile + r) * n + (size_t) j * tile,
               (size_t) tile * sizeof(double));
    }
    sl_value *ref = NULL;
    if (sl_put(c, block, &ref) != SL_OK) {
        fprintf(stderr, "cholesky: put: %s\n", sl_client_errstr(c));
        exit(1);
    }
    sl_value_destroy(&block);
    return ref;
}

static void
set(sl_value *m, const char *key, sl_value *v)
{
    sl_value_map_set(m, key, &v);
}

// The graph's jobs, kept to wait on, and how many tiles of each are still
// the latest version of their tile.
typedef struct {
    sl_job *jobs;
    int *latest;
    int n;         // in jobs
    int submitted; // jobs in all
} graph;

// Submit n tasks of function at priority; returns the job, added to g.
static sl_job
submit(sl_client *c, graph *g, const char *function, sl_value **args, int n,
       int priority)
{
    sl_job job = {0};
    sl_job_opts opts = {.priority = priority};
    if (n == 0) {
        return job;
    }
    if (sl_map(c, function, args, (size_t) n, &opts, &job) != SL_OK) {
        fprintf(stderr, "cholesky: %s: %s\n", function, sl_client_errstr(c));
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        sl_value_destroy(&args[i]);
    }
    g->latest[g->n] = n;
    g->jobs[g->n++] = job;
    g->submitted++;
    return job;
}

// Tile (i, j) is now task index of job: its latest version. A job none of
// whose tiles is the latest any more is released at once: the tasks
// submitted already that take its tiles keep them until they end, and then
// their memory in the node's tier is reused for the tiles to come.
static void
advance(sl_client *c, graph *g, sl_value **cur, int t, int i, int j, sl_job job,
        int index)
{
    sl_value *old = cur[i * t + j];
    for (int q = 0; sl_value_type(old) == SL_FUTURE && q < g->n; q++) {
        if (g->jobs[q].id == sl_future_job(old) && --g->latest[q] == 0) {
            sl_job_release(c, g->jobs[q]);
            g->jobs[q] = g->jobs[--g->n]; // released: not waited on
            g->latest[q] = g->latest[g->n];
            break;
        }
    }
    sl_value_destroy(&cur[i * t + j]);
    cur[i * t + j] = sl_value_new_future(job, (size_t) index);
}

// The trailing update of step k, of the tiles (i, j) with j in [j0, j1):
// dsyrk on the diagonal ones, dgemm below it, as two jobs at priority.
static void
update(sl_client *c, graph *g, sl_value **cur, sl_value **args, int t, int k,
       int j0, int j1, int priority)
{
    int n = 0;
    for (int i = j0; i < j1; i++) {
        sl_value *arg = sl_value_new_map();
        set(arg, "A", sl_value_copy(cur[i * t + k]));
        set(arg, "C", sl_value_copy(cur[i * t + i]));
        set(arg, "alpha", sl_value_new_float(-1));
        args[n++] = arg;
    }
    sl_job syrk = submit(c, g, "blas.dsyrk", args, n, priority);
    for (int i = j0, x = 0; i < j1; i++) {
        advance(c, g, cur, t, i, i, syrk, x++);
    }
    n = 0;
    for (int j = j0; j < j1; j++) {
        for (int i = j + 1; i < t; i++) {
            sl_value *arg = sl_value_new_map();
            set(arg, "A", sl_value_copy(cur[i * t + k]));
            set(arg, "B", sl_value_copy(cur[j * t + k]));
            set(arg, "C", sl_value_copy(cur[i * t + j]));
            set(arg, "alpha", sl_value_new_float(-1));
            set(arg, "transb", sl_value_new_bool(true));
            args[n++] = arg;
        }
    }
    sl_job gemm = submit(c, g, "blas.dgemm", args, n, priority);
    for (int j = j0, x = 0; j < j1; j++) {
        for (int i = j + 1; i < t; i++) {
            advance(c, g, cur, t, i, j, gemm, x++);
        }
    }
}

int
main(int argc, char **argv)
{
    int n = 2048, tile = 512;
    static const struct option longopts[] = {
        {"n", required_argument, NULL, 'n'},
        {"tile", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            n = atoi(optarg);
            break;
        case 't':
            tile = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: cholesky [--n N] [--tile T]\n");
            return 2;
        }
    }
    if (n <= 0 || tile <= 0 || n % tile != 0) {
        fprintf(stderr, "cholesky: n must be a positive multiple of tile\n");
        return 2;
    }
    int t = n / tile;
    sl_client *c;
    if (sl_client_connect(&c, NULL) != SL_OK) {
        fprintf(stderr, "cholesky: no cluster (starling up?)\n");
        return 1;
    }
    double *a = malloc((size_t) n * n * sizeof(double));
    double *ref = malloc((size_t) n * n * sizeof(double));
    fill_spd(a, n);
    memcpy(ref, a, (size_t) n * n * sizeof(double)); // for LAPACK, below

    // cur[i * t + j]: the latest version of tile (i, j), i >= j: a ref or
    // a future. Each is owned here and copied into the arguments.
    sl_value **cur = calloc((size_t) t * t, sizeof(*cur));
    sl_value **puts = calloc((size_t) t * t, sizeof(*puts)); // to delete
    sl_value **args = calloc((size_t) t * t, sizeof(*args));
    graph g = {calloc((size_t) 6 * t, sizeof(sl_job)),
               calloc((size_t) 6 * t, sizeof(int)), 0, 0};
    double t0 = now();
    for (int i = 0; i < t; i++) {
        for (int j = 0; j <= i; j++) {
            puts[i * t + j] = put_tile(c, a, n, tile, i, j);
            cur[i * t + j] = sl_value_copy(puts[i * t + j]);
        }
    }
    // The panel of each step (dpotrf, dtrsm) and the update of the next
    // step's panel column go first (priority 9 and 8): the critical path.
    // The rest of the trailing update (priority 0) fills the slots between.
    for (int k = 0; k < t; k++) {
        sl_value *arg = sl_value_new_map();
        set(arg, "A", sl_value_copy(cur[k * t + k]));
        args[0] = arg;
        advance(c, &g, cur, t, k, k, submit(c, &g, "blas.dpotrf", args, 1, 9),
                0);
        for (int i = k + 1; i < t; i++) {
            arg = sl_value_new_map();
            set(arg, "A", sl_value_copy(cur[k * t + k]));
            set(arg, "B", sl_value_copy(cur[i * t + k]));
            set(arg, "side", sl_value_new_str("right"));
            set(arg, "transa", sl_value_new_bool(true));
            args[i - k - 1] = arg;
        }
        sl_job trsm = submit(c, &g, "blas.dtrsm", args, t - k - 1, 9);
        for (int i = k + 1; i < t; i++) {
            advance(c, &g, cur, t, i, k, trsm, i - k - 1);
        }
        if (k + 1 < t) {
            update(c, &g, cur, args, t, k, k + 1, k + 2, 8);
            update(c, &g, cur, args, t, k, k + 2, t, 0);
        }
    }
    if (sl_wait(c, g.jobs, (size_t) g.n, SL_ALL_COMPLETED, -1) != SL_OK) {
        fprintf(stderr, "cholesky: wait: %s\n", sl_client_errstr(c));
        return 1;
    }
    // The tiles of L, over A's lower triangle, as LAPACK leaves them: each
    // is the last result of its tile.
    double *l = a;
    for (int i = 0; i < t; i++) {
        for (int j = 0; j <= i; j++) {
            const sl_value *fut = cur[i * t + j];
            sl_job job = {sl_future_job(fut)};
            size_t index = (size_t) sl_future_index(fut);
            const sl_result *r = sl_job_result(c, job, index);
            const sl_value *v;
            if (r->status != SL_TASK_OK ||
                sl_job_value(c, job, index, &v) != SL_OK) {
                fprintf(stderr, "cholesky: tile (%d, %d): %s\n", i, j,
                        r->error != NULL ? r->error : sl_client_errstr(c));
                return 1;
            }
            const double *src = sl_ndarray_cdata(v);
            for (int row = 0; row < tile; row++) {
                memcpy(l + ((size_t) i * tile + row) * n + (size_t) j * tile,
                       src + (size_t) row * tile,
                       (size_t) tile * sizeof(double));
            }
        }
    }
    double dist_s = now() - t0;

    // LAPACK on the same matrix, in place on its copy (row-major lower is
    // column-major upper).
    blasint nn = n, info = 0;
    char uplo = 'U';
    double t1 = now();
    dpotrf_(&uplo, &nn, ref, &nn, &info);
    double ref_s = now() - t1;
    double max_rel = 0, scale = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
            double x = fabs(ref[(size_t) i * n + j]);
            scale = x > scale ? x : scale;
        }
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
            double d = fabs(l[(size_t) i * n + j] - ref[(size_t) i * n + j]);
            max_rel = d / scale > max_rel ? d / scale : max_rel;
        }
    }
    double flops = (double) n * n * n / 3;
    printf("starling:  L.L^T = A, n = %d, %dx%d tiles of %d, %d jobs: "
           "%.2f GFLOPS (%.2f s, data movement included)\n",
           n, t, t, tile, g.submitted, flops / dist_s / 1e9, dist_s);
    printf("lapack:    one multi-threaded dpotrf: %.2f GFLOPS (%.2f s)\n",
           flops / ref_s / 1e9, ref_s);
    printf("ratio:     %.3f\n", ref_s / dist_s);
    printf("max relative error: %.3g\n", max_rel);
    for (int i = 0; i < g.n; i++) {
        sl_job_release(c, g.jobs[i]);
    }
    for (int i = 0; i < t * t; i++) {
        if (puts[i] != NULL) {
            sl_delete(c, puts[i]);
        }
        sl_value_destroy(&puts[i]);
        sl_value_destroy(&cur[i]);
    }
    free(puts);
    free(cur);
    free(args);
    free(g.jobs);
    free(g.latest);
    free(a);
    free(ref);
    sl_client_destroy(&c);
    return info == 0 && max_rel < 1e-10 ? 0 : 1;
}
