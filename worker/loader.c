// loader.c - the worker's user kernel modules: fetched by SHA-256, verified,
// cached on disk, loaded once.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - Modules live in one list guarded by one mutex; an entry is LOADING,
//   READY or FAILED. The slot that adds a LOADING entry loads the module
//   with the lock released (fetch, hash, write, dlopen); slots that want
//   the same module wait on the condition variable; slots running built-in
//   kernels, or modules already loaded, are never held up by a load.
// - A READY entry never changes or goes away until the loader is
//   destroyed, so the kernel pointers handed out stay valid without the
//   lock. A worker keeps every module it loaded: dlclose while a kernel
//   may still run would be unsafe, and modules are small.
// - Bytes are trusted only after they hash to the module's name, wherever
//   they come from: the store, or a file in the cache directory (checked on
//   every load from disk, so a truncated write or a tampered file is fetched
//   again). Files are not fsynced: a crash that loses one costs a refetch.
//   They are written under a temporary name and renamed, so workers that
//   share a node (and a cache) never see half a file.
// - The cache directory must be ours and writable by no one else: between
//   the hash check and dlopen only its owner could swap the file.
// - An optional allow list (sl__loader_allow_file) names the only modules
//   that may load, by hash: a module not in it is refused before anything
//   is fetched. It is read once and never changes, so it needs no lock.
// - dlopen with RTLD_NOW | RTLD_LOCAL: a symbol the module needs that the
//   worker does not export fails the load with a message, not the call with
//   a crash; and the module's own global symbols stay private to it, so two
//   versions of one module do not bind to each other's functions.
#define _GNU_SOURCE
#include "loader.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

// How long a failed load is remembered before a task may try it again.
#define S_FAILED_MEMORY_MS 2000
// Bytes read at a time when hashing a cached file.
#define S_READ_CHUNK (1 << 16)
// Room in a path for "/<hash>.so" and a temporary suffix.
#define S_NAME_ROOM 128
// Digits of a hash shown in messages.
#define S_SHORT 12

typedef enum {
    S_LOADING = 0, // a slot is loading it
    S_READY,       // loaded: handle and def are set for good
    S_FAILED,      // the last load failed; error says why
} s_state;

typedef struct s_module s_module;
struct s_module {
    char hash[SL_SHA256_HEX_LEN + 1]; // the SHA-256 of its bytes, in hex
    s_state state;                    // guarded by the loader's lock
    void *handle;                     // from dlopen, once READY
    const sl_module_def *def;         // its "starling_module", once READY
    sl_err rv;                        // the last load's error
    char error[SL_ERRSTR_LEN];        // why the last load failed
    int64_t retry_ms;                 // FAILED: may load again from then
    s_module *next;                   // list link
};

struct sl__loader {
    char dir[PATH_MAX];        // the cache directory; "" when there is none
    char allow_path[PATH_MAX]; // the allow list's file; "" when any loads
    char (*allowed)[SL_SHA256_HEX_LEN + 1]; // its hashes, sorted
    size_t n_allowed;                       // how many
    pthread_mutex_t lock;   // guards modules, each entry's state, stats
    pthread_cond_t changed; // signalled when an entry leaves LOADING
    s_module *modules;      // every module asked for, newest first
    sl__loader_stats stats; // counters
};

// What one load produced; filled by the loading slot without the lock.
typedef struct {
    const char *hash;         // the module
    char path[PATH_MAX];      // its file in the cache directory
    void *handle;             // from dlopen
    const sl_module_def *def; // its definition
    bool fetched;             // the bytes came from the store
    bool refetched;           // a cached file failed its check
    size_t bytes;             // size of the shared object
    double fetch_s;           // time to read the file, or fetch the bytes
    double verify_s;          // time to hash them
    double write_s;           // time to write the cache file
    double open_s;            // time to dlopen and check the module
} s_load;

// ---------------------------------------------------------------------
// The cache directory.

bool
sl__loader_default_dir(char *buf, size_t size)
{
    const char *env = getenv("STARLING_MODULE_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    buf[0] = '\0';
    if (env != NULL && env[0] != '\0') {
        sl__strlcpy(buf, env, size);
    } else if (xdg != NULL && xdg[0] == '/') { // the spec: absolute only
        sl__fmt(buf, size, "%s/starling/modules", xdg);
    } else if (home != NULL && home[0] != '\0') {
        sl__fmt(buf, size, "%s/.cache/starling/modules", home);
    }
    return buf[0] != '\0';
}

sl_err
sl__loader_check(sl__loader *loader, char errbuf[SL_ERRSTR_LEN])
{
    const char *dir = loader->dir;
    if (dir[0] == '\0') {
        return sl__errf(errbuf, SL_EINVAL,
                        "no module cache directory (give --module-cache, or "
                        "set $STARLING_MODULE_CACHE or $HOME)");
    }
    sl_err rv = sl__mkdirs(dir, errbuf);
    if (rv != SL_OK) {
        return rv;
    }
    return sl__dir_check("module cache", dir, 022, "use a private directory",
                         errbuf);
}

// ---------------------------------------------------------------------
// Files.

// Hash the file at path. SL_ENOTFOUND when there is none.
static sl_err
s_hash_file(const char *path, char hex[SL_SHA256_HEX_LEN + 1], size_t *size,
            char *errbuf)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? SL_ENOTFOUND
                               : sl__errf(errbuf, SL_EIO, "cannot open %s: %s",
                                          path, strerror(errno));
    }
    uint8_t *buf = sl__xmalloc(S_READ_CHUNK);
    uint8_t digest[SL_SHA256_LEN];
    sl__sha256 h;
    ssize_t n;
    sl__sha256_init(&h);
    *size = 0;
    while ((n = read(fd, buf, S_READ_CHUNK)) > 0 || (n < 0 && errno == EINTR)) {
        sl__sha256_update(&h, buf, n > 0 ? (size_t) n : 0);
        *size += n > 0 ? (size_t) n : 0;
    }
    sl_err rv = n == 0 ? SL_OK
                       : sl__errf(errbuf, SL_EIO, "cannot read %s: %s", path,
                                  strerror(errno));
    close(fd);
    free(buf);
    sl__sha256_final(&h, digest);
    sl__sha256_to_hex(digest, hex);
    return rv;
}

static sl_err
s_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return SL_EIO;
        }
        buf += n;
        len -= (size_t) n;
    }
    return SL_OK;
}

// Write len bytes to path through a temporary file and a rename.
static sl_err
s_write_file(const char *path, const void *buf, size_t len, char *errbuf)
{
    char tmp[PATH_MAX];
    sl__fmt(tmp, sizeof(tmp), "%s.%d.%016llx.tmp", path, (int) getpid(),
            (unsigned long long) sl__rand64());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return sl__errf(errbuf, SL_EIO, "cannot create %s: %s", tmp,
                        strerror(errno));
    }
    sl_err rv = s_write_all(fd, buf, len);
    if (close(fd) != 0 || rv != SL_OK || rename(tmp, path) != 0) {
        sl__errf(errbuf, SL_EIO, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return SL_EIO;
    }
    return SL_OK;
}

// ---------------------------------------------------------------------
// Loading one module (no lock held).

// Use the cached file if it is there and hashes right. SL_ENOTFOUND when
// it is absent, or was not right and has been removed.
static sl_err
s_from_cache(s_load *ld, char *errbuf)
{
    char hex[SL_SHA256_HEX_LEN + 1];
    double t0 = sl__mono();
    sl_err rv = s_hash_file(ld->path, hex, &ld->bytes, errbuf);
    ld->verify_s = sl__mono() - t0;
    if (rv != SL_OK || strcmp(hex, ld->hash) == 0) {
        return rv;
    }
    sl__log_warn("cached module %s hashes to %.*s: fetching it again", ld->path,
                 S_SHORT, hex);
    unlink(ld->path);
    ld->refetched = true;
    return SL_ENOTFOUND;
}

static bool
s_is_elf(const void *buf, size_t len)
{
    static const char magic[4] = {0x7f, 'E', 'L', 'F'};
    return len >= sizeof(magic) && memcmp(buf, magic, sizeof(magic)) == 0;
}

// Check fetched bytes against the name and the ELF magic.
static sl_err
s_verify(s_load *ld, const void *buf, size_t len, char *errbuf)
{
    char hex[SL_SHA256_HEX_LEN + 1];
    double t0 = sl__mono();
    sl__sha256_hex(buf, len, hex);
    ld->verify_s = sl__mono() - t0;
    if (strcmp(hex, ld->hash) != 0) {
        return sl__errf(errbuf, SL_EPROTO,
                        "module %.*s: the store's copy hashes to %.*s, not to "
                        "its name: refusing it",
                        S_SHORT, ld->hash, S_SHORT, hex);
    }
    if (!s_is_elf(buf, len)) {
        return sl__errf(errbuf, SL_EINVAL,
                        "module %.*s is not a shared object (no ELF header)",
                        S_SHORT, ld->hash);
    }
    return SL_OK;
}

static sl_err
s_from_store(s_load *ld, sl__loader_fetch_fn fetch, void *ctx, char *errbuf)
{
    void *buf = NULL;
    size_t len = 0;
    double t0 = sl__mono();
    sl_err rv = fetch(ctx, ld->hash, &buf, &len, errbuf);
    ld->fetch_s = sl__mono() - t0;
    if (rv == SL_ENOTFOUND) {
        return sl__errf(errbuf, rv,
                        "module %.*s is not in the store: register it "
                        "(sl_module_register) before running its kernels; "
                        "a module unused for 30 days expires",
                        S_SHORT, ld->hash);
    }
    if (rv != SL_OK) {
        char why[SL_ERRSTR_LEN];
        sl__strlcpy(why, errbuf, sizeof(why));
        return sl__errf(errbuf, rv, "module %.*s: cannot fetch it: %s", S_SHORT,
                        ld->hash, why);
    }
    ld->fetched = true;
    ld->bytes = len;
    rv = s_verify(ld, buf, len, errbuf);
    if (rv == SL_OK) {
        t0 = sl__mono();
        rv = s_write_file(ld->path, buf, len, errbuf);
        ld->write_s = sl__mono() - t0;
    }
    free(buf);
    return rv;
}

// Check a module's definition the way the built-in ones are checked.
static sl_err
s_check_def(const s_load *ld, const sl_module_def *def, char *errbuf)
{
    char why[SL_ERRSTR_LEN];
    // Only the first field is read before the version is known to match:
    // another ABI may lay the rest out differently.
    if (def->abi_version != SL_KERNEL_ABI_VERSION) {
        return sl__errf(errbuf, SL_EINVAL,
                        "module %.*s is built for kernel ABI %d; this worker "
                        "runs ABI %d: rebuild it against this starling",
                        S_SHORT, ld->hash, def->abi_version,
                        SL_KERNEL_ABI_VERSION);
    }
    sl__registry *reg = sl__registry_new_empty();
    if (reg == NULL) {
        return sl__errf(errbuf, SL_ENOMEM, "out of memory");
    }
    sl_err rv = sl__registry_add(reg, def, why);
    sl__registry_destroy(&reg);
    if (rv != SL_OK) {
        return sl__errf(errbuf, rv, "module %.*s: %s", S_SHORT, ld->hash, why);
    }
    return SL_OK;
}

static sl_err
s_open(s_load *ld, char *errbuf)
{
    double t0 = sl__mono();
    void *handle = dlopen(ld->path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        return sl__errf(errbuf, SL_EINVAL,
                        "module %.*s is not a loadable shared object: %s",
                        S_SHORT, ld->hash, why != NULL ? why : "dlopen failed");
    }
    const sl_module_def *def = dlsym(handle, "starling_module");
    sl_err rv = SL_OK;
    if (def == NULL) {
        rv = sl__errf(errbuf, SL_EINVAL,
                      "module %.*s has no \"starling_module\" symbol: it must "
                      "define `const sl_module_def starling_module` "
                      "(starling/kernel.h) with default visibility",
                      S_SHORT, ld->hash);
    } else {
        rv = s_check_def(ld, def, errbuf);
    }
    if (rv != SL_OK) {
        dlclose(handle);
        return rv;
    }
    ld->handle = handle;
    ld->def = def;
    ld->open_s = sl__mono() - t0;
    return SL_OK;
}

static void
s_log_load(const s_load *ld)
{
    if (ld->fetched) {
        sl__log_info("module %s (%.*s): %zu bytes fetched in %.2f ms, "
                     "verified in %.2f ms, written in %.2f ms, "
                     "opened in %.2f ms",
                     ld->def->name, S_SHORT, ld->hash, ld->bytes,
                     ld->fetch_s * 1e3, ld->verify_s * 1e3, ld->write_s * 1e3,
                     ld->open_s * 1e3);
    } else {
        sl__log_info("module %s (%.*s): %zu bytes from the cache, verified "
                     "in %.2f ms, opened in %.2f ms",
                     ld->def->name, S_SHORT, ld->hash, ld->bytes,
                     ld->verify_s * 1e3, ld->open_s * 1e3);
    }
}

static sl_err
s_load_module(sl__loader *loader, s_load *ld, sl__loader_fetch_fn fetch,
              void *ctx, char *errbuf)
{
    char why[SL_ERRSTR_LEN];
    sl_err rv = sl__loader_check(loader, why);
    if (rv != SL_OK) {
        return sl__errf(errbuf, rv, "cannot load module %.*s: %s", S_SHORT,
                        ld->hash, why);
    }
    sl__fmt(ld->path, sizeof(ld->path), "%s/%s.so", loader->dir, ld->hash);
    rv = s_from_cache(ld, errbuf);
    if (rv == SL_ENOTFOUND) {
        rv = s_from_store(ld, fetch, ctx, errbuf);
    }
    if (rv == SL_OK && (rv = s_open(ld, errbuf)) != SL_OK) {
        unlink(ld->path); // a module that cannot load is not kept
    }
    if (rv == SL_OK) {
        s_log_load(ld);
    }
    return rv;
}

// ---------------------------------------------------------------------
// The table of modules (under the lock).

static s_module *
s_find(const sl__loader *loader, const char *hash)
{
    for (s_module *m = loader->modules; m != NULL; m = m->next) {
        if (memcmp(m->hash, hash, SL_SHA256_HEX_LEN) == 0) {
            return m;
        }
    }
    return NULL;
}

// The entry for hash, waiting while another slot loads it. *mine is true
// when the caller is to load it (the entry is then LOADING).
static s_module *
s_claim(sl__loader *loader, const char *hash, bool *mine)
{
    s_module *m = s_find(loader, hash);
    *mine = false;
    if (m == NULL) {
        m = sl__xcalloc(1, sizeof(*m));
        memcpy(m->hash, hash, SL_SHA256_HEX_LEN);
        m->next = loader->modules;
        loader->modules = m;
        *mine = true;
        return m;
    }
    while (m->state == S_LOADING) {
        pthread_cond_wait(&loader->changed, &loader->lock);
    }
    if (m->state == S_FAILED && sl__mono_ms() >= m->retry_ms) {
        m->state = S_LOADING;
        *mine = true;
    }
    return m;
}

// Record the outcome of a load and wake the slots waiting for it.
static void
s_settle(sl__loader *loader, s_module *m, sl_err rv, const s_load *ld,
         const char *errbuf)
{
    loader->stats.refetched += ld->refetched;
    if (rv == SL_OK) {
        m->handle = ld->handle;
        m->def = ld->def;
        m->state = S_READY;
        loader->stats.loaded++;
        loader->stats.fetched += ld->fetched;
    } else {
        // "Not there yet" and a store hiccup may pass at once; a bad
        // module stays bad, so tasks do not fetch it once each.
        bool remember = rv != SL_ENOTFOUND && rv != SL_ESTORE;
        sl__log_warn("%s", errbuf); // once a load, not once a task
        m->rv = rv;
        sl__strlcpy(m->error, errbuf, sizeof(m->error));
        m->retry_ms = sl__mono_ms() + (remember ? S_FAILED_MEMORY_MS : 0);
        m->state = S_FAILED;
        loader->stats.failed++;
    }
    pthread_cond_broadcast(&loader->changed);
}

// ---------------------------------------------------------------------
// Kernels.

// The kernel called name in a loaded module, or an error listing the
// kernels it has.
static sl_err
s_kernel(const s_module *m, const char *name, const sl_kernel_def **out,
         char *errbuf)
{
    const sl_module_def *def = m->def;
    char list[SL_ERRSTR_LEN] = "";
    for (size_t i = 0; i < def->n_kernels; i++) {
        if (strcmp(def->kernels[i].name, name) == 0) {
            *out = &def->kernels[i];
            return SL_OK;
        }
        size_t used = strlen(list);
        sl__fmt(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "",
                def->kernels[i].name);
    }
    return sl__errf(errbuf, SL_ENOTFOUND,
                    "module '%s' (%.*s) has no kernel '%s'; it has: %s",
                    def->name, S_SHORT, m->hash, name, list);
}

bool
sl__loader_is_module_function(const char *function)
{
    return function != NULL && strlen(function) > SL_SHA256_HEX_LEN &&
           function[SL_SHA256_HEX_LEN] == '/' && sl__sha256_is_hex(function);
}

// ---------------------------------------------------------------------
// The allow list.

static int
s_hash_cmp(const void *a, const void *b)
{
    return memcmp(a, b, SL_SHA256_HEX_LEN);
}

// Whether the module of function ("<hash>/...") may load.
static bool
s_allowed(const sl__loader *loader, const char *function)
{
    if (loader->allow_path[0] == '\0') {
        return true;
    }
    return loader->n_allowed > 0 &&
           bsearch(function, loader->allowed, loader->n_allowed,
                   sizeof(*loader->allowed), s_hash_cmp) != NULL;
}

// One line of an allow list: a hash (any case, then perhaps a comment), a
// comment or nothing. Returns 1 for a hash (into hex, lowercase), 0 for
// none, -1 for anything else.
static int
s_allow_line(const char *line, char hex[SL_SHA256_HEX_LEN + 1])
{
    const char *p = line + strspn(line, " \t");
    size_t n = strcspn(p, " \t\r\n#");
    const char *rest = p + n + strspn(p + n, " \t\r\n");
    if (n == 0) {
        return 0; // blank, or a comment
    }
    if (n != SL_SHA256_HEX_LEN || (*rest != '\0' && *rest != '#')) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = (char) tolower((unsigned char) p[i]);
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return -1;
        }
        hex[i] = ch;
    }
    hex[n] = '\0';
    return 1;
}

sl_err
sl__loader_allow_file(sl__loader *loader, const char *path,
                      char errbuf[SL_ERRSTR_LEN])
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return sl__errf(errbuf, SL_EIO, "cannot read module allow list %s: %s",
                        path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0, n = 0, len = 0;
    sl_err rv = SL_OK;
    while (rv == SL_OK && getline(&line, &cap, f) >= 0) {
        char hex[SL_SHA256_HEX_LEN + 1];
        n++;
        int kind = s_allow_line(line, hex);
        if (kind < 0) {
            rv = sl__errf(errbuf, SL_EINVAL,
                          "module allow list %s, line %zu: want the 64 hex "
                          "digits of a module's SHA-256",
                          path, n);
        } else if (kind > 0) {
            loader->allowed = sl__xrealloc(
                loader->allowed, (len + 1) * sizeof(*loader->allowed));
            memcpy(loader->allowed[len++], hex, sizeof(hex));
        }
    }
    free(line);
    fclose(f);
    if (rv == SL_OK) {
        if (len > 0) {
            qsort(loader->allowed, len, sizeof(*loader->allowed), s_hash_cmp);
        }
        loader->n_allowed = len;
        sl__strlcpy(loader->allow_path, path, sizeof(loader->allow_path));
    }
    return rv;
}

size_t
sl__loader_allowed(const sl__loader *loader)
{
    return loader->allow_path[0] != '\0' ? loader->n_allowed : SIZE_MAX;
}

sl_err
sl__loader_find(sl__loader *loader, const char *function,
                sl__loader_fetch_fn fetch, void *ctx, const sl_kernel_def **out,
                char errbuf[SL_ERRSTR_LEN])
{
    bool mine;
    if (!sl__loader_is_module_function(function) ||
        function[SL_SHA256_HEX_LEN + 1] == '\0') {
        return sl__errf(errbuf, SL_EINVAL,
                        "'%s' is not a module kernel name "
                        "(<64 hex digits of SHA-256>/<kernel>)",
                        function != NULL ? function : "(null)");
    }
    if (!s_allowed(loader, function)) {
        return sl__errf(errbuf, SL_EAUTH,
                        "module %.*s is not in this worker's module allow list "
                        "(%s)",
                        SL_SHA256_HEX_LEN, function, loader->allow_path);
    }
    pthread_mutex_lock(&loader->lock);
    s_module *m = s_claim(loader, function, &mine);
    sl_err rv = m->state == S_FAILED && !mine ? m->rv : SL_OK;
    if (rv != SL_OK) {
        sl__strlcpy(errbuf, m->error, SL_ERRSTR_LEN);
    }
    pthread_mutex_unlock(&loader->lock);
    if (mine) {
        s_load ld = {.hash = m->hash};
        rv = s_load_module(loader, &ld, fetch, ctx, errbuf);
        pthread_mutex_lock(&loader->lock);
        s_settle(loader, m, rv, &ld, errbuf);
        pthread_mutex_unlock(&loader->lock);
    }
    // On SL_OK the entry is READY, and a READY entry never changes again:
    // its def is read without the lock.
    if (rv != SL_OK) {
        return rv;
    }
    return s_kernel(m, function + SL_SHA256_HEX_LEN + 1, out, errbuf);
}

// ---------------------------------------------------------------------
// Life cycle.

sl__loader *
sl__loader_new(const char *dir)
{
    sl__loader *loader = sl__xcalloc(1, sizeof(*loader));
    if (dir != NULL && dir[0] != '\0') {
        sl__strlcpy(loader->dir, dir, sizeof(loader->dir));
    } else {
        sl__loader_default_dir(loader->dir, sizeof(loader->dir));
    }
    // Leave room for "/<hash>.so.<pid>.<random>.tmp" in every path.
    if (strlen(loader->dir) > sizeof(loader->dir) - S_NAME_ROOM) {
        sl__log_warn("module cache path too long; modules disabled");
        loader->dir[0] = '\0';
    }
    pthread_mutex_init(&loader->lock, NULL);
    pthread_cond_init(&loader->changed, NULL);
    return loader;
}

void
sl__loader_destroy(sl__loader **loader_p)
{
    sl__loader *loader = *loader_p;
    if (loader == NULL) {
        return;
    }
    while (loader->modules != NULL) {
        s_module *m = loader->modules;
        loader->modules = m->next;
        if (m->handle != NULL) {
            dlclose(m->handle);
        }
        free(m);
    }
    pthread_mutex_destroy(&loader->lock);
    pthread_cond_destroy(&loader->changed);
    free(loader->allowed);
    free(loader);
    *loader_p = NULL;
}

const char *
sl__loader_dir(const sl__loader *loader)
{
    return loader->dir;
}

sl__loader_stats
sl__loader_stats_get(sl__loader *loader)
{
    pthread_mutex_lock(&loader->lock);
    sl__loader_stats st = loader->stats;
    pthread_mutex_unlock(&loader->lock);
    return st;
}
