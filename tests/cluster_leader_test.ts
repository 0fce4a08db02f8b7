// Goal: require-leader works as in etcd 3.4 (v3rpc/interceptor.go): on a member cut off from
// its cluster, a call carrying `hasleader: true` (clientv3's WithRequireLeader) fails at once
// with `etcdserver: no leader`, a watch stream opened with it ends with that error after
// three leaderless election timeouts (so the real `etcdctl watch`, which sets it, exits), a
// stream without it stays open, and once the partition heals the same calls work again.
// Method: a 3-member cluster (tests/cluster_util.ts), a follower isolated by the TCP proxies;
// the repo's gRPC client sends the metadata (etcdctl has no flag for it). Ports 24100-24108.
import { ok, rejects, strictEqual } from "node:assert/strict";
import { ErrNoLeader } from "../rpc/mod.ts";
import { EtcdGrpcClient } from "../client/mod.ts";
import { METHODS } from "../rpc/mod.ts";
import { ELECTION_MS, withCluster } from "./cluster_util.ts";

const BASE_PORT = 24100;
const encoder = new TextEncoder();

const isNoLeader = (error: unknown) => error === ErrNoLeader;

/** Times `body`, which must reject with ErrNoLeader. */
async function noLeaderWithinMs(body: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await rejects(body(), isNoLeader);
  return performance.now() - started;
}

/** A real `etcdctl watch KEY` on `endpoint`, its output collected as it comes. */
function etcdctlWatch(endpoint: string, key: string) {
  const child = new Deno.Command("/usr/bin/etcdctl", {
    args: ["--endpoints", endpoint, "watch", key],
    env: { ETCDCTL_API: "3" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = { stdout: "", stderr: "" };
  const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) out[into] += chunk;
  };
  const done = Promise.all([collect(child.stdout, "stdout"), collect(child.stderr, "stderr")])
    .then(() => child.status);
  return { child, out, done };
}

async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test({
  name: "require-leader calls and watches fail with 'no leader' on an isolated member",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withCluster({ size: 3, basePort: BASE_PORT }, async (cluster) => {
      const leader = await cluster.waitLeader([0, 1, 2]);
      const isolated = [0, 1, 2].find((i) => cluster.members[i]!.id !== leader)!;
      const endpoint = cluster.endpoint(isolated);
      const required = new EtcdGrpcClient(endpoint, { metadata: { hasleader: "true" } });
      const plain = new EtcdGrpcClient(endpoint);
      const put = (client: EtcdGrpcClient, value: string) =>
        client.unary(METHODS.KV.Put, { key: encoder.encode("k"), value: encoder.encode(value) }, {
          timeoutMs: 3000,
        });
      const ctl = etcdctlWatch(endpoint, "k");
      try {
        // With a leader, require-leader changes nothing.
        await put(required, "before");
        const watchOf = (client: EtcdGrpcClient) => {
          const call = client.bidi(METHODS.Watch.Watch);
          // A key nobody writes: the next message on the stream is its end.
          call.send({ createRequest: { key: encoder.encode("w") } });
          return { call, responses: call.responses[Symbol.asyncIterator]() };
        };
        const guarded = watchOf(required);
        const open = watchOf(plain);
        strictEqual((await guarded.responses.next()).value?.created, true);
        strictEqual((await open.responses.next()).value?.created, true);
        await until("etcdctl watch sees a put", 10_000, async () => {
          await put(plain, "seen");
          return ctl.out.stdout.includes("seen");
        });

        cluster.partition([isolated]);
        await until("the isolated member loses its leader", 10_000, async () => {
          return (await cluster.leaders([isolated]))[0] === "";
        });
        const lostAt = performance.now();
        // New calls: refused at once, not after a request timeout.
        const putMs = await noLeaderWithinMs(() => put(required, "no"));
        ok(putMs < 500, `put refused in ${putMs.toFixed(0)} ms`);
        const rangeMs = await noLeaderWithinMs(() =>
          required.unary(METHODS.KV.Range, { key: encoder.encode("k") }, { timeoutMs: 3000 })
        );
        ok(rangeMs < 500, `range refused in ${rangeMs.toFixed(0)} ms`);
        const late = watchOf(required);
        await rejects(late.responses.next(), isNoLeader);
        // The open require-leader stream ends after three leaderless election timeouts.
        await rejects(guarded.responses.next(), isNoLeader);
        const streamMs = performance.now() - lostAt;
        ok(streamMs < 6 * ELECTION_MS + 2000, `stream closed after ${streamMs.toFixed(0)} ms`);
        // The real etcdctl watch sets require-leader: it is told why and exits.
        const status = await Promise.race([
          ctl.done,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5000)),
        ]);
        ok(status !== undefined && status.code !== 0, `etcdctl watch exits: ${ctl.out.stderr}`);
        ok(ctl.out.stderr.includes("watch was canceled (etcdserver: no leader)"), ctl.out.stderr);
        // A stream without require-leader is left open (it waits for the partition to heal).
        const pending = await Promise.race([
          open.responses.next().then(() => "settled", () => "settled"),
          new Promise((resolve) => setTimeout(() => resolve("open"), 200)),
        ]);
        strictEqual(pending, "open");
        open.call.cancel();

        // Healed: the member follows a leader again and require-leader calls go through.
        cluster.heal();
        await cluster.waitLeader([0, 1, 2], 15_000);
        await until("require-leader put after healing", 10_000, async () => {
          try {
            await put(required, "after");
            return true;
          } catch {
            return false;
          }
        });
        strictEqual(await cluster.get(isolated, "k"), "after");
      } finally {
        try {
          ctl.child.kill("SIGKILL");
        } catch {
          // Already exited.
        }
        await ctl.done.catch(() => {});
        required.close();
        plain.close();
      }
    }),
});
