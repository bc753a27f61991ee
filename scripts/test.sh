#!/usr/bin/env bash
# test.sh - the whole check, as CI runs it: install what is missing, build
# with warnings as errors, run every test; with SANITIZE=1 (or in CI) also
# an AddressSanitizer/UBSan build and its tests; then the formatting.
# SPDX-License-Identifier: MIT
#
#     ./scripts/test.sh              # build/ and its tests
#     SANITIZE=1 ./scripts/test.sh   # and build-asan/
#     FUZZ=1 ./scripts/test.sh       # and the fuzz targets (CI: both)
# The tests start their own clusters and stop them by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config iproute2 libzmq3-dev libczmq-dev
    libmsgpack-dev libhiredis-dev libxxhash-dev libopenblas-dev
    libmicrohttpd-dev redis-server)

step() {
    printf '\n==> %s\n' "$*"
}

# Whether we can install packages: root, or sudo. Sets SUDO.
can_install() {
    SUDO=()
    if [ "$(id -u)" -eq 0 ]; then
        return 0
    fi
    command -v sudo >/dev/null 2>&1 && SUDO=(sudo)
}

missing_packages() {
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
            grep -q "install ok installed"; then
            printf '%s\n' "$pkg"
        fi
    done
}

# Install the packages among "$@" that dpkg does not have; apt-get update
# only when something is missing. With must=0, a failure is only a warning.
install_packages() {
    local must=$1
    shift
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "test: not a Debian system; install by hand: $*" >&2
        return 0
    fi
    local missing
    mapfile -t missing < <(missing_packages "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! can_install; then
        echo "test: need root (or sudo) to install: ${missing[*]}" >&2
        [ "$must" -eq 1 ] && exit 1
        return 1
    fi
    step "installing ${missing[*]}"
    if ! ${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get update ||
        ! ${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${missing[@]}"; then
        [ "$must" -eq 1 ] && exit 1
        return 1
    fi
}

# Configure, build and test one build directory.
build_and_test() {
    local dir=$1
    shift
    step "configure $dir ($*)"
    cmake -S . -B "$dir" "$@"
    step "build $dir"
    cmake --build "$dir" -j "$(nproc)"
    step "test $dir"
    ctest --test-dir "$dir" --output-on-failure -j2
}

tracked_sources() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -- '*.c' '*.h'
    else
        find . -path './build*' -prune -o \( -name '*.c' -o -name '*.h' \) \
            -type f -print
    fi
}

check_format() {
    if ! command -v clang-format >/dev/null 2>&1; then
        install_packages 0 clang-format || true
    fi
    if ! command -v clang-format >/dev/null 2>&1; then
        echo "test: clang-format not installed; skipping the format check" >&2
        return 0
    fi
    step "format ($(clang-format --version))"
    local files
    mapfile -t files < <(tracked_sources)
    [ "${#files[@]}" -eq 0 ] && return 0
    clang-format --dry-run --Werror "${files[@]}"
}

step "packages"
install_packages 1 "${PACKAGES[@]}"
# A real Prometheus scrapes the scheduler in http_test, which fails in CI
# without it and skips that part elsewhere. (Where systemd runs, Debian's
# package also starts its own service; the test never uses it.)
install_packages 0 prometheus ||
    echo "test: prometheus not installed: http_test skips its scrape" >&2

build_and_test build -DCMAKE_BUILD_TYPE=Release -DSTARLING_WERROR=ON

if [ "${SANITIZE:-0}" = 1 ] || [ -n "${CI:-}" ]; then
    build_and_test build-asan -DCMAKE_BUILD_TYPE=Debug -DSTARLING_WERROR=ON \
        -DSTARLING_SANITIZE=ON
fi

# Every decoder under libFuzzer (ASan + UBSan), for a bounded time each.
if [ "${FUZZ:-0}" = 1 ] || [ -n "${CI:-}" ]; then
    install_packages 1 clang libclang-rt-14-dev
    step "fuzz (${FUZZ_SECONDS:-20} s a target)"
    FUZZ_SECONDS=${FUZZ_SECONDS:-20} ./scripts/fuzz.sh
fi

check_format
step "all checks passed"
