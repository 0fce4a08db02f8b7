/**
 * Crash safety of the whole write path: detcd is SIGKILLed at random moments while several
 * clients put concurrently, then restarted on the same data directory, many times over.
 *
 * Goal: every acknowledged put survives every crash with the revision it was acknowledged
 * with, and the store's revision never goes backwards across restarts.
 * Method: each put writes a fresh key, so that a later range over all keys must show each
 * acknowledged key with exactly its acknowledged mod revision and value. One cycle in ten
 * kills the process while it is still starting (before it is ready), the rest after a random
 * stretch of load (those extra early kills do not count toward the 100 under load). The seed
 * is printed; `CRASH_SEED` and `CRASH_CYCLES` replay or extend a run
 * (`deno task crash:server` runs 300 cycles).
 */

import { ok, strictEqual } from "node:assert/strict";
import { EtcdGrpcClient } from "../client/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { longToNumber } from "../etcdserverpb/mod.ts";
import { type DetcdProcess, startDetcd } from "./_server_process.ts";
import { mulberry32 as _rng } from "../testing/mod.ts";

/** Client and peer ports of the lanes: independent members crashed side by side. */
const LANES: [number, number][] = [[23910, 23911], [23940, 23941], [23942, 23943]];
/** Extra flags per lane: the last one snapshots every 25 entries, so kills hit snapshots too. */
const LANE_FLAGS: string[][] = [[], [], ["--snapshot-count", "25"]];
const WORKERS = 6;
const _encoder = new TextEncoder();
const _decoder = new TextDecoder();

interface _Acked {
  value: string;
  revision: number;
}

/** Puts fresh keys from `WORKERS` concurrent loops until `stop` is set. */
async function _load(
  client: EtcdGrpcClient,
  cycle: number,
  acked: Map<string, _Acked>,
  state: { stop: boolean; maxRevision: number },
): Promise<void> {
  const worker = async (w: number) => {
    for (let seq = 0; !state.stop; seq++) {
      const key = `k/${cycle}/${w}/${seq}`;
      const value = `v${cycle}.${w}.${seq}`;
      try {
        const response = await client.unary(METHODS.KV.Put, {
          key: _encoder.encode(key),
          value: _encoder.encode(value),
        }, { timeoutMs: 2000 });
        const revision = longToNumber(response.header?.revision ?? 0);
        ok(revision > state.maxRevision - 10_000_000, "revision is sane");
        acked.set(key, { value, revision });
        state.maxRevision = Math.max(state.maxRevision, revision);
      } catch {
        return; // the server is gone: this worker's unacknowledged put may or may not exist
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
}

/** Reads every key and checks all acknowledged puts and the revision floor. */
async function _verify(
  client: EtcdGrpcClient,
  acked: Map<string, _Acked>,
  floorRevision: number,
): Promise<number> {
  const response = await client.unary(METHODS.KV.Range, {
    key: _encoder.encode("k/"),
    rangeEnd: _encoder.encode("k0"),
  }, { timeoutMs: 10_000 });
  const revision = longToNumber(response.header?.revision ?? 0);
  ok(revision >= floorRevision, `revision went backwards: ${revision} < ${floorRevision}`);
  const stored = new Map<string, _Acked>();
  for (const kv of response.kvs ?? []) {
    stored.set(_decoder.decode(kv.key ?? undefined), {
      value: _decoder.decode(kv.value ?? undefined),
      revision: longToNumber(kv.modRevision ?? 0),
    });
  }
  for (const [key, want] of acked) {
    const got = stored.get(key);
    ok(got !== undefined, `acknowledged put of ${key} at revision ${want.revision} was lost`);
    strictEqual(got.value, want.value, `value of ${key}`);
    strictEqual(got.revision, want.revision, `revision of ${key}`);
  }
  return revision;
}

async function _runCrashCycles(
  cycles: number,
  seed: number,
  [CLIENT_PORT, PEER_PORT]: [number, number],
  flags: string[],
): Promise<number> {
  const random = _rng(seed);
  const dataDir = await Deno.makeTempDir({ prefix: "detcd_crash_" });
  const acked = new Map<string, _Acked>();
  let floorRevision = 0;
  let restartsVerified = 0;
  let loadKills = 0;
  try {
    for (let cycle = 0; loadKills < cycles; cycle++) {
      const earlyKill = random() < 0.1 && cycle > 0;
      let proc: DetcdProcess;
      if (earlyKill) {
        proc = await startDetcd({
          dataDir,
          flags,
          clientPort: CLIENT_PORT,
          peerPort: PEER_PORT,
          fast: true,
          waitReady: false,
        });
        await new Promise((r) => setTimeout(r, Math.floor(random() * 400)));
        await proc.kill();
        continue;
      }
      proc = await startDetcd({
        dataDir,
        flags,
        clientPort: CLIENT_PORT,
        peerPort: PEER_PORT,
        fast: true,
      });
      const client = new EtcdGrpcClient(proc.endpoint);
      try {
        floorRevision = await _verify(client, acked, floorRevision);
        restartsVerified++;
        const state = { stop: false, maxRevision: floorRevision };
        const loading = _load(client, cycle, acked, state);
        await new Promise((r) => setTimeout(r, 20 + Math.floor(random() * 200)));
        await proc.kill();
        loadKills++;
        state.stop = true;
        await loading;
        floorRevision = Math.max(floorRevision, state.maxRevision);
      } finally {
        client.close();
        await proc.kill();
      }
    }
    // A last clean start: everything is there.
    const proc = await startDetcd({
      dataDir,
      flags,
      clientPort: CLIENT_PORT,
      peerPort: PEER_PORT,
      fast: true,
    });
    const client = new EtcdGrpcClient(proc.endpoint);
    try {
      await _verify(client, acked, floorRevision);
    } finally {
      client.close();
      await proc.stop();
    }
    ok(acked.size > cycles, `the load made progress (${acked.size} acknowledged puts)`);
    strictEqual(restartsVerified, loadKills, "every load cycle verified the restart before it");
    return acked.size;
  } catch (error) {
    console.error(`crash lane failed (lane seed ${seed}); replay with CRASH_SEED=<run seed>`);
    throw error;
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test({
  name: "SIGKILL under concurrent puts, 100+ times: acknowledged puts and revisions survive",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const cycles = Number(Deno.env.get("CRASH_CYCLES") ?? "100");
    const seed = Number(Deno.env.get("CRASH_SEED") ?? String(Date.now() % 1_000_000));
    console.log(`crash test: ${cycles} kills under load over ${LANES.length} lanes, seed ${seed}`);
    // The lanes share the kills; lane i uses seed + i.
    const perLane = Math.ceil(cycles / LANES.length);
    const acked = await Promise.all(
      LANES.map((ports, lane) => _runCrashCycles(perLane, seed + lane, ports, LANE_FLAGS[lane]!)),
    );
    const total = acked.reduce((a, b) => a + b, 0);
    console.log(`${perLane * LANES.length} kills under load, ${total} acknowledged puts verified`);
  },
});
