// dispatch.c - the scheduler's dispatch: READY, credit, the pick of
// queued tasks, and TASKS.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Credit: a worker may hold slots + prefetch tasks; each lease (a task
//   sent to it) uses one, each outcome returns one. A worker with credit is
//   on the hungry list. No worker is sent more than its credit, and of its
//   prefetch only what S_AHEAD_MS of work fills, by the run time its
//   workers report for the job being dispatched (one task per slot while
//   the job has none): short tasks travel by the hundred, and long ones do
//   not pile up behind a busy worker while another idles.
// - Dispatch runs once a loop turn, after the messages and the timers:
//   each hungry worker gets at most one TASKS message a turn.
#include <stdlib.h>
#include <string.h>

#include "sched_impl.h"

// Work a worker is given to hold beyond its slots, per slot, by its
// job's average run time (and at most its prefetch).
#define S_AHEAD_MS 20.0

// ---------------------------------------------------------------------
// Workers.

void
sl__on_ready(sl__sched *self, sl__peer *w, sl__mpr *r)
{
    sl__ready m;
    char why[SL_ERRSTR_LEN];
    if (sl__msg_ready_decode(r, &m, why) != SL_OK) {
        sl__peer_reject(self, w, SL_EPROTO, why, 0);
        return;
    }
    if (w->ready) {
        // A second READY changes nothing we rely on; answer it anyway so a
        // worker that lost our WELCOME gets one.
        sl__peer_send_welcome(self, w);
        return;
    }
    sl__peer_name_set(w, &m.node);
    w->pid = m.pid;
    w->slots = m.slots;
    w->credit_max = m.slots + m.prefetch;
    w->leases = sl__xcalloc(w->credit_max, sizeof(*w->leases));
    w->ready = true;
    self->n_workers++;
    self->n_slots += w->slots;
    sl__log_info("worker %s (pid %u) ready with %u slots", w->name, w->pid,
                 w->slots);
    sl__peer_send_welcome(self, w);
    sl__hungry_add(self, w);
}

void
sl__worker_leave(sl__sched *self, sl__peer *w, bool penalty, const char *why)
{
    if (w->ready) {
        sl__log_info("worker %s (pid %u) %s: re-queueing %u task%s", w->name,
                     w->pid, why, w->n_leases, w->n_leases == 1 ? "" : "s");
        self->n_workers--;
        self->n_slots -= w->slots;
    }
    for (uint32_t i = 0; i < w->n_leases; i++) {
        sl__lease_release(self, w, &w->leases[i], penalty, why);
    }
    sl__hungry_remove(self, w);
}

// ---------------------------------------------------------------------
// Dispatch.

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
        sl__job *job = sl__table_get(&self->jobs, run->job);
        if (job == NULL || job->cancelled) {
            sl__queue_pop(&self->queue, prio);
            continue;
        }
        while (n < want && run->first < run->end) {
            uint32_t index = run->first++;
            const sl__task *t = &job->tasks[index];
            if (t->state == SL_SCHED_QUEUED ||
                (t->state == SL_SCHED_RUNNING &&
                 (t->flags & SL_SCHED_WANT_BACKUP))) {
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
s_pack_group(sl__sched *self, sl__peer *w, uint32_t from, uint32_t to)
{
    sl__job *job = self->pick_job[from];
    sl__msg_task_group(&self->w, job->id, job->function, job->function_len,
                       job->opts.time_limit_ms, job->home, strlen(job->home),
                       to - from);
    for (uint32_t i = from; i < to; i++) {
        uint32_t index = self->pick[i];
        sl__task *t = &job->tasks[index];
        if (t->state == SL_SCHED_RUNNING) { // a backup copy of a straggler
            sl__backup_forget(self, t);
            t->flags |= SL_SCHED_BACKED;
            self->speculated++;
            job->backups++;
        } else {
            t->state = SL_SCHED_RUNNING;
            self->queued--;
            self->running++;
            job->running++;
        }
        t->attempts++;
        const uint8_t *chunk = zmq_msg_data(job->chunks[t->chunk]);
        sl__task_item item = {index,      t->attempts, chunk + t->arg_off,
                              t->arg_len, NULL,        0};
        item.inputs = sl__graph_inputs(self, job, index, &item.inputs_len);
        sl__msg_task_item(&self->w, &item);
        w->leases[w->n_leases++] =
            (sl__lease){job->id, index, t->attempts, self->now_ms};
    }
}

static void
s_send_tasks(sl__sched *self, sl__peer *w, uint32_t n)
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
    sl__peer_send(self, w, &self->w);
}

// The job whose tasks the next dispatch takes first, or NULL.
static sl__job *
s_next_job(sl__sched *self)
{
    int prio;
    sl__run *run = sl__queue_peek(&self->queue, &prio);
    return run != NULL ? sl__table_get(&self->jobs, run->job) : NULL;
}

// How many tasks worker w may hold now: its slots, and as much of its
// prefetch as S_AHEAD_MS of job's work per slot fills.
static uint32_t
s_credit_limit(const sl__peer *w, const sl__job *job)
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

void
sl__dispatch(sl__sched *self)
{
    uint32_t n_hungry = 0;
    for (sl__peer *w = self->hungry_head; w != NULL; w = w->hungry_next) {
        n_hungry++;
    }
    sl__peer *w = self->hungry_head;
    // The share is fixed for the round: recomputed from what is left, it
    // would shrink for the later workers and leave tasks for the next turn,
    // to land on a worker whose slots are busy.
    uint64_t todo = self->queued + self->backups_wanted;
    uint64_t share = n_hungry > 0 ? (todo + n_hungry - 1) / n_hungry : 0;
    sl__job *head = s_next_job(self);
    while (w != NULL && self->queued + self->backups_wanted > 0) {
        sl__peer *next = w->hungry_next;
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
            sl__hungry_remove(self, w);
        } else {
            // Still hungry: to the back, so the next turn starts elsewhere.
            sl__hungry_remove(self, w);
            sl__hungry_add(self, w);
        }
        w = next;
    }
}
