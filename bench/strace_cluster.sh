#!/usr/bin/env bash
# strace_cluster.sh - what each member of a 3-member cluster does per put under the 1-client put
# rows, counted twice:
#   1. untraced: CPU (user and system) and voluntary and involuntary context switches (summed
#      over the member's threads), over IDLE_S seconds of idle and then over TOTAL puts: per put,
#      and per put above the idle rate;
#   2. under `strace -f -yy` (every call of every thread): calls per put by name, and the socket
#      and file traffic split by what the descriptor is (a peer connection, a client connection,
#      the WAL, the backend file): calls and bytes per put, reads and writes apart.
#
# Usage: bench/strace_cluster.sh CHECKOUT|etcd [TOTAL]
#   CHECKOUT: a detcd checkout (runs `deno run -A main.ts` there), or "etcd" for /usr/bin/etcd
#   (ETCD_BIN). TOTAL: puts in each phase (default 1000), after 200 untraced warm-up puts.
# Env: PORT_BASE (default 27500), TOP (syscall names per member, default 12), IDLE_S (default 3),
#      TARGET (leader: every put to the leader, as `cluster-put-1x1-leader`, the default;
#      all: the client's endpoints are all members, as `cluster-put-1x1-all`).
# Run it in a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/strace_cluster.sh . 1000'
# strace slows every call it sees, so the rate under it means nothing; the counts per put do.
# The untraced phase's counters include the members' idle work (ticks, heartbeats) for its
# duration: the "above idle" figures take out the idle rate times that duration.
set -u
SIDE=${1:?usage: strace_cluster.sh CHECKOUT|etcd [TOTAL]}
TOTAL=${2:-1000}
TOP=${TOP:-12}
TARGET=${TARGET:-leader}
LG=$("${LOADGEN_DIR:-/work/shared/tools/loadgen}/build.sh") || exit 1
# shellcheck source=bench/_cluster_wait.sh
. "$(dirname "$0")/_cluster_wait.sh"
P=${PORT_BASE:-27500}
DATA=$(mktemp -d /tmp/strace-cluster.XXXXXX)
PIDS=()
TRACERS=()
cleanup() {
  for p in "${TRACERS[@]}" "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT

# counters PID: "seconds user_ticks system_ticks voluntary involuntary threads" of the process
# and its threads (a thread that ended took its context switches with it: lower bounds).
counters() {
  local pid=$1 f vol=0 inv=0 n=0 t
  read -r -a f < <(sed 's/^.*) //' "/proc/$pid/stat")
  for t in /proc/"$pid"/task/*/status; do
    vol=$((vol + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t" 2>/dev/null || echo 0)))
    inv=$((inv + $(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t" 2>/dev/null || echo 0)))
    n=$((n + 1))
  done
  echo "$(date +%s.%N) ${f[11]} ${f[12]} $vol $inv $n"
}

start_cluster3 "$SIDE" "$P" "$DATA" st
wait_cluster $((P + 10)) 3
endpoints=$leader
[ "$TARGET" = all ] && endpoints=$eps
put="put --key-size 8 --val-size 256 --key-space-size 100000 --sequential-keys --endpoints $endpoints --conns 1 --clients 1"
# shellcheck disable=SC2086 # the flags are meant to split
"$LG" $put --total 200 > /dev/null
sleep 1

# Phase 1: untraced counters, idle and then under load.
for i in 0 1 2; do counters "${PIDS[$i]}" > "$DATA/i0.m$i"; done
sleep "${IDLE_S:-3}"
for i in 0 1 2; do counters "${PIDS[$i]}" > "$DATA/i1.m$i"; done
for i in 0 1 2; do counters "${PIDS[$i]}" > "$DATA/c0.m$i"; done
t0=$(date +%s.%N)
# shellcheck disable=SC2086
rate=$("$LG" $put --total "$TOTAL" | awk '/requests\/sec/ {print $NF}')
t1=$(date +%s.%N)
for i in 0 1 2; do counters "${PIDS[$i]}" > "$DATA/c1.m$i"; done
sleep 1

# Phase 2: every call of every thread, with what each descriptor is (-yy).
for i in 0 1 2; do
  strace -f -q -yy -s 0 -e signal=none -o "$DATA/strace.m$i" -p "${PIDS[$i]}" &
  TRACERS+=("$!")
done
sleep 1
# shellcheck disable=SC2086
"$LG" $put --total "$TOTAL" | grep -E 'errors' | grep -v ' 0$'
for t in "${TRACERS[@]}"; do kill -INT "$t" 2>/dev/null; done
for t in "${TRACERS[@]}"; do wait "$t" 2>/dev/null; done
TRACERS=()
echo "$SIDE, $TOTAL puts to $TARGET; untraced phase $rate req/s over $(python3 -c "print('%.2f' % ($t1 - $t0))") s; load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 0 1 2; do
  role=follower
  [ "127.0.0.1:$((P + 10 + i))" = "$leader" ] && role=leader
  python3 "$(dirname "$0")/strace_cluster.py" "$DATA/strace.m$i" "$TOTAL" "m$i ($role)" "$TOP" \
    "$P" "$(cat "$DATA/i0.m$i" "$DATA/i1.m$i" "$DATA/c0.m$i" "$DATA/c1.m$i")"
done
