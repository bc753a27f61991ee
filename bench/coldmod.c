// coldmod.c - the module the cold-start benchmark loads: one trivial
// kernel, and COLDMOD_PAD bytes of read-only data to make the shared
// object as large as a real one that links in a library or two.
// SPDX-License-Identifier: MIT
#include <starling/kernel.h>

#ifndef COLDMOD_PAD
#define COLDMOD_PAD 1
#endif

static const unsigned char pad[COLDMOD_PAD] = {1};

// Returns one byte of the padding, so the padding stays in the file.
static int
one(sl_task *t)
{
    sl_value *v = sl_value_new_int(pad[sl_task_index(t) % COLDMOD_PAD]);
    return sl_task_set_result(t, &v);
}

static const sl_kernel_def kernels[] = {
    {"one", one, NULL, "returns 1 (for task 0)"},
};

SL_MODULE_EXPORT const sl_module_def starling_module = {SL_KERNEL_ABI_VERSION,
                                                        "coldmod", kernels, 1};
