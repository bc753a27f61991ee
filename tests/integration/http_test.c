// http_test.c - the scheduler's HTTP endpoints against a real cluster,
// over real sockets: /metrics in the Prometheus text format with counters
// that match the jobs run, the JSON endpoints, keep-alive, 404, 405, 413
// and 431, slow clients that send a byte a second while others are
// served, a real Prometheus scraping /metrics and answering for the task
// counters through its HTTP API; and the token: a non-loopback address
// without one is refused at start, a token file others may read is
// refused, and with one a missing or wrong token gets 401 and the right
// one 200, on loopback and on 192.0.2.1 in a network namespace of the
// test's own.
// SPDX-License-Identifier: MIT
//
// Prometheus (Debian's prometheus package) is started on loopback, on a
// free port, with its data in the test's home, and stopped by its PID.
// Without it the test fails when $CI is set (scripts/test.sh installs
// it) and skips that part otherwise, saying so.
#define _GNU_SOURCE
#include <starling/starling.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include "../../client/launch/watch.h"
#include "harness.h"
#include "testutil.h"

// The jobs: noops, kernels that fail, and sleeps long enough to land
// past the histogram's first buckets.
#define S_NOOPS 300
#define S_FAILS 7
#define S_SLEEPS 4
#define S_SLEEP_MS 30
#define S_TASKS (S_NOOPS + S_FAILS + S_SLEEPS)

// A token for the tests, and one that is not it.
#define S_TOKEN "0123456789abcdef-the-test-token"
#define S_WRONG "0123456789abcdef-not-the-token!"

// TEST-NET-1 (RFC 5737): never a real host's address.
#define S_NETNS_ADDR "192.0.2.1"

static sl__cluster_info s_info;
static char s_host[64];
static int s_port;
static pid_t s_prometheus;

static double
s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

// ---------------------------------------------------------------------
// A small HTTP client: one request per connection, read to the end.

typedef struct {
    int status;   // 0: no answer
    char *text;   // the whole answer, NUL-terminated (malloc'd)
    size_t len;   // its length
    char *body;   // into text, after the headers
    char *header; // into text: the headers
} s_resp;

static void
s_resp_free(s_resp *r)
{
    free(r->text);
    memset(r, 0, sizeof(*r));
}

// A connection to host:port (IPv4), with 15 s send and receive timeouts
// so that a stuck server fails the test rather than hanging it.
static int
s_connect(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t) port)};
    SL_ASSERT(inet_pton(AF_INET, host, &sa.sin_addr) == 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SL_ASSERT(fd >= 0);
    struct timeval tv = {.tv_sec = 15};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        SL_FAIL_AT("connect %s:%d: %s", host, port, strerror(errno));
    }
    return fd;
}

// Send len bytes of req, then read until the server closes. A send the
// server cut short (it answered and closed first) is not an error: the
// answer is what counts.
static s_resp
s_exchange(const char *host, int port, const char *req, size_t len)
{
    int fd = s_connect(host, port);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        off += (size_t) n;
    }
    s_resp r = {0};
    size_t cap = 0;
    for (;;) {
        if (cap - r.len < 4096) {
            cap = cap > 0 ? cap * 2 : 65536;
            r.text = realloc(r.text, cap);
            SL_ASSERT(r.text != NULL);
        }
        ssize_t n = recv(fd, r.text + r.len, cap - r.len - 1, 0);
        if (n <= 0) {
            SL_ASSERT(n == 0 || errno == ECONNRESET);
            break;
        }
        r.len += (size_t) n;
    }
    close(fd);
    r.text[r.len] = '\0';
    sscanf(r.text, "HTTP/1.%*d %d", &r.status);
    char *end = strstr(r.text, "\r\n\r\n");
    r.header = r.text;
    r.body = end != NULL ? end + 4 : r.text + r.len;
    return r;
}

// method path with extra header lines (each ending in \r\n, or "").
static s_resp
s_request(const char *host, int port, const char *method, const char *path,
          const char *headers)
{
    char req[8192];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n"
                     "%s\r\n",
                     method, path, host, port, headers);
    SL_ASSERT(n > 0 && (size_t) n < sizeof(req));
    return s_exchange(host, port, req, (size_t) n);
}

static s_resp
s_get(const char *path)
{
    return s_request(s_host, s_port, "GET", path, "");
}

// The header's value in an answer (case as the server writes it), into a
// static buffer; "" when absent.
static const char *
s_header(const s_resp *r, const char *name)
{
    static char value[256];
    char key[128];
    snprintf(key, sizeof(key), "\r\n%s: ", name);
    const char *at = strstr(r->header, key);
    value[0] = '\0';
    if (at != NULL && at < r->body) {
        at += strlen(key);
        size_t n = strcspn(at, "\r\n");
        snprintf(value, sizeof(value), "%.*s", (int) n, at);
    }
    return value;
}

// ---------------------------------------------------------------------
// The Prometheus text format 0.0.4, checked as strictly as Prometheus
// reads it.

#define S_MAX_FAMILIES 64
#define S_MAX_SERIES 512

typedef struct {
    char name[128];  // the family's name
    char type[16];   // from its TYPE line
    bool help;       // it had a HELP line
    bool closed;     // another family came after it
    double last_le;  // histograms: the last bucket's bound
    double last_cum; // and its count
    double inf;      // the le="+Inf" bucket; NaN: none yet
} s_family;

typedef struct {
    s_family fam[S_MAX_FAMILIES];
    int n_fam;
    int current; // the family of the last line; -1: none
    char *series[S_MAX_SERIES];
    int n_series;
    int line; // for messages
} s_expo;

static bool
s_name_ok(const char *s, size_t n, bool label)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     c == '_' || (!label && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
            return false;
        }
    }
    return n > 0;
}

static double
s_value(const char *s, size_t n, bool *ok)
{
    char buf[64];
    *ok = n > 0 && n < sizeof(buf);
    if (!*ok) {
        return 0;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "-Inf") == 0) {
        return buf[0] == '+' ? INFINITY : -INFINITY;
    }
    if (strcmp(buf, "NaN") == 0) {
        return NAN;
    }
    char *end = NULL;
    double x = strtod(buf, &end);
    *ok = *end == '\0' && strspn(buf, "0123456789.eE+-") == n;
    return x;
}

static int
s_family_find(s_expo *e, const char *name, size_t n)
{
    for (int i = 0; i < e->n_fam; i++) {
        if (strlen(e->fam[i].name) == n &&
            strncmp(e->fam[i].name, name, n) == 0) {
            return i;
        }
    }
    return -1;
}

// Make family i the current one: a family may not come back once another
// has followed it.
static void
s_family_enter(s_expo *e, int i)
{
    if (e->current == i) {
        return;
    }
    if (e->fam[i].closed) {
        SL_FAIL_AT("line %d: family %s comes back after others", e->line,
                   e->fam[i].name);
    }
    if (e->current >= 0) {
        e->fam[e->current].closed = true;
    }
    e->current = i;
}

static int
s_family_add(s_expo *e, const char *name, size_t n)
{
    int i = s_family_find(e, name, n);
    if (i >= 0) {
        return i;
    }
    SL_ASSERT(e->n_fam < S_MAX_FAMILIES && n < sizeof(e->fam[0].name));
    s_family *f = &e->fam[e->n_fam];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, n);
    f->last_le = -INFINITY;
    f->inf = NAN;
    return e->n_fam++;
}

// "# HELP name text" or "# TYPE name type"; other comments are ignored.
static void
s_expo_comment(s_expo *e, const char *line, size_t len)
{
    bool help = strncmp(line, "# HELP ", 7) == 0;
    bool type = strncmp(line, "# TYPE ", 7) == 0;
    if (!help && !type) {
        return;
    }
    const char *name = line + 7;
    size_t n = strcspn(name, " \n");
    SL_ASSERT(s_name_ok(name, n, false));
    int i = s_family_add(e, name, n);
    s_family_enter(e, i);
    s_family *f = &e->fam[i];
    const char *rest = name + n + 1;
    size_t rest_len = line + len - rest;
    if (help) {
        if (f->help) {
            SL_FAIL_AT("line %d: a second HELP for %s", e->line, f->name);
        }
        f->help = true;
        return;
    }
    const char *types[] = {"counter", "gauge", "histogram", "summary",
                           "untyped"};
    bool known = false;
    for (size_t k = 0; k < 5; k++) {
        known |= strlen(types[k]) == rest_len &&
                 strncmp(rest, types[k], rest_len) == 0;
    }
    if (f->type[0] != '\0' || !known) {
        SL_FAIL_AT("line %d: a second or unknown TYPE: %.*s", e->line,
                   (int) len, line);
    }
    snprintf(f->type, sizeof(f->type), "%.*s", (int) rest_len, rest);
}

// The labels at *p ("{...}"), each name="value" with only \\, \" and \n
// escapes; the le label's value into *le (NaN without one).
static void
s_expo_labels(s_expo *e, const char **p, double *le)
{
    const char *s = *p + 1;
    *le = NAN;
    while (*s != '}') {
        size_t n = strcspn(s, "=");
        if (!s_name_ok(s, n, true) || s[n] != '=' || s[n + 1] != '"') {
            SL_FAIL_AT("line %d: a bad label at %.20s", e->line, s);
        }
        bool is_le = n == 2 && strncmp(s, "le", 2) == 0;
        s += n + 2;
        const char *v = s;
        while (*s != '"') {
            if (*s == '\n' || *s == '\0') {
                SL_FAIL_AT("line %d: a label value does not end", e->line);
            }
            if (*s == '\\' && s[1] != '\\' && s[1] != '"' && s[1] != 'n') {
                SL_FAIL_AT("line %d: a bad escape \\%c", e->line, s[1]);
            }
            s += *s == '\\' ? 2 : 1;
        }
        if (is_le) {
            bool ok;
            *le = s_value(v, (size_t) (s - v), &ok);
            SL_ASSERT(ok);
        }
        s++;
        if (*s == ',') {
            s++;
        } else if (*s != '}') {
            SL_FAIL_AT("line %d: a bad label list", e->line);
        }
    }
    *p = s + 1;
}

// The histogram checks of one sample of family f.
static void
s_expo_histogram(s_expo *e, s_family *f, const char *suffix, double le,
                 double value)
{
    if (strcmp(suffix, "_bucket") == 0) {
        SL_ASSERT(!isnan(le));
        if (le <= f->last_le || value < f->last_cum) {
            SL_FAIL_AT("line %d: %s buckets out of order or not cumulative",
                       e->line, f->name);
        }
        f->last_le = le;
        f->last_cum = value;
        if (isinf(le)) {
            f->inf = value;
        }
    } else if (strcmp(suffix, "_count") == 0) {
        if (isnan(f->inf) || f->inf != value) {
            SL_FAIL_AT("line %d: %s_count %g is not the +Inf bucket %g",
                       e->line, f->name, value, f->inf);
        }
    }
}

static void
s_expo_sample(s_expo *e, const char *line, size_t len)
{
    const char *p = line;
    size_t n = strcspn(p, "{ ");
    if (!s_name_ok(p, n, false)) {
        SL_FAIL_AT("line %d: a bad metric name: %.*s", e->line, (int) len,
                   line);
    }
    // The family: the name, or a histogram's name without its suffix.
    int i = s_family_find(e, p, n);
    const char *suffix = "";
    const char *suffixes[] = {"_bucket", "_sum", "_count"};
    for (int k = 0; i < 0 && k < 3; k++) {
        size_t sl = strlen(suffixes[k]);
        if (n > sl && strncmp(p + n - sl, suffixes[k], sl) == 0) {
            i = s_family_find(e, p, n - sl);
            suffix = suffixes[k];
        }
    }
    if (i < 0 || e->fam[i].type[0] == '\0') {
        SL_FAIL_AT("line %d: a sample before its TYPE: %.*s", e->line,
                   (int) len, line);
    }
    s_family_enter(e, i);
    p += n;
    double le = NAN;
    if (*p == '{') {
        s_expo_labels(e, &p, &le);
    }
    // The series (name and labels) must be new.
    size_t series_len = (size_t) (p - line);
    for (int k = 0; k < e->n_series; k++) {
        if (strlen(e->series[k]) == series_len &&
            strncmp(e->series[k], line, series_len) == 0) {
            SL_FAIL_AT("line %d: a series twice: %.*s", e->line,
                       (int) series_len, line);
        }
    }
    SL_ASSERT(e->n_series < S_MAX_SERIES);
    e->series[e->n_series++] = strndup(line, series_len);
    SL_ASSERT(*p == ' ');
    p++;
    size_t vlen = strcspn(p, " \n");
    bool ok;
    double value = s_value(p, vlen, &ok);
    if (!ok || (p[vlen] == ' ' && strspn(p + vlen + 1, "-0123456789") !=
                                      (size_t) (line + len - p - vlen - 1))) {
        SL_FAIL_AT("line %d: a bad value or timestamp: %.*s", e->line,
                   (int) len, line);
    }
    if (strcmp(e->fam[i].type, "histogram") == 0) {
        s_expo_histogram(e, &e->fam[i], suffix, le, value);
    }
}

// Fail unless text is valid text format 0.0.4 in which every family has
// HELP and TYPE.
static void
s_check_exposition(const char *text)
{
    s_expo *e = calloc(1, sizeof(*e));
    SL_ASSERT(e != NULL);
    e->current = -1;
    size_t total = strlen(text);
    SL_ASSERT(total > 0 && text[total - 1] == '\n');
    SL_ASSERT(strchr(text, '\r') == NULL);
    for (const char *line = text; *line != '\0';) {
        size_t len = strcspn(line, "\n");
        e->line++;
        if (len == 0) {
            // An empty line: ignored.
        } else if (line[0] == '#') {
            s_expo_comment(e, line, len);
        } else {
            s_expo_sample(e, line, len);
        }
        line += len + 1;
    }
    for (int i = 0; i < e->n_fam; i++) {
        SL_ASSERT(e->fam[i].help && e->fam[i].type[0] != '\0');
    }
    for (int k = 0; k < e->n_series; k++) {
        free(e->series[k]);
    }
    free(e);
}

// The value of a series ("name" or "name{labels}", exactly as written) in
// a /metrics text; NaN when it is not there.
static double
s_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; *line != '\0';
         line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != '\0')) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            return strtod(line + n + 1, NULL);
        }
    }
    return NAN;
}

// ---------------------------------------------------------------------
// The jobs, and /metrics after them.

static sl_job
s_job(sl_client *c, const char *function, size_t n, int64_t ms)
{
    sl_value **args = calloc(n, sizeof(*args));
    SL_ASSERT(args != NULL);
    for (size_t i = 0; ms > 0 && i < n; i++) {
        args[i] = sl_value_new_map();
        sl_value *v = sl_value_new_int(ms);
        SL_PASS(sl_value_map_set(args[i], "ms", &v));
    }
    sl_job job;
    SL_PASS(sl_map(c, function, args, n, NULL, &job));
    for (size_t i = 0; i < n; i++) {
        sl_value_destroy(&args[i]);
    }
    free(args);
    return job;
}

// What the jobs' own statistics say, summed: /metrics must agree.
static sl_job_stats s_jobs_total;

static void
s_run_jobs(void)
{
    sl_client *c = NULL;
    SL_PASS(sl_client_connect(&c, s_info.scheduler));
    sl_job jobs[3] = {s_job(c, "sys.noop", S_NOOPS, 0),
                      s_job(c, "sys.fail", S_FAILS, 0),
                      s_job(c, "sys.sleep", S_SLEEPS, S_SLEEP_MS)};
    SL_PASS(sl_wait(c, jobs, 3, SL_ALL_COMPLETED, 60000));
    memset(&s_jobs_total, 0, sizeof(s_jobs_total));
    for (int i = 0; i < 3; i++) {
        sl_job_stats st;
        SL_PASS(sl_job_stats_get(c, jobs[i], &st));
        s_jobs_total.tasks += st.tasks;
        s_jobs_total.ok += st.ok;
        s_jobs_total.failed += st.failed;
        s_jobs_total.flops += st.flops;
        s_jobs_total.task_s += st.task_s;
        s_jobs_total.bytes_read += st.bytes_read;
        s_jobs_total.bytes_written += st.bytes_written;
        s_jobs_total.bytes_mapped += st.bytes_mapped;
        sl_job_release(c, jobs[i]);
    }
    sl_client_destroy(&c);
    SL_ASSERT_EQ(s_jobs_total.tasks, S_TASKS);
    SL_ASSERT_EQ(s_jobs_total.ok, S_NOOPS + S_SLEEPS);
    SL_ASSERT_EQ(s_jobs_total.failed, S_FAILS);
}

// /metrics once the snapshot has every task of the jobs (one comes every
// 200 ms); the caller frees it.
static s_resp
s_metrics_settled(void)
{
    double t0 = s_now();
    for (;;) {
        s_resp r = s_get("/metrics");
        SL_ASSERT_EQ(r.status, 200);
        double ok = s_metric(r.body, "starling_tasks_total{status=\"ok\"}");
        double error =
            s_metric(r.body, "starling_tasks_total{status=\"error\"}");
        if (ok + error == S_TASKS &&
            s_metric(r.body, "starling_slots{state=\"busy\"}") == 0) {
            return r;
        }
        SL_ASSERT(s_now() - t0 < 10);
        s_resp_free(&r);
        usleep(50 * 1000);
    }
}

static void
test_metrics(void)
{
    s_run_jobs();
    s_resp r = s_metrics_settled();
    SL_ASSERT_STR(s_header(&r, "Content-Type"),
                  "text/plain; version=0.0.4; charset=utf-8");
    s_check_exposition(r.body);
    const char *m = r.body;
    SL_ASSERT_EQ(s_metric(m, "starling_tasks_total{status=\"ok\"}"),
                 S_NOOPS + S_SLEEPS);
    SL_ASSERT_EQ(s_metric(m, "starling_tasks_total{status=\"error\"}"),
                 S_FAILS);
    SL_ASSERT_EQ(s_metric(m, "starling_tasks_total{status=\"failed\"}"), 0);
    SL_ASSERT_EQ(s_metric(m, "starling_tasks_total{status=\"cancelled\"}"), 0);
    SL_ASSERT_EQ(s_metric(m, "starling_tasks_queued"), 0);
    SL_ASSERT_EQ(s_metric(m, "starling_tasks_running"), 0);
    SL_ASSERT_EQ(s_metric(m, "starling_workers"), 2);
    SL_ASSERT_EQ(s_metric(m, "starling_slots{state=\"idle\"}"), 2);
    // Every ended task was timed; the sleeps ran past 10 ms, and their
    // seconds are in the sum, which the jobs' own figures agree with.
    SL_ASSERT_EQ(s_metric(m, "starling_task_run_seconds_count"), S_TASKS);
    SL_ASSERT(
        s_metric(m, "starling_task_run_seconds_count") -
            s_metric(m, "starling_task_run_seconds_bucket{le=\"0.01\"}") >=
        S_SLEEPS);
    double sum = s_metric(m, "starling_task_run_seconds_sum");
    SL_ASSERT(sum >= S_SLEEPS * S_SLEEP_MS / 1000.0);
    SL_ASSERT_NEAR(sum, s_jobs_total.task_s, 1e-6 * S_TASKS);
    SL_ASSERT_NEAR(s_metric(m, "starling_flops_total"), s_jobs_total.flops,
                   1e-9 * (1 + s_jobs_total.flops));
    SL_ASSERT_EQ(s_metric(m, "starling_task_read_bytes_total"),
                 s_jobs_total.bytes_read);
    SL_ASSERT(s_jobs_total.bytes_read > 0);
    SL_ASSERT_EQ(s_metric(m, "starling_task_written_bytes_total"),
                 s_jobs_total.bytes_written);
    SL_ASSERT_EQ(s_metric(m, "starling_task_mapped_bytes_total"),
                 s_jobs_total.bytes_mapped);
    fprintf(stderr, "   /metrics: %zu bytes, valid text format 0.0.4\n",
            strlen(m));
    s_resp_free(&r);
}

// ---------------------------------------------------------------------
// The JSON endpoints.

// How often needle occurs in s.
static int
s_count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p != NULL;
         p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void
test_json(void)
{
    s_resp r = s_get("/api/status");
    SL_ASSERT_EQ(r.status, 200);
    SL_ASSERT_STR(s_header(&r, "Content-Type"), "application/json");
    SL_ASSERT_STR(s_header(&r, "Cache-Control"), "no-store");
    SL_ASSERT(r.body[0] == '{');
    SL_ASSERT_HAS(r.body, "\"workers\": 2, \"slots\": 2, \"busy\": 0, ");
    char done[64];
    snprintf(done, sizeof(done), "\"done\": %d, ", S_TASKS);
    SL_ASSERT_HAS(r.body, done);
    snprintf(done, sizeof(done), "\"tasks\": {\"ok\": %d, \"error\": %d, ",
             S_NOOPS + S_SLEEPS, S_FAILS);
    SL_ASSERT_HAS(r.body, done);
    s_resp_free(&r);

    // Each worker, and each of them also in /metrics by its name.
    r = s_get("/api/workers");
    SL_ASSERT_EQ(r.status, 200);
    SL_ASSERT_EQ(s_count(r.body, "{\"name\": \""), 2);
    SL_ASSERT_EQ(s_count(r.body, "\"slots\": 1, \"busy\": 0, "), 2);
    s_resp m = s_get("/metrics");
    for (const char *p = strstr(r.body, "{\"name\": \""); p != NULL;
         p = strstr(p + 1, "{\"name\": \"")) {
        char series[160];
        p += 10;
        snprintf(series, sizeof(series),
                 "starling_worker_slots{worker=\"%.*s\"}",
                 (int) strcspn(p, "\""), p);
        SL_ASSERT_EQ(s_metric(m.body, series), 1);
        double heard = strtod(strstr(p, "\"last_heard_s\": ") + 16, NULL);
        SL_ASSERT(heard >= 0 && heard < 5);
    }
    s_resp_free(&m);
    s_resp_free(&r);

    // The index names the endpoints (until the dashboard serves there).
    r = s_get("/");
    SL_ASSERT_EQ(r.status, 200);
    SL_ASSERT_HAS(s_header(&r, "Content-Type"), "text/html");
    SL_ASSERT_HAS(r.body, "/metrics");
    s_resp_free(&r);
}

// Two requests on one connection: both answered (keep-alive), the second
// closing it.
static void
test_keep_alive(void)
{
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /api/status HTTP/1.1\r\nHost: %s\r\n\r\n"
                     "GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: "
                     "close\r\n\r\n",
                     s_host, s_host);
    s_resp r = s_exchange(s_host, s_port, req, (size_t) n);
    SL_ASSERT_EQ(s_count(r.text, "HTTP/1.1 200 OK\r\n"), 2);
    SL_ASSERT_HAS(r.text, "\"workers\": 2");
    SL_ASSERT_HAS(r.text, "starling_workers 2\n");
    s_resp_free(&r);
}

// ---------------------------------------------------------------------
// Refusals.

static void
test_refusals(void)
{
    s_resp r = s_get("/nothing/here");
    SL_ASSERT_EQ(r.status, 404);
    s_resp_free(&r);
    r = s_get("/metrics/");
    SL_ASSERT_EQ(r.status, 404);
    s_resp_free(&r);

    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        r = s_request(s_host, s_port, methods[i], "/metrics", "");
        SL_ASSERT_EQ(r.status, 405);
        SL_ASSERT_STR(s_header(&r, "Allow"), "GET, HEAD");
        s_resp_free(&r);
    }
    // HEAD: the headers of a GET, no body.
    r = s_request(s_host, s_port, "HEAD", "/metrics", "");
    SL_ASSERT_EQ(r.status, 200);
    SL_ASSERT(atoi(s_header(&r, "Content-Length")) > 0);
    SL_ASSERT_EQ(strlen(r.body), 0);
    s_resp_free(&r);

    // A body over 4 KiB (said by Content-Length, or chunked): 413 at once,
    // before a byte of it is sent. One within bounds is read and ignored.
    r = s_request(s_host, s_port, "POST", "/metrics",
                  "Content-Length: 100000000\r\n");
    SL_ASSERT_EQ(r.status, 413);
    s_resp_free(&r);
    r = s_request(s_host, s_port, "GET", "/api/status",
                  "Content-Length: 4097\r\n");
    SL_ASSERT_EQ(r.status, 413);
    s_resp_free(&r);
    r = s_request(s_host, s_port, "POST", "/api/status",
                  "Transfer-Encoding: chunked\r\n");
    SL_ASSERT_EQ(r.status, 413);
    s_resp_free(&r);
    char small[256];
    int n = snprintf(small, sizeof(small),
                     "GET /api/status HTTP/1.1\r\nHost: %s\r\nConnection: "
                     "close\r\nContent-Length: 5\r\n\r\nhello",
                     s_host);
    r = s_exchange(s_host, s_port, small, (size_t) n);
    SL_ASSERT_EQ(r.status, 200);
    s_resp_free(&r);

    // Headers past the connection's memory: 431 from libmicrohttpd.
    size_t big = 64 << 10;
    char *header = malloc(big + 32);
    SL_ASSERT(header != NULL);
    memcpy(header, "X-Big: ", 7);
    memset(header + 7, 'a', big);
    memcpy(header + 7 + big, "\r\n", 3);
    char *req = malloc(big + 256);
    SL_ASSERT(req != NULL);
    n = snprintf(req, big + 256, "GET /metrics HTTP/1.1\r\nHost: %s\r\n%s\r\n",
                 s_host, header);
    r = s_exchange(s_host, s_port, req, (size_t) n);
    SL_ASSERT_EQ(r.status, 431);
    s_resp_free(&r);
    free(req);
    free(header);

    // And the server serves on.
    r = s_get("/api/status");
    SL_ASSERT_EQ(r.status, 200);
    s_resp_free(&r);
}

// ---------------------------------------------------------------------
// Slow clients.

#define S_SLOW_CLIENTS 3
#define S_SLOW_SECONDS 6

static atomic_bool s_slow_stop;
static atomic_int s_slow_sent;

// Send the start of a request one byte a second, never finishing it.
static void *
s_slow_client(void *arg)
{
    const char *req = "GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: "
                      "ooooooooooooooooooooooooooooooooo";
    int fd = s_connect(s_host, s_port);
    for (size_t i = 0; i < strlen(req) && !atomic_load(&s_slow_stop); i++) {
        if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
            break;
        }
        atomic_fetch_add(&s_slow_sent, 1);
        for (int k = 0; k < 10 && !atomic_load(&s_slow_stop); k++) {
            usleep(100 * 1000);
        }
    }
    close(fd);
    return NULL;
}

static void
test_slow_clients(void)
{
    pthread_t th[S_SLOW_CLIENTS];
    atomic_store(&s_slow_stop, false);
    for (int i = 0; i < S_SLOW_CLIENTS; i++) {
        SL_ASSERT(pthread_create(&th[i], NULL, s_slow_client, NULL) == 0);
    }
    // While they trickle, every normal request is answered at once (the
    // bound is generous: each takes a millisecond or so).
    double worst = 0, t_start = s_now();
    int requests = 0;
    while (s_now() - t_start < S_SLOW_SECONDS) {
        double t0 = s_now();
        s_resp r = s_get(requests % 2 == 0 ? "/metrics" : "/api/workers");
        double took = s_now() - t0;
        SL_ASSERT_EQ(r.status, 200);
        s_resp_free(&r);
        worst = took > worst ? took : worst;
        requests++;
        usleep(250 * 1000);
    }
    SL_ASSERT(worst < 2.0);
    // They were still sending: their connections were open all along.
    int sent = atomic_load(&s_slow_sent);
    atomic_store(&s_slow_stop, true);
    for (int i = 0; i < S_SLOW_CLIENTS; i++) {
        pthread_join(th[i], NULL);
    }
    SL_ASSERT(sent >= S_SLOW_CLIENTS * (S_SLOW_SECONDS - 1));
    fprintf(stderr,
            "   %d requests beside %d clients sending a byte a second: the "
            "slowest took %.1f ms\n",
            requests, S_SLOW_CLIENTS, worst * 1000);
}

// ---------------------------------------------------------------------
// A real Prometheus.

// Where prometheus is, from PATH; false when it is not installed.
static bool
s_find_prometheus(char *buf, size_t len)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/sbin",
             path != NULL ? path : "");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(buf, len, "%s/prometheus", d);
        if (access(buf, X_OK) == 0) {
            return true;
        }
    }
    return false;
}

static void
s_prometheus_stop(void)
{
    if (s_prometheus > 0) {
        sl__watch_stop(&s_prometheus, 10000);
    }
}

// The one value of an instant query's vector result ("value":[t,"x"]);
// NaN when the result is empty or the query failed.
static double
s_prom_query(int port, const char *query)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/query?query=%s", query);
    s_resp r = s_request("127.0.0.1", port, "GET", path, "");
    double x = NAN;
    const char *v = r.status == 200 ? strstr(r.body, "\"value\":[") : NULL;
    v = v != NULL ? strchr(v, ',') : NULL;
    if (v != NULL && v[1] == '"') {
        x = strtod(v + 2, NULL);
    }
    s_resp_free(&r);
    return x;
}

static void
s_prometheus_start(const char *exe, int port)
{
    char dir[700], config[800], data[800], log[800];
    char flag_config[900], flag_data[900], flag_listen[64];
    snprintf(dir, sizeof(dir), "%s/prometheus", sl__harness_home());
    SL_ASSERT(mkdir(dir, 0700) == 0);
    snprintf(config, sizeof(config), "%s/prometheus.yml", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/prometheus.log", sl__harness_home());
    FILE *f = fopen(config, "w");
    SL_ASSERT(f != NULL);
    // Static targets only: nothing that discovers, alerts or writes
    // anywhere but the test's home.
    fprintf(f,
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: starling\n"
            "    static_configs:\n"
            "      - targets: ['%s:%d']\n",
            s_host, s_port);
    SL_ASSERT(fclose(f) == 0);
    snprintf(flag_config, sizeof(flag_config), "--config.file=%s", config);
    snprintf(flag_data, sizeof(flag_data), "--storage.tsdb.path=%s", data);
    snprintf(flag_listen, sizeof(flag_listen),
             "--web.listen-address=127.0.0.1:%d", port);
    char *argv[] = {(char *) exe,
                    flag_config,
                    flag_data,
                    flag_listen,
                    "--storage.tsdb.retention.time=1h",
                    NULL};
    char errbuf[SL_ERRSTR_LEN];
    if (sl__watch_spawn(&s_prometheus, argv, log, false, errbuf) != SL_OK) {
        SL_FAIL_AT("cannot start %s: %s", exe, errbuf);
    }
    atexit(s_prometheus_stop); // runs before the harness's: stops it first
}

static void
test_prometheus(void)
{
    char exe[1024];
    if (!s_find_prometheus(exe, sizeof(exe))) {
        if (getenv("CI") != NULL && getenv("CI")[0] != '\0') {
            SL_FAIL_AT("prometheus is not installed (scripts/test.sh "
                       "installs Debian's prometheus package)");
        }
        fprintf(stderr, "   SKIPPED: prometheus is not installed "
                        "(apt-get install prometheus); in CI this fails\n");
        return;
    }
    int port = sl__free_port();
    SL_ASSERT(port > 0);
    s_prometheus_start(exe, port);
    // It scrapes every second: wait for a scrape that has the jobs.
    double t0 = s_now(), total = NAN, error = NAN, up = NAN;
    while (s_now() - t0 < 90) {
        SL_ASSERT(sl__proc_alive(s_prometheus));
        if (sl__wait_port("127.0.0.1", port, 100) == SL_OK) {
            up = s_prom_query(port, "up%7Bjob%3D%22starling%22%7D");
            total = s_prom_query(port, "sum%28starling_tasks_total%29");
            error = s_prom_query(
                port, "starling_tasks_total%7Bstatus%3D%22error%22%7D");
            if (total == S_TASKS) {
                break;
            }
        }
        usleep(250 * 1000);
    }
    fprintf(stderr,
            "   prometheus after %.1f s: up %g, sum(starling_tasks_total) "
            "%g, error %g\n",
            s_now() - t0, up, total, error);
    SL_ASSERT_EQ(up, 1);
    SL_ASSERT_EQ(total, S_TASKS);
    SL_ASSERT_EQ(error, S_FAILS);
    // Every family came through as its type (metadata from the scrape).
    s_resp r =
        s_request("127.0.0.1", port, "GET",
                  "/api/v1/metadata?metric=starling_task_run_seconds", "");
    SL_ASSERT_EQ(r.status, 200);
    SL_ASSERT_HAS(r.body, "\"type\":\"histogram\"");
    s_resp_free(&r);
    s_prometheus_stop();
    SL_ASSERT(s_prometheus == 0);
}

// ---------------------------------------------------------------------
// The token.

// Start a scheduler of its own (no store it can reach: it warns and
// serves) with --http http and the token file (NULL: none). Its log is
// home/log_name, its endpoints file home/log_name.endpoints.
static pid_t
s_scheduler(const char *home, const char *log_name, const char *http,
            const char *token_file)
{
    char bin[1024], log[1024], endpoints[1024];
    snprintf(bin, sizeof(bin), "%s/starling-scheduler",
             getenv("STARLING_BIN_DIR"));
    snprintf(log, sizeof(log), "%s/%s", home, log_name);
    snprintf(endpoints, sizeof(endpoints), "%s/%s.endpoints", home, log_name);
    char *argv[16] = {bin,
                      "--store",
                      "127.0.0.1:1",
                      "--clients",
                      "tcp://127.0.0.1:*",
                      "--workers",
                      "tcp://127.0.0.1:*",
                      "--endpoints-file",
                      endpoints,
                      "--http",
                      (char *) http};
    int argc = 11;
    if (token_file != NULL) {
        argv[argc++] = "--http-token-file";
        argv[argc++] = (char *) token_file;
    }
    argv[argc] = NULL;
    pid_t pid = 0;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__watch_spawn(&pid, argv, log, false, errbuf) != SL_OK) {
        SL_FAIL_AT("cannot start the scheduler: %s", errbuf);
    }
    return pid;
}

// The scheduler started as log_name exits 1 at start, its log saying
// want.
static void
s_refused(const char *home, const char *log_name, const char *http,
          const char *token_file, const char *want)
{
    pid_t pid = s_scheduler(home, log_name, http, token_file);
    int status = 0;
    SL_PASS(sl__watch_wait(&pid, 10000, &status));
    SL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char path[1024], text[4096] = "";
    snprintf(path, sizeof(path), "%s/%s", home, log_name);
    FILE *f = fopen(path, "r");
    SL_ASSERT(f != NULL);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    SL_ASSERT_HAS(text, want);
    SL_ASSERT(strstr(text, "http on") == NULL);
}

// Where the scheduler started as log_name serves HTTP (its endpoints
// file), once it has written it.
static int
s_scheduler_port(const char *home, const char *log_name, pid_t pid,
                 const char *host)
{
    char path[1024], line[256], want[64];
    snprintf(path, sizeof(path), "%s/%s.endpoints", home, log_name);
    snprintf(want, sizeof(want), "http=%s:", host);
    double t0 = s_now();
    while (s_now() - t0 < 10) {
        FILE *f = fopen(path, "r");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, want, strlen(want)) == 0) {
                fclose(f);
                return atoi(line + strlen(want));
            }
        }
        if (f != NULL) {
            fclose(f);
        }
        SL_ASSERT(sl__proc_alive(pid));
        usleep(20 * 1000);
    }
    SL_FAIL_AT("no http= in %s", path);
}

// A token file of mode mode.
static void
s_token_file(const char *path, mode_t mode, const char *token)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    SL_ASSERT(fd >= 0);
    SL_ASSERT(write(fd, token, strlen(token)) == (ssize_t) strlen(token));
    SL_ASSERT(write(fd, "\n", 1) == 1);
    SL_ASSERT(close(fd) == 0);
    SL_ASSERT(chmod(path, mode) == 0);
}

// Requests to host:port of a server with S_TOKEN.
static void
s_token_checks(const char *host, int port)
{
    const char *refused[] = {
        "",
        "Authorization: Bearer " S_WRONG "\r\n",
        "Authorization: Bearer\r\n",
        "Authorization: Basic " S_TOKEN "\r\n",
        "Authorization: Bearer " S_TOKEN "x\r\n",
        "Authorization: Bearer " S_TOKEN " x\r\n",
        "X-Token: " S_TOKEN "\r\n",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        s_resp r = s_request(host, port, "GET", "/metrics", refused[i]);
        SL_ASSERT_EQ(r.status, 401);
        SL_ASSERT_HAS(s_header(&r, "WWW-Authenticate"), "Bearer");
        SL_ASSERT(strstr(r.body, "starling_") == NULL);
        s_resp_free(&r);
    }
    // Without the token, not even which paths exist.
    s_resp r = s_request(host, port, "GET", "/nothing", "");
    SL_ASSERT_EQ(r.status, 401);
    s_resp_free(&r);
    r = s_request(host, port, "POST", "/metrics", "");
    SL_ASSERT_EQ(r.status, 401);
    s_resp_free(&r);
    const char *good = "Authorization: Bearer " S_TOKEN "\r\n";
    r = s_request(host, port, "GET", "/metrics", good);
    SL_ASSERT_EQ(r.status, 200);
    SL_ASSERT_HAS(r.body, "# TYPE starling_tasks_total counter\n");
    s_resp_free(&r);
    r = s_request(host, port, "GET", "/api/status",
                  "Authorization: bearer  " S_TOKEN "\r\n");
    SL_ASSERT_EQ(r.status, 200);
    s_resp_free(&r);
    r = s_request(host, port, "GET", "/nothing", good);
    SL_ASSERT_EQ(r.status, 404);
    s_resp_free(&r);
}

// No token, or a token file others may read, or an empty one: refused at
// start, with what to do. The addresses are documentation ones that this
// machine does not have: the refusal comes before any bind.
static void
test_token_refusals(void)
{
    const char *home = sl__harness_home();
    char path[1024];
    s_refused(home, "notoken.log", S_NETNS_ADDR ":0", NULL,
              "is not a loopback address");
    s_refused(home, "notoken6.log", "[2001:db8::1]:0", NULL,
              "--http-token-file");
    s_refused(home, "badaddr.log", "example.org:80", NULL, "want ADDR:PORT");
    snprintf(path, sizeof(path), "%s/token-open", home);
    s_token_file(path, 0644, S_TOKEN);
    s_refused(home, "open.log", "127.0.0.1:0", path, "chmod 600");
    snprintf(path, sizeof(path), "%s/token-short", home);
    s_token_file(path, 0600, "short");
    s_refused(home, "short.log", "127.0.0.1:0", path, "first line");
}

// With a token file the token is asked for on loopback too.
static void
test_token_loopback(void)
{
    const char *home = sl__harness_home();
    char path[1024];
    snprintf(path, sizeof(path), "%s/token", home);
    s_token_file(path, 0600, S_TOKEN);
    pid_t pid = s_scheduler(home, "token.log", "127.0.0.1:0", path);
    int port = s_scheduler_port(home, "token.log", pid, "127.0.0.1");
    s_token_checks("127.0.0.1", port);
    SL_PASS(sl__watch_stop(&pid, 5000));
}

// ---------------------------------------------------------------------
// The token on an address that is not loopback: 192.0.2.1 on lo in a
// network namespace of the test's own (and a user namespace when it does
// not run as root), which nothing outside it reaches. The part in the
// namespace runs in a fresh exec of this program (--in-netns): no
// harness, its own watchdog.

static int
s_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t) strlen(text) ? 0 : -1;
}

// In a forked child: enter new namespaces and give lo S_NETNS_ADDR.
static int
s_netns_enter(void)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (uid == 0) {
        if (unshare(CLONE_NEWNET) != 0) {
            return -1;
        }
    } else {
        char map[64];
        if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            return -1;
        }
        snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
        if (s_write_file("/proc/self/uid_map", map) != 0 ||
            s_write_file("/proc/self/setgroups", "deny") != 0) {
            return -1;
        }
        snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
        if (s_write_file("/proc/self/gid_map", map) != 0) {
            return -1;
        }
    }
    return system("PATH=/usr/sbin:/sbin:$PATH; ip link set lo up && "
                  "ip addr add " S_NETNS_ADDR "/32 dev lo") == 0
               ? 0
               : -1;
}

static int
s_netns_main(const char *home)
{
    char path[1024];
    SL_PASS(sl__watch_start());
    snprintf(path, sizeof(path), "%s/netns-token", home);
    s_token_file(path, 0600, S_TOKEN);
    s_refused(home, "netns-notoken.log", S_NETNS_ADDR ":0", NULL,
              "is not a loopback address");
    pid_t pid = s_scheduler(home, "netns.log", S_NETNS_ADDR ":0", path);
    int port = s_scheduler_port(home, "netns.log", pid, S_NETNS_ADDR);
    s_token_checks(S_NETNS_ADDR, port);
    SL_PASS(sl__watch_stop(&pid, 5000));
    sl__watch_done();
    return 0;
}

static void
test_token_netns(void)
{
    fflush(stderr);
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        alarm(60); // kept across exec: a hung part is killed
        if (s_netns_enter() != 0) {
            _exit(77);
        }
        execl("/proc/self/exe", "http_test", "--in-netns", sl__harness_home(),
              (char *) NULL);
        _exit(127);
    }
    int status = 0;
    SL_ASSERT(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        // As netns_test does: a container may forbid namespaces.
        fprintf(stderr, "   SKIPPED: no network namespace can be made here "
                        "(the refusals and the loopback token test ran)\n");
        return;
    }
    SL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fprintf(stderr, "   on " S_NETNS_ADDR " in a network namespace: a "
                    "token needed, 401 without it, 200 with it\n");
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--in-netns") == 0) {
        return s_netns_main(argv[2]);
    }
    SL_PASS(sl__harness_start(2, 1, &s_info));
    SL_ASSERT_HAS(s_info.dashboard, "http://127.0.0.1:");
    SL_ASSERT(
        sscanf(s_info.dashboard, "http://%63[0-9.]:%d/", s_host, &s_port) == 2);
    SL_RUN(test_metrics);
    SL_RUN(test_json);
    SL_RUN(test_keep_alive);
    SL_RUN(test_refusals);
    SL_RUN(test_slow_clients);
    SL_RUN(test_prometheus);
    SL_RUN(test_token_refusals);
    SL_RUN(test_token_loopback);
    SL_RUN(test_token_netns);
    sl__harness_stop();
    return 0;
}
