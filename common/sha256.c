// sha256.c - SHA-256 (FIPS 180-4): the content address of a kernel module.
// SPDX-License-Identifier: MIT
//
// Design notes.
// - The plain algorithm of FIPS 180-4, section 6.2, one 64-byte block at a
//   time; no tables beyond the 64 round constants. Byte order is explicit,
//   so the code is the same on any host.
// - A module is hashed by the client when it registers it and by the
//   worker when it loads it, from the store or from its disk cache; both
//   are once per module, so speed matters little.
#include "sha256.h"

#include <string.h>

static const uint32_t s_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t
s_rotr(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static uint32_t
s_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
           (uint32_t) p[2] << 8 | (uint32_t) p[3];
}

// The message schedule of one block: 16 words read, 48 derived.
static void
s_schedule(const uint8_t block[64], uint32_t w[64])
{
    for (int i = 0; i < 16; i++) {
        w[i] = s_be32(block + 4 * i);
    }
    for (int i = 16; i < 64; i++) {
        uint32_t s0 =
            s_rotr(w[i - 15], 7) ^ s_rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 =
            s_rotr(w[i - 2], 17) ^ s_rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
}

// One round: the eight working variables rotate by name, not in memory.
#define S_ROUND(a, b, c, d, e, f, g, h, i)                                 \
    do {                                                                   \
        uint32_t t1 = h + (s_rotr(e, 6) ^ s_rotr(e, 11) ^ s_rotr(e, 25)) + \
                      ((e & f) ^ (~e & g)) + s_k[i] + w[i];                \
        uint32_t t2 = (s_rotr(a, 2) ^ s_rotr(a, 13) ^ s_rotr(a, 22)) +     \
                      ((a & b) ^ (a & c) ^ (b & c));                       \
        d += t1;                                                           \
        h = t1 + t2;                                                       \
    } while (0)

static void
s_compress(uint32_t state[8], const uint8_t block[64])
{
    uint32_t w[64];
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    s_schedule(block, w);
    for (int i = 0; i < 64; i += 8) {
        S_ROUND(a, b, c, d, e, f, g, h, i);
        S_ROUND(h, a, b, c, d, e, f, g, i + 1);
        S_ROUND(g, h, a, b, c, d, e, f, i + 2);
        S_ROUND(f, g, h, a, b, c, d, e, i + 3);
        S_ROUND(e, f, g, h, a, b, c, d, i + 4);
        S_ROUND(d, e, f, g, h, a, b, c, i + 5);
        S_ROUND(c, d, e, f, g, h, a, b, i + 6);
        S_ROUND(b, c, d, e, f, g, h, a, i + 7);
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

void
sl__sha256_init(sl__sha256 *h)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                   0xa54ff53a, 0x510e527f, 0x9b05688c,
                                   0x1f83d9ab, 0x5be0cd19};
    memcpy(h->state, iv, sizeof(iv));
    h->bytes = 0;
    h->used = 0;
}

void
sl__sha256_update(sl__sha256 *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    h->bytes += len;
    while (len > 0) {
        size_t take = 64 - h->used < len ? 64 - h->used : len;
        memcpy(h->block + h->used, p, take);
        h->used += take;
        p += take;
        len -= take;
        if (h->used == 64) {
            s_compress(h->state, h->block);
            h->used = 0;
        }
    }
}

void
sl__sha256_final(sl__sha256 *h, uint8_t digest[SL_SHA256_LEN])
{
    uint64_t bits = h->bytes * 8;
    uint8_t pad[72] = {0x80};
    // Pad with 0x80, zeros, and the length in bits, to a whole block.
    size_t npad = (h->used < 56 ? 56 : 120) - h->used;
    for (int i = 0; i < 8; i++) {
        pad[npad + (size_t) i] = (uint8_t) (bits >> (56 - 8 * i));
    }
    sl__sha256_update(h, pad, npad + 8);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t) (h->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t) (h->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t) (h->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t) h->state[i];
    }
}

void
sl__sha256_to_hex(const uint8_t digest[SL_SHA256_LEN],
                  char hex[SL_SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < SL_SHA256_LEN; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[SL_SHA256_HEX_LEN] = '\0';
}

void
sl__sha256_hex(const void *data, size_t len, char hex[SL_SHA256_HEX_LEN + 1])
{
    sl__sha256 h;
    uint8_t digest[SL_SHA256_LEN];
    sl__sha256_init(&h);
    sl__sha256_update(&h, data, len);
    sl__sha256_final(&h, digest);
    sl__sha256_to_hex(digest, hex);
}

bool
sl__sha256_is_hex(const char *s)
{
    for (int i = 0; i < SL_SHA256_HEX_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}
