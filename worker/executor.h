// executor.h - an executor process: a slot's kernels run in a child
// process, which the worker can kill (a task past its time limit, a task
// stopped) and replace (a kernel that crashed), losing one task and never
// itself.
// SPDX-License-Identifier: MIT
//
// The child is this same program, exec'd afresh by the worker
// (worker/slots_process.c) as `starling-worker --executor-fd N
// --module-cache DIR --cache-bytes B [--module-allow FILE]`: N is its end
// of a socketpair, over which travel the frames of worker/frame.h (the
// init frame and batches in, outcomes out); B is its input cache's budget
// (0: none); FILE is the worker's allow list of module hashes.
//
// The executor runs the tasks with worker/run.h in order and answers; it
// exits when the worker closes its end, and dies with the worker.
#ifndef SL_WORKER_EXECUTOR_H
#define SL_WORKER_EXECUTOR_H

#include <stddef.h>

// How often a batch reports its outcomes.
#define SL_EXECUTOR_FLUSH_MS 2

// The child's side: serve batches on fd until the worker closes it.
// Returns the process exit status.
int sl__executor_main(int fd, const char *module_cache,
                      const char *module_allow, size_t cache_bytes);

#endif
