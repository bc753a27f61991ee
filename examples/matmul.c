// matmul.c - a distributed blocked matrix multiply C = A.B as a graph of
// tasks: partial products, and sums of them, checked against one
// cblas_dgemm.
//
// A and B are cut into tiles of tile x tile, each put once (made in the
// node's shared memory, so not copied again). Task (i, j, k) of one
// blas.dgemm job multiplies A_ik by B_kj; task (i, j) of one sys.sum job
// adds the partial products of C_ij, which it names by futures: the
// scheduler holds it until they have ended and sends their refs with it,
// and the partial products stay in the node's tier. The program submits
// both jobs at once, then fetches the tiles of C (and nothing else),
// assembles C, and prints the GFLOPS (data movement included) beside a
// multi-threaded cblas_dgemm of the same matrices, and the max relative
// error.
//
// It is the plainest way to write it; bench/matmul.c is the faster one
// (one dgemm per tile of C over row and column blocks, each task
// submitted as soon as its blocks are stored, and tiles placed as they
// end).
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
    // Tiles of A and B, each stored once: A_ik at ta[i * blocks + k].
    size_t n_tiles = (size_t) blocks * blocks;
    sl_value **ta = calloc(n_tiles, sizeof(*ta));
    sl_value **tb = calloc(n_tiles, sizeof(*tb));
    for (size_t t = 0; t < n_tiles && rv == SL_OK; t++) {
        size_t off = (t / blocks) * tile * n + (t % blocks) * tile;
        rv = put_block(cl, a + off, tile, tile, n, &ta[t]);
        if (rv == SL_OK) {
            rv = put_block(cl, b + off, tile, tile, n, &tb[t]);
        }
    }
    if (rv != SL_OK) {
        fprintf(stderr, "matmul: put: %s\n", sl_client_errstr(cl));
        return 1;
    }
    // The partial products: task (i * blocks + j) * blocks + k is
    // {A: A_ik, B: B_kj}.
    size_t tasks = n_tiles * blocks;
    sl_value **args = calloc(tasks, sizeof(*args));
    for (size_t t = 0; t < tasks; t++) {
        size_t i = t / blocks / blocks, j = t / blocks % blocks, k = t % blocks;
        sl_value *ra = sl_value_copy(ta[i * blocks + k]);
        sl_value *rb = sl_value_copy(tb[k * blocks + j]);
        args[t] = sl_value_new_map();
        sl_value_map_set(args[t], "A", &ra);
        sl_value_map_set(args[t], "B", &rb);
    }
    sl_job products, job;
    if ((rv = sl_map(cl, "blas.dgemm", args, tasks, NULL, &products)) !=
        SL_OK) {
        fprintf(stderr, "matmul: %s\n", sl_client_errstr(cl));
        return 1;
    }
    // Their sums: tile (i, j) of C is {values: [the products of C_ij]}.
    sl_value **sums = calloc(n_tiles, sizeof(*sums));
    for (size_t t = 0; t < n_tiles; t++) {
        sl_value *list = sl_value_new_list();
        for (int k = 0; k < blocks; k++) {
            sl_value *f = sl_value_new_future(products, t * blocks + k);
            sl_value_list_append(list, &f);
        }
        sums[t] = sl_value_new_map();
        sl_value_map_set(sums[t], "values", &list);
    }
    if ((rv = sl_map(cl, "sys.sum", sums, n_tiles, NULL, &job)) != SL_OK) {
        fprintf(stderr, "matmul: %s\n", sl_client_errstr(cl));
        return 1;
    }
    sl_job_release(cl, products); // kept for the sums, then freed
    if ((rv = sl_wait(cl, &job, 1, SL_ALL_COMPLETED, -1)) != SL_OK) {
        fprintf(stderr, "matmul: %s: %s\n", sl_strerror(rv),
                sl_client_errstr(cl));
        return 1;
    }
    // Fetch each tile of C and place it.
    for (size_t t = 0; t < n_tiles; t++) {
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

    double t1 = now();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n,
                b, n, 0.0, c_ref, n);
    double ref_s = now() - t1;

    // The largest difference over the largest element: the sums add the
    // partial products in another order than one dgemm does.
    double max_rel = 0, scale = 0;
    for (size_t i = 0; i < nn; i++) {
        scale = fabs(c_ref[i]) > scale ? fabs(c_ref[i]) : scale;
        double d = fabs(c_dist[i] - c_ref[i]);
        max_rel = d > max_rel ? d : max_rel;
    }
    max_rel = scale > 0 ? max_rel / scale : max_rel;
    double flops = 2.0 * n * (double) n * n;
    printf("starling:  C = A.B, n = %d, tiles of %d: %zu products and %zu "
           "sums, %.2f GFLOPS (%.2f s, data movement included)\n",
           n, tile, tasks, n_tiles, flops / dist_s / 1e9, dist_s);
    printf("cblas:     one multi-threaded cblas_dgemm: %.2f GFLOPS (%.2f s)\n",
           flops / ref_s / 1e9, ref_s);
    printf("ratio:     %.3f\n", ref_s / dist_s);
    printf("max relative error: %.3g\n", max_rel);

    sl_job_release(cl, job);
    for (size_t t = 0; t < tasks; t++) {
        sl_value_destroy(&args[t]);
    }
    for (size_t t = 0; t < n_tiles; t++) {
        sl_delete(cl, ta[t]);
        sl_delete(cl, tb[t]);
        sl_value_destroy(&ta[t]);
        sl_value_destroy(&tb[t]);
        sl_value_destroy(&sums[t]);
    }
    free(args);
    free(sums);
    free(ta);
    free(tb);
    sl_client_destroy(&cl);
    free(a);
    free(b);
    free(c_dist);
    free(c_ref);
    return max_rel < 1e-9 ? 0 : 1;
}
