// job.c - the scheduler's jobs: SUBMIT, CANCEL, STATUS, the end of each
// task, and its outcomes batched into DONE.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A task is (job, index). Its state lives in the job's task array: the
//   offset of its argument inside the SUBMIT frame that carried it (kept
//   alive as a chunk, never copied), its attempts, and QUEUED / RUNNING /
//   DONE. The queue holds runs of task indices (queue.h).
// - What a peer can make us hold is bounded: a job's task array grows with
//   the chunks that arrive (not with the total a SUBMIT claims), a client
//   has at most max_client_jobs jobs, and a job's outcome buffer is freed
//   whenever it has nothing outstanding.
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sched_impl.h"

// Outcomes of a job wait up to this long to travel in one DONE, unless
// the job has ended or the DONE is full: a 1,000,000-task map then costs
// its client a thousand messages a second, not a message per task, and a
// job's first outcome after a pause goes out at once.
#define S_DONE_GAP_MS 1
// SUBMIT frames smaller than this are copied when kept (s_job_add_chunk).
#define S_CHUNK_COPY_MAX (64u << 10)
// Fields of a SUBMIT that this version reads (PROTOCOL.md): the seventh,
// the futures of each task, is optional.
#define S_SUBMIT_FIELDS 7
// Futures one task may name.
#define S_TASK_FUTURES_MAX (1u << 20)

// ---------------------------------------------------------------------
// Jobs.

static sl__job *
s_job_new(sl__sched *self, const sl__submit *m, sl__peer *client)
{
    sl__job *job = sl__xcalloc(1, sizeof(*job));
    job->id = m->job;
    job->client_key = client->key;
    memcpy(job->function, m->function.p, m->function.len);
    job->function_len = m->function.len;
    sl__strlcpy(job->home, client->node, sizeof(job->home));
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
    job->keep = (m->opts.flags & SL_SUBMIT_KEEP) != 0;
    job->exec_ms = -1;
    sl__mpw_init(&job->done_buf);
    sl__table_put(&self->jobs, job->id, job);
    client->n_jobs++;
    return job;
}

// Make room for tasks [0, end) of job. The array grows as chunks arrive: a
// SUBMIT that claims a huge total but sends a few tasks costs a few tasks.
static void
s_job_reserve(sl__job *job, uint64_t end)
{
    if (end <= job->cap_tasks) {
        return;
    }
    uint64_t cap = job->cap_tasks * 2 > end ? job->cap_tasks * 2 : end;
    cap = cap < job->total ? cap : job->total;
    job->tasks = sl__xrealloc(job->tasks, cap * sizeof(*job->tasks));
    memset(job->tasks + job->cap_tasks, 0,
           (cap - job->cap_tasks) * sizeof(*job->tasks));
    uint64_t old_cap = job->cap_tasks;
    job->cap_tasks = cap;
    sl__graph_job_reserve(job, old_cap);
}

static void
s_job_destroy(sl__sched *self, sl__job **job_p)
{
    sl__job *job = *job_p;
    if (job == NULL) {
        return;
    }
    sl__table_del(&self->jobs, job->id);
    sl__peer *client =
        job->client_key ? sl__table_get(&self->peers, job->client_key) : NULL;
    if (client != NULL && client->n_jobs > 0) {
        client->n_jobs--;
    }
    sl__graph_job_free(self, job); // it reads the chunks
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

void
sl__jobs_init(sl__sched *self)
{
    sl__table_init(&self->jobs);
}

void
sl__jobs_fini(sl__sched *self)
{
    for (size_t i = 0; i < self->jobs.cap; i++) {
        sl__job *job = self->jobs.keys[i] ? self->jobs.vals[i] : NULL;
        if (job != NULL) {
            s_job_destroy(self, &job);
            i--; // deletion may have shifted another job into slot i
        }
    }
    sl__table_fini(&self->jobs);
}

static void
s_rate_add(sl__sched *self, uint64_t done, double flops)
{
    int64_t sec = self->now_ms / 1000;
    sl__bucket *b = &self->rate[sec % (SL_RATE_WINDOW + 2)];
    if (b->second != sec) {
        b->second = sec;
        b->done = 0;
        b->flops = 0;
    }
    b->done += done;
    b->flops += flops;
}

void
sl__backup_forget(sl__sched *self, sl__task *t)
{
    if (t->flags & SL_SCHED_WANT_BACKUP) {
        t->flags &= (uint8_t) ~SL_SCHED_WANT_BACKUP;
        self->backups_wanted--;
    }
}

static void
s_flush_job(sl__sched *self, sl__job *job)
{
    sl__peer *client =
        job->client_key ? sl__table_get(&self->peers, job->client_key) : NULL;
    if (client != NULL && job->n_pending > 0) {
        sl__mpw_reset(&self->w);
        sl__msg_done_begin(&self->w, job->id, job->n_pending);
        sl__mpw_append(&self->w, &job->done_buf);
        sl__peer_send(self, client, &self->w);
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

// End the dependents whose inputs failed (graph.c put them on
// self->graph.failing), and theirs in turn, in a loop: the outermost
// sl__task_end drains the list.
static void
s_fail_dependents(sl__sched *self)
{
    sl__graph *g = &self->graph;
    if (g->draining) {
        return;
    }
    g->draining = true;
    while (g->n_failing > 0) {
        sl__failing f = g->failing[--g->n_failing];
        sl__job *d = sl__table_get(&self->jobs, f.job);
        const sl__job *p = sl__table_get(&self->jobs, f.input_job);
        if (d == NULL || d->tasks[f.index].state == SL_SCHED_DONE) {
            continue;
        }
        uint32_t status = 0;
        const uint8_t *text = NULL;
        size_t len = 0;
        char why[SL_ERRSTR_LEN];
        if (p != NULL && sl__graph_kept(p, f.input, &status, &text, &len)) {
            sl__fmt(why, sizeof(why),
                    "input job %016" PRIx64 " task %u failed: %.*s",
                    f.input_job, f.input,
                    (int) (len < SL_ERRSTR_LEN ? len : SL_ERRSTR_LEN),
                    (const char *) text);
        } else {
            sl__fmt(why, sizeof(why),
                    "input job %016" PRIx64 " task %u: its result is not "
                    "known to this scheduler (it restarted, and the task "
                    "ended before): submit the tasks that take it again",
                    f.input_job, f.input);
        }
        sl__task_end_with(self, d, f.index, SL_WIRE_FAILED, why);
    }
    g->draining = false;
}

void
sl__task_end(sl__sched *self, sl__job *job, uint32_t index,
             const sl__outcome *o)
{
    sl__task *t = &job->tasks[index];
    if (t->state == SL_SCHED_QUEUED) {
        self->queued--;
    } else if (t->state == SL_SCHED_WAITING) {
        self->graph.waiting--;
    }
    sl__backup_forget(self, t);
    t->state = SL_SCHED_DONE;
    job->done++;
    self->done_total++;
    s_rate_add(self, 1, o->stats.flops);
    sl__stats_task_end(&self->observe.stats, o);
    sl__outcome out = *o;
    out.index = index;
    out.attempt = t->attempts;
    sl__msg_outcome(&job->done_buf, &out, false);
    job->n_pending++;
    sl__job_mark_dirty(self, job);
    if (job->n_pending >= self->opts.limits.max_tasks) {
        s_flush_job(self, job); // a DONE may not carry more than this
    }
    if (o->status == SL_WIRE_OK) {
        sl__graph_keep(job, index, o->status, o->value, o->value_len);
    } else {
        sl__graph_keep(job, index, o->status, o->error.p, o->error.len);
    }
    sl__graph_input_ended(self, job, index, o->status);
    sl__graph_dependent_ended(self, job, index);
    s_fail_dependents(self);
}

void
sl__task_end_with(sl__sched *self, sl__job *job, uint32_t index,
                  uint32_t status, const char *why)
{
    sl__outcome o = {0};
    o.status = status;
    o.error.p = why;
    o.error.len = (uint32_t) strlen(why);
    sl__task_end(self, job, index, &o);
}

// Tell every worker to stop the tasks of job_id it runs (CANCEL [job]):
// an executor process is killed and replaced, and each task comes back
// CANCELLED, giving its credit back.
static void
s_broadcast_cancel(sl__sched *self, uint64_t job_id)
{
    for (size_t i = 0; i < self->peers.cap; i++) {
        sl__peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL && p->is_worker && p->ready) {
            sl__mpw_reset(&self->w);
            sl__msg_job(&self->w, SL_MSG_CANCEL, job_id);
            sl__peer_send(self, p, &self->w);
        }
    }
}

void
sl__job_cancel(sl__sched *self, sl__job *job, const char *why, bool unsubmitted)
{
    bool first = !job->cancelled;
    job->cancelled = true;
    for (uint64_t i = 0; i < job->received; i++) {
        uint8_t state = job->tasks[i].state;
        if (state == SL_SCHED_QUEUED || state == SL_SCHED_WAITING) {
            sl__task_end_with(self, job, (uint32_t) i, SL_WIRE_CANCELLED, why);
        }
    }
    if (first && job->running > 0) {
        s_broadcast_cancel(self, job->id);
    }
    if (!unsubmitted) {
        return;
    }
    // Their client is gone, so the chunks that have not arrived never will:
    // the job shrinks to the tasks it has.
    job->total = job->received;
}

// ---------------------------------------------------------------------
// SUBMIT.

static sl_err
s_submit_check(sl__sched *self, sl__peer *client, const sl__submit *m,
               sl__job *job, char *why)
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
s_submit_args(sl__sched *self, sl__job *job, sl__submit *m, const uint8_t *base,
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
        sl__task *t = &job->tasks[m->first + i];
        t->chunk = job->n_chunks;
        t->arg_off = (uint32_t) (start - base);
        t->arg_len = (uint32_t) len;
        t->state = sl__msg_submit_ended(m, i) ? SL_SCHED_DONE : SL_SCHED_QUEUED;
        t->attempts = 0;
        *to_run += t->state == SL_SCHED_QUEUED;
    }
    return SL_OK;
}

// SUBMIT's seventh field, the futures of each task, at m->args: check it
// whole (each future names a task of this client's, submitted before), so
// that a refused chunk commits nothing, and leave m->args after it. *deps
// is where it starts.
static sl_err
s_deps_check(sl__sched *self, sl__peer *client, const sl__job *job,
             sl__submit *m, sl__mpr *deps, char *why)
{
    uint32_t n;
    if (sl__mpr_array(&m->args, &n) != 0 || n != m->n_args) {
        sl__fmt(why, SL_ERRSTR_LEN,
                "malformed message: SUBMIT deps (one entry per task)");
        return SL_EPROTO;
    }
    *deps = m->args;
    for (uint32_t i = 0; i < n; i++) {
        sl__mpr list;
        uint32_t k;
        sl_err rv =
            sl__msg_deps_entry(&m->args, S_TASK_FUTURES_MAX, &k, &list, why);
        if (rv == SL_OK && k > 0) {
            rv = sl__graph_check(self, client, job->id, m->first + i, list, k,
                                 why);
        }
        if (rv != SL_OK) {
            return rv;
        }
    }
    return SL_OK;
}

// Record the futures of each task that names any (graph.c): it waits, and
// is taken from *to_run, or fails at once when an input has already failed
// (graph.c puts it on self->graph.failing, which the caller drains).
static void
s_deps_commit(sl__sched *self, sl__job *job, const sl__submit *m, sl__mpr deps,
              const uint8_t *base, uint32_t *to_run)
{
    char why[SL_ERRSTR_LEN];
    for (uint32_t i = 0; i < m->n_args; i++) {
        sl__mpr list;
        uint32_t k;
        uint32_t off = (uint32_t) (deps.p - base);
        (void) sl__msg_deps_entry(&deps, S_TASK_FUTURES_MAX, &k, &list, why);
        uint32_t index = (uint32_t) (m->first + i);
        if (k == 0 || job->tasks[index].state == SL_SCHED_DONE) {
            continue;
        }
        if (!sl__graph_add(self, job, index, off, list, k) &&
            sl__graph_waits(job, index)) {
            job->tasks[index].state = SL_SCHED_WAITING;
            self->graph.waiting++;
            (*to_run)--;
        }
    }
}

// The tasks a chunk's ended bitmap marks ended before this scheduler
// started: their results are with the client, not here. Each is kept as
// failed, saying so, so that a future naming one fails its task (graph.c)
// rather than let it run with nothing in the result's place.
static void
s_keep_ended_before(sl__job *job, const sl__submit *m)
{
    static const char why[] = "it ended before the scheduler restarted, "
                              "and its result is with the client";
    for (uint32_t i = 0; i < m->n_args; i++) {
        if (sl__msg_submit_ended(m, i)) {
            sl__graph_keep(job, (uint32_t) (m->first + i), SL_WIRE_FAILED, why,
                           sizeof(why) - 1);
        }
    }
}

// The frame must end where the message does: we keep the whole frame, so
// bytes after it would be memory a peer makes us hold for nothing. Fields
// after the args (a later version's) are skipped, not refused.
static sl_err
s_submit_end(sl__sched *self, sl__submit *m, uint32_t nfields, char *why)
{
    for (uint32_t i = nfields > 6 ? S_SUBMIT_FIELDS : 6; i < nfields; i++) {
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
s_job_add_chunk(sl__job *job, zmq_msg_t *body)
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

void
sl__on_submit(sl__sched *self, sl__peer *client, sl__mpr *r, uint32_t nfields,
              zmq_msg_t *body)
{
    sl__submit m;
    char why[SL_ERRSTR_LEN];
    sl_err rv = sl__msg_submit_decode(r, &self->opts.limits, &m, why);
    if (rv != SL_OK) {
        sl__peer_reject(self, client, rv, why, 0);
        return;
    }
    sl__job *job = sl__table_get(&self->jobs, m.job);
    if ((rv = s_submit_check(self, client, &m, job, why)) != SL_OK) {
        sl__peer_send_error(self, client, rv, why, m.job);
        return;
    }
    bool created = job == NULL;
    if (created && client->n_jobs >= self->opts.max_client_jobs) {
        sl__fmt(why, sizeof(why),
                "job %016" PRIx64 " refused: this client already has %u "
                "jobs, the most one client may have at once",
                m.job, client->n_jobs);
        sl__peer_send_error(self, client, SL_ELIMIT, why, m.job);
        return;
    }
    if (created) {
        job = s_job_new(self, &m, client);
    }
    s_job_reserve(job, m.first + m.n_args);
    uint32_t to_run;
    const uint8_t *base = zmq_msg_data(body);
    sl__mpr deps = {NULL, NULL};
    rv = s_submit_args(self, job, &m, base, &to_run, why);
    if (rv == SL_OK && nfields > 6) {
        rv = s_deps_check(self, client, job, &m, &deps, why);
    }
    if (rv == SL_OK) {
        rv = s_submit_end(self, &m, nfields, why);
    }
    if (rv != SL_OK) {
        if (created) {
            s_job_destroy(self, &job);
        }
        sl__peer_reject(self, client, rv, why, m.job);
        return;
    }
    uint32_t ended = m.n_args - to_run; // the bitmap's, before any waits
    if (ended > 0) {
        s_keep_ended_before(job, &m);
    }
    if (deps.p != NULL) {
        s_deps_commit(self, job, &m, deps, base, &to_run);
    }
    s_job_add_chunk(job, body);
    job->received += m.n_args;
    job->done += ended;
    self->queued += to_run;
    if (job->done == job->total) {
        sl__job_mark_dirty(self,
                           job); // nothing left to run: the flush frees it
    }
    if (to_run > 0) {
        sl__queue_push(&self->queue, (int) job->opts.priority,
                       (sl__run){job->id, (uint32_t) m.first,
                                 (uint32_t) (m.first + m.n_args)});
    }
    if (!(m.opts.flags & SL_SUBMIT_NO_ACCEPTED)) {
        sl__mpw_reset(&self->w);
        sl__msg_accepted(&self->w, m.job, m.first, m.n_args);
        sl__peer_send(self, client, &self->w);
    }
    s_fail_dependents(self); // tasks whose inputs had failed already
    if (job->cancelled) {
        sl__job_cancel(self, job, "cancelled by the client", false);
    }
}

// ---------------------------------------------------------------------
// CANCEL and STATUS.

void
sl__on_cancel(sl__sched *self, sl__peer *client, sl__mpr *r)
{
    uint64_t id;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_job_decode(r, &id, why) != SL_OK) {
        sl__peer_reject(self, client, SL_EPROTO, why, 0);
        return;
    }
    sl__job *job = sl__table_get(&self->jobs, id);
    if (job == NULL || job->client_key != client->key) {
        return; // already finished, or never ours: nothing to cancel
    }
    sl__job_cancel(self, job, "cancelled by the client", false);
}

// RELEASE [[job, ...]]: the client is done with these jobs. A job is
// freed once it has ended, and once no unended task names it (graph.c);
// one not ended is cancelled, unless such tasks wait for it: then it runs
// on for them.
void
sl__on_release(sl__sched *self, sl__peer *client, sl__mpr *r)
{
    uint32_t n;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_release_decode(r, &self->opts.limits, &n, why) != SL_OK) {
        sl__peer_reject(self, client, SL_EPROTO, why, 0);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id;
        if (sl__mpr_u64(r, &id) != 0) {
            sl__peer_reject(self, client, SL_EPROTO,
                            "malformed message: RELEASE job id", 0);
            return;
        }
        sl__job *job = sl__table_get(&self->jobs, id);
        if (job == NULL || job->client_key != client->key) {
            continue; // gone already, or never ours
        }
        job->released = true;
        if (job->done < job->total && job->users == 0) {
            sl__job_cancel(self, job, "released by the client", true);
        }
        sl__job_mark_dirty(self, job);
    }
}

static double
s_rate(const sl__sched *self, bool flops)
{
    int64_t now = sl__mono_ms() / 1000;
    double sum = 0;
    for (int i = 0; i < SL_RATE_WINDOW + 2; i++) {
        const sl__bucket *b = &self->rate[i];
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

void
sl__status_fill(const sl__sched *self, sl__status *s)
{
    memset(s, 0, sizeof(*s));
    s->workers = self->n_workers;
    s->slots = self->n_slots;
    for (size_t i = 0; i < self->peers.cap; i++) {
        sl__peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL && p->is_worker && p->ready) {
            s->busy += p->n_leases < p->slots ? p->n_leases : p->slots;
        }
    }
    // Jobs with tasks to end: not those kept after their end for futures.
    for (size_t i = 0; i < self->jobs.cap; i++) {
        const sl__job *job = self->jobs.keys[i] ? self->jobs.vals[i] : NULL;
        s->jobs += job != NULL && job->done < job->total;
    }
    s->queued = self->queued;
    s->waiting = self->graph.waiting;
    s->running = self->running;
    s->done = self->done_total;
    s->tasks_per_s = s_rate(self, false);
    s->gflops = s_rate(self, true) / 1e9;
    s->uptime_s = sl__mono() - self->started;
}

void
sl__on_status(sl__sched *self, sl__peer *client)
{
    sl__status s;
    sl__status_fill(self, &s);
    sl__mpw_reset(&self->w);
    sl__msg_status_reply(&self->w, &s);
    sl__peer_send(self, client, &self->w);
}

// ---------------------------------------------------------------------
// DONE.

bool
sl__jobs_flush(sl__sched *self)
{
    bool freed_last = false;
    int64_t now = self->now_ms;
    sl__job *job = self->dirty_head;
    self->dirty_head = NULL;
    self->flush_due_ms = 0;
    while (job != NULL) {
        sl__job *next = job->dirty_next;
        job->dirty = false;
        bool complete = job->done == job->total;
        if (!complete && job->n_pending > 0 &&
            now - job->done_ms < S_DONE_GAP_MS) {
            int64_t due = job->done_ms + S_DONE_GAP_MS;
            if (self->flush_due_ms == 0 || due < self->flush_due_ms) {
                self->flush_due_ms = due;
            }
            sl__job_mark_dirty(self, job);
            job = next;
            continue;
        }
        s_flush_job(self, job);
        // A kept job stays until its client releases it or is gone, and
        // any job while a task that names it has not ended.
        bool wanted = job->users > 0 ||
                      (job->keep && !job->released && job->client_key != 0);
        if (complete && job->running == 0 && !wanted) {
            s_job_destroy(self, &job);
            freed_last = self->jobs.n == 0;
        }
        job = next;
    }
    return freed_last;
}
