// matmul.c - a distributed blocked matrix multiply C = A.B whose tiles
// travel through the object store, checked against one cblas_dgemm.
//
// A is cut into row blocks A_i (tile x n) and B into column blocks B_j
// (n x tile); each is put into the store once. Task (i, j) runs
// blas.dgemm on refs to A_i and B_j, and its tile C_ij (tile x tile) goes
// back through the store. The program fetches the tiles, assembles C, and
// prints the GFLOPS (data movement included) beside a multi-threaded
// cblas_dgemm of the same matrices, and the max relative error.
//
// It puts every block, then maps, then fetches: the plainest way to write
// it. bench/matmul.c is the faster way (68 to 80 GFLOPS at n = 4096 on
// the development VM, where this gets about 44): it submits each tile as
// soon as its two blocks are stored, so that the workers compute while
// the rest is put, and places tiles as they end.
//
//   starling up && ./matmul [--n 2048] [--tile 512]
#include <starling/starling.h>

#include <cblas.h>
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

static void
fill_random(double *m, size_t count, uint64_t seed)
{
    for (size_t i = 0; i < count; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        m[i] = (double) (seed >> 11) / 9007199254740992.0 - 0.5;
    }
}

// Put rows x cols of m (row stride ld, starting at m) as an ndarray. It
// is made in the node's shared memory, so the put does not copy it again.
static sl_err
put_block(sl_client *c, const double *m, int rows, int cols, int ld,
          sl_value **ref)
{
    int64_t shape[2] = {rows, cols};
    sl_value *block = sl_value_new_ndarray_shared(c, SL_F64, 2, shape);
    double *dst = sl_ndarray_data(block);
    for (int r = 0; r < rows; r++) {
        memcpy(dst + (size_t) r * cols, m + (size_t) r * ld,
               (size_t) cols * sizeof(double));
    }
    sl_err rv = sl_put(c, block, ref);
    sl_value_destroy(&block);
    return rv;
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
        if (opt == 'n') {
            n = atoi(optarg);
        } else if (opt == 't') {
            tile = atoi(optarg);
        } else {
            fprintf(stderr, "usage: matmul [--n N] [--tile T]\n");
            return 2;
        }
    }
    if (n <= 0 || tile <= 0 || n % tile != 0) {
        fprintf(stderr, "matmul: n must be a positive multiple of tile\n");
        return 2;
    }
    int blocks = n / tile;
    size_t nn = (size_t) n * n;
    double *a = malloc(nn * sizeof(double));
    double *b = malloc(nn * sizeof(double));
    double *c_dist = calloc(nn, sizeof(double));
    double *c_ref = malloc(nn * sizeof(double));
    fill_random(a, nn, 1);
    fill_random(b, nn, 2);

    sl_client *cl;
    sl_err rv = sl_client_connect(&cl, NULL);
    if (rv != SL_OK) {
        fprintf(stderr, "matmul: connect: %s\n", sl_strerror(rv));
        return 1;
    }
    double t0 = now();
    // Row blocks of A and column blocks of B, each stored once.
    sl_value **arow = calloc((size_t) blocks, sizeof(*arow));
    sl_value **bcol = calloc((size_t) blocks, sizeof(*bcol));
    for (int i = 0; i < blocks && rv == SL_OK; i++) {
        rv = put_block(cl, a + (size_t) i * tile * n, tile, n, n, &arow[i]);
        if (rv == SL_OK) {
            rv = put_block(cl, b + (size_t) i * tile, n, tile, n, &bcol[i]);
        }
    }
    if (rv != SL_OK) {
        fprintf(stderr, "matmul: put: %s\n", sl_client_errstr(cl));
        return 1;
    }
    // One task per tile of C: {A: ref A_i, B: ref B_j}.
    size_t tasks = (size_t) blocks * blocks;
    sl_value **args = calloc(tasks, sizeof(*args));
    for (size_t t = 0; t < tasks; t++) {
        sl_value *ra = sl_value_copy(arow[t / blocks]);
        sl_value *rb = sl_value_copy(bcol[t % blocks]);
        args[t] = sl_value_new_map();
        sl_value_map_set(args[t], "A", &ra);
        sl_value_map_set(args[t], "B", &rb);
    }
    sl_job job;
    if ((rv = sl_map(cl, "blas.dgemm", args, tasks, NULL, &job)) != SL_OK ||
        (rv = sl_wait(cl, &job, 1, SL_ALL_COMPLETED, -1)) != SL_OK) {
        fprintf(stderr, "matmul: %s: %s\n", sl_strerror(rv),
                sl_client_errstr(cl));
        return 1;
    }
    // Fetch each tile and place it.
    for (size_t t = 0; t < tasks; t++) {
        const sl_value *ct;
        if (sl_job_value(cl, job, t, &ct) != SL_OK ||
            sl_ndarray_dim(ct, 0) != tile || sl_ndarray_dim(ct, 1) != tile) {
            const sl_result *r = sl_job_result(cl, job, t);
            fprintf(stderr, "matmul: tile %zu: %s\n", t,
                    r->error ? r->error : sl_client_errstr(cl));
            return 1;
        }
        const double *src = sl_ndarray_cdata(ct);
        size_t bi = t / blocks, bj = t % blocks;
        for (int r = 0; r < tile; r++) {
            memcpy(c_dist + (bi * tile + r) * n + bj * tile,
                   src + (size_t) r * tile, (size_t) tile * sizeof(double));
        }
    }
    double dist_s = now() - t0;
    sl_job_stats st;
    sl_job_stats_get(cl, job, &st);

    double t1 = now();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n,
                b, n, 0.0, c_ref, n);
    double ref_s = now() - t1;

    double max_rel = 0;
    for (size_t i = 0; i < nn; i++) {
        double d = fabs(c_dist[i] - c_ref[i]);
        double rel = d / (fabs(c_ref[i]) > 1e-12 ? fabs(c_ref[i]) : 1e-12);
        if (rel > max_rel && fabs(c_ref[i]) > 1e-6) {
            max_rel = rel;
        }
    }
    double flops = 2.0 * n * (double) n * n;
    printf("starling:  C = A.B, n = %d, %zu tiles of %d: %.2f GFLOPS "
           "(%.2f s, data movement included; kernels %.2f GFLOPS)\n",
           n, tasks, tile, flops / dist_s / 1e9, dist_s,
           st.flops / st.wall_s / 1e9);
    printf("cblas:     one multi-threaded cblas_dgemm: %.2f GFLOPS (%.2f s)\n",
           flops / ref_s / 1e9, ref_s);
    printf("ratio:     %.3f\n", ref_s / dist_s);
    printf("max relative error: %.3g\n", max_rel);

    sl_job_release(cl, job);
    for (size_t t = 0; t < tasks; t++) {
        sl_value_destroy(&args[t]);
    }
    for (int i = 0; i < blocks; i++) {
        sl_value_destroy(&arow[i]);
        sl_value_destroy(&bcol[i]);
    }
    free(args);
    free(arow);
    free(bcol);
    sl_client_destroy(&cl);
    free(a);
    free(b);
    free(c_dist);
    free(c_ref);
    return max_rel < 1e-9 ? 0 : 1;
}
