#!/usr/bin/env bash
# module_install_test.sh - a kernel module builds out of tree against an
# installed starling, with the module's own CMakeLists.txt
# (find_package(starling), starling::kernel) and with pkg-config alone, and
# links nothing of starling's: the worker provides every symbol.
set -euo pipefail
build=${STARLING_BIN_DIR:?}
src=${STARLING_SOURCE_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
pcdir=$(dirname "$(find "$prefix" -name starling.pc | head -n1)")

# The example's own CMakeLists.txt, copied out of the tree.
cp -r "$src/examples/module" "$tmp/sim"
cmake -S "$tmp/sim" -B "$tmp/sim/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" >"$tmp/cmake.log"
cmake --build "$tmp/sim/build" >"$tmp/build.log"
so=$tmp/sim/build/libsim.so
test -f "$so"

# pkg-config: the header path is all a module needs.
PKG_CONFIG_PATH=$pcdir cc -std=c11 -Wall -Wextra -Werror -shared -fPIC \
    -fvisibility=hidden $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags starling) \
    -o "$tmp/libsim_pc.so" "$src/examples/module/sim.c"

for lib in "$so" "$tmp/libsim_pc.so"; do
    # It exports its registration symbol and nothing else of its own...
    exported=$(nm -D --defined-only "$lib" | awk '{print $NF}')
    test "$exported" = starling_module || {
        echo "$lib exports: $exported" >&2
        exit 1
    }
    # ...needs no libstarling, and leaves the ABI to the worker.
    if readelf -d "$lib" | grep -q 'libstarling'; then
        echo "$lib links libstarling" >&2
        exit 1
    fi
    nm -D --undefined-only "$lib" | grep -q sl_task_set_result
done
echo "module install test: the example module builds out of tree (CMake and pkg-config)"
