// render_test.c - what the scheduler's HTTP endpoints say, without a
// server: the escapers (JSON strings, Prometheus label values, numbers),
// the counters of ended tasks, /metrics and the JSON of a made-up
// snapshot, and the board snapshots are published on.
// SPDX-License-Identifier: MIT
#include <math.h>
#include <pthread.h>

#include "scheduler/render.h"
#include "testutil.h"

// The escaped form of s (n bytes) by fn, into a static buffer.
static const char *
s_escaped(void (*fn)(sl__text *, const char *, size_t), const char *s, size_t n)
{
    static char out[256];
    sl__text t;
    sl__text_init(&t);
    fn(&t, s, n);
    sl__strlcpy(out, t.p, sizeof(out));
    sl__text_fini(&t);
    return out;
}

#define S_JSON(lit) s_escaped(sl__text_json_string, lit, sizeof(lit) - 1)
#define S_LABEL(lit) s_escaped(sl__text_label_value, lit, sizeof(lit) - 1)

static void
test_json_string(void)
{
    SL_ASSERT_STR(S_JSON("host/0"), "\"host/0\"");
    SL_ASSERT_STR(S_JSON("a\"b\\c"), "\"a\\\"b\\\\c\"");
    SL_ASSERT_STR(S_JSON("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
    SL_ASSERT_STR(S_JSON("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
    SL_ASSERT_STR(S_JSON("nul\0x"), "\"nul\\u0000x\"");
    // Valid UTF-8 passes as it is: é, €, U+1F600.
    SL_ASSERT_STR(S_JSON("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
                  "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    // Invalid UTF-8, each bad byte one U+FFFD: a stray continuation, a
    // lead byte never used, an overlong '/', a surrogate, a sequence cut
    // short, one past U+10FFFF.
    SL_ASSERT_STR(S_JSON("\x80"), "\"\\ufffd\"");
    SL_ASSERT_STR(S_JSON("\xff"), "\"\\ufffd\"");
    SL_ASSERT_STR(S_JSON("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
    SL_ASSERT_STR(S_JSON("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
    SL_ASSERT_STR(S_JSON("\xe2\x82"), "\"\\ufffd\\ufffd\"");
    SL_ASSERT_STR(S_JSON("\xf4\x90\x80\x80"),
                  "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    SL_ASSERT_STR(S_JSON("ok\xe2\x82x"), "\"ok\\ufffd\\ufffdx\"");
}

static void
test_label_value(void)
{
    // The three escapes of the text format; anything else as it is.
    SL_ASSERT_STR(S_LABEL("host/0"), "host/0");
    SL_ASSERT_STR(S_LABEL("C:\\DIR\\FILE"), "C:\\\\DIR\\\\FILE");
    SL_ASSERT_STR(S_LABEL("say \"hi\""), "say \\\"hi\\\"");
    SL_ASSERT_STR(S_LABEL("two\nlines"), "two\\nlines");
    SL_ASSERT_STR(S_LABEL("tab\there"), "tab\there");
    SL_ASSERT_STR(S_LABEL("\xc3\xa9"), "\xc3\xa9");
    SL_ASSERT_STR(S_LABEL("bad\xff"), "bad\xef\xbf\xbd");
}

static const char *
s_number(void (*fn)(sl__text *, double), double x)
{
    static char out[64];
    sl__text t;
    sl__text_init(&t);
    fn(&t, x);
    sl__strlcpy(out, t.p, sizeof(out));
    sl__text_fini(&t);
    return out;
}

static void
test_numbers(void)
{
    SL_ASSERT_STR(s_number(sl__text_prom_number, 0), "0");
    SL_ASSERT_STR(s_number(sl__text_prom_number, 0.1), "0.1");
    SL_ASSERT_STR(s_number(sl__text_prom_number, 0.0001), "0.0001");
    SL_ASSERT_STR(s_number(sl__text_prom_number, 3600), "3600");
    SL_ASSERT_STR(s_number(sl__text_prom_number, 1e21), "1e+21");
    SL_ASSERT_STR(s_number(sl__text_prom_number, INFINITY), "+Inf");
    SL_ASSERT_STR(s_number(sl__text_prom_number, -INFINITY), "-Inf");
    SL_ASSERT_STR(s_number(sl__text_prom_number, NAN), "NaN");
    // What does not fit 15 digits still reads back exactly.
    double third = 1.0 / 3;
    SL_ASSERT(strtod(s_number(sl__text_prom_number, third), NULL) == third);
    SL_ASSERT_STR(s_number(sl__text_json_number, 2.5), "2.5");
    SL_ASSERT_STR(s_number(sl__text_json_number, NAN), "null");
    SL_ASSERT_STR(s_number(sl__text_json_number, INFINITY), "null");
}

static sl__outcome
s_outcome(uint32_t status, double run_s, double flops)
{
    sl__outcome o = {0};
    o.status = status;
    o.stats.start_s = 0; // so that end - start is run_s exactly
    o.stats.end_s = run_s;
    o.stats.flops = flops;
    o.stats.bytes_read = 10;
    o.stats.bytes_written = 20;
    o.stats.bytes_mapped = 30;
    return o;
}

static void
test_stats(void)
{
    sl__stats s = {0};
    sl__outcome o = s_outcome(SL_WIRE_OK, 0.5, 1e6);
    sl__stats_task_end(&s, &o);
    o = s_outcome(SL_WIRE_OK, 0.0001, 0); // on a bound: in that bucket
    sl__stats_task_end(&s, &o);
    o = s_outcome(SL_WIRE_ERROR, 7200, 2e6); // past the last bound
    sl__stats_task_end(&s, &o);
    // A worker's nonsense counts as nothing, never as less.
    o = s_outcome(SL_WIRE_OK, -3, NAN);
    sl__stats_task_end(&s, &o);
    o = s_outcome(SL_WIRE_OK, 1e12, -5);
    sl__stats_task_end(&s, &o);
    // The scheduler's own ends: counted, but nothing ran.
    o = s_outcome(SL_WIRE_FAILED, 9, 9);
    sl__stats_task_end(&s, &o);
    o = s_outcome(SL_WIRE_CANCELLED, 9, 9);
    sl__stats_task_end(&s, &o);
    SL_ASSERT_EQ(s.tasks[SL_WIRE_OK - 1], 4);
    SL_ASSERT_EQ(s.tasks[SL_WIRE_ERROR - 1], 1);
    SL_ASSERT_EQ(s.tasks[SL_WIRE_FAILED - 1], 1);
    SL_ASSERT_EQ(s.tasks[SL_WIRE_CANCELLED - 1], 1);
    SL_ASSERT_EQ(s.run_count, 5);
    SL_ASSERT_NEAR(s.run_sum_s, 7200.5001, 1e-6);
    SL_ASSERT_EQ(s.run_buckets[0], 3); // 0.0001 and the two zeros
    SL_ASSERT_EQ(s.run_buckets[6], 1); // 0.5 (le 0.5)
    SL_ASSERT_EQ(s.run_buckets[SL_STATS_BUCKETS], 1);
    SL_ASSERT_NEAR(s.flops, 3e6, 0);
    SL_ASSERT_EQ(s.bytes_read, 50);
    SL_ASSERT_EQ(s.bytes_written, 100);
    SL_ASSERT_EQ(s.bytes_mapped, 150);
}

// Three workers, two of them of one name, one with a name that needs
// escaping.
static sl__snapshot *
s_snapshot(void)
{
    sl__snapshot *snap = sl__snapshot_new(3);
    snap->taken_ms = 5000;
    snap->taken_s = 1700000000.25;
    snap->status = (sl__status){.workers = 3,
                                .slots = 7,
                                .busy = 3,
                                .jobs = 2,
                                .queued = 40,
                                .waiting = 9,
                                .running = 5,
                                .done = 12,
                                .tasks_per_s = 2.5,
                                .gflops = 0,
                                .uptime_s = 61.0004};
    snap->stats.tasks[0] = 10;
    snap->stats.tasks[1] = 2;
    snap->stats.run_buckets[0] = 4;
    snap->stats.run_buckets[3] = 6;
    snap->stats.run_buckets[SL_STATS_BUCKETS] = 2;
    snap->stats.run_count = 12;
    snap->stats.run_sum_s = 7300.25;
    snap->stats.flops = 1.5e9;
    snap->stats.bytes_read = 123;
    snap->workers[0] = (sl__snapshot_worker){"b/0", 11, 4, 2, 3, 4000};
    snap->workers[1] = (sl__snapshot_worker){"a \"x\"\\", 12, 1, 1, 1, 4900};
    snap->workers[2] = (sl__snapshot_worker){"b/0", 13, 2, 0, 0, 5000};
    return snap;
}

static void
test_metrics(void)
{
    sl__snapshot *snap = s_snapshot();
    sl__text t;
    sl__text_init(&t);
    sl__render_metrics(&t, snap);
    const char *m = t.p;
    SL_ASSERT(t.len > 0 && m[t.len - 1] == '\n');
    SL_ASSERT_HAS(m, "# TYPE starling_tasks_total counter\n"
                     "starling_tasks_total{status=\"ok\"} 10\n"
                     "starling_tasks_total{status=\"error\"} 2\n"
                     "starling_tasks_total{status=\"failed\"} 0\n"
                     "starling_tasks_total{status=\"cancelled\"} 0\n");
    SL_ASSERT_HAS(m, "\nstarling_tasks_queued 40\n");
    SL_ASSERT_HAS(m, "\nstarling_tasks_waiting 9\n");
    SL_ASSERT_HAS(m, "\nstarling_tasks_running 5\n");
    SL_ASSERT_HAS(m, "\nstarling_slots{state=\"busy\"} 3\n"
                     "starling_slots{state=\"idle\"} 4\n");
    SL_ASSERT_HAS(m, "\nstarling_workers 3\n");
    SL_ASSERT_HAS(m, "\nstarling_jobs_active 2\n");
    SL_ASSERT_HAS(m, "\nstarling_flops_total 1500000000\n");
    SL_ASSERT_HAS(m, "\nstarling_task_read_bytes_total 123\n");
    // Cumulative buckets; +Inf is the count.
    SL_ASSERT_HAS(m, "# TYPE starling_task_run_seconds histogram\n"
                     "starling_task_run_seconds_bucket{le=\"0.0001\"} 4\n"
                     "starling_task_run_seconds_bucket{le=\"0.001\"} 4\n"
                     "starling_task_run_seconds_bucket{le=\"0.01\"} 4\n"
                     "starling_task_run_seconds_bucket{le=\"0.05\"} 10\n");
    SL_ASSERT_HAS(m, "starling_task_run_seconds_bucket{le=\"3600\"} 10\n"
                     "starling_task_run_seconds_bucket{le=\"+Inf\"} 12\n"
                     "starling_task_run_seconds_sum 7300.25\n"
                     "starling_task_run_seconds_count 12\n");
    // Workers by name: b/0 twice is one series, summed; the other name
    // escaped.
    SL_ASSERT_HAS(m, "starling_worker_slots{worker=\"a \\\"x\\\"\\\\\"} 1\n"
                     "starling_worker_slots{worker=\"b/0\"} 6\n");
    SL_ASSERT_HAS(m, "starling_worker_busy_slots{worker=\"a \\\"x\\\"\\\\\"} "
                     "1\nstarling_worker_busy_slots{worker=\"b/0\"} 2\n");
    // Every family once, HELP then TYPE.
    const char *names[] = {"starling_tasks_total", "starling_slots",
                           "starling_task_run_seconds",
                           "starling_worker_slots"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "# TYPE %s ", names[i]);
        const char *at = strstr(m, line);
        SL_ASSERT(at != NULL && strstr(at + 1, line) == NULL);
        snprintf(line, sizeof(line), "# HELP %s ", names[i]);
        SL_ASSERT(strstr(m, line) != NULL && strstr(m, line) < at);
    }
    sl__text_fini(&t);
    sl__snapshot_destroy(&snap);
}

static void
test_json(void)
{
    sl__snapshot *snap = s_snapshot();
    sl__text t;
    sl__text_init(&t);
    sl__render_status(&t, snap, 5250);
    SL_ASSERT_STR(t.p, "{\"workers\": 3, \"slots\": 7, \"busy\": 3, "
                       "\"queued\": 40, \"waiting\": 9, \"running\": 5, "
                       "\"done\": 12, "
                       "\"jobs\": 2, \"tasks_per_s\": 2.5, \"gflops\": 0, "
                       "\"uptime_s\": 61, \"tasks\": {\"ok\": 10, "
                       "\"error\": 2, \"failed\": 0, \"cancelled\": 0}, "
                       "\"taken_s\": 1700000000.25, \"age_s\": 0.25}\n");
    sl__text_fini(&t);
    // By name, then pid; the node is the name up to its '/'.
    sl__render_workers(&t, snap, 5250);
    SL_ASSERT_STR(
        t.p, "{\"taken_s\": 1700000000.25, \"age_s\": 0.25, \"workers\": ["
             "{\"name\": \"a \\\"x\\\"\\\\\", \"node\": \"a \\\"x\\\"\\\\\", "
             "\"pid\": 12, \"slots\": 1, \"busy\": 1, \"leases\": 1, "
             "\"last_heard_s\": 0.35}, "
             "{\"name\": \"b/0\", \"node\": \"b\", \"pid\": 11, \"slots\": 4, "
             "\"busy\": 2, \"leases\": 3, \"last_heard_s\": 1.25}, "
             "{\"name\": \"b/0\", \"node\": \"b\", \"pid\": 13, \"slots\": 2, "
             "\"busy\": 0, \"leases\": 0, \"last_heard_s\": 0.25}]}\n");
    sl__text_fini(&t);
    sl__snapshot_destroy(&snap);
}

static void
test_no_workers(void)
{
    sl__snapshot *snap = sl__snapshot_new(0);
    sl__text t;
    sl__text_init(&t);
    sl__render_metrics(&t, snap);
    SL_ASSERT_HAS(t.p, "# TYPE starling_worker_slots gauge\n# HELP");
    SL_ASSERT(strstr(t.p, "{worker=") == NULL);
    sl__text_fini(&t);
    sl__render_workers(&t, snap, 0);
    SL_ASSERT_HAS(t.p, "\"workers\": []}\n");
    sl__text_fini(&t);
    sl__snapshot_destroy(&snap);
}

static void *
s_try_publish(void *arg)
{
    sl__board *b = arg;
    sl__snapshot *snap = sl__snapshot_new(0);
    bool published = sl__board_publish(b, &snap);
    sl__snapshot_destroy(&snap); // NULL when published
    return published ? b : NULL;
}

static void
test_board(void)
{
    sl__board b;
    sl__board_init(&b);
    SL_ASSERT(sl__board_acquire(&b) == NULL);
    sl__snapshot *first = sl__snapshot_new(1);
    sl__snapshot *keep = first;
    SL_ASSERT(sl__board_publish(&b, &first));
    SL_ASSERT(first == NULL);
    // A reader keeps its snapshot alive across a newer publication.
    sl__snapshot *held = sl__board_acquire(&b);
    SL_ASSERT(held == keep && held->refs == 2);
    sl__snapshot *second = sl__snapshot_new(2);
    SL_ASSERT(sl__board_publish(&b, &second));
    SL_ASSERT_EQ(held->refs, 1);
    SL_ASSERT_EQ(held->n_workers, 1);
    sl__board_release(&b, &held); // the last holder frees it
    SL_ASSERT(held == NULL);
    sl__snapshot *now = sl__board_acquire(&b);
    SL_ASSERT_EQ(now->n_workers, 2);
    sl__board_release(&b, &now);
    // With the lock held by a reader, the publisher does not wait.
    pthread_t th;
    void *rv = NULL;
    pthread_mutex_lock(&b.lock);
    SL_ASSERT(pthread_create(&th, NULL, s_try_publish, &b) == 0);
    SL_ASSERT(pthread_join(th, &rv) == 0);
    pthread_mutex_unlock(&b.lock);
    SL_ASSERT(rv == NULL);
    SL_ASSERT(pthread_create(&th, NULL, s_try_publish, &b) == 0);
    SL_ASSERT(pthread_join(th, &rv) == 0);
    SL_ASSERT(rv == &b);
    sl__board_fini(&b);
}

int
main(void)
{
    SL_RUN(test_json_string);
    SL_RUN(test_label_value);
    SL_RUN(test_numbers);
    SL_RUN(test_stats);
    SL_RUN(test_metrics);
    SL_RUN(test_json);
    SL_RUN(test_no_workers);
    SL_RUN(test_board);
    return 0;
}
