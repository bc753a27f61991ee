// value.h - the layout of sl_value, shared by the codec and the store.
// SPDX-License-Identifier: MIT
#ifndef SL_SERIALIZE_VALUE_H
#define SL_SERIALIZE_VALUE_H

#include <starling/value.h>

// A reference-counted buffer that decoded values may point into instead of
// copying (ndarray and bytes payloads). The last release frees it.
typedef struct sl__blob {
    int refs;                               // atomically counted holders
    void *data;                             // the bytes
    size_t len;                             // their number
    void (*free_fn)(void *ctx, void *data); // frees data; NULL: free()
    void *free_ctx;                         // passed to free_fn
} sl__blob;

// Wrap data (ownership moves to the blob). Returns NULL on ENOMEM, and then
// data is not freed.
sl__blob *sl__blob_new(void *data, size_t len, void (*free_fn)(void *, void *),
                       void *free_ctx);
void sl__blob_retain(sl__blob *blob);
void sl__blob_release(sl__blob **blob_p);

struct sl_value {
    sl_type type;    // which member of the union is live
    sl__blob *owner; // when non-NULL, bytes/ndarray data point into it
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            char *ptr; // owned (or in owner); str is NUL-terminated
            size_t len;
        } s;
        struct {
            sl_dtype dtype;
            int ndim;
            int64_t shape[SL_NDARRAY_MAX_DIMS];
            void *data; // aligned; owned (aligned_alloc) unless owner
            size_t nbytes;
        } nd;
        struct {
            char *key;     // owned
            uint64_t size; // bytes of the stored encoding
            int shard;     // store shard index
        } ref;
        struct {
            uint64_t job;   // the producing task's job id
            uint64_t index; // and index
        } fut;
        struct {
            sl_value **items;
            size_t n, cap;
        } list;
        struct {
            char **keys;
            sl_value **vals;
            size_t n, cap;
        } map;
    } u;
};

// A string of len bytes (copied; may hold NUL bytes).
sl_value *sl__value_new_strn(const char *s, size_t len);
// A ref value (copies key).
sl_value *sl__value_new_ref(const char *key, uint64_t size, int shard);
// A future: the result of task index of job.
sl_value *sl__value_new_future(uint64_t job, uint64_t index);
// An ndarray whose payload is a view into blob (retained). The caller has
// checked that data is aligned to the element size and nbytes matches.
sl_value *sl__value_new_ndarray_view(sl_dtype dtype, int ndim,
                                     const int64_t *shape, void *data,
                                     sl__blob *blob);
// An allocator of ndarray elements elsewhere than the heap (the node's
// object tier: shared memory): for v (its type, dtype, shape and nbytes
// set), return zeroed memory for v->u.nd.nbytes bytes, 64-byte aligned,
// and in *owner the blob that owns it (the value keeps that reference);
// or NULL, and the heap is used.
typedef void *(*sl__ndarray_alloc_fn)(void *ctx, const sl_value *v,
                                      sl__blob **owner);
// Make sl_value_new_ndarray of this thread use fn for arrays of at least
// min_bytes (fn NULL: the heap for all). A kernel's large result is then
// made where it will be kept.
void sl__value_set_ndarray_alloc(sl__ndarray_alloc_fn fn, void *ctx,
                                 size_t min_bytes);
// A zeroed ndarray whose elements fn allocates; NULL when it cannot.
sl_value *sl__value_new_ndarray_with(sl_dtype dtype, int ndim,
                                     const int64_t *shape,
                                     sl__ndarray_alloc_fn fn, void *ctx);
// Bytes of ndarray payload for a dtype and shape, or SIZE_MAX on overflow
// or a bad dtype/shape.
size_t sl__ndarray_nbytes(sl_dtype dtype, int ndim, const int64_t *shape);

#endif
