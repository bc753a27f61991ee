// cert.h - CURVE certificates (czmq zcert files): make them, load them,
// put them on sockets.
// SPDX-License-Identifier: MIT
//
// A certificate is the pair of files `starling keygen NAME` writes:
//
//   NAME          the public key: give it away (into the scheduler's allow
//                 directory, or to every client and worker, for the
//                 scheduler's own)
//   NAME_secret   the public and the secret key, mode 0600: keep it
//
// Both are czmq's zcert text format. Where a function takes the path of a
// certificate, NAME and NAME_secret both work.
#ifndef SL_COMMON_CERT_H
#define SL_COMMON_CERT_H

#include <czmq.h>
#include <stdbool.h>

#include "util.h"

// Characters of a key in Z85 text.
#define SL_CERT_KEY_LEN 40
// Characters of a certificate name (a file name, [A-Za-z0-9._-]).
#define SL_CERT_NAME_MAX 64

// Whether name may name a certificate: 1 to SL_CERT_NAME_MAX characters of
// [A-Za-z0-9._-], not starting with '.' and not ending in "_secret".
bool sl__cert_name_ok(const char *name);

// Write a new key pair to dir/name and dir/name_secret (mode 0600), making
// dir (0700) when it is missing. Refuses to replace either file unless
// force. public_key gets the public key's Z85 text. On error errbuf says
// why and no file was written.
sl_err sl__cert_generate(const char *dir, const char *name, bool force,
                         char public_key[SL_CERT_KEY_LEN + 1],
                         char errbuf[SL_ERRSTR_LEN]);

// Load the certificate at path with its secret key (path is NAME_secret,
// or NAME with NAME_secret beside it). Refuses a secret file that others
// may read, as ssh does, and a certificate without a secret key. On SL_OK
// the caller owns *out (zcert_destroy).
sl_err sl__cert_load_secret(zcert_t **out, const char *path,
                            char errbuf[SL_ERRSTR_LEN]);

// The public key, as Z85 text, of the certificate at path.
sl_err sl__cert_load_public(char key[SL_CERT_KEY_LEN + 1], const char *path,
                            char errbuf[SL_ERRSTR_LEN]);

// Make sock (before it connects) a CURVE client with the keys of the
// certificate at secret_path (as sl__cert_load_secret takes it), of the
// server whose public certificate is at server_path. On error errbuf says
// which file and why, and sock is unchanged.
sl_err sl__cert_apply_client(zsock_t *sock, const char *secret_path,
                             const char *server_path,
                             char errbuf[SL_ERRSTR_LEN]);

// Handshake failures, as a socket monitor reports them.
#define SL_CERT_HANDSHAKE_EVENTS            \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

// Watch sock's events (SL_CERT_HANDSHAKE_EVENTS, say): a PAIR socket that
// receives sock's monitor events; set it up before sock connects or binds.
// NULL on error. Read it often: libzmq's I/O thread waits while the
// monitor's queue is full. Destroy it with sl__cert_monitor_destroy.
zsock_t *sl__cert_monitor_new(zsock_t *sock, const char *name, int events);
// Stop watching sock, then destroy *monitor_p; while sock lives. In that
// order: libzmq's I/O thread blocks on a monitor whose reader is gone, and
// with it every socket of the process. Accepts a NULL *monitor_p.
void sl__cert_monitor_destroy(zsock_t *sock, zsock_t **monitor_p);
// Read one event off a monitor: false when none is waiting.
bool sl__cert_monitor_read(zsock_t *monitor, uint16_t *event, uint32_t *value);
// Why a connecting socket's handshake failed, from its monitor's event, in
// words a user can act on. curve: whether we offered a CURVE key.
void sl__cert_handshake_why(uint16_t event, uint32_t value, bool curve,
                            char *buf, size_t len);

#endif
