// sched.c - the scheduler: queues, credits, dispatch, heartbeats, retries,
// job accounting. One thread, one loop, no locks.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Each turn: wait on both ROUTER sockets (or the next timer), drain at
//   most S_MAX_MSGS_PER_TURN messages from each, run timers (heartbeats,
//   lost workers), dispatch queued tasks to workers with credit, and flush
//   one DONE per job that has new outcomes. Handlers never block and never
//   send per task: everything goes out batched at the end of the turn.
// - A task is (job, index). Its state lives in the job's task array: the
//   offset of its argument inside the SUBMIT frame that carried it (kept
//   alive as a chunk, never copied), its attempts, and QUEUED / RUNNING /
//   DONE. The queue holds runs of task indices (queue.h).
// - Credit: a worker may hold slots + prefetch tasks; each lease (a task
//   sent to it) uses one, each outcome returns one. A worker with credit is
//   on the hungry list. No worker is sent more than its credit, and of its
//   prefetch only what S_AHEAD_MS of work fills, by the run time its
//   workers report for the job being dispatched (one task per slot while
//   the job has none): short tasks travel by the hundred, and long ones do
//   not pile up behind a busy worker while another idles.
// - A task ends exactly once here: the first outcome wins, later ones (a
//   retry's twin, a worker presumed lost) are dropped. A task whose worker
//   is lost goes back to the front of the queue until max_attempts runs
//   have started; then it ends FAILED with the cause.
// - The scheduler reads only message envelopes: arguments and result
//   values pass through as raw msgpack bytes.
// - What a peer can make us hold is bounded: a job's task array grows with
//   the chunks that arrive (not with the total a SUBMIT claims), a client
//   has at most max_client_jobs jobs, a job's outcome buffer is freed
//   whenever it has nothing outstanding, a client silent for
//   S_CLIENT_IDLE_MS whose jobs cannot move (no task queued or running) is
//   treated as gone, and a peer that does not read loses messages past the
//   socket's high-water mark rather than filling our memory, with one
//   exception: what is for a client (ACCEPTED, DONE, ERROR) waits in the
//   scheduler while the client does not read (S_HELD_MAX bytes at most),
//   since a DONE dropped is a result lost. A peer that
//   sends junk gets at most S_ERROR_BURST ERRORs at once and
//   S_ERRORS_PER_S after that. Warnings about peers share one budget
//   (S_LOG_BURST, S_LOGS_PER_S): past it they are counted, and the count
//   logged every S_QUIET_MS, so that no peer can fill the disk.
// - Who may connect at all is auth.c's business: CURVE keys and the
//   endpoints served in the clear.
#include "sched.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <starling/client.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "queue.h"
#include "table.h"

// At most this many messages from one socket per turn, so one busy peer
// (or a flood) cannot starve the other socket and the timers.
#define S_MAX_MSGS_PER_TURN 256
// Worker silence, in heartbeats, after which it is considered lost.
#define S_HEARTBEAT_LIVENESS 3
// Seconds of history behind tasks/s and GFLOPS in STATUS replies.
#define SL_RATE_WINDOW 5
// Speculation: once this share of a job is done, a task that has run
// S_SPEC_FACTOR times the job's median (and at least S_SPEC_MIN_MS) gets
// a backup copy. Run times are measured here, dispatch to outcome, from a
// sample of at most S_SPEC_SAMPLES finished tasks.
#define S_SPEC_DONE_SHARE 0.75
#define S_SPEC_FACTOR 4.0
#define S_SPEC_MIN_MS 1000
#define S_SPEC_SAMPLES 256
// ERROR answers to malformed or unexpected messages: a burst of this many
// per peer, then this many a second. One line in the log for the rest.
#define S_ERROR_BURST 100
#define S_ERRORS_PER_S 10
// Warnings about what peers do: a burst of this many, then this many a
// second, over all peers; one line every S_QUIET_MS counts the rest. And
// at most one "not delivered" line per peer in S_QUIET_MS.
#define S_LOG_BURST 100
#define S_LOGS_PER_S 20
#define S_QUIET_MS 10000
// Messages queued in libzmq for one peer before a send would block: more
// than a reading client or worker ever has waiting. Past it, messages for
// a client wait in s_peer.held (at most S_HELD_MAX bytes); those for a
// worker are dropped (a worker that does not read goes silent and is
// lost, and its tasks are re-queued).
#define S_SEND_HWM 100000
#define S_HELD_MAX (1024u << 20)
// Outcomes of a job wait up to this long to travel in one DONE, unless
// the job has ended or the DONE is full: a 1,000,000-task map then costs
// its client a thousand messages a second, not a message per task, and a
// job's first outcome after a pause goes out at once.
#define S_DONE_GAP_MS 1
// malloc_trim when idle, at most this often (s_trim).
#define S_TRIM_GAP_MS 1000
// Work a worker is given to hold beyond its slots, per slot, by its
// job's average run time (and at most its prefetch).
#define S_AHEAD_MS 20.0
// SUBMIT frames smaller than this are copied when kept (s_job_add_chunk).
#define S_CHUNK_COPY_MAX (64u << 10)
// Fields of a SUBMIT that this version reads (PROTOCOL.md).
#define S_SUBMIT_FIELDS 6
// A client silent this long whose jobs cannot move is treated as gone (a
// message from it brings it back, without those jobs).
#define S_CLIENT_IDLE_MS 600000

enum { S_QUEUED = 0, S_RUNNING = 1, S_DONE = 2 };
// Task flags: a backup copy is wanted (queued), or one was started.
enum { T_WANT_BACKUP = 1, T_BACKED = 2 };

typedef struct {
    uint32_t chunk;   // which SUBMIT frame holds the argument
    uint32_t arg_off; // offset of the argument in that frame
    uint32_t arg_len; // its length in bytes
    uint8_t attempts; // runs started so far
    uint8_t state;    // S_QUEUED, S_RUNNING or S_DONE
    uint8_t lost;     // runs that died with their executor or worker
    uint8_t flags;    // T_WANT_BACKUP, T_BACKED
} s_task;

typedef struct {
    uint64_t job;     // the leased task's job
    uint32_t index;   // and index
    uint32_t attempt; // the attempt the worker was sent
    int64_t sent_ms;  // when
} s_lease;

// A message for a client that was not reading when it was sent.
typedef struct s_held s_held;
struct s_held {
    s_held *next;   // the next newer one
    size_t len;     // bytes of data
    uint8_t data[]; // the message
};

typedef struct s_peer s_peer;
struct s_peer {
    uint64_t key;         // hash of the routing id; key in the peer table
    uint8_t id[256];      // ZeroMQ routing id
    size_t id_len;        // its length
    bool is_worker;       // which socket it talks on
    char name[64];        // node or program name it gave
    uint32_t pid;         // its process id
    int64_t last_recv_ms; // when we last heard from it
    int64_t last_send_ms; // when we last sent it anything
    uint64_t session;     // id given in WELCOME
    bool hello;           // clients: has said HELLO to this scheduler
    int fd;               // clients: the connection its last message came on
    int64_t gone_ms;      // clients: when that connection closed; 0: open
    // What we spend on a misbehaving peer (see S_ERROR_BURST).
    double err_budget;     // ERRORs it may get now
    int64_t err_budget_ms; // when err_budget was last topped up
    uint64_t send_dropped; // messages lost to its high-water mark
    int64_t send_quiet_ms; // no "not delivered" line before this
    // Clients only.
    uint32_t n_jobs;   // its jobs that the scheduler still holds
    s_held *held;      // messages waiting for it to read, oldest first
    s_held *held_tail; // the newest
    size_t held_bytes; // their size
    // Workers only.
    bool ready;          // has sent READY
    uint32_t slots;      // executor slots
    uint32_t credit_max; // slots + prefetch
    s_lease *leases;     // tasks it holds, credit_max entries
    uint32_t n_leases;   // in use
    bool hungry;         // on the hungry list
    bool unreachable;    // a send found its connection gone
    s_peer *hungry_next; // hungry list links
    s_peer *hungry_prev;
};

typedef struct s_job s_job;
struct s_job {
    uint64_t id;         // client-chosen, unique
    uint64_t client_key; // the submitting client's peer key; 0 if gone
    char function[256];  // "module.kernel", NUL-terminated
    size_t function_len; // its length
    sl__job_opts opts;   // time limit, attempts, priority
    uint64_t total;      // tasks in the job
    uint64_t received;   // tasks submitted so far (chunks arrive in order)
    uint64_t done;       // tasks ended
    uint64_t running;    // tasks leased to workers
    s_task *tasks;       // cap_tasks entries; the first received are used
    uint64_t cap_tasks;  // grows with the chunks, up to total
    zmq_msg_t **chunks;  // SUBMIT frames the arguments live in
    uint32_t n_chunks;   // in use
    uint32_t cap_chunks; // allocated
    bool cancelled;      // no further dispatch
    float *run_ms;       // a sample of finished tasks' run times
    uint32_t n_run_ms;   // entries in it (at most S_SPEC_SAMPLES)
    uint64_t n_timed;    // tasks timed, sampled or not
    double median_ms;    // of run_ms, computed once a scan; <0: stale
    uint32_t backups;    // backup copies started
    double exec_ms;      // average run time that workers report; <0: none
    sl__mpw done_buf;    // outcomes not yet sent to the client
    uint32_t n_pending;  // outcomes in done_buf
    int64_t done_ms;     // when the last DONE went out
    bool dirty;          // on the dirty list
    s_job *dirty_next;   // dirty list link
};

typedef struct {
    int64_t second; // which second this bucket counts
    uint64_t done;  // tasks ended in it
    double flops;   // FLOPs reported in it
} s_bucket;

struct sl__sched {
    sl__sched_opts opts; // as given (strings borrowed from main)
    sl__auth *auth;      // CURVE, endpoint rules, refusal log
    zsock_t *clients;    // ROUTER for clients
    zsock_t *workers;    // ROUTER for workers
    void *clients_raw;   // their libzmq handles
    void *workers_raw;
    sl__queue queue;     // runs of queued tasks
    sl__table jobs;      // job id -> s_job
    sl__table peers;     // routing id hash -> s_peer
    s_peer *hungry_head; // workers with credit, round robin
    s_peer *hungry_tail;
    s_job *dirty_head;                 // jobs with outcomes to flush
    int64_t flush_due_ms;              // a DONE held back is due; 0: none
    int64_t now_ms;                    // the clock, read once a loop turn
    int64_t trimmed_ms;                // the last malloc_trim
    bool trim_wanted;                  // one was put off (s_trim)
    uint64_t rng;                      // xorshift64* state, for sampling
    uint32_t n_holding;                // clients with held messages
    uint64_t queued;                   // tasks in state QUEUED over all jobs
    uint64_t backups_wanted;           // tasks waiting for a backup copy
    uint64_t speculated;               // backup copies started
    uint64_t running;                  // tasks leased
    uint64_t done_total;               // tasks ended since start
    uint32_t n_workers;                // ready workers
    uint32_t n_slots;                  // their slots
    int64_t next_scan_ms;              // next heartbeat scan
    double started;                    // monotonic start time
    s_bucket rate[SL_RATE_WINDOW + 2]; // per-second completions and FLOPs
    sl__mpw w;                         // reused message writer
    uint32_t *pick;                    // scratch for dispatch: task indices
    s_job **pick_job;                  // and their jobs
    size_t pick_cap;                   // entries in both
    bool stopping;                     // sl__sched_stop was called
    double log_budget;                 // peer warnings we may log now
    int64_t log_budget_ms;             // when log_budget was topped up
    uint64_t log_left_out;             // warnings not logged since the
                                       // last count of them
    int64_t log_quiet_ms;              // no count line before this
    int64_t next_reap_ms;              // next look for abandoned jobs
};

// ---------------------------------------------------------------------
// Sending.

static void s_hungry_remove(sl__sched *self, s_peer *w);
static const char *
s_role(const s_peer *peer)
{
    return peer->is_worker ? "worker" : "client";
}

// Whether a rate-limited line may be logged now: one per S_QUIET_MS on
// each clock (*quiet_ms: a peer's, for one kind of line).
static bool
s_quiet_over(int64_t *quiet_ms)
{
    int64_t now = sl__mono_ms();
    if (now < *quiet_ms) {
        return false;
    }
    *quiet_ms = now + S_QUIET_MS;
    return true;
}

// Take one unit of a token bucket: *budget refills at per_s a second up to
// burst. False when it is empty.
static bool
s_budget_take(double *budget, int64_t *topped_ms, double burst, double per_s)
{
    int64_t now = sl__mono_ms();
    *budget += (double) (now - *topped_ms) * per_s / 1000.0;
    if (*budget > burst) {
        *budget = burst;
    }
    *topped_ms = now;
    if (*budget < 1) {
        return false;
    }
    *budget -= 1;
    return true;
}

static void s_peer_warn(sl__sched *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Log a warning about what a peer did, within the budget all peers share;
// past it, the warning is only counted (see s_log_count).
static void
s_peer_warn(sl__sched *self, const char *fmt, ...)
{
    if (!s_budget_take(&self->log_budget, &self->log_budget_ms, S_LOG_BURST,
                       S_LOGS_PER_S)) {
        self->log_left_out++;
        return;
    }
    char line[SL_ERRSTR_LEN + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sl__log_warn("%s", line);
}

// Say how many warnings the budget left out, every S_QUIET_MS.
static void
s_log_count(sl__sched *self)
{
    if (self->log_left_out > 0 && s_quiet_over(&self->log_quiet_ms)) {
        sl__log_warn("%" PRIu64 " more warnings about what peers sent "
                     "were left out of the log (over %d a second)",
                     self->log_left_out, S_LOGS_PER_S);
        self->log_left_out = 0;
    }
}

// Queue one message for peer in libzmq: 1 when queued, 0 when it would
// block (the peer is not reading: its queue is at the high-water mark),
// -1 when it cannot be delivered (errno says why).
static int
s_try_send(sl__sched *self, s_peer *peer, const void *data, size_t len)
{
    void *sock = peer->is_worker ? self->workers_raw : self->clients_raw;
    // With ROUTER_MANDATORY the first frame says whether the peer can take
    // the message; the second then always goes.
    if (zmq_send(sock, peer->id, peer->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) <
            0 ||
        zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0) {
        return errno == EAGAIN ? 0 : -1;
    }
    peer->last_send_ms = self->now_ms;
    return 1;
}

// Count a message that peer will never get, and say so once in a while
// (a peer that does not read would otherwise fill the log).
static void
s_lost_message(sl__sched *self, s_peer *peer, const char *why)
{
    peer->send_dropped++;
    if (s_quiet_over(&peer->send_quiet_ms)) {
        s_peer_warn(self,
                    "send to %s %s failed: %s (%" PRIu64
                    " message%s lost so far)",
                    s_role(peer), peer->name, why, peer->send_dropped,
                    peer->send_dropped == 1 ? "" : "s");
    }
}

// Keep a message for a client that is not reading, behind those kept
// before it.
static void
s_hold(sl__sched *self, s_peer *peer, const void *data, size_t len)
{
    if (peer->held_bytes + len > S_HELD_MAX) {
        s_lost_message(self, peer, "it has not read its last 1 GiB");
        return;
    }
    s_held *h = sl__xmalloc(sizeof(*h) + len);
    h->next = NULL;
    h->len = len;
    memcpy(h->data, data, len);
    if (peer->held_tail != NULL) {
        peer->held_tail->next = h;
    } else {
        peer->held = h;
        self->n_holding++;
    }
    peer->held_tail = h;
    peer->held_bytes += len;
}

// Free what is held for peer (it is gone).
static void
s_held_free(sl__sched *self, s_peer *peer)
{
    if (peer->held != NULL) {
        self->n_holding--;
    }
    while (peer->held != NULL) {
        s_held *h = peer->held;
        peer->held = h->next;
        free(h);
    }
    peer->held_tail = NULL;
    peer->held_bytes = 0;
}

// Send what is held for peer, oldest first, as far as it reads.
static void
s_send_held(sl__sched *self, s_peer *peer)
{
    while (peer->held != NULL) {
        s_held *h = peer->held;
        int rc = s_try_send(self, peer, h->data, h->len);
        if (rc == 0) {
            return;
        }
        if (rc < 0) {
            s_lost_message(self, peer, zmq_strerror(errno));
        }
        peer->held = h->next;
        peer->held_bytes -= h->len;
        free(h);
    }
    peer->held_tail = NULL;
    self->n_holding--;
}

// Send the writer's bytes to a peer. A ROUTER drops messages for peers it
// does not know, and for one whose queue is at the high-water mark; with
// ROUTER_MANDATORY it tells us. What is for a client then waits in
// peer->held (and so does everything after it, to keep the order); what
// is for a worker is lost, and logged.
static void
s_send(sl__sched *self, s_peer *peer, sl__mpw *w)
{
    if (peer->held != NULL) {
        s_hold(self, peer, w->buf.data, w->buf.size);
        return;
    }
    int rc = s_try_send(self, peer, w->buf.data, w->buf.size);
    if (rc > 0) {
        return;
    }
    if (rc == 0 && !peer->is_worker) {
        s_hold(self, peer, w->buf.data, w->buf.size);
        return;
    }
    if (rc < 0 && errno == EHOSTUNREACH && peer->is_worker) {
        // Its connection is gone (the worker died, or redialled under a
        // new routing id): it is lost at the next scan, and gets no more
        // tasks meanwhile.
        if (!peer->unreachable) {
            sl__log_info("worker %s (pid %u) disconnected", peer->name,
                         peer->pid);
        }
        peer->unreachable = true;
        s_hungry_remove(self, peer);
        return;
    }
    s_lost_message(self, peer,
                   rc == 0 ? "it is not reading" : zmq_strerror(errno));
}

static void
s_send_error_msg(sl__sched *self, s_peer *peer, sl_err code, const char *text,
                 uint64_t job)
{
    sl__mpw_reset(&self->w);
    sl__msg_error(&self->w, code, text, job);
    s_send(self, peer, &self->w);
}

// Answer a message that was well formed but cannot be done (a limit, a
// chunk out of order, an unknown worker): always answered, since the peer
// may be waiting on it.
static void
s_send_error(sl__sched *self, s_peer *peer, sl_err code, const char *text,
             uint64_t job)
{
    s_peer_warn(self, "%s %s: %s", s_role(peer), peer->name, text);
    s_send_error_msg(self, peer, code, text, job);
}

// Answer a malformed or unexpected message, within the peer's budget: a
// peer that floods us with junk gets a few answers, not one per frame.
static void
s_reject(sl__sched *self, s_peer *peer, sl_err code, const char *text,
         uint64_t job)
{
    bool answer = s_budget_take(&peer->err_budget, &peer->err_budget_ms,
                                S_ERROR_BURST, S_ERRORS_PER_S);
    s_peer_warn(self, "%s %s: %s%s", s_role(peer), peer->name, text,
                answer ? "" : " (not answered: it sends too many)");
    if (answer) {
        s_send_error_msg(self, peer, code, text, job);
    }
}

// Answer a message type this socket does not take.
static void
s_send_unexpected(sl__sched *self, s_peer *peer, uint32_t type)
{
    char why[128];
    sl__fmt(why, sizeof(why), "unexpected message type %u (%s) from a %s", type,
            sl__msg_type_name(type), s_role(peer));
    s_reject(self, peer, SL_EPROTO, why, 0);
}

// ---------------------------------------------------------------------
// Jobs.

static s_job *
s_job_new(sl__sched *self, const sl__submit *m, s_peer *client)
{
    s_job *job = sl__xcalloc(1, sizeof(*job));
    job->id = m->job;
    job->client_key = client->key;
    memcpy(job->function, m->function.p, m->function.len);
    job->function_len = m->function.len;
    job->opts = m->opts;
    if (job->opts.max_attempts == 0) {
        job->opts.max_attempts = 3;
    }
    if (job->opts.max_attempts > 100) {
        job->opts.max_attempts = 100;
    }
    if (job->opts.priority >= SL_PRIORITIES) {
        job->opts.priority = SL_PRIORITIES - 1;
    }
    job->total = m->total;
    job->exec_ms = -1;
    sl__mpw_init(&job->done_buf);
    sl__table_put(&self->jobs, job->id, job);
    client->n_jobs++;
    return job;
}

// Make room for tasks [0, end) of job. The array grows as chunks arrive: a
// SUBMIT that claims a huge total but sends a few tasks costs a few tasks.
static void
s_job_reserve(s_job *job, uint64_t end)
{
    if (end <= job->cap_tasks) {
        return;
    }
    uint64_t cap = job->cap_tasks * 2 > end ? job->cap_tasks * 2 : end;
    cap = cap < job->total ? cap : job->total;
    job->tasks = sl__xrealloc(job->tasks, cap * sizeof(*job->tasks));
    memset(job->tasks + job->cap_tasks, 0,
           (cap - job->cap_tasks) * sizeof(*job->tasks));
    job->cap_tasks = cap;
}

static void
s_job_destroy(sl__sched *self, s_job **job_p)
{
    s_job *job = *job_p;
    if (job == NULL) {
        return;
    }
    sl__table_del(&self->jobs, job->id);
    s_peer *client =
        job->client_key ? sl__table_get(&self->peers, job->client_key) : NULL;
    if (client != NULL && client->n_jobs > 0) {
        client->n_jobs--;
    }
    for (uint32_t i = 0; i < job->n_chunks; i++) {
        zmq_msg_close(job->chunks[i]);
        free(job->chunks[i]);
    }
    free(job->chunks);
    free(job->tasks);
    free(job->run_ms);
    sl__mpw_fini(&job->done_buf);
    free(job);
    *job_p = NULL;
}

static void s_flush_job(sl__sched *self, s_job *job);

static void
s_mark_dirty(sl__sched *self, s_job *job)
{
    if (!job->dirty) {
        job->dirty = true;
        job->dirty_next = self->dirty_head;
        self->dirty_head = job;
    }
}

static void
s_rate_add(sl__sched *self, uint64_t done, double flops)
{
    int64_t sec = self->now_ms / 1000;
    s_bucket *b = &self->rate[sec % (SL_RATE_WINDOW + 2)];
    if (b->second != sec) {
        b->second = sec;
        b->done = 0;
        b->flops = 0;
    }
    b->done += done;
    b->flops += flops;
}

// A task that wanted a backup copy no longer does (it ended, or it goes
// back to the queue to run anyway).
static void
s_backup_forget(sl__sched *self, s_task *t)
{
    if (t->flags & T_WANT_BACKUP) {
        t->flags &= (uint8_t) ~T_WANT_BACKUP;
        self->backups_wanted--;
    }
}

// End task index of job with outcome o (whose job and index fields are
// ignored). Callers have checked that the task is not DONE yet.
static void
s_task_end(sl__sched *self, s_job *job, uint32_t index, const sl__outcome *o)
{
    s_task *t = &job->tasks[index];
    if (t->state == S_QUEUED) {
        self->queued--;
    }
    s_backup_forget(self, t);
    t->state = S_DONE;
    job->done++;
    self->done_total++;
    s_rate_add(self, 1, o->stats.flops);
    sl__outcome out = *o;
    out.index = index;
    out.attempt = t->attempts;
    sl__msg_outcome(&job->done_buf, &out, false);
    job->n_pending++;
    s_mark_dirty(self, job);
    if (job->n_pending >= self->opts.limits.max_tasks) {
        s_flush_job(self, job); // a DONE may not carry more than this
    }
}

// End a task without a worker's outcome: cancelled, or failed by us.
static void
s_task_end_with(sl__sched *self, s_job *job, uint32_t index, uint32_t status,
                const char *why)
{
    sl__outcome o = {0};
    o.status = status;
    o.error.p = why;
    o.error.len = (uint32_t) strlen(why);
    s_task_end(self, job, index, &o);
}

// Cancel every task of job that has not been dispatched. Running tasks run
// to the end; their outcomes still count. With unsubmitted, also end the
// tasks whose SUBMIT chunks have not arrived (their client is gone, so
// they never will).
static void
s_job_cancel(sl__sched *self, s_job *job, const char *why, bool unsubmitted)
{
    job->cancelled = true;
    for (uint64_t i = 0; i < job->received; i++) {
        if (job->tasks[i].state == S_QUEUED) {
            s_task_end_with(self, job, (uint32_t) i, SL_WIRE_CANCELLED, why);
        }
    }
    if (!unsubmitted) {
        return;
    }
    // Their client is gone, so the chunks that have not arrived never will:
    // the job shrinks to the tasks it has.
    job->total = job->received;
}

// ---------------------------------------------------------------------
// Peers.

static uint64_t
s_id_key(const uint8_t *id, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ id[i]) * 1099511628211ull;
    }
    return h == 0 ? 1 : h;
}

static s_peer *
s_peer_get(sl__sched *self, const zmq_msg_t *id, bool is_worker)
{
    const uint8_t *bytes = zmq_msg_data((zmq_msg_t *) id);
    size_t len = zmq_msg_size((zmq_msg_t *) id);
    if (len == 0 || len > 255) {
        return NULL;
    }
    uint64_t key = s_id_key(bytes, len);
    s_peer *peer = sl__table_get(&self->peers, key);
    if (peer != NULL) {
        // A routing id of the other socket, or a hash collision: refuse
        // rather than mix two peers up.
        if (peer->is_worker != is_worker || peer->id_len != len ||
            memcmp(peer->id, bytes, len) != 0) {
            return NULL;
        }
        return peer;
    }
    peer = sl__xcalloc(1, sizeof(*peer));
    peer->key = key;
    memcpy(peer->id, bytes, len);
    peer->id_len = len;
    peer->is_worker = is_worker;
    sl__strlcpy(peer->name, "?", sizeof(peer->name));
    peer->err_budget = S_ERROR_BURST;
    peer->err_budget_ms = sl__mono_ms();
    // Random, not a counter: clients name their objects by session, and
    // sessions must not repeat across scheduler restarts.
    peer->session = sl__rand64();
    sl__table_put(&self->peers, key, peer);
    return peer;
}

static void
s_hungry_add(sl__sched *self, s_peer *w)
{
    if (w->hungry || !w->ready || w->unreachable ||
        w->n_leases >= w->credit_max) {
        return;
    }
    w->hungry = true;
    w->hungry_next = NULL;
    w->hungry_prev = self->hungry_tail;
    if (self->hungry_tail != NULL) {
        self->hungry_tail->hungry_next = w;
    } else {
        self->hungry_head = w;
    }
    self->hungry_tail = w;
}

static void
s_hungry_remove(sl__sched *self, s_peer *w)
{
    if (!w->hungry) {
        return;
    }
    if (w->hungry_prev != NULL) {
        w->hungry_prev->hungry_next = w->hungry_next;
    } else {
        self->hungry_head = w->hungry_next;
    }
    if (w->hungry_next != NULL) {
        w->hungry_next->hungry_prev = w->hungry_prev;
    } else {
        self->hungry_tail = w->hungry_prev;
    }
    w->hungry = false;
    w->hungry_next = w->hungry_prev = NULL;
}

// Give a lost worker's tasks back to the queue, or fail those that have
// used up their attempts.
static void
s_release_lease(sl__sched *self, s_peer *w, const s_lease *l, bool penalty,
                const char *why)
{
    s_job *job = sl__table_get(&self->jobs, l->job);
    if (job == NULL || l->index >= job->received) {
        return;
    }
    s_task *t = &job->tasks[l->index];
    if (t->state != S_RUNNING || t->attempts != l->attempt) {
        return;
    }
    self->running--;
    job->running--;
    if (!penalty && t->attempts > 0) {
        t->attempts--;
    }
    if (penalty && t->lost < UINT8_MAX) {
        t->lost++;
    }
    if (job->cancelled || t->attempts >= job->opts.max_attempts) {
        char text[256];
        sl__fmt(text, sizeof(text),
                "%s: worker %s (pid %u) %s while running it, after %u "
                "attempt%s",
                job->cancelled ? "cancelled" : "failed", w->name, w->pid, why,
                t->attempts, t->attempts == 1 ? "" : "s");
        t->state = S_QUEUED; // so that s_task_end counts it out of queued
        self->queued++;
        s_task_end_with(self, job, l->index,
                        job->cancelled ? SL_WIRE_CANCELLED : SL_WIRE_FAILED,
                        text);
        return;
    }
    s_backup_forget(self, t);
    t->state = S_QUEUED;
    self->queued++;
    sl__queue_push_front(&self->queue, (int) job->opts.priority,
                         (sl__run){job->id, l->index, l->index + 1});
}

static void
s_peer_remove(sl__sched *self, s_peer **peer_p, bool penalty, const char *why)
{
    s_peer *peer = *peer_p;
    if (peer->is_worker) {
        if (peer->ready) {
            sl__log_info("worker %s (pid %u) %s: re-queueing %u task%s",
                         peer->name, peer->pid, why, peer->n_leases,
                         peer->n_leases == 1 ? "" : "s");
            self->n_workers--;
            self->n_slots -= peer->slots;
        }
        for (uint32_t i = 0; i < peer->n_leases; i++) {
            s_release_lease(self, peer, &peer->leases[i], penalty, why);
        }
        s_hungry_remove(self, peer);
        free(peer->leases);
    }
    s_held_free(self, peer);
    sl__table_del(&self->peers, peer->key);
    free(peer);
    *peer_p = NULL;
}

// ---------------------------------------------------------------------
// Client messages.

// Set the name a peer gave (HELLO, READY): at most 60 bytes, and only
// printable ones, so that a name cannot forge lines in our log.
static void
s_peer_name_set(s_peer *peer, const sl__strv *name)
{
    size_t n = name->len < 60 ? name->len : 60;
    for (size_t i = 0; i < n; i++) {
        char ch = name->p[i];
        peer->name[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
    }
    peer->name[n] = '\0';
}

static void
s_send_welcome(sl__sched *self, s_peer *peer)
{
    sl__welcome m = {0};
    m.session = peer->session;
    m.heartbeat_ms = (uint32_t) self->opts.heartbeat_ms;
    m.inline_max = self->opts.inline_max;
    m.password.p = self->opts.store_password;
    m.password.len = (uint32_t) strlen(self->opts.store_password);
    m.n_stores = (uint32_t) self->opts.n_stores;
    for (int i = 0; i < self->opts.n_stores; i++) {
        m.stores[i].p = self->opts.stores[i];
        m.stores[i].len = (uint32_t) strlen(self->opts.stores[i]);
    }
    sl__mpw_reset(&self->w);
    sl__msg_welcome(&self->w, &m);
    s_send(self, peer, &self->w);
}

static void
s_on_hello(sl__sched *self, s_peer *peer, sl__mpr *r)
{
    sl__strv name;
    uint32_t pid;
    if (sl__mpr_str(r, &name.p, &name.len) != 0 || sl__mpr_u32(r, &pid) != 0) {
        s_reject(self, peer, SL_EPROTO, "malformed HELLO", 0);
        return;
    }
    s_peer_name_set(peer, &name);
    peer->pid = pid;
    peer->hello = true;
    s_send_welcome(self, peer);
}

static sl_err
s_submit_check(sl__sched *self, s_peer *client, const sl__submit *m, s_job *job,
               char *why)
{
    if (job == NULL) {
        if (m->first != 0) {
            sl__fmt(why, SL_ERRSTR_LEN,
                    "SUBMIT of unknown job %016" PRIx64 " at task %" PRIu64,
                    m->job, m->first);
            return SL_ENOTFOUND;
        }
        return SL_OK;
    }
    if (job->client_key != client->key) {
        sl__fmt(why, SL_ERRSTR_LEN,
                "job %016" PRIx64 " belongs to another "
                "client",
                m->job);
        return SL_EINVAL;
    }
    if (m->first != job->received || m->total != job->total ||
        m->function.len != job->function_len ||
        memcmp(m->function.p, job->function, job->function_len) != 0) {
        sl__fmt(why, SL_ERRSTR_LEN,
                "SUBMIT chunk of job %016" PRIx64 " out of order or "
                "inconsistent (first %" PRIu64 ", expected %" PRIu64 ")",
                m->job, m->first, job->received);
        return SL_EINVAL;
    }
    return SL_OK;
}

// Record where each argument lies in the frame, and which tasks the
// client already holds results for (a job submitted again after a
// restart): those are DONE at once, and never sent. Commits nothing that
// counts: on error the chunk's tasks are simply not received. Returns the
// number of tasks to run.
static sl_err
s_submit_args(sl__sched *self, s_job *job, sl__submit *m, const uint8_t *base,
              uint32_t *to_run, char *why)
{
    *to_run = 0;
    for (uint32_t i = 0; i < m->n_args; i++) {
        const uint8_t *start;
        size_t len;
        if (sl__mpr_skip(&m->args, self->opts.limits.max_depth, &start, &len) !=
            0) {
            sl__fmt(why, SL_ERRSTR_LEN,
                    "job %016" PRIx64 ": argument of task %" PRIu64
                    " is malformed or nested too deep",
                    m->job, m->first + i);
            return SL_EPROTO;
        }
        s_task *t = &job->tasks[m->first + i];
        t->chunk = job->n_chunks;
        t->arg_off = (uint32_t) (start - base);
        t->arg_len = (uint32_t) len;
        t->state = sl__submit_ended(m, i) ? S_DONE : S_QUEUED;
        t->attempts = 0;
        *to_run += t->state == S_QUEUED;
    }
    return SL_OK;
}

// The frame must end where the message does: we keep the whole frame, so
// bytes after it would be memory a peer makes us hold for nothing. Fields
// after the args (a later version's) are skipped, not refused.
static sl_err
s_submit_end(sl__sched *self, sl__submit *m, uint32_t nfields, char *why)
{
    for (uint32_t i = S_SUBMIT_FIELDS; i < nfields; i++) {
        if (sl__mpr_skip(&m->args, self->opts.limits.max_depth, NULL, NULL) !=
            0) {
            sl__fmt(why, SL_ERRSTR_LEN, "malformed message: SUBMIT field %u",
                    i);
            return SL_EPROTO;
        }
    }
    if (m->args.p != m->args.end) {
        sl__fmt(why, SL_ERRSTR_LEN,
                "malformed message: %zu stray bytes after the SUBMIT",
                (size_t) (m->args.end - m->args.p));
        return SL_EPROTO;
    }
    return SL_OK;
}

static void
s_job_add_chunk(s_job *job, zmq_msg_t *body)
{
    if (job->n_chunks == job->cap_chunks) {
        job->cap_chunks = job->cap_chunks ? job->cap_chunks * 2 : 4;
        job->chunks =
            sl__xrealloc(job->chunks, job->cap_chunks * sizeof(*job->chunks));
    }
    zmq_msg_t *keep = sl__xmalloc(sizeof(*keep));
    size_t size = zmq_msg_size(body);
    if (size < S_CHUNK_COPY_MAX) {
        // A small frame may be a view into one of libzmq's receive buffers
        // (8 KiB and up, shared with the frames that arrived with it):
        // kept as it is, it would keep the whole buffer alive.
        if (zmq_msg_init_size(keep, size) != 0) {
            sl__log_error("out of memory keeping a SUBMIT of %zu bytes", size);
            abort();
        }
        memcpy(zmq_msg_data(keep), zmq_msg_data(body), size);
    } else {
        zmq_msg_init(keep);
        zmq_msg_move(keep, body);
    }
    job->chunks[job->n_chunks++] = keep;
}

static void
s_on_submit(sl__sched *self, s_peer *client, sl__mpr *r, uint32_t nfields,
            zmq_msg_t *body)
{
    sl__submit m;
    char why[SL_ERRSTR_LEN];
    sl_err rv = sl__submit_decode(r, &self->opts.limits, &m, why);
    if (rv != SL_OK) {
        s_reject(self, client, rv, why, 0);
        return;
    }
    s_job *job = sl__table_get(&self->jobs, m.job);
    if ((rv = s_submit_check(self, client, &m, job, why)) != SL_OK) {
        s_send_error(self, client, rv, why, m.job);
        return;
    }
    bool created = job == NULL;
    if (created && client->n_jobs >= self->opts.max_client_jobs) {
        sl__fmt(why, sizeof(why),
                "job %016" PRIx64 " refused: this client already has %u "
                "jobs, the most one client may have at once",
                m.job, client->n_jobs);
        s_send_error(self, client, SL_ELIMIT, why, m.job);
        return;
    }
    if (created) {
        job = s_job_new(self, &m, client);
    }
    s_job_reserve(job, m.first + m.n_args);
    uint32_t to_run;
    rv = s_submit_args(self, job, &m, zmq_msg_data(body), &to_run, why);
    if (rv == SL_OK) {
        rv = s_submit_end(self, &m, nfields, why);
    }
    if (rv != SL_OK) {
        if (created) {
            s_job_destroy(self, &job);
        }
        s_reject(self, client, rv, why, m.job);
        return;
    }
    s_job_add_chunk(job, body);
    job->received += m.n_args;
    job->done += m.n_args - to_run;
    self->queued += to_run;
    if (job->done == job->total) {
        s_mark_dirty(self, job); // nothing left to run: the flush frees it
    }
    if (to_run > 0) {
        sl__queue_push(&self->queue, (int) job->opts.priority,
                       (sl__run){job->id, (uint32_t) m.first,
                                 (uint32_t) (m.first + m.n_args)});
    }
    if (!(m.opts.flags & SL_SUBMIT_NO_ACCEPTED)) {
        sl__mpw_reset(&self->w);
        sl__msg_accepted(&self->w, m.job, m.first, m.n_args);
        s_send(self, client, &self->w);
    }
    if (job->cancelled) {
        s_job_cancel(self, job, "cancelled by the client", false);
    }
}

static void
s_broadcast_cancel(sl__sched *self, uint64_t job_id)
{
    for (size_t i = 0; i < self->peers.cap; i++) {
        s_peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL && p->is_worker && p->ready) {
            sl__mpw_reset(&self->w);
            sl__msg_job(&self->w, SL_MSG_CANCEL, job_id);
            s_send(self, p, &self->w);
        }
    }
}

static void
s_on_cancel(sl__sched *self, s_peer *client, sl__mpr *r)
{
    uint64_t id;
    char why[SL_ERRSTR_LEN];
    if (sl__u64_decode(r, &id, why) != SL_OK) {
        s_reject(self, client, SL_EPROTO, why, 0);
        return;
    }
    s_job *job = sl__table_get(&self->jobs, id);
    if (job == NULL || job->client_key != client->key) {
        return; // already finished, or never ours: nothing to cancel
    }
    s_job_cancel(self, job, "cancelled by the client", false);
    if (job->running > 0) {
        s_broadcast_cancel(self, id);
    }
}

static double
s_rate(const sl__sched *self, bool flops)
{
    int64_t now = sl__mono_ms() / 1000;
    double sum = 0;
    for (int i = 0; i < SL_RATE_WINDOW + 2; i++) {
        const s_bucket *b = &self->rate[i];
        // Whole seconds only: the current one is still filling.
        if (b->second < now && b->second >= now - SL_RATE_WINDOW) {
            sum += flops ? b->flops : (double) b->done;
        }
    }
    double window = sl__mono() - self->started;
    if (window > SL_RATE_WINDOW) {
        window = SL_RATE_WINDOW;
    }
    return window >= 1 ? sum / (double) (int) window : 0;
}

static void
s_on_status(sl__sched *self, s_peer *client)
{
    sl__status s = {0};
    s.workers = self->n_workers;
    s.slots = self->n_slots;
    for (size_t i = 0; i < self->peers.cap; i++) {
        s_peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL && p->is_worker && p->ready) {
            s.busy += p->n_leases < p->slots ? p->n_leases : p->slots;
        }
    }
    s.jobs = (uint32_t) self->jobs.n;
    s.queued = self->queued;
    s.running = self->running;
    s.done = self->done_total;
    s.tasks_per_s = s_rate(self, false);
    s.gflops = s_rate(self, true) / 1e9;
    s.uptime_s = sl__mono() - self->started;
    sl__mpw_reset(&self->w);
    sl__msg_status_reply(&self->w, &s);
    s_send(self, client, &self->w);
}

// The client is gone: cancel its jobs (tasks running finish, unheard) and
// forget it.
static void
s_client_gone(sl__sched *self, s_peer **client_p, const char *why)
{
    s_peer *client = *client_p;
    size_t n = 0;
    for (size_t i = 0; i < self->jobs.cap; i++) {
        s_job *job = self->jobs.keys[i] ? self->jobs.vals[i] : NULL;
        if (job != NULL && job->client_key == client->key) {
            job->client_key = 0;
            char text[128];
            sl__fmt(text, sizeof(text), "client %s", why);
            s_job_cancel(self, job, text, true);
            s_mark_dirty(self, job); // the flush frees it once done
            n++;
        }
    }
    if (n > 0) {
        sl__log_info("client %s (pid %u) %s: %zu job%s cancelled", client->name,
                     client->pid, why, n, n == 1 ? "" : "s");
    }
    s_peer_remove(self, client_p, false, why);
}

static void
s_on_client_bye(sl__sched *self, s_peer **client_p)
{
    s_client_gone(self, client_p, "left");
}

static void
s_on_client_msg(sl__sched *self, s_peer *client, uint32_t type,
                uint32_t nfields, sl__mpr *r, zmq_msg_t *body)
{
    if (!client->hello && type != SL_MSG_HELLO) {
        if (type == SL_MSG_BYE) {
            s_peer_remove(self, &client, false, "left");
            return;
        }
        // A client of a scheduler that restarted, or one that skipped
        // HELLO: it introduces itself again and submits its jobs anew.
        s_send_error(self, client, SL_ENOTFOUND, "unknown client: send HELLO",
                     0);
        return;
    }
    switch (type) {
    case SL_MSG_HELLO:
        s_on_hello(self, client, r);
        break;
    case SL_MSG_SUBMIT:
        s_on_submit(self, client, r, nfields, body);
        break;
    case SL_MSG_CANCEL:
        s_on_cancel(self, client, r);
        break;
    case SL_MSG_STATUS:
        s_on_status(self, client);
        break;
    case SL_MSG_HEARTBEAT:
        break;
    case SL_MSG_BYE:
        s_on_client_bye(self, &client);
        break;
    default:
        s_send_unexpected(self, client, type);
        break;
    }
}

// ---------------------------------------------------------------------
// Worker messages.

static void
s_on_ready(sl__sched *self, s_peer *w, sl__mpr *r)
{
    sl__ready m;
    char why[SL_ERRSTR_LEN];
    if (sl__ready_decode(r, &m, why) != SL_OK) {
        s_reject(self, w, SL_EPROTO, why, 0);
        return;
    }
    if (w->ready) {
        // A second READY changes nothing we rely on; answer it anyway so a
        // worker that lost our WELCOME gets one.
        s_send_welcome(self, w);
        return;
    }
    s_peer_name_set(w, &m.node);
    w->pid = m.pid;
    w->slots = m.slots;
    w->credit_max = m.slots + m.prefetch;
    w->leases = sl__xcalloc(w->credit_max, sizeof(*w->leases));
    w->ready = true;
    self->n_workers++;
    self->n_slots += w->slots;
    sl__log_info("worker %s (pid %u) ready with %u slots", w->name, w->pid,
                 w->slots);
    s_send_welcome(self, w);
    s_hungry_add(self, w);
}

// Remove the lease of (job, index) from w. Returns how long ago it was
// sent, in ms, or -1 if w held none (a result from before a re-READY, or a
// duplicate).
static int64_t
s_lease_drop(s_peer *w, uint64_t job, uint32_t index, int64_t now)
{
    for (uint32_t i = 0; i < w->n_leases; i++) {
        if (w->leases[i].job == job && w->leases[i].index == index) {
            int64_t age = now - w->leases[i].sent_ms;
            w->leases[i] = w->leases[--w->n_leases];
            return age;
        }
    }
    return -1;
}

// A pseudo-random number (xorshift64*): sampling needs no more, and
// getrandom for each finished task showed in the profile.
static uint64_t
s_rand(sl__sched *self)
{
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    return self->rng * 0x2545F4914F6CDD1DULL;
}

// Remember a finished task's run time in the job's sample (reservoir
// sampling: every task timed has the same chance to be in it).
static void
s_job_time(sl__sched *self, s_job *job, int64_t ms)
{
    if (job->run_ms == NULL) {
        job->run_ms = sl__xcalloc(S_SPEC_SAMPLES, sizeof(*job->run_ms));
    }
    job->n_timed++;
    if (job->n_run_ms < S_SPEC_SAMPLES) {
        job->run_ms[job->n_run_ms++] = (float) ms;
    } else {
        uint64_t slot = s_rand(self) % job->n_timed;
        if (slot < S_SPEC_SAMPLES) {
            job->run_ms[slot] = (float) ms;
        }
    }
    job->median_ms = -1;
}

// Tell every worker still running a copy of (job, index) to stop it: the
// task has ended. (The finished copy's lease is gone already; another copy
// may run on the same worker.)
static void
s_cancel_copies(sl__sched *self, uint64_t job, uint32_t index)
{
    for (size_t i = 0; i < self->peers.cap; i++) {
        s_peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p == NULL || !p->is_worker) {
            continue;
        }
        for (uint32_t k = 0; k < p->n_leases; k++) {
            if (p->leases[k].job == job && p->leases[k].index == index) {
                sl__mpw_reset(&self->w);
                sl__msg_cancel_task(&self->w, job, index);
                s_send(self, p, &self->w);
            }
        }
    }
}

// A run that died with its executor (LOST): the task goes back to the
// front of the queue, or, out of attempts, fails naming what killed it.
static void
s_on_lost(sl__sched *self, s_peer *w, s_job *job, const sl__outcome *o)
{
    s_task *t = &job->tasks[o->index];
    if (t->state != S_RUNNING || t->attempts != o->attempt) {
        return; // an older run: a later one is under way
    }
    self->running--;
    job->running--;
    if (t->lost < UINT8_MAX) {
        t->lost++;
    }
    s_backup_forget(self, t);
    t->state = S_QUEUED;
    self->queued++;
    if (!job->cancelled && t->attempts < job->opts.max_attempts) {
        sl__queue_push_front(&self->queue, (int) job->opts.priority,
                             (sl__run){job->id, o->index, o->index + 1});
        return;
    }
    char text[SL_ERRSTR_LEN];
    sl__fmt(text, sizeof(text),
            "%s: killed %u executor%s in %u attempt%s; the last on worker "
            "%s: %.*s",
            job->cancelled ? "cancelled" : "failed", t->lost,
            t->lost == 1 ? "" : "s", t->attempts, t->attempts == 1 ? "" : "s",
            w->name, (int) o->error.len, o->error.p);
    s_task_end_with(self, job, o->index,
                    job->cancelled ? SL_WIRE_CANCELLED : SL_WIRE_FAILED, text);
}

static void
s_on_outcome(sl__sched *self, s_peer *w, const sl__outcome *o, s_job **cache)
{
    int64_t age = s_lease_drop(w, o->job, o->index, self->now_ms);
    s_job *job = *cache;
    if (job == NULL || job->id != o->job) {
        job = *cache = sl__table_get(&self->jobs, o->job);
    }
    if (job == NULL || o->index >= job->received) {
        return; // the job ended or was never here: nothing to record
    }
    s_task *t = &job->tasks[o->index];
    if (t->state == S_DONE) {
        return; // first outcome won already
    }
    if (o->status == SL_WIRE_LOST) {
        s_on_lost(self, w, job, o);
        return;
    }
    if (o->status == SL_WIRE_ERROR && (job->opts.flags & SL_JOB_RETRY_ERRORS) &&
        !job->cancelled && t->state == S_RUNNING && t->attempts == o->attempt &&
        t->attempts < job->opts.max_attempts) {
        // The job asked for kernel errors to be retried.
        self->running--;
        job->running--;
        s_backup_forget(self, t);
        t->state = S_QUEUED;
        self->queued++;
        sl__queue_push_front(&self->queue, (int) job->opts.priority,
                             (sl__run){job->id, o->index, o->index + 1});
        return;
    }
    if (o->status == SL_WIRE_OK && age >= 0) {
        s_job_time(self, job, age);
    }
    if (o->status == SL_WIRE_OK || o->status == SL_WIRE_ERROR) {
        double ms = (o->stats.end_s - o->stats.start_s) * 1000;
        ms = ms > 0 && ms < 1e9 ? ms : 0; // the worker's clock, not ours
        job->exec_ms =
            job->exec_ms < 0 ? ms : job->exec_ms + (ms - job->exec_ms) / 8;
    }
    // When another worker runs a later attempt (this one's worker was
    // presumed lost, or a backup copy was started), this outcome wins all
    // the same, and that one is stopped, or its outcome dropped.
    if (t->state == S_RUNNING) {
        self->running--;
        job->running--;
    }
    bool copies = t->flags & T_BACKED;
    s_task_end(self, job, o->index, o);
    if (copies) {
        s_cancel_copies(self, job->id, o->index);
    }
}

static void
s_on_result(sl__sched *self, s_peer *w, sl__mpr *r)
{
    uint32_t n;
    char why[SL_ERRSTR_LEN];
    if (sl__result_decode(r, &self->opts.limits, &n, why) != SL_OK) {
        s_reject(self, w, SL_EPROTO, why, 0);
        return;
    }
    s_job *cache = NULL;
    for (uint32_t i = 0; i < n; i++) {
        sl__outcome o;
        if (sl__outcome_decode(r, &self->opts.limits, true, &o, why) != SL_OK) {
            s_reject(self, w, SL_EPROTO, why, 0);
            return;
        }
        s_on_outcome(self, w, &o, &cache);
    }
    if (!w->ready) {
        s_send_error(self, w, SL_ENOTFOUND, "unknown worker: send READY", 0);
        return;
    }
    s_hungry_add(self, w);
}

static void
s_on_worker_msg(sl__sched *self, s_peer *w, uint32_t type, sl__mpr *r)
{
    switch (type) {
    case SL_MSG_READY:
        s_on_ready(self, w, r);
        break;
    case SL_MSG_RESULT:
        s_on_result(self, w, r);
        break;
    case SL_MSG_HEARTBEAT:
        if (!w->ready) {
            s_send_error(self, w, SL_ENOTFOUND, "unknown worker: send READY",
                         0);
        }
        break;
    case SL_MSG_BYE:
        s_peer_remove(self, &w, false, "left");
        break;
    default:
        s_send_unexpected(self, w, type);
        break;
    }
}

// ---------------------------------------------------------------------
// The loop's phases.

static void
s_on_message(sl__sched *self, bool from_worker, zmq_msg_t *id, zmq_msg_t *body)
{
    s_peer *peer = s_peer_get(self, id, from_worker);
    if (peer == NULL) {
        sl__log_warn("message with an unusable routing id dropped");
        return;
    }
    peer->last_recv_ms = sl__mono_ms();
    if (!from_worker) {
        peer->fd = zmq_msg_get(body, ZMQ_SRCFD);
        peer->gone_ms = 0;
    }
    sl__mpr r;
    uint32_t type, nfields;
    char why[SL_ERRSTR_LEN];
    sl__mpr_init(&r, zmq_msg_data(body), zmq_msg_size(body));
    if (sl__msg_open(&r, &type, &nfields, why) != SL_OK) {
        s_reject(self, peer, SL_EPROTO, why, 0);
        return;
    }
    if (from_worker) {
        s_on_worker_msg(self, peer, type, &r);
    } else {
        s_on_client_msg(self, peer, type, nfields, &r, body);
    }
}

// Receive one [routing id, body] message. Returns false when none is
// waiting. Extra frames are read and dropped (the body is then empty, which
// decodes as a malformed message and is answered with ERROR).
static bool
s_recv(void *sock, zmq_msg_t *id, zmq_msg_t *body)
{
    if (zmq_msg_recv(id, sock, ZMQ_DONTWAIT) < 0) {
        return false;
    }
    if (!zmq_msg_more(id)) {
        zmq_msg_close(body);
        zmq_msg_init(body);
        return true;
    }
    zmq_msg_recv(body, sock, 0);
    if (zmq_msg_more(body)) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        while (zmq_msg_more(body) || zmq_msg_more(&extra)) {
            zmq_msg_recv(&extra, sock, 0);
            if (!zmq_msg_more(&extra)) {
                break;
            }
        }
        zmq_msg_close(&extra);
        zmq_msg_close(body);
        zmq_msg_init(body);
    }
    return true;
}

static void
s_drain(sl__sched *self, bool workers)
{
    void *sock = workers ? self->workers_raw : self->clients_raw;
    for (int i = 0; i < S_MAX_MSGS_PER_TURN; i++) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        bool got = s_recv(sock, &id, &body);
        if (got) {
            s_on_message(self, workers, &id, &body);
        }
        zmq_msg_close(&id);
        zmq_msg_close(&body);
        if (!got) {
            break;
        }
    }
}

// A connection of a served socket closed (the auth's monitor): for a
// client, its grace period begins. A client that comes back (a reconnect
// keeps its routing id) ends it with its next message.
static void
s_on_closed(void *ctx, const char *role, int fd)
{
    sl__sched *self = ctx;
    if (strcmp(role, "client") != 0) {
        return;
    }
    for (size_t i = 0; i < self->peers.cap; i++) {
        s_peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL && !p->is_worker && p->fd == fd && p->gone_ms == 0) {
            p->gone_ms = sl__mono_ms();
            sl__log_debug("client %s (pid %u) disconnected", p->name, p->pid);
        }
    }
}

static int
s_cmp_float(const void *a, const void *b)
{
    float x = *(const float *) a, y = *(const float *) b;
    return (x > y) - (x < y);
}

// The median of the job's sampled run times (ms), or -1 with no sample.
static double
s_job_median(s_job *job)
{
    if (job->median_ms < 0 && job->n_run_ms > 0) {
        float sorted[S_SPEC_SAMPLES];
        memcpy(sorted, job->run_ms, job->n_run_ms * sizeof(float));
        qsort(sorted, job->n_run_ms, sizeof(float), s_cmp_float);
        job->median_ms = sorted[job->n_run_ms / 2];
    }
    return job->n_run_ms > 0 ? job->median_ms : -1;
}

// Stragglers: in a job that is mostly done, a task that has run far
// longer than the median gets a backup copy, from the front of the queue.
static void
s_speculate(sl__sched *self, s_peer *w, int64_t now)
{
    for (uint32_t i = 0; i < w->n_leases; i++) {
        const s_lease *l = &w->leases[i];
        s_job *job = sl__table_get(&self->jobs, l->job);
        if (job == NULL || job->cancelled ||
            (job->opts.flags & SL_JOB_NO_SPECULATION) ||
            (double) job->done < S_SPEC_DONE_SHARE * (double) job->total) {
            continue;
        }
        s_task *t = &job->tasks[l->index];
        int64_t ran = now - l->sent_ms;
        double median = s_job_median(job);
        if (t->state != S_RUNNING || (t->flags & (T_WANT_BACKUP | T_BACKED)) ||
            t->attempts != l->attempt || median < 0 || ran < S_SPEC_MIN_MS ||
            (double) ran < S_SPEC_FACTOR * median) {
            continue;
        }
        sl__log_info("job %016" PRIx64 " task %u has run %.1f s on worker %s, "
                     "%.0fx the median of %.3f s: starting a backup copy",
                     job->id, l->index, (double) ran / 1000, w->name,
                     (double) ran / (median > 1 ? median : 1), median / 1000);
        t->flags |= T_WANT_BACKUP;
        self->backups_wanted++;
        sl__queue_push_front(&self->queue, (int) job->opts.priority,
                             (sl__run){job->id, l->index, l->index + 1});
    }
}

// Jobs whose client has been silent for S_CLIENT_IDLE_MS and that have
// nothing left to run (they wait for chunks): a client sends a job's
// chunks back to back, so this one is gone, and its jobs go as on BYE.
static void
s_reap_abandoned(sl__sched *self, int64_t now)
{
    if (now < self->next_reap_ms) {
        return;
    }
    self->next_reap_ms = now + S_CLIENT_IDLE_MS / 10;
    for (size_t i = 0; i < self->jobs.cap; i++) {
        s_job *job = self->jobs.keys[i] ? self->jobs.vals[i] : NULL;
        if (job == NULL || job->client_key == 0 || job->done < job->received) {
            continue;
        }
        s_peer *client = sl__table_get(&self->peers, job->client_key);
        if (client != NULL && now - client->last_recv_ms <= S_CLIENT_IDLE_MS) {
            continue;
        }
        if (client != NULL && client->n_jobs > 0) {
            client->n_jobs--;
        }
        job->client_key = 0;
        s_job_cancel(self, job, "client went silent", true);
        s_mark_dirty(self, job); // the flush frees it
    }
}

static void s_trim(sl__sched *self, bool now);

static void
s_run_timers(sl__sched *self)
{
    int64_t now = sl__mono_ms();
    if (now < self->next_scan_ms) {
        return;
    }
    int64_t hb = self->opts.heartbeat_ms;
    self->next_scan_ms = now + hb / 2;
    if (self->trim_wanted && self->jobs.n == 0) {
        s_trim(self, true);
    }
    s_log_count(self);
    s_reap_abandoned(self, now);
    for (size_t i = 0; i < self->peers.cap; i++) {
        s_peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p == NULL) {
            continue;
        }
        if (!p->is_worker) {
            if (p->gone_ms != 0 &&
                now - p->gone_ms > self->opts.client_grace_ms) {
                s_client_gone(self, &p, "disconnected past the grace period");
                i--; // backward-shift deletion may have moved a peer here
            } else if (p->n_jobs == 0 &&
                       now - p->last_recv_ms > S_CLIENT_IDLE_MS) {
                sl__log_debug("client %s (pid %u) idle: forgotten", p->name,
                              p->pid);
                s_peer_remove(self, &p, false, "idle");
                i--; // backward-shift deletion may have moved a peer here
            }
            continue;
        }
        if (p->unreachable) {
            s_peer_remove(self, &p, true, "disconnected");
            i--;
            continue;
        }
        if (now - p->last_recv_ms > S_HEARTBEAT_LIVENESS * hb) {
            s_peer_remove(self, &p, true, "went silent");
            i--; // backward-shift deletion may have moved a peer here
            continue;
        }
        if (p->ready && now - p->last_send_ms >= hb) {
            sl__mpw_reset(&self->w);
            sl__msg_empty(&self->w, SL_MSG_HEARTBEAT);
            s_send(self, p, &self->w);
        }
        s_speculate(self, p, now);
    }
}

static void
s_pick_reserve(sl__sched *self, size_t n)
{
    if (n > self->pick_cap) {
        self->pick = sl__xrealloc(self->pick, n * sizeof(*self->pick));
        self->pick_job =
            sl__xrealloc(self->pick_job, n * sizeof(*self->pick_job));
        self->pick_cap = n;
    }
}

// Take up to want queued tasks off the queue into self->pick. Returns how
// many.
static uint32_t
s_pick(sl__sched *self, uint32_t want)
{
    uint32_t n = 0;
    s_pick_reserve(self, want);
    while (n < want) {
        int prio;
        sl__run *run = sl__queue_peek(&self->queue, &prio);
        if (run == NULL) {
            break;
        }
        s_job *job = sl__table_get(&self->jobs, run->job);
        if (job == NULL || job->cancelled) {
            sl__queue_pop(&self->queue, prio);
            continue;
        }
        while (n < want && run->first < run->end) {
            uint32_t index = run->first++;
            const s_task *t = &job->tasks[index];
            if (t->state == S_QUEUED ||
                (t->state == S_RUNNING && (t->flags & T_WANT_BACKUP))) {
                self->pick[n] = index;
                self->pick_job[n] = job;
                n++;
            }
        }
        if (run->first == run->end) {
            sl__queue_pop(&self->queue, prio);
        }
    }
    return n;
}

// Pack picked tasks [from, to) of one job as a TASKS group and lease them.
static void
s_pack_group(sl__sched *self, s_peer *w, uint32_t from, uint32_t to)
{
    s_job *job = self->pick_job[from];
    sl__msg_task_group(&self->w, job->id, job->function, job->function_len,
                       job->opts.time_limit_ms, to - from);
    for (uint32_t i = from; i < to; i++) {
        uint32_t index = self->pick[i];
        s_task *t = &job->tasks[index];
        if (t->state == S_RUNNING) { // a backup copy of a straggler
            s_backup_forget(self, t);
            t->flags |= T_BACKED;
            self->speculated++;
            job->backups++;
        } else {
            t->state = S_RUNNING;
            self->queued--;
            self->running++;
            job->running++;
        }
        t->attempts++;
        const uint8_t *chunk = zmq_msg_data(job->chunks[t->chunk]);
        sl__task_item item = {index, t->attempts, chunk + t->arg_off,
                              t->arg_len};
        sl__msg_task_item(&self->w, &item);
        w->leases[w->n_leases++] =
            (s_lease){job->id, index, t->attempts, self->now_ms};
    }
}

static void
s_send_tasks(sl__sched *self, s_peer *w, uint32_t n)
{
    uint32_t groups = 0;
    for (uint32_t i = 0; i < n; i++) {
        groups += i == 0 || self->pick_job[i] != self->pick_job[i - 1];
    }
    sl__mpw_reset(&self->w);
    sl__msg_tasks_begin(&self->w, groups);
    uint32_t from = 0;
    for (uint32_t i = 1; i <= n; i++) {
        if (i == n || self->pick_job[i] != self->pick_job[from]) {
            s_pack_group(self, w, from, i);
            from = i;
        }
    }
    s_send(self, w, &self->w);
}

// The job whose tasks the next dispatch takes first, or NULL.
static s_job *
s_next_job(sl__sched *self)
{
    int prio;
    sl__run *run = sl__queue_peek(&self->queue, &prio);
    return run != NULL ? sl__table_get(&self->jobs, run->job) : NULL;
}

// How many tasks worker w may hold now: its slots, and as much of its
// prefetch as S_AHEAD_MS of job's work per slot fills.
static uint32_t
s_credit_limit(const s_peer *w, const s_job *job)
{
    uint32_t prefetch = w->credit_max - w->slots;
    double per_slot = 1;
    if (job != NULL && job->exec_ms >= 0) {
        per_slot =
            job->exec_ms > S_AHEAD_MS / 4096 ? S_AHEAD_MS / job->exec_ms : 4096;
        per_slot = per_slot < 1 ? 1 : per_slot;
    }
    double ahead = per_slot * w->slots;
    return w->slots + (ahead < prefetch ? (uint32_t) ahead : prefetch);
}

// Give queued tasks to hungry workers, each at most its credit and about
// an even share of what is queued, so that a short job spreads out.
static void
s_dispatch(sl__sched *self)
{
    uint32_t n_hungry = 0;
    for (s_peer *w = self->hungry_head; w != NULL; w = w->hungry_next) {
        n_hungry++;
    }
    s_peer *w = self->hungry_head;
    // The share is fixed for the round: recomputed from what is left, it
    // would shrink for the later workers and leave tasks for the next turn,
    // to land on a worker whose slots are busy.
    uint64_t todo = self->queued + self->backups_wanted;
    uint64_t share = n_hungry > 0 ? (todo + n_hungry - 1) / n_hungry : 0;
    s_job *head = s_next_job(self);
    while (w != NULL && self->queued + self->backups_wanted > 0) {
        s_peer *next = w->hungry_next;
        uint32_t limit = s_credit_limit(w, head);
        uint32_t credit = limit > w->n_leases ? limit - w->n_leases : 0;
        // A worker with a deep prefetch waits until half of it is free, if
        // there is that much to send: its slots still have the other half
        // to work on, and the tasks travel in one message, not one each.
        uint32_t batch = (limit - w->slots) / 2;
        if (credit == 0 || (credit < batch && todo > credit)) {
            w = next;
            continue;
        }
        uint32_t want = share < credit ? (uint32_t) share : credit;
        uint32_t n = s_pick(self, want);
        if (n == 0) {
            break;
        }
        s_send_tasks(self, w, n);
        if (w->n_leases >= w->credit_max) {
            s_hungry_remove(self, w);
        } else {
            // Still hungry: to the back, so the next turn starts elsewhere.
            s_hungry_remove(self, w);
            s_hungry_add(self, w);
        }
        w = next;
    }
}

static void
s_flush_job(sl__sched *self, s_job *job)
{
    s_peer *client =
        job->client_key ? sl__table_get(&self->peers, job->client_key) : NULL;
    if (client != NULL && job->n_pending > 0) {
        sl__mpw_reset(&self->w);
        sl__msg_done_begin(&self->w, job->id, job->n_pending);
        sl__mpw_raw(&self->w, job->done_buf.buf.data, job->done_buf.buf.size);
        s_send(self, client, &self->w);
        job->done_ms = self->now_ms;
    }
    sl__mpw_reset(&job->done_buf);
    job->n_pending = 0;
    if (job->done == job->received) {
        // Nothing outstanding: a job waiting for chunks that may never
        // come holds no buffer meanwhile.
        sl__mpw_fini(&job->done_buf);
        sl__mpw_init(&job->done_buf);
    }
}

// Send what waits for clients that were not reading.
static void
s_flush_held(sl__sched *self)
{
    for (size_t i = 0; self->n_holding > 0 && i < self->peers.cap; i++) {
        s_peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL && p->held != NULL) {
            s_send_held(self, p);
        }
    }
}

// Idle: give the heap's free memory back, so that the scheduler's size
// follows its load; at most once in S_TRIM_GAP_MS (a client calling one
// task at a time makes the scheduler idle thousands of times a second,
// and a trim then cost its next call about 15 us), else at the next scan.
static void
s_trim(sl__sched *self, bool now)
{
    if (!now && self->now_ms - self->trimmed_ms < S_TRIM_GAP_MS) {
        self->trim_wanted = true;
        return;
    }
    malloc_trim(0);
    self->trimmed_ms = self->now_ms;
    self->trim_wanted = false;
}

// Send each dirty job's outcomes, unless its last DONE went out less than
// S_DONE_GAP_MS ago and more may join them; free the jobs that ended.
static void
s_flush(sl__sched *self)
{
    int64_t now = self->now_ms;
    s_job *job = self->dirty_head;
    self->dirty_head = NULL;
    self->flush_due_ms = 0;
    while (job != NULL) {
        s_job *next = job->dirty_next;
        job->dirty = false;
        bool complete = job->done == job->total;
        if (!complete && job->n_pending > 0 &&
            now - job->done_ms < S_DONE_GAP_MS) {
            int64_t due = job->done_ms + S_DONE_GAP_MS;
            if (self->flush_due_ms == 0 || due < self->flush_due_ms) {
                self->flush_due_ms = due;
            }
            s_mark_dirty(self, job);
            job = next;
            continue;
        }
        s_flush_job(self, job);
        if (complete && job->running == 0) {
            s_job_destroy(self, &job);
            if (self->jobs.n == 0) {
                s_trim(self, false);
            }
        }
        job = next;
    }
    s_flush_held(self);
}

// ---------------------------------------------------------------------
// Life cycle.

static sl_err
s_bind(sl__sched *self, zsock_t **sock_out, void **raw_out,
       const char *endpoint, const char *role, char *errbuf)
{
    sl_err rv;
    if ((rv = sl__auth_check_endpoint(self->auth, endpoint, errbuf)) != SL_OK) {
        return rv;
    }
    zsock_t *sock = zsock_new(ZMQ_ROUTER);
    if (sock == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot create a ROUTER socket");
        return SL_ENOMEM;
    }
    *sock_out = sock; // sl__sched_destroy closes it, bound or not
    zsock_set_router_mandatory(sock, 1);
    zsock_set_linger(sock, 0);
    // A high send limit: a DONE dropped at the high-water mark would be a
    // lost result, and a peer that reads (libstarling and the worker read
    // all the time, in libzmq's I/O thread) never gets near it. Past it,
    // s_send holds a client's messages (up to S_HELD_MAX) and drops a
    // worker's.
    zsock_set_sndhwm(sock, self->opts.send_hwm > 0 ? self->opts.send_hwm
                                                   : S_SEND_HWM);
    zsock_set_rcvhwm(sock, 100000);
    zsock_set_maxmsgsize(sock, (int) self->opts.limits.max_message);
    if ((rv = sl__auth_serve(self->auth, sock, role, errbuf)) != SL_OK) {
        return rv;
    }
    if (zsock_bind(sock, "%s", endpoint) < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot bind %s: %s", endpoint,
                zmq_strerror(zmq_errno()));
        return SL_EIO;
    }
    *raw_out = zsock_resolve(sock);
    return SL_OK;
}

static sl_err
s_write_endpoints(sl__sched *self, char *errbuf)
{
    char tmp[1024];
    sl__fmt(tmp, sizeof(tmp), "%s.tmp", self->opts.endpoints_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", tmp,
                strerror(errno));
        return SL_EIO;
    }
    fprintf(f, "clients=%s\nworkers=%s\n", zsock_endpoint(self->clients),
            zsock_endpoint(self->workers));
    if (fclose(f) != 0 || rename(tmp, self->opts.endpoints_file) != 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s",
                self->opts.endpoints_file, strerror(errno));
        return SL_EIO;
    }
    return SL_OK;
}

sl_err
sl__sched_new(sl__sched **out, const sl__sched_opts *opts,
              char errbuf[SL_ERRSTR_LEN])
{
    sl__sched *self = sl__xcalloc(1, sizeof(*self));
    sl_err rv;
    self->opts = *opts;
    if (self->opts.heartbeat_ms <= 0) {
        self->opts.heartbeat_ms = 1000;
    }
    if (self->opts.store_password == NULL) {
        self->opts.store_password = "";
    }
    if (self->opts.client_grace_ms <= 0) {
        self->opts.client_grace_ms = 30000;
    }
    if (self->opts.max_client_jobs == 0) {
        self->opts.max_client_jobs = SL_SCHED_MAX_CLIENT_JOBS;
    }
    sl__queue_init(&self->queue);
    sl__table_init(&self->jobs);
    sl__table_init(&self->peers);
    sl__mpw_init(&self->w);
    self->started = sl__mono();
    self->log_budget = S_LOG_BURST;
    self->log_budget_ms = sl__mono_ms();
    self->next_reap_ms = sl__mono_ms() + S_CLIENT_IDLE_MS / 10;
    self->now_ms = sl__mono_ms();
    self->rng = sl__rand64();
    sl__auth_opts ao = {opts->cert, opts->allow_dir, opts->insecure};
    if ((rv = sl__auth_new(&self->auth, &ao, errbuf)) != SL_OK ||
        (rv = s_bind(self, &self->clients, &self->clients_raw,
                     opts->client_endpoint, "client", errbuf)) != SL_OK ||
        (rv = s_bind(self, &self->workers, &self->workers_raw,
                     opts->worker_endpoint, "worker", errbuf)) != SL_OK) {
        goto fail;
    }
    if (opts->endpoints_file != NULL &&
        (rv = s_write_endpoints(self, errbuf)) != SL_OK) {
        goto fail;
    }
    // Clients: a reconnect keeps its routing id (the new connection takes
    // the old one's place), ZMTP heartbeats close dead links, and the
    // auth's monitor tells us of each closed connection.
    zsock_set_router_handover(self->clients, 1);
    zsock_set_heartbeat_ivl(self->clients, self->opts.heartbeat_ms);
    zsock_set_heartbeat_timeout(self->clients,
                                S_HEARTBEAT_LIVENESS * self->opts.heartbeat_ms);
    sl__auth_on_closed(self->auth, s_on_closed, self);
    sl__log_info("clients on %s, workers on %s%s",
                 zsock_endpoint(self->clients), zsock_endpoint(self->workers),
                 sl__auth_curve(self->auth) ? " (CURVE)" : "");
    *out = self;
    return SL_OK;

fail:
    sl__sched_destroy(&self);
    return rv;
}

void
sl__sched_run(sl__sched *self)
{
    void *monitors[SL_AUTH_MAX_MONITORS];
    int n_monitors = sl__auth_monitors(self->auth, monitors);
    while (!self->stopping && !zsys_interrupted) {
        zmq_pollitem_t items[2 + SL_AUTH_MAX_MONITORS] = {
            {self->workers_raw, 0, ZMQ_POLLIN, 0},
            {self->clients_raw, 0, ZMQ_POLLIN, 0},
        };
        for (int i = 0; i < n_monitors; i++) {
            items[2 + i] = (zmq_pollitem_t){monitors[i], 0, ZMQ_POLLIN, 0};
        }
        int64_t now = sl__mono_ms();
        long timeout = self->next_scan_ms - now;
        if (self->flush_due_ms != 0 && self->flush_due_ms - now < timeout) {
            timeout = self->flush_due_ms - now;
        }
        if (self->n_holding > 0 && timeout > 1) {
            timeout = 1; // see whether the client reads again
        }
        if (timeout < 0) {
            timeout = 0;
        }
        if (zmq_poll(items, 2 + n_monitors, timeout) < 0 && errno != EINTR) {
            sl__log_error("poll failed: %s", zmq_strerror(errno));
            break;
        }
        self->now_ms = sl__mono_ms();
        if (items[0].revents & ZMQ_POLLIN) {
            s_drain(self, true);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            s_drain(self, false);
        }
        for (int i = 0; i < n_monitors; i++) {
            if (items[2 + i].revents & ZMQ_POLLIN) {
                sl__auth_drain(self->auth);
                break;
            }
        }
        s_run_timers(self);
        s_dispatch(self);
        s_flush(self);
    }
}

void
sl__sched_stop(sl__sched *self)
{
    self->stopping = true;
}

void
sl__sched_destroy(sl__sched **self_p)
{
    sl__sched *self = *self_p;
    if (self == NULL) {
        return;
    }
    for (size_t i = 0; i < self->jobs.cap; i++) {
        s_job *job = self->jobs.keys[i] ? self->jobs.vals[i] : NULL;
        if (job != NULL) {
            s_job_destroy(self, &job);
            i--; // deletion may have shifted another job into slot i
        }
    }
    for (size_t i = 0; i < self->peers.cap; i++) {
        s_peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        // Workers are not told to shut down: they keep their tasks and
        // reconnect to the next scheduler on this endpoint.
        if (p != NULL) {
            free(p->leases);
            s_held_free(self, p);
            sl__table_del(&self->peers, p->key);
            free(p);
            i--;
        }
    }
    sl__queue_fini(&self->queue);
    sl__table_fini(&self->jobs);
    sl__table_fini(&self->peers);
    sl__mpw_fini(&self->w);
    free(self->pick);
    free(self->pick_job);
    if (self->auth != NULL) {
        sl__auth_unwatch(self->auth); // while the sockets it watches live
    }
    zsock_destroy(&self->clients);
    zsock_destroy(&self->workers);
    sl__auth_destroy(&self->auth);
    free(self);
    *self_p = NULL;
}
