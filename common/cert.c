// cert.c - CURVE certificates (czmq zcert files): make them, load them,
// put them on sockets.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The files are czmq's (zcert_save), so that zauth's allow directory, a
//   zcert-based tool and starling read the same thing.
// - A secret file is written with a private umask and then checked: it is
//   never, even for a moment, readable by others. A secret file that is
//   readable by others is refused when loaded, as ssh refuses such a key:
//   a key that others could have copied proves nothing.
// - Certificates are read here rather than with zcert_load, which leaks
//   on a file that does not parse, reads a file of any size, and quietly
//   gives a zero secret key for a public-only file. A client given NAME
//   instead of its own NAME_secret hears so at start-up rather than
//   failing its handshake.
#include "cert.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// A certificate file is a few hundred bytes: read no more than this.
#define S_CERT_MAX 8192

bool
sl__cert_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SL_CERT_NAME_MAX || name[0] == '.' ||
        (n >= 7 && strcmp(name + n - 7, "_secret") == 0)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
              ch == '-')) {
            return false;
        }
    }
    return true;
}

// ---------------------------------------------------------------------
// Making a key pair.

static sl_err
s_check_free(const char *path, bool force, char *errbuf)
{
    if (!force && access(path, F_OK) == 0) {
        return sl__errf(errbuf, SL_EINVAL,
                        "%s exists: keep it, or replace it with --force", path);
    }
    return SL_OK;
}

static sl_err
s_save(zcert_t *cert, const char *path, const char *secret_path, char *errbuf)
{
    // zcert_save writes the secret file with the process's umask: make it
    // private for the write.
    mode_t old = umask(077);
    int rc = zcert_save(cert, path);
    umask(old);
    if (rc != 0 || chmod(secret_path, 0600) != 0 || chmod(path, 0644) != 0) {
        unlink(path);
        unlink(secret_path);
        return sl__errf(errbuf, SL_EIO, "cannot write %s: %s", path,
                        errno != 0 ? strerror(errno) : "zcert_save failed");
    }
    return SL_OK;
}

sl_err
sl__cert_generate(const char *dir, const char *name, bool force,
                  char public_key[SL_CERT_KEY_LEN + 1],
                  char errbuf[SL_ERRSTR_LEN])
{
    char path[4096];
    char secret_path[4096 + 8];
    sl_err rv;
    if (!sl__cert_name_ok(name)) {
        return sl__errf(errbuf, SL_EINVAL,
                        "bad certificate name \"%.80s\": 1 to %d of "
                        "[A-Za-z0-9._-], not ending in _secret",
                        name, SL_CERT_NAME_MAX);
    }
    if (strlen(dir) + SL_CERT_NAME_MAX + 2 >= sizeof(path)) {
        return sl__errf(errbuf, SL_EINVAL, "directory name too long");
    }
    sl__fmt(path, sizeof(path), "%s/%s", dir, name);
    sl__fmt(secret_path, sizeof(secret_path), "%s_secret", path);
    if ((rv = sl__mkdirs(dir, errbuf)) != SL_OK ||
        (rv = s_check_free(path, force, errbuf)) != SL_OK ||
        (rv = s_check_free(secret_path, force, errbuf)) != SL_OK) {
        return rv;
    }
    zcert_t *cert = zcert_new();
    if (cert == NULL) {
        return sl__errf(errbuf, SL_ENOMEM, "cannot make a key pair");
    }
    zcert_set_meta(cert, "name", "%s", name);
    zcert_set_meta(cert, "made-by", "starling keygen");
    errno = 0;
    rv = s_save(cert, path, secret_path, errbuf);
    if (rv == SL_OK) {
        sl__strlcpy(public_key, zcert_public_txt(cert), SL_CERT_KEY_LEN + 1);
    }
    zcert_destroy(&cert);
    return rv;
}

// ---------------------------------------------------------------------
// Loading.

// The file of path's certificate that holds the secret key: path itself
// when it is a NAME_secret file or has no NAME_secret beside it.
static void
s_secret_path(const char *path, char *buf, size_t len)
{
    sl__fmt(buf, len, "%s_secret", path);
    if (access(buf, F_OK) != 0) {
        sl__strlcpy(buf, path, len);
    }
}

// A key of a certificate, Z85 text, into 32 bytes. Absent is all zeros.
static bool
s_key_decode(zconfig_t *root, const char *name, bool needed, uint8_t key[32])
{
    const char *text = zconfig_get(root, name, NULL);
    memset(key, 0, 32);
    if (text == NULL) {
        return !needed;
    }
    return strlen(text) == SL_CERT_KEY_LEN && zmq_z85_decode(key, text);
}

// Read the certificate in the file at path: zcert's format, parsed here
// (zcert_load leaks on a file that does not parse, and reads any size).
// *has_secret tells whether it holds a secret key.
static sl_err
s_cert_read(zcert_t **out, const char *path, bool *has_secret, char *errbuf)
{
    char buf[S_CERT_MAX + 1];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return sl__errf(errbuf, errno == ENOENT ? SL_ENOTFOUND : SL_EIO,
                        "cannot read certificate %s: %s", path,
                        strerror(errno));
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n > S_CERT_MAX) {
        return sl__errf(errbuf, SL_EINVAL,
                        "%s is not a certificate (larger than %d bytes)", path,
                        S_CERT_MAX);
    }
    buf[n] = '\0';
    uint8_t public_key[32], secret_key[32];
    zconfig_t *root = zconfig_str_load(buf);
    bool ok = root != NULL &&
              s_key_decode(root, "/curve/public-key", true, public_key) &&
              s_key_decode(root, "/curve/secret-key", false, secret_key);
    *has_secret = ok && zconfig_get(root, "/curve/secret-key", NULL) != NULL;
    zconfig_destroy(&root);
    if (!ok) {
        return sl__errf(errbuf, SL_EINVAL,
                        "%s is not a certificate (make one with `starling "
                        "keygen`)",
                        path);
    }
    if ((*out = zcert_new_from(public_key, secret_key)) == NULL) {
        return sl__errf(errbuf, SL_ENOMEM, "out of memory for a certificate");
    }
    return SL_OK;
}

static sl_err
s_check_private(const char *path, char *errbuf)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return sl__errf(errbuf, errno == ENOENT ? SL_ENOTFOUND : SL_EIO,
                        "cannot read certificate %s: %s", path,
                        strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return sl__errf(errbuf, SL_EINVAL, "certificate %s is not a file",
                        path);
    }
    if ((st.st_mode & 077) != 0) {
        return sl__errf(errbuf, SL_EAUTH,
                        "secret certificate %s is open to others (mode %03o): "
                        "chmod 600 it (and make a new key if others may have "
                        "copied it)",
                        path, (unsigned) (st.st_mode & 0777));
    }
    return SL_OK;
}

sl_err
sl__cert_load_secret(zcert_t **out, const char *path,
                     char errbuf[SL_ERRSTR_LEN])
{
    char secret_path[4096];
    zcert_t *cert = NULL;
    bool has_secret = false;
    s_secret_path(path, secret_path, sizeof(secret_path));
    sl_err rv = s_cert_read(&cert, secret_path, &has_secret, errbuf);
    if (rv == SL_OK && !has_secret) {
        rv = sl__errf(errbuf, SL_EINVAL,
                      "%s holds no secret key: give the NAME_secret file of "
                      "`starling keygen`, not the public one",
                      secret_path);
    }
    if (rv == SL_OK) {
        rv = s_check_private(secret_path, errbuf);
    }
    if (rv != SL_OK) {
        zcert_destroy(&cert);
        return rv;
    }
    *out = cert;
    return SL_OK;
}

sl_err
sl__cert_load_public(char key[SL_CERT_KEY_LEN + 1], const char *path,
                     char errbuf[SL_ERRSTR_LEN])
{
    zcert_t *cert = NULL;
    bool has_secret;
    sl_err rv = s_cert_read(&cert, path, &has_secret, errbuf);
    if (rv != SL_OK) {
        return rv;
    }
    sl__strlcpy(key, zcert_public_txt(cert), SL_CERT_KEY_LEN + 1);
    zcert_destroy(&cert);
    return SL_OK;
}

sl_err
sl__cert_apply_client(zsock_t *sock, const char *secret_path,
                      const char *server_path, char errbuf[SL_ERRSTR_LEN])
{
    char server_key[SL_CERT_KEY_LEN + 1];
    zcert_t *cert = NULL;
    sl_err rv;
    if ((rv = sl__cert_load_secret(&cert, secret_path, errbuf)) != SL_OK ||
        (rv = sl__cert_load_public(server_key, server_path, errbuf)) != SL_OK) {
        zcert_destroy(&cert);
        return rv;
    }
    zcert_apply(cert, sock);
    zsock_set_curve_serverkey(sock, server_key);
    zcert_destroy(&cert);
    return SL_OK;
}

// ---------------------------------------------------------------------
// Handshakes.

zsock_t *
sl__cert_monitor_new(zsock_t *sock, const char *name, int events)
{
    static atomic_uint seq;
    char ep[128];
    // A name never used before in this process: a socket that lingers
    // after its close keeps its monitor's name bound for a while.
    sl__fmt(ep, sizeof(ep), "inproc://sl-monitor-%s-%u", name,
            atomic_fetch_add(&seq, 1));
    if (zmq_socket_monitor(zsock_resolve(sock), ep, events) != 0) {
        return NULL;
    }
    zsock_t *pair = zsock_new(ZMQ_PAIR);
    if (pair == NULL || zsock_connect(pair, "%s", ep) != 0) {
        zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
        zsock_destroy(&pair);
    }
    return pair;
}

void
sl__cert_monitor_destroy(zsock_t *sock, zsock_t **monitor_p)
{
    if (*monitor_p != NULL && sock != NULL) {
        zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    }
    zsock_destroy(monitor_p);
}

bool
sl__cert_monitor_read(zsock_t *monitor, uint16_t *event, uint32_t *value)
{
    void *raw = zsock_resolve(monitor);
    bool ok = false;
    while (!ok) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, raw, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return false;
        }
        ok = zmq_msg_size(&part) == 6;
        if (ok) {
            memcpy(event, zmq_msg_data(&part), 2);
            memcpy(value, (uint8_t *) zmq_msg_data(&part) + 2, 4);
        }
        // Then the endpoint: ours, which the caller knows.
        while (zmq_msg_more(&part) && zmq_msg_recv(&part, raw, 0) >= 0) {
        }
        zmq_msg_close(&part);
    }
    return true;
}

void
sl__cert_handshake_why(uint16_t event, uint32_t value, bool curve, char *buf,
                       size_t len)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400) {
        sl__strlcpy(buf,
                    "the scheduler refused our CURVE key: its public "
                    "certificate is not in the scheduler's allow directory",
                    len);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        sl__fmt(buf, len, "the scheduler's authenticator answered %u", value);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
               value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        sl__strlcpy(buf,
                    curve ? "the scheduler does not use CURVE, and we gave a "
                            "key"
                          : "the scheduler wants a CURVE key, and we have "
                            "none",
                    len);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
               value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        sl__strlcpy(buf, "the CURVE handshake failed (a wrong server key?)",
                    len);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        sl__fmt(buf, len, "the handshake failed (ZMTP error 0x%08x)", value);
    } else if (curve) {
        sl__strlcpy(buf,
                    "the CURVE handshake failed: is the scheduler's public "
                    "key the right one?",
                    len);
    } else {
        sl__fmt(buf, len, "the handshake failed (%s)", strerror((int) value));
    }
}
