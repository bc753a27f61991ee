// job.c - a client's jobs: their results as they arrive, the chunks kept
// for resubmission, and their statistics.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A job is a task count, a result array and a list link; nothing here
//   touches a socket or the store. conn.c fills results from DONE
//   messages; client.c submits and releases jobs.
// - A task's first outcome is its only one (the scheduler may send a
//   second after a restart, or a backup copy's): results are write-once.
// - The packed SUBMIT chunks stay with the job until its last task ends,
//   so that a scheduler that restarted can be given the job again.
#include <stdlib.h>
#include <string.h>

#include "clientimpl.h"

sl__client_job *
sl__client_job_find(const sl_client *c, uint64_t id)
{
    sl__client_job *j = sl__client_job_find_any(c, id);
    return j != NULL && !j->released ? j : NULL;
}

sl__client_job *
sl__client_job_find_any(const sl_client *c, uint64_t id)
{
    return id != 0 ? sl__table_get(&c->by_id, id) : NULL;
}

sl__client_job *
sl__client_job_new(sl_client *c, size_t n)
{
    sl__client_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return NULL;
    }
    job->results = calloc(n > 0 ? n : 1, sizeof(*job->results));
    if (job->results == NULL) {
        free(job);
        return NULL;
    }
    do {
        job->id = sl__rand64();
    } while (job->id == 0 || sl__client_job_find_any(c, job->id) != NULL);
    sl__table_put(&c->by_id, job->id, job);
    job->n = n;
    job->submitted = sl__mono();
    job->next = c->jobs;
    c->jobs = job;
    return job;
}

static void
s_job_free_chunks(sl__client_job *job)
{
    for (size_t i = 0; i < job->n_chunks; i++) {
        free(job->chunks[i].args);
        free(job->chunks[i].deps);
    }
    free(job->chunks);
    job->chunks = NULL;
    job->n_chunks = 0;
}

void
sl__client_job_free(sl_client *c, sl__client_job **job_p)
{
    sl__client_job *job = *job_p;
    sl__table_del(&c->by_id, job->id);
    s_job_free_chunks(job);
    for (size_t i = 0; i < job->n; i++) {
        sl_value_destroy(&job->results[i].value);
        free(job->results[i].error);
    }
    free(job->results);
    free(job->producers);
    free(job);
    *job_p = NULL;
}

void
sl__client_job_unlink(sl_client *c, sl__client_job *job)
{
    for (sl__client_job **pp = &c->jobs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            return;
        }
    }
}

sl_err
sl__client_job_add_chunk(sl__client_job *job, uint64_t first, uint32_t n,
                         sl__mpw *w, sl__mpw *deps, sl__client_chunk **ch_out)
{
    sl__client_chunk *chunks =
        sl__mpw_failed(w) || (deps != NULL && sl__mpw_failed(deps))
            ? NULL
            : realloc(job->chunks, (job->n_chunks + 1) * sizeof(*chunks));
    if (chunks == NULL) {
        return SL_ENOMEM;
    }
    job->chunks = chunks;
    sl__client_chunk *ch = &job->chunks[job->n_chunks++];
    ch->first = first;
    ch->n = n;
    ch->len = w->buf.size;
    ch->args = (uint8_t *) msgpack_sbuffer_release(&w->buf);
    ch->deps_len = deps != NULL ? deps->buf.size : 0;
    ch->deps =
        deps != NULL ? (uint8_t *) msgpack_sbuffer_release(&deps->buf) : NULL;
    *ch_out = ch;
    return SL_OK;
}

void
sl__client_task_end(sl__client_job *job, size_t i, sl_task_status status,
                    const char *text)
{
    sl__client_result *r = &job->results[i];
    if (r->pub.status != SL_TASK_PENDING) {
        return;
    }
    r->pub.status = status;
    if (text != NULL && text[0] != '\0') {
        r->error = strdup(text);
        r->pub.error = r->error;
    }
    job->done++;
    job->finished = sl__mono();
    if (job->done == job->n) {
        s_job_free_chunks(job); // no scheduler will need them again
    }
}

void
sl__client_job_fail(sl__client_job *job, sl_task_status status,
                    const char *text)
{
    for (size_t i = 0; i < job->n; i++) {
        sl__client_task_end(job, i, status, text);
    }
}

void
sl__client_job_drop_producers(sl_client *c, sl__client_job *job)
{
    for (size_t i = 0; i < job->n_producers; i++) {
        sl__client_job *p = sl__client_job_find_any(c, job->producers[i]);
        if (p != NULL && p->dependents > 0) {
            p->dependents--;
            c->graph_ended |= p->released;
        }
    }
    free(job->producers);
    job->producers = NULL;
    job->n_producers = 0;
}

void
sl__client_job_check_ended(sl_client *c, sl__client_job *job)
{
    if (job->done < job->n) {
        return;
    }
    sl__client_job_drop_producers(c, job);
    c->graph_ended |= job->released;
}

void
sl__client_job_outcome(sl_client *c, sl__client_job *job, const sl__outcome *o)
{
    if (o->index >= job->n ||
        job->results[o->index].pub.status != SL_TASK_PENDING) {
        return;
    }
    sl__client_result *r = &job->results[o->index];
    char errbuf[SL_ERRSTR_LEN];
    // LOST never reaches a client from a scheduler of ours: it is a worker's
    // word, which the scheduler turns into a retry or a failure.
    sl_task_status status = o->status <= SL_WIRE_CANCELLED
                                ? (sl_task_status) o->status
                                : SL_TASK_FAILED;
    char text[SL_ERRSTR_LEN + 64];
    sl__fmt(text, sizeof(text), "%.*s", (int) o->error.len, o->error.p);
    if (status == SL_TASK_OK && o->value != NULL &&
        sl__value_decode_buf(o->value, o->value_len, &c->limits, NULL,
                             &r->value, errbuf) != SL_OK) {
        status = SL_TASK_FAILED;
        sl__fmt(text, sizeof(text), "result could not be decoded: %s", errbuf);
    }
    if (sl_value_type(r->value) == SL_REF) {
        job->stored_objects = true;
    }
    r->pub.start_s = o->stats.start_s;
    r->pub.end_s = o->stats.end_s;
    r->pub.flops = o->stats.flops;
    r->pub.bytes_read = o->stats.bytes_read;
    r->pub.bytes_written = o->stats.bytes_written;
    r->pub.bytes_mapped = o->stats.bytes_mapped;
    r->pub.attempts = o->attempt;
    sl__client_task_end(job, o->index, status, text);
    sl__client_job_check_ended(c, job);
}

// ---------------------------------------------------------------------
// What a program reads of a job.

size_t
sl_job_size(const sl_client *c, sl_job job)
{
    const sl__client_job *j = c != NULL ? sl__client_job_find(c, job.id) : NULL;
    return j != NULL ? j->n : 0;
}

size_t
sl_job_done(const sl_client *c, sl_job job)
{
    const sl__client_job *j = c != NULL ? sl__client_job_find(c, job.id) : NULL;
    return j != NULL ? j->done : 0;
}

const sl_result *
sl_job_result(const sl_client *c, sl_job job, size_t i)
{
    const sl__client_job *j = c != NULL ? sl__client_job_find(c, job.id) : NULL;
    return j != NULL && i < j->n ? &j->results[i].pub : NULL;
}

sl_err
sl_job_stats_get(const sl_client *c, sl_job job, sl_job_stats *out)
{
    const sl__client_job *j = c != NULL ? sl__client_job_find(c, job.id) : NULL;
    if (j == NULL || out == NULL) {
        return SL_ENOTFOUND;
    }
    memset(out, 0, sizeof(*out));
    out->tasks = j->n;
    out->done = j->done;
    for (size_t i = 0; i < j->n; i++) {
        const sl_result *r = &j->results[i].pub;
        if (r->status == SL_TASK_PENDING) {
            continue;
        }
        out->ok += r->status == SL_TASK_OK;
        out->failed += r->status != SL_TASK_OK;
        out->retried += r->attempts > 1;
        out->task_s += r->end_s > r->start_s ? r->end_s - r->start_s : 0;
        out->flops += r->flops;
        out->bytes_read += r->bytes_read;
        out->bytes_written += r->bytes_written;
        out->bytes_mapped += r->bytes_mapped;
    }
    double end = j->done == j->n ? j->finished : sl__mono();
    out->wall_s = end > j->submitted ? end - j->submitted : 0;
    if (out->wall_s > 0) {
        out->tasks_per_s = (double) out->done / out->wall_s;
        out->gflops = out->flops / out->wall_s / 1e9;
    }
    return SL_OK;
}
