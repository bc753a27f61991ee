// http.c - the scheduler's HTTP server (libmicrohttpd): routes, the
// bearer token, the limits, and the snapshots it renders from.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - One internal thread of libmicrohttpd serves every connection, with
//   epoll (MHD_USE_AUTO_INTERNAL_THREAD). A request is answered from the
//   latest snapshot in microseconds and never blocks, so one thread is
//   enough, and a slow client is only an idle socket in the epoll set:
//   it holds one connection, never the thread. (Thread per connection
//   would let a few slow clients cost a thread each; a thread pool buys
//   nothing when no handler waits.) The thread never touches the loop's
//   structures: it sees the board (snapshot.h) and nothing else.
// - No endpoint takes a body. A request that says it carries more than
//   S_MAX_BODY bytes (Content-Length), or has a Transfer-Encoding
//   (chunked: its size unknown), gets 413 as soon as its headers are in,
//   before any of the body is read (MHD then closes the connection); a
//   smaller body is read and dropped. Every refusal is answered that
//   early; a good request once it is all in, so that its connection can
//   carry the next. Request headers live in the connection's memory
//   (S_CONNECTION_MEMORY): past it MHD itself answers 431 (414 for the
//   URL alone).
// - Limits: S_MAX_CONNECTIONS in all, S_MAX_PER_IP from one address (MHD
//   refuses the rest at accept), and a connection idle for S_TIMEOUT_S is
//   closed. MHD's timeout counts idleness, not age: a client that sends a
//   byte a second keeps its connection until its headers fill the
//   connection's memory, but it holds only that connection.
// - Order of the checks: the token (401, so that no one without it learns
//   which paths exist), the body (413), the path (404), the method (405,
//   with Allow).
// - The token file's first line is the token; only its SHA-256 is kept,
//   and a presented token is hashed and compared in constant time, so
//   that neither its bytes nor its length leak through timing.
// - Signals: the server's thread is started with every signal blocked, so
//   that SIGINT and SIGTERM reach the loop's thread, whose poll they
//   interrupt (czmq's handler sets zsys_interrupted).
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/sha256.h"
#include "render.h"

#define S_MAX_CONNECTIONS 64
#define S_MAX_PER_IP 16
#define S_TIMEOUT_S 10
#define S_CONNECTION_MEMORY (16u << 10)
#define S_MAX_BODY 4096
// A token shorter than this is guessable; longer is not a token.
#define S_TOKEN_MIN 16
#define S_TOKEN_MAX 1024

struct sl__http {
    struct MHD_Daemon *daemon;           // NULL until it serves
    sl__board board;                     // what the endpoints show
    bool has_token;                      // requests need the token
    uint8_t token_sha[SL_SHA256_LEN];    // the token's SHA-256
    char address[INET6_ADDRSTRLEN + 16]; // "ADDR:PORT" as bound
    atomic_bool serving;                 // started: MHD's lines are debug
    char start_err[SL_ERRSTR_LEN];       // MHD's last line while starting
};

// ---------------------------------------------------------------------
// The address.

typedef struct {
    struct sockaddr_storage sa;  // the address to bind
    bool ipv6;                   // sa is a sockaddr_in6
    bool loopback;               // 127.0.0.0/8 or ::1
    char host[INET6_ADDRSTRLEN]; // numeric, for the bound address
} s_addr;

static sl_err
s_addr_host(s_addr *a, const char *host, size_t len, char *errbuf)
{
    char buf[INET6_ADDRSTRLEN];
    struct sockaddr_in *v4 = (struct sockaddr_in *) &a->sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &a->sa;
    a->ipv6 = len >= 2 && host[0] == '[' && host[len - 1] == ']';
    if (a->ipv6) {
        host++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf)) {
        return SL_EINVAL;
    }
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (!a->ipv6 && strcmp(buf, "localhost") == 0) {
        sl__strlcpy(buf, "127.0.0.1", sizeof(buf));
    }
    if (a->ipv6 ? inet_pton(AF_INET6, buf, &v6->sin6_addr) != 1
                : inet_pton(AF_INET, buf, &v4->sin_addr) != 1) {
        return SL_EINVAL;
    }
    if (a->ipv6) {
        v6->sin6_family = AF_INET6;
        a->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
        v4->sin_family = AF_INET;
        a->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    sl__strlcpy(a->host, buf, sizeof(a->host));
    return SL_OK;
}

// "ADDR:PORT" into a. SL_EINVAL, errbuf saying what is accepted.
static sl_err
s_addr_parse(s_addr *a, const char *text, char *errbuf)
{
    memset(a, 0, sizeof(*a));
    const char *colon = strrchr(text, ':');
    int64_t port = -1;
    if (colon == NULL || !sl__parse_int(colon + 1, 0, 65535, &port) ||
        s_addr_host(a, text, (size_t) (colon - text), errbuf) != SL_OK) {
        return sl__errf(errbuf, SL_EINVAL,
                        "--http %s: want ADDR:PORT (an IPv4 address, "
                        "localhost or [IPv6], and a port from 0, any free "
                        "one, to 65535), or off",
                        text);
    }
    if (a->ipv6) {
        ((struct sockaddr_in6 *) &a->sa)->sin6_port = htons((uint16_t) port);
    } else {
        ((struct sockaddr_in *) &a->sa)->sin_port = htons((uint16_t) port);
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// The token.

static bool
s_token_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f) {
            return false;
        }
    }
    return len >= S_TOKEN_MIN && len <= S_TOKEN_MAX;
}

// The first line of path, a file no one else may read, as the token.
static sl_err
s_token_load(sl__http *self, const char *path, char *errbuf)
{
    char line[S_TOKEN_MAX + 2] = "";
    struct stat st;
    FILE *f = fopen(path, "r");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        sl_err rv = sl__errf(errbuf, SL_EIO, "--http-token-file %s: %s", path,
                             strerror(errno));
        if (f != NULL) {
            fclose(f);
        }
        return rv;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        fclose(f);
        return sl__errf(errbuf, SL_EAUTH,
                        "--http-token-file %s: mode %03o: a token must be a "
                        "file no one else may read (chmod 600 %s)",
                        path, (unsigned) (st.st_mode & 0777), path);
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        line[0] = '\0';
    }
    fclose(f);
    size_t len = strcspn(line, "\r\n");
    if (!s_token_ok(line, len)) {
        explicit_bzero(line, sizeof(line));
        return sl__errf(errbuf, SL_EAUTH,
                        "--http-token-file %s: its first line must be the "
                        "token: %d to %d printable characters, no spaces "
                        "(e.g. from `openssl rand -hex 32`)",
                        path, S_TOKEN_MIN, S_TOKEN_MAX);
    }
    sl__sha256 h;
    sl__sha256_init(&h);
    sl__sha256_update(&h, line, len);
    sl__sha256_final(&h, self->token_sha);
    explicit_bzero(line, sizeof(line));
    self->has_token = true;
    return SL_OK;
}

// Whether the request carries "Authorization: Bearer <the token>".
static bool
s_authorized(const sl__http *self, struct MHD_Connection *c)
{
    if (!self->has_token) {
        return true;
    }
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0) {
        return false;
    }
    v += 7;
    v += strspn(v, " ");
    size_t len = strcspn(v, " \t");
    uint8_t sha[SL_SHA256_LEN];
    sl__sha256 h;
    sl__sha256_init(&h);
    sl__sha256_update(&h, v, len);
    sl__sha256_final(&h, sha);
    uint8_t diff = 0;
    for (int i = 0; i < SL_SHA256_LEN; i++) {
        diff |= (uint8_t) (sha[i] ^ self->token_sha[i]);
    }
    return diff == 0 && v[len + strspn(v + len, " \t")] == '\0';
}

// ---------------------------------------------------------------------
// Answers.

// Queue body (len bytes, malloc'd: the response frees it) with status.
static enum MHD_Result
s_reply(struct MHD_Connection *c, unsigned status, const char *type, char *body,
        size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (r == NULL) {
        free(body);
        return MHD_NO; // out of memory: MHD closes the connection
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    // Live figures: a cache or a browser must never show old ones.
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    } else if (status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"starling\"");
    }
    enum MHD_Result rv = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rv;
}

// A short plain-text answer: an error, with what to do.
static enum MHD_Result
s_reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    sl__text t;
    size_t len;
    sl__text_init(&t);
    sl__text_addf(&t, "%u %s\n", status, text);
    char *body = sl__text_take(&t, &len);
    return s_reply(c, status, "text/plain; charset=utf-8", body, len);
}

// ---------------------------------------------------------------------
// Routes.

static void
s_render_metrics(sl__text *t, const sl__snapshot *snap, int64_t now_ms)
{
    sl__render_metrics(t, snap);
}

static void
s_render_index(sl__text *t, const sl__snapshot *snap, int64_t now_ms)
{
    // Until the dashboard exists: where the endpoints are.
    sl__text_adds(t, "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
                     "<title>starling</title></head><body>\n"
                     "<h1>starling scheduler</h1>\n<ul>\n"
                     "<li><a href=\"/metrics\">/metrics</a>: Prometheus "
                     "text format</li>\n"
                     "<li><a href=\"/api/status\">/api/status</a>: the "
                     "cluster's figures (JSON)</li>\n"
                     "<li><a href=\"/api/workers\">/api/workers</a>: each "
                     "worker (JSON)</li>\n"
                     "</ul>\n</body></html>\n");
}

typedef struct {
    const char *path; // exact, no query string
    const char *type; // Content-Type of the answer
    void (*render)(sl__text *t, const sl__snapshot *snap, int64_t now_ms);
} s_route;

static const s_route s_routes[] = {
    {"/", "text/html; charset=utf-8", s_render_index},
    {"/metrics", SL_RENDER_METRICS_TYPE, s_render_metrics},
    {"/api/status", "application/json", sl__render_status},
    {"/api/workers", "application/json", sl__render_workers},
};

static const s_route *
s_route_find(const char *url)
{
    for (size_t i = 0; i < sizeof(s_routes) / sizeof(s_routes[0]); i++) {
        if (strcmp(url, s_routes[i].path) == 0) {
            return &s_routes[i];
        }
    }
    return NULL;
}

static enum MHD_Result
s_serve(sl__http *self, struct MHD_Connection *c, const s_route *route)
{
    sl__snapshot *snap = sl__board_acquire(&self->board);
    if (snap == NULL) {
        return s_reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "no figures yet: try again");
    }
    sl__text t;
    size_t len;
    sl__text_init(&t);
    route->render(&t, snap, sl__mono_ms());
    sl__board_release(&self->board, &snap);
    char *body = sl__text_take(&t, &len);
    return s_reply(c, MHD_HTTP_OK, route->type, body, len);
}

// Whether the request says it carries a body over S_MAX_BODY bytes, or
// has a Transfer-Encoding (chunked), which gives no size at all.
static bool
s_body_too_large(struct MHD_Connection *c)
{
    const char *te = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *cl = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t n = 0;
    return te != NULL || (cl != NULL && (!sl__parse_int(cl, 0, INT64_MAX, &n) ||
                                         n > S_MAX_BODY));
}

// The first call for a request (its headers are in): a refusal is
// answered at once, without reading a body; NULL when the request is
// good.
static const char *
s_refusal(sl__http *self, struct MHD_Connection *c, const char *url,
          const char *method, unsigned *status)
{
    if (!s_authorized(self, c)) {
        *status = MHD_HTTP_UNAUTHORIZED;
        return "unauthorized: send Authorization: Bearer <the token of "
               "--http-token-file>";
    }
    if (s_body_too_large(c)) {
        *status = MHD_HTTP_CONTENT_TOO_LARGE;
        return "request too large: no endpoint takes a body";
    }
    if (s_route_find(url) == NULL) {
        *status = MHD_HTTP_NOT_FOUND;
        return "not found: try /metrics, /api/status or /api/workers";
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        *status = MHD_HTTP_METHOD_NOT_ALLOWED;
        return "method not allowed: GET or HEAD";
    }
    return NULL;
}

// MHD calls this once when a request's headers are in, then once per
// piece of its body, then once more with none left. A good request is
// answered at that last call, so that the connection can carry the next
// one (keep-alive); a refusal at the first.
static enum MHD_Result
s_on_request(void *cls, struct MHD_Connection *c, const char *url,
             const char *method, const char *version, const char *upload_data,
             size_t *upload_data_size, void **req_cls)
{
    static int checked; // *req_cls of a request that passed s_refusal
    sl__http *self = cls;
    if (*req_cls == NULL) {
        unsigned status = 0;
        const char *why = s_refusal(self, c, url, method, &status);
        if (why != NULL) {
            return s_reply_text(c, status, why);
        }
        *req_cls = &checked;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; // at most S_MAX_BODY bytes, ignored
        return MHD_YES;
    }
    return s_serve(self, c, s_route_find(url));
}

// ---------------------------------------------------------------------
// Life cycle.

// MHD's messages. While it starts they say why it could not (a bind that
// failed): kept for errbuf, and logged. Once it serves they are about
// clients (a connection reset, a request too large): debug lines, so
// that no client can fill our log.
static void
s_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    sl__http *self = cls;
    char line[SL_ERRSTR_LEN];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    if (atomic_load(&self->serving)) {
        sl__log_debug("http: %s", line);
    } else {
        sl__strlcpy(self->start_err, line, sizeof(self->start_err));
    }
}

static sl_err
s_start(sl__http *self, const s_addr *a, char *errbuf)
{
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (a->ipv6 ? MHD_USE_IPv6 : 0);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); // the thread inherits the mask
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_on_request, self, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *) &a->sa, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned) S_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned) S_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned) S_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t) S_CONNECTION_MEMORY, MHD_OPTION_EXTERNAL_LOGGER, s_on_mhd_log,
        self, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (self->daemon == NULL) {
        return sl__errf(errbuf, SL_EIO, "cannot serve HTTP on %s%s%s:%u: %s",
                        a->ipv6 ? "[" : "", a->host, a->ipv6 ? "]" : "",
                        ntohs(a->ipv6
                                  ? ((struct sockaddr_in6 *) &a->sa)->sin6_port
                                  : ((struct sockaddr_in *) &a->sa)->sin_port),
                        self->start_err[0] ? self->start_err : "unknown error");
    }
    atomic_store(&self->serving, true);
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    sl__fmt(self->address, sizeof(self->address), "%s%s%s:%u",
            a->ipv6 ? "[" : "", a->host, a->ipv6 ? "]" : "",
            info != NULL ? (unsigned) info->port : 0u);
    return SL_OK;
}

sl_err
sl__http_new(sl__http **out, const sl__http_opts *opts, sl__snapshot **first_p,
             char errbuf[SL_ERRSTR_LEN])
{
    sl__http *self = sl__xcalloc(1, sizeof(*self));
    sl__board_init(&self->board);
    sl__board_publish(&self->board, first_p); // no reader yet: never busy
    s_addr a;
    sl_err rv = s_addr_parse(&a, opts->address, errbuf);
    if (rv == SL_OK && opts->token_file != NULL) {
        rv = s_token_load(self, opts->token_file, errbuf);
    }
    if (rv == SL_OK && !a.loopback && !self->has_token) {
        rv = sl__errf(errbuf, SL_EINVAL,
                      "--http %s is not a loopback address: whoever reaches "
                      "it would see the cluster, so it needs "
                      "--http-token-file FILE (requests then send "
                      "Authorization: Bearer <its first line>)",
                      opts->address);
    }
    if (rv == SL_OK) {
        rv = s_start(self, &a, errbuf);
    }
    if (rv != SL_OK) {
        sl__http_destroy(&self);
        return rv;
    }
    *out = self;
    return SL_OK;
}

bool
sl__http_publish(sl__http *h, sl__snapshot **snap_p)
{
    return sl__board_publish(&h->board, snap_p);
}

const char *
sl__http_address(const sl__http *h)
{
    return h->address;
}

bool
sl__http_has_token(const sl__http *h)
{
    return h->has_token;
}

void
sl__http_destroy(sl__http **h_p)
{
    sl__http *self = *h_p;
    if (self == NULL) {
        return;
    }
    if (self->daemon != NULL) {
        MHD_stop_daemon(self->daemon); // joins the thread: no reader left
    }
    sl__board_fini(&self->board);
    explicit_bzero(self->token_sha, sizeof(self->token_sha));
    free(self);
    *h_p = NULL;
}
