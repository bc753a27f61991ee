// conn.c - a client's conversation with the scheduler: the socket, HELLO
// and WELCOME, the messages that come in, heartbeats, and the jobs
// submitted again after the scheduler restarted.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - One DEALER socket, used only inside API calls (the client has no
//   thread of its own). A routing id of our own makes a reconnect the
//   same client to the scheduler.
// - Connecting proves three things before it returns: the scheduler let us
//   in (with CURVE, our key is in its allow list: a socket monitor reports
//   a refused handshake, so the caller hears why at once rather than after
//   a timeout), it answered HELLO, and the store it named accepts its
//   password (a short probe; a store that cannot be reached is tried again
//   when first needed).
// - A scheduler that restarted knows us no more: it answers "unknown
//   client". We say HELLO again (every heartbeat until it answers) and its
//   WELCOME submits again every job that lacks results, the tasks that
//   have theirs marked ended.
// - A scheduler that is gone (killed, stopped, cut off) says nothing, and
//   neither does one whose tasks are long. So a client that has heard
//   nothing for a heartbeat asks for a STATUS (it stands for the
//   heartbeat); a scheduler answers at once. Unanswered for
//   S_SILENT_HEARTBEATS, the client says once that it is reconnecting
//   (ZeroMQ redials by itself), and once more when it hears the scheduler
//   again, through the library's log ($STARLING_LOG=error silences both).
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/cert.h"
#include "clientimpl.h"
#include "cluster_env.h"
#include "conn.h"

// The store probe at connect: short, so that a store behind a firewall
// does not hold up a client that never needs it.
#define S_STORE_PROBE_MS 3000
// Heartbeats a question may go unanswered before the client says it is
// reconnecting: the scheduler's own measure of a lost worker.
#define S_SILENT_HEARTBEATS 3

sl_err
sl__client_err(sl_client *c, sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
    return rv;
}

const char *
sl_client_errstr(const sl_client *c)
{
    return c != NULL ? c->errstr : "no client";
}

// ---------------------------------------------------------------------
// Sending.

void
sl__client_send(sl_client *c)
{
    if (sl__mpw_failed(&c->w)) {
        sl__client_err(c, SL_ENOMEM, "out of memory packing a message for %s",
                       c->endpoint);
        return;
    }
    // Never blocking: the socket has no high-water mark, so a send that
    // would block means libzmq has no connection for us at all. It drops
    // the one it made when the scheduler refuses our handshake (no key, or
    // one it does not know); a blocking send after that waited for ever
    // (seen under ASan, where the refusal can beat the first HELLO). The
    // caller's wait then finds the refusal through the handshake monitor.
    if (zmq_send(c->raw, c->w.buf.data, c->w.buf.size, ZMQ_DONTWAIT) < 0) {
        sl__client_err(c, SL_ECLOSED, "send to %s failed: %s", c->endpoint,
                       errno == EAGAIN ? "no connection (the scheduler "
                                         "refused our handshake?)"
                                       : zmq_strerror(errno));
        return;
    }
    c->last_send_ms = sl__mono_ms();
}

void
sl__client_send_chunk(sl_client *c, const sl__client_job *job,
                      const sl__client_chunk *ch, const uint8_t *ended)
{
    sl__job_opts opts = job->opts;
    opts.flags |= SL_SUBMIT_NO_ACCEPTED;
    sl__mpw_reset(&c->w);
    opts.flags |= SL_SUBMIT_KEEP;
    sl__msg_resubmit_begin(&c->w, job->id, job->function, job->n, ch->first,
                           &opts, ended, ch->n, ch->deps != NULL);
    sl__mpw_raw(&c->w, ch->args, ch->len);
    if (ch->deps != NULL) {
        sl__mpw_raw(&c->w, ch->deps, ch->deps_len);
    }
    sl__client_send(c);
}

// HELLO names the client's node: the scheduler gives it to the client's
// jobs, so that their tasks know whether they run beside the client.
static void
s_send_hello(sl_client *c)
{
    char node[SL_NODE_NAME_MAX + 1];
    sl__node_name(node, sizeof(node));
    sl__mpw_reset(&c->w);
    sl__msg_hello(&c->w, node, (uint32_t) getpid());
    sl__client_send(c);
    c->hello_ms = sl__mono_ms();
}

// ---------------------------------------------------------------------
// A scheduler that restarted.

// Submit again, to a scheduler that restarted, every job of an earlier
// epoch that has tasks without results; the ones with results are marked
// in each chunk's ended bitmap and do not run again.
static void
s_resubmit(sl_client *c)
{
    size_t jobs = 0, tasks = 0;
    uint8_t ended[(SL_CLIENT_CHUNK_TASKS + 7) / 8]; // a chunk's at most
    for (sl__client_job *job = c->jobs; job != NULL; job = job->next) {
        if (job->held || job->done == job->n || job->epoch == c->epoch) {
            continue;
        }
        job->epoch = c->epoch;
        for (size_t k = 0; k < job->n_chunks; k++) {
            const sl__client_chunk *ch = &job->chunks[k];
            assert(ch->n <= SL_CLIENT_CHUNK_TASKS);
            memset(ended, 0, ((size_t) ch->n + 7) / 8);
            for (uint32_t i = 0; i < ch->n; i++) {
                if (job->results[ch->first + i].pub.status != SL_TASK_PENDING) {
                    ended[i / 8] |= (uint8_t) (1u << (i % 8));
                }
            }
            sl__client_send_chunk(c, job, ch, ended);
        }
        jobs++;
        tasks += job->n - job->done;
    }
    sl__log_info("the scheduler at %s restarted: %zu job%s submitted "
                 "again (%zu task%s without results)",
                 c->endpoint, jobs, jobs == 1 ? "" : "s", tasks,
                 tasks == 1 ? "" : "s");
}

// The scheduler does not know us (it restarted): introduce ourselves
// again; the WELCOME that answers resubmits our jobs.
static void
s_rejoin(sl_client *c)
{
    if (c->rejoining) {
        return;
    }
    c->rejoining = true;
    c->welcomed = false;
    c->epoch++;
    s_send_hello(c);
}

// ---------------------------------------------------------------------
// Messages from the scheduler.

static void
s_on_welcome(sl_client *c, sl__mpr *r)
{
    sl__welcome m;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__msg_welcome_decode(r, &m, errbuf) != SL_OK) {
        sl__client_err(c, SL_EPROTO, "scheduler: %s", errbuf);
        return;
    }
    if (c->session == 0) {
        // Objects are named by the first session, for the client's life.
        c->session = m.session;
    }
    c->heartbeat_ms = m.heartbeat_ms > 0 ? (int) m.heartbeat_ms : 1000;
    c->inline_max = m.inline_max;
    sl__store_where_from_welcome(&c->store_where, &m);
    c->welcomed = true;
    if (c->rejoining) {
        c->rejoining = false;
        s_resubmit(c);
    }
}

static void
s_on_done(sl_client *c, sl__mpr *r)
{
    uint64_t id;
    uint32_t n;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__msg_done_decode(r, &c->limits, &id, &n, errbuf) != SL_OK) {
        sl__client_err(c, SL_EPROTO, "scheduler: %s", errbuf);
        return;
    }
    // A released job that runs on for its dependents still counts its
    // outcomes: its producers' objects are kept until it has ended.
    sl__client_job *job = sl__client_job_find_any(c, id);
    for (uint32_t i = 0; i < n && job != NULL; i++) {
        sl__outcome o;
        if (sl__msg_outcome_decode(r, &c->limits, false, &o, errbuf) != SL_OK) {
            sl__client_err(c, SL_EPROTO, "scheduler: %s", errbuf);
            return;
        }
        sl__client_job_outcome(c, job, &o);
    }
}

static void
s_on_error(sl_client *c, sl__mpr *r)
{
    sl__error_msg m;
    char errbuf[SL_ERRSTR_LEN];
    if (sl__msg_error_decode(r, &m, errbuf) != SL_OK) {
        sl__client_err(c, SL_EPROTO, "scheduler: %s", errbuf);
        return;
    }
    if (m.code == SL_ENOTFOUND && m.job == 0 && (c->welcomed || c->rejoining)) {
        s_rejoin(c); // "unknown client": the scheduler restarted
        return;
    }
    char text[SL_ERRSTR_LEN];
    sl__fmt(text, sizeof(text), "scheduler refused: %.*s", (int) m.text.len,
            m.text.p);
    sl__client_err(c, (sl_err) m.code, "%s", text);
    sl__client_job *job = m.job != 0 ? sl__client_job_find_any(c, m.job) : NULL;
    if (job != NULL) {
        sl__client_job_fail(job, SL_TASK_FAILED, text);
        sl__client_job_check_ended(c, job);
    }
}

static void
s_on_message(sl_client *c, const void *data, size_t len)
{
    sl__mpr r;
    uint32_t type, nfields;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpr_init(&r, data, len);
    if (sl__msg_open(&r, &type, &nfields, errbuf) != SL_OK) {
        sl__client_err(c, SL_EPROTO, "scheduler: %s", errbuf);
        return;
    }
    switch (type) {
    case SL_MSG_WELCOME:
        s_on_welcome(c, &r);
        break;
    case SL_MSG_DONE:
        s_on_done(c, &r);
        break;
    case SL_MSG_ERROR:
        s_on_error(c, &r);
        break;
    case SL_MSG_STATUS_REPLY:
        if (sl__msg_status_reply_decode(&r, &c->status, errbuf) == SL_OK) {
            c->got_status = true;
        }
        break;
    case SL_MSG_ACCEPTED:
    case SL_MSG_HEARTBEAT:
        break;
    default:
        sl__client_err(c, SL_EPROTO,
                       "scheduler sent unexpected message type %u", type);
        break;
    }
}

// The scheduler spoke: it is there. Say so if we said it was not, once
// it knows us again.
static void
s_heard(sl_client *c)
{
    c->last_recv_ms = sl__mono_ms();
    c->asked_ms = 0;
    if (c->silent_noted && !c->rejoining) {
        c->silent_noted = false;
        sl__log_info("reconnected to the scheduler at %s", c->endpoint);
    }
}

// A heartbeat when one is due: a STATUS after a heartbeat of silence (its
// answer shows the scheduler is there), or HELLO again while the
// scheduler may still be down. Then, after S_SILENT_HEARTBEATS without an
// answer, say once that it is not answering.
static void
s_heartbeat(sl_client *c)
{
    int64_t now = sl__mono_ms();
    int64_t hb = c->heartbeat_ms;
    if (c->welcomed && c->asked_ms == 0 && now - c->last_recv_ms >= hb) {
        sl__mpw_reset(&c->w);
        sl__msg_empty(&c->w, SL_MSG_STATUS);
        sl__client_send(c);
        c->asked_ms = now;
    } else if (c->welcomed && now - c->last_send_ms >= hb) {
        sl__mpw_reset(&c->w);
        sl__msg_empty(&c->w, SL_MSG_HEARTBEAT);
        sl__client_send(c);
    } else if (c->rejoining && now - c->hello_ms >= hb) {
        s_send_hello(c);
        c->asked_ms = c->asked_ms != 0 ? c->asked_ms : now;
    }
    if (c->asked_ms != 0 && !c->silent_noted &&
        now - c->asked_ms >= S_SILENT_HEARTBEATS * hb) {
        c->silent_noted = true;
        sl__log_warn("scheduler at %s not answering; reconnecting",
                     c->endpoint);
    }
}

bool
sl__client_reconnecting(const sl_client *c)
{
    return c != NULL && c->silent_noted;
}

int
sl__client_pump_messages(sl_client *c, int timeout_ms)
{
    int handled = 0;
    zmq_pollitem_t item = {c->raw, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0) {
        timeout_ms = 0;
    }
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            break;
        }
        s_on_message(c, zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
        handled++;
    }
    if (handled > 0) {
        s_heard(c);
    }
    s_heartbeat(c);
    return handled;
}

// ---------------------------------------------------------------------
// Where to connect, with which keys.

static sl_err
s_resolve_endpoint(sl_client *c, const char *endpoint,
                   const sl__cluster_info *cluster)
{
    const char *env = getenv("STARLING_SCHEDULER");
    if (endpoint != NULL && endpoint[0] != '\0') {
        sl__strlcpy(c->endpoint, endpoint, sizeof(c->endpoint));
    } else if (env != NULL && env[0] != '\0') {
        sl__strlcpy(c->endpoint, env, sizeof(c->endpoint));
    } else if (cluster != NULL) {
        sl__strlcpy(c->endpoint, cluster->scheduler, sizeof(c->endpoint));
    } else {
        return sl__client_err(c, SL_ENOTFOUND,
                              "no scheduler given, $STARLING_SCHEDULER unset, "
                              "and no local cluster (run `starling up`)");
    }
    return SL_OK;
}

static sl_err
s_keys_set(sl_client *c, const char *client_cert, const char *server_cert,
           const char *what)
{
    bool has_client = client_cert != NULL && client_cert[0] != '\0';
    bool has_server = server_cert != NULL && server_cert[0] != '\0';
    if (has_client != has_server) {
        return sl__client_err(c, SL_EINVAL,
                              "%s: a client certificate and the scheduler's "
                              "go together (give both, or neither)",
                              what);
    }
    sl__strlcpy(c->client_cert, has_client ? client_cert : "",
                sizeof(c->client_cert));
    sl__strlcpy(c->server_cert, has_server ? server_cert : "",
                sizeof(c->server_cert));
    return SL_OK;
}

// The keys to use: those given, else the environment's, else the local
// cluster's when we connect to its scheduler, else none.
static sl_err
s_resolve_keys(sl_client *c, const sl_client_keys *keys,
               const sl__cluster_info *cluster)
{
    const char *env_client = getenv("STARLING_CLIENT_CERT");
    const char *env_server = getenv("STARLING_SERVER_CERT");
    if (keys != NULL) {
        return s_keys_set(c, keys->client_cert, keys->server_cert,
                          "sl_client_keys");
    }
    if ((env_client != NULL && env_client[0] != '\0') ||
        (env_server != NULL && env_server[0] != '\0')) {
        return s_keys_set(c, env_client, env_server,
                          "$STARLING_CLIENT_CERT and $STARLING_SERVER_CERT");
    }
    if (cluster != NULL && strcmp(cluster->scheduler, c->endpoint) == 0) {
        return s_keys_set(c, cluster->client_cert, cluster->server_cert,
                          "cluster.env");
    }
    return SL_OK;
}

static sl_err
s_resolve(sl_client *c, const char *endpoint, const sl_client_keys *keys)
{
    sl__cluster_info *info = calloc(1, sizeof(*info));
    if (info == NULL) {
        return SL_ENOMEM;
    }
    bool have = sl__cluster_read(NULL, info) == SL_OK;
    sl_err rv = s_resolve_endpoint(c, endpoint, have ? info : NULL);
    if (rv == SL_OK) {
        rv = s_resolve_keys(c, keys, have ? info : NULL);
    }
    free(info);
    return rv;
}

// ---------------------------------------------------------------------
// Joining.

// Make the socket a CURVE client when we have keys; watch its handshakes
// either way. Before it connects.
static sl_err
s_curve_start(sl_client *c)
{
    char errbuf[SL_ERRSTR_LEN];
    sl_err rv;
    if (c->client_cert[0] != '\0' &&
        (rv = sl__cert_apply_client(c->sock, c->client_cert, c->server_cert,
                                    errbuf)) != SL_OK) {
        return sl__client_err(c, rv, "%s", errbuf);
    }
    if ((c->monitor = sl__cert_monitor_new(c->sock, "client",
                                           SL_CERT_HANDSHAKE_EVENTS)) == NULL) {
        return sl__client_err(c, SL_ENOMEM, "cannot watch the socket");
    }
    return SL_OK;
}

// Whether the handshake has failed for good: any refusal, or (with CURVE)
// a second silent failure, which a wrong server key gives.
static sl_err
s_handshake_check(sl_client *c, int *silent)
{
    uint16_t event;
    uint32_t value;
    bool curve = c->client_cert[0] != '\0';
    while (sl__cert_monitor_read(c->monitor, &event, &value)) {
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL &&
            (!curve || ++*silent < 2)) {
            continue; // the scheduler restarting, perhaps: wait and see
        }
        char why[256];
        sl__cert_handshake_why(event, value, curve, why, sizeof(why));
        return sl__client_err(
            c, SL_EAUTH, "cannot join the scheduler at %s: %s%s%s", c->endpoint,
            why, curve ? "; our key: " : "", curve ? c->client_cert : "");
    }
    return SL_OK;
}

// Try the store the scheduler named, once and briefly: a password it
// refuses is the caller's error now, not a failed task later.
static sl_err
s_store_probe(sl_client *c)
{
    sl__store_opts probe = c->store_where.opts;
    sl__store *store = NULL;
    char errbuf[SL_ERRSTR_LEN];
    probe.timeout_ms = S_STORE_PROBE_MS;
    sl_err rv = sl__store_connect(&store, &probe, errbuf);
    sl__store_destroy(&store);
    if (rv == SL_EAUTH) {
        return sl__client_err(c, rv, "%s (the password the scheduler gave)",
                              errbuf);
    }
    return SL_OK;
}

static sl_err
s_hello(sl_client *c)
{
    int silent = 0;
    sl_err rv;
    s_send_hello(c);
    int64_t deadline = sl__mono_ms() + SL_CLIENT_CONNECT_TIMEOUT_MS;
    while (!c->welcomed) {
        int64_t left = deadline - sl__mono_ms();
        if (left <= 0) {
            return sl__client_err(
                c, SL_ETIMEDOUT, "no answer from the scheduler at %s in %d s%s",
                c->endpoint, SL_CLIENT_CONNECT_TIMEOUT_MS / 1000,
                c->client_cert[0] != '\0'
                    ? " (is the scheduler's certificate right?)"
                    : "");
        }
        sl__client_pump_messages(c, (int) (left < 100 ? left : 100));
        if ((rv = s_handshake_check(c, &silent)) != SL_OK) {
            return rv;
        }
    }
    // In: the monitor has done its job.
    sl__cert_monitor_destroy(c->sock, &c->monitor);
    return s_store_probe(c);
}

// The DEALER, with a routing id of our own, so that the scheduler knows
// us again after a reconnect (a new connection would otherwise be a new
// client).
static sl_err
s_socket(sl_client *c)
{
    zsys_set_logstream(NULL);
    // A library leaves the program's signals alone: without this, czmq's
    // first socket installs handlers for SIGINT and SIGTERM that only set
    // a flag, and a program that never reads it can no longer be stopped.
    zsys_handler_set(NULL);
    if ((c->sock = zsock_new(ZMQ_DEALER)) == NULL) {
        return sl__client_err(c, SL_ENOMEM, "cannot create a socket");
    }
    uint8_t rid[16] = {'c'};
    uint64_t r1 = sl__rand64(), r2 = sl__rand64();
    memcpy(rid + 1, &r1, 8);
    memcpy(rid + 9, &r2, 7);
    zmq_setsockopt(zsock_resolve(c->sock), ZMQ_ROUTING_ID, rid, sizeof(rid));
    zsock_set_linger(c->sock, 1000);
    zsock_set_maxmsgsize(c->sock, (int) c->limits.max_message);
    zsock_set_rcvhwm(c->sock, 0);
    zsock_set_sndhwm(c->sock, 0);
    c->raw = zsock_resolve(c->sock);
    return SL_OK;
}

sl_err
sl__client_open(sl_client *c, const char *endpoint, const sl_client_keys *keys)
{
    sl_err rv;
    if ((rv = s_resolve(c, endpoint, keys)) != SL_OK ||
        (rv = s_socket(c)) != SL_OK || (rv = s_curve_start(c)) != SL_OK) {
        return rv;
    }
    if (zsock_connect(c->sock, "%s", c->endpoint) < 0) {
        return sl__client_err(c, SL_EINVAL, "cannot connect to %s: %s",
                              c->endpoint, zmq_strerror(zmq_errno()));
    }
    return s_hello(c);
}

void
sl__client_close(sl_client *c)
{
    if (c->welcomed) {
        sl__mpw_reset(&c->w);
        sl__msg_empty(&c->w, SL_MSG_BYE);
        sl__client_send(c);
    }
    sl__cert_monitor_destroy(c->sock, &c->monitor);
    zsock_destroy(&c->sock);
}
