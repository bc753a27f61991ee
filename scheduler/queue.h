// queue.h - the scheduler's task queue.
// SPDX-License-Identifier: MIT
//
// Design notes. The queue holds runs of tasks, not tasks: a SUBMIT of
// 5,000 tasks is one entry (job, first, end), so pushing a chunk and
// popping a batch are O(1) and a queued task costs no memory here at all
// (its state lives in the job's task array). One FIFO ring per priority;
// pop takes from the highest non-empty one. A re-queued task (its worker
// died) is a run of one pushed at the front, so a retry does not wait
// behind the rest of a large job.
#ifndef SL_SCHEDULER_QUEUE_H
#define SL_SCHEDULER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_PRIORITIES 10

typedef struct {
    uint64_t job;   // job id (looked up on pop: the job may be gone)
    uint32_t first; // first task index of the run
    uint32_t end;   // one past the last
} sl__run;

typedef struct {
    sl__run *runs; // ring buffer of cap entries
    size_t head;   // index of the first run
    size_t n;      // runs in the ring
    size_t cap;    // a power of two
} sl__ring;

typedef struct {
    sl__ring rings[SL_PRIORITIES]; // one FIFO per priority, 0 lowest
} sl__queue;

void sl__queue_init(sl__queue *q);
void sl__queue_fini(sl__queue *q);
// Append a run at the back (new work) or the front (a retry).
void sl__queue_push(sl__queue *q, int priority, sl__run run);
void sl__queue_push_front(sl__queue *q, int priority, sl__run run);
// The first run of the highest priority, or NULL when empty. The caller may
// shrink it (advance first) and must pop it once empty.
sl__run *sl__queue_peek(sl__queue *q, int *priority_out);
void sl__queue_pop(sl__queue *q, int priority);
bool sl__queue_empty(const sl__queue *q);

#endif
