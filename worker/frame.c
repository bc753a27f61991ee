// frame.c - the frames between a worker and its executor processes.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - A frame is read whole or not at all: a length over the reader's
//   maximum is refused before anything is allocated for it, and a frame
//   cut short (EOF, or a stall past S_FRAME_TIMEOUT_MS) is an error, not
//   a shorter frame. Either way the caller gives up on the peer: after a
//   bad frame there is no telling where the next one starts.
// - Nothing here trusts the payload: decoders check every field against
//   the bytes left, as the wire codec does (serialize/msg.h).
#define _GNU_SOURCE
#include "frame.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "../serialize/msg.h"

// A frame that has begun must arrive whole within this (the peer wrote it
// in one go; only a wedged or hostile peer takes longer).
#define S_FRAME_TIMEOUT_MS 10000

void
sl__frame_header(uint8_t hdr[SL_FRAME_HEADER], size_t len)
{
    assert(len <= UINT32_MAX);
    hdr[0] = (uint8_t) len;
    hdr[1] = (uint8_t) (len >> 8);
    hdr[2] = (uint8_t) (len >> 16);
    hdr[3] = (uint8_t) (len >> 24);
}

sl_err
sl__frame_length(const uint8_t hdr[SL_FRAME_HEADER], size_t max, size_t *len)
{
    size_t n = (size_t) hdr[0] | (size_t) hdr[1] << 8 | (size_t) hdr[2] << 16 |
               (size_t) hdr[3] << 24;
    if (n > max) {
        return SL_ELIMIT;
    }
    *len = n;
    return SL_OK;
}

// Advance the iovecs of mh past n bytes written.
static void
s_iov_advance(struct msghdr *mh, size_t n)
{
    while (n > 0 && mh->msg_iovlen > 0) {
        size_t take = n < mh->msg_iov->iov_len ? n : mh->msg_iov->iov_len;
        mh->msg_iov->iov_base = (uint8_t *) mh->msg_iov->iov_base + take;
        mh->msg_iov->iov_len -= take;
        n -= take;
        if (mh->msg_iov->iov_len == 0) {
            mh->msg_iov++;
            mh->msg_iovlen--;
        }
    }
}

sl_err
sl__frame_send(int fd, const void *buf, size_t len)
{
    uint8_t hdr[SL_FRAME_HEADER];
    sl__frame_header(hdr, len);
    struct iovec iov[2] = {{hdr, SL_FRAME_HEADER}, {(void *) buf, len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    size_t left = len + SL_FRAME_HEADER;
    while (left > 0) {
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return SL_EIO;
        }
        left -= (size_t) n;
        s_iov_advance(&mh, (size_t) n);
    }
    return SL_OK;
}

// Read exactly len bytes; wait at most timeout_ms (-1: forever) for each
// piece. Returns the bytes read before EOF, or -1 on error or timeout.
static ssize_t
s_read_full(int fd, uint8_t *buf, size_t len, int timeout_ms)
{
    size_t got = 0;
    while (got < len) {
        // Usually the bytes are there (the peer wrote the frame at once):
        // take them without a poll first.
        ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t) n;
            continue;
        }
        if (n == 0) {
            return (ssize_t) got;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return -1;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int rc = poll(&p, 1, timeout_ms);
        if (rc == 0 || (rc < 0 && errno != EINTR)) {
            return -1; // timed out, or broken
        }
    }
    return (ssize_t) got;
}

sl_err
sl__frame_recv(int fd, sl__frame *f, size_t max, int timeout_ms, bool *eof)
{
    uint8_t hdr[SL_FRAME_HEADER];
    size_t len;
    *eof = false;
    ssize_t n = s_read_full(fd, hdr, SL_FRAME_HEADER, timeout_ms);
    if (n == 0) {
        *eof = true;
        return SL_EIO;
    }
    if (n != SL_FRAME_HEADER || sl__frame_length(hdr, max, &len) != SL_OK) {
        return SL_EIO;
    }
    if (len > f->cap) {
        f->data = sl__xrealloc(f->data, len);
        f->cap = len;
    }
    if (s_read_full(fd, f->data, len, S_FRAME_TIMEOUT_MS) != (ssize_t) len) {
        return SL_EIO;
    }
    f->len = len;
    return SL_OK;
}

void
sl__frame_fini(sl__frame *f)
{
    free(f->data);
    memset(f, 0, sizeof(*f));
}

// ---------------------------------------------------------------------
// The init frame.

void
sl__frame_init_encode(sl__mpw *w, const sl__store_opts *store,
                      uint32_t inline_max, const char *tier_cluster,
                      const char *tier_node)
{
    sl__welcome m = {0};
    m.inline_max = inline_max;
    const char *password = store->password != NULL ? store->password : "";
    m.password.p = password;
    m.password.len = (uint32_t) strlen(password);
    m.n_stores = (uint32_t) store->n_addrs;
    for (uint32_t i = 0; i < m.n_stores; i++) {
        m.stores[i].p = store->addrs[i];
        m.stores[i].len = (uint32_t) strlen(store->addrs[i]);
    }
    sl__msg_welcome(w, &m);
    sl__mpw_str(w, tier_cluster != NULL ? tier_cluster : "");
    sl__mpw_str(w, tier_node != NULL ? tier_node : "");
}

sl_err
sl__frame_init_decode(const void *buf, size_t len, sl__frame_init *out)
{
    sl__mpr r;
    uint32_t type, nfields;
    sl__welcome m;
    char errbuf[SL_ERRSTR_LEN];
    sl__mpr_init(&r, buf, len);
    if (sl__msg_open(&r, &type, &nfields, errbuf) != SL_OK ||
        type != SL_MSG_WELCOME ||
        sl__msg_welcome_decode(&r, &m, errbuf) != SL_OK ||
        m.n_stores > SL_STORE_MAX_SHARDS) {
        return SL_EPROTO;
    }
    sl__store_where_from_welcome(&out->store, &m);
    out->inline_max = m.inline_max;
    const char *cluster, *node;
    uint32_t cluster_len, node_len;
    if (sl__mpr_str(&r, &cluster, &cluster_len) != 0 ||
        sl__mpr_str(&r, &node, &node_len) != 0 ||
        cluster_len >= sizeof(out->tier_cluster) ||
        node_len >= sizeof(out->tier_node)) {
        return SL_EPROTO;
    }
    memcpy(out->tier_cluster, cluster, cluster_len);
    out->tier_cluster[cluster_len] = '\0';
    memcpy(out->tier_node, node, node_len);
    out->tier_node[node_len] = '\0';
    return SL_OK;
}

// ---------------------------------------------------------------------
// The batch frame.

void
sl__frame_batch_begin(sl__mpw *w, uint64_t job, const char *function,
                      size_t function_len, uint32_t time_limit_ms,
                      const char *home, size_t home_len, uint32_t n_tasks)
{
    assert(w->buf.size == 0);
    assert(n_tasks >= 1 && n_tasks <= SL_FRAME_BATCH_MAX);
    // The header is laid out as a TASKS group: job, function, time limit,
    // home, then the tasks (here [index, attempt, arg_len] each).
    sl__msg_task_group(w, job, function, function_len, time_limit_ms, home,
                       home_len, n_tasks);
}

void
sl__frame_batch_task(sl__mpw *w, uint32_t index, uint32_t attempt,
                     size_t arg_len, size_t inputs_len)
{
    msgpack_pack_array(&w->pk, inputs_len > 0 ? 4 : 3);
    msgpack_pack_uint32(&w->pk, index);
    msgpack_pack_uint32(&w->pk, attempt);
    msgpack_pack_uint64(&w->pk, arg_len);
    if (inputs_len > 0) {
        msgpack_pack_uint64(&w->pk, inputs_len);
    }
}

// Bytes to add at off to reach the next argument's place.
static size_t
s_pad(size_t off)
{
    return (SL_FRAME_ARG_ALIGN - off % SL_FRAME_ARG_ALIGN) % SL_FRAME_ARG_ALIGN;
}

void
sl__frame_batch_arg(sl__mpw *w, const void *arg, size_t len, const void *inputs,
                    size_t inputs_len)
{
    static const uint8_t zeros[SL_FRAME_ARG_ALIGN];
    sl__mpw_raw(w, zeros, s_pad(w->buf.size));
    sl__mpw_raw(w, arg, len);
    if (inputs_len > 0) {
        sl__mpw_raw(w, inputs, inputs_len);
    }
}

static sl_err
s_bad_batch(char *errbuf, const char *what)
{
    sl__fmt(errbuf, SL_ERRSTR_LEN, "malformed batch frame: %s", what);
    return SL_EPROTO;
}

// The header's task entries; each item's arg is set to NULL and its
// length checked against what the payload has at most.
static sl_err
s_batch_tasks(sl__mpr *r, sl__task_group *g, sl__task_item *items, char *errbuf)
{
    for (uint32_t i = 0; i < g->n_tasks; i++) {
        uint32_t n;
        uint64_t arg_len, inputs_len = 0;
        if (sl__mpr_array(r, &n) != 0 || (n != 3 && n != 4) ||
            sl__mpr_u32(r, &items[i].index) != 0 ||
            sl__mpr_u32(r, &items[i].attempt) != 0 ||
            sl__mpr_u64(r, &arg_len) != 0 || arg_len > sl__mpr_left(r) ||
            (n == 4 && (sl__mpr_u64(r, &inputs_len) != 0 || inputs_len == 0 ||
                        inputs_len > sl__mpr_left(r)))) {
            return s_bad_batch(errbuf, "task entry");
        }
        items[i].arg = NULL;
        items[i].arg_len = (size_t) arg_len;
        items[i].inputs = NULL;
        items[i].inputs_len = (size_t) inputs_len;
    }
    return SL_OK;
}

// Point each item at its argument, after the header at off; they must
// end where the payload does.
static sl_err
s_batch_args(const uint8_t *buf, size_t len, size_t off, sl__task_group *g,
             sl__task_item *items, char *errbuf)
{
    for (uint32_t i = 0; i < g->n_tasks; i++) {
        size_t pad = s_pad(off);
        if (pad > len - off || items[i].arg_len > len - off - pad ||
            items[i].inputs_len > len - off - pad - items[i].arg_len) {
            return s_bad_batch(errbuf, "arguments past its end");
        }
        off += pad;
        items[i].arg = buf + off;
        off += items[i].arg_len;
        if (items[i].inputs_len > 0) {
            items[i].inputs = buf + off;
            off += items[i].inputs_len;
        }
    }
    if (off != len) {
        return s_bad_batch(errbuf, "bytes after the last argument");
    }
    return SL_OK;
}

sl_err
sl__frame_batch_decode(const void *buf, size_t len, sl__task_group *g,
                       sl__task_item *items, char errbuf[SL_ERRSTR_LEN])
{
    sl__mpr r;
    uint32_t n;
    const char *function, *home;
    sl__mpr_init(&r, buf, len);
    if (sl__mpr_array(&r, &n) != 0 || n != 5 || sl__mpr_u64(&r, &g->job) != 0 ||
        sl__mpr_str(&r, &function, &g->function.len) != 0 ||
        sl__mpr_u32(&r, &g->time_limit_ms) != 0 ||
        sl__mpr_str(&r, &home, &g->home.len) != 0 ||
        sl__mpr_array(&r, &g->n_tasks) != 0) {
        return s_bad_batch(errbuf, "header");
    }
    g->function.p = function;
    g->home.p = home;
    if (!sl__msg_home_ok(g->home.p, g->home.len)) {
        return s_bad_batch(errbuf, "home (a node name: at most 64 bytes, "
                                   "no NUL)");
    }
    if (g->n_tasks == 0 || g->n_tasks > SL_FRAME_BATCH_MAX) {
        return s_bad_batch(errbuf, "no task, or too many");
    }
    sl_err rv = s_batch_tasks(&r, g, items, errbuf);
    if (rv != SL_OK) {
        return rv;
    }
    size_t off = (size_t) (r.p - (const uint8_t *) buf);
    return s_batch_args(buf, len, off, g, items, errbuf);
}
