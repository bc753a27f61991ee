#!/usr/bin/env bash
# netns_test.sh - several nodes on one machine, in network namespaces:
# Redis and the scheduler on node n0, workers on n1, n2 and n3 over TCP. In
# the middle of a job, n1's link is cut (and later restored) and every
# worker of n2 is killed: the job must still end with every task OK and
# its right value, and n1's workers must rejoin when the link returns.
# Before that, an object crosses nodes: a client on n1 puts a large vector
# (into n1's object tier) and maps jobs over it whose tasks on n2 and n3
# get it through n1's want list.
# SPDX-License-Identifier: MIT
#
# The network, all of it inside namespaces this script creates (the host's
# own interfaces and routes are never touched):
#
#   slh<pid>-hub   a bridge br0, with one port p<i> per node
#   slh<pid>-n<i>  eth0 = 10.77.0.<i+1>/24, the other end of p<i>; lo up
#
# Every process authenticates with CURVE keys made by `starling keygen`.
#
# The nodes' object tiers are directories of one tmpfs (/dev/shm is not
# per namespace), kept apart by node name: the workers of n<i> are named
# n<i>/<k>, so their node is n<i>, and a client says which node it is on
# with STARLING_NODE. The tiers live in a directory of this test's own
# ($STARLING_TIER_DIR), removed by the trap.
#
# n1's link is cut at the hub, one of two ways ($NETNS_CUT):
#
#   link       (default) p1 is set down, as if n1's cable were pulled: n1's
#              eth0 loses its carrier, so its kernel knows the link is down
#              (its processes see no error, only silence)
#   partition  p1 stays up but the bridge stops forwarding on it (port
#              state disabled), as when a switch or uplink fails: the
#              carrier stays up and nothing on either side can tell; TCP
#              backs off its retransmissions while the cut lasts, so the
#              worker drops its silent connection and dials again
#
# NETNS_CUT_S sets how long the cut lasts (default 4 s).
#
# Needs root and `ip netns` (iproute2, installed with apt-get if missing):
# without them the test exits 77, which ctest reports as skipped. Run by
# ctest, which sets STARLING_BIN_DIR to the build directory, NETNS_CLIENT
# to the test's client program and TESTMOD_V1 to the test module. The
# trap stops every process by PID and deletes the namespaces, whatever
# happens.
set -euo pipefail

bin=${STARLING_BIN_DIR:?STARLING_BIN_DIR must name the build directory}
client=${NETNS_CLIENT:-$bin/tests/netns_client}
module=${TESTMOD_V1:-$bin/tests/libtestmod_v1.so}

tasks=1000        # the job: tasks of testmod's delay kernel ...
task_ms=50        # ... each sleeping this long, on 12 slots at first
heartbeat_ms=300  # a worker silent for 3 heartbeats is lost
cut_s=${NETNS_CUT_S:-4} # how long n1's link stays down
cut=${NETNS_CUT:-link}
workers_per_node=2
slots=2

pfx=slh$$         # namespace names: unique per run
hub=$pfx-hub
subnet=10.77.0
sched_ip=$subnet.1
clients_ep=tcp://$sched_ip:7170
workers_ep=tcp://$sched_ip:7171

case $cut in
link) cut_what="cable pulled: n1 lost its carrier" ;;
partition) cut_what="partition: the carrier stayed up" ;;
*)
    echo "netns_test: NETNS_CUT is 'link' or 'partition', not '$cut'" >&2
    exit 2
    ;;
esac

tmp=""
tiers=""      # $STARLING_TIER_DIR, removed by the trap
namespaces=() # created, deleted by the trap
pids=()       # started, stopped by the trap

skip() {
    echo "netns_test: SKIP: $*" >&2
    exit 77
}

fail() {
    echo "netns_test: FAIL: $*" >&2
    exit 1
}

# Whether a process is gone (a zombie counts as gone).
gone() {
    local state
    [ ! -e "/proc/$1" ] && return 0
    state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null || echo X)
    [ "$state" = Z ] || [ "$state" = X ]
}

# Whether pid $1 runs and is still our child: a PID that was reaped and
# recycled for someone else's process is never signalled.
mine() {
    local ppid
    gone "$1" && return 1
    ppid=$(sed 's/.*) . \([0-9]*\) .*/\1/' "/proc/$1/stat" 2>/dev/null) ||
        return 1
    [ "$ppid" = "$$" ]
}

# Stop those of the given PIDs that are still ours: SIGTERM, up to 3 s,
# then SIGKILL.
stop_pids() {
    local pid i alive
    for pid in "$@"; do
        if mine "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
    done
    for ((i = 0; i < 30; i++)); do
        alive=0
        for pid in "$@"; do
            mine "$pid" && alive=1
        done
        [ "$alive" -eq 0 ] && return 0
        sleep 0.1
    done
    for pid in "$@"; do
        if mine "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    return 0
}

cleanup() {
    local rc=$? ns pid left
    trap - EXIT INT TERM
    [ "${#pids[@]}" -gt 0 ] && stop_pids "${pids[@]}"
    # Whatever still runs inside our namespaces (an executor whose worker
    # was killed, say) is ours: stop it by PID before deleting them, or it
    # would keep the namespace alive.
    for ns in ${namespaces[@]+"${namespaces[@]}"}; do
        left=$(ip netns pids "$ns" 2>/dev/null || true)
        for pid in $left; do
            kill -KILL "$pid" 2>/dev/null || true
        done
    done
    for ns in ${namespaces[@]+"${namespaces[@]}"}; do
        ip netns del "$ns" 2>/dev/null ||
            echo "netns_test: cannot delete $ns" >&2
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "$tmp" ]; then
        for log in "$tmp"/*.log; do
            [ -f "$log" ] && { echo "---- $log"; tail -n 25 "$log"; }
        done >&2
    fi
    [ -n "$tmp" ] && rm -rf "$tmp"
    [ -n "$tiers" ] && rm -rf "$tiers"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Seconds from $1 to $2 (both $EPOCHREALTIME), two decimals.
elapsed() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'
}

# The value of a top-level number field of a one-line JSON object (both
# the client's summary and `starling status --json` are flat objects of
# numbers); fails when the field is missing.
json_field() {
    local v
    v=$(sed -n "s/.*\"$2\": *\([-0-9.eE+]*\).*/\1/p" <<<"$1")
    [ -n "$v" ] && echo "$v"
}

# The same for a string field (with no quote or backslash in it).
json_str() {
    sed -n "s/.*\"$2\": *\"\([^\"]*\)\".*/\1/p" <<<"$1"
}

# Run a command inside node $1's namespace.
on() {
    local ns=$pfx-$1
    shift
    ip netns exec "$ns" "$@"
}

# Start a daemon inside node $1's namespace, its output in $tmp/$2.log;
# its PID is left in $started. ip netns exec execs the program itself, so
# that PID is the program's (and the script's child). Disowned, so that
# bash does not report the daemons this test kills; bash still reaps them.
start_on() {
    local node=$1 log=$2
    shift 2
    ip netns exec "$pfx-$node" "$@" >"$tmp/$log.log" 2>&1 &
    started=$!
    disown "$started"
    pids+=("$started")
}

# The scheduler's view, from n0: one JSON object.
status_json() {
    on n0 "$bin/starling" status --scheduler "$clients_ep" --json 2>/dev/null
}

# Wait up to $2 seconds until the scheduler counts $1 workers. Returns 1
# on timeout.
wait_workers() {
    local want=$1 deadline=$((SECONDS + $2)) json
    while [ "$SECONDS" -le "$deadline" ]; do
        json=$(status_json) || json=""
        if [ -n "$json" ] && [ "$(json_field "$json" workers)" = "$want" ]; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# Cut n1's link at the hub, or restore it, as $cut says.
cut_n1() {
    if [ "$cut" = link ]; then
        ip -n "$hub" link set p1 down
    else
        # (`ip link set ... type bridge_slave state 0` is silently ignored
        # by iproute2 6.1: use bridge(8), and check.)
        ip netns exec "$hub" bridge link set dev p1 state 0 # disabled
        ip netns exec "$hub" bridge link show dev p1 |
            grep -q "state disabled" || fail "the bridge still forwards on p1"
    fi
}
restore_n1() {
    if [ "$cut" = link ]; then
        ip -n "$hub" link set p1 up
    else
        ip netns exec "$hub" bridge link set dev p1 state 3 # forwarding
    fi
}

# Wait up to $4 seconds until host $2 port $3 accepts a TCP connection,
# tried from node $1.
wait_tcp() {
    local deadline=$((SECONDS + $4))
    until on "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; do
        [ "$SECONDS" -le "$deadline" ] || return 1
        sleep 0.05
    done
}

# ---------------------------------------------------------------------
# Can this machine run the test at all?

[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
if ! command -v ip >/dev/null 2>&1; then
    echo "netns_test: no ip command: installing iproute2" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -q iproute2 || { apt-get update -q &&
        apt-get install -y -q iproute2; }; } >&2 ||
        skip "no ip command, and iproute2 could not be installed"
    command -v ip >/dev/null 2>&1 ||
        skip "no ip command after installing iproute2"
fi
for prog in "$bin/starling-scheduler" "$bin/starling-worker" \
    "$bin/starling" "$client"; do
    [ -x "$prog" ] || fail "$prog is not built"
done
[ -f "$module" ] || fail "no test module at $module"
command -v redis-server >/dev/null 2>&1 || fail "no redis-server in PATH"

# The hub and its bridge double as the probe: a kernel or container that
# allows no namespaces (or no ip netns exec), bridges or veth pairs skips
# the test.
ip netns add "$hub" 2>/dev/null ||
    skip "ip netns add failed: no network namespaces here"
namespaces+=("$hub")
ip netns exec "$hub" true 2>/dev/null ||
    skip "ip netns exec failed (a container that may not mount /sys?)"
ip -n "$hub" link add br0 type bridge 2>/dev/null ||
    skip "cannot create a bridge inside a namespace"
ip -n "$hub" link add probe0 type veth peer name probe1 2>/dev/null ||
    skip "cannot create a veth pair inside a namespace"
ip -n "$hub" link del probe0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/starling-netns-test.XXXXXX")
tiers=$(mktemp -d /dev/shm/starling-netns-test.XXXXXX)
export STARLING_TIER_DIR=$tiers

# ---------------------------------------------------------------------
# The network: four nodes on one bridge.

ip -n "$hub" link set lo up
ip -n "$hub" link set br0 up
for i in 0 1 2 3; do
    ns=$pfx-n$i
    ip netns add "$ns"
    namespaces+=("$ns")
    ip -n "$ns" link set lo up
    # The veth pair is made in the hub and one end moved into the node:
    # neither end ever exists in the host's namespace.
    ip -n "$hub" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$hub" link set "p$i" master br0 up
    ip -n "$ns" addr add "$subnet.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
done

# ---------------------------------------------------------------------
# n0: Redis (password, bound to n0's address only) and the scheduler.

password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
mkdir -m 0700 "$tmp/redis"
cat >"$tmp/redis/redis.conf" <<EOF
bind $sched_ip
port 6379
protected-mode yes
requirepass $password
daemonize no
dir $tmp/redis
save ""
appendonly no
EOF
printf '%s\n' "$password" >"$tmp/redis.password"
chmod 0600 "$tmp/redis/redis.conf" "$tmp/redis.password"
start_on n0 redis redis-server "$tmp/redis/redis.conf"
wait_tcp n0 "$sched_ip" 6379 10 || fail "redis-server does not listen"

# CURVE keys, as across real nodes: the scheduler lets in the workers' and
# the client's public keys only (it refuses to serve 10.77.0.1 without).
keys=$tmp/keys
mkdir -p "$keys/allowed"
chmod 0700 "$keys" "$keys/allowed"
for who in scheduler worker client; do
    "$bin/starling" keygen --out "$keys" "$who" >/dev/null
done
cp "$keys/worker" "$keys/client" "$keys/allowed/"
export STARLING_CLIENT_CERT=$keys/client_secret
export STARLING_SERVER_CERT=$keys/scheduler

start_on n0 scheduler "$bin/starling-scheduler" --clients "$clients_ep" \
    --workers "$workers_ep" --store "$sched_ip:6379" \
    --store-password-file "$tmp/redis.password" --heartbeat-ms "$heartbeat_ms" \
    --cert "$keys/scheduler_secret" --allow "$keys/allowed"
wait_tcp n0 "$sched_ip" 7170 10 || fail "the scheduler does not listen"
# Across the bridge: n3 reaches n0 (else nothing below can work).
wait_tcp n3 "$sched_ip" 7171 10 || fail "n3 cannot reach the scheduler on n0"

# ---------------------------------------------------------------------
# n1, n2, n3: workers, each node with its own module cache.

declare -A node_pids
for i in 1 2 3; do
    node_pids[$i]=""
    for ((k = 0; k < workers_per_node; k++)); do
        start_on "n$i" "worker-n$i-$k" "$bin/starling-worker" \
            --scheduler "$workers_ep" --slots "$slots" --name "n$i/$k" \
            --module-cache "$tmp/modules-n$i" \
            --cert "$keys/worker_secret" --server-cert "$keys/scheduler"
        node_pids[$i]+="$started "
    done
done
all_workers=$((3 * workers_per_node))
wait_workers "$all_workers" 20 ||
    fail "the scheduler does not count $all_workers workers"
echo "netns_test: $all_workers workers on n1..n3 ready" >&2

# ---------------------------------------------------------------------
# An object that crosses nodes. A client on n1 (STARLING_NODE=n1, the node
# of n1's workers) puts a vector, which stays in n1's tier (Redis holds
# only where it is), and maps two jobs over it on every node's slots:
# vsum_who (its sum, and which worker ran the task) and delay (the vector
# back: results as large, in the tier of n1 for the tasks that ran there,
# in Redis for the others). A task on n2 or n3 asks n1 for the vector on
# n1's want list; one of n1's workers copies it into Redis; the task
# fetches it and keeps a copy in its own node's tier.

cross_tasks=36
cross_kib=4096
t_cross=$EPOCHREALTIME
cross=$(on n1 env STARLING_NODE=n1 "$client" --scheduler "$clients_ep" \
    --module "$module" --tasks "$cross_tasks" --ms 100 \
    --cross "$cross_kib" 2>>"$tmp/cross.log") ||
    fail "the cross-node jobs failed: $cross"
t_crossed=$EPOCHREALTIME
echo "netns_test: cross-node jobs: $cross" >&2
[ "$(json_field "$cross" ok)" = $((2 * cross_tasks)) ] &&
    [ "$(json_field "$cross" wrong)" = 0 ] ||
    fail "cross-node jobs: $cross"
cross_key=$(json_str "$cross" key)
cross_workers=" $(json_str "$cross" workers) "
cross_tiers=" $(json_str "$cross" tiers) "
[ -n "$cross_key" ] || fail "cross-node jobs: no key in $cross"
[[ $cross_tiers == *" n1 "* ]] ||
    fail "n1's tier did not hold the vector $cross_key"
cross_nodes=""
for i in 1 2 3; do
    for pid in ${node_pids[$i]}; do
        if [[ $cross_workers == *" $pid "* ]]; then
            cross_nodes+="n$i "
            break
        fi
    done
done
[[ $cross_nodes == *n2* || $cross_nodes == *n3* ]] ||
    fail "every vsum_who task ran on n1 (workers$cross_workers)"
for node in $cross_nodes; do
    [[ $cross_tiers == *" $node "* ]] ||
        fail "$node ran tasks but its tier had no copy"
done
[ "$(json_field "$cross" copied)" -gt 0 ] ||
    fail "no task copied the vector: none crossed ($cross)"

# ---------------------------------------------------------------------
# The job, and what happens to the network in the middle of it.

ip netns exec "$pfx-n0" env STARLING_NODE=n0 "$client" \
    --scheduler "$clients_ep" --module "$module" --tasks "$tasks" \
    --ms "$task_ms" \
    >"$tmp/client.out" 2>"$tmp/client.log" &
client_pid=$!
pids+=("$client_pid")
t_start=$EPOCHREALTIME

# Mid-flight: a fifth of the tasks done.
deadline=$((SECONDS + 30))
done_at_cut=0
while :; do
    gone "$client_pid" && fail "the job ended before the link was cut"
    [ "$SECONDS" -le "$deadline" ] || fail "the job does not progress"
    json=$(status_json) || json=""
    if [ -n "$json" ]; then
        done_at_cut=$(json_field "$json" "done")
        [ "$done_at_cut" -ge $((tasks / 5)) ] && break
    fi
    sleep 0.05
done

# Cut n1's link at the hub, then kill every worker of n2 (SIGKILL: no
# BYE). The executors of n2's workers are listed first: they must die
# with their workers.
read -ra n2_workers <<<"${node_pids[2]}"
read -ra n3_workers <<<"${node_pids[3]}"
t_cut=$EPOCHREALTIME
cut_n1
n2_executors=()
for pid in "${n2_workers[@]}"; do
    for children in /proc/"$pid"/task/*/children; do
        read -ra kids <"$children" || true # no newline at the end
        n2_executors+=(${kids[@]+"${kids[@]}"})
    done
done
for pid in "${n2_workers[@]}"; do
    mine "$pid" || fail "n2's worker $pid died before it was killed"
    kill -KILL "$pid"
done
echo "netns_test: cut n1's link; SIGKILLed n2's workers" \
    "(pids ${n2_workers[*]}; executors ${n2_executors[*]})" >&2

# The scheduler must notice both losses: only n3's workers are left.
wait_workers "$workers_per_node" 10 ||
    fail "the scheduler still counts n1's or n2's workers after 10 s"
t_lost=$EPOCHREALTIME
for pid in "${n2_workers[@]}" "${n2_executors[@]}"; do
    gone "$pid" || fail "pid $pid of n2 outlived the SIGKILL of its worker"
done

# Keep the link down for cut_s in all, then restore it.
sleep "$(awk -v c="$cut_s" -v a="$t_cut" -v b="$EPOCHREALTIME" \
    'BEGIN { s = c - (b - a); printf "%.3f", (s > 0 ? s : 0) }')"
restore_n1
t_restore=$EPOCHREALTIME
echo "netns_test: restored n1's link" >&2

# n1's workers rejoin: n1 and n3 counted again.
wait_workers $((2 * workers_per_node)) 30 ||
    fail "n1's workers did not rejoin within 30 s of the link's return"
t_rejoin=$EPOCHREALTIME

# The job ends, every task OK with its own value.
rc=0
wait "$client_pid" || rc=$?
summary=$(cat "$tmp/client.out")
echo "netns_test: job: $summary" >&2
[ "$rc" -eq 0 ] || fail "the client exited $rc: $(cat "$tmp/client.log")"
ok=$(json_field "$summary" ok)
wrong=$(json_field "$summary" wrong)
failed=$(json_field "$summary" failed)
retried=$(json_field "$summary" retried)
[ "$ok" = "$tasks" ] || fail "ok $ok, want $tasks"
[ "$wrong" = 0 ] || fail "$wrong tasks with a wrong value"
[ "$failed" = 0 ] || fail "$failed tasks failed"
[ "$retried" -gt 0 ] || fail "no task was retried: the faults missed the job"

# The scheduler's log: n1's workers were lost and became ready again.
sched_log=$tmp/scheduler.log
# The same processes: each of n1's workers was ready twice.
read -ra n1_workers <<<"${node_pids[1]}"
for pid in "${n1_workers[@]}"; do
    n=$(grep -cE "worker n1/[0-9]+ \(pid $pid\) ready" "$sched_log" || true)
    [ "$n" -ge 2 ] ||
        fail "the scheduler logged $n READY of n1's worker $pid, want 2"
done
requeued() {
    { grep -E "worker $1/[0-9]+ \(pid [0-9]*\) (went silent|disconnected): re-queueing" \
        "$sched_log" || true; } |
        sed 's/.*re-queueing \([0-9]*\) task.*/\1/' |
        awk '{ n++; s += $1 } END { printf "%d worker%s, %d tasks", n,
            n == 1 ? "" : "s", s }'
}
lost_n1=$(requeued n1)
lost_n2=$(requeued n2)

# The rejoined workers serve: with n3's workers stopped, a second job
# runs on n1 alone, with its results checked (big ones through Redis).
stop_pids "${n3_workers[@]}"
wait_workers "$workers_per_node" 10 || fail "n3's workers did not leave"
alone=$(on n0 env STARLING_NODE=n0 "$client" --scheduler "$clients_ep" \
    --module "$module" --tasks 50 --ms 5 2>>"$tmp/client.log") ||
    fail "a job on n1 alone failed: $alone"
[ "$(json_field "$alone" ok)" = 50 ] || fail "a job on n1 alone: $alone"

# ---------------------------------------------------------------------
# The account, for the record.

max_attempts=$(json_field "$summary" max_attempts)
wall_s=$(json_field "$summary" wall_s)
cat <<EOF
netns_test: account
  nodes    n0 $sched_ip: redis-server, scheduler (heartbeat $heartbeat_ms ms),
           client; n1..n3 $subnet.2-4: $workers_per_node workers x $slots slots each
  crossing a client on n1 put a $cross_kib KiB vector into n1's tier; 2 x $cross_tasks
           tasks over it ran on $cross_nodes(vsum_who: $(json_field "$cross" mapped) mapped it,
           $(json_field "$cross" copied) copied it); all right, $(elapsed "$t_cross" "$t_crossed") s
  job      $tasks tasks of testmod delay ($task_ms ms each); every tenth
           argument and result 6,000 bytes, through Redis
  faults   at $(elapsed "$t_start" "$t_cut") s into the job ($done_at_cut tasks done): n1's link
           cut; n2's $workers_per_node workers SIGKILLed (${#n2_executors[@]} executors died with them)
  noticed  $(elapsed "$t_cut" "$t_lost") s later, the scheduler counted only n3's workers;
           re-queued from n1: $lost_n1; from n2: $lost_n2
  link     down $(elapsed "$t_cut" "$t_restore") s ($cut_what);
           n1's workers ready again $(elapsed "$t_restore" "$t_rejoin") s after it returned
  result   $ok/$tasks ok, $wrong wrong, $failed failed, $retried retried (at most
           $max_attempts attempts); job $wall_s s
  then     n3 stopped: 50 more tasks ran on n1 alone, all ok
netns_test: ok
EOF
