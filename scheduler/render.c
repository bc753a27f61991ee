// render.c - a snapshot as Prometheus text and as JSON, and the escapers
// that keep both well formed whatever a peer named itself.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Names in a snapshot come from peers (a worker's READY). The loop keeps
//   them printable ASCII, but the escapers here do not count on it: any
//   bytes give valid JSON and a valid label value (invalid UTF-8 becomes
//   U+FFFD).
// - /metrics follows the text format 0.0.4: one HELP and one TYPE line per
//   family, before its samples; no family twice; a histogram's buckets
//   cumulative, ending with le="+Inf" equal to _count; base units
//   (seconds, bytes); no timestamps (Prometheus stamps the scrape). A
//   label set is never repeated: workers of one name are summed.
#include "render.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

// ---------------------------------------------------------------------
// Text.

void
sl__text_init(sl__text *t)
{
    t->p = NULL;
    t->len = t->cap = 0;
}

void
sl__text_fini(sl__text *t)
{
    free(t->p);
    sl__text_init(t);
}

static void
s_reserve(sl__text *t, size_t more)
{
    if (t->len + more + 1 <= t->cap) {
        return;
    }
    size_t cap = t->cap > 0 ? t->cap : 1024;
    while (cap < t->len + more + 1) {
        cap *= 2;
    }
    t->p = sl__xrealloc(t->p, cap);
    t->cap = cap;
}

void
sl__text_add(sl__text *t, const char *s, size_t n)
{
    s_reserve(t, n);
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void
sl__text_adds(sl__text *t, const char *s)
{
    sl__text_add(t, s, strlen(s));
}

void
sl__text_addf(sl__text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        return;
    }
    s_reserve(t, (size_t) n);
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t) n;
}

char *
sl__text_take(sl__text *t, size_t *len_out)
{
    s_reserve(t, 0);
    t->p[t->len] = '\0';
    char *p = t->p;
    *len_out = t->len;
    sl__text_init(t);
    return p;
}

// ---------------------------------------------------------------------
// Escapers.

// Bytes of the valid UTF-8 sequence at s (n bytes left), or 0: RFC 3629,
// so no overlong forms, no surrogates, nothing past U+10FFFF.
static size_t
s_utf8_len(const unsigned char *s, size_t n)
{
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned c = s[0];
    size_t len;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    uint32_t cp = c & (0x7fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

// One byte below 0x80 of a JSON string.
static void
s_json_ascii(sl__text *t, unsigned char c)
{
    switch (c) {
    case '"':
        sl__text_add(t, "\\\"", 2);
        break;
    case '\\':
        sl__text_add(t, "\\\\", 2);
        break;
    case '\n':
        sl__text_add(t, "\\n", 2);
        break;
    case '\r':
        sl__text_add(t, "\\r", 2);
        break;
    case '\t':
        sl__text_add(t, "\\t", 2);
        break;
    default:
        if (c < 0x20 || c == 0x7f) {
            sl__text_addf(t, "\\u%04x", c);
        } else {
            sl__text_add(t, (const char *) &c, 1);
        }
        break;
    }
}

void
sl__text_json_string(sl__text *t, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *) s;
    sl__text_add(t, "\"", 1);
    for (size_t i = 0; i < n;) {
        size_t len = s_utf8_len(u + i, n - i);
        if (len == 0) {
            sl__text_add(t, "\\ufffd", 6);
            i++;
        } else if (len == 1) {
            s_json_ascii(t, u[i++]);
        } else {
            sl__text_add(t, s + i, len);
            i += len;
        }
    }
    sl__text_add(t, "\"", 1);
}

void
sl__text_label_value(sl__text *t, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *) s;
    for (size_t i = 0; i < n;) {
        size_t len = s_utf8_len(u + i, n - i);
        if (len == 0) {
            sl__text_add(t, "\xef\xbf\xbd", 3); // U+FFFD
            i++;
        } else if (u[i] == '\\' || u[i] == '"') {
            char esc[2] = {'\\', s[i++]};
            sl__text_add(t, esc, 2);
        } else if (u[i] == '\n') {
            sl__text_add(t, "\\n", 2);
            i++;
        } else {
            sl__text_add(t, s + i, len);
            i += len;
        }
    }
}

void
sl__text_prom_number(sl__text *t, double x)
{
    char buf[40];
    if (isnan(x)) {
        sl__text_adds(t, "NaN");
    } else if (isinf(x)) {
        sl__text_adds(t, x > 0 ? "+Inf" : "-Inf");
    } else {
        // %.15g reads back exactly for most values and stays short
        // (0.1, not 0.10000000000000001); %.17g always does.
        snprintf(buf, sizeof(buf), "%.15g", x);
        if (strtod(buf, NULL) != x) {
            snprintf(buf, sizeof(buf), "%.17g", x);
        }
        sl__text_adds(t, buf);
    }
}

void
sl__text_json_number(sl__text *t, double x)
{
    if (isfinite(x)) {
        sl__text_prom_number(t, x);
    } else {
        sl__text_adds(t, "null");
    }
}

// ---------------------------------------------------------------------
// Workers, by name.

static int
s_by_name(const void *a, const void *b)
{
    const sl__snapshot_worker *x = *(const sl__snapshot_worker *const *) a;
    const sl__snapshot_worker *y = *(const sl__snapshot_worker *const *) b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->pid > y->pid) - (x->pid < y->pid);
}

// The snapshot's workers sorted by name (then pid), as a new array of
// pointers into it; the caller frees it.
static const sl__snapshot_worker **
s_sorted(const sl__snapshot *snap)
{
    const sl__snapshot_worker **w =
        sl__xcalloc(snap->n_workers + 1, sizeof(*w));
    for (uint32_t i = 0; i < snap->n_workers; i++) {
        w[i] = &snap->workers[i];
    }
    qsort(w, snap->n_workers, sizeof(*w), s_by_name);
    return w;
}

// ---------------------------------------------------------------------
// /metrics.

// The HELP and TYPE lines of a family. help is ours: no '\' or newline.
static void
s_family(sl__text *t, const char *name, const char *type, const char *help)
{
    sl__text_addf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

// A sample: name, its label set (with braces, or ""), its value.
static void
s_sample(sl__text *t, const char *name, const char *labels, double value)
{
    sl__text_addf(t, "%s%s ", name, labels);
    sl__text_prom_number(t, value);
    sl__text_add(t, "\n", 1);
}

static void
s_gauge(sl__text *t, const char *name, const char *help, double value)
{
    s_family(t, name, "gauge", help);
    s_sample(t, name, "", value);
}

static void
s_counter(sl__text *t, const char *name, const char *help, double value)
{
    s_family(t, name, "counter", help);
    s_sample(t, name, "", value);
}

static void
s_metrics_tasks(sl__text *t, const sl__snapshot *snap)
{
    static const char *status[SL_STATS_STATUSES] = {
        "{status=\"ok\"}", "{status=\"error\"}", "{status=\"failed\"}",
        "{status=\"cancelled\"}"};
    s_family(t, "starling_tasks_total", "counter",
             "Tasks ended since the scheduler started, by final status: ok, "
             "error (the kernel failed), failed (out of attempts: lost "
             "executors or workers), cancelled.");
    for (int i = 0; i < SL_STATS_STATUSES; i++) {
        s_sample(t, "starling_tasks_total", status[i],
                 (double) snap->stats.tasks[i]);
    }
    s_gauge(t, "starling_tasks_queued", "Tasks waiting for a worker.",
            (double) snap->status.queued);
    s_gauge(t, "starling_tasks_waiting",
            "Tasks held until the results their futures name have ended.",
            (double) snap->status.waiting);
    s_gauge(t, "starling_tasks_running",
            "Tasks leased to workers: running on a slot, or prefetched.",
            (double) snap->status.running);
}

static void
s_metrics_cluster(sl__text *t, const sl__snapshot *snap)
{
    const sl__status *st = &snap->status;
    uint32_t busy = st->busy < st->slots ? st->busy : st->slots;
    s_family(t, "starling_slots", "gauge",
             "Executor slots of the ready workers: busy (running a task) or "
             "idle.");
    s_sample(t, "starling_slots", "{state=\"busy\"}", busy);
    s_sample(t, "starling_slots", "{state=\"idle\"}", st->slots - busy);
    s_gauge(t, "starling_workers", "Ready workers.", st->workers);
    s_gauge(t, "starling_jobs_active",
            "Jobs the scheduler holds: submitted, and not yet ended and "
            "sent back.",
            st->jobs);
}

static void
s_metrics_run_seconds(sl__text *t, const sl__stats *s)
{
    const char *name = "starling_task_run_seconds";
    s_family(t, name, "histogram",
             "Run times of the tasks that ended ok or error, as their "
             "workers timed the kernel.");
    uint64_t cumulative = 0;
    for (int b = 0; b < SL_STATS_BUCKETS; b++) {
        cumulative += s->run_buckets[b];
        sl__text_addf(t, "%s_bucket{le=\"", name);
        sl__text_prom_number(t, sl__stats_bounds[b]);
        sl__text_addf(t, "\"} %llu\n", (unsigned long long) cumulative);
    }
    // The last bucket is the count itself, so that the two always agree.
    sl__text_addf(t, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                  (unsigned long long) s->run_count);
    s_sample(t, "starling_task_run_seconds_sum", "", s->run_sum_s);
    sl__text_addf(t, "%s_count %llu\n", name,
                  (unsigned long long) s->run_count);
}

static void
s_metrics_work(sl__text *t, const sl__stats *s)
{
    s_counter(t, "starling_flops_total",
              "Floating-point operations that the tasks ended ok or error "
              "counted.",
              s->flops);
    s_counter(t, "starling_task_read_bytes_total",
              "Bytes the ended tasks copied in: arguments, objects fetched "
              "from the store or another node, kernel reads.",
              (double) s->bytes_read);
    s_counter(t, "starling_task_written_bytes_total",
              "Bytes the ended tasks wrote: results, objects stored, "
              "kernel writes.",
              (double) s->bytes_written);
    s_counter(t, "starling_task_mapped_bytes_total",
              "Bytes of objects the ended tasks read in place from their "
              "node's object tier.",
              (double) s->bytes_mapped);
}

// One sample per distinct worker name of w (sorted by name), the values
// of workers that share a name summed.
static void
s_metrics_per_worker(sl__text *t, const char *name,
                     const sl__snapshot_worker **w, uint32_t n, bool busy)
{
    for (uint32_t i = 0; i < n;) {
        uint64_t sum = 0;
        uint32_t j = i;
        for (; j < n && strcmp(w[j]->name, w[i]->name) == 0; j++) {
            sum += busy ? w[j]->busy : w[j]->slots;
        }
        sl__text_addf(t, "%s{worker=\"", name);
        sl__text_label_value(t, w[i]->name, strlen(w[i]->name));
        sl__text_addf(t, "\"} %llu\n", (unsigned long long) sum);
        i = j;
    }
}

static void
s_metrics_workers(sl__text *t, const sl__snapshot *snap)
{
    const sl__snapshot_worker **w = s_sorted(snap);
    s_family(t, "starling_worker_slots", "gauge",
             "Executor slots of each ready worker, by its name.");
    s_metrics_per_worker(t, "starling_worker_slots", w, snap->n_workers, false);
    s_family(t, "starling_worker_busy_slots", "gauge",
             "Slots of each ready worker that run a task, by its name.");
    s_metrics_per_worker(t, "starling_worker_busy_slots", w, snap->n_workers,
                         true);
    free(w);
}

void
sl__render_metrics(sl__text *t, const sl__snapshot *snap)
{
    s_metrics_tasks(t, snap);
    s_metrics_cluster(t, snap);
    s_metrics_run_seconds(t, &snap->stats);
    s_metrics_work(t, &snap->stats);
    s_metrics_workers(t, snap);
}

// ---------------------------------------------------------------------
// JSON.

static double
s_age_s(const sl__snapshot *snap, int64_t now_ms)
{
    return now_ms > snap->taken_ms ? (double) (now_ms - snap->taken_ms) / 1000
                                   : 0;
}

// "key": x, with the comma before it unless first.
static void
s_json_key(sl__text *t, const char *key, bool first)
{
    sl__text_addf(t, "%s\"%s\": ", first ? "" : ", ", key);
}

static void
s_json_u(sl__text *t, const char *key, uint64_t x, bool first)
{
    s_json_key(t, key, first);
    sl__text_addf(t, "%llu", (unsigned long long) x);
}

static void
s_json_d(sl__text *t, const char *key, double x)
{
    s_json_key(t, key, false);
    sl__text_json_number(t, x);
}

// Seconds, to the millisecond: what the clocks behind them are good for,
// and short to read (1.403, not 1.4033837790000234).
static void
s_json_s(sl__text *t, const char *key, double x, bool first)
{
    s_json_key(t, key, first);
    sl__text_json_number(t, round(x * 1000) / 1000);
}

void
sl__render_status(sl__text *t, const sl__snapshot *snap, int64_t now_ms)
{
    const sl__status *st = &snap->status;
    const uint64_t *n = snap->stats.tasks;
    sl__text_add(t, "{", 1);
    s_json_u(t, "workers", st->workers, true);
    s_json_u(t, "slots", st->slots, false);
    s_json_u(t, "busy", st->busy, false);
    s_json_u(t, "queued", st->queued, false);
    s_json_u(t, "waiting", st->waiting, false);
    s_json_u(t, "running", st->running, false);
    s_json_u(t, "done", st->done, false);
    s_json_u(t, "jobs", st->jobs, false);
    s_json_d(t, "tasks_per_s", st->tasks_per_s);
    s_json_d(t, "gflops", st->gflops);
    s_json_s(t, "uptime_s", st->uptime_s, false);
    s_json_key(t, "tasks", false);
    sl__text_addf(t,
                  "{\"ok\": %llu, \"error\": %llu, \"failed\": %llu, "
                  "\"cancelled\": %llu}",
                  (unsigned long long) n[0], (unsigned long long) n[1],
                  (unsigned long long) n[2], (unsigned long long) n[3]);
    s_json_s(t, "taken_s", snap->taken_s, false);
    s_json_s(t, "age_s", s_age_s(snap, now_ms), false);
    sl__text_add(t, "}\n", 2);
}

// The node of a worker's name: the part before its first '/', as the
// workers and the object tier read it ("host/3" is worker 3 of host).
static size_t
s_node_len(const char *name)
{
    return strcspn(name, "/");
}

static void
s_json_worker(sl__text *t, const sl__snapshot_worker *w, int64_t now_ms)
{
    double heard =
        now_ms > w->heard_ms ? (double) (now_ms - w->heard_ms) / 1000 : 0;
    sl__text_add(t, "{\"name\": ", 9);
    sl__text_json_string(t, w->name, strlen(w->name));
    sl__text_adds(t, ", \"node\": ");
    sl__text_json_string(t, w->name, s_node_len(w->name));
    s_json_u(t, "pid", w->pid, false);
    s_json_u(t, "slots", w->slots, false);
    s_json_u(t, "busy", w->busy, false);
    s_json_u(t, "leases", w->leases, false);
    s_json_s(t, "last_heard_s", heard, false);
    sl__text_add(t, "}", 1);
}

void
sl__render_workers(sl__text *t, const sl__snapshot *snap, int64_t now_ms)
{
    const sl__snapshot_worker **w = s_sorted(snap);
    sl__text_add(t, "{", 1);
    s_json_s(t, "taken_s", snap->taken_s, true);
    s_json_s(t, "age_s", s_age_s(snap, now_ms), false);
    s_json_key(t, "workers", false);
    sl__text_add(t, "[", 1);
    for (uint32_t i = 0; i < snap->n_workers; i++) {
        sl__text_adds(t, i > 0 ? ", " : "");
        s_json_worker(t, w[i], now_ms);
    }
    sl__text_add(t, "]}\n", 3);
    free(w);
}
