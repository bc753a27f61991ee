#!/usr/bin/env bash
# repair_test.sh - `starling up` after a crash repairs the cluster, as a
# user would meet it: a `starling map` runs in the background while a part
# of the cluster is killed with SIGKILL; `starling status` names the dead
# part and exits non-zero; `starling up` starts it again where it was; the
# map completes with every task once. In turn: the scheduler (the map says
# it is reconnecting, then that it reconnected), redis-server (what it had
# stored comes back from its append-only file), a worker, and everything
# at once (then once more with the scheduler's port taken by another
# program: `up` says so and what to do). At the end `starling down` leaves
# no process of the cluster, old or new.
# SPDX-License-Identifier: MIT
#
# Run by ctest, which sets STARLING_BIN_DIR to the build directory. Every
# process is stopped by PID ( `starling down`, and the test's own by the
# PIDs it started), whatever happens.
set -euo pipefail

bin=${STARLING_BIN_DIR:?STARLING_BIN_DIR must name the build directory}
starling="$bin/starling"
STARLING_HOME=$(mktemp -d "${TMPDIR:-/tmp}/starling-repair-test.XXXXXX")
export STARLING_HOME
# Workers started by `up` inherit this: the test never touches ~/.cache.
export STARLING_MODULE_CACHE=$STARLING_HOME/modules
unset STARLING_SCHEDULER STARLING_CLIENT_CERT STARLING_SERVER_CERT STARLING_LOG

map_pid=""      # the background map, while it runs
listener_pid="" # the program that takes a port, while it runs
seen_pids=""    # every PID the cluster has had

cleanup() {
    local rc=$?
    for pid in $map_pid $listener_pid; do
        kill "$pid" 2>/dev/null || true
    done
    "$starling" down >/dev/null 2>&1 || true
    if [ "$rc" -ne 0 ]; then
        for log in "$STARLING_HOME"/*.log "$STARLING_HOME"/map.*; do
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
    echo "repair_test: FAIL: $*" >&2
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

# A top-level number field of a one-line JSON object.
json_field() {
    sed -n "s/.*\"$2\": *\([-0-9.eE+]*\).*/\1/p" <<<"$1"
}

# A value of cluster.env.
record() {
    sed -n "s/^$1=//p" "$STARLING_HOME/cluster.env"
}

# The status line of GET path $2 from dashboard URL $1 (http://ADDR:PORT/),
# over bash's /dev/tcp.
http_status() {
    local hp=${1#http://}
    hp=${hp%/}
    exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' \
        "$2" "$hp" >&3
    head -n 1 <&3
    exec 3<&-
}

# Every PID cluster.env records, and remember them.
cluster_pids() {
    local pids
    pids=$(sed -n 's/^\(redis_pid\|scheduler_pid\|worker_pids\)=//p' \
        "$STARLING_HOME/cluster.env" | tr ',' ' ')
    seen_pids="$seen_pids $pids"
    echo "$pids"
}

# Whether a process is gone (a zombie counts as gone).
gone() {
    local state
    [ ! -e "/proc/$1" ] && return 0
    state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null || echo X)
    [ "$state" = Z ] || [ "$state" = X ]
}

# SIGKILL the given PIDs (by PID) and wait until they are gone.
kill9() {
    echo "+ kill -9 $*" >&2
    kill -9 "$@"
    for pid in "$@"; do
        for _ in $(seq 100); do
            gone "$pid" && break
            sleep 0.05
        done
        gone "$pid" || fail "pid $pid outlived SIGKILL"
    done
}

# Wait up to $2 seconds for the shell condition $1.
wait_for() {
    local i
    for i in $(seq $(($2 * 10))); do
        eval "$1" && return 0
        sleep 0.1
    done
    return 1
}

# The scheduler's count of finished tasks.
sched_done() {
    json_field "$("$starling" status --json 2>/dev/null)" "done"
}

# Start `starling map FUNC --tasks N ARGS...` in the background, its JSON
# in map.out, its stderr in map.err, its exit status in map.rc.
map_start() {
    local func=$1 n=$2
    shift 2
    rm -f "$STARLING_HOME"/map.*
    echo "+ $starling map $func --tasks $n $* --json &" >&2
    (
        set +e
        "$starling" map "$func" --tasks "$n" "$@" --json \
            >"$STARLING_HOME/map.out" 2>"$STARLING_HOME/map.err"
        echo $? >"$STARLING_HOME/map.rc"
    ) &
    map_pid=$!
}

# Wait until the scheduler has finished k more tasks than now: the map
# runs, and is not over.
map_progress() {
    local k=$1 d0
    d0=$(sched_done)
    wait_for "[ \"\$(sched_done)\" -ge $((d0 + k)) ]" 20 ||
        fail "the map made no progress"
    [ ! -e "$STARLING_HOME/map.rc" ] || fail "the map ended too soon"
}

# Wait for the background map; it must have run every one of its n tasks
# once, each OK.
map_check() {
    local n=$1 json
    wait "$map_pid" || true
    map_pid=""
    cat "$STARLING_HOME/map.err" >&2
    [ "$(cat "$STARLING_HOME/map.rc")" = 0 ] ||
        fail "the map exited $(cat "$STARLING_HOME/map.rc")"
    json=$(cat "$STARLING_HOME/map.out")
    echo "$json" >&2
    [ "$(json_field "$json" tasks)" = "$n" ] || fail "map: not $n tasks"
    [ "$(json_field "$json" ok)" = "$n" ] || fail "map: not $n ok"
    [ "$(json_field "$json" failed)" = 0 ] || fail "map: tasks failed"
}

run "$starling" up --workers 2 --slots 1
[ "$rc" -eq 0 ] || fail "starling up exited $rc"
cluster_pids >/dev/null
endpoint=$(record scheduler)
redis_addr=$(record redis)
dashboard=$(record dashboard)
[ -n "$dashboard" ] || fail "cluster.env records no dashboard"

# --- (a) The scheduler, killed in the middle of a map.
map_start sys.sleep 40 --arg ms=250
map_progress 4
old=$(record scheduler_pid)
kill9 "$old"
run "$starling" status
[ "$rc" -ne 0 ] || fail "status with a dead scheduler exited 0"
grep -q "scheduler (pid $old) is not running" <<<"$out" ||
    fail "status does not name the dead scheduler"
wait_for "grep -q 'not answering; reconnecting' '$STARLING_HOME/map.err'" 15 ||
    fail "the map does not say it is reconnecting"
run "$starling" up
[ "$rc" -eq 0 ] || fail "up after the scheduler's death exited $rc"
grep -q "repaired" <<<"$out" && grep -q "the scheduler (pid" <<<"$out" ||
    fail "up does not say it started the scheduler again"
[ "$(record scheduler)" = "$endpoint" ] ||
    fail "the scheduler moved: $(record scheduler), not $endpoint"
[ "$(record dashboard)" = "$dashboard" ] ||
    fail "the dashboard moved: $(record dashboard), not $dashboard"
http_status "$dashboard" /api/status | grep -q "^HTTP/1.1 200 " ||
    fail "the scheduler started again does not serve $dashboard"
[ "$(record scheduler_pid)" != "$old" ] || fail "cluster.env: old pid"
cluster_pids >/dev/null
map_check 40
grep -q "reconnected to the scheduler at $endpoint" "$STARLING_HOME/map.err" ||
    fail "the map does not say it reconnected"
run "$starling" status
[ "$rc" -eq 0 ] || fail "status after the repair exited $rc"

# --- (b) redis-server, killed in the middle of a map: what it stored
# before comes back from its append-only file.
password=$(cat "$STARLING_HOME/redis.pass")
have_cli=false
if command -v redis-cli >/dev/null 2>&1; then
    have_cli=true
    redis() {
        REDISCLI_AUTH=$password redis-cli -h 127.0.0.1 -p "${redis_addr##*:}" "$@"
    }
    [ "$(redis SET sl:repair-test:kept stored-before)" = OK ] ||
        fail "cannot store a value"
    sleep 1.5 # appendfsync everysec: on disk a second later
fi
map_start sys.sleep 20 --arg ms=300
map_progress 2
old=$(record redis_pid)
kill9 "$old"
run "$starling" status
[ "$rc" -ne 0 ] || fail "status with a dead redis-server exited 0"
grep -q "redis-server (pid $old) is not running" <<<"$out" ||
    fail "status does not name the dead redis-server"
grep -q "^workers " <<<"$out" || fail "status does not show the scheduler's view"
run "$starling" up
[ "$rc" -eq 0 ] || fail "up after redis-server's death exited $rc"
grep -q "redis-server (pid" <<<"$out" || fail "up does not say it started Redis"
[ "$(record redis)" = "$redis_addr" ] || fail "redis moved to $(record redis)"
[ "$(record redis_pid)" != "$old" ] || fail "cluster.env: old redis pid"
[ "$(cat "$STARLING_HOME/redis.pass")" = "$password" ] || fail "new password"
cluster_pids >/dev/null
if $have_cli; then
    [ "$(redis GET sl:repair-test:kept)" = stored-before ] ||
        fail "what Redis stored before its death is gone"
fi
map_check 20
# The store works for new jobs: arguments and results too large to travel
# inline go through it.
big=$(head -c 6000 /dev/zero | tr '\0' x)
run "$starling" map sys.echo --tasks 4 --arg "x=$big" --json
[ "$rc" -eq 0 ] && [ "$(json_field "$out" ok)" = 4 ] ||
    fail "a map through the store after Redis's restart"

# --- (c) A worker, killed in the middle of a map, replaced.
map_start sys.sleep 30 --arg ms=250
map_progress 4
old=$(record worker_pids | cut -d, -f1)
kill9 "$old"
run "$starling" status
[ "$rc" -ne 0 ] || fail "status with a dead worker exited 0"
grep -q "worker 0 (pid $old) is not running" <<<"$out" ||
    fail "status does not name the dead worker"
run "$starling" up
[ "$rc" -eq 0 ] || fail "up after a worker's death exited $rc"
grep -q "1 worker in place" <<<"$out" || fail "up does not say it replaced it"
new=$(record worker_pids | cut -d, -f1)
[ "$new" != "$old" ] && ! gone "$new" || fail "worker 0 was not replaced"
cluster_pids >/dev/null
map_check 30
# The scheduler forgets the dead worker after three heartbeats.
wait_for "[ \"\$(json_field \"\$(\"$starling\" status --json)\" workers)\" = 2 ]" 15 ||
    fail "the scheduler does not count 2 workers"
run "$starling" status
[ "$rc" -eq 0 ] || fail "status after the worker's repair exited $rc"

# --- (d) Everything killed: up starts it all again where it was.
# shellcheck disable=SC2046
kill9 $(cluster_pids)
run "$starling" status
[ "$rc" -ne 0 ] || fail "status of a dead cluster exited 0"
run "$starling" up
[ "$rc" -eq 0 ] || fail "up of a dead cluster exited $rc"
[ "$(record scheduler)" = "$endpoint" ] && [ "$(record redis)" = "$redis_addr" ] &&
    [ "$(record dashboard)" = "$dashboard" ] || fail "the cluster moved"
cluster_pids >/dev/null
run "$starling" map sys.noop --tasks 100 --json
[ "$rc" -eq 0 ] && [ "$(json_field "$out" ok)" = 100 ] ||
    fail "a map on the cluster started again"

# The same, with the scheduler's port taken meanwhile by another program:
# up says so, and what to do.
if command -v python3 >/dev/null 2>&1; then
    # shellcheck disable=SC2046
    kill9 $(cluster_pids)
    python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
time.sleep(60)' "${endpoint##*:}" &
    listener_pid=$!
    wait_for "(exec 3<>/dev/tcp/127.0.0.1/${endpoint##*:}) 2>/dev/null" 10 ||
        fail "the listener did not take port ${endpoint##*:}"
    run "$starling" up
    [ "$rc" -ne 0 ] || fail "up over a taken port exited 0"
    grep -q "port ${endpoint##*:} .*taken by another program" <<<"$out" ||
        fail "up does not say the port is taken"
    grep -q "starling down" <<<"$out" || fail "up does not say what to do"
    kill "$listener_pid"
    wait "$listener_pid" 2>/dev/null || true
    listener_pid=""
fi

# --- down: nothing of the cluster is left, old or new.
run "$starling" down
[ "$rc" -eq 0 ] || fail "down exited $rc"
[ ! -f "$STARLING_HOME/cluster.env" ] || fail "cluster.env left after down"
for pid in $seen_pids; do
    gone "$pid" || fail "pid $pid still runs after down"
done

echo "repair_test: ok" >&2
