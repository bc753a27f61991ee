// dag.c - task graphs on one scheduler: a chain of tasks, each taking the
// result of the one before by a future, and a tree reduction of 1,000,000
// leaves with fan-in 16, every level submitted before any result is
// waited for.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The chain (10,000 links; --quick 2,000) is one single-task job per
//   link: link 0 is sys.sum {values: [0]}, link i sys.sum {values:
//   [future(link i-1), 1]}, so link i's result is i and the last one says
//   whether every link took the one before. A future can only name a job
//   already submitted, so the links go out in order. They go out to a
//   cluster without workers, and the workers start after the last one:
//   otherwise the first links would run while the client still submits,
//   and the gaps would time the submission, not the graph.
// - A link's latency is the gap between its end and its input's end
//   (sl_result.end_s: every worker is on this machine, one wall clock): the
//   scheduler hearing of the input's end, dispatching the link with the
//   input, and the worker running it. Gaps whose input ended before every
//   worker slot was counted are left out: a worker that is still starting
//   takes the cores from the one that runs the chain. No link may start
//   before its input ended (checked).
// - The baseline is the one-task round trip of latency.c
//   (sl__bench_task_round_trips: sys.noop submitted with sl_call_async and
//   waited for, one at a time) on the same workers, once the chain is done.
//   The client is part of that round trip, not of a link: the target is a
//   link's p50 at most the round trip's.
// - The tree: leaves are sys.sum {values: [i % 997]} (997 values shared by
//   the 1,000,000 arguments, so the client does not build a million;
//   prime, so that no future read from the wrong leaf at a stride of a
//   power of 16 keeps the sum), one sl_map. Each level above is one sl_map
//   of sys.sum tasks over {values: [16 futures of the level below]}, to one
//   root, all submitted before the first wait. Tasks/s counts every task,
//   leaves and sums, over the wall time from the leaves' sl_map to the
//   root's result, building each level's arguments included (a level's
//   futures name the job below, which exists only once it is submitted).
//   The root must equal the sum of the leaves, and every task end OK.
// - After it, the same number of sys.noop tasks in one plain map on the
//   same cluster (sl__bench_noop_map) as a baseline: the ratio says what
//   the graph costs over plain tasks. The target is on the value, as the
//   issue asks: 300,000 tasks/s.
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "measure.h"

#define S_FAN_IN 16
#define S_LEAF_VALUES 997
#define S_MAX_LEVELS 16 // 16^15 leaves: more than a job may have
#define S_WARMUP 200    // round trips before the timed ones, as latency's
#define S_WAIT_MS (600 * 1000)

// ---------------------------------------------------------------------
// Arguments.

// Append *v_p (a value just made: NULL when memory ran out) to list.
static sl_err
s_append(sl_value *list, sl_value *v)
{
    sl_err rv = v != NULL ? sl_value_list_append(list, &v) : SL_ENOMEM;
    sl_value_destroy(&v);
    return rv;
}

// {values: list}, taking list; NULL when memory runs out.
static sl_value *
s_values(sl_value *list)
{
    sl_value *arg = list != NULL ? sl_value_new_map() : NULL;
    if (arg == NULL || sl_value_map_set(arg, "values", &list) != SL_OK) {
        sl_value_destroy(&arg);
    }
    sl_value_destroy(&list);
    return arg;
}

// sys.sum's argument {values: [future(job, first), ..., future(job,
// first + n - 1)]}, then extra when extra >= 0; NULL when memory runs out.
static sl_value *
s_sum_of_futures(sl_job job, size_t first, size_t n, int64_t extra)
{
    sl_value *list = sl_value_new_list();
    for (size_t k = 0; list != NULL && k < n; k++) {
        if (s_append(list, sl_value_new_future(job, first + k)) != SL_OK) {
            sl_value_destroy(&list);
        }
    }
    if (list != NULL && extra >= 0 &&
        s_append(list, sl_value_new_int(extra)) != SL_OK) {
        sl_value_destroy(&list);
    }
    return s_values(list);
}

// {values: [i]}.
static sl_value *
s_sum_of_int(int64_t i)
{
    sl_value *list = sl_value_new_list();
    if (list != NULL && s_append(list, sl_value_new_int(i)) != SL_OK) {
        sl_value_destroy(&list);
    }
    return s_values(list);
}

static void
s_destroy_all(sl_value **args, size_t n)
{
    for (size_t i = 0; args != NULL && i < n; i++) {
        sl_value_destroy(&args[i]);
    }
    free(args);
}

// The integer result of task i of job, checked: ended OK and equal to want.
static sl_err
s_check_int(sl_client *c, sl_job job, size_t i, int64_t want, const char *what,
            char *errbuf)
{
    const sl_result *r = sl_job_result(c, job, i);
    const sl_value *v = NULL;
    if (r == NULL || r->status != SL_TASK_OK) {
        return sl__errf(errbuf, SL_EKERNEL, "%s did not end OK: %s", what,
                        r != NULL && r->error != NULL ? r->error : "?");
    }
    if (sl_job_value(c, job, i, &v) != SL_OK || sl_value_type(v) != SL_INT ||
        sl_value_int(v) != want) {
        return sl__errf(errbuf, SL_EKERNEL,
                        "%s is %" PRId64 ", not %" PRId64 " (or not an int)",
                        what, v != NULL ? sl_value_int(v) : 0, want);
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// The chain.

typedef struct {
    int links;          // in the chain
    sl_job *jobs;       // one per link
    double t_up;        // wall clock when every worker slot was counted
    double *starts;     // each link's start_s
    double *ends;       // and end_s
    double *gaps;       // end to end of consecutive links, measured ones
    double *handoffs;   // the input's end to the link's start, the same
    int measured;       // entries in gaps and handoffs
    double submit_s;    // the client's time to submit every link
    double p50, p99;    // of gaps, in microseconds
    double handoff_p50; // of handoffs, in microseconds
} s_chain;

static sl_err
s_chain_submit(sl_client *c, s_chain *ch, char *errbuf)
{
    double t0 = sl__mono();
    sl_err rv = SL_OK;
    for (int i = 0; rv == SL_OK && i < ch->links; i++) {
        sl_value *arg = i == 0 ? s_sum_of_int(0)
                               : s_sum_of_futures(ch->jobs[i - 1], 0, 1, 1);
        rv = arg != NULL ? sl_call_async(c, "sys.sum", arg, NULL, &ch->jobs[i])
                         : SL_ENOMEM;
        sl_value_destroy(&arg);
        if (rv != SL_OK) {
            return sl__errf(errbuf, rv, "chain link %d: %s", i,
                            sl_client_errstr(c));
        }
    }
    ch->submit_s = sl__mono() - t0;
    return SL_OK;
}

// Read link i's outcome into ch (starts, ends) and check its result is i;
// then release it. Waits for it if its outcome has not come yet (each
// link's job has its own DONE).
static sl_err
s_chain_take(sl_client *c, s_chain *ch, int i, char *errbuf)
{
    char what[64];
    sl_err rv = SL_OK;
    if (sl_job_done(c, ch->jobs[i]) == 0) {
        rv = sl_wait(c, &ch->jobs[i], 1, SL_ALL_COMPLETED, S_WAIT_MS);
    }
    if (rv != SL_OK) {
        return sl__errf(errbuf, rv, "waiting for chain link %d: %s", i,
                        sl_client_errstr(c));
    }
    sl__fmt(what, sizeof(what), "chain link %d", i);
    if ((rv = s_check_int(c, ch->jobs[i], 0, i, what, errbuf)) == SL_OK) {
        const sl_result *r = sl_job_result(c, ch->jobs[i], 0);
        ch->starts[i] = r->start_s;
        ch->ends[i] = r->end_s;
    }
    sl_job_release(c, ch->jobs[i]);
    ch->jobs[i].id = 0;
    return rv;
}

// Wait for the last link (it ends last: it takes every other), then take
// every outcome, the newest job first: the client keeps its jobs in a
// list, newest first, and looks each up from the head, so that taking and
// releasing them in this order costs the same for each. Check that no
// link started before its input ended; keep the gaps after ch->t_up.
static sl_err
s_chain_collect(sl_client *c, s_chain *ch, char *errbuf)
{
    sl_err rv = SL_OK;
    for (int i = ch->links - 1; rv == SL_OK && i >= 0; i--) {
        rv = s_chain_take(c, ch, i, errbuf);
    }
    for (int i = 1; rv == SL_OK && i < ch->links; i++) {
        double in_end = ch->ends[i - 1];
        if (ch->starts[i] < in_end) {
            return sl__errf(errbuf, SL_EKERNEL,
                            "chain link %d started %.1f us before its input "
                            "ended",
                            i, (in_end - ch->starts[i]) * 1e6);
        }
        if (in_end >= ch->t_up) {
            ch->gaps[ch->measured] = ch->ends[i] - in_end;
            ch->handoffs[ch->measured++] = ch->starts[i] - in_end;
        }
    }
    if (rv == SL_OK && ch->measured == 0) {
        return sl__errf(errbuf, SL_EKERNEL,
                        "the chain of %d ended before the workers were up",
                        ch->links);
    }
    return rv;
}

// The links not taken yet (on an error).
static void
s_chain_release(sl_client *c, s_chain *ch)
{
    for (int i = ch->links - 1; i >= 0; i--) {
        if (ch->jobs[i].id != 0) {
            sl_job_release(c, ch->jobs[i]);
        }
    }
}

static double
s_p_us(double *v, int n, double p)
{
    return sl__bench_percentile(v, (size_t) n, p) * 1e6;
}

// On cl, which has no workers yet: submit the chain, start the workers,
// run it; then the round trips on the same workers into rtt[0..n_rtt-1].
static sl_err
s_chain_run(sl__bench_ctx *ctx, sl__bench_cluster *cl, s_chain *ch, double *rtt,
            int n_rtt, char *errbuf)
{
    sl_err rv = s_chain_submit(cl->client, ch, errbuf);
    if (rv == SL_OK) {
        rv = sl__bench_cluster_workers_start(cl, &ctx->shape, 30000, errbuf);
        ch->t_up = sl__wall();
    }
    if (rv == SL_OK) {
        rv = s_chain_collect(cl->client, ch, errbuf);
    }
    s_chain_release(cl->client, ch);
    if (rv == SL_OK) {
        sl__bench_sort(ch->gaps, (size_t) ch->measured);
        sl__bench_sort(ch->handoffs, (size_t) ch->measured);
        ch->p50 = s_p_us(ch->gaps, ch->measured, 50);
        ch->p99 = s_p_us(ch->gaps, ch->measured, 99);
        ch->handoff_p50 = s_p_us(ch->handoffs, ch->measured, 50);
        rv = sl__bench_task_round_trips(cl->client, S_WARMUP, rtt, n_rtt,
                                        errbuf);
    }
    if (rv == SL_OK) {
        sl__bench_sort(rtt, (size_t) n_rtt);
    }
    return rv;
}

static void
s_chain_report(sl__bench_ctx *ctx, const s_chain *ch, double *rtt, int n_rtt)
{
    char settings[384];
    double rtt_p50 = s_p_us(rtt, n_rtt, 50), rtt_p99 = s_p_us(rtt, n_rtt, 99);
    sl__bench_settings(ctx, &ctx->shape, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings),
                           "links=%d;measured=%d;submit_s=%.3f;round_trips=%d;"
                           "warmup=%d",
                           ch->links, ch->measured, ch->submit_s, n_rtt,
                           S_WARMUP);
    const sl__bench_result rows[] = {
        {"dag", "chain_link_p50", ch->p50, rtt_p50, "us", SL__BENCH_RATIO_LE,
         1.0, settings},
        {"dag", "chain_link_p99", ch->p99, rtt_p99, "us", SL__BENCH_NO_TARGET,
         0, settings},
        // The scheduler's part of a link: input ended to link started.
        {"dag", "chain_handoff_p50", ch->handoff_p50, rtt_p50, "us",
         SL__BENCH_NO_TARGET, 0, settings},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl__bench_report_add(ctx->report, &rows[i]);
    }
}

// ---------------------------------------------------------------------
// The tree.

typedef struct {
    size_t leaves;              // tasks at the bottom
    sl_job jobs[S_MAX_LEVELS];  // one per level, leaves first
    size_t sizes[S_MAX_LEVELS]; // tasks in each
    int levels;                 // in jobs
    size_t tasks;               // over every level
    double submit_s, wall_s;    // first sl_map to the last, and to the root
} s_tree;

static sl_err
s_tree_leaves(sl_client *c, s_tree *t, char *errbuf)
{
    sl_value *vals[S_LEAF_VALUES] = {0};
    sl_value **args = calloc(t->leaves, sizeof(*args));
    sl_err rv = args != NULL ? SL_OK : SL_ENOMEM;
    for (int i = 0; rv == SL_OK && i < S_LEAF_VALUES; i++) {
        rv = (vals[i] = s_sum_of_int(i)) != NULL ? SL_OK : SL_ENOMEM;
    }
    for (size_t i = 0; rv == SL_OK && i < t->leaves; i++) {
        args[i] = vals[i % S_LEAF_VALUES];
    }
    if (rv == SL_OK && (rv = sl_map(c, "sys.sum", args, t->leaves, NULL,
                                    &t->jobs[0])) != SL_OK) {
        sl__errf(errbuf, rv, "the leaves' map: %s", sl_client_errstr(c));
    }
    if (rv == SL_OK) {
        t->sizes[0] = t->leaves;
        t->levels = 1;
    }
    for (int i = 0; i < S_LEAF_VALUES; i++) {
        sl_value_destroy(&vals[i]);
    }
    free(args);
    return rv;
}

// The level above the top one: task g sums tasks [16g, 16g + 16) of it.
static sl_err
s_tree_level(sl_client *c, s_tree *t, char *errbuf)
{
    sl_job below = t->jobs[t->levels - 1];
    size_t n_below = t->sizes[t->levels - 1];
    size_t n = (n_below + S_FAN_IN - 1) / S_FAN_IN;
    sl_value **args = calloc(n, sizeof(*args));
    sl_err rv = args != NULL ? SL_OK : SL_ENOMEM;
    for (size_t g = 0; rv == SL_OK && g < n; g++) {
        size_t first = g * S_FAN_IN;
        size_t k = n_below - first < S_FAN_IN ? n_below - first : S_FAN_IN;
        args[g] = s_sum_of_futures(below, first, k, -1);
        rv = args[g] != NULL ? SL_OK : SL_ENOMEM;
    }
    if (rv == SL_OK && (rv = sl_map(c, "sys.sum", args, n, NULL,
                                    &t->jobs[t->levels])) != SL_OK) {
        sl__errf(errbuf, rv, "level %d's map: %s", t->levels,
                 sl_client_errstr(c));
    }
    if (rv == SL_OK) {
        t->sizes[t->levels++] = n;
    }
    s_destroy_all(args, n);
    return rv;
}

// Every task ended OK, and the root is the sum of the leaves.
static sl_err
s_tree_check(sl_client *c, const s_tree *t, char *errbuf)
{
    sl_job_stats st;
    for (int l = 0; l < t->levels; l++) {
        if (sl_job_stats_get(c, t->jobs[l], &st) != SL_OK ||
            st.ok != t->sizes[l]) {
            return sl__errf(errbuf, SL_EKERNEL,
                            "tree level %d: %zu of %zu tasks ended OK", l,
                            st.ok, t->sizes[l]);
        }
    }
    int64_t want = 0;
    for (size_t i = 0; i < t->leaves; i++) {
        want += (int64_t) (i % S_LEAF_VALUES);
    }
    return s_check_int(c, t->jobs[t->levels - 1], 0, want, "the tree's root",
                       errbuf);
}

static sl_err
s_tree_run(sl_client *c, s_tree *t, char *errbuf)
{
    double t0 = sl__mono();
    sl_err rv = s_tree_leaves(c, t, errbuf);
    while (rv == SL_OK && t->sizes[t->levels - 1] > 1) {
        rv = t->levels < S_MAX_LEVELS ? s_tree_level(c, t, errbuf)
                                      : SL_EINVAL; // cannot: 16^15 > 2^59
    }
    t->submit_s = sl__mono() - t0;
    if (rv == SL_OK) {
        rv =
            sl_wait(c, &t->jobs[t->levels - 1], 1, SL_ALL_COMPLETED, S_WAIT_MS);
        t->wall_s = sl__mono() - t0;
        if (rv == SL_OK) {
            // Every outcome, for the check: the root's DONE can overtake
            // the leaves' last.
            rv = sl_wait(c, t->jobs, (size_t) t->levels, SL_ALL_COMPLETED,
                         S_WAIT_MS);
        }
        if (rv != SL_OK) {
            sl__errf(errbuf, rv, "waiting for the tree: %s",
                     sl_client_errstr(c));
        }
    }
    for (int l = 0; l < t->levels; l++) {
        t->tasks += t->sizes[l];
    }
    if (rv == SL_OK) {
        rv = s_tree_check(c, t, errbuf);
    }
    for (int l = 0; l < t->levels; l++) {
        sl_job_release(c, t->jobs[l]);
    }
    return rv;
}

static void
s_tree_report(sl__bench_ctx *ctx, const s_tree *t, double noop_s)
{
    char settings[384];
    sl__bench_settings(ctx, &ctx->shape, settings, sizeof(settings));
    sl__bench_settings_add(settings, sizeof(settings),
                           "leaves=%zu;fan_in=%d;levels=%d;tasks=%zu;"
                           "submit_s=%.3f;wall_s=%.3f;baseline=noop_map;"
                           "noop_wall_s=%.3f",
                           t->leaves, S_FAN_IN, t->levels, t->tasks,
                           t->submit_s, t->wall_s, noop_s);
    sl__bench_result r = {"dag",
                          "tree_tasks_per_s",
                          (double) t->tasks / t->wall_s,
                          (double) t->tasks / noop_s,
                          "tasks/s",
                          SL__BENCH_VALUE_GE,
                          300000,
                          settings};
    sl__bench_report_add(ctx->report, &r);
}

// ---------------------------------------------------------------------

sl_err
sl__bench_dag(sl__bench_ctx *ctx, char errbuf[SL_ERRSTR_LEN])
{
    int n_rtt = ctx->quick ? 1000 : 10000;
    s_chain ch = {.links = ctx->quick ? 2000 : 10000};
    s_tree tree = {.leaves = ctx->quick ? 100000 : 1000000};
    sl__bench_cluster cl = {0};
    double *rtt = calloc((size_t) n_rtt, sizeof(*rtt));
    double warm = 0, noop_s = 0;
    ch.jobs = calloc((size_t) ch.links, sizeof(*ch.jobs));
    ch.starts = calloc((size_t) ch.links, sizeof(*ch.starts));
    ch.ends = calloc((size_t) ch.links, sizeof(*ch.ends));
    ch.gaps = calloc((size_t) ch.links, sizeof(*ch.gaps));
    ch.handoffs = calloc((size_t) ch.links, sizeof(*ch.handoffs));
    sl_err rv = rtt != NULL && ch.jobs != NULL && ch.starts != NULL &&
                        ch.ends != NULL && ch.gaps != NULL &&
                        ch.handoffs != NULL
                    ? SL_OK
                    : SL_ENOMEM;
    if (rv == SL_OK) {
        rv = sl__bench_cluster_start(&cl, ctx->bin_dir, errbuf);
    }
    if (rv == SL_OK) {
        sl__bench_say(ctx,
                      "   a chain of %d sys.sum tasks, each taking the one "
                      "before by a future, submitted before the workers "
                      "start; then %d one-task round trips",
                      ch.links, n_rtt);
        if ((rv = s_chain_run(ctx, &cl, &ch, rtt, n_rtt, errbuf)) == SL_OK) {
            s_chain_report(ctx, &ch, rtt, n_rtt);
        }
    }
    if (rv == SL_OK) {
        sl__bench_say(ctx,
                      "   a tree of sys.sum tasks over %zu leaves, fan-in "
                      "%d, every level submitted at once; beside it a "
                      "plain sys.noop map of as many tasks",
                      tree.leaves, S_FAN_IN);
        // A short map first, as throughput's: every slot has run a map's
        // batch before the clock runs.
        rv = sl__bench_noop_map(cl.client, 10000, &warm, errbuf);
    }
    if (rv == SL_OK) {
        rv = s_tree_run(cl.client, &tree, errbuf);
    }
    if (rv == SL_OK && (rv = sl__bench_noop_map(cl.client, tree.tasks, &noop_s,
                                                errbuf)) == SL_OK) {
        s_tree_report(ctx, &tree, noop_s);
    }
    sl__bench_cluster_stop(&cl);
    free(ch.jobs);
    free(ch.starts);
    free(ch.ends);
    free(ch.gaps);
    free(ch.handoffs);
    free(rtt);
    return rv;
}
