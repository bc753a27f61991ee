#!/usr/bin/env bash
# exports_test.sh - libstarling.so exports its public API and nothing else:
# every function that include/starling/client.h and value.h declare, and
# no internal sl__ symbol (starling builds with -fvisibility=hidden and
# marks the API SL_EXPORT). starling-worker, which user modules link
# against at dlopen, exports no sl__ symbol either.
set -euo pipefail
lib=${1:?usage: exports_test.sh path/to/libstarling.so path/to/starling-worker}
worker=${2:?usage: exports_test.sh path/to/libstarling.so path/to/starling-worker}
src=${STARLING_SOURCE_DIR:?}

defined() {
    nm -D --defined-only "$1" | awk '{print $NF}' | sort -u
}

status=0
for bin in "$lib" "$worker"; do
    internal=$(defined "$bin" | grep -E '^(sl__|s_)' || true)
    if [ -n "$internal" ]; then
        echo "$(basename "$bin") exports internal symbols:" $internal >&2
        status=1
    fi
done

# Declarations only: comments mention functions too.
declared=$(cat "$src/include/starling/value.h" "$src/include/starling/client.h" |
    sed 's|//.*||' | grep -oE '\bsl_[a-z0-9_]+\(' | tr -d '(' | sort -u)
missing=$(comm -23 <(echo "$declared") <(defined "$lib"))
if [ -n "$missing" ]; then
    echo "libstarling.so does not export:" $missing >&2
    status=1
fi
stray=$(comm -13 <(echo "$declared") <(defined "$lib" | grep -E '^sl_[a-z0-9]') || true)
if [ -n "$stray" ]; then
    echo "libstarling.so exports what no public header declares:" $stray >&2
    status=1
fi
[ "$status" -eq 0 ] || exit 1
echo "libstarling.so exports the $(echo "$declared" | wc -l) functions of its API and no internal symbol"
