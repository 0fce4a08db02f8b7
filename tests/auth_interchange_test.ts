/**
 * Auth state moves between the real etcd and detcd in a data dir, in both directions, and is
 * enforced on the other side; and the npm `etcd3` client authenticates with a user and
 * password against detcd.
 *
 * Goal: an operator who moves a data dir with auth enabled from etcd to detcd (or back) keeps
 * its users, roles, permissions and the enabled flag: anonymous and unauthorised requests are
 * refused (gRPC and the JSON gateway alike), authorised ones succeed, passwords still work.
 * Method: one implementation writes the state with etcdctl and stops; the other opens the
 * same data dir; etcdctl and the gateway check what it enforces.
 */

import { ok, strictEqual } from "node:assert/strict";
import { Etcd3 } from "etcd3";
import {
  etcdctl,
  type Impl,
  memberArgs,
  type RunResult,
  type ServerProcess,
  spawnServer,
  startMember,
} from "./_harness.ts";

const ROOT = ["--user", "root:rootpw"];
const ALICE = ["--user", "alice:apw"];

function expectOk(r: RunResult, what: string): string {
  strictEqual(r.code, 0, `${what}: ${r.stderr}`);
  return r.stdout;
}

function expectError(r: RunResult, words: string, what: string): void {
  ok(r.code !== 0, `${what}: succeeded: ${r.stdout}`);
  ok(r.stderr.includes(words), `${what}: expected "${words}" in ${r.stderr}`);
}

/** Users, roles, a permission, auth on, and keys written as root. */
async function writeAuthState(endpoint: string): Promise<void> {
  const steps = [
    ["user", "add", "root:rootpw"],
    ["role", "add", "root"],
    ["user", "grant-role", "root", "root"],
    ["user", "add", "alice:apw"],
    ["user", "add", "bob:bpw"],
    ["role", "add", "app"],
    ["role", "grant-permission", "app", "readwrite", "app/", "--prefix=true"],
    ["user", "grant-role", "alice", "app"],
    ["auth", "enable"],
  ];
  for (const step of steps) expectOk(await etcdctl(endpoint, step), step.join(" "));
  expectOk(await etcdctl(endpoint, [...ROOT, "put", "secret", "s3cret"]), "root put secret");
  expectOk(await etcdctl(endpoint, [...ROOT, "put", "app/x", "1"]), "root put app/x");
}

/** What the member serving the moved data dir must enforce. */
async function checkEnforced(endpoint: string): Promise<void> {
  expectError(await etcdctl(endpoint, ["get", "secret"]), "user name is empty", "anonymous get");
  expectError(await etcdctl(endpoint, ["put", "secret", "x"]), "user name is empty", "anon put");
  expectError(
    await etcdctl(endpoint, [...ALICE, "get", "secret"]),
    "permission denied",
    "alice get secret",
  );
  expectError(
    await etcdctl(endpoint, ["--user", "bob:bpw", "get", "app/x"]),
    "permission denied",
    "bob (no role) get app/x",
  );
  expectError(
    await etcdctl(endpoint, ["--user", "alice:wrong", "get", "app/x"]),
    "authentication failed",
    "wrong password",
  );
  strictEqual(
    expectOk(await etcdctl(endpoint, [...ALICE, "get", "app/x"]), "alice get"),
    "app/x\n1\n",
  );
  expectOk(await etcdctl(endpoint, [...ALICE, "put", "app/y", "2"]), "alice put app/y");
  strictEqual(
    expectOk(await etcdctl(endpoint, [...ROOT, "get", "secret", "--print-value-only"]), "root"),
    "s3cret\n",
  );
  strictEqual(
    expectOk(await etcdctl(endpoint, [...ROOT, "user", "list"]), "users"),
    "alice\nbob\nroot\n",
  );
  // The gateway: anonymous refused, a token from /v3/auth/authenticate accepted.
  const base = `http://${endpoint}`;
  const key = btoa("secret");
  const anonymous = await fetch(`${base}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify({ key }),
  });
  const anonymousBody = await anonymous.text();
  ok(anonymous.status !== 200, `gateway anonymous range answered ${anonymous.status}`);
  ok(anonymousBody.includes("user name is empty"), anonymousBody);
  const auth = await fetch(`${base}/v3/auth/authenticate`, {
    method: "POST",
    body: JSON.stringify({ name: "root", password: "rootpw" }),
  });
  const { token } = await auth.json() as { token: string };
  ok(typeof token === "string" && token.length > 0, "gateway token");
  const asRoot = await fetch(`${base}/v3/kv/range`, {
    method: "POST",
    headers: { Authorization: token },
    body: JSON.stringify({ key }),
  });
  const body = await asRoot.json() as { kvs?: { value: string }[] };
  strictEqual(atob(body.kvs?.[0]?.value ?? ""), "s3cret");
}

/**
 * Starts a member on a data dir where auth is on: the harness's readiness probe is anonymous
 * and would be refused, so root asks here.
 */
async function startAuthEnabled(impl: Impl, port: number, dataDir: string): Promise<ServerProcess> {
  const args = memberArgs({ impl, clientPort: port, peerPort: port + 1 }, dataDir);
  const process = spawnServer(impl, args, {
    endpoint: `127.0.0.1:${port}`,
    env: { ETCD_UNSUPPORTED_ARCH: "" },
  });
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (process.exited !== undefined) break;
    const health = await etcdctl(process.endpoint, [...ROOT, "endpoint", "health"], {
      timeoutMs: 3000,
    });
    if (health.code === 0) return process;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await process.stop(1000);
  throw new Error(`${impl} did not become ready:\n${process.log.slice(-3000)}`);
}

async function moveDataDir(writer: Impl, reader: Impl, port: number): Promise<void> {
  const dataDir = `${await Deno.makeTempDir({ prefix: "detcd-auth-move-" })}/data`;
  const first = await startMember({ impl: writer, clientPort: port, peerPort: port + 1, dataDir });
  try {
    await writeAuthState(first.endpoint);
  } finally {
    await first.stop();
  }
  const second = await startAuthEnabled(reader, port, dataDir);
  try {
    await checkEnforced(second.endpoint);
  } finally {
    await second.stop();
    await Deno.remove(dataDir.slice(0, -"/data".length), { recursive: true });
  }
}

Deno.test({
  name: "a data dir with auth written by etcd is enforced by detcd",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => moveDataDir("etcd", "detcd", 31020),
});

Deno.test({
  name: "a data dir with auth written by detcd is enforced by etcd",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () => moveDataDir("detcd", "etcd", 31024),
});

Deno.test({
  name: "the etcd3 client authenticates with a user and password against detcd",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const member = await startMember({ impl: "detcd", clientPort: 31028, peerPort: 31029 });
    const hosts = `http://${member.endpoint}`;
    const admin = new Etcd3({ hosts });
    try {
      await admin.user("root").create("rootpw");
      await admin.role("root").create();
      await admin.user("root").addRole("root");
      const role = await admin.role("app").create();
      await role.grant({ permission: "Readwrite", range: admin.range({ prefix: "app/" }) });
      const alice = await admin.user("alice").create("apw");
      await alice.addRole("app");
      await admin.auth.authEnable();
      const asAlice = new Etcd3({ hosts, auth: { username: "alice", password: "apw" } });
      const anonymous = new Etcd3({ hosts });
      const wrong = new Etcd3({ hosts, auth: { username: "alice", password: "nope" } });
      try {
        await asAlice.put("app/k").value("v");
        strictEqual(await asAlice.get("app/k").string(), "v");
        let refused = "";
        await asAlice.put("other").value("v").catch((e: Error) => refused = e.message);
        ok(refused.includes("permission denied"), refused);
        refused = "";
        await anonymous.get("app/k").string().catch((e: Error) => refused = e.message);
        ok(refused.includes("user name is empty"), refused);
        refused = "";
        await wrong.get("app/k").string().catch((e: Error) => refused = e.message);
        ok(refused.includes("authentication failed"), refused);
        // Watch needs read permission at creation; events then flow.
        const watcher = await asAlice.watch().prefix("app/").create();
        const seen = new Promise<string>((resolve) =>
          watcher.on("put", (kv) => resolve(kv.value.toString()))
        );
        await asAlice.put("app/k").value("w");
        strictEqual(await seen, "w");
        await watcher.cancel();
      } finally {
        asAlice.close();
        anonymous.close();
        wrong.close();
      }
    } finally {
      admin.close();
      await member.stop();
    }
  },
});
