// slots_process.c - the slots backend of executor processes: the worker's side.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Each slot has an executor process (worker/executor.h), started with
//   the slots when the worker has no more slots than cores (the shape
//   `starling up` makes), else when the slot first has work, and again
//   when it next has work after the last one went away. Started with the
//   slots, the exec, the dynamic loading and OpenBLAS's set-up (about
//   7 ms on the development VM) are done before the first batch arrives,
//   not inside the first map; a worker of many slots, which
//   hands short tasks to as few of them as it can, starts only the
//   executors it uses. A batch goes to it in one frame (worker/frame.h);
//   its outcomes come back in frames, in the batch's order, and the loop
//   polls the sockets of busy executors beside the scheduler's.
// - The executor is not trusted: a kernel may have scribbled over its
//   process. Each outcome must decode and name the next task of the
//   batch and the attempt it was sent before it joins a RESULT, where it
//   could spoil the other outcomes. Anything else, or EOF, ends that
//   executor: its task is LOST, which costs it one attempt at the
//   scheduler. Outcomes beyond the batch stop the executor (its slot is
//   free already).
// - An executor that dies under a batch cannot say which task killed it:
//   the batch goes back to the worker uncharged (requeue, careful), to run
//   one task at a time, so that the one that kills its executor then is
//   charged as usual.
// - A task with a time limit comes alone; the executor is SIGKILLed when
//   the limit passes (polls wake at the nearest deadline), and the task
//   fails "timed out". A stop kills the executor too: the tasks stopped
//   end CANCELLED, at no attempt's cost, and the rest of the batch goes
//   back to the worker. Either way the slot is idle at once, and a fresh
//   executor starts when it next has work.
// - Executors are exec'd, not only forked: the worker has threads
//   (ZeroMQ's), and a forked copy of a threaded process may not even call
//   malloc safely. They die with the worker (PR_SET_PDEATHSIG).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slots.h"

// An executor's outcome frame that has begun must be whole within this.
#define S_FRAME_MS 5000

typedef struct {
    int index;              // slot number
    pid_t pid;              // its executor; 0: none
    int fd;                 // the worker's end of its socketpair; -1: none
    sl__slot_task *running; // the batch it runs, in order, or NULL
    uint32_t n_running;     // tasks in it
    int64_t deadline_ms;    // when that task's time is up; 0: no limit
} s_slot;

struct sl__slots {
    sl__slots_config cfg;     // as given
    sl__slots_host host;      // the worker
    s_slot *slots;            // cfg.n_slots entries
    int *poll_slot;           // the slot of each poll item added
    sl__frame frame;          // an executor's outcome frame being read
    sl__mpw init;             // the init frame, for every executor
    sl__mpw w;                // a batch frame being written
    uint64_t executors_lost;  // executors that died under a task
    uint64_t tasks_timed_out; // executors killed at a time limit
    uint64_t tasks_stopped;   // running tasks stopped by a cancel
};

// ---------------------------------------------------------------------
// Executor processes.

static void s_executor_stop(s_slot *slot, bool force, char *how,
                            size_t how_len);

// Start the slot's executor and send it the init frame. The child's
// command line is `starling-worker --executor-fd N --module-cache DIR
// --cache-bytes B [--module-allow FILE]` (worker/main.c).
static sl_err
s_executor_start(sl__slots *self, s_slot *slot, char errbuf[SL_ERRSTR_LEN])
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
    sl__fmt(cachearg, sizeof(cachearg), "%zu", self->cfg.cache_bytes);
    char *argv[] = {"starling-worker",
                    "--executor-fd",
                    fdarg,
                    "--module-cache",
                    (char *) sl__loader_dir(self->cfg.loader),
                    "--cache-bytes",
                    cachearg,
                    NULL,
                    NULL,
                    NULL};
    if (self->cfg.module_allow != NULL) {
        argv[7] = "--module-allow";
        argv[8] = (char *) self->cfg.module_allow;
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
    slot->pid = pid;
    slot->fd = sv[0];
    if (sl__frame_send(slot->fd, self->init.buf.data, self->init.buf.size) !=
        SL_OK) {
        char how[128];
        s_executor_stop(slot, true, how, sizeof(how));
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

// Close the socket, stop the child and reap it, and describe how it ended
// in how: "killed by signal 11 (Segmentation fault)", "exited with status
// 1". With force it is killed (SIGKILL) at once; without, a child that
// closed its end is given 20 ms to end by itself first, so that its own
// cause of death is the one reported.
static void
s_executor_stop(s_slot *slot, bool force, char *how, size_t how_len)
{
    sl__strlcpy(how, "not running", how_len);
    if (slot->fd >= 0) {
        close(slot->fd);
        slot->fd = -1;
    }
    if (slot->pid <= 0) {
        return;
    }
    // One that closed its end may still be on its way out: give it a
    // moment to end by itself, so that we report its own cause of death.
    int status = 0;
    pid_t got = waitpid(slot->pid, &status, WNOHANG);
    for (int i = 0; !force && got == 0 && i < 20; i++) {
        usleep(1000);
        got = waitpid(slot->pid, &status, WNOHANG);
    }
    if (got == 0) {
        kill(slot->pid, SIGKILL);
        while ((got = waitpid(slot->pid, &status, 0)) < 0 && errno == EINTR) {
        }
    }
    if (got == slot->pid) {
        s_describe(status, how, how_len);
    }
    slot->pid = 0;
}

// ---------------------------------------------------------------------
// A slot's batch.

// Take the first task off the slot's batch; when it was the last, the
// slot is idle. Its outcome is in it; the caller gives it back.
static sl__slot_task *
s_slot_pop(s_slot *slot)
{
    sl__slot_task *it = slot->running;
    slot->running = it->next;
    slot->n_running--;
    it->next = NULL;
    if (slot->running == NULL) {
        slot->deadline_ms = 0;
    }
    return it;
}

// The first task of the slot's batch ended without running to its end
// (its outcome is in it): give it back, and the slot if it was the last.
static void
s_slot_ended(sl__slots *self, s_slot *slot)
{
    self->host.ended(self->host.ctx, s_slot_pop(slot));
    if (slot->running == NULL) {
        self->host.idle(self->host.ctx, slot->index);
    }
}

// Take the whole batch off the slot, which is then idle. Sets *n.
static sl__slot_task *
s_slot_take(s_slot *slot, uint32_t *n)
{
    sl__slot_task *batch = slot->running;
    *n = slot->n_running;
    slot->running = NULL;
    slot->n_running = 0;
    slot->deadline_ms = 0;
    return batch;
}

// The slot's executor died (or broke its protocol) running its task: the
// task is LOST, which costs it one attempt at the scheduler, and the slot
// gets a new executor when it next has work.
static void
s_executor_lost(sl__slots *self, s_slot *slot, const char *why)
{
    char how[128];
    pid_t pid = slot->pid;
    s_executor_stop(slot, why != NULL, how, sizeof(how));
    self->executors_lost++;
    if (slot->n_running > 1) {
        // Which task killed it? They run again alone, uncharged.
        sl__log_warn("executor (pid %d) %s under a batch of %u tasks: they "
                     "run again one at a time",
                     (int) pid, why != NULL ? why : how, slot->n_running);
        uint32_t n;
        sl__slot_task *batch = s_slot_take(slot, &n);
        self->host.requeue(self->host.ctx, batch, n, true);
        self->host.idle(self->host.ctx, slot->index);
        return;
    }
    sl__run_task *t = &slot->running->task;
    t->stats.end_s = sl__wall();
    sl__run_task_fail(t, SL_WIRE_LOST, "%s: executor (pid %d) %s", t->function,
                      (int) pid, why != NULL ? why : how);
    sl__log_warn("task %016" PRIx64 "/%u (%s): executor (pid %d) %s", t->job,
                 t->index, t->function, (int) pid, why != NULL ? why : how);
    s_slot_ended(self, slot);
}

// Outcomes (or EOF) from the slot's executor: one or more, for the first
// tasks of its batch, in order.
static void
s_on_executor(sl__slots *self, s_slot *slot)
{
    bool eof;
    if (sl__frame_recv(slot->fd, &self->frame, self->cfg.limits.max_message,
                       S_FRAME_MS, &eof) != SL_OK) {
        s_executor_lost(self, slot, eof ? NULL : "sent a broken frame");
        return;
    }
    // A kernel may have scribbled over its process: check each outcome
    // before it joins a RESULT whose other outcomes it could spoil.
    sl__mpr r;
    sl__mpr_init(&r, self->frame.data, self->frame.len);
    do {
        sl__outcome o;
        char errbuf[SL_ERRSTR_LEN];
        const uint8_t *start = r.p;
        if (slot->running == NULL) {
            // More outcomes than tasks: the slot is free already, and
            // its executor is not to be trusted with the next batch.
            char how[128];
            s_executor_stop(slot, true, how, sizeof(how));
            sl__log_warn("slot %d: its executor sent outcomes for tasks it "
                         "was not given; stopped",
                         slot->index);
            self->executors_lost++;
            return;
        }
        const sl__run_task *t = &slot->running->task;
        if (sl__msg_outcome_decode(&r, &self->cfg.limits, true, &o, errbuf) !=
                SL_OK ||
            o.job != t->job || o.index != t->index || o.attempt != t->attempt ||
            o.status == SL_WIRE_LOST) {
            s_executor_lost(self, slot, "sent a malformed outcome");
            return;
        }
        sl__slot_task *it = s_slot_pop(slot);
        it->task.stats = o.stats; // the run time, for the worker's averages
        self->host.ran(self->host.ctx, it, start, (size_t) (r.p - start));
        if (slot->running == NULL) {
            self->host.idle(self->host.ctx, slot->index);
        }
    } while (sl__mpr_left(&r) > 0);
}

// Send the slot's batch to its executor, starting one if the slot has
// none. Returns false (errbuf says why) when none will take it.
static bool
s_batch_send(sl__slots *self, s_slot *slot, char *errbuf)
{
    const sl__run_task *head = &slot->running->task;
    sl__mpw_reset(&self->w);
    // A batch is of one job: its tasks share the head's function and home.
    sl__frame_batch_begin(&self->w, head->job, head->function,
                          strlen(head->function), head->time_limit_ms,
                          head->home, strlen(head->home), slot->n_running);
    for (const sl__slot_task *p = slot->running; p != NULL; p = p->next) {
        sl__frame_batch_task(&self->w, p->task.index, p->task.attempt,
                             p->task.arg_len, p->task.inputs_len);
    }
    for (const sl__slot_task *p = slot->running; p != NULL; p = p->next) {
        sl__frame_batch_arg(&self->w, p->task.arg, p->task.arg_len,
                            p->task.inputs, p->task.inputs_len);
    }
    errbuf[0] = '\0';
    // A second try, with a fresh executor, when the old one is gone.
    for (int attempt = 0; attempt < 2; attempt++) {
        if (slot->pid <= 0 && s_executor_start(self, slot, errbuf) != SL_OK) {
            continue;
        }
        sl__mpw_xcheck(&self->w);
        if (sl__frame_send(slot->fd, self->w.buf.data, self->w.buf.size) ==
            SL_OK) {
            return true;
        }
        char how[128];
        s_executor_stop(slot, false, how, sizeof(how));
        sl__fmt(errbuf, SL_ERRSTR_LEN, "executor %s", how);
    }
    sl__log_error("slot %d: cannot start an executor: %s", slot->index, errbuf);
    return false;
}

// Kill the executors whose task is past its time limit.
static void
s_check_deadlines(sl__slots *self)
{
    int64_t now = sl__mono_ms();
    for (int i = 0; i < self->cfg.n_slots; i++) {
        s_slot *slot = &self->slots[i];
        if (slot->running == NULL || slot->deadline_ms == 0 ||
            now < slot->deadline_ms) {
            continue;
        }
        char how[128];
        s_executor_stop(slot, true, how, sizeof(how));
        sl__run_task *t = &slot->running->task;
        t->stats.end_s = sl__wall();
        sl__run_task_fail(t, SL_WIRE_ERROR, "%s: timed out after %g s",
                          t->function, t->time_limit_ms / 1000.0);
        self->tasks_timed_out++;
        s_slot_ended(self, slot);
    }
}

// ---------------------------------------------------------------------
// The operations.

static void s_destroy(sl__slots **self_p);

// Start every slot's executor now, if the slots fit the cores. One that
// cannot start is only a warning: the slot tries again with its first
// batch, which fails if it still cannot.
static void
s_executors_start_early(sl__slots *self)
{
    char errbuf[SL_ERRSTR_LEN];
    if (self->cfg.n_slots > sl__ncpus()) {
        return;
    }
    for (int i = 0; i < self->cfg.n_slots; i++) {
        if (s_executor_start(self, &self->slots[i], errbuf) != SL_OK) {
            sl__log_warn("slot %d: cannot start an executor yet: %s", i,
                         errbuf);
        }
    }
}

static sl_err
s_create(sl__slots **out, const sl__slots_config *cfg,
         const sl__slots_host *host, char errbuf[SL_ERRSTR_LEN])
{
    (void) errbuf; // an executor that cannot start fails its slot's tasks
    sl__slots *self = sl__xcalloc(1, sizeof(*self));
    self->cfg = *cfg;
    self->host = *host;
    self->slots = sl__xcalloc((size_t) cfg->n_slots, sizeof(*self->slots));
    self->poll_slot = sl__xcalloc((size_t) cfg->n_slots, sizeof(int));
    for (int i = 0; i < cfg->n_slots; i++) {
        self->slots[i].index = i;
        self->slots[i].fd = -1;
    }
    sl__mpw_init(&self->init);
    sl__mpw_init(&self->w);
    // What every executor needs to know.
    sl__frame_init_encode(&self->init, cfg->store_opts, cfg->inline_max,
                          cfg->tier_cluster, cfg->tier_node);
    sl__mpw_xcheck(&self->init);
    s_executors_start_early(self);
    *out = self;
    return SL_OK;
}

static void
s_give(sl__slots *self, int index, sl__slot_task *batch, uint32_t n)
{
    s_slot *slot = &self->slots[index];
    char errbuf[SL_ERRSTR_LEN];
    slot->running = batch;
    slot->n_running = n;
    double now = sl__wall();
    for (sl__slot_task *p = batch; p != NULL; p = p->next) {
        p->task.stats.start_s = now;
    }
    if (!s_batch_send(self, slot, errbuf)) {
        while (slot->running != NULL) {
            sl__run_task *t = &slot->running->task;
            t->stats.end_s = t->stats.start_s;
            sl__run_task_fail(t, SL_WIRE_LOST, "cannot start an executor: %s",
                              errbuf);
            s_slot_ended(self, slot);
        }
        return;
    }
    slot->deadline_ms = batch->task.time_limit_ms > 0
                            ? sl__mono_ms() + batch->task.time_limit_ms
                            : 0;
}

// Busy executors' sockets, and the nearest deadline.
static int
s_poll_items(sl__slots *self, zmq_pollitem_t *items, int max, int *timeout_ms)
{
    int n = 0;
    int64_t now = sl__mono_ms();
    for (int i = 0; i < self->cfg.n_slots; i++) {
        const s_slot *slot = &self->slots[i];
        if (slot->running == NULL) {
            continue;
        }
        if (slot->fd >= 0 && n < max) {
            items[n] = (zmq_pollitem_t){NULL, slot->fd, ZMQ_POLLIN, 0};
            self->poll_slot[n++] = i;
        }
        if (slot->deadline_ms != 0) {
            int64_t left = slot->deadline_ms - now;
            if (left < *timeout_ms) {
                *timeout_ms = left > 0 ? (int) left : 0;
            }
        }
    }
    return n;
}

static void
s_collect(sl__slots *self, const zmq_pollitem_t *items, int n)
{
    for (int i = 0; i < n; i++) {
        if (items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) {
            s_on_executor(self, &self->slots[self->poll_slot[i]]);
        }
    }
    s_check_deadlines(self);
}

static bool
s_matches(const sl__run_task *t, uint64_t job, bool one, uint32_t index)
{
    return t->job == job && (!one || t->index == index);
}

// Kill the slot's executor to stop the tasks of its batch that match: they
// end CANCELLED (why); the others go back to the worker, to run again.
static void
s_slot_stop(sl__slots *self, s_slot *slot, uint64_t job, bool one,
            uint32_t index, const char *why)
{
    char how[128];
    uint32_t n, n_rest = 0, n_stopped = 0;
    s_executor_stop(slot, true, how, sizeof(how));
    sl__slot_task *batch = s_slot_take(slot, &n), *rest = NULL;
    sl__slot_task **tail = &rest;
    double now = sl__wall();
    while (batch != NULL) {
        sl__slot_task *it = batch;
        batch = it->next;
        it->next = NULL;
        if (!s_matches(&it->task, job, one, index)) {
            *tail = it;
            tail = &it->next;
            n_rest++;
            continue;
        }
        it->task.stats.end_s = now;
        sl__run_task_fail(&it->task, SL_WIRE_CANCELLED, "%s", why);
        self->host.ended(self->host.ctx, it);
        n_stopped++;
    }
    self->tasks_stopped += n_stopped;
    if (one) {
        sl__log_info("task %016" PRIx64 "/%u: stopped (executor %s): %s", job,
                     index, how, why);
    } else {
        sl__log_info("job %016" PRIx64 ": %u running task%s stopped "
                     "(executor %s): %s",
                     job, n_stopped, n_stopped == 1 ? "" : "s", how, why);
    }
    if (rest != NULL) {
        self->host.requeue(self->host.ctx, rest, n_rest, false);
    }
    self->host.idle(self->host.ctx, slot->index);
}

static uint32_t
s_stop(sl__slots *self, uint64_t job, bool one, uint32_t index, const char *why)
{
    for (int i = 0; i < self->cfg.n_slots; i++) {
        s_slot *slot = &self->slots[i];
        for (const sl__slot_task *p = slot->running; p != NULL; p = p->next) {
            if (s_matches(&p->task, job, one, index)) {
                s_slot_stop(self, slot, job, one, index, why);
                break;
            }
        }
    }
    return 0; // every one stopped
}

static void
s_destroy(sl__slots **self_p)
{
    sl__slots *self = *self_p;
    if (self == NULL) {
        return;
    }
    for (int i = 0; i < self->cfg.n_slots; i++) {
        s_slot *slot = &self->slots[i];
        char how[128];
        s_executor_stop(slot, true, how, sizeof(how));
        uint32_t n;
        sl__slot_task *batch = s_slot_take(slot, &n);
        if (batch != NULL) {
            self->host.requeue(self->host.ctx, batch, n, false);
        }
    }
    if (self->executors_lost > 0 || self->tasks_timed_out > 0) {
        sl__log_info("%" PRIu64 " executor%s died under a task; %" PRIu64
                     " task%s stopped at their time limit",
                     self->executors_lost, self->executors_lost == 1 ? "" : "s",
                     self->tasks_timed_out,
                     self->tasks_timed_out == 1 ? "" : "s");
    }
    if (self->tasks_stopped > 0) {
        sl__log_info("%" PRIu64 " running task%s stopped by a cancel",
                     self->tasks_stopped, self->tasks_stopped == 1 ? "" : "s");
    }
    sl__frame_fini(&self->frame);
    sl__mpw_fini(&self->init);
    sl__mpw_fini(&self->w);
    free(self->poll_slot);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

const sl__slots_ops sl__slots_process = {
    .name = "executor processes",
    .create = s_create,
    .give = s_give,
    .poll_items = s_poll_items,
    .collect = s_collect,
    .stop = s_stop,
    .destroy = s_destroy,
};
