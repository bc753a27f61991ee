// node.h - objects where they live: in this node's tier, or in the store.
// SPDX-License-Identifier: MIT
//
// A process of a node that has an object tier (store/tier.h) puts its
// large values there, and the store holds a location under the key (the
// node, the size, the hash: manifest.h) so that every process of the
// cluster can find them. A get looks in the node's tier first (the object
// is mapped, not copied); an object that lives on another node is asked
// for on that node's want list in the store, which a worker of that node
// serves by copying it into the store (sl__node_serve_want); the reader
// then fetches it and keeps a copy in its own tier. A process whose node
// has no tier uses the store alone, as it always did.
//
// Like a store and a tier, a node is for one thread.
#ifndef SL_STORE_NODE_H
#define SL_STORE_NODE_H

#include "store.h"
#include "tier.h"

// Values whose encoding has fewer bytes than this go to the store even
// when there is a tier: a file costs more than a small SET.
#define SL_NODE_TIER_MIN (64u << 10)
// How long a get waits for another node to serve a want.
#define SL_NODE_WANT_WAIT_MS 60000

// Put flags.
#define SL_NODE_NX 0x1u // only if the key is free: the first put wins
#define SL_NODE_STORE \
    0x2u // to the store, not the tier (a result whose
         // client is on another node)

typedef struct {
    sl__store *store; // the cluster's store (borrowed)
    sl__tier *tier;   // this node's tier (borrowed), or NULL: none
    char cluster[33]; // the cluster's id
    int want_wait_ms; // 0: SL_NODE_WANT_WAIT_MS
    char errstr[SL_ERRSTR_LEN];
} sl__node;

// The cluster's id, which names its tiers: a hash of the store's shard
// addresses, which the scheduler tells every process of the cluster.
void sl__node_cluster_id(const sl__store *store, char out[33]);
// Set n up over store and tier (may be NULL).
sl_err sl__node_init(sl__node *n, sl__store *store, sl__tier *tier);

// Put v under key (SL_NODE_* flags) and give back a ref to it.
sl_err sl__node_put_value(sl__node *n, const char *key, const sl_value *v,
                          unsigned flags, sl_value **ref_out);
// An sl__ndarray_alloc_fn (serialize/value.h) over ctx, an sl__node: the
// elements of a new ndarray in a segment of the node's tier, which
// sl__node_put_value then seals under its key without a copy (and which
// is dropped if it never is). NULL when there is no tier or it is full.
void *sl__node_alloc_ndarray(void *ctx, const sl_value *v, sl__blob **owner);
// The same for a value already encoded in buf.
sl_err sl__node_put_encoded(sl__node *n, const char *key, const void *buf,
                            size_t len, unsigned flags, sl_value **ref_out);
// The object a ref names, wherever it is: *blob_out holds its bytes (the
// value's encoding at *off, *len bytes), mapped from the tier or fetched.
// *copied_out (may be NULL) tells whether its bytes were copied to get here
// (from the store or another node) rather than mapped in place.
sl_err sl__node_get_blob(sl__node *n, const sl_value *ref,
                         const sl__limits *lim, sl__blob **blob_out,
                         size_t *off, size_t *len, bool *copied_out);
// Fetch and decode: ndarrays point into the mapping or the fetched bytes.
sl_err sl__node_get_value(sl__node *n, const sl_value *ref,
                          const sl__limits *lim, sl_value **out);
// Delete the object under key, here and in the store.
sl_err sl__node_delete(sl__node *n, const char *key);
// Delete every object whose key starts with prefix, here and in the store.
sl_err sl__node_delete_prefix(sl__node *n, const char *prefix);
// Serve this node's wants: wait up to wait_ms for one, and copy the object
// it names from the tier into the store. *served_out (may be NULL) tells
// whether one came.
sl_err sl__node_serve_want(sl__node *n, int wait_ms, bool *served_out);

// Each node's tier, as its workers last reported it.
typedef struct {
    char node[65];
    uint64_t objects, bytes, budget;
    int64_t reported_s; // unix time of the report
} sl__node_tier;
// Report this node's tier usage (a worker does, every few seconds).
sl_err sl__node_report_tier(sl__node *n);
// Up to max nodes' last reports, of the last stale_s seconds, into out;
// *count gets how many there are (even beyond max). Reports older than an
// hour are dropped from the store.
sl_err sl__node_tiers(sl__node *n, sl__node_tier *out, size_t max,
                      size_t *count, int stale_s);

#endif
