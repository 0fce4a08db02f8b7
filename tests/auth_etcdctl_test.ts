/**
 * Access control through the real etcdctl, on detcd and on the real etcd, compared.
 *
 * Goal: an operator's whole auth session reads the same on both: users and roles created,
 * auth enable refused without root then accepted, anonymous, wrong-password and
 * unauthorised calls refused with etcd's words, a user reading itself and its role, a
 * prefix permission revoked and honoured at once, admin-only maintenance refused, root
 * protected while auth is on, auth disabled and anonymous access back.
 * Method: the same etcdctl script against one real etcd and one detcd member; for every step
 * the exit code, the normalised stdout and the `Error:` line of stderr must be equal.
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { etcdctl, type Impl, normalize, startMember } from "./_harness.ts";

const ROOT = ["--user", "root:rootpw"];
const ALICE = ["--user", "alice:apw"];

/** The script: etcdctl arguments, one step each. */
const STEPS: string[][] = [
  ["auth", "enable"],
  ["user", "add", "root:rootpw"],
  ["role", "add", "root"],
  ["user", "grant-role", "root", "root"],
  ["user", "add", "alice:apw"],
  ["user", "add", "alice:again"],
  ["role", "add", "r"],
  ["role", "grant-permission", "r", "readwrite", "foo", "--prefix=true"],
  ["role", "grant-permission", "r", "read", "bar"],
  ["role", "grant-permission", "nope", "read", "bar"],
  ["user", "grant-role", "alice", "r"],
  ["user", "grant-role", "alice", "nope"],
  ["auth", "enable"],
  ["auth", "enable"],
  ["put", "foo1", "v"],
  ["get", "foo1"],
  [...ROOT, "put", "secret", "s"],
  [...ALICE, "put", "foo1", "v1"],
  [...ALICE, "get", "foo", "--prefix"],
  [...ALICE, "put", "bar", "b"],
  [...ALICE, "get", "bar"],
  [...ALICE, "get", "secret"],
  [...ALICE, "del", "foo1"],
  [...ALICE, "get", "", "--from-key"],
  ["--user", "alice:wrong", "get", "foo1"],
  ["--user", "ghost:x", "get", "foo1"],
  [...ALICE, "user", "list"],
  [...ALICE, "user", "get", "alice"],
  [...ALICE, "user", "get", "root"],
  [...ALICE, "role", "get", "r"],
  [...ALICE, "role", "get", "root"],
  [...ALICE, "user", "add", "eve:e"],
  [...ALICE, "defrag"],
  [...ALICE, "endpoint", "hashkv"],
  [...ALICE, "compaction", "1"],
  ["defrag"],
  ["endpoint", "hash"],
  ["--user", "root:rootpw", "endpoint", "hashkv"],
  ["--user", "alice:apw", "snapshot", "save", "/dev/null"],
  ["--user", "alice:apw", "member", "list"],
  ["--user", "alice:apw", "alarm", "list"],
  ["--user", "alice:apw", "lease", "grant", "100"],
  [...ROOT, "role", "revoke-permission", "r", "foo", "--prefix=true"],
  [...ROOT, "role", "revoke-permission", "r", "foo", "--prefix=true"],
  [...ALICE, "get", "foo1"],
  [...ROOT, "user", "delete", "root"],
  [...ROOT, "user", "revoke-role", "root", "root"],
  [...ROOT, "role", "delete", "root"],
  [...ROOT, "user", "revoke-role", "alice", "nope"],
  [...ROOT, "user", "list"],
  [...ROOT, "role", "list"],
  [...ROOT, "role", "get", "r"],
  [...ROOT, "user", "passwd", "alice", "--interactive=false"],
  [...ALICE, "get", "bar"],
  ["--user", "alice:apw2", "get", "bar"],
  [...ROOT, "user", "delete", "alice"],
  ["--user", "alice:apw2", "get", "bar"],
  [...ROOT, "auth", "disable"],
  ["get", "secret"],
  ["user", "list"],
];

/** What a step printed, reduced to what both implementations must agree on. */
function outcome(code: number, stdout: string, stderr: string): string {
  const error = stderr.split("\n").filter((line) => /^(Error:|Failed)/.test(line)).join(";");
  return `${code}|${normalize(stdout).trim()}|${normalize(error)}`;
}

async function session(impl: Impl, clientPort: number): Promise<string[]> {
  const member = await startMember({ impl, clientPort, peerPort: clientPort + 1 });
  try {
    const results: string[] = [];
    for (const step of STEPS) {
      const stdin = step.includes("--interactive=false") ? "apw2\n" : undefined;
      const r = await etcdctl(member.endpoint, step, stdin === undefined ? {} : { stdin });
      results.push(`${step.join(" ")} => ${outcome(r.code, r.stdout, r.stderr)}`);
    }
    return results;
  } finally {
    await member.stop();
  }
}

Deno.test({
  name: "auth with etcdctl: detcd answers every step as etcd does",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const expected = await session("etcd", 31010);
    if (Deno.env.get("AUTH_TEST_PRINT") === "1") console.log(expected.join("\n"));
    // The script does exercise the refusals (else the comparison would prove little).
    for (
      const words of [
        "root user does not exist",
        "user name is empty",
        "permission denied",
        "authentication failed, invalid user ID or password",
        "invalid auth management",
        "user name already exists",
        "role name not found",
        "permission is not granted to the role",
        "role is not granted to the user",
      ]
    ) {
      ok(expected.some((line) => line.includes(`Error: etcdserver: ${words}`)), words);
    }
    const actual = await session("detcd", 31012);
    deepStrictEqual(actual, expected);
  },
});
