// auth_test.c - the scheduler's door without sockets: which endpoints a
// scheduler without keys may serve, and what its CURVE options refuse.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cert.h"
#include "scheduler/auth.h"
#include "testutil.h"

static char s_dir[64]; // the test's temporary directory

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void
s_cleanup(void)
{
    if (s_dir[0] != '\0') {
        nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static sl_err
s_check(const sl__auth *auth, const char *fmt, const char *arg)
{
    char ep[256], errbuf[SL_ERRSTR_LEN];
    sl__fmt(ep, sizeof(ep), fmt, arg);
    sl_err rv = sl__auth_check_endpoint(auth, ep, errbuf);
    if (rv != SL_OK) {
        fprintf(stderr, "   %s: %s\n", ep, errbuf);
    }
    return rv;
}

// Without keys: this machine only.
static void
test_plain_endpoints(void)
{
    char errbuf[SL_ERRSTR_LEN], dir[128];
    sl__auth *auth = NULL;
    sl__auth_opts opts = {0};
    SL_PASS(sl__auth_new(&auth, &opts, errbuf));
    SL_ASSERT(!sl__auth_curve(auth));
    const char *local[] = {"tcp://127.0.0.1:7170", "tcp://127.3.2.1:*",
                           "tcp://localhost:7170", "tcp://[::1]:7170",
                           "tcp://lo:7170",        "inproc://sched"};
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
        SL_PASS(s_check(auth, "%s", local[i]));
    }
    const char *open[] = {"tcp://0.0.0.0:7170",
                          "tcp://*:7170",
                          "tcp://10.1.2.3:7170",
                          "tcp://[::]:7170",
                          "tcp://eth0:7170",
                          "ipc://@abstract",
                          "ipc://*",
                          "ws://127.0.0.1:80"};
    for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++) {
        SL_FAILS(s_check(auth, "%s", open[i]), SL_EAUTH);
    }
    // ipc: a missing directory is made 0700; an open one is refused.
    sl__fmt(dir, sizeof(dir), "%s/sock/here", s_dir);
    SL_PASS(s_check(auth, "ipc://%s/s.sock", dir));
    struct stat st;
    SL_ASSERT_EQ(stat(dir, &st), 0);
    SL_ASSERT_EQ(st.st_mode & 0777, 0700);
    SL_ASSERT_EQ(chmod(dir, 0777), 0);
    SL_FAILS(s_check(auth, "ipc://%s/s.sock", dir), SL_EAUTH);
    sl__auth_destroy(&auth);
    SL_ASSERT(auth == NULL);

    // --insecure: served, with a warning in the log.
    opts.insecure = true;
    SL_PASS(sl__auth_new(&auth, &opts, errbuf));
    SL_PASS(s_check(auth, "%s", "tcp://0.0.0.0:7170"));
    SL_PASS(s_check(auth, "ipc://%s/s.sock", dir));
    sl__auth_destroy(&auth);
}

// With keys: every endpoint may be served; the options must hold together.
static void
test_curve_options(void)
{
    char errbuf[SL_ERRSTR_LEN], key[SL_CERT_KEY_LEN + 1];
    char cert[128], allow[128];
    sl__auth *auth = NULL;
    sl__fmt(allow, sizeof(allow), "%s/allowed", s_dir);
    sl__fmt(cert, sizeof(cert), "%s/keys/scheduler_secret", s_dir);
    SL_PASS(sl__dir_private(allow, errbuf));
    char keys[128];
    sl__fmt(keys, sizeof(keys), "%s/keys", s_dir);
    SL_PASS(sl__cert_generate(keys, "scheduler", false, key, errbuf));

    sl__auth_opts opts = {.cert = cert};
    SL_FAILS(sl__auth_new(&auth, &opts, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, "--cert needs --allow");
    opts = (sl__auth_opts){.allow_dir = allow};
    SL_FAILS(sl__auth_new(&auth, &opts, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, "--allow needs --cert");

    opts = (sl__auth_opts){.cert = cert, .allow_dir = allow};
    SL_ASSERT_EQ(chmod(allow, 0777), 0);
    SL_FAILS(sl__auth_new(&auth, &opts, errbuf), SL_EAUTH);
    SL_ASSERT_HAS(errbuf, "writable by no one else");
    SL_ASSERT_EQ(chmod(allow, 0700), 0);

    SL_PASS(sl__auth_new(&auth, &opts, errbuf));
    SL_ASSERT(sl__auth_curve(auth));
    SL_PASS(s_check(auth, "%s", "tcp://0.0.0.0:7170"));
    sl__auth_destroy(&auth);
}

int
main(void)
{
    sl__strlcpy(s_dir, "/tmp/sl_auth_test.XXXXXX", sizeof(s_dir));
    SL_ASSERT(mkdtemp(s_dir) != NULL);
    atexit(s_cleanup);
    sl__log_init("auth_test");
    SL_RUN(test_plain_endpoints);
    SL_RUN(test_curve_options);
    zsys_shutdown();
    return 0;
}
