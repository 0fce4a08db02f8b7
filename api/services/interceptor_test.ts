// Goal: the interceptors answer as etcd 3.4's v3rpc/interceptor.go: a learner serves only
// serializable Range and Status, and no stream; require-leader calls fail at once without a
// leader; a require-leader stream ends with ErrNoLeader after three leaderless checks.
// Method: fake handlers that record what reached them, a fake member whose leader and
// learner flag the test sets, and a 10 ms election timeout.
import { ok, rejects, strictEqual } from "node:assert/strict";
import { ErrNoLeader, ErrNotSupportedForLearner } from "../../rpc/mod.ts";
import type { CallContext, StreamSink } from "../../rpc/mod.ts";
import type { EtcdServices } from "../../rpc/mod.ts";
import { type InterceptorTarget, interceptServices, NO_LEADER_CHECKS_MAX } from "./interceptor.ts";

function context(metadata: Record<string, string> = {}, signal = new AbortController().signal) {
  const call: CallContext = {
    method: "",
    token: undefined,
    requireLeader: metadata["hasleader"] === "true",
    commonName: undefined,
    peer: "127.0.0.1:1",
    signal,
    get cancelled() {
      return signal.aborted;
    },
    metadata: (key) => metadata[key],
  };
  return call;
}

const sink: StreamSink<unknown> = { send: () => Promise.resolve(), closed: false };

/** An input that yields nothing and never ends (a client that keeps its stream open). */
const silentInput: AsyncIterable<never> = {
  [Symbol.asyncIterator]: () => ({ next: () => new Promise<never>(() => {}) }),
};

function fixture() {
  const reached: string[] = [];
  const target: InterceptorTarget = { leader: 1n, isLearner: false, electionTimeoutMs: 10 };
  const services: EtcdServices = {
    kv: {
      range: () => (reached.push("range"), Promise.resolve({})),
      put: () => (reached.push("put"), Promise.resolve({})),
    },
    maintenance: { status: () => (reached.push("status"), Promise.resolve({})) },
    watch: {
      watch: async (input, _sink, ctx) => {
        reached.push("watch");
        for await (const _ of input) reached.push("request");
        strictEqual(ctx.signal.aborted, true, "the input ends only on abort here");
      },
    },
  };
  return { reached, target, services: interceptServices(services, target) };
}

Deno.test("a learner serves serializable Range and Status and refuses the rest", async () => {
  const { reached, target, services } = fixture();
  (target as { isLearner: boolean }).isLearner = true;
  await services.kv!.range!({ serializable: true } as never, context());
  await services.maintenance!.status!({} as never, context());
  await rejects(services.kv!.range!({} as never, context()), ErrNotSupportedForLearner);
  await rejects(services.kv!.put!({} as never, context()), ErrNotSupportedForLearner);
  await rejects(services.watch!.watch!(silentInput, sink, context()), ErrNotSupportedForLearner);
  strictEqual(reached.join(","), "range,status");
  // A voter (the learner promoted) serves everything again.
  (target as { isLearner: boolean }).isLearner = false;
  await services.kv!.put!({} as never, context());
  strictEqual(reached.join(","), "range,status,put");
});

Deno.test("require-leader calls fail at once without a leader; others go through", async () => {
  const { reached, target, services } = fixture();
  (target as { leader: bigint }).leader = 0n;
  const required = context({ hasleader: "true" });
  await rejects(services.kv!.put!({} as never, required), ErrNoLeader);
  await rejects(services.watch!.watch!(silentInput, sink, required), ErrNoLeader);
  await services.kv!.put!({} as never, context());
  await services.kv!.put!({} as never, context({ hasleader: "false" }));
  strictEqual(reached.join(","), "put,put");
});

Deno.test("a require-leader stream ends with ErrNoLeader after three leaderless checks", async () => {
  const { reached, target, services } = fixture();
  const started = Date.now();
  const watching = services.watch!.watch!(silentInput, sink, context({ hasleader: "true" }));
  await new Promise((resolve) => setTimeout(resolve, 5));
  (target as { leader: bigint }).leader = 0n;
  await rejects(watching, ErrNoLeader);
  const elapsedMs = Date.now() - started;
  ok(elapsedMs >= (NO_LEADER_CHECKS_MAX - 1) * 10, `not before the checks: ${elapsedMs} ms`);
  ok(elapsedMs < 1000, `promptly: ${elapsedMs} ms`);
  strictEqual(reached.join(","), "watch");
});

Deno.test("a stream without require-leader outlives the leader", async () => {
  const { target, services } = fixture();
  const client = new AbortController();
  let settled = false;
  const watching = services.watch!.watch!(
    silentInput,
    sink,
    context({}, client.signal),
  ).finally(() => settled = true);
  (target as { leader: bigint }).leader = 0n;
  await new Promise((resolve) => setTimeout(resolve, 10 * (NO_LEADER_CHECKS_MAX + 3)));
  strictEqual(settled, false, "still open");
  // This fake handler returns only when its input ends; the real one also on abort.
  void watching.catch(() => {});
});
