// bench.c - the built-in "bench" kernels: gemm_flops, PyWren's FLOPS
// benchmark, which multiplies random n x n matrices in place.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The matrices are made on the worker, so the benchmark measures compute
//   alone: a task moves a few bytes of arguments and result.
// - A and B are filled by splitmix64 seeded from (job, index): each task is
//   reproducible, and tasks of one job multiply different matrices.
// - Only the gemm loop is timed; filling the matrices is not.
// - The worker sets the number of OpenBLAS threads once at start-up.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "../registry.h"

#define S_MAX_N 16384
#define S_MAX_REPS 1000

// One run of the benchmark.
typedef struct {
    int n;           // the matrices' order
    int reps;        // gemms to run
    sl_dtype dtype;  // SL_F64 or SL_F32
    void *a, *b, *c; // n x n row-major matrices, 64-byte aligned; owned
    double seconds;  // wall time of the gemm loop
} s_bench;

static int
s_read_args(sl_task *t, s_bench *b)
{
    int64_t n = sl_task_arg_int(t, "n", 0);
    int64_t reps = sl_task_arg_int(t, "reps", 1);
    const char *dtype = sl_task_arg_str(t, "dtype", "f64");
    if (n < 1 || n > S_MAX_N) {
        return sl_task_fail(t, "bench.gemm_flops: n must be 1..%d, got %lld",
                            S_MAX_N, (long long) n);
    }
    if (reps < 1 || reps > S_MAX_REPS) {
        return sl_task_fail(t, "bench.gemm_flops: reps must be 1..%d, got %lld",
                            S_MAX_REPS, (long long) reps);
    }
    if (strcmp(dtype, "f64") != 0 && strcmp(dtype, "f32") != 0) {
        return sl_task_fail(
            t, "bench.gemm_flops: dtype must be \"f64\" or \"f32\", got \"%s\"",
            dtype);
    }
    b->n = (int) n;
    b->reps = (int) reps;
    b->dtype = strcmp(dtype, "f32") == 0 ? SL_F32 : SL_F64;
    return 0;
}

static uint64_t
s_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

// Fill n elements of dtype at p with uniform numbers in [-1, 1).
static void
s_fill(sl_dtype dtype, void *p, size_t n, uint64_t *state)
{
    for (size_t i = 0; i < n; i++) {
        double x = (double) (s_splitmix64(state) >> 11) * 0x1p-52 - 1.0;
        if (dtype == SL_F64) {
            ((double *) p)[i] = x;
        } else {
            ((float *) p)[i] = (float) x;
        }
    }
}

static int
s_alloc(sl_task *t, s_bench *b)
{
    size_t count = (size_t) b->n * (size_t) b->n;
    size_t bytes = count * sl_dtype_size(b->dtype);
    size_t rounded = (bytes + 63) / 64 * 64;
    b->a = aligned_alloc(64, rounded);
    b->b = aligned_alloc(64, rounded);
    b->c = aligned_alloc(64, rounded);
    if (b->a == NULL || b->b == NULL || b->c == NULL) {
        return sl_task_fail(t,
                            "bench.gemm_flops: cannot allocate three %dx%d "
                            "%s matrices (%.2f GiB)",
                            b->n, b->n, sl_dtype_name(b->dtype),
                            3.0 * (double) bytes / (1u << 30));
    }
    uint64_t state =
        sl_task_job_id(t) * 0x9e3779b97f4a7c15u ^ (uint64_t) sl_task_index(t);
    s_fill(b->dtype, b->a, count, &state);
    s_fill(b->dtype, b->b, count, &state);
    memset(b->c, 0, bytes);
    return 0;
}

static void
s_run(s_bench *b)
{
    int n = b->n;
    double start = sl__mono();
    for (int r = 0; r < b->reps; r++) {
        if (b->dtype == SL_F64) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0,
                        b->a, n, b->b, n, 0.0, b->c, n);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
                        1.0f, b->a, n, b->b, n, 0.0f, b->c, n);
        }
    }
    b->seconds = sl__mono() - start;
}

// Set key in map to *v_p, a value just made (NULL: out of memory).
static sl_err
s_put(sl_value *map, const char *key, sl_value *v)
{
    sl_err rv = v != NULL ? sl_value_map_set(map, key, &v) : SL_ENOMEM;
    sl_value_destroy(&v);
    return rv;
}

// {n, reps, dtype, flops, seconds, gflops}, or NULL on ENOMEM.
static sl_value *
s_result(const s_bench *b, double flops)
{
    sl_value *map = sl_value_new_map();
    double gflops = b->seconds > 0 ? flops / b->seconds / 1e9 : 0;
    if (map == NULL || s_put(map, "n", sl_value_new_int(b->n)) != SL_OK ||
        s_put(map, "reps", sl_value_new_int(b->reps)) != SL_OK ||
        s_put(map, "dtype", sl_value_new_str(sl_dtype_name(b->dtype))) !=
            SL_OK ||
        s_put(map, "flops", sl_value_new_int((int64_t) flops)) != SL_OK ||
        s_put(map, "seconds", sl_value_new_float(b->seconds)) != SL_OK ||
        s_put(map, "gflops", sl_value_new_float(gflops)) != SL_OK) {
        sl_value_destroy(&map);
    }
    return map;
}

static int
s_gemm_flops(sl_task *t)
{
    s_bench b = {0};
    int rc = -1;
    if (s_read_args(t, &b) != 0 || s_alloc(t, &b) != 0) {
        goto done;
    }
    s_run(&b);
    double flops = 2.0 * b.n * (double) b.n * b.n * b.reps;
    sl_value *result = s_result(&b, flops);
    if (result == NULL) {
        sl_task_fail(t, "bench.gemm_flops: out of memory");
        goto done;
    }
    sl_task_add_flops(t, flops);
    rc = sl_task_set_result(t, &result);

done:
    free(b.a);
    free(b.b);
    free(b.c);
    return rc;
}

static const sl_kernel_def s_kernels[] = {
    {"gemm_flops", s_gemm_flops, "n:int,reps:int?,dtype:str?",
     "reps (default 1) gemms of random n x n f64 or f32 matrices; returns "
     "{n, reps, dtype, flops, seconds, gflops}"},
};

const sl_module_def sl__module_bench = {
    SL_KERNEL_ABI_VERSION,
    "bench",
    s_kernels,
    sizeof(s_kernels) / sizeof(s_kernels[0]),
};
