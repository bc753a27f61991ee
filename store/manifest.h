// manifest.h - the records the store keeps under a key instead of the
// object: a chunk manifest (the 25 bytes under the key of an object kept
// in chunks), and a location (where an object that lives in a node's
// object tier is: store/tier.h).
// SPDX-License-Identifier: MIT
//
// A plain buffer in and out, no connection: store.c writes and reads
// manifests through these, and unit tests and the fuzzer
// (tests/fuzz/manifest_fuzz.c) reach the decoder directly. The layout is in
// manifest.c and in serialize/PROTOCOL.md ("Objects in Redis").
#ifndef SL_STORE_MANIFEST_H
#define SL_STORE_MANIFEST_H

#include <starling/value.h> // sl_err

#define SL_MANIFEST_LEN 25

typedef struct {
    uint32_t n;     // chunks
    uint64_t total; // bytes of the object
    uint64_t chunk; // bytes of every chunk but the last
} sl__manifest;

// The manifest of an object of total bytes kept in chunks of chunk bytes.
// SL_EINVAL when either is 0; SL_ELIMIT when that takes more than
// UINT32_MAX chunks. *out is set only on SL_OK.
sl_err sl__manifest_plan(sl__manifest *out, uint64_t total, uint64_t chunk);
// Write m's SL_MANIFEST_LEN bytes into out.
void sl__manifest_encode(const sl__manifest *m, uint8_t out[SL_MANIFEST_LEN]);
// Whether buf has a manifest's length and magic, whatever its numbers say.
// The store keeps an object like that in chunks too, so that a manifest
// under a key is always one the store wrote.
bool sl__manifest_lookalike(const void *buf, size_t len);
// Read the manifest in buf. True when buf is one and its numbers agree:
// n, total and chunk all above 0, and n the least number of chunks of
// chunk bytes that hold total bytes. Then *out is the manifest, and its
// chunks' lengths (sl__manifest_chunk_len) add up to total. False for
// anything else (a plain object, or a broken manifest, which the store
// returns as the bytes they are); *out is then untouched. The sizes are
// not checked against memory or any limit: that is the caller's job.
bool sl__manifest_decode(const void *buf, size_t len, sl__manifest *out);
// The bytes of chunk i (i < m->n) of a manifest that decoded or was
// planned: m->chunk for every chunk but the last, the rest (at least 1)
// for the last.
size_t sl__manifest_chunk_len(const sl__manifest *m, uint32_t i);

// A location: the object lives in the tier of node, size bytes of data
// whose XXH3-64 is hash.
#define SL_LOCATION_NODE_MAX 64
#define SL_LOCATION_MAX (22 + SL_LOCATION_NODE_MAX)
typedef struct {
    uint64_t size;
    uint64_t hash;
    char node[SL_LOCATION_NODE_MAX + 1];
} sl__location;

// Write loc into out; returns its length. A node name longer than
// SL_LOCATION_NODE_MAX is cut.
size_t sl__location_encode(const sl__location *loc,
                           uint8_t out[SL_LOCATION_MAX]);
// Whether buf could be a location (its magic and a length in range): the
// store keeps an object like that in chunks, as a manifest lookalike.
bool sl__location_lookalike(const void *buf, size_t len);
// Read the location in buf: true when it is one whose node name's length
// agrees with buf's and is 1 to SL_LOCATION_NODE_MAX bytes, without NUL.
bool sl__location_decode(const void *buf, size_t len, sl__location *out);

#endif
