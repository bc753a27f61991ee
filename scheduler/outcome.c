// outcome.c - how the scheduler's task runs end: RESULT, runs lost with
// their executor or their worker, and backup copies of stragglers.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A task ends exactly once here: the first outcome wins, later ones (a
//   retry's twin, a worker presumed lost) are dropped. A task whose worker
//   is lost goes back to the front of the queue until max_attempts runs
//   have started; then it ends FAILED with the cause.
// - Speculation: run times are measured here, from dispatch to outcome,
//   and a straggler in a job that is mostly done gets one backup copy
//   (S_SPEC_*); whichever copy ends first ends the task, and the other is
//   told to stop.
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sched_impl.h"

// Speculation: once this share of a job is done, a task that has run
// S_SPEC_FACTOR times the job's median (and at least S_SPEC_MIN_MS) gets
// a backup copy. Run times are measured here, dispatch to outcome, from a
// sample of at most S_SPEC_SAMPLES finished tasks.
#define S_SPEC_DONE_SHARE 0.75
#define S_SPEC_FACTOR 4.0
#define S_SPEC_MIN_MS 1000
#define S_SPEC_SAMPLES 256

// ---------------------------------------------------------------------
// Outcomes.

// Remove the lease of (job, index) from w. Returns how long ago it was
// sent, in ms, or -1 if w held none (a result from before a re-READY, or a
// duplicate).
static int64_t
s_lease_drop(sl__peer *w, uint64_t job, uint32_t index, int64_t now)
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
s_job_time(sl__sched *self, sl__job *job, int64_t ms)
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
        sl__peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p == NULL || !p->is_worker) {
            continue;
        }
        for (uint32_t k = 0; k < p->n_leases; k++) {
            if (p->leases[k].job == job && p->leases[k].index == index) {
                sl__mpw_reset(&self->w);
                sl__msg_cancel_task(&self->w, job, index);
                sl__peer_send(self, p, &self->w);
            }
        }
    }
}

// A run that died with its executor (LOST): the task goes back to the
// front of the queue, or, out of attempts, fails naming what killed it.
static void
s_on_lost(sl__sched *self, sl__peer *w, sl__job *job, const sl__outcome *o)
{
    sl__task *t = &job->tasks[o->index];
    if (t->state != SL_SCHED_RUNNING || t->attempts != o->attempt) {
        return; // an older run: a later one is under way
    }
    self->running--;
    job->running--;
    if (t->lost < UINT8_MAX) {
        t->lost++;
    }
    sl__backup_forget(self, t);
    t->state = SL_SCHED_QUEUED;
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
    sl__task_end_with(self, job, o->index,
                      job->cancelled ? SL_WIRE_CANCELLED : SL_WIRE_FAILED,
                      text);
}

static void
s_on_outcome(sl__sched *self, sl__peer *w, const sl__outcome *o,
             sl__job **cache)
{
    int64_t age = s_lease_drop(w, o->job, o->index, self->now_ms);
    sl__job *job = *cache;
    if (job == NULL || job->id != o->job) {
        job = *cache = sl__table_get(&self->jobs, o->job);
    }
    if (job == NULL || o->index >= job->received) {
        return; // the job ended or was never here: nothing to record
    }
    sl__task *t = &job->tasks[o->index];
    if (t->state == SL_SCHED_DONE) {
        return; // first outcome won already
    }
    if (o->status == SL_WIRE_LOST) {
        s_on_lost(self, w, job, o);
        return;
    }
    if (o->status == SL_WIRE_ERROR &&
        (job->opts.flags & SL_WIRE_JOB_RETRY_ERRORS) && !job->cancelled &&
        t->state == SL_SCHED_RUNNING && t->attempts == o->attempt &&
        t->attempts < job->opts.max_attempts) {
        // The job asked for kernel errors to be retried.
        self->running--;
        job->running--;
        sl__backup_forget(self, t);
        t->state = SL_SCHED_QUEUED;
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
    if (t->state == SL_SCHED_RUNNING) {
        self->running--;
        job->running--;
    }
    bool copies = t->flags & SL_SCHED_BACKED;
    sl__task_end(self, job, o->index, o);
    if (copies) {
        s_cancel_copies(self, job->id, o->index);
    }
}

void
sl__on_result(sl__sched *self, sl__peer *w, sl__mpr *r)
{
    uint32_t n;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_result_decode(r, &self->opts.limits, &n, why) != SL_OK) {
        sl__peer_reject(self, w, SL_EPROTO, why, 0);
        return;
    }
    sl__job *cache = NULL;
    for (uint32_t i = 0; i < n; i++) {
        sl__outcome o;
        if (sl__msg_outcome_decode(r, &self->opts.limits, true, &o, why) !=
            SL_OK) {
            sl__peer_reject(self, w, SL_EPROTO, why, 0);
            return;
        }
        s_on_outcome(self, w, &o, &cache);
    }
    if (!w->ready) {
        sl__peer_send_error(self, w, SL_ENOTFOUND, "unknown worker: send READY",
                            0);
        return;
    }
    sl__hungry_add(self, w);
}

void
sl__lease_release(sl__sched *self, sl__peer *w, const sl__lease *l,
                  bool penalty, const char *why)
{
    sl__job *job = sl__table_get(&self->jobs, l->job);
    if (job == NULL || l->index >= job->received) {
        return;
    }
    sl__task *t = &job->tasks[l->index];
    if (t->state != SL_SCHED_RUNNING || t->attempts != l->attempt) {
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
        // Counted back into queued, so that sl__task_end counts it out.
        t->state = SL_SCHED_QUEUED;
        self->queued++;
        sl__task_end_with(self, job, l->index,
                          job->cancelled ? SL_WIRE_CANCELLED : SL_WIRE_FAILED,
                          text);
        return;
    }
    sl__backup_forget(self, t);
    t->state = SL_SCHED_QUEUED;
    self->queued++;
    sl__queue_push_front(&self->queue, (int) job->opts.priority,
                         (sl__run){job->id, l->index, l->index + 1});
}

// ---------------------------------------------------------------------
// Speculation.

static int
s_cmp_float(const void *a, const void *b)
{
    float x = *(const float *) a, y = *(const float *) b;
    return (x > y) - (x < y);
}

// The median of the job's sampled run times (ms), or -1 with no sample.
static double
s_job_median(sl__job *job)
{
    if (job->median_ms < 0 && job->n_run_ms > 0) {
        float sorted[S_SPEC_SAMPLES];
        memcpy(sorted, job->run_ms, job->n_run_ms * sizeof(float));
        qsort(sorted, job->n_run_ms, sizeof(float), s_cmp_float);
        job->median_ms = sorted[job->n_run_ms / 2];
    }
    return job->n_run_ms > 0 ? job->median_ms : -1;
}

void
sl__speculate(sl__sched *self, sl__peer *w, int64_t now)
{
    for (uint32_t i = 0; i < w->n_leases; i++) {
        const sl__lease *l = &w->leases[i];
        sl__job *job = sl__table_get(&self->jobs, l->job);
        if (job == NULL || job->cancelled ||
            (job->opts.flags & SL_WIRE_JOB_NO_SPECULATION) ||
            (double) job->done < S_SPEC_DONE_SHARE * (double) job->total) {
            continue;
        }
        sl__task *t = &job->tasks[l->index];
        int64_t ran = now - l->sent_ms;
        double median = s_job_median(job);
        if (t->state != SL_SCHED_RUNNING ||
            (t->flags & (SL_SCHED_WANT_BACKUP | SL_SCHED_BACKED)) ||
            t->attempts != l->attempt || median < 0 || ran < S_SPEC_MIN_MS ||
            (double) ran < S_SPEC_FACTOR * median) {
            continue;
        }
        sl__log_info("job %016" PRIx64 " task %u has run %.1f s on worker %s, "
                     "%.0fx the median of %.3f s: starting a backup copy",
                     job->id, l->index, (double) ran / 1000, w->name,
                     (double) ran / (median > 1 ? median : 1), median / 1000);
        t->flags |= SL_SCHED_WANT_BACKUP;
        self->backups_wanted++;
        sl__queue_push_front(&self->queue, (int) job->opts.priority,
                             (sl__run){job->id, l->index, l->index + 1});
    }
}
