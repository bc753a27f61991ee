// stats.h - the counters behind /metrics that the scheduler's loop keeps:
// tasks by final status, FLOPs, bytes, a histogram of run times.
// SPDX-License-Identifier: MIT
//
// Owned by the loop thread, which adds to them as tasks end; the HTTP
// thread sees them only as a copy in a snapshot (snapshot.h).
#ifndef SL_SCHEDULER_STATS_H
#define SL_SCHEDULER_STATS_H

#include <stdint.h>

#include "../serialize/msg.h"

// Final statuses counted: SL_WIRE_OK .. SL_WIRE_CANCELLED, at index
// status - 1 (LOST is never final).
#define SL_STATS_STATUSES 4
// Finite upper bounds of the run-time histogram, in seconds; one more
// bucket counts what is longer than the last.
#define SL_STATS_BUCKETS 15
extern const double sl__stats_bounds[SL_STATS_BUCKETS];

typedef struct {
    uint64_t tasks[SL_STATS_STATUSES]; // tasks ended, by final status
    double flops;                      // FLOPs that ended tasks reported
    uint64_t bytes_read;    // bytes copied in: arguments, refs, kernel reads
    uint64_t bytes_written; // results, stores, kernel writes
    uint64_t bytes_mapped;  // refs read in place from a node's tier
    uint64_t run_buckets[SL_STATS_BUCKETS + 1]; // run times per bucket
                                                // (not cumulative)
    uint64_t run_count; // run times counted (OK and ERROR outcomes)
    double run_sum_s;   // their sum, in seconds
} sl__stats;

// Count a task that ended with outcome o: its status, and for a kernel
// that ran (OK or ERROR) its run time, FLOPs and bytes. The figures come
// from a worker: a run time or FLOP count that is negative, not finite or
// absurd counts as 0, so that no counter ever goes down.
void sl__stats_task_end(sl__stats *s, const sl__outcome *o);

#endif
