// kernel_api.c - the task context a kernel runs in: arguments in, result and
// counters out (the sl_task_* half of the kernel ABI in kernel.h).
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A task lives on the stack of whoever runs it (a slot thread of the
//   worker, or an executor process) for one kernel call, so nothing here
//   locks.
// - The task owns its result until sl__task_take_result; sl__task_fini
//   frees whatever is left.
// - sl_task_fail keeps the last message: a kernel that fails, then adds
//   context, reports the context.
#include "kernel_api.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
sl__task_init(sl_task *t, uint64_t job, uint32_t index, uint32_t attempt,
              const sl_value *args)
{
    memset(t, 0, sizeof(*t));
    t->job = job;
    t->index = index;
    t->attempt = attempt;
    t->args = args;
}

void
sl__task_fini(sl_task *t)
{
    sl_value_destroy(&t->result);
}

sl_value *
sl__task_take_result(sl_task *t)
{
    sl_value *v = t->result;
    t->result = NULL;
    return v;
}

const sl_value *
sl_task_args(const sl_task *task)
{
    return task->args;
}

const sl_value *
sl_task_arg(const sl_task *task, const char *name)
{
    return sl_value_map_get(task->args, name);
}

int64_t
sl_task_arg_int(const sl_task *task, const char *name, int64_t dflt)
{
    const sl_value *v = sl_task_arg(task, name);
    return sl_value_type(v) == SL_INT ? sl_value_int(v) : dflt;
}

double
sl_task_arg_float(const sl_task *task, const char *name, double dflt)
{
    const sl_value *v = sl_task_arg(task, name);
    sl_type type = sl_value_type(v);
    return type == SL_FLOAT || type == SL_INT ? sl_value_float(v) : dflt;
}

const char *
sl_task_arg_str(const sl_task *task, const char *name, const char *dflt)
{
    const sl_value *v = sl_task_arg(task, name);
    return sl_value_type(v) == SL_STR ? sl_value_str(v, NULL) : dflt;
}

int
sl_task_set_result(sl_task *task, sl_value **value_p)
{
    sl_value_destroy(&task->result);
    if (value_p != NULL) {
        task->result = *value_p;
        *value_p = NULL;
    }
    return 0;
}

int
sl_task_fail(sl_task *task, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(task->error, sizeof(task->error), fmt, ap);
    va_end(ap);
    task->failed = true;
    return -1;
}

void
sl_task_add_flops(sl_task *task, double flops)
{
    // A NaN or negative count from a buggy kernel must not poison the
    // job's totals.
    if (isfinite(flops) && flops > 0) {
        task->flops += flops;
    }
}

void
sl_task_add_bytes(sl_task *task, uint64_t read, uint64_t written)
{
    task->bytes_read += read;
    task->bytes_written += written;
}

uint64_t
sl_task_job_id(const sl_task *task)
{
    return task->job;
}

uint32_t
sl_task_index(const sl_task *task)
{
    return task->index;
}

uint32_t
sl_task_attempt(const sl_task *task)
{
    return task->attempt;
}

const char *
sl__shape_str(const sl_value *v, char *buf, size_t len)
{
    int ndim = sl_ndarray_ndim(v);
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%lld", i > 0 ? "x" : "",
                         (long long) sl_ndarray_dim(v, i));
        used += n > 0 ? (size_t) n : 0;
    }
    return ndim == 0 ? "scalar" : buf;
}
