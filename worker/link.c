// link.c - the worker's link to the scheduler: a DEALER that redials.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - With a certificate the DEALER is a CURVE client. A monitor tells us
//   why a handshake failed, and we log that (once, then every
//   S_REFUSED_QUIET_MS while it goes on). libzmq retries a connection that
//   broke, but gives up on one the scheduler refused (a key not allowed,
//   CURVE on one side only): we connect again every S_REJOIN_MS, so that a
//   key added to the allow list later lets us in.
// - Sends never wait: the loop must go on serving the slots whatever the
//   scheduler does, and what cannot be queued is stale by the time it
//   could be (the scheduler re-queues the tasks of a worker it lost).
#include "link.h"

#include <errno.h>

#include "../common/cert.h"

// While the scheduler keeps refusing us, one log line in this long.
#define S_REFUSED_QUIET_MS 30000
// After a refused handshake, try again this much later.
#define S_REJOIN_MS 2000

struct sl__worker_link {
    sl__worker_link_opts opts;   // as given
    zsock_t *sched;              // DEALER to the scheduler
    void *sched_raw;             // its libzmq handle
    zsock_t *monitor;            // handshake failures of sched
    bool curve;                  // sched is a CURVE client
    int64_t refused_quiet_ms[3]; // per kind of failure: no log line before
    int64_t rejoin_ms;           // connect again then; 0: no need
};

// Make the DEALER a CURVE client when we have keys, and watch its
// handshakes. Before it connects.
static sl_err
s_curve_start(sl__worker_link *self, char *errbuf)
{
    const sl__worker_link_opts *o = &self->opts;
    sl_err rv;
    if ((o->cert == NULL) != (o->server_cert == NULL)) {
        sl__fmt(errbuf, SL_ERRSTR_LEN,
                "--cert and --server-cert go together: our certificate, and "
                "the scheduler's public one");
        return SL_EINVAL;
    }
    if (o->cert != NULL) {
        if ((rv = sl__cert_apply_client(self->sched, o->cert, o->server_cert,
                                        errbuf)) != SL_OK) {
            return rv;
        }
        self->curve = true;
    }
    if ((self->monitor = sl__cert_monitor_new(
             self->sched, "worker", SL_CERT_HANDSHAKE_EVENTS)) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot watch the scheduler socket");
        return SL_EIO;
    }
    return SL_OK;
}

sl_err
sl__worker_link_new(sl__worker_link **out, const sl__worker_link_opts *opts,
                    char errbuf[SL_ERRSTR_LEN])
{
    sl__worker_link *self = sl__xcalloc(1, sizeof(*self));
    sl_err rv = SL_EIO;
    self->opts = *opts;
    *out = NULL;
    if ((self->sched = zsock_new(ZMQ_DEALER)) == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot create sockets");
        goto fail;
    }
    zsock_set_linger(self->sched, 0);
    zsock_set_maxmsgsize(self->sched, (int) opts->max_message);
    zsock_set_rcvhwm(self->sched, 100000);
    zsock_set_sndhwm(self->sched, 100000);
    if ((rv = s_curve_start(self, errbuf)) != SL_OK) {
        goto fail;
    }
    rv = SL_EIO;
    if (zsock_connect(self->sched, "%s", opts->endpoint) < 0) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "cannot connect to %s: %s",
                opts->endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (self->curve) {
        sl__log_info("CURVE on: %s", opts->cert);
    }
    self->sched_raw = zsock_resolve(self->sched);
    *out = self;
    return SL_OK;

fail:
    sl__worker_link_destroy(&self);
    return rv;
}

void
sl__worker_link_destroy(sl__worker_link **self_p)
{
    sl__worker_link *self = *self_p;
    if (self == NULL) {
        return;
    }
    sl__cert_monitor_destroy(self->sched, &self->monitor);
    zsock_destroy(&self->sched);
    free(self);
    *self_p = NULL;
}

bool
sl__worker_link_curve(const sl__worker_link *self)
{
    return self->curve;
}

void
sl__worker_link_poll_items(sl__worker_link *self,
                           zmq_pollitem_t items[SL_LINK_POLL_ITEMS])
{
    items[0] = (zmq_pollitem_t){self->sched_raw, 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){zsock_resolve(self->monitor), 0, ZMQ_POLLIN, 0};
}

// Log why the scheduler refused our handshake, if it did: libzmq retries
// by itself, and every few hundred ms, so the log gets a line now and then.
static void
s_drain_monitor(sl__worker_link *self)
{
    uint16_t event;
    uint32_t value;
    while (sl__cert_monitor_read(self->monitor, &event, &value)) {
        // Each kind on its own clock: a hang-up (which side sees a
        // mismatch first is a race) must not hide the refusal that says
        // why.
        int kind = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH       ? 0
                   : event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? 1
                                                                  : 2;
        int64_t now = sl__mono_ms();
        if (kind < 2 && self->rejoin_ms == 0) {
            self->rejoin_ms = now + S_REJOIN_MS;
        }
        if (now < self->refused_quiet_ms[kind]) {
            continue;
        }
        self->refused_quiet_ms[kind] = now + S_REFUSED_QUIET_MS;
        char why[256];
        sl__cert_handshake_why(event, value, self->curve, why, sizeof(why));
        sl__log_error("cannot join the scheduler at %s: %s",
                      self->opts.endpoint, why);
    }
}

void
sl__worker_link_on_poll(sl__worker_link *self,
                        const zmq_pollitem_t items[SL_LINK_POLL_ITEMS])
{
    if (items[1].revents & ZMQ_POLLIN) {
        s_drain_monitor(self);
    }
}

bool
sl__worker_link_send(sl__worker_link *self, const void *buf, size_t len)
{
    if (zmq_send(self->sched_raw, buf, len, ZMQ_DONTWAIT) < 0) {
        sl__log_debug("send to the scheduler failed: %s", zmq_strerror(errno));
        return false;
    }
    return true;
}

bool
sl__worker_link_recv(sl__worker_link *self, zmq_msg_t *msg)
{
    zmq_msg_init(msg);
    if (zmq_msg_recv(msg, self->sched_raw, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(msg);
        return false;
    }
    return true;
}

void
sl__worker_link_redial(sl__worker_link *self)
{
    zsock_disconnect(self->sched, "%s", self->opts.endpoint);
    zsock_connect(self->sched, "%s", self->opts.endpoint);
}

void
sl__worker_link_rejoin(sl__worker_link *self)
{
    if (self->rejoin_ms == 0 || sl__mono_ms() < self->rejoin_ms) {
        return;
    }
    self->rejoin_ms = 0;
    zsock_disconnect(self->sched, "%s", self->opts.endpoint);
    if (zsock_connect(self->sched, "%s", self->opts.endpoint) != 0) {
        sl__log_warn("cannot connect to %s again: %s", self->opts.endpoint,
                     zmq_strerror(zmq_errno()));
    }
}
