/**
 * Goal: the real etcdctl sees the same watch and lease behaviour from detcd as from etcd 3.4:
 * watch on a prefix, from a past revision (history read back from the backend), with prev-kv,
 * and interactively; lease grant, put --lease, keep-alive --once, timetolive --keys, list,
 * revoke, and the error for an unknown lease.
 * Method: one script runs against a real etcd and against detcd concurrently; transcripts must
 * match once IDs are masked. Watches start at an explicit revision so that no event can be
 * missed by a watch that registers late, which makes their output deterministic.
 */
import { ok, strictEqual } from "node:assert/strict";
import {
  differential,
  etcdctl,
  type Member,
  normalize,
  type ScriptStep,
  spawnEtcdctl,
} from "./_harness.ts";

async function _revision(member: Member): Promise<number> {
  const result = await etcdctl(member.endpoint, ["get", "probe", "-w", "json"]);
  return Number(JSON.parse(result.stdout).header.revision);
}

/** Watches `args` while `puts` run, until `until` shows up in the output. */
async function _watch(
  member: Member,
  args: string[],
  puts: string[][],
  until: string,
): Promise<string> {
  const watcher = spawnEtcdctl(member.endpoint, ["watch", ...args]);
  try {
    for (const put of puts) await etcdctl(member.endpoint, put);
    await watcher.waitFor(until);
  } finally {
    await watcher.stop();
  }
  return `watch ${args.join(" ")}\n${watcher.output().trimEnd()}`;
}

const _WATCH_STEPS: ScriptStep[] = [
  { args: ["put", "foo", "v0"] },
  {
    args: [],
    run: async (member) => {
      const next = (await _revision(member)) + 1;
      return await _watch(member, ["foo", "--prefix", `--rev=${next}`], [
        ["put", "foo1", "a"],
        ["put", "bar", "not-watched"],
        ["put", "foo2", "b"],
        ["del", "foo1"],
      ], "DELETE\nfoo1");
    },
  },
  {
    // History from revision 1, read back from the backend.
    args: [],
    run: (member) => _watch(member, ["--rev=1", "foo", "--prefix"], [], "DELETE\nfoo1"),
  },
  {
    args: [],
    run: async (member) => {
      const next = (await _revision(member)) + 1;
      return await _watch(member, ["foo2", "--prev-kv", `--rev=${next}`], [
        ["put", "foo2", "c"],
        ["del", "foo2"],
      ], "DELETE\nfoo2");
    },
  },
  {
    args: [],
    run: async (member) => {
      const next = (await _revision(member)) + 1;
      const watcher = spawnEtcdctl(member.endpoint, ["watch", "-i"]);
      try {
        await watcher.write(`watch --rev=${next} k1\n`);
        await etcdctl(member.endpoint, ["put", "k1", "interactive"]);
        await watcher.waitFor("interactive");
      } finally {
        await watcher.stop();
      }
      return `watch -i\n${watcher.output().trimEnd()}`;
    },
  },
];

const _LEASE_STEPS: ScriptStep[] = [
  {
    args: ["lease", "grant", "100"],
    capture: (stdout, vars) => {
      vars.lease = /lease ([0-9a-f]+) granted/.exec(stdout)?.[1] ?? "missing";
    },
  },
  { args: (vars) => ["put", "leased", "v", `--lease=${vars.lease}`] },
  { args: (vars) => ["put", "leased2", "v", `--lease=${vars.lease}`] },
  { args: ["get", "leased", "-w", "json"] },
  { args: (vars) => ["lease", "keep-alive", "--once", vars.lease!] },
  { args: (vars) => ["lease", "timetolive", vars.lease!, "--keys"] },
  { args: (vars) => ["lease", "timetolive", vars.lease!, "--keys", "-w", "json"] },
  { args: ["lease", "list"] },
  { args: (vars) => ["lease", "revoke", vars.lease!] },
  { args: ["get", "leased", "--prefix"] },
  { args: (vars) => ["lease", "timetolive", vars.lease!] },
  { args: ["lease", "list"] },
  { args: (vars) => ["lease", "revoke", vars.lease!] },
  { args: ["put", "k", "v", "--lease=1234abcd"] },
  { args: ["lease", "grant", "0"] },
];

Deno.test("etcdctl watch (prefix, --rev history, prev-kv, interactive): detcd as etcd", async () => {
  const { etcd, target, targetImpl } = await differential({
    etcdPorts: { clientPort: 23858, peerPort: 23859 },
    targetPorts: { clientPort: 23860, peerPort: 23861 },
    steps: _WATCH_STEPS,
  });
  ok(etcd.includes("PUT\nfoo2\nb"), etcd);
  ok(etcd.includes("PUT\nfoo\nv0"), "history from revision 1 includes the first put");
  strictEqual(normalize(target), normalize(etcd), `${targetImpl} differs from etcd`);
});

Deno.test("etcdctl lease grant/put --lease/keep-alive/timetolive/list/revoke: detcd as etcd", async () => {
  const { etcd, target, targetImpl } = await differential({
    etcdPorts: { clientPort: 23862, peerPort: 23863 },
    targetPorts: { clientPort: 23864, peerPort: 23865 },
    steps: _LEASE_STEPS,
  });
  ok(/attached keys\(\[(leased leased2|leased2 leased)\]\)/.test(etcd), etcd);
  ok(etcd.includes("etcdserver: requested lease not found"), etcd);
  strictEqual(
    _sortLeaseKeys(normalize(target)),
    _sortLeaseKeys(normalize(etcd)),
    `${targetImpl} differs from etcd`,
  );
});

/**
 * etcd lists a lease's keys in Go map order, which changes from run to run: sort the lists in
 * `attached keys([...])` and in the JSON `"keys":[...]` before comparing.
 */
function _sortLeaseKeys(text: string): string {
  return text
    .replace(
      /attached keys\(\[([^\]]*)\]\)/g,
      (_m, keys: string) => `attached keys([${keys.split(" ").sort().join(" ")}])`,
    )
    .replace(
      /"keys":\[([^\]]*)\]/g,
      (_m, keys: string) => `"keys":[${keys.split(",").sort().join(",")}]`,
    );
}
