/**
 * Byte-exact compatibility with real etcd: run /usr/bin/etcd 3.4 (127.0.0.1, ports 23830-23831,
 * a temporary data dir), write keys with etcdctl, stop it, then read its WAL segment with a
 * minimal frame reader written here, decode every entry, hard state and conf change with
 * raft/raftpb.ts and re-encode them: the bytes must be equal.
 *
 * WAL framing (etcd/wal/encoder.go, decoder.go): each record is an 8-byte little-endian word
 * whose low 56 bits are the record size; when its most significant bit is set, the low 3 bits
 * of the top byte are the padding that follows the record (to 8-byte alignment). The record is
 * walpb.Record{type=1 int64, crc=2 uint32, data=3 bytes}; type 2 = raftpb.Entry,
 * 3 = raftpb.HardState. A zero length word ends the written part of a preallocated segment.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import {
  decodeConfChange,
  decodeEntry,
  decodeHardState,
  encodeConfChange,
  encodeEntry,
  encodeHardState,
  EntryType,
} from "../raft/mod.ts";
import { ProtoReader } from "../pb/mod.ts";

const CLIENT_URL = "http://127.0.0.1:23830";
const PEER_URL = "http://127.0.0.1:23831";
const RECORD_ENTRY = 2;
const RECORD_STATE = 3;

interface WalRecord {
  type: number;
  data: Uint8Array;
}

/** Reads the records of one WAL segment. */
function readWalRecords(segment: Uint8Array): WalRecord[] {
  const view = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
  const records: WalRecord[] = [];
  let offset = 0;
  while (offset + 8 <= segment.length) {
    const lenField = view.getBigUint64(offset, true);
    if (lenField === 0n) break;
    const recordBytes = Number(lenField & 0x00ff_ffff_ffff_ffffn);
    const padBytes = (lenField & (1n << 63n)) !== 0n ? Number((lenField >> 56n) & 0x7n) : 0;
    offset += 8;
    const reader = new ProtoReader(segment, offset, offset + recordBytes);
    const record: WalRecord = { type: 0, data: new Uint8Array(0) };
    while (reader.more()) {
      const tag = reader.tag();
      if (tag === (1 << 3)) record.type = reader.int64();
      else if (tag === ((3 << 3) | 2)) record.data = reader.bytes().slice();
      else reader.skip(tag & 7);
    }
    records.push(record);
    offset += recordBytes + padBytes;
  }
  return records;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function waitHealthy(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await run("/usr/bin/etcdctl", ["--endpoints", CLIENT_URL, "endpoint", "health"]);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("etcd did not become healthy in 10 s");
}

Deno.test({
  name: "raftpb decodes and re-encodes every entry and hard state of a real etcd WAL byte for byte",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "raft_etcd_wal_" });
    const etcd = new Deno.Command("/usr/bin/etcd", {
      args: [
        "--name=default",
        `--data-dir=${dataDir}`,
        `--listen-client-urls=${CLIENT_URL}`,
        `--advertise-client-urls=${CLIENT_URL}`,
        `--listen-peer-urls=${PEER_URL}`,
        `--initial-advertise-peer-urls=${PEER_URL}`,
        `--initial-cluster=default=${PEER_URL}`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await waitHealthy();
      const endpoint = ["--endpoints", CLIENT_URL];
      for (let i = 0; i < 20; i++) {
        await run("/usr/bin/etcdctl", [...endpoint, "put", `key${i}`, `value-${i}`.repeat(i + 1)]);
      }
      await run("/usr/bin/etcdctl", [...endpoint, "del", "key3"]);
      await run("/usr/bin/etcdctl", [...endpoint, "lease", "grant", "60"]);
    } finally {
      etcd.kill("SIGTERM");
      await etcd.status;
    }
    try {
      const walDir = `${dataDir}/member/wal`;
      const names = [...Deno.readDirSync(walDir)].map((e) => e.name).filter((n) =>
        n.endsWith(".wal")
      ).sort();
      ok(names.length > 0, "etcd wrote no WAL segment");
      let entries = 0;
      let states = 0;
      let confChanges = 0;
      for (const name of names) {
        for (const record of readWalRecords(await Deno.readFile(`${walDir}/${name}`))) {
          if (record.type === RECORD_ENTRY) {
            const entry = decodeEntry(record.data);
            deepStrictEqual(encodeEntry(entry), record.data, `entry ${entry.index}`);
            if (entry.type === EntryType.EntryConfChange) {
              const data = entry.data ?? new Uint8Array(0);
              deepStrictEqual(encodeConfChange(decodeConfChange(data)), data);
              confChanges++;
            }
            entries++;
          } else if (record.type === RECORD_STATE) {
            deepStrictEqual(encodeHardState(decodeHardState(record.data)), record.data);
            states++;
          }
        }
      }
      // 1 bootstrap conf change + leader's empty entry + 20 puts + 1 delete + 1 lease grant,
      // plus etcd's own entries (cluster version, member attributes).
      ok(entries >= 24, `only ${entries} entries`);
      ok(states >= 2, `only ${states} hard states`);
      ok(confChanges >= 1, "no conf change entry");
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
