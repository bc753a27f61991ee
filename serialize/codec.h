// codec.h - values to msgpack and back, with limits on what a peer sends.
// SPDX-License-Identifier: MIT
#ifndef SL_SERIALIZE_CODEC_H
#define SL_SERIALIZE_CODEC_H

#include "../common/util.h"
#include "mp.h"
#include "value.h"

// Bounds on what a decoder accepts. Every count and size a peer sends is
// checked against these and against the bytes that remain, before anything
// is allocated.
typedef struct {
    size_t max_message;     // bytes in one wire message (ZMQ_MAXMSGSIZE too)
    int max_depth;          // nesting of lists and maps
    uint32_t max_elems;     // entries in one list or map
    size_t max_str;         // bytes in one string or binary
    size_t max_ndarray;     // bytes of one ndarray payload
    uint32_t max_tasks;     // tasks in one SUBMIT, TASKS, RESULT or DONE
    uint64_t max_job_tasks; // tasks in one job
} sl__limits;

// Map keys are strings of at most this many bytes, without NUL bytes.
#define SL_MAP_KEY_MAX 255

// The defaults: 512 MiB messages, depth 32, 16 Mi entries, 256 MiB strings
// and ndarrays, 65536 tasks per message, 64 Mi tasks per job.
extern const sl__limits sl__limits_default;

// Pack v. Returns SL_EINVAL for a value that a peer would refuse: nested
// deeper than the default depth limit, a map key longer than
// SL_MAP_KEY_MAX, or a ref whose key or shard does not fit its header.
sl_err sl__value_pack(sl__mpw *w, const sl_value *v);

// Encode v into a new malloc'd buffer.
sl_err sl__value_encode(const sl_value *v, void **buf_out, size_t *len_out);
// The same encoding in two pieces, for writing without a copy: *head_out
// (malloc'd, the caller frees it) then the *tail_len bytes at *tail_out,
// which are v's own (a top-level ndarray's elements, from
// SL_ENCODE_SPLIT_MIN bytes on; otherwise the tail is empty and the head
// is the whole encoding).
sl_err sl__value_encode_split(const sl_value *v, void **head_out,
                              size_t *head_len, const void **tail_out,
                              size_t *tail_len);
#define SL_ENCODE_SPLIT_MIN (64u << 10)

// Decode one value from r. When blob is not NULL (it must hold r's bytes),
// ndarray payloads aligned to their element size point into it (the value
// retains the blob) instead of being copied; bytes are always copied. On
// error errbuf says what was wrong and where; *out is untouched.
sl_err sl__value_decode(sl__mpr *r, const sl__limits *lim, sl__blob *blob,
                        sl_value **out, char errbuf[SL_ERRSTR_LEN]);

// Decode a whole buffer that must hold exactly one value.
sl_err sl__value_decode_buf(const void *buf, size_t len, const sl__limits *lim,
                            sl__blob *blob, sl_value **out,
                            char errbuf[SL_ERRSTR_LEN]);

#endif
