#!/usr/bin/env bash
# bench_ab.sh - the README's single-member loads, interleaved between two checkouts.
#
# Usage: scripts/bench_ab.sh BEFORE_DIR AFTER_DIR [RUNS]
#   Runs, RUNS times (default 3), the three loads of the README's Performance section
#   (put with 1000 clients, serializable range with 1000 clients, put with 1 client), each with
#   --compare (real etcd, then detcd of that checkout), first in BEFORE_DIR and then in
#   AFTER_DIR, so that drift in the machine's load falls on both. Prints one line per load and
#   run: checkout, load, detcd QPS, etcd QPS, QPS ratio, p99 ratio. Run with nothing else on the
#   machine; only ratios from one run of this script mean anything.
set -euo pipefail
BEFORE=$(cd "$1" && pwd)
AFTER=$(cd "$2" && pwd)
RUNS=${3:-3}
LOADS=(
  "put-1000|--op put --clients 1000 --conns 100 --total 30000"
  "range-s-1000|--op range --consistency s --clients 1000 --conns 100 --total 30000"
  "put-1|--op put --clients 1 --conns 1 --workers 1 --total 3000"
)
printf '%-7s %-4s %-13s %10s %10s %6s %6s\n' checkout run load detcd_qps etcd_qps qps_r p99_r
for run in $(seq 1 "$RUNS"); do
  for side in before after; do
    dir=$BEFORE
    [ "$side" = after ] && dir=$AFTER
    for load in "${LOADS[@]}"; do
      name=${load%%|*}
      # shellcheck disable=SC2086 # the flags are meant to split
      out=$(cd "$dir" && deno task bench:kv ${load#*|} --compare --detcd-cmd "deno run -A main.ts" 2>&1)
      qps=$(grep -E '^  QPS +detcd' <<<"$out" | awk '{print $3, $5, $7}')
      p99=$(grep -E '^  p99 ms +detcd' <<<"$out" | awk '{print $NF}')
      read -r dq eq qr <<<"$qps"
      printf '%-7s %-4s %-13s %10.0f %10.0f %6s %6s\n' "$side" "$run" "$name" "$dq" "$eq" "$qr" "$p99"
    done
  done
done
