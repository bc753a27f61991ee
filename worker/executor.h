// executor.h - executor processes: a slot whose kernels run in a child
// process, which the worker can kill (a task past its time limit) and
// replace (a kernel that crashed), losing one task and never itself.
// SPDX-License-Identifier: MIT
//
// The child is this same program, exec'd afresh (never only forked: the
// worker has threads, and a forked copy of a threaded process may not
// call malloc safely), given one end of a socketpair, over which travel
// the frames of worker/frame.h: tasks in, outcomes out.
//
// The executor runs the tasks with worker/run.h in order and answers; it
// exits when the worker closes its end, and dies with the worker.
#ifndef SL_WORKER_EXECUTOR_H
#define SL_WORKER_EXECUTOR_H

#include <stdbool.h>
#include <sys/types.h>

#include "../common/util.h"

// How often a batch reports its outcomes.
#define SL_EXECUTOR_FLUSH_MS 2

typedef struct {
    pid_t pid; // the child; 0: none
    int fd;    // the worker's end of the socketpair; -1: none
} sl__executor;

// Start an executor for the module cache dir and send it init (the init
// frame's payload, worker/frame.h). The child's command line is
// `starling-worker --executor-fd N --module-cache DIR --cache-bytes B
// [--module-allow FILE]`, N being its end of the socket, B its input
// cache's budget (0: none); module_allow is the worker's allow list of
// module hashes, or NULL.
sl_err sl__executor_start(sl__executor *ex, const char *module_cache,
                          const char *module_allow, size_t cache_bytes,
                          const void *init, size_t init_len,
                          char errbuf[SL_ERRSTR_LEN]);
// Close the socket, stop the child and reap it, and describe how it ended
// in how: "killed by signal 11 (Segmentation fault)", "exited with status
// 1". With force it is killed (SIGKILL) at once; without, a child that
// closed its end is given 20 ms to end by itself first, so that its own
// cause of death is the one reported.
void sl__executor_stop(sl__executor *ex, bool force, char *how, size_t how_len);

// The child's side: serve tasks on fd until the worker closes it.
// Returns the process exit status.
int sl__executor_main(int fd, const char *module_cache,
                      const char *module_allow, size_t cache_bytes);

#endif
