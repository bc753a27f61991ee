// peer.c - the scheduler's peers: the peer table, sending, the held queue
// of clients that do not read, the hungry list, ERROR and log budgets.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A peer that does not read loses messages past the socket's high-water
//   mark rather than filling our memory, with one exception: what is for a
//   client (ACCEPTED, DONE, ERROR) waits in the scheduler while the client
//   does not read (S_HELD_MAX bytes at most), since a DONE dropped is a
//   result lost. A peer that sends junk gets at most S_ERROR_BURST ERRORs
//   at once and S_ERRORS_PER_S after that. Warnings about peers share one
//   budget (S_LOG_BURST, S_LOGS_PER_S): past it they are counted, and the
//   count logged every S_QUIET_MS, so that no peer can fill the disk.
// - The hungry list (workers with credit) lives here, with the peers, and
//   not in dispatch.c: a send that finds a worker's connection gone takes
//   the worker off it, and sending is below dispatch (sched_impl.h).
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_impl.h"

// ERROR answers to malformed or unexpected messages: a burst of this many
// per peer, then this many a second. One line in the log for the rest.
#define S_ERROR_BURST 100
#define S_ERRORS_PER_S 10
// Warnings about what peers do: a burst of this many, then this many a
// second, over all peers; one line every S_QUIET_MS counts the rest. And
// at most one "not delivered" line per peer in S_QUIET_MS.
#define S_LOG_BURST 100
#define S_LOGS_PER_S 20
#define S_QUIET_MS 10000
// What one client that does not read can make us hold: past its socket's
// high-water mark (S_SEND_HWM, sched.c), its messages wait in
// sl__peer.held up to this many bytes.
#define S_HELD_MAX (1024u << 20)

// ---------------------------------------------------------------------
// Sending and budgets.

static const char *
s_role(const sl__peer *peer)
{
    return peer->is_worker ? "worker" : "client";
}

// Whether a rate-limited line may be logged now: one per S_QUIET_MS on
// each clock (*quiet_ms: a peer's, for one kind of line).
static bool
s_quiet_over(int64_t *quiet_ms)
{
    int64_t now = sl__mono_ms();
    if (now < *quiet_ms) {
        return false;
    }
    *quiet_ms = now + S_QUIET_MS;
    return true;
}

// Take one unit of a token bucket: *budget refills at per_s a second up to
// burst. False when it is empty.
static bool
s_budget_take(double *budget, int64_t *topped_ms, double burst, double per_s)
{
    int64_t now = sl__mono_ms();
    *budget += (double) (now - *topped_ms) * per_s / 1000.0;
    if (*budget > burst) {
        *budget = burst;
    }
    *topped_ms = now;
    if (*budget < 1) {
        return false;
    }
    *budget -= 1;
    return true;
}

static void s_peer_warn(sl__sched *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Log a warning about what a peer did, within the budget all peers share;
// past it, the warning is only counted (see sl__peer_warn_count).
static void
s_peer_warn(sl__sched *self, const char *fmt, ...)
{
    if (!s_budget_take(&self->log_budget, &self->log_budget_ms, S_LOG_BURST,
                       S_LOGS_PER_S)) {
        self->log_left_out++;
        return;
    }
    char line[SL_ERRSTR_LEN + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sl__log_warn("%s", line);
}

void
sl__peer_warn_count(sl__sched *self)
{
    if (self->log_left_out > 0 && s_quiet_over(&self->log_quiet_ms)) {
        sl__log_warn("%" PRIu64 " more warnings about what peers sent "
                     "were left out of the log (over %d a second)",
                     self->log_left_out, S_LOGS_PER_S);
        self->log_left_out = 0;
    }
}

// Send one message with self->send (sl__send_fn: 1 sent, 0 would block,
// -1 undeliverable, with errno), and note when.
static int
s_try_send(sl__sched *self, sl__peer *peer, const void *data, size_t len)
{
    int rc = self->send(self, peer, data, len);
    if (rc > 0) {
        peer->last_send_ms = self->now_ms;
    }
    return rc;
}

// Count a message that peer will never get, and say so once in a while
// (a peer that does not read would otherwise fill the log).
static void
s_lost_message(sl__sched *self, sl__peer *peer, const char *why)
{
    peer->send_dropped++;
    if (s_quiet_over(&peer->send_quiet_ms)) {
        s_peer_warn(self,
                    "send to %s %s failed: %s (%" PRIu64
                    " message%s lost so far)",
                    s_role(peer), peer->name, why, peer->send_dropped,
                    peer->send_dropped == 1 ? "" : "s");
    }
}

// Keep a message for a client that is not reading, behind those kept
// before it.
static void
s_hold(sl__sched *self, sl__peer *peer, const void *data, size_t len)
{
    if (peer->held_bytes + len > S_HELD_MAX) {
        s_lost_message(self, peer, "it has not read its last 1 GiB");
        return;
    }
    sl__held *h = sl__xmalloc(sizeof(*h) + len);
    h->next = NULL;
    h->len = len;
    memcpy(h->data, data, len);
    if (peer->held_tail != NULL) {
        peer->held_tail->next = h;
    } else {
        peer->held = h;
        self->n_holding++;
    }
    peer->held_tail = h;
    peer->held_bytes += len;
}

// Free what is held for peer (it is gone).
static void
s_held_free(sl__sched *self, sl__peer *peer)
{
    if (peer->held != NULL) {
        self->n_holding--;
    }
    while (peer->held != NULL) {
        sl__held *h = peer->held;
        peer->held = h->next;
        free(h);
    }
    peer->held_tail = NULL;
    peer->held_bytes = 0;
}

// Send what is held for peer, oldest first, as far as it reads.
static void
s_send_held(sl__sched *self, sl__peer *peer)
{
    while (peer->held != NULL) {
        sl__held *h = peer->held;
        int rc = s_try_send(self, peer, h->data, h->len);
        if (rc == 0) {
            return;
        }
        if (rc < 0) {
            s_lost_message(self, peer, zmq_strerror(errno));
        }
        peer->held = h->next;
        peer->held_bytes -= h->len;
        free(h);
    }
    peer->held_tail = NULL;
    self->n_holding--;
}

void
sl__peer_send(sl__sched *self, sl__peer *peer, sl__mpw *w)
{
    sl__mpw_xcheck(w); // clients resubmit to a restarted scheduler
    if (peer->held != NULL) {
        s_hold(self, peer, w->buf.data, w->buf.size);
        return;
    }
    int rc = s_try_send(self, peer, w->buf.data, w->buf.size);
    if (rc > 0) {
        return;
    }
    if (rc == 0 && !peer->is_worker) {
        s_hold(self, peer, w->buf.data, w->buf.size);
        return;
    }
    if (rc < 0 && errno == EHOSTUNREACH && peer->is_worker) {
        // Its connection is gone (the worker died, or redialled under a
        // new routing id): it is lost at the next scan, and gets no more
        // tasks meanwhile.
        if (!peer->unreachable) {
            sl__log_info("worker %s (pid %u) disconnected", peer->name,
                         peer->pid);
        }
        peer->unreachable = true;
        sl__hungry_remove(self, peer);
        return;
    }
    s_lost_message(self, peer,
                   rc == 0 ? "it is not reading" : zmq_strerror(errno));
}

static void
s_send_error_msg(sl__sched *self, sl__peer *peer, sl_err code, const char *text,
                 uint64_t job)
{
    sl__mpw_reset(&self->w);
    sl__msg_error(&self->w, code, text, job);
    sl__peer_send(self, peer, &self->w);
}

void
sl__peer_send_error(sl__sched *self, sl__peer *peer, sl_err code,
                    const char *text, uint64_t job)
{
    s_peer_warn(self, "%s %s: %s", s_role(peer), peer->name, text);
    s_send_error_msg(self, peer, code, text, job);
}

void
sl__peer_reject(sl__sched *self, sl__peer *peer, sl_err code, const char *text,
                uint64_t job)
{
    bool answer = s_budget_take(&peer->err_budget, &peer->err_budget_ms,
                                S_ERROR_BURST, S_ERRORS_PER_S);
    s_peer_warn(self, "%s %s: %s%s", s_role(peer), peer->name, text,
                answer ? "" : " (not answered: it sends too many)");
    if (answer) {
        s_send_error_msg(self, peer, code, text, job);
    }
}

void
sl__peer_send_unexpected(sl__sched *self, sl__peer *peer, uint32_t type)
{
    char why[128];
    sl__fmt(why, sizeof(why), "unexpected message type %u (%s) from a %s", type,
            sl__msg_type_name(type), s_role(peer));
    sl__peer_reject(self, peer, SL_EPROTO, why, 0);
}

void
sl__held_flush(sl__sched *self)
{
    for (size_t i = 0; self->n_holding > 0 && i < self->peers.cap; i++) {
        sl__peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL && p->held != NULL) {
            s_send_held(self, p);
        }
    }
}

// ---------------------------------------------------------------------
// Peers.

void
sl__peers_init(sl__sched *self)
{
    sl__table_init(&self->peers);
    self->log_budget = S_LOG_BURST;
    self->log_budget_ms = sl__mono_ms();
}

static uint64_t
s_id_key(const uint8_t *id, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ id[i]) * 1099511628211ull;
    }
    return h == 0 ? 1 : h;
}

sl__peer *
sl__peer_get(sl__sched *self, const uint8_t *bytes, size_t len, bool is_worker)
{
    if (len == 0 || len > 255) {
        return NULL;
    }
    uint64_t key = s_id_key(bytes, len);
    sl__peer *peer = sl__table_get(&self->peers, key);
    if (peer != NULL) {
        // A routing id of the other socket, or a hash collision: refuse
        // rather than mix two peers up.
        if (peer->is_worker != is_worker || peer->id_len != len ||
            memcmp(peer->id, bytes, len) != 0) {
            return NULL;
        }
        return peer;
    }
    peer = sl__xcalloc(1, sizeof(*peer));
    peer->key = key;
    memcpy(peer->id, bytes, len);
    peer->id_len = len;
    peer->is_worker = is_worker;
    sl__strlcpy(peer->name, "?", sizeof(peer->name));
    peer->err_budget = S_ERROR_BURST;
    peer->err_budget_ms = sl__mono_ms();
    // Random, not a counter: clients name their objects by session, and
    // sessions must not repeat across scheduler restarts.
    peer->session = sl__rand64();
    sl__table_put(&self->peers, key, peer);
    return peer;
}

void
sl__peer_destroy(sl__sched *self, sl__peer **peer_p)
{
    sl__peer *peer = *peer_p;
    free(peer->leases);
    s_held_free(self, peer);
    sl__table_del(&self->peers, peer->key);
    free(peer);
    *peer_p = NULL;
}

void
sl__peers_fini(sl__sched *self)
{
    for (size_t i = 0; i < self->peers.cap; i++) {
        sl__peer *p = self->peers.keys[i] ? self->peers.vals[i] : NULL;
        if (p != NULL) {
            sl__peer_destroy(self, &p);
            i--; // deletion may have shifted another peer into slot i
        }
    }
    sl__table_fini(&self->peers);
}

void
sl__hungry_add(sl__sched *self, sl__peer *w)
{
    if (w->hungry || !w->ready || w->unreachable ||
        w->n_leases >= w->credit_max) {
        return;
    }
    w->hungry = true;
    w->hungry_next = NULL;
    w->hungry_prev = self->hungry_tail;
    if (self->hungry_tail != NULL) {
        self->hungry_tail->hungry_next = w;
    } else {
        self->hungry_head = w;
    }
    self->hungry_tail = w;
}

void
sl__hungry_remove(sl__sched *self, sl__peer *w)
{
    if (!w->hungry) {
        return;
    }
    if (w->hungry_prev != NULL) {
        w->hungry_prev->hungry_next = w->hungry_next;
    } else {
        self->hungry_head = w->hungry_next;
    }
    if (w->hungry_next != NULL) {
        w->hungry_next->hungry_prev = w->hungry_prev;
    } else {
        self->hungry_tail = w->hungry_prev;
    }
    w->hungry = false;
    w->hungry_next = w->hungry_prev = NULL;
}

// ---------------------------------------------------------------------
// HELLO and WELCOME.

void
sl__peer_name_set(sl__peer *peer, const sl__strv *name)
{
    size_t n = name->len < 60 ? name->len : 60;
    for (size_t i = 0; i < n; i++) {
        char ch = name->p[i];
        peer->name[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
    }
    peer->name[n] = '\0';
}

void
sl__peer_send_welcome(sl__sched *self, sl__peer *peer)
{
    sl__welcome m = {0};
    m.session = peer->session;
    m.heartbeat_ms = (uint32_t) self->opts.heartbeat_ms;
    m.inline_max = self->opts.inline_max;
    m.password.p = self->opts.store_password;
    m.password.len = (uint32_t) strlen(self->opts.store_password);
    m.n_stores = (uint32_t) self->opts.n_stores;
    for (int i = 0; i < self->opts.n_stores; i++) {
        m.stores[i].p = self->opts.stores[i];
        m.stores[i].len = (uint32_t) strlen(self->opts.stores[i]);
    }
    sl__mpw_reset(&self->w);
    sl__msg_welcome(&self->w, &m);
    sl__peer_send(self, peer, &self->w);
}

void
sl__on_hello(sl__sched *self, sl__peer *peer, sl__mpr *r)
{
    sl__strv name;
    uint32_t pid;
    if (sl__mpr_str(r, &name.p, &name.len) != 0 || sl__mpr_u32(r, &pid) != 0) {
        sl__peer_reject(self, peer, SL_EPROTO, "malformed HELLO", 0);
        return;
    }
    sl__peer_name_set(peer, &name);
    _Static_assert(sizeof(peer->node) == SL_NODE_NAME_MAX + 1,
                   "a client's node holds any home");
    // Kept as it came, if a TASKS group can carry it: a worker compares
    // it with its own node's name. Else the client's jobs have no home.
    peer->node[0] = '\0';
    if (sl__msg_home_ok(name.p, name.len)) {
        memcpy(peer->node, name.p, name.len);
        peer->node[name.len] = '\0';
    }
    peer->pid = pid;
    peer->hello = true;
    sl__peer_send_welcome(self, peer);
}
