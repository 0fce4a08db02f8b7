/**
 * Differential: the same etcdctl script against the real etcd 3.4 and against detcd, outputs
 * compared after blanking the member-specific IDs.
 *
 * Goal: revisions, versions, txn results, range options, compaction, watch history and
 * HashKV (etcd's CRC over the key bucket) come out identical, byte for byte.
 * Method: one fresh member of each; every command's stdout and stderr recorded; cluster and
 * member IDs and raft terms replaced by placeholders.
 */

import { deepStrictEqual } from "node:assert/strict";
import { type CtlResult, detcdArgs, etcdctl, startDetcd } from "./_server_process.ts";

/** The commands, with stdin for the interactive txn. */
const SCRIPT: { args: string[]; input?: string }[] = [
  { args: ["put", "a", "1"] },
  { args: ["put", "b", "2"] },
  { args: ["put", "a", "3", "--prev-kv"] },
  { args: ["put", "c/1", "x"] },
  { args: ["put", "c/2", "y"] },
  { args: ["get", "", "--prefix", "-w", "json"] },
  { args: ["get", "a", "c", "--sort-by", "VERSION", "--order", "DESCEND", "-w", "json"] },
  { args: ["get", "c/", "--prefix", "--limit", "1", "--keys-only", "-w", "json"] },
  { args: ["get", "a", "--rev", "2", "-w", "json"] },
  { args: ["del", "c/", "--prefix", "--prev-kv", "-w", "json"] },
  { args: ["txn", "-w", "json"], input: 'mod("a") > "2"\n\nput t 1\nget a\n\nput f 1\n\n' },
  { args: ["txn", "-w", "json"], input: 'value("a") = "nope"\n\nput t 2\n\ndel b\n\n' },
  { args: ["compact", "4"] },
  { args: ["get", "a", "--rev", "3"] },
  { args: ["get", "a", "--rev", "99"] },
  { args: ["endpoint", "hashkv", "-w", "json"] },
  { args: ["endpoint", "hashkv", "--rev", "5", "-w", "json"] },
  { args: ["put", "", "x"] },
];

function _normalize(result: CtlResult, endpoint: string): string {
  const text = `${result.code}\n${result.stdout}\n${result.stderr}`;
  return text
    .replaceAll(endpoint, "ENDPOINT")
    .replace(/"cluster_id":\d+/g, '"cluster_id":ID')
    .replace(/"member_id":\d+/g, '"member_id":ID')
    .replace(/"raft_term":\d+/g, '"raft_term":T')
    // clientv3's retry warnings carry timestamps and client IDs.
    .replace(/\{"level":"warn".*\n/g, "");
}

async function _runScript(endpoint: string): Promise<string[]> {
  const outputs: string[] = [];
  for (const step of SCRIPT) {
    const result = await etcdctl(endpoint, step.args, step.input);
    outputs.push(`$ etcdctl ${step.args.join(" ")}\n${_normalize(result, endpoint)}`);
  }
  return outputs;
}

Deno.test({
  name: "differential: the same etcdctl script gives the same output on etcd 3.4 and detcd",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const etcdDir = await Deno.makeTempDir({ prefix: "detcd_diff_etcd_" });
    const detcdDir = await Deno.makeTempDir({ prefix: "detcd_diff_" });
    const etcd = new Deno.Command("/usr/bin/etcd", {
      args: detcdArgs({ dataDir: etcdDir, clientPort: 23938, peerPort: 23939 }),
      stdout: "null",
      stderr: "null",
    }).spawn();
    const detcd = await startDetcd({ dataDir: detcdDir, clientPort: 23930, peerPort: 23931 });
    try {
      // Wait for etcd to serve.
      const deadline = Date.now() + 15_000;
      while ((await etcdctl("127.0.0.1:23938", ["get", "x"])).code !== 0) {
        if (Date.now() > deadline) throw new Error("etcd did not start");
        await new Promise((r) => setTimeout(r, 100));
      }
      const expected = await _runScript("127.0.0.1:23938");
      const actual = await _runScript(detcd.endpoint);
      for (let i = 0; i < expected.length; i++) deepStrictEqual(actual[i], expected[i]);
    } finally {
      etcd.kill("SIGKILL");
      await etcd.status;
      await detcd.kill();
      await Deno.remove(etcdDir, { recursive: true });
      await Deno.remove(detcdDir, { recursive: true });
    }
  },
});
