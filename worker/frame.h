// frame.h - the frames between a worker and its executor processes: a
// little-endian u32 length, then that many bytes.
// SPDX-License-Identifier: MIT
//
// Over the socketpair of an executor process (worker/executor.h) travel:
//
//   worker -> executor  the init frame, once: a WELCOME message (where the
//                       store is, inline_max); then a batch frame of 1 to
//                       SL_FRAME_BATCH_MAX tasks of one job, each time
//                       the slot is idle
//   executor -> worker  outcomes, as RESULT encodes them (with the job),
//                       one after another in a frame: the batch's, in
//                       its order, in one frame at its end, and in a
//                       frame every SL_EXECUTOR_FLUSH_MS before that
//
// Both ends are the same program. The length, the init frame and the
// batch frame have codecs of plain buffers, so that tests and fuzzers need
// no processes; sl__frame_send and sl__frame_recv move whole frames over
// the socket.
#ifndef SL_WORKER_FRAME_H
#define SL_WORKER_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/util.h"
#include "../serialize/msg.h"
#include "../store/store.h"

// Bytes of a frame's length, before its payload.
#define SL_FRAME_HEADER 4

// Write the header of a frame of len bytes (less than 4 GiB) into hdr.
void sl__frame_header(uint8_t hdr[SL_FRAME_HEADER], size_t len);
// The payload length hdr announces. SL_ELIMIT when it is over max: the
// caller allocates nothing and drops the connection.
sl_err sl__frame_length(const uint8_t hdr[SL_FRAME_HEADER], size_t max,
                        size_t *len);

// A frame being read: grown as needed, reused.
typedef struct {
    uint8_t *data; // the payload, malloc'd (so aligned as malloc aligns)
    size_t len;    // its length
    size_t cap;    // bytes allocated at data
} sl__frame;

// Send one frame; blocks until written. SL_EIO when the peer is gone.
sl_err sl__frame_send(int fd, const void *buf, size_t len);
// Read one frame of at most max bytes into f. A header whose bytes stop
// coming for timeout_ms (-1: no limit), a payload whose bytes stop coming
// for 10 s, EOF, or a length over max is SL_EIO (*eof tells EOF at a
// frame boundary apart). f->data stays valid until the next call.
sl_err sl__frame_recv(int fd, sl__frame *f, size_t max, int timeout_ms,
                      bool *eof);
void sl__frame_fini(sl__frame *f);

// The init frame, decoded. Its store options point into the struct
// itself: do not copy it.
typedef struct {
    sl__store_where store; // where the store is
    uint32_t inline_max;   // larger results go to the store
    char tier_cluster[33]; // the node's object tier: the cluster's id,
    char tier_node[65];    // and the node's name ("": no tier)
} sl__frame_init;

// Write the init frame's payload: a WELCOME of store and inline_max, then
// the tier's cluster id and node name (two strings, "" for none).
void sl__frame_init_encode(sl__mpw *w, const sl__store_opts *store,
                           uint32_t inline_max, const char *tier_cluster,
                           const char *tier_node);
// Decode an init frame's payload into *out. SL_EPROTO when it is no
// WELCOME, or names more shards than a store has.
sl_err sl__frame_init_decode(const void *buf, size_t len, sl__frame_init *out);

// A batch frame: tasks of one job, to run in order. Its payload is a
// msgpack header, [job, function, time_limit_ms, home, [[index, attempt,
// arg_len(, inputs_len)], ...]], and then each task's argument as the
// scheduler sent it, its inputs (the results its futures name, as TASKS
// had them) right after it when it has any
// (raw msgpack, untouched: the worker never decodes it), each starting
// SL_FRAME_ARG_ALIGN-aligned in the payload, zero bytes padding the gaps.
// The payload ends where the last argument does. So the executor finds
// every argument without reading it, uses it where it lies, and decodes
// it once, to run the task; and an argument lies as aligned as it would
// in a buffer of its own, for the ndarrays in it that are used in place.
#define SL_FRAME_BATCH_MAX 256
#define SL_FRAME_ARG_ALIGN 16

// Encoding: sl__frame_batch_begin for n_tasks tasks, sl__frame_batch_task
// for each, then sl__frame_batch_arg for each, in the same order. w must
// be empty at the begin: the alignment is counted from its first byte.
void sl__frame_batch_begin(sl__mpw *w, uint64_t job, const char *function,
                           size_t function_len, uint32_t time_limit_ms,
                           const char *home, size_t home_len, uint32_t n_tasks);
void sl__frame_batch_task(sl__mpw *w, uint32_t index, uint32_t attempt,
                          size_t arg_len, size_t inputs_len);
void sl__frame_batch_arg(sl__mpw *w, const void *arg, size_t len,
                         const void *inputs, size_t inputs_len);
// Decode a batch frame's payload (buf SL_FRAME_ARG_ALIGN-aligned, as
// malloc aligns): *g and g->n_tasks items, items having room for
// SL_FRAME_BATCH_MAX. Each item's arg points into buf (valid while buf
// is). SL_EPROTO, errbuf saying why, for a header that does not decode
// (or whose home a TASKS group could not carry), a batch of no task or
// more than SL_FRAME_BATCH_MAX, or arguments that do not end where the
// payload does.
sl_err sl__frame_batch_decode(const void *buf, size_t len, sl__task_group *g,
                              sl__task_item *items, char errbuf[SL_ERRSTR_LEN]);

#endif
