/**
 * The server driven by the real `etcdctl` (API v3), one detcd child process per scenario.
 *
 * Goal: the behaviours the server core owns — the write path through raft, linearizable and
 * serializable reads, txn, compaction, watch history, leases, maintenance (status, hashkv,
 * defrag, snapshot save and restore), the NOSPACE alarm and the request checks — work as
 * etcd 3.4's do, seen through etcd's own client.
 * Method: run etcdctl commands and compare their output with what etcd 3.4 prints for the
 * same sequence (fixed expected text, IDs aside).
 */

import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { type DetcdProcess, etcdctl, etcdctlOk, startDetcd } from "./_server_process.ts";

const _opts = { sanitizeResources: false, sanitizeOps: false };

async function _withDetcd(
  ports: [number, number],
  flags: string[],
  body: (proc: DetcdProcess, dataDir: string) => Promise<void>,
): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "detcd_ctl_" });
  const proc = await startDetcd({
    dataDir,
    clientPort: ports[0],
    peerPort: ports[1],
    flags,
    fast: true,
  });
  try {
    await body(proc, dataDir);
  } finally {
    await proc.kill();
    await Deno.remove(dataDir, { recursive: true });
  }
}

Deno.test({
  name: "etcdctl: put, get (prefix, from-key, range, limit, rev, sort, keys/count-only), del, txn",
  ..._opts,
  fn: () =>
    _withDetcd([23912, 23913], [], async (p) => {
      const ep = p.endpoint;
      for (const [k, v] of [["a", "1"], ["b", "2"], ["c", "3"], ["b", "22"]]) {
        strictEqual(await etcdctlOk(ep, ["put", k!, v!]), "OK\n");
      }
      strictEqual(await etcdctlOk(ep, ["get", "a", "c"]), "a\n1\nb\n22\n");
      strictEqual(await etcdctlOk(ep, ["get", "b", "--from-key", "--keys-only"]), "b\n\nc\n\n");
      strictEqual(await etcdctlOk(ep, ["get", "", "--prefix", "--limit", "2"]), "a\n1\nb\n22\n");
      strictEqual(await etcdctlOk(ep, ["get", "b", "--rev", "3"]), "b\n2\n");
      strictEqual(
        await etcdctlOk(ep, ["get", "", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND"]),
        "b\n22\nc\n3\na\n1\n",
      );
      strictEqual(
        await etcdctlOk(ep, ["get", "", "--prefix", "--consistency", "s", "--print-value-only"]),
        "1\n22\n3\n",
      );
      const json = JSON.parse(
        await etcdctlOk(ep, ["get", "", "--prefix", "--limit", "1", "-w", "json"]),
      );
      strictEqual(json.header.revision, 5);
      strictEqual(json.count, 3);
      strictEqual(json.more, true);
      deepStrictEqual(json.kvs, [{
        key: btoa("a"),
        create_revision: 2,
        mod_revision: 2,
        version: 1,
        value: btoa("1"),
      }]);
      ok(BigInt(json.header.cluster_id) > 0n && BigInt(json.header.member_id) > 0n);
      const versions = JSON.parse(await etcdctlOk(ep, ["get", "b", "-w", "json"]));
      strictEqual(versions.kvs[0].version, 2);
      strictEqual(versions.kvs[0].create_revision, 3);
      strictEqual(await etcdctlOk(ep, ["del", "a", "--prev-kv"]), "1\na\n1\n");
      strictEqual(await etcdctlOk(ep, ["del", "zzz"]), "0\n");
      // Interactive txn: compares, then success ops, then failure ops.
      const txn = await etcdctlOk(
        ep,
        ["txn"],
        'value("b") = "22"\nmod("c") > "0"\n\nput x yes\nget b\n\nput x no\n\n',
      );
      strictEqual(txn, "SUCCESS\n\nOK\n\nb\n22\n");
      const failed = await etcdctlOk(ep, ["txn"], 'version("nope") > "0"\n\nput y 1\n\ndel b\n\n');
      strictEqual(failed, "FAILURE\n\n1\n");
      strictEqual(await etcdctlOk(ep, ["get", "", "--prefix", "--keys-only"]), "c\n\nx\n\n");
    }),
});

Deno.test({
  name: "etcdctl: compaction, then reads and watches of compacted revisions fail as in etcd",
  ..._opts,
  fn: () =>
    _withDetcd([23914, 23915], [], async (p) => {
      const ep = p.endpoint;
      for (let i = 1; i <= 5; i++) await etcdctlOk(ep, ["put", "k", `v${i}`]);
      strictEqual(await etcdctlOk(ep, ["compact", "4"]), "compacted revision 4\n");
      const old = await etcdctl(ep, ["get", "k", "--rev", "3"]);
      strictEqual(old.code, 1);
      match(old.stderr, /etcdserver: mvcc: required revision has been compacted/);
      strictEqual(await etcdctlOk(ep, ["get", "k", "--rev", "4", "--print-value-only"]), "v3\n");
      const future = await etcdctl(ep, ["get", "k", "--rev", "100"]);
      match(future.stderr, /etcdserver: mvcc: required revision is a future revision/);
      const again = await etcdctl(ep, ["compact", "3"]);
      match(again.stderr, /etcdserver: mvcc: required revision has been compacted/);
      const physical = await etcdctlOk(ep, ["compact", "5", "--physical"]);
      strictEqual(physical, "compacted revision 5\n");
      const hashkv = JSON.parse(await etcdctlOk(ep, ["endpoint", "hashkv", "-w", "json"]));
      strictEqual(hashkv[0].HashKV.compact_revision, 5);
      strictEqual(hashkv[0].HashKV.header.revision, 6);
    }),
});

/** Reads a watch's output until `lines` lines came, then stops it. */
async function _watchLines(ep: string, args: string[], lines: number, write?: () => Promise<void>) {
  const child = new Deno.Command("/usr/bin/etcdctl", {
    args: ["--endpoints", ep, "watch", ...args],
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let text = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 10_000);
  try {
    if (write !== undefined) {
      await new Promise((r) => setTimeout(r, 500));
      await write();
    }
    while ((text.match(/\n/g)?.length ?? 0) < lines) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    clearTimeout(deadline);
    try {
      child.kill("SIGKILL");
    } catch {
      // It exited already.
    }
    await reader.cancel().catch(() => {});
    await child.status;
  }
  return text.split("\n").slice(0, lines);
}

Deno.test({
  name: "etcdctl: watch by prefix, from a past revision, with prev-kv",
  ..._opts,
  fn: () =>
    _withDetcd([23916, 23917], [], async (p) => {
      const ep = p.endpoint;
      await etcdctlOk(ep, ["put", "w/a", "1"]);
      await etcdctlOk(ep, ["put", "w/b", "2"]);
      await etcdctlOk(ep, ["del", "w/a"]);
      const history = await _watchLines(ep, ["w/", "--prefix", "--rev", "1"], 9);
      deepStrictEqual(history, ["PUT", "w/a", "1", "PUT", "w/b", "2", "DELETE", "w/a", ""]);
      const live = await _watchLines(ep, ["w/b", "--prev-kv"], 5, async () => {
        await etcdctlOk(ep, ["put", "w/b", "3"]);
      });
      deepStrictEqual(live, ["PUT", "w/b", "2", "w/b", "3"]);
    }),
});

Deno.test({
  name: "etcdctl: lease grant, put --lease, keep-alive --once, timetolive --keys, list, revoke",
  ..._opts,
  fn: () =>
    _withDetcd([23918, 23919], [], async (p) => {
      const ep = p.endpoint;
      const granted = await etcdctlOk(ep, ["lease", "grant", "60"]);
      const id = /^lease ([0-9a-f]+) granted with TTL\(60s\)\n$/.exec(granted)?.[1];
      ok(id !== undefined, granted);
      strictEqual(await etcdctlOk(ep, ["put", "lk", "lv", "--lease", id]), "OK\n");
      strictEqual(
        await etcdctlOk(ep, ["lease", "keep-alive", "--once", id]),
        `lease ${id} keepalived with TTL(60)\n`,
      );
      match(
        await etcdctlOk(ep, ["lease", "timetolive", id, "--keys"]),
        new RegExp(
          `^lease ${id} granted with TTL\\(60s\\), remaining\\((5\\d|60)s\\), ` +
            `attached keys\\(\\[lk\\]\\)\n$`,
        ),
      );
      strictEqual(await etcdctlOk(ep, ["lease", "list"]), `found 1 leases\n${id}\n`);
      const missing = await etcdctl(ep, ["put", "x", "y", "--lease", "1234"]);
      match(missing.stderr, /etcdserver: requested lease not found/);
      strictEqual(await etcdctlOk(ep, ["lease", "revoke", id]), `lease ${id} revoked\n`);
      strictEqual(await etcdctlOk(ep, ["get", "lk"]), "");
      strictEqual(
        await etcdctlOk(ep, ["lease", "timetolive", id]),
        `lease ${id} already expired\n`,
      );
      const revokeAgain = await etcdctl(ep, ["lease", "revoke", id]);
      match(revokeAgain.stderr, /etcdserver: requested lease not found/);
      // A short lease expires through the leader's revoke loop and takes its key along.
      const short = /lease ([0-9a-f]+)/.exec(await etcdctlOk(ep, ["lease", "grant", "1"]))![1]!;
      await etcdctlOk(ep, ["put", "ephemeral", "x", "--lease", short]);
      const deadline = Date.now() + 8000;
      while ((await etcdctlOk(ep, ["get", "ephemeral"])) !== "" && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
      }
      strictEqual(await etcdctlOk(ep, ["get", "ephemeral"]), "");
    }),
});

Deno.test({
  name: "etcdctl: endpoint status/health/hashkv, member list, defrag, snapshot save + restore",
  ..._opts,
  fn: () =>
    _withDetcd([23920, 23921], [], async (p, dataDir) => {
      const ep = p.endpoint;
      for (let i = 0; i < 20; i++) await etcdctlOk(ep, ["put", `s${i}`, `value-${i}`]);
      const status = JSON.parse(await etcdctlOk(ep, ["endpoint", "status", "-w", "json"]))[0];
      strictEqual(status.Status.version, "3.4.23");
      strictEqual(status.Status.leader, status.Status.header.member_id);
      strictEqual(status.Status.raftIndex, status.Status.raftAppliedIndex);
      ok(status.Status.dbSize > 0 && status.Status.dbSizeInUse <= status.Status.dbSize);
      const health = await etcdctl(ep, ["endpoint", "health"]);
      strictEqual(health.code, 0);
      match(health.stdout + health.stderr, /is healthy: successfully committed proposal/);
      const members = await etcdctlOk(ep, ["member", "list"]);
      match(
        members,
        /^[0-9a-f]+, started, s1, http:\/\/127\.0\.0\.1:23921, http:\/\/127\.0\.0\.1:23920, false\n$/,
      );
      const before = JSON.parse(await etcdctlOk(ep, ["endpoint", "hashkv", "-w", "json"]))[0];
      strictEqual(
        await etcdctlOk(ep, ["defrag"]),
        `Finished defragmenting etcd member[${ep}]\n`,
      );
      const after = JSON.parse(await etcdctlOk(ep, ["endpoint", "hashkv", "-w", "json"]))[0];
      strictEqual(after.HashKV.hash, before.HashKV.hash, "defrag keeps the key-value hash");
      const file = `${dataDir}.snapshot.db`;
      try {
        match(await etcdctlOk(ep, ["snapshot", "save", file]), /Snapshot saved at/);
        const table = JSON.parse(await etcdctlOk(ep, ["snapshot", "status", file, "-w", "json"]));
        strictEqual(table.revision, 21);
        const restored = `${dataDir}.restored`;
        const restore = new Deno.Command("/usr/bin/etcdctl", {
          args: [
            "snapshot",
            "restore",
            file,
            "--data-dir",
            restored,
            "--name",
            "s1",
            "--initial-cluster",
            "s1=http://127.0.0.1:23923",
            "--initial-advertise-peer-urls",
            "http://127.0.0.1:23923",
          ],
          env: { ETCDCTL_API: "3" },
          stdout: "null",
          stderr: "piped",
        });
        const out = await restore.output();
        strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
        const second = await startDetcd({
          dataDir: restored,
          clientPort: 23922,
          peerPort: 23923,
          fast: true,
        });
        try {
          const values = await etcdctlOk(second.endpoint, [
            "get",
            "s",
            "--prefix",
            "--print-value-only",
          ]);
          strictEqual(values.split("\n").length - 1, 20);
          match(values, /^value-0\nvalue-1\nvalue-10\n/);
          strictEqual(await etcdctlOk(second.endpoint, ["put", "after", "restore"]), "OK\n");
        } finally {
          await second.kill();
          await Deno.remove(restored, { recursive: true });
        }
      } finally {
        await Deno.remove(file).catch(() => {});
      }
    }),
});

Deno.test({
  name: "etcdctl: a tiny quota raises NOSPACE; compact, defrag and alarm disarm recover",
  ..._opts,
  fn: () =>
    _withDetcd([23924, 23925], ["--quota-backend-bytes", "300000"], async (p) => {
      const ep = p.endpoint;
      const big = "x".repeat(60_000);
      let failure = "";
      for (let i = 0; i < 30 && failure === ""; i++) {
        const result = await etcdctl(ep, ["put", "big", big]);
        if (result.code !== 0) failure = result.stderr;
      }
      match(failure, /etcdserver: mvcc: database space exceeded/);
      match(await etcdctlOk(ep, ["alarm", "list"]), /^memberID:\d+ alarm:NOSPACE \n$/);
      const blocked = await etcdctl(ep, ["put", "small", "1"]);
      match(blocked.stderr, /etcdserver: mvcc: database space exceeded/);
      // Reads and deletes still work under the alarm.
      strictEqual(await etcdctlOk(ep, ["get", "small"]), "");
      const rev = JSON.parse(await etcdctlOk(ep, ["get", "big", "-w", "json"])).header.revision;
      await etcdctlOk(ep, ["compact", String(rev), "--physical"]);
      await etcdctlOk(ep, ["defrag"]);
      match(await etcdctlOk(ep, ["alarm", "disarm"]), /^memberID:\d+ alarm:NOSPACE \n$/);
      strictEqual(await etcdctlOk(ep, ["alarm", "list"]), "");
      strictEqual(await etcdctlOk(ep, ["put", "small", "1"]), "OK\n");
    }),
});
