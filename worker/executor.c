// executor.c - executor processes: start and stop; and the child's loop.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../serialize/msg.h"
#include "frame.h"
#include "run.h"

sl_err
sl__executor_start(sl__executor *ex, const char *module_cache,
                   const char *module_allow, size_t cache_bytes,
                   const void *init, size_t init_len,
                   char errbuf[SL_ERRSTR_LEN])
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "socketpair: %s", strerror(errno));
        return SL_EIO;
    }
    // Everything the child needs is made before fork: between fork and
    // exec it may only make async-signal-safe calls.
    char fdarg[16], cachearg[24];
    sl__fmt(fdarg, sizeof(fdarg), "%d", sv[1]);
    sl__fmt(cachearg, sizeof(cachearg), "%zu", cache_bytes);
    char *argv[] = {"starling-worker",
                    "--executor-fd",
                    fdarg,
                    "--module-cache",
                    (char *) module_cache,
                    "--cache-bytes",
                    cachearg,
                    NULL,
                    NULL,
                    NULL};
    if (module_allow != NULL) {
        argv[7] = "--module-allow";
        argv[8] = (char *) module_allow;
    }
    sigset_t none;
    sigemptyset(&none);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return SL_EIO;
    }
    if (pid == 0) {
        // Die with the worker, even in the middle of a kernel.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(126);
        }
        fcntl(sv[1], F_SETFD, 0); // keep this one across exec
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(sv[1]);
    ex->pid = pid;
    ex->fd = sv[0];
    if (sl__frame_send(ex->fd, init, init_len) != SL_OK) {
        char how[128];
        sl__executor_stop(ex, true, how, sizeof(how));
        sl__fmt(errbuf, SL_ERRSTR_LEN, "executor %s at start", how);
        return SL_EIO;
    }
    return SL_OK;
}

static void
s_describe(int status, char *how, size_t how_len)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        sl__fmt(how, how_len, "killed by signal %d (%s)", sig, strsignal(sig));
    } else if (WIFEXITED(status)) {
        sl__fmt(how, how_len, "exited with status %d", WEXITSTATUS(status));
    } else {
        sl__fmt(how, how_len, "ended (wait status %d)", status);
    }
}

void
sl__executor_stop(sl__executor *ex, bool force, char *how, size_t how_len)
{
    sl__strlcpy(how, "not running", how_len);
    if (ex->fd >= 0) {
        close(ex->fd);
        ex->fd = -1;
    }
    if (ex->pid <= 0) {
        return;
    }
    // One that closed its end may still be on its way out: give it a
    // moment to end by itself, so that we report its own cause of death.
    int status = 0;
    pid_t got = waitpid(ex->pid, &status, WNOHANG);
    for (int i = 0; !force && got == 0 && i < 20; i++) {
        usleep(1000);
        got = waitpid(ex->pid, &status, WNOHANG);
    }
    if (got == 0) {
        kill(ex->pid, SIGKILL);
        while ((got = waitpid(ex->pid, &status, 0)) < 0 && errno == EINTR) {
        }
    }
    if (got == ex->pid) {
        s_describe(status, how, how_len);
    }
    ex->pid = 0;
}

// ---------------------------------------------------------------------
// The child.

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
    runner.store_opts = &init.store;
    runner.inline_max = init.inline_max;
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
