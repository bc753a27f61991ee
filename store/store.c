// store.c - the object store: starling's values in Redis, by key.
// SPDX-License-Identifier: MIT
//
// Design notes.
//
// Shards. A key lives on shard fnv1a64(key) % n. A chunked object keeps
// its chunks on the same shard as its manifest, so that one pipelined
// connection moves the whole object and a ref's shard names all of it.
//
// Chunks. An object of more than chunk_bytes (or one that would look like a
// manifest) is stored as chunks "<key>#<i>", i = 0..n-1 in decimal, and
// under <key> itself a 25-byte manifest (manifest.c). Every chunk gets the
// object's TTL. Without NX the chunks are written first and the manifest
// last, so a reader never finds a manifest whose chunks are yet to come.
// With NX the manifest is taken first (SET NX): that decides who writes;
// the winner then writes its chunks, and removes the manifest again if it
// cannot.
//
// Pipelining. Chunk commands are sent and then their replies read, in
// windows of at most 1024 commands and 64 MiB: redis queues every reply
// in its own buffer, so asking for all the chunks of a 4 GiB object at
// once would cost another 4 GiB there. Small chunks still go 1024 to a
// round trip. After an error reply in a window the remaining replies are
// still read, so the connection stays in step.
//
// Large arguments. A command with an argument of 64 KiB or more is written
// with sendmsg (an iovec) from the caller's buffer (s_send_direct), not through
// hiredis, which copies the whole command into its output buffer and
// moves the unsent rest to the front after each partial write. The
// default chunk is 4 MiB: redis-server copies a GET's value into its reply
// buffers and allocates a SET's anew, and at 64 MiB each such buffer was
// fresh memory to fault in (perf); chunks of 4 to 16 MiB moved a 64 MiB
// object about twice as fast as one 64 MiB string (bench data: put 575 ->
// 1,134 MB/s, get 713 -> 1,232 MB/s with both changes).
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
// TTLs. Every object gets the store's TTL, except where the caller names
// its own (sl__store_put_ttl): kernel modules, which are content-addressed
// and shared by every job, live for SL_STORE_MODULE_TTL and have it reset
// (sl__store_touch, chunks included) each time a client registers them.
//
// Alignment. A fetched object is copied into one 64-byte aligned buffer.
// For a value whose top level is an ndarray, the object starts a few bytes
// into that buffer so that the array's elements (8-byte aligned within the
// ext payload) are 8-byte aligned in memory, and the decoder can use them
// in place.
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "manifest.h"

#define S_ALIGN 64
#define S_WINDOW_CMDS 1024
#define S_WINDOW_BYTES (64u << 20)
#define S_SCAN_COUNT "1000"
// Room after a key for "#<chunk index>" and the NUL.
#define S_CHUNK_SUFFIX 16

// Where the next large string reply goes (see "Replies in place").
typedef struct {
    uint8_t *dst;   // in: write the string here; NULL: into a new buffer
    size_t want;    // in: with dst, its exact length
    bool pad;       // in: put it after s_value_pad's padding
    size_t max_len; // in: without dst, the longest taken
    uint8_t *buf;   // out: the new buffer (64-byte aligned; free() it)
    size_t off;     // out: the padding before the string
    bool taken;     // out: the string went here; the reply has no str
} s_sink;

typedef struct {
    char host[256];    // host name or address, without brackets
    int port;          // TCP port
    char addr[288];    // "host:port" as configured, for messages
    redisContext *ctx; // the connection; NULL until (re)connected
    s_sink *sink;      // armed while a GET's reply is read; else NULL
} s_shard;

// String replies shorter than this are always hiredis's own.
#define S_SINK_MIN (64u << 10)
// A command with an argument this large is written with sendmsg, not
// through hiredis's output buffer (s_send_direct).
#define S_DIRECT_MIN (64u << 10)
// Where a SET's value is among its arguments.
#define S_VALUE_ARG 2
// The longest reply line read directly (s_read_chunk_direct) before the
// reply counts as broken.
#define S_LINE_MAX 4096

struct sl__store {
    s_shard shards[SL_STORE_MAX_SHARDS]; // 1..16 shards, by index
    int n_shards;                        // shards in use
    char *password;                      // AUTH with it; NULL: none
    char ttl_arg[24];                    // the TTL in seconds, for SET EX
    size_t chunk_bytes;                  // split objects above this
    struct timeval timeout;              // connect and command timeout
    bool lost;                  // the current operation lost a connection
    int replies;                // replies read in the current operation
    char errstr[SL_ERRSTR_LEN]; // detail of the last error
};

// One operation on one shard, done again once when a stale connection
// broke under it (see s_retry).
typedef sl_err (*s_op)(sl__store *store, s_shard *shard, void *arg);

static sl_err __attribute__((format(printf, 3, 4)))
s_fail(sl__store *store, sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(store->errstr, sizeof(store->errstr), fmt, ap);
    va_end(ap);
    return rv;
}

// ---------------------------------------------------------------------
// Connections.

// Split "host:port" (or "[v6addr]:port").
static sl_err
s_parse_addr(s_shard *shard, const char *addr)
{
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
    if (hlen == 0 || hlen >= sizeof(shard->host) || *end != '\0' ||
        end == colon + 1 || errno != 0 || port <= 0 || port > 65535) {
        return SL_EINVAL;
    }
    memcpy(shard->host, host, hlen);
    shard->host[hlen] = '\0';
    shard->port = (int) port;
    sl__strlcpy(shard->addr, addr, sizeof(shard->addr));
    return SL_OK;
}

// AUTH (when a password is set), then PING: a server that wants a password
// we do not have says so here rather than on the first put.
static sl_err
s_shard_hello(sl__store *store, s_shard *shard, redisContext *ctx)
{
    redisReply *r;
    if (store->password != NULL) {
        const char *argv[] = {"AUTH", store->password};
        size_t lens[] = {4, strlen(store->password)};
        r = redisCommandArgv(ctx, 2, argv, lens);
        if (r == NULL) {
            return s_fail(store, SL_ESTORE, "store %s: AUTH: %s", shard->addr,
                          ctx->errstr);
        }
        if (r->type == REDIS_REPLY_ERROR) {
            s_fail(store, SL_EAUTH,
                   "store %s: authentication failed: %s (a wrong password?)",
                   shard->addr, r->str);
            freeReplyObject(r);
            return SL_EAUTH;
        }
        freeReplyObject(r);
    }
    if ((r = redisCommand(ctx, "PING")) == NULL) {
        return s_fail(store, SL_ESTORE, "store %s: PING: %s", shard->addr,
                      ctx->errstr);
    }
    sl_err rv = SL_OK;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0) {
        rv = s_fail(store, SL_EAUTH, "store %s: %s%s", shard->addr, r->str,
                    store->password == NULL ? " (no password was given)" : "");
    } else if (r->type == REDIS_REPLY_ERROR) {
        rv = s_fail(store, SL_ESTORE, "store %s: %s", shard->addr, r->str);
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
// reply is read, shard->sink says where a large top-level string goes, and
// the reply comes back with len set and str NULL. Every other reply is
// built as hiredis builds it. The chunks of a large object skip hiredis
// altogether: with nothing left in its read buffer, each chunk's reply is
// read from the socket straight into place (s_read_chunk_direct).

static size_t s_value_pad(const uint8_t *p, size_t len);

// The buffer an object of len bytes is fetched into: room for up to 7
// bytes of padding in front, 64-byte multiples.
static size_t
s_buf_size(size_t len)
{
    return (len + 8 + S_ALIGN - 1) / S_ALIGN * S_ALIGN;
}

// A fetched buffer's blob lets it go back for reuse (sl__free_aligned);
// ctx is its size.
static void
s_buf_free(void *ctx, void *data)
{
    sl__free_aligned(data, (size_t) (uintptr_t) ctx);
}

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
s_sink_take(s_sink *sink, const redisReadTask *task, const char *str,
            size_t len)
{
    if (sink == NULL || sink->taken || task->parent != NULL ||
        task->type != REDIS_REPLY_STRING || len < S_SINK_MIN) {
        return false;
    }
    size_t off = sink->pad ? s_value_pad((const uint8_t *) str, len) : 0;
    if (sink->dst != NULL) {
        if (len != sink->want) {
            return false; // the caller reports the wrong size
        }
        memcpy(sink->dst + off, str, len);
    } else {
        if (len > sink->max_len) {
            return false;
        }
        if ((sink->buf = sl__alloc_aligned(s_buf_size(len))) == NULL) {
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
    const s_shard *shard = task->privdata;
    bool taken =
        s_sink_take(shard != NULL ? shard->sink : NULL, task, str, len);
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

static sl_err
s_shard_connect(sl__store *store, s_shard *shard)
{
    redisContext *ctx =
        redisConnectWithTimeout(shard->host, shard->port, store->timeout);
    sl_err rv = SL_ESTORE;
    if (ctx == NULL) {
        return s_fail(store, SL_ENOMEM, "store %s: out of memory", shard->addr);
    }
    if (ctx->err != 0) {
        s_fail(store, SL_ESTORE, "store %s: cannot connect: %s", shard->addr,
               ctx->errstr);
        goto fail;
    }
    if (redisSetTimeout(ctx, store->timeout) != REDIS_OK) {
        s_fail(store, SL_ESTORE, "store %s: cannot set the timeout: %s",
               shard->addr, ctx->errstr);
        goto fail;
    }
    // Keepalive notices a peer that vanished without a FIN.
    redisEnableKeepAlive(ctx);
    ctx->reader->fn = &s_reply_fns;
    ctx->reader->privdata = shard;
    if ((rv = s_shard_hello(store, shard, ctx)) != SL_OK) {
        goto fail;
    }
    shard->ctx = ctx;
    return SL_OK;

fail:
    redisFree(ctx);
    return rv;
}

static sl_err
s_shard_ready(sl__store *store, s_shard *shard)
{
    return shard->ctx != NULL ? SL_OK : s_shard_connect(store, shard);
}

// Forget a connection (broken, or out of step with the server because
// queued commands will not be sent); the next command connects anew.
static void
s_drop(s_shard *shard)
{
    redisFree(shard->ctx);
    shard->ctx = NULL;
}

// The connection failed under a command: say why, and drop it so that the
// next command connects anew.
static sl_err
s_lost(sl__store *store, s_shard *shard, const char *what)
{
    s_fail(store, SL_ESTORE, "store %s: %s: %s", shard->addr, what,
           shard->ctx->errstr[0] ? shard->ctx->errstr : "connection lost");
    s_drop(shard);
    store->lost = true;
    return SL_ESTORE;
}

// SIGPIPE. hiredis 0.14 writes with send(..., 0), and a second write to a
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

// Run op on shard; once more if a connection that was open before it
// started broke before any reply came back (see the design notes).
static sl_err
s_retry(sl__store *store, s_shard *shard, s_op op, void *arg)
{
    s_nopipe np;
    s_nopipe_begin(&np);
    bool was_open = shard->ctx != NULL;
    store->lost = false;
    store->replies = 0;
    sl_err rv = op(store, shard, arg);
    if (rv != SL_OK && store->lost && was_open && store->replies == 0) {
        sl__log_debug("%s; reconnecting", store->errstr);
        store->lost = false;
        rv = op(store, shard, arg);
    }
    s_nopipe_end(&np);
    return rv;
}

// ---------------------------------------------------------------------
// Commands.

// An object's bytes in up to two pieces: an encoded value's head, and a
// large ndarray's elements where they already lie
// (sl__value_encode_split), so that storing one copies nothing.
typedef struct {
    const uint8_t *p[2];
    size_t n[2];
} s_span;

static s_span
s_span_of(const void *buf, size_t len)
{
    s_span sp = {{buf, NULL}, {len, 0}};
    return sp;
}

static size_t
s_span_len(const s_span *sp)
{
    return sp->n[0] + sp->n[1];
}

// Bytes off .. off+len-1 of sp.
static s_span
s_span_slice(const s_span *sp, size_t off, size_t len)
{
    s_span out = {{NULL, NULL}, {0, 0}};
    int k = 0;
    for (int i = 0; i < 2 && len > 0; i++) {
        if (off >= sp->n[i]) {
            off -= sp->n[i];
            continue;
        }
        size_t take = sp->n[i] - off < len ? sp->n[i] - off : len;
        out.p[k] = sp->p[i] + off;
        out.n[k++] = take;
        len -= take;
        off = 0;
    }
    return out;
}

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
s_flush(sl__store *store, s_shard *shard, const char *what)
{
    int done = 0;
    while (!done) {
        if (redisBufferWrite(shard->ctx, &done) != REDIS_OK) {
            return s_lost(store, shard, what);
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
s_send_direct(sl__store *store, s_shard *shard, int argc, const char **argv,
              const size_t *lens, const s_span *value)
{
    redisContext *ctx = shard->ctx;
    sl_err rv = s_flush(store, shard, argv[0]);
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
        return s_fail(store, SL_ENOMEM, "store: out of memory");
    }
    size_t used = 0, seg = 0;
    int n = 0;
    used += (size_t) snprintf(text + used, text_cap - used, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        used += (size_t) snprintf(text + used, text_cap - used, "$%zu\r\n",
                                  lens[i]);
        if (value != NULL && i == S_VALUE_ARG) {
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
    bool ok = s_send_all(ctx->fd, iov, n);
    free(text);
    free(iov);
    return ok ? SL_OK : s_lost(store, shard, argv[0]);
}

// Queue one command: through hiredis, or at once (s_send_direct) when an
// argument is large. A value, when not NULL, is argument S_VALUE_ARG
// (lens[S_VALUE_ARG] must be its length), in one or two pieces.
static sl_err
s_append(sl__store *store, s_shard *shard, int argc, const char **argv,
         const size_t *lens, const s_span *value)
{
    if (value != NULL && (value->n[1] > 0 || value->n[0] >= S_DIRECT_MIN)) {
        return s_send_direct(store, shard, argc, argv, lens, value);
    }
    for (int i = 0; i < argc; i++) {
        if (lens[i] >= S_DIRECT_MIN) {
            return s_send_direct(store, shard, argc, argv, lens, NULL);
        }
    }
    if (redisAppendCommandArgv(shard->ctx, argc, argv, lens) != REDIS_OK) {
        return s_fail(store, SL_ENOMEM, "store %s: cannot queue %s: %s",
                      shard->addr, argv[0], shard->ctx->errstr);
    }
    return SL_OK;
}

static sl_err s_read(sl__store *store, s_shard *shard, const char *what,
                     redisReply **out);

// One command, one reply. An error reply becomes SL_ESTORE with its text.
// value: as for s_append.
static sl_err
s_call_value(sl__store *store, s_shard *shard, int argc, const char **argv,
             const size_t *lens, const s_span *value, redisReply **out)
{
    sl_err rv = s_shard_ready(store, shard);
    if (rv != SL_OK) {
        return rv;
    }
    redisReply *r = NULL;
    if ((rv = s_append(store, shard, argc, argv, lens, value)) != SL_OK ||
        (rv = s_read(store, shard, argv[0], &r)) != SL_OK) {
        return rv;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        s_fail(store, SL_ESTORE, "store %s: %s: %s", shard->addr, argv[0],
               r->str);
        freeReplyObject(r);
        return SL_ESTORE;
    }
    *out = r;
    return SL_OK;
}

static sl_err
s_call(sl__store *store, s_shard *shard, int argc, const char **argv,
       const size_t *lens, redisReply **out)
{
    return s_call_value(store, shard, argc, argv, lens, NULL, out);
}

// Read the next reply of a pipeline.
static sl_err
s_read(sl__store *store, s_shard *shard, const char *what, redisReply **out)
{
    void *r = NULL;
    if (redisGetReply(shard->ctx, &r) != REDIS_OK || r == NULL) {
        return s_lost(store, shard, what);
    }
    store->replies++;
    *out = r;
    return SL_OK;
}

// Check a SET reply: +OK stored it; nil (only with NX) did not.
static sl_err
s_set_reply(sl__store *store, s_shard *shard, const redisReply *r,
            const char *key, bool *stored)
{
    if (r->type == REDIS_REPLY_STATUS) {
        *stored = true;
        return SL_OK;
    }
    if (r->type == REDIS_REPLY_NIL) {
        *stored = false;
        return SL_OK;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return s_fail(store, SL_ESTORE, "store %s: SET %s: %s", shard->addr,
                      key, r->str);
    }
    return s_fail(store, SL_ESTORE,
                  "store %s: SET %s: unexpected reply "
                  "type %d",
                  shard->addr, key, r->type);
}

// SET key value EX ttl [NX].
static sl_err
s_set(sl__store *store, s_shard *shard, const char *key, const s_span *value,
      const char *ttl, bool nx, bool *stored)
{
    const char *argv[] = {"SET", key, (const char *) value->p[0],
                          "EX",  ttl, "NX"};
    size_t lens[] = {3, strlen(key), s_span_len(value), 2, strlen(ttl), 2};
    redisReply *r;
    sl_err rv = s_call_value(store, shard, nx ? 6 : 5, argv, lens, value, &r);
    if (rv == SL_OK) {
        rv = s_set_reply(store, shard, r, key, stored);
        freeReplyObject(r);
    }
    return rv;
}

static void
s_unlink(sl__store *store, s_shard *shard, const char *key)
{
    const char *argv[] = {"UNLINK", key};
    size_t lens[] = {6, strlen(key)};
    redisReply *r;
    if (s_call(store, shard, 2, argv, lens, &r) == SL_OK) {
        freeReplyObject(r);
    }
}

// ---------------------------------------------------------------------
// Chunks.

// "<key>#<i>" into keybuf (strlen(key) + S_CHUNK_SUFFIX bytes).
static void
s_chunk_key(char *keybuf, size_t size, const char *key, uint32_t i)
{
    snprintf(keybuf, size, "%s#%u", key, i);
}

// Chunk commands per pipeline window (see the design notes).
static uint32_t
s_window(uint64_t chunk)
{
    uint64_t w = S_WINDOW_BYTES / chunk;
    return w < 1 ? 1 : w > S_WINDOW_CMDS ? S_WINDOW_CMDS : (uint32_t) w;
}

// Read the replies of chunk SETs from..to-1; all are read even after an
// error reply, to keep the connection in step.
static sl_err
s_read_set_replies(sl__store *store, s_shard *shard, const char *key,
                   uint32_t from, uint32_t to)
{
    sl_err first = SL_OK;
    for (uint32_t i = from; i < to; i++) {
        redisReply *r;
        bool stored;
        sl_err rv = s_read(store, shard, "SET chunk", &r);
        if (rv != SL_OK) {
            return rv; // the connection is gone, and the rest with it
        }
        if (first == SL_OK) {
            first = s_set_reply(store, shard, r, key, &stored);
        }
        freeReplyObject(r);
    }
    return first;
}

// Queue SET <key>#<i> for chunks from..to-1 of the object's bytes.
static sl_err
s_append_sets(sl__store *store, s_shard *shard, const char *key,
              const s_span *data, const sl__manifest *m, const char *ttl,
              uint32_t from, uint32_t to)
{
    size_t ksize = strlen(key) + S_CHUNK_SUFFIX;
    char *ckey = malloc(ksize);
    sl_err rv =
        ckey != NULL ? SL_OK : s_fail(store, SL_ENOMEM, "store: out of memory");
    for (uint32_t i = from; i < to && rv == SL_OK; i++) {
        s_chunk_key(ckey, ksize, key, i);
        s_span chunk = s_span_slice(data, (size_t) i * m->chunk,
                                    sl__manifest_chunk_len(m, i));
        const char *argv[] = {"SET", ckey, (const char *) chunk.p[0], "EX",
                              ttl};
        size_t lens[] = {3, strlen(ckey), s_span_len(&chunk), 2, strlen(ttl)};
        rv = s_append(store, shard, 5, argv, lens, &chunk);
    }
    free(ckey);
    return rv;
}

static sl_err
s_set_chunks(sl__store *store, s_shard *shard, const char *key,
             const s_span *data, const sl__manifest *m, const char *ttl)
{
    sl_err rv = s_shard_ready(store, shard);
    uint32_t window = s_window(m->chunk);
    for (uint32_t from = 0; from < m->n && rv == SL_OK; from += window) {
        uint32_t to = m->n - from > window ? from + window : m->n;
        if ((rv = s_append_sets(store, shard, key, data, m, ttl, from, to)) !=
            SL_OK) {
            s_drop(shard);
            break;
        }
        rv = s_read_set_replies(store, shard, key, from, to);
    }
    return rv;
}

typedef struct {
    const char *key; // where
    s_span data;     // what
    bool nx;         // only if the key is free
    const char *ttl; // seconds, in decimal
    bool stored;     // out: whether this call stored it
} s_put_args;

static sl_err
s_put_chunked(sl__store *store, s_shard *shard, s_put_args *a)
{
    size_t len = s_span_len(&a->data);
    sl__manifest m;
    if (sl__manifest_plan(&m, len, store->chunk_bytes) != SL_OK) {
        return s_fail(store, SL_ELIMIT,
                      "store: %s: %zu bytes is more than "
                      "2^32 chunks",
                      a->key, len);
    }
    uint8_t man[SL_MANIFEST_LEN];
    sl__manifest_encode(&m, man);
    s_span man_span = s_span_of(man, sizeof(man));
    sl_err rv;
    if (a->nx) {
        rv = s_set(store, shard, a->key, &man_span, a->ttl, true, &a->stored);
        if (rv != SL_OK || !a->stored) {
            return rv;
        }
    }
    if ((rv = s_set_chunks(store, shard, a->key, &a->data, &m, a->ttl)) !=
        SL_OK) {
        if (a->nx) {
            // Give the key back, or a retry would find it taken and never
            // write the chunks. Best effort: the TTL ends it otherwise.
            char keep[SL_ERRSTR_LEN];
            sl__strlcpy(keep, store->errstr, sizeof(keep));
            s_unlink(store, shard, a->key);
            sl__strlcpy(store->errstr, keep, sizeof(store->errstr));
        }
        return rv;
    }
    if (!a->nx) {
        rv = s_set(store, shard, a->key, &man_span, a->ttl, false, &a->stored);
    }
    return rv;
}

static sl_err
s_put_op(sl__store *store, s_shard *shard, void *arg)
{
    s_put_args *a = arg;
    // Only a one-piece object can be 25 bytes (a split one is 64 KiB and
    // more): the manifest check needs no copy.
    if (s_span_len(&a->data) > store->chunk_bytes ||
        (a->data.n[1] == 0 &&
         sl__manifest_lookalike(a->data.p[0], a->data.n[0]))) {
        return s_put_chunked(store, shard, a);
    }
    return s_set(store, shard, a->key, &a->data, a->ttl, a->nx, &a->stored);
}

typedef struct {
    const char *key; // what to fetch
    size_t max_len;  // refuse objects larger than this
    bool for_value;  // place a top-level ndarray's elements aligned
    uint8_t *buf;    // out: the 64-byte aligned buffer (free() it)
    size_t off;      // out: where the object starts in buf
    size_t len;      // out: its bytes
} s_get_args;

// Bytes to put before an encoded value so that, if it is an ndarray, its
// ext payload (and so its elements) starts 8-byte aligned.
static size_t
s_value_pad(const uint8_t *p, size_t len)
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

// A 64-byte aligned buffer for len bytes after up to 7 bytes of padding.
static sl_err
s_alloc(sl__store *store, s_get_args *a, size_t len)
{
    if (len > a->max_len) {
        return s_fail(store, SL_ELIMIT,
                      "store: %s: %zu bytes is more than "
                      "the limit of %zu",
                      a->key, len, a->max_len);
    }
    if ((a->buf = sl__alloc_aligned(s_buf_size(len))) == NULL) {
        return s_fail(store, SL_ENOMEM,
                      "store: %s: out of memory for %zu "
                      "bytes",
                      a->key, len);
    }
    a->len = len;
    return SL_OK;
}

// Check one chunk's reply and copy it into place. The first chunk decides
// the padding.
static sl_err
s_take_chunk(sl__store *store, s_shard *shard, s_get_args *a,
             const sl__manifest *m, uint32_t i, const redisReply *r)
{
    size_t want = sl__manifest_chunk_len(m, i);
    if (r->type == REDIS_REPLY_NIL) {
        return s_fail(store, SL_ENOTFOUND,
                      "store %s: %s: chunk %u of %u is "
                      "missing (expired, or still being written)",
                      shard->addr, a->key, i, m->n);
    }
    if (r->type != REDIS_REPLY_STRING || r->len != want) {
        return s_fail(store, SL_ESTORE,
                      "store %s: %s: chunk %u has %zu "
                      "bytes, want %zu",
                      shard->addr, a->key, i,
                      r->type == REDIS_REPLY_STRING ? r->len : 0, want);
    }
    if (r->str == NULL) {
        return SL_OK; // the reply functions put it in place
    }
    if (i == 0 && a->for_value) {
        a->off = s_value_pad((const uint8_t *) r->str, r->len);
    }
    memcpy(a->buf + a->off + (size_t) i * m->chunk, r->str, want);
    return SL_OK;
}

// Queue GET <key>#<i> for chunks from..to-1.
static sl_err
s_append_gets(sl__store *store, s_shard *shard, const char *key, uint32_t from,
              uint32_t to)
{
    size_t ksize = strlen(key) + S_CHUNK_SUFFIX;
    char *ckey = malloc(ksize);
    sl_err rv =
        ckey != NULL ? SL_OK : s_fail(store, SL_ENOMEM, "store: out of memory");
    for (uint32_t i = from; i < to && rv == SL_OK; i++) {
        s_chunk_key(ckey, ksize, key, i);
        const char *argv[] = {"GET", ckey};
        size_t lens[] = {3, strlen(ckey)};
        rv = s_append(store, shard, 2, argv, lens, NULL);
    }
    free(ckey);
    return rv;
}

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

// Read one chunk's GET reply straight from the socket into place, with no
// stop in hiredis's read buffer (which reads 16 KiB at a time and copies
// every byte once more). Used when hiredis holds no unread bytes, so the
// reply is the next thing on the socket. A reply that is not the chunk
// (nil, an error, the wrong size) is consumed and reported; a broken one
// drops the connection.
static sl_err
s_read_chunk_direct(sl__store *store, s_shard *shard, s_get_args *a,
                    const sl__manifest *m, uint32_t i)
{
    int fd = shard->ctx->fd;
    char line[256];
    size_t n = 0;
    // "$<len>\r\n", "$-1\r\n" or "-<error>\r\n": a byte at a time, so
    // that nothing past it is taken; an error's text is cut to the line.
    for (size_t seen = 0;; seen++) {
        uint8_t c;
        if (seen > S_LINE_MAX || !s_read_exact(fd, &c, 1)) {
            return s_lost(store, shard, "GET chunk");
        }
        if (c == '\n') {
            break;
        }
        if (n + 1 < sizeof(line)) {
            line[n++] = (char) c;
        }
    }
    line[n > 0 && line[n - 1] == '\r' ? n - 1 : n] = '\0';
    store->replies++;
    size_t want = sl__manifest_chunk_len(m, i);
    if (line[0] == '-') {
        return s_fail(store, SL_ESTORE, "store %s: GET %s#%u: %s", shard->addr,
                      a->key, i, line + 1);
    }
    char *end = NULL;
    long long len = line[0] == '$' ? strtoll(line + 1, &end, 10) : -2;
    if (end == NULL || end == line + 1 || *end != '\0') {
        return s_lost(store, shard, "GET chunk: a broken reply");
    }
    if (len == -1) {
        return s_fail(store, SL_ENOTFOUND,
                      "store %s: %s: chunk %u of %u is "
                      "missing (expired, or still being written)",
                      shard->addr, a->key, i, m->n);
    }
    if (len < 0 || (size_t) len != want) {
        if (len < 0 || !s_read_exact(fd, NULL, (size_t) len + 2)) {
            return s_lost(store, shard, "GET chunk");
        }
        return s_fail(store, SL_ESTORE,
                      "store %s: %s: chunk %u has %lld "
                      "bytes, want %zu",
                      shard->addr, a->key, i, len, want);
    }
    uint8_t crlf[2];
    uint8_t *dst = a->buf + a->off + (size_t) i * m->chunk;
    if (i == 0 && a->for_value) {
        // The first byte says how far to pad (s_value_pad).
        uint8_t first;
        if (!s_read_exact(fd, &first, 1)) {
            return s_lost(store, shard, "GET chunk");
        }
        a->off = s_value_pad(&first, 1);
        dst = a->buf + a->off;
        *dst++ = first;
        want--;
    }
    if (!s_read_exact(fd, dst, want) || !s_read_exact(fd, crlf, 2)) {
        return s_lost(store, shard, "GET chunk");
    }
    return memcmp(crlf, "\r\n", 2) == 0
               ? SL_OK
               : s_lost(store, shard, "GET chunk: a broken reply");
}

// Read the replies of chunk GETs from..to-1 into place; all are read even
// after a bad one, to keep the connection in step.
static sl_err
s_read_chunks(sl__store *store, s_shard *shard, s_get_args *a,
              const sl__manifest *m, uint32_t from, uint32_t to)
{
    sl_err first = SL_OK;
    // The GETs must be on their way before their replies are read here.
    sl_err flushed = s_flush(store, shard, "GET chunk");
    if (flushed != SL_OK) {
        return flushed;
    }
    for (uint32_t i = from; i < to; i++) {
        const redisReader *reader = shard->ctx->reader;
        if (sl__manifest_chunk_len(m, i) >= S_SINK_MIN &&
            reader->pos == reader->len) {
            sl_err rv = s_read_chunk_direct(store, shard, a, m, i);
            if (shard->ctx == NULL) {
                return rv; // the connection is gone, and the rest with it
            }
            first = first == SL_OK ? rv : first;
            continue;
        }
        redisReply *r;
        // The first chunk decides the padding; the others follow it.
        s_sink sink = {.dst = a->buf + (i == 0 ? 0 : a->off + i * m->chunk),
                       .want = sl__manifest_chunk_len(m, i),
                       .pad = i == 0 && a->for_value};
        shard->sink = first == SL_OK ? &sink : NULL;
        sl_err rv = s_read(store, shard, "GET chunk", &r);
        shard->sink = NULL;
        if (rv == SL_OK && sink.taken && i == 0) {
            a->off = sink.off;
        }
        if (rv != SL_OK) {
            return rv;
        }
        if (first == SL_OK) {
            first = s_take_chunk(store, shard, a, m, i, r);
        }
        freeReplyObject(r);
    }
    return first;
}

static sl_err
s_get_chunks(sl__store *store, s_shard *shard, s_get_args *a,
             const sl__manifest *m)
{
    if (m->total > SIZE_MAX - 2 * S_ALIGN) {
        return s_fail(store, SL_ELIMIT, "store: %s: too large", a->key);
    }
    sl_err rv = s_alloc(store, a, (size_t) m->total);
    uint32_t window = s_window(m->chunk);
    for (uint32_t from = 0; from < m->n && rv == SL_OK; from += window) {
        uint32_t to = m->n - from > window ? from + window : m->n;
        if ((rv = s_append_gets(store, shard, a->key, from, to)) != SL_OK) {
            s_drop(shard);
            break;
        }
        rv = s_read_chunks(store, shard, a, m, from, to);
    }
    return rv;
}

static sl_err
s_get_op(sl__store *store, s_shard *shard, void *arg)
{
    s_get_args *a = arg;
    const char *argv[] = {"GET", a->key};
    size_t lens[] = {3, strlen(a->key)};
    redisReply *r;
    sl__manifest m;
    a->buf = NULL;
    a->off = 0;
    s_sink sink = {.pad = a->for_value, .max_len = a->max_len};
    shard->sink = &sink;
    sl_err rv = s_call(store, shard, 2, argv, lens, &r);
    shard->sink = NULL;
    if (rv != SL_OK) {
        free(sink.buf);
        return rv;
    }
    if (sink.taken) { // a whole object, in place already
        a->buf = sink.buf;
        a->off = sink.off;
        a->len = r->len;
    } else if (r->type == REDIS_REPLY_NIL) {
        rv = s_fail(store, SL_ENOTFOUND, "store %s: no object %s", shard->addr,
                    a->key);
    } else if (r->type != REDIS_REPLY_STRING) {
        rv = s_fail(store, SL_ESTORE,
                    "store %s: GET %s: unexpected reply "
                    "type %d",
                    shard->addr, a->key, r->type);
    } else if (sl__manifest_decode(r->str, r->len, &m)) {
        rv = s_get_chunks(store, shard, a, &m);
    } else if ((rv = s_alloc(store, a, r->len)) == SL_OK) {
        a->off = a->for_value ? s_value_pad((uint8_t *) r->str, r->len) : 0;
        memcpy(a->buf + a->off, r->str, r->len);
    }
    freeReplyObject(r);
    if (rv != SL_OK) {
        free(a->buf);
        a->buf = NULL;
    }
    return rv;
}

// Fetch key's object into a->buf, from shard (negative: the key's own).
static sl_err
s_get(sl__store *store, int shard, s_get_args *a)
{
    if (shard < 0) {
        shard = sl__store_shard_of(store, a->key);
    }
    if (shard >= store->n_shards) {
        return s_fail(store, SL_EINVAL,
                      "store: %s is on shard %d, but the "
                      "store has %d",
                      a->key, shard, store->n_shards);
    }
    return s_retry(store, &store->shards[shard], s_get_op, a);
}

// ---------------------------------------------------------------------
// Refreshing a TTL.

typedef struct {
    const char *key; // the object
    char ttl[24];    // seconds, in decimal
} s_touch_args;

// EXPIRE key ttl: *found tells whether the key exists.
static sl_err
s_expire(sl__store *store, s_shard *shard, const char *key, const char *ttl,
         bool *found)
{
    const char *argv[] = {"EXPIRE", key, ttl};
    size_t lens[] = {6, strlen(key), strlen(ttl)};
    redisReply *r;
    sl_err rv = s_call(store, shard, 3, argv, lens, &r);
    if (rv == SL_OK) {
        *found = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
    }
    return rv;
}

// Read the manifest under key into *m; false when the object is not
// chunked (anything but 25 bytes is read no further than its length).
static sl_err
s_read_manifest(sl__store *store, s_shard *shard, const char *key,
                sl__manifest *m, bool *chunked)
{
    const char *argv[] = {"STRLEN", key};
    size_t lens[] = {6, strlen(key)};
    redisReply *r;
    *chunked = false;
    sl_err rv = s_call(store, shard, 2, argv, lens, &r);
    if (rv != SL_OK) {
        return rv;
    }
    bool maybe =
        r->type == REDIS_REPLY_INTEGER && r->integer == SL_MANIFEST_LEN;
    freeReplyObject(r);
    argv[0] = "GET";
    lens[0] = 3;
    if (!maybe || (rv = s_call(store, shard, 2, argv, lens, &r)) != SL_OK) {
        return rv;
    }
    *chunked =
        r->type == REDIS_REPLY_STRING && sl__manifest_decode(r->str, r->len, m);
    freeReplyObject(r);
    return SL_OK;
}

// EXPIRE every chunk, pipelined in windows like the chunk SETs.
static sl_err
s_expire_chunks(sl__store *store, s_shard *shard, const s_touch_args *a,
                const sl__manifest *m)
{
    size_t ksize = strlen(a->key) + S_CHUNK_SUFFIX;
    char *ckey = malloc(ksize);
    sl_err rv =
        ckey != NULL ? SL_OK : s_fail(store, SL_ENOMEM, "store: out of memory");
    for (uint32_t from = 0; from < m->n && rv == SL_OK; from += S_WINDOW_CMDS) {
        uint32_t to = m->n - from > S_WINDOW_CMDS ? from + S_WINDOW_CMDS : m->n;
        for (uint32_t i = from; i < to && rv == SL_OK; i++) {
            s_chunk_key(ckey, ksize, a->key, i);
            const char *argv[] = {"EXPIRE", ckey, a->ttl};
            size_t lens[] = {6, strlen(ckey), strlen(a->ttl)};
            rv = s_append(store, shard, 3, argv, lens, NULL);
        }
        for (uint32_t i = from; i < to && rv == SL_OK; i++) {
            redisReply *r;
            if ((rv = s_read(store, shard, "EXPIRE chunk", &r)) == SL_OK) {
                freeReplyObject(r);
            }
        }
        if (rv != SL_OK) {
            s_drop(shard); // replies may be left unread
        }
    }
    free(ckey);
    return rv;
}

static sl_err
s_touch_op(sl__store *store, s_shard *shard, void *arg)
{
    s_touch_args *a = arg;
    bool found, chunked;
    sl__manifest m;
    sl_err rv = s_shard_ready(store, shard);
    if (rv == SL_OK) {
        rv = s_expire(store, shard, a->key, a->ttl, &found);
    }
    if (rv == SL_OK && !found) {
        return s_fail(store, SL_ENOTFOUND, "store %s: no object %s",
                      shard->addr, a->key);
    }
    if (rv == SL_OK) {
        rv = s_read_manifest(store, shard, a->key, &m, &chunked);
    }
    if (rv == SL_OK && chunked) {
        rv = s_expire_chunks(store, shard, a, &m);
    }
    return rv;
}

// ---------------------------------------------------------------------
// Deleting by prefix.

// prefix with the glob characters of SCAN MATCH escaped, then "*".
static char *
s_match_pattern(const char *prefix)
{
    char *pat = malloc(2 * strlen(prefix) + 2);
    char *q = pat;
    if (pat == NULL) {
        return NULL;
    }
    for (const char *p = prefix; *p; p++) {
        if (strchr("*?[]\\", *p) != NULL) {
            *q++ = '\\';
        }
        *q++ = *p;
    }
    *q++ = '*';
    *q = '\0';
    return pat;
}

// UNLINK the keys of one SCAN page.
static sl_err
s_unlink_page(sl__store *store, s_shard *shard, const redisReply *keys)
{
    if (keys->elements == 0) {
        return SL_OK;
    }
    size_t n = keys->elements + 1;
    const char **argv = malloc(n * sizeof(*argv));
    size_t *lens = malloc(n * sizeof(*lens));
    sl_err rv = SL_ENOMEM;
    redisReply *r;
    if (argv == NULL || lens == NULL || n > INT_MAX) {
        s_fail(store, rv, "store: out of memory");
        goto done;
    }
    argv[0] = "UNLINK";
    lens[0] = 6;
    for (size_t i = 1; i < n; i++) {
        argv[i] = keys->element[i - 1]->str;
        lens[i] = keys->element[i - 1]->len;
    }
    if ((rv = s_call(store, shard, (int) n, argv, lens, &r)) == SL_OK) {
        freeReplyObject(r);
    }

done:
    free(argv);
    free(lens);
    return rv;
}

// A SCAN reply is [cursor, [key...]], every key a string.
static bool
s_scan_reply_ok(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        return false;
    }
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        if (r->element[1]->element[i]->type != REDIS_REPLY_STRING) {
            return false;
        }
    }
    return true;
}

static sl_err
s_delete_op(sl__store *store, s_shard *shard, void *arg)
{
    const char *pattern = arg;
    char cursor[32] = "0";
    sl_err rv = SL_OK;
    do {
        const char *argv[] = {"SCAN",  cursor,  "MATCH",
                              pattern, "COUNT", S_SCAN_COUNT};
        size_t lens[] = {4, strlen(cursor),      5, strlen(pattern),
                         5, strlen(S_SCAN_COUNT)};
        redisReply *r;
        if ((rv = s_call(store, shard, 6, argv, lens, &r)) != SL_OK) {
            break;
        }
        if (!s_scan_reply_ok(r) || r->element[0]->len >= sizeof(cursor)) {
            rv = s_fail(store, SL_ESTORE, "store %s: SCAN: unexpected reply",
                        shard->addr);
        } else {
            sl__strlcpy(cursor, r->element[0]->str, sizeof(cursor));
            rv = s_unlink_page(store, shard, r->element[1]);
        }
        freeReplyObject(r);
    } while (rv == SL_OK && strcmp(cursor, "0") != 0);
    return rv;
}

// ---------------------------------------------------------------------
// The API.

void
sl__store_destroy(sl__store **store_p)
{
    sl__store *store = *store_p;
    if (store == NULL) {
        return;
    }
    for (int i = 0; i < store->n_shards; i++) {
        redisFree(store->shards[i].ctx);
    }
    free(store->password);
    free(store);
    *store_p = NULL;
}

static sl_err
s_configure(sl__store *store, const sl__store_opts *opts)
{
    if (opts == NULL || opts->n_addrs < 1 ||
        opts->n_addrs > SL_STORE_MAX_SHARDS || opts->ttl_s < 0 ||
        opts->timeout_ms < 0) {
        return s_fail(store, SL_EINVAL,
                      "store: bad options (1 to %d shards, "
                      "a TTL and a timeout >= 0)",
                      SL_STORE_MAX_SHARDS);
    }
    store->n_shards = opts->n_addrs;
    for (int i = 0; i < opts->n_addrs; i++) {
        if (s_parse_addr(&store->shards[i], opts->addrs[i]) != SL_OK) {
            return s_fail(store, SL_EINVAL,
                          "store: bad address \"%s\" "
                          "(want host:port)",
                          opts->addrs[i] != NULL ? opts->addrs[i] : "(null)");
        }
    }
    if (opts->password != NULL && opts->password[0] != '\0' &&
        (store->password = strdup(opts->password)) == NULL) {
        return s_fail(store, SL_ENOMEM, "store: out of memory");
    }
    sl__fmt(store->ttl_arg, sizeof(store->ttl_arg), "%d",
            opts->ttl_s > 0 ? opts->ttl_s : SL_STORE_TTL_DEFAULT);
    store->chunk_bytes =
        opts->chunk_bytes > 0 ? opts->chunk_bytes : SL_STORE_CHUNK_DEFAULT;
    int ms = opts->timeout_ms > 0 ? opts->timeout_ms : 10000;
    store->timeout.tv_sec = ms / 1000;
    store->timeout.tv_usec = (ms % 1000) * 1000;
    return SL_OK;
}

sl_err
sl__store_connect(sl__store **out, const sl__store_opts *opts,
                  char errbuf[SL_ERRSTR_LEN])
{
    sl__store *store = calloc(1, sizeof(*store));
    sl_err rv = SL_ENOMEM;
    *out = NULL;
    if (store == NULL) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "store: out of memory");
        return rv;
    }
    sl__strlcpy(store->errstr, "no error", sizeof(store->errstr));
    if ((rv = s_configure(store, opts)) != SL_OK) {
        goto fail;
    }
    for (int i = 0; i < store->n_shards; i++) {
        if ((rv = s_shard_connect(store, &store->shards[i])) != SL_OK) {
            goto fail;
        }
    }
    *out = store;
    return SL_OK;

fail:
    sl__strlcpy(errbuf, store->errstr, SL_ERRSTR_LEN);
    sl__store_destroy(&store);
    return rv;
}

const char *
sl__store_errstr(const sl__store *store)
{
    return store != NULL ? store->errstr : "no store";
}

int
sl__store_shards(const sl__store *store)
{
    return store->n_shards;
}

int
sl__store_shard_of(const sl__store *store, const char *key)
{
    // FNV-1a, 64 bits: cheap, and it spreads keys that differ only in
    // their last digits.
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
        h = (h ^ *p) * 1099511628211ull;
    }
    return (int) (h % (uint64_t) store->n_shards);
}

sl_err
sl__store_put(sl__store *store, const char *key, const void *buf, size_t len,
              bool nx, bool *stored_out)
{
    return sl__store_put_ttl(store, key, buf, len, nx, 0, stored_out);
}

// Store data under key; a TTL of ttl_s seconds (0: the store's).
static sl_err
s_put_span(sl__store *store, const char *key, const s_span *data, bool nx,
           int ttl_s, bool *stored_out)
{
    char ttl[24];
    sl__fmt(ttl, sizeof(ttl), "%d", ttl_s);
    s_put_args a = {.key = key,
                    .data = *data,
                    .nx = nx,
                    .ttl = ttl_s > 0 ? ttl : store->ttl_arg};
    s_shard *shard = &store->shards[sl__store_shard_of(store, key)];
    sl_err rv = s_retry(store, shard, s_put_op, &a);
    if (stored_out != NULL) {
        *stored_out = rv == SL_OK && a.stored;
    }
    return rv;
}

sl_err
sl__store_put_ttl(sl__store *store, const char *key, const void *buf,
                  size_t len, bool nx, int ttl_s, bool *stored_out)
{
    if (store == NULL || key == NULL || key[0] == '\0' ||
        (buf == NULL && len > 0) || ttl_s < 0) {
        return store != NULL ? s_fail(store, SL_EINVAL,
                                      "store: put needs a "
                                      "key and a buffer")
                             : SL_EINVAL;
    }
    s_span data = s_span_of(buf != NULL ? buf : "", len);
    return s_put_span(store, key, &data, nx, ttl_s, stored_out);
}

sl_err
sl__store_get(sl__store *store, const char *key, int shard, void **buf_out,
              size_t *len_out)
{
    if (store == NULL || key == NULL || buf_out == NULL || len_out == NULL) {
        return store != NULL ? s_fail(store, SL_EINVAL,
                                      "store: get needs a "
                                      "key")
                             : SL_EINVAL;
    }
    s_get_args a = {key, SIZE_MAX, false, NULL, 0, 0};
    sl_err rv = s_get(store, shard, &a);
    if (rv == SL_OK) {
        *buf_out = a.buf;
        *len_out = a.len;
    }
    return rv;
}

sl_err
sl__store_put_value(sl__store *store, const char *key, const sl_value *v,
                    bool nx, sl_value **ref_out)
{
    void *head = NULL;
    const void *tail;
    size_t head_len, tail_len;
    if (store == NULL || key == NULL || key[0] == '\0' || v == NULL ||
        ref_out == NULL) {
        return store != NULL ? s_fail(store, SL_EINVAL,
                                      "store: put_value "
                                      "needs a key and a value")
                             : SL_EINVAL;
    }
    // A large ndarray's elements go from where they are, not from a copy.
    sl_err rv = sl__value_encode_split(v, &head, &head_len, &tail, &tail_len);
    if (rv != SL_OK) {
        s_fail(store, rv, "store: %s: cannot encode the value: %s", key,
               sl_strerror(rv));
        goto done;
    }
    s_span data = {{head, tail}, {head_len, tail_len}};
    if ((rv = s_put_span(store, key, &data, nx, 0, NULL)) != SL_OK) {
        goto done;
    }
    *ref_out = sl__value_new_ref(key, head_len + tail_len,
                                 sl__store_shard_of(store, key));
    if (*ref_out == NULL) {
        rv = s_fail(store, SL_ENOMEM, "store: out of memory");
    }

done:
    free(head);
    return rv;
}

sl_err
sl__store_get_blob(sl__store *store, const sl_value *ref, const sl__limits *lim,
                   sl__blob **blob_out, size_t *off, size_t *len)
{
    if (store == NULL || ref == NULL || ref->type != SL_REF ||
        blob_out == NULL || off == NULL || len == NULL) {
        return store != NULL
                   ? s_fail(store, SL_EINVAL, "store: get needs a ref")
                   : SL_EINVAL;
    }
    lim = lim != NULL ? lim : &sl__limits_default;
    s_get_args a = {ref->u.ref.key, lim->max_message, true, NULL, 0, 0};
    sl_err rv = s_get(store, ref->u.ref.shard, &a);
    if (rv != SL_OK) {
        return rv;
    }
    // The blob owns the buffer; values decoded in place hold it.
    if ((*blob_out = sl__blob_new(a.buf, a.off + a.len, s_buf_free,
                                  (void *) (uintptr_t) s_buf_size(a.len))) ==
        NULL) {
        free(a.buf);
        return s_fail(store, SL_ENOMEM, "store: out of memory");
    }
    *off = a.off;
    *len = a.len;
    return SL_OK;
}

sl_err
sl__store_decode_blob(sl__store *store, const sl_value *ref,
                      const sl__limits *lim, sl__blob *blob, size_t off,
                      size_t len, sl_value **out)
{
    char errbuf[SL_ERRSTR_LEN];
    lim = lim != NULL ? lim : &sl__limits_default;
    sl_err rv = sl__value_decode_buf((const uint8_t *) blob->data + off, len,
                                     lim, blob, out, errbuf);
    if (rv != SL_OK) {
        s_fail(store, rv, "store: %s: cannot decode: %s", ref->u.ref.key,
               errbuf);
    }
    return rv;
}

sl_err
sl__store_get_value(sl__store *store, const sl_value *ref,
                    const sl__limits *lim, sl_value **out)
{
    sl__blob *blob;
    size_t off, len;
    sl_err rv = out != NULL
                    ? sl__store_get_blob(store, ref, lim, &blob, &off, &len)
                    : SL_EINVAL;
    if (rv == SL_OK) {
        rv = sl__store_decode_blob(store, ref, lim, blob, off, len, out);
        sl__blob_release(&blob);
    }
    return rv;
}

sl_err
sl__store_touch(sl__store *store, const char *key, int ttl_s)
{
    if (store == NULL || key == NULL || key[0] == '\0' || ttl_s < 0) {
        return store != NULL
                   ? s_fail(store, SL_EINVAL, "store: touch needs a key")
                   : SL_EINVAL;
    }
    s_touch_args a = {key, ""};
    sl__fmt(a.ttl, sizeof(a.ttl), "%s", store->ttl_arg);
    if (ttl_s > 0) {
        sl__fmt(a.ttl, sizeof(a.ttl), "%d", ttl_s);
    }
    s_shard *shard = &store->shards[sl__store_shard_of(store, key)];
    return s_retry(store, shard, s_touch_op, &a);
}

sl_err
sl__store_delete_prefix(sl__store *store, const char *prefix)
{
    // An empty prefix would match every key of the server, not only ours.
    if (store == NULL || prefix == NULL || prefix[0] == '\0') {
        return store != NULL ? s_fail(store, SL_EINVAL,
                                      "store: delete needs "
                                      "a prefix")
                             : SL_EINVAL;
    }
    char *pattern = s_match_pattern(prefix);
    if (pattern == NULL) {
        return s_fail(store, SL_ENOMEM, "store: out of memory");
    }
    sl_err rv = SL_OK;
    for (int i = 0; i < store->n_shards && rv == SL_OK; i++) {
        rv = s_retry(store, &store->shards[i], s_delete_op, pattern);
    }
    free(pattern);
    return rv;
}

void
sl__store_result_key(char *buf, uint64_t job, uint32_t index)
{
    sl__fmt(buf, SL_STORE_KEY_LEN, "sl:j%016llx:r%u", (unsigned long long) job,
            index);
}

void
sl__store_object_key(char *buf, uint64_t session, uint64_t seq)
{
    sl__fmt(buf, SL_STORE_KEY_LEN, "sl:s%016llx:%llu",
            (unsigned long long) session, (unsigned long long) seq);
}

void
sl__store_job_prefix(char *buf, uint64_t job)
{
    sl__fmt(buf, SL_STORE_KEY_LEN, "sl:j%016llx:", (unsigned long long) job);
}

void
sl__store_session_prefix(char *buf, uint64_t session)
{
    sl__fmt(buf, SL_STORE_KEY_LEN,
            "sl:s%016llx:", (unsigned long long) session);
}

void
sl__store_module_key(char *buf, const char *hash)
{
    sl__fmt(buf, SL_STORE_KEY_LEN, "sl:m%.64s", hash);
}
