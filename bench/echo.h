// echo.h - the latency baselines: a bare ZeroMQ REQ/REP round trip and a
// raw TCP ping-pong over loopback, each against an echo server in a
// process of its own (`starling-bench --helper zmq-echo|tcp-echo PORT`).
// SPDX-License-Identifier: MIT
#ifndef SL_BENCH_ECHO_H
#define SL_BENCH_ECHO_H

#include <stddef.h>

#include "bench.h"

// Start the echo server of kind ("zmq-echo" or "tcp-echo") on a free port
// of 127.0.0.1, send warmup messages of len bytes, then time n round trips
// into seconds[0..n-1]; stop the server. On error errbuf says why.
sl_err sl__bench_echo_round_trips(const sl__bench_ctx *ctx, const char *kind,
                                  size_t len, int warmup, double *seconds,
                                  int n, char errbuf[SL_ERRSTR_LEN]);

#endif
