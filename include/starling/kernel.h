// kernel.h - the kernel ABI: how a function that starling runs is written.
// SPDX-License-Identifier: MIT
//
// A kernel is a C function that reads its arguments from a task context,
// does its work, and either sets a result or fails with a message. It also
// counts its work: FLOPs performed and bytes read and written, which jobs
// sum into aggregate GFLOPS and data moved.
//
//     static int
//     scale(sl_task *t)
//     {
//         const sl_value *x = sl_task_arg(t, "x");
//         double f = sl_value_float(sl_task_arg(t, "factor"));
//         ...
//         sl_task_add_flops(t, n);
//         return sl_task_set_result(t, &out);
//     }
//
// Built-in kernels (sys.*, blas.*, bench.*) use this same ABI. Your own
// kernels are a module: a shared object that defines starling_module,
//
//     static const sl_kernel_def kernels[] = {
//         {"scale", scale, "x:ndarray,factor:float", "x * factor"},
//     };
//     SL_MODULE_EXPORT const sl_module_def starling_module = {
//         SL_KERNEL_ABI_VERSION, "mine", kernels, 1};
//
// built with this header alone (pkg-config --cflags starling, or CMake's
// starling::kernel) and linked against nothing of starling's: the worker
// that loads it provides every sl_task_* and sl_value_* function. Register
// it from a client with sl_module_register (starling/client.h); tasks then
// name its kernels "<sha256 of the file>/scale".
#ifndef STARLING_KERNEL_H
#define STARLING_KERNEL_H

#include <starling/value.h>

#ifdef __cplusplus
extern "C" {
#endif

// Bumped whenever the layout of sl_kernel_def or sl_module_def, or the
// meaning of a function below, changes. A worker refuses a module built
// against another version.
#define SL_KERNEL_ABI_VERSION 1

// Export starling_module even from a module built with -fvisibility=hidden
// (a good habit: the module's other symbols then stay its own).
#define SL_MODULE_EXPORT __attribute__((visibility("default")))

// The context of one running task. Borrowed by the kernel for the call.
typedef struct sl_task sl_task;

// A kernel returns 0 on success (after sl_task_set_result, or with a nil
// result if it set none) and non-zero after sl_task_fail.
typedef int (*sl_kernel_fn)(sl_task *task);

// One kernel of a module. signature, when not NULL, declares the arguments
// as comma-separated "name:type" items, with a trailing '?' for an optional
// one; type is int, float (accepts int), bool, str, bytes, ndarray, ref,
// list, map or any. The worker checks the task's argument map against it
// before the call, so that a wrong type is a clear error, not a crash.
// Example: "n:int,reps:int?,dtype:str?".
typedef struct {
    const char *name;      // "dgemm": "module.dgemm" when built in,
                           // "<sha256>/dgemm" in a user module
    sl_kernel_fn fn;       // the function
    const char *signature; // argument declaration, or NULL for any
    const char *doc;       // one line for `starling functions`
} sl_kernel_def;

// What a module exports, under the symbol "starling_module". A worker
// checks abi_version first and reads nothing else of a module built for
// another version.
typedef struct {
    int abi_version;              // SL_KERNEL_ABI_VERSION
    const char *name;             // "blas"; no '.'; in messages and logs
    const sl_kernel_def *kernels; // array of n_kernels
    size_t n_kernels;             // entries in kernels
} sl_module_def;

// The whole argument value of the task (usually a map).
SL_EXPORT const sl_value *sl_task_args(const sl_task *task);
// The argument named name in the argument map, or NULL when absent.
// Refs have been resolved: a kernel sees the stored value, not the ref.
// Arguments are read-only: a stored value's bytes may be shared with the
// later tasks of this slot that name the same object (the worker's input
// cache), so a kernel that writes into them (casting const away) changes
// what those tasks see. Copy an array the kernel must modify.
SL_EXPORT const sl_value *sl_task_arg(const sl_task *task, const char *name);
// Convenience readers for optional scalar arguments.
SL_EXPORT int64_t sl_task_arg_int(const sl_task *task, const char *name,
                                  int64_t dflt);
SL_EXPORT double sl_task_arg_float(const sl_task *task, const char *name,
                                   double dflt);
// The string argument, or dflt when absent.
SL_EXPORT const char *sl_task_arg_str(const sl_task *task, const char *name,
                                      const char *dflt);

// Set the task's result. Takes ownership of *value_p and sets it to NULL.
// Returns 0, so a kernel can end with `return sl_task_set_result(t, &v);`.
SL_EXPORT int sl_task_set_result(sl_task *task, sl_value **value_p);
// Fail the task with a printf-style message. Returns -1, so a kernel can
// end with `return sl_task_fail(t, "n must be positive, got %d", n);`.
SL_EXPORT int sl_task_fail(sl_task *task, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Count work: floating-point operations, and bytes read and written beyond
// the arguments and result (which the worker counts itself).
SL_EXPORT void sl_task_add_flops(sl_task *task, double flops);
SL_EXPORT void sl_task_add_bytes(sl_task *task, uint64_t read,
                                 uint64_t written);

// The task's job id, index, and attempt number (1 for the first run).
SL_EXPORT uint64_t sl_task_job_id(const sl_task *task);
SL_EXPORT uint32_t sl_task_index(const sl_task *task);
SL_EXPORT uint32_t sl_task_attempt(const sl_task *task);

#ifdef __cplusplus
}
#endif
#endif
