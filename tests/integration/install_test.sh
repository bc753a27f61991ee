#!/usr/bin/env bash
# install_test.sh - `cmake --install` gives a usable starling: headers,
# libraries, starling.pc and find_package(starling) all work for a program
# built out of tree.
set -euo pipefail
build=${STARLING_BIN_DIR:?}
src=${STARLING_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
test -f "$prefix/include/starling/starling.h"
test -x "$prefix/bin/starling-scheduler"
test -x "$prefix/bin/starling-worker"
test -x "$prefix/bin/starling"
libdir=$(dirname "$(find "$prefix" -name starling.pc | head -n1)")/..
ls "$libdir"/libstarling.so.0* >/dev/null
ls "$libdir"/libstarling.a >/dev/null

# pkg-config
export PKG_CONFIG_PATH=$libdir/pkgconfig
flags=${SL_CONSUMER_FLAGS:-}
# shellcheck disable=SC2046,SC2086
cc -std=c11 $flags -o "$tmp/first_map_pc" "$src/examples/first_map.c" \
    $(pkg-config --cflags --libs starling)

# find_package
mkdir -p "$tmp/consumer"
cp "$src/examples/first_map.c" "$tmp/consumer/"
cat >"$tmp/consumer/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(starling REQUIRED)
add_executable(first_map first_map.c)
target_link_libraries(first_map PRIVATE starling::starling)
add_executable(first_map_static first_map.c)
target_link_libraries(first_map_static PRIVATE starling::starling_static)
CM
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" >"$tmp/cmake.log"
cmake --build "$tmp/consumer/build" >"$tmp/build.log"
test -x "$tmp/consumer/build/first_map"
test -x "$tmp/consumer/build/first_map_static"
echo "install test: headers, libraries, pkg-config and find_package work"
