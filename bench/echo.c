// echo.c - the latency baselines: bare ZeroMQ REQ/REP and raw TCP
// ping-pong over loopback, each against an echo server process.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The servers are this program run as a helper, so that, like the
//   scheduler, the other end is another process: a round trip crosses two
//   processes and the loopback device, nothing more.
// - Both ends use plain blocking calls with Nagle off (raw TCP): the
//   baselines are the best the transport does, what starling's own round
//   trip is held against.
// - The TCP server serves one connection after another, so the probe that
//   checks it listens (sl__wait_port) does not use it up.
#define _GNU_SOURCE
#include "echo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "client/launch/watch.h"

#define S_MAX_LEN 4096
#define S_TIMEOUT_MS 5000

// ---------------------------------------------------------------------
// The servers.

int
sl__bench_helper_zmq_echo(int argc, char **argv)
{
    char ep[64], buf[S_MAX_LEN];
    if (argc != 1) {
        fprintf(stderr, "usage: --helper zmq-echo PORT\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *rep = zmq_socket(ctx, ZMQ_REP);
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", atoi(argv[0]));
    if (rep == NULL || zmq_bind(rep, ep) != 0) {
        fprintf(stderr, "zmq-echo: cannot bind %s: %s\n", ep,
                zmq_strerror(zmq_errno()));
        return 1;
    }
    for (;;) {
        int n = zmq_recv(rep, buf, sizeof(buf), 0);
        if (n < 0 || zmq_send(rep, buf, (size_t) n, 0) < 0) {
            break; // SIGTERM (EINTR) or a broken context: we are done.
        }
    }
    zmq_close(rep);
    zmq_ctx_term(ctx);
    return 0;
}

static bool
s_write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t) n;
    }
    return true;
}

static bool
s_read_all(int fd, char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t) n;
    }
    return true;
}

static void
s_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
s_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t) port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0 ||
        listen(fd, 4) != 0) {
        return -1;
    }
    return fd;
}

int
sl__bench_helper_tcp_echo(int argc, char **argv)
{
    char buf[S_MAX_LEN];
    int lfd = argc == 1 ? s_listen(atoi(argv[0])) : -1;
    if (lfd < 0) {
        fprintf(stderr, "tcp-echo: cannot listen: %s\n", strerror(errno));
        return 1;
    }
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            return errno == EINTR ? 0 : 1;
        }
        s_nodelay(fd);
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0 &&
               s_write_all(fd, buf, (size_t) n)) {
        }
        close(fd);
    }
}

// ---------------------------------------------------------------------
// The clients.

// n round trips of len bytes over a REQ socket; the first warmup untimed.
static sl_err
s_zmq_trips(int port, size_t len, int warmup, double *seconds, int n,
            char *errbuf)
{
    char ep[64], out[S_MAX_LEN] = {0}, in[S_MAX_LEN];
    int timeout = S_TIMEOUT_MS;
    sl_err rv = SL_OK;
    void *ctx = zmq_ctx_new();
    void *req = zmq_socket(ctx, ZMQ_REQ);
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", port);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    zmq_setsockopt(req, ZMQ_LINGER, &(int){0}, sizeof(int));
    if (zmq_connect(req, ep) != 0) {
        rv = SL_EIO;
    }
    for (int i = -warmup; rv == SL_OK && i < n; i++) {
        double t0 = sl__mono();
        if (zmq_send(req, out, len, 0) != (int) len ||
            zmq_recv(req, in, sizeof(in), 0) != (int) len) {
            rv = SL_EIO;
        } else if (i >= 0) {
            seconds[i] = sl__mono() - t0;
        }
    }
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "zmq round trip to %s: %s", ep,
                zmq_strerror(zmq_errno()));
    }
    zmq_close(req);
    zmq_ctx_term(ctx);
    return rv;
}

static int
s_tcp_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t) port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static sl_err
s_tcp_trips(int port, size_t len, int warmup, double *seconds, int n,
            char *errbuf)
{
    char out[S_MAX_LEN] = {0}, in[S_MAX_LEN];
    int fd = s_tcp_connect(port);
    sl_err rv = fd >= 0 ? SL_OK : SL_EIO;
    if (fd >= 0) {
        s_nodelay(fd);
    }
    for (int i = -warmup; rv == SL_OK && i < n; i++) {
        double t0 = sl__mono();
        if (!s_write_all(fd, out, len) || !s_read_all(fd, in, len)) {
            rv = SL_EIO;
        } else if (i >= 0) {
            seconds[i] = sl__mono() - t0;
        }
    }
    if (rv != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "tcp round trip to port %d: %s", port,
                strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    return rv;
}

sl_err
sl__bench_echo_round_trips(const sl__bench_ctx *ctx, const char *kind,
                           size_t len, int warmup, double *seconds, int n,
                           char errbuf[SL_ERRSTR_LEN])
{
    char port_s[16];
    pid_t pid = 0;
    int port = sl__free_port();
    bool zmq = strcmp(kind, "zmq-echo") == 0;
    if (port < 0 || len > S_MAX_LEN) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "no free port, or too long a message");
        return SL_EINVAL;
    }
    sl__fmt(port_s, sizeof(port_s), "%d", port);
    char *argv[] = {(char *) ctx->self, "--helper", (char *) kind, port_s,
                    NULL};
    sl_err rv = sl__watch_spawn(&pid, argv, NULL, true, errbuf);
    if (rv == SL_OK &&
        (rv = sl__wait_port("127.0.0.1", port, S_TIMEOUT_MS)) != SL_OK) {
        sl__fmt(errbuf, SL_ERRSTR_LEN, "%s did not listen on port %d", kind,
                port);
    }
    if (rv == SL_OK) {
        rv = zmq ? s_zmq_trips(port, len, warmup, seconds, n, errbuf)
                 : s_tcp_trips(port, len, warmup, seconds, n, errbuf);
    }
    sl__watch_stop(&pid, 2000);
    return rv;
}
