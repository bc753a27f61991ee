// value.h - starling's values: what a task takes and what it gives back.
// SPDX-License-Identifier: MIT
//
// A value is a tree: nil, bool, int64, float64, string, bytes, an ndarray
// (f32/f64/i32/i64, up to 4 dimensions, row-major), a ref (the key of an
// object in the store), a list, or a map with string keys. Values travel as
// msgpack (serialize/PROTOCOL.md).
//
// Ownership: a constructor returns a new value that the caller owns and
// frees with sl_value_destroy. The list and map setters take ownership of
// the item (and set the caller's pointer to NULL). Getters return borrowed
// pointers that stay valid while the value they came from lives.
#ifndef STARLING_VALUE_H
#define STARLING_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <starling/export.h>

#ifdef __cplusplus
extern "C" {
#endif

// Every call that can fail returns one of these. 0 is success.
typedef enum {
    SL_OK = 0,
    SL_ENOMEM,    // out of memory
    SL_EINVAL,    // a bad argument from the caller
    SL_EPROTO,    // a malformed or unexpected message from a peer
    SL_ELIMIT,    // a configured limit (size, depth, count) was exceeded
    SL_ECLOSED,   // the peer or the object is gone
    SL_ETIMEDOUT, // a wait or a request ran out of time
    SL_ESTORE,    // the object store (Redis) failed
    SL_ENOTFOUND, // no such job, object or function
    SL_EKERNEL,   // a kernel reported an error
    SL_ECANCELED, // the job was cancelled
    SL_EIO,       // a local I/O error (file, process)
    SL_ENOTREADY, // the result is not there yet
    SL_EAUTH,     // refused: a key, a password or an allow list said no
} sl_err;

// A static English description of err.
SL_EXPORT const char *sl_strerror(sl_err err);

typedef enum {
    SL_NIL = 0,
    SL_BOOL,
    SL_INT,
    SL_FLOAT,
    SL_STR,
    SL_BYTES,
    SL_NDARRAY,
    SL_REF,
    SL_LIST,
    SL_MAP,
    SL_FUTURE,
} sl_type;

typedef enum {
    SL_F32 = 1,
    SL_F64 = 2,
    SL_I32 = 3,
    SL_I64 = 4,
} sl_dtype;

#define SL_NDARRAY_MAX_DIMS 4

typedef struct sl_value sl_value;

// Constructors. Each returns NULL when memory runs out (or, for the ndarray,
// when the dtype or shape is invalid).
SL_EXPORT sl_value *sl_value_new_nil(void);
SL_EXPORT sl_value *sl_value_new_bool(bool b);
SL_EXPORT sl_value *sl_value_new_int(int64_t i);
SL_EXPORT sl_value *sl_value_new_float(double d);
// Copies the NUL-terminated s.
SL_EXPORT sl_value *sl_value_new_str(const char *s);
// Copies len bytes of data.
SL_EXPORT sl_value *sl_value_new_bytes(const void *data, size_t len);
// A new ndarray of the given shape. Copies the elements from data, or zeroes
// them when data is NULL. The payload is 64-byte aligned.
SL_EXPORT sl_value *sl_value_new_ndarray(sl_dtype dtype, int ndim,
                                         const int64_t *shape,
                                         const void *data);
SL_EXPORT sl_value *sl_value_new_list(void);
SL_EXPORT sl_value *sl_value_new_map(void);

// Append *item_p to list. On SL_OK the list owns the item and *item_p is
// NULL; on error the caller still owns it.
SL_EXPORT sl_err sl_value_list_append(sl_value *list, sl_value **item_p);
// Set key in map to *item_p, replacing (and freeing) an earlier value under
// the same key. Ownership moves as with sl_value_list_append.
SL_EXPORT sl_err sl_value_map_set(sl_value *map, const char *key,
                                  sl_value **item_p);

// A deep copy, or NULL when memory runs out. Refs copy as refs.
SL_EXPORT sl_value *sl_value_copy(const sl_value *v);

// Free a value and everything below it. Accepts NULL; sets *v_p to NULL.
SL_EXPORT void sl_value_destroy(sl_value **v_p);

// Getters. A getter of the wrong type returns 0, false, NULL or an empty
// size; sl_value_float also converts an int.
SL_EXPORT sl_type sl_value_type(const sl_value *v);
SL_EXPORT const char *sl_type_name(sl_type type);
SL_EXPORT bool sl_value_bool(const sl_value *v);
SL_EXPORT int64_t sl_value_int(const sl_value *v);
SL_EXPORT double sl_value_float(const sl_value *v);
// The string (NUL-terminated) and its length in *len_p (may be NULL).
SL_EXPORT const char *sl_value_str(const sl_value *v, size_t *len_p);
SL_EXPORT const void *sl_value_bytes(const sl_value *v, size_t *len_p);

SL_EXPORT size_t sl_value_list_size(const sl_value *v);
SL_EXPORT const sl_value *sl_value_list_at(const sl_value *v, size_t i);

SL_EXPORT size_t sl_value_map_size(const sl_value *v);
// The value under key, or NULL.
SL_EXPORT const sl_value *sl_value_map_get(const sl_value *v, const char *key);
SL_EXPORT const char *sl_value_map_key_at(const sl_value *v, size_t i);
SL_EXPORT const sl_value *sl_value_map_value_at(const sl_value *v, size_t i);

SL_EXPORT sl_dtype sl_ndarray_dtype(const sl_value *v);
SL_EXPORT int sl_ndarray_ndim(const sl_value *v);
SL_EXPORT int64_t sl_ndarray_dim(const sl_value *v, int i);
// Number of elements, and bytes of payload.
SL_EXPORT size_t sl_ndarray_size(const sl_value *v);
SL_EXPORT size_t sl_ndarray_nbytes(const sl_value *v);
// The elements, row-major. Writable for an ndarray the caller built; the
// pointer is aligned to the element size at least.
SL_EXPORT void *sl_ndarray_data(sl_value *v);
SL_EXPORT const void *sl_ndarray_cdata(const sl_value *v);
SL_EXPORT size_t sl_dtype_size(sl_dtype dtype);
SL_EXPORT const char *sl_dtype_name(sl_dtype dtype);

// A ref names an object in the store: its key, its size in bytes (of the
// encoded value) and the store shard that holds it.
SL_EXPORT const char *sl_ref_key(const sl_value *v);
SL_EXPORT uint64_t sl_ref_size(const sl_value *v);
SL_EXPORT int sl_ref_shard(const sl_value *v);

// A future stands for the result of another task, task index of job (an
// sl_job's id): see sl_value_new_future in client.h, which makes one. A
// kernel never sees one: the worker puts the result in its place.
SL_EXPORT uint64_t sl_future_job(const sl_value *v);
SL_EXPORT uint64_t sl_future_index(const sl_value *v);

// Write a short human-readable rendering of v (lists and arrays
// abbreviated) into buf of size len. Returns buf.
SL_EXPORT char *sl_value_describe(const sl_value *v, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
