// value.c - construct, inspect, copy and free starling values.
// SPDX-License-Identifier: MIT
#include "value.h"

#include "../common/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

sl__blob *
sl__blob_new(void *data, size_t len, void (*free_fn)(void *, void *),
             void *free_ctx)
{
    sl__blob *blob = malloc(sizeof(*blob));
    if (blob == NULL) {
        return NULL;
    }
    blob->refs = 1;
    blob->data = data;
    blob->len = len;
    blob->free_fn = free_fn;
    blob->free_ctx = free_ctx;
    return blob;
}

void
sl__blob_retain(sl__blob *blob)
{
    __atomic_add_fetch(&blob->refs, 1, __ATOMIC_RELAXED);
}

void
sl__blob_release(sl__blob **blob_p)
{
    sl__blob *blob = *blob_p;
    if (blob == NULL) {
        return;
    }
    *blob_p = NULL;
    if (__atomic_sub_fetch(&blob->refs, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    if (blob->free_fn != NULL) {
        blob->free_fn(blob->free_ctx, blob->data);
    } else {
        free(blob->data);
    }
    free(blob);
}

static sl_value *
s_new(sl_type type)
{
    sl_value *v = calloc(1, sizeof(*v));
    if (v != NULL) {
        v->type = type;
    }
    return v;
}

sl_value *
sl_value_new_nil(void)
{
    return s_new(SL_NIL);
}

sl_value *
sl_value_new_bool(bool b)
{
    sl_value *v = s_new(SL_BOOL);
    if (v != NULL) {
        v->u.b = b;
    }
    return v;
}

sl_value *
sl_value_new_int(int64_t i)
{
    sl_value *v = s_new(SL_INT);
    if (v != NULL) {
        v->u.i = i;
    }
    return v;
}

sl_value *
sl_value_new_float(double d)
{
    sl_value *v = s_new(SL_FLOAT);
    if (v != NULL) {
        v->u.f = d;
    }
    return v;
}

static sl_value *
s_new_buf(sl_type type, const void *data, size_t len)
{
    sl_value *v = s_new(type);
    if (v == NULL) {
        return NULL;
    }
    v->u.s.ptr = malloc(len + 1);
    if (v->u.s.ptr == NULL) {
        free(v);
        return NULL;
    }
    if (len > 0) {
        memcpy(v->u.s.ptr, data, len);
    }
    v->u.s.ptr[len] = '\0';
    v->u.s.len = len;
    return v;
}

sl_value *
sl_value_new_str(const char *s)
{
    return s_new_buf(SL_STR, s, strlen(s));
}

sl_value *
sl__value_new_strn(const char *s, size_t len)
{
    return s_new_buf(SL_STR, s, len);
}

sl_value *
sl_value_new_bytes(const void *data, size_t len)
{
    return s_new_buf(SL_BYTES, data, len);
}

size_t
sl_dtype_size(sl_dtype dtype)
{
    switch (dtype) {
    case SL_F32:
    case SL_I32:
        return 4;
    case SL_F64:
    case SL_I64:
        return 8;
    }
    return 0;
}

const char *
sl_dtype_name(sl_dtype dtype)
{
    switch (dtype) {
    case SL_F32:
        return "f32";
    case SL_F64:
        return "f64";
    case SL_I32:
        return "i32";
    case SL_I64:
        return "i64";
    }
    return "?";
}

size_t
sl__ndarray_nbytes(sl_dtype dtype, int ndim, const int64_t *shape)
{
    size_t n = sl_dtype_size(dtype);
    if (n == 0 || ndim < 0 || ndim > SL_NDARRAY_MAX_DIMS) {
        return SIZE_MAX;
    }
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            return SIZE_MAX;
        }
        if (shape[i] != 0 && n > SIZE_MAX / 2 / (size_t) shape[i]) {
            return SIZE_MAX;
        }
        n *= (size_t) shape[i];
    }
    return n;
}

static sl_value *
s_new_ndarray_shape(sl_dtype dtype, int ndim, const int64_t *shape)
{
    size_t nbytes = sl__ndarray_nbytes(dtype, ndim, shape);
    if (nbytes == SIZE_MAX) {
        return NULL;
    }
    sl_value *v = s_new(SL_NDARRAY);
    if (v == NULL) {
        return NULL;
    }
    v->u.nd.dtype = dtype;
    v->u.nd.ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        v->u.nd.shape[i] = shape[i];
    }
    v->u.nd.nbytes = nbytes;
    return v;
}

// This thread's allocator of large ndarrays (sl__value_set_ndarray_alloc).
static _Thread_local struct {
    sl__ndarray_alloc_fn fn;
    void *ctx;
    size_t min_bytes;
} s_nd_alloc;

void
sl__value_set_ndarray_alloc(sl__ndarray_alloc_fn fn, void *ctx,
                            size_t min_bytes)
{
    s_nd_alloc.fn = fn;
    s_nd_alloc.ctx = ctx;
    s_nd_alloc.min_bytes = min_bytes;
}

sl_value *
sl__value_new_ndarray_with(sl_dtype dtype, int ndim, const int64_t *shape,
                           sl__ndarray_alloc_fn fn, void *ctx)
{
    sl_value *v = s_new_ndarray_shape(dtype, ndim, shape);
    if (v == NULL) {
        return NULL;
    }
    v->u.nd.data = fn(ctx, v, &v->owner);
    if (v->u.nd.data == NULL) {
        free(v);
        return NULL;
    }
    return v; // the allocator's memory is zeroed
}

sl_value *
sl_value_new_ndarray(sl_dtype dtype, int ndim, const int64_t *shape,
                     const void *data)
{
    sl_value *v = s_new_ndarray_shape(dtype, ndim, shape);
    if (v == NULL) {
        return NULL;
    }
    if (s_nd_alloc.fn != NULL && v->u.nd.nbytes >= s_nd_alloc.min_bytes &&
        (v->u.nd.data = s_nd_alloc.fn(s_nd_alloc.ctx, v, &v->owner)) != NULL) {
        if (data != NULL) {
            memcpy(v->u.nd.data, data, v->u.nd.nbytes);
        }
        return v; // zeroed already
    }
    // 64-byte alignment suits AVX-512 loads in BLAS kernels.
    v->u.nd.data = sl__alloc_aligned(v->u.nd.nbytes);
    if (v->u.nd.data == NULL) {
        free(v);
        return NULL;
    }
    if (data != NULL) {
        memcpy(v->u.nd.data, data, v->u.nd.nbytes);
    } else {
        memset(v->u.nd.data, 0, v->u.nd.nbytes);
    }
    return v;
}

sl_value *
sl__value_new_ndarray_view(sl_dtype dtype, int ndim, const int64_t *shape,
                           void *data, sl__blob *blob)
{
    sl_value *v = s_new_ndarray_shape(dtype, ndim, shape);
    if (v == NULL) {
        return NULL;
    }
    v->u.nd.data = data;
    v->owner = blob;
    sl__blob_retain(blob);
    return v;
}

sl_value *
sl__value_new_future(uint64_t job, uint64_t index)
{
    sl_value *v = s_new(SL_FUTURE);
    if (v != NULL) {
        v->u.fut.job = job;
        v->u.fut.index = index;
    }
    return v;
}

sl_value *
sl__value_new_ref(const char *key, uint64_t size, int shard)
{
    sl_value *v = s_new(SL_REF);
    if (v == NULL) {
        return NULL;
    }
    size_t n = strlen(key) + 1;
    v->u.ref.key = malloc(n);
    if (v->u.ref.key == NULL) {
        free(v);
        return NULL;
    }
    memcpy(v->u.ref.key, key, n);
    v->u.ref.size = size;
    v->u.ref.shard = shard;
    return v;
}

sl_value *
sl_value_new_list(void)
{
    return s_new(SL_LIST);
}

sl_value *
sl_value_new_map(void)
{
    return s_new(SL_MAP);
}

sl_err
sl_value_list_append(sl_value *list, sl_value **item_p)
{
    if (list == NULL || list->type != SL_LIST || item_p == NULL ||
        *item_p == NULL) {
        return SL_EINVAL;
    }
    if (list->u.list.n == list->u.list.cap) {
        size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        sl_value **items = realloc(list->u.list.items, cap * sizeof(*items));
        if (items == NULL) {
            return SL_ENOMEM;
        }
        list->u.list.items = items;
        list->u.list.cap = cap;
    }
    list->u.list.items[list->u.list.n++] = *item_p;
    *item_p = NULL;
    return SL_OK;
}

static ssize_t
s_map_find(const sl_value *map, const char *key)
{
    for (size_t i = 0; i < map->u.map.n; i++) {
        if (strcmp(map->u.map.keys[i], key) == 0) {
            return (ssize_t) i;
        }
    }
    return -1;
}

sl_err
sl_value_map_set(sl_value *map, const char *key, sl_value **item_p)
{
    if (map == NULL || map->type != SL_MAP || key == NULL || item_p == NULL ||
        *item_p == NULL) {
        return SL_EINVAL;
    }
    ssize_t at = s_map_find(map, key);
    if (at >= 0) {
        sl_value_destroy(&map->u.map.vals[at]);
        map->u.map.vals[at] = *item_p;
        *item_p = NULL;
        return SL_OK;
    }
    if (map->u.map.n == map->u.map.cap) {
        size_t cap = map->u.map.cap ? map->u.map.cap * 2 : 4;
        char **keys = realloc(map->u.map.keys, cap * sizeof(*keys));
        if (keys == NULL) {
            return SL_ENOMEM;
        }
        map->u.map.keys = keys;
        sl_value **vals = realloc(map->u.map.vals, cap * sizeof(*vals));
        if (vals == NULL) {
            return SL_ENOMEM;
        }
        map->u.map.vals = vals;
        map->u.map.cap = cap;
    }
    size_t n = strlen(key) + 1;
    char *k = malloc(n);
    if (k == NULL) {
        return SL_ENOMEM;
    }
    memcpy(k, key, n);
    map->u.map.keys[map->u.map.n] = k;
    map->u.map.vals[map->u.map.n] = *item_p;
    map->u.map.n++;
    *item_p = NULL;
    return SL_OK;
}

static sl_value *
s_copy_container(const sl_value *v)
{
    sl_value *c = s_new(v->type);
    if (c == NULL) {
        return NULL;
    }
    size_t n = v->type == SL_LIST ? v->u.list.n : v->u.map.n;
    for (size_t i = 0; i < n; i++) {
        const sl_value *item =
            v->type == SL_LIST ? v->u.list.items[i] : v->u.map.vals[i];
        sl_value *copy = sl_value_copy(item);
        sl_err rv = copy == NULL ? SL_ENOMEM
                    : v->type == SL_LIST
                        ? sl_value_list_append(c, &copy)
                        : sl_value_map_set(c, v->u.map.keys[i], &copy);
        if (rv != SL_OK) {
            sl_value_destroy(&copy);
            sl_value_destroy(&c);
            return NULL;
        }
    }
    return c;
}

sl_value *
sl_value_copy(const sl_value *v)
{
    if (v == NULL) {
        return NULL;
    }
    switch (v->type) {
    case SL_NIL:
    case SL_BOOL:
    case SL_INT:
    case SL_FLOAT:
    case SL_FUTURE: {
        sl_value *c = s_new(v->type);
        if (c != NULL) {
            c->u = v->u;
        }
        return c;
    }
    case SL_STR:
    case SL_BYTES:
        return s_new_buf(v->type, v->u.s.ptr, v->u.s.len);
    case SL_NDARRAY:
        return sl_value_new_ndarray(v->u.nd.dtype, v->u.nd.ndim, v->u.nd.shape,
                                    v->u.nd.data);
    case SL_REF:
        return sl__value_new_ref(v->u.ref.key, v->u.ref.size, v->u.ref.shard);
    case SL_LIST:
    case SL_MAP:
        return s_copy_container(v);
    }
    return NULL;
}

void
sl_value_destroy(sl_value **v_p)
{
    sl_value *v = v_p != NULL ? *v_p : NULL;
    if (v == NULL) {
        return;
    }
    *v_p = NULL;
    switch (v->type) {
    case SL_STR:
    case SL_BYTES:
        if (v->owner == NULL) {
            free(v->u.s.ptr);
        }
        break;
    case SL_NDARRAY:
        if (v->owner == NULL) {
            sl__free_aligned(v->u.nd.data, v->u.nd.nbytes);
        }
        break;
    case SL_REF:
        free(v->u.ref.key);
        break;
    case SL_LIST:
        for (size_t i = 0; i < v->u.list.n; i++) {
            sl_value_destroy(&v->u.list.items[i]);
        }
        free(v->u.list.items);
        break;
    case SL_MAP:
        for (size_t i = 0; i < v->u.map.n; i++) {
            free(v->u.map.keys[i]);
            sl_value_destroy(&v->u.map.vals[i]);
        }
        free(v->u.map.keys);
        free(v->u.map.vals);
        break;
    default:
        break;
    }
    sl__blob_release(&v->owner);
    free(v);
}

sl_type
sl_value_type(const sl_value *v)
{
    return v == NULL ? SL_NIL : v->type;
}

const char *
sl_type_name(sl_type type)
{
    static const char *names[] = {"nil",  "bool",  "int",     "float",
                                  "str",  "bytes", "ndarray", "ref",
                                  "list", "map",   "future"};
    return (unsigned) type < sizeof(names) / sizeof(names[0]) ? names[type]
                                                              : "?";
}

bool
sl_value_bool(const sl_value *v)
{
    return v != NULL && v->type == SL_BOOL && v->u.b;
}

int64_t
sl_value_int(const sl_value *v)
{
    return v != NULL && v->type == SL_INT ? v->u.i : 0;
}

double
sl_value_float(const sl_value *v)
{
    if (v == NULL) {
        return 0;
    }
    if (v->type == SL_FLOAT) {
        return v->u.f;
    }
    return v->type == SL_INT ? (double) v->u.i : 0;
}

const char *
sl_value_str(const sl_value *v, size_t *len_p)
{
    if (v == NULL || v->type != SL_STR) {
        if (len_p != NULL) {
            *len_p = 0;
        }
        return NULL;
    }
    if (len_p != NULL) {
        *len_p = v->u.s.len;
    }
    return v->u.s.ptr;
}

const void *
sl_value_bytes(const sl_value *v, size_t *len_p)
{
    if (v == NULL || v->type != SL_BYTES) {
        if (len_p != NULL) {
            *len_p = 0;
        }
        return NULL;
    }
    if (len_p != NULL) {
        *len_p = v->u.s.len;
    }
    return v->u.s.ptr;
}

size_t
sl_value_list_size(const sl_value *v)
{
    return v != NULL && v->type == SL_LIST ? v->u.list.n : 0;
}

const sl_value *
sl_value_list_at(const sl_value *v, size_t i)
{
    return i < sl_value_list_size(v) ? v->u.list.items[i] : NULL;
}

size_t
sl_value_map_size(const sl_value *v)
{
    return v != NULL && v->type == SL_MAP ? v->u.map.n : 0;
}

const sl_value *
sl_value_map_get(const sl_value *v, const char *key)
{
    if (v == NULL || v->type != SL_MAP || key == NULL) {
        return NULL;
    }
    ssize_t at = s_map_find(v, key);
    return at < 0 ? NULL : v->u.map.vals[at];
}

const char *
sl_value_map_key_at(const sl_value *v, size_t i)
{
    return i < sl_value_map_size(v) ? v->u.map.keys[i] : NULL;
}

const sl_value *
sl_value_map_value_at(const sl_value *v, size_t i)
{
    return i < sl_value_map_size(v) ? v->u.map.vals[i] : NULL;
}

static bool
s_is_nd(const sl_value *v)
{
    return v != NULL && v->type == SL_NDARRAY;
}

sl_dtype
sl_ndarray_dtype(const sl_value *v)
{
    return s_is_nd(v) ? v->u.nd.dtype : (sl_dtype) 0;
}

int
sl_ndarray_ndim(const sl_value *v)
{
    return s_is_nd(v) ? v->u.nd.ndim : 0;
}

int64_t
sl_ndarray_dim(const sl_value *v, int i)
{
    return s_is_nd(v) && i >= 0 && i < v->u.nd.ndim ? v->u.nd.shape[i] : 0;
}

size_t
sl_ndarray_size(const sl_value *v)
{
    return s_is_nd(v) ? v->u.nd.nbytes / sl_dtype_size(v->u.nd.dtype) : 0;
}

size_t
sl_ndarray_nbytes(const sl_value *v)
{
    return s_is_nd(v) ? v->u.nd.nbytes : 0;
}

void *
sl_ndarray_data(sl_value *v)
{
    return s_is_nd(v) ? v->u.nd.data : NULL;
}

const void *
sl_ndarray_cdata(const sl_value *v)
{
    return s_is_nd(v) ? v->u.nd.data : NULL;
}

const char *
sl_ref_key(const sl_value *v)
{
    return v != NULL && v->type == SL_REF ? v->u.ref.key : NULL;
}

uint64_t
sl_ref_size(const sl_value *v)
{
    return v != NULL && v->type == SL_REF ? v->u.ref.size : 0;
}

int
sl_ref_shard(const sl_value *v)
{
    return v != NULL && v->type == SL_REF ? v->u.ref.shard : 0;
}

uint64_t
sl_future_job(const sl_value *v)
{
    return v != NULL && v->type == SL_FUTURE ? v->u.fut.job : 0;
}

uint64_t
sl_future_index(const sl_value *v)
{
    return v != NULL && v->type == SL_FUTURE ? v->u.fut.index : 0;
}

// Append to buf at *off, never past len.
static void s_put(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
s_put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    if (*off >= len) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n > 0) {
        *off += (size_t) n;
    }
}

static void
s_describe(const sl_value *v, char *buf, size_t len, size_t *off)
{
    switch (sl_value_type(v)) {
    case SL_NIL:
        s_put(buf, len, off, "nil");
        break;
    case SL_BOOL:
        s_put(buf, len, off, "%s", v->u.b ? "true" : "false");
        break;
    case SL_INT:
        s_put(buf, len, off, "%" PRId64, v->u.i);
        break;
    case SL_FLOAT:
        s_put(buf, len, off, "%g", v->u.f);
        break;
    case SL_STR:
        s_put(buf, len, off, "\"%.40s%s\"", v->u.s.ptr,
              v->u.s.len > 40 ? "..." : "");
        break;
    case SL_BYTES:
        s_put(buf, len, off, "bytes[%zu]", v->u.s.len);
        break;
    case SL_NDARRAY:
        s_put(buf, len, off, "ndarray<%s>[", sl_dtype_name(v->u.nd.dtype));
        for (int i = 0; i < v->u.nd.ndim; i++) {
            s_put(buf, len, off, "%s%" PRId64, i ? "x" : "", v->u.nd.shape[i]);
        }
        s_put(buf, len, off, "]");
        break;
    case SL_REF:
        s_put(buf, len, off, "ref(%s, %" PRIu64 " bytes)", v->u.ref.key,
              v->u.ref.size);
        break;
    case SL_FUTURE:
        s_put(buf, len, off, "future(job %" PRIu64 " task %" PRIu64 ")",
              v->u.fut.job, v->u.fut.index);
        break;
    case SL_LIST:
        s_put(buf, len, off, "[");
        for (size_t i = 0; i < v->u.list.n && i < 8; i++) {
            s_put(buf, len, off, "%s", i ? ", " : "");
            s_describe(v->u.list.items[i], buf, len, off);
        }
        s_put(buf, len, off, "%s]", v->u.list.n > 8 ? ", ..." : "");
        break;
    case SL_MAP:
        s_put(buf, len, off, "{");
        for (size_t i = 0; i < v->u.map.n && i < 8; i++) {
            s_put(buf, len, off, "%s%s: ", i ? ", " : "", v->u.map.keys[i]);
            s_describe(v->u.map.vals[i], buf, len, off);
        }
        s_put(buf, len, off, "%s}", v->u.map.n > 8 ? ", ..." : "");
        break;
    }
}

char *
sl_value_describe(const sl_value *v, char *buf, size_t len)
{
    size_t off = 0;
    if (len == 0) {
        return buf;
    }
    buf[0] = '\0';
    s_describe(v, buf, len, &off);
    return buf;
}
