// slots_thread.c - the slots backend of threads: kernels run in the worker.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A slot is a thread with its own PAIR socket (tasks in), PUSH socket
//   (outcomes out) and its own object-store connection: nothing is shared
//   between slots but the read-only registry and the module loader, whose
//   lock is taken only to look a module up (worker/loader.c).
// - Batches travel between threads as pointers; a task belongs to exactly
//   one thread at a time (the one that last received its pointer), with
//   one exception: while a slot thread runs a batch, the main thread may
//   read the job and index of its tasks (to answer a stop), which the slot
//   thread never writes: it writes only their outcomes.
// - A thread cannot be stopped. So a task with a time limit is refused
//   rather than run with a limit the job asked for and nobody enforces,
//   and a stop leaves running tasks to run to their end (stop says how
//   many, and the worker says so).
// - Slot threads block every signal, so that SIGTERM interrupts the main
//   loop and never a slot's receive.
#define _GNU_SOURCE
#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "slots.h"

typedef struct {
    sl__slots *owner;       // the slots it is one of
    int index;              // slot number
    pthread_t thread;       // its thread
    zsock_t *tasks;         // main's end of the slot's PAIR
    sl__runner runner;      // the slot thread's (its store, its cache)
    bool started;           // thread running
    sl__slot_task *running; // the batch the thread has, or NULL
} s_slot;

struct sl__slots {
    sl__slots_config cfg; // as given
    sl__slots_host host;  // the worker
    zsock_t *results;     // PULL of batches back from the slot threads
    void *results_raw;    // its libzmq handle
    char results_ep[64];  // inproc endpoint of results
    s_slot *slots;        // cfg.n_slots entries
};

static void
s_slot_endpoint(char *ep, size_t len, const s_slot *slot, bool bind)
{
    sl__fmt(ep, len, "%sinproc://sl-slot-%p-%d", bind ? "@" : "",
            (void *) slot->owner, slot->index);
}

static void *
s_slot_main(void *arg)
{
    s_slot *slot = arg;
    char ep[96];
    s_slot_endpoint(ep, sizeof(ep), slot, false);
    zsock_t *tasks = zsock_new_pair(ep);
    zsock_t *results = zsock_new_push(slot->owner->results_ep);
    sl__slot_task *batch;
    while (tasks != NULL && results != NULL &&
           zmq_recv(zsock_resolve(tasks), &batch, sizeof(batch), 0) ==
               (int) sizeof(batch) &&
           batch != NULL) {
        for (sl__slot_task *p = batch; p != NULL; p = p->next) {
            sl__runner_run(&slot->runner, &p->task);
        }
        zmq_send(zsock_resolve(results), &batch, sizeof(batch), 0);
    }
    zsock_destroy(&tasks);
    zsock_destroy(&results);
    sl__runner_fini(&slot->runner);
    return NULL;
}

static sl_err
s_slot_start(sl__slots *self, s_slot *slot)
{
    const sl__slots_config *cfg = &self->cfg;
    char ep[96];
    slot->runner.registry = cfg->registry;
    slot->runner.loader = cfg->loader;
    slot->runner.store_opts = cfg->store_opts;
    slot->runner.limits = cfg->limits;
    slot->runner.inline_max = cfg->inline_max;
    slot->runner.tier_cluster = cfg->tier_cluster;
    slot->runner.tier_node = cfg->tier_node;
    slot->runner.cache =
        cfg->cache_bytes > 0 ? sl__cache_new(cfg->cache_bytes) : NULL;
    s_slot_endpoint(ep, sizeof(ep), slot, true);
    slot->tasks = zsock_new_pair(ep);
    if (slot->tasks == NULL ||
        pthread_create(&slot->thread, NULL, s_slot_main, slot) != 0) {
        sl__runner_fini(&slot->runner); // the thread would have
        return SL_ENOMEM;
    }
    slot->started = true;
    return SL_OK;
}

static void s_destroy(sl__slots **self_p);

static sl_err
s_create(sl__slots **out, const sl__slots_config *cfg,
         const sl__slots_host *host, char errbuf[SL_ERRSTR_LEN])
{
    sl__slots *self = sl__xcalloc(1, sizeof(*self));
    self->cfg = *cfg;
    self->host = *host;
    self->slots = sl__xcalloc((size_t) cfg->n_slots, sizeof(*self->slots));
    sl__fmt(self->results_ep, sizeof(self->results_ep),
            "inproc://sl-results-%p", (void *) self);
    char bind_ep[80];
    sl__fmt(bind_ep, sizeof(bind_ep), "@%s", self->results_ep);
    if ((self->results = zsock_new_pull(bind_ep)) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot create sockets");
        s_destroy(&self);
        return SL_EIO;
    }
    self->results_raw = zsock_resolve(self->results);
    // The threads inherit the mask: every signal blocked.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    sl_err rv = SL_OK;
    for (int i = 0; i < cfg->n_slots && rv == SL_OK; i++) {
        self->slots[i].owner = self;
        self->slots[i].index = i;
        if ((rv = s_slot_start(self, &self->slots[i])) != SL_OK) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot start slot %d", i);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != SL_OK) {
        s_destroy(&self);
        return rv;
    }
    *out = self;
    return SL_OK;
}

static void
s_give(sl__slots *self, int index, sl__slot_task *batch, uint32_t n)
{
    s_slot *slot = &self->slots[index];
    (void) n;
    if (batch->task.time_limit_ms > 0) { // alone in its batch
        // A thread cannot be stopped: refuse rather than let a limit the
        // job asked for go unenforced.
        sl__run_task_fail(&batch->task, SL_WIRE_ERROR,
                          "%s: this worker runs kernels in threads "
                          "(--executor thread) and cannot enforce a time "
                          "limit",
                          batch->task.function);
        self->host.ended(self->host.ctx, batch);
        self->host.idle(self->host.ctx, index);
        return;
    }
    slot->running = batch;
    zmq_send(zsock_resolve(slot->tasks), &batch, sizeof(batch), 0);
}

static int
s_poll_items(sl__slots *self, zmq_pollitem_t *items, int max, int *timeout_ms)
{
    (void) timeout_ms; // no deadlines: threads cannot be stopped
    assert(max >= 1);
    items[0] = (zmq_pollitem_t){self->results_raw, 0, ZMQ_POLLIN, 0};
    return 1;
}

// A task that a stop found running ran to its end all the same: it ends
// CANCELLED, and its error says it could not be stopped, so that the user
// who cancelled sees why its slot stayed busy (as a refused time limit
// says so in the task's error).
static void
s_ran_unstopped(sl__slots *self, sl__slot_task *it)
{
    double s = it->task.stats.end_s - it->task.stats.start_s;
    free(it->task.value); // a stored result stays until its TTL
    it->task.value = NULL;
    it->task.value_len = 0;
    sl__run_task_fail(&it->task, SL_WIRE_CANCELLED,
                      "%s, but it ran to its end (%.1f s): this worker runs "
                      "kernels in threads (--executor thread), which cannot "
                      "be stopped",
                      it->stop_why, s > 0 ? s : 0);
    self->host.ended(self->host.ctx, it);
}

// Batches back from the slot threads, each with its outcomes in it.
static void
s_collect(sl__slots *self, const zmq_pollitem_t *items, int n)
{
    (void) items; // drained whether the poll saw them or not
    (void) n;
    sl__slot_task *batch;
    while (zmq_recv(self->results_raw, &batch, sizeof(batch), ZMQ_DONTWAIT) ==
           (int) sizeof(batch)) {
        int index = batch->slot;
        self->slots[index].running = NULL;
        self->host.idle(self->host.ctx, index);
        while (batch != NULL) {
            sl__slot_task *it = batch;
            batch = it->next;
            if (it->stop_why != NULL) {
                s_ran_unstopped(self, it);
            } else {
                self->host.ran(self->host.ctx, it, NULL, 0);
            }
        }
    }
}

// Running tasks of job cannot be stopped: count them.
static uint32_t
s_stop(sl__slots *self, uint64_t job, bool one, uint32_t index, const char *why)
{
    uint32_t running = 0;
    for (int i = 0; i < self->cfg.n_slots; i++) {
        for (sl__slot_task *p = self->slots[i].running; p != NULL;
             p = p->next) {
            if (p->task.job == job && (!one || p->task.index == index)) {
                p->stop_why = why; // the slot thread never reads this field
                running++;
            }
        }
    }
    return running;
}

// Give a list of tasks back, unrun as far as the worker is concerned.
static void
s_give_back(sl__slots *self, sl__slot_task *batch)
{
    uint32_t n = 0;
    for (const sl__slot_task *p = batch; p != NULL; p = p->next) {
        n++;
    }
    if (n > 0) {
        self->host.requeue(self->host.ctx, batch, n, false);
    }
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
        if (slot->started) {
            // A running batch ends first: a thread cannot be stopped.
            sl__slot_task *stop = NULL;
            zmq_send(zsock_resolve(slot->tasks), &stop, sizeof(stop), 0);
            pthread_join(slot->thread, NULL);
            slot->started = false;
        }
        zsock_destroy(&slot->tasks);
    }
    // The batches that ended meanwhile: their outcomes are dropped (the
    // scheduler re-queues them when it notices we are gone).
    sl__slot_task *batch;
    while (self->results_raw != NULL &&
           zmq_recv(self->results_raw, &batch, sizeof(batch), ZMQ_DONTWAIT) ==
               (int) sizeof(batch)) {
        s_give_back(self, batch);
    }
    zsock_destroy(&self->results);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

const sl__slots_ops sl__slots_thread = {
    .name = "threads",
    .create = s_create,
    .give = s_give,
    .poll_items = s_poll_items,
    .collect = s_collect,
    .stop = s_stop,
    .destroy = s_destroy,
};
