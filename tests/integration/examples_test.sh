#!/usr/bin/env bash
# examples_test.sh - the example programs, each checking its own answer,
# against a real local cluster started by `starling up` in a temporary
# home: the first map, the aggregate-FLOPS map beside bare OpenBLAS, and
# the blocked matrix multiply whose tiles travel through Redis.
# SPDX-License-Identifier: MIT
#
# Run by ctest, which sets STARLING_BIN_DIR to the build directory. The
# cluster is stopped by `starling down` (by PID) in a trap.
set -euo pipefail

bin=${STARLING_BIN_DIR:?STARLING_BIN_DIR must name the build directory}
STARLING_HOME=$(mktemp -d "${TMPDIR:-/tmp}/starling-examples-test.XXXXXX")
export STARLING_HOME
export STARLING_MODULE_CACHE=$STARLING_HOME/modules
unset STARLING_SCHEDULER

cleanup() {
    local rc=$?
    "$bin/starling" down >/dev/null 2>&1 || true
    if [ "$rc" -ne 0 ]; then
        for log in "$STARLING_HOME"/*.log; do
            [ -f "$log" ] && { echo "---- $log"; tail -n 20 "$log"; }
        done >&2
    fi
    rm -rf "$STARLING_HOME"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "examples_test: FAIL: $*" >&2
    exit 1
}

# Run an example; it must exit 0 and print each of the given words.
example() {
    local name=$1
    shift
    local args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    [ $# -gt 0 ] && shift
    echo "+ $name ${args[*]}" >&2
    local out rc=0
    out=$("$bin/examples/$name" ${args[@]+"${args[@]}"} 2>&1) || rc=$?
    printf '%s\n' "$out" >&2
    [ "$rc" -eq 0 ] || fail "$name exited $rc"
    local word
    for word in "$@"; do
        grep -q -- "$word" <<<"$out" || fail "$name does not print '$word'"
    done
}

"$bin/starling" up --workers 2 --slots 1 >&2 || fail "starling up"

example first_map 100
example flops --n 128 --tasks 4 --reps 2 -- "GFLOPS" "bare:" "ratio:"
example matmul --n 384 --tile 128 -- "max relative error" "cblas:"
example cholesky --n 640 --tile 128 -- "max relative error" "lapack:"
example cholesky --n 256 --tile 256 -- "max relative error" "1x1 tiles"
