// conn.h - the store's Redis transport: one hiredis connection per shard.
// SPDX-License-Identifier: MIT
//
// Private to store/: nothing outside store/ includes this header.
// object.c says which commands to send and what their replies mean; conn.c
// alone works below hiredis's API (its reader's callbacks and buffer, its
// socket, its output queue), so that a hiredis upgrade touches conn.c only.
// Replies come back as hiredis's own redisReply (free them with
// freeReplyObject).
#ifndef SL_STORE_CONN_H
#define SL_STORE_CONN_H

#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "../common/util.h"

// Where a SET's value is among its arguments (sl__conn_append).
#define SL_CONN_VALUE_ARG 2
// Fetched buffers are aligned to this.
#define SL_CONN_ALIGN 64

// What the connections of one store share: how to connect, the detail of
// the last error (the store's own errors go here too), and what the
// current operation did, for sl__conn_retry. One per store.
typedef struct {
    char *password;             // AUTH with it; NULL: none (owned)
    struct timeval timeout;     // connect and command timeout
    bool lost;                  // the current operation lost a connection
    int replies;                // replies read in the current operation
    char errstr[SL_ERRSTR_LEN]; // detail of the last error
} sl__link;

// Where the next large string reply goes, so that its bytes land there
// with no copy of hiredis's in between (conn.c, "Replies in place").
typedef struct {
    uint8_t *dst;   // in: write the string here; NULL: into a new buffer
    size_t want;    // in: with dst, its exact length
    bool pad;       // in: put it after sl__conn_value_pad's padding
    size_t max_len; // in: without dst, the longest taken
    uint8_t *buf;   // out: the new buffer (64-byte aligned; free() it)
    size_t off;     // out: the padding before the string
    bool taken;     // out: the string went here; the reply has no str
    bool direct;    // out: the reply was read from the socket itself
} sl__sink;

// An object's bytes in up to two pieces: an encoded value's head, and a
// large ndarray's elements where they already lie
// (sl__value_encode_split), so that storing one copies nothing.
typedef struct {
    const uint8_t *p[2];
    size_t n[2];
} sl__span;

// The span of len bytes at buf, in one piece.
static inline sl__span
sl__span_of(const void *buf, size_t len)
{
    sl__span sp = {{buf, NULL}, {len, 0}};
    return sp;
}

// The bytes of both pieces.
static inline size_t
sl__span_len(const sl__span *sp)
{
    return sp->n[0] + sp->n[1];
}

// One shard's connection. The rest of store/ names a shard by addr in its
// messages and passes link to sl__link_fail; the other fields are
// conn.c's.
typedef struct {
    char host[256];    // host name or address, without brackets
    int port;          // TCP port
    char addr[288];    // "host:port" as configured, for messages
    sl__link *link;    // the store's (borrowed)
    redisContext *ctx; // the connection; NULL until (re)connected
    sl__sink *sink;    // armed while a reply is read; else NULL
} sl__conn;

// One operation on one shard, done again once when a stale connection
// broke under it (sl__conn_retry).
typedef sl_err (*sl__conn_op)(sl__conn *conn, void *arg);

// Set up link: a copy of password (NULL or "": none), and the timeout. On
// SL_ENOMEM link->errstr says so.
sl_err sl__link_init(sl__link *link, const char *password, int timeout_ms);
void sl__link_fini(sl__link *link);
// Write the detail of an error into link->errstr; returns rv.
sl_err sl__link_fail(sl__link *link, sl_err rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
sl_err sl__link_vfail(sl__link *link, sl_err rv, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

// Set up conn for addr, "host:port" or "[v6addr]:port", without
// connecting. SL_EINVAL for an address that is neither (errstr untouched:
// the caller words it).
sl_err sl__conn_init(sl__conn *conn, sl__link *link, const char *addr);
// Close the connection, if open; conn stays set up, and the next command
// connects anew. For a connection that broke, or that is out of step with
// the server because queued commands will not be sent.
void sl__conn_drop(sl__conn *conn);
// Connect, AUTH (when the link has a password) and PING. A wrong or
// missing password is SL_EAUTH, anything else SL_ESTORE.
sl_err sl__conn_open(sl__conn *conn);
// sl__conn_open unless conn is open already.
sl_err sl__conn_ready(sl__conn *conn);
// Run op on conn with SIGPIPE blocked in the calling thread; once more if
// a connection that was open before it started broke before any reply
// came back (conn.c, "Connections").
sl_err sl__conn_retry(sl__conn *conn, sl__conn_op op, void *arg);

// Queue one command of argc arguments (conn must be ready): through
// hiredis, or at once with sendmsg when an argument is large. A value,
// when not NULL, is argument SL_CONN_VALUE_ARG (argv[SL_CONN_VALUE_ARG]
// its first piece, lens[SL_CONN_VALUE_ARG] its whole length), in one or
// two pieces that are read from where they lie. The buffers are only
// borrowed for the call. On error the command is not queued, and a
// connection that broke is dropped already; a caller that queued commands
// before this one drops the connection, whose replies are out of step.
sl_err sl__conn_append(sl__conn *conn, int argc, const char **argv,
                       const size_t *lens, const sl__span *value);
// Read the next reply of a pipeline into *out (the caller frees it). With
// sink not NULL, a large top-level string reply goes where the sink says
// (then sink->taken, and the reply has len but no str). With sink->dst and
// a large sink->want, the reply may be read from the socket straight into
// place, past hiredis (then sink->direct): a string of want bytes is
// taken, one of another length is read and dropped (its reply has len and
// no str), and nil and an error come back as they are. A connection that
// fails is dropped: SL_ESTORE, with what (the command) in errstr; running
// out of memory past hiredis drops it too (SL_ENOMEM).
sl_err sl__conn_read(sl__conn *conn, const char *what, sl__sink *sink,
                     redisReply **out);
// One command, one reply: connect if need be, queue (as sl__conn_append),
// read (as sl__conn_read). An error reply becomes SL_ESTORE with its text.
sl_err sl__conn_call(sl__conn *conn, int argc, const char **argv,
                     const size_t *lens, const sl__span *value, sl__sink *sink,
                     redisReply **out);

// Fetched buffers, laid out alike by the reply functions and by object.c.
//
// The buffer an object of len bytes is fetched into: room for up to 7
// bytes of padding in front, 64-byte multiples.
static inline size_t
sl__conn_buf_size(size_t len)
{
    return (len + 8 + SL_CONN_ALIGN - 1) / SL_CONN_ALIGN * SL_CONN_ALIGN;
}

// Bytes to put before an encoded value so that, if it is an ndarray, its
// ext payload (and so its elements) starts 8-byte aligned.
static inline size_t
sl__conn_value_pad(const uint8_t *p, size_t len)
{
    size_t hdr;
    switch (len > 0 ? p[0] : 0) {
    case 0xc7: // ext 8: marker, u8 length, type
        hdr = 3;
        break;
    case 0xc8: // ext 16
        hdr = 4;
        break;
    case 0xc9: // ext 32
        hdr = 6;
        break;
    default:
        return 0;
    }
    return (8 - hdr % 8) % 8;
}

#endif
