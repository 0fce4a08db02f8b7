/**
 * Goal: detcd and etcd 3.4 read each other's data: a snapshot that real etcd saved, restored
 * with the real `etcdctl snapshot restore`, starts detcd with the same keys, revisions and
 * HashKV; and a data dir that detcd wrote (WAL, snap, bolt db) starts the real etcd with the
 * same keys, revisions and HashKV.
 * Method: write keys (with an overwrite and a delete, so that revisions and tombstones
 * matter) through etcdctl on one implementation, hand the files to the other, and compare
 * `get --from-key -w json` and `endpoint hashkv` before and after. When detcd's server is not
 * ready (tests/_harness.ts diffTarget), both sides are real etcd.
 */
import { strictEqual } from "node:assert/strict";
import {
  diffTarget,
  etcdctl,
  type Impl,
  type Member,
  restoreSnapshot,
  startMember,
} from "./_harness.ts";

const _WRITES = [
  ["put", "alpha", "1"],
  ["put", "beta", "2"],
  ["put", "alpha", "3"],
  ["put", "gamma", "4"],
  ["del", "beta"],
  ["put", "delta", "5"],
];

/** The key space as `get --from-key -w json` shows it, without the header, plus the HashKV. */
async function _state(member: Member): Promise<string> {
  const get = await etcdctl(member.endpoint, ["get", "", "--from-key", "-w", "json"]);
  const parsed = JSON.parse(get.stdout) as { header: { revision: number }; kvs: unknown[] };
  const hash = await etcdctl(member.endpoint, ["endpoint", "hashkv"]);
  const hashValue = hash.stdout.trim().split(", ")[1];
  return JSON.stringify({ revision: parsed.header.revision, kvs: parsed.kvs, hashkv: hashValue });
}

async function _write(member: Member): Promise<void> {
  for (const args of _WRITES) strictEqual((await etcdctl(member.endpoint, args)).code, 0);
}

Deno.test("a snapshot saved by real etcd and restored by etcdctl starts detcd with the same data", async () => {
  const target: Impl = await diffTarget();
  const dir = await Deno.makeTempDir({ prefix: "detcd-interop-" });
  try {
    const source = await startMember({ impl: "etcd", clientPort: 23886, peerPort: 23887 });
    let before: string;
    try {
      await _write(source);
      before = await _state(source);
      const save = await etcdctl(source.endpoint, ["snapshot", "save", `${dir}/snap.db`]);
      strictEqual(save.code, 0, save.stderr);
    } finally {
      await source.stop();
    }
    const restore = await restoreSnapshot(`${dir}/snap.db`, {
      dataDir: `${dir}/restored`,
      peerPort: 23873,
    });
    strictEqual(restore.code, 0, restore.stderr);
    const restored = await startMember({
      impl: target,
      clientPort: 23872,
      peerPort: 23873,
      dataDir: `${dir}/restored`,
    });
    try {
      strictEqual(await _state(restored), before);
    } finally {
      await restored.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a data dir written by detcd starts the real etcd with the same data", async () => {
  const writer: Impl = await diffTarget();
  const dir = await Deno.makeTempDir({ prefix: "detcd-interop-" });
  try {
    const ports = { clientPort: 23888, peerPort: 23889, dataDir: `${dir}/data` };
    const first = await startMember({ impl: writer, ...ports });
    let before: string;
    try {
      await _write(first);
      before = await _state(first);
    } finally {
      await first.stop();
    }
    const etcd = await startMember({ impl: "etcd", ...ports });
    try {
      strictEqual(await _state(etcd), before);
      // And etcd can go on writing where detcd stopped.
      strictEqual((await etcdctl(etcd.endpoint, ["put", "epsilon", "6"])).code, 0);
    } finally {
      await etcd.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
