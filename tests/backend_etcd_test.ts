/**
 * Interoperability with the real etcd 3.4 (/usr/bin/etcd, /usr/bin/etcdctl):
 *
 * 1. Real etcd writes keys; we read every bucket and key of its member/snap/db, decode the
 *    mvccpb.KeyValue values, run check() (etcd 3.4 does not persist the freelist, so this
 *    also tests the rebuild by tree walk), and, when Go is installed, compare every bucket's
 *    key count and CRC with what the real bbolt library reads.
 * 2. We write a db with etcd's bucket layout; `etcdctl snapshot status` accepts it and prints
 *    the hash, revision, key count and size we expect; `etcdctl snapshot restore` turns it
 *    into a data dir that the real etcd serves our keys from.
 *
 * Ports: 23790-23795 on 127.0.0.1. Skipped when etcd is not installed.
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { type Bucket, check, crc32c, DB, inspectDb, openBackend } from "../backend/mod.ts";

const ETCD = "/usr/bin/etcd";
const ETCDCTL = "/usr/bin/etcdctl";
const haveEtcd = (() => {
  try {
    return Deno.statSync(ETCD).isFile && Deno.statSync(ETCDCTL).isFile;
  } catch {
    return false;
  }
})();

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    env: { ETCDCTL_API: "3", ...env },
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  ok(out.success, `${cmd} ${args.join(" ")} failed: ${text}`);
  return decoder.decode(out.stdout);
}

/** Starts etcd on a data dir and waits until it answers. */
async function startEtcd(
  dataDir: string,
  clientPort: number,
  peerPort: number,
): Promise<Deno.ChildProcess> {
  const peer = `http://127.0.0.1:${peerPort}`;
  const client = `http://127.0.0.1:${clientPort}`;
  const child = new Deno.Command(ETCD, {
    args: [
      "--name=interop",
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=interop=${peer}`,
      "--log-level=error",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    const probe = await new Deno.Command(ETCDCTL, {
      args: [`--endpoints=${client}`, "endpoint", "health"],
      env: { ETCDCTL_API: "3" },
      stdout: "null",
      stderr: "null",
    }).output();
    if (probe.success) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error("etcd did not become healthy");
}

async function stopEtcd(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGTERM");
  await child.status;
}

function varint(value: number): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

/** mvccpb.KeyValue: key=1, create_revision=2, mod_revision=3, version=4, value=5, lease=6. */
function encodeKeyValue(
  kv: { key: string; create: number; mod: number; version: number; value: string },
) {
  const key = encoder.encode(kv.key);
  const value = encoder.encode(kv.value);
  return Uint8Array.from([
    0x0a,
    ...varint(key.length),
    ...key,
    0x10,
    ...varint(kv.create),
    0x18,
    ...varint(kv.mod),
    0x20,
    ...varint(kv.version),
    0x2a,
    ...varint(value.length),
    ...value,
  ]);
}

function decodeKeyValue(bytes: Uint8Array): Record<number, Uint8Array | number> {
  const fields: Record<number, Uint8Array | number> = {};
  let i = 0;
  const readVarint = () => {
    let result = 0;
    let shift = 1;
    for (;;) {
      const byte = bytes[i++]!;
      result += (byte & 0x7f) * shift;
      shift *= 128;
      if ((byte & 0x80) === 0) return result;
    }
  };
  while (i < bytes.length) {
    const tag = readVarint();
    if ((tag & 7) === 0) fields[tag >> 3] = readVarint();
    else {
      const length = readVarint();
      fields[tag >> 3] = bytes.subarray(i, i + length);
      i += length;
    }
  }
  return fields;
}

/** A revision key: 8-byte big-endian main, '_', 8-byte big-endian sub. */
function revisionKey(main: number, sub: number): Uint8Array {
  const key = new Uint8Array(17);
  const dv = new DataView(key.buffer);
  dv.setBigUint64(0, BigInt(main));
  key[8] = 0x5f;
  dv.setBigUint64(9, BigInt(sub));
  return key;
}

/** What the real bbolt reads: bucket path -> "count crc". Null when Go is not installed. */
async function boltView(path: string): Promise<Map<string, string> | null> {
  const binary = "/tmp/detcd_backend_boltcheck";
  try {
    Deno.statSync(binary);
  } catch {
    const built = await new Deno.Command("go", {
      args: ["build", "-o", binary, "."],
      cwd: new URL("./backend_boltcheck/", import.meta.url).pathname,
      env: { GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOFLAGS: "-mod=mod" },
      stdout: "null",
      stderr: "null",
    }).output().catch(() => null);
    if (built === null || !built.success) return null;
  }
  const out = await new Deno.Command(binary, { args: [path], stdout: "piped" }).output();
  const view = new Map<string, string>();
  for (const line of decoder.decode(out.stdout).split("\n")) {
    if (line.startsWith("check error")) view.set("error", line);
    const m = /^bucket (\S+) (\d+) ([0-9a-f]+)/.exec(line);
    if (m) view.set(m[1]!, `${m[2]} ${m[3]}`);
  }
  return view;
}

/** The same view computed by our reader. */
function ourView(db: DB): Map<string, string> {
  const view = new Map<string, string>();
  db.view((tx) => {
    tx.forEach((name, bucket) => {
      view.set(decoder.decode(name) + "/", bucketDigest(bucket));
    });
  });
  return view;
}

function bucketDigest(bucket: Bucket): string {
  let count = 0;
  let crc = 0;
  bucket.forEach((k, v) => {
    count++;
    crc = crc32c(k, crc);
    if (v !== null) crc = crc32c(v, crc);
  });
  return `${count} ${crc.toString(16).padStart(8, "0")}`;
}

Deno.test({
  name: "real etcd 3.4 writes a db file that we read key by key (and bbolt agrees)",
  ignore: !haveEtcd,
  sanitizeResources: false,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "detcd-backend-etcd-" });
    try {
      const etcd = await startEtcd(`${dir}/data`, 23790, 23791);
      const endpoint = "--endpoints=http://127.0.0.1:23790";
      try {
        for (let i = 0; i < 12; i++) {
          await run(ETCDCTL, [endpoint, "put", `key${i}`, `value-${i}-${"x".repeat(i * 300)}`]);
        }
        await run(ETCDCTL, [endpoint, "put", "key3", "overwritten"]);
        await run(ETCDCTL, [endpoint, "del", "key5"]);
        await run(ETCDCTL, [endpoint, "lease", "grant", "600"]);
      } finally {
        await stopEtcd(etcd);
      }
      const path = `${dir}/data/member/snap/db`;
      const before = Deno.readFileSync(path);
      const db = DB.open(path, { readOnly: true });
      try {
        deepStrictEqual(check(db), []);
        const buckets: string[] = [];
        db.view((tx) => tx.forEach((name) => buckets.push(decoder.decode(name))));
        for (const name of ["key", "meta", "lease", "members", "cluster"]) {
          ok(buckets.includes(name), `bucket ${name}`);
        }
        // Every value of the key bucket decodes as an mvccpb.KeyValue at its revision.
        const latest = new Map<string, string>();
        db.view((tx) => {
          tx.bucket(encoder.encode("key"))!.forEach((k, v) => {
            ok(
              k.length === 17 || (k.length === 18 && k[17] === 0x74),
              "revision key, or a tombstone's",
            );
            const kv = decodeKeyValue(v!);
            const main = Number(new DataView(k.buffer, k.byteOffset).getBigUint64(0));
            if (k.length === 17) {
              deepStrictEqual(kv[3], main, "mod_revision is the revision key's main part");
            }
            const key = decoder.decode(kv[1] as Uint8Array);
            if (k.length === 17 && kv[5] !== undefined) {
              latest.set(key, decoder.decode(kv[5] as Uint8Array));
            } else latest.delete(key); // a tombstone has no value
          });
          ok(
            tx.bucket(encoder.encode("meta"))!.get(encoder.encode("consistent_index"))!.length ===
              8,
          );
          let leases = 0;
          tx.bucket(encoder.encode("lease"))!.forEach(() => leases++);
          deepStrictEqual(leases, 1);
        });
        deepStrictEqual(latest.get("key3"), "overwritten");
        deepStrictEqual(latest.get("key11"), `value-11-${"x".repeat(3300)}`);
        deepStrictEqual(latest.has("key5"), false);
        const bolt = await boltView(path);
        if (bolt !== null) deepStrictEqual(ourView(db), bolt);
      } finally {
        db.close();
      }
      const report = JSON.parse(inspectDb(path, { json: true }));
      deepStrictEqual(report.meta.freelistPersisted, false);
      ok(
        report.buckets.some((b: { name: string; keys: number }) =>
          b.name === "key" && b.keys === 14
        ),
      );
      deepStrictEqual(Deno.readFileSync(path), before, "reading never writes");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a db we write with etcd's layout passes etcdctl snapshot status and restores into a working etcd",
  ignore: !haveEtcd,
  sanitizeResources: false,
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "detcd-backend-etcd-" });
    try {
      const path = `${dir}/ours.db`;
      const backend = openBackend({ path, noFreelistSync: true });
      const tx = backend.batchTx;
      tx.lock();
      for (
        const name of [
          "key",
          "meta",
          "lease",
          "alarm",
          "cluster",
          "members",
          "members_removed",
          "auth",
          "authUsers",
          "authRoles",
        ]
      ) {
        tx.unsafeCreateBucket(encoder.encode(name));
      }
      const keys = 600;
      for (let rev = 2; rev < keys + 2; rev++) {
        const kv = encodeKeyValue({
          key: `ours/${rev}`,
          create: rev,
          mod: rev,
          version: 1,
          value: `v${rev}`.repeat(1 + (rev % 40)),
        });
        tx.unsafeSeqPut(encoder.encode("key"), revisionKey(rev, 0), kv);
      }
      const index = new Uint8Array(8);
      new DataView(index.buffer).setBigUint64(0, 1000n);
      tx.unsafePut(encoder.encode("meta"), encoder.encode("consistent_index"), index);
      tx.unlock();
      backend.forceCommit();
      const hash = backend.hash();
      const size = backend.db().meta.pgid * backend.db().pageSize;
      backend.close();

      const status = JSON.parse(await run(ETCDCTL, ["snapshot", "status", path, "-w", "json"]));
      deepStrictEqual(status, { hash, revision: keys + 1, totalKey: keys + 1, totalSize: size });

      // Restore it into a data dir and let the real etcd serve our keys.
      await run(ETCDCTL, [
        "snapshot",
        "restore",
        path,
        "--skip-hash-check=true",
        `--data-dir=${dir}/restored`,
        "--name=interop",
        "--initial-cluster=interop=http://127.0.0.1:23793",
        "--initial-advertise-peer-urls=http://127.0.0.1:23793",
      ]);
      const etcd = await startEtcd(`${dir}/restored`, 23792, 23793);
      try {
        const out = await run(ETCDCTL, [
          "--endpoints=http://127.0.0.1:23792",
          "get",
          "ours/77",
          "-w",
          "json",
        ]);
        const kv = JSON.parse(out).kvs[0];
        deepStrictEqual(atob(kv.value), "v77".repeat(1 + 77 % 40));
        deepStrictEqual(kv.mod_revision, 77);
        const count = await run(ETCDCTL, [
          "--endpoints=http://127.0.0.1:23792",
          "get",
          "ours/",
          "--prefix",
          "--limit=1",
          "-w",
          "json",
        ]);
        deepStrictEqual(JSON.parse(count).count, keys);
      } finally {
        await stopEtcd(etcd);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
