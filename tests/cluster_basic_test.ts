// Goal: detcd runs as a cluster of real processes exactly as etcd's seeds describe: one leader,
// any member serves reads and writes (followers forward to the leader), the real etcdctl
// drives it with several endpoints, and a SIGKILLed leader is replaced within three election
// timeouts without losing an acknowledged write, then rejoins as a follower.
// Method: 3 (and 5) `deno run main.ts` processes on 127.0.0.1 with peer traffic through TCP
// proxies (tests/cluster_util.ts); etcdctl for the operator's view, a gRPC client for timing.
// Ports 24000-24034.
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { etcdctl, etcdctlOk } from "./_server_process.ts";
import { ELECTION_MS, LocalCluster, withCluster } from "./cluster_util.ts";

const BASE_PORT = 24000;

Deno.test({
  name: "a 3-member cluster elects one leader and serves etcdctl on every member",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster({ size: 3, basePort: BASE_PORT }, async (cluster) => {
      const all = [0, 1, 2];
      const leader = await cluster.waitLeader(all);
      ok(cluster.members.some((m) => m.id === leader), "the leader is a member");
      const endpoints = cluster.endpoints();
      // Writes through every member (two of them are followers that forward to the leader).
      for (const i of all) await etcdctlOk(cluster.endpoint(i), ["put", `k${i}`, `v${i}`]);
      for (const i of all) {
        const out = await etcdctlOk(cluster.endpoint(i), ["get", "k", "--prefix"]);
        strictEqual(out, "k0\nv0\nk1\nv1\nk2\nv2\n", `member ${i} reads every write`);
        const local = await etcdctlOk(cluster.endpoint(i), [
          "get",
          "k2",
          "--consistency=s",
          "--print-value-only",
        ]);
        strictEqual(local, "v2\n", `serializable read on member ${i}`);
      }
      // A watch on one member sees a write made through another.
      const watch = new Deno.Command("/usr/bin/etcdctl", {
        args: ["--endpoints", cluster.endpoint(2), "watch", "w"],
        env: { ETCDCTL_API: "3" },
        stdout: "piped",
        stderr: "null",
      }).spawn();
      await new Promise((resolve) => setTimeout(resolve, 700));
      await etcdctlOk(cluster.endpoint(0), ["put", "w", "seen"]);
      const reader = watch.stdout.getReader();
      let text = "";
      const deadline = Date.now() + 5000;
      while (!text.includes("seen") && Date.now() < deadline) {
        const chunk = await Promise.race([
          reader.read(),
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 500)),
        ]);
        if (chunk?.value !== undefined) text += new TextDecoder().decode(chunk.value);
      }
      watch.kill("SIGKILL");
      await watch.status;
      reader.releaseLock();
      await watch.stdout.cancel().catch(() => {});
      strictEqual(text, "PUT\nw\nseen\n", "watch event through another member");
      // Leases through every member: only the leader's lessor keeps time, so followers
      // forward keep-alives and time-to-live queries to it.
      for (const i of all) {
        const granted = await etcdctlOk(cluster.endpoint(i), ["lease", "grant", "30"]);
        const lease = /lease ([0-9a-f]+) granted/.exec(granted)![1]!;
        await etcdctlOk(cluster.endpoint(i), ["put", `leased${i}`, "x", `--lease=${lease}`]);
        const kept = await etcdctlOk(cluster.endpoint(i), ["lease", "keep-alive", "--once", lease]);
        strictEqual(kept, `lease ${lease} keepalived with TTL(30)\n`);
        const ttl = await etcdctlOk(cluster.endpoint(i), ["lease", "timetolive", "--keys", lease]);
        ok(
          /granted with TTL\(30s\), remaining\((29|30)s\), attached keys\(\[leased\d\]\)/.test(ttl),
          `member ${i}: ${ttl}`,
        );
      }
      // Operator views.
      const list = await etcdctlOk(endpoints, ["member", "list"]);
      for (const m of cluster.members) {
        ok(
          list.includes(`${m.id}, started, ${m.name}, http://127.0.0.1:${m.proxyPort}`),
          `member list has ${m.name}: ${list}`,
        );
      }
      const status = JSON.parse(
        await etcdctlOk(endpoints, ["endpoint", "status", "--cluster", "-w", "json"]),
      ) as { Status: { leader: number | string; header: { member_id: number | string } } }[];
      strictEqual(status.length, 3);
      const leaders = status.filter((s) =>
        BigInt(String(s.Status.leader)) === BigInt(String(s.Status.header.member_id))
      );
      strictEqual(leaders.length, 1, "exactly one member says it leads");
      const hashes = (await etcdctlOk(endpoints, ["endpoint", "hashkv", "--cluster"]))
        .trim().split("\n").map((line) => line.split(", ")[1]);
      strictEqual(hashes.length, 3);
      strictEqual(new Set(hashes).size, 1, `one HashKV everywhere: ${hashes}`);
    }),
});

/** Writes `prefix<n>` through the non-killed members until stopped; returns acknowledged keys. */
function writer(cluster: LocalCluster, through: number[], prefix: string) {
  const acked = new Set<string>();
  let stop = false;
  const done = (async () => {
    for (let n = 0; !stop; n++) {
      const key = `${prefix}${n}`;
      try {
        await cluster.put(through[n % through.length]!, key, "x", 2000);
        acked.add(key);
      } catch {
        // Unacknowledged: may or may not be there.
      }
    }
  })();
  return {
    acked,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

Deno.test({
  name: "SIGKILL of the leader: a new leader within 3 election timeouts, no acked write lost",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster({ size: 3, basePort: BASE_PORT + 10 }, async (cluster) => {
      const all = [0, 1, 2];
      const oldLeader = await cluster.waitLeader(all);
      const killed = cluster.indexOf(oldLeader);
      const rest = all.filter((i) => i !== killed);
      // Writes flow through the followers (and, before the kill, through the leader too).
      await cluster.put(killed, "before-kill", "1");
      const load = writer(cluster, rest, "ack/");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const killedAt = Date.now();
      await cluster.kill(killed);
      const newLeader = await cluster.waitLeader(rest, 10_000, oldLeader);
      const electedMs = Date.now() - killedAt;
      ok(newLeader !== oldLeader);
      ok(
        electedMs <= 3 * ELECTION_MS + 250,
        `new leader after ${electedMs} ms (3 election timeouts = ${3 * ELECTION_MS} ms)`,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await load.stop();
      ok(load.acked.size > 5, `writes were acknowledged (${load.acked.size})`);
      // The old leader restarts from its data dir and follows the new leader.
      cluster.spawn(killed);
      await cluster.members[killed]!.process!.waitFor("ready to serve client requests", 20_000);
      const lead = await cluster.waitLeader(all, 15_000);
      strictEqual(lead, newLeader, "the old leader rejoins as a follower");
      for (const i of all) {
        const seen = await cluster.getPrefix(i, "ack/");
        const missing = [...load.acked].filter((key) => !seen.has(key));
        deepStrictEqual(missing, [], `member ${i} has every acknowledged write`);
        strictEqual(await cluster.get(i, "before-kill"), "1");
      }
      const hashes = await Promise.all(all.map((i) => cluster.hashKv(i)));
      strictEqual(new Set(hashes.map((h) => `${h.hash}@${h.revision}`)).size, 1);
    }),
});

Deno.test({
  name: "a 5-member cluster elects one leader and commits through a quorum",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster({ size: 5, basePort: BASE_PORT + 20 }, async (cluster) => {
      const all = [0, 1, 2, 3, 4];
      const leader = await cluster.waitLeader(all, 15_000);
      // Two members down: the other three are still a quorum of five.
      const down = all.filter((i) => cluster.members[i]!.id !== leader).slice(0, 2);
      for (const i of down) await cluster.kill(i);
      const up = all.filter((i) => !down.includes(i));
      const out = await etcdctl(cluster.endpoints(up), ["put", "five", "ok"]);
      strictEqual(out.code, 0, out.stderr);
      for (const i of up) strictEqual(await cluster.get(i, "five"), "ok");
    }),
});
