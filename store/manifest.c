// manifest.c - chunk manifests: encode, decode and check the record under a
// chunked object's key.
// SPDX-License-Identifier: MIT
//
// Design notes.
//
// Layout. An object the store splits into chunks "<key>#<i>" keeps under
// <key> itself a 25-byte manifest:
//   0xc1 "SLCK"  u32 chunk count  u64 total bytes  u64 chunk bytes
// all little endian. 0xc1 is the one byte msgpack never uses, so no encoded
// value starts like a manifest.
//
// Agreement. A manifest decodes only when its numbers agree: n chunks of
// chunk bytes, the last one shorter, hold exactly total bytes, and none is
// 0. So the chunks a reader asks for are exactly the ones a writer wrote,
// every chunk's length is between 1 and chunk, and they add up to total;
// anything else under a key is returned as the bytes it is. How large an
// object may be is not the manifest's business: the reader checks total
// against its limit before it allocates.
#include "manifest.h"

#include <string.h>

#define S_MAGIC "\xc1SLCK"
#define S_MAGIC_LEN 5
#define S_LOC_MAGIC "\xc1SLLO"

static void
s_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
}

static void
s_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
}

static uint64_t
s_get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

// The least number of chunks of chunk bytes that hold total bytes (both
// above 0).
static uint64_t
s_chunks_for(uint64_t total, uint64_t chunk)
{
    return (total - 1) / chunk + 1;
}

sl_err
sl__manifest_plan(sl__manifest *out, uint64_t total, uint64_t chunk)
{
    if (total == 0 || chunk == 0) {
        return SL_EINVAL;
    }
    uint64_t n = s_chunks_for(total, chunk);
    if (n > UINT32_MAX) {
        return SL_ELIMIT;
    }
    *out = (sl__manifest){(uint32_t) n, total, chunk};
    return SL_OK;
}

void
sl__manifest_encode(const sl__manifest *m, uint8_t out[SL_MANIFEST_LEN])
{
    memcpy(out, S_MAGIC, S_MAGIC_LEN);
    s_le32(out + 5, m->n);
    s_le64(out + 9, m->total);
    s_le64(out + 17, m->chunk);
}

bool
sl__manifest_lookalike(const void *buf, size_t len)
{
    return len == SL_MANIFEST_LEN && memcmp(buf, S_MAGIC, S_MAGIC_LEN) == 0;
}

bool
sl__manifest_decode(const void *buf, size_t len, sl__manifest *out)
{
    const uint8_t *p = buf;
    if (!sl__manifest_lookalike(buf, len)) {
        return false;
    }
    sl__manifest m = {(uint32_t) s_get_le(p + 5, 4), s_get_le(p + 9, 8),
                      s_get_le(p + 17, 8)};
    if (m.chunk == 0 || m.n == 0 || m.total == 0 ||
        s_chunks_for(m.total, m.chunk) != m.n) {
        return false;
    }
    *out = m;
    return true;
}

size_t
sl__manifest_chunk_len(const sl__manifest *m, uint32_t i)
{
    return i + 1 < m->n ? (size_t) m->chunk
                        : (size_t) (m->total - (uint64_t) i * m->chunk);
}

// A location:
//   0xc1 "SLLO"  u64 size  u64 hash  u8 node length  node bytes
// 22 bytes and the node's name (1 to 64 bytes).
size_t
sl__location_encode(const sl__location *loc, uint8_t out[SL_LOCATION_MAX])
{
    size_t n = strnlen(loc->node, SL_LOCATION_NODE_MAX);
    memcpy(out, S_LOC_MAGIC, S_MAGIC_LEN);
    s_le64(out + 5, loc->size);
    s_le64(out + 13, loc->hash);
    out[21] = (uint8_t) n;
    memcpy(out + 22, loc->node, n);
    return 22 + n;
}

bool
sl__location_lookalike(const void *buf, size_t len)
{
    return len >= 22 && len <= SL_LOCATION_MAX &&
           memcmp(buf, S_LOC_MAGIC, S_MAGIC_LEN) == 0;
}

bool
sl__location_decode(const void *buf, size_t len, sl__location *out)
{
    const uint8_t *p = buf;
    if (!sl__location_lookalike(buf, len) || p[21] == 0 ||
        (size_t) p[21] != len - 22 || memchr(p + 22, '\0', p[21]) != NULL) {
        return false;
    }
    out->size = s_get_le(p + 5, 8);
    out->hash = s_get_le(p + 13, 8);
    memcpy(out->node, p + 22, p[21]);
    out->node[p[21]] = '\0';
    return true;
}
