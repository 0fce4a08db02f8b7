/**
 * A cluster whose members talk to each other over `unix://` peer URLs, the real etcd among
 * them.
 *
 * Goal: one etcd 3.4 member and two detcd members, each listening for peers on a socket file
 * (`m1.unix:1`, ...) in a shared working directory and dialling the others' files, elect a
 * leader, replicate a write to every member and list the same members with their unix URLs.
 * Method: the three processes started in one temporary directory (clients on TCP 35111-35113),
 * driven with the real etcdctl; every process is stopped and the directory removed at the end.
 */

import { equal, ok } from "node:assert/strict";
import { ETCD_BIN, etcdctl, REPO_ROOT } from "./_harness.ts";

const CLUSTER = "m1=unix://m1.unix:1,m2=unix://m2.unix:2,m3=unix://m3.unix:3";

Deno.test({
  name: "etcd and detcd members form a cluster over unix:// peer URLs",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cwd = await Deno.makeTempDir({ prefix: "detcd-unix-peers-" });
    const members: Deno.ChildProcess[] = [];
    const endpoints = [1, 2, 3].map((i) => `127.0.0.1:3511${i}`);
    try {
      for (const i of [1, 2, 3]) {
        const flags = [
          "--name",
          `m${i}`,
          "--data-dir",
          `d${i}`,
          "--listen-client-urls",
          `http://${endpoints[i - 1]}`,
          "--advertise-client-urls",
          `http://${endpoints[i - 1]}`,
          "--listen-peer-urls",
          `unix://m${i}.unix:${i}`,
          "--initial-advertise-peer-urls",
          `unix://m${i}.unix:${i}`,
          "--initial-cluster",
          CLUSTER,
        ];
        const command = i === 1
          ? new Deno.Command(ETCD_BIN, { args: flags, cwd, stdout: "null", stderr: "null" })
          : new Deno.Command(Deno.execPath(), {
            args: ["run", "--allow-all", "--quiet", `${REPO_ROOT}/main.ts`, ...flags],
            cwd,
            stdout: "null",
            stderr: "null",
          });
        members.push(command.spawn());
      }
      const deadline = Date.now() + 30_000;
      for (;;) {
        const health = await etcdctl(endpoints.join(","), ["endpoint", "health"], {
          timeoutMs: 5000,
        });
        if (health.code === 0) break;
        ok(Date.now() < deadline, `cluster not healthy: ${health.stdout}${health.stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      equal((await etcdctl(endpoints[1]!, ["put", "k", "over-unix"])).code, 0);
      for (const endpoint of endpoints) {
        const got = await etcdctl(endpoint, ["get", "k", "--print-value-only"]);
        equal(got.stdout, "over-unix\n", `${endpoint}: ${got.stderr}`);
      }
      const lists = await Promise.all(
        endpoints.map((endpoint) => etcdctl(endpoint, ["member", "list"])),
      );
      for (const list of lists) equal(list.stdout, lists[0]!.stdout);
      for (const i of [1, 2, 3]) ok(lists[0]!.stdout.includes(`unix://m${i}.unix:${i}`));
    } finally {
      for (const member of members) {
        try {
          member.kill("SIGTERM");
        } catch {
          // exited already
        }
      }
      // A member that has not stopped 10 s after SIGTERM is killed: the test never leaves a
      // process holding its ports behind.
      for (const member of members) {
        const stopped = await Promise.race([
          member.status.then(() => true),
          new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000)),
        ]);
        if (!stopped) {
          try {
            member.kill("SIGKILL");
          } catch {
            // exited meanwhile
          }
          await member.status;
        }
      }
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
