// worker.c - starling-worker: S executor slots fed by the scheduler.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The main thread owns the DEALER to the scheduler. It keeps a FIFO of
//   tasks received (up to slots + prefetch: the scheduler never sends
//   more than that credit), hands each to a free slot, and batches the
//   slots' outcomes into one RESULT per loop turn.
// - A slot is a thread with its own PAIR socket (tasks in), PUSH socket
//   (outcomes out) and its own object-store connection: nothing is shared
//   between slots but the read-only registry and the module loader, whose
//   lock is taken only to look a module up (worker/loader.c). Items
//   travel between threads as pointers; an item belongs to exactly one
//   thread at a time (the one that last received its pointer).
// - A slot decodes the argument, fetches every ref in it from the store,
//   runs the kernel, and encodes the result: inline when it is at most
//   inline_max bytes (from WELCOME), else stored under the task's result
//   key with SET NX (the first result wins) and sent as a ref.
// - A function "<sha256>/<kernel>" is a kernel of a user module: the slot
//   that first meets the module loads it through the loader (fetching it
//   from the store with the slot's own connection), while the other slots
//   go on with their tasks.
// - Nothing a task does can stop the worker: bad arguments, unknown
//   functions, modules that cannot be loaded, failing kernels and store
//   errors all end as outcomes.
// - If the scheduler goes silent (or restarts: it then answers ERROR
//   "unknown worker"), the worker sends READY again until it is welcomed;
//   tasks in hand run on and their outcomes are sent when they end.
// - With a certificate the DEALER is a CURVE client. A monitor tells us
//   why a handshake failed, and we log that (once, then every
//   S_REFUSED_QUIET_MS while it goes on). libzmq retries a connection that
//   broke, but gives up on one the scheduler refused (a key not allowed,
//   CURVE on one side only): we connect again every S_REJOIN_MS, so that a
//   key added to the allow list later lets us in. On
//   the first WELCOME the main thread tries the store once: a password the
//   store refuses stops the worker with a clear error, since no task could
//   use the store.
#define _GNU_SOURCE
#include "worker.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/cert.h"
#include "../serialize/msg.h"
#include "../store/store.h"
#include "loader.h"
#include "registry.h"

#define SL_MAX_MSGS_PER_TURN 256
#define SL_HEARTBEAT_LIVENESS 3
// While the scheduler keeps refusing us, one log line in this long.
#define S_REFUSED_QUIET_MS 30000
// After a refused handshake, try again this much later.
#define S_REJOIN_MS 2000

typedef struct s_item s_item;
struct s_item {
    uint64_t job;           // the task: job
    uint32_t index;         // index in the job
    uint32_t attempt;       // attempt number
    uint32_t time_limit_ms; // 0: none (enforced by a later executor mode)
    char function[256];     // "module.kernel" or "<sha256>/<kernel>"
    uint8_t *arg;           // raw msgpack argument, owned
    size_t arg_len;         // its length
    uint32_t status;        // outcome: SL_WIRE_*
    uint8_t *value;         // encoded result value (inline or ref), owned
    size_t value_len;       // its length
    char *error;            // error text, owned, or NULL
    sl__task_stats stats;   // times, FLOPs, bytes
    int slot;               // slot running it, -1 when queued
    s_item *next;           // FIFO link
};

typedef struct {
    sl__worker *worker; // owner
    int index;          // slot number
    pthread_t thread;   // its thread
    zsock_t *tasks;     // main's end of the slot's PAIR
    sl__store *store;   // the slot thread's store connection, lazily made
    bool started;       // thread running
} s_slot;

struct sl__worker {
    sl__worker_opts opts;        // as given
    char name[64];               // node name
    int n_slots;                 // executor slots
    int prefetch;                // extra credit
    zsock_t *sched;              // DEALER to the scheduler
    void *sched_raw;             // its libzmq handle
    zsock_t *monitor;            // handshake failures of sched
    bool curve;                  // sched is a CURVE client
    int64_t refused_quiet_ms[3]; // per kind of failure: no log line before
    int64_t rejoin_ms;           // connect again then; 0: no need
    zsock_t *results;            // PULL of outcomes from the slots
    void *results_raw;           // its libzmq handle
    char results_ep[64];         // inproc endpoint of results
    s_slot *slots;               // n_slots entries
    bool slots_started;          // after the first WELCOME
    int *free_slots;             // stack of idle slot numbers
    int n_free;                  // entries in free_slots
    s_item *fifo_head;           // tasks waiting for a slot
    s_item *fifo_tail;
    sl__mpw w;                 // message writer
    sl__mpw out;               // outcomes of this turn
    uint32_t n_out;            // entries in out
    sl__registry *registry;    // kernels, read-only once built
    sl__loader *loader;        // user modules, loaded on first use
    sl__limits limits;         // bounds on decoded values
    uint32_t inline_max;       // from WELCOME
    int heartbeat_ms;          // from WELCOME
    bool welcomed;             // the scheduler knows us
    int64_t last_recv_ms;      // last message from the scheduler
    int64_t last_send_ms;      // last message to it
    int64_t last_ready_ms;     // last READY sent
    sl__store_opts store_opts; // from WELCOME
    char store_addrs[SL_STORE_MAX_SHARDS][128]; // backing store_opts.addrs
    char store_password[256];                   // backing .password
    bool stopping;                              // SHUTDOWN received
    sl_err failed; // why the worker stopped on its own, or SL_OK
};

// ---------------------------------------------------------------------
// Items.

static void
s_item_destroy(s_item **item_p)
{
    s_item *it = *item_p;
    if (it != NULL) {
        free(it->arg);
        free(it->value);
        free(it->error);
        free(it);
        *item_p = NULL;
    }
}

static void s_item_fail(s_item *it, uint32_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_item_fail(s_item *it, uint32_t status, const char *fmt, ...)
{
    char text[SL_TASK_ERROR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    it->status = status;
    free(it->error);
    it->error = sl__xstrdup(text);
}

// ---------------------------------------------------------------------
// Slot threads.

static sl__store *
s_slot_store(s_slot *slot, char *errbuf)
{
    if (slot->store == NULL) {
        sl__store_connect(&slot->store, &slot->worker->store_opts, errbuf);
    }
    return slot->store;
}

// Replace every ref below *v by the value it names, fetched from the store.
static sl_err
s_resolve_refs(s_slot *slot, sl_value *v, s_item *it, char *errbuf)
{
    sl_err rv = SL_OK;
    if (v->type == SL_LIST) {
        for (size_t i = 0; i < v->u.list.n && rv == SL_OK; i++) {
            rv = s_resolve_refs(slot, v->u.list.items[i], it, errbuf);
        }
        return rv;
    }
    if (v->type == SL_MAP) {
        for (size_t i = 0; i < v->u.map.n && rv == SL_OK; i++) {
            rv = s_resolve_refs(slot, v->u.map.vals[i], it, errbuf);
        }
        return rv;
    }
    if (v->type != SL_REF) {
        return SL_OK;
    }
    sl__store *store = s_slot_store(slot, errbuf);
    if (store == NULL) {
        return SL_ESTORE;
    }
    sl_value *got = NULL;
    rv = sl__store_get_value(store, v, &slot->worker->limits, &got);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot fetch %s: %s", v->u.ref.key,
                rv == SL_ENOTFOUND ? "no such object (expired or released?)"
                                   : sl__store_errstr(store));
        return rv;
    }
    it->stats.bytes_read += v->u.ref.size;
    // Swap the fetched value into the ref's node, then free the ref.
    sl_value tmp = *v;
    *v = *got;
    *got = tmp;
    sl_value_destroy(&got);
    return SL_OK;
}

static sl_err
s_store_result(s_slot *slot, s_item *it, sl_value *result, char *errbuf)
{
    void *buf;
    size_t len;
    sl_err rv = sl__value_encode(result, &buf, &len);
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot encode the result: %s",
                sl_strerror(rv));
        return rv;
    }
    it->stats.bytes_written += len;
    if (len <= slot->worker->inline_max) {
        it->value = buf;
        it->value_len = len;
        return SL_OK;
    }
    sl__store *store = s_slot_store(slot, errbuf);
    char key[SL_STORE_KEY_LEN];
    sl__store_result_key(key, it->job, it->index);
    if (store == NULL ||
        (rv = sl__store_put(store, key, buf, len, true, NULL)) != SL_OK) {
        if (store != NULL) {
            sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot store the result: %s",
                    sl__store_errstr(store));
        }
        free(buf);
        return SL_ESTORE;
    }
    free(buf);
    sl_value *ref = sl__value_new_ref(key, len, sl__store_shard_of(store, key));
    rv = ref != NULL ? sl__value_encode(ref, &buf, &len) : SL_ENOMEM;
    sl_value_destroy(&ref);
    if (rv != SL_OK) {
        return rv;
    }
    it->value = buf;
    it->value_len = len;
    return SL_OK;
}

static void
s_blob_keep(void *ctx, void *data)
{
    (void) ctx;
    (void) data; // the item owns the bytes
}

static void
s_run_kernel(s_slot *slot, s_item *it, const sl_kernel_def *k, sl_value *args)
{
    sl_task t;
    char errbuf[SL_ERRSTR_LEN];
    sl__task_init(&t, it->job, it->index, it->attempt, args);
    it->stats.start_s = sl__wall();
    sl_err rv = sl__kernel_run(k, &t);
    it->stats.end_s = sl__wall();
    it->stats.flops = t.flops;
    it->stats.bytes_read += t.bytes_read;
    it->stats.bytes_written += t.bytes_written;
    if (rv != SL_OK) {
        s_item_fail(it, SL_WIRE_ERROR, "%s", t.error);
    } else {
        sl_value *result = sl__task_take_result(&t);
        if (result == NULL) {
            result = sl_value_new_nil();
        }
        if (s_store_result(slot, it, result, errbuf) != SL_OK) {
            s_item_fail(it, SL_WIRE_ERROR, "%s", errbuf);
        } else {
            it->status = SL_WIRE_OK;
        }
        sl_value_destroy(&result);
    }
    sl__task_fini(&t);
}

// The loader's fetch: the module's bytes from the store, over the slot's
// own connection.
static sl_err
s_fetch_module(void *ctx, const char *hash, void **buf_out, size_t *len_out,
               char errbuf[SL_ERRSTR_LEN])
{
    s_slot *slot = ctx;
    char key[SL_STORE_KEY_LEN];
    sl__store *store = s_slot_store(slot, errbuf);
    if (store == NULL) {
        return SL_ESTORE;
    }
    sl__store_module_key(key, hash);
    sl_err rv = sl__store_get(store, key, -1, buf_out, len_out);
    if (rv != SL_OK && rv != SL_ENOTFOUND) {
        sl__strlcpy(errbuf, sl__store_errstr(store), SL_ERRSTR_LEN);
    }
    return rv;
}

// The kernel a task names: built in, or in a user module (loaded now if
// this worker has not loaded it yet).
static sl_err
s_find_kernel(s_slot *slot, const s_item *it, const sl_kernel_def **out,
              char errbuf[SL_ERRSTR_LEN])
{
    sl__worker *w = slot->worker;
    if (sl__loader_is_module_function(it->function)) {
        return sl__loader_find(w->loader, it->function, s_fetch_module, slot,
                               out, errbuf);
    }
    if ((*out = sl__registry_find(w->registry, it->function)) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "unknown function '%s'", it->function);
        return SL_ENOTFOUND;
    }
    return SL_OK;
}

static void
s_execute(s_slot *slot, s_item *it)
{
    sl__worker *w = slot->worker;
    char errbuf[SL_ERRSTR_LEN];
    sl_value *args = NULL;
    sl__blob *blob = sl__blob_new(it->arg, it->arg_len, s_blob_keep, NULL);
    const sl_kernel_def *k = NULL;
    it->stats.start_s = it->stats.end_s = sl__wall();
    it->stats.bytes_read = it->arg_len;
    if (s_find_kernel(slot, it, &k, errbuf) != SL_OK) {
        s_item_fail(it, SL_WIRE_ERROR, "%s", errbuf);
    } else if (blob == NULL) {
        s_item_fail(it, SL_WIRE_ERROR, "out of memory");
    } else if (sl__value_decode_buf(it->arg, it->arg_len, &w->limits, blob,
                                    &args, errbuf) != SL_OK) {
        s_item_fail(it, SL_WIRE_ERROR, "%s: malformed argument: %s",
                    it->function, errbuf);
    } else if (s_resolve_refs(slot, args, it, errbuf) != SL_OK) {
        s_item_fail(it, SL_WIRE_ERROR, "%s: %s", it->function, errbuf);
    } else {
        s_run_kernel(slot, it, k, args);
    }
    sl_value_destroy(&args);
    sl__blob_release(&blob);
}

static void *
s_slot_main(void *arg)
{
    s_slot *slot = arg;
    char ep[96];
    sl__fmt(ep, sizeof(ep), "inproc://sl-slot-%p-%d", (void *) slot->worker,
            slot->index);
    zsock_t *tasks = zsock_new_pair(ep);
    zsock_t *results = zsock_new_push(slot->worker->results_ep);
    s_item *it;
    while (tasks != NULL && results != NULL &&
           zmq_recv(zsock_resolve(tasks), &it, sizeof(it), 0) ==
               (int) sizeof(it) &&
           it != NULL) {
        s_execute(slot, it);
        zmq_send(zsock_resolve(results), &it, sizeof(it), 0);
    }
    zsock_destroy(&tasks);
    zsock_destroy(&results);
    sl__store_destroy(&slot->store);
    return NULL;
}

static sl_err
s_slots_start(sl__worker *self)
{
    // Slot threads block every signal (they inherit the mask), so that
    // SIGTERM interrupts the main loop and never a slot's receive.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    sl_err rv = SL_OK;
    for (int i = 0; i < self->n_slots && rv == SL_OK; i++) {
        s_slot *slot = &self->slots[i];
        char ep[96];
        sl__fmt(ep, sizeof(ep), "@inproc://sl-slot-%p-%d", (void *) self, i);
        slot->worker = self;
        slot->index = i;
        slot->tasks = zsock_new_pair(ep);
        if (slot->tasks == NULL ||
            pthread_create(&slot->thread, NULL, s_slot_main, slot) != 0) {
            sl__log_error("cannot start slot %d", i);
            rv = SL_ENOMEM;
            break;
        }
        slot->started = true;
        self->free_slots[self->n_free++] = i;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    self->slots_started = rv == SL_OK;
    if (rv == SL_OK) {
        sl__log_info("%d slots started", self->n_slots);
    }
    return rv;
}

static void
s_slots_stop(sl__worker *self)
{
    for (int i = 0; i < self->n_slots; i++) {
        s_slot *slot = &self->slots[i];
        if (slot->started) {
            s_item *stop = NULL;
            zmq_send(zsock_resolve(slot->tasks), &stop, sizeof(stop), 0);
            pthread_join(slot->thread, NULL);
            slot->started = false;
        }
        zsock_destroy(&slot->tasks);
    }
}

// ---------------------------------------------------------------------
// Talking to the scheduler.

static void
s_send(sl__worker *self)
{
    if (zmq_send(self->sched_raw, self->w.buf.data, self->w.buf.size,
                 ZMQ_DONTWAIT) < 0) {
        sl__log_debug("send to the scheduler failed: %s", zmq_strerror(errno));
        return;
    }
    self->last_send_ms = sl__mono_ms();
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
s_outcome_add(sl__worker *self, const s_item *it)
{
    sl__outcome o = {0};
    o.job = it->job;
    o.index = it->index;
    o.attempt = it->attempt;
    o.status = it->status;
    o.value = it->status == SL_WIRE_OK ? it->value : NULL;
    o.value_len = it->status == SL_WIRE_OK ? it->value_len : 0;
    o.error.p = it->error != NULL ? it->error : "";
    o.error.len = it->error != NULL ? (uint32_t) strlen(it->error) : 0;
    o.stats = it->stats;
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
    sl__mpw_raw(&self->w, self->out.buf.data, self->out.buf.size);
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
    sl_err rv = sl__store_connect(&store, &self->store_opts, errbuf);
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

static void
s_on_welcome(sl__worker *self, sl__mpr *r)
{
    sl__welcome m;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__welcome_decode(r, &m, errbuf) != SL_OK) {
        sl__log_warn("scheduler: %s", errbuf);
        return;
    }
    self->welcomed = true;
    self->heartbeat_ms = m.heartbeat_ms > 0 ? (int) m.heartbeat_ms : 1000;
    self->inline_max = m.inline_max;
    if (self->slots_started) {
        return; // a re-welcome after a reconnect: the store is the same
    }
    self->store_opts.n_addrs = (int) m.n_stores;
    for (uint32_t i = 0; i < m.n_stores; i++) {
        sl__fmt(self->store_addrs[i], sizeof(self->store_addrs[i]), "%.*s",
                (int) m.stores[i].len, m.stores[i].p);
        self->store_opts.addrs[i] = self->store_addrs[i];
    }
    sl__fmt(self->store_password, sizeof(self->store_password), "%.*s",
            (int) m.password.len, m.password.p);
    self->store_opts.password = self->store_password;
    sl__log_info("welcomed by the scheduler; store %s", self->store_addrs[0]);
    if (s_store_check(self) != SL_OK || s_slots_start(self) != SL_OK) {
        self->stopping = true;
    }
}

static void
s_fifo_push(sl__worker *self, s_item *it)
{
    it->next = NULL;
    if (self->fifo_tail != NULL) {
        self->fifo_tail->next = it;
    } else {
        self->fifo_head = it;
    }
    self->fifo_tail = it;
}

static s_item *
s_item_new(const sl__task_group *g, const sl__task_item *t)
{
    s_item *it = sl__xcalloc(1, sizeof(*it));
    it->job = g->job;
    it->index = t->index;
    it->attempt = t->attempt;
    it->time_limit_ms = g->time_limit_ms;
    sl__fmt(it->function, sizeof(it->function), "%.*s",
            (int) (g->function.len < 255 ? g->function.len : 255),
            g->function.p);
    it->arg = sl__xmalloc(t->arg_len);
    memcpy(it->arg, t->arg, t->arg_len);
    it->arg_len = t->arg_len;
    it->slot = -1;
    return it;
}

static void
s_on_tasks(sl__worker *self, sl__mpr *r)
{
    uint32_t n_groups;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__tasks_decode(r, &self->limits, &n_groups, errbuf) != SL_OK) {
        sl__log_error("scheduler sent bad TASKS: %s", errbuf);
        return;
    }
    for (uint32_t g = 0; g < n_groups; g++) {
        sl__task_group group;
        if (sl__task_group_decode(r, &self->limits, &group, errbuf) != SL_OK) {
            sl__log_error("scheduler sent bad TASKS: %s", errbuf);
            return;
        }
        for (uint32_t i = 0; i < group.n_tasks; i++) {
            sl__task_item item;
            if (sl__task_item_decode(r, &self->limits, &item, errbuf) !=
                SL_OK) {
                sl__log_error("scheduler sent bad TASKS: %s", errbuf);
                return;
            }
            s_fifo_push(self, s_item_new(&group, &item));
        }
    }
}

// Drop the queued tasks of a cancelled job, reporting each CANCELLED.
static void
s_on_cancel(sl__worker *self, sl__mpr *r)
{
    uint64_t job;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__u64_decode(r, &job, errbuf) != SL_OK) {
        return;
    }
    s_item **pp = &self->fifo_head;
    self->fifo_tail = NULL;
    while (*pp != NULL) {
        s_item *it = *pp;
        if (it->job == job) {
            *pp = it->next;
            s_item_fail(it, SL_WIRE_CANCELLED, "cancelled by the client");
            s_outcome_add(self, it);
            s_item_destroy(&it);
        } else {
            self->fifo_tail = it;
            pp = &it->next;
        }
    }
}

static void
s_on_error(sl__worker *self, sl__mpr *r)
{
    sl__error_msg m;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__error_decode(r, &m, errbuf) != SL_OK) {
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
        s_on_cancel(self, &r);
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
    for (int i = 0; i < SL_MAX_MSGS_PER_TURN; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->sched_raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        self->last_recv_ms = sl__mono_ms();
        s_on_sched_msg(self, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
}

static void
s_drain_results(sl__worker *self)
{
    s_item *it;
    while (zmq_recv(self->results_raw, &it, sizeof(it), ZMQ_DONTWAIT) ==
           (int) sizeof(it)) {
        self->free_slots[self->n_free++] = it->slot;
        s_outcome_add(self, it);
        s_item_destroy(&it);
    }
}

static void
s_assign(sl__worker *self)
{
    while (self->n_free > 0 && self->fifo_head != NULL) {
        s_item *it = self->fifo_head;
        self->fifo_head = it->next;
        if (self->fifo_head == NULL) {
            self->fifo_tail = NULL;
        }
        it->slot = self->free_slots[--self->n_free];
        zmq_send(zsock_resolve(self->slots[it->slot].tasks), &it, sizeof(it),
                 0);
    }
}

static void
s_run_timers(sl__worker *self)
{
    int64_t now = sl__mono_ms();
    int64_t hb = self->heartbeat_ms;
    bool silent = now - self->last_recv_ms > SL_HEARTBEAT_LIVENESS * hb;
    if ((!self->welcomed || silent) && now - self->last_ready_ms >= hb) {
        if (self->welcomed) {
            sl__log_warn("scheduler silent for %" PRId64 " ms; "
                         "announcing ourselves again",
                         now - self->last_recv_ms);
        }
        s_send_ready(self);
        return;
    }
    if (now - self->last_send_ms >= hb) {
        sl__mpw_reset(&self->w);
        sl__msg_empty(&self->w, SL_MSG_HEARTBEAT);
        s_send(self);
    }
}

// Log why the scheduler refused our handshake, if it did: libzmq retries
// by itself, and every few hundred ms, so the log gets a line now and then.
static void
s_drain_monitor(sl__worker *self)
{
    uint16_t event;
    uint32_t value;
    while (sl__cert_monitor_read(self->monitor, &event, &value)) {
        // Each kind on its own clock: a hang-up (which side sees a
        // mismatch first is a race) must not hide the refusal that says
        // why.
        int kind = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH       ? 0
                   : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? 1
                                                                  : 2;
        int64_t now = sl__mono_ms();
        if (kind < 2 && self->rejoin_ms == 0) {
            self->rejoin_ms = now + S_REJOIN_MS;
        }
        if (now < self->refused_quiet_ms[kind]) {
            continue;
        }
        self->refused_quiet_ms[kind] = now + S_REFUSED_QUIET_MS;
        char why[256];
        sl__cert_handshake_why(event, value, self->curve, why, sizeof(why));
        sl__log_error("cannot join the scheduler at %s: %s",
                      self->opts.scheduler, why);
    }
}

// Connect again after a refusal: libzmq does not, after one.
static void
s_rejoin(sl__worker *self)
{
    if (self->rejoin_ms == 0 || sl__mono_ms() < self->rejoin_ms) {
        return;
    }
    self->rejoin_ms = 0;
    zsock_disconnect(self->sched, "%s", self->opts.scheduler);
    if (zsock_connect(self->sched, "%s", self->opts.scheduler) != 0) {
        sl__log_warn("cannot connect to %s again: %s", self->opts.scheduler,
                     zmq_strerror(zmq_errno()));
    }
}

sl_err
sl__worker_run(sl__worker *self)
{
    s_send_ready(self);
    self->last_recv_ms = sl__mono_ms();
    while (!self->stopping && !zsys_interrupted) {
        zmq_pollitem_t items[] = {
            {self->sched_raw, 0, ZMQ_POLLIN, 0},
            {self->results_raw, 0, ZMQ_POLLIN, 0},
            {zsock_resolve(self->monitor), 0, ZMQ_POLLIN, 0},
        };
        int timeout = self->heartbeat_ms / 4 > 0 ? self->heartbeat_ms / 4 : 1;
        if (zmq_poll(items, 3, timeout) < 0 && errno != EINTR) {
            sl__log_error("poll failed: %s", zmq_strerror(errno));
            break;
        }
        if (items[2].revents & ZMQ_POLLIN) {
            s_drain_monitor(self);
        }
        s_drain_sched(self);
        s_drain_results(self);
        s_assign(self);
        s_flush_results(self);
        s_run_timers(self);
        s_rejoin(self);
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

// Make the DEALER a CURVE client when we have keys, and watch its
// handshakes. Before it connects.
static sl_err
s_curve_start(sl__worker *self, char *errbuf)
{
    const sl__worker_opts *o = &self->opts;
    char server_key[SL_CERT_KEY_LEN + 1];
    zcert_t *cert = NULL;
    sl_err rv;
    if ((o->cert == NULL) != (o->server_cert == NULL)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "--cert and --server-cert go together: our certificate, and "
                "the scheduler's public one");
        return SL_EINVAL;
    }
    if (o->cert != NULL) {
        if ((rv = sl__cert_load_secret(&cert, o->cert, errbuf)) != SL_OK ||
            (rv = sl__cert_load_public(server_key, o->server_cert, errbuf)) !=
                SL_OK) {
            zcert_destroy(&cert);
            return rv;
        }
        sl__cert_apply_client(self->sched, cert, server_key);
        zcert_destroy(&cert);
        self->curve = true;
    }
    if ((self->monitor = sl__cert_monitor_new(
             self->sched, "worker", SL_CERT_HANDSHAKE_EVENTS)) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot watch the scheduler socket");
        return SL_EIO;
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
    self->prefetch = opts->prefetch >= 0 ? opts->prefetch : self->n_slots;
    self->limits = sl__limits_default;
    self->heartbeat_ms = 1000;
    self->inline_max = 4096;
    if (opts->name != NULL) {
        sl__strlcpy(self->name, opts->name, sizeof(self->name));
    } else if (gethostname(self->name, sizeof(self->name) - 1) != 0) {
        sl__strlcpy(self->name, "worker", sizeof(self->name));
    }
    sl__mpw_init(&self->w);
    sl__mpw_init(&self->out);
    self->slots = sl__xcalloc((size_t) self->n_slots, sizeof(*self->slots));
    self->free_slots = sl__xcalloc((size_t) self->n_slots, sizeof(int));
    if ((self->registry = sl__registry_new()) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot build the kernel registry");
        goto fail;
    }
    if ((rv = s_loader_start(self, errbuf)) != SL_OK) {
        goto fail;
    }
    sl__fmt(self->results_ep, sizeof(self->results_ep),
            "inproc://sl-results-%p", (void *) self);
    char bind_ep[80];
    sl__fmt(bind_ep, sizeof(bind_ep), "@%s", self->results_ep);
    self->results = zsock_new_pull(bind_ep);
    self->sched = zsock_new(ZMQ_DEALER);
    if (self->results == NULL || self->sched == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot create sockets");
        rv = SL_EIO;
        goto fail;
    }
    zsock_set_linger(self->sched, 0);
    zsock_set_maxmsgsize(self->sched, (int) self->limits.max_message);
    zsock_set_rcvhwm(self->sched, 100000);
    zsock_set_sndhwm(self->sched, 100000);
    if ((rv = s_curve_start(self, errbuf)) != SL_OK) {
        goto fail;
    }
    rv = SL_EIO;
    if (zsock_connect(self->sched, "%s", opts->scheduler) < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot connect to %s: %s",
                opts->scheduler, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (self->curve) {
        sl__log_info("CURVE on: %s", opts->cert);
    }
    self->sched_raw = zsock_resolve(self->sched);
    self->results_raw = zsock_resolve(self->results);
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
    s_slots_stop(self);
    // Outcomes of tasks that were running when we stopped are dropped: the
    // scheduler re-queues them when it notices we are gone.
    s_item *it;
    while (self->results_raw != NULL &&
           zmq_recv(self->results_raw, &it, sizeof(it), ZMQ_DONTWAIT) ==
               (int) sizeof(it)) {
        s_item_destroy(&it);
    }
    while ((it = self->fifo_head) != NULL) {
        self->fifo_head = it->next;
        s_item_destroy(&it);
    }
    sl__cert_monitor_destroy(self->sched, &self->monitor);
    zsock_destroy(&self->sched);
    zsock_destroy(&self->results);
    sl__registry_destroy(&self->registry);
    sl__loader_destroy(&self->loader);
    sl__mpw_fini(&self->w);
    sl__mpw_fini(&self->out);
    free(self->slots);
    free(self->free_slots);
    free(self);
    *self_p = NULL;
}
