// http.h - the scheduler's HTTP server: /metrics and the JSON endpoints,
// on a thread of its own, from the snapshots the loop publishes.
// SPDX-License-Identifier: MIT
//
// libmicrohttpd serves every connection from one internal thread (epoll):
// no request ever runs on the scheduler's loop, and the loop only hands
// it snapshots (snapshot.h). docs/HTTP.md describes the endpoints and
// the limits.
#ifndef SL_SCHEDULER_HTTP_H
#define SL_SCHEDULER_HTTP_H

#include <stdbool.h>

#include "../common/util.h"
#include "snapshot.h"

typedef struct sl__http sl__http;

typedef struct {
    const char *address;    // "ADDR:PORT": an IPv4 address, "localhost",
                            // or "[IPv6]"; port 0: one the system picks
    const char *token_file; // its first line is the bearer token every
                            // request must carry; NULL: none, which only
                            // a loopback address may go without
} sl__http_opts;

// Check the options, read the token, publish *first_p (the server takes
// it; *first_p is set to NULL either way) and start serving. SL_EINVAL for
// a bad address, or one that is not loopback without a token file;
// SL_EAUTH for a token file that others may read or that holds no usable
// token; SL_EIO when the address cannot be bound. errbuf says which and
// what to do.
sl_err sl__http_new(sl__http **out, const sl__http_opts *opts,
                    sl__snapshot **first_p, char errbuf[SL_ERRSTR_LEN]);
// Make *snap_p what the endpoints serve. Never blocks (sl__board_publish):
// false when a reader held the board's lock at that moment, and *snap_p
// is still the caller's.
bool sl__http_publish(sl__http *h, sl__snapshot **snap_p);
// "ADDR:PORT" as bound, the port the system chose included (IPv6 in
// brackets). Borrowed: valid until sl__http_destroy.
const char *sl__http_address(const sl__http *h);
// Whether requests must carry the token.
bool sl__http_has_token(const sl__http *h);
// Stop serving (open connections are closed, the thread joined) and free
// the server and its last snapshot. Accepts NULL.
void sl__http_destroy(sl__http **h_p);

#endif
