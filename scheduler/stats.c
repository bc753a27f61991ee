// stats.c - the counters behind /metrics: what each ended task adds.
// SPDX-License-Identifier: MIT
#include "stats.h"

#include <math.h>

// From a no-op (microseconds) to an hour: a starling task may be either,
// and a bucket every factor of 2 to 10 keeps the quantiles Prometheus
// estimates from them honest at both ends.
const double sl__stats_bounds[SL_STATS_BUCKETS] = {
    0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600,
};

// Longer than this is a clock that jumped, not a run (outcome.c's bound).
#define S_RUN_MAX_S 1e6

static double
s_sane(double x, double max)
{
    return isfinite(x) && x > 0 && x < max ? x : 0;
}

static void
s_run_time(sl__stats *s, double run_s)
{
    int b = 0;
    while (b < SL_STATS_BUCKETS && run_s > sl__stats_bounds[b]) {
        b++;
    }
    s->run_buckets[b]++;
    s->run_count++;
    s->run_sum_s += run_s;
}

void
sl__stats_task_end(sl__stats *s, const sl__outcome *o)
{
    if (o->status >= SL_WIRE_OK && o->status <= SL_WIRE_CANCELLED) {
        s->tasks[o->status - SL_WIRE_OK]++;
    }
    if (o->status != SL_WIRE_OK && o->status != SL_WIRE_ERROR) {
        return; // failed or cancelled: no kernel run that finished
    }
    s_run_time(s, s_sane(o->stats.end_s - o->stats.start_s, S_RUN_MAX_S));
    s->flops += s_sane(o->stats.flops, INFINITY);
    s->bytes_read += o->stats.bytes_read;
    s->bytes_written += o->stats.bytes_written;
    s->bytes_mapped += o->stats.bytes_mapped;
}
