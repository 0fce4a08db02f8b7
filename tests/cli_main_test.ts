/**
 * Goal: main.ts wires a working member from every configuration source etcd has, stops cleanly
 * on SIGTERM, and its `inspect` subcommand reads the files the member wrote.
 * Method: start detcd (or real etcd, see tests/_harness.ts diffTarget) from a YAML config file
 * and from ETCD_* variables alone, check the effect through etcdctl (member name, served
 * port), stop it with SIGTERM and check the exit status, then run `main.ts inspect`.
 */
import { ok, strictEqual } from "node:assert/strict";
import { diffTarget, etcdctl, REPO_ROOT, run, startMember } from "./_harness.ts";

Deno.test("a YAML --config-file configures the member; SIGTERM stops it with status 0", async () => {
  const impl = await diffTarget();
  const dir = await Deno.makeTempDir({ prefix: "detcd-cfg-" });
  try {
    const yaml = [
      "name: from-yaml",
      `data-dir: ${dir}/data`,
      "listen-client-urls: http://127.0.0.1:23890",
      "advertise-client-urls: http://127.0.0.1:23890",
      "listen-peer-urls: http://127.0.0.1:23891",
      "initial-advertise-peer-urls: http://127.0.0.1:23891",
      "initial-cluster: from-yaml=http://127.0.0.1:23891",
      "initial-cluster-token: yaml-token",
      "max-txn-ops: 2",
      "log-outputs: [stderr]",
    ].join("\n");
    await Deno.writeTextFile(`${dir}/etcd.yml`, yaml);
    const member = await startMember({
      impl,
      clientPort: 23890,
      peerPort: 23891,
      dataDir: `${dir}/data`,
      rawArgs: ["--config-file", `${dir}/etcd.yml`, "--name", "ignored-flag"],
    });
    let stopped;
    try {
      const list = await etcdctl(member.endpoint, ["member", "list"]);
      ok(list.stdout.includes(", started, from-yaml, http://127.0.0.1:23891"), list.stdout);
      // max-txn-ops from the file is in force: three operations are one too many.
      const txn = await etcdctl(member.endpoint, ["txn"], {
        stdin: "\nput a 1\nput b 2\nput c 3\n\n\n",
      });
      ok(txn.stderr.includes("etcdserver: too many operations in txn request"), txn.stderr);
      strictEqual((await etcdctl(member.endpoint, ["put", "kept", "v"])).code, 0);
    } finally {
      stopped = await member.stop();
    }
    // detcd exits 0 after a clean stop; etcd re-raises the signal after its cleanup (143).
    strictEqual(stopped.code, impl === "detcd" ? 0 : 143, member.output().slice(-2000));
    ok(member.output().includes("received terminated signal, shutting down"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ETCD_* variables alone configure the member; inspect reads its files", async () => {
  const impl = await diffTarget();
  const dir = await Deno.makeTempDir({ prefix: "detcd-env-" });
  try {
    const env = {
      ETCD_NAME: "from-env",
      ETCD_DATA_DIR: `${dir}/data`,
      ETCD_LISTEN_CLIENT_URLS: "http://127.0.0.1:23892",
      ETCD_ADVERTISE_CLIENT_URLS: "http://127.0.0.1:23892",
      ETCD_LISTEN_PEER_URLS: "http://127.0.0.1:23893",
      ETCD_INITIAL_ADVERTISE_PEER_URLS: "http://127.0.0.1:23893",
      ETCD_INITIAL_CLUSTER: "from-env=http://127.0.0.1:23893",
    };
    const member = await startMember({
      impl,
      clientPort: 23892,
      peerPort: 23893,
      dataDir: `${dir}/data`,
      rawArgs: [],
      env,
    });
    try {
      const list = await etcdctl(member.endpoint, ["member", "list"]);
      ok(list.stdout.includes(", started, from-env, http://127.0.0.1:23893"), list.stdout);
      strictEqual((await etcdctl(member.endpoint, ["put", "inspected", "v"])).code, 0);
    } finally {
      await member.stop();
    }
    const detcd = (args: string[]) =>
      run(Deno.execPath(), ["run", "-A", `${REPO_ROOT}/main.ts`, "inspect", ...args]);
    const wal = await detcd(["wal", `${dir}/data/member/wal`]);
    strictEqual(wal.code, 0, wal.stderr);
    ok(/records: .*entry=\d+/.test(wal.stdout), wal.stdout);
    const db = await detcd(["db", `${dir}/data/member/snap/db`, "--json"]);
    strictEqual(db.code, 0, db.stderr);
    strictEqual(JSON.parse(db.stdout).pageSize, 4096);
    const bad = await detcd(["db"]);
    strictEqual(bad.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
