/**
 * The v2 keys API of detcd answers like etcd 3.4's: the same sequence of HTTP calls (writes,
 * CAS and CAD failures, directories, in-order keys, TTL expiry, watches from history and the
 * cleared window, a long poll, bad input, unclean paths, methods) runs against the real etcd
 * with `--enable-v2` and against detcd; status codes, bodies and the v2 headers must be equal.
 *
 * Method: curl (`--path-as-is`, so that `..` reaches the server) sends each call; indexes are
 * made relative to the first write's (membership writes before it differ in order between
 * runs), timestamps and TTLs are masked, numbers inside error causes too.
 * Ports 25000-25003.
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { type Impl, startMember } from "./_harness.ts";

interface Call {
  method: string;
  path: string;
  /** A urlencoded body (curl -d). */
  body?: string;
  /** Index-relative query values: `{base}` is replaced by the first write's index. */
  note?: string;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function curl(base: string, call: Call, baseIndex: number): Promise<Answer> {
  const path = call.path.replaceAll("{base}", String(baseIndex));
  const args = [
    "-s",
    "-i",
    "--path-as-is",
    "-H",
    "Expect:",
    "-X",
    call.method,
    "--max-time",
    "10",
    base + path,
  ];
  if (call.method === "HEAD") args.splice(args.indexOf("-X"), 2, "-I");
  if (call.body !== undefined) args.push("--data-binary", `@-`);
  const child = new Deno.Command("curl", {
    args,
    stdin: call.body === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (call.body !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(call.body));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  const split = text.indexOf("\r\n\r\n");
  const head = split < 0 ? text : text.slice(0, split);
  const body = split < 0 ? "" : text.slice(split + 4);
  const lines = head.split("\r\n");
  const status = Number(lines[0]?.split(" ")[1] ?? "0");
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body };
}

/** Makes an answer comparable: indexes relative to `base`, times, TTLs and IDs masked. */
function normalise(answer: Answer, base: number): unknown {
  const rel = (n: string) => String(Number(n) - base);
  const body = answer.body
    .replace(/"(modifiedIndex|createdIndex|index)":(\d+)/g, (_m, k, n) => `"${k}":${rel(n)}`)
    .replace(/\/(\d{20})/g, (_m, n) => `/<${rel(n)}>`)
    .replace(/"expiration":"[^"]*"/g, `"expiration":"<time>"`)
    .replace(/"ttl":\d+/g, `"ttl":<ttl>`)
    .replace(/"cause":"([^"]*)"/g, (_m, c: string) => `"cause":"${c.replace(/\d+/g, "N")}"`);
  const h = answer.headers;
  return {
    status: answer.status,
    contentType: h["content-type"] ?? null,
    etcdIndex: h["x-etcd-index"] === undefined ? null : rel(h["x-etcd-index"]),
    raftIndex: h["x-raft-index"] !== undefined,
    raftTerm: h["x-raft-term"] !== undefined,
    clusterId: h["x-etcd-cluster-id"] !== undefined,
    location: h["location"] ?? null,
    allow: h["allow"] ?? null,
    body,
  };
}

const STEPS: (Call | { sleepMs: number } | { spam: number } | { watchThenPut: Call })[] = [
  { method: "PUT", path: "/v2/keys/foo", body: "value=bar" },
  { method: "GET", path: "/v2/keys/foo" },
  { method: "HEAD", path: "/v2/keys/foo" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=baz&prevValue=nope" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=baz&prevIndex=99999" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=baz&prevValue=nope&prevIndex=99999" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=baz&prevExist=false" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=qux&prevExist=true" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=q2&prevValue=qux" },
  { method: "PUT", path: "/v2/keys/foo?prevIndex={base}", body: "value=q3" },
  { method: "PUT", path: "/v2/keys/nokey", body: "value=x&prevExist=true" },
  { method: "PUT", path: "/v2/keys/dir", body: "dir=true" },
  { method: "PUT", path: "/v2/keys/dir/a", body: "value=1" },
  { method: "PUT", path: "/v2/keys/dir/b", body: "value=2" },
  { method: "PUT", path: "/v2/keys/dir/_hidden", body: "value=h" },
  { method: "GET", path: "/v2/keys/dir?recursive=true&sorted=true" },
  { method: "GET", path: "/v2/keys/dir?sorted=true" },
  { method: "GET", path: "/v2/keys/dir?quorum=true&sorted=true" },
  { method: "GET", path: "/v2/keys/dir/_hidden" },
  { method: "PUT", path: "/v2/keys/dir", body: "value=x" },
  { method: "PUT", path: "/v2/keys/dir/a/b", body: "value=1" },
  { method: "DELETE", path: "/v2/keys/dir" },
  { method: "DELETE", path: "/v2/keys/dir?dir=true" },
  { method: "DELETE", path: "/v2/keys/dir/a?prevValue=wrong" },
  { method: "DELETE", path: "/v2/keys/dir/a?prevValue=1" },
  { method: "DELETE", path: "/v2/keys/dir?recursive=true" },
  { method: "DELETE", path: "/v2/keys/dir" },
  { method: "POST", path: "/v2/keys/queue", body: "value=job1" },
  { method: "POST", path: "/v2/keys/queue", body: "value=job2" },
  { method: "GET", path: "/v2/keys/queue?recursive=true&sorted=true" },
  { method: "PUT", path: "/v2/keys/emptydir", body: "dir=true" },
  { method: "GET", path: "/v2/keys/emptydir" },
  { method: "PUT", path: "/v2/keys/emptydir", body: "dir=true&prevExist=true&ttl=" },
  { method: "DELETE", path: "/v2/keys/emptydir?dir=true" },
  // TTLs: bad ones, then one that the leader's SYNC expires.
  { method: "PUT", path: "/v2/keys/ttl", body: "value=v&ttl=abc" },
  { method: "PUT", path: "/v2/keys/ttl", body: "value=v&ttl=-1" },
  { method: "PUT", path: "/v2/keys/ttl", body: "value=v&ttl=1" },
  { method: "PUT", path: "/v2/keys/ttl", body: "refresh=true" },
  { method: "PUT", path: "/v2/keys/ttl", body: "refresh=true&ttl=1&value=new" },
  { method: "PUT", path: "/v2/keys/ttl", body: "refresh=true&ttl=1&noValueOnSuccess=true" },
  { sleepMs: 2600 },
  { method: "GET", path: "/v2/keys/ttl" },
  // Watches: from history, and a long poll answered by a later write.
  { method: "GET", path: "/v2/keys/foo?wait=true&waitIndex={base}" },
  { method: "GET", path: "/v2/keys/dir?wait=true&recursive=true&waitIndex={base}" },
  { watchThenPut: { method: "PUT", path: "/v2/keys/foo", body: "value=watched" } },
  // Bad input.
  { method: "GET", path: "/v2/keys/foo?recursive=maybe" },
  { method: "GET", path: "/v2/keys/foo?waitIndex=x" },
  { method: "PUT", path: "/v2/keys/foo?wait=true", body: "value=w" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=w&prevValue=" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=w&prevExist=perhaps" },
  { method: "GET", path: "/v2/keys/foo?x=%zz" },
  { method: "PUT", path: "/v2/keys/foo", body: "value=unknown&bogus=1&noValueOnSuccess=true" },
  { method: "GET", path: "/v2/keys/foo?bogus=1" },
  { method: "GET", path: "/v2/keys/a/../foo" },
  { method: "GET", path: "/v2/keys//foo" },
  { method: "DELETE", path: "/v2/keys/" },
  { method: "PUT", path: "/v2/keys/", body: "value=x" },
  { method: "GET", path: "/v2/keys/?sorted=true" },
  { method: "PATCH", path: "/v2/keys/foo" },
  { method: "PUT", path: "/v2/keys/big", body: "value=" + "x".repeat(2 * 1024 * 1024) },
  { method: "GET", path: "/v2/keys/big?bogus" },
  // The cleared window: more than 1000 events later, the first write's index is gone.
  { spam: 1010 },
  { method: "GET", path: "/v2/keys/foo?wait=true&waitIndex={base}" },
];

async function runAll(impl: Impl, port: number): Promise<unknown[]> {
  const member = await startMember({
    impl,
    clientPort: port,
    peerPort: port + 1,
    extraArgs: ["--enable-v2"],
  });
  const base = `http://${member.endpoint}`;
  const started = Date.now();
  const results: unknown[] = [];
  let baseIndex = 0;
  try {
    for (const step of STEPS) {
      if ("sleepMs" in step) {
        await new Promise((resolve) => setTimeout(resolve, step.sleepMs));
        continue;
      }
      if ("spam" in step) {
        const began = Date.now();
        for (let i = 0; i < step.spam; i += 50) {
          await Promise.all(
            Array.from({ length: 50 }, (_, j) =>
              fetch(`${base}/v2/keys/spam/${(i + j) % 7}`, {
                method: "PUT",
                headers: { "Content-Type": "application/x-www-form-urlencoded" },
                body: `value=${i + j}`,
              }).then((r) => r.body?.cancel())),
          );
        }
        console.log(`${impl}: ${step.spam} writes in ${Date.now() - began} ms`);
        continue;
      }
      if ("watchThenPut" in step) {
        const watch = curl(base, { method: "GET", path: "/v2/keys/foo?wait=true" }, baseIndex);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const put = await curl(base, step.watchThenPut, baseIndex);
        results.push(["watch", normalise(await watch, baseIndex)]);
        results.push(["put", normalise(put, baseIndex)]);
        continue;
      }
      const answer = await curl(base, step, baseIndex);
      if (baseIndex === 0) baseIndex = Number(answer.headers["x-etcd-index"] ?? "0");
      results.push([`${step.method} ${step.path.slice(0, 60)}`, normalise(answer, baseIndex)]);
    }
  } finally {
    await member.stop();
  }
  console.log(`${impl}: the sequence took ${Date.now() - started} ms`);
  return results;
}

Deno.test("v2 keys: detcd answers the same sequence of calls as etcd 3.4", async () => {
  const expected = await runAll("etcd", 25000);
  const actual = await runAll("detcd", 25002);
  ok(expected.length > 40);
  for (let i = 0; i < expected.length; i++) {
    deepStrictEqual(actual[i], expected[i], `step ${i}`);
  }
});
