// worker.c - the worker's conversation with the scheduler, its FIFO, batches.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The main thread owns the DEALER to the scheduler. It keeps a FIFO of
//   tasks received (up to slots + prefetch: the scheduler never sends
//   more than that credit), hands them to idle slots, and batches the
//   slots' outcomes into one RESULT per loop turn.
// - Where kernels run is the slots backend's business (worker/slots.h):
//   a thread per slot (--executor thread), or an executor process per
//   slot (the default). The worker holds a table of the backend's
//   operations and never asks which it has.
// - Short tasks go to a slot in batches (one hand-off, one message back)
//   instead of one at a time: the worker keeps a running average of each
//   function's run time, and hands a slot as many consecutive tasks of
//   one job as fit in S_BATCH_US, at most SL_SLOTS_BATCH_MAX and its
//   share of the FIFO among the free slots, but at least S_HANDOFF_US of
//   work. A function not yet timed, a task with a time limit, and every
//   task for S_CAREFUL_MS after an executor died under a batch go one at
//   a time: a batch's death cannot say which task killed it, so its tasks
//   run again alone, uncharged, and the one that kills its executor then
//   is charged as usual.
// - A task's argument is never decoded here: its bytes are copied out of
//   TASKS as the scheduler sent them, and a slot decodes them once, to
//   run the task (worker/run.h): fetch every ref in it from the store,
//   run the kernel, and encode the result: inline when it is at most
//   inline_max bytes (from WELCOME), else stored under the task's result
//   key with SET NX (the first result wins) and sent as a ref.
// - A function "<sha256>/<kernel>" is a kernel of a user module: the slot
//   that first meets the module loads it through the loader (fetching it
//   from the store with the slot's own connection), while the other slots
//   go on with their tasks.
// - A CANCEL stops what it names, queued or running: a running task's
//   executor process is killed, and the task reported CANCELLED, at no
//   attempt's cost. Slot threads cannot be stopped: their tasks run on,
//   and the worker says so in its log, once.
// - Nothing a task does can stop the worker: bad arguments, unknown
//   functions, modules that cannot be loaded, failing kernels and store
//   errors all end as outcomes.
// - If the scheduler goes silent (or restarts: it then answers ERROR
//   "unknown worker"), the worker sends READY again until it is welcomed;
//   tasks in hand run on and their outcomes are sent when they end.
// - The DEALER, CURVE and reconnecting after a refusal are the link's
//   (worker/link.h). On the first WELCOME the main thread tries the store
//   once: a password the store refuses stops the worker with a clear
//   error, since no task could use the store.
#define _GNU_SOURCE
#include "worker.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../serialize/msg.h"
#include "../store/store.h"
#include "link.h"
#include "loader.h"
#include "registry.h"
#include "slots.h"
#include "tier_agent.h"

#define S_MAX_MSGS_PER_TURN 256
#define S_HEARTBEAT_LIVENESS 3
// Batches: how much work (by the running average) one hand-off may hold,
// how long batching stays off after an executor died under one, and how
// many functions' run times are kept.
#define S_BATCH_US 1000.0
#define S_CAREFUL_MS 10000
#define S_ESTIMATES 16
// A hand-off costs about a thread or process wake-up: a batch holds at
// least this much work, even if that leaves other free slots without any
// (spreading microsecond tasks over many slots only multiplies wake-ups).
#define S_HANDOFF_US 200.0
// Items kept for reuse, at most (a worker holds slots + prefetch at once).
#define S_POOL_MAX 8192
// Poll items of the worker's own, before the slots': the link's.
#define S_POLL_OWN SL_LINK_POLL_ITEMS

// The running average of one function's run time.
typedef struct {
    char function[256]; // "" when unused
    double us;          // microseconds
    uint64_t used;      // when last updated (a counter), for replacement
} s_estimate;

struct sl__worker {
    sl__worker_opts opts;          // as given
    char name[65];                 // node name: SL_NODE_NAME_MAX + 1
    int n_slots;                   // executor slots
    int prefetch;                  // extra credit
    size_t cache_bytes;            // each slot's input cache budget
    sl__worker_link *link;         // to the scheduler
    const sl__slots_ops *slot_ops; // the slots backend
    sl__slots *slots;              // its slots; NULL before the 1st WELCOME
    int *free_slots;               // stack of idle slot numbers
    int n_free;                    // entries in free_slots
    sl__slot_task *fifo_head;      // tasks waiting for a slot
    sl__slot_task *fifo_tail;
    uint32_t n_fifo;                   // tasks in it
    s_estimate estimates[S_ESTIMATES]; // run times, by function
    uint64_t estimate_clock;           // counts updates
    int64_t careful_until_ms;          // no batches before this
    sl__slot_task *pool;               // items to reuse (s_item_destroy)
    uint32_t n_pool;                   // in it
    zmq_pollitem_t *poll;              // S_POLL_OWN + n_slots + 1 entries
    sl__mpw w;                         // message writer
    sl__mpw out;                       // outcomes of this turn
    uint32_t n_out;                    // entries in out
    sl__registry *registry;            // kernels, read-only once built
    sl__loader *loader;                // user modules, loaded on first use
    sl__limits limits;                 // bounds on decoded values
    uint32_t inline_max;               // from WELCOME
    int heartbeat_ms;                  // from WELCOME
    bool welcomed;                     // the scheduler knows us
    int64_t last_recv_ms;              // last message from the scheduler
    int64_t last_send_ms;              // last message to it
    int64_t last_ready_ms;             // last READY sent
    int64_t last_redial_ms;            // last reconnect after a silence
    sl__store_where store;             // from WELCOME
    sl__tier_agent *tier;              // the node's object tier, or NULL
    bool stopping;                     // SHUTDOWN received
    bool said_unstoppable; // logged that running tasks cannot be stopped
    sl_err failed;         // why the worker stopped on its own, or SL_OK
};

// ---------------------------------------------------------------------
// Items.

static sl__slot_task *
s_item_new(sl__worker *self, const sl__task_group *g, const sl__task_item *t)
{
    sl__slot_task *it = self->pool;
    if (it != NULL) {
        self->pool = it->next;
        self->n_pool--;
    } else {
        it = sl__xcalloc(1, sizeof(*it)); // zeroed: init allocates
    }
    sl__run_task_init(&it->task, g, t);
    it->slot = -1;
    it->next = NULL;
    it->stop_why = NULL;
    return it;
}

// An item is done with: back to the pool (argument buffer and all), so
// that the next task costs no allocation, or freed when the pool is full.
static void
s_item_destroy(sl__worker *self, sl__slot_task **item_p)
{
    sl__slot_task *it = *item_p;
    if (it == NULL) {
        return;
    }
    *item_p = NULL;
    if (self->n_pool < S_POOL_MAX) {
        sl__run_task_clear(&it->task);
        it->next = self->pool;
        self->pool = it;
        self->n_pool++;
        return;
    }
    sl__run_task_fini(&it->task);
    free(it);
}

// Destroy a batch: it and every item after it.
static void
s_batch_destroy(sl__worker *self, sl__slot_task **head_p)
{
    while (*head_p != NULL) {
        sl__slot_task *it = *head_p;
        *head_p = it->next;
        s_item_destroy(self, &it);
    }
}

// ---------------------------------------------------------------------
// Run times and batches.

static s_estimate *
s_estimate_find(sl__worker *self, const char *function)
{
    for (int i = 0; i < S_ESTIMATES; i++) {
        if (strcmp(self->estimates[i].function, function) == 0) {
            return &self->estimates[i];
        }
    }
    return NULL;
}

// Fold one run time into the function's average; a function not seen
// before takes the place of the one updated longest ago.
static void
s_estimate_add(sl__worker *self, const char *function, double start_s,
               double end_s)
{
    double us = end_s > start_s ? (end_s - start_s) * 1e6 : 0;
    s_estimate *e = s_estimate_find(self, function);
    if (e == NULL) {
        e = &self->estimates[0];
        for (int i = 1; i < S_ESTIMATES; i++) {
            if (self->estimates[i].used < e->used) {
                e = &self->estimates[i];
            }
        }
        sl__strlcpy(e->function, function, sizeof(e->function));
        e->us = us;
    } else {
        e->us += (us - e->us) / 4;
    }
    e->used = ++self->estimate_clock;
}

// How many tasks the next hand-off to a free slot may hold.
static uint32_t
s_batch_size(sl__worker *self, const sl__slot_task *head)
{
    if (head->task.time_limit_ms > 0 ||
        sl__mono_ms() < self->careful_until_ms) {
        return 1;
    }
    const s_estimate *e = s_estimate_find(self, head->task.function);
    if (e == NULL) {
        return 1;
    }
    double us = e->us > S_BATCH_US / SL_SLOTS_BATCH_MAX
                    ? e->us
                    : S_BATCH_US / SL_SLOTS_BATCH_MAX;
    uint32_t fit = S_BATCH_US / us >= 1 ? (uint32_t) (S_BATCH_US / us) : 1;
    uint32_t least = (uint32_t) (S_HANDOFF_US / us) + 1;
    uint32_t share =
        (self->n_fifo + (uint32_t) self->n_free - 1) / (uint32_t) self->n_free;
    share = share > least ? share : least;
    return fit < share ? fit : share;
}

// Take the next batch off the FIFO: the head, and after it up to n - 1
// more tasks of the same job without a time limit. Sets *count.
static sl__slot_task *
s_batch_take(sl__worker *self, uint32_t n, uint32_t *count)
{
    sl__slot_task *head = self->fifo_head, *tail = head;
    *count = 1;
    while (*count < n && tail->next != NULL &&
           tail->next->task.job == head->task.job &&
           tail->next->task.time_limit_ms == 0) {
        tail = tail->next;
        (*count)++;
    }
    self->fifo_head = tail->next;
    if (self->fifo_head == NULL) {
        self->fifo_tail = NULL;
    }
    tail->next = NULL;
    self->n_fifo -= *count;
    return head;
}

// ---------------------------------------------------------------------
// The FIFO.

static void
s_fifo_push(sl__worker *self, sl__slot_task *it)
{
    it->next = NULL;
    if (self->fifo_tail != NULL) {
        self->fifo_tail->next = it;
    } else {
        self->fifo_head = it;
    }
    self->fifo_tail = it;
    self->n_fifo++;
}

// Put the n tasks of batch back at the front of the FIFO, in their order.
static void
s_fifo_push_front(sl__worker *self, sl__slot_task *batch, uint32_t n)
{
    sl__slot_task *tail = batch;
    for (tail->slot = -1; tail->next != NULL; tail = tail->next) {
        tail->next->slot = -1;
    }
    tail->next = self->fifo_head;
    self->fifo_head = batch;
    if (self->fifo_tail == NULL) {
        self->fifo_tail = tail;
    }
    self->n_fifo += n;
}

static void s_outcome_add(sl__worker *self, const sl__slot_task *it);

// Drop the queued tasks of job (only task index, with one), each ending
// CANCELLED with why.
static void
s_fifo_cancel(sl__worker *self, uint64_t job, bool one, uint32_t index,
              const char *why)
{
    sl__slot_task **pp = &self->fifo_head;
    self->fifo_tail = NULL;
    while (*pp != NULL) {
        sl__slot_task *it = *pp;
        if (it->task.job == job && (!one || it->task.index == index)) {
            *pp = it->next;
            self->n_fifo--;
            sl__run_task_fail(&it->task, SL_WIRE_CANCELLED, "%s", why);
            s_outcome_add(self, it);
            s_item_destroy(self, &it);
        } else {
            self->fifo_tail = it;
            pp = &it->next;
        }
    }
}

// ---------------------------------------------------------------------
// The slots: what the backend tells us (sl__slots_host), and handing
// batches to idle slots.

static void
s_on_slot_ran(void *ctx, sl__slot_task *it, const uint8_t *encoded, size_t len)
{
    sl__worker *self = ctx;
    if (encoded != NULL) {
        sl__mpw_raw(&self->out, encoded, len); // checked by the backend
        self->n_out++;
    } else {
        s_outcome_add(self, it);
    }
    s_estimate_add(self, it->task.function, it->task.stats.start_s,
                   it->task.stats.end_s);
    s_item_destroy(self, &it);
}

static void
s_on_slot_ended(void *ctx, sl__slot_task *it)
{
    sl__worker *self = ctx;
    s_outcome_add(self, it);
    s_item_destroy(self, &it);
}

static void
s_on_slot_requeue(void *ctx, sl__slot_task *batch, uint32_t n, bool careful)
{
    sl__worker *self = ctx;
    s_fifo_push_front(self, batch, n);
    if (careful) {
        self->careful_until_ms = sl__mono_ms() + S_CAREFUL_MS;
    }
}

static void
s_on_slot_idle(void *ctx, int slot)
{
    sl__worker *self = ctx;
    self->free_slots[self->n_free++] = slot;
}

// Start the slots, once the first WELCOME has said where the store is.
static sl_err
s_slots_start(sl__worker *self)
{
    sl__slots_config cfg = {
        .n_slots = self->n_slots,
        .registry = self->registry,
        .loader = self->loader,
        .module_allow = self->opts.module_allow,
        .store_opts = &self->store.opts,
        .limits = self->limits,
        .inline_max = self->inline_max,
        .cache_bytes = self->cache_bytes,
        .tier_cluster =
            self->tier != NULL ? sl__tier_agent_cluster(self->tier) : NULL,
        .tier_node =
            self->tier != NULL ? sl__tier_agent_node(self->tier) : NULL,
    };
    sl__slots_host host = {self, s_on_slot_ran, s_on_slot_ended,
                           s_on_slot_requeue, s_on_slot_idle};
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = self->slot_ops->create(&self->slots, &cfg, &host, errbuf);
    if (rv != SL_OK) {
        sl__log_error("%s", errbuf);
        return rv;
    }
    for (int i = 0; i < self->n_slots; i++) {
        self->free_slots[self->n_free++] = i;
    }
    sl__log_info("%d slots started (kernels run in %s)", self->n_slots,
                 self->slot_ops->name);
    return SL_OK;
}

static void
s_assign(sl__worker *self)
{
    while (self->n_free > 0 && self->fifo_head != NULL) {
        uint32_t n;
        sl__slot_task *batch =
            s_batch_take(self, s_batch_size(self, self->fifo_head), &n);
        int slot = self->free_slots[--self->n_free];
        for (sl__slot_task *p = batch; p != NULL; p = p->next) {
            p->slot = slot;
        }
        self->slot_ops->give(self->slots, slot, batch, n);
    }
}

// ---------------------------------------------------------------------
// Talking to the scheduler.

static void
s_send(sl__worker *self)
{
    sl__mpw_xcheck(&self->w);
    if (sl__worker_link_send(self->link, self->w.buf.data, self->w.buf.size)) {
        self->last_send_ms = sl__mono_ms();
    }
}

static void
s_send_ready(sl__worker *self)
{
    sl__ready m = {(uint32_t) self->n_slots,
                   (uint32_t) self->prefetch,
                   {self->name, (uint32_t) strlen(self->name)},
                   (uint32_t) getpid()};
    sl__mpw_reset(&self->w);
    sl__msg_ready(&self->w, &m);
    s_send(self);
    self->last_ready_ms = sl__mono_ms();
}

static void
s_outcome_add(sl__worker *self, const sl__slot_task *it)
{
    sl__outcome o;
    sl__run_task_outcome(&it->task, &o);
    sl__msg_outcome(&self->out, &o, true);
    self->n_out++;
}

static void
s_flush_results(sl__worker *self)
{
    if (self->n_out == 0) {
        return;
    }
    sl__mpw_reset(&self->w);
    sl__msg_result_begin(&self->w, self->n_out);
    sl__mpw_append(&self->w, &self->out);
    s_send(self);
    sl__mpw_reset(&self->out);
    self->n_out = 0;
}

// Try the store once, with what WELCOME said. A refused password stops
// the worker: every task that touches the store would fail. A store that
// cannot be reached yet is a warning: slots connect again when they need
// it.
static sl_err
s_store_check(sl__worker *self)
{
    sl__store *store = NULL;
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv = sl__store_connect(&store, &self->store.opts, errbuf);
    sl__store_destroy(&store);
    if (rv == SL_EAUTH) {
        sl__log_error("%s: the scheduler gave a password the store refuses; "
                      "stopping",
                      errbuf);
        self->failed = rv;
        return rv;
    }
    if (rv != SL_OK) {
        sl__log_warn("%s (tasks that need the store will try again)", errbuf);
    }
    return SL_OK;
}

// Make or open the node's object tier. Without one (no /dev/shm, a store
// that cannot be reached yet, --tier-budget-mb 0) every object goes
// through the store, as on a node of a cluster without tiers.
static void
s_tier_start(sl__worker *self)
{
    char errbuf[SL_ERRSTR_LEN];
    long mb = self->opts.tier_budget_mb;
    if (mb == 0) {
        sl__log_info("no object tier (--tier-budget-mb 0)");
        return;
    }
    // The node is the name up to a '/': "host/3" is worker 3 of node host
    // (as `starling up` names its workers), and shares host's tier.
    char node[sizeof(self->name)];
    sl__strlcpy(node, self->name, sizeof(node));
    node[strcspn(node, "/")] = '\0';
    uint64_t budget = mb > 0 ? (uint64_t) mb << 20 : 0;
    if (sl__tier_agent_start(&self->tier, &self->store.opts, node, budget,
                             errbuf) != SL_OK) {
        sl__log_warn("no object tier: %s (every object goes through the "
                     "store)",
                     errbuf);
        return;
    }
    sl__tier_usage u;
    sl__tier_agent_usage(self->tier, &u);
    sl__log_info("object tier %s: %.0f MiB budget, %llu objects",
                 sl__tier_agent_path(self->tier), (double) u.budget / (1 << 20),
                 (unsigned long long) u.objects);
}

static void
s_on_welcome(sl__worker *self, sl__mpr *r)
{
    sl__welcome m;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__msg_welcome_decode(r, &m, errbuf) != SL_OK) {
        sl__log_warn("scheduler: %s", errbuf);
        return;
    }
    self->welcomed = true;
    self->heartbeat_ms = m.heartbeat_ms > 0 ? (int) m.heartbeat_ms : 1000;
    self->inline_max = m.inline_max;
    if (self->slots != NULL) {
        // A re-welcome after a silence or a scheduler restart: the store
        // is the same.
        sl__log_info("welcomed by the scheduler again");
        return;
    }
    sl__store_where_from_welcome(&self->store, &m);
    sl__log_info("welcomed by the scheduler; store %s", self->store.addrs[0]);
    if (s_store_check(self) != SL_OK) {
        self->stopping = true;
        return;
    }
    s_tier_start(self);
    if (s_slots_start(self) != SL_OK) {
        self->stopping = true;
    }
}

static void
s_on_tasks(sl__worker *self, sl__mpr *r)
{
    uint32_t n_groups;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__msg_tasks_decode(r, &self->limits, &n_groups, errbuf) != SL_OK) {
        sl__log_error("scheduler sent bad TASKS: %s", errbuf);
        return;
    }
    for (uint32_t g = 0; g < n_groups; g++) {
        sl__task_group group;
        if (sl__msg_task_group_decode(r, &self->limits, &group, errbuf) !=
            SL_OK) {
            sl__log_error("scheduler sent bad TASKS: %s", errbuf);
            return;
        }
        for (uint32_t i = 0; i < group.n_tasks; i++) {
            sl__task_item item;
            if (sl__msg_task_item_decode(r, &self->limits, &item, errbuf) !=
                SL_OK) {
                sl__log_error("scheduler sent bad TASKS: %s", errbuf);
                return;
            }
            s_fifo_push(self, s_item_new(self, &group, &item));
        }
    }
}

// A cancel found running tasks the slots cannot stop (kernels in threads):
// say so, once, where the user running the worker sees it.
static void
s_warn_unstoppable(sl__worker *self, uint64_t job, uint32_t n, const char *why)
{
    if (self->said_unstoppable) {
        return;
    }
    self->said_unstoppable = true;
    sl__log_warn("cannot stop %u running task%s of job %016" PRIx64 " (%s): "
                 "kernels run in %s here, and a running one cannot be "
                 "stopped; %s to the end (said once)",
                 n, n == 1 ? "" : "s", job, why, self->slot_ops->name,
                 n == 1 ? "it runs" : "they run");
}

// CANCEL [job]: the client cancelled the job. CANCEL [job, index]: a copy
// of that task finished first. Either way the tasks named are dropped from
// the FIFO and stopped if running, each reported CANCELLED, so that its
// credit comes back at once (an executor process is killed, and replaced
// when its slot next has work). A task in a slot thread cannot be
// stopped: it runs on, and its outcome goes to the scheduler as usual
// (which drops it when a copy finished first).
static void
s_on_cancel(sl__worker *self, sl__mpr *r, uint32_t nfields)
{
    uint64_t job;
    uint32_t index = 0;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__msg_job_decode(r, &job, errbuf) != SL_OK ||
        (nfields == 2 && sl__mpr_u32(r, &index) != 0)) {
        sl__log_warn("scheduler sent a malformed CANCEL");
        return;
    }
    bool one = nfields == 2;
    const char *why = one ? "cancelled: a copy of it finished first"
                          : "cancelled by the client";
    s_fifo_cancel(self, job, one, index, why);
    if (self->slots == NULL) {
        return;
    }
    uint32_t running = self->slot_ops->stop(self->slots, job, one, index, why);
    if (running > 0) {
        s_warn_unstoppable(self, job, running, why);
    }
}

static void
s_on_error(sl__worker *self, sl__mpr *r)
{
    sl__error_msg m;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__msg_error_decode(r, &m, errbuf) != SL_OK) {
        return;
    }
    sl__log_warn("scheduler: %.*s", (int) m.text.len, m.text.p);
    if (m.code == SL_ENOTFOUND) {
        // The scheduler restarted, or lost us: introduce ourselves again.
        self->welcomed = false;
        s_send_ready(self);
    }
}

static void
s_on_sched_msg(sl__worker *self, const void *data, size_t len)
{
    sl__mpr r;
    uint32_t type, nfields;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpr_init(&r, data, len);
    if (sl__msg_open(&r, &type, &nfields, errbuf) != SL_OK) {
        sl__log_warn("scheduler: %s", errbuf);
        return;
    }
    switch (type) {
    case SL_MSG_WELCOME:
        s_on_welcome(self, &r);
        break;
    case SL_MSG_TASKS:
        s_on_tasks(self, &r);
        break;
    case SL_MSG_CANCEL:
        s_on_cancel(self, &r, nfields);
        break;
    case SL_MSG_HEARTBEAT:
        break;
    case SL_MSG_ERROR:
        s_on_error(self, &r);
        break;
    case SL_MSG_SHUTDOWN:
        sl__log_info("scheduler asked us to shut down");
        self->stopping = true;
        break;
    default:
        sl__log_warn("scheduler sent unexpected message type %u", type);
        break;
    }
}

// ---------------------------------------------------------------------
// The loop's phases.

static void
s_drain_sched(sl__worker *self)
{
    for (int i = 0; i < S_MAX_MSGS_PER_TURN; i++) {
        zmq_msg_t msg;
        if (!sl__worker_link_recv(self->link, &msg)) {
            return;
        }
        self->last_recv_ms = sl__mono_ms();
        s_on_sched_msg(self, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
}

static void
s_run_timers(sl__worker *self)
{
    int64_t now = sl__mono_ms();
    int64_t hb = self->heartbeat_ms;
    bool silent = now - self->last_recv_ms > S_HEARTBEAT_LIVENESS * hb;
    if (silent && now - self->last_redial_ms > S_HEARTBEAT_LIVENESS * hb) {
        // Messages queued on a dead connection wait behind TCP's backoff
        // (minutes, after a long partition): drop the connection and dial
        // again. What is dropped is stale: the scheduler has given our
        // tasks away by now, and we announce ourselves afresh.
        sl__log_warn("scheduler silent for %" PRId64 " ms; reconnecting to "
                     "%s",
                     now - self->last_recv_ms, self->opts.scheduler);
        sl__worker_link_redial(self->link);
        self->last_redial_ms = now;
        self->welcomed = false;
        self->last_ready_ms = 0;
    }
    if ((!self->welcomed || silent) && now - self->last_ready_ms >= hb) {
        s_send_ready(self);
        return;
    }
    if (now - self->last_send_ms >= hb) {
        sl__mpw_reset(&self->w);
        sl__msg_empty(&self->w, SL_MSG_HEARTBEAT);
        s_send(self);
    }
}

// Poll the scheduler, its handshake monitor and what the slots watch,
// until something arrives, a slot's deadline passes or timeout_ms; then
// let the slots collect what arrived.
static void
s_poll(sl__worker *self, int timeout_ms)
{
    zmq_pollitem_t *items = self->poll;
    int n = 0;
    sl__worker_link_poll_items(self->link, items);
    if (self->slots != NULL) {
        n = self->slot_ops->poll_items(self->slots, items + S_POLL_OWN,
                                       self->n_slots + 1, &timeout_ms);
    }
    if (zmq_poll(items, S_POLL_OWN + n, timeout_ms) < 0) {
        if (errno != EINTR) {
            sl__log_error("poll failed: %s", zmq_strerror(errno));
            self->stopping = true;
        }
        for (int i = 0; i < S_POLL_OWN + n; i++) {
            items[i].revents = 0;
        }
    }
    sl__worker_link_on_poll(self->link, items);
    if (self->slots != NULL) {
        self->slot_ops->collect(self->slots, items + S_POLL_OWN, n);
    }
}

sl_err
sl__worker_run(sl__worker *self)
{
    s_send_ready(self);
    self->last_recv_ms = sl__mono_ms();
    while (!self->stopping && !zsys_interrupted) {
        s_poll(self, self->heartbeat_ms / 4 > 0 ? self->heartbeat_ms / 4 : 1);
        s_drain_sched(self);
        s_assign(self);
        s_flush_results(self);
        s_run_timers(self);
        sl__worker_link_rejoin(self->link);
    }
    sl__mpw_reset(&self->w);
    sl__msg_empty(&self->w, SL_MSG_BYE);
    s_send(self);
    return self->failed;
}

// ---------------------------------------------------------------------
// Life cycle.

// Make the module loader and say where its cache is. A cache that cannot
// be used is a warning, not a reason to stop: the built-in kernels still
// run, and tasks of user modules fail with the reason.
static sl_err
s_loader_start(sl__worker *self, char *errbuf)
{
    char why[SL_ERRSTR_LEN];
    self->loader = sl__loader_new(self->opts.module_cache);
    if (self->opts.module_allow != NULL) {
        sl_err rv = sl__loader_allow_file(self->loader, self->opts.module_allow,
                                          errbuf);
        if (rv != SL_OK) {
            return rv;
        }
        sl__log_info("module allow list %s: %zu module%s",
                     self->opts.module_allow, sl__loader_allowed(self->loader),
                     sl__loader_allowed(self->loader) == 1 ? "" : "s");
    }
    if (sl__loader_check(self->loader, why) != SL_OK) {
        sl__log_warn("user modules will fail: %s", why);
    } else {
        sl__log_info("module cache %s", sl__loader_dir(self->loader));
    }
    return SL_OK;
}

sl_err
sl__worker_new(sl__worker **out, const sl__worker_opts *opts,
               char errbuf[SL_ERRSTR_LEN])
{
    sl__worker *self = sl__xcalloc(1, sizeof(*self));
    sl_err rv = SL_EIO;
    self->opts = *opts;
    self->n_slots = opts->slots > 0 ? opts->slots : sl__ncpus();
    self->prefetch = opts->prefetch >= 0                  ? opts->prefetch
                     : self->n_slots > SL_WORKER_PREFETCH ? self->n_slots
                                                          : SL_WORKER_PREFETCH;
    self->slot_ops = opts->threads ? &sl__slots_thread : &sl__slots_process;
    self->cache_bytes = opts->cache_mb >= 0
                            ? (size_t) opts->cache_mb << 20
                            : sl__cache_default_budget(self->n_slots);
    self->limits = sl__limits_default;
    self->heartbeat_ms = 1000;
    self->inline_max = 4096;
    if (opts->name != NULL) {
        sl__strlcpy(self->name, opts->name, sizeof(self->name));
    } else {
        sl__node_name(self->name, sizeof(self->name));
    }
    sl__mpw_init(&self->w);
    sl__mpw_init(&self->out);
    self->free_slots = sl__xcalloc((size_t) self->n_slots, sizeof(int));
    self->poll = sl__xcalloc((size_t) self->n_slots + 1 + S_POLL_OWN,
                             sizeof(*self->poll));
    if ((self->registry = sl__registry_new()) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot build the kernel registry");
        goto fail;
    }
    if ((rv = s_loader_start(self, errbuf)) != SL_OK) {
        goto fail;
    }
    sl__worker_link_opts link = {opts->scheduler, opts->cert, opts->server_cert,
                                 self->limits.max_message};
    if ((rv = sl__worker_link_new(&self->link, &link, errbuf)) != SL_OK) {
        goto fail;
    }
    *out = self;
    return SL_OK;

fail:
    sl__worker_destroy(&self);
    return rv;
}

void
sl__worker_destroy(sl__worker **self_p)
{
    sl__worker *self = *self_p;
    if (self == NULL) {
        return;
    }
    // Outcomes of tasks that were running when we stopped are dropped: the
    // scheduler re-queues them when it notices we are gone. (The slots give
    // them back to the FIFO.)
    if (self->slot_ops != NULL) {
        self->slot_ops->destroy(&self->slots);
    }
    s_batch_destroy(self, &self->fifo_head);
    sl__tier_agent_stop(&self->tier);
    sl__slot_task *it;
    while ((it = self->pool) != NULL) {
        self->pool = it->next;
        sl__run_task_fini(&it->task);
        free(it);
    }
    sl__worker_link_destroy(&self->link);
    sl__registry_destroy(&self->registry);
    sl__loader_destroy(&self->loader);
    sl__mpw_fini(&self->w);
    sl__mpw_fini(&self->out);
    free(self->free_slots);
    free(self->poll);
    free(self);
    *self_p = NULL;
}
