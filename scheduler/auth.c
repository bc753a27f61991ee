// auth.c - who may talk to the scheduler: CURVE with czmq's zauth, the
// rules for serving in the clear, and the log of refused connections.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - zauth is czmq's ZAP handler, an actor thread of its own: libzmq asks it
//   about every CURVE handshake, and it answers from the certificates in
//   the allow directory (re-read when the directory changes, so a key
//   added or removed takes effect for the next connection). It must be
//   running before a CURVE socket binds: without a ZAP handler libzmq lets
//   every key in.
// - One allow list serves both endpoints. A client ships code that runs on
//   the workers, and a worker runs that code with its own key at hand, so
//   either kind of key is full trust in the cluster; two lists would not
//   separate anything.
// - Refusals happen inside libzmq, out of the scheduler's sight: a socket
//   monitor per ROUTER reports each failed handshake (the local endpoint and
//   a code; libzmq does not say which peer), and the loop drains the
//   monitors and logs. A refused peer may try again and again, so each
//   kind of refusal on each endpoint is logged at most once per
//   S_QUIET_MS, with a count of those left out. libzmq's I/O thread blocks
//   while a monitor's queue is full, so the loop polls the monitors with
//   the sockets, and they are stopped before the sockets close
//   (sl__auth_unwatch).
// - These are only the first line of defence: a peer that gets in can still
//   send anything, and the decoders and limits handle that.
#include "auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cert.h"

// At most one log line per kind of refusal per endpoint in this long.
#define S_QUIET_MS 10000

// Kinds of refusal, each rate-limited on its own.
enum { S_KEY = 0, S_MECHANISM, S_CRYPTO, S_OTHER, S_KINDS };

typedef struct {
    char role[16];                   // "client" or "worker"
    zsock_t *sock;                   // the ROUTER watched (borrowed)
    zsock_t *pair;                   // our end of the monitor
    int64_t quiet_until_ms[S_KINDS]; // no line of that kind before then
    uint64_t left_out[S_KINDS];      // refusals not logged since the last
} s_monitor;

struct sl__auth {
    bool insecure;                            // --insecure
    char allow_dir[1024];                     // "" without CURVE
    zcert_t *cert;                            // our keys, or NULL
    zactor_t *zauth;                          // the ZAP handler, or NULL
    s_monitor monitors[SL_AUTH_MAX_MONITORS]; // one per ROUTER
    int n_monitors;                           // in use
    sl__auth_closed_fn *on_closed;            // told of closed connections
    void *on_closed_ctx;
};

// ---------------------------------------------------------------------
// The allow directory and zauth.

// Say how many keys the allow directory lets in, and warn about what
// should not be there.
static void
s_allow_dir_report(const char *dir)
{
    zdir_t *d = zdir_new(dir, NULL);
    size_t keys = 0, secrets = 0;
    zfile_t **files = d != NULL ? zdir_flatten(d) : NULL;
    for (size_t i = 0; files != NULL && files[i] != NULL; i++) {
        const char *name = zfile_filename(files[i], NULL);
        size_t n = strlen(name);
        if (n >= 7 && strcmp(name + n - 7, "_secret") == 0) {
            secrets++;
        } else {
            keys++;
        }
    }
    zdir_flatten_free(&files);
    zdir_destroy(&d);
    if (secrets > 0) {
        sl__log_warn("allow directory %s holds %zu secret certificate%s: it "
                     "needs only public ones",
                     dir, secrets, secrets == 1 ? "" : "s");
    }
    if (keys == 0) {
        sl__log_warn("allow directory %s is empty: no client or worker can "
                     "connect until their public certificates are there",
                     dir);
    } else {
        sl__log_info("CURVE on; %zu public certificate%s in %s", keys,
                     keys == 1 ? "" : "s", dir);
    }
}

static sl_err
s_zauth_start(sl__auth *self, char *errbuf)
{
    self->zauth = zactor_new(zauth, NULL);
    if (self->zauth == NULL) {
        return sl__errf(errbuf, SL_ENOMEM,
                        "cannot start zauth (is another ZAP handler bound?)");
    }
    if (zstr_sendx(self->zauth, "CURVE", self->allow_dir, NULL) != 0 ||
        zsock_wait(self->zauth) != 0) {
        return sl__errf(errbuf, SL_EIO, "zauth did not take the allow list");
    }
    return SL_OK;
}

static sl_err
s_curve_start(sl__auth *self, const sl__auth_opts *opts, char *errbuf)
{
    sl_err rv;
    if (opts->allow_dir == NULL || opts->allow_dir[0] == '\0') {
        return sl__errf(errbuf, SL_EINVAL,
                        "--cert needs --allow DIR: the public certificates of "
                        "the clients and workers to let in");
    }
    if (strlen(opts->allow_dir) >= sizeof(self->allow_dir)) {
        return sl__errf(errbuf, SL_EINVAL, "allow directory name too long");
    }
    sl__strlcpy(self->allow_dir, opts->allow_dir, sizeof(self->allow_dir));
    // The allow directory decides who runs code on the cluster: only we
    // may change what is in it.
    if ((rv = sl__dir_check("allow directory", self->allow_dir, 022,
                            "whoever can write there can let themselves in",
                            errbuf)) != SL_OK ||
        (rv = sl__cert_load_secret(&self->cert, opts->cert, errbuf)) != SL_OK ||
        (rv = s_zauth_start(self, errbuf)) != SL_OK) {
        return rv;
    }
    s_allow_dir_report(self->allow_dir);
    return SL_OK;
}

sl_err
sl__auth_new(sl__auth **out, const sl__auth_opts *opts,
             char errbuf[SL_ERRSTR_LEN])
{
    sl__auth *self = sl__xcalloc(1, sizeof(*self));
    sl_err rv = SL_OK;
    self->insecure = opts->insecure;
    if (opts->cert != NULL && opts->cert[0] != '\0') {
        rv = s_curve_start(self, opts, errbuf);
    } else if (opts->allow_dir != NULL && opts->allow_dir[0] != '\0') {
        rv = sl__errf(errbuf, SL_EINVAL,
                      "--allow needs --cert: the scheduler's own certificate");
    }
    if (rv != SL_OK) {
        sl__auth_destroy(&self);
        return rv;
    }
    *out = self;
    return SL_OK;
}

void
sl__auth_destroy(sl__auth **self_p)
{
    sl__auth *self = *self_p;
    if (self == NULL) {
        return;
    }
    sl__auth_unwatch(self);
    zactor_destroy(&self->zauth);
    zcert_destroy(&self->cert);
    free(self);
    *self_p = NULL;
}

bool
sl__auth_curve(const sl__auth *self)
{
    return self->cert != NULL;
}

// ---------------------------------------------------------------------
// Endpoints.

// endpoint reaches beyond this machine: fine with CURVE or --insecure.
static sl_err
s_needs_curve(const sl__auth *self, const char *endpoint, const char *what,
              char *errbuf)
{
    if (self->cert != NULL) {
        return SL_OK;
    }
    if (self->insecure) {
        sl__log_warn("%s %s, served in the clear (--insecure): whoever "
                     "reaches it can run code on every worker",
                     endpoint, what);
        return SL_OK;
    }
    return sl__errf(errbuf, SL_EAUTH,
                    "%s %s: whoever reaches it can run code on every worker, "
                    "so it needs CURVE keys (--cert and --allow; see `starling "
                    "keygen`), or --insecure to serve it in the clear anyway",
                    endpoint, what);
}

static bool
s_loopback_host(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0 || strcmp(host, "lo") == 0) {
        return true;
    }
    if (inet_pton(AF_INET, host, &a4) == 1) {
        return (ntohl(a4.s_addr) >> 24) == 127;
    }
    return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static sl_err
s_check_tcp(const sl__auth *self, const char *endpoint, char *errbuf)
{
    char host[256];
    const char *addr = endpoint + strlen("tcp://");
    const char *colon = strrchr(addr, ':');
    size_t len = colon != NULL ? (size_t) (colon - addr) : strlen(addr);
    if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
        addr++;
        len -= 2;
    }
    if (len >= sizeof(host)) {
        return sl__errf(errbuf, SL_EINVAL, "bad endpoint %.80s", endpoint);
    }
    memcpy(host, addr, len);
    host[len] = '\0';
    if (s_loopback_host(host)) {
        return SL_OK;
    }
    return s_needs_curve(self, endpoint, "is not a loopback address", errbuf);
}

static sl_err
s_check_ipc(const sl__auth *self, const char *endpoint, char *errbuf)
{
    char dir[1024];
    const char *path = endpoint + strlen("ipc://");
    if (path[0] == '@' || strcmp(path, "*") == 0) {
        return s_needs_curve(self, endpoint,
                             "has no directory to keep others out", errbuf);
    }
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        sl__strlcpy(dir, ".", sizeof(dir));
    } else if (slash == path) {
        sl__strlcpy(dir, "/", sizeof(dir));
    } else {
        sl__fmt(dir, sizeof(dir), "%.*s", (int) (slash - path), path);
    }
    sl_err rv = sl__dir_private(dir, errbuf);
    if (rv == SL_EAUTH && self->insecure) {
        sl__log_warn("%s (--insecure: served all the same)", errbuf);
        return SL_OK;
    }
    if (rv == SL_EAUTH) {
        char why[SL_ERRSTR_LEN];
        sl__strlcpy(why, errbuf, sizeof(why));
        return sl__errf(errbuf, rv,
                        "%s: its directory must keep others out: %s (or give "
                        "--insecure)",
                        endpoint, why);
    }
    return rv;
}

sl_err
sl__auth_check_endpoint(const sl__auth *self, const char *endpoint,
                        char errbuf[SL_ERRSTR_LEN])
{
    if (strncmp(endpoint, "tcp://", 6) == 0) {
        return s_check_tcp(self, endpoint, errbuf);
    }
    if (strncmp(endpoint, "ipc://", 6) == 0) {
        return s_check_ipc(self, endpoint, errbuf);
    }
    if (strncmp(endpoint, "inproc://", 9) == 0) {
        return SL_OK;
    }
    return s_needs_curve(self, endpoint, "is neither TCP nor ipc", errbuf);
}

// ---------------------------------------------------------------------
// Serving, and the refusals.

sl_err
sl__auth_serve(sl__auth *self, zsock_t *sock, const char *role,
               char errbuf[SL_ERRSTR_LEN])
{
    if (self->n_monitors == SL_AUTH_MAX_MONITORS) {
        return sl__errf(errbuf, SL_ELIMIT, "too many sockets to watch");
    }
    if (self->cert != NULL) {
        zcert_apply(self->cert, sock);
        zsock_set_curve_server(sock, 1);
        zsock_set_zap_domain(sock, "starling");
    }
    s_monitor *m = &self->monitors[self->n_monitors];
    memset(m, 0, sizeof(*m));
    sl__strlcpy(m->role, role, sizeof(m->role));
    m->sock = sock;
    // One monitor a socket (libzmq keeps one): handshakes for the log, and
    // closed connections for the scheduler (its clients' grace periods).
    m->pair = sl__cert_monitor_new(
        sock, role, SL_CERT_HANDSHAKE_EVENTS | ZMQ_EVENT_DISCONNECTED);
    if (m->pair == NULL) {
        return sl__errf(errbuf, SL_EIO, "cannot watch the %s socket: %s", role,
                        zmq_strerror(zmq_errno()));
    }
    self->n_monitors++;
    return SL_OK;
}

void
sl__auth_unwatch(sl__auth *self)
{
    for (int i = 0; i < self->n_monitors; i++) {
        sl__cert_monitor_destroy(self->monitors[i].sock,
                                 &self->monitors[i].pair);
    }
    self->n_monitors = 0;
}

void
sl__auth_on_closed(sl__auth *self, sl__auth_closed_fn *fn, void *ctx)
{
    self->on_closed = fn;
    self->on_closed_ctx = ctx;
}

int
sl__auth_monitors(const sl__auth *self, void *out[SL_AUTH_MAX_MONITORS])
{
    for (int i = 0; i < self->n_monitors; i++) {
        out[i] = zsock_resolve(self->monitors[i].pair);
    }
    return self->n_monitors;
}

// What a failed handshake's event says, in words, and its kind.
static int
s_why(const sl__auth *self, uint16_t event, uint32_t value, char *why,
      size_t len)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        if (value == 400) {
            sl__fmt(why, len, "its CURVE key is not in the allow list %s",
                    self->allow_dir);
        } else {
            sl__fmt(why, len, "the authenticator answered %u", value);
        }
        return S_KEY;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        sl__strlcpy(why,
                    self->cert != NULL
                        ? "the peer does not use CURVE, and this scheduler "
                          "lets no one in without a key"
                        : "the peer uses CURVE, and this scheduler runs "
                          "without keys",
                    len);
        return S_MECHANISM;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        sl__strlcpy(why,
                    "the CURVE handshake failed: the peer may hold another "
                    "scheduler's public key",
                    len);
        return S_CRYPTO;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        sl__fmt(why, len, "handshake failed (ZMTP error 0x%08x)", value);
    } else if (self->cert != NULL) {
        // Which side notices a wrong mechanism or key first is a race: we
        // often see only the peer hanging up.
        sl__fmt(why, len,
                "the peer hung up during the handshake (%s): a peer without "
                "a CURVE key, or with another scheduler's public key?",
                strerror((int) value));
    } else {
        sl__fmt(why, len, "the peer hung up during the handshake (%s)",
                strerror((int) value));
    }
    return S_OTHER;
}

static void
s_log_refusal(const sl__auth *self, s_monitor *m, uint16_t event,
              uint32_t value, const char *endpoint)
{
    char why[512];
    int kind = s_why(self, event, value, why, sizeof(why));
    int64_t now = sl__mono_ms();
    if (now < m->quiet_until_ms[kind]) {
        m->left_out[kind]++;
        return;
    }
    if (m->left_out[kind] > 0) {
        sl__log_warn("refused a %s connection on %s: %s (and %" PRIu64
                     " more like it in the last %d s)",
                     m->role, endpoint, why, m->left_out[kind],
                     S_QUIET_MS / 1000);
    } else {
        sl__log_warn("refused a %s connection on %s: %s", m->role, endpoint,
                     why);
    }
    m->left_out[kind] = 0;
    m->quiet_until_ms[kind] = now + S_QUIET_MS;
}

// Read one event off a monitor: false when none is waiting.
static bool
s_monitor_read(const sl__auth *self, s_monitor *m)
{
    void *pair = zsock_resolve(m->pair);
    zmq_msg_t head, addr;
    zmq_msg_init(&head);
    zmq_msg_init(&addr);
    if (zmq_msg_recv(&head, pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&head);
        zmq_msg_close(&addr);
        return false;
    }
    char endpoint[256] = "?";
    if (zmq_msg_more(&head) && zmq_msg_recv(&addr, pair, 0) >= 0) {
        sl__fmt(endpoint, sizeof(endpoint), "%.*s",
                (int) (zmq_msg_size(&addr) < 255 ? zmq_msg_size(&addr) : 255),
                (const char *) zmq_msg_data(&addr));
    }
    if (zmq_msg_size(&head) == 6) {
        uint16_t event;
        uint32_t value;
        memcpy(&event, zmq_msg_data(&head), 2);
        memcpy(&value, (uint8_t *) zmq_msg_data(&head) + 2, 4);
        if (event == ZMQ_EVENT_DISCONNECTED) {
            if (self->on_closed != NULL) {
                self->on_closed(self->on_closed_ctx, m->role, (int) value);
            }
        } else {
            s_log_refusal(self, m, event, value, endpoint);
        }
    }
    zmq_msg_close(&head);
    zmq_msg_close(&addr);
    return true;
}

void
sl__auth_drain(sl__auth *self)
{
    for (int i = 0; i < self->n_monitors; i++) {
        // Bounded, like every drain in the loop: the monitor cannot hold
        // the scheduler up.
        for (int n = 0; n < 256 && s_monitor_read(self, &self->monitors[i]);
             n++) {
        }
    }
}
