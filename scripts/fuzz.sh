#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets with clang in build-fuzz/ and run
# each for FUZZ_SECONDS (default 30) on its corpus, as ctests labelled fuzz.
# SPDX-License-Identifier: MIT
#
# Usage: scripts/fuzz.sh [ctest arguments...]
#   FUZZ_SECONDS=180 scripts/fuzz.sh -R msg_fuzz
# Only the fuzz targets are built, so the rest of the project need not
# build with clang. A crash leaves its input in
# build-fuzz/tests/fuzz/<target>.run/crash-*; reproduce it with
# build-fuzz/tests/fuzz/<target> <that file>.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
targets="value_fuzz msg_fuzz mp_fuzz ndarray_fuzz module_fuzz manifest_fuzz"
targets="$targets frame_fuzz tier_fuzz make_seeds"

CC=clang cmake -S "$root" -B "$build" -DSTARLING_FUZZ=ON \
    -DSTARLING_FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
# shellcheck disable=SC2086 # one argument per target
cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target $targets
cd "$build"
ctest -L fuzz --output-on-failure "$@"
