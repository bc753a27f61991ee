// security_test.c - who gets in, and what a peer that got in cannot do to
// the scheduler: CURVE keys on both endpoints, a flood of junk while a real
// job runs, every limit a peer controls, the store's password, and the
// workers' module allow list. Real processes on loopback, started by the
// harness as `starling up` starts them (CURVE on).
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <starling/starling.h>

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/cert.h"
#include "../common/proc.h"
#include "../common/sha256.h"
#include "../serialize/msg.h"
#include "harness.h"
#include "testutil.h"

// The cluster's limits, smaller than the defaults so that they can be hit.
#define S_MAX_MESSAGE (16u << 20)
#define S_MAX_CLIENT_JOBS 50
#define S_WAIT_MS 120000
#define S_FLOOD_MS 5000
#define S_FLOODERS 4
#define S_JOB_TASKS 20000

static sl__cluster_info s_info;
static char s_allow_file[256]; // the workers' module allow list

// ---------------------------------------------------------------------
// Helpers.

static int64_t
s_elapsed_ms(int64_t since)
{
    return sl__mono_ms() - since;
}

// The whole file at path, NUL-terminated (the caller frees), or NULL.
static char *
s_slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t) n + 1);
    size_t got = fread(buf, 1, (size_t) n, f);
    fclose(f);
    buf[got] = '\0';
    if (len_out != NULL) {
        *len_out = got;
    }
    return buf;
}

static void
s_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", s_info.home, name);
}

// Wait up to timeout_ms for the log home/name to contain text.
static bool
s_log_waits_for(const char *name, const char *text, int timeout_ms)
{
    char path[1024];
    s_path(path, sizeof(path), name);
    int64_t t0 = sl__mono_ms();
    do {
        char *log = s_slurp(path, NULL);
        bool found = log != NULL && strstr(log, text) != NULL;
        free(log);
        if (found) {
            return true;
        }
        usleep(50000);
    } while (s_elapsed_ms(t0) < timeout_ms);
    fprintf(stderr, "   %s lacks \"%s\"\n", name, text);
    return false;
}

// Resident memory of pid, in KiB.
static long
s_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    SL_ASSERT(f != NULL);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}

static uint32_t
s_workers_now(void)
{
    sl_client *c = NULL;
    sl_cluster_status st;
    SL_PASS(sl_client_connect(&c, NULL));
    SL_PASS(sl_cluster_status_get(c, &st));
    sl_client_destroy(&c);
    return st.workers;
}

static bool
s_workers_wait(uint32_t want, int timeout_ms)
{
    int64_t t0 = sl__mono_ms();
    while (s_workers_now() != want) {
        if (s_elapsed_ms(t0) > timeout_ms) {
            return false;
        }
        usleep(100000);
    }
    return true;
}

// A key pair the scheduler has never heard of, under home/strangers.
static void
s_stranger(const char *name, char *secret, size_t len)
{
    char dir[1024], key[SL_CERT_KEY_LEN + 1], errbuf[SL_ERRSTR_LEN];
    s_path(dir, sizeof(dir), "strangers");
    if (sl__cert_generate(dir, name, true, key, errbuf) != SL_OK) {
        SL_FAIL_AT("keygen %s: %s", name, errbuf);
    }
    sl__fmt(secret, len, "%s/%s_secret", dir, name);
}

// Let the stranger name in: its public certificate into the allow list.
static void
s_allow(const char *name)
{
    char from[1024], to[1024];
    s_path(from, sizeof(from), "strangers");
    sl__strlcpy(to, from, sizeof(to));
    snprintf(from + strlen(from), sizeof(from) - strlen(from), "/%s", name);
    s_path(to, sizeof(to), "keys/allowed");
    snprintf(to + strlen(to), sizeof(to) - strlen(to), "/%s", name);
    zcert_t *cert = zcert_load(from);
    SL_ASSERT(cert != NULL);
    SL_ASSERT_EQ(zcert_save_public(cert, to), 0);
    zcert_destroy(&cert);
}

// Run n sys.echo tasks with the argument {"i": i} on c and check that
// every result came back, as sent.
static void
s_echo_job_check(sl_client *c, sl_job job, size_t n)
{
    SL_PASS(sl_wait(c, &job, 1, SL_ALL_COMPLETED, S_WAIT_MS));
    for (size_t i = 0; i < n; i++) {
        const sl_result *r = sl_job_result(c, job, i);
        const sl_value *v;
        if (r->status != SL_TASK_OK) {
            SL_FAIL_AT("task %zu: status %d: %s", i, (int) r->status,
                       r->error != NULL ? r->error : "");
        }
        SL_PASS(sl_job_value(c, job, i, &v));
        SL_ASSERT_EQ(sl_value_int(sl_value_map_get(v, "i")), i);
    }
    sl_job_release(c, job);
}

static sl_job
s_echo_job_start(sl_client *c, size_t n)
{
    sl_value **args = calloc(n, sizeof(*args));
    for (size_t i = 0; i < n; i++) {
        args[i] = sl_value_new_map();
        sl_value *x = sl_value_new_int((int64_t) i);
        SL_PASS(sl_value_map_set(args[i], "i", &x));
    }
    // Workers that flood us may take tasks and never answer: their tasks
    // come back when they go silent, so allow a few more attempts.
    sl_job_opts opts = {.max_attempts = 10};
    sl_job job;
    SL_PASS(sl_map(c, "sys.echo", args, n, &opts, &job));
    for (size_t i = 0; i < n; i++) {
        sl_value_destroy(&args[i]);
    }
    free(args);
    return job;
}

static void
s_echo_job(sl_client *c, size_t n)
{
    s_echo_job_check(c, s_echo_job_start(c, n), n);
}

// ---------------------------------------------------------------------
// Speaking the wire protocol by hand.

static void
s_send_bytes(zsock_t *sock, const void *buf, size_t len)
{
    SL_ASSERT(zmq_send(zsock_resolve(sock), buf, len, 0) == (int) len);
}

static void
s_send_mpw(zsock_t *sock, sl__mpw *w)
{
    s_send_bytes(sock, w->buf.data, w->buf.size);
    sl__mpw_reset(w);
}

// The next message of type want within timeout_ms (others are skipped):
// its frame, which the caller destroys, or NULL.
static zframe_t *
s_recv_type(zsock_t *sock, uint32_t want, int timeout_ms)
{
    int64_t t0 = sl__mono_ms();
    zpoller_t *poller = zpoller_new(sock, NULL);
    zframe_t *got = NULL;
    while (got == NULL && s_elapsed_ms(t0) < timeout_ms) {
        if (zpoller_wait(poller, 50) == NULL) {
            continue;
        }
        zframe_t *f = zframe_recv(sock);
        sl__mpr r;
        uint32_t type, nf;
        char why[SL_ERRSTR_LEN];
        sl__mpr_init(&r, zframe_data(f), zframe_size(f));
        if (sl__msg_open(&r, &type, &nf, why) == SL_OK && type == want) {
            got = f;
        } else {
            zframe_destroy(&f);
        }
    }
    zpoller_destroy(&poller);
    return got;
}

// The next ERROR: its code and text (into text).
static sl_err
s_recv_error(zsock_t *sock, char *text, size_t len)
{
    zframe_t *f = s_recv_type(sock, SL_MSG_ERROR, 5000);
    if (f == NULL) {
        SL_FAIL_AT("no ERROR from the scheduler in 5 s");
    }
    sl__mpr r;
    uint32_t type, nf;
    sl__error_msg m;
    char why[SL_ERRSTR_LEN];
    sl__mpr_init(&r, zframe_data(f), zframe_size(f));
    SL_PASS(sl__msg_open(&r, &type, &nf, why));
    SL_PASS(sl__msg_error_decode(&r, &m, why));
    sl__fmt(text, len, "%.*s", (int) m.text.len, m.text.p);
    zframe_destroy(&f);
    return (sl_err) m.code;
}

// A raw peer for role; a client one has said HELLO (a scheduler answers
// anything else from a client it does not know with "send HELLO"), so
// that what it sends next reaches the decoders.
static zsock_t *
s_peer(const char *role)
{
    zsock_t *sock = sl__harness_dealer(role);
    if (sock == NULL || strcmp(role, "client") != 0) {
        return sock;
    }
    sl__mpw w;
    sl__mpw_init(&w);
    sl__msg_hello(&w, "raw", 1);
    zframe_t *f = zframe_new(w.buf.data, w.buf.size);
    sl__mpw_fini(&w);
    if (zframe_send(&f, sock, 0) != 0) {
        zsock_destroy(&sock);
        return NULL;
    }
    zframe_t *welcome = s_recv_type(sock, SL_MSG_WELCOME, 5000);
    if (welcome == NULL) {
        zsock_destroy(&sock);
        return NULL;
    }
    zframe_destroy(&welcome);
    return sock;
}

// A SUBMIT of job with one plain argument {"a": 1}.
static void
s_submit_small(sl__mpw *w, uint64_t job, uint64_t total)
{
    sl__job_opts o = {0, 3, 0, 0};
    sl__msg_submit_begin(w, job, "sys.noop", total, 0, &o, 1);
    msgpack_pack_map(&w->pk, 1);
    msgpack_pack_str(&w->pk, 1);
    msgpack_pack_str_body(&w->pk, "a", 1);
    msgpack_pack_int(&w->pk, 1);
}

// ---------------------------------------------------------------------
// Keys.

static void
test_keys_let_in(void)
{
    sl_client *c = NULL;
    SL_PASS(sl_client_connect(&c, NULL)); // the cluster's keys
    s_echo_job(c, 100);
    sl_client_destroy(&c);
    SL_ASSERT(s_log_waits_for("scheduler.log", "(CURVE)", 1000));
}

static void
test_client_without_key(void)
{
    sl_client *c = NULL;
    char stranger[1024];
    int64_t t0 = sl__mono_ms();

    // No key at all: refused at the handshake, and told so at once.
    sl_client_keys none = {NULL, NULL};
    SL_FAILS(sl_client_connect_keys(&c, s_info.scheduler, &none), SL_EAUTH);
    SL_ASSERT(c == NULL);
    SL_ASSERT(s_elapsed_ms(t0) < 5000);
    // The scheduler logs it: as "no CURVE", or as a hang-up, depending on
    // which side noticed the mismatch first.
    char line[512];
    snprintf(line, sizeof(line), "refused a client connection on %s: the peer",
             s_info.scheduler);
    SL_ASSERT(s_log_waits_for("scheduler.log", line, 5000));

    // A key the scheduler does not know.
    s_stranger("alice", stranger, sizeof(stranger));
    sl_client_keys alice = {stranger, s_info.server_cert};
    t0 = sl__mono_ms();
    SL_FAILS(sl_client_connect_keys(&c, s_info.scheduler, &alice), SL_EAUTH);
    SL_ASSERT(s_elapsed_ms(t0) < 5000);
    snprintf(line, sizeof(line),
             "refused a client connection on %s: its CURVE key is not in the "
             "allow list",
             s_info.scheduler);
    SL_ASSERT(s_log_waits_for("scheduler.log", line, 5000));

    // A raw socket without keys: its HELLO and SUBMIT get nowhere.
    zsock_t *raw = zsock_new_dealer(s_info.scheduler);
    sl__mpw w;
    sl__mpw_init(&w);
    sl__msg_hello(&w, "mallory", 1);
    s_send_mpw(raw, &w);
    s_submit_small(&w, 4242, 1);
    s_send_mpw(raw, &w);
    zpoller_t *poller = zpoller_new(raw, NULL);
    SL_ASSERT(zpoller_wait(poller, 1500) == NULL);
    zpoller_destroy(&poller);
    zsock_destroy(&raw);
    sl__mpw_fini(&w);

    // A secret certificate that others may read is refused before use.
    chmod(stranger, 0644);
    SL_FAILS(sl_client_connect_keys(&c, s_info.scheduler, &alice), SL_EAUTH);
    chmod(stranger, 0600);

    // The right key, but not the scheduler's certificate.
    char other[1024];
    s_stranger("not-the-scheduler", other, sizeof(other));
    other[strlen(other) - strlen("_secret")] = '\0';
    sl_client_keys mixed = {s_info.client_cert, other};
    t0 = sl__mono_ms();
    SL_FAILS(sl_client_connect_keys(&c, s_info.scheduler, &mixed), SL_EAUTH);
    SL_ASSERT(s_elapsed_ms(t0) < 5000);

    // Let alice in: the allow directory is read again, and she is served.
    s_allow("alice");
    SL_PASS(sl_client_connect_keys(&c, s_info.scheduler, &alice));
    s_echo_job(c, 10);
    sl_client_destroy(&c);
}

static void
test_worker_without_key(void)
{
    char stranger[1024];
    s_stranger("bob", stranger, sizeof(stranger));
    char *keyless[] = {
        "starling-worker", "--scheduler", s_info.workers_endpoint,
        "--slots",         "1",           "--name",
        "keyless",         NULL};
    char *bob[] = {"starling-worker",
                   "--scheduler",
                   s_info.workers_endpoint,
                   "--slots",
                   "1",
                   "--name",
                   "bob",
                   "--cert",
                   stranger,
                   "--server-cert",
                   s_info.server_cert,
                   NULL};
    pid_t keyless_pid, bob_pid;
    SL_PASS(sl__harness_spawn(keyless, "keyless.log", &keyless_pid));
    SL_PASS(sl__harness_spawn(bob, "bob.log", &bob_pid));

    // Both are turned away, say why, and the scheduler logs it.
    SL_ASSERT(s_log_waits_for("keyless.log", "wants a CURVE key", 10000));
    SL_ASSERT(s_log_waits_for("bob.log", "refused our CURVE key", 10000));
    char line[512];
    snprintf(line, sizeof(line),
             "refused a worker connection on %s: its CURVE key is not in "
             "the allow list",
             s_info.workers_endpoint);
    SL_ASSERT(s_log_waits_for("scheduler.log", line, 5000));
    // The keyless one, too: as "no CURVE", or as a hang-up, depending on
    // which side noticed first.
    snprintf(line, sizeof(line), "refused a worker connection on %s: the peer",
             s_info.workers_endpoint);
    SL_ASSERT(s_log_waits_for("scheduler.log", line, 5000));

    // They get no tasks: only the cluster's own workers are there, and a
    // job runs to the end on those.
    SL_ASSERT_EQ(s_workers_now(), s_info.n_workers);
    sl_client *c = NULL;
    SL_PASS(sl_client_connect(&c, NULL));
    s_echo_job(c, 200);
    SL_ASSERT_EQ(s_workers_now(), s_info.n_workers);

    // With his key allowed, bob joins (libzmq retries the handshake).
    s_allow("bob");
    SL_ASSERT(s_workers_wait((uint32_t) s_info.n_workers + 1, 15000));
    s_echo_job(c, 200);
    sl_client_destroy(&c);

    SL_PASS(sl__harness_stop_pid(bob_pid, NULL));
    SL_PASS(sl__harness_stop_pid(keyless_pid, NULL));
    SL_ASSERT(s_workers_wait((uint32_t) s_info.n_workers, 15000));
}

// ---------------------------------------------------------------------
// A flood of junk while a real job runs.

typedef struct {
    bool worker_side;    // which endpoint
    int64_t until_ms;    // stop then
    unsigned seed;       // of its own random numbers
    uint64_t frames;     // sent
    uint64_t bytes;      // sent
    uint64_t reconnects; // new connections made
    pthread_t thread;
} s_flooder;

// A valid message of the flooder's side, to be mutated.
static void
s_template(s_flooder *f, sl__mpw *w)
{
    uint64_t job = ((uint64_t) rand_r(&f->seed) << 32) | rand_r(&f->seed);
    sl__outcome o = {.job = job, .index = 0, .attempt = 1, .status = 1};
    sl__ready ready = {2, 0, {"flood", 5}, 1};
    int pick = rand_r(&f->seed) % 6;
    if (f->worker_side && pick < 2) {
        sl__msg_ready(w, &ready);
    } else if (f->worker_side && pick < 4) {
        sl__msg_result_begin(w, 2);
        sl__msg_outcome(w, &o, true);
        o.index = 1;
        sl__msg_outcome(w, &o, true);
    } else if (f->worker_side) {
        sl__msg_empty(w, SL_MSG_HEARTBEAT);
    } else if (pick == 0) {
        sl__msg_hello(w, "flood", 1);
    } else if (pick <= 2) {
        s_submit_small(w, job, pick == 1 ? 1 : 3);
    } else if (pick == 3) {
        sl__msg_job(w, SL_MSG_CANCEL, job);
    } else if (pick == 4) {
        sl__msg_empty(w, SL_MSG_STATUS);
    } else {
        sl__msg_empty(w, SL_MSG_HEARTBEAT);
    }
}

// Mutate buf[0, *len) in place (cap bytes of room), one way of several.
static void
s_mutate(s_flooder *f, uint8_t *buf, size_t *len, size_t cap)
{
    static const uint8_t odd[] = {0x00, 0x7f, 0x80, 0xc1, 0xcc, 0xcf,
                                  0xd3, 0xdc, 0xdd, 0xde, 0xdf, 0xff,
                                  0xc7, 0xc8, 0xc9, 0xd4, 0xd8, 0x91};
    size_t n = *len;
    switch (rand_r(&f->seed) % 9) {
    case 0: // junk through and through
        n = (size_t) rand_r(&f->seed) % 300;
        for (size_t i = 0; i < n; i++) {
            buf[i] = (uint8_t) rand_r(&f->seed);
        }
        break;
    case 1: // flipped bits
        for (int k = 1 + rand_r(&f->seed) % 8; k > 0 && n > 0; k--) {
            buf[(size_t) rand_r(&f->seed) % n] ^=
                (uint8_t) (1u << (rand_r(&f->seed) % 8));
        }
        break;
    case 2: // an awkward byte somewhere
        if (n > 0) {
            buf[(size_t) rand_r(&f->seed) % n] =
                odd[(size_t) rand_r(&f->seed) % sizeof(odd)];
        }
        break;
    case 3: // cut short
        n = n > 0 ? (size_t) rand_r(&f->seed) % n : 0;
        break;
    case 4: // junk appended
        for (int k = rand_r(&f->seed) % 64; k > 0 && n < cap; k--) {
            buf[n++] = (uint8_t) rand_r(&f->seed);
        }
        break;
    case 5: // a depth bomb
        n = (size_t) (1 + rand_r(&f->seed) % 20000);
        memset(buf, 0x91, n);
        buf[n++] = 0xc0;
        break;
    case 6: // a length that claims far more than the frame holds
        if (n > 4) {
            size_t at = (size_t) rand_r(&f->seed) % (n - 4);
            memset(buf + at, 0xff, 4);
        }
        break;
    case 7: // big, for the size limits (under the message limit)
        n = 1024 + (size_t) rand_r(&f->seed) % (cap - 1024);
        for (size_t i = 0; i < n; i += 64) {
            buf[i] = (uint8_t) rand_r(&f->seed);
        }
        break;
    default: // as it is: valid
        break;
    }
    *len = n;
}

static void *
s_flood(void *arg)
{
    s_flooder *f = arg;
    const size_t cap = 70000;
    uint8_t *buf = calloc(1, cap);
    sl__mpw w;
    sl__mpw_init(&w);
    zsock_t *sock = NULL;
    while (sl__mono_ms() < f->until_ms) {
        if (sock == NULL || f->frames % 3000 == 2999) {
            // A new connection now and then: a new peer to the scheduler.
            zsock_destroy(&sock);
            sock = s_peer(f->worker_side ? "worker" : "client");
            SL_ASSERT(sock != NULL);
            zsock_set_sndtimeo(sock, 100);
            f->reconnects++;
        }
        sl__mpw_reset(&w);
        s_template(f, &w);
        size_t len = w.buf.size < cap ? w.buf.size : cap;
        memcpy(buf, w.buf.data, len);
        s_mutate(f, buf, &len, cap);
        // Never read what comes back: the most selfish peer there is.
        if (zmq_send(zsock_resolve(sock), buf, len, 0) == (int) len) {
            f->frames++;
            f->bytes += len;
        }
    }
    zsock_destroy(&sock);
    sl__mpw_fini(&w);
    free(buf);
    return NULL;
}

// Flood both endpoints for S_FLOOD_MS while a job of S_JOB_TASKS runs;
// the job's results must all be right.
static void
s_flood_round(sl_client *c, int round)
{
    s_flooder fl[S_FLOODERS];
    int64_t until = sl__mono_ms() + S_FLOOD_MS;
    for (int i = 0; i < S_FLOODERS; i++) {
        fl[i] = (s_flooder){.worker_side = i % 2 == 1,
                            .until_ms = until,
                            .seed = (unsigned) (1000 * round + i)};
        SL_ASSERT(pthread_create(&fl[i].thread, NULL, s_flood, &fl[i]) == 0);
    }
    int64_t t0 = sl__mono_ms();
    sl_job job = s_echo_job_start(c, S_JOB_TASKS);
    s_echo_job_check(c, job, S_JOB_TASKS);
    double job_s = (double) s_elapsed_ms(t0) / 1000;
    uint64_t frames = 0, bytes = 0, reconnects = 0;
    for (int i = 0; i < S_FLOODERS; i++) {
        pthread_join(fl[i].thread, NULL);
        frames += fl[i].frames;
        bytes += fl[i].bytes;
        reconnects += fl[i].reconnects;
    }
    fprintf(stderr,
            "   round %d: %" PRIu64 " junk frames (%.1f MiB, %" PRIu64
            " connections) at both endpoints; the %d-task job took %.1f s, "
            "every result right\n",
            round, frames, (double) bytes / (1 << 20), reconnects, S_JOB_TASKS,
            job_s);
    SL_ASSERT(frames > 1000);
    // What the flooders' connections left behind: jobs of theirs that
    // wait for chunks, at most S_MAX_CLIENT_JOBS a connection.
    sl_cluster_status st;
    SL_PASS(sl_cluster_status_get(c, &st));
    fprintf(stderr, "   %u jobs of vanished flood connections held\n", st.jobs);
    SL_ASSERT(st.jobs <= (reconnects + S_FLOODERS) * S_MAX_CLIENT_JOBS);
}

static void
test_flood(void)
{
    sl_client *c = NULL;
    char log[1024];
    size_t log0 = 0, log2 = 0;
    s_path(log, sizeof(log), "scheduler.log");
    SL_PASS(sl_client_connect(&c, NULL));
    s_echo_job(c, S_JOB_TASKS); // the same job, without a flood, first
    long rss0 = s_rss_kb(s_info.scheduler_pid);
    free(s_slurp(log, &log0));
    s_flood_round(c, 1);
    long rss1 = s_rss_kb(s_info.scheduler_pid);
    s_flood_round(c, 2);
    long rss2 = s_rss_kb(s_info.scheduler_pid);
    free(s_slurp(log, &log2));
    fprintf(stderr,
            "   scheduler RSS: %ld KiB before, %ld after one flood, %ld after "
            "two; its log grew %zu bytes\n",
            rss0, rss1, rss2, log2 - log0);
    SL_ASSERT(sl__proc_alive(s_info.scheduler_pid));
    // Bounded: a flood costs what its peers may make us hold (their
    // queues while they last, their waiting jobs up to the limit), and a
    // second one no more than the first.
#ifdef __SANITIZE_ADDRESS__
    // Its allocator, quarantine (16 MiB here, see main) and shadow memory
    // cost more, and vary more.
    SL_ASSERT(rss1 < rss0 + 128 * 1024);
    SL_ASSERT(rss2 < rss1 + 64 * 1024);
#else
    SL_ASSERT(rss1 < rss0 + 64 * 1024);
    SL_ASSERT(rss2 < rss1 + 16 * 1024);
#endif
    // And the log holds a few lines per peer, not one per bad frame.
    SL_ASSERT(log2 - log0 < 4u << 20);
    // Still serving everyone.
    s_echo_job(c, 100);
    sl_client_destroy(&c);
}

// ---------------------------------------------------------------------
// Limits, one at a time, each answered with a clear error.

static void
test_depth_bomb(void)
{
    zsock_t *peer = s_peer("client");
    sl__mpw w;
    char text[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    sl__job_opts o = {0, 3, 0, 0};
    sl__msg_submit_begin(&w, 0xb0b, "sys.echo", 1, 0, &o, 1);
    uint8_t bomb[10001];
    memset(bomb, 0x91, sizeof(bomb) - 1);
    bomb[sizeof(bomb) - 1] = 0xc0;
    sl__mpw_raw(&w, bomb, sizeof(bomb));
    s_send_mpw(peer, &w);
    SL_ASSERT_EQ(s_recv_error(peer, text, sizeof(text)), SL_EPROTO);
    SL_ASSERT_HAS(text, "nested too deep");

    // A message whose own fields are the bomb.
    sl__msg_begin(&w, SL_MSG_HELLO, 2);
    sl__mpw_raw(&w, bomb, sizeof(bomb));
    msgpack_pack_uint32(&w.pk, 1);
    s_send_mpw(peer, &w);
    SL_ASSERT_EQ(s_recv_error(peer, text, sizeof(text)), SL_EPROTO);
    SL_ASSERT_HAS(text, "HELLO");
    sl__mpw_fini(&w);
    zsock_destroy(&peer);
}

// An ndarray ext payload: dtype f64, the given shape, nbytes of data.
static void
s_pack_ndarray(sl__mpw *w, int ndim, const uint64_t *shape, size_t nbytes)
{
    uint8_t payload[8 + 32 + 64] = {2, (uint8_t) ndim};
    for (int i = 0; i < ndim; i++) {
        for (int b = 0; b < 8; b++) {
            payload[8 + 8 * i + b] = (uint8_t) (shape[i] >> (8 * b));
        }
    }
    size_t len = 8 + 8 * (size_t) ndim + nbytes;
    msgpack_pack_ext(&w->pk, len, 1);
    msgpack_pack_ext_body(&w->pk, payload, len);
}

static void
test_ndarray_mismatch(void)
{
    zsock_t *peer = s_peer("client");
    sl__mpw w;
    sl__mpw_init(&w);
    sl__job_opts o = {0, 3, 0, 0};
    // Task 0 says 1000 elements and holds one; task 1's shape overflows.
    sl__msg_submit_begin(&w, 0xa77a, "sys.echo", 2, 0, &o, 2);
    uint64_t shape0[1] = {1000};
    uint64_t shape1[2] = {1ull << 62, 4};
    msgpack_pack_map(&w.pk, 1);
    msgpack_pack_str(&w.pk, 1);
    msgpack_pack_str_body(&w.pk, "x", 1);
    s_pack_ndarray(&w, 1, shape0, 8);
    msgpack_pack_map(&w.pk, 1);
    msgpack_pack_str(&w.pk, 1);
    msgpack_pack_str_body(&w.pk, "x", 1);
    s_pack_ndarray(&w, 2, shape1, 8);
    s_send_mpw(peer, &w);
    // The scheduler passes arguments through; the worker refuses each,
    // and the task ends with the reason.
    const char *want[2] = {"ndarray byte count does not match its shape",
                           "ndarray larger than the limit"};
    int seen = 0;
    while (seen < 2) {
        zframe_t *f = s_recv_type(peer, SL_MSG_DONE, 10000);
        SL_ASSERT(f != NULL);
        sl__mpr r;
        uint32_t type, nf, n;
        uint64_t job;
        char why[SL_ERRSTR_LEN];
        sl__mpr_init(&r, zframe_data(f), zframe_size(f));
        SL_PASS(sl__msg_open(&r, &type, &nf, why));
        SL_PASS(sl__msg_done_decode(&r, &sl__limits_default, &job, &n, why));
        SL_ASSERT_EQ(job, 0xa77a);
        for (uint32_t i = 0; i < n; i++, seen++) {
            sl__outcome out;
            char text[SL_ERRSTR_LEN];
            SL_PASS(sl__msg_outcome_decode(&r, &sl__limits_default, false, &out,
                                           why));
            SL_ASSERT_EQ(out.status, SL_WIRE_ERROR);
            sl__fmt(text, sizeof(text), "%.*s", (int) out.error.len,
                    out.error.p);
            SL_ASSERT(out.index < 2);
            SL_ASSERT_HAS(text, want[out.index]);
        }
        zframe_destroy(&f);
    }
    sl__mpw_fini(&w);
    zsock_destroy(&peer);
}

static void
test_truncated_frames(void)
{
    zsock_t *peer = s_peer("client");
    sl__mpw w;
    char text[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    s_submit_small(&w, 0x7777, 1);
    size_t len = w.buf.size;
    uint8_t *whole = malloc(len);
    memcpy(whole, w.buf.data, len);
    for (size_t cut = 1; cut < len; cut++) {
        s_send_bytes(peer, whole, cut);
        SL_ASSERT_EQ(s_recv_error(peer, text, sizeof(text)), SL_EPROTO);
        SL_ASSERT(strstr(text, "malformed") != NULL ||
                  strstr(text, "truncated") != NULL);
    }
    fprintf(stderr, "   %zu cuts of a SUBMIT, each refused (the last: %s)\n",
            len - 1, text);

    // Another version, and a type no one knows.
    uint8_t v2[] = {0x92, 0x02, 0x04};
    s_send_bytes(peer, v2, sizeof(v2));
    SL_ASSERT_EQ(s_recv_error(peer, text, sizeof(text)), SL_EPROTO);
    SL_ASSERT_HAS(text, "version");
    uint8_t t99[] = {0x92, 0x01, 0x63};
    s_send_bytes(peer, t99, sizeof(t99));
    SL_ASSERT_EQ(s_recv_error(peer, text, sizeof(text)), SL_EPROTO);
    SL_ASSERT_HAS(text, "unexpected message type 99");
    free(whole);
    sl__mpw_fini(&w);
    zsock_destroy(&peer);
}

static void
test_oversized_message(void)
{
    // A frame over the limit: libzmq drops the connection before the
    // scheduler sees a byte of it.
    zsock_t *peer = s_peer("client");
    zsock_t *watch =
        sl__cert_monitor_new(peer, "oversized", ZMQ_EVENT_DISCONNECTED);
    SL_ASSERT(watch != NULL);
    size_t big = S_MAX_MESSAGE + 1;
    uint8_t *junk = malloc(big);
    memset(junk, 0xc1, big);
    s_send_bytes(peer, junk, big);
    zpoller_t *poller = zpoller_new(watch, NULL);
    SL_ASSERT(zpoller_wait(poller, 10000) == watch); // dropped
    zpoller_destroy(&poller);
    SL_ASSERT(s_recv_type(peer, SL_MSG_ERROR, 1000) == NULL); // unseen
    sl__cert_monitor_destroy(peer, &watch);
    zsock_destroy(&peer);

    // The same junk under the limit is read, and answered.
    peer = s_peer("client");
    char text[SL_ERRSTR_LEN];
    s_send_bytes(peer, junk, 1u << 20);
    SL_ASSERT_EQ(s_recv_error(peer, text, sizeof(text)), SL_EPROTO);
    zsock_destroy(&peer);
    free(junk);

    // Everyone else is still served.
    sl_client *c = NULL;
    SL_PASS(sl_client_connect(&c, NULL));
    s_echo_job(c, 10);
    sl_client_destroy(&c);
}

static void
test_jobs_per_client(void)
{
    zsock_t *peer = s_peer("client");
    sl__mpw w;
    char text[SL_ERRSTR_LEN];
    sl__mpw_init(&w);
    // Jobs of 2 tasks that send only the first: each stays open.
    for (uint64_t job = 1; job <= S_MAX_CLIENT_JOBS; job++) {
        s_submit_small(&w, job, 2);
        s_send_mpw(peer, &w);
        zframe_t *f = s_recv_type(peer, SL_MSG_ACCEPTED, 5000);
        SL_ASSERT(f != NULL);
        zframe_destroy(&f);
    }
    s_submit_small(&w, S_MAX_CLIENT_JOBS + 1, 2);
    s_send_mpw(peer, &w);
    SL_ASSERT_EQ(s_recv_error(peer, text, sizeof(text)), SL_ELIMIT);
    SL_ASSERT_HAS(text, "the most one client may have");
    // BYE frees them all; then, introduced again, there is room again.
    sl__msg_empty(&w, SL_MSG_BYE);
    s_send_mpw(peer, &w);
    sl__msg_hello(&w, "raw", 1);
    s_send_mpw(peer, &w);
    zframe_t *welcome = s_recv_type(peer, SL_MSG_WELCOME, 5000);
    SL_ASSERT(welcome != NULL);
    zframe_destroy(&welcome);
    s_submit_small(&w, 9999, 1);
    s_send_mpw(peer, &w);
    zframe_t *f = s_recv_type(peer, SL_MSG_ACCEPTED, 5000);
    SL_ASSERT(f != NULL);
    zframe_destroy(&f);
    sl__mpw_fini(&w);
    zsock_destroy(&peer);
}

// ---------------------------------------------------------------------
// Modules: only the allowed hash loads.

static void
test_module_allow_list(void)
{
    sl_client *c = NULL;
    sl_module v1, v2;
    char fn[SL_FUNCTION_MAX];
    sl_job job;
    SL_PASS(sl_client_connect(&c, NULL));
    SL_PASS(sl_module_register(c, TESTMOD_V1, &v1));
    SL_PASS(sl_module_register(c, TESTMOD_V2, &v2));

    SL_PASS(sl_module_function(&v2, "version", fn, sizeof(fn)));
    SL_PASS(sl_call_async(c, fn, NULL, NULL, &job));
    SL_PASS(sl_wait(c, &job, 1, SL_ALL_COMPLETED, S_WAIT_MS));
    const sl_result *r = sl_job_result(c, job, 0);
    SL_ASSERT_EQ(r->status, SL_TASK_ERROR);
    SL_ASSERT_HAS(r->error, "not in this worker's module allow list");
    fprintf(stderr, "   %s\n", r->error);
    sl_job_release(c, job);

    SL_PASS(sl_module_function(&v1, "version", fn, sizeof(fn)));
    SL_PASS(sl_call_async(c, fn, NULL, NULL, &job));
    SL_PASS(sl_wait(c, &job, 1, SL_ALL_COMPLETED, S_WAIT_MS));
    const sl_value *v;
    SL_ASSERT_EQ(sl_job_result(c, job, 0)->status, SL_TASK_OK);
    SL_PASS(sl_job_value(c, job, 0, &v));
    SL_ASSERT_EQ(sl_value_int(v), 1);
    sl_job_release(c, job);
    sl_client_destroy(&c);
}

// ---------------------------------------------------------------------
// What a scheduler without keys agrees to serve.

// Start a scheduler on the cluster's store with the given endpoints and
// extra flags; it must exit 1 at start with want in its log.
static void
s_scheduler_refuses(const char *clients, const char *workers, const char *extra,
                    const char *want)
{
    char pass[1024];
    s_path(pass, sizeof(pass), "redis.pass");
    char *argv[16] = {"starling-scheduler",
                      "--clients",
                      (char *) clients,
                      "--workers",
                      (char *) workers,
                      "--store",
                      s_info.redis,
                      "--store-password-file",
                      pass};
    int argc = 9;
    if (extra != NULL) {
        argv[argc++] = (char *) extra;
    }
    argv[argc] = NULL;
    pid_t pid;
    int status = 0;
    SL_PASS(sl__harness_spawn(argv, "refusing.log", &pid));
    SL_PASS(sl__harness_wait_pid(pid, 15000, &status));
    SL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    SL_ASSERT(s_log_waits_for("refusing.log", want, 1000));
    char log[1024];
    s_path(log, sizeof(log), "refusing.log");
    unlink(log);
}

static void
test_endpoint_rules(void)
{
    char ep[1024], ep2[1024], dir[1024], endpoints[1024], pass[1024];
    // Off loopback, in the clear: no.
    s_scheduler_refuses("tcp://0.0.0.0:*", "tcp://127.0.0.1:*", NULL,
                        "tcp://0.0.0.0:* is not a loopback address");
    // An abstract socket has no directory to keep others out.
    snprintf(ep, sizeof(ep), "ipc://@sl-security-test-%d", (int) getpid());
    s_scheduler_refuses(ep, "tcp://127.0.0.1:*", NULL,
                        "has no directory to keep others out");
    // An ipc socket in a directory others may enter: no.
    s_path(dir, sizeof(dir), "open");
    SL_ASSERT_EQ(mkdir(dir, 0700), 0);
    SL_ASSERT_EQ(chmod(dir, 0755), 0);
    sl__fmt(ep2, sizeof(ep2), "ipc://%s/clients.sock", dir);
    s_scheduler_refuses(ep2, "tcp://127.0.0.1:*", NULL,
                        "its directory must keep others out");
    // A certificate without an allow list.
    s_scheduler_refuses("tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
                        "--cert=/nonexistent", "--cert needs --allow");

    // An ipc socket in a directory that does not exist yet: made 0700 and
    // served; and the abstract one with --insecure.
    s_path(dir, sizeof(dir), "private/sockets");
    sl__fmt(ep2, sizeof(ep2), "ipc://%s/clients.sock", dir);
    s_path(endpoints, sizeof(endpoints), "ipc.endpoints");
    s_path(pass, sizeof(pass), "redis.pass");
    char *argv[] = {"starling-scheduler",
                    "--clients",
                    ep2,
                    "--workers",
                    ep,
                    "--insecure",
                    "--store",
                    s_info.redis,
                    "--store-password-file",
                    pass,
                    "--endpoints-file",
                    endpoints,
                    NULL};
    pid_t pid;
    int status = -1;
    SL_PASS(sl__harness_spawn(argv, "ipc.log", &pid));
    int64_t t0 = sl__mono_ms();
    while (access(endpoints, F_OK) != 0 && s_elapsed_ms(t0) < 10000) {
        usleep(20000);
    }
    SL_ASSERT(access(endpoints, F_OK) == 0);
    struct stat st;
    SL_ASSERT_EQ(stat(dir, &st), 0);
    SL_ASSERT_EQ(st.st_mode & 0777, 0700);
    SL_ASSERT(
        s_log_waits_for("ipc.log", "served in the clear (--insecure)", 1000));
    SL_PASS(sl__harness_stop_pid(pid, &status));
    SL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// ---------------------------------------------------------------------
// The store's password.

static void
s_redis_password_set(const char *old, const char *new_password)
{
    char host[64];
    int port = 0;
    SL_ASSERT(sscanf(s_info.redis, "%63[^:]:%d", host, &port) == 2);
    redisContext *ctx = redisConnect(host, port);
    SL_ASSERT(ctx != NULL && ctx->err == 0);
    redisReply *r = redisCommand(ctx, "AUTH %s", old);
    SL_ASSERT(r != NULL && r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = redisCommand(ctx, "CONFIG SET requirepass %s", new_password);
    SL_ASSERT(r != NULL && r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(ctx);
}

static void
test_store_password(void)
{
    char path[1024], wrong[1024];
    char password[128] = "";
    s_path(path, sizeof(path), "redis.pass");
    char *pass = s_slurp(path, NULL);
    SL_ASSERT(pass != NULL);
    sscanf(pass, "%127s", password);
    free(pass);

    // A scheduler given a wrong password stops at once and says why.
    s_path(wrong, sizeof(wrong), "wrong.pass");
    FILE *f = fopen(wrong, "w");
    fputs("not-the-password\n", f);
    fclose(f);
    char *sched[] = {"starling-scheduler",
                     "--clients",
                     "tcp://127.0.0.1:*",
                     "--workers",
                     "tcp://127.0.0.1:*",
                     "--store",
                     s_info.redis,
                     "--store-password-file",
                     wrong,
                     NULL};
    pid_t pid;
    int status = 0;
    SL_PASS(sl__harness_spawn(sched, "wrong-password.log", &pid));
    SL_PASS(sl__harness_wait_pid(pid, 15000, &status));
    SL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    SL_ASSERT(
        s_log_waits_for("wrong-password.log", "authentication failed", 1000));
    SL_ASSERT(
        s_log_waits_for("wrong-password.log", "--store-password-file", 1000));

    // The store's password changes under a running cluster: a new client
    // and a new worker get the old one from the scheduler, and are
    // refused, clearly and at once.
    s_redis_password_set(password, "a-new-password");
    sl_client *c = NULL;
    int64_t t0 = sl__mono_ms();
    SL_FAILS(sl_client_connect(&c, NULL), SL_EAUTH);
    SL_ASSERT(s_elapsed_ms(t0) < 5000);
    char cert[1024];
    s_path(cert, sizeof(cert), "keys/worker_secret");
    char *worker[] = {"starling-worker",
                      "--scheduler",
                      s_info.workers_endpoint,
                      "--slots",
                      "1",
                      "--cert",
                      cert,
                      "--server-cert",
                      s_info.server_cert,
                      NULL};
    SL_PASS(sl__harness_spawn(worker, "late-worker.log", &pid));
    SL_PASS(sl__harness_wait_pid(pid, 15000, &status));
    SL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    SL_ASSERT(
        s_log_waits_for("late-worker.log", "authentication failed", 1000));
    SL_ASSERT(s_log_waits_for("late-worker.log", "stopping", 1000));

    s_redis_password_set("a-new-password", password);
    SL_PASS(sl_client_connect(&c, NULL));
    s_echo_job(c, 10);
    sl_client_destroy(&c);
}

// ---------------------------------------------------------------------

static void
s_allow_list_remove(void)
{
    if (s_allow_file[0] != '\0') {
        unlink(s_allow_file);
    }
}

// The workers' module allow list: testmod v1's hash, and a comment.
static void
s_allow_list_write(void)
{
    size_t len;
    char *bytes = s_slurp(TESTMOD_V1, &len);
    char hex[SL_SHA256_HEX_LEN + 1];
    SL_ASSERT(bytes != NULL);
    sl__sha256_hex(bytes, len, hex);
    free(bytes);
    const char *tmp = getenv("TMPDIR");
    snprintf(s_allow_file, sizeof(s_allow_file), "%s/sl-allow-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    int fd = mkstemp(s_allow_file);
    SL_ASSERT(fd >= 0);
    atexit(s_allow_list_remove);
    dprintf(fd, "# testmod v1 only\n%s  # libtestmod_v1.so\n\n", hex);
    close(fd);
}

// Under AddressSanitizer, the cluster's processes keep 16 MiB of freed
// memory in quarantine rather than 256: else the memory bound of the flood
// test would measure the quarantine filling up.
static void
s_asan_quarantine_small(void)
{
#ifdef __SANITIZE_ADDRESS__
    const char *old = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=16",
             old != NULL ? old : "", old != NULL && old[0] != '\0' ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
#endif
}

int
main(void)
{
    sl__log_init("security_test");
    s_asan_quarantine_small();
    s_allow_list_write();
    sl__cluster_opts opts = {.workers = 2,
                             .slots = 1,
                             .max_message = S_MAX_MESSAGE,
                             .max_client_jobs = S_MAX_CLIENT_JOBS,
                             .module_allow = s_allow_file};
    SL_PASS(sl__harness_start_opts(&opts, &s_info));
    SL_ASSERT(s_info.client_cert[0] != '\0'); // CURVE by default
    SL_RUN(test_keys_let_in);
    SL_RUN(test_client_without_key);
    SL_RUN(test_worker_without_key);
    SL_RUN(test_depth_bomb);
    SL_RUN(test_ndarray_mismatch);
    SL_RUN(test_truncated_frames);
    SL_RUN(test_oversized_message);
    SL_RUN(test_jobs_per_client);
    SL_RUN(test_module_allow_list);
    SL_RUN(test_endpoint_rules);
    SL_RUN(test_flood);
    SL_RUN(test_store_password);
    sl__harness_stop();
    return 0;
}
