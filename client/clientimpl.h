// clientimpl.h - libstarling's insides, shared by its files and by nothing
// else: the client object, its jobs, and the functions one file of the
// client gives the others.
// SPDX-License-Identifier: MIT
//
// The files, from the bottom up (each calls only those before it):
//   job.c      the job table: results, chunks kept for resubmission, stats
//   conn.c     the conversation with the scheduler: the socket, HELLO and
//              WELCOME, messages in, heartbeats, resubmission after a
//              scheduler restart
//   objects.c  the object store: put/get, modules, bulky arguments
//   client.c   the API that ties them: connect, map, wait, results
#ifndef SL_CLIENT_CLIENTIMPL_H
#define SL_CLIENT_CLIENTIMPL_H

#include <starling/client.h>

#include <czmq.h>

#include "../common/sha256.h"
#include "../common/table.h"
#include "../serialize/msg.h"
#include "../store/node.h"
#include "../store/store.h"

// How long connecting, and a status request, wait for the scheduler.
// A job goes out as SUBMIT chunks of at most this many tasks.
#define SL_CLIENT_CHUNK_TASKS 4096
#define SL_CLIENT_CONNECT_TIMEOUT_MS 10000

typedef struct {
    sl_result pub;   // what sl_job_result returns
    sl_value *value; // decoded result (a ref until fetched), or NULL
    bool fetched;    // value is the stored object, not its ref
    char *error;     // owned text behind pub.error
} sl__client_result;

// A SUBMIT chunk as sent, kept until its job ends: a scheduler that
// restarts gets the job again from these.
typedef struct {
    uint64_t first;  // its first task
    uint32_t n;      // its tasks
    uint8_t *args;   // their packed arguments (a msgpack array body)
    size_t len;      // in bytes
    uint8_t *deps;   // SUBMIT's deps field (a whole array), or NULL when
                     // no task of the chunk names a future
    size_t deps_len; // in bytes
} sl__client_chunk;

typedef struct sl__client_job sl__client_job;
struct sl__client_job {
    uint64_t id;                // job id, also sent to the scheduler
    size_t n;                   // tasks
    size_t done;                // tasks ended
    sl__client_result *results; // n entries
    double submitted;           // monotonic time of submission
    double finished;            // monotonic time of the last outcome
    bool stored_objects;        // args or results live in the store
    bool held;                  // a reduce not submitted yet: it waits
                                // here until its map job has ended
    uint64_t map_id;            // the map job a reduce reduces
    char function[256];         // its function (for resubmission)
    sl__job_opts opts;          // its options
    sl__client_chunk *chunks;   // as submitted; freed when the job ends
    size_t n_chunks;            // in chunks
    unsigned epoch;             // the client's epoch when last submitted
    uint64_t *producers;        // the jobs its futures name, once each
    size_t n_producers;         // in producers (kept until it ends)
    size_t dependents;          // unended jobs whose futures name this one
    bool released;              // sl_job_release'd while dependents > 0:
                                // on c->released, its objects kept
    sl__client_job *next;       // list of the client's jobs
};

// A module this client registered, by its short name.
typedef struct sl__client_module sl__client_module;
struct sl__client_module {
    char name[64];                    // short name ("mcpi")
    char hash[SL_SHA256_HEX_LEN + 1]; // its SHA-256 in hex
    sl__client_module *next;          // list link
};

struct sl_client {
    zsock_t *sock;               // DEALER to the scheduler
    void *raw;                   // its libzmq handle
    char endpoint[256];          // where it connects
    char client_cert[512];       // our certificate; "": none
    char server_cert[512];       // the scheduler's
    zsock_t *monitor;            // handshakes, while joining
    uint64_t session;            // from WELCOME
    int heartbeat_ms;            // from WELCOME
    uint32_t inline_max;         // from WELCOME
    sl__store *store;            // made on first use
    sl__store_where store_where; // from WELCOME
    sl__tier *tier;              // this node's object tier, or NULL: none
    sl__node node;               // objects over store and tier, with store
    bool welcomed;               // WELCOME received
    bool rejoining;              // the scheduler forgot us: HELLO sent again
    int64_t hello_ms;            // when the last HELLO went out
    unsigned epoch;              // rejoins begun: jobs of older epochs resubmit
    bool put_objects;            // sl_put was used: clean up at the end
    uint64_t put_seq;            // last object number
    sl__client_job *jobs;        // every job not released
    sl__table by_id;             // id -> job, of jobs and released
    sl__client_job *released;    // released, with unended dependents
    bool graph_ended;            // a job of a graph ended, or let go
    size_t held_reduces;         // map_reduce jobs not submitted yet
    uint64_t *releases;          // job ids for the next RELEASE
    size_t n_releases, cap_releases; // in releases; allocated
    int64_t released_ms;             // when the last RELEASE went out
    uint64_t *futures;          // scratch: one task's futures, (job, index)
    size_t cap_futures;         // pairs allocated at futures
    sl__mpw deps_w;             // scratch: a chunk's deps entries
    sl__client_module *modules; // modules registered, by short name
    sl__mpw w;                  // message writer
    sl__limits limits;          // decoding bounds
    int64_t last_send_ms;       // for heartbeats
    int64_t last_recv_ms;       // when the scheduler was last heard
    int64_t asked_ms;           // since when a STATUS or HELLO that the
                                // scheduler answers is unanswered; 0: none
    bool silent_noted;          // "not answering" said; "reconnected" due
    bool got_status;            // a STATUS_REPLY arrived
    sl__status status;          // the last one
    int spin_max_us;            // sl_client_set_spin; 0: never spin
    int spin_us;                // sl_wait's poll before sleeping, adaptive
    char errstr[SL_ERRSTR_LEN]; // detail of the last error
};

// ---------------------------------------------------------------------
// job.c: the job table.

// The job named id, or NULL. Borrowed from c. A released job waiting for
// its dependents is not found (sl__client_job_find_any finds it too).
sl__client_job *sl__client_job_find(const sl_client *c, uint64_t id);
sl__client_job *sl__client_job_find_any(const sl_client *c, uint64_t id);
// A new job of n tasks with a fresh id, linked into c's list (c owns it).
// NULL when out of memory.
sl__client_job *sl__client_job_new(sl_client *c, size_t n);
// Take job out of c's list (it stays allocated).
void sl__client_job_unlink(sl_client *c, sl__client_job *job);
// Free a job (unlinked first) and its results, and forget its id; sets
// *job_p NULL.
void sl__client_job_free(sl_client *c, sl__client_job **job_p);
// Take w's bytes as the packed arguments of tasks first..first+n-1, and
// deps's (NULL: no task names a future) as their deps field, in *ch_out;
// the job owns them and the writers' buffers start empty. SL_ENOMEM when a
// writer could not hold them (sl__mpw_failed) or the chunk table cannot
// grow; the writers keep their bytes then.
sl_err sl__client_job_add_chunk(sl__client_job *job, uint64_t first, uint32_t n,
                                sl__mpw *w, sl__mpw *deps,
                                sl__client_chunk **ch_out);
// Record that task i ended with status and, for a failure, text (copied).
// A task's first outcome is its only one.
void sl__client_task_end(sl__client_job *job, size_t i, sl_task_status status,
                         const char *text);
// End every pending task of job with status and text.
void sl__client_job_fail(sl__client_job *job, sl_task_status status,
                         const char *text);
// Job's producers lose it as a dependent (it ended, or went), once; a
// released producer may then be done with (c->graph_ended).
void sl__client_job_drop_producers(sl_client *c, sl__client_job *job);
// After outcomes ended tasks of job: when it has ended, its producers are
// let go, and a released job's end is noted for the next pump.
void sl__client_job_check_ended(sl_client *c, sl__client_job *job);
// Record one outcome of a DONE for job (its value decoded within c's
// limits).
void sl__client_job_outcome(sl_client *c, sl__client_job *job,
                            const sl__outcome *o);

// ---------------------------------------------------------------------
// conn.c: the conversation with the scheduler.

// Set c's error detail from fmt; returns rv.
sl_err sl__client_err(sl_client *c, sl_err rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Send c->w's bytes to the scheduler (a failure is only noted in errstr:
// the heartbeat and the rejoin find a scheduler that is gone).
void sl__client_send(sl_client *c);
// Send one chunk of job as SUBMIT, with an ended bitmap when resubmitting
// (NULL: none ended).
void sl__client_send_chunk(sl_client *c, const sl__client_job *job,
                           const sl__client_chunk *ch, const uint8_t *ended);
// Wait up to timeout_ms for a message, then take every message waiting,
// and send a heartbeat (or HELLO again) when one is due. Returns the
// number of messages handled.
int sl__client_pump_messages(sl_client *c, int timeout_ms);
// Find the endpoint and keys (endpoint and keys as sl_client_connect_keys
// takes them), connect c's socket and join the scheduler: HELLO answered,
// the store's password tried. c is zeroed but for limits, heartbeat_ms
// and the spin settings.
sl_err sl__client_open(sl_client *c, const char *endpoint,
                       const sl_client_keys *keys);
// Say BYE (when joined) and close the socket.
void sl__client_close(sl_client *c);

// ---------------------------------------------------------------------
// objects.c: the object store.

// c's store connection, made on first use, and c's view of the objects
// (its node's tier when the node has one, opened then too). Borrowed
// from c.
sl_err sl__client_store(sl_client *c, sl__store **out);
sl_err sl__client_node(sl_client *c, sl__node **out);
// Delete every stored object whose key starts with prefix (a warning on
// failure: their TTL frees them anyway).
void sl__client_delete_prefix(sl_client *c, const char *prefix);
// The function as the scheduler and workers know it: "name/kernel" of a
// module registered on c becomes "<sha256>/kernel".
sl_err sl__client_function_resolve(sl_client *c, const char *function,
                                   char out[SL_FUNCTION_MAX]);
// Pack task index's argument into c->w. Bulky top-level values (and bulky
// entries of a top-level map) go to the store under job's namespace and
// travel as refs.
sl_err sl__client_pack_arg(sl_client *c, sl__client_job *job, size_t index,
                           const sl_value *arg);

#endif
