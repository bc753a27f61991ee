// auth.h - who may talk to the scheduler: CURVE keys checked by czmq's
// zauth against an allow directory, which endpoints may be served in the
// clear, and a log line for every refused connection.
// SPDX-License-Identifier: MIT
//
// Whoever reaches the scheduler can run code on every worker, so:
// - with a certificate (--cert) both ROUTER sockets are CURVE servers, and
//   only a client or worker whose public certificate is in the allow
//   directory (--allow) gets through the handshake;
// - without one, the scheduler serves only this machine: TCP on loopback,
//   or an ipc:// socket in a directory of mode 0700. Anything else needs
//   --insecure.
#ifndef SL_SCHEDULER_AUTH_H
#define SL_SCHEDULER_AUTH_H

#include <czmq.h>
#include <stdbool.h>

#include "../common/util.h"

typedef struct sl__auth sl__auth;

typedef struct {
    const char *cert;      // our certificate with its secret key; NULL:
                           // no CURVE
    const char *allow_dir; // public certificates of the peers let in
    bool insecure;         // serve endpoints off this machine in the clear
} sl__auth_opts;

// Load the certificate and start zauth on the allow directory. Must come
// before any socket binds: a CURVE socket that binds without a ZAP handler
// lets every key in. On error errbuf says why.
sl_err sl__auth_new(sl__auth **out, const sl__auth_opts *opts,
                    char errbuf[SL_ERRSTR_LEN]);
// Stop the monitors (sl__auth_unwatch, if not done) and zauth. Accepts
// NULL; sets *self_p NULL.
void sl__auth_destroy(sl__auth **self_p);
// Whether connections are authenticated with CURVE.
bool sl__auth_curve(const sl__auth *self);

// Whether the scheduler may bind endpoint. Without CURVE (and without
// --insecure), a TCP address that is not loopback and an abstract ipc://@
// socket are refused. An ipc:// socket file's directory is made (0700) or
// must be ours and closed to others. On error errbuf says why and what to
// do instead.
sl_err sl__auth_check_endpoint(const sl__auth *self, const char *endpoint,
                               char errbuf[SL_ERRSTR_LEN]);

// Prepare sock (a ROUTER, before it binds): a CURVE server with our keys
// when we have them, and a monitor of its handshakes, so that refused
// connections are logged naming role ("client" or "worker"). sock is
// borrowed and must outlive the auth's monitor of it.
sl_err sl__auth_serve(sl__auth *self, zsock_t *sock, const char *role,
                      char errbuf[SL_ERRSTR_LEN]);

// Stop watching the sockets of sl__auth_serve; before they are closed
// (libzmq's I/O thread would block on a monitor whose reader is gone).
void sl__auth_unwatch(sl__auth *self);

// The monitor sockets (libzmq handles), for the scheduler's poll: up to
// SL_AUTH_MAX_MONITORS.
#define SL_AUTH_MAX_MONITORS 2
int sl__auth_monitors(const sl__auth *self, void *out[SL_AUTH_MAX_MONITORS]);
// Called by sl__auth_drain for each connection of a served socket that
// closed: role as given to sl__auth_serve, fd the connection's descriptor
// (zmq_msg_get(msg, ZMQ_SRCFD) of what came over it).
typedef void(sl__auth_closed_fn)(void *ctx, const char *role, int fd);
void sl__auth_on_closed(sl__auth *self, sl__auth_closed_fn *fn, void *ctx);
// Log the handshake events waiting on the monitors. Never blocks. A run of
// refusals of one kind on one endpoint is logged once, then at most once
// every 10 s with a count, so a peer that retries cannot flood the log.
void sl__auth_drain(sl__auth *self);

#endif
