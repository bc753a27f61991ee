// link.h - the worker's link to the scheduler: a DEALER, a CURVE client
// when the worker has keys, that says why a handshake failed and dials
// again when it must.
// SPDX-License-Identifier: MIT
//
// The link moves whole messages and knows nothing of what they say
// (worker/worker.c holds the conversation). libzmq reconnects a connection
// that broke by itself; the link adds what it does not do: dialling again
// after the scheduler refused a handshake (sl__worker_link_rejoin), and on
// demand after a silence (sl__worker_link_redial).
#ifndef SL_WORKER_LINK_H
#define SL_WORKER_LINK_H

#include <czmq.h>
#include <stdbool.h>

#include "../common/util.h"

typedef struct sl__worker_link sl__worker_link;

typedef struct {
    const char *endpoint;    // the scheduler's worker endpoint
    const char *cert;        // our CURVE certificate (secret); NULL: none
    const char *server_cert; // the scheduler's public certificate
    size_t max_message;      // larger messages are refused by libzmq
} sl__worker_link_opts;

// Poll items of the link, in sl__worker_link_poll_items' order.
#define SL_LINK_POLL_ITEMS 2

// Make the DEALER and connect (ZeroMQ connects in the background).
// opts->endpoint is borrowed: it must outlive the link. On error (a
// certificate that cannot be read, --cert without --server-cert, a
// socket) errbuf says why and *out is NULL.
sl_err sl__worker_link_new(sl__worker_link **out,
                           const sl__worker_link_opts *opts,
                           char errbuf[SL_ERRSTR_LEN]);
void sl__worker_link_destroy(sl__worker_link **self_p);

// Whether the link is a CURVE client.
bool sl__worker_link_curve(const sl__worker_link *self);

// Fill items with what to poll: the DEALER (POLLIN means a message
// waits), then the handshake monitor.
void sl__worker_link_poll_items(sl__worker_link *self,
                                zmq_pollitem_t items[SL_LINK_POLL_ITEMS]);
// After the poll, with the same items: log why a handshake failed, if the
// monitor says one did (once, then every 30 s while it goes on).
void sl__worker_link_on_poll(sl__worker_link *self,
                             const zmq_pollitem_t items[SL_LINK_POLL_ITEMS]);

// Queue len bytes as one message, without waiting. False when libzmq
// would not take it (the message is dropped; logged at debug level).
bool sl__worker_link_send(sl__worker_link *self, const void *buf, size_t len);
// Receive one waiting message into msg (initialised here; the caller
// closes it). False, msg closed, when none waits.
bool sl__worker_link_recv(sl__worker_link *self, zmq_msg_t *msg);

// Drop the connection and dial again: messages queued on a dead one wait
// behind TCP's backoff.
void sl__worker_link_redial(sl__worker_link *self);
// Connect again if a handshake was refused a while ago: libzmq does not,
// after one. Call it every loop turn.
void sl__worker_link_rejoin(sl__worker_link *self);

#endif
