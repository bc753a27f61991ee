// client.h - libstarling: submit maps to a starling cluster, collect results.
// SPDX-License-Identifier: MIT
//
// The vocabulary is PyWren's: connect, put/get, map, call_async,
// map_reduce, wait, per-task results, job statistics.
//
//     sl_client *c;
//     sl_client_connect(&c, NULL);       // $STARLING_SCHEDULER or local
//     sl_job job;
//     sl_map(c, "sys.echo", args, n, NULL, &job);
//     sl_wait(c, &job, 1, SL_ALL_COMPLETED, -1);
//     const sl_result *r = sl_job_result(c, job, 0);
//     sl_job_release(c, job);
//     sl_client_destroy(&c);
//
// A client is single-threaded: use one client per thread. It does its
// network work inside the calls (map, wait, ...), so a program that computes
// for a long time between calls simply sees its results when it next waits.
#ifndef STARLING_CLIENT_H
#define STARLING_CLIENT_H

#include <starling/value.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_client sl_client;

// A job, named by the id the client gave it. Passed by value.
typedef struct {
    uint64_t id;
} sl_job;

// Per-job options. Zero means "the default" for every field, so
// `sl_job_opts o = {0};` is a valid start.
typedef struct {
    int time_limit_ms; // per task; 0: none. A task past it is stopped and
                       // fails "timed out after X s"
    int max_attempts;  // runs of a task whose worker or executor died
                       // (or, with SL_JOB_RETRY_ERRORS, that failed); 0: 3
    int priority;      // higher runs first; 0..9, default 0
    unsigned flags;    // SL_JOB_* below; 0: the defaults
} sl_job_opts;

// A straggler (a task running far longer than the job's median once most
// of the job is done) gets a backup copy on another slot; the first to
// finish wins and the other is stopped. On by default; this turns it off.
#define SL_JOB_NO_SPECULATION 0x1u
// A task whose kernel fails (status ERROR) runs again, up to max_attempts.
// Off by default: most kernel errors are deterministic.
#define SL_JOB_RETRY_ERRORS 0x2u

typedef enum {
    SL_ALL_COMPLETED = 0, // every task of every job has ended
    SL_ANY_COMPLETED,     // a task ended during this call (or all had)
    SL_ALWAYS,            // take what has arrived and return at once
} sl_wait_mode;

typedef enum {
    SL_TASK_PENDING = 0, // not ended yet
    SL_TASK_OK,          // the kernel returned a result
    SL_TASK_ERROR,       // the kernel, or the arguments, failed
    SL_TASK_FAILED,      // starling could not run it (workers lost, ...)
    SL_TASK_CANCELLED,   // the job was cancelled first
} sl_task_status;

// The outcome of one task. Borrowed from the client: valid until the job is
// released.
typedef struct {
    sl_task_status status;
    const char *error;      // why, when status is ERROR/FAILED/CANCELLED
    double start_s;         // wall clock (Unix seconds) when the kernel began
    double end_s;           // and when it ended
    double flops;           // floating-point operations the kernel counted
    uint64_t bytes_read;    // arguments, refs copied to the worker (from
                            // the store or another node; not those found
                            // in the worker's input cache), kernel reads
    uint64_t bytes_written; // result, objects stored, kernel writes
    uint32_t attempts;      // runs it took (1 unless a worker was lost)
    uint64_t bytes_mapped;  // refs the kernel read in place from the
                            // node's object tier, with no copy
} sl_result;

typedef struct {
    size_t tasks;           // in the job
    size_t done;            // ended, any status
    size_t ok;              // status OK
    size_t failed;          // status ERROR, FAILED or CANCELLED
    size_t retried;         // tasks that needed more than one attempt
    double wall_s;          // submit to last result (or now, if not done)
    double tasks_per_s;     // done / wall_s
    double task_s;          // sum of kernel run times
    double flops;           // sum of FLOPs
    double gflops;          // flops / wall_s / 1e9: aggregate throughput
    uint64_t bytes_read;    // sum over tasks
    uint64_t bytes_written; // sum over tasks
    uint64_t bytes_mapped;  // sum over tasks
} sl_job_stats;

// Connect to the scheduler at endpoint ("tcp://host:port" or "ipc://path").
// With NULL: $STARLING_SCHEDULER if set, else the local cluster started by
// `starling up` (found through $STARLING_HOME, default ~/.starling). The
// scheduler tells the client where the object store is; the client tries
// it at once. On error *out is NULL and, where the client got far enough,
// the reason is logged. CURVE keys are found as sl_client_connect_keys
// finds them with keys NULL.
SL_EXPORT sl_err sl_client_connect(sl_client **out, const char *endpoint);

// The CURVE keys of a client: see `starling keygen` and README, "Security".
typedef struct {
    const char *client_cert; // this client's certificate with its secret
                             // key (the NAME_secret file of keygen)
    const char *server_cert; // the scheduler's public certificate
} sl_client_keys;

// sl_client_connect with CURVE keys. With keys NULL: $STARLING_CLIENT_CERT
// and $STARLING_SERVER_CERT when set (both, or neither), else the local
// cluster's keys when endpoint is NULL or is the local cluster's scheduler,
// else none. With both fields of *keys NULL: no CURVE, whatever the
// environment says. SL_EAUTH when the scheduler refuses the key or wants
// one the client does not have, when a secret certificate is readable by
// others, or when the object store refuses its password; the reason is
// logged.
SL_EXPORT sl_err sl_client_connect_keys(sl_client **out, const char *endpoint,
                                        const sl_client_keys *keys);
// Say goodbye, free every job and the client. Accepts NULL; sets *c_p NULL.
SL_EXPORT void sl_client_destroy(sl_client **c_p);
// Detail of the last error on this client (never NULL).
SL_EXPORT const char *sl_client_errstr(const sl_client *c);
// How long sl_wait may poll for a message before it sleeps, in
// microseconds; below this it adapts to how long the waits last (a run of
// short calls spins through each, a large job's wait soon sleeps at once).
// Spinning trades CPU for latency: on a virtual machine it makes one
// short call about twice as fast. Default 500, or $STARLING_SPIN_US at
// connect; 0: never spin.
SL_EXPORT void sl_client_set_spin(sl_client *c, int max_us);

// Store v in the object store and give back a ref to it in *ref_out (the
// caller owns it). Objects carry a TTL (one day by default) so that a dead
// client cannot fill the store forever. On a node with workers, a large
// value (64 KiB or more) stays in the node's object tier, shared memory
// that the node's tasks read in place: the put copies it once, and not at
// all when v was made by sl_value_new_ndarray_shared.
SL_EXPORT sl_err sl_put(sl_client *c, const sl_value *v, sl_value **ref_out);
// Free the object ref names now, rather than with the session (at
// sl_client_destroy) or its TTL: in the store and in the node's tier. A
// ref this client did not put is SL_EINVAL; the ref itself is still the
// caller's to destroy, and names nothing after.
SL_EXPORT sl_err sl_delete(sl_client *c, const sl_value *ref);
// Fetch the value a ref names into *out (the caller owns it). An object in
// the node's tier is mapped, not copied: *out is then read-only.
SL_EXPORT sl_err sl_get(sl_client *c, const sl_value *ref, sl_value **out);
// A zeroed ndarray (as sl_value_new_ndarray with NULL data) whose elements
// are made in the node's object tier when the node has one, so that
// sl_put stores it without copying them. Fill it, then put it: from the
// put on its elements are read-only, and a write to them crashes the
// program (they are the stored object). NULL when memory runs out or the
// dtype or shape is invalid; on a node without a tier, an ordinary ndarray.
SL_EXPORT sl_value *sl_value_new_ndarray_shared(sl_client *c, sl_dtype dtype,
                                                int ndim, const int64_t *shape);

// A future: a value that stands for the result of task index of job, for
// the argument of a later task (at any depth: a field of a map, an item of
// a list). The scheduler holds that task until the result has ended OK,
// then the worker puts the result (from its node's tier, another node's,
// the store, or inline) where the future was, so the kernel never sees the
// future. A result that ended in error, failed or was cancelled fails the
// task without running it: "input job J task I failed: <its error>".
// sl_map refuses (SL_EINVAL) a future of a job this client does not hold
// (released, or never submitted), of a task the job does not have, or of
// a task of the same job that does not come before the task. Releasing a
// job whose results unended tasks still take keeps them for those tasks.
// NULL when memory runs out.
SL_EXPORT sl_value *sl_value_new_future(sl_job job, size_t index);

// Run function (e.g. "blas.dgemm", or a module's "<sha256>/kernel" or
// "name/kernel") once per element of args[0..n-1]; each args[i] is the
// argument of task i (usually a map of named arguments), which may hold
// futures (sl_value_new_future).
// The values are encoded at once, so the caller keeps ownership of args and
// may free them on return. opts may be NULL.
SL_EXPORT sl_err sl_map(sl_client *c, const char *function,
                        sl_value *const *args, size_t n,
                        const sl_job_opts *opts, sl_job *job_out);
// One task: sl_map with n = 1.
SL_EXPORT sl_err sl_call_async(sl_client *c, const char *function,
                               const sl_value *arg, const sl_job_opts *opts,
                               sl_job *job_out);
// Map, then reduce: once every map task has ended, one task of
// reduce_function runs with the argument {"values": [result 0, ...]}
// (results in task order; large ones travel as refs). *job_out is the
// reduce job; wait on it as on any job. If a map task fails, the reduce
// job fails with that task's error.
SL_EXPORT sl_err sl_map_reduce(sl_client *c, const char *map_function,
                               sl_value *const *args, size_t n,
                               const char *reduce_function,
                               const sl_job_opts *opts, sl_job *job_out);

// Wait for jobs. Returns SL_OK when the condition holds, SL_ETIMEDOUT when
// timeout_ms (-1: forever) passed first, or SL_ECLOSED when the scheduler
// is unreachable. SL_ALWAYS collects what has arrived and returns SL_OK.
SL_EXPORT sl_err sl_wait(sl_client *c, const sl_job *jobs, size_t n_jobs,
                         sl_wait_mode mode, int timeout_ms);

// Cancel a job: its tasks end CANCELLED. Those not yet started end at
// once; running ones are stopped (their executor process is killed and
// its slot is free again within a second). A worker that runs kernels in
// threads (--executor thread) cannot stop one: it runs to its end, then
// ends CANCELLED with an error that says so. Returns once the request is
// sent; sl_wait gives the outcomes.
SL_EXPORT sl_err sl_job_cancel(sl_client *c, sl_job job);

// Number of tasks in the job, and how many have ended.
SL_EXPORT size_t sl_job_size(const sl_client *c, sl_job job);
SL_EXPORT size_t sl_job_done(const sl_client *c, sl_job job);
// The outcome of task i, or NULL for an unknown job or index.
SL_EXPORT const sl_result *sl_job_result(const sl_client *c, sl_job job,
                                         size_t i);
// The value of task i's result. A large result lives in the store and is
// fetched on the first call. *out is borrowed: valid until the job is
// released. SL_ENOTREADY while the task is pending; SL_EKERNEL when it
// failed (see sl_job_result()->error).
SL_EXPORT sl_err sl_job_value(sl_client *c, sl_job job, size_t i,
                              const sl_value **out);
// The job's statistics so far.
SL_EXPORT sl_err sl_job_stats_get(const sl_client *c, sl_job job,
                                  sl_job_stats *out);
// Forget the job: its results and its objects in the store. Waiting on it
// afterwards is an error. A job not ended is cancelled, unless tasks of
// jobs not ended take its results (futures): then it runs on for them, and
// its stored results stay until those have ended.
SL_EXPORT void sl_job_release(sl_client *c, sl_job job);

// ---------------------------------------------------------------------
// Your own kernels: modules.
//
// A module is a shared object of your own kernels, built against
// starling/kernel.h alone. Register it once per program: its bytes go to
// the store under their SHA-256 (so registering the same file again, from
// any client, uploads nothing), and each worker fetches, verifies, caches
// and loads it when a task first names one of its kernels. A kernel of a
// module is named "<sha256>/<kernel>", the same on every client and worker:
//
//     sl_module mod;
//     sl_module_register(c, "build/libmcpi.so", &mod);
//     char fn[SL_FUNCTION_MAX];
//     sl_module_function(&mod, "pi", fn, sizeof(fn)); // "<sha256>/pi"
//     sl_map(c, fn, args, n, NULL, &job);
//
// On the client that registered it, "mcpi/pi" (the module's short name,
// below) means the same. Two builds of one module are two modules: jobs
// that name them by hash run each its own, at the same time.

// Bytes of a function name, with its NUL.
#define SL_FUNCTION_MAX 256

typedef struct {
    char hash[65]; // SHA-256 of the file: 64 lowercase hex digits
    char name[64]; // short name on this client: the file's base name
                   // without "lib" and extensions ("libmcpi.so": "mcpi")
    uint64_t size; // bytes of the shared object
    bool uploaded; // this call stored the bytes (false: already there)
} sl_module;

// Register the shared object at path: hash it, store it unless the store
// has it already, and fill *out. The stored module expires after 30 days
// without a registration. The short name now means this file on this
// client, also if another file had it before. SL_EINVAL when path is not a
// regular file or not ELF, SL_EIO when it cannot be read, SL_ESTORE when
// the store failed; sl_client_errstr says more. Only the worker checks what
// the module contains: a module that cannot load fails its tasks, each
// with the reason.
SL_EXPORT sl_err sl_module_register(sl_client *c, const char *path,
                                    sl_module *out);

// Write the function name of kernel in m, "<hash>/<kernel>", into buf of
// size bytes (SL_FUNCTION_MAX is enough). SL_EINVAL when kernel is empty or
// has a '/', or the name does not fit.
SL_EXPORT sl_err sl_module_function(const sl_module *m, const char *kernel,
                                    char *buf, size_t size);

// A snapshot of the cluster, as the scheduler sees it.
typedef struct {
    uint32_t workers;   // connected worker processes
    uint32_t slots;     // executor slots over all workers
    uint32_t busy;      // slots running a task
    uint64_t queued;    // tasks waiting for a slot
    uint64_t running;   // tasks dispatched and not ended
    uint64_t done;      // tasks ended since the scheduler started
    uint32_t jobs;      // jobs with tasks not ended
    double tasks_per_s; // completions per second, last few seconds
    double gflops;      // FLOPs per second reported, last few seconds
    double uptime_s;    // since the scheduler started
} sl_cluster_status;

SL_EXPORT sl_err sl_cluster_status_get(sl_client *c, sl_cluster_status *out);

// A node's object tier: the shared memory where the node keeps large
// objects (its clients' puts, its tasks' results, copies of other nodes'
// objects), as the node's workers report it every 2 seconds.
typedef struct {
    char node[65];     // the node's name
    uint64_t objects;  // objects in it
    uint64_t bytes;    // their bytes
    uint64_t budget;   // what it may hold (starling-worker --tier-budget-mb)
    double reported_s; // when its workers last said so (Unix seconds)
} sl_node_tier;

// The tiers of the cluster's nodes that reported in the last 10 seconds:
// up to max into out, and their number in *n (which may be larger than
// max). A cluster without tiers has none.
SL_EXPORT sl_err sl_cluster_tiers_get(sl_client *c, sl_node_tier *out,
                                      size_t max, size_t *n);

#ifdef __cplusplus
}
#endif
#endif
