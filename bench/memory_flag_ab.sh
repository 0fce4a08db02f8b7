#!/usr/bin/env bash
# memory_flag_ab.sh - bench/memory.ts (detcd only, MEM_BIG_KEYS=0, no restart part) without and
# with one set of V8 flags, interleaved on this checkout: the order alternates per pair (base
# first in odd pairs, flag first in even ones) so a rising or falling load on the machine does not
# favour one side.
#
# Usage: bench/memory_flag_ab.sh V8_FLAGS [PAIRS]
#   V8_FLAGS: given to deno as --v8-flags=... on the flag side (bench/memory.ts's DETCD_V8_FLAGS),
#             e.g. --heap-growing-percent=50. Both sides run with the V8 flags detcd ships
#             with (embed/v8_flags.ts); these come after them and override them, so the base is
#             what operators run (--no-efficiency-mode on the flag side turns the shipped flag off).
#   PAIRS: default 3.
# Env: OUT (directory for each run's output and the log, default a new /tmp/memory-flag-ab.*),
#      MEM_KEYS and LOADGEN_DIR as bench/memory.ts reads them.
# Run it in a private network namespace (bench/memory.ts uses fixed ports):
#   unshare -n bash -c 'ip link set lo up; bench/memory_flag_ab.sh --heap-growing-percent=50 3'
# Prints, per run, RSS under load after the fill (MEM_KEYS keys) and after the overwrite (3 x
# MEM_KEYS revisions), detcd's CPU µs per put in each step, puts/s in each step and the 1-minute
# load average at the run's start and end; then per pair the flag/base ratios and their medians.
set -u
FLAGS=${1:?V8_FLAGS}
PAIRS=${2:-3}
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-$(mktemp -d /tmp/memory-flag-ab.XXXXXX)}
mkdir -p "$OUT"
run() { # side flags pair
  local f="$OUT/$1-$3"
  echo "start $1 pair $3 load $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/log"
  BENCH_ONLY=detcd MEM_BIG_KEYS=0 RESTART_DB_MB=0 DETCD_V8_FLAGS="$2" \
    timeout 900 deno run -A bench/memory.ts > "$f.out" 2> "$f.err" ||
    echo "memory_flag_ab: $1 pair $3 failed, see $f.err" >&2
  echo "end $1 pair $3 load $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/log"
}
for p in $(seq 1 "$PAIRS"); do
  if [ $((p % 2)) = 1 ]; then
    run base "" "$p"
    run flag "$FLAGS" "$p"
  else
    run flag "$FLAGS" "$p"
    run base "" "$p"
  fi
done
echo "flag side: --v8-flags=$FLAGS; runs in $OUT"
python3 - "$OUT" "$PAIRS" <<'PY'
import re, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
loads = {}
for line in open(f"{out}/log"):
    m = re.match(r"(start|end) (\S+) pair (\d+) load (\S+)", line)
    if m:
        loads.setdefault((m[2], m[3]), []).append(m[4])
def parse(side, p):
    table = open(f"{out}/{side}-{p}.out").read().splitlines()
    rows = [r.split("|") for r in table if r.startswith("| ")]
    rows = [r for r in rows if ("keys" in r[1] or "overwritten" in r[1]) and "idle" not in r[1]]
    rss = [int(r[4]) for r in rows]
    cpu = [int(r[11].split("/")[1]) for r in rows]
    rate = [int(x) for x in re.findall(r"puts: (\d+) req/s", open(f"{out}/{side}-{p}.err").read())]
    if len(rss) < 2 or len(rate) < 2:
        raise ValueError(f"{side} has no result")
    return rss, cpu, rate
print("side  pair  RSS fill/overwrite MiB  CPU us/put fill/overwrite  puts/s fill/overwrite  load")
ratios = {"RSS fill": [], "RSS overwrite": [], "CPU fill": [], "CPU overwrite": []}
for p in range(1, pairs + 1):
    try:
        b, f = parse("base", p), parse("flag", p)
    except (OSError, ValueError, IndexError) as e:
        print(f"pair {p}: incomplete ({e})")
        continue
    for side, r in (("base", b), ("flag", f)):
        print("%-5s %4d  %10d / %-10d  %12d / %-12d  %9d / %-9d  %s" % (side, p, r[0][0], r[0][1],
              r[1][0], r[1][1], r[2][0], r[2][1], " -> ".join(loads.get((side, str(p)), []))))
    for i, step in enumerate(("fill", "overwrite")):
        ratios[f"RSS {step}"].append(f[0][i] / b[0][i])
        ratios[f"CPU {step}"].append(f[1][i] / b[1][i])
for name, values in ratios.items():
    if values:
        print("flag/base %-13s median %.2f (pairs: %s)" % (name, statistics.median(values),
              " ".join("%.2f" % v for v in values)))
PY
