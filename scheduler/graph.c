// graph.c - futures: which tasks wait on which results, and the results
// kept for them.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A task whose argument names futures comes with a deps entry in its
//   SUBMIT (the (job, index) pairs, PROTOCOL.md), which stays in the kept
//   frame: the task records only where it lies (sl__task_deps.off). The
//   scheduler never decodes the argument itself.
// - A task that waits has one waiter (sl__waiter: its job, its index, how
//   many of its inputs have not ended), and each input it waits on has an
//   edge to that waiter on the input's list (sl__edge, 8 bytes; a job's
//   first_edge has the head of each of its tasks' lists). Both live in
//   pools in the scheduler, recycled through free lists; index 0 is none.
//   An input's list is consumed when it ends, and a waiter freed when the
//   last of its inputs has ended.
// - A dependent that ends before its inputs (cancelled) leaves its waiter
//   behind, marked dead (job NULL): the edges still name it, and freeing it
//   at once would let a new waiter take its place under them.
// - Every ended task's outcome of a kept job (SL_SUBMIT_KEEP, which
//   libstarling asks for) is kept (kept_buf: status, then the result as
//   its outcome carried it, inline or a ref, or the error text), so that a
//   future submitted later resolves to it too: such a job stays after it
//   ends until its client releases it, and any job while an unended task
//   names it (users). Values over inline_max are refs, so what is kept is
//   small: 5 bytes and the value's encoding a task, and 8 for its place.
// - What happens to dependents is the caller's: a ready one is queued
//   here, but one whose input failed is put on self->failing, and job.c
//   ends it, and then its own dependents, in a loop rather than by
//   recursion (a chain of 10,000 tasks would otherwise recurse 10,000
//   deep).
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sched_impl.h"

// A kept outcome: status, the length of what follows, then the bytes.
#define S_KEPT_HEADER 5

// ---------------------------------------------------------------------
// Pools.

static uint32_t
s_edge_new(sl__sched *self, uint32_t next, uint32_t waiter)
{
    sl__graph *g = &self->graph;
    uint32_t e = g->free_edge;
    if (e != 0) {
        g->free_edge = g->edges[e].next;
    } else {
        if (g->n_edges == g->cap_edges) {
            g->cap_edges = g->cap_edges ? g->cap_edges * 2 : 1024;
            g->edges = sl__xrealloc(g->edges, g->cap_edges * sizeof(*g->edges));
        }
        if (g->n_edges == 0) {
            g->n_edges = 1; // 0 is "none"
        }
        e = g->n_edges++;
    }
    g->edges[e] = (sl__edge){next, waiter};
    g->live_edges++;
    return e;
}

// When the last edge (or waiter) goes, so does its pool: a graph of a
// million edges leaves no 8 MiB array behind it.
static void
s_edge_free(sl__sched *self, uint32_t e)
{
    sl__graph *g = &self->graph;
    g->edges[e].next = g->free_edge;
    g->free_edge = e;
    if (--g->live_edges == 0) {
        free(g->edges);
        g->edges = NULL;
        g->n_edges = g->cap_edges = g->free_edge = 0;
    }
}

static uint32_t
s_waiter_new(sl__sched *self, sl__job *job, uint32_t index)
{
    sl__graph *g = &self->graph;
    uint32_t w = g->free_waiter;
    if (w != 0) {
        g->free_waiter = g->waiters[w].index;
    } else {
        if (g->n_waiters == g->cap_waiters) {
            g->cap_waiters = g->cap_waiters ? g->cap_waiters * 2 : 1024;
            g->waiters =
                sl__xrealloc(g->waiters, g->cap_waiters * sizeof(*g->waiters));
        }
        if (g->n_waiters == 0) {
            g->n_waiters = 1;
        }
        w = g->n_waiters++;
    }
    g->waiters[w] = (sl__waiter){job, index, 0};
    g->live_waiters++;
    return w;
}

static void
s_waiter_free(sl__sched *self, uint32_t w)
{
    sl__graph *g = &self->graph;
    g->waiters[w].job = NULL;
    g->waiters[w].index = g->free_waiter; // the free list's link
    g->free_waiter = w;
    if (--g->live_waiters == 0) {
        free(g->waiters);
        g->waiters = NULL;
        g->n_waiters = g->cap_waiters = g->free_waiter = 0;
    }
}

void
sl__graph_fini(sl__sched *self)
{
    free(self->graph.edges);
    free(self->graph.waiters);
    free(self->graph.failing);
    sl__mpw_fini(&self->graph.inputs);
    memset(&self->graph, 0, sizeof(self->graph));
}

// ---------------------------------------------------------------------
// Per-job arrays, grown with the job's task array.

void
sl__graph_job_reserve(sl__job *job, uint64_t old_cap)
{
    uint64_t cap = job->cap_tasks;
    if (job->kept != NULL) {
        job->kept = sl__xrealloc(job->kept, cap * sizeof(*job->kept));
        memset(job->kept + old_cap, 0, (cap - old_cap) * sizeof(*job->kept));
    }
    if (job->deps != NULL) {
        job->deps = sl__xrealloc(job->deps, cap * sizeof(*job->deps));
        memset(job->deps + old_cap, 0, (cap - old_cap) * sizeof(*job->deps));
    }
    if (job->first_edge != NULL) {
        job->first_edge =
            sl__xrealloc(job->first_edge, cap * sizeof(*job->first_edge));
        memset(job->first_edge + old_cap, 0,
               (cap - old_cap) * sizeof(*job->first_edge));
    }
}

void
sl__graph_job_free(sl__sched *self, sl__job *job)
{
    // A task still waiting has a waiter that edges of other jobs name.
    for (uint64_t i = 0; job->deps != NULL && i < job->received; i++) {
        uint32_t w = job->deps[i].waiter;
        if (w != 0) {
            self->graph.waiters[w].job = NULL;
        }
    }
    // Edges from this job's tasks to waiters (possible only when the job
    // is destroyed with tasks not ended: the scheduler stopping).
    for (uint64_t i = 0; job->first_edge != NULL && i < job->received; i++) {
        for (uint32_t e = job->first_edge[i]; e != 0;) {
            uint32_t next = self->graph.edges[e].next;
            s_edge_free(self, e);
            e = next;
        }
    }
    free(job->kept_buf);
    free(job->kept);
    free(job->deps);
    free(job->first_edge);
}

static uint32_t *
s_first_edges(sl__job *job)
{
    if (job->first_edge == NULL) {
        job->first_edge = sl__xcalloc(job->cap_tasks, sizeof(*job->first_edge));
    }
    return job->first_edge;
}

// ---------------------------------------------------------------------
// Kept outcomes.

void
sl__graph_keep(sl__job *job, uint32_t index, uint32_t status, const void *bytes,
               size_t len)
{
    if (!job->keep &&
        (job->first_edge == NULL || job->first_edge[index] == 0)) {
        return; // freed when it ends: no later future can name it
    }
    if (job->kept == NULL) {
        job->kept = sl__xcalloc(job->cap_tasks, sizeof(*job->kept));
    }
    if (len > UINT32_MAX) {
        len = 0; // cannot happen: a message is at most max_message bytes
    }
    size_t need = job->kept_len + S_KEPT_HEADER + len;
    if (need > job->kept_cap) {
        size_t cap = job->kept_cap ? job->kept_cap : 64;
        while (cap < need) {
            cap *= 2;
        }
        job->kept_buf = sl__xrealloc(job->kept_buf, cap);
        job->kept_cap = cap;
    }
    uint8_t *p = job->kept_buf + job->kept_len;
    p[0] = (uint8_t) status;
    p[1] = (uint8_t) len;
    p[2] = (uint8_t) (len >> 8);
    p[3] = (uint8_t) (len >> 16);
    p[4] = (uint8_t) (len >> 24);
    if (len > 0) {
        memcpy(p + S_KEPT_HEADER, bytes, len);
    }
    job->kept[index] = (uint64_t) job->kept_len + 1;
    job->kept_len = need;
}

bool
sl__graph_kept(const sl__job *job, uint32_t index, uint32_t *status,
               const uint8_t **bytes, size_t *len)
{
    if (job->kept == NULL || index >= job->cap_tasks || job->kept[index] == 0) {
        return false;
    }
    const uint8_t *p = job->kept_buf + job->kept[index] - 1;
    *status = p[0];
    *len = (size_t) p[1] | (size_t) p[2] << 8 | (size_t) p[3] << 16 |
           (size_t) p[4] << 24;
    *bytes = p + S_KEPT_HEADER;
    return true;
}

// ---------------------------------------------------------------------
// Submission.

sl_err
sl__graph_check(sl__sched *self, const sl__peer *client, uint64_t job_id,
                uint64_t task, sl__mpr list, uint32_t n, char *why)
{
    for (uint32_t k = 0; k < n; k++) {
        uint64_t pj, pi;
        if (sl__msg_dep_next(&list, &pj, &pi) != 0) {
            sl__fmt(why, SL_ERRSTR_LEN,
                    "malformed message: SUBMIT deps of task %" PRIu64, task);
            return SL_EPROTO;
        }
        const sl__job *p = sl__table_get(&self->jobs, pj);
        // A job not kept (a client that did not ask) is freed when it ends,
        // so a future of it could find nothing: refused like one unknown.
        if (p == NULL || p->client_key != client->key || p->released ||
            !p->keep) {
            sl__fmt(why, SL_ERRSTR_LEN,
                    "task %" PRIu64 " of job %016" PRIx64
                    ": a future names job %016" PRIx64
                    ", which is not a job of this client",
                    task, job_id, pj);
            return SL_EINVAL;
        }
        if (pi >= p->total) {
            sl__fmt(why, SL_ERRSTR_LEN,
                    "task %" PRIu64 " of job %016" PRIx64
                    ": a future names task %" PRIu64 " of job %016" PRIx64
                    ", which has %" PRIu64 " task%s",
                    task, job_id, pi, pj, p->total, p->total == 1 ? "" : "s");
            return SL_EINVAL;
        }
        // Only tasks already submitted: so no task can wait on itself, or
        // on a task that waits on it.
        if (pj == job_id ? pi >= task : pi >= p->received) {
            sl__fmt(why, SL_ERRSTR_LEN,
                    "task %" PRIu64 " of job %016" PRIx64
                    ": a future names task %" PRIu64 " of job %016" PRIx64
                    ", which was not submitted before it",
                    task, job_id, pi, pj);
            return SL_EINVAL;
        }
    }
    return SL_OK;
}

static void s_failing_push(sl__sched *self, sl__failing f);

bool
sl__graph_add(sl__sched *self, sl__job *job, uint32_t index, uint32_t off,
              sl__mpr list, uint32_t n)
{
    if (job->deps == NULL) {
        job->deps = sl__xcalloc(job->cap_tasks, sizeof(*job->deps));
    }
    job->deps[index].off = off;
    job->deps[index].waiter = 0;
    bool waits = false, input_failed = false;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t pj, pi;
        (void) sl__msg_dep_next(&list, &pj, &pi); // checked by graph_check
        sl__job *p = sl__table_get(&self->jobs, pj);
        p->users++;
        if (p->tasks[pi].state == SL_SCHED_DONE) {
            uint32_t status;
            const uint8_t *bytes;
            size_t len;
            // Ended with no outcome kept: a task the client marked ended
            // when it submitted the job again to a scheduler that
            // restarted. That outcome is the client's; the task fails
            // rather than take nothing for it.
            bool kept = sl__graph_kept(p, (uint32_t) pi, &status, &bytes, &len);
            if (!input_failed && (!kept || status != SL_WIRE_OK)) {
                s_failing_push(
                    self, (sl__failing){job->id, index, pj, (uint32_t) pi});
                input_failed = true;
            }
            continue;
        }
        uint32_t w = job->deps[index].waiter;
        if (w == 0) {
            w = job->deps[index].waiter = s_waiter_new(self, job, index);
        }
        uint32_t *first = s_first_edges(p);
        first[pi] = s_edge_new(self, first[pi], w);
        self->graph.waiters[w].unresolved++;
        waits = true;
    }
    if (input_failed || !waits) {
        // It runs now (or fails now): nothing wakes it.
        uint32_t w = job->deps[index].waiter;
        if (w != 0) {
            self->graph.waiters[w].job = NULL; // the edges still name it
            job->deps[index].waiter = 0;
        }
        return input_failed;
    }
    return false;
}

bool
sl__graph_waits(const sl__job *job, uint32_t index)
{
    return job->deps != NULL && job->deps[index].waiter != 0;
}

// The deps entry of task index, at its start.
static void
s_deps_list(const sl__job *job, uint32_t index, sl__mpr *list, uint32_t *n)
{
    const sl__task *t = &job->tasks[index];
    const uint8_t *chunk = zmq_msg_data(job->chunks[t->chunk]);
    sl__mpr r;
    sl__mpr_init(&r, chunk + job->deps[index].off,
                 zmq_msg_size(job->chunks[t->chunk]) - job->deps[index].off);
    char errbuf[SL_ERRSTR_LEN];
    // The entry was checked when it arrived.
    if (sl__msg_deps_entry(&r, UINT32_MAX, n, list, errbuf) != SL_OK) {
        *n = 0;
    }
}

// ---------------------------------------------------------------------
// The end of a task.

static void
s_failing_push(sl__sched *self, sl__failing f)
{
    sl__graph *g = &self->graph;
    if (g->n_failing == g->cap_failing) {
        g->cap_failing = g->cap_failing ? g->cap_failing * 2 : 64;
        g->failing =
            sl__xrealloc(g->failing, g->cap_failing * sizeof(*g->failing));
    }
    g->failing[g->n_failing++] = f;
}

void
sl__graph_input_ended(sl__sched *self, sl__job *job, uint32_t index,
                      uint32_t status)
{
    if (job->first_edge == NULL || job->first_edge[index] == 0) {
        return;
    }
    uint32_t e = job->first_edge[index];
    job->first_edge[index] = 0;
    while (e != 0) {
        sl__edge edge = self->graph.edges[e];
        s_edge_free(self, e);
        e = edge.next;
        sl__waiter *w = &self->graph.waiters[edge.waiter];
        sl__job *d = w->job;
        uint32_t di = w->index;
        w->unresolved--;
        if (d != NULL && status != SL_WIRE_OK) {
            // It fails now, once: the waiter is done with.
            s_failing_push(self, (sl__failing){d->id, di, job->id, index});
            d->deps[di].waiter = 0;
            w->job = NULL;
        } else if (d != NULL && w->unresolved == 0) {
            d->deps[di].waiter = 0;
            d->tasks[di].state = SL_SCHED_QUEUED;
            self->graph.waiting--;
            self->queued++;
            sl__queue_push(&self->queue, (int) d->opts.priority,
                           (sl__run){d->id, di, di + 1});
        }
        if (w->unresolved == 0) {
            s_waiter_free(self, edge.waiter);
        }
    }
}

void
sl__graph_dependent_ended(sl__sched *self, sl__job *job, uint32_t index)
{
    if (job->deps == NULL || job->deps[index].off == 0) {
        return;
    }
    uint32_t w = job->deps[index].waiter;
    if (w != 0) { // ended while it waited (cancelled, or an input failed)
        self->graph.waiters[w].job = NULL;
        job->deps[index].waiter = 0;
    }
    sl__mpr list;
    uint32_t n;
    s_deps_list(job, index, &list, &n);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t pj, pi;
        if (sl__msg_dep_next(&list, &pj, &pi) != 0) {
            break;
        }
        sl__job *p = sl__table_get(&self->jobs, pj);
        if (p != NULL && p->users > 0 && --p->users == 0) {
            sl__job_mark_dirty(self, p); // the flush may free it now
        }
    }
}

// ---------------------------------------------------------------------
// Dispatch.

const uint8_t *
sl__graph_inputs(sl__sched *self, const sl__job *job, uint32_t index,
                 size_t *len)
{
    sl__mpw *w = &self->graph.inputs;
    sl__mpr list;
    uint32_t n;
    if (job->deps == NULL || job->deps[index].off == 0) {
        return NULL;
    }
    s_deps_list(job, index, &list, &n);
    sl__mpw_reset(w);
    msgpack_pack_array(&w->pk, 3 * n);
    for (uint32_t k = 0; k < n; k++) {
        uint64_t pj = 0, pi = 0;
        uint32_t status = 0;
        const uint8_t *bytes = NULL;
        size_t blen = 0;
        (void) sl__msg_dep_next(&list, &pj, &pi);
        const sl__job *p = sl__table_get(&self->jobs, pj);
        msgpack_pack_uint64(&w->pk, pj);
        msgpack_pack_uint64(&w->pk, pi);
        // Its users keep the job, and it ended OK with a kept result, or
        // this task would not be dispatched (a task the ended bitmap of a
        // SUBMIT marked is kept as failed, job.c). Beware: nil is no
        // error to the worker, which puts it in the future's place.
        if (p != NULL &&
            sl__graph_kept(p, (uint32_t) pi, &status, &bytes, &blen) &&
            status == SL_WIRE_OK && blen > 0) {
            sl__mpw_raw(w, bytes, blen);
        } else {
            msgpack_pack_nil(&w->pk);
        }
    }
    sl__mpw_xcheck(w);
    *len = w->buf.size;
    return (const uint8_t *) w->buf.data;
}
