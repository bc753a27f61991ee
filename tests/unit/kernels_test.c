// kernels_test.c - the built-in kernels (sys, blas, bench) run as the worker
// runs them: found in the registry, called by sl__kernel_run on a task.
// SPDX-License-Identifier: MIT
#include <cblas.h>
#include <math.h>

#include "testutil.h"
#include "worker/registry.h"

static sl__registry *s_reg;

// ---------------------------------------------------------------------
// Helpers.

static void
s_set(sl_value *map, const char *key, sl_value *v)
{
    SL_ASSERT(v != NULL);
    SL_PASS(sl_value_map_set(map, key, &v));
}

static void
s_append(sl_value *list, sl_value *v)
{
    SL_ASSERT(v != NULL);
    SL_PASS(sl_value_list_append(list, &v));
}

// A map of one entry.
static sl_value *
s_map1(const char *key, sl_value *v)
{
    sl_value *map = sl_value_new_map();
    s_set(map, key, v);
    return map;
}

// Uniform in [-1, 1), reproducible from the seed.
static double
s_rand(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return (double) (*state >> 11) * 0x1p-52 - 1.0;
}

// A random array of shape rows x cols (cols 0: a vector of rows).
static sl_value *
s_random(sl_dtype dtype, int64_t rows, int64_t cols, uint64_t seed)
{
    int64_t shape[2] = {rows, cols};
    sl_value *v = sl_value_new_ndarray(dtype, cols > 0 ? 2 : 1, shape, NULL);
    SL_ASSERT(v != NULL);
    for (size_t i = 0; i < sl_ndarray_size(v); i++) {
        double x = s_rand(&seed);
        if (dtype == SL_F32) {
            ((float *) sl_ndarray_data(v))[i] = (float) x;
        } else if (dtype == SL_F64) {
            ((double *) sl_ndarray_data(v))[i] = x;
        } else if (dtype == SL_I32) {
            ((int32_t *) sl_ndarray_data(v))[i] = (int32_t) (x * 1000);
        } else {
            ((int64_t *) sl_ndarray_data(v))[i] = (int64_t) (x * 1000);
        }
    }
    return v;
}

// Run the kernel called name over args on t (the caller calls
// sl__task_fini).
static sl_err
s_run(const char *name, const sl_value *args, sl_task *t)
{
    const sl_kernel_def *k = sl__registry_find(s_reg, name);
    if (k == NULL) {
        SL_FAIL_AT("no kernel %s", name);
    }
    sl__task_init(t, 42, 7, 1, args);
    return sl__kernel_run(k, t);
}

// Run name over args, which must fail with a message containing want.
static void
s_run_fails(const char *name, sl_value *args, const char *want)
{
    sl_task t;
    SL_FAILS(s_run(name, args, &t), SL_EKERNEL);
    SL_ASSERT(t.failed);
    SL_ASSERT_HAS(t.error, want);
    SL_ASSERT(sl__task_take_result(&t) == NULL);
    sl__task_fini(&t);
}

static double
s_max_diff_f64(const double *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs(a[i] - b[i]));
    }
    return m;
}

static double
s_max_diff_f32(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        m = fmax(m, fabs((double) a[i] - (double) b[i]));
    }
    return m;
}

// ---------------------------------------------------------------------
// sys

static void
test_sys_noop(void)
{
    sl_task t;
    SL_PASS(s_run("sys.noop", NULL, &t));
    SL_ASSERT(!t.failed);
    SL_ASSERT(sl__task_take_result(&t) == NULL); // nil
    sl__task_fini(&t);

    sl_value *args = sl_value_new_map();
    SL_PASS(s_run("sys.noop", args, &t));
    sl__task_fini(&t);
    s_set(args, "x", sl_value_new_int(1));
    s_run_fails("sys.noop", args, "unexpected argument 'x'");
    sl_value_destroy(&args);
}

static void
test_sys_echo(void)
{
    sl_value *args = s_map1("s", sl_value_new_str("hello"));
    sl_value *list = sl_value_new_list();
    s_append(list, sl_value_new_int(5));
    s_append(list, s_random(SL_F64, 3, 2, 1));
    s_set(args, "list", list);
    sl_task t;
    SL_PASS(s_run("sys.echo", args, &t));
    sl_value *got = sl__task_take_result(&t);
    SL_ASSERT(got != NULL && got != args);
    SL_ASSERT_STR(sl_value_str(sl_value_map_get(got, "s"), NULL), "hello");
    const sl_value *l = sl_value_map_get(got, "list");
    SL_ASSERT_EQ(sl_value_list_size(l), 2);
    SL_ASSERT_EQ(sl_value_int(sl_value_list_at(l, 0)), 5);
    const sl_value *a = sl_value_list_at(l, 1);
    const sl_value *want = sl_value_list_at(sl_value_map_get(args, "list"), 1);
    SL_ASSERT(sl_ndarray_cdata(a) != sl_ndarray_cdata(want)); // a deep copy
    SL_ASSERT(memcmp(sl_ndarray_cdata(a), sl_ndarray_cdata(want), 48) == 0);
    sl_value_destroy(&got);
    sl__task_fini(&t);
    sl_value_destroy(&args);

    // Any value, not only maps; nil echoes nil.
    sl_value *i = sl_value_new_int(9);
    SL_PASS(s_run("sys.echo", i, &t));
    SL_ASSERT_EQ(sl_value_int(t.result), 9);
    sl__task_fini(&t);
    sl_value_destroy(&i);
    SL_PASS(s_run("sys.echo", NULL, &t));
    SL_ASSERT(t.result == NULL);
    sl__task_fini(&t);
}

static void
test_sys_sleep(void)
{
    sl_value *args = s_map1("ms", sl_value_new_int(30));
    sl_task t;
    double start = sl__mono();
    SL_PASS(s_run("sys.sleep", args, &t));
    SL_ASSERT(sl__mono() - start >= 0.029);
    SL_ASSERT(t.result == NULL);
    sl__task_fini(&t);

    s_set(args, "ms", sl_value_new_int(0));
    SL_PASS(s_run("sys.sleep", args, &t));
    sl__task_fini(&t);
    s_set(args, "ms", sl_value_new_int(-5));
    s_run_fails("sys.sleep", args, "ms must be >= 0, got -5");
    s_set(args, "ms", sl_value_new_str("10"));
    s_run_fails("sys.sleep", args, "argument 'ms': expected int, got str");
    s_set(args, "ms", sl_value_new_float(10));
    s_run_fails("sys.sleep", args, "argument 'ms': expected int, got float");
    s_run_fails("sys.sleep", NULL, "missing argument 'ms'");
    sl_value_destroy(&args);
}

static void
test_sys_fail(void)
{
    sl_value *args = s_map1("message", sl_value_new_str("boom at 42"));
    sl_task t;
    SL_FAILS(s_run("sys.fail", args, &t), SL_EKERNEL);
    SL_ASSERT_STR(t.error, "boom at 42");
    sl__task_fini(&t);
    SL_FAILS(s_run("sys.fail", NULL, &t), SL_EKERNEL);
    SL_ASSERT_STR(t.error, "sys.fail called");
    sl__task_fini(&t);
    // A '%' in the message is text, not a format.
    s_set(args, "message", sl_value_new_str("100%s done"));
    SL_FAILS(s_run("sys.fail", args, &t), SL_EKERNEL);
    SL_ASSERT_STR(t.error, "100%s done");
    sl__task_fini(&t);
    s_set(args, "message", sl_value_new_int(3));
    s_run_fails("sys.fail", args, "argument 'message': expected str, got int");
    sl_value_destroy(&args);
}

// {values: [items...]} with the given items.
static sl_value *
s_values(int n, sl_value **items)
{
    sl_value *list = sl_value_new_list();
    for (int i = 0; i < n; i++) {
        s_append(list, items[i]);
    }
    return s_map1("values", list);
}

static void
test_sys_sum_numbers(void)
{
    sl_task t;
    sl_value *args = s_values(0, NULL);
    SL_PASS(s_run("sys.sum", args, &t));
    SL_ASSERT_EQ(sl_value_type(t.result), SL_INT);
    SL_ASSERT_EQ(sl_value_int(t.result), 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);

    args = s_values(3, (sl_value *[]){sl_value_new_int(1), sl_value_new_int(2),
                                      sl_value_new_int(39)});
    SL_PASS(s_run("sys.sum", args, &t));
    SL_ASSERT_EQ(sl_value_type(t.result), SL_INT);
    SL_ASSERT_EQ(sl_value_int(t.result), 42);
    SL_ASSERT_EQ(t.flops, 0); // integer additions are not FLOPs
    sl__task_fini(&t);
    sl_value_destroy(&args);

    args =
        s_values(3, (sl_value *[]){sl_value_new_int(1), sl_value_new_float(0.5),
                                   sl_value_new_int(2)});
    SL_PASS(s_run("sys.sum", args, &t));
    SL_ASSERT_EQ(sl_value_type(t.result), SL_FLOAT);
    SL_ASSERT_NEAR(sl_value_float(t.result), 3.5, 0);
    SL_ASSERT_NEAR(t.flops, 2, 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);

    args = s_values(
        2, (sl_value *[]){sl_value_new_int(INT64_MAX), sl_value_new_int(1)});
    s_run_fails("sys.sum", args, "overflows int64");
    sl_value_destroy(&args);
}

static void
test_sys_sum_arrays(void)
{
    sl_value *a = s_random(SL_F64, 4, 5, 1), *b = s_random(SL_F64, 4, 5, 2);
    sl_value *args =
        s_values(3, (sl_value *[]){sl_value_copy(a), sl_value_copy(b),
                                   sl_value_copy(a)});
    sl_task t;
    SL_PASS(s_run("sys.sum", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dtype(t.result), SL_F64);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), 4);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 1), 5);
    const double *got = sl_ndarray_cdata(t.result);
    const double *x = sl_ndarray_cdata(a), *y = sl_ndarray_cdata(b);
    for (int i = 0; i < 20; i++) {
        SL_ASSERT_NEAR(got[i], 2 * x[i] + y[i], 1e-15);
    }
    SL_ASSERT_NEAR(t.flops, 2 * 20, 0);
    // The inputs are untouched.
    SL_ASSERT(memcmp(sl_ndarray_cdata(
                         sl_value_list_at(sl_value_map_get(args, "values"), 0)),
                     x, 160) == 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);

    sl_value *f = s_random(SL_F32, 4, 5, 3);
    args = s_values(2, (sl_value *[]){sl_value_copy(f), sl_value_copy(f)});
    SL_PASS(s_run("sys.sum", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dtype(t.result), SL_F32);
    SL_ASSERT_NEAR(((const float *) sl_ndarray_cdata(t.result))[7],
                   2 * ((const float *) sl_ndarray_cdata(f))[7], 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);

    sl_value *iv = s_random(SL_I64, 6, 0, 4);
    args = s_values(2, (sl_value *[]){sl_value_copy(iv), sl_value_copy(iv)});
    SL_PASS(s_run("sys.sum", args, &t));
    SL_ASSERT_EQ(((const int64_t *) sl_ndarray_cdata(t.result))[3],
                 2 * ((const int64_t *) sl_ndarray_cdata(iv))[3]);
    SL_ASSERT_EQ(t.flops, 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);

    int32_t big[2] = {INT32_MAX, 1};
    int64_t two = 2;
    args =
        s_values(2, (sl_value *[]){sl_value_new_ndarray(SL_I32, 1, &two, big),
                                   sl_value_new_ndarray(SL_I32, 1, &two, big)});
    s_run_fails("sys.sum", args, "i32 elements overflow at values[1]");
    sl_value_destroy(&args);

    sl_value_destroy(&a);
    sl_value_destroy(&b);
    sl_value_destroy(&f);
    sl_value_destroy(&iv);
}

static void
test_sys_sum_errors(void)
{
    sl_value *args = s_values(2, (sl_value *[]){s_random(SL_F64, 2, 3, 1),
                                                s_random(SL_F64, 3, 2, 1)});
    s_run_fails("sys.sum", args,
                "values[1] is f64 3x2 but values[0] is f64 2x3");
    sl_value_destroy(&args);
    args = s_values(2, (sl_value *[]){s_random(SL_F64, 4, 0, 1),
                                      s_random(SL_F32, 4, 0, 1)});
    s_run_fails("sys.sum", args, "values[1] is f32 4 but values[0] is f64 4");
    sl_value_destroy(&args);
    args = s_values(
        2, (sl_value *[]){s_random(SL_F64, 4, 0, 1), sl_value_new_int(1)});
    s_run_fails("sys.sum", args,
                "values[1] is an int but values[0] is an ndarray");
    sl_value_destroy(&args);
    args =
        s_values(2, (sl_value *[]){sl_value_new_int(1), sl_value_new_str("2")});
    s_run_fails("sys.sum", args, "values[1] is a str; only numbers");
    sl_value_destroy(&args);
    args = s_values(1, (sl_value *[]){sl_value_new_nil()});
    s_run_fails("sys.sum", args, "values[0] is nil");
    sl_value_destroy(&args);

    args = s_map1("values", sl_value_new_str("not a list"));
    s_run_fails("sys.sum", args, "argument 'values': expected list, got str");
    sl_value_destroy(&args);
    args = s_map1("valuez", sl_value_new_list());
    s_run_fails("sys.sum", args, "unexpected argument 'valuez'");
    sl_value_destroy(&args);
    s_run_fails("sys.sum", NULL, "missing argument 'values'");
}

// ---------------------------------------------------------------------
// blas

// dgemm through the kernel and through cblas_dgemm; the two must agree.
static void
s_check_dgemm(int m, int n, int k, bool transa, bool transb, bool with_c,
              double alpha, double beta)
{
    sl_value *a =
        transa ? s_random(SL_F64, k, m, 1) : s_random(SL_F64, m, k, 1);
    sl_value *b =
        transb ? s_random(SL_F64, n, k, 2) : s_random(SL_F64, k, n, 2);
    sl_value *c = s_random(SL_F64, m, n, 3);
    double *want = calloc((size_t) (m * n) + 1, sizeof(double));
    if (with_c) {
        memcpy(want, sl_ndarray_cdata(c), sl_ndarray_nbytes(c));
    }
    cblas_dgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                transb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                sl_ndarray_cdata(a), transa ? m : k, sl_ndarray_cdata(b),
                transb ? k : n, with_c ? beta : 0.0, want, n);

    sl_value *args = s_map1("A", sl_value_copy(a));
    s_set(args, "B", sl_value_copy(b));
    if (with_c) {
        s_set(args, "C", sl_value_copy(c));
        s_set(args, "beta", sl_value_new_float(beta));
    }
    s_set(args, "alpha", sl_value_new_float(alpha));
    s_set(args, "transa", sl_value_new_bool(transa));
    s_set(args, "transb", sl_value_new_bool(transb));
    sl_task t;
    SL_PASS(s_run("blas.dgemm", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dtype(t.result), SL_F64);
    SL_ASSERT_EQ(sl_ndarray_ndim(t.result), 2);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), m);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 1), n);
    SL_ASSERT(s_max_diff_f64(sl_ndarray_cdata(t.result), want,
                             (size_t) (m * n)) < 1e-12);
    double flops = 2.0 * m * n * k + (with_c && beta != 0 ? 2.0 * m * n : 0);
    SL_ASSERT_NEAR(t.flops, flops, 0);
    SL_ASSERT_EQ(t.bytes_read + t.bytes_written, 0); // the worker counts
    if (with_c) { // C is an input: the kernel returns a new array
        SL_ASSERT(memcmp(sl_ndarray_cdata(sl_value_map_get(args, "C")),
                         sl_ndarray_cdata(c), sl_ndarray_nbytes(c)) == 0);
    }
    sl__task_fini(&t);
    sl_value_destroy(&args);
    sl_value_destroy(&a);
    sl_value_destroy(&b);
    sl_value_destroy(&c);
    free(want);
}

static void
test_dgemm_matches_openblas(void)
{
    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            s_check_dgemm(37, 29, 53, ta, tb, false, 1.0, 0.0);
            s_check_dgemm(37, 29, 53, ta, tb, true, 1.5, 0.5);
            s_check_dgemm(8, 3, 1, ta, tb, true, -2.0, 0.0);
            s_check_dgemm(1, 1, 64, ta, tb, true, 0.25, -1.0);
        }
    }
}

static void
test_dgemm_defaults(void)
{
    // C without beta: beta is 1, so the product is added to C.
    sl_value *a = s_random(SL_F64, 3, 4, 1), *b = s_random(SL_F64, 4, 2, 2);
    sl_value *c = s_random(SL_F64, 3, 2, 3);
    double want[6];
    memcpy(want, sl_ndarray_cdata(c), sizeof(want));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 3, 2, 4, 1.0,
                sl_ndarray_cdata(a), 4, sl_ndarray_cdata(b), 2, 1.0, want, 2);
    sl_value *args = s_map1("A", a);
    s_set(args, "B", b);
    s_set(args, "C", c);
    s_set(args, "alpha", sl_value_new_int(1)); // float accepts an int
    sl_task t;
    SL_PASS(s_run("blas.dgemm", args, &t));
    SL_ASSERT(s_max_diff_f64(sl_ndarray_cdata(t.result), want, 6) < 1e-14);
    SL_ASSERT_NEAR(t.flops, 2.0 * 3 * 2 * 4 + 2.0 * 3 * 2, 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);
}

static void
test_dgemm_empty(void)
{
    // k = 0: C' = beta * C.
    sl_value *args = sl_value_new_map();
    int64_t shape[2] = {3, 0};
    s_set(args, "A", sl_value_new_ndarray(SL_F64, 2, shape, NULL));
    shape[0] = 0;
    shape[1] = 2;
    s_set(args, "B", sl_value_new_ndarray(SL_F64, 2, shape, NULL));
    sl_value *c = s_random(SL_F64, 3, 2, 5);
    s_set(args, "C", sl_value_copy(c));
    s_set(args, "beta", sl_value_new_float(0.5));
    sl_task t;
    SL_PASS(s_run("blas.dgemm", args, &t));
    for (int i = 0; i < 6; i++) {
        SL_ASSERT_NEAR(((const double *) sl_ndarray_cdata(t.result))[i],
                       0.5 * ((const double *) sl_ndarray_cdata(c))[i], 0);
    }
    sl__task_fini(&t);

    // m = 0: an empty 0 x 2 result.
    shape[0] = 0;
    shape[1] = 4;
    s_set(args, "A", sl_value_new_ndarray(SL_F64, 2, shape, NULL));
    s_set(args, "B", s_random(SL_F64, 4, 2, 1));
    shape[1] = 2;
    s_set(args, "C", sl_value_new_ndarray(SL_F64, 2, shape, NULL));
    SL_PASS(s_run("blas.dgemm", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), 0);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 1), 2);
    SL_ASSERT_EQ(t.flops, 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);
    sl_value_destroy(&c);
}

static void
test_sgemm_matches_openblas(void)
{
    int m = 33, n = 17, k = 65;
    sl_value *a = s_random(SL_F32, k, m, 7); // A^T stored
    sl_value *b = s_random(SL_F32, n, k, 8); // B^T stored
    sl_value *c = s_random(SL_F32, m, n, 9);
    float *want = malloc(sl_ndarray_nbytes(c));
    memcpy(want, sl_ndarray_cdata(c), sl_ndarray_nbytes(c));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, m, n, k, 0.5f,
                sl_ndarray_cdata(a), m, sl_ndarray_cdata(b), k, 2.0f, want, n);
    sl_value *args = s_map1("A", a);
    s_set(args, "B", b);
    s_set(args, "C", c);
    s_set(args, "alpha", sl_value_new_float(0.5));
    s_set(args, "beta", sl_value_new_float(2.0));
    s_set(args, "transa", sl_value_new_bool(true));
    s_set(args, "transb", sl_value_new_bool(true));
    sl_task t;
    SL_PASS(s_run("blas.sgemm", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dtype(t.result), SL_F32);
    SL_ASSERT(s_max_diff_f32(sl_ndarray_cdata(t.result), want,
                             (size_t) (m * n)) < 1e-5);
    SL_ASSERT_NEAR(t.flops, 2.0 * m * n * k + 2.0 * m * n, 0);
    sl__task_fini(&t);

    // sgemm wants f32 operands.
    s_set(args, "A", s_random(SL_F64, k, m, 7));
    s_run_fails("blas.sgemm", args, "blas.sgemm: A must be f32, got f64");
    sl_value_destroy(&args);
    free(want);
}

static void
test_dgemm_errors(void)
{
    sl_value *args = s_map1("A", s_random(SL_F64, 3, 4, 1));
    s_set(args, "B", s_random(SL_F64, 5, 2, 2));
    s_run_fails("blas.dgemm", args,
                "blas.dgemm: A is 3x4 but B is 5x2 (inner dimensions differ)");
    s_set(args, "transa", sl_value_new_bool(true));
    s_run_fails("blas.dgemm", args, "A^T is 4x3 but B is 5x2");
    s_set(args, "transb", sl_value_new_bool(true));
    s_run_fails("blas.dgemm", args, "A^T is 4x3 but B^T is 2x5");
    s_set(args, "transa", sl_value_new_bool(false));
    s_set(args, "transb", sl_value_new_bool(false));

    s_set(args, "B", s_random(SL_F64, 4, 2, 2));
    s_set(args, "C", s_random(SL_F64, 2, 2, 2));
    s_run_fails("blas.dgemm", args, "blas.dgemm: C is 2x2 but A*B is 3x2");
    s_set(args, "C", s_random(SL_F32, 3, 2, 2));
    s_run_fails("blas.dgemm", args, "blas.dgemm: C must be f64, got f32");
    s_set(args, "C", s_random(SL_F64, 3, 2, 2));
    s_set(args, "A", s_random(SL_F32, 3, 4, 1));
    s_run_fails("blas.dgemm", args, "blas.dgemm: A must be f64, got f32");
    s_set(args, "A", s_random(SL_F64, 7, 0, 1));
    s_run_fails("blas.dgemm", args, "blas.dgemm: A must be 2-D, got 1-D (7)");
    s_set(args, "A", s_random(SL_F64, 3, 4, 1));
    s_set(args, "B", sl_value_new_int(4));
    s_run_fails("blas.dgemm", args, "argument 'B': expected ndarray, got int");
    s_set(args, "B", s_random(SL_F64, 4, 2, 2));
    s_set(args, "alpha", sl_value_new_str("2"));
    s_run_fails("blas.dgemm", args,
                "argument 'alpha': expected float, got str");
    s_set(args, "alpha", sl_value_new_float(2));
    s_set(args, "transa", sl_value_new_int(1));
    s_run_fails("blas.dgemm", args,
                "argument 'transa': expected bool, got int");
    s_set(args, "transa", sl_value_new_bool(false));
    s_set(args, "D", sl_value_new_int(1));
    s_run_fails("blas.dgemm", args, "unexpected argument 'D'");
    sl_value_destroy(&args);

    args = s_map1("A", s_random(SL_F64, 3, 4, 1));
    s_run_fails("blas.dgemm", args, "missing argument 'B'");
    sl_value_destroy(&args);
    sl_value *list = sl_value_new_list();
    s_run_fails("blas.dgemm", list, "arguments must be a map, got list");
    sl_value_destroy(&list);
}

static void
s_check_dgemv(int m, int n, bool trans, bool with_y, double alpha, double beta)
{
    int xlen = trans ? m : n, ylen = trans ? n : m;
    sl_value *a = s_random(SL_F64, m, n, 1);
    sl_value *x = s_random(SL_F64, xlen, 0, 2);
    sl_value *y = s_random(SL_F64, ylen, 0, 3);
    double *want = calloc((size_t) ylen, sizeof(double));
    if (with_y) {
        memcpy(want, sl_ndarray_cdata(y), sl_ndarray_nbytes(y));
    }
    cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, m, n, alpha,
                sl_ndarray_cdata(a), n, sl_ndarray_cdata(x), 1,
                with_y ? beta : 0.0, want, 1);
    sl_value *args = s_map1("A", a);
    s_set(args, "x", x);
    if (with_y) {
        s_set(args, "y", sl_value_copy(y));
        s_set(args, "beta", sl_value_new_float(beta));
    }
    s_set(args, "alpha", sl_value_new_float(alpha));
    s_set(args, "trans", sl_value_new_bool(trans));
    sl_task t;
    SL_PASS(s_run("blas.dgemv", args, &t));
    SL_ASSERT_EQ(sl_ndarray_ndim(t.result), 1);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), ylen);
    SL_ASSERT(s_max_diff_f64(sl_ndarray_cdata(t.result), want, (size_t) ylen) <
              1e-13);
    SL_ASSERT_NEAR(t.flops, 2.0 * m * n, 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);
    sl_value_destroy(&y);
    free(want);
}

static void
test_dgemv(void)
{
    for (int trans = 0; trans < 2; trans++) {
        s_check_dgemv(41, 23, trans, false, 1.0, 0.0);
        s_check_dgemv(41, 23, trans, true, -0.5, 3.0);
    }
    sl_value *args = s_map1("A", s_random(SL_F64, 3, 4, 1));
    s_set(args, "x", s_random(SL_F64, 5, 0, 2));
    s_run_fails("blas.dgemv", args,
                "blas.dgemv: A is 3x4 but x has length 5 (want 4)");
    s_set(args, "trans", sl_value_new_bool(true));
    s_run_fails("blas.dgemv", args, "A^T is 4x3 but x has length 5 (want 3)");
    s_set(args, "x", s_random(SL_F64, 3, 0, 2));
    s_set(args, "y", s_random(SL_F64, 3, 0, 2));
    s_run_fails("blas.dgemv", args,
                "blas.dgemv: y has length 3 but A^T*x has length 4");
    s_set(args, "y", s_random(SL_F64, 4, 1, 2));
    s_run_fails("blas.dgemv", args, "blas.dgemv: y must be 1-D, got 2-D (4x1)");
    sl_value_destroy(&args);
}

static void
test_daxpy_ddot(void)
{
    int n = 1000;
    sl_value *x = s_random(SL_F64, n, 0, 4), *y = s_random(SL_F64, n, 0, 5);
    double *want = malloc(sl_ndarray_nbytes(y));
    memcpy(want, sl_ndarray_cdata(y), sl_ndarray_nbytes(y));
    cblas_daxpy(n, 2.5, sl_ndarray_cdata(x), 1, want, 1);
    double dot = cblas_ddot(n, sl_ndarray_cdata(x), 1, sl_ndarray_cdata(y), 1);

    sl_value *args = s_map1("x", x);
    s_set(args, "y", sl_value_copy(y));
    sl_task t;
    SL_PASS(s_run("blas.ddot", args, &t));
    SL_ASSERT_EQ(sl_value_type(t.result), SL_FLOAT);
    SL_ASSERT_NEAR(sl_value_float(t.result), dot, 1e-12);
    SL_ASSERT_NEAR(t.flops, 2.0 * n, 0);
    sl__task_fini(&t);

    s_set(args, "alpha", sl_value_new_float(2.5));
    SL_PASS(s_run("blas.daxpy", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), n);
    SL_ASSERT(s_max_diff_f64(sl_ndarray_cdata(t.result), want, (size_t) n) <
              1e-15);
    SL_ASSERT_NEAR(t.flops, 2.0 * n, 0);
    // y is an input: the kernel returns a new array.
    SL_ASSERT(memcmp(sl_ndarray_cdata(sl_value_map_get(args, "y")),
                     sl_ndarray_cdata(y), sl_ndarray_nbytes(y)) == 0);
    sl__task_fini(&t);

    s_set(args, "alpha", sl_value_new_int(1)); // the default
    SL_PASS(s_run("blas.daxpy", args, &t));
    SL_ASSERT_NEAR(((const double *) sl_ndarray_cdata(t.result))[9],
                   ((const double *) sl_ndarray_cdata(x))[9] +
                       ((const double *) sl_ndarray_cdata(y))[9],
                   1e-15);
    sl__task_fini(&t);

    s_run_fails("blas.ddot", args, "unexpected argument 'alpha'");
    s_set(args, "y", s_random(SL_F64, n - 1, 0, 5));
    s_run_fails("blas.daxpy", args,
                "blas.daxpy: x has length 1000 but y has length 999");
    s_set(args, "y", s_random(SL_I64, n, 0, 5));
    s_run_fails("blas.daxpy", args, "blas.daxpy: y must be f64, got i64");
    s_set(args, "y", s_random(SL_F64, 10, 100, 5));
    s_run_fails("blas.daxpy", args,
                "blas.daxpy: y must be 1-D, got 2-D (10x100)");
    sl_value_destroy(&args);
    args = s_map1("x", s_random(SL_F64, 3, 0, 1));
    s_run_fails("blas.ddot", args, "missing argument 'y'");
    s_set(args, "y", s_random(SL_F64, 4, 0, 1));
    s_run_fails("blas.ddot", args,
                "blas.ddot: x has length 3 but y has length 4");
    sl_value_destroy(&args);
    free(want);
    sl_value_destroy(&y);
}

// ---------------------------------------------------------------------
// The tiles of a blocked Cholesky: dpotrf, dtrsm, dsyrk (and dgemm)

// Run name over args, which the call destroys, and return its result;
// the kernel must succeed.
static sl_value *
s_result(const char *name, sl_value *args)
{
    sl_task t;
    if (s_run(name, args, &t) != SL_OK) {
        SL_FAIL_AT("%s failed: %s", name, t.error);
    }
    sl_value *r = sl__task_take_result(&t);
    SL_ASSERT(r != NULL);
    sl__task_fini(&t);
    sl_value_destroy(&args);
    return r;
}

// A rows x cols f64 matrix of zeros; either extent may be 0.
static sl_value *
s_zeros(int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    sl_value *v = sl_value_new_ndarray(SL_F64, 2, shape, NULL);
    SL_ASSERT(v != NULL);
    return v;
}

// The largest |got - want| over the largest |want|.
static double
s_rel_diff(const double *got, const double *want, size_t n)
{
    double scale = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(want[i]));
    }
    return s_max_diff_f64(got, want, n) / (scale > 0 ? scale : 1);
}

// An n x n symmetric positive definite matrix, M*M^T + n*I for a random M.
static sl_value *
s_spd(int n, uint64_t seed)
{
    sl_value *m = s_random(SL_F64, n, n, seed);
    sl_value *a = s_zeros(n, n);
    const double *x = sl_ndarray_cdata(m);
    double *y = sl_ndarray_data(a);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double sum = i == j ? n : 0;
            for (int p = 0; p < n; p++) {
                sum += x[i * n + p] * x[j * n + p];
            }
            y[i * n + j] = sum;
        }
    }
    sl_value_destroy(&m);
    return a;
}

// The lower Cholesky factor of the n x n SPD matrix a into l, zero above
// the diagonal, by the textbook loops (Cholesky-Banachiewicz).
static void
s_ref_cholesky(const double *a, int n, double *l)
{
    memset(l, 0, (size_t) n * n * sizeof(double));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j <= i; j++) {
            double sum = a[i * n + j];
            for (int p = 0; p < j; p++) {
                sum -= l[i * n + p] * l[j * n + p];
            }
            l[i * n + j] = i == j ? sqrt(sum) : sum / l[j * n + j];
        }
    }
}

// Fill the triangle of the n x n matrix a that a kernel must not read
// (above the diagonal when lower, else below; the diagonal too with
// diagonal) with NaN, so that reading it shows in the result.
static void
s_poison_triangle(sl_value *a, bool lower, bool diagonal)
{
    int n = (int) sl_ndarray_dim(a, 0);
    double *x = sl_ndarray_data(a);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            if ((lower ? j > i : j < i) || (diagonal && i == j)) {
                x[i * n + j] = NAN;
            }
        }
    }
}

static void
s_check_dpotrf(int n, bool lower, bool pass_lower)
{
    sl_value *a = s_spd(n, 11);
    double *l = malloc((size_t) n * n * sizeof(double) + 1);
    s_ref_cholesky(sl_ndarray_cdata(a), n, l);
    sl_value *arg = sl_value_copy(a);
    s_poison_triangle(arg, lower, false);
    sl_value *kept = sl_value_copy(arg);
    sl_value *args = s_map1("A", arg);
    if (pass_lower) {
        s_set(args, "lower", sl_value_new_bool(lower));
    }
    sl_task t;
    SL_PASS(s_run("blas.dpotrf", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dtype(t.result), SL_F64);
    SL_ASSERT_EQ(sl_ndarray_ndim(t.result), 2);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), n);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 1), n);
    const double *got = sl_ndarray_cdata(t.result);
    double scale = sqrt(n + 1.0 * n * n); // about the largest entry of L
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            double want = lower ? l[i * n + j] : l[j * n + i]; // U = L^T
            SL_ASSERT_NEAR(got[i * n + j], want, 1e-12 * scale);
            if (lower ? j > i : j < i) {
                SL_ASSERT(got[i * n + j] == 0); // exactly, not NaN
            }
        }
    }
    SL_ASSERT_NEAR(t.flops, (double) n * n * n / 3, 0);
    SL_ASSERT(memcmp(sl_ndarray_cdata(sl_value_map_get(args, "A")),
                     sl_ndarray_cdata(kept), sl_ndarray_nbytes(kept)) == 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);
    sl_value_destroy(&kept);
    sl_value_destroy(&a);
    free(l);
}

static void
test_dpotrf(void)
{
    int sizes[] = {1, 2, 5, 37, 130}; // 130: past OpenBLAS's blocking
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        s_check_dpotrf(sizes[i], true, false); // lower is the default
        s_check_dpotrf(sizes[i], true, true);
        s_check_dpotrf(sizes[i], false, true);
    }
    // 0 x 0: an empty factor.
    sl_value *args = s_map1("A", s_zeros(0, 0));
    sl_value *r = s_result("blas.dpotrf", args);
    SL_ASSERT_EQ(sl_ndarray_dim(r, 0), 0);
    SL_ASSERT_EQ(sl_ndarray_dim(r, 1), 0);
    sl_value_destroy(&r);
}

// diag(d[0], ..., d[n-1]).
static sl_value *
s_diagonal(int n, const double *d)
{
    sl_value *a = s_zeros(n, n);
    for (int i = 0; i < n; i++) {
        ((double *) sl_ndarray_data(a))[i * n + i] = d[i];
    }
    return a;
}

static void
test_dpotrf_errors(void)
{
    // The third pivot is negative: the leading minor of order 3 fails.
    sl_value *args = s_map1("A", s_diagonal(4, (double[]){1, 2, -3, 4}));
    s_run_fails("blas.dpotrf", args,
                "blas.dpotrf: A is not positive definite (the leading minor "
                "of order 3 is not positive)");
    s_set(args, "lower", sl_value_new_bool(false));
    s_run_fails("blas.dpotrf", args, "the leading minor of order 3 is");
    s_set(args, "A", s_diagonal(4, (double[]){1, 2, 3, 0}));
    s_run_fails("blas.dpotrf", args, "the leading minor of order 4 is");
    // Symmetric with a positive diagonal, but indefinite: 1 - 2*2 < 0.
    int64_t shape[2] = {2, 2};
    s_set(args, "A",
          sl_value_new_ndarray(SL_F64, 2, shape, (double[]){1, 2, 2, 1}));
    s_set(args, "lower", sl_value_new_bool(true));
    s_run_fails("blas.dpotrf", args, "the leading minor of order 2 is");

    s_set(args, "A", s_random(SL_F32, 3, 3, 1));
    s_run_fails("blas.dpotrf", args, "blas.dpotrf: A must be f64, got f32");
    s_set(args, "A", s_random(SL_F64, 4, 0, 1));
    s_run_fails("blas.dpotrf", args, "blas.dpotrf: A must be 2-D, got 1-D (4)");
    s_set(args, "A", s_random(SL_F64, 3, 4, 1));
    s_run_fails("blas.dpotrf", args, "blas.dpotrf: A is 3x4, not square");
    s_set(args, "A", s_spd(3, 1));
    s_set(args, "lower", sl_value_new_int(1));
    s_run_fails("blas.dpotrf", args,
                "argument 'lower': expected bool, got int");
    sl_value_destroy(&args);
    s_run_fails("blas.dpotrf", NULL, "missing argument 'A'");
}

// op(T)[i][j] of the order x order matrix t.
static double
s_op(const double *t, int order, bool trans, int i, int j)
{
    return trans ? t[j * order + i] : t[i * order + j];
}

// A well-conditioned order x order triangular matrix (its diagonal
// order + 1 or more, or ones with unit), zero in its other triangle.
static sl_value *
s_triangular(int order, bool lower, bool unit, uint64_t seed)
{
    sl_value *a = s_random(SL_F64, order, order, seed);
    double *x = sl_ndarray_data(a);
    for (int i = 0; i < order; i++) {
        for (int j = 0; j < order; j++) {
            if (lower ? j > i : j < i) {
                x[i * order + j] = 0;
            }
        }
        x[i * order + i] = unit ? 1 : order + 1 + fabs(x[i * order + i]);
    }
    return a;
}

// dtrsm solves for a known X: B is made as op(T)*X/alpha (left) or
// X*op(T)/alpha (right) by plain loops, and the kernel must give X back.
// Only the non-default arguments are passed, unless explicit.
static void
s_check_dtrsm(int m, int n, bool right, bool lower, bool transa, bool unit,
              double alpha, bool explicit)
{
    int order = right ? n : m;
    sl_value *tri = s_triangular(order, lower, unit, 21);
    sl_value *x = s_random(SL_F64, m, n, 22);
    sl_value *b = s_zeros(m, n);
    const double *tv = sl_ndarray_cdata(tri), *xv = sl_ndarray_cdata(x);
    double *bv = sl_ndarray_data(b);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double sum = 0;
            for (int p = 0; p < order; p++) {
                sum += right ? xv[i * n + p] * s_op(tv, order, transa, p, j)
                             : s_op(tv, order, transa, i, p) * xv[p * n + j];
            }
            bv[i * n + j] = sum / alpha;
        }
    }
    sl_value *a = sl_value_copy(tri);
    s_poison_triangle(a, lower, unit);
    sl_value *args = s_map1("A", a);
    s_set(args, "B", sl_value_copy(b));
    if (right || explicit) {
        s_set(args, "side", sl_value_new_str(right ? "right" : "left"));
    }
    if (!lower || explicit) {
        s_set(args, "lower", sl_value_new_bool(lower));
    }
    if (transa || explicit) {
        s_set(args, "transa", sl_value_new_bool(transa));
    }
    if (unit || explicit) {
        s_set(args, "unit", sl_value_new_bool(unit));
    }
    if (alpha != 1 || explicit) {
        s_set(args, "alpha", sl_value_new_float(alpha));
    }
    sl_task t;
    SL_PASS(s_run("blas.dtrsm", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), m);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 1), n);
    SL_ASSERT(s_rel_diff(sl_ndarray_cdata(t.result), xv, (size_t) m * n) <
              1e-12);
    SL_ASSERT_NEAR(t.flops, (double) m * n * order, 0);
    SL_ASSERT(memcmp(sl_ndarray_cdata(sl_value_map_get(args, "B")), bv,
                     sl_ndarray_nbytes(b)) == 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);
    sl_value_destroy(&tri);
    sl_value_destroy(&x);
    sl_value_destroy(&b);
}

static void
test_dtrsm(void)
{
    for (int right = 0; right < 2; right++) {
        for (int lower = 0; lower < 2; lower++) {
            for (int transa = 0; transa < 2; transa++) {
                for (int unit = 0; unit < 2; unit++) {
                    s_check_dtrsm(7, 5, right, lower, transa, unit, 1, false);
                    s_check_dtrsm(7, 5, right, lower, transa, unit, 2.5, true);
                    s_check_dtrsm(1, 9, right, lower, transa, unit, -1, false);
                }
            }
        }
    }
    // The defaults, passed and not: side left, lower, no transpose, a
    // diagonal that is read, alpha 1.
    s_check_dtrsm(40, 33, false, true, false, false, 1, false);
    s_check_dtrsm(40, 33, false, true, false, false, 1, true);

    // B with no columns: an empty X, nothing solved.
    sl_value *args = s_map1("A", s_triangular(3, true, false, 1));
    s_set(args, "B", s_zeros(3, 0));
    sl_value *r = s_result("blas.dtrsm", args);
    SL_ASSERT_EQ(sl_ndarray_dim(r, 0), 3);
    SL_ASSERT_EQ(sl_ndarray_dim(r, 1), 0);
    sl_value_destroy(&r);
}

static void
test_dtrsm_errors(void)
{
    sl_value *args = s_map1("A", s_triangular(3, true, false, 1));
    s_set(args, "B", s_random(SL_F64, 4, 2, 2));
    s_run_fails("blas.dtrsm", args,
                "blas.dtrsm: A is 3x3 but B is 4x2 (side \"left\" needs A of "
                "order 4, B's rows)");
    s_set(args, "side", sl_value_new_str("right"));
    s_run_fails("blas.dtrsm", args,
                "blas.dtrsm: A is 3x3 but B is 4x2 (side \"right\" needs A "
                "of order 2, B's columns)");
    s_set(args, "side", sl_value_new_str("up"));
    s_run_fails("blas.dtrsm", args,
                "blas.dtrsm: side must be \"left\" or \"right\", got \"up\"");
    s_set(args, "side", sl_value_new_str("Left"));
    s_run_fails("blas.dtrsm", args, "got \"Left\"");
    s_set(args, "side", sl_value_new_int(0));
    s_run_fails("blas.dtrsm", args, "argument 'side': expected str, got int");
    s_set(args, "side", sl_value_new_str("left"));

    s_set(args, "B", s_random(SL_F64, 3, 2, 2));
    s_set(args, "A", s_random(SL_F64, 3, 4, 1));
    s_run_fails("blas.dtrsm", args, "blas.dtrsm: A is 3x4, not square");
    s_set(args, "A", s_random(SL_F32, 3, 3, 1));
    s_run_fails("blas.dtrsm", args, "blas.dtrsm: A must be f64, got f32");
    s_set(args, "A", s_random(SL_F64, 3, 0, 1));
    s_run_fails("blas.dtrsm", args, "blas.dtrsm: A must be 2-D, got 1-D (3)");
    s_set(args, "A", s_triangular(3, true, false, 1));
    s_set(args, "B", s_random(SL_F64, 6, 0, 2));
    s_run_fails("blas.dtrsm", args, "blas.dtrsm: B must be 2-D, got 1-D (6)");
    s_set(args, "B", s_random(SL_I64, 3, 2, 2));
    s_run_fails("blas.dtrsm", args, "blas.dtrsm: B must be f64, got i64");

    // A zero on the diagonal is singular, unless unit says it is not read.
    s_set(args, "B", s_random(SL_F64, 3, 2, 2));
    sl_value *singular = s_triangular(3, true, false, 1);
    ((double *) sl_ndarray_data(singular))[4] = 0;
    s_set(args, "A", singular);
    s_run_fails("blas.dtrsm", args,
                "blas.dtrsm: A is singular (A[1][1] is zero)");
    s_set(args, "unit", sl_value_new_bool(true));
    sl_value *r = s_result("blas.dtrsm", sl_value_copy(args));
    sl_value_destroy(&r);
    sl_value_destroy(&args);

    args = s_map1("A", s_triangular(3, true, false, 1));
    s_run_fails("blas.dtrsm", args, "missing argument 'B'");
    sl_value_destroy(&args);
}

// dsyrk against plain loops: the chosen triangle is alpha*op(A)*op(A)^T +
// beta*C, the other is C's (or zero without C). beta is passed only when
// it is not 1, the default with C.
static void
s_check_dsyrk(int n, int k, bool trans, bool lower, bool with_c, double alpha,
              double beta)
{
    int rows = trans ? k : n, cols = trans ? n : k;
    sl_value *a =
        k > 0 ? s_random(SL_F64, rows, cols, 31) : s_zeros(rows, cols);
    sl_value *c = s_random(SL_F64, n, n, 32);
    const double *av = sl_ndarray_cdata(a), *cv = sl_ndarray_cdata(c);
    double *want = calloc((size_t) n * n + 1, sizeof(double));
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            if (lower ? j > i : j < i) {
                want[i * n + j] = with_c ? cv[i * n + j] : 0;
                continue;
            }
            double sum = 0;
            for (int p = 0; p < k; p++) {
                sum += trans ? av[p * n + i] * av[p * n + j]
                             : av[i * k + p] * av[j * k + p];
            }
            want[i * n + j] = alpha * sum + (with_c ? beta * cv[i * n + j] : 0);
        }
    }
    sl_value *args = s_map1("A", sl_value_copy(a));
    if (with_c) {
        s_set(args, "C", sl_value_copy(c));
    }
    if (with_c && beta != 1) {
        s_set(args, "beta", sl_value_new_float(beta));
    }
    s_set(args, "alpha", sl_value_new_float(alpha));
    s_set(args, "trans", sl_value_new_bool(trans));
    if (!lower) { // lower is the default
        s_set(args, "lower", sl_value_new_bool(false));
    }
    sl_task t;
    SL_PASS(s_run("blas.dsyrk", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), n);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 1), n);
    const double *got = sl_ndarray_cdata(t.result);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            if (lower ? j > i : j < i) {
                SL_ASSERT(got[i * n + j] == want[i * n + j]); // untouched
            } else {
                SL_ASSERT_NEAR(got[i * n + j], want[i * n + j], 1e-13 * k);
            }
        }
    }
    double entries = (double) n * (n + 1) / 2; // in one triangle
    SL_ASSERT_NEAR(
        t.flops, 2 * entries * k + (with_c && beta != 0 ? 2 * entries : 0), 0);
    if (with_c) {
        SL_ASSERT(memcmp(sl_ndarray_cdata(sl_value_map_get(args, "C")), cv,
                         sl_ndarray_nbytes(c)) == 0);
    }
    sl__task_fini(&t);
    sl_value_destroy(&args);
    sl_value_destroy(&a);
    sl_value_destroy(&c);
    free(want);
}

static void
test_dsyrk(void)
{
    for (int trans = 0; trans < 2; trans++) {
        for (int lower = 0; lower < 2; lower++) {
            s_check_dsyrk(9, 4, trans, lower, false, 1, 0);
            s_check_dsyrk(9, 4, trans, lower, true, -1, 1); // Cholesky's
            s_check_dsyrk(9, 4, trans, lower, true, 0.5, -2);
            s_check_dsyrk(33, 65, trans, lower, true, 2, 0);
            s_check_dsyrk(1, 7, trans, lower, true, 1, 3);
            s_check_dsyrk(6, 0, trans, lower, true, 1, 0.5); // beta*C only
            s_check_dsyrk(6, 0, trans, lower, true, 1, 0);
        }
    }
}

static void
test_dsyrk_errors(void)
{
    sl_value *args = s_map1("A", s_random(SL_F64, 3, 2, 1));
    s_set(args, "C", s_random(SL_F64, 3, 4, 2));
    s_run_fails("blas.dsyrk", args, "blas.dsyrk: C is 3x4 but A*A^T is 3x3");
    s_set(args, "C", s_random(SL_F64, 3, 3, 2));
    s_set(args, "trans", sl_value_new_bool(true));
    s_run_fails("blas.dsyrk", args, "blas.dsyrk: C is 3x3 but A^T*A is 2x2");
    s_set(args, "C", s_random(SL_F32, 2, 2, 2));
    s_run_fails("blas.dsyrk", args, "blas.dsyrk: C must be f64, got f32");
    s_set(args, "C", s_random(SL_F64, 2, 0, 2));
    s_run_fails("blas.dsyrk", args, "blas.dsyrk: C must be 2-D, got 1-D (2)");
    s_set(args, "C", s_random(SL_F64, 2, 2, 2));
    s_set(args, "A", s_random(SL_F32, 3, 2, 1));
    s_run_fails("blas.dsyrk", args, "blas.dsyrk: A must be f64, got f32");
    s_set(args, "A", s_random(SL_F64, 3, 0, 1));
    s_run_fails("blas.dsyrk", args, "blas.dsyrk: A must be 2-D, got 1-D (3)");
    s_set(args, "A", s_random(SL_F64, 3, 2, 1));
    s_set(args, "beta", sl_value_new_str("1"));
    s_run_fails("blas.dsyrk", args, "argument 'beta': expected float, got str");
    sl_value_destroy(&args);
    s_run_fails("blas.dsyrk", NULL, "missing argument 'A'");
}

// The off-diagonal trailing update of the Cholesky, A_ij - L_ik * L_jk^T,
// is blas.dgemm with alpha = -1 and transb.
static void
test_dgemm_trailing_update(void)
{
    int m = 4, n = 5, k = 3;
    sl_value *lik = s_random(SL_F64, m, k, 41),
             *ljk = s_random(SL_F64, n, k, 42);
    sl_value *aij = s_random(SL_F64, m, n, 43);
    const double *x = sl_ndarray_cdata(lik), *y = sl_ndarray_cdata(ljk);
    double want[20];
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double sum = ((const double *) sl_ndarray_cdata(aij))[i * n + j];
            for (int p = 0; p < k; p++) {
                sum -= x[i * k + p] * y[j * k + p];
            }
            want[i * n + j] = sum;
        }
    }
    sl_value *args = s_map1("A", lik);
    s_set(args, "B", ljk);
    s_set(args, "C", aij);
    s_set(args, "alpha", sl_value_new_float(-1));
    s_set(args, "transb", sl_value_new_bool(true));
    sl_task t;
    SL_PASS(s_run("blas.dgemm", args, &t));
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 0), m);
    SL_ASSERT_EQ(sl_ndarray_dim(t.result, 1), n);
    SL_ASSERT(s_max_diff_f64(sl_ndarray_cdata(t.result), want, 20) < 1e-14);
    sl__task_fini(&t);
    sl_value_destroy(&args);
}

// Tile (i, j) of the b x b tiles of the square matrix a, as a new array.
static sl_value *
s_tile(const sl_value *a, int b, int i, int j)
{
    int n = (int) sl_ndarray_dim(a, 0);
    sl_value *tile = s_zeros(b, b);
    const double *from = sl_ndarray_cdata(a);
    for (int r = 0; r < b; r++) {
        memcpy((double *) sl_ndarray_data(tile) + r * b,
               from + (size_t) (i * b + r) * n + j * b, b * sizeof(double));
    }
    return tile;
}

// The trailing update of tile (i, j), i >= j, by step k: A_ij - L_ik L_jk^T,
// dsyrk on the diagonal (unless gemm_only) and dgemm off it. Takes *a_ij.
static sl_value *
s_trailing(sl_value *a_ij, const sl_value *l_ik, const sl_value *l_jk,
           bool diagonal, bool gemm_only)
{
    sl_value *args = s_map1("A", sl_value_copy(l_ik));
    s_set(args, "C", a_ij);
    s_set(args, "alpha", sl_value_new_float(-1));
    if (diagonal && !gemm_only) {
        return s_result("blas.dsyrk", args);
    }
    s_set(args, "B", sl_value_copy(l_jk));
    s_set(args, "transb", sl_value_new_bool(true));
    return s_result("blas.dgemm", args);
}

// The right-looking blocked Cholesky of a, nt x nt tiles of b x b, one
// kernel a tile step as a client would submit them; the factor into l
// (zero above the diagonal).
static void
s_tiled_cholesky(const sl_value *a, int nt, int b, bool gemm_only, double *l)
{
    sl_value *tile[4][4] = {{NULL}};
    SL_ASSERT(nt <= 4);
    for (int i = 0; i < nt; i++) {
        for (int j = 0; j <= i; j++) {
            tile[i][j] = s_tile(a, b, i, j);
        }
    }
    for (int k = 0; k < nt; k++) {
        tile[k][k] = s_result("blas.dpotrf", s_map1("A", tile[k][k]));
        for (int i = k + 1; i < nt; i++) { // L_ik = A_ik L_kk^-T
            sl_value *args = s_map1("A", sl_value_copy(tile[k][k]));
            s_set(args, "B", tile[i][k]);
            s_set(args, "side", sl_value_new_str("right"));
            s_set(args, "transa", sl_value_new_bool(true));
            tile[i][k] = s_result("blas.dtrsm", args);
        }
        for (int i = k + 1; i < nt; i++) {
            for (int j = k + 1; j <= i; j++) {
                tile[i][j] = s_trailing(tile[i][j], tile[i][k], tile[j][k],
                                        i == j, gemm_only);
            }
        }
    }
    int n = nt * b;
    memset(l, 0, (size_t) n * n * sizeof(double));
    for (int i = 0; i < nt; i++) {
        for (int j = 0; j <= i; j++) {
            const double *t = sl_ndarray_cdata(tile[i][j]);
            for (int r = 0; r < b; r++) {
                memcpy(l + (size_t) (i * b + r) * n + j * b, t + r * b,
                       b * sizeof(double));
            }
            sl_value_destroy(&tile[i][j]);
        }
    }
}

static void
s_check_tiled_cholesky(int nt, int b, bool gemm_only)
{
    int n = nt * b;
    sl_value *a = s_spd(n, 51);
    double *l = malloc((size_t) n * n * sizeof(double));
    s_tiled_cholesky(a, nt, b, gemm_only, l);
    sl_value *whole = s_result("blas.dpotrf", s_map1("A", sl_value_copy(a)));
    SL_ASSERT(s_rel_diff(l, sl_ndarray_cdata(whole), (size_t) n * n) < 1e-12);
    sl_value_destroy(&whole);
    sl_value_destroy(&a);
    free(l);
}

static void
test_tiled_cholesky(void)
{
    s_check_tiled_cholesky(2, 4, false); // 8 x 8: dpotrf, dtrsm, dsyrk, dpotrf
    s_check_tiled_cholesky(2, 4, true);  // dgemm for the diagonal tile too
    s_check_tiled_cholesky(3, 4, false); // 12 x 12: one off-diagonal dgemm
    s_check_tiled_cholesky(4, 7, false); // 28 x 28
}

// ---------------------------------------------------------------------
// bench

static void
test_gemm_flops(void)
{
    sl_value *args = s_map1("n", sl_value_new_int(48));
    s_set(args, "reps", sl_value_new_int(3));
    sl_task t;
    SL_PASS(s_run("bench.gemm_flops", args, &t));
    double flops = 2.0 * 48 * 48 * 48 * 3;
    SL_ASSERT_NEAR(t.flops, flops, 0);
    const sl_value *r = t.result;
    SL_ASSERT_EQ(sl_value_int(sl_value_map_get(r, "n")), 48);
    SL_ASSERT_EQ(sl_value_int(sl_value_map_get(r, "reps")), 3);
    SL_ASSERT_STR(sl_value_str(sl_value_map_get(r, "dtype"), NULL), "f64");
    SL_ASSERT_NEAR(sl_value_float(sl_value_map_get(r, "flops")), flops, 0);
    double seconds = sl_value_float(sl_value_map_get(r, "seconds"));
    double gflops = sl_value_float(sl_value_map_get(r, "gflops"));
    SL_ASSERT(seconds > 0 && gflops > 0);
    SL_ASSERT_NEAR(gflops, flops / seconds / 1e9, 1e-9 * gflops);
    sl__task_fini(&t);

    sl_value_destroy(&args);
    args = s_map1("n", sl_value_new_int(1));
    s_set(args, "dtype", sl_value_new_str("f32"));
    SL_PASS(s_run("bench.gemm_flops", args, &t));
    SL_ASSERT_STR(sl_value_str(sl_value_map_get(t.result, "dtype"), NULL),
                  "f32");
    SL_ASSERT_EQ(sl_value_int(sl_value_map_get(t.result, "reps")), 1);
    SL_ASSERT_NEAR(t.flops, 2, 0);
    sl__task_fini(&t);
    sl_value_destroy(&args);
}

static void
test_gemm_flops_errors(void)
{
    sl_value *args = s_map1("n", sl_value_new_int(0));
    s_run_fails("bench.gemm_flops", args, "n must be 1..16384, got 0");
    s_set(args, "n", sl_value_new_int(16385));
    s_run_fails("bench.gemm_flops", args, "n must be 1..16384, got 16385");
    s_set(args, "n", sl_value_new_int(8));
    s_set(args, "reps", sl_value_new_int(0));
    s_run_fails("bench.gemm_flops", args, "reps must be 1..1000, got 0");
    s_set(args, "reps", sl_value_new_int(1001));
    s_run_fails("bench.gemm_flops", args, "reps must be 1..1000, got 1001");
    s_set(args, "reps", sl_value_new_int(1));
    s_set(args, "dtype", sl_value_new_str("f16"));
    s_run_fails("bench.gemm_flops", args,
                "dtype must be \"f64\" or \"f32\", got \"f16\"");
    s_set(args, "dtype", sl_value_new_str("f64"));
    s_set(args, "n", sl_value_new_str("8"));
    s_run_fails("bench.gemm_flops", args,
                "argument 'n': expected int, got str");
    sl_value_destroy(&args);
    args = s_map1("nn", sl_value_new_int(8));
    s_run_fails("bench.gemm_flops", args, "unexpected argument 'nn'");
    sl_value_destroy(&args);
}

static void
test_unknown_kernels(void)
{
    const char *names[] = {
        "blas.nope", "nope.dgemm",   "blas",     "",          ".dgemm",
        "blas.",     "blas.dgemm.x", "sys.Noop", "sysx.noop", "sy.noop"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (sl__registry_find(s_reg, names[i]) != NULL) {
            SL_FAIL_AT("found a kernel called \"%s\"", names[i]);
        }
    }
    SL_ASSERT(sl__registry_find(s_reg, NULL) == NULL);
    const char *known[] = {"sys.noop",   "sys.echo",        "sys.sleep",
                           "sys.fail",   "sys.sum",         "blas.dgemm",
                           "blas.sgemm", "blas.dgemv",      "blas.daxpy",
                           "blas.ddot",  "blas.dpotrf",     "blas.dtrsm",
                           "blas.dsyrk", "bench.gemm_flops"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const sl_kernel_def *k = sl__registry_find(s_reg, known[i]);
        SL_ASSERT(k != NULL && k->doc != NULL && k->doc[0] != '\0');
        SL_ASSERT_STR(k->name, strchr(known[i], '.') + 1);
    }
}

int
main(void)
{
    s_reg = sl__registry_new();
    SL_ASSERT(s_reg != NULL);
    SL_RUN(test_sys_noop);
    SL_RUN(test_sys_echo);
    SL_RUN(test_sys_sleep);
    SL_RUN(test_sys_fail);
    SL_RUN(test_sys_sum_numbers);
    SL_RUN(test_sys_sum_arrays);
    SL_RUN(test_sys_sum_errors);
    SL_RUN(test_dgemm_matches_openblas);
    SL_RUN(test_dgemm_defaults);
    SL_RUN(test_dgemm_empty);
    SL_RUN(test_sgemm_matches_openblas);
    SL_RUN(test_dgemm_errors);
    SL_RUN(test_dgemv);
    SL_RUN(test_daxpy_ddot);
    SL_RUN(test_dpotrf);
    SL_RUN(test_dpotrf_errors);
    SL_RUN(test_dtrsm);
    SL_RUN(test_dtrsm_errors);
    SL_RUN(test_dsyrk);
    SL_RUN(test_dsyrk_errors);
    SL_RUN(test_dgemm_trailing_update);
    SL_RUN(test_tiled_cholesky);
    SL_RUN(test_gemm_flops);
    SL_RUN(test_gemm_flops_errors);
    SL_RUN(test_unknown_kernels);
    sl__registry_destroy(&s_reg);
    SL_ASSERT(s_reg == NULL);
    return 0;
}
