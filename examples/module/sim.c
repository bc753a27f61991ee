// sim.c - a starling kernel module of your own: Monte-Carlo pi and one step
// of a 2-D heat stencil. Built against <starling/kernel.h> alone; see
// CMakeLists.txt beside it, and ../module_map.c for a program that runs it.
//
//   sim/pi       {"samples": int, "seed": int?}  -> points inside the circle
//   sim/stencil  {"grid": 2-D f64 ndarray, "alpha": float?, "steps": int?}
//                -> the grid after steps Jacobi steps; the outer ring is
//                   held fixed (a boundary, or another task's halo)
// SPDX-License-Identifier: MIT
#include <starling/kernel.h>

#include <string.h>

// splitmix64: a small, good, seedable generator.
static uint64_t
next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// A uniform double in [0, 1).
static double
uniform(uint64_t *s)
{
    return (double) (next(s) >> 11) * 0x1.0p-53;
}

static int
pi(sl_task *t)
{
    int64_t n = sl_task_arg_int(t, "samples", 0);
    if (n <= 0) {
        return sl_task_fail(t, "samples must be positive, got %lld",
                            (long long) n);
    }
    // Each task its own stream: the seed, else the task's place in its job.
    uint64_t s = (uint64_t) sl_task_arg_int(
        t, "seed", (int64_t) (sl_task_job_id(t) ^ sl_task_index(t)));
    int64_t inside = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = uniform(&s), y = uniform(&s);
        inside += x * x + y * y < 1.0;
    }
    sl_task_add_flops(t, 3.0 * (double) n); // two products and a sum
    sl_value *v = sl_value_new_int(inside);
    return sl_task_set_result(t, &v);
}

// One Jacobi step of the heat equation on the interior of rows x cols.
static void
heat_step(const double *u, double *out, int64_t rows, int64_t cols,
          double alpha)
{
    memcpy(out, u, sizeof(double) * (size_t) (rows * cols));
    for (int64_t i = 1; i < rows - 1; i++) {
        for (int64_t j = 1; j < cols - 1; j++) {
            const double *c = u + i * cols + j;
            out[i * cols + j] =
                *c + alpha * (c[-cols] + c[cols] + c[-1] + c[1] - 4 * *c);
        }
    }
}

static int
stencil(sl_task *t)
{
    const sl_value *grid = sl_task_arg(t, "grid");
    double alpha = sl_task_arg_float(t, "alpha", 0.2);
    int64_t steps = sl_task_arg_int(t, "steps", 1);
    if (sl_ndarray_dtype(grid) != SL_F64 || sl_ndarray_ndim(grid) != 2) {
        return sl_task_fail(t, "grid must be a 2-D f64 array");
    }
    if (steps < 1 || alpha <= 0 || alpha > 0.25) {
        return sl_task_fail(t, "want steps >= 1 and 0 < alpha <= 0.25");
    }
    int64_t rows = sl_ndarray_dim(grid, 0), cols = sl_ndarray_dim(grid, 1);
    int64_t shape[2] = {rows, cols};
    sl_value *a =
        sl_value_new_ndarray(SL_F64, 2, shape, sl_ndarray_cdata(grid));
    sl_value *b = sl_value_new_ndarray(SL_F64, 2, shape, NULL);
    if (a == NULL || b == NULL) {
        sl_value_destroy(&a);
        sl_value_destroy(&b);
        return sl_task_fail(t, "out of memory for a %lldx%lld grid",
                            (long long) rows, (long long) cols);
    }
    for (int64_t s = 0; s < steps; s++) {
        heat_step(sl_ndarray_cdata(a), sl_ndarray_data(b), rows, cols, alpha);
        sl_value *tmp = a; // the new grid is the next step's input
        a = b;
        b = tmp;
    }
    sl_value_destroy(&b);
    double interior = (double) ((rows - 2) * (cols - 2));
    sl_task_add_flops(t, 7.0 * interior * (double) steps);
    return sl_task_set_result(t, &a);
}

static const sl_kernel_def kernels[] = {
    {"pi", pi, "samples:int,seed:int?",
     "Monte-Carlo pi: points of samples that fall inside the unit circle"},
    {"stencil", stencil, "grid:ndarray,alpha:float?,steps:int?",
     "Jacobi steps of the 2-D heat equation; the outer ring is fixed"},
};

SL_MODULE_EXPORT const sl_module_def starling_module = {
    SL_KERNEL_ABI_VERSION,
    "sim",
    kernels,
    sizeof(kernels) / sizeof(kernels[0]),
};
