// loader.h - the worker's user kernel modules: fetched by SHA-256, verified,
// cached on disk, loaded once.
// SPDX-License-Identifier: MIT
//
// A task names a module kernel as "<sha256 hex>/<kernel>": the 64 lowercase
// hex digits of the SHA-256 of the module's shared object, a '/', and the
// kernel's name in the module. The first task that names a module this
// worker has not loaded makes the slot running it load the module:
//
//   1. <cache dir>/<hash>.so, if present and its bytes hash to <hash>;
//   2. else the bytes from the store (key sl:m<hash>), verified against
//      <hash> and written into the cache directory (mode 0700);
//   3. dlopen, the "starling_module" symbol, its ABI version, and the same
//      checks of kernel names and signatures as the built-in modules.
//
// Later tasks find the loaded module in memory; a restarted worker on the
// same node finds the file on disk. Kernels are looked up per hash, so two
// versions of a module with the same kernel names are simply two modules.
#ifndef SL_WORKER_LOADER_H
#define SL_WORKER_LOADER_H

#include <stdbool.h>

#include "../common/sha256.h"
#include "kernel_api.h"

typedef struct sl__loader sl__loader;

// Fetch the bytes of the module whose SHA-256 is hash (64 hex digits) into
// a new buffer *buf_out (the loader frees it) of *len_out bytes. Returns
// SL_ENOTFOUND when the store has no such module, another error with errbuf
// saying why when the store cannot be asked.
typedef sl_err (*sl__loader_fetch_fn)(void *ctx, const char *hash,
                                      void **buf_out, size_t *len_out,
                                      char errbuf[SL_ERRSTR_LEN]);

// Write the cache directory the environment selects into buf:
// $STARLING_MODULE_CACHE, else $XDG_CACHE_HOME/starling/modules, else
// $HOME/.cache/starling/modules. False (buf "") when none is set.
bool sl__loader_default_dir(char *buf, size_t size);

// A loader whose cache directory is dir (NULL or "": the default above).
// The directory is made (0700, with its parents) and checked on the first
// load, not here, so that a worker without a usable cache still runs the
// built-in kernels; sl__loader_check tells early what that load will find.
sl__loader *sl__loader_new(const char *dir);
// Unload every module. No kernel may be running.
void sl__loader_destroy(sl__loader **loader_p);

// Let only the modules listed in the file at path load: one SHA-256 (64 hex
// digits) a line; blank lines and '#' comments are skipped. A task of any
// other module fails with SL_EAUTH, naming the list. Call once, before the
// first sl__loader_find. On error (a file that cannot be read, a line that
// is not a hash) errbuf says which line, and the loader is unchanged.
sl_err sl__loader_allow_file(sl__loader *loader, const char *path,
                             char errbuf[SL_ERRSTR_LEN]);
// How many modules the allow list names; SIZE_MAX when there is none.
size_t sl__loader_allowed(const sl__loader *loader);

// The cache directory ("" when there is none). Borrowed from the loader.
const char *sl__loader_dir(const sl__loader *loader);
// Make and check the cache directory now: it must be ours and writable by
// no one else. On error errbuf says why.
sl_err sl__loader_check(sl__loader *loader, char errbuf[SL_ERRSTR_LEN]);

// Whether function has the form of a module kernel's name,
// "<64 hex digits>/..." (it may still name no kernel).
bool sl__loader_is_module_function(const char *function);

// The kernel that function ("<hash>/<kernel>") names, loading its module
// first if needed (fetching it with fetch(ctx, ...) when the disk cache
// lacks it). *out is borrowed: valid until the loader is destroyed.
// Thread-safe: a slot that loads a module holds no lock while it fetches,
// writes and opens it; only slots that want the same module wait for it.
// A failed load is remembered for a second or two (except "not found" and
// store errors), so a job of many tasks does not fetch a bad module once a
// task. On error errbuf says why, naming the module: not in the allow
// list, not in the store, hash mismatch, not a shared object, no
// "starling_module" symbol, another ABI version, a malformed module, or no
// such kernel in it.
sl_err sl__loader_find(sl__loader *loader, const char *function,
                       sl__loader_fetch_fn fetch, void *ctx,
                       const sl_kernel_def **out, char errbuf[SL_ERRSTR_LEN]);

// Counters, for tests and the benchmark.
typedef struct {
    unsigned loaded;    // modules loaded (from either source)
    unsigned fetched;   // of those, fetched from the store
    unsigned refetched; // cached files that failed their hash check
    unsigned failed;    // loads that failed
} sl__loader_stats;
sl__loader_stats sl__loader_stats_get(sl__loader *loader);

#endif
