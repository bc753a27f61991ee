// mp.h - a bounds-checked msgpack reader, and writing helpers over
// msgpack-c's packer.
// SPDX-License-Identifier: MIT
//
// Design notes. Decoding never trusts a length: every read checks the bytes
// that remain before it touches them, and sl__mpr_skip bounds nesting. The
// reader returns views into the buffer (strings, binaries, ext payloads):
// they stay valid while the buffer does. We read msgpack ourselves rather
// than through msgpack_unpack because its unpacker allocates what a header
// claims before it has seen the bytes.
#ifndef SL_SERIALIZE_MP_H
#define SL_SERIALIZE_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// msgpack ext types of starling's values.
#define SL_EXT_NDARRAY 1
#define SL_EXT_REF 2
#define SL_EXT_FUTURE 3

typedef struct {
    const uint8_t *p;   // next byte to read
    const uint8_t *end; // one past the last byte
} sl__mpr;

// The msgpack family of the next item.
typedef enum {
    SL_MP_NIL,
    SL_MP_BOOL,
    SL_MP_INT,   // positive or negative integer
    SL_MP_FLOAT, // float32 or float64
    SL_MP_STR,
    SL_MP_BIN,
    SL_MP_ARRAY,
    SL_MP_MAP,
    SL_MP_EXT,
    SL_MP_INVALID, // 0xc1, or no bytes left
} sl__mp_kind;

static inline void
sl__mpr_init(sl__mpr *r, const void *buf, size_t len)
{
    r->p = buf;
    r->end = r->p + len;
}

static inline size_t
sl__mpr_left(const sl__mpr *r)
{
    return (size_t) (r->end - r->p);
}

sl__mp_kind sl__mpr_peek(const sl__mpr *r);

// Each reader consumes one item of its kind and returns 0, or returns -1
// with the reader unchanged when the next item is of another kind or runs
// past the end.
int sl__mpr_nil(sl__mpr *r);
int sl__mpr_bool(sl__mpr *r, bool *out);
int sl__mpr_u64(sl__mpr *r, uint64_t *out);
int sl__mpr_i64(sl__mpr *r, int64_t *out);
int sl__mpr_u32(sl__mpr *r, uint32_t *out);
// A float, or an integer converted to double.
int sl__mpr_f64(sl__mpr *r, double *out);
int sl__mpr_str(sl__mpr *r, const char **s, uint32_t *len);
int sl__mpr_bin(sl__mpr *r, const uint8_t **b, uint32_t *len);
// Array and map headers: *n is checked against the bytes left (each element
// needs at least one byte; a map entry two), so a caller may allocate n.
int sl__mpr_array(sl__mpr *r, uint32_t *n);
int sl__mpr_map(sl__mpr *r, uint32_t *n);
int sl__mpr_ext(sl__mpr *r, int8_t *type, const uint8_t **data, uint32_t *len);
// Skip one whole item, nesting at most max_depth deep. On success *start and
// *len (either may be NULL) give the raw bytes of the item.
int sl__mpr_skip(sl__mpr *r, int max_depth, const uint8_t **start, size_t *len);

// Writing: a packer over an sbuffer. The helpers below pack common shapes.
// A write that finds no memory does not stop the packing (msgpack's packer
// goes on with the next item), so the writer remembers it: the bytes of a
// writer that failed are incomplete and must not be sent or stored.
typedef struct {
    msgpack_sbuffer buf; // the bytes packed so far
    msgpack_packer pk;   // packs into buf, through the writer (s_write)
    bool failed;         // a write since the last reset found no memory
} sl__mpw;

// Initialise w in place: the packer points at w, so w must not move.
void sl__mpw_init(sl__mpw *w);
void sl__mpw_fini(sl__mpw *w);
// Forget what was packed and any failure; keep the memory.
void sl__mpw_reset(sl__mpw *w);
// Whether a write since the last reset found no memory.
bool sl__mpw_failed(const sl__mpw *w);
// Append what src packed to w, and src's failure with it: a message built
// from a buffer of parts is as broken as its parts.
void sl__mpw_append(sl__mpw *w, const sl__mpw *src);
// For the daemons, before they send or store what w packed: when a write
// found no memory, log and abort, as sl__xmalloc does, rather than let a
// message with a hole in it go out (a DONE or RESULT missing outcomes is
// results lost). The library checks sl__mpw_failed and returns SL_ENOMEM.
void sl__mpw_xcheck(const sl__mpw *w);
void sl__mpw_str(sl__mpw *w, const char *s);
void sl__mpw_strn(sl__mpw *w, const char *s, size_t len);
void sl__mpw_bin(sl__mpw *w, const void *b, size_t len);
// Append len bytes that are already msgpack (one whole item).
void sl__mpw_raw(sl__mpw *w, const void *b, size_t len);

#endif
