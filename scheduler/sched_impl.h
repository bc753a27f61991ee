// sched_impl.h - the scheduler's private header: its state, peers, jobs and
// tasks, and what each of its files gives the others.
// SPDX-License-Identifier: MIT
//
// This header must not be included outside scheduler/: the rest of
// starling sees the scheduler through sched.h only. (tests/unit/sched_test.c
// includes it to test the scheduling policy without sockets.)
//
// The files, each with one job, in the order they depend on each other: a
// file calls only the files above it, never one below, so no two files
// call each other in a circle.
// - peer.c: the peer table, sending, the held queue of clients that do not
//   read, the hungry list, ERROR and log budgets, HELLO and WELCOME.
// - graph.c: futures: the tasks that wait on other tasks' results, and
//   the outcomes kept for them.
// - job.c: jobs and their tasks, SUBMIT, CANCEL, RELEASE, STATUS, the end
//   of a task, DONE batching.
// - outcome.c: RESULT, runs lost with their executor or their worker, and
//   speculation (backup copies of stragglers).
// - dispatch.c: READY, credit, pick, TASKS.
// - observe.c: the snapshots the HTTP endpoints serve (observe.h).
// - sched.c: the loop, timers, the message switch, life cycle.
#ifndef SL_SCHEDULER_SCHED_IMPL_H
#define SL_SCHEDULER_SCHED_IMPL_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/table.h"
#include "auth.h"
#include "observe.h"
#include "queue.h"
#include "sched.h"

// Seconds of history behind tasks/s and GFLOPS in STATUS replies.
#define SL_RATE_WINDOW 5

// The state of a task.
// WAITING: its argument names results that have not ended (graph.c).
enum {
    SL_SCHED_QUEUED = 0,
    SL_SCHED_RUNNING = 1,
    SL_SCHED_DONE = 2,
    SL_SCHED_WAITING = 3,
};
// Task flags: a backup copy is wanted (queued), or one was started.
enum { SL_SCHED_WANT_BACKUP = 1, SL_SCHED_BACKED = 2 };

typedef struct {
    uint32_t chunk;   // which SUBMIT frame holds the argument
    uint32_t arg_off; // offset of the argument in that frame
    uint32_t arg_len; // its length in bytes
    uint8_t attempts; // runs started so far
    uint8_t state;    // SL_SCHED_QUEUED, _RUNNING, _DONE or _WAITING
    uint8_t lost;     // runs that died with their executor or worker
    uint8_t flags;    // SL_SCHED_WANT_BACKUP, SL_SCHED_BACKED
} sl__task;

// A task whose argument names futures (graph.c).
typedef struct {
    uint32_t off;    // where its SUBMIT deps entry lies in its chunk; 0: none
    uint32_t waiter; // its waiter while it waits; 0: none
} sl__task_deps;

// An edge: a task whose result the waiter waits for has it on its list.
typedef struct {
    uint32_t next;   // the next edge of the same list; 0: the last
    uint32_t waiter; // the waiting task
} sl__edge;

// A waiting task. job is NULL once it no longer waits (it ended), while
// edges may still name it.
typedef struct sl__job sl__job;
typedef struct {
    sl__job *job;        // its job, or NULL
    uint32_t index;      // its index; the free list's link when free
    uint32_t unresolved; // edges that name it
} sl__waiter;

// A dependent to fail because its input did.
typedef struct {
    uint64_t job;       // the dependent
    uint32_t index;     //
    uint64_t input_job; // its input that did not end OK
    uint32_t input;     //
} sl__failing;

typedef struct {
    sl__edge *edges;       // the edge pool; edges[0] unused
    uint32_t n_edges;      // used or freed
    uint32_t cap_edges;    // allocated
    uint32_t free_edge;    // free list head; 0: empty
    uint64_t live_edges;   // in use
    sl__waiter *waiters;   // the waiter pool; waiters[0] unused
    uint32_t n_waiters;    // used or freed
    uint32_t cap_waiters;  // allocated
    uint32_t free_waiter;  // free list head
    uint64_t live_waiters; // in use
    uint64_t waiting;      // tasks in state WAITING over all jobs
    sl__failing *failing;  // dependents to fail (job.c ends them)
    uint32_t n_failing;    // in failing
    uint32_t cap_failing;  // allocated
    bool draining;         // job.c is ending them
    sl__mpw inputs;        // a dispatched task's inputs, reused
} sl__graph;

typedef struct {
    uint64_t job;     // the leased task's job
    uint32_t index;   // and index
    uint32_t attempt; // the attempt the worker was sent
    int64_t sent_ms;  // when
} sl__lease;

// A message for a client that was not reading when it was sent.
typedef struct sl__held sl__held;
struct sl__held {
    sl__held *next; // the next newer one
    size_t len;     // bytes of data
    uint8_t data[]; // the message
};

typedef struct sl__peer sl__peer;
struct sl__peer {
    uint64_t key;         // hash of the routing id; key in the peer table
    uint8_t id[256];      // ZeroMQ routing id
    size_t id_len;        // its length
    bool is_worker;       // which socket it talks on
    char name[64];        // node or program name it gave, for the log
    char node[65];        // clients: its node, as HELLO named it ("":
                          // none that a TASKS group could carry)
    uint32_t pid;         // its process id
    int64_t last_recv_ms; // when we last heard from it
    int64_t last_send_ms; // when we last sent it anything
    uint64_t session;     // id given in WELCOME
    bool hello;           // clients: has said HELLO to this scheduler
    int fd;               // clients: the connection its last message came on
    int64_t gone_ms;      // clients: when that connection closed; 0: open
    // What we spend on a misbehaving peer (see S_ERROR_BURST in peer.c).
    double err_budget;     // ERRORs it may get now
    int64_t err_budget_ms; // when err_budget was last topped up
    uint64_t send_dropped; // messages lost to its high-water mark
    int64_t send_quiet_ms; // no "not delivered" line before this
    // Clients only.
    uint32_t n_jobs;     // its jobs that the scheduler still holds
    sl__held *held;      // messages waiting for it to read, oldest first
    sl__held *held_tail; // the newest
    size_t held_bytes;   // their size
    // Workers only.
    bool ready;            // has sent READY
    uint32_t slots;        // executor slots
    uint32_t credit_max;   // slots + prefetch
    sl__lease *leases;     // tasks it holds, credit_max entries
    uint32_t n_leases;     // in use
    bool hungry;           // on the hungry list
    bool unreachable;      // a send found its connection gone
    sl__peer *hungry_next; // hungry list links: the next worker
    sl__peer *hungry_prev; // and the one before
};

struct sl__job {
    uint64_t id;          // client-chosen, unique
    uint64_t client_key;  // the submitting client's peer key; 0 if gone
    char function[256];   // "module.kernel", NUL-terminated
    size_t function_len;  // its length
    char home[65];        // its client's node (sl__peer.node), copied: the
                          // job may outlive the client's connection
    sl__job_opts opts;    // time limit, attempts, priority
    uint64_t total;       // tasks in the job
    uint64_t received;    // tasks submitted so far (chunks arrive in order)
    uint64_t done;        // tasks ended
    uint64_t running;     // tasks leased to workers
    sl__task *tasks;      // cap_tasks entries; the first received are used
    uint64_t cap_tasks;   // grows with the chunks, up to total
    zmq_msg_t **chunks;   // SUBMIT frames the arguments live in
    uint32_t n_chunks;    // in use
    uint32_t cap_chunks;  // allocated
    bool cancelled;       // no further dispatch
    bool keep;            // SL_SUBMIT_KEEP: kept after it ends until released
    bool released;        // its client sent RELEASE
    uint64_t users;       // futures of unended tasks that name its tasks
    uint64_t *kept;       // per task: 1 + where its outcome lies in kept_buf
    uint8_t *kept_buf;    // kept outcomes (graph.c), kept_len bytes of
    size_t kept_len;      // kept_cap: grown by doubling from a few bytes,
    size_t kept_cap;      // since most jobs are small
    sl__task_deps *deps;  // per task, when some task has futures; or NULL
    uint32_t *first_edge; // per task: its dependents' edges; or NULL
    float *run_ms;        // a sample of finished tasks' run times
    uint32_t n_run_ms;    // entries in it (at most S_SPEC_SAMPLES, outcome.c)
    uint64_t n_timed;     // tasks timed, sampled or not
    double median_ms;     // of run_ms, computed once a scan; <0: stale
    uint32_t backups;     // backup copies started
    double exec_ms;       // average run time that workers report; <0: none
    sl__mpw done_buf;     // outcomes not yet sent to the client
    uint32_t n_pending;   // outcomes in done_buf
    int64_t done_ms;      // when the last DONE went out
    bool dirty;           // on the dirty list
    sl__job *dirty_next;  // dirty list link
};

// How a message leaves for peer: 1 when queued, 0 when it would block
// (the peer is not reading: its queue is at the high-water mark), -1 when
// it cannot be delivered (errno says why: EHOSTUNREACH when its connection
// is gone). data is borrowed for the call. sl__sched_new sends on the
// ROUTER sockets; a test of the policy records the message instead.
typedef int (*sl__send_fn)(sl__sched *self, const sl__peer *peer,
                           const void *data, size_t len);

typedef struct {
    int64_t second; // which second this bucket counts
    uint64_t done;  // tasks ended in it
    double flops;   // FLOPs reported in it
} sl__bucket;

struct sl__sched {
    sl__sched_opts opts;     // as given (strings borrowed from main)
    sl__auth *auth;          // CURVE, endpoint rules, refusal log
    zsock_t *clients;        // ROUTER for clients
    zsock_t *workers;        // ROUTER for workers
    void *clients_raw;       // their libzmq handles: the clients'
    void *workers_raw;       // and the workers'
    sl__send_fn send;        // how messages leave (on those sockets)
    sl__queue queue;         // runs of queued tasks
    sl__graph graph;         // futures (graph.c)
    sl__table jobs;          // job id -> sl__job
    sl__table peers;         // routing id hash -> sl__peer
    sl__peer *hungry_head;   // workers with credit, round robin
    sl__peer *hungry_tail;   // the last of them
    sl__job *dirty_head;     // jobs with outcomes to flush
    int64_t flush_due_ms;    // a DONE held back is due; 0: none
    int64_t now_ms;          // the clock, read once a loop turn
    int64_t trimmed_ms;      // the last malloc_trim
    bool trim_wanted;        // one was put off (s_trim, sched.c)
    uint64_t rng;            // xorshift64* state, for sampling
    uint32_t n_holding;      // clients with held messages
    uint64_t queued;         // tasks in state QUEUED over all jobs
    uint64_t backups_wanted; // tasks waiting for a backup copy
    uint64_t speculated;     // backup copies started
    uint64_t running;        // tasks leased
    uint64_t done_total;     // tasks ended since start
    uint32_t n_workers;      // ready workers
    uint32_t n_slots;        // their slots
    int64_t next_scan_ms;    // next heartbeat scan
    double started;          // monotonic start time
    sl__bucket rate[SL_RATE_WINDOW + 2]; // per-second completions and FLOPs
    sl__mpw w;                           // reused message writer
    uint32_t *pick;                      // scratch for dispatch: task indices
    sl__job **pick_job;                  // and their jobs
    size_t pick_cap;                     // entries in both
    bool stopping;                       // sl__sched_stop was called
    double log_budget;                   // peer warnings we may log now
    int64_t log_budget_ms;               // when log_budget was topped up
    uint64_t log_left_out;               // warnings not logged since the
                                         // last count of them
    int64_t log_quiet_ms;                // no count line before this
    int64_t next_reap_ms;                // next look for abandoned jobs
    sl__observe observe; // /metrics' counters, snapshots, HTTP (observe.h)
};

// ---------------------------------------------------------------------
// sched.c: the parts of the loop that the policy's tests drive.

// A scheduler with no sockets and no authenticator: what sl__sched_new
// builds before it binds. Its send goes to the (absent) ROUTER sockets
// and so fails until the caller sets self->send; the clock is self->now_ms,
// which the caller moves. Free it with sl__sched_destroy.
sl__sched *sl__sched_new_unbound(const sl__sched_opts *opts);
// The timers of one loop turn at time now (the loop passes its monotonic
// clock): at most one scan every heartbeat_ms / 2, in which a client past
// its grace period or idle is forgotten, a worker silent for three
// heartbeats or unreachable is lost, a worker not sent anything for a
// heartbeat gets one, and stragglers get backup copies (sl__speculate).
void sl__sched_run_timers(sl__sched *self, int64_t now);

// ---------------------------------------------------------------------
// peer.c: peers, sending, budgets.

// The table of peers, and the budget of warnings about them.
void sl__peers_init(sl__sched *self);
// Free every peer and the table, without a word to any of them.
void sl__peers_fini(sl__sched *self);
// The peer whose routing id is (bytes, len) on the workers' socket or the
// clients', created if new. NULL for an unusable id: empty, over 255
// bytes, or one that names a peer of the other socket (or collides with
// one). Borrowed: valid until sl__peer_destroy.
sl__peer *sl__peer_get(sl__sched *self, const uint8_t *bytes, size_t len,
                       bool is_worker);
// Take the peer out of the table and free it, its leases and what is held
// for it; *peer_p is set to NULL. What a worker was running is the
// caller's business (sl__worker_leave).
void sl__peer_destroy(sl__sched *self, sl__peer **peer_p);
// Set the name a peer gave (HELLO, READY): at most 60 bytes, and only
// printable ones, so that a name cannot forge lines in our log.
void sl__peer_name_set(sl__peer *peer, const sl__strv *name);

// Send the writer's bytes to a peer. A ROUTER drops messages for peers it
// does not know, and for one whose queue is at the high-water mark; with
// ROUTER_MANDATORY it tells us. What is for a client then waits in
// peer->held (and so does everything after it, to keep the order); what
// is for a worker is lost, and logged. w is borrowed.
void sl__peer_send(sl__sched *self, sl__peer *peer, sl__mpw *w);
// Answer a message that was well formed but cannot be done (a limit, a
// chunk out of order, an unknown worker): always answered, since the peer
// may be waiting on it.
void sl__peer_send_error(sl__sched *self, sl__peer *peer, sl_err code,
                         const char *text, uint64_t job);
// Answer a malformed or unexpected message, within the peer's budget: a
// peer that floods us with junk gets a few answers, not one per frame.
void sl__peer_reject(sl__sched *self, sl__peer *peer, sl_err code,
                     const char *text, uint64_t job);
// Answer a message type this socket does not take.
void sl__peer_send_unexpected(sl__sched *self, sl__peer *peer, uint32_t type);
// WELCOME: the peer's session, the heartbeat, the stores.
void sl__peer_send_welcome(sl__sched *self, sl__peer *peer);
// Send what waits for clients that were not reading.
void sl__held_flush(sl__sched *self);
// Say how many warnings the budget left out, every S_QUIET_MS.
void sl__peer_warn_count(sl__sched *self);

// Put worker w on the hungry list, if it is ready, reachable and has
// credit left (else nothing); take it off.
void sl__hungry_add(sl__sched *self, sl__peer *w);
void sl__hungry_remove(sl__sched *self, sl__peer *w);

// HELLO [name, pid] from a client, r at its first field: answered with
// WELCOME. name is the client's node: its jobs' home in TASKS.
void sl__on_hello(sl__sched *self, sl__peer *peer, sl__mpr *r);

// Put job on the dirty list: the next sl__jobs_flush (job.c) sends its
// outcomes, and frees it if it has ended. In this header because graph.c,
// which comes before job.c, marks jobs too.
static inline void
sl__job_mark_dirty(sl__sched *self, sl__job *job)
{
    if (!job->dirty) {
        job->dirty = true;
        job->dirty_next = self->dirty_head;
        self->dirty_head = job;
    }
}

// ---------------------------------------------------------------------
// graph.c: futures.

// Free the pools (sl__sched_destroy).
void sl__graph_fini(sl__sched *self);
// The job's task array grew from old_cap to job->cap_tasks entries: grow
// its graph arrays with it.
void sl__graph_job_reserve(sl__job *job, uint64_t old_cap);
// Free the job's graph arrays and kept outcomes; its waiting tasks' waiters
// are marked dead.
void sl__graph_job_free(sl__sched *self, sl__job *job);
// Keep task index's outcome: its status and the bytes a future resolves to
// (the result, inline or a ref) or the error text.
void sl__graph_keep(sl__job *job, uint32_t index, uint32_t status,
                    const void *bytes, size_t len);
// Task index's kept outcome, if it has ended; the bytes are borrowed from
// the job.
bool sl__graph_kept(const sl__job *job, uint32_t index, uint32_t *status,
                    const uint8_t **bytes, size_t *len);
// Check task task of job job_id's n futures (list at the first pair): each
// names a task of a job of client, submitted before it. Else why says
// which future is wrong (SL_EINVAL, or SL_EPROTO for a malformed pair).
sl_err sl__graph_check(sl__sched *self, const sl__peer *client, uint64_t job_id,
                       uint64_t task, sl__mpr list, uint32_t n, char *why);
// Record task index's n futures (checked), whose deps entry lies at off in
// its chunk: an edge to it from each input that has not ended. True when
// an input has ended and failed: the task is then on self->graph.failing,
// for the caller to end. Otherwise sl__graph_waits says whether it waits.
bool sl__graph_add(sl__sched *self, sl__job *job, uint32_t index, uint32_t off,
                   sl__mpr list, uint32_t n);
bool sl__graph_waits(const sl__job *job, uint32_t index);
// Task index of job ended with status: its dependents that waited only on
// it are queued; with a status other than OK, each goes on
// self->graph.failing.
void sl__graph_input_ended(sl__sched *self, sl__job *job, uint32_t index,
                           uint32_t status);
// Task index of job, which may have futures, ended: the jobs it named lose
// a user (and are marked dirty, to be freed, when that was the last).
void sl__graph_dependent_ended(sl__sched *self, sl__job *job, uint32_t index);
// TASKS' inputs for task index of job ([job, index, value, ...], for
// sl__task_item.inputs), or NULL when it names no future; valid until the
// next call.
const uint8_t *sl__graph_inputs(sl__sched *self, const sl__job *job,
                                uint32_t index, size_t *len);

// ---------------------------------------------------------------------
// job.c: jobs, SUBMIT, CANCEL, RELEASE, STATUS, DONE.

// The table of jobs; and free every job, and the table.
void sl__jobs_init(sl__sched *self);
void sl__jobs_fini(sl__sched *self);
// Cancel every task of job that has not been dispatched, and tell the
// workers to stop the ones running (the first time): each comes back
// CANCELLED, or, from a worker that cannot stop a kernel (thread slots),
// with its outcome, which still counts. With unsubmitted, also end the
// tasks whose SUBMIT chunks have not arrived (their client is gone, so
// they never will).
void sl__job_cancel(sl__sched *self, sl__job *job, const char *why,
                    bool unsubmitted);
// End task index of job with outcome o (whose job and index fields are
// ignored). Callers have checked that the task is not DONE yet.
void sl__task_end(sl__sched *self, sl__job *job, uint32_t index,
                  const sl__outcome *o);
// End a task without a worker's outcome: cancelled, or failed by us.
void sl__task_end_with(sl__sched *self, sl__job *job, uint32_t index,
                       uint32_t status, const char *why);
// A task that wanted a backup copy no longer does (it ended, or it goes
// back to the queue to run anyway).
void sl__backup_forget(sl__sched *self, sl__task *t);
// Send each dirty job's outcomes, unless its last DONE went out less than
// S_DONE_GAP_MS ago and more may join them; free the jobs that ended.
// True when that freed the last job.
bool sl__jobs_flush(sl__sched *self);

// Client messages, r at their first field. SUBMIT's body is the frame r
// reads: when the job keeps the chunk it moves or copies it out of body.
void sl__on_submit(sl__sched *self, sl__peer *client, sl__mpr *r,
                   uint32_t nfields, zmq_msg_t *body);
void sl__on_cancel(sl__sched *self, sl__peer *client, sl__mpr *r);
void sl__on_release(sl__sched *self, sl__peer *client, sl__mpr *r);
void sl__on_status(sl__sched *self, sl__peer *client);
// The figures of a STATUS_REPLY (and of the HTTP snapshot): counts, and
// tasks and FLOPs a second over the last SL_RATE_WINDOW whole seconds.
void sl__status_fill(const sl__sched *self, sl__status *s);

// ---------------------------------------------------------------------
// outcome.c: RESULT, lost runs, speculation.

// RESULT [outcome, ...] from worker w, r at its first field.
void sl__on_result(sl__sched *self, sl__peer *w, sl__mpr *r);
// Give a lost worker's tasks back to the queue, or fail those that have
// used up their attempts. With penalty (the worker died or went silent,
// rather than saying BYE) the run counts as an attempt.
void sl__lease_release(sl__sched *self, sl__peer *w, const sl__lease *l,
                       bool penalty, const char *why);
// Stragglers: in a job that is mostly done, a task that has run far
// longer than the median gets a backup copy, from the front of the queue.
// Looks at w's leases at time now.
void sl__speculate(sl__sched *self, sl__peer *w, int64_t now);

// ---------------------------------------------------------------------
// dispatch.c: READY, credit, TASKS.

// READY [slots, prefetch, node, pid] from worker w, r at its first field.
void sl__on_ready(sl__sched *self, sl__peer *w, sl__mpr *r);
// Give queued tasks to hungry workers, each at most its credit and about
// an even share of what is queued, so that a short job spreads out.
void sl__dispatch(sl__sched *self);
// Worker w is going (BYE, silent, unreachable): its leases are released
// (sl__lease_release) and it leaves the counts and the hungry list. The
// caller then destroys the peer.
void sl__worker_leave(sl__sched *self, sl__peer *w, bool penalty,
                      const char *why);

#endif
