// tier.h - the node's object tier: objects in shared memory, read in place.
// SPDX-License-Identifier: MIT
//
// Every process of a node that takes part in a cluster (its workers, their
// executors, a client on it) opens the same tier: a directory on a tmpfs,
//
//   <base>/starling-<uid>/          0700, the user's; refused otherwise
//     <cluster>.<node>/             0700, one per cluster and node
//       .ctl                        budget and usage, shared by all
//       .alive                      each user holds a shared flock on it
//       <key>                       one sealed object (0600)
//       .p<pid>.<n>                 a retired object's pages, for reuse
//       .w<pid>.<n>                 an object its writer is still writing
//     .new<pid>.<n>/                a tier being made, renamed when its
//                                   maker holds its .alive flock
//
// where <base> is $STARLING_TIER_DIR, else /dev/shm. An object is one file:
// a 256-byte header (magic, sizes, the key, the XXH3-64 hash of the data,
// when it expires, flags) and the data, placed so that a given byte of it
// (an ndarray's first element) is 64-byte aligned. A writer fills a
// private file, then seals it: hash, header, link under its key. Readers
// map it read-only and check the header, size and hash before use, so a
// kernel reads its arguments in place and one that writes to them crashes.
//
// Budget: the bytes of all objects, counted in ctl by every writer. A
// writer that would pass it evicts, least recently used first (readers
// bump an object's mtime), objects that exist elsewhere too: copies of
// other nodes' objects, and objects already spilled to the store. An
// object that exists only here is first given to the spill callback (the
// store), and evicted once that succeeded. When nothing more can go, the
// write fails with SL_ELIMIT, naming the budget.
//
// A tier is not thread-safe (one per thread, like a store); the processes
// of a node share the directory safely.
#ifndef SL_STORE_TIER_H
#define SL_STORE_TIER_H

#include "../common/util.h"
#include "../serialize/value.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl__tier sl__tier;
typedef struct sl__tier_seg sl__tier_seg;

// Flags of an object.
#define SL_TIER_SPILLED 0x1u // its bytes are in the store too
#define SL_TIER_CACHED 0x2u  // a copy of another node's object

// The default budget: a quarter of the machine's memory, and never more
// than half of the tier filesystem's size.
#define SL_TIER_BUDGET_RAM_DIV 4

typedef struct {
    const char *base;    // NULL: $STARLING_TIER_DIR, else /dev/shm
    const char *cluster; // the cluster's id: [0-9a-z]{1,32}
    const char *node;    // this node's name (others than [A-Za-z0-9._-]
                         // become '_')
    uint64_t budget;     // bytes; 0: keep the tier's (or the default)
    bool create;         // make it when absent (a worker, `starling up`)
} sl__tier_opts;

// Open (or, with create, make) the node's tier. SL_ENOTFOUND without
// create when the node has none; SL_EAUTH when a directory on the way is
// not the user's alone; SL_EIO for other failures. errbuf says which.
sl_err sl__tier_open(sl__tier **out, const sl__tier_opts *opts,
                     char errbuf[SL_ERRSTR_LEN]);
void sl__tier_close(sl__tier **tier_p);
// The tier's directory and node name.
const char *sl__tier_path(const sl__tier *tier);
const char *sl__tier_node(const sl__tier *tier);
// Detail of the last error (never NULL).
const char *sl__tier_errstr(const sl__tier *tier);

// Called to spill an object that exists only here before it is evicted:
// store its len bytes of data under key, for ttl_s more seconds.
typedef sl_err (*sl__tier_spill_fn)(void *ctx, const char *key,
                                    const void *data, size_t len, int ttl_s);
void sl__tier_set_spill(sl__tier *tier, sl__tier_spill_fn fn, void *ctx);

// Start an object of len bytes of data whose byte at aligned_at is 64-byte
// aligned, counted against the budget (evicting as above): its bytes are
// at sl__tier_seg_data, writable until it is sealed or dropped.
sl_err sl__tier_begin(sl__tier *tier, size_t len, size_t aligned_at,
                      sl__tier_seg **out);
void *sl__tier_seg_data(sl__tier_seg *seg);
size_t sl__tier_seg_len(const sl__tier_seg *seg);
// Append len bytes at src to the data (from its start, in order), hashing
// them as they are copied: when the whole data was written this way, the
// seal needs no second pass over it. Writing past the end aborts.
void sl__tier_seg_write(sl__tier_seg *seg, const void *src, size_t len);
// Whether the segment's pages were a retired object's (the pool): its
// data then holds old bytes, not zeroes.
bool sl__tier_seg_recycled(const sl__tier_seg *seg);
// The XXH3-64 hash of the data, as the seal will record it: the data must
// not change after this call.
uint64_t sl__tier_seg_hash(sl__tier_seg *seg);

// Seal the object under key (a store key: [A-Za-z0-9:#._-], not starting
// with '.'), for ttl_s seconds, with flags. With nx the first object under
// the key wins: *stored_out (may be NULL) tells whether this was it, and
// the loser is dropped. When blob_out is not NULL the writer keeps a
// read-only view of the sealed bytes in *blob_out (its data is the
// object's data), else the segment is unmapped. *seg_p is NULL after.
sl_err sl__tier_seal(sl__tier *tier, sl__tier_seg **seg_p, const char *key,
                     int ttl_s, unsigned flags, bool nx, bool *stored_out,
                     sl__blob **blob_out);
// The name a tier gives node (as sl__tier_node would).
void sl__tier_node_name(char *buf, size_t size, const char *node);
// Whether key can name an object of a tier.
bool sl__tier_key_ok(const char *key);
// The segment as a blob over its data, so that values can point into it
// while it is written (an ndarray made in shared memory); *seg_p is NULL
// after (on ENOMEM, NULL is returned and the caller keeps *seg_p). The
// blob owns the segment and holds the tier open: its last release drops
// the segment if it was never sealed, else unmaps it.
sl__blob *sl__tier_seg_blob(sl__tier *tier, sl__tier_seg **seg_p);
// Whether blob is a segment of tier that is still being written.
bool sl__tier_blob_writable(const sl__tier *tier, const sl__blob *blob);
// Seal the segment blob holds, as sl__tier_seal would, leaving its bytes
// mapped (read-only from now on: a write to them crashes) for the values
// that point into them. The segment cannot be sealed twice.
sl_err sl__tier_seal_blob(sl__tier *tier, sl__blob *blob, const char *key,
                          int ttl_s, unsigned flags, bool nx, bool *stored_out);
// A mapping that sl__tier_get made holds its file's shared flock, which
// keeps the file out of the pool. A cache that keeps mappings between
// uses lets it go (unpin: true when blob is a tier mapping) and takes it
// again before the next use (repin): false when the file was retired in
// between, and then its bytes must not be read (fetch the object again).
bool sl__tier_blob_unpin(sl__blob *blob);
bool sl__tier_blob_repin(sl__tier *tier, sl__blob *blob, const char *key);
// The hash of the data of a segment blob that was sealed (0 if not).
uint64_t sl__tier_blob_hash(const sl__blob *blob);
// Drop an object that was not sealed. Accepts NULL.
void sl__tier_abort(sl__tier *tier, sl__tier_seg **seg_p);

// Store len bytes under key in one step (begin, copy, seal).
sl_err sl__tier_put(sl__tier *tier, const char *key, const void *data,
                    size_t len, size_t aligned_at, int ttl_s, unsigned flags,
                    bool nx, bool *stored_out);

// Map the object under key read-only, after checking its header, size
// and hash: *blob_out holds the mapping (release it), the data is *len
// bytes at *data (the blob's data and len too). SL_ENOTFOUND when there
// is none (or it expired); SL_EPROTO when it is damaged (errstr says how;
// the object is removed, so that the next reader goes to the store).
sl_err sl__tier_get(sl__tier *tier, const char *key, sl__blob **blob_out,
                    const void **data, size_t *len);
// Whether an object is under key, and its flags.
bool sl__tier_has(sl__tier *tier, const char *key, unsigned *flags_out);
// Add flags to the object under key. SL_ENOTFOUND when there is none.
sl_err sl__tier_add_flags(sl__tier *tier, const char *key, unsigned flags);
// Remove the object under key; SL_ENOTFOUND when there is none.
sl_err sl__tier_delete(sl__tier *tier, const char *key);
// Remove every object whose key starts with prefix; returns how many.
size_t sl__tier_delete_prefix(sl__tier *tier, const char *prefix);

typedef struct {
    uint64_t objects; // sealed objects
    uint64_t bytes;   // their size (headers included), and writers'
    uint64_t pooled;  // pages of retired objects kept for the next writes
                      // (counted against the budget, dropped first)
    uint64_t budget;  // the tier's budget
} sl__tier_usage;
void sl__tier_usage_get(sl__tier *tier, sl__tier_usage *out);

// Housekeeping, run now and then by one process of the node (the worker):
// remove expired objects and what dead writers left, and count the bytes
// again from the files. Returns the objects removed.
size_t sl__tier_sweep(sl__tier *tier);

// Remove every tier under base (NULL: as sl__tier_opts) of this user that
// no live process holds: what crashed clusters left. Returns how many;
// errbuf (may be NULL) gets the first failure, if any.
int sl__tier_remove_dead(const char *base, char errbuf[SL_ERRSTR_LEN]);
// Remove the tier of cluster and node whether or not a process holds it
// (`starling down`: every process of the cluster is stopped). SL_OK when
// there was none.
sl_err sl__tier_remove(const char *base, const char *cluster, const char *node,
                       char errbuf[SL_ERRSTR_LEN]);

#endif
