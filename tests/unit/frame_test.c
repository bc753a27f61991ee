// frame_test.c - the frames between a worker and its executors, without
// processes: lengths, frames over a socketpair of this process (whole,
// cut short, over the limit), and the init frame, also from garbage.
// SPDX-License-Identifier: MIT
#include "../worker/frame.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

// A connected pair: [0] the reader's end, [1] the writer's.
static void
s_pair(int sv[2])
{
    SL_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
}

static void
s_write(int fd, const void *buf, size_t len)
{
    SL_ASSERT(write(fd, buf, len) == (ssize_t) len);
}

static void
test_frame_length(void)
{
    uint8_t hdr[SL_FRAME_HEADER];
    size_t len = 0;
    sl__frame_header(hdr, 0x01020304);
    SL_ASSERT_EQ(hdr[0], 0x04); // little-endian
    SL_ASSERT_EQ(hdr[3], 0x01);
    SL_PASS(sl__frame_length(hdr, 0x01020304, &len));
    SL_ASSERT_EQ(len, 0x01020304);
    SL_FAILS(sl__frame_length(hdr, 0x01020303, &len), SL_ELIMIT);
    sl__frame_header(hdr, 0);
    SL_PASS(sl__frame_length(hdr, 0, &len));
    SL_ASSERT_EQ(len, 0);
}

// Frames of several sizes, the empty one included, arrive as sent and in
// order; the buffer is reused.
static void
test_frame_round_trip(void)
{
    int sv[2];
    s_pair(sv);
    static const size_t sizes[] = {5, 0, 4000, 1, 300};
    uint8_t buf[4000];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t) (i * 7 + 1);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        SL_PASS(sl__frame_send(sv[1], buf, sizes[i]));
    }
    sl__frame f = {0};
    bool eof = true;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        SL_PASS(sl__frame_recv(sv[0], &f, sizeof(buf), 1000, &eof));
        SL_ASSERT(!eof);
        SL_ASSERT_EQ(f.len, sizes[i]);
        SL_ASSERT(f.len == 0 || memcmp(f.data, buf, f.len) == 0);
    }
    SL_ASSERT_EQ(f.cap, 4000);
    // The writer closes at a frame boundary: EOF, told apart.
    close(sv[1]);
    SL_FAILS(sl__frame_recv(sv[0], &f, sizeof(buf), 1000, &eof), SL_EIO);
    SL_ASSERT(eof);
    sl__frame_fini(&f);
    SL_ASSERT(f.data == NULL);
    close(sv[0]);
}

// A frame cut short, in its header or in its payload, is an error and no
// shorter frame; so is a header that does not come in time.
static void
test_frame_truncated(void)
{
    int sv[2];
    sl__frame f = {0};
    bool eof = true;
    s_pair(sv);
    s_write(sv[1], "\x0a\x00", 2); // half a header
    close(sv[1]);
    SL_FAILS(sl__frame_recv(sv[0], &f, 100, 1000, &eof), SL_EIO);
    SL_ASSERT(!eof);
    close(sv[0]);

    s_pair(sv);
    s_write(sv[1],
            "\x0a\x00\x00\x00"
            "abc",
            7); // 3 bytes of 10
    close(sv[1]);
    SL_FAILS(sl__frame_recv(sv[0], &f, 100, 1000, &eof), SL_EIO);
    SL_ASSERT(!eof);
    close(sv[0]);

    s_pair(sv); // nothing at all, the writer still there
    SL_FAILS(sl__frame_recv(sv[0], &f, 100, 50, &eof), SL_EIO);
    SL_ASSERT(!eof);
    close(sv[0]);
    close(sv[1]);
    sl__frame_fini(&f);
}

// A length over the reader's limit is refused before anything is
// allocated for it, however many bytes follow.
static void
test_frame_oversized(void)
{
    int sv[2];
    sl__frame f = {0};
    bool eof = true;
    s_pair(sv);
    s_write(sv[1],
            "\xff\xff\xff\xff"
            "abcd",
            8);
    SL_FAILS(sl__frame_recv(sv[0], &f, 1 << 20, 1000, &eof), SL_EIO);
    SL_ASSERT(!eof);
    SL_ASSERT(f.data == NULL);
    SL_ASSERT_EQ(f.cap, 0);
    close(sv[0]);
    close(sv[1]);

    s_pair(sv); // one byte over
    SL_PASS(sl__frame_send(sv[1], "0123456789", 10));
    SL_FAILS(sl__frame_recv(sv[0], &f, 9, 1000, &eof), SL_EIO);
    SL_ASSERT(f.data == NULL);
    close(sv[0]);
    close(sv[1]);
}

// A peer that is gone: sending fails (and raises no SIGPIPE).
static void
test_frame_send_closed(void)
{
    int sv[2];
    s_pair(sv);
    close(sv[0]);
    SL_FAILS(sl__frame_send(sv[1], "x", 1), SL_EIO);
    close(sv[1]);
}

static void
test_init_round_trip(void)
{
    sl__store_opts store = {0};
    store.addrs[0] = "127.0.0.1:6379";
    store.addrs[1] = "10.0.0.2:6380";
    store.n_addrs = 2;
    store.password = "secret";
    sl__mpw w;
    sl__mpw_init(&w);
    sl__frame_init_encode(&w, &store, 4096);
    sl__frame_init init;
    SL_PASS(sl__frame_init_decode(w.buf.data, w.buf.size, &init));
    SL_ASSERT_EQ(init.store.n_addrs, 2);
    SL_ASSERT_STR(init.store.addrs[0], "127.0.0.1:6379");
    SL_ASSERT_STR(init.store.addrs[1], "10.0.0.2:6380");
    SL_ASSERT_STR(init.store.password, "secret");
    SL_ASSERT(init.store.addrs[1] == init.addrs[1]); // its own strings
    SL_ASSERT_EQ(init.inline_max, 4096);

    // No password: an empty one.
    store.password = NULL;
    store.n_addrs = 1;
    sl__mpw_reset(&w);
    sl__frame_init_encode(&w, &store, 7);
    SL_PASS(sl__frame_init_decode(w.buf.data, w.buf.size, &init));
    SL_ASSERT_STR(init.store.password, "");
    SL_ASSERT_EQ(init.store.n_addrs, 1);

    // Every prefix is refused (one byte short is a broken message).
    for (size_t n = 0; n < w.buf.size; n++) {
        SL_FAILS(sl__frame_init_decode(w.buf.data, n, &init), SL_EPROTO);
    }
    sl__mpw_fini(&w);
}

// Bytes that are no init frame are refused, whatever they hold.
static void
test_init_garbage(void)
{
    sl__frame_init init;
    uint8_t buf[64];
    unsigned seed = 12;
    SL_FAILS(sl__frame_init_decode("", 0, &init), SL_EPROTO);
    memset(buf, 0xc1, sizeof(buf)); // the byte msgpack never uses
    SL_FAILS(sl__frame_init_decode(buf, sizeof(buf), &init), SL_EPROTO);
    for (int round = 0; round < 10000; round++) {
        size_t n = (size_t) rand_r(&seed) % sizeof(buf);
        for (size_t i = 0; i < n; i++) {
            buf[i] = (uint8_t) rand_r(&seed);
        }
        if (sl__frame_init_decode(buf, n, &init) == SL_OK) {
            SL_ASSERT(init.store.n_addrs <= SL_STORE_MAX_SHARDS);
        }
    }
}

int
main(void)
{
    signal(SIGPIPE, SIG_DFL); // sl__frame_send must not raise it
    SL_RUN(test_frame_length);
    SL_RUN(test_frame_round_trip);
    SL_RUN(test_frame_truncated);
    SL_RUN(test_frame_oversized);
    SL_RUN(test_frame_send_closed);
    SL_RUN(test_init_round_trip);
    SL_RUN(test_init_garbage);
    return 0;
}
