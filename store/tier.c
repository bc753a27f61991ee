// tier.c - the node's object tier (tier.h): files on a tmpfs, mapped.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The budget is counted in ctl, a shared page every process of the node
//   maps: writers add an object's size before they fill it and take it off
//   when it goes. The count can drift when a process dies between the two,
//   so sl__tier_sweep counts again from the files, with ctl's flock held
//   exclusively; writers hold it shared from their count to their link,
//   and whoever removes an object from its unlink to its subtraction, so
//   a recount never sees half of a write or of a removal.
// - An object file never changes once linked under its key, except for the
//   flags word of its header (pwrite), which the hash does not cover.
// - Readers bump the mtime of what they map: that is the eviction order.
// - The first reader on the node that maps an object checks its bytes
//   against the header's hash, and marks the header checked (S_CHECKED,
//   in the flags word): later readers, in any process of the node, trust
//   it. A file never changes once linked, so one check is as good as one
//   per map; 8 MiB tiles read by many tasks of a graph had every executor
//   hash each of them again (7% of the executors' time in a tiled
//   Cholesky).
#define _GNU_SOURCE
#include "tier.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__)
// The hash at the machine's best (AVX2, AVX-512) rather than SSE2: twice
// as fast here (11 GB/s), so that checking a mapped object costs about
// what reading it does.
#include <xxh_x86dispatch.h>
#endif

#define S_MAGIC "SLOBJ\0\0\1"
#define S_CTL_MAGIC "SLTIER\0\1"
#define S_VERSION 1u
#define S_HDR_BYTES 256u
#define S_KEY_MAX 96u
#define S_ALIGN 64u
// The tier's own files. Their names start with '.', as no key does, so
// that no object can take their place and no delete or eviction theirs.
#define S_CTL ".ctl"
#define S_ALIVE ".alive"
// A tier directory being made, in the user's directory: .new<pid>.<n>
#define S_NEW ".new"

// A flag of the header's flags word that is this file's own, not one of
// SL_TIER_*: a reader has checked the data against its hash.
#define S_CHECKED 0x80000000u

// The header of an object file, at offset 0.
typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t flags;      // SL_TIER_*; not hashed, may change
    uint64_t data_off;   // where the data starts
    uint64_t data_len;   // its bytes: data_off + data_len is the file's size
    uint64_t hash;       // XXH3-64 of the data
    int64_t expires_s;   // unix time after which it is gone; 0: never
    char key[S_KEY_MAX]; // NUL-terminated
} s_hdr;
_Static_assert(sizeof(s_hdr) <= S_HDR_BYTES, "header fits its bytes");

// The shared control page.
typedef struct {
    char magic[8];
    _Atomic uint64_t budget;
    _Atomic uint64_t used;    // bytes of objects and writes under way
    _Atomic uint64_t objects; // sealed objects
    _Atomic uint64_t pooled;  // bytes of retired files kept for reuse
} s_ctl;

struct sl__tier {
    char path[512]; // the tier's directory
    char node[64];
    int dir_fd;
    int ctl_fd;   // flock: shared by writers, exclusive by a recount
    int alive_fd; // our shared flock: the tier is in use
    int writing;  // holds of ctl's shared flock: segments begun and not
                  // yet sealed or dropped, and a count being changed
    int refs;     // the opener's, and one per segment blob alive
    s_ctl *ctl;
    uint64_t seq; // names this process's writes
    sl__tier_spill_fn spill;
    void *spill_ctx;
    char errstr[SL_ERRSTR_LEN];
};

struct sl__tier_seg {
    int fd;
    char tmp[64]; // its name while it is written
    uint8_t *map; // the whole file, writable
    size_t map_len;
    size_t data_off, data_len;
    uint64_t hash; // of the data, once sl__tier_seg_hash computed it
    bool hashed;
    XXH3_state_t *stream; // sl__tier_seg_write's hash of what it wrote
    size_t written;       // bytes it wrote, from the start of the data
    sl__tier *tier;       // held by a blob (sl__tier_seg_blob): its tier
    bool sealed;          // the blob's segment is sealed (or lost its key)
    bool recycled;        // its pages were a retired object's (not zeroed)
};

static sl_err s_err(sl__tier *t, sl_err rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sl_err
s_err(sl__tier *t, sl_err rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->errstr, sizeof(t->errstr), fmt, ap);
    va_end(ap);
    return rv;
}

// flock that waits through signals: the daemons have handlers (SIGCHLD,
// SIGTERM), and a writer whose shared lock a signal interrupted would
// write without it, so that a recount could remove its temporary file.
static int
s_flock(int fd, int op)
{
    int rc;
    while ((rc = flock(fd, op)) != 0 && errno == EINTR) {
    }
    return rc;
}

static const char *
s_base(const char *base)
{
    if (base == NULL || *base == '\0') {
        base = getenv("STARLING_TIER_DIR");
    }
    return base != NULL && *base != '\0' ? base : "/dev/shm";
}

// The user's directory under base; false when it does not fit in size.
static bool
s_user_dir(char *buf, size_t size, const char *base)
{
    int n = snprintf(buf, size, "%s/starling-%u", s_base(base),
                     (unsigned) getuid());
    return n >= 0 && (size_t) n < size;
}

static sl_err
s_too_long(char errbuf[SL_ERRSTR_LEN], const char *base)
{
    return sl__errf(errbuf, SL_EINVAL,
                    "object tier: base directory too long: %.64s...",
                    s_base(base));
}

// Check dir (with create, make it first when missing): a directory of
// ours that no one else may enter, and not a symbolic link to one. Anyone
// may make <base>/starling-<uid> in /dev/shm, as a link to a directory of
// ours that is no tier's (a home directory of mode 0700), which a tier
// would then fill and sl__tier_remove_dead empty. SL_ENOTFOUND when it is
// missing and not to be made.
static sl_err
s_dir_ok(const char *dir, bool create, char errbuf[SL_ERRSTR_LEN])
{
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT) {
            return sl__errf(errbuf, SL_EIO, "object tier %s: %s", dir,
                            strerror(errno));
        }
        if (!create) {
            return sl__errf(errbuf, SL_ENOTFOUND, "%s: no object tier here",
                            dir);
        }
        sl_err rv = sl__mkdirs(dir, errbuf);
        if (rv != SL_OK) {
            return rv;
        }
        if (lstat(dir, &st) != 0) {
            return sl__errf(errbuf, SL_EIO, "object tier %s: %s", dir,
                            strerror(errno));
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        return sl__errf(
            errbuf, SL_EAUTH,
            "object tier %s must be a directory of ours, not %s", dir,
            S_ISLNK(st.st_mode) ? "a symbolic link" : "another kind of file");
    }
    // As sl__dir_check, but on what lstat saw: a directory removed since
    // is no I/O error (sl__tier_remove_dead may take a tier at any time).
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        return sl__errf(errbuf, SL_EAUTH,
                        "object tier %s must be ours and closed to everyone "
                        "else (it is mode %03o, owner %u; we are uid %u)",
                        dir, (unsigned) (st.st_mode & 0777),
                        (unsigned) st.st_uid, (unsigned) geteuid());
    }
    return SL_OK;
}

static void
s_node_name(char *buf, size_t size, const char *node)
{
    size_t i = 0;
    for (; node != NULL && node[i] != '\0' && i + 1 < size; i++) {
        char ch = node[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
                  ch == '_';
        buf[i] = ok ? ch : '_';
    }
    buf[i] = '\0';
    if (i == 0) {
        sl__strlcpy(buf, "node", size);
    }
}

static bool
s_cluster_ok(const char *cluster)
{
    size_t n = cluster != NULL ? strlen(cluster) : 0;
    if (n == 0 || n > 32) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = cluster[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z'))) {
            return false;
        }
    }
    return true;
}

static bool
s_key_ok(const char *key)
{
    size_t n = key != NULL ? strlen(key) : 0;
    if (n == 0 || n >= S_KEY_MAX || key[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = key[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == ':' || ch == '#' ||
                  ch == '.' || ch == '-' || ch == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool
sl__tier_key_ok(const char *key)
{
    return s_key_ok(key);
}

void
sl__tier_node_name(char *buf, size_t size, const char *node)
{
    s_node_name(buf, size, node);
}

static uint64_t
s_default_budget(const char *path)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    uint64_t budget =
        (uint64_t) pages * (uint64_t) page / SL_TIER_BUDGET_RAM_DIV;
    struct statvfs vfs;
    if (statvfs(path, &vfs) == 0) {
        uint64_t half = (uint64_t) vfs.f_blocks * vfs.f_frsize / 2;
        budget = half > 0 && half < budget ? half : budget;
    }
    return budget;
}

// Map ctl and check it. *ready is false when it is not filled yet (no
// bytes, or its magic still zero): with fill (its exclusive flock held),
// it is filled then.
static sl_err
s_ctl_map(sl__tier *t, bool fill, uint64_t budget, bool *ready)
{
    struct stat st;
    *ready = false;
    if (fstat(t->ctl_fd, &st) != 0) {
        return s_err(t, SL_EIO, "%s/" S_CTL ": %s", t->path, strerror(errno));
    }
    if (st.st_size == 0) {
        if (!fill) {
            return SL_OK;
        }
        if (ftruncate(t->ctl_fd, 4096) != 0) {
            return s_err(t, SL_EIO, "%s/" S_CTL ": %s", t->path,
                         strerror(errno));
        }
    } else if (st.st_size != 4096) {
        return s_err(t, SL_EPROTO, "%s/" S_CTL ": %lld bytes, not a tier's",
                     t->path, (long long) st.st_size);
    }
    if (t->ctl == NULL &&
        (t->ctl = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
                       t->ctl_fd, 0)) == MAP_FAILED) {
        t->ctl = NULL;
        return s_err(t, SL_EIO, "%s/" S_CTL ": mmap: %s", t->path,
                     strerror(errno));
    }
    if (memcmp(t->ctl->magic, S_CTL_MAGIC, 8) == 0) {
        atomic_thread_fence(memory_order_acquire); // the budget after it
        *ready = true;
        return SL_OK;
    }
    for (size_t i = 0; i < sizeof(t->ctl->magic); i++) {
        if (t->ctl->magic[i] != 0) {
            return s_err(t, SL_EPROTO, "%s/" S_CTL ": not a tier's", t->path);
        }
    }
    if (fill) {
        atomic_store(&t->ctl->budget,
                     budget > 0 ? budget : s_default_budget(t->path));
        atomic_thread_fence(memory_order_release); // the magic last
        memcpy(t->ctl->magic, S_CTL_MAGIC, 8);
        *ready = true;
    }
    return SL_OK;
}

// Open ctl (making it with create), map it, and check its magic.
static sl_err
s_ctl_open(sl__tier *t, bool create, uint64_t budget)
{
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    t->ctl_fd = openat(t->dir_fd, S_CTL, flags, 0600);
    if (t->ctl_fd < 0) {
        return errno == ENOENT
                   ? s_err(t, SL_ENOTFOUND, "%s: no object tier here", t->path)
                   : s_err(t, SL_EIO, "%s/" S_CTL ": %s", t->path,
                           strerror(errno));
    }
    // A ctl that is filled is used without its flock: writers hold that
    // shared for as long as they write (a client filling an array), and
    // waiting for an exclusive one would keep every new process of the
    // node (and this one, through a second handle) waiting for them.
    // Whoever finds it unfilled fills it under the exclusive lock, and
    // whoever else does waits for that.
    bool ready = false;
    sl_err rv = s_ctl_map(t, false, budget, &ready);
    if (rv == SL_OK && !ready) {
        s_flock(t->ctl_fd, LOCK_EX);
        rv = s_ctl_map(t, true, budget, &ready);
        flock(t->ctl_fd, LOCK_UN);
    }
    if (rv == SL_OK && budget > 0) {
        atomic_store(&t->ctl->budget, budget);
    }
    return rv;
}

// Open the tier's directory and its alive file, and hold the alive
// file's shared flock. SL_ENOTFOUND when the directory went meanwhile.
static sl_err
s_alive_open(sl__tier *t, char errbuf[SL_ERRSTR_LEN])
{
    struct stat st;
    t->dir_fd = open(t->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (t->dir_fd >= 0) {
        t->alive_fd =
            openat(t->dir_fd, S_ALIVE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    sl_err rv = SL_OK;
    if (t->alive_fd < 0) {
        rv = sl__errf(errbuf, errno == ENOENT ? SL_ENOTFOUND : SL_EIO,
                      "%s%s: %s", t->path, t->dir_fd >= 0 ? "/" S_ALIVE : "",
                      errno == ENOENT ? "removed while opened"
                                      : strerror(errno));
    } else if (s_flock(t->alive_fd, LOCK_SH) != 0 ||
               fstat(t->alive_fd, &st) != 0) {
        rv = sl__errf(errbuf, SL_EIO, "%s/" S_ALIVE ": %s", t->path,
                      strerror(errno));
    } else if (st.st_nlink == 0) {
        // Removed while we waited for its lock.
        rv =
            sl__errf(errbuf, SL_ENOTFOUND, "%s: removed while opened", t->path);
    }
    if (rv != SL_OK) {
        if (t->alive_fd >= 0) {
            close(t->alive_fd);
        }
        if (t->dir_fd >= 0) {
            close(t->dir_fd);
        }
        t->alive_fd = t->dir_fd = -1;
    }
    return rv;
}

// Make the tier's directory with its alive file, and hold that file's
// shared flock before the directory has its name: it is made under a name
// of its own (".new<pid>.<n>", which sl__tier_remove_dead leaves alone
// while we live), then renamed. SL_ENOTFOUND when another process made the
// tier first: open that one.
static sl_err
s_tier_make(sl__tier *t, const char *user, char errbuf[SL_ERRSTR_LEN])
{
    static _Atomic unsigned s_seq;
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/" S_NEW "%ld.%u", user, (long) getpid(),
             atomic_fetch_add(&s_seq, 1));
    if (mkdir(tmp, 0700) != 0) {
        return sl__errf(errbuf, SL_EIO, "cannot make %s: %s", tmp,
                        strerror(errno));
    }
    sl_err rv = SL_OK;
    t->dir_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (t->dir_fd >= 0) {
        t->alive_fd = openat(t->dir_fd, S_ALIVE,
                             O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    // ctl is there from the start, for openers without create (empty:
    // the first opener fills it).
    int ctl = -1;
    if (t->alive_fd < 0 || s_flock(t->alive_fd, LOCK_SH) != 0 ||
        (ctl = openat(t->dir_fd, S_CTL, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                      0600)) < 0) {
        rv = sl__errf(errbuf, SL_EIO, "%s: %s", tmp, strerror(errno));
    } else {
        close(ctl);
        if (rename(tmp, t->path) == 0) {
            return SL_OK;
        }
        rv = errno == EEXIST || errno == ENOTEMPTY
                 ? sl__errf(errbuf, SL_ENOTFOUND, "%s: made meanwhile", t->path)
                 : sl__errf(errbuf, SL_EIO, "cannot make %s: %s", t->path,
                            strerror(errno));
    }
    if (t->dir_fd >= 0) {
        unlinkat(t->dir_fd, S_CTL, 0);
        unlinkat(t->dir_fd, S_ALIVE, 0);
    }
    rmdir(tmp);
    if (t->alive_fd >= 0) {
        close(t->alive_fd);
    }
    if (t->dir_fd >= 0) {
        close(t->dir_fd);
    }
    t->alive_fd = t->dir_fd = -1;
    return rv;
}

sl_err
sl__tier_open(sl__tier **out, const sl__tier_opts *opts,
              char errbuf[SL_ERRSTR_LEN])
{
    *out = NULL;
    if (!s_cluster_ok(opts->cluster)) {
        return sl__errf(errbuf, SL_EINVAL, "object tier: bad cluster id '%s'",
                        opts->cluster != NULL ? opts->cluster : "");
    }
    sl__tier *t = sl__xcalloc(1, sizeof(*t));
    t->dir_fd = t->ctl_fd = t->alive_fd = -1;
    t->refs = 1;
    s_node_name(t->node, sizeof(t->node), opts->node);
    char user[400];
    int n = 0;
    if (!s_user_dir(user, sizeof(user), opts->base) ||
        (n = snprintf(t->path, sizeof(t->path), "%s/%s.%s", user, opts->cluster,
                      t->node)) < 0 ||
        (size_t) n >= sizeof(t->path)) {
        sl__tier_close(&t);
        return s_too_long(errbuf, opts->base);
    }
    // sl__tier_remove_dead may take a tier away between our open of its
    // alive file and our lock of it (nobody held it: it was dead); one we
    // make has our lock before it has its name. Another process may make
    // it as we do. Either way we look again, a few times.
    sl_err rv = s_dir_ok(user, opts->create, errbuf);
    for (int tries = 0; rv == SL_OK; tries++) {
        rv = s_dir_ok(t->path, false, errbuf);
        if (rv == SL_OK) {
            rv = s_alive_open(t, errbuf);
        } else if (rv == SL_ENOTFOUND && opts->create) {
            rv = s_tier_make(t, user, errbuf);
        }
        if (rv != SL_ENOTFOUND || !opts->create || tries == 8) {
            break;
        }
        rv = SL_OK;
    }
    if (rv == SL_OK &&
        (rv = s_ctl_open(t, opts->create, opts->budget)) != SL_OK) {
        sl__strlcpy(errbuf, t->errstr, SL_ERRSTR_LEN);
    }
    if (rv != SL_OK) {
        sl__tier_close(&t);
        return rv;
    }
    *out = t;
    return SL_OK;
}

static void s_tier_unref(sl__tier *t);

void
sl__tier_close(sl__tier **tier_p)
{
    sl__tier *t = *tier_p;
    *tier_p = NULL;
    if (t != NULL) {
        s_tier_unref(t);
    }
}

// The last of the opener and the segment blobs closes the tier.
static void
s_tier_unref(sl__tier *t)
{
    if (--t->refs > 0) {
        return;
    }
    if (t->ctl != NULL) {
        munmap(t->ctl, 4096);
    }
    if (t->ctl_fd >= 0) {
        close(t->ctl_fd);
    }
    if (t->alive_fd >= 0) {
        close(t->alive_fd); // drops our flock
    }
    if (t->dir_fd >= 0) {
        close(t->dir_fd);
    }
    free(t);
}

const char *
sl__tier_path(const sl__tier *tier)
{
    return tier->path;
}

const char *
sl__tier_node(const sl__tier *tier)
{
    return tier->node;
}

const char *
sl__tier_errstr(const sl__tier *tier)
{
    return tier->errstr;
}

void
sl__tier_set_spill(sl__tier *tier, sl__tier_spill_fn fn, void *ctx)
{
    tier->spill = fn;
    tier->spill_ctx = ctx;
}

// ---------------------------------------------------------------------
// Reading headers and files.

static int64_t
s_now_s(void)
{
    return (int64_t) time(NULL);
}

// Read the header of the object file fd (of st_size bytes) and check what
// can be checked without the data. Returns NULL or what is wrong.
static const char *
s_hdr_read(int fd, off_t st_size, s_hdr *h)
{
    if (st_size < (off_t) S_HDR_BYTES) {
        return "shorter than its header";
    }
    if (pread(fd, h, sizeof(*h), 0) != (ssize_t) sizeof(*h)) {
        return "cannot read its header";
    }
    if (memcmp(h->magic, S_MAGIC, 8) != 0) {
        return "not an object (bad magic)";
    }
    if (h->version != S_VERSION) {
        return "written by another version";
    }
    if (memchr(h->key, '\0', sizeof(h->key)) == NULL) {
        return "its key is not terminated";
    }
    if (h->data_off < S_HDR_BYTES || h->data_off >= S_HDR_BYTES + S_ALIGN) {
        return "its data offset is not a writer's";
    }
    if (h->data_off > (uint64_t) st_size ||
        h->data_len != (uint64_t) st_size - h->data_off) {
        return "its size does not match its header (truncated?)";
    }
    return NULL;
}

static bool
s_expired(const s_hdr *h, int64_t now)
{
    return h->expires_s != 0 && h->expires_s < now;
}

// ctl's shared flock, held while this process has a write under way.
static void
s_write_lock(sl__tier *t)
{
    if (t->writing++ == 0) {
        s_flock(t->ctl_fd, LOCK_SH);
    }
}

static void
s_write_unlock(sl__tier *t)
{
    if (--t->writing == 0) {
        flock(t->ctl_fd, LOCK_UN);
    }
}

// Unlink name and take size off the count. Returns whether it was ours
// to unlink. Under ctl's shared flock, as every change of the count: a
// recount (sl__tier_sweep) that ran between the unlink and the subtraction
// would count without the file, and the subtraction then take it off a
// second time (below zero, wrapping: every later write SL_ELIMIT).
static bool
s_unlink_counted(sl__tier *t, const char *name, uint64_t size, bool object)
{
    s_write_lock(t);
    bool ok = unlinkat(t->dir_fd, name, 0) == 0;
    int err = errno;
    if (ok) {
        atomic_fetch_sub(&t->ctl->used, size);
        if (object) {
            atomic_fetch_sub(&t->ctl->objects, 1);
        }
    }
    s_write_unlock(t);
    errno = err; // the unlink's, for the caller's message
    return ok;
}

// ---------------------------------------------------------------------
// The pool: pages kept for the next writes.
//
// A tmpfs page costs about 0.4 us a KiB to fault in and zero the first
// time it is written (no huge pages there), as much as copying into it
// twice. So an object that goes (released, expired, evicted) is renamed
// ".p<pid>.<n>" rather than unlinked, when no process maps it (every
// mapping holds a shared flock on its file: an exclusive one that cannot
// be had means a reader still uses it) and the pool has room (a quarter of
// the budget); a writer takes a pooled file of about its size, and its
// pages are there already. Pooled bytes stay counted as used; a writer
// short of room drops pooled files before it evicts an object, and the
// sweep drops those unused for S_POOL_IDLE_S.

#define S_POOL_MIN (64u << 10)
#define S_POOL_IDLE_S 30

// Retire the object under name (size bytes): into the pool, or unlinked.
// Counted like s_unlink_counted, whose contract it has.
static bool
s_retire(sl__tier *t, const char *name, uint64_t size)
{
    uint64_t budget = atomic_load(&t->ctl->budget);
    bool pooled = false;
    s_write_lock(t);
    if (size >= S_POOL_MIN &&
        atomic_load(&t->ctl->pooled) + size <= budget / 4) {
        int fd = openat(t->dir_fd, name, O_RDONLY | O_CLOEXEC);
        char pool[64];
        snprintf(pool, sizeof(pool), ".p%ld.%llu", (long) getpid(),
                 (unsigned long long) ++t->seq);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
            futimens(fd, NULL); // the pool's idle clock starts now
            pooled = renameat(t->dir_fd, name, t->dir_fd, pool) == 0;
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    bool ok = pooled || unlinkat(t->dir_fd, name, 0) == 0;
    int err = errno;
    if (ok) {
        atomic_fetch_sub(&t->ctl->objects, 1);
        if (pooled) {
            atomic_fetch_add(&t->ctl->pooled, size);
        } else {
            atomic_fetch_sub(&t->ctl->used, size);
        }
    }
    s_write_unlock(t);
    errno = err;
    return ok;
}

// Drop a pooled file: its bytes leave the count.
static void
s_pool_drop_file(sl__tier *t, const char *name, uint64_t size)
{
    if (unlinkat(t->dir_fd, name, 0) == 0) {
        atomic_fetch_sub(&t->ctl->pooled, size);
        atomic_fetch_sub(&t->ctl->used, size);
    }
}

// Drop pooled files until need bytes went (all, for need UINT64_MAX), or,
// with idle_s > 0, those idle that long. Under ctl's shared flock.
static uint64_t
s_pool_drop(sl__tier *t, uint64_t need, int idle_s)
{
    if (atomic_load(&t->ctl->pooled) == 0) {
        return 0;
    }
    DIR *d = fdopendir(dup(t->dir_fd));
    uint64_t freed = 0;
    int64_t now = s_now_s();
    if (d == NULL) {
        return 0;
    }
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && freed < need) {
        struct stat st;
        if (strncmp(e->d_name, ".p", 2) != 0 ||
            fstatat(t->dir_fd, e->d_name, &st, 0) != 0 ||
            (idle_s > 0 && now - st.st_mtim.tv_sec < idle_s)) {
            continue;
        }
        s_pool_drop_file(t, e->d_name, (uint64_t) st.st_size);
        freed += (uint64_t) st.st_size;
    }
    closedir(d);
    return freed;
}

// Take a pooled file of total bytes or a little more under the name tmp:
// its descriptor (at total bytes), or -1 when the pool has none. Under
// ctl's shared flock; its bytes leave the count (the caller counts total).
static int
s_pool_take(sl__tier *t, size_t total, const char *tmp)
{
    if (total < S_POOL_MIN || atomic_load(&t->ctl->pooled) == 0) {
        return -1;
    }
    DIR *d = fdopendir(dup(t->dir_fd));
    if (d == NULL) {
        return -1;
    }
    rewinddir(d);
    char best[64] = "";
    uint64_t best_size = UINT64_MAX, most = total + total / 4 + (1u << 20);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, ".p", 2) == 0 &&
            strlen(e->d_name) < sizeof(best) &&
            fstatat(t->dir_fd, e->d_name, &st, 0) == 0 &&
            (uint64_t) st.st_size >= total && (uint64_t) st.st_size <= most &&
            (uint64_t) st.st_size < best_size) {
            best_size = (uint64_t) st.st_size;
            sl__strlcpy(best, e->d_name, sizeof(best));
        }
    }
    closedir(d);
    if (best[0] == '\0' || renameat(t->dir_fd, best, t->dir_fd, tmp) != 0) {
        return -1; // none, or another writer took it first
    }
    atomic_fetch_sub(&t->ctl->pooled, best_size);
    atomic_fetch_sub(&t->ctl->used, best_size);
    int fd = openat(t->dir_fd, tmp, O_RDWR | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t) total) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        unlinkat(t->dir_fd, tmp, 0);
        return -1;
    }
    return fd;
}

// ---------------------------------------------------------------------
// Eviction.

typedef struct {
    char name[S_KEY_MAX];
    struct timespec mtime;
    uint64_t size;
} s_victim;

static int
s_victim_cmp(const void *a, const void *b)
{
    const s_victim *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec) {
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    }
    if (x->mtime.tv_nsec != y->mtime.tv_nsec) {
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    }
    return 0;
}

// Give the object under name, which exists only here, to the spill
// callback, and mark it spilled.
static bool
s_spill(sl__tier *t, const char *name)
{
    sl__blob *blob = NULL;
    const void *data;
    size_t len;
    if (t->spill == NULL ||
        sl__tier_get(t, name, &blob, &data, &len) != SL_OK) {
        return false;
    }
    int fd = openat(t->dir_fd, name, O_RDONLY | O_CLOEXEC);
    s_hdr h;
    struct stat st;
    int ttl = 0;
    if (fd >= 0 && fstat(fd, &st) == 0 &&
        s_hdr_read(fd, st.st_size, &h) == NULL) {
        int64_t left = h.expires_s - s_now_s();
        ttl = h.expires_s == 0 ? 0
              : left > INT_MAX ? INT_MAX
              : left > 1       ? (int) left
                               : 1;
    }
    if (fd >= 0) {
        close(fd);
    }
    bool ok = t->spill(t->spill_ctx, name, data, len, ttl) == SL_OK;
    sl__blob_release(&blob);
    return ok && sl__tier_add_flags(t, name, SL_TIER_SPILLED) == SL_OK;
}

// Free at least need bytes, least recently used first. Called with ctl's
// flock held shared; returns whether enough went.
static bool
s_evict(sl__tier *t, uint64_t need)
{
    DIR *d = fdopendir(dup(t->dir_fd));
    if (d == NULL) {
        return false;
    }
    rewinddir(d);
    s_victim *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t freed = 0;
    int64_t now = s_now_s();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= S_KEY_MAX) {
            continue;
        }
        int fd = openat(t->dir_fd, e->d_name, O_RDONLY | O_CLOEXEC);
        struct stat st;
        s_hdr h;
        bool found = fd >= 0 && fstat(fd, &st) == 0;
        bool live = found && s_hdr_read(fd, st.st_size, &h) == NULL &&
                    strcmp(h.key, e->d_name) == 0 && !s_expired(&h, now);
        if (fd >= 0) {
            close(fd);
        }
        if (!found) {
            continue;
        }
        if (!live) {
            // Expired (no reader may have it) or damaged (none would take
            // it): it goes first, whatever its flags and its use.
            if (s_unlink_counted(t, e->d_name, (uint64_t) st.st_size, true)) {
                freed += (uint64_t) st.st_size;
            }
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = sl__xrealloc(v, cap * sizeof(*v));
        }
        sl__strlcpy(v[n].name, e->d_name, sizeof(v[n].name));
        v[n].mtime = st.st_mtim;
        v[n].size = (uint64_t) st.st_size;
        n++;
    }
    closedir(d);
    if (n > 1) {
        qsort(v, n, sizeof(*v), s_victim_cmp);
    }
    for (size_t i = 0; i < n && freed < need; i++) {
        unsigned flags = 0;
        if (!sl__tier_has(t, v[i].name, &flags)) {
            continue;
        }
        if ((flags & (SL_TIER_SPILLED | SL_TIER_CACHED)) == 0 &&
            !s_spill(t, v[i].name)) {
            continue; // the only copy, and it could not be spilled
        }
        if (s_unlink_counted(t, v[i].name, v[i].size, true)) {
            freed += v[i].size;
        }
    }
    free(v);
    return freed >= need;
}

// Count size against the budget, evicting when it would be passed.
static sl_err
s_reserve(sl__tier *t, uint64_t size)
{
    uint64_t budget = atomic_load(&t->ctl->budget);
    uint64_t used = atomic_fetch_add(&t->ctl->used, size) + size;
    if (used <= budget) {
        return SL_OK;
    }
    if (size <= budget) {
        s_pool_drop(t, used - budget, 0);
        used = atomic_load(&t->ctl->used);
        if (used <= budget || (s_evict(t, used - budget) &&
                               atomic_load(&t->ctl->used) <= budget)) {
            return SL_OK;
        }
    }
    used = atomic_fetch_sub(&t->ctl->used, size) - size;
    return s_err(t, SL_ELIMIT,
                 "the object tier of node %s is full: %.1f MiB more would "
                 "pass its budget of %.1f MiB (%.1f MiB in use by objects "
                 "that cannot be evicted); --tier-budget-mb sets it",
                 t->node, (double) size / (1 << 20),
                 (double) budget / (1 << 20), (double) used / (1 << 20));
}

// ---------------------------------------------------------------------
// Writing.

static void s_seg_free(sl__tier_seg *s);

sl_err
sl__tier_begin(sl__tier *tier, size_t len, size_t aligned_at,
               sl__tier_seg **out)
{
    *out = NULL;
    if (aligned_at > len || len > SIZE_MAX - 2 * S_HDR_BYTES) {
        return s_err(tier, SL_EINVAL, "bad object size %zu", len);
    }
    size_t off = S_HDR_BYTES;
    off += (S_ALIGN - (off + aligned_at) % S_ALIGN) % S_ALIGN;
    size_t total = off + len;
    s_write_lock(tier);
    sl__tier_seg *s = sl__xcalloc(1, sizeof(*s));
    snprintf(s->tmp, sizeof(s->tmp), ".w%ld.%llu", (long) getpid(),
             (unsigned long long) ++tier->seq);
    // Pages a retired object left, when the pool has some of this size.
    s->fd = s_pool_take(tier, total, s->tmp);
    s->recycled = s->fd >= 0;
    sl_err rv = s_reserve(tier, total);
    if (rv != SL_OK) {
        if (s->fd >= 0) {
            close(s->fd);
            unlinkat(tier->dir_fd, s->tmp, 0);
        }
        s_seg_free(s);
        s_write_unlock(tier);
        return rv;
    }
    s->data_off = off;
    s->data_len = len;
    s->map_len = total;
    if (s->fd < 0) {
        s->fd = openat(tier->dir_fd, s->tmp,
                       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    int err = 0;
    if (s->fd < 0 || ftruncate(s->fd, (off_t) total) != 0) {
        rv = s_err(tier, SL_EIO, "%s/%s: %s", tier->path, s->tmp,
                   strerror(errno));
    } else if ((err = posix_fallocate(s->fd, 0, (off_t) total)) != 0 &&
               err != EOPNOTSUPP && err != EINVAL) {
        // The pages are taken now: a tmpfs that is full (a budget larger
        // than it, or others' files in /dev/shm) is an error here, where
        // a write into the mapping would get SIGBUS.
        rv = s_err(tier, err == ENOSPC ? SL_ELIMIT : SL_EIO,
                   "the object tier of node %s has no room for %zu bytes in "
                   "%s (%s), within its budget; --tier-budget-mb sets it",
                   tier->node, total, tier->path, strerror(err));
    } else if ((s->map = mmap(NULL, total, PROT_READ | PROT_WRITE,
                              MAP_SHARED | (s->recycled ? MAP_POPULATE : 0),
                              s->fd, 0)) == MAP_FAILED) {
        s->map = NULL;
        rv = s_err(tier, errno == ENOMEM ? SL_ENOMEM : SL_EIO,
                   "mmap of %zu bytes: %s", total, strerror(errno));
    }
    if (rv != SL_OK) {
        sl__tier_abort(tier, &s);
        return rv;
    }
    *out = s; // ctl stays locked shared until the seal or the abort
    return SL_OK;
}

void *
sl__tier_seg_data(sl__tier_seg *seg)
{
    return seg->map + seg->data_off;
}

size_t
sl__tier_seg_len(const sl__tier_seg *seg)
{
    return seg->data_len;
}

static void
s_seg_free(sl__tier_seg *s)
{
    if (s->stream != NULL) {
        XXH3_freeState(s->stream);
    }
    free(s);
}

// Copy and hash a piece at a time, while it is in the cache: one pass over
// memory instead of two.
#define S_WRITE_PIECE (256u << 10)

void
sl__tier_seg_write(sl__tier_seg *seg, const void *src, size_t len)
{
    uint8_t *dst = seg->map + seg->data_off + seg->written;
    const uint8_t *p = src;
    if (seg->written + len > seg->data_len || seg->hashed) {
        abort(); // a caller's bug: past the end, or after the hash
    }
    if (seg->stream == NULL && seg->written == 0) {
        seg->stream = XXH3_createState();
        if (seg->stream != NULL) {
            XXH3_64bits_reset(seg->stream);
        }
    }
    for (size_t done = 0; done < len;) {
        size_t n = len - done < S_WRITE_PIECE ? len - done : S_WRITE_PIECE;
        memcpy(dst + done, p + done, n);
        if (seg->stream != NULL) {
            XXH3_64bits_update(seg->stream, dst + done, n);
        }
        done += n;
    }
    seg->written += len;
}

bool
sl__tier_seg_recycled(const sl__tier_seg *seg)
{
    return seg->recycled;
}

uint64_t
sl__tier_seg_hash(sl__tier_seg *seg)
{
    if (!seg->hashed) {
        bool streamed = seg->stream != NULL && seg->written == seg->data_len;
        seg->hash = streamed
                        ? XXH3_64bits_digest(seg->stream)
                        : XXH3_64bits(seg->map + seg->data_off, seg->data_len);
        seg->hashed = true;
    }
    return seg->hash;
}

void
sl__tier_abort(sl__tier *tier, sl__tier_seg **seg_p)
{
    sl__tier_seg *s = *seg_p;
    if (s == NULL) {
        return;
    }
    if (s->map != NULL) {
        munmap(s->map, s->map_len);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    unlinkat(tier->dir_fd, s->tmp, 0);
    atomic_fetch_sub(&tier->ctl->used, s->map_len);
    s_write_unlock(tier);
    s_seg_free(s);
    *seg_p = NULL;
}

// A reader's mapping: its length, and the descriptor that holds the
// file's shared flock while it is mapped (the pool's sign that it is in
// use), or -1.
typedef struct {
    size_t len;
    int fd;
    bool unpinned; // the flock let go (sl__tier_blob_unpin)
} s_mapping;

static void
s_unmap_blob(void *ctx, void *data)
{
    s_mapping *m = ctx;
    // A blob's data is the object's, S_HDR_BYTES to S_HDR_BYTES + S_ALIGN
    // bytes into the mapping (s_hdr_read checks it): within its first page.
    uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
    munmap((void *) ((uintptr_t) data & ~(page - 1)), m->len);
    if (m->fd >= 0) {
        close(m->fd);
    }
    free(m);
}

bool
sl__tier_blob_unpin(sl__blob *blob)
{
    if (blob == NULL || blob->free_fn != s_unmap_blob) {
        return false;
    }
    s_mapping *m = blob->free_ctx;
    if (m->fd >= 0 && !m->unpinned) {
        flock(m->fd, LOCK_UN);
        m->unpinned = true;
    }
    return true;
}

bool
sl__tier_blob_repin(sl__tier *tier, sl__blob *blob, const char *key)
{
    if (blob == NULL || blob->free_fn != s_unmap_blob) {
        return true; // not a mapping of a tier: nothing can take it
    }
    s_mapping *m = blob->free_ctx;
    if (m->fd < 0 || !m->unpinned) {
        return true;
    }
    struct stat st, at;
    s_flock(m->fd, LOCK_SH);
    if (fstat(m->fd, &st) == 0 && st.st_nlink > 0 &&
        fstatat(tier->dir_fd, key, &at, 0) == 0 && at.st_ino == st.st_ino) {
        m->unpinned = false;
        return true;
    }
    flock(m->fd, LOCK_UN); // retired while unpinned: its bytes may be
    return false;          // another object's now
}

// A blob over the data of the mapping map (len bytes), which fd (or -1)
// holds; NULL on ENOMEM, and then nothing is let go.
static sl__blob *
s_mapping_blob(uint8_t *map, size_t len, size_t data_off, size_t data_len,
               int fd)
{
    s_mapping *m = malloc(sizeof(*m));
    sl__blob *b = m != NULL
                      ? sl__blob_new(map + data_off, data_len, s_unmap_blob, m)
                      : NULL;
    if (b == NULL) {
        free(m);
        return NULL;
    }
    m->len = len;
    m->fd = fd;
    m->unpinned = false;
    return b;
}

// Write the header of s and link it under key. Either way the write is
// over: s's file is linked and counted as an object, or it is removed and
// its bytes are off the count; its descriptor is closed and the write
// lock let go. Only the mapping stays, for the caller.
static sl_err
s_link(sl__tier *tier, sl__tier_seg *s, const char *key, int ttl_s,
       unsigned flags, bool nx, bool keep_fd, bool *stored_out)
{
    sl_err rv = SL_OK;
    bool stored = false;
    if (keep_fd) {
        // Mapped from the moment it has a name: never for the pool.
        s_flock(s->fd, LOCK_SH);
    }
    if (!s_key_ok(key)) {
        rv = s_err(tier, SL_EINVAL, "'%s' cannot name an object",
                   key != NULL ? key : "");
    } else {
        s_hdr h = {0};
        memcpy(h.magic, S_MAGIC, 8);
        h.version = S_VERSION;
        h.flags = flags;
        h.data_off = s->data_off;
        h.data_len = s->data_len;
        h.hash = sl__tier_seg_hash(s);
        h.expires_s = ttl_s > 0 ? s_now_s() + ttl_s : 0;
        sl__strlcpy(h.key, key, sizeof(h.key));
        memcpy(s->map, &h, sizeof(h));
    }
    for (int tries = 0; rv == SL_OK && !stored; tries++) {
        struct stat st;
        if (linkat(tier->dir_fd, s->tmp, tier->dir_fd, key, 0) == 0) {
            stored = true;
        } else if (errno != EEXIST) {
            rv = s_err(tier, SL_EIO, "%s/%s: %s", tier->path, key,
                       strerror(errno));
        } else if (nx && sl__tier_has(tier, key, NULL)) {
            break; // the first one won (one expired or damaged is none)
        } else if (fstatat(tier->dir_fd, key, &st, 0) != 0) {
            // Gone since the link: link again (a few times).
            if (errno != ENOENT || tries == 3) {
                rv = s_err(tier, SL_EIO, "%s/%s: %s", tier->path, key,
                           strerror(errno));
            }
        } else if (renameat(tier->dir_fd, s->tmp, tier->dir_fd, key) != 0) {
            rv = s_err(tier, SL_EIO, "%s/%s: %s", tier->path, key,
                       strerror(errno));
        } else {
            // Replaced: the old one's bytes go off the count.
            atomic_fetch_sub(&tier->ctl->used, (uint64_t) st.st_size);
            atomic_fetch_sub(&tier->ctl->objects, 1);
            stored = true;
        }
    }
    unlinkat(tier->dir_fd, s->tmp, 0); // a no-op after a rename
    if (stored && rv == SL_OK) {
        atomic_fetch_add(&tier->ctl->objects, 1);
    } else {
        atomic_fetch_sub(&tier->ctl->used, s->map_len);
        stored = false;
    }
    s_write_unlock(tier);
    if (!keep_fd || !stored) {
        close(s->fd);
        s->fd = -1;
    }
    *stored_out = stored;
    return rv;
}

sl_err
sl__tier_seal(sl__tier *tier, sl__tier_seg **seg_p, const char *key, int ttl_s,
              unsigned flags, bool nx, bool *stored_out, sl__blob **blob_out)
{
    sl__tier_seg *s = *seg_p;
    bool stored = false;
    if (blob_out != NULL) {
        *blob_out = NULL;
    }
    sl_err rv =
        s_link(tier, s, key, ttl_s, flags, nx, blob_out != NULL, &stored);
    if (stored_out != NULL) {
        *stored_out = stored;
    }
    if (stored && blob_out != NULL &&
        mprotect(s->map, s->map_len, PROT_READ) == 0 &&
        (*blob_out = s_mapping_blob(s->map, s->map_len, s->data_off,
                                    s->data_len, s->fd)) != NULL) {
        s->fd = -1; // the blob unmaps it and closes the descriptor
    } else {
        munmap(s->map, s->map_len);
        if (s->fd >= 0) {
            close(s->fd);
        }
    }
    s_seg_free(s);
    *seg_p = NULL;
    return rv;
}

// ---------------------------------------------------------------------
// Segments as blobs: values point into them while they are written.

static void
s_seg_blob_free(void *ctx, void *data)
{
    (void) data;
    sl__tier_seg *s = ctx;
    sl__tier *t = s->tier;
    if (!s->sealed) {
        sl__tier_abort(t, &s);
    } else {
        munmap(s->map, s->map_len);
        if (s->fd >= 0) {
            close(s->fd);
        }
        s_seg_free(s);
    }
    s_tier_unref(t);
}

sl__blob *
sl__tier_seg_blob(sl__tier *tier, sl__tier_seg **seg_p)
{
    sl__tier_seg *s = *seg_p;
    sl__blob *b =
        sl__blob_new(s->map + s->data_off, s->data_len, s_seg_blob_free, s);
    if (b == NULL) {
        return NULL; // the caller still has the segment
    }
    s->tier = tier;
    tier->refs++;
    *seg_p = NULL;
    return b;
}

bool
sl__tier_blob_writable(const sl__tier *tier, const sl__blob *blob)
{
    const sl__tier_seg *s = blob != NULL && blob->free_fn == s_seg_blob_free
                                ? blob->free_ctx
                                : NULL;
    return s != NULL && s->tier == tier && !s->sealed;
}

uint64_t
sl__tier_blob_hash(const sl__blob *blob)
{
    const sl__tier_seg *s = blob->free_ctx;
    return blob->free_fn == s_seg_blob_free && s->hashed ? s->hash : 0;
}

sl_err
sl__tier_seal_blob(sl__tier *tier, sl__blob *blob, const char *key, int ttl_s,
                   unsigned flags, bool nx, bool *stored_out)
{
    if (!sl__tier_blob_writable(tier, blob)) {
        return s_err(tier, SL_EINVAL,
                     "not a segment of this tier being written");
    }
    sl__tier_seg *s = blob->free_ctx;
    bool stored = false;
    sl_err rv = s_link(tier, s, key, ttl_s, flags, nx, true, &stored);
    // Over either way: the bytes stay mapped for the values that point
    // into them, read-only from now on.
    s->sealed = true;
    mprotect(s->map, s->map_len, PROT_READ);
    if (stored_out != NULL) {
        *stored_out = stored;
    }
    return rv;
}

sl_err
sl__tier_put(sl__tier *tier, const char *key, const void *data, size_t len,
             size_t aligned_at, int ttl_s, unsigned flags, bool nx,
             bool *stored_out)
{
    sl__tier_seg *s = NULL;
    sl_err rv = sl__tier_begin(tier, len, aligned_at, &s);
    if (rv != SL_OK) {
        return rv;
    }
    if (len > 0) { // data may be NULL then
        sl__tier_seg_write(s, data, len);
    }
    return sl__tier_seal(tier, &s, key, ttl_s, flags, nx, stored_out, NULL);
}

// ---------------------------------------------------------------------
// Reading.

sl_err
sl__tier_get(sl__tier *tier, const char *key, sl__blob **blob_out,
             const void **data, size_t *len)
{
    *blob_out = NULL;
    if (!s_key_ok(key)) {
        return s_err(tier, SL_ENOTFOUND, "'%s' cannot name an object",
                     key != NULL ? key : "");
    }
    // The file's shared flock, held while it is mapped, keeps it out of the
    // pool; one that went to the pool before we had the lock is no longer
    // under its key, and is not ours to read.
    int fd = -1;
    struct stat st, at;
    for (int tries = 0; fd < 0; tries++) {
        // Read-write, to mark the header checked (the mapping is read-only);
        // a file this process may only read is checked at every map.
        fd = openat(tier->dir_fd, key, O_RDWR | O_CLOEXEC);
        if (fd < 0 && (errno == EACCES || errno == EROFS)) {
            fd = openat(tier->dir_fd, key, O_RDONLY | O_CLOEXEC);
        }
        if (fd < 0) {
            return errno == ENOENT
                       ? s_err(tier, SL_ENOTFOUND, "no object %s", key)
                       : s_err(tier, SL_EIO, "%s/%s: %s", tier->path, key,
                               strerror(errno));
        }
        s_flock(fd, LOCK_SH);
        if (fstat(fd, &st) != 0 || fstatat(tier->dir_fd, key, &at, 0) != 0 ||
            at.st_ino != st.st_ino) {
            close(fd);
            fd = -1;
            if (tries == 2) {
                return s_err(tier, SL_ENOTFOUND, "no object %s", key);
            }
        }
    }
    s_hdr h;
    const char *bad = NULL;
    uint8_t *map = NULL;
    if ((bad = s_hdr_read(fd, st.st_size, &h)) == NULL) {
        if (strcmp(h.key, key) != 0) {
            bad = "it holds another key";
        } else if (s_expired(&h, s_now_s())) {
            close(fd);
            sl__tier_delete(tier, key);
            return s_err(tier, SL_ENOTFOUND, "object %s expired", key);
        } else if ((map = mmap(NULL, (size_t) st.st_size, PROT_READ,
                               MAP_SHARED | MAP_POPULATE, fd, 0)) ==
                   MAP_FAILED) {
            map = NULL;
            close(fd);
            return s_err(tier, errno == ENOMEM ? SL_ENOMEM : SL_EIO,
                         "mmap of %s: %s", key, strerror(errno));
        } else if (!(h.flags & S_CHECKED) &&
                   XXH3_64bits(map + h.data_off, h.data_len) != h.hash) {
            bad = "its bytes do not match its hash";
        } else if (!(h.flags & S_CHECKED)) {
            uint32_t f = h.flags | S_CHECKED; // a failed mark costs a check
            (void) !pwrite(fd, &f, sizeof(f), offsetof(s_hdr, flags));
        }
    }
    if (bad != NULL) {
        close(fd);
        if (map != NULL) {
            munmap(map, (size_t) st.st_size);
        }
        sl__tier_delete(tier, key);
        return s_err(tier, SL_EPROTO, "object %s in %s is damaged: %s", key,
                     tier->path, bad);
    }
    futimens(fd, NULL); // recently used
    *blob_out = s_mapping_blob(map, (size_t) st.st_size, h.data_off, h.data_len,
                               fd); // fd stays open with it
    if (*blob_out == NULL) {
        munmap(map, (size_t) st.st_size);
        close(fd);
        return s_err(tier, SL_ENOMEM, "out of memory");
    }
    *data = map + h.data_off;
    *len = h.data_len;
    return SL_OK;
}

bool
sl__tier_has(sl__tier *tier, const char *key, unsigned *flags_out)
{
    if (!s_key_ok(key)) {
        return false;
    }
    int fd = openat(tier->dir_fd, key, O_RDONLY | O_CLOEXEC);
    struct stat st;
    s_hdr h;
    bool ok = fd >= 0 && fstat(fd, &st) == 0 &&
              s_hdr_read(fd, st.st_size, &h) == NULL &&
              strcmp(h.key, key) == 0 && !s_expired(&h, s_now_s());
    if (fd >= 0) {
        close(fd);
    }
    if (ok && flags_out != NULL) {
        *flags_out = h.flags & ~S_CHECKED;
    }
    return ok;
}

sl_err
sl__tier_add_flags(sl__tier *tier, const char *key, unsigned flags)
{
    if (!s_key_ok(key)) {
        return s_err(tier, SL_ENOTFOUND, "no object %s",
                     key != NULL ? key : "");
    }
    int fd = openat(tier->dir_fd, key, O_RDWR | O_CLOEXEC);
    struct stat st;
    s_hdr h;
    sl_err rv = SL_OK;
    if (fd < 0 || fstat(fd, &st) != 0 ||
        s_hdr_read(fd, st.st_size, &h) != NULL) {
        rv = s_err(tier, SL_ENOTFOUND, "no object %s", key);
    } else {
        uint32_t f = h.flags | flags;
        if (pwrite(fd, &f, sizeof(f), offsetof(s_hdr, flags)) !=
            (ssize_t) sizeof(f)) {
            rv = s_err(tier, SL_EIO, "%s/%s: %s", tier->path, key,
                       strerror(errno));
        }
        // A change of flags is no use: the mtime (the eviction order)
        // stays what the readers made it.
        struct timespec times[2] = {{0, UTIME_OMIT}, st.st_mtim};
        futimens(fd, times);
    }
    if (fd >= 0) {
        close(fd);
    }
    return rv;
}

sl_err
sl__tier_delete(sl__tier *tier, const char *key)
{
    struct stat st;
    if (!s_key_ok(key) || fstatat(tier->dir_fd, key, &st, 0) != 0) {
        return s_err(tier, SL_ENOTFOUND, "no object %s",
                     key != NULL ? key : "");
    }
    if (!s_retire(tier, key, (uint64_t) st.st_size)) {
        return errno == ENOENT ? s_err(tier, SL_ENOTFOUND, "no object %s", key)
                               : s_err(tier, SL_EIO, "%s/%s: %s", tier->path,
                                       key, strerror(errno));
    }
    return SL_OK;
}

size_t
sl__tier_delete_prefix(sl__tier *tier, const char *prefix)
{
    DIR *d = fdopendir(dup(tier->dir_fd));
    size_t n = 0, plen = strlen(prefix);
    if (d == NULL || plen == 0) {
        if (d != NULL) {
            closedir(d);
        }
        return 0;
    }
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) == 0 &&
            sl__tier_delete(tier, e->d_name) == SL_OK) {
            n++;
        }
    }
    closedir(d);
    return n;
}

void
sl__tier_usage_get(sl__tier *tier, sl__tier_usage *out)
{
    uint64_t used = atomic_load(&tier->ctl->used);
    out->objects = atomic_load(&tier->ctl->objects);
    out->pooled = atomic_load(&tier->ctl->pooled);
    out->bytes = used > out->pooled ? used - out->pooled : 0;
    out->budget = atomic_load(&tier->ctl->budget);
}

// ---------------------------------------------------------------------
// Housekeeping.

// Whether the process whose pid the digits start with is gone.
static bool
s_pid_dead(const char *digits)
{
    long pid = strtol(digits, NULL, 10);
    return pid > 0 && kill((pid_t) pid, 0) != 0 && errno == ESRCH;
}

// Whether the writer of the temporary ".w<pid>.<n>" is gone.
static bool
s_writer_dead(const char *name)
{
    return s_pid_dead(name + 2);
}

size_t
sl__tier_sweep(sl__tier *tier)
{
    // Pooled pages that no write wanted for a while go back to the system.
    s_write_lock(tier);
    s_pool_drop(tier, UINT64_MAX, S_POOL_IDLE_S);
    s_write_unlock(tier);
    DIR *d = fdopendir(dup(tier->dir_fd));
    if (d == NULL) {
        return 0;
    }
    // With ctl's exclusive flock no write is under way, and the count can
    // be made again from the files; a write in progress (a client filling
    // an array) only puts that off to a later sweep.
    bool recount =
        tier->writing == 0 && flock(tier->ctl_fd, LOCK_EX | LOCK_NB) == 0;
    rewinddir(d);
    uint64_t used = 0, objects = 0, pooled = 0;
    size_t removed = 0;
    int64_t now = s_now_s();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
            strcmp(name, S_CTL) == 0 || strcmp(name, S_ALIVE) == 0 ||
            fstatat(tier->dir_fd, name, &st, 0) != 0) {
            continue;
        }
        if (strncmp(name, ".p", 2) == 0) {
            used += (uint64_t) st.st_size; // pooled pages, in use
            pooled += (uint64_t) st.st_size;
            continue;
        }
        if (strncmp(name, ".w", 2) == 0) {
            if (recount) {
                unlinkat(tier->dir_fd, name, 0);
                removed++;
            } else if (s_writer_dead(name)) {
                // Its writer's count goes too (its size, once it had one),
                // or it would stay until a recount, which a node that is
                // always writing never gets to. Unless it was linked under
                // its key before the writer died: then the object has it.
                s_unlink_counted(tier, name,
                                 st.st_nlink == 1 ? (uint64_t) st.st_size : 0,
                                 false);
                removed++;
            }
            continue;
        }
        int fd = openat(tier->dir_fd, name, O_RDONLY | O_CLOEXEC);
        s_hdr h;
        bool keep = fd >= 0 && s_hdr_read(fd, st.st_size, &h) == NULL &&
                    strcmp(h.key, name) == 0 && !s_expired(&h, now);
        if (fd >= 0) {
            close(fd);
        }
        if (!keep) {
            if (recount) {
                unlinkat(tier->dir_fd, name, 0);
            } else {
                s_unlink_counted(tier, name, (uint64_t) st.st_size, true);
            }
            removed++;
        } else {
            used += (uint64_t) st.st_size;
            objects++;
        }
    }
    closedir(d);
    if (recount) {
        atomic_store(&tier->ctl->used, used);
        atomic_store(&tier->ctl->objects, objects);
        atomic_store(&tier->ctl->pooled, pooled);
        flock(tier->ctl_fd, LOCK_UN);
    }
    return removed;
}

// Remove the files of the tier directory path and the directory.
static sl_err
s_remove_dir(const char *path, char errbuf[SL_ERRSTR_LEN])
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
        }
        return err == ENOENT
                   ? SL_OK
                   : sl__errf(errbuf, SL_EIO, "%s: %s", path, strerror(err));
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    closedir(d);
    if (rmdir(path) != 0 && errno != ENOENT) {
        return sl__errf(errbuf, SL_EIO, "%s: %s", path, strerror(errno));
    }
    return SL_OK;
}

int
sl__tier_remove_dead(const char *base, char errbuf[SL_ERRSTR_LEN])
{
    char user[400], path[700], ebuf[SL_ERRSTR_LEN];
    if (!s_user_dir(user, sizeof(user), base)) {
        s_too_long(ebuf, base);
        if (errbuf != NULL) {
            sl__strlcpy(errbuf, ebuf, SL_ERRSTR_LEN);
        }
        return 0;
    }
    // Only in the user's own directory: not through a link someone made.
    sl_err rv = s_dir_ok(user, false, ebuf);
    if (rv != SL_OK) {
        if (rv != SL_ENOTFOUND && errbuf != NULL) {
            sl__strlcpy(errbuf, ebuf, SL_ERRSTR_LEN);
        }
        return 0;
    }
    int dfd = open(user, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    int removed = 0;
    bool failed = false;
    if (d == NULL) {
        if (dfd >= 0) {
            close(dfd);
        }
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISDIR(st.st_mode)) {
            continue; // a tier is a directory
        }
        snprintf(path, sizeof(path), "%s/%s", user, e->d_name);
        if (strncmp(e->d_name, S_NEW, strlen(S_NEW)) == 0) {
            // One that a process that died was making.
            if (s_pid_dead(e->d_name + strlen(S_NEW))) {
                s_remove_dir(path, ebuf);
            }
            continue;
        }
        if (e->d_name[0] == '.') {
            continue;
        }
        char alive[720];
        snprintf(alive, sizeof(alive), "%s/" S_ALIVE, path);
        // A tier that has no alive file yet (one being made) gets one
        // here, so that its opener and we agree through its flock: an
        // opener that removal passed by unseen would use a directory
        // whose files are gone.
        int fd = open(alive, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            continue; // removed meanwhile, or not a tier of ours
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            close(fd); // in use
            continue;
        }
        // Held exclusively: no process uses it. The lock is kept until the
        // files are gone, so that an opener waits, then sees its alive file
        // unlinked and starts again.
        rv = s_remove_dir(path, ebuf);
        close(fd);
        if (rv == SL_OK) {
            removed++;
        } else if (!failed && errbuf != NULL) {
            sl__strlcpy(errbuf, ebuf, SL_ERRSTR_LEN);
            failed = true;
        }
    }
    closedir(d);
    return removed;
}

sl_err
sl__tier_remove(const char *base, const char *cluster, const char *node,
                char errbuf[SL_ERRSTR_LEN])
{
    char user[400], path[600], name[64];
    if (!s_cluster_ok(cluster)) {
        return sl__errf(errbuf, SL_EINVAL, "object tier: bad cluster id '%s'",
                        cluster != NULL ? cluster : "");
    }
    if (!s_user_dir(user, sizeof(user), base)) {
        return s_too_long(errbuf, base);
    }
    sl_err rv = s_dir_ok(user, false, errbuf);
    if (rv != SL_OK) {
        return rv == SL_ENOTFOUND ? SL_OK : rv;
    }
    s_node_name(name, sizeof(name), node);
    snprintf(path, sizeof(path), "%s/%s.%s", user, cluster, name);
    return s_remove_dir(path, errbuf);
}
