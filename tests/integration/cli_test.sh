#!/usr/bin/env bash
# cli_test.sh - the `starling` command end to end: keygen, up (twice, with
# CURVE keys), status, map, --help, down, up --insecure, against a real
# local cluster in a temporary home.
# SPDX-License-Identifier: MIT
#
# Run by ctest, which sets STARLING_BIN_DIR to the build directory. The
# cluster is stopped by `starling down` (by PID) in a trap, whatever
# happens.
set -euo pipefail

bin=${STARLING_BIN_DIR:?STARLING_BIN_DIR must name the build directory}
starling="$bin/starling"
STARLING_HOME=$(mktemp -d "${TMPDIR:-/tmp}/starling-cli-test.XXXXXX")
export STARLING_HOME
# Workers started by `up` inherit this: the test never touches ~/.cache.
export STARLING_MODULE_CACHE=$STARLING_HOME/modules
unset STARLING_SCHEDULER STARLING_CLIENT_CERT STARLING_SERVER_CERT

cleanup() {
    local rc=$?
    "$starling" down >/dev/null 2>&1 || true
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
    echo "cli_test: FAIL: $*" >&2
    exit 1
}

# Run a command, keeping its output (stdout and stderr) in $out and its
# exit status in $rc; never stops the script.
run() {
    echo "+ $*" >&2
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    printf '%s\n' "$out" >&2
}

# The value of a top-level number field in a one-line JSON object, after
# checking that the whole text is one valid JSON object.
json_field() {
    local json=$1 key=$2
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import json, sys
d = json.loads(sys.argv[1])
assert isinstance(d, dict)
print(d[sys.argv[2]])' "$json" "$key"
    elif command -v jq >/dev/null 2>&1; then
        jq -e -r --arg k "$key" '.[$k]' <<<"$json"
    else
        [[ $json =~ ^\{.*\}$ ]] || return 1
        sed -n "s/.*\"$key\": *\([-0-9.eE+]*\).*/\1/p" <<<"$json"
    fi
}

# Whether a process is gone (a zombie whose parent has not reaped it
# counts as gone).
gone() {
    local state
    [ ! -e "/proc/$1" ] && return 0
    state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null || echo X)
    [ "$state" = Z ] || [ "$state" = X ]
}

# Octal permission bits of a file.
mode() {
    stat -c %a "$1"
}

# GET path $2 from the HTTP server of dashboard URL $1 (http://ADDR:PORT/)
# over bash's /dev/tcp, so that no HTTP client is needed: the whole answer.
http_get() {
    local hp=${1#http://}
    hp=${hp%/}
    exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' \
        "$2" "$hp" >&3
    cat <&3
    exec 3<&-
}

# --- keygen.
keys=$STARLING_HOME/mykeys
run "$starling" keygen --out "$keys" alice
[ "$rc" -eq 0 ] || fail "keygen exited $rc"
[ -f "$keys/alice" ] && [ -f "$keys/alice_secret" ] || fail "keygen wrote no pair"
[ "$(mode "$keys/alice_secret")" = 600 ] || fail "secret not 0600"
grep -q "public-key" "$keys/alice" || fail "alice is not a certificate"
grep -q "secret-key" "$keys/alice" && fail "the public certificate has the secret"
grep -q "secret-key" "$keys/alice_secret" || fail "no secret key"
run "$starling" keygen --out "$keys" alice
[ "$rc" -ne 0 ] || fail "keygen replaced a key without --force"
grep -q "exists" <<<"$out" || fail "keygen over a key: no clear error"
run "$starling" keygen --out "$keys" --force alice
[ "$rc" -eq 0 ] || fail "keygen --force exited $rc"
run "$starling" keygen "bad/name"
[ "$rc" -eq 2 ] || fail "keygen of a bad name exited $rc, want 2"

# --- numbers in flags: a number with junk after it, or out of range, is
# refused with exit 2 and the flag's range (atoi took "2x" as 2 and "x" as
# 0), by each program.
for cmd in "$starling up --slots 2x" "$starling up --workers 0" \
    "$bin/starling-worker --scheduler tcp://127.0.0.1:1 --slots 2x" \
    "$bin/starling-worker --scheduler tcp://127.0.0.1:1 --prefetch -1" \
    "$bin/starling-scheduler --store 127.0.0.1:1 --heartbeat-ms x" \
    "$bin/starling-scheduler --store 127.0.0.1:1 --client-grace-ms ' 5'"; do
    eval run "$cmd"
    [ "$rc" -eq 2 ] || fail "$cmd exited $rc, want 2"
    grep -Eq "takes (a number from )?-?[0-9]+ to [0-9]+" <<<"$out" ||
        fail "$cmd: no range in the refusal: $out"
done

# --- up (with keys, by default), and up again.
run "$starling" up --workers 2 --slots 1
[ "$rc" -eq 0 ] || fail "starling up exited $rc"
grep -q "tcp://127.0.0.1:" <<<"$out" || fail "up does not say where it listens"
grep -q "CURVE" <<<"$out" || fail "up does not say it uses keys"
[ -f "$STARLING_HOME/cluster.env" ] || fail "no cluster.env"
for name in scheduler worker client; do
    [ "$(mode "$STARLING_HOME/keys/${name}_secret")" = 600 ] ||
        fail "keys/${name}_secret is not 0600"
done
[ -f "$STARLING_HOME/keys/allowed/client" ] || fail "client key not allowed"
[ -f "$STARLING_HOME/keys/allowed/worker" ] || fail "worker key not allowed"
[ ! -e "$STARLING_HOME/keys/allowed/scheduler" ] || fail "scheduler allowed"
grep -q "^client_cert=" "$STARLING_HOME/cluster.env" ||
    fail "cluster.env names no client certificate"
# The scheduler's HTTP server: where up says, and the record keeps.
dashboard=$(sed -n 's/^dashboard=//p' "$STARLING_HOME/cluster.env")
[[ $dashboard =~ ^http://127\.0\.0\.1:[0-9]+/$ ]] ||
    fail "cluster.env: dashboard=$dashboard"
grep -q "^  dashboard  $dashboard " <<<"$out" ||
    fail "up does not print the dashboard"
metrics=""
for _ in 1 2 3 4 5 6 7 8 9 10; do # a snapshot is at most 200 ms old
    metrics=$(http_get "$dashboard" /metrics) || fail "no answer on $dashboard"
    grep -q "^starling_workers 2" <<<"$metrics" && break
    sleep 0.2
done
head -n 1 <<<"$metrics" | grep -q "^HTTP/1.1 200 " ||
    fail "GET /metrics: $(head -n 1 <<<"$metrics")"
grep -q "^starling_workers 2" <<<"$metrics" ||
    fail "/metrics does not count 2 workers"
pids=$(sed -n 's/^\(redis_pid\|scheduler_pid\|worker_pids\)=//p' \
    "$STARLING_HOME/cluster.env" | tr ',' ' ')
[ "$(wc -w <<<"$pids")" -eq 4 ] || fail "cluster.env records pids: $pids"
for pid in $pids; do
    gone "$pid" && fail "pid $pid from cluster.env is not running"
done

run "$starling" up --workers 2 --slots 1
[ "$rc" -eq 0 ] || fail "a second up exited $rc"
grep -qi "already running" <<<"$out" || fail "second up: not 'already running'"

# --- status.
run "$starling" status --json
[ "$rc" -eq 0 ] || fail "status --json exited $rc"
slots=$(json_field "$out" slots) || fail "status --json is not one object"
[ "$slots" = 2 ] || fail "status --json: slots $slots, want 2"
workers=$(json_field "$out" workers)
[ "$workers" = 2 ] || fail "status --json: workers $workers, want 2"

run "$starling" status
[ "$rc" -eq 0 ] || fail "status exited $rc"
for word in workers slots busy queued running "done" jobs tasks/s GFLOPS \
    uptime; do
    grep -q "^$word " <<<"$out" || fail "status lacks $word"
done

# The node's object tier, which its workers report every 2 s.
for _ in 1 2 3 4 5 6 7 8 9 10; do
    run "$starling" status
    grep -q "^tier  *[A-Za-z0-9._-]*: [0-9]* objects, .* of [0-9]* MiB$" \
        <<<"$out" && break
    sleep 0.5
done
grep -q "^tier " <<<"$out" || fail "status shows no object tier: $out"

endpoint=$(sed -n 's/^scheduler=//p' "$STARLING_HOME/cluster.env")
run "$starling" status --scheduler "$endpoint" --json
[ "$rc" -eq 0 ] || fail "status --scheduler exited $rc"

# A client's keys from the environment: alice is not let in, and says so;
# once her public certificate is in the allow list, she is.
run env STARLING_CLIENT_CERT="$keys/alice_secret" \
    STARLING_SERVER_CERT="$STARLING_HOME/keys/scheduler" \
    "$starling" status --scheduler "$endpoint"
[ "$rc" -ne 0 ] || fail "a key not in the allow list got in"
grep -q "refused our CURVE key" <<<"$out" || fail "refusal not explained: $out"
grep -q "refused a client connection" "$STARLING_HOME/scheduler.log" ||
    fail "the scheduler did not log the refusal"
cp "$keys/alice" "$STARLING_HOME/keys/allowed/alice"
run env STARLING_CLIENT_CERT="$keys/alice_secret" \
    STARLING_SERVER_CERT="$STARLING_HOME/keys/scheduler" \
    "$starling" status --scheduler "$endpoint" --json
[ "$rc" -eq 0 ] || fail "alice, allowed, exited $rc"
run env STARLING_CLIENT_CERT="$keys/alice_secret" \
    "$starling" status --scheduler "$endpoint"
[ "$rc" -ne 0 ] || fail "half a key pair in the environment was accepted"
grep -q "go together" <<<"$out" || fail "half a key pair: no clear error"

# --- map.
echo "+ $starling map sys.noop --tasks 1000 --json" >&2
json=$("$starling" map sys.noop --tasks 1000 --json) ||
    fail "map sys.noop exited $?"
printf '%s\n' "$json" >&2
[ "$(wc -l <<<"$json")" -eq 1 ] || fail "map --json printed more than a line"
ok=$(json_field "$json" ok) || fail "map --json is not one object"
[ "$ok" = 1000 ] || fail "map sys.noop: ok $ok, want 1000"
for key in tasks failed retried wall_s tasks_per_s flops gflops; do
    json_field "$json" "$key" >/dev/null || fail "map --json lacks $key"
done

run "$starling" map sys.noop --tasks 10
[ "$rc" -eq 0 ] || fail "map sys.noop (text) exited $rc"
grep -q "10 ok" <<<"$out" || fail "map summary lacks '10 ok'"

run "$starling" map sys.fail --tasks 3 --arg message=boom
[ "$rc" -ne 0 ] || fail "map sys.fail exited 0"
grep -q boom <<<"$out" || fail "map sys.fail does not show the error"
grep -q "3 failed" <<<"$out" || fail "map sys.fail: not '3 failed'"

run "$starling" map no.such --tasks 1
[ "$rc" -ne 0 ] || fail "map no.such exited 0"
grep -q "no.such" <<<"$out" || fail "map no.such: no clear error"

# A module from the shell: registered, then its kernel by bare name.
if [ -n "${TESTMOD_V1:-}" ]; then
    run "$starling" map --module "$TESTMOD_V1" scale --tasks 4 \
        --arg x=2.5 --arg factor=2 --json
    [ "$rc" -eq 0 ] || fail "map --module exited $rc: $out"
    grep -q '"ok": 4' <<<"$out" || fail "map --module: not 4 ok: $out"
    run "$starling" map --module /nonexistent.so scale --tasks 1
    [ "$rc" -ne 0 ] || fail "map --module of a missing file exited 0"
    grep -q "nonexistent" <<<"$out" || fail "map --module: no clear error"
fi

run "$starling" map sys.noop
[ "$rc" -eq 2 ] || fail "map without --tasks exited $rc, want 2"
run "$starling" map sys.noop --tasks 1 --arg novalue
[ "$rc" -eq 2 ] || fail "map with a bad --arg exited $rc, want 2"
run "$starling" frobnicate
[ "$rc" -eq 2 ] || fail "an unknown command exited $rc, want 2"

# --- help and version.
for cmd in up down status map keygen; do
    run "$starling" "$cmd" --help
    [ "$rc" -eq 0 ] || fail "$cmd --help exited $rc"
    grep -q "usage: starling $cmd" <<<"$out" || fail "$cmd --help: no usage"
done
run "$starling" --help
[ "$rc" -eq 0 ] || fail "--help exited $rc"
grep -q "usage: starling" <<<"$out" || fail "--help: no usage"
run "$starling" --version
[ "$rc" -eq 0 ] || fail "--version exited $rc"
grep -Eq "^starling [0-9]+\.[0-9]+\.[0-9]+" <<<"$out" || fail "--version"

# --- down.
run "$starling" down
[ "$rc" -eq 0 ] || fail "down exited $rc"
[ ! -f "$STARLING_HOME/cluster.env" ] || fail "cluster.env left after down"
for pid in $pids; do
    gone "$pid" || fail "pid $pid still runs after down"
done
run "$starling" down
[ "$rc" -eq 0 ] || fail "a second down exited $rc"
run "$starling" status
[ "$rc" -ne 0 ] || fail "status with no cluster exited 0"

# --- up --insecure: no keys asked, loopback all the same; the keys of the
# first up are kept for the next. --cache-mb and --tier-budget-mb reach
# the workers, and the record keeps the budget (for restarts).
run "$starling" up --cache-mb nope
[ "$rc" -ne 0 ] && grep -q "cache-mb" <<<"$out" ||
    fail "up --cache-mb nope exited $rc: $out"
run "$starling" up --tier-budget-mb -1
[ "$rc" -ne 0 ] && grep -q "tier-budget-mb" <<<"$out" ||
    fail "up --tier-budget-mb -1 exited $rc: $out"
run "$starling" up --insecure --workers 1 --slots 1 --cache-mb 64 \
    --tier-budget-mb 8
[ "$rc" -eq 0 ] || fail "up --insecure exited $rc"
grep -q "insecure" <<<"$out" || fail "up --insecure does not say so"
wpid=$(sed -n 's/^worker_pids=//p' "$STARLING_HOME/cluster.env")
tr '\0' ' ' <"/proc/$wpid/cmdline" | grep -q -- "--cache-mb 64" ||
    fail "the worker was not given --cache-mb 64"
tr '\0' ' ' <"/proc/$wpid/cmdline" | grep -q -- "--tier-budget-mb 8" ||
    fail "the worker was not given --tier-budget-mb 8"
grep -q "^tier_budget_mb=8$" "$STARLING_HOME/cluster.env" ||
    fail "cluster.env does not record tier_budget_mb=8"
grep -q "^client_cert=" "$STARLING_HOME/cluster.env" &&
    fail "an insecure cluster.env names keys"
json=$("$starling" map sys.noop --tasks 100 --json) ||
    fail "map on an insecure cluster exited $?"
[ "$(json_field "$json" ok)" = 100 ] || fail "insecure map: $json"
run "$starling" down
[ "$rc" -eq 0 ] || fail "down after up --insecure exited $rc"
[ -f "$STARLING_HOME/keys/client_secret" ] || fail "down removed the keys"

echo "cli_test: ok" >&2
