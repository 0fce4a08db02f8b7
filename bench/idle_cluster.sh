#!/usr/bin/env bash
# idle_cluster.sh - what an idle 3-member cluster costs: CPU per second of each member (from
# /proc/PID/stat over IDLE_S seconds) and its RSS at the end of that window, then its system
# calls and event-loop wake-ups (epoll_wait) per second (`strace -c -f` over another IDLE_S
# seconds; strace slows the calls it sees, so its window is not the CPU window).
#
# Usage: bench/idle_cluster.sh CHECKOUT|etcd
#   CHECKOUT: a detcd checkout (runs `deno run -A main.ts` there), or "etcd" for /usr/bin/etcd
#   (ETCD_BIN).
# Env: PORT_BASE (default 27600), IDLE_S (default 10), TOP (syscall names per member, default 6).
# Run it in a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/idle_cluster.sh .'
set -u
SIDE=${1:?usage: idle_cluster.sh CHECKOUT|etcd}
IDLE_S=${IDLE_S:-10}
TOP=${TOP:-6}
# shellcheck source=bench/_cluster_wait.sh
. "$(dirname "$0")/_cluster_wait.sh"
P=${PORT_BASE:-27600}
DATA=$(mktemp -d /tmp/idle-cluster.XXXXXX)
PIDS=()
TRACERS=()
cleanup() {
  for p in "${TRACERS[@]}" "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT
start_cluster3 "$SIDE" "$P" "$DATA" idle
wait_cluster $((P + 10)) 3
sleep 3 # start-up work (compilation, the first snapshot of the members list) settles
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=()
for i in 0 1 2; do before+=("$(ticks "${PIDS[$i]}")"); done
sleep "$IDLE_S"
hz=$(getconf CLK_TCK)
for i in 0 1 2; do
  after=$(ticks "${PIDS[$i]}")
  python3 -c "print('m$i: %.1f ms of CPU per second' % (($after - ${before[$i]}) * 1000 / $hz / $IDLE_S))"
done
# Memory once idle: VmRSS, and its anonymous and file-backed parts, of each member.
for i in 0 1 2; do
  awk -v m="m$i" '/^(VmRSS|RssAnon|RssFile):/ {v[$1] = $2 / 1024}
    END {printf "%s: RSS %.1f MiB (anon %.1f, file %.1f)\n", m, v["VmRSS:"], v["RssAnon:"], v["RssFile:"]}' \
    "/proc/${PIDS[$i]}/status"
done
for i in 0 1 2; do
  strace -c -f -q -o "$DATA/strace.m$i" -p "${PIDS[$i]}" &
  TRACERS+=("$!")
done
sleep "$IDLE_S"
for t in "${TRACERS[@]}"; do kill -INT "$t" 2>/dev/null; done
for t in "${TRACERS[@]}"; do wait "$t" 2>/dev/null; done
TRACERS=()
for i in 0 1 2; do
  python3 - "$DATA/strace.m$i" "$IDLE_S" "m$i" "$TOP" <<'PY'
import sys
path, seconds, title, top = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rows = []
for line in open(path):
    f = line.split()
    if len(f) < 5 or not f[0][0].isdigit() or f[-1] == "total":
        continue
    rows.append((int(f[3]), f[-1]))
rows.sort(reverse=True)
print("%s: %.0f syscalls per second" % (title, sum(r[0] for r in rows) / seconds))
for calls, name in rows[:top]:
    print("  %-18s %6.1f per second" % (name, calls / seconds))
PY
done
