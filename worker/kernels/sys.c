// sys.c - the built-in "sys" kernels: noop, echo, sleep, fail and sum, for
// measuring the system itself and as map_reduce's default reduce.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Arguments are borrowed and may point into the received message, so
//   echo and sum build new values; nothing is modified in place.
// - sum counts one FLOP per floating-point addition. Integer additions
//   are not FLOPs and are checked for overflow instead of wrapping.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../registry.h"

static int
s_noop(sl_task *t)
{
    return 0;
}

static int
s_echo(sl_task *t)
{
    const sl_value *args = sl_task_args(t);
    if (args == NULL) {
        return 0; // nil in, nil out
    }
    sl_value *copy = sl_value_copy(args);
    if (copy == NULL) {
        return sl_task_fail(t, "sys.echo: out of memory");
    }
    return sl_task_set_result(t, &copy);
}

static int
s_sleep(sl_task *t)
{
    int64_t ms = sl_task_arg_int(t, "ms", 0);
    if (ms < 0) {
        return sl_task_fail(t, "sys.sleep: ms must be >= 0, got %lld",
                            (long long) ms);
    }
    struct timespec left = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
        // A signal cut the sleep short: sleep the rest.
    }
    return 0;
}

static int
s_fail(sl_task *t)
{
    return sl_task_fail(t, "%s",
                        sl_task_arg_str(t, "message", "sys.fail called"));
}

// ---------------------------------------------------------------------
// sys.sum

// "an int", "a str": the type of v with its article.
static const char *
s_a_type(const sl_value *v)
{
    static const char *const names[] = {
        "nil",   "a bool",     "an int", "a float", "a str",
        "bytes", "an ndarray", "a ref",  "a list",  "a map"};
    size_t type = (size_t) sl_value_type(v);
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static bool
s_is_number(const sl_value *v)
{
    return sl_value_type(v) == SL_INT || sl_value_type(v) == SL_FLOAT;
}

// Every item must be of the first item's kind: numbers or ndarrays.
static int
s_check_kinds(sl_task *t, const sl_value *values)
{
    const sl_value *first = sl_value_list_at(values, 0);
    bool arrays = sl_value_type(first) == SL_NDARRAY;
    for (size_t i = 0; i < sl_value_list_size(values); i++) {
        const sl_value *v = sl_value_list_at(values, i);
        if (!s_is_number(v) && sl_value_type(v) != SL_NDARRAY) {
            return sl_task_fail(t,
                                "sys.sum: values[%zu] is %s; only numbers "
                                "or ndarrays can be summed",
                                i, s_a_type(v));
        }
        if ((sl_value_type(v) == SL_NDARRAY) != arrays) {
            return sl_task_fail(t,
                                "sys.sum: values[%zu] is %s but values[0] "
                                "is %s (numbers and ndarrays do not mix)",
                                i, s_a_type(v), s_a_type(first));
        }
    }
    return 0;
}

// Ints sum to an int (an error on overflow); any float makes a float.
static int
s_sum_numbers(sl_task *t, const sl_value *values)
{
    size_t n = sl_value_list_size(values);
    int64_t isum = 0;
    double fsum = 0;
    bool overflow = false, floats = false;
    for (size_t i = 0; i < n; i++) {
        const sl_value *v = sl_value_list_at(values, i);
        floats = floats || sl_value_type(v) == SL_FLOAT;
        overflow =
            overflow || __builtin_add_overflow(isum, sl_value_int(v), &isum);
        fsum += sl_value_float(v);
    }
    if (!floats && overflow) {
        return sl_task_fail(t,
                            "sys.sum: the sum of %zu ints overflows "
                            "int64",
                            n);
    }
    sl_value *out = floats ? sl_value_new_float(fsum) : sl_value_new_int(isum);
    if (out == NULL) {
        return sl_task_fail(t, "sys.sum: out of memory");
    }
    if (floats && n > 1) {
        sl_task_add_flops(t, (double) (n - 1));
    }
    return sl_task_set_result(t, &out);
}

static bool
s_add_f64(void *acc, const void *x, size_t n)
{
    double *a = acc;
    const double *b = x;
    for (size_t i = 0; i < n; i++) {
        a[i] += b[i];
    }
    return true;
}

static bool
s_add_f32(void *acc, const void *x, size_t n)
{
    float *a = acc;
    const float *b = x;
    for (size_t i = 0; i < n; i++) {
        a[i] += b[i];
    }
    return true;
}

static bool
s_add_i64(void *acc, const void *x, size_t n)
{
    int64_t *a = acc;
    const int64_t *b = x;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        overflow |= __builtin_add_overflow(a[i], b[i], &a[i]);
    }
    return !overflow;
}

static bool
s_add_i32(void *acc, const void *x, size_t n)
{
    int32_t *a = acc;
    const int32_t *b = x;
    bool overflow = false;
    for (size_t i = 0; i < n; i++) {
        overflow |= __builtin_add_overflow(a[i], b[i], &a[i]);
    }
    return !overflow;
}

// acc += x elementwise; false when an integer element overflowed.
static bool
s_add(sl_dtype dtype, void *acc, const void *x, size_t n)
{
    switch (dtype) {
    case SL_F64:
        return s_add_f64(acc, x, n);
    case SL_F32:
        return s_add_f32(acc, x, n);
    case SL_I64:
        return s_add_i64(acc, x, n);
    case SL_I32:
        return s_add_i32(acc, x, n);
    }
    return false;
}

static bool
s_same_array_shape(const sl_value *a, const sl_value *b)
{
    if (sl_ndarray_dtype(a) != sl_ndarray_dtype(b) ||
        sl_ndarray_ndim(a) != sl_ndarray_ndim(b)) {
        return false;
    }
    for (int i = 0; i < sl_ndarray_ndim(a); i++) {
        if (sl_ndarray_dim(a, i) != sl_ndarray_dim(b, i)) {
            return false;
        }
    }
    return true;
}

// Every array must have the first one's dtype and shape.
static int
s_check_arrays(sl_task *t, const sl_value *values)
{
    const sl_value *first = sl_value_list_at(values, 0);
    char want[64], got[64];
    for (size_t i = 1; i < sl_value_list_size(values); i++) {
        const sl_value *v = sl_value_list_at(values, i);
        if (!s_same_array_shape(first, v)) {
            return sl_task_fail(
                t, "sys.sum: values[%zu] is %s %s but values[0] is %s %s", i,
                sl_dtype_name(sl_ndarray_dtype(v)), sl__shape_str(v, got, 64),
                sl_dtype_name(sl_ndarray_dtype(first)),
                sl__shape_str(first, want, 64));
        }
    }
    return 0;
}

// Elementwise sum into a new array of the same dtype and shape.
static int
s_sum_arrays(sl_task *t, const sl_value *values)
{
    if (s_check_arrays(t, values) != 0) {
        return -1;
    }
    const sl_value *first = sl_value_list_at(values, 0);
    sl_dtype dtype = sl_ndarray_dtype(first);
    int64_t shape[SL_NDARRAY_MAX_DIMS];
    for (int i = 0; i < sl_ndarray_ndim(first); i++) {
        shape[i] = sl_ndarray_dim(first, i);
    }
    sl_value *out = sl_value_new_ndarray(dtype, sl_ndarray_ndim(first), shape,
                                         sl_ndarray_cdata(first));
    if (out == NULL) {
        return sl_task_fail(t, "sys.sum: out of memory");
    }
    size_t n = sl_value_list_size(values), size = sl_ndarray_size(first);
    for (size_t i = 1; i < n; i++) {
        const void *x = sl_ndarray_cdata(sl_value_list_at(values, i));
        if (!s_add(dtype, sl_ndarray_data(out), x, size)) {
            sl_value_destroy(&out);
            return sl_task_fail(t,
                                "sys.sum: %s elements overflow at "
                                "values[%zu]",
                                sl_dtype_name(dtype), i);
        }
    }
    if (dtype == SL_F64 || dtype == SL_F32) {
        sl_task_add_flops(t, (double) (n - 1) * (double) size);
    }
    return sl_task_set_result(t, &out);
}

static int
s_sum(sl_task *t)
{
    const sl_value *values = sl_task_arg(t, "values");
    if (sl_value_list_size(values) == 0) {
        sl_value *zero = sl_value_new_int(0);
        return zero != NULL ? sl_task_set_result(t, &zero)
                            : sl_task_fail(t, "sys.sum: out of memory");
    }
    if (s_check_kinds(t, values) != 0) {
        return -1;
    }
    if (sl_value_type(sl_value_list_at(values, 0)) == SL_NDARRAY) {
        return s_sum_arrays(t, values);
    }
    return s_sum_numbers(t, values);
}

static const sl_kernel_def s_kernels[] = {
    {"noop", s_noop, "", "do nothing; returns nil"},
    {"echo", s_echo, NULL, "return a copy of the whole argument"},
    {"sleep", s_sleep, "ms:int", "sleep ms milliseconds; returns nil"},
    {"fail", s_fail, "message:str?",
     "fail with message (default \"sys.fail called\")"},
    {"sum", s_sum, "values:list",
     "sum of ints, of numbers (float), or elementwise of same-shape "
     "ndarrays"},
};

const sl_module_def sl__module_sys = {
    SL_KERNEL_ABI_VERSION,
    "sys",
    s_kernels,
    sizeof(s_kernels) / sizeof(s_kernels[0]),
};
