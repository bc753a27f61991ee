// render.h - a snapshot as the HTTP endpoints serve it: Prometheus text
// (/metrics) and JSON (/api/status, /api/workers); and the text buffer
// and escapers they are written with.
// SPDX-License-Identifier: MIT
//
// Pure functions of a snapshot and a clock: no sockets, no locks, so the
// unit test renders without a server (tests/unit/render_test.c).
// docs/HTTP.md describes what each endpoint's text holds.
#ifndef SL_SCHEDULER_RENDER_H
#define SL_SCHEDULER_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot.h"

// A growing text. Allocation failure aborts (sl__xrealloc): the daemon's
// policy.
typedef struct {
    char *p;    // the bytes, NUL-terminated once anything was added
    size_t len; // bytes used, without the NUL
    size_t cap; // bytes allocated
} sl__text;

void sl__text_init(sl__text *t);
void sl__text_fini(sl__text *t);
void sl__text_add(sl__text *t, const char *s, size_t n);
void sl__text_adds(sl__text *t, const char *s);
void sl__text_addf(sl__text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// Hand the bytes over: the caller frees the result (never NULL) and
// *len_out says how many there are; t is empty again.
char *sl__text_take(sl__text *t, size_t *len_out);

// s (n bytes, any bytes) as a JSON string, quotes included: '"', '\' and
// control characters escaped, valid UTF-8 kept, every byte of invalid
// UTF-8 written as U+FFFD, so that the document is always valid JSON.
void sl__text_json_string(sl__text *t, const char *s, size_t n);
// s as the inside of a Prometheus label value: '\', '"' and newline
// escaped as the text format 0.0.4 asks, invalid UTF-8 as U+FFFD.
void sl__text_label_value(sl__text *t, const char *s, size_t n);
// x as a Prometheus sample value: the shortest %g that reads back as x;
// +Inf, -Inf, NaN.
void sl__text_prom_number(sl__text *t, double x);
// x as a JSON number; null when it is not finite.
void sl__text_json_number(sl__text *t, double x);

// The Content-Type of sl__render_metrics' text.
#define SL_RENDER_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

// /metrics: Prometheus text format 0.0.4. Workers that share a name are
// summed under it (a series must be unique).
void sl__render_metrics(sl__text *t, const sl__snapshot *snap);
// /api/status: the STATUS_REPLY's figures and the task counters, at
// now_ms (sl__mono_ms) for the snapshot's age.
void sl__render_status(sl__text *t, const sl__snapshot *snap, int64_t now_ms);
// /api/workers: every ready worker, by name, with how long ago (at
// now_ms) it was last heard from.
void sl__render_workers(sl__text *t, const sl__snapshot *snap, int64_t now_ms);

#endif
