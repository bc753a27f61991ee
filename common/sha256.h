// sha256.h - SHA-256 (FIPS 180-4): the content address of a kernel module.
// SPDX-License-Identifier: MIT
//
//     sl__sha256 h;
//     sl__sha256_init(&h);
//     sl__sha256_update(&h, buf, len); // as often as needed
//     uint8_t digest[SL_SHA256_LEN];
//     sl__sha256_final(&h, digest);
//
// Small and dependency-free (no OpenSSL): a module is hashed once when a
// client registers it and once each time a worker loads it.
#ifndef SL_COMMON_SHA256_H
#define SL_COMMON_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_SHA256_LEN 32                      // bytes of a digest
#define SL_SHA256_HEX_LEN (2 * SL_SHA256_LEN) // hex digits of a digest

typedef struct {
    uint32_t state[8]; // the running hash
    uint64_t bytes;    // message bytes hashed so far
    uint8_t block[64]; // the partial block not yet hashed
    size_t used;       // bytes in block
} sl__sha256;

void sl__sha256_init(sl__sha256 *h);
void sl__sha256_update(sl__sha256 *h, const void *data, size_t len);
// Finish: write the digest. h must be initialized again before reuse.
void sl__sha256_final(sl__sha256 *h, uint8_t digest[SL_SHA256_LEN]);

// The digest of len bytes at data, as 64 lowercase hex digits and a NUL.
void sl__sha256_hex(const void *data, size_t len,
                    char hex[SL_SHA256_HEX_LEN + 1]);
// Write digest as 64 lowercase hex digits and a NUL.
void sl__sha256_to_hex(const uint8_t digest[SL_SHA256_LEN],
                       char hex[SL_SHA256_HEX_LEN + 1]);
// Whether s begins with 64 lowercase hex digits (a digest in hex).
bool sl__sha256_is_hex(const char *s);

#endif
