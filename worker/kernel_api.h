// kernel_api.h - the context a kernel runs in (struct sl_task of kernel.h),
// and the worker's side of it: a task prepared, and its result taken.
// SPDX-License-Identifier: MIT
#ifndef SL_WORKER_KERNEL_API_H
#define SL_WORKER_KERNEL_API_H

#include <starling/kernel.h>

#include "../common/util.h"

#define SL_TASK_ERROR_LEN 1024

struct sl_task {
    uint64_t job;                  // the task's job
    uint32_t index;                // its index in the job
    uint32_t attempt;              // 1 for the first run
    const sl_value *args;          // decoded, refs resolved; borrowed
    sl_value *result;              // set by the kernel; owned; NULL: nil
    bool failed;                   // sl_task_fail was called
    char error[SL_TASK_ERROR_LEN]; // its message
    double flops;                  // counted by the kernel
    uint64_t bytes_read;           // counted by the kernel and the worker
    uint64_t bytes_written;        // likewise
};

// Prepare t for one run of a kernel over args (borrowed).
void sl__task_init(sl_task *t, uint64_t job, uint32_t index, uint32_t attempt,
                   const sl_value *args);
// Free the result if the task still owns it.
void sl__task_fini(sl_task *t);
// Take the result out of the task (NULL if none); the caller owns it.
sl_value *sl__task_take_result(sl_task *t);

// The shape of ndarray v for error messages: "3x4", "7", or "scalar" for
// 0-D. Writes into buf (len bytes) and returns it, or a static string.
const char *sl__shape_str(const sl_value *v, char *buf, size_t len);

#endif
