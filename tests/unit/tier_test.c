// tier_test.c - the node's object tier (store/tier.h): opening and its
// directory checks, objects written, sealed, mapped and damaged, the
// budget with eviction and spill, expiry and sweeping, and other
// processes (forked children) sharing a tier.
// SPDX-License-Identifier: MIT
//
// Each test has a base directory of its own, made with mkdtemp under /tmp
// and given as opts.base (never /dev/shm itself). It is removed at the end
// of the test, and by an atexit handler of the parent when an assertion
// fails (a child's failed assertion leaves it to the parent).
//
// Some tests write into object files directly. They use the header layout
// of tier.c (s_hdr), which test_layout checks against what a put writes.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serialize/value.h"
#include "store/tier.h"
#include "testutil.h"

// tier.c's object header: offsets of its fields.
#define H_MAGIC 0
#define H_VERSION 8
#define H_FLAGS 12
#define H_DATA_OFF 16
#define H_DATA_LEN 24
#define H_HASH 32
#define H_EXPIRES 40
#define H_KEY 48
#define H_BYTES 256

#define MIB (1024u * 1024u)

static char s_base[64];   // this test's base directory; "" when none
static pid_t s_owner_pid; // the test process (not a forked child)

// ---------------------------------------------------------------------
// Directories.

static int
s_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    if (flag == FTW_DP) {
        chmod(path, 0700); // so that rmdir works after a test made it 0500
        return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
    }
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void
s_rm_rf(const char *dir)
{
    nftw(dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
s_cleanup(void)
{
    if (getpid() == s_owner_pid && s_base[0] != '\0') {
        s_rm_rf(s_base);
        s_base[0] = '\0';
    }
}

static void
s_on_alarm(int sig)
{
    (void) sig;
    fprintf(stderr, "tier_test: out of time\n");
    exit(1); // atexit removes the base directory
}

// A new base directory for this test.
static const char *
s_base_new(void)
{
    SL_ASSERT(s_base[0] == '\0');
    sl__strlcpy(s_base, "/tmp/tier_test.XXXXXX", sizeof(s_base));
    SL_ASSERT(mkdtemp(s_base) != NULL);
    return s_base;
}

static void
s_base_done(void)
{
    struct stat st;
    SL_ASSERT(s_base[0] != '\0');
    s_rm_rf(s_base);
    SL_ASSERT(stat(s_base, &st) != 0 && errno == ENOENT);
    s_base[0] = '\0';
}

// base/starling-<uid>
static void
s_user_dir(char *buf, size_t size, const char *base)
{
    snprintf(buf, size, "%s/starling-%u", base, (unsigned) getuid());
}

static unsigned
s_mode(const char *path)
{
    struct stat st;
    SL_ASSERT(lstat(path, &st) == 0);
    return (unsigned) (st.st_mode & 07777);
}

static bool
s_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

// ---------------------------------------------------------------------
// Tiers and their files.

static sl__tier *
s_open_node(const char *base, const char *cluster, const char *node,
            uint64_t budget, bool create)
{
    sl__tier_opts opts = {base, cluster, node, budget, create};
    char errbuf[SL_ERRSTR_LEN] = "";
    sl__tier *t = NULL;
    sl_err rv = sl__tier_open(&t, &opts, errbuf);
    if (rv != SL_OK) {
        SL_FAIL_AT("sl__tier_open: %s: %s", sl_strerror(rv), errbuf);
    }
    SL_ASSERT(t != NULL);
    return t;
}

static sl__tier *
s_open(const char *base, uint64_t budget)
{
    return s_open_node(base, "c0ffee", "n1", budget, true);
}

// The open's result and its message.
static sl_err
s_try_open(const char *base, const char *cluster, bool create,
           char errbuf[SL_ERRSTR_LEN])
{
    sl__tier_opts opts = {base, cluster, "n1", 0, create};
    sl__tier *t = NULL;
    errbuf[0] = '\0';
    sl_err rv = sl__tier_open(&t, &opts, errbuf);
    SL_ASSERT((rv == SL_OK) == (t != NULL));
    sl__tier_close(&t);
    return rv;
}

static void
s_file(const sl__tier *t, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", sl__tier_path(t), name);
}

static uint64_t
s_file_size(const sl__tier *t, const char *name)
{
    char path[1024];
    struct stat st;
    s_file(t, name, path, sizeof(path));
    SL_ASSERT(stat(path, &st) == 0);
    return (uint64_t) st.st_size;
}

static bool
s_file_exists(const sl__tier *t, const char *name)
{
    char path[1024];
    s_file(t, name, path, sizeof(path));
    return s_exists(path);
}

// Write len bytes at off into the file of name, as damage would.
static void
s_poke(const sl__tier *t, const char *name, off_t off, const void *buf,
       size_t len)
{
    char path[1024];
    s_file(t, name, path, sizeof(path));
    int fd = open(path, O_WRONLY);
    SL_ASSERT(fd >= 0);
    SL_ASSERT(pwrite(fd, buf, len, off) == (ssize_t) len);
    close(fd);
}

static void
s_peek(const sl__tier *t, const char *name, off_t off, void *buf, size_t len)
{
    char path[1024];
    s_file(t, name, path, sizeof(path));
    int fd = open(path, O_RDONLY);
    SL_ASSERT(fd >= 0);
    SL_ASSERT(pread(fd, buf, len, off) == (ssize_t) len);
    close(fd);
}

// Make the object under name expired, as if its time had passed.
static void
s_expire(const sl__tier *t, const char *name)
{
    int64_t past = (int64_t) time(NULL) - 10;
    s_poke(t, name, H_EXPIRES, &past, sizeof(past));
}

static void
s_set_mtime(const sl__tier *t, const char *name, time_t sec)
{
    char path[1024];
    s_file(t, name, path, sizeof(path));
    struct timespec ts[2] = {{sec, 0}, {sec, 0}};
    SL_ASSERT(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

// The files of the tier whose names start with prefix.
static int
s_count_files(const sl__tier *t, const char *prefix)
{
    DIR *d = opendir(sl__tier_path(t));
    SL_ASSERT(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

// len bytes that depend on seed and on their position.
static uint8_t *
s_bytes(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    SL_ASSERT(p != NULL);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (uint8_t) (x >> 24);
    }
    return p;
}

static void
s_put(sl__tier *t, const char *key, size_t len, unsigned seed, int ttl_s,
      unsigned flags)
{
    uint8_t *p = s_bytes(len, seed);
    bool stored = false;
    sl_err rv = sl__tier_put(t, key, p, len, 0, ttl_s, flags, false, &stored);
    if (rv != SL_OK) {
        SL_FAIL_AT("put %s: %s: %s", key, sl_strerror(rv), sl__tier_errstr(t));
    }
    SL_ASSERT(stored);
    free(p);
}

// The object under key holds the bytes of len and seed.
static void
s_check(sl__tier *t, const char *key, size_t len, unsigned seed)
{
    sl__blob *blob = NULL;
    const void *data = NULL;
    size_t got = 0;
    sl_err rv = sl__tier_get(t, key, &blob, &data, &got);
    if (rv != SL_OK) {
        SL_FAIL_AT("get %s: %s: %s", key, sl_strerror(rv), sl__tier_errstr(t));
    }
    SL_ASSERT(blob != NULL);
    SL_ASSERT_EQ(got, len);
    uint8_t *want = s_bytes(len, seed);
    SL_ASSERT(len == 0 || memcmp(data, want, len) == 0);
    free(want);
    sl__blob_release(&blob);
}

static sl_err
s_get_rv(sl__tier *t, const char *key)
{
    sl__blob *blob = NULL;
    const void *data = NULL;
    size_t len = 0;
    sl_err rv = sl__tier_get(t, key, &blob, &data, &len);
    SL_ASSERT((rv == SL_OK) == (blob != NULL));
    sl__blob_release(&blob);
    return rv;
}

static void
s_usage(sl__tier *t, uint64_t objects, uint64_t bytes)
{
    sl__tier_usage u;
    sl__tier_usage_get(t, &u);
    if (u.objects != objects || u.bytes != bytes) {
        SL_FAIL_AT("usage: %llu objects, %llu bytes; want %llu, %llu",
                   (unsigned long long) u.objects, (unsigned long long) u.bytes,
                   (unsigned long long) objects, (unsigned long long) bytes);
    }
}

// The size of the file of an object of len bytes aligned at 0.
static uint64_t
s_size(size_t len)
{
    return H_BYTES + len;
}

// ---------------------------------------------------------------------
// Children.

// A pid that is no process's: a child that has been waited for.
static pid_t
s_dead_pid(void)
{
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    SL_ASSERT(waitpid(pid, NULL, 0) == pid);
    return pid;
}

// Write one byte at p, in a child: the child's fate.
static void
s_write_byte(void *p)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL; // not a sanitizer's report: the signal itself
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    *(volatile uint8_t *) p = 0x5a;
    _exit(0); // it was writable
}

// ---------------------------------------------------------------------
// Opening.

static void
test_open_missing(void)
{
    const char *base = s_base_new();
    char errbuf[SL_ERRSTR_LEN];
    SL_FAILS(s_try_open(base, "c0ffee", false, errbuf), SL_ENOTFOUND);
    SL_ASSERT_HAS(errbuf, base);
    SL_ASSERT_HAS(errbuf, "no object tier");
    char user[256];
    s_user_dir(user, sizeof(user), base);
    SL_ASSERT(!s_exists(user)); // nothing made without create
    SL_FAILS(s_try_open(base, "C0FFEE", true, errbuf), SL_EINVAL);
    SL_ASSERT_HAS(errbuf, "cluster");
    SL_FAILS(s_try_open(base, "", true, errbuf), SL_EINVAL);
    SL_FAILS(s_try_open(base, "a/b", true, errbuf), SL_EINVAL);
    SL_FAILS(
        s_try_open(base, "012345678901234567890123456789012", true, errbuf),
        SL_EINVAL); // 33 characters
    SL_ASSERT(!s_exists(user));
    s_base_done();
}

static void
test_open_create(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open_node(base, "c0ffee", "host/1 a", 0, true);
    char user[256], path[512];
    s_user_dir(user, sizeof(user), base);
    snprintf(path, sizeof(path), "%s/c0ffee.host_1_a", user);
    SL_ASSERT_STR(sl__tier_path(t), path);
    SL_ASSERT_STR(sl__tier_node(t), "host_1_a");
    SL_ASSERT_EQ(s_mode(user), 0700);
    SL_ASSERT_EQ(s_mode(path), 0700);
    sl__tier_usage u;
    sl__tier_usage_get(t, &u);
    SL_ASSERT(u.objects == 0 && u.bytes == 0 && u.budget > 0);
    // Opened again without create, by a second handle: the same tier.
    sl__tier *t2 = s_open_node(base, "c0ffee", "host/1 a", 0, false);
    SL_ASSERT_STR(sl__tier_path(t2), path);
    s_put(t, "k", 10, 1, 0, 0);
    s_check(t2, "k", 10, 1);
    s_usage(t2, 1, s_size(10));
    // A budget given by an opener is the tier's, for every opener.
    sl__tier_close(&t2);
    t2 = s_open_node(base, "c0ffee", "host/1 a", 5 * MIB, false);
    sl__tier_usage_get(t, &u);
    SL_ASSERT_EQ(u.budget, 5 * MIB);
    sl__tier_close(&t2);
    t2 = s_open_node(base, "c0ffee", "host/1 a", 0, true);
    sl__tier_usage_get(t2, &u);
    SL_ASSERT_EQ(u.budget, 5 * MIB); // 0 keeps it
    SL_ASSERT(t2 != NULL);
    sl__tier_close(&t2);
    SL_ASSERT(t2 == NULL);
    sl__tier_close(&t2); // accepts NULL
    // Another node, another cluster: other tiers.
    sl__tier *t3 = s_open_node(base, "c0ffee", "n2", 0, true);
    sl__tier *t4 = s_open_node(base, "beef", "host/1 a", 0, true);
    SL_FAILS(s_get_rv(t3, "k"), SL_ENOTFOUND);
    SL_FAILS(s_get_rv(t4, "k"), SL_ENOTFOUND);
    sl__tier_close(&t3);
    sl__tier_close(&t4);
    sl__tier_close(&t);
    s_base_done();
}

// The user's directory open to others: refused by an open without
// create, and by one with create too, which does not change its mode
// (sl__dir_private makes what is missing and checks the rest).
static void
test_open_refuses_open_dirs(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    sl__tier_close(&t);
    char user[256], errbuf[SL_ERRSTR_LEN];
    s_user_dir(user, sizeof(user), base);
    SL_ASSERT(chmod(user, 0755) == 0);
    SL_FAILS(s_try_open(base, "c0ffee", false, errbuf), SL_EAUTH);
    SL_ASSERT_HAS(errbuf, user);
    SL_ASSERT_HAS(errbuf, "755");
    SL_FAILS(s_try_open(base, "c0ffee", true, errbuf), SL_EAUTH);
    SL_ASSERT_HAS(errbuf, "755");
    SL_ASSERT_EQ(s_mode(user), 0755);
    // A new tier under it is refused too, and not made.
    SL_FAILS(s_try_open(base, "beef", true, errbuf), SL_EAUTH);
    char other[512];
    snprintf(other, sizeof(other), "%s/beef.n1", user);
    SL_ASSERT(!s_exists(other));
    // The tier's own directory open to the group.
    SL_ASSERT(chmod(user, 0700) == 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/c0ffee.n1", user);
    SL_ASSERT(chmod(path, 0750) == 0);
    SL_FAILS(s_try_open(base, "c0ffee", false, errbuf), SL_EAUTH);
    SL_ASSERT_HAS(errbuf, "750");
    SL_FAILS(s_try_open(base, "c0ffee", true, errbuf), SL_EAUTH);
    SL_ASSERT(chmod(path, 0700) == 0);
    SL_PASS(s_try_open(base, "c0ffee", false, errbuf));
    s_base_done();
}

// base/starling-<uid> as a symbolic link (anyone may make one in
// /dev/shm) to a private directory of ours: not the user's tier
// directory. Neither an open nor sl__tier_remove_dead may follow it: the
// latter would empty every directory under the link's target.
static void
test_open_refuses_symlink(void)
{
    const char *base = s_base_new();
    char target[256], victim[320], file[400], user[256];
    char errbuf[SL_ERRSTR_LEN];
    snprintf(target, sizeof(target), "%s/elsewhere", base);
    snprintf(victim, sizeof(victim), "%s/notes", target);
    snprintf(file, sizeof(file), "%s/precious", victim);
    SL_ASSERT(mkdir(target, 0700) == 0 && mkdir(victim, 0700) == 0);
    FILE *f = fopen(file, "w");
    SL_ASSERT(f != NULL && fputs("keep me\n", f) >= 0 && fclose(f) == 0);
    s_user_dir(user, sizeof(user), base);
    SL_ASSERT(symlink(target, user) == 0);
    SL_FAILS(s_try_open(base, "c0ffee", true, errbuf), SL_EAUTH);
    SL_ASSERT_HAS(errbuf, user);
    char made[512];
    snprintf(made, sizeof(made), "%s/c0ffee.n1", target);
    SL_ASSERT(!s_exists(made));
    SL_FAILS(s_try_open(base, "c0ffee", false, errbuf), SL_EAUTH);
    SL_ASSERT_EQ(sl__tier_remove_dead(base, errbuf), 0);
    SL_ASSERT(s_exists(file));
    SL_ASSERT(sl__tier_remove(base, "c0ffee", "notes", errbuf) != SL_OK ||
              s_exists(file));
    SL_ASSERT(s_exists(file));
    s_base_done();
}

// A base too long for the tier's paths: refused, not cut short (which
// would make directories at a prefix of it).
static void
test_open_long_base(void)
{
    const char *base = s_base_new();
    char part[101], deep[1024], parent[1024];
    memset(part, 'd', 100);
    part[100] = '\0';
    snprintf(deep, sizeof(deep), "%s/%s/%s/%s/%s", base, part, part, part,
             part);
    snprintf(parent, sizeof(parent), "%s/%s/%s/%s", base, part, part, part);
    char errbuf[SL_ERRSTR_LEN];
    sl__tier_opts opts = {deep, "c0ffee", "n1", 0, true};
    sl__tier *t = NULL;
    sl_err rv = sl__tier_open(&t, &opts, errbuf);
    if (rv == SL_OK) {
        SL_ASSERT(strncmp(sl__tier_path(t), deep, strlen(deep)) == 0);
        sl__tier_close(&t);
    } else {
        SL_ASSERT_EQ(rv, SL_EINVAL);
        SL_ASSERT_HAS(errbuf, "too long");
    }
    // Nothing beside the base's own last component.
    DIR *d = opendir(parent);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            SL_ASSERT(strcmp(e->d_name, ".") == 0 ||
                      strcmp(e->d_name, "..") == 0 ||
                      strcmp(e->d_name, part) == 0);
        }
        closedir(d);
    }
    s_base_done();
}

// ---------------------------------------------------------------------
// Objects.

// What a put writes: the header layout the other tests rely on.
static void
test_layout(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    s_put(t, "obj:1", 100, 3, 0, SL_TIER_CACHED);
    SL_ASSERT_EQ(s_file_size(t, "obj:1"), s_size(100));
    char magic[8];
    uint32_t flags;
    uint64_t off, len;
    int64_t expires;
    char key[8];
    s_peek(t, "obj:1", H_MAGIC, magic, sizeof(magic));
    SL_ASSERT(memcmp(magic, "SLOBJ", 5) == 0);
    s_peek(t, "obj:1", H_FLAGS, &flags, sizeof(flags));
    SL_ASSERT_EQ(flags, SL_TIER_CACHED);
    s_peek(t, "obj:1", H_DATA_OFF, &off, sizeof(off));
    SL_ASSERT_EQ(off, H_BYTES);
    s_peek(t, "obj:1", H_DATA_LEN, &len, sizeof(len));
    SL_ASSERT_EQ(len, 100);
    s_peek(t, "obj:1", H_EXPIRES, &expires, sizeof(expires));
    SL_ASSERT_EQ(expires, 0);
    s_peek(t, "obj:1", H_KEY, key, sizeof(key));
    SL_ASSERT_STR(key, "obj:1");
    s_put(t, "obj:2", 1, 3, 100, 0);
    s_peek(t, "obj:2", H_EXPIRES, &expires, sizeof(expires));
    SL_ASSERT(expires >= (int64_t) time(NULL) + 99 &&
              expires <= (int64_t) time(NULL) + 100);
    sl__tier_close(&t);
    s_base_done();
}

static void
s_round_trip(sl__tier *t, size_t len, size_t aligned_at, unsigned seed)
{
    uint8_t *p = s_bytes(len, seed);
    bool stored = false;
    SL_PASS(sl__tier_put(t, "rt", p, len, aligned_at, 0, 0, false, &stored));
    SL_ASSERT(stored);
    sl__blob *blob = NULL;
    const void *data = NULL;
    size_t got = 99;
    SL_PASS(sl__tier_get(t, "rt", &blob, &data, &got));
    SL_ASSERT_EQ(got, len);
    SL_ASSERT(len == 0 || memcmp(data, p, len) == 0);
    SL_ASSERT_EQ(((uintptr_t) data + aligned_at) % 64, 0);
    unsigned flags = 99;
    SL_ASSERT(sl__tier_has(t, "rt", &flags));
    SL_ASSERT_EQ(flags, 0);
    sl__blob_release(&blob);
    SL_ASSERT(blob == NULL);
    free(p);
}

static void
test_round_trip(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    size_t sizes[] = {0, 1, 63, 64, 65, 4096, 3 * MIB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = sizes[i];
        s_round_trip(t, len, 0, (unsigned) i);
        s_round_trip(t, len, len, (unsigned) i + 10);
        if (len > 1) {
            s_round_trip(t, len, 1, (unsigned) i + 20);
            s_round_trip(t, len, len / 2, (unsigned) i + 30);
        }
        if (len > 100) {
            s_round_trip(t, len, 100, (unsigned) i + 40);
        }
    }
    s_usage(t, 1, s_file_size(t, "rt"));
    // Bad sizes and keys.
    sl__tier_seg *seg = (sl__tier_seg *) 1;
    SL_FAILS(sl__tier_begin(t, 10, 11, &seg), SL_EINVAL);
    SL_ASSERT(seg == NULL);
    SL_FAILS(sl__tier_begin(t, SIZE_MAX - 10, 0, &seg), SL_EINVAL);
    const char *bad[] = {"", ".hidden", "a/b", "a b", "../x", "k\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool stored = true;
        SL_FAILS(sl__tier_put(t, bad[i], "x", 1, 0, 0, 0, false, &stored),
                 SL_EINVAL);
        SL_ASSERT(!stored);
        SL_FAILS(s_get_rv(t, bad[i]), SL_ENOTFOUND);
    }
    SL_FAILS(sl__tier_put(t, NULL, "x", 1, 0, 0, 0, false, NULL), SL_EINVAL);
    SL_FAILS(s_get_rv(t, NULL), SL_ENOTFOUND);
    SL_FAILS(sl__tier_delete(t, NULL), SL_ENOTFOUND);
    SL_FAILS(sl__tier_add_flags(t, NULL, SL_TIER_CACHED), SL_ENOTFOUND);
    SL_ASSERT(!sl__tier_has(t, NULL, NULL));
    char longkey[200];
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    SL_FAILS(sl__tier_put(t, longkey, "x", 1, 0, 0, 0, false, NULL), SL_EINVAL);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    s_usage(t, 1, s_file_size(t, "rt"));
    // A key of every character a store key may have.
    s_put(t, "Az09:#._-x", 5, 7, 0, 0);
    s_check(t, "Az09:#._-x", 5, 7);
    // A put of no bytes from no buffer.
    SL_PASS(sl__tier_put(t, "empty", NULL, 0, 0, 0, 0, false, NULL));
    s_check(t, "empty", 0, 0);
    sl__tier_close(&t);
    s_base_done();
}

// A blob keeps its mapping when the tier is closed, and the mapping is
// read-only: a child that writes to it dies of SIGSEGV.
static void
test_mapping(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    s_put(t, "m", 8192, 5, 0, 0);
    sl__blob *blob = NULL;
    const void *data = NULL;
    size_t len = 0;
    SL_PASS(sl__tier_get(t, "m", &blob, &data, &len));
    sl__tier_close(&t);
    uint8_t *want = s_bytes(8192, 5);
    SL_ASSERT(memcmp(data, want, 8192) == 0);
    SL_ASSERT_EQ(sl__test_child(s_write_byte, (void *) data), 128 + SIGSEGV);
    SL_ASSERT_EQ(sl__test_child(s_write_byte, (uint8_t *) data + 8191),
                 128 + SIGSEGV);
    SL_ASSERT(memcmp(data, want, 8192) == 0);
    // The blob is the object's data.
    SL_ASSERT(blob->data == data);
    SL_ASSERT_EQ(blob->len, 8192);
    // Once the object's file is gone too.
    t = s_open(base, 0);
    SL_PASS(sl__tier_delete(t, "m"));
    SL_ASSERT(memcmp(data, want, 8192) == 0);
    sl__blob_release(&blob);
    free(want);
    sl__tier_close(&t);
    s_base_done();
}

// Usage while a segment is begun, sealed, lost to an nx winner, replaced
// and dropped.
static void
test_begin_seal_nx(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    sl__tier_seg *a = NULL, *b = NULL;
    SL_PASS(sl__tier_begin(t, 1000, 0, &a));
    SL_ASSERT_EQ(sl__tier_seg_len(a), 1000);
    SL_ASSERT_EQ((uintptr_t) sl__tier_seg_data(a) % 64, 0);
    s_usage(t, 0, s_size(1000)); // counted from the begin
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    memset(sl__tier_seg_data(a), 'A', 1000);
    bool stored = false;
    SL_PASS(sl__tier_seal(t, &a, "k", 0, 0, true, &stored, NULL));
    SL_ASSERT(a == NULL && stored);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    s_usage(t, 1, s_size(1000));
    // A second sealer with nx loses; the first object's bytes stay.
    SL_PASS(sl__tier_begin(t, 500, 0, &b));
    memset(sl__tier_seg_data(b), 'B', 500);
    s_usage(t, 1, s_size(1000) + s_size(500));
    stored = true;
    SL_PASS(sl__tier_seal(t, &b, "k", 0, 0, true, &stored, NULL));
    SL_ASSERT(b == NULL && !stored);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    s_usage(t, 1, s_size(1000));
    sl__blob *blob = NULL;
    const void *data = NULL;
    size_t len = 0;
    SL_PASS(sl__tier_get(t, "k", &blob, &data, &len));
    SL_ASSERT_EQ(len, 1000);
    SL_ASSERT(((const char *) data)[0] == 'A' &&
              ((const char *) data)[999] == 'A');
    sl__blob_release(&blob);
    // Without nx the second replaces it.
    SL_PASS(sl__tier_begin(t, 500, 0, &b));
    memset(sl__tier_seg_data(b), 'B', 500);
    SL_PASS(sl__tier_seal(t, &b, "k", 0, 0, false, &stored, NULL));
    SL_ASSERT(stored);
    s_usage(t, 1, s_size(500));
    SL_PASS(sl__tier_get(t, "k", &blob, &data, &len));
    SL_ASSERT_EQ(len, 500);
    SL_ASSERT(((const char *) data)[0] == 'B');
    sl__blob_release(&blob);
    // Abort: usage where it was, no temporary left.
    SL_PASS(sl__tier_begin(t, 3 * MIB, 7, &a));
    s_usage(t, 1, s_size(500) + H_BYTES + 57 + 3 * MIB);
    memset(sl__tier_seg_data(a), 'C', 3 * MIB);
    sl__tier_abort(t, &a);
    SL_ASSERT(a == NULL);
    sl__tier_abort(t, &a); // accepts NULL
    s_usage(t, 1, s_size(500));
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    SL_ASSERT_EQ(s_count_files(t, "k"), 1);
    // A seal under a bad key drops the segment.
    SL_PASS(sl__tier_begin(t, 10, 0, &a));
    SL_FAILS(sl__tier_seal(t, &a, "bad key", 0, 0, false, &stored, NULL),
             SL_EINVAL);
    SL_ASSERT(a == NULL && !stored);
    s_usage(t, 1, s_size(500));
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    // A put with nx under the key that is there.
    uint8_t *p = s_bytes(20, 1);
    stored = true;
    SL_PASS(sl__tier_put(t, "k", p, 20, 0, 0, 0, true, &stored));
    SL_ASSERT(!stored);
    free(p);
    s_usage(t, 1, s_size(500));
    sl__tier_close(&t);
    s_base_done();
}

// An nx seal over an object that has expired (or whose header is damaged)
// stores: a reader would find none.
// (A damaged hash is found by the next get, which removes the object.)
static void
test_nx_over_expired(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    s_put(t, "k", 100, 1, 60, 0);
    s_expire(t, "k");
    uint8_t *p = s_bytes(200, 2);
    bool stored = false;
    SL_PASS(sl__tier_put(t, "k", p, 200, 0, 0, 0, true, &stored));
    SL_ASSERT(stored);
    s_check(t, "k", 200, 2);
    s_usage(t, 1, s_size(200));
    // Damaged: its header is no object's.
    s_poke(t, "k", H_MAGIC, "XX", 2);
    SL_ASSERT(!sl__tier_has(t, "k", NULL));
    free(p);
    p = s_bytes(300, 3);
    SL_PASS(sl__tier_put(t, "k", p, 300, 0, 0, 0, true, &stored));
    SL_ASSERT(stored);
    s_check(t, "k", 300, 3);
    s_usage(t, 1, s_size(300));
    free(p);
    sl__tier_close(&t);
    s_base_done();
}

// The writer's view after a seal holds the sealed bytes, and is
// read-only.
static void
test_seal_blob(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    sl__tier_seg *s = NULL;
    SL_PASS(sl__tier_begin(t, 10000, 16, &s));
    uint8_t *w = sl__tier_seg_data(s);
    SL_ASSERT_EQ(((uintptr_t) w + 16) % 64, 0);
    uint8_t *want = s_bytes(10000, 9);
    memcpy(w, want, 10000);
    sl__blob *blob = NULL;
    bool stored = false;
    SL_PASS(sl__tier_seal(t, &s, "view", 30, SL_TIER_SPILLED, false, &stored,
                          &blob));
    SL_ASSERT(stored && s == NULL && blob != NULL);
    SL_ASSERT(blob->data == w);
    SL_ASSERT_EQ(blob->len, 10000);
    SL_ASSERT(memcmp(blob->data, want, 10000) == 0);
    SL_ASSERT_EQ(sl__test_child(s_write_byte, w), 128 + SIGSEGV);
    SL_ASSERT(memcmp(blob->data, want, 10000) == 0);
    s_check(t, "view", 10000, 9);
    unsigned flags = 0;
    SL_ASSERT(sl__tier_has(t, "view", &flags));
    SL_ASSERT_EQ(flags, SL_TIER_SPILLED);
    sl__tier_close(&t);
    SL_ASSERT(memcmp(blob->data, want, 10000) == 0); // after the close
    sl__blob_release(&blob);
    // An nx loser has no view.
    t = s_open(base, 0);
    SL_PASS(sl__tier_begin(t, 10, 0, &s));
    blob = (sl__blob *) 1;
    SL_PASS(sl__tier_seal(t, &s, "view", 0, 0, true, &stored, &blob));
    SL_ASSERT(!stored && blob == NULL);
    free(want);
    sl__tier_close(&t);
    s_base_done();
}

// Damage of one kind to the object "bad": get says so, removes it, and
// serves the others.
static void
s_check_damage(sl__tier *t, const char *why)
{
    uint64_t before = 0;
    sl__tier_usage u;
    sl__tier_usage_get(t, &u);
    before = u.objects;
    SL_FAILS(s_get_rv(t, "bad"), SL_EPROTO);
    SL_ASSERT_HAS(sl__tier_errstr(t), "bad");
    SL_ASSERT_HAS(sl__tier_errstr(t), "damaged");
    SL_ASSERT_HAS(sl__tier_errstr(t), why);
    SL_ASSERT(!s_file_exists(t, "bad"));
    SL_ASSERT(!sl__tier_has(t, "bad", NULL));
    SL_FAILS(s_get_rv(t, "bad"), SL_ENOTFOUND);
    s_check(t, "good", 5000, 1);
    sl__tier_usage_get(t, &u);
    SL_ASSERT_EQ(u.objects, before - 1);
}

static void
test_damaged(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    s_put(t, "good", 5000, 1, 0, 0);
    // A bad magic.
    s_put(t, "bad", 5000, 2, 0, 0);
    s_poke(t, "bad", H_MAGIC, "XX", 2);
    s_check_damage(t, "magic");
    // Another version.
    s_put(t, "bad", 5000, 2, 0, 0);
    uint32_t version = 99;
    s_poke(t, "bad", H_VERSION, &version, sizeof(version));
    s_check_damage(t, "version");
    // Truncated.
    s_put(t, "bad", 5000, 2, 0, 0);
    char path[1024];
    s_file(t, "bad", path, sizeof(path));
    SL_ASSERT(truncate(path, (off_t) s_size(5000) - 1) == 0);
    s_check_damage(t, "truncated");
    // Shorter than a header.
    s_put(t, "bad", 5000, 2, 0, 0);
    SL_ASSERT(truncate(path, 100) == 0);
    s_check_damage(t, "header");
    // A data offset past the end, and one that does not add up.
    s_put(t, "bad", 5000, 2, 0, 0);
    uint64_t off = UINT64_MAX - 10;
    s_poke(t, "bad", H_DATA_OFF, &off, sizeof(off));
    s_check_damage(t, "offset");
    s_put(t, "bad", 5000, 2, 0, 0);
    off = H_BYTES + 8;
    s_poke(t, "bad", H_DATA_OFF, &off, sizeof(off));
    s_check_damage(t, "size");
    // A flipped data byte, first and last.
    s_put(t, "bad", 5000, 2, 0, 0);
    uint8_t byte;
    s_peek(t, "bad", H_BYTES, &byte, 1);
    byte ^= 1;
    s_poke(t, "bad", H_BYTES, &byte, 1);
    s_check_damage(t, "hash");
    s_put(t, "bad", 5000, 2, 0, 0);
    s_peek(t, "bad", H_BYTES + 4999, &byte, 1);
    byte ^= 0x80;
    s_poke(t, "bad", H_BYTES + 4999, &byte, 1);
    s_check_damage(t, "hash");
    // A flipped hash.
    s_put(t, "bad", 5000, 2, 0, 0);
    s_peek(t, "bad", H_HASH, &byte, 1);
    byte ^= 4;
    s_poke(t, "bad", H_HASH, &byte, 1);
    s_check_damage(t, "hash");
    // Under another key's name, and a key not terminated.
    s_put(t, "bad", 5000, 2, 0, 0);
    s_poke(t, "bad", H_KEY, "xyz", 3);
    s_check_damage(t, "key");
    s_put(t, "bad", 5000, 2, 0, 0);
    char junk[96];
    memset(junk, 'j', sizeof(junk));
    s_poke(t, "bad", H_KEY, junk, sizeof(junk));
    s_check_damage(t, "key");
    // Flags are not hashed: changed, the object is still good.
    s_put(t, "bad", 5000, 2, 0, 0);
    uint32_t flags = SL_TIER_CACHED;
    s_poke(t, "bad", H_FLAGS, &flags, sizeof(flags));
    s_check(t, "bad", 5000, 2);
    SL_PASS(sl__tier_delete(t, "bad"));
    // Checked once: the first get marks the header (a flag of tier.c's own,
    // which has does not report), and later gets trust it, since a linked
    // file never changes: damage after the first read goes unseen.
    s_put(t, "once", 5000, 3, 0, 0);
    s_check(t, "once", 5000, 3);
    s_peek(t, "once", H_FLAGS, &flags, sizeof(flags));
    SL_ASSERT(flags & 0x80000000u);
    unsigned has_flags = 1;
    SL_ASSERT(sl__tier_has(t, "once", &has_flags));
    SL_ASSERT_EQ(has_flags, 0u);
    s_peek(t, "once", H_BYTES, &byte, 1);
    byte ^= 1;
    s_poke(t, "once", H_BYTES, &byte, 1);
    SL_PASS(s_get_rv(t, "once"));
    SL_PASS(sl__tier_delete(t, "once"));
    // A truncated file took off less than it counted: the next recount
    // puts that right.
    SL_ASSERT_EQ(sl__tier_sweep(t), 0);
    s_usage(t, 1, s_size(5000));
    sl__tier_close(&t);
    s_base_done();
}

// Flags: has and add_flags.
static void
test_flags(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    unsigned flags = 99;
    SL_ASSERT(!sl__tier_has(t, "f", &flags));
    SL_ASSERT_EQ(flags, 99);
    SL_FAILS(sl__tier_add_flags(t, "f", SL_TIER_SPILLED), SL_ENOTFOUND);
    s_put(t, "f", 10, 1, 0, SL_TIER_CACHED);
    SL_ASSERT(sl__tier_has(t, "f", &flags));
    SL_ASSERT_EQ(flags, SL_TIER_CACHED);
    // Not a use: the eviction order stays.
    s_set_mtime(t, "f", 1000000);
    SL_PASS(sl__tier_add_flags(t, "f", SL_TIER_SPILLED));
    char path[1024];
    struct stat st;
    s_file(t, "f", path, sizeof(path));
    SL_ASSERT(stat(path, &st) == 0);
    SL_ASSERT_EQ(st.st_mtime, 1000000);
    SL_ASSERT(sl__tier_has(t, "f", &flags));
    SL_ASSERT_EQ(flags, SL_TIER_CACHED | SL_TIER_SPILLED);
    SL_ASSERT(sl__tier_has(t, "f", NULL));
    s_check(t, "f", 10, 1);
    sl__tier_close(&t);
    s_base_done();
}

// ---------------------------------------------------------------------
// The budget.

#define OBJ (300u * 1024u) // four of them pass a budget of 1 MiB

// Objects that exist elsewhere go, least recently used first; a get
// counts as a use.
static void
test_evict_lru(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, MIB);
    sl__tier_usage u;
    sl__tier_usage_get(t, &u);
    SL_ASSERT_EQ(u.budget, MIB);
    s_put(t, "a", OBJ, 1, 0, SL_TIER_CACHED);
    s_put(t, "b", OBJ, 2, 0, SL_TIER_SPILLED);
    s_put(t, "c", OBJ, 3, 0, SL_TIER_CACHED);
    s_set_mtime(t, "a", 1000000);
    s_set_mtime(t, "b", 2000000);
    s_set_mtime(t, "c", 3000000);
    s_check(t, "a", OBJ, 1); // now the most recently used
    s_put(t, "d", OBJ, 4, 0, SL_TIER_CACHED);
    SL_ASSERT(!sl__tier_has(t, "b", NULL));
    SL_ASSERT(sl__tier_has(t, "a", NULL) && sl__tier_has(t, "c", NULL) &&
              sl__tier_has(t, "d", NULL));
    s_usage(t, 3, 3 * s_size(OBJ));
    // Then c, the oldest left.
    s_set_mtime(t, "d", 4000000);
    s_put(t, "e", OBJ, 5, 0, 0);
    SL_ASSERT(!sl__tier_has(t, "c", NULL));
    SL_ASSERT(sl__tier_has(t, "a", NULL) && sl__tier_has(t, "d", NULL));
    s_usage(t, 3, 3 * s_size(OBJ));
    // Two at once, for an object of their size together.
    s_put(t, "f", 2 * OBJ, 6, 0, 0);
    SL_ASSERT(!sl__tier_has(t, "a", NULL) && !sl__tier_has(t, "d", NULL));
    s_check(t, "e", OBJ, 5);
    s_check(t, "f", 2 * OBJ, 6);
    s_usage(t, 2, s_size(OBJ) + s_size(2 * OBJ));
    sl__tier_close(&t);
    s_base_done();
}

// Objects that exist only here, and no spill callback: the write fails,
// naming the budget, and nothing is lost.
static void
test_budget_full(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, MIB);
    s_put(t, "a", OBJ, 1, 0, 0);
    s_put(t, "b", OBJ, 2, 0, 0);
    s_put(t, "c", OBJ, 3, 0, 0);
    uint8_t *p = s_bytes(OBJ, 4);
    SL_FAILS(sl__tier_put(t, "d", p, OBJ, 0, 0, 0, false, NULL), SL_ELIMIT);
    SL_ASSERT_HAS(sl__tier_errstr(t), "budget");
    SL_ASSERT_HAS(sl__tier_errstr(t), "n1");
    SL_ASSERT(!sl__tier_has(t, "d", NULL));
    s_check(t, "a", OBJ, 1);
    s_check(t, "b", OBJ, 2);
    s_check(t, "c", OBJ, 3);
    s_usage(t, 3, 3 * s_size(OBJ));
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    sl__tier_seg *s = NULL;
    SL_FAILS(sl__tier_begin(t, OBJ, 0, &s), SL_ELIMIT);
    SL_ASSERT(s == NULL);
    // More than the whole budget, in an empty tier.
    SL_PASS(sl__tier_delete(t, "a"));
    SL_PASS(sl__tier_delete(t, "b"));
    SL_PASS(sl__tier_delete(t, "c"));
    s_usage(t, 0, 0);
    SL_FAILS(sl__tier_begin(t, MIB, 0, &s), SL_ELIMIT);
    SL_ASSERT_HAS(sl__tier_errstr(t), "budget");
    s_usage(t, 0, 0);
    // Exactly the budget.
    SL_PASS(sl__tier_begin(t, MIB - H_BYTES, 0, &s));
    sl__tier_abort(t, &s);
    s_usage(t, 0, 0);
    free(p);
    sl__tier_close(&t);
    s_base_done();
}

typedef struct {
    sl__tier *tier;
    sl_err rv; // what the callback returns
    int calls;
    char key[96];   // of the last call
    uint8_t *bytes; // a copy of the last call's
    size_t len;
    int ttl;
    bool was_there; // the object was still in the tier, unflagged
} s_spill_log;

static sl_err
s_spill_cb(void *ctx, const char *key, const void *data, size_t len, int ttl_s)
{
    s_spill_log *log = ctx;
    log->calls++;
    sl__strlcpy(log->key, key, sizeof(log->key));
    free(log->bytes);
    log->bytes = malloc(len > 0 ? len : 1);
    SL_ASSERT(log->bytes != NULL);
    memcpy(log->bytes, data, len);
    log->len = len;
    log->ttl = ttl_s;
    unsigned flags = 99;
    log->was_there = sl__tier_has(log->tier, key, &flags) && flags == 0;
    return log->rv;
}

// The sole copy is given to the spill callback, then evicted.
static void
test_spill(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, MIB);
    s_spill_log log = {t, SL_OK, 0, "", NULL, 0, 0, false};
    sl__tier_set_spill(t, s_spill_cb, &log);
    s_put(t, "a", OBJ, 1, 100, 0);
    s_put(t, "b", OBJ, 2, 0, 0);
    s_put(t, "c", OBJ, 3, 0, 0);
    s_set_mtime(t, "a", 1000000);
    s_set_mtime(t, "b", 2000000);
    s_set_mtime(t, "c", 3000000);
    s_put(t, "d", OBJ, 4, 0, 0);
    SL_ASSERT_EQ(log.calls, 1);
    SL_ASSERT_STR(log.key, "a");
    SL_ASSERT_EQ(log.len, OBJ);
    uint8_t *want = s_bytes(OBJ, 1);
    SL_ASSERT(memcmp(log.bytes, want, OBJ) == 0);
    free(want);
    SL_ASSERT(log.ttl >= 98 && log.ttl <= 100);
    SL_ASSERT(log.was_there);
    SL_ASSERT(!sl__tier_has(t, "a", NULL));
    s_usage(t, 3, 3 * s_size(OBJ));
    // A cached one, the least recently used: it goes, unasked.
    SL_PASS(sl__tier_delete(t, "d"));
    s_put(t, "e", OBJ, 5, 0, SL_TIER_CACHED);
    s_set_mtime(t, "e", 1500000);
    s_put(t, "f", OBJ, 6, 0, 0);
    SL_ASSERT_EQ(log.calls, 1);
    SL_ASSERT(!sl__tier_has(t, "e", NULL));
    SL_ASSERT(sl__tier_has(t, "b", NULL) && sl__tier_has(t, "c", NULL));
    // No expiry: ttl 0.
    s_put(t, "g", OBJ, 7, 0, 0);
    SL_ASSERT_EQ(log.calls, 2);
    SL_ASSERT_STR(log.key, "b");
    SL_ASSERT_EQ(log.ttl, 0);
    SL_ASSERT(!sl__tier_has(t, "b", NULL));
    s_check(t, "c", OBJ, 3);
    s_usage(t, 3, 3 * s_size(OBJ));
    free(log.bytes);
    sl__tier_close(&t);
    s_base_done();
}

// A spill callback that fails: SL_ELIMIT, and nothing lost.
static void
test_spill_fails(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, MIB);
    s_spill_log log = {t, SL_EIO, 0, "", NULL, 0, 0, false};
    sl__tier_set_spill(t, s_spill_cb, &log);
    s_put(t, "a", OBJ, 1, 0, 0);
    s_put(t, "b", OBJ, 2, 0, 0);
    s_put(t, "c", OBJ, 3, 0, 0);
    uint8_t *p = s_bytes(OBJ, 4);
    SL_FAILS(sl__tier_put(t, "d", p, OBJ, 0, 0, 0, false, NULL), SL_ELIMIT);
    SL_ASSERT_HAS(sl__tier_errstr(t), "budget");
    SL_ASSERT(log.calls >= 1);
    s_check(t, "a", OBJ, 1);
    s_check(t, "b", OBJ, 2);
    s_check(t, "c", OBJ, 3);
    unsigned flags = 99;
    SL_ASSERT(sl__tier_has(t, "a", &flags) && flags == 0);
    s_usage(t, 3, 3 * s_size(OBJ));
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    // Once it works again, the put does too.
    log.rv = SL_OK;
    SL_PASS(sl__tier_put(t, "d", p, OBJ, 0, 0, 0, false, NULL));
    s_usage(t, 3, 3 * s_size(OBJ));
    free(p);
    free(log.bytes);
    sl__tier_close(&t);
    s_base_done();
}

// Expired objects make room, whatever their flags: they are gone.
static void
test_evict_expired(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, MIB);
    s_put(t, "a", OBJ, 1, 60, 0);
    s_put(t, "b", OBJ, 2, 60, 0);
    s_put(t, "c", OBJ, 3, 0, 0);
    s_expire(t, "a");
    s_expire(t, "b");
    s_put(t, "d", 2 * OBJ, 4, 0, 0);
    SL_ASSERT(!s_file_exists(t, "a") && !s_file_exists(t, "b"));
    s_check(t, "c", OBJ, 3);
    s_check(t, "d", 2 * OBJ, 4);
    s_usage(t, 2, s_size(OBJ) + s_size(2 * OBJ));
    sl__tier_close(&t);
    s_base_done();
}

// ---------------------------------------------------------------------
// Expiry and sweeping.

static void
test_expiry(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    // Really: one second, and two gone by.
    s_put(t, "short", 10, 1, 1, 0);
    s_put(t, "long", 10, 2, 3600, 0);
    s_put(t, "never", 10, 3, 0, 0);
    s_check(t, "short", 10, 1);
    sleep(2);
    SL_FAILS(s_get_rv(t, "short"), SL_ENOTFOUND);
    SL_ASSERT_HAS(sl__tier_errstr(t), "expired");
    SL_ASSERT(!s_file_exists(t, "short"));
    SL_ASSERT(!sl__tier_has(t, "short", NULL));
    s_check(t, "long", 10, 2);
    s_check(t, "never", 10, 3);
    s_usage(t, 2, 2 * s_size(10));
    // Faked: sweep removes it and counts again.
    s_put(t, "old", 1000, 4, 60, 0);
    s_expire(t, "old");
    SL_ASSERT(!sl__tier_has(t, "old", NULL));
    SL_ASSERT_EQ(sl__tier_sweep(t), 1);
    SL_ASSERT(!s_file_exists(t, "old"));
    s_usage(t, 2, 2 * s_size(10));
    SL_ASSERT_EQ(sl__tier_sweep(t), 0);
    s_usage(t, 2, 2 * s_size(10));
    sl__tier_close(&t);
    s_base_done();
}

// Write a temporary of a writer by hand.
static void
s_make_temp(const sl__tier *t, long pid, int n, size_t len)
{
    char name[64], path[1024];
    snprintf(name, sizeof(name), ".w%ld.%d", pid, n);
    s_file(t, name, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    SL_ASSERT(fd >= 0);
    SL_ASSERT(ftruncate(fd, (off_t) len) == 0);
    close(fd);
}

// A child that begins a segment and dies without sealing it.
static void
s_begin_and_die(void *arg)
{
    sl__tier *t = s_open((const char *) arg, 0);
    sl__tier_seg *s = NULL;
    if (sl__tier_begin(t, 100000, 0, &s) != SL_OK) {
        _exit(1);
    }
    _exit(0); // no seal, no abort, no close
}

static void
test_sweep_leftovers(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    s_put(t, "k", 100, 1, 0, 0);
    // A dead writer's temporary, by hand: removed.
    pid_t dead = s_dead_pid();
    s_make_temp(t, (long) dead, 1, 5000);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    SL_ASSERT(sl__tier_sweep(t) >= 1);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    s_usage(t, 1, s_size(100));
    // A dead writer's reservation, from a child: the count is made again.
    SL_ASSERT_EQ(sl__test_child(s_begin_and_die, (void *) base), 0);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    s_usage(t, 1, s_size(100) + s_size(100000));
    SL_ASSERT(sl__tier_sweep(t) >= 1);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    s_usage(t, 1, s_size(100));
    // Our own, while a segment is being written: kept, by this handle's
    // sweep and by another's.
    sl__tier_seg *s = NULL;
    SL_PASS(sl__tier_begin(t, 2000, 0, &s));
    s_make_temp(t, (long) dead, 7, 0); // by hand: never counted
    SL_ASSERT_EQ(s_count_files(t, ".w"), 2);
    SL_ASSERT_EQ(sl__tier_sweep(t), 1); // the dead one only
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    sl__tier *t2 = s_open(base, 0);
    SL_ASSERT_EQ(sl__tier_sweep(t2), 0);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    s_usage(t, 1, s_size(100) + s_size(2000));
    memset(sl__tier_seg_data(s), 7, 2000);
    // A writer that died while ours is under way: no recount, but its
    // bytes go off the count with its file.
    SL_ASSERT_EQ(sl__test_child(s_begin_and_die, (void *) base), 0);
    s_usage(t, 1, s_size(100) + s_size(2000) + s_size(100000));
    SL_ASSERT_EQ(sl__tier_sweep(t2), 1);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    s_usage(t, 1, s_size(100) + s_size(2000));
    SL_PASS(sl__tier_seal(t, &s, "w", 0, 0, false, NULL, NULL));
    SL_ASSERT_EQ(sl__tier_sweep(t2), 0);
    s_usage(t, 2, s_size(100) + s_size(2000));
    // Junk under a key's name, and a file with no header: removed.
    s_make_temp(t, 1, 1, 10);
    char from[1024], to[1024];
    s_file(t, ".w1.1", from, sizeof(from));
    s_file(t, "junk", to, sizeof(to));
    SL_ASSERT(rename(from, to) == 0);
    SL_ASSERT_EQ(sl__tier_sweep(t2), 1);
    SL_ASSERT(!s_file_exists(t, "junk"));
    s_usage(t, 2, s_size(100) + s_size(2000));
    s_check(t, "k", 100, 1);
    sl__tier_close(&t2);
    sl__tier_close(&t);
    s_base_done();
}

// ---------------------------------------------------------------------
// Deleting.

static void
test_delete(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    s_put(t, "job1:a", 10, 1, 0, 0);
    s_put(t, "job1:b", 20, 2, 0, 0);
    s_put(t, "job1:c", 30, 3, 0, 0);
    s_put(t, "job10:a", 40, 4, 0, 0);
    s_put(t, "job2:a", 50, 5, 0, 0);
    s_usage(t, 5,
            s_size(10) + s_size(20) + s_size(30) + s_size(40) + s_size(50));
    SL_PASS(sl__tier_delete(t, "job1:b"));
    SL_FAILS(sl__tier_delete(t, "job1:b"), SL_ENOTFOUND);
    SL_FAILS(sl__tier_delete(t, "nope"), SL_ENOTFOUND);
    SL_FAILS(sl__tier_delete(t, ".w1.1"), SL_ENOTFOUND);
    s_usage(t, 4, s_size(10) + s_size(30) + s_size(40) + s_size(50));
    SL_ASSERT_EQ(sl__tier_delete_prefix(t, "job1:"), 2);
    SL_ASSERT_EQ(sl__tier_delete_prefix(t, "job1:"), 0);
    s_usage(t, 2, s_size(40) + s_size(50));
    SL_ASSERT(!sl__tier_has(t, "job1:a", NULL));
    s_check(t, "job10:a", 40, 4);
    s_check(t, "job2:a", 50, 5);
    SL_ASSERT_EQ(sl__tier_delete_prefix(t, ""), 0);
    SL_ASSERT_EQ(sl__tier_delete_prefix(t, "job"), 2);
    s_usage(t, 0, 0);
    sl__tier_close(&t);
    s_base_done();
}

// The tier's own files are no objects: keys and prefixes that look like
// their names leave them alone.
static void
test_control_files(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    s_put(t, "x", 10, 1, 0, 0);
    const char *names[] = {"ctl", "alive"};
    for (size_t i = 0; i < 2; i++) {
        SL_FAILS(sl__tier_delete(t, names[i]), SL_ENOTFOUND);
        SL_ASSERT(!sl__tier_has(t, names[i], NULL));
        SL_FAILS(s_get_rv(t, names[i]), SL_ENOTFOUND);
    }
    SL_ASSERT_EQ(sl__tier_delete_prefix(t, "a"), 0);
    SL_ASSERT_EQ(sl__tier_delete_prefix(t, "c"), 0);
    s_usage(t, 1, s_size(10));
    // Objects under those keys.
    s_put(t, "ctl", 100, 2, 0, 0);
    s_put(t, "alive", 100, 3, 0, 0);
    s_put(t, "ctl", 200, 4, 0, 0); // replaced
    s_usage(t, 3, s_size(10) + s_size(100) + s_size(200));
    // Another opener still finds the tier (its ctl, its alive file).
    sl__tier *t2 = s_open_node(base, "c0ffee", "n1", 0, false);
    s_usage(t2, 3, s_size(10) + s_size(100) + s_size(200));
    s_check(t2, "ctl", 200, 4);
    s_check(t2, "alive", 100, 3);
    SL_ASSERT_EQ(sl__tier_sweep(t2), 0);
    s_usage(t2, 3, s_size(10) + s_size(100) + s_size(200));
    // The tier is still held (not dead).
    char errbuf[SL_ERRSTR_LEN] = "";
    SL_ASSERT_EQ(sl__tier_remove_dead(base, errbuf), 0);
    SL_PASS(sl__tier_delete(t, "alive"));
    SL_ASSERT_EQ(sl__tier_remove_dead(base, errbuf), 0);
    SL_ASSERT_EQ(sl__tier_delete_prefix(t, "c"), 1);
    s_usage(t, 1, s_size(10));
    sl__tier_close(&t2);
    t2 = s_open_node(base, "c0ffee", "n1", 0, false);
    s_check(t2, "x", 10, 1);
    sl__tier_close(&t2);
    sl__tier_close(&t);
    s_base_done();
}

// ---------------------------------------------------------------------
// Other processes.

static void
s_child_puts(void *arg)
{
    sl__tier *t = s_open_node((const char *) arg, "c0ffee", "n1", 0, false);
    s_put(t, "from-child", 70000, 8, 0, 0);
    sl__tier_close(&t);
}

// Hold the tier of cluster "held" until killed; tell the parent on fd.
static int s_ready_fd = -1;
static void
s_child_holds(void *arg)
{
    sl__tier *t = s_open_node((const char *) arg, "held", "n1", 0, true);
    SL_ASSERT(write(s_ready_fd, "x", 1) == 1);
    pause();
    sl__tier_close(&t);
}

static void
test_two_processes(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    SL_ASSERT_EQ(sl__test_child(s_child_puts, (void *) base), 0);
    s_check(t, "from-child", 70000, 8);
    s_usage(t, 1, s_size(70000));
    // remove_dead: a tier we hold stays, one nobody holds goes.
    sl__tier *other = s_open_node(base, "dead", "n1", 0, true);
    s_put(other, "k", 10, 1, 0, 0);
    char dead_path[512];
    sl__strlcpy(dead_path, sl__tier_path(other), sizeof(dead_path));
    sl__tier_close(&other);
    char errbuf[SL_ERRSTR_LEN] = "";
    SL_ASSERT_EQ(sl__tier_remove_dead(base, errbuf), 1);
    SL_ASSERT(!s_exists(dead_path));
    SL_ASSERT(s_exists(sl__tier_path(t)));
    s_check(t, "from-child", 70000, 8);
    // One a live child holds stays until the child is gone.
    int fds[2];
    SL_ASSERT(pipe(fds) == 0);
    s_ready_fd = fds[1];
    fflush(stderr);
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        alarm(30);
        s_child_holds((void *) base);
        _exit(0);
    }
    char c;
    SL_ASSERT(read(fds[0], &c, 1) == 1);
    close(fds[0]);
    close(fds[1]);
    char user[256], held[512];
    s_user_dir(user, sizeof(user), base);
    snprintf(held, sizeof(held), "%s/held.n1", user);
    SL_ASSERT(s_exists(held));
    SL_ASSERT_EQ(sl__tier_remove_dead(base, errbuf), 0);
    SL_ASSERT(s_exists(held));
    kill(pid, SIGKILL);
    SL_ASSERT(waitpid(pid, NULL, 0) == pid);
    SL_ASSERT_EQ(sl__tier_remove_dead(base, errbuf), 1);
    SL_ASSERT(!s_exists(held));
    SL_ASSERT(s_exists(sl__tier_path(t)));
    // sl__tier_remove takes one that is held.
    SL_PASS(sl__tier_remove(base, "c0ffee", "n1", errbuf));
    SL_ASSERT(!s_exists(sl__tier_path(t)));
    SL_PASS(sl__tier_remove(base, "c0ffee", "n1", errbuf)); // none: SL_OK
    SL_FAILS(sl__tier_remove(base, "BAD", "n1", errbuf), SL_EINVAL);
    sl__tier_close(&t);
    // A new open makes it again.
    t = s_open(base, 0);
    s_usage(t, 0, 0);
    s_put(t, "k", 10, 1, 0, 0);
    s_check(t, "k", 10, 1);
    sl__tier_close(&t);
    s_base_done();
}

// Opens (with create) while another process removes dead tiers all the
// time, as `starling up` of another cluster would: each open succeeds,
// and gives a tier that works (not a directory whose files are gone).
static void
test_open_races_remove_dead(void)
{
    const char *base = s_base_new();
    char user[256], leftover[512], ours[512], errbuf[SL_ERRSTR_LEN];
    // What makers left: a dead one's goes, a live one's stays.
    sl__tier *first = s_open(base, 0);
    sl__tier_close(&first);
    s_user_dir(user, sizeof(user), base);
    snprintf(leftover, sizeof(leftover), "%s/.new%ld.1", user,
             (long) s_dead_pid());
    snprintf(ours, sizeof(ours), "%s/.new%ld.999", user, (long) getpid());
    SL_ASSERT(mkdir(leftover, 0700) == 0 && mkdir(ours, 0700) == 0);
    SL_ASSERT_EQ(sl__tier_remove_dead(base, errbuf), 1); // c0ffee.n1
    SL_ASSERT(!s_exists(leftover));
    SL_ASSERT(s_exists(ours));
    SL_ASSERT(rmdir(ours) == 0);
    fflush(stderr);
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        alarm(30);
        for (;;) {
            sl__tier_remove_dead(base, NULL);
        }
    }
    int failed = 0;
    char last[SL_ERRSTR_LEN] = "";
    for (int i = 0; i < 1000; i++) {
        sl__tier_opts opts = {base, "c0ffee", "n1", 0, true};
        sl__tier *t = NULL;
        sl_err rv = sl__tier_open(&t, &opts, errbuf);
        if (rv != SL_OK) {
            failed++;
            sl__strlcpy(last, errbuf, sizeof(last));
            continue;
        }
        uint8_t byte = (uint8_t) i;
        sl__blob *blob = NULL;
        const void *data = NULL;
        size_t len = 0;
        if (sl__tier_put(t, "k", &byte, 1, 0, 0, 0, false, NULL) != SL_OK ||
            sl__tier_get(t, "k", &blob, &data, &len) != SL_OK || len != 1 ||
            *(const uint8_t *) data != byte) {
            failed++;
            sl__strlcpy(last, sl__tier_errstr(t), sizeof(last));
        }
        sl__blob_release(&blob);
        sl__tier_close(&t);
    }
    kill(pid, SIGKILL);
    SL_ASSERT(waitpid(pid, NULL, 0) == pid);
    if (failed > 0) {
        SL_FAIL_AT("%d of 1000 opens failed; the last: %s", failed, last);
    }
    s_base_done();
}

// A child that opens the tier (as a new executor would) and exits.
static void
s_child_opens(void *arg)
{
    sl__tier *t = s_open_node((const char *) arg, "c0ffee", "n1", 0, false);
    s_check(t, "k", 10, 1);
    sl__tier_close(&t);
}

// Whether a child running fn ends within seconds; it is killed if not.
static bool
s_child_ends(void (*fn)(void *), void *arg, int seconds, int *status)
{
    fflush(stderr);
    pid_t pid = fork();
    SL_ASSERT(pid >= 0);
    if (pid == 0) {
        fn(arg);
        _exit(0);
    }
    for (int i = 0; i < seconds * 100; i++) {
        if (waitpid(pid, status, WNOHANG) == pid) {
            return true;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    SL_ASSERT(waitpid(pid, status, 0) == pid);
    return false;
}

// Segments begun together, sealed or dropped in any order; a write under
// way keeps a recount off, and does not keep other processes from
// opening the tier.
// A segment as a blob (an ndarray made in shared memory): written through
// the blob, sealed in place, read-only after; one never sealed goes away
// with its last holder, counts and temporary file with it.
static void
test_seg_blob(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    size_t len = 300 * 1000;
    uint8_t *want = s_bytes(len, 9);
    sl__tier_seg *seg = NULL;
    SL_PASS(sl__tier_begin(t, len, 40, &seg));
    sl__blob *b = sl__tier_seg_blob(t, &seg);
    SL_ASSERT(b != NULL && seg == NULL);
    SL_ASSERT_EQ(b->len, len);
    SL_ASSERT_EQ(((uintptr_t) b->data + 40) % 64, 0);
    SL_ASSERT(sl__tier_blob_writable(t, b));
    memcpy(b->data, want, len);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    // Sealing it leaves it mapped: the tier still counts on the blob.
    sl__tier_close(&t); // the blob holds it open
    t = s_open(base, 0);
    SL_FAILS(sl__tier_seal_blob(t, b, "other-handle", 0, 0, false, NULL),
             SL_EINVAL); // not this handle's segment
    sl__tier_close(&t);
    sl__blob_release(&b); // never sealed: dropped
    t = s_open(base, 0);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    s_usage(t, 0, 0);

    SL_PASS(sl__tier_begin(t, len, 0, &seg));
    b = sl__tier_seg_blob(t, &seg);
    memcpy(b->data, want, len);
    bool stored = false;
    SL_PASS(sl__tier_seal_blob(t, b, "sealed", 0, 0, true, &stored));
    SL_ASSERT(stored);
    SL_ASSERT(!sl__tier_blob_writable(t, b));
    SL_ASSERT(sl__tier_blob_hash(b) != 0);
    SL_FAILS(sl__tier_seal_blob(t, b, "again", 0, 0, true, NULL), SL_EINVAL);
    s_check(t, "sealed", len, 9);
    SL_ASSERT(memcmp(b->data, want, len) == 0);
    SL_ASSERT_EQ(sl__test_child(s_write_byte, b->data), 128 + SIGSEGV);
    s_usage(t, 1, s_file_size(t, "sealed"));
    // A second one under the same key with nx loses, and stays readable
    // for its holder; nothing of it is counted.
    SL_PASS(sl__tier_begin(t, len, 0, &seg));
    sl__blob *b2 = sl__tier_seg_blob(t, &seg);
    memset(b2->data, 7, len);
    SL_PASS(sl__tier_seal_blob(t, b2, "sealed", 0, 0, true, &stored));
    SL_ASSERT(!stored);
    SL_ASSERT_EQ(((uint8_t *) b2->data)[len - 1], 7);
    s_check(t, "sealed", len, 9);
    s_usage(t, 1, s_file_size(t, "sealed"));
    sl__blob_release(&b2);
    sl__blob_release(&b);
    s_check(t, "sealed", len, 9); // the object outlives the writer's view
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    free(want);
    sl__tier_close(&t);
    s_base_done();
}

// Data written in pieces through sl__tier_seg_write is hashed as it goes:
// the object checks out; and one written partly so falls back to hashing
// it whole at the seal.
static void
test_seg_write(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    size_t len = 3 * MIB + 17;
    uint8_t *want = s_bytes(len, 4);
    sl__tier_seg *seg = NULL;
    SL_PASS(sl__tier_begin(t, len, 0, &seg));
    sl__tier_seg_write(seg, want, 5);
    sl__tier_seg_write(seg, want + 5, len - 5 - 1000);
    sl__tier_seg_write(seg, want + len - 1000, 1000);
    SL_PASS(sl__tier_seal(t, &seg, "streamed", 0, 0, false, NULL, NULL));
    s_check(t, "streamed", len, 4);
    SL_PASS(sl__tier_begin(t, len, 0, &seg));
    sl__tier_seg_write(seg, want, len / 2);
    memcpy((uint8_t *) sl__tier_seg_data(seg) + len / 2, want + len / 2,
           len - len / 2);
    SL_PASS(sl__tier_seal(t, &seg, "half", 0, 0, false, NULL, NULL));
    s_check(t, "half", len, 4);
    free(want);
    sl__tier_close(&t);
    s_base_done();
}

// A deleted object no one maps leaves its pages in the pool, and the next
// write of about its size takes them (old bytes, not zeroes); one that a
// reader still maps is unlinked instead, and the reader's bytes never
// change.
static void
test_pool(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 64 * MIB);
    size_t len = MIB;
    s_put(t, "a", len, 1, 0, 0);
    uint64_t size = s_file_size(t, "a");
    SL_PASS(sl__tier_delete(t, "a"));
    sl__tier_usage u;
    sl__tier_usage_get(t, &u);
    SL_ASSERT_EQ(u.objects, 0);
    SL_ASSERT_EQ(u.bytes, 0);
    SL_ASSERT_EQ(u.pooled, size);
    SL_ASSERT_EQ(s_count_files(t, ".p"), 1);
    sl__tier_seg *seg = NULL;
    SL_PASS(sl__tier_begin(t, len - 100, 0, &seg));
    SL_ASSERT(sl__tier_seg_recycled(seg));
    uint8_t *want = s_bytes(len - 100, 2);
    sl__tier_seg_write(seg, want, len - 100);
    SL_PASS(sl__tier_seal(t, &seg, "b", 0, 0, false, NULL, NULL));
    s_check(t, "b", len - 100, 2);
    free(want);
    sl__tier_usage_get(t, &u);
    SL_ASSERT_EQ(u.pooled, 0);
    SL_ASSERT_EQ(u.objects, 1);
    SL_ASSERT_EQ(s_count_files(t, ".p"), 0);
    // A small object is not pooled, nor is a size that fits nothing.
    SL_PASS(sl__tier_begin(t, 10 * MIB, 0, &seg));
    SL_ASSERT(!sl__tier_seg_recycled(seg));
    sl__tier_abort(t, &seg);
    // Mapped by a reader: unlinked, not pooled; the reader keeps its bytes
    // while a new object of the same size is written.
    sl__blob *blob = NULL;
    const void *data;
    size_t got;
    SL_PASS(sl__tier_get(t, "b", &blob, &data, &got));
    SL_PASS(sl__tier_delete(t, "b"));
    SL_ASSERT_EQ(s_count_files(t, ".p"), 0);
    s_put(t, "c", len - 100, 3, 0, 0);
    uint8_t *was = s_bytes(len - 100, 2);
    SL_ASSERT(memcmp(data, was, len - 100) == 0);
    free(was);
    sl__blob_release(&blob);
    // A mapping a cache keeps unpinned does not hold its file: deleted, the
    // file is pooled, and pinning it again says its bytes are no longer
    // the object's. One pinned again while its object lives is valid.
    s_put(t, "e", len - 100, 5, 0, 0);
    SL_PASS(sl__tier_get(t, "e", &blob, &data, &got));
    SL_ASSERT(sl__tier_blob_unpin(blob));
    SL_ASSERT(sl__tier_blob_repin(t, blob, "e"));
    SL_ASSERT(sl__tier_blob_unpin(blob));
    size_t pooled_before = (size_t) s_count_files(t, ".p");
    SL_PASS(sl__tier_delete(t, "e"));
    SL_ASSERT_EQ((size_t) s_count_files(t, ".p"), pooled_before + 1);
    SL_ASSERT(!sl__tier_blob_repin(t, blob, "e"));
    sl__blob_release(&blob);
    // A tier short of room drops the pool before it evicts anything.
    SL_PASS(sl__tier_delete(t, "c"));
    SL_ASSERT(s_count_files(t, ".p") >= 1);
    sl__tier_close(&t);
    t = s_open(base, 2 * MIB); // the same tier, a smaller budget
    s_put(t, "d", 3 * MIB / 2, 4, 0, 0);
    SL_ASSERT_EQ(s_count_files(t, ".p"), 0);
    s_check(t, "d", 3 * MIB / 2, 4);
    sl__tier_close(&t);
    s_base_done();
}

static void
test_concurrent_segments(void)
{
    const char *base = s_base_new();
    sl__tier *t = s_open(base, 0);
    s_put(t, "k", 10, 1, 0, 0);
    sl__tier_seg *a = NULL, *b = NULL, *c = NULL;
    SL_PASS(sl__tier_begin(t, 1000, 0, &a));
    SL_PASS(sl__tier_begin(t, 2000, 0, &b));
    SL_ASSERT(sl__tier_seg_data(a) != sl__tier_seg_data(b));
    memset(sl__tier_seg_data(a), 'a', 1000);
    memset(sl__tier_seg_data(b), 'b', 2000);
    s_usage(t, 1, s_size(10) + s_size(1000) + s_size(2000));
    int status = -1;
    SL_ASSERT(s_child_ends(s_child_opens, (void *) base, 10, &status));
    SL_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    SL_PASS(sl__tier_seal(t, &a, "a", 0, 0, false, NULL, NULL));
    // b is still being written: another handle's sweep keeps it.
    sl__tier *t2 = s_open(base, 0);
    SL_ASSERT_EQ(sl__tier_sweep(t2), 0);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    s_usage(t, 2, s_size(10) + s_size(1000) + s_size(2000));
    SL_ASSERT(s_child_ends(s_child_opens, (void *) base, 10, &status));
    SL_PASS(sl__tier_begin(t, 3000, 0, &c));
    sl__tier_abort(t, &c);
    SL_ASSERT_EQ(sl__tier_sweep(t2), 0);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 1);
    SL_PASS(sl__tier_seal(t, &b, "b", 0, 0, false, NULL, NULL));
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    s_usage(t, 3, s_size(10) + s_size(1000) + s_size(2000));
    // Nothing under way: a recount, which agrees.
    SL_ASSERT_EQ(sl__tier_sweep(t2), 0);
    s_usage(t, 3, s_size(10) + s_size(1000) + s_size(2000));
    sl__blob *blob = NULL;
    const void *data = NULL;
    size_t len = 0;
    SL_PASS(sl__tier_get(t2, "a", &blob, &data, &len));
    SL_ASSERT(len == 1000 && ((const char *) data)[999] == 'a');
    sl__blob_release(&blob);
    SL_PASS(sl__tier_get(t2, "b", &blob, &data, &len));
    SL_ASSERT(len == 2000 && ((const char *) data)[1999] == 'b');
    sl__blob_release(&blob);
    // Begun in the reverse order of their seals, with nx losers between.
    SL_PASS(sl__tier_begin(t, 10, 0, &a));
    SL_PASS(sl__tier_begin(t, 10, 0, &b));
    SL_PASS(sl__tier_begin(t, 10, 0, &c));
    bool stored = true;
    SL_PASS(sl__tier_seal(t, &c, "a", 0, 0, true, &stored, NULL));
    SL_ASSERT(!stored);
    SL_ASSERT_EQ(sl__tier_sweep(t2), 0);
    SL_ASSERT_EQ(s_count_files(t, ".w"), 2);
    SL_PASS(sl__tier_seal(t, &b, "b2", 0, 0, false, NULL, NULL));
    SL_PASS(sl__tier_seal(t, &a, "a2", 0, 0, false, NULL, NULL));
    SL_ASSERT_EQ(s_count_files(t, ".w"), 0);
    SL_ASSERT_EQ(sl__tier_sweep(t2), 0);
    s_usage(t, 5, s_size(10) * 3 + s_size(1000) + s_size(2000));
    sl__tier_close(&t2);
    sl__tier_close(&t);
    s_base_done();
}

int
main(void)
{
    s_owner_pid = getpid();
    atexit(s_cleanup);
    signal(SIGALRM, s_on_alarm);
    alarm(100);
    SL_RUN(test_open_missing);
    SL_RUN(test_open_create);
    SL_RUN(test_open_refuses_open_dirs);
    SL_RUN(test_open_refuses_symlink);
    SL_RUN(test_open_long_base);
    SL_RUN(test_layout);
    SL_RUN(test_round_trip);
    SL_RUN(test_mapping);
    SL_RUN(test_begin_seal_nx);
    SL_RUN(test_nx_over_expired);
    SL_RUN(test_seal_blob);
    SL_RUN(test_damaged);
    SL_RUN(test_flags);
    SL_RUN(test_evict_lru);
    SL_RUN(test_budget_full);
    SL_RUN(test_spill);
    SL_RUN(test_spill_fails);
    SL_RUN(test_evict_expired);
    SL_RUN(test_expiry);
    SL_RUN(test_sweep_leftovers);
    SL_RUN(test_delete);
    SL_RUN(test_control_files);
    SL_RUN(test_two_processes);
    SL_RUN(test_open_races_remove_dead);
    SL_RUN(test_concurrent_segments);
    SL_RUN(test_seg_blob);
    SL_RUN(test_seg_write);
    SL_RUN(test_pool);
    return 0;
}
