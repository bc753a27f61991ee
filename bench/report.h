// report.h - the results of a benchmark run: one human line, one JSON
// object and one CSV row per result, and a table at the end.
// SPDX-License-Identifier: MIT
//
// A result is a value measured on starling beside the baseline measured in
// the same run, their ratio (value / baseline), and the target it is held
// to. A missed target is reported, not an error: the numbers are the point.
//
// CSV columns: timestamp, benchmark, metric, value, baseline, ratio, unit,
// settings, target, met. Settings are "key=value" pairs joined by ';'; no
// field holds a comma, so the file needs no quoting.
#ifndef SL_BENCH_REPORT_H
#define SL_BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "common/util.h"

// What a target compares, and how.
typedef enum {
    SL__BENCH_NO_TARGET = 0, // reported only
    SL__BENCH_VALUE_GE,      // value >= target
    SL__BENCH_VALUE_LE,      // value <= target
    SL__BENCH_RATIO_GE,      // value / baseline >= target
    SL__BENCH_RATIO_LE,      // value / baseline <= target
} sl__bench_goal;

typedef struct {
    const char *benchmark; // "flops"
    const char *metric;    // "gflops_n1024"
    double value;          // what starling did
    double baseline;       // the same run's baseline; NAN when none
    const char *unit;      // of value and baseline
    sl__bench_goal goal;   // what the target compares
    double target;         // the threshold
    const char *settings;  // "key=value;key=value": how it was measured
} sl__bench_result;

typedef struct sl__bench_report sl__bench_report;

// Start a report. Results are appended to the CSV file at csv_path (made,
// with its directory and a header, when missing; NULL: no CSV). With json,
// stdout gets one JSON object a line and the human lines go to stderr.
// SL_EIO when the CSV file cannot be opened; errbuf says why.
sl_err sl__bench_report_new(sl__bench_report **out, const char *csv_path,
                            bool json, char errbuf[SL_ERRSTR_LEN]);
// Finish the CSV file and free the report. Accepts NULL; sets *rep_p NULL.
void sl__bench_report_destroy(sl__bench_report **rep_p);

// Record one result: print its line (and JSON object), append its CSV row.
// The strings are copied.
void sl__bench_report_add(sl__bench_report *rep, const sl__bench_result *r);
// Where progress and human lines go: stdout, or stderr with json.
FILE *sl__bench_report_out(const sl__bench_report *rep);
// Print the table of every result so far to sl__bench_report_out.
void sl__bench_report_table(const sl__bench_report *rep);

#endif
