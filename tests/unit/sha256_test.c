// sha256_test.c - SHA-256 against the FIPS 180-4 and NIST CAVP vectors.
// SPDX-License-Identifier: MIT
#include "../common/sha256.h"

#include "testutil.h"

static void
test_known_vectors(void)
{
    char hex[SL_SHA256_HEX_LEN + 1];
    sl__sha256_hex("", 0, hex);
    SL_ASSERT_STR(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                       "27ae41e4649b934ca495991b7852b855");
    sl__sha256_hex("abc", 3, hex);
    SL_ASSERT_STR(hex, "ba7816bf8f01cfea414140de5dae2223"
                       "b00361a396177a9cb410ff61f20015ad");
    const char *two =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sl__sha256_hex(two, strlen(two), hex);
    SL_ASSERT_STR(hex, "248d6a61d20638b8e5c026930c3e6039"
                       "a33ce45964ff2167f6ecedd419db06c1");
}

// A million 'a's, fed in uneven pieces: the block boundary cases.
static void
test_million_a_in_pieces(void)
{
    static char a[1000000];
    memset(a, 'a', sizeof(a));
    sl__sha256 h;
    uint8_t digest[SL_SHA256_LEN];
    char hex[SL_SHA256_HEX_LEN + 1];
    sl__sha256_init(&h);
    size_t off = 0;
    for (size_t step = 1; off < sizeof(a); step = step % 131 + 7) {
        size_t take = sizeof(a) - off < step ? sizeof(a) - off : step;
        sl__sha256_update(&h, a + off, take);
        off += take;
    }
    sl__sha256_final(&h, digest);
    sl__sha256_to_hex(digest, hex);
    SL_ASSERT_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67"
                       "f1809a48a497200e046d39ccc7112cd0");
}

// Every length from 0 to 200 hashes the same whole as in two parts.
static void
test_split_points(void)
{
    uint8_t msg[200];
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t) (i * 7 + 3);
    }
    for (size_t len = 0; len <= sizeof(msg); len++) {
        char whole[SL_SHA256_HEX_LEN + 1], parts[SL_SHA256_HEX_LEN + 1];
        uint8_t digest[SL_SHA256_LEN];
        sl__sha256_hex(msg, len, whole);
        sl__sha256 h;
        sl__sha256_init(&h);
        sl__sha256_update(&h, msg, len / 3);
        sl__sha256_update(&h, msg + len / 3, len - len / 3);
        sl__sha256_final(&h, digest);
        sl__sha256_to_hex(digest, parts);
        SL_ASSERT_STR(parts, whole);
    }
}

static void
test_is_hex(void)
{
    char hex[SL_SHA256_HEX_LEN + 1];
    sl__sha256_hex("x", 1, hex);
    SL_ASSERT(sl__sha256_is_hex(hex));
    hex[10] = 'A';
    SL_ASSERT(!sl__sha256_is_hex(hex));
    SL_ASSERT(!sl__sha256_is_hex("abc"));
}

int
main(void)
{
    SL_RUN(test_known_vectors);
    SL_RUN(test_million_a_in_pieces);
    SL_RUN(test_split_points);
    SL_RUN(test_is_hex);
    return 0;
}
