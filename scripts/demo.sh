#!/usr/bin/env bash
# demo.sh - from a fresh Debian 12 to aggregate GFLOPS: install what is
# missing, build, start a local cluster, run the examples, show the
# cluster's status, stop.
# SPDX-License-Identifier: MIT
#
# Run it as root (or as a user with sudo) from anywhere:
#     ./scripts/demo.sh
# The cluster lives in $STARLING_HOME (a new temporary directory unless
# set) and is stopped by `starling down`, by PID, however the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config libzmq3-dev libczmq-dev
    libmsgpack-dev libhiredis-dev libxxhash-dev libopenblas-dev
    libmicrohttpd-dev redis-server)

step() {
    printf '\n==> %s\n' "$*"
}

# Install the packages among "$@" that dpkg does not have; apt-get update
# only when something is missing.
install_packages() {
    local missing=() pkg
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "demo: not a Debian system; install by hand: $*" >&2
        return 0
    fi
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
            grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "demo: need root (or sudo) to install: ${missing[*]}" >&2
            exit 1
        }
        sudo=(sudo)
    fi
    step "installing ${missing[*]}"
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
}

made_home=
cleanup() {
    local rc=$?
    if [ -n "${STARLING_HOME:-}" ] && [ -x build/starling ]; then
        build/starling down || true
    fi
    if [ -n "$made_home" ] && [ "$rc" -eq 0 ]; then
        rm -rf "$STARLING_HOME"
    elif [ -n "$made_home" ]; then
        echo "demo: failed; the logs are in $STARLING_HOME" >&2
    fi
    exit "$rc"
}

step "packages"
install_packages "${PACKAGES[@]}"

step "build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"

if [ -z "${STARLING_HOME:-}" ]; then
    STARLING_HOME=$(mktemp -d "${TMPDIR:-/tmp}/starling-demo.XXXXXX")
    made_home=1
fi
export STARLING_HOME
unset STARLING_SCHEDULER
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "starling up (home $STARLING_HOME)"
build/starling up

step "examples/flops: aggregate GFLOPS of a GEMM on every slot"
build/examples/flops

step "examples/matmul: a blocked matrix product, checked"
build/examples/matmul

step "starling status"
build/starling status

step "done; stopping the cluster"
