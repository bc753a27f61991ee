// blas.c - the built-in "blas" kernels: dgemm, sgemm, dgemv, daxpy, ddot,
// and the tiles of a blocked Cholesky, dpotrf, dtrsm and dsyrk, over
// row-major ndarrays, through OpenBLAS.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Every operand is checked (dtype, number of dimensions, every extent,
//   and that each extent fits BLAS's int) before BLAS sees it, and a
//   mismatch names the argument and the shapes. OpenBLAS would otherwise
//   print to stderr or read out of bounds.
// - Arguments are borrowed (maybe views into the received message), so
//   every kernel writes into a new array: C, y and the axpy result are
//   copied first, then updated.
// - beta defaults to 1 when C (or y) is given, else C is zero and beta is
//   ignored: passing C means "add to it".
// - The worker counts the bytes of arguments and results, so these
//   kernels count FLOPs only.
// - The worker sets the number of OpenBLAS threads once at start-up.
// - dpotrf is LAPACK's, called as the Fortran dpotrf_ that libopenblas
//   itself exports (OpenBLAS's own threaded potrf, declared in its
//   f77blas.h), not through LAPACKE: Debian builds LAPACKE apart, as
//   liblapacke over whichever liblapack.so.3 the alternatives pick, and its
//   row-major entry point copies A into a transposed work array and back.
//   dpotrf_ works in place on the result's row-major buffer, with the
//   triangles' names swapped (s_potrf_call).
// - The triangles: dpotrf returns the factor with the other triangle zero;
//   dtrsm reads only A's chosen triangle (and not its diagonal with unit);
//   dsyrk updates only C's chosen triangle and returns the other as C has
//   it (zero without C). lower defaults to true for all three, the
//   triangle of the right-looking Cholesky's L.
#include <cblas.h>
#include <f77blas.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../registry.h"

// An ndarray operand after its checks.
typedef struct {
    const sl_value *v; // the ndarray; NULL for an absent optional one
    int dim[2];        // its extents (dim[1] unused for a vector)
} s_operand;

// Check the ndarray argument name: dtype, ndim, and extents within int.
// Absent is fine (op->v = NULL); the signature has already required it
// when it must be there.
static int
s_read_operand(sl_task *t, const char *fn, const char *name, sl_dtype dtype,
               int ndim, s_operand *op)
{
    char shape[64];
    op->v = sl_task_arg(t, name);
    op->dim[0] = op->dim[1] = 0;
    if (op->v == NULL) {
        return 0;
    }
    if (sl_ndarray_dtype(op->v) != dtype) {
        return sl_task_fail(t, "%s: %s must be %s, got %s", fn, name,
                            sl_dtype_name(dtype),
                            sl_dtype_name(sl_ndarray_dtype(op->v)));
    }
    if (sl_ndarray_ndim(op->v) != ndim) {
        return sl_task_fail(t, "%s: %s must be %d-D, got %d-D (%s)", fn, name,
                            ndim, sl_ndarray_ndim(op->v),
                            sl__shape_str(op->v, shape, sizeof(shape)));
    }
    for (int i = 0; i < ndim; i++) {
        if (sl_ndarray_dim(op->v, i) > INT_MAX) {
            return sl_task_fail(
                t,
                "%s: %s is %s, too large for BLAS (an "
                "extent over %d)",
                fn, name, sl__shape_str(op->v, shape, sizeof(shape)), INT_MAX);
        }
        op->dim[i] = (int) sl_ndarray_dim(op->v, i);
    }
    return 0;
}

// A new array of dtype and shape rows x cols (ndim 2) or rows (ndim 1),
// holding a copy of init, or zeros when init is NULL.
static sl_value *
s_new_array(sl_dtype dtype, int ndim, int rows, int cols, const sl_value *init)
{
    int64_t shape[2] = {rows, cols};
    return sl_value_new_ndarray(dtype, ndim, shape,
                                init != NULL ? sl_ndarray_cdata(init) : NULL);
}

static int
s_max1(int n)
{
    return n > 1 ? n : 1;
}

// out *= beta, for an empty inner dimension, where BLAS may return at once
// and leave C (or y) unscaled. As in BLAS, beta = 0 clears even NaNs.
static void
s_scale(sl_dtype dtype, double beta, sl_value *out)
{
    size_t n = sl_ndarray_size(out);
    if (beta == 0) {
        memset(sl_ndarray_data(out), 0, sl_ndarray_nbytes(out));
    } else if (dtype == SL_F64) {
        double *c = sl_ndarray_data(out);
        for (size_t i = 0; i < n; i++) {
            c[i] *= beta;
        }
    } else {
        float *c = sl_ndarray_data(out);
        for (size_t i = 0; i < n; i++) {
            c[i] *= (float) beta;
        }
    }
}

// ---------------------------------------------------------------------
// gemm

// The operands of C' = alpha * op(A) * op(B) + beta * C.
typedef struct {
    s_operand a, b, c; // the operands; c.v is NULL when absent
    bool transa;       // op(A) = A^T
    bool transb;       // op(B) = B^T
    int m, n, k;       // op(A) is m x k, op(B) is k x n
    double alpha;      // scales op(A) * op(B)
    double beta;       // scales C
} s_gemm_args;

static int
s_gemm_read(sl_task *t, const char *fn, sl_dtype dtype, s_gemm_args *g)
{
    if (s_read_operand(t, fn, "A", dtype, 2, &g->a) != 0 ||
        s_read_operand(t, fn, "B", dtype, 2, &g->b) != 0 ||
        s_read_operand(t, fn, "C", dtype, 2, &g->c) != 0) {
        return -1;
    }
    g->transa = sl_value_bool(sl_task_arg(t, "transa"));
    g->transb = sl_value_bool(sl_task_arg(t, "transb"));
    g->m = g->a.dim[g->transa ? 1 : 0];
    g->k = g->a.dim[g->transa ? 0 : 1];
    g->n = g->b.dim[g->transb ? 0 : 1];
    g->alpha = sl_task_arg_float(t, "alpha", 1.0);
    g->beta = g->c.v != NULL ? sl_task_arg_float(t, "beta", 1.0) : 0.0;
    return 0;
}

static int
s_gemm_check(sl_task *t, const char *fn, const s_gemm_args *g)
{
    int kb = g->b.dim[g->transb ? 1 : 0];
    const char *ta = g->transa ? "^T" : "", *tb = g->transb ? "^T" : "";
    if (g->k != kb) {
        return sl_task_fail(t,
                            "%s: A%s is %dx%d but B%s is %dx%d (inner "
                            "dimensions differ)",
                            fn, ta, g->m, g->k, tb, kb, g->n);
    }
    if (g->c.v != NULL && (g->c.dim[0] != g->m || g->c.dim[1] != g->n)) {
        return sl_task_fail(t, "%s: C is %dx%d but A%s*B%s is %dx%d", fn,
                            g->c.dim[0], g->c.dim[1], ta, tb, g->m, g->n);
    }
    return 0;
}

static void
s_gemm_call(sl_dtype dtype, const s_gemm_args *g, sl_value *out)
{
    if (g->m == 0 || g->n == 0) {
        return; // an empty result: nothing to compute
    }
    if (g->k == 0) {
        s_scale(dtype, g->beta, out);
        return;
    }
    CBLAS_TRANSPOSE ta = g->transa ? CblasTrans : CblasNoTrans;
    CBLAS_TRANSPOSE tb = g->transb ? CblasTrans : CblasNoTrans;
    int lda = s_max1(g->a.dim[1]), ldb = s_max1(g->b.dim[1]);
    int ldc = s_max1(g->n);
    if (dtype == SL_F64) {
        cblas_dgemm(CblasRowMajor, ta, tb, g->m, g->n, g->k, g->alpha,
                    sl_ndarray_cdata(g->a.v), lda, sl_ndarray_cdata(g->b.v),
                    ldb, g->beta, sl_ndarray_data(out), ldc);
    } else {
        cblas_sgemm(CblasRowMajor, ta, tb, g->m, g->n, g->k, (float) g->alpha,
                    sl_ndarray_cdata(g->a.v), lda, sl_ndarray_cdata(g->b.v),
                    ldb, (float) g->beta, sl_ndarray_data(out), ldc);
    }
}

static int
s_gemm(sl_task *t, const char *fn, sl_dtype dtype)
{
    s_gemm_args g;
    if (s_gemm_read(t, fn, dtype, &g) != 0 || s_gemm_check(t, fn, &g) != 0) {
        return -1;
    }
    sl_value *out = s_new_array(dtype, 2, g.m, g.n, g.c.v);
    if (out == NULL) {
        return sl_task_fail(t, "%s: out of memory for a %dx%d result", fn, g.m,
                            g.n);
    }
    s_gemm_call(dtype, &g, out);
    double mn = (double) g.m * g.n;
    sl_task_add_flops(t, 2 * mn * g.k + (g.beta != 0 ? 2 * mn : 0));
    return sl_task_set_result(t, &out);
}

static int
s_dgemm(sl_task *t)
{
    return s_gemm(t, "blas.dgemm", SL_F64);
}

static int
s_sgemm(sl_task *t)
{
    return s_gemm(t, "blas.sgemm", SL_F32);
}

// ---------------------------------------------------------------------
// gemv

static int
s_dgemv_check(sl_task *t, const s_operand *a, const s_operand *x,
              const s_operand *y, bool trans)
{
    int rows = a->dim[trans ? 1 : 0], cols = a->dim[trans ? 0 : 1];
    const char *ta = trans ? "^T" : "";
    if (x->dim[0] != cols) {
        return sl_task_fail(t,
                            "blas.dgemv: A%s is %dx%d but x has length %d "
                            "(want %d)",
                            ta, rows, cols, x->dim[0], cols);
    }
    if (y->v != NULL && y->dim[0] != rows) {
        return sl_task_fail(t,
                            "blas.dgemv: y has length %d but A%s*x has "
                            "length %d",
                            y->dim[0], ta, rows);
    }
    return 0;
}

static void
s_dgemv_call(const s_operand *a, const sl_value *x, bool trans, double alpha,
             double beta, sl_value *out)
{
    int rows = a->dim[trans ? 1 : 0], cols = a->dim[trans ? 0 : 1];
    if (rows == 0) {
        return;
    }
    if (cols == 0) {
        s_scale(SL_F64, beta, out);
        return;
    }
    cblas_dgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, a->dim[0],
                a->dim[1], alpha, sl_ndarray_cdata(a->v), s_max1(a->dim[1]),
                sl_ndarray_cdata(x), 1, beta, sl_ndarray_data(out), 1);
}

static int
s_dgemv(sl_task *t)
{
    const char *fn = "blas.dgemv";
    s_operand a, x, y;
    if (s_read_operand(t, fn, "A", SL_F64, 2, &a) != 0 ||
        s_read_operand(t, fn, "x", SL_F64, 1, &x) != 0 ||
        s_read_operand(t, fn, "y", SL_F64, 1, &y) != 0) {
        return -1;
    }
    bool trans = sl_value_bool(sl_task_arg(t, "trans"));
    if (s_dgemv_check(t, &a, &x, &y, trans) != 0) {
        return -1;
    }
    int rows = a.dim[trans ? 1 : 0];
    double alpha = sl_task_arg_float(t, "alpha", 1.0);
    double beta = y.v != NULL ? sl_task_arg_float(t, "beta", 1.0) : 0.0;
    sl_value *out = s_new_array(SL_F64, 1, rows, 0, y.v);
    if (out == NULL) {
        return sl_task_fail(t, "%s: out of memory", fn);
    }
    s_dgemv_call(&a, x.v, trans, alpha, beta, out);
    sl_task_add_flops(t, 2.0 * a.dim[0] * a.dim[1]);
    return sl_task_set_result(t, &out);
}

// ---------------------------------------------------------------------
// Level 1: daxpy, ddot

// Read the f64 vectors x and y, which must be of one length.
static int
s_vectors(sl_task *t, const char *fn, s_operand *x, s_operand *y)
{
    if (s_read_operand(t, fn, "x", SL_F64, 1, x) != 0 ||
        s_read_operand(t, fn, "y", SL_F64, 1, y) != 0) {
        return -1;
    }
    if (x->dim[0] != y->dim[0]) {
        return sl_task_fail(t, "%s: x has length %d but y has length %d", fn,
                            x->dim[0], y->dim[0]);
    }
    return 0;
}

static int
s_daxpy(sl_task *t)
{
    s_operand x, y;
    if (s_vectors(t, "blas.daxpy", &x, &y) != 0) {
        return -1;
    }
    sl_value *out = s_new_array(SL_F64, 1, y.dim[0], 0, y.v);
    if (out == NULL) {
        return sl_task_fail(t, "blas.daxpy: out of memory");
    }
    cblas_daxpy(x.dim[0], sl_task_arg_float(t, "alpha", 1.0),
                sl_ndarray_cdata(x.v), 1, sl_ndarray_data(out), 1);
    sl_task_add_flops(t, 2.0 * x.dim[0]);
    return sl_task_set_result(t, &out);
}

static int
s_ddot(sl_task *t)
{
    s_operand x, y;
    if (s_vectors(t, "blas.ddot", &x, &y) != 0) {
        return -1;
    }
    sl_value *out = sl_value_new_float(cblas_ddot(
        x.dim[0], sl_ndarray_cdata(x.v), 1, sl_ndarray_cdata(y.v), 1));
    if (out == NULL) {
        return sl_task_fail(t, "blas.ddot: out of memory");
    }
    sl_task_add_flops(t, 2.0 * x.dim[0]);
    return sl_task_set_result(t, &out);
}

// ---------------------------------------------------------------------
// The tiles of a blocked Cholesky: dpotrf, dtrsm, dsyrk

// The bool argument name, or dflt when absent (sl_value_bool of an absent
// argument is false, which is the wrong default for lower).
static bool
s_arg_bool(sl_task *t, const char *name, bool dflt)
{
    const sl_value *v = sl_task_arg(t, name);
    return v != NULL ? sl_value_bool(v) : dflt;
}

static int
s_check_square(sl_task *t, const char *fn, const char *name,
               const s_operand *op)
{
    if (op->dim[0] != op->dim[1]) {
        return sl_task_fail(t, "%s: %s is %dx%d, not square", fn, name,
                            op->dim[0], op->dim[1]);
    }
    return 0;
}

// Zero what lies outside the lower (lower) or upper triangle of the n x n
// row-major matrix a.
static void
s_zero_outside_triangle(double *a, int n, bool lower)
{
    for (int i = 0; i < n; i++) {
        double *row = a + (size_t) i * n;
        if (lower) {
            memset(row + i + 1, 0, (size_t) (n - i - 1) * sizeof(double));
        } else {
            memset(row, 0, (size_t) i * sizeof(double));
        }
    }
}

// Scale the lower (lower) or upper triangle of the n x n row-major matrix
// c by beta, for dsyrk's empty inner dimension (as s_scale for gemm).
static void
s_scale_triangle(double *c, int n, bool lower, double beta)
{
    for (int i = 0; i < n; i++) {
        double *row = c + (size_t) i * n;
        int from = lower ? 0 : i, to = lower ? i + 1 : n;
        for (int j = from; j < to; j++) {
            row[j] = beta == 0 ? 0 : beta * row[j];
        }
    }
}

// Factor the n x n row-major matrix a in place; returns LAPACK's info.
// LAPACK reads the buffer column-major, as A^T: A again, with the
// row-major lower triangle as its upper one. dpotrf's 'U' factor of that
// view, U = L^T, is written column-major, which is L row-major. So lower
// asks dpotrf for 'U', and upper for 'L'.
static int
s_potrf_call(double *a, int n, bool lower)
{
    char uplo = lower ? 'U' : 'L';
    blasint order = n, lda = s_max1(n), info = 0;
    dpotrf_(&uplo, &order, a, &lda, &info);
    return (int) info;
}

static int
s_dpotrf(sl_task *t)
{
    const char *fn = "blas.dpotrf";
    s_operand a;
    if (s_read_operand(t, fn, "A", SL_F64, 2, &a) != 0 ||
        s_check_square(t, fn, "A", &a) != 0) {
        return -1;
    }
    bool lower = s_arg_bool(t, "lower", true);
    int n = a.dim[0];
    sl_value *out = s_new_array(SL_F64, 2, n, n, a.v);
    if (out == NULL) {
        return sl_task_fail(t, "%s: out of memory for a %dx%d result", fn, n,
                            n);
    }
    int info = s_potrf_call(sl_ndarray_data(out), n, lower);
    if (info != 0) {
        sl_value_destroy(&out);
        if (info > 0) {
            return sl_task_fail(t,
                                "%s: A is not positive definite (the "
                                "leading minor of order %d is not positive)",
                                fn, info);
        }
        // Every argument was checked above: this is a bug of ours.
        return sl_task_fail(t, "%s: LAPACK rejected argument %d", fn, -info);
    }
    s_zero_outside_triangle(sl_ndarray_data(out), n, lower);
    sl_task_add_flops(t, (double) n * n * n / 3);
    return sl_task_set_result(t, &out);
}

// The operands of op(A) X = alpha B (side left) or X op(A) = alpha B
// (side right), A triangular.
typedef struct {
    s_operand a, b; // A is square, B is m x n
    bool right;     // side right: X op(A) = alpha B
    bool lower;     // A is lower triangular; its other triangle is not read
    bool transa;    // op(A) = A^T
    bool unit;      // A's diagonal is taken as ones and not read
    double alpha;   // scales B
} s_trsm_args;

static int
s_trsm_read(sl_task *t, const char *fn, s_trsm_args *s)
{
    if (s_read_operand(t, fn, "A", SL_F64, 2, &s->a) != 0 ||
        s_read_operand(t, fn, "B", SL_F64, 2, &s->b) != 0) {
        return -1;
    }
    const char *side = sl_task_arg_str(t, "side", "left");
    if (strcmp(side, "left") != 0 && strcmp(side, "right") != 0) {
        return sl_task_fail(
            t, "%s: side must be \"left\" or \"right\", got \"%s\"", fn, side);
    }
    s->right = strcmp(side, "right") == 0;
    s->lower = s_arg_bool(t, "lower", true);
    s->transa = s_arg_bool(t, "transa", false);
    s->unit = s_arg_bool(t, "unit", false);
    s->alpha = sl_task_arg_float(t, "alpha", 1.0);
    return 0;
}

// A square, of B's rows (side left) or columns (side right), and with no
// zero on its diagonal: BLAS would fill X with infinities without a word.
static int
s_trsm_check(sl_task *t, const char *fn, const s_trsm_args *s)
{
    if (s_check_square(t, fn, "A", &s->a) != 0) {
        return -1;
    }
    int order = s->b.dim[s->right ? 1 : 0];
    if (s->a.dim[0] != order) {
        return sl_task_fail(t,
                            "%s: A is %dx%d but B is %dx%d (side \"%s\" "
                            "needs A of order %d, B's %s)",
                            fn, s->a.dim[0], s->a.dim[1], s->b.dim[0],
                            s->b.dim[1], s->right ? "right" : "left", order,
                            s->right ? "columns" : "rows");
    }
    const double *a = sl_ndarray_cdata(s->a.v);
    for (int i = 0; !s->unit && i < order; i++) {
        if (a[(size_t) i * order + i] == 0) {
            return sl_task_fail(t, "%s: A is singular (A[%d][%d] is zero)", fn,
                                i, i);
        }
    }
    return 0;
}

static void
s_trsm_call(const s_trsm_args *s, sl_value *out)
{
    int m = s->b.dim[0], n = s->b.dim[1];
    if (m == 0 || n == 0) {
        return;
    }
    cblas_dtrsm(CblasRowMajor, s->right ? CblasRight : CblasLeft,
                s->lower ? CblasLower : CblasUpper,
                s->transa ? CblasTrans : CblasNoTrans,
                s->unit ? CblasUnit : CblasNonUnit, m, n, s->alpha,
                sl_ndarray_cdata(s->a.v), s_max1(s->a.dim[0]),
                sl_ndarray_data(out), s_max1(n));
}

static int
s_dtrsm(sl_task *t)
{
    const char *fn = "blas.dtrsm";
    s_trsm_args s;
    if (s_trsm_read(t, fn, &s) != 0 || s_trsm_check(t, fn, &s) != 0) {
        return -1;
    }
    int m = s.b.dim[0], n = s.b.dim[1];
    sl_value *out = s_new_array(SL_F64, 2, m, n, s.b.v);
    if (out == NULL) {
        return sl_task_fail(t, "%s: out of memory for a %dx%d result", fn, m,
                            n);
    }
    s_trsm_call(&s, out);
    sl_task_add_flops(t, (double) m * n * (s.right ? n : m));
    return sl_task_set_result(t, &out);
}

// The operands of C' = alpha A A^T + beta C, or alpha A^T A + beta C.
typedef struct {
    s_operand a, c; // the operands; c.v is NULL when absent
    bool lower;     // update C's lower triangle, else its upper one
    bool trans;     // A is k x n and the update is A^T A
    int n, k;       // C is n x n, the update of rank k
    double alpha;   // scales the product
    double beta;    // scales C
} s_syrk_args;

static int
s_syrk_read(sl_task *t, const char *fn, s_syrk_args *s)
{
    if (s_read_operand(t, fn, "A", SL_F64, 2, &s->a) != 0 ||
        s_read_operand(t, fn, "C", SL_F64, 2, &s->c) != 0) {
        return -1;
    }
    s->lower = s_arg_bool(t, "lower", true);
    s->trans = s_arg_bool(t, "trans", false);
    s->n = s->a.dim[s->trans ? 1 : 0];
    s->k = s->a.dim[s->trans ? 0 : 1];
    s->alpha = sl_task_arg_float(t, "alpha", 1.0);
    s->beta = s->c.v != NULL ? sl_task_arg_float(t, "beta", 1.0) : 0.0;
    return 0;
}

static int
s_syrk_check(sl_task *t, const char *fn, const s_syrk_args *s)
{
    if (s->c.v != NULL && (s->c.dim[0] != s->n || s->c.dim[1] != s->n)) {
        return sl_task_fail(t, "%s: C is %dx%d but %s is %dx%d", fn,
                            s->c.dim[0], s->c.dim[1],
                            s->trans ? "A^T*A" : "A*A^T", s->n, s->n);
    }
    return 0;
}

static void
s_syrk_call(const s_syrk_args *s, sl_value *out)
{
    if (s->n == 0) {
        return;
    }
    if (s->k == 0) {
        s_scale_triangle(sl_ndarray_data(out), s->n, s->lower, s->beta);
        return;
    }
    cblas_dsyrk(CblasRowMajor, s->lower ? CblasLower : CblasUpper,
                s->trans ? CblasTrans : CblasNoTrans, s->n, s->k, s->alpha,
                sl_ndarray_cdata(s->a.v), s_max1(s->a.dim[1]), s->beta,
                sl_ndarray_data(out), s_max1(s->n));
}

static int
s_dsyrk(sl_task *t)
{
    const char *fn = "blas.dsyrk";
    s_syrk_args s;
    if (s_syrk_read(t, fn, &s) != 0 || s_syrk_check(t, fn, &s) != 0) {
        return -1;
    }
    sl_value *out = s_new_array(SL_F64, 2, s.n, s.n, s.c.v);
    if (out == NULL) {
        return sl_task_fail(t, "%s: out of memory for a %dx%d result", fn, s.n,
                            s.n);
    }
    s_syrk_call(&s, out);
    // dgemm's count over the n(n+1)/2 entries of one triangle: 2k for
    // each, and 2 more for beta*C.
    double entries = (double) s.n * (s.n + 1) / 2;
    sl_task_add_flops(t, 2 * entries * s.k + (s.beta != 0 ? 2 * entries : 0));
    return sl_task_set_result(t, &out);
}

#define S_GEMM_SIGNATURE                                                    \
    "A:ndarray,B:ndarray,C:ndarray?,alpha:float?,beta:float?,transa:bool?," \
    "transb:bool?"

static const sl_kernel_def s_kernels[] = {
    {"dgemm", s_dgemm, S_GEMM_SIGNATURE,
     "f64 C' = alpha*op(A)*op(B) + beta*C (2-D, row-major; beta defaults to "
     "1 with C)"},
    {"sgemm", s_sgemm, S_GEMM_SIGNATURE, "f32 sgemm, as blas.dgemm"},
    {"dgemv", s_dgemv,
     "A:ndarray,x:ndarray,y:ndarray?,alpha:float?,beta:float?,trans:bool?",
     "f64 y' = alpha*op(A)*x + beta*y"},
    {"daxpy", s_daxpy, "alpha:float?,x:ndarray,y:ndarray",
     "f64 alpha*x + y, as a new vector"},
    {"ddot", s_ddot, "x:ndarray,y:ndarray", "f64 dot product x.y"},
    {"dpotrf", s_dpotrf, "A:ndarray,lower:bool?",
     "f64 Cholesky factor of symmetric positive definite A, read from one "
     "triangle: L with A = L*L^T (lower, the default) or U with A = U^T*U; "
     "the other triangle zero"},
    {"dtrsm", s_dtrsm,
     "A:ndarray,B:ndarray,side:str?,lower:bool?,transa:bool?,unit:bool?,"
     "alpha:float?",
     "f64 X with op(A)*X = alpha*B (side \"left\", the default) or X*op(A) "
     "= alpha*B (\"right\"); A triangular, lower by default, op(A) = A^T "
     "with transa, unit diagonal with unit"},
    {"dsyrk", s_dsyrk,
     "A:ndarray,C:ndarray?,alpha:float?,beta:float?,lower:bool?,trans:bool?",
     "f64 C' = alpha*A*A^T + beta*C (alpha*A^T*A with trans) on C's lower "
     "(default) or upper triangle, the other kept from C (zero without C); "
     "beta defaults to 1 with C"},
};

const sl_module_def sl__module_blas = {
    SL_KERNEL_ABI_VERSION,
    "blas",
    s_kernels,
    sizeof(s_kernels) / sizeof(s_kernels[0]),
};
