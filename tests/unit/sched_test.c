// sched_test.c - the scheduling policy without sockets: credit, the
// prefetch fill, pick order, speculation, lost workers.
// SPDX-License-Identifier: MIT
//
// Design notes. Each test builds a scheduler with sl__sched_new_unbound and
// replaces its send with s_record, which keeps every message the scheduler
// would send, with the peer it was for. Peers are made in the peer table
// (sl__peer_get) and talk to the scheduler through the handlers of its
// message switch, with messages built by the codec as a worker and a
// client build them. The clock is fake: self->now_ms for the turn, and the
// time given to sl__sched_run_timers.
#include <starling/client.h>

#include "scheduler/sched_impl.h"
#include "testutil.h"

typedef struct {
    uint64_t peer; // key of the peer it was for
    uint32_t type; // SL_MSG_*
    uint8_t *data; // the message
    size_t len;    // its length
} s_sent;

typedef struct {
    uint64_t job;     // a task sent in TASKS: its job
    uint32_t index;   // its index
    uint32_t attempt; // and the attempt it was sent as
    char home[65];    // its group's home
} s_item;

// One scheduler at a time: sl__send_fn has no context argument.
static struct {
    sl__sched *sched; // under test
    sl__peer *client; // the one client, said HELLO
    s_sent *sent;     // messages recorded since the last s_sent_clear
    size_t n_sent;    // entries in sent
    size_t cap_sent;  // allocated
    sl__mpw w;        // builds the messages the peers send
} fx;

// The scheduler's send: every message is kept, and taken.
static int
s_record(sl__sched *self, const sl__peer *peer, const void *data, size_t len)
{
    if (fx.n_sent == fx.cap_sent) {
        fx.cap_sent = fx.cap_sent ? fx.cap_sent * 2 : 64;
        fx.sent = realloc(fx.sent, fx.cap_sent * sizeof(*fx.sent));
        SL_ASSERT(fx.sent != NULL);
    }
    s_sent *s = &fx.sent[fx.n_sent++];
    s->peer = peer->key;
    s->data = malloc(len);
    SL_ASSERT(s->data != NULL);
    memcpy(s->data, data, len);
    s->len = len;
    sl__mpr r;
    uint32_t nfields;
    char why[SL_ERRSTR_LEN];
    sl__mpr_init(&r, data, len);
    SL_PASS(sl__msg_open(&r, &s->type, &nfields, why));
    return 1;
}

static void
s_sent_clear(void)
{
    for (size_t i = 0; i < fx.n_sent; i++) {
        free(fx.sent[i].data);
    }
    fx.n_sent = 0;
}

// Open the message in fx.w for a handler: r is left at its first field.
static void
s_open(sl__mpr *r, uint32_t want_type)
{
    uint32_t type, nfields;
    char why[SL_ERRSTR_LEN];
    sl__mpr_init(r, fx.w.buf.data, fx.w.buf.size);
    SL_PASS(sl__msg_open(r, &type, &nfields, why));
    SL_ASSERT_EQ(type, want_type);
}

// The fake clock: the time of this loop turn.
static void
s_at(int64_t now)
{
    fx.sched->now_ms = now;
}

static int64_t
s_now(void)
{
    return fx.sched->now_ms;
}

// A client with routing id id that has said HELLO with name.
static sl__peer *
s_client(const char *id, const char *name)
{
    sl__peer *c =
        sl__peer_get(fx.sched, (const uint8_t *) id, strlen(id), false);
    SL_ASSERT(c != NULL);
    c->last_recv_ms = s_now();
    sl__mpw_reset(&fx.w);
    sl__msg_hello(&fx.w, name, 1);
    sl__mpr r;
    s_open(&r, SL_MSG_HELLO);
    sl__on_hello(fx.sched, c, &r);
    SL_ASSERT(c->hello);
    s_sent_clear();
    return c;
}

// A scheduler with one client, which has said HELLO. The fake clock starts
// where sl__sched_new_unbound set it, at the monotonic time that its other
// timers were set from.
static void
s_setup(void)
{
    sl__sched_opts opts = {
        .stores = {"127.0.0.1:6379"},
        .n_stores = 1,
        .heartbeat_ms = 1000,
        .inline_max = 4096,
        .limits = sl__limits_default,
    };
    fx.sched = sl__sched_new_unbound(&opts);
    fx.sched->send = s_record;
    sl__mpw_init(&fx.w);
    fx.client = s_client("client-1", "test");
}

static void
s_teardown(void)
{
    s_sent_clear();
    free(fx.sent);
    sl__mpw_fini(&fx.w);
    sl__sched_destroy(&fx.sched);
    SL_ASSERT(fx.sched == NULL);
    memset(&fx, 0, sizeof(fx));
}

// A worker that said READY with this many slots and prefetch.
static sl__peer *
s_worker(const char *name, uint32_t slots, uint32_t prefetch)
{
    sl__peer *w =
        sl__peer_get(fx.sched, (const uint8_t *) name, strlen(name), true);
    SL_ASSERT(w != NULL);
    w->last_recv_ms = s_now();
    sl__ready m = {slots, prefetch, {name, (uint32_t) strlen(name)}, 2};
    sl__mpw_reset(&fx.w);
    sl__msg_ready(&fx.w, &m);
    sl__mpr r;
    s_open(&r, SL_MSG_READY);
    sl__on_ready(fx.sched, w, &r);
    SL_ASSERT(w->ready);
    SL_ASSERT_EQ(w->credit_max, slots + prefetch);
    return w;
}

// Hand the SUBMIT in fx.w to the scheduler from client. It keeps the frame
// the arguments lie in, as it does a received one.
static void
s_deliver_submit(sl__peer *client)
{
    zmq_msg_t body;
    SL_ASSERT_EQ(zmq_msg_init_size(&body, fx.w.buf.size), 0);
    memcpy(zmq_msg_data(&body), fx.w.buf.data, fx.w.buf.size);
    sl__mpr r;
    uint32_t type, nfields;
    char why[SL_ERRSTR_LEN];
    sl__mpr_init(&r, zmq_msg_data(&body), zmq_msg_size(&body));
    SL_PASS(sl__msg_open(&r, &type, &nfields, why));
    sl__on_submit(fx.sched, client, &r, nfields, &body);
    zmq_msg_close(&body);
}

// Submit job id of n tasks in one chunk from client; task i's argument is
// i.
static sl__job *
s_submit_from(sl__peer *client, uint64_t id, uint32_t n, uint32_t priority,
              uint32_t max_attempts, uint32_t flags)
{
    sl__job_opts o = {0, max_attempts, priority, flags};
    sl__mpw_reset(&fx.w);
    sl__msg_submit_begin(&fx.w, id, "test.kernel", n, 0, &o, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_uint32(&fx.w.pk, i);
    }
    s_deliver_submit(client);
    sl__job *job = sl__table_get(&fx.sched->jobs, id);
    SL_ASSERT(job != NULL);
    SL_ASSERT_EQ(job->received, n);
    return job;
}

// The same from the one client of s_setup.
static sl__job *
s_submit(uint64_t id, uint32_t n, uint32_t priority, uint32_t max_attempts,
         uint32_t flags)
{
    return s_submit_from(fx.client, id, n, priority, max_attempts, flags);
}

// Worker w reports the outcome of (job, index, attempt), which ran for
// run_ms by its own clock.
static void
s_result(sl__peer *w, uint64_t job, uint32_t index, uint32_t attempt,
         uint32_t status, double run_ms)
{
    sl__outcome o = {0};
    o.job = job;
    o.index = index;
    o.attempt = attempt;
    o.status = status;
    o.stats.start_s = 0;
    o.stats.end_s = run_ms / 1000;
    if (status == SL_WIRE_LOST) {
        o.error.p = "executor killed";
        o.error.len = (uint32_t) strlen(o.error.p);
    }
    sl__mpw_reset(&fx.w);
    sl__msg_result_begin(&fx.w, 1);
    sl__msg_outcome(&fx.w, &o, true);
    sl__mpr r;
    s_open(&r, SL_MSG_RESULT);
    w->last_recv_ms = s_now();
    sl__on_result(fx.sched, w, &r);
}

// Worker w reports an OK outcome for n of the tasks it holds (the first
// lease each time: dropping it moves the last one into its place).
static void
s_finish_leases(sl__peer *w, uint32_t n, double run_ms)
{
    for (uint32_t i = 0; i < n; i++) {
        sl__lease l = w->leases[0];
        s_result(w, l.job, l.index, l.attempt, SL_WIRE_OK, run_ms);
    }
}

// The tasks the recorded TASKS messages gave the peer with key, in the
// order they were packed; how many TASKS messages carried them in *n_msgs.
static size_t
s_tasks_sent(uint64_t key, s_item *items, size_t cap, size_t *n_msgs)
{
    size_t n = 0;
    char why[SL_ERRSTR_LEN];
    *n_msgs = 0;
    for (size_t i = 0; i < fx.n_sent; i++) {
        const s_sent *s = &fx.sent[i];
        if (s->peer != key || s->type != SL_MSG_TASKS) {
            continue;
        }
        (*n_msgs)++;
        sl__mpr r;
        uint32_t type, nfields, groups;
        sl__mpr_init(&r, s->data, s->len);
        SL_PASS(sl__msg_open(&r, &type, &nfields, why));
        SL_PASS(sl__msg_tasks_decode(&r, &sl__limits_default, &groups, why));
        for (uint32_t g = 0; g < groups; g++) {
            sl__task_group group;
            SL_PASS(sl__msg_task_group_decode(&r, &sl__limits_default, &group,
                                              why));
            for (uint32_t t = 0; t < group.n_tasks; t++) {
                sl__task_item item;
                SL_PASS(sl__msg_task_item_decode(&r, &sl__limits_default, &item,
                                                 why));
                SL_ASSERT(n < cap);
                SL_ASSERT(group.home.len < sizeof(items[n].home));
                items[n] = (s_item){group.job, item.index, item.attempt, ""};
                memcpy(items[n].home, group.home.p, group.home.len);
                items[n].home[group.home.len] = '\0';
                n++;
            }
        }
    }
    return n;
}

// How many messages of type went to the peer with key.
static size_t
s_count_sent(uint64_t key, uint32_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < fx.n_sent; i++) {
        n += fx.sent[i].peer == key && fx.sent[i].type == type;
    }
    return n;
}

// One scan of the timers at now, every peer having heartbeated then.
static void
s_tick(int64_t now)
{
    s_at(now);
    for (size_t i = 0; i < fx.sched->peers.cap; i++) {
        sl__peer *p = fx.sched->peers.keys[i] ? fx.sched->peers.vals[i] : NULL;
        if (p != NULL) {
            p->last_recv_ms = now;
        }
    }
    sl__sched_run_timers(fx.sched, now);
}

// ---------------------------------------------------------------------
// Credit.

// A worker never holds more leases than slots + prefetch; an outcome gives
// one back; and a deep prefetch is refilled once half of it is free.
static void
test_credit_limit(void)
{
    s_setup();
    sl__peer *w = s_worker("w1", 2, 8);
    sl__job *job = s_submit(1, 100, 0, 0, 0);
    // No run time measured yet: one task per slot beyond the slots.
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 4);
    // Measured microsecond tasks: the whole prefetch fills.
    s_finish_leases(w, 4, 0.01);
    SL_ASSERT_EQ(w->n_leases, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 10);
    SL_ASSERT(!w->hungry);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 10);
    // A duplicate outcome gives nothing back: still full, still not hungry.
    s_result(w, 1, 0, 1, SL_WIRE_OK, 0.01);
    SL_ASSERT_EQ(w->n_leases, 10);
    SL_ASSERT(!w->hungry);
    // An outcome gives one lease back, and the worker is hungry again; but
    // one free lease is not worth a message while a batch waits.
    s_finish_leases(w, 1, 0.01);
    SL_ASSERT_EQ(w->n_leases, 9);
    SL_ASSERT(w->hungry);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 9);
    // Half the prefetch fill free: refilled to the limit in one message.
    s_finish_leases(w, 3, 0.01);
    size_t before = s_count_sent(w->key, SL_MSG_TASKS);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 10);
    SL_ASSERT_EQ(s_count_sent(w->key, SL_MSG_TASKS), before + 1);
    // The rest of the job: never over the credit.
    for (int turn = 0; job->done + job->running < job->total; turn++) {
        SL_ASSERT(turn < 1000);
        s_finish_leases(w, w->n_leases / 2 + 1, 0.01);
        sl__dispatch(fx.sched);
        SL_ASSERT(w->n_leases <= w->credit_max);
    }
    s_finish_leases(w, w->n_leases, 0.01);
    SL_ASSERT_EQ(job->done, 100);
    SL_ASSERT_EQ(fx.sched->running, 0);
    // Each task was sent once.
    static s_item items[128];
    size_t n_msgs;
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 128, &n_msgs), 100);
    for (uint32_t i = 0; i < 100; i++) {
        SL_ASSERT_EQ(items[i].index, i);
        SL_ASSERT_EQ(items[i].attempt, 1);
    }
    s_teardown();
}

// Of its prefetch a worker is given what S_AHEAD_MS (20 ms) of work per
// slot fills, by the job's measured run time: microsecond tasks by the
// hundred in one message, one-second tasks one per slot.
static void
test_prefetch_fill_by_run_time(void)
{
    static s_item items[512];
    size_t n_msgs;
    s_setup();
    sl__peer *w = s_worker("w1", 4, 256);
    s_submit(1, 2000, 0, 0, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 8);
    s_finish_leases(w, 8, 0.002);
    s_sent_clear();
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 4 + 256);
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 512, &n_msgs), 260);
    SL_ASSERT_EQ(n_msgs, 1);
    s_teardown();

    // 10 ms tasks: two per slot ahead.
    s_setup();
    w = s_worker("w1", 4, 256);
    s_submit(1, 2000, 0, 0, 0);
    sl__dispatch(fx.sched);
    s_finish_leases(w, 8, 10);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 4 + 8);
    s_teardown();

    // One-second tasks: each slot has one running and one waiting, no
    // more, however deep the prefetch.
    s_setup();
    w = s_worker("w1", 4, 256);
    s_submit(1, 100, 0, 0, 0);
    sl__dispatch(fx.sched);
    s_finish_leases(w, 8, 1000);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 8);
    s_finish_leases(w, 4, 1000);
    s_sent_clear();
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, 8);
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 512, &n_msgs), 4);
    s_teardown();
}

// ---------------------------------------------------------------------
// Pick order.

// Higher priority first; FIFO within a priority, by job and by index.
static void
test_pick_priority_then_fifo(void)
{
    static s_item items[64];
    size_t n_msgs;
    s_setup();
    sl__peer *w = s_worker("w1", 30, 0);
    s_submit(1, 10, 0, 0, 0);
    s_submit(2, 10, 5, 0, 0);
    s_submit(3, 10, 0, 0, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 64, &n_msgs), 30);
    SL_ASSERT_EQ(n_msgs, 1);
    const uint64_t order[3] = {2, 1, 3};
    for (int i = 0; i < 30; i++) {
        SL_ASSERT_EQ(items[i].job, order[i / 10]);
        SL_ASSERT_EQ(items[i].index, i % 10);
        SL_ASSERT_EQ(items[i].attempt, 1);
    }
    s_teardown();
}

// A task that goes back to the queue (its executor died) goes to the
// front, ahead of tasks queued before it.
static void
test_pick_requeued_first(void)
{
    s_item items[8];
    size_t n_msgs;
    s_setup();
    sl__peer *w1 = s_worker("w1", 6, 0);
    s_submit(1, 5, 0, 0, 0);
    s_submit(2, 5, 0, 0, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w1->n_leases, 6); // 1:0..4 and 2:0
    sl__peer *w2 = s_worker("w2", 1, 0);
    s_result(w1, 1, 2, 1, SL_WIRE_LOST, 5);
    SL_ASSERT_EQ(fx.sched->queued, 5);
    s_sent_clear();
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(s_tasks_sent(w2->key, items, 8, &n_msgs), 1);
    SL_ASSERT_EQ(items[0].job, 1);
    SL_ASSERT_EQ(items[0].index, 2);
    SL_ASSERT_EQ(items[0].attempt, 2);
    SL_ASSERT_EQ(s_tasks_sent(w1->key, items, 8, &n_msgs), 1);
    SL_ASSERT_EQ(items[0].job, 2);
    SL_ASSERT_EQ(items[0].index, 1);
    s_teardown();
}

// Hungry workers each get about an even share of what is queued, so that
// a short job spreads out instead of filling the first worker.
static void
test_pick_even_share(void)
{
    s_setup();
    sl__peer *w1 = s_worker("w1", 8, 0);
    sl__peer *w2 = s_worker("w2", 8, 0);
    s_submit(1, 8, 0, 0, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w1->n_leases, 4);
    SL_ASSERT_EQ(w2->n_leases, 4);
    s_teardown();

    s_setup();
    w1 = s_worker("w1", 8, 0);
    w2 = s_worker("w2", 8, 0);
    sl__peer *w3 = s_worker("w3", 8, 0);
    s_submit(1, 7, 0, 0, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w1->n_leases, 3);
    SL_ASSERT_EQ(w2->n_leases, 3);
    SL_ASSERT_EQ(w3->n_leases, 1);
    s_teardown();
}

// ---------------------------------------------------------------------
// Speculation.

// A job of n tasks all sent to w at t0; the first n_done end after
// done_ms.
static sl__job *
s_spec_job(sl__peer *w, uint32_t n, uint32_t n_done, int64_t t0,
           int64_t done_ms, uint32_t flags)
{
    sl__job *job = s_submit(1, n, 0, 0, flags);
    s_at(t0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w->n_leases, n);
    s_at(t0 + done_ms);
    for (uint32_t i = 0; i < n_done; i++) {
        s_result(w, 1, i, 1, SL_WIRE_OK, (double) done_ms);
    }
    SL_ASSERT_EQ(job->done, n_done);
    return job;
}

// No backup copy before 75% of the job is done, however long a task runs.
static void
test_speculation_waits_for_most_done(void)
{
    s_setup();
    int64_t t0 = s_now();
    sl__peer *w = s_worker("w1", 8, 0);
    sl__job *job = s_spec_job(w, 8, 5, t0, 100, 0); // 62.5% done
    s_tick(t0 + 60000);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 0);
    SL_ASSERT(sl__queue_empty(&fx.sched->queue));
    s_result(w, 1, 5, 1, SL_WIRE_OK, 100); // 75%
    s_tick(t0 + 61000);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 2);
    SL_ASSERT(job->tasks[6].flags & SL_SCHED_WANT_BACKUP);
    SL_ASSERT(job->tasks[7].flags & SL_SCHED_WANT_BACKUP);
    s_teardown();
}

// A backup once a task has run 4 times the median, and at least 1 s.
static void
test_speculation_factor_and_floor(void)
{
    // Median 400 ms: the factor decides (1,600 ms).
    s_setup();
    int64_t t0 = s_now();
    sl__peer *w = s_worker("w1", 4, 0);
    s_spec_job(w, 4, 3, t0, 400, 0);
    s_tick(t0 + 1500);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 0);
    s_tick(t0 + 2000);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 1);
    s_teardown();

    // Median 10 ms: the floor of one second decides.
    s_setup();
    t0 = s_now();
    w = s_worker("w1", 4, 0);
    s_spec_job(w, 4, 3, t0, 10, 0);
    s_tick(t0 + 900);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 0);
    s_tick(t0 + 1500);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 1);
    s_teardown();
}

// At most one backup copy of a task; the first copy to end ends the task,
// the other is told to stop, and its outcome is dropped.
static void
test_speculation_once(void)
{
    s_item items[4];
    size_t n_msgs;
    s_setup();
    int64_t t0 = s_now();
    sl__peer *w1 = s_worker("w1", 4, 0);
    sl__job *job = s_submit(1, 4, 0, 0, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w1->n_leases, 4);
    // w2 comes while w1 is full: it is first on the hungry list.
    sl__peer *w2 = s_worker("w2", 4, 0);
    s_at(t0 + 100);
    for (uint32_t i = 0; i < 3; i++) {
        s_result(w1, 1, i, 1, SL_WIRE_OK, 100);
    }
    s_tick(t0 + 2000);
    s_tick(t0 + 3000);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 1);
    s_sent_clear();
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(s_tasks_sent(w2->key, items, 4, &n_msgs), 1);
    SL_ASSERT_EQ(items[0].index, 3);
    SL_ASSERT_EQ(items[0].attempt, 2);
    SL_ASSERT_EQ(fx.sched->speculated, 1);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 0);
    SL_ASSERT(job->tasks[3].flags & SL_SCHED_BACKED);
    for (int64_t t = t0 + 4000; t < t0 + 60000; t += 1000) {
        s_tick(t);
        sl__dispatch(fx.sched);
    }
    SL_ASSERT_EQ(fx.sched->backups_wanted, 0);
    SL_ASSERT_EQ(fx.sched->speculated, 1);
    SL_ASSERT(sl__queue_empty(&fx.sched->queue));
    // The copy ends first: the task is done, the original told to stop.
    s_sent_clear();
    s_result(w2, 1, 3, 2, SL_WIRE_OK, 100);
    SL_ASSERT_EQ(job->done, 4);
    SL_ASSERT_EQ(fx.sched->running, 0);
    SL_ASSERT_EQ(s_count_sent(w1->key, SL_MSG_CANCEL), 1);
    s_result(w1, 1, 3, 1, SL_WIRE_OK, 60000);
    SL_ASSERT_EQ(job->done, 4);
    SL_ASSERT_EQ(job->n_pending, 4);
    s_teardown();
}

// A job with SL_JOB_NO_SPECULATION never gets a backup copy.
static void
test_speculation_off(void)
{
    s_setup();
    int64_t t0 = s_now();
    sl__peer *w = s_worker("w1", 4, 0);
    s_spec_job(w, 4, 3, t0, 100, SL_JOB_NO_SPECULATION);
    s_tick(t0 + 60000);
    SL_ASSERT_EQ(fx.sched->backups_wanted, 0);
    SL_ASSERT_EQ(fx.sched->speculated, 0);
    s_teardown();
}

// ---------------------------------------------------------------------
// Lost workers.

// A worker silent for three heartbeats is lost: its leases go back to the
// front of the queue, each run counted as an attempt, and a task that has
// used up max_attempts ends FAILED with the cause.
static void
test_lost_worker_requeues_then_fails(void)
{
    s_item items[4];
    size_t n_msgs;
    char why[SL_ERRSTR_LEN];
    s_setup();
    int64_t t0 = s_now();
    sl__peer *w1 = s_worker("w1", 1, 0);
    uint64_t w1_key = w1->key;
    sl__job *job = s_submit(1, 2, 0, 2, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(w1->n_leases, 1);
    s_tick(t0 + 1000);
    SL_ASSERT(sl__table_get(&fx.sched->peers, w1_key) == w1);
    // Heard at t0 + 1000; lost once 3 s more have passed without a word.
    s_at(t0 + 4000);
    sl__sched_run_timers(fx.sched, t0 + 4000);
    SL_ASSERT(sl__table_get(&fx.sched->peers, w1_key) == w1);
    s_at(t0 + 4500);
    sl__sched_run_timers(fx.sched, t0 + 4500);
    SL_ASSERT(sl__table_get(&fx.sched->peers, w1_key) == NULL);
    SL_ASSERT_EQ(fx.sched->n_workers, 0);
    SL_ASSERT_EQ(fx.sched->running, 0);
    SL_ASSERT_EQ(fx.sched->queued, 2);
    SL_ASSERT_EQ(job->tasks[0].state, SL_SCHED_QUEUED);
    SL_ASSERT_EQ(job->tasks[0].attempts, 1);
    SL_ASSERT_EQ(job->tasks[0].lost, 1);
    // The next worker gets it first, as a second attempt.
    sl__peer *w2 = s_worker("w2", 1, 0);
    uint64_t w2_key = w2->key;
    s_sent_clear();
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(s_tasks_sent(w2_key, items, 4, &n_msgs), 1);
    SL_ASSERT_EQ(items[0].index, 0);
    SL_ASSERT_EQ(items[0].attempt, 2);
    // Lost again: out of attempts, the task fails, naming the cause.
    s_at(t0 + 10000);
    sl__sched_run_timers(fx.sched, t0 + 10000);
    SL_ASSERT(sl__table_get(&fx.sched->peers, w2_key) == NULL);
    SL_ASSERT_EQ(job->tasks[0].state, SL_SCHED_DONE);
    SL_ASSERT_EQ(job->done, 1);
    SL_ASSERT_EQ(fx.sched->queued, 1);
    s_sent_clear();
    sl__jobs_flush(fx.sched);
    SL_ASSERT_EQ(s_count_sent(fx.client->key, SL_MSG_DONE), 1);
    sl__mpr r;
    uint32_t type, nfields, n;
    uint64_t id;
    sl__outcome o;
    sl__mpr_init(&r, fx.sent[0].data, fx.sent[0].len);
    SL_PASS(sl__msg_open(&r, &type, &nfields, why));
    SL_PASS(sl__msg_done_decode(&r, &sl__limits_default, &id, &n, why));
    SL_ASSERT_EQ(id, 1);
    SL_ASSERT_EQ(n, 1);
    SL_PASS(sl__msg_outcome_decode(&r, &sl__limits_default, false, &o, why));
    SL_ASSERT_EQ(o.index, 0);
    SL_ASSERT_EQ(o.attempt, 2);
    SL_ASSERT_EQ(o.status, SL_WIRE_FAILED);
    char text[SL_ERRSTR_LEN];
    sl__fmt(text, sizeof(text), "%.*s", (int) o.error.len, o.error.p);
    SL_ASSERT_HAS(text, "worker w2");
    SL_ASSERT_HAS(text, "went silent");
    SL_ASSERT_HAS(text, "after 2 attempts");
    s_teardown();
}

// ---------------------------------------------------------------------
// Homes.

// Every TASKS group carries the node of its job's client, as that
// client's HELLO named it, copied into the job at SUBMIT: a later HELLO
// under another name changes the jobs submitted after it. A HELLO name no
// group can carry (over 64 bytes) leaves the client's jobs without one.
static void
test_tasks_carry_home(void)
{
    s_item items[8];
    size_t n_msgs;
    char long_name[SL_NODE_NAME_MAX + 2];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    s_setup();
    sl__peer *w = s_worker("w1", 8, 0);
    sl__peer *other = s_client("client-2", "rack2-node9");
    sl__peer *odd = s_client("client-3", long_name);
    s_submit(1, 1, 0, 0, 0);
    s_submit_from(other, 2, 1, 0, 0, 0);
    s_submit_from(odd, 3, 1, 0, 0, 0);
    s_client("client-1", "renamed"); // fx.client says HELLO again
    s_submit(4, 1, 0, 0, 0);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 8, &n_msgs), 4);
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        const char *want = items[i].job == 1   ? "test"
                           : items[i].job == 2 ? "rack2-node9"
                           : items[i].job == 3 ? ""
                                               : "renamed";
        SL_ASSERT_STR(items[i].home, want);
        seen |= 1 << (items[i].job - 1);
    }
    SL_ASSERT_EQ(seen, 0xf);
    s_teardown();
}

// ---------------------------------------------------------------------
// Futures (graph.c).

// A future as SUBMIT's deps field names it.
typedef struct {
    uint64_t job;
    uint32_t index;
} s_dep;

// Submit kept job id of n tasks from client, task i naming the n_deps[i]
// futures deps[i] (its argument is i), the tasks marked in ended (NULL:
// none) as having ended before, as a client submits its jobs again after
// a restart. The scheduler's answer, if any, is in fx.sent.
static void
s_resubmit_graph(sl__peer *client, uint64_t id, uint32_t n, const s_dep *deps,
                 const uint32_t *n_deps, const uint8_t *ended)
{
    sl__job_opts o = {0, 1, 0, SL_SUBMIT_KEEP};
    sl__mpw_reset(&fx.w);
    sl__msg_resubmit_begin(&fx.w, id, "test.kernel", n, 0, &o, ended, n, true);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_uint32(&fx.w.pk, i);
    }
    msgpack_pack_array(&fx.w.pk, n);
    for (uint32_t i = 0, k = 0; i < n; k += n_deps[i], i++) {
        if (n_deps[i] == 0) {
            msgpack_pack_nil(&fx.w.pk);
            continue;
        }
        msgpack_pack_array(&fx.w.pk, 2 * n_deps[i]);
        for (uint32_t j = 0; j < n_deps[i]; j++) {
            msgpack_pack_uint64(&fx.w.pk, deps[k + j].job);
            msgpack_pack_uint64(&fx.w.pk, deps[k + j].index);
        }
    }
    s_deliver_submit(client);
}

// The same without an ended bitmap: a first submission.
static void
s_submit_graph(sl__peer *client, uint64_t id, uint32_t n, const s_dep *deps,
               const uint32_t *n_deps)
{
    s_resubmit_graph(client, id, n, deps, n_deps, NULL);
}

// An OK outcome from w carrying the int value as its result.
static void
s_result_value(sl__peer *w, uint64_t job, uint32_t index, uint32_t attempt,
               int64_t value)
{
    sl__mpw v;
    sl__mpw_init(&v);
    msgpack_pack_int64(&v.pk, value);
    sl__outcome o = {0};
    o.job = job;
    o.index = index;
    o.attempt = attempt;
    o.status = SL_WIRE_OK;
    o.value = (const uint8_t *) v.buf.data;
    o.value_len = v.buf.size;
    sl__mpw_reset(&fx.w);
    sl__msg_result_begin(&fx.w, 1);
    sl__msg_outcome(&fx.w, &o, true);
    sl__mpw_fini(&v);
    sl__mpr r;
    s_open(&r, SL_MSG_RESULT);
    w->last_recv_ms = s_now();
    sl__on_result(fx.sched, w, &r);
}

// The text of the last ERROR to the peer with key ("" if none).
static const char *
s_last_error(uint64_t key)
{
    static char text[SL_ERRSTR_LEN];
    char why[SL_ERRSTR_LEN];
    text[0] = '\0';
    for (size_t i = 0; i < fx.n_sent; i++) {
        if (fx.sent[i].peer != key || fx.sent[i].type != SL_MSG_ERROR) {
            continue;
        }
        sl__mpr r;
        uint32_t type, nfields;
        sl__error_msg m;
        sl__mpr_init(&r, fx.sent[i].data, fx.sent[i].len);
        SL_PASS(sl__msg_open(&r, &type, &nfields, why));
        SL_PASS(sl__msg_error_decode(&r, &m, why));
        sl__fmt(text, sizeof(text), "%.*s", (int) m.text.len, m.text.p);
    }
    return text;
}

// A dependent waits until both its inputs have ended OK, then goes out
// with their results as its inputs; nothing else of it runs before.
static void
test_graph_waits_for_inputs(void)
{
    s_setup();
    sl__peer *w = s_worker("w1", 4, 0);
    uint32_t none[2] = {0, 0};
    s_submit_graph(fx.client, 1, 2, NULL, none);
    s_dep deps[2] = {{1, 0}, {1, 1}};
    uint32_t two[1] = {2};
    s_submit_graph(fx.client, 2, 1, deps, two);
    sl__job *d = sl__table_get(&fx.sched->jobs, 2);
    SL_ASSERT(d != NULL);
    SL_ASSERT_EQ(d->tasks[0].state, SL_SCHED_WAITING);
    SL_ASSERT_EQ(fx.sched->queued, 2);
    SL_ASSERT_EQ(fx.sched->graph.waiting, 1);
    SL_ASSERT_EQ(fx.sched->graph.live_edges, 2);
    s_sent_clear();
    sl__dispatch(fx.sched);
    s_item items[8];
    size_t n_msgs;
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 8, &n_msgs), 2);
    SL_ASSERT(items[0].job == 1 && items[1].job == 1);
    s_result_value(w, 1, 0, 1, 40);
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(d->tasks[0].state, SL_SCHED_WAITING);
    s_result_value(w, 1, 1, 1, 2);
    SL_ASSERT_EQ(d->tasks[0].state, SL_SCHED_QUEUED);
    SL_ASSERT_EQ(fx.sched->graph.waiting, 0);
    SL_ASSERT_EQ(fx.sched->graph.live_edges, 0);
    SL_ASSERT_EQ(fx.sched->graph.live_waiters, 0);
    s_sent_clear();
    sl__dispatch(fx.sched);
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 8, &n_msgs), 1);
    SL_ASSERT_EQ(items[0].job, 2);
    // The TASKS item carries [1, 0, 40, 1, 1, 2].
    sl__mpr r;
    uint32_t type, nfields, groups, n;
    char why[SL_ERRSTR_LEN];
    sl__task_group g;
    sl__task_item item;
    sl__mpr_init(&r, fx.sent[0].data, fx.sent[0].len);
    SL_PASS(sl__msg_open(&r, &type, &nfields, why));
    SL_PASS(sl__msg_tasks_decode(&r, &sl__limits_default, &groups, why));
    SL_PASS(sl__msg_task_group_decode(&r, &sl__limits_default, &g, why));
    SL_PASS(sl__msg_task_item_decode(&r, &sl__limits_default, &item, why));
    SL_ASSERT(item.inputs != NULL);
    sl__mpr in;
    sl__mpr_init(&in, item.inputs, item.inputs_len);
    SL_ASSERT_EQ(sl__mpr_array(&in, &n), 0);
    SL_ASSERT_EQ(n, 6);
    int64_t want[6] = {1, 0, 40, 1, 1, 2};
    for (int i = 0; i < 6; i++) {
        int64_t x;
        SL_ASSERT_EQ(sl__mpr_i64(&in, &x), 0);
        SL_ASSERT_EQ(x, want[i]);
    }
    s_teardown();
}

// Decode the outcome of task index of job from the DONEs sent so far.
static bool
s_done_outcome(uint64_t job, uint32_t index, sl__outcome *out)
{
    char why[SL_ERRSTR_LEN];
    for (size_t i = 0; i < fx.n_sent; i++) {
        if (fx.sent[i].type != SL_MSG_DONE) {
            continue;
        }
        sl__mpr r;
        uint32_t type, nfields, n;
        uint64_t id;
        sl__mpr_init(&r, fx.sent[i].data, fx.sent[i].len);
        SL_PASS(sl__msg_open(&r, &type, &nfields, why));
        SL_PASS(sl__msg_done_decode(&r, &sl__limits_default, &id, &n, why));
        for (uint32_t k = 0; k < n; k++) {
            SL_PASS(sl__msg_outcome_decode(&r, &sl__limits_default, false, out,
                                           why));
            if (id == job && out->index == index) {
                return true;
            }
        }
    }
    return false;
}

// A failed input fails its dependents, and theirs, without running them,
// naming the input and its error; a dependent submitted after the failure
// fails at once. A chain of 10,000 fails in a loop, not a recursion.
static void
test_graph_failed_input(void)
{
    enum { CHAIN = 10000 };
    s_setup();
    sl__peer *w = s_worker("w1", 1, 0);
    uint32_t one = 1, none = 0;
    s_submit_graph(fx.client, 1, 1, NULL, &none);
    s_dep d1 = {1, 0};
    s_submit_graph(fx.client, 2, 1, &d1, &one);
    // Job 3: task i takes task i - 1; task 0 takes job 2's.
    s_dep *chain = calloc(CHAIN, sizeof(*chain));
    uint32_t *counts = calloc(CHAIN, sizeof(*counts));
    chain[0] = (s_dep){2, 0};
    for (uint32_t i = 0; i < CHAIN; i++) {
        counts[i] = 1;
        if (i > 0) {
            chain[i] = (s_dep){3, i - 1};
        }
    }
    s_submit_graph(fx.client, 3, CHAIN, chain, counts);
    SL_ASSERT_EQ(fx.sched->graph.waiting, CHAIN + 1);
    sl__dispatch(fx.sched);
    sl__outcome o = {0};
    o.job = 1;
    o.attempt = 1;
    o.status = SL_WIRE_ERROR;
    o.error.p = "division by zero";
    o.error.len = (uint32_t) strlen(o.error.p);
    sl__mpw_reset(&fx.w);
    sl__msg_result_begin(&fx.w, 1);
    sl__msg_outcome(&fx.w, &o, true);
    sl__mpr r;
    s_open(&r, SL_MSG_RESULT);
    sl__on_result(fx.sched, w, &r);
    SL_ASSERT_EQ(fx.sched->graph.waiting, 0);
    SL_ASSERT_EQ(fx.sched->queued, 0);
    SL_ASSERT_EQ(fx.sched->graph.live_edges, 0);
    s_sent_clear();
    sl__jobs_flush(fx.sched);
    sl__outcome got;
    char text[SL_ERRSTR_LEN];
    SL_ASSERT(s_done_outcome(2, 0, &got));
    SL_ASSERT_EQ(got.status, SL_WIRE_FAILED);
    SL_ASSERT_EQ(got.attempt, 0);
    sl__fmt(text, sizeof(text), "%.*s", (int) got.error.len, got.error.p);
    SL_ASSERT_STR(text, "input job 0000000000000001 task 0 failed: division "
                        "by zero");
    SL_ASSERT(s_done_outcome(3, CHAIN - 1, &got));
    SL_ASSERT_EQ(got.status, SL_WIRE_FAILED);
    sl__fmt(text, sizeof(text), "%.*s", (int) got.error.len, got.error.p);
    SL_ASSERT_HAS(text, "input job 0000000000000003 task 9998 failed: ");
    // Never dispatched: w got job 1 only.
    s_item items[4];
    size_t n_msgs;
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 4, &n_msgs), 0);
    // Submitted after the failure: fails at once.
    s_submit_graph(fx.client, 4, 1, &d1, &one);
    sl__job *late = sl__table_get(&fx.sched->jobs, 4);
    SL_ASSERT_EQ(late->tasks[0].state, SL_SCHED_DONE);
    SL_ASSERT_EQ(late->done, 1);
    free(chain);
    free(counts);
    s_teardown();
}

// Futures that name what the client may not: another client's job, a job
// that does not exist, a task past a job's end, a task of its own job that
// does not come before it. Each refuses the chunk, and nothing is kept.
static void
test_graph_refused(void)
{
    s_setup();
    sl__peer *other = s_client("client-2", "elsewhere");
    uint32_t none = 0, one = 1;
    s_submit_graph(other, 9, 1, NULL, &none);
    s_submit_graph(fx.client, 1, 2, NULL, (uint32_t[]){0, 0});
    struct {
        s_dep dep;
        const char *says;
    } bad[] = {
        {{9, 0}, "which is not a job of this client"},
        {{77, 0}, "which is not a job of this client"},
        {{1, 2}, "which has 2 tasks"},
        {{5, 0}, "which was not submitted before it"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s_sent_clear();
        s_submit_graph(fx.client, 5, 1, &bad[i].dep, &one);
        SL_ASSERT(sl__table_get(&fx.sched->jobs, 5) == NULL);
        SL_ASSERT_HAS(s_last_error(fx.client->key), bad[i].says);
    }
    SL_ASSERT_EQ(fx.sched->graph.live_edges, 0);
    SL_ASSERT_EQ(fx.sched->graph.live_waiters, 0);
    s_teardown();
}

// The client releases job id.
static void
s_release(uint64_t id)
{
    sl__mpr r;
    sl__mpw_reset(&fx.w);
    sl__msg_release(&fx.w, &id, 1);
    s_open(&r, SL_MSG_RELEASE);
    sl__on_release(fx.sched, fx.client, &r);
}

// RELEASE frees an ended kept job, but not one that an unended task still
// names: that one runs on (it is not cancelled), and goes once its last
// dependent has ended. A kept job that is not released stays after its
// end.
static void
test_graph_release(void)
{
    s_setup();
    sl__peer *w = s_worker("w1", 4, 0);
    uint32_t none = 0, one = 1;
    s_submit_graph(fx.client, 1, 1, NULL, &none);
    s_dep dep = {1, 0};
    s_submit_graph(fx.client, 2, 1, &dep, &one);
    s_release(1);
    sl__job *p = sl__table_get(&fx.sched->jobs, 1);
    SL_ASSERT(p != NULL && !p->cancelled);
    sl__dispatch(fx.sched);
    s_result_value(w, 1, 0, 1, 5);
    sl__jobs_flush(fx.sched);
    SL_ASSERT(sl__table_get(&fx.sched->jobs, 1) != NULL); // job 2 needs it
    sl__dispatch(fx.sched);
    s_result_value(w, 2, 0, 1, 6);
    sl__jobs_flush(fx.sched);
    SL_ASSERT(sl__table_get(&fx.sched->jobs, 1) == NULL);
    // Job 2 ended but is kept: no RELEASE yet.
    SL_ASSERT(sl__table_get(&fx.sched->jobs, 2) != NULL);
    s_release(2);
    sl__jobs_flush(fx.sched);
    SL_ASSERT(sl__table_get(&fx.sched->jobs, 2) == NULL);
    SL_ASSERT_EQ(fx.sched->jobs.n, 0);
    s_teardown();
}

// After a restart, a client submits its jobs again with the tasks whose
// results it holds marked ended: the scheduler has no result for them. A
// future naming one (of another job, or of its own) fails its task, naming
// the input and why, instead of going out with nil in the result's place.
static void
test_graph_input_ended_before_restart(void)
{
    s_setup();
    sl__peer *w = s_worker("w1", 4, 0);
    static const uint8_t ended[1] = {0x01}; // task 0 of 3
    s_dep own = {1, 0};
    uint32_t in_job[3] = {0, 0, 1};
    s_resubmit_graph(fx.client, 1, 3, &own, in_job, ended);
    s_dep other = {1, 0};
    uint32_t one = 1;
    s_submit_graph(fx.client, 2, 1, &other, &one);
    s_sent_clear();
    sl__dispatch(fx.sched);
    sl__jobs_flush(fx.sched);
    s_item items[8];
    size_t n_msgs;
    // Task 1 of job 1 runs: it names no future.
    SL_ASSERT_EQ(s_tasks_sent(w->key, items, 8, &n_msgs), 1);
    SL_ASSERT(items[0].job == 1 && items[0].index == 1);
    sl__outcome got;
    char text[SL_ERRSTR_LEN];
    for (int k = 0; k < 2; k++) {
        SL_ASSERT(s_done_outcome(k == 0 ? 1 : 2, k == 0 ? 2 : 0, &got));
        SL_ASSERT_EQ(got.status, SL_WIRE_FAILED);
        sl__fmt(text, sizeof(text), "%.*s", (int) got.error.len, got.error.p);
        SL_ASSERT_HAS(text, "input job 0000000000000001 task 0 failed: ");
        SL_ASSERT_HAS(text, "restarted");
    }
    s_teardown();
}

int
main(void)
{
    SL_RUN(test_credit_limit);
    SL_RUN(test_prefetch_fill_by_run_time);
    SL_RUN(test_pick_priority_then_fifo);
    SL_RUN(test_pick_requeued_first);
    SL_RUN(test_pick_even_share);
    SL_RUN(test_speculation_waits_for_most_done);
    SL_RUN(test_speculation_factor_and_floor);
    SL_RUN(test_speculation_once);
    SL_RUN(test_speculation_off);
    SL_RUN(test_lost_worker_requeues_then_fails);
    SL_RUN(test_tasks_carry_home);
    SL_RUN(test_graph_waits_for_inputs);
    SL_RUN(test_graph_failed_input);
    SL_RUN(test_graph_refused);
    SL_RUN(test_graph_release);
    SL_RUN(test_graph_input_ended_before_restart);
    return 0;
}
