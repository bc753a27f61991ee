// tier_fuzz.c - fuzz the object tier's reader (store/tier.h): an object
// file as a reader finds it on the tmpfs, whatever wrote it, through
// sl__tier_has, sl__tier_get and sl__tier_sweep.
// SPDX-License-Identifier: MIT
//
// Design notes. One tier, in a directory of its own under /tmp (removed at
// exit), serves every input. The first input byte says which parts of the
// rest to make right before it is written as the file of the key "fuzz",
// so that inputs also reach the checks after the header's (a fuzzer does
// not find an XXH3 hash): bit 0 the magic and version, bit 1 the key,
// bit 2 the data offset (from the input's, within a writer's range) and
// the length, bit 3 the hash, bit 4 no expiry. A header is first padded
// with zeros to its 256 bytes when any bit is set. The header layout is
// tier.c's (s_hdr); tier_test checks it against what a put writes.
// Oracles, against a model of the checks written from tier.h and tier.c:
// - has answers whether the header is an object's, of this key, and not
//   expired; get answers SL_OK exactly when the hash matches too (or the
//   header is marked checked: a reader on the node checked it before),
//   SL_ENOTFOUND when it has expired, SL_EPROTO (errstr: "damaged")
//   otherwise, and no other error.
// - What get maps is the file's data, as long as the header says, and the
//   blob is that data; flags added to it are seen by has.
// - A file get refused is gone; one it took is kept by a sweep, which then
//   counts exactly the files there are (one object or none).
#define _GNU_SOURCE // nftw
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "fuzzutil.h"
#include "serialize/value.h"
#include "store/tier.h"

#define H_MAGIC 0
#define H_VERSION 8
#define H_FLAGS 12
#define H_DATA_OFF 16
#define H_DATA_LEN 24
#define H_HASH 32
#define H_EXPIRES 40
#define H_KEY 48
#define H_KEY_MAX 96
#define H_BYTES 256
#define H_CHECKED 0x80000000u // tier.c's S_CHECKED
#define H_ALIGN 64

static char s_base[64];
static sl__tier *s_tier;
static char s_file[512]; // the path of the object "fuzz"

static int
s_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void
s_cleanup(void)
{
    sl__tier_close(&s_tier);
    if (s_base[0] != '\0') {
        nftw(s_base, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void
s_setup(void)
{
    sl__strlcpy(s_base, "/tmp/tier_fuzz.XXXXXX", sizeof(s_base));
    SL_FUZZ_CHECK(mkdtemp(s_base) != NULL);
    atexit(s_cleanup);
    sl__tier_opts opts = {s_base, "fuzz", "n1", 1u << 30, true};
    char errbuf[SL_ERRSTR_LEN];
    SL_FUZZ_CHECK(sl__tier_open(&s_tier, &opts, errbuf) == SL_OK);
    snprintf(s_file, sizeof(s_file), "%s/fuzz", sl__tier_path(s_tier));
}

static uint64_t
s_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void
s_put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

// The file to write: the input after its first byte, with the parts that
// byte names made right. *len_p is its length.
static uint8_t *
s_make_file(const uint8_t *data, size_t size, size_t *len_p)
{
    unsigned mode = size > 0 ? data[0] : 0;
    size_t len = size > 0 ? size - 1 : 0;
    size_t cap = len < H_BYTES + H_ALIGN ? H_BYTES + H_ALIGN : len;
    uint8_t *f = calloc(1, cap);
    SL_FUZZ_CHECK(f != NULL);
    if (len > 0) {
        memcpy(f, data + 1, len);
    }
    if ((mode & 0x1f) != 0 && len < H_BYTES) {
        len = H_BYTES;
    }
    if (mode & 1) {
        memcpy(f + H_MAGIC, "SLOBJ\0\0\1", 8);
        uint32_t version = 1;
        memcpy(f + H_VERSION, &version, sizeof(version));
    }
    if (mode & 2) {
        memset(f + H_KEY, 0, H_KEY_MAX);
        memcpy(f + H_KEY, "fuzz", 4);
    }
    if (mode & 4) {
        uint64_t off = H_BYTES + s_u64(f + H_DATA_OFF) % H_ALIGN;
        if (len < off) {
            len = (size_t) off;
        }
        s_put_u64(f + H_DATA_OFF, off);
        s_put_u64(f + H_DATA_LEN, len - off);
    }
    if (mode & 8) {
        uint64_t off = s_u64(f + H_DATA_OFF), n = s_u64(f + H_DATA_LEN);
        if (len >= H_BYTES && off <= len && n == len - off) {
            s_put_u64(f + H_HASH, XXH3_64bits(f + off, (size_t) n));
        }
    }
    if (mode & 16) {
        s_put_u64(f + H_EXPIRES, 0);
    }
    *len_p = len;
    return f;
}

typedef enum { S_DAMAGED, S_EXPIRED, S_BAD_HASH, S_GOOD } s_verdict;

// What the reader must make of the file f of len bytes under "fuzz", at
// time now.
static s_verdict
s_model(const uint8_t *f, size_t len, int64_t now)
{
    if (len < H_BYTES || memcmp(f + H_MAGIC, "SLOBJ\0\0\1", 8) != 0) {
        return S_DAMAGED;
    }
    uint32_t version;
    memcpy(&version, f + H_VERSION, sizeof(version));
    if (version != 1 || memchr(f + H_KEY, '\0', H_KEY_MAX) == NULL) {
        return S_DAMAGED;
    }
    uint64_t off = s_u64(f + H_DATA_OFF), n = s_u64(f + H_DATA_LEN);
    if (off < H_BYTES || off >= H_BYTES + H_ALIGN || off > len ||
        n != len - off) {
        return S_DAMAGED;
    }
    if (strcmp((const char *) f + H_KEY, "fuzz") != 0) {
        return S_DAMAGED;
    }
    int64_t expires;
    memcpy(&expires, f + H_EXPIRES, sizeof(expires));
    if (expires != 0 && expires < now) {
        return S_EXPIRED;
    }
    // A header marked checked (tier.c's own flag, bit 31: a reader on the
    // node checked the hash already) is trusted without the hash.
    uint32_t flags;
    memcpy(&flags, f + H_FLAGS, sizeof(flags));
    if (flags & H_CHECKED) {
        return S_GOOD;
    }
    return XXH3_64bits(f + off, (size_t) n) == s_u64(f + H_HASH) ? S_GOOD
                                                                 : S_BAD_HASH;
}

static bool
s_exists(void)
{
    struct stat st;
    return stat(s_file, &st) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (s_tier == NULL) {
        s_setup();
    }
    size_t len = 0;
    uint8_t *f = s_make_file(data, size, &len);
    int fd = open(s_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    SL_FUZZ_CHECK(fd >= 0);
    SL_FUZZ_CHECK(len == 0 || write(fd, f, len) == (ssize_t) len);
    close(fd);
    // Expiry within a second or two of now may change between the calls:
    // then only what holds either way is checked.
    int64_t now = (int64_t) time(NULL);
    s_verdict before = s_model(f, len, now - 2);
    s_verdict want = s_model(f, len, now);
    s_verdict after = s_model(f, len, now + 2);
    bool sure = before == after;

    unsigned flags = 0;
    bool has = sl__tier_has(s_tier, "fuzz", &flags);
    if (sure) {
        SL_FUZZ_CHECK(has == (want == S_GOOD || want == S_BAD_HASH));
    }
    if (has) {
        uint32_t want_flags;
        memcpy(&want_flags, f + H_FLAGS, sizeof(want_flags));
        SL_FUZZ_CHECK(flags == (want_flags & ~H_CHECKED)); // not reported
    }

    sl__blob *blob = NULL;
    const void *got = NULL;
    size_t got_len = 0;
    sl_err rv = sl__tier_get(s_tier, "fuzz", &blob, &got, &got_len);
    SL_FUZZ_CHECK(sl__fuzz_errbuf_ok(sl__tier_errstr(s_tier)));
    SL_FUZZ_CHECK((rv == SL_OK) == (blob != NULL));
    SL_FUZZ_CHECK(rv == SL_OK || rv == SL_ENOTFOUND || rv == SL_EPROTO);
    if (sure) {
        SL_FUZZ_CHECK((rv == SL_OK) == (want == S_GOOD));
        SL_FUZZ_CHECK((rv == SL_ENOTFOUND) == (want == S_EXPIRED));
    }
    if (rv == SL_EPROTO) {
        SL_FUZZ_CHECK(strstr(sl__tier_errstr(s_tier), "damaged") != NULL);
    }
    if (rv == SL_OK) {
        uint64_t off = s_u64(f + H_DATA_OFF);
        SL_FUZZ_CHECK(got_len == len - off);
        SL_FUZZ_CHECK(blob->data == got && blob->len == got_len);
        SL_FUZZ_CHECK(got_len == 0 || memcmp(got, f + off, got_len) == 0);
        SL_FUZZ_CHECK(s_exists());
        unsigned add = size > 1 ? (data[1] & 3u) : 0;
        SL_FUZZ_CHECK(sl__tier_add_flags(s_tier, "fuzz", add) == SL_OK);
        unsigned now_flags = 0;
        if (sl__tier_has(s_tier, "fuzz", &now_flags)) {
            SL_FUZZ_CHECK(now_flags == (flags | add));
        }
        // The mapping outlives the file.
        sl__tier_delete(s_tier, "fuzz");
        SL_FUZZ_CHECK(got_len == 0 || memcmp(got, f + off, got_len) == 0);
        sl__blob_release(&blob);
        fd = open(s_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        SL_FUZZ_CHECK(fd >= 0);
        SL_FUZZ_CHECK(write(fd, f, len) == (ssize_t) len);
        close(fd);
    } else {
        SL_FUZZ_CHECK(!s_exists());
    }

    // A sweep keeps what get took (unless it expired since), removes
    // nothing else, and counts again what there is.
    size_t removed = sl__tier_sweep(s_tier);
    bool kept = s_exists();
    SL_FUZZ_CHECK(removed == (rv == SL_OK && !kept ? 1u : 0u));
    if (rv == SL_OK && sure) {
        SL_FUZZ_CHECK(kept);
    }
    sl__tier_usage u;
    sl__tier_usage_get(s_tier, &u);
    SL_FUZZ_CHECK(u.objects == (kept ? 1u : 0u));
    SL_FUZZ_CHECK(u.bytes == (kept ? len : 0u));

    if (kept) {
        SL_FUZZ_CHECK(sl__tier_delete(s_tier, "fuzz") == SL_OK);
    }
    SL_FUZZ_CHECK(!s_exists());
    sl__tier_usage_get(s_tier, &u);
    SL_FUZZ_CHECK(u.objects == 0 && u.bytes == 0);
    free(f);
    return 0;
}
