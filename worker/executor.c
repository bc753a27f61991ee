// executor.c - an executor process: the loop that runs a worker's batches.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - An executor trusts its worker (it is the same program, and its
//   parent): a frame that does not decode ends the process, status 2.
// - One batch at a time, its tasks in order, each run by worker/run.h on
//   its argument where it lies in the batch frame: nothing is copied or
//   decoded before the task runs, and the frame is not read again until
//   the batch is done.
// - Outcomes go back as they pile up (SL_EXECUTOR_FLUSH_MS), so that the
//   worker hears of a long batch as it goes and a death costs only the
//   tasks whose outcomes it had not sent.
// - The process ends when the worker closes its end (a failed read or
//   write: the worker is gone); it dies with the worker anyway
//   (PR_SET_PDEATHSIG, set by slots_process.c).
#define _GNU_SOURCE
#include "executor.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "frame.h"
#include "run.h"

// Decode a batch frame into ts; *n says how many tasks it holds. Their
// arguments stay where they are, in f, and are decoded once, to run.
static sl_err
s_decode_batch(const sl__frame *f, sl__run_task *ts, uint32_t *n)
{
    sl__task_group g;
    sl__task_item items[SL_FRAME_BATCH_MAX];
    char errbuf[SL_ERRSTR_LEN];
    if (sl__frame_batch_decode(f->data, f->len, &g, items, errbuf) != SL_OK) {
        sl__log_error("executor: the worker sent a malformed task: %s", errbuf);
        return SL_EPROTO;
    }
    for (*n = 0; *n < g.n_tasks; (*n)++) {
        sl__run_task_init_view(&ts[*n], &g, &items[*n]);
    }
    return SL_OK;
}

// Run a batch, sending outcomes as they pile up: all of them at the end,
// and what has ended whenever SL_EXECUTOR_FLUSH_MS passed since the last
// frame, so that the worker hears of a long batch as it goes. A task with
// a time limit comes alone, and its outcome goes at once.
static sl_err
s_run_batch(sl__runner *runner, sl__run_task *ts, uint32_t n, int fd,
            sl__mpw *w)
{
    sl_err rv = SL_OK;
    double flushed = sl__wall();
    sl__mpw_reset(w);
    // A failed send means the worker is gone: the rest is not run.
    for (uint32_t i = 0; i < n && rv == SL_OK; i++) {
        sl__outcome o;
        sl__runner_run(runner, &ts[i]);
        sl__run_task_outcome(&ts[i], &o);
        sl__msg_outcome(w, &o, true);
        // The task's end time is the clock (reading it again for each
        // task showed in the profile); a task that never ran has none.
        double now = ts[i].stats.end_s > 0 ? ts[i].stats.end_s : sl__wall();
        if (i + 1 == n || (now - flushed) * 1000 >= SL_EXECUTOR_FLUSH_MS) {
            sl__mpw_xcheck(w);
            rv = sl__frame_send(fd, w->buf.data, w->buf.size);
            sl__mpw_reset(w);
            flushed = now;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        sl__run_task_clear(&ts[i]); // their arguments lie in the frame
    }
    return rv;
}

int
sl__executor_main(int fd, const char *module_cache, const char *module_allow,
                  size_t cache_bytes)
{
    sl__frame f = {0};
    sl__frame_init init;
    sl__runner runner = {0};
    bool eof;
    signal(SIGPIPE, SIG_IGN);
    runner.limits = sl__limits_default;
    if (sl__frame_recv(fd, &f, runner.limits.max_message, -1, &eof) != SL_OK ||
        sl__frame_init_decode(f.data, f.len, &init) != SL_OK) {
        sl__log_error("executor: no usable start message from the worker");
        sl__frame_fini(&f);
        return 2;
    }
    sl__registry *registry = sl__registry_new();
    sl__loader *loader = sl__loader_new(module_cache);
    if (registry == NULL || loader == NULL) {
        sl__log_error("executor: cannot build the kernel registry");
        return 1;
    }
    char errbuf[SL_ERRSTR_LEN];
    if (module_allow != NULL &&
        sl__loader_allow_file(loader, module_allow, errbuf) != SL_OK) {
        sl__log_error("executor: %s", errbuf); // the worker read it first
        return 1;
    }
    runner.registry = registry;
    runner.loader = loader;
    runner.store_opts = &init.store.opts;
    runner.inline_max = init.inline_max;
    runner.tier_cluster = init.tier_cluster;
    runner.tier_node = init.tier_node;
    runner.cache = cache_bytes > 0 ? sl__cache_new(cache_bytes) : NULL;
    sl__mpw w;
    sl__mpw_init(&w);
    int status = 0;
    sl__run_task *batch = sl__xcalloc(SL_FRAME_BATCH_MAX, sizeof(*batch));
    while (sl__frame_recv(fd, &f, runner.limits.max_message, -1, &eof) ==
           SL_OK) {
        uint32_t n;
        if (s_decode_batch(&f, batch, &n) != SL_OK) {
            status = 2;
            break;
        }
        if (s_run_batch(&runner, batch, n, fd, &w) != SL_OK) {
            break; // the worker is gone
        }
    }
    for (uint32_t i = 0; i < SL_FRAME_BATCH_MAX; i++) {
        sl__run_task_fini(&batch[i]);
    }
    free(batch);
    sl__mpw_fini(&w);
    sl__frame_fini(&f);
    sl__runner_fini(&runner);
    sl__loader_destroy(&loader);
    sl__registry_destroy(&registry);
    close(fd);
    return status;
}
