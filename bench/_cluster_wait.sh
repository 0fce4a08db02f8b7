# _cluster_wait.sh - sourced by bench/loadgen_ab.sh and bench/cluster_rows.sh.
#
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
