/**
 * Differential: every path of etcd 3.4's JSON gateway (each `post:` binding of rpc.proto,
 * additional bindings included, v3election.proto's and v3lock.proto's) against the real etcd
 * and against detcd, with the same requests in the same order.
 *
 * Goal: equal HTTP status codes and equal bodies, 64-bit integers exact (lease IDs past 2^53
 * sent as JSON numbers and as strings), the same error bodies for bad input, the same
 * election and lock behaviour (waiting, hand-over, not-leader and no-leader errors).
 * Method: one fresh member of each (etcd on ports 35001/35002, detcd on 35011/35012); each
 * request's status and JSON body recorded; what must differ between two members is masked:
 * cluster and member IDs, raft indexes, db sizes, random lease and member IDs (and the lease
 * part of election and lock keys), the snapshot's bytes, remaining TTLs. Streams are read to
 * their first line. Auth paths are compared too, but detcd does not serve the Auth API yet:
 * there it must answer grpc-gateway's UNIMPLEMENTED (501) body, and the test says so.
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { type Impl, type Member, startMember } from "./_harness.ts";

/** A lease ID past 2^53, given by the client (as etcd's TestV3CurlLease tests do). */
const BIG_LEASE = "2495754994368113375";
const BIG_LEASE_2 = "7587869474125496411";

const b64 = (text: string) => btoa(text);

/** One request of the script: path and body, or a function of earlier answers. */
interface Step {
  path: string;
  body: string | ((vars: Record<string, string>) => string);
  /** Read a stream's first line only. */
  stream?: boolean;
  /** Method other than POST. */
  method?: string;
  /** Keeps values of the answer for later steps. */
  capture?: (json: Record<string, unknown>, vars: Record<string, string>) => void;
  /** Paths detcd does not serve yet: detcd must answer UNIMPLEMENTED. */
  notServedByDetcd?: boolean;
  /** A difference outside the gateway, reported by the test rather than failed on. */
  knownDifference?: string;
}

const STEPS: Step[] = [
  // KV.
  { path: "/v3/kv/put", body: `{"key":"${b64("foo")}","value":"${b64("bar")}"}` },
  { path: "/v3/kv/put", body: `{"key":"${b64("foo")}","value":"${b64("baz")}","prev_kv":true}` },
  { path: "/v3/kv/range", body: `{"key":"${b64("foo")}"}` },
  { path: "/v3beta/kv/range", body: `{"key":"${b64("f")}","range_end":"${b64("g")}"}` },
  { path: "/v3/kv/range", body: `{"key":"${b64("foo")}","revision":"99"}` },
  { path: "/v3/kv/range", body: `{}` },
  { path: "/v3/kv/range", body: `{"key":` },
  { path: "/v3/kv/range", body: `{"key":"${b64("foo")}","limit":"abc"}` },
  { path: "/v3/kv/range", body: `{"key":"${b64("foo")}","revision":18446744073709551616}` },
  { path: "/v3/kv/range", body: `{"key":"${b64("foo")}"}`, method: "GET" },
  { path: "/v3/kv/nothing", body: `{}` },
  {
    path: "/v3/kv/txn",
    body: JSON.stringify({
      compare: [{ key: b64("foo"), result: "EQUAL", target: "VALUE", value: b64("baz") }],
      success: [{ request_put: { key: b64("t"), value: b64("1") } }],
      failure: [{ request_range: { key: b64("foo") } }],
    }),
  },
  { path: "/v3/kv/deleterange", body: `{"key":"${b64("t")}","prev_kv":true}` },
  { path: "/v3/kv/compaction", body: `{"revision":"2"}` },
  { path: "/v3/kv/compaction", body: `{"revision":"2"}` },
  // Leases, with client-chosen IDs past 2^53 as numbers and as strings.
  { path: "/v3/lease/grant", body: `{"TTL":60,"ID":${BIG_LEASE}}` },
  { path: "/v3/lease/grant", body: `{"TTL":"60","ID":"${BIG_LEASE_2}"}` },
  { path: "/v3/lease/grant", body: `{"TTL":60,"ID":${BIG_LEASE}}` },
  { path: "/v3/kv/put", body: `{"key":"${b64("leased")}","value":"","lease":${BIG_LEASE}}` },
  { path: "/v3/kv/range", body: `{"key":"${b64("leased")}"}` },
  { path: "/v3/lease/timetolive", body: `{"ID":${BIG_LEASE},"keys":true}` },
  { path: "/v3/kv/lease/timetolive", body: `{"ID":"${BIG_LEASE_2}"}` },
  { path: "/v3/lease/leases", body: `{}` },
  { path: "/v3/kv/lease/leases", body: `{}` },
  { path: "/v3/lease/keepalive", body: `{"ID":${BIG_LEASE}}`, stream: true },
  { path: "/v3/lease/revoke", body: `{"ID":${BIG_LEASE_2}}` },
  { path: "/v3/kv/lease/revoke", body: `{"ID":"${BIG_LEASE}"}` },
  { path: "/v3/kv/lease/revoke", body: `{"ID":"${BIG_LEASE}"}` },
  { path: "/v3/kv/range", body: `{"key":"${b64("leased")}"}` },
  { path: "/v3/lease/timetolive", body: `{"ID":${BIG_LEASE}}` },
  // Watch: the created line.
  {
    path: "/v3/watch",
    body: `{"create_request":{"key":"${b64("foo")}","start_revision":"3"}}`,
    stream: true,
  },
  // Cluster: a learner that never starts, so that quorum is unaffected.
  { path: "/v3/cluster/member/list", body: `{}` },
  {
    path: "/v3/cluster/member/add",
    body: `{"peerURLs":["http://127.0.0.1:35099"],"isLearner":true}`,
    capture: (json, vars) => {
      const member = json.member as Record<string, unknown> | undefined;
      vars.learner = String(member?.ID ?? "0");
    },
  },
  {
    path: "/v3/cluster/member/add",
    body: `{"peerURLs":["http://127.0.0.1:35099"]}`,
    knownDifference: "membership: a second add of the same peer URLs within the same second " +
      "fails on etcd with 'member ID already exist' (IDs hash the add time in seconds)",
  },
  { path: "/v3/cluster/member/promote", body: (v) => `{"ID":"${v.learner}"}` },
  {
    path: "/v3/cluster/member/update",
    body: (v) => `{"ID":"${v.learner}","peerURLs":["http://127.0.0.1:35098"]}`,
    knownDifference: "membership: etcd 3.4 drops a learner's IsLearner on a peer URL update",
  },
  { path: "/v3/cluster/member/remove", body: (v) => `{"ID":"${v.learner}"}` },
  { path: "/v3/cluster/member/remove", body: (v) => `{"ID":"${v.learner}"}` },
  // Maintenance.
  { path: "/v3/maintenance/alarm", body: `{"action":"GET"}` },
  { path: "/v3/maintenance/status", body: `{}` },
  { path: "/v3/maintenance/defragment", body: `{}` },
  { path: "/v3/maintenance/hash", body: `{"revision":"0"}` },
  { path: "/v3/maintenance/snapshot", body: `{}`, stream: true },
  { path: "/v3/maintenance/transfer-leadership", body: `{"targetID":"1"}` },
  // Election: campaign with a lease, observe, proclaim, a second candidate, resign.
  { path: "/v3/lease/grant", body: `{"TTL":60,"ID":${BIG_LEASE_2}}` },
  { path: "/v3/election/leader", body: `{"name":"${b64("el")}"}` },
  {
    path: "/v3/election/campaign",
    body: `{"name":"${b64("el")}","value":"${b64("v1")}","lease":${BIG_LEASE_2}}`,
    capture: (json, vars) => void (vars.leader = JSON.stringify(json.leader)),
  },
  { path: "/v3/election/leader", body: `{"name":"${b64("el")}"}` },
  { path: "/v3/election/observe", body: `{"name":"${b64("el")}"}`, stream: true },
  { path: "/v3/election/proclaim", body: (v) => `{"leader":${v.leader},"value":"${b64("v2")}"}` },
  {
    path: "/v3/election/proclaim",
    body: `{"leader":{"name":"${b64("el")}","key":"${b64("el/x")}","rev":"1","lease":"1"}}`,
  },
  { path: "/v3/election/proclaim", body: `{"value":"${b64("v2")}"}` },
  { path: "/v3/election/campaign", body: `{"name":"${b64("el")}","lease":"12345"}` },
  { path: "/v3/election/resign", body: `{}` },
  { path: "/v3/election/resign", body: (v) => `{"leader":${v.leader}}` },
  { path: "/v3/election/leader", body: `{"name":"${b64("el")}"}` },
  // A campaign without a lease gets a 60 s one from the server.
  { path: "/v3/election/campaign", body: `{"name":"${b64("el2")}","value":"${b64("x")}"}` },
  // Lock: with and without a lease, unlock.
  {
    path: "/v3/lock/lock",
    body: `{"name":"${b64("lk")}","lease":${BIG_LEASE_2}}`,
    capture: (json, vars) => void (vars.lockKey = String(json.key)),
  },
  { path: "/v3/kv/range", body: `{"key":"${b64("lk/")}","range_end":"${b64("lk0")}"}` },
  { path: "/v3/lock/unlock", body: (v) => `{"key":"${v.lockKey}"}` },
  { path: "/v3/lock/lock", body: `{"name":"${b64("lk")}"}` },
  { path: "/v3/lock/lock", body: `{"name":"${b64("lk2")}","lease":"999"}` },
  // Auth (not served by detcd yet).
  { path: "/v3/auth/user/list", body: `{}`, notServedByDetcd: true },
  { path: "/v3/auth/role/list", body: `{}`, notServedByDetcd: true },
  { path: "/v3/auth/user/add", body: `{"name":"u","password":"p"}`, notServedByDetcd: true },
  { path: "/v3/auth/user/get", body: `{"name":"u"}`, notServedByDetcd: true },
  { path: "/v3/auth/user/changepw", body: `{"name":"u","password":"q"}`, notServedByDetcd: true },
  { path: "/v3/auth/role/add", body: `{"name":"r"}`, notServedByDetcd: true },
  { path: "/v3/auth/role/get", body: `{"role":"r"}`, notServedByDetcd: true },
  {
    path: "/v3/auth/role/grant",
    body: `{"name":"r","perm":{"permType":"READ","key":"${b64("a")}"}}`,
    notServedByDetcd: true,
  },
  {
    path: "/v3/auth/role/revoke",
    body: `{"role":"r","key":"${b64("a")}"}`,
    notServedByDetcd: true,
  },
  { path: "/v3/auth/user/grant", body: `{"user":"u","role":"r"}`, notServedByDetcd: true },
  { path: "/v3/auth/user/revoke", body: `{"name":"u","role":"r"}`, notServedByDetcd: true },
  { path: "/v3/auth/authenticate", body: `{"name":"u","password":"q"}`, notServedByDetcd: true },
  { path: "/v3/auth/enable", body: `{}`, notServedByDetcd: true },
  { path: "/v3/auth/disable", body: `{}`, notServedByDetcd: true },
  { path: "/v3/auth/role/delete", body: `{"role":"r"}`, notServedByDetcd: true },
  { path: "/v3/auth/user/delete", body: `{"name":"u"}`, notServedByDetcd: true },
];

/** Keys whose values differ between two members by nature. */
const MASKED = new Set([
  "cluster_id",
  "member_id",
  "raft_index",
  "raft_applied_index",
  "dbSize",
  "dbSizeInUse",
  "leader",
  "blob",
  "remaining_bytes",
  "raftIndex",
  "raftAppliedIndex",
  // Maintenance.Hash covers the whole db, member records (with their IDs) included.
  "hash",
]);

/** The ports of each side, replaced by their role. */
const PORTS: Record<string, string> = {
  "35001": "<client>",
  "35011": "<client>",
  "35002": "<peer>",
  "35012": "<peer>",
};

/** Masks what must differ; values of the random IDs are replaced by their first sighting. */
function _mask(value: unknown, ids: Map<string, string>, key = ""): unknown {
  if (Array.isArray(value)) {
    const items = value.map((item) => _mask(item, ids, key));
    // Members come sorted by their (random) IDs: compare them in peer URL order.
    if (key === "members") items.sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
    return items;
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [name, inner] of Object.entries(value)) {
      // "leader" is also the election's leader key, which is compared field by field.
      const masked = MASKED.has(name) && !(name === "leader" && typeof inner === "object");
      out[name] = masked ? "<masked>" : _mask(inner, ids, name);
    }
    return out;
  }
  if (typeof value !== "string") return value;
  return _maskString(
    value.replace(/127\.0\.0\.1:(\d+)/g, (all, port) => PORTS[port] ?? all),
    ids,
    key,
  );
}

function _maskString(value: string, ids: Map<string, string>, key: string): string {
  // A server-chosen ID (member, lease) or key holding one: the n-th distinct one seen.
  const random = /^(\d{15,20})$/.exec(value);
  if (random !== null && (key === "ID" || key === "lease" || key === "memberID")) {
    const known = [BIG_LEASE, BIG_LEASE_2].includes(value);
    if (!known) {
      if (!ids.has(value)) ids.set(value, `<id${ids.size}>`);
      return ids.get(value)!;
    }
  }
  if (key === "key" && value.length > 8) {
    // Election and lock keys: <name>/<lease hex>, base64.
    const text = atob(value);
    const match = /^(.*\/)([0-9a-f]{12,16})$/.exec(text);
    if (match !== null && !text.endsWith(BigInt(BIG_LEASE_2).toString(16))) {
      return `${match[1]}<lease>`;
    }
  }
  if (key === "TTL" && /^\d+$/.test(value) && Number(value) > 50 && Number(value) < 60) {
    return "<ttl>"; // a remaining TTL that may have ticked
  }
  return value;
}

async function _request(
  member: Member,
  step: Step,
  vars: Record<string, string>,
): Promise<{ status: number; body: unknown }> {
  const body = typeof step.body === "function" ? step.body(vars) : step.body;
  const method = step.method ?? "POST";
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    const response = await fetch(`http://${member.endpoint}${step.path}`, {
      method,
      ...(method === "GET" ? {} : { body }),
      signal: controller.signal,
    });
    let text: string;
    if (step.stream === true && response.status === 200) {
      const reader = response.body!.getReader();
      let buffered = "";
      const decoder = new TextDecoder();
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
      }
      await reader.cancel();
      text = buffered.split("\n")[0]!;
    } else {
      text = await response.text();
    }
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Plain text (grpc-gateway's 405 and the mux's 404).
    }
    if (typeof parsed === "object" && parsed !== null) step.capture?.(parsed as never, vars);
    return { status: response.status, body: parsed };
  } finally {
    clearTimeout(timer);
  }
}

async function _transcript(impl: Impl, clientPort: number, peerPort: number) {
  const member = await startMember({ impl, clientPort, peerPort });
  const vars: Record<string, string> = {};
  const answers: { status: number; body: unknown }[] = [];
  try {
    for (const step of STEPS) answers.push(await _request(member, step, vars));
  } finally {
    await member.stop();
  }
  return answers;
}

Deno.test({
  name: "gateway: every etcd 3.4 gateway path answers as the real etcd does",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const [etcd, detcd] = await Promise.all([
      _transcript("etcd", 35001, 35002),
      _transcript("detcd", 35011, 35012),
    ]);
    const etcdIds = new Map<string, string>();
    const detcdIds = new Map<string, string>();
    const notServed: string[] = [];
    const differences: string[] = [];
    for (const [index, step] of STEPS.entries()) {
      const expected = etcd[index]!;
      const actual = detcd[index]!;
      const label = `${step.method ?? "POST"} ${step.path} ${
        typeof step.body === "string" ? step.body : "(computed)"
      }`;
      if (step.notServedByDetcd === true && actual.status === 501) {
        const error = (actual.body as { error?: string }).error ?? "";
        ok(error.startsWith("unknown method "), label);
        deepStrictEqual(actual.body, { error, message: error, code: 12 }, label);
        notServed.push(step.path);
        continue;
      }
      const want = { status: expected.status, body: _mask(expected.body, etcdIds) };
      const got = { status: actual.status, body: _mask(actual.body, detcdIds) };
      if (!isDeepStrictEqual(got, want) && step.knownDifference !== undefined) {
        console.log(`known difference, ${label}: ${step.knownDifference}`);
      } else if (!isDeepStrictEqual(got, want)) {
        differences.push(
          `${label}\n  etcd:  ${JSON.stringify(want)}\n  detcd: ${JSON.stringify(got)}`,
        );
      }
    }
    equal(differences.length, 0, `answers differ:\n${differences.join("\n")}`);
    if (notServed.length > 0) {
      console.log(`not served by detcd yet (UNIMPLEMENTED): ${notServed.join(" ")}`);
    }
  },
});
