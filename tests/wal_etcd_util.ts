/**
 * Helpers for the tests that run the real etcd 3.4 (/usr/bin/etcd, /usr/bin/etcdctl) next to
 * our WAL and snap code: start and stop a single member on 127.0.0.1, run etcdctl, and replay
 * the records of a WAL into our writer.
 *
 * @module
 */

import type { Entry, HardState } from "../raft/mod.ts";
import { decodeEntry, decodeHardState } from "../raft/mod.ts";
import {
  decodeWalSnapshot,
  fileSegment,
  readWalNames,
  RecordType,
  Wal,
  WalDecoder,
  type WalOptions,
  type WalRecord,
} from "../wal/mod.ts";

/** True when the real etcd binaries are installed. */
export function haveEtcd(): boolean {
  try {
    return Deno.statSync("/usr/bin/etcd").isFile && Deno.statSync("/usr/bin/etcdctl").isFile;
  } catch {
    return false;
  }
}

/** A running etcd member. */
export interface EtcdMember {
  endpoint: string;
  child: Deno.ChildProcess;
  stop(): Promise<void>;
}

/** Starts one etcd member on the given ports and waits until it answers /health. */
export async function startEtcd(
  dataDir: string,
  options: { clientPort: number; peerPort: number; snapshotCount: number },
): Promise<EtcdMember> {
  const client = `http://127.0.0.1:${options.clientPort}`;
  const peer = `http://127.0.0.1:${options.peerPort}`;
  const log = await Deno.open(dataDir + ".log", { write: true, create: true, append: true });
  const child = new Deno.Command("/usr/bin/etcd", {
    args: [
      "--name=m1",
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=m1=${peer}`,
      `--snapshot-count=${options.snapshotCount}`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logging = child.stderr.pipeTo(log.writable).catch(() => {});
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await child.status;
    await logging;
  };
  const deadline = Date.now() + 15_000;
  while (true) {
    try {
      const response = await fetch(`${client}/health`);
      const body = await response.text();
      if (response.ok && body.includes('"true"')) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not become healthy; see ${dataDir}.log`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { endpoint: client, child, stop };
}

/** Runs etcdctl (API v3) against an endpoint and returns its stdout. */
export async function etcdctl(endpoint: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("/usr/bin/etcdctl", {
    args: [`--endpoints=${endpoint}`, ...args],
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(`etcdctl ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return stdout;
}

/** The decimal member and cluster IDs etcd reports (`endpoint status -w fields`). */
export async function etcdIds(endpoint: string): Promise<{ memberId: bigint; clusterId: bigint }> {
  const fields = await etcdctl(endpoint, "endpoint", "status", "-w", "fields");
  const memberId = BigInt(/"MemberID" : (\d+)/.exec(fields)![1]!);
  const clusterId = BigInt(/"ClusterID" : (\d+)/.exec(fields)![1]!);
  return { memberId, clusterId };
}

/** Every record of a WAL directory, in order, with the CRC chain checked. */
export function walRecords(dir: string): WalRecord[] {
  const names = readWalNames(dir);
  const decoder = new WalDecoder(
    names.map((name) => fileSegment(dir, name)),
  );
  const records: WalRecord[] = [];
  for (let found = decoder.next(); found !== undefined; found = decoder.next()) {
    if (found.record.type === RecordType.crc) decoder.updateCrc(found.record.crc);
    records.push({ ...found.record, data: found.record.data?.slice() });
  }
  if (decoder.torn !== undefined) throw new Error(`torn WAL: ${decoder.torn.reason}`);
  return records;
}

/**
 * Writes the records of another WAL again with our writer, call by call as etcd made them:
 * entries followed by a hard state are one `save()`, a snapshot marker is `saveSnapshot()`.
 * The crc, metadata and first snapshot records are the writer's own.
 */
export async function replayInto(
  dir: string,
  metadata: Uint8Array,
  records: readonly WalRecord[],
  options: WalOptions = {},
): Promise<void> {
  const wal = await Wal.create(dir, metadata, options);
  let pending: Entry[] = [];
  const empty: HardState = { term: 0, vote: 0n, commit: 0 };
  let first = true;
  for (const record of records) {
    const data = record.data ?? new Uint8Array(0);
    if (record.type === RecordType.entry) {
      pending.push(decodeEntry(data));
    } else if (record.type === RecordType.state) {
      await wal.save(decodeHardState(data), pending);
      pending = [];
    } else if (record.type === RecordType.snapshot) {
      const snap = decodeWalSnapshot(data);
      if (first && snap.index === 0) {
        first = false;
        continue;
      }
      if (pending.length > 0) await wal.save(empty, pending);
      pending = [];
      await wal.saveSnapshot(snap);
    }
  }
  if (pending.length > 0) await wal.save(empty, pending);
  await wal.close();
}
