// conn.c - the store's Redis transport: hiredis connections, large writes
// with sendmsg, replies read into place, and no SIGPIPE.
// SPDX-License-Identifier: MIT
//
// Design notes.
//
// One file below hiredis's API. This is the only file of starling that sets
// hiredis's reader callbacks, looks at its reader's buffer, writes its
// output queue out or uses its socket: a hiredis upgrade touches this file
// only. What the commands mean (keys, chunks, manifests, TTLs) is object.c's
// and store.c's.
//
// Connections. One synchronous hiredis context per shard, made at connect
// time. A context that fails (I/O error, timeout, the server went away) is
// freed, and the next command on that shard connects anew (and AUTHs). An
// operation that fails on a connection that was already open before it
// started, before any reply came back, is done once more on a new
// connection: that is the server restarted (or an idle connection cut)
// since the last use, and the caller should not see it. At most once, so a
// server that is down is reported, not retried forever.
//
// Large arguments. A command with an argument of 64 KiB or more is written
// with sendmsg (an iovec) from the caller's buffer (s_send_direct), not
// through hiredis, which copies the whole command into its output buffer
// and moves the unsent rest to the front after each partial write.
// Whatever hiredis has queued is written out first (s_flush), so commands
// reach the server in the order they were queued.
//
// Replies in place. While a reply is read with a sink, a large top-level
// string goes where the sink says, and hiredis's one copy is the only one
// (see "Replies in place" below). A string of known length with nothing of
// it in hiredis's read buffer skips hiredis altogether: it is read from
// the socket straight into place (s_read_direct).
//
// No SIGPIPE. Each operation (sl__conn_retry) runs with SIGPIPE blocked in
// the calling thread, for hiredis's writes (see "SIGPIPE" below); this
// file's own writes use MSG_NOSIGNAL.
#include "conn.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

// String replies shorter than this are always hiredis's own.
#define S_SINK_MIN (64u << 10)
// A command with an argument this large is written with sendmsg, not
// through hiredis's output buffer (s_send_direct).
#define S_DIRECT_MIN (64u << 10)
// The longest reply line read directly (s_read_direct) before the reply
// counts as broken.
#define S_LINE_MAX 4096

// ---------------------------------------------------------------------
// The link and its errors.

sl_err
sl__link_vfail(sl__link *link, sl_err rv, const char *fmt, va_list ap)
{
    vsnprintf(link->errstr, sizeof(link->errstr), fmt, ap);
    return rv;
}

sl_err
sl__link_fail(sl__link *link, sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl__link_vfail(link, rv, fmt, ap);
    va_end(ap);
    return rv;
}

sl_err
sl__link_init(sl__link *link, const char *password, int timeout_ms)
{
    if (password != NULL && password[0] != '\0' &&
        (link->password = strdup(password)) == NULL) {
        return sl__link_fail(link, SL_ENOMEM, "store: out of memory");
    }
    link->timeout.tv_sec = timeout_ms / 1000;
    link->timeout.tv_usec = (timeout_ms % 1000) * 1000;
    return SL_OK;
}

void
sl__link_fini(sl__link *link)
{
    free(link->password);
    link->password = NULL;
}

// ---------------------------------------------------------------------
// Connections.

sl_err
sl__conn_init(sl__conn *conn, sl__link *link, const char *addr)
{
    // Split "host:port" (or "[v6addr]:port").
    const char *colon = addr != NULL ? strrchr(addr, ':') : NULL;
    if (colon == NULL || colon == addr) {
        return SL_EINVAL;
    }
    const char *host = addr;
    size_t hlen = (size_t) (colon - addr);
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (hlen == 0 || hlen >= sizeof(conn->host) || *end != '\0' ||
        end == colon + 1 || errno != 0 || port <= 0 || port > 65535) {
        return SL_EINVAL;
    }
    memcpy(conn->host, host, hlen);
    conn->host[hlen] = '\0';
    conn->port = (int) port;
    sl__strlcpy(conn->addr, addr, sizeof(conn->addr));
    conn->link = link;
    return SL_OK;
}

// AUTH (when a password is set), then PING: a server that wants a password
// we do not have says so here rather than on the first put.
static sl_err
s_hello(sl__conn *conn, redisContext *ctx)
{
    sl__link *link = conn->link;
    redisReply *r;
    if (link->password != NULL) {
        const char *argv[] = {"AUTH", link->password};
        size_t lens[] = {4, strlen(link->password)};
        r = redisCommandArgv(ctx, 2, argv, lens);
        if (r == NULL) {
            return sl__link_fail(link, SL_ESTORE, "store %s: AUTH: %s",
                                 conn->addr, ctx->errstr);
        }
        if (r->type == REDIS_REPLY_ERROR) {
            sl__link_fail(
                link, SL_EAUTH,
                "store %s: authentication failed: %s (a wrong password?)",
                conn->addr, r->str);
            freeReplyObject(r);
            return SL_EAUTH;
        }
        freeReplyObject(r);
    }
    if ((r = redisCommand(ctx, "PING")) == NULL) {
        return sl__link_fail(link, SL_ESTORE, "store %s: PING: %s", conn->addr,
                             ctx->errstr);
    }
    sl_err rv = SL_OK;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0) {
        rv = sl__link_fail(link, SL_EAUTH, "store %s: %s%s", conn->addr, r->str,
                           link->password == NULL ? " (no password was given)"
                                                  : "");
    } else if (r->type == REDIS_REPLY_ERROR) {
        rv = sl__link_fail(link, SL_ESTORE, "store %s: %s", conn->addr, r->str);
    }
    freeReplyObject(r);
    return rv;
}

// ---------------------------------------------------------------------
// Replies in place.
//
// hiredis copies each string reply out of its read buffer into a reply of
// its own, and a GET of a large object then took a second copy (and a
// second set of fresh pages) into the 64-byte aligned buffer that values
// are decoded in: sl_get of 64 MiB ran at 0.67 to 0.75 of a raw GET. These
// reply functions make hiredis's one copy land in place: while a GET's
// reply is read, conn->sink says where a large top-level string goes, and
// the reply comes back with len set and str NULL. Every other reply is
// built as hiredis builds it. The chunks of a large object skip hiredis
// altogether: with nothing left in its read buffer, each chunk's reply is
// read from the socket straight into place (s_read_direct).

static redisReply *
s_reply_new(const redisReadTask *task, int type)
{
    redisReply *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->type = type;
    if (task->parent != NULL) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

// Copy a large string where the armed sink says. False: not for the sink.
static bool
s_sink_take(sl__sink *sink, const redisReadTask *task, const char *str,
            size_t len)
{
    if (sink == NULL || sink->taken || task->parent != NULL ||
        task->type != REDIS_REPLY_STRING || len < S_SINK_MIN) {
        return false;
    }
    size_t off = sink->pad ? sl__conn_value_pad((const uint8_t *) str, len) : 0;
    if (sink->dst != NULL) {
        if (len != sink->want) {
            return false; // the caller reports the wrong size
        }
        memcpy(sink->dst + off, str, len);
    } else {
        if (len > sink->max_len) {
            return false;
        }
        if ((sink->buf = sl__alloc_aligned(sl__conn_buf_size(len))) == NULL) {
            return false; // hiredis's copy then fails or not, as usual
        }
        memcpy(sink->buf + off, str, len);
    }
    sink->off = off;
    sink->taken = true;
    return true;
}

static void *
s_reply_string(const redisReadTask *task, char *str, size_t len)
{
    const sl__conn *conn = task->privdata;
    bool taken = s_sink_take(conn != NULL ? conn->sink : NULL, task, str, len);
    redisReply *r = s_reply_new(task, task->type);
    if (r == NULL) {
        return NULL;
    }
    r->len = len;
    if (!taken) {
        if ((r->str = malloc(len + 1)) == NULL) {
            free(r);
            return NULL; // hiredis: out of memory
        }
        memcpy(r->str, str, len);
        r->str[len] = '\0';
    }
    return r;
}

static void *
s_reply_array(const redisReadTask *task, int elements)
{
    redisReply *r = s_reply_new(task, REDIS_REPLY_ARRAY);
    if (r != NULL && elements > 0) {
        r->element = calloc((size_t) elements, sizeof(*r->element));
        if (r->element == NULL) {
            free(r);
            return NULL;
        }
    }
    if (r != NULL) {
        r->elements = (size_t) elements;
    }
    return r;
}

static void *
s_reply_integer(const redisReadTask *task, long long value)
{
    redisReply *r = s_reply_new(task, REDIS_REPLY_INTEGER);
    if (r != NULL) {
        r->integer = value;
    }
    return r;
}

static void *
s_reply_nil(const redisReadTask *task)
{
    return s_reply_new(task, REDIS_REPLY_NIL);
}

static redisReplyObjectFunctions s_reply_fns = {s_reply_string, s_reply_array,
                                                s_reply_integer, s_reply_nil,
                                                freeReplyObject};

sl_err
sl__conn_open(sl__conn *conn)
{
    sl__link *link = conn->link;
    redisContext *ctx =
        redisConnectWithTimeout(conn->host, conn->port, link->timeout);
    sl_err rv = SL_ESTORE;
    if (ctx == NULL) {
        return sl__link_fail(link, SL_ENOMEM, "store %s: out of memory",
                             conn->addr);
    }
    if (ctx->err != 0) {
        sl__link_fail(link, SL_ESTORE, "store %s: cannot connect: %s",
                      conn->addr, ctx->errstr);
        goto fail;
    }
    if (redisSetTimeout(ctx, link->timeout) != REDIS_OK) {
        sl__link_fail(link, SL_ESTORE, "store %s: cannot set the timeout: %s",
                      conn->addr, ctx->errstr);
        goto fail;
    }
    // Keepalive notices a peer that vanished without a FIN.
    redisEnableKeepAlive(ctx);
    ctx->reader->fn = &s_reply_fns;
    ctx->reader->privdata = conn;
    if ((rv = s_hello(conn, ctx)) != SL_OK) {
        goto fail;
    }
    conn->ctx = ctx;
    return SL_OK;

fail:
    redisFree(ctx);
    return rv;
}

sl_err
sl__conn_ready(sl__conn *conn)
{
    return conn->ctx != NULL ? SL_OK : sl__conn_open(conn);
}

void
sl__conn_drop(sl__conn *conn)
{
    redisFree(conn->ctx);
    conn->ctx = NULL;
}

// The connection failed under a command: say why, and drop it so that the
// next command connects anew.
static sl_err
s_lost(sl__conn *conn, const char *what)
{
    sl__link_fail(conn->link, SL_ESTORE, "store %s: %s: %s", conn->addr, what,
                  conn->ctx->errstr[0] ? conn->ctx->errstr : "connection lost");
    sl__conn_drop(conn);
    conn->link->lost = true;
    return SL_ESTORE;
}

// s_lost for a reply that is not what the protocol allows.
static sl_err
s_broken(sl__conn *conn, const char *what)
{
    char why[128];
    sl__fmt(why, sizeof(why), "%s: a broken reply", what);
    return s_lost(conn, why);
}

// ---------------------------------------------------------------------
// SIGPIPE.
//
// hiredis 0.14 writes with send(..., 0), and a second write to a
// connection the server has closed (a restarted Redis) raises SIGPIPE,
// whose default action ends the program: store_test saw a client die so.
// A library must leave the program's handlers alone, so for the length of
// an operation the calling thread blocks SIGPIPE, and one the operation
// raised is taken off the thread's pending set before the old mask comes
// back. The write itself fails with EPIPE, which the store reports and
// retries on a new connection. (Its own large writes use MSG_NOSIGNAL.)
typedef struct {
    sigset_t old;     // the thread's mask before
    bool was_pending; // a SIGPIPE of the program's was pending already
} s_nopipe;

static void
s_nopipe_begin(s_nopipe *np)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    np->was_pending =
        sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &np->old);
}

static void
s_nopipe_end(const s_nopipe *np)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (!np->was_pending && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE)) {
        const struct timespec now = {0, 0};
        sigtimedwait(&pipe, NULL, &now);
    }
    pthread_sigmask(SIG_SETMASK, &np->old, NULL);
}

sl_err
sl__conn_retry(sl__conn *conn, sl__conn_op op, void *arg)
{
    sl__link *link = conn->link;
    s_nopipe np;
    s_nopipe_begin(&np);
    bool was_open = conn->ctx != NULL;
    link->lost = false;
    link->replies = 0;
    sl_err rv = op(conn, arg);
    if (rv != SL_OK && link->lost && was_open && link->replies == 0) {
        sl__log_debug("%s; reconnecting", link->errstr);
        link->lost = false;
        rv = op(conn, arg);
    }
    s_nopipe_end(&np);
    return rv;
}

// ---------------------------------------------------------------------
// Sending.

// Write iov (n entries, consumed as it goes) to the socket fd whole.
// False on an error or the socket's timeout (EAGAIN). MSG_NOSIGNAL: a
// connection the server closed (a restarted Redis) is an error to report
// and reconnect after, not a SIGPIPE that kills the program.
static bool
s_send_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t) n};
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL); // n is a few
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        while (n > 0 && (size_t) w >= iov->iov_len) {
            w -= (ssize_t) iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *) iov->iov_base + w;
            iov->iov_len -= (size_t) w;
        }
    }
    return true;
}

// Write out whatever hiredis has queued, before the store writes or reads
// the socket itself.
static sl_err
s_flush(sl__conn *conn, const char *what)
{
    int done = 0;
    while (!done) {
        if (redisBufferWrite(conn->ctx, &done) != REDIS_OK) {
            return s_lost(conn, what);
        }
    }
    return SL_OK;
}

// Send a command carrying a large argument (a value or a chunk of one)
// straight from the caller's buffer with sendmsg. hiredis would copy the
// whole command into its output buffer, then move what is left to the
// front after every partial write: for chunks of many MiB that was most of a
// SET's time (perf: page faults and memmove). Whatever hiredis has queued
// goes first; the reply is read through hiredis as usual.
static sl_err
s_send_direct(sl__conn *conn, int argc, const char **argv, const size_t *lens,
              const sl__span *value)
{
    sl_err rv = s_flush(conn, argv[0]);
    if (rv != SL_OK) {
        return rv;
    }
    // The protocol text around the arguments, and the small arguments
    // themselves, go into text; large ones are iov entries of their own.
    size_t text_cap = 32 * ((size_t) argc + 1);
    for (int i = 0; i < argc; i++) {
        text_cap += lens[i] < S_DIRECT_MIN ? lens[i] : 0;
    }
    char *text = malloc(text_cap);
    struct iovec *iov = malloc(sizeof(*iov) * (2 * (size_t) argc + 3));
    if (text == NULL || iov == NULL) {
        free(text);
        free(iov);
        return sl__link_fail(conn->link, SL_ENOMEM, "store: out of memory");
    }
    size_t used = 0, seg = 0;
    int n = 0;
    used += (size_t) snprintf(text + used, text_cap - used, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        used += (size_t) snprintf(text + used, text_cap - used, "$%zu\r\n",
                                  lens[i]);
        if (value != NULL && i == SL_CONN_VALUE_ARG) {
            iov[n++] = (struct iovec){text + seg, used - seg};
            for (int k = 0; k < 2; k++) {
                if (value->n[k] > 0) {
                    iov[n++] =
                        (struct iovec){(void *) value->p[k], value->n[k]};
                }
            }
            seg = used;
        } else if (lens[i] >= S_DIRECT_MIN) {
            iov[n++] = (struct iovec){text + seg, used - seg};
            iov[n++] = (struct iovec){(void *) argv[i], lens[i]};
            seg = used;
        } else {
            memcpy(text + used, argv[i], lens[i]);
            used += lens[i];
        }
        memcpy(text + used, "\r\n", 2);
        used += 2;
    }
    iov[n++] = (struct iovec){text + seg, used - seg};
    bool ok = s_send_all(conn->ctx->fd, iov, n);
    free(text);
    free(iov);
    return ok ? SL_OK : s_lost(conn, argv[0]);
}

sl_err
sl__conn_append(sl__conn *conn, int argc, const char **argv, const size_t *lens,
                const sl__span *value)
{
    if (value != NULL && (value->n[1] > 0 || value->n[0] >= S_DIRECT_MIN)) {
        return s_send_direct(conn, argc, argv, lens, value);
    }
    for (int i = 0; i < argc; i++) {
        if (lens[i] >= S_DIRECT_MIN) {
            return s_send_direct(conn, argc, argv, lens, NULL);
        }
    }
    if (redisAppendCommandArgv(conn->ctx, argc, argv, lens) != REDIS_OK) {
        return sl__link_fail(conn->link, SL_ENOMEM,
                             "store %s: cannot queue %s: %s", conn->addr,
                             argv[0], conn->ctx->errstr);
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// Receiving.

// Read exactly len bytes from fd into buf (NULL: read and drop them).
// False on an error, EOF or the socket's timeout.
static bool
s_read_exact(int fd, uint8_t *buf, size_t len)
{
    uint8_t scratch[64 << 10];
    while (len > 0) {
        size_t want = buf != NULL             ? len
                      : len > sizeof(scratch) ? sizeof(scratch)
                                              : len;
        ssize_t got = read(fd, buf != NULL ? buf : scratch, want);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return false;
        }
        len -= (size_t) got;
        buf = buf != NULL ? buf + got : NULL;
    }
    return true;
}

// Whether a reply for sink may be read past hiredis: a string of known,
// large length, to a place of its own.
static bool
s_sink_direct(const sl__sink *sink)
{
    return sink != NULL && sink->dst != NULL && sink->want >= S_SINK_MIN;
}

// Whether hiredis holds no unread bytes, so that the next reply is the
// next thing on the socket.
static bool
s_drained(const sl__conn *conn)
{
    const redisReader *reader = conn->ctx->reader;
    return reader->pos == reader->len;
}

// Read one reply line, "$<len>\r\n", "$-1\r\n" or "-<error>\r\n", into
// line (without its "\r\n"): a byte at a time, so that nothing past it is
// taken; an error's text is cut to the line. False when the connection
// failed or the line ran on.
static bool
s_read_line(int fd, char *line, size_t size)
{
    size_t n = 0;
    for (size_t seen = 0;; seen++) {
        uint8_t c;
        if (seen > S_LINE_MAX || !s_read_exact(fd, &c, 1)) {
            return false;
        }
        if (c == '\n') {
            break;
        }
        if (n + 1 < size) {
            line[n++] = (char) c;
        }
    }
    line[n > 0 && line[n - 1] == '\r' ? n - 1 : n] = '\0';
    return true;
}

// A reply for one read past hiredis, shaped as the reply functions shape
// one for a sink: an error with its text, nil, or a string's length
// without its bytes. Out of memory drops the connection, whose unread
// replies then cannot be read in step.
static sl_err
s_reply_direct(sl__conn *conn, int type, const char *text, size_t len,
               redisReply **out)
{
    redisReply *r = calloc(1, sizeof(*r));
    if (r == NULL || (text != NULL && (r->str = strdup(text)) == NULL)) {
        free(r);
        sl__conn_drop(conn);
        return sl__link_fail(conn->link, SL_ENOMEM, "store %s: out of memory",
                             conn->addr);
    }
    r->type = type;
    r->len = text != NULL ? strlen(text) : len;
    *out = r;
    return SL_OK;
}

// Read a string of sink->want bytes from fd into sink->dst, after the
// padding its first byte asks for when sink->pad, then its "\r\n".
static bool
s_read_string(int fd, sl__sink *sink, bool *crlf_ok)
{
    uint8_t *dst = sink->dst;
    size_t want = sink->want;
    uint8_t crlf[2];
    if (sink->pad) {
        // The first byte says how far to pad (sl__conn_value_pad).
        uint8_t first;
        if (!s_read_exact(fd, &first, 1)) {
            return false;
        }
        sink->off = sl__conn_value_pad(&first, 1);
        dst += sink->off;
        *dst++ = first;
        want--;
    }
    if (!s_read_exact(fd, dst, want) || !s_read_exact(fd, crlf, 2)) {
        return false;
    }
    *crlf_ok = memcmp(crlf, "\r\n", 2) == 0;
    return true;
}

// Read the next reply straight from the socket (s_drained), with
// no stop in hiredis's read buffer (which reads 16 KiB at a time and
// copies every byte once more). A string of sink->want bytes lands in
// place; one of another length is read and dropped; nil and an error come
// back as replies; a broken reply drops the connection.
static sl_err
s_read_direct(sl__conn *conn, const char *what, sl__sink *sink,
              redisReply **out)
{
    int fd = conn->ctx->fd;
    char line[256];
    if (!s_read_line(fd, line, sizeof(line))) {
        return s_lost(conn, what);
    }
    conn->link->replies++;
    sink->direct = true;
    if (line[0] == '-') {
        return s_reply_direct(conn, REDIS_REPLY_ERROR, line + 1, 0, out);
    }
    char *end = NULL;
    long long len = line[0] == '$' ? strtoll(line + 1, &end, 10) : -2;
    if (end == NULL || end == line + 1 || *end != '\0') {
        return s_broken(conn, what);
    }
    if (len == -1) {
        return s_reply_direct(conn, REDIS_REPLY_NIL, NULL, 0, out);
    }
    if (len < 0 || (size_t) len != sink->want) {
        if (len < 0 || !s_read_exact(fd, NULL, (size_t) len + 2)) {
            return s_lost(conn, what);
        }
        return s_reply_direct(conn, REDIS_REPLY_STRING, NULL, (size_t) len,
                              out);
    }
    bool crlf_ok = false;
    if (!s_read_string(fd, sink, &crlf_ok)) {
        return s_lost(conn, what);
    }
    if (!crlf_ok) {
        return s_broken(conn, what);
    }
    sink->taken = true;
    return s_reply_direct(conn, REDIS_REPLY_STRING, NULL, (size_t) len, out);
}

sl_err
sl__conn_read(sl__conn *conn, const char *what, sl__sink *sink,
              redisReply **out)
{
    if (s_sink_direct(sink)) {
        // The commands must be on their way before their replies are read
        // from the socket here.
        sl_err rv = s_flush(conn, what);
        if (rv != SL_OK) {
            return rv;
        }
        if (s_drained(conn)) {
            return s_read_direct(conn, what, sink, out);
        }
    }
    void *r = NULL;
    conn->sink = sink;
    int got = redisGetReply(conn->ctx, &r);
    conn->sink = NULL;
    if (got != REDIS_OK || r == NULL) {
        return s_lost(conn, what);
    }
    conn->link->replies++;
    *out = r;
    return SL_OK;
}

sl_err
sl__conn_call(sl__conn *conn, int argc, const char **argv, const size_t *lens,
              const sl__span *value, sl__sink *sink, redisReply **out)
{
    sl_err rv = sl__conn_ready(conn);
    if (rv != SL_OK) {
        return rv;
    }
    redisReply *r = NULL;
    if ((rv = sl__conn_append(conn, argc, argv, lens, value)) != SL_OK ||
        (rv = sl__conn_read(conn, argv[0], sink, &r)) != SL_OK) {
        return rv;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        sl__link_fail(conn->link, SL_ESTORE, "store %s: %s: %s", conn->addr,
                      argv[0], r->str);
        freeReplyObject(r);
        return SL_ESTORE;
    }
    *out = r;
    return SL_OK;
}
