// client.c - libstarling: connect, map, wait, results.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The API ties the client's parts together (clientimpl.h lists them):
//   every call that waits pumps the socket (conn.c), and DONE batches fill
//   the jobs' result arrays (job.c) as they arrive.
// - A job is sent as SUBMIT chunks of at most SL_CLIENT_CHUNK_TASKS tasks (or
//   about S_CHUNK_BYTES), each packed straight from the caller's values
//   (objects.c stores the bulky ones). Each job keeps its packed chunks
//   until it ends, to submit them again to a scheduler that restarted.
// - Results arrive decoded; a large one is a ref, fetched from the store
//   only when the program asks for its value, then cached.
// - map_reduce keeps the reduce job here until its map job has ended, then
//   submits it with the map's results (values or refs) as its argument:
//   every pump looks for reduces whose map has ended.
// - Futures (sl_value_new_future) are checked here, where the jobs are
//   known: each must name a task of a job this client holds, and one of its
//   own job only before it. Each chunk then carries every task's futures
//   in a deps field, so that the scheduler need not decode the arguments.
// - A released job goes to the scheduler as RELEASE at once, unless it is
//   small and one went out less than S_RELEASE_GAP_MS ago: then the ids
//   wait in
//   c->releases for the next pump (every call that talks to the scheduler
//   pumps), so that a loop of call, wait, release costs no extra message
//   per job, while a release after a long job frees its memory in the
//   scheduler now. A released job that unended jobs' futures still name
//   waits on c->released, its stored results kept for them, until they
//   have ended.
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientimpl.h"

#define S_CHUNK_BYTES (8u << 20)
// Releases within this long of the last RELEASE wait for the next pump,
// unless the job has at least S_RELEASE_BIG tasks.
#define S_RELEASE_GAP_MS 1
#define S_RELEASE_BIG 1024

// The public job flags are the wire's (serialize/msg.h).
_Static_assert(SL_JOB_NO_SPECULATION == SL_WIRE_JOB_NO_SPECULATION,
               "job flag values differ from the wire's");
_Static_assert(SL_JOB_RETRY_ERRORS == SL_WIRE_JOB_RETRY_ERRORS,
               "job flag values differ from the wire's");

static void s_submit_ready_reduces(sl_client *c);
static void s_graph_pump(sl_client *c);

// Send the RELEASE of the jobs released since the last one.
static void
s_send_releases(sl_client *c)
{
    if (c->n_releases > 0) {
        sl__mpw_reset(&c->w);
        sl__msg_release(&c->w, c->releases, (uint32_t) c->n_releases);
        sl__client_send(c);
        c->n_releases = 0;
        c->released_ms = sl__mono_ms();
    }
}

// Delete the stored objects of job id.
static void
s_release_objects(sl_client *c, uint64_t id)
{
    char prefix[SL_STORE_KEY_LEN];
    sl__store_job_prefix(prefix, id);
    sl__client_delete_prefix(c, prefix);
}

// Pump the socket (up to timeout_ms for the first message), then submit
// the reduces whose map jobs have ended. Returns the messages handled.
static int
s_pump(sl_client *c, int timeout_ms)
{
    s_send_releases(c);
    int handled = sl__client_pump_messages(c, timeout_ms);
    s_submit_ready_reduces(c);
    s_graph_pump(c);
    return handled;
}

// ---------------------------------------------------------------------
// Connecting.

// Spin no longer than this by default ($STARLING_SPIN_US overrides).
#define S_SPIN_MAX_US 500
// The first poll after no polling.
#define S_SPIN_START_US 50

void
sl_client_set_spin(sl_client *c, int max_us)
{
    if (c != NULL) {
        c->spin_max_us = max_us > 0 ? max_us : 0;
        c->spin_us =
            c->spin_max_us < S_SPIN_START_US ? c->spin_max_us : S_SPIN_START_US;
    }
}

sl_err
sl_client_connect(sl_client **out, const char *endpoint)
{
    return sl_client_connect_keys(out, endpoint, NULL);
}

sl_err
sl_client_connect_keys(sl_client **out, const char *endpoint,
                       const sl_client_keys *keys)
{
    sl_err rv = SL_ENOMEM;
    sl_client *c = calloc(1, sizeof(*c));
    if (out == NULL) {
        free(c);
        return SL_EINVAL;
    }
    *out = NULL;
    if (c == NULL) {
        return SL_ENOMEM;
    }
    c->limits = sl__limits_default;
    sl__table_init(&c->by_id);
    c->heartbeat_ms = 1000;
    sl__mpw_init(&c->deps_w);
    const char *spin = getenv("STARLING_SPIN_US");
    sl_client_set_spin(c, spin != NULL && spin[0] != '\0' ? atoi(spin)
                                                          : S_SPIN_MAX_US);
    sl__mpw_init(&c->w);
    if ((rv = sl__client_open(c, endpoint, keys)) != SL_OK) {
        sl__log_error("%s", c->errstr);
        sl_client_destroy(&c);
        return rv;
    }
    *out = c;
    return SL_OK;
}

void
sl_client_destroy(sl_client **c_p)
{
    sl_client *c = c_p != NULL ? *c_p : NULL;
    if (c == NULL) {
        return;
    }
    while (c->jobs != NULL) {
        sl_job_release(c, (sl_job){c->jobs->id});
    }
    // Jobs that ran on for their dependents: those went above, and the
    // scheduler ends what is left of them when we say BYE.
    while (c->released != NULL) {
        sl__client_job *j = c->released;
        uint64_t id = j->id;
        c->released = j->next;
        sl__client_job_free(c, &j);
        s_release_objects(c, id);
    }
    if (c->put_objects) {
        char prefix[SL_STORE_KEY_LEN];
        sl__store_session_prefix(prefix, c->session);
        sl__client_delete_prefix(c, prefix);
    }
    sl__client_close(c);
    while (c->modules != NULL) {
        sl__client_module *m = c->modules;
        c->modules = m->next;
        free(m);
    }
    sl__store_destroy(&c->store);
    sl__tier_close(&c->tier);
    sl__mpw_fini(&c->w);
    sl__mpw_fini(&c->deps_w);
    sl__table_fini(&c->by_id);
    free(c->releases);
    free(c->futures);
    free(c);
    *c_p = NULL;
}

// ---------------------------------------------------------------------
// Submitting.

static sl__job_opts
s_wire_opts(const sl_job_opts *opts)
{
    sl_job_opts o = {0};
    if (opts != NULL) {
        o = *opts;
    }
    return (sl__job_opts){
        (uint32_t) (o.time_limit_ms > 0 ? o.time_limit_ms : 0),
        (uint32_t) (o.max_attempts > 0 ? o.max_attempts : 3),
        (uint32_t) (o.priority > 0 ? o.priority : 0), o.flags};
}

// ---------------------------------------------------------------------
// Futures.

sl_value *
sl_value_new_future(sl_job job, size_t index)
{
    return sl__value_new_future(job.id, index);
}

// Note job as a producer of dependent (once).
static sl_err
s_add_producer(sl__client_job *dependent, sl__client_job *producer)
{
    for (size_t i = 0; i < dependent->n_producers; i++) {
        if (dependent->producers[i] == producer->id) {
            return SL_OK;
        }
    }
    uint64_t *p = realloc(dependent->producers,
                          (dependent->n_producers + 1) * sizeof(*p));
    if (p == NULL) {
        return SL_ENOMEM;
    }
    dependent->producers = p;
    p[dependent->n_producers++] = producer->id;
    producer->dependents++;
    return SL_OK;
}

// Collect the futures below v, for task index of job, into c->futures
// (*n pairs so far), checking each against the jobs c holds.
static sl_err
s_collect_futures(sl_client *c, sl__client_job *job, size_t index,
                  const sl_value *v, size_t *n)
{
    sl_type type = sl_value_type(v);
    if (type == SL_LIST || type == SL_MAP) {
        size_t count =
            type == SL_LIST ? sl_value_list_size(v) : sl_value_map_size(v);
        for (size_t i = 0; i < count; i++) {
            const sl_value *item = type == SL_LIST
                                       ? sl_value_list_at(v, i)
                                       : sl_value_map_value_at(v, i);
            sl_err rv = s_collect_futures(c, job, index, item, n);
            if (rv != SL_OK) {
                return rv;
            }
        }
        return SL_OK;
    }
    if (type != SL_FUTURE) {
        return SL_OK;
    }
    uint64_t fj = sl_future_job(v), fi = sl_future_index(v);
    sl__client_job *p = sl__client_job_find(c, fj);
    if (p == NULL) {
        return sl__client_err(c, SL_EINVAL,
                              "task %zu: a future names job %016" PRIx64
                              ", which this client does not hold (never "
                              "submitted, or released)",
                              index, fj);
    }
    if (fi >= p->n) {
        return sl__client_err(c, SL_EINVAL,
                              "task %zu: a future names task %" PRIu64
                              " of job %016" PRIx64 ", which has %zu task%s",
                              index, fi, fj, p->n, p->n == 1 ? "" : "s");
    }
    if (p == job && fi >= index) {
        return sl__client_err(c, SL_EINVAL,
                              "task %zu: a future names task %" PRIu64
                              " of its own job, which does not come before "
                              "it",
                              index, fi);
    }
    if (p->held) {
        return sl__client_err(c, SL_EINVAL,
                              "task %zu: a future names the reduce job "
                              "%016" PRIx64 ", which map_reduce holds back",
                              index, fj);
    }
    // The same future twice is listed twice (looking for it would cost a
    // task of many futures their square); each is one edge and one input.
    if (*n == c->cap_futures) {
        size_t cap = c->cap_futures ? 2 * c->cap_futures : 16;
        uint64_t *f = realloc(c->futures, 2 * cap * sizeof(*f));
        if (f == NULL) {
            return sl__client_err(c, SL_ENOMEM, "out of memory for futures");
        }
        c->futures = f;
        c->cap_futures = cap;
    }
    c->futures[2 * *n] = fj;
    c->futures[2 * *n + 1] = fi;
    (*n)++;
    return p != job && s_add_producer(job, p) != SL_OK
               ? sl__client_err(c, SL_ENOMEM, "out of memory for futures")
               : SL_OK;
}

// Append task index's deps entry to c->deps_w: nil, or its futures.
// *any is set when it has some.
static sl_err
s_pack_deps(sl_client *c, sl__client_job *job, size_t index,
            const sl_value *arg, bool *any)
{
    size_t n = 0;
    sl_err rv = s_collect_futures(c, job, index, arg, &n);
    if (rv != SL_OK) {
        return rv;
    }
    if (n == 0) {
        msgpack_pack_nil(&c->deps_w.pk);
        return SL_OK;
    }
    *any = true;
    msgpack_pack_array(&c->deps_w.pk, (uint32_t) (2 * n));
    for (size_t k = 0; k < 2 * n; k++) {
        msgpack_pack_uint64(&c->deps_w.pk, c->futures[k]);
    }
    return SL_OK;
}

// The chunk's deps field, an array of n entries, in c->deps_w (whose
// entries it wraps): or NULL when no task of the chunk named a future.
static sl__mpw *
s_deps_field(sl_client *c, uint32_t n, bool any)
{
    if (!any) {
        sl__mpw_reset(&c->deps_w);
        return NULL;
    }
    sl__mpw entries = c->deps_w; // the sbuffer moves; the packer is rebuilt
    sl__mpw_init(&c->deps_w);
    msgpack_pack_array(&c->deps_w.pk, n);
    sl__mpw_raw(&c->deps_w, entries.buf.data, entries.buf.size);
    c->deps_w.failed |= entries.failed;
    msgpack_sbuffer_destroy(&entries.buf);
    return &c->deps_w;
}

// Released jobs that ran on for their dependents and that nothing names
// any more are finished with (job.c lets a job's producers go when it
// ends, and marks c->graph_ended).
static void
s_graph_pump(sl_client *c)
{
    if (!c->graph_ended) {
        return;
    }
    c->graph_ended = false;
    for (sl__client_job **pp = &c->released; *pp != NULL;) {
        sl__client_job *j = *pp;
        if (j->dependents > 0 || j->done < j->n) {
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        uint64_t id = j->id;
        sl__client_job_free(c, &j);
        s_release_objects(c, id); // it ran for others: they had its results
    }
}

static sl_err
s_submit(sl_client *c, sl__client_job *job, const char *function,
         const sl__job_opts *wopts, sl_value *const *args)
{
    size_t first = 0;
    if (job->function != function) {
        sl__strlcpy(job->function, function, sizeof(job->function));
    }
    job->opts = *wopts;
    job->epoch = c->epoch;
    while (first < job->n) {
        size_t count = job->n - first < SL_CLIENT_CHUNK_TASKS
                           ? job->n - first
                           : SL_CLIENT_CHUNK_TASKS;
        // Pack args into a scratch buffer first: the chunk may end early
        // when it grows past S_CHUNK_BYTES.
        sl__mpw_reset(&c->w);
        sl__mpw_reset(&c->deps_w);
        bool any = false;
        size_t i = 0;
        for (; i < count && c->w.buf.size < S_CHUNK_BYTES; i++) {
            sl_err rv = s_pack_deps(c, job, first + i, args[first + i], &any);
            if (rv != SL_OK) {
                return rv;
            }
            rv = sl__client_pack_arg(c, job, first + i, args[first + i]);
            if (rv != SL_OK) {
                return rv == SL_EINVAL
                           ? sl__client_err(c, rv,
                                            "argument of task %zu nests "
                                            "deeper than the limit",
                                            first + i)
                           : rv;
            }
        }
        // The packed arguments become the chunk's, kept for resubmission.
        sl__client_chunk *ch;
        sl__mpw *deps = s_deps_field(c, (uint32_t) i, any);
        if (sl__client_job_add_chunk(job, first, (uint32_t) i, &c->w, deps,
                                     &ch) != SL_OK) {
            return sl__client_err(c, SL_ENOMEM,
                                  "out of memory packing tasks %zu..%zu of a "
                                  "job",
                                  first, first + i - 1);
        }
        sl__client_send_chunk(c, job, ch, NULL);
        first += i;
    }
    return SL_OK;
}

static sl_err
s_map(sl_client *c, const char *function, sl_value *const *args, size_t n,
      const sl_job_opts *opts, sl__client_job **job_out)
{
    if (c == NULL || function == NULL || (n > 0 && args == NULL) || n == 0) {
        return c != NULL ? sl__client_err(c, SL_EINVAL,
                                          "map needs a function and at "
                                          "least one task")
                         : SL_EINVAL;
    }
    char fn[SL_FUNCTION_MAX];
    sl_err rv = sl__client_function_resolve(c, function, fn);
    if (rv != SL_OK) {
        return rv;
    }
    if (n > c->limits.max_job_tasks) {
        return sl__client_err(c, SL_ELIMIT,
                              "a job has at most %" PRIu64 " tasks",
                              c->limits.max_job_tasks);
    }
    sl__job_opts wopts = s_wire_opts(opts);
    sl__client_job *job = sl__client_job_new(c, n);
    if (job == NULL) {
        return sl__client_err(c, SL_ENOMEM,
                              "out of memory for a job of %zu tasks", n);
    }
    rv = s_submit(c, job, fn, &wopts, args);
    if (rv != SL_OK) {
        // Whatever chunks went out are cancelled; the job is forgotten.
        sl__mpw_reset(&c->w);
        sl__msg_job(&c->w, SL_MSG_CANCEL, job->id);
        sl__client_send(c);
        sl__client_job_drop_producers(c, job);
        sl__client_job_unlink(c, job);
        sl__client_job_free(c, &job);
        return rv;
    }
    *job_out = job;
    return SL_OK;
}

sl_err
sl_map(sl_client *c, const char *function, sl_value *const *args, size_t n,
       const sl_job_opts *opts, sl_job *job_out)
{
    sl__client_job *job;
    sl_err rv = s_map(c, function, args, n, opts, &job);
    if (rv == SL_OK) {
        job_out->id = job->id;
        s_pump(c, 0);
    }
    return rv;
}

sl_err
sl_call_async(sl_client *c, const char *function, const sl_value *arg,
              const sl_job_opts *opts, sl_job *job_out)
{
    sl_value *args[1] = {(sl_value *) arg};
    return sl_map(c, function, args, 1, opts, job_out);
}

sl_err
sl_map_reduce(sl_client *c, const char *map_function, sl_value *const *args,
              size_t n, const char *reduce_function, const sl_job_opts *opts,
              sl_job *job_out)
{
    char reduce_fn[SL_FUNCTION_MAX];
    if (c == NULL || reduce_function == NULL) {
        return c != NULL
                   ? sl__client_err(c, SL_EINVAL, "bad reduce function name")
                   : SL_EINVAL;
    }
    sl_err rv = sl__client_function_resolve(c, reduce_function, reduce_fn);
    if (rv != SL_OK) {
        return rv;
    }
    sl__client_job *map;
    if ((rv = s_map(c, map_function, args, n, opts, &map)) != SL_OK) {
        return rv;
    }
    sl__client_job *reduce = sl__client_job_new(c, 1);
    if (reduce == NULL) {
        return sl__client_err(c, SL_ENOMEM, "out of memory");
    }
    reduce->held = true;
    c->held_reduces++;
    reduce->map_id = map->id;
    sl__strlcpy(reduce->function, reduce_fn, sizeof(reduce->function));
    reduce->opts = s_wire_opts(opts);
    job_out->id = reduce->id;
    s_pump(c, 0);
    return SL_OK;
}

// The reduce's argument: {"values": [each map result, in order]}.
static sl_value *
s_reduce_arg(const sl__client_job *map)
{
    sl_value *list = sl_value_new_list();
    sl_value *arg = sl_value_new_map();
    for (size_t i = 0; list != NULL && i < map->n; i++) {
        const sl_value *v = map->results[i].value;
        sl_value *item = v != NULL ? sl_value_copy(v) : sl_value_new_nil();
        if (item == NULL || sl_value_list_append(list, &item) != SL_OK) {
            sl_value_destroy(&item);
            sl_value_destroy(&list);
        }
    }
    if (list == NULL || arg == NULL ||
        sl_value_map_set(arg, "values", &list) != SL_OK) {
        sl_value_destroy(&list);
        sl_value_destroy(&arg);
    }
    return arg;
}

static void
s_submit_reduce(sl_client *c, sl__client_job *reduce, sl__client_job *map)
{
    for (size_t i = 0; i < map->n; i++) {
        const sl_result *r = &map->results[i].pub;
        if (r->status != SL_TASK_OK) {
            char text[SL_ERRSTR_LEN];
            sl__fmt(text, sizeof(text), "map task %zu did not succeed: %s", i,
                    r->error != NULL ? r->error : "no result");
            sl__client_job_fail(reduce, SL_TASK_FAILED, text);
            return;
        }
    }
    sl_value *arg = s_reduce_arg(map);
    if (arg == NULL) {
        sl__client_job_fail(reduce, SL_TASK_FAILED,
                            "out of memory for the reduce");
        return;
    }
    sl_value *args[1] = {arg};
    reduce->submitted = sl__mono();
    if (s_submit(c, reduce, reduce->function, &reduce->opts, args) != SL_OK) {
        sl__client_job_fail(reduce, SL_TASK_FAILED, c->errstr);
    }
    sl_value_destroy(&arg);
}

static void
s_submit_ready_reduces(sl_client *c)
{
    for (sl__client_job *job = c->jobs; c->held_reduces > 0 && job != NULL;
         job = job->next) {
        if (!job->held) {
            continue;
        }
        sl__client_job *map = sl__client_job_find(c, job->map_id);
        if (map == NULL) {
            job->held = false;
            c->held_reduces--;
            sl__client_job_fail(job, SL_TASK_FAILED,
                                "its map job was released");
        } else if (map->done == map->n) {
            job->held = false;
            c->held_reduces--;
            s_submit_reduce(c, job, map);
        }
    }
}

// ---------------------------------------------------------------------
// Waiting: spin, then sleep.
//
// On a virtual machine a sleeping process's vCPU halts, and waking it
// again for each of the several hops of a round trip costs more than the
// hops themselves (on the development VM a bare ZeroMQ round trip took
// 37 us with busy vCPUs and 75 us with idle ones). So sl_wait polls the
// socket for a while before it sleeps, as MPI's waits do. How long
// adapts the way Linux's haltpoll governor does: a sleep that ended
// within the limit means a longer poll would have caught the message,
// so the poll doubles; a longer sleep means polling was wasted, so it
// halves, down to none. A job of many tasks, whose DONEs come a
// millisecond apart, soon stops spinning; a program making one call
// after another spins through each round trip.

// Poll without sleeping for up to c->spin_us. Returns the number of
// messages handled (0: none came).
static int
s_spin(sl_client *c)
{
    if (c->spin_us <= 0) {
        return 0;
    }
    double end = sl__mono() + c->spin_us * 1e-6;
    int handled = 0;
    do {
        handled = s_pump(c, 0);
        if (handled == 0) {
            sched_yield(); // to whatever shares this CPU and has work
        }
    } while (handled == 0 && sl__mono() < end);
    return handled;
}

// After a sleep of slept seconds that followed a fruitless spin.
static void
s_spin_adapt(sl_client *c, double slept)
{
    if (c->spin_max_us <= 0) {
        return;
    }
    if ((c->spin_us + slept * 1e6) <= c->spin_max_us) {
        int grown =
            c->spin_us < S_SPIN_START_US ? S_SPIN_START_US : c->spin_us * 2;
        c->spin_us = grown < c->spin_max_us ? grown : c->spin_max_us;
    } else {
        c->spin_us = c->spin_us / 2 < S_SPIN_START_US ? 0 : c->spin_us / 2;
    }
}

static bool
s_all_done(const sl_client *c, const sl_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const sl__client_job *job = sl__client_job_find(c, jobs[i].id);
        if (job != NULL && job->done < job->n) {
            return false;
        }
    }
    return true;
}

static size_t
s_done_sum(const sl_client *c, const sl_job *jobs, size_t n)
{
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        const sl__client_job *job = sl__client_job_find(c, jobs[i].id);
        sum += job != NULL ? job->done : 0;
    }
    return sum;
}

sl_err
sl_wait(sl_client *c, const sl_job *jobs, size_t n_jobs, sl_wait_mode mode,
        int timeout_ms)
{
    if (c == NULL || (n_jobs > 0 && jobs == NULL)) {
        return SL_EINVAL;
    }
    for (size_t i = 0; i < n_jobs; i++) {
        if (sl__client_job_find(c, jobs[i].id) == NULL) {
            return sl__client_err(c, SL_ENOTFOUND,
                                  "unknown or released job %016" PRIx64,
                                  jobs[i].id);
        }
    }
    size_t start = s_done_sum(c, jobs, n_jobs);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sl__mono_ms() + timeout_ms;
    s_pump(c, 0);
    for (;;) {
        if (s_all_done(c, jobs, n_jobs) || mode == SL_ALWAYS ||
            (mode == SL_ANY_COMPLETED && s_done_sum(c, jobs, n_jobs) > start)) {
            return SL_OK;
        }
        int64_t left = deadline - sl__mono_ms();
        if (left <= 0) {
            return SL_ETIMEDOUT;
        }
        if (s_spin(c) == 0) {
            double slept = sl__mono();
            s_pump(c, (int) (left < c->heartbeat_ms ? left : c->heartbeat_ms));
            s_spin_adapt(c, sl__mono() - slept);
        }
    }
}

// ---------------------------------------------------------------------
// Jobs and results.

sl_err
sl_job_cancel(sl_client *c, sl_job job)
{
    sl__client_job *j = c != NULL ? sl__client_job_find(c, job.id) : NULL;
    if (j == NULL) {
        return SL_ENOTFOUND;
    }
    if (j->held) {
        j->held = false;
        c->held_reduces--;
        sl__client_job_fail(j, SL_TASK_CANCELLED, "cancelled by the client");
        return SL_OK;
    }
    sl__mpw_reset(&c->w);
    sl__msg_job(&c->w, SL_MSG_CANCEL, job.id);
    sl__client_send(c);
    return SL_OK;
}

sl_err
sl_job_value(sl_client *c, sl_job job, size_t i, const sl_value **out)
{
    sl__client_job *j = c != NULL ? sl__client_job_find(c, job.id) : NULL;
    if (j == NULL || i >= j->n) {
        return SL_ENOTFOUND;
    }
    sl__client_result *r = &j->results[i];
    if (r->pub.status == SL_TASK_PENDING) {
        return SL_ENOTREADY;
    }
    if (r->pub.status != SL_TASK_OK) {
        return sl__client_err(c, SL_EKERNEL, "task %zu: %s", i,
                              r->pub.error != NULL ? r->pub.error : "failed");
    }
    if (r->value == NULL && (r->value = sl_value_new_nil()) == NULL) {
        return SL_ENOMEM;
    }
    if (sl_value_type(r->value) == SL_REF && !r->fetched) {
        sl_value *got = NULL;
        sl_err rv = sl_get(c, r->value, &got);
        if (rv != SL_OK) {
            return rv;
        }
        sl_value_destroy(&r->value);
        r->value = got;
        r->fetched = true;
    }
    *out = r->value;
    return SL_OK;
}

// Queue id for the next RELEASE; sent at once when 256 wait, when none
// went out within S_RELEASE_GAP_MS, or when the job is big (it holds the
// scheduler's memory until then, and the client may not call again soon).
static sl_err
s_queue_release(sl_client *c, uint64_t id, size_t tasks)
{
    if (c->n_releases == c->cap_releases) {
        size_t cap = c->cap_releases ? 2 * c->cap_releases : 64;
        uint64_t *r = realloc(c->releases, cap * sizeof(*r));
        if (r == NULL) {
            return SL_ENOMEM;
        }
        c->releases = r;
        c->cap_releases = cap;
    }
    c->releases[c->n_releases++] = id;
    if (c->n_releases >= 256 || tasks >= S_RELEASE_BIG ||
        sl__mono_ms() - c->released_ms >= S_RELEASE_GAP_MS) {
        s_send_releases(c);
    }
    return SL_OK;
}

void
sl_job_release(sl_client *c, sl_job job)
{
    sl__client_job *j = c != NULL ? sl__client_job_find(c, job.id) : NULL;
    if (j == NULL) {
        return;
    }
    // Unended jobs whose futures name it keep it running for them.
    if (j->held) {
        c->held_reduces--;
    }
    if (j->done < j->n && !j->held && j->dependents == 0) {
        sl_job_cancel(c, job);
    }
    uint64_t id = j->id;
    if (!j->held && s_queue_release(c, id, j->n) != SL_OK) {
        sl__mpw_reset(&c->w); // no memory to batch it: send it alone
        sl__msg_release(&c->w, &id, 1);
        sl__client_send(c);
    }
    sl__client_job_unlink(c, j);
    if (j->dependents > 0) {
        // Tasks of other jobs still take its results: it runs on, and its
        // stored objects stay, until they have ended; its own producers'
        // stay until it has ended (job.c).
        j->released = true;
        j->next = c->released;
        c->released = j;
        return;
    }
    sl__client_job_drop_producers(c, j);
    // The results go first: values mapped from the node's tier hold their
    // files, which can then be given to the tier's pool for reuse. Results
    // not received yet may be stored too.
    bool stored = j->stored_objects || j->done < j->n;
    sl__client_job_free(c, &j);
    if (stored) {
        s_release_objects(c, id);
    }
}

sl_err
sl_cluster_status_get(sl_client *c, sl_cluster_status *out)
{
    if (c == NULL || out == NULL) {
        return SL_EINVAL;
    }
    c->got_status = false;
    sl__mpw_reset(&c->w);
    sl__msg_empty(&c->w, SL_MSG_STATUS);
    sl__client_send(c);
    int64_t deadline = sl__mono_ms() + SL_CLIENT_CONNECT_TIMEOUT_MS;
    while (!c->got_status) {
        int64_t left = deadline - sl__mono_ms();
        if (left <= 0) {
            return sl__client_err(c, SL_ETIMEDOUT,
                                  "no status from the scheduler at %s",
                                  c->endpoint);
        }
        s_pump(c, (int) (left < 100 ? left : 100));
    }
    out->workers = c->status.workers;
    out->slots = c->status.slots;
    out->busy = c->status.busy;
    out->queued = c->status.queued;
    out->running = c->status.running;
    out->done = c->status.done;
    out->jobs = c->status.jobs;
    out->tasks_per_s = c->status.tasks_per_s;
    out->gflops = c->status.gflops;
    out->uptime_s = c->status.uptime_s;
    return SL_OK;
}
