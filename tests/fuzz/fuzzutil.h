// fuzzutil.h - what the fuzz targets share: a check that aborts, a deep
// compare of values, and exact heap copies.
// SPDX-License-Identifier: MIT
//
// A fuzz target is one file with LLVMFuzzerTestOneInput. Besides "no crash,
// no leak, no undefined behaviour" (AddressSanitizer, UBSan), each states
// oracles: properties that hold for every input, checked with
// SL_FUZZ_CHECK. A failed check aborts, so libFuzzer saves the input as a
// crash artifact that reproduces it: `./value_fuzz crash-<sha1>`.
#ifndef SL_TESTS_FUZZ_FUZZUTIL_H
#define SL_TESTS_FUZZ_FUZZUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serialize/codec.h"

#define SL_FUZZ_CHECK(cond)                                                   \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: oracle failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                   \
            abort();                                                          \
        }                                                                     \
    } while (0)

// A heap copy of exactly len bytes (at least one byte is allocated), so
// that AddressSanitizer catches a read past the end.
static inline uint8_t *
sl__fuzz_dup(const void *buf, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    SL_FUZZ_CHECK(p != NULL);
    if (len > 0) {
        memcpy(p, buf, len);
    }
    return p;
}

// Two doubles with the same bits (so NaN equals the same NaN).
static inline bool
sl__fuzz_same_bits(double x, double y)
{
    return memcmp(&x, &y, sizeof(x)) == 0;
}

static inline bool sl__fuzz_same(const sl_value *a, const sl_value *b);

static inline bool
sl__fuzz_same_ndarray(const sl_value *a, const sl_value *b)
{
    if (sl_ndarray_dtype(a) != sl_ndarray_dtype(b) ||
        sl_ndarray_ndim(a) != sl_ndarray_ndim(b) ||
        sl_ndarray_nbytes(a) != sl_ndarray_nbytes(b)) {
        return false;
    }
    for (int i = 0; i < sl_ndarray_ndim(a); i++) {
        if (sl_ndarray_dim(a, i) != sl_ndarray_dim(b, i)) {
            return false;
        }
    }
    return memcmp(sl_ndarray_cdata(a), sl_ndarray_cdata(b),
                  sl_ndarray_nbytes(a)) == 0;
}

static inline bool
sl__fuzz_same_container(const sl_value *a, const sl_value *b)
{
    if (sl_value_type(a) == SL_LIST) {
        if (sl_value_list_size(a) != sl_value_list_size(b)) {
            return false;
        }
        for (size_t i = 0; i < sl_value_list_size(a); i++) {
            if (!sl__fuzz_same(sl_value_list_at(a, i),
                               sl_value_list_at(b, i))) {
                return false;
            }
        }
        return true;
    }
    if (sl_value_map_size(a) != sl_value_map_size(b)) {
        return false;
    }
    // Order is kept, so the same map has the same keys in the same order.
    for (size_t i = 0; i < sl_value_map_size(a); i++) {
        if (strcmp(sl_value_map_key_at(a, i), sl_value_map_key_at(b, i)) != 0 ||
            !sl__fuzz_same(sl_value_map_value_at(a, i),
                           sl_value_map_value_at(b, i))) {
            return false;
        }
    }
    return true;
}

// The same value, down to the bits of every float.
static inline bool
sl__fuzz_same(const sl_value *a, const sl_value *b)
{
    size_t la, lb;
    if (sl_value_type(a) != sl_value_type(b)) {
        return false;
    }
    switch (sl_value_type(a)) {
    case SL_NIL:
        return true;
    case SL_BOOL:
        return sl_value_bool(a) == sl_value_bool(b);
    case SL_INT:
        return sl_value_int(a) == sl_value_int(b);
    case SL_FLOAT:
        return sl__fuzz_same_bits(sl_value_float(a), sl_value_float(b));
    case SL_STR: {
        const char *x = sl_value_str(a, &la), *y = sl_value_str(b, &lb);
        return la == lb && memcmp(x, y, la) == 0 && x[la] == '\0' &&
               y[lb] == '\0';
    }
    case SL_BYTES: {
        const void *x = sl_value_bytes(a, &la), *y = sl_value_bytes(b, &lb);
        return la == lb && (la == 0 || memcmp(x, y, la) == 0);
    }
    case SL_NDARRAY:
        return sl__fuzz_same_ndarray(a, b);
    case SL_REF:
        return strcmp(sl_ref_key(a), sl_ref_key(b)) == 0 &&
               sl_ref_size(a) == sl_ref_size(b) &&
               sl_ref_shard(a) == sl_ref_shard(b);
    case SL_FUTURE:
        return sl_future_job(a) == sl_future_job(b) &&
               sl_future_index(a) == sl_future_index(b);
    case SL_LIST:
    case SL_MAP:
        return sl__fuzz_same_container(a, b);
    }
    return false;
}

// An error text is terminated inside its buffer.
static inline bool
sl__fuzz_errbuf_ok(const char *errbuf)
{
    return memchr(errbuf, '\0', SL_ERRSTR_LEN) != NULL;
}

#endif
