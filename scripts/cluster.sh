#!/usr/bin/env bash
# Starts a local 3-member detcd cluster on loopback (the Procfile's members), without goreman.
# Usage: scripts/cluster.sh [DATA_ROOT]   (Ctrl-C stops every member)
# Clients: etcdctl --endpoints=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 member list
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-${TMPDIR:-/tmp}/detcd-cluster}"
mkdir -p "$root"
cluster="infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380,infra3=http://127.0.0.1:32380"
pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap stop EXIT INT TERM
for i in 1 2 3; do
  prefix=$([ "$i" = 1 ] && echo "" || echo "$i")
  deno run -A main.ts --name "infra$i" \
    --listen-client-urls "http://127.0.0.1:${prefix}2379" \
    --advertise-client-urls "http://127.0.0.1:${prefix}2379" \
    --listen-peer-urls "http://127.0.0.1:${i}2380" \
    --initial-advertise-peer-urls "http://127.0.0.1:${i}2380" \
    --initial-cluster-token etcd-cluster-1 --initial-cluster "$cluster" \
    --initial-cluster-state new --data-dir "$root/infra$i.etcd" \
    2> >(sed "s/^/infra$i | /" >&2) &
  pids+=($!)
done
echo "detcd: 3 members, data under $root; clients on 127.0.0.1:2379,22379,32379" >&2
wait
