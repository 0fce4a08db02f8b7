#!/usr/bin/env python3
# cluster_stage_trace.py - per-stage timings of 3-member puts from the traces that
# bench/cluster_stage_trace.patch makes each member write (DETCD_TRACE=/tmp/x gives /tmp/x.<pid>).
#
#   git apply bench/cluster_stage_trace.patch        # instrumentation, never committed
#   DETCD_TRACE=/tmp/tr <start 3 members, run a 1-client put row>   # e.g. bench/cluster_rows.sh 1 1L .
#   python3 bench/cluster_stage_trace.py /tmp/tr.*
#   git apply -R bench/cluster_stage_trace.patch
#
# Lines are "<event> <raft index> <epoch ms> [k=v...]"; clocks of one machine, so the stages that
# cross processes (leader MsgApp queued -> follower received) are comparable. For each entry the
# leader proposed it joins the leader's and the fastest follower's events by raft index.
import collections
import statistics
import sys

files = sys.argv[1:]
ev = {}
for f in files:
    d = collections.defaultdict(list)
    for line in open(f):
        p = line.split()
        if len(p) < 3: continue
        d[p[0]].append((int(p[1]), float(p[2]), p[3:] ))
    ev[f] = d
leader = [f for f in files if len(ev[f]['flush']) > 100][0]
fols = [f for f in files if f != leader]
L = ev[leader]
def first_by_idx(lst, key=lambda e: e[0]):
    r = {}
    for e in lst:
        k = key(e)
        if k not in r: r[k] = e[1]
    return r
def commit_of(e):
    for x in e[2]:
        if x.startswith('c='): return int(x[2:])
    return 0
flush = {e[0]: (e[1], float(e[2][1].split('=')[1])) for e in L['flush']}
Lrs = first_by_idx(L['rs'])
Lwal = first_by_idx(L['wal'])
Lq3 = first_by_idx(L['q3'])
Lrecv4 = {}
for e in L['recv4']:
    Lrecv4.setdefault(e[0], e[1])
Lstep4 = {}
for e in L['step4']:
    Lstep4.setdefault(e[0], e[1])
# leader commit round: rs with c >= idx
def by_commit(lst):
    r = {}
    for e in lst:
        c = commit_of(e)
        if c and c not in r: r[c] = e[1]
    return r
Lrs_c = by_commit(L['rs']); Lapp_c = by_commit(L['applied']); Lwal_c = by_commit(L['wal'])
F = {}
for f in fols:
    d = ev[f]
    F[f] = dict(recv3=first_by_idx(d['recv3']), step3=first_by_idx(d['step3']), rs=first_by_idx(d['rs']), wal=first_by_idx(d['wal']), q4=first_by_idx(d['q4']), wr4=first_by_idx(d['wr4']),
                rs_c=by_commit(d['rs']), app_c=by_commit(d['applied']))
    # commit learned: recv3 with c=idx
    F[f]['recv3c'] = {}
    for e in d['recv3']:
        c = commit_of(e)
        F[f]['recv3c'].setdefault(c, e[1])
rows = collections.defaultdict(list)
for idx, (t0, wait) in flush.items():
    if idx not in Lrs or idx not in Lrecv4 or idx not in Lapp_c: continue
    rows['L prop->flush (wait)'].append(wait)
    rows['L flush->round'].append(Lrs[idx]-t0)
    if idx in Lq3: rows['L round->MsgApp queued'].append(Lq3[idx]-Lrs[idx])
    rows['L round->wal done'].append(Lwal[idx]-Lrs[idx])
    # fastest follower
    fb = min(fols, key=lambda f: F[f]['q4'].get(idx, 1e30))
    ff = F[fb]
    if idx in ff['recv3'] and idx in ff['q4']:
        rows['F MsgApp queued(L)->recv(F)'].append(ff['recv3'][idx]-Lq3[idx])
        rows['F recv->step'].append(ff['step3'][idx]-ff['recv3'][idx])
        rows['F step->round'].append(ff['rs'][idx]-ff['step3'][idx])
        rows['F round->wal done'].append(ff['wal'][idx]-ff['rs'][idx])
        rows['F wal->resp queued'].append(ff['q4'][idx]-ff['wal'][idx])
        rows['F resp queued->written'].append(ff['wr4'][idx]-ff['q4'][idx])
        rows['L resp recv (from F q4)'].append(Lrecv4[idx]-ff['q4'][idx])
    rows['L recv4->step4'].append(Lstep4[idx]-Lrecv4[idx])
    rows['L step4->commit round'].append(Lrs_c[idx]-Lstep4[idx])
    rows['L commit round->applied'].append(Lapp_c[idx]-Lrs_c[idx])
    rows['L own wal done -> resp step'].append(Lstep4[idx]-Lwal[idx])
    rows['L TOTAL prop->applied'].append(Lapp_c[idx]-t0+wait)
    for f in fols:
        if idx in F[f]['app_c'] : rows['F applied after L applied'].append(F[f]['app_c'][idx]-Lapp_c[idx])
        if idx in F[f]['recv3c']: rows['F learns commit after L step4'].append(F[f]['recv3c'][idx]-Lstep4[idx])
puts = [float(e[2][1].split('=')[1]) for e in L['put']]
rows['put() duration'] = puts
def pct(a, q):
    a = sorted(a); return a[min(len(a)-1, int(q*len(a)))]
print("%-32s %6s %8s %8s %8s %8s" % ("stage", "n", "p50", "avg", "p90", "p99"))
for k, a in rows.items():
    print("%-32s %6d %8.3f %8.3f %8.3f %8.3f" % (k, len(a), pct(a,.5), statistics.mean(a), pct(a,.9), pct(a,.99)))
