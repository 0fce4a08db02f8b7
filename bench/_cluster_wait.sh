# _cluster_wait.sh - sourced by bench/loadgen_ab.sh, bench/cluster_rows.sh, bench/idle_cluster.sh,
# bench/strace_cluster.sh, bench/p99_trace.sh and bench/disk_metrics_1x1.sh.
#
# single_member_args PORT DATA: sets the caller's MEMBER_ARGS to the flags of a new one-member
# cluster m0 with client port PORT and peer port PORT+1, its data in DATA/m0.
single_member_args() {
  local port=$1 data=$2
  MEMBER_ARGS=(--name m0 --data-dir "$data/m0"
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port"
    --listen-peer-urls "http://127.0.0.1:$((port + 1))"
    --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))"
    --initial-cluster "m0=http://127.0.0.1:$((port + 1))")
}

#
# start_cluster3 SIDE PORT DATA TOKEN: starts a new 3-member cluster from SIDE (a detcd checkout,
# or "etcd" for ETCD_BIN, default /usr/bin/etcd), member i with client port PORT+10+i and peer
# port PORT+20+i, data and logs under DATA; appends the members' PIDs to the caller's PIDS array.
start_cluster3() {
  local side=$1 port=$2 data=$3 token=$4 i ic="" dir
  local -a cmd
  for i in 0 1 2; do ic="$ic${ic:+,}m$i=http://127.0.0.1:$((port + 20 + i))"; done
  for i in 0 1 2; do
    cmd=(deno run -A --quiet main.ts)
    dir=$side
    if [ "$side" = etcd ]; then cmd=("${ETCD_BIN:-/usr/bin/etcd}"); dir=/tmp; fi
    (cd "$dir" && exec "${cmd[@]}" --name "m$i" --data-dir "$data/m$i" \
      --listen-client-urls "http://127.0.0.1:$((port + 10 + i))" \
      --advertise-client-urls "http://127.0.0.1:$((port + 10 + i))" \
      --listen-peer-urls "http://127.0.0.1:$((port + 20 + i))" \
      --initial-advertise-peer-urls "http://127.0.0.1:$((port + 20 + i))" \
      --initial-cluster "$ic" --initial-cluster-state new --initial-cluster-token "$token") \
      > "$data/m$i.log" 2>&1 &
    PIDS+=("$!")
  done
}

# wait_cluster PORT N: waits until each of the N members whose client ports are PORT, PORT+1, ...
# answers `etcdctl endpoint health` (30 s each at most), then sets `eps` (the comma-separated
# endpoints) and `leader` (the endpoint of the member that leads).
wait_cluster() {
  local first=$1 n=$2 i ep
  eps=""
  for i in $(seq 0 $((n - 1))); do
    ep=127.0.0.1:$((first + i))
    eps="$eps${eps:+,}$ep"
    for _ in $(seq 1 150); do
      ETCDCTL_API=3 etcdctl --endpoints "$ep" endpoint health >/dev/null 2>&1 && break
      sleep 0.2
    done
  done
  leader=$(ETCDCTL_API=3 etcdctl --endpoints "$eps" endpoint status -w json | python3 -c '
import json,sys
for s in json.load(sys.stdin):
  if s["Status"]["leader"]==s["Status"]["header"]["member_id"]: print(s["Endpoint"])')
}
