// msg.h - every wire message of starling: types, encoders, decoders.
// SPDX-License-Identifier: MIT
//
// A message is one ZeroMQ frame holding one msgpack array:
// [version, type, fields...]. serialize/PROTOCOL.md is the reference.
// Decoders return views into the frame (strings, raw values): they stay
// valid while the frame does. The codec knows nothing about sockets.
#ifndef SL_SERIALIZE_MSG_H
#define SL_SERIALIZE_MSG_H

#include "codec.h"

#define SL_PROTOCOL_VERSION 1

typedef enum {
    // client -> scheduler
    SL_MSG_HELLO = 1,
    SL_MSG_SUBMIT = 2,
    SL_MSG_CANCEL = 3, // also scheduler -> worker
    SL_MSG_STATUS = 4,
    SL_MSG_BYE = 5,       // also worker -> scheduler
    SL_MSG_HEARTBEAT = 6, // every direction
    SL_MSG_RELEASE = 7,
    // scheduler -> client
    SL_MSG_WELCOME = 16, // also scheduler -> worker
    SL_MSG_ACCEPTED = 17,
    SL_MSG_DONE = 18,
    SL_MSG_STATUS_REPLY = 19,
    SL_MSG_ERROR = 20, // to either peer
    // worker -> scheduler
    SL_MSG_READY = 32,
    SL_MSG_RESULT = 33,
    // scheduler -> worker
    SL_MSG_TASKS = 48,
    SL_MSG_SHUTDOWN = 49,
} sl__msg_type;

const char *sl__msg_type_name(uint32_t type);

// Task outcomes, as they travel in RESULT and DONE (sl_task_status values).
#define SL_WIRE_OK 1
#define SL_WIRE_ERROR 2
#define SL_WIRE_FAILED 3
#define SL_WIRE_CANCELLED 4
// Worker -> scheduler only: the run died with its executor process (a
// crash, or the executor broke its protocol). It costs the task an
// attempt; the scheduler re-queues it or, out of attempts, fails it.
#define SL_WIRE_LOST 5

// Options of a job, as submitted.
typedef struct {
    uint32_t time_limit_ms; // 0: none
    uint32_t max_attempts;  // >= 1
    uint32_t priority;      // 0..9
    uint32_t flags;         // SL_WIRE_JOB_* and SL_SUBMIT_*
} sl__job_opts;

// A job's flags on the wire. The public SL_JOB_* of client.h have the
// same values (client.c checks it at compile time), so the client passes
// them on as they are, and the scheduler and workers need no client
// header.
#define SL_WIRE_JOB_NO_SPECULATION 0x1u // no backup copies of stragglers
#define SL_WIRE_JOB_RETRY_ERRORS 0x2u   // a kernel error costs an attempt
// A wire-only SUBMIT flag: the client has no use for ACCEPTED (libstarling
// sets it; each ACCEPTED woke the client once per call, about 25 us of a
// 240 us round trip on the development machine).
#define SL_SUBMIT_NO_ACCEPTED 0x80000000u
// A wire-only SUBMIT flag: the scheduler keeps the job, and its tasks'
// results, after it has ended, until the client sends RELEASE (or is
// gone), so that a later job's futures can name its tasks. libstarling
// sets it on every job.
#define SL_SUBMIT_KEEP 0x40000000u

// A string view into a frame. Not NUL-terminated.
typedef struct {
    const char *p;
    uint32_t len;
} sl__strv;

// The statistics every task reports.
typedef struct {
    double start_s;         // wall clock when the kernel started
    double end_s;           // and ended
    double flops;           // counted by the kernel
    uint64_t bytes_read;    // args, refs, kernel reads
    uint64_t bytes_written; // result, stores, kernel writes
    uint64_t bytes_mapped;  // refs read in place from the node's tier
} sl__task_stats;

// Read [version, type, ...] and leave r at the first field. SL_EPROTO for
// anything but an array of at least 2 with our version; *type is set when
// the version was read, so the caller can answer in kind.
sl_err sl__msg_open(sl__mpr *r, uint32_t *type, uint32_t *nfields,
                    char *errbuf);
// Start a message of type with nfields fields after version and type.
void sl__msg_begin(sl__mpw *w, sl__msg_type type, uint32_t nfields);

// HELLO [name, pid] (client and worker say who they are).
void sl__msg_hello(sl__mpw *w, const char *name, uint32_t pid);

// WELCOME [session, heartbeat_ms, stores, password, inline_max]
typedef struct {
    uint64_t session;      // id the scheduler gave this peer
    uint32_t heartbeat_ms; // interval the peer should heartbeat at
    uint32_t inline_max;   // values up to this many bytes ride inline
    sl__strv password;     // store password (may be empty)
    uint32_t n_stores;     // shards
    sl__strv stores[16];   // "host:port" of each shard
} sl__welcome;
void sl__msg_welcome(sl__mpw *w, const sl__welcome *m);
sl_err sl__msg_welcome_decode(sl__mpr *r, sl__welcome *m, char *errbuf);

// SUBMIT [job, function, total, first,
//         [time_limit, attempts, priority(, ended(, flags))], [arg...]]:
// one chunk of a job's tasks, first..first+n-1. flags (absent: 0) are the
// job's SL_JOB_* flags. ended, when present and not nil, is a bitmap
// (bin of ceil(n/8) bytes, bit i of byte i/8 for task first+i): tasks
// whose results the client already holds, which are not to run. A client
// sends it when it submits a job again to a scheduler that restarted.
typedef struct {
    uint64_t job;         // client-chosen id, unique
    sl__strv function;    // "module.kernel"
    uint64_t total;       // tasks in the whole job
    uint64_t first;       // index of the first task in this chunk
    sl__job_opts opts;    // job options (from the first chunk)
    const uint8_t *ended; // the bitmap, or NULL: none ended
    uint32_t n_args;      // tasks in this chunk
    sl__mpr args;         // at the first arg; sl__mpr_skip each
} sl__submit;
void sl__msg_submit_begin(sl__mpw *w, uint64_t job, const char *function,
                          uint64_t total, uint64_t first,
                          const sl__job_opts *opts, uint32_t n_args);
// The same with an ended bitmap of ceil(n_args/8) bytes (NULL: none), and
// with deps a seventh field, the futures of each task, follows the args:
// the caller appends it, as below.
void sl__msg_resubmit_begin(sl__mpw *w, uint64_t job, const char *function,
                            uint64_t total, uint64_t first,
                            const sl__job_opts *opts, const uint8_t *ended,
                            uint32_t n_args, bool deps);
// SUBMIT's seventh field: one entry per arg, nil (the task names no
// future) or the flat array [job, index, job, index, ...] of the tasks
// whose results it takes. The caller writes the array header for n_args
// entries, then each entry.
// Whether task i of a chunk is marked in its ended bitmap (NULL: no).
static inline bool
sl__msg_submit_ended(const sl__submit *m, uint32_t i)
{
    return m->ended != NULL && (m->ended[i / 8] >> (i % 8)) & 1;
}
sl_err sl__msg_submit_decode(sl__mpr *r, const sl__limits *lim, sl__submit *m,
                             char *errbuf);
// One entry of SUBMIT's deps field at r, which is left after it: *n
// futures (0 for nil or []), whose (job, index) pairs sl__msg_dep_next
// reads from *list. SL_EPROTO when the entry is neither nil nor an array
// of an even number of u64s, SL_ELIMIT when it has more than max pairs;
// *n is 0 then, and errbuf says why.
sl_err sl__msg_deps_entry(sl__mpr *r, uint32_t max, uint32_t *n, sl__mpr *list,
                          char *errbuf);
// The next (job, index) of a deps entry; -1 when malformed.
int sl__msg_dep_next(sl__mpr *list, uint64_t *job, uint64_t *index);
// RELEASE [[job, ...]]: the client is done with these jobs; the scheduler
// may forget each once it has ended and no task waiting on it remains.
void sl__msg_release(sl__mpw *w, const uint64_t *jobs, uint32_t n);
// The job ids of a RELEASE: *n of them, each read with sl__mpr_u64.
sl_err sl__msg_release_decode(sl__mpr *r, const sl__limits *lim, uint32_t *n,
                              char *errbuf);

// ACCEPTED [job, first, count]
void sl__msg_accepted(sl__mpw *w, uint64_t job, uint64_t first, uint32_t count);
// ERROR [code, text, job]
void sl__msg_error(sl__mpw *w, sl_err code, const char *text, uint64_t job);
typedef struct {
    uint32_t code;
    sl__strv text;
    uint64_t job;
} sl__error_msg;
sl_err sl__msg_error_decode(sl__mpr *r, sl__error_msg *m, char *errbuf);

// A message whose only field is a job id: CANCEL [job]; or
// one with no fields: STATUS, BYE, HEARTBEAT, SHUTDOWN.
void sl__msg_job(sl__mpw *w, sl__msg_type type, uint64_t job);
void sl__msg_empty(sl__mpw *w, sl__msg_type type);
// CANCEL [job, index] (scheduler -> worker): stop that one task, queued or
// running: a speculative copy of it finished first.
void sl__msg_cancel_task(sl__mpw *w, uint64_t job, uint32_t index);
// The job id that opens CANCEL (both forms), after sl__msg_open.
sl_err sl__msg_job_decode(sl__mpr *r, uint64_t *job, char *errbuf);

// READY [slots, prefetch, node, pid]
typedef struct {
    uint32_t slots;    // executor slots
    uint32_t prefetch; // extra tasks it may hold beyond its slots
    sl__strv node;     // host name
    uint32_t pid;      // process id
} sl__ready;
void sl__msg_ready(sl__mpw *w, const sl__ready *m);
sl_err sl__msg_ready_decode(sl__mpr *r, sl__ready *m, char *errbuf);

// TASKS [[job, function, time_limit_ms, home, [[index, attempt, arg(,
// inputs)], ...]], ...]. Tasks are grouped by job so the function name travels
// once a group. home is the node of the job's client (the name its HELLO gave):
// empty (unknown), or 1 to SL_NODE_NAME_MAX bytes without a NUL.
typedef struct {
    uint64_t job;
    sl__strv function;
    uint32_t time_limit_ms;
    sl__strv home;    // the node of the job's client; empty: unknown
    uint32_t n_tasks; // tasks in this group
} sl__task_group;
typedef struct {
    uint32_t index;
    uint32_t attempt;
    const uint8_t *arg; // raw msgpack of the argument value
    size_t arg_len;
    // The results of the tasks the argument's futures name: the raw
    // msgpack array [job, index, value, job, index, value, ...], each value
    // the result as that task's outcome carried it (inline, or a ref).
    // NULL and 0 when the argument names no future.
    const uint8_t *inputs;
    size_t inputs_len;
} sl__task_item;
// The caller packs: sl__msg_tasks_begin(n_groups), then per group
// sl__msg_task_group, then per task sl__msg_task_item.
void sl__msg_tasks_begin(sl__mpw *w, uint32_t n_groups);
void sl__msg_task_group(sl__mpw *w, uint64_t job, const char *function,
                        size_t function_len, uint32_t time_limit_ms,
                        const char *home, size_t home_len, uint32_t n_tasks);
// Whether home can be a group's: what sl__msg_task_group_decode takes.
bool sl__msg_home_ok(const char *home, size_t home_len);
void sl__msg_task_item(sl__mpw *w, const sl__task_item *t);
// Decoding: sl__msg_tasks_decode gives the number of groups; then for each,
// sl__msg_task_group_decode and n_tasks times sl__msg_task_item_decode.
sl_err sl__msg_tasks_decode(sl__mpr *r, const sl__limits *lim,
                            uint32_t *n_groups, char *errbuf);
sl_err sl__msg_task_group_decode(sl__mpr *r, const sl__limits *lim,
                                 sl__task_group *g, char *errbuf);
sl_err sl__msg_task_item_decode(sl__mpr *r, const sl__limits *lim,
                                sl__task_item *t, char *errbuf);

// RESULT [[job, index, attempt, status, value, error, stats...], ...] and
// DONE [job, [[index, attempt, status, value, error, stats...], ...]].
// value is the raw msgpack of the result (inline, or a ref); error is a
// string or nil.
typedef struct {
    uint64_t job;
    uint32_t index;
    uint32_t attempt;
    uint32_t status;      // SL_WIRE_*
    const uint8_t *value; // raw msgpack item
    size_t value_len;
    sl__strv error; // empty when none
    sl__task_stats stats;
} sl__outcome;
void sl__msg_result_begin(sl__mpw *w, uint32_t n);
void sl__msg_outcome(sl__mpw *w, const sl__outcome *o, bool with_job);
sl_err sl__msg_result_decode(sl__mpr *r, const sl__limits *lim, uint32_t *n,
                             char *errbuf);
sl_err sl__msg_outcome_decode(sl__mpr *r, const sl__limits *lim, bool with_job,
                              sl__outcome *o, char *errbuf);
void sl__msg_done_begin(sl__mpw *w, uint64_t job, uint32_t n);
sl_err sl__msg_done_decode(sl__mpr *r, const sl__limits *lim, uint64_t *job,
                           uint32_t *n, char *errbuf);

// STATUS_REPLY [{name: number, ...}]: the cluster snapshot as a map, so
// fields can be added without a version bump.
typedef struct {
    uint32_t workers, slots, busy, jobs;
    uint64_t queued, running, done;
    double tasks_per_s, gflops, uptime_s;
    uint64_t waiting; // tasks held for their futures' results
} sl__status;
void sl__msg_status_reply(sl__mpw *w, const sl__status *s);
sl_err sl__msg_status_reply_decode(sl__mpr *r, sl__status *s, char *errbuf);

#endif
