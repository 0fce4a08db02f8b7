// Goal: simple tokens behave as etcd's: `<16 letters>.<index>`, known to every member that
// applied the entry, expiring a TTL after their last use, forgotten on disable and on user
// invalidation, and malformed ones refused. Method: a provider on a fake clock and a fake
// applied index.
import { match, strictEqual } from "node:assert/strict";
import { SimpleTokenProvider } from "./simple_token.ts";

function setup(ttlMs = 1000) {
  let now = 0;
  let applied = 10;
  const provider = new SimpleTokenProvider({
    ttlMs,
    waitApplied: (index) => index <= applied ? Promise.resolve() : new Promise<void>(() => {}),
    committedIndex: () => applied,
    appliedIndex: () => applied,
    now: () => now,
  });
  return {
    provider,
    tick: (ms: number) => now += ms,
    apply: (index: number) => applied = index,
  };
}

const signal = () => AbortSignal.timeout(200);

Deno.test("a token is the prefix and the entry index, and names its user", async () => {
  const { provider } = setup();
  provider.enable();
  const prefix = provider.genTokenPrefix();
  match(prefix, /^[a-zA-Z]{16}$/);
  const token = provider.assign("alice", 3, { index: 7, simpleTokenPrefix: prefix });
  strictEqual(token, `${prefix}.7`);
  const info = await provider.info(token, 42, signal());
  strictEqual(info?.username, "alice");
  strictEqual(info?.revision, 42, "a simple token reports the current revision");
  provider.close();
});

Deno.test("a token expires a TTL after its last use, not after its issue", async () => {
  const { provider, tick } = setup(1000);
  provider.enable();
  const token = provider.assign("u", 1, { index: 5, simpleTokenPrefix: "abcdefghijklmnop" });
  tick(900);
  strictEqual((await provider.info(token, 1, signal()))?.username, "u");
  tick(900);
  provider.sweep();
  strictEqual((await provider.info(token, 1, signal()))?.username, "u", "renewed by use");
  tick(1001);
  provider.sweep();
  strictEqual(await provider.info(token, 1, signal()), undefined);
  provider.close();
});

Deno.test("disable forgets every token; invalidateUser forgets that user's", async () => {
  const { provider } = setup();
  provider.enable();
  const a = provider.assign("a", 1, { index: 1, simpleTokenPrefix: "aaaaaaaaaaaaaaaa" });
  const b = provider.assign("b", 1, { index: 2, simpleTokenPrefix: "bbbbbbbbbbbbbbbb" });
  provider.invalidateUser("a");
  strictEqual(await provider.info(a, 1, signal()), undefined);
  strictEqual((await provider.info(b, 1, signal()))?.username, "b");
  provider.disable();
  strictEqual(await provider.info(b, 1, signal()), undefined);
  provider.enable();
  strictEqual(await provider.info(b, 1, signal()), undefined, "enable does not bring them back");
  provider.close();
});

Deno.test("malformed, forged and far-future tokens are refused without waiting", async () => {
  const { provider } = setup();
  provider.enable();
  provider.assign("u", 1, { index: 3, simpleTokenPrefix: "xxxxxxxxxxxxxxxx" });
  for (const bad of ["", "x", "a.b.c", "xxxxxxxxxxxxxxxx.", "xxxxxxxxxxxxxxxx.3x", "yyyy.3"]) {
    strictEqual(await provider.info(bad, 1, signal()), undefined, bad);
  }
  const started = Date.now();
  strictEqual(await provider.info("xxxxxxxxxxxxxxxx.99999999999", 1, signal()), undefined);
  strictEqual(Date.now() - started < 150, true, "an index far past the log is not waited for");
  provider.close();
});

Deno.test("a token from an entry not applied here yet waits for it", async () => {
  const { provider, apply } = setup();
  provider.enable();
  const token = provider.assign("u", 1, { index: 12, simpleTokenPrefix: "pppppppppppppppp" });
  strictEqual(await provider.info(token, 1, AbortSignal.timeout(50)), undefined, "gave up");
  apply(12);
  strictEqual((await provider.info(token, 1, signal()))?.username, "u");
  provider.close();
});

Deno.test("a token waits only while its entry is not applied, and wakes when it is", async () => {
  // Goal: the applied-index fast path skips the waiter, and a waiter still wakes on apply.
  // Method: a provider whose waitApplied counts its calls and resolves when apply() runs.
  let applied = 10;
  const waiters: { index: number; wake: () => void }[] = [];
  let waits = 0;
  const provider = new SimpleTokenProvider({
    ttlMs: 1000,
    waitApplied: (index) => {
      waits++;
      return new Promise<void>((wake) => waiters.push({ index, wake }));
    },
    committedIndex: () => applied + 5,
    appliedIndex: () => applied,
  });
  provider.enable();
  const early = provider.assign("u", 1, { index: 9, simpleTokenPrefix: "eeeeeeeeeeeeeeee" });
  strictEqual((await provider.info(early, 1, signal()))?.username, "u");
  strictEqual(waits, 0, "an applied index is not waited for");
  const late = provider.assign("v", 1, { index: 13, simpleTokenPrefix: "llllllllllllllll" });
  const pending = provider.info(late, 1, signal());
  strictEqual(waits, 1, "an index past the applied one is waited for");
  applied = 13;
  for (const waiter of waiters.splice(0)) if (waiter.index <= applied) waiter.wake();
  strictEqual((await pending)?.username, "v");
  const aborted = new AbortController();
  aborted.abort();
  strictEqual(await provider.info(early, 1, aborted.signal), undefined, "an aborted call fails");
  provider.close();
});
