// sched.c - the scheduler's loop: the message switch, timers (heartbeats,
// lost workers, abandoned jobs) and life cycle. One thread, one loop, no
// locks.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Each turn: wait on both ROUTER sockets (or the next timer), drain at
//   most S_MAX_MSGS_PER_TURN messages from each, run timers (heartbeats,
//   lost workers), dispatch queued tasks to workers with credit, and flush
//   one DONE per job that has new outcomes. Handlers never block and never
//   send per task: everything goes out batched at the end of the turn.
// - The scheduler reads only message envelopes: arguments and result
//   values pass through as raw msgpack bytes.
// - What a peer can make us hold is bounded (job.c and peer.c say how for
//   jobs and for what we send); here, a client silent for S_CLIENT_IDLE_MS
//   whose jobs cannot move (no task queued or running) is treated as gone.
// - Who may connect at all is auth.c's business: CURVE keys and the
//   endpoints served in the clear.
// - The HTTP endpoints see the loop only through a snapshot that the
//   timers publish (observe.c): the server's thread never touches the
//   loop's state, and the loop never waits for it.
// - The scheduler's files and who calls whom: sched_impl.h.
#include "sched.h"

#include <czmq.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_impl.h"

// At most this many messages from one socket per turn, so one busy peer
// (or a flood) cannot starve the other socket and the timers.
#define S_MAX_MSGS_PER_TURN 256
// Worker silence, in heartbeats, after which it is considered lost.
#define S_HEARTBEAT_LIVENESS 3
// Messages queued in libzmq for one peer before a send would block: more
// than a reading client or worker ever has waiting. Past it, messages for
// a client wait in sl__peer.held (at most S_HELD_MAX bytes, peer.c); those
// for a worker are dropped (a worker that does not read goes silent and
// is lost, and its tasks are re-queued).
#define S_SEND_HWM 100000
// malloc_trim when idle, at most this often (s_trim).
#define S_TRIM_GAP_MS 1000
// A client silent this long whose jobs cannot move is treated as gone (a
// message from it brings it back, without those jobs).
#define S_CLIENT_IDLE_MS 600000

// ---------------------------------------------------------------------
// Peers that leave.

// Forget a peer. A worker's leases go back to the queue first; with
// penalty (it died or went silent) each run counts as an attempt.
static void
s_peer_remove(sl__sched *self, sl__peer **peer_p, bool penalty, const char *why)
{
    if ((*peer_p)->is_worker) {
        sl__worker_leave(self, *peer_p, penalty, why);
    }
    sl__peer_destroy(self, peer_p);
}

// The client is gone: cancel its jobs (running tasks are stopped) and
// forget it.
static void
s_client_gone(sl__sched *self, sl__peer **client_p, const char *why)
{
    sl__peer *client = *client_p;
    size_t n = 0;
    for (size_t i = 0; i < self->jobs.cap; i++) {
        sl__job *job = self->jobs.keys[i] ? self->jobs.vals[i] : NULL;
        if (job != NULL && job->client_key == client->key) {
            job->client_key = 0;
            char text[128];
            sl__fmt(text, sizeof(text), "client %s", why);
            sl__job_cancel(self, job, text, true);
            sl__job_mark_dirty(self, job); // the flush frees it once done
            n++;
        }
    }
    if (n > 0) {
        sl__log_info("client %s (pid %u) %s: %zu job%s cancelled", client->name,
                     client->pid, why, n, n == 1 ? "" : "s");
    }
    s_peer_remove(self, client_p, false, why);
}

static void
s_on_client_bye(sl__sched *self, sl__peer **client_p)
{
    s_client_gone(self, client_p, "left");
}

// ---------------------------------------------------------------------
// The message switch.

static void
s_on_client_msg(sl__sched *self, sl__peer *client, uint32_t type,
                uint32_t nfields, sl__mpr *r, zmq_msg_t *body)
{
    if (!client->hello && type != SL_MSG_HELLO) {
        if (type == SL_MSG_BYE) {
            s_peer_remove(self, &client, false, "left");
            return;
        }
        // A client of a scheduler that restarted, or one that skipped
        // HELLO: it introduces itself again and submits its jobs anew.
        sl__peer_send_error(self, client, SL_ENOTFOUND,
                            "unknown client: send HELLO", 0);
        return;
    }
    switch (type) {
    case SL_MSG_HELLO:
        sl__on_hello(self, client, r);
        break;
    case SL_MSG_SUBMIT:
        sl__on_submit(self, client, r, nfields, body);
        break;
    case SL_MSG_CANCEL:
        sl__on_cancel(self, client, r);
        break;
    case SL_MSG_RELEASE:
        sl__on_release(self, client, r);
        break;
    case SL_MSG_STATUS:
        sl__on_status(self, client);
        break;
    case SL_MSG_HEARTBEAT:
        break;
    case SL_MSG_BYE:
        s_on_client_bye(self, &client);
        break;
    default:
        sl__peer_send_unexpected(self, client, type);
        break;
    }
}

static void
s_on_worker_msg(sl__sched *self, sl__peer *w, uint32_t type, sl__mpr *r)
{
    switch (type) {
    case SL_MSG_READY:
        sl__on_ready(self, w, r);
        break;
    case SL_MSG_RESULT:
        sl__on_result(self, w, r);
        break;
    case SL_MSG_HEARTBEAT:
        if (!w->ready) {
            sl__peer_send_error(self, w, SL_ENOTFOUND,
                                "unknown worker: send READY", 0);
        }
        break;
    case SL_MSG_BYE:
        s_peer_remove(self, &w, false, "left");
        break;
    default:
        sl__peer_send_unexpected(self, w, type);
        break;
    }
}

static void
s_on_message(sl__sched *self, bool from_worker, zmq_msg_t *id, zmq_msg_t *body)
{
    sl__peer *peer =
        sl__peer_get(self, zmq_msg_data(id), zmq_msg_size(id), from_worker);
    if (peer == NULL) {
        sl__log_warn("message with an unusable routing id dropped");
        return;
    }
    peer->last_recv_ms = sl__mono_ms();
    if (!from_worker) {
        peer->fd = zmq_msg_get(body, ZMQ_SRCFD);
        peer->gone_ms = 0;
    }
    sl__mpr r;
    uint32_t type, nfields;
    char why[SL_ERRSTR_LEN];
    sl__mpr_init(&r, zmq_msg_data(body), zmq_msg_size(body));
    if (sl__msg_open(&r, &type, &nfields, why) != SL_OK) {
        sl__peer_reject(self, peer, SL_EPROTO, why, 0);
        return;
    }
    if (from_worker) {
        s_on_worker_msg(self, peer, type, &r);
    } else {
        s_on_client_msg(self, peer, type, nfields, &r, body);
    }
}

// Receive one [routing id, body] message. Returns false when none is
// waiting. Extra frames are read and dropped (the body is then empty, which
// decodes as a malformed message and is answered with ERROR).
static bool
s_recv(void *sock, zmq_msg_t *id, zmq_msg_t *body)
{
    if (zmq_msg_recv(id, sock, ZMQ_DONTWAIT) < 0) {
        return false;
    }
    if (!zmq_msg_more(id)) {
        zmq_msg_close(body);
        zmq_msg_init(body);
        return true;
    }
    zmq_msg_recv(body, sock, 0);
    if (zmq_msg_more(body)) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        while (zmq_msg_more(body) || zmq_msg_more(&extra)) {
            zmq_msg_recv(&extra, sock, 0);
            if (!zmq_msg_more(&extra)) {
                break;
            }
        }
        zmq_msg_close(&extra);
        zmq_msg_close(body);
        zmq_msg_init(body);
    }
    return true;
}

static void
s_drain(sl__sched *self, bool workers)
{
    void *sock = workers ? self->workers_raw : self->clients_raw;
    for (int i = 0; i < S_MAX_MSGS_PER_TURN; i++) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        bool got = s_recv(sock, &id, &body);
        if (got) {
            s_on_message(self, workers, &id, &body);
        }
        zmq_msg_close(&id);
        zmq_msg_close(&body);
        if (!got) {
            break;
        }
    }
}

// A connection of a served socket closed (the auth's monitor): for a
// client, its grace period begins. A client that comes back (a reconnect
// keeps its routing id) ends it with its next message.
static void
s_on_closed(void *ctx, const char *role, int fd)
{
    sl__sched *self = ctx;
    if (strcmp(role, "client") != 0) {
        return;
    }
    for (size_t i = 0; i < self->peers.cap; i++) {
        sl__peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL && !p->is_worker && p->fd == fd && p->gone_ms == 0) {
            p->gone_ms = sl__mono_ms();
            sl__log_debug("client %s (pid %u) disconnected", p->name, p->pid);
        }
    }
}

// ---------------------------------------------------------------------
// Timers.

// Jobs whose client has been silent for S_CLIENT_IDLE_MS and that have
// nothing left to run (they wait for chunks): a client sends a job's
// chunks back to back, so this one is gone, and its jobs go as on BYE.
static void
s_reap_abandoned(sl__sched *self, int64_t now)
{
    if (now < self->next_reap_ms) {
        return;
    }
    self->next_reap_ms = now + S_CLIENT_IDLE_MS / 10;
    for (size_t i = 0; i < self->jobs.cap; i++) {
        sl__job *job = self->jobs.keys[i] ? self->jobs.vals[i] : NULL;
        if (job == NULL || job->client_key == 0 || job->done < job->received) {
            continue;
        }
        sl__peer *client = sl__table_get(&self->peers, job->client_key);
        if (client != NULL && now - client->last_recv_ms <= S_CLIENT_IDLE_MS) {
            continue;
        }
        if (client != NULL && client->n_jobs > 0) {
            client->n_jobs--;
        }
        job->client_key = 0;
        sl__job_cancel(self, job, "client went silent", true);
        sl__job_mark_dirty(self, job); // the flush frees it
    }
}

// Idle: give the heap's free memory back, so that the scheduler's size
// follows its load; at most once in S_TRIM_GAP_MS (a client calling one
// task at a time makes the scheduler idle thousands of times a second,
// and a trim then cost its next call about 15 us), else at the next scan.
static void
s_trim(sl__sched *self, bool now)
{
    if (!now && self->now_ms - self->trimmed_ms < S_TRIM_GAP_MS) {
        self->trim_wanted = true;
        return;
    }
    malloc_trim(0);
    self->trimmed_ms = self->now_ms;
    self->trim_wanted = false;
}

void
sl__sched_run_timers(sl__sched *self, int64_t now)
{
    sl__observe_tick(self, now);
    if (now < self->next_scan_ms) {
        return;
    }
    int64_t hb = self->opts.heartbeat_ms;
    self->next_scan_ms = now + hb / 2;
    if (self->trim_wanted && self->jobs.n == 0) {
        s_trim(self, true);
    }
    sl__peer_warn_count(self);
    s_reap_abandoned(self, now);
    for (size_t i = 0; i < self->peers.cap; i++) {
        sl__peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p == NULL) {
            continue;
        }
        if (!p->is_worker) {
            if (p->gone_ms != 0 &&
                now - p->gone_ms > self->opts.client_grace_ms) {
                s_client_gone(self, &p, "disconnected past the grace period");
                i--; // backward-shift deletion may have moved a peer here
            } else if (p->n_jobs == 0 &&
                       now - p->last_recv_ms > S_CLIENT_IDLE_MS) {
                sl__log_debug("client %s (pid %u) idle: forgotten", p->name,
                              p->pid);
                s_peer_remove(self, &p, false, "idle");
                i--; // backward-shift deletion may have moved a peer here
            }
            continue;
        }
        if (p->unreachable) {
            s_peer_remove(self, &p, true, "disconnected");
            i--;
            continue;
        }
        if (now - p->last_recv_ms > S_HEARTBEAT_LIVENESS * hb) {
            s_peer_remove(self, &p, true, "went silent");
            i--; // backward-shift deletion may have moved a peer here
            continue;
        }
        if (p->ready && now - p->last_send_ms >= hb) {
            sl__mpw_reset(&self->w);
            sl__msg_empty(&self->w, SL_MSG_HEARTBEAT);
            sl__peer_send(self, p, &self->w);
        }
        sl__speculate(self, p, now);
    }
}

// Send each dirty job's outcomes, and what waits for clients that were
// not reading.
static void
s_flush(sl__sched *self)
{
    if (sl__jobs_flush(self)) {
        s_trim(self, false);
    }
    sl__held_flush(self);
}

// ---------------------------------------------------------------------
// Life cycle.

// Queue one message for peer in libzmq: 1 when queued, 0 when it would
// block (the peer is not reading: its queue is at the high-water mark),
// -1 when it cannot be delivered (errno says why). The scheduler's
// sl__send_fn.
static int
s_router_send(sl__sched *self, const sl__peer *peer, const void *data,
              size_t len)
{
    void *sock = peer->is_worker ? self->workers_raw : self->clients_raw;
    // With ROUTER_MANDATORY the first frame says whether the peer can take
    // the message; the second then always goes.
    if (zmq_send(sock, peer->id, peer->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) <
            0 ||
        zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0) {
        return errno == EAGAIN ? 0 : -1;
    }
    return 1;
}

static sl_err
s_bind(sl__sched *self, zsock_t **sock_out, void **raw_out,
       const char *endpoint, const char *role, char *errbuf)
{
    sl_err rv;
    if ((rv = sl__auth_check_endpoint(self->auth, endpoint, errbuf)) != SL_OK) {
        return rv;
    }
    zsock_t *sock = zsock_new(ZMQ_ROUTER);
    if (sock == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot create a ROUTER socket");
        return SL_ENOMEM;
    }
    *sock_out = sock; // sl__sched_destroy closes it, bound or not
    zsock_set_router_mandatory(sock, 1);
    zsock_set_linger(sock, 0);
    // A high send limit: a DONE dropped at the high-water mark would be a
    // lost result, and a peer that reads (libstarling and the worker read
    // all the time, in libzmq's I/O thread) never gets near it. Past it,
    // sl__peer_send holds a client's messages (up to S_HELD_MAX) and drops a
    // worker's.
    zsock_set_sndhwm(sock, self->opts.send_hwm > 0 ? self->opts.send_hwm
                                                   : S_SEND_HWM);
    zsock_set_rcvhwm(sock, 100000);
    zsock_set_maxmsgsize(sock, (int) self->opts.limits.max_message);
    if ((rv = sl__auth_serve(self->auth, sock, role, errbuf)) != SL_OK) {
        return rv;
    }
    if (zsock_bind(sock, "%s", endpoint) < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot bind %s: %s", endpoint,
                zmq_strerror(zmq_errno()));
        return SL_EIO;
    }
    *raw_out = zsock_resolve(sock);
    return SL_OK;
}

static sl_err
s_write_endpoints(sl__sched *self, char *errbuf)
{
    char tmp[1024];
    sl__fmt(tmp, sizeof(tmp), "%s.tmp", self->opts.endpoints_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s", tmp,
                strerror(errno));
        return SL_EIO;
    }
    fprintf(f, "clients=%s\nworkers=%s\n", zsock_endpoint(self->clients),
            zsock_endpoint(self->workers));
    if (sl__observe_address(self) != NULL) {
        fprintf(f, "http=%s\n", sl__observe_address(self));
    }
    if (fclose(f) != 0 || rename(tmp, self->opts.endpoints_file) != 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot write %s: %s",
                self->opts.endpoints_file, strerror(errno));
        return SL_EIO;
    }
    return SL_OK;
}

sl__sched *
sl__sched_new_unbound(const sl__sched_opts *opts)
{
    sl__sched *self = sl__xcalloc(1, sizeof(*self));
    self->opts = *opts;
    if (self->opts.heartbeat_ms <= 0) {
        self->opts.heartbeat_ms = 1000;
    }
    if (self->opts.store_password == NULL) {
        self->opts.store_password = "";
    }
    if (self->opts.client_grace_ms <= 0) {
        self->opts.client_grace_ms = 30000;
    }
    if (self->opts.max_client_jobs == 0) {
        self->opts.max_client_jobs = SL_SCHED_MAX_CLIENT_JOBS;
    }
    sl__queue_init(&self->queue);
    sl__jobs_init(self);
    sl__peers_init(self);
    sl__mpw_init(&self->w);
    sl__mpw_init(&self->graph.inputs);
    self->started = sl__mono();
    self->next_reap_ms = sl__mono_ms() + S_CLIENT_IDLE_MS / 10;
    self->now_ms = sl__mono_ms();
    self->rng = sl__rand64();
    self->send = s_router_send;
    return self;
}

sl_err
sl__sched_new(sl__sched **out, const sl__sched_opts *opts,
              char errbuf[SL_ERRSTR_LEN])
{
    sl__sched *self = sl__sched_new_unbound(opts);
    sl_err rv;
    sl__auth_opts ao = {opts->cert, opts->allow_dir, opts->insecure};
    if ((rv = sl__auth_new(&self->auth, &ao, errbuf)) != SL_OK ||
        (rv = s_bind(self, &self->clients, &self->clients_raw,
                     opts->client_endpoint, "client", errbuf)) != SL_OK ||
        (rv = s_bind(self, &self->workers, &self->workers_raw,
                     opts->worker_endpoint, "worker", errbuf)) != SL_OK ||
        (rv = sl__observe_start(self, errbuf)) != SL_OK) {
        goto fail;
    }
    if (opts->endpoints_file != NULL &&
        (rv = s_write_endpoints(self, errbuf)) != SL_OK) {
        goto fail;
    }
    // Clients: a reconnect keeps its routing id (the new connection takes
    // the old one's place), ZMTP heartbeats close dead links, and the
    // auth's monitor tells us of each closed connection.
    zsock_set_router_handover(self->clients, 1);
    zsock_set_heartbeat_ivl(self->clients, self->opts.heartbeat_ms);
    zsock_set_heartbeat_timeout(self->clients,
                                S_HEARTBEAT_LIVENESS * self->opts.heartbeat_ms);
    sl__auth_on_closed(self->auth, s_on_closed, self);
    sl__log_info("clients on %s, workers on %s%s",
                 zsock_endpoint(self->clients), zsock_endpoint(self->workers),
                 sl__auth_curve(self->auth) ? " (CURVE)" : "");
    *out = self;
    return SL_OK;

fail:
    sl__sched_destroy(&self);
    return rv;
}

void
sl__sched_run(sl__sched *self)
{
    void *monitors[SL_AUTH_MAX_MONITORS];
    int n_monitors = sl__auth_monitors(self->auth, monitors);
    while (!self->stopping && !zsys_interrupted) {
        zmq_pollitem_t items[2 + SL_AUTH_MAX_MONITORS] = {
            {self->workers_raw, 0, ZMQ_POLLIN, 0},
            {self->clients_raw, 0, ZMQ_POLLIN, 0},
        };
        for (int i = 0; i < n_monitors; i++) {
            items[2 + i] = (zmq_pollitem_t){monitors[i], 0, ZMQ_POLLIN, 0};
        }
        int64_t now = sl__mono_ms();
        long timeout = self->next_scan_ms - now;
        if (self->flush_due_ms != 0 && self->flush_due_ms - now < timeout) {
            timeout = self->flush_due_ms - now;
        }
        if (sl__observe_due_ms(self) - now < timeout) {
            timeout = sl__observe_due_ms(self) - now; // the next snapshot
        }
        if (self->n_holding > 0 && timeout > 1) {
            timeout = 1; // see whether the client reads again
        }
        if (timeout < 0) {
            timeout = 0;
        }
        if (zmq_poll(items, 2 + n_monitors, timeout) < 0 && errno != EINTR) {
            sl__log_error("poll failed: %s", zmq_strerror(errno));
            break;
        }
        self->now_ms = sl__mono_ms();
        if (items[0].revents & ZMQ_POLLIN) {
            s_drain(self, true);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            s_drain(self, false);
        }
        for (int i = 0; i < n_monitors; i++) {
            if (items[2 + i].revents & ZMQ_POLLIN) {
                sl__auth_drain(self->auth);
                break;
            }
        }
        sl__sched_run_timers(self, sl__mono_ms());
        sl__dispatch(self);
        s_flush(self);
    }
}

void
sl__sched_stop(sl__sched *self)
{
    self->stopping = true;
}

void
sl__sched_destroy(sl__sched **self_p)
{
    sl__sched *self = *self_p;
    if (self == NULL) {
        return;
    }
    sl__observe_fini(self); // first: no request is served while the rest goes
    sl__jobs_fini(self);    // before the peers: a job looks its client up
    sl__graph_fini(self);   // after the jobs: they mark their waiters
    // Workers are not told to shut down: they keep their tasks and
    // reconnect to the next scheduler on this endpoint.
    sl__peers_fini(self);
    sl__queue_fini(&self->queue);
    sl__mpw_fini(&self->w);
    free(self->pick);
    free(self->pick_job);
    if (self->auth != NULL) {
        sl__auth_unwatch(self->auth); // while the sockets it watches live
    }
    zsock_destroy(&self->clients);
    zsock_destroy(&self->workers);
    sl__auth_destroy(&self->auth);
    free(self);
    *self_p = NULL;
}
