/**
 * HashKV against the real etcd 3.4: the same fixed sequence of puts (with and without a lease),
 * overwrites, deletes, range deletes, multi-op transactions and compactions is applied to a real
 * `etcd` (through `etcdctl`) and to our store; after each phase `etcdctl endpoint hashkv -w json`
 * (at the current revision and at older ones) must equal our `hashByRev`, revision and compact
 * revision included. The CRC covers the encoded KeyValues and the revision keys, so equal hashes
 * mean byte-identical `key` buckets as far as HashKV sees them. The history watched from
 * revision 2 with prev_kv (`etcdctl watch -w json`) must also give identical events.
 *
 * Skipped when /usr/bin/etcd or /usr/bin/etcdctl is absent. Ports 23820 (client) and 23821 (peer).
 */
import assert from "node:assert/strict";
import { MemBackend } from "../mvcc/_mem_backend_test_util.ts";
import { type Event, type KeyValue, type LeaseAttacher, WatchableStore } from "../mvcc/mod.ts";

const ETCD = "/usr/bin/etcd";
const CLIENT = "127.0.0.1:23820";
const PEER = "http://127.0.0.1:23821";
const enc = (s: string) => new TextEncoder().encode(s);

function haveEtcd(): boolean {
  try {
    return Deno.statSync(ETCD).isFile && Deno.statSync("/usr/bin/etcdctl").isFile;
  } catch {
    return false;
  }
}

async function etcdctl(args: string[], stdin?: string): Promise<string> {
  const cmd = new Deno.Command("/usr/bin/etcdctl", {
    args: ["--endpoints", CLIENT, ...args],
    env: { ETCDCTL_API: "3" },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(enc(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`etcdctl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

async function startEtcd(dataDir: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(ETCD, {
    args: [
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      `http://${CLIENT}`,
      "--advertise-client-urls",
      `http://${CLIENT}`,
      "--listen-peer-urls",
      PEER,
      "--initial-advertise-peer-urls",
      PEER,
      "--initial-cluster",
      `default=${PEER}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 100; i++) {
    try {
      await etcdctl(["endpoint", "health"]);
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error("etcd did not start");
}

/** Accepts every lease (the real etcd checks them; here only the bytes matter). */
class _Leases implements LeaseAttacher {
  private readonly _items = new Map<string, bigint>();
  attach(id: bigint, key: string): void {
    this._items.set(key, id);
  }
  detach(_id: bigint, key: string): void {
    this._items.delete(key);
  }
  getLease(key: string): bigint {
    return this._items.get(key) ?? 0n;
  }
}

interface _HashKv {
  hash: number;
  compactRevision: number;
  revision: number;
}

async function etcdHashKv(rev: number): Promise<_HashKv> {
  const out = JSON.parse(await etcdctl(["endpoint", "hashkv", "--rev", String(rev), "-w", "json"]));
  const hk = out[0].HashKV;
  return { hash: hk.hash, compactRevision: hk.compact_revision, revision: hk.header.revision };
}

function ourHashKv(store: WatchableStore, rev: number): _HashKv {
  const got = store.hashByRev(rev);
  return { hash: got.hash, compactRevision: got.compactRev, revision: got.currentRev };
}

/** Events as `etcdctl watch -w json` prints them (Go's encoding/json of mvccpb.Event). */
function _eventJson(ev: Event): unknown {
  const kvJson = (kv: KeyValue) => {
    const out: Record<string, unknown> = {};
    const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
    if (kv.key.length > 0) out.key = b64(kv.key);
    if (kv.createRevision !== 0) out.create_revision = kv.createRevision;
    if (kv.modRevision !== 0) out.mod_revision = kv.modRevision;
    if (kv.version !== 0) out.version = kv.version;
    if (kv.value.length > 0) out.value = b64(kv.value);
    if (kv.lease !== 0n) out.lease = Number(kv.lease);
    return out;
  };
  const out: Record<string, unknown> = {};
  if (ev.type !== 0) out.type = ev.type;
  out.kv = kvJson(ev.kv);
  if (ev.prevKv !== undefined) out.prev_kv = kvJson(ev.prevKv);
  return out;
}

async function ourWatchEvents(store: WatchableStore, want: number): Promise<unknown[]> {
  const stream = store.newWatchStream();
  stream.watch({ key: new Uint8Array([0]), end: new Uint8Array(0), startRev: 2, prevKv: true });
  const events: unknown[] = [];
  while (events.length < want) {
    const r = await stream.next();
    for (const ev of r!.events) events.push(_eventJson(ev));
  }
  stream.close();
  return events;
}

async function etcdWatchEvents(want: number): Promise<unknown[]> {
  const child = new Deno.Command("/usr/bin/etcdctl", {
    args: ["--endpoints", CLIENT, "watch", "--prefix", "", "--rev", "2", "--prev-kv", "-w", "json"],
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const events: unknown[] = [];
  let text = "";
  const reader = child.stdout.getReader();
  while (events.length < want) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    const lines = text.split("\n");
    text = lines.pop()!;
    for (const line of lines) {
      if (line.trim() === "") continue;
      for (const ev of JSON.parse(line).Events ?? []) events.push(ev);
    }
  }
  child.kill("SIGTERM");
  await reader.cancel();
  await child.status;
  return events;
}

Deno.test({
  name:
    "HashKV and watch events equal real etcd's after the same puts, deletes, txns, leases, compactions",
  ignore: !haveEtcd(),
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "mvcc_hash_etcd_" });
    const etcd = await startEtcd(`${dir}/etcd`);
    const store = new WatchableStore(new MemBackend(), { lessor: new _Leases() });
    try {
      // The ID passes 2^53: read it from the text, not through JSON numbers.
      const grant = await etcdctl(["lease", "grant", "600", "-w", "json"]);
      const leaseId = BigInt(/"ID":(\d+)/.exec(grant)![1]!);
      const leaseHex = leaseId.toString(16);
      const put = async (k: string, v: string, lease = 0n) => {
        await etcdctl(lease === 0n ? ["put", k, v] : ["put", k, v, "--lease", leaseHex]);
        store.put(enc(k), enc(v), lease);
      };
      await put("a", "1");
      await put("b", "two");
      await put("a", "1bis");
      await put("c/1", "x".repeat(300), leaseId);
      await put("c/2", "");
      await put("c/3", "y");
      await etcdctl(["del", "b"]);
      store.deleteRange(enc("b"), undefined);
      await etcdctl(["del", "c/", "--prefix"]);
      store.deleteRange(enc("c/"), enc("c0"));
      await put("b", "again");
      await put("\u00e9t\u00e9", "unicode key");
      // One txn: two puts and a delete share a revision.
      await etcdctl(["txn"], 'value("a") = "1bis"\n\nput x 1\nput y 2\ndel a\n\n\n');
      const txn = store.write();
      txn.put(enc("x"), enc("1"));
      txn.put(enc("y"), enc("2"));
      txn.deleteRange(enc("a"), undefined);
      txn.end();
      await put("lease/k", "v", leaseId);
      for (let i = 0; i < 5; i++) await put("x", `x${i}`);
      assert.equal(store.rev, 18);
      const before = [0, 2, 9, 12, 18];
      for (const rev of before) {
        assert.deepEqual(ourHashKv(store, rev), await etcdHashKv(rev), `hashkv at ${rev}`);
      }
      // The same history watched from revision 2 with prev_kv: identical events.
      assert.deepEqual(await ourWatchEvents(store, 21), await etcdWatchEvents(21));
      // Compact in the middle of the history: the hash skips what the compaction removes.
      await etcdctl(["compact", "15", "--physical"]);
      await store.compact(15).done;
      await put("z", "after compaction");
      for (const rev of [0, 16, 17, 19]) {
        assert.deepEqual(ourHashKv(store, rev), await etcdHashKv(rev), `hashkv at ${rev}`);
      }
      // At the compacted revision both refuse.
      await assert.rejects(etcdHashKv(15), /required revision has been compacted/);
      assert.throws(() => store.hashByRev(15), /required revision has been compacted/);
      await etcdctl(["compact", "19"]);
      await store.compact(19).done;
      assert.deepEqual(ourHashKv(store, 0), await etcdHashKv(0), "hashkv after compacting all");
    } finally {
      store.close();
      etcd.kill("SIGTERM");
      await etcd.status;
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
