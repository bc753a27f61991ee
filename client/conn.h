// conn.h - what the repository's own programs may ask of a client's
// connection beyond the API: whether it is reconnecting (for the
// `starling map` progress line).
// SPDX-License-Identifier: MIT
#ifndef SL_CLIENT_CONN_H
#define SL_CLIENT_CONN_H

#include <starling/client.h>

#include <stdbool.h>

// Whether c has said that its scheduler is not answering and has not
// heard it since (conn.c, design notes). False for NULL.
bool sl__client_reconnecting(const sl_client *c);

#endif
