// cert_test.c - CURVE certificates: names, key pairs on disk, and what
// loading one refuses.
// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cert.h"
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

static const char *
s_path(const char *name)
{
    static char path[4][160];
    static int next;
    char *p = path[next++ % 4];
    sl__fmt(p, sizeof(path[0]), "%s/%s", s_dir, name);
    return p;
}

static mode_t
s_mode(const char *path)
{
    struct stat st;
    SL_ASSERT(stat(path, &st) == 0);
    return st.st_mode & 0777;
}

static void
test_names(void)
{
    SL_ASSERT(sl__cert_name_ok("alice"));
    SL_ASSERT(sl__cert_name_ok("worker-3.node_a"));
    SL_ASSERT(!sl__cert_name_ok(""));
    SL_ASSERT(!sl__cert_name_ok(".hidden"));
    SL_ASSERT(!sl__cert_name_ok("a/b"));
    SL_ASSERT(!sl__cert_name_ok("alice_secret"));
    SL_ASSERT(!sl__cert_name_ok("sp ace"));
    char longest[SL_CERT_NAME_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[SL_CERT_NAME_MAX] = '\0';
    SL_ASSERT(sl__cert_name_ok(longest));
    longest[SL_CERT_NAME_MAX] = 'a';
    longest[SL_CERT_NAME_MAX + 1] = '\0';
    SL_ASSERT(!sl__cert_name_ok(longest));
}

// A pair on disk: the public file for anyone, the secret one 0600, in a
// directory made for it; never replaced without force.
static void
test_generate(void)
{
    char key[SL_CERT_KEY_LEN + 1], again[SL_CERT_KEY_LEN + 1];
    char errbuf[SL_ERRSTR_LEN];
    const char *dir = s_path("keys/nested");
    SL_PASS(sl__cert_generate(dir, "alice", false, key, errbuf));
    SL_ASSERT_EQ(strlen(key), SL_CERT_KEY_LEN);
    SL_ASSERT_EQ(s_mode(s_path("keys/nested/alice_secret")), 0600);
    SL_ASSERT_EQ(s_mode(s_path("keys/nested/alice")), 0644);
    SL_ASSERT_EQ(s_mode(dir), 0700);

    SL_FAILS(sl__cert_generate(dir, "alice", false, again, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, "exists");
    SL_PASS(sl__cert_generate(dir, "alice", true, again, errbuf));
    SL_ASSERT(strcmp(key, again) != 0); // a new pair
    SL_FAILS(sl__cert_generate(dir, "../evil", false, key, errbuf), SL_EINVAL);
}

// Loading: both file names work; the public one holds no secret; a secret
// file others may read is refused; junk is not a certificate.
static void
test_load(void)
{
    char key[SL_CERT_KEY_LEN + 1], pub[SL_CERT_KEY_LEN + 1];
    char errbuf[SL_ERRSTR_LEN];
    zcert_t *cert = NULL;
    SL_PASS(sl__cert_generate(s_dir, "bob", false, key, errbuf));
    const char *base = s_path("bob");
    const char *secret = s_path("bob_secret");

    SL_PASS(sl__cert_load_secret(&cert, base, errbuf));
    SL_ASSERT_STR(zcert_public_txt(cert), key);
    zcert_destroy(&cert);
    SL_PASS(sl__cert_load_secret(&cert, secret, errbuf));
    SL_ASSERT_STR(zcert_public_txt(cert), key);
    zcert_destroy(&cert);
    SL_PASS(sl__cert_load_public(pub, base, errbuf));
    SL_ASSERT_STR(pub, key);
    SL_PASS(sl__cert_load_public(pub, secret, errbuf));
    SL_ASSERT_STR(pub, key);

    // The public half alone, somewhere else, holds no secret key.
    const char *copy = s_path("bob-public");
    zcert_t *c = zcert_load(base);
    SL_ASSERT_EQ(zcert_save_public(c, copy), 0);
    zcert_destroy(&c);
    SL_FAILS(sl__cert_load_secret(&cert, copy, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, "holds no secret key");
    SL_ASSERT(cert == NULL);

    SL_ASSERT_EQ(chmod(secret, 0640), 0);
    SL_FAILS(sl__cert_load_secret(&cert, base, errbuf), SL_EAUTH);
    SL_ASSERT_HAS(errbuf, "open to others");
    SL_ASSERT_EQ(chmod(secret, 0600), 0);

    SL_FAILS(sl__cert_load_secret(&cert, s_path("nobody"), errbuf),
             SL_ENOTFOUND);
    SL_FAILS(sl__cert_load_public(pub, s_path("nobody"), errbuf), SL_ENOTFOUND);
    FILE *f = fopen(s_path("junk"), "w");
    fputs("\x01\x02 not a certificate\n", f);
    fclose(f);
    SL_FAILS(sl__cert_load_public(pub, s_path("junk"), errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, "not a certificate");
}

// A private directory: made 0700, refused once others may enter.
static void
test_dir_private(void)
{
    char errbuf[SL_ERRSTR_LEN];
    const char *dir = s_path("private/a/b");
    SL_PASS(sl__dir_private(dir, errbuf));
    SL_ASSERT_EQ(s_mode(dir), 0700);
    SL_ASSERT_EQ(chmod(dir, 0750), 0);
    SL_FAILS(sl__dir_private(dir, errbuf), SL_EAUTH);
    SL_ASSERT_HAS(errbuf, "mode 750");
    const char *file = s_path("private/file");
    FILE *f = fopen(file, "w");
    fclose(f);
    SL_FAILS(sl__mkdirs(file, errbuf), SL_EIO);
    SL_ASSERT_HAS(errbuf, "not a directory");
}

int
main(void)
{
    sl__strlcpy(s_dir, "/tmp/sl_cert_test.XXXXXX", sizeof(s_dir));
    SL_ASSERT(mkdtemp(s_dir) != NULL);
    atexit(s_cleanup);
    sl__log_init("cert_test");
    SL_RUN(test_names);
    SL_RUN(test_generate);
    SL_RUN(test_load);
    SL_RUN(test_dir_private);
    return 0;
}
