#!/usr/bin/env bash
# strace_cluster.sh - system calls per put of each member of a 3-member cluster under the
# 1-client put row (`cluster-put-1x1-leader`), from `strace -c -f` attached to every member for
# the length of the load.
#
# Usage: bench/strace_cluster.sh CHECKOUT|etcd [TOTAL]
#   CHECKOUT: a detcd checkout (runs `deno run -A main.ts` there), or "etcd" for /usr/bin/etcd
#   (ETCD_BIN). TOTAL: puts while traced (default 1000), after 200 untraced warm-up puts.
# Env: PORT_BASE (default 27500), TOP (syscall names per member, default 12).
# Run it in a private network namespace:
#   unshare -n bash -c 'ip link set lo up; bench/strace_cluster.sh . 1000'
# strace slows every call it sees, so the rate under it means nothing; the counts per put do.
set -u
SIDE=${1:?usage: strace_cluster.sh CHECKOUT|etcd [TOTAL]}
TOTAL=${2:-1000}
TOP=${TOP:-12}
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
start_cluster3 "$SIDE" "$P" "$DATA" st
wait_cluster $((P + 10)) 3
put="put --key-size 8 --val-size 256 --key-space-size 100000 --sequential-keys --endpoints $leader --conns 1 --clients 1"
# shellcheck disable=SC2086 # the flags are meant to split
"$LG" $put --total 200 > /dev/null
for i in 0 1 2; do
  strace -c -f -q -o "$DATA/strace.m$i" -p "${PIDS[$i]}" &
  TRACERS+=("$!")
done
sleep 1
# shellcheck disable=SC2086
"$LG" $put --total "$TOTAL" | grep -E 'requests/sec|errors'
for t in "${TRACERS[@]}"; do kill -INT "$t" 2>/dev/null; done
for t in "${TRACERS[@]}"; do wait "$t" 2>/dev/null; done
TRACERS=()
for i in 0 1 2; do
  role=follower
  [ "127.0.0.1:$((P + 10 + i))" = "$leader" ] && role=leader
  python3 - "$DATA/strace.m$i" "$TOTAL" "m$i ($role)" "$TOP" <<'PY'
import sys
path, total, title, top = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rows = []
for line in open(path):
    f = line.split()
    if len(f) < 5 or not f[0][0].isdigit() or f[-1] == "total":
        continue
    errors = int(f[4]) if len(f) == 6 else 0
    rows.append((int(f[3]), f[-1], errors, float(f[1])))
rows.sort(reverse=True)
print("%s: %.1f syscalls per put (%.0f us in them per put)" % (
    title, sum(r[0] for r in rows) / total, sum(r[3] for r in rows) * 1e6 / total))
for calls, name, errors, secs in rows[:top]:
    print("  %-18s %6.2f per put%s" % (name, calls / total, "  (%d errors)" % errors if errors else ""))
PY
done
