#!/usr/bin/env bash
# worker_exports_test.sh - starling-worker exports every function that
# include/starling/value.h and kernel.h declare: a user module calls them,
# and dlopen (RTLD_NOW) refuses a module whose symbols do not resolve.
set -euo pipefail
worker=${1:?usage: worker_exports_test.sh path/to/starling-worker}
src=${STARLING_SOURCE_DIR:?}
exported=$(nm -D --defined-only "$worker" | awk '{print $NF}' | sort -u)
# Declarations only: comments mention functions too.
declared=$(cat "$src/include/starling/value.h" "$src/include/starling/kernel.h" |
    sed 's|//.*||' | grep -oE '\bsl_[a-z0-9_]+\(' | tr -d '(' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [ -n "$missing" ]; then
    echo "starling-worker does not export:" $missing >&2
    exit 1
fi
echo "worker exports all $(echo "$declared" | wc -l) functions of the kernel ABI"
