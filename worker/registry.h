// registry.h - the worker's kernels by name: "module.kernel".
// SPDX-License-Identifier: MIT
//
// A registry is built at start-up from the built-in modules (sys, blas,
// bench) and is read-only afterwards, so every slot thread may look up
// kernels without a lock.
#ifndef SL_WORKER_REGISTRY_H
#define SL_WORKER_REGISTRY_H

#include "kernel_api.h"

typedef struct sl__registry sl__registry;

// A registry holding the built-in modules. NULL on ENOMEM.
sl__registry *sl__registry_new(void);
// An empty registry: the module loader keeps one per loaded module, so that
// every module's kernels are checked the way the built-ins are. NULL on
// ENOMEM.
sl__registry *sl__registry_new_empty(void);
void sl__registry_destroy(sl__registry **reg_p);

// Add a module: checks its ABI version and that its kernel names and
// signatures are well formed. The registry borrows def, which must outlive
// it. On error errbuf says why and nothing is added.
sl_err sl__registry_add(sl__registry *reg, const sl_module_def *def,
                        char errbuf[SL_ERRSTR_LEN]);

// The kernel called name ("blas.dgemm"), or NULL.
const sl_kernel_def *sl__registry_find(const sl__registry *reg,
                                       const char *name);
// Call fn(def, ctx) for every kernel, in registration order.
void sl__registry_each(const sl__registry *reg,
                       void (*fn)(const char *module, const sl_kernel_def *k,
                                  void *ctx),
                       void *ctx);

// Check args against a kernel signature ("n:int,reps:int?"): args must be a
// map (or nil, when every argument is optional), each declared argument
// present unless optional and of its type. Undeclared arguments are an
// error too, to catch typos. On failure errbuf names the argument and the
// types, e.g. "argument 'n': expected int, got str".
sl_err sl__signature_check(const char *signature, const sl_value *args,
                           char errbuf[SL_ERRSTR_LEN]);

// Run kernel k on t: check the signature, call it, and make sure a failed
// kernel left a message. Returns SL_OK or SL_EKERNEL (t->error says why).
sl_err sl__kernel_run(const sl_kernel_def *k, sl_task *t);

// The built-in modules (worker/kernels/*.c).
extern const sl_module_def sl__module_sys;
extern const sl_module_def sl__module_blas;
extern const sl_module_def sl__module_bench;

#endif
